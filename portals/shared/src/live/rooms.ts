// Rooms as the signaling protocol names them, and the keys the UI uses for
// them (option values, drop targets, React keys).

import type { ParticipantView, RoomId, RoomView } from "../protocol";
import { live } from "./strings";

export function sameRoom(a: RoomId, b: RoomId): boolean {
  return a.kind === b.kind && (a.kind !== "caucus" || (b.kind === "caucus" && a.id === b.id));
}

/** `lobby`, `main` or `caucus:<id>`. */
export function roomKey(r: RoomId): string {
  return r.kind === "caucus" ? `caucus:${r.id}` : r.kind;
}

export function roomFromKey(key: string): RoomId | null {
  if (key.startsWith("caucus:") && key.length > 7) return { kind: "caucus", id: key.slice(7) };
  if (key === "lobby") return { kind: "lobby" };
  if (key === "main") return { kind: "main" };
  return null;
}

/** Who is in a room. */
export function peopleIn(participants: readonly ParticipantView[], room: RoomId): ParticipantView[] {
  return participants.filter((p) => sameRoom(p.room, room));
}

/** A caucus name not taken yet (names are compared without case and surrounding spaces, as the server does). */
export function freeCaucusName(rooms: readonly RoomView[], wanted: string): string {
  const taken = new Set(rooms.filter((r) => r.id.kind === "caucus").map((r) => r.name.trim().toLowerCase()));
  if (!taken.has(wanted.trim().toLowerCase())) return wanted;
  for (let n = 2; ; n++) {
    const name = `${wanted} (${n})`;
    if (!taken.has(name.toLowerCase())) return name;
  }
}

/**
 * What a party is told about where they are and whom they wait for: alone in
 * a caucus, or in a room the mediator is not in (their state shows only
 * their own room). Null in the lobby (it has its own words) and while the
 * mediator is with them.
 */
export function waitingMessage(me: ParticipantView | undefined, here: readonly ParticipantView[], roomName: string, mediatorName: string): string | null {
  if (!me || me.room.kind === "lobby" || me.role === "mediator" || here.some((p) => p.role === "mediator")) return null;
  if (me.room.kind === "caucus" && here.length <= 1) return live.aloneInCaucus(roomName, mediatorName);
  if (me.room.kind === "main") return live.waitingForMediator(roomName.toLowerCase(), mediatorName);
  return live.waitingIn(roomName, mediatorName);
}

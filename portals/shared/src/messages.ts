// Parsing the server's frames and handing them to listeners by type.

import type { Challenge, ClientMessage, ServerMessage } from "./protocol";

export type ServerType = ServerMessage["type"];
export type ServerMessageOf<T extends ServerType> = Extract<ServerMessage, { type: T }>;
export type ClientMessageOf<T extends ClientMessage["type"]> = Extract<ClientMessage, { type: T }>;

// Every type the server sends, by name: a record, so that a type added to
// the protocol and not here fails the typecheck instead of being dropped as
// unknown at run time.
const KNOWN: Record<ServerType, true> = {
  state: true,
  knock: true,
  denied: true,
  removed: true,
  mutedByMediator: true,
  unmuteRequested: true,
  broadcast: true,
  chat: true,
  timerWarning: true,
  timerExpired: true,
  error: true,
  answer: true,
  offer: true,
  tracks: true,
  speaker: true,
  stats: true,
  iceServers: true,
  e2eeKey: true,
  e2eeKeyAck: true,
};
const SERVER_TYPES: ReadonlySet<string> = new Set(Object.keys(KNOWN));

/** One frame from the server, read. */
export type Parsed =
  | { kind: "challenge"; message: Challenge }
  | { kind: "message"; message: ServerMessage }
  | { kind: "unknown"; type: string }
  | { kind: "invalid"; error: string };

/**
 * Reads one text frame. The server's messages are trusted to match their
 * types once the `type` is known (they come from the same Rust definitions);
 * what is checked here is what a truncated, foreign or newer frame would break.
 */
export function parseFrame(text: string): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: "invalid", error: "the frame is not JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { kind: "invalid", error: "the frame is not a JSON object" };
  }
  const type = (value as { type?: unknown }).type;
  if (typeof type !== "string") return { kind: "invalid", error: "the frame has no type" };
  if (type === "challenge") {
    const nonce = (value as { nonce?: unknown }).nonce;
    if (typeof nonce !== "string" || nonce.length === 0) return { kind: "invalid", error: "the challenge has no nonce" };
    return { kind: "challenge", message: { type: "challenge", nonce } };
  }
  if (!SERVER_TYPES.has(type)) return { kind: "unknown", type };
  const problem = shapeProblem(value as Record<string, unknown>);
  if (problem) return { kind: "invalid", error: `${type}: ${problem}` };
  return { kind: "message", message: value as ServerMessage };
}

function shapeProblem(v: Record<string, unknown>): string | null {
  switch (v.type) {
    case "state":
      if (typeof v.you !== "string") return "no `you`";
      if (!Array.isArray(v.rooms) || !Array.isArray(v.participants)) return "no rooms or participants";
      return null;
    case "offer":
    case "answer":
      return typeof v.sdp === "string" ? null : "no sdp";
    case "tracks":
      if (!Array.isArray(v.tracks)) return "no tracks";
      for (const t of v.tracks as unknown[]) {
        if (typeof t !== "object" || t === null) return "a track is not an object";
        const { mid, participant, source } = t as Record<string, unknown>;
        if (typeof mid !== "string" || typeof participant !== "string" || typeof source !== "string") {
          return "a track lacks mid, participant or source";
        }
      }
      return null;
    case "knock":
      return typeof v.participant === "string" ? null : "no participant";
    case "chat":
      return typeof v.from === "string" && typeof v.text === "string" ? null : "no from or text";
    case "broadcast":
      return typeof v.text === "string" ? null : "no text";
    case "error":
      return typeof v.code === "string" ? null : "no code";
    case "e2eeKey":
      if (typeof v.from !== "string" || typeof v.generation !== "number" || typeof v.wrapped !== "string" || typeof v.signature !== "string") {
        return "no from, generation, wrapped key or signature";
      }
      return typeof v.room === "object" && v.room !== null ? null : "no room";
    case "e2eeKeyAck":
      return typeof v.from === "string" && typeof v.generation === "number" ? null : "no from or generation";
    default:
      return null;
  }
}

/** Serialises a client message (one per text frame). */
export function encode(message: ClientMessage): string {
  return JSON.stringify(message);
}

type Listener<T> = (value: T) => void;

/** A small typed event emitter. */
export class Emitter<E extends object> {
  private readonly listeners = new Map<keyof E, Set<Listener<never>>>();

  /** Calls `fn` on each `event`; returns a function that stops it. */
  on<K extends keyof E>(event: K, fn: Listener<E[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn as Listener<never>);
    return () => set.delete(fn as Listener<never>);
  }

  /** Like `on`, once. */
  once<K extends keyof E>(event: K, fn: Listener<E[K]>): () => void {
    const off = this.on(event, (v) => {
      off();
      fn(v);
    });
    return off;
  }

  /** The next `event` whose value passes `test` (default: any). */
  next<K extends keyof E>(event: K, test: (v: E[K]) => boolean = () => true): Promise<E[K]> {
    return new Promise((resolve) => {
      const off = this.on(event, (v) => {
        if (test(v)) {
          off();
          resolve(v);
        }
      });
    });
  }

  emit<K extends keyof E>(event: K, value: E[K]): void {
    for (const fn of [...(this.listeners.get(event) ?? [])]) {
      try {
        (fn as Listener<E[K]>)(value);
      } catch (e) {
        // One listener's bug must not stop the others or the client.
        console.error(`listener for ${String(event)} failed`, e);
      }
    }
  }
}

import { describe, expect, it, vi } from "vitest";
import { Api } from "../src/api";
import { Emitter } from "../src/messages";
import type { ParticipantView, RoomView } from "../src/protocol";
import type { SessionClient, SessionEvents, StateMessage } from "../src/session";
import { LiveStore } from "../src/live/store";

class FakeClient {
  events = new Emitter<SessionEvents>();
  status = "idle";
  sharing = false;
  left = false;
  stopped = false;
  sent: unknown[] = [];
  on<K extends keyof SessionEvents>(e: K, fn: (v: SessionEvents[K]) => void) {
    return this.events.on(e, fn);
  }
  emit<K extends keyof SessionEvents>(e: K, v: SessionEvents[K]) {
    this.events.emit(e, v);
  }
  async join() {
    this.status = "joined";
  }
  leave() {
    this.left = true;
    this.status = "closed";
    this.emit("closed", { code: 1000, reason: "", message: "You left the session.", refused: false });
  }
  stopLocalMedia() {
    this.stopped = true;
  }
  setTimer(room: unknown, seconds: number) {
    this.sent.push({ type: "setTimer", room, seconds });
    return true;
  }
  clearTimer(room: unknown) {
    this.sent.push({ type: "clearTimer", room });
    return true;
  }
}

const person = (id: string, role: ParticipantView["role"], room: ParticipantView["room"], extra: Partial<ParticipantView> = {}): ParticipantView => ({
  id,
  role,
  room,
  muted: false,
  handRaised: false,
  sharing: false,
  connected: true,
  ...extra,
});
const main = { kind: "main" } as const;
const rooms: RoomView[] = [
  { id: { kind: "lobby" }, name: "Lobby", timerRemainingMs: null },
  { id: main, name: "Main room", timerRemainingMs: null },
  { id: { kind: "caucus", id: "c1" }, name: "Caucus one", timerRemainingMs: null },
];
const state = (participants: ParticipantView[], you = "m"): StateMessage => ({ type: "state", you, locked: false, hopByHop: false, rooms, participants });

async function joined() {
  const fake = new FakeClient();
  const store = new LiveStore({ api: new Api("http://localhost/"), sessionId: "s", baseUrl: "http://localhost/", makeClient: () => fake as unknown as SessionClient });
  store.label = (id) => `Person ${id}`;
  await store.join(undefined);
  return { fake, store };
}

describe("LiveStore", () => {
  it("exposes the client to tests as window.accord", async () => {
    vi.stubGlobal("window", {});
    const { fake } = await joined();
    expect((globalThis as unknown as { window: Window }).window.accord?.client).toBe(fake);
    vi.unstubAllGlobals();
  });

  it("keeps raised hands in the order raised, with a notice for the mediator", async () => {
    const { fake, store } = await joined();
    fake.emit("state", state([person("m", "mediator", { kind: "caucus", id: "c1" }), person("a", "party", main), person("b", "party", main)]));
    fake.emit("state", state([person("m", "mediator", { kind: "caucus", id: "c1" }), person("a", "party", main), person("b", "party", main, { handRaised: true })]));
    fake.emit("state", state([person("m", "mediator", { kind: "caucus", id: "c1" }), person("a", "party", main, { handRaised: true }), person("b", "party", main, { handRaised: true })]));
    expect(store.snapshot.hands).toEqual(["b", "a"]);
    expect(store.snapshot.notices.map((n) => n.text)).toEqual(["Person b raised a hand.", "Person a raised a hand."]);
    fake.emit("state", state([person("m", "mediator", main), person("a", "party", main, { handRaised: true }), person("b", "party", main)]));
    expect(store.snapshot.hands).toEqual(["a"]);
  });

  it("shows someone reconnecting during their grace, then left", async () => {
    const { fake, store } = await joined();
    fake.emit("state", state([person("m", "mediator", main), person("a", "party", main)]));
    expect(store.snapshot.reconnecting.size).toBe(0);
    fake.emit("state", state([person("m", "mediator", main), person("a", "party", main, { connected: false })]));
    expect([...store.snapshot.reconnecting]).toEqual(["a"]);
    expect(store.snapshot.notices.map((n) => n.text).some((t) => /a/.test(t))).toBe(true);
    fake.emit("state", state([person("m", "mediator", main)]));
    expect(store.snapshot.reconnecting.size).toBe(0);
    expect(store.snapshot.departed.map((d) => d.participant.id)).toEqual(["a"]);
    expect(store.snapshot.notices.map((n) => n.text)).toContain("Person a left the session.");
    store.prune(Date.now() + 120_000);
    expect(store.snapshot.departed).toEqual([]);
  });

  it("does not call someone the mediator removed or turned away 'left'", async () => {
    const { fake, store } = await joined();
    fake.emit("state", state([person("m", "mediator", main), person("a", "party", main)]));
    store.sendingAway("a");
    fake.emit("state", state([person("m", "mediator", main)]));
    expect(store.snapshot.departed).toEqual([]);
  });

  it("a party sees no departures (someone leaving their room may have moved)", async () => {
    const { fake, store } = await joined();
    fake.emit("state", state([person("a", "party", main), person("m", "mediator", main)], "a"));
    fake.emit("state", state([person("a", "party", main)], "a"));
    expect(store.snapshot.departed).toEqual([]);
  });

  it("keeps a countdown per room until cleared, expired or its caucus closes", async () => {
    const { fake, store } = await joined();
    fake.emit("state", state([person("m", "mediator", main)]));
    store.setTimer({ kind: "caucus", id: "c1" }, 600);
    store.setTimer(main, 60);
    expect([...store.snapshot.timers.keys()].sort()).toEqual(["caucus:c1", "main"]);
    expect(store.snapshot.timers.get("main")! - Date.now()).toBeGreaterThan(55_000);
    fake.emit("timerExpired", { type: "timerExpired", room: main });
    expect(store.snapshot.timers.has("main")).toBe(false);
    fake.emit("state", { ...state([person("m", "mediator", main)]), rooms: rooms.slice(0, 2) });
    expect(store.snapshot.timers.size).toBe(0);
  });

  it("takes a room's countdown from the server's view, and drops it when the server clears it", async () => {
    const { fake, store } = await joined();
    const caucus = { kind: "caucus", id: "c1" } as const;
    const timed: RoomView[] = [{ id: caucus, name: "Caucus one", timerRemainingMs: 90_000 }];
    fake.emit("state", { ...state([person("a", "party", caucus)], "a"), rooms: timed });
    const left = store.snapshot.timers.get("caucus:c1")! - Date.now();
    expect(left).toBeGreaterThan(85_000);
    expect(left).toBeLessThanOrEqual(90_000);
    fake.emit("state", { ...state([person("a", "party", caucus)], "a"), rooms: [{ ...timed[0]!, timerRemainingMs: null }] });
    expect(store.snapshot.timers.size).toBe(0);
  });

  it("Leave closes the session and stops the camera and microphone", async () => {
    const { fake, store } = await joined();
    store.leave();
    expect(fake.left).toBe(true);
    expect(fake.stopped).toBe(true);
    expect(store.snapshot.status).toBe("closed");
    expect(store.snapshot.closed?.code).toBe(1000);
  });
});

import { describe, expect, it } from "vitest";
import { DeviceKey, MemoryKeyStore } from "../src/device";
import { identityText, makeEcdhPair, makeIdentity, rawFromJwk, safetyNumber, unwrapKey, verifyIdentity, wrapKey, type KeyContext } from "../src/live/e2ee/keys";
import { E2eeSession, type KeyAckMessage, type KeyMessage, type KeySink } from "../src/live/e2ee/manager";
import type { ClientMessage, E2eeIdentity, ParticipantView, RoomId, ServerMessage } from "../src/protocol";

const SESSION = "5b1f9c7e-0000-4000-8000-000000000001";
const device = () => DeviceKey.load(new MemoryKeyStore());
const reason = (p: Promise<unknown>) =>
  p.then(
    () => "accepted",
    (e: unknown) => (e as { reason?: string }).reason ?? String(e),
  );

describe("identities", () => {
  it("verify only for the participant, session and ECDH key signed", async () => {
    const d = await device();
    const ecdh = await makeEcdhPair();
    const identity = await makeIdentity(d, SESSION, "alice", ecdh);
    expect(identity.deviceKey).toBe(rawFromJwk(d.publicJwk));
    expect(await verifyIdentity(SESSION, "alice", identity)).not.toBeNull();
    // Claimed by someone else, or for another session.
    expect(await verifyIdentity(SESSION, "mallory", identity)).toBeNull();
    expect(await verifyIdentity("another-session", "alice", identity)).toBeNull();
    // Another ECDH key under the same signature (the server swapping keys).
    const swapped = { ...identity, ecdhKey: (await makeEcdhPair()).publicKey };
    expect(await verifyIdentity(SESSION, "alice", swapped)).toBeNull();
    // Another device's key with alice's signature.
    expect(await verifyIdentity(SESSION, "alice", { ...identity, deviceKey: rawFromJwk((await device()).publicJwk) })).toBeNull();
    // Garbage never throws.
    expect(await verifyIdentity(SESSION, "alice", { deviceKey: "AAAA", ecdhKey: "!!", signature: "" })).toBeNull();
    expect(identityText(SESSION, "alice", "k")).toBe(`accord-e2ee-identity/1\n${SESSION}\nalice\nk`);
  });
});

describe("wrapped keys", () => {
  async function pair() {
    const [da, db] = [await device(), await device()];
    const [ea, eb] = [await makeEcdhPair(), await makeEcdhPair()];
    const va = (await verifyIdentity(SESSION, "a", await makeIdentity(da, SESSION, "a", ea)))!;
    const vb = (await verifyIdentity(SESSION, "b", await makeIdentity(db, SESSION, "b", eb)))!;
    const context: KeyContext = { session: SESSION, room: { kind: "main" }, from: "a", to: "b", generation: 3, senderEcdh: ea.publicKey, recipientEcdh: eb.publicKey };
    return { da, db, ea, eb, va, vb, context };
  }

  it("unwrap for the recipient with the context they were wrapped for", async () => {
    const { da, ea, eb, va, vb, context } = await pair();
    const base = crypto.getRandomValues(new Uint8Array(16));
    const entry = await wrapKey(da, ea, vb, context, base);
    expect(entry.to).toBe("b");
    expect(await unwrapKey(eb, va, context, entry.wrapped, entry.signature)).toEqual(base);
  });

  it("refuse a key signed by anyone but the sender, or moved to another context", async () => {
    const { da, db, ea, eb, va, vb, context } = await pair();
    const base = crypto.getRandomValues(new Uint8Array(16));
    const entry = await wrapKey(da, ea, vb, context, base);
    // The server (or b) re-signing a key as if a sent it.
    const forged = await db.sign(`accord-e2ee-key/1\n${SESSION}\nmain\na\nb\n3\n${ea.publicKey}\n${eb.publicKey}\n${entry.wrapped}`);
    expect(await reason(unwrapKey(eb, va, context, entry.wrapped, forged))).toBe("bad-signature");
    // The same bytes replayed into another room, generation or recipient.
    for (const moved of [{ room: { kind: "caucus", id: "c1" } as RoomId }, { generation: 4 }, { to: "c" }, { session: "other" }]) {
      expect(await reason(unwrapKey(eb, va, { ...context, ...moved }, entry.wrapped, entry.signature))).toBe("bad-signature");
    }
    // A changed wrapped key under the original signature.
    const flipped = entry.wrapped.slice(0, -2) + (entry.wrapped.endsWith("AA") ? "BA" : "AA");
    expect(await reason(unwrapKey(eb, va, context, flipped, entry.signature))).toBe("bad-signature");
    // Someone else's ECDH key cannot unwrap it, even with a valid signature.
    const stranger = await makeEcdhPair();
    expect(await reason(unwrapKey(stranger, va, { ...context, recipientEcdh: eb.publicKey }, entry.wrapped, entry.signature))).toBe("undecryptable");
  });

  it("give both sides the same safety number, and another pair another", async () => {
    const [a, b, c] = [rawFromJwk((await device()).publicJwk), rawFromJwk((await device()).publicJwk), rawFromJwk((await device()).publicJwk)];
    const ab = await safetyNumber(a, b);
    expect(ab).toMatch(/^\d{5} \d{5} \d{5} \d{5}$/);
    expect(await safetyNumber(b, a)).toBe(ab);
    expect(await safetyNumber(a, c)).not.toBe(ab);
  });
});

// ---- key management across a session: rotation on every membership change ----

type Person = { id: string; room: RoomId; connected: boolean; e2ee?: E2eeIdentity; session: E2eeSession; sink: RecordingSink; sent: ClientMessage[] };

class RecordingSink implements KeySink {
  sendKeys: number[] = [];
  /** participant → key ids held now */
  held = new Map<string, Set<number>>();
  setSendKey(generation: number) {
    this.sendKeys.push(generation);
  }
  setReceiveKey(participant: string, generation: number) {
    const set = this.held.get(participant) ?? new Set();
    set.add(generation);
    this.held.set(participant, set);
  }
  dropReceiver(participant: string) {
    this.held.delete(participant);
  }
}

const roomText = (r: RoomId) => (r.kind === "caucus" ? `caucus:${r.id}` : r.kind);

/** A tiny stand-in for the SFU's rules: views for everyone, keys only to connected members of the sender's room. */
class World {
  people = new Map<string, Person>();
  keyLog: { to: string; message: KeyMessage }[] = [];
  delivered: { to: string; message: KeyMessage }[] = [];
  ackLog: { to: string; message: KeyAckMessage }[] = [];
  /** Whether acknowledgements reach the key's sender. */
  relayAcks = true;

  /** `switchDelayMs`: the longest a sender waits for acknowledgements. */
  constructor(private readonly switchDelayMs = 0) {}

  async add(id: string, room: RoomId) {
    const d = await device();
    const sink = new RecordingSink();
    const person: Person = { id, room, connected: true, sink, sent: [], session: undefined as unknown as E2eeSession };
    person.session = new E2eeSession({ session: SESSION, device: d, sink, switchDelayMs: this.switchDelayMs, send: (m) => (this.fromClient(person, m), true) });
    this.people.set(id, person);
  }

  private fromClient(p: Person, m: ClientMessage) {
    p.sent.push(m);
    if (m.type === "e2eeIdentity") {
      p.e2ee = { deviceKey: m.deviceKey, ecdhKey: m.ecdhKey, signature: m.signature };
    } else if (m.type === "e2eeKeys") {
      if (p.room.kind === "lobby" || roomText(m.room) !== roomText(p.room)) return;
      for (const k of m.keys) {
        const to = this.people.get(k.to);
        if (!to || !to.connected || roomText(to.room) !== roomText(p.room) || to === p) continue;
        const message: KeyMessage = { type: "e2eeKey", from: p.id, room: m.room, generation: m.generation, wrapped: k.wrapped, signature: k.signature };
        this.keyLog.push({ to: to.id, message });
      }
    } else if (m.type === "e2eeKeyAck") {
      const to = this.people.get(m.to);
      if (!this.relayAcks || !to || !to.connected || to === p || roomText(to.room) !== roomText(p.room) || roomText(m.room) !== roomText(p.room)) return;
      this.ackLog.push({ to: to.id, message: { type: "e2eeKeyAck", from: p.id, generation: m.generation } });
    }
  }

  views(): ParticipantView[] {
    return [...this.people.values()].map((p) => ({ id: p.id, role: "party", room: p.room, muted: false, handRaised: false, sharing: false, connected: p.connected, ...(p.e2ee ? { e2ee: p.e2ee } : {}) }));
  }

  /** Sends views and relays keys until nothing changes. */
  async settle() {
    for (let round = 0; round < 6; round++) {
      const participants = this.views();
      for (const p of this.people.values()) if (p.connected) await p.session.onState({ type: "state", you: p.id, locked: false, hopByHop: false, rooms: [], participants } as Extract<ServerMessage, { type: "state" }>);
      await new Promise((r) => setTimeout(r, 5));
      const log = this.keyLog;
      this.keyLog = [];
      this.delivered.push(...log);
      for (const { to, message } of log) await this.people.get(to)!.session.onKey(message);
      await Promise.all([...this.people.values()].map((p) => p.session.settled()));
      const acks = this.ackLog;
      this.ackLog = [];
      for (const { to, message } of acks) this.people.get(to)!.session.onKeyAck(message);
      await new Promise((r) => setTimeout(r, 5));
      if (log.length === 0 && round > 0) return;
    }
  }

  /** The newest key id `holder` has of `sender`, if any. */
  newest(holder: string, sender: string): number | undefined {
    const held = this.people.get(holder)!.sink.held.get(sender);
    return held && held.size ? Math.max(...held) : undefined;
  }

  /** The key id `sender` encrypts with now. */
  sending(sender: string): number | undefined {
    return this.people.get(sender)!.sink.sendKeys.at(-1);
  }
}

describe("key management", () => {
  it("gives each member of a room the others' current keys, and none across rooms", async () => {
    const w = new World();
    await w.add("med", { kind: "main" });
    await w.add("a", { kind: "main" });
    await w.add("b", { kind: "main" });
    await w.settle();
    for (const holder of ["med", "a", "b"]) {
      for (const sender of ["med", "a", "b"]) {
        if (holder !== sender) expect(w.newest(holder, sender), `${holder} holds ${sender}'s key`).toBe(w.sending(sender));
      }
    }
    expect(w.people.get("a")!.session.peers.get("b")).toMatchObject({ verified: true, keyReceived: true });
    expect(w.people.get("a")!.session.peers.get("b")!.safetyNumber).toBe(w.people.get("b")!.session.peers.get("a")!.safetyNumber);

    // a moves to a caucus with the mediator: a forgets b's keys at once, and b
    // stops using the key a held; the caucus keys never reach b.
    const caucus: RoomId = { kind: "caucus", id: "c1" };
    const bKeyBefore = w.sending("b");
    const aKeyBefore = w.sending("a");
    w.people.get("a")!.room = caucus;
    w.people.get("med")!.room = caucus;
    await w.settle();
    expect(w.people.get("a")!.sink.held.has("b")).toBe(false);
    expect(w.people.get("b")!.sink.held.has("a")).toBe(false);
    expect(w.people.get("b")!.sink.held.has("med")).toBe(false);
    expect(w.sending("b")).toBeGreaterThan(bKeyBefore!);
    expect(w.sending("a")).toBeGreaterThan(aKeyBefore!);
    expect(w.newest("med", "a")).toBe(w.sending("a"));
    expect(w.newest("a", "med")).toBe(w.sending("med"));
    // No key a holds is one b (still in the main room) uses now.
    for (const [sender, kids] of w.people.get("a")!.sink.held) {
      if (sender === "b") expect(kids.has(w.sending("b")!)).toBe(false);
    }

    // A newcomer to the caucus gets only keys made after it came.
    const before = { a: w.sending("a")!, med: w.sending("med")! };
    await w.add("c", caucus);
    await w.settle();
    expect(w.newest("c", "a")).toBeGreaterThan(before.a);
    expect(w.newest("c", "med")).toBeGreaterThan(before.med);
    expect([...(w.people.get("c")!.sink.held.get("a") ?? [])].every((k) => k > before.a)).toBe(true);
  });

  it("switches to a new key once those decoding the current one acknowledge it, and at once after reconnecting", async () => {
    // A minute's fallback delay: any switch seen here came from the acknowledgements.
    const w = new World(60_000);
    await w.add("med", { kind: "main" });
    await w.add("a", { kind: "main" });
    await w.settle();
    expect(w.newest("med", "a")).toBe(w.sending("a"));
    const aBefore = w.sending("a")!;
    // b comes in: the mediator decodes a's current key, so a waits for the
    // mediator's acknowledgement of the new one, and then switches.
    await w.add("b", { kind: "main" });
    await w.settle();
    expect(w.sending("a")).toBeGreaterThan(aBefore);
    expect(w.newest("b", "a")).toBe(w.sending("a"));
    expect(w.newest("med", "a")).toBe(w.sending("a"));
    expect(w.people.get("a")!.session.stats.events.some((e) => e.what.startsWith(`key ${w.sending("a")} acknowledged by med`))).toBe(true);

    // Without acknowledgements the old key stays in use until the delay ends.
    w.relayAcks = false;
    const bSending = w.sending("b")!;
    await w.add("c", { kind: "main" });
    await w.settle();
    expect(w.sending("b")).toBe(bSending);
    expect(w.newest("c", "b")).toBeGreaterThan(bSending);

    // b's connection drops and comes back: the others forgot b's keys, so
    // b's next key is used at once, acknowledged or not.
    const b = w.people.get("b")!;
    b.connected = false;
    await w.settle();
    expect(w.people.get("a")!.sink.held.has("b")).toBe(false);
    b.connected = true;
    b.session.connected();
    await w.settle();
    const newest = w.newest("a", "b");
    expect(newest).toBeGreaterThan(bSending);
    expect(w.sending("b")).toBe(newest);
    expect(w.newest("med", "b")).toBe(newest);
  });

  it("refuses replayed, forged, misdirected and other-room key messages", async () => {
    const w = new World();
    await w.add("a", { kind: "main" });
    await w.add("b", { kind: "main" });
    await w.settle();
    const captured = w.delivered.filter((k) => k.to === "b" && k.message.from === "a");
    expect(captured.length).toBeGreaterThan(0);
    const b = w.people.get("b")!.session;
    const latest = captured.at(-1)!.message;
    expect(w.newest("b", "a")).toBe(latest.generation);

    // Replayed: the same message again, or an older one.
    expect(await b.onKey(latest)).toEqual({ accepted: false, reason: "replayed" });
    // Forged: a higher generation with a's old signature.
    expect(await b.onKey({ ...latest, generation: latest.generation + 5 })).toEqual({ accepted: false, reason: "bad-signature" });
    // Another room than b's.
    expect(await b.onKey({ ...latest, room: { kind: "caucus", id: "x" } })).toEqual({ accepted: false, reason: "not-for-this-room" });
    // Signed by b's own device, claiming to be from a (the server cannot mint keys).
    const mallory = await device();
    const fake = { ...latest, generation: latest.generation + 1, signature: await mallory.sign("anything") };
    expect(await b.onKey(fake)).toEqual({ accepted: false, reason: "bad-signature" });
    expect(b.stats.rejected.map((r) => r.reason)).toEqual(["replayed", "bad-signature", "not-for-this-room", "bad-signature"]);
    expect(w.newest("b", "a")).toBe(latest.generation);
  });
});

// Key management for one session client (docs/SECURITY.md, "End-to-end
// encrypted media"): advertises this page's ECDH identity, makes a new sender
// key whenever who is connected in its room changes, wraps it to each of
// them, and checks and unwraps the keys others send. The media keys go to a
// KeySink (the transform worker in the browser, a recorder in the tests);
// the server only ever sees identities and wrapped keys.

import type { ClientMessage, E2eeIdentity, ParticipantView, RoomId, ServerMessage } from "../../protocol";
import { BASE_KEY_BYTES, type Bytes } from "./frame";
import { KeyError, makeEcdhPair, makeIdentity, rawFromJwk, roomLabel, safetyNumber, unwrapKey, verifyIdentity, wrapKey, type EcdhPair, type KeyRefusal, type Signer, type VerifiedIdentity } from "./keys";

type StateMessage = Extract<ServerMessage, { type: "state" }>;
export type KeyMessage = Extract<ServerMessage, { type: "e2eeKey" }>;
export type KeyAckMessage = Extract<ServerMessage, { type: "e2eeKeyAck" }>;

/** Where media keys go: the frame transforms. */
export interface KeySink {
  /** Encrypt what this client sends with this key from now on. */
  setSendKey(generation: number, baseKey: Bytes): void;
  /** Decrypt `participant`'s frames of key id `generation` with this key. */
  setReceiveKey(participant: string, generation: number, baseKey: Bytes): void;
  /** Forget every key of `participant` (they left this room or changed identity). */
  dropReceiver(participant: string): void;
}

/** What this client knows of another participant's keys, for the UI. */
export type PeerSecurity = {
  /** Their identity's signature verified; false: they advertised none yet, or a bad one. */
  verified: boolean;
  /** Their identity is present but its signature is wrong. */
  invalid: boolean;
  /** The code to compare aloud with them, once verified. */
  safetyNumber: string | null;
  /** A key of theirs for this room was accepted. */
  keyReceived: boolean;
};

/** Counters for diagnostics and tests. */
export type E2eeStats = {
  /** Generation of the key this client encrypts with now (0: none yet). */
  sendGeneration: number;
  rotations: number;
  accepted: number;
  rejected: { from: string; generation: number; reason: KeyRefusal }[];
  /** The latest key events, with their time (epoch ms): identifiers and generations only. */
  events: { at: number; what: string }[];
};

export type E2eeOptions = {
  session: string;
  device: Signer;
  send: (message: ClientMessage) => boolean;
  sink: KeySink;
  subtle?: SubtleCrypto;
  /**
   * How long after sending a new key this client starts using it at the
   * latest, ms, when those decoding it now have not all acknowledged the new
   * one by then (they need it first).
   */
  switchDelayMs?: number;
};

/** Result of handling one key message. */
export type KeyResult = { accepted: true } | { accepted: false; reason: KeyRefusal };

const MAX_PENDING_PER_SENDER = 4;

export class E2eeSession {
  private readonly subtle: SubtleCrypto;
  private readonly ecdh: Promise<EcdhPair>;
  private chain: Promise<unknown> = Promise.resolve();
  private identitySent = false;
  private state: StateMessage | undefined;
  /** Identity checks, by participant, for the identity last seen. */
  private readonly checked = new Map<string, { json: string; result: Promise<VerifiedIdentity | null> }>();
  /** Verified identities of those in this client's room now. */
  private roomPeers = new Map<string, VerifiedIdentity>();
  private membership = "";
  private generation = 0;
  /** Who was given the key this client encrypts with now. */
  private sendingTo = new Set<string>();
  /** A new key waiting for those decoding the current one to acknowledge it. */
  private pendingSwitch: { generation: number; waiting: Set<string>; use: () => void } | undefined;
  /** Highest generation accepted per sender identity (`from|ecdhKey`): replays are refused. */
  private readonly lastAccepted = new Map<string, number>();
  /** Senders whose keys this client holds now. */
  private readonly holding = new Map<string, string>();
  /** Keys that arrived before the state showing their sender. */
  private pending = new Map<string, KeyMessage[]>();
  private readonly listeners = new Set<() => void>();
  private peerInfo = new Map<string, PeerSecurity>();
  private readonly safety = new Map<string, string>();
  readonly stats: E2eeStats = { sendGeneration: 0, rotations: 0, accepted: 0, rejected: [], events: [] };

  private note(what: string) {
    this.stats.events.push({ at: Date.now(), what });
    if (this.stats.events.length > 200) this.stats.events.shift();
  }

  constructor(private readonly options: E2eeOptions) {
    this.subtle = options.subtle ?? crypto.subtle;
    this.ecdh = makeEcdhPair(this.subtle);
  }

  /** Called on every change of what {@link peers} returns. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** What this client knows of each other participant it can see. */
  get peers(): ReadonlyMap<string, PeerSecurity> {
    return this.peerInfo;
  }

  /** A new signaling connection: the server knows no identity for it yet. */
  connected(): void {
    this.identitySent = false;
    this.membership = "";
    // The others forgot this client's keys when its connection dropped: the
    // next key is used at once, nobody waits for it.
    this.sendingTo = new Set();
    this.pendingSwitch = undefined;
  }

  /** An `e2eeKeyAck` arrived: `from` holds this client's key of that generation. */
  onKeyAck(message: KeyAckMessage): void {
    const pending = this.pendingSwitch;
    if (!pending || pending.generation !== message.generation || !pending.waiting.delete(message.from)) return;
    this.note(`key ${message.generation} acknowledged by ${message.from}`);
    if (pending.waiting.size === 0) pending.use();
  }

  /** Everything queued so far is done (tests). */
  settled(): Promise<void> {
    return this.chain.then(() => undefined);
  }

  /** A `state` arrived. */
  onState(state: StateMessage): Promise<void> {
    return this.enqueue(() => this.apply(state));
  }

  /** An `e2eeKey` arrived. */
  onKey(message: KeyMessage): Promise<KeyResult> {
    return this.enqueue(() => this.receive(message, true));
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(task, task);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async verified(p: ParticipantView): Promise<VerifiedIdentity | null> {
    if (!p.e2ee) return null;
    const json = JSON.stringify(p.e2ee);
    let entry = this.checked.get(p.id);
    if (!entry || entry.json !== json) {
      entry = { json, result: verifyIdentity(this.options.session, p.id, p.e2ee, this.subtle) };
      this.checked.set(p.id, entry);
    }
    return entry.result;
  }

  private async apply(state: StateMessage): Promise<void> {
    this.state = state;
    const me = state.participants.find((p) => p.id === state.you);
    const ecdh = await this.ecdh;
    if (!this.identitySent) {
      this.identitySent = true;
      const identity: E2eeIdentity = await makeIdentity(this.options.device, this.options.session, state.you, ecdh);
      this.options.send({ type: "e2eeIdentity", ...identity });
    }
    const others = state.participants.filter((p) => p.id !== state.you);
    const checks = await Promise.all(others.map(async (p) => [p, await this.verified(p)] as const));
    const room = me && me.room.kind !== "lobby" ? me.room : null;
    const inRoom = checks.filter(([p]) => room !== null && p.connected && roomLabel(p.room) === roomLabel(room));
    this.roomPeers = new Map(inRoom.flatMap(([p, v]) => (v ? [[p.id, v] as const] : [])));

    // Keys of anyone no longer in this room (or with a new identity) are forgotten at once.
    for (const [who, ecdhKey] of [...this.holding]) {
      if (this.roomPeers.get(who)?.identity.ecdhKey !== ecdhKey) {
        this.holding.delete(who);
        this.options.sink.dropReceiver(who);
      }
    }

    // Safety numbers and what the UI shows.
    const own = rawFromJwk(this.options.device.publicJwk);
    const info = new Map<string, PeerSecurity>();
    for (const [p, v] of checks) {
      let number: string | null = null;
      if (v) {
        const cacheKey = `${p.id}|${v.identity.deviceKey}`;
        number = this.safety.get(cacheKey) ?? null;
        if (!number) {
          number = await safetyNumber(own, v.identity.deviceKey, this.subtle);
          this.safety.set(cacheKey, number);
        }
      }
      info.set(p.id, { verified: v !== null, invalid: !!p.e2ee && v === null, safetyNumber: number, keyReceived: this.holding.has(p.id) });
    }
    this.peerInfo = info;
    this.changed();

    this.note(`state: room ${room ? roomLabel(room) : "lobby"}`);
    const membership = room === null ? "lobby" : `${roomLabel(room)}|${[...inRoom.map(([p, v]) => `${p.id}:${v?.identity.ecdhKey ?? "-"}`)].sort().join(",")}`;
    if (membership !== this.membership) {
      this.membership = membership;
      if (room !== null) await this.rotate(room, ecdh);
    }

    // Keys that came before the view that shows their sender.
    const waiting = this.pending;
    this.pending = new Map();
    for (const messages of waiting.values()) for (const m of messages) await this.receive(m, false);
  }

  private async rotate(room: RoomId, ecdh: EcdhPair): Promise<void> {
    const state = this.state!;
    const generation = ++this.generation;
    this.stats.rotations += 1;
    const baseKey = crypto.getRandomValues(new Uint8Array(BASE_KEY_BYTES));
    const keys = await Promise.all(
      [...this.roomPeers].map(([to, recipient]) =>
        wrapKey(this.options.device, ecdh, recipient, { session: this.options.session, room, from: state.you, to, generation, senderEcdh: ecdh.publicKey, recipientEcdh: recipient.identity.ecdhKey }, baseKey, this.subtle),
      ),
    );
    const recipients = new Set(this.roomPeers.keys());
    const use = () => {
      // A newer key made meanwhile takes over when its own delay ends.
      if (this.generation !== generation || this.stats.sendGeneration === generation) return;
      if (this.pendingSwitch?.generation === generation) this.pendingSwitch = undefined;
      this.options.sink.setSendKey(generation, baseKey);
      this.stats.sendGeneration = generation;
      this.note(`sending with key ${generation}`);
      this.sendingTo = recipients;
    };
    if (keys.length > 0) this.options.send({ type: "e2eeKeys", room, generation, keys });
    this.note(`key ${generation} sent to ${[...recipients].join(",") || "nobody"}`);
    // Someone who had the key in use left (or this client changed rooms):
    // the new key is used at once, so they cannot decrypt what follows.
    // Only when everyone holding the key in use stays, and some of them
    // decode it now, is the switch delayed until they have the new one.
    // The delay ends early once each of them acknowledged the new key.
    const someoneLeft = [...this.sendingTo].some((who) => !recipients.has(who));
    const decoding = [...this.sendingTo].filter((who) => recipients.has(who));
    if (keys.length === 0 || someoneLeft || decoding.length === 0) use();
    else {
      this.pendingSwitch = { generation, waiting: new Set(decoding), use };
      setTimeout(use, this.options.switchDelayMs ?? 300);
    }
  }

  private refuse(m: KeyMessage, reason: KeyRefusal): KeyResult {
    this.stats.rejected.push({ from: m.from, generation: m.generation, reason });
    this.note(`key ${m.generation} of ${m.from} refused: ${reason}`);
    if (this.stats.rejected.length > 100) this.stats.rejected.shift();
    return { accepted: false, reason };
  }

  private async receive(m: KeyMessage, mayWait: boolean): Promise<KeyResult> {
    const state = this.state;
    const me = state?.participants.find((p) => p.id === state.you);
    if (!state || !me || me.room.kind === "lobby" || roomLabel(m.room) !== roomLabel(me.room)) return this.refuse(m, "not-for-this-room");
    const sender = this.roomPeers.get(m.from);
    if (!sender) {
      if (mayWait) {
        // Its sender may show up in the next view: kept for then, a few at most.
        const list = [...(this.pending.get(m.from) ?? []), m].slice(-MAX_PENDING_PER_SENDER);
        this.pending.set(m.from, list);
        return { accepted: false, reason: "unknown-sender" };
      }
      return this.refuse(m, "unknown-sender");
    }
    const slot = `${m.from}|${sender.identity.ecdhKey}`;
    if (m.generation <= (this.lastAccepted.get(slot) ?? 0)) return this.refuse(m, "replayed");
    const ecdh = await this.ecdh;
    let baseKey: Bytes;
    try {
      baseKey = await unwrapKey(
        ecdh,
        sender,
        { session: this.options.session, room: m.room, from: m.from, to: state.you, generation: m.generation, senderEcdh: sender.identity.ecdhKey, recipientEcdh: ecdh.publicKey },
        m.wrapped,
        m.signature,
        this.subtle,
      );
    } catch (e) {
      return this.refuse(m, e instanceof KeyError ? e.reason : "undecryptable");
    }
    this.lastAccepted.set(slot, m.generation);
    this.holding.set(m.from, sender.identity.ecdhKey);
    this.options.sink.setReceiveKey(m.from, m.generation, baseKey);
    this.options.send({ type: "e2eeKeyAck", to: m.from, room: m.room, generation: m.generation });
    this.stats.accepted += 1;
    this.note(`key ${m.generation} of ${m.from} accepted`);
    const info = this.peerInfo.get(m.from);
    if (info && !info.keyReceived) {
      this.peerInfo = new Map(this.peerInfo).set(m.from, { ...info, keyReceived: true });
      this.changed();
    }
    return { accepted: true };
  }

  private changed() {
    for (const fn of [...this.listeners]) fn();
  }
}

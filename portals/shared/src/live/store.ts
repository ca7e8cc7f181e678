// One person's live session as the UI sees it: the SessionClient, and what
// its events add up to (notices, chat, hands in the order raised, who left or
// is reconnecting, link quality, the active speaker, timers). React reads it
// with useSyncExternalStore (hooks.ts); nothing here touches the DOM except
// `window.accord`, which tests and diagnostics read.

import type { Api } from "../api";
import type { ParticipantView, QualityView, RoomId } from "../protocol";
import { SessionClient, type Closed, type RemoteMedia, type SessionOptions, type StateMessage, type Status } from "../session";
import type { PeerSecurity } from "./e2ee/manager";
import { fitStreamForSending } from "./media";
import { roomKey, sameRoom } from "./rooms";
import { live } from "./strings";

export type Notice = { id: number; at: number; text: string };
export type ChatLine = { id: number; at: number; from: string; text: string };
/** Someone who was in the session and is no longer (the mediator sees everyone, so only they are told). */
export type Departed = { participant: ParticipantView; at: number };

export type LiveSnapshot = {
  client: SessionClient | null;
  status: Status;
  statusMessage: string;
  state: StateMessage | undefined;
  remote: readonly RemoteMedia[];
  /** Changes whenever remote media or the local tracks change (streams are mutated in place). */
  mediaVersion: number;
  speaker: string | null;
  notices: readonly Notice[];
  chat: readonly ChatLine[];
  quality: ReadonlyMap<string, QualityView>;
  closed: Closed | null;
  /** The mediator's words when they turned this person away. */
  deniedMessage: string | null;
  media: RTCPeerConnectionState | null;
  sharing: boolean;
  /** Participant ids with a raised hand, longest raised first. */
  hands: readonly string[];
  /** Who left lately (mediator's view), newest last. */
  departed: readonly Departed[];
  /** Who is away during their reconnection grace (mediator's view). */
  reconnecting: ReadonlySet<string>;
  /** Countdowns this person set: room key → when it ends (epoch ms). */
  timers: ReadonlyMap<string, number>;
  /** Where remote sound plays (the device check's choice; null: the browser's default). */
  speakerId: string | null;
  /** Whether this client encrypts media end to end. */
  e2ee: boolean;
  /** What this client knows of each other participant's keys (safety numbers). */
  security: ReadonlyMap<string, PeerSecurity>;
};

type Hooks = { api: Api; client: SessionClient | null; sessionId: string | null };

declare global {
  interface Window {
    /** What tests and diagnostics read: the API, the session client once joining, the session. */
    accord?: Hooks;
  }
}

const MAX_NOTICES = 200;
const MAX_CHAT = 500;
/** How long someone who left stays listed as "left", ms. */
export const DEPARTED_SHOWN_MS = 60_000;

export type LiveStoreOptions = {
  api: Api;
  sessionId: string;
  baseUrl?: string;
  /** Makes the client (tests give a fake). */
  makeClient?: (options: SessionOptions) => SessionClient;
};

export class LiveStore {
  readonly api: Api;
  readonly sessionId: string;
  private readonly baseUrl: string;
  private readonly makeClient: (options: SessionOptions) => SessionClient;
  private listeners = new Set<() => void>();
  private unwire: (() => void)[] = [];
  private nextId = 1;
  private handOrder = new Map<string, number>();
  /** Those the mediator removed or turned away: not "left". */
  private sentAway = new Set<string>();
  /** Names for notices (the page knows them). */
  label: (id: string) => string = (id) => id;
  snapshot: LiveSnapshot;

  constructor(options: LiveStoreOptions) {
    this.api = options.api;
    this.sessionId = options.sessionId;
    this.baseUrl = options.baseUrl ?? location.origin;
    this.makeClient = options.makeClient ?? ((o) => new SessionClient(o));
    this.snapshot = {
      client: null,
      status: "idle",
      statusMessage: "",
      state: undefined,
      remote: [],
      mediaVersion: 0,
      speaker: null,
      notices: [],
      chat: [],
      quality: new Map(),
      closed: null,
      deniedMessage: null,
      media: null,
      sharing: false,
      hands: [],
      departed: [],
      reconnecting: new Set(),
      timers: new Map(),
      speakerId: null,
      e2ee: false,
      security: new Map(),
    };
    this.expose();
  }

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  getSnapshot = (): LiveSnapshot => this.snapshot;

  private set(patch: Partial<LiveSnapshot>) {
    this.snapshot = { ...this.snapshot, ...patch };
    for (const fn of this.listeners) fn();
  }

  private expose() {
    if (typeof window === "undefined") return;
    window.accord = { api: this.api, client: this.snapshot.client, sessionId: this.sessionId };
  }

  get client(): SessionClient | null {
    return this.snapshot.client;
  }

  /** Joins with the camera and microphone chosen before (a fresh client each time). */
  async join(localStream: MediaStream | undefined, speakerId: string | null = null): Promise<void> {
    const old = this.snapshot.client;
    if (old && old.status !== "closed") return;
    this.unwire.forEach((f) => f());
    const options: SessionOptions = { baseUrl: this.baseUrl, sessionId: this.sessionId, api: this.api };
    if (localStream) options.localStream = localStream;
    const client = this.makeClient(options);
    this.handOrder.clear();
    this.sentAway.clear();
    this.set({
      client,
      status: "connecting",
      statusMessage: live.status.connecting ?? "",
      state: undefined,
      remote: [],
      speaker: null,
      closed: null,
      deniedMessage: null,
      media: null,
      sharing: false,
      hands: [],
      departed: [],
      reconnecting: new Set(),
      quality: new Map(),
      speakerId,
      e2ee: client.e2eeEnabled,
      security: new Map(),
    });
    this.expose();
    this.wire(client);
    if (localStream) await fitStreamForSending(localStream);
    await client.join();
  }

  /** Leaves: the socket closes, the camera, microphone and screen capture stop. */
  leave(): void {
    const c = this.snapshot.client;
    if (!c) return;
    c.leave();
    c.stopLocalMedia();
    this.set({ sharing: false, mediaVersion: this.snapshot.mediaVersion + 1 });
  }

  notice(text: string): void {
    const n: Notice = { id: this.nextId++, at: Date.now(), text };
    const notices = [...this.snapshot.notices, n];
    this.set({ notices: notices.length > MAX_NOTICES ? notices.slice(-MAX_NOTICES) : notices });
  }

  /** The local tracks changed (device switch, camera on or off). */
  localChanged(): void {
    this.set({ mediaVersion: this.snapshot.mediaVersion + 1, sharing: this.snapshot.client?.sharing ?? false });
  }

  /** Mediator: remembers someone is being sent away, so their going is not "left". */
  sendingAway(id: string): void {
    this.sentAway.add(id);
  }

  /** Mediator: a countdown on a room. */
  setTimer(room: RoomId, seconds: number): boolean {
    const c = this.snapshot.client;
    if (!c || !c.setTimer(room, seconds)) return false;
    const timers = new Map(this.snapshot.timers);
    timers.set(roomKey(room), Date.now() + seconds * 1000);
    this.set({ timers });
    return true;
  }

  /** Mediator: stops a room's countdown. */
  clearTimer(room: RoomId): boolean {
    const c = this.snapshot.client;
    if (!c || !c.clearTimer(room)) return false;
    this.dropTimer(room);
    return true;
  }

  private dropTimer(room: RoomId) {
    if (!this.snapshot.timers.has(roomKey(room))) return;
    const timers = new Map(this.snapshot.timers);
    timers.delete(roomKey(room));
    this.set({ timers });
  }

  /**
   * Who is connected (the state keeps a dropped participant in place, not
   * connected, during their reconnection grace): those not connected are
   * shown as reconnecting, with a notice when they drop and come back.
   */
  setConnected(connected: ReadonlyMap<string, boolean>): void {
    const state = this.snapshot.state;
    if (!state) return;
    const now = new Set<string>();
    for (const p of state.participants) if (p.id !== state.you && connected.get(p.id) === false) now.add(p.id);
    const before = this.snapshot.reconnecting;
    if (now.size === before.size && [...now].every((id) => before.has(id))) return;
    for (const id of now) if (!before.has(id)) this.notice(live.notice.dropped(this.label(id)));
    for (const id of before) if (!now.has(id) && state.participants.some((p) => p.id === id)) this.notice(live.notice.back(this.label(id)));
    this.set({ reconnecting: now });
  }

  /** Forgets departures older than DEPARTED_SHOWN_MS. */
  prune(now = Date.now()): void {
    const kept = this.snapshot.departed.filter((d) => now - d.at < DEPARTED_SHOWN_MS);
    if (kept.length !== this.snapshot.departed.length) this.set({ departed: kept });
  }

  private wire(c: SessionClient) {
    const mine = () => c === this.snapshot.client;
    const on: typeof c.on = (event, fn) => c.on(event, (v) => mine() && fn(v));
    // Key management exists once joining began: followed from the first state on.
    let securityWired = false;
    const wireSecurity = () => {
      const e2ee = c.e2ee;
      if (securityWired || !e2ee) return;
      securityWired = true;
      this.unwire.push(e2ee.onChange(() => mine() && this.set({ security: e2ee.peers })));
    };
    this.unwire = [
      on("state", wireSecurity),
      on("status", ({ status, message }) => this.set({ status, statusMessage: message })),
      on("state", (s) => this.onState(s)),
      on("remote", (remote) => this.set({ remote, mediaVersion: this.snapshot.mediaVersion + 1 })),
      on("media", (media) => {
        if (media === "failed") this.notice(live.notice.mediaFailed);
        this.set({ media });
      }),
      on("knock", (m) => this.notice(live.notice.knock(this.label(m.participant)))),
      on("chat", (m) => {
        const chat = [...this.snapshot.chat, { id: this.nextId++, at: Date.now(), from: m.from, text: m.text }];
        this.set({ chat: chat.length > MAX_CHAT ? chat.slice(-MAX_CHAT) : chat });
      }),
      on("broadcast", (m) => this.notice(live.notice.broadcast(m.text))),
      on("timerWarning", (m) => this.notice(live.notice.timerWarning(this.roomName(m.room)))),
      on("timerExpired", (m) => {
        this.notice(live.notice.timerExpired(this.roomName(m.room)));
        this.dropTimer(m.room);
      }),
      on("mutedByMediator", () => this.notice(live.notice.mutedByMediator)),
      on("unmuteRequested", () => this.notice(live.notice.unmuteRequested)),
      on("speaker", (m) => this.set({ speaker: m.participant })),
      on("stats", (m) => this.set({ quality: new Map(m.participants.map((q) => [q.id, q])) })),
      on("error", (m) => this.notice(live.notice.notDone(m.message))),
      on("problem", (text) => this.notice(text)),
      on("denied", (m) => this.set({ deniedMessage: m.message })),
      on("closed", (closed) => this.set({ closed, status: "closed", sharing: false, remote: [], speaker: null })),
    ];
  }

  roomName(r: RoomId): string {
    const found = this.snapshot.state?.rooms.find((v) => sameRoom(v.id, r));
    return found?.name ?? (r.kind === "main" ? "Main room" : r.kind === "lobby" ? "Lobby" : "a caucus");
  }

  private onState(s: StateMessage) {
    const before = this.snapshot.state;
    // End to end only while this client encrypts and nobody joined in clear.
    const e2ee = this.snapshot.client?.e2eeEnabled === true && !s.hopByHop;
    if (e2ee !== this.snapshot.e2ee) this.set({ e2ee });
    if (s.hopByHop && !before?.hopByHop) this.notice(live.e2ee.hopByHop);
    const mediator = s.participants.find((p) => p.id === s.you)?.role === "mediator";
    // Hands, in the order raised.
    const now = Date.now();
    for (const p of s.participants) {
      if (p.handRaised && !this.handOrder.has(p.id)) {
        this.handOrder.set(p.id, now + this.handOrder.size / 1000);
        const was = before?.participants.find((q) => q.id === p.id);
        if (mediator && p.id !== s.you && before && !was?.handRaised) this.notice(live.notice.hand(this.label(p.id)));
      }
      if (!p.handRaised) this.handOrder.delete(p.id);
    }
    for (const id of [...this.handOrder.keys()]) if (!s.participants.some((p) => p.id === id)) this.handOrder.delete(id);
    const hands = [...this.handOrder.entries()].sort((a, b) => a[1] - b[1]).map(([id]) => id);
    // Departures (the mediator sees everyone; others only their room, where going elsewhere looks the same as leaving).
    let departed = this.snapshot.departed.filter((d) => !s.participants.some((p) => p.id === d.participant.id));
    let reconnecting = this.snapshot.reconnecting;
    if (mediator && before) {
      for (const p of before.participants) {
        if (p.id === s.you || s.participants.some((q) => q.id === p.id)) continue;
        if (this.sentAway.delete(p.id)) continue;
        departed = [...departed, { participant: p, at: now }];
        this.notice(live.notice.left(this.label(p.id)));
      }
      if ([...reconnecting].some((id) => !s.participants.some((p) => p.id === id))) {
        reconnecting = new Set([...reconnecting].filter((id) => s.participants.some((p) => p.id === id)));
      }
    }
    // Countdowns as the server has them (time left as of this view) for the
    // rooms this view shows; a room's countdown ends with its room.
    let timers = this.snapshot.timers;
    const gone = [...timers.keys()].filter((key) => key.startsWith("caucus:") && !s.rooms.some((r) => roomKey(r.id) === key));
    const cleared = s.rooms.filter((r) => r.timerRemainingMs === null && timers.has(roomKey(r.id)));
    const server = s.rooms.filter((r) => r.timerRemainingMs !== null);
    if (gone.length || cleared.length || server.length) {
      const next = new Map(timers);
      for (const key of gone) next.delete(key);
      for (const r of cleared) next.delete(roomKey(r.id));
      for (const r of server) next.set(roomKey(r.id), now + (r.timerRemainingMs ?? 0));
      timers = next;
    }
    this.set({ state: s, hands, departed, reconnecting, timers, sharing: this.snapshot.client?.sharing ?? false });
    if (mediator) this.setConnected(new Map(s.participants.map((p) => [p.id, p.connected])));
  }
}

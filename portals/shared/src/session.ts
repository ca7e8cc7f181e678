// The live-session client: join token, signaling WebSocket, device-bound
// handshake, media (one RTCPeerConnection), commands, and reconnection.
//
// Protocol (docs/signaling.md, crates/sfu/src/protocol.rs):
// - the server sends `challenge`; the client answers `hello` with a fresh join
//   token, its device's public key and its signature over the nonce;
// - the first `state` means the client is in (lobby or a room);
// - the client sends ONE `offer` (microphone, camera, screen; all send-only)
//   and applies the server's `answer`; later the server renegotiates with its
//   own `offer`s, which the client answers;
// - `tracks` says whose media each receiving m-line carries (the stream id of
//   each remote track is the sender's participant id too).

import { Api, ApiError } from "./api";
import { closeMessage, CloseCode, isRefusal, ReconnectPolicy, SdpRecovery, shouldReconnect } from "./connection";
import { DeviceKey } from "./device";
import { Emitter, encode, parseFrame, type ServerMessageOf, type ServerType } from "./messages";
import type { ClientMessage, MediaSource, ParticipantView, RoomId, RoomView, ServerMessage, TrackView } from "./protocol";
import { TileSizes, type TileMessage, type TileSource } from "./tiles";
import { E2eeSession } from "./live/e2ee/manager";
import { e2eeSupported, TransformWorker } from "./live/e2ee/transform";

export type StateMessage = ServerMessageOf<"state">;

/** Where the client stands. */
export type Status = "idle" | "connecting" | "joined" | "reconnecting" | "closed";

/** A remote participant's media as this client receives it. */
export type RemoteMedia = {
  participant: string;
  /** Microphone and camera. */
  stream: MediaStream;
  /** Their shared screen, while they share. */
  screen: MediaStream | null;
  /** Which of their sources arrive now. */
  sources: MediaSource[];
};

/** Why the client stopped for good. */
export type Closed = { code: number; reason: string; message: string; refused: boolean };

/** One receiving m-line's statistics (for diagnostics and tests). */
export type ReceiveStat = {
  mid: string;
  participant: string;
  source: MediaSource;
  kind: string;
  framesDecoded: number;
  packetsReceived: number;
  bytesReceived: number;
  trackMuted: boolean;
  trackEnded: boolean;
};

/** Everything a client reports, by name. Server messages come under their `type`. */
export type SessionEvents = { [K in ServerType]: ServerMessageOf<K> } & {
  /** The client's own standing changed. */
  status: { status: Status; message: string };
  /** The client stopped for good (refused, removed, left, or could not reconnect). */
  closed: Closed;
  /** The set of remote media changed. */
  remote: RemoteMedia[];
  /** The peer connection's state changed. */
  media: RTCPeerConnectionState;
  /** Something went wrong that does not end the session (shown to the person). */
  problem: string;
};

type SocketLike = {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onmessage: ((e: { data: unknown }) => void) | null;
  onclose: ((e: { code: number; reason: string }) => void) | null;
  onerror: ((e: unknown) => void) | null;
};

export type SessionOptions = {
  /** Accord's origin, e.g. `https://mediation.example.org/`. */
  baseUrl: string;
  /** The session's id. */
  sessionId: string;
  /** The HTTP API (default: one for `baseUrl`). */
  api?: Api;
  /** This browser's device key (default: the one in IndexedDB, made if missing). */
  device?: DeviceKey | (() => Promise<DeviceKey>);
  /** Opens the signaling socket (default: `new WebSocket`). */
  socket?: (url: string) => SocketLike;
  /** Publish and receive media (default true); off for signaling-only use. */
  media?: boolean;
  /** Camera and microphone to publish (default: asked for with getUserMedia on join). */
  localStream?: MediaStream;
  /** Extra RTCPeerConnection settings (ICE servers). */
  rtc?: RTCConfiguration;
  /** When to reconnect after a drop. */
  reconnect?: ReconnectPolicy;
  /** How long to wait for the first `state` after connecting, ms. */
  joinTimeoutMs?: number;
  /**
   * Encrypt media end to end (default: whenever media is on). A browser
   * without encoded transforms asks for a hop-by-hop token instead, which
   * the org may refuse (then joining fails with the API's reason).
   */
  e2ee?: boolean;
};

/** A socket closed before the first state, not as a refusal (a 1013 means: try again with a new token). */
export class JoinClosedError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    super(closeMessage(code, reason));
    this.name = "JoinClosedError";
  }
}

/** Joining attempts after a 1013 (try again later) before giving up, and the pause before each. */
const TRY_AGAIN_DELAYS_MS = [300, 1000, 2500];

/** A refusal by the server (close code 44xx, or 1011 before joining). */
export class JoinRefusedError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    super(closeMessage(code, reason));
    this.name = "JoinRefusedError";
  }
}

const OPEN = 1;

/**
 * The camera's simulcast layers, lowest first (the order Chromium's simulcast
 * expects): a quarter, half and full resolution. The server forwards each
 * receiver the layer that fits its tile. A server that answers without
 * simulcast gets one stream, sent at full size (see `fullSizeWithoutSimulcast`).
 */
export const CAMERA_LAYERS: readonly RTCRtpEncodingParameters[] = [
  { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: "f", scaleResolutionDownBy: 1, maxBitrate: 1_200_000 },
];

/** The signaling URL for `baseUrl` and a session. */
export function signalingUrl(baseUrl: string, sessionId: string): string {
  const url = new URL("/sfu/ws", baseUrl);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("session", sessionId);
  return url.toString();
}

function sleep(ms: number) {
  return new Promise<void>((resolve) => setTimeout(resolve, ms));
}

/**
 * When the answer rejected simulcast, Chromium keeps only the first encoding
 * (the quarter-size, 150 kbit/s layer): send that one stream at full size and
 * bitrate instead. Does nothing while several layers are negotiated.
 */
export async function fullSizeWithoutSimulcast(sender: RTCRtpSender): Promise<boolean> {
  const params = sender.getParameters();
  const full = CAMERA_LAYERS[CAMERA_LAYERS.length - 1]!;
  const only = params.encodings.length === 1 ? params.encodings[0] : undefined;
  if (!only || ((only.scaleResolutionDownBy ?? 1) === full.scaleResolutionDownBy && only.maxBitrate === full.maxBitrate)) return false;
  only.scaleResolutionDownBy = full.scaleResolutionDownBy;
  only.maxBitrate = full.maxBitrate;
  await sender.setParameters(params);
  return true;
}

/**
 * One participant's connection to one live session.
 *
 * ```ts
 * const client = new SessionClient({ baseUrl: location.origin, sessionId });
 * client.on("state", (s) => render(s));
 * await client.join();
 * ```
 */
export class SessionClient {
  readonly api: Api;
  readonly sessionId: string;
  private readonly events = new Emitter<SessionEvents>();
  private readonly options: SessionOptions;
  private readonly policy: ReconnectPolicy;
  private readonly sdpRecovery = new SdpRecovery();
  private device: DeviceKey | undefined;

  private ws: SocketLike | undefined;
  /** Incremented per socket; frames and closes of older sockets are ignored. */
  private generation = 0;
  private joinedGeneration = -1;
  private leaving = false;
  private pendingJoin: { resolve: () => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> } | undefined;

  private currentStatus: Status = "idle";
  private latestState: StateMessage | undefined;

  // Media.
  private local: MediaStream | undefined;
  private screenTrack: MediaStreamTrack | null = null;
  private pc: RTCPeerConnection | undefined;
  private iceServers: RTCIceServer[] = [];
  private senders: { mic: RTCRtpTransceiver; camera: RTCRtpTransceiver; screen: RTCRtpTransceiver } | undefined;
  private sdpChain: Promise<void> = Promise.resolve();
  private tracksByMid = new Map<string, TrackView>();
  private msidByMid = new Map<string, string>();
  private remoteMedia = new Map<string, RemoteMedia>();
  private remoteSignature = "";
  private mutedLocally = false;
  /** The size of each remote tile, for the server (debounced). */
  private readonly tileSizes = new TileSizes((m) => this.sendQuietly(m));
  /**
   * The last server messages' types and arrival times (ms since the epoch),
   * with the participant a key message came from: timing diagnostics for
   * tests, never content, kept in memory only.
   */
  readonly trace: { at: number; type: string; from?: string }[] = [];
  // End-to-end encryption: key management and the frame transform worker.
  private e2eeSession: E2eeSession | undefined;
  private transformWorker: TransformWorker | undefined;
  /** This browser cannot encrypt: it joins hop by hop, if the org allows. */
  private clearOnly = false;
  /** The session runs hop by hop: the worker passes frames in clear. */
  private passingClear = false;

  constructor(options: SessionOptions) {
    this.options = options;
    this.sessionId = options.sessionId;
    this.api = options.api ?? new Api(options.baseUrl);
    this.policy = options.reconnect ?? new ReconnectPolicy();
    this.local = options.localStream;
  }

  // ---- observing ---------------------------------------------------------

  /** Listens to an event; returns a function that stops listening. */
  on<K extends keyof SessionEvents>(event: K, fn: (value: SessionEvents[K]) => void): () => void {
    return this.events.on(event, fn);
  }

  /** The next event of a kind that passes `test`, or a rejection after `timeoutMs`. */
  next<K extends keyof SessionEvents>(event: K, test: (v: SessionEvents[K]) => boolean = () => true, timeoutMs = 10_000): Promise<SessionEvents[K]> {
    return Promise.race([
      this.events.next(event, test),
      sleep(timeoutMs).then(() => {
        throw new Error(`no ${String(event)} event within ${timeoutMs} ms`);
      }),
    ]);
  }

  /** The client's standing. */
  get status(): Status {
    return this.currentStatus;
  }

  /** The latest `state` the server sent. */
  get state(): StateMessage | undefined {
    return this.latestState;
  }

  /** This participant's id (once joined). */
  get you(): string | undefined {
    return this.latestState?.you;
  }

  /** This participant as the server sees them. */
  get me(): ParticipantView | undefined {
    const s = this.latestState;
    return s?.participants.find((p) => p.id === s.you);
  }

  /** Whether this participant runs the session. */
  get isMediator(): boolean {
    return this.me?.role === "mediator";
  }

  /** The rooms this participant may see. */
  get rooms(): RoomView[] {
    return this.latestState?.rooms ?? [];
  }

  /** The participants this participant may see. */
  get participants(): ParticipantView[] {
    return this.latestState?.participants ?? [];
  }

  /** Remote media by participant id. */
  get remote(): ReadonlyMap<string, RemoteMedia> {
    return this.remoteMedia;
  }

  /** The m-lines the server sends on, by mid. */
  get tracks(): ReadonlyMap<string, TrackView> {
    return this.tracksByMid;
  }

  /** The peer connection (for diagnostics). */
  get peerConnection(): RTCPeerConnection | undefined {
    return this.pc;
  }

  /** The published camera and microphone. */
  get localStream(): MediaStream | undefined {
    return this.local;
  }

  /** Whether this client is sharing a screen. */
  get sharing(): boolean {
    return this.screenTrack !== null;
  }

  /** Whether this client encrypts its media end to end (set on joining). */
  get e2eeEnabled(): boolean {
    return (this.options.e2ee ?? this.options.media !== false) && !this.clearOnly;
  }

  /** Whether this client joins without end-to-end encryption because the browser cannot do it. */
  get joinsHopByHop(): boolean {
    return this.clearOnly;
  }

  /** End-to-end key management (identities, safety numbers, counters), once joining. */
  get e2ee(): E2eeSession | undefined {
    return this.e2eeSession;
  }

  /** The frame transform worker (its counters, for diagnostics and tests). */
  get e2eeWorker(): TransformWorker | undefined {
    return this.transformWorker;
  }

  // ---- joining and leaving -------------------------------------------------

  /**
   * Joins: camera and microphone (unless given or media is off), a join token,
   * the socket and the handshake. Resolves once the server's first `state`
   * arrived (possibly in the lobby); rejects with a {@link JoinRefusedError}
   * or an {@link ApiError}.
   */
  async join(): Promise<void> {
    if (this.currentStatus === "connecting" || this.currentStatus === "joined" || this.currentStatus === "reconnecting") {
      throw new Error("already joined or joining");
    }
    this.leaving = false;
    try {
      // A browser that cannot encrypt asks for a hop-by-hop token; the org decides.
      if (this.e2eeEnabled && !e2eeSupported()) this.clearOnly = true;
      if (!this.device) {
        const d = this.options.device;
        this.device = d instanceof DeviceKey ? d : d ? await d() : await DeviceKey.load();
      }
      if (this.e2eeEnabled && !this.e2eeSession) {
        const sink = (this.transformWorker = new TransformWorker());
        this.e2eeSession = new E2eeSession({ session: this.sessionId, device: this.device, send: (m) => this.sendQuietly(m), sink });
      }
      if (this.options.media !== false && !this.local) {
        this.local = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      }
      // 1013: the session runs elsewhere, or what the server needs is
      // briefly unreachable; each attempt asks for a new token.
      for (let attempt = 0; ; attempt++) {
        try {
          await this.connect();
          break;
        } catch (e) {
          const delay = TRY_AGAIN_DELAYS_MS[attempt];
          if (!(e instanceof JoinClosedError) || e.code !== CloseCode.TryAgainLater || delay === undefined || this.leaving) throw e;
          this.setStatus("connecting", closeMessage(e.code, e.reason));
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    } catch (e) {
      if (!this.leaving) this.finish(e instanceof JoinRefusedError ? e.code : CloseCode.Abnormal, e instanceof JoinRefusedError ? e.reason : "", e instanceof Error ? e.message : String(e));
      throw e;
    }
  }

  /** Leaves the session (the camera and microphone stay on; see {@link stopLocalMedia}). */
  leave(): void {
    this.leaving = true;
    this.pendingJoin?.reject(new Error("left"));
    this.pendingJoin = undefined;
    const ws = this.ws;
    this.ws = undefined;
    this.generation += 1;
    try {
      ws?.close(CloseCode.Normal, "left");
    } catch {
      // already closed
    }
    this.finish(CloseCode.Normal, "", closeMessage(CloseCode.Normal));
  }

  /** Stops the camera, microphone and screen capture. */
  stopLocalMedia(): void {
    this.local?.getTracks().forEach((t) => t.stop());
    this.screenTrack?.stop();
    this.local = undefined;
    this.screenTrack = null;
  }

  private setStatus(status: Status, message: string) {
    this.currentStatus = status;
    this.events.emit("status", { status, message });
  }

  private finish(code: number, reason: string, message: string) {
    if (this.currentStatus === "closed") return;
    this.teardownPeer();
    this.tileSizes.clear();
    // The keys go with the worker; a later join starts afresh.
    this.transformWorker?.terminate();
    this.transformWorker = undefined;
    this.e2eeSession = undefined;
    this.setStatus("closed", message);
    this.events.emit("closed", { code, reason, message, refused: isRefusal(code) });
  }

  /** Opens a socket, answers the challenge, and waits for the first `state`. */
  private async connect(): Promise<void> {
    const device = this.device!;
    this.setStatus(this.currentStatus === "reconnecting" ? "reconnecting" : "connecting", "Joining the session…");
    // With several SFU nodes the token names the one the session runs on.
    const { token, url } = await this.api.joinToken(this.sessionId, device.publicJwk, !this.clearOnly);
    if (this.leaving) throw new Error("left");
    const generation = ++this.generation;
    const open = this.options.socket ?? ((url: string) => new WebSocket(url) as unknown as SocketLike);
    const ws = open(url ?? signalingUrl(this.options.baseUrl, this.sessionId));
    this.ws = ws;
    const joined = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pendingJoin?.timer === timer) {
          this.pendingJoin = undefined;
          try {
            ws.close(CloseCode.Normal, "timeout");
          } catch {
            // already closed
          }
          reject(new Error("the session server did not let this browser in within the time allowed"));
        }
      }, this.options.joinTimeoutMs ?? 15_000);
      this.pendingJoin = { resolve, reject, timer };
    });
    ws.onmessage = (e) => {
      if (generation === this.generation && typeof e.data === "string") this.onFrame(generation, ws, token, e.data);
    };
    ws.onclose = (e) => {
      if (generation === this.generation) this.onClose(generation, e.code, e.reason);
    };
    ws.onerror = () => {
      // A close event follows; it carries what happened.
    };
    return joined;
  }

  private onFrame(generation: number, ws: SocketLike, token: string, text: string) {
    const parsed = parseFrame(text);
    switch (parsed.kind) {
      case "invalid":
        this.events.emit("problem", `The session server sent something unexpected (${parsed.error}).`);
        return;
      case "unknown":
        return; // a newer server's message: nothing to do with it
      case "challenge": {
        const device = this.device!;
        device.sign(parsed.message.nonce).then(
          (signature) => {
            if (generation !== this.generation || ws.readyState !== OPEN) return;
            ws.send(JSON.stringify({ type: "hello", token, deviceKey: device.publicJwk, signature }));
          },
          (e: unknown) => this.events.emit("problem", `This device could not sign the challenge: ${String(e)}`),
        );
        return;
      }
      case "message":
        this.handle(generation, parsed.message);
    }
  }

  /** Applies one server message and tells the listeners. */
  private handle(generation: number, m: ServerMessage) {
    this.trace.push({ at: Date.now(), type: m.type, from: "from" in m && typeof m.from === "string" ? m.from : undefined });
    if (this.trace.length > 200) this.trace.shift();
    switch (m.type) {
      case "state":
        this.latestState = m;
        if (m.hopByHop && this.transformWorker && !this.passingClear) {
          // Someone cannot encrypt: frames go and come in clear from now on.
          this.passingClear = true;
          this.transformWorker.passClear();
        }
        if (this.joinedGeneration !== generation) this.e2eeSession?.connected();
        void this.e2eeSession?.onState(m);
        if (this.joinedGeneration !== generation) {
          this.joinedGeneration = generation;
          const pending = this.pendingJoin;
          this.pendingJoin = undefined;
          if (pending) clearTimeout(pending.timer);
          this.setStatus("joined", "");
          // A new connection: the server knows no tile sizes yet.
          this.tileSizes.resend();
          if (this.options.media !== false) this.startMedia(generation);
          pending?.resolve();
        }
        break;
      case "iceServers":
        // Sent right after joining, before the first state: the relays (with
        // time-limited credentials) the peer connection may use.
        this.iceServers = m.servers;
        break;
      case "offer":
      case "answer":
        this.applySdp(generation, m);
        break;
      case "e2eeKey":
        void this.e2eeSession?.onKey(m);
        break;
      case "e2eeKeyAck":
        this.e2eeSession?.onKeyAck(m);
        break;
      case "tracks":
        this.transformWorker?.setTracks(m.tracks);
        this.tracksByMid = new Map(m.tracks.map((t) => [t.mid, t]));
        this.refreshRemote();
        break;
      case "error":
        if (m.refused && generation === this.generation && this.options.media !== false) {
          if (this.sdpRecovery.refused() === "restart") {
            this.events.emit("problem", `The server refused this browser's media ${m.refused} (${m.message}); starting media again.`);
            this.startMedia(generation);
          } else {
            this.events.emit("problem", `The server keeps refusing this browser's media ${m.refused} (${m.message}); reload the page to try again.`);
          }
        }
        break;
      case "mutedByMediator":
        this.mutedLocally = true;
        this.applyLocalMute();
        break;
      default:
        break;
    }
    this.events.emit(m.type, m as never);
  }

  private onClose(generation: number, code: number, reason: string) {
    this.ws = undefined;
    const pending = this.pendingJoin;
    if (pending) {
      // Closed before the first state of this socket: the join attempt failed.
      this.pendingJoin = undefined;
      clearTimeout(pending.timer);
      pending.reject(isRefusal(code) ? new JoinRefusedError(code, reason) : new JoinClosedError(code, reason));
      return;
    }
    if (this.leaving || generation !== this.joinedGeneration) return;
    if (shouldReconnect(code)) {
      void this.reconnect(code, reason);
    } else {
      this.finish(code, reason, closeMessage(code, reason));
    }
  }

  private async reconnect(code: number, reason: string) {
    this.teardownPeer();
    let delay = this.policy.dropped(Date.now());
    this.setStatus("reconnecting", `${closeMessage(code, reason)} Reconnecting…`);
    while (delay !== null) {
      await sleep(delay);
      if (this.leaving) return;
      try {
        await this.connect();
        this.policy.succeeded();
        return;
      } catch (e) {
        if (this.leaving) return;
        if (e instanceof JoinRefusedError || (e instanceof ApiError && (e.code === "UNAUTHENTICATED" || e.code === "FORBIDDEN" || e.code === "NOT_FOUND"))) {
          const refusedCode = e instanceof JoinRefusedError ? e.code : CloseCode.Unauthorized;
          this.finish(refusedCode, e instanceof JoinRefusedError ? e.reason : "", e.message);
          return;
        }
        this.setStatus("reconnecting", `${e instanceof Error ? e.message : String(e)} Trying again…`);
        delay = this.policy.failed(Date.now());
      }
    }
    this.finish(code, reason, `${closeMessage(code, reason)} Reconnecting did not succeed; reload the page to try again.`);
  }

  // ---- media ---------------------------------------------------------------

  private startMedia(generation: number) {
    this.teardownPeer();
    const pc = new RTCPeerConnection({
      bundlePolicy: "max-bundle",
      rtcpMuxPolicy: "require",
      ...(this.iceServers.length > 0 ? { iceServers: this.iceServers } : {}),
      ...this.options.rtc,
    });
    this.pc = pc;
    const local = this.local;
    const streams = local ? [local] : [];
    const mic = local?.getAudioTracks()[0];
    const camera = local?.getVideoTracks()[0];
    // The order is the protocol: microphone, camera, screen.
    this.senders = {
      mic: pc.addTransceiver(mic ?? "audio", { direction: "sendonly", streams }),
      camera: pc.addTransceiver(camera ?? "video", { direction: "sendonly", streams, sendEncodings: CAMERA_LAYERS.map((e) => ({ ...e })) }),
      screen: pc.addTransceiver(this.screenTrack ?? "video", { direction: "sendonly", streams }),
    };
    this.applyLocalMute();
    const worker = this.transformWorker;
    if (worker) {
      // Before the offer: no frame leaves unencrypted.
      worker.attachSender(this.senders.mic.sender, "audio");
      worker.attachSender(this.senders.camera.sender, "video");
      worker.attachSender(this.senders.screen.sender, "video");
    }
    pc.ontrack = (e) => {
      const mid = e.transceiver.mid;
      if (worker && mid) worker.attachReceiver(e.receiver, mid, e.track.kind === "audio" ? "audio" : "video");
      const msid = e.streams[0]?.id;
      if (mid && msid) this.msidByMid.set(mid, msid);
      e.track.addEventListener("mute", () => this.refreshRemote());
      e.track.addEventListener("unmute", () => this.refreshRemote());
      e.track.addEventListener("ended", () => this.refreshRemote());
      this.refreshRemote();
    };
    pc.onconnectionstatechange = () => {
      if (this.pc !== pc) return;
      if (pc.connectionState === "connected") this.sdpRecovery.connected();
      this.events.emit("media", pc.connectionState);
    };
    this.sdpChain = this.sdpChain
      .then(async () => {
        const offer = await pc.createOffer();
        await pc.setLocalDescription(offer);
        this.transformWorker?.setSdp(pc.localDescription?.sdp);
        // Sent at once, without waiting for ICE gathering (about 120 ms in
        // Chromium, seconds where an interface is slow): the SFU is ICE-lite
        // and learns this browser's addresses from its connectivity checks,
        // and Chromium's host candidates are mDNS names it could not resolve.
        if (this.pc !== pc || generation !== this.generation) return;
        this.send({ type: "offer", sdp: pc.localDescription!.sdp });
      })
      .catch((e: unknown) => this.events.emit("problem", `Could not start media: ${String(e)}`));
  }

  private applySdp(generation: number, m: ServerMessageOf<"offer"> | ServerMessageOf<"answer">) {
    this.sdpChain = this.sdpChain
      .then(async () => {
        const pc = this.pc;
        if (!pc || generation !== this.generation) return;
        if (m.type === "answer") {
          await pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
          const camera = this.senders?.camera.sender;
          if (camera && this.pc === pc) await fullSizeWithoutSimulcast(camera);
        } else {
          await pc.setRemoteDescription({ type: "offer", sdp: m.sdp });
          await pc.setLocalDescription(await pc.createAnswer());
          if (this.pc !== pc || generation !== this.generation) return;
          this.send({ type: "answer", sdp: pc.localDescription!.sdp });
        }
        this.transformWorker?.setSdp(pc.localDescription?.sdp, pc.remoteDescription?.sdp);
        this.refreshRemote();
      })
      .catch((e: unknown) => this.events.emit("problem", `Could not apply the server's ${m.type}: ${String(e)}`));
  }

  private teardownPeer() {
    const pc = this.pc;
    this.pc = undefined;
    this.senders = undefined;
    this.tracksByMid = new Map();
    this.msidByMid = new Map();
    if (pc) {
      pc.ontrack = null;
      pc.onconnectionstatechange = null;
      pc.close();
    }
    this.refreshRemote();
  }

  /** Rebuilds the per-participant streams from the transceivers and the latest `tracks`. */
  private refreshRemote() {
    const want = new Map<string, Map<MediaSource, MediaStreamTrack>>();
    const pc = this.pc;
    const own = new Set(this.senders ? [this.senders.mic, this.senders.camera, this.senders.screen] : []);
    if (pc) {
      for (const t of pc.getTransceivers()) {
        const mid = t.mid;
        if (!mid || own.has(t) || t.currentDirection === "stopped" || t.currentDirection === "inactive") continue;
        let info: { participant: string; source: MediaSource } | undefined = this.tracksByMid.get(mid);
        if (!info && this.tracksByMid.size === 0) {
          // Before the first `tracks`: the stream id names the participant.
          const msid = this.msidByMid.get(mid);
          if (msid) info = { participant: msid, source: t.receiver.track.kind === "audio" ? "microphone" : "camera" };
        }
        if (!info) continue;
        const track = t.receiver.track;
        if (track.readyState === "ended") continue;
        let sources = want.get(info.participant);
        if (!sources) want.set(info.participant, (sources = new Map()));
        sources.set(info.source, track);
      }
    }
    for (const [participant, media] of this.remoteMedia) {
      if (!want.has(participant)) {
        media.stream.getTracks().forEach((t) => media.stream.removeTrack(t));
        this.remoteMedia.delete(participant);
      }
    }
    for (const [participant, sources] of want) {
      let media = this.remoteMedia.get(participant);
      if (!media) {
        media = { participant, stream: new MediaStream(), screen: null, sources: [] };
        this.remoteMedia.set(participant, media);
      }
      const main = [sources.get("microphone"), sources.get("camera")].filter((t): t is MediaStreamTrack => !!t);
      for (const t of media.stream.getTracks()) if (!main.includes(t)) media.stream.removeTrack(t);
      for (const t of main) if (!media.stream.getTracks().includes(t)) media.stream.addTrack(t);
      const screen = sources.get("screen");
      if (screen) {
        if (!media.screen || media.screen.getTracks()[0] !== screen) media.screen = new MediaStream([screen]);
      } else {
        media.screen = null;
      }
      media.sources = [...sources.keys()].sort();
    }
    const signature = [...this.remoteMedia.values()]
      .map((m) => `${m.participant}:${m.stream.getTracks().map((t) => t.id).join(",")}:${m.screen?.getTracks()[0]?.id ?? ""}`)
      .sort()
      .join("|");
    if (signature !== this.remoteSignature) {
      this.remoteSignature = signature;
      this.events.emit("remote", [...this.remoteMedia.values()]);
    }
  }

  /** Statistics of every m-line the server sends on, with whose media it carries (one getStats call). */
  async receiveStats(): Promise<ReceiveStat[]> {
    const pc = this.pc;
    if (!pc) return [];
    const byMid = new Map<string, RTCRtpTransceiver>();
    const byTrack = new Map<string, RTCRtpTransceiver>();
    for (const t of pc.getTransceivers()) {
      if (t.mid) byMid.set(t.mid, t);
      byTrack.set(t.receiver.track.id, t);
    }
    const report = await pc.getStats();
    const out: ReceiveStat[] = [];
    report.forEach((s: RTCStats & Record<string, unknown>) => {
      if (s.type !== "inbound-rtp") return;
      const t = (typeof s.mid === "string" ? byMid.get(s.mid) : undefined) ?? (typeof s.trackIdentifier === "string" ? byTrack.get(s.trackIdentifier) : undefined);
      const info = t?.mid ? this.tracksByMid.get(t.mid) : undefined;
      if (!t || !info) return;
      out.push({
        mid: t.mid!,
        participant: info.participant,
        source: info.source,
        kind: String(s.kind ?? t.receiver.track.kind),
        framesDecoded: Number(s.framesDecoded ?? 0),
        packetsReceived: Number(s.packetsReceived ?? 0),
        bytesReceived: Number(s.bytesReceived ?? 0),
        trackMuted: t.receiver.track.muted,
        trackEnded: t.receiver.track.readyState === "ended",
      });
    });
    return out;
  }

  private applyLocalMute() {
    const track = this.local?.getAudioTracks()[0];
    if (track) track.enabled = !this.mutedLocally;
  }

  /**
   * Publishes `track` as the camera (`video`) or microphone (`audio`) in place
   * of the current one, without renegotiating (`RTCRtpSender.replaceTrack`):
   * a device switch. Null stops sending that source (the camera turned off).
   * The replaced track is stopped; a reconnection publishes the new one.
   */
  async replaceLocalTrack(kind: "audio" | "video", track: MediaStreamTrack | null): Promise<void> {
    const local = (this.local ??= new MediaStream());
    for (const t of kind === "audio" ? local.getAudioTracks() : local.getVideoTracks()) {
      if (t === track) continue;
      local.removeTrack(t);
      t.stop();
    }
    if (track && !local.getTracks().includes(track)) local.addTrack(track);
    if (kind === "audio") this.applyLocalMute();
    const sender = kind === "audio" ? this.senders?.mic.sender : this.senders?.camera.sender;
    await sender?.replaceTrack(track);
  }

  /** Starts sharing a screen (asks the browser for one unless given). */
  async startScreenShare(track?: MediaStreamTrack): Promise<void> {
    const t = track ?? (await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false })).getVideoTracks()[0];
    if (!t) throw new Error("no screen was chosen");
    this.screenTrack?.stop();
    this.screenTrack = t;
    t.addEventListener("ended", () => {
      if (this.screenTrack === t) void this.stopScreenShare();
    });
    await this.senders?.screen.sender.replaceTrack(t);
    this.send({ type: "setSharing", sharing: true });
  }

  /** Stops sharing the screen. */
  async stopScreenShare(): Promise<void> {
    const t = this.screenTrack;
    this.screenTrack = null;
    t?.stop();
    await this.senders?.screen.sender.replaceTrack(null);
    this.send({ type: "setSharing", sharing: false });
  }

  // ---- commands ------------------------------------------------------------

  /**
   * A remote tile (the `source` of `participant`) is now shown at
   * `width`×`height` device pixels; 0×0 when hidden. Sent to the server once
   * it has stayed so for 300 ms, and again after a reconnect.
   */
  setTileSize(participant: string, source: TileSource, width: number, height: number): void {
    this.tileSizes.set(participant, source, width, height);
  }

  /** A remote tile is gone: the server hears 0×0 (debounced). */
  removeTile(participant: string, source: TileSource): void {
    this.tileSizes.remove(participant, source);
  }

  /** Sends a message the person did not ask for: false, without a `problem`, when not in the session. */
  private sendQuietly(message: TileMessage | ClientMessage): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN || this.joinedGeneration !== this.generation) return false;
    ws.send(JSON.stringify(message));
    return true;
  }

  /** Sends a message; false (and a `problem`) when not connected. */
  send(message: ClientMessage): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) {
      this.events.emit("problem", "Not connected to the session: the action was not sent.");
      return false;
    }
    ws.send(encode(message));
    return true;
  }

  /** Mediator: let someone in from the lobby. */
  admit(participant: string) {
    return this.send({ type: "admit", participant });
  }
  /** Mediator: turn someone away from the lobby. */
  deny(participant: string, message: string | null = null) {
    return this.send({ type: "deny", participant, message });
  }
  /** Mediator: open a caucus room. */
  createCaucus(name: string) {
    return this.send({ type: "createCaucus", name });
  }
  /** Mediator: close an empty caucus room. */
  renameCaucus(room: RoomId, name: string) {
    return this.send({ type: "renameCaucus", room, name });
  }

  closeCaucus(room: RoomId) {
    return this.send({ type: "closeCaucus", room });
  }
  /** Mediator: move someone (themselves included) to a room. */
  move(participant: string, room: RoomId) {
    return this.send({ type: "move", participant, room });
  }
  /** Mediator: everyone admitted back to the main room. */
  recallAll() {
    return this.send({ type: "recallAll" });
  }
  /** Mediator: a text shown in every room. */
  broadcast(text: string) {
    return this.send({ type: "broadcast", text });
  }
  /** Mediator: a countdown on a room. */
  setTimer(room: RoomId, seconds: number) {
    return this.send({ type: "setTimer", room, seconds });
  }
  /** Mediator: stop a room's countdown. */
  clearTimer(room: RoomId) {
    return this.send({ type: "clearTimer", room });
  }
  /** Mediator: stop forwarding someone's audio. */
  mute(participant: string) {
    return this.send({ type: "mute", participant });
  }
  /** Mediator: ask someone to unmute. */
  askUnmute(participant: string) {
    return this.send({ type: "askUnmute", participant });
  }
  /** Mediator: end someone's participation. */
  remove(participant: string) {
    return this.send({ type: "remove", participant });
  }
  /** Mediator: lock or unlock the session. */
  lock(locked: boolean) {
    return this.send({ type: "lock", locked });
  }
  /** Mute or unmute oneself (the microphone track too). */
  setMuted(muted: boolean) {
    this.mutedLocally = muted;
    this.applyLocalMute();
    return this.send({ type: "setMuted", muted });
  }
  /** Raise or lower one's hand. */
  setHand(raised: boolean) {
    return this.send({ type: "setHand", raised });
  }
  /** A chat message to one's room. */
  chat(text: string) {
    return this.send({ type: "chat", text });
  }
}

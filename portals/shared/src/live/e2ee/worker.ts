// The frame transform worker: every encoded frame this page sends is
// encrypted here before it is packetized, and every frame it receives is
// decrypted here before it is decoded (RTCRtpScriptTransform). Keys arrive
// from the session client (transform.ts posts them); they never leave this
// worker or the page. A frame that cannot be encrypted is not sent; one that
// cannot be decrypted is dropped, never passed on in clear.

import { clearPrefixLength, decodeHeader, decryptFrame, decryptRed, deriveFrameKey, encryptFrame, encryptRed, FrameError, type FrameKey, type FrameKind, type FrameRefusal, type ReceiveKey, ReplayWindow } from "./frame";
import type { TransformOptions, WorkerRequest, WorkerStats } from "./transform";

// The worker's side of encoded transforms (not in TypeScript's DOM library).
type EncodedFrame = { data: ArrayBuffer; type?: "key" | "delta" | "empty"; getMetadata?: () => { payloadType?: number; mimeType?: string; width?: number; height?: number } };
type ScriptTransformer = {
  readable: ReadableStream<EncodedFrame>;
  writable: WritableStream<EncodedFrame>;
  options: TransformOptions;
  generateKeyFrame?: () => Promise<unknown>;
  sendKeyFrameRequest?: () => Promise<unknown>;
};
type WorkerScope = {
  onrtctransform: ((event: { transformer: ScriptTransformer }) => void) | null;
  onmessage: ((event: { data: WorkerRequest }) => void) | null;
  postMessage(message: unknown): void;
};
const scope = globalThis as unknown as WorkerScope;

/** Keys of one sender kept at once: the newest and the ones just before, for frames in flight. */
const KEPT_PER_SENDER = 3;
/**
 * Frames whose key has not arrived yet are held (in order, still
 * encrypted) for this long, at most this many: a key travels over the
 * signaling socket while the first frames under it (the key frame a new
 * route asks for) come over the media path, and may win the race.
 */
const HOLD_MS = 1500;
const HOLD_FRAMES = 150;

let sendKey: { frameKey: FrameKey; ctr: number } | null = null;
const receivers = new Map<string, Map<number, ReceiveKey>>();
const participantByMid = new Map<string, string>();
/** Payload types of RED audio (from the SDP). */
let redTypes = new Set<number>();

/** Whether an audio frame is RED (RFC 2198): its blocks are sealed one by one, headers in clear. */
function isRed(options: TransformOptions, frame: EncodedFrame): boolean {
  if (options.kind !== "audio") return false;
  const meta = frame.getMetadata?.();
  if (meta?.mimeType) return meta.mimeType.toLowerCase() === "audio/red";
  return meta?.payloadType !== undefined && redTypes.has(meta.payloadType);
}
const videoSenders = new Set<ScriptTransformer>();
/**
 * Video receive transforms that may hold frames for a key: when their
 * sender's key comes, what they hold is opened at once (not at the sender's
 * next frame, which may be a few hundred ms away on a loaded machine), and
 * a key frame is asked for only if that leaves frames still held.
 */
type Waiting = { holding: () => boolean; release: () => Promise<void> };
const waitingForKey = new Map<ScriptTransformer, Waiting>();
const stats: WorkerStats = { encrypted: 0, decrypted: 0, clear: 0, dropped: {}, encryptMs: 0, decryptMs: 0, sendGeneration: 0, receiveKeys: {}, events: [] };
/** The session runs hop by hop: frames pass unchanged both ways (never turned back within a session). */
let clear = false;

/** Notes a key-frame event (see {@link WorkerStats.events}). */
function note(what: string) {
  stats.events.push({ at: Date.now(), what });
  if (stats.events.length > 200) stats.events.shift();
}

/** The SFrame key id of a sealed video frame, from its header in clear; null when it has none. */
function keyIdOf(kind: FrameKind, data: Uint8Array<ArrayBuffer>): number | null {
  return decodeHeader(data, clearPrefixLength(kind, data.length))?.kid ?? null;
}

function drop(reason: FrameRefusal | "no-send-key") {
  stats.dropped[reason] = (stats.dropped[reason] ?? 0) + 1;
}

function kindOf(options: TransformOptions, frame: EncodedFrame): FrameKind {
  if (options.kind === "audio") return "audio";
  return frame.type === "key" ? "key" : "delta";
}

async function handle(request: WorkerRequest) {
  switch (request.type) {
    case "send": {
      const frameKey = await deriveFrameKey(request.key, request.generation);
      sendKey = { frameKey, ctr: 0 };
      stats.sendGeneration = request.generation;
      note(`sending under key ${request.generation}`);
      // Whoever just got this key starts decoding at once, not at the next periodic key frame.
      for (const t of videoSenders) t.generateKeyFrame?.().catch(() => undefined);
      break;
    }
    case "receive": {
      const frameKey = await deriveFrameKey(request.key, request.generation);
      let keys = receivers.get(request.participant);
      if (!keys) receivers.set(request.participant, (keys = new Map()));
      keys.set(request.generation, { frameKey, replay: new ReplayWindow() });
      for (const kid of [...keys.keys()].sort((a, b) => b - a).slice(KEPT_PER_SENDER)) keys.delete(kid);
      note(`key ${request.generation} of ${request.participant}`);
      // Frames held for this key are opened now. Frames still held after
      // that were likely under a key never sent here (the sender's previous
      // one): a key frame under the new key is what the decoder needs; ask
      // now rather than at the next frame.
      for (const [t, waiting] of waitingForKey) {
        if (participantByMid.get(t.options.mid ?? "") !== request.participant || !waiting.holding()) continue;
        await waiting.release();
        if (waiting.holding()) {
          note(`key frame asked of ${request.participant}: frames held for want of a key`);
          t.sendKeyFrameRequest?.().catch(() => undefined);
        }
      }
      break;
    }
    case "drop":
      receivers.delete(request.participant);
      break;
    case "red":
      redTypes = new Set(request.payloadTypes);
      break;
    case "tracks":
      participantByMid.clear();
      for (const [mid, participant] of request.tracks) participantByMid.set(mid, participant);
      break;
    case "clear":
      if (clear) break;
      clear = true;
      note("hop by hop: frames pass in clear from now on");
      // Receivers need a key frame they can decode as it is.
      for (const t of videoSenders) t.generateKeyFrame?.().catch(() => undefined);
      break;
    case "stats":
      stats.receiveKeys = Object.fromEntries([...receivers].map(([who, keys]) => [who, [...keys.keys()]]));
      scope.postMessage({ type: "stats", id: request.id, stats });
      break;
  }
}

let queue: Promise<void> = Promise.resolve();
scope.onmessage = (event) => {
  // In order: a key is derived before a later message may drop it.
  queue = queue.then(() => handle(event.data)).catch(() => undefined);
};

function sender(transformer: ScriptTransformer): TransformStream<EncodedFrame, EncodedFrame> {
  return new TransformStream({
    async transform(frame, controller) {
      if (frame.data.byteLength === 0) return controller.enqueue(frame);
      if (clear) {
        stats.clear += 1;
        return controller.enqueue(frame);
      }
      const key = sendKey;
      if (!key) return drop("no-send-key");
      const started = performance.now();
      // Counters are taken before awaiting: never used twice with a key.
      const data = new Uint8Array(frame.data);
      const sealed = isRed(transformer.options, frame) ? await encryptRed(key.frameKey, () => key.ctr++, data) : await encryptFrame(key.frameKey, key.ctr++, kindOf(transformer.options, frame), data);
      if (!sealed) return drop("malformed");
      if (frame.type === "key") {
        const meta = frame.getMetadata?.();
        note(`key frame sent under key ${key.frameKey.kid} (${meta?.width ?? "?"}x${meta?.height ?? "?"})`);
      }
      stats.encryptMs += performance.now() - started;
      stats.encrypted += 1;
      frame.data = sealed.buffer as ArrayBuffer;
      controller.enqueue(frame);
    },
  });
}

function receiver(transformer: ScriptTransformer): TransformStream<EncodedFrame, EncodedFrame> {
  let held: { frame: EncodedFrame; at: number }[] = [];
  /** Video frames were given up for want of their key: the decoder needs a key frame it can decrypt. */
  let lost = false;
  const giveUp = (n: number) => {
    for (let i = 0; i < n; i++) drop("unknown-key");
    if (n > 0 && transformer.options.kind === "video") lost = true;
  };
  /** Where opened frames go: set at the first frame, used by `release` too. */
  let output: TransformStreamDefaultController<EncodedFrame> | null = null;
  /** Frames are opened one call at a time, in order, by `transform` and `release` alike. */
  let turn: Promise<unknown> = Promise.resolve();
  const inTurn = (work: () => Promise<void>): Promise<void> => {
    const run = turn.then(work);
    turn = run.catch(() => undefined);
    return run;
  };
  const who = () => participantByMid.get(transformer.options.mid ?? "") ?? "?";
  /** Whether the last frame was held for want of its key (for the events). */
  let holding = false;
  const passed = (frame: EncodedFrame) => {
    if (transformer.options.kind === "video" && (holding || frame.type === "key")) {
      note(`${frame.type === "key" ? "key" : "delta"} frame of ${who()} decrypted${holding ? " after a wait" : ""}`);
    }
    holding = false;
    if (!lost) return;
    lost = false;
    // A key frame that decrypts is what the decoder needs: nothing to ask.
    if (frame.type === "key") return;
    // Generating key frames is not offered to senders, so the receiver asks (the SFU answers at once right after a layer starts).
    note(`key frame asked of ${who()}: frames were given up`);
    transformer.sendKeyFrameRequest?.().catch(() => undefined);
  };
  const noteHeld = (frame: EncodedFrame) => {
    if (holding || transformer.options.kind !== "video") return;
    holding = true;
    note(`holding frames of ${who()}: no key ${keyIdOf(kindOf(transformer.options, frame), new Uint8Array(frame.data))} (${frame.type})`);
  };
  /** Decrypts one frame and passes it on; "no-key" when its key has not arrived (yet). */
  const open = async (frame: EncodedFrame, controller: TransformStreamDefaultController<EncodedFrame>): Promise<"passed" | "no-key" | "dropped"> => {
    const participant = participantByMid.get(transformer.options.mid ?? "");
    const keys = participant ? receivers.get(participant) : undefined;
    const started = performance.now();
    try {
      const data = new Uint8Array(frame.data);
      const lookup = (kid: number) => keys?.get(kid);
      const plain = isRed(transformer.options, frame) ? await decryptRed(lookup, data) : (await decryptFrame(lookup, kindOf(transformer.options, frame), data)).plain;
      stats.decryptMs += performance.now() - started;
      stats.decrypted += 1;
      frame.data = plain.buffer as ArrayBuffer;
      controller.enqueue(frame);
      return "passed";
    } catch (e) {
      const reason = e instanceof FrameError ? e.reason : "malformed";
      if (reason === "unknown-key") return "no-key";
      drop(reason);
      return "dropped";
    }
  };
  /** Opens the frames held for their key, in order, now that it may have come; those older than HOLD_MS are given up. */
  const openHeld = async (controller: TransformStreamDefaultController<EncodedFrame>, now: number) => {
    let waiting: typeof held = [];
    for (const h of held) {
      if (now - h.at > HOLD_MS) {
        giveUp(1);
        continue;
      }
      const result = await open(h.frame, controller);
      if (result === "passed") {
        // Anything still waiting before it is stale now.
        giveUp(waiting.length);
        waiting = [];
        passed(h.frame);
      } else if (result === "no-key") {
        waiting.push(h);
      }
    }
    held = waiting;
  };
  if (transformer.options.kind === "video") {
    waitingForKey.set(transformer, {
      holding: () => held.length > 0,
      release: () =>
        inTurn(async () => {
          if (output && held.length > 0 && !clear) await openHeld(output, performance.now());
        }),
    });
  }
  return new TransformStream({
    transform(frame, controller) {
      output = controller;
      return inTurn(async () => {
        if (frame.data.byteLength === 0) return controller.enqueue(frame);
        if (clear) {
          // Frames held for a key will never be opened now.
          giveUp(held.length);
          held = [];
          stats.clear += 1;
          return controller.enqueue(frame);
        }
        const now = performance.now();
        await openHeld(controller, now);
        const result = await open(frame, controller);
        if (result === "passed") {
          giveUp(held.length);
          held = [];
          passed(frame);
        } else if (result === "no-key") {
          noteHeld(frame);
          if (held.length < HOLD_FRAMES) held.push({ frame, at: now });
          else giveUp(1);
        }
      });
    },
  });
}

scope.onrtctransform = ({ transformer }) => {
  const send = transformer.options.side === "send";
  if (send && transformer.options.kind === "video") videoSenders.add(transformer);
  transformer.readable
    .pipeThrough(send ? sender(transformer) : receiver(transformer))
    .pipeTo(transformer.writable)
    .catch(() => undefined)
    .finally(() => {
      videoSenders.delete(transformer);
      waitingForKey.delete(transformer);
    });
};

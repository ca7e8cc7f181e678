// The page's side of the frame transform worker (worker.ts): attaches an
// RTCRtpScriptTransform to each sender and receiver, and hands the worker
// the media keys the session's key management (manager.ts) accepts.

import type { Bytes } from "./frame";
import type { KeySink } from "./manager";

/** What each transform is: which way, audio or video, and (receiving) its m-line. */
export type TransformOptions = { side: "send" | "receive"; kind: "audio" | "video"; mid?: string };

/** Messages to the worker. */
export type WorkerRequest =
  | { type: "send"; generation: number; key: Bytes }
  | { type: "receive"; participant: string; generation: number; key: Bytes }
  | { type: "drop"; participant: string }
  | { type: "tracks"; tracks: [string, string][] }
  | { type: "red"; payloadTypes: number[] }
  /** The session runs hop by hop (someone cannot encrypt): frames pass in clear both ways from now on. */
  | { type: "clear" }
  | { type: "stats"; id: number };

/** The worker's counters (diagnostics, tests and the benchmark). */
export type WorkerStats = {
  encrypted: number;
  decrypted: number;
  /** Frames passed in clear, both ways, once the session ran hop by hop. */
  clear: number;
  /** Frames dropped, by reason (`unknown-key`, `forged`, `replayed`, `malformed`, `no-send-key`). */
  dropped: Record<string, number>;
  /** Time spent encrypting and decrypting, ms. */
  encryptMs: number;
  decryptMs: number;
  sendGeneration: number;
  /** The key ids held for each sender now. */
  receiveKeys: Record<string, number[]>;
  /**
   * The latest key-frame events, with their time (epoch ms): key frames
   * sent and under which key id, frames held for a key, keys arriving, key
   * frames asked for and the first frame decrypted after a wait.
   * Identifiers, key ids and frame kinds only.
   */
  events: { at: number; what: string }[];
};

/**
 * Whether this browser can encrypt frames end to end: encoded transforms in
 * a worker (`RTCRtpScriptTransform`). Without them a browser cannot join.
 */
export function e2eeSupported(): boolean {
  return typeof RTCRtpScriptTransform !== "undefined" && typeof Worker !== "undefined";
}

export class TransformWorker implements KeySink {
  private readonly worker: Worker;
  private nextStats = 1;

  constructor() {
    this.worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module", name: "accord-e2ee" });
  }

  private post(request: WorkerRequest) {
    this.worker.postMessage(request);
  }

  /** Encrypts what `sender` sends. */
  attachSender(sender: RTCRtpSender, kind: "audio" | "video"): void {
    const options: TransformOptions = { side: "send", kind };
    sender.transform = new RTCRtpScriptTransform(this.worker, options);
  }

  /** Decrypts what arrives on the m-line `mid`. */
  attachReceiver(receiver: RTCRtpReceiver, mid: string, kind: "audio" | "video"): void {
    if (receiver.transform) return;
    const options: TransformOptions = { side: "receive", kind, mid };
    receiver.transform = new RTCRtpScriptTransform(this.worker, options);
  }

  /** The payload types that are RED (RFC 2198) audio in either direction, from the SDP. */
  setSdp(...sdps: (string | undefined)[]): void {
    const payloadTypes = new Set<number>();
    for (const sdp of sdps) for (const m of (sdp ?? "").matchAll(/^a=rtpmap:(\d+) red\/48000/gim)) payloadTypes.add(Number(m[1]));
    this.post({ type: "red", payloadTypes: [...payloadTypes] });
  }

  /** Whose media each receiving m-line carries (the server's `tracks`). */
  setTracks(tracks: readonly { mid: string; participant: string }[]): void {
    this.post({ type: "tracks", tracks: tracks.map((t) => [t.mid, t.participant]) });
  }

  setSendKey(generation: number, key: Bytes): void {
    this.post({ type: "send", generation, key });
  }

  setReceiveKey(participant: string, generation: number, key: Bytes): void {
    this.post({ type: "receive", participant, generation, key });
  }

  dropReceiver(participant: string): void {
    this.post({ type: "drop", participant });
  }

  /** The session runs hop by hop from now on: frames pass in clear both ways. */
  passClear(): void {
    this.post({ type: "clear" });
  }

  /** The worker's counters. */
  stats(): Promise<WorkerStats> {
    const id = this.nextStats++;
    return new Promise((resolve) => {
      const on = (e: MessageEvent<{ type: string; id: number; stats: WorkerStats }>) => {
        if (e.data?.type !== "stats" || e.data.id !== id) return;
        this.worker.removeEventListener("message", on);
        resolve(e.data.stats);
      };
      this.worker.addEventListener("message", on);
      this.post({ type: "stats", id });
    });
  }

  terminate(): void {
    this.worker.terminate();
  }
}

// End-to-end encrypted media: SFrame frames (frame.ts), the key messages and
// safety numbers (keys.ts), key management (manager.ts) and the transform
// worker (transform.ts, worker.ts). docs/SECURITY.md describes the design.

export { clearPrefixLength, decodeHeader, decryptFrame, deriveFrameKey, encodeHeader, encryptFrame, FrameError, ReplayWindow, type FrameKind } from "./frame";
export { safetyNumber } from "./keys";
export { E2eeSession, type E2eeStats, type KeySink, type PeerSecurity } from "./manager";
export { e2eeSupported, TransformWorker, type WorkerStats } from "./transform";

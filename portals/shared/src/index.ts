// The session client for Accord's portals.

export { Api, ApiError, type JoinToken, type SignedIn } from "./api";
export { base64url, fromBase64url } from "./base64url";
export { closeMessage, CloseCode, isRefusal, ReconnectPolicy, shouldReconnect } from "./connection";
export { DeviceKey, IndexedDbKeyStore, MemoryKeyStore, publicJwk, type KeyStore, type PublicJwk } from "./device";
export { Emitter, encode, parseFrame, type Parsed, type ServerMessageOf } from "./messages";
export type * from "./protocol";
export {
  CAMERA_LAYERS,
  fullSizeWithoutSimulcast,
  JoinRefusedError,
  SessionClient,
  signalingUrl,
  type Closed,
  type ReceiveStat,
  type RemoteMedia,
  type SessionEvents,
  type SessionOptions,
  type StateMessage,
  type Status,
} from "./session";
export { TILE_DEBOUNCE_MS, TileSizes, watchSize, type TileMessage, type TileSource } from "./tiles";
// The live session's React hooks and components (both portals' session pages).
export * from "./live";

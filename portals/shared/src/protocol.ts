// Generated from crates/sfu/src/protocol.rs by `accord protocol-types`. Do not edit.

export type RoomId = { "kind": "lobby" } | { "kind": "main" } | { "kind": "caucus", "id": string };

export type SessionRole = "mediator" | "party" | "observer";

export type MediaSource = "microphone" | "camera" | "screen";

export type SdpKind = "offer" | "answer";

export type IceServer = { 
/**
 * `stun:`, `turn:` or `turns:` URLs.
 */
urls: Array<string>, 
/**
 * TURN username (`<expiry>:<participant>`).
 */
username?: string, 
/**
 * TURN password.
 */
credential?: string, };

export type ParticipantView = { 
/**
 * Who.
 */
id: string, 
/**
 * Their role in the session.
 */
role: SessionRole, 
/**
 * Where they are.
 */
room: RoomId, 
/**
 * Their audio is not forwarded.
 */
muted: boolean, 
/**
 * Hand raised.
 */
handRaised: boolean, 
/**
 * Sharing a screen.
 */
sharing: boolean, 
/**
 * Connected now; false during the reconnection grace period after a
 * drop (then they are either back or gone from the list).
 */
connected: boolean, 
/**
 * Their end-to-end encryption identity, once they advertised one.
 */
e2ee?: E2eeIdentity, };

export type RoomView = { 
/**
 * Which.
 */
id: RoomId, 
/**
 * Its name (`Main room`, `Lobby`, or the caucus's).
 */
name: string, 
/**
 * Milliseconds left on its timer, if one runs.
 */
timerRemainingMs: number | null, };

export type TrackView = { 
/**
 * The m-line's `mid`.
 */
mid: string, 
/**
 * Whose media it carries.
 */
participant: string, 
/**
 * Which of their sources.
 */
source: MediaSource, };

export type QualityView = { 
/**
 * Who.
 */
id: string, 
/**
 * What the SFU receives from them, kbit/s.
 */
receiveKbps: number, 
/**
 * What the SFU sends them, kbit/s.
 */
sendKbps: number, 
/**
 * Fraction of their packets lost on the way to the SFU (0 to 1).
 */
loss: number, 
/**
 * Round-trip time between the SFU and them, milliseconds.
 */
rttMs: number | null, 
/**
 * Interarrival jitter of what they send, milliseconds.
 */
jitterMs: number | null, };

export type E2eeIdentity = { 
/**
 * Their device's public signing key (base64url, uncompressed P-256 point).
 */
deviceKey: string, 
/**
 * Their connection's public ECDH key (base64url, uncompressed P-256 point).
 */
ecdhKey: string, 
/**
 * The device key's signature over the identity (base64url).
 */
signature: string, };

export type WrappedKey = { 
/**
 * The recipient.
 */
to: string, 
/**
 * IV and AES-GCM ciphertext of the key (base64url).
 */
wrapped: string, 
/**
 * The sender's device signature over the key's context (base64url).
 */
signature: string, };

export type ClientMessage = { "type": "admit", 
/**
 * Who.
 */
participant: string, } | { "type": "deny", 
/**
 * Who.
 */
participant: string, 
/**
 * Shown to them.
 */
message: string | null, } | { "type": "createCaucus", 
/**
 * Its name, shown to those in it and to the mediator.
 */
name: string, } | { "type": "renameCaucus", 
/**
 * Which.
 */
room: RoomId, 
/**
 * Its new name.
 */
name: string, } | { "type": "closeCaucus", 
/**
 * Which.
 */
room: RoomId, } | { "type": "move", 
/**
 * Who.
 */
participant: string, 
/**
 * Where.
 */
room: RoomId, } | { "type": "recallAll" } | { "type": "broadcast", 
/**
 * The text.
 */
text: string, } | { "type": "setTimer", 
/**
 * Which room.
 */
room: RoomId, 
/**
 * How long.
 */
seconds: number, } | { "type": "clearTimer", 
/**
 * Which room.
 */
room: RoomId, } | { "type": "mute", 
/**
 * Who.
 */
participant: string, } | { "type": "askUnmute", 
/**
 * Who.
 */
participant: string, } | { "type": "remove", 
/**
 * Who.
 */
participant: string, } | { "type": "lock", 
/**
 * Locked or not.
 */
locked: boolean, } | { "type": "setMuted", 
/**
 * Muted or not.
 */
muted: boolean, } | { "type": "setHand", 
/**
 * Raised or not.
 */
raised: boolean, } | { "type": "setSharing", 
/**
 * Sharing or not.
 */
sharing: boolean, } | { "type": "chat", 
/**
 * The text.
 */
text: string, } | { "type": "offer", 
/**
 * The SDP.
 */
sdp: string, } | { "type": "answer", 
/**
 * The SDP.
 */
sdp: string, } | { "type": "tile", 
/**
 * Whose video.
 */
participant: string, 
/**
 * Which of their sources (`camera` or `screen`).
 */
source: MediaSource, 
/**
 * Width in pixels, 0 to 8192.
 */
width: number, 
/**
 * Height in pixels, 0 to 8192.
 */
height: number, } | { "type": "e2eeIdentity", 
/**
 * The device's public signing key (base64url, uncompressed P-256 point).
 */
deviceKey: string, 
/**
 * This connection's public ECDH key (base64url, uncompressed P-256 point).
 */
ecdhKey: string, 
/**
 * The device key's signature over the identity (base64url).
 */
signature: string, } | { "type": "e2eeKeys", 
/**
 * The sender's room, as the sender knows it.
 */
room: RoomId, 
/**
 * The key's generation (its frames' key id); grows per connection.
 */
generation: number, 
/**
 * One per recipient.
 */
keys: Array<WrappedKey>, } | { "type": "e2eeKeyAck", 
/**
 * The key's sender.
 */
to: string, 
/**
 * The room, as the acknowledging client knows it.
 */
room: RoomId, 
/**
 * The generation received.
 */
generation: number, };

export type ServerMessage = { "type": "state", 
/**
 * The recipient.
 */
you: string, 
/**
 * Whether the session is locked.
 */
locked: boolean, 
/**
 * Someone joined without end-to-end encryption (their browser
 * cannot, and the org allows it): media is protected hop by hop
 * only, every client sends and accepts frames in clear, and every
 * screen says so. Stays for the rest of the live session.
 */
hopByHop: boolean, 
/**
 * Visible rooms.
 */
rooms: Array<RoomView>, 
/**
 * Visible participants.
 */
participants: Array<ParticipantView>, } | { "type": "knock", 
/**
 * Who.
 */
participant: string, } | { "type": "denied", 
/**
 * The mediator's message, if any.
 */
message: string | null, } | { "type": "removed" } | { "type": "mutedByMediator" } | { "type": "unmuteRequested" } | { "type": "broadcast", 
/**
 * The text.
 */
text: string, } | { "type": "chat", 
/**
 * Who wrote it.
 */
from: string, 
/**
 * The text.
 */
text: string, } | { "type": "timerWarning", 
/**
 * The room.
 */
room: RoomId, } | { "type": "timerExpired", 
/**
 * The room.
 */
room: RoomId, } | { "type": "error", 
/**
 * Stable code: `TOO_LARGE`, `MALFORMED`, `INVALID`, `FORBIDDEN`, `NOT_FOUND`, `CONFLICT`.
 */
code: string, 
/**
 * For a person.
 */
message: string, 
/**
 * Set when the refused message was SDP: which (the client's
 * `offer` or its `answer`). A refused answer leaves the server's
 * offer waiting; a client that cannot answer it otherwise starts
 * its media again with a new offer.
 */
refused?: SdpKind, } | { "type": "answer", 
/**
 * The SDP.
 */
sdp: string, } | { "type": "offer", 
/**
 * The SDP.
 */
sdp: string, } | { "type": "tracks", 
/**
 * One per m-line the server sends on.
 */
tracks: Array<TrackView>, } | { "type": "speaker", 
/**
 * The loudest participant over the last moment.
 */
participant: string | null, } | { "type": "iceServers", 
/**
 * As `RTCIceServer`s.
 */
servers: Array<IceServer>, } | { "type": "stats", 
/**
 * One per connected participant with media.
 */
participants: Array<QualityView>, } | { "type": "e2eeKey", 
/**
 * Who sent it.
 */
from: string, 
/**
 * Their room (yours) when they sent it.
 */
room: RoomId, 
/**
 * The key's generation.
 */
generation: number, 
/**
 * IV and AES-GCM ciphertext of the key (base64url).
 */
wrapped: string, 
/**
 * Their device signature over the key's context (base64url).
 */
signature: string, } | { "type": "e2eeKeyAck", 
/**
 * Who holds it.
 */
from: string, 
/**
 * The generation they hold.
 */
generation: number, };

export type Challenge = { type: "challenge"; nonce: string };

export type Hello = { type: "hello"; token: string; deviceKey: JsonWebKey; signature: string };

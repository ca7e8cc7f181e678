//! The signaling protocol: JSON messages over the session WebSocket, one per
//! text frame, each an object with a `type`.
//!
//! Parsing is strict and bounded: a frame over [`MAX_MESSAGE_BYTES`], an unknown
//! `type`, an unknown field or a value out of range is a [`ProtocolError`] the
//! server answers with an `error` message; it never panics.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use uuid::Uuid;

/// Largest client message accepted, in bytes. SDP answers grow with the
/// number of people in a room (three m-lines each), hence the size.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Largest client message other than an SDP offer or answer, in bytes.
pub const MAX_CONTROL_BYTES: usize = 16 * 1024;
/// Longest chat or broadcast text, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;
/// Longest caucus name, in characters.
pub const MAX_ROOM_NAME_CHARS: usize = 60;
/// Longest timer, in seconds (four hours).
pub const MAX_TIMER_SECONDS: u32 = 4 * 3600;
/// Largest tile width or height a client may report, in pixels.
pub const MAX_TILE_PIXELS: u32 = 8192;
/// Most recipients in one `e2eeKeys` message (a room's size, with room to spare).
pub const MAX_E2EE_RECIPIENTS: usize = 64;
/// Longest base64url field of the end-to-end encryption messages (a public
/// key is 87 characters, a raw signature 86, a wrapped key 59).
pub const MAX_E2EE_FIELD_CHARS: usize = 128;

/// A participant in a live session (the account id of the person).
pub type ParticipantId = Uuid;

/// Where a participant is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", tag = "kind", content = "id")]
pub enum RoomId {
    /// Waiting to be admitted; nothing is forwarded to or from here.
    Lobby,
    /// The joint session.
    Main,
    /// A private caucus room.
    Caucus(Uuid),
}

/// What a client may send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum ClientMessage {
    /// Mediator: let someone in from the lobby.
    Admit {
        /// Who.
        participant: ParticipantId,
    },
    /// Mediator: turn someone away from the lobby, optionally saying why.
    Deny {
        /// Who.
        participant: ParticipantId,
        /// Shown to them.
        message: Option<String>,
    },
    /// Mediator: open a caucus room.
    CreateCaucus {
        /// Its name, shown to those in it and to the mediator.
        name: String,
    },
    /// Mediator: give a caucus room a new name (unique in the session, like
    /// a new one's); who is in it and its timer stay.
    RenameCaucus {
        /// Which.
        room: RoomId,
        /// Its new name.
        name: String,
    },
    /// Mediator: close an empty caucus room.
    CloseCaucus {
        /// Which.
        room: RoomId,
    },
    /// Mediator: move someone (themselves included) to a room.
    Move {
        /// Who.
        participant: ParticipantId,
        /// Where.
        room: RoomId,
    },
    /// Mediator: everyone admitted back to the main room.
    RecallAll,
    /// Mediator: a text shown in every room.
    Broadcast {
        /// The text.
        text: String,
    },
    /// Mediator: a countdown on a room, with a warning a minute before the end.
    SetTimer {
        /// Which room.
        room: RoomId,
        /// How long.
        seconds: u32,
    },
    /// Mediator: stop a room's countdown.
    ClearTimer {
        /// Which room.
        room: RoomId,
    },
    /// Mediator: stop forwarding someone's audio.
    Mute {
        /// Who.
        participant: ParticipantId,
    },
    /// Mediator: ask someone to unmute (only they can).
    AskUnmute {
        /// Who.
        participant: ParticipantId,
    },
    /// Mediator: end someone's participation; they cannot come back.
    Remove {
        /// Who.
        participant: ParticipantId,
    },
    /// Mediator: while locked, nobody new may join, even into the lobby.
    Lock {
        /// Locked or not.
        locked: bool,
    },
    /// Anyone: mute or unmute oneself (unmuting after a mediator's mute too).
    SetMuted {
        /// Muted or not.
        muted: bool,
    },
    /// Anyone admitted: raise or lower one's hand.
    SetHand {
        /// Raised or not.
        raised: bool,
    },
    /// Anyone admitted: start or stop sharing a screen (one sharer per room).
    SetSharing {
        /// Sharing or not.
        sharing: bool,
    },
    /// Anyone admitted: a chat message to one's room (not stored).
    Chat {
        /// The text.
        text: String,
    },
    /// Anyone: the client's SDP offer for its peer connection, publishing in
    /// this order a microphone (audio), a camera (video) and a screen (video)
    /// transceiver, each send-only. It (re)starts the participant's media; the
    /// server answers with `answer`.
    Offer {
        /// The SDP.
        sdp: String,
    },
    /// Anyone: the answer to the server's `offer`.
    Answer {
        /// The SDP.
        sdp: String,
    },
    /// Anyone: the size (CSS pixels times the device pixel ratio) at which
    /// the client shows someone's camera or screen, so the server sends a
    /// simulcast layer no larger than needed; 0 by 0 when it is not shown
    /// (the server may then pause it). Sent again whenever it changes.
    Tile {
        /// Whose video.
        participant: ParticipantId,
        /// Which of their sources (`camera` or `screen`).
        source: MediaSource,
        /// Width in pixels, 0 to 8192.
        width: u32,
        /// Height in pixels, 0 to 8192.
        height: u32,
    },
    /// Anyone: this connection's end-to-end encryption identity, shown to
    /// those who may see the participant (`ParticipantView::e2ee`). Opaque
    /// to the server; receivers check the signature.
    #[serde(rename_all = "camelCase")]
    E2eeIdentity {
        /// The device's public signing key (base64url, uncompressed P-256 point).
        device_key: String,
        /// This connection's public ECDH key (base64url, uncompressed P-256 point).
        ecdh_key: String,
        /// The device key's signature over the identity (base64url).
        signature: String,
    },
    /// Anyone admitted: a new sender key for their room, wrapped for each
    /// other member. Each entry goes to its `to` only while they are
    /// connected and in the sender's room.
    E2eeKeys {
        /// The sender's room, as the sender knows it.
        room: RoomId,
        /// The key's generation (its frames' key id); grows per connection.
        generation: u32,
        /// One per recipient.
        keys: Vec<WrappedKey>,
    },
    /// Anyone admitted: "I hold your key of this generation", to its sender
    /// in the same room, who may then start encrypting with it before its
    /// fallback delay ends. Not authenticated: a forged one can only make a
    /// sender switch early (a brief gap in what that receiver decodes),
    /// never reveal a key.
    E2eeKeyAck {
        /// The key's sender.
        to: ParticipantId,
        /// The room, as the acknowledging client knows it.
        room: RoomId,
        /// The generation received.
        generation: u32,
    },
}

/// A sender key wrapped for one recipient (docs/signaling.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WrappedKey {
    /// The recipient.
    pub to: ParticipantId,
    /// IV and AES-GCM ciphertext of the key (base64url).
    pub wrapped: String,
    /// The sender's device signature over the key's context (base64url).
    pub signature: String,
}

/// A participant's end-to-end encryption identity as they advertised it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct E2eeIdentity {
    /// Their device's public signing key (base64url, uncompressed P-256 point).
    pub device_key: String,
    /// Their connection's public ECDH key (base64url, uncompressed P-256 point).
    pub ecdh_key: String,
    /// The device key's signature over the identity (base64url).
    pub signature: String,
}

/// Why a client message was refused before it reached the session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Over [`MAX_MESSAGE_BYTES`].
    #[error("the message is larger than {MAX_MESSAGE_BYTES} bytes")]
    TooLarge,
    /// Not JSON, unknown `type`, unknown or missing fields, wrong types.
    #[error("the message is not understood: {0}")]
    Malformed(String),
    /// Understood, but a value is out of range.
    #[error("{0}")]
    Invalid(&'static str),
}

impl ProtocolError {
    /// Stable code for the `error` message.
    pub fn code(&self) -> &'static str {
        match self {
            ProtocolError::TooLarge => "TOO_LARGE",
            ProtocolError::Malformed(_) => "MALFORMED",
            ProtocolError::Invalid(_) => "INVALID",
        }
    }
}

/// Base64url without padding, 1 to [`MAX_E2EE_FIELD_CHARS`] characters.
fn base64url_ok(text: &str) -> bool {
    (1..=MAX_E2EE_FIELD_CHARS).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn text_ok(text: &str, max: usize) -> bool {
    let n = text.chars().count();
    n >= 1 && n <= max && !text.chars().any(|c| c.is_control() && c != '\n')
}

/// Parses and validates one client frame.
pub fn parse_client_message(frame: &str) -> Result<ClientMessage, ProtocolError> {
    if frame.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::TooLarge);
    }

    let message: ClientMessage = serde_json::from_str(frame).map_err(|e| {
        // serde_json's message names the field or type, never echoes values at length.
        let mut text = e.to_string();
        text.truncate(200);
        ProtocolError::Malformed(text)
    })?;
    // Only SDP may be long (parsing up to the overall limit is cheap and
    // bounded; field order in the object is the client's choice).
    if frame.len() > MAX_CONTROL_BYTES
        && !matches!(
            message,
            ClientMessage::Offer { .. } | ClientMessage::Answer { .. }
        )
    {
        return Err(ProtocolError::TooLarge);
    }
    match &message {
        ClientMessage::Broadcast { text } | ClientMessage::Chat { text }
            if !text_ok(text, MAX_TEXT_CHARS) =>
        {
            Err(ProtocolError::Invalid(
                "text must be 1 to 2000 characters without control characters",
            ))
        }
        ClientMessage::Deny {
            message: Some(text),
            ..
        } if !text_ok(text, MAX_TEXT_CHARS) => Err(ProtocolError::Invalid(
            "message must be 1 to 2000 characters without control characters",
        )),
        ClientMessage::CreateCaucus { name } | ClientMessage::RenameCaucus { name, .. }
            if !text_ok(name.trim(), MAX_ROOM_NAME_CHARS) || name.contains('\n') =>
        {
            Err(ProtocolError::Invalid(
                "a caucus name must be 1 to 60 characters on one line",
            ))
        }
        ClientMessage::SetTimer { seconds, .. }
            if *seconds == 0 || *seconds > MAX_TIMER_SECONDS =>
        {
            Err(ProtocolError::Invalid(
                "a timer must last 1 second to 4 hours",
            ))
        }
        ClientMessage::Tile { width, height, .. }
            if *width > MAX_TILE_PIXELS || *height > MAX_TILE_PIXELS =>
        {
            Err(ProtocolError::Invalid(
                "a tile is 0 to 8192 pixels wide and high",
            ))
        }
        ClientMessage::Tile {
            source: MediaSource::Microphone,
            ..
        } => Err(ProtocolError::Invalid("a tile shows a camera or a screen")),
        ClientMessage::Offer { sdp } | ClientMessage::Answer { sdp }
            if !sdp.starts_with("v=0")
                || sdp
                    .chars()
                    .any(|c| c.is_control() && c != '\r' && c != '\n') =>
        {
            Err(ProtocolError::Invalid(
                "the SDP is not a session description",
            ))
        }
        ClientMessage::E2eeIdentity {
            device_key,
            ecdh_key,
            signature,
        } if ![device_key, ecdh_key, signature]
            .into_iter()
            .all(|f| base64url_ok(f)) =>
        {
            Err(ProtocolError::Invalid(
                "keys and signatures are 1 to 128 characters of base64url",
            ))
        }
        ClientMessage::E2eeKeys { room, keys, .. } => {
            if *room == RoomId::Lobby {
                Err(ProtocolError::Invalid("there are no keys in the lobby"))
            } else if keys.is_empty() || keys.len() > MAX_E2EE_RECIPIENTS {
                Err(ProtocolError::Invalid("a key goes to 1 to 64 recipients"))
            } else if !keys
                .iter()
                .all(|k| base64url_ok(&k.wrapped) && base64url_ok(&k.signature))
            {
                Err(ProtocolError::Invalid(
                    "keys and signatures are 1 to 128 characters of base64url",
                ))
            } else {
                Ok(message)
            }
        }
        _ => Ok(message),
    }
}

/// A participant as others see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantView {
    /// Who.
    pub id: ParticipantId,
    /// Their role in the session.
    pub role: SessionRole,
    /// Where they are.
    pub room: RoomId,
    /// Their audio is not forwarded.
    pub muted: bool,
    /// Hand raised.
    pub hand_raised: bool,
    /// Sharing a screen.
    pub sharing: bool,
    /// Connected now; false during the reconnection grace period after a
    /// drop (then they are either back or gone from the list).
    pub connected: bool,
    /// Their end-to-end encryption identity, once they advertised one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub e2ee: Option<E2eeIdentity>,
}

/// A room as those who may see it see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RoomView {
    /// Which.
    pub id: RoomId,
    /// Its name (`Main room`, `Lobby`, or the caucus's).
    pub name: String,
    /// Milliseconds left on its timer, if one runs.
    pub timer_remaining_ms: Option<u64>,
}

/// Role in a live session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum SessionRole {
    /// Runs the session.
    Mediator,
    /// A party.
    Party,
    /// Counsel or interpreter.
    Observer,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerMessage {
    /// What the recipient may see of the session: for a mediator everything;
    /// for others their own room and who is in it.
    State {
        /// The recipient.
        you: ParticipantId,
        /// Whether the session is locked.
        locked: bool,
        /// Someone joined without end-to-end encryption (their browser
        /// cannot, and the org allows it): media is protected hop by hop
        /// only, every client sends and accepts frames in clear, and every
        /// screen says so. Stays for the rest of the live session.
        #[serde(default, rename = "hopByHop")]
        hop_by_hop: bool,
        /// Visible rooms.
        rooms: Vec<RoomView>,
        /// Visible participants.
        participants: Vec<ParticipantView>,
    },
    /// Mediator: someone is waiting in the lobby.
    Knock {
        /// Who.
        participant: ParticipantId,
    },
    /// You were turned away.
    Denied {
        /// The mediator's message, if any.
        message: Option<String>,
    },
    /// You were removed from the session.
    Removed,
    /// The mediator muted you.
    MutedByMediator,
    /// The mediator asks you to unmute.
    UnmuteRequested,
    /// A text from the mediator to every room.
    Broadcast {
        /// The text.
        text: String,
    },
    /// A chat message in your room.
    Chat {
        /// Who wrote it.
        from: ParticipantId,
        /// The text.
        text: String,
    },
    /// One minute left on your room's timer.
    TimerWarning {
        /// The room.
        room: RoomId,
    },
    /// Your room's timer ran out.
    TimerExpired {
        /// The room.
        room: RoomId,
    },
    /// Your message was refused; nothing changed.
    Error {
        /// Stable code: `TOO_LARGE`, `MALFORMED`, `INVALID`, `FORBIDDEN`, `NOT_FOUND`, `CONFLICT`.
        code: String,
        /// For a person.
        message: String,
        /// Set when the refused message was SDP: which (the client's
        /// `offer` or its `answer`). A refused answer leaves the server's
        /// offer waiting; a client that cannot answer it otherwise starts
        /// its media again with a new offer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        refused: Option<SdpKind>,
    },
    /// The answer to the client's `offer`.
    Answer {
        /// The SDP.
        sdp: String,
    },
    /// The server renegotiates (tracks to receive were added or stopped); the
    /// client answers with `answer`. No second offer comes before that answer.
    Offer {
        /// The SDP.
        sdp: String,
    },
    /// What each of the client's receiving m-lines carries, whole each time.
    /// The stream id of each track (`a=msid`) is the participant's id too.
    Tracks {
        /// One per m-line the server sends on.
        tracks: Vec<TrackView>,
    },
    /// Who is speaking in the recipient's room now, if anyone.
    Speaker {
        /// The loudest participant over the last moment.
        participant: Option<ParticipantId>,
    },
    /// Right after joining: the ICE servers to give the peer connection
    /// (TURN with time-limited credentials when configured; may be empty).
    IceServers {
        /// As `RTCIceServer`s.
        servers: Vec<IceServer>,
    },
    /// For mediators: link quality of everyone in the session, every few seconds.
    Stats {
        /// One per connected participant with media.
        participants: Vec<QualityView>,
    },
    /// A sender key of someone in your room, wrapped for you (relayed as
    /// the sender wrote it; only you can unwrap it, only they can sign it).
    E2eeKey {
        /// Who sent it.
        from: ParticipantId,
        /// Their room (yours) when they sent it.
        room: RoomId,
        /// The key's generation.
        generation: u32,
        /// IV and AES-GCM ciphertext of the key (base64url).
        wrapped: String,
        /// Their device signature over the key's context (base64url).
        signature: String,
    },
    /// Someone in your room holds your key of this generation (relayed from
    /// their `e2eeKeyAck`).
    E2eeKeyAck {
        /// Who holds it.
        from: ParticipantId,
        /// The generation they hold.
        generation: u32,
    },
}

/// One ICE server, shaped like WebRTC's `RTCIceServer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct IceServer {
    /// `stun:`, `turn:` or `turns:` URLs.
    pub urls: Vec<String>,
    /// TURN username (`<expiry>:<participant>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub username: Option<String>,
    /// TURN password.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub credential: Option<String>,
}

/// Which SDP message an `error` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum SdpKind {
    /// The client's offer.
    Offer,
    /// The client's answer to the server's offer.
    Answer,
}

/// What a participant publishes on one m-line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum MediaSource {
    /// Their microphone.
    Microphone,
    /// Their camera.
    Camera,
    /// Their shared screen.
    Screen,
}

/// One m-line the server sends to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TrackView {
    /// The m-line's `mid`.
    pub mid: String,
    /// Whose media it carries.
    pub participant: ParticipantId,
    /// Which of their sources.
    pub source: MediaSource,
}

/// One participant's link quality as the SFU measures it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct QualityView {
    /// Who.
    pub id: ParticipantId,
    /// What the SFU receives from them, kbit/s.
    pub receive_kbps: f64,
    /// What the SFU sends them, kbit/s.
    pub send_kbps: f64,
    /// Fraction of their packets lost on the way to the SFU (0 to 1).
    pub loss: f64,
    /// Round-trip time between the SFU and them, milliseconds.
    pub rtt_ms: Option<f64>,
    /// Interarrival jitter of what they send, milliseconds.
    pub jitter_ms: Option<f64>,
}

/// The TypeScript declarations of every message, for the portals'
/// session client (`portals/shared/src/protocol.ts` is this, generated).
pub fn typescript() -> String {
    let cfg = ts_rs::Config::default().with_large_int("number");
    let mut out = String::from(
        "// Generated from crates/sfu/src/protocol.rs by `accord protocol-types`. Do not edit.\n\n",
    );
    for decl in [
        RoomId::decl(&cfg),
        SessionRole::decl(&cfg),
        MediaSource::decl(&cfg),
        SdpKind::decl(&cfg),
        IceServer::decl(&cfg),
        ParticipantView::decl(&cfg),
        RoomView::decl(&cfg),
        TrackView::decl(&cfg),
        QualityView::decl(&cfg),
        E2eeIdentity::decl(&cfg),
        WrappedKey::decl(&cfg),
        ClientMessage::decl(&cfg),
        ServerMessage::decl(&cfg),
    ] {
        out.push_str("export ");
        out.push_str(&decl);
        out.push_str("\n\n");
    }
    out.push_str(CONTROL_TYPES);
    out
}

/// The handshake messages, which live outside the session's message enums.
const CONTROL_TYPES: &str = "\
export type Challenge = { type: \"challenge\"; nonce: string };

export type Hello = { type: \"hello\"; token: string; deviceKey: JsonWebKey; signature: string };
";

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_each_message_and_refuses_the_rest() {
        let id = Uuid::nil();
        assert_eq!(
            parse_client_message(&format!(
                r#"{{"type":"move","participant":"{id}","room":{{"kind":"main"}}}}"#
            )),
            Ok(ClientMessage::Move {
                participant: id,
                room: RoomId::Main
            })
        );
        assert_eq!(
            parse_client_message(
                r#"{"type":"setTimer","room":{"kind":"caucus","id":"00000000-0000-0000-0000-000000000000"},"seconds":600}"#
            ),
            Ok(ClientMessage::SetTimer {
                room: RoomId::Caucus(id),
                seconds: 600
            })
        );
        assert_eq!(
            parse_client_message(r#"{"type":"recallAll"}"#),
            Ok(ClientMessage::RecallAll)
        );
        assert_eq!(
            parse_client_message(&format!(
                r#"{{"type":"tile","participant":"{id}","source":"camera","width":320,"height":180}}"#
            )),
            Ok(ClientMessage::Tile {
                participant: id,
                source: MediaSource::Camera,
                width: 320,
                height: 180
            })
        );
        assert_eq!(
            parse_client_message(&format!(
                r#"{{"type":"tile","participant":"{id}","source":"screen","width":0,"height":0}}"#
            )),
            Ok(ClientMessage::Tile {
                participant: id,
                source: MediaSource::Screen,
                width: 0,
                height: 0
            })
        );
        for bad in [
            "",
            "null",
            "[]",
            r#"{"type":"fly"}"#,
            r#"{"type":"chat"}"#,
            r#"{"type":"chat","text":"hi","extra":1}"#,
            r#"{"type":"move","participant":"not-a-uuid","room":{"kind":"main"}}"#,
            r#"{"type":"move","participant":"00000000-0000-0000-0000-000000000000","room":{"kind":"attic"}}"#,
            r#"{"type":"setTimer","room":{"kind":"main"},"seconds":-1}"#,
            r#"{"type":"tile","participant":"00000000-0000-0000-0000-000000000000","source":"camera","width":-1,"height":1}"#,
            r#"{"type":"tile","participant":"00000000-0000-0000-0000-000000000000","source":"camera","width":1}"#,
            r#"{"type":"tile","participant":"00000000-0000-0000-0000-000000000000","source":"face","width":1,"height":1}"#,
        ] {
            assert!(
                matches!(parse_client_message(bad), Err(ProtocolError::Malformed(_))),
                "{bad}"
            );
        }
        for invalid in [
            r#"{"type":"chat","text":""}"#,
            r#"{"type":"chat","text":"\u0007"}"#,
            r#"{"type":"createCaucus","name":"  "}"#,
            r#"{"type":"createCaucus","name":"a\nb"}"#,
            r#"{"type":"setTimer","room":{"kind":"main"},"seconds":0}"#,
            r#"{"type":"setTimer","room":{"kind":"main"},"seconds":14401}"#,
            r#"{"type":"tile","participant":"00000000-0000-0000-0000-000000000000","source":"camera","width":8193,"height":1}"#,
            r#"{"type":"tile","participant":"00000000-0000-0000-0000-000000000000","source":"screen","width":1,"height":9000}"#,
            r#"{"type":"tile","participant":"00000000-0000-0000-0000-000000000000","source":"microphone","width":1,"height":1}"#,
        ] {
            assert!(
                matches!(
                    parse_client_message(invalid),
                    Err(ProtocolError::Invalid(_))
                ),
                "{invalid}"
            );
        }
        // A long SDP answer is fine whatever the order of its fields; any
        // other message that long is not.
        let sdp = format!("v=0\\r\\n{}", "a=candidate:x\\r\\n".repeat(4000));
        assert!(sdp.len() > MAX_CONTROL_BYTES);
        assert!(matches!(
            parse_client_message(&format!(r#"{{"sdp":"{sdp}","type":"answer"}}"#)),
            Ok(ClientMessage::Answer { .. })
        ));
        let long_chat = format!(
            r#"{{"text":"{}","type":"chat"}}"#,
            "x".repeat(MAX_CONTROL_BYTES)
        );
        assert_eq!(
            parse_client_message(&long_chat),
            Err(ProtocolError::TooLarge)
        );
        let huge = format!(
            r#"{{"type":"chat","text":"{}"}}"#,
            "x".repeat(MAX_MESSAGE_BYTES)
        );
        assert_eq!(parse_client_message(&huge), Err(ProtocolError::TooLarge));
        let long = format!(
            r#"{{"type":"chat","text":"{}"}}"#,
            "é".repeat(MAX_TEXT_CHARS + 1)
        );
        assert!(matches!(
            parse_client_message(&long),
            Err(ProtocolError::Invalid(_))
        ));
    }

    #[test]
    fn end_to_end_encryption_messages_are_bounded() {
        let id = Uuid::nil();
        let key = "A".repeat(87);
        assert_eq!(
            parse_client_message(&format!(
                r#"{{"type":"e2eeIdentity","deviceKey":"{key}","ecdhKey":"{key}","signature":"sig_-9"}}"#
            )),
            Ok(ClientMessage::E2eeIdentity {
                device_key: key.clone(),
                ecdh_key: key.clone(),
                signature: "sig_-9".into()
            })
        );
        let entry = format!(r#"{{"to":"{id}","wrapped":"w","signature":"s"}}"#);
        let keys = |n: usize| vec![entry.as_str(); n].join(",");
        assert!(matches!(
            parse_client_message(&format!(
                r#"{{"type":"e2eeKeys","room":{{"kind":"main"}},"generation":7,"keys":[{}]}}"#,
                keys(MAX_E2EE_RECIPIENTS)
            )),
            Ok(ClientMessage::E2eeKeys { generation: 7, .. })
        ));
        for invalid in [
            r#"{"type":"e2eeIdentity","deviceKey":"a+b","ecdhKey":"a","signature":"s"}"#.to_owned(),
            r#"{"type":"e2eeIdentity","deviceKey":"","ecdhKey":"a","signature":"s"}"#.to_owned(),
            format!(
                r#"{{"type":"e2eeIdentity","deviceKey":"a","ecdhKey":"{}","signature":"s"}}"#,
                "a".repeat(MAX_E2EE_FIELD_CHARS + 1)
            ),
            format!(
                r#"{{"type":"e2eeKeys","room":{{"kind":"lobby"}},"generation":1,"keys":[{entry}]}}"#
            ),
            r#"{"type":"e2eeKeys","room":{"kind":"main"},"generation":1,"keys":[]}"#.to_owned(),
            format!(
                r#"{{"type":"e2eeKeys","room":{{"kind":"main"}},"generation":1,"keys":[{}]}}"#,
                keys(MAX_E2EE_RECIPIENTS + 1)
            ),
            format!(
                r#"{{"type":"e2eeKeys","room":{{"kind":"main"}},"generation":1,"keys":[{{"to":"{id}","wrapped":"w=","signature":"s"}}]}}"#
            ),
        ] {
            assert!(
                matches!(
                    parse_client_message(&invalid),
                    Err(ProtocolError::Invalid(_))
                ),
                "{invalid}"
            );
        }
        for malformed in [
            r#"{"type":"e2eeKeys","room":{"kind":"main"},"generation":-1,"keys":[]}"#.to_owned(),
            format!(
                r#"{{"type":"e2eeKeys","room":{{"kind":"main"}},"generation":1,"keys":[{{"to":"{id}","wrapped":"w","signature":"s","key":"k"}}]}}"#
            ),
            r#"{"type":"e2eeIdentity","deviceKey":"a","ecdhKey":"a"}"#.to_owned(),
        ] {
            assert!(
                matches!(
                    parse_client_message(&malformed),
                    Err(ProtocolError::Malformed(_))
                ),
                "{malformed}"
            );
        }
    }

    #[test]
    fn server_messages_have_a_stable_shape() {
        let m = ServerMessage::TimerWarning { room: RoomId::Main };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"type":"timerWarning","room":{"kind":"main"}}"#
        );
    }

    proptest! {
        // Whatever arrives, the parser answers; it never panics.
        #[test]
        fn never_panics_on_arbitrary_text(frame in ".{0,400}") {
            let _ = parse_client_message(&frame);
        }

        #[test]
        fn never_panics_on_json_like_frames(
            kind in "[a-zA-Z]{0,14}",
            key in "[a-zA-Z]{0,12}",
            value in prop_oneof![Just("1".to_owned()), Just("\"x\"".to_owned()), Just("null".to_owned()), Just("{}".to_owned()), Just("[]".to_owned()), "-?[0-9]{1,25}"],
        ) {
            let frame = format!(r#"{{"type":"{kind}","{key}":{value}}}"#);
            let _ = parse_client_message(&frame);
        }

        // Every valid message survives a round trip through its own JSON.
        #[test]
        fn chat_round_trips(text in "[^\\p{Cc}]{1,200}") {
            let m = ClientMessage::Chat { text };
            let json = serde_json::to_string(&m).unwrap();
            prop_assert_eq!(parse_client_message(&json), Ok(m));
        }
    }
}

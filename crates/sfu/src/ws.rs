//! The signaling WebSocket at `/sfu/ws?session=<id>`: the join handshake,
//! then messages between the browser and its session's task (see
//! [`crate::hub`]), and `/metrics`.
//!
//! Handshake: the server sends `{"type":"challenge","nonce":…}`; within ten
//! seconds the client answers `{"type":"hello","token":…,"deviceKey":{JWK},
//! "signature":…}` (base64url ECDSA P-256 over the nonce's bytes as sent). The
//! server checks the token, that it is for this session, that the device holds
//! the key the token is bound to, and spends the token's `jti`. Every refusal
//! closes the socket with its own code and a reason (see [`Refusal`]).

use std::time::Duration;

use accord_auth::join::{self, DeviceKey, JoinTokenError, PossessionError};
use accord_sfu_core::protocol::{self, ParticipantId, ServerMessage, SessionRole};
use accord_sfu_core::session::JoinRefused;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use rand::RngCore;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::hub::{Event, Hub, Outgoing};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
/// How long a client has to answer the challenge.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection was refused or ended; the WebSocket close code and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 4400: the hello was not understood.
    Malformed,
    /// 4401: the token is invalid (expired, tampered, foreign) or the device's
    /// signature over the challenge is wrong.
    Unauthorized(&'static str),
    /// 4403: the token is for another session, or belongs to another device.
    Forbidden(&'static str),
    /// 4408: no hello in time.
    Timeout,
    /// 4409: the token was used already.
    Replayed,
    /// 4410: removed by the mediator.
    Removed,
    /// 4423: the session is locked.
    Locked,
    /// 4424: turned away from the lobby.
    Denied,
    /// 1009 (message too big): a frame or message over the limit
    /// ([`MAX_FRAME_BYTES`]); refused at its header, before it is read.
    TooBig,
    /// 1011: the server could not check the token.
    Internal,
    /// 1013 (try again later): the session runs on another SFU node; a new
    /// join token names it.
    Moved,
    /// 1013 (try again later): what the join needs is unreachable for now
    /// (the node registry, or the database that spends tokens); a new join
    /// token in a moment works.
    Unavailable,
}

impl Refusal {
    /// The close code.
    pub fn code(self) -> u16 {
        match self {
            Refusal::Malformed => 4400,
            Refusal::Unauthorized(_) => 4401,
            Refusal::Forbidden(_) => 4403,
            Refusal::Timeout => 4408,
            Refusal::Replayed => 4409,
            Refusal::Removed => 4410,
            Refusal::Locked => 4423,
            Refusal::Denied => 4424,
            Refusal::TooBig => 1009,
            Refusal::Internal => 1011,
            Refusal::Moved | Refusal::Unavailable => 1013,
        }
    }

    /// The close reason, for a person (at most 123 bytes, as WebSocket allows).
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Malformed => "the hello message was not understood",
            Refusal::Unauthorized(why) | Refusal::Forbidden(why) => why,
            Refusal::Timeout => "no hello within ten seconds",
            Refusal::Replayed => "this join token was already used; ask for a new one",
            Refusal::Removed => "you were removed from this session",
            Refusal::Locked => "the session is locked",
            Refusal::Denied => "the mediator did not admit you",
            Refusal::TooBig => "the message is larger than 512 KiB",
            Refusal::Internal => "the server could not check your token; try again",
            Refusal::Moved => "the session runs on another server; ask for a new join token",
            Refusal::Unavailable => {
                "the session server cannot reach its registry or database; try again in a moment"
            }
        }
    }
}

fn token_refusal(e: JoinTokenError) -> Refusal {
    Refusal::Unauthorized(match e {
        JoinTokenError::Expired => "the join token has expired",
        JoinTokenError::BadSignature | JoinTokenError::Malformed => "the join token is invalid",
        JoinTokenError::UnknownKey | JoinTokenError::WrongIssuer => {
            "the join token was not issued here"
        }
        JoinTokenError::WrongAudience | JoinTokenError::Unsupported => "this is not a join token",
        JoinTokenError::BadLifetime => "the join token's validity period is not acceptable",
    })
}

/// The signaling route.
pub fn router(hub: Hub) -> Router {
    Router::new().route("/sfu/ws", get(upgrade)).with_state(hub)
}

/// `/metrics`: OpenMetrics text, totals only (no names, no identifiers).
pub fn metrics_router(hub: Hub) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(hub): State<Hub>| async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        accord_sfu_core::metrics::CONTENT_TYPE,
                    )],
                    hub.inner.metrics.render(),
                )
            }),
        )
        .with_state(hub)
}

#[derive(Deserialize)]
struct SessionQuery {
    session: Uuid,
}

/// Largest WebSocket frame or message read from a client: twice the protocol's
/// largest message, so a message over the protocol's limit is still read and
/// answered with an `error`, while a bigger one closes the socket with
/// [`Refusal::TooBig`] as soon as its header says its length, without
/// buffering it.
pub const MAX_FRAME_BYTES: usize = protocol::MAX_MESSAGE_BYTES * 2;

async fn upgrade(
    State(hub): State<Hub>,
    Query(q): Query<SessionQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| connection(hub, q.session, socket))
}

/// Whether a read failed because the client's frame or message is over
/// [`MAX_FRAME_BYTES`].
fn too_big(e: &axum::Error) -> bool {
    std::error::Error::source(e)
        .and_then(|inner| inner.downcast_ref::<tungstenite::Error>())
        .is_some_and(|inner| {
            matches!(
                inner,
                tungstenite::Error::Capacity(
                    tungstenite::error::CapacityError::MessageTooLong { .. }
                )
            )
        })
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
enum Hello {
    Hello {
        token: String,
        #[serde(rename = "deviceKey")]
        device_key: serde_json::Value,
        signature: String,
    },
}

async fn close(socket: &mut WebSocket, refusal: Refusal) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: refusal.code(),
            reason: refusal.reason().into(),
        })))
        .await;
}

async fn send(socket: &mut WebSocket, message: &ServerMessage) -> bool {
    match serde_json::to_string(message) {
        Ok(text) => socket.send(Message::Text(text.into())).await.is_ok(),
        Err(_) => false,
    }
}

/// Who a handshake let in: the participant, their org, role and rooms, the
/// device they proved they hold (its uncompressed P-256 point), and whether
/// their media is in clear (a hop-by-hop-only participant).
type Joined = (ParticipantId, Uuid, SessionRole, Vec<String>, Vec<u8>, bool);

/// The uncompressed P-256 point (`04 ‖ x ‖ y`) of a device's public JWK
/// (already checked by [`DeviceKey::from_jwk`]): what the client names as
/// its device key in its E2EE identity.
fn device_point(jwk: &serde_json::Value) -> Option<Vec<u8>> {
    let mut point = vec![0x04];
    for name in ["x", "y"] {
        point.extend(B64.decode(jwk.get(name)?.as_str()?).ok()?);
    }
    (point.len() == 65).then_some(point)
}

/// Runs the handshake; on success who joined (see [`Joined`]).
async fn handshake(hub: &Hub, session: Uuid, socket: &mut WebSocket) -> Result<Joined, Refusal> {
    let mut nonce = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut nonce);
    let nonce = B64.encode(nonce);
    let challenge = serde_json::json!({ "type": "challenge", "nonce": nonce }).to_string();
    socket
        .send(Message::Text(challenge.into()))
        .await
        .map_err(|_| Refusal::Malformed)?;
    let frame = tokio::time::timeout(HELLO_TIMEOUT, socket.recv())
        .await
        .map_err(|_| Refusal::Timeout)?;
    let text = match frame {
        Some(Ok(Message::Text(text))) => text,
        Some(Err(e)) if too_big(&e) => return Err(Refusal::TooBig),
        _ => return Err(Refusal::Malformed),
    };
    if text.len() > protocol::MAX_MESSAGE_BYTES {
        return Err(Refusal::Malformed);
    }
    let Ok(Hello::Hello {
        token,
        device_key,
        signature,
    }) = serde_json::from_str(&text)
    else {
        return Err(Refusal::Malformed);
    };
    let claims = hub
        .inner
        .keys
        .verify(&token, chrono::Utc::now())
        .map_err(token_refusal)?;
    if claims.sid != session {
        return Err(Refusal::Forbidden("the join token is for another session"));
    }
    let device = DeviceKey::from_jwk(&device_key).map_err(|_| Refusal::Malformed)?;
    let point = device_point(&device_key).ok_or(Refusal::Malformed)?;
    let signature = B64
        .decode(signature.as_bytes())
        .map_err(|_| Refusal::Malformed)?;
    join::verify_possession(&claims, &device, nonce.as_bytes(), &signature).map_err(
        |e| match e {
            PossessionError::WrongDevice => {
                Refusal::Forbidden("the join token belongs to another device")
            }
            PossessionError::BadSignature => {
                Refusal::Unauthorized("the device's signature over the challenge is invalid")
            }
        },
    )?;
    // With several nodes, only the one the session is placed on serves it
    // (checked before the token is spent, so the client can use it there).
    if let Some(registry) = hub.registry() {
        match registry.claim(session).await {
            Ok(true) => {}
            Ok(false) => return Err(Refusal::Moved),
            Err(e) => {
                tracing::error!(error = %e, "asking the node registry where the session runs");
                return Err(Refusal::Unavailable);
            }
        }
    }
    let expires = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(chrono::Utc::now);
    match hub
        .inner
        .store
        .spend_join_token(claims.jti, claims.org, expires)
        .await
    {
        Ok(true) => {}
        Ok(false) => return Err(Refusal::Replayed),
        Err(e) => {
            tracing::error!(error = %e, "spending a join token");
            return Err(Refusal::Unavailable);
        }
    }
    let role = match claims.role.as_str() {
        "mediator" => SessionRole::Mediator,
        "party" => SessionRole::Party,
        "observer" => SessionRole::Observer,
        _ => {
            return Err(Refusal::Unauthorized(
                "the join token names an unknown role",
            ))
        }
    };
    Ok((
        claims.sub,
        claims.org,
        role,
        claims.rooms,
        point,
        claims.clear,
    ))
}

/// The handshake and the session's answer to the join: who joined, their
/// connection number and the messages for them; or why they may not.
async fn admit(
    hub: &Hub,
    session: Uuid,
    socket: &mut WebSocket,
) -> Result<(ParticipantId, u64, mpsc::UnboundedReceiver<Outgoing>), Refusal> {
    let (who, org, role, rooms, device, clear) = match handshake(hub, session, socket).await {
        Ok(joined) => joined,
        Err(refusal) => {
            hub.inner.metrics.join_refused();
            tracing::info!(session = %session, code = refusal.code(), "join refused");
            return Err(refusal);
        }
    };
    let connection = hub
        .inner
        .connections
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (outbox, inbox) = mpsc::unbounded_channel();
    let (reply, joined) = oneshot::channel();
    hub.send_to_session(
        session,
        Event::Join {
            who,
            org,
            role,
            rooms,
            device,
            clear,
            connection,
            outbox,
            reply,
        },
    );
    match joined.await {
        Ok(Ok(())) => {}
        Ok(Err(JoinRefused::Locked)) => return Err(Refusal::Locked),
        Ok(Err(JoinRefused::Removed)) => return Err(Refusal::Removed),
        Err(_) => return Err(Refusal::Internal),
    }
    tracing::info!(session = %session, participant = %who, "joined");
    Ok((who, connection, inbox))
}

async fn connection(hub: Hub, session: Uuid, mut socket: WebSocket) {
    use tracing::Instrument as _;
    // The join is one span (session id, outcome, close code); the messages
    // after it are not traced.
    let span = tracing::info_span!(
        "sfu.join",
        otel.kind = "server",
        accord.session_id = %session,
        accord.outcome = tracing::field::Empty,
        accord.close_code = tracing::field::Empty,
    );
    let admitted = async {
        let admitted = admit(&hub, session, &mut socket).await;
        let span = tracing::Span::current();
        match &admitted {
            Ok(_) => {
                span.record("accord.outcome", "joined");
            }
            Err(refusal) => {
                span.record("accord.outcome", "refused");
                span.record("accord.close_code", i64::from(refusal.code()));
                close(&mut socket, *refusal).await;
            }
        }
        admitted
    }
    .instrument(span)
    .await;
    let Ok((who, connection, mut inbox)) = admitted else {
        return;
    };
    // The task that took the join: it cannot end while this participant is
    // in it.
    let events = hub.session(session);
    let servers = match &hub.inner.media.config.turn {
        Some(turn) => turn.ice_servers(who, chrono::Utc::now().timestamp().max(0) as u64),
        None => Vec::new(),
    };
    if !send(&mut socket, &ServerMessage::IceServers { servers }).await {
        let _ = events.send(Event::Gone { who, connection });
        return;
    }
    loop {
        tokio::select! {
            frame = socket.recv() => match frame {
                Some(Ok(frame @ (Message::Text(_) | Message::Binary(_)))) => {
                    let parsed = match &frame {
                        Message::Text(text) => protocol::parse_client_message(text),
                        _ => Err(protocol::ProtocolError::Malformed("send text frames".into())),
                    };
                    match parsed {
                        Ok(message) => {
                            let _ = events.send(Event::Message { who, message });
                        }
                        Err(e) => {
                            let error = ServerMessage::Error { code: e.code().into(), message: e.to_string(), refused: None };
                            if !send(&mut socket, &error).await {
                                break;
                            }
                        }
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Err(e)) if too_big(&e) => {
                    close(&mut socket, Refusal::TooBig).await;
                    break;
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            },
            out = inbox.recv() => match out {
                Some(Outgoing::Message(message)) => {
                    if !send(&mut socket, &message).await {
                        break;
                    }
                }
                Some(Outgoing::Close(refusal)) => {
                    close(&mut socket, refusal).await;
                    break;
                }
                // Replaced by a newer connection of the same participant.
                None => break,
            },
        }
    }
    let _ = events.send(Event::Gone { who, connection });
}

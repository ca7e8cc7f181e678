//! The signaling WebSocket at `/sfu/ws?session=<id>`: the join handshake, then
//! messages between the browser and the session's core.
//!
//! Handshake: the server sends `{"type":"challenge","nonce":…}`; within ten
//! seconds the client answers `{"type":"hello","token":…,"deviceKey":{JWK},
//! "signature":…}` (base64url ECDSA P-256 over the nonce's bytes as sent). The
//! server checks the token, that it is for this session, that the device holds
//! the key the token is bound to, and spends the token's `jti`. Every refusal
//! closes the socket with its own code and a reason (see [`Refusal`]).
//!
//! Each live session runs as one task owning its [`LiveSession`]: no locks on
//! its state, and events from its connections are applied in order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use accord_auth::join::{self, DeviceKey, JoinKeys, JoinTokenError, PossessionError};
use accord_db::Db;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use rand::RngCore;
use serde::Deserialize;
use str0m::net::{Protocol, Transmit};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::udp::{Datagram, Demux, MediaSocket};
use accord_sfu_core::media::{Media, MediaOutput};
use accord_sfu_core::metrics::Metrics;
use accord_sfu_core::protocol::{
    self, ClientMessage, ParticipantId, RoomId, ServerMessage, SessionRole,
};
use accord_sfu_core::session::{CloseReason, JoinRefused, LiveSession, Output};

/// How long a session task's turn may take, for the media core's deadlines
/// (see `Media::set_due_slack`): about a batch of 64 datagrams' worth.
const TURN_SLACK: Duration = Duration::from_micros(200);
/// Datagrams queued per session before the socket reader drops them.
const SESSION_INBOX: usize = 4096;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
/// How long a client has to answer the challenge.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a dropped participant keeps their place for a reconnection.
pub const RECONNECT_GRACE: Duration = Duration::from_secs(10);
/// How long a live session outlives its last participant (after their
/// reconnection grace) by default: its caucuses, timers, lock, lobby
/// decisions and removals then end, and the next to join starts afresh.
pub const LIVE_SESSION_IDLE_END: Duration = Duration::from_secs(120);

/// Settings of a [`Hub`].
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// How long a live session outlives its last participant
    /// ([`LIVE_SESSION_IDLE_END`] by default).
    pub idle_end: Duration,
}

impl Default for HubOptions {
    fn default() -> Self {
        HubOptions {
            idle_end: LIVE_SESSION_IDLE_END,
        }
    }
}

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
    /// 1011: the server could not check the token.
    Internal,
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
            Refusal::Internal => 1011,
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
            Refusal::Internal => "the server could not check your token; try again",
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

/// What a connection sends to its session task.
enum Event {
    Join {
        who: ParticipantId,
        org: Uuid,
        role: SessionRole,
        rooms: Vec<String>,
        connection: u64,
        outbox: mpsc::UnboundedSender<Outgoing>,
        reply: oneshot::Sender<Result<(), JoinRefused>>,
    },
    Message {
        who: ParticipantId,
        message: protocol::ClientMessage,
    },
    Gone {
        who: ParticipantId,
        connection: u64,
    },
}

/// What a session task sends to a connection.
#[derive(Debug)]
enum Outgoing {
    Message(ServerMessage),
    Close(Refusal),
}

/// Shared by every connection: the keys, the database, the running sessions.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    db: Db,
    keys: JoinKeys,
    sessions: Mutex<HashMap<Uuid, mpsc::UnboundedSender<Event>>>,
    connections: std::sync::atomic::AtomicU64,
    media: MediaSocket,
    demux: Arc<Demux>,
    metrics: Arc<Metrics>,
    options: HubOptions,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub that checks tokens with `keys`, spends them in `db`, and carries
    /// media on `media`. Starts the socket's reader: call within a runtime.
    pub fn new(db: Db, keys: JoinKeys, media: MediaSocket) -> Self {
        Hub::with_options(db, keys, media, HubOptions::default())
    }

    /// [`Hub::new`] with settings other than the defaults.
    pub fn with_options(db: Db, keys: JoinKeys, media: MediaSocket, options: HubOptions) -> Self {
        let demux = Arc::new(Demux::default());
        tokio::spawn(media.clone().run(demux.clone()));
        Hub {
            inner: Arc::new(HubInner {
                db,
                keys,
                sessions: Mutex::new(HashMap::new()),
                connections: std::sync::atomic::AtomicU64::new(0),
                media,
                demux,
                metrics: Arc::new(Metrics::default()),
                options,
            }),
        }
    }

    /// The SFU's counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// The media socket's local address.
    pub fn media_addr(&self) -> std::net::SocketAddr {
        self.inner.media.local
    }

    /// The session's task, started on first use.
    fn session(&self, id: Uuid) -> mpsc::UnboundedSender<Event> {
        let mut sessions = self
            .inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = sessions.get(&id).filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        sessions.insert(id, tx.clone());
        let (datagrams_tx, datagrams) = mpsc::channel(SESSION_INBOX);
        self.inner.demux.attach(id, datagrams_tx);
        tokio::spawn(run_session(id, self.clone(), rx, datagrams));
        tx
    }

    /// Hands `event` to the session's task, starting one if there is none
    /// or the one there is ending.
    fn send_to_session(&self, id: Uuid, event: Event) {
        let mut event = event;
        // A task that ends closes its inbox first: a send refused by it
        // gives the event back, and the next try starts a new task.
        for _ in 0..3 {
            match self.session(id).send(event) {
                Ok(()) => return,
                Err(mpsc::error::SendError(back)) => event = back,
            }
        }
        tracing::warn!(session = %id, "a session task refused an event three times");
    }

    /// Ends `id`'s live session, whose task reads `events`: no new event
    /// reaches it, and those already sent go to a new task.
    fn end_session(&self, id: Uuid, events: &mut mpsc::UnboundedReceiver<Event>) {
        {
            let mut sessions = self
                .inner
                .sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            sessions.remove(&id);
            self.inner.demux.detach(id);
            events.close();
        }
        let mut leftovers = Vec::new();
        while let Ok(event) = events.try_recv() {
            leftovers.push(event);
        }
        for event in leftovers {
            // A participant's messages and departures belong to the live
            // session that ended; a join starts the next one.
            if matches!(event, Event::Join { .. }) {
                self.send_to_session(id, event);
            }
        }
        tracing::info!(session = %id, "live session ended: nobody was left");
    }
}

/// The signaling route.
pub fn router(hub: Hub) -> Router {
    Router::new().route("/sfu/ws", get(upgrade)).with_state(hub)
}

/// `/metrics`: Prometheus text, totals only (no names, no identifiers).
pub fn metrics_router(hub: Hub) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(hub): State<Hub>| async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
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

async fn upgrade(
    State(hub): State<Hub>,
    Query(q): Query<SessionQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.max_message_size(protocol::MAX_MESSAGE_BYTES * 2)
        .on_upgrade(move |socket| connection(hub, q.session, socket))
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

/// Runs the handshake; on success the participant's id, role and rooms.
async fn handshake(
    hub: &Hub,
    session: Uuid,
    socket: &mut WebSocket,
) -> Result<(ParticipantId, Uuid, SessionRole, Vec<String>), Refusal> {
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
    let Some(Ok(Message::Text(text))) = frame else {
        return Err(Refusal::Malformed);
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
    let expires = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(chrono::Utc::now);
    match accord_db::join_tokens::spend(&hub.inner.db, claims.jti, claims.org, expires).await {
        Ok(true) => {}
        Ok(false) => return Err(Refusal::Replayed),
        Err(e) => {
            tracing::error!(error = %e, "spending a join token");
            return Err(Refusal::Internal);
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
    Ok((claims.sub, claims.org, role, claims.rooms))
}

async fn connection(hub: Hub, session: Uuid, mut socket: WebSocket) {
    let (who, org, role, rooms) = match handshake(&hub, session, &mut socket).await {
        Ok(joined) => joined,
        Err(refusal) => {
            hub.inner.metrics.join_refused();
            tracing::info!(session = %session, code = refusal.code(), "join refused");
            close(&mut socket, refusal).await;
            return;
        }
    };
    let connection = hub
        .inner
        .connections
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (outbox, mut inbox) = mpsc::unbounded_channel();
    let (reply, joined) = oneshot::channel();
    hub.send_to_session(
        session,
        Event::Join {
            who,
            org,
            role,
            rooms,
            connection,
            outbox,
            reply,
        },
    );
    match joined.await {
        Ok(Ok(())) => {}
        Ok(Err(JoinRefused::Locked)) => return close(&mut socket, Refusal::Locked).await,
        Ok(Err(JoinRefused::Removed)) => return close(&mut socket, Refusal::Removed).await,
        Err(_) => return close(&mut socket, Refusal::Internal).await,
    }
    // The task that took the join: it cannot end while this participant is
    // in it.
    let events = hub.session(session);
    tracing::info!(session = %session, participant = %who, "joined");
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

struct Connected {
    connection: u64,
    outbox: mpsc::UnboundedSender<Outgoing>,
}

/// One session's task: its [`LiveSession`] and its [`Media`], on one task,
/// so neither needs a lock. It ends [`HubOptions::idle_end`] after its last
/// participant is gone (their reconnection grace included); a join racing
/// the end goes to the next task ([`Hub::end_session`]).
async fn run_session(
    id: Uuid,
    hub: Hub,
    mut events: mpsc::UnboundedReceiver<Event>,
    mut datagrams: mpsc::Receiver<Datagram>,
) {
    let mut task = SessionTask {
        id,
        live: LiveSession::new(id.as_u64_pair().0),
        media: {
            let mut media = Media::new(hub.inner.media.config.clone(), hub.inner.metrics.clone());
            media.set_due_slack(TURN_SLACK);
            media
        },
        connected: HashMap::new(),
        leaving: HashMap::new(),
        audit: None,
        rooms_counted: 0,
        udp_out: Vec::new(),
        hub,
    };
    let mut batch = Vec::with_capacity(64);
    let mut idle_since: Option<Instant> = None;
    loop {
        let idle_end = idle_since.map(|t| t + task.hub.inner.options.idle_end);
        let deadline = [
            task.live.poll_timeout(),
            task.media.poll_timeout(),
            task.leaving.values().copied().min(),
            idle_end,
        ]
        .into_iter()
        .flatten()
        .min();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            event = events.recv() => {
                let Some(event) = event else { break };
                task.event(event);
            }
            n = datagrams.recv_many(&mut batch, 64) => {
                if n == 0 {
                    break;
                }
                task.datagrams(&batch);
                batch.clear();
            }
            () = sleep => {
                let now = Instant::now();
                task.live.handle_timeout(now);
                task.media.handle_timeout(now);
                let gone: Vec<ParticipantId> = task.leaving.iter().filter(|(_, t)| **t <= now).map(|(w, _)| *w).collect();
                for who in gone {
                    task.leaving.remove(&who);
                    task.live.forget(who);
                    task.media.remove(now, who);
                }
                if idle_end.is_some_and(|t| t <= now) && task.connected.is_empty() && task.leaving.is_empty() {
                    task.dispatch();
                    task.hub.clone().end_session(id, &mut events);
                    return;
                }
            }
        }
        task.dispatch();
        idle_since = if task.connected.is_empty() && task.leaving.is_empty() {
            idle_since.or_else(|| Some(Instant::now()))
        } else {
            None
        };
    }
}

struct SessionTask {
    id: Uuid,
    hub: Hub,
    live: LiveSession,
    media: Media,
    connected: HashMap<ParticipantId, Connected>,
    leaving: HashMap<ParticipantId, Instant>,
    /// Live-session events go to the audit log in order, through one writer.
    audit: Option<mpsc::UnboundedSender<(ParticipantId, &'static str, ParticipantId)>>,
    rooms_counted: i64,
    /// Datagrams to send at the end of this turn, in one batch.
    udp_out: Vec<Transmit>,
}

impl SessionTask {
    fn event(&mut self, event: Event) {
        let now = Instant::now();
        match event {
            Event::Join {
                who,
                org,
                role,
                rooms,
                connection,
                outbox,
                reply,
            } => {
                if self.audit.is_none() {
                    self.audit = Some(spawn_audit_writer(self.hub.inner.db.clone(), org, self.id));
                }
                let result = self.live.join(who, role, &rooms);
                if result.is_ok() {
                    self.leaving.remove(&who);
                    if self.connected.is_empty() {
                        self.hub.inner.metrics.sessions_changed(1);
                    }
                    if self
                        .connected
                        .insert(who, Connected { connection, outbox })
                        .is_none()
                    {
                        self.hub.inner.metrics.participants_changed(1);
                    }
                }
                let _ = reply.send(result);
            }
            Event::Message {
                who,
                message: ClientMessage::Offer { sdp },
            } => {
                if let Err(e) = self.media.offer(now, who, &sdp) {
                    self.send(who, e.to_message());
                } else {
                    self.media.set_routes(now, self.live.routes());
                }
            }
            Event::Message {
                who,
                message: ClientMessage::Answer { sdp },
            } => {
                if let Err(e) = self.media.answer(now, who, &sdp) {
                    self.send(who, e.to_message());
                }
            }
            Event::Message {
                who,
                message:
                    ClientMessage::Tile {
                        participant,
                        source,
                        width,
                        height,
                    },
            } => self
                .media
                .set_tile(now, who, participant, source, width, height),
            Event::Message { who, message } => self.live.handle(now, who, message),
            Event::Gone { who, connection } => {
                if self
                    .connected
                    .get(&who)
                    .is_some_and(|c| c.connection == connection)
                {
                    self.disconnect(who);
                    self.live.disconnected(who);
                    self.leaving.insert(who, now + RECONNECT_GRACE);
                }
            }
        }
    }

    /// Datagrams read together: handed to the media layer, what they caused
    /// sent, and the delays recorded.
    fn datagrams(&mut self, batch: &[Datagram]) {
        let config = self.hub.inner.media.config.clone();
        self.media.handle_datagrams(
            Instant::now(),
            batch.iter().map(|d| {
                let local = config.candidate_for(d.proto, d.destination);
                (d.at, d.proto, d.source, local, d.data.as_slice())
            }),
        );
        self.dispatch();
        let end = Instant::now();
        let metrics = &self.hub.inner.metrics;
        for d in batch {
            metrics.read_wait(d.read.saturating_duration_since(d.at));
            metrics.turn_delay(end.saturating_duration_since(d.at));
        }
    }

    fn disconnect(&mut self, who: ParticipantId) -> Option<Connected> {
        let c = self.connected.remove(&who)?;
        self.hub.inner.metrics.participants_changed(-1);
        if self.connected.is_empty() {
            self.hub.inner.metrics.sessions_changed(-1);
        }
        Some(c)
    }

    fn send(&self, to: ParticipantId, message: ServerMessage) {
        if let Some(c) = self.connected.get(&to) {
            let _ = c.outbox.send(Outgoing::Message(message));
        }
    }

    fn dispatch(&mut self) {
        let now = Instant::now();
        loop {
            if let Some(output) = self.live.poll_output(now) {
                self.live_output(output);
                continue;
            }
            if let Some(output) = self.media.poll_output() {
                self.media_output(output);
                continue;
            }
            break;
        }
        if !self.udp_out.is_empty() {
            // A full socket buffer drops datagrams, as the network would.
            crate::batch::send_batch(
                &self.hub.inner.media.socket,
                self.udp_out
                    .iter()
                    .map(|t| (t.destination, &t.contents[..])),
            );
            self.udp_out.clear();
        }
    }

    fn live_output(&mut self, output: Output) {
        match output {
            Output::Send { to, message } => self.send(to, message),
            Output::Close { who, reason } => {
                if let Some(c) = self.disconnect(who) {
                    let refusal = match reason {
                        CloseReason::Denied => Refusal::Denied,
                        CloseReason::Removed => Refusal::Removed,
                    };
                    let _ = c.outbox.send(Outgoing::Close(refusal));
                }
                self.media.remove(Instant::now(), who);
            }
            Output::RoutesChanged => {
                let routes = self.live.routes();
                let rooms: std::collections::HashSet<RoomId> =
                    routes.rooms().values().copied().collect();
                let count = rooms.len() as i64;
                self.hub
                    .inner
                    .metrics
                    .rooms_changed(count - self.rooms_counted);
                self.rooms_counted = count;
                self.media.set_routes(Instant::now(), routes);
            }
            Output::Audit {
                actor,
                action,
                subject,
            } => {
                if let Some(audit) = &self.audit {
                    let _ = audit.send((actor, action, subject));
                }
            }
        }
    }

    fn media_output(&mut self, output: MediaOutput) {
        match output {
            MediaOutput::Transmit(t) if t.proto == Protocol::Tcp => {
                self.hub.inner.demux.send_tcp(t.destination, &t.contents);
            }
            MediaOutput::Transmit(t) => self.udp_out.push(t),
            MediaOutput::Send { to, message } => self.send(to, message),
            MediaOutput::Quality(participants) => {
                for mediator in self.live.connected_mediators() {
                    self.send(
                        mediator,
                        ServerMessage::Stats {
                            participants: participants.clone(),
                        },
                    );
                }
            }
            MediaOutput::Listen { ufrag } => self.hub.inner.demux.add_ufrag(&ufrag, self.id),
            MediaOutput::Forget { ufrag, addrs } => self.hub.inner.demux.remove(&ufrag, &addrs),
            MediaOutput::Lost { who } => {
                tracing::info!(session = %self.id, participant = %who, "media connection lost");
            }
        }
    }
}

/// Writes live-session events to the org's audit log, in order, identifiers
/// only. A failed write is logged and the session goes on.
fn spawn_audit_writer(
    db: Db,
    org: Uuid,
    session: Uuid,
) -> mpsc::UnboundedSender<(ParticipantId, &'static str, ParticipantId)> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(ParticipantId, &'static str, ParticipantId)>();
    tokio::spawn(async move {
        while let Some((actor, action, subject)) = rx.recv().await {
            let result = async {
                let mut t = db
                    .tenant(
                        accord_domain::OrgId::from_uuid(org),
                        accord_domain::UserId::from_uuid(actor),
                        None,
                    )
                    .await?;
                accord_db::audit::append(&mut t, action, "participant", Some(subject)).await?;
                t.commit().await
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(session = %session, action, error = %e, "live-session audit event not written");
            }
        }
    });
    tx
}

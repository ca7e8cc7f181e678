//! One bot: the signaling WebSocket with its device-bound join handshake, a
//! webrtc-rs peer connection publishing tagged synthetic media, and the
//! recording of what it receives.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use accord_sfu_core::protocol::{
    ClientMessage, ParticipantView, SdpKind, ServerMessage, TrackView,
};
use futures_util::{SinkExt, StreamExt};
use p256::ecdsa::SigningKey;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use url::Url;
use uuid::Uuid;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceConnectionState, RTCIceGatheringState,
    RTCPeerConnectionState, RTCSessionDescription,
};

use crate::device;
use crate::e2ee::packet::{self, Sealer};
use crate::e2ee::session::KeySession;
use crate::handshake::{Challenge, Hello};
use crate::media;
use crate::report::{Arrival, Departure, Recorder, Report};
use crate::tag::{self, Source};

/// Server messages kept for [`Messages`] cursors by default; older ones are
/// dropped ([`BotConfig::message_history`]).
const MESSAGE_HISTORY: usize = 10_000;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How a bot joins and what it publishes.
#[derive(Debug, Clone)]
pub struct BotConfig {
    /// Where the app is: `ws://127.0.0.1:8080` (the bot connects to
    /// `<base_ws>/sfu/ws?session=…`).
    pub base_ws: Url,
    /// The live session.
    pub session: Uuid,
    /// The bot's participant id, if known; checked against the server's
    /// first `state`. `None`: taken from it.
    pub participant: Option<Uuid>,
    /// Publish Opus-shaped audio (one packet every 20 ms).
    pub publish_audio: bool,
    /// Publish VP8-shaped camera video.
    pub publish_video: bool,
    /// Publish VP8-shaped screen video too (the screen transceiver is always
    /// negotiated; without this it carries nothing).
    pub publish_screen: bool,
    /// Publish the camera as three simulcast layers (RIDs `q`, `h`, `f`:
    /// 320×180, 640×360, 1280×720) at [`BotConfig::simulcast_kbps`], each
    /// on its own SSRC, as Chromium does; if the answer refuses simulcast,
    /// only `q` is sent.
    pub simulcast: bool,
    /// The simulcast layers' bit rates, lowest first, kbit/s of RTP payload.
    pub simulcast_kbps: [u32; 3],
    /// Camera (without simulcast) and screen bit rate, kbit/s of RTP payload.
    pub video_kbps: u32,
    /// Video frames per second.
    pub video_fps: u32,
    /// Every how many frames a key frame is marked (0: only the first).
    pub keyframe_interval: u32,
    /// Bytes per audio packet.
    pub audio_payload_bytes: usize,
    /// Largest video packet payload, bytes.
    pub max_video_payload_bytes: usize,
    /// The local address for media. `None`: loopback when the server's host is
    /// a loopback address, otherwise every interface.
    pub bind_ip: Option<IpAddr>,
    /// How many tagged arrivals to keep for [`Bot::arrivals`] (0: none).
    pub arrival_log: usize,
    /// How many sent packets to keep for [`Bot::departures`] (0: none).
    pub departure_log: usize,
    /// How long each step of joining may take (WebSocket, challenge, first
    /// state, ICE gathering, the answer).
    pub step_timeout: Duration,
    /// How many server messages to keep for [`Bot::messages`] cursors (at
    /// least 1). A big room's `state` messages are large: load bots that
    /// never read old messages keep only a few.
    pub message_history: usize,
    /// End-to-end encrypted media, as the browsers do it (docs/SECURITY.md):
    /// the bot advertises an ECDH identity, sends a new sender key wrapped to
    /// each member of its room on every change of who is there, seals every
    /// frame it sends (SFrame) and opens what it receives with the keys the
    /// others sent it. Everyone in a session must agree: a bot with it on
    /// reads no clear media, one with it off no sealed media.
    pub e2ee: bool,
    /// How many received payloads to keep as they arrived, before any
    /// decryption, for [`Bot::raw_payloads`] (0: none): what the SFU
    /// forwarded, for tests that look at it.
    pub raw_log: usize,
}

impl BotConfig {
    /// Defaults: audio and camera on, screen off, 1200 kbit/s at 30 fps.
    pub fn new(base_ws: Url, session: Uuid) -> BotConfig {
        BotConfig {
            base_ws,
            session,
            participant: None,
            publish_audio: true,
            publish_video: true,
            publish_screen: false,
            simulcast: false,
            simulcast_kbps: [
                media::SIMULCAST_LAYERS[0].kbps,
                media::SIMULCAST_LAYERS[1].kbps,
                media::SIMULCAST_LAYERS[2].kbps,
            ],
            video_kbps: 1200,
            video_fps: 30,
            keyframe_interval: 60,
            audio_payload_bytes: 100,
            max_video_payload_bytes: 1100,
            bind_ip: None,
            arrival_log: 0,
            departure_log: 0,
            step_timeout: Duration::from_secs(10),
            message_history: MESSAGE_HISTORY,
            e2ee: false,
            raw_log: 0,
        }
    }

    /// The signaling URL: `<base_ws>/sfu/ws?session=<session>`.
    pub fn signaling_url(&self) -> Result<Url, BotError> {
        let mut base = self.base_ws.clone();
        match base.scheme() {
            "ws" | "wss" => {}
            "http" => set_scheme(&mut base, "ws")?,
            "https" => set_scheme(&mut base, "wss")?,
            other => {
                return Err(BotError::Config(format!(
                    "the server URL must be ws:// or wss://, not {other}://"
                )))
            }
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let mut url = base
            .join("sfu/ws")
            .map_err(|e| BotError::Config(format!("the server URL: {e}")))?;
        url.set_query(Some(&format!("session={}", self.session)));
        Ok(url)
    }

    /// The address media sockets bind to.
    pub(crate) fn media_bind(&self) -> SocketAddr {
        let ip = self.bind_ip.unwrap_or_else(|| {
            let loopback = match self.base_ws.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(name)) => (name, 0)
                    .to_socket_addrs()
                    .map(|mut addrs| addrs.any(|a| a.ip().is_loopback()))
                    .unwrap_or(name == "localhost"),
                None => false,
            };
            let v6 = matches!(self.base_ws.host(), Some(url::Host::Ipv6(_)));
            match (loopback, v6) {
                (true, false) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                (true, true) => IpAddr::V6(Ipv6Addr::LOCALHOST),
                (false, false) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                (false, true) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            }
        });
        SocketAddr::new(ip, 0)
    }
}

fn set_scheme(url: &mut Url, scheme: &str) -> Result<(), BotError> {
    url.set_scheme(scheme)
        .map_err(|()| BotError::Config(format!("cannot use the scheme {scheme}")))
}

/// Why a bot could not join or do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// The configuration cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The WebSocket failed.
    #[error("WebSocket: {0}")]
    WebSocket(#[source] Box<tokio_tungstenite::tungstenite::Error>),
    /// The server closed the WebSocket with a code and reason (for example
    /// 4401 for a bad token, 4424 when turned away from the lobby).
    #[error("the server closed the connection: {code} {reason}")]
    Refused {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// The WebSocket ended (without a close code).
    #[error("the connection to the server ended")]
    Closed,
    /// The server sent something unexpected.
    #[error("unexpected from the server: {0}")]
    Protocol(String),
    /// The peer connection refused an operation.
    #[error("WebRTC: {0}")]
    WebRtc(#[source] Box<webrtc::error::Error>),
    /// A step took too long.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The peer connection failed or was closed.
    #[error("the peer connection is {0}")]
    Connection(String),
    /// A message could not be encoded.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<tokio_tungstenite::tungstenite::Error> for BotError {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        BotError::WebSocket(Box::new(e))
    }
}

impl From<webrtc::error::Error> for BotError {
    fn from(e: webrtc::error::Error) -> Self {
        BotError::WebRtc(Box::new(e))
    }
}

/// One m-line the server sends on, from its latest `tracks` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTrack {
    /// The m-line's `mid`.
    pub mid: String,
    /// Whose media it carries.
    pub participant: Uuid,
    /// Which of their sources (`microphone`, `camera`, `screen`).
    pub source: Source,
}

impl From<TrackView> for ServerTrack {
    fn from(track: TrackView) -> ServerTrack {
        ServerTrack {
            mid: track.mid,
            participant: track.participant,
            source: track.source.into(),
        }
    }
}

/// Server messages received so far, and whether more can come. Kept as
/// JSON rather than [`ServerMessage`]s: a newer server's messages of types
/// this bot does not know are kept too, for whoever reads the history.
#[derive(Debug)]
struct MessageLog {
    /// Index (since the connection started) of `items[0]`.
    start: u64,
    items: VecDeque<Value>,
    ended: bool,
    /// How many items to keep (at least 1).
    capacity: usize,
}

impl MessageLog {
    fn with_capacity(capacity: usize) -> MessageLog {
        MessageLog {
            start: 0,
            items: VecDeque::new(),
            ended: false,
            capacity: capacity.max(1),
        }
    }
}

/// One payload as it arrived on a track, before any decryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPayload {
    /// The track's stream id (the sender, as the SFU labels it).
    pub sender: Option<Uuid>,
    /// Whether it came on a video track.
    pub video: bool,
    /// The RTP payload.
    pub payload: Vec<u8>,
}

/// A bot's end-to-end encryption: its keys and the sealer its publishers use.
#[derive(Debug)]
struct E2ee {
    keys: Mutex<KeySession>,
    sealer: Arc<Sealer>,
}

/// State shared by the bot's tasks.
#[derive(Debug)]
struct Shared {
    recorder: Mutex<Recorder>,
    messages: Mutex<MessageLog>,
    /// Bumped on every new message and at the end.
    messages_tick: watch::Sender<u64>,
    connection: watch::Sender<RTCPeerConnectionState>,
    gathering: watch::Sender<RTCIceGatheringState>,
    tracks: Mutex<Vec<ServerTrack>>,
    closed_with: Mutex<Option<(u16, String)>>,
    e2ee: Option<E2ee>,
    raw: Mutex<VecDeque<RawPayload>>,
    raw_capacity: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn push_message(&self, value: Value) {
        {
            let mut log = lock(&self.messages);
            log.items.push_back(value);
            if log.items.len() > log.capacity {
                log.items.pop_front();
                log.start += 1;
            }
        }
        self.messages_tick.send_modify(|n| *n += 1);
    }

    fn end_messages(&self) {
        lock(&self.messages).ended = true;
        self.messages_tick.send_modify(|n| *n += 1);
    }

    /// A `state` arrived: with end-to-end encryption, what the key session
    /// wants sent (its identity, a new wrapped key), the sealer switched to
    /// its current key.
    fn e2ee_state(&self, you: Uuid, participants: &[ParticipantView]) -> Vec<ClientMessage> {
        let Some(e2ee) = &self.e2ee else {
            return Vec::new();
        };
        let mut keys = lock(&e2ee.keys);
        let out = keys.on_state(you, participants);
        e2ee.sealer.set(keys.send_key());
        out
    }

    /// An `e2eeKey` arrived: checked and held (and acknowledged to its
    /// sender, as browsers do), or refused.
    fn e2ee_key(&self, message: &ServerMessage) -> Option<ClientMessage> {
        let (
            Some(e2ee),
            ServerMessage::E2eeKey {
                from,
                room,
                generation,
                wrapped,
                signature,
            },
        ) = (&self.e2ee, message)
        else {
            return None;
        };
        let outcome = lock(&e2ee.keys).on_key(*from, *room, *generation, wrapped, signature);
        if let Err(e) = &outcome {
            tracing::debug!(%from, generation, refused = e.as_str(), "a sender key");
        }
        lock(&self.recorder).e2ee_key(outcome.is_ok());
        outcome.ok().map(|()| ClientMessage::E2eeKeyAck {
            to: *from,
            room: *room,
            generation: *generation,
        })
    }
}

/// A cursor over the server's messages to one bot, from the first (after the
/// challenge) on; each cursor sees every message, whenever it is made.
#[derive(Debug)]
pub struct Messages {
    shared: Arc<Shared>,
    next: u64,
    tick: watch::Receiver<u64>,
}

impl Messages {
    /// The next message, waiting for it; `None` once the connection has
    /// ended and every message was read.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            self.tick.mark_unchanged();
            {
                let log = lock(&self.shared.messages);
                if self.next < log.start {
                    self.next = log.start;
                }
                let index = usize::try_from(self.next - log.start).unwrap_or(usize::MAX);
                if let Some(v) = log.items.get(index) {
                    self.next += 1;
                    return Some(v.clone());
                }
                if log.ended {
                    return None;
                }
            }
            // The sender lives in `shared`, which this cursor holds: no error.
            if self.tick.changed().await.is_err() {
                return None;
            }
        }
    }

    /// The next message for which `matches` holds, within `timeout`.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        mut matches: impl FnMut(&Value) -> bool,
    ) -> Result<Value, BotError> {
        tokio::time::timeout(timeout, async {
            while let Some(v) = self.next().await {
                if matches(&v) {
                    return Ok(v);
                }
            }
            Err(BotError::Closed)
        })
        .await
        .map_err(|_| BotError::Timeout("a matching server message"))?
    }

    /// The next message of type `kind` (`state`, `knock`, …), within `timeout`.
    pub async fn next_of_type(&mut self, kind: &str, timeout: Duration) -> Result<Value, BotError> {
        self.wait_for(timeout, |v| v["type"] == kind).await
    }

    /// The next message read as a [`ServerMessage`] for which `matches`
    /// holds, within `timeout`; messages this bot cannot read (of a newer
    /// server's types) are passed over.
    pub async fn wait_for_message(
        &mut self,
        timeout: Duration,
        mut matches: impl FnMut(&ServerMessage) -> bool,
    ) -> Result<ServerMessage, BotError> {
        tokio::time::timeout(timeout, async {
            while let Some(v) = self.next().await {
                if let Ok(message) = ServerMessage::deserialize(&v) {
                    if matches(&message) {
                        return Ok(message);
                    }
                }
            }
            Err(BotError::Closed)
        })
        .await
        .map_err(|_| BotError::Timeout("a matching server message"))?
    }
}

/// What the peer connection reports to the bot.
struct Handler {
    shared: Arc<Shared>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.shared.gathering.send_replace(state);
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        if state == RTCIceConnectionState::Connected {
            lock(&self.shared.recorder).ice_connected(tag::now_ns());
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::debug!(%state, "peer connection state");
        if state == RTCPeerConnectionState::Connected {
            lock(&self.shared.recorder).connected(tag::now_ns());
        }
        self.shared.connection.send_replace(state);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        // Handlers run on the connection's driver: read elsewhere.
        tokio::spawn(read_track(track, Arc::clone(&self.shared)));
    }
}

/// Reads one received track to its end, recording every packet.
async fn read_track(track: Arc<dyn TrackRemote>, shared: Arc<Shared>) {
    let video = track.kind().await == media::VIDEO;
    let stream_id = Uuid::parse_str(&track.stream_id().await).ok();
    while let Some(event) = track.poll().await {
        match event {
            TrackRemoteEvent::OnRtpPacket(packet) => {
                let at = std::time::Instant::now();
                let arrived_ns = tag::instant_ns(at);
                let payload = &packet.payload[..];
                if shared.raw_capacity > 0 {
                    let mut raw = lock(&shared.raw);
                    if raw.len() == shared.raw_capacity {
                        raw.pop_front();
                    }
                    raw.push_back(RawPayload {
                        sender: stream_id,
                        video,
                        payload: payload.to_vec(),
                    });
                }
                let clear = if video {
                    tag::decode_vp8(payload)
                } else {
                    tag::decode_opus(payload)
                };
                let decoded = match (&shared.e2ee, clear) {
                    (None, clear) => clear.ok(),
                    (Some(_), Ok(_)) => {
                        // Sealed frames never show a tag; this one came in clear.
                        lock(&shared.recorder).e2ee_clear();
                        None
                    }
                    (Some(e2ee), Err(_)) => {
                        let opened = {
                            let mut keys = lock(&e2ee.keys);
                            let held = stream_id.and_then(|s| keys.receive_keys(&s));
                            if video {
                                packet::open_vp8(held, payload)
                            } else {
                                packet::open_opus(held, payload)
                            }
                        };
                        let mut recorder = lock(&shared.recorder);
                        recorder.e2ee_received(opened.map(|_| ()));
                        opened.ok()
                    }
                };
                lock(&shared.recorder).record(decoded, payload.len(), at, arrived_ns, stream_id);
            }
            TrackRemoteEvent::OnEnded => break,
            _ => {}
        }
    }
}

/// What the negotiation task is handed, in the order the server sent it.
enum Sdp {
    Answer(String),
    Offer(String),
    /// An `error` message: before the answer, the server refused the offer;
    /// after it, `refused` tells a refused answer to one of its offers from
    /// a refusal of something else.
    Error {
        code: String,
        message: String,
        refused: Option<SdpKind>,
    },
}

/// A bot in a live session: joined, publishing, recording what it receives.
pub struct Bot {
    participant: Uuid,
    pc: Arc<dyn PeerConnection>,
    outbox: mpsc::UnboundedSender<Message>,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    publishers: Vec<JoinHandle<()>>,
    camera_layers: usize,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot")
            .field("participant", &self.participant)
            .finish_non_exhaustive()
    }
}

async fn next_frame(
    ws: &mut Ws,
    timeout: Duration,
    what: &'static str,
) -> Result<Message, BotError> {
    loop {
        let frame = tokio::time::timeout(timeout, ws.next())
            .await
            .map_err(|_| BotError::Timeout(what))?
            .ok_or(BotError::Closed)??;
        match frame {
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            Message::Close(Some(frame)) => {
                return Err(BotError::Refused {
                    code: u16::from(frame.code),
                    reason: frame.reason.to_string(),
                })
            }
            Message::Close(None) => return Err(BotError::Closed),
            other => return Ok(other),
        }
    }
}

async fn next_text(ws: &mut Ws, timeout: Duration, what: &'static str) -> Result<String, BotError> {
    match next_frame(ws, timeout, what).await? {
        Message::Text(text) => Ok(text.as_str().to_owned()),
        _ => Err(BotError::Protocol("a binary frame".into())),
    }
}

async fn next_json(ws: &mut Ws, timeout: Duration, what: &'static str) -> Result<Value, BotError> {
    serde_json::from_str(&next_text(ws, timeout, what).await?)
        .map_err(|e| BotError::Protocol(format!("a frame that is not JSON: {e}")))
}

/// A message as one WebSocket text frame.
fn text_frame<M: Serialize + ?Sized>(message: &M) -> Result<Message, BotError> {
    Ok(Message::Text(serde_json::to_string(message)?.into()))
}

impl Bot {
    /// Joins: connects the WebSocket, answers the challenge with `token` and
    /// `device`'s signature, waits for the first `state`, sends the offer
    /// (audio, camera, screen; send-only) and returns once the server's answer
    /// is applied. Media flows once [`Bot::connected`]; a bot still in the
    /// lobby has joined but receives nothing until admitted.
    pub async fn join(
        config: BotConfig,
        token: String,
        device: SigningKey,
    ) -> Result<Bot, BotError> {
        if config.video_fps == 0 || config.video_fps > 240 {
            return Err(BotError::Config("video_fps must be 1 to 240".into()));
        }
        if config.max_video_payload_bytes < tag::MIN_VP8_PAYLOAD {
            return Err(BotError::Config(format!(
                "max_video_payload_bytes must be at least {}",
                tag::MIN_VP8_PAYLOAD
            )));
        }
        let step = config.step_timeout;
        let url = config.signaling_url()?;
        let (mut ws, _) =
            tokio::time::timeout(step, tokio_tungstenite::connect_async(url.as_str()))
                .await
                .map_err(|_| BotError::Timeout("the WebSocket to connect"))??;

        let challenge = next_text(&mut ws, step, "the challenge").await?;
        let Challenge::Challenge { nonce } = serde_json::from_str(&challenge).map_err(|e| {
            BotError::Protocol(format!("expected a challenge, got {challenge} ({e})"))
        })?;
        let hello = Hello::Hello {
            token,
            device_key: device::jwk(device.verifying_key()),
            signature: device::sign_nonce(&device, &nonce),
        };
        ws.send(text_frame(&hello)?).await?;

        let (messages_tick, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            recorder: Mutex::new(Recorder::with_logs(
                config.arrival_log,
                config.departure_log,
            )),
            messages: Mutex::new(MessageLog::with_capacity(config.message_history)),
            messages_tick,
            connection: watch::channel(RTCPeerConnectionState::New).0,
            gathering: watch::channel(RTCIceGatheringState::New).0,
            tracks: Mutex::new(Vec::new()),
            closed_with: Mutex::new(None),
            e2ee: config.e2ee.then(|| E2ee {
                keys: Mutex::new(KeySession::new(config.session.to_string(), device.clone())),
                sealer: Arc::new(Sealer::default()),
            }),
            raw: Mutex::new(VecDeque::new()),
            raw_capacity: config.raw_log,
        });

        // Until the first state, refusals arrive as close frames.
        let you = loop {
            let v = next_json(&mut ws, step, "the first state").await?;
            let message = ServerMessage::deserialize(&v);
            shared.push_message(v);
            match message {
                Ok(ServerMessage::State {
                    you, participants, ..
                }) => {
                    for m in shared.e2ee_state(you, &participants) {
                        ws.send(text_frame(&m)?).await?;
                    }
                    break you;
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "a server message the bot does not read"),
            }
        };
        if let Some(expected) = config.participant {
            if expected != you {
                return Err(BotError::Protocol(format!(
                    "joined as {you}, expected {expected}"
                )));
            }
        }

        let mut gathering = shared.gathering.subscribe();
        let (pc, publishers) = media::peer_connection(
            &config,
            you,
            Arc::new(Handler {
                shared: Arc::clone(&shared),
            }),
        )
        .await?;

        // From here on the bot owns the connection: dropping it on an error
        // closes the connection (and stops its driver).
        let (outbox, outbox_rx) = mpsc::unbounded_channel();
        let mut bot = Bot {
            participant: you,
            pc,
            outbox,
            shared,
            tasks: Vec::new(),
            publishers: Vec::new(),
            camera_layers: 0,
        };
        let pc = Arc::clone(&bot.pc);
        let offer = pc.create_offer(None).await?;
        pc.set_local_description(offer).await?;
        tokio::time::timeout(
            step,
            gathering.wait_for(|s| *s == RTCIceGatheringState::Complete),
        )
        .await
        .map_err(|_| BotError::Timeout("ICE gathering"))?
        .map_err(|_| BotError::Closed)?;
        let offer = pc
            .local_description()
            .await
            .ok_or_else(|| BotError::Protocol("no local description after gathering".into()))?;

        let (sink, stream) = ws.split();
        let (sdp_tx, sdp_rx) = mpsc::unbounded_channel();
        let (answered_tx, answered_rx) = oneshot::channel();
        bot.tasks = vec![
            tokio::spawn(write_loop(sink, outbox_rx)),
            tokio::spawn(read_loop(
                stream,
                Arc::clone(&bot.shared),
                sdp_tx,
                bot.outbox.clone(),
            )),
            tokio::spawn(negotiate_loop(
                pc,
                sdp_rx,
                bot.outbox.clone(),
                answered_tx,
                Arc::clone(&bot.shared),
            )),
        ];
        bot.send(&ClientMessage::Offer { sdp: offer.sdp }).await?;
        match tokio::time::timeout(step, answered_rx).await {
            Err(_) => return Err(BotError::Timeout("the server's answer")),
            Ok(Err(_)) => {
                return Err(match lock(&bot.shared.closed_with).clone() {
                    Some((code, reason)) => BotError::Refused { code, reason },
                    None => BotError::Closed,
                })
            }
            Ok(Ok(Err(e))) => return Err(e),
            Ok(Ok(Ok(()))) => {}
        }

        let answer_sdp = bot
            .pc
            .remote_description()
            .await
            .map(|d| d.sdp)
            .unwrap_or_default();
        for mut publisher in publishers.into_iter().filter(|p| p.active()) {
            let negotiated = publisher.negotiate(&answer_sdp).await?;
            if let Some(e2ee) = &bot.shared.e2ee {
                publisher.encrypt_with(Arc::clone(&e2ee.sealer));
            }
            if publisher.source() == Source::Camera {
                bot.camera_layers = publisher.layers();
            }
            let payload_type = negotiated.payload_type;
            let connection = bot.shared.connection.subscribe();
            let shared = Arc::clone(&bot.shared);
            let config = config.clone();
            bot.publishers.push(tokio::spawn(async move {
                publisher
                    .run(
                        config,
                        you,
                        payload_type,
                        connection,
                        move |tag, bytes, ok| lock(&shared.recorder).sent(tag, bytes, ok),
                    )
                    .await
            }));
        }
        Ok(bot)
    }

    /// The bot's participant id.
    pub fn participant(&self) -> Uuid {
        self.participant
    }

    /// Sends a client message: a [`ClientMessage`], or any JSON at all, to
    /// test the server's refusals of what no client of the protocol sends.
    pub async fn send<M: Serialize + ?Sized>(&self, message: &M) -> Result<(), BotError> {
        self.outbox
            .send(text_frame(message)?)
            .map_err(|_| BotError::Closed)
    }

    /// A cursor over every server message since the handshake (the first
    /// `state` included), each [`Messages::next`] waiting for more.
    pub fn messages(&self) -> Messages {
        Messages {
            shared: Arc::clone(&self.shared),
            next: 0,
            tick: self.shared.messages_tick.subscribe(),
        }
    }

    /// A cursor over the server messages that arrive from now on only: for
    /// waiting on the effect of a command without matching an older message.
    pub fn messages_from_now(&self) -> Messages {
        let next = {
            let log = lock(&self.shared.messages);
            log.start + log.items.len() as u64
        };
        Messages {
            shared: Arc::clone(&self.shared),
            next,
            tick: self.shared.messages_tick.subscribe(),
        }
    }

    /// The server's latest `tracks` mapping.
    pub fn tracks(&self) -> Vec<ServerTrack> {
        lock(&self.shared.tracks).clone()
    }

    /// The close code and reason, once the server has closed the WebSocket.
    pub fn closed_with(&self) -> Option<(u16, String)> {
        lock(&self.shared.closed_with).clone()
    }

    /// A snapshot of what was received and sent so far.
    pub fn report(&self) -> Report {
        let mut report = lock(&self.shared.recorder).report(Some(self.participant));
        if let Some(e2ee) = &self.shared.e2ee {
            report.e2ee.unsent_without_key = e2ee.sealer.unsent();
        }
        report
    }

    /// The last payloads received as they arrived, before any decryption
    /// (as many as [`BotConfig::raw_log`]), oldest first.
    pub fn raw_payloads(&self) -> Vec<RawPayload> {
        lock(&self.shared.raw).iter().cloned().collect()
    }

    /// With end-to-end encryption: whose sender keys this bot holds now,
    /// by key id (generation); empty without it.
    pub fn e2ee_keys_held(&self) -> std::collections::HashMap<Uuid, Vec<u64>> {
        self.shared
            .e2ee
            .as_ref()
            .map(|e| lock(&e.keys).held())
            .unwrap_or_default()
    }

    /// With end-to-end encryption: the key id this bot seals its frames
    /// with now (none in the lobby, or without encryption).
    pub fn e2ee_send_generation(&self) -> Option<u64> {
        self.shared.e2ee.as_ref().and_then(|e| e.sealer.kid())
    }

    /// The last tagged arrivals (as many as [`BotConfig::arrival_log`]), oldest first.
    pub fn arrivals(&self) -> Vec<Arrival> {
        lock(&self.shared.recorder).arrivals()
    }

    /// The last packets sent (as many as [`BotConfig::departure_log`]), oldest first.
    pub fn departures(&self) -> Vec<Departure> {
        lock(&self.shared.recorder).departures()
    }

    /// How many streams the camera is sent as: 3 with simulcast, 1 without
    /// (or when the server's answer refused simulcast), 0 when not published.
    pub fn camera_layers(&self) -> usize {
        self.camera_layers
    }

    /// Tells the server the size at which this bot shows `participant`'s
    /// `source` ([`ClientMessage::Tile`]), so that it sends a simulcast layer
    /// no larger than needed; 0 by 0: not shown.
    pub async fn tile(
        &self,
        participant: Uuid,
        source: Source,
        width: u32,
        height: u32,
    ) -> Result<(), BotError> {
        self.send(&ClientMessage::Tile {
            participant,
            source: source.into(),
            width,
            height,
        })
        .await
    }

    /// The peer connection's state now.
    pub fn connection_state(&self) -> RTCPeerConnectionState {
        *self.shared.connection.borrow()
    }

    /// Waits until ICE and DTLS are connected.
    pub async fn connected(&self, timeout: Duration) -> Result<(), BotError> {
        let mut rx = self.shared.connection.subscribe();
        let state = tokio::time::timeout(timeout, rx.wait_for(settled))
            .await
            .map_err(|_| BotError::Timeout("the peer connection to connect"))?
            .map_err(|_| BotError::Closed)?
            .to_owned();
        match state {
            RTCPeerConnectionState::Connected => Ok(()),
            other => Err(BotError::Connection(other.to_string())),
        }
    }

    /// Stops publishing, closes the peer connection and the WebSocket.
    pub async fn close(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        for p in self.publishers.drain(..) {
            p.abort();
        }
        if let Err(e) = self.pc.close().await {
            tracing::debug!(error = %e, "closing the peer connection");
        }
        let _ = self.outbox.send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        })));
        // Let the writer send the close before the tasks go.
        let mut tasks = std::mem::take(&mut self.tasks);
        if let Some(writer) = tasks.first_mut() {
            let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
        }
        for t in tasks {
            t.abort();
        }
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        for t in self.publishers.iter().chain(self.tasks.iter()) {
            t.abort();
        }
        // Cursors still reading learn that nothing more comes.
        self.shared.end_messages();
        // A bot dropped without `close` still stops its connection's driver.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let pc = Arc::clone(&self.pc);
            handle.spawn(async move {
                let _ = pc.close().await;
            });
        }
    }
}

async fn write_loop(
    mut sink: futures_util::stream::SplitSink<Ws, Message>,
    mut outbox: mpsc::UnboundedReceiver<Message>,
) {
    while let Some(message) = outbox.recv().await {
        let closing = matches!(message, Message::Close(_));
        if sink.send(message).await.is_err() || closing {
            break;
        }
    }
    let _ = sink.close().await;
}

async fn read_loop(
    mut stream: futures_util::stream::SplitStream<Ws>,
    shared: Arc<Shared>,
    sdp: mpsc::UnboundedSender<Sdp>,
    outbox: mpsc::UnboundedSender<Message>,
) {
    while let Some(frame) = stream.next().await {
        let text = match frame {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(frame)) => {
                if let Some(frame) = frame {
                    *lock(&shared.closed_with) =
                        Some((u16::from(frame.code), frame.reason.to_string()));
                }
                break;
            }
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!(error = %e, "signaling WebSocket");
                break;
            }
        };
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            tracing::warn!("the server sent a frame that is not JSON");
            continue;
        };
        match ServerMessage::deserialize(&value) {
            Ok(ServerMessage::Answer { sdp: s }) => {
                let _ = sdp.send(Sdp::Answer(s));
            }
            Ok(ServerMessage::Offer { sdp: s }) => {
                let _ = sdp.send(Sdp::Offer(s));
            }
            Ok(ServerMessage::Error {
                code,
                message,
                refused,
            }) => {
                let _ = sdp.send(Sdp::Error {
                    code,
                    message,
                    refused,
                });
            }
            Ok(ServerMessage::Tracks { tracks }) => {
                *lock(&shared.tracks) = tracks.into_iter().map(ServerTrack::from).collect();
            }
            Ok(ServerMessage::State {
                you, participants, ..
            }) => {
                for m in shared.e2ee_state(you, &participants) {
                    match text_frame(&m) {
                        Ok(frame) => {
                            let _ = outbox.send(frame);
                        }
                        Err(e) => tracing::warn!(error = %e, "encoding a key message"),
                    }
                }
            }
            Ok(message @ ServerMessage::E2eeKey { .. }) => {
                if let Some(ack) = shared.e2ee_key(&message) {
                    match text_frame(&ack) {
                        Ok(frame) => {
                            let _ = outbox.send(frame);
                        }
                        Err(e) => tracing::warn!(error = %e, "encoding a key acknowledgement"),
                    }
                }
            }
            Ok(_) => {}
            // A newer server's type, or one of a shape this bot does not
            // know: nothing to act on, but kept for whoever reads the history.
            Err(e) => tracing::debug!(error = %e, "a server message the bot does not read"),
        }
        shared.push_message(value);
    }
    shared.end_messages();
}

async fn negotiate_loop(
    pc: Arc<dyn PeerConnection>,
    mut sdp: mpsc::UnboundedReceiver<Sdp>,
    outbox: mpsc::UnboundedSender<Message>,
    answered: oneshot::Sender<Result<(), BotError>>,
    shared: Arc<Shared>,
) {
    let mut answered = Some(answered);
    while let Some(item) = sdp.recv().await {
        match item {
            Sdp::Answer(sdp) => {
                let result = match RTCSessionDescription::answer(sdp) {
                    Ok(answer) => pc
                        .set_remote_description(answer)
                        .await
                        .map_err(BotError::from),
                    Err(e) => Err(BotError::from(e)),
                };
                match answered.take() {
                    Some(tx) => {
                        let _ = tx.send(result);
                    }
                    None => tracing::warn!("the server sent an answer to no offer"),
                }
            }
            Sdp::Error {
                code,
                message,
                refused,
            } => {
                if let Some(tx) = answered.take() {
                    // Until its answer, all the bot has sent is its offer
                    // (refused without `refused` when it does not even
                    // parse), so the error is about the offer.
                    let _ = tx.send(Err(BotError::Protocol(format!(
                        "the server refused the offer: {code}: {message}"
                    ))));
                } else if refused == Some(SdpKind::Answer) {
                    // The server's offer stays waiting and what it meant to
                    // add or stop does not happen: the renegotiation failed.
                    tracing::warn!(%code, %message, "the server refused the answer to its offer");
                    lock(&shared.recorder).answer_refused();
                }
            }
            Sdp::Offer(sdp) => {
                let offered_ns = tag::now_ns();
                let answer = answer_offer(pc.as_ref(), sdp)
                    .await
                    .and_then(|sdp| text_frame(&ClientMessage::Answer { sdp }));
                let ok = match answer {
                    Ok(frame) => outbox.send(frame).is_ok(),
                    Err(e) => {
                        tracing::warn!(error = %e, "answering the server's offer");
                        false
                    }
                };
                lock(&shared.recorder).renegotiated(ok, offered_ns, tag::now_ns());
            }
        }
    }
}

async fn answer_offer(pc: &dyn PeerConnection, sdp: String) -> Result<String, BotError> {
    pc.set_remote_description(RTCSessionDescription::offer(sdp)?)
        .await?;
    let answer = pc.create_answer(None).await?;
    pc.set_local_description(answer).await?;
    let answer = pc
        .local_description()
        .await
        .ok_or_else(|| BotError::Protocol("no local description after answering".into()))?;
    Ok(answer.sdp)
}

/// Whether a peer connection has finished connecting, one way or the other.
pub(crate) fn settled(state: &RTCPeerConnectionState) -> bool {
    matches!(
        state,
        RTCPeerConnectionState::Connected
            | RTCPeerConnectionState::Failed
            | RTCPeerConnectionState::Closed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bot's shared state with no connection, keeping `history` messages.
    fn shared_with_history(history: usize) -> Arc<Shared> {
        Arc::new(Shared {
            recorder: Mutex::new(Recorder::new(0)),
            messages: Mutex::new(MessageLog::with_capacity(history)),
            messages_tick: watch::channel(0u64).0,
            connection: watch::channel(RTCPeerConnectionState::New).0,
            gathering: watch::channel(RTCIceGatheringState::New).0,
            tracks: Mutex::new(Vec::new()),
            closed_with: Mutex::new(None),
            e2ee: None,
            raw: Mutex::new(VecDeque::new()),
            raw_capacity: 0,
        })
    }
    use serde_json::json;

    fn config(base: &str) -> BotConfig {
        BotConfig::new(
            Url::parse(base).expect("a URL"),
            Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
        )
    }

    #[test]
    fn signaling_urls() {
        let session = "01234567-89ab-cdef-0123-456789abcdef";
        assert_eq!(
            config("ws://127.0.0.1:8080")
                .signaling_url()
                .map(|u| u.to_string())
                .ok(),
            Some(format!("ws://127.0.0.1:8080/sfu/ws?session={session}"))
        );
        assert_eq!(
            config("https://mediation.example.org/accord")
                .signaling_url()
                .map(|u| u.to_string())
                .ok(),
            Some(format!(
                "wss://mediation.example.org/accord/sfu/ws?session={session}"
            ))
        );
        assert_eq!(
            config("http://127.0.0.1:9/?x=1")
                .signaling_url()
                .map(|u| u.to_string())
                .ok(),
            Some(format!("ws://127.0.0.1:9/sfu/ws?session={session}"))
        );
        assert!(matches!(
            config("ftp://127.0.0.1/").signaling_url(),
            Err(BotError::Config(_))
        ));
    }

    #[test]
    fn media_binds_loopback_for_a_loopback_server() {
        assert_eq!(
            config("ws://127.0.0.1:8080").media_bind(),
            "127.0.0.1:0".parse::<SocketAddr>().expect("an address")
        );
        assert_eq!(
            config("ws://[::1]:8080").media_bind(),
            "[::1]:0".parse::<SocketAddr>().expect("an address")
        );
        assert_eq!(
            config("ws://192.0.2.7:8080").media_bind(),
            "0.0.0.0:0".parse::<SocketAddr>().expect("an address")
        );
        let mut pinned = config("ws://127.0.0.1:8080");
        pinned.bind_ip = Some("192.0.2.1".parse().expect("an address"));
        assert_eq!(
            pinned.media_bind(),
            "192.0.2.1:0".parse::<SocketAddr>().expect("an address")
        );
    }

    #[tokio::test]
    async fn a_small_message_history_keeps_the_latest_and_cursors_skip_ahead() {
        let shared = shared_with_history(2);
        for n in 0..5 {
            shared.push_message(json!({ "type": "state", "n": n }));
        }
        shared.end_messages();
        assert_eq!(lock(&shared.messages).items.len(), 2);
        // A cursor from the beginning starts at the oldest message kept.
        let mut cursor = Messages {
            shared: Arc::clone(&shared),
            next: 0,
            tick: shared.messages_tick.subscribe(),
        };
        assert_eq!(
            cursor.next().await,
            Some(json!({ "type": "state", "n": 3 }))
        );
        assert_eq!(
            cursor.next().await,
            Some(json!({ "type": "state", "n": 4 }))
        );
        assert_eq!(cursor.next().await, None);
        // A capacity of 0 keeps one.
        assert_eq!(MessageLog::with_capacity(0).capacity, 1);
    }

    #[tokio::test]
    async fn message_cursors_see_everything_and_end() {
        let shared = shared_with_history(MESSAGE_HISTORY);
        let cursor = || Messages {
            shared: Arc::clone(&shared),
            next: 0,
            tick: shared.messages_tick.subscribe(),
        };
        shared.push_message(json!({ "type": "state" }));
        let mut early = cursor();
        let waiter = tokio::spawn(async move {
            let a = early.next().await;
            let b = early
                .next_of_type("knock", Duration::from_secs(5))
                .await
                .ok();
            let end = early.next().await;
            (a, b, end)
        });
        tokio::task::yield_now().await;
        shared.push_message(json!({ "type": "chat" }));
        shared.push_message(json!({ "type": "knock" }));
        shared.end_messages();
        let (a, b, end) = waiter.await.expect("the task");
        assert_eq!(a, Some(json!({ "type": "state" })));
        assert_eq!(b, Some(json!({ "type": "knock" })));
        assert_eq!(end, None);
        // A cursor made later still starts at the beginning.
        let mut late = cursor();
        assert_eq!(late.next().await, Some(json!({ "type": "state" })));
        assert!(matches!(
            late.next_of_type("denied", Duration::from_secs(1)).await,
            Err(BotError::Closed)
        ));
    }

    #[tokio::test]
    async fn typed_cursors_pass_over_what_they_cannot_read() {
        let shared = shared_with_history(MESSAGE_HISTORY);
        let someone = Uuid::from_u128(7);
        shared.push_message(json!({ "type": "hologram", "participant": someone }));
        shared.push_message(json!({ "type": "knock" }));
        shared.push_message(json!({ "type": "knock", "participant": someone }));
        shared.end_messages();
        let mut cursor = Messages {
            shared: Arc::clone(&shared),
            next: 0,
            tick: shared.messages_tick.subscribe(),
        };
        let knock = cursor
            .wait_for_message(Duration::from_secs(1), |m| {
                matches!(m, ServerMessage::Knock { .. })
            })
            .await
            .ok();
        assert_eq!(
            knock,
            Some(ServerMessage::Knock {
                participant: someone
            })
        );
        assert!(matches!(
            cursor
                .wait_for_message(Duration::from_secs(1), |_| true)
                .await,
            Err(BotError::Closed)
        ));
    }
}

//! A bot in a Janus videoroom: the same webrtc-rs publisher as [`crate::Bot`]
//! (same transceivers, same tagged RTP) on a publisher handle, and a
//! multistream subscriber handle whose peer connection records what arrives
//! with the same [`Recorder`].

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
    RTCSessionDescription, Registry,
};

use super::janus::{self, Handle, Session};
use crate::bot::BotConfig;
use crate::report::{Arrival, Recorder, Report};
use crate::{media, tag};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a peer connection reports.
struct Handler {
    recorder: Arc<Mutex<Recorder>>,
    connection: watch::Sender<RTCPeerConnectionState>,
    gathering: watch::Sender<RTCIceGatheringState>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.gathering.send_replace(state);
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.connection.send_replace(state);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        tokio::spawn(read_track(track, Arc::clone(&self.recorder)));
    }
}

/// Records every packet of a received track (as the Accord bot does; Janus
/// sets its own stream ids, so none is checked against the tag).
async fn read_track(track: Arc<dyn TrackRemote>, recorder: Arc<Mutex<Recorder>>) {
    let video = track.kind().await == RtpCodecKind::Video;
    while let Some(event) = track.poll().await {
        match event {
            TrackRemoteEvent::OnRtpPacket(packet) => {
                let at = std::time::Instant::now();
                let payload = &packet.payload[..];
                let decoded = if video {
                    tag::decode_vp8(payload)
                } else {
                    tag::decode_opus(payload)
                };
                lock(&recorder).record(decoded.ok(), payload.len(), at, tag::instant_ns(at), None);
            }
            TrackRemoteEvent::OnEnded => break,
            _ => {}
        }
    }
}

struct Peer {
    pc: Arc<dyn PeerConnection>,
    connection: watch::Sender<RTCPeerConnectionState>,
    gathering: watch::Sender<RTCIceGatheringState>,
}

type Watches = (
    watch::Sender<RTCPeerConnectionState>,
    watch::Sender<RTCIceGatheringState>,
);

fn handler(recorder: &Arc<Mutex<Recorder>>) -> (Arc<Handler>, Watches) {
    let connection = watch::channel(RTCPeerConnectionState::New).0;
    let gathering = watch::channel(RTCIceGatheringState::New).0;
    (
        Arc::new(Handler {
            recorder: Arc::clone(recorder),
            connection: connection.clone(),
            gathering: gathering.clone(),
        }),
        (connection, gathering),
    )
}

/// A receive-only peer connection for Janus's subscriber offers.
async fn receiver(bind: IpAddr, handler: Arc<Handler>) -> anyhow::Result<Arc<dyn PeerConnection>> {
    let mut media_engine = MediaEngine::default();
    media_engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: MIME_TYPE_OPUS.to_owned(),
                clock_rate: 48_000,
                channels: 2,
                sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
                rtcp_feedback: vec![],
            },
            payload_type: 111,
        },
        RtpCodecKind::Audio,
    )?;
    media_engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: MIME_TYPE_VP8.to_owned(),
                clock_rate: 90_000,
                channels: 0,
                sdp_fmtp_line: String::new(),
                rtcp_feedback: vec![],
            },
            payload_type: 96,
        },
        RtpCodecKind::Video,
    )?;
    let registry = register_default_interceptors(Registry::new(), &mut media_engine)?;
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(media_engine)
        .with_setting_engine(crate::media::settings())
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_udp_addrs(vec![SocketAddr::new(bind, 0)])
        .build()
        .await?;
    Ok(Arc::new(pc))
}

async fn wait_gathered(
    gathering: &watch::Sender<RTCIceGatheringState>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let mut rx = gathering.subscribe();
    tokio::time::timeout(
        timeout,
        rx.wait_for(|s| *s == RTCIceGatheringState::Complete),
    )
    .await
    .map_err(|_| anyhow::anyhow!("timed out gathering ICE candidates"))??;
    Ok(())
}

async fn wait_connected(
    connection: &watch::Sender<RTCPeerConnectionState>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let mut rx = connection.subscribe();
    let state = *tokio::time::timeout(timeout, rx.wait_for(crate::bot::settled))
        .await
        .map_err(|_| anyhow::anyhow!("timed out connecting to Janus"))??;
    anyhow::ensure!(
        state == RTCPeerConnectionState::Connected,
        "the peer connection to Janus is {state}"
    );
    Ok(())
}

/// One participant in a Janus videoroom.
pub struct JanusBot {
    participant: Uuid,
    room: u64,
    config: BotConfig,
    session: Arc<Session>,
    recorder: Arc<Mutex<Recorder>>,
    publisher: Option<(Handle, Peer, u64)>,
    subscriber: Option<(Handle, Peer)>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for JanusBot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JanusBot")
            .field("participant", &self.participant)
            .field("room", &self.room)
            .finish_non_exhaustive()
    }
}

impl JanusBot {
    /// A bot in `room` (created by [`create_room`]): a Janus session, nothing
    /// negotiated yet.
    pub async fn new(janus_url: &str, room: u64, config: BotConfig) -> anyhow::Result<JanusBot> {
        let session = Session::create(janus_url, config.step_timeout).await?;
        Ok(JanusBot {
            participant: Uuid::new_v4(),
            room,
            recorder: Arc::new(Mutex::new(Recorder::with_logs(
                config.arrival_log,
                config.departure_log,
            ))),
            config,
            session,
            publisher: None,
            subscriber: None,
            tasks: Vec::new(),
        })
    }

    /// The id its tags carry.
    pub fn participant(&self) -> Uuid {
        self.participant
    }

    /// Janus's feed id, once publishing.
    pub fn feed(&self) -> Option<u64> {
        self.publisher.as_ref().map(|p| p.2)
    }

    /// Joins as a publisher with the Accord bot's offer (microphone, camera,
    /// screen; send-only), applies Janus's answer and starts sending tagged
    /// media once connected. Returns the feed id.
    pub async fn publish(&mut self) -> anyhow::Result<u64> {
        let step = self.config.step_timeout;
        let handle = self.session.attach(janus::VIDEOROOM).await?;
        let joined = handle
            .request_async(
                janus::join_publisher(self.room, &self.participant.to_string()),
                None,
            )
            .await?;
        let feed = janus::plugin_data(&joined)?["id"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("no feed id in {joined}"))?;
        let (h, p) = handler(&self.recorder);
        let (pc, publishers) = media::peer_connection(&self.config, self.participant, h).await?;
        let peer = Peer {
            pc: Arc::clone(&pc),
            connection: p.0,
            gathering: p.1,
        };
        let offer = pc.create_offer(None).await?;
        pc.set_local_description(offer).await?;
        wait_gathered(&peer.gathering, step).await?;
        let offer = pc
            .local_description()
            .await
            .ok_or_else(|| anyhow::anyhow!("no local description"))?;
        let answered = handle
            .request_async(janus::configure(), Some(("offer", &offer.sdp)))
            .await?;
        let (_, sdp) = janus::jsep(&answered)
            .ok_or_else(|| anyhow::anyhow!("Janus answered configure without SDP"))?;
        let sdp = sdp.to_owned();
        pc.set_remote_description(RTCSessionDescription::answer(sdp.clone())?)
            .await?;
        // Janus lists the feed to subscribers once its WebRTC is up.
        wait_connected(&peer.connection, step).await?;
        for mut publisher in publishers.into_iter().filter(|p| p.active()) {
            let payload_type = publisher.negotiate(&sdp).await?.payload_type;
            let connection = peer.connection.subscribe();
            let recorder = Arc::clone(&self.recorder);
            let config = self.config.clone();
            let you = self.participant;
            self.tasks.push(tokio::spawn(async move {
                publisher
                    .run(
                        config,
                        you,
                        payload_type,
                        connection,
                        move |tag, bytes, ok| lock(&recorder).sent(tag, bytes, ok),
                    )
                    .await
            }));
        }
        self.publisher = Some((handle, peer, feed));
        Ok(feed)
    }

    /// Subscribes to every stream of `feeds` (joining as a subscriber the
    /// first time, `subscribe` later) and answers Janus's offer.
    pub async fn subscribe(&mut self, feeds: &[u64]) -> anyhow::Result<()> {
        if feeds.is_empty() {
            return Ok(());
        }
        let step = self.config.step_timeout;
        if let Some((handle, peer)) = &self.subscriber {
            let offered =
                retry_no_such_feed(step, || handle.request_async(janus::subscribe(feeds), None))
                    .await?;
            return answer(handle, peer, &offered, step, false).await;
        }
        let handle = self.session.attach(janus::VIDEOROOM).await?;
        let (h, p) = handler(&self.recorder);
        let bind = self.config.media_bind().ip();
        let pc = receiver(bind, h).await?;
        let peer = Peer {
            pc,
            connection: p.0,
            gathering: p.1,
        };
        let offered = retry_no_such_feed(step, || {
            handle.request_async(janus::join_subscriber(self.room, feeds), None)
        })
        .await;
        let result = match offered {
            Ok(offered) => answer(&handle, &peer, &offered, step, true).await,
            Err(e) => Err(e),
        };
        self.subscriber = Some((handle, peer));
        result
    }

    /// Waits until every peer connection is up.
    pub async fn connected(&self, timeout: Duration) -> anyhow::Result<()> {
        if let Some((_, peer, _)) = &self.publisher {
            wait_connected(&peer.connection, timeout).await?;
        }
        if let Some((_, peer)) = &self.subscriber {
            wait_connected(&peer.connection, timeout).await?;
        }
        Ok(())
    }

    /// A snapshot of what was received and sent.
    pub fn report(&self) -> Report {
        lock(&self.recorder).report(Some(self.participant))
    }

    /// The arrival log.
    pub fn arrivals(&self) -> Vec<Arrival> {
        lock(&self.recorder).arrivals()
    }

    /// Stops sending, hangs up and destroys the Janus session.
    pub async fn close(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        if let Some((handle, peer, _)) = self.publisher.take() {
            let _ = peer.pc.close().await;
            handle.detach().await;
        }
        if let Some((handle, peer)) = self.subscriber.take() {
            let _ = peer.pc.close().await;
            handle.detach().await;
        }
        self.session.destroy().await;
    }
}

/// Repeats a subscription while Janus does not list the feed yet (error 428:
/// its publisher's WebRTC came up a moment ago), for at most `timeout`.
async fn retry_no_such_feed<F, Fut>(timeout: Duration, mut request: F) -> anyhow::Result<Value>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Value, janus::JanusError>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match request().await {
            Err(janus::JanusError::Plugin { code: 428, .. })
                if tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return Ok(other?),
        }
    }
}

/// Answers the offer in a subscriber event and sends `start`.
async fn answer(
    handle: &Handle,
    peer: &Peer,
    offered: &Value,
    step: Duration,
    first: bool,
) -> anyhow::Result<()> {
    let (kind, sdp) =
        janus::jsep(offered).ok_or_else(|| anyhow::anyhow!("Janus sent no offer: {offered}"))?;
    anyhow::ensure!(kind == "offer", "Janus sent a {kind}, not an offer");
    let pc = &peer.pc;
    pc.set_remote_description(RTCSessionDescription::offer(sdp.to_owned())?)
        .await?;
    let local = pc.create_answer(None).await?;
    pc.set_local_description(local).await?;
    if first {
        wait_gathered(&peer.gathering, step).await?;
    }
    let local = pc
        .local_description()
        .await
        .ok_or_else(|| anyhow::anyhow!("no local description"))?;
    handle
        .request_async(janus::start(), Some(("answer", &local.sdp)))
        .await?;
    Ok(())
}

/// Creates videoroom `room` for `publishers` publishers through a short-lived
/// session.
pub async fn create_room(
    janus_url: &str,
    room: u64,
    publishers: usize,
    timeout: Duration,
) -> anyhow::Result<()> {
    let session = Session::create(janus_url, timeout).await?;
    let handle = session.attach(janus::VIDEOROOM).await?;
    let created = handle
        .request(janus::create_room(room, publishers.max(1)))
        .await;
    handle.detach().await;
    session.destroy().await;
    created?;
    Ok(())
}

/// Destroys videoroom `room` (best effort).
pub async fn destroy_room(janus_url: &str, room: u64, timeout: Duration) {
    let Ok(session) = Session::create(janus_url, timeout).await else {
        return;
    };
    if let Ok(handle) = session.attach(janus::VIDEOROOM).await {
        if let Err(e) = handle.request(janus::destroy_room(room)).await {
            tracing::debug!(error = %e, "destroying a videoroom");
        }
        handle.detach().await;
    }
    session.destroy().await;
}

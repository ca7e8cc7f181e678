//! The media path of one live session, sans-IO: one str0m [`Rtc`] per
//! participant, RTP forwarded as packets (never depacketized), on the routes
//! the session core decides ([`Routes`]).
//!
//! The driver feeds it datagrams, SDP from signaling, route changes and the
//! time, and drains [`MediaOutput`]s: datagrams to send, messages for
//! participants (answers, offers, track maps, the active speaker) and link
//! quality for mediators. It never reads a clock or touches a socket, so the
//! tests run it on a simulated clock with a simulated network.
//!
//! Isolation is checked per packet: a packet is written to a receiver only if
//! the current [`Routes`] allow that sender's source to that receiver, so a
//! move takes effect on the very next packet, before any renegotiation.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::bwe::{Bitrate, BweKind};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::ice::StunMessage;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid, Pt, Rid};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, SeqNo, Ssrc, Vp8Descriptor};
use str0m::{Candidate, Event, Input, Output, PacerReason, Reason, Rtc};

use crate::metrics::Metrics;
use crate::protocol::{MediaSource, ParticipantId, QualityView, SdpKind, ServerMessage, TrackView};
use crate::session::Routes;
use crate::simulcast::{self, Admit, Demand, Layers, Selection};
use crate::vp8;

/// At most one keyframe request per second to a publisher's stream when a
/// receiver asks for one to recover from loss (a receiver that lost a frame
/// keeps asking until it decodes again).
pub const KEYFRAME_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest time between two keyframe requests to a publisher's stream
/// when a receiver starts it (an admission, a move, a recall, a new m-line or
/// a resumed video): that receiver shows a black tile until the key frame, so
/// it must not wait out the loss-recovery interval that another receiver's
/// start just began. A publisher encodes a key frame in a frame interval or
/// two; asks within this time are answered by the key frame already coming.
pub const KEYFRAME_START_INTERVAL: Duration = Duration::from_millis(150);
/// How soon a keyframe request is retried when the publisher's stream has
/// not started yet.
const KEYFRAME_RETRY: Duration = Duration::from_millis(200);
/// How often the active speaker of each room is decided.
pub const SPEAKER_INTERVAL: Duration = Duration::from_millis(400);
/// How often mediators get link quality.
pub const QUALITY_INTERVAL: Duration = Duration::from_secs(2);
/// Quieter than this (dBov) is silence.
const SPEECH_THRESHOLD: f32 = -50.0;
/// Audio older than this no longer counts towards speaking.
const SPEECH_MEMORY: Duration = Duration::from_millis(1000);
/// How often each receiver's simulcast layers are chosen again (besides on
/// each bandwidth estimate and tile change).
pub const ALLOCATION_INTERVAL: Duration = Duration::from_millis(500);
/// A receiver's bandwidth estimate until str0m's BWE has one, bits per
/// second. High enough for the top layer of a camera (about 1.5 Mbit/s with
/// the upgrade margin): the estimate grows only to about twice what is
/// actually sent, so a receiver started below the top layer may never be
/// measured able to take it. A link that cannot carry it is found within a
/// second or two (the estimate falls at once; audio is reserved first).
const INITIAL_ESTIMATE: u64 = 2_500_000;
/// How long the highest estimate a receiver reached is remembered (see
/// `Media::seed_estimate`).
const PEAK_MEMORY: Duration = Duration::from_secs(30);
/// Shortest time between two raises of a receiver's estimate to the rate
/// of what cannot be reduced (see `Media::allocate`).
const FLOOR_INTERVAL: Duration = Duration::from_secs(1);
/// How often a receiver held below its wanted layers makes str0m probe.
const PROBE_NUDGE: Duration = Duration::from_secs(2);
/// Most tile sizes kept per receiver (they name others' sources).
const MAX_TILES: usize = 64;

/// Where clients reach the media port.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Host candidates on the one UDP port: an address per public IP.
    pub udp_candidates: Vec<SocketAddr>,
    /// Passive ICE-TCP candidates on the one TCP port.
    pub tcp_candidates: Vec<SocketAddr>,
    /// TURN relays handed to clients, if any.
    pub turn: Option<crate::turn::TurnConfig>,
    /// Estimate each receiver's bandwidth (transport-wide-cc) and choose
    /// simulcast layers from it. Off: layers follow tile sizes only, and
    /// nothing is paced (str0m paces whatever it sends at the estimate).
    pub bandwidth_estimation: bool,
}

impl MediaConfig {
    /// The local candidate a datagram that arrived at `destination` was sent
    /// to: the candidate itself when announced as such, else (a socket bound
    /// to all interfaces behind 1:1 NAT: the packet arrives at the private
    /// address, the candidate is the public one) the first announced
    /// candidate of the same port and family. ICE answers only requests to a
    /// local candidate.
    pub fn candidate_for(&self, proto: Protocol, destination: SocketAddr) -> SocketAddr {
        let candidates = match proto {
            Protocol::Tcp => &self.tcp_candidates,
            _ => &self.udp_candidates,
        };
        if candidates.contains(&destination) {
            return destination;
        }
        candidates
            .iter()
            .find(|c| c.port() == destination.port() && c.is_ipv4() == destination.is_ipv4())
            .copied()
            .unwrap_or(destination)
    }
}

/// Something for the driver to do.
#[derive(Debug)]
pub enum MediaOutput {
    /// Send a datagram.
    Transmit(Transmit),
    /// Send a signaling message to a participant.
    Send {
        /// To whom.
        to: ParticipantId,
        /// What.
        message: ServerMessage,
    },
    /// Link quality of everyone with media, for the mediators.
    Quality(Vec<QualityView>),
    /// A new peer connection listens on this ICE username fragment.
    Listen {
        /// The local ufrag.
        ufrag: String,
    },
    /// A peer connection ended: its ufrag and addresses are no longer ours.
    Forget {
        /// The local ufrag.
        ufrag: String,
        /// The remote addresses it used.
        addrs: Vec<SocketAddr>,
    },
    /// A participant's media connection ended (ICE gave up); their signaling
    /// may still be up, and a new offer starts it again.
    Lost {
        /// Whose.
        who: ParticipantId,
    },
}

/// Why SDP from a client was refused. The message is for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The offer is not SDP str0m can answer.
    #[error("the offer could not be accepted: {0}")]
    BadOffer(String),
    /// The answer does not fit the offer.
    #[error("the answer could not be accepted: {0}")]
    BadAnswer(String),
    /// An answer came with no offer waiting.
    #[error("there is no offer to answer")]
    UnexpectedAnswer,
    /// An answer before the client's own offer.
    #[error("send an offer first")]
    NoPeer,
}

impl MediaError {
    /// The `error` message for the client.
    pub fn to_message(&self) -> ServerMessage {
        let refused = match self {
            MediaError::BadOffer(_) => SdpKind::Offer,
            _ => SdpKind::Answer,
        };
        ServerMessage::Error {
            code: "INVALID".into(),
            message: self.to_string(),
            refused: Some(refused),
        }
    }
}

/// Rewrites one outgoing stream's sequence numbers and timestamps so that it
/// stays continuous across pauses (moves) and publisher restarts: a
/// restarted publisher starts from new random ones, which a receiver's
/// jitter buffer would take for a stream from the past or far future.
#[derive(Debug, Default, Clone, Copy)]
struct Rewrite {
    /// The current run: incoming SSRC, first incoming seq, the outgoing seq it
    /// maps to, and the offset added (wrapping) to incoming timestamps.
    run: Option<Run>,
    /// Highest outgoing seq written.
    max_out: u64,
    /// The last outgoing timestamp and when it was written.
    last_time: Option<(u32, Instant)>,
    /// Runs started so far: identifies the current one.
    runs: u64,
}

#[derive(Debug, Clone, Copy)]
struct Run {
    ssrc: Ssrc,
    base_in: u64,
    base_out: u64,
    time_offset: u32,
}

impl Rewrite {
    /// The outgoing sequence number and timestamp for an incoming packet, or
    /// `None` for a late packet from before the run (dropped: the receiver
    /// has moved on). `clock_rate` is the codec's (48 kHz, 90 kHz).
    fn map(
        &mut self,
        ssrc: Ssrc,
        seq: u64,
        time: u32,
        now: Instant,
        clock_rate: u32,
    ) -> Option<(u64, u32)> {
        let run = match self.run {
            Some(run) if run.ssrc == ssrc => {
                if seq < run.base_in {
                    return None;
                }
                run
            }
            _ => {
                // Continue the outgoing clock from where it stopped, advanced
                // by the time that passed.
                let time_offset = match self.last_time {
                    Some((last, at)) => {
                        let elapsed = now.saturating_duration_since(at).as_secs_f64();
                        let ticks = ((elapsed * f64::from(clock_rate)) as u32).max(1);
                        last.wrapping_add(ticks).wrapping_sub(time)
                    }
                    None => 0,
                };
                let run = Run {
                    ssrc,
                    base_in: seq,
                    base_out: self.max_out + 1,
                    time_offset,
                };
                self.run = Some(run);
                self.runs += 1;
                run
            }
        };
        let out = run.base_out + (seq - run.base_in);
        // Stay far below 2^16 rollovers the receiver could not follow.
        if out > self.max_out + 30_000 {
            self.run = None;
            return None;
        }
        let out_time = time.wrapping_add(run.time_offset);
        if out >= self.max_out {
            self.last_time = Some((out_time, now));
        }
        self.max_out = self.max_out.max(out);
        Some((out, out_time))
    }

    /// The next packet starts a new run (the route was interrupted).
    fn restart(&mut self) {
        self.run = None;
    }

    /// Which run the last mapped packet belonged to.
    fn run(&self) -> u64 {
        self.runs
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutState {
    /// In an offer the client has not answered yet.
    Negotiating,
    /// Answered: packets may flow.
    Open,
    /// To be stopped in the next offer.
    ToStop,
    /// Stopped in an offer not yet answered.
    Stopping,
}

/// One m-line the server sends to a client: one source of one other participant.
#[derive(Debug)]
struct OutTrack {
    sender: ParticipantId,
    source: MediaSource,
    mid: Option<Mid>,
    state: OutState,
    rewrite: Rewrite,
    /// Payload type in this client's numbering, per codec.
    pt: Option<(Codec, Pt)>,
    /// Which of the sender's layers flows (video; audio has one).
    select: Selection,
    /// VP8 picture ids continued across layers and runs.
    pictures: vp8::PictureIds,
    /// Paused because the estimate did not cover even the lowest layer:
    /// since when, and when a trial of the lowest layer may start.
    starved: Option<Starved>,
}

/// A video paused for bandwidth. An estimate only grows with traffic to
/// measure, so a paused video would stay paused on a link that has since
/// recovered (or whose estimate fell on a burst of random loss): the lowest
/// layer is tried again after [`STARVED_RETRY`], for [`STARVED_TRIAL`],
/// backing off while the trials fail.
#[derive(Debug, Clone, Copy)]
struct Starved {
    /// When the next trial starts.
    retry_at: Instant,
    /// The wait before the trial after that.
    backoff: Duration,
    /// While `Some`, the lowest layer flows as a trial until then.
    trial_until: Option<Instant>,
}

impl Starved {
    /// A video starting for its receiver (a new m-line, a move, a recall, a
    /// tile shown again) is a trial of its lowest layer from the start: it
    /// is not paused for [`START_TRIAL`] whatever the estimate says. An
    /// estimate measured while the receiver got little, or cut by a burst
    /// of delay as several videos start at once, would otherwise pause it
    /// before its first frame, for [`STARVED_RETRY`]. A trial that does not
    /// lift the estimate pauses the video as any failed trial does.
    fn start(now: Instant) -> Self {
        Starved {
            retry_at: now,
            backoff: STARVED_RETRY / 2,
            trial_until: Some(now + START_TRIAL),
        }
    }
}

/// How long a starting video keeps at least its lowest layer.
const START_TRIAL: Duration = Duration::from_secs(2);
/// First wait before trying a paused video's lowest layer again.
const STARVED_RETRY: Duration = Duration::from_secs(4);
/// How long a trial lasts: enough for the estimate to follow the traffic.
const STARVED_TRIAL: Duration = Duration::from_secs(3);
/// The longest wait between trials.
const STARVED_MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Link quality inputs, from str0m's stats events.
#[derive(Debug, Default, Clone, Copy)]
struct Quality {
    last_bytes: Option<(Instant, u64, u64)>,
    receive_kbps: f64,
    send_kbps: f64,
    loss: f64,
    rtt_ms: Option<f64>,
    jitter_ms: Option<f64>,
}

#[derive(Debug)]
struct Peer {
    rtc: Rtc,
    ufrag: String,
    addrs: Vec<SocketAddr>,
    /// What the client publishes, by the m-lines of its offer.
    published: Vec<(Mid, MediaSource)>,
    out: Vec<OutTrack>,
    pending: Option<SdpPendingOffer>,
    /// The mids of the pending offer's m-sections, in order: an answer must
    /// have the same (RFC 8829 5.3.1), checked before the offer is given up.
    pending_mids: Vec<String>,
    /// The client's track map is out of date.
    tracks_changed: bool,
    timeout: Option<Instant>,
    /// The latest time given to `rtc` in a timeout. It may run ahead of the
    /// clock by about 1 us per packet of a burst (tens of microseconds for a
    /// read of 64 datagrams): str0m's pacer asks to be called 1 us after the
    /// last time it was given for each packet it lets out. Timeouts hand
    /// `max(rtc_time, now)`, so the clock catches up.
    rtc_time: Instant,
    /// The deadline last put into [`Media`]'s timers for this peer.
    scheduled: Option<Instant>,
    /// Last keyframe request sent to this publisher, per m-line and layer.
    asked_keyframe: HashMap<(Mid, Option<Rid>), Instant>,
    /// Smoothed audio level (dBov) and when it was last heard.
    level: Option<(f32, Instant)>,
    quality: Quality,
    /// NACKs this subscriber sent so far, per m-line.
    nacks_seen: HashMap<Mid, u64>,
    /// Keyframe requests waiting for their interval to pass, and when each
    /// may go out.
    deferred_keyframes: HashMap<(Mid, Option<Rid>), Instant>,
    /// What each incoming stream and payload type carries (source, codec,
    /// simulcast layer), once resolved.
    incoming: HashMap<(Ssrc, Pt), (MediaSource, Codec, u8)>,
    /// The layers of each published source (one without simulcast).
    layers: HashMap<MediaSource, Layers>,
    /// The size this client shows others' video at, per sender and source.
    tiles: HashMap<(ParticipantId, MediaSource), (u32, u32)>,
    /// The bandwidth estimate towards this client, bits per second.
    estimate: Option<u64>,
    /// The highest estimate towards this client within [`PEAK_MEMORY`], and
    /// when it was reached.
    peak: Option<(u64, Instant)>,
    /// When the estimate was last raised to what cannot be reduced.
    floored: Option<Instant>,
    /// When the desired rate is next lowered for a round (see
    /// `Media::allocate`).
    nudge: Option<Instant>,
    /// The minimum and desired rates last given to the BWE.
    bwe_rates: (u64, u64),
}

impl Peer {
    /// Hands `rtc` a timeout at `at`, or at the latest time it was given if
    /// that is later (str0m's time never goes back).
    fn advance(&mut self, who: ParticipantId, at: Instant) {
        self.rtc_time = self.rtc_time.max(at);
        if let Err(e) = self.rtc.handle_input(Input::Timeout(self.rtc_time)) {
            tracing::debug!(participant = %who, error = %e, "media timeout refused");
        }
    }

    /// When this peer next needs [`Media::handle_timeout`]: its connection's
    /// timeout or a deferred keyframe request, whichever comes first.
    fn deadline(&self) -> Option<Instant> {
        match (self.timeout, self.keyframe_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When a deferred keyframe request may go out.
    fn keyframe_due(&self) -> Option<Instant> {
        self.deferred_keyframes.values().min().copied()
    }
}

impl Peer {
    fn source_of(&self, mid: Mid) -> Option<MediaSource> {
        self.published
            .iter()
            .find(|(m, _)| *m == mid)
            .map(|(_, s)| *s)
    }

    fn mid_of(&self, source: MediaSource) -> Option<Mid> {
        self.published
            .iter()
            .find(|(_, s)| *s == source)
            .map(|(m, _)| *m)
    }

    /// Asks the client for a keyframe on `mid` (on the simulcast layer
    /// `rid`), at most once per `interval` per layer
    /// ([`KEYFRAME_INTERVAL`] or [`KEYFRAME_START_INTERVAL`]); a request
    /// within the interval is deferred to its end, not dropped.
    fn request_keyframe(
        &mut self,
        now: Instant,
        mid: Mid,
        rid: Option<Rid>,
        kind: KeyframeRequestKind,
        interval: Duration,
    ) -> bool {
        let key = (mid, rid);
        if let Some(last) = self.asked_keyframe.get(&key) {
            let due = *last + interval;
            if now < due {
                let deferred = self.deferred_keyframes.entry(key).or_insert(due);
                *deferred = (*deferred).min(due);
                return false;
            }
        }
        self.deferred_keyframes.remove(&key);
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_rx_by_mid(mid, rid) else {
            // The publisher's stream is not known yet (no packet so far):
            // try again shortly rather than forget the request.
            self.deferred_keyframes.insert(key, now + KEYFRAME_RETRY);
            return false;
        };
        stream.request_keyframe(kind);
        self.asked_keyframe.insert(key, now);
        true
    }
}

/// The media of one live session.
#[derive(Debug)]
pub struct Media {
    config: Arc<MediaConfig>,
    metrics: Arc<Metrics>,
    /// The driver's clock, if it runs in real time ([`Media::use_clock`]).
    clock: Option<fn() -> Instant>,
    peers: HashMap<ParticipantId, Peer>,
    by_addr: HashMap<SocketAddr, ParticipantId>,
    by_ufrag: HashMap<String, ParticipantId>,
    routes: Routes,
    /// Peers with work to poll.
    dirty: HashSet<ParticipantId>,
    /// The peers' deadlines, earliest first. An entry counts only while it
    /// equals its peer's `scheduled`: a peer whose deadline moves gets a new
    /// entry, and the old one is dropped when it reaches the top. Finding
    /// the next deadline and the peers due is then O(log n), not a scan of
    /// every peer on every wake-up (which grew with the audience: under
    /// fan-out every receiver's feedback is a wake-up).
    timers: BinaryHeap<Reverse<(Instant, ParticipantId)>>,
    outputs: VecDeque<MediaOutput>,
    speakers: HashMap<crate::protocol::RoomId, Option<ParticipantId>>,
    next_speaker_tick: Option<Instant>,
    next_quality_tick: Option<Instant>,
    next_allocation_tick: Option<Instant>,
}

/// How many already-due timeouts in a row, with no datagram between them,
/// one poll of a peer hands to its connection before leaving the rest to the
/// timers (should str0m keep asking without progress).
const MAX_IMMEDIATE_TIMEOUTS: u32 = 4;

/// After this many datagrams, one poll of a peer hands its connection no
/// more timeouts and leaves the rest to the timers, so that one receiver's
/// backlog cannot hold up the others' for long.
const MAX_POLL_TRANSMITS: u32 = 1024;

fn rtc_for(now: Instant, bandwidth_estimation: bool) -> Rtc {
    let builder = Rtc::builder()
        .set_rtp_mode(true)
        .set_ice_lite(true)
        .clear_codecs()
        // Opus with RFC 2198 RED folded on (listed first in answers, so
        // browsers send redundant audio); kept only where the client offers it.
        .enable_opus(true, true)
        .enable_vp8(true)
        .set_stats_interval(Some(Duration::from_secs(1)));
    if bandwidth_estimation {
        // Estimates towards each receiver drive its simulcast layers.
        builder
            .enable_bwe(Some(Bitrate::bps(INITIAL_ESTIMATE)))
            .build(now)
    } else {
        builder.build(now)
    }
}

/// The codec a payload type carries; [`Codec::Red`] for the RED payload
/// type str0m folds onto Opus.
fn codec_of(rtc: &Rtc, pt: Pt) -> Option<Codec> {
    let params = rtc.codec_config().params();
    params
        .iter()
        .find(|p| p.pt() == pt)
        .map(|p| p.spec().codec)
        .or_else(|| {
            params
                .iter()
                .any(|p| p.spec().codec == Codec::Opus && p.red() == Some(pt))
                .then_some(Codec::Red)
        })
}

/// The payload type for `codec` in this peer's numbering; for
/// [`Codec::Red`], Opus's RED payload type if the peer negotiated RED.
fn pt_for(rtc: &Rtc, codec: Codec) -> Option<Pt> {
    let params = rtc.codec_config().params();
    if codec == Codec::Red {
        return params
            .iter()
            .find(|p| p.spec().codec == Codec::Opus)
            .and_then(|p| p.red());
    }
    params
        .iter()
        .find(|p| p.spec().codec == codec)
        .map(|p| p.pt())
}

impl Media {
    /// No one connected yet.
    pub fn new(config: Arc<MediaConfig>, metrics: Arc<Metrics>) -> Self {
        Media {
            config,
            metrics,
            peers: HashMap::new(),
            by_addr: HashMap::new(),
            by_ufrag: HashMap::new(),
            routes: Routes::default(),
            dirty: HashSet::new(),
            timers: BinaryHeap::new(),
            outputs: VecDeque::new(),
            speakers: HashMap::new(),
            next_speaker_tick: None,
            next_quality_tick: None,
            next_allocation_tick: None,
            clock: None,
        }
    }

    /// Lets the media path read the clock to see whether a connection's
    /// deadline has already passed while it was being polled (str0m's pacer
    /// sets deadlines a few microseconds after the time it was given, which
    /// a timer would fire a millisecond later at best). Without a clock (a
    /// simulation), only the time passed in counts.
    pub fn use_clock(&mut self, clock: fn() -> Instant) {
        self.clock = Some(clock);
    }

    /// Whose a datagram is: by source address once known, else by the ICE
    /// username of a STUN request. A table lookup either way.
    pub fn owner(&self, source: SocketAddr, datagram: &[u8]) -> Option<ParticipantId> {
        if let Some(who) = self.by_addr.get(&source) {
            return Some(*who);
        }
        let ufrag = stun_local_ufrag(datagram)?;
        self.by_ufrag.get(ufrag).copied()
    }

    /// The client's offer: (re)starts the participant's media with a new peer
    /// connection and queues the answer.
    pub fn offer(&mut self, now: Instant, who: ParticipantId, sdp: &str) -> Result<(), MediaError> {
        let offer = SdpOffer::from_sdp_string(sdp)
            .map_err(|e| MediaError::BadOffer(short(&e.to_string())))?;
        let mut rtc = rtc_for(now, self.config.bandwidth_estimation);
        for addr in &self.config.udp_candidates {
            if let Ok(c) = Candidate::host(*addr, "udp") {
                rtc.add_local_candidate(c);
            }
        }
        for addr in &self.config.tcp_candidates {
            if let Ok(c) = Candidate::builder()
                .tcp()
                .host(*addr)
                .tcptype(str0m::net::TcpType::Passive)
                .build()
            {
                rtc.add_local_candidate(c);
            }
        }
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| MediaError::BadOffer(short(&e.to_string())))?;
        let ufrag = rtc.direct_api().local_ice_credentials().ufrag;
        // The tiles the client shows others in stay as they were.
        let tiles = self
            .peers
            .get_mut(&who)
            .map(|p| std::mem::take(&mut p.tiles))
            .unwrap_or_default();
        self.drop_peer(who);
        self.by_ufrag.insert(ufrag.clone(), who);
        self.outputs.push_back(MediaOutput::Listen {
            ufrag: ufrag.clone(),
        });
        self.peers.insert(
            who,
            Peer {
                rtc,
                ufrag,
                addrs: Vec::new(),
                published: Vec::new(),
                out: Vec::new(),
                pending: None,
                pending_mids: Vec::new(),
                tracks_changed: true,
                timeout: None,
                rtc_time: now,
                scheduled: None,
                asked_keyframe: HashMap::new(),
                level: None,
                quality: Quality::default(),
                nacks_seen: HashMap::new(),
                deferred_keyframes: HashMap::new(),
                incoming: HashMap::new(),
                layers: HashMap::new(),
                tiles,
                estimate: None,
                peak: None,
                floored: None,
                nudge: None,
                bwe_rates: (0, 0),
            },
        );
        // Everyone else's m-lines carrying this participant continue on the
        // new publisher streams from their next packet.
        for peer in self.peers.values_mut() {
            for t in peer.out.iter_mut().filter(|t| t.sender == who) {
                t.rewrite.restart();
            }
        }
        self.outputs.push_back(MediaOutput::Send {
            to: who,
            message: ServerMessage::Answer {
                sdp: with_candidates_in_every_section(&answer.to_sdp_string()),
            },
        });
        self.dirty.insert(who);
        self.metrics.peers_changed(1);
        self.drive(now);
        Ok(())
    }

    /// The client's answer to the server's offer.
    pub fn answer(
        &mut self,
        now: Instant,
        who: ParticipantId,
        sdp: &str,
    ) -> Result<(), MediaError> {
        let peer = self.peers.get_mut(&who).ok_or(MediaError::NoPeer)?;
        if peer.pending.is_none() {
            return Err(MediaError::UnexpectedAnswer);
        }
        let answer = SdpAnswer::from_sdp_string(sdp)
            .map_err(|e| MediaError::BadAnswer(short(&e.to_string())))?;
        // What str0m would refuse after giving up the offer is refused here,
        // with the offer still waiting for a corrected answer.
        let mids = sdp_mids(sdp);
        if mids != peer.pending_mids {
            return Err(MediaError::BadAnswer(format!(
                "its m-sections ({}) are not those of the offer ({})",
                short(&mids.join(" ")),
                short(&peer.pending_mids.join(" "))
            )));
        }
        let Some(pending) = peer.pending.take() else {
            return Err(MediaError::UnexpectedAnswer);
        };
        peer.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| MediaError::BadAnswer(short(&e.to_string())))?;
        // Tracks queued after that offer went out (no mid yet) wait for the next.
        for t in &mut peer.out {
            if t.state == OutState::Negotiating && t.mid.is_some() {
                t.state = OutState::Open;
            }
        }
        peer.out.retain(|t| t.state != OutState::Stopping);
        peer.tracks_changed = true;
        // New m-lines need a keyframe from their publishers (simulcast ones
        // once their layer is chosen, just below).
        let senders: Vec<(ParticipantId, MediaSource, u8)> = peer
            .out
            .iter()
            .filter(|t| t.source != MediaSource::Microphone)
            .filter_map(|t| t.select.target.map(|layer| (t.sender, t.source, layer)))
            .collect();
        for (sender, source, layer) in senders {
            if self.routes.allows(sender, who, source) {
                self.ask_keyframe(now, sender, source, layer, KEYFRAME_START_INTERVAL);
            }
        }
        self.allocate(now, who);
        self.dirty.insert(who);
        self.negotiate(who);
        self.drive(now);
        Ok(())
    }

    /// The session's rooms or mutes changed. Packets follow the new routes
    /// from now on; m-lines are added by renegotiation where needed.
    pub fn set_routes(&mut self, now: Instant, routes: Routes) {
        let old = std::mem::replace(&mut self.routes, routes);
        self.apply_routes(now, &old);
    }

    /// Applies the current routes, treating what `old` allowed as already flowing.
    fn apply_routes(&mut self, now: Instant, old: &Routes) {
        let receivers: Vec<ParticipantId> = self.peers.keys().copied().collect();
        for receiver in receivers {
            let senders: Vec<(ParticipantId, Vec<(MediaSource, bool)>)> = self
                .peers
                .iter()
                .filter(|(s, _)| **s != receiver)
                .map(|(s, p)| {
                    let sources = p
                        .published
                        .iter()
                        .map(|(_, src)| {
                            let layered = p.layers.get(src).is_some_and(Layers::is_simulcast);
                            (*src, layered)
                        })
                        .collect();
                    (*s, sources)
                })
                .collect();
            let Some(peer) = self.peers.get_mut(&receiver) else {
                continue;
            };
            let mut starts_video = false;
            for (sender, sources) in senders {
                for (source, layered) in sources {
                    let now_allowed = self.routes.allows(sender, receiver, source);
                    let was_allowed = old.allows(sender, receiver, source);
                    let existing = peer
                        .out
                        .iter_mut()
                        .find(|t| t.sender == sender && t.source == source);
                    match existing {
                        Some(t) if now_allowed != was_allowed => {
                            t.rewrite.restart();
                            if now_allowed && source != MediaSource::Microphone {
                                starts_video = true;
                                // A tile hidden while they were apart says nothing
                                // now: the client shows them again and reports its
                                // size a render later. Choose by the estimate until
                                // then (a smaller tile lowers the layer at once).
                                if peer
                                    .tiles
                                    .get(&(sender, source))
                                    .is_some_and(|(w, h)| *w == 0 || *h == 0)
                                {
                                    peer.tiles.remove(&(sender, source));
                                }
                                // Starts afresh: the layer is chosen at once for
                                // the receiver's estimate and tile (not held as an
                                // upgrade from a pause), and nothing is forwarded
                                // before its key frame, asked for now (below, by the
                                // allocation) without the loss-recovery interval.
                                t.select = Selection::starting(layered);
                                t.starved = Some(Starved::start(now));
                            }
                        }
                        Some(_) => {}
                        None if now_allowed => {
                            starts_video |= source != MediaSource::Microphone;
                            peer.out.push(OutTrack {
                                sender,
                                source,
                                mid: None,
                                state: OutState::Negotiating,
                                rewrite: Rewrite::default(),
                                pt: None,
                                select: Selection::for_source(layered),
                                pictures: vp8::PictureIds::default(),
                                starved: Some(Starved::start(now)),
                            });
                        }
                        None => {}
                    }
                }
            }
            if starts_video {
                self.seed_estimate(now, receiver);
            }
            self.negotiate(receiver);
            self.allocate(now, receiver);
        }
        self.drive(now);
    }

    /// A receiver starts receiving more video (an admission, a move, a
    /// recall). Its estimate only ever grows to about twice what it was
    /// sent, so after a while of receiving little (alone in a caucus, with
    /// its videos off-screen) it says nothing of what the link can carry:
    /// allocated from it, the new videos would start paused or at their
    /// lowest layer and climb back over seconds. Start from the highest
    /// estimate the receiver reached within [`PEAK_MEMORY`] instead; a link
    /// that has become worse since is found as fast as at a join (the
    /// estimate falls at once, audio is reserved first).
    fn seed_estimate(&mut self, now: Instant, receiver: ParticipantId) {
        let Some(peer) = self.peers.get_mut(&receiver) else {
            return;
        };
        let Some((peak, _)) = peer
            .peak
            .filter(|(_, at)| now.saturating_duration_since(*at) < PEAK_MEMORY)
        else {
            return;
        };
        if peer.estimate.is_some_and(|e| e < peak) {
            tracing::debug!(participant = %receiver, estimate = ?peer.estimate, peak, "estimate seeded from its peak");
            peer.estimate = Some(peak);
            peer.rtc.bwe().reset(Bitrate::bps(peak));
            self.dirty.insert(receiver);
        }
    }

    /// A participant left for good: their peer connection closes and others
    /// stop their m-lines.
    pub fn remove(&mut self, now: Instant, who: ParticipantId) {
        self.drop_peer(who);
        let receivers: Vec<ParticipantId> = self.peers.keys().copied().collect();
        for receiver in receivers {
            if let Some(peer) = self.peers.get_mut(&receiver) {
                peer.tiles.retain(|(sender, _), _| *sender != who);
                let mut changed = false;
                for t in peer.out.iter_mut().filter(|t| t.sender == who) {
                    changed = true;
                    t.state = match (t.state, t.mid) {
                        (_, None) => OutState::Stopping,
                        _ => OutState::ToStop,
                    };
                }
                // Never offered: forget at once.
                peer.out.retain(|t| {
                    !(t.sender == who && t.mid.is_none() && t.state == OutState::Stopping)
                });
                if changed {
                    peer.tracks_changed = true;
                    self.negotiate(receiver);
                }
            }
        }
        self.drive(now);
    }

    fn drop_peer(&mut self, who: ParticipantId) {
        if let Some(mut peer) = self.peers.remove(&who) {
            peer.rtc.disconnect();
            self.by_ufrag.remove(&peer.ufrag);
            for a in &peer.addrs {
                self.by_addr.remove(a);
            }
            self.outputs.push_back(MediaOutput::Forget {
                ufrag: peer.ufrag,
                addrs: peer.addrs,
            });
            self.dirty.remove(&who);
            self.metrics.peers_changed(-1);
        }
    }

    /// A datagram for this session's media from the shared socket.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) {
        if let Some(who) = self.receive(now, proto, source, destination, datagram) {
            self.dirty.insert(who);
        }
        self.drive(now);
    }

    /// Several datagrams read together (`(arrived, protocol, from, to,
    /// bytes)`), handled at `now` (no earlier than any of them arrived).
    /// Each is handed to its peer connection with its arrival time, and what
    /// that peer received is forwarded at once (str0m holds one received
    /// packet at a time), but the receivers are polled once at the end: a
    /// burst of packets fanned out to many receivers costs one poll per
    /// receiver, not one per packet.
    pub fn handle_datagrams<'a>(
        &mut self,
        now: Instant,
        datagrams: impl IntoIterator<Item = (Instant, Protocol, SocketAddr, SocketAddr, &'a [u8])>,
    ) {
        let mut any = false;
        for (arrived, proto, source, destination, datagram) in datagrams {
            if let Some(who) = self.receive(arrived, proto, source, destination, datagram) {
                self.dirty.remove(&who);
                self.poll_peer(now, who);
            }
            any = true;
        }
        if any {
            self.drive(now);
        }
    }

    /// Hands a datagram to its peer connection; whose it was, if anyone's.
    fn receive(
        &mut self,
        now: Instant,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) -> Option<ParticipantId> {
        let who = self.owner(source, datagram)?;
        let peer = self.peers.get_mut(&who)?;
        let receive = Receive::new(proto, source, destination, datagram).ok()?;
        let input = Input::Receive(now, receive);
        if !peer.rtc.accepts(&input) {
            return None;
        }
        if let Err(e) = peer.rtc.handle_input(input) {
            tracing::debug!(participant = %who, error = %e, "media input refused");
        }
        if !peer.addrs.contains(&source) && peer.addrs.len() < 8 {
            peer.addrs.push(source);
            self.by_addr.insert(source, who);
        }
        Some(who)
    }

    /// When [`Media::handle_timeout`] must next be called. Drops the timers
    /// that no longer count on the way, so that they cause no wake-up.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, who))) = self.timers.peek() {
            if self
                .peers
                .get(&who)
                .is_some_and(|p| p.scheduled == Some(at))
            {
                break;
            }
            self.timers.pop();
        }
        [
            self.timers.peek().map(|Reverse((at, _))| *at),
            self.next_speaker_tick,
            self.next_quality_tick,
            self.next_allocation_tick,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Puts `who`'s deadline into the timers if it moved.
    fn schedule(&mut self, who: ParticipantId) {
        let Some(peer) = self.peers.get_mut(&who) else {
            return;
        };
        let deadline = peer.deadline();
        if deadline != peer.scheduled {
            peer.scheduled = deadline;
            if let Some(at) = deadline {
                self.timers.push(Reverse((at, who)));
            }
        }
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, who))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(peer) = self.peers.get_mut(&who) else {
                continue;
            };
            if peer.scheduled != Some(at) {
                continue;
            }
            // Polling the peer below schedules its next deadline.
            peer.scheduled = None;
            if peer.keyframe_due().is_some_and(|t| t <= now) {
                let due: Vec<(Mid, Option<Rid>)> = peer
                    .deferred_keyframes
                    .iter()
                    .filter(|(_, at)| **at <= now)
                    .map(|(key, _)| *key)
                    .collect();
                for (mid, rid) in due {
                    peer.deferred_keyframes.remove(&(mid, rid));
                    peer.request_keyframe(now, mid, rid, KeyframeRequestKind::Pli, Duration::ZERO);
                }
            }
            if peer.timeout.is_some_and(|t| t <= now) {
                peer.advance(who, now);
            }
            self.dirty.insert(who);
        }
        if self.next_speaker_tick.is_some_and(|t| t <= now) {
            self.next_speaker_tick = Some(now + SPEAKER_INTERVAL);
            self.decide_speakers(now);
        }
        if self.next_quality_tick.is_some_and(|t| t <= now) {
            self.next_quality_tick = Some(now + QUALITY_INTERVAL);
            self.report_quality();
        }
        if self.next_allocation_tick.is_some_and(|t| t <= now) {
            self.next_allocation_tick = Some(now + ALLOCATION_INTERVAL);
            let receivers: Vec<ParticipantId> = self.peers.keys().copied().collect();
            for receiver in receivers {
                self.allocate(now, receiver);
            }
        }
        self.drive(now);
    }

    /// The next thing for the driver to do.
    pub fn poll_output(&mut self) -> Option<MediaOutput> {
        self.outputs.pop_front()
    }

    /// Polls every peer with work until each is waiting for time or input,
    /// forwarding what they received.
    fn drive(&mut self, now: Instant) {
        if self.next_speaker_tick.is_none() && !self.peers.is_empty() {
            self.next_speaker_tick = Some(now + SPEAKER_INTERVAL);
            self.next_quality_tick = Some(now + QUALITY_INTERVAL);
            self.next_allocation_tick = Some(now + ALLOCATION_INTERVAL);
        }
        while !self.dirty.is_empty() {
            let batch: Vec<ParticipantId> = self.dirty.drain().collect();
            for who in batch {
                self.poll_peer(now, who);
            }
        }
    }

    /// Polls one peer until it waits for time or input: sends what it has to
    /// send and forwards the packets it received to their receivers (who are
    /// marked dirty, not polled here).
    fn poll_peer(&mut self, now: Instant, who: ParticipantId) {
        let mut received = Vec::new();
        let mut keyframe_requests = Vec::new();
        let mut published_grew = false;
        let mut new_sources = Vec::new();
        let mut estimated = false;
        let mut lost = false;
        {
            let Some(peer) = self.peers.get_mut(&who) else {
                return;
            };
            let mut immediate = 0;
            let mut transmits = 0;
            loop {
                if !peer.rtc.is_alive() {
                    lost = true;
                    break;
                }
                match peer.rtc.poll_output() {
                    Ok(Output::Transmit(t)) => {
                        immediate = 0;
                        transmits += 1;
                        self.outputs.push_back(MediaOutput::Transmit(t));
                    }
                    // A timeout already due (str0m sends a packet written to a
                    // stream only after a timeout has stamped it): handled
                    // here, not after a round through the session's event
                    // loop and timers, which every forwarded packet would
                    // otherwise take. Due by the time of this turn or, with
                    // a clock, by now: str0m's next deadlines follow the
                    // time it was last given. Or the pacer's request to be
                    // called again at once (1 us after the time it was last
                    // given, so that each packet gets its own send time):
                    // it lets out one packet per timeout, and a burst for
                    // this receiver (a batch of datagrams from several
                    // senders) would otherwise leave a few per timer tick.
                    // Or due by the time the connection was last given,
                    // which those requests may have moved ahead of the
                    // clock. Never a pacing deadline before its time (str0m
                    // stamps send times with it). Bounded, should str0m keep
                    // asking without sending.
                    Ok(Output::Timeout(t))
                        if immediate < MAX_IMMEDIATE_TIMEOUTS
                            && transmits < MAX_POLL_TRANSMITS
                            && (t <= now
                                || t <= peer.rtc_time
                                || peer.rtc.last_timeout_reason()
                                    == Reason::Pacer(PacerReason::Immediate)
                                || self.clock.is_some_and(|clock| t <= clock())) =>
                    {
                        immediate += 1;
                        peer.advance(who, t.max(now));
                    }
                    Ok(Output::Timeout(t)) => {
                        peer.timeout = Some(t);
                        break;
                    }
                    Ok(Output::Event(event)) => match event {
                        Event::RtpPacket(packet) => received.push(packet),
                        Event::MediaAdded(added)
                            if added.direction == Direction::RecvOnly
                                || added.direction == Direction::SendRecv =>
                        {
                            let videos = peer
                                .published
                                .iter()
                                .filter(|(_, s)| *s != MediaSource::Microphone)
                                .count();
                            let audio = peer
                                .published
                                .iter()
                                .any(|(_, s)| *s == MediaSource::Microphone);
                            let source = match (added.kind, videos, audio) {
                                (MediaKind::Audio, _, false) => Some(MediaSource::Microphone),
                                (MediaKind::Video, 0, _) => Some(MediaSource::Camera),
                                (MediaKind::Video, 1, _) => Some(MediaSource::Screen),
                                _ => None,
                            };
                            if let Some(source) = source {
                                peer.published.push((added.mid, source));
                                // Simulcast layers, lowest first as listed.
                                let rids: Vec<Rid> = added
                                    .simulcast
                                    .map(|s| if s.recv.is_empty() { s.send } else { s.recv })
                                    .unwrap_or_default()
                                    .into_iter()
                                    .map(|l| l.rid)
                                    .collect();
                                let layers = Layers::new(rids);
                                new_sources.push((source, layers.is_simulcast()));
                                peer.layers.insert(source, layers);
                                published_grew = true;
                            }
                        }
                        Event::KeyframeRequest(req) => {
                            if let Some(t) = peer.out.iter().find(|t| t.mid == Some(req.mid)) {
                                // The layer it receives, or is about to.
                                if let Some(layer) = t.select.target {
                                    keyframe_requests.push((t.sender, t.source, layer, req.kind));
                                }
                            }
                        }
                        Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) => {
                            let estimate = estimate.as_u64();
                            peer.estimate = Some(estimate);
                            match peer.peak {
                                Some((peak, at))
                                    if peak >= estimate
                                        && now.saturating_duration_since(at) < PEAK_MEMORY => {}
                                _ => peer.peak = Some((estimate, now)),
                            }
                            estimated = true;
                        }
                        Event::PeerStats(s) => {
                            let q = &mut peer.quality;
                            if let Some((at, rx, tx)) = q.last_bytes {
                                let secs = s.timestamp.saturating_duration_since(at).as_secs_f64();
                                if secs > 0.0 {
                                    q.receive_kbps = (s.peer_bytes_rx.saturating_sub(rx)) as f64
                                        * 8.0
                                        / 1000.0
                                        / secs;
                                    q.send_kbps = (s.peer_bytes_tx.saturating_sub(tx)) as f64 * 8.0
                                        / 1000.0
                                        / secs;
                                }
                            }
                            q.last_bytes = Some((s.timestamp, s.peer_bytes_rx, s.peer_bytes_tx));
                            q.loss = f64::from(s.ingress_loss_fraction.unwrap_or(0.0));
                            if let Some(rtt) = s.rtt {
                                q.rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
                            }
                        }
                        Event::MediaIngressStats(s) => {
                            let rate = if peer.source_of(s.mid) == Some(MediaSource::Microphone) {
                                48.0
                            } else {
                                90.0
                            };
                            peer.quality.jitter_ms = Some(f64::from(s.jitter) / rate);
                            if let Some(rtt) = s.rtt {
                                peer.quality.rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
                            }
                        }
                        Event::MediaEgressStats(s) => {
                            // Cumulative per stream: count what is new.
                            let seen = peer.nacks_seen.entry(s.mid).or_default();
                            self.metrics.nacks_added(s.nacks.saturating_sub(*seen));
                            *seen = (*seen).max(s.nacks);
                            if let Some(rtt) = s.rtt {
                                peer.quality.rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
                            }
                        }
                        _ => {}
                    },
                    Err(e) => {
                        tracing::debug!(participant = %who, error = %e, "media connection failed");
                        peer.rtc.disconnect();
                        lost = true;
                        break;
                    }
                }
            }
        }
        for packet in received {
            self.forward(now, who, packet);
        }
        for (sender, source, layer, kind) in keyframe_requests {
            if self.routes.allows(sender, who, source) {
                self.ask_keyframe_kind(now, sender, source, layer, kind, KEYFRAME_INTERVAL);
            }
        }
        // A (re)started publisher's sources: others' m-lines carrying
        // them choose a layer afresh.
        for (source, layered) in new_sources {
            for peer in self.peers.values_mut() {
                for t in peer.out.iter_mut() {
                    if t.sender == who && t.source == source {
                        t.select = Selection::for_source(layered);
                    }
                }
            }
        }
        if estimated {
            self.allocate(now, who);
        }
        if lost {
            self.drop_peer(who);
            self.outputs.push_back(MediaOutput::Lost { who });
            return;
        }
        if published_grew {
            // Receivers the routes already allow need m-lines for the
            // new sources, and a keyframe to start decoding them.
            self.apply_routes(now, &Routes::default());
        }
        self.send_tracks(who);
        self.schedule(who);
    }

    /// The size `who` shows `participant`'s camera or screen at (0 wide or
    /// high: not shown). The layers `who` receives are chosen again.
    pub fn set_tile(
        &mut self,
        now: Instant,
        who: ParticipantId,
        participant: ParticipantId,
        source: MediaSource,
        width: u32,
        height: u32,
    ) {
        if participant == who || source == MediaSource::Microphone {
            return;
        }
        let Some(peer) = self.peers.get_mut(&who) else {
            return;
        };
        let key = (participant, source);
        if !peer.tiles.contains_key(&key) && peer.tiles.len() >= MAX_TILES {
            return;
        }
        let max = crate::protocol::MAX_TILE_PIXELS;
        let shown = |size: Option<&(u32, u32)>| size.is_some_and(|(w, h)| *w > 0 && *h > 0);
        let was_hidden = peer.tiles.get(&key).is_some_and(|size| !shown(Some(size)));
        peer.tiles.insert(key, (width.min(max), height.min(max)));
        if was_hidden && shown(peer.tiles.get(&key)) {
            // Shown again: the video starts afresh, as after a move.
            let layered = self
                .peers
                .get(&participant)
                .and_then(|p| p.layers.get(&source))
                .is_some_and(Layers::is_simulcast);
            let Some(peer) = self.peers.get_mut(&who) else {
                return;
            };
            for t in peer
                .out
                .iter_mut()
                .filter(|t| t.sender == participant && t.source == source)
            {
                if t.select.current.is_none() {
                    t.select = Selection::starting(layered);
                    t.starved = Some(Starved::start(now));
                }
            }
        }
        self.allocate(now, who);
        self.drive(now);
    }

    /// Chooses the layer each of `receiver`'s video m-lines forwards (see
    /// [`simulcast::allocate`]): audio and single-layer video are reserved
    /// at their measured rates first, then simulcast video shares the rest
    /// of the receiver's bandwidth estimate, screens before cameras. Also
    /// tells the receiver's BWE to probe towards the next layer up.
    fn allocate(&mut self, now: Instant, receiver: ParticipantId) {
        let Some(peer) = self.peers.get(&receiver) else {
            return;
        };
        let estimate = peer.estimate.unwrap_or(INITIAL_ESTIMATE);
        let mut order: Vec<usize> = (0..peer.out.len()).collect();
        order.sort_by_key(|i| peer.out[*i].source != MediaSource::Screen);
        let mut reserved = 0;
        let mut demands = Vec::new();
        let mut layered = Vec::new();
        let mut single = Vec::new();
        for i in order {
            let t = &peer.out[i];
            if t.state != OutState::Open || !self.routes.allows(t.sender, receiver, t.source) {
                continue;
            }
            let Some(layers) = self
                .peers
                .get(&t.sender)
                .and_then(|p| p.layers.get(&t.source))
            else {
                continue;
            };
            let tile_height =
                peer.tiles
                    .get(&(t.sender, t.source))
                    .map(|(w, h)| if *w == 0 { 0 } else { *h });
            if t.source == MediaSource::Microphone {
                reserved += layers.bps(now);
            } else if !layers.is_simulcast() {
                // Nothing to choose from: forwarded as it comes unless the
                // receiver does not show it.
                let shown = tile_height != Some(0);
                if shown {
                    reserved += layers.bps(now);
                }
                single.push((i, shown.then_some(0)));
            } else {
                demands.push(Demand {
                    layers: layers.offer(now),
                    tile_height,
                    current: t.select.target,
                });
                layered.push(i);
            }
        }
        let Some(peer) = self.peers.get_mut(&receiver) else {
            return;
        };
        // What the SFU cannot reduce (audio, video without layers) flows
        // whatever the estimate says, but str0m paces everything it sends
        // at the estimate: below that rate those packets would wait in the
        // pacer (up to 2 s) instead of going out. Raise the estimate to what
        // must flow, at most every FLOOR_INTERVAL; simulcast video still
        // shares only what the estimate leaves above it.
        let mut estimate = estimate;
        if estimate < reserved && peer.floored.is_none_or(|at| now >= at + FLOOR_INTERVAL) {
            estimate = reserved.saturating_mul(5) / 4;
            peer.floored = Some(now);
            peer.estimate = Some(estimate);
            peer.rtc.bwe().reset(Bitrate::bps(estimate));
            self.dirty.insert(receiver);
        }
        let allocation = simulcast::allocate(estimate, reserved, &demands);
        let mut keyframes = Vec::new();
        let lowest: Vec<Option<u8>> = demands
            .iter()
            .map(|d| {
                if d.tile_height == Some(0) {
                    return None;
                }
                d.layers.iter().position(|l| l.active).map(|l| l as u8)
            })
            .collect();
        let layered: Vec<(usize, Option<u8>)> = layered
            .into_iter()
            .zip(allocation.layers.iter().copied())
            .zip(lowest)
            .map(|((i, wanted), lowest)| (i, starve_or_try(&mut peer.out[i], now, wanted, lowest)))
            .collect();
        let choices = layered.into_iter().chain(single);
        for (i, wanted) in choices {
            let t = &mut peer.out[i];
            let decided = t.select.decide(now, wanted);
            if let Some(target) = decided {
                tracing::debug!(participant = %receiver, sender = %t.sender, source = ?t.source, ?target, estimate, "layer chosen");
            }
            if decided == Some(None) {
                self.metrics.video_paused();
                t.rewrite.restart();
            }
            // Waiting for the target layer's key frame: ask for one. While
            // another layer flows, at most once a second per layer; while
            // nothing does (a black tile), at once.
            if let Some(target) = t.select.target {
                if t.select.current != Some(target) {
                    let interval = match t.select.current {
                        Some(_) => KEYFRAME_INTERVAL,
                        None => KEYFRAME_START_INTERVAL,
                    };
                    keyframes.push((t.sender, t.source, target, interval));
                }
            }
        }
        // Sustain what is sent (no padding beyond it: on a congested link
        // that would crowd out audio); probe towards the next layer up and
        // hope for everything at its best.
        let round = |bps: u64| bps / 10_000 * 10_000;
        let mut rates = (
            round(allocation.used),
            round(allocation.desired.max(allocation.next)),
        );
        // str0m probes when the desired rate rises above the estimate, not
        // while it stays put: a receiver held below its layers (after
        // congestion that has since cleared) would wait for str0m's slow
        // periodic probes. Every PROBE_NUDGE, lower the desired rate to the
        // estimate for one allocation round, so that the next round raises
        // it and probes (str0m skips probes while the link is overused).
        if rates.1 > estimate && allocation.next > allocation.used {
            match peer.nudge {
                Some(at) if now >= at => {
                    rates.1 = round(estimate);
                    peer.nudge = Some(now + PROBE_NUDGE);
                }
                Some(_) => {}
                None => peer.nudge = Some(now + PROBE_NUDGE),
            }
        }
        if rates != peer.bwe_rates {
            peer.bwe_rates = rates;
            peer.rtc
                .bwe()
                .set_bitrate(Bitrate::bps(rates.0), Bitrate::bps(rates.1));
            self.dirty.insert(receiver);
        }
        for (sender, source, layer, interval) in keyframes {
            self.ask_keyframe(now, sender, source, layer, interval);
        }
    }

    /// Asks `sender` for a keyframe (a PLI) of `source` on its simulcast
    /// `layer`, at most once per `interval`.
    fn ask_keyframe(
        &mut self,
        now: Instant,
        sender: ParticipantId,
        source: MediaSource,
        layer: u8,
        interval: Duration,
    ) {
        self.ask_keyframe_kind(
            now,
            sender,
            source,
            layer,
            KeyframeRequestKind::Pli,
            interval,
        );
    }

    /// [`Media::ask_keyframe`] with the kind of request a receiver sent.
    fn ask_keyframe_kind(
        &mut self,
        now: Instant,
        sender: ParticipantId,
        source: MediaSource,
        layer: u8,
        kind: KeyframeRequestKind,
        interval: Duration,
    ) {
        let Some(peer) = self.peers.get_mut(&sender) else {
            return;
        };
        let Some(mid) = peer.mid_of(source) else {
            return;
        };
        let rid = peer.layers.get(&source).and_then(|l| l.rid_of(layer));
        if peer.request_keyframe(now, mid, rid, kind, interval) {
            tracing::debug!(participant = %sender, ?source, layer, "keyframe asked");
            self.metrics.keyframe_request();
            self.dirty.insert(sender);
        } else {
            tracing::debug!(participant = %sender, ?source, layer, "keyframe request deferred");
            // Deferred: its deadline may be the peer's next one.
            self.schedule(sender);
        }
    }

    /// One packet from `sender` to everyone the routes allow.
    fn forward(&mut self, now: Instant, sender: ParticipantId, packet: RtpPacket) {
        let Some(peer) = self.peers.get_mut(&sender) else {
            return;
        };
        let header = &packet.header;
        self.metrics.received(packet.payload.len());
        // Resolved once per incoming stream and payload type, not per packet.
        let key = (header.ssrc, header.payload_type);
        let (source, codec, layer) = match peer.incoming.get(&key) {
            Some(known) => *known,
            None => {
                let Some((mid, rid)) = peer
                    .rtc
                    .direct_api()
                    .stream_rx(&header.ssrc)
                    .map(|s| (s.mid(), s.rid()))
                else {
                    return;
                };
                let (Some(source), Some(codec)) = (
                    peer.source_of(mid),
                    codec_of(&peer.rtc, header.payload_type),
                ) else {
                    return;
                };
                // A rid beyond the layers we take is not forwarded.
                let Some(layer) = peer.layers.get(&source).and_then(|l| l.index_of(rid)) else {
                    return;
                };
                peer.incoming.insert(key, (source, codec, layer));
                (source, codec, layer)
            }
        };
        // VP8: where key frames start (and their size), and the picture ids
        // to keep continuous per receiver (str0m patches them on the way
        // out, so the payload is never copied for it).
        let descriptor = match (source, codec) {
            (MediaSource::Microphone, _) => None,
            (_, Codec::Vp8) => vp8::Descriptor::parse(&packet.payload),
            _ => None,
        };
        let keyframe = descriptor.is_some_and(|d| d.is_keyframe(&packet.payload));
        let size = descriptor
            .filter(|_| keyframe)
            .and_then(|d| d.keyframe_size(&packet.payload));
        if let Some(layers) = peer.layers.get_mut(&source) {
            layers.count(now, layer, packet.payload.len(), size);
        }
        // Picture ids to keep continuous; str0m's own parse of the
        // descriptor (for its patch builder) only once a receiver needs a
        // patch, i.e. after a layer switch or a publisher's restart.
        let numbered = descriptor.filter(|d| d.picture_id.is_some() || d.tl0_pic_idx.is_some());
        let mut parsed: Option<Option<Vp8Descriptor>> = None;
        if source == MediaSource::Microphone {
            if let Some(level) = header.ext_vals.audio_level {
                let level = f32::from(level);
                let smoothed = match peer.level {
                    Some((l, at)) if now.saturating_duration_since(at) < SPEECH_MEMORY => {
                        l * 0.8 + level * 0.2
                    }
                    _ => level,
                };
                peer.level = Some((smoothed, now));
            }
        }
        let ext = ExtensionValues {
            audio_level: header.ext_vals.audio_level,
            voice_activity: header.ext_vals.voice_activity,
            video_orientation: header.ext_vals.video_orientation,
            ..Default::default()
        };
        let (ssrc, seq, time, marker) =
            (header.ssrc, *packet.seq_no, header.timestamp, header.marker);
        let nackable = source != MediaSource::Microphone;
        let clock_rate = if source == MediaSource::Microphone {
            48_000
        } else {
            90_000
        };
        // RED audio: the sender's Opus payload type, and the primary block as
        // plain Opus for receivers without RED (parsed once, when first needed).
        let sender_opus = match codec {
            Codec::Red => pt_for(&peer.rtc, Codec::Opus),
            _ => None,
        };
        let mut plain: Option<Option<Arc<[u8]>>> = None;
        for (receiver, sources) in self.routes.receivers(sender) {
            if !sources.allows(source) {
                continue;
            }
            let Some(peer) = self.peers.get_mut(receiver) else {
                continue;
            };
            let Some(track) = peer
                .out
                .iter_mut()
                .find(|t| t.sender == sender && t.source == source && t.state == OutState::Open)
            else {
                continue;
            };
            let Some(mid) = track.mid else { continue };
            let mut payload = &packet.payload;
            let pt = match track.pt {
                Some((c, pt)) if c == codec => pt,
                _ => match pt_for(&peer.rtc, codec) {
                    Some(pt) => {
                        track.pt = Some((codec, pt));
                        pt
                    }
                    // RED to a receiver that did not negotiate it: the primary
                    // Opus block alone; a malformed RED packet is dropped.
                    None if codec == Codec::Red => {
                        let primary = plain.get_or_insert_with(|| {
                            crate::red::primary(&packet.payload)
                                .filter(|b| sender_opus.is_some_and(|o| *o == b.pt))
                                .map(|b| Arc::from(b.data))
                        });
                        let (Some(pt), Some(primary)) =
                            (pt_for(&peer.rtc, Codec::Opus), primary.as_ref())
                        else {
                            continue;
                        };
                        payload = primary;
                        pt
                    }
                    None => continue,
                },
            };
            if source != MediaSource::Microphone {
                match track.select.admit(layer, keyframe) {
                    Admit::Drop => continue,
                    Admit::Forward => {}
                    Admit::Switch => {
                        tracing::debug!(participant = %receiver, %sender, ?source, layer, "layer switched at a key frame");
                        // A new run: no gap in the receiver's sequence.
                        track.rewrite.restart();
                        self.metrics.layer_switch();
                    }
                }
            }
            let Some((out_seq, out_time)) = track.rewrite.map(ssrc, seq, time, now, clock_rate)
            else {
                continue;
            };
            let patch = numbered.and_then(|d| {
                let (picture, tl0) = track.pictures.map(track.rewrite.run(), &d);
                let new_picture = picture != d.picture_id.map(|(id, _)| id);
                let new_tl0 = tl0 != d.tl0_pic_idx;
                if !new_picture && !new_tl0 {
                    return None;
                }
                let parsed = parsed
                    .get_or_insert_with(|| Vp8Descriptor::parse(&packet.payload).ok())
                    .as_ref()?;
                let mut patch = parsed.patch();
                if new_picture {
                    patch = patch.picture_id(picture.unwrap_or_default());
                }
                if new_tl0 {
                    patch = patch.tl0_pic_idx(tl0.unwrap_or_default());
                }
                patch.build().ok()
            });
            let mut api = peer.rtc.direct_api();
            let Some(stream) = api.stream_tx_by_mid(mid, None) else {
                continue;
            };
            let mut write = RtpWrite::new(
                pt,
                SeqNo::from(out_seq),
                out_time,
                packet.timestamp,
                payload.clone(),
            )
            .marker(marker)
            .ext_vals(ext.clone())
            .nackable(nackable);
            if let Some(patch) = patch {
                write = write.vp8_patch(patch);
            }
            stream.write_rtp(write);
            self.metrics.forwarded(payload.len());
            self.dirty.insert(*receiver);
        }
    }

    /// Offers the m-lines a receiver lacks, or stops those it no longer
    /// needs, unless an offer is already waiting for its answer.
    fn negotiate(&mut self, who: ParticipantId) {
        let Some(peer) = self.peers.get_mut(&who) else {
            return;
        };
        if peer.pending.is_some() || !peer.rtc.is_alive() {
            return;
        }
        let mut change = peer.rtc.sdp_api();
        let mut added = false;
        for t in &mut peer.out {
            match (t.state, t.mid) {
                (OutState::Negotiating, None) => {
                    let kind = match t.source {
                        MediaSource::Microphone => MediaKind::Audio,
                        _ => MediaKind::Video,
                    };
                    let track_id = match t.source {
                        MediaSource::Microphone => "microphone",
                        MediaSource::Camera => "camera",
                        MediaSource::Screen => "screen",
                    };
                    let mid = change.add_media(
                        kind,
                        Direction::SendOnly,
                        Some(t.sender.to_string()),
                        Some(format!("{}-{track_id}", t.sender.simple())),
                        None,
                    );
                    t.mid = Some(mid);
                    added = true;
                }
                (OutState::ToStop, Some(mid)) => {
                    change.stop_media(mid);
                    t.state = OutState::Stopping;
                    added = true;
                }
                _ => {}
            }
        }
        if !added || !change.has_changes() {
            return;
        }
        let Some((offer, pending)) = change.apply() else {
            return;
        };
        peer.pending = Some(pending);
        let sdp = with_candidates_in_every_section(&offer.to_sdp_string());
        peer.pending_mids = sdp_mids(&sdp);
        self.outputs.push_back(MediaOutput::Send {
            to: who,
            message: ServerMessage::Offer { sdp },
        });
        self.dirty.insert(who);
    }

    fn send_tracks(&mut self, who: ParticipantId) {
        let Some(peer) = self.peers.get_mut(&who) else {
            return;
        };
        if !peer.tracks_changed || peer.pending.is_some() {
            return;
        }
        peer.tracks_changed = false;
        let tracks = peer
            .out
            .iter()
            .filter(|t| t.state == OutState::Open)
            .filter_map(|t| {
                t.mid.map(|mid| TrackView {
                    mid: mid.to_string(),
                    participant: t.sender,
                    source: t.source,
                })
            })
            .collect();
        self.outputs.push_back(MediaOutput::Send {
            to: who,
            message: ServerMessage::Tracks { tracks },
        });
    }

    fn decide_speakers(&mut self, now: Instant) {
        let mut loudest: HashMap<crate::protocol::RoomId, (f32, ParticipantId)> = HashMap::new();
        for (who, peer) in &self.peers {
            let Some(room) = self.routes.rooms().get(who) else {
                continue;
            };
            if !self
                .routes
                .receivers(*who)
                .iter()
                .any(|(_, s)| s.microphone)
            {
                continue;
            }
            if let Some((level, at)) = peer.level {
                if level > SPEECH_THRESHOLD && now.saturating_duration_since(at) < SPEECH_MEMORY {
                    let entry = loudest.entry(*room).or_insert((f32::MIN, *who));
                    if level > entry.0 {
                        *entry = (level, *who);
                    }
                }
            }
        }
        let rooms: HashSet<crate::protocol::RoomId> =
            self.routes.rooms().values().copied().collect();
        for room in rooms {
            let speaker = loudest.get(&room).map(|(_, who)| *who);
            if self.speakers.get(&room) == Some(&speaker) {
                continue;
            }
            self.speakers.insert(room, speaker);
            for (who, r) in self.routes.rooms() {
                if *r == room {
                    self.outputs.push_back(MediaOutput::Send {
                        to: *who,
                        message: ServerMessage::Speaker {
                            participant: speaker,
                        },
                    });
                }
            }
        }
    }

    fn report_quality(&mut self) {
        let mut views: Vec<QualityView> = self
            .peers
            .iter()
            .map(|(who, p)| QualityView {
                id: *who,
                receive_kbps: p.quality.receive_kbps,
                send_kbps: p.quality.send_kbps,
                loss: p.quality.loss,
                rtt_ms: p.quality.rtt_ms,
                jitter_ms: p.quality.jitter_ms,
            })
            .collect();
        if views.is_empty() {
            return;
        }
        views.sort_by_key(|v| v.id);
        self.outputs.push_back(MediaOutput::Quality(views));
    }
}

/// The layer a simulcast video gets, given what the allocation `wanted` and
/// its `lowest` active layer (`None` when not shown): a video the estimate
/// starves is paused, and its lowest layer is tried again now and then
/// ([`Starved`]).
fn starve_or_try(
    t: &mut OutTrack,
    now: Instant,
    wanted: Option<u8>,
    lowest: Option<u8>,
) -> Option<u8> {
    let Some(lowest) = lowest else {
        t.starved = None;
        return wanted;
    };
    if wanted.is_some() {
        // The estimate covers it (again): no longer starved.
        if t.starved
            .is_some_and(|s| s.trial_until.is_none_or(|end| now >= end))
        {
            t.starved = None;
        }
        return wanted;
    }
    let s = t.starved.get_or_insert(Starved {
        retry_at: now + STARVED_RETRY,
        backoff: STARVED_RETRY,
        trial_until: None,
    });
    match s.trial_until {
        Some(end) if now < end => Some(lowest),
        Some(_) => {
            // The trial did not lift the estimate: wait longer next time.
            s.trial_until = None;
            s.backoff = (s.backoff * 2).min(STARVED_MAX_BACKOFF);
            s.retry_at = now + s.backoff;
            None
        }
        None if now >= s.retry_at => {
            s.trial_until = Some(now + STARVED_TRIAL);
            Some(lowest)
        }
        None => None,
    }
}

/// The `a=mid` of each m-section of `sdp`, in order (empty for one without).
fn sdp_mids(sdp: &str) -> Vec<String> {
    let mut mids = Vec::new();
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("m=") {
            mids.push(String::new());
        } else if let (Some(mid), Some(last)) = (line.strip_prefix("a=mid:"), mids.last_mut()) {
            *last = mid.to_owned();
        }
    }
    mids
}

/// `sdp` with its `a=candidate` lines, and `a=end-of-candidates`, in every
/// m-section that is not rejected. str0m writes them into the first
/// m-section of the bundle only; a client that reads candidates per
/// m-section under max-bundle (as RFC 8829 allows) would then find none for
/// the transport it uses and never connect. The server gathers nothing
/// more (host candidates only), so the list is complete.
pub fn with_candidates_in_every_section(sdp: &str) -> String {
    let lines: Vec<&str> = sdp.split("\r\n").filter(|l| !l.is_empty()).collect();
    let candidates: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("a=candidate:"))
        .collect();
    if candidates.is_empty() {
        return sdp.to_owned();
    }
    let mut out = String::with_capacity(sdp.len() + candidates.len() * 80);
    let mut in_section = false;
    let mut rejected = false;
    let close = |out: &mut String, in_section: bool, rejected: bool| {
        if in_section && !rejected {
            for c in &candidates {
                out.push_str(c);
                out.push_str("\r\n");
            }
            out.push_str("a=end-of-candidates\r\n");
        }
    };
    for line in &lines {
        if line.starts_with("a=candidate:") || *line == "a=end-of-candidates" {
            continue;
        }
        if let Some(media) = line.strip_prefix("m=") {
            close(&mut out, in_section, rejected);
            in_section = true;
            rejected = media.split(' ').nth(1) == Some("0");
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    close(&mut out, in_section, rejected);
    out
}

/// The local ufrag of a STUN binding request (`USERNAME` is `local:remote`).
pub fn stun_local_ufrag(datagram: &[u8]) -> Option<&str> {
    // STUN: first two bits zero, magic cookie at 4..8.
    if datagram.len() < 20 || datagram[0] > 3 || datagram[4..8] != [0x21, 0x12, 0xa4, 0x42] {
        return None;
    }
    let message = StunMessage::parse(datagram).ok()?;
    let username = message.username()?;
    username.split(':').next()
}

fn short(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's offer (microphone and camera, send-only), as str0m makes it.
    fn client_offer(now: Instant) -> String {
        let mut rtc = Rtc::builder().set_rtp_mode(true).build(now);
        rtc.add_local_candidate(Candidate::host("10.0.0.2:5000".parse().unwrap(), "udp").unwrap());
        let mut api = rtc.sdp_api();
        api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let (offer, _) = api.apply().unwrap();
        offer.to_sdp_string()
    }

    #[test]
    fn every_bundled_section_of_the_answer_carries_the_candidates_and_their_end() {
        let now = Instant::now();
        let config = Arc::new(MediaConfig {
            udp_candidates: vec!["192.0.2.1:3479".parse().unwrap()],
            tcp_candidates: vec!["192.0.2.1:3480".parse().unwrap()],
            turn: None,
            bandwidth_estimation: true,
        });
        let mut media = Media::new(config, Arc::new(Metrics::default()));
        let who = ParticipantId::from_u64_pair(1, 1);
        media.offer(now, who, &client_offer(now)).unwrap();
        let sdp = std::iter::from_fn(|| media.poll_output())
            .find_map(|o| match o {
                MediaOutput::Send {
                    message: ServerMessage::Answer { sdp },
                    ..
                } => Some(sdp),
                _ => None,
            })
            .expect("an answer");
        let sections: Vec<&str> = sdp.split("\r\nm=").skip(1).collect();
        assert_eq!(sections.len(), 2, "{sdp}");
        for section in sections {
            let candidates = section.matches("a=candidate:").count();
            assert_eq!(
                candidates, 2,
                "both candidates in every section:\n{section}"
            );
            assert_eq!(
                section.matches("a=end-of-candidates").count(),
                1,
                "{section}"
            );
            assert!(
                section.trim_end().ends_with("a=end-of-candidates"),
                "{section}"
            );
        }
        // str0m reads it back.
        SdpAnswer::from_sdp_string(&sdp).unwrap();
        let mids = sdp_mids(&sdp);
        assert_eq!(mids.len(), 2);
        assert!(mids.iter().all(|m| !m.is_empty()), "{mids:?}");
    }

    #[test]
    fn a_rejected_section_gets_no_candidates_and_sdp_without_candidates_is_kept() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:1 1 udp 1 192.0.2.1 3479 typ host\r\n\
                   m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\n";
        let out = with_candidates_in_every_section(sdp);
        let sections: Vec<&str> = out.split("m=").skip(1).collect();
        assert_eq!(sections[0].matches("a=candidate").count(), 1);
        assert_eq!(
            sections[1].matches("a=candidate").count(),
            0,
            "port 0: rejected"
        );
        assert!(!sections[1].contains("end-of-candidates"));
        assert_eq!(sections[2].matches("a=candidate").count(), 1);
        let plain = "v=0\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n";
        assert_eq!(with_candidates_in_every_section(plain), plain);
    }

    #[test]
    fn deadlines_come_from_the_heap_and_stale_ones_cause_no_wake_up() {
        let config = Arc::new(MediaConfig {
            udp_candidates: vec!["10.0.0.1:3479".parse().unwrap()],
            tcp_candidates: Vec::new(),
            turn: None,
            bandwidth_estimation: true,
        });
        let mut media = Media::new(config, Arc::new(Metrics::default()));
        let t0 = Instant::now();
        assert_eq!(
            media.poll_timeout(),
            None,
            "no one connected, nothing to wait for"
        );
        let (a, b) = (ParticipantId::from_u128(1), ParticipantId::from_u128(2));
        media.offer(t0, a, &client_offer(t0)).unwrap();
        media.offer(t0, b, &client_offer(t0)).unwrap();
        // Each peer's deadline is in the heap, once, and the earliest of
        // them (or a session tick) is the next wake-up.
        let deadline = |m: &Media, who| m.peers[&who].deadline().expect("a deadline");
        let (da, db) = (deadline(&media, a), deadline(&media, b));
        let next = media.poll_timeout().expect("a wake-up");
        assert!(next <= da.min(db), "{next:?} after a peer's deadline");
        assert_eq!(media.timers.len(), 2, "{:?}", media.timers);

        // Handling time at a's deadline moves it on and schedules it anew;
        // the entry that fired is gone.
        let at = da.max(db);
        media.handle_timeout(at);
        for who in [a, b] {
            let p = &media.peers[&who];
            assert_eq!(
                p.scheduled,
                p.deadline(),
                "the heap has the peer's current deadline"
            );
            assert!(
                p.scheduled.is_some_and(|d| d > at),
                "{:?} not after {at:?}",
                p.scheduled
            );
        }
        assert!(media.poll_timeout().is_some_and(|t| t > at));

        // The peer whose deadline is next leaves, and leaves its entry
        // behind at the top of the heap; looking for the next wake-up drops
        // it rather than waking up for it.
        let Some(Reverse((_, first))) = media.timers.peek().copied() else {
            panic!("no deadlines in the heap");
        };
        let other = if first == a { b } else { a };
        media.remove(at, first);
        assert!(media.timers.iter().any(|Reverse((_, w))| *w == first));
        let next = media.poll_timeout();
        let Some(Reverse((top, who))) = media.timers.peek().copied() else {
            panic!("the other peer's deadline is gone from the heap");
        };
        assert_eq!(who, other, "{:?}", media.timers);
        assert_eq!(media.peers[&other].scheduled, Some(top));
        assert!(next.is_some_and(|t| t <= top));
        assert!(media.timers.iter().all(|Reverse((_, w))| *w != first));
        media.remove(at, other);
        media.poll_timeout();
        assert!(media.timers.is_empty(), "{:?}", media.timers);
    }

    #[test]
    fn a_starved_video_is_paused_then_its_lowest_layer_tried_with_backoff() {
        let mut t = OutTrack {
            sender: ParticipantId::from_u128(1),
            source: MediaSource::Camera,
            mid: None,
            state: OutState::Open,
            rewrite: Rewrite::default(),
            pt: None,
            select: Selection::default(),
            pictures: vp8::PictureIds::default(),
            starved: None,
        };
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // The estimate covers a layer: as allocated.
        assert_eq!(starve_or_try(&mut t, at(0), Some(2), Some(0)), Some(2));
        // Starved: paused until the retry, then the lowest layer for a trial.
        assert_eq!(starve_or_try(&mut t, at(500), None, Some(0)), None);
        assert_eq!(starve_or_try(&mut t, at(4000), None, Some(0)), None);
        assert_eq!(starve_or_try(&mut t, at(4500), None, Some(0)), Some(0));
        assert_eq!(starve_or_try(&mut t, at(7000), None, Some(0)), Some(0));
        // The trial failed: paused again, the next trial twice as late.
        assert_eq!(starve_or_try(&mut t, at(7500), None, Some(0)), None);
        assert_eq!(starve_or_try(&mut t, at(15000), None, Some(0)), None);
        assert_eq!(starve_or_try(&mut t, at(15500), None, Some(0)), Some(0));
        // The estimate followed the trial: allocated normally from now on.
        assert_eq!(starve_or_try(&mut t, at(16000), Some(1), Some(0)), Some(1));
        assert_eq!(starve_or_try(&mut t, at(19000), Some(1), Some(0)), Some(1));
        assert!(t.starved.is_none());
        // A hidden tile is simply paused, with no trials.
        assert_eq!(starve_or_try(&mut t, at(20000), None, None), None);
        assert_eq!(starve_or_try(&mut t, at(90000), None, None), None);
        assert!(t.starved.is_none());
    }

    #[test]
    fn a_datagram_to_any_local_address_is_matched_to_an_announced_candidate() {
        let config = MediaConfig {
            udp_candidates: vec![
                "203.0.113.7:3479".parse().unwrap(),
                "127.0.0.1:3479".parse().unwrap(),
            ],
            tcp_candidates: vec!["203.0.113.7:3478".parse().unwrap()],
            turn: None,
            bandwidth_estimation: true,
        };
        let to = |a: &str| a.parse::<SocketAddr>().unwrap();
        // Announced: itself.
        assert_eq!(
            config.candidate_for(Protocol::Udp, to("127.0.0.1:3479")),
            to("127.0.0.1:3479")
        );
        // Arrived at a private address behind 1:1 NAT: the public candidate.
        assert_eq!(
            config.candidate_for(Protocol::Udp, to("10.0.0.5:3479")),
            to("203.0.113.7:3479")
        );
        assert_eq!(
            config.candidate_for(Protocol::Tcp, to("10.0.0.5:3478")),
            to("203.0.113.7:3478")
        );
        // Nothing of that family or port: left as it is.
        assert_eq!(
            config.candidate_for(Protocol::Udp, to("[::1]:3479")),
            to("[::1]:3479")
        );
    }

    #[test]
    fn a_restarted_publisher_continues_the_receivers_sequence_and_clock() {
        let t0 = Instant::now();
        let mut r = Rewrite::default();
        let (a, b) = (Ssrc::from(1), Ssrc::from(2));
        assert_eq!(r.map(a, 100, 1_000, t0, 90_000), Some((1, 1_000)));
        assert_eq!(r.map(a, 101, 4_000, t0, 90_000), Some((2, 4_000)));
        // Reordered within the run: mapped, not dropped.
        assert_eq!(r.map(a, 103, 10_000, t0, 90_000), Some((4, 10_000)));
        assert_eq!(r.map(a, 102, 7_000, t0, 90_000), Some((3, 7_000)));
        // The publisher restarts with new random numbers 100 ms later.
        let t1 = t0 + Duration::from_millis(100);
        let (seq, time) = r.map(b, 40_000, 3_000_000_000, t1, 90_000).unwrap();
        assert_eq!(seq, 5);
        assert_eq!(time, 10_000 + 9_000);
        assert_eq!(
            r.map(b, 40_001, 3_000_003_000, t1, 90_000),
            Some((6, 22_000))
        );
        // A loss within the run stays a gap, so the receiver can NACK it.
        assert_eq!(
            r.map(b, 40_004, 3_000_012_000, t1, 90_000),
            Some((9, 31_000))
        );
        // Packets from before the run began are dropped.
        assert_eq!(r.map(b, 39_999, 2_999_997_000, t1, 90_000), None);
    }
}

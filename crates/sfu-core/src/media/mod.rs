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

mod allocation;
mod forward;
mod negotiation;
mod peer;
mod poll;
mod rewrite;
mod routes;
mod speaker;
#[cfg(test)]
mod tests;

pub use negotiation::with_candidates_in_every_section;
use peer::*;
pub use poll::stun_local_ufrag;
use rewrite::Rewrite;

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
/// How soon layers are allocated after a video's layer starts arriving
/// while receivers have none of it or a lower one (a publisher back after a
/// reconnection): two frame intervals, for its rate and size to show.
pub const LAYER_WAKE_ALLOCATION: Duration = Duration::from_millis(60);
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
/// A receiver reporting at least this fraction of a stream lost may have
/// its videos paused for bandwidth; below it, each keeps its lowest layer.
/// Ten per cent is where Google's congestion control reads loss as
/// congestion (from 2 to 10 % it holds its rate: Wi-Fi and mobile links
/// lose that much at random, and NACKs repair it). At 2 %, 5 % random loss
/// on an ample link paused a party's video whenever the delay-based
/// estimate dipped under the lowest layer, a freeze of a second or more
/// each time; a link too narrow for its lowest layers loses more than 10 %
/// and is still paused.
const LOSS_TO_PAUSE: f32 = 0.10;
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

/// The media of one live session.
#[derive(Debug)]
pub struct Media {
    config: Arc<MediaConfig>,
    metrics: Arc<Metrics>,
    /// Deadlines this close after a turn's time count as due in that turn
    /// ([`Media::set_due_slack`]).
    due_slack: Duration,
    peers: HashMap<ParticipantId, Peer>,
    by_addr: HashMap<SocketAddr, ParticipantId>,
    by_ufrag: HashMap<String, ParticipantId>,
    routes: Routes,
    /// Peers with work to poll.
    dirty: HashSet<ParticipantId>,
    /// Video layers that have just started (or started again) to arrive:
    /// receivers of theirs with no layer or a lower one choose again soon
    /// instead of at the next allocation tick.
    layers_woken: Vec<(ParticipantId, MediaSource, u8)>,
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
    /// Those whose frames are end-to-end encrypted ([`Media::set_sealed`]).
    sealed: HashSet<ParticipantId>,
    /// (receiver, sender) → the newest generation of the sender's keys the
    /// receiver acknowledged ([`Media::key_acknowledged`]).
    acked: HashMap<(ParticipantId, ParticipantId), u64>,
}

/// How many already-due timeouts in a row, with no datagram between them,
/// one poll of a peer hands to its connection before leaving the rest to the
/// timers (should str0m keep asking without progress).
const MAX_IMMEDIATE_TIMEOUTS: u32 = 4;

/// After this many datagrams, one poll of a peer hands its connection no
/// more timeouts and leaves the rest to the timers, so that one receiver's
/// backlog cannot hold up the others' for long.
const MAX_POLL_TRANSMITS: u32 = 1024;

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
            layers_woken: Vec::new(),
            timers: BinaryHeap::new(),
            outputs: VecDeque::new(),
            speakers: HashMap::new(),
            next_speaker_tick: None,
            next_quality_tick: None,
            next_allocation_tick: None,
            due_slack: Duration::ZERO,
            sealed: HashSet::new(),
            acked: HashMap::new(),
        }
    }

    /// `receiver` holds `sender`'s key of `generation` (its `e2eeKeyAck`,
    /// as relayed to the sender): frames under that key id are decryptable
    /// for it, so a route waiting for a key frame under a new key may ask
    /// for one as soon as the sender seals under this one.
    pub fn key_acknowledged(
        &mut self,
        receiver: ParticipantId,
        sender: ParticipantId,
        generation: u32,
    ) {
        let generation = u64::from(generation);
        let newest = self.acked.entry((receiver, sender)).or_insert(generation);
        *newest = (*newest).max(generation);
        let newest = *newest;
        if let Some(peer) = self.peers.get_mut(&receiver) {
            for t in peer.out.iter_mut().filter(|t| t.sender == sender) {
                if let Some(wait) = t.key_wait.as_mut() {
                    wait.acked = Some(newest);
                }
            }
        }
    }

    /// Whether `who` seals their frames (SFrame, end-to-end encryption: they
    /// announced an identity). Their video frames then carry a key id in
    /// clear, which changes whenever their room's membership does; a new
    /// route from them waits for a key frame under the new key id.
    pub fn set_sealed(&mut self, who: ParticipantId, sealed: bool) {
        let changed = if sealed {
            self.sealed.insert(who)
        } else {
            self.sealed.remove(&who)
        };
        // Sealing starts or stops (a connection gone, an identity refused):
        // what was acknowledged of their keys says nothing of the next ones.
        if changed {
            self.acked.retain(|(_, sender), _| *sender != who);
        }
    }

    /// How far past a turn's time a connection's deadline still counts as
    /// due in that turn. A real-time driver's turn takes time (tens to
    /// hundreds of microseconds for a batch of datagrams), and str0m's pacer
    /// sets deadlines a few microseconds after the time it was given, which
    /// a timer would fire a millisecond later at best. The core never reads
    /// a clock; the driver says how long its turns may take. Zero (the
    /// default, a simulation): only the time passed in counts.
    pub fn set_due_slack(&mut self, slack: Duration) {
        self.due_slack = slack;
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

    /// The next thing for the driver to do.
    pub fn poll_output(&mut self) -> Option<MediaOutput> {
        self.outputs.pop_front()
    }
}

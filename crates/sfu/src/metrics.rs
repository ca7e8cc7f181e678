//! Counters for `/metrics` (Prometheus text format). Labels carry no names
//! and no identifiers: only totals across the node.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// The SFU's counters and gauges, shared by every session.
#[derive(Debug, Default)]
pub struct Metrics {
    participants: AtomicI64,
    peers: AtomicI64,
    rooms: AtomicI64,
    sessions: AtomicI64,
    packets_in: AtomicU64,
    bytes_in: AtomicU64,
    packets_out: AtomicU64,
    bytes_out: AtomicU64,
    nacks: AtomicU64,
    keyframe_requests: AtomicU64,
    layer_switches: AtomicU64,
    video_pauses: AtomicU64,
    joins_refused: AtomicU64,
}

impl Metrics {
    /// Signaling participants connected: +1 or -1.
    pub fn participants_changed(&self, delta: i64) {
        self.participants.fetch_add(delta, Relaxed);
    }

    /// Media peer connections: +1 or -1.
    pub fn peers_changed(&self, delta: i64) {
        self.peers.fetch_add(delta, Relaxed);
    }

    /// Rooms with someone in them (main and caucuses), as a change.
    pub fn rooms_changed(&self, delta: i64) {
        self.rooms.fetch_add(delta, Relaxed);
    }

    /// Live sessions, as a change.
    pub fn sessions_changed(&self, delta: i64) {
        self.sessions.fetch_add(delta, Relaxed);
    }

    /// An RTP packet came in from a publisher.
    pub fn received(&self, payload: usize) {
        self.packets_in.fetch_add(1, Relaxed);
        self.bytes_in.fetch_add(payload as u64, Relaxed);
    }

    /// An RTP packet went to a subscriber.
    pub fn forwarded(&self, payload: usize) {
        self.packets_out.fetch_add(1, Relaxed);
        self.bytes_out.fetch_add(payload as u64, Relaxed);
    }

    /// NACKs newly received.
    pub fn nacks_added(&self, n: u64) {
        self.nacks.fetch_add(n, Relaxed);
    }

    /// A keyframe request (PLI/FIR) sent to a publisher.
    pub fn keyframe_request(&self) {
        self.keyframe_requests.fetch_add(1, Relaxed);
    }

    /// A subscriber's video m-line switched to another simulcast layer (or
    /// resumed after a pause), at a key frame.
    pub fn layer_switch(&self) {
        self.layer_switches.fetch_add(1, Relaxed);
    }

    /// A subscriber's video m-line was paused: no bandwidth for even its
    /// lowest layer, or the subscriber does not show it.
    pub fn video_paused(&self) {
        self.video_pauses.fetch_add(1, Relaxed);
    }

    /// A join refused at the handshake.
    pub fn join_refused(&self) {
        self.joins_refused.fetch_add(1, Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let gauges = [
            (
                "accord_sfu_participants",
                "Participants connected to signaling.",
                self.participants.load(Relaxed),
            ),
            (
                "accord_sfu_peer_connections",
                "Media peer connections.",
                self.peers.load(Relaxed),
            ),
            (
                "accord_sfu_rooms",
                "Rooms (main and caucus) with someone in them.",
                self.rooms.load(Relaxed),
            ),
            (
                "accord_sfu_sessions",
                "Live sessions with someone connected.",
                self.sessions.load(Relaxed),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let counters = [
            (
                "accord_sfu_rtp_packets_received_total",
                "RTP packets received from publishers.",
                &self.packets_in,
            ),
            (
                "accord_sfu_rtp_bytes_received_total",
                "RTP payload bytes received from publishers.",
                &self.bytes_in,
            ),
            (
                "accord_sfu_rtp_packets_forwarded_total",
                "RTP packets forwarded to subscribers.",
                &self.packets_out,
            ),
            (
                "accord_sfu_rtp_bytes_forwarded_total",
                "RTP payload bytes forwarded to subscribers.",
                &self.bytes_out,
            ),
            (
                "accord_sfu_nacks_received_total",
                "NACK requests received from subscribers.",
                &self.nacks,
            ),
            (
                "accord_sfu_keyframe_requests_total",
                "Keyframe requests (PLI/FIR) sent to publishers.",
                &self.keyframe_requests,
            ),
            (
                "accord_sfu_layer_switches_total",
                "Simulcast layer switches (and resumptions) on subscribers' video.",
                &self.layer_switches,
            ),
            (
                "accord_sfu_video_pauses_total",
                "Subscribers' video paused for bandwidth or an unshown tile.",
                &self.video_pauses,
            ),
            (
                "accord_sfu_joins_refused_total",
                "Joins refused at the handshake.",
                &self.joins_refused,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Relaxed)
            );
        }
        out
    }
}

//! Counters for `/metrics` (Prometheus text format). Labels carry no names
//! and no identifiers: only totals across the node.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the delay histograms' buckets, microseconds.
const DELAY_BUCKETS_US: [u64; 14] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
];

/// A Prometheus histogram of durations with fixed buckets.
#[derive(Debug, Default)]
struct Histogram {
    /// Per bucket of [`DELAY_BUCKETS_US`], then one for the rest; not
    /// cumulative (the exposition adds them up).
    buckets: [AtomicU64; DELAY_BUCKETS_US.len() + 1],
    sum_ns: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let ns = d.as_nanos();
        let i = DELAY_BUCKETS_US
            .iter()
            .position(|b| ns <= u128::from(*b) * 1000)
            .unwrap_or(DELAY_BUCKETS_US.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_ns
            .fetch_add(u64::try_from(ns).unwrap_or(u64::MAX), Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut count = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            count += bucket.load(Relaxed);
            let le = DELAY_BUCKETS_US
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |us| format!("{}", *us as f64 / 1e6));
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {count}");
        }
        let sum = self.sum_ns.load(Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

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
    read_wait: Histogram,
    turn_delay: Histogram,
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

    /// A datagram that arrived (the kernel's receive time) `wait` before the
    /// SFU read it: how long the SFU took to wake up and get to it.
    pub fn read_wait(&self, wait: Duration) {
        self.read_wait.observe(wait);
    }

    /// A datagram that arrived (the kernel's receive time) `delay` before
    /// the end of the session turn that handled it, when what it caused and
    /// is not paced had been handed to the kernel.
    pub fn turn_delay(&self, delay: Duration) {
        self.turn_delay.observe(delay);
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
        self.read_wait.render(
            &mut out,
            "accord_sfu_datagram_read_wait_seconds",
            "Time from a datagram's arrival at the host to its read by the SFU.",
        );
        self.turn_delay.render(
            &mut out,
            "accord_sfu_datagram_turn_seconds",
            "Time from a datagram's arrival at the host to the end of the session turn that handled it (what it caused and is not paced has been sent).",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_delays_are_a_cumulative_histogram_in_seconds() {
        let m = Metrics::default();
        m.turn_delay(Duration::from_micros(5));
        m.turn_delay(Duration::from_micros(10));
        m.turn_delay(Duration::from_micros(30));
        // Just above a bound: the next bucket.
        m.turn_delay(Duration::from_nanos(50_001));
        m.turn_delay(Duration::from_millis(2));
        m.turn_delay(Duration::from_secs(2));
        let text = m.render();
        for line in [
            "# TYPE accord_sfu_datagram_turn_seconds histogram",
            "accord_sfu_datagram_turn_seconds_bucket{le=\"0.00001\"} 2",
            "accord_sfu_datagram_turn_seconds_bucket{le=\"0.000025\"} 2",
            "accord_sfu_datagram_turn_seconds_bucket{le=\"0.00005\"} 3",
            "accord_sfu_datagram_turn_seconds_bucket{le=\"0.0001\"} 4",
            "accord_sfu_datagram_turn_seconds_bucket{le=\"0.001\"} 4",
            "accord_sfu_datagram_turn_seconds_bucket{le=\"0.0025\"} 5",
            "accord_sfu_datagram_turn_seconds_bucket{le=\"0.25\"} 5",
            "accord_sfu_datagram_turn_seconds_bucket{le=\"+Inf\"} 6",
            "accord_sfu_datagram_turn_seconds_sum 2.002095001",
            "accord_sfu_datagram_turn_seconds_count 6",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}

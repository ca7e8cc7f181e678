//! The SFU's counters, gauges and delay histograms for `/metrics`, exposed
//! through `prometheus-client` (the OpenMetrics text format). Labels carry
//! no names and no identifiers: only totals across the node.
//!
//! The per-packet path stays a relaxed atomic add: counters and gauges are
//! the crate's own (atomics inside), and the delay histograms are fixed
//! buckets of atomics that the crate's encoder renders
//! ([`DelayHistogram`]): its own histogram takes a lock on every
//! observation, which a datagram should not pay for.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

/// Upper bounds of the delay histograms' buckets, microseconds.
const DELAY_BUCKETS_US: [u64; 14] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
];

#[derive(Debug, Default)]
struct DelayCells {
    /// Per bucket of [`DELAY_BUCKETS_US`], then one for the rest; not
    /// cumulative (the encoder adds them up).
    buckets: [AtomicU64; DELAY_BUCKETS_US.len() + 1],
    sum_ns: AtomicU64,
}

/// A histogram of durations with fixed buckets, lock-free to observe,
/// rendered by `prometheus-client` as a histogram in seconds.
#[derive(Debug, Clone, Default)]
pub struct DelayHistogram(Arc<DelayCells>);

impl DelayHistogram {
    /// Counts one duration.
    pub fn observe(&self, d: Duration) {
        let ns = d.as_nanos();
        let i = DELAY_BUCKETS_US
            .iter()
            .position(|b| ns <= u128::from(*b) * 1000)
            .unwrap_or(DELAY_BUCKETS_US.len());
        self.0.buckets[i].fetch_add(1, Relaxed);
        self.0
            .sum_ns
            .fetch_add(u64::try_from(ns).unwrap_or(u64::MAX), Relaxed);
    }
}

impl TypedMetric for DelayHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for DelayHistogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let mut buckets = [(0.0, 0); DELAY_BUCKETS_US.len() + 1];
        let mut count = 0;
        for (i, cell) in self.0.buckets.iter().enumerate() {
            let n = cell.load(Relaxed);
            count += n;
            let le = DELAY_BUCKETS_US
                .get(i)
                .map_or(f64::INFINITY, |us| *us as f64 / 1e6);
            buckets[i] = (le, n);
        }
        let sum = self.0.sum_ns.load(Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// The SFU's counters and gauges, shared by every session.
#[derive(Debug)]
pub struct Metrics {
    participants: Gauge,
    peers: Gauge,
    rooms: Gauge,
    sessions: Gauge,
    packets_in: Counter,
    bytes_in: Counter,
    packets_out: Counter,
    bytes_out: Counter,
    nacks: Counter,
    keyframe_requests: Counter,
    layer_switches: Counter,
    video_pauses: Counter,
    joins_refused: Counter,
    read_wait: DelayHistogram,
    turn_delay: DelayHistogram,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut m = Metrics {
            participants: Gauge::default(),
            peers: Gauge::default(),
            rooms: Gauge::default(),
            sessions: Gauge::default(),
            packets_in: Counter::default(),
            bytes_in: Counter::default(),
            packets_out: Counter::default(),
            bytes_out: Counter::default(),
            nacks: Counter::default(),
            keyframe_requests: Counter::default(),
            layer_switches: Counter::default(),
            video_pauses: Counter::default(),
            joins_refused: Counter::default(),
            read_wait: DelayHistogram::default(),
            turn_delay: DelayHistogram::default(),
            registry: Registry::default(),
        };
        let r = &mut m.registry;
        // Counters are named without `_total`: the encoder adds it.
        r.register(
            "accord_sfu_participants",
            "Participants connected to signaling",
            m.participants.clone(),
        );
        r.register(
            "accord_sfu_peer_connections",
            "Media peer connections",
            m.peers.clone(),
        );
        r.register(
            "accord_sfu_rooms",
            "Rooms (main and caucus) with someone in them",
            m.rooms.clone(),
        );
        r.register(
            "accord_sfu_sessions",
            "Live sessions with someone connected",
            m.sessions.clone(),
        );
        r.register(
            "accord_sfu_rtp_packets_received",
            "RTP packets received from publishers",
            m.packets_in.clone(),
        );
        r.register(
            "accord_sfu_rtp_bytes_received",
            "RTP payload bytes received from publishers",
            m.bytes_in.clone(),
        );
        r.register(
            "accord_sfu_rtp_packets_forwarded",
            "RTP packets forwarded to subscribers",
            m.packets_out.clone(),
        );
        r.register(
            "accord_sfu_rtp_bytes_forwarded",
            "RTP payload bytes forwarded to subscribers",
            m.bytes_out.clone(),
        );
        r.register(
            "accord_sfu_nacks_received",
            "NACK requests received from subscribers",
            m.nacks.clone(),
        );
        r.register(
            "accord_sfu_keyframe_requests",
            "Keyframe requests (PLI/FIR) sent to publishers",
            m.keyframe_requests.clone(),
        );
        r.register(
            "accord_sfu_layer_switches",
            "Simulcast layer switches (and resumptions) on subscribers' video",
            m.layer_switches.clone(),
        );
        r.register(
            "accord_sfu_video_pauses",
            "Subscribers' video paused for bandwidth or an unshown tile",
            m.video_pauses.clone(),
        );
        r.register(
            "accord_sfu_joins_refused",
            "Joins refused at the handshake",
            m.joins_refused.clone(),
        );
        r.register(
            "accord_sfu_datagram_read_wait_seconds",
            "Time from a datagram's arrival at the host to its read by the SFU",
            m.read_wait.clone(),
        );
        r.register(
            "accord_sfu_datagram_turn_seconds",
            "Time from a datagram's arrival at the host to the end of the session turn that handled it (what it caused and is not paced has been sent)",
            m.turn_delay.clone(),
        );
        m
    }
}

impl Metrics {
    /// Signaling participants connected now.
    pub fn participants(&self) -> i64 {
        self.participants.get()
    }

    /// RTP packets forwarded to subscribers so far.
    pub fn packets_forwarded(&self) -> u64 {
        self.packets_out.get()
    }

    /// Signaling participants connected: +1 or -1.
    pub fn participants_changed(&self, delta: i64) {
        self.participants.inc_by(delta);
    }

    /// Media peer connections: +1 or -1.
    pub fn peers_changed(&self, delta: i64) {
        self.peers.inc_by(delta);
    }

    /// Rooms with someone in them (main and caucuses), as a change.
    pub fn rooms_changed(&self, delta: i64) {
        self.rooms.inc_by(delta);
    }

    /// Live sessions, as a change.
    pub fn sessions_changed(&self, delta: i64) {
        self.sessions.inc_by(delta);
    }

    /// An RTP packet came in from a publisher.
    pub fn received(&self, payload: usize) {
        self.packets_in.inc();
        self.bytes_in.inc_by(payload as u64);
    }

    /// An RTP packet went to a subscriber.
    pub fn forwarded(&self, payload: usize) {
        self.packets_out.inc();
        self.bytes_out.inc_by(payload as u64);
    }

    /// NACKs newly received.
    pub fn nacks_added(&self, n: u64) {
        self.nacks.inc_by(n);
    }

    /// A keyframe request (PLI/FIR) sent to a publisher.
    pub fn keyframe_request(&self) {
        self.keyframe_requests.inc();
    }

    /// A subscriber's video m-line switched to another simulcast layer (or
    /// resumed after a pause), at a key frame.
    pub fn layer_switch(&self) {
        self.layer_switches.inc();
    }

    /// A subscriber's video m-line was paused: no bandwidth for even its
    /// lowest layer, or the subscriber does not show it.
    pub fn video_paused(&self) {
        self.video_pauses.inc();
    }

    /// A join refused at the handshake.
    pub fn join_refused(&self) {
        self.joins_refused.inc();
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

    /// Appends the metrics to `out` in the OpenMetrics text format, without
    /// the closing `# EOF` (so that a process serving more than the SFU can
    /// put its own beside them).
    pub fn encode(&self, out: &mut String) -> std::fmt::Result {
        prometheus_client::encoding::text::encode_registry(out, &self.registry)
    }

    /// The whole OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = self.encode(&mut out);
        let _ = out.write_str("# EOF\n");
        out
    }
}

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

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
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn counters_and_gauges_keep_the_dashboards_names() {
        let m = Metrics::default();
        m.forwarded(100);
        m.forwarded(50);
        m.received(70);
        m.participants_changed(3);
        m.participants_changed(-1);
        m.join_refused();
        let text = m.render();
        for line in [
            "# TYPE accord_sfu_rtp_packets_forwarded counter",
            "accord_sfu_rtp_packets_forwarded_total 2",
            "accord_sfu_rtp_bytes_forwarded_total 150",
            "accord_sfu_rtp_packets_received_total 1",
            "accord_sfu_rtp_bytes_received_total 70",
            "# TYPE accord_sfu_participants gauge",
            "accord_sfu_participants 2",
            "accord_sfu_joins_refused_total 1",
            "accord_sfu_datagram_read_wait_seconds_count 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert_eq!(m.packets_forwarded(), 2);
        assert_eq!(m.participants(), 2);
    }
}

//! What a bot received: per sender, source and simulcast layer, packets,
//! bytes, arrival times, latency percentiles and lost packets; packets
//! without a tag; an optional bounded log of every tagged arrival; and what
//! it sent, with an optional bounded log of that too.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use serde::Serialize;
use uuid::Uuid;

use crate::e2ee::frame::FrameError;
use crate::e2ee::packet::OpenError;
use crate::tag::{Source, Tag};

/// Latency samples kept per stream; past this, a uniform reservoir sample.
const MAX_LATENCY_SAMPLES: usize = 100_000;
/// Sequence numbers remembered behind the highest, to tell duplicates from
/// late arrivals.
const SEQ_WINDOW: u64 = 4096;

/// One tagged packet's arrival, for tests that check who received what when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Arrival {
    /// When it arrived (monotonic; not serialized).
    #[serde(skip)]
    pub at: Instant,
    /// When it arrived, on the tag's clock ([`crate::tag::now_ns`]).
    pub arrived_ns: u64,
    /// Who sent it.
    pub sender: Uuid,
    /// From which source.
    pub source: Source,
    /// From which simulcast layer (0 without simulcast).
    pub layer: u8,
    /// The sender's sequence number (per source and layer).
    pub seq: u64,
    /// When it was sent ([`crate::tag::now_ns`] at the sender).
    pub sent_ns: u64,
    /// Its payload's length.
    pub bytes: u32,
}

/// One packet a bot sent, for tests that compare what arrived with what left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Departure {
    /// From which source.
    pub source: Source,
    /// From which simulcast layer (0 without simulcast).
    pub layer: u8,
    /// Its sequence number (per source and layer).
    pub seq: u64,
    /// When it was sent ([`crate::tag::now_ns`]).
    pub sent_ns: u64,
    /// Its payload's length.
    pub bytes: u32,
    /// Whether the peer connection took it.
    pub ok: bool,
}

/// What was received from one sender's source (one simulcast layer of it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamReport {
    /// Who sent it.
    pub sender: Uuid,
    /// Which of their sources.
    pub source: Source,
    /// Which simulcast layer of it (0 without simulcast).
    pub layer: u8,
    /// Tagged packets received (duplicates included).
    pub packets: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Packets received more than once.
    pub duplicates: u64,
    /// Packets that arrived after a later one.
    pub reordered: u64,
    /// Sequence numbers between the lowest and highest received that never
    /// arrived (so far).
    pub lost: u64,
    /// Lowest and highest sequence numbers received.
    pub first_seq: u64,
    /// Highest sequence number received.
    pub last_seq: u64,
    /// First arrival, nanoseconds since the UNIX epoch ([`crate::tag::now_ns`]).
    pub first_arrival_ns: u64,
    /// Last arrival, likewise.
    pub last_arrival_ns: u64,
    /// Median of arrival minus send time, milliseconds.
    pub latency_p50_ms: f64,
    /// 99th percentile of arrival minus send time, milliseconds.
    pub latency_p99_ms: f64,
    /// Largest arrival minus send time, milliseconds.
    pub latency_max_ms: f64,
}

impl StreamReport {
    /// Fraction of the packets between the first and last received that were lost.
    pub fn loss(&self) -> f64 {
        let expected = self.last_seq.saturating_sub(self.first_seq) + 1;
        self.lost as f64 / expected as f64
    }

    /// Payload bit rate between the first and last arrival, kbit/s.
    pub fn kbps(&self) -> f64 {
        let span_ns = self.last_arrival_ns.saturating_sub(self.first_arrival_ns);
        if span_ns == 0 {
            return 0.0;
        }
        self.bytes as f64 * 8.0 / (span_ns as f64 / 1e9) / 1000.0
    }
}

/// What was sent on one source (or one layer of it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentReport {
    /// Packets handed to the peer connection.
    pub packets: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// Packets the peer connection refused.
    pub errors: u64,
}

/// A snapshot of what a bot received (and sent).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The bot's participant id.
    pub participant: Option<Uuid>,
    /// One per sender, source and layer received, ordered by sender, source
    /// then layer.
    pub streams: Vec<StreamReport>,
    /// RTP packets whose payload carries no tag.
    pub untagged_packets: u64,
    /// Their payload bytes.
    pub untagged_bytes: u64,
    /// Tagged packets that came on a track whose stream id (the `msid`, which
    /// the SFU sets to the sender's id) names someone else.
    pub mislabeled_packets: u64,
    /// What this bot sent, per source (all its layers).
    pub sent: BTreeMap<Source, SentReport>,
    /// What this bot sent, per source and layer, ordered so.
    pub sent_layers: Vec<SentLayerReport>,
    /// Server offers answered.
    pub renegotiations: u64,
    /// Server offers that could not be answered, or whose answer the server
    /// refused.
    pub renegotiation_errors: u64,
    /// When the first server offer arrived and when its answer was sent
    /// (clock of [`crate::tag::now_ns`]; `None` before any).
    pub first_offer_ns: Option<(u64, u64)>,
    /// When ICE first reported connected, and when the peer connection did
    /// (DTLS done): [`crate::tag::now_ns`]'s clock.
    pub ice_connected_ns: Option<u64>,
    pub connected_ns: Option<u64>,
    /// End-to-end encryption of what was received and sent (all zero when
    /// the bot does not encrypt).
    pub e2ee: E2eeReport,
}

/// What end-to-end encryption did: frames opened, and frames dropped by
/// reason (each dropped frame also counts as an untagged packet: its tag
/// could not be read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct E2eeReport {
    /// Frames decrypted, their tag read.
    pub opened: u64,
    /// Dropped: no key at all was held for the sender.
    pub no_sender_key: u64,
    /// Dropped: no key of the frame's key id was held for the sender.
    pub unknown_key: u64,
    /// Dropped: a counter already accepted under its key.
    pub replayed: u64,
    /// Dropped: the authentication tag did not verify.
    pub forged: u64,
    /// Dropped: too short or malformed, or without a tag once decrypted.
    pub malformed: u64,
    /// Received in clear (a readable tag without decryption): someone who
    /// does not encrypt, or a forwarder that does not forward what was sent.
    pub clear: u64,
    /// Frames this bot did not send because it held no sender key (in the
    /// lobby, before its first room).
    pub unsent_without_key: u64,
    /// Sender keys of others accepted.
    pub keys_accepted: u64,
    /// Sender keys of others refused (replayed, forged, for another room,
    /// from someone not in the room).
    pub keys_refused: u64,
}

impl E2eeReport {
    /// Frames dropped for any reason.
    pub fn dropped(&self) -> u64 {
        self.no_sender_key + self.unknown_key + self.replayed + self.forged + self.malformed
    }
}

/// What was sent on one layer of one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentLayerReport {
    /// The source.
    pub source: Source,
    /// The layer (0 without simulcast).
    pub layer: u8,
    /// What was sent on it.
    #[serde(flatten)]
    pub sent: SentReport,
}

impl Report {
    /// The stream received from `sender`'s `source`, if any: its only layer,
    /// or the lowest received of a simulcast source.
    pub fn stream(&self, sender: Uuid, source: Source) -> Option<&StreamReport> {
        self.streams
            .iter()
            .find(|s| s.sender == sender && s.source == source)
    }

    /// The stream received from one layer of `sender`'s `source`, if any.
    pub fn stream_layer(&self, sender: Uuid, source: Source, layer: u8) -> Option<&StreamReport> {
        self.streams
            .iter()
            .find(|s| s.sender == sender && s.source == source && s.layer == layer)
    }

    /// Tagged packets received from `sender`'s `source`, all layers (0 if none).
    pub fn packets_from(&self, sender: Uuid, source: Source) -> u64 {
        self.streams
            .iter()
            .filter(|s| s.sender == sender && s.source == source)
            .map(|s| s.packets)
            .sum()
    }
}

/// Tracks which sequence numbers of one stream arrived.
#[derive(Debug, Clone)]
struct SeqTracker {
    first: u64,
    highest: u64,
    /// Bit `i` set: `highest - i` arrived (`i < SEQ_WINDOW`).
    seen: Vec<u64>,
    unique: u64,
    duplicates: u64,
    reordered: u64,
}

impl SeqTracker {
    fn new(seq: u64) -> SeqTracker {
        let mut seen = vec![0u64; (SEQ_WINDOW / 64) as usize];
        seen[0] = 1;
        SeqTracker {
            first: seq,
            highest: seq,
            seen,
            unique: 1,
            duplicates: 0,
            reordered: 0,
        }
    }

    fn bit(&self, back: u64) -> bool {
        let (word, bit) = ((back / 64) as usize, back % 64);
        self.seen.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    fn set(&mut self, back: u64) {
        let (word, bit) = ((back / 64) as usize, back % 64);
        if let Some(w) = self.seen.get_mut(word) {
            *w |= 1 << bit;
        }
    }

    /// Moves the window up by `by`.
    fn shift(&mut self, by: u64) {
        if by >= SEQ_WINDOW {
            self.seen.iter_mut().for_each(|w| *w = 0);
            return;
        }
        let (words, bits) = ((by / 64) as usize, by % 64);
        let n = self.seen.len();
        for i in (0..n).rev() {
            let lo = i.checked_sub(words).map_or(0, |j| self.seen[j]);
            let lower = i.checked_sub(words + 1).map_or(0, |j| self.seen[j]);
            self.seen[i] = if bits == 0 {
                lo
            } else {
                (lo << bits) | (lower >> (64 - bits))
            };
        }
    }

    fn record(&mut self, seq: u64) {
        if seq > self.highest {
            self.shift(seq - self.highest);
            self.highest = seq;
            self.set(0);
            self.unique += 1;
            return;
        }
        let back = self.highest - seq;
        if back < SEQ_WINDOW {
            if self.bit(back) {
                self.duplicates += 1;
                return;
            }
            self.set(back);
        }
        // Out of the window: assumed new (a duplicate that late is unlikely).
        self.unique += 1;
        self.reordered += 1;
        if seq < self.first {
            self.first = seq;
        }
    }

    fn lost(&self) -> u64 {
        (self.highest - self.first + 1).saturating_sub(self.unique)
    }
}

#[derive(Debug, Clone)]
struct Stream {
    packets: u64,
    bytes: u64,
    seq: SeqTracker,
    first_arrival_ns: u64,
    last_arrival_ns: u64,
    /// Latency samples, microseconds.
    latencies: Vec<u32>,
    latency_count: u64,
    latency_max_us: u32,
    rng: u64,
}

impl Stream {
    fn new(tag: &Tag, arrived_ns: u64) -> Stream {
        Stream {
            packets: 0,
            bytes: 0,
            seq: SeqTracker::new(tag.seq),
            first_arrival_ns: arrived_ns,
            last_arrival_ns: arrived_ns,
            latencies: Vec::new(),
            latency_count: 0,
            latency_max_us: 0,
            rng: tag.seq ^ 0x2545_F491_4F6C_DD1D,
        }
    }

    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn sample_latency(&mut self, us: u32) {
        self.latency_count += 1;
        self.latency_max_us = self.latency_max_us.max(us);
        if self.latencies.len() < MAX_LATENCY_SAMPLES {
            self.latencies.push(us);
        } else {
            // Reservoir sampling keeps a uniform sample of every latency seen.
            let j = self.next_random() % self.latency_count;
            if let Some(slot) = self.latencies.get_mut(j as usize) {
                *slot = us;
            }
        }
    }
}

/// The nearest-rank percentile `p` (0 to 100) of sorted samples.
fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Accumulates what a bot receives; [`Recorder::report`] snapshots it.
#[derive(Debug)]
pub struct Recorder {
    streams: HashMap<(Uuid, Source, u8), Stream>,
    untagged_packets: u64,
    untagged_bytes: u64,
    mislabeled_packets: u64,
    sent: BTreeMap<(Source, u8), SentReport>,
    renegotiations: u64,
    renegotiation_errors: u64,
    first_offer_ns: Option<(u64, u64)>,
    ice_connected_ns: Option<u64>,
    connected_ns: Option<u64>,
    e2ee: E2eeReport,
    log: VecDeque<Arrival>,
    log_capacity: usize,
    departures: VecDeque<Departure>,
    departures_capacity: usize,
}

/// Appends to a bounded log, dropping the oldest entry when full.
fn push_bounded<T>(log: &mut VecDeque<T>, capacity: usize, item: T) {
    if capacity == 0 {
        return;
    }
    if log.len() == capacity {
        log.pop_front();
    }
    log.push_back(item);
}

impl Recorder {
    /// A recorder keeping the last `log_capacity` arrivals (0: no log) and
    /// no log of what is sent.
    pub fn new(log_capacity: usize) -> Recorder {
        Recorder::with_logs(log_capacity, 0)
    }

    /// A recorder keeping the last `log_capacity` arrivals and the last
    /// `departures_capacity` packets sent (0: no such log).
    pub fn with_logs(log_capacity: usize, departures_capacity: usize) -> Recorder {
        Recorder {
            streams: HashMap::new(),
            untagged_packets: 0,
            untagged_bytes: 0,
            mislabeled_packets: 0,
            sent: BTreeMap::new(),
            renegotiations: 0,
            renegotiation_errors: 0,
            first_offer_ns: None,
            ice_connected_ns: None,
            connected_ns: None,
            e2ee: E2eeReport::default(),
            log: VecDeque::with_capacity(log_capacity.min(1 << 16)),
            log_capacity,
            departures: VecDeque::with_capacity(departures_capacity.min(1 << 16)),
            departures_capacity,
        }
    }

    /// Records one packet: its tag, if it had one, its payload length, when
    /// it arrived, and the stream id of the track it came on.
    pub fn record(
        &mut self,
        tag: Option<Tag>,
        bytes: usize,
        at: Instant,
        arrived_ns: u64,
        stream_id: Option<Uuid>,
    ) {
        let Some(tag) = tag else {
            self.untagged_packets += 1;
            self.untagged_bytes += bytes as u64;
            return;
        };
        if stream_id.is_some_and(|id| id != tag.sender) {
            self.mislabeled_packets += 1;
        }
        let stream = self
            .streams
            .entry((tag.sender, tag.source, tag.layer))
            .or_insert_with(|| Stream::new(&tag, arrived_ns));
        if stream.packets > 0 {
            stream.seq.record(tag.seq);
        }
        stream.packets += 1;
        stream.bytes += bytes as u64;
        stream.first_arrival_ns = stream.first_arrival_ns.min(arrived_ns);
        stream.last_arrival_ns = stream.last_arrival_ns.max(arrived_ns);
        let latency_us = arrived_ns.saturating_sub(tag.sent_ns) / 1000;
        stream.sample_latency(u32::try_from(latency_us).unwrap_or(u32::MAX));
        push_bounded(
            &mut self.log,
            self.log_capacity,
            Arrival {
                at,
                arrived_ns,
                sender: tag.sender,
                source: tag.source,
                layer: tag.layer,
                seq: tag.seq,
                sent_ns: tag.sent_ns,
                bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
            },
        );
    }

    /// Counts one encrypted frame received: opened, or dropped and why.
    pub fn e2ee_received(&mut self, outcome: Result<(), OpenError>) {
        let e = &mut self.e2ee;
        match outcome {
            Ok(()) => e.opened += 1,
            Err(OpenError::NoSenderKey) => e.no_sender_key += 1,
            Err(OpenError::Frame(FrameError::UnknownKey)) => e.unknown_key += 1,
            Err(OpenError::Frame(FrameError::Replayed)) => e.replayed += 1,
            Err(OpenError::Frame(FrameError::Forged)) => e.forged += 1,
            Err(OpenError::Frame(FrameError::Malformed) | OpenError::Tag(_)) => e.malformed += 1,
        }
    }

    /// Counts one sender key received: accepted or refused.
    pub fn e2ee_key(&mut self, accepted: bool) {
        if accepted {
            self.e2ee.keys_accepted += 1;
        } else {
            self.e2ee.keys_refused += 1;
        }
    }

    /// Counts one frame received in clear although encryption is on.
    pub fn e2ee_clear(&mut self) {
        self.e2ee.clear += 1;
    }

    /// Counts one packet sent with `tag` (or refused, when `ok` is false).
    pub fn sent(&mut self, tag: &Tag, bytes: usize, ok: bool) {
        let s = self.sent.entry((tag.source, tag.layer)).or_default();
        if ok {
            s.packets += 1;
            s.bytes += bytes as u64;
        } else {
            s.errors += 1;
        }
        push_bounded(
            &mut self.departures,
            self.departures_capacity,
            Departure {
                source: tag.source,
                layer: tag.layer,
                seq: tag.seq,
                sent_ns: tag.sent_ns,
                bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
                ok,
            },
        );
    }

    /// The log of packets sent, oldest first.
    pub fn departures(&self) -> Vec<Departure> {
        self.departures.iter().copied().collect()
    }

    /// Counts one server offer, answered or not: it arrived at
    /// `offered_ns` and was answered (or given up) at `answered_ns`.
    pub fn renegotiated(&mut self, ok: bool, offered_ns: u64, answered_ns: u64) {
        self.first_offer_ns.get_or_insert((offered_ns, answered_ns));
        if ok {
            self.renegotiations += 1;
        } else {
            self.renegotiation_errors += 1;
        }
    }

    /// ICE connected at `at_ns` (the first time counts).
    pub fn ice_connected(&mut self, at_ns: u64) {
        self.ice_connected_ns.get_or_insert(at_ns);
    }

    /// The peer connection connected at `at_ns` (the first time counts).
    pub fn connected(&mut self, at_ns: u64) {
        self.connected_ns.get_or_insert(at_ns);
    }

    /// The server refused an answer already counted as answered: that
    /// offer counts as not answered after all.
    pub fn answer_refused(&mut self) {
        self.renegotiations = self.renegotiations.saturating_sub(1);
        self.renegotiation_errors += 1;
    }

    /// The arrival log, oldest first.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.log.iter().copied().collect()
    }

    /// A snapshot.
    pub fn report(&self, participant: Option<Uuid>) -> Report {
        let mut streams: Vec<StreamReport> = self
            .streams
            .iter()
            .map(|(&(sender, source, layer), s)| {
                let mut sorted = s.latencies.clone();
                sorted.sort_unstable();
                let ms = |us: u32| f64::from(us) / 1000.0;
                StreamReport {
                    sender,
                    source,
                    layer,
                    packets: s.packets,
                    bytes: s.bytes,
                    duplicates: s.seq.duplicates,
                    reordered: s.seq.reordered,
                    lost: s.seq.lost(),
                    first_seq: s.seq.first,
                    last_seq: s.seq.highest,
                    first_arrival_ns: s.first_arrival_ns,
                    last_arrival_ns: s.last_arrival_ns,
                    latency_p50_ms: ms(percentile(&sorted, 50.0)),
                    latency_p99_ms: ms(percentile(&sorted, 99.0)),
                    latency_max_ms: ms(s.latency_max_us),
                }
            })
            .collect();
        streams.sort_by_key(|s| (s.sender, s.source, s.layer));
        let mut sent: BTreeMap<Source, SentReport> = BTreeMap::new();
        for (&(source, _), s) in &self.sent {
            let total = sent.entry(source).or_default();
            total.packets += s.packets;
            total.bytes += s.bytes;
            total.errors += s.errors;
        }
        Report {
            participant,
            streams,
            untagged_packets: self.untagged_packets,
            untagged_bytes: self.untagged_bytes,
            mislabeled_packets: self.mislabeled_packets,
            sent,
            sent_layers: self
                .sent
                .iter()
                .map(|(&(source, layer), &sent)| SentLayerReport {
                    source,
                    layer,
                    sent,
                })
                .collect(),
            renegotiations: self.renegotiations,
            renegotiation_errors: self.renegotiation_errors,
            first_offer_ns: self.first_offer_ns,
            ice_connected_ns: self.ice_connected_ns,
            connected_ns: self.connected_ns,
            e2ee: self.e2ee,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn tag(sender: u128, source: Source, seq: u64, sent_ns: u64) -> Tag {
        Tag {
            sender: Uuid::from_u128(sender),
            source,
            layer: 0,
            seq,
            sent_ns,
        }
    }

    fn feed(r: &mut Recorder, sender: u128, source: Source, seqs: &[u64]) {
        for &seq in seqs {
            let sent = 1_000 * MS + seq * 20 * MS;
            r.record(
                Some(tag(sender, source, seq, sent)),
                100,
                Instant::now(),
                sent + 5 * MS,
                None,
            );
        }
    }

    #[test]
    fn counts_gaps_duplicates_and_reordering() {
        let mut r = Recorder::new(0);
        // 10..=20 with 13 and 17 missing, 15 twice, 12 late.
        feed(
            &mut r,
            1,
            Source::Microphone,
            &[10, 11, 14, 15, 15, 16, 12, 18, 19, 20],
        );
        let report = r.report(None);
        let s = report
            .stream(Uuid::from_u128(1), Source::Microphone)
            .expect("a stream");
        assert_eq!(s.packets, 10);
        assert_eq!(s.bytes, 1000);
        assert_eq!(s.duplicates, 1);
        assert_eq!(s.reordered, 1);
        assert_eq!((s.first_seq, s.last_seq), (10, 20));
        assert_eq!(s.lost, 2);
        assert!((s.loss() - 2.0 / 11.0).abs() < 1e-9);
        // A late arrival of a lost packet is no longer lost.
        feed(&mut r, 1, Source::Microphone, &[13]);
        assert_eq!(
            r.report(None)
                .stream(Uuid::from_u128(1), Source::Microphone)
                .map(|s| s.lost),
            Some(1)
        );
    }

    #[test]
    fn streams_are_kept_apart_and_untagged_counted() {
        let mut r = Recorder::new(0);
        feed(&mut r, 1, Source::Microphone, &[0, 1, 2]);
        feed(&mut r, 1, Source::Camera, &[0, 1]);
        feed(&mut r, 2, Source::Camera, &[5]);
        r.record(None, 300, Instant::now(), 0, None);
        r.record(
            Some(tag(3, Source::Screen, 0, 0)),
            10,
            Instant::now(),
            1,
            Some(Uuid::from_u128(4)),
        );
        let report = r.report(Some(Uuid::from_u128(9)));
        assert_eq!(report.participant, Some(Uuid::from_u128(9)));
        assert_eq!(report.streams.len(), 4);
        assert_eq!(
            report.packets_from(Uuid::from_u128(1), Source::Microphone),
            3
        );
        assert_eq!(report.packets_from(Uuid::from_u128(1), Source::Camera), 2);
        assert_eq!(report.packets_from(Uuid::from_u128(2), Source::Camera), 1);
        assert_eq!(
            report.packets_from(Uuid::from_u128(2), Source::Microphone),
            0
        );
        assert_eq!((report.untagged_packets, report.untagged_bytes), (1, 300));
        assert_eq!(report.mislabeled_packets, 1);
        // Sorted by sender, then source.
        assert_eq!(report.streams[0].source, Source::Microphone);
        assert_eq!(report.streams[1].source, Source::Camera);
    }

    #[test]
    fn latency_percentiles_and_rate() {
        let mut r = Recorder::new(0);
        let sender = Uuid::from_u128(1);
        // 100 packets 10 ms apart with latencies 1..=100 ms, 1000 bytes each.
        for i in 0..100u64 {
            let arrived = 10_000 * MS + i * 10 * MS;
            r.record(
                Some(Tag {
                    sender,
                    source: Source::Camera,
                    layer: 0,
                    seq: i,
                    sent_ns: arrived - (i + 1) * MS,
                }),
                1000,
                Instant::now(),
                arrived,
                Some(sender),
            );
        }
        let report = r.report(None);
        let s = report.stream(sender, Source::Camera).expect("a stream");
        assert_eq!(s.latency_p50_ms, 50.0);
        assert_eq!(s.latency_p99_ms, 99.0);
        assert_eq!(s.latency_max_ms, 100.0);
        assert_eq!(s.lost, 0);
        // 100 kB over 0.99 s.
        assert!((s.kbps() - 100_000.0 * 8.0 / 0.99 / 1000.0).abs() < 1e-6);
        assert_eq!(report.mislabeled_packets, 0);
        // A send time in the future (clock skew) counts as zero latency.
        r.record(
            Some(tag(7, Source::Camera, 0, u64::MAX)),
            1,
            Instant::now(),
            5,
            None,
        );
        let report = r.report(None);
        assert_eq!(
            report
                .stream(Uuid::from_u128(7), Source::Camera)
                .map(|s| s.latency_max_ms),
            Some(0.0)
        );
    }

    #[test]
    fn percentile_edges() {
        assert_eq!(percentile(&[], 50.0), 0);
        assert_eq!(percentile(&[7], 0.0), 7);
        assert_eq!(percentile(&[7], 100.0), 7);
        assert_eq!(percentile(&[1, 2, 3, 4], 50.0), 2);
        assert_eq!(percentile(&[1, 2, 3, 4], 75.0), 3);
        assert_eq!(percentile(&[1, 2, 3, 4], 100.0), 4);
    }

    #[test]
    fn big_jumps_and_long_runs_keep_counting() {
        let mut r = Recorder::new(0);
        let seqs: Vec<u64> = (0..10_000).filter(|s| s % 100 != 99).collect();
        feed(&mut r, 1, Source::Camera, &seqs);
        // A jump far past the window, then a packet from before it.
        feed(&mut r, 1, Source::Camera, &[50_000, 9_999]);
        let report = r.report(None);
        let s = report
            .stream(Uuid::from_u128(1), Source::Camera)
            .expect("a stream");
        assert_eq!(s.packets, 9_902);
        assert_eq!(s.duplicates, 0);
        // 0..=50_000 expected, 9_902 arrived.
        assert_eq!(s.lost, 50_001 - 9_902);
        // Duplicates just behind the highest are still recognised.
        feed(&mut r, 1, Source::Camera, &[49_990, 49_990]);
        let report = r.report(None);
        let s = report
            .stream(Uuid::from_u128(1), Source::Camera)
            .expect("a stream");
        assert_eq!(s.duplicates, 1);
    }

    #[test]
    fn the_log_is_bounded() {
        let mut r = Recorder::new(3);
        feed(&mut r, 1, Source::Microphone, &[0, 1, 2, 3, 4]);
        let log = r.arrivals();
        assert_eq!(log.iter().map(|a| a.seq).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(log[0].sender, Uuid::from_u128(1));
        assert_eq!(log[0].sent_ns + 5 * MS, log[0].arrived_ns);
        assert!(Recorder::new(0).arrivals().is_empty());
    }

    #[test]
    fn a_refused_answer_moves_its_offer_to_the_errors() {
        let mut r = Recorder::new(0);
        r.renegotiated(true, 10, 20);
        r.renegotiated(true, 30, 40);
        r.renegotiated(false, 50, 60);
        r.answer_refused();
        let report = r.report(None);
        assert_eq!((report.renegotiations, report.renegotiation_errors), (1, 2));
        assert_eq!(
            report.first_offer_ns,
            Some((10, 20)),
            "the first offer's times"
        );
    }

    #[test]
    fn sent_counts() {
        let mut r = Recorder::new(0);
        let mic = tag(1, Source::Microphone, 0, 0);
        r.sent(&mic, 100, true);
        r.sent(&mic, 100, true);
        r.sent(&mic, 100, false);
        let report = r.report(None);
        assert_eq!(
            report.sent.get(&Source::Microphone),
            Some(&SentReport {
                packets: 2,
                bytes: 200,
                errors: 1
            })
        );
        assert!(r.departures().is_empty());
    }

    #[test]
    fn simulcast_layers_are_streams_of_their_own() {
        let mut r = Recorder::with_logs(100, 3);
        let sender = Uuid::from_u128(5);
        // Each layer numbers its packets from 0; a switch is no loss.
        for (layer, seqs) in [(0u8, 0..10u64), (2, 0..4), (1, 3..6)] {
            for seq in seqs {
                let t = Tag {
                    sender,
                    source: Source::Camera,
                    layer,
                    seq,
                    sent_ns: 1_000 * MS + seq * MS,
                };
                r.record(
                    Some(t),
                    500 + usize::from(layer),
                    Instant::now(),
                    t.sent_ns + MS,
                    None,
                );
                r.sent(&t, 500, true);
            }
        }
        let report = r.report(None);
        assert_eq!(report.streams.len(), 3);
        assert_eq!(
            report.streams.iter().map(|s| s.layer).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert!(report.streams.iter().all(|s| s.lost == 0));
        assert_eq!(report.packets_from(sender, Source::Camera), 17);
        assert_eq!(
            report
                .stream_layer(sender, Source::Camera, 2)
                .map(|s| s.packets),
            Some(4)
        );
        assert_eq!(
            report.stream(sender, Source::Camera).map(|s| s.layer),
            Some(0)
        );
        assert!(report.stream_layer(sender, Source::Camera, 3).is_none());
        // Sent: per source in all, and per layer.
        assert_eq!(
            report.sent.get(&Source::Camera).map(|s| s.packets),
            Some(17)
        );
        assert_eq!(
            report
                .sent_layers
                .iter()
                .map(|l| (l.layer, l.sent.packets))
                .collect::<Vec<_>>(),
            vec![(0, 10), (1, 3), (2, 4)]
        );
        // The logs say which layer each packet was on.
        let log = r.arrivals();
        assert_eq!(log.len(), 17);
        assert_eq!((log[10].layer, log[10].seq, log[10].bytes), (2, 0, 502));
        let departures = r.departures();
        assert_eq!(
            departures
                .iter()
                .map(|d| (d.layer, d.seq))
                .collect::<Vec<_>>(),
            vec![(1, 3), (1, 4), (1, 5)]
        );
        let json = serde_json::to_value(&report).expect("serializes");
        assert_eq!(json["sentLayers"][2]["layer"], 2);
        assert_eq!(json["sentLayers"][2]["packets"], 4);
        assert_eq!(json["streams"][1]["layer"], 1);
    }
}

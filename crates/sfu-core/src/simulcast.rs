//! Simulcast: what each publisher's layers carry, and which layer each
//! receiver's video m-line forwards.
//!
//! A publisher may send a video source as up to [`MAX_LAYERS`] RID layers.
//! Layers are ordered as the publisher lists them in `a=simulcast`, lowest
//! first (the portal lists `q;h;f`: quarter, half and full resolution); the
//! allocation never relies on that order for sizes, which come from the key
//! frames each layer sends. A publisher without simulcast has one layer.
//!
//! Each receiver's video m-line forwards one layer at a time. [`allocate`]
//! decides which from the receiver's bandwidth estimate, the tile size the
//! receiver shows the video at and the measured rate and size of each layer;
//! [`Selection`] adds hysteresis and carries the switch out: a switch
//! happens only at a key frame of the target layer, and until then the
//! current layer keeps flowing.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use str0m::media::Rid;

/// At most this many layers per source; further rids are ignored.
pub const MAX_LAYERS: usize = 3;
/// The window incoming rates are measured over.
pub const RATE_WINDOW: Duration = Duration::from_millis(1500);
/// A layer with no packet for this long is not offered to receivers.
pub const LAYER_TIMEOUT: Duration = Duration::from_secs(1);
/// An upgrade needs the estimate to exceed what it costs by this factor...
pub const UPGRADE_MARGIN: f64 = 1.15;
/// ...continuously for this long. Downgrades happen at once.
pub const UPGRADE_HOLD: Duration = Duration::from_secs(1);
/// A layer is never assumed cheaper than this (its rate is not known yet).
pub const MIN_LAYER_BPS: u64 = 30_000;
/// What a packet costs on the wire besides its payload: RTP header and
/// extensions, SRTP tag, UDP and IP (an estimate: bandwidth estimates count
/// whole packets).
pub const PACKET_OVERHEAD: usize = 60;
/// Buckets of the rate window.
const BUCKET: Duration = Duration::from_millis(100);

/// Bytes over a sliding window, in buckets.
#[derive(Debug, Default, Clone)]
pub struct RateMeter {
    buckets: VecDeque<(Instant, u64)>,
    first: Option<Instant>,
}

impl RateMeter {
    /// Counts `bytes` arriving at `now`.
    pub fn add(&mut self, now: Instant, bytes: usize) {
        self.first.get_or_insert(now);
        match self.buckets.back_mut() {
            Some((start, sum)) if now.saturating_duration_since(*start) < BUCKET => {
                *sum += bytes as u64;
            }
            _ => self.buckets.push_back((now, bytes as u64)),
        }
        self.expire(now);
    }

    fn expire(&mut self, now: Instant) {
        while self
            .buckets
            .front()
            .is_some_and(|(start, _)| now.saturating_duration_since(*start) > RATE_WINDOW)
        {
            self.buckets.pop_front();
        }
    }

    /// Bits per second over the window (over the time since the first packet
    /// while that is shorter, but at least a bucket's worth).
    pub fn bps(&self, now: Instant) -> u64 {
        let Some(first) = self.first else { return 0 };
        let bytes: u64 = self
            .buckets
            .iter()
            .filter(|(start, _)| now.saturating_duration_since(*start) <= RATE_WINDOW)
            .map(|(_, b)| *b)
            .sum();
        let span = now
            .saturating_duration_since(first)
            .clamp(BUCKET, RATE_WINDOW)
            .as_secs_f64();
        (bytes as f64 * 8.0 / span) as u64
    }
}

/// What one incoming layer carries.
#[derive(Debug, Default, Clone)]
pub struct Layer {
    /// Its incoming rate.
    pub rate: RateMeter,
    /// Width and height of its last key frame.
    pub size: Option<(u16, u16)>,
    /// When its last packet came.
    pub last_packet: Option<Instant>,
}

/// The layers of one published source.
#[derive(Debug, Clone)]
pub struct Layers {
    /// The rids, lowest layer first; empty without simulcast.
    pub rids: Vec<Rid>,
    /// One per rid (one without simulcast).
    pub layers: Vec<Layer>,
}

impl Layers {
    /// The layers of a source published with `rids` (none: no simulcast).
    pub fn new(rids: Vec<Rid>) -> Self {
        let mut rids = rids;
        rids.truncate(MAX_LAYERS);
        let n = rids.len().max(1);
        Layers {
            rids,
            layers: vec![Layer::default(); n],
        }
    }

    /// Whether the source is sent as several layers.
    pub fn is_simulcast(&self) -> bool {
        self.rids.len() > 1
    }

    /// The layer of a stream with this rid, if it is one of ours.
    pub fn index_of(&self, rid: Option<Rid>) -> Option<u8> {
        match rid {
            None if self.rids.is_empty() => Some(0),
            None => None,
            Some(rid) => self.rids.iter().position(|r| *r == rid).map(|i| i as u8),
        }
    }

    /// The rid to ask a keyframe of `layer` with.
    pub fn rid_of(&self, layer: u8) -> Option<Rid> {
        self.rids.get(usize::from(layer)).copied()
    }

    /// A packet with `payload` bytes on `layer` at `now`, and the key frame
    /// size if it starts one. Rates count the packet's whole wire size.
    /// Returns whether the packet brought `layer` back: it had had none, or
    /// none for [`LAYER_TIMEOUT`].
    pub fn count(
        &mut self,
        now: Instant,
        layer: u8,
        payload: usize,
        size: Option<(u16, u16)>,
    ) -> bool {
        let Some(l) = self.layers.get_mut(usize::from(layer)) else {
            return false;
        };
        let woke = l
            .last_packet
            .is_none_or(|t| now.saturating_duration_since(t) >= LAYER_TIMEOUT);
        l.rate.add(now, payload + PACKET_OVERHEAD);
        l.last_packet = Some(now);
        if size.is_some() {
            l.size = size;
        }
        woke
    }

    /// The layers as the allocation sees them.
    pub fn offer(&self, now: Instant) -> Vec<LayerOffer> {
        self.layers
            .iter()
            .map(|l| LayerOffer {
                bps: l.rate.bps(now).max(MIN_LAYER_BPS),
                height: l.size.map(|(_, h)| u32::from(h)),
                active: l
                    .last_packet
                    .is_some_and(|t| now.saturating_duration_since(t) < LAYER_TIMEOUT),
            })
            .collect()
    }

    /// Measured rate of the whole source (all layers), bits per second.
    pub fn bps(&self, now: Instant) -> u64 {
        self.layers.iter().map(|l| l.rate.bps(now)).sum()
    }
}

/// One layer as the allocation sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerOffer {
    /// What forwarding it costs, bits per second.
    pub bps: u64,
    /// Its height, once a key frame told.
    pub height: Option<u32>,
    /// Packets are coming on it.
    pub active: bool,
}

/// One simulcast video m-line of a receiver, as the allocation sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Demand {
    /// The sender's layers, lowest first.
    pub layers: Vec<LayerOffer>,
    /// The height of the tile the receiver shows it in: `None` if not said,
    /// `Some(0)` if not shown.
    pub tile_height: Option<u32>,
    /// The layer the m-line is on or switching to.
    pub current: Option<u8>,
}

impl Demand {
    /// The highest layer worth sending: the lowest whose height covers the
    /// tile (the top one if none does or sizes are not known yet). `None`
    /// when the tile is not shown or no layer is active.
    fn cap(&self) -> Option<usize> {
        if self.tile_height == Some(0) {
            return None;
        }
        let active: Vec<usize> = (0..self.layers.len())
            .filter(|i| self.layers[*i].active)
            .collect();
        let top = *active.last()?;
        let Some(tile) = self.tile_height else {
            return Some(top);
        };
        Some(
            active
                .iter()
                .copied()
                .find(|i| self.layers[*i].height.is_some_and(|h| h >= tile))
                .unwrap_or(top),
        )
    }

    /// What `layer` costs in the allocation: more for an upgrade, so that an
    /// upgrade needs headroom a steady state does not.
    fn cost(&self, layer: usize) -> u64 {
        let bps = self.layers[layer].bps;
        match self.current {
            Some(c) if usize::from(c) >= layer => bps,
            _ => (bps as f64 * UPGRADE_MARGIN) as u64,
        }
    }
}

/// What [`allocate`] decided for one receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// Per demand: the layer to forward, or `None` to pause it.
    pub layers: Vec<Option<u8>>,
    /// Bits per second the allocation plus the next upgrade would take: the
    /// rate to probe up to.
    pub next: u64,
    /// Bits per second the allocation takes.
    pub used: u64,
    /// Bits per second everything at its best (within its tile) would take,
    /// with the upgrade margin: the rate to hope for.
    pub desired: u64,
}

/// Shares a receiver's estimate (bits per second): `reserved` first (its
/// audio, and video that has no layers to choose from), then each demand
/// gets its lowest active layer while that fits (if not, it is paused), then
/// demands move up a layer at a time, in turns, while the estimate allows,
/// never above their tile's layer. Demands come in priority order.
pub fn allocate(estimate: u64, reserved: u64, demands: &[Demand]) -> Allocation {
    let mut budget = estimate.saturating_sub(reserved);
    let caps: Vec<Option<usize>> = demands.iter().map(Demand::cap).collect();
    let mut layers: Vec<Option<usize>> = vec![None; demands.len()];
    for (i, d) in demands.iter().enumerate() {
        let Some(cap) = caps[i] else { continue };
        let Some(lowest) = (0..=cap).find(|l| d.layers[*l].active) else {
            continue;
        };
        let cost = d.cost(lowest);
        if cost <= budget {
            budget -= cost;
            layers[i] = Some(lowest);
        }
    }
    let next_up =
        |d: &Demand, from: usize, cap: usize| (from + 1..=cap).find(|l| d.layers[*l].active);
    let mut step: Option<u64> = None;
    loop {
        let mut moved = false;
        for (i, d) in demands.iter().enumerate() {
            let (Some(cap), Some(at)) = (caps[i], layers[i]) else {
                continue;
            };
            let Some(up) = next_up(d, at, cap) else {
                continue;
            };
            // Forwarding one layer at a time: moving up frees the old one.
            let extra = d.cost(up).saturating_sub(d.cost(at));
            if extra <= budget {
                budget -= extra;
                layers[i] = Some(up);
                moved = true;
            } else {
                step = Some(step.map_or(extra, |s| s.min(extra)));
            }
        }
        if !moved {
            break;
        }
    }
    // A paused demand whose lowest layer did not fit is an upgrade too.
    for (i, d) in demands.iter().enumerate() {
        if let (Some(cap), None) = (caps[i], layers[i]) {
            if let Some(lowest) = (0..=cap).find(|l| d.layers[*l].active) {
                let cost = d.cost(lowest);
                step = Some(step.map_or(cost, |s| s.min(cost)));
            }
        }
    }
    let used = estimate.saturating_sub(reserved).saturating_sub(budget) + reserved;
    let desired = reserved
        + demands
            .iter()
            .zip(&caps)
            .filter_map(|(d, cap)| cap.map(|c| d.cost(c)))
            .sum::<u64>();
    Allocation {
        layers: layers.into_iter().map(|l| l.map(|l| l as u8)).collect(),
        next: used + step.unwrap_or(0),
        used,
        desired,
    }
}

/// Which layer one video m-line forwards, and which it is switching to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selection {
    /// The layer flowing now, `None` while paused or not started.
    pub current: Option<u8>,
    /// The layer wanted; a switch waits for its key frame.
    pub target: Option<u8>,
    /// Since when the allocation has wanted more than the target.
    up_since: Option<Instant>,
    /// A target was ever set.
    chosen: bool,
}

/// What to do with one packet on one m-line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Not for this m-line now.
    Drop,
    /// Forward it.
    Forward,
    /// Forward it: the switch to its layer happens here, at its key frame.
    Switch,
}

impl Selection {
    /// Forwarding `layer` from the start, as a source without simulcast is.
    pub fn fixed(layer: u8) -> Self {
        Selection {
            current: Some(layer),
            target: Some(layer),
            up_since: None,
            chosen: true,
        }
    }

    /// A new m-line's selection: a source with simulcast layers waits for
    /// the allocation's choice; one without forwards its only layer at once.
    pub fn for_source(layered: bool) -> Self {
        if layered {
            Selection::default()
        } else {
            Selection::fixed(0)
        }
    }

    /// A selection starting afresh for a receiver whose route to the source
    /// was interrupted (a move, a recall) or whose tile was hidden: the
    /// first choice is made at once, not held as an upgrade, and nothing is
    /// forwarded before a key frame (the receiver's decoder needs one; for a
    /// source without layers too).
    pub fn starting(layered: bool) -> Self {
        if layered {
            Selection::default()
        } else {
            Selection {
                current: None,
                ..Selection::fixed(0)
            }
        }
    }

    /// Applies the allocation's choice with hysteresis: a downgrade (or a
    /// pause) at once, an upgrade once it has been wanted for
    /// [`UPGRADE_HOLD`], the first choice at once. Returns the new target
    /// if it changed (its key frame is then needed).
    pub fn decide(&mut self, now: Instant, wanted: Option<u8>) -> Option<Option<u8>> {
        if wanted == self.target {
            self.up_since = None;
            return None;
        }
        let up = match (self.target, wanted) {
            (Some(t), Some(w)) => w > t,
            // Resuming after a pause is an upgrade; the very first choice is not.
            (None, Some(_)) => self.chosen,
            (_, None) => false,
        };
        if up {
            let since = *self.up_since.get_or_insert(now);
            if now.saturating_duration_since(since) < UPGRADE_HOLD {
                return None;
            }
        }
        self.up_since = None;
        self.chosen = true;
        self.target = wanted;
        if wanted.is_none() {
            // Pausing stops at once: there is nothing to wait for.
            self.current = None;
        }
        Some(wanted)
    }

    /// Whether a packet of `layer` (starting a key frame or not) goes out.
    pub fn admit(&mut self, layer: u8, keyframe: bool) -> Admit {
        if self.target == Some(layer) && self.current != Some(layer) {
            if keyframe {
                self.current = Some(layer);
                return Admit::Switch;
            }
            return Admit::Drop;
        }
        if self.current == Some(layer) {
            Admit::Forward
        } else {
            Admit::Drop
        }
    }

    /// When the upgrade hold of this m-line ends, if one runs.
    pub fn hold_ends(&self) -> Option<Instant> {
        self.up_since.map(|t| t + UPGRADE_HOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(kbps: u64, height: u32) -> LayerOffer {
        LayerOffer {
            bps: kbps * 1000,
            height: Some(height),
            active: true,
        }
    }

    fn camera(current: Option<u8>, tile: Option<u32>) -> Demand {
        Demand {
            layers: vec![layer(150, 180), layer(500, 360), layer(1500, 720)],
            tile_height: tile,
            current,
        }
    }

    fn kbps(k: u64) -> u64 {
        k * 1000
    }

    #[test]
    fn audio_first_then_every_video_at_its_lowest_then_up_in_turns() {
        // 100 kbit/s of audio, two cameras.
        let d = [camera(None, None), camera(None, None)];
        // Not even a low layer fits: both paused, audio kept.
        let a = allocate(kbps(200), kbps(100), &d);
        assert_eq!(a.layers, vec![None, None]);
        // One low layer fits (150 * 1.15 = 172.5 as a first choice).
        let a = allocate(kbps(300), kbps(100), &d);
        assert_eq!(a.layers, vec![Some(0), None]);
        // Both low.
        let a = allocate(kbps(450), kbps(100), &d);
        assert_eq!(a.layers, vec![Some(0), Some(0)]);
        // One middle: 100 + 575 + 172.5 = 847.5.
        let a = allocate(kbps(900), kbps(100), &d);
        assert_eq!(a.layers, vec![Some(1), Some(0)]);
        // Both middle, not full: 100 + 2 * 575 = 1250.
        let a = allocate(kbps(1300), kbps(100), &d);
        assert_eq!(a.layers, vec![Some(1), Some(1)]);
        // Plenty: both full.
        let a = allocate(kbps(10_000), kbps(100), &d);
        assert_eq!(a.layers, vec![Some(2), Some(2)]);
        // At their best, steady: no margin.
        let d = [camera(Some(2), None), camera(Some(2), None)];
        let a = allocate(kbps(10_000), kbps(100), &d);
        assert_eq!(a.desired, kbps(100 + 1500 + 1500));
        // From the low layer, the best needs the upgrade margin (1725).
        let a = allocate(kbps(450), kbps(100), &[camera(Some(0), None)]);
        assert!((kbps(1824)..=kbps(1825)).contains(&a.desired), "{a:?}");
    }

    #[test]
    fn staying_costs_less_than_going_up() {
        // On the middle layer, 600 kbit/s keeps it (500 + 100 audio)...
        let a = allocate(kbps(600), kbps(100), &[camera(Some(1), None)]);
        assert_eq!(a.layers, vec![Some(1)]);
        // ...but does not get there from the low one (needs 675).
        let a = allocate(kbps(600), kbps(100), &[camera(Some(0), None)]);
        assert_eq!(a.layers, vec![Some(0)]);
        // The next step, to probe for: 100 + 150 + (575 - 150).
        assert_eq!(a.next, kbps(675));
        let a = allocate(kbps(680), kbps(100), &[camera(Some(0), None)]);
        assert_eq!(a.layers, vec![Some(1)]);
    }

    #[test]
    fn never_above_the_layer_that_covers_the_tile() {
        let plenty = kbps(100_000);
        for (tile, want) in [
            (Some(90), Some(0)),
            (Some(180), Some(0)),
            (Some(181), Some(1)),
            (Some(360), Some(1)),
            (Some(1080), Some(2)),
            (None, Some(2)),
            (Some(0), None),
        ] {
            let a = allocate(plenty, 0, &[camera(None, tile)]);
            assert_eq!(a.layers, vec![want], "tile {tile:?}");
        }
        // Sizes not known yet: no cap from the tile.
        let mut d = camera(None, Some(90));
        for l in &mut d.layers {
            l.height = None;
        }
        assert_eq!(allocate(plenty, 0, &[d]).layers, vec![Some(2)]);
    }

    #[test]
    fn inactive_layers_are_skipped() {
        let mut d = camera(None, None);
        d.layers[2].active = false;
        assert_eq!(
            allocate(kbps(100_000), 0, &[d.clone()]).layers,
            vec![Some(1)]
        );
        d.layers[0].active = false;
        assert_eq!(allocate(kbps(700), 0, &[d.clone()]).layers, vec![Some(1)]);
        d.layers[1].active = false;
        assert_eq!(allocate(kbps(100_000), 0, &[d]).layers, vec![None]);
    }

    #[test]
    fn selection_downgrades_at_once_and_upgrades_after_a_hold() {
        let t0 = Instant::now();
        let mut s = Selection::default();
        // The first choice is taken at once.
        assert_eq!(s.decide(t0, Some(2)), Some(Some(2)));
        assert_eq!(s.admit(2, false), Admit::Drop);
        assert_eq!(s.admit(2, true), Admit::Switch);
        assert_eq!(s.admit(2, false), Admit::Forward);
        // Down at once; the current layer flows until the target's key frame.
        assert_eq!(s.decide(t0, Some(0)), Some(Some(0)));
        assert_eq!(s.admit(2, false), Admit::Forward);
        assert_eq!(s.admit(0, false), Admit::Drop);
        assert_eq!(s.admit(1, true), Admit::Drop);
        assert_eq!(s.admit(0, true), Admit::Switch);
        assert_eq!(s.admit(2, true), Admit::Drop);
        // Up only after the hold, and a flap in between restarts it.
        let t = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(s.decide(t(100), Some(1)), None);
        assert_eq!(s.hold_ends(), Some(t(1100)));
        assert_eq!(s.decide(t(600), Some(0)), None);
        assert_eq!(s.hold_ends(), None);
        assert_eq!(s.decide(t(700), Some(1)), None);
        assert_eq!(s.decide(t(1600), Some(1)), None);
        assert_eq!(s.decide(t(1700), Some(1)), Some(Some(1)));
        // Pausing stops the flow at once; resuming is an upgrade.
        assert_eq!(s.decide(t(1800), None), Some(None));
        assert_eq!(s.admit(0, false), Admit::Drop);
        assert_eq!(s.admit(1, true), Admit::Drop);
        assert_eq!(s.decide(t(1900), Some(0)), None);
        assert_eq!(s.decide(t(2900), Some(0)), Some(Some(0)));
        assert_eq!(s.admit(0, true), Admit::Switch);
    }

    #[test]
    fn layers_map_rids_in_simulcast_order() {
        let l = Layers::new(vec!["q".into(), "h".into(), "f".into(), "x".into()]);
        assert!(l.is_simulcast());
        assert_eq!(l.layers.len(), 3);
        assert_eq!(l.index_of(Some("h".into())), Some(1));
        assert_eq!(l.index_of(Some("x".into())), None);
        assert_eq!(l.index_of(None), None);
        let single = Layers::new(Vec::new());
        assert!(!single.is_simulcast());
        assert_eq!(single.index_of(None), Some(0));
        assert_eq!(single.rid_of(0), None);
    }

    #[test]
    fn a_layer_wakes_on_its_first_packet_and_after_a_silence() {
        let now = Instant::now();
        let mut layers = Layers::new(vec![Rid::from("q"), Rid::from("h")]);
        assert!(layers.count(now, 0, 1000, None), "the first packet");
        let later = now + Duration::from_millis(10);
        assert!(!layers.count(later, 0, 1000, None));
        assert!(layers.count(later, 1, 1000, None), "another layer");
        assert!(
            layers.count(later + LAYER_TIMEOUT, 0, 1000, None),
            "silent for the timeout"
        );
        assert!(!layers.count(now, 7, 1000, None), "no such layer");
    }

    #[test]
    fn rates_are_measured_over_the_window() {
        let t0 = Instant::now();
        let mut m = RateMeter::default();
        // 1000 bytes every 20 ms: 400 kbit/s.
        for i in 0..200u64 {
            m.add(t0 + Duration::from_millis(20 * i), 1000);
        }
        let now = t0 + Duration::from_millis(20 * 199);
        let bps = m.bps(now);
        assert!((380_000..=420_000).contains(&bps), "{bps}");
        // Silence: the rate falls to nothing once the window has passed.
        assert_eq!(m.bps(now + RATE_WINDOW + BUCKET), 0);
    }
}

//! Layer allocation: which simulcast layer each receiver's video m-lines
//! forward, from its bandwidth estimate, its tiles and each layer's
//! measured rate; paused videos and their trials; the estimate's seed when
//! a receiver starts receiving more.

use super::*;

impl Media {
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
                    t.starved = None;
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
    pub(super) fn allocate(&mut self, now: Instant, receiver: ParticipantId) {
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
        // A shown video keeps its lowest layer unless the receiver reports
        // loss: an estimate that falls without loss says little about the
        // link (it only grows to about twice what is sent, and a busy host's
        // delays lower it), and pausing on it starves the estimate further.
        // Those lowest layers then count as what must flow, for the floor.
        // (Reports of streams it no longer receives do not count.)
        let lossless = peer
            .out
            .iter()
            .filter_map(|t| t.mid.and_then(|mid| peer.egress_loss.get(&mid)))
            .all(|loss| *loss < LOSS_TO_PAUSE);
        let lowest: Vec<Option<u8>> = demands
            .iter()
            .map(|d| {
                if d.tile_height == Some(0) {
                    return None;
                }
                d.layers.iter().position(|l| l.active).map(|l| l as u8)
            })
            .collect();
        let held: u64 = if lossless {
            demands
                .iter()
                .zip(&lowest)
                .filter_map(|(d, l)| l.map(|l| d.layers[usize::from(l)].bps))
                .sum()
        } else {
            0
        };
        // What the SFU cannot reduce (audio, video without layers) flows
        // whatever the estimate says, but str0m paces everything it sends
        // at the estimate: below that rate those packets would wait in the
        // pacer (up to 2 s) instead of going out. Raise the estimate to what
        // must flow, at most every FLOOR_INTERVAL; simulcast video still
        // shares only what the estimate leaves above it.
        let must_flow = reserved + held;
        let mut estimate = estimate;
        if estimate < must_flow && peer.floored.is_none_or(|at| now >= at + FLOOR_INTERVAL) {
            estimate = must_flow.saturating_mul(5) / 4;
            peer.floored = Some(now);
            peer.estimate = Some(estimate);
            peer.rtc.bwe().reset(Bitrate::bps(estimate));
            self.dirty.insert(receiver);
        }
        let allocation = simulcast::allocate(estimate, reserved, &demands);
        let mut keyframes = Vec::new();
        let layered: Vec<(usize, Option<u8>)> = layered
            .into_iter()
            .zip(allocation.layers.iter().copied())
            .zip(lowest)
            .map(|((i, wanted), lowest)| {
                let wanted = match (wanted, lowest) {
                    (None, Some(lowest)) if lossless => Some(lowest),
                    _ => wanted,
                };
                (i, starve_or_try(&mut peer.out[i], now, wanted, lowest))
            })
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
                    keyframes.push((t.sender, t.source, target, interval, t.key_wait));
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
        for (sender, source, layer, interval, wait) in keyframes {
            if !self.holds_back_key_frame(now, sender, source, wait) {
                self.ask_keyframe(now, sender, source, layer, interval);
            }
        }
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
    pub(super) fn seed_estimate(&mut self, now: Instant, receiver: ParticipantId) {
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
}

/// The layer a simulcast video gets, given what the allocation `wanted` and
/// its `lowest` active layer (`None` when not shown): a video the estimate
/// starves is paused, and its lowest layer is tried again now and then
/// ([`Starved`]).
pub(super) fn starve_or_try(
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

//! Polling and deadlines: datagrams handed to their peer connection, each
//! connection polled until it waits for time or input (what it received
//! is forwarded at once), and the timers of every connection.

use super::*;

impl Media {
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
    pub(super) fn receive(
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
    pub(super) fn schedule(&mut self, who: ParticipantId) {
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

    /// Polls every peer with work until each is waiting for time or input,
    /// forwarding what they received.
    pub(super) fn drive(&mut self, now: Instant) {
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
    pub(super) fn poll_peer(&mut self, now: Instant, who: ParticipantId) {
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
                    // otherwise take. Due by the time of this turn (with the
                    // driver's slack for the turn's own length): str0m's next deadlines follow the
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
                                || t <= now + self.due_slack) =>
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
                                    let just_started = t.switched_at.is_some_and(|at| {
                                        now.saturating_duration_since(at) < KEYFRAME_INTERVAL
                                    });
                                    let interval = if just_started {
                                        KEYFRAME_START_INTERVAL
                                    } else {
                                        KEYFRAME_INTERVAL
                                    };
                                    keyframe_requests.push((
                                        t.sender, t.source, layer, req.kind, interval, t.key_wait,
                                    ));
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
                            // What the receiver reports lost of this stream.
                            if let Some(loss) = s.loss {
                                peer.egress_loss.insert(s.mid, loss);
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
        // A layer that starts arriving (or again, after a silence) while
        // receivers of that video have no layer or a lower one (a publisher
        // back after a reconnection, whose layers come one by one): the next
        // allocation comes LAYER_WAKE_ALLOCATION from now instead of up to
        // ALLOCATION_INTERVAL later. Each layer that arrives counts, so a
        // receiver given a lower one first is offered the higher one while
        // its estimate is still its starting one.
        for (sender, source, layer) in std::mem::take(&mut self.layers_woken) {
            let below = self.peers.values().any(|p| {
                p.out.iter().any(|t| {
                    t.sender == sender
                        && t.source == source
                        && t.state == OutState::Open
                        && t.select.target.is_none_or(|l| l < layer)
                })
            });
            let soon = now + LAYER_WAKE_ALLOCATION;
            if below && self.next_allocation_tick.is_some_and(|t| t > soon) {
                self.next_allocation_tick = Some(soon);
            }
        }
        for (sender, source, layer, kind, interval, wait) in keyframe_requests {
            // A receiver just started asks at once, but a sender about to
            // change keys would answer under the key it lacks (`KeyWait`).
            if self.routes.allows(sender, who, source)
                && !self.holds_back_key_frame(now, sender, source, wait)
            {
                self.ask_keyframe_kind(now, sender, source, layer, kind, interval);
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
            self.apply_routes(now, &Routes::default(), Some(who));
        }
        self.send_tracks(who);
        self.schedule(who);
    }
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

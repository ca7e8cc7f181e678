//! Route changes: what the session's rooms and mutes allow, applied to
//! every receiver's m-lines (a move takes effect on the next packet), and
//! participants leaving.

use super::*;

impl Media {
    /// The session's rooms or mutes changed. Packets follow the new routes
    /// from now on; m-lines are added by renegotiation where needed.
    pub fn set_routes(&mut self, now: Instant, routes: Routes) {
        let old = std::mem::replace(&mut self.routes, routes);
        // A client forgets every key of someone who no longer shares its
        // room (portals/shared/src/live/e2ee/manager.ts), so what it
        // acknowledged before says nothing of what it can decrypt when they
        // meet again: a key frame asked for on such a stale acknowledgement
        // comes under a key it no longer holds, and the sender then ignores
        // the next request for 300 ms.
        let rooms = self.routes.rooms();
        self.acked.retain(|(receiver, sender), _| {
            rooms
                .get(receiver)
                .is_some_and(|room| rooms.get(sender) == Some(room))
        });
        self.apply_routes(now, &old, None);
    }

    /// Applies the current routes, treating what `old` allowed as already
    /// flowing; for the sources of `only` when given (a publisher whose
    /// sources just appeared: everyone else's flowing videos must not start
    /// afresh for it).
    pub(super) fn apply_routes(&mut self, now: Instant, old: &Routes, only: Option<ParticipantId>) {
        let receivers: Vec<ParticipantId> = self.peers.keys().copied().collect();
        for receiver in receivers {
            // Each source, whether it has simulcast layers, and for a
            // sealing sender's video, what a new route waits for.
            type Source = (MediaSource, bool, Option<KeyWait>);
            let senders: Vec<(ParticipantId, Vec<Source>)> = self
                .peers
                .iter()
                .filter(|(s, _)| **s != receiver && only.is_none_or(|o| o == **s))
                .map(|(s, p)| {
                    let sealed = self.sealed.contains(s);
                    let sources = p
                        .published
                        .iter()
                        .map(|(_, src)| {
                            let layered = p.layers.get(src).is_some_and(Layers::is_simulcast);
                            let wait =
                                (sealed && *src != MediaSource::Microphone).then(|| KeyWait {
                                    from: p.key_ids.get(src).copied(),
                                    since: now,
                                    acked: self.acked.get(&(receiver, *s)).copied(),
                                });
                            (*src, layered, wait)
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
                for (source, layered, key_wait) in sources {
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
                                t.starved = None;
                                t.switched_at = Some(now);
                                t.key_wait = key_wait;
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
                                starved: None,
                                switched_at: Some(now),
                                key_wait,
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

    /// A participant left for good: their peer connection closes and others
    /// stop their m-lines.
    pub fn remove(&mut self, now: Instant, who: ParticipantId) {
        self.drop_peer(who);
        self.acked
            .retain(|(receiver, sender), _| *receiver != who && *sender != who);
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

    pub(super) fn drop_peer(&mut self, who: ParticipantId) {
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
}

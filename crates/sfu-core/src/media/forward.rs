//! The per-packet path: one received RTP packet written to every receiver
//! the routes allow, its sequence number, timestamp and VP8 picture ids
//! rewritten; and keyframe requests to publishers.

use super::*;

impl Media {
    /// Asks `sender` for a keyframe (a PLI) of `source` on its simulcast
    /// `layer`, at most once per `interval`.
    pub(super) fn ask_keyframe(
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
    pub(super) fn ask_keyframe_kind(
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

    /// Whether a key frame of `sender`'s `source` asked for a receiver whose
    /// route waits as `wait` would come under the key the receiver lacks
    /// (see [`KeyWait`]): not asked for yet.
    pub(super) fn holds_back_key_frame(
        &self,
        now: Instant,
        sender: ParticipantId,
        source: MediaSource,
        wait: Option<KeyWait>,
    ) -> bool {
        wait.is_some_and(|w| {
            let current = self
                .peers
                .get(&sender)
                .and_then(|p| p.key_ids.get(&source).copied());
            w.holds_back(now, current)
        })
    }

    /// One packet from `sender` to everyone the routes allow.
    pub(super) fn forward(&mut self, now: Instant, sender: ParticipantId, packet: RtpPacket) {
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
            let woke = layers.count(now, layer, packet.payload.len(), size);
            if woke && source != MediaSource::Microphone {
                self.layers_woken.push((sender, source, layer));
            }
        }
        // End-to-end encrypted video: the key id of each frame, in clear.
        let key_id = descriptor
            .filter(|_| self.sealed.contains(&sender))
            .and_then(|d| d.sframe_key_id(&packet.payload));
        if let Some(kid) = key_id {
            if peer.key_ids.insert(source, kid).is_some_and(|k| k != kid) {
                tracing::debug!(participant = %sender, ?source, layer, key_id = kid, "sender's key id changed");
            }
        }
        // Layers to ask a key frame of, for receivers waiting for one under the sender's new key.
        let mut key_frames_wanted: Vec<u8> = Vec::new();
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
                if let (Some(kid), Some(wait)) = (key_id, track.key_wait) {
                    if now >= wait.since + KEY_WAIT {
                        track.key_wait = None;
                    } else if track.select.target == Some(layer) {
                        let changed = wait.usable(kid);
                        if changed && keyframe {
                            // Forwarded below (it is on the target layer).
                            tracing::debug!(participant = %receiver, %sender, ?source, layer, key_id = kid, "first key frame under the sender's new key");
                            track.key_wait = None;
                        } else if (changed
                            || !wait.holds_back(now, Some(kid))
                                && track.select.current != Some(layer))
                            && !key_frames_wanted.contains(&layer)
                        {
                            // The sender changed keys, or the grace for it
                            // ran out with nothing forwarded: a key frame now.
                            key_frames_wanted.push(layer);
                        }
                    }
                }
                match track.select.admit(layer, keyframe) {
                    Admit::Drop => continue,
                    Admit::Forward => {}
                    Admit::Switch => {
                        tracing::debug!(participant = %receiver, %sender, ?source, layer, "layer switched at a key frame");
                        // A new run: no gap in the receiver's sequence.
                        track.rewrite.restart();
                        track.switched_at = Some(now);
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
        for layer in key_frames_wanted {
            self.ask_keyframe(now, sender, source, layer, KEYFRAME_START_INTERVAL);
        }
    }
}

//! Speaker detection (the loudest in each room, from the audio level
//! senders attach) and link quality for mediators.

use super::*;

impl Media {
    pub(super) fn decide_speakers(&mut self, now: Instant) {
        let mut loudest: HashMap<crate::protocol::RoomId, (f32, ParticipantId)> = HashMap::new();
        for (who, peer) in &self.peers {
            let Some(room) = self.routes.rooms().get(who) else {
                continue;
            };
            if !self
                .routes
                .receivers(*who)
                .iter()
                .any(|(_, s)| s.microphone)
            {
                continue;
            }
            if let Some((level, at)) = peer.level {
                if level > SPEECH_THRESHOLD && now.saturating_duration_since(at) < SPEECH_MEMORY {
                    let entry = loudest.entry(*room).or_insert((f32::MIN, *who));
                    if level > entry.0 {
                        *entry = (level, *who);
                    }
                }
            }
        }
        let rooms: HashSet<crate::protocol::RoomId> =
            self.routes.rooms().values().copied().collect();
        for room in rooms {
            let speaker = loudest.get(&room).map(|(_, who)| *who);
            if self.speakers.get(&room) == Some(&speaker) {
                continue;
            }
            self.speakers.insert(room, speaker);
            for (who, r) in self.routes.rooms() {
                if *r == room {
                    self.outputs.push_back(MediaOutput::Send {
                        to: *who,
                        message: ServerMessage::Speaker {
                            participant: speaker,
                        },
                    });
                }
            }
        }
    }

    pub(super) fn report_quality(&mut self) {
        let mut views: Vec<QualityView> = self
            .peers
            .iter()
            .map(|(who, p)| QualityView {
                id: *who,
                receive_kbps: p.quality.receive_kbps,
                send_kbps: p.quality.send_kbps,
                loss: p.quality.loss,
                rtt_ms: p.quality.rtt_ms,
                jitter_ms: p.quality.jitter_ms,
            })
            .collect();
        if views.is_empty() {
            return;
        }
        views.sort_by_key(|v| v.id);
        self.outputs.push_back(MediaOutput::Quality(views));
    }
}

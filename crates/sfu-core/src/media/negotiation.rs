//! Peer setup and negotiation: the client's offer (a new peer connection),
//! the server's offers of m-lines a receiver lacks, the client's answers,
//! the track map, and the SDP the server writes.

use super::*;

impl Media {
    /// The client's offer: (re)starts the participant's media with a new peer
    /// connection and queues the answer.
    pub fn offer(&mut self, now: Instant, who: ParticipantId, sdp: &str) -> Result<(), MediaError> {
        let offer = SdpOffer::from_sdp_string(&as_dtls_client(sdp))
            .map_err(|e| MediaError::BadOffer(short(&e.to_string())))?;
        let mut rtc = rtc_for(now, self.config.bandwidth_estimation);
        for addr in &self.config.udp_candidates {
            if let Ok(c) = Candidate::host(*addr, "udp") {
                rtc.add_local_candidate(c);
            }
        }
        for addr in &self.config.tcp_candidates {
            if let Ok(c) = Candidate::builder()
                .tcp()
                .host(*addr)
                .tcptype(str0m::net::TcpType::Passive)
                .build()
            {
                rtc.add_local_candidate(c);
            }
        }
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| MediaError::BadOffer(short(&e.to_string())))?;
        let ufrag = rtc.direct_api().local_ice_credentials().ufrag;
        // The tiles the client shows others in stay as they were.
        let tiles = self
            .peers
            .get_mut(&who)
            .map(|p| std::mem::take(&mut p.tiles))
            .unwrap_or_default();
        self.drop_peer(who);
        self.by_ufrag.insert(ufrag.clone(), who);
        self.outputs.push_back(MediaOutput::Listen {
            ufrag: ufrag.clone(),
        });
        self.peers.insert(
            who,
            Peer {
                rtc,
                ufrag,
                addrs: Vec::new(),
                published: Vec::new(),
                out: Vec::new(),
                pending: None,
                pending_mids: Vec::new(),
                tracks_changed: true,
                timeout: None,
                rtc_time: now,
                scheduled: None,
                asked_keyframe: HashMap::new(),
                level: None,
                quality: Quality::default(),
                nacks_seen: HashMap::new(),
                deferred_keyframes: HashMap::new(),
                incoming: HashMap::new(),
                layers: HashMap::new(),
                key_ids: HashMap::new(),
                tiles,
                estimate: None,
                peak: None,
                egress_loss: HashMap::new(),
                floored: None,
                nudge: None,
                bwe_rates: (0, 0),
            },
        );
        // Everyone else's m-lines carrying this participant continue on the
        // new publisher streams from their next packet.
        for peer in self.peers.values_mut() {
            for t in peer.out.iter_mut().filter(|t| t.sender == who) {
                t.rewrite.restart();
            }
        }
        self.outputs.push_back(MediaOutput::Send {
            to: who,
            message: ServerMessage::Answer {
                sdp: with_candidates_in_every_section(&answer.to_sdp_string()),
            },
        });
        self.dirty.insert(who);
        self.metrics.peers_changed(1);
        self.drive(now);
        Ok(())
    }

    /// The client's answer to the server's offer.
    pub fn answer(
        &mut self,
        now: Instant,
        who: ParticipantId,
        sdp: &str,
    ) -> Result<(), MediaError> {
        let peer = self.peers.get_mut(&who).ok_or(MediaError::NoPeer)?;
        if peer.pending.is_none() {
            return Err(MediaError::UnexpectedAnswer);
        }
        let answer = SdpAnswer::from_sdp_string(sdp)
            .map_err(|e| MediaError::BadAnswer(short(&e.to_string())))?;
        // What str0m would refuse after giving up the offer is refused here,
        // with the offer still waiting for a corrected answer.
        let mids = sdp_mids(sdp);
        if mids != peer.pending_mids {
            return Err(MediaError::BadAnswer(format!(
                "its m-sections ({}) are not those of the offer ({})",
                short(&mids.join(" ")),
                short(&peer.pending_mids.join(" "))
            )));
        }
        let Some(pending) = peer.pending.take() else {
            return Err(MediaError::UnexpectedAnswer);
        };
        peer.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| MediaError::BadAnswer(short(&e.to_string())))?;
        // Tracks queued after that offer went out (no mid yet) wait for the next.
        for t in &mut peer.out {
            if t.state == OutState::Negotiating && t.mid.is_some() {
                t.state = OutState::Open;
            }
        }
        peer.out.retain(|t| t.state != OutState::Stopping);
        peer.tracks_changed = true;
        // New m-lines need a keyframe from their publishers (simulcast ones
        // once their layer is chosen, just below).
        type Wanted = (ParticipantId, MediaSource, u8, Option<KeyWait>);
        let senders: Vec<Wanted> = peer
            .out
            .iter()
            .filter(|t| t.source != MediaSource::Microphone)
            .filter_map(|t| {
                t.select
                    .target
                    .map(|layer| (t.sender, t.source, layer, t.key_wait))
            })
            .collect();
        for (sender, source, layer, wait) in senders {
            if self.routes.allows(sender, who, source)
                && !self.holds_back_key_frame(now, sender, source, wait)
            {
                self.ask_keyframe(now, sender, source, layer, KEYFRAME_START_INTERVAL);
            }
        }
        self.allocate(now, who);
        self.dirty.insert(who);
        self.negotiate(who);
        self.drive(now);
        Ok(())
    }

    /// Offers the m-lines a receiver lacks, or stops those it no longer
    /// needs, unless an offer is already waiting for its answer.
    pub(super) fn negotiate(&mut self, who: ParticipantId) {
        let Some(peer) = self.peers.get_mut(&who) else {
            return;
        };
        if peer.pending.is_some() || !peer.rtc.is_alive() {
            return;
        }
        let mut change = peer.rtc.sdp_api();
        let mut added = false;
        for t in &mut peer.out {
            match (t.state, t.mid) {
                (OutState::Negotiating, None) => {
                    let kind = match t.source {
                        MediaSource::Microphone => MediaKind::Audio,
                        _ => MediaKind::Video,
                    };
                    let track_id = match t.source {
                        MediaSource::Microphone => "microphone",
                        MediaSource::Camera => "camera",
                        MediaSource::Screen => "screen",
                    };
                    let mid = change.add_media(
                        kind,
                        Direction::SendOnly,
                        Some(t.sender.to_string()),
                        Some(format!("{}-{track_id}", t.sender.simple())),
                        None,
                    );
                    t.mid = Some(mid);
                    added = true;
                }
                (OutState::ToStop, Some(mid)) => {
                    change.stop_media(mid);
                    t.state = OutState::Stopping;
                    added = true;
                }
                _ => {}
            }
        }
        if !added || !change.has_changes() {
            return;
        }
        let Some((offer, pending)) = change.apply() else {
            return;
        };
        peer.pending = Some(pending);
        let sdp = with_candidates_in_every_section(&offer.to_sdp_string());
        peer.pending_mids = sdp_mids(&sdp);
        self.outputs.push_back(MediaOutput::Send {
            to: who,
            message: ServerMessage::Offer { sdp },
        });
        self.dirty.insert(who);
    }

    pub(super) fn send_tracks(&mut self, who: ParticipantId) {
        let Some(peer) = self.peers.get_mut(&who) else {
            return;
        };
        if !peer.tracks_changed || peer.pending.is_some() {
            return;
        }
        peer.tracks_changed = false;
        let tracks = peer
            .out
            .iter()
            .filter(|t| t.state == OutState::Open)
            .filter_map(|t| {
                t.mid.map(|mid| TrackView {
                    mid: mid.to_string(),
                    participant: t.sender,
                    source: t.source,
                })
            })
            .collect();
        self.outputs.push_back(MediaOutput::Send {
            to: who,
            message: ServerMessage::Tracks { tracks },
        });
    }
}

/// The client's offer as str0m must read it for the server to answer
/// `a=setup:active`: the DTLS client, as RFC 5763 (section 5) recommends an
/// answerer be, so the handshake starts the moment ICE has a pair rather than
/// when the client next gets round to sending its ClientHello (a timer tick
/// later in some stacks: 50 ms for webrtc-rs). str0m answers an offer's
/// `actpass` with `passive` and takes the opposite of anything else, so an
/// `actpass` offer is read as `passive`; an offer that insists on a role
/// keeps it. Only the server's reading changes: the client offered `actpass`
/// and accepts either answer.
pub(super) fn as_dtls_client(sdp: &str) -> std::borrow::Cow<'_, str> {
    if sdp.contains("a=setup:actpass") {
        std::borrow::Cow::Owned(sdp.replace("a=setup:actpass", "a=setup:passive"))
    } else {
        std::borrow::Cow::Borrowed(sdp)
    }
}

/// The `a=mid` of each m-section of `sdp`, in order (empty for one without).
pub(super) fn sdp_mids(sdp: &str) -> Vec<String> {
    let mut mids = Vec::new();
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("m=") {
            mids.push(String::new());
        } else if let (Some(mid), Some(last)) = (line.strip_prefix("a=mid:"), mids.last_mut()) {
            *last = mid.to_owned();
        }
    }
    mids
}

/// `sdp` with its `a=candidate` lines, and `a=end-of-candidates`, in every
/// m-section that is not rejected. str0m writes them into the first
/// m-section of the bundle only; a client that reads candidates per
/// m-section under max-bundle (as RFC 8829 allows) would then find none for
/// the transport it uses and never connect. The server gathers nothing
/// more (host candidates only), so the list is complete.
pub fn with_candidates_in_every_section(sdp: &str) -> String {
    let lines: Vec<&str> = sdp.split("\r\n").filter(|l| !l.is_empty()).collect();
    let candidates: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("a=candidate:"))
        .collect();
    if candidates.is_empty() {
        return sdp.to_owned();
    }
    let mut out = String::with_capacity(sdp.len() + candidates.len() * 80);
    let mut in_section = false;
    let mut rejected = false;
    let close = |out: &mut String, in_section: bool, rejected: bool| {
        if in_section && !rejected {
            for c in &candidates {
                out.push_str(c);
                out.push_str("\r\n");
            }
            out.push_str("a=end-of-candidates\r\n");
        }
    };
    for line in &lines {
        if line.starts_with("a=candidate:") || *line == "a=end-of-candidates" {
            continue;
        }
        if let Some(media) = line.strip_prefix("m=") {
            close(&mut out, in_section, rejected);
            in_section = true;
            rejected = media.split(' ').nth(1) == Some("0");
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    close(&mut out, in_section, rejected);
    out
}

pub(super) fn short(text: &str) -> String {
    text.chars().take(200).collect()
}

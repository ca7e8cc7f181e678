use super::allocation::starve_or_try;
use super::negotiation::sdp_mids;
use super::*;
use crate::protocol::RoomId;

/// A client's offer (microphone and camera, send-only), as str0m makes it.
fn client_offer(now: Instant) -> String {
    let mut rtc = Rtc::builder().set_rtp_mode(true).build(now);
    rtc.add_local_candidate(Candidate::host("10.0.0.2:5000".parse().unwrap(), "udp").unwrap());
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    let (offer, _) = api.apply().unwrap();
    offer.to_sdp_string()
}

#[test]
fn every_bundled_section_of_the_answer_carries_the_candidates_and_their_end() {
    let now = Instant::now();
    let config = Arc::new(MediaConfig {
        udp_candidates: vec!["192.0.2.1:3479".parse().unwrap()],
        tcp_candidates: vec!["192.0.2.1:3480".parse().unwrap()],
        turn: None,
        bandwidth_estimation: true,
    });
    let mut media = Media::new(config, Arc::new(Metrics::default()));
    let who = ParticipantId::from_u64_pair(1, 1);
    media.offer(now, who, &client_offer(now)).unwrap();
    let sdp = std::iter::from_fn(|| media.poll_output())
        .find_map(|o| match o {
            MediaOutput::Send {
                message: ServerMessage::Answer { sdp },
                ..
            } => Some(sdp),
            _ => None,
        })
        .expect("an answer");
    let sections: Vec<&str> = sdp.split("\r\nm=").skip(1).collect();
    assert_eq!(sections.len(), 2, "{sdp}");
    for section in sections {
        let candidates = section.matches("a=candidate:").count();
        assert_eq!(
            candidates, 2,
            "both candidates in every section:\n{section}"
        );
        assert_eq!(
            section.matches("a=end-of-candidates").count(),
            1,
            "{section}"
        );
        assert!(
            section.trim_end().ends_with("a=end-of-candidates"),
            "{section}"
        );
    }
    // The server is the DTLS client: it starts the handshake once ICE has
    // a pair (the client offered actpass).
    assert!(client_offer(now).contains("a=setup:actpass"));
    assert!(sdp.contains("a=setup:active"), "{sdp}");
    assert!(!sdp.contains("a=setup:passive"), "{sdp}");
    // str0m reads it back.
    SdpAnswer::from_sdp_string(&sdp).unwrap();
    let mids = sdp_mids(&sdp);
    assert_eq!(mids.len(), 2);
    assert!(mids.iter().all(|m| !m.is_empty()), "{mids:?}");
}

#[test]
fn an_offer_that_insists_on_a_dtls_role_keeps_it() {
    use super::negotiation::as_dtls_client;
    let offer = "v=0\r\na=setup:active\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:active\r\n";
    assert_eq!(as_dtls_client(offer), offer);
    assert_eq!(
        as_dtls_client("m=audio 9 X 111\r\na=setup:actpass\r\n"),
        "m=audio 9 X 111\r\na=setup:passive\r\n"
    );
}

#[test]
fn a_rejected_section_gets_no_candidates_and_sdp_without_candidates_is_kept() {
    let sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
               m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:1 1 udp 1 192.0.2.1 3479 typ host\r\n\
               m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n\
               m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\n";
    let out = with_candidates_in_every_section(sdp);
    let sections: Vec<&str> = out.split("m=").skip(1).collect();
    assert_eq!(sections[0].matches("a=candidate").count(), 1);
    assert_eq!(
        sections[1].matches("a=candidate").count(),
        0,
        "port 0: rejected"
    );
    assert!(!sections[1].contains("end-of-candidates"));
    assert_eq!(sections[2].matches("a=candidate").count(), 1);
    let plain = "v=0\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n";
    assert_eq!(with_candidates_in_every_section(plain), plain);
}

#[test]
fn deadlines_come_from_the_heap_and_stale_ones_cause_no_wake_up() {
    let config = Arc::new(MediaConfig {
        udp_candidates: vec!["10.0.0.1:3479".parse().unwrap()],
        tcp_candidates: Vec::new(),
        turn: None,
        bandwidth_estimation: true,
    });
    let mut media = Media::new(config, Arc::new(Metrics::default()));
    let t0 = Instant::now();
    assert_eq!(
        media.poll_timeout(),
        None,
        "no one connected, nothing to wait for"
    );
    let (a, b) = (ParticipantId::from_u128(1), ParticipantId::from_u128(2));
    media.offer(t0, a, &client_offer(t0)).unwrap();
    media.offer(t0, b, &client_offer(t0)).unwrap();
    // Each peer's deadline is in the heap, once, and the earliest of
    // them (or a session tick) is the next wake-up.
    let deadline = |m: &Media, who| m.peers[&who].deadline().expect("a deadline");
    let (da, db) = (deadline(&media, a), deadline(&media, b));
    let next = media.poll_timeout().expect("a wake-up");
    assert!(next <= da.min(db), "{next:?} after a peer's deadline");
    assert_eq!(media.timers.len(), 2, "{:?}", media.timers);

    // Handling time at a's deadline moves it on and schedules it anew;
    // the entry that fired is gone.
    let at = da.max(db);
    media.handle_timeout(at);
    for who in [a, b] {
        let p = &media.peers[&who];
        assert_eq!(
            p.scheduled,
            p.deadline(),
            "the heap has the peer's current deadline"
        );
        assert!(
            p.scheduled.is_some_and(|d| d > at),
            "{:?} not after {at:?}",
            p.scheduled
        );
    }
    assert!(media.poll_timeout().is_some_and(|t| t > at));

    // The peer whose deadline is next leaves, and leaves its entry
    // behind at the top of the heap; looking for the next wake-up drops
    // it rather than waking up for it.
    let Some(Reverse((_, first))) = media.timers.peek().copied() else {
        panic!("no deadlines in the heap");
    };
    let other = if first == a { b } else { a };
    media.remove(at, first);
    assert!(media.timers.iter().any(|Reverse((_, w))| *w == first));
    let next = media.poll_timeout();
    let Some(Reverse((top, who))) = media.timers.peek().copied() else {
        panic!("the other peer's deadline is gone from the heap");
    };
    assert_eq!(who, other, "{:?}", media.timers);
    assert_eq!(media.peers[&other].scheduled, Some(top));
    assert!(next.is_some_and(|t| t <= top));
    assert!(media.timers.iter().all(|Reverse((_, w))| *w != first));
    media.remove(at, other);
    media.poll_timeout();
    assert!(media.timers.is_empty(), "{:?}", media.timers);
}

#[test]
fn a_starved_video_is_paused_then_its_lowest_layer_tried_with_backoff() {
    let mut t = OutTrack {
        sender: ParticipantId::from_u128(1),
        source: MediaSource::Camera,
        mid: None,
        state: OutState::Open,
        rewrite: Rewrite::default(),
        pt: None,
        select: Selection::default(),
        pictures: vp8::PictureIds::default(),
        starved: None,
        switched_at: None,
        key_wait: None,
    };
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    // The estimate covers a layer: as allocated.
    assert_eq!(starve_or_try(&mut t, at(0), Some(2), Some(0)), Some(2));
    // Starved: paused until the retry, then the lowest layer for a trial.
    assert_eq!(starve_or_try(&mut t, at(500), None, Some(0)), None);
    assert_eq!(starve_or_try(&mut t, at(4000), None, Some(0)), None);
    assert_eq!(starve_or_try(&mut t, at(4500), None, Some(0)), Some(0));
    assert_eq!(starve_or_try(&mut t, at(7000), None, Some(0)), Some(0));
    // The trial failed: paused again, the next trial twice as late.
    assert_eq!(starve_or_try(&mut t, at(7500), None, Some(0)), None);
    assert_eq!(starve_or_try(&mut t, at(15000), None, Some(0)), None);
    assert_eq!(starve_or_try(&mut t, at(15500), None, Some(0)), Some(0));
    // The estimate followed the trial: allocated normally from now on.
    assert_eq!(starve_or_try(&mut t, at(16000), Some(1), Some(0)), Some(1));
    assert_eq!(starve_or_try(&mut t, at(19000), Some(1), Some(0)), Some(1));
    assert!(t.starved.is_none());
    // A hidden tile is simply paused, with no trials.
    assert_eq!(starve_or_try(&mut t, at(20000), None, None), None);
    assert_eq!(starve_or_try(&mut t, at(90000), None, None), None);
    assert!(t.starved.is_none());
}

#[test]
fn a_datagram_to_any_local_address_is_matched_to_an_announced_candidate() {
    let config = MediaConfig {
        udp_candidates: vec![
            "203.0.113.7:3479".parse().unwrap(),
            "127.0.0.1:3479".parse().unwrap(),
        ],
        tcp_candidates: vec!["203.0.113.7:3478".parse().unwrap()],
        turn: None,
        bandwidth_estimation: true,
    };
    let to = |a: &str| a.parse::<SocketAddr>().unwrap();
    // Announced: itself.
    assert_eq!(
        config.candidate_for(Protocol::Udp, to("127.0.0.1:3479")),
        to("127.0.0.1:3479")
    );
    // Arrived at a private address behind 1:1 NAT: the public candidate.
    assert_eq!(
        config.candidate_for(Protocol::Udp, to("10.0.0.5:3479")),
        to("203.0.113.7:3479")
    );
    assert_eq!(
        config.candidate_for(Protocol::Tcp, to("10.0.0.5:3478")),
        to("203.0.113.7:3478")
    );
    // Nothing of that family or port: left as it is.
    assert_eq!(
        config.candidate_for(Protocol::Udp, to("[::1]:3479")),
        to("[::1]:3479")
    );
}

#[test]
fn a_restarted_publisher_continues_the_receivers_sequence_and_clock() {
    let t0 = Instant::now();
    let mut r = Rewrite::default();
    let (a, b) = (Ssrc::from(1), Ssrc::from(2));
    assert_eq!(r.map(a, 100, 1_000, t0, 90_000), Some((1, 1_000)));
    assert_eq!(r.map(a, 101, 4_000, t0, 90_000), Some((2, 4_000)));
    // Reordered within the run: mapped, not dropped.
    assert_eq!(r.map(a, 103, 10_000, t0, 90_000), Some((4, 10_000)));
    assert_eq!(r.map(a, 102, 7_000, t0, 90_000), Some((3, 7_000)));
    // The publisher restarts with new random numbers 100 ms later.
    let t1 = t0 + Duration::from_millis(100);
    let (seq, time) = r.map(b, 40_000, 3_000_000_000, t1, 90_000).unwrap();
    assert_eq!(seq, 5);
    assert_eq!(time, 10_000 + 9_000);
    assert_eq!(
        r.map(b, 40_001, 3_000_003_000, t1, 90_000),
        Some((6, 22_000))
    );
    // A loss within the run stays a gap, so the receiver can NACK it.
    assert_eq!(
        r.map(b, 40_004, 3_000_012_000, t1, 90_000),
        Some((9, 31_000))
    );
    // Packets from before the run began are dropped.
    assert_eq!(r.map(b, 39_999, 2_999_997_000, t1, 90_000), None);
}

#[test]
fn a_new_route_from_a_sealing_sender_holds_its_key_frame_request_until_the_key_id_changes() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let wait = KeyWait {
        from: Some(4),
        since: t0,
        acked: None,
    };
    // The sender still seals under the key id the route started with: a key
    // frame now would be one the receiver cannot decrypt.
    assert!(wait.holds_back(ms(0), Some(4)));
    assert!(wait.holds_back(ms(350), Some(4)));
    // It changed keys: ask at once.
    assert!(!wait.holds_back(ms(40), Some(5)));
    // It did not within the grace (no new key for this receiver): ask anyway.
    assert!(!wait.holds_back(t0 + KEY_CHANGE_GRACE, Some(4)));
    // A sender whose key id was not seen yet (a new connection): nothing to hold.
    let unseen = KeyWait {
        from: None,
        since: t0,
        acked: None,
    };
    assert!(!unseen.holds_back(ms(0), None));
    assert!(!unseen.holds_back(ms(0), Some(1)));
    // Frames under the starting key are not usable for the receiver; any
    // other key id is.
    assert!(!wait.usable(4));
    assert!(wait.usable(5));
}

#[test]
fn a_key_the_receiver_acknowledged_ends_the_hold_at_once() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    // The sender switched to key 7 before the receiver's route started (a
    // reconnection), and the receiver said it holds 7: ask now, and its
    // next key frame under 7 ends the wait.
    let wait = KeyWait {
        from: Some(7),
        since: t0,
        acked: Some(7),
    };
    assert!(!wait.holds_back(ms(0), Some(7)));
    assert!(wait.usable(7));
    // An acknowledgement of another key changes nothing for this one.
    let other = KeyWait {
        acked: Some(6),
        ..wait
    };
    assert!(other.holds_back(ms(0), Some(7)));
    assert!(!other.usable(7));
}

/// A media path with one loopback candidate and no peers yet.
fn media_on_loopback() -> Media {
    let config = Arc::new(MediaConfig {
        udp_candidates: vec!["127.0.0.1:3479".parse().unwrap()],
        tcp_candidates: vec![],
        turn: None,
        bandwidth_estimation: true,
    });
    Media::new(config, Arc::new(Metrics::default()))
}

#[test]
fn acknowledgements_reach_waiting_routes_and_are_forgotten_with_their_people() {
    let mut media = media_on_loopback();
    let (a, b) = (ParticipantId::from_u128(1), ParticipantId::from_u128(2));
    // Before either has media: kept, the newest only.
    media.key_acknowledged(b, a, 3);
    media.key_acknowledged(b, a, 2);
    assert_eq!(media.acked.get(&(b, a)), Some(&3));
    // A seals (its identity came): kept while A goes on sealing, whatever
    // else A sends; forgotten once A stops (its connection went).
    media.set_sealed(a, true);
    assert!(media.acked.is_empty());
    media.key_acknowledged(b, a, 1);
    media.set_sealed(a, true);
    assert_eq!(media.acked.get(&(b, a)), Some(&1));
    media.set_sealed(a, false);
    assert!(media.acked.is_empty());
    media.key_acknowledged(b, a, 1);
    media.key_acknowledged(a, b, 4);
    media.remove(Instant::now(), b);
    assert!(media.acked.is_empty(), "{:?}", media.acked);
}

#[test]
fn acknowledgements_are_forgotten_when_receiver_and_sender_no_longer_share_a_room() {
    let mut media = media_on_loopback();
    let (a, b, c) = (
        ParticipantId::from_u128(1),
        ParticipantId::from_u128(2),
        ParticipantId::from_u128(3),
    );
    let caucus = RoomId::Caucus(uuid::Uuid::from_u128(9));
    let now = Instant::now();
    media.set_routes(
        now,
        Routes::in_rooms([(a, RoomId::Main), (b, RoomId::Main), (c, RoomId::Main)]),
    );
    media.key_acknowledged(b, a, 3);
    media.key_acknowledged(a, b, 5);
    media.key_acknowledged(c, b, 5);
    // A goes to a caucus: B and A forget each other's keys, so their
    // acknowledgements go; C and B still share the main room.
    media.set_routes(
        now,
        Routes::in_rooms([(a, caucus), (b, RoomId::Main), (c, RoomId::Main)]),
    );
    assert_eq!(media.acked.get(&(b, a)), None);
    assert_eq!(media.acked.get(&(a, b)), None);
    assert_eq!(media.acked.get(&(c, b)), Some(&5));
    // B joins A there: a route from A to B waits for A's next key, as for
    // someone who never held one (no stale acknowledgement ends the hold).
    media.set_routes(now, Routes::in_rooms([(a, caucus), (b, caucus)]));
    assert!(media.acked.is_empty(), "{:?}", media.acked);
    // Acknowledgements made in the shared room are kept while it lasts.
    media.key_acknowledged(b, a, 4);
    media.set_routes(now, Routes::in_rooms([(a, caucus), (b, caucus)]));
    assert_eq!(media.acked.get(&(b, a)), Some(&4));
}

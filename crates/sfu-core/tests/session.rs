//! The live-session core on a simulated clock: lobby, caucus isolation,
//! moderation, timers, reconnection, and invariants under random commands.

use std::time::{Duration, Instant};

use accord_sfu_core::protocol::{ClientMessage as C, RoomId, ServerMessage as S, SessionRole};
use accord_sfu_core::session::{CloseReason, JoinRefused, LiveSession, Output};
use proptest::prelude::*;
use uuid::Uuid;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}
const MED: u128 = 1;
const A: u128 = 2;
const B: u128 = 3;
const OBS: u128 = 4;

fn lobby() -> Vec<String> {
    vec!["lobby".into()]
}
fn all() -> Vec<String> {
    vec!["*".into()]
}

fn drain(s: &mut LiveSession) -> Vec<Output> {
    let now = Instant::now();
    std::iter::from_fn(|| s.poll_output(now)).collect()
}

fn sent_to(outputs: &[Output], who: u128) -> Vec<S> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { to, message } if *to == id(who) => Some(message.clone()),
            _ => None,
        })
        .collect()
}

fn error_code(outputs: &[Output], who: u128) -> Option<String> {
    sent_to(outputs, who).into_iter().find_map(|m| match m {
        S::Error { code, .. } => Some(code),
        _ => None,
    })
}

/// A mediator in the main room and two parties admitted from the lobby.
fn admitted() -> LiveSession {
    let mut s = LiveSession::new(7);
    s.join(id(MED), SessionRole::Mediator, &all()).unwrap();
    s.join(id(A), SessionRole::Party, &lobby()).unwrap();
    s.join(id(B), SessionRole::Party, &lobby()).unwrap();
    let now = Instant::now();
    s.handle(now, id(MED), C::Admit { participant: id(A) });
    s.handle(now, id(MED), C::Admit { participant: id(B) });
    drain(&mut s);
    s
}

fn caucus(s: &mut LiveSession, name: &str) -> RoomId {
    s.handle(
        Instant::now(),
        id(MED),
        C::CreateCaucus { name: name.into() },
    );
    let outputs = drain(s);
    sent_to(&outputs, MED)
        .into_iter()
        .rev()
        .find_map(|m| match m {
            S::State { rooms, .. } => rooms.iter().rev().find(|r| r.name == name).map(|r| r.id),
            _ => None,
        })
        .expect("the mediator sees the new caucus")
}

#[test]
fn parties_wait_in_the_lobby_until_admitted() {
    let mut s = LiveSession::new(1);
    s.join(id(MED), SessionRole::Mediator, &all()).unwrap();
    drain(&mut s);
    s.join(id(A), SessionRole::Party, &lobby()).unwrap();
    let outputs = drain(&mut s);
    assert!(sent_to(&outputs, MED).contains(&S::Knock { participant: id(A) }));
    assert_eq!(s.room_of(id(A)), Some(RoomId::Lobby));
    assert!(
        !s.may_receive(id(A), id(MED)) && !s.may_receive(id(MED), id(A)),
        "nothing flows to or from the lobby"
    );
    // A party in the lobby sees only themselves.
    let view = sent_to(&outputs, A)
        .into_iter()
        .rev()
        .find_map(|m| match m {
            S::State { participants, .. } => Some(participants),
            _ => None,
        });
    assert_eq!(view.unwrap().len(), 1);

    s.handle(Instant::now(), id(MED), C::Admit { participant: id(A) });
    assert_eq!(s.room_of(id(A)), Some(RoomId::Main));
    assert!(s.may_receive(id(A), id(MED)) && s.may_receive(id(MED), id(A)));
    assert!(drain(&mut s).contains(&Output::RoutesChanged));
}

#[test]
fn parties_cannot_moderate() {
    let mut s = admitted();
    let now = Instant::now();
    for command in [
        C::Admit { participant: id(B) },
        C::Move {
            participant: id(B),
            room: RoomId::Lobby,
        },
        C::Mute { participant: id(B) },
        C::Remove { participant: id(B) },
        C::RecallAll,
        C::Lock { locked: true },
        C::CreateCaucus {
            name: "mine".into(),
        },
        C::Broadcast {
            text: "hello".into(),
        },
    ] {
        s.handle(now, id(A), command.clone());
        let outputs = drain(&mut s);
        assert_eq!(
            error_code(&outputs, A).as_deref(),
            Some("FORBIDDEN"),
            "{command:?}"
        );
        assert!(
            !outputs.contains(&Output::RoutesChanged),
            "{command:?} changed something"
        );
    }
    assert_eq!(s.room_of(id(B)), Some(RoomId::Main));
}

#[test]
fn caucus_rooms_isolate_media_and_chat() {
    let mut s = admitted();
    let now = Instant::now();
    let room = caucus(&mut s, "Claimant");
    s.handle(
        now,
        id(MED),
        C::Move {
            participant: id(A),
            room,
        },
    );
    assert!(!s.may_receive(id(B), id(A)) && !s.may_receive(id(A), id(B)));
    assert!(
        !s.may_receive(id(A), id(MED)),
        "the mediator is still in main"
    );
    // The mediator visits the caucus.
    s.handle(
        now,
        id(MED),
        C::Move {
            participant: id(MED),
            room,
        },
    );
    assert!(s.may_receive(id(A), id(MED)) && s.may_receive(id(MED), id(A)));
    assert!(!s.may_receive(id(B), id(MED)));
    drain(&mut s);
    // Chat stays in the room.
    s.handle(
        now,
        id(A),
        C::Chat {
            text: "our bottom line".into(),
        },
    );
    let outputs = drain(&mut s);
    assert!(sent_to(&outputs, MED)
        .iter()
        .any(|m| matches!(m, S::Chat { .. })));
    assert!(sent_to(&outputs, B)
        .iter()
        .all(|m| !matches!(m, S::Chat { .. })));
    // B's view does not show A or the caucus.
    s.handle(now, id(B), C::SetHand { raised: true });
    let outputs = drain(&mut s);
    let view = sent_to(&outputs, B)
        .into_iter()
        .rev()
        .find_map(|m| match m {
            S::State {
                rooms,
                participants,
                ..
            } => Some((rooms, participants)),
            _ => None,
        });
    let (rooms, participants) = view.unwrap();
    assert!(rooms.iter().all(|r| r.id != room));
    assert!(participants.iter().all(|p| p.id != id(A)));
    // Recall all: everyone back in main, media flows again.
    s.handle(now, id(MED), C::RecallAll);
    assert!(s.may_receive(id(B), id(A)) && s.may_receive(id(A), id(MED)));
    // An empty caucus can be closed; moving into it afterwards fails.
    s.handle(now, id(MED), C::CloseCaucus { room });
    drain(&mut s);
    s.handle(
        now,
        id(MED),
        C::Move {
            participant: id(A),
            room,
        },
    );
    assert_eq!(
        error_code(&drain(&mut s), MED).as_deref(),
        Some("NOT_FOUND")
    );
}

#[test]
fn caucus_names_are_unique_per_session_whatever_their_case_and_spaces() {
    let mut s = admitted();
    let first = caucus(&mut s, "Claimant caucus");
    for name in ["Claimant caucus", "  claimant CAUCUS "] {
        s.handle(
            Instant::now(),
            id(MED),
            C::CreateCaucus { name: name.into() },
        );
        let outputs = drain(&mut s);
        assert_eq!(
            error_code(&outputs, MED).as_deref(),
            Some("CONFLICT"),
            "{name:?}"
        );
        assert!(
            sent_to(&outputs, MED)
                .iter()
                .all(|m| !matches!(m, S::State { .. })),
            "a refused caucus changes nothing"
        );
    }
    // Another name is fine, and so is the old one once its caucus is closed.
    let other = caucus(&mut s, "Respondent caucus");
    assert_ne!(first, other);
    s.handle(Instant::now(), id(MED), C::CloseCaucus { room: first });
    drain(&mut s);
    caucus(&mut s, "Claimant caucus");
}

#[test]
fn broadcast_reaches_every_room_but_not_the_lobby() {
    let mut s = admitted();
    let room = caucus(&mut s, "Respondent");
    let now = Instant::now();
    s.handle(
        now,
        id(MED),
        C::Move {
            participant: id(B),
            room,
        },
    );
    s.join(id(OBS), SessionRole::Observer, &lobby()).unwrap();
    drain(&mut s);
    s.handle(
        now,
        id(MED),
        C::Broadcast {
            text: "Five minutes".into(),
        },
    );
    let outputs = drain(&mut s);
    for who in [MED, A, B] {
        assert!(
            sent_to(&outputs, who).contains(&S::Broadcast {
                text: "Five minutes".into()
            }),
            "{who}"
        );
    }
    assert!(sent_to(&outputs, OBS).is_empty());
}

#[test]
fn timers_warn_a_minute_before_and_expire() {
    let mut s = admitted();
    let room = caucus(&mut s, "Claimant");
    let start = Instant::now();
    s.handle(
        start,
        id(MED),
        C::Move {
            participant: id(A),
            room,
        },
    );
    s.handle(start, id(MED), C::SetTimer { room, seconds: 300 });
    drain(&mut s);
    assert_eq!(s.poll_timeout(), Some(start + Duration::from_secs(240)));
    s.handle_timeout(start + Duration::from_secs(239));
    assert!(drain(&mut s).is_empty(), "nothing before the warning");
    s.handle_timeout(start + Duration::from_secs(240));
    let outputs = drain(&mut s);
    assert!(sent_to(&outputs, A).contains(&S::TimerWarning { room }));
    assert!(sent_to(&outputs, MED).contains(&S::TimerWarning { room }));
    assert!(sent_to(&outputs, B).is_empty(), "B is not in the caucus");
    assert_eq!(s.poll_timeout(), Some(start + Duration::from_secs(300)));
    s.handle_timeout(start + Duration::from_secs(300));
    assert!(sent_to(&drain(&mut s), A).contains(&S::TimerExpired { room }));
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn mute_stops_audio_only_and_only_the_participant_unmutes() {
    let mut s = admitted();
    let now = Instant::now();
    s.handle(now, id(MED), C::Mute { participant: id(A) });
    assert!(sent_to(&drain(&mut s), A).contains(&S::MutedByMediator));
    assert!(!s.may_receive_audio(id(B), id(A)));
    assert!(s.may_receive(id(B), id(A)), "video still flows");
    s.handle(now, id(MED), C::AskUnmute { participant: id(A) });
    assert!(sent_to(&drain(&mut s), A).contains(&S::UnmuteRequested));
    assert!(!s.may_receive_audio(id(B), id(A)), "asking does not unmute");
    s.handle(now, id(A), C::SetMuted { muted: false });
    assert!(s.may_receive_audio(id(B), id(A)));
}

#[test]
fn removal_is_final_and_a_lock_keeps_newcomers_out() {
    let mut s = admitted();
    let now = Instant::now();
    s.handle(now, id(MED), C::Remove { participant: id(A) });
    let outputs = drain(&mut s);
    assert!(outputs.contains(&Output::Close {
        who: id(A),
        reason: CloseReason::Removed
    }));
    assert_eq!(
        s.join(id(A), SessionRole::Party, &lobby()),
        Err(JoinRefused::Removed)
    );
    s.handle(
        now,
        id(MED),
        C::Remove {
            participant: id(MED),
        },
    );
    assert_eq!(error_code(&drain(&mut s), MED).as_deref(), Some("CONFLICT"));

    s.handle(now, id(MED), C::Lock { locked: true });
    assert_eq!(
        s.join(id(OBS), SessionRole::Observer, &lobby()),
        Err(JoinRefused::Locked)
    );
    // Someone already in the session comes back after a dropped connection.
    s.disconnected(id(B));
    assert!(!s.may_receive(id(MED), id(B)));
    assert_eq!(s.join(id(B), SessionRole::Party, &lobby()), Ok(()));
    assert_eq!(
        s.room_of(id(B)),
        Some(RoomId::Main),
        "same room after reconnecting"
    );
    assert!(s.may_receive(id(MED), id(B)));
}

#[test]
fn deny_turns_someone_away_with_the_message() {
    let mut s = LiveSession::new(3);
    s.join(id(MED), SessionRole::Mediator, &all()).unwrap();
    s.join(id(A), SessionRole::Party, &lobby()).unwrap();
    drain(&mut s);
    s.handle(
        Instant::now(),
        id(MED),
        C::Deny {
            participant: id(A),
            message: Some("Wrong session".into()),
        },
    );
    let outputs = drain(&mut s);
    assert!(sent_to(&outputs, A).contains(&S::Denied {
        message: Some("Wrong session".into())
    }));
    assert!(outputs.contains(&Output::Close {
        who: id(A),
        reason: CloseReason::Denied
    }));
    assert_eq!(s.room_of(id(A)), None);
    // Denying someone already admitted is a conflict.
    s.join(id(B), SessionRole::Party, &["main".to_owned()])
        .unwrap();
    drain(&mut s);
    s.handle(
        Instant::now(),
        id(MED),
        C::Deny {
            participant: id(B),
            message: None,
        },
    );
    assert_eq!(error_code(&drain(&mut s), MED).as_deref(), Some("CONFLICT"));
}

#[test]
fn one_screen_share_per_room() {
    let mut s = admitted();
    s.join(id(OBS), SessionRole::Observer, &["main".to_owned()])
        .unwrap();
    let now = Instant::now();
    s.handle(now, id(A), C::SetSharing { sharing: true });
    drain(&mut s);
    s.handle(now, id(B), C::SetSharing { sharing: true });
    assert_eq!(error_code(&drain(&mut s), B).as_deref(), Some("CONFLICT"));
    s.handle(now, id(OBS), C::SetSharing { sharing: true });
    assert_eq!(
        error_code(&drain(&mut s), OBS).as_deref(),
        Some("FORBIDDEN")
    );
    // Moving the sharer ends the share; then B may share in main.
    let room = caucus(&mut s, "Side");
    s.handle(
        now,
        id(MED),
        C::Move {
            participant: id(A),
            room,
        },
    );
    s.handle(now, id(B), C::SetSharing { sharing: true });
    assert_eq!(error_code(&drain(&mut s), B), None);
}

#[derive(Debug, Clone)]
enum Step {
    Command(u8, u8, u8),
    Disconnect(u8),
    Rejoin(u8),
    Tick(u16),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0u8..4, 0u8..14, 0u8..8).prop_map(|(a, c, t)| Step::Command(a, c, t)),
        1 => (0u8..4).prop_map(Step::Disconnect),
        1 => (0u8..4).prop_map(Step::Rejoin),
        1 => (0u16..400).prop_map(Step::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Whatever the sequence of commands, from whoever: a participant only ever
    /// may receive someone in the same room outside the lobby, at most one person
    /// shares per room, removed people are gone, and nothing panics.
    #[test]
    fn isolation_holds_under_any_command_sequence(steps in prop::collection::vec(step(), 1..80)) {
        let people = [(MED, SessionRole::Mediator), (A, SessionRole::Party), (B, SessionRole::Party), (OBS, SessionRole::Observer)];
        let mut s = LiveSession::new(9);
        for (who, role) in people {
            let rooms = if role == SessionRole::Mediator { all() } else { lobby() };
            let _ = s.join(id(who), role, &rooms);
        }
        let mut rooms = vec![RoomId::Lobby, RoomId::Main];
        let mut now = Instant::now();
        for step in steps {
            match step {
                Step::Command(actor, command, target) => {
                    let actor = id(people[actor as usize % 4].0);
                    let who = id(people[target as usize % 4].0);
                    let room = rooms[target as usize % rooms.len()];
                    let message = match command {
                        0 => C::Admit { participant: who },
                        1 => C::Move { participant: who, room },
                        2 => C::CreateCaucus { name: format!("c{target}") },
                        3 => C::RecallAll,
                        4 => C::Mute { participant: who },
                        5 => C::SetMuted { muted: false },
                        6 => C::SetSharing { sharing: true },
                        7 => C::SetSharing { sharing: false },
                        8 => C::Remove { participant: who },
                        9 => C::Lock { locked: target % 2 == 0 },
                        10 => C::SetTimer { room, seconds: 30 + u32::from(target) * 20 },
                        11 => C::Chat { text: "hi".into() },
                        12 => C::CloseCaucus { room },
                        _ => C::Deny { participant: who, message: None },
                    };
                    s.handle(now, actor, message);
                }
                Step::Disconnect(p) => s.disconnected(id(people[p as usize % 4].0)),
                Step::Rejoin(p) => {
                    let (who, role) = people[p as usize % 4];
                    let _ = s.join(id(who), role, &lobby());
                }
                Step::Tick(seconds) => {
                    now += Duration::from_secs(u64::from(seconds));
                    s.handle_timeout(now);
                }
            }
            let mut mediator_view = None;
            for output in drain(&mut s) {
                if let Output::Send { message: S::State { rooms: visible, participants, .. }, to } = output {
                    if to == id(MED) {
                        rooms = visible.iter().map(|r| r.id).collect();
                        mediator_view = Some(participants);
                    }
                }
            }
            for (r, _) in people {
                for (x, _) in people {
                    if s.may_receive(id(r), id(x)) {
                        let room = s.room_of(id(r));
                        prop_assert_eq!(room, s.room_of(id(x)));
                        prop_assert_ne!(room, Some(RoomId::Lobby));
                    }
                }
            }
            if let Some(participants) = mediator_view {
                let mut sharers = std::collections::BTreeMap::<RoomId, usize>::new();
                for p in participants.iter().filter(|p| p.sharing) {
                    *sharers.entry(p.room).or_default() += 1;
                }
                prop_assert!(sharers.values().all(|n| *n <= 1), "{:?}", sharers);
                prop_assert!(participants.iter().all(|p| p.room != RoomId::Lobby || !p.sharing));
            }
        }
    }
}

fn states(outputs: &[Output]) -> Vec<(Uuid, usize)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send {
                to,
                message: S::State { participants, .. },
            } => Some((*to, participants.len())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_big_room_gets_views_spaced_out_and_routes_at_once() {
    let mut s = LiveSession::new(7);
    for n in 0..100 {
        s.join(id(100 + n), SessionRole::Party, &["main".into()])
            .unwrap();
    }
    let t0 = Instant::now();
    let first: Vec<Output> = std::iter::from_fn(|| s.poll_output(t0)).collect();
    assert!(first.contains(&Output::RoutesChanged));
    assert_eq!(
        states(&first).len(),
        100,
        "the first round goes out at once"
    );
    assert_eq!(s.poll_timeout(), None, "nothing is held back yet");

    // Two more join right after: their routes change at once, the views wait.
    let spacing = accord_sfu_core::session::view_spacing(100);
    assert_eq!(spacing, Duration::from_millis(50));
    s.join(id(500), SessionRole::Party, &["main".into()])
        .unwrap();
    s.join(id(501), SessionRole::Party, &["main".into()])
        .unwrap();
    let held: Vec<Output> = std::iter::from_fn(|| s.poll_output(t0)).collect();
    assert!(held.contains(&Output::RoutesChanged));
    assert!(states(&held).is_empty(), "no views yet: {held:?}");
    assert_eq!(s.poll_timeout(), Some(t0 + spacing));
    let early = t0 + spacing - Duration::from_millis(1);
    assert!(std::iter::from_fn(|| s.poll_output(early)).next().is_none());

    // When the spacing is over, one round covers both joins.
    let late: Vec<Output> = std::iter::from_fn(|| s.poll_output(t0 + spacing)).collect();
    let round = states(&late);
    assert_eq!(round.len(), 102);
    assert!(round.iter().all(|(_, listed)| *listed == 102));
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn a_small_room_gets_every_view_at_once() {
    let mut s = admitted();
    let t0 = Instant::now();
    std::iter::from_fn(|| s.poll_output(t0)).for_each(drop);
    s.handle(t0, id(A), C::SetHand { raised: true });
    let next = t0 + Duration::from_millis(1);
    let outputs: Vec<Output> = std::iter::from_fn(|| s.poll_output(next)).collect();
    assert_eq!(states(&outputs).len(), 3);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn view_spacing_grows_with_the_room_and_is_capped() {
    use accord_sfu_core::session::view_spacing;
    assert_eq!(view_spacing(6), Duration::ZERO);
    assert_eq!(view_spacing(16), Duration::ZERO);
    assert_eq!(view_spacing(20), Duration::from_millis(2));
    assert_eq!(view_spacing(200), Duration::from_millis(200));
    assert_eq!(view_spacing(1_000), Duration::from_secs(1));
    assert_eq!(view_spacing(usize::MAX), Duration::from_secs(1));
}

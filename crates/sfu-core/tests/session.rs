//! The live-session core on a simulated clock: lobby, caucus isolation,
//! moderation, timers, reconnection, and invariants under random commands.

use std::time::{Duration, Instant};

use accord_sfu_core::protocol::{ClientMessage as C, RoomId, ServerMessage as S, SessionRole};
use accord_sfu_core::session::{
    CloseReason, JoinRefused, KeptTimer, LiveSession, MemberSnapshot, Output, WallClock,
};
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
fn the_overview_lists_everyone_with_their_room_and_connection() {
    let mut s = admitted();
    let room = caucus(&mut s, "Party A");
    s.handle(
        Instant::now(),
        id(MED),
        C::Move {
            participant: id(A),
            room,
        },
    );
    s.join(id(OBS), SessionRole::Observer, &lobby()).unwrap();
    s.disconnected(id(B));
    drain(&mut s);
    let RoomId::Caucus(caucus_id) = room else {
        panic!("a caucus has a caucus id");
    };
    assert_eq!(s.caucus_name(caucus_id), Some("Party A"));
    let member = |n, role, room, connected| MemberSnapshot {
        id: id(n),
        role,
        room,
        connected,
    };
    assert_eq!(
        s.members(),
        vec![
            member(MED, SessionRole::Mediator, RoomId::Main, true),
            member(A, SessionRole::Party, room, true),
            member(B, SessionRole::Party, RoomId::Main, false),
            member(OBS, SessionRole::Observer, RoomId::Lobby, true),
        ]
    );
    s.forget(id(B));
    assert_eq!(s.members().len(), 3);
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

/// The last state view sent to `who`.
fn last_state(outputs: &[Output], who: u128) -> Option<S> {
    sent_to(outputs, who)
        .into_iter()
        .rev()
        .find(|m| matches!(m, S::State { .. }))
}

#[test]
fn a_caucus_is_renamed_in_place_with_its_people_and_timer() {
    let mut s = admitted();
    let room = caucus(&mut s, "Claimant");
    let other = caucus(&mut s, "Respondent");
    let now = Instant::now();
    s.handle(
        now,
        id(MED),
        C::Move {
            participant: id(A),
            room,
        },
    );
    s.handle(now, id(MED), C::SetTimer { room, seconds: 600 });
    drain(&mut s);

    s.handle(
        now,
        id(MED),
        C::RenameCaucus {
            room,
            name: "  Claimant (private) ".into(),
        },
    );
    let outputs = drain(&mut s);
    let Some(S::State {
        rooms,
        participants,
        ..
    }) = last_state(&outputs, A)
    else {
        panic!("party A gets a new view");
    };
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0].id, room, "the same room");
    assert_eq!(rooms[0].name, "Claimant (private)");
    assert!(rooms[0].timer_remaining_ms.is_some(), "its timer stays");
    assert!(participants.iter().any(|p| p.id == id(A) && p.room == room));
    assert!(
        outputs.iter().all(|o| !matches!(o, Output::RoutesChanged)),
        "a new name moves no media"
    );

    // Another caucus's name, in any case and spacing: refused.
    s.handle(
        now,
        id(MED),
        C::RenameCaucus {
            room,
            name: " respondent ".into(),
        },
    );
    assert_eq!(error_code(&drain(&mut s), MED).as_deref(), Some("CONFLICT"));
    // Its own name in another case: fine.
    s.handle(
        now,
        id(MED),
        C::RenameCaucus {
            room: other,
            name: "RESPONDENT".into(),
        },
    );
    assert_eq!(error_code(&drain(&mut s), MED), None);
    // The main room keeps its name; parties rename nothing.
    s.handle(
        now,
        id(MED),
        C::RenameCaucus {
            room: RoomId::Main,
            name: "Plenary".into(),
        },
    );
    assert_eq!(error_code(&drain(&mut s), MED).as_deref(), Some("CONFLICT"));
    s.handle(
        now,
        id(A),
        C::RenameCaucus {
            room,
            name: "Mine".into(),
        },
    );
    assert_eq!(error_code(&drain(&mut s), A).as_deref(), Some("FORBIDDEN"));
}

#[test]
fn views_carry_each_rooms_time_left_and_who_is_connected() {
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
    let outputs = drain(&mut s);
    let Some(S::State { rooms, .. }) = last_state(&outputs, A) else {
        panic!("party A gets a view");
    };
    let left = rooms[0].timer_remaining_ms.expect("the caucus's timer");
    assert!((290_000..=300_000).contains(&left), "{left} ms left");
    let Some(S::State { rooms, .. }) = last_state(&outputs, MED) else {
        panic!("the mediator gets a view");
    };
    assert!(rooms
        .iter()
        .filter(|r| r.id != room)
        .all(|r| r.timer_remaining_ms.is_none()));

    // B drops: everyone who sees B sees them as not connected until they
    // are back.
    s.disconnected(id(B));
    let Some(S::State { participants, .. }) = last_state(&drain(&mut s), MED) else {
        panic!("the mediator hears of the drop");
    };
    let b = participants.iter().find(|p| p.id == id(B)).unwrap();
    assert!(!b.connected);
    assert!(participants
        .iter()
        .filter(|p| p.id != id(B))
        .all(|p| p.connected));
    s.join(id(B), SessionRole::Party, &lobby()).unwrap();
    let Some(S::State { participants, .. }) = last_state(&drain(&mut s), MED) else {
        panic!("the mediator hears B is back");
    };
    assert!(participants.iter().all(|p| p.connected));
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

// ---- end-to-end encryption: identities and key relay ---------------------

fn wrapped(to: u128) -> accord_sfu_core::protocol::WrappedKey {
    accord_sfu_core::protocol::WrappedKey {
        to: id(to),
        wrapped: format!("wrapped-for-{to}"),
        signature: "c2ln".into(),
    }
}

fn keys_from(outputs: &[Output], to: u128) -> Vec<(Uuid, RoomId, u32, String)> {
    sent_to(outputs, to)
        .into_iter()
        .filter_map(|m| match m {
            S::E2eeKey {
                from,
                room,
                generation,
                wrapped,
                ..
            } => Some((from, room, generation, wrapped)),
            _ => None,
        })
        .collect()
}

fn send_keys(s: &mut LiveSession, from: u128, room: RoomId, generation: u32, to: &[u128]) {
    s.handle(
        Instant::now(),
        id(from),
        C::E2eeKeys {
            room,
            generation,
            keys: to.iter().map(|t| wrapped(*t)).collect(),
        },
    );
}

fn acks_to(outputs: &[Output], to: u128) -> Vec<(Uuid, u32)> {
    sent_to(outputs, to)
        .into_iter()
        .filter_map(|m| match m {
            S::E2eeKeyAck { from, generation } => Some((from, generation)),
            _ => None,
        })
        .collect()
}

fn ack(s: &mut LiveSession, from: u128, to: u128, room: RoomId, generation: u32) {
    s.handle(
        Instant::now(),
        id(from),
        C::E2eeKeyAck {
            to: id(to),
            room,
            generation,
        },
    );
}

#[test]
fn key_acks_reach_the_sender_only_within_one_room() {
    let mut s = admitted();
    s.join(id(OBS), SessionRole::Observer, &lobby()).unwrap();
    drain(&mut s);
    // B holds A's key 3: A hears so, nobody else does.
    ack(&mut s, B, A, RoomId::Main, 3);
    let out = drain(&mut s);
    assert_eq!(acks_to(&out, A), vec![(id(B), 3)]);
    assert!(acks_to(&out, MED).is_empty() && acks_to(&out, B).is_empty());
    // From the lobby: refused, and nothing reaches A.
    ack(&mut s, OBS, A, RoomId::Main, 3);
    let out = drain(&mut s);
    assert_eq!(error_code(&out, OBS).as_deref(), Some("FORBIDDEN"));
    assert!(acks_to(&out, A).is_empty());
    // A in a caucus: an ack from the main room never crosses to it, nor one
    // naming a room B is not in.
    let room = caucus(&mut s, "Party A");
    s.handle(
        Instant::now(),
        id(MED),
        C::Move {
            participant: id(A),
            room,
        },
    );
    drain(&mut s);
    ack(&mut s, B, A, RoomId::Main, 4);
    ack(&mut s, B, A, room, 4);
    let out = drain(&mut s);
    assert!(acks_to(&out, A).is_empty(), "an ack crossed rooms");
    assert!(error_code(&out, B).is_none(), "a stale ack is not an error");
    // To oneself: dropped.
    ack(&mut s, A, A, room, 5);
    assert!(acks_to(&drain(&mut s), A).is_empty());
}

#[test]
fn keys_reach_only_their_recipient_in_the_senders_room() {
    let mut s = admitted();
    s.join(id(OBS), SessionRole::Observer, &lobby()).unwrap();
    drain(&mut s);
    // In the main room: A's key for MED and B reaches each of them, only
    // their own entry; the entry for the observer in the lobby and the one
    // for A itself are dropped.
    send_keys(&mut s, A, RoomId::Main, 1, &[MED, B, OBS, A]);
    let out = drain(&mut s);
    assert_eq!(
        keys_from(&out, MED),
        vec![(id(A), RoomId::Main, 1, "wrapped-for-1".to_owned())]
    );
    assert_eq!(
        keys_from(&out, B),
        vec![(id(A), RoomId::Main, 1, "wrapped-for-3".to_owned())]
    );
    assert!(keys_from(&out, OBS).is_empty(), "never to the lobby");
    assert!(keys_from(&out, A).is_empty(), "never back to the sender");

    // A moves to a caucus: its keys for the main room are refused, and in
    // the caucus its entries for those left in the main room are dropped.
    let room = caucus(&mut s, "Party A");
    s.handle(
        Instant::now(),
        id(MED),
        C::Move {
            participant: id(A),
            room,
        },
    );
    drain(&mut s);
    send_keys(&mut s, A, RoomId::Main, 2, &[MED, B]);
    let out = drain(&mut s);
    assert_eq!(error_code(&out, A).as_deref(), Some("CONFLICT"));
    assert!(keys_from(&out, MED).is_empty() && keys_from(&out, B).is_empty());
    send_keys(&mut s, A, room, 3, &[MED, B]);
    let out = drain(&mut s);
    assert!(keys_from(&out, MED).is_empty() && keys_from(&out, B).is_empty());
    assert!(
        error_code(&out, A).is_none(),
        "a stale recipient is not an error"
    );

    // The mediator joins A: keys flow between the two of them only.
    s.handle(
        Instant::now(),
        id(MED),
        C::Move {
            participant: id(MED),
            room,
        },
    );
    drain(&mut s);
    send_keys(&mut s, A, room, 4, &[MED, B]);
    send_keys(&mut s, B, RoomId::Main, 1, &[MED, A]);
    let out = drain(&mut s);
    assert_eq!(
        keys_from(&out, MED),
        vec![(id(A), room, 4, "wrapped-for-1".to_owned())]
    );
    assert!(keys_from(&out, A).is_empty(), "B's key never crosses rooms");
    assert!(keys_from(&out, B).is_empty());

    // From the lobby, a key is refused outright.
    send_keys(&mut s, OBS, RoomId::Main, 1, &[MED]);
    let out = drain(&mut s);
    assert_eq!(error_code(&out, OBS).as_deref(), Some("FORBIDDEN"));
    assert!(keys_from(&out, MED).is_empty());

    // Nor does a key reach someone reconnecting (no connection to send on).
    s.handle(
        Instant::now(),
        id(MED),
        C::Move {
            participant: id(MED),
            room: RoomId::Main,
        },
    );
    s.disconnected(id(B));
    drain(&mut s);
    send_keys(&mut s, MED, RoomId::Main, 1, &[B]);
    assert!(keys_from(&drain(&mut s), B).is_empty());
}

#[test]
fn identities_are_shown_with_the_participant_and_dropped_with_the_connection() {
    let mut s = admitted();
    let identity = accord_sfu_core::protocol::E2eeIdentity {
        device_key: "ZGV2aWNl".into(),
        ecdh_key: "ZWNkaA".into(),
        signature: "c2ln".into(),
    };
    s.handle(
        Instant::now(),
        id(A),
        C::E2eeIdentity {
            device_key: identity.device_key.clone(),
            ecdh_key: identity.ecdh_key.clone(),
            signature: identity.signature.clone(),
        },
    );
    let out = drain(&mut s);
    assert!(
        !out.contains(&Output::RoutesChanged),
        "an identity changes no route"
    );
    for who in [MED, B, A] {
        let seen = sent_to(&out, who)
            .into_iter()
            .rev()
            .find_map(|m| match m {
                S::State { participants, .. } => participants.into_iter().find(|p| p.id == id(A)),
                _ => None,
            })
            .expect("a view shows A");
        assert_eq!(seen.e2ee.as_ref(), Some(&identity));
    }
    // The same identity again sends no views.
    s.handle(
        Instant::now(),
        id(A),
        C::E2eeIdentity {
            device_key: identity.device_key.clone(),
            ecdh_key: identity.ecdh_key.clone(),
            signature: identity.signature.clone(),
        },
    );
    assert!(drain(&mut s).is_empty());
    // A drop forgets it: the next connection has a new ECDH key.
    s.disconnected(id(A));
    let out = drain(&mut s);
    let seen = sent_to(&out, MED)
        .into_iter()
        .rev()
        .find_map(|m| match m {
            S::State { participants, .. } => participants.into_iter().find(|p| p.id == id(A)),
            _ => None,
        })
        .unwrap();
    assert!(seen.e2ee.is_none() && !seen.connected);
    let json = serde_json::to_string(&S::State {
        you: id(A),
        locked: false,
        hop_by_hop: false,
        rooms: vec![],
        participants: vec![seen],
    })
    .unwrap();
    assert!(!json.contains("e2ee"), "no identity, no field: {json}");
}

#[test]
fn another_node_takes_over_the_room_state_the_mediator_set() {
    // On the first node: A in a caucus, B muted in the main room, the
    // observer removed, the session locked.
    let mut s = admitted();
    s.join(id(OBS), SessionRole::Observer, &lobby()).unwrap();
    let room = caucus(&mut s, "Side");
    let now = Instant::now();
    s.handle(
        now,
        id(MED),
        C::Move {
            participant: id(A),
            room,
        },
    );
    s.handle(now, id(MED), C::Mute { participant: id(B) });
    s.handle(
        now,
        id(MED),
        C::Remove {
            participant: id(OBS),
        },
    );
    s.handle(now, id(MED), C::Lock { locked: true });
    s.handle(now, id(MED), C::SetTimer { room, seconds: 600 });
    drain(&mut s);
    let first = WallClock {
        at: now,
        unix_ms: 1_800_000_000_000,
    };
    let kept = s.room_state(first);
    assert_eq!(
        kept.timers,
        vec![KeptTimer {
            room,
            ends_at_ms: 1_800_000_600_000,
            warned: false
        }],
        "the caucus's timer, by when it ends on the wall clock"
    );
    // As the registry keeps it.
    let kept: accord_sfu_core::session::RoomState =
        serde_json::from_str(&serde_json::to_string(&kept).unwrap()).unwrap();

    // The node that takes the session over: the same rooms, everyone
    // disconnected until they come back.
    // Another process: another clock, five seconds later.
    let second = WallClock {
        at: Instant::now(),
        unix_ms: 1_800_000_005_000,
    };
    let mut t = LiveSession::new(7);
    t.restore(kept.clone(), second);
    assert_eq!(t.room_state(second), kept);
    assert_eq!(t.room_of(id(A)), Some(room));
    assert_eq!(t.room_of(id(B)), Some(RoomId::Main));
    assert!(t.members().iter().all(|m| !m.connected));
    assert!(!t.may_receive(id(B), id(MED)), "nobody is connected yet");
    // Coming back: each in their room, the caucus still isolated.
    for who in [MED, A, B] {
        let rooms = if who == MED { all() } else { lobby() };
        let role = if who == MED {
            SessionRole::Mediator
        } else {
            SessionRole::Party
        };
        t.join(id(who), role, &rooms).unwrap();
    }
    assert_eq!(t.room_of(id(A)), Some(room));
    assert!(t.may_receive(id(B), id(MED)));
    assert!(!t.may_receive(id(A), id(MED)));
    assert!(!t.may_receive_audio(id(MED), id(B)), "B is still muted");
    // The lock and the removal hold too.
    assert_eq!(
        t.join(id(OBS), SessionRole::Observer, &lobby()),
        Err(JoinRefused::Removed)
    );
    assert_eq!(
        t.join(id(99), SessionRole::Party, &lobby()),
        Err(JoinRefused::Locked)
    );
    // The timer ends when it would have on the first node: 595 s after
    // the takeover, not 600.
    drain(&mut t);
    let expired = |t: &mut LiveSession, after_ms: u64| {
        t.handle_timeout(second.at + Duration::from_millis(after_ms));
        sent_to(&drain(t), A)
            .iter()
            .any(|m| matches!(m, S::TimerExpired { room: r } if *r == room))
    };
    assert!(!expired(&mut t, 594_900), "not yet");
    assert!(expired(&mut t, 595_000), "ends on time");
    assert!(t.room_state(second).timers.is_empty());
    // A caucus made after the takeover gets an id of its own.
    let next = caucus(&mut t, "Other");
    assert_ne!(next, room);
}

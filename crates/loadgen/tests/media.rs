//! Bots against the real app: a mediator and two parties join a session,
//! the parties wait in the lobby (and receive nothing there), the mediator
//! admits them, and each bot then receives the others' tagged audio and video;
//! also with each party admitted the moment they knock; and caucus isolation
//! at the packet level while the mediator moves the parties around under load.
//! Each also with end-to-end encrypted media, where the isolation test checks
//! the keys too: after every move the moved party holds no key of the room it
//! left, those it left have new keys, and it holds no key its new room used
//! before it came.

use std::time::Duration;

use accord_domain::Role;
use accord_loadgen::protocol::{ClientMessage, RoomId, ServerMessage};
use accord_loadgen::{device, Bot, BotConfig, Messages, Report, Source};
use accord_testkit::{spawn_app_with, AppOptions, Client, TestApp};
use serde::Deserialize as _;
use serde_json::{json, Value};
use uuid::Uuid;

const JOIN: &str =
    "mutation($s: UUID!, $k: JSON!) { joinToken(sessionId: $s, deviceKey: $k) { token } }";

struct World {
    app: TestApp,
    mediator: Client,
    parties: [Client; 2],
    session: Uuid,
    org: accord_domain::OrgId,
}

fn text(v: &Value) -> anyhow::Result<String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("expected a string, got {v}"))
}

/// An org with a case mediated by `med@m.test` with two parties on it and
/// one scheduled session; everyone signed in.
async fn world() -> anyhow::Result<World> {
    world_with(AppOptions::default()).await
}

async fn world_with(options: AppOptions) -> anyhow::Result<World> {
    let app = spawn_app_with(options).await?;
    let org = app.org("mediaroom").await?;
    app.member(org, "admin@m.test", Role::OrgAdmin).await?;
    let mediator_id = app.member(org, "med@m.test", Role::Mediator).await?;
    app.member(org, "one@m.test", Role::Party).await?;
    app.member(org, "two@m.test", Role::Party).await?;
    let admin = app.sign_in("admin@m.test", None).await?;
    let case = text(
        &admin
            .ok(
                "mutation($m: UUID) { createCase(input: {reference: \"M-1\", title: \"Media\", mediatorId: $m}) { id } }",
                json!({ "m": mediator_id }),
            )
            .await?["createCase"]["id"],
    )?;
    for (name, email) in [("One", "one@m.test"), ("Two", "two@m.test")] {
        admin
            .ok(
                "mutation($c: UUID!, $n: String!, $e: String!) { addParty(input: {caseId: $c, kind: PARTY, displayName: $n, email: $e}) { id } }",
                json!({ "c": case, "n": name, "e": email }),
            )
            .await?;
    }
    let session = text(
        &admin
            .ok(
                "mutation($c: UUID!) { scheduleSession(input: {caseId: $c, startsAt: \"2031-01-01T10:00:00Z\", timeZone: \"UTC\", durationMinutes: 60}) { id } }",
                json!({ "c": case }),
            )
            .await?["scheduleSession"]["id"],
    )?;
    Ok(World {
        mediator: app.sign_in("med@m.test", None).await?,
        parties: [
            app.sign_in("one@m.test", None).await?,
            app.sign_in("two@m.test", None).await?,
        ],
        session: Uuid::parse_str(&session)?,
        org,
        app,
    })
}

/// Asks for a join token for a fresh device key and joins with it.
async fn join(w: &World, client: &Client) -> anyhow::Result<Bot> {
    join_with_log(w, client, 0).await
}

async fn join_with_log(w: &World, client: &Client, arrival_log: usize) -> anyhow::Result<Bot> {
    join_with(w, client, arrival_log, false).await
}

async fn join_with(
    w: &World,
    client: &Client,
    arrival_log: usize,
    e2ee: bool,
) -> anyhow::Result<Bot> {
    let key = device::generate();
    let data = client
        .ok(
            JOIN,
            json!({ "s": w.session, "k": device::jwk(key.verifying_key()) }),
        )
        .await?;
    let token = text(&data["joinToken"]["token"])?;
    let mut config = BotConfig::new(url::Url::parse(&format!("ws://{}", w.app.addr))?, w.session);
    config.video_kbps = 500;
    config.step_timeout = Duration::from_secs(15);
    config.arrival_log = arrival_log;
    config.e2ee = e2ee;
    Ok(Bot::join(config, token, key).await?)
}

/// Every server message a bot got, SDP and stats left out.
async fn summary(bot: &Bot) -> Vec<String> {
    let mut messages = bot.messages();
    let mut out = Vec::new();
    while let Ok(m) = messages.wait_for(Duration::from_millis(50), |_| true).await {
        match ServerMessage::deserialize(&m) {
            Ok(ServerMessage::Offer { .. }) => out.push("offer".to_owned()),
            Ok(ServerMessage::Answer { .. }) => out.push("answer".to_owned()),
            Ok(ServerMessage::Stats { .. } | ServerMessage::Speaker { .. }) => {}
            Ok(ServerMessage::State { participants, .. }) => {
                out.push(format!("state {participants:?}"))
            }
            _ => out.push(m.to_string()),
        }
    }
    out
}

/// Who knocks next on `messages` (a mediator's).
async fn next_knock(messages: &mut Messages) -> anyhow::Result<Uuid> {
    let knock = messages
        .wait_for_message(Duration::from_secs(15), |m| {
            matches!(m, ServerMessage::Knock { .. })
        })
        .await?;
    match knock {
        ServerMessage::Knock { participant } => Ok(participant),
        other => anyhow::bail!("expected a knock, got {other:?}"),
    }
}

fn received_everything(report: &Report, others: &[Uuid]) -> bool {
    others.iter().all(|&o| {
        report.packets_from(o, Source::Microphone) >= 25
            && report.packets_from(o, Source::Camera) >= 50
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admitted_parties_and_the_mediator_receive_each_others_media() -> anyhow::Result<()> {
    three_bots(Duration::from_millis(500), false).await
}

/// The same with end-to-end encrypted media: every frame sealed, every key
/// relayed by the SFU, everyone reads everyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_e2ee_admitted_parties_and_the_mediator_read_each_others_media() -> anyhow::Result<()>
{
    three_bots(Duration::from_millis(500), true).await
}

/// The mediator admits each party the moment they knock, which can be before
/// the party's offer reaches the SFU.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_admitted_before_its_offer_still_reaches_the_others() -> anyhow::Result<()> {
    three_bots(Duration::ZERO, false).await
}

/// A mediator and two parties; each party is admitted `admit_after` its knock.
async fn three_bots(admit_after: Duration, e2ee: bool) -> anyhow::Result<()> {
    let w = world().await?;
    let mediator = join_with(&w, &w.mediator, 0, e2ee).await?;
    mediator.connected(Duration::from_secs(10)).await?;
    let mut knocks = mediator.messages();

    let mut parties = Vec::new();
    for client in &w.parties {
        let party = if admit_after.is_zero() {
            // Admitted on the knock, while the party is still joining.
            let admit = async {
                let knock = next_knock(&mut knocks).await?;
                mediator
                    .send(&ClientMessage::Admit { participant: knock })
                    .await?;
                anyhow::Ok(knock)
            };
            let (party, knock) = tokio::join!(join_with(&w, client, 0, e2ee), admit);
            let (party, knock) = (party?, knock?);
            assert_eq!(knock, party.participant());
            party
        } else {
            // Joined (offer answered) in the lobby, where nothing flows.
            let party = join_with(&w, client, 0, e2ee).await?;
            let knock = next_knock(&mut knocks).await?;
            assert_eq!(knock, party.participant());
            party.connected(Duration::from_secs(10)).await?;
            tokio::time::sleep(admit_after).await;
            let early = party.report();
            assert!(
                early.streams.is_empty(),
                "media reached the lobby: {early:#?}"
            );
            mediator
                .send(&ClientMessage::Admit { participant: knock })
                .await?;
            party
        };
        party.connected(Duration::from_secs(10)).await?;
        parties.push(party);
    }

    let bots: Vec<&Bot> = std::iter::once(&mediator).chain(parties.iter()).collect();
    let ids: Vec<Uuid> = bots.iter().map(|b| b.participant()).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let reports: Vec<Report> = bots.iter().map(|b| b.report()).collect();
        let done = reports.iter().zip(&ids).all(|(r, me)| {
            let others: Vec<Uuid> = ids.iter().copied().filter(|o| o != me).collect();
            received_everything(r, &others)
        });
        if done {
            for (report, me) in reports.iter().zip(&ids) {
                assert_eq!(report.mislabeled_packets, 0, "{report:#?}");
                assert_eq!(report.renegotiation_errors, 0, "{report:#?}");
                assert!(
                    report.stream(*me, Source::Microphone).is_none(),
                    "echo of oneself"
                );
                for s in &report.streams {
                    assert!(s.loss() < 0.05, "{s:#?}");
                    // A generous bound: a debug build, with the other media
                    // tests running at once on two cores, is slow for
                    // every frame (fresh CI runs measured p99s of 505 ms
                    // with encryption on and 530 ms, at a p50 of 242 ms,
                    // without). `scripts/bench` measures the real latency.
                    assert!(s.latency_p99_ms < 1000.0, "{s:#?}");
                }
                let e = report.e2ee;
                if e2ee {
                    // Nothing in clear, nothing forged; what arrived before
                    // its key (a join's first frames) is all that is dropped.
                    assert_eq!((e.clear, e.forged, e.replayed), (0, 0, 0), "{e:#?}");
                    assert!(e.opened > 75 && e.keys_accepted >= 2, "{e:#?}");
                    assert_eq!(e.keys_refused, 0, "{e:#?}");
                    assert!(e.dropped() * 20 < e.opened, "{e:#?}");
                } else {
                    assert_eq!(e, accord_loadgen::E2eeReport::default());
                }
            }
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            let mut seen = Vec::new();
            for bot in &bots {
                seen.push((bot.participant(), summary(bot).await));
            }
            anyhow::bail!("media did not arrive: {reports:#?}\nmessages: {seen:#?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The node's totals saw the forwarding; the exposition names nobody.
    let metrics = reqwest::get(format!("http://{}/metrics", w.app.addr))
        .await?
        .text()
        .await?;
    let forwarded: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("accord_sfu_rtp_packets_forwarded_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(forwarded > 100, "{metrics}");
    assert!(
        metrics.contains("accord_sfu_peer_connections 3"),
        "{metrics}"
    );
    for id in &ids {
        assert!(!metrics.contains(&id.to_string()), "{metrics}");
    }
    for bot in parties {
        bot.close().await;
    }
    mediator.close().await;
    Ok(())
}

/// Rooms over time, with the uncertainty of each move: from the command's
/// sending to the mediator's confirming `state`, either room is possible.
#[derive(Debug, Default)]
struct Whereabouts {
    /// (command sent ns, confirmed ns, room before, room after)
    moves: Vec<(u64, u64, RoomId, RoomId)>,
}

impl Whereabouts {
    fn possible(&self, t: u64) -> Vec<RoomId> {
        let mut room = RoomId::Main;
        for &(sent, confirmed, before, after) in &self.moves {
            if t < sent {
                break;
            }
            if t <= confirmed {
                return vec![before, after];
            }
            room = after;
        }
        vec![room]
    }

    fn breakpoints(&self) -> impl Iterator<Item = u64> + '_ {
        self.moves.iter().flat_map(|(s, c, _, _)| [*s, *c + 1])
    }
}

/// Packet-level caucus isolation with real peers: the parties are moved
/// between two caucuses and the main room again and again while everyone
/// publishes; no packet may reach someone who could not have shared a room
/// with its sender at any instant between its sending and its arrival.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_packet_crosses_between_rooms_while_parties_are_moved() -> anyhow::Result<()> {
    moves(false).await
}

/// The same with end-to-end encrypted media, and the keys checked after
/// every move ([`keys_follow_the_move`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_e2ee_no_packet_or_key_crosses_between_rooms_while_parties_are_moved(
) -> anyhow::Result<()> {
    moves(true).await
}

/// What is wrong with the keys after `moved` went from `before` to its room
/// in `rooms` (everyone's room now), given everyone's sending key id before
/// the move (`generations`); empty once all is as it should be:
/// - the moved party holds no key of anyone outside its new room, and no one
///   there holds one of its keys;
/// - everyone it left has a new key, it too;
/// - in its new room it holds each member's current key and none they used
///   before it came, and they hold its current key.
fn keys_follow_the_move(
    bots: &[&Bot],
    rooms: &std::collections::HashMap<Uuid, RoomId>,
    moved: Uuid,
    before: RoomId,
    generations: &std::collections::HashMap<Uuid, Option<u64>>,
) -> Vec<String> {
    let mut wrong = Vec::new();
    let room = |id: Uuid| rooms.get(&id).copied().unwrap_or(RoomId::Main);
    let Some(p) = bots.iter().find(|b| b.participant() == moved) else {
        return vec![format!("no bot {moved}")];
    };
    let held_p = p.e2ee_keys_held();
    let now = |b: &Bot| b.e2ee_send_generation();
    let was = |id: Uuid| generations.get(&id).copied().flatten();
    if now(p) <= was(moved) {
        wrong.push(format!("the moved party kept key {:?}", now(p)));
    }
    for q in bots.iter().filter(|b| b.participant() != moved) {
        let id = q.participant();
        let held_q = q.e2ee_keys_held();
        if room(id) != room(moved) {
            if let Some(kids) = held_p.get(&id) {
                wrong.push(format!(
                    "the moved party holds keys {kids:?} of {id} (elsewhere)"
                ));
            }
            if let Some(kids) = held_q.get(&moved) {
                wrong.push(format!(
                    "{id} (elsewhere) holds keys {kids:?} of the moved party"
                ));
            }
            if room(id) == before && now(q) <= was(id) {
                wrong.push(format!(
                    "{id}, left behind, still sends with key {:?}",
                    now(q)
                ));
            }
            continue;
        }
        let kids = held_p.get(&id).cloned().unwrap_or_default();
        match now(q) {
            Some(current) if kids.contains(&current) => {}
            other => wrong.push(format!(
                "the moved party holds {kids:?} of {id}, not its current key {other:?}"
            )),
        }
        if let Some(old) = kids.iter().find(|k| Some(**k) <= was(id)) {
            wrong.push(format!(
                "the moved party holds key {old} that {id} used before it came"
            ));
        }
        let theirs = held_q.get(&moved).cloned().unwrap_or_default();
        if !now(p).is_some_and(|g| theirs.contains(&g)) {
            wrong.push(format!(
                "{id} holds {theirs:?} of the moved party, not its current key {:?}",
                now(p)
            ));
        }
    }
    wrong
}

async fn moves(e2ee: bool) -> anyhow::Result<()> {
    let w = world().await?;
    let mediator = join_with(&w, &w.mediator, 200_000, e2ee).await?;
    mediator.connected(Duration::from_secs(10)).await?;
    let mut knocks = mediator.messages();
    let mut parties = Vec::new();
    for client in &w.parties {
        let party = join_with(&w, client, 200_000, e2ee).await?;
        let knock = next_knock(&mut knocks).await?;
        mediator
            .send(&ClientMessage::Admit { participant: knock })
            .await?;
        party.connected(Duration::from_secs(10)).await?;
        parties.push(party);
    }
    let mut states = mediator.messages();
    for name in ["A", "B"] {
        mediator
            .send(&ClientMessage::CreateCaucus { name: name.into() })
            .await?;
    }
    let state = states
        .wait_for_message(
            Duration::from_secs(10),
            |m| matches!(m, ServerMessage::State { rooms, .. } if rooms.len() >= 4),
        )
        .await?;
    let ServerMessage::State { rooms, .. } = state else {
        anyhow::bail!("expected a state, got {state:?}");
    };
    let caucuses: Vec<RoomId> = rooms
        .iter()
        .map(|r| r.id)
        .filter(|id| matches!(id, RoomId::Caucus(_)))
        .collect();
    assert_eq!(caucuses.len(), 2);
    // Everyone hears everyone before the moves start.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let ids: Vec<Uuid> = parties.iter().map(Bot::participant).collect();
    let mut whereabouts: std::collections::HashMap<Uuid, Whereabouts> =
        ids.iter().map(|id| (*id, Whereabouts::default())).collect();
    let mut current: std::collections::HashMap<Uuid, RoomId> =
        ids.iter().map(|id| (*id, RoomId::Main)).collect();
    let plan = [
        (0, caucuses[0]),
        (1, caucuses[1]),
        (0, caucuses[1]),
        (1, RoomId::Main),
        (0, RoomId::Main),
        (1, caucuses[0]),
        (0, caucuses[0]),
        (1, caucuses[1]),
        (0, RoomId::Main),
        (1, caucuses[0]),
    ];
    let everyone: Vec<&Bot> = std::iter::once(&mediator).chain(parties.iter()).collect();
    let mut key_checks = 0usize;
    for (step, &(who, room)) in plan.iter().enumerate() {
        let id = ids[who];
        let generations: std::collections::HashMap<Uuid, Option<u64>> = everyone
            .iter()
            .map(|b| (b.participant(), b.e2ee_send_generation()))
            .collect();
        // Only states after the command count: an older one may show the
        // party in that room already (from an earlier move).
        let mut confirmations = mediator.messages_from_now();
        let sent = accord_loadgen::tag::now_ns();
        mediator
            .send(&ClientMessage::Move {
                participant: id,
                room,
            })
            .await?;
        confirmations
            .wait_for_message(Duration::from_secs(10), |m| {
                matches!(m, ServerMessage::State { participants, .. }
                    if participants.iter().any(|p| p.id == id && p.room == room))
            })
            .await?;
        let confirmed = accord_loadgen::tag::now_ns();
        let before = current.insert(id, room).unwrap_or(RoomId::Main);
        if let Some(w) = whereabouts.get_mut(&id) {
            w.moves.push((sent, confirmed, before, room));
        }
        if e2ee {
            // The keys follow within moments (a state, then a key message, each way).
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                let wrong = keys_follow_the_move(&everyone, &current, id, before, &generations);
                if wrong.is_empty() {
                    key_checks += 1;
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    anyhow::bail!("move {step} ({id} to {room:?}): {wrong:#?}");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(250 + 97 * step as u64)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mediator_id = mediator.participant();
    let main_only = Whereabouts::default();
    let place = |id: Uuid| whereabouts.get(&id).unwrap_or(&main_only);
    let bots: Vec<&Bot> = std::iter::once(&mediator).chain(parties.iter()).collect();
    let mut checked = 0usize;
    let mut crossings = Vec::new();
    for bot in &bots {
        let me = bot.participant();
        for a in bot.arrivals() {
            let (from, to) = (a.sent_ns, a.arrived_ns.max(a.sent_ns));
            let instants: Vec<u64> = std::iter::once(from)
                .chain(place(me).breakpoints().chain(place(a.sender).breakpoints()))
                .filter(|t| *t >= from && *t <= to)
                .collect();
            let together = instants.iter().any(|t| {
                let mine = place(me).possible(*t);
                place(a.sender)
                    .possible(*t)
                    .iter()
                    .any(|r| mine.contains(r))
            });
            if !together {
                crossings.push((me == mediator_id, me, a.sender, a.source, a.sent_ns));
            }
            checked += 1;
        }
    }
    assert!(
        crossings.is_empty(),
        "packets crossed rooms: {crossings:#?}"
    );
    assert!(checked > 2_000, "only {checked} packets were checked");
    if e2ee {
        assert_eq!(key_checks, plan.len());
        for bot in &bots {
            let e = bot.report().e2ee;
            assert_eq!(
                (e.clear, e.forged, e.replayed, e.keys_refused),
                (0, 0, 0, 0),
                "{e:#?}"
            );
            assert!(e.opened > 200, "{e:#?}");
        }
    }
    drop(everyone);
    for bot in parties {
        bot.close().await;
    }
    mediator.close().await;
    Ok(())
}

/// The rooms (kind and name) of a state message; none for other messages.
fn rooms_of(message: &ServerMessage) -> Vec<String> {
    let ServerMessage::State { rooms, .. } = message else {
        return Vec::new();
    };
    rooms
        .iter()
        .map(|r| {
            let kind = match r.id {
                RoomId::Lobby => "lobby",
                RoomId::Main => "main",
                RoomId::Caucus(_) => "caucus",
            };
            format!("{kind}:{}", r.name)
        })
        .collect()
}

fn is_state(message: &ServerMessage) -> bool {
    matches!(message, ServerMessage::State { .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_session_ends_after_its_last_participant_is_gone_and_the_next_join_starts_afresh(
) -> anyhow::Result<()> {
    let idle_end = Duration::from_secs(1);
    let w = world_with(AppOptions {
        live_session_idle_end: idle_end,
        ..AppOptions::default()
    })
    .await?;
    let mediator = join(&w, &w.mediator).await?;
    let mut states = mediator.messages();
    mediator
        .send(&ClientMessage::CreateCaucus {
            name: "Claimant caucus".into(),
        })
        .await?;
    let state = states
        .wait_for_message(Duration::from_secs(10), |m| {
            rooms_of(m).iter().any(|r| r.starts_with("caucus:"))
        })
        .await?;
    assert!(rooms_of(&state).contains(&"caucus:Claimant caucus".to_owned()));
    mediator.close().await;

    // Back within the reconnection grace and the idle time: the same live
    // session, caucus and all.
    let back = join(&w, &w.mediator).await?;
    let state = back
        .messages()
        .wait_for_message(Duration::from_secs(10), is_state)
        .await?;
    assert!(
        rooms_of(&state).contains(&"caucus:Claimant caucus".to_owned()),
        "{:?}",
        rooms_of(&state)
    );
    back.close().await;

    // Gone for the grace and the idle time: the next join finds a fresh
    // live session (main room and lobby only).
    // (The reconnection grace is ten seconds: `RECONNECT_GRACE`.)
    tokio::time::sleep(Duration::from_secs(10) + idle_end + Duration::from_secs(1)).await;
    let fresh = join(&w, &w.mediator).await?;
    let state = fresh
        .messages()
        .wait_for_message(Duration::from_secs(10), is_state)
        .await?;
    assert!(
        rooms_of(&state).iter().all(|r| !r.starts_with("caucus:")),
        "caucuses outlived the live session: {:?}",
        rooms_of(&state)
    );
    // And it works: a party knocks and is admitted into it.
    let mut knocks = fresh.messages();
    let party = join(&w, &w.parties[0]).await?;
    let knock = next_knock(&mut knocks).await?;
    fresh
        .send(&ClientMessage::Admit { participant: knock })
        .await?;
    party.connected(Duration::from_secs(15)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_a_session_is_held_is_recorded_for_its_invoice() -> anyhow::Result<()> {
    let idle_end = Duration::from_secs(1);
    let w = world_with(AppOptions {
        live_session_idle_end: idle_end,
        ..AppOptions::default()
    })
    .await?;
    let mediator = join(&w, &w.mediator).await?;
    let mut knocks = mediator.messages();
    let party = join(&w, &w.parties[0]).await?;
    let knock = next_knock(&mut knocks).await?;
    // Waiting in the lobby is not holding the session.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let admitted = std::time::Instant::now();
    mediator
        .send(&ClientMessage::Admit { participant: knock })
        .await?;
    party.connected(Duration::from_secs(15)).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    party.close().await;
    let held_for = admitted.elapsed().as_secs_f64();
    // The mediator alone is not holding it either.
    tokio::time::sleep(Duration::from_secs(2)).await;
    mediator.close().await;

    // Recorded when the live session ends (the reconnection grace of ten
    // seconds, then the idle time), with `session.held` in the audit log.
    let admin = w.app.db.admin.pool();
    let mut record: Option<(f64, bool)> = None;
    for _ in 0..60 {
        record = sqlx::query_as(
            "SELECT extract(epoch FROM ended_at - started_at)::float8, recorded_by IS NULL \
             FROM held_sessions WHERE session_id = $1",
        )
        .bind(w.session)
        .fetch_optional(admin)
        .await?;
        if record.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (seconds, by_the_sfu) = record.ok_or_else(|| anyhow::anyhow!("no held time recorded"))?;
    assert!(by_the_sfu);
    assert!(
        (2.0..=held_for + 1.0).contains(&seconds),
        "held {seconds} s, the party was in for {held_for:.1} s"
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE action = 'session.held' AND target_id = $1 AND actor_user_id IS NULL",
    )
    .bind(w.session)
    .fetch_one(admin)
    .await?;
    assert_eq!(audited, 1);

    // A record staff make by hand stands: a later run does not change it.
    let start = chrono::Utc::now() - chrono::Duration::hours(2);
    w.mediator
        .ok(
            "mutation($s: UUID!, $a: DateTime!, $b: DateTime!) { recordSessionHeld(sessionId: $s, startedAt: $a, endedAt: $b) { minutes } }",
            json!({ "s": w.session, "a": start, "b": start + chrono::Duration::minutes(90) }),
        )
        .await?;
    let mut tx = w.app.db.admin.system_tenant(w.org, None).await?;
    let changed = accord_db::fees::add_held_live(
        &mut tx,
        accord_domain::SessionId::from_uuid(w.session),
        chrono::Utc::now(),
        600,
    )
    .await?;
    tx.commit().await?;
    assert!(!changed);
    Ok(())
}

/// A participant whose browser cannot encrypt joins with `endToEnd: false`
/// (the org allows it): everyone is told the session runs hop by hop only,
/// and media flows in clear between everyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_without_end_to_end_encryption_turns_the_session_hop_by_hop_for_everyone(
) -> anyhow::Result<()> {
    let w = world().await?;
    let admin = w.app.sign_in("admin@m.test", None).await?;
    admin
        .ok("mutation { setHopByHopAllowed(allowed: true) }", json!({}))
        .await?;
    let mediator = join_with(&w, &w.mediator, 0, false).await?;
    let mut knocks = mediator.messages();
    let mut states = mediator.messages();
    // Party one's token says their media is in clear.
    let key = device::generate();
    let data = w.parties[0]
        .ok(
            "mutation($s: UUID!, $k: JSON!) { joinToken(sessionId: $s, deviceKey: $k, endToEnd: false) { token } }",
            json!({ "s": w.session, "k": device::jwk(key.verifying_key()) }),
        )
        .await?;
    let token = text(&data["joinToken"]["token"])?;
    let mut config = BotConfig::new(url::Url::parse(&format!("ws://{}", w.app.addr))?, w.session);
    config.video_kbps = 500;
    config.step_timeout = Duration::from_secs(15);
    let clear = Bot::join(config, token, key).await?;
    let knock = next_knock(&mut knocks).await?;
    mediator
        .send(&ClientMessage::Admit { participant: knock })
        .await?;
    clear.connected(Duration::from_secs(15)).await?;
    let hop = |m: &ServerMessage| {
        matches!(
            m,
            ServerMessage::State {
                hop_by_hop: true,
                ..
            }
        )
    };
    states
        .wait_for_message(Duration::from_secs(10), hop)
        .await?;
    clear
        .messages()
        .wait_for_message(Duration::from_secs(10), hop)
        .await?;
    // The other party, end to end as usual, is told too on arrival.
    let other = join_with(&w, &w.parties[1], 0, false).await?;
    let knock = next_knock(&mut knocks).await?;
    mediator
        .send(&ClientMessage::Admit { participant: knock })
        .await?;
    other.connected(Duration::from_secs(15)).await?;
    other
        .messages()
        .wait_for_message(Duration::from_secs(10), hop)
        .await?;
    // Media in clear reaches everyone.
    let ids = [
        mediator.participant(),
        clear.participant(),
        other.participant(),
    ];
    let mut ok = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        ok = [&mediator, &clear, &other]
            .iter()
            .enumerate()
            .all(|(i, bot)| {
                let others: Vec<Uuid> = ids
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, id)| *id)
                    .collect();
                received_everything(&bot.report(), &others)
            });
        if ok {
            break;
        }
    }
    assert!(ok, "media did not reach everyone in clear");
    Ok(())
}

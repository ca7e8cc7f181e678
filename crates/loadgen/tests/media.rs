//! Bots against the real app: a mediator and two parties join a session,
//! the parties wait in the lobby (and receive nothing there), the mediator
//! admits them, and each bot then receives the others' tagged audio and video;
//! also with each party admitted the moment they knock; and caucus isolation
//! at the packet level while the mediator moves the parties around under load.

use std::time::Duration;

use accord_domain::Role;
use accord_loadgen::{device, Bot, BotConfig, Report, Source};
use accord_testkit::{spawn_app_with, AppOptions, Client, TestApp};
use serde_json::{json, Value};
use uuid::Uuid;

const JOIN: &str =
    "mutation($s: UUID!, $k: JSON!) { joinToken(sessionId: $s, deviceKey: $k) { token } }";

struct World {
    app: TestApp,
    mediator: Client,
    parties: [Client; 2],
    session: Uuid,
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
        app,
    })
}

/// Asks for a join token for a fresh device key and joins with it.
async fn join(w: &World, client: &Client) -> anyhow::Result<Bot> {
    join_with_log(w, client, 0).await
}

async fn join_with_log(w: &World, client: &Client, arrival_log: usize) -> anyhow::Result<Bot> {
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
    Ok(Bot::join(config, token, key).await?)
}

/// Every server message a bot got, SDP and stats left out.
async fn summary(bot: &Bot) -> Vec<String> {
    let mut messages = bot.messages();
    let mut out = Vec::new();
    while let Ok(m) = messages.wait_for(Duration::from_millis(50), |_| true).await {
        match m["type"].as_str() {
            Some("offer") | Some("answer") => out.push(m["type"].to_string()),
            Some("stats") | Some("speaker") => {}
            Some("state") => out.push(format!("state {}", m["participants"])),
            _ => out.push(m.to_string()),
        }
    }
    out
}

fn received_everything(report: &Report, others: &[Uuid]) -> bool {
    others.iter().all(|&o| {
        report.packets_from(o, Source::Microphone) >= 25
            && report.packets_from(o, Source::Camera) >= 50
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admitted_parties_and_the_mediator_receive_each_others_media() -> anyhow::Result<()> {
    three_bots(Duration::from_millis(500)).await
}

/// The mediator admits each party the moment they knock, which can be before
/// the party's offer reaches the SFU.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_admitted_before_its_offer_still_reaches_the_others() -> anyhow::Result<()> {
    three_bots(Duration::ZERO).await
}

/// A mediator and two parties; each party is admitted `admit_after` its knock.
async fn three_bots(admit_after: Duration) -> anyhow::Result<()> {
    let w = world().await?;
    let mediator = join(&w, &w.mediator).await?;
    mediator.connected(Duration::from_secs(10)).await?;
    let mut knocks = mediator.messages();

    let mut parties = Vec::new();
    for client in &w.parties {
        let party = if admit_after.is_zero() {
            // Admitted on the knock, while the party is still joining.
            let admit = async {
                let knock = knocks
                    .next_of_type("knock", Duration::from_secs(15))
                    .await?;
                mediator
                    .send(&json!({ "type": "admit", "participant": knock["participant"] }))
                    .await?;
                anyhow::Ok(knock)
            };
            let (party, knock) = tokio::join!(join(&w, client), admit);
            let (party, knock) = (party?, knock?);
            assert_eq!(knock["participant"], party.participant().to_string());
            party
        } else {
            // Joined (offer answered) in the lobby, where nothing flows.
            let party = join(&w, client).await?;
            let knock = knocks
                .next_of_type("knock", Duration::from_secs(15))
                .await?;
            assert_eq!(knock["participant"], party.participant().to_string());
            party.connected(Duration::from_secs(10)).await?;
            tokio::time::sleep(admit_after).await;
            let early = party.report();
            assert!(
                early.streams.is_empty(),
                "media reached the lobby: {early:#?}"
            );
            mediator
                .send(&json!({ "type": "admit", "participant": knock["participant"] }))
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
                    assert!(s.latency_p99_ms < 500.0, "{s:#?}");
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
    moves: Vec<(u64, u64, String, String)>,
}

impl Whereabouts {
    fn possible(&self, t: u64) -> Vec<String> {
        let mut room = "main".to_owned();
        for (sent, confirmed, before, after) in &self.moves {
            if t < *sent {
                break;
            }
            if t <= *confirmed {
                return vec![before.clone(), after.clone()];
            }
            room = after.clone();
        }
        vec![room]
    }

    fn breakpoints(&self) -> impl Iterator<Item = u64> + '_ {
        self.moves.iter().flat_map(|(s, c, _, _)| [*s, *c + 1])
    }
}

fn room_key(room: &Value) -> String {
    match room["kind"].as_str() {
        Some("caucus") => format!("caucus:{}", room["id"].as_str().unwrap_or("")),
        Some(k) => k.to_owned(),
        None => room.to_string(),
    }
}

/// Packet-level caucus isolation with real peers: the parties are moved
/// between two caucuses and the main room again and again while everyone
/// publishes; no packet may reach someone who could not have shared a room
/// with its sender at any instant between its sending and its arrival.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_packet_crosses_between_rooms_while_parties_are_moved() -> anyhow::Result<()> {
    let w = world().await?;
    let mediator = join_with_log(&w, &w.mediator, 200_000).await?;
    mediator.connected(Duration::from_secs(10)).await?;
    let mut knocks = mediator.messages();
    let mut parties = Vec::new();
    for client in &w.parties {
        let party = join_with_log(&w, client, 200_000).await?;
        let knock = knocks
            .next_of_type("knock", Duration::from_secs(15))
            .await?;
        mediator
            .send(&json!({ "type": "admit", "participant": knock["participant"] }))
            .await?;
        party.connected(Duration::from_secs(10)).await?;
        parties.push(party);
    }
    let mut states = mediator.messages();
    for name in ["A", "B"] {
        mediator
            .send(&json!({ "type": "createCaucus", "name": name }))
            .await?;
    }
    let state = states
        .wait_for(Duration::from_secs(10), |m| {
            m["type"] == "state" && m["rooms"].as_array().is_some_and(|r| r.len() >= 4)
        })
        .await?;
    let caucuses: Vec<Value> = state["rooms"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["id"]["kind"] == "caucus")
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(caucuses.len(), 2);
    // Everyone hears everyone before the moves start.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let ids: Vec<Uuid> = parties.iter().map(Bot::participant).collect();
    let mut whereabouts: std::collections::HashMap<Uuid, Whereabouts> =
        ids.iter().map(|id| (*id, Whereabouts::default())).collect();
    let mut current: std::collections::HashMap<Uuid, String> =
        ids.iter().map(|id| (*id, "main".to_owned())).collect();
    let plan = [
        (0, caucuses[0].clone()),
        (1, caucuses[1].clone()),
        (0, caucuses[1].clone()),
        (1, json!({"kind": "main"})),
        (0, json!({"kind": "main"})),
        (1, caucuses[0].clone()),
        (0, caucuses[0].clone()),
        (1, caucuses[1].clone()),
        (0, json!({"kind": "main"})),
        (1, caucuses[0].clone()),
    ];
    for (step, (who, room)) in plan.iter().enumerate() {
        let id = ids[*who];
        // Only states after the command count: an older one may show the
        // party in that room already (from an earlier move).
        let mut confirmations = mediator.messages_from_now();
        let sent = accord_loadgen::tag::now_ns();
        mediator
            .send(&json!({ "type": "move", "participant": id, "room": room }))
            .await?;
        let key = room_key(room);
        confirmations
            .wait_for(Duration::from_secs(10), |m| {
                m["type"] == "state"
                    && m["participants"].as_array().is_some_and(|ps| {
                        ps.iter()
                            .any(|p| p["id"] == id.to_string() && room_key(&p["room"]) == key)
                    })
            })
            .await?;
        let confirmed = accord_loadgen::tag::now_ns();
        let before = current.insert(id, key.clone()).unwrap_or_default();
        if let Some(w) = whereabouts.get_mut(&id) {
            w.moves.push((sent, confirmed, before, key));
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
    for bot in parties {
        bot.close().await;
    }
    mediator.close().await;
    Ok(())
}

/// The rooms (kind and name) of a state message.
fn rooms_of(state: &Value) -> Vec<String> {
    state["rooms"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            format!(
                "{}:{}",
                r["id"]["kind"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or("")
            )
        })
        .collect()
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
        .send(&json!({ "type": "createCaucus", "name": "Claimant caucus" }))
        .await?;
    let state = states
        .wait_for(Duration::from_secs(10), |m| {
            m["type"] == "state" && rooms_of(m).iter().any(|r| r.starts_with("caucus:"))
        })
        .await?;
    assert!(rooms_of(&state).contains(&"caucus:Claimant caucus".to_owned()));
    mediator.close().await;

    // Back within the reconnection grace and the idle time: the same live
    // session, caucus and all.
    let back = join(&w, &w.mediator).await?;
    let state = back
        .messages()
        .wait_for(Duration::from_secs(10), |m| m["type"] == "state")
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
        .wait_for(Duration::from_secs(10), |m| m["type"] == "state")
        .await?;
    assert!(
        rooms_of(&state).iter().all(|r| !r.starts_with("caucus:")),
        "caucuses outlived the live session: {:?}",
        rooms_of(&state)
    );
    // And it works: a party knocks and is admitted into it.
    let mut knocks = fresh.messages();
    let party = join(&w, &w.parties[0]).await?;
    let knock = knocks
        .next_of_type("knock", Duration::from_secs(15))
        .await?;
    fresh
        .send(&json!({ "type": "admit", "participant": knock["participant"] }))
        .await?;
    party.connected(Duration::from_secs(15)).await?;
    Ok(())
}

//! Bots against the real app: a mediator and two parties join a session,
//! the parties wait in the lobby (and receive nothing there), the mediator
//! admits them, and each bot then receives the others' tagged audio and video;
//! also with each party admitted the moment they knock.
//!
//! IGNORED until the SFU's media path (str0m, RTP forwarding) lands: without
//! it the server never answers the bots' offers. Run it with
//! `cargo test -p accord-loadgen --test media -- --ignored`.

use std::time::Duration;

use accord_domain::Role;
use accord_loadgen::{device, Bot, BotConfig, Report, Source};
use accord_testkit::{spawn_app, Client, TestApp};
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
    let app = spawn_app().await?;
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
    for bot in parties {
        bot.close().await;
    }
    mediator.close().await;
    Ok(())
}

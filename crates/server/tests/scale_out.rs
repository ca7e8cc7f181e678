//! Several SFU nodes behind one API, meeting in Redis: one `accord serve
//! --only api` and two `accord serve --only sfu` processes on one database
//! and one Redis (a fresh key prefix per test). Two live sessions are placed
//! on different nodes; the node running the first is killed mid-session and
//! its participants (bots, reconnecting as clients do: a new join token, the
//! node it names) are back on the other node within 10 s, in the rooms the
//! mediator set; a party alone in a caucus receives nothing from the main
//! room before the kill and after it, and the caucus's timer runs on.
//!
//! Redis: `ACCORD_TEST_REDIS_URL`, else `redis://127.0.0.1:6379`.

mod common;

use std::time::{Duration, Instant};

use accord_domain::Role;
use accord_loadgen::protocol::{ClientMessage, RoomId, ServerMessage};
use accord_loadgen::{device, Bot, BotConfig, Source};
use accord_testkit::{spawn_app, Client, TestApp, PASSWORD};
use common::{Accord, Running};
use p256::ecdsa::SigningKey;
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::{json, Value};
use uuid::Uuid;

const JOIN: &str =
    "mutation($s: UUID!, $k: JSON!) { joinToken(sessionId: $s, deviceKey: $k) { token url } }";

fn text(v: &Value) -> anyhow::Result<String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("expected a string, got {v}"))
}

/// Starts `accord serve --only <only>` on a free port (another if that one
/// is taken before the server binds it); its base URL.
async fn serve(
    app: &TestApp,
    dir: &std::path::Path,
    only: &str,
    public: &str,
    keys: &str,
    redis: &str,
    prefix: &str,
) -> anyhow::Result<(Running, String)> {
    let server = Accord::new(app, dir)
        .args(&["serve", "--only", only])
        .start(|port| {
            // Every process names the deployment's address (the join
            // tokens' issuer); each node its own signaling URL.
            format!(
                "[http]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"{public}\"\n\n\
                 [sfu]\nudp_bind = \"127.0.0.1:0\"\ntcp_bind = \"127.0.0.1:0\"\n\
                 signaling_url = \"ws://127.0.0.1:{port}/sfu/ws\"\n\n\
                 [redis]\nurl = \"{redis}\"\nkey_prefix = \"{prefix}\"\n\n{keys}"
            )
        })
        .await?;
    Ok((server.process, server.base))
}

/// Signs in at the API process (web sessions live in the shared database).
async fn sign_in(app: &TestApp, api: &str, email: &str) -> anyhow::Result<Client> {
    let mut client = app.client();
    client.base_url = api.to_owned();
    let (status, body) = client
        .post_json(
            "/auth/sign-in",
            &json!({ "email": email, "password": PASSWORD }),
        )
        .await?;
    anyhow::ensure!(status == 200, "sign-in of {email}: {status} {body}");
    client.csrf = body["csrfToken"].as_str().map(str::to_owned);
    Ok(client)
}

/// Asks the API for a join token and the node's signaling URL.
async fn token(
    client: &Client,
    session: Uuid,
    key: &SigningKey,
) -> anyhow::Result<(String, String)> {
    let data = client
        .ok(
            JOIN,
            json!({ "s": session, "k": device::jwk(key.verifying_key()) }),
        )
        .await?;
    Ok((
        text(&data["joinToken"]["token"])?,
        text(&data["joinToken"]["url"])?,
    ))
}

fn bot_config(url: &str, session: Uuid) -> anyhow::Result<BotConfig> {
    let parsed = url::Url::parse(url)?;
    anyhow::ensure!(
        parsed.path() == "/sfu/ws" && parsed.query() == Some(&format!("session={session}")),
        "a signaling URL for the session: {url}"
    );
    let mut base = parsed.clone();
    base.set_path("/");
    base.set_query(None);
    let mut config = BotConfig::new(base, session);
    config.video_kbps = 300;
    config.step_timeout = Duration::from_secs(10);
    Ok(config)
}

/// Joins as a client does: a join token, then the node it names; the URL joined.
async fn join(client: &Client, session: Uuid) -> anyhow::Result<(Bot, String)> {
    let key = device::generate();
    let (token, url) = token(client, session, &key).await?;
    let bot = Bot::join(bot_config(&url, session)?, token, key).await?;
    Ok((bot, url))
}

/// Reconnects as the session client does after a drop: tries again at once,
/// then after 250 ms, 500 ms, 1 s, … until `deadline`.
async fn rejoin(
    client: &Client,
    session: Uuid,
    deadline: Instant,
) -> anyhow::Result<(Bot, String)> {
    let mut delays = [0u64, 250, 500, 1000]
        .into_iter()
        .chain(std::iter::repeat(1000));
    loop {
        match join(client, session).await {
            Ok(joined) => return Ok(joined),
            Err(e) if Instant::now() < deadline => {
                tracing_or_print(&format!("rejoin: {e:#}"));
                let delay = delays.next().unwrap_or(1000);
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            Err(e) => return Err(e.context("not back before the deadline")),
        }
    }
}

fn tracing_or_print(line: &str) {
    eprintln!("{line}");
}

/// The node (its HTTP base URL) a signaling URL names.
fn node(url: &str) -> String {
    url.split("/sfu/ws")
        .next()
        .unwrap_or(url)
        .replacen("ws://", "http://", 1)
}

/// Waits until `bot` has a `state` where `check` holds; that state.
async fn state_where(
    bot: &Bot,
    check: impl Fn(&ServerMessage) -> bool,
) -> anyhow::Result<ServerMessage> {
    Ok(bot
        .messages()
        .wait_for_message(Duration::from_secs(10), |m| {
            matches!(m, ServerMessage::State { .. }) && check(m)
        })
        .await?)
}

fn room_of(state: &ServerMessage, who: Uuid) -> Option<RoomId> {
    match state {
        ServerMessage::State { participants, .. } => {
            participants.iter().find(|p| p.id == who).map(|p| p.room)
        }
        _ => None,
    }
}

fn caucus_named(state: &ServerMessage, name: &str) -> Option<RoomId> {
    match state {
        ServerMessage::State { rooms, .. } => rooms
            .iter()
            .find(|r| matches!(r.id, RoomId::Caucus(_)) && r.name == name)
            .map(|r| r.id),
        _ => None,
    }
}

/// Milliseconds left on `room`'s timer in `state`.
fn timer_of(state: &ServerMessage, room: RoomId) -> Option<u64> {
    match state {
        ServerMessage::State { rooms, .. } => rooms
            .iter()
            .find(|r| r.id == room)
            .and_then(|r| r.timer_remaining_ms),
        _ => None,
    }
}

/// Packets `bot` got from `sender`, audio and camera.
fn packets(bot: &Bot, sender: Uuid) -> u64 {
    let report = bot.report();
    report.packets_from(sender, Source::Microphone) + report.packets_from(sender, Source::Camera)
}

/// Caucus isolation, checked over two seconds of media (after half a
/// second for packets already in flight): the party in the caucus gets
/// nothing from the main room; the party in the main room gets the
/// mediator's media.
async fn isolated(mediator: &Bot, in_caucus: &Bot, in_main: &Bot) -> anyhow::Result<()> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counts = || {
        (
            packets(in_caucus, mediator.participant()),
            packets(in_caucus, in_main.participant()),
            packets(in_main, mediator.participant()),
        )
    };
    let before = counts();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = counts();
    assert_eq!(after.0, before.0, "the caucus got the mediator's media");
    assert_eq!(after.1, before.1, "the caucus got the main room's media");
    assert!(
        after.2 > before.2 + 20,
        "the main room carries media: {before:?} {after:?}"
    );
    Ok(())
}

/// The org's live sessions as `client` sees them through the API, once
/// `until` holds (within ten seconds).
async fn live_until(
    client: &Client,
    until: impl Fn(&[Value]) -> bool,
) -> anyhow::Result<Vec<Value>> {
    let started = Instant::now();
    loop {
        let data = client
            .ok(
                "{ liveSessions { sessionId participants { userId room roomKind } lobby { userId } } }",
                json!({}),
            )
            .await?;
        let live = data["liveSessions"].as_array().cloned().unwrap_or_default();
        if until(&live) {
            return Ok(live);
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(10),
            "the API's overview never showed it: {live:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_spread_over_two_nodes_and_survive_losing_one() -> anyhow::Result<()> {
    let redis_url = std::env::var("ACCORD_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("accord-test-{}", Uuid::new_v4().simple());

    // An org, a case mediated by med@ with two parties, two sessions.
    let app = spawn_app().await?;
    let org = app.org("scale").await?;
    app.member(org, "admin@s.test", Role::OrgAdmin).await?;
    let mediator_id = app.member(org, "med@s.test", Role::Mediator).await?;
    app.member(org, "one@s.test", Role::Party).await?;
    app.member(org, "two@s.test", Role::Party).await?;
    let admin = app.sign_in("admin@s.test", None).await?;
    let case = text(
        &admin
            .ok(
                "mutation($m: UUID) { createCase(input: {reference: \"S-1\", title: \"Scale\", mediatorId: $m}) { id } }",
                json!({ "m": mediator_id }),
            )
            .await?["createCase"]["id"],
    )?;
    for (name, email) in [("One", "one@s.test"), ("Two", "two@s.test")] {
        admin
            .ok(
                "mutation($c: UUID!, $n: String!, $e: String!) { addParty(input: {caseId: $c, kind: PARTY, displayName: $n, email: $e}) { id } }",
                json!({ "c": case, "n": name, "e": email }),
            )
            .await?;
    }
    let mut sessions = Vec::new();
    for day in ["01", "02"] {
        let id = text(
            &admin
                .ok(
                    "mutation($c: UUID!, $t: DateTime!) { scheduleSession(input: {caseId: $c, startsAt: $t, timeZone: \"UTC\", durationMinutes: 60}) { id } }",
                    json!({ "c": case, "t": format!("2031-01-{day}T10:00:00Z") }),
                )
                .await?["scheduleSession"]["id"],
        )?;
        sessions.push(Uuid::parse_str(&id)?);
    }

    // One API and two SFU nodes, sharing the join-token key, the database and Redis.
    let signing = SigningKey::random(&mut rand::rngs::OsRng);
    let pem = signing.to_pkcs8_pem(LineEnding::LF)?.to_string();
    let keys = format!("[[join_tokens.keys]]\nkid = \"scale\"\npem = \"\"\"\n{pem}\"\"\"\n");
    let dir = std::env::temp_dir().join(format!("accord-scale-out-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let public = "http://accord.test/";
    let (_api, api) = serve(&app, &dir, "api", public, &keys, &redis_url, &prefix).await?;
    let mut nodes = Vec::new();
    for _ in 0..2 {
        nodes.push(serve(&app, &dir, "sfu", public, &keys, &redis_url, &prefix).await?);
    }
    // Both nodes announced themselves.
    let redis = redis::Client::open(redis_url.as_str())?;
    let mut conn = redis.get_multiplexed_async_connection().await?;
    let announced = Instant::now();
    loop {
        let n: u64 = redis::cmd("ZCARD")
            .arg(format!("{prefix}:sfu:nodes"))
            .query_async(&mut conn)
            .await?;
        if n == 2 {
            break;
        }
        anyhow::ensure!(
            announced.elapsed() < Duration::from_secs(10),
            "nodes never announced"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let med = sign_in(&app, &api, "med@s.test").await?;
    let one = sign_in(&app, &api, "one@s.test").await?;
    let two = sign_in(&app, &api, "two@s.test").await?;

    // The first session: the mediator, both parties admitted, party one
    // moved to caucus "A", party two left in the main room.
    let first = sessions[0];
    let (mediator, url) = join(&med, first).await?;
    let first_node = node(&url);
    mediator.connected(Duration::from_secs(10)).await?;
    let mut knocks = mediator.messages();
    let mut parties = Vec::new();
    for client in [&one, &two] {
        let (party, url) = join(client, first).await?;
        assert_eq!(node(&url), first_node, "a placed session stays on its node");
        let knock = knocks
            .wait_for_message(Duration::from_secs(10), |m| {
                matches!(m, ServerMessage::Knock { participant } if *participant == party.participant())
            })
            .await?;
        let ServerMessage::Knock { participant } = knock else {
            anyhow::bail!("expected a knock");
        };
        mediator.send(&ClientMessage::Admit { participant }).await?;
        party.connected(Duration::from_secs(10)).await?;
        parties.push(party);
    }
    let (party_one, party_two) = (parties.remove(0), parties.remove(0));
    mediator
        .send(&ClientMessage::CreateCaucus { name: "A".into() })
        .await?;
    let state = state_where(&mediator, |s| caucus_named(s, "A").is_some()).await?;
    let caucus = caucus_named(&state, "A").expect("caucus A");
    mediator
        .send(&ClientMessage::Move {
            participant: party_one.participant(),
            room: caucus,
        })
        .await?;
    state_where(&mediator, |s| {
        room_of(s, party_one.participant()) == Some(caucus)
    })
    .await?;
    isolated(&mediator, &party_one, &party_two).await?;
    // A ten-minute timer on the caucus.
    mediator
        .send(&ClientMessage::SetTimer {
            room: caucus,
            seconds: 600,
        })
        .await?;
    let state = state_where(&mediator, |s| timer_of(s, caucus).is_some()).await?;
    let timer_before = timer_of(&state, caucus).expect("the caucus's timer");

    // The API runs no SFU of its own: its overview of live sessions is what
    // the nodes publish. The org admin sees who is where.
    let overview = sign_in(&app, &api, "admin@s.test").await?;
    let seen = live_until(&overview, |l| {
        l.iter().any(|s| {
            s["sessionId"] == first.to_string()
                && s["participants"].as_array().map(Vec::len) == Some(3)
                && s["participants"].as_array().is_some_and(|ps| {
                    ps.iter().any(|p| {
                        p["userId"] == party_one.participant().to_string() && p["room"] == "A"
                    })
                })
        })
    })
    .await?;
    assert_eq!(seen.len(), 1, "{seen:?}");

    // The second session goes to the other node.
    let (second_mediator, url) = join(&med, sessions[1]).await?;
    let second_node = node(&url);
    assert_ne!(
        second_node, first_node,
        "the second session is placed on the less loaded node"
    );

    // The first session's node dies; its participants reconnect.
    let index = nodes
        .iter()
        .position(|(_, base)| *base == first_node)
        .expect("the first node is one of ours");
    let (mut dead, _) = nodes.remove(index);
    let (mediator_user, one_user, two_user) = (
        mediator.participant(),
        party_one.participant(),
        party_two.participant(),
    );
    let killed = Instant::now();
    dead.kill();
    for bot in [mediator, party_one, party_two] {
        bot.close().await;
    }
    let deadline = killed + Duration::from_secs(10);
    let (mediator, url_m) = rejoin(&med, first, deadline).await?;
    let (party_one, url_1) = rejoin(&one, first, deadline).await?;
    let (party_two, url_2) = rejoin(&two, first, deadline).await?;
    for url in [&url_m, &url_1, &url_2] {
        assert_eq!(node(url), second_node, "placed again on the live node");
    }
    for bot in [&mediator, &party_one, &party_two] {
        bot.connected(deadline.saturating_duration_since(Instant::now()))
            .await?;
    }
    let back = killed.elapsed();
    eprintln!("back in their rooms {back:?} after the node was killed");
    assert!(back < Duration::from_secs(10), "took {back:?}");
    assert_eq!(
        (
            mediator.participant(),
            party_one.participant(),
            party_two.participant()
        ),
        (mediator_user, one_user, two_user)
    );

    // The mediator's room state survived: caucus A with party one in it,
    // party two in the main room, nobody back in the lobby.
    let state = state_where(&mediator, |s| {
        room_of(s, one_user).is_some() && room_of(s, two_user).is_some()
    })
    .await?;
    assert_eq!(caucus_named(&state, "A"), Some(caucus), "{state:?}");
    assert_eq!(room_of(&state, one_user), Some(caucus));
    assert_eq!(room_of(&state, two_user), Some(RoomId::Main));
    assert_eq!(room_of(&state, mediator_user), Some(RoomId::Main));
    // The overview follows: the first session, once, from the live node.
    live_until(&overview, |l| {
        l.iter()
            .filter(|s| s["sessionId"] == first.to_string())
            .map(|s| s["participants"].as_array().map_or(0, Vec::len))
            .eq([3])
    })
    .await?;
    // The caucus's timer runs on from where it was: the same end, not a
    // fresh ten minutes, nor gone.
    let timer_after = timer_of(&state, caucus).expect("the caucus's timer survived");
    assert!(
        timer_after < timer_before && timer_after > timer_before - 60_000,
        "{timer_before} ms left before the kill, {timer_after} ms after"
    );
    isolated(&mediator, &party_one, &party_two).await?;

    for bot in [mediator, party_one, party_two, second_mediator] {
        bot.close().await;
    }
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

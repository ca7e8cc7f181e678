//! Redis going away under load: `accord serve` (API and SFU in one process,
//! announced in Redis as a node) over a `redis-server` of the test's own (a
//! free port, never the shared one), during a stream of `joinToken`
//! requests, which place the session through Redis. Redis is killed, later
//! restarted on the same port, later paused (it stops answering without
//! refusing). No request may hang, every failure must be `503` with the code
//! `UNAVAILABLE` and `Retry-After` (never `INTERNAL`), requests that need no
//! Redis keep working while it is gone, and join tokens are issued again
//! soon after it is back.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use accord_domain::Role;
use accord_loadgen::{device, Bot, BotConfig, BotError};
use accord_testkit::{spawn_app, Client, TestApp, PASSWORD};
use anyhow::{ensure, Context as _};
use common::{free_port, Accord, Running, Waited, ATTEMPTS};
use p256::ecdsa::SigningKey;
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::{json, Value};
use uuid::Uuid;

const JOIN: &str =
    "mutation($s: UUID!, $k: JSON!) { joinToken(sessionId: $s, deviceKey: $k) { token url } }";

/// No request may take longer than this, Redis up, down or paused: the
/// server gives Redis 3 s in all, and a request that waited that long is not
/// run a second time.
const BOUND: Duration = Duration::from_secs(8);

async fn port_open(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

/// `redis-server` on `port`, nothing saved; waits until it accepts. An
/// error if it exits first (the port was taken): what accepts then is not
/// ours.
async fn start_redis(port: u16) -> anyhow::Result<Running> {
    let mut running = Running::spawn(
        Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .context("starting redis-server (install the redis-server package; scripts/test does)")?;
    match running
        .wait_until_up(100, Duration::from_millis(50), || port_open(port))
        .await?
    {
        Waited::Up => Ok(running),
        Waited::Exited(status) => anyhow::bail!("redis-server on port {port} exited with {status}"),
        Waited::TimedOut => {
            anyhow::bail!("redis-server on port {port} never accepted connections")
        }
    }
}

/// `redis-server` on a free port, another if that one is taken before it
/// binds it (a few times at most); the port and the process.
async fn start_redis_on_free_port() -> anyhow::Result<(u16, Running)> {
    let mut failed = Vec::new();
    for _ in 0..ATTEMPTS {
        let port = free_port();
        match start_redis(port).await {
            Ok(running) => return Ok((port, running)),
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    anyhow::bail!("redis-server never started: {}", failed.join("; "))
}

/// `accord serve` (API and SFU) on a free port with `[redis]` at `redis`.
async fn serve(
    app: &TestApp,
    dir: &std::path::Path,
    redis: &str,
) -> anyhow::Result<(Running, String)> {
    let signing = SigningKey::random(&mut rand::rngs::OsRng);
    let pem = signing.to_pkcs8_pem(LineEnding::LF)?.to_string();
    let server = Accord::new(app, dir)
        .start(|port| {
            format!(
                "[http]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}/\"\n\n\
                 [sfu]\nudp_bind = \"127.0.0.1:0\"\ntcp_bind = \"127.0.0.1:0\"\n\n\
                 [redis]\nurl = \"{redis}\"\nkey_prefix = \"faults\"\n\n\
                 [[join_tokens.keys]]\nkid = \"faults\"\npem = \"\"\"\n{pem}\"\"\"\n"
            )
        })
        .await?;
    Ok((server.process, server.base))
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Answered with data.
    Served,
    /// `503 UNAVAILABLE` with `Retry-After`.
    Unavailable,
}

/// Posts `query`; anything but data or a well-formed `UNAVAILABLE` is an
/// error, as is taking longer than [`BOUND`].
async fn post(
    client: &Client,
    what: &str,
    query: &str,
    variables: Value,
) -> anyhow::Result<Outcome> {
    let mut request = client
        .http
        .post(format!("{}/graphql", client.base_url))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(csrf) = &client.csrf {
        request = request.header("x-csrf-token", csrf);
    }
    let started = Instant::now();
    let response = tokio::time::timeout(BOUND, request.send())
        .await
        .with_context(|| format!("{what}: no answer within {BOUND:?}"))??;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body: Value = response.json().await?;
    ensure!(
        started.elapsed() < BOUND,
        "{what}: answered after {:?}",
        started.elapsed()
    );
    if status == 200 && body.get("errors").is_none() {
        return Ok(Outcome::Served);
    }
    let codes: Vec<&str> = body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["extensions"]["code"].as_str())
                .collect()
        })
        .unwrap_or_default();
    ensure!(
        status == 503 && codes == ["UNAVAILABLE"] && retry_after.is_some_and(|s| s > 0),
        "{what}: expected 503 UNAVAILABLE with Retry-After, got {status} {retry_after:?} {body}"
    );
    ensure!(
        body.get("data").is_none_or(Value::is_null),
        "{what}: a failed request showed data: {body}"
    );
    Ok(Outcome::Unavailable)
}

/// A join token for a fresh device key; `Served` only with a node's URL.
async fn join(client: &Client, session: &str) -> anyhow::Result<Outcome> {
    let key = device::generate();
    post(
        client,
        "joinToken",
        JOIN,
        json!({ "s": session, "k": device::jwk(key.verifying_key()) }),
    )
    .await
}

/// Join tokens asked for one after another for `span`; the outcomes.
async fn stream(client: &Client, session: &str, span: Duration) -> anyhow::Result<Vec<Outcome>> {
    let until = Instant::now() + span;
    let mut outcomes = Vec::new();
    while Instant::now() < until {
        outcomes.push(join(client, session).await?);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(outcomes)
}

/// Asks for join tokens until one is served (the node announced itself in
/// the Redis that is back); how long that took.
async fn served_again(
    client: &Client,
    session: &str,
    within: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        if join(client, session).await? == Outcome::Served {
            return Ok(started.elapsed());
        }
        ensure!(
            started.elapsed() < within,
            "no join token within {within:?} of Redis coming back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_or_paused_answers_unavailable_and_recovers() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("redis-faults").await?;
    app.member(org, "admin@r.test", Role::OrgAdmin).await?;
    let mediator_id = app.member(org, "med@r.test", Role::Mediator).await?;
    let admin = app.sign_in("admin@r.test", None).await?;
    let case = admin
        .ok(
            "mutation($m: UUID) { createCase(input: {reference: \"R-1\", title: \"Redis\", mediatorId: $m}) { id } }",
            json!({ "m": mediator_id }),
        )
        .await?["createCase"]["id"]
        .as_str()
        .context("a case id")?
        .to_owned();
    let session = admin
        .ok(
            "mutation($c: UUID!) { scheduleSession(input: {caseId: $c, startsAt: \"2031-01-01T10:00:00Z\", timeZone: \"UTC\", durationMinutes: 60}) { id } }",
            json!({ "c": case }),
        )
        .await?["scheduleSession"]["id"]
        .as_str()
        .context("a session id")?
        .to_owned();

    let (redis_port, mut redis) = start_redis_on_free_port().await?;
    let dir = std::env::temp_dir().join(format!("accord-redis-faults-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let (_server, base) = serve(&app, &dir, &format!("redis://127.0.0.1:{redis_port}")).await?;
    let mut mediator = app.client();
    mediator.base_url = base;
    let (status, body) = mediator
        .post_json(
            "/auth/sign-in",
            &json!({ "email": "med@r.test", "password": PASSWORD }),
        )
        .await?;
    ensure!(status == 200, "sign-in: {status} {body}");
    mediator.csrf = body["csrfToken"].as_str().map(str::to_owned);
    // A read that needs no Redis.
    let cases = |client: &Client| {
        let client = client.clone();
        async move {
            post(
                &client,
                "cases",
                "{ cases(first: 5) { edges { node { id } } } }",
                json!({}),
            )
            .await
        }
    };

    // Up: tokens are served (once the node has announced itself).
    served_again(&mediator, &session, Duration::from_secs(10)).await?;
    // A token taken now, presented once Redis is gone.
    let held_key = device::generate();
    let held = mediator
        .ok(
            JOIN,
            json!({ "s": session, "k": device::jwk(held_key.verifying_key()) }),
        )
        .await?["joinToken"]["token"]
        .as_str()
        .context("a join token")?
        .to_owned();

    // Killed mid-stream.
    let during = tokio::spawn({
        let mediator = mediator.clone();
        let session = session.clone();
        async move { stream(&mediator, &session, Duration::from_secs(4)).await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.kill();
    let down = during.await??;
    ensure!(
        down.contains(&Outcome::Unavailable),
        "no request noticed Redis was gone: {down:?}"
    );
    // Joining the SFU with a token issued before: closed with 1013 (try
    // again later, with a new token), not as a server error.
    let ws = url::Url::parse(&mediator.base_url.replace("http://", "ws://"))?;
    let mut config = BotConfig::new(ws, Uuid::parse_str(&session)?);
    config.step_timeout = Duration::from_secs(10);
    match Bot::join(config, held, held_key).await {
        Err(BotError::Refused { code: 1013, reason }) => {
            ensure!(reason.contains("try again"), "the close reason: {reason}")
        }
        Err(e) => anyhow::bail!("joining with Redis down: expected close code 1013, got {e}"),
        Ok(_) => anyhow::bail!("joined the SFU while Redis was down"),
    }
    let down = stream(&mediator, &session, Duration::from_secs(2)).await?;
    ensure!(
        down.iter().all(|o| *o == Outcome::Unavailable),
        "a join token was placed while Redis was down: {down:?}"
    );
    ensure!(
        cases(&mediator).await? == Outcome::Served,
        "a read that needs no Redis failed while Redis was down"
    );

    // Back on the same port (empty: the node announces itself again).
    let mut redis = start_redis(redis_port).await?;
    let back = served_again(&mediator, &session, Duration::from_secs(15)).await?;
    eprintln!("join tokens served again {back:?} after Redis came back");

    // Paused: connections are accepted, nothing answers.
    redis.signal("STOP")?;
    let paused = stream(&mediator, &session, Duration::from_secs(6)).await?;
    ensure!(
        paused.contains(&Outcome::Unavailable),
        "no request noticed Redis had stopped answering: {paused:?}"
    );
    ensure!(
        cases(&mediator).await? == Outcome::Served,
        "a read that needs no Redis failed while Redis was paused"
    );
    redis.signal("CONT")?;
    served_again(&mediator, &session, Duration::from_secs(15)).await?;
    redis.kill();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

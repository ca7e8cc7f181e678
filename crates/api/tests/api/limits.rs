//! Bad input at the edges: GraphQL errors outside development never spell out
//! schema names the caller did not write ("Did you mean …", required
//! arguments, type names), and an oversized signaling frame closes the socket
//! with 1009 and a reason (docs/signaling.md) instead of dropping it.

use std::time::Duration;

use accord_testkit::{spawn_app, spawn_app_with, AppOptions, Client};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{device, gql, world};
use crate::sfu::{connect, json_of_type, token, Ws};

/// A request that the schema rejects, and the schema names its errors must
/// not mention because the request does not contain them.
struct Probe {
    query: &'static str,
    variables: Value,
    unsent: &'static [&'static str],
}

fn probes() -> Vec<Probe> {
    vec![
        Probe {
            query: "{ cses { edges { node { id } } } }",
            variables: json!({}),
            unsent: &["cases", "Query"],
        },
        Probe {
            query: "{ cases { edges { node { titel } } } }",
            variables: json!({}),
            unsent: &["title", "Case", "reference"],
        },
        Probe {
            query: "{ cases(frist: 5) { edges { node { id } } } }",
            variables: json!({}),
            unsent: &["first", "after", "Query"],
        },
        Probe {
            query: "mutation { createCase(input: {title: \"x\"}) { id } }",
            variables: json!({}),
            unsent: &["reference", "CreateCaseInput", "String"],
        },
        Probe {
            query: "mutation($i: CreateCaseInput!) { createCase(input: $i) { id } }",
            variables: json!({ "i": { "title": "x" } }),
            unsent: &["reference", "String"],
        },
        Probe {
            query: "{ cases(status: OPN) { edges { node { id } } } }",
            variables: json!({}),
            unsent: &["OPEN", "CaseStatus", "CLOSED"],
        },
        Probe {
            query: "query($s: CaseStatu) { cases(status: $s) { edges { node { id } } } }",
            variables: json!({}),
            unsent: &["CaseStatus"],
        },
        Probe {
            query: "{ case { title } }",
            variables: json!({}),
            unsent: &["UUID", "\"id\""],
        },
        Probe {
            query: "fragment f on Cse { id } query { ...f }",
            variables: json!({}),
            unsent: &["Case", "Query"],
        },
    ]
}

async fn check_probes(client: &Client, who: &str) -> anyhow::Result<()> {
    for probe in probes() {
        let reply = gql(client, probe.query, probe.variables.clone()).await?;
        let text = reply.body.to_string();
        let errors = reply.body["errors"].as_array().cloned().unwrap_or_default();
        assert!(
            !errors.is_empty(),
            "{who}: {} was accepted: {text}",
            probe.query
        );
        assert!(
            !text.to_lowercase().contains("did you mean"),
            "{who}: a suggestion for {}: {text}",
            probe.query
        );
        for name in probe.unsent {
            assert!(
                !text.contains(&format!("\"{name}")) && !text.contains(&format!(" {name} ")),
                "{who}: the answer to {} names {name}: {text}",
                probe.query
            );
        }
        for error in errors {
            assert_eq!(
                error["extensions"]["code"], "BAD_USER_INPUT",
                "{who}: {text}"
            );
            assert!(
                error["locations"].is_array() || error["message"].is_string(),
                "{who}: {text}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn errors_name_nothing_the_caller_did_not_send_signed_in_or_not() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("limits").await?;
    app.member(org, "admin@l.test", accord_domain::Role::OrgAdmin)
        .await?;
    check_probes(&app.client(), "signed out").await?;
    check_probes(&app.sign_in("admin@l.test", None).await?, "signed in").await?;

    // A mistake in a name the caller did write is still explained.
    let reply = gql(&app.client(), "{ cses }", json!({})).await?;
    assert!(
        reply.gql_message().contains("cses"),
        "the caller's own name is kept: {}",
        reply.body
    );
    Ok(())
}

#[tokio::test]
async fn development_mode_keeps_the_schemas_suggestions() -> anyhow::Result<()> {
    let app = spawn_app_with(AppOptions {
        dev_mode: true,
        ..AppOptions::default()
    })
    .await?;
    let reply = gql(
        &app.client(),
        "{ cses { edges { node { id } } } }",
        json!({}),
    )
    .await?;
    assert!(
        reply.gql_message().contains("Did you mean \"cases\""),
        "{}",
        reply.body
    );
    Ok(())
}

/// Sends one text frame of `bytes` bytes from a task of its own (the server
/// stops reading it, so the send may never finish) and returns how the
/// server closed the socket.
async fn send_oversized(ws: Ws, bytes: usize) -> anyhow::Result<(u16, String)> {
    let (mut sink, mut stream) = ws.split();
    let sender = tokio::spawn(async move {
        let _ = sink.send(Message::Text("x".repeat(bytes).into())).await;
    });
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(frame) = stream.next().await {
            match frame? {
                Message::Close(Some(frame)) => {
                    return Ok((u16::from(frame.code), frame.reason.to_string()))
                }
                Message::Close(None) => anyhow::bail!("closed without a code"),
                _ => {}
            }
        }
        anyhow::bail!("the socket ended without a close frame")
    })
    .await
    .map_err(|_| anyhow::anyhow!("no close within 10 s"))?;
    sender.abort();
    closed
}

#[tokio::test]
async fn an_oversized_signaling_frame_closes_with_1009_before_and_after_joining(
) -> anyhow::Result<()> {
    let w = world().await?;
    let ten_mb = 10 * 1024 * 1024;

    // Instead of the hello.
    let url = format!("ws://{}/sfu/ws?session={}", w.app.addr, w.session);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    json_of_type(&mut ws, "challenge").await?;
    let (code, reason) = send_oversized(ws, ten_mb).await?;
    assert_eq!(
        (code, reason.as_str()),
        (1009, "the message is larger than 512 KiB")
    );

    // Inside the session, after joining.
    let d = device();
    let mut ws = connect(
        &w.app,
        &w.session,
        &token(&w.mediator, &w.session, &d).await?,
        &d,
        &d,
    )
    .await?;
    json_of_type(&mut ws, "state").await?;
    let (code, reason) = send_oversized(ws, ten_mb).await?;
    assert_eq!(
        (code, reason.as_str()),
        (1009, "the message is larger than 512 KiB")
    );

    // A message over the protocol's limit but within the frame limit is
    // answered with an error, and the socket stays open.
    let d = device();
    let mut ws = connect(
        &w.app,
        &w.session,
        &token(&w.mediator, &w.session, &d).await?,
        &d,
        &d,
    )
    .await?;
    json_of_type(&mut ws, "state").await?;
    ws.send(Message::Text("x".repeat(300 * 1024).into()))
        .await?;
    let error = json_of_type(&mut ws, "error").await?;
    assert_eq!(error["code"], "TOO_LARGE", "{error}");
    ws.send(Message::Text(
        json!({ "type": "setHand", "raised": true })
            .to_string()
            .into(),
    ))
    .await?;
    json_of_type(&mut ws, "state").await?;
    Ok(())
}

/// The API over a fresh test database with `limits` on `/graphql`, and two
/// signed-in accounts of one org.
async fn app_with_limits(
    limits: accord_api::GraphqlLimits,
) -> anyhow::Result<(
    accord_testkit::TestDb,
    tokio::task::JoinHandle<()>,
    Client,
    Client,
)> {
    use accord_domain::{DisplayName, EmailAddress, OrgName, OrgSlug, PlainPassword, Role};
    let db = accord_testkit::TestDb::new().await?;
    let org = accord_db::orgs::create(
        &db.admin,
        &OrgSlug::parse("limited")?,
        &OrgName::parse("Limited")?,
    )
    .await?;
    let hash =
        accord_auth::password::hash_password(&PlainPassword::parse(accord_testkit::PASSWORD)?)?;
    for email in ["one@l.test", "two@l.test"] {
        let mut tx = db.admin.system_tenant(org, None).await?;
        let invited = accord_db::members::invite(
            &mut tx,
            &EmailAddress::parse(email)?,
            &DisplayName::parse("Someone")?,
            Role::OrgAdmin,
        )
        .await?;
        tx.commit().await?;
        let mut utx = db.app.user(invited.member.user_id).await?;
        accord_db::auth::set_password_hash(&mut utx, &hash).await?;
        utx.commit().await?;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let config = accord_api::ApiConfig {
        public_url: url::Url::parse(&base_url)?,
        mail_from: "accord@accord.test".into(),
        secure_cookies: false,
        dev_mode: false,
        session_ttl: Duration::from_secs(3600),
        setup_link_ttl: Duration::from_secs(3600),
        reset_link_ttl: Duration::from_secs(1800),
        rate_limit: accord_api::RateLimitConfig {
            burst: 1000,
            replenish_every: Duration::from_millis(1),
            trusted_proxy_hops: 0,
        },
        join_keys: accord_auth::join::JoinKeys::generate(&base_url, "test"),
        portal_dir: None,
        graphiql_dir: None,
    };
    let state = accord_api::AppState::new(
        db.app.clone(),
        config,
        None,
        accord_notify::worker::Wake::default(),
    )
    .with_graphql_limits(limits);
    let server = tokio::spawn(async move {
        let _ = accord_api::serve(listener, state, std::future::pending()).await;
    });
    let mut clients = Vec::new();
    for email in ["one@l.test", "two@l.test"] {
        let mut client = Client {
            http: reqwest::Client::builder().cookie_store(true).build()?,
            base_url: base_url.clone(),
            csrf: None,
        };
        let (status, body) = client
            .post_json(
                "/auth/sign-in",
                &json!({ "email": email, "password": accord_testkit::PASSWORD }),
            )
            .await?;
        anyhow::ensure!(status == 200, "sign-in: {status} {body}");
        client.csrf = body["csrfToken"].as_str().map(str::to_owned);
        clients.push(client);
    }
    let two = clients.pop().unwrap();
    let one = clients.pop().unwrap();
    Ok((db, server, one, two))
}

#[tokio::test]
async fn graphql_is_limited_per_account_and_per_client_with_retry_after() -> anyhow::Result<()> {
    // Per account: 5 at once, 1 more a second; per client: roomy.
    let (_db, server, one, two) = app_with_limits(accord_api::GraphqlLimits {
        client_burst: 1000,
        client_per_second: 1000,
        account_burst: 5,
        account_per_second: 1,
    })
    .await?;
    let query = "{ viewer { role } }";
    for _ in 0..5 {
        one.ok(query, json!({})).await?;
    }
    let reply = gql(&one, query, json!({})).await?;
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert_eq!(reply.gql_code(), "RATE_LIMITED", "{}", reply.body);
    let wait: u64 = reply.retry_after().unwrap_or_default().parse()?;
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    // Another account from the same address is not held back by the first.
    two.ok(query, json!({})).await?;
    // After the wait, the first may go on.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    one.ok(query, json!({})).await?;
    server.abort();

    // Per client: 3 at once from one address, signed in or not, in
    // GraphQL's shape.
    let (_db, server, one, _two) = app_with_limits(accord_api::GraphqlLimits {
        client_burst: 3,
        client_per_second: 1,
        account_burst: 1000,
        account_per_second: 1000,
    })
    .await?;
    for _ in 0..3 {
        one.ok(query, json!({})).await?;
    }
    let reply = gql(&one, query, json!({})).await?;
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert_eq!(reply.gql_code(), "RATE_LIMITED", "{}", reply.body);
    assert!(reply.retry_after().is_some(), "{:?}", reply.headers);
    server.abort();
    Ok(())
}

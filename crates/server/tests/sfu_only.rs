//! `accord serve --only sfu` alone: a process that builds no API state
//! (no GraphQL, no sign-in) and still lets a participant with a join token
//! signed by the deployment's key join a live session through it, its token
//! spent in the shared database.

mod common;

use std::time::Duration;

use accord_domain::Role;
use accord_testkit::spawn_app;
use anyhow::Context as _;
use base64::Engine as _;
use common::Accord;
use futures_util::{SinkExt, StreamExt};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn jwk(key: &SigningKey) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    let c = |c: Option<&p256::FieldBytes>| c.map(|c| B64.encode(c)).unwrap_or_default();
    json!({ "kty": "EC", "crv": "P-256", "x": c(point.x()), "y": c(point.y()) })
}

/// Joins over the signaling socket with `token` and `device`; the first
/// server message after the handshake, or the close code.
async fn join(
    base_ws: &str,
    session: uuid::Uuid,
    token: &str,
    device: &SigningKey,
) -> anyhow::Result<Result<Value, u16>> {
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("{base_ws}/sfu/ws?session={session}")).await?;
    let challenge: Value = match ws.next().await {
        Some(Ok(Message::Text(t))) => serde_json::from_str(&t)?,
        other => anyhow::bail!("expected the challenge, got {other:?}"),
    };
    let nonce = challenge["nonce"].as_str().unwrap_or_default().to_owned();
    let signature: Signature = device.sign(nonce.as_bytes());
    let hello = json!({
        "type": "hello",
        "token": token,
        "deviceKey": jwk(device),
        "signature": B64.encode(signature.to_bytes()),
    });
    ws.send(Message::Text(hello.to_string().into())).await?;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await? {
            Some(Ok(Message::Text(t))) => {
                let m: Value = serde_json::from_str(&t)?;
                if m["type"] == "state" {
                    return Ok(Ok(m));
                }
            }
            Some(Ok(Message::Close(frame))) => {
                return Ok(Err(frame.map(|f| u16::from(f.code)).unwrap_or(0)))
            }
            Some(Ok(_)) => {}
            other => anyhow::bail!("the socket ended: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sfu_alone_serves_no_api_and_lets_a_token_holder_join() -> anyhow::Result<()> {
    // The database, with an org and a mediator, as the API node would have it.
    let app = spawn_app().await?;
    let org = app.org("solo").await?;
    let mediator = app.member(org, "med@solo.test", Role::Mediator).await?;

    // The deployment's join-token key, shared by API and SFU nodes.
    let signing = SigningKey::random(&mut rand::rngs::OsRng);
    let pem = signing.to_pkcs8_pem(LineEnding::LF)?.to_string();
    let dir =
        std::env::temp_dir().join(format!("accord-sfu-only-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let server = Accord::new(&app, &dir)
        .args(&["serve", "--only", "sfu"])
        .start(|port| {
            format!(
                "[http]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}/\"\n\n\
                 [sfu]\nudp_bind = \"127.0.0.1:0\"\ntcp_bind = \"127.0.0.1:0\"\n\n\
                 [[join_tokens.keys]]\nkid = \"solo\"\npem = \"\"\"\n{pem}\"\"\"\n"
            )
        })
        .await
        .context("the SFU node never answered /healthz")?;
    let (port, base) = (server.port, server.base.clone());
    let http = reqwest::Client::new();

    // No API here: GraphQL and sign-in are not served.
    for path in ["/graphql", "/auth/sign-in"] {
        let status = http
            .post(format!("{base}{path}"))
            .json(&json!({}))
            .send()
            .await?
            .status();
        assert_eq!(status, 404, "{path} on an SFU-only node");
    }
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    assert!(metrics.contains("accord_sfu_"), "{metrics}");

    // A token as the API issues it, for this device: the mediator is in.
    let keys = accord_auth::join::JoinKeys::from_pem(&base, &[("solo".to_owned(), pem)])?;
    let device = SigningKey::random(&mut rand::rngs::OsRng);
    let device_key = accord_auth::join::DeviceKey::from_jwk(&jwk(&device))?;
    let session = uuid::Uuid::new_v4();
    let (token, claims) = keys.issue(
        chrono::Utc::now(),
        chrono::TimeDelta::seconds(60),
        org.as_uuid(),
        session,
        mediator.as_uuid(),
        "mediator",
        vec!["*".to_owned()],
        &device_key,
    );
    let ws = format!("ws://127.0.0.1:{port}");
    let state = join(&ws, session, &token, &device).await?.expect("joined");
    assert_eq!(state["you"], json!(mediator.as_uuid()));
    // Spent in the shared database: the same token again is a replay.
    let spent: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM spent_join_tokens WHERE jti = $1)")
            .bind(claims.jti)
            .fetch_one(app.db.admin.pool())
            .await?;
    assert!(spent, "the jti is in the shared store");
    assert_eq!(join(&ws, session, &token, &device).await?, Err(4409));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

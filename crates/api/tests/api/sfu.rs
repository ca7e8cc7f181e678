//! The SFU's signaling WebSocket: the device-bound join handshake, with every
//! refusal its own close code, and the live-session commands over it.

use accord_testkit::{Client, TestApp};
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::Signature;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{device, world, Device, B64};
const JOIN: &str =
    "mutation($s: UUID!, $k: JSON!) { joinToken(sessionId: $s, deviceKey: $k) { token } }";

pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) async fn token(
    client: &Client,
    session: &str,
    device: &Device,
) -> anyhow::Result<String> {
    let data = client
        .ok(JOIN, json!({ "s": session, "k": device.jwk }))
        .await?;
    Ok(data["joinToken"]["token"].as_str().unwrap().to_owned())
}

async fn next(ws: &mut Ws) -> anyhow::Result<Message> {
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the socket ended"))??;
        if !matches!(frame, Message::Ping(_) | Message::Pong(_)) {
            return Ok(frame);
        }
    }
}

pub(crate) async fn json_of_type(ws: &mut Ws, kind: &str) -> anyhow::Result<Value> {
    loop {
        match next(ws).await? {
            Message::Text(text) => {
                let v: Value = serde_json::from_str(&text)?;
                if v["type"] == kind {
                    return Ok(v);
                }
            }
            other => anyhow::bail!("expected a {kind} message, got {other:?}"),
        }
    }
}

/// Connects and answers the challenge; `sign_with` signs the nonce and `present` is the key shown.
pub(crate) async fn connect(
    app: &TestApp,
    session: &str,
    token: &str,
    sign_with: &Device,
    present: &Device,
) -> anyhow::Result<Ws> {
    let url = format!("ws://{}/sfu/ws?session={session}", app.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    let challenge = json_of_type(&mut ws, "challenge").await?;
    let nonce = challenge["nonce"].as_str().unwrap();
    let signature: Signature = sign_with.secret.sign(nonce.as_bytes());
    let hello = json!({ "type": "hello", "token": token, "deviceKey": present.jwk, "signature": B64.encode(signature.to_bytes()) });
    ws.send(Message::Text(hello.to_string().into())).await?;
    Ok(ws)
}

async fn closed_with(ws: &mut Ws) -> anyhow::Result<(u16, String)> {
    match next(ws).await? {
        Message::Close(Some(frame)) => Ok((u16::from(frame.code), frame.reason.to_string())),
        other => anyhow::bail!("expected a close, got {other:?}"),
    }
}

#[tokio::test]
async fn joining_hands_out_turn_credentials_in_coturns_format() -> anyhow::Result<()> {
    let w = world().await?;
    let d = device();
    let mut ws = connect(
        &w.app,
        &w.session,
        &token(&w.party, &w.session, &d).await?,
        &d,
        &d,
    )
    .await?;
    // First, before any state: the peer connection needs them from the start.
    let Message::Text(first) = next(&mut ws).await? else {
        anyhow::bail!("expected a text frame");
    };
    let m: Value = serde_json::from_str(&first)?;
    assert_eq!(m["type"], "iceServers", "{m}");
    let servers = m["servers"].as_array().unwrap();
    assert_eq!(servers[0]["urls"], json!(["stun:turn.accord.test:3478"]));
    assert!(servers[0].get("username").is_none());
    let username = servers[1]["username"].as_str().unwrap();
    let (expiry, who) = username.split_once(':').unwrap();
    let state = json_of_type(&mut ws, "state").await?;
    assert_eq!(who, state["you"].as_str().unwrap());
    let expiry: u64 = expiry.parse()?;
    let now = chrono::Utc::now().timestamp() as u64;
    assert!(
        expiry > now + 590 && expiry <= now + 600,
        "{expiry} vs {now}"
    );
    let (_, expected) = accord_sfu_core::turn::credentials(
        accord_testkit::TURN_SECRET.as_bytes(),
        who.parse()?,
        expiry,
    );
    assert_eq!(servers[1]["credential"], expected.as_str());
    Ok(())
}

#[tokio::test]
async fn a_party_knocks_and_the_mediator_admits_them() -> anyhow::Result<()> {
    let w = world().await?;
    let (md, pd) = (device(), device());
    let mut mediator = connect(
        &w.app,
        &w.session,
        &token(&w.mediator, &w.session, &md).await?,
        &md,
        &md,
    )
    .await?;
    let state = json_of_type(&mut mediator, "state").await?;
    let mediator_id = state["you"].as_str().unwrap().to_owned();
    let mut party = connect(
        &w.app,
        &w.session,
        &token(&w.party, &w.session, &pd).await?,
        &pd,
        &pd,
    )
    .await?;
    let knock = json_of_type(&mut mediator, "knock").await?;
    let party_id = knock["participant"].as_str().unwrap().to_owned();
    let waiting = json_of_type(&mut party, "state").await?;
    assert_eq!(waiting["participants"][0]["room"]["kind"], "lobby");

    // A party cannot admit anyone; a garbage frame is answered, not fatal.
    party
        .send(Message::Text(
            json!({ "type": "admit", "participant": mediator_id })
                .to_string()
                .into(),
        ))
        .await?;
    assert_eq!(
        json_of_type(&mut party, "error").await?["code"],
        "FORBIDDEN"
    );
    party
        .send(Message::Text("{\"type\":\"teleport\"}".into()))
        .await?;
    assert_eq!(
        json_of_type(&mut party, "error").await?["code"],
        "MALFORMED"
    );

    mediator
        .send(Message::Text(
            json!({ "type": "admit", "participant": party_id })
                .to_string()
                .into(),
        ))
        .await?;
    loop {
        let state = json_of_type(&mut party, "state").await?;
        let me = state["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == party_id.as_str())
            .unwrap()
            .clone();
        if me["room"]["kind"] == "main" {
            assert_eq!(
                state["participants"].as_array().unwrap().len(),
                2,
                "the party now sees the mediator"
            );
            break;
        }
    }
    // Room-scoped chat reaches the mediator.
    party
        .send(Message::Text(
            json!({ "type": "chat", "text": "hello" })
                .to_string()
                .into(),
        ))
        .await?;
    let chat = json_of_type(&mut mediator, "chat").await?;
    assert_eq!(chat["from"], party_id.as_str());

    // Removal closes the party's socket with 4410; a new token cannot bring them back.
    mediator
        .send(Message::Text(
            json!({ "type": "remove", "participant": party_id })
                .to_string()
                .into(),
        ))
        .await?;
    let (code, _) = loop {
        match next(&mut party).await? {
            Message::Close(Some(frame)) => break (u16::from(frame.code), frame.reason.to_string()),
            _ => continue,
        }
    };
    assert_eq!(code, 4410);
    let pd2 = device();
    let mut again = connect(
        &w.app,
        &w.session,
        &token(&w.party, &w.session, &pd2).await?,
        &pd2,
        &pd2,
    )
    .await?;
    assert_eq!(closed_with(&mut again).await?.0, 4410);

    // The live session's actions are in the org's audit log, as ids only:
    // written in order by one writer, so poll until the removal is there.
    let mut events = Vec::new();
    for _ in 0..50 {
        let data = w
            .admin
            .ok(
                "{ auditEvents(first: 100) { action actorUserId targetType targetId } }",
                json!({}),
            )
            .await?;
        events = data["auditEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"].as_str().is_some_and(|a| a.starts_with("live.")))
            .cloned()
            .collect();
        if events.iter().any(|e| e["action"] == "live.remove") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let find = |action: &str| {
        events
            .iter()
            .find(|e| e["action"] == action)
            .cloned()
            .unwrap_or_else(|| panic!("no {action} in {events:#?}"))
    };
    let join = find("live.join");
    assert_eq!(join["targetType"], "participant");
    for (action, actor) in [("live.admit", &mediator_id), ("live.remove", &mediator_id)] {
        let e = find(action);
        assert_eq!(e["actorUserId"], actor.as_str(), "{e}");
        assert_eq!(e["targetId"], party_id.as_str(), "{e}");
    }
    Ok(())
}

#[tokio::test]
async fn stolen_replayed_forged_and_misdirected_tokens_are_refused() -> anyhow::Result<()> {
    let w = world().await?;
    let (mine, thief) = (device(), device());
    let t = token(&w.party, &w.session, &mine).await?;

    // Another device presenting its own key with a stolen token.
    let mut ws = connect(&w.app, &w.session, &t, &thief, &thief).await?;
    let (code, reason) = closed_with(&mut ws).await?;
    assert_eq!(
        (code, reason.contains("another device")),
        (4403, true),
        "{reason}"
    );
    // Presenting the right public key without its private key.
    let mut ws = connect(&w.app, &w.session, &t, &thief, &mine).await?;
    assert_eq!(closed_with(&mut ws).await?.0, 4401);
    // A token for another session.
    let mut ws = connect(&w.app, &w.other_session, &t, &mine, &mine).await?;
    let (code, reason) = closed_with(&mut ws).await?;
    assert_eq!(
        (code, reason.contains("another session")),
        (4403, true),
        "{reason}"
    );
    // Tampered: a changed character in the payload.
    let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
    parts[1] = parts[1].replacen('e', "f", 1);
    let mut ws = connect(&w.app, &w.session, &parts.join("."), &mine, &mine).await?;
    assert_eq!(closed_with(&mut ws).await?.0, 4401);
    // Expired: issued long ago with the server's own key.
    let claims = w.app.join_keys.verify(&t, chrono::Utc::now())?;
    let old = chrono::Utc::now() - chrono::Duration::minutes(10);
    let device_key = accord_auth::join::DeviceKey::from_jwk(&mine.jwk)?;
    let (expired, _) = w.app.join_keys.issue(
        old,
        accord_auth::join::MAX_LIFETIME,
        claims.org,
        claims.sid,
        claims.sub,
        "party",
        claims.rooms.clone(),
        &device_key,
    );
    let mut ws = connect(&w.app, &w.session, &expired, &mine, &mine).await?;
    let (code, reason) = closed_with(&mut ws).await?;
    assert_eq!((code, reason.contains("expired")), (4401, true), "{reason}");

    // The genuine use works once; a replay is refused.
    let mut ws = connect(&w.app, &w.session, &t, &mine, &mine).await?;
    json_of_type(&mut ws, "state").await?;
    let mut replay = connect(&w.app, &w.session, &t, &mine, &mine).await?;
    assert_eq!(closed_with(&mut replay).await?.0, 4409);

    // A hello that is not one.
    let url = format!("ws://{}/sfu/ws?session={}", w.app.addr, w.session);
    let (mut raw, _) = tokio_tungstenite::connect_async(url).await?;
    json_of_type(&mut raw, "challenge").await?;
    raw.send(Message::Text("{\"type\":\"hello\"}".into()))
        .await?;
    assert_eq!(closed_with(&mut raw).await?.0, 4400);
    Ok(())
}

#[tokio::test]
async fn connection_attempts_are_rate_limited_per_client() -> anyhow::Result<()> {
    let app = accord_testkit::spawn_app_with(accord_testkit::AppOptions {
        rate_limit: accord_api::RateLimitConfig {
            burst: 2,
            replenish_every: std::time::Duration::from_secs(60),
            trusted_proxy_hops: 0,
        },
        ..Default::default()
    })
    .await?;
    let url = format!("ws://{}/sfu/ws?session={}", app.addr, uuid::Uuid::new_v4());
    for _ in 0..2 {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await?;
        json_of_type(&mut ws, "challenge").await?;
    }
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429);
            assert!(response.headers().get("retry-after").is_some());
        }
        other => anyhow::bail!("expected 429, got {:?}", other.map(|(_, r)| r.status())),
    }
    Ok(())
}

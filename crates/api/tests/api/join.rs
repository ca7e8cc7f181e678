//! Join tokens for the SFU: only the session's people get one, bound to the
//! device key they present; a token's jti is spent once.

use accord_auth::join::{verify_possession, DeviceKey, AUDIENCE};
use accord_domain::Role;
use accord_testkit::{spawn_app, Client, TestApp};
use base64::Engine as _;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde_json::{json, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
const JOIN: &str = "mutation($s: UUID!, $k: JSON!) { joinToken(sessionId: $s, deviceKey: $k) { token expiresAt role rooms } }";

fn device() -> (SigningKey, Value) {
    let secret = SigningKey::random(&mut rand::rngs::OsRng);
    let point = VerifyingKey::from(&secret).to_encoded_point(false);
    let jwk = json!({
        "kty": "EC", "crv": "P-256",
        "x": B64.encode(point.x().unwrap()), "y": B64.encode(point.y().unwrap()),
    });
    (secret, jwk)
}

struct World {
    app: TestApp,
    admin: Client,
    mediator: Client,
    party: Client,
    outsider: Client,
    session: String,
    case: String,
}

async fn world() -> anyhow::Result<World> {
    let app = spawn_app().await?;
    let org = app.org("northside").await?;
    app.member(org, "admin@n.test", Role::OrgAdmin).await?;
    let mediator_id = app.member(org, "med@n.test", Role::Mediator).await?;
    app.member(org, "party@n.test", Role::Party).await?;
    app.member(org, "outsider@n.test", Role::Party).await?;
    let admin = app.sign_in("admin@n.test", None).await?;
    let case = admin
        .ok(
            "mutation($m: UUID) { createCase(input: {reference: \"J-1\", title: \"T\", mediatorId: $m}) { id } }",
            json!({ "m": mediator_id }),
        )
        .await?["createCase"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    admin
        .ok(
            "mutation($c: UUID!) { addParty(input: {caseId: $c, kind: PARTY, displayName: \"P\", email: \"party@n.test\"}) { id } }",
            json!({ "c": case }),
        )
        .await?;
    let session = admin
        .ok(
            "mutation($c: UUID!) { scheduleSession(input: {caseId: $c, startsAt: \"2031-01-01T10:00:00Z\", timeZone: \"UTC\", durationMinutes: 60}) { id } }",
            json!({ "c": case }),
        )
        .await?["scheduleSession"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Ok(World {
        mediator: app.sign_in("med@n.test", None).await?,
        party: app.sign_in("party@n.test", None).await?,
        outsider: app.sign_in("outsider@n.test", None).await?,
        admin,
        app,
        session,
        case,
    })
}

#[tokio::test]
async fn participants_get_a_device_bound_token() -> anyhow::Result<()> {
    let w = world().await?;
    let (secret, jwk) = device();
    let data = w
        .mediator
        .ok(JOIN, json!({ "s": w.session, "k": jwk }))
        .await?;
    let token = data["joinToken"]["token"].as_str().unwrap();
    assert_eq!(data["joinToken"]["role"], "mediator");
    assert_eq!(data["joinToken"]["rooms"], json!(["*"]));
    let claims = w.app.join_keys.verify(token, chrono::Utc::now())?;
    assert_eq!(claims.sid.to_string(), w.session);
    assert_eq!(claims.aud, AUDIENCE);
    assert!(claims.exp - claims.iat <= 120);
    let bound = DeviceKey::from_jwk(&jwk)?;
    assert_eq!(claims.cnf.jkt, bound.thumbprint());
    let signature: Signature = secret.sign(b"challenge");
    verify_possession(&claims, &bound, b"challenge", &signature.to_bytes())?;

    let (_, jwk) = device();
    let data = w
        .party
        .ok(JOIN, json!({ "s": w.session, "k": jwk }))
        .await?;
    assert_eq!(data["joinToken"]["role"], "party");
    assert_eq!(
        data["joinToken"]["rooms"],
        json!(["lobby"]),
        "parties wait in the lobby by default"
    );

    // The jti is spent once, on any node.
    let db = &w.app.db.app;
    let expires = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap();
    assert!(accord_db::join_tokens::spend(db, claims.jti, claims.org, expires).await?);
    assert!(!accord_db::join_tokens::spend(db, claims.jti, claims.org, expires).await?);

    let audit = w
        .admin
        .ok("{ auditEvents(first: 2) { action targetId } }", json!({}))
        .await?;
    assert_eq!(
        audit["auditEvents"][0]["action"],
        "session.issue_join_token"
    );
    assert_eq!(audit["auditEvents"][0]["targetId"], w.session.as_str());
    Ok(())
}

#[tokio::test]
async fn others_get_none_and_bad_keys_are_refused() -> anyhow::Result<()> {
    let w = world().await?;
    let (_, jwk) = device();
    // An admin who is not on the case may see the session, so is told why.
    assert_eq!(
        w.admin
            .error_code(JOIN, json!({ "s": w.session, "k": jwk }))
            .await?,
        "FORBIDDEN"
    );
    // A party of another case learns nothing.
    assert_eq!(
        w.outsider
            .error_code(JOIN, json!({ "s": w.session, "k": jwk }))
            .await?,
        "NOT_FOUND"
    );
    let missing = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        w.outsider
            .error_code(JOIN, json!({ "s": missing, "k": jwk }))
            .await?,
        "NOT_FOUND"
    );

    for bad in [
        json!({ "kty": "EC", "crv": "P-256", "x": "AA", "y": "AA" }),
        json!({ "kty": "RSA", "n": "AQAB", "e": "AQAB" }),
        json!("not a key"),
        {
            let mut private = jwk.clone();
            private["d"] = json!("AAAA");
            private
        },
    ] {
        let body = w
            .mediator
            .graphql(JOIN, json!({ "s": w.session, "k": bad }))
            .await?;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{body}"
        );
        assert_eq!(
            body["errors"][0]["extensions"]["field"], "deviceKey",
            "{body}"
        );
    }

    w.admin
        .ok(
            "mutation($s: UUID!) { cancelSession(id: $s) { id } }",
            json!({ "s": w.session }),
        )
        .await?;
    assert_eq!(
        w.mediator
            .error_code(JOIN, json!({ "s": w.session, "k": jwk }))
            .await?,
        "CONFLICT"
    );
    let _ = w.case;
    Ok(())
}

#[tokio::test]
async fn another_orgs_session_is_not_found() -> anyhow::Result<()> {
    let w = world().await?;
    let other = w.app.org("southside").await?;
    w.app.member(other, "med@s.test", Role::Mediator).await?;
    let stranger = w.app.sign_in("med@s.test", None).await?;
    let (_, jwk) = device();
    assert_eq!(
        stranger
            .error_code(JOIN, json!({ "s": w.session, "k": jwk }))
            .await?,
        "NOT_FOUND"
    );
    Ok(())
}

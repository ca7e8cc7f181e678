//! Join tokens for the SFU: only the session's people get one, bound to the
//! device key they present; a token's jti is spent once.

use accord_auth::join::{verify_possession, DeviceKey, AUDIENCE};
use accord_domain::Role;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::Signature;
use serde_json::json;

use crate::common::{device, world};

const JOIN: &str = "mutation($s: UUID!, $k: JSON!) { joinToken(sessionId: $s, deviceKey: $k) { token expiresAt role rooms } }";

#[tokio::test]
async fn participants_get_a_device_bound_token() -> anyhow::Result<()> {
    let w = world().await?;
    let (secret, jwk) = {
        let d = device();
        (d.secret, d.jwk)
    };
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

    let jwk = device().jwk;
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
    let jwk = device().jwk;
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
    Ok(())
}

#[tokio::test]
async fn another_orgs_session_is_not_found() -> anyhow::Result<()> {
    let w = world().await?;
    let other = w.app.org("southside").await?;
    w.app.member(other, "med@s.test", Role::Mediator).await?;
    let stranger = w.app.sign_in("med@s.test", None).await?;
    let jwk = device().jwk;
    assert_eq!(
        stranger
            .error_code(JOIN, json!({ "s": w.session, "k": jwk }))
            .await?,
        "NOT_FOUND"
    );
    Ok(())
}

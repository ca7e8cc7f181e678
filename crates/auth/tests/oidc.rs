//! OIDC sign-in against a real OpenID Connect provider (tests/oidc/idp.mjs).
//!
//! Each test starts its own provider, so tests share no IdP sessions or codes. The
//! `scenario+<name>@example.test` accounts make the provider issue an ID token that is wrong in
//! one way; each such test proves that exactly that defect is caught.

use accord_auth::oidc::{OidcClient, OidcConfig, OidcError, PendingLogin, VerifiedIdentity};
use accord_testkit::oidc::TestIdp;
use anyhow::Context as _;

/// Nothing listens here: `TestIdp::authorize` stops at the redirect to it.
const REDIRECT_URI: &str = "http://127.0.0.1:1/callback";

struct Harness {
    idp: TestIdp,
    client: OidcClient,
}

impl Harness {
    async fn start() -> anyhow::Result<Self> {
        let redirect_url = url::Url::parse(REDIRECT_URI)?;
        let idp = TestIdp::start(&redirect_url).await?;
        let client = OidcClient::discover(OidcConfig {
            issuer_url: idp.issuer.clone(),
            client_id: "accord".to_owned(),
            client_secret: "accord-test-secret".into(),
            redirect_url,
        })
        .await?;
        Ok(Self { idp, client })
    }

    /// Runs the browser's part of a sign-in: returns what the server kept, and the `code` and
    /// `state` the IdP sent back to the redirect URI.
    async fn authorize(&self, login_hint: &str) -> anyhow::Result<(PendingLogin, String, String)> {
        let (url, pending) = self.client.begin();
        let callback = self.idp.authorize(&url, login_hint).await?;
        let param = |name: &str| {
            callback
                .query_pairs()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
                .with_context(|| format!("the callback has no {name}: {callback}"))
        };
        Ok((pending, param("code")?, param("state")?))
    }

    async fn sign_in(
        &self,
        login_hint: &str,
    ) -> anyhow::Result<Result<VerifiedIdentity, OidcError>> {
        let (pending, code, state) = self.authorize(login_hint).await?;
        Ok(self.client.complete(&pending, &state, &code).await)
    }

    fn issuer(&self) -> &str {
        self.idp.issuer.as_str().trim_end_matches('/')
    }
}

fn assert_invalid_id_token(result: Result<VerifiedIdentity, OidcError>, expected_reason: &str) {
    match result {
        Err(OidcError::InvalidIdToken(reason)) => assert_eq!(reason, expected_reason),
        other => panic!("expected InvalidIdToken({expected_reason:?}), got {other:?}"),
    }
}

#[tokio::test]
async fn verified_account_signs_in() -> anyhow::Result<()> {
    let harness = Harness::start().await?;

    let (url, pending) = harness.client.begin();
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let get = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    assert_eq!(get("code_challenge_method"), Some("S256"));
    assert_eq!(get("state"), Some(pending.state.as_str()));
    assert!(get("nonce").is_some_and(|nonce| !nonce.is_empty()));
    assert!(get("scope").is_some_and(|scope| scope.split(' ').any(|s| s == "email")));
    let (_, other) = harness.client.begin();
    assert_ne!(
        pending.state, other.state,
        "every sign-in gets its own state"
    );

    let identity = harness.sign_in("alice@example.test").await??;
    assert_eq!(identity.email.as_str(), "alice@example.test");
    assert!(!identity.subject.is_empty());
    assert_eq!(identity.issuer, harness.issuer());

    // The subject is stable per person and distinct between people.
    let again = harness.sign_in("alice@example.test").await??;
    let bob = harness.sign_in("bob@example.test").await??;
    assert_eq!(again.subject, identity.subject);
    assert_ne!(bob.subject, identity.subject);
    Ok(())
}

#[tokio::test]
async fn id_token_for_another_audience_is_rejected() -> anyhow::Result<()> {
    let harness = Harness::start().await?;
    let result = harness.sign_in("scenario+wrong-aud@example.test").await?;
    assert_invalid_id_token(result, "audience");
    Ok(())
}

#[tokio::test]
async fn expired_id_token_is_rejected() -> anyhow::Result<()> {
    let harness = Harness::start().await?;
    let result = harness.sign_in("scenario+expired@example.test").await?;
    assert_invalid_id_token(result, "expired");
    Ok(())
}

#[tokio::test]
async fn id_token_with_another_nonce_is_rejected() -> anyhow::Result<()> {
    let harness = Harness::start().await?;
    let result = harness.sign_in("scenario+wrong-nonce@example.test").await?;
    assert_invalid_id_token(result, "nonce");
    Ok(())
}

#[tokio::test]
async fn id_token_signed_with_an_unpublished_key_is_rejected() -> anyhow::Result<()> {
    let harness = Harness::start().await?;
    let result = harness
        .sign_in("scenario+bad-signature@example.test")
        .await?;
    assert_invalid_id_token(result, "signature");
    Ok(())
}

#[tokio::test]
async fn unverified_email_is_refused() -> anyhow::Result<()> {
    let harness = Harness::start().await?;
    let result = harness.sign_in("unverified@example.test").await?;
    assert!(
        matches!(result, Err(OidcError::UnverifiedEmail)),
        "expected UnverifiedEmail, got {result:?}"
    );
    Ok(())
}

#[tokio::test]
async fn callback_with_another_state_is_refused() -> anyhow::Result<()> {
    let harness = Harness::start().await?;
    let (pending, code, state) = harness.authorize("alice@example.test").await?;
    let forged_state = format!("{state}x");

    let result = harness
        .client
        .complete(&pending, &forged_state, &code)
        .await;
    assert!(
        matches!(result, Err(OidcError::StateMismatch)),
        "expected StateMismatch, got {result:?}"
    );

    // A callback meant for another sign-in attempt is refused too.
    let (other_pending, _, _) = harness.authorize("bob@example.test").await?;
    let result = harness.client.complete(&other_pending, &state, &code).await;
    assert!(
        matches!(result, Err(OidcError::StateMismatch)),
        "expected StateMismatch, got {result:?}"
    );
    Ok(())
}

#[tokio::test]
async fn replayed_code_is_refused() -> anyhow::Result<()> {
    let harness = Harness::start().await?;
    let (pending, code, state) = harness.authorize("alice@example.test").await?;
    harness.client.complete(&pending, &state, &code).await?;

    let result = harness.client.complete(&pending, &state, &code).await;
    match result {
        Err(OidcError::TokenExchange(reason)) => assert!(
            reason.contains("invalid_grant"),
            "unexpected token endpoint error: {reason}"
        ),
        other => panic!("expected TokenExchange, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn unreachable_provider_fails_discovery() {
    let result = OidcClient::discover(OidcConfig {
        issuer_url: url::Url::parse("http://127.0.0.1:1").unwrap(),
        client_id: "accord".to_owned(),
        client_secret: "accord-test-secret".into(),
        redirect_url: url::Url::parse(REDIRECT_URI).unwrap(),
    })
    .await;
    assert!(
        matches!(result, Err(OidcError::Discovery(_))),
        "expected Discovery, got {result:?}"
    );
}

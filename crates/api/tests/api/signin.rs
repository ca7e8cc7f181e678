//! The `/auth` routes under attack: cookies, uniform failures, lockout, org
//! choice, sign-out, single-use password links, TOTP and reset requests.

use std::time::Duration;

use accord_auth::totp;
use accord_domain::Role;
use accord_testkit::{spawn_app, spawn_app_with, AppOptions, Client, TestApp, PASSWORD};
use anyhow::Context as _;
use chrono::Utc;
use reqwest::header::RETRY_AFTER;
use serde_json::{json, Value};

use crate::common::{post, post_raw, read_reply, Reply};

const NEW_PASSWORD: &str = "a-brand-new-password-42";

/// Signs in with a JSON body on a fresh client; the client keeps the cookie
/// and the CSRF token when it worked.
async fn sign_in(app: &TestApp, body: Value) -> anyhow::Result<(Client, Reply)> {
    let mut client = app.client();
    let reply = post(&client, "/auth/sign-in", &body).await?;
    client.csrf = reply.body["csrfToken"].as_str().map(str::to_owned);
    Ok((client, reply))
}

async fn sign_in_password(app: &TestApp, email: &str, password: &str) -> anyhow::Result<Reply> {
    Ok(
        sign_in(app, json!({ "email": email, "password": password }))
            .await?
            .1,
    )
}

/// `extensions.code` of the first error of `{ viewer { role } }`, or "" when it worked.
async fn viewer_error(client: &Client) -> anyhow::Result<String> {
    let body = client.graphql("{ viewer { role } }", json!({})).await?;
    if body["data"]["viewer"]["role"].is_string() && body.get("errors").is_none() {
        return Ok(String::new());
    }
    Ok(body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("NO CODE")
        .to_owned())
}

/// `{ viewer { role } }` sent with nothing but a raw session cookie, as an
/// attacker who kept a copy of it would.
async fn viewer_with_cookie(app: &TestApp, token: &str) -> anyhow::Result<Value> {
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", app.base_url))
        .header("cookie", format!("accord_session={token}"))
        .json(&json!({ "query": "{ viewer { role } }" }))
        .send()
        .await?;
    Ok(read_reply(response).await?.body)
}

fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

/// The token of the newest link in the outbox sent to `to`.
async fn link_token(app: &TestApp, to: &str) -> anyhow::Result<String> {
    app.settle_mail().await?;
    let message = app
        .messages()
        .into_iter()
        .rev()
        .find(|m| m.to == to)
        .with_context(|| format!("no message to {to} in the outbox"))?;
    let link = message
        .body
        .split_whitespace()
        .find(|w| w.contains("#token="))
        .with_context(|| format!("no link in {:?}", message.body))?;
    assert!(
        link.starts_with(&format!("{}/password#token=", app.base_url)),
        "unexpected link {link}"
    );
    let token = link
        .split_once("#token=")
        .map(|(_, t)| t.to_owned())
        .unwrap_or_default();
    anyhow::ensure!(!token.is_empty(), "empty token in {link}");
    Ok(token)
}

/// An admin invites `email` as a mediator over GraphQL.
async fn invite(admin: &Client, email: &str) -> anyhow::Result<()> {
    admin
        .ok(
            "mutation($e: String!) { inviteMember(input: {email: $e, displayName: \"New Person\", role: MEDIATOR}) { user { email } activated } }",
            json!({ "e": email }),
        )
        .await?;
    Ok(())
}

#[tokio::test]
async fn sign_in_sets_an_http_only_lax_cookie_and_returns_the_session() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("acme").await?;
    let user = app.member(org, "admin@acme.test", Role::OrgAdmin).await?;

    let (client, reply) = sign_in(
        &app,
        json!({ "email": "admin@acme.test", "password": PASSWORD }),
    )
    .await?;
    assert_eq!(reply.status, 200, "{reply:?}");
    let cookies = reply.set_cookie();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let attrs: Vec<String> = cookies[0]
        .split(';')
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    let token = reply.session_token().context("no session cookie")?;
    assert!(token.len() >= 32, "session token too short: {token}");
    assert!(attrs.contains(&"httponly".to_owned()), "{cookies:?}");
    assert!(attrs.contains(&"samesite=lax".to_owned()), "{cookies:?}");
    assert!(attrs.contains(&"path=/".to_owned()), "{cookies:?}");
    assert!(
        attrs.iter().any(|a| a.starts_with("max-age=")),
        "{cookies:?}"
    );
    // Plain-http localhost: a Secure cookie would never come back.
    assert!(!attrs.contains(&"secure".to_owned()), "{cookies:?}");

    let csrf = reply.body["csrfToken"].as_str().context("no csrfToken")?;
    assert!(!csrf.is_empty());
    assert_ne!(csrf, token, "the CSRF token must not be the session token");
    assert_eq!(reply.body["userId"], json!(user.as_uuid().to_string()));
    assert_eq!(reply.body["orgId"], json!(org.as_uuid().to_string()));
    assert_eq!(reply.body["role"], "org_admin");
    // The session token never appears in the body.
    assert!(!reply.body.to_string().contains(&token));

    // The cookie works, and /auth/session hands back the same CSRF token.
    let data = client
        .ok("{ viewer { role user { email } } }", json!({}))
        .await?;
    assert_eq!(data["viewer"]["role"], "ORG_ADMIN");
    let session = read_reply(
        client
            .http
            .get(format!("{}/auth/session", app.base_url))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(session.status, 200);
    assert_eq!(session.body["csrfToken"], csrf);
    Ok(())
}

#[tokio::test]
async fn wrong_password_and_unknown_email_fail_alike() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("acme").await?;
    app.member(org, "admin@acme.test", Role::OrgAdmin).await?;

    let wrong = sign_in_password(&app, "admin@acme.test", "not-the-password").await?;
    let unknown = sign_in_password(&app, "nobody@acme.test", "not-the-password").await?;
    for reply in [&wrong, &unknown] {
        assert_eq!(reply.status, 401, "{reply:?}");
        assert_eq!(reply.rest_code(), "UNAUTHENTICATED");
        assert!(
            reply.set_cookie().is_empty(),
            "a failed sign-in set a cookie: {reply:?}"
        );
    }
    assert_eq!(wrong.rest_message(), unknown.rest_message());
    assert_eq!(
        wrong.body, unknown.body,
        "the bodies tell known and unknown accounts apart"
    );

    let malformed = sign_in_password(&app, "not-an-email", PASSWORD).await?;
    assert_eq!(malformed.status, 400, "{malformed:?}");
    assert_eq!(malformed.rest_code(), "BAD_USER_INPUT");

    let client = app.client();
    let extra = post(
        &client,
        "/auth/sign-in",
        &json!({ "email": "admin@acme.test", "password": PASSWORD, "role": "org_admin" }),
    )
    .await?;
    assert_eq!(extra.status, 400, "{extra:?}");
    assert_eq!(extra.rest_code(), "BAD_USER_INPUT");
    assert!(extra.set_cookie().is_empty());

    let missing = post(
        &client,
        "/auth/sign-in",
        &json!({ "email": "admin@acme.test" }),
    )
    .await?;
    assert_eq!(missing.status, 400, "{missing:?}");
    assert_eq!(missing.rest_code(), "BAD_USER_INPUT");

    let not_json = post_raw(
        &client,
        "/auth/sign-in",
        Some("application/json"),
        b"email=admin@acme.test".to_vec(),
    )
    .await?;
    assert_eq!(not_json.status, 400, "{not_json:?}");
    assert_eq!(not_json.rest_code(), "BAD_USER_INPUT");
    Ok(())
}

#[tokio::test]
async fn five_failures_lock_the_account_even_for_the_right_password() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("acme").await?;
    app.member(org, "victim@acme.test", Role::Mediator).await?;
    app.member(org, "bystander@acme.test", Role::Mediator)
        .await?;
    app.member(org, "typo@acme.test", Role::Mediator).await?;

    for attempt in 1..=5 {
        let reply =
            sign_in_password(&app, "victim@acme.test", &format!("guess-number-{attempt}")).await?;
        assert_eq!(reply.status, 401, "attempt {attempt}: {reply:?}");
    }
    let locked = sign_in_password(&app, "victim@acme.test", PASSWORD).await?;
    assert_eq!(locked.status, 429, "{locked:?}");
    assert_eq!(locked.rest_code(), "RATE_LIMITED");
    assert!(
        locked.set_cookie().is_empty(),
        "a locked account got a session"
    );
    let retry_after: u64 = locked
        .headers
        .get(RETRY_AFTER)
        .context("no Retry-After")?
        .to_str()?
        .parse()?;
    assert!((1..=30).contains(&retry_after), "Retry-After {retry_after}");
    assert!(
        locked.rest_message().contains("try again"),
        "{}",
        locked.rest_message()
    );

    // The lock is per account.
    assert_eq!(
        sign_in_password(&app, "bystander@acme.test", PASSWORD)
            .await?
            .status,
        200
    );

    // Four typos are free, and a success starts the count again.
    for round in 0..2 {
        for attempt in 1..=4 {
            let reply = sign_in_password(&app, "typo@acme.test", "typo-typo-typo").await?;
            assert_eq!(reply.status, 401, "round {round} attempt {attempt}");
        }
        let ok = sign_in_password(&app, "typo@acme.test", PASSWORD).await?;
        assert_eq!(ok.status, 200, "round {round}: {ok:?}");
    }
    Ok(())
}

#[tokio::test]
async fn a_member_of_two_orgs_must_name_one() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alpha = app.org("alpha").await?;
    let beta = app.org("beta").await?;
    let gamma = app.org("gamma").await?;
    app.member(alpha, "both@example.test", Role::OrgAdmin)
        .await?;
    app.member(beta, "both@example.test", Role::Mediator)
        .await?;
    app.member(gamma, "other@example.test", Role::OrgAdmin)
        .await?;

    let (_, ambiguous) = sign_in(
        &app,
        json!({ "email": "both@example.test", "password": PASSWORD }),
    )
    .await?;
    assert_eq!(ambiguous.status, 400, "{ambiguous:?}");
    assert_eq!(ambiguous.rest_code(), "BAD_USER_INPUT");
    assert_eq!(ambiguous.rest_field(), "org");
    assert!(ambiguous.set_cookie().is_empty());

    let (client, named) = sign_in(
        &app,
        json!({ "email": "both@example.test", "password": PASSWORD, "org": "beta" }),
    )
    .await?;
    assert_eq!(named.status, 200, "{named:?}");
    assert_eq!(named.body["orgId"], json!(beta.as_uuid().to_string()));
    assert_eq!(named.body["role"], "mediator");
    let data = client
        .ok("{ viewer { role organization { slug } } }", json!({}))
        .await?;
    assert_eq!(data["viewer"]["role"], "MEDIATOR");
    assert_eq!(data["viewer"]["organization"]["slug"], "beta");

    let (_, foreign) = sign_in(
        &app,
        json!({ "email": "both@example.test", "password": PASSWORD, "org": "gamma" }),
    )
    .await?;
    assert_eq!(foreign.status, 403, "{foreign:?}");
    assert_eq!(foreign.rest_code(), "FORBIDDEN");
    assert!(foreign.set_cookie().is_empty());

    // An org that does not exist looks exactly like one the account is not in.
    let (_, missing) = sign_in(
        &app,
        json!({ "email": "both@example.test", "password": PASSWORD, "org": "nowhere" }),
    )
    .await?;
    assert_eq!(missing.status, 403, "{missing:?}");
    assert_eq!(missing.body, foreign.body);

    // A single-org account naming another org is refused too.
    let (_, single) = sign_in(
        &app,
        json!({ "email": "other@example.test", "password": PASSWORD, "org": "alpha" }),
    )
    .await?;
    assert_eq!(single.status, 403, "{single:?}");
    Ok(())
}

#[tokio::test]
async fn sign_out_revokes_the_session_on_the_server() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("acme").await?;
    app.member(org, "admin@acme.test", Role::OrgAdmin).await?;
    let (client, reply) = sign_in(
        &app,
        json!({ "email": "admin@acme.test", "password": PASSWORD }),
    )
    .await?;
    let token = reply.session_token().context("no cookie")?;
    let alive = viewer_with_cookie(&app, &token).await?;
    assert_eq!(alive["data"]["viewer"]["role"], "ORG_ADMIN", "{alive}");

    // Sign-out is state-changing: a cross-site page must not be able to do it.
    let mut no_csrf = client.clone();
    no_csrf.csrf = None;
    let refused = post(&no_csrf, "/auth/sign-out", &json!({})).await?;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(
        viewer_error(&client).await?,
        "",
        "the session died without a CSRF token"
    );

    let out = post(&client, "/auth/sign-out", &json!({})).await?;
    assert_eq!(out.status, 204, "{out:?}");
    let cleared = out.set_cookie();
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("accord_session=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    assert_eq!(viewer_error(&client).await?, "UNAUTHENTICATED");
    // Not only is the cookie cleared: the token itself is dead.
    let replay = viewer_with_cookie(&app, &token).await?;
    assert_eq!(error_code(&replay), "UNAUTHENTICATED", "{replay}");
    assert!(replay["data"]["viewer"].is_null(), "{replay}");
    let session = read_reply(
        reqwest::Client::new()
            .get(format!("{}/auth/session", app.base_url))
            .header("cookie", format!("accord_session={token}"))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(session.status, 401, "{session:?}");
    Ok(())
}

#[tokio::test]
async fn sign_out_everywhere_ends_every_session_of_the_account() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("acme").await?;
    app.member(org, "admin@acme.test", Role::OrgAdmin).await?;
    app.member(org, "other@acme.test", Role::Mediator).await?;
    let (laptop, first) = sign_in(
        &app,
        json!({ "email": "admin@acme.test", "password": PASSWORD }),
    )
    .await?;
    let (phone, second) = sign_in(
        &app,
        json!({ "email": "admin@acme.test", "password": PASSWORD }),
    )
    .await?;
    let other = app.sign_in("other@acme.test", None).await?;
    let laptop_token = first.session_token().context("no cookie")?;
    let phone_token = second.session_token().context("no cookie")?;
    assert_ne!(laptop_token, phone_token);
    assert_eq!(viewer_error(&phone).await?, "");

    let mut no_csrf = laptop.clone();
    no_csrf.csrf = None;
    assert_eq!(
        post(&no_csrf, "/auth/sign-out-everywhere", &json!({}))
            .await?
            .status,
        403
    );
    assert_eq!(viewer_error(&phone).await?, "");

    let ended = post(&laptop, "/auth/sign-out-everywhere", &json!({})).await?;
    assert_eq!(ended.status, 200, "{ended:?}");
    assert_eq!(ended.body["endedSessions"], 2);
    assert_eq!(viewer_error(&phone).await?, "UNAUTHENTICATED");
    assert_eq!(viewer_error(&laptop).await?, "UNAUTHENTICATED");
    for token in [&laptop_token, &phone_token] {
        let body = viewer_with_cookie(&app, token).await?;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    }
    // Someone else's session is untouched.
    assert_eq!(viewer_error(&other).await?, "");
    Ok(())
}

#[tokio::test]
async fn a_setup_link_sets_a_password_exactly_once() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("acme").await?;
    app.member(org, "admin@acme.test", Role::OrgAdmin).await?;
    let admin = app.sign_in("admin@acme.test", None).await?;
    invite(&admin, "new@acme.test").await?;
    let token = link_token(&app, "new@acme.test").await?;

    // No password yet: nothing signs in.
    assert_eq!(
        sign_in_password(&app, "new@acme.test", NEW_PASSWORD)
            .await?
            .status,
        401
    );

    let anon = app.client();
    let short = post(
        &anon,
        "/auth/password",
        &json!({ "token": token, "password": "short" }),
    )
    .await?;
    assert_eq!(short.status, 400, "{short:?}");
    assert_eq!(short.rest_code(), "BAD_USER_INPUT");
    assert_eq!(short.rest_field(), "password");

    let garbage = post(
        &anon,
        "/auth/password",
        &json!({ "token": "not-a-token-at-all", "password": NEW_PASSWORD }),
    )
    .await?;
    assert_eq!(garbage.status, 400, "{garbage:?}");
    assert_eq!(garbage.rest_field(), "token");
    assert!(
        garbage.rest_message().contains("not valid"),
        "{}",
        garbage.rest_message()
    );

    let extra = post(
        &anon,
        "/auth/password",
        &json!({ "token": token, "password": NEW_PASSWORD, "email": "admin@acme.test" }),
    )
    .await?;
    assert_eq!(extra.status, 400, "{extra:?}");

    // The refused attempts did not spend the link.
    let set = post(
        &anon,
        "/auth/password",
        &json!({ "token": token, "password": NEW_PASSWORD }),
    )
    .await?;
    assert_eq!(set.status, 200, "{set:?}");
    assert!(
        set.set_cookie().is_empty(),
        "setting a password must not sign in by itself"
    );

    let (client, signed_in) = sign_in(
        &app,
        json!({ "email": "new@acme.test", "password": NEW_PASSWORD }),
    )
    .await?;
    assert_eq!(signed_in.status, 200, "{signed_in:?}");
    assert_eq!(signed_in.body["role"], "mediator");
    assert_eq!(
        client.ok("{ viewer { role } }", json!({})).await?["viewer"]["role"],
        "MEDIATOR"
    );

    let reuse = post(
        &anon,
        "/auth/password",
        &json!({ "token": token, "password": "an-attackers-password" }),
    )
    .await?;
    assert_eq!(reuse.status, 400, "{reuse:?}");
    assert_eq!(reuse.rest_code(), "BAD_USER_INPUT");
    assert_eq!(reuse.rest_field(), "token");
    assert!(
        reuse.rest_message().contains("already"),
        "{}",
        reuse.rest_message()
    );
    assert_eq!(
        sign_in_password(&app, "new@acme.test", "an-attackers-password")
            .await?
            .status,
        401
    );
    assert_eq!(
        sign_in_password(&app, "new@acme.test", NEW_PASSWORD)
            .await?
            .status,
        200
    );
    Ok(())
}

#[tokio::test]
async fn an_expired_setup_link_is_refused() -> anyhow::Result<()> {
    let app = spawn_app_with(AppOptions {
        setup_link_ttl: Duration::from_secs(1),
        ..AppOptions::default()
    })
    .await?;
    let org = app.org("acme").await?;
    app.member(org, "admin@acme.test", Role::OrgAdmin).await?;
    let admin = app.sign_in("admin@acme.test", None).await?;
    invite(&admin, "late@acme.test").await?;
    let token = link_token(&app, "late@acme.test").await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let reply = post(
        &app.client(),
        "/auth/password",
        &json!({ "token": token, "password": NEW_PASSWORD }),
    )
    .await?;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.rest_code(), "BAD_USER_INPUT");
    assert_eq!(reply.rest_field(), "token");
    assert!(
        reply.rest_message().contains("expired"),
        "{}",
        reply.rest_message()
    );
    assert_eq!(
        sign_in_password(&app, "late@acme.test", NEW_PASSWORD)
            .await?
            .status,
        401
    );
    Ok(())
}

#[tokio::test]
async fn a_new_password_ends_the_accounts_existing_sessions() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("acme").await?;
    app.member(org, "pat@acme.test", Role::Mediator).await?;
    app.member(org, "other@acme.test", Role::Mediator).await?;
    let (thief, reply) = sign_in(
        &app,
        json!({ "email": "pat@acme.test", "password": PASSWORD }),
    )
    .await?;
    let thief_token = reply.session_token().context("no cookie")?;
    let other = app.sign_in("other@acme.test", None).await?;
    assert_eq!(viewer_error(&thief).await?, "");

    let requested = post(
        &app.client(),
        "/auth/password/reset",
        &json!({ "email": "pat@acme.test" }),
    )
    .await?;
    assert_eq!(requested.status, 202, "{requested:?}");
    app.wait_for_message_to("pat@acme.test").await?;
    let token = link_token(&app, "pat@acme.test").await?;
    let set = post(
        &app.client(),
        "/auth/password",
        &json!({ "token": token, "password": NEW_PASSWORD }),
    )
    .await?;
    assert_eq!(set.status, 200, "{set:?}");

    assert_eq!(viewer_error(&thief).await?, "UNAUTHENTICATED");
    let replay = viewer_with_cookie(&app, &thief_token).await?;
    assert_eq!(error_code(&replay), "UNAUTHENTICATED", "{replay}");
    assert_eq!(
        viewer_error(&other).await?,
        "",
        "another account's session ended"
    );
    assert_eq!(
        sign_in_password(&app, "pat@acme.test", PASSWORD)
            .await?
            .status,
        401
    );
    assert_eq!(
        sign_in_password(&app, "pat@acme.test", NEW_PASSWORD)
            .await?
            .status,
        200
    );
    // The reset link is single-use as well.
    let again = post(
        &app.client(),
        "/auth/password",
        &json!({ "token": token, "password": PASSWORD }),
    )
    .await?;
    assert_eq!(again.status, 400, "{again:?}");
    assert_eq!(again.rest_field(), "token");
    Ok(())
}

/// Codes of the TOTP secret, one time step after another so none is a replay.
struct Authenticator {
    secret: Vec<u8>,
    step: i64,
}

impl Authenticator {
    /// Starts at the step before the current one (accepted as clock skew), so
    /// the next two steps stay within the server's window for a while.
    fn new(secret_base32: &str) -> anyhow::Result<Self> {
        let secret = data_encoding::BASE32_NOPAD.decode(secret_base32.as_bytes())?;
        Ok(Authenticator {
            secret,
            step: totp::step_at(Utc::now().timestamp()) - 2,
        })
    }

    /// The next unused step's code.
    fn next(&mut self) -> String {
        self.step += 1;
        let now = totp::step_at(Utc::now().timestamp());
        assert!(
            (now - 1..=now + 1).contains(&self.step),
            "step {} is outside the window around {now}",
            self.step
        );
        totp::code_at_step(&self.secret, self.step)
    }

    /// A six-digit code that no step near now produces.
    fn wrong(&self) -> String {
        let now = totp::step_at(Utc::now().timestamp());
        let valid: Vec<String> = (now - 3..=now + 3)
            .map(|s| totp::code_at_step(&self.secret, s))
            .collect();
        (0..10u32)
            .map(|d| d.to_string().repeat(6))
            .find(|c| !valid.contains(c))
            .unwrap_or_default()
    }
}

/// Waits, when needed, so that the next five seconds stay within one time step.
async fn away_from_a_step_boundary() {
    let into_step = Utc::now().timestamp().rem_euclid(30);
    if into_step >= 25 {
        tokio::time::sleep(Duration::from_secs(
            u64::try_from(31 - into_step).unwrap_or(6),
        ))
        .await;
    }
}

/// Signs `email` in and turns TOTP on; returns the authenticator and recovery codes.
async fn enrol(app: &TestApp, email: &str) -> anyhow::Result<(Client, Authenticator, Vec<String>)> {
    let client = app.sign_in(email, None).await?;
    let setup = post(&client, "/auth/totp/setup", &json!({})).await?;
    assert_eq!(setup.status, 200, "{setup:?}");
    let secret = setup.body["secret"].as_str().context("no secret")?;
    let uri = setup.body["otpauthUri"].as_str().context("no otpauthUri")?;
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(secret), "{uri}");
    away_from_a_step_boundary().await;
    let mut authenticator = Authenticator::new(secret)?;

    let wrong = post(
        &client,
        "/auth/totp/confirm",
        &json!({ "code": authenticator.wrong() }),
    )
    .await?;
    assert_eq!(wrong.status, 400, "{wrong:?}");
    assert_eq!(wrong.rest_field(), "code");

    let confirmed = post(
        &client,
        "/auth/totp/confirm",
        &json!({ "code": authenticator.next() }),
    )
    .await?;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    let codes: Vec<String> = confirmed.body["recoveryCodes"]
        .as_array()
        .context("no recoveryCodes")?
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    Ok((client, authenticator, codes))
}

#[tokio::test]
async fn totp_is_required_once_on_and_codes_cannot_be_replayed() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("acme").await?;
    app.member(org, "med@acme.test", Role::Mediator).await?;

    // Enrolment is state-changing: no CSRF token, no secret.
    let client = app.sign_in("med@acme.test", None).await?;
    let mut no_csrf = client.clone();
    no_csrf.csrf = None;
    let refused = post(&no_csrf, "/auth/totp/setup", &json!({})).await?;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(refused.rest_code(), "FORBIDDEN");
    assert!(refused.body.get("secret").is_none());
    let anonymous = post(&app.client(), "/auth/totp/setup", &json!({})).await?;
    assert_eq!(anonymous.status, 401, "{anonymous:?}");

    let (client, mut authenticator, codes) = enrol(&app, "med@acme.test").await?;
    assert_eq!(codes.len(), 10, "{codes:?}");
    let distinct: std::collections::HashSet<&String> = codes.iter().collect();
    assert_eq!(distinct.len(), 10, "{codes:?}");
    let again = post(&client, "/auth/totp/setup", &json!({})).await?;
    assert_eq!(
        again.status, 409,
        "enrolling over an active device: {again:?}"
    );

    let password_only = json!({ "email": "med@acme.test", "password": PASSWORD });
    let (_, missing) = sign_in(&app, password_only.clone()).await?;
    assert_eq!(missing.status, 400, "{missing:?}");
    assert_eq!(missing.rest_code(), "BAD_USER_INPUT");
    assert_eq!(missing.rest_field(), "totpCode");
    assert!(
        missing.set_cookie().is_empty(),
        "a password alone got a session"
    );

    let wrong_code = authenticator.wrong();
    let (_, wrong) = sign_in(
        &app,
        json!({ "email": "med@acme.test", "password": PASSWORD, "totpCode": wrong_code }),
    )
    .await?;
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert_eq!(wrong.rest_code(), "UNAUTHENTICATED");
    assert!(wrong.set_cookie().is_empty());

    // A right code with a wrong password is still a wrong password.
    let code = authenticator.next();
    let (_, bad_password) = sign_in(
        &app,
        json!({ "email": "med@acme.test", "password": "not-the-password", "totpCode": code }),
    )
    .await?;
    assert_eq!(bad_password.status, 401, "{bad_password:?}");

    let with_code = json!({ "email": "med@acme.test", "password": PASSWORD, "totpCode": code });
    let (second, ok) = sign_in(&app, with_code.clone()).await?;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(viewer_error(&second).await?, "");

    let (_, replay) = sign_in(&app, with_code).await?;
    assert_eq!(replay.status, 401, "a TOTP code worked twice: {replay:?}");
    assert!(replay.set_cookie().is_empty());

    let recovery =
        json!({ "email": "med@acme.test", "password": PASSWORD, "recoveryCode": codes[0] });
    let (_, first_use) = sign_in(&app, recovery.clone()).await?;
    assert_eq!(first_use.status, 200, "{first_use:?}");
    let (_, second_use) = sign_in(&app, recovery).await?;
    assert_eq!(
        second_use.status, 401,
        "a recovery code worked twice: {second_use:?}"
    );
    let (_, garbage) = sign_in(
        &app,
        json!({ "email": "med@acme.test", "password": PASSWORD, "recoveryCode": "aaaa-bbbb-cccc" }),
    )
    .await?;
    assert_eq!(garbage.status, 401, "{garbage:?}");

    // Turning it off takes a current code and the CSRF token.
    let mut no_csrf = client.clone();
    no_csrf.csrf = None;
    let refused = post(
        &no_csrf,
        "/auth/totp/disable",
        &json!({ "code": authenticator.wrong() }),
    )
    .await?;
    assert_eq!(refused.status, 403, "{refused:?}");
    let wrong_disable = post(
        &client,
        "/auth/totp/disable",
        &json!({ "code": authenticator.wrong() }),
    )
    .await?;
    assert_eq!(wrong_disable.status, 400, "{wrong_disable:?}");
    assert_eq!(wrong_disable.rest_field(), "code");
    let replayed_disable = post(&client, "/auth/totp/disable", &json!({ "code": code })).await?;
    assert_eq!(
        replayed_disable.status, 400,
        "disabled with a used code: {replayed_disable:?}"
    );
    let disabled = post(
        &client,
        "/auth/totp/disable",
        &json!({ "code": authenticator.next() }),
    )
    .await?;
    assert_eq!(disabled.status, 204, "{disabled:?}");

    let (_, plain) = sign_in(&app, password_only).await?;
    assert_eq!(plain.status, 200, "{plain:?}");

    // The old recovery codes died with the old device.
    let (_, _, new_codes) = enrol(&app, "med@acme.test").await?;
    assert!(new_codes.iter().all(|c| !codes.contains(c)));
    let (_, stale) = sign_in(
        &app,
        json!({ "email": "med@acme.test", "password": PASSWORD, "recoveryCode": codes[1] }),
    )
    .await?;
    assert_eq!(
        stale.status, 401,
        "a recovery code outlived its device: {stale:?}"
    );
    let (_, fresh) = sign_in(
        &app,
        json!({ "email": "med@acme.test", "password": PASSWORD, "recoveryCode": new_codes[0].to_uppercase() }),
    )
    .await?;
    assert_eq!(fresh.status, 200, "{fresh:?}");
    Ok(())
}

#[tokio::test]
async fn wrong_totp_codes_count_towards_the_lockout() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("acme").await?;
    app.member(org, "med@acme.test", Role::Mediator).await?;
    let (_, mut authenticator, _) = enrol(&app, "med@acme.test").await?;

    for attempt in 1..=5 {
        let (_, reply) = sign_in(
            &app,
            json!({ "email": "med@acme.test", "password": PASSWORD, "totpCode": authenticator.wrong() }),
        )
        .await?;
        assert_eq!(reply.status, 401, "attempt {attempt}: {reply:?}");
    }
    let (_, locked) = sign_in(
        &app,
        json!({ "email": "med@acme.test", "password": PASSWORD, "totpCode": authenticator.next() }),
    )
    .await?;
    assert_eq!(
        locked.status, 429,
        "guessing codes does not lock the account: {locked:?}"
    );
    assert!(locked.headers.get(RETRY_AFTER).is_some());
    Ok(())
}

#[tokio::test]
async fn reset_requests_look_the_same_for_known_and_unknown_addresses() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("acme").await?;
    app.member(org, "pat@acme.test", Role::Mediator).await?;
    let client = app.client();

    let before = app.messages().len();
    let unknown = post(
        &client,
        "/auth/password/reset",
        &json!({ "email": "ghost@acme.test" }),
    )
    .await?;
    assert_eq!(unknown.status, 202, "{unknown:?}");
    assert_eq!(
        app.messages().len(),
        before,
        "a message went to an address with no account"
    );

    let known = post(
        &client,
        "/auth/password/reset",
        &json!({ "email": "pat@acme.test" }),
    )
    .await?;
    assert_eq!(known.status, 202, "{known:?}");
    assert_eq!(known.body, unknown.body);
    assert!(known.set_cookie().is_empty());
    // Mail goes out after the answer; the unknown address's request was
    // handled first, so by the time the known one's message is here, any
    // message to the unknown address would be too.
    app.wait_for_message_to("pat@acme.test").await?;
    let messages = app.messages();
    assert_eq!(messages.len(), before + 1);
    let message = messages.last().context("no message")?;
    assert_eq!(message.to, "pat@acme.test");
    assert!(!link_token(&app, "pat@acme.test").await?.is_empty());
    assert!(messages.iter().all(|m| m.to != "ghost@acme.test"));

    let malformed = post(&client, "/auth/password/reset", &json!({ "email": "nope" })).await?;
    assert_eq!(malformed.status, 400, "{malformed:?}");
    assert_eq!(malformed.rest_code(), "BAD_USER_INPUT");
    Ok(())
}

/// The lock-out must not turn into an oracle for which addresses have an
/// account: docs/SECURITY.md promises that unknown emails "get the same
/// answer" as wrong passwords, and lists enumeration of who is in mediation as
/// a threat. After five failures, a known and an unknown address must still
/// answer alike.
#[tokio::test]
async fn the_lockout_does_not_reveal_which_addresses_have_accounts() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("acme").await?;
    app.member(org, "known@acme.test", Role::Mediator).await?;

    let mut sixth = Vec::new();
    for email in ["known@acme.test", "unknown@acme.test"] {
        for attempt in 1..=5 {
            let reply = sign_in_password(&app, email, "wrong-password-guess").await?;
            assert_eq!(reply.status, 401, "{email} attempt {attempt}: {reply:?}");
        }
        sixth.push(sign_in_password(&app, email, "wrong-password-guess").await?);
    }
    let (known, unknown) = (&sixth[0], &sixth[1]);
    assert_eq!(
        (known.status, known.rest_code()),
        (unknown.status, unknown.rest_code()),
        "the sixth attempt tells a locked account from no account: known {known:?}, unknown {unknown:?}"
    );
    assert_eq!(
        known.headers.get(RETRY_AFTER).is_some(),
        unknown.headers.get(RETRY_AFTER).is_some()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guesses_are_all_counted() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("acme").await?;
    app.member(org, "victim@acme.test", Role::Mediator).await?;

    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..12 {
        let client = app.client();
        guesses.spawn(async move {
            post(
                &client,
                "/auth/sign-in",
                &json!({ "email": "victim@acme.test", "password": format!("parallel-guess-{i}") }),
            )
            .await
            .map(|r| r.status)
        });
    }
    while let Some(status) = guesses.join_next().await {
        let status = status??;
        assert!(
            status == 401 || status == 429,
            "a wrong guess answered {status}"
        );
    }
    let right = sign_in_password(&app, "victim@acme.test", PASSWORD).await?;
    assert_eq!(
        right.status, 429,
        "parallel guesses slipped past the lock-out: {right:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_link_redeemed_concurrently_works_once() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("acme").await?;
    app.member(org, "admin@acme.test", Role::OrgAdmin).await?;
    let admin = app.sign_in("admin@acme.test", None).await?;
    invite(&admin, "new@acme.test").await?;
    let token = link_token(&app, "new@acme.test").await?;

    let mut redemptions = tokio::task::JoinSet::new();
    for i in 0..6 {
        let client = app.client();
        let token = token.clone();
        redemptions.spawn(async move {
            let password = format!("racing-password-{i}");
            let reply = post(
                &client,
                "/auth/password",
                &json!({ "token": token, "password": password }),
            )
            .await;
            reply.map(|r| (r.status, r.rest_field().to_owned(), password))
        });
    }
    let mut winners = Vec::new();
    while let Some(result) = redemptions.join_next().await {
        let (status, field, password) = result??;
        match status {
            200 => winners.push(password),
            400 => assert_eq!(field, "token"),
            other => panic!("a redemption answered {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "the link worked {} times", winners.len());
    assert_eq!(
        sign_in_password(&app, "new@acme.test", &winners[0])
            .await?
            .status,
        200
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_totp_code_raced_twice_signs_in_once() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("acme").await?;
    app.member(org, "med@acme.test", Role::Mediator).await?;
    let (_, mut authenticator, _) = enrol(&app, "med@acme.test").await?;
    let code = authenticator.next();

    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let client = app.client();
        let body = json!({ "email": "med@acme.test", "password": PASSWORD, "totpCode": code });
        attempts.spawn(async move {
            post(&client, "/auth/sign-in", &body)
                .await
                .map(|r| r.status)
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = attempts.join_next().await {
        statuses.push(status??);
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401, 401, 401], "one code, several sessions");
    Ok(())
}

#[tokio::test]
async fn a_burst_of_sign_ins_never_starves_the_connection_pool() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("northside").await?;
    app.member(org, "known@northside.test", Role::OrgAdmin)
        .await?;
    // More concurrent attempts than the pool has connections (20), on many
    // addresses and on one: each must end as a normal refusal, never a 500.
    let attempts = (0..30).map(|i| {
        let email = if i % 3 == 0 {
            "known@northside.test".to_owned()
        } else {
            format!("nobody{i}@northside.test")
        };
        let app = &app;
        async move { sign_in_password(app, &email, "not-the-password").await }
    });
    for reply in futures_join_all(attempts).await {
        let reply = reply?;
        assert!(matches!(reply.status, 401 | 429), "{reply:?}");
    }
    let admin = app.sign_in("known@northside.test", None).await;
    // The account may be locked by the burst; the API itself must still answer.
    match admin {
        Ok(admin) => {
            admin.ok("{ viewer { role } }", json!({})).await?;
        }
        Err(_) => {
            let reply = sign_in_password(&app, "known@northside.test", PASSWORD).await?;
            assert_eq!(reply.status, 429, "{reply:?}");
        }
    }
    Ok(())
}

/// Awaits every future concurrently; outputs in input order.
async fn futures_join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut pending: Vec<_> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (slot, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot {
                if let std::task::Poll::Ready(v) = future.as_mut().poll(cx) {
                    *output = Some(v);
                    *slot = None;
                }
            }
        }
        if pending.iter().all(Option::is_none) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[tokio::test]
async fn a_new_password_voids_every_other_outstanding_link() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("northside").await?;
    app.member(org, "admin@northside.test", Role::OrgAdmin)
        .await?;
    let admin = app.sign_in("admin@northside.test", None).await?;
    invite(&admin, "new@northside.test").await?;
    let setup = link_token(&app, "new@northside.test").await?;
    let anonymous = app.client();
    let reset = post(
        &anonymous,
        "/auth/password/reset",
        &json!({ "email": "new@northside.test" }),
    )
    .await?;
    assert_eq!(reset.status, 202);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while app
        .messages()
        .iter()
        .filter(|m| m.to == "new@northside.test")
        .count()
        < 2
    {
        anyhow::ensure!(std::time::Instant::now() < deadline, "no reset message");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let reset = link_token(&app, "new@northside.test").await?;
    assert_ne!(setup, reset);
    let first = post(
        &anonymous,
        "/auth/password",
        &json!({ "token": reset, "password": "a brand new password" }),
    )
    .await?;
    assert_eq!(first.status, 200, "{first:?}");
    let older = post(
        &anonymous,
        "/auth/password",
        &json!({ "token": setup, "password": "someone elses password" }),
    )
    .await?;
    assert_eq!(older.status, 400, "{older:?}");
    assert!(older.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("already been used"));
    assert_eq!(
        sign_in_password(&app, "new@northside.test", "a brand new password")
            .await?
            .status,
        200
    );
    Ok(())
}

#[tokio::test]
async fn setting_a_password_is_in_the_audit_log() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("northside").await?;
    app.member(org, "admin@northside.test", Role::OrgAdmin)
        .await?;
    let admin = app.sign_in("admin@northside.test", None).await?;
    invite(&admin, "new@northside.test").await?;
    let token = link_token(&app, "new@northside.test").await?;
    let set = post(
        &app.client(),
        "/auth/password",
        &json!({ "token": token, "password": "a brand new password" }),
    )
    .await?;
    assert_eq!(set.status, 200, "{set:?}");
    let events = admin
        .ok("{ auditEvents(first: 5) { action targetId } }", json!({}))
        .await?;
    let newest = &events["auditEvents"][0];
    assert_eq!(newest["action"], "auth.password_set", "{events}");
    let member = admin
        .ok("{ members { user { id email } } }", json!({}))
        .await?;
    let id = member["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["email"] == "new@northside.test")
        .unwrap()["user"]["id"]
        .clone();
    assert_eq!(newest["targetId"], id);
    Ok(())
}

#[tokio::test]
async fn the_viewer_says_whether_totp_is_on_for_their_account() -> anyhow::Result<()> {
    const TOTP: &str = "{ viewer { totpEnabled } }";
    let app = spawn_app().await?;
    let org = app.org("northside").await?;
    app.member(org, "alice@example.test", Role::Mediator)
        .await?;
    app.member(org, "bob@example.test", Role::Party).await?;
    let bob = app.sign_in("bob@example.test", None).await?;
    let before = app.sign_in("alice@example.test", None).await?;
    assert_eq!(
        before.ok(TOTP, json!({})).await?["viewer"]["totpEnabled"],
        false
    );

    let (alice, mut authenticator, _) = enrol(&app, "alice@example.test").await?;
    assert_eq!(
        alice.ok(TOTP, json!({})).await?["viewer"]["totpEnabled"],
        true
    );
    // It is the account's setting: another account is untouched.
    assert_eq!(
        bob.ok(TOTP, json!({})).await?["viewer"]["totpEnabled"],
        false
    );

    let off = post(
        &alice,
        "/auth/totp/disable",
        &json!({ "code": authenticator.next() }),
    )
    .await?;
    assert_eq!(off.status, 204, "{off:?}");
    assert_eq!(
        alice.ok(TOTP, json!({})).await?["viewer"]["totpEnabled"],
        false
    );
    Ok(())
}

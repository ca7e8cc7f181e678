//! Staff sign-in through a real OpenID Connect provider (panva's oidc-provider):
//! accounts are linked by verified email to an existing membership, never created.

use accord_domain::Role;
use accord_testkit::spawn_app_with_idp;
use serde_json::json;

/// Follows the app's start redirect through the IdP and back to the callback.
async fn sign_in_via_idp(
    app: &accord_testkit::TestApp,
    idp: &accord_testkit::oidc::TestIdp,
    client: &accord_testkit::Client,
    login: &str,
) -> anyhow::Result<reqwest::Response> {
    let start = client
        .http
        .get(format!("{}/auth/oidc/start", app.base_url))
        .send()
        .await?;
    anyhow::ensure!(start.status().is_redirection(), "start: {}", start.status());
    let to_idp = url::Url::parse(start.headers()["location"].to_str()?)?;
    let back = idp.authorize(&to_idp, login).await?;
    Ok(client.http.get(back.as_str()).send().await?)
}

#[tokio::test]
async fn the_sign_in_page_learns_that_sso_is_offered() -> anyhow::Result<()> {
    let (app, _idp) = spawn_app_with_idp().await?;
    assert_eq!(
        crate::account::options(&app).await?,
        json!({ "oidc": true })
    );
    Ok(())
}

#[tokio::test]
async fn a_member_signs_in_with_the_identity_provider() -> anyhow::Result<()> {
    let (app, idp) = spawn_app_with_idp().await?;
    let org = app.org("northside").await?;
    app.member(org, "alice@example.test", Role::Mediator)
        .await?;
    let client = app.client();
    let callback = sign_in_via_idp(&app, &idp, &client, "alice@example.test").await?;
    assert_eq!(callback.status(), 303);
    assert_eq!(callback.headers()["location"], "/admin/");
    let cookie = callback.headers()["set-cookie"].to_str()?.to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let data = client
        .ok("{ viewer { role user { email } } }", json!({}))
        .await?;
    assert_eq!(data["viewer"]["user"]["email"], "alice@example.test");
    assert_eq!(data["viewer"]["role"], "MEDIATOR");

    // A second sign-in finds the account through the linked subject.
    let again = app.client();
    let callback = sign_in_via_idp(&app, &idp, &again, "alice@example.test").await?;
    assert_eq!(callback.status(), 303);
    Ok(())
}

#[tokio::test]
async fn an_unknown_email_is_refused_and_no_account_is_made() -> anyhow::Result<()> {
    let (app, idp) = spawn_app_with_idp().await?;
    app.org("northside").await?;
    let client = app.client();
    let callback = sign_in_via_idp(&app, &idp, &client, "bob@example.test").await?;
    assert_eq!(callback.status(), 403);
    let body: serde_json::Value = callback.json().await?;
    assert_eq!(body["error"]["code"], "FORBIDDEN");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ask your organization's admin"));
    let accounts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE email = 'bob@example.test'")
            .fetch_one(app.db.admin.pool())
            .await?;
    assert_eq!(accounts, 0);
    assert_eq!(
        client.graphql("{ viewer { role } }", json!({})).await?["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    Ok(())
}

#[tokio::test]
async fn bad_id_tokens_and_replayed_callbacks_are_refused() -> anyhow::Result<()> {
    let (app, idp) = spawn_app_with_idp().await?;
    let org = app.org("northside").await?;
    for (login, reason) in [
        ("scenario+wrong-aud@example.test", "audience"),
        ("scenario+expired@example.test", "expired"),
        ("scenario+wrong-nonce@example.test", "nonce"),
        ("scenario+bad-signature@example.test", "signature"),
    ] {
        app.member(org, login, Role::Mediator).await?;
        let client = app.client();
        let callback = sign_in_via_idp(&app, &idp, &client, login).await?;
        assert_eq!(callback.status(), 401, "{login}");
        assert!(callback.headers().get("set-cookie").is_none(), "{login}");
        let body: serde_json::Value = callback.json().await?;
        assert_eq!(body["error"]["code"], "UNAUTHENTICATED");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(reason),
            "{login}: {body}"
        );
    }

    // The same callback URL twice: the pending login is spent by the first.
    app.member(org, "alice@example.test", Role::Mediator)
        .await?;
    let client = app.client();
    let start = client
        .http
        .get(format!("{}/auth/oidc/start", app.base_url))
        .send()
        .await?;
    let to_idp = url::Url::parse(start.headers()["location"].to_str()?)?;
    let back = idp.authorize(&to_idp, "alice@example.test").await?;
    assert_eq!(client.http.get(back.as_str()).send().await?.status(), 303);
    let replay = client.http.get(back.as_str()).send().await?;
    assert_eq!(replay.status(), 400);
    Ok(())
}

#[tokio::test]
async fn a_callback_only_completes_in_the_browser_that_started_it() -> anyhow::Result<()> {
    let (app, idp) = spawn_app_with_idp().await?;
    let org = app.org("northside").await?;
    app.member(org, "alice@example.test", Role::Mediator)
        .await?;
    // The attacker starts a login and signs in at the IdP as themselves...
    let attacker = app.client();
    let start = attacker
        .http
        .get(format!("{}/auth/oidc/start", app.base_url))
        .send()
        .await?;
    let to_idp = url::Url::parse(start.headers()["location"].to_str()?)?;
    let back = idp.authorize(&to_idp, "alice@example.test").await?;
    // ...and hands the callback URL to a victim's browser.
    let victim = app.client();
    let callback = victim.http.get(back.as_str()).send().await?;
    assert_eq!(callback.status(), 400);
    assert!(callback.headers().get("set-cookie").is_none());
    let body: serde_json::Value = callback.json().await?;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("another browser"),
        "{body}"
    );
    assert_eq!(
        victim.graphql("{ viewer { role } }", json!({})).await?["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    Ok(())
}

#[tokio::test]
async fn single_sign_on_is_for_staff_without_a_second_factor() -> anyhow::Result<()> {
    let (app, idp) = spawn_app_with_idp().await?;
    let org = app.org("northside").await?;
    app.member(org, "alice@example.test", Role::Party).await?;
    let callback = sign_in_via_idp(&app, &idp, &app.client(), "alice@example.test").await?;
    assert_eq!(callback.status(), 403);
    let body: serde_json::Value = callback.json().await?;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("for staff"),
        "{body}"
    );

    let bob = app.member(org, "bob@example.test", Role::Mediator).await?;
    sqlx::query("UPDATE users SET totp_secret = '\\x3132333435363738393031323334353637383930' WHERE id = $1")
        .bind(bob.as_uuid())
        .execute(app.db.admin.pool())
        .await?;
    let callback = sign_in_via_idp(&app, &idp, &app.client(), "bob@example.test").await?;
    assert_eq!(callback.status(), 403);
    let body: serde_json::Value = callback.json().await?;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("two-factor"),
        "{body}"
    );
    Ok(())
}

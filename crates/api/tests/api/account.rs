//! A person's own settings (`Viewer.timeZone`, `setMyTimeZone`) and what the
//! sign-in page may ask before anyone signs in (`GET /auth/options`).

use accord_domain::Role;
use accord_testkit::spawn_app;
use serde_json::{json, Value};

use crate::common::{gql, read_reply};

const VIEWER: &str = "{ viewer { user { id } timeZone totpEnabled } }";
const SET: &str = "mutation($tz: String) { setMyTimeZone(timeZone: $tz) { timeZone role } }";

#[tokio::test]
async fn a_person_sets_and_clears_their_own_time_zone() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let north = app.org("northside").await?;
    let south = app.org("southside").await?;
    let alice = app
        .member(north, "alice@example.test", Role::Mediator)
        .await?;
    // Alice works for a second provider too; Bob is someone else.
    app.member(south, "alice@example.test", Role::Party).await?;
    app.member(north, "bob@example.test", Role::OrgAdmin)
        .await?;
    let at_north = app.sign_in("alice@example.test", Some("northside")).await?;
    let at_south = app.sign_in("alice@example.test", Some("southside")).await?;
    let bob = app.sign_in("bob@example.test", None).await?;

    let viewer = at_north.ok(VIEWER, json!({})).await?;
    assert_eq!(viewer["viewer"]["user"]["id"], alice.to_string());
    assert!(viewer["viewer"]["timeZone"].is_null());
    assert_eq!(viewer["viewer"]["totpEnabled"], false);

    let set = at_north
        .ok(SET, json!({ "tz": "America/Argentina/Buenos_Aires" }))
        .await?;
    assert_eq!(
        set["setMyTimeZone"],
        json!({ "timeZone": "America/Argentina/Buenos_Aires", "role": "MEDIATOR" })
    );
    // It is the account's: the same in the other organization, and kept.
    let there = at_south.ok(VIEWER, json!({})).await?;
    assert_eq!(
        there["viewer"]["timeZone"],
        "America/Argentina/Buenos_Aires"
    );
    // Nobody else's changes.
    assert!(bob.ok(VIEWER, json!({})).await?["viewer"]["timeZone"].is_null());

    // Names the time-zone database does not know are refused, named by field,
    // and leave the setting as it was.
    for bad in [
        "Mars/Olympus_Mons",
        "europe/london",
        "",
        "UTC+2",
        &"A".repeat(300),
    ] {
        let reply = gql(&at_north, SET, json!({ "tz": bad })).await?;
        assert_eq!(reply.gql_code(), "BAD_USER_INPUT", "{bad}: {reply:?}");
        assert_eq!(reply.gql_field(), "timeZone", "{bad}");
    }
    let viewer = at_north.ok(VIEWER, json!({})).await?;
    assert_eq!(
        viewer["viewer"]["timeZone"],
        "America/Argentina/Buenos_Aires"
    );

    // Null clears it.
    let cleared = at_south.ok(SET, json!({ "tz": null })).await?;
    assert!(cleared["setMyTimeZone"]["timeZone"].is_null());
    assert!(at_north.ok(VIEWER, json!({})).await?["viewer"]["timeZone"].is_null());

    // A state change: without the session's CSRF token it is refused.
    let mut no_csrf = at_north.clone();
    no_csrf.csrf = None;
    let reply = gql(&no_csrf, SET, json!({ "tz": "Europe/London" })).await?;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert!(at_north.ok(VIEWER, json!({})).await?["viewer"]["timeZone"].is_null());

    // Signed out, there is no one to set it for.
    let reply = gql(&app.client(), SET, json!({ "tz": "Europe/London" })).await?;
    assert_eq!(reply.gql_code(), "UNAUTHENTICATED", "{reply:?}");

    // Each change is in the org's audit log, naming the account only.
    let log = bob
        .ok(
            "{ auditEvents(action: \"user.set_time_zone\") { targetType targetId actorUserId } }",
            json!({}),
        )
        .await?;
    let events = log["auditEvents"].as_array().unwrap();
    assert_eq!(events.len(), 1, "one change was made at northside: {log}");
    assert_eq!(events[0]["targetId"], alice.to_string());
    Ok(())
}

#[tokio::test]
async fn the_sign_in_page_learns_whether_sso_is_offered() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    // No session needed, and nothing else in the answer.
    assert_eq!(options(&app).await?, json!({ "oidc": false }));
    Ok(())
}

/// `GET /auth/options`, signed out.
pub(crate) async fn options(app: &accord_testkit::TestApp) -> anyhow::Result<Value> {
    let response = app
        .client()
        .http
        .get(format!("{}/auth/options", app.base_url))
        .send()
        .await?;
    Ok(read_reply(response).await?.body)
}

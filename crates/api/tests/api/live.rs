//! Which sessions are live, who is in them and who waits in the lobby, read
//! from the real SFU the test app runs: for org admins (the whole org) and
//! the case's mediator; parties and observers are refused (or told nothing),
//! and no org sees another's.

use std::time::Duration;

use accord_domain::Role;
use accord_testkit::Client;
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{device, world};
use crate::sfu::{connect, json_of_type, token};

const LIVE: &str = "{ liveSessions { sessionId startedAt session { id case { reference } } \
    participants { userId displayName role room roomKind connected joinedAt } \
    lobby { userId displayName role room roomKind connected joinedAt } } }";
const SESSIONS_LIVE: &str =
    "{ sessions { id live { sessionId participants { displayName } lobby { displayName } } } }";

async fn live(client: &Client) -> anyhow::Result<Vec<Value>> {
    Ok(client.ok(LIVE, json!({})).await?["liveSessions"]
        .as_array()
        .unwrap()
        .clone())
}

/// Asks until `done` holds for the admin's view (the SFU applies joins and
/// moves on its own tasks), for up to 5 s.
async fn eventually(
    client: &Client,
    done: impl Fn(&[Value]) -> bool,
) -> anyhow::Result<Vec<Value>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let now = live(client).await?;
        if done(&now) {
            return Ok(now);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "not within 5 s: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn admins_and_the_mediator_see_who_is_live_and_who_waits() -> anyhow::Result<()> {
    let w = world().await?;
    let org = w.app.org("southside").await?;
    w.app.member(org, "admin@s.test", Role::OrgAdmin).await?;
    let other_org_admin = w.app.sign_in("admin@s.test", None).await?;
    w.app.member(w.org, "med2@n.test", Role::Mediator).await?;
    let other_mediator = w.app.sign_in("med2@n.test", None).await?;

    // Nothing is live yet.
    assert!(live(&w.admin).await?.is_empty());

    // The mediator opens the session; the party knocks.
    let (md, pd) = (device(), device());
    let mut mediator = connect(
        &w.app,
        &w.session,
        &token(&w.mediator, &w.session, &md).await?,
        &md,
        &md,
    )
    .await?;
    let mediator_id = json_of_type(&mut mediator, "state").await?["you"]
        .as_str()
        .unwrap()
        .to_owned();
    let party = connect(
        &w.app,
        &w.session,
        &token(&w.party, &w.session, &pd).await?,
        &pd,
        &pd,
    )
    .await?;
    let party_id = json_of_type(&mut mediator, "knock").await?["participant"]
        .as_str()
        .unwrap()
        .to_owned();

    // The org admin (not on the case) sees the session, its case, the
    // mediator in the main room and the party in the lobby, with names.
    let sessions = live(&w.admin).await?;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let s = &sessions[0];
    assert_eq!(s["sessionId"], w.session.as_str());
    assert_eq!(s["session"]["id"], w.session.as_str());
    assert_eq!(s["session"]["case"]["reference"], "L-1");
    let started: chrono::DateTime<chrono::Utc> = s["startedAt"].as_str().unwrap().parse()?;
    assert!((chrono::Utc::now() - started).num_seconds().abs() < 60);
    let inside = s["participants"].as_array().unwrap();
    assert_eq!(inside.len(), 1, "{s}");
    assert_eq!(inside[0]["userId"], mediator_id.as_str());
    assert_eq!(inside[0]["displayName"], "med");
    assert_eq!(inside[0]["role"], "mediator");
    assert_eq!(inside[0]["room"], "main");
    assert_eq!(inside[0]["roomKind"], "MAIN");
    assert_eq!(inside[0]["connected"], true);
    let waiting = s["lobby"].as_array().unwrap();
    assert_eq!(waiting.len(), 1, "{s}");
    assert_eq!(waiting[0]["userId"], party_id.as_str());
    assert_eq!(waiting[0]["displayName"], "party");
    assert_eq!(waiting[0]["role"], "party");
    assert_eq!(waiting[0]["room"], "lobby");
    assert_eq!(waiting[0]["roomKind"], "LOBBY");
    let since: chrono::DateTime<chrono::Utc> = waiting[0]["joinedAt"].as_str().unwrap().parse()?;
    assert!(since >= started, "{since} before {started}");

    // The case's mediator sees the same; the session says it is live, its
    // sibling that it is not.
    assert_eq!(live(&w.mediator).await?, sessions);
    let data = w.mediator.ok(SESSIONS_LIVE, json!({})).await?;
    for session in data["sessions"].as_array().unwrap() {
        if session["id"] == w.session.as_str() {
            assert_eq!(session["live"]["sessionId"], w.session.as_str());
            assert_eq!(session["live"]["lobby"][0]["displayName"], "party");
        } else {
            assert_eq!(session["id"], w.other_session.as_str());
            assert!(session["live"].is_null(), "{session}");
        }
    }

    // A mediator of other cases sees nothing of it; parties are refused the
    // overview, and their sessions do not say who is in the room.
    assert!(live(&other_mediator).await?.is_empty());
    for client in [&w.party, &w.outsider] {
        assert_eq!(client.error_code(LIVE, json!({})).await?, "FORBIDDEN");
    }
    let data = w.party.ok(SESSIONS_LIVE, json!({})).await?;
    assert_eq!(data["sessions"].as_array().unwrap().len(), 2);
    assert!(data["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["live"].is_null()));
    // Another org sees none of it.
    assert!(live(&other_org_admin).await?.is_empty());

    // Admitted, the party moves from the lobby to the main room.
    mediator
        .send(Message::Text(
            json!({ "type": "admit", "participant": party_id })
                .to_string()
                .into(),
        ))
        .await?;
    let now = eventually(&w.admin, |s| {
        s.len() == 1 && s[0]["lobby"].as_array().is_some_and(|l| l.is_empty())
    })
    .await?;
    let inside = now[0]["participants"].as_array().unwrap();
    let rooms: Vec<(&str, &str)> = inside
        .iter()
        .map(|p| {
            (
                p["displayName"].as_str().unwrap(),
                p["room"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(rooms, [("med", "main"), ("party", "main")]);

    // A caucus shows by the name the mediator gave it.
    mediator
        .send(Message::Text(
            json!({ "type": "createCaucus", "name": "Party A's room" })
                .to_string()
                .into(),
        ))
        .await?;
    let caucus = loop {
        let state = json_of_type(&mut mediator, "state").await?;
        let found = state["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "Party A's room")
            .map(|r| r["id"].clone());
        if let Some(id) = found {
            break id;
        }
    };
    mediator
        .send(Message::Text(
            json!({ "type": "move", "participant": party_id, "room": caucus })
                .to_string()
                .into(),
        ))
        .await?;
    let now = eventually(&w.admin, |s| {
        s.len() == 1
            && s[0]["participants"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["roomKind"] == "CAUCUS"))
    })
    .await?;
    let in_caucus = now[0]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["roomKind"] == "CAUCUS")
        .unwrap()
        .clone();
    assert_eq!(in_caucus["displayName"], "party");
    assert_eq!(in_caucus["room"], "Party A's room");

    // A dropped connection shows as reconnecting while its place is held.
    drop(party);
    let now = eventually(&w.admin, |s| {
        s.len() == 1
            && s[0]["participants"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["connected"] == false))
    })
    .await?;
    let dropped = now[0]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["connected"] == false)
        .unwrap()
        .clone();
    assert_eq!(dropped["userId"], party_id.as_str());
    Ok(())
}

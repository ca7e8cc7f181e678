//! Invite links and registered devices, attacked: a stolen link after
//! redemption, two browsers redeeming one link at once, an expired link,
//! another org's link, a join token asked with a key that is not the
//! registered device's, a revoked device, malformed keys.

use accord_db::invitations::{self, DeliveryState};
use accord_domain::{OrgId, PartyId, Role};
use accord_testkit::{Client, TestApp};
use serde_json::{json, Value};

use crate::common::{device, post, post_raw, world, Reply, World};

const JOIN: &str =
    "mutation($s: UUID!, $k: JSON!) { joinToken(sessionId: $s, deviceKey: $k) { token role } }";
const INVITATIONS: &str = "query($c: UUID!) { caseInvitations(caseId: $c) { id partyId status deviceRegistered expiresAt } }";
const REINVITE: &str =
    "mutation($p: UUID!) { reinviteParty(partyId: $p) { status deviceRegistered } }";
const RESEND: &str =
    "mutation($p: UUID!) { resendInvitation(partyId: $p) { status deviceRegistered } }";

/// The case of `w.session`.
async fn case_of(w: &World) -> anyhow::Result<String> {
    let data = w.admin.ok("{ sessions { id caseId } }", json!({})).await?;
    let session = data["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == w.session.as_str())
        .unwrap();
    Ok(session["caseId"].as_str().unwrap().to_owned())
}

/// Adds a person to the case through the API, as an admin does.
async fn add_person(w: &World, case: &str, email: &str) -> anyhow::Result<PartyId> {
    let data = w
        .admin
        .ok(
            "mutation($c: UUID!, $e: String!) { addParty(input: {caseId: $c, kind: PARTY, displayName: \"New person\", email: $e}) { id } }",
            json!({ "c": case, "e": email }),
        )
        .await?;
    Ok(data["addParty"]["id"].as_str().unwrap().parse()?)
}

/// Issues a link the way the mailer does, returning the raw token.
async fn issue(
    app: &TestApp,
    org: OrgId,
    party: PartyId,
    ttl: Option<chrono::Duration>,
) -> anyhow::Result<String> {
    let mut tx = app.db.admin.system_tenant(org, None).await?;
    let issued = invitations::issue(&mut tx, party, ttl).await?;
    tx.commit().await?;
    Ok(issued.token)
}

async fn redeem(client: &Client, token: &str, key: &Value) -> anyhow::Result<Reply> {
    post(
        client,
        "/auth/invite/redeem",
        &json!({ "token": token, "deviceKey": key }),
    )
    .await
}

/// A browser that redeemed `token` with `key`, signed in.
async fn redeemed_browser(app: &TestApp, token: &str, key: &Value) -> anyhow::Result<Client> {
    let mut browser = app.client();
    let reply = redeem(&browser, token, key).await?;
    anyhow::ensure!(reply.status == 200, "redemption failed: {:?}", reply.body);
    browser.csrf = reply.body["csrfToken"].as_str().map(str::to_owned);
    Ok(browser)
}

fn reason(reply: &Reply) -> &str {
    reply.body["error"]["reason"].as_str().unwrap_or("")
}

/// The token of the link a resend or re-invite mailed to `to` (the session
/// invitations mailed on adding a person carry older links).
async fn renewed_link(app: &TestApp, to: &str) -> anyhow::Result<String> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let found = app
            .messages()
            .into_iter()
            .find(|m| m.to == to && m.subject.starts_with("Your invitation for case"));
        if let Some(m) = found {
            let token = m.body.split("#token=").nth(1).unwrap_or("");
            return Ok(token.chars().take(43).collect());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no renewed invitation to {to} within 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// The admin's view of one person's latest link.
async fn invitation_of(w: &World, case: &str, party: PartyId) -> anyhow::Result<Value> {
    let data = w.admin.ok(INVITATIONS, json!({ "c": case })).await?;
    Ok(data["caseInvitations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["partyId"] == party.to_string().as_str())
        .cloned()
        .unwrap_or(Value::Null))
}

async fn audit_actions(w: &World) -> anyhow::Result<Vec<String>> {
    let data = w
        .admin
        .ok("{ auditEvents(first: 50) { action } }", json!({}))
        .await?;
    Ok(data["auditEvents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap_or("").to_owned())
        .collect())
}

#[tokio::test]
async fn a_link_signs_a_new_person_in_once_and_binds_their_device() -> anyhow::Result<()> {
    let w = world().await?;
    let case = case_of(&w).await?;
    let party = add_person(&w, &case, "new@n.test").await?;
    let token = issue(&w.app, w.org, party, None).await?;
    let url = invitations::invite_url(&w.app.base_url, &token);
    assert!(url.ends_with(&format!("/invite#token={token}")));

    // Browser A: no password, no account before; the link is enough.
    let key_a = device().jwk;
    let mut a = w.app.client();
    let reply = redeem(&a, &token, &key_a).await?;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["role"], "party");
    assert_eq!(reply.body["partyId"], party.to_string());
    assert!(reply.session_token().is_some(), "a session cookie is set");
    a.csrf = reply.body["csrfToken"].as_str().map(str::to_owned);

    // Signed in: the person sees their case and gets a join token for A's key.
    let cases = a
        .ok("{ cases(first: 5) { edges { node { id } } } }", json!({}))
        .await?;
    assert_eq!(cases["cases"]["edges"][0]["node"]["id"], case.as_str());
    let data = a.ok(JOIN, json!({ "s": w.session, "k": key_a })).await?;
    assert_eq!(data["joinToken"]["role"], "party");

    // An unregistered key is refused, with words that say what to do.
    let key_b = device().jwk;
    let refused = post(
        &a,
        "/graphql",
        &json!({ "query": JOIN, "variables": { "s": w.session, "k": key_b } }),
    )
    .await?;
    assert_eq!(refused.gql_code(), "FORBIDDEN");
    assert!(
        refused.gql_message().contains("not the device registered"),
        "{}",
        refused.gql_message()
    );

    // The stolen link, opened after redemption on browser B: spent, audited.
    let b = w.app.client();
    let again = redeem(&b, &token, &key_b).await?;
    assert_eq!(again.status, 409);
    assert_eq!(again.rest_code(), "CONFLICT");
    assert_eq!(reason(&again), "SPENT");
    assert!(again.rest_message().contains("ask your mediator"));
    assert!(again.session_token().is_none());
    // The same browser reusing it gets the same answer.
    let same = redeem(&w.app.client(), &token, &key_a).await?;
    assert_eq!(reason(&same), "SPENT");

    let actions = audit_actions(&w).await?;
    for expected in [
        "invitation.issue",
        "device.register",
        "invitation.redeem",
        "invitation.reuse",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} in {actions:?}"
        );
    }

    // The admin sees the link redeemed and the device registered.
    let row = invitation_of(&w, &case, party).await?;
    assert_eq!(row["status"], "REDEEMED");
    assert_eq!(row["deviceRegistered"], true);
    Ok(())
}

#[tokio::test]
async fn concurrent_redemptions_of_one_link_have_exactly_one_winner() -> anyhow::Result<()> {
    let w = world().await?;
    let case = case_of(&w).await?;
    let party = add_person(&w, &case, "race@n.test").await?;
    let token = issue(&w.app, w.org, party, None).await?;
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let browser = w.app.client();
            let key = device().jwk;
            let token = token.clone();
            tokio::spawn(async move { redeem(&browser, &token, &key).await })
        })
        .collect();
    let mut won = 0;
    for attempt in attempts {
        let reply = attempt.await??;
        match reply.status {
            200 => won += 1,
            409 => assert_eq!(reason(&reply), "SPENT", "{:?}", reply.body),
            other => panic!("unexpected {other}: {:?}", reply.body),
        }
    }
    assert_eq!(won, 1, "exactly one browser registers");
    let devices: i64 = sqlx::query_scalar("SELECT count(*) FROM devices WHERE party_id = $1")
        .bind(party.as_uuid())
        .fetch_one(w.app.db.admin.pool())
        .await?;
    assert_eq!(devices, 1);
    Ok(())
}

#[tokio::test]
async fn expired_replaced_unknown_and_foreign_links_are_refused() -> anyhow::Result<()> {
    let w = world().await?;
    let case = case_of(&w).await?;
    let key = device().jwk;

    let late = add_person(&w, &case, "late@n.test").await?;
    let expired = issue(&w.app, w.org, late, Some(chrono::Duration::seconds(-1))).await?;
    let reply = redeem(&w.app.client(), &expired, &key).await?;
    assert_eq!((reply.status, reason(&reply)), (409, "EXPIRED"));
    assert!(reply.rest_message().contains("expired"));
    assert_eq!(invitation_of(&w, &case, late).await?["status"], "EXPIRED");

    // Each session's invitation has its own link; a resend voids them all.
    let old = issue(&w.app, w.org, late, None).await?;
    let other = issue(&w.app, w.org, late, None).await?;
    w.admin.ok(RESEND, json!({ "p": late })).await?;
    for token in [&old, &other] {
        let reply = redeem(&w.app.client(), token, &key).await?;
        assert_eq!((reply.status, reason(&reply)), (409, "REPLACED"));
    }
    let new = renewed_link(&w.app, "late@n.test").await?;

    // Never issued, or not even shaped like a token.
    for token in ["A".repeat(43), "short".into(), "../../etc".into()] {
        let reply = redeem(&w.app.client(), &token, &key).await?;
        assert_eq!((reply.status, reason(&reply)), (404, "INVALID"), "{token}");
    }

    // Another org's link, presented to this org's portal: not valid here.
    let south = w.app.org("southside").await?;
    w.app.member(south, "sadmin@s.test", Role::OrgAdmin).await?;
    let sadmin = w.app.sign_in("sadmin@s.test", None).await?;
    let scase = sadmin
        .ok(
            "mutation { createCase(input: {reference: \"S-1\", title: \"T\"}) { id } }",
            json!({}),
        )
        .await?["createCase"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sparty: PartyId = sadmin
        .ok(
            "mutation($c: UUID!) { addParty(input: {caseId: $c, kind: PARTY, displayName: \"S\", email: \"s@s.test\"}) { id } }",
            json!({ "c": scase }),
        )
        .await?["addParty"]["id"]
        .as_str()
        .unwrap()
        .parse()?;
    let foreign = issue(&w.app, south, sparty, None).await?;
    let reply = post(
        &w.app.client(),
        "/auth/invite/redeem",
        &json!({ "token": foreign, "deviceKey": key, "org": "northside" }),
    )
    .await?;
    assert_eq!((reply.status, reason(&reply)), (404, "INVALID"));
    // Northside's staff cannot see or renew southside's people.
    assert_eq!(
        w.admin
            .error_code(INVITATIONS, json!({ "c": scase }))
            .await?,
        "NOT_FOUND"
    );
    assert_eq!(
        w.admin.error_code(REINVITE, json!({ "p": sparty })).await?,
        "NOT_FOUND"
    );
    // The foreign link still works where it belongs: nothing was spent.
    let reply = redeem(&w.app.client(), &foreign, &key).await?;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["orgId"], south.to_string());

    // The newest northside link still works too.
    let reply = redeem(&w.app.client(), &new, &device().jwk).await?;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    Ok(())
}

#[tokio::test]
async fn malformed_keys_and_bodies_are_refused_without_spending_the_link() -> anyhow::Result<()> {
    let w = world().await?;
    let case = case_of(&w).await?;
    let party = add_person(&w, &case, "keys@n.test").await?;
    let token = issue(&w.app, w.org, party, None).await?;
    let good = device().jwk;
    let mut private = good.clone();
    private["d"] = json!("AAAA");
    for key in [
        json!({ "kty": "RSA", "n": "x", "e": "AQAB" }),
        json!({ "kty": "EC", "crv": "P-384", "x": good["x"], "y": good["y"] }),
        json!({ "kty": "EC", "crv": "P-256", "x": "not base64!", "y": good["y"] }),
        json!("a string"),
        private,
    ] {
        let reply = redeem(&w.app.client(), &token, &key).await?;
        assert_eq!(reply.status, 400, "{key}: {:?}", reply.body);
        assert_eq!(reply.rest_code(), "BAD_USER_INPUT");
        assert_eq!(reply.rest_field(), "deviceKey");
    }
    // A cross-site form cannot send JSON: other content types are refused.
    let body = serde_json::to_vec(&json!({ "token": token, "deviceKey": good }))?;
    let reply = post_raw(
        &w.app.client(),
        "/auth/invite/redeem",
        Some("text/plain"),
        body,
    )
    .await?;
    assert_eq!(reply.status, 415);
    let reply = post(
        &w.app.client(),
        "/auth/invite/redeem",
        &json!({ "token": token }),
    )
    .await?;
    assert_eq!(reply.rest_code(), "BAD_USER_INPUT");
    // None of that spent the link.
    redeemed_browser(&w.app, &token, &good).await?;
    Ok(())
}

#[tokio::test]
async fn a_reinvite_revokes_the_device_and_its_session() -> anyhow::Result<()> {
    let w = world().await?;
    let case = case_of(&w).await?;
    // party@n.test has a password account: the link is linked to it.
    let party: PartyId = w
        .admin
        .ok(
            "query($c: UUID!) { case(id: $c) { parties { id } } }",
            json!({ "c": case }),
        )
        .await?["case"]["parties"][0]["id"]
        .as_str()
        .unwrap()
        .parse()?;
    let token = issue(&w.app, w.org, party, None).await?;
    let key_a = device().jwk;
    let a = redeemed_browser(&w.app, &token, &key_a).await?;
    let me = a.ok("{ viewer { user { id } } }", json!({})).await?;
    let own = w.party.ok("{ viewer { user { id } } }", json!({})).await?;
    assert_eq!(
        me["viewer"]["user"]["id"], own["viewer"]["user"]["id"],
        "linked to the account"
    );

    // From now on even the password session gets tokens only for device A.
    w.party
        .ok(JOIN, json!({ "s": w.session, "k": key_a }))
        .await?;
    assert_eq!(
        w.party
            .error_code(JOIN, json!({ "s": w.session, "k": device().jwk }))
            .await?,
        "FORBIDDEN"
    );

    // A party may not re-invite; the case's mediator may.
    assert_eq!(
        w.party.error_code(REINVITE, json!({ "p": party })).await?,
        "FORBIDDEN"
    );
    let data = w.mediator.ok(REINVITE, json!({ "p": party })).await?;
    assert_eq!(data["reinviteParty"]["status"], "QUEUED");
    assert_eq!(data["reinviteParty"]["deviceRegistered"], false);
    let new_token = renewed_link(&w.app, "party@n.test").await?;

    // Device A is revoked: its browser session ended, and no token for its key.
    assert_eq!(
        a.error_code("{ viewer { user { id } } }", json!({}))
            .await?,
        "UNAUTHENTICATED"
    );
    let revoked = post(
        &w.party,
        "/graphql",
        &json!({ "query": JOIN, "variables": { "s": w.session, "k": key_a } }),
    )
    .await?;
    assert_eq!(revoked.gql_code(), "FORBIDDEN");
    assert!(
        revoked.gql_message().contains("revoked"),
        "{}",
        revoked.gql_message()
    );

    // The old link stays spent; the mailed one registers a new device.
    assert_eq!(
        reason(&redeem(&w.app.client(), &token, &key_a).await?),
        "SPENT"
    );
    let key_b = device().jwk;
    let b = redeemed_browser(&w.app, &new_token, &key_b).await?;
    b.ok(JOIN, json!({ "s": w.session, "k": key_b })).await?;
    assert_eq!(
        w.party
            .error_code(JOIN, json!({ "s": w.session, "k": key_a }))
            .await?,
        "FORBIDDEN"
    );
    let actions = audit_actions(&w).await?;
    assert!(
        actions.iter().any(|a| a == "invitation.reinvite"),
        "{actions:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_resend_keeps_the_device_and_delivery_is_tracked() -> anyhow::Result<()> {
    let w = world().await?;
    let case = case_of(&w).await?;
    let party = add_person(&w, &case, "resend@n.test").await?;
    let mut tx = w.app.db.admin.system_tenant(w.org, None).await?;
    let issued = invitations::issue(&mut tx, party, None).await?;
    tx.commit().await?;
    for (state, shown) in [
        (DeliveryState::Sent, "SENT"),
        (DeliveryState::Delivered, "DELIVERED"),
        (DeliveryState::Failed, "FAILED"),
    ] {
        let mut tx = w.app.db.admin.system_tenant(w.org, None).await?;
        invitations::record_delivery(&mut tx, issued.id, state, Some("250 2.0.0 Ok")).await?;
        tx.commit().await?;
        assert_eq!(invitation_of(&w, &case, party).await?["status"], shown);
    }
    let key = device().jwk;
    let a = redeemed_browser(&w.app, &issued.token, &key).await?;

    let data = w.admin.ok(RESEND, json!({ "p": party })).await?;
    assert_eq!(data["resendInvitation"]["deviceRegistered"], true);
    let token = renewed_link(&w.app, "resend@n.test").await?;
    // The mail worker records the renewed link's delivery.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let status = invitation_of(&w, &case, party).await?["status"].clone();
        if status == "SENT" || status == "DELIVERED" {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            let jobs: Vec<(String, String)> = sqlx::query_as("SELECT kind, status FROM jobs")
                .fetch_all(w.app.db.admin.pool())
                .await?;
            panic!("the resent link's mail stayed {status}: {jobs:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Another browser cannot take over with the resent link...
    let other = redeem(&w.app.client(), &token, &device().jwk).await?;
    assert_eq!((other.status, reason(&other)), (403, "OTHER_DEVICE"));
    // ...but the registered one signs in again with it.
    redeemed_browser(&w.app, &token, &key).await?;
    a.ok(JOIN, json!({ "s": w.session, "k": key })).await?;
    Ok(())
}

/// The renewed-link mails to `to`, oldest first, once the queue is drained.
async fn renewed_mails(w: &World, to: &str) -> anyhow::Result<Vec<accord_notify::Mail>> {
    w.app.settle_mail().await?;
    Ok(w.app
        .mails()
        .into_iter()
        .filter(|m| m.message.to == to && m.message.subject.starts_with("Your invitation for case"))
        .collect())
}

fn ics_line<'a>(ics: &'a str, prefix: &str) -> &'a str {
    ics.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in {ics}"))
}

#[tokio::test]
async fn a_renewed_link_carries_the_next_sessions_calendar_entry_like_the_first_invitation(
) -> anyhow::Result<()> {
    let w = world().await?;
    let case = case_of(&w).await?;
    // One session ahead: the other is called off.
    let cancel = "mutation($s: UUID!) { cancelSession(id: $s) { id } }";
    w.admin.ok(cancel, json!({ "s": w.other_session })).await?;
    let party = add_person(&w, &case, "ics@n.test").await?;
    w.app.settle_mail().await?;
    let first = w
        .app
        .mails()
        .into_iter()
        .find(|m| m.message.to == "ics@n.test" && m.calendar.is_some())
        .expect("the first invitation, with its calendar entry");
    let first_ics = first.calendar.as_ref().unwrap().ics.clone();
    let uid = ics_line(&first_ics, "UID:").to_owned();
    assert_eq!(ics_line(&first_ics, "SEQUENCE:"), "SEQUENCE:0");

    // A resend: the same entry (same UID, same SEQUENCE), a new link.
    w.admin.ok(RESEND, json!({ "p": party })).await?;
    let mails = renewed_mails(&w, "ics@n.test").await?;
    let resent = mails.last().expect("the resent link's mail");
    let part = resent.calendar.as_ref().expect("a calendar entry");
    assert_eq!(part.method, "REQUEST");
    assert_eq!(ics_line(&part.ics, "METHOD:"), "METHOD:REQUEST");
    assert_eq!(ics_line(&part.ics, "UID:"), uid);
    assert_eq!(ics_line(&part.ics, "SEQUENCE:"), "SEQUENCE:0");
    assert!(
        !part.ics.contains("#token="),
        "the calendar never holds the link"
    );
    assert!(
        resent
            .message
            .body
            .contains("Your next session: Wednesday 1 January 2031, 10:00"),
        "{}",
        resent.message.body
    );
    assert!(resent.message.body.contains("/invite#token="));

    // Moved, then a re-invite: the entry's SEQUENCE is the move's.
    w.admin
        .ok(
            "mutation($s: UUID!) { rescheduleSession(input: {id: $s, startsAt: \"2031-01-02T10:00:00Z\"}) { id } }",
            json!({ "s": w.session }),
        )
        .await?;
    w.admin.ok(REINVITE, json!({ "p": party })).await?;
    let mails = renewed_mails(&w, "ics@n.test").await?;
    assert_eq!(mails.len(), 2);
    let part = mails[1].calendar.as_ref().expect("a calendar entry");
    assert_eq!(ics_line(&part.ics, "UID:"), uid);
    assert_eq!(ics_line(&part.ics, "SEQUENCE:"), "SEQUENCE:1");
    assert!(ics_line(
        part.ics.split("BEGIN:VEVENT").nth(1).unwrap_or(""),
        "DTSTART"
    )
    .contains("20310102T100000"));

    // Nothing ahead: the link alone.
    w.admin.ok(cancel, json!({ "s": w.session })).await?;
    w.admin.ok(RESEND, json!({ "p": party })).await?;
    let mails = renewed_mails(&w, "ics@n.test").await?;
    assert_eq!(mails.len(), 3);
    assert!(mails[2].calendar.is_none());
    assert!(mails[2]
        .message
        .body
        .contains("No session is scheduled yet"));
    Ok(())
}

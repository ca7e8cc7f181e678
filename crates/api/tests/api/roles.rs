//! Role escalation: what parties, observers and mediators try beyond their
//! grants, the last-admin rule, and sessions that outlive a membership.

use accord_domain::Role;
use accord_testkit::{spawn_app, Client, TestApp};
use serde_json::{json, Value};

const INVITE: &str = "mutation($e: String!, $r: Role!) { inviteMember(input: {email: $e, displayName: \"New person\", role: $r}) { user { id } role } }";
const CHANGE_ROLE: &str =
    "mutation($u: UUID!, $r: Role!) { changeMemberRole(userId: $u, role: $r) { role } }";
const REMOVE_MEMBER: &str = "mutation($u: UUID!) { removeMember(userId: $u) }";
const CREATE_CASE: &str = "mutation($ref: String!, $m: UUID) { createCase(input: {reference: $ref, title: \"Boundary dispute\", mediatorId: $m}) { id } }";
const UPDATE_STATUS: &str =
    "mutation($id: UUID!, $s: CaseStatus!) { updateCaseStatus(id: $id, status: $s) { id status } }";
const ASSIGN: &str =
    "mutation($c: UUID!, $m: UUID) { assignMediator(caseId: $c, mediatorId: $m) { id } }";
const ADD_PARTY: &str = "mutation($c: UUID!, $k: PartyKind!, $e: String!) { addParty(input: {caseId: $c, kind: $k, displayName: \"Someone\", email: $e}) { id userId email } }";
const REMOVE_PARTY: &str = "mutation($p: UUID!) { removeParty(partyId: $p) }";
const SCHEDULE: &str = "mutation($c: UUID!) { scheduleSession(input: {caseId: $c, startsAt: \"2031-03-30T09:00:00Z\", timeZone: \"Europe/London\", durationMinutes: 60}) { id } }";
const RESCHEDULE: &str = "mutation($id: UUID!) { rescheduleSession(input: {id: $id, startsAt: \"2031-04-02T09:00:00Z\"}) { id } }";
const CANCEL: &str = "mutation($id: UUID!) { cancelSession(id: $id) { id } }";
const AUDIT: &str = "{ auditEvents { seq action } }";
const MEMBERS: &str = "{ members { user { id email } role } }";
const CASE: &str =
    "query($id: UUID!) { case(id: $id) { id parties { id email userId } sessions { id } } }";
const CASES: &str = "{ cases { edges { node { id } } } }";
const SESSIONS: &str = "{ sessions { id caseId } }";
const SESSIONS_OF: &str = "query($c: UUID!) { sessions(caseId: $c) { id } }";
const VIEWER: &str = "{ viewer { user { id } role organization { slug } } }";

/// An org with one of each role. `case1` is mediated by `mediator`, with
/// `party` (as a party) and `observer` (as counsel) on it; `case2` is mediated
/// by `mediator2` with an outside party. Each case has a scheduled session.
#[derive(Debug)]
struct World {
    app: TestApp,
    admin: Client,
    admin_id: String,
    mediator_id: String,
    mediator2_id: String,
    party_id: String,
    observer_id: String,
    case1: String,
    case2: String,
    case1_party: String,
    case2_party: String,
    session1: String,
    session2: String,
}

fn id(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected an id, got {v}"))
        .to_owned()
}

async fn world() -> anyhow::Result<World> {
    let app = spawn_app().await?;
    let org = app.org("northside").await?;
    let admin_id = app
        .member(org, "admin@northside.test", Role::OrgAdmin)
        .await?;
    let mediator_id = app
        .member(org, "med@northside.test", Role::Mediator)
        .await?;
    let mediator2_id = app
        .member(org, "med2@northside.test", Role::Mediator)
        .await?;
    let party_id = app.member(org, "party@northside.test", Role::Party).await?;
    let observer_id = app
        .member(org, "observer@northside.test", Role::Observer)
        .await?;
    let admin = app.sign_in("admin@northside.test", None).await?;

    let case1 = id(&admin
        .ok(CREATE_CASE, json!({ "ref": "N-1", "m": mediator_id }))
        .await?["createCase"]["id"]);
    let case2 = id(&admin
        .ok(CREATE_CASE, json!({ "ref": "N-2", "m": mediator2_id }))
        .await?["createCase"]["id"]);
    let added = admin
        .ok(
            ADD_PARTY,
            json!({ "c": case1, "k": "PARTY", "e": "party@northside.test" }),
        )
        .await?;
    assert_eq!(
        added["addParty"]["userId"],
        json!(party_id),
        "linked by email"
    );
    let case1_party = id(&added["addParty"]["id"]);
    let added = admin
        .ok(
            ADD_PARTY,
            json!({ "c": case1, "k": "COUNSEL", "e": "observer@northside.test" }),
        )
        .await?;
    assert_eq!(added["addParty"]["userId"], json!(observer_id));
    let case2_party = id(&admin
        .ok(
            ADD_PARTY,
            json!({ "c": case2, "k": "PARTY", "e": "outsider@example.test" }),
        )
        .await?["addParty"]["id"]);
    let session1 = id(&admin.ok(SCHEDULE, json!({ "c": case1 })).await?["scheduleSession"]["id"]);
    let session2 = id(&admin.ok(SCHEDULE, json!({ "c": case2 })).await?["scheduleSession"]["id"]);
    Ok(World {
        app,
        admin,
        admin_id: admin_id.to_string(),
        mediator_id: mediator_id.to_string(),
        mediator2_id: mediator2_id.to_string(),
        party_id: party_id.to_string(),
        observer_id: observer_id.to_string(),
        case1,
        case2,
        case1_party,
        case2_party,
        session1,
        session2,
    })
}

/// Runs each operation and asserts the error code it must fail with.
async fn expect_codes(
    client: &Client,
    who: &str,
    attempts: &[(&str, &str, Value, &str)],
) -> anyhow::Result<()> {
    for (name, query, vars, code) in attempts {
        let body = client.graphql(query, vars.clone()).await?;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], *code,
            "{who}: {name} {vars} must fail with {code}: {body}"
        );
    }
    Ok(())
}

/// Everything the admin can see, to show that refused attempts changed nothing.
async fn admin_view(w: &World) -> anyhow::Result<Value> {
    w.admin
        .ok(
            "{ members { user { id } role }
               cases(first: 5) { edges { node { id status updatedAt mediator { user { id } }
                 parties { id email userId } sessions { id status startsAt durationMinutes } } } }
               auditEvents(first: 100) { seq } }",
            json!({}),
        )
        .await
}

fn case_ids(data: &Value) -> Vec<String> {
    data["cases"]["edges"]
        .as_array()
        .map(|edges| edges.iter().map(|e| id(&e["node"]["id"])).collect())
        .unwrap_or_default()
}

fn session_ids(data: &Value) -> Vec<String> {
    data["sessions"]
        .as_array()
        .map(|list| list.iter().map(|s| id(&s["id"])).collect())
        .unwrap_or_default()
}

/// What parties and observers may not do, and what they may see.
async fn participant_is_confined(
    w: &World,
    email: &str,
    self_id: &str,
    role: &str,
) -> anyhow::Result<()> {
    let c = w.app.sign_in(email, None).await?;
    // After the sign-in, which is audited itself.
    let before = admin_view(w).await?;
    let viewer = c.ok(VIEWER, json!({})).await?;
    assert_eq!(viewer["viewer"]["role"], role);

    let forbidden = "FORBIDDEN";
    let attempts: Vec<(&str, &str, Value, &str)> = vec![
        (
            "inviteMember",
            INVITE,
            json!({ "e": "friend@example.test", "r": "ORG_ADMIN" }),
            forbidden,
        ),
        (
            "inviteMember",
            INVITE,
            json!({ "e": "friend@example.test", "r": "PARTY" }),
            forbidden,
        ),
        (
            "changeMemberRole self",
            CHANGE_ROLE,
            json!({ "u": self_id, "r": "ORG_ADMIN" }),
            forbidden,
        ),
        (
            "changeMemberRole self",
            CHANGE_ROLE,
            json!({ "u": self_id, "r": "MEDIATOR" }),
            forbidden,
        ),
        (
            "changeMemberRole other",
            CHANGE_ROLE,
            json!({ "u": w.admin_id, "r": "PARTY" }),
            forbidden,
        ),
        (
            "removeMember",
            REMOVE_MEMBER,
            json!({ "u": w.mediator_id }),
            forbidden,
        ),
        (
            "createCase",
            CREATE_CASE,
            json!({ "ref": "P-1", "m": null }),
            forbidden,
        ),
        (
            "updateCaseStatus own case",
            UPDATE_STATUS,
            json!({ "id": w.case1, "s": "SETTLED" }),
            forbidden,
        ),
        (
            "assignMediator own case",
            ASSIGN,
            json!({ "c": w.case1, "m": w.mediator2_id }),
            forbidden,
        ),
        (
            "scheduleSession own case",
            SCHEDULE,
            json!({ "c": w.case1 }),
            forbidden,
        ),
        (
            "rescheduleSession own case",
            RESCHEDULE,
            json!({ "id": w.session1 }),
            forbidden,
        ),
        (
            "cancelSession own case",
            CANCEL,
            json!({ "id": w.session1 }),
            forbidden,
        ),
        (
            "addParty own case",
            ADD_PARTY,
            json!({ "c": w.case1, "k": "PARTY", "e": "friend@example.test" }),
            forbidden,
        ),
        (
            "removeParty own case",
            REMOVE_PARTY,
            json!({ "p": w.case1_party }),
            forbidden,
        ),
        ("auditEvents", AUDIT, json!({}), forbidden),
        ("members", MEMBERS, json!({}), forbidden),
        (
            "case of another case",
            CASE,
            json!({ "id": w.case2 }),
            "NOT_FOUND",
        ),
        (
            "sessions of another case",
            SESSIONS_OF,
            json!({ "c": w.case2 }),
            "NOT_FOUND",
        ),
    ];
    expect_codes(&c, role, &attempts).await?;

    // Only the case they are on, its sessions, and no contact details.
    let listed = c.ok(CASES, json!({})).await?;
    assert_eq!(
        case_ids(&listed),
        vec![w.case1.clone()],
        "{role} lists only case 1"
    );
    let listed = c.ok(SESSIONS, json!({})).await?;
    assert_eq!(
        session_ids(&listed),
        vec![w.session1.clone()],
        "{role} sees only case 1's sessions"
    );
    let case = c.ok(CASE, json!({ "id": w.case1 })).await?;
    let parties = case["case"]["parties"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(parties.len(), 2, "{role} sees who is on the case");
    for p in &parties {
        assert!(
            p["email"].is_null(),
            "{role} must not see party emails: {case}"
        );
    }
    assert_eq!(session_ids(&case["case"]), vec![w.session1.clone()]);

    assert_eq!(
        admin_view(w).await?,
        before,
        "{role}'s attempts changed nothing"
    );
    let members = w.admin.ok(MEMBERS, json!({})).await?;
    let me = members["members"]
        .as_array()
        .and_then(|list| list.iter().find(|m| m["user"]["id"] == json!(self_id)))
        .cloned()
        .unwrap_or_default();
    assert_eq!(me["role"], role, "{role} kept their role");
    Ok(())
}

#[tokio::test]
async fn a_party_is_confined_to_reading_their_own_case() -> anyhow::Result<()> {
    let w = world().await?;
    participant_is_confined(&w, "party@northside.test", &w.party_id, "PARTY").await
}

#[tokio::test]
async fn an_observer_is_confined_like_a_party() -> anyhow::Result<()> {
    let w = world().await?;
    participant_is_confined(&w, "observer@northside.test", &w.observer_id, "OBSERVER").await
}

#[tokio::test]
async fn a_mediator_works_only_on_assigned_cases() -> anyhow::Result<()> {
    let w = world().await?;
    let c = w.app.sign_in("med@northside.test", None).await?;
    let before = admin_view(&w).await?;

    let forbidden = "FORBIDDEN";
    let nf = "NOT_FOUND";
    let attempts: Vec<(&str, &str, Value, &str)> = vec![
        (
            "changeMemberRole self",
            CHANGE_ROLE,
            json!({ "u": w.mediator_id, "r": "ORG_ADMIN" }),
            forbidden,
        ),
        (
            "changeMemberRole other",
            CHANGE_ROLE,
            json!({ "u": w.mediator2_id, "r": "PARTY" }),
            forbidden,
        ),
        (
            "removeMember",
            REMOVE_MEMBER,
            json!({ "u": w.mediator2_id }),
            forbidden,
        ),
        (
            "inviteMember",
            INVITE,
            json!({ "e": "friend@example.test", "r": "MEDIATOR" }),
            forbidden,
        ),
        (
            "createCase",
            CREATE_CASE,
            json!({ "ref": "M-1", "m": w.mediator_id }),
            forbidden,
        ),
        (
            "assignMediator own case",
            ASSIGN,
            json!({ "c": w.case1, "m": w.mediator2_id }),
            forbidden,
        ),
        (
            "assignMediator take over",
            ASSIGN,
            json!({ "c": w.case2, "m": w.mediator_id }),
            forbidden,
        ),
        ("auditEvents", AUDIT, json!({}), forbidden),
        // Someone else's case does not exist for them.
        ("case", CASE, json!({ "id": w.case2 }), nf),
        ("sessions", SESSIONS_OF, json!({ "c": w.case2 }), nf),
        (
            "updateCaseStatus",
            UPDATE_STATUS,
            json!({ "id": w.case2, "s": "ON_HOLD" }),
            nf,
        ),
        ("scheduleSession", SCHEDULE, json!({ "c": w.case2 }), nf),
        (
            "rescheduleSession",
            RESCHEDULE,
            json!({ "id": w.session2 }),
            nf,
        ),
        ("cancelSession", CANCEL, json!({ "id": w.session2 }), nf),
        (
            "addParty",
            ADD_PARTY,
            json!({ "c": w.case2, "k": "PARTY", "e": "friend@example.test" }),
            nf,
        ),
        (
            "removeParty",
            REMOVE_PARTY,
            json!({ "p": w.case2_party }),
            nf,
        ),
    ];
    expect_codes(&c, "mediator", &attempts).await?;
    assert_eq!(
        admin_view(&w).await?,
        before,
        "the mediator's attempts changed nothing"
    );

    // What they may do, on their own case.
    let listed = c.ok(CASES, json!({})).await?;
    assert_eq!(case_ids(&listed), vec![w.case1.clone()]);
    let listed = c.ok(SESSIONS, json!({})).await?;
    assert_eq!(session_ids(&listed), vec![w.session1.clone()]);
    let case = c.ok(CASE, json!({ "id": w.case1 })).await?;
    assert_eq!(
        case["case"]["parties"][0]["email"], "party@northside.test",
        "the case's mediator sees contact details"
    );
    c.ok(SCHEDULE, json!({ "c": w.case1 })).await?;
    c.ok(UPDATE_STATUS, json!({ "id": w.case1, "s": "ON_HOLD" }))
        .await?;
    c.ok(MEMBERS, json!({})).await?;

    // Unassigned from case 1, they lose it at once.
    w.admin
        .ok(ASSIGN, json!({ "c": w.case1, "m": w.mediator2_id }))
        .await?;
    assert_eq!(
        c.error_code(CASE, json!({ "id": w.case1 })).await?,
        "NOT_FOUND"
    );
    assert_eq!(
        c.error_code(SCHEDULE, json!({ "c": w.case1 })).await?,
        "NOT_FOUND"
    );
    assert_eq!(
        case_ids(&c.ok(CASES, json!({})).await?),
        Vec::<String>::new()
    );
    assert_eq!(
        session_ids(&c.ok(SESSIONS, json!({})).await?),
        Vec::<String>::new()
    );
    Ok(())
}

#[tokio::test]
async fn the_last_org_admin_cannot_demote_or_remove_themselves() -> anyhow::Result<()> {
    let w = world().await?;
    for role in ["MEDIATOR", "PARTY", "OBSERVER"] {
        assert_eq!(
            w.admin
                .error_code(CHANGE_ROLE, json!({ "u": w.admin_id, "r": role }))
                .await?,
            "CONFLICT",
            "demoting the last admin to {role}"
        );
    }
    let body = w
        .admin
        .graphql(REMOVE_MEMBER, json!({ "u": w.admin_id }))
        .await?;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "CONFLICT",
        "{body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("at least one org admin")),
        "refused by the last-admin rule: {body}"
    );
    let viewer = w.admin.ok(VIEWER, json!({})).await?;
    assert_eq!(viewer["viewer"]["role"], "ORG_ADMIN");

    // Promoting themselves again is a no-op, not a way around the rule.
    let data = w
        .admin
        .ok(CHANGE_ROLE, json!({ "u": w.admin_id, "r": "ORG_ADMIN" }))
        .await?;
    assert_eq!(data["changeMemberRole"]["role"], "ORG_ADMIN");

    // With a second admin, stepping down is allowed; the rule then protects the other.
    w.admin
        .ok(CHANGE_ROLE, json!({ "u": w.observer_id, "r": "ORG_ADMIN" }))
        .await?;
    let data = w
        .admin
        .ok(CHANGE_ROLE, json!({ "u": w.admin_id, "r": "MEDIATOR" }))
        .await?;
    assert_eq!(data["changeMemberRole"]["role"], "MEDIATOR");
    let second = w.app.sign_in("observer@northside.test", None).await?;
    assert_eq!(
        second
            .error_code(CHANGE_ROLE, json!({ "u": w.observer_id, "r": "PARTY" }))
            .await?,
        "CONFLICT"
    );
    // The demoted admin's session now carries the mediator's rights only.
    assert_eq!(w.admin.error_code(AUDIT, json!({})).await?, "FORBIDDEN");
    assert_eq!(
        w.admin
            .error_code(CHANGE_ROLE, json!({ "u": w.admin_id, "r": "ORG_ADMIN" }))
            .await?,
        "FORBIDDEN"
    );
    Ok(())
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() -> anyhow::Result<()> {
    let w = world().await?;
    w.admin
        .ok(CHANGE_ROLE, json!({ "u": w.observer_id, "r": "ORG_ADMIN" }))
        .await?;
    let second = w.app.sign_in("observer@northside.test", None).await?;
    let (one, two) = tokio::join!(
        w.admin
            .graphql(CHANGE_ROLE, json!({ "u": w.observer_id, "r": "MEDIATOR" })),
        second.graphql(CHANGE_ROLE, json!({ "u": w.admin_id, "r": "MEDIATOR" })),
    );
    let (one, two) = (one?, two?);
    let codes: Vec<Option<&str>> = [&one, &two]
        .iter()
        .map(|b| b["errors"][0]["extensions"]["code"].as_str())
        .collect();
    assert_eq!(
        codes.iter().filter(|c| c.is_none()).count(),
        1,
        "exactly one demotion goes through: {one} / {two}"
    );
    assert!(
        codes
            .iter()
            .flatten()
            .all(|c| *c == "CONFLICT" || *c == "FORBIDDEN"),
        "the other is refused: {one} / {two}"
    );
    // Both are still members, and mediators may list members too.
    let list = w.admin.ok(MEMBERS, json!({})).await?["members"].clone();
    let admins = list
        .as_array()
        .map(|l| l.iter().filter(|m| m["role"] == "ORG_ADMIN").count())
        .unwrap_or_default();
    assert_eq!(admins, 1, "exactly one admin remains: {list}");
    Ok(())
}

#[tokio::test]
async fn a_removed_member_is_signed_out_on_the_next_request() -> anyhow::Result<()> {
    let w = world().await?;
    let party = w.app.sign_in("party@northside.test", None).await?;
    party.ok(VIEWER, json!({})).await?;
    party.ok(CASE, json!({ "id": w.case1 })).await?;

    // Still on a case: the membership cannot go yet.
    assert_eq!(
        w.admin
            .error_code(REMOVE_MEMBER, json!({ "u": w.party_id }))
            .await?,
        "CONFLICT"
    );
    w.admin
        .ok(REMOVE_PARTY, json!({ "p": w.case1_party }))
        .await?;
    let removed = w
        .admin
        .ok(REMOVE_MEMBER, json!({ "u": w.party_id }))
        .await?;
    assert_eq!(removed["removeMember"], json!(w.party_id));

    for (what, query, vars) in [
        ("viewer", VIEWER, json!({})),
        ("case", CASE, json!({ "id": w.case1 })),
        ("cases", CASES, json!({})),
        ("organization", "{ organization { id } }", json!({})),
        (
            "createCase",
            CREATE_CASE,
            json!({ "ref": "X-1", "m": null }),
        ),
    ] {
        assert_eq!(
            party.error_code(query, vars).await?,
            "UNAUTHENTICATED",
            "{what} after removal"
        );
    }
    let response = party
        .http
        .get(format!("{}/auth/session", party.base_url))
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 401, "the session is gone");
    // Signing in again no longer works either.
    let (status, _) = w
        .app
        .client()
        .post_json(
            "/auth/sign-in",
            &json!({ "email": "party@northside.test", "password": accord_testkit::PASSWORD }),
        )
        .await?;
    assert_eq!(status, 403);

    // A demoted member keeps the session but loses the rights at once.
    let mediator = w.app.sign_in("med@northside.test", None).await?;
    mediator.ok(MEMBERS, json!({})).await?;
    mediator.ok(CASE, json!({ "id": w.case1 })).await?;
    w.admin
        .ok(ASSIGN, json!({ "c": w.case1, "m": w.mediator2_id }))
        .await?;
    w.admin
        .ok(CHANGE_ROLE, json!({ "u": w.mediator_id, "r": "OBSERVER" }))
        .await?;
    assert_eq!(mediator.error_code(MEMBERS, json!({})).await?, "FORBIDDEN");
    assert_eq!(
        mediator
            .error_code(SCHEDULE, json!({ "c": w.case1 }))
            .await?,
        "FORBIDDEN",
        "observers never schedule"
    );
    assert_eq!(
        mediator.error_code(CASE, json!({ "id": w.case1 })).await?,
        "NOT_FOUND",
        "an observer who is not on case 1 does not see it"
    );
    Ok(())
}

#[tokio::test]
async fn requests_without_a_valid_session_are_unauthenticated() -> anyhow::Result<()> {
    let w = world().await?;
    let anonymous = w.app.client();
    let forged = w.app.client();
    let cookie = reqwest::header::HeaderValue::from_static("accord_session=forged-token-value");
    for (what, query, vars) in [
        ("viewer", VIEWER, json!({})),
        ("organization", "{ organization { id } }", json!({})),
        ("members", MEMBERS, json!({})),
        ("cases", CASES, json!({})),
        ("case", CASE, json!({ "id": w.case1 })),
        ("sessions", SESSIONS, json!({})),
        ("auditEvents", AUDIT, json!({})),
        (
            "createCase",
            CREATE_CASE,
            json!({ "ref": "A-1", "m": null }),
        ),
        (
            "inviteMember",
            INVITE,
            json!({ "e": "x@example.test", "r": "ORG_ADMIN" }),
        ),
        (
            "changeMemberRole",
            CHANGE_ROLE,
            json!({ "u": w.party_id, "r": "ORG_ADMIN" }),
        ),
        ("cancelSession", CANCEL, json!({ "id": w.session1 })),
    ] {
        assert_eq!(
            anonymous.error_code(query, vars.clone()).await?,
            "UNAUTHENTICATED",
            "{what} with no session"
        );
        let body: Value = forged
            .http
            .post(format!("{}/graphql", forged.base_url))
            .header(reqwest::header::COOKIE, cookie.clone())
            .json(&json!({ "query": query, "variables": vars }))
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{what} with a forged session cookie: {body}"
        );
    }

    // A signed-out session is dead too.
    let party = w.app.sign_in("party@northside.test", None).await?;
    let (status, _) = party.post_json("/auth/sign-out", &json!({})).await?;
    assert_eq!(status, 204);
    assert_eq!(
        party.error_code(VIEWER, json!({})).await?,
        "UNAUTHENTICATED"
    );
    // Nothing the anonymous attempts tried happened.
    let members = w.admin.ok(MEMBERS, json!({})).await?;
    assert_eq!(members["members"].as_array().map(Vec::len), Some(5));
    let case = w.admin.ok(CASE, json!({ "id": w.case1 })).await?;
    assert_eq!(case["case"]["sessions"][0]["id"], json!(w.session1));
    Ok(())
}

#[tokio::test]
async fn a_mediator_with_cases_keeps_the_role_until_reassigned() -> anyhow::Result<()> {
    let w = world().await?;
    for role in ["OBSERVER", "PARTY", "ORG_ADMIN"] {
        let body = w
            .admin
            .graphql(CHANGE_ROLE, json!({ "u": w.mediator_id, "r": role }))
            .await?;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "CONFLICT",
            "{role}: {body}"
        );
        assert!(body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("assign another mediator"));
    }
    w.admin
        .ok(
            "mutation($c: UUID!) { assignMediator(caseId: $c, mediatorId: null) { id } }",
            json!({ "c": w.case1 }),
        )
        .await?;
    let data = w
        .admin
        .ok(CHANGE_ROLE, json!({ "u": w.mediator_id, "r": "OBSERVER" }))
        .await?;
    assert_eq!(data["changeMemberRole"]["role"], "OBSERVER");
    Ok(())
}

#[tokio::test]
async fn parties_see_the_mediators_name_but_not_their_contact_details() -> anyhow::Result<()> {
    let w = world().await?;
    let party = w.app.sign_in("party@northside.test", None).await?;
    let q =
        "query($c: UUID!) { case(id: $c) { mediator { user { displayName email } activated } } }";
    let data = party.ok(q, json!({ "c": w.case1 })).await?;
    let mediator = &data["case"]["mediator"];
    assert_eq!(mediator["user"]["displayName"], "med");
    assert!(mediator["user"]["email"].is_null(), "{data}");
    assert!(mediator["activated"].is_null(), "{data}");
    let data = w.admin.ok(q, json!({ "c": w.case1 })).await?;
    assert_eq!(
        data["case"]["mediator"]["user"]["email"],
        "med@northside.test"
    );
    Ok(())
}

#[tokio::test]
async fn a_denied_role_learns_nothing_about_which_ids_exist() -> anyhow::Result<()> {
    let w = world().await?;
    let party = w.app.sign_in("party@northside.test", None).await?;
    let missing = uuid::Uuid::new_v4().to_string();
    for (mutation, existing) in [
        ("mutation($id: UUID!) { removeParty(partyId: $id) }", &w.case2_party),
        ("mutation($id: UUID!) { cancelSession(id: $id) { id } }", &w.session2),
        (
            "mutation($id: UUID!) { rescheduleSession(input: {id: $id, startsAt: \"2031-01-01T10:00:00Z\"}) { id } }",
            &w.session2,
        ),
    ] {
        let a = party.graphql(mutation, json!({ "id": existing })).await?;
        let b = party.graphql(mutation, json!({ "id": missing })).await?;
        assert_eq!(a["errors"][0]["extensions"]["code"], "FORBIDDEN", "{a}");
        assert_eq!(a["errors"][0]["message"], b["errors"][0]["message"], "{mutation}");
        assert_eq!(a["errors"][0]["extensions"], b["errors"][0]["extensions"], "{mutation}");
    }
    Ok(())
}

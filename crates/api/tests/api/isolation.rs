//! Cross-tenant isolation through the API: an org admin, the most powerful
//! viewer there is, handed every id of another org, gets `NOT_FOUND` (or
//! nothing in a list) for every query and mutation, and the other org is left
//! exactly as it was.

use accord_domain::Role;
use accord_testkit::{spawn_app, Client, TestApp};
use serde_json::{json, Value};

const CREATE_CASE: &str = "mutation($ref: String!, $m: UUID) { createCase(input: {reference: $ref, title: \"Boundary dispute\", mediatorId: $m}) { id } }";
const ADD_PARTY: &str = "mutation($c: UUID!, $e: String!) { addParty(input: {caseId: $c, kind: PARTY, displayName: \"Someone\", email: $e}) { id userId } }";
const SCHEDULE: &str = "mutation($c: UUID!) { scheduleSession(input: {caseId: $c, startsAt: \"2031-03-30T09:00:00Z\", timeZone: \"Europe/London\", durationMinutes: 60}) { id } }";
const RESCHEDULE: &str = "mutation($id: UUID!) { rescheduleSession(input: {id: $id, startsAt: \"2031-04-02T09:00:00Z\", durationMinutes: 30}) { id startsAt } }";
const CANCEL: &str = "mutation($id: UUID!) { cancelSession(id: $id) { id status } }";
const UPDATE_STATUS: &str =
    "mutation($id: UUID!, $s: CaseStatus!) { updateCaseStatus(id: $id, status: $s) { id status } }";
const ASSIGN: &str =
    "mutation($c: UUID!, $m: UUID) { assignMediator(caseId: $c, mediatorId: $m) { id } }";
const REMOVE_PARTY: &str = "mutation($p: UUID!) { removeParty(partyId: $p) }";
const CHANGE_ROLE: &str =
    "mutation($u: UUID!, $r: Role!) { changeMemberRole(userId: $u, role: $r) { role } }";
const REMOVE_MEMBER: &str = "mutation($u: UUID!) { removeMember(userId: $u) }";
const CASE: &str = "query($id: UUID!) { case(id: $id) { id title parties { email } } }";
const SESSIONS_OF: &str = "query($c: UUID!) { sessions(caseId: $c) { id } }";

/// Everything an org admin can see of their org, to compare before and after.
const SNAPSHOT: &str = "{
  organization { id slug name }
  members { user { id email displayName } role activated }
  cases(first: 5) { edges { node {
    id reference title status updatedAt
    mediator { user { id } }
    parties { id kind displayName email userId }
    sessions { id startsAt timeZone durationMinutes status updatedAt }
  } } }
  sessions { id caseId status startsAt }
  auditEvents(first: 100) { seq action targetId hash }
}";

/// One org built through the API: an admin, a mediator and a party account,
/// and a case (mediated, with the party on it) with a scheduled session.
#[derive(Debug)]
struct Side {
    slug: String,
    org: String,
    admin: String,
    mediator: String,
    party_user: String,
    case: String,
    party: String,
    session: String,
    client: Client,
}

fn id(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected an id, got {v}"))
        .to_owned()
}

async fn side(app: &TestApp, slug: &str) -> anyhow::Result<Side> {
    let org = app.org(slug).await?;
    let admin = app
        .member(org, &format!("admin@{slug}.test"), Role::OrgAdmin)
        .await?;
    let mediator = app
        .member(org, &format!("mediator@{slug}.test"), Role::Mediator)
        .await?;
    let party_email = format!("party@{slug}.test");
    let party_user = app.member(org, &party_email, Role::Party).await?;
    let client = app.sign_in(&format!("admin@{slug}.test"), None).await?;
    let data = client
        .ok(
            CREATE_CASE,
            json!({ "ref": format!("{slug}-1"), "m": mediator }),
        )
        .await?;
    let case = id(&data["createCase"]["id"]);
    let data = client
        .ok(ADD_PARTY, json!({ "c": case, "e": party_email }))
        .await?;
    let party = id(&data["addParty"]["id"]);
    assert_eq!(data["addParty"]["userId"], json!(party_user));
    let data = client.ok(SCHEDULE, json!({ "c": case })).await?;
    let session = id(&data["scheduleSession"]["id"]);
    Ok(Side {
        slug: slug.to_owned(),
        org: org.to_string(),
        admin: admin.to_string(),
        mediator: mediator.to_string(),
        party_user: party_user.to_string(),
        case,
        party,
        session,
        client,
    })
}

/// Every string anywhere in a JSON value.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Object(map) => map.values().for_each(|i| strings(i, out)),
        _ => {}
    }
}

/// Asserts that none of `side`'s ids or emails appear anywhere in `data`.
fn assert_nothing_of(side: &Side, data: &Value, what: &str) {
    let mut seen = Vec::new();
    strings(data, &mut seen);
    let secrets = [
        &side.org,
        &side.admin,
        &side.mediator,
        &side.party_user,
        &side.case,
        &side.party,
        &side.session,
    ];
    for s in &seen {
        assert!(
            !secrets.contains(&s) && !s.contains(&format!("@{}.test", side.slug)),
            "{what} shows {s}, which belongs to org {}: {data}",
            side.slug
        );
    }
}

#[tokio::test]
async fn an_org_admin_cannot_reach_anything_of_another_org() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let a = side(&app, "alpha").await?;
    let b = side(&app, "beta").await?;
    let before_b = b.client.ok(SNAPSHOT, json!({})).await?;
    let c = &a.client;

    // Reads by id.
    assert_eq!(
        c.error_code(CASE, json!({ "id": b.case })).await?,
        "NOT_FOUND"
    );
    assert_eq!(
        c.error_code(SESSIONS_OF, json!({ "c": b.case })).await?,
        "NOT_FOUND"
    );

    // Writes by id. Each must fail as if the object did not exist.
    let attempts: Vec<(&str, &str, Value)> = vec![
        (
            "updateCaseStatus",
            UPDATE_STATUS,
            json!({ "id": b.case, "s": "ON_HOLD" }),
        ),
        (
            "updateCaseStatus",
            UPDATE_STATUS,
            json!({ "id": b.case, "s": "CLOSED" }),
        ),
        (
            "assignMediator",
            ASSIGN,
            json!({ "c": b.case, "m": a.mediator }),
        ),
        (
            "assignMediator",
            ASSIGN,
            json!({ "c": b.case, "m": b.mediator }),
        ),
        ("assignMediator", ASSIGN, json!({ "c": b.case, "m": null })),
        (
            "addParty",
            ADD_PARTY,
            json!({ "c": b.case, "e": "spy@alpha.test" }),
        ),
        ("removeParty", REMOVE_PARTY, json!({ "p": b.party })),
        ("scheduleSession", SCHEDULE, json!({ "c": b.case })),
        ("rescheduleSession", RESCHEDULE, json!({ "id": b.session })),
        ("cancelSession", CANCEL, json!({ "id": b.session })),
        (
            "changeMemberRole",
            CHANGE_ROLE,
            json!({ "u": b.admin, "r": "PARTY" }),
        ),
        (
            "changeMemberRole",
            CHANGE_ROLE,
            json!({ "u": b.party_user, "r": "ORG_ADMIN" }),
        ),
        (
            "changeMemberRole",
            CHANGE_ROLE,
            json!({ "u": b.mediator, "r": "OBSERVER" }),
        ),
        ("removeMember", REMOVE_MEMBER, json!({ "u": b.party_user })),
        ("removeMember", REMOVE_MEMBER, json!({ "u": b.admin })),
    ];
    for (name, query, vars) in &attempts {
        let body = c.graphql(query, vars.clone()).await?;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "NOT_FOUND",
            "{name} with org B's ids {vars}: {body}"
        );
        assert!(body["data"].is_null(), "{name}: no data for B: {body}");
    }

    // B's mediator is no mediator of A: assigning them to A's own case is bad input.
    assert_eq!(
        c.error_code(ASSIGN, json!({ "c": a.case, "m": b.mediator }))
            .await?,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        c.error_code(CREATE_CASE, json!({ "ref": "alpha-2", "m": b.mediator }))
            .await?,
        "BAD_USER_INPUT"
    );

    // Lists show only A.
    let mine = c.ok(SNAPSHOT, json!({})).await?;
    assert_nothing_of(&b, &mine, "org A's own view");
    let cases: Vec<String> = mine["cases"]["edges"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| id(&e["node"]["id"]))
        .collect();
    assert_eq!(cases, vec![a.case.clone()]);
    let members: Vec<String> = mine["members"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|m| id(&m["user"]["id"]))
        .collect();
    assert_eq!(members.len(), 3);
    for m in [&a.admin, &a.mediator, &a.party_user] {
        assert!(members.contains(m), "{m} in {members:?}");
    }
    let sessions: Vec<String> = mine["sessions"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|s| id(&s["id"]))
        .collect();
    assert_eq!(sessions, vec![a.session.clone()]);
    assert!(
        !mine["auditEvents"].as_array().is_none_or(Vec::is_empty),
        "A sees its own audit log"
    );
    assert_eq!(mine["organization"]["id"], json!(a.org));

    // B is exactly as it was.
    let after_b = b.client.ok(SNAPSHOT, json!({})).await?;
    assert_eq!(after_b, before_b, "org B changed");
    assert_nothing_of(&a, &after_b, "org B's view");
    Ok(())
}

#[tokio::test]
async fn a_session_is_bound_to_the_org_it_signed_in_to() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let a = side(&app, "alpha").await?;
    let b = side(&app, "beta").await?;

    // One account, a party in A and an admin in B.
    let both = "both@example.test";
    app.member(app_org(&a)?, both, Role::Party).await?;
    app.member(app_org(&b)?, both, Role::OrgAdmin).await?;

    let in_a = app.sign_in(both, Some("alpha")).await?;
    let viewer = in_a
        .ok("{ viewer { role organization { id slug } } }", json!({}))
        .await?;
    assert_eq!(viewer["viewer"]["organization"]["id"], json!(a.org));
    assert_eq!(viewer["viewer"]["organization"]["slug"], "alpha");
    assert_eq!(viewer["viewer"]["role"], "PARTY");
    // Being an admin of B gives nothing in A's session: not B's data, not admin rights.
    assert_eq!(
        in_a.error_code(CASE, json!({ "id": b.case })).await?,
        "NOT_FOUND"
    );
    assert_eq!(
        in_a.error_code("{ members { role } }", json!({})).await?,
        "FORBIDDEN"
    );
    assert_eq!(
        in_a.error_code(CHANGE_ROLE, json!({ "u": b.party_user, "r": "OBSERVER" }))
            .await?,
        "FORBIDDEN"
    );
    // Unknown arguments naming an org are rejected, not silently honoured.
    assert_eq!(
        in_a.error_code(
            "query($o: UUID!) { cases(orgId: $o) { edges { node { id } } } }",
            json!({ "o": b.org })
        )
        .await?,
        "BAD_USER_INPUT"
    );
    let listed = in_a
        .ok(
            "{ cases { edges { node { id } } } sessions { id } }",
            json!({}),
        )
        .await?;
    assert_nothing_of(&b, &listed, "the A session's lists");

    // The same account signed in to B is an admin there, and sees only B.
    let in_b = app.sign_in(both, Some("beta")).await?;
    let viewer = in_b
        .ok("{ viewer { role organization { id } } }", json!({}))
        .await?;
    assert_eq!(viewer["viewer"]["organization"]["id"], json!(b.org));
    assert_eq!(viewer["viewer"]["role"], "ORG_ADMIN");
    assert_eq!(
        in_b.error_code(CASE, json!({ "id": a.case })).await?,
        "NOT_FOUND"
    );

    // A's admin cannot sign in to B at all.
    let (status, body) = app
        .client()
        .post_json(
            "/auth/sign-in",
            &json!({ "email": "admin@alpha.test", "password": accord_testkit::PASSWORD, "org": "beta" }),
        )
        .await?;
    assert_eq!(status, 403, "{body}");

    // No field of the API takes an org: the session is the only source of it.
    let sdl = accord_api::schema_sdl();
    for arg in ["orgId", "organizationId", "orgSlug", "tenant"] {
        assert!(!sdl.contains(&format!("{arg}:")), "the schema takes {arg}");
    }
    Ok(())
}

#[tokio::test]
async fn removal_from_one_org_does_not_fall_back_to_another() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let a = side(&app, "alpha").await?;
    let b = side(&app, "beta").await?;
    let both = "both@example.test";
    let both_id = app.member(app_org(&a)?, both, Role::Mediator).await?;
    app.member(app_org(&b)?, both, Role::OrgAdmin).await?;
    let in_a = app.sign_in(both, Some("alpha")).await?;
    in_a.ok("{ viewer { role } }", json!({})).await?;

    a.client.ok(REMOVE_MEMBER, json!({ "u": both_id })).await?;
    // The A session is dead, even though the account is still an admin of B.
    assert_eq!(
        in_a.error_code("{ viewer { role } }", json!({})).await?,
        "UNAUTHENTICATED"
    );
    assert_eq!(
        in_a.error_code(CASE, json!({ "id": b.case })).await?,
        "UNAUTHENTICATED"
    );
    assert_eq!(
        in_a.error_code(UPDATE_STATUS, json!({ "id": b.case, "s": "CLOSED" }))
            .await?,
        "UNAUTHENTICATED"
    );
    let status = b.client.ok(CASE, json!({ "id": b.case })).await?;
    assert_eq!(status["case"]["id"], json!(b.case));
    Ok(())
}

fn app_org(side: &Side) -> anyhow::Result<accord_domain::OrgId> {
    Ok(side.org.parse()?)
}

#[tokio::test]
async fn inviting_an_address_reveals_nothing_about_accounts_elsewhere() -> anyhow::Result<()> {
    let app = accord_testkit::spawn_app().await?;
    let a = app.org("org-a").await?;
    let b = app.org("org-b").await?;
    app.member(a, "admin@a.test", accord_domain::Role::OrgAdmin)
        .await?;
    app.member(b, "alice@elsewhere.test", accord_domain::Role::Mediator)
        .await?;
    // Alice uses her account in org B.
    app.sign_in("alice@elsewhere.test", Some("org-b")).await?;
    let admin = app.sign_in("admin@a.test", None).await?;
    let invite = "mutation($e: String!) { inviteMember(input: {email: $e, displayName: \"Typed Name\", role: PARTY}) { user { email displayName } role activated } }";
    let existing = admin
        .ok(invite, json!({ "e": "alice@elsewhere.test" }))
        .await?;
    let fresh = admin.ok(invite, json!({ "e": "nobody@new.test" })).await?;
    let strip = |mut v: serde_json::Value| {
        v["inviteMember"]["user"]["email"] = json!(null);
        v
    };
    assert_eq!(
        strip(existing.clone()),
        strip(fresh),
        "an existing account must look like a new one"
    );
    assert_eq!(
        existing["inviteMember"]["user"]["displayName"],
        "Typed Name"
    );
    assert_eq!(existing["inviteMember"]["activated"], false);

    // Once Alice signs in to org A, A sees that she joined; still under A's name for her.
    app.sign_in("alice@elsewhere.test", Some("org-a")).await?;
    let members = admin
        .ok(
            "{ members { user { email displayName } activated } }",
            json!({}),
        )
        .await?;
    let alice = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["email"] == "alice@elsewhere.test")
        .unwrap()
        .clone();
    assert_eq!(alice["activated"], true);
    assert_eq!(alice["user"]["displayName"], "Typed Name");
    Ok(())
}

//! The audit log as org admins read it: filters (ANDed), who acted, and the
//! chain check; other roles are refused, and nothing crosses organizations.

use accord_domain::Role;
use accord_testkit::{spawn_app, Client, TestApp};
use serde_json::{json, Value};

const EVENTS: &str = "query($first: Int! = 50, $before: Int, $actor: UUID, $action: String, $type: String, $target: UUID) { \
    auditEvents(first: $first, beforeSeq: $before, actorUserId: $actor, action: $action, targetType: $type, targetId: $target) { \
      seq action targetType targetId actorUserId actor { id displayName email } } }";
const CHAIN: &str = "{ auditChain { verified events brokenAtSeq problem checkedAt } }";
const CREATE_CASE: &str = "mutation($ref: String!, $m: UUID) { createCase(input: {reference: $ref, title: \"T\", mediatorId: $m}) { id } }";
const SCHEDULE: &str = "mutation($c: UUID!) { scheduleSession(input: {caseId: $c, startsAt: \"2031-03-30T09:00:00Z\", timeZone: \"UTC\", durationMinutes: 60}) { id } }";

struct World {
    app: TestApp,
    org: accord_domain::OrgId,
    admin: Client,
    admin_id: String,
    mediator: Client,
    mediator_id: String,
    party: Client,
    case1: String,
    case2: String,
    other_org: accord_domain::OrgId,
    other_admin: Client,
}

fn id(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected an id, got {v}"))
        .to_owned()
}

/// The admin opens two cases (the first mediated by `med`), the mediator
/// schedules a session on the first; another org has activity of its own.
async fn world() -> anyhow::Result<World> {
    let app = spawn_app().await?;
    let org = app.org("northside").await?;
    let admin_id = app.member(org, "admin@n.test", Role::OrgAdmin).await?;
    let mediator_id = app.member(org, "med@n.test", Role::Mediator).await?;
    app.member(org, "party@n.test", Role::Party).await?;
    let admin = app.sign_in("admin@n.test", None).await?;
    let case1 = id(&admin
        .ok(CREATE_CASE, json!({ "ref": "N-1", "m": mediator_id }))
        .await?["createCase"]["id"]);
    let case2 = id(&admin
        .ok(CREATE_CASE, json!({ "ref": "N-2", "m": null }))
        .await?["createCase"]["id"]);
    let mediator = app.sign_in("med@n.test", None).await?;
    mediator.ok(SCHEDULE, json!({ "c": case1 })).await?;

    let org2 = app.org("southside").await?;
    app.member(org2, "admin@s.test", Role::OrgAdmin).await?;
    let other_admin = app.sign_in("admin@s.test", None).await?;
    other_admin
        .ok(CREATE_CASE, json!({ "ref": "S-1", "m": null }))
        .await?;
    Ok(World {
        party: app.sign_in("party@n.test", None).await?,
        app,
        org,
        admin,
        admin_id: admin_id.to_string(),
        mediator,
        mediator_id: mediator_id.to_string(),
        case1,
        case2,
        other_org: org2,
        other_admin,
    })
}

async fn events(client: &Client, vars: Value) -> anyhow::Result<Vec<Value>> {
    let data = client.ok(EVENTS, vars).await?;
    Ok(data["auditEvents"].as_array().unwrap().clone())
}

fn actions(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_log_is_filtered_by_actor_action_and_target() -> anyhow::Result<()> {
    let w = world().await?;
    let all = events(&w.admin, json!({})).await?;
    assert!(all.len() >= 4, "{all:?}");

    let created = events(&w.admin, json!({ "action": "case.create" })).await?;
    assert_eq!(created.len(), 2);
    assert!(created.iter().all(|e| e["targetType"] == "case"));
    // Newest first.
    assert_eq!(created[0]["targetId"], w.case2.as_str());
    assert_eq!(created[1]["targetId"], w.case1.as_str());

    let on_case1 = events(&w.admin, json!({ "target": w.case1 })).await?;
    assert_eq!(actions(&on_case1), ["case.create"]);
    let on_case2 = events(
        &w.admin,
        json!({ "type": "case", "target": w.case2, "action": "case.create" }),
    )
    .await?;
    assert_eq!(on_case2.len(), 1);
    // Filters are ANDed: an action that never touched that target finds nothing.
    let none = events(
        &w.admin,
        json!({ "target": w.case2, "action": "session.schedule" }),
    )
    .await?;
    assert!(none.is_empty());

    // By actor, with the actor's name and address.
    let by_mediator = events(&w.admin, json!({ "actor": w.mediator_id })).await?;
    assert_eq!(actions(&by_mediator), ["session.schedule", "auth.sign_in"]);
    let actor = &by_mediator[0]["actor"];
    assert_eq!(actor["id"], w.mediator_id.as_str());
    assert_eq!(actor["displayName"], "med");
    assert_eq!(actor["email"], "med@n.test");
    let by_admin = events(&w.admin, json!({ "actor": w.admin_id, "type": "case" })).await?;
    assert_eq!(actions(&by_admin), ["case.create", "case.create"]);
    assert!(by_admin
        .iter()
        .all(|e| e["actor"]["displayName"] == "admin" && e["actorUserId"] == w.admin_id.as_str()));

    // The system's events (the org's creation) have no actor.
    let system = events(&w.admin, json!({ "action": "organization.create" })).await?;
    for e in &system {
        assert!(e["actorUserId"].is_null() && e["actor"].is_null(), "{e}");
    }

    // Paging keeps the filter.
    let first = events(&w.admin, json!({ "action": "case.create", "first": 1 })).await?;
    assert_eq!(first.len(), 1);
    let rest = events(
        &w.admin,
        json!({ "action": "case.create", "before": first[0]["seq"] }),
    )
    .await?;
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["targetId"], w.case1.as_str());
    Ok(())
}

#[tokio::test]
async fn a_former_members_events_keep_their_id_but_lose_the_name() -> anyhow::Result<()> {
    let w = world().await?;
    // The mediator's case goes to nobody, then the mediator leaves.
    w.admin
        .ok(
            "mutation($c: UUID!) { assignMediator(caseId: $c, mediatorId: null) { id } }",
            json!({ "c": w.case1 }),
        )
        .await?;
    w.admin
        .ok(
            "mutation($u: UUID!) { removeMember(userId: $u) }",
            json!({ "u": w.mediator_id }),
        )
        .await?;
    let theirs = events(&w.admin, json!({ "actor": w.mediator_id })).await?;
    assert_eq!(actions(&theirs), ["session.schedule", "auth.sign_in"]);
    for e in &theirs {
        assert_eq!(e["actorUserId"], w.mediator_id.as_str());
        assert!(e["actor"].is_null(), "{e}");
    }
    Ok(())
}

#[tokio::test]
async fn only_org_admins_read_the_log_or_check_the_chain() -> anyhow::Result<()> {
    let w = world().await?;
    for client in [&w.mediator, &w.party] {
        assert_eq!(client.error_code(EVENTS, json!({})).await?, "FORBIDDEN");
        assert_eq!(
            client
                .error_code(EVENTS, json!({ "target": w.case1 }))
                .await?,
            "FORBIDDEN"
        );
        assert_eq!(client.error_code(CHAIN, json!({})).await?, "FORBIDDEN");
    }
    // Another org's admin filters on this org's ids and finds nothing.
    for vars in [
        json!({ "target": w.case1 }),
        json!({ "actor": w.admin_id }),
        json!({ "actor": w.mediator_id }),
    ] {
        assert!(events(&w.other_admin, vars).await?.is_empty());
    }
    let theirs = events(&w.other_admin, json!({ "action": "case.create" })).await?;
    assert_eq!(theirs.len(), 1);
    Ok(())
}

/// The org's events, counted as the owner sees them.
async fn count(app: &TestApp, org: accord_domain::OrgId) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE org_id = $1")
            .bind(org.as_uuid())
            .fetch_one(app.db.admin.pool())
            .await?,
    )
}

#[tokio::test]
async fn the_chain_check_reports_an_intact_chain_and_where_it_breaks() -> anyhow::Result<()> {
    let w = world().await?;
    let data = w.admin.ok(CHAIN, json!({})).await?;
    let chain = &data["auditChain"];
    assert_eq!(chain["verified"], true, "{chain}");
    assert!(chain["brokenAtSeq"].is_null() && chain["problem"].is_null());
    assert_eq!(chain["events"], count(&w.app, w.org).await?);
    let checked: chrono::DateTime<chrono::Utc> = chain["checkedAt"].as_str().unwrap().parse()?;
    assert!((chrono::Utc::now() - checked).num_seconds().abs() < 60);

    // Someone with the owner's credentials edits event 3, triggers off.
    let mut tx = w.app.db.admin.pool().begin().await?;
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE audit_events SET action = 'case.view' WHERE org_id = $1 AND seq = 3")
        .bind(w.org.as_uuid())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;

    let data = w.admin.ok(CHAIN, json!({})).await?;
    let chain = &data["auditChain"];
    assert_eq!(chain["verified"], false, "{chain}");
    assert_eq!(chain["brokenAtSeq"], 3);
    assert_eq!(chain["problem"], "event 3 was edited");

    // The other org's chain is its own, and intact.
    let data = w.other_admin.ok(CHAIN, json!({})).await?;
    assert_eq!(data["auditChain"]["verified"], true);
    assert_eq!(
        data["auditChain"]["events"],
        count(&w.app, w.other_org).await?
    );
    Ok(())
}

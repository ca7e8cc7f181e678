//! The intake form through the API: org admins configure it, a person on
//! the case answers it before the first session is held, reads back only
//! their own answers, the mediator reads everyone's; answers never reach the
//! audit log; the case timeline pages newest first and shows each role what
//! it may see.

use accord_domain::Role;
use accord_testkit::{spawn_app, Client, TestApp};
use chrono::{Duration, Utc};
use serde_json::{json, Value};

const CREATE_CASE: &str = "mutation($ref: String!, $m: UUID) { createCase(input: {reference: $ref, title: \"Dispute\", mediatorId: $m}) { id } }";
const ADD_PARTY: &str = "mutation($c: UUID!, $n: String!, $e: String!) { addParty(input: {caseId: $c, kind: PARTY, displayName: $n, email: $e}) { id } }";
const SUBMIT: &str = "mutation($c: UUID!, $a: [IntakeAnswerInput!]!) { submitIntake(caseId: $c, answers: $a) { partyName answers { field value } } }";
const MINE: &str = "query($c: UUID!) { myIntake(caseId: $c) { open form { fields { field required } disputeTypes } response { answers { field value } } } }";
const TIMELINE: &str = "query($c: UUID!, $n: Int!, $after: String) { caseTimeline(caseId: $c, first: $n, after: $after) { entries { id kind summary actorName minutesHeld } endCursor } }";

fn id(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected an id, got {v}"))
        .to_owned()
}

struct World {
    app: TestApp,
    admin: Client,
    mediator: Client,
    a: Client,
    b: Client,
    case: String,
}

async fn world() -> anyhow::Result<World> {
    let app = spawn_app().await?;
    let org = app.org("intake").await?;
    app.member(org, "admin@intake.test", Role::OrgAdmin).await?;
    let med = app.member(org, "med@intake.test", Role::Mediator).await?;
    app.member(org, "a@intake.test", Role::Party).await?;
    app.member(org, "b@intake.test", Role::Party).await?;
    let admin = app.sign_in("admin@intake.test", None).await?;
    let case = id(&admin
        .ok(CREATE_CASE, json!({ "ref": "I-1", "m": med }))
        .await?["createCase"]["id"]);
    for (n, e) in [("Alice", "a@intake.test"), ("Bob", "b@intake.test")] {
        admin
            .ok(ADD_PARTY, json!({ "c": case, "n": n, "e": e }))
            .await?;
    }
    Ok(World {
        mediator: app.sign_in("med@intake.test", None).await?,
        a: app.sign_in("a@intake.test", None).await?,
        b: app.sign_in("b@intake.test", None).await?,
        app,
        admin,
        case,
    })
}

#[tokio::test]
async fn a_party_answers_the_form_and_only_staff_read_everyones() -> anyhow::Result<()> {
    let w = world().await?;
    w.admin
        .ok(
            "mutation { setIntakeForm(fields: [{field: DISPUTE_TYPE, required: true}, {field: ACCESSIBILITY_NEEDS, required: false}, {field: INTERPRETER_NEEDED, required: true}], disputeTypes: [\"Commercial\", \"Neighbours\"]) { disputeTypes } }",
            json!({}),
        )
        .await?;
    let mine = w.a.ok(MINE, json!({ "c": w.case })).await?;
    assert_eq!(mine["myIntake"]["open"], true);
    assert_eq!(mine["myIntake"]["response"], Value::Null);
    assert_eq!(
        mine["myIntake"]["form"]["disputeTypes"],
        json!(["Commercial", "Neighbours"])
    );

    // A missing required answer, an option not offered, a field not asked.
    for answers in [
        json!([{ "field": "DISPUTE_TYPE", "value": "Commercial" }]),
        json!([{ "field": "DISPUTE_TYPE", "value": "Piracy" }, { "field": "INTERPRETER_NEEDED", "value": "no" }]),
        json!([{ "field": "DISPUTE_TYPE", "value": "Commercial" }, { "field": "INTERPRETER_NEEDED", "value": "no" }, { "field": "PREFERRED_LANGUAGE", "value": "fr" }]),
    ] {
        let body =
            w.a.graphql(SUBMIT, json!({ "c": w.case, "a": answers }))
                .await?;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{body}"
        );
    }
    let secret = "Step-free access; hearing loop please";
    let done =
        w.a.ok(
            SUBMIT,
            json!({ "c": w.case, "a": [
                { "field": "DISPUTE_TYPE", "value": "Neighbours" },
                { "field": "ACCESSIBILITY_NEEDS", "value": secret },
                { "field": "INTERPRETER_NEEDED", "value": "yes" },
            ] }),
        )
        .await?;
    assert_eq!(done["submitIntake"]["partyName"], "Alice");

    // Bob does not see Alice's answers; the mediator and the admin do.
    let bobs = w.b.ok(MINE, json!({ "c": w.case })).await?;
    assert_eq!(bobs["myIntake"]["response"], Value::Null);
    assert_eq!(
        w.b.error_code(
            "query($c: UUID!) { caseIntake(caseId: $c) { partyName } }",
            json!({ "c": w.case })
        )
        .await?,
        "FORBIDDEN"
    );
    for staff in [&w.mediator, &w.admin] {
        let all = staff
            .ok(
                "query($c: UUID!) { caseIntake(caseId: $c) { partyName answers { field value } } }",
                json!({ "c": w.case }),
            )
            .await?;
        let list = all["caseIntake"].as_array().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["answers"][1]["field"], "ACCESSIBILITY_NEEDS");
        assert_eq!(list[0]["answers"][1]["value"], secret);
    }
    // Staff do not answer; someone not on the case learns nothing of it.
    assert_eq!(
        w.mediator
            .error_code(SUBMIT, json!({ "c": w.case, "a": [] }))
            .await?,
        "FORBIDDEN"
    );
    let org = w.app.org("elsewhere").await?;
    w.app.member(org, "x@elsewhere.test", Role::Party).await?;
    let x = w.app.sign_in("x@elsewhere.test", None).await?;
    assert_eq!(
        x.error_code(MINE, json!({ "c": w.case })).await?,
        "NOT_FOUND"
    );

    // The answers are in no audit event (identifiers only).
    let leaked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE action || target_type || coalesce(request_id, '') LIKE '%hearing%'",
    )
    .fetch_one(w.app.db.admin.pool())
    .await?;
    assert_eq!(leaked, 0);

    // Once the first session is held the form closes.
    let at = Utc::now() + Duration::days(4);
    let session = id(&w
        .mediator
        .ok(
            "mutation($c: UUID!, $at: DateTime!) { scheduleSession(input: {caseId: $c, startsAt: $at, timeZone: \"UTC\", durationMinutes: 60}) { id } }",
            json!({ "c": w.case, "at": at }),
        )
        .await?["scheduleSession"]["id"]);
    let start = Utc::now() - Duration::hours(3);
    w.mediator
        .ok(
            "mutation($s: UUID!, $a: DateTime!, $b: DateTime!) { recordSessionHeld(sessionId: $s, startedAt: $a, endedAt: $b) { minutes } }",
            json!({ "s": session, "a": start, "b": start + Duration::minutes(75) }),
        )
        .await?;
    let body =
        w.b.graphql(
            SUBMIT,
            json!({ "c": w.case, "a": [
                { "field": "DISPUTE_TYPE", "value": "Commercial" },
                { "field": "INTERPRETER_NEEDED", "value": "no" },
            ] }),
        )
        .await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT");
    Ok(())
}

async fn all_entries(client: &Client, case: &str, page: i64) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = client
            .ok(TIMELINE, json!({ "c": case, "n": page, "after": after }))
            .await?;
        let t = &data["caseTimeline"];
        let entries = t["entries"].as_array().unwrap();
        assert!(entries.len() as i64 <= page);
        out.extend(entries.iter().cloned());
        if t["endCursor"].is_null() {
            return Ok(out);
        }
        after = t["endCursor"].clone();
    }
}

#[tokio::test]
async fn the_timeline_pages_and_follows_each_roles_view() -> anyhow::Result<()> {
    let w = world().await?;
    let at = Utc::now() + Duration::days(4);
    let session = id(&w
        .mediator
        .ok(
            "mutation($c: UUID!, $at: DateTime!) { scheduleSession(input: {caseId: $c, startsAt: $at, timeZone: \"UTC\", durationMinutes: 60}) { id } }",
            json!({ "c": w.case, "at": at }),
        )
        .await?["scheduleSession"]["id"]);
    w.a.ok(
        SUBMIT,
        json!({ "c": w.case, "a": [{ "field": "DISPUTE_TYPE", "value": "Family" }] }),
    )
    .await?;
    w.b.ok(
        SUBMIT,
        json!({ "c": w.case, "a": [{ "field": "DISPUTE_TYPE", "value": "Other" }] }),
    )
    .await?;
    let start = Utc::now() - Duration::hours(3);
    w.mediator
        .ok(
            "mutation($s: UUID!, $a: DateTime!, $b: DateTime!) { recordSessionHeld(sessionId: $s, startedAt: $a, endedAt: $b) { minutes } }",
            json!({ "s": session, "a": start, "b": start + Duration::minutes(95) }),
        )
        .await?;

    // Staff: everything, newest first, the same in pages of 2 as in one page.
    let staff = all_entries(&w.mediator, &w.case, 2).await?;
    let whole = all_entries(&w.mediator, &w.case, 100).await?;
    assert_eq!(staff, whole);
    let kinds: Vec<&str> = staff.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds[0], "session.held");
    assert_eq!(staff[0]["minutesHeld"], 95);
    assert!(staff[0]["summary"].as_str().unwrap().contains("95 minutes"));
    assert_eq!(kinds.last(), Some(&"case.create"));
    assert!(kinds.contains(&"invitation.issue"));
    assert_eq!(kinds.iter().filter(|k| **k == "intake.submit").count(), 2);

    // Alice: no invitations, only her own intake.
    let alice = all_entries(&w.a, &w.case, 3).await?;
    let kinds: Vec<&str> = alice.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(!kinds.contains(&"invitation.issue"));
    let intakes: Vec<&Value> = alice
        .iter()
        .filter(|e| e["kind"] == "intake.submit")
        .collect();
    assert_eq!(intakes.len(), 1);
    assert!(intakes[0]["summary"].as_str().unwrap().starts_with("Alice"));
    assert!(kinds.contains(&"session.held") && kinds.contains(&"case.create"));

    // Bad cursors and page sizes are refused; other orgs find nothing.
    for vars in [
        json!({ "c": w.case, "n": 0 }),
        json!({ "c": w.case, "n": 101 }),
        json!({ "c": w.case, "n": 5, "after": "abc" }),
    ] {
        assert_eq!(w.a.error_code(TIMELINE, vars).await?, "BAD_USER_INPUT");
    }
    let org = w.app.org("elsewhere").await?;
    w.app
        .member(org, "boss@elsewhere.test", Role::OrgAdmin)
        .await?;
    let other = w.app.sign_in("boss@elsewhere.test", None).await?;
    assert_eq!(
        other
            .error_code(TIMELINE, json!({ "c": w.case, "n": 5 }))
            .await?,
        "NOT_FOUND"
    );
    Ok(())
}

//! The main paths: sign in, open a case, add parties, schedule, list.

use accord_domain::Role;
use accord_testkit::spawn_app;
use serde_json::json;

#[tokio::test]
async fn admin_runs_a_case_from_creation_to_schedule() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("northside").await?;
    app.member(org, "admin@northside.test", Role::OrgAdmin)
        .await?;
    let mediator = app
        .member(org, "med@northside.test", Role::Mediator)
        .await?;
    let admin = app.sign_in("admin@northside.test", None).await?;

    let data = admin
        .ok(
            "mutation($m: UUID) { createCase(input: {reference: \"N-1\", title: \"Lease dispute\", mediatorId: $m}) { id status mediator { user { email } } } }",
            json!({ "m": mediator }),
        )
        .await?;
    let case_id = data["createCase"]["id"].as_str().unwrap().to_owned();
    assert_eq!(data["createCase"]["status"], "OPEN");
    assert_eq!(
        data["createCase"]["mediator"]["user"]["email"],
        "med@northside.test"
    );

    admin
        .ok(
            "mutation($c: UUID!) { addParty(input: {caseId: $c, kind: PARTY, displayName: \"Pat\", email: \"pat@example.test\"}) { id email } }",
            json!({ "c": case_id }),
        )
        .await?;
    let data = admin
        .ok(
            "mutation($c: UUID!) { scheduleSession(input: {caseId: $c, startsAt: \"2031-03-30T09:00:00Z\", timeZone: \"Europe/London\", durationMinutes: 90}) { id localStartsAt endsAt status } }",
            json!({ "c": case_id }),
        )
        .await?;
    assert_eq!(
        data["scheduleSession"]["localStartsAt"],
        "2031-03-30T10:00:00+01:00"
    );
    assert_eq!(data["scheduleSession"]["status"], "SCHEDULED");

    let data = admin
        .ok("{ cases { edges { node { reference parties { displayName email } sessions { durationMinutes } } } pageInfo { hasNextPage } } }", json!({}))
        .await?;
    let node = &data["cases"]["edges"][0]["node"];
    assert_eq!(node["reference"], "N-1");
    assert_eq!(node["parties"][0]["email"], "pat@example.test");
    assert_eq!(node["sessions"][0]["durationMinutes"], 90);
    assert_eq!(data["cases"]["pageInfo"]["hasNextPage"], false);

    let data = admin
        .ok("{ auditEvents { seq action } }", json!({}))
        .await?;
    let actions: Vec<&str> = data["auditEvents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions[..4],
        [
            "session.schedule",
            "party.add",
            "case.create",
            "auth.sign_in"
        ]
    );
    Ok(())
}

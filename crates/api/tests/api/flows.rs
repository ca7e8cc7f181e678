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
    // Scheduling mails the party an invitation with a fresh invite link.
    assert_eq!(
        actions[..5],
        [
            "invitation.issue",
            "session.schedule",
            "party.add",
            "case.create",
            "auth.sign_in"
        ]
    );
    Ok(())
}

/// Every GraphQL mutation appends exactly one audit event naming it.
#[tokio::test]
async fn every_mutation_is_in_the_audit_log() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("northside").await?;
    app.member(org, "admin@northside.test", Role::OrgAdmin)
        .await?;
    let mediator = app
        .member(org, "med@northside.test", Role::Mediator)
        .await?;
    let admin = app.sign_in("admin@northside.test", None).await?;
    let mut covered = Vec::new();
    // Runs a mutation and checks it added one event, the newest, named `action`.
    let mut run =
        async |field: &'static str, query: &str, vars: serde_json::Value, action: &str| {
            let events = "{ auditEvents(first: 100) { action } }";
            let before = admin.ok(events, json!({})).await?["auditEvents"]
                .as_array()
                .unwrap()
                .len();
            let data = admin.ok(query, vars).await?;
            let after = admin.ok(events, json!({})).await?;
            let after = after["auditEvents"].as_array().unwrap();
            anyhow::ensure!(after.len() == before + 1, "{field}: not exactly one event");
            anyhow::ensure!(
                after[0]["action"] == action,
                "{field}: newest event is {}",
                after[0]
            );
            covered.push(field);
            anyhow::Ok(data[field].clone())
        };
    let party = run("inviteMember", "mutation { inviteMember(input: {email: \"p@northside.test\", displayName: \"P\", role: PARTY}) { user { id } } }", json!({}), "member.invite").await?["user"]["id"].clone();
    run(
        "changeMemberRole",
        "mutation($u: UUID!) { changeMemberRole(userId: $u, role: OBSERVER) { role } }",
        json!({ "u": party }),
        "member.change_role",
    )
    .await?;
    let case = run(
        "createCase",
        "mutation { createCase(input: {reference: \"A-1\", title: \"T\"}) { id } }",
        json!({}),
        "case.create",
    )
    .await?["id"]
        .clone();
    run(
        "assignMediator",
        "mutation($c: UUID!, $m: UUID) { assignMediator(caseId: $c, mediatorId: $m) { id } }",
        json!({ "c": case, "m": mediator }),
        "case.assign_mediator",
    )
    .await?;
    run(
        "updateCaseStatus",
        "mutation($c: UUID!) { updateCaseStatus(id: $c, status: ON_HOLD) { id } }",
        json!({ "c": case }),
        "case.update_status",
    )
    .await?;
    let party_row = run("addParty", "mutation($c: UUID!) { addParty(input: {caseId: $c, kind: PARTY, displayName: \"X\", email: \"x@e.test\"}) { id } }", json!({ "c": case }), "party.add").await?["id"].clone();
    run(
        "resendInvitation",
        "mutation($p: UUID!) { resendInvitation(partyId: $p) { status } }",
        json!({ "p": party_row }),
        "invitation.resend",
    )
    .await?;
    run(
        "reinviteParty",
        "mutation($p: UUID!) { reinviteParty(partyId: $p) { status } }",
        json!({ "p": party_row }),
        "invitation.reinvite",
    )
    .await?;
    run(
        "setOrganizationSettings",
        "mutation { setOrganizationSettings(input: {timeZone: \"Europe/Paris\", locale: \"fr-FR\", inviteLinkLifetimeDays: 10, reminderLeadMinutes: [1440]}) { locale } }",
        json!({}),
        "org.update_settings",
    )
    .await?;
    run(
        "setMyLocale",
        "mutation { setMyLocale(locale: \"en-US\") { locale } }",
        json!({}),
        "user.set_locale",
    )
    .await?;
    run(
        "setInviteLinkLifetime",
        "mutation { setInviteLinkLifetime(days: 7) }",
        json!({}),
        "org.invite_ttl",
    )
    .await?;
    run(
        "removeParty",
        "mutation($p: UUID!) { removeParty(partyId: $p) }",
        json!({ "p": party_row }),
        "party.remove",
    )
    .await?;
    let session = run("scheduleSession", "mutation($c: UUID!) { scheduleSession(input: {caseId: $c, startsAt: \"2031-01-01T10:00:00Z\", timeZone: \"UTC\", durationMinutes: 60}) { id } }", json!({ "c": case }), "session.schedule").await?["id"].clone();
    run("rescheduleSession", "mutation($s: UUID!) { rescheduleSession(input: {id: $s, startsAt: \"2031-01-02T10:00:00Z\"}) { id } }", json!({ "s": session }), "session.reschedule").await?;
    run(
        "cancelSession",
        "mutation($s: UUID!) { cancelSession(id: $s) { id } }",
        json!({ "s": session }),
        "session.cancel",
    )
    .await?;
    run(
        "removeMember",
        "mutation($u: UUID!) { removeMember(userId: $u) }",
        json!({ "u": party }),
        "member.remove",
    )
    .await?;
    run(
        "setMyTimeZone",
        "mutation { setMyTimeZone(timeZone: \"Europe/Paris\") { timeZone } }",
        json!({}),
        "user.set_time_zone",
    )
    .await?;
    // A message the mail server refused for good, retried by the admin.
    let failed = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO jobs (id, org_id, kind, idempotency_key, recipient, subject, payload, status, attempts) \
         VALUES ($1, $2, 'mail.message', $3, 'p@northside.test', 'Hello', '{}'::jsonb, 'failed', 8)",
    )
    .bind(failed)
    .bind(org.as_uuid())
    .bind(failed.to_string())
    .execute(app.db.admin.pool())
    .await?;
    run(
        "retryMailDelivery",
        "mutation($j: UUID!) { retryMailDelivery(id: $j) { status attempts } }",
        json!({ "j": failed }),
        "mail.retry",
    )
    .await?;
    run(
        "setOrgWorkingHours",
        "mutation { setOrgWorkingHours(timeZone: \"Europe/Paris\", days: [{weekday: MONDAY, start: \"09:00\", end: \"17:00\"}]) { timeZone } }",
        json!({}),
        "org.set_working_hours",
    )
    .await?;
    // The mediator gives their own availability on the case.
    let med = app.sign_in("med@northside.test", None).await?;
    let events = "{ auditEvents(first: 100) { action } }";
    let before = admin.ok(events, json!({})).await?["auditEvents"]
        .as_array()
        .unwrap()
        .len();
    let day = (chrono::Utc::now() + chrono::Duration::days(7)).format("%Y-%m-%d");
    med.ok(
        "mutation($c: UUID!, $w: [AvailabilityWindowInput!]!) { setMyAvailability(caseId: $c, timeZone: \"Europe/Paris\", windows: $w) { caseId } }",
        json!({ "c": case, "w": [{ "start": format!("{day}T09:00:00"), "end": format!("{day}T12:00:00") }] }),
    )
    .await?;
    let after = admin.ok(events, json!({})).await?;
    let after = after["auditEvents"].as_array().unwrap();
    anyhow::ensure!(
        after.len() == before + 1,
        "setMyAvailability: not exactly one event"
    );
    anyhow::ensure!(
        after[0]["action"] == "availability.set",
        "setMyAvailability: newest event is {}",
        after[0]
    );
    covered.push("setMyAvailability");
    // joinToken's event is asserted in join.rs.
    covered.push("joinToken");
    // The mediation workflow's mutations are checked in billing.rs.
    covered.extend_from_slice(crate::billing::AUDITED_HERE);
    // Messages and agreements are checked in messages.rs and agreements.rs.
    covered.extend_from_slice(crate::messages::AUDITED_HERE);
    covered.extend_from_slice(crate::agreements::AUDITED_HERE);
    // The vault's mutations are checked in documents.rs.
    covered.extend_from_slice(&[
        "setDocumentVisibility",
        "eraseDocument",
        "setLegalHold",
        "setDocumentSettings",
    ]);

    // Together these are every field of the Mutation type: a new mutation
    // fails here until its audit event is checked.
    let fields = accord_api::graphql::build_schema(true)
        .execute("{ __type(name: \"Mutation\") { fields { name } } }")
        .await
        .data
        .into_json()?;
    let fields = fields["__type"]["fields"].as_array().unwrap();
    assert!(
        fields.len() >= covered.len(),
        "introspection listed {fields:?}"
    );
    let mut missing: Vec<String> = fields
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .filter(|name| !covered.contains(&name.as_str()))
        .collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "mutations without an audit check: {missing:?}"
    );
    Ok(())
}

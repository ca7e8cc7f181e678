//! Conflicts of interest through the API: each kind of match refuses the
//! assignment, a person with the same name is no match, an org admin
//! overrides with a written reason (recorded and audited), a mediator never
//! overrides for themselves, and the people on the case see a disclosed
//! override only when the org discloses conflicts.

use accord_domain::Role;
use accord_testkit::{spawn_app, Client, TestApp};
use serde_json::{json, Value};

const CREATE_CASE: &str = "mutation($ref: String!, $m: UUID) { createCase(input: {reference: $ref, title: \"Dispute\", mediatorId: $m}) { id } }";
const ADD_PARTY: &str = "mutation($c: UUID!, $n: String!, $e: String!) { addParty(input: {caseId: $c, kind: PARTY, displayName: $n, email: $e}) { id } }";
const ASSIGN: &str =
    "mutation($c: UUID!, $m: UUID) { assignMediator(caseId: $c, mediatorId: $m) { id } }";
const DECLARE: &str = "mutation($m: UUID, $k: GqlDeclarationKind!, $v: String!) { addMediatorDeclaration(input: {mediatorId: $m, kind: $k, value: $v}) { id kind value label } }";
const CONFLICTS: &str = "query($c: UUID!, $m: UUID!) { mediatorConflicts(caseId: $c, mediatorId: $m) { partyId partyName kind reason matched otherCaseId otherCaseReference } }";
const OVERRIDE: &str = "mutation($c: UUID!, $m: UUID!, $r: String!) { assignMediatorWithOverride(caseId: $c, mediatorId: $m, reason: $r) { id reason conflictReasons overriddenBy } }";
const SET_ORG: &str =
    "mutation($p: UUID!, $o: String) { setPartyOrganization(partyId: $p, organization: $o) }";
const OVERRIDES: &str = "query($c: UUID!) { caseConflictOverrides(caseId: $c) { id reason conflictReasons overriddenBy } }";

struct Org {
    app: TestApp,
    admin: Client,
    mediator: Client,
    mediator_id: String,
    other_mediator_id: String,
}

fn id(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected an id, got {v}"))
        .to_owned()
}

async fn org() -> anyhow::Result<Org> {
    let app = spawn_app().await?;
    let org = app.org("eastside").await?;
    app.member(org, "admin@eastside.test", Role::OrgAdmin)
        .await?;
    let mediator = app.member(org, "med@eastside.test", Role::Mediator).await?;
    let other = app
        .member(org, "med2@eastside.test", Role::Mediator)
        .await?;
    Ok(Org {
        admin: app.sign_in("admin@eastside.test", None).await?,
        mediator: app.sign_in("med@eastside.test", None).await?,
        app,
        mediator_id: mediator.to_string(),
        other_mediator_id: other.to_string(),
    })
}

async fn case_with(
    admin: &Client,
    reference: &str,
    mediator: Option<&str>,
    people: &[(&str, &str)],
) -> anyhow::Result<(String, Vec<String>)> {
    let case = id(&admin
        .ok(CREATE_CASE, json!({ "ref": reference, "m": mediator }))
        .await?["createCase"]["id"]);
    let mut parties = Vec::new();
    for (name, email) in people {
        parties.push(id(&admin
            .ok(ADD_PARTY, json!({ "c": case, "n": name, "e": email }))
            .await?["addParty"]["id"]));
    }
    Ok((case, parties))
}

async fn conflict_kinds(o: &Org, case: &str) -> anyhow::Result<Vec<String>> {
    let data = o
        .admin
        .ok(CONFLICTS, json!({ "c": case, "m": o.mediator_id }))
        .await?;
    Ok(data["mediatorConflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap().to_owned())
        .collect())
}

#[tokio::test]
async fn each_declaration_kind_refuses_the_assignment() -> anyhow::Result<()> {
    let o = org().await?;
    // The mediator declares on their own profile, one of each kind.
    for (kind, value) in [
        ("PERSON", "Jo@Acme.Example"),
        ("ORGANIZATION", "Globex   Corp"),
        ("EMAIL_DOMAIN", "@bank.example"),
    ] {
        o.mediator
            .ok(DECLARE, json!({ "m": null, "k": kind, "v": value }))
            .await?;
    }
    let mine = o
        .mediator
        .ok("{ mediatorDeclarations { kind value label } }", json!({}))
        .await?;
    let values: Vec<&str> = mine["mediatorDeclarations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["jo@acme.example", "globex corp", "bank.example"]);
    // Declaring the same again is a clear conflict.
    assert_eq!(
        o.mediator
            .error_code(
                DECLARE,
                json!({ "m": null, "k": "PERSON", "v": "jo@acme.example" })
            )
            .await?,
        "CONFLICT"
    );

    let (person_case, _) = case_with(&o.admin, "E-1", None, &[("Jo", "jo@acme.example")]).await?;
    let (org_case, parties) =
        case_with(&o.admin, "E-2", None, &[("Sam", "sam@other.example")]).await?;
    o.admin
        .ok(SET_ORG, json!({ "p": parties[0], "o": "GLOBEX CORP" }))
        .await?;
    let (domain_case, _) = case_with(&o.admin, "E-3", None, &[("Kim", "kim@bank.example")]).await?;

    for (case, kind) in [
        (&person_case, "DECLARED_PERSON"),
        (&org_case, "DECLARED_ORGANIZATION"),
        (&domain_case, "DECLARED_DOMAIN"),
    ] {
        assert_eq!(conflict_kinds(&o, case).await?, [kind]);
        let body = o
            .admin
            .graphql(ASSIGN, json!({ "c": case, "m": o.mediator_id }))
            .await?;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "CONFLICT",
            "{body}"
        );
    }
    // The other mediator has no declarations: assigned at once.
    o.admin
        .ok(
            ASSIGN,
            json!({ "c": person_case, "m": o.other_mediator_id }),
        )
        .await?;
    Ok(())
}

#[tokio::test]
async fn the_mediators_other_cases_count_but_a_namesake_does_not() -> anyhow::Result<()> {
    let o = org().await?;
    // A past case of the mediator (closed since), with three people.
    let (past, past_people) = case_with(
        &o.admin,
        "P-1",
        Some(&o.mediator_id),
        &[
            ("John Smith", "john.smith@north.example"),
            ("Ann", "ann@initech.example"),
            ("Bo", "bo@gmail.com"),
        ],
    )
    .await?;
    o.admin
        .ok(SET_ORG, json!({ "p": past_people[2], "o": "Umbrella" }))
        .await?;
    o.admin
        .ok(
            "mutation($c: UUID!) { updateCaseStatus(id: $c, status: CLOSED) { id } }",
            json!({ "c": past }),
        )
        .await?;

    // A different John Smith, at another address and organisation: no conflict.
    let (namesake, _) = case_with(
        &o.admin,
        "P-2",
        None,
        &[("John Smith", "john.smith@south.example")],
    )
    .await?;
    assert!(conflict_kinds(&o, &namesake).await?.is_empty());
    o.admin
        .ok(ASSIGN, json!({ "c": namesake, "m": o.mediator_id }))
        .await?;

    // The same person by email; someone at the same private domain; someone
    // of the same organisation at a public mail domain.
    let (again, again_people) = case_with(
        &o.admin,
        "P-3",
        None,
        &[
            ("J. Smith", "John.Smith@north.example"),
            ("Cy", "cy@initech.example"),
            ("Di", "di@gmail.com"),
        ],
    )
    .await?;
    o.admin
        .ok(SET_ORG, json!({ "p": again_people[2], "o": "umbrella" }))
        .await?;
    let data = o
        .admin
        .ok(CONFLICTS, json!({ "c": again, "m": o.mediator_id }))
        .await?;
    let found = data["mediatorConflicts"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = found
        .iter()
        .map(|c| {
            (
                c["partyName"].as_str().unwrap(),
                c["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("J. Smith", "SAME_PERSON_ON_OTHER_CASE"),
            ("Cy", "SAME_DOMAIN_ON_OTHER_CASE"),
            ("Di", "SAME_ORGANIZATION_ON_OTHER_CASE"),
        ]
    );
    assert!(found.iter().all(|c| c["otherCaseReference"] == "P-1"));
    // A shared gmail.com alone is not a conflict: Di matched on the organisation only.
    Ok(())
}

#[tokio::test]
async fn an_org_admin_overrides_with_a_reason_and_it_is_audited() -> anyhow::Result<()> {
    let o = org().await?;
    o.mediator
        .ok(
            DECLARE,
            json!({ "m": null, "k": "EMAIL_DOMAIN", "v": "acme.example" }),
        )
        .await?;
    let (case, _) = case_with(&o.admin, "O-1", None, &[("Jo", "jo@acme.example")]).await?;

    // Too short a reason is refused; the mediator cannot override for themselves.
    let body = o
        .admin
        .graphql(
            OVERRIDE,
            json!({ "c": case, "m": o.mediator_id, "r": "ok" }),
        )
        .await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "reason");
    let reason = "Disclosed to both parties, who agreed in writing on 1 December.";
    assert_eq!(
        o.mediator
            .error_code(
                OVERRIDE,
                json!({ "c": case, "m": o.mediator_id, "r": reason })
            )
            .await?,
        "FORBIDDEN"
    );
    // Nor can another mediator override for them.
    let other = o.app.sign_in("med2@eastside.test", None).await?;
    assert_eq!(
        other
            .error_code(
                OVERRIDE,
                json!({ "c": case, "m": o.mediator_id, "r": reason })
            )
            .await?,
        "FORBIDDEN"
    );
    // An override with no conflict is refused (plain assignment does that).
    assert_eq!(
        o.admin
            .error_code(
                OVERRIDE,
                json!({ "c": case, "m": o.other_mediator_id, "r": reason })
            )
            .await?,
        "CONFLICT"
    );

    let data = o
        .admin
        .ok(
            OVERRIDE,
            json!({ "c": case, "m": o.mediator_id, "r": reason }),
        )
        .await?;
    let ov = &data["assignMediatorWithOverride"];
    assert_eq!(ov["reason"], reason);
    assert_eq!(ov["conflictReasons"], json!(["declared_domain"]));
    let case_now = o
        .admin
        .ok(
            "query($c: UUID!) { case(id: $c) { mediator { user { id } } } }",
            json!({ "c": case }),
        )
        .await?;
    assert_eq!(
        case_now["case"]["mediator"]["user"]["id"],
        o.mediator_id.as_str()
    );

    // Audited: one event naming the case, by the admin.
    let events = o
        .admin
        .ok(
            "query($t: UUID) { auditEvents(first: 5, targetId: $t) { action targetType actorUserId } }",
            json!({ "t": case }),
        )
        .await?;
    let newest = &events["auditEvents"][0];
    assert_eq!(newest["action"], "conflict.override");
    assert_eq!(newest["targetType"], "case");
    assert_eq!(newest["actorUserId"], ov["overriddenBy"]);
    // The reason is recorded, never in the audit event.
    let stored: (String, serde_json::Value) =
        sqlx::query_as("SELECT reason, conflicts FROM conflict_overrides WHERE case_id = $1::uuid")
            .bind(&case)
            .fetch_one(o.app.db.admin.pool())
            .await?;
    assert_eq!(stored.0, reason);
    assert_eq!(stored.1[0]["matched"], "acme.example");
    Ok(())
}

#[tokio::test]
async fn parties_see_an_override_only_when_the_org_discloses_it() -> anyhow::Result<()> {
    let o = org().await?;
    let org_id = o.app.org("westside").await?; // another org, for NOT_FOUND below
    o.app
        .member(org_id, "admin@westside.test", Role::OrgAdmin)
        .await?;
    let eastside = accord_domain::OrgId::from_uuid(
        sqlx::query_scalar("SELECT id FROM organizations WHERE slug = 'eastside'")
            .fetch_one(o.app.db.admin.pool())
            .await?,
    );
    o.app
        .member(eastside, "jo@acme.example", Role::Party)
        .await?;
    o.mediator
        .ok(
            DECLARE,
            json!({ "m": null, "k": "PERSON", "v": "jo@acme.example" }),
        )
        .await?;
    let (case, _) = case_with(&o.admin, "D-1", None, &[("Jo", "jo@acme.example")]).await?;
    let reason = "The mediator met Jo once at a conference; both sides agreed.";
    o.admin
        .ok(
            OVERRIDE,
            json!({ "c": case, "m": o.mediator_id, "r": reason }),
        )
        .await?;
    let jo = o.app.sign_in("jo@acme.example", None).await?;
    let seen = jo.ok(OVERRIDES, json!({ "c": case })).await?;
    assert_eq!(seen["caseConflictOverrides"], json!([]));

    o.admin
        .ok(
            "mutation { setConflictDisclosure(disclose: true) }",
            json!({}),
        )
        .await?;
    let seen = jo.ok(OVERRIDES, json!({ "c": case })).await?;
    let list = seen["caseConflictOverrides"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["reason"], reason);
    // The person is not told which admin overrode.
    assert_eq!(list[0]["overriddenBy"], Value::Null);
    // Parties cannot set the disclosure or override.
    assert_eq!(
        jo.error_code(
            "mutation { setConflictDisclosure(disclose: false) }",
            json!({})
        )
        .await?,
        "FORBIDDEN"
    );
    // Another org's admin does not find the case.
    let west = o.app.sign_in("admin@westside.test", None).await?;
    assert_eq!(
        west.error_code(CONFLICTS, json!({ "c": case, "m": o.mediator_id }))
            .await?,
        "NOT_FOUND"
    );
    // A mediator cannot read or edit another mediator's declarations.
    assert_eq!(
        o.mediator
            .error_code(
                "query($m: UUID) { mediatorDeclarations(mediatorId: $m) { id } }",
                json!({ "m": o.other_mediator_id })
            )
            .await?,
        "FORBIDDEN"
    );
    Ok(())
}

const PARTY_CONFLICTS: &str =
    "query($c: UUID!, $e: String!) { partyConflicts(caseId: $c, email: $e) { kind reason matched } }";
const ADD_WITH_OVERRIDE: &str = "mutation($c: UUID!, $n: String!, $e: String!, $r: String!) { addPartyWithOverride(input: {caseId: $c, kind: PARTY, displayName: $n, email: $e}, reason: $r) { id displayName } }";

#[tokio::test]
async fn adding_a_declared_person_to_a_mediated_case_needs_an_override() -> anyhow::Result<()> {
    let o = org().await?;
    o.mediator
        .ok(
            DECLARE,
            json!({ "m": null, "k": "EMAIL_DOMAIN", "v": "acme.example" }),
        )
        .await?;
    o.mediator
        .ok(
            DECLARE,
            json!({ "m": null, "k": "PERSON", "v": "kim@elsewhere.example" }),
        )
        .await?;
    let (case, _) = case_with(
        &o.admin,
        "A-1",
        Some(&o.mediator_id),
        &[("Sam", "sam@north.example")],
    )
    .await?;
    let people = "query($c: UUID!) { case(id: $c) { parties { displayName } } }";
    let count = |v: &Value| v["case"]["parties"].as_array().map(Vec::len).unwrap_or(0);

    // A declared domain and a declared person are refused, and not added.
    for (name, email) in [("Jo", "jo@acme.example"), ("Kim", "KIM@elsewhere.example")] {
        let body = o
            .admin
            .graphql(ADD_PARTY, json!({ "c": case, "n": name, "e": email }))
            .await?;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "CONFLICT",
            "{body}"
        );
    }
    assert_eq!(count(&o.admin.ok(people, json!({ "c": case })).await?), 1);
    // What they would meet, for the admin to see before overriding.
    let found = o
        .admin
        .ok(
            PARTY_CONFLICTS,
            json!({ "c": case, "e": "jo@acme.example" }),
        )
        .await?;
    assert_eq!(
        found["partyConflicts"],
        json!([{ "kind": "DECLARED_DOMAIN", "reason": "declared_domain", "matched": "acme.example" }])
    );
    // Someone with the same name at another address is no conflict.
    o.admin
        .ok(
            ADD_PARTY,
            json!({ "c": case, "n": "Jo", "e": "jo@south.example" }),
        )
        .await?;
    // A case without a mediator takes anyone.
    let (unassigned, _) = case_with(&o.admin, "A-2", None, &[("Jo", "jo@acme.example")]).await?;

    // The mediator cannot override for themselves; a short reason is refused;
    // an override with nothing to override is refused.
    let reason = "Jo's employer is a past client of the mediator; both sides agreed in writing.";
    assert_eq!(
        o.mediator
            .error_code(
                ADD_WITH_OVERRIDE,
                json!({ "c": case, "n": "Jo", "e": "jo@acme.example", "r": reason })
            )
            .await?,
        "FORBIDDEN"
    );
    let short = o
        .admin
        .graphql(
            ADD_WITH_OVERRIDE,
            json!({ "c": case, "n": "Jo", "e": "jo@acme.example", "r": "ok" }),
        )
        .await?;
    assert_eq!(
        short["errors"][0]["extensions"]["field"], "reason",
        "{short}"
    );
    for (c, email) in [
        (&case, "max@north.example"),
        (&unassigned, "ann@acme.example"),
    ] {
        assert_eq!(
            o.admin
                .error_code(
                    ADD_WITH_OVERRIDE,
                    json!({ "c": c, "n": "Max", "e": email, "r": reason })
                )
                .await?,
            "CONFLICT"
        );
    }

    // The admin adds Jo with the reason: recorded with the case, audited.
    let added = o
        .admin
        .ok(
            ADD_WITH_OVERRIDE,
            json!({ "c": case, "n": "Jo", "e": "jo@acme.example", "r": reason }),
        )
        .await?;
    let jo = id(&added["addPartyWithOverride"]["id"]);
    assert_eq!(count(&o.admin.ok(people, json!({ "c": case })).await?), 3);
    let overrides = o.admin.ok(OVERRIDES, json!({ "c": case })).await?;
    let list = overrides["caseConflictOverrides"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["reason"], reason);
    assert_eq!(list[0]["conflictReasons"], json!(["declared_domain"]));
    let events = o
        .admin
        .ok("{ auditEvents(first: 2) { action targetId } }", json!({}))
        .await?;
    assert_eq!(
        events["auditEvents"],
        json!([
            { "action": "conflict.override", "targetId": case },
            { "action": "party.add", "targetId": jo },
        ])
    );
    // The stored conflicts name the person added.
    let stored: serde_json::Value =
        sqlx::query_scalar("SELECT conflicts FROM conflict_overrides WHERE case_id = $1::uuid")
            .bind(&case)
            .fetch_one(o.app.db.admin.pool())
            .await?;
    assert_eq!(stored[0]["partyId"], jo.as_str());

    // Another org's admin does not find the case.
    let west_org = o.app.org("westside").await?;
    o.app
        .member(west_org, "admin@westside.test", Role::OrgAdmin)
        .await?;
    let west = o.app.sign_in("admin@westside.test", None).await?;
    assert_eq!(
        west.error_code(
            PARTY_CONFLICTS,
            json!({ "c": case, "e": "jo@acme.example" })
        )
        .await?,
        "NOT_FOUND"
    );
    Ok(())
}

#[tokio::test]
async fn an_organisation_recorded_later_is_checked_like_a_new_person() -> anyhow::Result<()> {
    let o = org().await?;
    o.mediator
        .ok(
            DECLARE,
            json!({ "m": null, "k": "ORGANIZATION", "v": "Globex Corp" }),
        )
        .await?;
    let (case, people) = case_with(
        &o.admin,
        "O-1",
        Some(&o.mediator_id),
        &[("Sam", "sam@other.example")],
    )
    .await?;
    let recorded =
        "query($c: UUID!) { case(id: $c) { partyOrganizations { partyId organization } } }";
    let set_with = "mutation($p: UUID!, $o: String, $r: String) { setPartyOrganization(partyId: $p, organization: $o, overrideReason: $r) }";

    // The declared organisation: refused, and nothing is recorded.
    let body = o
        .admin
        .graphql(SET_ORG, json!({ "p": people[0], "o": "GLOBEX  corp" }))
        .await?;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "CONFLICT",
        "{body}"
    );
    assert_eq!(
        o.admin.ok(recorded, json!({ "c": case })).await?["case"]["partyOrganizations"],
        json!([])
    );
    // The screen asks what matched.
    let prospective = o
        .admin
        .ok(
            "query($c: UUID!, $e: String!, $o: String) { partyConflicts(caseId: $c, email: $e, organization: $o) { kind matched } }",
            json!({ "c": case, "e": "sam@other.example", "o": "Globex Corp" }),
        )
        .await?;
    assert_eq!(
        prospective["partyConflicts"],
        json!([{ "kind": "DECLARED_ORGANIZATION", "matched": "globex corp" }])
    );
    // Another organisation is no conflict.
    o.admin
        .ok(SET_ORG, json!({ "p": people[0], "o": "Initech" }))
        .await?;
    // The mediator concerned cannot override; a short reason is refused.
    assert_ne!(
        o.mediator
            .graphql(
                set_with,
                json!({ "p": people[0], "o": "Globex Corp", "r": "Known to everyone here." })
            )
            .await?["errors"][0]["extensions"]["code"],
        serde_json::Value::Null
    );
    assert_eq!(
        o.admin
            .error_code(
                set_with,
                json!({ "p": people[0], "o": "Globex Corp", "r": "short" })
            )
            .await?,
        "BAD_USER_INPUT"
    );
    // An org admin records it with a reason: saved, the override kept and audited.
    o.admin
        .ok(
            set_with,
            json!({ "p": people[0], "o": "Globex Corp", "r": "Disclosed to both sides, who agreed in writing." }),
        )
        .await?;
    assert_eq!(
        o.admin.ok(recorded, json!({ "c": case })).await?["case"]["partyOrganizations"],
        json!([{ "partyId": people[0], "organization": "Globex Corp" }])
    );
    let overrides = o.admin.ok(OVERRIDES, json!({ "c": case })).await?;
    assert_eq!(
        overrides["caseConflictOverrides"].as_array().unwrap().len(),
        1
    );
    let audit = o
        .admin
        .ok("{ auditEvents(first: 20) { action } }", json!({}))
        .await?
        .to_string();
    assert!(audit.contains("conflict.override") && audit.contains("party.set_organization"));
    Ok(())
}

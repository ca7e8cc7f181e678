//! Fees and invoices through the API: an invoice priced from the sessions
//! actually held, split between the parties so the shares sum exactly to the
//! total; draft → issued → paid / void; credit notes; gap-free numbering per
//! org under concurrent issuing; each party sees only their own share.
//! Also: every mutation of the mediation workflow appends exactly one audit
//! event (the list the schema-wide audit check counts as covered here).

use accord_domain::Role;
use accord_testkit::{spawn_app, Client, TestApp};
use chrono::{Duration, Utc};
use serde_json::{json, Value};

/// Mutations whose single audit event is checked in
/// [`every_workflow_mutation_appends_one_event`] (`addPartyWithOverride`
/// appends two, the person added and the override, checked there too).
pub(crate) const AUDITED_HERE: &[&str] = &[
    "addMediatorDeclaration",
    "removeMediatorDeclaration",
    "setPartyOrganization",
    "assignMediatorWithOverride",
    "addPartyWithOverride",
    "setConflictDisclosure",
    "setFeeSchedule",
    "setMediatorRate",
    "setCaseSplit",
    "recordSessionHeld",
    "draftInvoice",
    "issueInvoice",
    "markInvoicePaid",
    "voidInvoice",
    "discardDraftInvoice",
    "issueCreditNote",
    "setIntakeForm",
    "submitIntake",
];

const CREATE_CASE: &str = "mutation($ref: String!, $m: UUID) { createCase(input: {reference: $ref, title: \"Dispute\", mediatorId: $m}) { id } }";
const ADD_PARTY: &str = "mutation($c: UUID!, $n: String!, $e: String!, $k: PartyKind!) { addParty(input: {caseId: $c, kind: $k, displayName: $n, email: $e}) { id } }";
const SCHEDULE: &str = "mutation($c: UUID!, $at: DateTime!) { scheduleSession(input: {caseId: $c, startsAt: $at, timeZone: \"UTC\", durationMinutes: 120}) { id } }";
const HELD: &str = "mutation($s: UUID!, $a: DateTime!, $b: DateTime!) { recordSessionHeld(sessionId: $s, startedAt: $a, endedAt: $b) { minutes } }";
const SET_FEES: &str = "mutation($c: String!, $f: Int!) { setFeeSchedule(currency: $c, adminFeeMinor: $f) { currency adminFeeMinor } }";
const SET_RATE: &str = "mutation($m: UUID!, $b: GqlFeeBasis!, $r: Int!) { setMediatorRate(mediatorId: $m, basis: $b, rateMinor: $r) { rateMinor } }";
const SET_SPLIT: &str = "mutation($c: UUID!, $s: [SplitShareInput!]!) { setCaseSplit(caseId: $c, shares: $s) { partyId basisPoints } }";
const INVOICE_FIELDS: &str = "id status number label kind totalMinor totalText lines { description minutes amountMinor } shares { partyId partyName basisPoints amountMinor }";

fn draft_q() -> String {
    format!("mutation($c: UUID!) {{ draftInvoice(caseId: $c) {{ {INVOICE_FIELDS} }} }}")
}
fn issue_q() -> String {
    format!("mutation($i: UUID!) {{ issueInvoice(id: $i) {{ {INVOICE_FIELDS} }} }}")
}
fn mine_q() -> String {
    format!("{{ myInvoices {{ caseReference {INVOICE_FIELDS} }} }}")
}

fn id(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected an id, got {v}"))
        .to_owned()
}

struct World {
    app: TestApp,
    admin: Client,
    mediator: Client,
    mediator_id: String,
    case: String,
    parties: Vec<String>,
}

/// An org with fees set, a mediated case with three parties and counsel,
/// and two sessions held (90 and 45 minutes).
async fn world() -> anyhow::Result<World> {
    let app = spawn_app().await?;
    let org = app.org("billing").await?;
    app.member(org, "admin@billing.test", Role::OrgAdmin)
        .await?;
    let mediator_id = app
        .member(org, "med@billing.test", Role::Mediator)
        .await?
        .to_string();
    for who in ["a", "b", "c", "outsider"] {
        app.member(org, &format!("{who}@billing.test"), Role::Party)
            .await?;
    }
    app.member(org, "counsel@billing.test", Role::Observer)
        .await?;
    let admin = app.sign_in("admin@billing.test", None).await?;
    let mediator = app.sign_in("med@billing.test", None).await?;
    admin
        .ok(SET_FEES, json!({ "c": "eur", "f": 10_000 }))
        .await?;
    admin
        .ok(
            SET_RATE,
            json!({ "m": mediator_id, "b": "HOURLY", "r": 12_000 }),
        )
        .await?;
    let case = id(&admin
        .ok(CREATE_CASE, json!({ "ref": "B-1", "m": mediator_id }))
        .await?["createCase"]["id"]);
    let mut parties = Vec::new();
    for who in ["a", "b", "c"] {
        parties.push(id(&admin
            .ok(
                ADD_PARTY,
                json!({ "c": case, "n": who.to_uppercase(), "e": format!("{who}@billing.test"), "k": "PARTY" }),
            )
            .await?["addParty"]["id"]));
    }
    admin
        .ok(
            ADD_PARTY,
            json!({ "c": case, "n": "Counsel", "e": "counsel@billing.test", "k": "COUNSEL" }),
        )
        .await?;
    let yesterday = Utc::now() - Duration::days(1);
    for (i, minutes) in [90, 45].into_iter().enumerate() {
        let at = Utc::now() + Duration::days(3 + i as i64);
        let session = id(&mediator
            .ok(SCHEDULE, json!({ "c": case, "at": at }))
            .await?["scheduleSession"]["id"]);
        let start = yesterday + Duration::hours(3 * i as i64);
        let data = mediator
            .ok(
                HELD,
                json!({ "s": session, "a": start, "b": start + Duration::minutes(minutes) }),
            )
            .await?;
        assert_eq!(data["recordSessionHeld"]["minutes"], minutes);
    }
    Ok(World {
        app,
        admin,
        mediator,
        mediator_id,
        case,
        parties,
    })
}

#[tokio::test]
async fn an_invoice_charges_held_time_and_splits_it_exactly() -> anyhow::Result<()> {
    let w = world().await?;
    // A split that does not add up is refused; a third each is set.
    let bad = w
        .admin
        .graphql(
            SET_SPLIT,
            json!({ "c": w.case, "s": [
                { "partyId": w.parties[0], "basisPoints": 5000 },
                { "partyId": w.parties[1], "basisPoints": 3000 },
                { "partyId": w.parties[2], "basisPoints": 1000 },
            ] }),
        )
        .await?;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    w.admin
        .ok(
            SET_SPLIT,
            json!({ "c": w.case, "s": [
                { "partyId": w.parties[0], "basisPoints": 3334 },
                { "partyId": w.parties[1], "basisPoints": 3333 },
                { "partyId": w.parties[2], "basisPoints": 3333 },
            ] }),
        )
        .await?;

    let draft = w.admin.ok(&draft_q(), json!({ "c": w.case })).await?;
    let draft = &draft["draftInvoice"];
    assert_eq!(draft["status"], "DRAFT");
    assert_eq!(draft["number"], Value::Null);
    // 90 and 45 minutes at 120.00 an hour, and the 100.00 admin fee.
    let amounts: Vec<i64> = draft["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amountMinor"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [18_000, 9_000, 10_000]);
    assert_eq!(draft["totalMinor"], 37_000);
    assert_eq!(draft["totalText"], "370.00 EUR");
    let shares: Vec<i64> = draft["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["amountMinor"].as_i64().unwrap())
        .collect();
    // 37000 × 33.34% = 12335.8 and 12332.1 twice: the leftover unit goes to
    // the largest remainder.
    assert_eq!(shares, [12_336, 12_332, 12_332]);
    assert_eq!(shares.iter().sum::<i64>(), 37_000);

    // Parties see nothing of a draft.
    let a = w.app.sign_in("a@billing.test", None).await?;
    assert_eq!(a.ok(&mine_q(), json!({})).await?["myInvoices"], json!([]));

    let issued = w.admin.ok(&issue_q(), json!({ "i": draft["id"] })).await?;
    assert_eq!(issued["issueInvoice"]["status"], "ISSUED");
    assert_eq!(issued["issueInvoice"]["label"], "INV-000001");
    // Issuing twice is refused.
    assert_eq!(
        w.admin
            .error_code(&issue_q(), json!({ "i": draft["id"] }))
            .await?,
        "CONFLICT"
    );

    // Each party sees the invoice with their own share only.
    for (who, amount) in [("a", 12_336), ("b", 12_332), ("c", 12_332)] {
        let client = w.app.sign_in(&format!("{who}@billing.test"), None).await?;
        let mine = client.ok(&mine_q(), json!({})).await?;
        let list = mine["myInvoices"].as_array().unwrap();
        assert_eq!(list.len(), 1, "{who}");
        assert_eq!(list[0]["caseReference"], "B-1");
        assert_eq!(list[0]["shares"].as_array().unwrap().len(), 1, "{who}");
        assert_eq!(list[0]["shares"][0]["amountMinor"], amount, "{who}");
    }
    // Counsel has no share; a party of no case sees none.
    for who in ["counsel", "outsider"] {
        let client = w.app.sign_in(&format!("{who}@billing.test"), None).await?;
        assert_eq!(
            client.ok(&mine_q(), json!({})).await?["myInvoices"],
            json!([]),
            "{who}"
        );
    }
    // A party cannot read the case's billing nor act on invoices.
    assert_eq!(
        a.error_code(
            "query($c: UUID!) { caseBilling(caseId: $c) { caseId } }",
            json!({ "c": w.case })
        )
        .await?,
        "FORBIDDEN"
    );
    assert_eq!(
        a.error_code(
            "mutation($i: UUID!) { markInvoicePaid(id: $i) { id } }",
            json!({ "i": draft["id"] })
        )
        .await?,
        "FORBIDDEN"
    );
    // The case's mediator reads the billing but does not issue.
    let billing = w
        .mediator
        .ok(
            "query($c: UUID!) { caseBilling(caseId: $c) { splitSet heldSessions { minutes } invoices { label } } }",
            json!({ "c": w.case }),
        )
        .await?;
    assert_eq!(billing["caseBilling"]["splitSet"], true);
    assert_eq!(
        billing["caseBilling"]["heldSessions"],
        json!([{ "minutes": 90 }, { "minutes": 45 }])
    );
    assert_eq!(
        w.mediator
            .error_code(&draft_q(), json!({ "c": w.case }))
            .await?,
        "FORBIDDEN"
    );
    let _ = &w.mediator_id;
    Ok(())
}

#[tokio::test]
async fn invoices_are_paid_voided_and_refunded_by_credit_notes() -> anyhow::Result<()> {
    let w = world().await?;
    let draft = w.admin.ok(&draft_q(), json!({ "c": w.case })).await?;
    let invoice = draft["draftInvoice"]["id"].clone();
    // Equal thirds by default: 37000 / 3.
    let shares: Vec<i64> = draft["draftInvoice"]["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["amountMinor"].as_i64().unwrap())
        .collect();
    assert_eq!(shares, [12_334, 12_333, 12_333]);
    // A draft is neither paid nor refunded.
    let paid_q = "mutation($i: UUID!) { markInvoicePaid(id: $i) { status paidAt } }";
    assert_eq!(
        w.admin.error_code(paid_q, json!({ "i": invoice })).await?,
        "CONFLICT"
    );
    w.admin.ok(&issue_q(), json!({ "i": invoice })).await?;
    let paid = w.admin.ok(paid_q, json!({ "i": invoice })).await?;
    assert_eq!(paid["markInvoicePaid"]["status"], "PAID");
    let void_q = "mutation($i: UUID!) { voidInvoice(id: $i) { status } }";
    assert_eq!(
        w.admin.error_code(void_q, json!({ "i": invoice })).await?,
        "CONFLICT"
    );

    let credit_q = format!(
        "mutation($i: UUID!, $a: Int!) {{ issueCreditNote(invoiceId: $i, amountMinor: $a, description: \"Second session cut short\") {{ {INVOICE_FIELDS} }} }}"
    );
    let note = w
        .admin
        .ok(&credit_q, json!({ "i": invoice, "a": 1_000 }))
        .await?;
    let note = &note["issueCreditNote"];
    assert_eq!(note["kind"], "CREDIT_NOTE");
    assert_eq!(note["label"], "CN-000001");
    let parts: Vec<i64> = note["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["amountMinor"].as_i64().unwrap())
        .collect();
    assert_eq!(parts, [334, 333, 333]);
    // No more than what is left: 37000 - 1000.
    let too_much = w
        .admin
        .graphql(&credit_q, json!({ "i": invoice, "a": 36_001 }))
        .await?;
    assert_eq!(
        too_much["errors"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
    w.admin
        .ok(&credit_q, json!({ "i": invoice, "a": 36_000 }))
        .await?;

    // A party sees the invoice and both credit notes, each with their share.
    let a = w.app.sign_in("a@billing.test", None).await?;
    let mine = a.ok(&mine_q(), json!({})).await?;
    let labels: Vec<&str> = mine["myInvoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels.len(), 3);
    assert!(labels.contains(&"INV-000001") && labels.contains(&"CN-000002"));

    // A second invoice takes the next number, and voiding keeps it used.
    let case2 = id(&w
        .admin
        .ok(CREATE_CASE, json!({ "ref": "B-3", "m": null }))
        .await?["createCase"]["id"]);
    w.admin
        .ok(
            ADD_PARTY,
            json!({ "c": case2, "n": "Solo", "e": "solo@billing.test", "k": "PARTY" }),
        )
        .await?;
    let d2 = w.admin.ok(&draft_q(), json!({ "c": case2 })).await?;
    assert_eq!(d2["draftInvoice"]["totalMinor"], 10_000);
    let i2 = w
        .admin
        .ok(&issue_q(), json!({ "i": d2["draftInvoice"]["id"] }))
        .await?;
    assert_eq!(i2["issueInvoice"]["label"], "INV-000002");
    let v = w
        .admin
        .ok(void_q, json!({ "i": d2["draftInvoice"]["id"] }))
        .await?;
    assert_eq!(v["voidInvoice"]["status"], "VOID");
    // Issued invoices are never deleted, even by the table's owner.
    let deleted = sqlx::query("DELETE FROM invoices WHERE number IS NOT NULL")
        .execute(w.app.db.admin.pool())
        .await;
    assert!(deleted.is_err());
    Ok(())
}

#[tokio::test]
async fn concurrent_issues_number_without_gaps() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("numbers").await?;
    app.member(org, "admin@numbers.test", Role::OrgAdmin)
        .await?;
    let admin = app.sign_in("admin@numbers.test", None).await?;
    admin
        .ok(SET_FEES, json!({ "c": "GBP", "f": 5_000 }))
        .await?;
    const N: usize = 8;
    let mut drafts = Vec::new();
    for i in 0..N {
        let case = id(&admin
            .ok(CREATE_CASE, json!({ "ref": format!("N-{i}"), "m": null }))
            .await?["createCase"]["id"]);
        admin
            .ok(
                ADD_PARTY,
                json!({ "c": case, "n": "P", "e": format!("p{i}@numbers.test"), "k": "PARTY" }),
            )
            .await?;
        drafts.push(id(
            &admin.ok(&draft_q(), json!({ "c": case })).await?["draftInvoice"]["id"]
        ));
    }
    // Each draft issued from its own signed-in client, all at once.
    let first_draft = drafts[0].clone();
    let mut tasks = tokio::task::JoinSet::new();
    for draft in drafts {
        let client = app.sign_in("admin@numbers.test", None).await?;
        tasks.spawn(async move {
            let data = client.ok(&issue_q(), json!({ "i": draft })).await?;
            anyhow::Ok(data["issueInvoice"]["number"].as_i64().unwrap())
        });
    }
    let mut numbers = Vec::new();
    while let Some(n) = tasks.join_next().await {
        numbers.push(n??);
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=N as i64).collect::<Vec<_>>());
    // Another org's series starts at 1 of its own.
    let other = app.org("othernumbers").await?;
    app.member(other, "admin@othernumbers.test", Role::OrgAdmin)
        .await?;
    let oa = app.sign_in("admin@othernumbers.test", None).await?;
    oa.ok(SET_FEES, json!({ "c": "GBP", "f": 5_000 })).await?;
    let case = id(&oa
        .ok(CREATE_CASE, json!({ "ref": "X-1", "m": null }))
        .await?["createCase"]["id"]);
    oa.ok(
        ADD_PARTY,
        json!({ "c": case, "n": "P", "e": "p@othernumbers.test", "k": "PARTY" }),
    )
    .await?;
    let d = oa.ok(&draft_q(), json!({ "c": case })).await?;
    let i = oa
        .ok(&issue_q(), json!({ "i": d["draftInvoice"]["id"] }))
        .await?;
    assert_eq!(i["issueInvoice"]["number"], 1);
    // Nor can it see or touch the first org's invoices.
    assert_eq!(
        oa.error_code(
            "mutation($i: UUID!) { voidInvoice(id: $i) { id } }",
            json!({ "i": first_draft })
        )
        .await?,
        "NOT_FOUND"
    );
    Ok(())
}

#[tokio::test]
async fn bad_fee_input_is_refused_with_a_field() -> anyhow::Result<()> {
    let w = world().await?;
    for (query, vars, field) in [
        (SET_FEES, json!({ "c": "EURO", "f": 1 }), "currency"),
        (SET_FEES, json!({ "c": "EUR", "f": -1 }), "adminFeeMinor"),
        (
            SET_RATE,
            json!({ "m": w.mediator_id, "b": "PER_SESSION", "r": -5 }),
            "rateMinor",
        ),
    ] {
        let body = w.admin.graphql(query, vars).await?;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["extensions"]["field"], field);
    }
    // A held session cannot end before it starts.
    let at = Utc::now() + Duration::days(9);
    let session = id(&w
        .mediator
        .ok(SCHEDULE, json!({ "c": w.case, "at": at }))
        .await?["scheduleSession"]["id"]);
    let start = Utc::now() - Duration::hours(2);
    let body = w
        .mediator
        .graphql(
            HELD,
            json!({ "s": session, "a": start, "b": start - Duration::minutes(1) }),
        )
        .await?;
    assert_eq!(body["errors"][0]["extensions"]["field"], "endedAt");
    Ok(())
}

/// Runs each workflow mutation once as `client` and checks it appended
/// exactly one audit event, the newest, named as expected.
#[tokio::test]
async fn every_workflow_mutation_appends_one_event() -> anyhow::Result<()> {
    let w = world().await?;
    let admin = &w.admin;
    let mut covered: Vec<&str> = Vec::new();
    let count = async || -> anyhow::Result<(usize, String)> {
        let e = admin
            .ok("{ auditEvents(first: 100) { action } }", json!({}))
            .await?;
        let list = e["auditEvents"].as_array().unwrap();
        Ok((list.len(), list[0]["action"].as_str().unwrap().to_owned()))
    };
    macro_rules! check {
        ($client:expr, $field:literal, $query:expr, $vars:expr, $action:literal) => {{
            let (before, _) = count().await?;
            let data = $client.ok($query, $vars).await?;
            let (after, newest) = count().await?;
            assert_eq!(after, before + 1, "{}: not exactly one event", $field);
            assert_eq!(newest, $action, "{}", $field);
            covered.push($field);
            let value: Value = data[$field].clone();
            value
        }};
    }
    let decl = check!(
        w.mediator,
        "addMediatorDeclaration",
        "mutation { addMediatorDeclaration(input: {kind: EMAIL_DOMAIN, value: \"billing.test\"}) { id } }",
        json!({}),
        "conflict.declare"
    );
    check!(
        admin,
        "setPartyOrganization",
        "mutation($p: UUID!) { setPartyOrganization(partyId: $p, organization: \"Acme\") }",
        json!({ "p": w.parties[0] }),
        "party.set_organization"
    );
    // The mediator's own domain declaration conflicts with the parties.
    let case2 = id(&admin
        .ok(CREATE_CASE, json!({ "ref": "B-9", "m": null }))
        .await?["createCase"]["id"]);
    admin
        .ok(
            ADD_PARTY,
            json!({ "c": case2, "n": "Z", "e": "z@billing.test", "k": "PARTY" }),
        )
        .await?;
    check!(
        admin,
        "assignMediatorWithOverride",
        "mutation($c: UUID!, $m: UUID!) { assignMediatorWithOverride(caseId: $c, mediatorId: $m, reason: \"Agreed by all parties in writing.\") { id } }",
        json!({ "c": case2, "m": w.mediator_id }),
        "conflict.override"
    );
    // Adding someone at the declared domain with an override appends two
    // events: the person added, then the override on the case.
    let (before, _) = count().await?;
    admin
        .ok(
            "mutation($c: UUID!) { addPartyWithOverride(input: {caseId: $c, kind: COUNSEL, displayName: \"Y\", email: \"y@billing.test\"}, reason: \"Agreed by all parties in writing.\") { id } }",
            json!({ "c": case2 }),
        )
        .await?;
    let events = admin
        .ok("{ auditEvents(first: 100) { action } }", json!({}))
        .await?;
    let events = events["auditEvents"].as_array().unwrap();
    assert_eq!(
        events.len(),
        before + 2,
        "addPartyWithOverride: not two events"
    );
    assert_eq!(events[0]["action"], "conflict.override");
    assert_eq!(events[1]["action"], "party.add");
    covered.push("addPartyWithOverride");
    check!(
        w.mediator,
        "removeMediatorDeclaration",
        "mutation($d: UUID!) { removeMediatorDeclaration(id: $d) }",
        json!({ "d": decl["id"] }),
        "conflict.withdraw"
    );
    check!(
        admin,
        "setConflictDisclosure",
        "mutation { setConflictDisclosure(disclose: true) }",
        json!({}),
        "org.set_conflict_disclosure"
    );
    check!(
        admin,
        "setFeeSchedule",
        SET_FEES,
        json!({ "c": "EUR", "f": 2_000 }),
        "billing.set_fee_schedule"
    );
    check!(
        admin,
        "setMediatorRate",
        SET_RATE,
        json!({ "m": w.mediator_id, "b": "PER_SESSION", "r": 50_000 }),
        "billing.set_mediator_rate"
    );
    check!(
        admin,
        "setCaseSplit",
        SET_SPLIT,
        json!({ "c": w.case, "s": [
            { "partyId": w.parties[0], "basisPoints": 10000 },
            { "partyId": w.parties[1], "basisPoints": 0 },
            { "partyId": w.parties[2], "basisPoints": 0 },
        ] }),
        "billing.set_split"
    );
    let at = Utc::now() + Duration::days(11);
    let session = id(&w
        .mediator
        .ok(SCHEDULE, json!({ "c": w.case, "at": at }))
        .await?["scheduleSession"]["id"]);
    let start = Utc::now() - Duration::hours(5);
    check!(
        w.mediator,
        "recordSessionHeld",
        HELD,
        json!({ "s": session, "a": start, "b": start + Duration::minutes(30) }),
        "session.held"
    );
    let d = check!(
        admin,
        "draftInvoice",
        &draft_q(),
        json!({ "c": w.case }),
        "invoice.draft"
    );
    // Three sessions at 500.00 each and the 20.00 admin fee, all to party A.
    assert_eq!(d["totalMinor"], 152_000);
    assert_eq!(d["shares"][0]["amountMinor"], 152_000);
    check!(
        admin,
        "discardDraftInvoice",
        "mutation($i: UUID!) { discardDraftInvoice(id: $i) }",
        json!({ "i": d["id"] }),
        "invoice.discard"
    );
    let d = admin.ok(&draft_q(), json!({ "c": w.case })).await?["draftInvoice"].clone();
    check!(
        admin,
        "issueInvoice",
        &issue_q(),
        json!({ "i": d["id"] }),
        "invoice.issue"
    );
    check!(
        admin,
        "issueCreditNote",
        "mutation($i: UUID!) { issueCreditNote(invoiceId: $i, amountMinor: 100, description: \"Goodwill\") { id } }",
        json!({ "i": d["id"] }),
        "invoice.credit_note"
    );
    check!(
        admin,
        "markInvoicePaid",
        "mutation($i: UUID!) { markInvoicePaid(id: $i) { id } }",
        json!({ "i": d["id"] }),
        "invoice.mark_paid"
    );
    let case3 = id(&admin
        .ok(CREATE_CASE, json!({ "ref": "B-10", "m": null }))
        .await?["createCase"]["id"]);
    admin
        .ok(
            ADD_PARTY,
            json!({ "c": case3, "n": "Y", "e": "y@billing.test", "k": "PARTY" }),
        )
        .await?;
    let d3 = admin.ok(&draft_q(), json!({ "c": case3 })).await?["draftInvoice"].clone();
    admin.ok(&issue_q(), json!({ "i": d3["id"] })).await?;
    check!(
        admin,
        "voidInvoice",
        "mutation($i: UUID!) { voidInvoice(id: $i) { id } }",
        json!({ "i": d3["id"] }),
        "invoice.void"
    );
    check!(
        admin,
        "setIntakeForm",
        "mutation { setIntakeForm(fields: [{field: DISPUTE_TYPE, required: true}, {field: INTERPRETER_NEEDED, required: false}], disputeTypes: [\"Commercial\", \"Family\"]) { disputeTypes } }",
        json!({}),
        "org.set_intake_form"
    );
    let a = w.app.sign_in("a@billing.test", None).await?;
    let case4 = id(&admin
        .ok(CREATE_CASE, json!({ "ref": "B-11", "m": null }))
        .await?["createCase"]["id"]);
    admin
        .ok(
            ADD_PARTY,
            json!({ "c": case4, "n": "A", "e": "a@billing.test", "k": "PARTY" }),
        )
        .await?;
    check!(
        a,
        "submitIntake",
        "mutation($c: UUID!) { submitIntake(caseId: $c, answers: [{field: DISPUTE_TYPE, value: \"Family\"}]) { submittedAt } }",
        json!({ "c": case4 }),
        "intake.submit"
    );
    let mut expected: Vec<&str> = AUDITED_HERE.to_vec();
    expected.sort_unstable();
    covered.sort_unstable();
    assert_eq!(covered, expected);
    Ok(())
}

/// `GET path` with the client's session: the status and the body.
pub(crate) async fn get(c: &Client, path: &str) -> anyhow::Result<(u16, String, Vec<u8>)> {
    let r = c.http.get(format!("{}{path}", c.base_url)).send().await?;
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    Ok((status, kind, r.bytes().await?.to_vec()))
}

pub(crate) fn pdf_text(bytes: &[u8]) -> Vec<String> {
    assert!(bytes.starts_with(b"%PDF-1.4\n"), "not a PDF");
    assert!(bytes.ends_with(b"%%EOF\n"), "a truncated PDF");
    accord_api::pdf::extract_text(bytes)
}

#[tokio::test]
async fn invoices_print_as_pdf_with_only_the_viewers_share_for_a_party() -> anyhow::Result<()> {
    let w = world().await?;
    w.admin
        .ok(
            SET_SPLIT,
            json!({ "c": w.case, "s": [
                { "partyId": w.parties[0], "basisPoints": 5000 },
                { "partyId": w.parties[1], "basisPoints": 3000 },
                { "partyId": w.parties[2], "basisPoints": 2000 },
            ] }),
        )
        .await?;
    let draft = w.admin.ok(&draft_q(), json!({ "c": w.case })).await?;
    let invoice = id(&draft["draftInvoice"]["id"]);
    let path = format!("/invoices/{invoice}/pdf");
    let a = w.app.sign_in("a@billing.test", None).await?;
    // A draft is the staff's: the party does not find it.
    assert_eq!(get(&a, &path).await?.0, 404);
    w.admin.ok(&issue_q(), json!({ "i": invoice })).await?;

    // The admin's PDF: every line, the total and every share.
    let (status, kind, bytes) = get(&w.admin, &path).await?;
    assert_eq!((status, kind.as_str()), (200, "application/pdf"));
    let text = pdf_text(&bytes);
    for expected in [
        "Org billing",
        "Invoice INV-000001",
        "Case B-1",
        "180.00 EUR",
        "90.00 EUR",
        "100.00 EUR",
        "370.00 EUR",
        "Shares between the parties",
        "A",
        "50.00%",
        "185.00 EUR",
        "B",
        "111.00 EUR",
        "C",
        "74.00 EUR",
    ] {
        assert!(text.iter().any(|t| t == expected), "{expected} in {text:?}");
    }
    // The case's mediator prints it too.
    assert_eq!(get(&w.mediator, &path).await?.0, 200);

    // A party's PDF: the invoice with their own share only.
    let text = pdf_text(&get(&a, &path).await?.2);
    assert!(text.iter().any(|t| t == "Your share"), "{text:?}");
    assert!(text.iter().any(|t| t == "185.00 EUR"));
    assert!(text.iter().any(|t| t == "370.00 EUR"));
    for other in ["B", "C", "111.00 EUR", "74.00 EUR"] {
        assert!(!text.iter().any(|t| t == other), "{other} in {text:?}");
    }
    let b = w.app.sign_in("b@billing.test", None).await?;
    let text = pdf_text(&get(&b, &path).await?.2);
    assert!(text.iter().any(|t| t == "111.00 EUR"));
    assert!(!text.iter().any(|t| t == "185.00 EUR" || t == "A"));

    // A credit note prints under its own number and names what it refunds.
    let note = w
        .admin
        .ok(
            "mutation($i: UUID!) { issueCreditNote(invoiceId: $i, amountMinor: 10000, description: \"Goodwill\") { id label } }",
            json!({ "i": invoice }),
        )
        .await?;
    assert_eq!(note["issueCreditNote"]["label"], "CN-000001");
    let note_path = format!("/invoices/{}/pdf", id(&note["issueCreditNote"]["id"]));
    let text = pdf_text(&get(&b, &note_path).await?.2);
    for expected in [
        "Credit note CN-000001",
        "Refunds invoice INV-000001",
        "Refund: Goodwill",
        "30.00 EUR",
    ] {
        assert!(text.iter().any(|t| t == expected), "{expected} in {text:?}");
    }

    // Someone in the org but not on the case, an unknown id, another org's
    // admin and no session at all find nothing.
    let outsider = w.app.sign_in("outsider@billing.test", None).await?;
    assert_eq!(get(&outsider, &path).await?.0, 404);
    assert_eq!(get(&w.admin, "/invoices/not-an-id/pdf").await?.0, 404);
    let other = w.app.org("elsewhere").await?;
    w.app
        .member(other, "admin@elsewhere.test", Role::OrgAdmin)
        .await?;
    let stranger = w.app.sign_in("admin@elsewhere.test", None).await?;
    assert_eq!(get(&stranger, &path).await?.0, 404);
    assert_eq!(get(&w.app.client(), &path).await?.0, 401);
    Ok(())
}

#[tokio::test]
async fn the_compliance_export_is_an_audited_record_without_content() -> anyhow::Result<()> {
    let w = world().await?;
    let draft = w.admin.ok(&draft_q(), json!({ "c": w.case })).await?;
    w.admin
        .ok(&issue_q(), json!({ "i": draft["draftInvoice"]["id"] }))
        .await?;
    let path = format!("/cases/{}/compliance-export", w.case);
    let newest = "query($t: UUID) { auditEvents(first: 1, targetId: $t) { action } }";

    let (status, kind, bytes) = get(&w.admin, &path).await?;
    assert_eq!(status, 200);
    assert!(kind.starts_with("application/json"), "{kind}");
    let record: Value = serde_json::from_slice(&bytes)?;
    assert_eq!(record["format"], "accord.case-compliance-export/1");
    assert_eq!(record["includesContent"], false);
    assert_eq!(record["case"]["reference"], "B-1");
    // No content: no title, no file names, no override reasons.
    assert!(record["case"].get("title").is_none(), "{}", record["case"]);
    assert!(!String::from_utf8_lossy(&bytes).contains("Dispute"));
    let people: Vec<&str> = record["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert_eq!(people, ["party", "party", "party", "counsel"]);
    let held: Vec<i64> = record["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["minutesHeld"].as_i64())
        .collect();
    assert_eq!(held, [90, 45]);
    assert_eq!(record["invoices"][0]["number"], "INV-000001");
    assert_eq!(record["invoices"][0]["totalMinor"], 37_000);
    // Every event on the case, in chain order, each with its hashes.
    let events = record["auditEvents"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "case.create",
        "party.add",
        "session.schedule",
        "session.held",
        "invoice.issue",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|p| p[0] < p[1]));
    assert!(events
        .iter()
        .all(|e| e["hash"].as_str().map(str::len) == Some(64)));
    // The export is audited.
    let audited = w.admin.ok(newest, json!({ "t": w.case })).await?;
    assert_eq!(
        audited["auditEvents"][0]["action"],
        "case.compliance_export"
    );

    // Asked for, content comes too, and the event says so.
    let (_, _, bytes) = get(&w.admin, &format!("{path}?content=true")).await?;
    let record: Value = serde_json::from_slice(&bytes)?;
    assert_eq!(record["includesContent"], true);
    assert_eq!(record["case"]["title"], "Dispute");
    let audited = w.admin.ok(newest, json!({ "t": w.case })).await?;
    assert_eq!(
        audited["auditEvents"][0]["action"],
        "case.compliance_export_content"
    );

    // Org admins only: the mediator and a party are refused, an outsider and
    // another org find nothing.
    assert_eq!(get(&w.mediator, &path).await?.0, 403);
    let a = w.app.sign_in("a@billing.test", None).await?;
    assert_eq!(get(&a, &path).await?.0, 403);
    let outsider = w.app.sign_in("outsider@billing.test", None).await?;
    assert_eq!(get(&outsider, &path).await?.0, 404);
    let other = w.app.org("elsewhere").await?;
    w.app
        .member(other, "admin@elsewhere.test", Role::OrgAdmin)
        .await?;
    let stranger = w.app.sign_in("admin@elsewhere.test", None).await?;
    assert_eq!(get(&stranger, &path).await?.0, 404);
    Ok(())
}

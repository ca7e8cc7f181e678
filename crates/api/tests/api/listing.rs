//! What lists show of their neighbours: a session names its case
//! (`Session.case`, as `case(id:)` shows it), and cases are searched by
//! reference or title (`cases(search:)`), with the status filter and cursor
//! paging, within each viewer's reach and never across organizations.

use accord_domain::Role;
use accord_testkit::{spawn_app, Client, TestApp};
use serde_json::{json, Value};

const CREATE_CASE: &str = "mutation($ref: String!, $t: String!, $m: UUID) { createCase(input: {reference: $ref, title: $t, mediatorId: $m}) { id } }";
const ADD_PARTY: &str = "mutation($c: UUID!, $e: String!) { addParty(input: {caseId: $c, kind: PARTY, displayName: \"Pat\", email: $e}) { id } }";
const SCHEDULE: &str = "mutation($c: UUID!, $at: DateTime!) { scheduleSession(input: {caseId: $c, startsAt: $at, timeZone: \"Europe/London\", durationMinutes: 60}) { id case { id reference } } }";
const SESSIONS_WITH_CASE: &str =
    "{ sessions { id caseId case { id reference title mediator { user { displayName } } } } }";
const SEARCH: &str = "query($s: String, $st: CaseStatus, $first: Int! = 20, $after: String) { cases(search: $s, status: $st, first: $first, after: $after) { edges { node { reference } } pageInfo { hasNextPage endCursor } } }";

/// An org with two mediators and a party; cases `N-1` (mediator 1, the party
/// on it), `N-2` (mediator 2), `Q_3` and `R-4` (no mediator), each with one
/// session; and a second org with its own case and session.
struct World {
    app: TestApp,
    admin: Client,
    mediator: Client,
    party: Client,
    outsider: Client,
    other_admin: Client,
    cases: Vec<String>,
    other_case: String,
}

fn id(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected an id, got {v}"))
        .to_owned()
}

async fn world() -> anyhow::Result<World> {
    let app = spawn_app().await?;
    let org = app.org("northside").await?;
    app.member(org, "admin@n.test", Role::OrgAdmin).await?;
    let med = app.member(org, "med@n.test", Role::Mediator).await?;
    let med2 = app.member(org, "med2@n.test", Role::Mediator).await?;
    app.member(org, "party@n.test", Role::Party).await?;
    app.member(org, "outsider@n.test", Role::Party).await?;
    let admin = app.sign_in("admin@n.test", None).await?;
    let mut cases = Vec::new();
    for (reference, title, mediator) in [
        ("N-1", "Boundary dispute", Some(med)),
        ("N-2", "Noise complaint next door", Some(med2)),
        ("Q_3", "A 100% refund", None),
        ("R-4", "Water leak (dispute)", None),
    ] {
        let data = admin
            .ok(
                CREATE_CASE,
                json!({ "ref": reference, "t": title, "m": mediator }),
            )
            .await?;
        cases.push(id(&data["createCase"]["id"]));
    }
    admin
        .ok(ADD_PARTY, json!({ "c": cases[0], "e": "party@n.test" }))
        .await?;
    for (i, case) in cases.iter().enumerate() {
        let at = format!("2031-05-0{}T09:00:00Z", i + 1);
        admin.ok(SCHEDULE, json!({ "c": case, "at": at })).await?;
    }

    let org2 = app.org("southside").await?;
    app.member(org2, "admin@s.test", Role::OrgAdmin).await?;
    let other_admin = app.sign_in("admin@s.test", None).await?;
    let other_case = id(&other_admin
        .ok(
            CREATE_CASE,
            json!({ "ref": "N-1", "t": "Boundary dispute", "m": null }),
        )
        .await?["createCase"]["id"]);
    other_admin
        .ok(
            SCHEDULE,
            json!({ "c": other_case, "at": "2031-05-01T10:00:00Z" }),
        )
        .await?;
    Ok(World {
        mediator: app.sign_in("med@n.test", None).await?,
        party: app.sign_in("party@n.test", None).await?,
        outsider: app.sign_in("outsider@n.test", None).await?,
        app,
        admin,
        other_admin,
        cases,
        other_case,
    })
}

fn references(data: &Value) -> Vec<String> {
    data["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["case"]["id"], s["caseId"], "{s}");
            s["case"]["reference"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_session_list_names_each_sessions_case_for_those_who_see_it() -> anyhow::Result<()> {
    let w = world().await?;
    // The admin sees every session of the org with its case and mediator.
    let data = w.admin.ok(SESSIONS_WITH_CASE, json!({})).await?;
    assert_eq!(references(&data), ["N-1", "N-2", "Q_3", "R-4"]);
    let first = &data["sessions"][0]["case"];
    assert_eq!(first["title"], "Boundary dispute");
    assert_eq!(first["mediator"]["user"]["displayName"], "med");
    assert!(data["sessions"][2]["case"]["mediator"].is_null());

    // A mediator and a party see their own case's session, with its case.
    for client in [&w.mediator, &w.party] {
        let data = client.ok(SESSIONS_WITH_CASE, json!({})).await?;
        assert_eq!(references(&data), ["N-1"]);
    }
    // A party on no case sees no session, hence no case.
    let data = w.outsider.ok(SESSIONS_WITH_CASE, json!({})).await?;
    assert_eq!(data["sessions"], json!([]));

    // The other org's admin sees only their own session and case, though
    // its reference is the same.
    let data = w.other_admin.ok(SESSIONS_WITH_CASE, json!({})).await?;
    assert_eq!(references(&data), ["N-1"]);
    assert_eq!(data["sessions"][0]["case"]["id"], w.other_case.as_str());
    let code = w
        .other_admin
        .error_code(
            "query($c: UUID!) { sessions(caseId: $c) { case { id } } }",
            json!({ "c": w.cases[0] }),
        )
        .await?;
    assert_eq!(code, "NOT_FOUND");

    // Through a case, and from a mutation's answer, the same case comes back.
    let data = w
        .mediator
        .ok(
            "query($c: UUID!) { case(id: $c) { reference sessions { case { reference } } } }",
            json!({ "c": w.cases[0] }),
        )
        .await?;
    assert_eq!(data["case"]["sessions"][0]["case"]["reference"], "N-1");
    let data = w
        .mediator
        .ok(
            SCHEDULE,
            json!({ "c": w.cases[0], "at": "2031-06-01T09:00:00Z" }),
        )
        .await?;
    assert_eq!(data["scheduleSession"]["case"]["reference"], "N-1");
    drop(w.app);
    Ok(())
}

#[tokio::test]
async fn a_sessions_case_reflects_a_change_made_earlier_in_the_same_request() -> anyhow::Result<()>
{
    let w = world().await?;
    // The case is read (and remembered) by the first field, changed by the
    // second; the third reads it afresh.
    let data = w
        .admin
        .ok(
            "mutation($c: UUID!) { \
               a: scheduleSession(input: {caseId: $c, startsAt: \"2031-07-01T09:00:00Z\", timeZone: \"UTC\", durationMinutes: 30}) { case { status } } \
               b: updateCaseStatus(id: $c, status: ON_HOLD) { status } \
               c: scheduleSession(input: {caseId: $c, startsAt: \"2031-07-02T09:00:00Z\", timeZone: \"UTC\", durationMinutes: 30}) { case { status } } }",
            json!({ "c": w.cases[2] }),
        )
        .await?;
    assert_eq!(data["a"]["case"]["status"], "OPEN");
    assert_eq!(data["c"]["case"]["status"], "ON_HOLD");
    Ok(())
}

async fn search(client: &Client, vars: Value) -> anyhow::Result<(Vec<String>, Value)> {
    let data = client.ok(SEARCH, vars).await?;
    let refs = data["cases"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["reference"].as_str().unwrap().to_owned())
        .collect();
    Ok((refs, data["cases"]["pageInfo"].clone()))
}

#[tokio::test]
async fn cases_are_searched_by_reference_or_title_ignoring_case() -> anyhow::Result<()> {
    let w = world().await?;
    let admin = &w.admin;
    // Newest first, as the listing always is.
    assert_eq!(
        search(admin, json!({ "s": "DISPUTE" })).await?.0,
        ["R-4", "N-1"]
    );
    assert_eq!(search(admin, json!({ "s": "n-" })).await?.0, ["N-2", "N-1"]);
    assert_eq!(search(admin, json!({ "s": "  leak " })).await?.0, ["R-4"]);
    // LIKE's wildcards are plain characters.
    assert_eq!(search(admin, json!({ "s": "%" })).await?.0, ["Q_3"]);
    assert_eq!(search(admin, json!({ "s": "_" })).await?.0, ["Q_3"]);
    assert_eq!(
        search(admin, json!({ "s": "n_1" })).await?.0,
        Vec::<String>::new()
    );
    assert_eq!(
        search(admin, json!({ "s": "\\" })).await?.0,
        Vec::<String>::new()
    );
    // Empty or absent: every case.
    assert_eq!(search(admin, json!({ "s": "" })).await?.0.len(), 4);
    assert_eq!(search(admin, json!({})).await?.0.len(), 4);

    // Combined with the status filter.
    admin
        .ok(
            "mutation($c: UUID!) { updateCaseStatus(id: $c, status: ON_HOLD) { id } }",
            json!({ "c": w.cases[0] }),
        )
        .await?;
    assert_eq!(
        search(admin, json!({ "s": "dispute", "st": "ON_HOLD" }))
            .await?
            .0,
        ["N-1"]
    );
    assert_eq!(
        search(admin, json!({ "s": "dispute", "st": "OPEN" }))
            .await?
            .0,
        ["R-4"]
    );

    // Paged with cursors: the filter holds from page to page.
    let (page, info) = search(admin, json!({ "s": "e", "first": 2 })).await?;
    assert_eq!(page, ["R-4", "Q_3"]);
    assert_eq!(info["hasNextPage"], true);
    let (page, info) = search(
        admin,
        json!({ "s": "e", "first": 2, "after": info["endCursor"] }),
    )
    .await?;
    assert_eq!(page, ["N-2", "N-1"]);
    assert_eq!(info["hasNextPage"], false);

    // Too long a text is the client's mistake, named by field.
    let long = "x".repeat(201);
    let reply = crate::common::gql(admin, SEARCH, json!({ "s": long })).await?;
    assert_eq!(reply.gql_code(), "BAD_USER_INPUT");
    assert_eq!(reply.gql_field(), "search");
    Ok(())
}

#[tokio::test]
async fn a_search_finds_only_what_the_viewer_may_list() -> anyhow::Result<()> {
    let w = world().await?;
    // The mediator of N-1 finds nothing of N-2, the party only their case,
    // the outsider nothing at all.
    assert_eq!(search(&w.mediator, json!({ "s": "n-" })).await?.0, ["N-1"]);
    assert_eq!(
        search(&w.mediator, json!({ "s": "noise" })).await?.0,
        Vec::<String>::new()
    );
    assert_eq!(search(&w.party, json!({ "s": "" })).await?.0, ["N-1"]);
    assert_eq!(
        search(&w.outsider, json!({ "s": "dispute" })).await?.0,
        Vec::<String>::new()
    );
    // The other org finds its own N-1 only.
    let data = w
        .other_admin
        .ok(
            "{ cases(search: \"boundary\") { edges { node { id } } } }",
            json!({}),
        )
        .await?;
    assert_eq!(
        data["cases"]["edges"],
        json!([{ "node": { "id": w.other_case } }])
    );
    Ok(())
}

/// A case's mediator and people as a page of cases shows them: loaded with
/// the page (fields asked for directly or through fragments), they must
/// match what `case(id:)` shows of the same case, for each viewer.
const CHILDREN: &str =
    "mediator { user { id displayName email } } parties { displayName email kind }";

#[tokio::test]
async fn a_page_of_cases_shows_each_cases_mediator_and_people_as_the_case_does(
) -> anyhow::Result<()> {
    let w = world().await?;
    // A second person on N-1, and two more cases of N-1's mediator one
    // after the other (the page brings a mediator once for such a run).
    w.admin
        .ok(ADD_PARTY, json!({ "c": w.cases[0], "e": "counsel@n.test" }))
        .await?;
    let members = w
        .admin
        .ok("{ members { user { id email } } }", json!({}))
        .await?;
    let med = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["email"] == "med@n.test")
        .map(|m| m["user"]["id"].clone())
        .unwrap();
    for reference in ["N-5", "N-6"] {
        w.admin
            .ok(
                CREATE_CASE,
                json!({ "ref": reference, "t": "Fence", "m": med }),
            )
            .await?;
    }
    let direct = format!("{{ cases {{ edges {{ node {{ id reference {CHILDREN} }} }} }} }}");
    let fragment = format!(
        "{{ cases {{ edges {{ ...E }} }} }} fragment E on CaseEdge {{ node {{ id reference ...C }} }} fragment C on Case {{ {CHILDREN} }}"
    );
    for viewer in [&w.admin, &w.mediator, &w.party] {
        for page in [&direct, &fragment] {
            let data = viewer.ok(page, json!({})).await?;
            let nodes = data["cases"]["edges"].as_array().unwrap();
            assert!(!nodes.is_empty());
            for node in nodes.iter().map(|e| &e["node"]) {
                let one = viewer
                    .ok(
                        &format!(
                            "query($id: UUID!) {{ case(id: $id) {{ id reference {CHILDREN} }} }}"
                        ),
                        json!({ "id": node["id"] }),
                    )
                    .await?;
                assert_eq!(&one["case"], node, "{page}");
            }
            let n1 = nodes
                .iter()
                .map(|e| &e["node"])
                .find(|n| n["reference"] == "N-1")
                .unwrap();
            assert_eq!(n1["parties"].as_array().unwrap().len(), 2, "{n1}");
            assert_eq!(n1["mediator"]["user"]["displayName"], "med", "{n1}");
        }
    }
    // The admin sees N-2 with its own mediator, R-4 with nobody.
    let data = w.admin.ok(&direct, json!({})).await?;
    let node = |r: &str| {
        data["cases"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"].clone())
            .find(|n| n["reference"] == r)
            .unwrap()
    };
    for reference in ["N-1", "N-5", "N-6"] {
        assert_eq!(node(reference)["mediator"]["user"]["email"], "med@n.test");
    }
    assert_eq!(node("N-2")["mediator"]["user"]["email"], "med2@n.test");
    assert_eq!(node("R-4")["mediator"], Value::Null);
    assert_eq!(node("R-4")["parties"], json!([]));
    // Two at a time (each page reads one case more than it shows, to know
    // whether more follow): the same cases in the same order, each with
    // its own mediator and people, and the last edge's cursor is the end.
    let all: Vec<Value> = data["cases"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    let paging = format!(
        "query($a: String) {{ cases(first: 2, after: $a) {{ edges {{ cursor node {{ id reference {CHILDREN} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
    );
    let mut paged: Vec<Value> = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = w.admin.ok(&paging, json!({ "a": after })).await?;
        let edges = page["cases"]["edges"].as_array().unwrap();
        assert!(edges.len() <= 2);
        paged.extend(edges.iter().map(|e| e["node"].clone()));
        let info = &page["cases"]["pageInfo"];
        assert_eq!(info["endCursor"], edges.last().unwrap()["cursor"]);
        if info["hasNextPage"] != json!(true) {
            break;
        }
        after = info["endCursor"].clone();
    }
    assert_eq!(paged, all);
    Ok(())
}

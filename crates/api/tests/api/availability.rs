//! Availability and the common slot through the API: people on a case and
//! its mediator give windows on their own clocks, the mediator gets the
//! earliest common slots and books one with `scheduleSession`; who may do
//! what, across orgs, and what malformed input is refused with.

use accord_domain::{IanaTimeZone, Role};
use accord_testkit::{spawn_app, Client, TestApp};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::{json, Value};

const CREATE_CASE: &str = "mutation($ref: String!, $m: UUID) { createCase(input: {reference: $ref, title: \"Boundary dispute\", mediatorId: $m}) { id } }";
const ADD_PARTY: &str = "mutation($c: UUID!, $e: String!, $k: PartyKind!) { addParty(input: {caseId: $c, kind: $k, displayName: \"Someone\", email: $e}) { id userId } }";
const SET_MINE: &str = "mutation($c: UUID!, $w: [AvailabilityWindowInput!]!, $z: String!) { setMyAvailability(caseId: $c, windows: $w, timeZone: $z) { caseId timeZone windows { start end } } }";
const MINE: &str =
    "query($c: UUID!) { myAvailability(caseId: $c) { timeZone windows { start end } } }";
const PROPOSE: &str = "query($c: UUID!, $d: Int!, $from: DateTime!, $to: DateTime!, $n: Int!) { proposeSlots(caseId: $c, durationMinutes: $d, from: $from, to: $to, first: $n) { workingHoursTimeZone slots { startsAt endsAt } participants { partyId userId role hasGivenAvailability timeZone } } }";
const HOURS: &str = "{ orgWorkingHours { timeZone days { weekday start end } } }";
const SET_HOURS: &str = "mutation($z: String!, $d: [WorkingDayInput!]!) { setOrgWorkingHours(timeZone: $z, days: $d) { timeZone days { weekday start end } } }";
const SCHEDULE: &str = "mutation($c: UUID!, $at: DateTime!) { scheduleSession(input: {caseId: $c, startsAt: $at, timeZone: \"Europe/London\", durationMinutes: 60}) { id startsAt } }";

/// An org with an admin, a mediator, a party and counsel on a mediated case,
/// and a party account that is not on the case.
struct Org {
    admin: Client,
    mediator: Client,
    party: Client,
    counsel: Client,
    outsider: Client,
    case: String,
    party_id: String,
}

async fn org(app: &TestApp, slug: &str) -> anyhow::Result<Org> {
    let org = app.org(slug).await?;
    let email = |who: &str| format!("{who}@{slug}.test");
    app.member(org, &email("admin"), Role::OrgAdmin).await?;
    let mediator = app.member(org, &email("mediator"), Role::Mediator).await?;
    app.member(org, &email("party"), Role::Party).await?;
    app.member(org, &email("counsel"), Role::Observer).await?;
    app.member(org, &email("outsider"), Role::Party).await?;
    let admin = app.sign_in(&email("admin"), None).await?;
    let data = admin
        .ok(
            CREATE_CASE,
            json!({ "ref": format!("{slug}-1"), "m": mediator }),
        )
        .await?;
    let case = data["createCase"]["id"].as_str().unwrap().to_owned();
    let data = admin
        .ok(
            ADD_PARTY,
            json!({ "c": case, "e": email("party"), "k": "PARTY" }),
        )
        .await?;
    let party_id = data["addParty"]["id"].as_str().unwrap().to_owned();
    admin
        .ok(
            ADD_PARTY,
            json!({ "c": case, "e": email("counsel"), "k": "COUNSEL" }),
        )
        .await?;
    Ok(Org {
        admin,
        mediator: app.sign_in(&email("mediator"), None).await?,
        party: app.sign_in(&email("party"), None).await?,
        counsel: app.sign_in(&email("counsel"), None).await?,
        outsider: app.sign_in(&email("outsider"), None).await?,
        case,
        party_id,
    })
}

/// The Monday two to three weeks from now.
fn a_monday() -> NaiveDate {
    let mut day = Utc::now().date_naive() + Duration::days(14);
    while day.weekday() != chrono::Weekday::Mon {
        day = day.succ_opt().unwrap();
    }
    day
}

fn local(day: NaiveDate, hour: u32) -> NaiveDateTime {
    day.and_hms_opt(hour, 0, 0).unwrap()
}

fn wire(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn window(day: NaiveDate, from: u32, to: u32) -> Value {
    json!({ "start": wire(local(day, from)), "end": wire(local(day, to)) })
}

fn instant(zone: &str, t: NaiveDateTime) -> DateTime<Utc> {
    IanaTimeZone::parse(zone)
        .unwrap()
        .tz()
        .from_local_datetime(&t)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn slots(data: &Value) -> Vec<DateTime<Utc>> {
    data["proposeSlots"]["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["startsAt"].as_str().unwrap().parse().unwrap())
        .collect()
}

fn range(day: NaiveDate) -> Value {
    let from = local(day, 0).and_utc() - Duration::days(1);
    let to = from + Duration::days(3);
    json!([from.to_rfc3339(), to.to_rfc3339()])
}

async fn propose(client: &Client, case: &str, day: NaiveDate, n: i64) -> anyhow::Result<Value> {
    let r = range(day);
    client
        .ok(
            PROPOSE,
            json!({ "c": case, "d": 60, "from": r[0], "to": r[1], "n": n }),
        )
        .await
}

#[tokio::test]
async fn the_mediator_gets_the_earliest_slots_common_to_everyone_and_books_one(
) -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let o = org(&app, "alpha").await?;
    let day = a_monday();

    // Before anyone answers: no slots, and everyone is listed as waiting.
    let data = propose(&o.mediator, &o.case, day, 3).await?;
    assert!(slots(&data).is_empty());
    let people = data["proposeSlots"]["participants"].as_array().unwrap();
    assert_eq!(people.len(), 3, "{data}");
    assert!(people.iter().all(|p| p["hasGivenAvailability"] == false));
    assert_eq!(people[0]["role"], "MEDIATOR");

    // London 10-16, New York 08-12, Berlin 12-18, each on their own clock.
    let set = o
        .party
        .ok(
            SET_MINE,
            json!({ "c": o.case, "w": [window(day, 10, 16)], "z": "Europe/London" }),
        )
        .await?;
    assert_eq!(set["setMyAvailability"]["timeZone"], "Europe/London");
    assert_eq!(
        set["setMyAvailability"]["windows"][0]["start"],
        wire(local(day, 10))
    );
    o.counsel
        .ok(
            SET_MINE,
            json!({ "c": o.case, "w": [window(day, 8, 12)], "z": "America/New_York" }),
        )
        .await?;
    o.mediator
        .ok(
            SET_MINE,
            json!({ "c": o.case, "w": [window(day, 12, 18)], "z": "Europe/Berlin" }),
        )
        .await?;
    let mine = o.party.ok(MINE, json!({ "c": o.case })).await?;
    assert_eq!(
        mine["myAvailability"]["windows"].as_array().unwrap().len(),
        1
    );

    // The common stretch starts at 08:00 in New York and ends at 16:00 in
    // London (inside the default working hours, 09-17 UTC, whatever the
    // season); an hour's slots on the quarter hour.
    let data = propose(&o.mediator, &o.case, day, 50).await?;
    let found = slots(&data);
    let first = instant("America/New_York", local(day, 8));
    let last = instant("Europe/London", local(day, 16)) - Duration::hours(1);
    assert_eq!(found.first(), Some(&first), "{data}");
    assert_eq!(found.last(), Some(&last), "{data}");
    assert_eq!(
        found.len() as i64,
        (last - first).num_minutes() / 15 + 1,
        "{data}"
    );
    let people = data["proposeSlots"]["participants"].as_array().unwrap();
    assert!(people.iter().all(|p| p["hasGivenAvailability"] == true));
    assert!(people
        .iter()
        .any(|p| p["partyId"] == json!(o.party_id) && p["timeZone"] == "Europe/London"));

    // An org admin sees the same; the first is booked through scheduleSession.
    let data = propose(&o.admin, &o.case, day, 1).await?;
    assert_eq!(slots(&data), vec![first]);
    let booked = o
        .mediator
        .ok(SCHEDULE, json!({ "c": o.case, "at": first.to_rfc3339() }))
        .await?;
    let at: DateTime<Utc> = booked["scheduleSession"]["startsAt"]
        .as_str()
        .unwrap()
        .parse()?;
    assert_eq!(at, first);

    // Withdrawing availability (no windows) leaves the counsel waiting again.
    o.counsel
        .ok(
            SET_MINE,
            json!({ "c": o.case, "w": [], "z": "America/New_York" }),
        )
        .await?;
    let mine = o.counsel.ok(MINE, json!({ "c": o.case })).await?;
    assert_eq!(mine["myAvailability"]["timeZone"], Value::Null);
    let data = propose(&o.mediator, &o.case, day, 1).await?;
    assert_eq!(
        slots(&data),
        vec![instant("Europe/Berlin", local(day, 12)).max(instant("Europe/London", local(day, 10)))]
    );
    Ok(())
}

#[tokio::test]
async fn org_admins_set_working_hours_and_slots_keep_to_them() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let o = org(&app, "alpha").await?;
    let day = a_monday();

    let data = o.party.ok(HOURS, json!({})).await?;
    assert_eq!(data["orgWorkingHours"]["timeZone"], "UTC");
    assert_eq!(data["orgWorkingHours"]["days"].as_array().unwrap().len(), 5);
    assert_eq!(data["orgWorkingHours"]["days"][0]["start"], "09:00");

    let hours = json!([{ "weekday": "MONDAY", "start": "14:00", "end": "15:30" }]);
    let set = o
        .admin
        .ok(SET_HOURS, json!({ "z": "Asia/Kolkata", "d": hours }))
        .await?;
    assert_eq!(set["setOrgWorkingHours"]["timeZone"], "Asia/Kolkata");
    assert_eq!(set["setOrgWorkingHours"]["days"][0]["end"], "15:30");

    o.party
        .ok(
            SET_MINE,
            json!({ "c": o.case, "w": [window(day, 0, 23)], "z": "Asia/Kolkata" }),
        )
        .await?;
    let data = propose(&o.mediator, &o.case, day, 50).await?;
    let first = instant("Asia/Kolkata", local(day, 14));
    assert_eq!(
        slots(&data),
        vec![
            first,
            first + Duration::minutes(15),
            first + Duration::minutes(30)
        ]
    );
    assert_eq!(data["proposeSlots"]["workingHoursTimeZone"], "Asia/Kolkata");

    // Nobody else may change them.
    for who in [&o.mediator, &o.party, &o.counsel] {
        assert_eq!(
            who.error_code(SET_HOURS, json!({ "z": "UTC", "d": [] }))
                .await?,
            "FORBIDDEN"
        );
    }

    // Malformed hours are refused and change nothing.
    let bad: Vec<(&str, Value)> = vec![
        ("Mars/Olympus", json!([])),
        ("UTC+3", json!([])),
        (
            "UTC",
            json!([{ "weekday": "MONDAY", "start": "25:00", "end": "26:00" }]),
        ),
        (
            "UTC",
            json!([{ "weekday": "MONDAY", "start": "17:00", "end": "09:00" }]),
        ),
        (
            "UTC",
            json!([{ "weekday": "MONDAY", "start": "9am", "end": "5pm" }]),
        ),
        (
            "UTC",
            json!([
                { "weekday": "MONDAY", "start": "09:00", "end": "12:00" },
                { "weekday": "MONDAY", "start": "13:00", "end": "17:00" }
            ]),
        ),
        (
            "UTC",
            json!([{ "weekday": "FUNDAY", "start": "09:00", "end": "12:00" }]),
        ),
    ];
    for (zone, days) in bad {
        assert_eq!(
            o.admin
                .error_code(SET_HOURS, json!({ "z": zone, "d": days }))
                .await?,
            "BAD_USER_INPUT",
            "{zone} {days}"
        );
    }
    let data = o.admin.ok(HOURS, json!({})).await?;
    assert_eq!(data["orgWorkingHours"], set["setOrgWorkingHours"]);
    Ok(())
}

#[tokio::test]
async fn only_the_mediator_and_org_admins_propose_and_only_people_on_the_case_answer(
) -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let o = org(&app, "alpha").await?;
    let day = a_monday();
    let r = range(day);
    let vars = json!({ "c": o.case, "d": 60, "from": r[0], "to": r[1], "n": 5 });

    // People on the case cannot ask for slots (which would show others'
    // availability), whatever their role.
    for who in [&o.party, &o.counsel] {
        assert_eq!(who.error_code(PROPOSE, vars.clone()).await?, "FORBIDDEN");
    }
    // Someone not on the case cannot tell it exists.
    let set = json!({ "c": o.case, "w": [window(day, 9, 12)], "z": "UTC" });
    assert_eq!(
        o.outsider.error_code(SET_MINE, set.clone()).await?,
        "NOT_FOUND"
    );
    assert_eq!(
        o.outsider.error_code(MINE, json!({ "c": o.case })).await?,
        "NOT_FOUND"
    );
    assert_eq!(
        o.outsider.error_code(PROPOSE, vars.clone()).await?,
        "FORBIDDEN"
    );
    // An org admin sees the case but is not on it: nothing to give.
    assert_eq!(o.admin.error_code(SET_MINE, set).await?, "FORBIDDEN");
    // A case that does not exist.
    let nowhere = json!({ "c": "01900000-0000-7000-8000-000000000000", "d": 60, "from": r[0], "to": r[1], "n": 5 });
    assert_eq!(o.admin.error_code(PROPOSE, nowhere).await?, "NOT_FOUND");
    Ok(())
}

#[tokio::test]
async fn another_orgs_case_is_not_found() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let a = org(&app, "alpha").await?;
    let b = org(&app, "beta").await?;
    let day = a_monday();
    b.party
        .ok(
            SET_MINE,
            json!({ "c": b.case, "w": [window(day, 9, 12)], "z": "UTC" }),
        )
        .await?;
    let r = range(day);
    let propose = json!({ "c": b.case, "d": 60, "from": r[0], "to": r[1], "n": 5 });
    let set = json!({ "c": b.case, "w": [window(day, 9, 12)], "z": "UTC" });
    for who in [&a.admin, &a.mediator] {
        assert_eq!(who.error_code(PROPOSE, propose.clone()).await?, "NOT_FOUND");
        assert_eq!(
            who.error_code(MINE, json!({ "c": b.case })).await?,
            "NOT_FOUND"
        );
        assert_eq!(who.error_code(SET_MINE, set.clone()).await?, "NOT_FOUND");
    }
    assert_eq!(a.party.error_code(SET_MINE, set).await?, "NOT_FOUND");
    // B's availability is untouched and A's working hours are A's alone.
    let mine = b.party.ok(MINE, json!({ "c": b.case })).await?;
    assert_eq!(
        mine["myAvailability"]["windows"].as_array().unwrap().len(),
        1
    );
    a.admin
        .ok(SET_HOURS, json!({ "z": "Asia/Tokyo", "d": [] }))
        .await?;
    let hours = b.admin.ok(HOURS, json!({})).await?;
    assert_eq!(hours["orgWorkingHours"]["timeZone"], "UTC");
    Ok(())
}

#[tokio::test]
async fn malformed_availability_and_searches_are_bad_user_input() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let o = org(&app, "alpha").await?;
    let day = a_monday();
    let good = json!({ "c": o.case, "w": [window(day, 9, 12)], "z": "Europe/London" });
    o.party.ok(SET_MINE, good).await?;

    let far = NaiveDate::from_ymd_opt(Utc::now().year() + 3, 1, 10).unwrap();
    let long_ago = NaiveDate::from_ymd_opt(2001, 1, 10).unwrap();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("end before start", json!([window(day, 12, 9)]), "UTC"),
        ("empty window", json!([window(day, 9, 9)]), "UTC"),
        (
            "overlapping",
            json!([window(day, 9, 12), window(day, 11, 13)]),
            "UTC",
        ),
        (
            "eight days",
            json!([{ "start": wire(local(day, 9)), "end": wire(local(day + Duration::days(8), 9)) }]),
            "UTC",
        ),
        ("years ahead", json!([window(far, 9, 12)]), "UTC"),
        ("long ago", json!([window(long_ago, 9, 12)]), "UTC"),
        (
            "not a whole minute",
            json!([{ "start": format!("{}T09:00:30", day), "end": format!("{}T10:00:00", day) }]),
            "UTC",
        ),
        (
            "not a date",
            json!([{ "start": "next tuesday", "end": "later" }]),
            "UTC",
        ),
        ("unknown zone", json!([window(day, 9, 12)]), "Mars/Olympus"),
        ("offset", json!([window(day, 9, 12)]), "UTC+3"),
    ];
    for (what, windows, zone) in cases {
        let vars = json!({ "c": o.case, "w": windows, "z": zone });
        assert_eq!(
            o.party.error_code(SET_MINE, vars).await?,
            "BAD_USER_INPUT",
            "{what}"
        );
    }
    let too_many: Vec<Value> = (0..201)
        .map(|i| {
            let start = local(day, 0) + Duration::minutes(30 * i);
            json!({ "start": wire(start), "end": wire(start + Duration::minutes(15)) })
        })
        .collect();
    assert_eq!(
        o.party
            .error_code(SET_MINE, json!({ "c": o.case, "w": too_many, "z": "UTC" }))
            .await?,
        "BAD_USER_INPUT"
    );
    // The earlier windows stand.
    let mine = o.party.ok(MINE, json!({ "c": o.case })).await?;
    assert_eq!(mine["myAvailability"]["timeZone"], "Europe/London");
    assert_eq!(
        mine["myAvailability"]["windows"].as_array().unwrap().len(),
        1
    );

    let from = local(day, 0).and_utc();
    let searches: Vec<(&str, Value)> = vec![
        (
            "to before from",
            json!({ "d": 60, "from": from.to_rfc3339(), "to": (from - Duration::days(1)).to_rfc3339(), "n": 5 }),
        ),
        (
            "over 92 days",
            json!({ "d": 60, "from": from.to_rfc3339(), "to": (from + Duration::days(200)).to_rfc3339(), "n": 5 }),
        ),
        (
            "in the past",
            json!({ "d": 60, "from": "2001-01-01T00:00:00Z", "to": "2001-01-02T00:00:00Z", "n": 5 }),
        ),
        (
            "too short",
            json!({ "d": 5, "from": from.to_rfc3339(), "to": (from + Duration::days(2)).to_rfc3339(), "n": 5 }),
        ),
        (
            "too long",
            json!({ "d": 100000, "from": from.to_rfc3339(), "to": (from + Duration::days(2)).to_rfc3339(), "n": 5 }),
        ),
        (
            "none wanted",
            json!({ "d": 60, "from": from.to_rfc3339(), "to": (from + Duration::days(2)).to_rfc3339(), "n": 0 }),
        ),
        (
            "too many wanted",
            json!({ "d": 60, "from": from.to_rfc3339(), "to": (from + Duration::days(2)).to_rfc3339(), "n": 5000 }),
        ),
        (
            "not an instant",
            json!({ "d": 60, "from": "monday", "to": (from + Duration::days(2)).to_rfc3339(), "n": 5 }),
        ),
    ];
    for (what, mut vars) in searches {
        vars["c"] = json!(o.case);
        assert_eq!(
            o.mediator.error_code(PROPOSE, vars).await?,
            "BAD_USER_INPUT",
            "{what}"
        );
    }
    Ok(())
}

const SESSION_AT: &str = "mutation($c: UUID!) { scheduleSession(input: {caseId: $c, startsAt: \"2031-03-30T09:00:00Z\", timeZone: \"Europe/London\", durationMinutes: 60}) { id } }";

async fn calendar(client: &Client, session: &str) -> anyhow::Result<(u16, String, String)> {
    let response = client
        .http
        .get(format!(
            "{}/sessions/{session}/calendar.ics",
            client.base_url
        ))
        .send()
        .await?;
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Ok((status, kind, response.text().await?))
}

#[tokio::test]
async fn people_on_a_session_download_its_calendar_entry_and_nobody_else_does() -> anyhow::Result<()>
{
    let app = spawn_app().await?;
    let a = org(&app, "alpha").await?;
    let b = org(&app, "beta").await?;
    let data = a.admin.ok(SESSION_AT, json!({ "c": a.case })).await?;
    let session = data["scheduleSession"]["id"].as_str().unwrap().to_owned();

    let (status, kind, ics) = calendar(&a.party, &session).await?;
    assert_eq!(status, 200, "{ics}");
    assert!(kind.starts_with("text/calendar"), "{kind}");
    let unfolded = ics.replace("\r\n ", "");
    for expected in [
        "BEGIN:VCALENDAR",
        "METHOD:REQUEST",
        "BEGIN:VTIMEZONE",
        "TZID:Europe/London",
        "DTSTART;TZID=Europe/London:20310330T100000",
        "DTEND;TZID=Europe/London:20310330T110000",
        "alpha-1",
    ] {
        assert!(unfolded.contains(expected), "{expected} missing from {ics}");
    }
    assert!(
        unfolded.contains(&format!(
            "UID:session-{session}-participant-{}@accord",
            a.party_id
        )),
        "{ics}"
    );
    assert!(
        !unfolded.contains("Boundary dispute"),
        "the title is case content: {ics}"
    );
    assert_eq!(calendar(&a.counsel, &session).await?.0, 200);
    assert_eq!(calendar(&a.mediator, &session).await?.0, 200);

    // Not on the case, another org, not a session id, signed out.
    for who in [&a.outsider, &a.admin, &b.admin, &b.party] {
        let (status, _, body) = calendar(who, &session).await?;
        assert_eq!(status, 404, "{body}");
        assert!(body.contains("NOT_FOUND"), "{body}");
    }
    assert_eq!(calendar(&a.party, "not-a-session").await?.0, 404);
    assert_eq!(calendar(&a.party, &a.case).await?.0, 404);
    assert_eq!(calendar(&app.client(), &session).await?.0, 401);

    // A cancelled session's entry cancels it in the calendar.
    a.admin
        .ok(
            "mutation($id: UUID!) { cancelSession(id: $id) { id } }",
            json!({ "id": session }),
        )
        .await?;
    let (_, _, ics) = calendar(&a.party, &session).await?;
    assert!(ics.contains("METHOD:CANCEL"), "{ics}");
    Ok(())
}

#[tokio::test]
async fn slots_keep_clear_of_sessions_already_booked_for_the_people_on_the_case(
) -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let o = org(&app, "delta").await?;
    let day = a_monday();
    let at = |hour: u32, minute: i64| {
        instant("Europe/London", local(day, hour)) + Duration::minutes(minute)
    };
    // Only the party and the mediator answer: London 10:00 to 16:00.
    for who in [&o.party, &o.mediator] {
        who.ok(
            SET_MINE,
            json!({ "c": o.case, "w": [window(day, 10, 16)], "z": "Europe/London" }),
        )
        .await?;
    }
    o.counsel
        .ok(
            SET_MINE,
            json!({ "c": o.case, "w": [window(day, 10, 16)], "z": "Europe/London" }),
        )
        .await?;
    assert_eq!(
        slots(&propose(&o.mediator, &o.case, day, 1).await?),
        vec![at(10, 0)]
    );

    // A session of this case at 10:00 (an hour): the next slot is 11:00.
    o.admin
        .ok(
            SCHEDULE,
            json!({ "c": o.case, "at": at(10, 0).to_rfc3339() }),
        )
        .await?;
    assert_eq!(
        slots(&propose(&o.mediator, &o.case, day, 1).await?),
        vec![at(11, 0)]
    );

    // The party is also on another case, with a session 11:00 to 12:00; the
    // mediator mediates a third, 12:15 to 13:15. A fourth case with none of
    // them books 13:15 and does not count.
    let mediator_id = o
        .mediator
        .ok("{ viewer { user { id } } }", json!({}))
        .await?["viewer"]["user"]["id"]
        .clone();
    let book = async |reference: &str, mediator: Value, email: &str, start| {
        let data = o
            .admin
            .ok(CREATE_CASE, json!({ "ref": reference, "m": mediator }))
            .await?;
        let case = data["createCase"]["id"].as_str().unwrap().to_owned();
        o.admin
            .ok(ADD_PARTY, json!({ "c": case, "e": email, "k": "PARTY" }))
            .await?;
        let data = o
            .admin
            .ok(
                SCHEDULE,
                json!({ "c": case, "at": at(start, 0).to_rfc3339() }),
            )
            .await?;
        anyhow::Ok(data["scheduleSession"]["id"].as_str().unwrap().to_owned())
    };
    let other = book("delta-2", Value::Null, "party@delta.test", 11).await?;
    assert_eq!(
        slots(&propose(&o.mediator, &o.case, day, 1).await?),
        vec![at(12, 0)]
    );
    let data = o
        .admin
        .ok(CREATE_CASE, json!({ "ref": "delta-3", "m": mediator_id }))
        .await?;
    let third = data["createCase"]["id"].as_str().unwrap().to_owned();
    o.admin
        .ok(
            "mutation($c: UUID!, $at: DateTime!) { scheduleSession(input: {caseId: $c, startsAt: $at, timeZone: \"UTC\", durationMinutes: 60}) { id } }",
            json!({ "c": third, "at": at(12, 15).to_rfc3339() }),
        )
        .await?;
    book("delta-4", Value::Null, "stranger@delta.test", 13).await?;
    // 12:00 would run into the mediator's 12:15; the first free hour is 13:15.
    let found = slots(&propose(&o.mediator, &o.case, day, 3).await?);
    assert_eq!(found, vec![at(13, 15), at(13, 30), at(13, 45)]);

    // Once the other case's session is called off, 11:00 is free again.
    o.admin
        .ok(
            "mutation($s: UUID!) { cancelSession(id: $s) { id } }",
            json!({ "s": other }),
        )
        .await?;
    assert_eq!(
        slots(&propose(&o.mediator, &o.case, day, 2).await?),
        vec![at(11, 0), at(11, 15)]
    );
    Ok(())
}

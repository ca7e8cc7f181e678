//! The calendar invitations, parsed back with icalendar's parser and checked
//! property by property, for sessions on both sides of a DST change.

use accord_notify::ics::{self, Method, Person, SessionInvite};
use chrono::{DateTime, Duration, NaiveDateTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use icalendar::parser::{read_calendar, unfold, Component, Property};

const SESSION: uuid::Uuid = uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);
const PARTY: uuid::Uuid = uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002);

fn invite(starts_at: DateTime<Utc>, zone: Tz, sequence: u32, method: Method) -> String {
    ics::session_invite(&SessionInvite {
        session_id: SESSION,
        participant_id: PARTY,
        sequence,
        method,
        starts_at,
        ends_at: starts_at + Duration::minutes(90),
        time_zone: zone,
        case_reference: "ACME-2027-001",
        organizer: Person {
            name: "Acme Mediation, Ltd",
            email: "mediation@acme.test",
        },
        attendee: Person {
            name: "Pat Party",
            email: "pat@acme.test",
        },
        join_url: "https://accord.test/sessions/0190",
        stamp: Utc.with_ymd_and_hms(2027, 1, 10, 12, 0, 0).unwrap(),
    })
}

fn prop<'a>(c: &'a Component<'a>, name: &str) -> &'a Property<'a> {
    c.find_prop(name)
        .unwrap_or_else(|| panic!("{} has no {name}", c.name.as_str()))
}

fn param<'a>(p: &'a Property<'a>, key: &str) -> Option<&'a str> {
    p.params
        .iter()
        .find(|x| x.key.as_str() == key)
        .and_then(|x| x.val.as_ref().map(|v| v.as_str()))
}

fn parse_offset(raw: &str) -> i64 {
    let sign = if raw.starts_with('-') { -1 } else { 1 };
    let h: i64 = raw[1..3].parse().unwrap();
    let m: i64 = raw[3..5].parse().unwrap();
    sign * (h * 3600 + m * 60)
}

/// The UTC instant of a `TZID` local time, resolved only with the
/// calendar's own VTIMEZONE (as a calendar client would).
fn resolve(vtimezone: &Component<'_>, local: &str) -> DateTime<Utc> {
    let local = NaiveDateTime::parse_from_str(local, "%Y%m%dT%H%M%S").unwrap();
    let mut best: Option<(NaiveDateTime, i64)> = None;
    for obs in &vtimezone.components {
        let start =
            NaiveDateTime::parse_from_str(prop(obs, "DTSTART").val.as_str(), "%Y%m%dT%H%M%S")
                .unwrap();
        let to = parse_offset(prop(obs, "TZOFFSETTO").val.as_str());
        if start <= local && best.is_none_or(|(s, _)| start > s) {
            best = Some((start, to));
        }
    }
    let (_, offset) = best.expect("an observance in force");
    Utc.from_utc_datetime(&(local - Duration::seconds(offset)))
}

struct Checked {
    sequence: String,
    dtstart_local: String,
}

fn check(text: &str, starts_at: DateTime<Utc>, zone: Tz, method: Method) -> Checked {
    assert!(text.contains("\r\n"), "lines end in CRLF");
    let unfolded = unfold(text);
    let calendar = read_calendar(&unfolded).expect("parses");
    let cal_prop = |name: &str| {
        calendar
            .properties
            .iter()
            .find(|p| p.name.as_str() == name)
            .map(|p| p.val.as_str().to_owned())
    };
    assert_eq!(cal_prop("METHOD").as_deref(), Some(method.as_str()));
    assert_eq!(cal_prop("VERSION").as_deref(), Some("2.0"));
    assert!(cal_prop("PRODID").is_some());

    let vtimezone = calendar
        .components
        .iter()
        .find(|c| c.name.as_str() == "VTIMEZONE")
        .expect("a VTIMEZONE");
    assert_eq!(prop(vtimezone, "TZID").val.as_str(), zone.name());
    let names = |c: &Component<'_>| -> Vec<String> {
        c.properties
            .iter()
            .map(|p| p.name.as_str().to_owned())
            .collect()
    };
    assert_eq!(
        names(vtimezone),
        ["TZID"],
        "no UID or DTSTAMP in a VTIMEZONE"
    );
    assert!(!vtimezone.components.is_empty());
    for obs in &vtimezone.components {
        assert!(matches!(obs.name.as_str(), "STANDARD" | "DAYLIGHT"));
        let mut props = names(obs);
        props.sort();
        assert_eq!(props, ["DTSTART", "TZNAME", "TZOFFSETFROM", "TZOFFSETTO"]);
    }
    let events: Vec<_> = calendar
        .components
        .iter()
        .filter(|c| c.name.as_str() == "VEVENT")
        .collect();
    assert_eq!(events.len(), 1);
    let event = events[0];

    assert_eq!(prop(event, "UID").val.as_str(), ics::uid(SESSION, PARTY));
    // Each time is local with the session's TZID, resolved by its VTIMEZONE,
    // or UTC (and then without TZID).
    let instant = |name: &str| {
        let p = prop(event, name);
        let raw = p.val.as_str();
        match raw.strip_suffix('Z') {
            Some(utc) => {
                assert_eq!(param(p, "TZID"), None, "{name}");
                Utc.from_utc_datetime(&NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S").unwrap())
            }
            None => {
                assert_eq!(param(p, "TZID"), Some(zone.name()), "{name}");
                resolve(vtimezone, raw)
            }
        }
    };
    let dtstart = prop(event, "DTSTART").val.as_str().to_owned();
    assert_eq!(instant("DTSTART"), starts_at, "DTSTART");
    assert_eq!(instant("DTEND"), starts_at + Duration::minutes(90), "DTEND");
    assert_eq!(
        dtstart,
        starts_at
            .with_timezone(&zone)
            .format("%Y%m%dT%H%M%S")
            .to_string()
    );

    let organizer = prop(event, "ORGANIZER");
    assert_eq!(organizer.val.as_str(), "mailto:mediation@acme.test");
    assert_eq!(param(organizer, "CN"), Some("Acme Mediation, Ltd"));
    let attendee = prop(event, "ATTENDEE");
    assert_eq!(attendee.val.as_str(), "mailto:pat@acme.test");
    assert_eq!(param(attendee, "PARTSTAT"), Some("NEEDS-ACTION"));
    assert_eq!(param(attendee, "CN"), Some("Pat Party"));

    assert_eq!(
        prop(event, "URL").val.as_str(),
        "https://accord.test/sessions/0190"
    );
    assert!(prop(event, "DESCRIPTION")
        .val
        .as_str()
        .contains("https://accord.test/sessions/0190"));
    assert_eq!(
        prop(event, "SUMMARY").val.as_str(),
        "Mediation session ACME-2027-001",
        "the summary names the case reference and nothing else"
    );
    assert_eq!(
        prop(event, "STATUS").val.as_str(),
        match method {
            Method::Request => "CONFIRMED",
            Method::Cancel => "CANCELLED",
        }
    );
    Checked {
        sequence: prop(event, "SEQUENCE").val.as_str().to_owned(),
        dtstart_local: dtstart,
    }
}

#[test]
fn an_invitation_moved_across_the_spring_change_keeps_its_uid_and_raises_its_sequence() {
    let london: Tz = "Europe/London".parse().unwrap();
    // 10:00 on Saturday 27 March 2027 is GMT; 10:00 on Monday 29 March is BST.
    let before = Utc.with_ymd_and_hms(2027, 3, 27, 10, 0, 0).unwrap();
    let after = Utc.with_ymd_and_hms(2027, 3, 29, 9, 0, 0).unwrap();

    let first = check(
        &invite(before, london, 0, Method::Request),
        before,
        london,
        Method::Request,
    );
    assert_eq!(first.sequence, "0");
    assert_eq!(first.dtstart_local, "20270327T100000");

    let moved = check(
        &invite(after, london, 1, Method::Request),
        after,
        london,
        Method::Request,
    );
    assert_eq!(moved.sequence, "1");
    assert_eq!(
        moved.dtstart_local, "20270329T100000",
        "10:00 BST is 09:00 UTC"
    );

    let cancelled = check(
        &invite(after, london, 2, Method::Cancel),
        after,
        london,
        Method::Cancel,
    );
    assert_eq!(cancelled.sequence, "2");
}

#[test]
fn a_session_spanning_the_autumn_change_in_new_york_resolves_both_ends() {
    let new_york: Tz = "America/New_York".parse().unwrap();
    // 00:45 EDT on 7 November 2027; the clocks go back at 02:00 EDT, so the
    // session ends at the second 01:15 (EST), which a local time cannot name:
    // RFC 5545 reads an ambiguous local time as its first occurrence (EDT).
    let start = Utc.with_ymd_and_hms(2027, 11, 7, 4, 45, 0).unwrap();
    let checked = check(
        &invite(start, new_york, 0, Method::Request),
        start,
        new_york,
        Method::Request,
    );
    assert_eq!(checked.dtstart_local, "20271107T004500");
    let text = invite(start, new_york, 0, Method::Request);
    assert!(
        text.contains("DTSTART;TZID=America/New_York:20271107T004500"),
        "{text}"
    );
    assert!(text.contains("DTEND:20271107T061500Z"), "{text}");
}

#[test]
fn a_zone_without_dst_has_one_observance() {
    let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
    let start = Utc.with_ymd_and_hms(2027, 6, 1, 1, 0, 0).unwrap();
    check(
        &invite(start, tokyo, 0, Method::Request),
        start,
        tokyo,
        Method::Request,
    );
    let text = invite(start, tokyo, 0, Method::Request);
    assert_eq!(text.matches("BEGIN:STANDARD").count(), 1);
    assert!(text.contains("TZOFFSETTO:+0900"));
}

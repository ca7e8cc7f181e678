//! Property tests of the common-slot finder against a brute-force checker
//! that walks the searched range minute by minute and asks each participant's
//! wall clock, and the org's, directly.
//!
//! Ranges are drawn around daylight-saving changes in several hemispheres,
//! and zones include half- and quarter-hour offsets and Lord Howe's
//! half-hour DST, so that every kind of gap and repeated hour is crossed.

use accord_domain::{
    common_slots, Availability, DayHours, IanaTimeZone, LocalWindow, SessionDuration, SlotSearch,
    WorkingHours,
};
use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use proptest::prelude::*;

const ZONES: &[&str] = &[
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/St_Johns",
    "America/Santiago",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
    "Pacific/Chatham",
    "Asia/Kolkata",
    "Asia/Kathmandu",
];

/// Instants near daylight-saving changes in 2026 (both directions, both
/// hemispheres).
const AROUND: &[&str] = &[
    "2026-03-08T07:00:00Z", // United States and Canada forward
    "2026-03-29T01:00:00Z", // Europe forward
    "2026-04-05T00:00:00Z", // Sydney, Lord Howe, Santiago, Auckland back
    "2026-09-06T04:00:00Z", // Santiago forward
    "2026-09-27T00:00:00Z", // Auckland and Chatham forward
    "2026-10-04T00:00:00Z", // Sydney and Lord Howe forward
    "2026-10-25T01:00:00Z", // Europe back
    "2026-11-01T06:00:00Z", // United States and Canada back
    "2026-06-15T12:00:00Z", // no change anywhere
];

fn zone() -> impl Strategy<Value = IanaTimeZone> {
    proptest::sample::select(ZONES).prop_map(|z| IanaTimeZone::parse(z).unwrap())
}

/// A search range of one to four days starting on a whole minute within two
/// days before a change.
fn range() -> impl Strategy<Value = (DateTime<Utc>, DateTime<Utc>)> {
    (
        proptest::sample::select(AROUND),
        0i64..(2 * 24 * 60),
        (24 * 60i64)..(4 * 24 * 60),
    )
        .prop_map(|(around, before, length)| {
            let around: DateTime<Utc> = around.parse().unwrap();
            let from = around - TimeDelta::minutes(before);
            (from, from + TimeDelta::minutes(length))
        })
}

/// Windows on the participant's clock, starting up to a day before the
/// range's start as read on that clock, non-overlapping by construction.
fn availability(from: DateTime<Utc>) -> impl Strategy<Value = Availability> {
    (
        zone(),
        proptest::collection::vec((0i64..(36 * 12), 3i64..(12 * 12)), 1..5),
    )
        .prop_map(move |(zone, gaps_and_lengths)| {
            let mut cursor = from.with_timezone(&zone.tz()).naive_local() - TimeDelta::hours(24);
            let mut windows = Vec::new();
            for (gap, length) in gaps_and_lengths {
                // Five-minute resolution: boundaries fall between grid points.
                let start = cursor + TimeDelta::minutes(gap * 5);
                let end = start + TimeDelta::minutes(length * 5);
                windows.push(LocalWindow::new(start, end).unwrap());
                cursor = end;
            }
            Availability::new(zone, windows).unwrap()
        })
}

fn working_hours() -> impl Strategy<Value = WorkingHours> {
    let day = proptest::option::weighted(
        0.8,
        (0u32..(24 * 4), 1u32..(24 * 4)).prop_map(|(start, length)| {
            let start_min = start * 15;
            let end_min = (start_min + length * 15).min(23 * 60 + 45);
            let end_min = end_min.max(start_min + 15).min(24 * 60 - 1);
            let t = |m: u32| NaiveTime::from_hms_opt(m / 60, m % 60, 0).unwrap();
            DayHours::new(t(start_min), t(end_min)).unwrap()
        }),
    );
    (zone(), proptest::array::uniform7(day)).prop_map(|(zone, days)| WorkingHours::new(zone, days))
}

#[derive(Debug)]
struct Case {
    participants: Vec<Availability>,
    hours: WorkingHours,
    search: SlotSearch,
}

fn case() -> impl Strategy<Value = Case> {
    range().prop_flat_map(|(from, to)| {
        (
            proptest::collection::vec(availability(from), 0..4),
            working_hours(),
            1i64..=16,
            1i64..=8,
        )
            .prop_map(move |(participants, hours, quarters, first)| Case {
                participants,
                hours,
                search: SlotSearch::new(
                    from,
                    to,
                    SessionDuration::from_minutes(quarters * 15).unwrap(),
                    15,
                    first,
                )
                .unwrap(),
            })
    })
}

/// Whether everyone is free and the org works at every minute of the range.
fn free_minutes(case: &Case) -> Vec<bool> {
    let minutes = (case.search.to() - case.search.from()).num_minutes();
    (0..minutes)
        .map(|m| {
            let t = case.search.from() + TimeDelta::minutes(m);
            case.hours.contains(t) && case.participants.iter().all(|p| p.is_free_at(t))
        })
        .collect()
}

/// The earliest common slots, found by trying every grid instant in turn.
fn brute_force(case: &Case) -> Vec<DateTime<Utc>> {
    let free = free_minutes(case);
    let length = case.search.duration().num_minutes();
    let mut slots = Vec::new();
    let mut t = case.search.grid_at_or_after(case.search.from());
    while t + case.search.duration() <= case.search.to() && slots.len() < case.search.first() {
        let offset = (t - case.search.from()).num_minutes();
        if (offset..offset + length).all(|m| free[m as usize]) {
            slots.push(t);
        }
        t += case.search.step();
    }
    slots
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Every proposed slot lies, minute by minute, inside every
    /// participant's windows on their own clock and inside working hours on
    /// the org's clock, within the searched range.
    #[test]
    fn every_slot_suits_everyone(case in case()) {
        let slots = common_slots(&case.participants, &case.hours, &case.search);
        prop_assert!(slots.len() <= case.search.first());
        prop_assert!(slots.windows(2).all(|w| w[0] < w[1]));
        for slot in &slots {
            prop_assert!(*slot >= case.search.from());
            prop_assert!(*slot + case.search.duration() <= case.search.to());
            prop_assert_eq!(slot.timestamp() % case.search.step().num_seconds(), 0);
            for m in 0..case.search.duration().num_minutes() {
                let t = *slot + TimeDelta::minutes(m);
                prop_assert!(case.hours.contains(t), "{} outside working hours", t);
                for p in &case.participants {
                    prop_assert!(p.is_free_at(t), "{} outside a window in {}", t, p.zone());
                }
            }
        }
    }

    /// No earlier common slot was missed: the finder's answer is exactly the
    /// first grid instants that the brute-force walk accepts.
    #[test]
    fn no_earlier_slot_is_missed(case in case()) {
        let slots = common_slots(&case.participants, &case.hours, &case.search);
        prop_assert_eq!(slots, brute_force(&case));
    }
}

/// The generated cases are not all empty: the properties above are about
/// something.
#[test]
fn generated_cases_often_have_slots() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut with_slots = 0;
    for _ in 0..200 {
        let case = case().new_tree(&mut runner).unwrap().current();
        if !common_slots(&case.participants, &case.hours, &case.search).is_empty() {
            with_slots += 1;
        }
    }
    assert!(
        with_slots >= 20,
        "only {with_slots} of 200 cases had a slot"
    );
}

//! Availability and the common slot: when can everyone on a case meet?
//!
//! Each participant says when they are free as windows of *their own* wall
//! clock (`Tuesday 09:00–12:00` in `America/New_York`), and the org says when
//! sessions may happen at all as weekday hours in *its* zone. [`common_slots`]
//! turns all of that into the earliest instants at which a session of a given
//! length fits everyone.
//!
//! The rule, stated once and used by both the finder and its tests: an
//! instant is free for a participant when the clock on their wall reads a
//! time inside one of their windows, and inside working hours when the org's
//! clock reads a time inside that weekday's hours. A slot is common when every
//! instant of it is free for everyone and inside working hours. Daylight
//! saving follows from that rule without special cases: wall-clock times that
//! a spring-forward gap skips are never on anyone's wall, and an hour that an
//! autumn fall-back repeats is free both times it is on the wall.
//!
//! Internally every wall-clock window becomes a set of UTC intervals, using
//! the zone's offsets over the searched range; the sets are intersected and
//! the earliest slots are read off the step grid (multiples of the step since
//! the Unix epoch, so a 15-minute step proposes :00, :15, :30 and :45).

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone,
    Timelike, Utc, Weekday,
};
use chrono_tz::Tz;

use crate::session::SessionDuration;
use crate::values::{IanaTimeZone, ValidationError};

/// One window of availability on a participant's own wall clock, from
/// `start` (inclusive) to `end` (exclusive), on whole minutes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalWindow {
    start: NaiveDateTime,
    end: NaiveDateTime,
}

impl LocalWindow {
    /// The longest window accepted: a week. Longer ones are a mistake in
    /// the picker rather than a real offer.
    pub const MAX_LENGTH: TimeDelta = TimeDelta::days(7);

    /// Validates a window: `end` after `start`, both on whole minutes, at
    /// most [`MAX_LENGTH`](Self::MAX_LENGTH) long.
    pub fn new(start: NaiveDateTime, end: NaiveDateTime) -> Result<Self, ValidationError> {
        const FIELD: &str = "windows";
        if end <= start {
            return Err(ValidationError::new(
                FIELD,
                "must each end after they start",
            ));
        }
        if !on_whole_minute(start.time()) || !on_whole_minute(end.time()) {
            return Err(ValidationError::new(
                FIELD,
                "must start and end on whole minutes",
            ));
        }
        if end - start > Self::MAX_LENGTH {
            return Err(ValidationError::new(
                FIELD,
                "must each be at most 7 days long",
            ));
        }
        Ok(Self { start, end })
    }

    /// Where the window starts, on the participant's wall clock.
    pub fn start(&self) -> NaiveDateTime {
        self.start
    }

    /// Where the window ends (exclusive), on the participant's wall clock.
    pub fn end(&self) -> NaiveDateTime {
        self.end
    }

    /// Whether the wall-clock time `local` lies in the window.
    pub fn contains(&self, local: NaiveDateTime) -> bool {
        self.start <= local && local < self.end
    }
}

/// A participant's windows, in their zone: sorted and not overlapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Availability {
    zone: IanaTimeZone,
    windows: Vec<LocalWindow>,
}

impl Availability {
    /// The most windows one participant may give for one case.
    pub const MAX_WINDOWS: usize = 200;

    /// Validates a set of windows: at most [`MAX_WINDOWS`](Self::MAX_WINDOWS),
    /// none overlapping another (touching is fine). The windows are sorted.
    pub fn new(zone: IanaTimeZone, mut windows: Vec<LocalWindow>) -> Result<Self, ValidationError> {
        if windows.len() > Self::MAX_WINDOWS {
            return Err(ValidationError::new(
                "windows",
                format!("must be at most {} windows", Self::MAX_WINDOWS),
            ));
        }
        windows.sort();
        if windows.windows(2).any(|pair| pair[1].start < pair[0].end) {
            return Err(ValidationError::new("windows", "must not overlap"));
        }
        Ok(Self { zone, windows })
    }

    /// The zone the windows are on.
    pub fn zone(&self) -> &IanaTimeZone {
        &self.zone
    }

    /// The windows, earliest first.
    pub fn windows(&self) -> &[LocalWindow] {
        &self.windows
    }

    /// Whether the participant is free at `instant` (see the module docs).
    pub fn is_free_at(&self, instant: DateTime<Utc>) -> bool {
        let local = instant.with_timezone(&self.zone.tz()).naive_local();
        self.windows.iter().any(|w| w.contains(local))
    }
}

/// Opening hours of one weekday, from `start` (inclusive) to `end`
/// (exclusive), on whole minutes, within the day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DayHours {
    start: NaiveTime,
    end: NaiveTime,
}

impl DayHours {
    /// Validates a day's hours: `end` after `start`, both on whole minutes.
    pub fn new(start: NaiveTime, end: NaiveTime) -> Result<Self, ValidationError> {
        if end <= start {
            return Err(ValidationError::new(
                "days",
                "must each end after they start",
            ));
        }
        if !on_whole_minute(start) || !on_whole_minute(end) {
            return Err(ValidationError::new(
                "days",
                "must start and end on whole minutes",
            ));
        }
        Ok(Self { start, end })
    }

    /// When the day's hours start.
    pub fn start(&self) -> NaiveTime {
        self.start
    }

    /// When the day's hours end (exclusive).
    pub fn end(&self) -> NaiveTime {
        self.end
    }
}

/// When an org holds sessions: hours per weekday on the org's clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkingHours {
    zone: IanaTimeZone,
    /// Monday first; `None` for a day without sessions.
    days: [Option<DayHours>; 7],
}

impl WorkingHours {
    /// Working hours in `zone`, Monday first.
    pub fn new(zone: IanaTimeZone, days: [Option<DayHours>; 7]) -> Self {
        Self { zone, days }
    }

    /// Monday to Friday, 09:00 to 17:00, in `zone`: what an org has until
    /// it says otherwise.
    pub fn office_hours(zone: IanaTimeZone) -> Self {
        let day = DayHours {
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or(NaiveTime::MIN),
            end: NaiveTime::from_hms_opt(17, 0, 0).unwrap_or(NaiveTime::MIN),
        };
        let mut days = [None; 7];
        for d in days.iter_mut().take(5) {
            *d = Some(day);
        }
        Self { zone, days }
    }

    /// The zone of the hours.
    pub fn zone(&self) -> &IanaTimeZone {
        &self.zone
    }

    /// The hours of `day`, if sessions are held that day.
    pub fn day(&self, day: Weekday) -> Option<DayHours> {
        self.days[day.num_days_from_monday() as usize]
    }

    /// Whether `instant` is inside working hours (see the module docs).
    pub fn contains(&self, instant: DateTime<Utc>) -> bool {
        let local = instant.with_timezone(&self.zone.tz()).naive_local();
        self.day(local.weekday())
            .is_some_and(|h| h.start <= local.time() && local.time() < h.end)
    }
}

/// What to look for: slots of `duration` starting on the step grid, lying
/// wholly within `from..to`, the first `first` of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotSearch {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    duration: SessionDuration,
    step: TimeDelta,
    first: usize,
}

impl SlotSearch {
    /// The longest range searched at once.
    pub const MAX_RANGE: TimeDelta = TimeDelta::days(92);
    /// The most slots proposed at once.
    pub const MAX_FIRST: usize = 50;

    /// Validates a search: `from` before `to`, at most
    /// [`MAX_RANGE`](Self::MAX_RANGE) apart; a step of 1 to 60 minutes that
    /// divides a day; 1 to [`MAX_FIRST`](Self::MAX_FIRST) slots.
    pub fn new(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        duration: SessionDuration,
        step_minutes: u32,
        first: i64,
    ) -> Result<Self, ValidationError> {
        if to <= from {
            return Err(ValidationError::new("to", "must be after from"));
        }
        if to - from > Self::MAX_RANGE {
            return Err(ValidationError::new(
                "to",
                "must be at most 92 days after from",
            ));
        }
        if !(1..=60).contains(&step_minutes) || 1440 % step_minutes != 0 {
            return Err(ValidationError::new(
                "step",
                "must be 1 to 60 minutes and divide a day",
            ));
        }
        let first = usize::try_from(first)
            .ok()
            .filter(|n| (1..=Self::MAX_FIRST).contains(n))
            .ok_or_else(|| {
                ValidationError::new(
                    "first",
                    format!("must be between 1 and {}", Self::MAX_FIRST),
                )
            })?;
        Ok(Self {
            from,
            to,
            duration,
            step: TimeDelta::minutes(i64::from(step_minutes)),
            first,
        })
    }

    /// Where the search starts.
    pub fn from(&self) -> DateTime<Utc> {
        self.from
    }

    /// Where the search ends: no slot ends after it.
    pub fn to(&self) -> DateTime<Utc> {
        self.to
    }

    /// The length of a slot.
    pub fn duration(&self) -> TimeDelta {
        TimeDelta::minutes(i64::from(self.duration.minutes()))
    }

    /// The grid step.
    pub fn step(&self) -> TimeDelta {
        self.step
    }

    /// How many slots are wanted.
    pub fn first(&self) -> usize {
        self.first
    }

    /// The first grid instant at or after `t`.
    pub fn grid_at_or_after(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let step = self.step.num_seconds();
        let secs = t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0);
        let rounded = secs.div_euclid(step) * step;
        let rounded = if rounded < secs {
            rounded + step
        } else {
            rounded
        };
        DateTime::from_timestamp(rounded, 0).unwrap_or(t)
    }
}

/// The earliest slots of `search` common to every participant and inside
/// the org's working hours, earliest first. With no participants, working
/// hours alone decide; a participant without windows has no common slot.
pub fn common_slots(
    participants: &[Availability],
    hours: &WorkingHours,
    search: &SlotSearch,
) -> Vec<DateTime<Utc>> {
    let range = Interval {
        start: search.from,
        end: search.to,
    };
    let mut common = working_hour_intervals(hours, range);
    for participant in participants {
        let pieces = offset_pieces(participant.zone.tz(), range);
        let mut free: Vec<Interval> = participant
            .windows
            .iter()
            .flat_map(|w| local_to_utc(&pieces, w.start, w.end))
            .collect();
        normalize(&mut free);
        common = intersect(&common, &free);
        if common.is_empty() {
            break;
        }
    }

    let length = search.duration();
    let mut slots = Vec::new();
    for interval in common {
        let mut t = search.grid_at_or_after(interval.start);
        while t + length <= interval.end && slots.len() < search.first {
            slots.push(t);
            t += search.step;
        }
        if slots.len() == search.first {
            break;
        }
    }
    slots
}

/// A half-open interval of instants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Interval {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// A stretch of time over which a zone's offset from UTC stays the same.
#[derive(Clone, Copy, Debug)]
struct OffsetPiece {
    span: Interval,
    /// Local minus UTC.
    offset: TimeDelta,
}

fn offset_at(tz: Tz, t: DateTime<Utc>) -> TimeDelta {
    TimeDelta::seconds(i64::from(
        tz.offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc(),
    ))
}

/// Splits `range` into stretches of constant offset in `tz`. Offsets are
/// sampled hourly and each change is found to the second by bisection: time
/// zones do not change twice within an hour.
fn offset_pieces(tz: Tz, range: Interval) -> Vec<OffsetPiece> {
    const SAMPLE: TimeDelta = TimeDelta::hours(1);
    let mut pieces = Vec::new();
    let mut piece_start = range.start;
    let mut offset = offset_at(tz, range.start);
    let mut a = range.start;
    while a < range.end {
        let b = (a + SAMPLE).min(range.end);
        let offset_b = offset_at(tz, b);
        if offset_b != offset {
            // The change lies in (a, b]: find its first second. Halving in
            // whole seconds keeps `hi` on a whole second (zones change on
            // one), so the piece does not begin a fraction past the change.
            let (mut lo, mut hi) = (a, b);
            while hi - lo > TimeDelta::seconds(1) {
                let mid = lo + TimeDelta::seconds((hi - lo).num_seconds() / 2);
                if offset_at(tz, mid) == offset {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            pieces.push(OffsetPiece {
                span: Interval {
                    start: piece_start,
                    end: hi,
                },
                offset,
            });
            piece_start = hi;
            offset = offset_at(tz, hi);
        }
        a = b;
    }
    pieces.push(OffsetPiece {
        span: Interval {
            start: piece_start,
            end: range.end,
        },
        offset,
    });
    pieces
}

/// The instants within the pieces at which the zone's wall clock reads a
/// time in `start..end`. Within a piece the wall clock runs at UTC plus the
/// piece's offset, so each piece contributes at most one interval.
fn local_to_utc(
    pieces: &[OffsetPiece],
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> impl Iterator<Item = Interval> + '_ {
    pieces.iter().filter_map(move |piece| {
        let s = (start - piece.offset).and_utc().max(piece.span.start);
        let e = (end - piece.offset).and_utc().min(piece.span.end);
        (s < e).then_some(Interval { start: s, end: e })
    })
}

fn working_hour_intervals(hours: &WorkingHours, range: Interval) -> Vec<Interval> {
    let tz = hours.zone.tz();
    let pieces = offset_pieces(tz, range);
    // Every local date whose hours could touch the range, with a day to
    // spare on each side for the largest offsets.
    let first: NaiveDate = range.start.date_naive() - Duration::days(2);
    let last: NaiveDate = range.end.date_naive() + Duration::days(2);
    let mut out = Vec::new();
    for date in first.iter_days().take_while(|d| *d <= last) {
        if let Some(day) = hours.day(date.weekday()) {
            out.extend(local_to_utc(
                &pieces,
                date.and_time(day.start),
                date.and_time(day.end),
            ));
        }
    }
    normalize(&mut out);
    out
}

/// Sorts intervals and merges those that overlap or touch.
fn normalize(intervals: &mut Vec<Interval>) {
    intervals.sort_by_key(|i| i.start);
    let mut merged: Vec<Interval> = Vec::with_capacity(intervals.len());
    for i in intervals.drain(..) {
        match merged.last_mut() {
            Some(last) if i.start <= last.end => last.end = last.end.max(i.end),
            _ => merged.push(i),
        }
    }
    *intervals = merged;
}

/// The intersection of two normalized interval lists.
fn intersect(a: &[Interval], b: &[Interval]) -> Vec<Interval> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let start = a[i].start.max(b[j].start);
        let end = a[i].end.min(b[j].end);
        if start < end {
            out.push(Interval { start, end });
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

fn on_whole_minute(t: NaiveTime) -> bool {
    t.second() == 0 && t.nanosecond() == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> IanaTimeZone {
        IanaTimeZone::parse(name).unwrap()
    }

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        at(s).and_utc()
    }

    fn window(a: &str, b: &str) -> LocalWindow {
        LocalWindow::new(at(a), at(b)).unwrap()
    }

    fn every_day(zone_name: &str) -> WorkingHours {
        let all = DayHours::new(NaiveTime::MIN, NaiveTime::from_hms_opt(23, 59, 0).unwrap());
        WorkingHours::new(zone(zone_name), [Some(all.unwrap()); 7])
    }

    fn search(from: &str, to: &str, minutes: i64, first: i64) -> SlotSearch {
        SlotSearch::new(
            utc(from),
            utc(to),
            SessionDuration::from_minutes(minutes).unwrap(),
            15,
            first,
        )
        .unwrap()
    }

    #[test]
    fn two_zones_meet_where_their_windows_overlap() {
        // London 14:00-18:00 is New York 09:00-13:00 in January.
        let london = Availability::new(
            zone("Europe/London"),
            vec![window("2026-01-13 14:00", "2026-01-13 18:00")],
        )
        .unwrap();
        let new_york = Availability::new(
            zone("America/New_York"),
            vec![window("2026-01-13 11:30", "2026-01-13 17:00")],
        )
        .unwrap();
        let hours = WorkingHours::office_hours(zone("Europe/London"));
        let slots = common_slots(
            &[london, new_york],
            &hours,
            &search("2026-01-12 00:00", "2026-01-20 00:00", 60, 3),
        );
        // New York 11:30 = 16:30 UTC; London office hours end at 17:00 UTC.
        assert!(slots.is_empty(), "{slots:?}");

        let hours = every_day("Europe/London");
        let london = Availability::new(
            zone("Europe/London"),
            vec![window("2026-01-13 14:00", "2026-01-13 18:00")],
        )
        .unwrap();
        let new_york = Availability::new(
            zone("America/New_York"),
            vec![window("2026-01-13 11:30", "2026-01-13 17:00")],
        )
        .unwrap();
        let slots = common_slots(
            &[london, new_york],
            &hours,
            &search("2026-01-12 00:00", "2026-01-20 00:00", 60, 3),
        );
        assert_eq!(
            slots,
            vec![
                utc("2026-01-13 16:30"),
                utc("2026-01-13 16:45"),
                utc("2026-01-13 17:00")
            ]
        );
    }

    #[test]
    fn a_window_across_spring_forward_is_an_hour_shorter() {
        // Europe/Berlin jumps from 02:00 to 03:00 on 2026-03-29.
        let p = Availability::new(
            zone("Europe/Berlin"),
            vec![window("2026-03-29 01:00", "2026-03-29 04:00")],
        )
        .unwrap();
        let slots = common_slots(
            &[p],
            &every_day("UTC"),
            &search("2026-03-28 00:00", "2026-03-30 00:00", 120, 10),
        );
        // 01:00 CET = 00:00 UTC, 04:00 CEST = 02:00 UTC: exactly one 2-hour slot.
        assert_eq!(slots, vec![utc("2026-03-29 00:00")]);
    }

    #[test]
    fn a_zone_change_between_hourly_samples_is_found_to_the_second() {
        // Europe/London jumps from 01:00 GMT to 02:00 BST on 2026-03-29; a
        // search starting at :10 samples the offset at 00:10 and 01:10 UTC,
        // and the change found between them must be 01:00:00 exactly.
        let p = Availability::new(
            zone("Europe/London"),
            vec![window("2026-03-29 01:05", "2026-03-29 02:30")],
        )
        .unwrap();
        let slots = common_slots(
            &[p],
            &every_day("UTC"),
            &search("2026-03-28 12:10", "2026-03-31 19:32", 15, 1),
        );
        // Wall clock 02:00 BST (01:00 UTC) is the first free instant.
        assert_eq!(slots, vec![utc("2026-03-29 01:00")]);
    }

    #[test]
    fn the_repeated_hour_of_fall_back_is_free_both_times() {
        // America/New_York repeats 01:00-02:00 on 2026-11-01.
        let p = Availability::new(
            zone("America/New_York"),
            vec![window("2026-11-01 01:00", "2026-11-01 02:00")],
        )
        .unwrap();
        let slots = common_slots(
            &[p],
            &every_day("UTC"),
            &search("2026-10-31 00:00", "2026-11-03 00:00", 120, 10),
        );
        // 01:00 EDT = 05:00 UTC to 02:00 EST = 07:00 UTC: one hour on the
        // wall, two hours of real time, one 2-hour slot.
        assert_eq!(slots, vec![utc("2026-11-01 05:00")]);
    }

    #[test]
    fn windows_are_validated() {
        assert!(LocalWindow::new(at("2026-01-01 10:00"), at("2026-01-01 10:00")).is_err());
        assert!(LocalWindow::new(at("2026-01-01 10:00"), at("2026-01-01 09:00")).is_err());
        assert!(LocalWindow::new(at("2026-01-01 10:00"), at("2026-01-09 10:00")).is_err());
        let overlapping = vec![
            window("2026-01-01 10:00", "2026-01-01 12:00"),
            window("2026-01-01 11:00", "2026-01-01 13:00"),
        ];
        assert!(Availability::new(zone("UTC"), overlapping).is_err());
        let touching = vec![
            window("2026-01-01 12:00", "2026-01-01 13:00"),
            window("2026-01-01 10:00", "2026-01-01 12:00"),
        ];
        let a = Availability::new(zone("UTC"), touching).unwrap();
        assert_eq!(a.windows()[0].start(), at("2026-01-01 10:00"));
    }

    #[test]
    fn searches_are_validated() {
        let d = SessionDuration::from_minutes(60).unwrap();
        let (a, b) = (utc("2026-01-01 00:00"), utc("2026-01-02 00:00"));
        assert!(SlotSearch::new(b, a, d, 15, 5).is_err());
        assert!(SlotSearch::new(a, a + TimeDelta::days(93), d, 15, 5).is_err());
        assert!(SlotSearch::new(a, b, d, 7, 5).is_err());
        assert!(SlotSearch::new(a, b, d, 15, 0).is_err());
        assert!(SlotSearch::new(a, b, d, 15, 51).is_err());
        assert!(SlotSearch::new(a, b, d, 15, 5).is_ok());
    }
}

//! Mediation sessions: when they happen and what became of them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::case::TransitionError;
use crate::values::{parse_one_of, IanaTimeZone, ValidationError};

/// What became of a session.
///
/// Rescheduling is not a status: a scheduled session simply gets a new
/// [`Schedule`] and stays scheduled. Cancelled and completed sessions are
/// history and do not change again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Planned and not yet held.
    Scheduled,
    /// Called off before it was held.
    Cancelled,
    /// Held.
    Completed,
}

impl SessionStatus {
    /// Every status, in declaration order.
    pub const ALL: [SessionStatus; 3] = [
        SessionStatus::Scheduled,
        SessionStatus::Cancelled,
        SessionStatus::Completed,
    ];

    /// The stable wire and storage name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Scheduled => "scheduled",
            SessionStatus::Cancelled => "cancelled",
            SessionStatus::Completed => "completed",
        }
    }

    /// Whether a session in this status may move to `next`. Staying in the
    /// same status is not a move.
    pub fn can_transition_to(self, next: SessionStatus) -> bool {
        use SessionStatus::{Cancelled, Completed, Scheduled};
        matches!(
            (self, next),
            (Scheduled, Cancelled) | (Scheduled, Completed)
        )
    }

    /// Moves to `next`, or explains why that is not allowed.
    pub fn transition(self, next: SessionStatus) -> Result<SessionStatus, TransitionError> {
        if self.can_transition_to(next) {
            Ok(next)
        } else {
            Err(TransitionError {
                from: self.as_str(),
                to: next.as_str(),
            })
        }
    }
}

impl fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SessionStatus {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_one_of("status", s, &SessionStatus::ALL, SessionStatus::as_str)
    }
}

/// How long a session is booked for, in whole minutes.
///
/// Bounded to between a quarter of an hour and a long working day (12 hours);
/// anything outside that is a typing mistake rather than a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionDuration(u32);

impl SessionDuration {
    /// The shortest bookable session, in minutes.
    pub const MIN_MINUTES: u32 = 15;
    /// The longest bookable session, in minutes.
    pub const MAX_MINUTES: u32 = 720;

    /// Validates a duration in minutes. Takes an `i64` so that negative or
    /// absurd client input is reported as a validation error rather than
    /// failing earlier in a numeric conversion.
    pub fn from_minutes(minutes: i64) -> Result<Self, ValidationError> {
        match u32::try_from(minutes) {
            Ok(m) if (Self::MIN_MINUTES..=Self::MAX_MINUTES).contains(&m) => Ok(Self(m)),
            _ => Err(ValidationError::new(
                "durationMinutes",
                format!(
                    "must be between {} and {} minutes",
                    Self::MIN_MINUTES,
                    Self::MAX_MINUTES
                ),
            )),
        }
    }

    /// The duration in minutes.
    pub fn minutes(self) -> u32 {
        self.0
    }

    fn as_time_delta(self) -> TimeDelta {
        TimeDelta::minutes(i64::from(self.0))
    }
}

impl Serialize for SessionDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for SessionDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let minutes = i64::deserialize(deserializer)?;
        Self::from_minutes(minutes).map_err(serde::de::Error::custom)
    }
}

/// When a session takes place.
///
/// The start is an instant in UTC, so it means the same moment to everyone
/// however their clocks change; the time zone is kept alongside to present
/// that instant as the organiser meant it ("10:00 in London"), including on
/// the far side of a daylight-saving change.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Schedule {
    starts_at: DateTime<Utc>,
    time_zone: IanaTimeZone,
    duration: SessionDuration,
}

impl Schedule {
    /// Builds a schedule. Whether the start is acceptable depends on the
    /// moment of asking; see [`ensure_future`](Self::ensure_future).
    pub fn new(
        starts_at: DateTime<Utc>,
        time_zone: IanaTimeZone,
        duration: SessionDuration,
    ) -> Self {
        Self {
            starts_at,
            time_zone,
            duration,
        }
    }

    /// The instant the session starts.
    pub fn starts_at(&self) -> DateTime<Utc> {
        self.starts_at
    }

    /// The instant the session ends: the start plus the duration in elapsed
    /// time, so a session spanning a clock change still lasts as booked.
    pub fn ends_at(&self) -> DateTime<Utc> {
        // Saturating rather than panicking: only a start at the very end of
        // chrono's representable range could overflow, and no real schedule
        // lives there.
        self.starts_at
            .checked_add_signed(self.duration.as_time_delta())
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The zone the session is presented in.
    pub fn time_zone(&self) -> &IanaTimeZone {
        &self.time_zone
    }

    /// How long the session is booked for.
    pub fn duration(&self) -> SessionDuration {
        self.duration
    }

    /// The start as wall-clock time in the session's zone.
    pub fn local_start(&self) -> DateTime<Tz> {
        self.starts_at.with_timezone(&self.time_zone.tz())
    }

    /// The end as wall-clock time in the session's zone.
    pub fn local_end(&self) -> DateTime<Tz> {
        self.ends_at().with_timezone(&self.time_zone.tz())
    }

    /// A schedule that starts in the past (relative to `now`) is refused for
    /// new and rescheduled sessions.
    ///
    /// Starting exactly at `now` is accepted. `now` is passed in rather than
    /// read from the clock so that the rule is testable and callers decide
    /// which clock is authoritative.
    pub fn ensure_future(&self, now: DateTime<Utc>) -> Result<(), ValidationError> {
        if self.starts_at < now {
            Err(ValidationError::new("startsAt", "must not be in the past"))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::assert_all_lists_every_variant;

    fn utc(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn schedule(starts_at: &str, zone: &str, minutes: i64) -> Schedule {
        Schedule::new(
            utc(starts_at),
            IanaTimeZone::parse(zone).unwrap(),
            SessionDuration::from_minutes(minutes).unwrap(),
        )
    }

    #[test]
    fn all_lists_every_status_once() {
        assert_all_lists_every_variant!(
            SessionStatus,
            [
                SessionStatus::Scheduled,
                SessionStatus::Cancelled,
                SessionStatus::Completed,
            ]
        );
    }

    #[test]
    fn every_pair_of_statuses_follows_the_lifecycle() {
        const ALLOWED: [(&str, &str); 2] = [("scheduled", "cancelled"), ("scheduled", "completed")];
        let mut allowed_seen = 0;
        for from in SessionStatus::ALL {
            for to in SessionStatus::ALL {
                let expected = ALLOWED.contains(&(from.as_str(), to.as_str()));
                assert_eq!(from.can_transition_to(to), expected, "{from} -> {to}");
                match from.transition(to) {
                    Ok(next) => {
                        assert!(expected, "{from} -> {to} should be refused");
                        assert_eq!(next, to);
                        allowed_seen += 1;
                    }
                    Err(err) => {
                        assert!(!expected, "{from} -> {to} should be allowed");
                        assert_eq!(
                            err,
                            TransitionError {
                                from: from.as_str(),
                                to: to.as_str()
                            }
                        );
                    }
                }
            }
        }
        assert_eq!(allowed_seen, ALLOWED.len());
        assert_eq!(
            SessionStatus::Cancelled
                .transition(SessionStatus::Scheduled)
                .unwrap_err()
                .to_string(),
            "cannot move from cancelled to scheduled"
        );
    }

    #[test]
    fn status_names_round_trip() {
        let expected = [
            (SessionStatus::Scheduled, "scheduled"),
            (SessionStatus::Cancelled, "cancelled"),
            (SessionStatus::Completed, "completed"),
        ];
        for (status, name) in expected {
            assert_eq!(status.as_str(), name);
            assert_eq!(status.to_string(), name);
            assert_eq!(name.parse::<SessionStatus>(), Ok(status));
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{name}\"")
            );
        }
        assert_eq!("done".parse::<SessionStatus>().unwrap_err().field, "status");
    }

    #[test]
    fn duration_bounds() {
        assert_eq!(SessionDuration::from_minutes(15).unwrap().minutes(), 15);
        assert_eq!(SessionDuration::from_minutes(90).unwrap().minutes(), 90);
        assert_eq!(SessionDuration::from_minutes(720).unwrap().minutes(), 720);
        for minutes in [
            i64::MIN,
            -30,
            0,
            14,
            721,
            i64::from(u32::MAX) + 15,
            i64::MAX,
        ] {
            let err = SessionDuration::from_minutes(minutes).unwrap_err();
            assert_eq!(err.field, "durationMinutes", "{minutes}");
            assert_eq!(err.message, "must be between 15 and 720 minutes");
        }
    }

    #[test]
    fn duration_serde_goes_through_validation() {
        let duration: SessionDuration = serde_json::from_str("60").unwrap();
        assert_eq!(duration.minutes(), 60);
        assert_eq!(serde_json::to_string(&duration).unwrap(), "60");
        assert!(serde_json::from_str::<SessionDuration>("5").is_err());
        assert!(serde_json::from_str::<SessionDuration>("-60").is_err());
        assert!(serde_json::from_str::<SessionDuration>("\"60\"").is_err());
    }

    #[test]
    fn accessors_and_end_time() {
        let s = schedule("2026-06-01T09:00:00Z", "Europe/Paris", 90);
        assert_eq!(s.starts_at(), utc("2026-06-01T09:00:00Z"));
        assert_eq!(s.ends_at(), utc("2026-06-01T10:30:00Z"));
        assert_eq!(s.time_zone().as_str(), "Europe/Paris");
        assert_eq!(s.duration().minutes(), 90);
        assert_eq!(s.local_start().to_rfc3339(), "2026-06-01T11:00:00+02:00");
        assert_eq!(s.local_end().to_rfc3339(), "2026-06-01T12:30:00+02:00");
    }

    #[test]
    fn london_local_time_follows_daylight_saving() {
        // In 2026 British Summer Time starts at 01:00 UTC on 29 March and
        // ends at 01:00 UTC on 25 October.
        let winter = schedule("2026-03-28T09:00:00Z", "Europe/London", 60);
        assert_eq!(
            winter.local_start().to_rfc3339(),
            "2026-03-28T09:00:00+00:00"
        );
        let summer = schedule("2026-03-30T09:00:00Z", "Europe/London", 60);
        assert_eq!(
            summer.local_start().to_rfc3339(),
            "2026-03-30T10:00:00+01:00"
        );
        let winter_again = schedule("2026-10-26T09:00:00Z", "Europe/London", 60);
        assert_eq!(
            winter_again.local_start().to_rfc3339(),
            "2026-10-26T09:00:00+00:00"
        );
    }

    #[test]
    fn a_session_spanning_the_spring_change_lasts_as_booked() {
        // Starts at 00:30 GMT; the clocks jump from 01:00 to 02:00 during it.
        let s = schedule("2026-03-29T00:30:00Z", "Europe/London", 60);
        assert_eq!(s.local_start().to_rfc3339(), "2026-03-29T00:30:00+00:00");
        assert_eq!(s.ends_at(), utc("2026-03-29T01:30:00Z"));
        assert_eq!(s.local_end().to_rfc3339(), "2026-03-29T02:30:00+01:00");
        assert_eq!(s.ends_at() - s.starts_at(), TimeDelta::minutes(60));
    }

    #[test]
    fn the_repeated_autumn_hour_stays_unambiguous() {
        // 01:30 happens twice in London on 25 October 2026; storing UTC keeps
        // the two sessions distinct even though their wall-clock start reads
        // the same.
        let first = schedule("2026-10-25T00:30:00Z", "Europe/London", 30);
        let second = schedule("2026-10-25T01:30:00Z", "Europe/London", 30);
        assert_eq!(
            first.local_start().to_rfc3339(),
            "2026-10-25T01:30:00+01:00"
        );
        assert_eq!(
            second.local_start().to_rfc3339(),
            "2026-10-25T01:30:00+00:00"
        );
        assert_eq!(
            first.local_start().naive_local(),
            second.local_start().naive_local()
        );
        assert_ne!(first.starts_at(), second.starts_at());
    }

    #[test]
    fn ensure_future_refuses_past_starts() {
        let now = utc("2026-05-01T12:00:00Z");
        let past = schedule("2026-05-01T11:59:59Z", "UTC", 60);
        let err = past.ensure_future(now).unwrap_err();
        assert_eq!(err.field, "startsAt");
        assert!(schedule("2026-05-01T12:00:00Z", "UTC", 60)
            .ensure_future(now)
            .is_ok());
        assert!(schedule("2026-05-01T12:00:01Z", "UTC", 60)
            .ensure_future(now)
            .is_ok());
        // Judged on the instant, not on the wall clock in the session's zone.
        assert!(schedule("2026-05-01T11:30:00Z", "Asia/Tokyo", 60)
            .ensure_future(now)
            .is_err());
    }

    #[test]
    fn end_time_saturates_instead_of_panicking() {
        let s = Schedule::new(
            DateTime::<Utc>::MAX_UTC,
            IanaTimeZone::parse("UTC").unwrap(),
            SessionDuration::from_minutes(60).unwrap(),
        );
        assert_eq!(s.ends_at(), DateTime::<Utc>::MAX_UTC);
    }
}

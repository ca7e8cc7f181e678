//! Calendar invitations (iCalendar, RFC 5545; scheduling methods, RFC 5546).
//!
//! Each participant gets their own event: the UID is stable per session and
//! participant, so a calendar that received the invitation applies a later
//! `REQUEST` with a higher `SEQUENCE` as a move and a `CANCEL` as a removal.
//! Times carry the session's `TZID` with a `VTIMEZONE` that lists the zone's
//! offsets around the session (one-off observances, no rules: they are exact
//! for the dates that matter and cannot disagree with the tz database).
//! The summary names the case reference only: calendars are widely shared
//! and synchronised, mediation content does not belong in them.

use chrono::{DateTime, Duration, NaiveDateTime, Offset as _, TimeZone as _, Utc};
use chrono_tz::{OffsetComponents as _, Tz};
use icalendar::{Calendar, Component as _, Event, EventLike as _, EventStatus, Property};

/// What the calendar message asks of the recipient's calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Add or update the event.
    Request,
    /// Remove the event.
    Cancel,
}

impl Method {
    /// The iTIP method name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Request => "REQUEST",
            Method::Cancel => "CANCEL",
        }
    }
}

/// A person in the invitation.
#[derive(Debug, Clone)]
pub struct Person<'a> {
    /// Display name (`CN`).
    pub name: &'a str,
    /// Mail address.
    pub email: &'a str,
}

/// One participant's calendar entry for one session.
#[derive(Debug, Clone)]
pub struct SessionInvite<'a> {
    /// The session.
    pub session_id: uuid::Uuid,
    /// The participant (party id), part of the UID.
    pub participant_id: uuid::Uuid,
    /// Raised on every change of the session's time and on cancellation.
    pub sequence: u32,
    /// Request or cancel.
    pub method: Method,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: DateTime<Utc>,
    /// The zone the session was scheduled in, used for `TZID`.
    pub time_zone: Tz,
    /// The case reference, the only case detail in the entry.
    pub case_reference: &'a str,
    /// The org as organizer (its sending address).
    pub organizer: Person<'a>,
    /// The recipient.
    pub attendee: Person<'a>,
    /// Where to join.
    pub join_url: &'a str,
    /// When the entry was made (`DTSTAMP`).
    pub stamp: DateTime<Utc>,
}

/// The UID of a participant's entry for a session.
pub fn uid(session_id: uuid::Uuid, participant_id: uuid::Uuid) -> String {
    format!("session-{session_id}-participant-{participant_id}@accord")
}

/// The iCalendar text for `invite`.
pub fn session_invite(invite: &SessionInvite<'_>) -> String {
    let tz = invite.time_zone;
    let mut event = Event::new();
    event
        .uid(&uid(invite.session_id, invite.participant_id))
        .timestamp(invite.stamp)
        .sequence(invite.sequence)
        .summary(&format!("Mediation session {}", invite.case_reference))
        .description(&format!("Join the session: {}", invite.join_url))
        .location(invite.join_url)
        .url(invite.join_url)
        .status(match invite.method {
            Method::Request => EventStatus::Confirmed,
            Method::Cancel => EventStatus::Cancelled,
        })
        .append_property(local_time("DTSTART", invite.starts_at, tz))
        .append_property(local_time("DTEND", invite.ends_at, tz))
        .append_property(
            Property::new("ORGANIZER", format!("mailto:{}", invite.organizer.email))
                .add_parameter("CN", invite.organizer.name)
                .done(),
        )
        .append_multi_property(
            Property::new("ATTENDEE", format!("mailto:{}", invite.attendee.email))
                .add_parameter("CN", invite.attendee.name)
                .add_parameter("ROLE", "REQ-PARTICIPANT")
                .add_parameter("PARTSTAT", "NEEDS-ACTION")
                .add_parameter("RSVP", "FALSE")
                .done(),
        );
    let mut calendar = Calendar::empty();
    calendar
        .append_property(Property::new("VERSION", "2.0"))
        .append_property(Property::new("PRODID", "-//Accord//Accord mediation//EN"))
        .append_property(Property::new("CALSCALE", "GREGORIAN"))
        .append_property(Property::new("METHOD", invite.method.as_str()));
    calendar.push(event.done());
    // The VTIMEZONE goes in as text: icalendar's component model would give
    // it (and each observance) a UID and DTSTAMP, which RFC 5545 does not allow there.
    calendar.to_string().replacen(
        "BEGIN:VEVENT\r\n",
        &format!(
            "{}BEGIN:VEVENT\r\n",
            vtimezone(tz, invite.starts_at, invite.ends_at)
        ),
        1,
    )
}

/// `at` as local time with `TZID`; in UTC when the local time is ambiguous
/// (in the hour a fall-back change repeats) and `at` is its second
/// occurrence, which a local time cannot name (RFC 5545 takes the first).
fn local_time(name: &str, at: DateTime<Utc>, tz: Tz) -> Property {
    let local = at.with_timezone(&tz).naive_local();
    let first = tz
        .from_local_datetime(&local)
        .earliest()
        .map(|d| d.with_timezone(&Utc));
    if first != Some(at) {
        return Property::new(name, at.format("%Y%m%dT%H%M%SZ").to_string());
    }
    Property::new(name, local.format("%Y%m%dT%H%M%S").to_string())
        .add_parameter("TZID", tz.name())
        .done()
}

/// Total UTC offset of `tz` at `at`, in seconds.
fn offset(tz: Tz, at: DateTime<Utc>) -> i32 {
    tz.offset_from_utc_datetime(&at.naive_utc())
        .fix()
        .local_minus_utc()
}

fn format_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    if sec == 0 {
        format!("{sign}{h:02}{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}{sec:02}")
    }
}

/// The instants in (`from`, `to`] at which `tz` changes its offset.
fn transitions(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut found = Vec::new();
    let step = Duration::hours(6);
    let mut t = from;
    while t < to {
        let next = (t + step).min(to);
        if offset(tz, t) != offset(tz, next) {
            // The change lies in (lo, hi]: narrow it to the second.
            let (mut lo, mut hi) = (t, next);
            while hi - lo > Duration::seconds(1) {
                let mid = lo + (hi - lo) / 2;
                if offset(tz, mid) == offset(tz, lo) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            found.push(hi);
        }
        t = next;
    }
    found
}

/// A `VTIMEZONE` for `tz` valid from a year before `start` until after `end`.
fn vtimezone(tz: Tz, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    let from = start - Duration::days(366);
    let to = end + Duration::days(1);
    let observance = |at: DateTime<Utc>, before: i32| {
        let local = tz.offset_from_utc_datetime(&at.naive_utc());
        let kind = if local.dst_offset().num_seconds() != 0 {
            "DAYLIGHT"
        } else {
            "STANDARD"
        };
        let after = local.fix().local_minus_utc();
        // DTSTART is the onset in the local time in force before it.
        let onset: NaiveDateTime = at.naive_utc() + Duration::seconds(i64::from(before));
        let name = at.with_timezone(&tz).format("%Z").to_string();
        format!(
            "BEGIN:{kind}\r\nDTSTART:{}\r\nTZOFFSETFROM:{}\r\nTZOFFSETTO:{}\r\nTZNAME:{name}\r\nEND:{kind}\r\n",
            onset.format("%Y%m%dT%H%M%S"),
            format_offset(before),
            format_offset(after),
        )
    };
    let mut out = format!("BEGIN:VTIMEZONE\r\nTZID:{}\r\n", tz.name());
    out.push_str(&observance(from, offset(tz, from)));
    for at in transitions(tz, from, to) {
        out.push_str(&observance(at, offset(tz, at - Duration::seconds(1))));
    }
    out.push_str("END:VTIMEZONE\r\n");
    out
}

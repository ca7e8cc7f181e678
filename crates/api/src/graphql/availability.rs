//! Availability and the common slot.
//!
//! People on a case (parties, counsel, interpreters) and the case's mediator
//! give the windows they are free in, on their own clock
//! (`setMyAvailability`). The case's mediator and org admins ask for the
//! earliest slots common to everyone who has answered, within the org's
//! working hours and clear of sessions already booked for any of them
//! (`proposeSlots`), and book one with `scheduleSession` like
//! any other session, so invitations go out the usual way. Org admins set the
//! working hours (`setOrgWorkingHours`).

use accord_db::availability::{self as store, Owner};
use accord_db::{audit, cases, members, TenantTx};
use accord_domain::{
    common_slots, Action, Availability, CaseId, DayHours, IanaTimeZone, LocalWindow,
    SessionDuration, SlotSearch, UserId, WorkingHours,
};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDateTime, NaiveTime, TimeDelta, Utc, Weekday};
use uuid::Uuid;

use super::types::{not_found, GqlPartyKind};
use super::{authorize, deny_early, mutate, read};
use crate::ApiError;

/// The grid slots are proposed on, in minutes.
const STEP_MINUTES: u32 = 15;

/// One window of availability on the person's own wall clock, from `start`
/// up to (not including) `end`.
#[derive(SimpleObject, Debug, Clone)]
pub struct AvailabilityWindow {
    /// Start, on the person's clock (no zone: see `timeZone`).
    pub start: NaiveDateTime,
    /// End (exclusive), on the person's clock.
    pub end: NaiveDateTime,
}

/// A window as given by the person, on their own wall clock.
#[derive(InputObject, Debug)]
pub struct AvailabilityWindowInput {
    /// Start, on the person's clock, on a whole minute.
    pub start: NaiveDateTime,
    /// End (exclusive), on the person's clock, after the start.
    pub end: NaiveDateTime,
}

/// The signed-in person's availability on one case.
#[derive(SimpleObject, Debug)]
pub struct MyAvailability {
    /// The case.
    pub case_id: Uuid,
    /// The zone the windows are on; null before any were given.
    pub time_zone: Option<String>,
    /// The windows, earliest first.
    pub windows: Vec<AvailabilityWindow>,
}

impl MyAvailability {
    fn new(case_id: CaseId, availability: Option<Availability>) -> Self {
        Self {
            case_id: case_id.as_uuid(),
            time_zone: availability.as_ref().map(|a| a.zone().to_string()),
            windows: availability
                .map(|a| {
                    a.windows()
                        .iter()
                        .map(|w| AvailabilityWindow {
                            start: w.start(),
                            end: w.end(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// In what capacity someone's availability counts.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AvailabilityRole {
    /// A party to the dispute.
    Party,
    /// A party's lawyer.
    Counsel,
    /// An interpreter.
    Interpreter,
    /// The case's mediator.
    Mediator,
}

impl From<GqlPartyKind> for AvailabilityRole {
    fn from(kind: GqlPartyKind) -> Self {
        match kind {
            GqlPartyKind::Party => AvailabilityRole::Party,
            GqlPartyKind::Counsel => AvailabilityRole::Counsel,
            GqlPartyKind::Interpreter => AvailabilityRole::Interpreter,
        }
    }
}

/// Someone whose availability a proposal takes into account.
#[derive(SimpleObject, Debug)]
pub struct SlotParticipant {
    /// The person on the case, when they are one (null for the mediator).
    pub party_id: Option<Uuid>,
    /// The member, when linked to an account.
    pub user_id: Option<Uuid>,
    /// Their name as shown on the case.
    pub display_name: String,
    /// In what capacity.
    pub role: AvailabilityRole,
    /// Whether they have given any window; slots are common to those who have.
    pub has_given_availability: bool,
    /// The zone of their windows, to show each slot on their clock.
    pub time_zone: Option<String>,
}

/// A proposed slot.
#[derive(SimpleObject, Debug)]
pub struct ProposedSlot {
    /// Start, in UTC.
    pub starts_at: DateTime<Utc>,
    /// End, in UTC.
    pub ends_at: DateTime<Utc>,
}

/// The earliest common slots of a case, and whose availability they rest on.
#[derive(SimpleObject, Debug)]
pub struct SlotProposal {
    /// Everyone on the case and its mediator, and whether they answered.
    pub participants: Vec<SlotParticipant>,
    /// The earliest slots inside every given availability and the org's
    /// working hours, earliest first; empty when nobody has given any.
    pub slots: Vec<ProposedSlot>,
    /// The zone of the org's working hours.
    pub working_hours_time_zone: String,
}

/// A day of the week.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "Weekday")]
pub enum GqlWeekday {
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday.
    Sunday,
}

const WEEK: [(GqlWeekday, Weekday); 7] = [
    (GqlWeekday::Monday, Weekday::Mon),
    (GqlWeekday::Tuesday, Weekday::Tue),
    (GqlWeekday::Wednesday, Weekday::Wed),
    (GqlWeekday::Thursday, Weekday::Thu),
    (GqlWeekday::Friday, Weekday::Fri),
    (GqlWeekday::Saturday, Weekday::Sat),
    (GqlWeekday::Sunday, Weekday::Sun),
];

/// The hours of one working day, `HH:MM` on the org's clock.
#[derive(SimpleObject, Debug)]
pub struct WorkingDay {
    /// The day.
    pub weekday: GqlWeekday,
    /// When sessions may start, `HH:MM`.
    pub start: String,
    /// When they must be over, `HH:MM`.
    pub end: String,
}

/// The hours of one working day, as set by an org admin.
#[derive(InputObject, Debug)]
pub struct WorkingDayInput {
    /// The day (each at most once).
    pub weekday: GqlWeekday,
    /// `HH:MM`, on the org's clock.
    pub start: String,
    /// `HH:MM`, after the start.
    pub end: String,
}

/// When the org holds sessions.
#[derive(SimpleObject, Debug)]
pub struct OrgWorkingHours {
    /// The zone of the hours.
    pub time_zone: String,
    /// The days with sessions, Monday first; days not listed have none.
    pub days: Vec<WorkingDay>,
}

impl From<&WorkingHours> for OrgWorkingHours {
    fn from(hours: &WorkingHours) -> Self {
        Self {
            time_zone: hours.zone().to_string(),
            days: WEEK
                .iter()
                .filter_map(|(gql, day)| {
                    hours.day(*day).map(|h| WorkingDay {
                        weekday: *gql,
                        start: h.start().format("%H:%M").to_string(),
                        end: h.end().format("%H:%M").to_string(),
                    })
                })
                .collect(),
        }
    }
}

fn parse_hhmm(raw: &str) -> Result<NaiveTime, ApiError> {
    NaiveTime::parse_from_str(raw, "%H:%M")
        .map_err(|_| ApiError::bad_input("days", "times must be HH:MM, like 09:00"))
}

/// Whose availability the signed-in person gives on the case: the mediator's
/// own, or theirs as a person on the case (all their entries, should they be
/// on it twice). Anyone else is refused.
async fn my_owners(tx: &mut TenantTx, case_id: CaseId) -> Result<Vec<Owner>, ApiError> {
    let me: UserId = tx
        .actor()
        .user_id
        .ok_or_else(|| ApiError::Unauthenticated("sign in first".into()))?;
    authorize(tx, Action::ViewCase, Some(case_id)).await?;
    let case = cases::get(tx, case_id).await.map_err(not_found("case"))?;
    if case.mediator_id == Some(me) {
        return Ok(vec![Owner::User(me)]);
    }
    let owners: Vec<Owner> = cases::parties(tx, case_id)
        .await?
        .into_iter()
        .filter(|p| p.user_id == Some(me))
        .map(|p| Owner::Party(p.id))
        .collect();
    if owners.is_empty() {
        return Err(ApiError::Forbidden(
            "only the people on the case and its mediator give availability".into(),
        ));
    }
    Ok(owners)
}

/// The earliest slots of `search` common to `everyone` and inside `hours`
/// that overlap none of the `busy` stretches (sessions already booked for
/// someone on the case). Searches on from after each batch of booked-over
/// slots, on the same grid, so no earlier free slot is skipped.
fn free_slots(
    everyone: &[Availability],
    hours: &WorkingHours,
    search: &SlotSearch,
    duration: SessionDuration,
    busy: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Result<Vec<DateTime<Utc>>, ApiError> {
    let length = search.duration();
    let is_free = |t: DateTime<Utc>| !busy.iter().any(|(s, e)| t < *e && *s < t + length);
    let batch = i64::try_from(SlotSearch::MAX_FIRST).unwrap_or(50);
    let mut out = Vec::new();
    let mut from = search.from();
    while from < search.to() && out.len() < search.first() {
        let part = SlotSearch::new(from, search.to(), duration, STEP_MINUTES, batch)?;
        let found = common_slots(everyone, hours, &part);
        let exhausted = found.len() < part.first();
        for t in found {
            if is_free(t) {
                out.push(t);
                if out.len() == search.first() {
                    break;
                }
            }
            from = t + search.step();
        }
        if exhausted {
            break;
        }
    }
    Ok(out)
}

/// Reads of availability and working hours.
#[derive(Debug, Default)]
pub struct AvailabilityQuery;

#[Object]
impl AvailabilityQuery {
    /// The signed-in person's availability on a case (a person on it, or its
    /// mediator).
    async fn my_availability(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
    ) -> async_graphql::Result<MyAvailability> {
        read(ctx, move |tx| {
            Box::pin(async move {
                let case_id = CaseId::from_uuid(case_id);
                let owners = my_owners(tx, case_id).await?;
                let mine = store::of(tx, case_id, owners[0]).await?;
                Ok(MyAvailability::new(case_id, mine))
            })
        })
        .await
    }

    /// The earliest slots of `durationMinutes` between `from` and `to`
    /// (at most 92 days apart; never before now) common to everyone on the
    /// case who has given availability and inside the org's working hours,
    /// clear of sessions already booked for the case or for its mediator or
    /// people on other cases. For the case's mediator and org admins.
    async fn propose_slots(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
        duration_minutes: i32,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        #[graphql(default = 10)] first: i32,
    ) -> async_graphql::Result<SlotProposal> {
        read(ctx, move |tx| {
            Box::pin(async move {
                deny_early(tx, Action::ScheduleSession)?;
                let case_id = CaseId::from_uuid(case_id);
                authorize(tx, Action::ScheduleSession, Some(case_id)).await?;
                let case = cases::get(tx, case_id).await.map_err(not_found("case"))?;
                let duration = SessionDuration::from_minutes(i64::from(duration_minutes))?;
                // Only future slots can be booked: start the search at the
                // next minute.
                let now = Utc::now();
                let earliest =
                    DateTime::from_timestamp((now.timestamp() / 60 + 1) * 60, 0).unwrap_or(now);
                if to > from && to <= earliest {
                    return Err(ApiError::bad_input("to", "must be in the future"));
                }
                let search = SlotSearch::new(
                    from.max(earliest),
                    to,
                    duration,
                    STEP_MINUTES,
                    i64::from(first),
                )?;

                let given = store::for_case(tx, case_id).await?;
                let given_by = |owner: Owner| given.iter().find(|g| g.owner == owner);
                let mut participants = Vec::new();
                if let Some(mediator) = case.mediator_id {
                    let member = members::get(tx, mediator).await?;
                    let g = given_by(Owner::User(mediator));
                    participants.push(SlotParticipant {
                        party_id: None,
                        user_id: Some(mediator.as_uuid()),
                        display_name: member.display_name.as_str().to_owned(),
                        role: AvailabilityRole::Mediator,
                        has_given_availability: g.is_some(),
                        time_zone: g.map(|g| g.availability.zone().to_string()),
                    });
                }
                for party in cases::parties(tx, case_id).await? {
                    let g = given_by(Owner::Party(party.id));
                    participants.push(SlotParticipant {
                        party_id: Some(party.id.as_uuid()),
                        user_id: party.user_id.map(|u| u.as_uuid()),
                        display_name: party.display_name.as_str().to_owned(),
                        role: GqlPartyKind::from(party.kind).into(),
                        has_given_availability: g.is_some(),
                        time_zone: g.map(|g| g.availability.zone().to_string()),
                    });
                }

                let hours = store::working_hours(tx).await?;
                let everyone: Vec<Availability> =
                    given.into_iter().map(|g| g.availability).collect();
                let slots = if everyone.is_empty() {
                    Vec::new()
                } else {
                    let busy = store::busy(tx, case_id, search.from(), search.to()).await?;
                    free_slots(&everyone, &hours, &search, duration, &busy)?
                        .into_iter()
                        .map(|starts_at| ProposedSlot {
                            starts_at,
                            ends_at: starts_at + search.duration(),
                        })
                        .collect()
                };
                Ok(SlotProposal {
                    participants,
                    slots,
                    working_hours_time_zone: hours.zone().to_string(),
                })
            })
        })
        .await
    }

    /// When the org holds sessions (Monday to Friday 09:00 to 17:00 UTC until
    /// an org admin says otherwise).
    async fn org_working_hours(&self, ctx: &Context<'_>) -> async_graphql::Result<OrgWorkingHours> {
        read(ctx, move |tx| {
            Box::pin(async move {
                authorize(tx, Action::ViewOrganization, None).await?;
                Ok(OrgWorkingHours::from(&store::working_hours(tx).await?))
            })
        })
        .await
    }
}

/// Writes of availability and working hours.
#[derive(Debug, Default)]
pub struct AvailabilityMutation;

#[Object]
impl AvailabilityMutation {
    /// Replaces the signed-in person's availability on a case with
    /// `windows`, on their own clock in `timeZone` (an IANA name). Windows
    /// must not overlap, each at most 7 days long, within the coming year.
    /// An empty list withdraws it.
    async fn set_my_availability(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
        windows: Vec<AvailabilityWindowInput>,
        time_zone: String,
    ) -> async_graphql::Result<MyAvailability> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let case_id = CaseId::from_uuid(case_id);
                let owners = my_owners(tx, case_id).await?;
                let zone = IanaTimeZone::parse(&time_zone)?;
                let local_now = Utc::now().with_timezone(&zone.tz()).naive_local();
                let (earliest, latest) = (
                    local_now - TimeDelta::days(1),
                    local_now + TimeDelta::days(366),
                );
                let windows = windows
                    .into_iter()
                    .map(|w| {
                        let window = LocalWindow::new(w.start, w.end)?;
                        if window.end() <= earliest || window.start() >= latest {
                            return Err(ApiError::bad_input(
                                "windows",
                                "must lie within the coming year",
                            ));
                        }
                        Ok(window)
                    })
                    .collect::<Result<Vec<_>, ApiError>>()?;
                let availability = Availability::new(zone, windows)?;
                for owner in &owners {
                    store::replace(tx, case_id, *owner, &availability).await?;
                }
                audit::append(tx, "availability.set", "case", Some(case_id.as_uuid())).await?;
                let given = !availability.windows().is_empty();
                Ok(MyAvailability::new(case_id, given.then_some(availability)))
            })
        })
        .await
    }

    /// Sets when the org holds sessions: hours per weekday (each day at most
    /// once; days left out have none) on the clock of `timeZone`. Org admins.
    async fn set_org_working_hours(
        &self,
        ctx: &Context<'_>,
        time_zone: String,
        days: Vec<WorkingDayInput>,
    ) -> async_graphql::Result<OrgWorkingHours> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                authorize(tx, Action::ManageMembers, None).await?;
                let zone = IanaTimeZone::parse(&time_zone)?;
                let mut week: [Option<DayHours>; 7] = [None; 7];
                for day in days {
                    let index = WEEK
                        .iter()
                        .position(|(gql, _)| *gql == day.weekday)
                        .unwrap_or_default();
                    if week[index].is_some() {
                        return Err(ApiError::bad_input("days", "each day may appear once"));
                    }
                    week[index] = Some(DayHours::new(
                        parse_hhmm(&day.start)?,
                        parse_hhmm(&day.end)?,
                    )?);
                }
                let hours = WorkingHours::new(zone, week);
                store::set_working_hours(tx, &hours).await?;
                let org = tx.actor().org_id.as_uuid();
                audit::append(tx, "org.set_working_hours", "organization", Some(org)).await?;
                Ok(OrgWorkingHours::from(&hours))
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone as _};

    fn utc(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2031, 3, day, hour, minute, 0).unwrap()
    }

    /// One person free 09:00 to 17:00 UTC Monday 3 to Friday 7 March 2031,
    /// office hours; hour-long slots on the quarter hour.
    fn week() -> (Vec<Availability>, WorkingHours, SlotSearch, SessionDuration) {
        let zone = IanaTimeZone::parse("UTC").unwrap();
        let windows = (3..=7)
            .map(|d| {
                let day = NaiveDate::from_ymd_opt(2031, 3, d).unwrap();
                LocalWindow::new(
                    day.and_hms_opt(9, 0, 0).unwrap(),
                    day.and_hms_opt(17, 0, 0).unwrap(),
                )
                .unwrap()
            })
            .collect();
        let everyone = vec![Availability::new(zone.clone(), windows).unwrap()];
        let duration = SessionDuration::from_minutes(60).unwrap();
        let search =
            SlotSearch::new(utc(3, 0, 0), utc(8, 0, 0), duration, STEP_MINUTES, 3).unwrap();
        (everyone, WorkingHours::office_hours(zone), search, duration)
    }

    #[test]
    fn booked_stretches_are_skipped_across_batches_and_the_earliest_free_slot_is_kept() {
        let (everyone, hours, search, duration) = week();
        assert_eq!(
            free_slots(&everyone, &hours, &search, duration, &[]).unwrap(),
            vec![utc(3, 9, 0), utc(3, 9, 15), utc(3, 9, 30)]
        );
        // Three whole days booked (more grid slots than one batch holds),
        // and Thursday until 10:40: the first free hour starts at 10:45.
        let busy = [
            (utc(3, 8, 0), utc(5, 18, 0)),
            (utc(6, 9, 0), utc(6, 10, 40)),
        ];
        assert_eq!(
            free_slots(&everyone, &hours, &search, duration, &busy).unwrap(),
            vec![utc(6, 10, 45), utc(6, 11, 0), utc(6, 11, 15)]
        );
        // A session ending at 09:30 on Monday and another from 11:00: the
        // slots between are 09:30, 09:45 and 10:00; none may run into 11:00.
        let busy = [
            (utc(3, 8, 30), utc(3, 9, 30)),
            (utc(3, 11, 0), utc(3, 17, 0)),
        ];
        let search =
            SlotSearch::new(utc(3, 0, 0), utc(8, 0, 0), duration, STEP_MINUTES, 4).unwrap();
        assert_eq!(
            free_slots(&everyone, &hours, &search, duration, &busy).unwrap(),
            vec![utc(3, 9, 30), utc(3, 9, 45), utc(3, 10, 0), utc(4, 9, 0)]
        );
        // Everything booked: nothing, and the search ends.
        let busy = [(utc(1, 0, 0), utc(9, 0, 0))];
        assert!(free_slots(&everyone, &hours, &search, duration, &busy)
            .unwrap()
            .is_empty());
    }
}

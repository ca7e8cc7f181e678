//! Availability windows per person on a case, and the org's working hours.
//!
//! Windows are kept on the person's own wall clock (local timestamps plus
//! the zone); [`accord_domain::common_slots`] turns them into instants when
//! slots are searched. Whose windows they are is an [`Owner`]: a person on
//! the case (party, counsel, interpreter) by their party row, or a member
//! speaking for themselves (the mediator) by their user.

use accord_domain::{
    Availability, CaseId, DayHours, IanaTimeZone, LocalWindow, PartyId, UserId, WorkingHours,
};
use chrono::{DateTime, NaiveDateTime, NaiveTime, Utc, Weekday};

use crate::{DbError, TenantTx};

/// Whose windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A person on the case.
    Party(PartyId),
    /// A member for themselves (the case's mediator).
    User(UserId),
}

/// Someone's stored windows on a case.
#[derive(Debug, Clone)]
pub struct OwnedAvailability {
    /// Whose.
    pub owner: Owner,
    /// The windows, in the owner's zone.
    pub availability: Availability,
}

#[derive(sqlx::FromRow)]
struct WindowRow {
    party_id: Option<uuid::Uuid>,
    user_id: Option<uuid::Uuid>,
    time_zone: String,
    starts_local: NaiveDateTime,
    ends_local: NaiveDateTime,
}

fn owner_columns(owner: Owner) -> (Option<uuid::Uuid>, Option<uuid::Uuid>) {
    match owner {
        Owner::Party(p) => (Some(p.as_uuid()), None),
        Owner::User(u) => (None, Some(u.as_uuid())),
    }
}

/// Replaces `owner`'s windows on the case with `availability` (none when it
/// has no windows).
pub async fn replace(
    tx: &mut TenantTx,
    case_id: CaseId,
    owner: Owner,
    availability: &Availability,
) -> Result<(), DbError> {
    let org = tx.actor().org_id.as_uuid();
    let (party, user) = owner_columns(owner);
    sqlx::query(
        "DELETE FROM availability_windows WHERE org_id = $1 AND case_id = $2 \
         AND party_id IS NOT DISTINCT FROM $3 AND user_id IS NOT DISTINCT FROM $4",
    )
    .bind(org)
    .bind(case_id.as_uuid())
    .bind(party)
    .bind(user)
    .execute(tx.conn())
    .await?;
    let windows = availability.windows();
    if windows.is_empty() {
        return Ok(());
    }
    let ids: Vec<uuid::Uuid> = windows.iter().map(|_| uuid::Uuid::now_v7()).collect();
    let starts: Vec<NaiveDateTime> = windows.iter().map(LocalWindow::start).collect();
    let ends: Vec<NaiveDateTime> = windows.iter().map(LocalWindow::end).collect();
    sqlx::query(
        "INSERT INTO availability_windows \
             (org_id, id, case_id, party_id, user_id, time_zone, starts_local, ends_local) \
         SELECT $1, w.id, $2, $3, $4, $5, w.starts, w.ends \
         FROM unnest($6::uuid[], $7::timestamp[], $8::timestamp[]) AS w (id, starts, ends)",
    )
    .bind(org)
    .bind(case_id.as_uuid())
    .bind(party)
    .bind(user)
    .bind(availability.zone().as_str())
    .bind(&ids)
    .bind(&starts)
    .bind(&ends)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Everyone's windows on a case, one entry per owner with windows.
pub async fn for_case(
    tx: &mut TenantTx,
    case_id: CaseId,
) -> Result<Vec<OwnedAvailability>, DbError> {
    let rows: Vec<WindowRow> = sqlx::query_as(
        "SELECT party_id, user_id, time_zone, starts_local, ends_local \
         FROM availability_windows WHERE org_id = $1 AND case_id = $2 \
         ORDER BY party_id NULLS LAST, user_id, starts_local",
    )
    .bind(tx.actor().org_id.as_uuid())
    .bind(case_id.as_uuid())
    .fetch_all(tx.conn())
    .await?;

    let mut grouped: Vec<(Owner, String, Vec<LocalWindow>)> = Vec::new();
    for row in rows {
        let owner = match (row.party_id, row.user_id) {
            (Some(p), _) => Owner::Party(PartyId::from_uuid(p)),
            (None, Some(u)) => Owner::User(UserId::from_uuid(u)),
            (None, None) => return Err(DbError::Corrupt("availability without owner".into())),
        };
        let window = LocalWindow::new(row.starts_local, row.ends_local)?;
        match grouped.last_mut() {
            Some((o, _, windows)) if *o == owner => windows.push(window),
            _ => grouped.push((owner, row.time_zone, vec![window])),
        }
    }
    grouped
        .into_iter()
        .map(|(owner, zone, windows)| {
            Ok(OwnedAvailability {
                owner,
                availability: Availability::new(IanaTimeZone::parse(&zone)?, windows)?,
            })
        })
        .collect()
}

/// `owner`'s windows on a case, if they gave any.
pub async fn of(
    tx: &mut TenantTx,
    case_id: CaseId,
    owner: Owner,
) -> Result<Option<Availability>, DbError> {
    Ok(for_case(tx, case_id)
        .await?
        .into_iter()
        .find(|a| a.owner == owner)
        .map(|a| a.availability))
}

/// The stretches between `from` and `to` in which someone the case's slots
/// are for is already booked: the scheduled sessions of this case, and of
/// any other case of the org whose mediator or people include the case's
/// mediator or one of its people (the same account, or the same address for
/// a person without one). Earliest first; they may overlap.
pub async fn busy(
    tx: &mut TenantTx,
    case_id: CaseId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>, DbError> {
    Ok(sqlx::query_as(
        "WITH accounts AS ( \
             SELECT mediator_id AS id FROM cases \
             WHERE org_id = $1 AND id = $2 AND mediator_id IS NOT NULL \
             UNION SELECT user_id FROM case_parties \
             WHERE org_id = $1 AND case_id = $2 AND user_id IS NOT NULL \
         ), addresses AS ( \
             SELECT email FROM case_parties WHERE org_id = $1 AND case_id = $2 \
         ) \
         SELECT s.starts_at, s.starts_at + s.duration_minutes * interval '1 minute' \
         FROM sessions s JOIN cases c ON c.org_id = s.org_id AND c.id = s.case_id \
         WHERE s.org_id = $1 AND s.status = 'scheduled' \
           AND s.starts_at < $4 AND s.starts_at + s.duration_minutes * interval '1 minute' > $3 \
           AND (s.case_id = $2 \
             OR c.mediator_id IN (SELECT id FROM accounts) \
             OR EXISTS (SELECT 1 FROM case_parties p \
                        WHERE p.org_id = s.org_id AND p.case_id = s.case_id \
                          AND (p.user_id IN (SELECT id FROM accounts) \
                               OR p.email IN (SELECT email FROM addresses)))) \
         ORDER BY s.starts_at",
    )
    .bind(tx.actor().org_id.as_uuid())
    .bind(case_id.as_uuid())
    .bind(from)
    .bind(to)
    .fetch_all(tx.conn())
    .await?)
}

const WEEK: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// The org's working hours: as set, or Monday to Friday 09:00 to 17:00 UTC.
pub async fn working_hours(tx: &mut TenantTx) -> Result<WorkingHours, DbError> {
    let org = tx.actor().org_id.as_uuid();
    let zone: Option<String> =
        sqlx::query_scalar("SELECT time_zone FROM org_working_hours WHERE org_id = $1")
            .bind(org)
            .fetch_optional(tx.conn())
            .await?;
    let Some(zone) = zone else {
        return Ok(WorkingHours::office_hours(IanaTimeZone::parse("UTC")?));
    };
    let rows: Vec<(i16, NaiveTime, NaiveTime)> = sqlx::query_as(
        "SELECT weekday, starts, ends FROM org_working_days WHERE org_id = $1 ORDER BY weekday",
    )
    .bind(org)
    .fetch_all(tx.conn())
    .await?;
    let mut days = [None; 7];
    for (weekday, starts, ends) in rows {
        let slot = usize::try_from(weekday - 1)
            .ok()
            .and_then(|i| days.get_mut(i))
            .ok_or_else(|| DbError::Corrupt("weekday out of range".into()))?;
        *slot = Some(DayHours::new(starts, ends)?);
    }
    Ok(WorkingHours::new(IanaTimeZone::parse(&zone)?, days))
}

/// Sets the org's working hours.
pub async fn set_working_hours(tx: &mut TenantTx, hours: &WorkingHours) -> Result<(), DbError> {
    let org = tx.actor().org_id.as_uuid();
    let by = tx.actor().user_id.map(|u| u.as_uuid());
    sqlx::query(
        "INSERT INTO org_working_hours (org_id, time_zone, updated_by) VALUES ($1, $2, $3) \
         ON CONFLICT (org_id) DO UPDATE SET time_zone = EXCLUDED.time_zone, \
             updated_by = EXCLUDED.updated_by, updated_at = now()",
    )
    .bind(org)
    .bind(hours.zone().as_str())
    .bind(by)
    .execute(tx.conn())
    .await?;
    sqlx::query("DELETE FROM org_working_days WHERE org_id = $1")
        .bind(org)
        .execute(tx.conn())
        .await?;
    for (i, weekday) in WEEK.iter().enumerate() {
        if let Some(day) = hours.day(*weekday) {
            sqlx::query(
                "INSERT INTO org_working_days (org_id, weekday, starts, ends) VALUES ($1, $2, $3, $4)",
            )
            .bind(org)
            .bind(i16::try_from(i + 1).unwrap_or(1))
            .bind(day.start())
            .bind(day.end())
            .execute(tx.conn())
            .await?;
        }
    }
    Ok(())
}

//! What an org charges: its fee schedule (currency, admin fee per case),
//! each mediator's rate, how each case's costs are split between its
//! parties, and the sessions a case actually held (their real durations).

use accord_domain::invoice::{FeeBasis, MediatorRate};
use accord_domain::{CaseId, Currency, PartyId, SessionId, UserId};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{DbError, TenantTx};

/// An org's fee schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeSchedule {
    /// The currency every amount is in.
    pub currency: Currency,
    /// Charged once per case invoice, in minor units.
    pub admin_fee: i64,
}

/// The org's fee schedule, or `None` before one was set.
pub async fn schedule(tx: &mut TenantTx) -> Result<Option<FeeSchedule>, DbError> {
    let row: Option<(String, i64)> =
        sqlx::query_as("SELECT currency, admin_fee_minor FROM fee_schedules")
            .fetch_optional(tx.conn())
            .await?;
    row.map(|(c, fee)| {
        Ok(FeeSchedule {
            currency: Currency::parse(&c)?,
            admin_fee: fee,
        })
    })
    .transpose()
}

/// Sets the org's fee schedule.
pub async fn set_schedule(tx: &mut TenantTx, schedule: &FeeSchedule) -> Result<(), DbError> {
    let org = tx.actor().org_id.as_uuid();
    sqlx::query(
        "INSERT INTO fee_schedules (org_id, currency, admin_fee_minor) VALUES ($1, $2, $3) \
         ON CONFLICT (org_id) DO UPDATE SET currency = EXCLUDED.currency, \
         admin_fee_minor = EXCLUDED.admin_fee_minor, updated_at = now()",
    )
    .bind(org)
    .bind(schedule.currency.as_str())
    .bind(schedule.admin_fee)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Every mediator's rate, by mediator.
pub async fn rates(tx: &mut TenantTx) -> Result<Vec<(UserId, MediatorRate)>, DbError> {
    let rows: Vec<(Uuid, String, i64)> =
        sqlx::query_as("SELECT mediator_id, basis, rate_minor FROM mediator_rates")
            .fetch_all(tx.conn())
            .await?;
    rows.into_iter()
        .map(|(m, basis, rate)| {
            Ok((
                UserId::from_uuid(m),
                MediatorRate {
                    basis: FeeBasis::parse(&basis)?,
                    rate,
                },
            ))
        })
        .collect()
}

/// One mediator's rate.
pub async fn rate(tx: &mut TenantTx, mediator: UserId) -> Result<Option<MediatorRate>, DbError> {
    let row: Option<(String, i64)> =
        sqlx::query_as("SELECT basis, rate_minor FROM mediator_rates WHERE mediator_id = $1")
            .bind(mediator.as_uuid())
            .fetch_optional(tx.conn())
            .await?;
    row.map(|(basis, rate)| {
        Ok(MediatorRate {
            basis: FeeBasis::parse(&basis)?,
            rate,
        })
    })
    .transpose()
}

/// Sets a mediator's rate.
pub async fn set_rate(
    tx: &mut TenantTx,
    mediator: UserId,
    rate: MediatorRate,
) -> Result<(), DbError> {
    let org = tx.actor().org_id.as_uuid();
    sqlx::query(
        "INSERT INTO mediator_rates (org_id, mediator_id, basis, rate_minor) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (org_id, mediator_id) DO UPDATE SET basis = EXCLUDED.basis, \
         rate_minor = EXCLUDED.rate_minor",
    )
    .bind(org)
    .bind(mediator.as_uuid())
    .bind(rate.basis.as_str())
    .bind(rate.rate)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A case's split, by party, in the parties' order on the case. Empty when
/// none was set.
pub async fn split(tx: &mut TenantTx, case: CaseId) -> Result<Vec<(PartyId, u32)>, DbError> {
    let rows: Vec<(Uuid, i32)> = sqlx::query_as(
        "SELECT s.party_id, s.basis_points FROM case_fee_splits s \
         JOIN case_parties p ON p.id = s.party_id WHERE s.case_id = $1 \
         ORDER BY p.created_at, p.id",
    )
    .bind(case.as_uuid())
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(p, bp)| (PartyId::from_uuid(p), u32::try_from(bp).unwrap_or(0)))
        .collect())
}

/// Replaces a case's split (the caller checked the parties and the sum).
pub async fn set_split(
    tx: &mut TenantTx,
    case: CaseId,
    shares: &[(PartyId, u32)],
) -> Result<(), DbError> {
    let org = tx.actor().org_id.as_uuid();
    sqlx::query("DELETE FROM case_fee_splits WHERE case_id = $1")
        .bind(case.as_uuid())
        .execute(tx.conn())
        .await?;
    for (party, bp) in shares {
        sqlx::query(
            "INSERT INTO case_fee_splits (org_id, case_id, party_id, basis_points) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(org)
        .bind(case.as_uuid())
        .bind(party.as_uuid())
        .bind(i32::try_from(*bp).unwrap_or(i32::MAX))
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// A session as held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The session.
    pub session_id: SessionId,
    /// When it began.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: DateTime<Utc>,
    /// Whole minutes held, rounded to the nearest minute (at least one).
    pub minutes: i64,
}

impl Held {
    fn new(session: Uuid, started_at: DateTime<Utc>, ended_at: DateTime<Utc>) -> Self {
        let seconds = (ended_at - started_at).num_seconds();
        Held {
            session_id: SessionId::from_uuid(session),
            started_at,
            ended_at,
            minutes: ((seconds + 30) / 60).max(1),
        }
    }
}

/// Records when a session began and ended (again replaces the record).
pub async fn record_held(
    tx: &mut TenantTx,
    session: SessionId,
    started_at: DateTime<Utc>,
    ended_at: DateTime<Utc>,
) -> Result<Held, DbError> {
    let org = tx.actor().org_id.as_uuid();
    sqlx::query(
        "INSERT INTO held_sessions (org_id, session_id, started_at, ended_at, recorded_by) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (session_id) DO UPDATE \
         SET started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at, \
         recorded_by = EXCLUDED.recorded_by, recorded_at = now()",
    )
    .bind(org)
    .bind(session.as_uuid())
    .bind(started_at)
    .bind(ended_at)
    .bind(tx.actor().user_id.map(|u| u.as_uuid()))
    .execute(tx.conn())
    .await?;
    Ok(Held::new(session.as_uuid(), started_at, ended_at))
}

/// Adds `seconds` held from `started_at` (one run of the live session, as
/// the SFU measured it) to `session`'s record: the first run makes it, a
/// later run of the same session adds its time, keeping the first start.
/// A record staff made or corrected by hand (`recorded_by` set) stands.
/// The record is capped at 24 hours. `true` when it changed.
pub async fn add_held_live(
    tx: &mut TenantTx,
    session: SessionId,
    started_at: DateTime<Utc>,
    seconds: i64,
) -> Result<bool, DbError> {
    let org = tx.actor().org_id.as_uuid();
    let seconds = seconds.clamp(1, 24 * 3600);
    let changed = sqlx::query(
        "INSERT INTO held_sessions (org_id, session_id, started_at, ended_at, recorded_by) \
         VALUES ($1, $2, $3, $3 + make_interval(secs => $4), NULL) \
         ON CONFLICT (session_id) DO UPDATE \
         SET ended_at = least(held_sessions.ended_at + make_interval(secs => $4), \
                              held_sessions.started_at + interval '24 hours'), \
             recorded_at = now() \
         WHERE held_sessions.recorded_by IS NULL",
    )
    .bind(org)
    .bind(session.as_uuid())
    .bind(started_at)
    .bind(seconds as f64)
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(changed > 0)
}

/// The sessions of a case that were held, in the order they began.
pub async fn held_sessions(tx: &mut TenantTx, case: CaseId) -> Result<Vec<Held>, DbError> {
    let rows: Vec<(Uuid, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT h.session_id, h.started_at, h.ended_at FROM held_sessions h \
         JOIN sessions s ON s.id = h.session_id WHERE s.case_id = $1 \
         ORDER BY h.started_at, h.session_id",
    )
    .bind(case.as_uuid())
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(s, a, b)| Held::new(s, a, b))
        .collect())
}

//! Scheduled mediation sessions.

use accord_domain::{
    CaseId, IanaTimeZone, Schedule, SessionDuration, SessionId, SessionStatus, UserId,
};
use chrono::{DateTime, Utc};

use crate::cases::Visibility;
use crate::{DbError, TenantTx};

/// A scheduled session of a case.
#[derive(Debug, Clone)]
pub struct Session {
    /// Its id.
    pub id: SessionId,
    /// The case it belongs to.
    pub case_id: CaseId,
    /// When, in UTC, where (time zone) and for how long.
    pub schedule: Schedule,
    /// Scheduled, cancelled or completed.
    pub status: SessionStatus,
    /// Whether parties wait in a lobby until admitted.
    pub lobby_enabled: bool,
    /// When it was scheduled.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: uuid::Uuid,
    case_id: uuid::Uuid,
    starts_at: DateTime<Utc>,
    time_zone: String,
    duration_minutes: i32,
    status: String,
    lobby_enabled: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<SessionRow> for Session {
    type Error = DbError;
    fn try_from(r: SessionRow) -> Result<Self, DbError> {
        Ok(Session {
            id: SessionId::from_uuid(r.id),
            case_id: CaseId::from_uuid(r.case_id),
            schedule: Schedule::new(
                r.starts_at,
                IanaTimeZone::parse(&r.time_zone)?,
                SessionDuration::from_minutes(i64::from(r.duration_minutes))?,
            ),
            status: r.status.parse()?,
            lobby_enabled: r.lobby_enabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const SESSION_COLUMNS: &str = "id, case_id, starts_at, time_zone, duration_minutes, status, \
     lobby_enabled, created_at, updated_at";

fn minutes(schedule: &Schedule) -> i32 {
    // SessionDuration is bounded to 15..=720 minutes, so this never saturates.
    i32::try_from(schedule.duration().minutes()).unwrap_or(i32::MAX)
}

/// Schedules a session on a case ([`DbError::NotFound`] for an unknown case).
pub async fn schedule(
    tx: &mut TenantTx,
    case_id: CaseId,
    schedule: &Schedule,
) -> Result<Session, DbError> {
    let actor = tx.actor();
    let created_by = actor.user_id.ok_or(DbError::NotAMember)?;
    crate::cases::get(tx, case_id).await?;
    let row: SessionRow = sqlx::query_as(&format!(
        "INSERT INTO sessions (org_id, id, case_id, starts_at, time_zone, duration_minutes, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {SESSION_COLUMNS}"
    ))
    .bind(actor.org_id.as_uuid())
    .bind(SessionId::new().as_uuid())
    .bind(case_id.as_uuid())
    .bind(schedule.starts_at())
    .bind(schedule.time_zone().as_str())
    .bind(minutes(schedule))
    .bind(created_by.as_uuid())
    .fetch_one(tx.conn())
    .await?;
    row.try_into()
}

/// One session, or [`DbError::NotFound`].
pub async fn get(tx: &mut TenantTx, id: SessionId) -> Result<Session, DbError> {
    let row: SessionRow = sqlx::query_as(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE org_id = $1 AND id = $2"
    ))
    .bind(tx.actor().org_id.as_uuid())
    .bind(id.as_uuid())
    .fetch_one(tx.conn())
    .await?;
    row.try_into()
}

/// The sessions among `ids` (unknown ids and other orgs' sessions are left
/// out), by start time.
pub async fn get_many(tx: &mut TenantTx, ids: &[SessionId]) -> Result<Vec<Session>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<uuid::Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
    let rows: Vec<SessionRow> = sqlx::query_as(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE org_id = $1 AND id = ANY($2) \
         ORDER BY starts_at, id"
    ))
    .bind(tx.actor().org_id.as_uuid())
    .bind(&ids)
    .fetch_all(tx.conn())
    .await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

/// Moves a session to a new time (the caller checked it is still scheduled).
pub async fn reschedule(
    tx: &mut TenantTx,
    id: SessionId,
    schedule: &Schedule,
) -> Result<Session, DbError> {
    let row: SessionRow = sqlx::query_as(&format!(
        "UPDATE sessions SET starts_at = $3, time_zone = $4, duration_minutes = $5, updated_at = now() \
         WHERE org_id = $1 AND id = $2 RETURNING {SESSION_COLUMNS}"
    ))
    .bind(tx.actor().org_id.as_uuid())
    .bind(id.as_uuid())
    .bind(schedule.starts_at())
    .bind(schedule.time_zone().as_str())
    .bind(minutes(schedule))
    .fetch_one(tx.conn())
    .await?;
    row.try_into()
}

/// Stores a new status (the caller checked the transition).
pub async fn set_status(
    tx: &mut TenantTx,
    id: SessionId,
    status: SessionStatus,
) -> Result<Session, DbError> {
    let row: SessionRow = sqlx::query_as(&format!(
        "UPDATE sessions SET status = $3, updated_at = now() WHERE org_id = $1 AND id = $2 \
         RETURNING {SESSION_COLUMNS}"
    ))
    .bind(tx.actor().org_id.as_uuid())
    .bind(id.as_uuid())
    .bind(status.as_str())
    .fetch_one(tx.conn())
    .await?;
    row.try_into()
}

/// Sessions by start time, optionally of one case and within `[from, to)`,
/// limited to cases the visibility allows. At most 500 are returned.
pub async fn list(
    tx: &mut TenantTx,
    visibility: Visibility,
    case_id: Option<CaseId>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<Session>, DbError> {
    let involved: Option<uuid::Uuid> = match visibility {
        Visibility::All => None,
        Visibility::InvolvedOnly(user) => Some(UserId::as_uuid(&user)),
    };
    let rows: Vec<SessionRow> = sqlx::query_as(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s WHERE org_id = $1 \
           AND ($2::uuid IS NULL OR s.case_id = $2) \
           AND ($3::timestamptz IS NULL OR s.starts_at >= $3) \
           AND ($4::timestamptz IS NULL OR s.starts_at < $4) \
           AND ($5::uuid IS NULL \
                OR EXISTS (SELECT 1 FROM cases c WHERE c.org_id = $1 AND c.id = s.case_id AND c.mediator_id = $5) \
                OR EXISTS (SELECT 1 FROM case_parties p WHERE p.org_id = $1 AND p.case_id = s.case_id AND p.user_id = $5)) \
         ORDER BY s.starts_at, s.id LIMIT 500"
    ))
    .bind(tx.actor().org_id.as_uuid())
    .bind(case_id.map(|c| c.as_uuid()))
    .bind(from)
    .bind(to)
    .bind(involved)
    .fetch_all(tx.conn())
    .await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

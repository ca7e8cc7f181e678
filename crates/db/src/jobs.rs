//! The durable job queue (outgoing mail), on Postgres.
//!
//! - [`enqueue`] runs on the caller's connection, inside the transaction of the
//!   change that causes the message: both commit or neither does. The job's
//!   org is the transaction's (`accord_org()`), or none for account-level
//!   mail. The idempotency key is unique: enqueuing the same message twice
//!   is a no-op.
//! - A worker finds orgs with due jobs ([`due_orgs`]), opens a transaction
//!   scoped to each ([`scoped`]), [`claim`]s a batch with `FOR UPDATE SKIP
//!   LOCKED` (concurrent workers never claim the same job) and commits: the
//!   jobs are now `running` under a lease. It sends each and then marks it
//!   [`mark_sent`] or [`mark_failed`] (back-off, or `failed` for good).
//! - Delivery is at least once. A job claimed by a worker that dies is taken
//!   again once its lease expires. If the worker dies after the SMTP server
//!   accepted the message and before `mark_sent` committed, the message is
//!   sent again: that window (the server's `250` to the commit, a few
//!   milliseconds) is the only way to a duplicate, and both copies carry the
//!   same `Message-ID`. A job marked `sent` is never claimed again, and a
//!   mark from a worker whose lease was taken over is ignored (the attempt
//!   number must match).
//! - [`cancel_group`] withdraws pending jobs a later change made obsolete
//!   (reminders of a moved or cancelled session).
//! - [`list`] and [`retry`] serve the admins' view of deliveries.

use std::collections::HashMap;
use std::time::Duration;

use accord_domain::{OrgId, SessionId, UserId};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, Transaction};

use crate::{Db, DbError};

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting for its time (or its next attempt).
    Pending,
    /// Claimed by a worker, under a lease.
    Running,
    /// Handed to the mail server.
    Sent,
    /// Gave up after its last attempt, or failed permanently.
    Failed,
    /// Withdrawn by a later change.
    Cancelled,
}

impl JobStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Sent => "sent",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    fn parse(raw: &str) -> Result<Self, DbError> {
        Ok(match raw {
            "pending" => JobStatus::Pending,
            "running" => JobStatus::Running,
            "sent" => JobStatus::Sent,
            "failed" => JobStatus::Failed,
            "cancelled" => JobStatus::Cancelled,
            other => return Err(DbError::Corrupt(format!("job status {other:?}"))),
        })
    }
}

/// A job to enqueue.
#[derive(Clone)]
pub struct NewJob {
    /// What it is, e.g. `mail.session_invitation` (lower case, dots).
    pub kind: String,
    /// Unique per message: the same key enqueued twice makes one job.
    pub idempotency_key: String,
    /// Jobs withdrawn together by [`cancel_group`].
    pub group_key: Option<String>,
    /// The recipient's address (shown to admins).
    pub recipient: String,
    /// The subject (shown to admins; no case content beyond a reference).
    pub subject: String,
    /// What the worker needs to send it.
    pub payload: serde_json::Value,
    /// Not before.
    pub run_at: DateTime<Utc>,
}

impl std::fmt::Debug for NewJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewJob")
            .field("kind", &self.kind)
            .field("idempotency_key", &self.idempotency_key)
            .field("run_at", &self.run_at)
            .finish_non_exhaustive()
    }
}

/// A job as admins see it (no payload).
#[derive(Debug, Clone)]
pub struct JobSummary {
    /// Its id.
    pub id: uuid::Uuid,
    /// What it is.
    pub kind: String,
    /// To whom.
    pub recipient: String,
    /// Subject line.
    pub subject: String,
    /// Where it stands.
    pub status: JobStatus,
    /// Attempts made.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// The latest error.
    pub last_error: Option<String>,
    /// Next (or first) attempt.
    pub run_at: DateTime<Utc>,
    /// Enqueued.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it was handed to the mail server.
    pub sent_at: Option<DateTime<Utc>>,
}

/// A job claimed by a worker.
#[derive(Clone)]
pub struct ClaimedJob {
    /// Its id.
    pub id: uuid::Uuid,
    /// What it is.
    pub kind: String,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// What to send.
    pub payload: serde_json::Value,
    /// This attempt's number (1 for the first).
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
}

impl std::fmt::Debug for ClaimedJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedJob")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: uuid::Uuid,
    kind: String,
    recipient: String,
    subject: String,
    status: String,
    attempts: i32,
    max_attempts: i32,
    last_error: Option<String>,
    run_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
}

impl TryFrom<SummaryRow> for JobSummary {
    type Error = DbError;
    fn try_from(r: SummaryRow) -> Result<Self, DbError> {
        Ok(JobSummary {
            id: r.id,
            kind: r.kind,
            recipient: r.recipient,
            subject: r.subject,
            status: JobStatus::parse(&r.status)?,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            last_error: r.last_error,
            run_at: r.run_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            sent_at: r.sent_at,
        })
    }
}

const SUMMARY_COLUMNS: &str = "id, kind, recipient, subject, status, attempts, max_attempts, \
     last_error, run_at, created_at, updated_at, sent_at";

/// Enqueues `job` in the caller's transaction, for the transaction's org.
/// Returns false when a job with the same idempotency key exists already.
pub async fn enqueue(conn: &mut PgConnection, job: &NewJob) -> Result<bool, DbError> {
    let inserted = sqlx::query(
        "INSERT INTO jobs (id, org_id, kind, idempotency_key, group_key, recipient, subject, payload, run_at)
         VALUES ($1, accord_org(), $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(&job.kind)
    .bind(&job.idempotency_key)
    .bind(&job.group_key)
    .bind(&job.recipient)
    .bind(&job.subject)
    .bind(&job.payload)
    .bind(job.run_at)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Withdraws the pending jobs of `group_key`; returns how many.
pub async fn cancel_group(conn: &mut PgConnection, group_key: &str) -> Result<u64, DbError> {
    Ok(sqlx::query(
        "UPDATE jobs SET status = 'cancelled', payload = NULL, updated_at = now()
         WHERE group_key = $1 AND status = 'pending'",
    )
    .bind(group_key)
    .execute(conn)
    .await?
    .rows_affected())
}

/// The orgs with jobs due now (`None`: account-level mail), at most `limit`.
pub async fn due_orgs(db: &Db, limit: i32) -> Result<Vec<Option<OrgId>>, DbError> {
    let ids: Vec<Option<uuid::Uuid>> =
        sqlx::query_scalar("SELECT org_id FROM accord_jobs_due_orgs($1)")
            .bind(limit)
            .fetch_all(db.pool())
            .await?;
    Ok(ids.into_iter().map(|o| o.map(OrgId::from_uuid)).collect())
}

/// A transaction of the worker, confined to `org`'s jobs (or to
/// account-level jobs for `None`) by row-level security.
pub async fn scoped(
    db: &Db,
    org: Option<OrgId>,
) -> Result<Transaction<'static, Postgres>, DbError> {
    let mut tx = db.pool().begin().await?;
    sqlx::query("SELECT set_config('accord.org_id', $1, true)")
        .bind(org.map(|o| o.to_string()).unwrap_or_default())
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Claims up to `limit` due mail jobs for `lease`; commit to make the claim
/// stick. The vault's jobs (`vault.*`) are its own worker's
/// (`accord_db::documents::claim_jobs`).
pub async fn claim(
    conn: &mut PgConnection,
    limit: i64,
    lease: Duration,
) -> Result<Vec<ClaimedJob>, DbError> {
    let rows: Vec<(
        uuid::Uuid,
        String,
        String,
        Option<serde_json::Value>,
        i32,
        i32,
    )> = sqlx::query_as(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1,
                 locked_until = now() + make_interval(secs => $2), updated_at = now()
             WHERE id IN (
                 SELECT id FROM jobs
                 WHERE ((status = 'pending' AND run_at <= now())
                    OR (status = 'running' AND locked_until < now()))
                   AND kind NOT LIKE 'vault.%'
                 ORDER BY run_at
                 FOR UPDATE SKIP LOCKED
                 LIMIT $1)
             RETURNING id, kind, idempotency_key, payload, attempts, max_attempts",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, kind, idempotency_key, payload, attempt, max_attempts)| ClaimedJob {
                id,
                kind,
                idempotency_key,
                payload: payload.unwrap_or(serde_json::Value::Null),
                attempt,
                max_attempts,
            },
        )
        .collect())
}

/// Marks the job sent and clears its payload. False when the lease was lost
/// (another worker took the job over, or it was marked already).
pub async fn mark_sent(
    conn: &mut PgConnection,
    id: uuid::Uuid,
    attempt: i32,
) -> Result<bool, DbError> {
    Ok(sqlx::query(
        "UPDATE jobs SET status = 'sent', sent_at = now(), updated_at = now(),
             payload = NULL, locked_until = NULL, last_error = NULL
         WHERE id = $1 AND status = 'running' AND attempts = $2",
    )
    .bind(id)
    .bind(attempt)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// The wait before attempt `attempt + 1`: 30 s doubling per attempt, at most an hour.
pub fn backoff(attempt: i32) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    Duration::from_secs(30u64.saturating_mul(1u64 << exp).min(3600))
}

/// Records a failed attempt: back to `pending` after [`backoff`], or
/// `failed` when `permanent` or out of attempts. Returns the new status.
pub async fn mark_failed(
    conn: &mut PgConnection,
    id: uuid::Uuid,
    attempt: i32,
    error: &str,
    permanent: bool,
) -> Result<Option<JobStatus>, DbError> {
    let error: String = error.chars().take(2000).collect();
    let status: Option<String> = sqlx::query_scalar(
        "UPDATE jobs SET
             status = CASE WHEN $4 OR attempts >= max_attempts THEN 'failed' ELSE 'pending' END,
             run_at = now() + make_interval(secs => $5),
             locked_until = NULL, last_error = $3, updated_at = now()
         WHERE id = $1 AND status = 'running' AND attempts = $2
         RETURNING status",
    )
    .bind(id)
    .bind(attempt)
    .bind(error)
    .bind(permanent)
    .bind(backoff(attempt).as_secs_f64())
    .fetch_optional(conn)
    .await?;
    status.as_deref().map(JobStatus::parse).transpose()
}

/// The org's jobs in `statuses`, most recently changed first.
pub async fn list(
    conn: &mut PgConnection,
    statuses: &[JobStatus],
    limit: i64,
) -> Result<Vec<JobSummary>, DbError> {
    let statuses: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    let rows: Vec<SummaryRow> = sqlx::query_as(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM jobs WHERE status = ANY($1) AND kind NOT LIKE 'vault.%'
         ORDER BY updated_at DESC, id DESC LIMIT $2"
    ))
    .bind(&statuses)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(JobSummary::try_from).collect()
}

/// One job.
pub async fn get(conn: &mut PgConnection, id: uuid::Uuid) -> Result<JobSummary, DbError> {
    let row: SummaryRow =
        sqlx::query_as(&format!("SELECT {SUMMARY_COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_one(conn)
            .await?;
    row.try_into()
}

/// Puts a failed job back in the queue, due now, with a fresh set of
/// attempts. `NotFound` unless the job exists and has failed.
pub async fn retry(conn: &mut PgConnection, id: uuid::Uuid) -> Result<JobSummary, DbError> {
    let row: SummaryRow = sqlx::query_as(&format!(
        "UPDATE jobs SET status = 'pending', run_at = now(), attempts = 0, updated_at = now()
         WHERE id = $1 AND status = 'failed' AND payload IS NOT NULL
         RETURNING {SUMMARY_COLUMNS}"
    ))
    .bind(id)
    .fetch_one(conn)
    .await?;
    row.try_into()
}

/// The calendar `SEQUENCE` of `session`: 0 the first time; with `raise`,
/// one more than before (each move or cancellation).
pub async fn calendar_sequence(
    conn: &mut PgConnection,
    session: SessionId,
    raise: bool,
) -> Result<u32, DbError> {
    let seq: i32 = sqlx::query_scalar(
        "INSERT INTO session_calendar_sequences (session_id, org_id) VALUES ($1, accord_org())
         ON CONFLICT (session_id) DO UPDATE
             SET sequence = session_calendar_sequences.sequence + CASE WHEN $2 THEN 1 ELSE 0 END
         RETURNING sequence",
    )
    .bind(session.as_uuid())
    .bind(raise)
    .fetch_one(conn)
    .await?;
    u32::try_from(seq).map_err(|_| DbError::Corrupt("negative calendar sequence".into()))
}

/// Records what became of an invitation's mail (`accord_db::invitations`'
/// delivery state), from the worker, which holds no tenant transaction.
pub async fn record_invitation_delivery(
    conn: &mut PgConnection,
    invitation_id: uuid::Uuid,
    state: crate::invitations::DeliveryState,
    detail: Option<&str>,
) -> Result<(), DbError> {
    let detail = detail.map(|d| d.chars().take(200).collect::<String>());
    sqlx::query(
        "UPDATE invitations SET delivery_state = $2, delivery_detail = $3, delivery_updated_at = now()
         WHERE org_id = accord_org() AND id = $1",
    )
    .bind(invitation_id)
    .bind(state.as_str())
    .bind(detail)
    .execute(conn)
    .await?;
    Ok(())
}

/// What an account chose for reading mail: its own time zone (an IANA
/// name) and locale tag, each `None` when not chosen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReaderPreferences {
    /// Their time zone.
    pub time_zone: Option<String>,
    /// Their locale tag.
    pub locale: Option<String>,
}

/// The time zones and locales the accounts `users` chose, where they chose
/// any and the org may see them.
pub async fn preferences_of(
    conn: &mut PgConnection,
    users: &[UserId],
) -> Result<HashMap<UserId, ReaderPreferences>, DbError> {
    let ids: Vec<uuid::Uuid> = users.iter().map(|u| u.as_uuid()).collect();
    let rows: Vec<(uuid::Uuid, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT id, time_zone, locale FROM users WHERE id = ANY($1) \
         AND (time_zone IS NOT NULL OR locale IS NOT NULL)",
    )
    .bind(&ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, time_zone, locale)| {
            (
                UserId::from_uuid(id),
                ReaderPreferences { time_zone, locale },
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(30));
        assert_eq!(backoff(2), Duration::from_secs(60));
        assert_eq!(backoff(4), Duration::from_secs(240));
        assert_eq!(backoff(20), Duration::from_secs(3600));
    }
}

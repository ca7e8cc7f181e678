//! A case's timeline, read from the org's audit log: the events whose
//! target is the case itself or one of its parties, sessions, invoices,
//! conflict overrides, agreements or document versions. Each target is read
//! under the viewer's row-level security, so a document version the viewer
//! may not see contributes no event. The audit log holds identifiers only, so the timeline
//! does too; the API names things and decides who sees which event.

use accord_domain::{CaseId, UserId};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{DbError, TenantTx};

/// One event on a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its position in the org's audit chain (the page cursor).
    pub seq: i64,
    /// When.
    pub occurred_at: DateTime<Utc>,
    /// What, e.g. `session.schedule`.
    pub action: String,
    /// The kind of object.
    pub target_type: String,
    /// The object.
    pub target_id: Option<Uuid>,
    /// Who, when a person did it.
    pub actor: Option<UserId>,
    /// For `session.held`: the minutes held as recorded now.
    pub minutes_held: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct Row {
    seq: i64,
    occurred_at: DateTime<Utc>,
    action: String,
    target_type: String,
    target_id: Option<Uuid>,
    actor_user_id: Option<Uuid>,
    held_seconds: Option<f64>,
}

/// Up to `limit` events on `case` older than `before` (a `seq`), newest
/// first, limited to the `actions` given.
pub async fn page(
    tx: &mut TenantTx,
    case: CaseId,
    actions: &[&str],
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Entry>, DbError> {
    let actions: Vec<String> = actions.iter().map(|a| (*a).to_owned()).collect();
    let rows: Vec<Row> = sqlx::query_as(
        "WITH targets(id) AS ( \
             SELECT $1::uuid \
             UNION ALL SELECT id FROM case_parties WHERE case_id = $1 \
             UNION ALL SELECT id FROM sessions WHERE case_id = $1 \
             UNION ALL SELECT id FROM invoices WHERE case_id = $1 \
             UNION ALL SELECT id FROM conflict_overrides WHERE case_id = $1 \
             UNION ALL SELECT id FROM agreements WHERE case_id = $1 \
             UNION ALL SELECT id FROM document_versions WHERE case_id = $1) \
         SELECT e.seq, e.occurred_at, e.action, e.target_type, e.target_id, e.actor_user_id, \
                CASE WHEN e.action = 'session.held' THEN \
                  (SELECT extract(epoch FROM h.ended_at - h.started_at)::float8 \
                   FROM held_sessions h WHERE h.session_id = e.target_id) END AS held_seconds \
         FROM audit_events e \
         WHERE e.target_id IN (SELECT id FROM targets) \
           AND e.action = ANY($2) \
           AND ($3::bigint IS NULL OR e.seq < $3) \
         ORDER BY e.seq DESC LIMIT $4",
    )
    .bind(case.as_uuid())
    .bind(&actions)
    .bind(before)
    .bind(limit)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Entry {
            seq: r.seq,
            occurred_at: r.occurred_at,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            actor: r.actor_user_id.map(UserId::from_uuid),
            minutes_held: r.held_seconds.map(|s| ((s / 60.0).round() as i64).max(1)),
        })
        .collect())
}

//! A case's audit record for a compliance export: every event of the org's
//! hash-chained audit log whose target is the case or one of its people,
//! sessions, invoices, conflict overrides, documents or document versions,
//! with the chain hashes, so whoever receives the export can check each
//! event against the org's chain.

use accord_domain::CaseId;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{DbError, TenantTx};

/// One audit event of the case, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RecordEvent {
    /// Its position in the org's chain.
    pub seq: i64,
    /// Its id.
    pub id: Uuid,
    /// When.
    pub occurred_at: DateTime<Utc>,
    /// Who, when a person did it.
    pub actor_user_id: Option<Uuid>,
    /// What, e.g. `party.add`.
    pub action: String,
    /// The kind of object.
    pub target_type: String,
    /// The object.
    pub target_id: Option<Uuid>,
    /// The previous event's hash in the org's chain.
    pub prev_hash: Vec<u8>,
    /// This event's hash.
    pub hash: Vec<u8>,
}

/// Every audit event on `case`, oldest first.
pub async fn case_events(tx: &mut TenantTx, case: CaseId) -> Result<Vec<RecordEvent>, DbError> {
    Ok(sqlx::query_as(
        "WITH targets(id) AS ( \
             SELECT $1::uuid \
             UNION ALL SELECT id FROM case_parties WHERE case_id = $1 \
             UNION ALL SELECT id FROM sessions WHERE case_id = $1 \
             UNION ALL SELECT id FROM invoices WHERE case_id = $1 \
             UNION ALL SELECT id FROM conflict_overrides WHERE case_id = $1 \
             UNION ALL SELECT id FROM documents WHERE case_id = $1 \
             UNION ALL SELECT id FROM document_versions WHERE case_id = $1) \
         SELECT seq, id, occurred_at, actor_user_id, action, target_type, target_id, \
                prev_hash, hash \
         FROM audit_events \
         WHERE target_id IN (SELECT id FROM targets) \
         ORDER BY seq",
    )
    .bind(case.as_uuid())
    .fetch_all(tx.conn())
    .await?)
}

//! Spent join tokens: each `jti` is admitted once, across every SFU node.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Db, DbError};

/// Spends a join token's `jti`. True the first time, false for a replay.
/// Also forgets tokens that expired more than an hour ago (a replayed one of
/// those is refused as expired before it gets here).
pub async fn spend(
    db: &Db,
    jti: Uuid,
    org_id: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<bool, DbError> {
    sqlx::query("DELETE FROM spent_join_tokens WHERE expires_at < now() - interval '1 hour'")
        .execute(db.pool())
        .await?;
    let spent = sqlx::query(
        "INSERT INTO spent_join_tokens (jti, org_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(jti)
    .bind(org_id)
    .bind(expires_at)
    .execute(db.pool())
    .await?;
    Ok(spent.rows_affected() == 1)
}

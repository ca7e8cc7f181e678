//! The SFU's [`LiveStore`] over `accord-db`: join tokens are spent in
//! Postgres (shared by every node), live-session events appended to the
//! org's audit chain in a transaction scoped to that org, and the time a
//! session was held added to its record (`session.held` in the audit log,
//! by the system), which invoices charge.

use accord_db::Db;
use accord_domain::{OrgId, SessionId, UserId};
use accord_sfu::store::{AuditEvent, HeldTime, LiveStore, StoreError, StoreFuture};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The database, as the SFU driver uses it.
#[derive(Debug, Clone)]
pub struct DbLiveStore {
    db: Db,
}

impl DbLiveStore {
    /// Over the application's pool.
    pub fn new(db: Db) -> Self {
        DbLiveStore { db }
    }
}

impl LiveStore for DbLiveStore {
    fn spend_join_token(
        &self,
        jti: Uuid,
        org: Uuid,
        expires: DateTime<Utc>,
    ) -> StoreFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            accord_db::join_tokens::spend(&self.db, jti, org, expires)
                .await
                .map_err(|e| StoreError(e.to_string()))
        })
    }

    fn append_audit(&self, event: AuditEvent) -> StoreFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let result = async {
                let mut tx = self
                    .db
                    .tenant(
                        OrgId::from_uuid(event.org),
                        UserId::from_uuid(event.actor),
                        None,
                    )
                    .await?;
                accord_db::audit::append(&mut tx, event.action, "participant", Some(event.subject))
                    .await?;
                tx.commit().await
            }
            .await;
            result.map_err(|e| StoreError(e.to_string()))
        })
    }

    fn record_held(&self, held: HeldTime) -> StoreFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let result = async {
                let mut tx =
                    accord_db::documents::system_tx(&self.db, OrgId::from_uuid(held.org)).await?;
                let session = SessionId::from_uuid(held.session);
                if accord_db::fees::add_held_live(&mut tx, session, held.started_at, held.seconds)
                    .await?
                {
                    accord_db::audit::append(
                        &mut tx,
                        "session.held",
                        "session",
                        Some(held.session),
                    )
                    .await?;
                }
                tx.commit().await
            }
            .await;
            result.map_err(|e| StoreError(e.to_string()))
        })
    }
}

//! What the SFU driver needs of the database, as a trait the server
//! implements over `accord-db`: spending a join token's id once (shared by
//! every node, so a token works on one node only once), appending
//! live-session events to the org's hash-chained audit log, and recording
//! how long a session was held (what invoices charge). The driver has no
//! database crate of its own.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A boxed future, as the trait's methods return (the trait is used as an
/// object: one store for every session).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A live-session event for the audit log: identifiers only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditEvent {
    /// The org the session belongs to.
    pub org: Uuid,
    /// Who did it (a participant id, which is their user id).
    pub actor: Uuid,
    /// What, e.g. `live.admit`.
    pub action: &'static str,
    /// To whom (a participant id).
    pub subject: Uuid,
}

/// How long one run of a live session was held: the time its mediator was
/// connected with someone admitted
/// ([`accord_sfu_core::session::LiveSession::in_session`]),
/// summed over the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldTime {
    /// The org the session belongs to.
    pub org: Uuid,
    /// The scheduled session.
    pub session: Uuid,
    /// When it was first held in this run.
    pub started_at: DateTime<Utc>,
    /// The time held, in whole seconds (at least one).
    pub seconds: i64,
}

/// The store failed; logged by the driver, never shown to clients.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// The database as the SFU uses it.
pub trait LiveStore: Send + Sync + 'static {
    /// Marks the join token `jti` of `org` as used until `expires`: `true`
    /// the first time, `false` when it was used already.
    fn spend_join_token(
        &self,
        jti: Uuid,
        org: Uuid,
        expires: DateTime<Utc>,
    ) -> StoreFuture<'_, Result<bool, StoreError>>;

    /// Appends `event` to its org's audit log.
    fn append_audit(&self, event: AuditEvent) -> StoreFuture<'_, Result<(), StoreError>>;

    /// Adds a run's held time to its session's record (a later run of the
    /// same session adds to it), unless staff recorded the session's times
    /// by hand, which stand.
    fn record_held(&self, held: HeldTime) -> StoreFuture<'_, Result<(), StoreError>>;
}

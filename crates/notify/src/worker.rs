//! The worker that drains the job queue (`accord_db::jobs`) into a [`Mailer`].
//!
//! It wakes every `poll_interval`, or at once when [`Wake::notify`] says a
//! request has just committed jobs, and sends what is due, org by org.
//! Delivery is at least once: see `accord_db::jobs` for the one window (a
//! crash after the mail server accepted a message and before the job was
//! marked) in which a message is sent twice, with the same `Message-ID`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use accord_db::invitations::DeliveryState;
use accord_db::{jobs, Db, DbError};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::Notify;

use crate::{FailureReason, Mail, Mailer};

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The longest wait between two looks at the queue.
    pub poll_interval: Duration,
    /// Jobs claimed at once per org.
    pub batch: i64,
    /// How long a claimed job is the worker's before another may take it
    /// (longer than any send: it bounds the redelivery delay after a crash).
    pub lease: Duration,
    /// Where failed attempts are counted (the API's `/metrics` renders the
    /// one it hands out).
    pub failures: MailFailures,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            poll_interval: Duration::from_secs(5),
            batch: 20,
            lease: Duration::from_secs(300),
            failures: MailFailures::default(),
        }
    }
}

/// Failed delivery attempts, by [`FailureReason`] only: a counter family
/// shared by the worker that counts and the registry that renders it.
#[derive(Debug, Clone)]
pub struct MailFailures(Family<Vec<(&'static str, String)>, Counter>);

impl Default for MailFailures {
    fn default() -> Self {
        let family = Family::default();
        // Every reason is present from the start, at zero, so a rate over
        // it is defined before the first failure.
        for reason in FailureReason::ALL {
            let _ = family.get_or_create(&Self::labels(reason));
        }
        MailFailures(family)
    }
}

impl MailFailures {
    fn labels(reason: FailureReason) -> Vec<(&'static str, String)> {
        vec![("reason", reason.as_str().to_owned())]
    }

    /// Counts one failed attempt.
    pub fn record(&self, reason: FailureReason) {
        self.0.get_or_create(&Self::labels(reason)).inc();
    }

    /// Failed attempts so far for `reason`.
    pub fn count(&self, reason: FailureReason) -> u64 {
        self.0.get_or_create(&Self::labels(reason)).get()
    }

    /// The counter family, to register in a `prometheus-client` registry.
    pub fn family(&self) -> Family<Vec<(&'static str, String)>, Counter> {
        self.0.clone()
    }
}

/// Wakes the worker early; the API notifies it after committing jobs.
pub type Wake = Arc<Notify>;

/// A job's payload: the rendered message and, for a mail carrying an invite
/// link, the invitation whose delivery state the worker records.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct MailJob {
    /// What to send.
    pub mail: Mail,
    /// The invitation the message carries, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_id: Option<uuid::Uuid>,
}

impl std::fmt::Debug for MailJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailJob")
            .field("invitation_id", &self.invitation_id)
            .finish_non_exhaustive()
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Jobs handed to the mail server.
    pub sent: usize,
    /// Jobs that failed this time (retried later, or failed for good).
    pub failed: usize,
}

/// Runs until `shutdown` resolves; a pass in progress finishes first, so a
/// message handed to the server is also marked.
pub async fn run(
    db: Db,
    mailer: Mailer,
    config: WorkerConfig,
    wake: Wake,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        match run_once(&db, &mailer, &config).await {
            Ok(pass) if pass.sent + pass.failed > 0 => {
                tracing::info!(sent = pass.sent, failed = pass.failed, "mail queue pass");
                // There may be more: look again at once.
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "mail queue pass failed"),
        }
        tokio::select! {
            () = &mut shutdown => break,
            () = wake.notified() => {}
            () = tokio::time::sleep(config.poll_interval) => {}
        }
    }
    tracing::info!("mail worker stopped");
}

/// Sends every job due now, once.
pub async fn run_once(db: &Db, mailer: &Mailer, config: &WorkerConfig) -> Result<Pass, DbError> {
    let mut pass = Pass::default();
    for org in jobs::due_orgs(db, 100).await? {
        let mut tx = jobs::scoped(db, org).await?;
        let claimed = jobs::claim(&mut tx, config.batch, config.lease).await?;
        tx.commit().await?;
        for job in claimed {
            let parsed = serde_json::from_value::<MailJob>(job.payload.clone());
            let invitation = parsed.as_ref().ok().and_then(|j| j.invitation_id);
            let result = match &parsed {
                Ok(job) => mailer.send(&job.mail).await,
                Err(e) => Err(crate::MailError::Permanent(format!("unreadable job: {e}"))),
            };
            let mut tx = jobs::scoped(db, org).await?;
            match result {
                Ok(()) => {
                    if !jobs::mark_sent(&mut tx, job.id, job.attempt).await? {
                        tracing::warn!(job = %job.id, "sent a job whose lease another worker took");
                    }
                    if let Some(id) = invitation {
                        jobs::record_invitation_delivery(
                            &mut tx,
                            id,
                            DeliveryState::Delivered,
                            None,
                        )
                        .await?;
                    }
                    pass.sent += 1;
                }
                Err(e) => {
                    let status = jobs::mark_failed(
                        &mut tx,
                        job.id,
                        job.attempt,
                        &e.to_string(),
                        e.is_permanent(),
                    )
                    .await?;
                    if let (Some(id), Some(jobs::JobStatus::Failed)) = (invitation, status) {
                        jobs::record_invitation_delivery(
                            &mut tx,
                            id,
                            DeliveryState::Failed,
                            Some(if e.is_permanent() {
                                "refused"
                            } else {
                                "gave up"
                            }),
                        )
                        .await?;
                    }
                    tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempt, ?status, error = %e, "mail not sent");
                    config.failures.record(e.reason());
                    pass.failed += 1;
                }
            }
            tx.commit().await?;
        }
    }
    Ok(pass)
}

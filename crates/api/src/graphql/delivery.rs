//! Mail delivery as org admins see it: what is waiting, what failed (with the
//! mail server's reason), and a retry for what failed. Rows come from the job
//! queue under the org's row-level security; bodies are never shown.

use accord_db::jobs::{self, JobStatus, JobSummary};
use accord_db::{audit, TenantTx};
use accord_domain::Role;
use async_graphql::{Context, Enum, Object, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::types::not_found;
use super::{mutate, read};
use crate::ApiError;

/// Where a message stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum MailDeliveryStatus {
    /// Waiting for its time or its next attempt.
    Pending,
    /// Being sent.
    Running,
    /// Accepted by the mail server.
    Sent,
    /// Given up: retry it once the cause is fixed.
    Failed,
    /// Withdrawn by a later change (a moved or cancelled session).
    Cancelled,
}

impl From<JobStatus> for MailDeliveryStatus {
    fn from(s: JobStatus) -> Self {
        match s {
            JobStatus::Pending => Self::Pending,
            JobStatus::Running => Self::Running,
            JobStatus::Sent => Self::Sent,
            JobStatus::Failed => Self::Failed,
            JobStatus::Cancelled => Self::Cancelled,
        }
    }
}

impl From<MailDeliveryStatus> for JobStatus {
    fn from(s: MailDeliveryStatus) -> Self {
        match s {
            MailDeliveryStatus::Pending => Self::Pending,
            MailDeliveryStatus::Running => Self::Running,
            MailDeliveryStatus::Sent => Self::Sent,
            MailDeliveryStatus::Failed => Self::Failed,
            MailDeliveryStatus::Cancelled => Self::Cancelled,
        }
    }
}

/// One outgoing message.
#[derive(SimpleObject, Debug)]
pub struct MailDelivery {
    /// Its id.
    pub id: Uuid,
    /// What it is, e.g. `mail.session_invitation`.
    pub kind: String,
    /// To whom.
    pub recipient: String,
    /// Its subject (a case reference at most).
    pub subject: String,
    /// Where it stands.
    pub status: MailDeliveryStatus,
    /// Attempts made.
    pub attempts: i32,
    /// Attempts allowed before it fails.
    pub max_attempts: i32,
    /// The mail server's latest refusal or the connection error.
    pub last_error: Option<String>,
    /// When it is (or was) due.
    pub run_at: DateTime<Utc>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When the mail server accepted it.
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<JobSummary> for MailDelivery {
    fn from(j: JobSummary) -> Self {
        MailDelivery {
            id: j.id,
            kind: j.kind,
            recipient: j.recipient,
            subject: j.subject,
            status: j.status.into(),
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            last_error: j.last_error,
            run_at: j.run_at,
            created_at: j.created_at,
            updated_at: j.updated_at,
            sent_at: j.sent_at,
        }
    }
}

/// Only org admins see and retry deliveries.
fn org_admin_only(tx: &TenantTx) -> Result<(), ApiError> {
    if tx.actor().role == Role::OrgAdmin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only org admins see mail deliveries".into(),
        ))
    }
}

/// Reads about mail delivery.
#[derive(Debug, Default)]
pub struct DeliveryQuery;

#[Object]
impl DeliveryQuery {
    /// The org's outgoing messages in `statuses` (default: pending, running
    /// and failed), most recently changed first; at most `first` (1 to 200).
    async fn mail_deliveries(
        &self,
        ctx: &Context<'_>,
        statuses: Option<Vec<MailDeliveryStatus>>,
        #[graphql(default = 50)] first: i32,
    ) -> async_graphql::Result<Vec<MailDelivery>> {
        if !(1..=200).contains(&first) {
            return Err(super::gql(ApiError::bad_input(
                "first",
                "must be between 1 and 200",
            )));
        }
        let statuses: Vec<JobStatus> = statuses
            .unwrap_or_else(|| {
                vec![
                    MailDeliveryStatus::Pending,
                    MailDeliveryStatus::Running,
                    MailDeliveryStatus::Failed,
                ]
            })
            .into_iter()
            .map(Into::into)
            .collect();
        read(ctx, move |tx| {
            Box::pin(async move {
                org_admin_only(tx)?;
                let rows = jobs::list(tx.conn(), &statuses, i64::from(first)).await?;
                Ok(rows.into_iter().map(MailDelivery::from).collect())
            })
        })
        .await
    }
}

/// Writes about mail delivery.
#[derive(Debug, Default)]
pub struct DeliveryMutation;

#[Object]
impl DeliveryMutation {
    /// Puts a failed message back in the queue, due now, with a fresh set of
    /// attempts. Only failed messages can be retried (`NOT_FOUND` otherwise).
    async fn retry_mail_delivery(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> async_graphql::Result<MailDelivery> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                org_admin_only(tx)?;
                let job = jobs::retry(tx.conn(), id)
                    .await
                    .map_err(not_found("failed mail delivery"))?;
                audit::append(tx, "mail.retry", "mail", Some(id)).await?;
                Ok(job.into())
            })
        })
        .await
    }
}

//! A case's timeline (`caseTimeline`), newest first and paged: the case
//! opened, people added and invited, sessions scheduled, moved, cancelled and
//! held (with the minutes actually held), intake answered, invoices issued,
//! paid and refunded, conflicts overridden, agreements drafted, sent and
//! signed, documents added, status changes, compliance records exported.
//!
//! It is read from the audit log, so it holds what happened and who did it,
//! never content. Who sees which events follows the underlying objects: org
//! admins and the case's mediator see them all; the people on the case see
//! the case, its people, its sessions, the invoices they have a share of,
//! their own intake, agreements once sent for signature, the documents they
//! may read (the documents' row-level security decides), and an overridden
//! conflict only when the org discloses conflicts. Invitations and drafts
//! stay with staff.

use std::collections::BTreeMap;

use accord_db::timeline::{self as store, Entry};
use accord_db::{cases, conflicts, invoices, members, sessions, TenantTx};
use accord_domain::invoice::invoice_number_label;
use accord_domain::{Action, CaseId, PartyId, Role, SessionId};
use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::types::not_found;
use super::{authorize, read};
use crate::ApiError;

/// Events staff see.
const STAFF: &[&str] = &[
    "case.create",
    "case.update_status",
    "case.assign_mediator",
    "party.add",
    "party.set_organization",
    "invitation.issue",
    "invitation.resend",
    "invitation.reinvite",
    "invitation.redeem",
    "session.schedule",
    "session.reschedule",
    "session.cancel",
    "session.held",
    "intake.submit",
    "billing.set_split",
    "invoice.draft",
    "invoice.issue",
    "invoice.mark_paid",
    "invoice.void",
    "invoice.credit_note",
    "conflict.override",
    "case.compliance_export",
    "case.compliance_export_content",
    "agreement.draft",
    "agreement.edit",
    "agreement.send",
    "agreement.sign",
    "agreement.complete",
    "document.upload",
];

/// Events the people on a case see (`intake.submit` only their own,
/// `conflict.override` only when disclosed).
const PEOPLE: &[&str] = &[
    "case.create",
    "case.update_status",
    "case.assign_mediator",
    "party.add",
    "session.schedule",
    "session.reschedule",
    "session.cancel",
    "session.held",
    "intake.submit",
    "invoice.issue",
    "invoice.mark_paid",
    "invoice.void",
    "invoice.credit_note",
    "agreement.send",
    "agreement.sign",
    "agreement.complete",
    "document.upload",
];

/// One event on the timeline.
#[derive(SimpleObject, Debug, Clone)]
pub struct TimelineEntry {
    /// Its cursor.
    pub id: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// What happened, e.g. `session.held`.
    pub kind: String,
    /// In words, e.g. "Session held for 90 minutes".
    pub summary: String,
    /// Who did it, when a person did.
    pub actor_name: Option<String>,
    /// For a held session, the minutes held.
    pub minutes_held: Option<i64>,
}

/// A page of the timeline.
#[derive(SimpleObject, Debug, Clone)]
pub struct TimelinePage {
    /// Newest first.
    pub entries: Vec<TimelineEntry>,
    /// Pass as `after` for the next page; null on the last.
    pub end_cursor: Option<String>,
}

/// Names for the objects the entries point at.
#[derive(Default)]
struct Names {
    parties: BTreeMap<Uuid, String>,
    sessions: BTreeMap<Uuid, DateTime<Utc>>,
    invoices: BTreeMap<Uuid, String>,
    agreements: BTreeMap<Uuid, &'static str>,
    versions: BTreeMap<Uuid, i32>,
    people: BTreeMap<Uuid, String>,
}

fn summary(e: &Entry, names: &Names) -> String {
    let target = e.target_id.unwrap_or_default();
    let party = || {
        names
            .parties
            .get(&target)
            .cloned()
            .unwrap_or_else(|| "someone no longer on the case".to_owned())
    };
    let session = || {
        names
            .sessions
            .get(&target)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| "a session".to_owned())
    };
    let invoice = || {
        names
            .invoices
            .get(&target)
            .cloned()
            .unwrap_or_else(|| "an invoice".to_owned())
    };
    let agreement = || {
        names
            .agreements
            .get(&target)
            .copied()
            .unwrap_or("Agreement")
    };
    match e.action.as_str() {
        "case.create" => "Case opened".to_owned(),
        "case.update_status" => "Case status changed".to_owned(),
        "case.assign_mediator" => "Mediator assigned".to_owned(),
        "party.add" => format!("{} added to the case", party()),
        "party.set_organization" => format!("Organisation recorded for {}", party()),
        "invitation.issue" => format!("Invitation sent to {}", party()),
        "invitation.resend" => format!("Invitation sent again to {}", party()),
        "invitation.reinvite" => format!("{} re-invited on a new device", party()),
        "invitation.redeem" => format!("{} opened their invitation", party()),
        "session.schedule" => format!("Session scheduled for {}", session()),
        "session.reschedule" => format!("Session moved to {}", session()),
        "session.cancel" => format!("Session of {} cancelled", session()),
        "session.held" => match e.minutes_held {
            Some(m) => format!("Session of {} held for {m} minutes", session()),
            None => format!("Session of {} held", session()),
        },
        "intake.submit" => format!("{} answered the intake form", party()),
        "billing.set_split" => "Fee split between the parties set".to_owned(),
        "invoice.draft" => "Invoice drafted".to_owned(),
        "invoice.issue" => format!("Invoice {} issued", invoice()),
        "invoice.mark_paid" => format!("Invoice {} paid", invoice()),
        "invoice.void" => format!("Invoice {} voided", invoice()),
        "invoice.credit_note" => format!("Credit note {} issued", invoice()),
        "conflict.override" => {
            "Mediator assigned despite a disclosed conflict of interest".to_owned()
        }
        "case.compliance_export" => "Compliance record exported".to_owned(),
        "case.compliance_export_content" => {
            "Compliance record exported with its content".to_owned()
        }
        "agreement.draft" => format!("{} drafted", agreement()),
        "agreement.edit" => format!("{} edited", agreement()),
        "agreement.send" => format!("{} sent for signature", agreement()),
        "agreement.sign" => format!("{} signed", agreement()),
        "agreement.complete" => format!("{} signed by everyone", agreement()),
        "document.upload" => match names.versions.get(&target) {
            Some(v) if *v > 1 => format!("Version {v} of a document added"),
            _ => "Document added".to_owned(),
        },
        other => other.to_owned(),
    }
}

async fn names(tx: &mut TenantTx, case: CaseId, entries: &[Entry]) -> Result<Names, ApiError> {
    let mut n = Names::default();
    for p in cases::parties(tx, case).await? {
        n.parties
            .insert(p.id.as_uuid(), p.display_name.as_str().to_owned());
    }
    let session_ids: Vec<SessionId> = entries
        .iter()
        .filter(|e| e.target_type == "session")
        .filter_map(|e| e.target_id.map(SessionId::from_uuid))
        .collect();
    for s in sessions::get_many(tx, &session_ids).await? {
        n.sessions.insert(s.id.as_uuid(), s.schedule.starts_at());
    }
    for i in invoices::for_case(tx, case).await? {
        let credit = i.kind == invoices::InvoiceKind::CreditNote;
        if let Some(number) = i.number {
            n.invoices
                .insert(i.id, invoice_number_label(number, credit));
        }
    }
    let of = |kind: &str| -> Vec<Uuid> {
        entries
            .iter()
            .filter(|e| e.target_type == kind)
            .filter_map(|e| e.target_id)
            .collect()
    };
    let agreements: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, kind FROM agreements WHERE id = ANY($1)")
            .bind(of("agreement"))
            .fetch_all(tx.conn())
            .await
            .map_err(super::messages::db)?;
    for (id, kind) in agreements {
        let name = if kind == "settlement" {
            "Settlement agreement"
        } else {
            "Agreement to mediate"
        };
        n.agreements.insert(id, name);
    }
    let versions: Vec<(Uuid, i32)> =
        sqlx::query_as("SELECT id, version FROM document_versions WHERE id = ANY($1)")
            .bind(of("document_version"))
            .fetch_all(tx.conn())
            .await
            .map_err(super::messages::db)?;
    n.versions.extend(versions);
    let actors: Vec<accord_domain::UserId> = entries.iter().filter_map(|e| e.actor).collect();
    for m in members::get_many(tx, &actors).await? {
        n.people
            .insert(m.user_id.as_uuid(), m.display_name.as_str().to_owned());
    }
    Ok(n)
}

/// Reads of the case timeline.
#[derive(Debug, Default)]
pub struct TimelineQuery;

#[Object]
impl TimelineQuery {
    /// A case's timeline, newest first: `first` entries (1 to 100, default
    /// 20) after the cursor `after`.
    async fn case_timeline(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> async_graphql::Result<TimelinePage> {
        read(ctx, move |tx| {
            Box::pin(async move {
                if !(1..=100).contains(&first) {
                    return Err(ApiError::bad_input("first", "must be between 1 and 100"));
                }
                let before = match after.as_deref() {
                    None => None,
                    Some(c) => Some(c.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        ApiError::bad_input("after", "not a cursor from this timeline")
                    })?),
                };
                let case = CaseId::from_uuid(case_id);
                authorize(tx, Action::ViewCase, Some(case)).await?;
                cases::get(tx, case).await.map_err(not_found("case"))?;
                let role = tx.actor().role;
                let staff = matches!(role, Role::OrgAdmin | Role::Mediator);
                let mut actions: Vec<&str> = if staff {
                    STAFF.to_vec()
                } else {
                    PEOPLE.to_vec()
                };
                let mut own: Vec<PartyId> = Vec::new();
                if !staff {
                    if conflicts::disclose_conflicts(tx).await? {
                        actions.push("conflict.override");
                    }
                    if let Some(user) = tx.actor().user_id {
                        own = invoices::parties_of_user(tx, case, user).await?;
                    }
                }
                // One more than asked, to know whether a next page exists.
                let want = i64::from(first);
                let mut rows: Vec<Entry> = Vec::new();
                let mut cursor = before;
                // Filtering after the query (someone else's intake) may leave a
                // page short; read on until it is full or the log is done.
                loop {
                    let batch = store::page(tx, case, &actions, cursor, want + 1).await?;
                    let done = (batch.len() as i64) < want + 1;
                    cursor = batch.last().map(|e| e.seq).or(cursor);
                    rows.extend(batch.into_iter().filter(|e| {
                        staff
                            || e.action != "intake.submit"
                            || e.target_id
                                .is_some_and(|t| own.iter().any(|p| p.as_uuid() == t))
                    }));
                    if done || rows.len() as i64 > want {
                        break;
                    }
                }
                let more = rows.len() as i64 > want;
                rows.truncate(usize::try_from(want).unwrap_or(0));
                let names = names(tx, case, &rows).await?;
                let end_cursor = if more {
                    rows.last().map(|e| e.seq.to_string())
                } else {
                    None
                };
                Ok(TimelinePage {
                    entries: rows
                        .iter()
                        .map(|e| TimelineEntry {
                            id: e.seq.to_string(),
                            occurred_at: e.occurred_at,
                            kind: e.action.clone(),
                            summary: summary(e, &names),
                            actor_name: e
                                .actor
                                .and_then(|a| names.people.get(&a.as_uuid()).cloned()),
                            minutes_held: e.minutes_held,
                        })
                        .collect(),
                    end_cursor,
                })
            })
        })
        .await
    }
}

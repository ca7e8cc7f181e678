//! Invoices and credit notes per case, with their lines and each party's
//! share, and gap-free numbering per org.
//!
//! A number is taken when an invoice is issued, by incrementing the org's
//! counter row for the series in the issuing transaction: the row stays
//! locked until that transaction ends, so concurrent issues queue behind it,
//! and an issue that rolls back gives its number back. Numbers therefore run
//! 1, 2, 3 … with no gap and no repeat, per org and series.

use accord_domain::invoice::InvoiceStatus;
use accord_domain::{CaseId, Currency, PartyId, UserId};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{DbError, TenantTx};

/// An invoice or a credit note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceKind {
    /// Charges the parties.
    Invoice,
    /// Refunds part of an invoice.
    CreditNote,
}

impl InvoiceKind {
    /// The stored name (also the numbering series).
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceKind::Invoice => "invoice",
            InvoiceKind::CreditNote => "credit_note",
        }
    }

    fn parse(raw: &str) -> Result<Self, DbError> {
        match raw {
            "invoice" => Ok(InvoiceKind::Invoice),
            "credit_note" => Ok(InvoiceKind::CreditNote),
            other => Err(DbError::Corrupt(format!("invoice kind {other}"))),
        }
    }
}

/// One line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// What is charged.
    pub description: String,
    /// Minutes held, for session lines.
    pub minutes: Option<i64>,
    /// The session charged, for session lines.
    pub session_id: Option<Uuid>,
    /// Minor units.
    pub amount: i64,
}

/// One party's share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// The party.
    pub party_id: PartyId,
    /// Their name when the invoice was made.
    pub party_name: String,
    /// Their part, in basis points.
    pub basis_points: u32,
    /// Their amount, in minor units.
    pub amount: i64,
}

/// An invoice with its lines and shares.
#[derive(Debug, Clone)]
pub struct Invoice {
    /// Its id.
    pub id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// Invoice or credit note.
    pub kind: InvoiceKind,
    /// For a credit note, the invoice it refunds.
    pub credits_invoice_id: Option<Uuid>,
    /// Where it stands.
    pub status: InvoiceStatus,
    /// Its number in the org's series, once issued.
    pub number: Option<i64>,
    /// The currency.
    pub currency: Currency,
    /// The total, in minor units (a credit note's is the amount refunded).
    pub total: i64,
    /// Who made it.
    pub created_by: Option<UserId>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was issued.
    pub issued_at: Option<DateTime<Utc>>,
    /// When it was paid.
    pub paid_at: Option<DateTime<Utc>>,
    /// When it was voided.
    pub voided_at: Option<DateTime<Utc>>,
    /// Its lines, in order.
    pub lines: Vec<Line>,
    /// Each party's share, in the order the split gave them.
    pub shares: Vec<Share>,
}

#[derive(sqlx::FromRow)]
struct InvoiceRow {
    id: Uuid,
    case_id: Uuid,
    kind: String,
    credits_invoice_id: Option<Uuid>,
    status: String,
    number: Option<i64>,
    currency: String,
    total_minor: i64,
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    issued_at: Option<DateTime<Utc>>,
    paid_at: Option<DateTime<Utc>>,
    voided_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, case_id, kind, credits_invoice_id, status, number, currency, \
     total_minor, created_by, created_at, issued_at, paid_at, voided_at";

/// A stored line: invoice, description, minutes, session, amount.
type LineRow = (Uuid, String, Option<i32>, Option<Uuid>, i64);

async fn hydrate(tx: &mut TenantTx, rows: Vec<InvoiceRow>) -> Result<Vec<Invoice>, DbError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let lines: Vec<LineRow> = sqlx::query_as(
        "SELECT invoice_id, description, minutes, session_id, amount_minor FROM invoice_lines \
         WHERE invoice_id = ANY($1) ORDER BY invoice_id, position",
    )
    .bind(&ids)
    .fetch_all(tx.conn())
    .await?;
    let shares: Vec<(Uuid, Uuid, String, i32, i64)> = sqlx::query_as(
        "SELECT invoice_id, party_id, party_name, basis_points, amount_minor FROM invoice_shares \
         WHERE invoice_id = ANY($1) ORDER BY invoice_id, basis_points DESC, party_id",
    )
    .bind(&ids)
    .fetch_all(tx.conn())
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Invoice {
                id: r.id,
                case_id: CaseId::from_uuid(r.case_id),
                kind: InvoiceKind::parse(&r.kind)?,
                credits_invoice_id: r.credits_invoice_id,
                status: InvoiceStatus::parse(&r.status)?,
                number: r.number,
                currency: Currency::parse(&r.currency)?,
                total: r.total_minor,
                created_by: r.created_by.map(UserId::from_uuid),
                created_at: r.created_at,
                issued_at: r.issued_at,
                paid_at: r.paid_at,
                voided_at: r.voided_at,
                lines: lines
                    .iter()
                    .filter(|l| l.0 == r.id)
                    .map(|l| Line {
                        description: l.1.clone(),
                        minutes: l.2.map(i64::from),
                        session_id: l.3,
                        amount: l.4,
                    })
                    .collect(),
                shares: shares
                    .iter()
                    .filter(|s| s.0 == r.id)
                    .map(|s| Share {
                        party_id: PartyId::from_uuid(s.1),
                        party_name: s.2.clone(),
                        basis_points: u32::try_from(s.3).unwrap_or(0),
                        amount: s.4,
                    })
                    .collect(),
            })
        })
        .collect()
}

/// What a new invoice or credit note holds.
#[derive(Debug, Clone)]
pub struct NewInvoice<'a> {
    /// The case.
    pub case_id: CaseId,
    /// Invoice or credit note.
    pub kind: InvoiceKind,
    /// For a credit note, the invoice refunded.
    pub credits_invoice_id: Option<Uuid>,
    /// The currency.
    pub currency: &'a Currency,
    /// The lines.
    pub lines: &'a [Line],
    /// The shares (summing to the lines' total).
    pub shares: &'a [Share],
}

/// Stores a draft.
pub async fn create_draft(tx: &mut TenantTx, new: NewInvoice<'_>) -> Result<Invoice, DbError> {
    let org = tx.actor().org_id.as_uuid();
    let id = Uuid::now_v7();
    let total: i64 = new.lines.iter().map(|l| l.amount).sum();
    sqlx::query(
        "INSERT INTO invoices (org_id, id, case_id, kind, credits_invoice_id, status, currency, \
         total_minor, created_by) VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $8)",
    )
    .bind(org)
    .bind(id)
    .bind(new.case_id.as_uuid())
    .bind(new.kind.as_str())
    .bind(new.credits_invoice_id)
    .bind(new.currency.as_str())
    .bind(total)
    .bind(tx.actor().user_id.map(|u| u.as_uuid()))
    .execute(tx.conn())
    .await?;
    for (i, line) in new.lines.iter().enumerate() {
        sqlx::query(
            "INSERT INTO invoice_lines (org_id, invoice_id, position, description, minutes, \
             session_id, amount_minor) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(org)
        .bind(id)
        .bind(i32::try_from(i).unwrap_or(i32::MAX))
        .bind(&line.description)
        .bind(line.minutes.map(|m| i32::try_from(m).unwrap_or(i32::MAX)))
        .bind(line.session_id)
        .bind(line.amount)
        .execute(tx.conn())
        .await?;
    }
    for share in new.shares {
        sqlx::query(
            "INSERT INTO invoice_shares (org_id, invoice_id, party_id, party_name, basis_points, \
             amount_minor) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(org)
        .bind(id)
        .bind(share.party_id.as_uuid())
        .bind(&share.party_name)
        .bind(i32::try_from(share.basis_points).unwrap_or(i32::MAX))
        .bind(share.amount)
        .execute(tx.conn())
        .await?;
    }
    get(tx, id).await
}

/// The invoice `id`.
pub async fn get(tx: &mut TenantTx, id: Uuid) -> Result<Invoice, DbError> {
    let row: InvoiceRow = sqlx::query_as(&format!("SELECT {COLUMNS} FROM invoices WHERE id = $1"))
        .bind(id)
        .fetch_one(tx.conn())
        .await?;
    hydrate(tx, vec![row]).await?.pop().ok_or(DbError::NotFound)
}

/// The invoice `id`, locked for a status change.
pub async fn get_for_update(tx: &mut TenantTx, id: Uuid) -> Result<Invoice, DbError> {
    sqlx::query("SELECT 1 FROM invoices WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_one(tx.conn())
        .await?;
    get(tx, id).await
}

/// A case's invoices and credit notes, oldest first.
pub async fn for_case(tx: &mut TenantTx, case: CaseId) -> Result<Vec<Invoice>, DbError> {
    let rows: Vec<InvoiceRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM invoices WHERE case_id = $1 ORDER BY created_at, id"
    ))
    .bind(case.as_uuid())
    .fetch_all(tx.conn())
    .await?;
    hydrate(tx, rows).await
}

/// The issued (or paid, void) invoices and credit notes with a share for a
/// person on a case whose account is `user`, newest first.
pub async fn for_user(tx: &mut TenantTx, user: UserId) -> Result<Vec<Invoice>, DbError> {
    let rows: Vec<InvoiceRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM invoices WHERE status <> 'draft' AND id IN ( \
           SELECT s.invoice_id FROM invoice_shares s \
           JOIN case_parties p ON p.id = s.party_id WHERE p.user_id = $1) \
         ORDER BY issued_at DESC, id DESC"
    ))
    .bind(user.as_uuid())
    .fetch_all(tx.conn())
    .await?;
    hydrate(tx, rows).await
}

/// The parties of the case whose account is `user`.
pub async fn parties_of_user(
    tx: &mut TenantTx,
    case: CaseId,
    user: UserId,
) -> Result<Vec<PartyId>, DbError> {
    let ids: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM case_parties WHERE case_id = $1 AND user_id = $2")
            .bind(case.as_uuid())
            .bind(user.as_uuid())
            .fetch_all(tx.conn())
            .await?;
    Ok(ids.into_iter().map(PartyId::from_uuid).collect())
}

/// Deletes a draft (issued invoices are never deleted).
pub async fn delete_draft(tx: &mut TenantTx, id: Uuid) -> Result<(), DbError> {
    let done = sqlx::query("DELETE FROM invoices WHERE id = $1 AND status = 'draft'")
        .bind(id)
        .execute(tx.conn())
        .await?;
    if done.rows_affected() == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}

/// Takes the next number of the org's `kind` series. The counter row stays
/// locked until the transaction ends.
async fn next_number(tx: &mut TenantTx, kind: InvoiceKind) -> Result<i64, DbError> {
    let org = tx.actor().org_id.as_uuid();
    sqlx::query(
        "INSERT INTO invoice_counters (org_id, series) VALUES ($1, $2) \
         ON CONFLICT (org_id, series) DO NOTHING",
    )
    .bind(org)
    .bind(kind.as_str())
    .execute(tx.conn())
    .await?;
    let n: i64 = sqlx::query_scalar(
        "UPDATE invoice_counters SET last_number = last_number + 1 \
         WHERE org_id = $1 AND series = $2 RETURNING last_number",
    )
    .bind(org)
    .bind(kind.as_str())
    .fetch_one(tx.conn())
    .await?;
    Ok(n)
}

/// Issues a draft: gives it the next number of its series.
pub async fn issue(tx: &mut TenantTx, id: Uuid, at: DateTime<Utc>) -> Result<Invoice, DbError> {
    let kind: String = sqlx::query_scalar(
        "SELECT kind FROM invoices WHERE id = $1 AND status = 'draft' FOR UPDATE",
    )
    .bind(id)
    .fetch_one(tx.conn())
    .await?;
    let number = next_number(tx, InvoiceKind::parse(&kind)?).await?;
    sqlx::query("UPDATE invoices SET status = 'issued', number = $2, issued_at = $3 WHERE id = $1")
        .bind(id)
        .bind(number)
        .bind(at)
        .execute(tx.conn())
        .await?;
    get(tx, id).await
}

/// Moves an issued invoice to paid or void (the caller checked the move).
pub async fn set_status(
    tx: &mut TenantTx,
    id: Uuid,
    status: InvoiceStatus,
    at: DateTime<Utc>,
) -> Result<Invoice, DbError> {
    let column = match status {
        InvoiceStatus::Paid => "paid_at",
        InvoiceStatus::Void => "voided_at",
        InvoiceStatus::Draft | InvoiceStatus::Issued => {
            return Err(DbError::Corrupt("set_status is for paid and void".into()))
        }
    };
    sqlx::query(&format!(
        "UPDATE invoices SET status = $2, {column} = $3 WHERE id = $1"
    ))
    .bind(id)
    .bind(status.as_str())
    .bind(at)
    .execute(tx.conn())
    .await?;
    get(tx, id).await
}

/// What credit notes have refunded of an invoice so far.
pub async fn credited(tx: &mut TenantTx, invoice: Uuid) -> Result<i64, DbError> {
    let sum: Option<i64> = sqlx::query_scalar(
        "SELECT sum(total_minor)::bigint FROM invoices \
         WHERE credits_invoice_id = $1 AND status <> 'void'",
    )
    .bind(invoice)
    .fetch_one(tx.conn())
    .await?;
    Ok(sum.unwrap_or(0))
}

/// The highest number issued in the org's `kind` series (0 before any).
pub async fn last_number(tx: &mut TenantTx, kind: InvoiceKind) -> Result<i64, DbError> {
    let n: Option<i64> =
        sqlx::query_scalar("SELECT last_number FROM invoice_counters WHERE series = $1")
            .bind(kind.as_str())
            .fetch_optional(tx.conn())
            .await?;
    Ok(n.unwrap_or(0))
}

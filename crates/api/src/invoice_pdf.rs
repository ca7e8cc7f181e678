//! `GET /invoices/{id}/pdf`: an invoice or credit note as a printable PDF,
//! made on request from the stored invoice (its lines, total and shares are
//! fixed once issued, so the same invoice always prints the same figures).
//!
//! Org admins and the case's mediator get every share. A person on the case
//! gets an issued, paid or void invoice they have a share of, with only their
//! own share; anything else, drafts included, is `NOT_FOUND` to them, as is
//! every id of another org.

use accord_db::invoices::{self as store, Invoice, InvoiceKind};
use accord_db::{cases, orgs};
use accord_domain::invoice::{invoice_number_label, InvoiceStatus};
use accord_domain::{PartyId, Role};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::graphql::types::not_found;
use crate::pdf::{Document, Font, PAGE_HEIGHT};
use crate::{web, ApiError, AppState};

/// `GET /invoices/{id}/pdf`
pub(crate) async fn download(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let rid = web::request_id(&headers);
    let result = render(&state, &headers, &id, rid.clone()).await;
    web::download(result, "application/pdf", rid.as_deref())
}

async fn render(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    rid: Option<String>,
) -> Result<(String, Vec<u8>), ApiError> {
    let signed_in = web::lookup_session(state, headers)
        .await?
        .ok_or_else(|| ApiError::Unauthenticated("sign in first".into()))?;
    let id: Uuid = id.parse().map_err(|_| ApiError::NotFound("invoice"))?;
    let me = signed_in.session.user_id;
    let mut tx = state.db().tenant(signed_in.session.org_id, me, rid).await?;
    let invoice = store::get(&mut tx, id)
        .await
        .map_err(not_found("invoice"))?;
    let case = cases::get(&mut tx, invoice.case_id)
        .await
        .map_err(not_found("invoice"))?;
    let staff = tx.actor().role == Role::OrgAdmin
        || (tx.actor().role == Role::Mediator && case.mediator_id == Some(me));
    let only: Option<Vec<PartyId>> = if staff {
        None
    } else {
        let mine = store::parties_of_user(&mut tx, case.id, me).await?;
        let has_share = invoice.shares.iter().any(|s| mine.contains(&s.party_id));
        if invoice.status == InvoiceStatus::Draft || !has_share {
            return Err(ApiError::NotFound("invoice"));
        }
        Some(mine)
    };
    let credits = match invoice.credits_invoice_id {
        Some(original) => store::get(&mut tx, original)
            .await
            .map_err(not_found("invoice"))?
            .number
            .map(|n| invoice_number_label(n, false)),
        None => None,
    };
    let org = orgs::current(&mut tx).await?;
    tx.commit().await?;
    let printable = Printable::new(
        org.name.as_str(),
        case.reference.as_str(),
        &invoice,
        credits,
        only.as_deref(),
    );
    let file_name = format!(
        "{}.pdf",
        printable
            .label
            .clone()
            .unwrap_or_else(|| format!("draft-{}", invoice.id))
    );
    Ok((file_name, printable.pdf()))
}

/// What an invoice prints, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Printable {
    /// The org that invoices.
    pub org: String,
    /// "Invoice" or "Credit note".
    pub kind: &'static str,
    /// `INV-000042`, or none for a draft.
    pub label: Option<String>,
    /// The case's reference.
    pub case_reference: String,
    /// Where it stands, in words.
    pub status: String,
    /// For a credit note, the invoice it refunds.
    pub credits: Option<String>,
    /// Description, minutes, amount.
    pub lines: Vec<(String, Option<i64>, String)>,
    /// The total.
    pub total: String,
    /// Whether only the viewer's own share is shown.
    pub own_share_only: bool,
    /// Name, part, amount.
    pub shares: Vec<(String, String, String)>,
}

fn day(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn percent(basis_points: u32) -> String {
    format!("{}.{:02}%", basis_points / 100, basis_points % 100)
}

impl Printable {
    pub(crate) fn new(
        org: &str,
        case_reference: &str,
        i: &Invoice,
        credits: Option<String>,
        only: Option<&[PartyId]>,
    ) -> Self {
        let credit = i.kind == InvoiceKind::CreditNote;
        let status = match i.status {
            InvoiceStatus::Draft => "Draft, not issued".to_owned(),
            InvoiceStatus::Issued => format!("Issued {}", day(i.issued_at)),
            InvoiceStatus::Paid => format!("Issued {}, paid {}", day(i.issued_at), day(i.paid_at)),
            InvoiceStatus::Void => format!(
                "Issued {}, VOID since {}",
                day(i.issued_at),
                day(i.voided_at)
            ),
        };
        Printable {
            org: org.to_owned(),
            kind: if credit { "Credit note" } else { "Invoice" },
            label: i.number.map(|n| invoice_number_label(n, credit)),
            case_reference: case_reference.to_owned(),
            status,
            credits,
            lines: i
                .lines
                .iter()
                .map(|l| {
                    (
                        l.description.clone(),
                        l.minutes,
                        i.currency.format(l.amount),
                    )
                })
                .collect(),
            total: i.currency.format(i.total),
            own_share_only: only.is_some(),
            shares: i
                .shares
                .iter()
                .filter(|s| only.is_none_or(|mine| mine.contains(&s.party_id)))
                .map(|s| {
                    (
                        s.party_name.clone(),
                        percent(s.basis_points),
                        i.currency.format(s.amount),
                    )
                })
                .collect(),
        }
    }

    /// The printed title, e.g. `Invoice INV-000042`.
    pub(crate) fn title(&self) -> String {
        match &self.label {
            Some(l) => format!("{} {l}", self.kind),
            None => format!("{} (draft)", self.kind),
        }
    }

    /// The PDF.
    pub(crate) fn pdf(&self) -> Vec<u8> {
        const LEFT: f32 = 56.0;
        const RIGHT: f32 = 539.0;
        const MINUTES_RIGHT: f32 = 420.0;
        const BOTTOM: f32 = 64.0;
        let mut d = Document::default();
        let mut y = PAGE_HEIGHT - 72.0;
        let next = |d: &mut Document, y: &mut f32, step: f32| {
            *y -= step;
            if *y < BOTTOM {
                d.page();
                *y = PAGE_HEIGHT - 72.0;
            }
        };
        d.text(LEFT, y, 11.0, Font::Bold, &self.org);
        next(&mut d, &mut y, 30.0);
        d.text(LEFT, y, 20.0, Font::Bold, &self.title());
        next(&mut d, &mut y, 24.0);
        d.text(
            LEFT,
            y,
            10.0,
            Font::Regular,
            &format!("Case {}", self.case_reference),
        );
        next(&mut d, &mut y, 14.0);
        d.text(LEFT, y, 10.0, Font::Regular, &self.status);
        if let Some(original) = &self.credits {
            next(&mut d, &mut y, 14.0);
            d.text(
                LEFT,
                y,
                10.0,
                Font::Regular,
                &format!("Refunds invoice {original}"),
            );
        }
        next(&mut d, &mut y, 30.0);
        d.text(LEFT, y, 10.0, Font::Bold, "Description");
        d.text(MINUTES_RIGHT - 42.0, y, 10.0, Font::Bold, "Minutes");
        d.text(RIGHT - 42.0, y, 10.0, Font::Bold, "Amount");
        for (description, minutes, amount) in &self.lines {
            next(&mut d, &mut y, 16.0);
            d.text(LEFT, y, 10.0, Font::Regular, description);
            if let Some(m) = minutes {
                d.mono_right(MINUTES_RIGHT, y, 10.0, &m.to_string());
            }
            d.mono_right(RIGHT, y, 10.0, amount);
        }
        next(&mut d, &mut y, 22.0);
        d.text(LEFT, y, 11.0, Font::Bold, "Total");
        d.mono_right(RIGHT, y, 11.0, &self.total);
        next(&mut d, &mut y, 34.0);
        d.text(
            LEFT,
            y,
            11.0,
            Font::Bold,
            if self.own_share_only {
                "Your share"
            } else {
                "Shares between the parties"
            },
        );
        for (name, part, amount) in &self.shares {
            next(&mut d, &mut y, 16.0);
            d.text(LEFT, y, 10.0, Font::Regular, name);
            d.mono_right(MINUTES_RIGHT, y, 10.0, part);
            d.mono_right(RIGHT, y, 10.0, amount);
        }
        next(&mut d, &mut y, 34.0);
        d.text(
            LEFT,
            y,
            8.0,
            Font::Regular,
            "Amounts are exact; each share is rounded so that the shares add up to the total.",
        );
        d.finish(&self.title())
    }
}

#[cfg(test)]
mod tests {
    use accord_db::invoices::{Line, Share};
    use accord_domain::{CaseId, Currency};

    use super::*;
    use crate::pdf::extract_text;

    fn invoice() -> Invoice {
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        Invoice {
            id: Uuid::nil(),
            case_id: CaseId::from_uuid(Uuid::nil()),
            kind: InvoiceKind::Invoice,
            credits_invoice_id: None,
            status: InvoiceStatus::Issued,
            number: Some(7),
            currency: Currency::parse("EUR").expect("EUR"),
            total: 28_000,
            created_by: None,
            created_at: Utc::now(),
            issued_at: at,
            paid_at: None,
            voided_at: None,
            lines: vec![
                Line {
                    description: "Session (90 min)".into(),
                    minutes: Some(90),
                    session_id: None,
                    amount: 18_000,
                },
                Line {
                    description: "Administration fee".into(),
                    minutes: None,
                    session_id: None,
                    amount: 10_000,
                },
            ],
            shares: vec![
                Share {
                    party_id: PartyId::from_uuid(Uuid::from_u128(1)),
                    party_name: "Ann (Acme)".into(),
                    basis_points: 6667,
                    amount: 18_668,
                },
                Share {
                    party_id: PartyId::from_uuid(Uuid::from_u128(2)),
                    party_name: "Bo".into(),
                    basis_points: 3333,
                    amount: 9_332,
                },
            ],
        }
    }

    #[test]
    fn staff_see_every_share_and_the_figures_print_exactly() {
        let text = extract_text(&Printable::new("Eastside", "E-1", &invoice(), None, None).pdf());
        for expected in [
            "Eastside",
            "Invoice INV-000007",
            "Case E-1",
            "Issued 2026-12-01",
            "Session (90 min)",
            "90",
            "180.00 EUR",
            "100.00 EUR",
            "280.00 EUR",
            "Shares between the parties",
            "Ann (Acme)",
            "66.67%",
            "186.68 EUR",
            "Bo",
            "93.32 EUR",
        ] {
            assert!(text.iter().any(|t| t == expected), "{expected} in {text:?}");
        }
    }

    #[test]
    fn a_party_sees_only_their_own_share() {
        let ann = [PartyId::from_uuid(Uuid::from_u128(1))];
        let text =
            extract_text(&Printable::new("Eastside", "E-1", &invoice(), None, Some(&ann)).pdf());
        assert!(text.iter().any(|t| t == "Your share"));
        assert!(text.iter().any(|t| t == "186.68 EUR"));
        assert!(
            !text.iter().any(|t| t == "Bo" || t == "93.32 EUR"),
            "{text:?}"
        );
    }

    #[test]
    fn a_credit_note_names_the_invoice_it_refunds() {
        let mut note = invoice();
        note.kind = InvoiceKind::CreditNote;
        note.number = Some(1);
        let text = extract_text(
            &Printable::new("Eastside", "E-1", &note, Some("INV-000007".into()), None).pdf(),
        );
        assert!(text.iter().any(|t| t == "Credit note CN-000001"));
        assert!(text.iter().any(|t| t == "Refunds invoice INV-000007"));
    }
}

//! Fees and invoices: what a case costs and how an invoice moves.
//!
//! An org's fee schedule names a currency and an admin fee per case; each
//! mediator is paid either by the hour (pro rata to the minute, rounded half
//! up to a minor unit) or a flat amount per session held. [`price_case`] turns
//! the sessions a case actually held into invoice lines; [`crate::Split`]
//! then shares the total between the parties.
//!
//! An invoice is drafted, issued (when it gets its number, without gaps per
//! org), then paid or voided; a credit note refunds part or all of an issued
//! or paid invoice and is issued at once under the same numbering.

use crate::ValidationError;

/// How a mediator's time is charged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FeeBasis {
    /// `rate` per hour held, pro rata to the minute.
    Hourly,
    /// `rate` per session held, whatever its length.
    PerSession,
}

impl FeeBasis {
    /// Every basis.
    pub const ALL: [FeeBasis; 2] = [FeeBasis::Hourly, FeeBasis::PerSession];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            FeeBasis::Hourly => "hourly",
            FeeBasis::PerSession => "per_session",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        crate::values::parse_one_of("basis", raw, &Self::ALL, Self::as_str)
    }
}

/// A mediator's rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediatorRate {
    /// How it is charged.
    pub basis: FeeBasis,
    /// Minor units per hour or per session.
    pub rate: i64,
}

/// A session that was held, with how long it actually ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldSession {
    /// Whole minutes held (rounded as recorded).
    pub minutes: i64,
}

/// One line of an invoice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceLine {
    /// What is charged, e.g. `Session of 90 minutes (hourly rate)`.
    pub description: String,
    /// Minutes, for session lines; `None` for the admin fee.
    pub minutes: Option<i64>,
    /// Minor units.
    pub amount: i64,
}

/// The charge for `minutes` at `rate` per hour, rounded half up.
pub fn hourly_charge(rate: i64, minutes: i64) -> i64 {
    let exact = i128::from(rate) * i128::from(minutes);
    let charge = (exact + 30) / 60;
    i64::try_from(charge).unwrap_or(i64::MAX)
}

/// The lines for a case: one per held session at the mediator's rate (none
/// when the case has no mediator rate), then the admin fee when it is not zero.
pub fn price_case(
    sessions: &[HeldSession],
    rate: Option<MediatorRate>,
    admin_fee: i64,
) -> Vec<InvoiceLine> {
    let mut lines = Vec::new();
    if let Some(rate) = rate {
        for s in sessions {
            let (amount, how) = match rate.basis {
                FeeBasis::Hourly => (hourly_charge(rate.rate, s.minutes), "hourly rate"),
                FeeBasis::PerSession => (rate.rate, "flat fee per session"),
            };
            lines.push(InvoiceLine {
                description: format!("Mediation session of {} minutes ({how})", s.minutes),
                minutes: Some(s.minutes),
                amount,
            });
        }
    }
    if admin_fee != 0 {
        lines.push(InvoiceLine {
            description: "Case administration fee".to_owned(),
            minutes: None,
            amount: admin_fee,
        });
    }
    lines
}

/// Where an invoice stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InvoiceStatus {
    /// Being prepared; no number yet, may be recomputed or discarded.
    Draft,
    /// Numbered and sent to the parties.
    Issued,
    /// Settled.
    Paid,
    /// Cancelled after issue; its number stays used.
    Void,
}

impl InvoiceStatus {
    /// Every status.
    pub const ALL: [InvoiceStatus; 4] = [
        InvoiceStatus::Draft,
        InvoiceStatus::Issued,
        InvoiceStatus::Paid,
        InvoiceStatus::Void,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Issued => "issued",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        crate::values::parse_one_of("status", raw, &Self::ALL, Self::as_str)
    }

    /// The status after moving to `next`, if the move is allowed:
    /// draft → issued → paid, and issued → void.
    pub fn transition(self, next: InvoiceStatus) -> Result<InvoiceStatus, InvoiceTransitionError> {
        use InvoiceStatus::{Draft, Issued, Paid, Void};
        match (self, next) {
            (Draft, Issued) | (Issued, Paid) | (Issued, Void) => Ok(next),
            _ => Err(InvoiceTransitionError {
                from: self,
                to: next,
            }),
        }
    }

    /// Whether a credit note may refund this invoice.
    pub fn creditable(self) -> bool {
        matches!(self, InvoiceStatus::Issued | InvoiceStatus::Paid)
    }
}

/// An invoice cannot move from `from` to `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an invoice that is {} cannot become {}", from.as_str(), to.as_str())]
pub struct InvoiceTransitionError {
    /// The current status.
    pub from: InvoiceStatus,
    /// The status asked for.
    pub to: InvoiceStatus,
}

/// Checks a credit note's amount: positive, and no more than what is still
/// left to refund of the invoice (its total less earlier credit notes).
pub fn check_credit(
    invoice_total: i64,
    already_credited: i64,
    amount: i64,
) -> Result<i64, ValidationError> {
    if amount <= 0 {
        return Err(ValidationError::new(
            "amountMinor",
            "must be a positive amount",
        ));
    }
    let left = invoice_total - already_credited;
    if amount > left {
        return Err(ValidationError::new(
            "amountMinor",
            format!("must be at most what is left to refund ({left} minor units)"),
        ));
    }
    Ok(amount)
}

/// Formats a per-org invoice number for documents, e.g. `INV-000042`.
pub fn invoice_number_label(number: i64, credit_note: bool) -> String {
    let prefix = if credit_note { "CN" } else { "INV" };
    format!("{prefix}-{number:06}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hourly_rates_are_pro_rata_to_the_minute() {
        assert_eq!(hourly_charge(12_000, 60), 12_000);
        assert_eq!(hourly_charge(12_000, 90), 18_000);
        // 100 per hour for one minute: 1.666… rounds to 2.
        assert_eq!(hourly_charge(100, 1), 2);
        // 10 per hour for one minute: 0.1666… rounds to 0.
        assert_eq!(hourly_charge(10, 1), 0);
        assert_eq!(hourly_charge(90, 1), 2); // 1.5 rounds half up
    }

    #[test]
    fn a_case_prices_each_held_session_and_the_admin_fee() {
        let sessions = [HeldSession { minutes: 90 }, HeldSession { minutes: 45 }];
        let hourly = MediatorRate {
            basis: FeeBasis::Hourly,
            rate: 20_000,
        };
        let lines = price_case(&sessions, Some(hourly), 5_000);
        let amounts: Vec<i64> = lines.iter().map(|l| l.amount).collect();
        assert_eq!(amounts, vec![30_000, 15_000, 5_000]);
        assert_eq!(lines[2].minutes, None);

        let flat = MediatorRate {
            basis: FeeBasis::PerSession,
            rate: 40_000,
        };
        let lines = price_case(&sessions, Some(flat), 0);
        let amounts: Vec<i64> = lines.iter().map(|l| l.amount).collect();
        assert_eq!(amounts, vec![40_000, 40_000]);
        assert!(price_case(&[], None, 0).is_empty());
    }

    #[test]
    fn invoices_move_forward_only() {
        use InvoiceStatus::*;
        assert_eq!(Draft.transition(Issued), Ok(Issued));
        assert_eq!(Issued.transition(Paid), Ok(Paid));
        assert_eq!(Issued.transition(Void), Ok(Void));
        for (from, to) in [
            (Draft, Paid),
            (Draft, Void),
            (Paid, Void),
            (Paid, Issued),
            (Void, Issued),
            (Void, Paid),
            (Issued, Draft),
            (Issued, Issued),
        ] {
            assert!(from.transition(to).is_err(), "{from:?} -> {to:?}");
        }
        for s in InvoiceStatus::ALL {
            assert_eq!(InvoiceStatus::parse(s.as_str()), Ok(s));
        }
        assert!(!Draft.creditable() && !Void.creditable());
        assert!(Issued.creditable() && Paid.creditable());
    }

    #[test]
    fn credit_notes_refund_at_most_what_is_left() {
        assert_eq!(check_credit(10_000, 0, 10_000), Ok(10_000));
        assert_eq!(check_credit(10_000, 4_000, 6_000), Ok(6_000));
        assert!(check_credit(10_000, 4_000, 6_001).is_err());
        assert!(check_credit(10_000, 0, 0).is_err());
        assert!(check_credit(10_000, 0, -5).is_err());
    }

    #[test]
    fn numbers_are_labelled() {
        assert_eq!(invoice_number_label(42, false), "INV-000042");
        assert_eq!(invoice_number_label(7, true), "CN-000007");
    }
}

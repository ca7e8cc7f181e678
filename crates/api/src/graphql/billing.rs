//! Fees and invoices.
//!
//! Org admins set the fee schedule (`setFeeSchedule`: currency, admin fee per
//! case), each mediator's rate (`setMediatorRate`: hourly or per session) and
//! each case's split between its parties (`setCaseSplit`, in basis points).
//! The SFU records how long each session was actually held (the time its
//! mediator was connected with someone admitted, summed over its live runs);
//! the case's mediator or an org admin may record or correct it by hand
//! (`recordSessionHeld`), and a hand-made record stands. Invoices charge
//! those durations. An org admin
//! drafts the case's invoice (`draftInvoice`: one line per held session and
//! the admin fee, each party's share by the split, shares summing exactly to
//! the total), issues it (`issueInvoice`: the next number of the org's gap-free
//! series), marks it paid or voids it, and refunds with a credit note
//! (`issueCreditNote`). A person on the case sees only their own share of
//! issued invoices (`myInvoices`). All amounts are integer minor units.

use std::collections::BTreeMap;

use accord_db::fees::{self, FeeSchedule, Held};
use accord_db::invoices::{self as store, Invoice, InvoiceKind, Line, NewInvoice, Share};
use accord_db::{audit, cases, members, sessions, TenantTx};
use accord_domain::invoice::{
    check_credit, invoice_number_label, price_case, FeeBasis, HeldSession, InvoiceStatus,
    MediatorRate,
};
use accord_domain::money::parse_amount;
use accord_domain::{
    Action, CaseId, Currency, PartyId, PartyKind, Role, SessionId, SessionStatus, Split, UserId,
};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::types::{case_for, not_found};
use super::{authorize, deny_early, mutate, read};
use crate::ApiError;

fn require_org_admin(tx: &TenantTx) -> Result<(), ApiError> {
    if tx.actor().role == Role::OrgAdmin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only org admins manage fees and invoices".into(),
        ))
    }
}

/// How a mediator charges.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum GqlFeeBasis {
    /// Per hour held, pro rata to the minute.
    Hourly,
    /// A flat amount per session held.
    PerSession,
}

impl From<GqlFeeBasis> for FeeBasis {
    fn from(b: GqlFeeBasis) -> Self {
        match b {
            GqlFeeBasis::Hourly => FeeBasis::Hourly,
            GqlFeeBasis::PerSession => FeeBasis::PerSession,
        }
    }
}

impl From<FeeBasis> for GqlFeeBasis {
    fn from(b: FeeBasis) -> Self {
        match b {
            FeeBasis::Hourly => GqlFeeBasis::Hourly,
            FeeBasis::PerSession => GqlFeeBasis::PerSession,
        }
    }
}

/// A mediator's rate.
#[derive(SimpleObject, Debug, Clone)]
pub struct MediatorFee {
    /// The mediator.
    pub mediator_id: Uuid,
    /// Their name in the org.
    pub mediator_name: String,
    /// How they charge; null when no rate is set.
    pub basis: Option<GqlFeeBasis>,
    /// Minor units per hour or per session; null when no rate is set.
    pub rate_minor: Option<i64>,
}

/// The org's fees.
#[derive(SimpleObject, Debug, Clone)]
pub struct FeeScheduleView {
    /// The currency (ISO 4217); null before the schedule is set.
    pub currency: Option<String>,
    /// The admin fee per case invoice, in minor units.
    pub admin_fee_minor: i64,
    /// Every mediator of the org with their rate.
    pub mediators: Vec<MediatorFee>,
}

/// Where an invoice stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum GqlInvoiceStatus {
    /// Being prepared.
    Draft,
    /// Numbered and sent.
    Issued,
    /// Settled.
    Paid,
    /// Cancelled after issue.
    Void,
}

impl From<InvoiceStatus> for GqlInvoiceStatus {
    fn from(s: InvoiceStatus) -> Self {
        match s {
            InvoiceStatus::Draft => GqlInvoiceStatus::Draft,
            InvoiceStatus::Issued => GqlInvoiceStatus::Issued,
            InvoiceStatus::Paid => GqlInvoiceStatus::Paid,
            InvoiceStatus::Void => GqlInvoiceStatus::Void,
        }
    }
}

/// Invoice or credit note.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum GqlInvoiceKind {
    /// Charges the parties.
    Invoice,
    /// Refunds part of an invoice.
    CreditNote,
}

/// One line.
#[derive(SimpleObject, Debug, Clone)]
pub struct InvoiceLineView {
    /// What is charged.
    pub description: String,
    /// Minutes held, for session lines.
    pub minutes: Option<i64>,
    /// Minor units.
    pub amount_minor: i64,
}

/// One party's share.
#[derive(SimpleObject, Debug, Clone)]
pub struct InvoiceShareView {
    /// The party.
    pub party_id: Uuid,
    /// Their name when the invoice was made.
    pub party_name: String,
    /// Their part in basis points (10000 = all).
    pub basis_points: i32,
    /// Their amount in minor units.
    pub amount_minor: i64,
}

/// An invoice or credit note. Staff see every share; a person on the case
/// sees only their own.
#[derive(SimpleObject, Debug, Clone)]
pub struct InvoiceView {
    /// Its id.
    pub id: Uuid,
    /// The case.
    pub case_id: Uuid,
    /// The case's reference.
    pub case_reference: String,
    /// Invoice or credit note.
    pub kind: GqlInvoiceKind,
    /// For a credit note, the invoice it refunds.
    pub credits_invoice_id: Option<Uuid>,
    /// Where it stands.
    pub status: GqlInvoiceStatus,
    /// Its number in the org's series, once issued.
    pub number: Option<i64>,
    /// The number as printed, e.g. `INV-000042`.
    pub label: Option<String>,
    /// The currency.
    pub currency: String,
    /// The total in minor units.
    pub total_minor: i64,
    /// The total written out, e.g. `1234.50 EUR`.
    pub total_text: String,
    /// The lines.
    pub lines: Vec<InvoiceLineView>,
    /// The shares the viewer may see.
    pub shares: Vec<InvoiceShareView>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was issued.
    pub issued_at: Option<DateTime<Utc>>,
    /// When it was paid.
    pub paid_at: Option<DateTime<Utc>>,
    /// When it was voided.
    pub voided_at: Option<DateTime<Utc>>,
}

fn view(i: Invoice, reference: &str, only: Option<&[PartyId]>) -> InvoiceView {
    let credit = i.kind == InvoiceKind::CreditNote;
    InvoiceView {
        id: i.id,
        case_id: i.case_id.as_uuid(),
        case_reference: reference.to_owned(),
        kind: if credit {
            GqlInvoiceKind::CreditNote
        } else {
            GqlInvoiceKind::Invoice
        },
        credits_invoice_id: i.credits_invoice_id,
        status: i.status.into(),
        number: i.number,
        label: i.number.map(|n| invoice_number_label(n, credit)),
        total_text: i.currency.format(i.total),
        currency: i.currency.as_str().to_owned(),
        total_minor: i.total,
        lines: i
            .lines
            .into_iter()
            .map(|l| InvoiceLineView {
                description: l.description,
                minutes: l.minutes,
                amount_minor: l.amount,
            })
            .collect(),
        shares: i
            .shares
            .into_iter()
            .filter(|s| only.is_none_or(|mine| mine.contains(&s.party_id)))
            .map(|s| InvoiceShareView {
                party_id: s.party_id.as_uuid(),
                party_name: s.party_name,
                basis_points: i32::try_from(s.basis_points).unwrap_or(0),
                amount_minor: s.amount,
            })
            .collect(),
        created_at: i.created_at,
        issued_at: i.issued_at,
        paid_at: i.paid_at,
        voided_at: i.voided_at,
    }
}

/// A party's part of the case's costs.
#[derive(SimpleObject, Debug, Clone)]
pub struct SplitShareView {
    /// The party.
    pub party_id: Uuid,
    /// Their name.
    pub party_name: String,
    /// Their part in basis points (10000 = all).
    pub basis_points: i32,
}

/// A session as held.
#[derive(SimpleObject, Debug, Clone)]
pub struct HeldSessionView {
    /// The session.
    pub session_id: Uuid,
    /// When it began.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: DateTime<Utc>,
    /// Whole minutes held.
    pub minutes: i64,
}

impl From<Held> for HeldSessionView {
    fn from(h: Held) -> Self {
        HeldSessionView {
            session_id: h.session_id.as_uuid(),
            started_at: h.started_at,
            ended_at: h.ended_at,
            minutes: h.minutes,
        }
    }
}

/// A case's billing, as staff see it.
#[derive(SimpleObject, Debug, Clone)]
pub struct CaseBilling {
    /// The case.
    pub case_id: Uuid,
    /// The split between the parties; equal shares when none was set.
    pub split: Vec<SplitShareView>,
    /// Whether the split was set (rather than the equal default).
    pub split_set: bool,
    /// The sessions held, in order.
    pub held_sessions: Vec<HeldSessionView>,
    /// Invoices and credit notes, oldest first.
    pub invoices: Vec<InvoiceView>,
}

/// One party's part, as set.
#[derive(InputObject, Debug)]
pub struct SplitShareInput {
    /// A party (of kind PARTY) on the case.
    pub party_id: Uuid,
    /// Their part in basis points; all parts add up to 10000.
    pub basis_points: i32,
}

/// The parties (kind PARTY) of a case with their split: the stored one, or
/// equal shares when none is stored (or it no longer covers the parties).
async fn effective_split(
    tx: &mut TenantTx,
    case: CaseId,
) -> Result<(Vec<(PartyId, String, u32)>, bool), ApiError> {
    let parties: Vec<(PartyId, String)> = cases::parties(tx, case)
        .await?
        .into_iter()
        .filter(|p| p.kind == PartyKind::Party)
        .map(|p| (p.id, p.display_name.as_str().to_owned()))
        .collect();
    let stored: BTreeMap<PartyId, u32> = fees::split(tx, case).await?.into_iter().collect();
    let stored_sum: u32 = stored.values().sum();
    if !stored.is_empty() && stored_sum == accord_domain::money::WHOLE_BASIS_POINTS {
        return Ok((
            parties
                .into_iter()
                .map(|(id, name)| {
                    let bp = stored.get(&id).copied().unwrap_or(0);
                    (id, name, bp)
                })
                .collect(),
            true,
        ));
    }
    let equal = Split::equal(parties.len());
    Ok((
        parties
            .into_iter()
            .enumerate()
            .map(|(i, (id, name))| {
                let bp = equal.as_ref().map(|s| s.basis_points()[i]).unwrap_or(0);
                (id, name, bp)
            })
            .collect(),
        false,
    ))
}

/// The case, for staff who may see its billing: org admins, and the case's
/// mediator.
async fn billing_case(tx: &mut TenantTx, case: CaseId) -> Result<cases::Case, ApiError> {
    match tx.actor().role {
        Role::OrgAdmin => case_for(tx, Action::ViewCase, case).await,
        Role::Mediator => case_for(tx, Action::ScheduleSession, case).await,
        Role::Party | Role::Observer => {
            // Those who may see the case learn that billing is staff's;
            // others learn nothing of the case.
            case_for(tx, Action::ViewCase, case).await?;
            Err(ApiError::Forbidden(
                "a case's billing is for its mediator and org admins; see myInvoices".into(),
            ))
        }
    }
}

async fn case_reference(tx: &mut TenantTx, case: CaseId) -> Result<String, ApiError> {
    Ok(cases::get(tx, case)
        .await
        .map_err(not_found("case"))?
        .reference
        .as_str()
        .to_owned())
}

/// An invoice the actor (an org admin) may act on.
async fn admin_invoice(tx: &mut TenantTx, id: Uuid) -> Result<Invoice, ApiError> {
    require_org_admin(tx)?;
    store::get_for_update(tx, id)
        .await
        .map_err(not_found("invoice"))
}

/// Reads for fees and invoices.
#[derive(Debug, Default)]
pub struct BillingQuery;

#[Object]
impl BillingQuery {
    /// The org's fee schedule and every mediator's rate (org admins).
    async fn fee_schedule(&self, ctx: &Context<'_>) -> async_graphql::Result<FeeScheduleView> {
        read(ctx, move |tx| {
            Box::pin(async move {
                require_org_admin(tx)?;
                let schedule = fees::schedule(tx).await?;
                let rates: BTreeMap<UserId, MediatorRate> =
                    fees::rates(tx).await?.into_iter().collect();
                let mediators = members::list(tx)
                    .await?
                    .into_iter()
                    .filter(|m| m.role == Role::Mediator)
                    .map(|m| {
                        let rate = rates.get(&m.user_id);
                        MediatorFee {
                            mediator_id: m.user_id.as_uuid(),
                            mediator_name: m.display_name.as_str().to_owned(),
                            basis: rate.map(|r| r.basis.into()),
                            rate_minor: rate.map(|r| r.rate),
                        }
                    })
                    .collect();
                Ok(FeeScheduleView {
                    currency: schedule.as_ref().map(|s| s.currency.as_str().to_owned()),
                    admin_fee_minor: schedule.map(|s| s.admin_fee).unwrap_or(0),
                    mediators,
                })
            })
        })
        .await
    }

    /// A case's split, held sessions and invoices (org admins and the case's mediator).
    async fn case_billing(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
    ) -> async_graphql::Result<CaseBilling> {
        read(ctx, move |tx| {
            Box::pin(async move {
                let case = CaseId::from_uuid(case_id);
                let reference = billing_case(tx, case).await?.reference;
                let reference = reference.as_str();
                let (split, split_set) = effective_split(tx, case).await?;
                let held = fees::held_sessions(tx, case).await?;
                let invoices = store::for_case(tx, case).await?;
                Ok(CaseBilling {
                    case_id,
                    split: split
                        .into_iter()
                        .map(|(id, name, bp)| SplitShareView {
                            party_id: id.as_uuid(),
                            party_name: name,
                            basis_points: i32::try_from(bp).unwrap_or(0),
                        })
                        .collect(),
                    split_set,
                    held_sessions: held.into_iter().map(Into::into).collect(),
                    invoices: invoices
                        .into_iter()
                        .map(|i| view(i, reference, None))
                        .collect(),
                })
            })
        })
        .await
    }

    /// The signed-in person's own invoices and credit notes (issued, paid or
    /// void) on every case they are on, each with only their own share.
    async fn my_invoices(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<InvoiceView>> {
        read(ctx, move |tx| {
            Box::pin(async move {
                let user = tx
                    .actor()
                    .user_id
                    .ok_or_else(|| ApiError::Unauthenticated("sign in first".into()))?;
                let invoices = store::for_user(tx, user).await?;
                let mut out = Vec::with_capacity(invoices.len());
                let mut refs: BTreeMap<CaseId, (String, Vec<PartyId>)> = BTreeMap::new();
                for i in invoices {
                    if let std::collections::btree_map::Entry::Vacant(slot) = refs.entry(i.case_id)
                    {
                        let reference = case_reference(tx, i.case_id).await?;
                        let mine = store::parties_of_user(tx, i.case_id, user).await?;
                        slot.insert((reference, mine));
                    }
                    let (reference, mine) = &refs[&i.case_id];
                    out.push(view(i, reference, Some(mine)));
                }
                Ok(out)
            })
        })
        .await
    }
}

/// Writes for fees and invoices.
#[derive(Debug, Default)]
pub struct BillingMutation;

#[Object]
impl BillingMutation {
    /// Sets the org's currency and admin fee per case (org admins).
    async fn set_fee_schedule(
        &self,
        ctx: &Context<'_>,
        currency: String,
        admin_fee_minor: i64,
    ) -> async_graphql::Result<FeeScheduleView> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                require_org_admin(tx)?;
                let schedule = FeeSchedule {
                    currency: Currency::parse(&currency)?,
                    admin_fee: parse_amount("adminFeeMinor", admin_fee_minor)?,
                };
                fees::set_schedule(tx, &schedule).await?;
                let org = tx.actor().org_id.as_uuid();
                audit::append(tx, "billing.set_fee_schedule", "organization", Some(org)).await?;
                Ok(FeeScheduleView {
                    currency: Some(schedule.currency.as_str().to_owned()),
                    admin_fee_minor: schedule.admin_fee,
                    mediators: Vec::new(),
                })
            })
        })
        .await
    }

    /// Sets a mediator's rate (org admins).
    async fn set_mediator_rate(
        &self,
        ctx: &Context<'_>,
        mediator_id: Uuid,
        basis: GqlFeeBasis,
        rate_minor: i64,
    ) -> async_graphql::Result<MediatorFee> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                require_org_admin(tx)?;
                let mediator = UserId::from_uuid(mediator_id);
                let member = match members::get(tx, mediator).await {
                    Ok(m) if m.role == Role::Mediator => m,
                    Ok(_) | Err(accord_db::DbError::NotFound) => {
                        return Err(ApiError::bad_input(
                            "mediatorId",
                            "that member is not a mediator of this organization",
                        ))
                    }
                    Err(e) => return Err(e.into()),
                };
                let rate = MediatorRate {
                    basis: basis.into(),
                    rate: parse_amount("rateMinor", rate_minor)?,
                };
                fees::set_rate(tx, mediator, rate).await?;
                audit::append(tx, "billing.set_mediator_rate", "user", Some(mediator_id)).await?;
                Ok(MediatorFee {
                    mediator_id,
                    mediator_name: member.display_name.as_str().to_owned(),
                    basis: Some(basis),
                    rate_minor: Some(rate.rate),
                })
            })
        })
        .await
    }

    /// Sets how a case's costs are split between its parties (org admins):
    /// every party (kind PARTY) on the case once, parts adding up to 10000.
    async fn set_case_split(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
        shares: Vec<SplitShareInput>,
    ) -> async_graphql::Result<Vec<SplitShareView>> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                require_org_admin(tx)?;
                let case = CaseId::from_uuid(case_id);
                case_for(tx, Action::ViewCase, case).await?;
                let parties: BTreeMap<PartyId, String> = cases::parties(tx, case)
                    .await?
                    .into_iter()
                    .filter(|p| p.kind == PartyKind::Party)
                    .map(|p| (p.id, p.display_name.as_str().to_owned()))
                    .collect();
                let mut given: Vec<(PartyId, u32)> = Vec::new();
                for s in &shares {
                    let id = PartyId::from_uuid(s.party_id);
                    if !parties.contains_key(&id) {
                        return Err(ApiError::bad_input(
                            "shares",
                            "each share must name a party (kind PARTY) on this case",
                        ));
                    }
                    if given.iter().any(|(p, _)| *p == id) {
                        return Err(ApiError::bad_input("shares", "name each party once"));
                    }
                    let bp = u32::try_from(s.basis_points)
                        .map_err(|_| ApiError::bad_input("shares", "parts must not be negative"))?;
                    given.push((id, bp));
                }
                if given.len() != parties.len() {
                    return Err(ApiError::bad_input(
                        "shares",
                        "give a part for every party on the case (0 for none)",
                    ));
                }
                Split::new(given.iter().map(|(_, bp)| *bp).collect())?;
                fees::set_split(tx, case, &given).await?;
                audit::append(tx, "billing.set_split", "case", Some(case_id)).await?;
                Ok(given
                    .into_iter()
                    .map(|(id, bp)| SplitShareView {
                        party_id: id.as_uuid(),
                        party_name: parties.get(&id).cloned().unwrap_or_default(),
                        basis_points: i32::try_from(bp).unwrap_or(0),
                    })
                    .collect())
            })
        })
        .await
    }

    /// Records when a session actually began and ended (the case's mediator
    /// or an org admin); the session becomes completed. Invoices charge this
    /// duration. Recording again corrects it.
    async fn record_session_held(
        &self,
        ctx: &Context<'_>,
        session_id: Uuid,
        started_at: DateTime<Utc>,
        ended_at: DateTime<Utc>,
    ) -> async_graphql::Result<HeldSessionView> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                deny_early(tx, Action::ScheduleSession)?;
                let sid = SessionId::from_uuid(session_id);
                let session = sessions::get(tx, sid).await.map_err(not_found("session"))?;
                authorize(tx, Action::ScheduleSession, Some(session.case_id)).await?;
                if ended_at <= started_at {
                    return Err(ApiError::bad_input("endedAt", "must be after startedAt"));
                }
                if ended_at - started_at > chrono::TimeDelta::hours(24) {
                    return Err(ApiError::bad_input(
                        "endedAt",
                        "a session lasts at most 24 hours",
                    ));
                }
                if ended_at > Utc::now() + chrono::TimeDelta::minutes(5) {
                    return Err(ApiError::bad_input("endedAt", "must not be in the future"));
                }
                match session.status {
                    SessionStatus::Cancelled => {
                        return Err(ApiError::Conflict(
                            "the session was cancelled; it cannot have been held".into(),
                        ))
                    }
                    SessionStatus::Scheduled => {
                        sessions::set_status(tx, sid, SessionStatus::Completed).await?;
                    }
                    SessionStatus::Completed => {}
                }
                let held = fees::record_held(tx, sid, started_at, ended_at).await?;
                audit::append(tx, "session.held", "session", Some(session_id)).await?;
                Ok(held.into())
            })
        })
        .await
    }

    /// Drafts the case's invoice from its held sessions, its mediator's rate
    /// and the admin fee, split between its parties (org admins). Replaces an
    /// earlier draft of the case.
    async fn draft_invoice(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
    ) -> async_graphql::Result<InvoiceView> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                require_org_admin(tx)?;
                let case_id = CaseId::from_uuid(case_id);
                let case = case_for(tx, Action::ViewCase, case_id).await?;
                let schedule = fees::schedule(tx).await?.ok_or_else(|| {
                    ApiError::Conflict("set the organization's fee schedule first".into())
                })?;
                let (split, split_set) = effective_split(tx, case_id).await?;
                if split.is_empty() {
                    return Err(ApiError::Conflict(
                        "the case has no party to invoice".into(),
                    ));
                }
                let rate = match case.mediator_id {
                    Some(m) => fees::rate(tx, m).await?,
                    None => None,
                };
                let held = fees::held_sessions(tx, case_id).await?;
                if !held.is_empty() && rate.is_none() {
                    return Err(ApiError::Conflict(
                        "set the case's mediator's rate first".into(),
                    ));
                }
                let priced = price_case(
                    &held
                        .iter()
                        .map(|h| HeldSession { minutes: h.minutes })
                        .collect::<Vec<_>>(),
                    rate,
                    schedule.admin_fee,
                );
                let mut session_ids = held.iter().map(|h| h.session_id.as_uuid());
                let lines: Vec<Line> = priced
                    .into_iter()
                    .map(|l| Line {
                        session_id: l.minutes.and_then(|_| session_ids.next()),
                        description: l.description,
                        minutes: l.minutes,
                        amount: l.amount,
                    })
                    .collect();
                let total: i64 = lines.iter().map(|l| l.amount).sum();
                if total <= 0 {
                    return Err(ApiError::Conflict(
                        "there is nothing to invoice yet: no session was held and there is no admin fee"
                            .into(),
                    ));
                }
                let shares = if split_set {
                    apportion(&split, total)?
                } else {
                    // No split set: equal amounts (which basis points can
                    // only approximate for three parties).
                    split
                        .iter()
                        .zip(accord_domain::money::apportion_equally(total, split.len()))
                        .map(|((id, name, bp), amount)| Share {
                            party_id: *id,
                            party_name: name.clone(),
                            basis_points: *bp,
                            amount,
                        })
                        .collect()
                };
                for old in store::for_case(tx, case_id).await? {
                    if old.status == InvoiceStatus::Draft {
                        store::delete_draft(tx, old.id).await?;
                    }
                }
                let invoice = store::create_draft(
                    tx,
                    NewInvoice {
                        case_id,
                        kind: InvoiceKind::Invoice,
                        credits_invoice_id: None,
                        currency: &schedule.currency,
                        lines: &lines,
                        shares: &shares,
                    },
                )
                .await?;
                audit::append(tx, "invoice.draft", "invoice", Some(invoice.id)).await?;
                Ok(view(invoice, case.reference.as_str(), None))
            })
        })
        .await
    }

    /// Issues a draft: it takes the next number of the org's series and the
    /// parties see it (org admins).
    async fn issue_invoice(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> async_graphql::Result<InvoiceView> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let invoice = admin_invoice(tx, id).await?;
                invoice
                    .status
                    .transition(InvoiceStatus::Issued)
                    .map_err(|e| ApiError::Conflict(e.to_string()))?;
                let issued = store::issue(tx, id, Utc::now()).await?;
                audit::append(tx, "invoice.issue", "invoice", Some(id)).await?;
                let reference = case_reference(tx, issued.case_id).await?;
                Ok(view(issued, &reference, None))
            })
        })
        .await
    }

    /// Marks an issued invoice paid (org admins).
    async fn mark_invoice_paid(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> async_graphql::Result<InvoiceView> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let invoice = admin_invoice(tx, id).await?;
                if invoice.kind == InvoiceKind::CreditNote {
                    return Err(ApiError::Conflict("a credit note is not paid".into()));
                }
                invoice
                    .status
                    .transition(InvoiceStatus::Paid)
                    .map_err(|e| ApiError::Conflict(e.to_string()))?;
                let paid = store::set_status(tx, id, InvoiceStatus::Paid, Utc::now()).await?;
                audit::append(tx, "invoice.mark_paid", "invoice", Some(id)).await?;
                let reference = case_reference(tx, paid.case_id).await?;
                Ok(view(paid, &reference, None))
            })
        })
        .await
    }

    /// Voids an issued invoice or credit note; its number stays used (org admins).
    async fn void_invoice(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> async_graphql::Result<InvoiceView> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let invoice = admin_invoice(tx, id).await?;
                invoice
                    .status
                    .transition(InvoiceStatus::Void)
                    .map_err(|e| ApiError::Conflict(e.to_string()))?;
                if store::credited(tx, id).await? > 0 {
                    return Err(ApiError::Conflict(
                        "the invoice has credit notes; void them first".into(),
                    ));
                }
                let void = store::set_status(tx, id, InvoiceStatus::Void, Utc::now()).await?;
                audit::append(tx, "invoice.void", "invoice", Some(id)).await?;
                let reference = case_reference(tx, void.case_id).await?;
                Ok(view(void, &reference, None))
            })
        })
        .await
    }

    /// Discards a draft (org admins). Returns its id.
    async fn discard_draft_invoice(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> async_graphql::Result<Uuid> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let invoice = admin_invoice(tx, id).await?;
                if invoice.status != InvoiceStatus::Draft {
                    return Err(ApiError::Conflict(
                        "only drafts are discarded; void an issued invoice".into(),
                    ));
                }
                store::delete_draft(tx, id).await?;
                audit::append(tx, "invoice.discard", "invoice", Some(id)).await?;
                Ok(id)
            })
        })
        .await
    }

    /// Refunds part or all of an issued or paid invoice with a credit note,
    /// issued at once under the org's credit-note numbering and shared
    /// between the parties in the invoice's proportions (org admins).
    async fn issue_credit_note(
        &self,
        ctx: &Context<'_>,
        invoice_id: Uuid,
        amount_minor: i64,
        description: String,
    ) -> async_graphql::Result<InvoiceView> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let invoice = admin_invoice(tx, invoice_id).await?;
                if invoice.kind != InvoiceKind::Invoice || !invoice.status.creditable() {
                    return Err(ApiError::Conflict(
                        "only an issued or paid invoice can be refunded".into(),
                    ));
                }
                let description = description.split_whitespace().collect::<Vec<_>>().join(" ");
                if description.is_empty() || description.chars().count() > 200 {
                    return Err(ApiError::bad_input(
                        "description",
                        "must be 1 to 200 characters",
                    ));
                }
                let already = store::credited(tx, invoice_id).await?;
                let amount = check_credit(invoice.total, already, amount_minor)?;
                let split: Vec<(PartyId, String, u32)> = invoice
                    .shares
                    .iter()
                    .map(|s| (s.party_id, s.party_name.clone(), s.basis_points))
                    .collect();
                let shares = apportion(&split, amount)?;
                let lines = [Line {
                    description: format!("Refund: {description}"),
                    minutes: None,
                    session_id: None,
                    amount,
                }];
                let draft = store::create_draft(
                    tx,
                    NewInvoice {
                        case_id: invoice.case_id,
                        kind: InvoiceKind::CreditNote,
                        credits_invoice_id: Some(invoice_id),
                        currency: &invoice.currency,
                        lines: &lines,
                        shares: &shares,
                    },
                )
                .await?;
                let note = store::issue(tx, draft.id, Utc::now()).await?;
                audit::append(tx, "invoice.credit_note", "invoice", Some(note.id)).await?;
                let reference = case_reference(tx, note.case_id).await?;
                Ok(view(note, &reference, None))
            })
        })
        .await
    }
}

/// Shares `total` between `split`'s parties by largest remainder.
fn apportion(split: &[(PartyId, String, u32)], total: i64) -> Result<Vec<Share>, ApiError> {
    let s = Split::new(split.iter().map(|(_, _, bp)| *bp).collect())
        .map_err(|_| ApiError::Conflict("the case's split does not add up to 100%".into()))?;
    Ok(split
        .iter()
        .zip(s.apportion(total))
        .map(|((id, name, bp), amount)| Share {
            party_id: *id,
            party_name: name.clone(),
            basis_points: *bp,
            amount,
        })
        .collect())
}

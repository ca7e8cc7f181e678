//! The intake form.
//!
//! Org admins choose which of the catalogue's fields their form asks and
//! which are required (`setIntakeForm`). Each person on a case answers it in
//! the client portal before the case's first session is held
//! (`submitIntake`); they read back their own answers (`myIntake`), and the
//! case's mediator and org admins read everyone's (`caseIntake`). Answers are
//! case content: they are never logged, and the audit event names only the
//! person who answered.

use std::collections::BTreeMap;

use accord_db::intake::{self as store, Response};
use accord_db::{audit, cases, fees, TenantTx};
use accord_domain::intake::{Answers, FieldSetting, IntakeField, IntakeForm};
use accord_domain::{Action, CaseId, PartyId, Role};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::types::not_found;
use super::{authorize, mutate, read};
use crate::ApiError;

/// A field the intake form may ask.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum IntakeFieldName {
    /// The kind of dispute, one of the org's options.
    DisputeType,
    /// The amount in dispute, in minor units of the org's currency.
    AmountInDispute,
    /// The language the person prefers.
    PreferredLanguage,
    /// Accessibility needs, as free text.
    AccessibilityNeeds,
    /// Whether an interpreter is needed: `yes` or `no`.
    InterpreterNeeded,
}

impl From<IntakeFieldName> for IntakeField {
    fn from(f: IntakeFieldName) -> Self {
        match f {
            IntakeFieldName::DisputeType => IntakeField::DisputeType,
            IntakeFieldName::AmountInDispute => IntakeField::AmountInDispute,
            IntakeFieldName::PreferredLanguage => IntakeField::PreferredLanguage,
            IntakeFieldName::AccessibilityNeeds => IntakeField::AccessibilityNeeds,
            IntakeFieldName::InterpreterNeeded => IntakeField::InterpreterNeeded,
        }
    }
}

impl From<IntakeField> for IntakeFieldName {
    fn from(f: IntakeField) -> Self {
        match f {
            IntakeField::DisputeType => IntakeFieldName::DisputeType,
            IntakeField::AmountInDispute => IntakeFieldName::AmountInDispute,
            IntakeField::PreferredLanguage => IntakeFieldName::PreferredLanguage,
            IntakeField::AccessibilityNeeds => IntakeFieldName::AccessibilityNeeds,
            IntakeField::InterpreterNeeded => IntakeFieldName::InterpreterNeeded,
        }
    }
}

/// A field as the form asks it.
#[derive(SimpleObject, Debug, Clone)]
pub struct IntakeFieldView {
    /// Which field.
    pub field: IntakeFieldName,
    /// Whether an answer is required.
    pub required: bool,
}

/// The org's intake form.
#[derive(SimpleObject, Debug, Clone)]
pub struct IntakeFormView {
    /// The fields asked, in display order.
    pub fields: Vec<IntakeFieldView>,
    /// The dispute type's options.
    pub dispute_types: Vec<String>,
    /// The org's currency for the amount in dispute; null before fees are set.
    pub currency: Option<String>,
}

async fn form_view(tx: &mut TenantTx, form: &IntakeForm) -> Result<IntakeFormView, ApiError> {
    let currency = fees::schedule(tx)
        .await?
        .map(|s| s.currency.as_str().to_owned());
    Ok(IntakeFormView {
        fields: form
            .fields()
            .iter()
            .map(|f| IntakeFieldView {
                field: f.field.into(),
                required: f.required,
            })
            .collect(),
        dispute_types: form.dispute_types().to_vec(),
        currency,
    })
}

/// One answer.
#[derive(SimpleObject, Debug, Clone)]
pub struct IntakeAnswer {
    /// The field.
    pub field: IntakeFieldName,
    /// The answer.
    pub value: String,
}

/// One person's answers.
#[derive(SimpleObject, Debug, Clone)]
pub struct IntakeResponseView {
    /// The person on the case.
    pub party_id: Uuid,
    /// Their name.
    pub party_name: String,
    /// The answers given.
    pub answers: Vec<IntakeAnswer>,
    /// When they were last sent.
    pub submitted_at: DateTime<Utc>,
}

fn response_view(r: Response, name: String) -> IntakeResponseView {
    IntakeResponseView {
        party_id: r.party_id.as_uuid(),
        party_name: name,
        answers: r
            .answers
            .0
            .into_iter()
            .map(|(field, value)| IntakeAnswer {
                field: field.into(),
                value,
            })
            .collect(),
        submitted_at: r.submitted_at,
    }
}

/// The signed-in person's intake on a case.
#[derive(SimpleObject, Debug, Clone)]
pub struct MyIntake {
    /// The case.
    pub case_id: Uuid,
    /// The form to fill in.
    pub form: IntakeFormView,
    /// Their answers, null before they answered.
    pub response: Option<IntakeResponseView>,
    /// Whether they may still answer (until the case's first session is held).
    pub open: bool,
}

/// A field as an org admin sets it.
#[derive(InputObject, Debug)]
pub struct IntakeFieldInput {
    /// Which field.
    pub field: IntakeFieldName,
    /// Whether an answer is required.
    pub required: bool,
}

/// One answer as given.
#[derive(InputObject, Debug)]
pub struct IntakeAnswerInput {
    /// The field.
    pub field: IntakeFieldName,
    /// The answer (blank for none).
    pub value: String,
}

/// The viewer's own entry on the case (NOT_FOUND when they are not on it).
async fn own_party(tx: &mut TenantTx, case: CaseId) -> Result<(PartyId, String), ApiError> {
    let user = tx
        .actor()
        .user_id
        .ok_or_else(|| ApiError::Unauthenticated("sign in first".into()))?;
    authorize(tx, Action::ViewCase, Some(case)).await?;
    cases::get(tx, case).await.map_err(not_found("case"))?;
    cases::parties(tx, case)
        .await?
        .into_iter()
        .find(|p| p.user_id == Some(user))
        .map(|p| (p.id, p.display_name.as_str().to_owned()))
        .ok_or_else(|| {
            ApiError::Forbidden("only the people on the case answer its intake form".into())
        })
}

async fn is_open(tx: &mut TenantTx, case: CaseId) -> Result<bool, ApiError> {
    Ok(fees::held_sessions(tx, case).await?.is_empty())
}

/// Reads for the intake form.
#[derive(Debug, Default)]
pub struct IntakeQuery;

#[Object]
impl IntakeQuery {
    /// The org's intake form.
    async fn intake_form(&self, ctx: &Context<'_>) -> async_graphql::Result<IntakeFormView> {
        read(ctx, move |tx| {
            Box::pin(async move {
                authorize(tx, Action::ViewOrganization, None).await?;
                let form = store::form(tx).await?;
                form_view(tx, &form).await
            })
        })
        .await
    }

    /// The signed-in person's intake on a case they are on.
    async fn my_intake(&self, ctx: &Context<'_>, case_id: Uuid) -> async_graphql::Result<MyIntake> {
        read(ctx, move |tx| {
            Box::pin(async move {
                let case = CaseId::from_uuid(case_id);
                let (party, name) = own_party(tx, case).await?;
                let form = store::form(tx).await?;
                let response = store::responses(tx, case)
                    .await?
                    .into_iter()
                    .find(|r| r.party_id == party)
                    .map(|r| response_view(r, name));
                Ok(MyIntake {
                    case_id,
                    form: form_view(tx, &form).await?,
                    response,
                    open: is_open(tx, case).await?,
                })
            })
        })
        .await
    }

    /// Everyone's intake answers on a case (its mediator and org admins).
    async fn case_intake(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
    ) -> async_graphql::Result<Vec<IntakeResponseView>> {
        read(ctx, move |tx| {
            Box::pin(async move {
                let case = CaseId::from_uuid(case_id);
                authorize(tx, Action::ViewCase, Some(case)).await?;
                if !matches!(tx.actor().role, Role::OrgAdmin | Role::Mediator) {
                    return Err(ApiError::Forbidden(
                        "the answers are for the case's mediator; see myIntake".into(),
                    ));
                }
                cases::get(tx, case).await.map_err(not_found("case"))?;
                let names: BTreeMap<PartyId, String> = cases::parties(tx, case)
                    .await?
                    .into_iter()
                    .map(|p| (p.id, p.display_name.as_str().to_owned()))
                    .collect();
                Ok(store::responses(tx, case)
                    .await?
                    .into_iter()
                    .map(|r| {
                        let name = names.get(&r.party_id).cloned().unwrap_or_default();
                        response_view(r, name)
                    })
                    .collect())
            })
        })
        .await
    }
}

/// Writes for the intake form.
#[derive(Debug, Default)]
pub struct IntakeMutation;

#[Object]
impl IntakeMutation {
    /// Sets the org's intake form (org admins).
    async fn set_intake_form(
        &self,
        ctx: &Context<'_>,
        fields: Vec<IntakeFieldInput>,
        dispute_types: Vec<String>,
    ) -> async_graphql::Result<IntakeFormView> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                authorize(tx, Action::ManageMembers, None).await?;
                let form = IntakeForm::new(
                    fields
                        .into_iter()
                        .map(|f| FieldSetting {
                            field: f.field.into(),
                            required: f.required,
                        })
                        .collect(),
                    dispute_types,
                )?;
                store::set_form(tx, &form).await?;
                let org = tx.actor().org_id.as_uuid();
                audit::append(tx, "org.set_intake_form", "organization", Some(org)).await?;
                form_view(tx, &form).await
            })
        })
        .await
    }

    /// Sends (or replaces) the signed-in person's answers on a case, until
    /// its first session is held.
    async fn submit_intake(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
        answers: Vec<IntakeAnswerInput>,
    ) -> async_graphql::Result<IntakeResponseView> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let case = CaseId::from_uuid(case_id);
                let (party, name) = own_party(tx, case).await?;
                if !is_open(tx, case).await? {
                    return Err(ApiError::Conflict(
                        "the case's first session was held; the intake form is closed".into(),
                    ));
                }
                let mut given = BTreeMap::new();
                for a in answers {
                    if given.insert(IntakeField::from(a.field), a.value).is_some() {
                        return Err(ApiError::bad_input("answers", "answer each field once"));
                    }
                }
                let form = store::form(tx).await?;
                let clean = form.check(&Answers(given))?;
                let stored = store::submit(tx, case, party, &clean).await?;
                audit::append(tx, "intake.submit", "party", Some(party.as_uuid())).await?;
                Ok(response_view(stored, name))
            })
        })
        .await
    }
}

//! The org's intake form and each person's answers on a case. Answers are
//! case content: stored as JSON by field name, never logged.

use std::collections::BTreeMap;

use accord_domain::intake::{Answers, FieldSetting, IntakeField, IntakeForm};
use accord_domain::{CaseId, PartyId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{DbError, TenantTx};

#[derive(Serialize, Deserialize)]
struct StoredField {
    field: String,
    required: bool,
}

/// The org's form (the default one until an admin sets it).
pub async fn form(tx: &mut TenantTx) -> Result<IntakeForm, DbError> {
    let row: Option<(serde_json::Value, serde_json::Value)> =
        sqlx::query_as("SELECT fields, dispute_types FROM intake_forms")
            .fetch_optional(tx.conn())
            .await?;
    let Some((fields, dispute_types)) = row else {
        return Ok(IntakeForm::default_form());
    };
    let corrupt = |e: serde_json::Error| DbError::Corrupt(format!("intake form: {e}"));
    let fields: Vec<StoredField> = serde_json::from_value(fields).map_err(corrupt)?;
    let dispute_types: Vec<String> = serde_json::from_value(dispute_types).map_err(corrupt)?;
    let fields = fields
        .into_iter()
        .map(|f| {
            Ok(FieldSetting {
                field: IntakeField::parse(&f.field)?,
                required: f.required,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(IntakeForm::new(fields, dispute_types)?)
}

/// Sets the org's form.
pub async fn set_form(tx: &mut TenantTx, form: &IntakeForm) -> Result<(), DbError> {
    let org = tx.actor().org_id.as_uuid();
    let fields: Vec<StoredField> = form
        .fields()
        .iter()
        .map(|f| StoredField {
            field: f.field.as_str().to_owned(),
            required: f.required,
        })
        .collect();
    let fields = serde_json::to_value(fields).map_err(|e| DbError::Corrupt(e.to_string()))?;
    let types =
        serde_json::to_value(form.dispute_types()).map_err(|e| DbError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO intake_forms (org_id, fields, dispute_types) VALUES ($1, $2, $3) \
         ON CONFLICT (org_id) DO UPDATE SET fields = EXCLUDED.fields, \
         dispute_types = EXCLUDED.dispute_types, updated_at = now()",
    )
    .bind(org)
    .bind(fields)
    .bind(types)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A person's answers as stored.
#[derive(Debug, Clone)]
pub struct Response {
    /// Whose.
    pub party_id: PartyId,
    /// The answers.
    pub answers: Answers,
    /// When they were last sent.
    pub submitted_at: DateTime<Utc>,
}

fn answers_from(value: serde_json::Value) -> Result<Answers, DbError> {
    let map: BTreeMap<String, String> = serde_json::from_value(value)
        .map_err(|e| DbError::Corrupt(format!("intake answers: {e}")))?;
    let mut answers = BTreeMap::new();
    for (k, v) in map {
        answers.insert(IntakeField::parse(&k)?, v);
    }
    Ok(Answers(answers))
}

/// Stores a person's answers (again replaces them).
pub async fn submit(
    tx: &mut TenantTx,
    case: CaseId,
    party: PartyId,
    answers: &Answers,
) -> Result<Response, DbError> {
    let org = tx.actor().org_id.as_uuid();
    let map: BTreeMap<&str, &str> = answers
        .0
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let json = serde_json::to_value(map).map_err(|e| DbError::Corrupt(e.to_string()))?;
    let at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO intake_responses (org_id, party_id, case_id, answers) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (party_id) DO UPDATE SET answers = EXCLUDED.answers, submitted_at = now() \
         RETURNING submitted_at",
    )
    .bind(org)
    .bind(party.as_uuid())
    .bind(case.as_uuid())
    .bind(json)
    .fetch_one(tx.conn())
    .await?;
    Ok(Response {
        party_id: party,
        answers: answers.clone(),
        submitted_at: at,
    })
}

/// The answers given on a case, by person.
pub async fn responses(tx: &mut TenantTx, case: CaseId) -> Result<Vec<Response>, DbError> {
    let rows: Vec<(uuid::Uuid, serde_json::Value, DateTime<Utc>)> = sqlx::query_as(
        "SELECT party_id, answers, submitted_at FROM intake_responses WHERE case_id = $1 \
         ORDER BY submitted_at, party_id",
    )
    .bind(case.as_uuid())
    .fetch_all(tx.conn())
    .await?;
    rows.into_iter()
        .map(|(p, a, at)| {
            Ok(Response {
                party_id: PartyId::from_uuid(p),
                answers: answers_from(a)?,
                submitted_at: at,
            })
        })
        .collect()
}

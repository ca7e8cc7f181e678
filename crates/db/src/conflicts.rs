//! Conflicts of interest: mediators' declarations, the organisation each
//! person on a case is there for, the mediators each case has had, override
//! records, and the org's disclosure setting. Matching itself is pure
//! ([`accord_domain::conflict::find_conflicts`]); this module loads its inputs.

use std::collections::BTreeMap;

use accord_domain::conflict::{Declaration, DeclarationKind, OrganizationName, Person};
use accord_domain::{CaseId, EmailAddress, PartyId, UserId};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{DbError, TenantTx};

/// A stored declaration.
#[derive(Debug, Clone)]
pub struct StoredDeclaration {
    /// Its id.
    pub id: Uuid,
    /// Whose.
    pub mediator_id: UserId,
    /// The parsed declaration.
    pub declaration: Declaration,
    /// As typed.
    pub label: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct DeclarationRow {
    id: Uuid,
    mediator_id: Uuid,
    kind: String,
    value: String,
    label: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<DeclarationRow> for StoredDeclaration {
    type Error = DbError;
    fn try_from(r: DeclarationRow) -> Result<Self, DbError> {
        let kind = DeclarationKind::parse(&r.kind)?;
        Ok(StoredDeclaration {
            id: r.id,
            mediator_id: UserId::from_uuid(r.mediator_id),
            declaration: Declaration::parse(kind, &r.value)?,
            label: r.label,
            created_at: r.created_at,
        })
    }
}

/// A mediator's declarations, oldest first.
pub async fn declarations(
    tx: &mut TenantTx,
    mediator: UserId,
) -> Result<Vec<StoredDeclaration>, DbError> {
    let rows: Vec<DeclarationRow> = sqlx::query_as(
        "SELECT id, mediator_id, kind, value, label, created_at FROM mediator_declarations \
         WHERE mediator_id = $1 ORDER BY created_at, id",
    )
    .bind(mediator.as_uuid())
    .fetch_all(tx.conn())
    .await?;
    rows.into_iter().map(TryFrom::try_from).collect()
}

/// Adds a declaration; declaring the same thing twice is a
/// `mediator_declarations_unique` conflict.
pub async fn add_declaration(
    tx: &mut TenantTx,
    mediator: UserId,
    declaration: &Declaration,
    label: &str,
) -> Result<StoredDeclaration, DbError> {
    let org = tx.actor().org_id.as_uuid();
    let row: DeclarationRow = sqlx::query_as(
        "INSERT INTO mediator_declarations (org_id, id, mediator_id, kind, value, label) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         RETURNING id, mediator_id, kind, value, label, created_at",
    )
    .bind(org)
    .bind(Uuid::now_v7())
    .bind(mediator.as_uuid())
    .bind(declaration.kind().as_str())
    .bind(declaration.value())
    .bind(label)
    .fetch_one(tx.conn())
    .await?;
    row.try_into()
}

/// The declaration `id`, whoever's it is.
pub async fn declaration(tx: &mut TenantTx, id: Uuid) -> Result<StoredDeclaration, DbError> {
    let row: DeclarationRow = sqlx::query_as(
        "SELECT id, mediator_id, kind, value, label, created_at FROM mediator_declarations \
         WHERE id = $1",
    )
    .bind(id)
    .fetch_one(tx.conn())
    .await?;
    row.try_into()
}

/// Removes the declaration `id`.
pub async fn remove_declaration(tx: &mut TenantTx, id: Uuid) -> Result<(), DbError> {
    let done = sqlx::query("DELETE FROM mediator_declarations WHERE id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    if done.rows_affected() == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}

/// Sets (or with `None` clears) the organisation a person is on their case for.
pub async fn set_party_organization(
    tx: &mut TenantTx,
    party: PartyId,
    organization: Option<(&OrganizationName, &str)>,
) -> Result<(), DbError> {
    let org = tx.actor().org_id.as_uuid();
    match organization {
        Some((name, label)) => {
            sqlx::query(
                "INSERT INTO party_organizations (org_id, party_id, organization, label) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (party_id) DO UPDATE \
                 SET organization = EXCLUDED.organization, label = EXCLUDED.label",
            )
            .bind(org)
            .bind(party.as_uuid())
            .bind(name.as_str())
            .bind(label)
            .execute(tx.conn())
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM party_organizations WHERE party_id = $1")
                .bind(party.as_uuid())
                .execute(tx.conn())
                .await?;
        }
    }
    Ok(())
}

/// The organisation labels (as typed) of the people on a case, by party.
pub async fn party_organizations(
    tx: &mut TenantTx,
    case: CaseId,
) -> Result<BTreeMap<PartyId, String>, DbError> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT po.party_id, po.label FROM party_organizations po \
         JOIN case_parties p ON p.id = po.party_id WHERE p.case_id = $1",
    )
    .bind(case.as_uuid())
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(p, l)| (PartyId::from_uuid(p), l))
        .collect())
}

#[derive(sqlx::FromRow)]
struct PersonRow {
    case_id: Uuid,
    party_id: Uuid,
    email: String,
    organization: Option<String>,
}

fn person(r: &PersonRow) -> Result<Person<PartyId>, DbError> {
    Ok(Person {
        key: PartyId::from_uuid(r.party_id),
        email: EmailAddress::parse(&r.email)?,
        organization: r
            .organization
            .as_deref()
            .map(OrganizationName::parse)
            .transpose()?,
    })
}

const PEOPLE: &str = "SELECT p.case_id, p.id AS party_id, p.email, po.organization \
     FROM case_parties p LEFT JOIN party_organizations po ON po.party_id = p.id";

/// The people on a case, as conflict checks see them.
pub async fn people_of_case(
    tx: &mut TenantTx,
    case: CaseId,
) -> Result<Vec<Person<PartyId>>, DbError> {
    let rows: Vec<PersonRow> = sqlx::query_as(&format!(
        "{PEOPLE} WHERE p.case_id = $1 ORDER BY p.created_at, p.id"
    ))
    .bind(case.as_uuid())
    .fetch_all(tx.conn())
    .await?;
    rows.iter().map(person).collect()
}

/// The people on every other case the mediator has or had in the org
/// (currently assigned, whatever the case's status, or assigned before).
pub async fn people_of_mediators_other_cases(
    tx: &mut TenantTx,
    mediator: UserId,
    except: CaseId,
) -> Result<Vec<(CaseId, Vec<Person<PartyId>>)>, DbError> {
    let rows: Vec<PersonRow> = sqlx::query_as(&format!(
        "{PEOPLE} WHERE p.case_id <> $2 AND p.case_id IN ( \
             SELECT id FROM cases WHERE mediator_id = $1 \
             UNION SELECT case_id FROM mediator_case_history WHERE mediator_id = $1) \
         ORDER BY p.case_id, p.created_at, p.id"
    ))
    .bind(mediator.as_uuid())
    .bind(except.as_uuid())
    .fetch_all(tx.conn())
    .await?;
    let mut by_case: BTreeMap<CaseId, Vec<Person<PartyId>>> = BTreeMap::new();
    for r in &rows {
        by_case
            .entry(CaseId::from_uuid(r.case_id))
            .or_default()
            .push(person(r)?);
    }
    Ok(by_case.into_iter().collect())
}

/// Records that `mediator` was assigned to `case` (again is a no-op).
pub async fn record_assignment(
    tx: &mut TenantTx,
    case: CaseId,
    mediator: UserId,
) -> Result<(), DbError> {
    let org = tx.actor().org_id.as_uuid();
    sqlx::query(
        "INSERT INTO mediator_case_history (org_id, case_id, mediator_id) VALUES ($1, $2, $3) \
         ON CONFLICT (case_id, mediator_id) DO NOTHING",
    )
    .bind(org)
    .bind(case.as_uuid())
    .bind(mediator.as_uuid())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// An override as recorded.
#[derive(Debug, Clone)]
pub struct Override {
    /// Its id.
    pub id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// The mediator assigned despite the conflicts.
    pub mediator_id: UserId,
    /// The written reason (case content).
    pub reason: String,
    /// The conflicts as found, as stored JSON.
    pub conflicts: serde_json::Value,
    /// The org admin who overrode.
    pub overridden_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct OverrideRow {
    id: Uuid,
    case_id: Uuid,
    mediator_id: Uuid,
    reason: String,
    conflicts: serde_json::Value,
    overridden_by: Uuid,
    created_at: DateTime<Utc>,
}

impl From<OverrideRow> for Override {
    fn from(r: OverrideRow) -> Self {
        Override {
            id: r.id,
            case_id: CaseId::from_uuid(r.case_id),
            mediator_id: UserId::from_uuid(r.mediator_id),
            reason: r.reason,
            conflicts: r.conflicts,
            overridden_by: UserId::from_uuid(r.overridden_by),
            created_at: r.created_at,
        }
    }
}

/// Records an override by `by`.
pub async fn record_override(
    tx: &mut TenantTx,
    case: CaseId,
    mediator: UserId,
    by: UserId,
    reason: &str,
    conflicts: serde_json::Value,
) -> Result<Override, DbError> {
    let org = tx.actor().org_id.as_uuid();
    let row: OverrideRow = sqlx::query_as(
        "INSERT INTO conflict_overrides (org_id, id, case_id, mediator_id, reason, conflicts, overridden_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         RETURNING id, case_id, mediator_id, reason, conflicts, overridden_by, created_at",
    )
    .bind(org)
    .bind(Uuid::now_v7())
    .bind(case.as_uuid())
    .bind(mediator.as_uuid())
    .bind(reason)
    .bind(conflicts)
    .bind(by.as_uuid())
    .fetch_one(tx.conn())
    .await?;
    Ok(row.into())
}

/// A case's overrides, oldest first.
pub async fn overrides(tx: &mut TenantTx, case: CaseId) -> Result<Vec<Override>, DbError> {
    let rows: Vec<OverrideRow> = sqlx::query_as(
        "SELECT id, case_id, mediator_id, reason, conflicts, overridden_by, created_at \
         FROM conflict_overrides WHERE case_id = $1 ORDER BY created_at, id",
    )
    .bind(case.as_uuid())
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(Override::from).collect())
}

/// One of the org's workflow switches (`org_workflow_settings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Switch {
    DiscloseConflicts,
    AdmitUnsigned,
    AllowHopByHop,
}

impl Switch {
    fn column(self) -> &'static str {
        match self {
            Switch::DiscloseConflicts => "disclose_conflicts",
            Switch::AdmitUnsigned => "admit_unsigned",
            Switch::AllowHopByHop => "allow_hop_by_hop",
        }
    }

    /// Its value before an org admin changes it (the column's default).
    fn default(self) -> bool {
        matches!(self, Switch::AdmitUnsigned)
    }

    async fn get(self, tx: &mut TenantTx) -> Result<bool, DbError> {
        let v: Option<bool> = sqlx::query_scalar(&format!(
            "SELECT {} FROM org_workflow_settings",
            self.column()
        ))
        .fetch_optional(tx.conn())
        .await?;
        Ok(v.unwrap_or(self.default()))
    }

    async fn set(self, tx: &mut TenantTx, value: bool) -> Result<(), DbError> {
        let org = tx.actor().org_id.as_uuid();
        let column = self.column();
        sqlx::query(&format!(
            "INSERT INTO org_workflow_settings (org_id, {column}) VALUES ($1, $2) \
             ON CONFLICT (org_id) DO UPDATE SET {column} = EXCLUDED.{column}, updated_at = now()"
        ))
        .bind(org)
        .bind(value)
        .execute(tx.conn())
        .await?;
        Ok(())
    }
}

/// Whether the org tells parties of overridden conflicts.
pub async fn disclose_conflicts(tx: &mut TenantTx) -> Result<bool, DbError> {
    Switch::DiscloseConflicts.get(tx).await
}

/// Sets whether the org tells parties of overridden conflicts.
pub async fn set_disclose_conflicts(tx: &mut TenantTx, disclose: bool) -> Result<(), DbError> {
    Switch::DiscloseConflicts.set(tx, disclose).await
}

/// Whether the org lets people who have not signed their case's agreement to
/// mediate join its live sessions (yes unless an org admin said no).
pub async fn admit_unsigned(tx: &mut TenantTx) -> Result<bool, DbError> {
    Switch::AdmitUnsigned.get(tx).await
}

/// Sets whether people who have not signed the agreement to mediate may join.
pub async fn set_admit_unsigned(tx: &mut TenantTx, admit: bool) -> Result<(), DbError> {
    Switch::AdmitUnsigned.set(tx, admit).await
}

/// Whether the org lets people whose browser cannot encrypt media end to
/// end join its live sessions, hop by hop only (no unless an org admin said
/// yes).
pub async fn allow_hop_by_hop(tx: &mut TenantTx) -> Result<bool, DbError> {
    Switch::AllowHopByHop.get(tx).await
}

/// Sets whether sessions may run hop by hop for browsers that cannot encrypt.
pub async fn set_allow_hop_by_hop(tx: &mut TenantTx, allow: bool) -> Result<(), DbError> {
    Switch::AllowHopByHop.set(tx, allow).await
}

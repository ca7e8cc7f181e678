//! Conflicts of interest.
//!
//! Mediators declare relationships on their profile (organisations, people by
//! email, email domains): a mediator edits their own, an org admin anyone's.
//! Assigning a mediator to a case (`assignMediator`) first checks those
//! declarations and the people on the mediator's other cases in the org,
//! current and past, against the case's people ([`ensure_no_conflicts`]); a
//! conflict refuses the assignment with `CONFLICT`. Org admins see what was
//! found (`mediatorConflicts`) and may assign anyway with a written reason
//! (`assignMediatorWithOverride`), which is recorded with the conflicts and
//! audited. The mediator concerned can never override for themselves. When
//! the org discloses conflicts (`setConflictDisclosure`), the people on the
//! case see the override (`caseConflictDisclosures`).

use std::collections::BTreeMap;

use accord_db::conflicts::{self as store, StoredDeclaration};
use accord_db::{audit, cases, members, TenantTx};
use accord_domain::conflict::{
    find_conflicts, parse_override_reason, Conflict, ConflictReason, Declaration, DeclarationKind,
    OrganizationName, Person,
};
use accord_domain::{Action, CaseId, EmailAddress, Grant, PartyId, Role, UserId};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::types::{case_for, not_found, AddPartyInput, Party};
use super::{authorize, deny_early, mutate, rctx, read};
use crate::ApiError;

/// What a declaration names.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum GqlDeclarationKind {
    /// An organisation.
    Organization,
    /// A person, by email address.
    Person,
    /// An email domain.
    EmailDomain,
}

impl From<GqlDeclarationKind> for DeclarationKind {
    fn from(k: GqlDeclarationKind) -> Self {
        match k {
            GqlDeclarationKind::Organization => DeclarationKind::Organization,
            GqlDeclarationKind::Person => DeclarationKind::Person,
            GqlDeclarationKind::EmailDomain => DeclarationKind::EmailDomain,
        }
    }
}

impl From<DeclarationKind> for GqlDeclarationKind {
    fn from(k: DeclarationKind) -> Self {
        match k {
            DeclarationKind::Organization => GqlDeclarationKind::Organization,
            DeclarationKind::Person => GqlDeclarationKind::Person,
            DeclarationKind::EmailDomain => GqlDeclarationKind::EmailDomain,
        }
    }
}

/// A relationship a mediator declared.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "MediatorDeclaration")]
pub struct GqlDeclaration {
    /// Its id.
    pub id: Uuid,
    /// The mediator.
    pub mediator_id: Uuid,
    /// What it names.
    pub kind: GqlDeclarationKind,
    /// As typed.
    pub label: String,
    /// As compared (folded organisation name, lower-case address or domain).
    pub value: String,
    /// When it was declared.
    pub created_at: DateTime<Utc>,
}

impl From<StoredDeclaration> for GqlDeclaration {
    fn from(d: StoredDeclaration) -> Self {
        GqlDeclaration {
            id: d.id,
            mediator_id: d.mediator_id.as_uuid(),
            kind: d.declaration.kind().into(),
            value: d.declaration.value().to_owned(),
            label: d.label,
            created_at: d.created_at,
        }
    }
}

/// Why a person on the case conflicts with the mediator.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ConflictKind {
    /// The mediator declared this person.
    DeclaredPerson,
    /// The mediator declared the person's organisation.
    DeclaredOrganization,
    /// The mediator declared the person's email domain.
    DeclaredDomain,
    /// The same person (by email) is on another of the mediator's cases.
    SamePersonOnOtherCase,
    /// Someone of the same organisation is on another of the mediator's cases.
    SameOrganizationOnOtherCase,
    /// Someone at the same email domain is on another of the mediator's cases.
    SameDomainOnOtherCase,
}

impl From<&ConflictReason> for ConflictKind {
    fn from(r: &ConflictReason) -> Self {
        match r {
            ConflictReason::DeclaredPerson => ConflictKind::DeclaredPerson,
            ConflictReason::DeclaredOrganization => ConflictKind::DeclaredOrganization,
            ConflictReason::DeclaredDomain => ConflictKind::DeclaredDomain,
            ConflictReason::SamePersonOnOtherCase => ConflictKind::SamePersonOnOtherCase,
            ConflictReason::SameOrganizationOnOtherCase => {
                ConflictKind::SameOrganizationOnOtherCase
            }
            ConflictReason::SameDomainOnOtherCase => ConflictKind::SameDomainOnOtherCase,
        }
    }
}

/// One conflict found.
#[derive(SimpleObject, Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FoundConflict {
    /// The person on the case.
    pub party_id: Uuid,
    /// Their name.
    pub party_name: String,
    /// Why.
    #[serde(skip)]
    pub kind: ConflictKind,
    /// The reason's stable name (as stored with an override).
    pub reason: String,
    /// What matched: the address, domain or organisation.
    pub matched: String,
    /// The mediator's other case, for matches there.
    pub other_case_id: Option<Uuid>,
    /// That case's reference.
    pub other_case_reference: Option<String>,
}

/// An override of conflicts by an org admin.
#[derive(SimpleObject, Debug, Clone)]
pub struct ConflictOverride {
    /// Its id.
    pub id: Uuid,
    /// The case.
    pub case_id: Uuid,
    /// The mediator assigned.
    pub mediator_id: Uuid,
    /// The written reason.
    pub reason: String,
    /// The kinds of conflict found, by stable name.
    pub conflict_reasons: Vec<String>,
    /// The org admin who overrode; null when shown to the people on the case.
    pub overridden_by: Option<Uuid>,
    /// When.
    pub created_at: DateTime<Utc>,
}

fn override_view(o: store::Override, staff: bool) -> ConflictOverride {
    let mut reasons: Vec<String> = o
        .conflicts
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.get("reason").and_then(|r| r.as_str()).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    reasons.sort();
    reasons.dedup();
    ConflictOverride {
        id: o.id,
        case_id: o.case_id.as_uuid(),
        mediator_id: o.mediator_id.as_uuid(),
        reason: o.reason,
        conflict_reasons: reasons,
        overridden_by: staff.then(|| o.overridden_by.as_uuid()),
        created_at: o.created_at,
    }
}

/// A declaration to add.
#[derive(InputObject, Debug)]
pub struct DeclarationInput {
    /// Whose: the signed-in mediator when null; org admins may name any mediator.
    pub mediator_id: Option<Uuid>,
    /// What it names.
    pub kind: GqlDeclarationKind,
    /// The organisation's name, the person's email address, or the domain.
    pub value: String,
}

/// The conflicts between `mediator` and the people on `case`.
pub(crate) async fn conflicts_for(
    tx: &mut TenantTx,
    case: CaseId,
    mediator: UserId,
) -> Result<Vec<FoundConflict>, ApiError> {
    let people = store::people_of_case(tx, case).await?;
    if people.is_empty() {
        return Ok(Vec::new());
    }
    let declarations = declared(tx, mediator).await?;
    let others = store::people_of_mediators_other_cases(tx, mediator, case).await?;
    let found: Vec<Conflict<PartyId, CaseId>> = find_conflicts(&people, &declarations, &others);
    describe(tx, case, found).await
}

/// The conflicts found on `case`, with the people's names and the other
/// cases' references.
async fn describe(
    tx: &mut TenantTx,
    case: CaseId,
    found: Vec<Conflict<PartyId, CaseId>>,
) -> Result<Vec<FoundConflict>, ApiError> {
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let names: BTreeMap<PartyId, String> = cases::parties(tx, case)
        .await?
        .into_iter()
        .map(|p| (p.id, p.display_name.as_str().to_owned()))
        .collect();
    let other_ids: Vec<CaseId> = found.iter().filter_map(|c| c.other_case).collect();
    let refs: BTreeMap<CaseId, String> = cases::get_many(tx, &other_ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c.reference.as_str().to_owned()))
        .collect();
    Ok(found
        .into_iter()
        .map(|c| FoundConflict {
            party_id: c.person.as_uuid(),
            party_name: names.get(&c.person).cloned().unwrap_or_default(),
            kind: (&c.reason).into(),
            reason: c.reason.as_str().to_owned(),
            matched: c.matched,
            other_case_id: c.other_case.map(|id| id.as_uuid()),
            other_case_reference: c.other_case.and_then(|id| refs.get(&id).cloned()),
        })
        .collect())
}

/// Checks that assigning `mediator` to `case` meets no conflict, and
/// records the assignment in the case's mediator history. A conflict is
/// `CONFLICT`: an org admin may override it with `assignMediatorWithOverride`.
pub(crate) async fn ensure_no_conflicts(
    tx: &mut TenantTx,
    case: CaseId,
    mediator: UserId,
) -> Result<(), ApiError> {
    let found = conflicts_for(tx, case, mediator).await?;
    if !found.is_empty() {
        return Err(ApiError::Conflict(format!(
            "the mediator has {} conflict(s) of interest with the people on this case; \
             see mediatorConflicts, and an org admin may assign with an override and a written reason",
            found.len()
        )));
    }
    store::record_assignment(tx, case, mediator).await?;
    Ok(())
}

/// Records `mediator` in a new case's mediator history.
pub(crate) async fn record_assignment(
    tx: &mut TenantTx,
    case: CaseId,
    mediator: UserId,
) -> Result<(), ApiError> {
    store::record_assignment(tx, case, mediator).await?;
    Ok(())
}

/// The conflicts between the person `party`, just added to `case`, and the
/// mediator's declared relationships (their declared people, organisations
/// and email domains).
///
/// Matches against the mediator's other cases are left to assignment: the
/// same person or organisation coming back to a mediator (an insurer on many
/// cases) is the ordinary course of a caseload, and `assignMediator` reports
/// it whenever the case is assigned.
async fn new_party_conflicts(
    tx: &mut TenantTx,
    case: CaseId,
    mediator: UserId,
    party: PartyId,
) -> Result<Vec<FoundConflict>, ApiError> {
    let people: Vec<Person<PartyId>> = store::people_of_case(tx, case)
        .await?
        .into_iter()
        .filter(|p| p.key == party)
        .collect();
    let declarations = declared(tx, mediator).await?;
    let none: &[(CaseId, Vec<Person<PartyId>>)] = &[];
    let found = find_conflicts(&people, &declarations, none);
    describe(tx, case, found).await
}

async fn declared(tx: &mut TenantTx, mediator: UserId) -> Result<Vec<Declaration>, ApiError> {
    Ok(store::declarations(tx, mediator)
        .await?
        .into_iter()
        .map(|d| d.declaration)
        .collect())
}

/// An org admin adding a person despite conflicts: who, and why.
#[derive(Debug)]
pub(crate) struct PartyOverride {
    by: UserId,
    reason: String,
}

/// Checks a person just added to `case` against its mediator (when it has
/// one). Without `over`, a conflict is `CONFLICT` (the caller's savepoint
/// then undoes the addition); with it, the conflicts and the reason are
/// recorded as an override and audited as `conflict.override` on the case.
pub(crate) async fn check_new_party(
    tx: &mut TenantTx,
    case: &cases::Case,
    party: PartyId,
    over: Option<PartyOverride>,
) -> Result<(), ApiError> {
    let Some(mediator) = case.mediator_id else {
        return match over {
            None => Ok(()),
            Some(_) => Err(ApiError::Conflict(
                "the case has no mediator, so there is no conflict to override: \
                 add the person with addParty"
                    .into(),
            )),
        };
    };
    let found = new_party_conflicts(tx, case.id, mediator, party).await?;
    match (found.is_empty(), over) {
        (true, None) => Ok(()),
        (false, None) => Err(ApiError::Conflict(format!(
            "the case's mediator has {} conflict(s) of interest with this person; \
             see partyConflicts, and an org admin may add them with an override and a written reason",
            found.len()
        ))),
        (true, Some(_)) => Err(ApiError::Conflict(
            "there is no conflict to override: add the person with addParty".into(),
        )),
        (false, Some(o)) => {
            if o.by == mediator {
                return Err(ApiError::Forbidden(
                    "a mediator cannot override their own conflicts of interest".into(),
                ));
            }
            let recorded = serde_json::to_value(&found)
                .map_err(|e| ApiError::Internal(format!("conflicts as JSON: {e}")))?;
            store::record_override(tx, case.id, mediator, o.by, &o.reason, recorded).await?;
            audit::append(tx, "conflict.override", "case", Some(case.id.as_uuid())).await?;
            Ok(())
        }
    }
}

/// A conflict a person would meet if added to a case.
#[derive(SimpleObject, Debug, Clone)]
pub struct ProspectiveConflict {
    /// Why.
    pub kind: ConflictKind,
    /// The reason's stable name (as stored with an override).
    pub reason: String,
    /// What matched: the address, domain or organisation.
    pub matched: String,
}

/// Whose declarations the actor may read and change: their own as a
/// mediator, anyone's as an org admin.
async fn declarations_owner(tx: &mut TenantTx, mediator: Option<Uuid>) -> Result<UserId, ApiError> {
    let actor = tx.actor();
    let me = actor.user_id;
    let admin = accord_domain::grant(actor.role, Action::ManageMembers) == Grant::OrgWide;
    let target = match (mediator.map(UserId::from_uuid), me) {
        (Some(m), _) => m,
        (None, Some(me)) => me,
        (None, None) => return Err(ApiError::bad_input("mediatorId", "name the mediator")),
    };
    if admin {
        match members::get(tx, target).await {
            Ok(m) if m.role == Role::Mediator => Ok(target),
            Ok(_) | Err(accord_db::DbError::NotFound) => Err(ApiError::bad_input(
                "mediatorId",
                "that member is not a mediator of this organization",
            )),
            Err(e) => Err(e.into()),
        }
    } else if actor.role == Role::Mediator && Some(target) == me {
        Ok(target)
    } else {
        Err(ApiError::Forbidden(
            "mediators manage their own declarations; org admins manage anyone's".into(),
        ))
    }
}

/// Reads for conflicts of interest.
#[derive(Debug, Default)]
pub struct ConflictsQuery;

#[Object]
impl ConflictsQuery {
    /// A mediator's declared relationships: the signed-in mediator's own when
    /// `mediatorId` is null; org admins may name any mediator.
    async fn mediator_declarations(
        &self,
        ctx: &Context<'_>,
        mediator_id: Option<Uuid>,
    ) -> async_graphql::Result<Vec<GqlDeclaration>> {
        read(ctx, move |tx| {
            Box::pin(async move {
                let owner = declarations_owner(tx, mediator_id).await?;
                Ok(store::declarations(tx, owner)
                    .await?
                    .into_iter()
                    .map(Into::into)
                    .collect())
            })
        })
        .await
    }

    /// The conflicts assigning `mediatorId` to the case would meet (org admins).
    async fn mediator_conflicts(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
        mediator_id: Uuid,
    ) -> async_graphql::Result<Vec<FoundConflict>> {
        read(ctx, move |tx| {
            Box::pin(async move {
                let case = CaseId::from_uuid(case_id);
                case_for(tx, Action::AssignMediator, case).await?;
                let mediator = UserId::from_uuid(mediator_id);
                declarations_owner(tx, Some(mediator_id)).await?;
                conflicts_for(tx, case, mediator).await
            })
        })
        .await
    }

    /// Overrides on a case. Org admins and the case's mediator see them all;
    /// the people on the case see those for its current mediator when the
    /// org discloses conflicts, and otherwise none.
    async fn case_conflict_overrides(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
    ) -> async_graphql::Result<Vec<ConflictOverride>> {
        read(ctx, move |tx| {
            Box::pin(async move {
                let case_id = CaseId::from_uuid(case_id);
                let case = case_for(tx, Action::ViewCase, case_id).await?;
                let role = tx.actor().role;
                let staff = matches!(role, Role::OrgAdmin | Role::Mediator);
                let all = store::overrides(tx, case_id).await?;
                if staff {
                    return Ok(all.into_iter().map(|o| override_view(o, true)).collect());
                }
                if !store::disclose_conflicts(tx).await? {
                    return Ok(Vec::new());
                }
                Ok(all
                    .into_iter()
                    .filter(|o| Some(o.mediator_id) == case.mediator_id)
                    .map(|o| override_view(o, false))
                    .collect())
            })
        })
        .await
    }

    /// The conflicts a person with this email address (and, when given, on
    /// the case for this organisation) would meet on the case: its
    /// mediator's declared relationships that match them (org admins).
    /// Empty when the case has no mediator.
    async fn party_conflicts(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
        email: String,
        organization: Option<String>,
    ) -> async_graphql::Result<Vec<ProspectiveConflict>> {
        read(ctx, move |tx| {
            Box::pin(async move {
                deny_early(tx, Action::AssignMediator)?;
                let case = case_for(tx, Action::ManageParties, CaseId::from_uuid(case_id)).await?;
                let email = EmailAddress::parse(&email)?;
                let organization = organization
                    .map(|o| o.split_whitespace().collect::<Vec<_>>().join(" "))
                    .filter(|o| !o.is_empty())
                    .map(|o| OrganizationName::parse(&o))
                    .transpose()?;
                let Some(mediator) = case.mediator_id else {
                    return Ok(Vec::new());
                };
                let declarations = declared(tx, mediator).await?;
                let person = [Person {
                    key: (),
                    email,
                    organization,
                }];
                let none: &[(CaseId, Vec<Person<()>>)] = &[];
                Ok(find_conflicts(&person, &declarations, none)
                    .into_iter()
                    .map(|c| ProspectiveConflict {
                        kind: (&c.reason).into(),
                        reason: c.reason.as_str().to_owned(),
                        matched: c.matched,
                    })
                    .collect())
            })
        })
        .await
    }

    /// Whether the org tells the people on a case of an overridden conflict.
    async fn conflict_disclosure(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        read(ctx, move |tx| {
            Box::pin(async move {
                authorize(tx, Action::ViewOrganization, None).await?;
                Ok(store::disclose_conflicts(tx).await?)
            })
        })
        .await
    }
}

/// Writes for conflicts of interest.
#[derive(Debug, Default)]
pub struct ConflictsMutation;

#[Object]
impl ConflictsMutation {
    /// Declares a relationship on a mediator's profile.
    async fn add_mediator_declaration(
        &self,
        ctx: &Context<'_>,
        input: DeclarationInput,
    ) -> async_graphql::Result<GqlDeclaration> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let owner = declarations_owner(tx, input.mediator_id).await?;
                let declaration = Declaration::parse(input.kind.into(), &input.value)?;
                let label = input.value.split_whitespace().collect::<Vec<_>>().join(" ");
                let stored = store::add_declaration(tx, owner, &declaration, &label)
                    .await
                    .map_err(|e| match e {
                        accord_db::DbError::Conflict { .. } => {
                            ApiError::Conflict("this relationship is already declared".into())
                        }
                        other => other.into(),
                    })?;
                audit::append(tx, "conflict.declare", "declaration", Some(stored.id)).await?;
                Ok(stored.into())
            })
        })
        .await
    }

    /// Removes a declaration. Returns its id.
    async fn remove_mediator_declaration(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> async_graphql::Result<Uuid> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                if !matches!(tx.actor().role, Role::OrgAdmin | Role::Mediator) {
                    return Err(ApiError::Forbidden(
                        "mediators manage their own declarations; org admins manage anyone's"
                            .into(),
                    ));
                }
                let stored = store::declaration(tx, id)
                    .await
                    .map_err(not_found("declaration"))?;
                // Another mediator's declaration is NOT_FOUND to a mediator.
                declarations_owner(tx, Some(stored.mediator_id.as_uuid()))
                    .await
                    .map_err(|e| match e {
                        ApiError::Forbidden(_) => ApiError::NotFound("declaration"),
                        other => other,
                    })?;
                store::remove_declaration(tx, id)
                    .await
                    .map_err(not_found("declaration"))?;
                audit::append(tx, "conflict.withdraw", "declaration", Some(id)).await?;
                Ok(id)
            })
        })
        .await
    }

    /// Sets the organisation a person is on their case for (a company, an
    /// insurer), or clears it with null. Conflict checks match on it: when
    /// the new organisation brings a conflict with the case's mediator's
    /// declared relationships it is `CONFLICT` (see `partyConflicts`),
    /// unless an org admin other than that mediator gives `overrideReason`,
    /// which is recorded as an override on the case and audited. Conflicts
    /// the person had anyway (by their address) are not this change's.
    async fn set_party_organization(
        &self,
        ctx: &Context<'_>,
        party_id: Uuid,
        organization: Option<String>,
        override_reason: Option<String>,
    ) -> async_graphql::Result<Option<String>> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                deny_early(tx, Action::ManageParties)?;
                let id = PartyId::from_uuid(party_id);
                let party = cases::party(tx, id).await.map_err(not_found("party"))?;
                authorize(tx, Action::ManageParties, Some(party.case_id)).await?;
                let over = match override_reason {
                    None => None,
                    Some(reason) => {
                        deny_early(tx, Action::AssignMediator)?;
                        authorize(tx, Action::AssignMediator, Some(party.case_id)).await?;
                        let by = tx.actor().user_id.ok_or_else(|| {
                            ApiError::Forbidden("only a person can override".into())
                        })?;
                        Some(PartyOverride {
                            by,
                            reason: parse_override_reason(&reason)?,
                        })
                    }
                };
                let organization = organization
                    .map(|o| o.split_whitespace().collect::<Vec<_>>().join(" "))
                    .filter(|o| !o.is_empty());
                let case = cases::get(tx, party.case_id)
                    .await
                    .map_err(not_found("party"))?;
                // Conflicts the person had before: not this change's to answer for.
                let before = match case.mediator_id {
                    Some(m) => new_party_conflicts(tx, case.id, m, id).await?,
                    None => Vec::new(),
                };
                match &organization {
                    Some(label) => {
                        let name = OrganizationName::parse(label)?;
                        store::set_party_organization(tx, id, Some((&name, label))).await?;
                    }
                    None => store::set_party_organization(tx, id, None).await?,
                }
                // The person as now described, against the case's mediator:
                // a conflict this organisation brings needs an override.
                let after = match case.mediator_id {
                    Some(m) => new_party_conflicts(tx, case.id, m, id).await?,
                    None => Vec::new(),
                };
                let brought = after.iter().any(|c| {
                    !before
                        .iter()
                        .any(|b| b.reason == c.reason && b.matched == c.matched)
                });
                if brought {
                    check_new_party(tx, &case, id, over).await?;
                }
                audit::append(tx, "party.set_organization", "party", Some(party_id)).await?;
                Ok(organization)
            })
        })
        .await
    }

    /// Assigns a mediator despite conflicts of interest, with a written
    /// reason (org admins only; never the mediator concerned). The reason and
    /// the conflicts found are recorded and the override is audited.
    async fn assign_mediator_with_override(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
        mediator_id: Uuid,
        reason: String,
    ) -> async_graphql::Result<ConflictOverride> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let actor = tx.actor();
                let mediator = UserId::from_uuid(mediator_id);
                if actor.user_id == Some(mediator) {
                    return Err(ApiError::Forbidden(
                        "a mediator cannot override their own conflicts of interest".into(),
                    ));
                }
                deny_early(tx, Action::AssignMediator)?;
                let case = CaseId::from_uuid(case_id);
                case_for(tx, Action::AssignMediator, case).await?;
                declarations_owner(tx, Some(mediator_id)).await?;
                let by = actor
                    .user_id
                    .ok_or_else(|| ApiError::Forbidden("only a person can override".into()))?;
                let reason = parse_override_reason(&reason)?;
                let found = conflicts_for(tx, case, mediator).await?;
                if found.is_empty() {
                    return Err(ApiError::Conflict(
                        "there is no conflict to override: assign the mediator with assignMediator"
                            .into(),
                    ));
                }
                let recorded = serde_json::to_value(&found)
                    .map_err(|e| ApiError::Internal(format!("conflicts as JSON: {e}")))?;
                let o = store::record_override(tx, case, mediator, by, &reason, recorded).await?;
                cases::set_mediator(tx, case, Some(mediator)).await?;
                store::record_assignment(tx, case, mediator).await?;
                // One event: the assignment, made by overriding (the override
                // row holds the reason and the conflicts).
                audit::append(tx, "conflict.override", "case", Some(case_id)).await?;
                Ok(override_view(o, true))
            })
        })
        .await
    }

    /// Adds a person to a case despite conflicts with its mediator's
    /// declared relationships, with a written reason (org admins only; never
    /// the mediator concerned). The reason and the conflicts are recorded as
    /// an override on the case, shown with the case's other overrides, and
    /// audited (`party.add` and `conflict.override`).
    async fn add_party_with_override(
        &self,
        ctx: &Context<'_>,
        input: AddPartyInput,
        reason: String,
    ) -> async_graphql::Result<Party> {
        let state = rctx(ctx).state().clone();
        mutate(ctx, move |tx| {
            Box::pin(async move {
                deny_early(tx, Action::AssignMediator)?;
                let by = tx
                    .actor()
                    .user_id
                    .ok_or_else(|| ApiError::Forbidden("only a person can override".into()))?;
                let case =
                    case_for(tx, Action::ManageParties, CaseId::from_uuid(input.case_id)).await?;
                if case.mediator_id == Some(by) {
                    return Err(ApiError::Forbidden(
                        "a mediator cannot override their own conflicts of interest".into(),
                    ));
                }
                let reason = parse_override_reason(&reason)?;
                let party = super::mutation::add_person(tx, &case, &input).await?;
                check_new_party(tx, &case, party.id, Some(PartyOverride { by, reason })).await?;
                super::mutation::invite_to_sessions_ahead(tx, &state, &case, party.id).await?;
                Ok(Party::new(&party, true))
            })
        })
        .await
    }

    /// Sets whether the people on a case are told of an overridden conflict
    /// (org admins).
    async fn set_conflict_disclosure(
        &self,
        ctx: &Context<'_>,
        disclose: bool,
    ) -> async_graphql::Result<bool> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                authorize(tx, Action::ManageMembers, None).await?;
                store::set_disclose_conflicts(tx, disclose).await?;
                let org = tx.actor().org_id.as_uuid();
                audit::append(tx, "org.set_conflict_disclosure", "organization", Some(org)).await?;
                Ok(disclose)
            })
        })
        .await
    }
}

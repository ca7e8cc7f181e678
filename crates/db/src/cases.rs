//! Cases and the people on them.

use accord_domain::{
    CaseId, CaseReference, CaseStatus, CaseTitle, DisplayName, EmailAddress, PartyId, PartyKind,
    UserId,
};
use chrono::{DateTime, Utc};

use crate::{DbError, TenantTx};

/// A case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Its id.
    pub id: CaseId,
    /// The org's own reference, unique in the org.
    pub reference: CaseReference,
    /// The title (case content: never logged).
    pub title: CaseTitle,
    /// Where the case stands.
    pub status: CaseStatus,
    /// The assigned mediator, if any.
    pub mediator_id: Option<UserId>,
    /// Who opened it.
    pub created_by: UserId,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct CaseRow {
    id: uuid::Uuid,
    reference: String,
    title: String,
    status: String,
    mediator_id: Option<uuid::Uuid>,
    created_by: uuid::Uuid,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<CaseRow> for Case {
    type Error = DbError;
    fn try_from(r: CaseRow) -> Result<Self, DbError> {
        Ok(Case {
            id: CaseId::from_uuid(r.id),
            reference: CaseReference::parse(&r.reference)?,
            title: CaseTitle::parse(&r.title)?,
            status: r.status.parse()?,
            mediator_id: r.mediator_id.map(UserId::from_uuid),
            created_by: UserId::from_uuid(r.created_by),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const CASE_COLUMNS: &str =
    "id, reference, title, status, mediator_id, created_by, created_at, updated_at";

/// Which cases a listing may show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Every case in the org.
    All,
    /// Only cases the user mediates or is a party/observer on.
    InvolvedOnly(UserId),
}

/// A position in the newest-first listing: the last case seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseCursor {
    /// `created_at` of the last case seen.
    pub created_at: DateTime<Utc>,
    /// `id` of the last case seen (tie-breaker).
    pub id: CaseId,
}

/// Opens a case. A duplicate reference is a [`DbError::Conflict`] on
/// `cases_reference_unique`.
pub async fn create(
    tx: &mut TenantTx,
    reference: &CaseReference,
    title: &CaseTitle,
    mediator_id: Option<UserId>,
) -> Result<Case, DbError> {
    let actor = tx.actor();
    let created_by = actor.user_id.ok_or(DbError::NotAMember)?;
    let row: CaseRow = sqlx::query_as(&format!(
        "INSERT INTO cases (org_id, id, reference, title, mediator_id, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {CASE_COLUMNS}"
    ))
    .bind(actor.org_id.as_uuid())
    .bind(CaseId::new().as_uuid())
    .bind(reference.as_str())
    .bind(title.as_str())
    .bind(mediator_id.map(|m| m.as_uuid()))
    .bind(created_by.as_uuid())
    .fetch_one(tx.conn())
    .await?;
    row.try_into()
}

/// One case, or [`DbError::NotFound`] (also for another org's case).
pub async fn get(tx: &mut TenantTx, id: CaseId) -> Result<Case, DbError> {
    let row: CaseRow = sqlx::query_as(&format!(
        "SELECT {CASE_COLUMNS} FROM cases WHERE org_id = $1 AND id = $2"
    ))
    .bind(tx.actor().org_id.as_uuid())
    .bind(id.as_uuid())
    .fetch_one(tx.conn())
    .await?;
    row.try_into()
}

/// Whether `user_id` mediates the case or is on it.
pub async fn is_involved(tx: &mut TenantTx, id: CaseId, user_id: UserId) -> Result<bool, DbError> {
    let involved: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM cases WHERE org_id = $1 AND id = $2 AND mediator_id = $3) \
             OR EXISTS (SELECT 1 FROM case_parties WHERE org_id = $1 AND case_id = $2 AND user_id = $3)",
    )
    .bind(tx.actor().org_id.as_uuid())
    .bind(id.as_uuid())
    .bind(user_id.as_uuid())
    .fetch_one(tx.conn())
    .await?;
    Ok(involved)
}

/// The cases among `ids` that `user_id` mediates or is on.
pub async fn involving(
    tx: &mut TenantTx,
    ids: &[CaseId],
    user_id: UserId,
) -> Result<Vec<CaseId>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<uuid::Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
    let found: Vec<uuid::Uuid> = sqlx::query_scalar(
        "SELECT c.id FROM cases c WHERE c.org_id = $1 AND c.id = ANY($2) \
           AND (c.mediator_id = $3 OR EXISTS (SELECT 1 FROM case_parties p \
                WHERE p.org_id = $1 AND p.case_id = c.id AND p.user_id = $3))",
    )
    .bind(tx.actor().org_id.as_uuid())
    .bind(&ids)
    .bind(user_id.as_uuid())
    .fetch_all(tx.conn())
    .await?;
    Ok(found.into_iter().map(CaseId::from_uuid).collect())
}

/// What a case listing is narrowed to, besides visibility.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFilter {
    /// Only cases with this status.
    pub status: Option<CaseStatus>,
    /// Only cases whose reference or title contains this text, ignoring case.
    /// Taken literally: `%`, `_` and `\` match themselves.
    pub search: Option<String>,
}

/// `text` as a `LIKE` pattern matching any string that contains it, with
/// the pattern's own wildcards (and the escape character) escaped by `\`.
pub fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// What a page of cases brings along in the same statement, for a listing
/// that shows them (one round trip for the page instead of one per kind).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaseChildren {
    /// Each case's mediator (as a member of the org).
    pub mediators: bool,
    /// The people on each case.
    pub parties: bool,
}

/// A page of cases and what it was asked to bring along.
#[derive(Debug, Clone, Default)]
pub struct CasePage {
    /// The cases, newest first.
    pub cases: Vec<Case>,
    /// Whether more cases follow.
    pub has_more: bool,
    /// With [`CaseChildren::mediators`]: the mediators of the cases (each
    /// once); a mediator who is no longer a member is left out.
    pub mediators: Option<Vec<crate::members::Member>>,
    /// With [`CaseChildren::parties`]: the people on each case, in the
    /// order they were added (a case with nobody maps to an empty list).
    pub parties: Option<Vec<(CaseId, Vec<Party>)>>,
}

/// What one row of the page statement is: the statement answers the cases,
/// the people on them and their mediators as rows of one shape (a `kind`
/// and typed columns whose meaning depends on it), so the page, its people
/// and its mediators come in one round trip without a subquery per case or
/// any JSON built and parsed.
const ROW_CASE: i32 = 0;
const ROW_PARTY: i32 = 1;
const ROW_MEDIATOR: i32 = 2;

/// A page of cases, newest first, after `after`: up to `first` cases,
/// whether more follow, and the `children` asked for, all in one statement.
///
/// The statement's text has only the conditions the filter uses (not
/// `$n IS NULL OR ...` for the others), so Postgres can keep one plan per
/// kind of listing instead of planning each call again.
pub async fn list(
    tx: &mut TenantTx,
    visibility: Visibility,
    filter: &CaseFilter,
    first: u32,
    after: Option<CaseCursor>,
    children: CaseChildren,
) -> Result<CasePage, DbError> {
    let org = tx.actor().org_id.as_uuid();
    // The page itself, materialized once: the people's and mediators'
    // branches read its ids as arrays, so each is one index scan on
    // (org_id, case_id) and (org_id, user_id) whatever the org's size.
    let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
        "WITH page AS MATERIALIZED (SELECT c.id, c.reference, c.title, c.status, \
         c.mediator_id, c.created_by, c.created_at, c.updated_at FROM cases c WHERE c.org_id = ",
    );
    q.push_bind(org);
    if let Visibility::InvolvedOnly(user) = visibility {
        q.push(" AND (c.mediator_id = ")
            .push_bind(user.as_uuid())
            .push(" OR EXISTS (SELECT 1 FROM case_parties p WHERE p.org_id = c.org_id AND p.case_id = c.id AND p.user_id = ")
            .push_bind(user.as_uuid())
            .push("))");
    }
    if let Some(status) = filter.status {
        q.push(" AND c.status = ").push_bind(status.as_str());
    }
    if let Some(after) = after {
        q.push(" AND (c.created_at, c.id) < (")
            .push_bind(after.created_at)
            .push(", ")
            .push_bind(after.id.as_uuid())
            .push(")");
    }
    if let Some(search) = &filter.search {
        let pattern = contains_pattern(search);
        q.push(" AND (c.reference ILIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR c.title ILIKE ")
            .push_bind(pattern)
            .push(" ESCAPE '\\')");
    }
    q.push(" ORDER BY c.created_at DESC, c.id DESC LIMIT ")
        .push_bind(i64::from(first) + 1);
    // Columns: kind, id, three texts, two uuids, two instants, a flag.
    q.push(format_args!(
        ") SELECT {ROW_CASE}::int4 AS kind, id, reference, title, status, mediator_id, \
         created_by, created_at, updated_at, NULL::bool AS flag FROM page"
    ));
    if children.parties {
        q.push(format_args!(
            " UNION ALL SELECT {ROW_PARTY}, p.id, p.kind, p.display_name, p.email, p.case_id, \
             p.user_id, p.created_at, NULL::timestamptz, NULL::bool FROM case_parties p \
             WHERE p.org_id = "
        ))
        .push_bind(org)
        .push(" AND p.case_id = ANY (ARRAY(SELECT id FROM page))");
    }
    if children.mediators {
        q.push(format_args!(
            " UNION ALL SELECT {ROW_MEDIATOR}, m.user_id, m.role, m.display_name, u.email, \
             NULL::uuid, NULL::uuid, m.created_at, NULL::timestamptz, m.joined_at IS NOT NULL \
             FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = "
        ))
        .push_bind(org)
        // No DISTINCT: `= ANY` matches each member once however often the
        // array names them, and an index scan sorts and dedups its keys
        // itself (a hash aggregate here cost every page its set-up).
        .push(" AND m.user_id = ANY (ARRAY(SELECT mediator_id FROM page WHERE mediator_id IS NOT NULL))");
    }
    let rows = q.build().fetch_all(tx.conn()).await?;

    let mut cases: Vec<Case> = Vec::with_capacity(rows.len().min(first as usize + 1));
    let mut people: Vec<Party> = Vec::new();
    let mut mediators: Vec<crate::members::Member> = Vec::new();
    for row in &rows {
        use sqlx::Row as _;
        match row.try_get::<i32, _>(0)? {
            ROW_CASE => cases.push(
                CaseRow {
                    id: row.try_get(1)?,
                    reference: row.try_get(2)?,
                    title: row.try_get(3)?,
                    status: row.try_get(4)?,
                    mediator_id: row.try_get(5)?,
                    created_by: row.try_get(6)?,
                    created_at: row.try_get(7)?,
                    updated_at: row.try_get(8)?,
                }
                .try_into()?,
            ),
            ROW_PARTY => people.push(
                PartyRow {
                    id: row.try_get(1)?,
                    kind: row.try_get(2)?,
                    display_name: row.try_get(3)?,
                    email: row.try_get(4)?,
                    case_id: row.try_get(5)?,
                    user_id: row.try_get(6)?,
                    created_at: row.try_get(7)?,
                }
                .try_into()?,
            ),
            ROW_MEDIATOR => mediators.push(
                crate::members::MemberRow {
                    user_id: row.try_get(1)?,
                    role: row.try_get(2)?,
                    display_name: row.try_get(3)?,
                    email: row.try_get(4)?,
                    joined_at: row.try_get(7)?,
                    joined: row.try_get(9)?,
                }
                .try_into()?,
            ),
            other => {
                return Err(DbError::Corrupt(format!(
                    "the case page statement answered a row of kind {other}"
                )))
            }
        }
    }
    // The rows come in no promised order: the page's is newest first.
    cases.sort_unstable_by(|a, b| {
        (b.created_at, b.id.as_uuid()).cmp(&(a.created_at, a.id.as_uuid()))
    });
    let has_more = cases.len() > first as usize;
    cases.truncate(first as usize);
    let parties = children.parties.then(|| {
        people.sort_unstable_by(|a, b| {
            (a.created_at, a.id.as_uuid()).cmp(&(b.created_at, b.id.as_uuid()))
        });
        let mut by_case: std::collections::HashMap<CaseId, Vec<Party>> =
            std::collections::HashMap::with_capacity(cases.len());
        for person in people {
            by_case.entry(person.case_id).or_default().push(person);
        }
        cases
            .iter()
            .map(|case| (case.id, by_case.remove(&case.id).unwrap_or_default()))
            .collect()
    });
    // Only the mediators of the cases kept (the page read one case more
    // than it shows, to know whether more follow).
    let mediators = children.mediators.then(|| {
        mediators.retain(|m| cases.iter().any(|c| c.mediator_id == Some(m.user_id)));
        mediators
    });
    Ok(CasePage {
        cases,
        has_more,
        mediators,
        parties,
    })
}

/// The cases among `ids` (unknown ids and other orgs' cases are left out),
/// in no particular order.
pub async fn get_many(tx: &mut TenantTx, ids: &[CaseId]) -> Result<Vec<Case>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<uuid::Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
    let rows: Vec<CaseRow> = sqlx::query_as(&format!(
        "SELECT {CASE_COLUMNS} FROM cases WHERE org_id = $1 AND id = ANY($2)"
    ))
    .bind(tx.actor().org_id.as_uuid())
    .bind(&ids)
    .fetch_all(tx.conn())
    .await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

/// Stores a new status (the caller checked the transition).
pub async fn set_status(
    tx: &mut TenantTx,
    id: CaseId,
    status: CaseStatus,
) -> Result<Case, DbError> {
    let row: CaseRow = sqlx::query_as(&format!(
        "UPDATE cases SET status = $3, updated_at = now() WHERE org_id = $1 AND id = $2 \
         RETURNING {CASE_COLUMNS}"
    ))
    .bind(tx.actor().org_id.as_uuid())
    .bind(id.as_uuid())
    .bind(status.as_str())
    .fetch_one(tx.conn())
    .await?;
    row.try_into()
}

/// Sets (or clears) the case's mediator.
pub async fn set_mediator(
    tx: &mut TenantTx,
    id: CaseId,
    mediator_id: Option<UserId>,
) -> Result<Case, DbError> {
    let row: CaseRow = sqlx::query_as(&format!(
        "UPDATE cases SET mediator_id = $3, updated_at = now() WHERE org_id = $1 AND id = $2 \
         RETURNING {CASE_COLUMNS}"
    ))
    .bind(tx.actor().org_id.as_uuid())
    .bind(id.as_uuid())
    .bind(mediator_id.map(|m| m.as_uuid()))
    .fetch_one(tx.conn())
    .await?;
    row.try_into()
}

/// A person on a case.
#[derive(Debug, Clone)]
pub struct Party {
    /// Its id.
    pub id: PartyId,
    /// The case.
    pub case_id: CaseId,
    /// Party, counsel or interpreter.
    pub kind: PartyKind,
    /// Name shown to the mediator.
    pub display_name: DisplayName,
    /// Contact address (shown only to roles allowed to see contact details).
    pub email: EmailAddress,
    /// The linked account, when the person is a member of the org.
    pub user_id: Option<UserId>,
    /// When the person was added.
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct PartyRow {
    id: uuid::Uuid,
    case_id: uuid::Uuid,
    kind: String,
    display_name: String,
    email: String,
    user_id: Option<uuid::Uuid>,
    created_at: DateTime<Utc>,
}

impl TryFrom<PartyRow> for Party {
    type Error = DbError;
    fn try_from(r: PartyRow) -> Result<Self, DbError> {
        Ok(Party {
            id: PartyId::from_uuid(r.id),
            case_id: CaseId::from_uuid(r.case_id),
            kind: r.kind.parse()?,
            display_name: DisplayName::parse(&r.display_name)?,
            email: EmailAddress::parse(&r.email)?,
            user_id: r.user_id.map(UserId::from_uuid),
            created_at: r.created_at,
        })
    }
}

const PARTY_COLUMNS: &str = "id, case_id, kind, display_name, email, user_id, created_at";

/// Adds a person to a case, linking them to the org member with the same email
/// when there is one. The same email twice on a case is a [`DbError::Conflict`]
/// on `case_parties_email_unique`; an unknown case is [`DbError::NotFound`].
pub async fn add_party(
    tx: &mut TenantTx,
    case_id: CaseId,
    kind: PartyKind,
    display_name: &DisplayName,
    email: &EmailAddress,
) -> Result<Party, DbError> {
    get(tx, case_id).await?;
    let org = tx.actor().org_id.as_uuid();
    let row: PartyRow = sqlx::query_as(&format!(
        "INSERT INTO case_parties (org_id, id, case_id, kind, display_name, email, user_id) \
         VALUES ($1, $2, $3, $4, $5, $6, \
                 (SELECT m.user_id FROM memberships m JOIN users u ON u.id = m.user_id \
                  WHERE m.org_id = $1 AND u.email = $6)) \
         RETURNING {PARTY_COLUMNS}"
    ))
    .bind(org)
    .bind(PartyId::new().as_uuid())
    .bind(case_id.as_uuid())
    .bind(kind.as_str())
    .bind(display_name.as_str())
    .bind(email.as_str())
    .fetch_one(tx.conn())
    .await?;
    row.try_into()
}

/// The people on a case, in the order they were added.
pub async fn parties(tx: &mut TenantTx, case_id: CaseId) -> Result<Vec<Party>, DbError> {
    let rows: Vec<PartyRow> = sqlx::query_as(&format!(
        "SELECT {PARTY_COLUMNS} FROM case_parties WHERE org_id = $1 AND case_id = $2 \
         ORDER BY created_at, id"
    ))
    .bind(tx.actor().org_id.as_uuid())
    .bind(case_id.as_uuid())
    .fetch_all(tx.conn())
    .await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

/// The people on each of `case_ids`, each case's in the order they were
/// added: one query for a page of cases instead of one per case.
pub async fn parties_of_many(
    tx: &mut TenantTx,
    case_ids: &[CaseId],
) -> Result<Vec<Party>, DbError> {
    if case_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<uuid::Uuid> = case_ids.iter().map(|c| c.as_uuid()).collect();
    let rows: Vec<PartyRow> = sqlx::query_as(&format!(
        "SELECT {PARTY_COLUMNS} FROM case_parties WHERE org_id = $1 AND case_id = ANY($2) \
         ORDER BY case_id, created_at, id"
    ))
    .bind(tx.actor().org_id.as_uuid())
    .bind(&ids)
    .fetch_all(tx.conn())
    .await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

/// One person on a case.
pub async fn party(tx: &mut TenantTx, id: PartyId) -> Result<Party, DbError> {
    let row: PartyRow = sqlx::query_as(&format!(
        "SELECT {PARTY_COLUMNS} FROM case_parties WHERE org_id = $1 AND id = $2"
    ))
    .bind(tx.actor().org_id.as_uuid())
    .bind(id.as_uuid())
    .fetch_one(tx.conn())
    .await?;
    row.try_into()
}

/// Removes a person from a case.
pub async fn remove_party(tx: &mut TenantTx, id: PartyId) -> Result<(), DbError> {
    let result = sqlx::query("DELETE FROM case_parties WHERE org_id = $1 AND id = $2")
        .bind(tx.actor().org_id.as_uuid())
        .bind(id.as_uuid())
        .execute(tx.conn())
        .await?;
    if result.rows_affected() == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn search_text_is_taken_literally() {
        assert_eq!(contains_pattern("N-1"), "%N-1%");
        assert_eq!(contains_pattern("100%"), "%100\\%%");
        assert_eq!(contains_pattern("a_b"), "%a\\_b%");
        assert_eq!(contains_pattern("C:\\x"), "%C:\\\\x%");
        assert_eq!(contains_pattern(""), "%%");
    }
}

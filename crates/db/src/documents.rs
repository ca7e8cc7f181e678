//! The documents vault's rows: documents, versions, legal holds, the org's
//! upload limit and retention, and the vault's jobs.
//!
//! Who sees which document is Postgres's decision (the policies of
//! `20261206000200_documents_vault.sql`): every query here runs under them,
//! so a document the actor may not see is simply absent (`NotFound`), with
//! no way to tell "private" from "never existed". Content never passes
//! through here: only the object's key and the wrapped data key.

use std::time::Duration;

use accord_domain::{CaseId, UserId};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{DbError, TenantTx};

/// Who may see a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Everyone on the case.
    Case,
    /// The case's mediator only.
    Mediators,
    /// One person on the case and the mediator (caucus-private).
    Party(UserId),
}

impl Visibility {
    fn columns(self) -> (&'static str, Option<Uuid>) {
        match self {
            Visibility::Case => ("case", None),
            Visibility::Mediators => ("mediators", None),
            Visibility::Party(u) => ("party", Some(u.as_uuid())),
        }
    }

    fn parse(kind: &str, party: Option<Uuid>) -> Result<Self, DbError> {
        Ok(match (kind, party) {
            ("case", None) => Visibility::Case,
            ("mediators", None) => Visibility::Mediators,
            ("party", Some(u)) => Visibility::Party(UserId::from_uuid(u)),
            _ => return Err(DbError::Corrupt(format!("document visibility {kind:?}"))),
        })
    }
}

/// Where a version's virus scan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanState {
    /// Not scanned yet (the scanner was unavailable): its uploader alone sees it.
    Pending,
    /// Scanned, nothing found: released.
    Clean,
    /// A signature matched: never released, never downloadable.
    Quarantined,
    /// Scanning is disabled on this deployment: released, marked so.
    NotScanned,
}

impl ScanState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanState::Pending => "pending",
            ScanState::Clean => "clean",
            ScanState::Quarantined => "quarantined",
            ScanState::NotScanned => "not_scanned",
        }
    }

    fn parse(raw: &str) -> Result<Self, DbError> {
        Ok(match raw {
            "pending" => ScanState::Pending,
            "clean" => ScanState::Clean,
            "quarantined" => ScanState::Quarantined,
            "not_scanned" => ScanState::NotScanned,
            other => return Err(DbError::Corrupt(format!("scan state {other:?}"))),
        })
    }

    /// Whether others than the uploader may see and download it.
    pub fn released(self) -> bool {
        matches!(self, ScanState::Clean | ScanState::NotScanned)
    }
}

/// One version of a document, as its readers see it.
#[derive(Debug, Clone)]
pub struct Version {
    /// Its id.
    pub id: Uuid,
    /// Its document.
    pub document_id: Uuid,
    /// 1, 2, ...
    pub number: i32,
    /// The file's name (case content: never logged).
    pub filename: String,
    /// The sniffed type.
    pub media_type: String,
    /// Plaintext bytes.
    pub size_bytes: i64,
    /// Its scan.
    pub scan_state: ScanState,
    /// The signature found, for a quarantined version.
    pub scan_detail: Option<String>,
    /// The plaintext's SHA-256 (none for versions stored before it was kept,
    /// or erased).
    pub sha256: Option<Vec<u8>>,
    /// Who uploaded it.
    pub uploaded_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A document with its latest version the reader may see.
#[derive(Debug, Clone)]
pub struct Document {
    /// Its id.
    pub id: Uuid,
    /// Its case.
    pub case_id: CaseId,
    /// Who may see it.
    pub visibility: Visibility,
    /// Who filed it.
    pub created_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Last change (a version, a visibility change).
    pub updated_at: DateTime<Utc>,
    /// The latest version visible to the reader.
    pub latest: Version,
}

#[derive(sqlx::FromRow)]
struct DocRow {
    id: Uuid,
    case_id: Uuid,
    visibility: String,
    party_user_id: Option<Uuid>,
    created_by: Uuid,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    v_id: Uuid,
    v_number: i32,
    v_filename: Option<String>,
    v_media_type: String,
    v_size: i64,
    v_scan_state: String,
    v_scan_detail: Option<String>,
    v_sha256: Option<Vec<u8>>,
    v_uploaded_by: Uuid,
    v_created_at: DateTime<Utc>,
}

impl TryFrom<DocRow> for Document {
    type Error = DbError;
    fn try_from(r: DocRow) -> Result<Self, DbError> {
        Ok(Document {
            id: r.id,
            case_id: CaseId::from_uuid(r.case_id),
            visibility: Visibility::parse(&r.visibility, r.party_user_id)?,
            created_by: UserId::from_uuid(r.created_by),
            created_at: r.created_at,
            updated_at: r.updated_at,
            latest: Version {
                id: r.v_id,
                document_id: r.id,
                number: r.v_number,
                filename: r.v_filename.unwrap_or_default(),
                media_type: r.v_media_type,
                size_bytes: r.v_size,
                scan_state: ScanState::parse(&r.v_scan_state)?,
                scan_detail: r.v_scan_detail,
                sha256: r.v_sha256,
                uploaded_by: UserId::from_uuid(r.v_uploaded_by),
                created_at: r.v_created_at,
            },
        })
    }
}

const DOC_SELECT: &str = "SELECT d.id, d.case_id, d.visibility, d.party_user_id, d.created_by, \
     d.created_at, d.updated_at, v.id AS v_id, v.version AS v_number, v.filename AS v_filename, \
     v.media_type AS v_media_type, v.size_bytes AS v_size, v.scan_state AS v_scan_state, \
     v.scan_detail AS v_scan_detail, v.sha256 AS v_sha256, v.uploaded_by AS v_uploaded_by, \
     v.created_at AS v_created_at \
     FROM documents d \
     JOIN LATERAL (SELECT * FROM document_versions v WHERE v.document_id = d.id \
                   AND v.erased_at IS NULL ORDER BY v.version DESC LIMIT 1) v ON true \
     WHERE d.erased_at IS NULL";

/// The case's documents the actor may see, newest first.
pub async fn list(tx: &mut TenantTx, case_id: CaseId) -> Result<Vec<Document>, DbError> {
    let rows: Vec<DocRow> = sqlx::query_as(&format!(
        "{DOC_SELECT} AND d.case_id = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT 500"
    ))
    .bind(case_id.as_uuid())
    .fetch_all(tx.conn())
    .await?;
    rows.into_iter().map(Document::try_from).collect()
}

/// One document, or `NotFound` (also when the actor may not see it).
pub async fn get(tx: &mut TenantTx, id: Uuid) -> Result<Document, DbError> {
    let row: DocRow = sqlx::query_as(&format!("{DOC_SELECT} AND d.id = $1"))
        .bind(id)
        .fetch_one(tx.conn())
        .await?;
    row.try_into()
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    id: Uuid,
    document_id: Uuid,
    version: i32,
    filename: Option<String>,
    media_type: String,
    size_bytes: i64,
    scan_state: String,
    scan_detail: Option<String>,
    sha256: Option<Vec<u8>>,
    uploaded_by: Uuid,
    created_at: DateTime<Utc>,
}

impl TryFrom<VersionRow> for Version {
    type Error = DbError;
    fn try_from(r: VersionRow) -> Result<Self, DbError> {
        Ok(Version {
            id: r.id,
            document_id: r.document_id,
            number: r.version,
            filename: r.filename.unwrap_or_default(),
            media_type: r.media_type,
            size_bytes: r.size_bytes,
            scan_state: ScanState::parse(&r.scan_state)?,
            scan_detail: r.scan_detail,
            sha256: r.sha256,
            uploaded_by: UserId::from_uuid(r.uploaded_by),
            created_at: r.created_at,
        })
    }
}

const VERSION_COLUMNS: &str = "id, document_id, version, filename, media_type, size_bytes, \
     scan_state, scan_detail, sha256, uploaded_by, created_at";

/// The document's versions the actor may see, newest first.
pub async fn versions(tx: &mut TenantTx, document_id: Uuid) -> Result<Vec<Version>, DbError> {
    let rows: Vec<VersionRow> = sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM document_versions \
         WHERE document_id = $1 AND erased_at IS NULL ORDER BY version DESC"
    ))
    .bind(document_id)
    .fetch_all(tx.conn())
    .await?;
    rows.into_iter().map(Version::try_from).collect()
}

/// What the vault needs to read a version back.
#[derive(Clone)]
pub struct StoredVersion {
    /// The version.
    pub version: Version,
    /// Its case (for the encryption context).
    pub case_id: CaseId,
    /// Where the ciphertext is.
    pub object_key: String,
    /// Which key wrapped the data key.
    pub key_id: String,
    /// The wrapped data key; `None` once erased.
    pub wrapped_key: Option<Vec<u8>>,
}

impl std::fmt::Debug for StoredVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredVersion")
            .field("id", &self.version.id)
            .field("object_key", &self.object_key)
            .finish_non_exhaustive()
    }
}

/// A version and its keys, or `NotFound` when the actor may not see it.
pub async fn stored_version(conn: &mut PgConnection, id: Uuid) -> Result<StoredVersion, DbError> {
    let (case_id, object_key, key_id, wrapped_key): (Uuid, String, String, Option<Vec<u8>>) =
        sqlx::query_as(
            "SELECT case_id, object_key, key_id, wrapped_key FROM document_versions \
             WHERE id = $1 AND erased_at IS NULL",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    let row: VersionRow = sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM document_versions WHERE id = $1"
    ))
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(StoredVersion {
        version: row.try_into()?,
        case_id: CaseId::from_uuid(case_id),
        object_key,
        key_id,
        wrapped_key,
    })
}

/// A version about to be recorded, once its object is stored.
#[derive(Clone)]
pub struct NewVersion {
    /// Its id (chosen before storing: the object key names it).
    pub id: Uuid,
    /// Its document.
    pub document_id: Uuid,
    /// The checked filename.
    pub filename: String,
    /// The sniffed type.
    pub media_type: String,
    /// Plaintext bytes.
    pub size_bytes: i64,
    /// Where the ciphertext is.
    pub object_key: String,
    /// Which key wrapped the data key.
    pub key_id: String,
    /// The wrapped data key.
    pub wrapped_key: Vec<u8>,
    /// The scan's outcome.
    pub scan_state: ScanState,
    /// The signature found, if any.
    pub scan_detail: Option<String>,
    /// The plaintext's SHA-256.
    pub sha256: Vec<u8>,
}

impl std::fmt::Debug for NewVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewVersion")
            .field("id", &self.id)
            .field("document_id", &self.document_id)
            .finish_non_exhaustive()
    }
}

/// Files a new document on `case_id`; the actor is its creator. Refused
/// (`NotFound`) when the actor could not then see it.
pub async fn create(
    tx: &mut TenantTx,
    id: Uuid,
    case_id: CaseId,
    visibility: Visibility,
) -> Result<(), DbError> {
    let actor = tx.actor();
    let me = actor.user_id.ok_or(DbError::NotAMember)?;
    let (kind, party) = visibility.columns();
    sqlx::query(
        "INSERT INTO documents (org_id, id, case_id, visibility, party_user_id, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(actor.org_id.as_uuid())
    .bind(id)
    .bind(case_id.as_uuid())
    .bind(kind)
    .bind(party)
    .bind(me.as_uuid())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Records a stored version (the next number of its document); returns the number.
pub async fn add_version(tx: &mut TenantTx, v: &NewVersion) -> Result<i32, DbError> {
    let actor = tx.actor();
    let me = actor.user_id.ok_or(DbError::NotAMember)?;
    let (number, case_id): (i32, Uuid) = sqlx::query_as(
        "UPDATE documents SET versions = versions + 1, updated_at = now() \
         WHERE id = $1 AND erased_at IS NULL RETURNING versions, case_id",
    )
    .bind(v.document_id)
    .fetch_one(tx.conn())
    .await?;
    sqlx::query(
        "INSERT INTO document_versions (org_id, id, document_id, case_id, version, filename, \
             media_type, size_bytes, object_key, key_id, wrapped_key, scan_state, scan_detail, \
             scanned_at, uploaded_by, sha256) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
             CASE WHEN $12 = 'pending' THEN NULL ELSE now() END, $14, $15)",
    )
    .bind(actor.org_id.as_uuid())
    .bind(v.id)
    .bind(v.document_id)
    .bind(case_id)
    .bind(number)
    .bind(&v.filename)
    .bind(&v.media_type)
    .bind(v.size_bytes)
    .bind(&v.object_key)
    .bind(&v.key_id)
    .bind(&v.wrapped_key)
    .bind(v.scan_state.as_str())
    .bind(&v.scan_detail)
    .bind(me.as_uuid())
    .bind(&v.sha256)
    .execute(tx.conn())
    .await?;
    Ok(number)
}

/// Changes who may see a document (`NotFound` when the actor cannot see it).
pub async fn set_visibility(
    tx: &mut TenantTx,
    id: Uuid,
    visibility: Visibility,
) -> Result<(), DbError> {
    let (kind, party) = visibility.columns();
    let n = sqlx::query(
        "UPDATE documents SET visibility = $2, party_user_id = $3, updated_at = now() \
         WHERE id = $1 AND erased_at IS NULL",
    )
    .bind(id)
    .bind(kind)
    .bind(party)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if n == 1 {
        Ok(())
    } else {
        Err(DbError::NotFound)
    }
}

/// The org's upload limit in bytes and retention in days.
pub async fn org_settings(conn: &mut PgConnection) -> Result<(i64, Option<i32>), DbError> {
    Ok(sqlx::query_as(
        "SELECT document_max_bytes, document_retention_days FROM organizations \
         WHERE id = accord_org()",
    )
    .fetch_one(conn)
    .await?)
}

/// Sets the org's upload limit and retention (`None`: keep documents).
pub async fn set_org_settings(
    tx: &mut TenantTx,
    max_bytes: i64,
    retention_days: Option<i32>,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE organizations SET document_max_bytes = $1, document_retention_days = $2 \
         WHERE id = accord_org()",
    )
    .bind(max_bytes)
    .bind(retention_days)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A transaction of the system (workers, operator commands) in `org`: no
/// user, the org admin's rights, every document of the org visible, still
/// confined to the org by row-level security.
pub async fn system_tx(db: &crate::Db, org: accord_domain::OrgId) -> Result<TenantTx, DbError> {
    db.anonymous_tenant(org, accord_domain::Role::OrgAdmin, None)
        .await
}

/// Whether the case is under legal hold.
pub async fn is_held(conn: &mut PgConnection, case_id: CaseId) -> Result<bool, DbError> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM legal_holds WHERE case_id = $1)")
            .bind(case_id.as_uuid())
            .fetch_one(conn)
            .await?,
    )
}

/// Places (true) or lifts (false) a legal hold; returns whether anything changed.
pub async fn set_hold(tx: &mut TenantTx, case_id: CaseId, hold: bool) -> Result<bool, DbError> {
    let actor = tx.actor();
    let n = if hold {
        sqlx::query(
            "INSERT INTO legal_holds (org_id, case_id, placed_by) VALUES ($1, $2, $3) \
             ON CONFLICT (case_id) DO NOTHING",
        )
        .bind(actor.org_id.as_uuid())
        .bind(case_id.as_uuid())
        .bind(actor.user_id.map(|u| u.as_uuid()))
        .execute(tx.conn())
        .await?
        .rows_affected()
    } else {
        sqlx::query("DELETE FROM legal_holds WHERE case_id = $1")
            .bind(case_id.as_uuid())
            .execute(tx.conn())
            .await?
            .rows_affected()
    };
    Ok(n == 1)
}

/// Records a scan's outcome (the system, after a retry). False when the
/// version was not pending any more.
pub async fn set_scan_result(
    conn: &mut PgConnection,
    version_id: Uuid,
    state: ScanState,
    detail: Option<&str>,
) -> Result<bool, DbError> {
    let detail = detail.map(|d| d.chars().take(200).collect::<String>());
    Ok(sqlx::query(
        "UPDATE document_versions SET scan_state = $2, scan_detail = $3, scanned_at = now() \
         WHERE id = $1 AND scan_state = 'pending' AND erased_at IS NULL",
    )
    .bind(version_id)
    .bind(state.as_str())
    .bind(detail)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// A version erased: its key is gone, its object may still need deleting.
#[derive(Debug, Clone)]
pub struct Shredded {
    /// The version.
    pub version_id: Uuid,
    /// Its object, to delete.
    pub object_key: String,
}

/// Erases every version of `document_id` (the system): destroys the wrapped
/// keys and names and marks the document erased. A legal hold on its case
/// refuses it with `Conflict { constraint: "legal_hold" }`.
pub async fn shred(conn: &mut PgConnection, document_id: Uuid) -> Result<Vec<Shredded>, DbError> {
    let case_id: Uuid =
        sqlx::query_scalar("SELECT case_id FROM documents WHERE id = $1 FOR UPDATE")
            .bind(document_id)
            .fetch_one(&mut *conn)
            .await?;
    if is_held(conn, CaseId::from_uuid(case_id)).await? {
        return Err(held());
    }
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "UPDATE document_versions SET wrapped_key = NULL, filename = NULL, sha256 = NULL, \
             erased_at = coalesce(erased_at, now()) \
         WHERE document_id = $1 RETURNING id, object_key",
    )
    .bind(document_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.constraint() == Some("legal_hold") => held(),
        _ => DbError::from(e),
    })?;
    sqlx::query("UPDATE documents SET erased_at = coalesce(erased_at, now()) WHERE id = $1")
        .bind(document_id)
        .execute(&mut *conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(version_id, object_key)| Shredded {
            version_id,
            object_key,
        })
        .collect())
}

fn held() -> DbError {
    DbError::Conflict {
        constraint: "legal_hold".into(),
    }
}

/// The documents of cases closed more than `days` ago and not on hold (the system).
pub async fn past_retention(
    conn: &mut PgConnection,
    days: i32,
    limit: i64,
) -> Result<Vec<Uuid>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT d.id FROM documents d JOIN cases c ON c.id = d.case_id \
         WHERE d.erased_at IS NULL AND c.status = 'closed' \
           AND c.updated_at < now() - make_interval(days => $1) \
           AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.case_id = c.id) \
           AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.kind = 'vault.erase' \
                           AND j.status IN ('pending', 'running') \
                           AND j.payload->>'document_id' = d.id::text) \
         ORDER BY d.created_at LIMIT $2",
    )
    .bind(days)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// The orgs with a retention policy.
pub async fn retention_orgs(conn: &mut PgConnection) -> Result<Vec<Uuid>, DbError> {
    Ok(
        sqlx::query_scalar("SELECT org_id FROM accord_retention_orgs()")
            .fetch_all(conn)
            .await?,
    )
}

#[derive(sqlx::FromRow)]
struct StoredRow {
    #[sqlx(flatten)]
    version: VersionRow,
    case_id: Uuid,
    object_key: String,
    key_id: String,
    wrapped_key: Option<Vec<u8>>,
    erased: bool,
}

/// Every version row of the org, erased (true) or not (the system: `vault verify`).
pub async fn all_stored(conn: &mut PgConnection) -> Result<Vec<(StoredVersion, bool)>, DbError> {
    let rows: Vec<StoredRow> = sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS}, case_id, object_key, key_id, wrapped_key, \
             erased_at IS NOT NULL AS erased \
         FROM document_versions ORDER BY created_at"
    ))
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok((
                StoredVersion {
                    version: r.version.try_into()?,
                    case_id: CaseId::from_uuid(r.case_id),
                    object_key: r.object_key,
                    key_id: r.key_id,
                    wrapped_key: r.wrapped_key,
                },
                r.erased,
            ))
        })
        .collect()
}

/// A claimed vault job.
#[derive(Debug, Clone)]
pub struct VaultJob {
    /// Its id.
    pub id: Uuid,
    /// `vault.scan` or `vault.erase`.
    pub kind: String,
    /// What to act on.
    pub payload: serde_json::Value,
    /// This attempt's number.
    pub attempt: i32,
}

/// Enqueues a vault job in the caller's transaction (for its org); `key`
/// makes it unique (the same kind and key twice is one job).
pub async fn enqueue(
    conn: &mut PgConnection,
    kind: &str,
    key: &str,
    payload: serde_json::Value,
    delay: Duration,
) -> Result<bool, DbError> {
    let job = crate::jobs::NewJob {
        kind: kind.to_owned(),
        idempotency_key: format!("{kind}:{key}"),
        group_key: None,
        recipient: "vault".to_owned(),
        subject: kind.to_owned(),
        payload,
        run_at: Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default(),
    };
    crate::jobs::enqueue(conn, &job).await
}

/// Claims due vault jobs of the transaction's org (see [`crate::jobs::claim`]).
pub async fn claim_jobs(
    conn: &mut PgConnection,
    limit: i64,
    lease: Duration,
) -> Result<Vec<VaultJob>, DbError> {
    let rows: Vec<(Uuid, String, Option<serde_json::Value>, i32)> = sqlx::query_as(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, \
                 locked_until = now() + make_interval(secs => $2), updated_at = now() \
             WHERE id IN ( \
                 SELECT id FROM jobs \
                 WHERE ((status = 'pending' AND run_at <= now()) \
                    OR (status = 'running' AND locked_until < now())) \
                   AND kind LIKE 'vault.%' \
                 ORDER BY run_at FOR UPDATE SKIP LOCKED LIMIT $1) \
             RETURNING id, kind, payload, attempts",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, kind, payload, attempt)| VaultJob {
            id,
            kind,
            payload: payload.unwrap_or(serde_json::Value::Null),
            attempt,
        })
        .collect())
}

/// The vault jobs of the transaction's org that are not done: (kind, status, attempts).
pub async fn open_jobs(conn: &mut PgConnection) -> Result<Vec<(String, String, i32)>, DbError> {
    Ok(sqlx::query_as(
        "SELECT kind, status, attempts FROM jobs WHERE kind LIKE 'vault.%' \
         AND status IN ('pending', 'running') ORDER BY run_at",
    )
    .fetch_all(conn)
    .await?)
}

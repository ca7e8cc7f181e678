//! Documents: the streaming upload and download routes, and the vault's
//! worker (scans retried, erasures, retention).
//!
//! - `POST /documents/upload` (multipart: `caseId`, optional `documentId` for
//!   a new version, `visibility`, `partyUserId`, then `file`): the file is
//!   encrypted and stored as it arrives, in constant memory, and streamed to
//!   clamd at the same time. Its name is checked, its type sniffed from its
//!   first bytes, its size held to the org's limit. The rows are written
//!   only once the object is stored, in one transaction; if that fails the
//!   object is deleted, and if the client goes away mid-upload the partial
//!   object is discarded: no orphan row, no orphan object.
//! - `GET /documents/versions/{id}/content` streams the plaintext back; a
//!   version the viewer may not see is `NOT_FOUND` (Postgres decides), a
//!   quarantined one is refused. Every download (and inline view) is
//!   audited, with identifiers only.
//! - [`run_worker`] claims the vault's jobs from the job queue: rescans of
//!   versions uploaded while clamd was unavailable, and erasures
//!   (crypto-shredding, then the object's deletion); it also enqueues
//!   erasures of documents past their org's retention.

use std::time::Duration;

use accord_db::documents::{self, NewVersion, ScanState, Visibility};
use accord_db::{audit, cases, jobs, Db, TenantTx};
use accord_domain::{Action, CaseId, OrgId, Role, UserId};
use accord_vault::names::{self, InputError, SNIFF_LEN};
use accord_vault::{EncryptionContext, ScanOutcome, Vault, VaultError, WrappedKey};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

use crate::web::{self, SignedIn};
use crate::{ApiError, AppState};

/// The object key of a version: identifiers only, kept short (S3 allows
/// 1024 bytes, but S3-compatible servers on a file system turn the key into
/// file names, which stop at 255).
pub(crate) fn object_key(org: OrgId, _document: Uuid, version: Uuid) -> String {
    format!("{}/{}", org.as_uuid().simple(), version.simple())
}

/// Where an org's objects live (for `vault verify`).
pub fn org_prefix(org: OrgId) -> String {
    format!("{}/", org.as_uuid().simple())
}

fn vault_error(e: VaultError) -> ApiError {
    match e {
        VaultError::Unavailable(detail) => ApiError::Unavailable {
            retry_after: 5,
            detail,
        },
        other => ApiError::Internal(format!("vault: {other}")),
    }
}

fn input_error(e: InputError) -> ApiError {
    let field = match e {
        InputError::EmptyName
        | InputError::PathSeparator
        | InputError::ControlCharacter
        | InputError::DotName
        | InputError::TooLong => "filename",
        _ => "file",
    };
    ApiError::bad_input(field, e.to_string())
}

fn vault_of(state: &AppState) -> Result<&Vault, ApiError> {
    state.vault().ok_or_else(|| ApiError::Unavailable {
        retry_after: 60,
        detail: "no documents vault is configured".into(),
    })
}

/// A REST error; an oversized upload answers 413.
fn error_response(e: ApiError, rid: Option<&str>, too_large: bool) -> Response {
    let mut response = e.into_response_with(rid);
    if too_large {
        *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
    }
    response
}

/// Reads a visibility from the form: `case`, `mediators` or `party`.
fn parse_visibility(
    kind: Option<&str>,
    party: Option<&str>,
    uploader: UserId,
    role: Role,
) -> Result<Visibility, ApiError> {
    let party = party
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<Uuid>()
                .map(UserId::from_uuid)
                .map_err(|_| ApiError::bad_input("partyUserId", "not an id"))
        })
        .transpose()?;
    let visibility = match kind.unwrap_or("case") {
        "case" => Visibility::Case,
        "mediators" => Visibility::Mediators,
        "party" => Visibility::Party(party.unwrap_or(uploader)),
        _ => {
            return Err(ApiError::bad_input(
                "visibility",
                "choose case, mediators or party",
            ))
        }
    };
    // A party shares with the whole case or keeps a document between
    // themselves and the mediator; never in another person's name.
    if matches!(role, Role::Party) {
        match visibility {
            Visibility::Case => {}
            Visibility::Party(p) if p == uploader => {}
            Visibility::Mediators => return Ok(Visibility::Party(uploader)),
            Visibility::Party(_) => {
                return Err(ApiError::bad_input(
                    "partyUserId",
                    "a party can keep a document private only for themselves",
                ))
            }
        }
    }
    Ok(visibility)
}

/// Checks that `visibility` names someone on the case.
pub(crate) async fn check_visibility(
    tx: &mut TenantTx,
    case_id: CaseId,
    visibility: Visibility,
) -> Result<(), ApiError> {
    if let Visibility::Party(user) = visibility {
        let on_case = cases::parties(tx, case_id)
            .await?
            .into_iter()
            .any(|p| p.user_id == Some(user));
        if !on_case {
            return Err(ApiError::bad_input(
                "partyUserId",
                "that person is not on this case (or has no account yet)",
            ));
        }
    }
    Ok(())
}

/// What the form said before the file.
#[derive(Default)]
struct Form {
    case_id: Option<String>,
    document_id: Option<String>,
    visibility: Option<String>,
    party_user_id: Option<String>,
}

/// The upload, authorised, ready to receive the file.
struct Target {
    case_id: CaseId,
    document_id: Uuid,
    new_document: bool,
    visibility: Visibility,
    limit: u64,
}

async fn authorise_upload(
    state: &AppState,
    signed_in: &SignedIn,
    form: &Form,
) -> Result<Target, ApiError> {
    let s = signed_in.session;
    let mut tx = state
        .db()
        .tenant(s.org_id, s.user_id, signed_in.request_id.clone())
        .await?;
    let role = tx.actor().role;
    if matches!(role, Role::Observer) {
        return Err(ApiError::Forbidden(
            "observers cannot upload documents".into(),
        ));
    }
    let case_id: CaseId = form
        .case_id
        .as_deref()
        .ok_or_else(|| ApiError::bad_input("caseId", "send the case's id before the file"))?
        .parse()
        .map_err(|_| ApiError::NotFound("case"))?;
    crate::graphql::authorize(&mut tx, Action::ViewCase, Some(case_id)).await?;
    cases::get(&mut tx, case_id)
        .await
        .map_err(crate::graphql::types::not_found("case"))?;
    let (limit, _) = documents::org_settings(tx.conn()).await?;
    let target = match form.document_id.as_deref().filter(|d| !d.is_empty()) {
        Some(raw) => {
            let id: Uuid = raw.parse().map_err(|_| ApiError::NotFound("document"))?;
            let doc = documents::get(&mut tx, id)
                .await
                .map_err(crate::graphql::types::not_found("document"))?;
            if doc.case_id != case_id {
                return Err(ApiError::NotFound("document"));
            }
            let case = cases::get(&mut tx, case_id).await?;
            let me = s.user_id;
            if doc.created_by != me && case.mediator_id != Some(me) && role != Role::OrgAdmin {
                return Err(ApiError::Forbidden(
                    "only the document's author or the case's mediator adds versions".into(),
                ));
            }
            Target {
                case_id,
                document_id: id,
                new_document: false,
                visibility: doc.visibility,
                limit: limit.max(0) as u64,
            }
        }
        None => {
            let visibility = parse_visibility(
                form.visibility.as_deref(),
                form.party_user_id.as_deref(),
                s.user_id,
                role,
            )?;
            check_visibility(&mut tx, case_id, visibility).await?;
            Target {
                case_id,
                document_id: Uuid::now_v7(),
                new_document: true,
                visibility,
                limit: limit.max(0) as u64,
            }
        }
    };
    // Reads only: nothing to keep.
    drop(tx);
    Ok(target)
}

/// What the uploader learns.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Uploaded {
    document_id: Uuid,
    version_id: Uuid,
    version: i32,
    media_type: &'static str,
    size: u64,
    scan_state: &'static str,
    message: String,
}

/// `POST /documents/upload`
pub(crate) async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let rid = web::request_id(&headers);
    match upload_inner(&state, &headers, body).await {
        Ok(done) => (StatusCode::CREATED, axum::Json(done)).into_response(),
        Err((e, too_large)) => error_response(e, rid.as_deref(), too_large),
    }
}

type UploadError = (ApiError, bool);

fn plain(e: ApiError) -> UploadError {
    (e, false)
}

async fn upload_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Uploaded, UploadError> {
    let signed_in = web::lookup_session(state, headers)
        .await
        .map_err(plain)?
        .ok_or_else(|| plain(ApiError::Unauthenticated("sign in first".into())))?;
    signed_in.check_csrf(headers).map_err(plain)?;
    let vault = vault_of(state).map_err(plain)?.clone();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        plain(ApiError::bad_input(
            "file",
            "send the file as multipart/form-data",
        ))
    })?;
    let mut multipart = multer::Multipart::new(body.into_data_stream(), boundary);
    let mut form = Form::default();
    loop {
        let field = multipart
            .next_field()
            .await
            .map_err(|e| {
                plain(match e {
                    // httparse refuses control characters in a part's headers:
                    // in practice, in the file's name.
                    multer::Error::ReadHeaderFailed(_) => ApiError::bad_input(
                        "filename",
                        "the file name must not contain control characters",
                    ),
                    e => ApiError::bad_input("file", format!("malformed upload: {e}")),
                })
            })?
            .ok_or_else(|| plain(ApiError::bad_input("file", "no file was sent")))?;
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" {
            let filename = names::filename(field.file_name().unwrap_or(""))
                .map_err(|e| plain(input_error(e)))?;
            let target = authorise_upload(state, &signed_in, &form)
                .await
                .map_err(plain)?;
            return receive(state, &vault, &signed_in, target, filename, field).await;
        }
        let value = field
            .text()
            .await
            .map_err(|e| plain(ApiError::bad_input(name.clone(), format!("{e}"))))?;
        if value.len() > 100 {
            return Err(plain(ApiError::bad_input(name, "too long")));
        }
        match name.as_str() {
            "caseId" => form.case_id = Some(value),
            "documentId" => form.document_id = Some(value),
            "visibility" => form.visibility = Some(value),
            "partyUserId" => form.party_user_id = Some(value),
            _ => {
                return Err(plain(ApiError::bad_input(
                    name,
                    "unknown field (send caseId, documentId, visibility, partyUserId, then file)",
                )))
            }
        }
    }
}

async fn receive(
    state: &AppState,
    vault: &Vault,
    signed_in: &SignedIn,
    target: Target,
    filename: String,
    mut field: multer::Field<'static>,
) -> Result<Uploaded, UploadError> {
    let org = signed_in.session.org_id;
    let version_id = Uuid::now_v7();
    let key = object_key(org, target.document_id, version_id);
    let ctx = EncryptionContext {
        org: org.as_uuid(),
        case: target.case_id.as_uuid(),
        document: target.document_id,
    };
    // The type is decided on the first bytes, before anything is stored.
    let mut head: Vec<u8> = Vec::with_capacity(SNIFF_LEN);
    let mut ended = false;
    while head.len() < SNIFF_LEN {
        match field.chunk().await {
            Ok(Some(chunk)) => head.extend_from_slice(&chunk),
            Ok(None) => {
                ended = true;
                break;
            }
            Err(e) => {
                return Err(plain(ApiError::bad_input(
                    "file",
                    format!("upload interrupted: {e}"),
                )))
            }
        }
    }
    if head.is_empty() {
        return Err(plain(input_error(InputError::Empty)));
    }
    let sniff_window = &head[..head.len().min(SNIFF_LEN)];
    let media_type = names::sniff(sniff_window).map_err(|e| plain(input_error(e)))?;
    let too_large = |limit: u64| (input_error(InputError::TooLarge { limit }), true);
    if head.len() as u64 > target.limit {
        return Err(too_large(target.limit));
    }
    let mut upload = vault
        .upload(&key, &ctx)
        .await
        .map_err(|e| plain(vault_error(e)))?;
    if let Err(e) = upload.write(&head).await {
        upload.abort().await;
        return Err(plain(vault_error(e)));
    }
    drop(head);
    while !ended {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                if upload.len() + chunk.len() as u64 > target.limit {
                    upload.abort().await;
                    return Err(too_large(target.limit));
                }
                if let Err(e) = upload.write(&chunk).await {
                    upload.abort().await;
                    return Err(plain(vault_error(e)));
                }
            }
            Ok(None) => ended = true,
            Err(e) => {
                // The client went away (or sent garbage): keep nothing.
                upload.abort().await;
                return Err(plain(ApiError::bad_input(
                    "file",
                    format!("upload interrupted: {e}"),
                )));
            }
        }
    }
    let stored = upload.finish().await.map_err(|e| plain(vault_error(e)))?;
    let size = stored.plain_len;
    let (scan_state, detail) = match &stored.scan {
        ScanOutcome::Clean => (ScanState::Clean, None),
        ScanOutcome::Infected(name) => (ScanState::Quarantined, Some(name.clone())),
        ScanOutcome::Pending(_) => (ScanState::Pending, None),
        ScanOutcome::NotScanned => (ScanState::NotScanned, None),
    };
    let new = NewVersion {
        id: version_id,
        document_id: target.document_id,
        filename,
        media_type: media_type.to_owned(),
        size_bytes: size as i64,
        object_key: key.clone(),
        key_id: stored.wrapped.key_id.clone(),
        wrapped_key: stored.wrapped.ciphertext.clone(),
        scan_state,
        scan_detail: detail.clone(),
        sha256: stored.sha256.to_vec(),
    };
    let recorded = record(state, signed_in, &target, &new).await;
    let number = match recorded {
        Ok(n) => n,
        Err(e) => {
            // The rows did not land: the object must not outlive them.
            if let Err(del) = vault.delete(&key).await {
                tracing::error!(error = %del, version = %version_id, "could not delete an unrecorded object; `accord vault verify` reports it");
            }
            return Err(plain(e));
        }
    };
    if scan_state == ScanState::Pending {
        state.wake_vault();
    }
    let message = match &stored.scan {
        ScanOutcome::Clean => "uploaded and scanned: no threat found".to_owned(),
        ScanOutcome::Infected(sig) => format!(
            "a threat was found ({sig}): the file is quarantined and nobody else can see it"
        ),
        ScanOutcome::Pending(_) => {
            "uploaded; the virus scan is pending, and only you can see the file until it passes"
                .to_owned()
        }
        ScanOutcome::NotScanned => {
            "uploaded (virus scanning is disabled on this server)".to_owned()
        }
    };
    Ok(Uploaded {
        document_id: target.document_id,
        version_id,
        version: number,
        media_type,
        size,
        scan_state: scan_state.as_str(),
        message,
    })
}

async fn record(
    state: &AppState,
    signed_in: &SignedIn,
    target: &Target,
    new: &NewVersion,
) -> Result<i32, ApiError> {
    let s = signed_in.session;
    let mut tx = state
        .db()
        .tenant(s.org_id, s.user_id, signed_in.request_id.clone())
        .await?;
    // Checked again: the person may have left the case during a long upload.
    crate::graphql::authorize(&mut tx, Action::ViewCase, Some(target.case_id)).await?;
    if target.new_document {
        documents::create(
            &mut tx,
            target.document_id,
            target.case_id,
            target.visibility,
        )
        .await?;
    }
    let number = documents::add_version(&mut tx, new).await?;
    audit::append(&mut tx, "document.upload", "document_version", Some(new.id)).await?;
    if new.scan_state == ScanState::Quarantined {
        audit::append(
            &mut tx,
            "document.quarantine",
            "document_version",
            Some(new.id),
        )
        .await?;
    }
    if new.scan_state == ScanState::Pending {
        documents::enqueue(
            tx.conn(),
            "vault.scan",
            &new.id.to_string(),
            serde_json::json!({ "version_id": new.id }),
            Duration::ZERO,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(number)
}

/// `?disposition=inline` views instead of downloading.
#[derive(Debug, Deserialize)]
pub(crate) struct DownloadQuery {
    disposition: Option<String>,
}

/// `GET /documents/versions/{id}/content`
pub(crate) async fn download(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<DownloadQuery>,
) -> Response {
    let rid = web::request_id(&headers);
    match download_inner(&state, &headers, &id, q).await {
        Ok(r) => r,
        Err(e) => e.into_response_with(rid.as_deref()),
    }
}

fn content_disposition(inline: bool, filename: &str) -> HeaderValue {
    // An ASCII fallback, then the exact name (RFC 6266 / RFC 8187).
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = filename
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let kind = if inline { "inline" } else { "attachment" };
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

async fn download_inner(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    q: DownloadQuery,
) -> Result<Response, ApiError> {
    let signed_in = web::lookup_session(state, headers)
        .await?
        .ok_or_else(|| ApiError::Unauthenticated("sign in first".into()))?;
    let vault = vault_of(state)?.clone();
    let id: Uuid = id.parse().map_err(|_| ApiError::NotFound("document"))?;
    let inline = match q.disposition.as_deref() {
        None | Some("attachment") => false,
        Some("inline") => true,
        Some(_) => return Err(ApiError::bad_input("disposition", "inline or attachment")),
    };
    let s = signed_in.session;
    let mut tx = state
        .db()
        .tenant(s.org_id, s.user_id, signed_in.request_id.clone())
        .await?;
    // Postgres decides: a version the viewer may not see is not there.
    let stored = documents::stored_version(tx.conn(), id)
        .await
        .map_err(crate::graphql::types::not_found("document"))?;
    if stored.version.scan_state == ScanState::Quarantined {
        return Err(ApiError::Conflict(
            "this file is quarantined: a virus scan found a threat".into(),
        ));
    }
    let wrapped = WrappedKey {
        key_id: stored.key_id.clone(),
        ciphertext: stored
            .wrapped_key
            .clone()
            .ok_or(ApiError::NotFound("document"))?,
    };
    let ctx = EncryptionContext {
        org: s.org_id.as_uuid(),
        case: stored.case_id.as_uuid(),
        document: stored.version.document_id,
    };
    let action = if inline {
        "document.view"
    } else {
        "document.download"
    };
    audit::append(&mut tx, action, "document_version", Some(id)).await?;
    // Unwrap the key and open the object before the audit commits, so a
    // failure here records nothing that did not happen.
    let plain = vault
        .download(&stored.object_key, &wrapped, &ctx)
        .await
        .map_err(|e| match e {
            VaultError::NotFound => {
                ApiError::Internal(format!("object of version {id} is missing"))
            }
            other => vault_error(other),
        })?;
    tx.commit().await?;
    let media = HeaderValue::from_str(&stored.version.media_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let mut response = Body::from_stream(plain).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, media);
    h.insert(
        header::CONTENT_DISPOSITION,
        content_disposition(inline, &stored.version.filename),
    );
    if let Ok(len) = HeaderValue::from_str(&stored.version.size_bytes.to_string()) {
        h.insert(header::CONTENT_LENGTH, len);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    // Shown inline, a document runs nothing and loads nothing.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
        ),
    );
    Ok(response)
}

/// The worker's settings.
#[derive(Debug, Clone, Copy)]
pub struct WorkerConfig {
    /// How often it looks for due jobs when not woken.
    pub poll: Duration,
    /// How long a claimed job is the worker's.
    pub lease: Duration,
    /// How often documents past retention are looked for.
    pub retention_every: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            poll: Duration::from_secs(5),
            lease: Duration::from_secs(600),
            retention_every: Duration::from_secs(3600),
        }
    }
}

/// Runs the vault's jobs until `shutdown` resolves.
pub async fn run_worker(
    state: AppState,
    config: WorkerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let Some(vault) = state.vault().cloned() else {
        return;
    };
    let db = state.db().clone();
    let wake = state.inner.vault_wake.clone();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut last_retention: Option<tokio::time::Instant> = None;
    loop {
        if last_retention.is_none_or(|t| t.elapsed() >= config.retention_every) {
            if let Err(e) = retention_sweep(&db).await {
                tracing::warn!(error = %e, "retention sweep failed");
            }
            last_retention = Some(tokio::time::Instant::now());
        }
        match run_due(&db, &vault, config.lease).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "vault jobs failed"),
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(config.poll) => {}
        }
    }
}

/// Runs every due vault job once; returns how many ran.
pub async fn run_due(db: &Db, vault: &Vault, lease: Duration) -> Result<usize, ApiError> {
    let mut ran = 0;
    for org in jobs::due_orgs(db, 100).await?.into_iter().flatten() {
        let mut tx = jobs::scoped(db, Some(org)).await?;
        let claimed = documents::claim_jobs(&mut tx, 8, lease).await?;
        tx.commit().await.map_err(accord_db::DbError::from)?;
        for job in claimed {
            ran += 1;
            let outcome = run_job(db, vault, org, &job).await;
            let mut tx = jobs::scoped(db, Some(org)).await?;
            match outcome {
                Ok(()) => {
                    jobs::mark_sent(&mut tx, job.id, job.attempt).await?;
                }
                Err(JobError::Retry(e)) => {
                    jobs::mark_failed(&mut tx, job.id, job.attempt, &e, false).await?;
                }
                Err(JobError::Permanent(e)) => {
                    jobs::mark_failed(&mut tx, job.id, job.attempt, &e, true).await?;
                }
            }
            tx.commit().await.map_err(accord_db::DbError::from)?;
        }
    }
    Ok(ran)
}

enum JobError {
    Retry(String),
    Permanent(String),
}

impl From<accord_db::DbError> for JobError {
    fn from(e: accord_db::DbError) -> Self {
        JobError::Retry(e.to_string())
    }
}

fn job_target(job: &documents::VaultJob, field: &str) -> Result<Uuid, JobError> {
    job.payload
        .get(field)
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| JobError::Permanent(format!("the job names no {field}")))
}

async fn run_job(
    db: &Db,
    vault: &Vault,
    org: OrgId,
    job: &documents::VaultJob,
) -> Result<(), JobError> {
    match job.kind.as_str() {
        "vault.scan" => {
            let id = job_target(job, "version_id")?;
            let mut tx = documents::system_tx(db, org).await?;
            let stored = match documents::stored_version(tx.conn(), id).await {
                Ok(s) => s,
                Err(accord_db::DbError::NotFound) => return Ok(()), // erased meanwhile
                Err(e) => return Err(e.into()),
            };
            if stored.version.scan_state != ScanState::Pending {
                return Ok(());
            }
            let Some(wrapped) = stored.wrapped_key.clone() else {
                return Ok(());
            };
            let wrapped = WrappedKey {
                key_id: stored.key_id.clone(),
                ciphertext: wrapped,
            };
            let ctx = EncryptionContext {
                org: org.as_uuid(),
                case: stored.case_id.as_uuid(),
                document: stored.version.document_id,
            };
            let outcome = vault
                .rescan(&stored.object_key, &wrapped, &ctx)
                .await
                .map_err(|e| JobError::Retry(e.to_string()))?;
            let (state, detail) = match outcome {
                ScanOutcome::Clean => (ScanState::Clean, None),
                ScanOutcome::Infected(sig) => (ScanState::Quarantined, Some(sig)),
                ScanOutcome::NotScanned => (ScanState::NotScanned, None),
                ScanOutcome::Pending(why) => return Err(JobError::Retry(why)),
            };
            documents::set_scan_result(tx.conn(), id, state, detail.as_deref()).await?;
            let action = if state == ScanState::Quarantined {
                "document.quarantine"
            } else {
                "document.scan"
            };
            audit::append(&mut tx, action, "document_version", Some(id)).await?;
            tx.commit().await?;
            Ok(())
        }
        "vault.erase" => {
            let id = job_target(job, "document_id")?;
            let mut tx = documents::system_tx(db, org).await?;
            let shredded = match documents::shred(tx.conn(), id).await {
                Ok(s) => s,
                Err(accord_db::DbError::Conflict { constraint }) if constraint == "legal_hold" => {
                    return Err(JobError::Permanent("the case is under legal hold".into()))
                }
                Err(accord_db::DbError::NotFound) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            audit::append(&mut tx, "document.erase", "document", Some(id)).await?;
            tx.commit().await?;
            // The keys are gone: the objects are unreadable already. Deleting
            // them reclaims the space; a failure here is retried.
            for s in shredded {
                vault
                    .delete(&s.object_key)
                    .await
                    .map_err(|e| JobError::Retry(e.to_string()))?;
            }
            Ok(())
        }
        other => Err(JobError::Permanent(format!("unknown vault job {other}"))),
    }
}

/// Enqueues erasure of every document past its org's retention.
pub async fn retention_sweep(db: &Db) -> Result<usize, ApiError> {
    let mut conn = db.unscoped().await?;
    let orgs = documents::retention_orgs(&mut conn).await?;
    drop(conn);
    let mut queued = 0;
    for org in orgs {
        let org = OrgId::from_uuid(org);
        let mut tx = documents::system_tx(db, org).await?;
        let (_, days) = documents::org_settings(tx.conn()).await?;
        let Some(days) = days else { continue };
        for doc in documents::past_retention(tx.conn(), days, 500).await? {
            if documents::enqueue(
                tx.conn(),
                "vault.erase",
                &format!("{doc}:{}", Uuid::now_v7()),
                serde_json::json!({ "document_id": doc, "reason": "retention" }),
                Duration::ZERO,
            )
            .await?
            {
                audit::append(&mut tx, "document.retention_expire", "document", Some(doc)).await?;
                queued += 1;
            }
        }
        tx.commit().await?;
    }
    Ok(queued)
}

/// What `accord vault verify` found for one org.
#[derive(Debug)]
pub struct VerifyOutput {
    /// Objects checked: document versions (not erased) and agreement PDFs.
    pub checked: usize,
    /// Erased versions whose object is still stored (deletion pending).
    pub erased_still_stored: Vec<String>,
    /// The vault's findings.
    pub report: accord_vault::VerifyReport,
}

impl VerifyOutput {
    /// Whether everything matched.
    pub fn is_clean(&self) -> bool {
        self.report.is_clean() && self.erased_still_stored.is_empty()
    }
}

impl std::fmt::Display for VerifyOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (key, finding) in &self.report.rows {
            if *finding != accord_vault::Finding::Ok {
                writeln!(f, "{key}: {finding:?}")?;
            }
        }
        for o in &self.report.orphans {
            writeln!(f, "{}: orphan object ({} bytes) with no row", o.key, o.len)?;
        }
        for key in &self.erased_still_stored {
            writeln!(f, "{key}: erased, object not yet deleted")?;
        }
        writeln!(
            f,
            "{} object(s) checked, {} problem(s), {} orphan(s)",
            self.checked,
            self.report
                .rows
                .iter()
                .filter(|(_, x)| *x != accord_vault::Finding::Ok)
                .count()
                + self.erased_still_stored.len(),
            self.report.orphans.len()
        )
    }
}

/// Checks every stored object of `org` against its row, and finds orphans.
pub async fn verify(db: &Db, vault: &Vault, org: OrgId) -> Result<VerifyOutput, ApiError> {
    let mut tx = documents::system_tx(db, org).await?;
    let rows = documents::all_stored(tx.conn()).await?;
    let agreement_pdfs = crate::graphql::agreements::stored_pdfs(&mut tx).await?;
    drop(tx);
    let prefix = org_prefix(org);
    let mut expected = Vec::new();
    let mut erased = Vec::new();
    for (s, is_erased) in rows {
        if is_erased {
            erased.push(s.object_key);
            continue;
        }
        expected.push(accord_vault::ExpectedObject {
            key: s.object_key,
            plain_len: s.version.size_bytes.max(0) as u64,
            wrapped: s.wrapped_key.map(|ciphertext| WrappedKey {
                key_id: s.key_id,
                ciphertext,
            }),
            ctx: EncryptionContext {
                org: org.as_uuid(),
                case: s.case_id.as_uuid(),
                document: s.version.document_id,
            },
        });
    }
    expected.extend(agreement_pdfs);
    // Erased rows' objects are expected gone; one still there is reported,
    // not counted as an orphan.
    let mut report = vault
        .verify(&prefix, &expected)
        .await
        .map_err(vault_error)?;
    let erased: std::collections::HashSet<String> = erased.into_iter().collect();
    let mut erased_still_stored = Vec::new();
    report.orphans.retain(|o| {
        if erased.contains(&o.key) {
            erased_still_stored.push(o.key.clone());
            false
        } else {
            true
        }
    });
    Ok(VerifyOutput {
        checked: expected.len(),
        erased_still_stored,
        report,
    })
}

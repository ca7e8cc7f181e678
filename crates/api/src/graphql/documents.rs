//! Documents on a case: listing, versions, who may see them, erasure, legal
//! holds and the org's upload limit and retention.
//!
//! Bytes never pass through GraphQL: uploads and downloads are the streaming
//! routes of `crate::documents`; each document here carries its versions'
//! download paths. Postgres decides which documents a viewer sees, so a
//! private document of another party is `NOT_FOUND`, exactly like one that
//! never existed.

use accord_db::documents::{self, Document as DbDocument, ScanState, Version, Visibility};
use accord_db::{audit, cases, TenantTx};
use accord_domain::{Action, CaseId, Role, UserId};
use async_graphql::{Context, Enum, Object, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::types::not_found;
use super::{authorize, deny_early, mutate, rctx, read};
use crate::ApiError;

/// Who may see a document.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum DocumentVisibility {
    /// Everyone on the case.
    Case,
    /// The case's mediator only.
    Mediators,
    /// One person on the case and the mediator (caucus-private).
    Party,
}

/// Where a version's virus scan stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum DocumentScanState {
    /// Not scanned yet: only its uploader sees it.
    Pending,
    /// Scanned, nothing found.
    Clean,
    /// A threat was found: nobody but its uploader sees it, nobody downloads it.
    Quarantined,
    /// Scanning is disabled on this server.
    NotScanned,
}

impl From<ScanState> for DocumentScanState {
    fn from(s: ScanState) -> Self {
        match s {
            ScanState::Pending => DocumentScanState::Pending,
            ScanState::Clean => DocumentScanState::Clean,
            ScanState::Quarantined => DocumentScanState::Quarantined,
            ScanState::NotScanned => DocumentScanState::NotScanned,
        }
    }
}

/// One uploaded version of a document.
#[derive(SimpleObject, Debug, Clone)]
pub struct DocumentVersion {
    /// Its id.
    pub id: Uuid,
    /// 1 for the first upload, then 2, 3, ...
    pub number: i32,
    /// The file's name.
    pub filename: String,
    /// The type sniffed from its content.
    pub media_type: String,
    /// Its size in bytes.
    pub size_bytes: f64,
    /// Its virus scan.
    pub scan_state: DocumentScanState,
    /// The threat found, for a quarantined version.
    pub scan_detail: Option<String>,
    /// Who uploaded it.
    pub uploaded_by: Uuid,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Where to download it (`?disposition=inline` to view); absent while
    /// quarantined.
    pub download_path: Option<String>,
    /// The SHA-256 of its content (hex), computed as it was uploaded; absent
    /// for versions stored before fingerprints were kept.
    pub sha256: Option<String>,
}

impl From<Version> for DocumentVersion {
    fn from(v: Version) -> Self {
        DocumentVersion {
            download_path: (v.scan_state != ScanState::Quarantined)
                .then(|| format!("/documents/versions/{}/content", v.id)),
            id: v.id,
            number: v.number,
            filename: v.filename,
            media_type: v.media_type,
            size_bytes: v.size_bytes as f64,
            scan_state: v.scan_state.into(),
            scan_detail: v.scan_detail,
            uploaded_by: v.uploaded_by.as_uuid(),
            created_at: v.created_at,
            sha256: v.sha256.as_deref().map(super::agreements::hex),
        }
    }
}

/// A document on a case.
#[derive(Debug, Clone)]
pub struct CaseDocument(DbDocument);

#[Object]
impl CaseDocument {
    /// Its id.
    async fn id(&self) -> Uuid {
        self.0.id
    }
    /// Its case.
    async fn case_id(&self) -> Uuid {
        self.0.case_id.as_uuid()
    }
    /// The latest version's file name.
    async fn name(&self) -> &str {
        &self.0.latest.filename
    }
    /// Who may see it.
    async fn visibility(&self) -> DocumentVisibility {
        match self.0.visibility {
            Visibility::Case => DocumentVisibility::Case,
            Visibility::Mediators => DocumentVisibility::Mediators,
            Visibility::Party(_) => DocumentVisibility::Party,
        }
    }
    /// For a caucus-private document: the person who shares it with the mediator.
    async fn party_user_id(&self) -> Option<Uuid> {
        match self.0.visibility {
            Visibility::Party(u) => Some(u.as_uuid()),
            _ => None,
        }
    }
    /// Who filed it.
    async fn created_by(&self) -> Uuid {
        self.0.created_by.as_uuid()
    }
    /// When.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Last change.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The latest version the viewer may see.
    async fn latest(&self) -> DocumentVersion {
        self.0.latest.clone().into()
    }
    /// Every version the viewer may see, newest first.
    async fn versions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DocumentVersion>> {
        let id = self.0.id;
        read(ctx, move |tx| {
            Box::pin(async move {
                Ok(documents::versions(tx, id)
                    .await?
                    .into_iter()
                    .map(DocumentVersion::from)
                    .collect())
            })
        })
        .await
    }
}

/// The org's document rules.
#[derive(SimpleObject, Debug, Clone)]
pub struct DocumentSettings {
    /// Largest upload, in bytes.
    pub max_upload_bytes: f64,
    /// Days after a case closes that its documents are erased; none: kept.
    pub retention_days: Option<i32>,
}

async fn viewable_case(tx: &mut TenantTx, case_id: Uuid) -> Result<CaseId, ApiError> {
    deny_early(tx, Action::ViewCase)?;
    let case_id = CaseId::from_uuid(case_id);
    authorize(tx, Action::ViewCase, Some(case_id)).await?;
    cases::get(tx, case_id).await.map_err(not_found("case"))?;
    Ok(case_id)
}

/// Reads about documents.
#[derive(Debug, Default)]
pub struct DocumentsQuery;

#[Object]
impl DocumentsQuery {
    /// The documents of a case that the viewer may see, newest first.
    async fn case_documents(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
    ) -> async_graphql::Result<Vec<CaseDocument>> {
        read(ctx, move |tx| {
            Box::pin(async move {
                let case_id = viewable_case(tx, case_id).await?;
                Ok(documents::list(tx, case_id)
                    .await?
                    .into_iter()
                    .map(CaseDocument)
                    .collect())
            })
        })
        .await
    }

    /// One document, if the viewer may see it.
    async fn document(&self, ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<CaseDocument> {
        read(ctx, move |tx| {
            Box::pin(async move {
                deny_early(tx, Action::ViewCase)?;
                let doc = documents::get(tx, id)
                    .await
                    .map_err(not_found("document"))?;
                authorize(tx, Action::ViewCase, Some(doc.case_id))
                    .await
                    .map_err(|_| ApiError::NotFound("document"))?;
                Ok(CaseDocument(doc))
            })
        })
        .await
    }

    /// Whether a case is under legal hold (nothing of it can be erased).
    async fn case_legal_hold(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
    ) -> async_graphql::Result<bool> {
        read(ctx, move |tx| {
            Box::pin(async move {
                let case_id = viewable_case(tx, case_id).await?;
                Ok(documents::is_held(tx.conn(), case_id).await?)
            })
        })
        .await
    }

    /// The org's upload limit and retention.
    async fn document_settings(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<DocumentSettings> {
        read(ctx, move |tx| {
            Box::pin(async move {
                authorize(tx, Action::ViewOrganization, None).await?;
                let (max, days) = documents::org_settings(tx.conn()).await?;
                Ok(DocumentSettings {
                    max_upload_bytes: max as f64,
                    retention_days: days,
                })
            })
        })
        .await
    }
}

/// Writes about documents.
#[derive(Debug, Default)]
pub struct DocumentsMutation;

fn require_org_admin(tx: &TenantTx) -> Result<(), ApiError> {
    if tx.actor().role == Role::OrgAdmin {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only org admins may do this".into()))
    }
}

/// The case's mediator or an org admin; others who can see the document
/// are refused, others who cannot never learn it exists.
async fn manageable(tx: &mut TenantTx, id: Uuid) -> Result<DbDocument, ApiError> {
    deny_early(tx, Action::ViewCase)?;
    let doc = documents::get(tx, id)
        .await
        .map_err(not_found("document"))?;
    let case = cases::get(tx, doc.case_id)
        .await
        .map_err(not_found("document"))?;
    let actor = tx.actor();
    if actor.role == Role::OrgAdmin
        || (actor.user_id.is_some() && case.mediator_id == actor.user_id)
    {
        Ok(doc)
    } else {
        Err(ApiError::Forbidden(
            "only the case's mediator or an org admin may do this".into(),
        ))
    }
}

#[Object]
impl DocumentsMutation {
    /// Changes who may see a document (the case's mediator or an org admin):
    /// e.g. shares a party's private document with the whole case. Audited.
    async fn set_document_visibility(
        &self,
        ctx: &Context<'_>,
        document_id: Uuid,
        visibility: DocumentVisibility,
        party_user_id: Option<Uuid>,
    ) -> async_graphql::Result<CaseDocument> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let doc = manageable(tx, document_id).await?;
                let v = match (visibility, party_user_id) {
                    (DocumentVisibility::Case, None) => Visibility::Case,
                    (DocumentVisibility::Mediators, None) => Visibility::Mediators,
                    (DocumentVisibility::Party, Some(u)) => Visibility::Party(UserId::from_uuid(u)),
                    (DocumentVisibility::Party, None) => {
                        return Err(ApiError::bad_input(
                            "partyUserId",
                            "name the person who keeps this document with the mediator",
                        ))
                    }
                    (_, Some(_)) => {
                        return Err(ApiError::bad_input(
                            "partyUserId",
                            "only a party-private document names a person",
                        ))
                    }
                };
                crate::documents::check_visibility(tx, doc.case_id, v).await?;
                documents::set_visibility(tx, document_id, v).await?;
                audit::append(
                    tx,
                    "document.visibility_change",
                    "document",
                    Some(document_id),
                )
                .await?;
                Ok(CaseDocument(documents::get(tx, document_id).await?))
            })
        })
        .await
    }

    /// Erases a document (the case's mediator or an org admin): its data
    /// keys are destroyed and its objects deleted by a queued job. Refused
    /// while its case is under legal hold. Audited.
    async fn erase_document(
        &self,
        ctx: &Context<'_>,
        document_id: Uuid,
    ) -> async_graphql::Result<bool> {
        let state = rctx(ctx).state().clone();
        let done = mutate(ctx, move |tx| {
            Box::pin(async move {
                let doc = manageable(tx, document_id).await?;
                if documents::is_held(tx.conn(), doc.case_id).await? {
                    return Err(ApiError::Conflict(
                        "the case is under legal hold: nothing of it can be erased".into(),
                    ));
                }
                documents::enqueue(
                    tx.conn(),
                    "vault.erase",
                    &format!("{document_id}:{}", Uuid::now_v7()),
                    serde_json::json!({ "document_id": document_id, "reason": "request" }),
                    std::time::Duration::ZERO,
                )
                .await?;
                audit::append(tx, "document.erase_request", "document", Some(document_id)).await?;
                Ok(true)
            })
        })
        .await?;
        state.wake_vault();
        Ok(done)
    }

    /// Places or lifts a legal hold on a case (org admins). Audited.
    async fn set_legal_hold(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
        hold: bool,
    ) -> async_graphql::Result<bool> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                require_org_admin(tx)?;
                let case_id = viewable_case(tx, case_id).await?;
                if documents::set_hold(tx, case_id, hold).await? {
                    let action = if hold {
                        "case.legal_hold_place"
                    } else {
                        "case.legal_hold_lift"
                    };
                    audit::append(tx, action, "case", Some(case_id.as_uuid())).await?;
                }
                Ok(hold)
            })
        })
        .await
    }

    /// Sets the org's upload limit (1 byte to 16 GiB) and retention (1 to
    /// 36500 days after a case closes, or none). Org admins. Audited.
    async fn set_document_settings(
        &self,
        ctx: &Context<'_>,
        max_upload_bytes: f64,
        retention_days: Option<i32>,
    ) -> async_graphql::Result<DocumentSettings> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                require_org_admin(tx)?;
                if !(1.0..=17_179_869_184.0).contains(&max_upload_bytes)
                    || max_upload_bytes.fract() != 0.0
                {
                    return Err(ApiError::bad_input(
                        "maxUploadBytes",
                        "a whole number of bytes from 1 to 17179869184 (16 GiB)",
                    ));
                }
                if retention_days.is_some_and(|d| !(1..=36_500).contains(&d)) {
                    return Err(ApiError::bad_input(
                        "retentionDays",
                        "from 1 to 36500 days, or none to keep documents",
                    ));
                }
                documents::set_org_settings(tx, max_upload_bytes as i64, retention_days).await?;
                let org = tx.actor().org_id.as_uuid();
                audit::append(
                    tx,
                    "organization.document_settings",
                    "organization",
                    Some(org),
                )
                .await?;
                Ok(DocumentSettings {
                    max_upload_bytes,
                    retention_days,
                })
            })
        })
        .await
    }
}

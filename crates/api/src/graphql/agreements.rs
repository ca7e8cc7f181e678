//! Agreements signed by the parties' registered devices.
//!
//! A case's mediator drafts the agreement to mediate or the settlement
//! agreement (a title and Markdown text), edits it through versions while it
//! is a draft, then sends it for signature: the agreement is printed to PDF
//! then ([`crate::agreement_pdf`]), the file is stored in the vault's object
//! store like a document (encrypted under a data key of its own, which the
//! vault's key service wraps), its SHA-256 is fixed and the text can no
//! longer change. Each
//! signatory (every person on the case for the agreement to mediate, the
//! parties for a settlement) signs in the client portal with the device key
//! their invite link registered: the browser signs [`statement`], which names
//! the agreement, that hash, the person, their typed name and the time. The
//! API checks that the key is the person's live registered device (its RFC
//! 7638 thumbprint), that the hash is the one sent for signature, that the
//! time is now, and the signature; it stores the statement's parts, the
//! public key and the device. Once every signatory has signed, the agreement
//! is locked (Postgres refuses any later change). [`verify`] (`accord
//! agreement verify`) checks every signature and the hash again, offline,
//! from the stored PDF.
//!
//! The text and the PDF are case content: the text sealed in its row like
//! messages, the PDF in the object store; never logged; the audit log names only the agreement. A draft is its mediator's
//! work in progress: only the case's mediator and org admins see it.

use std::fmt::Write as _;

use accord_auth::join::DeviceKey;
use accord_db::cases::Party;
use accord_db::{audit, cases, orgs, Db, TenantTx};
use accord_domain::{Action, CaseId, OrgId, PartyKind, Role};
use accord_vault::{EncryptionContext, ExpectedObject, Vault, VaultError, WrappedKey};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::messages::{db, open, seal, vault_error, vault_of};
use super::types::not_found;
use super::{authorize, deny_early, mutate, rctx, read};
use crate::agreement_pdf::Printable;
use crate::ApiError;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// How far a signature's time may be from the server's clock.
pub const SIGNING_LEEWAY: chrono::Duration = chrono::Duration::minutes(5);
/// Longest agreement text, in characters.
pub const MAX_BODY_CHARS: usize = 200_000;

/// Which agreement.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AgreementKind {
    /// The agreement to mediate (confidentiality, no recording): everyone
    /// on the case signs.
    AgreementToMediate,
    /// The settlement agreement: the parties sign.
    Settlement,
}

impl AgreementKind {
    fn as_str(self) -> &'static str {
        match self {
            AgreementKind::AgreementToMediate => "agreement_to_mediate",
            AgreementKind::Settlement => "settlement",
        }
    }

    fn parse(s: &str) -> Result<Self, ApiError> {
        match s {
            "agreement_to_mediate" => Ok(AgreementKind::AgreementToMediate),
            "settlement" => Ok(AgreementKind::Settlement),
            other => Err(ApiError::Internal(format!("agreement kind {other}"))),
        }
    }

    /// Whether `party` must sign this kind of agreement.
    fn signs(self, party: &Party) -> bool {
        match self {
            AgreementKind::AgreementToMediate => true,
            AgreementKind::Settlement => party.kind == PartyKind::Party,
        }
    }
}

/// Where an agreement stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AgreementStatus {
    /// Being written; the mediator may edit it.
    Draft,
    /// Sent for signature: the text is fixed.
    Signing,
    /// Everyone signed: locked.
    Signed,
}

impl AgreementStatus {
    fn parse(s: &str) -> Result<Self, ApiError> {
        match s {
            "draft" => Ok(AgreementStatus::Draft),
            "signing" => Ok(AgreementStatus::Signing),
            "signed" => Ok(AgreementStatus::Signed),
            other => Err(ApiError::Internal(format!("agreement status {other}"))),
        }
    }
}

/// The hash in lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// What a signatory's device signs (as UTF-8), each part on its own line.
pub fn statement(
    agreement: Uuid,
    sha256_hex: &str,
    party: Uuid,
    typed_name: &str,
    signed_at: &str,
) -> String {
    format!(
        "accord-agreement-signature-v1\nagreement: {agreement}\nsha256: {sha256_hex}\nparty: {party}\nname: {typed_name}\nsigned-at: {signed_at}"
    )
}

/// A title as typed: one line, trimmed, 1 to 200 characters.
fn parse_title(title: &str) -> Result<String, ApiError> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > 200 || title.contains(['\n', '\r']) {
        return Err(ApiError::bad_input(
            "title",
            "give the agreement a title of one line, up to 200 characters",
        ));
    }
    Ok(title.to_owned())
}

/// A text as typed: line ends `\n`, no trailing blank space, not empty.
fn parse_body(body: &str) -> Result<String, ApiError> {
    let body = body.replace("\r\n", "\n").replace('\r', "\n");
    let body = body.trim_end().to_owned();
    if body.trim().is_empty() {
        return Err(ApiError::bad_input("body", "write the agreement's text"));
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(ApiError::bad_input(
            "body",
            format!("an agreement has at most {MAX_BODY_CHARS} characters"),
        ));
    }
    Ok(body)
}

/// A typed name: one line, trimmed, 1 to 200 characters.
fn parse_typed_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_input(
            "typedName",
            "type your full name on one line to sign",
        ));
    }
    Ok(name.to_owned())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Text {
    title: String,
    body: String,
}

#[derive(sqlx::FromRow, Clone)]
struct Row {
    id: Uuid,
    case_id: Uuid,
    kind: String,
    status: String,
    version: i32,
    key_id: String,
    wrapped_key: Vec<u8>,
    ciphertext: Vec<u8>,
    content_sha256: Option<Vec<u8>>,
    pdf_key_id: Option<String>,
    pdf_wrapped_key: Option<Vec<u8>>,
    pdf_ciphertext: Option<Vec<u8>>,
    pdf_object_key: Option<String>,
    pdf_size: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    signed_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, case_id, kind, status, version, key_id, wrapped_key, ciphertext, \
                       content_sha256, pdf_key_id, pdf_wrapped_key, pdf_ciphertext, \
                       pdf_object_key, pdf_size, created_at, updated_at, sent_at, signed_at";

#[derive(sqlx::FromRow, Clone)]
struct SignatureRow {
    party_id: Uuid,
    device_id: Uuid,
    device_jkt: String,
    public_key: sqlx::types::Json<serde_json::Value>,
    content_sha256: Vec<u8>,
    typed_name: String,
    signed_at_text: String,
    signature: Vec<u8>,
    recorded_at: DateTime<Utc>,
}

const SIGNATURE_COLUMNS: &str = "party_id, device_id, device_jkt, public_key, content_sha256, \
                                 typed_name, signed_at_text, signature, recorded_at";

fn context(org: Uuid, case: Uuid, agreement: Uuid) -> EncryptionContext {
    EncryptionContext {
        org,
        case,
        document: agreement,
    }
}

/// A signature as shown.
#[derive(SimpleObject, Debug, Clone)]
pub struct SignatureView {
    /// The name the signatory typed.
    pub typed_name: String,
    /// The time they signed, as signed.
    pub signed_at: String,
    /// The device registration whose key signed.
    pub device_id: Uuid,
    /// That key's RFC 7638 thumbprint.
    pub device_thumbprint: String,
    /// When the server recorded it.
    pub recorded_at: DateTime<Utc>,
}

/// Someone who must sign.
#[derive(SimpleObject, Debug, Clone)]
pub struct Signatory {
    /// Their entry on the case.
    pub party_id: Uuid,
    /// Their name.
    pub name: String,
    /// Their signature, once given.
    pub signature: Option<SignatureView>,
}

/// An agreement as its readers see it.
#[derive(SimpleObject, Debug, Clone)]
pub struct AgreementView {
    /// Its id.
    pub id: Uuid,
    /// The case.
    pub case_id: Uuid,
    /// Which agreement.
    pub kind: AgreementKind,
    /// Where it stands.
    pub status: AgreementStatus,
    /// Its version (each edit counts one).
    pub version: i32,
    /// Its title.
    pub title: String,
    /// Its text (Markdown).
    pub body: String,
    /// The SHA-256 (hex) the signatories sign, once sent for signature.
    pub content_sha256: Option<String>,
    /// Who must sign, and who has.
    pub signatories: Vec<Signatory>,
    /// The viewer's own entry when they must sign it.
    pub my_party_id: Option<Uuid>,
    /// When it was drafted.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was sent for signature.
    pub sent_at: Option<DateTime<Utc>>,
    /// When the last signatory signed (locked since).
    pub signed_at: Option<DateTime<Utc>>,
}

async fn load(tx: &mut TenantTx, id: Uuid) -> Result<Row, ApiError> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM agreements WHERE id = $1"))
        .bind(id)
        .fetch_optional(tx.conn())
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound("agreement"))
}

async fn signatures(tx: &mut TenantTx, id: Uuid) -> Result<Vec<SignatureRow>, ApiError> {
    sqlx::query_as(&format!(
        "SELECT {SIGNATURE_COLUMNS} FROM agreement_signatures WHERE agreement_id = $1 ORDER BY recorded_at"
    ))
    .bind(id)
    .fetch_all(tx.conn())
    .await
    .map_err(db)
}

async fn text_of(vault: &Vault, org: Uuid, row: &Row) -> Result<Text, ApiError> {
    let plain = open(
        vault,
        &context(org, row.case_id, row.id),
        row.key_id.clone(),
        row.wrapped_key.clone(),
        &row.ciphertext,
    )
    .await
    .map_err(vault_error)?;
    serde_json::from_slice(&plain)
        .map_err(|_| ApiError::Internal("an agreement's text does not parse".into()))
}

/// Where an agreement's PDF is stored in the vault's object store: under
/// the org's prefix (so `accord vault verify` checks it), identifiers only,
/// a new name for each attempt to send (two sends racing never write the
/// same object, and the one that loses deletes only its own).
fn pdf_object_key(org: OrgId, agreement: Uuid) -> String {
    format!(
        "{}/agreement-{}-{}",
        org.as_uuid().simple(),
        agreement.simple(),
        Uuid::now_v7().simple()
    )
}

/// The largest agreement PDF read back (printing refuses nothing, but an
/// agreement's text is bounded, and so is its file).
const PDF_MAX_BYTES: usize = 8 << 20;

/// The stored PDF of an agreement sent for signature, from the vault's
/// object store (or, for agreements sent before PDFs moved there, from the
/// agreement's row).
async fn pdf_of(vault: &Vault, org: Uuid, row: &Row) -> Result<Vec<u8>, ApiError> {
    let (Some(key_id), Some(wrapped)) = (&row.pdf_key_id, &row.pdf_wrapped_key) else {
        return Err(ApiError::NotFound("agreement PDF"));
    };
    let ctx = context(org, row.case_id, row.id);
    match (&row.pdf_object_key, &row.pdf_ciphertext) {
        (Some(object_key), _) => {
            let wrapped = WrappedKey {
                key_id: key_id.clone(),
                ciphertext: wrapped.clone(),
            };
            let pdf = vault
                .read_all(object_key, &wrapped, &ctx, PDF_MAX_BYTES)
                .await
                .map_err(|e| match e {
                    VaultError::NotFound => ApiError::Internal(format!(
                        "agreement {}: its PDF is missing from the object store",
                        row.id
                    )),
                    e => vault_error(e),
                })?;
            if row.pdf_size != Some(pdf.len() as i64) {
                return Err(ApiError::Internal(format!(
                    "agreement {}: the stored PDF is not the length recorded",
                    row.id
                )));
            }
            Ok(pdf)
        }
        (None, Some(ciphertext)) => open(vault, &ctx, key_id.clone(), wrapped.clone(), ciphertext)
            .await
            .map_err(vault_error),
        (None, None) => Err(ApiError::NotFound("agreement PDF")),
    }
}

/// The agreement PDFs in the vault's object store, as `accord vault verify`
/// expects to find them (read in a system transaction of their org).
pub(crate) async fn stored_pdfs(tx: &mut TenantTx) -> Result<Vec<ExpectedObject>, ApiError> {
    let org = tx.actor().org_id.as_uuid();
    let rows: Vec<(Uuid, Uuid, String, i64, String, Vec<u8>)> = sqlx::query_as(
        "SELECT id, case_id, pdf_object_key, pdf_size, pdf_key_id, pdf_wrapped_key
         FROM agreements WHERE pdf_object_key IS NOT NULL ORDER BY id",
    )
    .fetch_all(tx.conn())
    .await
    .map_err(db)?;
    Ok(rows
        .into_iter()
        .map(|(id, case, key, size, key_id, ciphertext)| ExpectedObject {
            key,
            plain_len: size.max(0) as u64,
            wrapped: Some(WrappedKey { key_id, ciphertext }),
            ctx: context(org, case, id),
        })
        .collect())
}

/// Whether the viewer is staff of `case`: an org admin or its mediator.
async fn staff_of(tx: &mut TenantTx, case: CaseId) -> Result<bool, ApiError> {
    if tx.actor().role == Role::OrgAdmin {
        return Ok(true);
    }
    let c = cases::get(tx, case).await.map_err(not_found("case"))?;
    Ok(tx.actor().role == Role::Mediator
        && c.mediator_id.is_some()
        && c.mediator_id == tx.actor().user_id)
}

/// The agreement `id` if the viewer may see it (`NOT_FOUND` otherwise): its
/// case is theirs to see, and a draft is seen only by the case's staff.
async fn visible(tx: &mut TenantTx, id: Uuid) -> Result<Row, ApiError> {
    deny_early(tx, Action::ViewCase)?;
    let row = load(tx, id).await?;
    let case = CaseId::from_uuid(row.case_id);
    authorize(tx, Action::ViewCase, Some(case)).await?;
    if row.status == "draft" && !staff_of(tx, case).await? {
        return Err(ApiError::NotFound("agreement"));
    }
    Ok(row)
}

/// What the agreement prints: the stored file once sent for signature, a
/// draft's preview (never stored) before; with its file name.
pub(crate) async fn printed(
    tx: &mut TenantTx,
    vault: &Vault,
    id: Uuid,
) -> Result<(String, Vec<u8>), ApiError> {
    let row = visible(tx, id).await?;
    let case = cases::get(tx, CaseId::from_uuid(row.case_id))
        .await
        .map_err(not_found("agreement"))?;
    let kind = AgreementKind::parse(&row.kind)?;
    let org = tx.actor().org_id.as_uuid();
    let bytes = if row.status == "draft" {
        printable(tx, vault, &row, &case, true).await?.pdf()
    } else {
        pdf_of(vault, org, &row).await?
    };
    let stem: String = case
        .reference
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let which = match kind {
        AgreementKind::Settlement => "settlement",
        AgreementKind::AgreementToMediate => "agreement-to-mediate",
    };
    let draft = if row.status == "draft" { "-draft" } else { "" };
    Ok((format!("{stem}-{which}-v{}{draft}.pdf", row.version), bytes))
}

/// The agreement as it prints, from its stored text and the case as it is.
async fn printable(
    tx: &mut TenantTx,
    vault: &Vault,
    row: &Row,
    case: &cases::Case,
    draft: bool,
) -> Result<Printable, ApiError> {
    let org_id = tx.actor().org_id.as_uuid();
    let kind = AgreementKind::parse(&row.kind)?;
    let text = text_of(vault, org_id, row).await?;
    let parties = cases::parties(tx, case.id).await?;
    let org = orgs::current(tx).await?;
    Ok(Printable {
        org: org.name.as_str().to_owned(),
        kind: match kind {
            AgreementKind::Settlement => "Settlement agreement",
            AgreementKind::AgreementToMediate => "Agreement to mediate",
        },
        case_reference: case.reference.as_str().to_owned(),
        agreement: row.id,
        version: row.version,
        title: text.title,
        body: text.body,
        signatories: parties
            .iter()
            .filter(|p| kind.signs(p))
            .map(|p| p.display_name.as_str().to_owned())
            .collect(),
        draft,
    })
}

async fn view(tx: &mut TenantTx, vault: &Vault, row: Row) -> Result<AgreementView, ApiError> {
    let org = tx.actor().org_id.as_uuid();
    let kind = AgreementKind::parse(&row.kind)?;
    let text = text_of(vault, org, &row).await?;
    let parties = cases::parties(tx, CaseId::from_uuid(row.case_id)).await?;
    let signed = signatures(tx, row.id).await?;
    let me = tx.actor().user_id;
    let mut signatories = Vec::new();
    let mut my_party_id = None;
    for p in parties.iter().filter(|p| kind.signs(p)) {
        if me.is_some() && p.user_id == me {
            my_party_id = Some(p.id.as_uuid());
        }
        let signature = signed
            .iter()
            .find(|s| s.party_id == p.id.as_uuid())
            .map(|s| SignatureView {
                typed_name: s.typed_name.clone(),
                signed_at: s.signed_at_text.clone(),
                device_id: s.device_id,
                device_thumbprint: s.device_jkt.clone(),
                recorded_at: s.recorded_at,
            });
        signatories.push(Signatory {
            party_id: p.id.as_uuid(),
            name: p.display_name.as_str().to_owned(),
            signature,
        });
    }
    Ok(AgreementView {
        id: row.id,
        case_id: row.case_id,
        kind,
        status: AgreementStatus::parse(&row.status)?,
        version: row.version,
        title: text.title,
        body: text.body,
        content_sha256: row.content_sha256.as_deref().map(hex),
        signatories,
        my_party_id,
        created_at: row.created_at,
        updated_at: row.updated_at,
        sent_at: row.sent_at,
        signed_at: row.signed_at,
    })
}

/// Whether `party` has signed an agreement to mediate of `case` (one sent
/// for signature or signed by everyone).
pub(crate) async fn signed_to_mediate(
    tx: &mut TenantTx,
    case: CaseId,
    party: accord_domain::PartyId,
) -> Result<bool, ApiError> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM agreement_signatures s
                          JOIN agreements a ON a.id = s.agreement_id
                         WHERE a.case_id = $1 AND a.kind = 'agreement_to_mediate'
                           AND a.status IN ('signing', 'signed') AND s.party_id = $2)",
    )
    .bind(case.as_uuid())
    .bind(party.as_uuid())
    .fetch_one(tx.conn())
    .await
    .map_err(db)
}

/// A case's agreements as the compliance export lists them: kind, status,
/// version, times, the SHA-256 signed, and each signature record (party,
/// device registration and thumbprint, public key, signature, the time as
/// signed and as recorded). The names signatories typed only `with_content`;
/// the text never.
pub(crate) async fn compliance_records(
    tx: &mut TenantTx,
    case: CaseId,
    with_content: bool,
) -> Result<Vec<serde_json::Value>, ApiError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM agreements WHERE case_id = $1 ORDER BY created_at, id"
    ))
    .bind(case.as_uuid())
    .fetch_all(tx.conn())
    .await
    .map_err(db)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let signed: Vec<serde_json::Value> = signatures(tx, row.id)
            .await?
            .into_iter()
            .map(|s| {
                let mut v = serde_json::json!({
                    "partyId": s.party_id,
                    "deviceId": s.device_id,
                    "deviceThumbprint": s.device_jkt,
                    "publicKey": s.public_key.0,
                    "sha256": hex(&s.content_sha256),
                    "signedAt": s.signed_at_text,
                    "signature": B64.encode(&s.signature),
                    "recordedAt": s.recorded_at,
                });
                if with_content {
                    v["typedName"] = serde_json::Value::String(s.typed_name);
                }
                v
            })
            .collect();
        out.push(serde_json::json!({
            "agreementId": row.id,
            "kind": row.kind,
            "status": row.status,
            "version": row.version,
            "sha256": row.content_sha256.as_deref().map(hex),
            "createdAt": row.created_at,
            "sentAt": row.sent_at,
            "signedAt": row.signed_at,
            "signatures": signed,
        }));
    }
    Ok(out)
}

/// Whether `case` has a settlement agreement signed by everyone.
pub(crate) async fn settlement_signed(tx: &mut TenantTx, case: CaseId) -> Result<bool, ApiError> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM agreements
                         WHERE case_id = $1 AND kind = 'settlement' AND status = 'signed')",
    )
    .bind(case.as_uuid())
    .fetch_one(tx.conn())
    .await
    .map_err(db)
}

/// Refuses anyone but the case's mediator.
async fn must_mediate(tx: &mut TenantTx, case: CaseId) -> Result<(), ApiError> {
    deny_early(tx, Action::ViewCase)?;
    authorize(tx, Action::ViewCase, Some(case)).await?;
    let c = cases::get(tx, case).await.map_err(not_found("case"))?;
    if c.mediator_id.is_none() || c.mediator_id != tx.actor().user_id {
        return Err(ApiError::Forbidden(
            "only the case's mediator drafts and sends its agreements".into(),
        ));
    }
    Ok(())
}

/// A signature as the client portal sends it.
#[derive(InputObject, Debug)]
pub struct SignAgreementInput {
    /// The agreement.
    pub agreement_id: Uuid,
    /// The SHA-256 (hex) the signatory was shown and signed.
    pub content_sha256: String,
    /// Their name, as typed.
    pub typed_name: String,
    /// The time signed (RFC 3339), as in the statement.
    pub signed_at: String,
    /// The device's public key (JWK, P-256).
    pub public_key: async_graphql::Json<serde_json::Value>,
    /// ECDSA P-256/SHA-256 over the statement's UTF-8 bytes, base64url r‖s.
    pub signature: String,
}

/// Reads for agreements.
#[derive(Debug, Default)]
pub struct AgreementsQuery;

#[Object]
impl AgreementsQuery {
    /// A case's agreements, oldest first.
    async fn agreements(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
    ) -> async_graphql::Result<Vec<AgreementView>> {
        let vault = vault_of(rctx(ctx).state()).map_err(super::gql)?;
        read(ctx, move |tx| {
            Box::pin(async move {
                let case = CaseId::from_uuid(case_id);
                deny_early(tx, Action::ViewCase)?;
                authorize(tx, Action::ViewCase, Some(case)).await?;
                cases::get(tx, case).await.map_err(not_found("case"))?;
                // Drafts are the mediator's work in progress.
                let staff = staff_of(tx, case).await?;
                let rows: Vec<Row> = sqlx::query_as(&format!(
                    "SELECT {COLUMNS} FROM agreements WHERE case_id = $1
                       AND ($2 OR status <> 'draft') ORDER BY created_at, id"
                ))
                .bind(case_id)
                .bind(staff)
                .fetch_all(tx.conn())
                .await
                .map_err(db)?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    out.push(view(tx, &vault, row).await?);
                }
                Ok(out)
            })
        })
        .await
    }

    /// Whether people on a case who have not signed its agreement to mediate
    /// may join its live sessions (org settings).
    async fn admit_unsigned_participants(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        read(ctx, move |tx| {
            Box::pin(async move {
                authorize(tx, Action::ViewOrganization, None).await?;
                Ok(accord_db::conflicts::admit_unsigned(tx).await?)
            })
        })
        .await
    }

    /// Whether people whose browser cannot encrypt media end to end may join
    /// the org's live sessions, which then run hop by hop only, marked so to
    /// everyone (org settings; off by default).
    async fn hop_by_hop_allowed(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        read(ctx, move |tx| {
            Box::pin(async move {
                authorize(tx, Action::ViewOrganization, None).await?;
                Ok(accord_db::conflicts::allow_hop_by_hop(tx).await?)
            })
        })
        .await
    }

    /// One agreement.
    async fn agreement(&self, ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<AgreementView> {
        let vault = vault_of(rctx(ctx).state()).map_err(super::gql)?;
        read(ctx, move |tx| {
            Box::pin(async move {
                let row = visible(tx, id).await?;
                view(tx, &vault, row).await
            })
        })
        .await
    }
}

/// Writes for agreements.
#[derive(Debug, Default)]
pub struct AgreementsMutation;

#[Object]
impl AgreementsMutation {
    /// Sets whether people whose browser cannot encrypt media end to end
    /// may join live sessions, hop by hop only and marked so to everyone
    /// (org admins).
    async fn set_hop_by_hop_allowed(
        &self,
        ctx: &Context<'_>,
        allowed: bool,
    ) -> async_graphql::Result<bool> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                authorize(tx, Action::ManageMembers, None).await?;
                accord_db::conflicts::set_allow_hop_by_hop(tx, allowed).await?;
                let org = tx.actor().org_id.as_uuid();
                audit::append(tx, "org.set_hop_by_hop", "organization", Some(org)).await?;
                Ok(allowed)
            })
        })
        .await
    }

    /// Sets whether people who have not signed their case's agreement to
    /// mediate may join its live sessions (org admins). When not, the join
    /// token is refused them until they sign.
    async fn set_admit_unsigned_participants(
        &self,
        ctx: &Context<'_>,
        admit: bool,
    ) -> async_graphql::Result<bool> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                authorize(tx, Action::ManageMembers, None).await?;
                accord_db::conflicts::set_admit_unsigned(tx, admit).await?;
                let org = tx.actor().org_id.as_uuid();
                audit::append(tx, "org.set_admit_unsigned", "organization", Some(org)).await?;
                Ok(admit)
            })
        })
        .await
    }

    /// Drafts an agreement on a case (its mediator).
    async fn draft_agreement(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
        kind: AgreementKind,
        title: String,
        body: String,
    ) -> async_graphql::Result<AgreementView> {
        let vault = vault_of(rctx(ctx).state()).map_err(super::gql)?;
        mutate(ctx, move |tx| {
            Box::pin(async move {
                must_mediate(tx, CaseId::from_uuid(case_id)).await?;
                let text = Text {
                    title: parse_title(&title)?,
                    body: parse_body(&body)?,
                };
                let org = tx.actor().org_id.as_uuid();
                let id = Uuid::now_v7();
                let plain = serde_json::to_vec(&text)
                    .map_err(|e| ApiError::Internal(format!("agreement text: {e}")))?;
                let sealed = seal(&vault, &context(org, case_id, id), &plain).await?;
                let user = tx.actor().user_id.map(|u| u.as_uuid());
                let row: Row = sqlx::query_as(&format!(
                    "INSERT INTO agreements (org_id, id, case_id, kind, status, key_id,
                                             wrapped_key, ciphertext, created_by)
                     VALUES ($1, $2, $3, $4, 'draft', $5, $6, $7, $8) RETURNING {COLUMNS}"
                ))
                .bind(org)
                .bind(id)
                .bind(case_id)
                .bind(kind.as_str())
                .bind(&sealed.key_id)
                .bind(&sealed.wrapped_key)
                .bind(&sealed.ciphertext)
                .bind(user)
                .fetch_one(tx.conn())
                .await
                .map_err(db)?;
                audit::append(tx, "agreement.draft", "agreement", Some(id)).await?;
                view(tx, &vault, row).await
            })
        })
        .await
    }

    /// Replaces a draft's title and text: a new version.
    async fn edit_agreement(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        title: String,
        body: String,
    ) -> async_graphql::Result<AgreementView> {
        let vault = vault_of(rctx(ctx).state()).map_err(super::gql)?;
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let row = visible(tx, id).await?;
                must_mediate(tx, CaseId::from_uuid(row.case_id)).await?;
                if row.status != "draft" {
                    return Err(ApiError::Conflict(
                        "the agreement was sent for signature; its text no longer changes".into(),
                    ));
                }
                let text = Text {
                    title: parse_title(&title)?,
                    body: parse_body(&body)?,
                };
                let org = tx.actor().org_id.as_uuid();
                let plain = serde_json::to_vec(&text)
                    .map_err(|e| ApiError::Internal(format!("agreement text: {e}")))?;
                let sealed = seal(&vault, &context(org, row.case_id, id), &plain).await?;
                let row: Row = sqlx::query_as(&format!(
                    "UPDATE agreements SET version = version + 1, key_id = $2, wrapped_key = $3,
                            ciphertext = $4, updated_at = now()
                     WHERE id = $1 AND status = 'draft' RETURNING {COLUMNS}"
                ))
                .bind(id)
                .bind(&sealed.key_id)
                .bind(&sealed.wrapped_key)
                .bind(&sealed.ciphertext)
                .fetch_optional(tx.conn())
                .await
                .map_err(db)?
                .ok_or_else(|| ApiError::Conflict("the agreement is no longer a draft".into()))?;
                audit::append(tx, "agreement.edit", "agreement", Some(id)).await?;
                view(tx, &vault, row).await
            })
        })
        .await
    }

    /// Sends a draft for signature: its hash is fixed and its text locked.
    async fn send_agreement_for_signature(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> async_graphql::Result<AgreementView> {
        let vault = vault_of(rctx(ctx).state()).map_err(super::gql)?;
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let row = visible(tx, id).await?;
                must_mediate(tx, CaseId::from_uuid(row.case_id)).await?;
                if row.status != "draft" {
                    return Err(ApiError::Conflict(
                        "the agreement was already sent for signature".into(),
                    ));
                }
                let kind = AgreementKind::parse(&row.kind)?;
                let case = cases::get(tx, CaseId::from_uuid(row.case_id))
                    .await
                    .map_err(not_found("case"))?;
                let parties = cases::parties(tx, case.id).await?;
                if !parties.iter().any(|p| kind.signs(p)) {
                    return Err(ApiError::Conflict(
                        "nobody on the case signs this agreement yet; add the parties first".into(),
                    ));
                }
                // The file the signatories read and sign, printed once and
                // stored in the vault's object store; the row is updated only
                // once the object is there, and the object does not outlive
                // a row that failed to change.
                let org = tx.actor().org_id;
                let pdf = printable(tx, &vault, &row, &case, false).await?.pdf();
                let hash = Sha256::digest(&pdf);
                let object_key = pdf_object_key(org, id);
                let stored = vault
                    .put(&object_key, &context(org.as_uuid(), row.case_id, id), &pdf)
                    .await
                    .map_err(vault_error)?;
                let updated: Result<Option<Row>, ApiError> = sqlx::query_as(&format!(
                    "UPDATE agreements SET status = 'signing', content_sha256 = $2,
                            pdf_key_id = $3, pdf_wrapped_key = $4, pdf_object_key = $5,
                            pdf_size = $6, sent_at = now(), updated_at = now()
                     WHERE id = $1 AND status = 'draft' RETURNING {COLUMNS}"
                ))
                .bind(id)
                .bind(hash.as_slice())
                .bind(&stored.wrapped.key_id)
                .bind(&stored.wrapped.ciphertext)
                .bind(&object_key)
                .bind(stored.plain_len as i64)
                .fetch_optional(tx.conn())
                .await
                .map_err(db);
                let row = match updated {
                    Ok(Some(row)) => row,
                    failed => {
                        if let Err(e) = vault.delete(&object_key).await {
                            tracing::error!(error = %e, agreement = %id, "could not delete an unrecorded agreement PDF; `accord vault verify` reports it");
                        }
                        return Err(match failed {
                            Err(e) => e,
                            Ok(_) => ApiError::Conflict("the agreement is no longer a draft".into()),
                        });
                    }
                };
                audit::append(tx, "agreement.send", "agreement", Some(id)).await?;
                view(tx, &vault, row).await
            })
        })
        .await
    }

    /// Signs an agreement with the signatory's registered device; the last
    /// signature locks it.
    async fn sign_agreement(
        &self,
        ctx: &Context<'_>,
        input: SignAgreementInput,
    ) -> async_graphql::Result<AgreementView> {
        let vault = vault_of(rctx(ctx).state()).map_err(super::gql)?;
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let id = input.agreement_id;
                let row = visible(tx, id).await?;
                let kind = AgreementKind::parse(&row.kind)?;
                let me = tx
                    .actor()
                    .user_id
                    .ok_or_else(|| ApiError::Unauthenticated("sign in first".into()))?;
                let parties = cases::parties(tx, CaseId::from_uuid(row.case_id)).await?;
                let party = parties
                    .iter()
                    .find(|p| p.user_id == Some(me) && kind.signs(p))
                    .cloned()
                    .ok_or_else(|| {
                        ApiError::Forbidden("you are not a signatory of this agreement".into())
                    })?;
                match row.status.as_str() {
                    "draft" => {
                        return Err(ApiError::Conflict(
                            "the agreement has not been sent for signature".into(),
                        ))
                    }
                    "signed" => {
                        return Err(ApiError::Conflict(
                            "the agreement is signed by everyone and locked".into(),
                        ))
                    }
                    _ => {}
                }
                let stored = row
                    .content_sha256
                    .clone()
                    .ok_or_else(|| ApiError::Internal("a sent agreement has no hash".into()))?;
                let stored_hex = hex(&stored);
                if !input.content_sha256.eq_ignore_ascii_case(&stored_hex) {
                    return Err(ApiError::Conflict(
                        "the file you signed is not the one sent for signature; reload it".into(),
                    ));
                }
                let typed_name = parse_typed_name(&input.typed_name)?;
                let signed_at = DateTime::parse_from_rfc3339(&input.signed_at)
                    .map_err(|_| ApiError::bad_input("signedAt", "give the time in RFC 3339"))?
                    .with_timezone(&Utc);
                if input.signed_at.len() > 64 || (Utc::now() - signed_at).abs() > SIGNING_LEEWAY
                {
                    return Err(ApiError::bad_input(
                        "signedAt",
                        "the signature's time is not now; check this device's clock and sign again",
                    ));
                }
                let device = DeviceKey::from_jwk(&input.public_key.0)
                    .map_err(|e| ApiError::bad_input("publicKey", e.to_string()))?;
                let registered: Option<(Uuid, String)> = sqlx::query_as(
                    "SELECT id, jkt FROM devices WHERE party_id = $1 AND revoked_at IS NULL",
                )
                .bind(party.id.as_uuid())
                .fetch_optional(tx.conn())
                .await
                .map_err(db)?;
                let (device_id, jkt) = registered.ok_or_else(|| {
                    ApiError::Conflict(
                        "no device is registered for you on this case; open your invite link on this device first"
                            .into(),
                    )
                })?;
                let same: bool =
                    subtle::ConstantTimeEq::ct_eq(jkt.as_bytes(), device.thumbprint().as_bytes())
                        .into();
                if !same {
                    return Err(ApiError::Forbidden(
                        "this key is not your registered device's".into(),
                    ));
                }
                let signature = B64
                    .decode(input.signature.trim())
                    .ok()
                    .filter(|s| s.len() == 64)
                    .ok_or_else(|| {
                        ApiError::bad_input("signature", "send the raw r‖s signature, base64url")
                    })?;
                let message = statement(
                    id,
                    &stored_hex,
                    party.id.as_uuid(),
                    &typed_name,
                    &input.signed_at,
                );
                if !device.verifies(message.as_bytes(), &signature) {
                    return Err(ApiError::bad_input(
                        "signature",
                        "the signature does not verify for this agreement, name and time",
                    ));
                }
                let org = tx.actor().org_id.as_uuid();
                sqlx::query(
                    "INSERT INTO agreement_signatures
                         (org_id, id, agreement_id, case_id, party_id, user_id, device_id,
                          device_jkt, public_key, content_sha256, typed_name, signed_at_text,
                          signed_at, signature)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .bind(org)
                .bind(Uuid::now_v7())
                .bind(id)
                .bind(row.case_id)
                .bind(party.id.as_uuid())
                .bind(me.as_uuid())
                .bind(device_id)
                .bind(&jkt)
                .bind(sqlx::types::Json(&input.public_key.0))
                .bind(&stored)
                .bind(&typed_name)
                .bind(&input.signed_at)
                .bind(signed_at)
                .bind(&signature)
                .execute(tx.conn())
                .await
                .map_err(|e| match db(e) {
                    ApiError::Conflict(_) => {
                        ApiError::Conflict("you have already signed this agreement".into())
                    }
                    other => other,
                })?;
                audit::append(tx, "agreement.sign", "agreement", Some(id)).await?;
                let signed = signatures(tx, id).await?;
                let complete = parties
                    .iter()
                    .filter(|p| kind.signs(p))
                    .all(|p| signed.iter().any(|s| s.party_id == p.id.as_uuid()));
                if complete {
                    sqlx::query(
                        "UPDATE agreements SET status = 'signed', signed_at = now(),
                                updated_at = now()
                         WHERE id = $1 AND status = 'signing'",
                    )
                    .bind(id)
                    .execute(tx.conn())
                    .await
                    .map_err(db)?;
                    audit::append(tx, "agreement.complete", "agreement", Some(id)).await?;
                }
                let row = load(tx, id).await?;
                view(tx, &vault, row).await
            })
        })
        .await
    }
}

/// What `accord agreement verify` found.
#[derive(Debug)]
pub struct VerifyReport {
    /// The agreement.
    pub id: Uuid,
    /// Where it stands.
    pub status: String,
    /// The SHA-256 of the stored PDF, when it decrypted.
    pub recomputed_sha256: Option<String>,
    /// One line per check that passed (which signatory and device signed).
    pub good: Vec<String>,
    /// One line per problem.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether every check passed.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl std::fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "agreement {} ({})", self.id, self.status)?;
        if let Some(h) = &self.recomputed_sha256 {
            writeln!(f, "sha256 of the stored text: {h}")?;
        }
        for g in &self.good {
            writeln!(f, "ok: {g}")?;
        }
        for p in &self.problems {
            writeln!(f, "PROBLEM: {p}")?;
        }
        writeln!(
            f,
            "{} check(s) passed, {} problem(s)",
            self.good.len(),
            self.problems.len()
        )
    }
}

/// Checks agreement `id` of `org` from what is stored: the PDF sent for
/// signature decrypts, its SHA-256 is the one sent for signature, it carries
/// the stored title and text, and each signature is by the named person's
/// registered device over that hash, their typed name and time; a signed
/// agreement has every signatory's signature. Any changed byte (file, text,
/// hash, name, time, key, signature) is a problem.
pub async fn verify(
    db: &Db,
    vault: &Vault,
    org: OrgId,
    id: Uuid,
) -> Result<VerifyReport, ApiError> {
    let mut tx = accord_db::documents::system_tx(db, org).await?;
    let row = load(&mut tx, id).await?;
    let sigs = signatures(&mut tx, id).await?;
    let parties = cases::parties(&mut tx, CaseId::from_uuid(row.case_id)).await?;
    let devices: Vec<(Uuid, Uuid, String)> =
        sqlx::query_as("SELECT id, party_id, jkt FROM devices WHERE case_id = $1")
            .bind(row.case_id)
            .fetch_all(tx.conn())
            .await
            .map_err(db_err)?;
    drop(tx);
    let mut report = VerifyReport {
        id,
        status: row.status.clone(),
        recomputed_sha256: None,
        good: Vec::new(),
        problems: Vec::new(),
    };
    let kind = AgreementKind::parse(&row.kind)?;
    if row.status == "draft" {
        report
            .problems
            .push("the agreement is a draft: nothing was sent for signature".into());
        return Ok(report);
    }
    let unavailable = |detail| ApiError::Unavailable {
        retry_after: 5,
        detail,
    };
    let pdf = match pdf_of(vault, org.as_uuid(), &row).await {
        Ok(p) => Some(p),
        Err(ApiError::Unavailable { detail, .. }) => return Err(unavailable(detail)),
        Err(ApiError::NotFound(_)) => {
            report
                .problems
                .push("no PDF was stored when it was sent for signature".into());
            None
        }
        Err(_) => {
            report
                .problems
                .push("the stored PDF does not decrypt: it was changed or its key is gone".into());
            None
        }
    };
    match text_of(vault, org.as_uuid(), &row).await {
        Ok(t) => {
            if let Some(pdf) = &pdf {
                // The title prints on one line unless it wraps; the text's
                // lines each begin a printed line.
                // Compared in ASCII: a character the PDF's fonts lack prints as `?`.
                let ascii = |t: &str| -> String {
                    t.chars()
                        .map(|c| if c.is_ascii() { c } else { '?' })
                        .collect()
                };
                let printed = ascii(&crate::pdf::extract_text(pdf).join("\n"));
                let first_words =
                    |l: &str| ascii(&l.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
                let missing = std::iter::once(t.title.as_str())
                    .chain(t.body.lines())
                    .map(|l| first_words(&l.replace("**", "").replace("__", "")))
                    .find(|w| !w.is_empty() && !printed.contains(w.as_str()));
                match missing {
                    None => report.good.push("the PDF carries the stored text".into()),
                    Some(w) => report.problems.push(format!(
                        "the PDF does not carry the stored text (\"{w}\" is missing)"
                    )),
                }
            }
        }
        Err(ApiError::Unavailable { detail, .. }) => return Err(unavailable(detail)),
        Err(_) => report
            .problems
            .push("the stored text does not decrypt: it was changed or its key is gone".into()),
    }
    let recomputed = pdf.as_ref().map(|p| hex(&Sha256::digest(p)));
    report.recomputed_sha256.clone_from(&recomputed);
    match (&recomputed, row.content_sha256.as_deref().map(hex)) {
        (Some(r), Some(s)) if *r == s => report.good.push(format!(
            "the PDF's SHA-256 is the one sent for signature ({s})"
        )),
        (Some(r), Some(s)) => report.problems.push(format!(
            "the PDF's SHA-256 {r} is not the one sent for signature {s}"
        )),
        _ => {}
    }
    // Every signature is checked against the hash of the PDF as stored, so a
    // changed file fails every signature, whatever the stored hash says.
    let basis = recomputed.unwrap_or_default();
    for s in &sigs {
        let who = parties
            .iter()
            .find(|p| p.id.as_uuid() == s.party_id)
            .map(|p| p.display_name.as_str().to_owned())
            .unwrap_or_else(|| format!("party {}", s.party_id));
        let key = match DeviceKey::from_jwk(&s.public_key.0) {
            Ok(k) => k,
            Err(e) => {
                report
                    .problems
                    .push(format!("{who}: the stored public key is unusable: {e}"));
                continue;
            }
        };
        let registered = devices
            .iter()
            .find(|d| d.0 == s.device_id)
            .filter(|d| d.1 == s.party_id && d.2 == s.device_jkt);
        if registered.is_none() {
            report.problems.push(format!(
                "{who}: device {} is not a registration of this person with thumbprint {}",
                s.device_id, s.device_jkt
            ));
            continue;
        }
        if key.thumbprint() != s.device_jkt {
            report.problems.push(format!(
                "{who}: the stored public key is not device {}'s",
                s.device_id
            ));
            continue;
        }
        if hex(&s.content_sha256) != basis {
            report
                .problems
                .push(format!("{who}: signed a hash that is not the stored PDF's"));
            continue;
        }
        let message = statement(id, &basis, s.party_id, &s.typed_name, &s.signed_at_text);
        if key.verifies(message.as_bytes(), &s.signature) {
            report.good.push(format!(
                "{who} signed as \"{}\" at {} with device {} ({})",
                s.typed_name, s.signed_at_text, s.device_id, s.device_jkt
            ));
        } else {
            report
                .problems
                .push(format!("{who}: the signature does not verify"));
        }
    }
    if row.status == "signed" {
        for p in parties.iter().filter(|p| kind.signs(p)) {
            if !sigs.iter().any(|s| s.party_id == p.id.as_uuid()) {
                report.problems.push(format!(
                    "{}: marked signed, but this signatory's signature is missing",
                    p.display_name.as_str()
                ));
            }
        }
    }
    Ok(report)
}

fn db_err(e: sqlx::Error) -> ApiError {
    db(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_names_every_part_on_its_own_line() {
        let a = Uuid::nil();
        let s = statement(a, "ab", a, "Ann Lee", "2026-12-06T10:00:00.000Z");
        assert_eq!(
            s,
            "accord-agreement-signature-v1\nagreement: 00000000-0000-0000-0000-000000000000\nsha256: ab\nparty: 00000000-0000-0000-0000-000000000000\nname: Ann Lee\nsigned-at: 2026-12-06T10:00:00.000Z"
        );
    }

    #[test]
    fn texts_are_normalised_and_names_are_one_line() {
        assert_eq!(parse_body("a\r\nb\r\n\n  ").unwrap(), "a\nb");
        assert!(parse_body(" \n ").is_err());
        assert!(parse_title("two\nlines").is_err());
        assert!(parse_typed_name("Ann\nLee").is_err());
        assert_eq!(parse_typed_name("  Ann Lee ").unwrap(), "Ann Lee");
    }

    #[test]
    fn hashes_print_in_lower_case_hex() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}

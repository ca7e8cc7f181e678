//! `GET /cases/{id}/compliance-export`: a case's record as one JSON file an
//! org admin can hand to a regulator or an auditor.
//!
//! It holds what happened and who did it, never what was said: the case and
//! its status, the people on it (name and role on the case), its sessions
//! with the times they were actually held, every audit event on the case
//! and its objects with the chain hashes (checkable against the org's
//! hash-chained log), conflict-of-interest overrides (who, when and the
//! kinds of conflict), documents as metadata (type, size, scan result,
//! SHA-256, uploader, times; those the org admin may see: a person's private
//! document for the mediator stays out, as it does from the admin's
//! screens), agreements with their signature records (the
//! SHA-256 signed, each signatory's device, public key, signature and time;
//! what `accord agreement verify` checks) and invoices and credit notes with
//! their shares.
//!
//! Content stays out unless the admin asks for it with `?content=true`:
//! the case title, document file names, the written override reasons and
//! the names signatories typed.
//! Either way the export is audited (`case.compliance_export` or
//! `case.compliance_export_content`), naming only the case.

use std::collections::BTreeMap;

use accord_db::{audit, cases, compliance, conflicts, documents, fees, invoices, orgs, sessions};
use accord_domain::invoice::invoice_number_label;
use accord_domain::{Action, CaseId, Role};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::graphql::types::not_found;
use crate::{web, ApiError, AppState};

/// The export's format name, first in the file.
pub(crate) const FORMAT: &str = "accord.case-compliance-export/1";

/// What the admin asks for.
#[derive(Debug, Deserialize)]
pub(crate) struct Params {
    /// Include content (title, file names, override reasons).
    #[serde(default)]
    content: bool,
}

/// `GET /cases/{id}/compliance-export`
pub(crate) async fn download(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    let rid = web::request_id(&headers);
    match export(&state, &headers, &id, params.content, rid.clone()).await {
        Ok((reference, body)) => (
            StatusCode::OK,
            [
                (
                    header::CONTENT_TYPE,
                    "application/json; charset=utf-8".to_owned(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{reference}-compliance-export.json\""),
                ),
                (header::CACHE_CONTROL, "private, no-store".to_owned()),
            ],
            body,
        )
            .into_response(),
        Err(e) => e.into_response_with(rid.as_deref()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn export(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    with_content: bool,
    rid: Option<String>,
) -> Result<(String, Vec<u8>), ApiError> {
    let signed_in = web::lookup_session(state, headers)
        .await?
        .ok_or_else(|| ApiError::Unauthenticated("sign in first".into()))?;
    let case_id: CaseId = id.parse().map_err(|_| ApiError::NotFound("case"))?;
    let mut tx = state
        .db()
        .tenant(signed_in.session.org_id, signed_in.session.user_id, rid)
        .await?;
    crate::graphql::authorize(&mut tx, Action::ViewCase, Some(case_id)).await?;
    if tx.actor().role != Role::OrgAdmin {
        return Err(ApiError::Forbidden(
            "only org admins export a case's compliance record".into(),
        ));
    }
    let case = cases::get(&mut tx, case_id)
        .await
        .map_err(not_found("case"))?;
    let org = orgs::current(&mut tx).await?;

    let people: Vec<Value> = cases::parties(&mut tx, case_id)
        .await?
        .into_iter()
        .map(|p| {
            json!({
                "partyId": p.id.as_uuid(),
                "kind": p.kind.as_str(),
                "name": p.display_name.as_str(),
                "userId": p.user_id.map(|u| u.as_uuid()),
            })
        })
        .collect();

    let held: BTreeMap<_, _> = fees::held_sessions(&mut tx, case_id)
        .await?
        .into_iter()
        .map(|h| (h.session_id, h))
        .collect();
    let session_list: Vec<Value> = sessions::list(
        &mut tx,
        accord_db::cases::Visibility::All,
        Some(case_id),
        None,
        None,
    )
    .await?
    .into_iter()
    .map(|s| {
        let h = held.get(&s.id);
        json!({
            "sessionId": s.id.as_uuid(),
            "status": s.status.as_str(),
            "scheduledStart": s.schedule.starts_at(),
            "scheduledEnd": s.schedule.ends_at(),
            "heldFrom": h.map(|h| h.started_at),
            "heldUntil": h.map(|h| h.ended_at),
            "minutesHeld": h.map(|h| h.minutes),
        })
    })
    .collect();

    let events: Vec<Value> = compliance::case_events(&mut tx, case_id)
        .await?
        .into_iter()
        .map(|e| {
            json!({
                "seq": e.seq,
                "id": e.id,
                "occurredAt": e.occurred_at,
                "actorUserId": e.actor_user_id,
                "action": e.action,
                "targetType": e.target_type,
                "targetId": e.target_id,
                "prevHash": hex(&e.prev_hash),
                "hash": hex(&e.hash),
            })
        })
        .collect();

    let overrides: Vec<Value> = conflicts::overrides(&mut tx, case_id)
        .await?
        .into_iter()
        .map(|o| {
            let mut kinds: Vec<String> = o
                .conflicts
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c.get("reason").and_then(Value::as_str))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            kinds.sort();
            kinds.dedup();
            let mut v = json!({
                "overrideId": o.id,
                "mediatorId": o.mediator_id.as_uuid(),
                "overriddenBy": o.overridden_by.as_uuid(),
                "at": o.created_at,
                "conflictKinds": kinds,
            });
            if with_content {
                v["reason"] = Value::String(o.reason);
            }
            v
        })
        .collect();

    let mut docs: Vec<Value> = Vec::new();
    for d in documents::list(&mut tx, case_id).await? {
        let versions: Vec<Value> = documents::versions(&mut tx, d.id)
            .await?
            .into_iter()
            .map(|v| {
                let mut out = json!({
                    "versionId": v.id,
                    "number": v.number,
                    "mediaType": v.media_type,
                    "sizeBytes": v.size_bytes,
                    "scan": v.scan_state.as_str(),
                    "sha256": v.sha256.as_deref().map(crate::graphql::agreements::hex),
                    "uploadedBy": v.uploaded_by.as_uuid(),
                    "at": v.created_at,
                });
                if with_content {
                    out["fileName"] = Value::String(v.filename);
                }
                out
            })
            .collect();
        docs.push(json!({
            "documentId": d.id,
            "createdBy": d.created_by.as_uuid(),
            "createdAt": d.created_at,
            "versions": versions,
        }));
    }

    let agreements =
        crate::graphql::agreements::compliance_records(&mut tx, case_id, with_content).await?;

    let bills: Vec<Value> = invoices::for_case(&mut tx, case_id)
        .await?
        .into_iter()
        .map(|i| {
            let credit = i.kind == invoices::InvoiceKind::CreditNote;
            json!({
                "invoiceId": i.id,
                "kind": i.kind.as_str(),
                "number": i.number.map(|n| invoice_number_label(n, credit)),
                "creditsInvoiceId": i.credits_invoice_id,
                "status": i.status.as_str(),
                "currency": i.currency.as_str(),
                "totalMinor": i.total,
                "issuedAt": i.issued_at,
                "paidAt": i.paid_at,
                "voidedAt": i.voided_at,
                "shares": i.shares.iter().map(|s| json!({
                    "partyId": s.party_id.as_uuid(),
                    "basisPoints": s.basis_points,
                    "amountMinor": s.amount,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();

    let mut case_json = json!({
        "caseId": case.id.as_uuid(),
        "reference": case.reference.as_str(),
        "status": case.status.as_str(),
        "mediatorId": case.mediator_id.map(|m| m.as_uuid()),
        "createdBy": case.created_by.as_uuid(),
        "createdAt": case.created_at,
    });
    if with_content {
        case_json["title"] = Value::String(case.title.as_str().to_owned());
    }
    let action = if with_content {
        "case.compliance_export_content"
    } else {
        "case.compliance_export"
    };
    audit::append(&mut tx, action, "case", Some(case.id.as_uuid())).await?;
    let body = json!({
        "format": FORMAT,
        "generatedAt": Utc::now(),
        "organization": { "orgId": org.id.as_uuid(), "name": org.name.as_str() },
        "includesContent": with_content,
        "case": case_json,
        "people": people,
        "sessions": session_list,
        "conflictOverrides": overrides,
        "documents": docs,
        "agreements": agreements,
        "invoices": bills,
        "auditEvents": events,
    });
    let bytes = serde_json::to_vec_pretty(&body)
        .map_err(|e| ApiError::Internal(format!("compliance export as JSON: {e}")))?;
    tx.commit().await?;
    Ok((case.reference.as_str().to_owned(), bytes))
}

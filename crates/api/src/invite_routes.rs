//! `POST /auth/invite/redeem`: an invite link opened in the client portal.
//!
//! The browser sends the link's token (from the URL fragment, which never
//! reaches a server log) and the public half of the non-extractable P-256 key
//! it just made. In one transaction the data layer checks the link, registers
//! the key's RFC 7638 thumbprint as the person's device, spends the link and
//! starts a web session (`accord_db::invitations::redeem`). The answer carries
//! the session cookie and its CSRF token, like a password sign-in.
//!
//! A link that cannot be used answers with the usual error body plus a
//! `reason` the portal turns into a page: `INVALID` (404), `EXPIRED`,
//! `REPLACED`, `SPENT` (409), `OTHER_DEVICE` (403). The route sits with the
//! other link routes behind the per-client rate limit, accepts JSON only (so a
//! cross-site form cannot redeem a link into a victim's browser), and never
//! says whose link it was.

use accord_auth::join::DeviceKey;
use accord_auth::token;
use accord_db::auth::{self as auth_db};
use accord_db::invitations::{self, NewWebSession, RedeemError};
use accord_db::lookup;
use accord_domain::OrgSlug;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use crate::web::{self, Cookie};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RedeemRequest {
    token: String,
    device_key: serde_json::Value,
    org: Option<String>,
}

/// What the portal says when a link cannot be used: always the same advice.
const ASK_AGAIN: &str = "ask your mediator to send you a new invitation";

fn refused(error: RedeemError, request_id: Option<&str>) -> Response {
    let (status, code, reason, message) = match error {
        RedeemError::Unknown => (
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "INVALID",
            format!("this invitation link is not valid: {ASK_AGAIN}"),
        ),
        RedeemError::Expired => (
            StatusCode::CONFLICT,
            "CONFLICT",
            "EXPIRED",
            format!("this invitation link has expired: {ASK_AGAIN}"),
        ),
        RedeemError::Replaced => (
            StatusCode::CONFLICT,
            "CONFLICT",
            "REPLACED",
            format!("a newer invitation replaced this link: use the newest one, or {ASK_AGAIN}"),
        ),
        RedeemError::Spent => (
            StatusCode::CONFLICT,
            "CONFLICT",
            "SPENT",
            format!("this invitation link has already been used: {ASK_AGAIN}"),
        ),
        RedeemError::OtherDevice => (
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "OTHER_DEVICE",
            format!(
                "your invitation is registered on another device: join from that device, or {ASK_AGAIN}"
            ),
        ),
        RedeemError::Db(db) => return ApiError::from(db).into_response_with(request_id),
    };
    let body = json!({ "error": { "code": code, "reason": reason, "message": message } });
    (status, Json(body)).into_response()
}

/// `POST /auth/invite/redeem`
pub(crate) async fn redeem(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let rid = web::request_id(&headers);
    if !web::is_json(&headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let req: RedeemRequest = serde_json::from_slice(&body).map_err(|e| ApiError::BadUserInput {
        field: None,
        message: format!(
            "send {{\"token\": \"…\", \"deviceKey\": {{P-256 public JWK}}}} as JSON: {e}"
        ),
    })?;
    let device_key = DeviceKey::from_jwk(&req.device_key)
        .map_err(|e| ApiError::bad_input("deviceKey", e.to_string()))?;
    // Tokens are 43 base64url characters; anything else cannot be one, and is
    // refused like an unknown link without touching the database.
    if req.token.len() != 43
        || !req
            .token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Ok(refused(RedeemError::Unknown, rid.as_deref()));
    }
    let org = match req.org.as_deref() {
        None | Some("") => None,
        Some(slug) => {
            let slug = OrgSlug::parse(slug)?;
            match lookup::org_by_slug(state.db(), &slug).await? {
                Some(org) => Some(org),
                None => return Ok(refused(RedeemError::Unknown, rid.as_deref())),
            }
        }
    };
    let ttl = state.config().session_ttl;
    let session_token = token::new_token();
    let session_hash = token::hash_token(&session_token);
    let expires_at =
        Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(1));
    let redeemed = match invitations::redeem(
        state.db(),
        &req.token,
        device_key.thumbprint(),
        org,
        NewWebSession {
            token_hash: &session_hash,
            expires_at,
        },
        rid.clone(),
    )
    .await
    {
        Ok(redeemed) => redeemed,
        Err(error) => return Ok(refused(error, rid.as_deref())),
    };
    // The role this org gives the account (a party, unless the person was
    // already a member with another role).
    let mut utx = state.db().user(redeemed.user_id).await?;
    let role = auth_db::memberships(&mut utx)
        .await?
        .into_iter()
        .find(|(org, _)| *org == redeemed.org_id)
        .map(|(_, role)| role.as_str());
    utx.commit().await?;
    let body = json!({
        "csrfToken": token::csrf_token(&session_token),
        "userId": redeemed.user_id,
        "orgId": redeemed.org_id,
        "role": role,
        "expiresAt": expires_at,
        "caseId": redeemed.case_id,
        "partyId": redeemed.party_id,
        "deviceThumbprint": device_key.thumbprint(),
    });
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        Cookie::Session.set(state.config().secure_cookies, &session_token, ttl.as_secs()),
    );
    Ok(response)
}

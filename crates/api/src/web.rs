//! Web sessions on the wire: the cookie, the CSRF header, the request id, and
//! the extractor that turns a cookie into a signed-in viewer.

use accord_auth::token;
use accord_db::auth::WebSession;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};

use crate::{ApiError, AppState};

/// Header carrying the CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session cookie's name: `__Host-` binds it to this exact origin over HTTPS.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-accord_session"
    } else {
        "accord_session"
    }
}

/// `Set-Cookie` for a new session.
pub fn session_cookie(secure: bool, token: &str, max_age_seconds: u64) -> HeaderValue {
    let secure_attr = if secure { "; Secure" } else { "" };
    let value = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_seconds}{secure_attr}",
        cookie_name(secure)
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    let secure_attr = if secure { "; Secure" } else { "" };
    let value = format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure_attr}",
        cookie_name(secure)
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The name of the cookie that ties an OIDC callback to the browser that started it.
fn oidc_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-accord_oidc"
    } else {
        "accord_oidc"
    }
}

/// `Set-Cookie` for the OIDC browser binding (`max_age_seconds` 0 removes it).
pub fn oidc_binding_cookie(secure: bool, value: &str, max_age_seconds: u64) -> HeaderValue {
    let secure_attr = if secure { "; Secure" } else { "" };
    let value = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_seconds}{secure_attr}",
        oidc_cookie_name(secure)
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The OIDC browser binding from the request's cookies, if any.
pub fn oidc_binding(headers: &HeaderMap, secure: bool) -> Option<String> {
    cookie(headers, oidc_cookie_name(secure))
}

/// The session token from the request's cookies, if any.
pub fn session_token(headers: &HeaderMap, secure: bool) -> Option<String> {
    cookie(headers, cookie_name(secure))
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// The request id set by the request-id layer.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(128).collect())
}

/// A request with a live web session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The session's row.
    pub session: WebSession,
    /// The raw token (to derive the CSRF token).
    pub token: String,
    /// The request id.
    pub request_id: Option<String>,
}

impl SignedIn {
    /// Fails unless the request carries this session's CSRF token.
    pub fn check_csrf(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let presented = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if token::csrf_matches(&self.token, presented) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "missing or wrong CSRF token: send the x-csrf-token header you got at sign-in"
                    .into(),
            ))
        }
    }
}

/// Resolves the session cookie to a live session; `None` when there is no
/// cookie or it is expired, revoked or unknown.
pub async fn lookup_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<SignedIn>, ApiError> {
    let Some(token) = session_token(headers, state.config().secure_cookies) else {
        return Ok(None);
    };
    let session = accord_db::auth::live_web_session(state.db(), &token::hash_token(&token)).await?;
    Ok(session.map(|session| SignedIn {
        session,
        token,
        request_id: request_id(headers),
    }))
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = axum::response::Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let rid = request_id(&parts.headers);
        match lookup_session(state, &parts.headers).await {
            Ok(Some(signed_in)) => Ok(signed_in),
            Ok(None) => Err(ApiError::Unauthenticated("sign in first".into())
                .into_response_with(rid.as_deref())),
            Err(e) => Err(e.into_response_with(rid.as_deref())),
        }
    }
}

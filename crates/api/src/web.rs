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

/// The cookies Accord sets. Both are HttpOnly and SameSite=Lax; over https
/// they are `Secure` and `__Host-` prefixed, which binds them to this exact
/// origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cookie {
    /// The web session.
    Session,
    /// Ties an OIDC callback to the browser that started the login.
    OidcBinding,
}

impl Cookie {
    /// The cookie's name.
    pub fn name(self, secure: bool) -> &'static str {
        match (self, secure) {
            (Cookie::Session, true) => "__Host-accord_session",
            (Cookie::Session, false) => "accord_session",
            (Cookie::OidcBinding, true) => "__Host-accord_oidc",
            (Cookie::OidcBinding, false) => "accord_oidc",
        }
    }

    /// `Set-Cookie` with `value` for `max_age_seconds` (an empty value and 0 remove it).
    pub fn set(self, secure: bool, value: &str, max_age_seconds: u64) -> HeaderValue {
        let secure_attr = if secure { "; Secure" } else { "" };
        let header = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_seconds}{secure_attr}",
            self.name(secure)
        );
        HeaderValue::from_str(&header).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// `Set-Cookie` that removes the cookie.
    pub fn clear(self, secure: bool) -> HeaderValue {
        self.set(secure, "", 0)
    }

    /// The cookie's value in the request, if present and of a sane length.
    pub fn read(self, headers: &HeaderMap, secure: bool) -> Option<String> {
        let name = self.name(secure);
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
}

/// Whether the request says its body is JSON. A cross-site HTML form cannot
/// send `application/json`, so requiring it shuts out form-based CSRF.
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
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
    let Some(token) = Cookie::Session.read(headers, state.config().secure_cookies) else {
        return Ok(None);
    };
    let session = accord_db::auth::live_web_session(state.db(), &token::hash_token(&token)).await?;
    Ok(session.map(|session| SignedIn {
        session,
        token,
        request_id: request_id(headers),
    }))
}

/// [`lookup_session`] that also begins the request's tenant transaction: the
/// session, the role and the tenant settings in one statement right after
/// `BEGIN`, on the connection the request then uses (instead of a lookup on
/// a connection of its own and the role read afterwards). For `/graphql`,
/// where nearly every request reads the org's data. The transaction is `None` when the account is no longer a member of
/// the session's org.
pub async fn lookup_session_with_tx(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(SignedIn, Option<accord_db::TenantTx>)>, ApiError> {
    let Some(token) = Cookie::Session.read(headers, state.config().secure_cookies) else {
        return Ok(None);
    };
    let request_id = request_id(headers);
    let found = state
        .db()
        .web_session_tenant(&token::hash_token(&token), request_id.clone())
        .await?;
    Ok(found.map(|(session, tx)| {
        (
            SignedIn {
                session,
                token,
                request_id,
            },
            tx,
        )
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

/// A private file to download (`Content-Disposition: attachment`, never
/// cached), or the error as the API answers errors.
pub(crate) fn download(
    result: Result<(String, Vec<u8>), ApiError>,
    content_type: &'static str,
    request_id: Option<&str>,
) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse as _;
    match result {
        Ok((file_name, bytes)) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, content_type.to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{file_name}\""),
                ),
                (header::CACHE_CONTROL, "private, no-store".to_owned()),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => e.into_response_with(request_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_http_only_lax_and_host_bound_over_https() {
        let https = Cookie::Session.set(true, "tok", 60);
        assert_eq!(
            https,
            "__Host-accord_session=tok; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        let http = Cookie::OidcBinding.set(false, "b", 600);
        assert_eq!(
            http,
            "accord_oidc=b; Path=/; HttpOnly; SameSite=Lax; Max-Age=600"
        );
        assert_eq!(
            Cookie::Session.clear(true),
            "__Host-accord_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure"
        );
    }

    #[test]
    fn reading_finds_only_the_named_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_static("accord_sessionx=no; accord_session=yes; accord_oidc="),
        );
        assert_eq!(
            Cookie::Session.read(&headers, false).as_deref(),
            Some("yes")
        );
        assert_eq!(
            Cookie::Session.read(&headers, true),
            None,
            "the https name differs"
        );
        assert_eq!(
            Cookie::OidcBinding.read(&headers, false),
            None,
            "empty is absent"
        );
    }
}

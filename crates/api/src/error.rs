//! One mapping from every failure to what a client sees.
//!
//! Clients get a stable code (GraphQL `extensions.code`, or the REST body's
//! `error.code`) and a message meant for a person. Internal failures are logged
//! with the request id and shown only as "internal error" plus that id. An object
//! of another org is `NOT_FOUND`, exactly like one that does not exist.

use accord_db::DbError;
use async_graphql::ErrorExtensions as _;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No valid web session, or the session's membership is gone.
    #[error("{0}")]
    Unauthenticated(String),
    /// Signed in, but the role may not do this (or a CSRF check failed).
    #[error("{0}")]
    Forbidden(String),
    /// No such object in this org.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The input is malformed or breaks a rule; `field` names the input.
    #[error("{message}")]
    BadUserInput {
        /// The input field at fault, when there is one.
        field: Option<String>,
        /// What is wrong, for a person.
        message: String,
    },
    /// The body is not JSON.
    #[error("send this request as JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// The request collides with the current state.
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts; try again after the given number of seconds.
    #[error("too many attempts; try again in {retry_after} seconds")]
    RateLimited {
        /// Seconds until a retry may succeed.
        retry_after: u64,
    },
    /// A server Accord depends on (the database) could not be reached or
    /// dropped the connection; nothing of the request was kept, and the same
    /// request may be sent again after `retry_after` seconds. The detail is
    /// logged, never sent.
    #[error("the service is briefly unavailable; try again in {retry_after} seconds")]
    Unavailable {
        /// Seconds after which a retry is likely to succeed.
        retry_after: u64,
        /// What failed, for the log.
        detail: String,
    },
    /// Anything unexpected. The detail is logged, never sent.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The stable code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated(_) => "UNAUTHENTICATED",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::BadUserInput { .. } | ApiError::UnsupportedMediaType => "BAD_USER_INPUT",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::RateLimited { .. } => "RATE_LIMITED",
            ApiError::Unavailable { .. } => "UNAVAILABLE",
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    /// The HTTP status a REST answer (or a whole failed GraphQL request) carries.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadUserInput { .. } => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A bad-input error about one field.
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadUserInput {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// The message shown to the client; internal errors carry only the request id.
    pub fn client_message(&self, request_id: Option<&str>) -> String {
        match self {
            ApiError::Internal(detail) => {
                // The reference ties the client's report to the log line; the
                // detail itself never leaves the server.
                let reference = request_id
                    .map(str::to_owned)
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                tracing::error!(reference = %reference, error = %detail, "internal error");
                format!("internal error (reference {reference})")
            }
            ApiError::Unavailable { detail, .. } => {
                tracing::warn!(request_id = request_id.unwrap_or(""), error = %detail, "unavailable");
                self.to_string()
            }
            other => other.to_string(),
        }
    }

    /// As a GraphQL error with `extensions.code` (and `field`, `retryAfter` when known).
    pub fn into_graphql(self, request_id: Option<&str>) -> async_graphql::Error {
        let message = self.client_message(request_id);
        let code = self.code();
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", code);
            match &self {
                ApiError::BadUserInput {
                    field: Some(field), ..
                } => ext.set("field", field.as_str()),
                ApiError::RateLimited { retry_after }
                | ApiError::Unavailable { retry_after, .. } => ext.set("retryAfter", *retry_after),
                _ => {}
            }
        })
    }

    /// As a REST response with the request id, for the `/auth` routes.
    pub fn into_response_with(self, request_id: Option<&str>) -> Response {
        let status = self.status();
        let mut body =
            json!({ "error": { "code": self.code(), "message": self.client_message(request_id) } });
        if let ApiError::BadUserInput {
            field: Some(field), ..
        } = &self
        {
            body["error"]["field"] = json!(field);
        }
        let retry_after = self.retry_after();
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(retry_after) = retry_after {
            if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert("retry-after", value);
            }
        }
        response
    }

    /// Seconds the client should wait before trying again, for `Retry-After`.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after } | ApiError::Unavailable { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }
}

/// What `Retry-After` says when the database is unavailable: about the time a
/// restarting Postgres (or a failover) takes to accept connections again.
pub(crate) const UNAVAILABLE_RETRY_AFTER: u64 = 2;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_response_with(None)
    }
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::NotFound => ApiError::NotFound("object"),
            DbError::NotAMember => {
                ApiError::Unauthenticated("you are no longer a member of this organization".into())
            }
            DbError::Conflict { constraint } => ApiError::Conflict(conflict_message(&constraint)),
            DbError::Corrupt(detail) => ApiError::Internal(format!("corrupt row: {detail}")),
            DbError::Unavailable(e) => ApiError::Unavailable {
                retry_after: UNAVAILABLE_RETRY_AFTER,
                detail: format!("database: {e}"),
            },
            DbError::Sqlx(e) => ApiError::Internal(format!("database: {e}")),
        }
    }
}

impl From<accord_domain::ValidationError> for ApiError {
    fn from(err: accord_domain::ValidationError) -> Self {
        ApiError::BadUserInput {
            field: Some(err.field.to_owned()),
            message: err.to_string(),
        }
    }
}

impl From<accord_domain::Denied> for ApiError {
    fn from(err: accord_domain::Denied) -> Self {
        ApiError::Forbidden(format!(
            "your role may not {}",
            err.action.as_str().replace('_', " ")
        ))
    }
}

impl From<accord_domain::TransitionError> for ApiError {
    fn from(err: accord_domain::TransitionError) -> Self {
        ApiError::Conflict(err.to_string())
    }
}

impl From<accord_db::members::MembershipChangeError> for ApiError {
    fn from(err: accord_db::members::MembershipChangeError) -> Self {
        match err {
            accord_db::members::MembershipChangeError::LastAdmin
            | accord_db::members::MembershipChangeError::StillMediating => {
                ApiError::Conflict(err.to_string())
            }
            accord_db::members::MembershipChangeError::Db(db) => db.into(),
        }
    }
}

/// Names the rule a write broke in words a person understands.
fn conflict_message(constraint: &str) -> String {
    match constraint {
        "cases_reference_unique" => "a case with this reference already exists".into(),
        "case_parties_email_unique" => "this person is already on the case".into(),
        "memberships_pkey" => "this person is already a member of the organization".into(),
        "cases_mediator_member" => {
            "this member mediates one or more cases; assign another mediator first".into()
        }
        "case_parties_member" => {
            "this member is on one or more cases; remove them from those cases first".into()
        }
        "organizations_slug_key" => "an organization with this slug already exists".into(),
        _ => "this conflicts with existing data".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_show_a_reference_and_never_the_detail() {
        let detail = "relation \"cases\" does not exist; password=hunter2";
        let e = ApiError::Internal(detail.into()).into_graphql(Some("req-123"));
        assert_eq!(e.message, "internal error (reference req-123)");
        let ext = e.extensions.as_ref().unwrap();
        assert_eq!(
            ext.get("code"),
            Some(&async_graphql::Value::from("INTERNAL"))
        );

        // Without a request id, a fresh reference is made (and logged with the detail).
        let message = ApiError::Internal(detail.into()).client_message(None);
        let reference = message
            .strip_prefix("internal error (reference ")
            .and_then(|r| r.strip_suffix(')'))
            .unwrap();
        assert!(uuid::Uuid::parse_str(reference).is_ok(), "{message}");
        assert!(!message.contains("hunter2") && !message.contains("cases"));
    }

    #[test]
    fn every_variant_has_its_stable_code_and_status() {
        let cases = [
            (
                ApiError::Unauthenticated("x".into()),
                "UNAUTHENTICATED",
                401,
            ),
            (ApiError::Forbidden("x".into()), "FORBIDDEN", 403),
            (ApiError::NotFound("case"), "NOT_FOUND", 404),
            (ApiError::bad_input("f", "x"), "BAD_USER_INPUT", 400),
            (ApiError::UnsupportedMediaType, "BAD_USER_INPUT", 415),
            (ApiError::Conflict("x".into()), "CONFLICT", 409),
            (
                ApiError::RateLimited { retry_after: 3 },
                "RATE_LIMITED",
                429,
            ),
            (
                ApiError::Unavailable {
                    retry_after: 2,
                    detail: "x".into(),
                },
                "UNAVAILABLE",
                503,
            ),
            (ApiError::Internal("x".into()), "INTERNAL", 500),
        ];
        for (error, code, status) in cases {
            assert_eq!(error.code(), code);
            assert_eq!(error.status().as_u16(), status, "{code}");
        }
    }
}

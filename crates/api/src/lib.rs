//! Accord's HTTP surface.
//!
//! - `/graphql` ([`graphql`]): the async-graphql schema, one request = one tenant
//!   transaction, every resolver authorised by the permission matrix, stable
//!   `extensions.code` on every error, depth and complexity limits.
//! - `/auth/*` ([`auth_routes`]): sign-in (password, TOTP, OIDC), sign-out,
//!   single-use password links, and which ways to sign in exist
//!   (`/auth/options`). The unauthenticated ones sit behind a per-IP
//!   rate limit (tower-governor) that answers `429` with `Retry-After`.
//! - Web sessions are HttpOnly cookies; state-changing requests made with one
//!   must carry the session's CSRF token in `x-csrf-token` ([`web`]).
//! - Printable and exportable records: `/invoices/{id}/pdf` (an invoice as a
//!   PDF, [`pdf`]), `/agreements/{id}/pdf` (an agreement as the file its
//!   signatories sign) and `/cases/{id}/compliance-export` (a case's record
//!   as JSON for a regulator, org admins only, audited).
//! - Live sessions are the SFU's; the API only reads them, through a
//!   [`LiveDirectory`] the server provides ([`live`]): it does not depend on
//!   the SFU.
//!
//! [`app`] builds the router from an [`AppState`]; the server binds it.

mod agreement_pdf;
mod auth_routes;
mod calendar;
pub mod client_ip;
mod compliance;
pub mod documents;
mod error;
pub mod graphql;
mod invite_routes;
mod invoice_pdf;
pub mod live;
mod mail;
pub mod metrics;
/// The file outbox (in `accord-notify`), re-exported for existing callers.
pub use accord_notify::outbox;
pub mod pdf;
pub mod portal;
mod state;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;
use tower_governor::{GovernorError, GovernorLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use auth_routes::create_password_link;
pub use client_ip::ClientKey;
pub use error::ApiError;
pub use graphql::schema_sdl;
pub use live::LiveDirectory;
pub use state::{ApiConfig, AppState, GraphqlLimits, RateLimitConfig};

/// Largest request body accepted on `/graphql`.
pub const GRAPHQL_BODY_LIMIT: usize = 64 * 1024;
/// Largest request body accepted on `/auth/*`.
pub const AUTH_BODY_LIMIT: usize = 8 * 1024;

/// Gives tower-http's plain-text 413 a body with a code, in the route's shape.
fn coded_413(
    graphql: bool,
    limit: usize,
) -> impl Fn(Response) -> std::future::Ready<Response> + Clone {
    move |response: Response| {
        if response.status() != axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            return std::future::ready(response);
        }
        let message = format!("the request body is larger than {} KiB", limit / 1024);
        let body = if graphql {
            serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": "BAD_USER_INPUT" } }] })
        } else {
            serde_json::json!({ "error": { "code": "BAD_USER_INPUT", "message": message } })
        };
        std::future::ready(
            (axum::http::StatusCode::PAYLOAD_TOO_LARGE, axum::Json(body)).into_response(),
        )
    }
}

/// [`rate_limited`] in GraphQL's shape (`errors[].extensions.code`), for `/graphql`.
fn graphql_rate_limited(err: GovernorError) -> Response {
    let response = rate_limited(err);
    let status = response.status();
    let (code, message, retry_after) = match status {
        axum::http::StatusCode::TOO_MANY_REQUESTS => (
            "RATE_LIMITED",
            "too many requests from this address; try again shortly",
            response
                .headers()
                .get(axum::http::header::RETRY_AFTER)
                .cloned(),
        ),
        _ => ("INTERNAL", "internal error", None),
    };
    let body =
        serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    let mut out = (status, axum::Json(body)).into_response();
    if let Some(value) = retry_after {
        out.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, value);
    }
    out
}

fn rate_limited(err: GovernorError) -> Response {
    match err {
        GovernorError::TooManyRequests { wait_time, .. } => ApiError::RateLimited {
            retry_after: wait_time.max(1),
        }
        .into_response(),
        GovernorError::UnableToExtractKey => {
            ApiError::Internal("cannot tell the client's address for rate limiting".into())
                .into_response()
        }
        GovernorError::Other { .. } => ApiError::Internal("rate limiter".into()).into_response(),
    }
}

/// The routes that an attacker could hammer without signing in: sign-in,
/// password links, invite links, OIDC callbacks.
fn limited_routes(state: &AppState) -> Router<AppState> {
    let limits = state.config().rate_limit;
    let routes = Router::new()
        .route("/auth/sign-in", post(auth_routes::sign_in))
        .route("/auth/password", post(auth_routes::set_password))
        .route("/auth/password/reset", post(auth_routes::request_reset))
        .route("/auth/invite/redeem", post(invite_routes::redeem))
        .route("/auth/oidc/start", get(auth_routes::oidc_start))
        .route("/auth/oidc/callback", get(auth_routes::oidc_callback));
    rate_limit(routes, limits, ClientKey::new(limits.trusted_proxy_hops))
}

/// `/graphql` behind its per-client limit (the per-account one is checked in
/// the handler, once the session is known).
fn graphql_route(state: &AppState) -> Router<AppState> {
    let limits = state.graphql_limiter().limits;
    let per_client = RateLimitConfig {
        burst: limits.client_burst,
        replenish_every: std::time::Duration::from_secs(1) / limits.client_per_second.max(1),
        trusted_proxy_hops: state.config().rate_limit.trusted_proxy_hops,
    };
    rate_limit_with(
        Router::new().route("/graphql", post(graphql::handler).get(graphql::graphiql)),
        per_client,
        ClientKey::new(per_client.trusted_proxy_hops),
        graphql_rate_limited,
    )
}

/// How often idle client addresses are forgotten by the limiter.
const LIMITER_SWEEP: std::time::Duration = std::time::Duration::from_secs(60);

fn rate_limit<K, S>(routes: Router<S>, limits: RateLimitConfig, key: K) -> Router<S>
where
    K: KeyExtractor + Send + Sync + 'static,
    K::Key: Send + Sync + 'static,
    S: Clone + Send + Sync + 'static,
{
    rate_limit_with(routes, limits, key, rate_limited)
}

fn rate_limit_with<K, S>(
    routes: Router<S>,
    limits: RateLimitConfig,
    key: K,
    on_limit: fn(GovernorError) -> Response,
) -> Router<S>
where
    K: KeyExtractor + Send + Sync + 'static,
    K::Key: Send + Sync + 'static,
    S: Clone + Send + Sync + 'static,
{
    // A zero period would make the limiter unbuildable; a millisecond is the floor.
    let period = limits
        .replenish_every
        .max(std::time::Duration::from_millis(1));
    let Some(config) = GovernorConfigBuilder::default()
        .period(period)
        .burst_size(limits.burst.max(1))
        .key_extractor(key)
        .finish()
    else {
        return routes;
    };
    let config = Arc::new(config);
    // Without a sweep every address ever seen stays in memory: a client with a
    // large address pool could grow it without bound. The task ends with the app.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let limiter = Arc::downgrade(config.limiter());
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(LIMITER_SWEEP).await;
                match limiter.upgrade() {
                    Some(limiter) => limiter.retain_recent(),
                    None => break,
                }
            }
        });
    }
    routes.layer(GovernorLayer::new(config).error_handler(on_limit))
}

/// Routes another part of the product serves beside the API in the same
/// process (the SFU's, composed by the server: the API does not know them).
#[derive(Debug, Default)]
pub struct Extra {
    /// Limited per client like sign-in (connection attempts).
    pub limited: Router,
    /// Not limited (e.g. `/metrics`).
    pub open: Router,
}

/// The whole HTTP app. Serve it with connect info (`into_make_service_with_connect_info::<SocketAddr>`):
/// the rate limits key on the peer address.
pub fn app(state: AppState) -> Router {
    app_with(state, Extra::default())
}

/// [`app`] with `extra` routes beside it, behind the same layers.
pub fn app_with(state: AppState, extra: Extra) -> Router {
    let auth = limited_routes(&state)
        .route("/auth/options", get(auth_routes::options))
        .route("/auth/session", get(auth_routes::current_session))
        .route("/auth/sign-out", post(auth_routes::sign_out))
        .route(
            "/auth/sign-out-everywhere",
            post(auth_routes::sign_out_everywhere),
        )
        .route("/auth/totp/setup", post(auth_routes::totp_setup))
        .route("/auth/totp/confirm", post(auth_routes::totp_confirm))
        .route("/auth/totp/disable", post(auth_routes::totp_disable))
        .layer(RequestBodyLimitLayer::new(AUTH_BODY_LIMIT))
        .layer(axum::middleware::map_response(coded_413(
            false,
            AUTH_BODY_LIMIT,
        )));
    let api = graphql_route(&state)
        .route("/graphiql/{file}", get(graphql::graphiql_asset))
        .route("/sessions/{id}/calendar.ics", get(calendar::download))
        .route("/invoices/{id}/pdf", get(invoice_pdf::download))
        .route("/agreements/{id}/pdf", get(agreement_pdf::download))
        .route("/cases/{id}/compliance-export", get(compliance::download))
        .layer(RequestBodyLimitLayer::new(GRAPHQL_BODY_LIMIT))
        .layer(axum::middleware::map_response(coded_413(
            true,
            GRAPHQL_BODY_LIMIT,
        )));
    // Documents stream in and out under the org's own size limit, not the
    // GraphQL body limit.
    let documents = Router::new()
        .route("/documents/upload", post(documents::upload))
        .route("/documents/versions/{id}/content", get(documents::download));
    let extra = extra_routes(state.config().rate_limit, extra);
    let routes = Router::new()
        .merge(auth)
        .merge(api)
        .merge(documents)
        .merge(portal::router(state.config().portal_dir.clone()))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics::handler))
        .fallback({
            let portals = state.config().portal_dir.clone();
            move |req: Request<axum::body::Body>| {
                let portals = portals.clone();
                async move {
                    portal::fallback(portals, req, ApiError::NotFound("page").into_response()).await
                }
            }
        })
        .with_state(state.clone())
        .merge(extra)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(state.metrics()),
            metrics::track,
        ));
    common_layers(routes)
}

/// `extra`'s limited routes behind the per-client limit (connection attempts
/// count as sign-in attempts do), and its open ones.
fn extra_routes(limits: RateLimitConfig, extra: Extra) -> Router {
    rate_limit(
        extra.limited,
        limits,
        ClientKey::new(limits.trusted_proxy_hops),
    )
    .merge(extra.open)
}

/// Only `extra` and `/healthz`, with the API's layers and errors but no API
/// state (no GraphQL, no sessions): `accord serve --only sfu`.
pub fn extra_app(limits: RateLimitConfig, extra: Extra) -> Router {
    let routes = extra_routes(limits, extra)
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { ApiError::NotFound("page").into_response() });
    common_layers(routes)
}

fn common_layers(routes: Router) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    routes
        // Nothing is cached unless a route says otherwise (the portals'
        // content-hashed files).
        .layer(SetResponseHeaderLayer::if_not_present(
            axum::http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        // Spans carry method, path and request id only: never bodies, queries or cookies.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let rid = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %rid)
        }))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        // The id is the server's own: a client-chosen one would land in the
        // audit chain and could pose as another request's error reference.
        .layer(axum::middleware::map_request(|mut req: Request<axum::body::Body>| async move {
            req.headers_mut().remove("x-request-id");
            req
        }))
}

/// Binds nothing: serves the app on an existing listener until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_router(listener, app(state), shutdown).await
}

/// `listener`, its accepted connections without Nagle: a reply written in
/// two pieces (a WebSocket's messages, one after another) would otherwise
/// wait for the client's delayed ACK of the first, 40 ms on Linux, before
/// the second leaves.
fn without_nagle(
    listener: tokio::net::TcpListener,
) -> axum::serve::TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)> {
    use axum::serve::ListenerExt as _;
    fn no_delay(tcp: &mut tokio::net::TcpStream) {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY on an accepted connection");
        }
    }
    listener.tap_io(no_delay as fn(&mut tokio::net::TcpStream))
}

/// Serves `router` (from [`app`], [`app_with`] or [`extra_app`]) with the
/// peer address available to handlers: the rate limits key on it.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        without_nagle(listener),
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

#[cfg(test)]
mod nagle_tests {
    #[tokio::test]
    async fn accepted_connections_have_no_nagle() {
        use axum::serve::Listener as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut listener = super::without_nagle(listener);
        let client = tokio::spawn(tokio::net::TcpStream::connect(addr));
        let (accepted, _) = listener.accept().await;
        assert!(
            accepted.nodelay().unwrap(),
            "an accepted connection has TCP_NODELAY"
        );
        drop(client.await.unwrap().unwrap());
    }
}

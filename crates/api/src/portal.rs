//! The portals: the files `npm --prefix portals run build` writes to
//! `portals/dist/admin` and `portals/dist/client`, served on the API's origin
//! (so the session cookie and CSRF work as they are):
//!
//! - the admin portal (org admins, mediators, the session console) under
//!   `/admin/`, its files under `/admin/assets/`;
//! - the client portal (parties, counsel, interpreters) at `/`, its files
//!   under `/assets/`.
//!
//! Any other `GET` that asks for HTML gets the portal's `index.html` (history
//! fallback: deep links such as `/admin/cases/<id>` or `/password#token=…`
//! work), never cached; the content-hashed files are cached for a year.
//! Requests that do not ask for HTML (API clients) get the API's JSON 404.
//!
//! The directory is read on each request, so the portals can be rebuilt while
//! the server runs; without a build every portal route answers `503` saying
//! how to build it. Pages get a strict Content-Security-Policy: their own
//! scripts and styles only, no inline code, connections only to this origin
//! and its WebSocket, media from their own streams.

use std::convert::Infallible;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// Where the built portals are looked for when `portal_dir` is not
/// configured, relative to the working directory.
pub const DEFAULT_PORTAL_DIR: &str = "portals/dist";

/// The pages' policy: nothing inline, nothing from elsewhere, and no framing.
/// `img-src data:` is for the TOTP enrolment's QR code.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self' ws: wss:; \
     media-src 'self' blob:; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Content-hashed files never change under their name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

const NOT_BUILT: &str =
    "the portals are not built: run npm --prefix portals ci && npm --prefix portals run build\n";

/// One of the two portals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Portal {
    /// `/admin/`: org admins and mediators.
    Admin,
    /// `/`: parties, counsel and interpreters.
    Client,
}

impl Portal {
    fn dir(self, root: &Path) -> PathBuf {
        root.join(match self {
            Portal::Admin => "admin",
            Portal::Client => "client",
        })
    }
}

fn not_built() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        NOT_BUILT,
    )
        .into_response()
}

async fn index(root: &Path, portal: Portal) -> Response {
    let dir = portal.dir(root);
    match tokio::fs::read(dir.join("index.html")).await {
        Ok(html) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            html,
        )
            .into_response(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => not_built(),
        Err(e) => {
            tracing::error!(error = %e, dir = %dir.display(), "reading a portal's index.html");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "the portal could not be read\n",
            )
                .into_response()
        }
    }
}

/// Whether a request is a browser navigation (or anything asking for HTML).
fn wants_html(method: &Method, headers: &HeaderMap) -> bool {
    (method == Method::GET || method == Method::HEAD)
        && headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
}

/// A portal's `assets/` directory: hashed files, cached for a year; a missing
/// file is a 404, unless the whole build is missing.
fn assets(root: &Path, portal: Portal) -> Router {
    let dir = portal.dir(root);
    let missing = {
        let dir = dir.clone();
        tower::service_fn(move |_req: Request<Body>| {
            let built = dir.join("index.html").is_file();
            async move {
                Ok::<_, Infallible>(if built {
                    (
                        StatusCode::NOT_FOUND,
                        [(header::CACHE_CONTROL, "no-store")],
                        "no such file\n",
                    )
                        .into_response()
                } else {
                    not_built()
                })
            }
        })
    };
    let files = ServeDir::new(dir.join("assets"))
        .append_index_html_on_directories(false)
        .fallback(missing);
    Router::new()
        .fallback_service(files)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static(IMMUTABLE),
        ))
}

/// The portals' routes, serving from `root` (default [`DEFAULT_PORTAL_DIR`]).
/// Pair with [`fallback`] for the history fallback.
pub fn router<S: Clone + Send + Sync + 'static>(root: Option<PathBuf>) -> Router<S> {
    let root = root.unwrap_or_else(|| PathBuf::from(DEFAULT_PORTAL_DIR));
    let admin_page = {
        let root = root.clone();
        move || {
            let root = root.clone();
            async move { index(&root, Portal::Admin).await }
        }
    };
    Router::new()
        .route("/admin", get(|| async { Redirect::permanent("/admin/") }))
        .route("/admin/", get(admin_page.clone()))
        .route("/admin/{*path}", get(admin_page))
        .nest_service("/admin/assets", assets(&root, Portal::Admin))
        .nest_service("/assets", assets(&root, Portal::Client))
        .layer(security_headers())
}

/// What answers a request no route took: a browser navigation gets the
/// client portal's page (which shows "not found" for a path it does not
/// know); anything else gets `otherwise` (the API's JSON 404).
pub async fn fallback(root: Option<PathBuf>, req: Request<Body>, otherwise: Response) -> Response {
    if !wants_html(req.method(), req.headers()) {
        return otherwise;
    }
    let root = root.unwrap_or_else(|| PathBuf::from(DEFAULT_PORTAL_DIR));
    let mut response = index(&root, Portal::Client).await;
    let headers = response.headers_mut();
    for (name, value) in security_header_values() {
        headers.entry(name).or_insert(value);
    }
    response
}

fn security_header_values() -> [(HeaderName, HeaderValue); 3] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ),
    ]
}

fn security_headers() -> tower::util::MapResponseLayer<fn(Response) -> Response> {
    fn add(mut response: Response) -> Response {
        let headers = response.headers_mut();
        for (name, value) in security_header_values() {
            headers.entry(name).or_insert(value);
        }
        response
    }
    tower::util::MapResponseLayer::new(add as fn(Response) -> Response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    struct Got {
        status: StatusCode,
        content_type: Option<String>,
        csp: Option<String>,
        cache: Option<String>,
        location: Option<String>,
        body: String,
    }

    fn app(root: &Path) -> Router {
        let fallback_root = Some(root.to_path_buf());
        router(Some(root.to_path_buf())).fallback(move |req: Request<Body>| {
            let root = fallback_root.clone();
            async move {
                fallback(
                    root,
                    req,
                    (StatusCode::NOT_FOUND, "json 404").into_response(),
                )
                .await
            }
        })
    }

    async fn get(app: &Router, path: &str, accept: &str) -> Got {
        let response = app
            .clone()
            .oneshot(
                Request::get(path)
                    .header(header::ACCEPT, accept)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(header::CONTENT_TYPE);
        let csp = header(header::CONTENT_SECURITY_POLICY);
        let cache = header(header::CACHE_CONTROL);
        let location = header(header::LOCATION);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        Got {
            status,
            content_type,
            csp,
            cache,
            location,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    const HTML: &str = "text/html,application/xhtml+xml,*/*;q=0.8";

    fn built() -> PathBuf {
        let root = std::env::temp_dir().join(format!("accord-portals-{}", uuid::Uuid::new_v4()));
        for (portal, title) in [("admin", "admin"), ("client", "client")] {
            std::fs::create_dir_all(root.join(portal).join("assets")).unwrap();
            std::fs::write(
                root.join(portal).join("index.html"),
                format!("<!doctype html><title>{title}</title>"),
            )
            .unwrap();
            std::fs::write(
                root.join(portal)
                    .join("assets")
                    .join(format!("{title}-1a2b.js")),
                format!("export const portal = \"{title}\";"),
            )
            .unwrap();
        }
        root
    }

    #[tokio::test]
    async fn serves_each_portal_with_history_fallback() {
        let root = built();
        let app = app(&root);
        for path in [
            "/admin/",
            "/admin/cases/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "/admin/sessions/x",
        ] {
            let got = get(&app, path, HTML).await;
            assert_eq!(got.status, StatusCode::OK, "{path}");
            assert_eq!(
                got.content_type.as_deref(),
                Some("text/html; charset=utf-8")
            );
            assert_eq!(got.csp.as_deref(), Some(CONTENT_SECURITY_POLICY), "{path}");
            assert_eq!(got.cache.as_deref(), Some("no-store"), "{path}");
            assert!(got.body.contains("<title>admin</title>"), "{path}");
        }
        for path in ["/", "/password", "/sessions/abc", "/cases/x/y"] {
            let got = get(&app, path, HTML).await;
            assert_eq!(got.status, StatusCode::OK, "{path}");
            assert_eq!(got.csp.as_deref(), Some(CONTENT_SECURITY_POLICY), "{path}");
            assert!(got.body.contains("<title>client</title>"), "{path}");
        }
        let got = get(&app, "/admin", HTML).await;
        assert_eq!(got.status, StatusCode::PERMANENT_REDIRECT);
        assert_eq!(got.location.as_deref(), Some("/admin/"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[tokio::test]
    async fn hashed_files_are_cached_and_missing_ones_are_404() {
        let root = built();
        let app = app(&root);
        let got = get(&app, "/admin/assets/admin-1a2b.js", "*/*").await;
        assert_eq!(got.status, StatusCode::OK);
        assert!(got.content_type.unwrap().contains("javascript"));
        assert_eq!(got.cache.as_deref(), Some(IMMUTABLE));
        assert_eq!(got.body, "export const portal = \"admin\";");
        let got = get(&app, "/assets/client-1a2b.js", "*/*").await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.body, "export const portal = \"client\";");
        // Each portal's files only under its own prefix.
        assert_eq!(
            get(&app, "/assets/admin-1a2b.js", "*/*").await.status,
            StatusCode::NOT_FOUND
        );
        let missing = get(&app, "/admin/assets/nope.js", "*/*").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_eq!(missing.cache.as_deref(), Some("no-store"));
        assert_ne!(
            get(&app, "/assets/../index.html", "*/*").await.status,
            StatusCode::OK
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[tokio::test]
    async fn api_clients_get_the_api_404_not_a_page() {
        let root = built();
        let app = app(&root);
        let got = get(&app, "/no/such/thing", "application/json").await;
        assert_eq!(got.status, StatusCode::NOT_FOUND);
        assert_eq!(got.body, "json 404");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[tokio::test]
    async fn says_how_to_build_the_portals_when_they_are_missing() {
        let root = std::env::temp_dir().join(format!("accord-portals-{}", uuid::Uuid::new_v4()));
        let app = app(&root);
        for path in [
            "/",
            "/admin/",
            "/sessions/x",
            "/assets/page.js",
            "/admin/assets/a.js",
        ] {
            let got = get(&app, path, HTML).await;
            assert_eq!(got.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
            assert_eq!(
                got.content_type.as_deref(),
                Some("text/plain; charset=utf-8")
            );
            assert_eq!(got.body, NOT_BUILT);
        }
    }
}

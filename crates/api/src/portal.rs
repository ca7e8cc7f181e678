//! The session page: the files `npm --prefix portals/shared run build` writes
//! to `portals/shared/dist`, served at `/` and `/session/{id}` (the page's
//! `index.html`) and `/assets/...` (its scripts and styles).
//!
//! The directory is read on each request, so the page can be built while the
//! server runs; without it every portal route answers `503` saying how to
//! build it. The page gets a strict Content-Security-Policy: its own scripts
//! and styles only, no inline code, connections only to this origin and its
//! WebSocket, media from its own streams.

use std::convert::Infallible;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// Where the built page is looked for when `portal_dir` is not configured,
/// relative to the working directory.
pub const DEFAULT_PORTAL_DIR: &str = "portals/shared/dist";

/// The page's policy: nothing inline, nothing from elsewhere, and no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self' ws: wss:; \
     media-src 'self' blob:; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

const NOT_BUILT: &str =
    "the session page is not built: run npm --prefix portals/shared run build\n";

fn not_built() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        NOT_BUILT,
    )
        .into_response()
}

async fn index(dir: &Path) -> Response {
    match tokio::fs::read(dir.join("index.html")).await {
        Ok(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => not_built(),
        Err(e) => {
            tracing::error!(error = %e, dir = %dir.display(), "reading the session page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "the session page could not be read\n",
            )
                .into_response()
        }
    }
}

/// The portal's routes, serving from `dir` (default [`DEFAULT_PORTAL_DIR`]).
pub fn router<S: Clone + Send + Sync + 'static>(dir: Option<PathBuf>) -> Router<S> {
    let dir = dir.unwrap_or_else(|| PathBuf::from(DEFAULT_PORTAL_DIR));
    // A missing file is a 404, unless the whole build is missing.
    let missing = {
        let dir = dir.clone();
        tower::service_fn(move |_req: Request<Body>| {
            let built = dir.join("index.html").is_file();
            async move {
                Ok::<_, Infallible>(if built {
                    (StatusCode::NOT_FOUND, "no such file\n").into_response()
                } else {
                    not_built()
                })
            }
        })
    };
    let assets = ServeDir::new(dir.join("assets"))
        .append_index_html_on_directories(false)
        .fallback(missing);
    let page = {
        let dir = dir.clone();
        move || {
            let dir = dir.clone();
            async move { index(&dir).await }
        }
    };
    Router::new()
        .route("/", get(page.clone()))
        .route("/session/{id}", get(page))
        .nest_service("/assets", assets)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    async fn get(app: &Router, path: &str) -> (StatusCode, Option<String>, Option<String>, String) {
        let response = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
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
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            content_type,
            csp,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    #[tokio::test]
    async fn serves_the_built_page_and_its_assets() {
        let dir = std::env::temp_dir().join(format!("accord-portal-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::write(dir.join("index.html"), "<!doctype html><title>t</title>").unwrap();
        std::fs::write(dir.join("assets/page-1.js"), "export {};").unwrap();
        let app: Router = router(Some(dir.clone()));

        for path in ["/", "/session/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"] {
            let (status, ct, csp, body) = get(&app, path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(ct.as_deref(), Some("text/html; charset=utf-8"));
            assert_eq!(csp.as_deref(), Some(CONTENT_SECURITY_POLICY));
            assert!(body.contains("<title>t</title>"));
        }
        let (status, ct, _, body) = get(&app, "/assets/page-1.js").await;
        assert_eq!(status, StatusCode::OK);
        assert!(ct.unwrap().contains("javascript"));
        assert_eq!(body, "export {};");
        let (status, _, _, _) = get(&app, "/assets/nope.js").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, _, _) = get(&app, "/assets/../index.html").await;
        assert_ne!(status, StatusCode::OK);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn says_how_to_build_the_page_when_it_is_missing() {
        let dir = std::env::temp_dir().join(format!("accord-portal-{}", uuid::Uuid::new_v4()));
        let app: Router = router(Some(dir));
        for path in ["/", "/session/x", "/assets/page.js"] {
            let (status, ct, _, body) = get(&app, path).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
            assert_eq!(ct.as_deref(), Some("text/plain; charset=utf-8"));
            assert_eq!(body, NOT_BUILT);
        }
    }
}

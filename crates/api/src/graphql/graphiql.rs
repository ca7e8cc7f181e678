//! GraphiQL for development (`dev_mode` only), served entirely by Accord so
//! that it works offline: `GET /graphql` is a small page built here, and its
//! scripts and stylesheet come from `/graphiql/...`, read from the npm
//! project `tools/graphiql` (`npm --prefix tools/graphiql ci` installs React's
//! and GraphiQL's UMD builds into its `node_modules`). Without those files
//! both answer `503` saying how to install them.
//!
//! The page has a Content-Security-Policy of its own: scripts from this
//! origin plus the one inline bootstrap script, allowed by its hash. Styles
//! may be inline (GraphiQL's editor and its styling library insert `<style>`
//! elements at run time); this page exists only in development.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Where the files are looked for when `graphiql_dir` is not configured,
/// relative to the working directory.
pub(crate) const DEFAULT_GRAPHIQL_DIR: &str = "tools/graphiql/node_modules";

/// The files the page loads: the name under `/graphiql/`, the path under the
/// `node_modules` directory, and the content type.
const ASSETS: [(&str, &str, &str); 4] = [
    (
        "graphiql.min.css",
        "graphiql/graphiql.min.css",
        "text/css; charset=utf-8",
    ),
    (
        "react.production.min.js",
        "react/umd/react.production.min.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "react-dom.production.min.js",
        "react-dom/umd/react-dom.production.min.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "graphiql.min.js",
        "graphiql/graphiql.min.js",
        "text/javascript; charset=utf-8",
    ),
];

/// The inline script that starts GraphiQL. It picks up the session's CSRF
/// token so that mutations work for a signed-in browser.
const BOOTSTRAP: &str = r#"
(async () => {
  const headers = {};
  try {
    const session = await fetch("/auth/session", { credentials: "same-origin" });
    if (session.ok) {
      headers["x-csrf-token"] = (await session.json()).csrfToken;
    }
  } catch (_) {}
  const fetcher = GraphiQL.createFetcher({ url: "/graphql", headers });
  ReactDOM.createRoot(document.getElementById("graphiql"))
    .render(React.createElement(GraphiQL, { fetcher }));
})();
"#;

const NOT_INSTALLED: &str =
    "GraphiQL's files are not installed: run npm --prefix tools/graphiql ci \
     (or set http.graphiql_dir to a node_modules directory with react, react-dom and graphiql 3)\n";

/// The page's policy: only this origin, and the bootstrap script by its hash.
pub(crate) static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(BOOTSTRAP));
    format!(
        "default-src 'none'; script-src 'self' 'sha256-{hash}'; style-src 'self' 'unsafe-inline'; \
         connect-src 'self'; img-src 'self' data:; font-src 'self' data:; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    )
});

static PAGE: LazyLock<String> = LazyLock::new(|| {
    let mut head = String::new();
    for (name, _, content_type) in ASSETS {
        if content_type.starts_with("text/css") {
            head.push_str(&format!(
                "    <link rel=\"stylesheet\" href=\"/graphiql/{name}\">\n"
            ));
        } else {
            head.push_str(&format!("    <script src=\"/graphiql/{name}\"></script>\n"));
        }
    }
    format!(
        "<!doctype html>\n<html lang=\"en\">\n  <head>\n    <meta charset=\"utf-8\">\n    \
         <title>Accord GraphiQL</title>\n{head}  </head>\n  \
         <body style=\"margin: 0\">\n    <div id=\"graphiql\" style=\"height: 100vh\">Loading GraphiQL…</div>\n    \
         <script>{BOOTSTRAP}</script>\n  </body>\n</html>\n"
    )
});

fn dir_or_default(dir: Option<&Path>) -> PathBuf {
    dir.map_or_else(|| PathBuf::from(DEFAULT_GRAPHIQL_DIR), Path::to_path_buf)
}

fn not_installed() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        NOT_INSTALLED,
    )
        .into_response()
}

fn with_page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    response
}

/// The page, or `503` when the files it loads are not installed.
pub(crate) async fn page(dir: Option<&Path>) -> Response {
    let dir = dir_or_default(dir);
    for (_, path, _) in ASSETS {
        if !tokio::fs::try_exists(dir.join(path)).await.unwrap_or(false) {
            return not_installed();
        }
    }
    with_page_headers(
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            PAGE.as_str(),
        )
            .into_response(),
    )
}

/// One of the page's files by its name under `/graphiql/`; anything else is
/// `404`, and a missing installation `503`.
pub(crate) async fn asset(dir: Option<&Path>, name: &str) -> Response {
    let Some((_, path, content_type)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return crate::ApiError::NotFound("file").into_response();
    };
    let file = dir_or_default(dir).join(path);
    match tokio::fs::read(&file).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, *content_type)], bytes).into_response(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => not_installed(),
        Err(e) => {
            crate::ApiError::Internal(format!("reading {}: {e}", file.display())).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inline_script_is_the_one_the_policy_allows() {
        let script = PAGE
            .split("<script>")
            .nth(1)
            .and_then(|s| s.split("</script>").next())
            .unwrap();
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script));
        assert!(CONTENT_SECURITY_POLICY.contains(&format!("'sha256-{hash}'")));
        // Exactly one inline script; every other one has a src on this origin.
        assert_eq!(PAGE.matches("<script>").count(), 1);
        assert_eq!(PAGE.matches("<script src=\"/graphiql/").count(), 3);
    }
}

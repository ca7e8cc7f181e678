//! GraphiQL in development: a page whose every script and stylesheet comes
//! from Accord itself (it works offline), under a policy of its own; a clear
//! `503` when its files are not installed; nothing at all outside dev mode.

use std::path::{Path, PathBuf};

use accord_testkit::{spawn_app_with, AppOptions, TestApp};

/// The files `npm --prefix tools/graphiql ci` installs, with stand-in content.
const FILES: [(&str, &str); 4] = [
    ("react/umd/react.production.min.js", "window.React = {};"),
    (
        "react-dom/umd/react-dom.production.min.js",
        "window.ReactDOM = {};",
    ),
    ("graphiql/graphiql.min.js", "window.GraphiQL = {};"),
    ("graphiql/graphiql.min.css", ".graphiql-container {}"),
];

fn installed() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("accord-graphiql-{}", uuid::Uuid::new_v4()));
    for (path, content) in FILES {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap_or(Path::new(".")))?;
        std::fs::write(file, content)?;
    }
    Ok(dir)
}

async fn app(dev_mode: bool, dir: &Path) -> anyhow::Result<TestApp> {
    spawn_app_with(AppOptions {
        dev_mode,
        graphiql_dir: Some(dir.to_path_buf()),
        ..AppOptions::default()
    })
    .await
}

async fn get(
    app: &TestApp,
    path: &str,
) -> anyhow::Result<(u16, reqwest::header::HeaderMap, String)> {
    let response = app
        .client()
        .http
        .get(format!("{}{path}", app.base_url))
        .send()
        .await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    Ok((status, headers, response.text().await?))
}

/// Every `src="…"` and `href="…"` in `html`.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for part in html.split(attribute).skip(1) {
            found.push(part.split('"').next().unwrap_or_default().to_owned());
        }
    }
    found
}

#[tokio::test]
async fn the_page_loads_everything_from_accord_itself() -> anyhow::Result<()> {
    let dir = installed()?;
    let app = app(true, &dir).await?;
    let (status, headers, html) = get(&app, "/graphql").await?;
    assert_eq!(status, 200, "{html}");
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");

    // No other host anywhere in the page: every file is a path on this origin.
    let lower = html.to_lowercase();
    for needle in [
        "http://", "https://", "//unpkg", "//cdn", "jsdelivr", "esm.sh",
    ] {
        assert!(
            !lower.contains(needle),
            "the page mentions {needle}: {html}"
        );
    }
    let refs = references(&html);
    assert_eq!(refs.len(), 4, "{refs:?}");
    for r in &refs {
        assert!(r.starts_with("/graphiql/") && !r.starts_with("//"), "{r}");
        let (status, headers, body) = get(&app, r).await?;
        assert_eq!(status, 200, "{r}");
        let expected = if r.ends_with(".css") {
            "text/css; charset=utf-8"
        } else {
            "text/javascript; charset=utf-8"
        };
        assert_eq!(headers["content-type"], expected, "{r}");
        assert!(FILES.iter().any(|(_, content)| *content == body), "{r}");
    }

    // The page's own policy: this origin only, one inline script by hash.
    let csp = headers["content-security-policy"].to_str()?;
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self' 'sha256-"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-eval") && !csp.contains("script-src 'self' 'unsafe-inline'"));
    assert!(!csp.contains("http"), "{csp}");
    assert_eq!(html.matches("<script>").count(), 1);

    // Only the page's files are served, nothing else from the directory.
    for path in [
        "/graphiql/package.json",
        "/graphiql/..%2Freact%2Fumd%2Freact.production.min.js",
        "/graphiql/graphiql",
    ] {
        let (status, _, _) = get(&app, path).await?;
        assert_eq!(status, 404, "{path}");
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[tokio::test]
async fn without_its_files_the_page_says_how_to_install_them() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("accord-graphiql-{}", uuid::Uuid::new_v4()));
    let app = app(true, &dir).await?;
    for path in ["/graphql", "/graphiql/graphiql.min.js"] {
        let (status, headers, body) = get(&app, path).await?;
        assert_eq!(status, 503, "{path}");
        assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
        assert!(body.contains("npm --prefix tools/graphiql ci"), "{body}");
    }
    Ok(())
}

#[tokio::test]
async fn outside_dev_mode_there_is_no_graphiql() -> anyhow::Result<()> {
    let dir = installed()?;
    let app = app(false, &dir).await?;
    for path in ["/graphql", "/graphiql/graphiql.min.js"] {
        let (status, _, body) = get(&app, path).await?;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(!body.contains("GraphiQL"), "{body}");
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

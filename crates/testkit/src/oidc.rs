//! A real OpenID Connect provider for tests, and a browser-less way to sign in through it.
//!
//! The provider is `tests/oidc/idp.mjs` (panva's `oidc-provider` on Node), so sign-in code is
//! exercised against genuine discovery, JWKS, PKCE and token responses rather than a mock that
//! agrees with whatever the code under test expects. Its accounts and misbehaving test scenarios
//! are described at the top of that file.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, ChildStdout, Command};

/// How long the IdP may take to start: Node and key generation are quick, but CI machines are
/// small and busy.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// The interaction chain is auth → interaction → auth → interaction → auth → redirect_uri; far
/// more hops than that means the IdP is looping.
const MAX_REDIRECTS: usize = 20;

/// A running test IdP, killed when dropped.
#[derive(Debug)]
pub struct TestIdp {
    /// The IdP's issuer, `http://127.0.0.1:<port>` (as a `Url`, so with a `/` path).
    pub issuer: url::Url,
    redirect_uri: url::Url,
    // Held only so that dropping the `TestIdp` kills the process (`kill_on_drop`).
    #[allow(dead_code)]
    child: Child,
}

impl TestIdp {
    /// Starts `node tests/oidc/idp.mjs`, with client `accord` / `accord-test-secret` registered
    /// for `redirect_uri`, and waits until it announces its issuer.
    pub async fn start(redirect_uri: &url::Url) -> anyhow::Result<TestIdp> {
        let dir = idp_dir();
        if !dir.join("node_modules/oidc-provider").is_dir() {
            bail!(
                "the test IdP's packages are not installed in {}: run `npm ci --prefix tests/oidc` \
                 in the workspace root",
                dir.display()
            );
        }

        let mut child = Command::new("node")
            .arg(dir.join("idp.mjs"))
            .current_dir(&dir)
            .env("PORT", "0")
            .env("ACCORD_OIDC_REDIRECT_URI", redirect_uri.as_str())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // Left visible so a crashing IdP explains itself in the test output.
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| match err.kind() {
                std::io::ErrorKind::NotFound => anyhow!(
                    "`node` was not found on PATH: the test IdP needs Node.js 20 or later, then \
                     `npm ci --prefix tests/oidc`"
                ),
                _ => anyhow::Error::new(err).context("could not start the test IdP (node)"),
            })?;

        let stdout = child
            .stdout
            .take()
            .context("the test IdP's stdout was not captured")?;
        let issuer = tokio::time::timeout(START_TIMEOUT, read_issuer(stdout))
            .await
            .map_err(|_| {
                anyhow!(
                    "the test IdP did not announce its issuer within {START_TIMEOUT:?}; if it \
                     complains about missing modules, run `npm ci --prefix tests/oidc`"
                )
            })??;

        Ok(TestIdp {
            issuer,
            redirect_uri: redirect_uri.clone(),
            child,
        })
    }

    /// Follows the authorization URL (adding `login_hint`) through the IdP's redirects without
    /// following the final redirect to the redirect URI; returns that final redirect URL
    /// (carrying `code` and `state`).
    ///
    /// Each call uses a fresh cookie jar, so every sign-in is a new IdP session. The returned URL
    /// may carry `error=...` instead of a code, for instance for an unknown `login_hint`.
    pub async fn authorize(
        &self,
        authorization_url: &url::Url,
        login_hint: &str,
    ) -> anyhow::Result<url::Url> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .timeout(Duration::from_secs(10))
            .build()?;

        let mut url = authorization_url.clone();
        url.query_pairs_mut().append_pair("login_hint", login_hint);

        for _ in 0..MAX_REDIRECTS {
            let response = http
                .get(url.clone())
                .send()
                .await
                .with_context(|| format!("GET {} on the test IdP", without_query(&url)))?;
            let status = response.status();
            if !status.is_redirection() {
                let body = response.text().await.unwrap_or_default();
                let body: String = body.chars().take(500).collect();
                bail!(
                    "the test IdP answered {status} instead of redirecting at {}: {body}",
                    without_query(&url)
                );
            }
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .context("the test IdP redirected without a Location header")?
                .to_str()
                .context("the test IdP's Location header is not text")?;
            let next = url
                .join(location)
                .context("the test IdP's Location header is not a URL")?;
            if is_redirect_uri(&next, &self.redirect_uri) {
                return Ok(next);
            }
            url = next;
        }
        bail!("the test IdP redirected more than {MAX_REDIRECTS} times")
    }
}

fn idp_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc");
    // Canonical only for readable error messages; the uncanonical path works just as well.
    dir.canonicalize().unwrap_or(dir)
}

/// Reads the IdP's stdout up to the `ISSUER=` line, then keeps draining it in the background so
/// that later output can never fill the pipe and stall the IdP.
async fn read_issuer(stdout: ChildStdout) -> anyhow::Result<url::Url> {
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await? {
        if let Some(issuer) = line.strip_prefix("ISSUER=") {
            let issuer = url::Url::parse(issuer.trim())
                .with_context(|| format!("the test IdP announced a bad issuer {issuer:?}"))?;
            tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    eprintln!("test IdP: {line}");
                }
            });
            return Ok(issuer);
        }
        // oidc-provider prints notices on stdout; pass them on.
        eprintln!("test IdP: {line}");
    }
    bail!("the test IdP exited before announcing its issuer (see its output above)")
}

fn is_redirect_uri(candidate: &url::Url, redirect_uri: &url::Url) -> bool {
    candidate.origin() == redirect_uri.origin() && candidate.path() == redirect_uri.path()
}

/// For error messages: the query of an authorization URL is long and tells nothing useful.
fn without_query(url: &url::Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.to_string()
}

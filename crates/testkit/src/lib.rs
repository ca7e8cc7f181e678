//! Test support for Accord's integration tests.
//!
//! - [`TestDb`]: a fresh Postgres database per test, migrated as the owner, with
//!   the application's pool connected as `accord_app` exactly as in production.
//!   The cluster comes from `ACCORD_TEST_DATABASE_URL` (an owner/superuser URL;
//!   default `postgres://postgres@127.0.0.1:5432/postgres`, which `scripts/test`
//!   provides). The database is dropped when the value is dropped.
//! - [`spawn_app`]: the real router on `127.0.0.1:0`, with its mail worker
//!   sending into a file outbox in a temporary directory (or the mailer a
//!   test gives), and [`Client`]s that keep cookies like a browser.
//! - [`oidc`]: starts the test identity provider (panva's oidc-provider).

pub mod oidc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use accord_api::outbox::{FileOutbox, OutboundMessage};
use accord_api::{ApiConfig, AppState, RateLimitConfig};
use accord_auth::oidc::OidcClient;
use accord_db::{members, orgs, AdminDb, Db};
use accord_domain::{
    DisplayName, EmailAddress, OrgId, OrgName, OrgSlug, PlainPassword, Role, UserId,
};
use anyhow::Context as _;
use serde_json::{json, Value};
use sqlx::Connection as _;

/// The password [`TestApp::member`] gives every account.
pub const PASSWORD: &str = "test-password-0123";
/// The secret the test app shares with its (imaginary) TURN relay.
pub const TURN_SECRET: &str = "accord-test-turn-secret";

fn cluster_url() -> String {
    std::env::var("ACCORD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn with_database(base: &str, database: &str, user: Option<&str>) -> anyhow::Result<String> {
    let mut url = url::Url::parse(base).context("ACCORD_TEST_DATABASE_URL is not a URL")?;
    url.set_path(&format!("/{database}"));
    if let Some(user) = user {
        url.set_username(user)
            .map_err(|_| anyhow::anyhow!("cannot set the user of the test database URL"))?;
        url.set_password(None)
            .map_err(|_| anyhow::anyhow!("cannot clear the password of the test database URL"))?;
    }
    Ok(url.to_string())
}

/// A migrated database of its own for one test.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    /// The owner's pool (migrations, operator commands, tampering in tests).
    pub admin: AdminDb,
    /// The application's pool, as `accord_app`.
    pub app: Db,
    /// The application role's connection URL.
    pub app_url: String,
    /// The owner's connection URL.
    pub admin_url: String,
}

impl TestDb {
    /// Creates and migrates a fresh database.
    pub async fn new() -> anyhow::Result<TestDb> {
        let base = cluster_url();
        let name = format!("accord_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&base)
            .await
            .with_context(|| "connecting to the test Postgres cluster (ACCORD_TEST_DATABASE_URL); scripts/test starts one")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let admin_url = with_database(&base, &name, None)?;
        let admin = AdminDb::connect(&admin_url).await?;
        admin.migrate().await?;
        let app_url = with_database(&base, &name, Some("accord_app"))?;
        let app = Db::connect(&app_url).await?;
        Ok(TestDb {
            name,
            admin,
            app,
            app_url,
            admin_url,
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let base = cluster_url();
        // Async drop does not exist: drop the database from a short-lived runtime
        // on its own thread, and wait so the next test starts clean.
        let handle = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&base).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        });
        let _ = handle.join();
    }
}

/// How to start the app under test.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// Per-IP rate limit on the sign-in routes (generous by default so tests
    /// that sign in many times are not throttled).
    pub rate_limit: RateLimitConfig,
    /// GraphiQL and introspection.
    pub dev_mode: bool,
    /// Setup-link lifetime.
    pub setup_link_ttl: Duration,
    /// OIDC client, when the test uses an identity provider.
    pub oidc: Option<OidcClient>,
    /// How long a live session outlives its last participant.
    pub live_session_idle_end: Duration,
    /// Where GraphiQL's files are (`http.graphiql_dir`); the default path
    /// relative to the working directory when `None`.
    pub graphiql_dir: Option<PathBuf>,
    /// The mail worker's mailer; the app's file outbox when `None`.
    pub mailer: Option<accord_notify::Mailer>,
    /// The mail worker's settings (a fast poll by default).
    pub worker: accord_notify::worker::WorkerConfig,
    /// Run no mail worker (tests that drive the queue themselves).
    pub no_worker: bool,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            rate_limit: RateLimitConfig {
                burst: 1000,
                replenish_every: Duration::from_millis(1),
                trusted_proxy_hops: 0,
            },
            dev_mode: false,
            setup_link_ttl: Duration::from_secs(3600),
            oidc: None,
            live_session_idle_end: accord_sfu::hub::LIVE_SESSION_IDLE_END,
            graphiql_dir: None,
            mailer: None,
            worker: accord_notify::worker::WorkerConfig {
                poll_interval: Duration::from_millis(100),
                ..accord_notify::worker::WorkerConfig::default()
            },
            no_worker: false,
        }
    }
}

/// The app running on a local port with its own database and outbox.
#[derive(Debug)]
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The SFU's media port (UDP, loopback).
    pub media_addr: SocketAddr,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// Its database.
    pub db: TestDb,
    /// Its outbox.
    pub outbox: FileOutbox,
    /// The keys its join tokens are signed with.
    pub join_keys: accord_auth::join::JoinKeys,
    outbox_dir: PathBuf,
    server: tokio::task::JoinHandle<()>,
    worker: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        if let Some(worker) = &self.worker {
            worker.abort();
        }
        let _ = std::fs::remove_dir_all(&self.outbox_dir);
    }
}

/// Starts the app with default options.
pub async fn spawn_app() -> anyhow::Result<TestApp> {
    spawn_app_with(AppOptions::default()).await
}

/// Starts the app on `127.0.0.1:0`.
pub async fn spawn_app_with(options: AppOptions) -> anyhow::Result<TestApp> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    spawn_on(listener, options).await
}

/// The client id and secret the test identity provider knows.
pub const OIDC_CLIENT_ID: &str = "accord";
const OIDC_CLIENT_SECRET: &str = "accord-test-secret";

/// Starts the test identity provider and the app configured to sign in with it
/// (callback `<base>/auth/oidc/callback`).
pub async fn spawn_app_with_idp() -> anyhow::Result<(TestApp, oidc::TestIdp)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let redirect = url::Url::parse(&format!(
        "http://{}/auth/oidc/callback",
        listener.local_addr()?
    ))?;
    let idp = oidc::TestIdp::start(&redirect).await?;
    let client = OidcClient::discover(accord_auth::oidc::OidcConfig {
        issuer_url: idp.issuer.clone(),
        client_id: OIDC_CLIENT_ID.into(),
        client_secret: OIDC_CLIENT_SECRET.to_owned().into(),
        redirect_url: redirect,
    })
    .await?;
    let app = spawn_on(
        listener,
        AppOptions {
            oidc: Some(client),
            ..AppOptions::default()
        },
    )
    .await?;
    Ok((app, idp))
}

async fn spawn_on(
    listener: tokio::net::TcpListener,
    options: AppOptions,
) -> anyhow::Result<TestApp> {
    let db = TestDb::new().await?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");
    let outbox_dir =
        std::env::temp_dir().join(format!("accord-outbox-{}", uuid::Uuid::new_v4().simple()));
    let outbox = FileOutbox::new(&outbox_dir)?;
    let join_keys = accord_auth::join::JoinKeys::generate(&base_url, "test");
    let config = ApiConfig {
        public_url: url::Url::parse(&base_url)?,
        mail_from: "accord@accord.test".into(),
        secure_cookies: false,
        dev_mode: options.dev_mode,
        session_ttl: Duration::from_secs(3600),
        setup_link_ttl: options.setup_link_ttl,
        reset_link_ttl: Duration::from_secs(1800),
        rate_limit: options.rate_limit,
        join_keys: join_keys.clone(),
        portal_dir: None,
        graphiql_dir: options.graphiql_dir,
    };
    let media =
        accord_sfu::udp::MediaSocket::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), &[])?
            .with_tcp(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))?
            .with_turn(accord_sfu_core::turn::TurnConfig {
                urls: vec![
                    "stun:turn.accord.test:3478".into(),
                    "turn:turn.accord.test:3478?transport=udp".into(),
                ],
                secret: TURN_SECRET.into(),
                ttl_seconds: 600,
            });
    let media_addr = media.local;
    // Composed as `accord serve` composes them: the API does not know the SFU.
    let hub = accord_sfu::hub::Hub::with_options(
        Arc::new(accord_server::live_store::DbLiveStore::new(db.app.clone())),
        join_keys.clone(),
        media,
        accord_sfu::hub::HubOptions {
            idle_end: options.live_session_idle_end,
        },
    );
    let wake = accord_notify::worker::Wake::default();
    let state = AppState::new(db.app.clone(), config, options.oidc, wake.clone())
        .with_live_directory(accord_server::live_directory::HubDirectory::new(
            hub.clone(),
        ));
    let worker = if options.no_worker {
        None
    } else {
        let mailer = match options.mailer {
            Some(m) => m,
            None => accord_notify::Mailer::file("Accord <accord@accord.test>", outbox.clone())?,
        };
        Some(tokio::spawn(accord_notify::worker::run(
            db.app.clone(),
            mailer,
            // As `accord serve` does: failed attempts show on /metrics.
            accord_notify::worker::WorkerConfig {
                failures: state.metrics().mail_failures().clone(),
                ..options.worker
            },
            wake,
            std::future::pending(),
        )))
    };
    // As `accord serve` does: the API's /metrics renders the SFU's after its own.
    state
        .metrics()
        .add_source(accord_server::live_directory::SfuMetrics::new(&hub));
    let router = accord_api::app_with(
        state,
        accord_api::Extra {
            limited: accord_sfu::ws::router(hub),
            open: Default::default(),
        },
    );
    let server = tokio::spawn(async move {
        let _ = accord_api::serve_router(listener, router, std::future::pending()).await;
    });
    Ok(TestApp {
        addr,
        media_addr,
        base_url,
        db,
        outbox,
        join_keys,
        outbox_dir,
        server,
        worker,
    })
}

impl TestApp {
    /// Creates an organization.
    pub async fn org(&self, slug: &str) -> anyhow::Result<OrgId> {
        Ok(orgs::create(
            &self.db.admin,
            &OrgSlug::parse(slug)?,
            &OrgName::parse(&format!("Org {slug}"))?,
        )
        .await?)
    }

    /// Creates an account in `org` with `role` and the password [`PASSWORD`].
    pub async fn member(&self, org: OrgId, email: &str, role: Role) -> anyhow::Result<UserId> {
        let mut tx = self.db.admin.system_tenant(org, None).await?;
        let invited = members::invite(
            &mut tx,
            &EmailAddress::parse(email)?,
            &DisplayName::parse(email.split('@').next().unwrap_or("someone"))?,
            role,
        )
        .await?;
        tx.commit().await?;
        let user = invited.member.user_id;
        if invited.new_account {
            let hash = accord_auth::password::hash_password(&PlainPassword::parse(PASSWORD)?)?;
            let mut utx = self.db.app.user(user).await?;
            accord_db::auth::set_password_hash(&mut utx, &hash).await?;
            utx.commit().await?;
        }
        Ok(user)
    }

    /// A client with an empty cookie jar.
    pub fn client(&self) -> Client {
        Client {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            base_url: self.base_url.clone(),
            csrf: None,
        }
    }

    /// Signs in with [`PASSWORD`] (into `org` when given) and returns the client.
    pub async fn sign_in(&self, email: &str, org: Option<&str>) -> anyhow::Result<Client> {
        let mut client = self.client();
        let mut body = json!({ "email": email, "password": PASSWORD });
        if let Some(org) = org {
            body["org"] = json!(org);
        }
        let response = client.post_json("/auth/sign-in", &body).await?;
        anyhow::ensure!(
            response.0 == 200,
            "sign-in of {email} failed: {:?}",
            response
        );
        client.csrf = response.1["csrfToken"].as_str().map(str::to_owned);
        Ok(client)
    }

    /// Every message in the outbox.
    pub fn messages(&self) -> Vec<OutboundMessage> {
        self.outbox.messages().unwrap_or_default()
    }

    /// Waits (up to 10 s) until no mail is due or being sent: everything the
    /// requests so far enqueued is in the outbox (or has failed).
    pub async fn settle_mail(&self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            // The owner's pool of a test cluster is a superuser's: it sees every org's jobs.
            let busy: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM jobs WHERE status IN ('pending', 'running') AND run_at <= now()",
            )
            .fetch_one(self.db.admin.pool())
            .await?;
            if busy == 0 {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{busy} mail jobs still due after 10 s"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Every mail in the outbox, with its HTML and calendar parts.
    pub fn mails(&self) -> Vec<accord_notify::Mail> {
        self.outbox.mails().unwrap_or_default()
    }

    /// Waits (up to 5 s) for a message to `to` to reach the outbox; some are
    /// sent after the request that caused them has been answered.
    pub async fn wait_for_message_to(&self, to: &str) -> anyhow::Result<OutboundMessage> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(m) = self.messages().into_iter().rev().find(|m| m.to == to) {
                return Ok(m);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "no message to {to} within 5 s"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// An HTTP client that keeps cookies and the session's CSRF token.
#[derive(Debug, Clone)]
pub struct Client {
    /// The underlying client (cookie store on, redirects off).
    pub http: reqwest::Client,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// The CSRF token from sign-in, sent on mutations.
    pub csrf: Option<String>,
}

impl Client {
    /// POSTs JSON with the CSRF header (when known); returns status and JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .json(body);
        if let Some(csrf) = &self.csrf {
            request = request.header("x-csrf-token", csrf);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, value))
    }

    /// Runs a GraphQL operation; returns the whole response body.
    pub async fn graphql(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let (_, body) = self
            .post_json(
                "/graphql",
                &json!({ "query": query, "variables": variables }),
            )
            .await?;
        Ok(body)
    }

    /// Runs a GraphQL operation that must succeed; returns `data`.
    pub async fn ok(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let body = self.graphql(query, variables).await?;
        anyhow::ensure!(body.get("errors").is_none(), "unexpected errors: {body}");
        Ok(body["data"].clone())
    }

    /// Runs a GraphQL operation that must fail; returns the first error's `extensions.code`.
    pub async fn error_code(&self, query: &str, variables: Value) -> anyhow::Result<String> {
        let body = self.graphql(query, variables).await?;
        body["errors"][0]["extensions"]["code"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("expected an error with a code, got {body}"))
    }
}

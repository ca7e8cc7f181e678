//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use accord_auth::oidc::OidcClient;
use accord_db::Db;
use url::Url;

use crate::graphql::AccordSchema;
use crate::live::LiveDirectory;

/// Per-client-IP limits on the sign-in, password and link routes.
#[derive(Debug, Clone, Copy)]
pub struct RateLimitConfig {
    /// Attempts a client may make at once.
    pub burst: u32,
    /// One more attempt is allowed after each period.
    pub replenish_every: Duration,
    /// How many trusted proxies append to `X-Forwarded-For` in front of the
    /// app; 0 keys on the TCP peer (see [`crate::client_ip::ClientKey`]).
    pub trusted_proxy_hops: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            burst: 10,
            replenish_every: Duration::from_secs(6),
            trusted_proxy_hops: 0,
        }
    }
}

/// Limits on `/graphql`: per client address (a layer in front of the route)
/// and per signed-in account (checked once the session is known). Each
/// allows `*_burst` requests at once, refilled at `*_per_second`; over it the
/// answer is `429 RATE_LIMITED` with `Retry-After`. The defaults are far
/// above what a person's portal asks for and below what one script could
/// take from everyone else; `scripts/bench-api` raises them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphqlLimits {
    /// Requests one client address may make at once.
    pub client_burst: u32,
    /// Requests per second one client address may sustain.
    pub client_per_second: u32,
    /// Requests one account may make at once.
    pub account_burst: u32,
    /// Requests per second one account may sustain.
    pub account_per_second: u32,
}

impl Default for GraphqlLimits {
    fn default() -> Self {
        GraphqlLimits {
            client_burst: 1200,
            client_per_second: 600,
            account_burst: 600,
            account_per_second: 300,
        }
    }
}

/// The per-account limiter and the limits it was built from.
pub(crate) struct AccountLimiter {
    pub(crate) limits: GraphqlLimits,
    pub(crate) limiter: governor::DefaultKeyedRateLimiter<accord_domain::UserId>,
    /// Checks so far; every few thousand, idle accounts are forgotten.
    checks: std::sync::atomic::AtomicU64,
}

impl AccountLimiter {
    fn new(limits: GraphqlLimits) -> Self {
        let quota = governor::Quota::per_second(
            std::num::NonZeroU32::new(limits.account_per_second.max(1))
                .unwrap_or(std::num::NonZeroU32::MIN),
        )
        .allow_burst(
            std::num::NonZeroU32::new(limits.account_burst.max(1))
                .unwrap_or(std::num::NonZeroU32::MIN),
        );
        AccountLimiter {
            limits,
            limiter: governor::RateLimiter::keyed(quota),
            checks: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// `Err(seconds to wait)` when `user` is over the limit.
    pub(crate) fn check(&self, user: accord_domain::UserId) -> Result<(), u64> {
        use governor::clock::Clock as _;
        let checks = self
            .checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if checks % 4096 == 4095 {
            // Without this every account ever seen would stay in memory.
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(&user).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            wait.as_secs().max(1)
        })
    }
}

/// The API's settings, built by the server from its layered configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Where users reach Accord; links in messages start with it.
    pub public_url: Url,
    /// The address mail is sent from (also the calendar entries' organizer).
    pub mail_from: String,
    /// Mark cookies `Secure` (and use the `__Host-` prefix). Off only for plain-http local development.
    pub secure_cookies: bool,
    /// Development conveniences: GraphiQL and introspection.
    pub dev_mode: bool,
    /// How long a web session lasts.
    pub session_ttl: Duration,
    /// How long a password-setup link (new account) stays valid.
    pub setup_link_ttl: Duration,
    /// How long a password-reset link stays valid.
    pub reset_link_ttl: Duration,
    /// Rate limits on the unauthenticated routes.
    pub rate_limit: RateLimitConfig,
    /// Keys that sign join tokens for the SFU.
    pub join_keys: accord_auth::join::JoinKeys,
    /// The built portals, `admin/` and `client/` inside (`portals/dist` relative to the working directory when unset).
    pub portal_dir: Option<std::path::PathBuf>,
    /// GraphiQL's scripts and styles for the development page at `GET /graphql`
    /// (`tools/graphiql/node_modules` relative to the working directory when unset).
    pub graphiql_dir: Option<std::path::PathBuf>,
}

/// Shared state of the HTTP app.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: Db,
    pub(crate) config: ApiConfig,
    pub(crate) oidc: Option<OidcClient>,
    /// Wakes the mail worker when a request has committed jobs.
    pub(crate) wake: accord_notify::worker::Wake,
    pub(crate) schema: AccordSchema,
    /// Documents parsed recently, by their text (see [`crate::graphql::DocumentCache`]).
    pub(crate) documents: crate::graphql::DocumentCache,
    /// Set once, by the server, when it runs the SFU in this process.
    pub(crate) live: std::sync::OnceLock<Arc<dyn LiveDirectory>>,
    /// `/graphql`'s limits; the defaults unless the server set others.
    pub(crate) graphql_limits: std::sync::OnceLock<Arc<AccountLimiter>>,
    /// The documents vault, set once by the server (absent: documents are off).
    pub(crate) vault: std::sync::OnceLock<accord_vault::Vault>,
    /// Wakes the vault's worker when a request has queued a scan.
    pub(crate) vault_wake: Arc<tokio::sync::Notify>,
    /// `/metrics`.
    pub(crate) metrics: Arc<crate::metrics::ApiMetrics>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Assembles the state; `oidc` is `None` when no identity provider is
    /// configured; `wake` is the mail worker's (see `accord_notify::worker`).
    pub fn new(
        db: Db,
        config: ApiConfig,
        oidc: Option<OidcClient>,
        wake: accord_notify::worker::Wake,
    ) -> Self {
        let schema = crate::graphql::build_schema(config.dev_mode);
        AppState {
            inner: Arc::new(Inner {
                db,
                config,
                oidc,
                wake,
                schema,
                documents: crate::graphql::DocumentCache::default(),
                live: std::sync::OnceLock::new(),
                graphql_limits: std::sync::OnceLock::new(),
                vault: std::sync::OnceLock::new(),
                vault_wake: Arc::new(tokio::sync::Notify::new()),
                metrics: Arc::new(crate::metrics::ApiMetrics::default()),
            }),
        }
    }

    /// The state with `live` as the source of live sessions (the SFU running
    /// in this process). Set once: a second directory is ignored.
    pub fn with_live_directory(self, live: Arc<dyn LiveDirectory>) -> Self {
        if self.inner.live.set(live).is_err() {
            tracing::warn!("a second live-session directory was offered; the first stays");
        }
        self
    }

    /// The state with `vault` storing documents. Set once: a second is ignored.
    pub fn with_vault(self, vault: accord_vault::Vault) -> Self {
        if self.inner.vault.set(vault).is_err() {
            tracing::warn!("a second documents vault was offered; the first stays");
        }
        self
    }

    /// Tells the vault's worker that jobs were committed.
    pub(crate) fn wake_vault(&self) {
        self.inner.vault_wake.notify_one();
    }

    /// The documents vault, when configured.
    pub fn vault(&self) -> Option<&accord_vault::Vault> {
        self.inner.vault.get()
    }

    /// The state with `limits` on `/graphql` (before [`crate::app`] builds
    /// the router). Set once: later ones are ignored.
    pub fn with_graphql_limits(self, limits: GraphqlLimits) -> Self {
        if self
            .inner
            .graphql_limits
            .set(Arc::new(AccountLimiter::new(limits)))
            .is_err()
        {
            tracing::warn!("GraphQL limits were set twice; the first stay");
        }
        self
    }

    /// `/graphql`'s limits and the per-account limiter.
    pub(crate) fn graphql_limiter(&self) -> &Arc<AccountLimiter> {
        let limiter = self
            .inner
            .graphql_limits
            .get_or_init(|| Arc::new(AccountLimiter::new(GraphqlLimits::default())));
        limiter
    }

    /// The API's metrics (`/metrics`); the server adds the SFU's when it
    /// runs one in this process.
    pub fn metrics(&self) -> &Arc<crate::metrics::ApiMetrics> {
        &self.inner.metrics
    }

    /// The database handle.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The settings.
    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    /// Tells the mail worker that jobs were committed.
    pub(crate) fn wake_mailer(&self) {
        self.inner.wake.notify_one();
    }
}

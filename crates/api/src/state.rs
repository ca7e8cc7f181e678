//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use accord_auth::oidc::OidcClient;
use accord_db::Db;
use url::Url;

use crate::graphql::AccordSchema;
use crate::outbox::Outbox;

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

/// The API's settings, built by the server from its layered configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Where users reach Accord; links in messages start with it.
    pub public_url: Url,
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
    /// The built session page (`portals/shared/dist` relative to the working directory when unset).
    pub portal_dir: Option<std::path::PathBuf>,
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
    pub(crate) outbox: Arc<dyn Outbox>,
    pub(crate) schema: AccordSchema,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Assembles the state; `oidc` is `None` when no identity provider is configured.
    pub fn new(
        db: Db,
        config: ApiConfig,
        oidc: Option<OidcClient>,
        outbox: Arc<dyn Outbox>,
    ) -> Self {
        let schema = crate::graphql::build_schema(config.dev_mode);
        AppState {
            inner: Arc::new(Inner {
                db,
                config,
                oidc,
                outbox,
                schema,
            }),
        }
    }

    /// The database handle.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The settings.
    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }
}

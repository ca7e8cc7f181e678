//! Typed, layered configuration: built-in defaults, then `accord.toml` (or the
//! file named by `--config`), then `ACCORD__SECTION__KEY` environment variables.
//! Unknown keys are refused by name, so a typo never silently falls back to a
//! default. Secrets are `SecretString`s: they print as `[REDACTED]`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

/// Everything the `accord` binary can be told.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Development conveniences (GraphiQL, introspection). Never in production.
    pub dev_mode: bool,
    /// HTTP listener and public address.
    pub http: HttpConfig,
    /// Postgres connections.
    pub database: DatabaseConfig,
    /// Sign-in and session lifetimes.
    pub auth: AuthConfig,
    /// Per-IP limits on sign-in and link routes.
    pub rate_limit: RateLimitSection,
    /// Staff sign-in through an OpenID Connect provider (optional).
    pub oidc: Option<OidcSection>,
    /// Where outgoing messages are written when `mail.transport` is `file`.
    pub outbox: OutboxConfig,
    /// Outgoing mail: transport, sender, queue worker.
    pub mail: MailSection,
    /// Keys that sign join tokens for the SFU.
    pub join_tokens: JoinTokensSection,
    /// The SFU's media port and the addresses clients reach it at.
    pub sfu: SfuSection,
    /// Logging.
    pub log: LogConfig,
    /// OpenTelemetry traces over OTLP/HTTP (off unless `otlp_endpoint` is set).
    #[serde(default)]
    pub telemetry: TelemetrySection,
    /// Redis, where several SFU nodes and the API meet (optional: one
    /// process needs none).
    #[serde(default)]
    pub redis: Option<crate::redis::RedisSection>,
    /// The documents vault: keys, object store, virus scanner.
    #[serde(default)]
    pub vault: accord_vault::config::VaultSettings,
}

/// Media settings. Every peer connection shares one UDP port.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SfuSection {
    /// The UDP address media is received on (open this port to clients).
    pub udp_bind: SocketAddr,
    /// Addresses announced to clients as the media port's IPs, for a host
    /// behind 1:1 NAT (a cloud VM's public IP). Empty: the bound address, or
    /// this host's primary address (and loopback) when bound to all interfaces.
    #[serde(default)]
    pub public_ips: Vec<std::net::IpAddr>,
    /// The TCP address for ICE-TCP, where networks block UDP (open it to
    /// clients too); unset: no ICE-TCP.
    #[serde(default)]
    pub tcp_bind: Option<SocketAddr>,
    /// TURN relays for clients whose network blocks UDP to the media port.
    #[serde(default)]
    pub turn: Option<TurnSection>,
    /// Estimate each receiver's bandwidth and choose simulcast layers from
    /// it (default). Off: layers follow the receiver's tile sizes only and
    /// nothing is paced; for measuring the forwarding path alone.
    #[serde(default = "default_true")]
    pub bandwidth_estimation: bool,
    /// How long a live session outlives its last participant (after their
    /// ten-second reconnection grace): its caucuses, timers, lock and
    /// removals then end, and the next to join starts a fresh one in the
    /// lobby. Default 120.
    #[serde(default = "default_idle_end")]
    pub live_session_idle_end_seconds: u64,
    /// With several SFU nodes (`[redis]`): where clients open this node's
    /// signaling socket, e.g. `wss://sfu-1.example.org/sfu/ws`; the API
    /// hands it out with join tokens for the sessions placed here. Default:
    /// `<http.public_url>/sfu/ws`. (`http.public_url` stays the
    /// deployment's address: join tokens name it as their issuer.)
    #[serde(default)]
    pub signaling_url: Option<Url>,
}

fn default_true() -> bool {
    true
}

fn default_idle_end() -> u64 {
    accord_sfu::hub::LIVE_SESSION_IDLE_END.as_secs()
}

/// coturn with `use-auth-secret`: clients get time-limited credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnSection {
    /// `turn:host:3478?transport=udp`, `turns:host:5349?transport=tcp`, `stun:…`.
    pub urls: Vec<String>,
    /// coturn's `static-auth-secret`.
    #[serde(serialize_with = "redacted")]
    pub secret: SecretString,
    /// How long credentials stay valid (default one hour).
    #[serde(default = "default_turn_ttl")]
    pub ttl_seconds: u64,
}

fn default_turn_ttl() -> u64 {
    3600
}

impl Default for SfuSection {
    fn default() -> Self {
        SfuSection {
            udp_bind: SocketAddr::from(([0, 0, 0, 0], 3479)),
            public_ips: Vec::new(),
            tcp_bind: Some(SocketAddr::from(([0, 0, 0, 0], 3479))),
            turn: None,
            bandwidth_estimation: true,
            live_session_idle_end_seconds: default_idle_end(),
            signaling_url: None,
        }
    }
}

/// HTTP settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The URL users reach Accord at (links in messages start with it).
    pub public_url: Url,
    /// The built portals, with `admin/` and `client/` inside (default:
    /// `portals/dist` in the working directory).
    #[serde(default)]
    pub portal_dir: Option<PathBuf>,
    /// GraphiQL's files for the development page at `GET /graphql` (default:
    /// `tools/graphiql/node_modules` in the working directory).
    #[serde(default)]
    pub graphiql_dir: Option<PathBuf>,
}

/// Database settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// The application's connection, as the `accord_app` role (no table
    /// ownership, no BYPASSRLS).
    #[serde(serialize_with = "redacted")]
    pub url: SecretString,
    /// The schema owner's connection, for `accord migrate` and operator commands.
    #[serde(serialize_with = "redacted_opt")]
    pub admin_url: Option<SecretString>,
    /// Most connections the server holds to Postgres (default 20). With
    /// Postgres on the server's own machine, about twice the machine's cores
    /// serves more requests: more backends than cores only take turns on
    /// them (docs/PERFORMANCE.md).
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
}

fn default_pool_size() -> u32 {
    accord_db::DEFAULT_POOL_SIZE
}

/// Sign-in settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Lifetime of a web session.
    pub session_ttl_hours: u64,
    /// Lifetime of a password-setup link for a new account.
    pub setup_link_ttl_hours: u64,
    /// Lifetime of a password-reset link.
    pub reset_link_ttl_minutes: u64,
    /// Mark cookies `Secure`; defaults to true unless `public_url` is plain http.
    pub secure_cookies: Option<bool>,
}

/// Rate-limit settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSection {
    /// Attempts one client address may make at once.
    pub burst: u32,
    /// One further attempt is allowed after this many milliseconds.
    pub replenish_ms: u64,
    /// How many trusted proxies append to `X-Forwarded-For` in front of Accord;
    /// 0 means clients connect directly and the header is ignored.
    pub trusted_proxy_hops: usize,
    /// `/graphql` requests per second one client address may sustain (twice
    /// as many at once).
    #[serde(default = "default_graphql_per_client")]
    pub graphql_per_client_per_second: u32,
    /// `/graphql` requests per second one signed-in account may sustain
    /// (twice as many at once).
    #[serde(default = "default_graphql_per_account")]
    pub graphql_per_account_per_second: u32,
}

fn default_graphql_per_client() -> u32 {
    accord_api::GraphqlLimits::default().client_per_second
}

fn default_graphql_per_account() -> u32 {
    accord_api::GraphqlLimits::default().account_per_second
}

impl RateLimitSection {
    /// The limits on `/graphql`.
    pub fn graphql_limits(&self) -> accord_api::GraphqlLimits {
        accord_api::GraphqlLimits {
            client_burst: self.graphql_per_client_per_second.saturating_mul(2),
            client_per_second: self.graphql_per_client_per_second,
            account_burst: self.graphql_per_account_per_second.saturating_mul(2),
            account_per_second: self.graphql_per_account_per_second,
        }
    }
}

/// OpenID Connect settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSection {
    /// The provider's issuer URL (discovery at `/.well-known/openid-configuration`).
    pub issuer_url: Url,
    /// This client's id at the provider.
    pub client_id: String,
    /// This client's secret at the provider.
    #[serde(serialize_with = "redacted")]
    pub client_secret: SecretString,
    /// Where the provider sends browsers back; defaults to `<public_url>/auth/oidc/callback`.
    pub redirect_url: Option<Url>,
}

/// Join-token signing keys, newest first: the first signs, all verify, so a
/// key is rotated by putting a new one first and dropping the old one once its
/// tokens (two minutes) are gone. Every node must have the same list. With none,
/// each start makes a key of its own, which suits a single node only.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinTokensSection {
    /// The keys.
    pub keys: Vec<JoinKeySection>,
}

/// One join-token signing key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinKeySection {
    /// Key id, e.g. `2026-11`.
    pub kid: String,
    /// P-256 private key, PKCS#8 PEM (`openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`).
    #[serde(serialize_with = "redacted")]
    pub pem: SecretString,
}

/// Outbox settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Directory of message files.
    pub dir: PathBuf,
}

/// Outgoing mail.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSection {
    /// `file` (the outbox directory, the default) or `smtp`.
    pub transport: MailTransport,
    /// The sender address (`Name <addr>` or `addr`), also the calendar organizer.
    pub from: String,
    /// How often the worker looks at the queue when not woken, in milliseconds.
    pub poll_interval_ms: u64,
    /// How long a claimed job is the worker's before another may retry it, in
    /// seconds: after a crash, a message is retried (and possibly sent twice)
    /// once this has passed.
    pub lease_seconds: u64,
    /// The SMTP server, for `transport = "smtp"`.
    pub smtp: Option<SmtpSection>,
}

/// Which transport sends mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// Files in `outbox.dir`.
    File,
    /// An SMTP server (`[mail.smtp]`).
    Smtp,
}

/// An SMTP server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSection {
    /// Host name.
    pub host: String,
    /// Port (587 for STARTTLS, 465 for TLS).
    pub port: u16,
    /// `starttls` (default), `tls`, or `none` (a relay on this host or a test server only).
    #[serde(default = "default_smtp_security")]
    pub security: accord_notify::SmtpSecurity,
    /// User name for AUTH.
    pub username: Option<String>,
    /// Password for AUTH.
    #[serde(default, serialize_with = "redacted_opt")]
    pub password: Option<SecretString>,
    /// Connect and command timeout, in seconds.
    #[serde(default = "default_smtp_timeout")]
    pub timeout_seconds: u64,
}

fn default_smtp_security() -> accord_notify::SmtpSecurity {
    accord_notify::SmtpSecurity::Starttls
}

fn default_smtp_timeout() -> u64 {
    20
}

/// Logging settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `tracing` filter, e.g. `info,accord_api=debug`.
    pub filter: String,
    /// One JSON object per line instead of text.
    pub json: bool,
}

/// OpenTelemetry traces. Nothing is exported unless `otlp_endpoint` is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySection {
    /// The collector's OTLP/HTTP address, e.g. `http://otel-collector:4318`:
    /// spans are posted (protobuf) to `/v1/traces` under it, or to the URL
    /// as given when it already ends in `/v1/traces`. Unset: off.
    #[serde(default)]
    pub otlp_endpoint: Option<Url>,
    /// `service.name` of every span (default `accord`).
    #[serde(default = "default_service_name")]
    pub service_name: String,
    /// The share of traces kept, from 0 to 1 (default 1: all).
    #[serde(default = "default_sample_ratio")]
    pub sample_ratio: f64,
}

fn default_service_name() -> String {
    "accord".into()
}

fn default_sample_ratio() -> f64 {
    1.0
}

impl Default for TelemetrySection {
    fn default() -> Self {
        TelemetrySection {
            otlp_endpoint: None,
            service_name: default_service_name(),
            sample_ratio: default_sample_ratio(),
        }
    }
}

impl TelemetrySection {
    /// Where spans are posted: `otlp_endpoint` with `/v1/traces` appended
    /// unless it is there already. `None` when telemetry is off.
    pub fn traces_url(&self) -> Option<Url> {
        let mut url = self.otlp_endpoint.clone()?;
        if !url.path().ends_with("/v1/traces") {
            let path = format!("{}/v1/traces", url.path().trim_end_matches('/'));
            url.set_path(&path);
        }
        Some(url)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.otlp_endpoint {
            if !matches!(url.scheme(), "http" | "https") {
                return Err(ConfigError(format!(
                    "telemetry.otlp_endpoint must be an http:// or https:// URL (OTLP over \
                     HTTP, e.g. http://otel-collector:4318), not {url}"
                )));
            }
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(ConfigError(format!(
                "telemetry.sample_ratio must be between 0 and 1, not {}",
                self.sample_ratio
            )));
        }
        if self.service_name.trim().is_empty() {
            return Err(ConfigError(
                "telemetry.service_name must not be empty".into(),
            ));
        }
        Ok(())
    }
}

/// The bare address of `Name <addr>` (or `addr`).
fn mail_address(from: &str) -> String {
    match (from.rfind('<'), from.rfind('>')) {
        (Some(a), Some(b)) if a < b => from[a + 1..b].trim().to_owned(),
        _ => from.trim().to_owned(),
    }
}

impl Config {
    /// The mailer `mail.transport` names.
    pub fn mailer(&self) -> anyhow::Result<accord_notify::Mailer> {
        use anyhow::Context as _;
        Ok(match self.mail.transport {
            MailTransport::File => {
                let outbox =
                    accord_notify::FileOutbox::new(&self.outbox.dir).with_context(|| {
                        format!(
                            "creating the outbox directory {}",
                            self.outbox.dir.display()
                        )
                    })?;
                accord_notify::Mailer::file(&self.mail.from, outbox).context("mail.from")?
            }
            MailTransport::Smtp => {
                let smtp = self
                    .mail
                    .smtp
                    .as_ref()
                    .context("mail.transport is smtp but [mail.smtp] is missing")?;
                accord_notify::Mailer::smtp(
                    &self.mail.from,
                    &accord_notify::SmtpSettings {
                        host: smtp.host.clone(),
                        port: smtp.port,
                        security: smtp.security,
                        username: smtp.username.clone(),
                        password: smtp.password.clone(),
                        timeout: Duration::from_secs(smtp.timeout_seconds),
                    },
                )
                .context("mail settings")?
            }
        })
    }

    /// The mail worker's settings.
    pub fn worker(&self) -> accord_notify::worker::WorkerConfig {
        accord_notify::worker::WorkerConfig {
            poll_interval: Duration::from_millis(self.mail.poll_interval_ms.max(50)),
            lease: Duration::from_secs(self.mail.lease_seconds.max(10)),
            ..accord_notify::worker::WorkerConfig::default()
        }
    }
}

fn redacted<S: serde::Serializer>(_: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("[REDACTED]")
}

fn redacted_opt<S: serde::Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_str("[REDACTED]"),
        None => s.serialize_none(),
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dev_mode: false,
            http: HttpConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
                public_url: Url::parse("http://127.0.0.1:8080/")
                    .unwrap_or_else(|_| unreachable_url()),
                portal_dir: None,
                graphiql_dir: None,
            },
            database: DatabaseConfig {
                url: SecretString::from("postgres://accord_app@127.0.0.1:5432/accord"),
                admin_url: None,
                pool_size: default_pool_size(),
            },
            auth: AuthConfig {
                session_ttl_hours: 12,
                setup_link_ttl_hours: 72,
                reset_link_ttl_minutes: 30,
                secure_cookies: None,
            },
            rate_limit: RateLimitSection {
                burst: 10,
                replenish_ms: 6000,
                trusted_proxy_hops: 0,
                graphql_per_client_per_second: default_graphql_per_client(),
                graphql_per_account_per_second: default_graphql_per_account(),
            },
            oidc: None,
            outbox: OutboxConfig {
                dir: PathBuf::from(".data/outbox"),
            },
            mail: MailSection {
                transport: MailTransport::File,
                from: "Accord <accord@localhost>".into(),
                poll_interval_ms: 5000,
                lease_seconds: 300,
                smtp: None,
            },
            join_tokens: JoinTokensSection::default(),
            sfu: SfuSection::default(),
            log: LogConfig {
                filter: "info".into(),
                json: false,
            },
            telemetry: TelemetrySection::default(),
            redis: None,
            vault: accord_vault::config::VaultSettings::default(),
        }
    }
}

fn unreachable_url() -> Url {
    // The default public URL above is a valid literal; this is never reached.
    Url::parse("http://127.0.0.1/").unwrap_or_else(|_| unreachable_url())
}

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Loads defaults, then `file` (when it exists; an explicitly named file must
    /// exist), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) if !path.exists() => {
                return Err(ConfigError(format!(
                    "the file {} does not exist",
                    path.display()
                )))
            }
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new("accord.toml").exists() => {
                figment = figment.merge(Toml::file_exact("accord.toml"))
            }
            None => {}
        }
        Self::extract(figment.merge(Env::prefixed("ACCORD__").split("__")))
    }

    fn extract(figment: Figment) -> Result<Config, ConfigError> {
        let config: Config = figment.extract().map_err(|e| {
            // figment names the offending key and where it came from.
            ConfigError(e.to_string())
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !matches!(self.http.public_url.scheme(), "http" | "https") {
            return Err(ConfigError("http.public_url must be an http(s) URL".into()));
        }
        if self.rate_limit.burst == 0 || self.rate_limit.replenish_ms == 0 {
            return Err(ConfigError(
                "rate_limit.burst and rate_limit.replenish_ms must be positive".into(),
            ));
        }
        if self.auth.session_ttl_hours == 0
            || self.auth.setup_link_ttl_hours == 0
            || self.auth.reset_link_ttl_minutes == 0
        {
            return Err(ConfigError("auth lifetimes must be positive".into()));
        }
        self.telemetry.validate()?;
        self.vault
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        Ok(())
    }

    /// Whether cookies get `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.auth
            .secure_cookies
            .unwrap_or(self.http.public_url.scheme() == "https")
    }

    /// The API's view of this configuration.
    pub fn api(&self) -> Result<accord_api::ApiConfig, ConfigError> {
        let issuer = self.http.public_url.as_str().trim_end_matches('/');
        let join_keys = if self.join_tokens.keys.is_empty() {
            tracing::warn!(
                "no join_tokens.keys configured: join tokens are signed with a key made at start, \
                 valid on this node only"
            );
            accord_auth::join::JoinKeys::generate(issuer, "ephemeral")
        } else {
            let keys: Vec<(String, String)> = self
                .join_tokens
                .keys
                .iter()
                .map(|k| (k.kid.clone(), k.pem.expose_secret().to_owned()))
                .collect();
            accord_auth::join::JoinKeys::from_pem(issuer, &keys)
                .map_err(|e| ConfigError(e.to_string()))?
        };
        Ok(accord_api::ApiConfig {
            public_url: self.http.public_url.clone(),
            mail_from: mail_address(&self.mail.from),
            secure_cookies: self.secure_cookies(),
            dev_mode: self.dev_mode,
            session_ttl: Duration::from_secs(self.auth.session_ttl_hours * 3600),
            setup_link_ttl: Duration::from_secs(self.auth.setup_link_ttl_hours * 3600),
            reset_link_ttl: Duration::from_secs(self.auth.reset_link_ttl_minutes * 60),
            rate_limit: accord_api::RateLimitConfig {
                burst: self.rate_limit.burst,
                replenish_every: Duration::from_millis(self.rate_limit.replenish_ms),
                trusted_proxy_hops: self.rate_limit.trusted_proxy_hops,
            },
            join_keys,
            portal_dir: self.http.portal_dir.clone(),
            graphiql_dir: self.http.graphiql_dir.clone(),
        })
    }

    /// The redirect URL registered at the identity provider.
    pub fn oidc_redirect_url(&self, oidc: &OidcSection) -> Url {
        oidc.redirect_url.clone().unwrap_or_else(|| {
            let mut url = self.http.public_url.clone();
            url.set_path("/auth/oidc/callback");
            url
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_toml(toml: &str) -> Result<Config, ConfigError> {
        Config::extract(
            Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(toml)),
        )
    }

    #[test]
    fn defaults_are_valid() {
        let c = load_toml("").unwrap();
        assert!(!c.secure_cookies(), "plain-http localhost default");
        assert!(!c.dev_mode);
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err = load_toml("[http]\nlisten = \"127.0.0.1:1\"\npublik_url = \"http://x/\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("publik_url"), "{err}");
        let err = load_toml("[databse]\nurl = \"postgres://x\"\n").unwrap_err();
        assert!(err.to_string().contains("databse"), "{err}");
    }

    #[test]
    fn the_pool_size_defaults_to_the_librarys_and_can_be_set() {
        assert_eq!(
            load_toml("").unwrap().database.pool_size,
            accord_db::DEFAULT_POOL_SIZE
        );
        let c =
            load_toml("[database]\nurl = \"postgres://app@db/accord\"\npool_size = 4\n").unwrap();
        assert_eq!(c.database.pool_size, 4);
        assert!(
            load_toml("[database]\npool_size = -1\n").is_err(),
            "not a size"
        );
    }

    #[test]
    fn secrets_never_print() {
        let c = load_toml("[database]\nurl = \"postgres://app:hunter2@db/accord\"\n").unwrap();
        let debug = format!("{c:?}");
        let json = serde_json::to_string(&c).unwrap();
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!json.contains("hunter2"), "{json}");
    }

    #[test]
    fn redis_is_optional_and_its_password_never_prints() {
        assert!(
            load_toml("").unwrap().redis.is_none(),
            "one process by default"
        );
        let c = load_toml(
            "[redis]\nurl = \"rediss://:hunter2@cache.internal:6379\"\n\n\
             [sfu]\nudp_bind = \"0.0.0.0:3479\"\nsignaling_url = \"wss://sfu-1.example.org/sfu/ws\"\n",
        )
        .unwrap();
        let redis = c.redis.as_ref().expect("[redis] read");
        assert_eq!(redis.key_prefix, "accord");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(
            c.sfu.signaling_url.as_ref().map(|u| u.as_str()),
            Some("wss://sfu-1.example.org/sfu/ws")
        );
        let err = load_toml("[redis]\nurl = \"redis://x\"\nkey_prefx = \"a\"\n").unwrap_err();
        assert!(err.to_string().contains("key_prefx"), "{err}");
        assert_eq!(
            crate::redis::signaling_url(&url::Url::parse("https://accord.example/base").unwrap()),
            "wss://accord.example/base/sfu/ws"
        );
    }

    #[test]
    fn telemetry_is_off_by_default_and_checked_when_on() {
        let c = load_toml("").unwrap();
        assert!(c.telemetry.traces_url().is_none(), "off by default");
        assert_eq!(c.telemetry.service_name, "accord");
        assert_eq!(c.telemetry.sample_ratio, 1.0);

        let c = load_toml(
            "[telemetry]\notlp_endpoint = \"http://collector:4318\"\nsample_ratio = 0.25\n",
        )
        .unwrap();
        assert_eq!(
            c.telemetry.traces_url().unwrap().as_str(),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(c.telemetry.sample_ratio, 0.25);
        let c = load_toml("[telemetry]\notlp_endpoint = \"https://otel.example/base/v1/traces\"\n")
            .unwrap();
        assert_eq!(
            c.telemetry.traces_url().unwrap().as_str(),
            "https://otel.example/base/v1/traces"
        );

        for (toml, says) in [
            ("sample_ratio = 1.5", "telemetry.sample_ratio"),
            ("sample_ratio = -0.1", "telemetry.sample_ratio"),
            (
                "otlp_endpoint = \"grpc://collector:4317\"",
                "telemetry.otlp_endpoint",
            ),
            ("otlp_endpoint = \"not a url\"", "otlp_endpoint"),
            ("service_name = \" \"", "telemetry.service_name"),
            ("otlp_endpont = \"http://x\"", "otlp_endpont"),
        ] {
            let err = load_toml(&format!("[telemetry]\n{toml}\n")).unwrap_err();
            assert!(err.to_string().contains(says), "{toml}: {err}");
        }
    }

    #[test]
    // figment::Jail's closure must return figment's own (large) error type.
    #[allow(clippy::result_large_err)]
    fn telemetry_is_configured_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ACCORD__TELEMETRY__OTLP_ENDPOINT", "http://127.0.0.1:4318");
            jail.set_env("ACCORD__TELEMETRY__SERVICE_NAME", "accord-eu-1");
            jail.set_env("ACCORD__TELEMETRY__SAMPLE_RATIO", "0.5");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(
                c.telemetry.traces_url().map(|u| u.to_string()),
                Some("http://127.0.0.1:4318/v1/traces".to_owned())
            );
            assert_eq!(c.telemetry.service_name, "accord-eu-1");
            assert_eq!(c.telemetry.sample_ratio, 0.5);
            Ok(())
        });
    }

    #[test]
    fn https_public_url_makes_cookies_secure() {
        let c = load_toml(
            "[http]\nlisten = \"0.0.0.0:8080\"\npublic_url = \"https://accord.example\"\n",
        )
        .unwrap();
        assert!(c.secure_cookies());
        let c =
            load_toml("[http]\nlisten = \"0.0.0.0:8080\"\npublic_url = \"ftp://x\"\n").unwrap_err();
        assert!(c.to_string().contains("public_url"));
    }

    #[test]
    // figment::Jail's closure must return figment's own (large) error type.
    #[allow(clippy::result_large_err)]
    fn environment_overrides_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "accord.toml",
                "[rate_limit]\nburst = 3\nreplenish_ms = 100\ntrusted_proxy_hops = 1\n",
            )?;
            jail.set_env("ACCORD__RATE_LIMIT__BURST", "7");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.rate_limit.burst, 7);
            assert_eq!(c.rate_limit.replenish_ms, 100);
            Ok(())
        });
    }
}

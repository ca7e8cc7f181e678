//! The command line: `serve` runs the HTTP API; `migrate` applies the schema as
//! its owner; `admin` creates organizations and accounts; `audit verify` checks
//! an org's hash chain; `dev` migrates, seeds a demo org and serves, for local
//! development; `graphql-schema` prints the schema the API serves.

use std::path::PathBuf;
use std::sync::Arc;

use accord_auth::oidc::{OidcClient, OidcConfig};
use accord_db::auth::LinkPurpose;
use accord_db::{audit, lookup, members, orgs, AdminDb, Db};
use accord_domain::{DisplayName, EmailAddress, OrgName, OrgSlug, Role};
use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use sqlx::migrate::MigrateDatabase;

use crate::config::Config;
use crate::seed;

#[derive(Parser, Debug)]
#[command(name = "accord", version, about = "Confidential online mediation")]
pub struct Cli {
    /// Configuration file (default: ./accord.toml when present).
    #[arg(long, global = true, env = "ACCORD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the HTTP API and the SFU (or one of them).
    Serve {
        /// Run only this part: `api` (HTTP API and portals) or `sfu`
        /// (signaling, media port and /metrics).
        #[arg(long, value_parser = ["api", "sfu"])]
        only: Option<String>,
    },
    /// Create the database if needed and apply pending migrations (as the schema owner).
    Migrate,
    /// Operator commands.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Audit log commands.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Migrate, seed the demo organization (once), print the logins, and serve.
    Dev,
    /// Print the GraphQL schema (SDL) served by the API.
    GraphqlSchema,
    /// Print the TypeScript types of the SFU's signaling messages.
    ProtocolTypes,
    /// Documents vault commands.
    Vault {
        #[command(subcommand)]
        command: VaultCommand,
    },
    /// Agreement commands.
    Agreement {
        #[command(subcommand)]
        command: AgreementCommand,
    },
}

#[derive(Subcommand, Debug)]
enum AgreementCommand {
    /// Check an agreement offline: its stored text decrypts, its hash is the
    /// one sent for signature, and every signature is by the person's
    /// registered device over that hash, their typed name and time; says who
    /// signed with which device. Exits 1 on any problem.
    Verify {
        /// The agreement's id.
        id: uuid::Uuid,
        /// The organization's slug.
        #[arg(long)]
        org: String,
    },
}

#[derive(Subcommand, Debug)]
enum VaultCommand {
    /// Check every stored object of an organization against its database row
    /// (present, length, header, first segment decrypts) and list orphans;
    /// exits 1 when anything is wrong.
    Verify {
        /// The organization's slug.
        #[arg(long)]
        org: String,
    },
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Create an organization.
    CreateOrg {
        /// Short name used at sign-in, e.g. `northside-mediation`.
        #[arg(long)]
        slug: String,
        /// Display name.
        #[arg(long)]
        name: String,
    },
    /// Create an account in an organization and print its one-time password-setup link.
    CreateUser {
        /// The organization's slug.
        #[arg(long)]
        org: String,
        /// Email address.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// org_admin, mediator, party or observer. Without it the account is an
        /// observer, the least privilege, and the command says so.
        #[arg(long)]
        role: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Check an organization's audit chain; exits 1 when anything was edited, deleted or reordered.
    Verify {
        /// The organization's slug.
        #[arg(long)]
        org: String,
    },
}

fn admin_url(config: &Config) -> String {
    config
        .database
        .admin_url
        .as_ref()
        .unwrap_or(&config.database.url)
        .expose_secret()
        .to_owned()
}

async fn admin_db(config: &Config) -> anyhow::Result<AdminDb> {
    AdminDb::connect(&admin_url(config))
        .await
        .context("connecting to Postgres as the schema owner (database.admin_url)")
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    let url = admin_url(config);
    if !sqlx::Postgres::database_exists(&url)
        .await
        .context("checking that the database exists (database.admin_url)")?
    {
        sqlx::Postgres::create_database(&url)
            .await
            .context("creating the database")?;
    }
    admin_db(config)
        .await?
        .migrate()
        .await
        .context("applying migrations")?;
    Ok(())
}

async fn org_id(db: &AdminDb, slug: &str) -> anyhow::Result<accord_domain::OrgId> {
    let slug = OrgSlug::parse(slug)?;
    let app = Db::from_pool(db.pool().clone());
    lookup::org_by_slug(&app, &slug)
        .await?
        .with_context(|| format!("no organization has the slug {}", slug.as_str()))
}

/// Adds someone to the transaction's org (creating the account if needed) and
/// records it in the audit log, as the API's `inviteMember` does.
pub async fn invite(
    tx: &mut accord_db::TenantTx,
    email: &EmailAddress,
    name: &DisplayName,
    role: Role,
) -> anyhow::Result<members::Invited> {
    let invited = members::invite(tx, email, name, role).await?;
    let user = invited.member.user_id.as_uuid();
    audit::append(tx, "member.invite", "user", Some(user)).await?;
    Ok(invited)
}

/// Creates an account in `org` and returns its password-setup link.
pub async fn create_user(
    db: &AdminDb,
    config: &Config,
    org: accord_domain::OrgId,
    email: &EmailAddress,
    name: &DisplayName,
    role: Role,
) -> anyhow::Result<String> {
    let mut tx = db.system_tenant(org, None).await?;
    let invited = invite(&mut tx, email, name, role).await?;
    let link = accord_api::create_password_link(
        tx.conn(),
        &config.http.public_url,
        invited.member.user_id,
        LinkPurpose::Setup,
        std::time::Duration::from_secs(config.auth.setup_link_ttl_hours * 3600),
    )
    .await?;
    tx.commit().await?;
    Ok(link)
}

/// Which parts a process serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parts {
    All,
    Api,
    Sfu,
}

async fn serve(config: &Config, parts: Parts) -> anyhow::Result<()> {
    let db = Db::connect_sized(
        config.database.url.expose_secret(),
        config.database.pool_size,
    )
    .await
    .context("connecting to Postgres as the application role (database.url)")?;
    let api = config.api()?;
    let mut extra = accord_api::Extra::default();
    let mut live = None;
    let mut sfu_metrics = None;
    let redis = match &config.redis {
        Some(section) => Some(crate::redis::Redis::connect(section).await?),
        None => None,
    };
    if parts != Parts::Api {
        let media = media_socket(&config.sfu)?;
        tracing::info!(
            address = %media.local,
            candidates = ?media.config.udp_candidates,
            tcp = ?media.tcp_local,
            "media port open"
        );
        let options = accord_sfu::hub::HubOptions {
            idle_end: std::time::Duration::from_secs(config.sfu.live_session_idle_end_seconds),
        };
        let hub = accord_sfu::hub::Hub::with_options(
            Arc::new(crate::live_store::DbLiveStore::new(db.clone())),
            api.join_keys.clone(),
            media,
            options,
        );
        // One node among several: announced in Redis, serving the sessions
        // placed on it.
        if let Some(redis) = &redis {
            let node = crate::redis::SfuNode::new(
                redis.clone(),
                match &config.sfu.signaling_url {
                    Some(url) => url.to_string(),
                    None => crate::redis::signaling_url(&config.http.public_url),
                },
            );
            tracing::info!(node = %node.id(), "SFU node registered in Redis");
            hub.set_registry(node.clone());
            accord_sfu::registry::spawn_heartbeat(hub.clone(), node);
        }
        extra = accord_api::Extra {
            limited: accord_sfu::ws::router(hub.clone()),
            // Alone, a node serves its own /metrics; beside the API, the
            // API's /metrics renders the SFU's after its own.
            open: if parts == Parts::Sfu {
                accord_sfu::ws::metrics_router(hub.clone())
            } else {
                Default::default()
            },
        };
        sfu_metrics = Some(crate::live_directory::SfuMetrics::new(&hub));
        // The API reads who is in which live session from the hub in this
        // process; with `--only api` its sessions read as not live.
        live = Some(crate::live_directory::HubDirectory::new(hub));
    }
    // The SFU alone builds no API state: no GraphQL schema, no identity
    // provider, no mail worker.
    let (stop_worker, worker_stopped) = tokio::sync::watch::channel(false);
    let mut worker = None;
    let mut vault_worker = None;
    let router = if parts == Parts::Sfu {
        accord_api::extra_app(api.rate_limit, extra)
    } else {
        let oidc = match &config.oidc {
            Some(o) => Some(
                OidcClient::discover(OidcConfig {
                    issuer_url: o.issuer_url.clone(),
                    client_id: o.client_id.clone(),
                    client_secret: o.client_secret.clone(),
                    redirect_url: config.oidc_redirect_url(o),
                })
                .await
                .context("discovering the OIDC provider (oidc.issuer_url)")?,
            ),
            None => None,
        };
        let mailer = config.mailer()?;
        let wake = accord_notify::worker::Wake::default();
        let mut state = accord_api::AppState::new(db.clone(), api, oidc, wake.clone())
            .with_graphql_limits(config.rate_limit.graphql_limits());
        let mut stopped = worker_stopped.clone();
        worker = Some(tokio::spawn(accord_notify::worker::run(
            db,
            mailer,
            accord_notify::worker::WorkerConfig {
                // Failed attempts show on the API's /metrics.
                failures: state.metrics().mail_failures().clone(),
                ..config.worker()
            },
            wake,
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            },
        )));
        if let Some(sfu) = sfu_metrics {
            state.metrics().add_source(sfu);
        }
        if let Some(live) = crate::placement::directory(live, redis) {
            state = state.with_live_directory(live);
        }
        if let Some(vault) = config
            .vault
            .build()
            .await
            .context("the documents vault ([vault])")?
        {
            state = state.with_vault(vault);
            let mut stopped = worker_stopped.clone();
            vault_worker = Some(tokio::spawn(accord_api::documents::run_worker(
                state.clone(),
                accord_api::documents::WorkerConfig::default(),
                async move {
                    let _ = stopped.wait_for(|s| *s).await;
                },
            )));
        }
        accord_api::app_with(state, extra)
    };
    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("listening on {}", config.http.listen))?;
    tracing::info!(address = %listener.local_addr()?, parts = ?parts, "serving");
    let served = accord_api::serve_router(listener, router, shutdown_signal()).await;
    // The worker finishes the message in hand (so it is marked as sent), then stops.
    let _ = stop_worker.send(true);
    if let Some(worker) = worker {
        if tokio::time::timeout(std::time::Duration::from_secs(30), worker)
            .await
            .is_err()
        {
            tracing::warn!("the mail worker did not stop within 30 s");
        }
    }
    if let Some(w) = vault_worker {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), w).await;
    }
    served?;
    Ok(())
}

/// The media port as configured: UDP, ICE-TCP when `tcp_bind` is set, and
/// TURN relays for clients when `[sfu.turn]` is.
fn media_socket(sfu: &crate::config::SfuSection) -> anyhow::Result<accord_sfu::udp::MediaSocket> {
    let mut media = accord_sfu::udp::MediaSocket::bind(sfu.udp_bind, &sfu.public_ips)
        .with_context(|| format!("binding the media port {} (sfu.udp_bind)", sfu.udp_bind))?
        .with_bandwidth_estimation(sfu.bandwidth_estimation);
    if let Some(tcp) = sfu.tcp_bind {
        media = media
            .with_tcp(tcp)
            .with_context(|| format!("binding the ICE-TCP port {tcp} (sfu.tcp_bind)"))?;
    }
    if let Some(turn) = &sfu.turn {
        media = media.with_turn(accord_sfu_core::turn::TurnConfig {
            urls: turn.urls.clone(),
            secret: turn.secret.clone(),
            ttl_seconds: turn.ttl_seconds,
        });
    }
    Ok(media)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::GraphqlSchema = cli.command {
        print!("{}", accord_api::schema_sdl());
        return Ok(());
    }
    if let Command::ProtocolTypes = cli.command {
        print!("{}", accord_sfu_core::protocol::typescript());
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref())?;
    let telemetry = crate::telemetry::init(&config.log, &config.telemetry)?;
    let result = run_command(cli.command, &config).await;
    // Whatever the outcome, the spans still queued are sent before exit.
    telemetry.shutdown().await;
    result
}

async fn run_command(command: Command, config: &Config) -> anyhow::Result<()> {
    match command {
        Command::GraphqlSchema | Command::ProtocolTypes => {}
        Command::Serve { only } => {
            let parts = match only.as_deref() {
                Some("api") => Parts::Api,
                Some("sfu") => Parts::Sfu,
                _ => Parts::All,
            };
            serve(config, parts).await?
        }
        Command::Migrate => {
            migrate(config).await?;
            println!("migrations applied");
        }
        Command::Admin { command } => {
            let db = admin_db(config).await?;
            match command {
                AdminCommand::CreateOrg { slug, name } => {
                    let id =
                        orgs::create(&db, &OrgSlug::parse(&slug)?, &OrgName::parse(&name)?).await?;
                    println!("created organization {slug} ({id})");
                }
                AdminCommand::CreateUser {
                    org,
                    email,
                    name,
                    role,
                } => {
                    let org_id = org_id(&db, &org).await?;
                    let role: Role = match role {
                        Some(role) => role.parse()?,
                        None => {
                            eprintln!(
                                "no --role given: the account is an observer, the least privilege \
                                 (choose with --role org_admin, mediator, party or observer)"
                            );
                            Role::Observer
                        }
                    };
                    let link = create_user(
                        &db,
                        config,
                        org_id,
                        &EmailAddress::parse(&email)?,
                        &DisplayName::parse(&name)?,
                        role,
                    )
                    .await?;
                    println!("created account; send this one-time password-setup link to its owner:\n{link}");
                }
            }
        }
        Command::Audit {
            command: AuditCommand::Verify { org },
        } => {
            let db = admin_db(config).await?;
            let org_id = org_id(&db, &org).await?;
            let mut tx = db.system_tenant(org_id, None).await?;
            let report = audit::verify(&mut tx).await?;
            tx.commit().await?;
            if report.problems.is_empty() {
                println!("audit chain of {org} is intact ({} events)", report.events);
            } else {
                for p in &report.problems {
                    println!("{p}");
                }
                bail!(
                    "audit chain of {org} is broken: {} problem(s) in {} events",
                    report.problems.len(),
                    report.events
                );
            }
        }
        Command::Vault {
            command: VaultCommand::Verify { org },
        } => {
            let admin = admin_db(config).await?;
            let org_id = org_id(&admin, &org).await?;
            let vault = config
                .vault
                .build()
                .await?
                .context("the vault is disabled ([vault] enabled = false)")?;
            let db = Db::connect(config.database.url.expose_secret())
                .await
                .context("connecting to Postgres as the application role (database.url)")?;
            let report = accord_api::documents::verify(&db, &vault, org_id).await?;
            print!("{report}");
            if !report.is_clean() {
                bail!("the vault of {org} has problems");
            }
        }
        Command::Agreement {
            command: AgreementCommand::Verify { id, org },
        } => {
            let admin = admin_db(config).await?;
            let org_id = org_id(&admin, &org).await?;
            let vault = config
                .vault
                .build()
                .await?
                .context("the vault is disabled ([vault] enabled = false)")?;
            let db = Db::connect(config.database.url.expose_secret())
                .await
                .context("connecting to Postgres as the application role (database.url)")?;
            let report = accord_api::graphql::agreements::verify(&db, &vault, org_id, id).await?;
            print!("{report}");
            if !report.is_clean() {
                bail!("agreement {id} does not verify");
            }
        }
        Command::Dev => {
            migrate(config).await?;
            let db = admin_db(config).await?;
            let logins = seed::demo(&db).await?;
            seed::print_banner(config, &logins);
            serve(config, Parts::All).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{SfuSection, TurnSection};

    #[tokio::test]
    async fn the_media_settings_reach_the_media_socket() {
        let sfu = SfuSection {
            udp_bind: "127.0.0.1:0".parse().unwrap(),
            public_ips: vec!["203.0.113.10".parse().unwrap()],
            tcp_bind: Some("127.0.0.1:0".parse().unwrap()),
            turn: Some(TurnSection {
                urls: vec!["turn:turn.example.org:3478".into()],
                secret: "s".into(),
                ttl_seconds: 60,
            }),
            bandwidth_estimation: false,
            live_session_idle_end_seconds: 120,
            signaling_url: None,
        };
        let media = media_socket(&sfu).unwrap();
        assert!(!media.config.bandwidth_estimation);
        let tcp = media.tcp_local.expect("ICE-TCP bound");
        let public = std::net::SocketAddr::new("203.0.113.10".parse().unwrap(), media.local.port());
        assert_eq!(media.config.udp_candidates, vec![public]);
        assert_eq!(media.config.tcp_candidates[0].port(), tcp.port());
        let turn = media.config.turn.as_ref().expect("TURN configured");
        assert_eq!(turn.ttl_seconds, 60);
        let servers = turn.ice_servers(uuid::Uuid::nil(), 0);
        assert_eq!(
            servers[0].username.as_deref(),
            Some("60:00000000-0000-0000-0000-000000000000")
        );

        let without = SfuSection {
            tcp_bind: None,
            turn: None,
            bandwidth_estimation: true,
            ..sfu
        };
        let media = media_socket(&without).unwrap();
        assert!(media.tcp_local.is_none() && media.config.turn.is_none());
        assert!(media.config.bandwidth_estimation);
    }
}

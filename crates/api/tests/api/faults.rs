//! The database going away under load: a Postgres cluster of the test's own
//! (initdb on a free port, never the shared one) is restarted, and later
//! stopped for a while, during a stream of mutations. Every write the API
//! acknowledged must exist afterwards, no request may hang, and every failure
//! must be `503` with the code `UNAVAILABLE` and `Retry-After`: never
//! `INTERNAL`, which a client cannot tell from a bug.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use accord_api::{ApiConfig, AppState, RateLimitConfig};
use accord_db::{members, orgs, AdminDb, Db};
use accord_domain::{DisplayName, EmailAddress, OrgName, OrgSlug, PlainPassword, Role};
use accord_testkit::Client;
use anyhow::{ensure, Context as _};
use serde_json::{json, Value};
use sqlx::Connection as _;
use tokio::sync::Mutex;

/// A throwaway Postgres cluster on its own port, run as user `postgres` when
/// the tests run as root (initdb refuses root). Stopped and removed on drop.
struct LocalCluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

fn pg_bin() -> anyhow::Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .context("no /usr/lib/postgresql: install the postgresql package (scripts/test does)")?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
        .context("no initdb under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl LocalCluster {
    fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let exe = self.bin.join(program);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let output = command
            .args(args)
            .current_dir("/")
            .output()
            .with_context(|| format!("running {program}"))?;
        ensure!(
            output.status.success(),
            "{program} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }

    fn dir(&self) -> &str {
        self.dir.to_str().unwrap_or("/nonexistent")
    }

    async fn start() -> anyhow::Result<LocalCluster> {
        let bin = pg_bin()?;
        let dir = std::env::temp_dir().join(format!(
            "accord-faults-pg-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir)?;
        if is_root() {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()?;
            ensure!(status.success(), "chown of the cluster directory failed");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let cluster = LocalCluster { bin, dir, port };
        cluster.run(
            "initdb",
            &[
                "-D",
                cluster.dir(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-instructions",
            ],
        )?;
        cluster.pg_ctl_start()?;
        Ok(cluster)
    }

    fn options(&self) -> String {
        format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            self.port,
            self.dir()
        )
    }

    fn pg_ctl_start(&self) -> anyhow::Result<()> {
        let log = self.dir.join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.dir(),
                "-l",
                log.to_str().unwrap_or("/dev/null"),
                "-o",
                &self.options(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
    }

    fn stop(&self) -> anyhow::Result<()> {
        // fast: terminates the backends (clients see 57P01 or a cut
        // connection mid-query), as a restart or failover does.
        self.run("pg_ctl", &["-D", self.dir(), "-m", "fast", "-w", "stop"])
    }

    fn url(&self, user: &str, database: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let _ = self.run(
            "pg_ctl",
            &["-D", self.dir(), "-m", "immediate", "-w", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The API on `127.0.0.1:0` over `cluster`, with an org, an admin signed in.
async fn app_over(
    cluster: &LocalCluster,
    acquire_timeout: Duration,
) -> anyhow::Result<(tokio::task::JoinHandle<()>, Client, AdminDb)> {
    let mut conn = sqlx::PgConnection::connect(&cluster.url("postgres", "postgres")).await?;
    sqlx::query("CREATE DATABASE accord")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let admin = AdminDb::connect(&cluster.url("postgres", "accord")).await?;
    admin.migrate().await?;
    // The production pool's settings, with a shorter wait for a connection
    // so the outage part of the test takes seconds, not tens of seconds.
    let pool = accord_db::pool_options()
        .acquire_timeout(acquire_timeout)
        .connect(&cluster.url("accord_app", "accord"))
        .await?;
    let db = Db::from_pool(pool);

    let org = orgs::create(
        &admin,
        &OrgSlug::parse("faults")?,
        &OrgName::parse("Faults")?,
    )
    .await?;
    let mut tx = admin.system_tenant(org, None).await?;
    let invited = members::invite(
        &mut tx,
        &EmailAddress::parse("admin@f.test")?,
        &DisplayName::parse("Admin")?,
        Role::OrgAdmin,
    )
    .await?;
    tx.commit().await?;
    let hash =
        accord_auth::password::hash_password(&PlainPassword::parse(accord_testkit::PASSWORD)?)?;
    let mut utx = db.user(invited.member.user_id).await?;
    accord_db::auth::set_password_hash(&mut utx, &hash).await?;
    utx.commit().await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let config = ApiConfig {
        public_url: url::Url::parse(&base_url)?,
        mail_from: "accord@accord.test".into(),
        secure_cookies: false,
        dev_mode: false,
        session_ttl: Duration::from_secs(3600),
        setup_link_ttl: Duration::from_secs(3600),
        reset_link_ttl: Duration::from_secs(1800),
        rate_limit: RateLimitConfig {
            burst: 1000,
            replenish_every: Duration::from_millis(1),
            trusted_proxy_hops: 0,
        },
        join_keys: accord_auth::join::JoinKeys::generate(&base_url, "test"),
        portal_dir: None,
        graphiql_dir: None,
    };
    // Failures during the restart come back at once, so the writers can go
    // faster than any one account is allowed to: this test is about faults,
    // not about the GraphQL rate limits (tested in limits.rs).
    let unlimited = accord_api::GraphqlLimits {
        client_burst: 1_000_000,
        client_per_second: 1_000_000,
        account_burst: 1_000_000,
        account_per_second: 1_000_000,
    };
    let state = AppState::new(db, config, None, accord_notify::worker::Wake::default())
        .with_graphql_limits(unlimited);
    let server = tokio::spawn(async move {
        let _ = accord_api::serve(listener, state, std::future::pending()).await;
    });

    let mut client = Client {
        http: reqwest::Client::builder()
            .cookie_store(true)
            .timeout(Duration::from_secs(30))
            .build()?,
        base_url,
        csrf: None,
    };
    let (status, body) = client
        .post_json(
            "/auth/sign-in",
            &json!({ "email": "admin@f.test", "password": accord_testkit::PASSWORD }),
        )
        .await?;
    ensure!(status == 200, "sign-in failed: {status} {body}");
    client.csrf = body["csrfToken"].as_str().map(str::to_owned);
    Ok((server, client, admin))
}

/// How one mutation ended, as the client saw it.
#[derive(Debug)]
enum Outcome {
    Acknowledged(String),
    Unavailable,
}

/// Sends `createCase` with `reference`; anything but an acknowledgement or a
/// well-formed `UNAVAILABLE` is an error, as is taking longer than `bound`.
async fn create_case(client: &Client, reference: &str, bound: Duration) -> anyhow::Result<Outcome> {
    let mut request = client
        .http
        .post(format!("{}/graphql", client.base_url))
        .json(&json!({
            "query": "mutation($r: String!) { createCase(input: {reference: $r, title: \"Fault\"}) { id reference } }",
            "variables": { "r": reference },
        }));
    if let Some(csrf) = &client.csrf {
        request = request.header("x-csrf-token", csrf);
    }
    let started = Instant::now();
    let response = tokio::time::timeout(bound, request.send())
        .await
        .with_context(|| format!("{reference}: no answer within {bound:?}"))??;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body: Value = response.json().await?;
    ensure!(
        started.elapsed() < bound,
        "{reference}: answered after {:?}",
        started.elapsed()
    );
    if status == 200 && body.get("errors").is_none() {
        let id = body["data"]["createCase"]["id"]
            .as_str()
            .with_context(|| format!("{reference}: no id in {body}"))?;
        return Ok(Outcome::Acknowledged(id.to_owned()));
    }
    let codes: Vec<&str> = body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["extensions"]["code"].as_str())
                .collect()
        })
        .unwrap_or_default();
    ensure!(
        status == 503 && codes == ["UNAVAILABLE"] && retry_after.is_some_and(|s| s > 0),
        "{reference}: expected 503 UNAVAILABLE with Retry-After, got {status} {retry_after:?} {body}"
    );
    ensure!(
        body.get("data").is_none_or(Value::is_null),
        "{reference}: a failed request showed data: {body}"
    );
    Ok(Outcome::Unavailable)
}

/// Every acknowledged case is in the database, with the reference it was
/// acknowledged for.
async fn all_acknowledged_exist(
    admin: &AdminDb,
    acknowledged: &[(String, String)],
) -> anyhow::Result<()> {
    let stored: Vec<(uuid::Uuid, String)> = sqlx::query_as("SELECT id, reference FROM cases")
        .fetch_all(admin.pool())
        .await?;
    let stored: std::collections::HashMap<String, String> = stored
        .into_iter()
        .map(|(id, reference)| (id.to_string(), reference))
        .collect();
    for (reference, id) in acknowledged {
        ensure!(
            stored.get(id) == Some(reference),
            "case {reference} ({id}) was acknowledged but is not in the database"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restart_loses_no_acknowledged_write_and_fails_only_as_unavailable(
) -> anyhow::Result<()> {
    let cluster = Arc::new(LocalCluster::start().await?);
    let acquire = Duration::from_secs(2);
    let (server, client, admin) = app_over(&cluster, acquire).await?;
    // The longest a request may take: two attempts, each at most one wait
    // for a connection, plus slack for a loaded machine.
    let bound = acquire * 2 + Duration::from_secs(8);

    // Four clients write as fast as they can while the cluster restarts.
    let acknowledged = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let unavailable = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop_at = Arc::new(Mutex::new(None::<Instant>));
    let mut writers = Vec::new();
    for w in 0..4 {
        let client = client.clone();
        let acknowledged = Arc::clone(&acknowledged);
        let unavailable = Arc::clone(&unavailable);
        let stop_at = Arc::clone(&stop_at);
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                if stop_at.lock().await.is_some_and(|t| Instant::now() > t) {
                    break;
                }
                let reference = format!("F-{w}-{i}");
                match create_case(&client, &reference, bound).await? {
                    Outcome::Acknowledged(id) => acknowledged.lock().await.push((reference, id)),
                    Outcome::Unavailable => {
                        unavailable.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
            anyhow::Ok(())
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before_restart = acknowledged.lock().await.len();
    ensure!(
        before_restart > 0,
        "no write went through before the restart"
    );
    {
        let cluster = Arc::clone(&cluster);
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            cluster.stop()?;
            std::thread::sleep(Duration::from_millis(300));
            cluster.pg_ctl_start()
        })
        .await??;
    }
    // The writers carry on for a while on the restarted server.
    let after_restart_mark = acknowledged.lock().await.len();
    *stop_at.lock().await = Some(Instant::now() + Duration::from_secs(2));
    for writer in writers {
        writer.await??;
    }
    let acknowledged = acknowledged.lock().await.clone();
    ensure!(
        acknowledged.len() > after_restart_mark,
        "no write was acknowledged after the restart ({after_restart_mark} before)"
    );
    all_acknowledged_exist(&admin, &acknowledged).await?;
    eprintln!(
        "restart: {} acknowledged, {} unavailable",
        acknowledged.len(),
        unavailable.load(std::sync::atomic::Ordering::Relaxed)
    );

    // Down for longer than a request may wait: every request in the gap is
    // UNAVAILABLE (not INTERNAL, not a hang), and the service comes back.
    {
        let cluster = Arc::clone(&cluster);
        tokio::task::spawn_blocking(move || cluster.stop()).await??;
    }
    let mut during = Vec::new();
    for i in 0..3 {
        during.push(create_case(&client, &format!("D-{i}"), bound).await?);
    }
    ensure!(
        during.iter().all(|o| matches!(o, Outcome::Unavailable)),
        "a write was acknowledged while the database was down: {during:?}"
    );
    // The session lookup alone (a read) fails the same way.
    let (status, body) = client
        .post_json("/graphql", &json!({ "query": "{ organization { name } }" }))
        .await?;
    ensure!(
        status == 503 && body["errors"][0]["extensions"]["code"] == "UNAVAILABLE",
        "a read while down: {status} {body}"
    );
    {
        let cluster = Arc::clone(&cluster);
        tokio::task::spawn_blocking(move || cluster.pg_ctl_start()).await??;
    }
    let back = create_case(&client, "B-1", bound).await?;
    let Outcome::Acknowledged(id) = back else {
        anyhow::bail!("the API did not come back after the database did: {back:?}");
    };
    let mut all = acknowledged;
    all.push(("B-1".into(), id));
    all_acknowledged_exist(&admin, &all).await?;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM cases WHERE reference LIKE 'D-%'")
        .fetch_one(admin.pool())
        .await?;
    ensure!(
        stored == 0,
        "{stored} writes refused as UNAVAILABLE were kept anyway"
    );
    server.abort();
    Ok(())
}

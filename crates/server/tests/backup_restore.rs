//! The backup and restore of docs/OPERATIONS.md, done for real: a seeded
//! database is dumped with `pg_dump --format=custom`, restored with
//! `pg_restore` into a fresh database, and the restored copy passes
//! `accord audit verify` with the same number of events, keeps its
//! row-level security and its lookup functions' owner, and serves the app
//! role. A restored copy that was tampered with fails the check, so the
//! check is not vacuous.

use std::path::PathBuf;
use std::process::{Command, Output};

use accord_testkit::TestDb;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `accord` against the database at these URLs.
fn accord(app_url: &str, admin_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("ACCORD__DATABASE__URL", app_url)
        .env("ACCORD__DATABASE__ADMIN_URL", admin_url)
        .env("ACCORD__LOG__FILTER", "warn")
        .output()
        .expect("run accord")
}

/// A PostgreSQL client program: on PATH, else the newest of Debian's
/// /usr/lib/postgresql/<major>/bin.
fn pg_tool(name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if let Some(p) = on_path {
        return p;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            let tool = e.path().join("bin").join(name);
            tool.is_file().then_some((major, tool))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("{name} not found on PATH or under /usr/lib/postgresql"))
}

/// `url` with its database replaced.
fn with_database(url: &str, database: &str) -> String {
    let mut url = url::Url::parse(url).expect("a database URL");
    url.set_path(&format!("/{database}"));
    url.to_string()
}

fn create_user(app_url: &str, admin_url: &str, email: &str, role: &str) {
    let out = accord(
        app_url,
        admin_url,
        &[
            "admin",
            "create-user",
            "--org",
            "northside",
            "--email",
            email,
            "--name",
            "Someone",
            "--role",
            role,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
}

#[tokio::test]
async fn a_dump_restored_into_a_fresh_database_passes_audit_verify() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let out = accord(
        &db.app_url,
        &db.admin_url,
        &[
            "admin",
            "create-org",
            "--slug",
            "northside",
            "--name",
            "Northside Mediation",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    create_user(
        &db.app_url,
        &db.admin_url,
        "ada@northside.test",
        "org_admin",
    );
    create_user(&db.app_url, &db.admin_url, "ben@northside.test", "mediator");
    create_user(&db.app_url, &db.admin_url, "cleo@northside.test", "party");
    let before = accord(
        &db.app_url,
        &db.admin_url,
        &["audit", "verify", "--org", "northside"],
    );
    assert!(before.status.success(), "{}", text(&before));
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(db.admin.pool())
        .await?;
    assert_eq!(events, 4, "the org's creation and its three accounts");

    // Back up: a custom-format dump, as docs/OPERATIONS.md says.
    let dir = std::env::temp_dir().join(format!("accord-backup-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let dump = dir.join("accord.dump");
    let out = Command::new(pg_tool("pg_dump"))
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg(&db.admin_url)
        .output()?;
    assert!(out.status.success(), "pg_dump: {}", text(&out));

    // Restore into a fresh database of the same cluster (the roles are
    // cluster-wide; a new cluster gets them first, see docs/OPERATIONS.md).
    let fresh = format!("accord_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {fresh}"))
        .execute(db.admin.pool())
        .await?;
    let restored_admin = with_database(&db.admin_url, &fresh);
    let restored_app = with_database(&db.app_url, &fresh);
    let out = Command::new(pg_tool("pg_restore"))
        .args(["--exit-on-error", "--dbname", &restored_admin])
        .arg(&dump)
        .output()?;
    let restored = out.status.success();
    let restore_log = text(&out);
    std::fs::remove_dir_all(&dir)?;

    let result = async {
        assert!(restored, "pg_restore: {restore_log}");
        let verified = accord(
            &restored_app,
            &restored_admin,
            &["audit", "verify", "--org", "northside"],
        );
        assert!(verified.status.success(), "{}", text(&verified));
        assert!(
            text(&verified).contains(&format!("intact ({events} events)")),
            "{}",
            text(&verified)
        );

        let owner_pool = sqlx::PgPool::connect(&restored_admin).await?;
        // The lookup functions still run as accord_lookup (SECURITY DEFINER):
        // a restore that changed their owner would change what they may read.
        let lookup_owner: String = sqlx::query_scalar(
            "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'accord_lookup_org_by_slug'",
        )
        .fetch_one(&owner_pool)
        .await?;
        assert_eq!(lookup_owner, "accord_lookup");

        // The app role works on the copy, and row-level security still
        // binds it: with no org set it sees no audit event.
        let app_pool = sqlx::PgPool::connect(&restored_app).await?;
        let org: Option<uuid::Uuid> =
            sqlx::query_scalar("SELECT accord_lookup_org_by_slug('northside')")
                .fetch_one(&app_pool)
                .await?;
        assert!(org.is_some(), "the app role finds the org on the copy");
        let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
            .fetch_one(&app_pool)
            .await?;
        assert_eq!(visible, 0, "row-level security survives the restore");
        app_pool.close().await;

        // Tampering with the restored copy is caught: the check reads the copy.
        let mut tx = owner_pool.begin().await?;
        sqlx::query("SET LOCAL session_replication_role = replica")
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM audit_events WHERE seq = 2")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        owner_pool.close().await;
        let broken = accord(
            &restored_app,
            &restored_admin,
            &["audit", "verify", "--org", "northside"],
        );
        assert_eq!(broken.status.code(), Some(1), "{}", text(&broken));
        anyhow::Ok(())
    }
    .await;

    sqlx::query(&format!("DROP DATABASE IF EXISTS {fresh} WITH (FORCE)"))
        .execute(db.admin.pool())
        .await?;
    result
}

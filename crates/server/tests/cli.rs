//! The `accord` binary end to end against a real Postgres.

use std::process::{Command, Output};

use accord_testkit::TestDb;

fn accord(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("ACCORD__DATABASE__URL", &db.app_url)
        .env("ACCORD__DATABASE__ADMIN_URL", &db.admin_url)
        .env("ACCORD__LOG__FILTER", "warn")
        .output()
        .expect("run accord")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn migrate_creates_and_migrates_a_new_database() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let fresh = format!("accord_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin_url = url::Url::parse(&db.admin_url)?;
    admin_url.set_path(&format!("/{fresh}"));
    let out = Command::new(env!("CARGO_BIN_EXE_accord"))
        .arg("migrate")
        .env("ACCORD__DATABASE__ADMIN_URL", admin_url.as_str())
        .output()?;
    assert!(out.status.success(), "{}", text(&out));
    // The new database has the schema: connect to it and look.
    let conn_pool = sqlx::PgPool::connect(admin_url.as_str()).await?;
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE tablename IN ('cases', 'audit_events', 'users')",
    )
    .fetch_one(&conn_pool)
    .await?;
    conn_pool.close().await;
    assert_eq!(count, 3);
    sqlx::query(&format!("DROP DATABASE {fresh} WITH (FORCE)"))
        .execute(db.admin.pool())
        .await?;
    Ok(())
}

#[tokio::test]
async fn operators_create_orgs_and_users_and_verify_the_audit_chain() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let out = accord(
        &db,
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
    let out = accord(
        &db,
        &[
            "admin",
            "create-org",
            "--slug",
            "northside",
            "--name",
            "Again",
        ],
    );
    assert!(!out.status.success(), "a duplicate slug must fail");

    let out = accord(
        &db,
        &[
            "admin",
            "create-user",
            "--org",
            "northside",
            "--email",
            "Ada@Northside.test",
            "--name",
            "Ada",
            "--role",
            "org_admin",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout)?;
    let link = stdout
        .lines()
        .find(|l| l.contains("/password#token="))
        .expect("a setup link");
    let token = link.split("token=").nth(1).unwrap();
    assert_eq!(token.len(), 43);
    // The link is stored only as a hash.
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM password_links WHERE token_hash = sha256($1::bytea)",
    )
    .bind(token.as_bytes())
    .fetch_one(db.admin.pool())
    .await?;
    assert_eq!(stored, 1);

    let bad = accord(
        &db,
        &[
            "admin",
            "create-user",
            "--org",
            "nowhere",
            "--email",
            "b@x.test",
            "--name",
            "B",
        ],
    );
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains("no organization has the slug nowhere"),
        "{}",
        text(&bad)
    );
    let bad = accord(
        &db,
        &[
            "admin",
            "create-user",
            "--org",
            "northside",
            "--email",
            "b@x.test",
            "--name",
            "B",
            "--role",
            "king",
        ],
    );
    assert!(!bad.status.success());

    let ok = accord(&db, &["audit", "verify", "--org", "northside"]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("intact (2 events)"), "{}", text(&ok));

    let mut tx = db.admin.pool().begin().await?;
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE audit_events SET target_id = gen_random_uuid() WHERE seq = 2")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let broken = accord(&db, &["audit", "verify", "--org", "northside"]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        text(&broken).contains("event 2 was edited"),
        "{}",
        text(&broken)
    );
    Ok(())
}

#[test]
fn unknown_configuration_keys_are_refused_by_name() {
    let out = Command::new(env!("CARGO_BIN_EXE_accord"))
        .arg("migrate")
        .env("ACCORD__DATABSE__URL", "postgres://x")
        .output()
        .expect("run accord");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("databse"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["--config", "/nonexistent/accord.toml", "serve"])
        .output()
        .expect("run accord");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn the_schema_command_prints_the_checked_in_schema() {
    let out = Command::new(env!("CARGO_BIN_EXE_accord"))
        .arg("graphql-schema")
        .output()
        .expect("run accord");
    assert!(out.status.success());
    let checked_in = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../graphql/schema.graphql"
    ))
    .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), checked_in);
}

#[tokio::test]
async fn create_user_without_a_role_makes_an_observer_and_says_so() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let out = accord(
        &db,
        &["admin", "create-org", "--slug", "quiet", "--name", "Quiet"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = accord(
        &db,
        &[
            "admin",
            "create-user",
            "--org",
            "quiet",
            "--email",
            "o@q.test",
            "--name",
            "O",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("no --role given: the account is an observer, the least privilege"),
        "{}",
        text(&out)
    );
    let role: String = sqlx::query_scalar(
        "SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = 'o@q.test'",
    )
    .fetch_one(db.admin.pool())
    .await?;
    assert_eq!(role, "observer");
    let help = accord(&db, &["admin", "create-user", "--help"]);
    assert!(text(&help).contains("least privilege"), "{}", text(&help));
    Ok(())
}

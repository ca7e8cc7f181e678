//! Production runs migrations and operator commands as an owner that is not a
//! superuser (managed Postgres has none to give). Superusers bypass row-level
//! security, so the rest of the suite cannot show that this works.

use accord_db::{members, orgs, AdminDb, Db};
use accord_domain::{DisplayName, EmailAddress, OrgName, OrgSlug, Role};
use sqlx::Connection as _;

fn cluster_url() -> String {
    std::env::var("ACCORD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn as_user(base: &str, user: &str, database: &str) -> String {
    let mut url = url::Url::parse(base).unwrap();
    url.set_username(user).unwrap();
    url.set_password(None).unwrap();
    url.set_path(&format!("/{database}"));
    url.to_string()
}

#[tokio::test]
async fn a_createrole_owner_migrates_and_runs_operator_commands() -> anyhow::Result<()> {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let owner = format!("accord_owner_{}", &suffix[..12]);
    let database = format!("accord_test_{suffix}");
    let base = cluster_url();
    let mut su = sqlx::PgConnection::connect(&base).await?;
    sqlx::query(&format!(
        "CREATE ROLE {owner} LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS"
    ))
    .execute(&mut su)
    .await?;
    sqlx::query(&format!("CREATE DATABASE {database} OWNER {owner}"))
        .execute(&mut su)
        .await?;

    let result = async {
        let admin = AdminDb::connect(&as_user(&base, &owner, &database)).await?;
        admin.migrate().await?;
        let org = orgs::create(
            &admin,
            &OrgSlug::parse("northside")?,
            &OrgName::parse("Northside")?,
        )
        .await?;
        let mut tx = admin.system_tenant(org, None).await?;
        let invited = members::invite(
            &mut tx,
            &EmailAddress::parse("ada@northside.test")?,
            &DisplayName::parse("Ada")?,
            Role::OrgAdmin,
        )
        .await?;
        tx.commit().await?;
        let app = Db::connect(&as_user(&base, "accord_app", &database)).await?;
        let mut tx = app.tenant(org, invited.member.user_id, None).await?;
        assert_eq!(tx.actor().role, Role::OrgAdmin);
        assert_eq!(members::list(&mut tx).await?.len(), 1);
        let verified = accord_db::audit::verify(&mut tx).await?;
        assert!(verified.problems.is_empty(), "{:?}", verified.problems);
        assert_eq!(verified.events, 1);
        tx.commit().await?;
        // The owner is not exempt from row-level security: without a tenant it sees no org.
        let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM organizations")
            .fetch_one(admin.pool())
            .await?;
        assert_eq!(seen, 0);
        admin.pool().close().await;
        app.close().await;
        anyhow::Ok(())
    }
    .await;

    sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .execute(&mut su)
        .await?;
    sqlx::query(&format!("DROP ROLE IF EXISTS {owner}"))
        .execute(&mut su)
        .await?;
    result
}

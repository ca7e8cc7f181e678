//! Tenant isolation enforced by Postgres itself, tested beneath the repositories.
//!
//! Every statement here runs on the application's own pool (`accord_app`), the
//! way the server runs, and most of them are raw SQL that deliberately leaves out
//! any `WHERE org_id = ...`: row-level security alone must keep one org's rows
//! away from another's. The audit-chain tests tamper with the log as the table
//! owner (a superuser in tests) and check that `audit::verify` notices.

use std::collections::BTreeSet;

use accord_db::audit::{self, ChainProblem};
use accord_db::{cases, members, orgs, sessions, Db, DbError, TenantTx};
use accord_domain::{
    CaseId, CaseReference, CaseTitle, DisplayName, EmailAddress, IanaTimeZone, OrgId, OrgName,
    OrgSlug, PartyId, PartyKind, Role, Schedule, SessionDuration, SessionId, UserId,
};
use accord_testkit::TestDb;
use chrono::Utc;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

/// The tenant-owned tables that carry an `org_id` column.
const ORG_TABLES: [&str; 6] = [
    "cases",
    "case_parties",
    "sessions",
    "memberships",
    "audit_events",
    "audit_heads",
];

/// One org with an admin, a mediator, a party account, a case (mediated by the
/// mediator) with the party on it, a scheduled session and a few audit events,
/// all made through the repositories as the application would.
#[derive(Debug, Clone, Copy)]
struct Tenant {
    org: OrgId,
    admin: UserId,
    mediator: UserId,
    party_user: UserId,
    case: CaseId,
    party: PartyId,
    session: SessionId,
}

fn email(s: &str) -> anyhow::Result<EmailAddress> {
    Ok(EmailAddress::parse(s)?)
}

fn name(s: &str) -> anyhow::Result<DisplayName> {
    Ok(DisplayName::parse(s)?)
}

async fn populate(db: &TestDb, slug: &str) -> anyhow::Result<Tenant> {
    let org = orgs::create(
        &db.admin,
        &OrgSlug::parse(slug)?,
        &OrgName::parse(&format!("Org {slug}"))?,
    )
    .await?;

    // The first admin can only come from the operator's side.
    let mut sys = db.admin.system_tenant(org, None).await?;
    let admin = members::invite(
        &mut sys,
        &email(&format!("admin@{slug}.test"))?,
        &name("Admin")?,
        Role::OrgAdmin,
    )
    .await?
    .member
    .user_id;
    sys.commit().await?;

    // Everything else through the app role, as the server does it.
    let mut tx = db
        .app
        .tenant(org, admin, Some(format!("setup-{slug}")))
        .await?;
    let mediator = members::invite(
        &mut tx,
        &email(&format!("mediator@{slug}.test"))?,
        &name("Mediator")?,
        Role::Mediator,
    )
    .await?
    .member
    .user_id;
    audit::append(&mut tx, "member.invite", "user", Some(mediator.as_uuid())).await?;
    let party_email = email(&format!("party@{slug}.test"))?;
    let party_user = members::invite(&mut tx, &party_email, &name("Party")?, Role::Party)
        .await?
        .member
        .user_id;
    audit::append(&mut tx, "member.invite", "user", Some(party_user.as_uuid())).await?;
    let case = cases::create(
        &mut tx,
        &CaseReference::parse(&format!("{slug}-1"))?,
        &CaseTitle::parse(&format!("Confidential dispute of {slug}"))?,
        Some(mediator),
    )
    .await?;
    audit::append(&mut tx, "case.create", "case", Some(case.id.as_uuid())).await?;
    let party = cases::add_party(
        &mut tx,
        case.id,
        PartyKind::Party,
        &name("Party")?,
        &party_email,
    )
    .await?;
    assert_eq!(
        party.user_id,
        Some(party_user),
        "add_party links the member with that email"
    );
    audit::append(&mut tx, "party.add", "party", Some(party.id.as_uuid())).await?;
    let schedule = Schedule::new(
        Utc::now() + chrono::Duration::days(30),
        IanaTimeZone::parse("Europe/London")?,
        SessionDuration::from_minutes(60)?,
    );
    let session = sessions::schedule(&mut tx, case.id, &schedule).await?;
    audit::append(
        &mut tx,
        "session.schedule",
        "session",
        Some(session.id.as_uuid()),
    )
    .await?;
    tx.commit().await?;

    Ok(Tenant {
        org,
        admin,
        mediator,
        party_user,
        case: case.id,
        party: party.id,
        session: session.id,
    })
}

/// The Postgres SQLSTATE of a failed statement.
fn sqlstate(err: &sqlx::Error) -> Option<String> {
    err.as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
}

/// The error of a statement that must fail.
fn refused<T: std::fmt::Debug, E>(result: Result<T, E>, what: &str) -> E {
    match result {
        Ok(v) => panic!("{what}: expected a refusal, got {v:?}"),
        Err(e) => e,
    }
}

/// What the owner (who bypasses RLS in tests) sees of an org: a fingerprint of
/// every tenant-owned row, to compare before and after an attack.
async fn owner_snapshot(db: &TestDb, org: OrgId) -> anyhow::Result<Vec<String>> {
    let pool = db.admin.pool();
    let mut out = Vec::new();
    let queries = [
        "SELECT format('org %s %s', id, name) FROM organizations WHERE id = $1",
        "SELECT format('case %s %s %s %s %s', id, reference, title, status, mediator_id) FROM cases WHERE org_id = $1 ORDER BY id",
        "SELECT format('party %s %s %s %s %s', id, case_id, kind, email, user_id) FROM case_parties WHERE org_id = $1 ORDER BY id",
        "SELECT format('session %s %s %s %s %s', id, case_id, starts_at, status, lobby_enabled) FROM sessions WHERE org_id = $1 ORDER BY id",
        "SELECT format('member %s %s', user_id, role) FROM memberships WHERE org_id = $1 ORDER BY user_id",
        "SELECT format('user %s %s %s', u.id, u.email, u.display_name) FROM users u JOIN memberships m ON m.user_id = u.id WHERE m.org_id = $1 ORDER BY u.id",
        "SELECT format('event %s %s %s', seq, action, encode(hash, 'hex')) FROM audit_events WHERE org_id = $1 ORDER BY seq",
        "SELECT format('head %s %s', seq, encode(hash, 'hex')) FROM audit_heads WHERE org_id = $1",
    ];
    for q in queries {
        let rows: Vec<String> = sqlx::query_scalar(q)
            .bind(org.as_uuid())
            .fetch_all(pool)
            .await?;
        out.extend(rows);
    }
    Ok(out)
}

async fn uuids(tx: &mut TenantTx, sql: &str) -> anyhow::Result<BTreeSet<Uuid>> {
    let rows: Vec<Uuid> = sqlx::query_scalar(sql).fetch_all(tx.conn()).await?;
    Ok(rows.into_iter().collect())
}

#[tokio::test]
async fn unfiltered_sql_in_a_tenant_transaction_sees_only_that_org() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let a = populate(&db, "alpha").await?;
    let b = populate(&db, "beta").await?;

    // B's rows really exist (seen by the owner), so an empty answer below means
    // the policy hid them, not that there was nothing to hide.
    for table in ORG_TABLES {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE org_id = $1"))
            .bind(b.org.as_uuid())
            .fetch_one(db.admin.pool())
            .await?;
        assert!(n > 0, "org B has rows in {table}");
    }

    let mut tx = db.app.tenant(a.org, a.admin, None).await?;
    let who: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(tx.conn())
        .await?;
    assert_eq!(who, "accord_app");

    for table in ORG_TABLES {
        let seen = uuids(&mut tx, &format!("SELECT org_id FROM {table}")).await?;
        assert_eq!(
            seen,
            BTreeSet::from([a.org.as_uuid()]),
            "{table}: only org A's rows are visible without any org filter"
        );
    }
    assert_eq!(
        uuids(&mut tx, "SELECT id FROM organizations").await?,
        BTreeSet::from([a.org.as_uuid()])
    );
    assert_eq!(
        uuids(&mut tx, "SELECT id FROM cases").await?,
        BTreeSet::from([a.case.as_uuid()])
    );
    assert_eq!(
        uuids(&mut tx, "SELECT id FROM case_parties").await?,
        BTreeSet::from([a.party.as_uuid()])
    );
    assert_eq!(
        uuids(&mut tx, "SELECT id FROM sessions").await?,
        BTreeSet::from([a.session.as_uuid()])
    );
    assert_eq!(
        uuids(&mut tx, "SELECT user_id FROM memberships").await?,
        BTreeSet::from([
            a.admin.as_uuid(),
            a.mediator.as_uuid(),
            a.party_user.as_uuid()
        ])
    );
    assert_eq!(
        uuids(&mut tx, "SELECT id FROM users").await?,
        BTreeSet::from([
            a.admin.as_uuid(),
            a.mediator.as_uuid(),
            a.party_user.as_uuid()
        ]),
        "org B's accounts are invisible to org A"
    );
    // Asking for B's rows by id, or by B's org id, finds nothing either.
    let found: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM cases WHERE id = $1 OR org_id = $5) \
              + (SELECT count(*) FROM case_parties WHERE id = $2 OR org_id = $5) \
              + (SELECT count(*) FROM sessions WHERE id = $3 OR org_id = $5) \
              + (SELECT count(*) FROM users WHERE id = $4) \
              + (SELECT count(*) FROM memberships WHERE org_id = $5) \
              + (SELECT count(*) FROM audit_events WHERE org_id = $5) \
              + (SELECT count(*) FROM audit_heads WHERE org_id = $5) \
              + (SELECT count(*) FROM organizations WHERE id = $5)",
    )
    .bind(b.case.as_uuid())
    .bind(b.party.as_uuid())
    .bind(b.session.as_uuid())
    .bind(b.admin.as_uuid())
    .bind(b.org.as_uuid())
    .fetch_one(tx.conn())
    .await?;
    assert_eq!(found, 0, "none of org B's rows can be addressed from org A");
    // Every one of A's own audit events is visible (the policy is not simply empty).
    let a_events: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(tx.conn())
        .await?;
    let owner_a_events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE org_id = $1")
            .bind(a.org.as_uuid())
            .fetch_one(db.admin.pool())
            .await?;
    assert_eq!(a_events, owner_a_events);
    Ok(())
}

#[tokio::test]
async fn a_member_of_both_orgs_still_sees_one_org_per_transaction() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let a = populate(&db, "alpha").await?;
    let b = populate(&db, "beta").await?;
    // B's admin invites A's mediator: one account, two memberships.
    let mut tx = db.app.tenant(b.org, b.admin, None).await?;
    members::invite(
        &mut tx,
        &email("mediator@alpha.test")?,
        &name("Mediator")?,
        Role::OrgAdmin,
    )
    .await?;
    tx.commit().await?;

    let mut tx = db.app.tenant(a.org, a.mediator, None).await?;
    assert_eq!(tx.actor().role, Role::Mediator, "the role comes from org A");
    let rows: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT org_id, role FROM memberships WHERE user_id = $1")
            .bind(a.mediator.as_uuid())
            .fetch_all(tx.conn())
            .await?;
    assert_eq!(rows, vec![(a.org.as_uuid(), "mediator".to_owned())]);
    assert_eq!(
        uuids(&mut tx, "SELECT org_id FROM cases").await?,
        BTreeSet::from([a.org.as_uuid()])
    );
    // B's other users stay hidden even though this account is in B too.
    assert!(!uuids(&mut tx, "SELECT id FROM users")
        .await?
        .contains(&b.admin.as_uuid()));
    Ok(())
}

#[tokio::test]
async fn inserts_claiming_another_orgs_id_are_refused() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let a = populate(&db, "alpha").await?;
    let b = populate(&db, "beta").await?;
    let before = owner_snapshot(&db, b.org).await?;

    let zeros = vec![0u8; 32];
    let attempts: Vec<(&str, sqlx::query::Query<'_, sqlx::Postgres, _>)> = vec![
        (
            "cases",
            sqlx::query(
                "INSERT INTO cases (org_id, id, reference, title, created_by) \
                 VALUES ($1, $2, 'INJECTED-1', 'injected', $3)",
            )
            .bind(b.org.as_uuid())
            .bind(Uuid::now_v7())
            .bind(a.admin.as_uuid()),
        ),
        (
            "case_parties",
            sqlx::query(
                "INSERT INTO case_parties (org_id, id, case_id, kind, display_name, email) \
                 VALUES ($1, $2, $3, 'party', 'Spy', 'spy@alpha.test')",
            )
            .bind(b.org.as_uuid())
            .bind(Uuid::now_v7())
            .bind(b.case.as_uuid()),
        ),
        (
            "sessions",
            sqlx::query(
                "INSERT INTO sessions (org_id, id, case_id, starts_at, time_zone, duration_minutes, created_by) \
                 VALUES ($1, $2, $3, now() + interval '2 days', 'UTC', 60, $4)",
            )
            .bind(b.org.as_uuid())
            .bind(Uuid::now_v7())
            .bind(b.case.as_uuid())
            .bind(a.admin.as_uuid()),
        ),
        (
            // A's admin making themselves admin of B.
            "memberships",
            sqlx::query("INSERT INTO memberships (org_id, user_id, role) VALUES ($1, $2, 'org_admin')")
                .bind(b.org.as_uuid())
                .bind(a.admin.as_uuid()),
        ),
        (
            "audit_events",
            sqlx::query(
                "INSERT INTO audit_events (org_id, seq, id, occurred_at, action, target_type, prev_hash, hash) \
                 VALUES ($1, 1000, $2, now(), 'case.delete', 'case', $3, $3)",
            )
            .bind(b.org.as_uuid())
            .bind(Uuid::now_v7())
            .bind(zeros.clone()),
        ),
        (
            // B's head exists: the policy must refuse before the key is even compared.
            "audit_heads",
            sqlx::query("INSERT INTO audit_heads (org_id, seq, hash) VALUES ($1, 0, $2)")
                .bind(b.org.as_uuid())
                .bind(zeros.clone()),
        ),
        (
            "organizations",
            sqlx::query("INSERT INTO organizations (id, slug, name) VALUES ($1, 'gamma', 'Gamma')")
                .bind(Uuid::now_v7()),
        ),
    ];
    for (table, query) in attempts {
        // Each attempt in its own transaction: a refused statement aborts it.
        let mut tx = db.app.tenant(a.org, a.admin, None).await?;
        let err = refused(
            query.execute(tx.conn()).await,
            &format!("insert into {table} for org B"),
        );
        assert_eq!(
            sqlstate(&err).as_deref(),
            Some("42501"),
            "{table}: expected insufficient_privilege / RLS violation, got {err}"
        );
        // The data layer reports such a write as not found, never as a conflict.
        assert!(matches!(DbError::from(err), DbError::NotFound));
    }

    // Moving one of A's own rows into B is refused by the same WITH CHECK.
    let moves = [
        ("cases", a.case.as_uuid()),
        ("case_parties", a.party.as_uuid()),
        ("sessions", a.session.as_uuid()),
    ];
    for (table, id) in moves {
        let mut tx = db.app.tenant(a.org, a.admin, None).await?;
        let result = sqlx::query(&format!("UPDATE {table} SET org_id = $1 WHERE id = $2"))
            .bind(b.org.as_uuid())
            .bind(id)
            .execute(tx.conn())
            .await;
        let err = refused(result, &format!("moving a row of {table} into org B"));
        assert_eq!(sqlstate(&err).as_deref(), Some("42501"), "{table}: {err}");
    }
    // A repository write aimed at B's case fails as not found.
    let mut tx = db.app.tenant(a.org, a.admin, None).await?;
    let err = cases::add_party(
        &mut tx,
        b.case,
        PartyKind::Counsel,
        &name("Spy")?,
        &email("spy@alpha.test")?,
    )
    .await
    .expect_err("adding a party to B's case from A");
    assert!(matches!(err, DbError::NotFound), "{err:?}");
    drop(tx);

    assert_eq!(
        owner_snapshot(&db, b.org).await?,
        before,
        "org B is unchanged"
    );
    Ok(())
}

#[tokio::test]
async fn updates_and_deletes_of_another_orgs_rows_affect_nothing() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let a = populate(&db, "alpha").await?;
    let b = populate(&db, "beta").await?;
    let before = owner_snapshot(&db, b.org).await?;

    let mut tx = db.app.tenant(a.org, a.admin, None).await?;
    let targeted: Vec<(&str, String, Uuid)> = vec![
        (
            "cases",
            "UPDATE cases SET title = 'pwned', status = 'closed', mediator_id = NULL WHERE id = $1"
                .into(),
            b.case.as_uuid(),
        ),
        (
            "case_parties",
            "UPDATE case_parties SET email = 'spy@alpha.test' WHERE id = $1".into(),
            b.party.as_uuid(),
        ),
        (
            "sessions",
            "UPDATE sessions SET status = 'cancelled' WHERE id = $1".into(),
            b.session.as_uuid(),
        ),
        (
            "memberships",
            "UPDATE memberships SET role = 'party' WHERE org_id = $1".into(),
            b.org.as_uuid(),
        ),
        (
            "audit_heads",
            "UPDATE audit_heads SET seq = 0 WHERE org_id = $1".into(),
            b.org.as_uuid(),
        ),
        (
            "organizations",
            "UPDATE organizations SET name = 'pwned' WHERE id = $1".into(),
            b.org.as_uuid(),
        ),
        (
            "users",
            "UPDATE users SET display_name = 'pwned' WHERE id = $1".into(),
            b.admin.as_uuid(),
        ),
        (
            "case_parties",
            "DELETE FROM case_parties WHERE id = $1".into(),
            b.party.as_uuid(),
        ),
        (
            "sessions",
            "DELETE FROM sessions WHERE id = $1".into(),
            b.session.as_uuid(),
        ),
        (
            "memberships",
            "DELETE FROM memberships WHERE org_id = $1".into(),
            b.org.as_uuid(),
        ),
        (
            "cases",
            "DELETE FROM cases WHERE id = $1".into(),
            b.case.as_uuid(),
        ),
    ];
    for (table, sql, id) in &targeted {
        let done = sqlx::query(sql).bind(id).execute(tx.conn()).await?;
        assert_eq!(done.rows_affected(), 0, "{table}: {sql}");
    }
    // With no WHERE clause at all, only A's own rows are touched.
    let done = sqlx::query("UPDATE cases SET title = 'renamed by A'")
        .execute(tx.conn())
        .await?;
    assert_eq!(done.rows_affected(), 1, "only A's one case");
    let done = sqlx::query("UPDATE sessions SET lobby_enabled = false")
        .execute(tx.conn())
        .await?;
    assert_eq!(done.rows_affected(), 1, "only A's one session");
    let done = sqlx::query("UPDATE memberships SET role = role")
        .execute(tx.conn())
        .await?;
    assert_eq!(done.rows_affected(), 3, "only A's three memberships");
    // Accounts are global: not even A's admin may touch the credentials of
    // another account of A, which may also be a member elsewhere.
    let done = sqlx::query(
        "UPDATE users SET password_hash = 'attacker', totp_secret = NULL, display_name = 'x' \
         WHERE id <> $1",
    )
    .bind(a.admin.as_uuid())
    .execute(tx.conn())
    .await?;
    assert_eq!(
        done.rows_affected(),
        0,
        "only the acting account is writable"
    );
    // Committed on purpose: had anything reached B, it would now be permanent.
    tx.commit().await?;

    assert_eq!(
        owner_snapshot(&db, b.org).await?,
        before,
        "org B is unchanged"
    );
    // And B still sees its own data through the app.
    let mut tx = db.app.tenant(b.org, b.admin, None).await?;
    let case = cases::get(&mut tx, b.case).await?;
    assert_eq!(case.title.as_str(), "Confidential dispute of beta");
    assert_eq!(case.mediator_id, Some(b.mediator));
    assert_eq!(cases::parties(&mut tx, b.case).await?.len(), 1);
    assert!(sessions::get(&mut tx, b.session).await?.lobby_enabled);
    Ok(())
}

#[tokio::test]
async fn a_connection_without_a_tenant_sees_no_tenant_rows() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let a = populate(&db, "alpha").await?;
    populate(&db, "beta").await?;

    let mut tx = db.app.unscoped().await?;
    for table in ORG_TABLES.iter().chain(&["organizations", "users"]) {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut *tx)
            .await?;
        assert_eq!(n, 0, "{table} is invisible without a tenant");
    }
    let done = sqlx::query("UPDATE cases SET title = 'pwned'")
        .execute(&mut *tx)
        .await?;
    assert_eq!(done.rows_affected(), 0);
    drop(tx);

    // An account-scoped transaction (sign-in) sees its own memberships, and no
    // case data of any org.
    let mut utx = db.app.user(a.admin).await?;
    let orgs_seen: Vec<Uuid> = sqlx::query_scalar("SELECT org_id FROM memberships")
        .fetch_all(utx.conn())
        .await?;
    assert_eq!(orgs_seen, vec![a.org.as_uuid()]);
    for table in [
        "cases",
        "case_parties",
        "sessions",
        "audit_events",
        "organizations",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(utx.conn())
            .await?;
        assert_eq!(
            n, 0,
            "{table} is invisible to an account-scoped transaction"
        );
    }
    drop(utx);

    // Neither kind of transaction can create a membership or an account.
    let writes = [
        "INSERT INTO memberships (org_id, user_id, role) VALUES ($1, $2, 'org_admin')",
        "INSERT INTO users (id, email, display_name) VALUES ($2, 'new@example.test', 'New')",
    ];
    for sql in writes {
        let mut utx = db.app.user(a.admin).await?;
        let result = sqlx::query(sql)
            .bind(a.org.as_uuid())
            .bind(Uuid::now_v7())
            .execute(utx.conn())
            .await;
        let err = refused(result, sql);
        assert_eq!(
            sqlstate(&err).as_deref(),
            Some("42501"),
            "account tx: {sql}: {err}"
        );
        let mut tx = db.app.unscoped().await?;
        let result = sqlx::query(sql)
            .bind(a.org.as_uuid())
            .bind(Uuid::now_v7())
            .execute(&mut *tx)
            .await;
        let err = refused(result, sql);
        assert_eq!(
            sqlstate(&err).as_deref(),
            Some("42501"),
            "unscoped: {sql}: {err}"
        );
    }
    Ok(())
}

/// The application's role on a pool of `connections` of its own, waiting
/// at most 2 s for one.
async fn app_pool(db: &TestDb, connections: u32) -> anyhow::Result<Db> {
    let pool = PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect(&db.app_url)
        .await?;
    Ok(Db::from_pool(pool))
}

#[tokio::test]
async fn a_pooled_connection_does_not_carry_the_previous_tenant() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let a = populate(&db, "alpha").await?;
    // One connection only, so the next transaction surely reuses it.
    let single = app_pool(&db, 1).await?;
    let mut tx = single.tenant(a.org, a.admin, None).await?;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
        .fetch_one(tx.conn())
        .await?;
    assert_eq!(n, 1);
    tx.commit().await?;

    let mut tx = single.unscoped().await?;
    let org: Option<String> = sqlx::query_scalar("SELECT current_setting('accord.org_id', true)")
        .fetch_one(&mut *tx)
        .await?;
    assert!(
        org.unwrap_or_default().is_empty(),
        "the org setting died with the transaction"
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
        .fetch_one(&mut *tx)
        .await?;
    assert_eq!(n, 0);
    drop(tx);
    // Also for a query straight on the pool, outside any scoped transaction.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
        .fetch_one(single.pool())
        .await?;
    assert_eq!(n, 0);

    // The same after a rolled-back (dropped) tenant transaction.
    let tx = single.tenant(a.org, a.admin, None).await?;
    drop(tx);
    let mut tx = single.unscoped().await?;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
        .fetch_one(&mut *tx)
        .await?;
    assert_eq!(n, 0);
    Ok(())
}

/// The server process's id behind `conn`.
async fn backend(conn: &mut sqlx::PgConnection) -> anyhow::Result<i32> {
    Ok(sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await?)
}

/// Cases `conn` sees, with the org setting it runs under.
async fn seen(conn: &mut sqlx::PgConnection) -> anyhow::Result<(i64, String)> {
    let (n, org): (i64, Option<String>) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM cases), current_setting('accord.org_id', true)",
    )
    .fetch_one(conn)
    .await?;
    Ok((n, org.unwrap_or_default()))
}

#[tokio::test]
async fn a_connection_handed_to_the_next_transaction_carries_nothing_of_the_last(
) -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let a = populate(&db, "alpha").await?;
    let b = populate(&db, "beta").await?;
    // Three connections: up to two are handed on without the pool's test.
    let app = app_pool(&db, 3).await?;

    let mut tx = app.tenant(a.org, a.admin, None).await?;
    let first = backend(tx.conn()).await?;
    assert_eq!(seen(tx.conn()).await?, (1, a.org.to_string()));
    tx.commit().await?;
    assert_eq!(app.idle_connections(), 1);

    // The committed connection is the next one out, with the next scope
    // only: org B's transaction sees B's case alone.
    let mut tx = app.tenant(b.org, b.admin, None).await?;
    assert_eq!(backend(tx.conn()).await?, first, "handed on, not a new one");
    assert_eq!(seen(tx.conn()).await?, (1, b.org.to_string()));
    tx.commit().await?;
    // Work outside tenant transactions takes the pool's own connections.
    let mut tx = app.unscoped().await?;
    assert_eq!(seen(&mut tx).await?, (0, String::new()));
    tx.commit().await?;

    // After a transaction dropped (rolled back) with org A's scope, the
    // next one, for org B, sees B's case alone.
    let mut tx = app.tenant(a.org, a.admin, None).await?;
    let dropped = backend(tx.conn()).await?;
    drop(tx);
    let mut handed_on = None;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let mut tx = app.tenant(b.org, b.admin, None).await?;
        let (n, org) = seen(tx.conn()).await?;
        assert_eq!((n, org), (1, b.org.to_string()));
        let on = backend(tx.conn()).await?;
        tx.commit().await?;
        if on == dropped {
            handed_on = Some(on);
            break;
        }
    }
    assert_eq!(
        handed_on,
        Some(dropped),
        "the rolled-back connection is handed on"
    );
    Ok(())
}

#[tokio::test]
async fn the_pool_keeps_a_connection_of_its_own_and_a_dead_kept_one_is_replaced(
) -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let a = populate(&db, "alpha").await?;
    let app = app_pool(&db, 3).await?;

    // Two transactions at once: of a pool of three, two are kept for the
    // next transaction, and the pool keeps one of its own.
    let one = app.tenant(a.org, a.admin, None).await?;
    let mut two = app.tenant(a.org, a.admin, None).await?;
    let second = backend(two.conn()).await?;
    // A third transaction meanwhile waits its turn (and times out here).
    assert!(app.tenant(a.org, a.admin, None).await.is_err());
    one.commit().await?;
    two.commit().await?;
    // Whoever uses the pool directly gets that one, at once.
    let mut direct =
        tokio::time::timeout(std::time::Duration::from_millis(1500), app.pool().acquire())
            .await??;
    assert_eq!(seen(&mut direct).await?, (0, String::new()));
    // And a transaction meanwhile gets the kept one.
    let mut tx = app.tenant(a.org, a.admin, None).await?;
    let kept = backend(tx.conn()).await?;
    assert_eq!(kept, second, "the most recently kept one is handed on");
    tx.commit().await?;
    drop(direct);

    // The kept connection's server process ends (a restart, a failover):
    // once it has been idle a while it is tested before it is handed on,
    // and replaced.
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(kept)
        .fetch_one(db.admin.pool())
        .await?;
    assert!(ended);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut tx = app.tenant(a.org, a.admin, None).await?;
    assert_ne!(backend(tx.conn()).await?, kept);
    assert_eq!(seen(tx.conn()).await?, (1, a.org.to_string()));
    tx.commit().await?;
    Ok(())
}

#[tokio::test]
async fn a_dropped_transaction_whose_connection_died_frees_its_place() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let a = populate(&db, "alpha").await?;
    // Two places for tenant transactions (and one connection of the pool's own).
    let app = app_pool(&db, 3).await?;
    let mut dead = Vec::new();
    for _ in 0..2 {
        // A transaction whose server process ends under it (a restart, a
        // failover), then dropped: its ROLLBACK fails, so the connection
        // is closed instead of kept, and its place is freed.
        let mut tx = app.tenant(a.org, a.admin, None).await?;
        let pid = backend(tx.conn()).await?;
        let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(db.admin.pool())
            .await?;
        assert!(ended);
        dead.push(pid);
        drop(tx);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(app.idle_connections(), 0, "no dead connection is kept");
    // Both places are free again: two transactions at once, on new
    // connections, each scoped to its org.
    let mut one = app.tenant(a.org, a.admin, None).await?;
    let mut two = app.tenant(a.org, a.admin, None).await?;
    for tx in [&mut one, &mut two] {
        assert!(!dead.contains(&backend(tx.conn()).await?));
        assert_eq!(seen(tx.conn()).await?, (1, a.org.to_string()));
    }
    one.commit().await?;
    two.commit().await?;
    Ok(())
}

#[tokio::test]
async fn closing_waits_for_a_transaction_in_flight_and_keeps_nothing_after() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let a = populate(&db, "alpha").await?;
    let app = app_pool(&db, 3).await?;
    // One connection kept, one in a transaction when the pool closes.
    app.tenant(a.org, a.admin, None).await?.commit().await?;
    let mut tx = app.tenant(a.org, a.admin, None).await?;
    let closing = tokio::spawn({
        let app = app.clone();
        async move { app.close().await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(
        !closing.is_finished(),
        "waits for the transaction in flight"
    );
    assert_eq!(seen(tx.conn()).await?, (1, a.org.to_string()));
    tx.commit().await?;
    // Its connection is not kept for a next transaction: the pool closes.
    tokio::time::timeout(std::time::Duration::from_secs(5), closing).await??;
    assert_eq!(app.idle_connections(), 0);
    Ok(())
}

#[tokio::test]
async fn the_app_role_cannot_rewrite_or_delete_audit_events_of_its_own_org() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let a = populate(&db, "alpha").await?;
    let statements = [
        "UPDATE audit_events SET action = 'case.view' WHERE seq = 2",
        "UPDATE audit_events SET action = action",
        "DELETE FROM audit_events WHERE seq = 2",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "DELETE FROM audit_heads",
    ];
    for sql in statements {
        let mut tx = db.app.tenant(a.org, a.admin, None).await?;
        let err = refused(sqlx::query(sql).execute(tx.conn()).await, sql);
        assert_eq!(sqlstate(&err).as_deref(), Some("42501"), "{sql}: {err}");
        assert!(
            err.to_string().contains("permission denied"),
            "{sql}: refused by privileges, not only by the trigger: {err}"
        );
    }
    let mut tx = db.app.tenant(a.org, a.admin, None).await?;
    assert!(audit::verify(&mut tx).await?.problems.is_empty());
    Ok(())
}

#[tokio::test]
async fn the_app_role_has_no_way_around_row_level_security() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let pool = db.app.pool();

    let (superuser, bypass, createrole): (bool, bool, bool) = sqlx::query_as(
        "SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(pool)
    .await?;
    assert!(!superuser, "accord_app is not a superuser");
    assert!(!bypass, "accord_app has no BYPASSRLS");
    assert!(!createrole, "accord_app cannot create roles");

    // Nor does it inherit or may it assume a role that could.
    let powerful: Vec<String> = sqlx::query_scalar(
        "SELECT rolname::text FROM pg_roles \
         WHERE (rolsuper OR rolbypassrls OR rolname = 'accord_lookup') \
           AND pg_has_role(current_user, oid, 'MEMBER')",
    )
    .fetch_all(pool)
    .await?;
    assert!(powerful.is_empty(), "accord_app can assume {powerful:?}");

    let owned: Vec<String> = sqlx::query_scalar(
        "SELECT schemaname || '.' || tablename FROM pg_tables WHERE tableowner = current_user",
    )
    .fetch_all(pool)
    .await?;
    assert!(owned.is_empty(), "accord_app owns {owned:?}");

    // Every tenant-owned table has RLS enabled and forced.
    for table in ORG_TABLES.iter().chain(&["organizations", "users"]) {
        let (enabled, forced): (bool, bool) = sqlx::query_as(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class \
             WHERE oid = ('public.' || $1)::regclass",
        )
        .bind(table)
        .fetch_one(pool)
        .await?;
        assert!(
            enabled && forced,
            "{table}: RLS enabled {enabled}, forced {forced}"
        );
    }

    // Switching RLS off does not switch the policies off: the query is refused.
    let a = populate(&db, "alpha").await?;
    let mut tx = db.app.tenant(a.org, a.admin, None).await?;
    sqlx::query("SET LOCAL row_security = off")
        .execute(tx.conn())
        .await?;
    let result = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM cases")
        .fetch_one(tx.conn())
        .await;
    let err = refused(result, "reading with row_security off");
    assert_eq!(sqlstate(&err).as_deref(), Some("42501"), "{err}");
    drop(tx);
    let mut tx = db.app.unscoped().await?;
    let result = sqlx::query("SET ROLE accord_lookup")
        .execute(&mut *tx)
        .await;
    let err = refused(result, "accord_app becoming accord_lookup");
    assert_eq!(sqlstate(&err).as_deref(), Some("42501"), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_tenant_transaction_for_a_non_member_is_refused() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let a = populate(&db, "alpha").await?;
    let b = populate(&db, "beta").await?;

    let err = db
        .app
        .tenant(a.org, b.admin, None)
        .await
        .expect_err("B's admin is not a member of A");
    assert!(matches!(err, DbError::NotAMember), "{err:?}");
    let err = db
        .app
        .tenant(a.org, UserId::new(), None)
        .await
        .expect_err("an unknown account");
    assert!(matches!(err, DbError::NotAMember), "{err:?}");
    let err = db
        .app
        .tenant(OrgId::new(), a.admin, None)
        .await
        .expect_err("an unknown org");
    assert!(matches!(err, DbError::NotAMember), "{err:?}");

    // A member removed from the org loses access on the next transaction.
    let mut tx = db.app.tenant(a.org, a.admin, None).await?;
    // The party must leave the case before the membership can go.
    cases::remove_party(&mut tx, a.party).await?;
    members::remove(&mut tx, a.party_user).await?;
    tx.commit().await?;
    let err = db
        .app
        .tenant(a.org, a.party_user, None)
        .await
        .expect_err("a removed member");
    assert!(matches!(err, DbError::NotAMember), "{err:?}");
    Ok(())
}

/// The web session's transaction (session, role and tenant in one
/// statement) is scoped exactly as [`Db::tenant`] is, and only for a live
/// session whose account is still a member.
#[tokio::test]
async fn a_web_session_transaction_is_scoped_to_its_org_and_member() -> anyhow::Result<()> {
    use accord_db::auth;
    let db = TestDb::new().await?;
    let a = populate(&db, "alpha").await?;
    let b = populate(&db, "beta").await?;
    let later = Utc::now() + chrono::Duration::hours(1);
    let hash = |n: u8| [n; 32];
    let session = auth::create_web_session(&db.app, &hash(1), a.mediator, a.org, later).await?;

    let (found, tx) = db
        .app
        .web_session_tenant(&hash(1), Some("rid".into()))
        .await?
        .expect("a live session");
    assert_eq!(found.id, session.id);
    assert_eq!((found.user_id, found.org_id), (a.mediator, a.org));
    let mut tx = tx.expect("the mediator is a member");
    let actor = tx.actor();
    assert_eq!(
        (actor.org_id, actor.user_id, actor.role),
        (a.org, Some(a.mediator), Role::Mediator)
    );
    assert_eq!(tx.request_id(), Some("rid"));
    // Unfiltered SQL sees A's rows only, as in a `Db::tenant` transaction.
    assert_eq!(
        uuids(&mut tx, "SELECT id FROM cases").await?,
        BTreeSet::from([a.case.as_uuid()])
    );
    assert!(!uuids(&mut tx, "SELECT org_id FROM memberships")
        .await?
        .contains(&b.org.as_uuid()));
    drop(tx);

    // Unknown, expired and revoked sessions find nothing.
    assert!(db.app.web_session_tenant(&hash(2), None).await?.is_none());
    auth::create_web_session(
        &db.app,
        &hash(3),
        a.admin,
        a.org,
        Utc::now() - chrono::Duration::seconds(1),
    )
    .await?;
    assert!(db.app.web_session_tenant(&hash(3), None).await?.is_none());
    auth::revoke_web_session(&db.app, session.id).await?;
    assert!(db.app.web_session_tenant(&hash(1), None).await?.is_none());

    // A member removed from the org keeps a live session but gets no
    // transaction, and then `Db::tenant` says why.
    auth::create_web_session(&db.app, &hash(4), a.party_user, a.org, later).await?;
    let mut tx = db.app.tenant(a.org, a.admin, None).await?;
    cases::remove_party(&mut tx, a.party).await?;
    members::remove(&mut tx, a.party_user).await?;
    tx.commit().await?;
    let (found, tx) = db
        .app
        .web_session_tenant(&hash(4), None)
        .await?
        .expect("the session itself is live");
    assert_eq!(found.user_id, a.party_user);
    assert!(tx.is_none(), "no transaction for a removed member");
    Ok(())
}

// ---------------------------------------------------------------------------
// Audit chain tamper detection
// ---------------------------------------------------------------------------

/// A fresh database with one org whose chain holds exactly `EVENTS` events.
const EVENTS: i64 = 6;

async fn chain() -> anyhow::Result<(TestDb, Tenant)> {
    let db = TestDb::new().await?;
    let t = populate(&db, "alpha").await?;
    // organization.create + 5 appends in `populate`.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE org_id = $1")
        .bind(t.org.as_uuid())
        .fetch_one(db.admin.pool())
        .await?;
    assert_eq!(n, EVENTS);
    Ok((db, t))
}

async fn verify(db: &TestDb, t: &Tenant) -> anyhow::Result<audit::Verification> {
    let mut tx = db.app.tenant(t.org, t.admin, None).await?;
    Ok(audit::verify(&mut tx).await?)
}

/// Runs `statements` as the owner with triggers off (the append-only trigger
/// would refuse them otherwise), the way someone with database access would.
async fn tamper(db: &TestDb, t: &Tenant, statements: &[&str]) -> anyhow::Result<()> {
    let mut tx = db.admin.pool().begin().await?;
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await?;
    for sql in statements {
        sqlx::query(sql)
            .bind(t.org.as_uuid())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[tokio::test]
async fn an_intact_chain_verifies() -> anyhow::Result<()> {
    let (db, t) = chain().await?;
    // Another org's activity does not disturb this chain.
    populate(&db, "beta").await?;
    let v = verify(&db, &t).await?;
    assert_eq!(v.events, EVENTS as u64);
    assert_eq!(v.problems, vec![]);
    Ok(())
}

#[tokio::test]
async fn the_append_only_trigger_stops_even_the_owner() -> anyhow::Result<()> {
    let (db, t) = chain().await?;
    for sql in [
        "UPDATE audit_events SET action = 'case.view' WHERE org_id = $1 AND seq = 3",
        "DELETE FROM audit_events WHERE org_id = $1 AND seq = 3",
    ] {
        let result = sqlx::query(sql)
            .bind(t.org.as_uuid())
            .execute(db.admin.pool())
            .await;
        let err = refused(result, sql);
        assert_eq!(sqlstate(&err).as_deref(), Some("42501"), "{err}");
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    assert_eq!(verify(&db, &t).await?.problems, vec![]);
    Ok(())
}

#[tokio::test]
async fn an_edited_event_is_detected() -> anyhow::Result<()> {
    let (db, t) = chain().await?;
    tamper(
        &db,
        &t,
        &["UPDATE audit_events SET action = 'case.view' WHERE org_id = $1 AND seq = 3"],
    )
    .await?;
    let v = verify(&db, &t).await?;
    assert_eq!(v.events, EVENTS as u64);
    assert_eq!(v.problems, vec![ChainProblem::Edited { seq: 3 }]);
    Ok(())
}

#[tokio::test]
async fn an_edited_actor_or_timestamp_is_detected() -> anyhow::Result<()> {
    let (db, t) = chain().await?;
    tamper(
        &db,
        &t,
        &[
            "UPDATE audit_events SET actor_user_id = NULL WHERE org_id = $1 AND seq = 2",
            "UPDATE audit_events SET occurred_at = occurred_at - interval '1 day' WHERE org_id = $1 AND seq = 4",
        ],
    )
    .await?;
    let v = verify(&db, &t).await?;
    assert_eq!(
        v.problems,
        vec![
            ChainProblem::Edited { seq: 2 },
            ChainProblem::Edited { seq: 4 }
        ]
    );
    Ok(())
}

#[tokio::test]
async fn a_deleted_middle_event_is_detected() -> anyhow::Result<()> {
    let (db, t) = chain().await?;
    tamper(
        &db,
        &t,
        &["DELETE FROM audit_events WHERE org_id = $1 AND seq = 3"],
    )
    .await?;
    let v = verify(&db, &t).await?;
    assert_eq!(v.events, EVENTS as u64 - 1);
    assert!(
        v.problems.contains(&ChainProblem::Missing {
            expected: 3,
            found: 4
        }),
        "{:?}",
        v.problems
    );
    assert!(
        v.problems.contains(&ChainProblem::BrokenLink { seq: 4 }),
        "{:?}",
        v.problems
    );
    assert!(
        !v.problems.iter().any(|p| matches!(
            p,
            ChainProblem::Edited { .. } | ChainProblem::HeadMismatch { .. }
        )),
        "nothing else is reported: {:?}",
        v.problems
    );
    Ok(())
}

#[tokio::test]
async fn swapped_events_are_detected() -> anyhow::Result<()> {
    let (db, t) = chain().await?;
    // Swap the positions of events 2 and 3 (through a free seq: the key is unique).
    tamper(
        &db,
        &t,
        &[
            "UPDATE audit_events SET seq = 1000 WHERE org_id = $1 AND seq = 2",
            "UPDATE audit_events SET seq = 2 WHERE org_id = $1 AND seq = 3",
            "UPDATE audit_events SET seq = 3 WHERE org_id = $1 AND seq = 1000",
        ],
    )
    .await?;
    let v = verify(&db, &t).await?;
    assert_eq!(v.events, EVENTS as u64);
    for expected in [
        ChainProblem::Edited { seq: 2 },
        ChainProblem::Edited { seq: 3 },
        ChainProblem::BrokenLink { seq: 2 },
        ChainProblem::BrokenLink { seq: 4 },
    ] {
        assert!(
            v.problems.contains(&expected),
            "{expected:?} in {:?}",
            v.problems
        );
    }
    Ok(())
}

#[tokio::test]
async fn swapped_event_contents_are_detected() -> anyhow::Result<()> {
    let (db, t) = chain().await?;
    // Reorder by swapping contents instead of positions: each row keeps its seq
    // (and its unique id) but now carries the other's fields and hashes.
    tamper(
        &db,
        &t,
        &["UPDATE audit_events e SET occurred_at = o.occurred_at, \
             actor_user_id = o.actor_user_id, action = o.action, target_type = o.target_type, \
             target_id = o.target_id, request_id = o.request_id, prev_hash = o.prev_hash, hash = o.hash \
           FROM (SELECT * FROM audit_events WHERE org_id = $1 AND seq IN (4, 5)) o \
           WHERE e.org_id = $1 AND e.seq IN (4, 5) AND o.seq <> e.seq"],
    )
    .await?;
    let v = verify(&db, &t).await?;
    assert!(!v.problems.is_empty(), "a reorder must not verify");
    assert!(
        v.problems.contains(&ChainProblem::Edited { seq: 4 }),
        "{:?}",
        v.problems
    );
    assert!(
        v.problems.contains(&ChainProblem::Edited { seq: 5 }),
        "{:?}",
        v.problems
    );
    Ok(())
}

#[tokio::test]
async fn a_deleted_tail_is_detected_by_the_head() -> anyhow::Result<()> {
    let (db, t) = chain().await?;
    tamper(
        &db,
        &t,
        &["DELETE FROM audit_events WHERE org_id = $1 AND seq = 6"],
    )
    .await?;
    let v = verify(&db, &t).await?;
    assert_eq!(v.events, EVENTS as u64 - 1);
    assert_eq!(
        v.problems,
        vec![ChainProblem::HeadMismatch {
            chain_seq: EVENTS - 1,
            head_seq: EVENTS
        }]
    );
    Ok(())
}

#[tokio::test]
async fn a_rewound_head_is_detected() -> anyhow::Result<()> {
    let (db, t) = chain().await?;
    // Pointing the head at an earlier event (hiding the tail) does not verify either.
    tamper(
        &db,
        &t,
        &[
            "UPDATE audit_heads h SET seq = e.seq, hash = e.hash FROM audit_events e \
           WHERE h.org_id = $1 AND e.org_id = $1 AND e.seq = 4",
        ],
    )
    .await?;
    let v = verify(&db, &t).await?;
    assert_eq!(
        v.problems,
        vec![ChainProblem::HeadMismatch {
            chain_seq: EVENTS,
            head_seq: 4
        }]
    );
    Ok(())
}

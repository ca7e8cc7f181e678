use std::sync::Arc;
use std::time::Duration;

use accord_domain::{OrgId, Role, UserId};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Column as _, PgConnection, PgPool, Postgres, Row as _, Transaction};

use crate::warm::{Lease, Warm};
use crate::DbError;

/// Who is acting in a tenant transaction. `user_id` is `None` for the system
/// (operator commands, seeding), which acts with the org admin's rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The org every statement in the transaction is confined to.
    pub org_id: OrgId,
    /// The signed-in user, or `None` for the system.
    pub user_id: Option<UserId>,
    /// The actor's role in `org_id`, read from their membership when the transaction began.
    pub role: Role,
}

/// The application's pool, connected as the `accord_app` role.
#[derive(Debug, Clone)]
pub struct Db {
    pool: PgPool,
    /// Connections a transaction just ended cleanly, for the next one.
    warm: Arc<Warm>,
}

/// A transaction confined to one org by row-level security. Repository
/// functions take this type, so no code path can reach tenant data unscoped.
#[derive(Debug)]
pub struct TenantTx {
    tx: OpenTx,
    actor: Actor,
    request_id: Option<String>,
}

/// A pooled connection inside a transaction this module began itself (with
/// its set-up in the same round trip as `BEGIN`, which sqlx's `Transaction`
/// cannot do: it reads no rows from its `BEGIN`). Dropped while still open,
/// it is rolled back before the connection goes back to the pool, or the
/// connection is closed; either way no request's settings reach the next.
#[derive(Debug)]
struct OpenTx {
    /// `Some` until committed or dropped.
    conn: Option<Lease>,
}

impl OpenTx {
    /// Runs `begin` (a simple-query string that starts with `BEGIN`) on
    /// `conn`, returning the rows its statements answered.
    // Boxed: the rows' stream is generic over the executor's lifetime, and a
    // resolver's future that held it unboxed could not be shown `Send`.
    fn begin(conn: Lease, begin: &str) -> BoxFuture<'_, Result<(Self, Vec<PgRow>), DbError>> {
        Box::pin(async move {
            let mut tx = OpenTx { conn: Some(conn) };
            // On error `tx` is dropped here, which rolls back what began.
            let conn: &mut PgConnection = tx.conn();
            let rows = sqlx::Executor::fetch_all(conn, begin).await?;
            Ok((tx, rows))
        })
    }

    fn conn(&mut self) -> &mut PgConnection {
        // `conn` is taken only by `commit` (which consumes self) and `drop`.
        self.conn
            .as_deref_mut()
            .expect("an open transaction has its connection")
    }

    /// Commits, in one round trip with a probe: in a transaction that a
    /// failed statement left aborted, Postgres answers `COMMIT` with a
    /// silent `ROLLBACK`; here the `SELECT 1` before it fails instead (and
    /// the `COMMIT` after it is not run), so a commit that reports success
    /// kept everything.
    fn commit(mut self) -> BoxFuture<'static, Result<(), DbError>> {
        Box::pin(async move {
            let conn: &mut PgConnection = self.conn();
            sqlx::Executor::execute(conn, "SELECT 1; COMMIT").await?;
            // Committed, and Postgres answered: the connection is idle and
            // outside any transaction, ready for the next one as it is.
            if let Some(conn) = self.conn.take() {
                conn.keep();
            }
            Ok(())
            // On error `self` is dropped with its connection: rolled back.
        })
    }
}

/// Ends a dropped transaction, first waiting out whatever an interrupted
/// statement left pending; a connection that cannot is closed.
async fn rollback(mut conn: Lease) {
    let conn_ref: &mut PgConnection = &mut conn;
    if sqlx::Executor::execute(conn_ref, "ROLLBACK").await.is_ok() {
        conn.keep();
    } else {
        conn.close();
    }
}

impl Drop for OpenTx {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(rollback(conn));
            }
            // No runtime to roll back on: the server ends the transaction
            // when the connection closes.
            Err(_) => conn.close(),
        }
    }
}

/// A transaction scoped to one account and no org: sign-in, password setup, TOTP.
#[derive(Debug)]
pub struct UserTx {
    tx: Transaction<'static, Postgres>,
    user_id: UserId,
}

/// The owner's pool, for migrations and operator commands.
#[derive(Debug, Clone)]
pub struct AdminDb {
    pool: PgPool,
}

/// The pool settings [`Db::connect`] uses; tests that need a shorter wait
/// for a connection start from these and wrap the pool with [`Db::from_pool`].
///
/// Each new connection prepares the statement that begins a signed-in
/// request ([`SCOPE_STATEMENT`]), so a request names it in its `BEGIN`
/// round trip instead of Postgres parsing and planning it again every
/// time. (The schema must be migrated before the pool connects.)
pub fn pool_options() -> PgPoolOptions {
    owner_pool_options().after_connect(|conn, _meta| {
        Box::pin(async move {
            let prepare = format!(
                "PREPARE {SCOPE_STATEMENT}(text) AS \
                 SELECT session_id, user_id, org_id, expires_at, role \
                 FROM accord_web_session_scope(decode($1, 'hex'))"
            );
            sqlx::Executor::execute(&mut *conn, prepare.as_str()).await?;
            Ok(())
        })
    })
}

/// The name of the prepared statement every application connection holds:
/// the web session's scope ([`Db::web_session_tenant`]) from the token's
/// hash as hex digits.
const SCOPE_STATEMENT: &str = "accord_scope_by_token_hash";

/// [`pool_options`] without the prepared statement: for the owner's pool,
/// which connects before the migrations that define it.
fn owner_pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(DEFAULT_POOL_SIZE)
        // A request waits at most this long for a connection (also while the
        // server is down and every connect is refused); then it fails as
        // `DbError::Unavailable` instead of hanging.
        .acquire_timeout(Duration::from_secs(5))
        // An idle connection the server has since closed (a restart, a
        // failover) is found and dropped here, not handed to a request. The
        // pool already pings every connection as it comes back (which also
        // flushes a dropped transaction's ROLLBACK), so one that was in use
        // a moment ago is not pinged again: under load that second round
        // trip per request bought nothing. (A connection lost within that
        // moment fails its request as any lost mid-request does: retried
        // once, else `UNAVAILABLE`.)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_WHEN_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// The most connections [`Db::connect`]'s pool holds.
pub const DEFAULT_POOL_SIZE: u32 = 20;

/// `accord_web_session_scope`'s row: session id, user, org, expiry, role
/// (`None` when the membership is gone).
type ScopeRow = (
    uuid::Uuid,
    uuid::Uuid,
    uuid::Uuid,
    chrono::DateTime<chrono::Utc>,
    Option<String>,
);

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A pooled connection idle this long is pinged before a request gets it.
pub(crate) const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// `BEGIN` and the transaction's settings in one round trip (one simple-query
/// message). set_config(..., true) is SET LOCAL: the setting dies with the
/// transaction, so a pooled connection never carries one request's org into
/// the next. The values are ids Accord formats itself (UUIDs or empty), never
/// input, so writing them into the statement is safe.
fn begin_statement(org_id: Option<OrgId>, user_id: Option<UserId>) -> String {
    let org = org_id.map(|o| o.as_uuid().to_string()).unwrap_or_default();
    let user = user_id.map(|u| u.as_uuid().to_string()).unwrap_or_default();
    format!(
        "BEGIN; SELECT set_config('accord.org_id', '{org}', true), \
         set_config('accord.user_id', '{user}', true)"
    )
}

/// [`begin_statement`] as an sqlx transaction (account and unscoped work).
async fn begin_scoped(
    pool: &PgPool,
    org_id: Option<OrgId>,
    user_id: Option<UserId>,
) -> Result<Transaction<'static, Postgres>, DbError> {
    Ok(pool.begin_with(begin_statement(org_id, user_id)).await?)
}

impl Db {
    /// Connects as the application role.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        Self::connect_sized(url, DEFAULT_POOL_SIZE).await
    }

    /// Connects as the application role, holding at most `pool_size`
    /// connections (at least one).
    pub async fn connect_sized(url: &str, pool_size: u32) -> Result<Self, DbError> {
        let options: PgConnectOptions = url.parse()?;
        let pool = pool_options()
            .max_connections(pool_size.max(1))
            .connect_with(options)
            .await?;
        Ok(Self::from_pool(pool))
    }

    /// Wraps an existing pool (tests, or callers that configure their own).
    pub fn from_pool(pool: PgPool) -> Self {
        let warm = Warm::for_pool(&pool);
        Db { pool, warm }
    }

    /// The underlying pool, for health checks. (Up to one connection fewer
    /// than it holds may be kept for the next tenant transaction instead:
    /// see `warm.rs`; [`Db::idle_connections`] counts them, and
    /// [`Db::close`] closes both.)
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Connections idle now: the pool's and those kept for the next
    /// transaction.
    pub fn idle_connections(&self) -> usize {
        self.pool.num_idle() + self.warm.idle()
    }

    /// A connection for a tenant transaction: the one most recently kept
    /// after a clean transaction, else the pool's (see `warm.rs`). Other
    /// work (sign-in, the workers) takes the pool's connections directly,
    /// so a flood of requests never holds the last of them.
    async fn take(&self) -> Result<Lease, DbError> {
        self.warm.take(&self.pool).await
    }

    /// Gives the connections kept for the next transaction back to the pool
    /// and closes it (waiting for those in use to come back).
    pub async fn close(&self) {
        self.warm.release_idle();
        self.pool.close().await;
    }

    /// Begins a transaction for `user_id` acting in `org_id`. Fails with
    /// [`DbError::NotAMember`] when the user has no membership there.
    #[tracing::instrument(name = "db.begin", skip_all, fields(
        db.system.name = "postgresql", db.operation.name = "BEGIN",
        accord.scope = "tenant", accord.org_id = %org_id, accord.role = tracing::field::Empty,
    ))]
    pub async fn tenant(
        &self,
        org_id: OrgId,
        user_id: UserId,
        request_id: Option<String>,
    ) -> Result<TenantTx, DbError> {
        // BEGIN, the settings and the role in one round trip (ids only, as
        // in `begin_statement`).
        let (tx, rows) = OpenTx::begin(
            self.take().await?,
            &format!(
                "{}; SELECT role FROM memberships WHERE org_id = '{}' AND user_id = '{}'",
                begin_statement(Some(org_id), Some(user_id)),
                org_id.as_uuid(),
                user_id.as_uuid(),
            ),
        )
        .await?;
        // The rows of both SELECTs come back: the settings' one, then the
        // membership's (if any).
        let role: Option<String> = rows
            .iter()
            .find(|row| row.columns().iter().any(|c| c.name() == "role"))
            .map(|row| row.try_get("role"))
            .transpose()?;
        let role: Role = role.ok_or(DbError::NotAMember)?.parse()?;
        tracing::Span::current().record("accord.role", tracing::field::display(role));
        Ok(TenantTx {
            tx,
            actor: Actor {
                org_id,
                user_id: Some(user_id),
                role,
            },
            request_id,
        })
    }

    /// Begins the transaction of a request signed in with the web session
    /// whose token hashes to `token_hash`: one `BEGIN`, then one statement
    /// (prepared when the connection opened, see [`pool_options`]) that
    /// finds the live session, reads the account's role in the session's
    /// org and scopes the transaction to both (see the
    /// `accord_web_session_scope` migration). `None` when no live session
    /// has that hash; the transaction is `None` when the account is no
    /// longer a member of the session's org (then nothing was scoped and
    /// [`Db::tenant`] answers [`DbError::NotAMember`]).
    #[tracing::instrument(name = "db.begin", skip_all, fields(
        db.system.name = "postgresql", db.operation.name = "BEGIN",
        accord.scope = "web_session", accord.org_id = tracing::field::Empty,
        accord.role = tracing::field::Empty,
    ))]
    pub async fn web_session_tenant(
        &self,
        token_hash: &[u8; 32],
        request_id: Option<String>,
    ) -> Result<Option<(crate::auth::WebSession, Option<TenantTx>)>, DbError> {
        // The hash is 32 bytes written as hex digits here, never input text.
        let hash = hex::encode(token_hash);
        let (tx, rows) = OpenTx::begin(
            self.take().await?,
            &format!("BEGIN; EXECUTE {SCOPE_STATEMENT}('{hash}')"),
        )
        .await?;
        let row: Option<ScopeRow> = rows
            .first()
            .map(|row| {
                Ok::<_, sqlx::Error>((
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                    row.try_get(4)?,
                ))
            })
            .transpose()?;
        let Some((id, user, org, expires_at, role)) = row else {
            return Ok(None);
        };
        let session = crate::auth::WebSession {
            id,
            user_id: UserId::from_uuid(user),
            org_id: OrgId::from_uuid(org),
            expires_at,
        };
        let span = tracing::Span::current();
        span.record("accord.org_id", tracing::field::display(session.org_id));
        if let Some(role) = &role {
            span.record("accord.role", role.as_str());
        }
        let tx = match role {
            Some(role) => Some(TenantTx {
                tx,
                actor: Actor {
                    org_id: session.org_id,
                    user_id: Some(session.user_id),
                    role: role.parse()?,
                },
                request_id,
            }),
            None => None,
        };
        Ok(Some((session, tx)))
    }

    /// Begins a tenant transaction for nobody yet (an invite link being
    /// redeemed): confined to `org_id`, audited with no actor until
    /// [`TenantTx::act_as`] names one.
    #[tracing::instrument(name = "db.begin", skip_all, fields(
        db.system.name = "postgresql", db.operation.name = "BEGIN",
        accord.scope = "tenant", accord.org_id = %org_id, accord.role = %role,
    ))]
    pub(crate) async fn anonymous_tenant(
        &self,
        org_id: OrgId,
        role: Role,
        request_id: Option<String>,
    ) -> Result<TenantTx, DbError> {
        let (tx, _) =
            OpenTx::begin(self.take().await?, &begin_statement(Some(org_id), None)).await?;
        Ok(TenantTx {
            tx,
            actor: Actor {
                org_id,
                user_id: None,
                role,
            },
            request_id,
        })
    }

    /// Begins a transaction scoped to one account and no org.
    #[tracing::instrument(name = "db.begin", skip_all, fields(
        db.system.name = "postgresql", db.operation.name = "BEGIN", accord.scope = "user",
    ))]
    pub async fn user(&self, user_id: UserId) -> Result<UserTx, DbError> {
        let tx = begin_scoped(&self.pool, None, Some(user_id)).await?;
        Ok(UserTx { tx, user_id })
    }

    /// A plain connection with no tenant and no user: only the lookup functions
    /// and the account-level tables (sessions, links) are reachable from it.
    #[tracing::instrument(name = "db.begin", skip_all, fields(
        db.system.name = "postgresql", db.operation.name = "BEGIN", accord.scope = "unscoped",
    ))]
    pub async fn unscoped(&self) -> Result<Transaction<'static, Postgres>, DbError> {
        begin_scoped(&self.pool, None, None).await
    }
}

impl TenantTx {
    /// The actor this transaction runs for.
    pub fn actor(&self) -> Actor {
        self.actor
    }

    /// The request this transaction serves, recorded in audit events.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The connection, for repository code. It stays bound by the org's
    /// row-level security whatever is run on it.
    pub fn conn(&mut self) -> &mut PgConnection {
        self.tx.conn()
    }

    /// Commits the transaction. Fails, keeping nothing, when a statement
    /// failed in it earlier (Postgres would answer the `COMMIT` of such a
    /// transaction with a silent rollback).
    #[tracing::instrument(name = "db.commit", skip_all, fields(
        db.system.name = "postgresql", db.operation.name = "COMMIT", accord.scope = "tenant",
        accord.org_id = %self.actor.org_id, accord.role = %self.actor.role,
    ))]
    pub async fn commit(self) -> Result<(), DbError> {
        self.tx.commit().await?;
        Ok(())
    }

    /// From now on the transaction acts for `user_id` (whose account it has
    /// just found or made), in the role it began with.
    pub(crate) async fn act_as(&mut self, user_id: UserId) -> Result<(), DbError> {
        sqlx::query("SELECT set_config('accord.user_id', $1, true)")
            .bind(user_id.to_string())
            .execute(self.tx.conn())
            .await?;
        self.actor.user_id = Some(user_id);
        Ok(())
    }
}

impl UserTx {
    /// Narrows an unscoped transaction (from [`Db::unscoped`]) to one account,
    /// keeping what it has done and locked so far.
    pub async fn scope(
        mut tx: Transaction<'static, Postgres>,
        user_id: UserId,
    ) -> Result<Self, DbError> {
        sqlx::query("SELECT set_config('accord.user_id', $1, true)")
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await?;
        Ok(UserTx { tx, user_id })
    }

    /// The account this transaction is scoped to.
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// The connection, bound by the account's row-level security.
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Commits the transaction.
    #[tracing::instrument(name = "db.commit", skip_all, fields(
        db.system.name = "postgresql", db.operation.name = "COMMIT", accord.scope = "user",
    ))]
    pub async fn commit(self) -> Result<(), DbError> {
        self.tx.commit().await?;
        Ok(())
    }
}

impl AdminDb {
    /// Connects as the owner of the schema (the migrating role).
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        let options: PgConnectOptions = url.parse()?;
        let pool = owner_pool_options()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Ok(AdminDb { pool })
    }

    /// The owner's pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), DbError> {
        crate::MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| DbError::Sqlx(e.into()))
    }

    /// A tenant transaction for the system acting in `org_id`, with the org
    /// admin's rights. Still confined to the org by row-level security.
    #[tracing::instrument(name = "db.begin", skip_all, fields(
        db.system.name = "postgresql", db.operation.name = "BEGIN",
        accord.scope = "system", accord.org_id = %org_id,
    ))]
    pub async fn system_tenant(
        &self,
        org_id: OrgId,
        request_id: Option<String>,
    ) -> Result<TenantTx, DbError> {
        let (tx, _) = OpenTx::begin(
            Lease::pooled(self.pool.acquire().await?),
            &begin_statement(Some(org_id), None),
        )
        .await?;
        Ok(TenantTx {
            tx,
            actor: Actor {
                org_id,
                user_id: None,
                role: Role::OrgAdmin,
            },
            request_id,
        })
    }

    /// A plain owner transaction with no tenant (creating orgs).
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, DbError> {
        Ok(self.pool.begin().await?)
    }
}

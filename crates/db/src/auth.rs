//! Account-level sign-in state: credentials (through [`UserTx`]), web sessions,
//! single-use password links, TOTP recovery codes, linked OIDC identities and
//! pending OIDC logins. Secrets are stored as SHA-256 hashes only.

use accord_domain::{DisplayName, EmailAddress, OrgId, Role, UserId};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Db, DbError, UserTx};

/// What sign-in needs to know about an account.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The account's email address.
    pub email: EmailAddress,
    /// The account's display name.
    pub display_name: DisplayName,
    /// The argon2id PHC string, once a password is set.
    pub password_hash: Option<String>,
    /// The confirmed TOTP secret, when TOTP is on.
    pub totp_secret: Option<Vec<u8>>,
    /// A TOTP secret awaiting confirmation.
    pub totp_pending_secret: Option<Vec<u8>>,
    /// The last accepted TOTP time step.
    pub totp_last_step: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct CredentialsRow {
    email: String,
    display_name: String,
    password_hash: Option<String>,
    totp_secret: Option<Vec<u8>>,
    totp_pending_secret: Option<Vec<u8>>,
    totp_last_step: Option<i64>,
}

/// The account's credentials.
pub async fn credentials(utx: &mut UserTx) -> Result<Credentials, DbError> {
    let id = utx.user_id().as_uuid();
    let r: CredentialsRow = sqlx::query_as(
        "SELECT email, display_name, password_hash, totp_secret, totp_pending_secret, \
         totp_last_step FROM users WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_one(utx.conn())
    .await?;
    Ok(Credentials {
        email: EmailAddress::parse(&r.email)?,
        display_name: DisplayName::parse(&r.display_name)?,
        password_hash: r.password_hash,
        totp_secret: r.totp_secret,
        totp_pending_secret: r.totp_pending_secret,
        totp_last_step: r.totp_last_step,
    })
}

/// The failed-sign-in count of one email address (known or not).
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    /// Consecutive failures.
    pub failures: i32,
    /// Sign-in is refused until then.
    pub locked_until: Option<DateTime<Utc>>,
}

/// Reads the throttle of an email hash and locks its row until `conn`'s
/// transaction ends, so concurrent attempts on one address are counted one by
/// one. Also forgets stale rows.
pub async fn lock_throttle(
    conn: &mut sqlx::PgConnection,
    email_hash: &[u8; 32],
) -> Result<Throttle, DbError> {
    sqlx::query(
        "DELETE FROM sign_in_throttle WHERE updated_at < now() - interval '1 day' \
         AND (locked_until IS NULL OR locked_until < now())",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO sign_in_throttle (email_hash) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(email_hash.as_slice())
        .execute(&mut *conn)
        .await?;
    let (failures, locked_until): (i32, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT failures, locked_until FROM sign_in_throttle WHERE email_hash = $1 FOR UPDATE",
    )
    .bind(email_hash.as_slice())
    .fetch_one(&mut *conn)
    .await?;
    Ok(Throttle {
        failures,
        locked_until,
    })
}

/// Records a failed sign-in and the lock (if any) that follows from it.
pub async fn record_failed_sign_in(
    conn: &mut sqlx::PgConnection,
    email_hash: &[u8; 32],
    failures: i32,
    locked_until: Option<DateTime<Utc>>,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE sign_in_throttle SET failures = $2, locked_until = $3, updated_at = now() \
         WHERE email_hash = $1",
    )
    .bind(email_hash.as_slice())
    .bind(failures)
    .bind(locked_until)
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets the failures of an address (after a successful sign-in or a new password).
pub async fn clear_throttle(
    conn: &mut sqlx::PgConnection,
    email_hash: &[u8; 32],
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM sign_in_throttle WHERE email_hash = $1")
        .bind(email_hash.as_slice())
        .execute(conn)
        .await?;
    Ok(())
}

/// Voids every unused password link of the account: after a password is set,
/// an older setup or reset link must not set another.
pub async fn void_password_links(utx: &mut UserTx) -> Result<(), DbError> {
    let id = utx.user_id().as_uuid();
    sqlx::query("UPDATE password_links SET used_at = now() WHERE user_id = $1 AND used_at IS NULL")
        .bind(id)
        .execute(utx.conn())
        .await?;
    Ok(())
}

/// Stores a new password hash.
pub async fn set_password_hash(utx: &mut UserTx, hash: &str) -> Result<(), DbError> {
    let id = utx.user_id().as_uuid();
    sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(id)
        .bind(hash)
        .execute(utx.conn())
        .await?;
    Ok(())
}

/// Stores a TOTP secret awaiting confirmation.
pub async fn set_totp_pending(utx: &mut UserTx, secret: &[u8]) -> Result<(), DbError> {
    let id = utx.user_id().as_uuid();
    sqlx::query("UPDATE users SET totp_pending_secret = $2 WHERE id = $1")
        .bind(id)
        .bind(secret)
        .execute(utx.conn())
        .await?;
    Ok(())
}

/// Turns TOTP on with the confirmed secret, remembering the step used to confirm it.
pub async fn enable_totp(utx: &mut UserTx, secret: &[u8], step: i64) -> Result<(), DbError> {
    let id = utx.user_id().as_uuid();
    sqlx::query(
        "UPDATE users SET totp_secret = $2, totp_pending_secret = NULL, totp_last_step = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(secret)
    .bind(step)
    .execute(utx.conn())
    .await?;
    Ok(())
}

/// Turns TOTP off and drops the recovery codes.
pub async fn disable_totp(utx: &mut UserTx) -> Result<(), DbError> {
    let id = utx.user_id().as_uuid();
    sqlx::query(
        "UPDATE users SET totp_secret = NULL, totp_pending_secret = NULL, totp_last_step = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(utx.conn())
    .await?;
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(id)
        .execute(utx.conn())
        .await?;
    Ok(())
}

/// Remembers the last accepted TOTP step so a code cannot be used twice.
pub async fn set_totp_last_step(utx: &mut UserTx, step: i64) -> Result<(), DbError> {
    let id = utx.user_id().as_uuid();
    sqlx::query("UPDATE users SET totp_last_step = $2 WHERE id = $1")
        .bind(id)
        .bind(step)
        .execute(utx.conn())
        .await?;
    Ok(())
}

/// Replaces the account's recovery codes with new ones (hashes).
pub async fn replace_recovery_codes(utx: &mut UserTx, hashes: &[[u8; 32]]) -> Result<(), DbError> {
    let id = utx.user_id().as_uuid();
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(id)
        .execute(utx.conn())
        .await?;
    for hash in hashes {
        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(id)
            .bind(hash.as_slice())
            .execute(utx.conn())
            .await?;
    }
    Ok(())
}

/// Spends a recovery code; false if it is unknown or already used.
pub async fn use_recovery_code(utx: &mut UserTx, hash: &[u8; 32]) -> Result<bool, DbError> {
    let id = utx.user_id().as_uuid();
    let spent = sqlx::query(
        "UPDATE recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(id)
    .bind(hash.as_slice())
    .execute(utx.conn())
    .await?;
    Ok(spent.rows_affected() == 1)
}

/// The orgs the account belongs to, with its role in each.
pub async fn memberships(utx: &mut UserTx) -> Result<Vec<(OrgId, Role)>, DbError> {
    let id = utx.user_id().as_uuid();
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT org_id, role FROM memberships WHERE user_id = $1 ORDER BY created_at",
    )
    .bind(id)
    .fetch_all(utx.conn())
    .await?;
    rows.into_iter()
        .map(|(org, role)| Ok((OrgId::from_uuid(org), role.parse()?)))
        .collect()
}

/// A signed-in browser.
#[derive(Debug, Clone, Copy)]
pub struct WebSession {
    /// Its id (not the token).
    pub id: Uuid,
    /// The account.
    pub user_id: UserId,
    /// The org chosen at sign-in.
    pub org_id: OrgId,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// Starts a web session for a token whose hash is `token_hash`.
pub async fn create_web_session(
    db: &Db,
    token_hash: &[u8; 32],
    user_id: UserId,
    org_id: OrgId,
    expires_at: DateTime<Utc>,
) -> Result<WebSession, DbError> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO web_sessions (id, token_hash, user_id, org_id, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(token_hash.as_slice())
    .bind(user_id.as_uuid())
    .bind(org_id.as_uuid())
    .bind(expires_at)
    .execute(db.pool())
    .await?;
    Ok(WebSession {
        id,
        user_id,
        org_id,
        expires_at,
    })
}

/// The live (unexpired, unrevoked) web session for a token hash.
pub async fn live_web_session(
    db: &Db,
    token_hash: &[u8; 32],
) -> Result<Option<WebSession>, DbError> {
    let row: Option<(Uuid, Uuid, Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, user_id, org_id, expires_at FROM web_sessions \
         WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()",
    )
    .bind(token_hash.as_slice())
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|(id, user, org, expires_at)| WebSession {
        id,
        user_id: UserId::from_uuid(user),
        org_id: OrgId::from_uuid(org),
        expires_at,
    }))
}

/// Ends one web session.
pub async fn revoke_web_session(db: &Db, id: Uuid) -> Result<(), DbError> {
    sqlx::query("UPDATE web_sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Ends every web session of an account ("sign out everywhere", password change).
pub async fn revoke_all_web_sessions(db: &Db, user_id: UserId) -> Result<u64, DbError> {
    let done = sqlx::query(
        "UPDATE web_sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id.as_uuid())
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected())
}

/// What a password link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// First password of a new account.
    Setup,
    /// Forgotten password.
    Reset,
}

impl LinkPurpose {
    fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Setup => "setup",
            LinkPurpose::Reset => "reset",
        }
    }
}

/// Stores a single-use password link (by the hash of its token), in the
/// caller's transaction so that a link never outlives a rolled-back invitation.
pub async fn create_password_link(
    conn: &mut sqlx::PgConnection,
    token_hash: &[u8; 32],
    user_id: UserId,
    purpose: LinkPurpose,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO password_links (id, token_hash, user_id, purpose, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::now_v7())
    .bind(token_hash.as_slice())
    .bind(user_id.as_uuid())
    .bind(purpose.as_str())
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Why a password link cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No such link.
    #[error("this link is not valid")]
    Unknown,
    /// It was used already.
    #[error("this link has already been used")]
    Used,
    /// It expired.
    #[error("this link has expired")]
    Expired,
    /// Anything from the data layer.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Spends a password link and opens a transaction scoped to its account, in
/// which the caller sets the password before committing. The row lock makes two
/// concurrent redemptions of one link end with exactly one success, and a
/// failure before commit leaves the link unspent.
pub async fn spend_password_link(
    db: &Db,
    token_hash: &[u8; 32],
) -> Result<(UserTx, LinkPurpose), LinkError> {
    #[derive(sqlx::FromRow)]
    struct LinkRow {
        id: Uuid,
        user_id: Uuid,
        purpose: String,
        used_at: Option<DateTime<Utc>>,
        expired: bool,
    }
    let mut tx = db.unscoped().await?;
    let row: Option<LinkRow> = sqlx::query_as(
        "SELECT id, user_id, purpose, used_at, expires_at <= now() AS expired FROM password_links \
         WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(token_hash.as_slice())
    .fetch_optional(&mut *tx)
    .await
    .map_err(DbError::from)?;
    let link = row.ok_or(LinkError::Unknown)?;
    if link.used_at.is_some() {
        return Err(LinkError::Used);
    }
    if link.expired {
        return Err(LinkError::Expired);
    }
    let (id, user_id, purpose) = (link.id, link.user_id, link.purpose);
    sqlx::query("UPDATE password_links SET used_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(DbError::from)?;
    let purpose = if purpose == "reset" {
        LinkPurpose::Reset
    } else {
        LinkPurpose::Setup
    };
    let utx = UserTx::scope(tx, UserId::from_uuid(user_id)).await?;
    Ok((utx, purpose))
}

/// The account linked to an OIDC subject, if any.
pub async fn identity_user(
    db: &Db,
    issuer: &str,
    subject: &str,
) -> Result<Option<UserId>, DbError> {
    let id: Option<Uuid> = sqlx::query_scalar(
        "SELECT user_id FROM user_identities WHERE issuer = $1 AND subject = $2",
    )
    .bind(issuer)
    .bind(subject)
    .fetch_optional(db.pool())
    .await?;
    Ok(id.map(UserId::from_uuid))
}

/// Links an OIDC subject to an account.
pub async fn link_identity(
    db: &Db,
    issuer: &str,
    subject: &str,
    user_id: UserId,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO user_identities (issuer, subject, user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(issuer)
    .bind(subject)
    .bind(user_id.as_uuid())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Keeps a pending OIDC login until its callback. `binding_hash` is the hash
/// of the secret in the starting browser's cookie.
pub async fn store_oidc_login(
    db: &Db,
    state_hash: &[u8; 32],
    binding_hash: &[u8; 32],
    pending: &serde_json::Value,
    org_slug: Option<&str>,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM oidc_logins WHERE expires_at <= now()")
        .execute(db.pool())
        .await?;
    sqlx::query(
        "INSERT INTO oidc_logins (state_hash, binding_hash, pending, org_slug, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(state_hash.as_slice())
    .bind(binding_hash.as_slice())
    .bind(pending)
    .bind(org_slug)
    .bind(expires_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A pending OIDC login taken back at its callback.
#[derive(Debug)]
pub struct PendingOidcLogin {
    /// What the OIDC client needs to finish (nonce, PKCE verifier).
    pub pending: serde_json::Value,
    /// The org named at the start, if any.
    pub org_slug: Option<String>,
    /// Hash of the starting browser's binding secret.
    pub binding_hash: Vec<u8>,
}

/// Takes (and deletes) a pending, unexpired OIDC login.
pub async fn take_oidc_login(
    db: &Db,
    state_hash: &[u8; 32],
) -> Result<Option<PendingOidcLogin>, DbError> {
    let row: Option<(serde_json::Value, Option<String>, Vec<u8>, bool)> = sqlx::query_as(
        "DELETE FROM oidc_logins WHERE state_hash = $1 \
         RETURNING pending, org_slug, binding_hash, expires_at > now()",
    )
    .bind(state_hash.as_slice())
    .fetch_optional(db.pool())
    .await?;
    Ok(row.and_then(|(pending, org_slug, binding_hash, live)| {
        live.then_some(PendingOidcLogin {
            pending,
            org_slug,
            binding_hash,
        })
    }))
}

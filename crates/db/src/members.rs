//! Accounts and their memberships in the current org.

use accord_domain::{DisplayName, EmailAddress, IanaTimeZone, Role, UserId};
use chrono::{DateTime, Utc};

use crate::{DbError, TenantTx};

/// A member of the current org.
#[derive(Debug, Clone)]
pub struct Member {
    /// The account.
    pub user_id: UserId,
    /// The account's email address.
    pub email: EmailAddress,
    /// The account's display name.
    pub display_name: DisplayName,
    /// The role in this org.
    pub role: Role,
    /// When the membership began.
    pub joined_at: DateTime<Utc>,
    /// Whether they have signed in to this org yet.
    pub joined: bool,
}

/// A member as `memberships m JOIN users u` answers them (see
/// `SELECT_MEMBER`); statements that bring members along with other rows
/// (a page of cases) fill it by name.
#[derive(sqlx::FromRow)]
pub(crate) struct MemberRow {
    pub(crate) user_id: uuid::Uuid,
    pub(crate) email: String,
    pub(crate) display_name: String,
    pub(crate) role: String,
    pub(crate) joined_at: DateTime<Utc>,
    pub(crate) joined: bool,
}

impl TryFrom<MemberRow> for Member {
    type Error = DbError;
    fn try_from(r: MemberRow) -> Result<Self, DbError> {
        Ok(Member {
            user_id: UserId::from_uuid(r.user_id),
            email: EmailAddress::parse(&r.email)?,
            display_name: DisplayName::parse(&r.display_name)?,
            role: r.role.parse()?,
            joined_at: r.joined_at,
            joined: r.joined,
        })
    }
}

const SELECT_MEMBER: &str = "SELECT m.user_id, u.email, m.display_name, m.role, \
     m.created_at AS joined_at, (m.joined_at IS NOT NULL) AS joined \
     FROM memberships m JOIN users u ON u.id = m.user_id";

/// Every member of the org, by display name.
pub async fn list(tx: &mut TenantTx) -> Result<Vec<Member>, DbError> {
    let rows: Vec<MemberRow> = sqlx::query_as(&format!(
        "{SELECT_MEMBER} WHERE m.org_id = $1 ORDER BY u.display_name, m.user_id"
    ))
    .bind(tx.actor().org_id.as_uuid())
    .fetch_all(tx.conn())
    .await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

/// One member, or [`DbError::NotFound`].
pub async fn get(tx: &mut TenantTx, user_id: UserId) -> Result<Member, DbError> {
    let row: MemberRow = sqlx::query_as(&format!(
        "{SELECT_MEMBER} WHERE m.org_id = $1 AND m.user_id = $2"
    ))
    .bind(tx.actor().org_id.as_uuid())
    .bind(user_id.as_uuid())
    .fetch_one(tx.conn())
    .await?;
    row.try_into()
}

/// The members among `user_ids` (those who are not members of the org are
/// left out), in no particular order.
pub async fn get_many(tx: &mut TenantTx, user_ids: &[UserId]) -> Result<Vec<Member>, DbError> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<uuid::Uuid> = user_ids.iter().map(|u| u.as_uuid()).collect();
    let rows: Vec<MemberRow> = sqlx::query_as(&format!(
        "{SELECT_MEMBER} WHERE m.org_id = $1 AND m.user_id = ANY($2)"
    ))
    .bind(tx.actor().org_id.as_uuid())
    .bind(&ids)
    .fetch_all(tx.conn())
    .await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

/// The signed-in account's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnAccount {
    /// Whether sign-in asks for a TOTP code.
    pub totp_enabled: bool,
    /// The time zone they chose, if any.
    pub time_zone: Option<IanaTimeZone>,
}

#[derive(sqlx::FromRow)]
struct OwnAccountRow {
    totp_enabled: bool,
    time_zone: Option<String>,
}

impl From<OwnAccountRow> for OwnAccount {
    fn from(r: OwnAccountRow) -> Self {
        OwnAccount {
            totp_enabled: r.totp_enabled,
            // A name the time-zone database no longer knows reads as unset:
            // the portals fall back to the browser's zone.
            time_zone: r.time_zone.and_then(|tz| IanaTimeZone::parse(&tz).ok()),
        }
    }
}

/// The transaction's user's own settings ([`DbError::NotAMember`] for the system).
pub async fn own_account(tx: &mut TenantTx) -> Result<OwnAccount, DbError> {
    let user = tx.actor().user_id.ok_or(DbError::NotAMember)?;
    let row: OwnAccountRow = sqlx::query_as(
        "SELECT totp_secret IS NOT NULL AS totp_enabled, time_zone FROM users WHERE id = $1",
    )
    .bind(user.as_uuid())
    .fetch_one(tx.conn())
    .await?;
    Ok(row.into())
}

/// Sets (or clears) the transaction's user's own time zone.
pub async fn set_own_time_zone(
    tx: &mut TenantTx,
    time_zone: Option<&IanaTimeZone>,
) -> Result<OwnAccount, DbError> {
    let user = tx.actor().user_id.ok_or(DbError::NotAMember)?;
    let row: OwnAccountRow = sqlx::query_as(
        "UPDATE users SET time_zone = $2 WHERE id = $1 \
         RETURNING totp_secret IS NOT NULL AS totp_enabled, time_zone",
    )
    .bind(user.as_uuid())
    .bind(time_zone.map(IanaTimeZone::as_str))
    .fetch_one(tx.conn())
    .await?;
    Ok(row.into())
}

/// The transaction's user's own locale tag, if they chose one.
pub async fn own_locale(tx: &mut TenantTx) -> Result<Option<String>, DbError> {
    let user = tx.actor().user_id.ok_or(DbError::NotAMember)?;
    Ok(sqlx::query_scalar("SELECT locale FROM users WHERE id = $1")
        .bind(user.as_uuid())
        .fetch_one(tx.conn())
        .await?)
}

/// Sets (or clears) the transaction's user's own locale tag (the caller
/// checks it; the column refuses tags it does not know).
pub async fn set_own_locale(
    tx: &mut TenantTx,
    locale: Option<&str>,
) -> Result<Option<String>, DbError> {
    let user = tx.actor().user_id.ok_or(DbError::NotAMember)?;
    Ok(
        sqlx::query_scalar("UPDATE users SET locale = $2 WHERE id = $1 RETURNING locale")
            .bind(user.as_uuid())
            .bind(locale)
            .fetch_one(tx.conn())
            .await?,
    )
}

/// The member whose account uses `email`, if any.
pub async fn find_by_email(
    tx: &mut TenantTx,
    email: &EmailAddress,
) -> Result<Option<Member>, DbError> {
    let row: Option<MemberRow> = sqlx::query_as(&format!(
        "{SELECT_MEMBER} WHERE m.org_id = $1 AND u.email = $2"
    ))
    .bind(tx.actor().org_id.as_uuid())
    .bind(email.as_str())
    .fetch_optional(tx.conn())
    .await?;
    row.map(TryInto::try_into).transpose()
}

/// The result of inviting someone.
#[derive(Debug)]
pub struct Invited {
    /// The new member.
    pub member: Member,
    /// True when a new account was made (it then needs a password-setup link).
    pub new_account: bool,
}

/// Adds `email` to the org with `role`, creating the account if none exists.
/// An existing member is a [`DbError::Conflict`] on `memberships_pkey`.
pub async fn invite(
    tx: &mut TenantTx,
    email: &EmailAddress,
    display_name: &DisplayName,
    role: Role,
) -> Result<Invited, DbError> {
    let existing: Option<uuid::Uuid> = sqlx::query_scalar("SELECT accord_lookup_user_by_email($1)")
        .bind(email.as_str())
        .fetch_one(tx.conn())
        .await?;
    let (user_id, new_account) = match existing {
        Some(id) => (UserId::from_uuid(id), false),
        None => {
            let id = UserId::new();
            sqlx::query("INSERT INTO users (id, email, display_name) VALUES ($1, $2, $3)")
                .bind(id.as_uuid())
                .bind(email.as_str())
                .bind(display_name.as_str())
                .execute(tx.conn())
                .await?;
            (id, true)
        }
    };
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, display_name) VALUES ($1, $2, $3, $4)",
    )
    .bind(tx.actor().org_id.as_uuid())
    .bind(user_id.as_uuid())
    .bind(role.as_str())
    .bind(display_name.as_str())
    .execute(tx.conn())
    .await?;
    let member = get(tx, user_id).await?;
    Ok(Invited {
        member,
        new_account,
    })
}

/// Records that the transaction's user has signed in to its org (the first
/// time marks the invitation as taken up).
pub async fn mark_joined(tx: &mut TenantTx) -> Result<(), DbError> {
    let actor = tx.actor();
    let Some(user) = actor.user_id else {
        return Ok(());
    };
    sqlx::query(
        "UPDATE memberships SET joined_at = now() \
         WHERE org_id = $1 AND user_id = $2 AND joined_at IS NULL",
    )
    .bind(actor.org_id.as_uuid())
    .bind(user.as_uuid())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Why a membership change was refused.
#[derive(Debug, thiserror::Error)]
pub enum MembershipChangeError {
    /// The org would be left without an admin.
    #[error("an organization must keep at least one org admin")]
    LastAdmin,
    /// The member mediates cases and would stop being a mediator.
    #[error("this member mediates one or more cases; assign another mediator first")]
    StillMediating,
    /// Anything from the data layer.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Locks the org's admin memberships and fails if `user_id` is the only one.
async fn ensure_not_last_admin(
    tx: &mut TenantTx,
    user_id: UserId,
) -> Result<(), MembershipChangeError> {
    let admins: Vec<uuid::Uuid> = sqlx::query_scalar(
        "SELECT user_id FROM memberships WHERE org_id = $1 AND role = 'org_admin' FOR UPDATE",
    )
    .bind(tx.actor().org_id.as_uuid())
    .fetch_all(tx.conn())
    .await
    .map_err(DbError::from)?;
    if admins == [user_id.as_uuid()] {
        return Err(MembershipChangeError::LastAdmin);
    }
    Ok(())
}

/// Changes a member's role, keeping at least one org admin.
pub async fn change_role(
    tx: &mut TenantTx,
    user_id: UserId,
    role: Role,
) -> Result<Member, MembershipChangeError> {
    let current = get(tx, user_id).await?;
    if current.role == Role::OrgAdmin && role != Role::OrgAdmin {
        ensure_not_last_admin(tx, user_id).await?;
    }
    if current.role == Role::Mediator && role != Role::Mediator {
        let mediating: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM cases WHERE org_id = $1 AND mediator_id = $2)",
        )
        .bind(tx.actor().org_id.as_uuid())
        .bind(user_id.as_uuid())
        .fetch_one(tx.conn())
        .await
        .map_err(DbError::from)?;
        if mediating {
            return Err(MembershipChangeError::StillMediating);
        }
    }
    sqlx::query("UPDATE memberships SET role = $3 WHERE org_id = $1 AND user_id = $2")
        .bind(tx.actor().org_id.as_uuid())
        .bind(user_id.as_uuid())
        .bind(role.as_str())
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
    Ok(get(tx, user_id).await?)
}

/// Removes a member from the org (the account itself stays), keeping at least
/// one org admin. A member still assigned to cases is a [`DbError::Conflict`].
pub async fn remove(tx: &mut TenantTx, user_id: UserId) -> Result<(), MembershipChangeError> {
    let current = get(tx, user_id).await?;
    if current.role == Role::OrgAdmin {
        ensure_not_last_admin(tx, user_id).await?;
    }
    sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
        .bind(tx.actor().org_id.as_uuid())
        .bind(user_id.as_uuid())
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
    Ok(())
}

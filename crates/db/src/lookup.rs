//! The only reads that run before a tenant is known. Each goes through a
//! `SECURITY DEFINER` function owned by `accord_lookup` and returns an id, never a row.

use accord_domain::{EmailAddress, OrgId, OrgSlug, UserId};

use crate::{Db, DbError};

/// The account registered under `email`, if any.
pub async fn user_by_email(db: &Db, email: &EmailAddress) -> Result<Option<UserId>, DbError> {
    let mut conn = db.pool().acquire().await?;
    user_by_email_on(&mut conn, email).await
}

/// [`user_by_email`] on a connection the caller holds (inside its transaction).
pub async fn user_by_email_on(
    conn: &mut sqlx::PgConnection,
    email: &EmailAddress,
) -> Result<Option<UserId>, DbError> {
    let id: Option<uuid::Uuid> = sqlx::query_scalar("SELECT accord_lookup_user_by_email($1)")
        .bind(email.as_str())
        .fetch_one(conn)
        .await?;
    Ok(id.map(UserId::from_uuid))
}

/// The org whose slug is `slug`, if any.
pub async fn org_by_slug(db: &Db, slug: &OrgSlug) -> Result<Option<OrgId>, DbError> {
    let id: Option<uuid::Uuid> = sqlx::query_scalar("SELECT accord_lookup_org_by_slug($1)")
        .bind(slug.as_str())
        .fetch_one(db.pool())
        .await?;
    Ok(id.map(OrgId::from_uuid))
}

//! Organizations (tenants).

use accord_domain::{OrgId, OrgName, OrgSlug};
use chrono::{DateTime, Utc};

use crate::{audit, AdminDb, DbError, TenantTx};

/// An organization as its members see it.
#[derive(Debug, Clone)]
pub struct Organization {
    /// Its id.
    pub id: OrgId,
    /// The short name used in sign-in and URLs.
    pub slug: OrgSlug,
    /// The display name.
    pub name: OrgName,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct OrgRow {
    id: uuid::Uuid,
    slug: String,
    name: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<OrgRow> for Organization {
    type Error = DbError;
    fn try_from(r: OrgRow) -> Result<Self, DbError> {
        Ok(Organization {
            id: OrgId::from_uuid(r.id),
            slug: OrgSlug::parse(&r.slug)?,
            name: OrgName::parse(&r.name)?,
            created_at: r.created_at,
        })
    }
}

/// Creates an org and starts its audit chain. Operators only: the app role may not
/// insert organizations.
pub async fn create(admin: &AdminDb, slug: &OrgSlug, name: &OrgName) -> Result<OrgId, DbError> {
    let id = OrgId::new();
    let mut tx = admin.begin().await?;
    // The owner is bound by row-level security too (FORCE): name the new org as
    // the transaction's tenant so the policy admits the row.
    sqlx::query("SELECT set_config('accord.org_id', $1, true)")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO organizations (id, slug, name) VALUES ($1, $2, $3)")
        .bind(id.as_uuid())
        .bind(slug.as_str())
        .bind(name.as_str())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let mut tenant = admin.system_tenant(id, None).await?;
    audit::append(
        &mut tenant,
        "organization.create",
        "organization",
        Some(id.as_uuid()),
    )
    .await?;
    tenant.commit().await?;
    Ok(id)
}

/// The org of the transaction.
pub async fn current(tx: &mut TenantTx) -> Result<Organization, DbError> {
    let org_id = tx.actor().org_id;
    let row: OrgRow =
        sqlx::query_as("SELECT id, slug, name, created_at FROM organizations WHERE id = $1")
            .bind(org_id.as_uuid())
            .fetch_one(tx.conn())
            .await?;
    row.try_into()
}

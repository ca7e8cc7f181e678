//! Organizations (tenants).

use accord_domain::{IanaTimeZone, OrgId, OrgName, OrgSlug};
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

/// What an org admin sets for the whole org: its clock, its date style,
/// how long invite links last and when reminders go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgSettings {
    /// The org's time zone, in which members and people on its cases read
    /// mail unless they chose their own; `None` until set (mail then uses
    /// each session's zone).
    pub time_zone: Option<IanaTimeZone>,
    /// The org's locale tag (`en-GB`, `en-US`, `fr-FR`, `de-DE`); `None`
    /// until set (British English).
    pub locale: Option<String>,
    /// Days a new invite link stays valid (1 to 90).
    pub invite_link_lifetime_days: i32,
    /// Minutes before a session that reminders go out (at most 4, each
    /// from 1 minute to 28 days), largest first.
    pub reminder_lead_minutes: Vec<i32>,
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    time_zone: Option<String>,
    locale: Option<String>,
    invite_ttl_days: i32,
    reminder_lead_minutes: Vec<i32>,
}

/// The org's settings.
pub async fn settings(tx: &mut TenantTx) -> Result<OrgSettings, DbError> {
    let row: SettingsRow = sqlx::query_as(
        "SELECT time_zone, locale, invite_ttl_days, reminder_lead_minutes \
         FROM organizations WHERE id = $1",
    )
    .bind(tx.actor().org_id.as_uuid())
    .fetch_one(tx.conn())
    .await?;
    Ok(OrgSettings {
        // A name the tz database no longer knows reads as unset.
        time_zone: row.time_zone.and_then(|tz| IanaTimeZone::parse(&tz).ok()),
        locale: row.locale,
        invite_link_lifetime_days: row.invite_ttl_days,
        reminder_lead_minutes: row.reminder_lead_minutes,
    })
}

/// Replaces the org's settings (the caller checks them and records the
/// audit event). Values the columns' checks refuse are a
/// [`DbError::Conflict`] naming the check.
pub async fn set_settings(tx: &mut TenantTx, settings: &OrgSettings) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE organizations SET time_zone = $2, locale = $3, invite_ttl_days = $4, \
             reminder_lead_minutes = $5 \
         WHERE id = $1",
    )
    .bind(tx.actor().org_id.as_uuid())
    .bind(settings.time_zone.as_ref().map(IanaTimeZone::as_str))
    .bind(settings.locale.as_deref())
    .bind(settings.invite_link_lifetime_days)
    .bind(&settings.reminder_lead_minutes)
    .execute(tx.conn())
    .await?;
    Ok(())
}

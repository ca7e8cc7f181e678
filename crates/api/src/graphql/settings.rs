//! Settings: the organization's (org admins) and a person's own.
//!
//! An org admin sets the org's clock and date style (the time zone and
//! locale mail is written in for anyone who chose none), how long invite
//! links last and when session reminders go out
//! (`setOrganizationSettings`). Each person may choose their own locale
//! (`setMyLocale`) beside their own time zone (`setMyTimeZone`); mail then
//! follows theirs (`crate::mail`).

use accord_db::orgs::{self, OrgSettings};
use accord_db::{audit, members};
use accord_domain::{Action, IanaTimeZone};
use accord_notify::when::Locale;
use async_graphql::{Context, InputObject, Object, SimpleObject};

use super::{authorize, mutate, read};
use crate::ApiError;

/// The most reminders a session can have.
const MAX_REMINDERS: usize = 4;
/// The longest lead of a reminder: 28 days, in minutes.
const MAX_LEAD_MINUTES: i32 = 28 * 24 * 60;

/// The locale tags mail dates can be written in, e.g. `en-GB`.
fn locale_tags() -> Vec<String> {
    Locale::ALL.iter().map(|l| l.tag().to_owned()).collect()
}

fn parse_locale(raw: &str) -> Result<&'static str, ApiError> {
    Locale::parse(raw).map(Locale::tag).ok_or_else(|| {
        ApiError::bad_input(
            "locale",
            format!("the locale must be one of {}", locale_tags().join(", ")),
        )
    })
}

/// The organization's settings.
#[derive(SimpleObject, Debug)]
pub struct OrganizationSettings {
    /// The org's time zone (an IANA name): mail about sessions gives times
    /// in it to anyone who chose no zone of their own. Null until set: each
    /// session's own zone is used.
    pub time_zone: Option<String>,
    /// The org's locale tag (`en-GB`, `en-US`, `fr-FR`, `de-DE`): how mail
    /// writes dates for anyone who chose none. Null until set (`en-GB`).
    pub locale: Option<String>,
    /// Days a new invite link stays valid.
    pub invite_link_lifetime_days: i32,
    /// Minutes before a session that reminders are mailed, largest first
    /// (1440 and 60 until set: 24 hours and 1 hour).
    pub reminder_lead_minutes: Vec<i32>,
    /// The locale tags that can be chosen.
    pub available_locales: Vec<String>,
}

impl From<OrgSettings> for OrganizationSettings {
    fn from(s: OrgSettings) -> Self {
        Self {
            time_zone: s.time_zone.map(|z| z.as_str().to_owned()),
            locale: s.locale,
            invite_link_lifetime_days: s.invite_link_lifetime_days,
            reminder_lead_minutes: s.reminder_lead_minutes,
            available_locales: locale_tags(),
        }
    }
}

/// New settings for the organization (every field is replaced).
#[derive(InputObject, Debug)]
pub struct OrganizationSettingsInput {
    /// An IANA time-zone name such as `Europe/Paris`, or null for none.
    pub time_zone: Option<String>,
    /// One of `availableLocales`, or null for none.
    pub locale: Option<String>,
    /// 1 to 90.
    pub invite_link_lifetime_days: i32,
    /// Up to 4 distinct leads, each from 1 minute to 28 days (40320); an
    /// empty list sends no reminders.
    pub reminder_lead_minutes: Vec<i32>,
}

impl OrganizationSettingsInput {
    fn parse(self) -> Result<OrgSettings, ApiError> {
        let time_zone = self
            .time_zone
            .as_deref()
            .map(str::trim)
            .filter(|z| !z.is_empty())
            .map(IanaTimeZone::parse)
            .transpose()?;
        let locale = self
            .locale
            .as_deref()
            .filter(|l| !l.trim().is_empty())
            .map(parse_locale)
            .transpose()?
            .map(str::to_owned);
        if !(1..=90).contains(&self.invite_link_lifetime_days) {
            return Err(ApiError::bad_input(
                "inviteLinkLifetimeDays",
                "an invite link lasts from 1 to 90 days",
            ));
        }
        let mut leads = self.reminder_lead_minutes;
        if leads.len() > MAX_REMINDERS {
            return Err(ApiError::bad_input(
                "reminderLeadMinutes",
                format!("a session has at most {MAX_REMINDERS} reminders"),
            ));
        }
        if leads.iter().any(|m| !(1..=MAX_LEAD_MINUTES).contains(m)) {
            return Err(ApiError::bad_input(
                "reminderLeadMinutes",
                "a reminder goes out from 1 minute to 28 days before a session",
            ));
        }
        leads.sort_unstable_by(|a, b| b.cmp(a));
        let count = leads.len();
        leads.dedup();
        if leads.len() != count {
            return Err(ApiError::bad_input(
                "reminderLeadMinutes",
                "each reminder lead may appear once",
            ));
        }
        Ok(OrgSettings {
            time_zone,
            locale,
            invite_link_lifetime_days: self.invite_link_lifetime_days,
            reminder_lead_minutes: leads,
        })
    }
}

/// What the signed-in person chose for how times are shown to them.
#[derive(SimpleObject, Debug)]
pub struct MyPreferences {
    /// Their own time zone (`setMyTimeZone`), or null.
    pub time_zone: Option<String>,
    /// Their own locale tag (`setMyLocale`), or null.
    pub locale: Option<String>,
    /// The locale tags that can be chosen.
    pub available_locales: Vec<String>,
}

async fn my_preferences(tx: &mut accord_db::TenantTx) -> Result<MyPreferences, ApiError> {
    let account = members::own_account(tx).await?;
    Ok(MyPreferences {
        time_zone: account.time_zone.map(|z| z.as_str().to_owned()),
        locale: members::own_locale(tx).await?,
        available_locales: locale_tags(),
    })
}

/// Reads of settings.
#[derive(Debug, Default)]
pub struct SettingsQuery;

#[Object]
impl SettingsQuery {
    /// The organization's settings (any member may read them).
    async fn organization_settings(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<OrganizationSettings> {
        read(ctx, move |tx| {
            Box::pin(async move {
                authorize(tx, Action::ViewOrganization, None).await?;
                Ok(orgs::settings(tx).await?.into())
            })
        })
        .await
    }

    /// The signed-in person's own time zone and locale.
    async fn my_preferences(&self, ctx: &Context<'_>) -> async_graphql::Result<MyPreferences> {
        read(ctx, move |tx| {
            Box::pin(async move { my_preferences(tx).await })
        })
        .await
    }
}

/// Writes of settings.
#[derive(Debug, Default)]
pub struct SettingsMutation;

#[Object]
impl SettingsMutation {
    /// Replaces the organization's settings (org admins).
    async fn set_organization_settings(
        &self,
        ctx: &Context<'_>,
        input: OrganizationSettingsInput,
    ) -> async_graphql::Result<OrganizationSettings> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                authorize(tx, Action::ManageMembers, None).await?;
                let settings = input.parse()?;
                orgs::set_settings(tx, &settings).await?;
                let org = tx.actor().org_id.as_uuid();
                audit::append(tx, "org.update_settings", "organization", Some(org)).await?;
                Ok(orgs::settings(tx).await?.into())
            })
        })
        .await
    }

    /// Sets the signed-in person's own locale (one of `availableLocales`),
    /// or clears it with null: mail then follows the organization's. It
    /// belongs to the account: the same in every organization.
    async fn set_my_locale(
        &self,
        ctx: &Context<'_>,
        locale: Option<String>,
    ) -> async_graphql::Result<MyPreferences> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let user = tx
                    .actor()
                    .user_id
                    .ok_or_else(|| ApiError::Unauthenticated("sign in first".into()))?;
                let locale = locale
                    .as_deref()
                    .filter(|l| !l.trim().is_empty())
                    .map(parse_locale)
                    .transpose()?;
                members::set_own_locale(tx, locale).await?;
                audit::append(tx, "user.set_locale", "user", Some(user.as_uuid())).await?;
                my_preferences(tx).await
            })
        })
        .await
    }
}

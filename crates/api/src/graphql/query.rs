//! Read operations.

use accord_db::cases::{CaseCursor, Visibility};
use accord_db::{audit, cases, members, orgs, sessions};
use accord_domain::{Action, CaseId};
use async_graphql::{Context, Object};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::types::{
    not_found, AuditEvent, Case, CaseConnection, CaseEdge, GqlCaseStatus, Member, Organization,
    PageInfo, Session, Viewer,
};
use super::{authorize, read};
use crate::ApiError;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Largest page a client may ask for.
pub(crate) const MAX_PAGE: i32 = 100;

pub(crate) fn encode_cursor(c: &cases::Case) -> String {
    B64.encode(format!("{}:{}", c.created_at.timestamp_micros(), c.id))
}

/// Earliest and latest (exclusive) `created_at`, in Unix microseconds, that a
/// cursor this API issued can carry: 2000-01-01 and 3000-01-01 UTC. Cases are
/// stamped `now()`, so anything outside is forged, and a time outside Postgres's
/// `timestamptz` range would fail in the database as an internal error.
const CURSOR_MICROS: std::ops::Range<i64> = 946_684_800_000_000..32_503_680_000_000_000;

fn decode_cursor(raw: &str) -> Result<CaseCursor, ApiError> {
    let bad = || ApiError::bad_input("after", "this cursor is not one this API gave out");
    let bytes = B64.decode(raw).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (micros, id) = text.split_once(':').ok_or_else(bad)?;
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    if !CURSOR_MICROS.contains(&micros) {
        return Err(bad());
    }
    let created_at = DateTime::<Utc>::from_timestamp_micros(micros).ok_or_else(bad)?;
    let id: Uuid = id.parse().map_err(|_| bad())?;
    Ok(CaseCursor {
        created_at,
        id: CaseId::from_uuid(id),
    })
}

fn page_size(first: i32) -> Result<u32, ApiError> {
    if (1..=MAX_PAGE).contains(&first) {
        Ok(first.unsigned_abs())
    } else {
        Err(ApiError::bad_input(
            "first",
            format!("ask for 1 to {MAX_PAGE} items"),
        ))
    }
}

/// The root of reads.
#[derive(Debug, Default)]
pub struct Query;

#[Object]
impl Query {
    /// The signed-in user and their role in the current organization.
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<Viewer> {
        read(ctx, |tx| {
            Box::pin(async move {
                let user = tx
                    .actor()
                    .user_id
                    .ok_or_else(|| ApiError::Unauthenticated("sign in first".into()))?;
                Ok(Viewer {
                    member: members::get(tx, user).await?,
                })
            })
        })
        .await
    }

    /// The current organization.
    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Organization> {
        read(ctx, |tx| {
            Box::pin(async move {
                authorize(tx, Action::ViewOrganization, None).await?;
                Ok(Organization(orgs::current(tx).await?))
            })
        })
        .await
    }

    /// Every member of the organization.
    async fn members(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Member>> {
        read(ctx, |tx| {
            Box::pin(async move {
                authorize(tx, Action::ViewMembers, None).await?;
                Ok(members::list(tx)
                    .await?
                    .into_iter()
                    .map(Member::from)
                    .collect())
            })
        })
        .await
    }

    /// Cases newest first, a page at a time. Mediators, parties and observers see
    /// only the cases they are on.
    #[graphql(complexity = "5 + first.clamp(0, MAX_PAGE) as usize * child_complexity")]
    async fn cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
        status: Option<GqlCaseStatus>,
    ) -> async_graphql::Result<CaseConnection> {
        read(ctx, move |tx| {
            Box::pin(async move {
                let first = page_size(first)?;
                let after = after.as_deref().map(decode_cursor).transpose()?;
                let visibility = authorize(tx, Action::ListCases, None).await?;
                let (page, has_next_page) =
                    cases::list(tx, visibility, status.map(Into::into), first, after).await?;
                let edges: Vec<CaseEdge> = page
                    .into_iter()
                    .map(|c| CaseEdge {
                        cursor: encode_cursor(&c),
                        node: c.into(),
                    })
                    .collect();
                let end_cursor = edges.last().map(|e| e.cursor.clone());
                Ok(CaseConnection {
                    edges,
                    page_info: PageInfo {
                        has_next_page,
                        end_cursor,
                    },
                })
            })
        })
        .await
    }

    /// One case.
    async fn case(&self, ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Case> {
        read(ctx, move |tx| {
            Box::pin(async move {
                let id = CaseId::from_uuid(id);
                authorize(tx, Action::ViewCase, Some(id)).await?;
                Ok(cases::get(tx, id).await.map_err(not_found("case"))?.into())
            })
        })
        .await
    }

    /// Sessions by start time, optionally of one case and from/to an instant.
    async fn sessions(
        &self,
        ctx: &Context<'_>,
        case_id: Option<Uuid>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<Vec<Session>> {
        read(ctx, move |tx| {
            Box::pin(async move {
                let case_id = case_id.map(CaseId::from_uuid);
                let visibility = authorize(tx, Action::ViewSessions, case_id).await?;
                if let Some(case_id) = case_id {
                    if visibility == Visibility::All {
                        // Make an unknown (or another org's) case a clear NOT_FOUND, not an empty list.
                        cases::get(tx, case_id).await.map_err(not_found("case"))?;
                    }
                }
                Ok(sessions::list(tx, visibility, case_id, from, to)
                    .await?
                    .into_iter()
                    .map(Session::from)
                    .collect())
            })
        })
        .await
    }

    /// The audit log, newest first.
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] first: i32,
        before_seq: Option<i64>,
    ) -> async_graphql::Result<Vec<AuditEvent>> {
        read(ctx, move |tx| {
            Box::pin(async move {
                let first = page_size(first)?;
                authorize(tx, Action::ReadAuditLog, None).await?;
                Ok(audit::list(tx, before_seq, first)
                    .await?
                    .into_iter()
                    .map(AuditEvent::from)
                    .collect())
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::CURSOR_MICROS;
    use chrono::NaiveDate;

    fn micros(year: i32) -> i64 {
        let midnight = NaiveDate::from_ymd_opt(year, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
        midnight.unwrap().and_utc().timestamp_micros()
    }

    #[test]
    fn the_cursor_window_is_2000_to_3000() {
        assert_eq!(CURSOR_MICROS, micros(2000)..micros(3000));
    }
}

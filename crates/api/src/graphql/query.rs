//! Read operations.

use std::collections::{BTreeSet, HashMap};

use accord_db::audit::AuditFilter;
use accord_db::cases::{CaseCursor, CaseFilter, Visibility};
use accord_db::{audit, cases, members, orgs, sessions};
use accord_domain::{Action, CaseId, UserId};
use async_graphql::{Context, Object};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::live::LiveSession;
use super::types::{
    member_user, not_found, AuditChainStatus, AuditEvent, Case, CaseConnection, CaseEdge,
    GqlCaseStatus, Member, Organization, PageInfo, Session, Viewer,
};
use super::{authorize, rctx, read, remember_cases_of};
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

/// Longest `search` text accepted.
const MAX_SEARCH_CHARS: usize = 200;

/// The search text, trimmed; none when empty.
fn search_text(search: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(text) = search else {
        return Ok(None);
    };
    let text = text.trim();
    if text.chars().count() > MAX_SEARCH_CHARS {
        return Err(ApiError::bad_input(
            "search",
            format!("search for at most {MAX_SEARCH_CHARS} characters"),
        ));
    }
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// Longest `action` or `targetType` filter accepted (both are short names).
const MAX_NAME_FILTER: usize = 100;

fn name_filter(field: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.len() > MAX_NAME_FILTER => Err(ApiError::bad_input(
            field,
            format!("at most {MAX_NAME_FILTER} characters"),
        )),
        other => Ok(other),
    }
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

#[Object(name = "CoreQuery")]
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
                    account: members::own_account(tx).await?,
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
    /// only the cases they are on. `search` keeps the cases whose reference or
    /// title contains the text, ignoring case (`%` and `_` are plain
    /// characters); it combines with `status`, and a cursor continues the same
    /// filtered listing.
    #[graphql(complexity = "5 + first.clamp(0, MAX_PAGE) as usize * child_complexity")]
    async fn cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
        status: Option<GqlCaseStatus>,
        search: Option<String>,
    ) -> async_graphql::Result<CaseConnection> {
        // The children the page shows come in the listing's own statement.
        let node = ctx.look_ahead().field("edges").field("node");
        let children = cases::CaseChildren {
            mediators: node.field("mediator").exists(),
            parties: node.field("parties").exists(),
        };
        let page = read(ctx, move |tx| {
            Box::pin(async move {
                let first = page_size(first)?;
                let after = after.as_deref().map(decode_cursor).transpose()?;
                let filter = CaseFilter {
                    status: status.map(Into::into),
                    search: search_text(search)?,
                };
                let visibility = authorize(tx, Action::ListCases, None).await?;
                Ok(cases::list(tx, visibility, &filter, first, after, children).await?)
            })
        })
        .await?;
        // The listing proved the viewer may see these: their children were
        // loaded with them, or load in one batch each on first use (see
        // `batched_mediator`, `batched_parties`).
        let rc = rctx(ctx);
        rc.remember_cases(page.cases.iter().cloned());
        rc.remember_children(&page.cases, page.mediators, page.parties)
            .await;
        let has_next_page = page.has_more;
        let edges: Vec<CaseEdge> = page
            .cases
            .into_iter()
            .map(|c| CaseEdge { node: c.into() })
            .collect();
        let end_cursor = edges.last().map(|e| encode_cursor(&e.node.inner));
        Ok(CaseConnection {
            edges,
            page_info: PageInfo {
                has_next_page,
                end_cursor,
            },
        })
    }

    /// One case.
    async fn case(&self, ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Case> {
        let case = read(ctx, move |tx| {
            Box::pin(async move {
                let id = CaseId::from_uuid(id);
                authorize(tx, Action::ViewCase, Some(id)).await?;
                cases::get(tx, id).await.map_err(not_found("case"))
            })
        })
        .await?;
        rctx(ctx).remember_cases([case.clone()]);
        Ok(case.into())
    }

    /// Sessions by start time, optionally of one case and from/to an instant.
    async fn sessions(
        &self,
        ctx: &Context<'_>,
        case_id: Option<Uuid>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<Vec<Session>> {
        let (list, visibility) = read(ctx, move |tx| {
            Box::pin(async move {
                let case_id = case_id.map(CaseId::from_uuid);
                let visibility = authorize(tx, Action::ViewSessions, case_id).await?;
                if let Some(case_id) = case_id {
                    if visibility == Visibility::All {
                        // Make an unknown (or another org's) case a clear NOT_FOUND, not an empty list.
                        cases::get(tx, case_id).await.map_err(not_found("case"))?;
                    }
                }
                let list = sessions::list(tx, visibility, case_id, from, to).await?;
                Ok((list, visibility))
            })
        })
        .await?;
        // One query for the cases of the whole list, should `case` be asked for.
        if ctx.look_ahead().field("case").exists() {
            remember_cases_of(ctx, list.iter().map(|s| s.case_id), visibility).await?;
        }
        Ok(list.into_iter().map(Session::from).collect())
    }

    /// The audit log, newest first, optionally only the events matching every
    /// filter given. Page with `beforeSeq` (the last `seq` seen).
    #[allow(clippy::too_many_arguments)]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] first: i32,
        before_seq: Option<i64>,
        actor_user_id: Option<Uuid>,
        action: Option<String>,
        target_type: Option<String>,
        target_id: Option<Uuid>,
    ) -> async_graphql::Result<Vec<AuditEvent>> {
        read(ctx, move |tx| {
            Box::pin(async move {
                let first = page_size(first)?;
                authorize(tx, Action::ReadAuditLog, None).await?;
                let filter = AuditFilter {
                    before_seq,
                    actor: actor_user_id.map(UserId::from_uuid),
                    action: name_filter("action", action)?,
                    target_type: name_filter("targetType", target_type)?,
                    target_id,
                };
                let events = audit::list(tx, &filter, first).await?;
                let actors: Vec<UserId> = events
                    .iter()
                    .filter_map(|e| e.actor_user_id)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let people: HashMap<UserId, members::Member> = members::get_many(tx, &actors)
                    .await?
                    .into_iter()
                    .map(|m| (m.user_id, m))
                    .collect();
                Ok(events
                    .into_iter()
                    .map(|e| {
                        let actor = e
                            .actor_user_id
                            .and_then(|a| people.get(&a))
                            .map(member_user);
                        AuditEvent {
                            actor,
                            ..AuditEvent::from(e)
                        }
                    })
                    .collect())
            })
        })
        .await
    }

    /// Checks the organization's whole audit chain now: every event's hash,
    /// every link, no gaps, and the recorded head. Org admins only.
    async fn audit_chain(&self, ctx: &Context<'_>) -> async_graphql::Result<AuditChainStatus> {
        read(ctx, |tx| {
            Box::pin(async move {
                authorize(tx, Action::ReadAuditLog, None).await?;
                let result = audit::verify(tx).await?;
                let first = result.problems.first();
                Ok(AuditChainStatus {
                    verified: result.problems.is_empty(),
                    events: i64::try_from(result.events).unwrap_or(i64::MAX),
                    broken_at_seq: first.map(|p| p.seq()),
                    problem: first.map(ToString::to_string),
                    checked_at: Utc::now(),
                })
            })
        })
        .await
    }

    /// The sessions live now: for an org admin every one of the organization,
    /// for a mediator those of their cases; parties and observers are refused.
    /// Empty when no SFU runs in this process.
    async fn live_sessions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<LiveSession>> {
        super::live::list(ctx).await
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

//! Live sessions as org admins and mediators see them from outside: which
//! sessions are live, who is in which room, who waits in the lobby and since
//! when. Read from the SFU through [`crate::live::LiveDirectory`], narrowed
//! to the org's sessions in the database (row-level security applies), then
//! to the viewer's cases for an involved grant; names come from the
//! memberships. There is nothing here to join with: joining stays the join
//! token's business.

use std::collections::{HashMap, HashSet};

use accord_db::{cases, members, sessions, TenantTx};
use accord_domain::{Action, CaseId, Grant, SessionId, UserId};
use async_graphql::{Context, Enum, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::types::Session;
use super::{deny_early, rctx, read};
use crate::live::{LiveParticipantInfo, LiveRoom, LiveSessionInfo};
use crate::ApiError;

/// A session whose live room is open now.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "LiveSession")]
pub struct LiveSession {
    /// The scheduled session.
    pub session_id: Uuid,
    /// The scheduled session, with its case.
    pub session: Session,
    /// When its first participant arrived.
    pub started_at: DateTime<Utc>,
    /// Who is in its main room and caucuses (reconnecting ones included).
    pub participants: Vec<LiveParticipant>,
    /// Who waits in its lobby to be admitted, longest waiting first.
    pub lobby: Vec<LiveParticipant>,
}

/// Which kind of room someone is in.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "LiveRoomKind")]
pub enum LiveRoomKind {
    /// Waiting to be admitted.
    Lobby,
    /// The joint session.
    Main,
    /// A private caucus room.
    Caucus,
}

/// Someone in a live session.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "LiveParticipant")]
pub struct LiveParticipant {
    /// Their account.
    pub user_id: Option<Uuid>,
    /// Their name in this organization.
    pub display_name: String,
    /// Their role in the session: `mediator`, `party` or `observer`.
    pub role: String,
    /// Where they are: `lobby`, `main`, or the caucus's name.
    pub room: String,
    /// The kind of that room (a caucus may be named anything).
    pub room_kind: LiveRoomKind,
    /// Whether their connection is up (false while their place is held for a
    /// reconnection).
    pub connected: bool,
    /// When they arrived; in the lobby, since when they wait.
    pub joined_at: DateTime<Utc>,
}

/// Shown for someone who is no longer a member of the organization.
const FORMER_MEMBER: &str = "Former member";

fn participant(p: &LiveParticipantInfo, names: &HashMap<UserId, String>) -> LiveParticipant {
    let (room, room_kind) = match &p.room {
        LiveRoom::Lobby => ("lobby".to_owned(), LiveRoomKind::Lobby),
        LiveRoom::Main => ("main".to_owned(), LiveRoomKind::Main),
        LiveRoom::Caucus(name) => (name.clone(), LiveRoomKind::Caucus),
    };
    LiveParticipant {
        user_id: Some(p.user_id.as_uuid()),
        display_name: names
            .get(&p.user_id)
            .cloned()
            .unwrap_or_else(|| FORMER_MEMBER.to_owned()),
        role: p.role.as_str().to_owned(),
        room,
        room_kind,
        connected: p.connected,
        joined_at: p.joined_at,
    }
}

/// The live sessions among `infos` that the viewer may see, by start.
async fn visible(
    tx: &mut TenantTx,
    infos: Vec<LiveSessionInfo>,
) -> Result<Vec<LiveSession>, ApiError> {
    let actor = tx.actor();
    let grant = accord_domain::grant(actor.role, Action::ViewLiveSessions);
    if grant == Grant::Deny || infos.is_empty() {
        return Ok(Vec::new());
    }
    // Only sessions of this org (the SFU's word is checked against the
    // database, which row-level security confines to the org).
    let ids: Vec<SessionId> = infos.iter().map(|i| i.session_id).collect();
    let mut rows: HashMap<SessionId, sessions::Session> = sessions::get_many(tx, &ids)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    if grant == Grant::Involved {
        let user = actor
            .user_id
            .ok_or_else(|| ApiError::Internal("system actor with an involved grant".into()))?;
        let case_ids: Vec<CaseId> = rows.values().map(|s| s.case_id).collect();
        let mine: HashSet<CaseId> = cases::involving(tx, &case_ids, user)
            .await?
            .into_iter()
            .collect();
        rows.retain(|_, s| mine.contains(&s.case_id));
    }
    let people: Vec<UserId> = infos
        .iter()
        .filter(|i| rows.contains_key(&i.session_id))
        .flat_map(|i| i.participants.iter().map(|p| p.user_id))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let names: HashMap<UserId, String> = members::get_many(tx, &people)
        .await?
        .into_iter()
        .map(|m| (m.user_id, m.display_name.as_str().to_owned()))
        .collect();
    let mut live: Vec<LiveSession> = infos
        .into_iter()
        .filter_map(|info| {
            let row = rows.remove(&info.session_id)?;
            let mut waiting: Vec<&LiveParticipantInfo> = Vec::new();
            let mut inside: Vec<&LiveParticipantInfo> = Vec::new();
            for p in &info.participants {
                if p.room == LiveRoom::Lobby {
                    waiting.push(p);
                } else {
                    inside.push(p);
                }
            }
            waiting.sort_by_key(|p| (p.joined_at, p.user_id));
            inside.sort_by_key(|p| (p.joined_at, p.user_id));
            Some(LiveSession {
                session_id: info.session_id.as_uuid(),
                session: row.into(),
                started_at: info.started_at,
                participants: inside.into_iter().map(|p| participant(p, &names)).collect(),
                lobby: waiting
                    .into_iter()
                    .map(|p| participant(p, &names))
                    .collect(),
            })
        })
        .collect();
    live.sort_by_key(|l| (l.started_at, l.session_id));
    Ok(live)
}

/// `Query.liveSessions`: every live session of the org for an org admin,
/// those of their own cases for a mediator; `FORBIDDEN` for other roles.
pub(crate) async fn list(ctx: &Context<'_>) -> async_graphql::Result<Vec<LiveSession>> {
    let org = read(ctx, |tx| {
        Box::pin(async move {
            deny_early(tx, Action::ViewLiveSessions)?;
            Ok(tx.actor().org_id)
        })
    })
    .await?;
    let infos = rctx(ctx).live_sessions(org).await.to_vec();
    read(ctx, move |tx| Box::pin(visible(tx, infos))).await
}

/// `Session.live`: the session's live room, or null (not live, or not for
/// this viewer's eyes).
pub(crate) async fn of_session(
    ctx: &Context<'_>,
    session: &Session,
) -> async_graphql::Result<Option<LiveSession>> {
    let actor = read(ctx, |tx| Box::pin(async move { Ok(tx.actor()) })).await?;
    if accord_domain::grant(actor.role, Action::ViewLiveSessions) == Grant::Deny {
        return Ok(None);
    }
    let id = SessionId::from_uuid(session.id);
    let Some(info) = rctx(ctx)
        .live_sessions(actor.org_id)
        .await
        .iter()
        .find(|i| i.session_id == id)
        .cloned()
    else {
        return Ok(None);
    };
    let mut live = read(ctx, move |tx| Box::pin(visible(tx, vec![info]))).await?;
    Ok(live.pop())
}

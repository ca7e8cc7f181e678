//! The API's [`LiveDirectory`] over the SFU hub running in this process: the
//! org admins' and mediators' overview of live sessions, read from each
//! session's task with a short deadline (the hub's tasks are never blocked,
//! and a GraphQL request never waits long on them).

use std::sync::Arc;
use std::time::Duration;

use accord_api::live::{
    LiveDirectory, LiveFuture, LiveParticipantInfo, LiveRole, LiveRoom, LiveSessionInfo,
};
use accord_domain::{OrgId, SessionId, UserId};
use accord_sfu::hub::{Hub, LiveSnapshot};
use accord_sfu_core::protocol::{RoomId, SessionRole};

/// How long a request waits for the session tasks' answers, in all.
pub const LIVE_SNAPSHOT_TIMEOUT: Duration = Duration::from_millis(500);

/// The live sessions of the SFU hub in this process.
#[derive(Debug, Clone)]
pub struct HubDirectory {
    hub: Hub,
}

impl HubDirectory {
    /// Over `hub`.
    pub fn new(hub: Hub) -> Arc<Self> {
        Arc::new(HubDirectory { hub })
    }
}

/// A hub's snapshot as the API's overview shows it.
pub(crate) fn info(snapshot: LiveSnapshot) -> LiveSessionInfo {
    LiveSessionInfo {
        session_id: SessionId::from_uuid(snapshot.session),
        started_at: snapshot.started_at,
        participants: snapshot
            .participants
            .into_iter()
            .map(|p| LiveParticipantInfo {
                user_id: UserId::from_uuid(p.member.id),
                role: match p.member.role {
                    SessionRole::Mediator => LiveRole::Mediator,
                    SessionRole::Party => LiveRole::Party,
                    SessionRole::Observer => LiveRole::Observer,
                },
                room: match p.member.room {
                    RoomId::Lobby => LiveRoom::Lobby,
                    RoomId::Main => LiveRoom::Main,
                    // A caucus closing as we look has no name left to show.
                    RoomId::Caucus(_) => LiveRoom::Caucus(p.caucus_name.unwrap_or_default()),
                },
                connected: p.member.connected,
                joined_at: p.joined_at,
            })
            .collect(),
    }
}

impl LiveDirectory for HubDirectory {
    fn live(&self, org: OrgId) -> LiveFuture<'_> {
        Box::pin(async move {
            self.hub
                .live(org.as_uuid(), LIVE_SNAPSHOT_TIMEOUT)
                .await
                .into_iter()
                .map(info)
                .collect()
        })
    }
}

/// The SFU's metrics in this process, rendered by the API's `/metrics`
/// after its own.
#[derive(Debug, Clone)]
pub struct SfuMetrics(Arc<accord_sfu_core::metrics::Metrics>);

impl SfuMetrics {
    /// The metrics of `hub`.
    pub fn new(hub: &Hub) -> Arc<Self> {
        Arc::new(SfuMetrics(hub.metrics().clone()))
    }
}

impl accord_api::metrics::MetricsSource for SfuMetrics {
    fn encode(&self, out: &mut String) -> std::fmt::Result {
        self.0.encode(out)
    }
}

/// A live session as SFU nodes publish it for the APIs of other processes
/// (in Redis, briefly): identifiers, roles, rooms and times.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Published {
    session: uuid::Uuid,
    started_at: chrono::DateTime<chrono::Utc>,
    participants: Vec<PublishedParticipant>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct PublishedParticipant {
    user: uuid::Uuid,
    role: String,
    /// `lobby`, `main` or `caucus`.
    room: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    caucus: Option<String>,
    connected: bool,
    joined_at: chrono::DateTime<chrono::Utc>,
}

impl From<&LiveSessionInfo> for Published {
    fn from(s: &LiveSessionInfo) -> Self {
        Published {
            session: s.session_id.as_uuid(),
            started_at: s.started_at,
            participants: s
                .participants
                .iter()
                .map(|p| {
                    let (room, caucus) = match &p.room {
                        LiveRoom::Lobby => ("lobby", None),
                        LiveRoom::Main => ("main", None),
                        LiveRoom::Caucus(name) => ("caucus", Some(name.clone())),
                    };
                    PublishedParticipant {
                        user: p.user_id.as_uuid(),
                        role: p.role.as_str().to_owned(),
                        room: room.to_owned(),
                        caucus,
                        connected: p.connected,
                        joined_at: p.joined_at,
                    }
                })
                .collect(),
        }
    }
}

impl Published {
    /// Back as the overview shows it; `None` for anything unreadable.
    pub(crate) fn into_info(self) -> Option<LiveSessionInfo> {
        let participants = self
            .participants
            .into_iter()
            .map(|p| {
                Some(LiveParticipantInfo {
                    user_id: UserId::from_uuid(p.user),
                    role: match p.role.as_str() {
                        "mediator" => LiveRole::Mediator,
                        "party" => LiveRole::Party,
                        "observer" => LiveRole::Observer,
                        _ => return None,
                    },
                    room: match p.room.as_str() {
                        "lobby" => LiveRoom::Lobby,
                        "main" => LiveRoom::Main,
                        "caucus" => LiveRoom::Caucus(p.caucus.unwrap_or_default()),
                        _ => return None,
                    },
                    connected: p.connected,
                    joined_at: p.joined_at,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(LiveSessionInfo {
            session_id: SessionId::from_uuid(self.session),
            started_at: self.started_at,
            participants,
        })
    }
}

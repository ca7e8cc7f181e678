//! What the API may learn of live sessions, without depending on the SFU.
//!
//! The SFU is the authority on who is in a live session and where; the API
//! only reads it, for the org admins' and mediators' overview
//! (`liveSessions`, `Session.live`). The server, which composes both, hands
//! the app a [`LiveDirectory`] over the SFU it runs in the same process
//! ([`crate::AppState::with_live_directory`]); without one every session
//! reads as not live.
//!
//! The data is plain and holds identifiers, roles and room names only: the
//! API adds names from the database and decides who may see what.

use std::future::Future;
use std::pin::Pin;

use accord_domain::{OrgId, SessionId, UserId};
use chrono::{DateTime, Utc};

/// What [`LiveDirectory::live`] returns.
pub type LiveFuture<'a> = Pin<Box<dyn Future<Output = Vec<LiveSessionInfo>> + Send + 'a>>;

/// What [`LiveDirectory::place`] returns: the signaling URL of the SFU node
/// the session is placed on, or `None` for this process's own SFU.
pub type PlaceFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<String>, PlaceError>> + Send + 'a>>;

/// No SFU node could be found for a session (none healthy, or the registry
/// did not answer); shown to clients as `UNAVAILABLE`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PlaceError(pub String);

/// The live sessions this process's SFU runs.
pub trait LiveDirectory: Send + Sync + 'static {
    /// `org`'s sessions that are live now (someone is in them or in their
    /// lobby, or is reconnecting). It is awaited inside a GraphQL request, so
    /// it must answer promptly: a session that does not answer within a short
    /// time is left out rather than waited for.
    fn live(&self, org: OrgId) -> LiveFuture<'_>;

    /// Where `session`'s live room is served: with several SFU nodes, the
    /// signaling URL (`wss://node/sfu/ws`) of the node it is placed on,
    /// placing it now on the least-loaded healthy node when it runs nowhere.
    /// `None` (the default): the SFU at the API's own address.
    fn place(&self, session: SessionId) -> PlaceFuture<'_> {
        let _ = session;
        Box::pin(async { Ok(None) })
    }
}

/// One live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSessionInfo {
    /// The scheduled session it is the live room of.
    pub session_id: SessionId,
    /// When its first participant arrived.
    pub started_at: DateTime<Utc>,
    /// Everyone in it, the lobby included.
    pub participants: Vec<LiveParticipantInfo>,
}

/// Someone in a live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveParticipantInfo {
    /// Their account (participants join as themselves).
    pub user_id: UserId,
    /// Their role in the session.
    pub role: LiveRole,
    /// Where they are.
    pub room: LiveRoom,
    /// Whether their connection is up (false while the SFU holds their place
    /// for a reconnection).
    pub connected: bool,
    /// When they arrived; for someone in the lobby, since when they wait.
    pub joined_at: DateTime<Utc>,
}

/// A role in a live session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveRole {
    /// Runs the session.
    Mediator,
    /// A party.
    Party,
    /// Counsel or interpreter.
    Observer,
}

impl LiveRole {
    /// As the join token and the signaling protocol spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            LiveRole::Mediator => "mediator",
            LiveRole::Party => "party",
            LiveRole::Observer => "observer",
        }
    }
}

/// Where someone is in a live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveRoom {
    /// Waiting to be admitted.
    Lobby,
    /// The joint session.
    Main,
    /// A caucus room, with the name the mediator gave it.
    Caucus(String),
}

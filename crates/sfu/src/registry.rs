//! Several SFU nodes behind one API: what a node needs of the registry they
//! share (Redis, implemented by the server), and the node's side of it.
//!
//! - The node announces itself every [`HEARTBEAT`]: its signaling URL and
//!   its load (participants, forwarded packets per second, sessions). A
//!   node silent for [`STALE_AFTER`] is not healthy: its sessions are placed
//!   again when their participants reconnect.
//! - The API places a live session on the least-loaded healthy node when
//!   its first participant asks for a join token; a node serves a session
//!   only when the registry says it is placed there ([`NodeRegistry::claim`]),
//!   so one session never runs on two nodes at once.
//! - The room state the mediator set ([`RoomState`]) is written to the
//!   registry whenever it changes and read back by the node that takes the
//!   session over.
//!
//! Without a registry (one process, the embedded default) none of this runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use accord_sfu_core::session::RoomState;
use tokio::sync::watch;
use uuid::Uuid;

use crate::hub::{Hub, LiveSnapshot};
use crate::store::{StoreError, StoreFuture};

/// How often a node announces itself and its load.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A node that has not announced itself for this long is not healthy.
pub const STALE_AFTER: Duration = Duration::from_secs(3);
/// How long a session's room state is kept without its node refreshing it.
pub const ROOM_STATE_TTL: Duration = Duration::from_secs(300);
/// How long a session task waits for its room state before starting afresh.
pub const ROOM_STATE_LOAD_TIMEOUT: Duration = Duration::from_secs(2);

/// A node's load, as it announces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeLoad {
    /// Participants connected to it.
    pub participants: u64,
    /// RTP packets it forwarded per second, over the last heartbeat.
    pub packets_per_second: u64,
    /// Live sessions it runs.
    pub sessions: u64,
}

/// The registry the SFU nodes share.
pub trait NodeRegistry: Send + Sync + 'static {
    /// Announces this node and its load, and that it still runs `sessions`
    /// (their placements and room states are kept alive).
    fn heartbeat(
        &self,
        load: NodeLoad,
        sessions: Vec<Uuid>,
    ) -> StoreFuture<'_, Result<(), StoreError>>;

    /// Whether this node may serve `session`: `true` when the session is
    /// placed here, or nowhere, or on a node that stopped announcing itself
    /// (it is then placed here); `false` when a healthy node serves it.
    fn claim(&self, session: Uuid) -> StoreFuture<'_, Result<bool, StoreError>>;

    /// The room state kept for `session`, if any.
    fn load_room(&self, session: Uuid) -> StoreFuture<'_, Result<Option<RoomState>, StoreError>>;

    /// Keeps `state` as `session`'s room state.
    fn save_room(&self, session: Uuid, state: RoomState)
        -> StoreFuture<'_, Result<(), StoreError>>;

    /// `session` ended here (nobody left): its room state and placement go.
    fn ended(&self, session: Uuid) -> StoreFuture<'_, Result<(), StoreError>>;

    /// Who is where in the live sessions this node runs now, for the APIs
    /// in other processes (their overview of live sessions); kept briefly,
    /// so a node that stops stops showing sessions. Identifiers, roles,
    /// rooms and times only.
    fn publish_live(&self, live: Vec<LiveSnapshot>) -> StoreFuture<'_, Result<(), StoreError>>;
}

/// How long publishing who is where may wait for the session tasks.
const PUBLISH_SNAPSHOT_TIMEOUT: Duration = Duration::from_millis(300);

/// Announces the hub's node every [`HEARTBEAT`] until the runtime stops.
/// A failed announcement is logged; the next one tries again.
pub fn spawn_heartbeat(hub: Hub, registry: Arc<dyn NodeRegistry>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(HEARTBEAT);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = (Instant::now(), hub.metrics().packets_forwarded());
        let mut failing = false;
        loop {
            ticks.tick().await;
            let now = Instant::now();
            let forwarded = hub.metrics().packets_forwarded();
            let elapsed = now.duration_since(last.0).as_secs_f64();
            let pps = if elapsed > 0.0 {
                (forwarded.saturating_sub(last.1) as f64 / elapsed) as u64
            } else {
                0
            };
            last = (now, forwarded);
            let sessions = hub.session_ids();
            let load = NodeLoad {
                participants: u64::try_from(hub.metrics().participants()).unwrap_or(0),
                packets_per_second: pps,
                sessions: sessions.len() as u64,
            };
            let announced = registry.heartbeat(load, sessions).await;
            let published = match announced {
                Ok(()) => {
                    let live = hub.live_everywhere(PUBLISH_SNAPSHOT_TIMEOUT).await;
                    registry.publish_live(live).await
                }
                Err(e) => Err(e),
            };
            match published {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("the node registry answers again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "announcing this SFU node failed");
                }
                Err(_) => {}
            }
        }
    })
}

/// What a session's keeper writes next.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Keep {
    Nothing,
    State(RoomState),
    Ended,
}

/// Writes one session's room state to the registry whenever it changes,
/// latest first: a writer that falls behind skips states already replaced.
#[derive(Debug)]
pub(crate) struct RoomKeeper {
    latest: watch::Sender<Keep>,
    last: Option<RoomState>,
}

impl RoomKeeper {
    /// A keeper for `session`, starting from `restored` (already kept).
    pub(crate) fn spawn(
        registry: Arc<dyn NodeRegistry>,
        session: Uuid,
        restored: Option<RoomState>,
    ) -> Self {
        let (latest, mut next) = watch::channel(Keep::Nothing);
        tokio::spawn(async move {
            while next.changed().await.is_ok() {
                let keep = next.borrow_and_update().clone();
                let result = match keep {
                    Keep::Nothing => Ok(()),
                    Keep::State(state) => registry.save_room(session, state).await,
                    Keep::Ended => {
                        let result = registry.ended(session).await;
                        if let Err(e) = &result {
                            tracing::warn!(session = %session, error = %e, "forgetting an ended session's room state");
                        }
                        return;
                    }
                };
                if let Err(e) = result {
                    tracing::warn!(session = %session, error = %e, "keeping the room state");
                }
            }
        });
        RoomKeeper {
            latest,
            last: restored,
        }
    }

    /// The room state now: written when it differs from the last one.
    pub(crate) fn update(&mut self, state: RoomState) {
        if self.last.as_ref() != Some(&state) {
            self.last = Some(state.clone());
            self.latest.send_replace(Keep::State(state));
        }
    }

    /// The session ended here.
    pub(crate) fn ended(self) {
        self.latest.send_replace(Keep::Ended);
    }
}

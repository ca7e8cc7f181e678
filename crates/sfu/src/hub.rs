//! The session driver: the hub of running live sessions, one task each.
//!
//! Each task owns its session's [`LiveSession`] and [`Media`] (the sans-IO
//! core): no locks on their state, and the events of its connections, its
//! datagrams and its deadlines are applied in order, with the time read
//! here and handed in. Live-session events go to the audit log in order
//! through one writer per session, over the [`LiveStore`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use accord_auth::join::JoinKeys;
use accord_sfu_core::media::{Media, MediaOutput};
use accord_sfu_core::metrics::Metrics;
use accord_sfu_core::protocol::{
    self, ClientMessage, ParticipantId, RoomId, ServerMessage, SessionRole,
};
use accord_sfu_core::session::{CloseReason, JoinRefused, LiveSession, MemberSnapshot, Output};
use chrono::{DateTime, Utc};
use str0m::net::{Protocol, Transmit};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::registry::{NodeRegistry, RoomKeeper, ROOM_STATE_LOAD_TIMEOUT};
use crate::store::{AuditEvent, HeldTime, LiveStore};
use crate::udp::{Datagram, Demux, MediaSocket};
use crate::ws::Refusal;

/// Deadlines this close after a turn's time count as due in that turn (see
/// `Media::set_due_slack`): str0m's pacer asks to be called again a few
/// microseconds after the time it was given. Later ones are handled after
/// the turn, with the time read again.
const TURN_SLACK: Duration = Duration::from_micros(20);
/// Datagrams queued per session before the socket reader drops them.
const SESSION_INBOX: usize = 4096;

/// How long a dropped participant keeps their place for a reconnection.
pub const RECONNECT_GRACE: Duration = Duration::from_secs(10);
/// How long a live session outlives its last participant (after their
/// reconnection grace) by default: its caucuses, timers, lock, lobby
/// decisions and removals then end, and the next to join starts afresh.
pub const LIVE_SESSION_IDLE_END: Duration = Duration::from_secs(120);

/// Settings of a [`Hub`].
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// How long a live session outlives its last participant
    /// ([`LIVE_SESSION_IDLE_END`] by default).
    pub idle_end: Duration,
}

impl Default for HubOptions {
    fn default() -> Self {
        HubOptions {
            idle_end: LIVE_SESSION_IDLE_END,
        }
    }
}

/// What a connection sends to its session task.
pub(crate) enum Event {
    Join {
        who: ParticipantId,
        org: Uuid,
        role: SessionRole,
        rooms: Vec<String>,
        /// The device the connection proved it holds (uncompressed P-256 point).
        device: Vec<u8>,
        /// The participant's media is in clear (hop by hop only).
        clear: bool,
        connection: u64,
        outbox: mpsc::UnboundedSender<Outgoing>,
        reply: oneshot::Sender<Result<(), JoinRefused>>,
    },
    Message {
        who: ParticipantId,
        message: protocol::ClientMessage,
    },
    Gone {
        who: ParticipantId,
        connection: u64,
    },
    /// Who is where, for [`Hub::live`]: answered only for a session of `org`
    /// (of any org when `None`) with someone in it.
    Snapshot {
        org: Option<Uuid>,
        reply: oneshot::Sender<Option<LiveSnapshot>>,
    },
}

/// A live session as its org's admins may see it from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSnapshot {
    /// The org whose session it is.
    pub org: Uuid,
    /// The scheduled session.
    pub session: Uuid,
    /// When its first participant arrived (this run of the live session).
    pub started_at: DateTime<Utc>,
    /// Everyone in it, the lobby and those reconnecting included.
    pub participants: Vec<ParticipantSnapshot>,
}

/// Someone in a live session, for [`LiveSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantSnapshot {
    /// Who, where and whether connected.
    pub member: MemberSnapshot,
    /// The caucus's name when they are in one.
    pub caucus_name: Option<String>,
    /// When they arrived (their first join since they were last gone).
    pub joined_at: DateTime<Utc>,
}

/// What a session task sends to a connection.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Message(ServerMessage),
    Close(Refusal),
}

/// Shared by every connection: the keys, the database, the running sessions.
#[derive(Clone)]
pub struct Hub {
    pub(crate) inner: Arc<HubInner>,
}

pub(crate) struct HubInner {
    pub(crate) store: Arc<dyn LiveStore>,
    pub(crate) keys: JoinKeys,
    pub(crate) sessions: Mutex<HashMap<Uuid, mpsc::UnboundedSender<Event>>>,
    pub(crate) connections: std::sync::atomic::AtomicU64,
    pub(crate) media: MediaSocket,
    pub(crate) demux: Arc<Demux>,
    pub(crate) metrics: Arc<Metrics>,
    /// This process's instants on the wall clock, fixed at start: the
    /// sessions' timers kept in the registry end at the same moment on the
    /// node that takes a session over.
    pub(crate) wall_clock: accord_sfu_core::session::WallClock,
    pub(crate) options: HubOptions,
    /// The registry shared with other SFU nodes, when there are several.
    pub(crate) registry: std::sync::OnceLock<Arc<dyn NodeRegistry>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub that checks tokens with `keys`, spends them and writes the audit
    /// log through `store`, and carries media on `media`. Starts the
    /// socket's reader: call within a runtime.
    pub fn new(store: Arc<dyn LiveStore>, keys: JoinKeys, media: MediaSocket) -> Self {
        Hub::with_options(store, keys, media, HubOptions::default())
    }

    /// [`Hub::new`] with settings other than the defaults.
    pub fn with_options(
        store: Arc<dyn LiveStore>,
        keys: JoinKeys,
        media: MediaSocket,
        options: HubOptions,
    ) -> Self {
        let demux = Arc::new(Demux::default());
        tokio::spawn(media.clone().run(demux.clone()));
        Hub {
            inner: Arc::new(HubInner {
                store,
                keys,
                sessions: Mutex::new(HashMap::new()),
                connections: std::sync::atomic::AtomicU64::new(0),
                media,
                demux,
                metrics: Arc::new(Metrics::default()),
                wall_clock: accord_sfu_core::session::WallClock {
                    at: Instant::now(),
                    unix_ms: std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                },
                options,
                registry: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Makes this hub one SFU node among several sharing `registry`: it
    /// serves only the sessions placed on it and keeps their room state
    /// there. Set once, before the first join; a second one is ignored.
    pub fn set_registry(&self, registry: Arc<dyn NodeRegistry>) {
        if self.inner.registry.set(registry).is_err() {
            tracing::warn!("a second node registry was offered; the first stays");
        }
    }

    /// The registry shared with other SFU nodes, if any.
    pub(crate) fn registry(&self) -> Option<&Arc<dyn NodeRegistry>> {
        self.inner.registry.get()
    }

    /// The live sessions this hub runs now.
    pub fn session_ids(&self) -> Vec<Uuid> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, tx)| !tx.is_closed())
            .map(|(id, _)| *id)
            .collect()
    }

    /// The SFU's counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// The media socket's local address.
    pub fn media_addr(&self) -> std::net::SocketAddr {
        self.inner.media.local
    }

    /// The live sessions of `org` with someone in them, as each session's
    /// task reports them. Asks every task at once and waits at most
    /// `timeout` in all: a task that has not answered by then (busy, or
    /// ending) is left out.
    pub async fn live(&self, org: Uuid, timeout: Duration) -> Vec<LiveSnapshot> {
        self.snapshots(Some(org), timeout).await
    }

    /// Every live session on this hub, of every org (what a node publishes
    /// for an API in another process), within `timeout`.
    pub async fn live_everywhere(&self, timeout: Duration) -> Vec<LiveSnapshot> {
        self.snapshots(None, timeout).await
    }

    async fn snapshots(&self, org: Option<Uuid>, timeout: Duration) -> Vec<LiveSnapshot> {
        let tasks: Vec<mpsc::UnboundedSender<Event>> = self
            .inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|tx| !tx.is_closed())
            .cloned()
            .collect();
        let mut replies = Vec::with_capacity(tasks.len());
        for task in tasks {
            let (reply, answer) = oneshot::channel();
            if task.send(Event::Snapshot { org, reply }).is_ok() {
                replies.push(answer);
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut live = Vec::new();
        for answer in replies {
            if let Ok(Ok(Some(snapshot))) = tokio::time::timeout_at(deadline, answer).await {
                live.push(snapshot);
            }
        }
        live.sort_by_key(|s| (s.started_at, s.session));
        live
    }

    /// The session's task, started on first use.
    pub(crate) fn session(&self, id: Uuid) -> mpsc::UnboundedSender<Event> {
        let mut sessions = self
            .inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = sessions.get(&id).filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        sessions.insert(id, tx.clone());
        let (datagrams_tx, datagrams) = mpsc::channel(SESSION_INBOX);
        self.inner.demux.attach(id, datagrams_tx);
        tokio::spawn(run_session(id, self.clone(), rx, datagrams));
        tx
    }

    /// Hands `event` to the session's task, starting one if there is none
    /// or the one there is ending.
    pub(crate) fn send_to_session(&self, id: Uuid, event: Event) {
        let mut event = event;
        // A task that ends closes its inbox first: a send refused by it
        // gives the event back, and the next try starts a new task.
        for _ in 0..3 {
            match self.session(id).send(event) {
                Ok(()) => return,
                Err(mpsc::error::SendError(back)) => event = back,
            }
        }
        tracing::warn!(session = %id, "a session task refused an event three times");
    }

    /// Ends `id`'s live session, whose task reads `events`: no new event
    /// reaches it, and those already sent go to a new task.
    fn end_session(&self, id: Uuid, events: &mut mpsc::UnboundedReceiver<Event>) {
        {
            let mut sessions = self
                .inner
                .sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            sessions.remove(&id);
            self.inner.demux.detach(id);
            events.close();
        }
        let mut leftovers = Vec::new();
        while let Ok(event) = events.try_recv() {
            leftovers.push(event);
        }
        for event in leftovers {
            // A participant's messages and departures belong to the live
            // session that ended; a join starts the next one.
            if matches!(event, Event::Join { .. }) {
                self.send_to_session(id, event);
            }
        }
        tracing::info!(session = %id, "live session ended: nobody was left");
    }
}

pub(crate) struct Connected {
    connection: u64,
    outbox: mpsc::UnboundedSender<Outgoing>,
}

/// One session's task: its [`LiveSession`] and its [`Media`], on one task,
/// so neither needs a lock. It ends [`HubOptions::idle_end`] after its last
/// participant is gone (their reconnection grace included); a join racing
/// the end goes to the next task ([`Hub::end_session`]).
pub(crate) async fn run_session(
    id: Uuid,
    hub: Hub,
    mut events: mpsc::UnboundedReceiver<Event>,
    mut datagrams: mpsc::Receiver<Datagram>,
) {
    let mut task = SessionTask {
        id,
        live: LiveSession::new(id.as_u64_pair().0),
        media: {
            let mut media = Media::new(hub.inner.media.config.clone(), hub.inner.metrics.clone());
            media.set_due_slack(TURN_SLACK);
            media
        },
        connected: HashMap::new(),
        leaving: HashMap::new(),
        org: None,
        started_at: Utc::now(),
        joined_at: HashMap::new(),
        audit: None,
        rooms_counted: 0,
        udp_out: Vec::new(),
        keeper: None,
        held: HeldClock::default(),
        hub,
    };
    task.take_over().await;
    let mut batch = Vec::with_capacity(64);
    let mut idle_since: Option<Instant> = None;
    // The core's next deadline, as last asked (asked once per turn).
    let mut core_deadline = task.core_deadline();
    loop {
        let idle_end = idle_since.map(|t| t + task.hub.inner.options.idle_end);
        let deadline = [
            core_deadline,
            task.leaving.values().copied().min(),
            idle_end,
        ]
        .into_iter()
        .flatten()
        .min();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            event = events.recv() => {
                let Some(event) = event else {
                    task.record_held();
                    break;
                };
                let snapshot = matches!(event, Event::Snapshot { .. });
                task.event(event);
                if !snapshot {
                    task.keep();
                    task.track_held();
                }
            }
            n = datagrams.recv_many(&mut batch, 64) => {
                if n == 0 {
                    break;
                }
                task.datagrams(&batch);
                batch.clear();
            }
            // The core's own deadlines are handled after the select, below.
            () = sleep => {
                let now = Instant::now();
                let gone: Vec<ParticipantId> = task.leaving.iter().filter(|(_, t)| **t <= now).map(|(w, _)| *w).collect();
                for who in gone {
                    task.leaving.remove(&who);
                    task.live.forget(who);
                    task.media.remove(now, who);
                }
                task.keep();
                task.track_held();
                if idle_end.is_some_and(|t| t <= now) && task.connected.is_empty() && task.leaving.is_empty() {
                    task.dispatch();
                    task.record_held();
                    if let Some(keeper) = task.keeper.take() {
                        keeper.ended();
                    }
                    task.hub.clone().end_session(id, &mut events);
                    return;
                }
            }
        }
        task.dispatch();
        // The core's deadlines that have passed, whichever branch ran: the
        // timer's, or those that passed during this turn (waiting for the
        // timer branch would hold forwarded packets in str0m's pacer while
        // datagrams keep the biased select busy).
        core_deadline = task.core_deadline();
        let now = Instant::now();
        if core_deadline.is_some_and(|t| t <= now) {
            task.live.handle_timeout(now);
            task.media.handle_timeout(now);
            task.dispatch();
            core_deadline = task.core_deadline();
        }
        idle_since = if task.connected.is_empty() && task.leaving.is_empty() {
            idle_since.or_else(|| Some(Instant::now()))
        } else {
            None
        };
    }
}

/// The time a run of a live session is held
/// ([`LiveSession::in_session`]), summed over the run.
#[derive(Debug, Default)]
struct HeldClock {
    /// When it was first held.
    first: Option<DateTime<Utc>>,
    /// Held since, while it is.
    since: Option<DateTime<Utc>>,
    /// Held before `since`.
    total: chrono::TimeDelta,
}

impl HeldClock {
    fn observe(&mut self, held: bool, now: DateTime<Utc>) {
        match (held, self.since) {
            (true, None) => {
                self.since = Some(now);
                self.first.get_or_insert(now);
            }
            (false, Some(since)) => {
                self.total += (now - since).max(chrono::TimeDelta::zero());
                self.since = None;
            }
            _ => {}
        }
    }

    /// The run's first held moment and whole seconds held (at least one),
    /// if it was held at all; the clock starts again.
    fn take(&mut self, now: DateTime<Utc>) -> Option<(DateTime<Utc>, i64)> {
        self.observe(false, now);
        let first = self.first.take()?;
        let seconds = std::mem::take(&mut self.total).num_seconds().max(1);
        Some((first, seconds))
    }
}

struct SessionTask {
    id: Uuid,
    hub: Hub,
    live: LiveSession,
    media: Media,
    connected: HashMap<ParticipantId, Connected>,
    leaving: HashMap<ParticipantId, Instant>,
    /// The org whose session this is, from the first join's token.
    org: Option<Uuid>,
    /// When this task (this run of the live session) started.
    started_at: DateTime<Utc>,
    /// When each participant arrived, since they were last gone.
    joined_at: HashMap<ParticipantId, DateTime<Utc>>,
    /// Live-session events go to the audit log in order, through one writer.
    audit: Option<mpsc::UnboundedSender<(ParticipantId, &'static str, ParticipantId)>>,
    rooms_counted: i64,
    /// Datagrams to send at the end of this turn, in one batch.
    udp_out: Vec<Transmit>,
    /// Writes the room state to the node registry, when there is one.
    keeper: Option<RoomKeeper>,
    /// How long this run has been held.
    held: HeldClock,
}

impl SessionTask {
    /// With a node registry: takes over the room state another node kept
    /// for this session (its members then hold their places for their
    /// reconnection grace), and keeps it from now on.
    async fn take_over(&mut self) {
        let Some(registry) = self.hub.registry().cloned() else {
            return;
        };
        let restored = match tokio::time::timeout(
            ROOM_STATE_LOAD_TIMEOUT,
            registry.load_room(self.id),
        )
        .await
        {
            Ok(Ok(state)) => state,
            Ok(Err(e)) => {
                tracing::warn!(session = %self.id, error = %e, "reading the kept room state; starting afresh");
                None
            }
            Err(_) => {
                tracing::warn!(session = %self.id, "the kept room state did not come in time; starting afresh");
                None
            }
        };
        if let Some(state) = &restored {
            let now = Instant::now();
            self.live.restore(state.clone(), self.hub.inner.wall_clock);
            for member in self.live.members() {
                self.leaving.insert(member.id, now + RECONNECT_GRACE);
            }
            tracing::info!(session = %self.id, members = state.members.len(), "live session taken over with its room state");
        }
        self.keeper = Some(RoomKeeper::spawn(registry, self.id, restored));
    }

    /// Hands the room state to the keeper (written when it changed).
    /// Notes whether the session is held now (after each change).
    fn track_held(&mut self) {
        let held = self.live.in_session();
        self.held.observe(held, Utc::now());
    }

    /// The run is over: its held time goes to the session's record, in the
    /// background (a failed write is logged; the staff can record it).
    fn record_held(&mut self) {
        let (Some(org), Some((started_at, seconds))) = (self.org, self.held.take(Utc::now()))
        else {
            return;
        };
        let store = self.hub.inner.store.clone();
        let held = HeldTime {
            org,
            session: self.id,
            started_at,
            seconds,
        };
        tokio::spawn(async move {
            if let Err(e) = store.record_held(held).await {
                tracing::warn!(session = %held.session, error = %e, "the session's held time was not recorded");
            }
        });
    }

    fn keep(&mut self) {
        if let Some(keeper) = &mut self.keeper {
            keeper.update(self.live.room_state(self.hub.inner.wall_clock));
        }
    }

    /// When the live session or its media next need the time.
    fn core_deadline(&mut self) -> Option<Instant> {
        [self.live.poll_timeout(), self.media.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    fn event(&mut self, event: Event) {
        let now = Instant::now();
        match event {
            Event::Join {
                who,
                org,
                role,
                rooms,
                device,
                clear,
                connection,
                outbox,
                reply,
            } => {
                if self.audit.is_none() {
                    self.audit = Some(spawn_audit_writer(
                        self.hub.inner.store.clone(),
                        org,
                        self.id,
                    ));
                }
                self.org.get_or_insert(org);
                let returning = self.live.room_of(who).is_some();
                let result = self.live.join(who, role, &rooms);
                if result.is_ok() {
                    // Its E2EE identity must name this device.
                    self.live.bind_device(who, &device);
                    if clear && self.live.mark_hop_by_hop(who) {
                        // From now on nobody's frames are read as sealed.
                        for id in self.live.participant_ids() {
                            self.media.set_sealed(id, false);
                        }
                    }
                    if !returning {
                        self.joined_at.insert(who, Utc::now());
                    }
                    self.leaving.remove(&who);
                    if self.connected.is_empty() {
                        self.hub.inner.metrics.sessions_changed(1);
                    }
                    if self
                        .connected
                        .insert(who, Connected { connection, outbox })
                        .is_none()
                    {
                        self.hub.inner.metrics.participants_changed(1);
                    }
                }
                let _ = reply.send(result);
            }
            Event::Message {
                who,
                message: ClientMessage::Offer { sdp },
            } => {
                if let Err(e) = self.media.offer(now, who, &sdp) {
                    self.send(who, e.to_message());
                } else {
                    self.media.set_routes(now, self.live.routes());
                }
            }
            Event::Message {
                who,
                message: ClientMessage::Answer { sdp },
            } => {
                if let Err(e) = self.media.answer(now, who, &sdp) {
                    self.send(who, e.to_message());
                }
            }
            Event::Message {
                who,
                message:
                    ClientMessage::Tile {
                        participant,
                        source,
                        width,
                        height,
                    },
            } => self
                .media
                .set_tile(now, who, participant, source, width, height),
            Event::Message { who, message } => {
                self.live.handle(now, who, message);
                // An E2EE identity (its first, or one refused): whether the
                // media path reads key ids from this participant's frames.
                self.media.set_sealed(who, self.live.seals(who));
            }
            Event::Gone { who, connection } => {
                if self
                    .connected
                    .get(&who)
                    .is_some_and(|c| c.connection == connection)
                {
                    self.disconnect(who);
                    self.live.disconnected(who);
                    self.media.set_sealed(who, false);
                    self.leaving.insert(who, now + RECONNECT_GRACE);
                }
            }
            Event::Snapshot { org, reply } => {
                let _ = reply.send(self.snapshot(org));
            }
        }
    }

    /// Who is where now, when this is a session of `org` (of any org when
    /// `None`) with anyone in it.
    fn snapshot(&mut self, org: Option<Uuid>) -> Option<LiveSnapshot> {
        let mine = self.org?;
        if org.is_some_and(|o| o != mine) {
            return None;
        }
        let members = self.live.members();
        if members.is_empty() {
            return None;
        }
        // Those who left (denied, removed, or past their grace) are forgotten here too.
        self.joined_at
            .retain(|who, _| members.iter().any(|m| m.id == *who));
        let participants = members
            .into_iter()
            .map(|member| ParticipantSnapshot {
                caucus_name: match member.room {
                    RoomId::Caucus(c) => self.live.caucus_name(c).map(str::to_owned),
                    RoomId::Lobby | RoomId::Main => None,
                },
                joined_at: self
                    .joined_at
                    .get(&member.id)
                    .copied()
                    .unwrap_or(self.started_at),
                member,
            })
            .collect();
        Some(LiveSnapshot {
            org: mine,
            session: self.id,
            started_at: self.started_at,
            participants,
        })
    }

    /// Datagrams read together: handed to the media layer, what they caused
    /// sent, and the delays recorded.
    fn datagrams(&mut self, batch: &[Datagram]) {
        let config = self.hub.inner.media.config.clone();
        self.media.handle_datagrams(
            Instant::now(),
            batch.iter().map(|d| {
                let local = config.candidate_for(d.proto, d.destination);
                (d.at, d.proto, d.source, local, d.data.as_slice())
            }),
        );
        self.dispatch();
        let end = Instant::now();
        let metrics = &self.hub.inner.metrics;
        for d in batch {
            metrics.read_wait(d.read.saturating_duration_since(d.at));
            metrics.turn_delay(end.saturating_duration_since(d.at));
        }
    }

    fn disconnect(&mut self, who: ParticipantId) -> Option<Connected> {
        let c = self.connected.remove(&who)?;
        self.hub.inner.metrics.participants_changed(-1);
        if self.connected.is_empty() {
            self.hub.inner.metrics.sessions_changed(-1);
        }
        Some(c)
    }

    fn send(&self, to: ParticipantId, message: ServerMessage) {
        if let Some(c) = self.connected.get(&to) {
            let _ = c.outbox.send(Outgoing::Message(message));
        }
    }

    fn dispatch(&mut self) {
        let now = Instant::now();
        loop {
            if let Some(output) = self.live.poll_output(now) {
                self.live_output(output);
                continue;
            }
            if let Some(output) = self.media.poll_output() {
                self.media_output(output);
                continue;
            }
            break;
        }
        if !self.udp_out.is_empty() {
            // A full socket buffer drops datagrams, as the network would.
            crate::batch::send_batch(
                &self.hub.inner.media.socket,
                self.udp_out
                    .iter()
                    .map(|t| (t.destination, &t.contents[..])),
            );
            self.udp_out.clear();
        }
    }

    fn live_output(&mut self, output: Output) {
        match output {
            Output::Send { to, message } => {
                // A receiver's acknowledgement of `to`'s key: the media
                // engine's routes from `to` to it learn what it can decrypt.
                if let ServerMessage::E2eeKeyAck { from, generation } = &message {
                    self.media.key_acknowledged(*from, to, *generation);
                }
                self.send(to, message)
            }
            Output::Close { who, reason } => {
                if let Some(c) = self.disconnect(who) {
                    let refusal = match reason {
                        CloseReason::Denied => Refusal::Denied,
                        CloseReason::Removed => Refusal::Removed,
                    };
                    let _ = c.outbox.send(Outgoing::Close(refusal));
                }
                self.media.remove(Instant::now(), who);
            }
            Output::RoutesChanged => {
                let routes = self.live.routes();
                let rooms: std::collections::HashSet<RoomId> =
                    routes.rooms().values().copied().collect();
                let count = rooms.len() as i64;
                self.hub
                    .inner
                    .metrics
                    .rooms_changed(count - self.rooms_counted);
                self.rooms_counted = count;
                self.media.set_routes(Instant::now(), routes);
            }
            Output::Audit {
                actor,
                action,
                subject,
            } => {
                if let Some(audit) = &self.audit {
                    let _ = audit.send((actor, action, subject));
                }
            }
        }
    }

    fn media_output(&mut self, output: MediaOutput) {
        match output {
            MediaOutput::Transmit(t) if t.proto == Protocol::Tcp => {
                self.hub.inner.demux.send_tcp(t.destination, &t.contents);
            }
            MediaOutput::Transmit(t) => self.udp_out.push(t),
            MediaOutput::Send { to, message } => self.send(to, message),
            MediaOutput::Quality(participants) => {
                for mediator in self.live.connected_mediators() {
                    self.send(
                        mediator,
                        ServerMessage::Stats {
                            participants: participants.clone(),
                        },
                    );
                }
            }
            MediaOutput::Listen { ufrag } => self.hub.inner.demux.add_ufrag(&ufrag, self.id),
            MediaOutput::Forget { ufrag, addrs } => self.hub.inner.demux.remove(&ufrag, &addrs),
            MediaOutput::Lost { who } => {
                tracing::info!(session = %self.id, participant = %who, "media connection lost");
            }
        }
    }
}

/// Writes live-session events to the org's audit log, in order, identifiers
/// only. A failed write is logged and the session goes on.
fn spawn_audit_writer(
    store: Arc<dyn LiveStore>,
    org: Uuid,
    session: Uuid,
) -> mpsc::UnboundedSender<(ParticipantId, &'static str, ParticipantId)> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(ParticipantId, &'static str, ParticipantId)>();
    tokio::spawn(async move {
        while let Some((actor, action, subject)) = rx.recv().await {
            let event = AuditEvent {
                org,
                actor,
                action,
                subject,
            };
            if let Err(e) = store.append_audit(event).await {
                tracing::warn!(session = %session, action, error = %e, "live-session audit event not written");
            }
        }
    });
    tx
}

//! The live-session core: who is where, who may hear and see whom, and what
//! the mediator's commands do. Sans-IO: it never reads a clock or touches a
//! socket. The driver feeds it joins, leaves, parsed client messages and the
//! current time, and drains [`Output`]s (messages to send, connections to close,
//! "routes changed" for the media path) and [`LiveSession::poll_timeout`].
//!
//! The media rule lives here too ([`LiveSession::may_receive`]): a participant
//! receives media only from others in the same room, and nothing flows to or
//! from the lobby. The forwarding path asks it on every route change, so a
//! move takes effect in the same step that changes the room.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use uuid::Uuid;

use crate::protocol::{
    ClientMessage, E2eeIdentity, MediaSource, ParticipantId, ParticipantView, RoomId, RoomView,
    ServerMessage, SessionRole, WrappedKey,
};

/// How long before a timer ends its warning goes out.
pub const TIMER_WARNING: Duration = Duration::from_secs(60);

/// A round of views costs O(n²) for n connected participants (each view
/// lists up to n of them): in a room bigger than [`VIEW_SPACING_FROM`], the
/// next round waits this long per n² after the previous one, so that a room
/// many join at once gets a bounded stream of views instead of a full round
/// per join.
const VIEW_SPACING_PER_PAIR: Duration = Duration::from_micros(5);
/// Rooms up to this size get every round at once.
const VIEW_SPACING_FROM: usize = 16;
/// The longest a view waits behind the previous round.
const VIEW_SPACING_MAX: Duration = Duration::from_secs(1);

/// How long after a round of views for `connected` participants the next
/// round may go out.
pub fn view_spacing(connected: usize) -> Duration {
    if connected <= VIEW_SPACING_FROM {
        return Duration::ZERO;
    }
    let pairs = u32::try_from(connected.saturating_mul(connected)).unwrap_or(u32::MAX);
    VIEW_SPACING_PER_PAIR
        .checked_mul(pairs)
        .map_or(VIEW_SPACING_MAX, |d| d.min(VIEW_SPACING_MAX))
}

/// Why a connection is closed by the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The mediator turned them away from the lobby.
    Denied,
    /// The mediator removed them.
    Removed,
}

/// Something for the driver to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send a message to one participant.
    Send {
        /// To whom.
        to: ParticipantId,
        /// What.
        message: ServerMessage,
    },
    /// Close a participant's connection.
    Close {
        /// Whose.
        who: ParticipantId,
        /// Why.
        reason: CloseReason,
    },
    /// Rooms, mutes or membership changed: recompute media routes.
    RoutesChanged,
    /// Record in the audit log (identifiers only).
    Audit {
        /// Who did it.
        actor: ParticipantId,
        /// What: `live.join`, `live.admit`, `live.deny`, `live.move`,
        /// `live.recall_all`, `live.mute`, `live.remove`, `live.lock`, `live.unlock`.
        action: &'static str,
        /// To whom.
        subject: ParticipantId,
    },
}

/// Which of a sender's sources one receiver gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sources {
    /// Their microphone (not while muted).
    pub microphone: bool,
    /// Their camera.
    pub camera: bool,
    /// Their screen (only while they share).
    pub screen: bool,
}

impl Sources {
    /// Whether `source` is among them.
    pub fn allows(self, source: MediaSource) -> bool {
        match source {
            MediaSource::Microphone => self.microphone,
            MediaSource::Camera => self.camera,
            MediaSource::Screen => self.screen,
        }
    }
}

/// Who receives what from whom, as of the last change: the table the media
/// path consults for every packet, rebuilt on [`Output::RoutesChanged`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Routes {
    by_sender: HashMap<ParticipantId, Vec<(ParticipantId, Sources)>>,
    rooms: HashMap<ParticipantId, RoomId>,
}

impl Routes {
    /// Who receives `sender`, and which of their sources.
    pub fn receivers(&self, sender: ParticipantId) -> &[(ParticipantId, Sources)] {
        self.by_sender.get(&sender).map_or(&[], Vec::as_slice)
    }

    /// Whether `receiver` gets `sender`'s `source` now.
    pub fn allows(
        &self,
        sender: ParticipantId,
        receiver: ParticipantId,
        source: MediaSource,
    ) -> bool {
        self.receivers(sender)
            .iter()
            .any(|(r, s)| *r == receiver && s.allows(source))
    }

    /// The room of each connected participant outside the lobby.
    pub fn rooms(&self) -> &HashMap<ParticipantId, RoomId> {
        &self.rooms
    }

    /// Routes with these rooms and no receivers (the media path's tests).
    #[cfg(test)]
    pub(crate) fn in_rooms(rooms: impl IntoIterator<Item = (ParticipantId, RoomId)>) -> Self {
        Routes {
            by_sender: HashMap::new(),
            rooms: rooms.into_iter().collect(),
        }
    }
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JoinRefused {
    /// The mediator locked the session.
    #[error("the session is locked")]
    Locked,
    /// The mediator removed this participant.
    #[error("you were removed from this session")]
    Removed,
}

/// Someone in the session as seen from outside it (the overview the driver
/// gives an org's admins): no media state, no hands, no mutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberSnapshot {
    /// Who.
    pub id: ParticipantId,
    /// Their role in the session.
    pub role: SessionRole,
    /// Where they are.
    pub room: RoomId,
    /// Whether their connection is up (false during the reconnection grace).
    pub connected: bool,
}

/// What the mediator set up in a live session, as a driver keeps it outside
/// the process so that another SFU node can take the session over: the
/// caucuses, who is in which room (the lobby included), mutes, the lock,
/// the removals and the rooms' timers. No media state, no E2EE identities
/// (each connection brings its own).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomState {
    /// The mediator locked the session.
    pub locked: bool,
    /// How many caucuses were made (caucus ids are derived from it).
    pub caucuses_made: u64,
    /// The open caucuses and their names.
    pub caucuses: BTreeMap<Uuid, String>,
    /// Everyone in the session and where.
    pub members: Vec<PlacedMember>,
    /// Those the mediator removed: they may not come back.
    pub removed: BTreeSet<ParticipantId>,
    /// The rooms' running timers (kept by an older release: none).
    #[serde(default)]
    pub timers: Vec<KeptTimer>,
}

/// A room's timer in a [`RoomState`]: when it ends on the wall clock, so
/// that another process (another clock) ends it at the same moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptTimer {
    /// The room.
    pub room: RoomId,
    /// When it ends, milliseconds since the Unix epoch.
    pub ends_at_ms: u64,
    /// Its warning already went out.
    pub warned: bool,
}

/// The wall-clock time of one instant, given by the driver (the core reads
/// no clock): how a session's timers are kept outside the process. A driver
/// keeps one for its lifetime, so that a timer's kept end never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallClock {
    /// An instant of the driver's clock.
    pub at: Instant,
    /// The same moment, milliseconds since the Unix epoch.
    pub unix_ms: u64,
}

impl WallClock {
    fn unix_ms_of(&self, t: Instant) -> u64 {
        if t >= self.at {
            let ahead = u64::try_from(t.duration_since(self.at).as_millis()).unwrap_or(u64::MAX);
            self.unix_ms.saturating_add(ahead)
        } else {
            let behind = u64::try_from(self.at.duration_since(t).as_millis()).unwrap_or(u64::MAX);
            self.unix_ms.saturating_sub(behind)
        }
    }

    fn instant_of(&self, unix_ms: u64) -> Instant {
        if unix_ms >= self.unix_ms {
            self.at + Duration::from_millis(unix_ms - self.unix_ms)
        } else {
            self.at
                .checked_sub(Duration::from_millis(self.unix_ms - unix_ms))
                .unwrap_or(self.at)
        }
    }
}

/// Someone in a [`RoomState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacedMember {
    /// Who.
    pub id: ParticipantId,
    /// Their role.
    pub role: SessionRole,
    /// Their room.
    pub room: RoomId,
    /// Muted (by themselves or the mediator).
    pub muted: bool,
}

#[derive(Debug, Clone)]
struct Member {
    role: SessionRole,
    room: RoomId,
    connected: bool,
    muted: bool,
    hand_raised: bool,
    sharing: bool,
    /// The identity this connection advertised (none after a drop: the
    /// next connection brings its own ECDH key).
    e2ee: Option<E2eeIdentity>,
    /// The device this connection proved it holds (the public key its join
    /// token is bound to, uncompressed P-256 point), when the driver says:
    /// an E2EE identity must be signed by that device.
    device: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy)]
struct Timer {
    ends: Instant,
    warned: bool,
}

/// One live session.
#[derive(Debug)]
pub struct LiveSession {
    seed: u64,
    caucuses_made: u64,
    locked: bool,
    members: BTreeMap<ParticipantId, Member>,
    removed: BTreeSet<ParticipantId>,
    caucuses: BTreeMap<Uuid, String>,
    timers: BTreeMap<RoomId, Timer>,
    outputs: VecDeque<Output>,
    /// Rooms, mutes or membership changed since the last poll.
    routes_due: bool,
    /// Something everyone's view depends on changed since the last round
    /// of views.
    views_due: bool,
    /// The next round of views may not go out before this
    /// ([`view_spacing`]).
    views_not_before: Option<Instant>,
    /// Someone joined without end-to-end encryption: media is in clear
    /// (hop by hop only) for the rest of this live session.
    hop_by_hop: bool,
}

fn error(code: &str, message: &str) -> ServerMessage {
    ServerMessage::Error {
        code: code.to_owned(),
        message: message.to_owned(),
        refused: None,
    }
}

impl LiveSession {
    /// A session with no one in it. `seed` makes caucus ids unique to it.
    pub fn new(seed: u64) -> Self {
        LiveSession {
            seed,
            caucuses_made: 0,
            locked: false,
            members: BTreeMap::new(),
            removed: BTreeSet::new(),
            caucuses: BTreeMap::new(),
            timers: BTreeMap::new(),
            outputs: VecDeque::new(),
            routes_due: false,
            views_due: false,
            views_not_before: None,
            hop_by_hop: false,
        }
    }

    /// The next thing for the driver to do at `now`. Routes change at once;
    /// views are built here, once per batch of changes, after the messages
    /// the changes caused, and in a big room no sooner than
    /// [`view_spacing`] after the previous round ([`LiveSession::poll_timeout`]
    /// says when).
    pub fn poll_output(&mut self, now: Instant) -> Option<Output> {
        if self.routes_due {
            self.routes_due = false;
            self.outputs.push_back(Output::RoutesChanged);
        }
        if self.views_due && self.views_not_before.is_none_or(|at| at <= now) {
            self.views_due = false;
            let connected: Vec<ParticipantId> = self
                .members
                .iter()
                .filter(|(_, m)| m.connected)
                .map(|(id, _)| *id)
                .collect();
            self.views_not_before = Some(now + view_spacing(connected.len()));
            for who in connected {
                let view = self.view_for(who, now);
                self.outputs.push_back(Output::Send {
                    to: who,
                    message: view,
                });
            }
        }
        self.outputs.pop_front()
    }

    /// When [`LiveSession::handle_timeout`] (or [`LiveSession::poll_output`],
    /// for views held back) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let views = self.views_not_before.filter(|_| self.views_due);
        self.timers
            .values()
            .map(|t| match t.ends.checked_sub(TIMER_WARNING) {
                Some(warn) if !t.warned => warn,
                _ => t.ends,
            })
            .chain(views)
            .min()
    }

    /// Where a participant is, if they are in the session.
    pub fn room_of(&self, who: ParticipantId) -> Option<RoomId> {
        self.members.get(&who).map(|m| m.room)
    }

    /// Whether `receiver` may receive `sender`'s media right now: both
    /// connected, in the same room, and that room is not the lobby.
    pub fn may_receive(&self, receiver: ParticipantId, sender: ParticipantId) -> bool {
        match (self.members.get(&receiver), self.members.get(&sender)) {
            (Some(r), Some(s)) => {
                receiver != sender
                    && r.connected
                    && s.connected
                    && r.room == s.room
                    && r.room != RoomId::Lobby
            }
            _ => false,
        }
    }

    /// [`LiveSession::may_receive`], and the sender is not muted.
    pub fn may_receive_audio(&self, receiver: ParticipantId, sender: ParticipantId) -> bool {
        self.may_receive(receiver, sender) && self.members.get(&sender).is_some_and(|s| !s.muted)
    }

    /// The media routes now: [`LiveSession::may_receive`] for every pair,
    /// with audio cut while the sender is muted and the screen only while
    /// they share.
    pub fn routes(&self) -> Routes {
        let mut routes = Routes::default();
        for (sender, s) in &self.members {
            if s.connected && s.room != RoomId::Lobby {
                routes.rooms.insert(*sender, s.room);
            }
            let receivers: Vec<(ParticipantId, Sources)> = self
                .members
                .keys()
                .filter(|r| self.may_receive(**r, *sender))
                .map(|r| {
                    let sources = Sources {
                        microphone: !s.muted,
                        camera: true,
                        screen: s.sharing,
                    };
                    (*r, sources)
                })
                .collect();
            if !receivers.is_empty() {
                routes.by_sender.insert(*sender, receivers);
            }
        }
        routes
    }

    /// Everyone in the session now, the lobby and those reconnecting
    /// included, by id.
    pub fn members(&self) -> Vec<MemberSnapshot> {
        self.members
            .iter()
            .map(|(id, m)| MemberSnapshot {
                id: *id,
                role: m.role,
                room: m.room,
                connected: m.connected,
            })
            .collect()
    }

    /// The name the mediator gave caucus `id`, while it is open.
    pub fn caucus_name(&self, id: Uuid) -> Option<&str> {
        self.caucuses.get(&id).map(String::as_str)
    }

    /// The room state the mediator set, for a driver to keep outside the
    /// process ([`LiveSession::restore`] takes it back).
    pub fn room_state(&self, clock: WallClock) -> RoomState {
        RoomState {
            locked: self.locked,
            caucuses_made: self.caucuses_made,
            caucuses: self.caucuses.clone(),
            members: self
                .members
                .iter()
                .map(|(id, m)| PlacedMember {
                    id: *id,
                    role: m.role,
                    room: m.room,
                    muted: m.muted,
                })
                .collect(),
            removed: self.removed.clone(),
            timers: self
                .timers
                .iter()
                .map(|(room, t)| KeptTimer {
                    room: *room,
                    ends_at_ms: clock.unix_ms_of(t.ends),
                    warned: t.warned,
                })
                .collect(),
        }
    }

    /// Takes over `state`, kept by another process that ran this live
    /// session: its caucuses, lock and removals, and its members in their
    /// rooms, all disconnected. Each keeps their place until they join again
    /// (and find their room) or the driver forgets them. Someone placed in a
    /// caucus that is not open is placed in the main room. The rooms' timers
    /// run on, ending when they would have (`clock` maps that to this
    /// process's instants); one that ended meanwhile expires at the next
    /// [`LiveSession::handle_timeout`].
    pub fn restore(&mut self, state: RoomState, clock: WallClock) {
        self.locked = state.locked;
        self.caucuses_made = self.caucuses_made.max(state.caucuses_made);
        self.caucuses = state.caucuses;
        self.removed = state.removed;
        for kept in state.timers {
            let open = match kept.room {
                RoomId::Caucus(c) => self.caucuses.contains_key(&c),
                _ => true,
            };
            if open {
                self.timers.insert(
                    kept.room,
                    Timer {
                        ends: clock.instant_of(kept.ends_at_ms),
                        warned: kept.warned,
                    },
                );
            }
        }
        for placed in state.members {
            if self.removed.contains(&placed.id) {
                continue;
            }
            let room = match placed.room {
                RoomId::Caucus(c) if !self.caucuses.contains_key(&c) => RoomId::Main,
                room => room,
            };
            self.members.entry(placed.id).or_insert(Member {
                role: placed.role,
                room,
                connected: false,
                muted: placed.muted,
                hand_raised: false,
                sharing: false,
                e2ee: None,
                device: None,
            });
        }
        self.changed();
    }

    /// Whether `who`'s connection announced an E2EE identity (and so seals
    /// its frames: `Media::set_sealed`).
    pub fn seals(&self, who: ParticipantId) -> bool {
        !self.hop_by_hop
            && self
                .members
                .get(&who)
                .is_some_and(|m| m.connected && m.e2ee.is_some())
    }

    /// Marks `who` as joining without end-to-end encryption (their browser
    /// cannot, and the org allows it; their join token says so). The live
    /// session then runs hop by hop for everyone until it ends: everyone is
    /// told (`State::hop_by_hop`), clients send and accept frames in clear,
    /// and no participant's frames are read as sealed. `true` when this
    /// turned the session hop-by-hop.
    pub fn mark_hop_by_hop(&mut self, who: ParticipantId) -> bool {
        if !self.members.contains_key(&who) || self.hop_by_hop {
            return false;
        }
        self.hop_by_hop = true;
        self.audit(who, "live.hop_by_hop", who);
        self.changed();
        true
    }

    /// Whether the session runs hop by hop only ([`LiveSession::mark_hop_by_hop`]).
    pub fn hop_by_hop(&self) -> bool {
        self.hop_by_hop
    }

    /// Everyone in the session, connected or within their grace.
    pub fn participant_ids(&self) -> Vec<ParticipantId> {
        self.members.keys().copied().collect()
    }

    /// Whether the session is being held now: a mediator is connected with
    /// at least one other participant admitted (in the main room or a
    /// caucus). Someone waiting in the lobby, or a mediator alone, is not a
    /// session held.
    pub fn in_session(&self) -> bool {
        let mut mediator = false;
        let mut admitted = false;
        for m in self.members.values().filter(|m| m.connected) {
            if m.role == SessionRole::Mediator {
                mediator = true;
            } else if m.room != RoomId::Lobby {
                admitted = true;
            }
        }
        mediator && admitted
    }

    /// The mediators connected now.
    pub fn connected_mediators(&self) -> Vec<ParticipantId> {
        self.mediators()
    }

    /// A participant's connection arrived (first time or again). `rooms` are the
    /// rooms their join token lets them enter on their own: `*` (mediators),
    /// `lobby` or `main`. Someone coming back finds their room and state as they
    /// left them.
    pub fn join(
        &mut self,
        who: ParticipantId,
        role: SessionRole,
        rooms: &[String],
    ) -> Result<(), JoinRefused> {
        if self.removed.contains(&who) {
            return Err(JoinRefused::Removed);
        }
        if let Some(member) = self.members.get_mut(&who) {
            member.connected = true;
        } else {
            if self.locked && role != SessionRole::Mediator {
                return Err(JoinRefused::Locked);
            }
            let room = if rooms.iter().any(|r| r == "*" || r == "main") {
                RoomId::Main
            } else {
                RoomId::Lobby
            };
            self.members.insert(
                who,
                Member {
                    role,
                    room,
                    connected: true,
                    muted: false,
                    hand_raised: false,
                    sharing: false,
                    e2ee: None,
                    device: None,
                },
            );
            self.audit(who, "live.join", who);
            if room == RoomId::Lobby {
                for mediator in self.mediators() {
                    self.send(mediator, ServerMessage::Knock { participant: who });
                }
            }
        }
        self.changed();
        Ok(())
    }

    /// The device `who`'s connection proved it holds: the public key their
    /// join token is bound to, as the uncompressed P-256 point (65 bytes).
    /// From then on, an E2EE identity they announce must name that device
    /// key, so that what others verify safety numbers against is the device
    /// the server authenticated, not a key the client chose. Bound again on
    /// each connection (after [`LiveSession::join`]).
    pub fn bind_device(&mut self, who: ParticipantId, device_key: &[u8]) {
        if let Some(member) = self.members.get_mut(&who) {
            member.device = Some(device_key.to_vec());
        }
    }

    /// A participant's connection went away; they keep their place until
    /// [`LiveSession::forget`] (the driver's reconnection grace period).
    pub fn disconnected(&mut self, who: ParticipantId) {
        if let Some(member) = self.members.get_mut(&who) {
            member.connected = false;
            member.sharing = false;
            member.e2ee = None;
            member.device = None;
            self.changed();
        }
    }

    /// A participant's grace period ran out: they are gone.
    pub fn forget(&mut self, who: ParticipantId) {
        if self.members.remove(&who).is_some() {
            self.changed();
        }
    }

    /// Handles a parsed message from a participant.
    pub fn handle(&mut self, now: Instant, from: ParticipantId, message: ClientMessage) {
        let Some(sender) = self.members.get(&from).cloned() else {
            return;
        };
        let is_mediator = sender.role == SessionRole::Mediator;
        let result = match message {
            // The driver hands SDP and tile sizes to the media path; they
            // never reach here.
            ClientMessage::Offer { .. }
            | ClientMessage::Answer { .. }
            | ClientMessage::Tile { .. } => Ok(()),
            ClientMessage::SetMuted { muted } => {
                self.update(from, |m| m.muted = muted);
                Ok(())
            }
            ClientMessage::SetHand { raised } => self.admitted(&sender).map(|()| {
                self.update(from, |m| m.hand_raised = raised);
            }),
            ClientMessage::SetSharing { sharing } => self.set_sharing(from, &sender, sharing),
            ClientMessage::E2eeIdentity {
                device_key,
                ecdh_key,
                signature,
            } => {
                let identity = E2eeIdentity {
                    device_key,
                    ecdh_key,
                    signature,
                };
                self.announce(from, &sender, identity)
            }
            ClientMessage::E2eeKeys {
                room,
                generation,
                keys,
            } => self.relay_keys(from, &sender, room, generation, keys),
            ClientMessage::E2eeKeyAck {
                to,
                room,
                generation,
            } => self.relay_ack(from, &sender, to, room, generation),
            ClientMessage::Chat { text } => self.admitted(&sender).map(|()| {
                for to in self.in_room(sender.room) {
                    self.send(
                        to,
                        ServerMessage::Chat {
                            from,
                            text: text.clone(),
                        },
                    );
                }
            }),
            // Everything below is the mediator's.
            _ if !is_mediator => Err(error("FORBIDDEN", "only the mediator can do that")),
            ClientMessage::Admit { participant } => self.in_lobby(participant).map(|()| {
                self.update(participant, |m| m.room = RoomId::Main);
                self.audit(from, "live.admit", participant);
            }),
            ClientMessage::Deny {
                participant,
                message,
            } => self.in_lobby(participant).map(|()| {
                self.audit(from, "live.deny", participant);
                self.send(participant, ServerMessage::Denied { message });
                self.outputs.push_back(Output::Close {
                    who: participant,
                    reason: CloseReason::Denied,
                });
                self.members.remove(&participant);
                self.changed();
            }),
            ClientMessage::CreateCaucus { name } => self.create_caucus(&name),
            ClientMessage::RenameCaucus { room, name } => self.rename_caucus(room, &name),
            ClientMessage::CloseCaucus { room } => self.close_caucus(room),
            ClientMessage::Move { participant, room } => self
                .move_to(participant, room)
                .map(|()| self.audit(from, "live.move", participant)),
            ClientMessage::RecallAll => {
                let admitted: Vec<ParticipantId> = self
                    .members
                    .iter()
                    .filter(|(_, m)| m.room != RoomId::Lobby)
                    .map(|(id, _)| *id)
                    .collect();
                for id in admitted {
                    self.audit(from, "live.recall_all", id);
                    self.update(id, |m| {
                        m.room = RoomId::Main;
                        m.sharing = false;
                    });
                }
                self.timers.retain(|room, _| *room == RoomId::Main);
                Ok(())
            }
            ClientMessage::Broadcast { text } => {
                let everyone: Vec<ParticipantId> = self
                    .members
                    .iter()
                    .filter(|(_, m)| m.room != RoomId::Lobby && m.connected)
                    .map(|(id, _)| *id)
                    .collect();
                for to in everyone {
                    self.send(to, ServerMessage::Broadcast { text: text.clone() });
                }
                Ok(())
            }
            ClientMessage::SetTimer { room, seconds } => self.room_exists(room).map(|()| {
                let ends = now + Duration::from_secs(u64::from(seconds));
                // A timer shorter than the warning period gets no warning.
                let warned = seconds <= TIMER_WARNING.as_secs() as u32;
                self.timers.insert(room, Timer { ends, warned });
                self.changed();
            }),
            ClientMessage::ClearTimer { room } => {
                if self.timers.remove(&room).is_some() {
                    self.changed();
                }
                Ok(())
            }
            ClientMessage::Mute { participant } => self.exists(participant).map(|()| {
                self.audit(from, "live.mute", participant);
                self.update(participant, |m| m.muted = true);
                self.send(participant, ServerMessage::MutedByMediator);
            }),
            ClientMessage::AskUnmute { participant } => self.exists(participant).map(|()| {
                self.send(participant, ServerMessage::UnmuteRequested);
            }),
            ClientMessage::Remove { participant } => {
                if participant == from {
                    Err(error(
                        "CONFLICT",
                        "you cannot remove yourself; leave instead",
                    ))
                } else {
                    self.exists(participant).map(|()| {
                        self.audit(from, "live.remove", participant);
                        self.send(participant, ServerMessage::Removed);
                        self.outputs.push_back(Output::Close {
                            who: participant,
                            reason: CloseReason::Removed,
                        });
                        self.members.remove(&participant);
                        self.removed.insert(participant);
                        self.changed();
                    })
                }
            }
            ClientMessage::Lock { locked } => {
                self.audit(from, if locked { "live.lock" } else { "live.unlock" }, from);
                self.locked = locked;
                self.changed();
                Ok(())
            }
        };
        if let Err(message) = result {
            self.send(from, message);
        }
    }

    /// Fires timer warnings and expiries due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let rooms: Vec<RoomId> = self.timers.keys().copied().collect();
        for room in rooms {
            let Some(timer) = self.timers.get(&room).copied() else {
                continue;
            };
            if now >= timer.ends {
                self.timers.remove(&room);
                self.notify_room(room, ServerMessage::TimerExpired { room });
                self.changed();
            } else if !timer.warned && now + TIMER_WARNING >= timer.ends {
                if let Some(t) = self.timers.get_mut(&room) {
                    t.warned = true;
                }
                self.notify_room(room, ServerMessage::TimerWarning { room });
            }
        }
    }

    fn notify_room(&mut self, room: RoomId, message: ServerMessage) {
        let mut to: BTreeSet<ParticipantId> = self.in_room(room).into_iter().collect();
        to.extend(self.mediators());
        for who in to {
            self.send(who, message.clone());
        }
    }

    fn set_sharing(
        &mut self,
        from: ParticipantId,
        sender: &Member,
        sharing: bool,
    ) -> Result<(), ServerMessage> {
        if !sharing {
            self.update(from, |m| m.sharing = false);
            return Ok(());
        }
        self.admitted(sender)?;
        if sender.role == SessionRole::Observer {
            return Err(error("FORBIDDEN", "observers cannot share their screen"));
        }
        let taken = self
            .members
            .iter()
            .any(|(id, m)| *id != from && m.room == sender.room && m.sharing);
        if taken {
            return Err(error("CONFLICT", "someone in this room is already sharing"));
        }
        self.update(from, |m| m.sharing = true);
        Ok(())
    }

    /// Sends each wrapped key to its recipient while they are connected and
    /// in the sender's room; nobody else ever sees it. A recipient who left
    /// meanwhile is skipped: the sender rotates again on its next view.
    /// An E2EE identity announced by `from`: taken only with the device key
    /// their connection is bound to ([`LiveSession::bind_device`]).
    fn announce(
        &mut self,
        from: ParticipantId,
        sender: &Member,
        identity: E2eeIdentity,
    ) -> Result<(), ServerMessage> {
        if let Some(bound) = &sender.device {
            let announced = B64.decode(identity.device_key.as_bytes()).ok();
            if announced.as_deref() != Some(bound.as_slice()) {
                return Err(error(
                    "FORBIDDEN",
                    "the identity's device key is not the device this connection joined with",
                ));
            }
        }
        if let Some(member) = self.members.get_mut(&from) {
            if member.e2ee.as_ref() != Some(&identity) {
                member.e2ee = Some(identity);
                // Views only: who hears whom is unchanged.
                self.views_due = true;
            }
        }
        Ok(())
    }

    fn relay_keys(
        &mut self,
        from: ParticipantId,
        sender: &Member,
        room: RoomId,
        generation: u32,
        keys: Vec<WrappedKey>,
    ) -> Result<(), ServerMessage> {
        self.admitted(sender)?;
        if room != sender.room {
            return Err(error(
                "CONFLICT",
                "you are no longer in that room; keys go to your current room",
            ));
        }
        for key in keys {
            let in_room = key.to != from
                && self
                    .members
                    .get(&key.to)
                    .is_some_and(|m| m.connected && m.room == room);
            if in_room {
                self.send(
                    key.to,
                    ServerMessage::E2eeKey {
                        from,
                        room,
                        generation,
                        wrapped: key.wrapped,
                        signature: key.signature,
                    },
                );
            }
        }
        Ok(())
    }

    fn relay_ack(
        &mut self,
        from: ParticipantId,
        sender: &Member,
        to: ParticipantId,
        room: RoomId,
        generation: u32,
    ) -> Result<(), ServerMessage> {
        self.admitted(sender)?;
        // Like keys: only between two people connected in the same room, and
        // an ack for a room the sender has left is dropped without a word.
        let same_room = room == sender.room
            && to != from
            && self
                .members
                .get(&to)
                .is_some_and(|m| m.connected && m.room == room);
        if same_room {
            self.send(to, ServerMessage::E2eeKeyAck { from, generation });
        }
        Ok(())
    }

    fn move_to(&mut self, who: ParticipantId, room: RoomId) -> Result<(), ServerMessage> {
        self.exists(who)?;
        self.room_exists(room)?;
        self.update(who, |m| {
            if m.room != room {
                // One sharer per room: a share does not follow its sharer.
                m.sharing = false;
                m.hand_raised = false;
            }
            m.room = room;
        });
        Ok(())
    }

    /// Names are how the mediator tells rooms apart: two rooms of one name
    /// invite a move into the wrong one. `except` is a caucus being renamed.
    fn name_free(&self, name: &str, except: Option<Uuid>) -> Result<(), ServerMessage> {
        let taken = self
            .caucuses
            .iter()
            .any(|(id, n)| Some(*id) != except && n.to_lowercase() == name.to_lowercase());
        if taken {
            return Err(error(
                "CONFLICT",
                "there is already a caucus of that name in this session; choose another name",
            ));
        }
        Ok(())
    }

    fn create_caucus(&mut self, name: &str) -> Result<(), ServerMessage> {
        let name = name.trim().to_owned();
        self.name_free(&name, None)?;
        self.caucuses_made += 1;
        let id = Uuid::from_u64_pair(self.seed, self.caucuses_made);
        self.caucuses.insert(id, name);
        self.changed();
        Ok(())
    }

    fn rename_caucus(&mut self, room: RoomId, name: &str) -> Result<(), ServerMessage> {
        let RoomId::Caucus(id) = room else {
            return Err(error("CONFLICT", "only caucus rooms can be renamed"));
        };
        self.room_exists(room)?;
        let name = name.trim().to_owned();
        self.name_free(&name, Some(id))?;
        self.caucuses.insert(id, name);
        // Views only: nobody's media changes.
        self.views_due = true;
        Ok(())
    }

    fn close_caucus(&mut self, room: RoomId) -> Result<(), ServerMessage> {
        let RoomId::Caucus(id) = room else {
            return Err(error("CONFLICT", "only caucus rooms can be closed"));
        };
        self.room_exists(room)?;
        if self.members.values().any(|m| m.room == room) {
            return Err(error("CONFLICT", "move everyone out of the caucus first"));
        }
        self.caucuses.remove(&id);
        self.timers.remove(&room);
        self.changed();
        Ok(())
    }

    fn exists(&self, who: ParticipantId) -> Result<(), ServerMessage> {
        if self.members.contains_key(&who) {
            Ok(())
        } else {
            Err(error("NOT_FOUND", "that participant is not in the session"))
        }
    }

    fn in_lobby(&self, who: ParticipantId) -> Result<(), ServerMessage> {
        match self.members.get(&who) {
            Some(m) if m.room == RoomId::Lobby => Ok(()),
            Some(_) => Err(error("CONFLICT", "that participant is not in the lobby")),
            None => Err(error("NOT_FOUND", "that participant is not in the session")),
        }
    }

    fn admitted(&self, member: &Member) -> Result<(), ServerMessage> {
        if member.room == RoomId::Lobby {
            Err(error("FORBIDDEN", "wait for the mediator to admit you"))
        } else {
            Ok(())
        }
    }

    fn room_exists(&self, room: RoomId) -> Result<(), ServerMessage> {
        match room {
            RoomId::Lobby | RoomId::Main => Ok(()),
            RoomId::Caucus(id) if self.caucuses.contains_key(&id) => Ok(()),
            RoomId::Caucus(_) => Err(error("NOT_FOUND", "no such caucus room")),
        }
    }

    fn update(&mut self, who: ParticipantId, f: impl FnOnce(&mut Member)) {
        if let Some(member) = self.members.get_mut(&who) {
            f(member);
            self.changed();
        }
    }

    fn audit(&mut self, actor: ParticipantId, action: &'static str, subject: ParticipantId) {
        self.outputs.push_back(Output::Audit {
            actor,
            action,
            subject,
        });
    }

    fn mediators(&self) -> Vec<ParticipantId> {
        self.members
            .iter()
            .filter(|(_, m)| m.role == SessionRole::Mediator && m.connected)
            .map(|(id, _)| *id)
            .collect()
    }

    fn in_room(&self, room: RoomId) -> Vec<ParticipantId> {
        if room == RoomId::Lobby {
            return Vec::new();
        }
        self.members
            .iter()
            .filter(|(_, m)| m.room == room && m.connected)
            .map(|(id, _)| *id)
            .collect()
    }

    fn send(&mut self, to: ParticipantId, message: ServerMessage) {
        self.outputs.push_back(Output::Send { to, message });
    }

    /// Rooms, mutes or membership changed: routes and views are due.
    fn changed(&mut self) {
        self.routes_due = true;
        self.views_due = true;
    }

    fn view_for(&self, who: ParticipantId, now: Instant) -> ServerMessage {
        let Some(me) = self.members.get(&who) else {
            return error("NOT_FOUND", "you are not in the session");
        };
        let sees_all = me.role == SessionRole::Mediator;
        let room_view = |id: RoomId| RoomView {
            id,
            name: match id {
                RoomId::Lobby => "Lobby".to_owned(),
                RoomId::Main => "Main room".to_owned(),
                RoomId::Caucus(c) => self.caucuses.get(&c).cloned().unwrap_or_default(),
            },
            // As of this view; the page counts down from it.
            timer_remaining_ms: self.timers.get(&id).map(|t| {
                u64::try_from(t.ends.saturating_duration_since(now).as_millis()).unwrap_or(u64::MAX)
            }),
        };
        let rooms: Vec<RoomView> = if sees_all {
            [RoomId::Lobby, RoomId::Main]
                .into_iter()
                .chain(self.caucuses.keys().map(|c| RoomId::Caucus(*c)))
                .map(room_view)
                .collect()
        } else {
            vec![room_view(me.room)]
        };
        let participants = self
            .members
            .iter()
            .filter(|(id, m)| {
                sees_all || **id == who || (me.room != RoomId::Lobby && m.room == me.room)
            })
            .map(|(id, m)| ParticipantView {
                id: *id,
                role: m.role,
                room: m.room,
                muted: m.muted,
                hand_raised: m.hand_raised,
                sharing: m.sharing,
                connected: m.connected,
                e2ee: m.e2ee.clone(),
            })
            .collect();
        ServerMessage::State {
            you: who,
            locked: self.locked,
            hop_by_hop: self.hop_by_hop,
            rooms,
            participants,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(s: &mut LiveSession, now: Instant) -> Vec<Output> {
        std::iter::from_fn(|| s.poll_output(now)).collect()
    }

    fn announce(s: &mut LiveSession, now: Instant, who: ParticipantId, device: &[u8]) {
        s.handle(
            now,
            who,
            ClientMessage::E2eeIdentity {
                device_key: B64.encode(device),
                ecdh_key: "ZWNkaA".into(),
                signature: "c2ln".into(),
            },
        );
    }

    /// Whether any view sent shows `who` with an identity.
    fn shown_with_identity(out: &[Output], who: ParticipantId) -> bool {
        out.iter().any(|o| match o {
            Output::Send {
                message: ServerMessage::State { participants, .. },
                ..
            } => participants.iter().any(|p| p.id == who && p.e2ee.is_some()),
            _ => false,
        })
    }

    #[test]
    fn one_participant_in_clear_turns_the_session_hop_by_hop_for_everyone() {
        let now = Instant::now();
        let (mediator, party) = (ParticipantId::from_u128(1), ParticipantId::from_u128(2));
        let mut s = LiveSession::new(1);
        s.join(mediator, SessionRole::Mediator, &["*".to_owned()])
            .unwrap();
        let device = [[0x04].as_slice(), &[7; 64]].concat();
        s.bind_device(mediator, &device);
        announce(&mut s, now, mediator, &device);
        assert!(s.seals(mediator));
        let hop = |out: &[Output], to: ParticipantId| {
            out.iter().any(|o| matches!(o, Output::Send { to: t, message: ServerMessage::State { hop_by_hop: true, .. } } if *t == to))
        };
        assert!(!hop(&drain(&mut s, now), mediator));
        // Someone not in the session changes nothing.
        assert!(!s.mark_hop_by_hop(party));
        s.join(party, SessionRole::Party, &["main".to_owned()])
            .unwrap();
        assert!(s.mark_hop_by_hop(party));
        assert!(
            s.hop_by_hop() && !s.seals(mediator),
            "nobody's frames are read as sealed"
        );
        let out = drain(&mut s, now);
        assert!(hop(&out, mediator) && hop(&out, party), "{out:?}");
        // It stays for the rest of the live session, even once they are gone.
        assert!(!s.mark_hop_by_hop(party));
        s.disconnected(party);
        s.forget(party);
        assert!(s.hop_by_hop());
    }

    #[test]
    fn a_session_is_held_while_its_mediator_is_with_someone_admitted() {
        let now = Instant::now();
        let (mediator, party, observer) = (
            ParticipantId::from_u128(1),
            ParticipantId::from_u128(2),
            ParticipantId::from_u128(3),
        );
        let mut s = LiveSession::new(1);
        s.join(party, SessionRole::Party, &["lobby".to_owned()])
            .unwrap();
        assert!(!s.in_session(), "a party alone in the lobby");
        s.join(mediator, SessionRole::Mediator, &["*".to_owned()])
            .unwrap();
        assert!(!s.in_session(), "the mediator with the lobby only");
        s.handle(now, mediator, ClientMessage::Admit { participant: party });
        assert!(s.in_session());
        s.disconnected(party);
        assert!(!s.in_session(), "the party dropped");
        s.join(observer, SessionRole::Observer, &["main".to_owned()])
            .unwrap();
        assert!(s.in_session(), "an observer admitted counts");
        s.disconnected(mediator);
        assert!(!s.in_session(), "without the mediator");
        drain(&mut s, now);
    }

    #[test]
    fn an_identity_must_name_the_device_the_connection_joined_with() {
        let now = Instant::now();
        let (mediator, party) = (ParticipantId::from_u128(1), ParticipantId::from_u128(2));
        let mut s = LiveSession::new(1);
        s.join(mediator, SessionRole::Mediator, &["*".to_owned()])
            .unwrap();
        s.join(party, SessionRole::Party, &["main".to_owned()])
            .unwrap();
        let device = [[0x04].as_slice(), &[7; 64]].concat();
        s.bind_device(party, &device);
        drain(&mut s, now);

        // Another device's key: refused, never shown to others, frames not
        // read as sealed.
        let mut other = device.clone();
        other[64] ^= 1;
        announce(&mut s, now, party, &other);
        let out = drain(&mut s, now);
        assert!(
            out.iter().any(|o| matches!(o, Output::Send {
                to,
                message: ServerMessage::Error { code, .. },
            } if *to == party && code == "FORBIDDEN")),
            "{out:?}"
        );
        assert!(!shown_with_identity(&out, party));
        assert!(!s.seals(party));
        // Not base64url at all: refused the same way.
        s.handle(
            now,
            party,
            ClientMessage::E2eeIdentity {
                device_key: "not base64!".into(),
                ecdh_key: "ZWNkaA".into(),
                signature: "c2ln".into(),
            },
        );
        assert!(!s.seals(party));

        // The bound device: taken and shown.
        announce(&mut s, now, party, &device);
        let out = drain(&mut s, now);
        assert!(shown_with_identity(&out, party), "{out:?}");
        assert!(s.seals(party));

        // A new connection binds again: the old identity and device are gone.
        s.disconnected(party);
        assert!(!s.seals(party));
        s.join(party, SessionRole::Party, &["main".to_owned()])
            .unwrap();
        let next = [[0x04].as_slice(), &[9; 64]].concat();
        s.bind_device(party, &next);
        announce(&mut s, now, party, &device);
        assert!(!s.seals(party));
        announce(&mut s, now, party, &next);
        assert!(s.seals(party));
    }
}

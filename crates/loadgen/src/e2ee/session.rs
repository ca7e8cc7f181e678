//! A bot's key management, as the browsers' (portals/shared/src/live/e2ee/manager.ts):
//! on every change of who is connected in its room it makes a new sender
//! key and wraps it to each of them; it checks and unwraps the keys others
//! send, refuses replayed generations, and forgets a sender's keys the
//! moment they leave its room (or it leaves theirs). Pure state: the bot
//! sends what [`KeySession::on_state`] returns.

use std::collections::HashMap;

use accord_sfu_core::protocol::{
    ClientMessage, ParticipantId, ParticipantView, RoomId, WrappedKey,
};
use p256::ecdsa::SigningKey;
use rand::RngCore as _;

use super::frame::{ReceiveKey, BASE_KEY_BYTES};
use super::keys::{
    make_identity, room_label, unwrap_key, verify_identity, wrap_key, EcdhPair, KeyContext,
    KeyRefusal, VerifiedIdentity,
};

/// Keys of one sender kept at once: the newest and the ones just before.
const KEPT_PER_SENDER: usize = 3;

/// One bot's end-to-end encryption state for one signaling connection.
#[derive(Debug)]
pub struct KeySession {
    session: String,
    device: SigningKey,
    ecdh: EcdhPair,
    identity_sent: bool,
    me: Option<ParticipantId>,
    room: Option<RoomId>,
    peers: HashMap<ParticipantId, VerifiedIdentity>,
    membership: String,
    generation: u32,
    send_key: Option<(u32, [u8; BASE_KEY_BYTES])>,
    receive: HashMap<ParticipantId, HashMap<u64, ReceiveKey>>,
    last_accepted: HashMap<String, u32>,
}

impl KeySession {
    /// A fresh ECDH identity for `session`, vouched for by `device`.
    pub fn new(session: String, device: SigningKey) -> KeySession {
        KeySession {
            session,
            device,
            ecdh: EcdhPair::generate(),
            identity_sent: false,
            me: None,
            room: None,
            peers: HashMap::new(),
            membership: String::new(),
            generation: 0,
            send_key: None,
            receive: HashMap::new(),
            last_accepted: HashMap::new(),
        }
    }

    /// The key id and base key this bot encrypts with now (none in the lobby or before the first state).
    pub fn send_key(&self) -> Option<(u32, [u8; BASE_KEY_BYTES])> {
        self.send_key
    }

    /// The frame keys held for `sender`, by key id.
    pub fn receive_keys(
        &mut self,
        sender: &ParticipantId,
    ) -> Option<&mut HashMap<u64, ReceiveKey>> {
        self.receive.get_mut(sender)
    }

    /// Whose keys this bot holds, with their key ids.
    pub fn held(&self) -> HashMap<ParticipantId, Vec<u64>> {
        self.receive
            .iter()
            .map(|(who, keys)| (*who, keys.keys().copied().collect()))
            .collect()
    }

    /// A `state` arrived: what to send (the identity once, then a new wrapped
    /// key whenever the room's connected members change).
    pub fn on_state(
        &mut self,
        you: ParticipantId,
        participants: &[ParticipantView],
    ) -> Vec<ClientMessage> {
        let mut out = Vec::new();
        self.me = Some(you);
        if !self.identity_sent {
            self.identity_sent = true;
            let identity = make_identity(&self.device, &self.session, &you.to_string(), &self.ecdh);
            out.push(ClientMessage::E2eeIdentity {
                device_key: identity.device_key,
                ecdh_key: identity.ecdh_key,
                signature: identity.signature,
            });
        }
        let room = participants
            .iter()
            .find(|p| p.id == you)
            .map(|p| p.room)
            .filter(|r| *r != RoomId::Lobby);
        self.room = room;
        self.peers = participants
            .iter()
            .filter(|p| {
                p.id != you
                    && p.connected
                    && room.is_some_and(|r| room_label(&p.room) == room_label(&r))
            })
            .filter_map(|p| {
                let identity = p.e2ee.as_ref()?;
                verify_identity(&self.session, &p.id.to_string(), identity).map(|v| (p.id, v))
            })
            .collect();
        // Keys of anyone no longer in this room are forgotten at once.
        let peers = &self.peers;
        self.receive.retain(|who, _| peers.contains_key(who));
        let Some(room) = room else {
            self.membership = "lobby".to_owned();
            self.send_key = None;
            return out;
        };
        let mut members: Vec<String> = self
            .peers
            .iter()
            .map(|(id, v)| format!("{id}:{}", v.identity.ecdh_key))
            .collect();
        members.sort();
        let membership = format!("{}|{}", room_label(&room), members.join(","));
        if membership != self.membership {
            self.membership = membership;
            self.generation += 1;
            let mut base = [0u8; BASE_KEY_BYTES];
            rand::rngs::OsRng.fill_bytes(&mut base);
            let keys: Vec<WrappedKey> = self
                .peers
                .iter()
                .map(|(to, recipient)| {
                    let context = KeyContext {
                        session: self.session.clone(),
                        room,
                        from: you.to_string(),
                        to: to.to_string(),
                        generation: self.generation,
                        sender_ecdh: self.ecdh.public_key().to_owned(),
                        recipient_ecdh: recipient.identity.ecdh_key.clone(),
                    };
                    let w = wrap_key(
                        &self.device,
                        &self.ecdh,
                        &recipient.ecdh_key,
                        &context,
                        &base,
                    );
                    WrappedKey {
                        to: *to,
                        wrapped: w.wrapped,
                        signature: w.signature,
                    }
                })
                .collect();
            // Used at once: whoever left cannot read what follows.
            self.send_key = Some((self.generation, base));
            if !keys.is_empty() {
                out.push(ClientMessage::E2eeKeys {
                    room,
                    generation: self.generation,
                    keys,
                });
            }
        }
        out
    }

    /// An `e2eeKey` arrived: checked and, when good, held for the sender's frames.
    pub fn on_key(
        &mut self,
        from: ParticipantId,
        room: RoomId,
        generation: u32,
        wrapped: &str,
        signature: &str,
    ) -> Result<(), KeyRefusal> {
        let (Some(me), Some(mine)) = (self.me, self.room) else {
            return Err(KeyRefusal::NotForThisRoom);
        };
        if room_label(&room) != room_label(&mine) {
            return Err(KeyRefusal::NotForThisRoom);
        }
        let sender = self.peers.get(&from).ok_or(KeyRefusal::UnknownSender)?;
        let slot = format!("{from}|{}", sender.identity.ecdh_key);
        if generation <= self.last_accepted.get(&slot).copied().unwrap_or(0) {
            return Err(KeyRefusal::Replayed);
        }
        let context = KeyContext {
            session: self.session.clone(),
            room,
            from: from.to_string(),
            to: me.to_string(),
            generation,
            sender_ecdh: sender.identity.ecdh_key.clone(),
            recipient_ecdh: self.ecdh.public_key().to_owned(),
        };
        let base = unwrap_key(&self.ecdh, sender, &context, wrapped, signature)?;
        self.last_accepted.insert(slot, generation);
        let keys = self.receive.entry(from).or_default();
        keys.insert(
            u64::from(generation),
            ReceiveKey::new(&base, u64::from(generation)),
        );
        let mut kids: Vec<u64> = keys.keys().copied().collect();
        kids.sort_unstable_by(|a, b| b.cmp(a));
        for old in kids.into_iter().skip(KEPT_PER_SENDER) {
            keys.remove(&old);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e2ee::frame::{decrypt_frame, FrameError, FrameKey, FrameKind};
    use accord_sfu_core::protocol::{E2eeIdentity, SessionRole};
    use uuid::Uuid;

    struct Bot {
        id: ParticipantId,
        keys: KeySession,
        identity: Option<E2eeIdentity>,
    }

    fn bots(n: usize) -> Vec<Bot> {
        (0..n)
            .map(|_| Bot {
                id: Uuid::new_v4(),
                keys: KeySession::new(
                    "5b1f9c7e-0000-4000-8000-000000000001".to_owned(),
                    SigningKey::random(&mut rand::rngs::OsRng),
                ),
                identity: None,
            })
            .collect()
    }

    /// Everyone gets the state of `rooms`; identities and keys are relayed as the SFU does (to the recipient, if in the sender's room).
    fn step(bots: &mut [Bot], rooms: &[RoomId]) {
        for _ in 0..2 {
            let view: Vec<ParticipantView> = bots
                .iter()
                .zip(rooms)
                .map(|(b, room)| ParticipantView {
                    id: b.id,
                    role: SessionRole::Party,
                    room: *room,
                    muted: false,
                    hand_raised: false,
                    sharing: false,
                    connected: true,
                    e2ee: b.identity.clone(),
                })
                .collect();
            let mut relayed = Vec::new();
            for (i, b) in bots.iter_mut().enumerate() {
                for m in b.keys.on_state(b.id, &view) {
                    match m {
                        ClientMessage::E2eeIdentity {
                            device_key,
                            ecdh_key,
                            signature,
                        } => {
                            b.identity = Some(E2eeIdentity {
                                device_key,
                                ecdh_key,
                                signature,
                            });
                        }
                        ClientMessage::E2eeKeys {
                            room,
                            generation,
                            keys,
                        } => {
                            for k in keys {
                                relayed.push((i, k, room, generation));
                            }
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                }
            }
            for (from, k, room, generation) in relayed {
                let sender = bots[from].id;
                if let Some(to) = bots
                    .iter_mut()
                    .zip(rooms)
                    .find(|(b, r)| b.id == k.to && **r == room)
                {
                    assert_eq!(
                        to.0.keys
                            .on_key(sender, room, generation, &k.wrapped, &k.signature),
                        Ok(())
                    );
                }
            }
        }
    }

    fn reads(bots: &mut [Bot], from: usize, to: usize) -> Result<(), FrameError> {
        let (generation, base) = bots[from].keys.send_key().ok_or(FrameError::UnknownKey)?;
        let frame = FrameKey::derive(&base, u64::from(generation)).encrypt_frame(
            1,
            FrameKind::Audio,
            b"ACRD-audio",
        )?;
        let sender = bots[from].id;
        let keys = bots[to]
            .keys
            .receive_keys(&sender)
            .ok_or(FrameError::UnknownKey)?;
        let opened = decrypt_frame(keys, FrameKind::Audio, &frame)?;
        assert_eq!(opened.plain, b"ACRD-audio");
        Ok(())
    }

    #[test]
    fn rotates_on_every_move_and_the_moved_party_keeps_no_key_in_use() {
        let mut b = bots(3);
        let caucus = RoomId::Caucus(Uuid::new_v4());
        step(&mut b, &[RoomId::Main; 3]);
        for (from, to) in [(0, 1), (1, 2), (2, 0)] {
            assert_eq!(reads(&mut b, from, to), Ok(()), "{from} to {to} in main");
        }
        // The third moves to a caucus: the others rotate, it holds none of their keys.
        step(&mut b, &[RoomId::Main, RoomId::Main, caucus]);
        let moved = b[2].id;
        assert!(
            b[2].keys.held().is_empty(),
            "the moved party holds {:?}",
            b[2].keys.held()
        );
        assert_eq!(reads(&mut b, 0, 2), Err(FrameError::UnknownKey));
        assert_eq!(reads(&mut b, 0, 1), Ok(()));
        assert!(!b[0].keys.held().contains_key(&moved));
        // The first joins the caucus: a new key there, the second cannot read it.
        step(&mut b, &[caucus, RoomId::Main, caucus]);
        assert_eq!(reads(&mut b, 0, 2), Ok(()));
        assert_eq!(reads(&mut b, 2, 0), Ok(()));
        assert_eq!(reads(&mut b, 0, 1), Err(FrameError::UnknownKey));
        assert!(b[1].keys.held().is_empty());
    }

    #[test]
    fn refuses_replays_strangers_and_other_rooms() {
        let mut b = bots(2);
        step(&mut b, &[RoomId::Main; 2]);
        let ids: Vec<ParticipantId> = b.iter().map(|x| x.id).collect();
        let view: Vec<ParticipantView> = b
            .iter()
            .map(|x| ParticipantView {
                id: x.id,
                role: SessionRole::Party,
                room: RoomId::Main,
                muted: false,
                hand_raised: false,
                sharing: false,
                connected: true,
                e2ee: x.identity.clone(),
            })
            .collect();
        // Force a rotation by a reconnect of the first (membership unknown again).
        b[0].keys.membership.clear();
        let sent = b[0].keys.on_state(ids[0], &view);
        let Some(ClientMessage::E2eeKeys {
            room,
            generation,
            keys,
        }) = sent.into_iter().next()
        else {
            panic!("a new key");
        };
        let k = &keys[0];
        assert_eq!(
            b[1].keys
                .on_key(ids[0], room, generation, &k.wrapped, &k.signature),
            Ok(())
        );
        assert_eq!(
            b[1].keys
                .on_key(ids[0], room, generation, &k.wrapped, &k.signature),
            Err(KeyRefusal::Replayed)
        );
        assert_eq!(
            b[1].keys.on_key(
                ids[0],
                RoomId::Caucus(Uuid::new_v4()),
                generation + 1,
                &k.wrapped,
                &k.signature
            ),
            Err(KeyRefusal::NotForThisRoom)
        );
        assert_eq!(
            b[1].keys.on_key(
                Uuid::new_v4(),
                room,
                generation + 1,
                &k.wrapped,
                &k.signature
            ),
            Err(KeyRefusal::UnknownSender)
        );
        assert_eq!(
            b[1].keys
                .on_key(ids[0], room, generation + 1, &k.wrapped, &k.signature),
            Err(KeyRefusal::BadSignature)
        );
    }
}

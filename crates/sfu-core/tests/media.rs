//! The media path on a simulated clock and network: str0m clients (RTP mode,
//! full ICE, offering like a browser) talk through the sans-IO [`Media`] core
//! driven by a [`LiveSession`]. Every payload is tagged with its sender and
//! send time, so what each client receives can be checked packet by packet.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use accord_sfu_core::media::{Media, MediaConfig, MediaError, MediaOutput};
use accord_sfu_core::metrics::Metrics;
use accord_sfu_core::protocol::{ClientMessage, MediaSource, RoomId, ServerMessage, SessionRole};
use accord_sfu_core::session::{LiveSession, Output};
use accord_sfu_core::simulcast::UPGRADE_HOLD;
use rand::{Rng, SeedableRng};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{
    Direction, KeyframeRequestKind, MediaKind, Mid, Rid, Simulcast, SimulcastLayer,
};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output as RtcOutput, Rtc};
use uuid::Uuid;

const SEED: u64 = 7;
const TICK: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy)]
struct Received {
    at: Instant,
    from: u8,
    source: u8,
    sent: Instant,
    /// The simulcast layer it was sent on (0 without simulcast).
    layer: u8,
    /// It starts a VP8 key frame.
    key: bool,
    /// Its (extended) sequence number and VP8 picture id as received.
    seq: u64,
    picture: Option<u16>,
}

/// Simulcast layers the test publisher sends: rid, payload bytes per 20 ms
/// frame (120, 240 and 440 kbit/s), and key-frame size.
const LAYERS: [(&str, usize, u16, u16); 3] = [
    ("q", 300, 320, 180),
    ("h", 600, 640, 360),
    ("f", 1100, 1280, 720),
];

struct Client {
    id: Uuid,
    index: u8,
    addr: SocketAddr,
    rtc: Rtc,
    published: Vec<(Mid, MediaSource)>,
    pending: Option<SdpPendingOffer>,
    received: Vec<Received>,
    timeout: Instant,
    seq: u64,
    next_send: Instant,
    /// Track map from the last `tracks` message.
    tracks: Vec<(String, Uuid, MediaSource)>,
    offers: usize,
    /// The last active speaker announced to this client.
    speaker: Option<Option<Uuid>>,
    /// The audio level this client's microphone reports (dBov).
    level: i8,
    /// Whether it sends on its screen m-line.
    sharing: bool,
    /// It sends its camera as the three [`LAYERS`], each with a
    /// Chromium-style VP8 descriptor (15-bit picture id, TL0PICIDX).
    simulcast: bool,
    /// Per layer: when it sends a key frame next (like an encoder, a while
    /// after being asked).
    want_key: [Option<Instant>; 3],
    /// Keyframe requests that reached it: when, and for which rid.
    keyframe_requests: Vec<(Instant, Option<Rid>)>,
    /// Without simulcast: when each m-line sends a key frame next.
    want_key_plain: HashMap<Mid, Instant>,
    /// Answer the next server offer first with an answer that lacks its
    /// last m-section (then correctly), and the refusals so received.
    garble_next_answer: bool,
    refusals: Vec<MediaError>,
}

struct Packet {
    proto: Protocol,
    to: SocketAddr,
    from: SocketAddr,
    data: Vec<u8>,
}

struct World {
    start: Instant,
    now: Instant,
    server: SocketAddr,
    server_tcp: SocketAddr,
    media: Media,
    metrics: Arc<Metrics>,
    live: LiveSession,
    clients: Vec<Client>,
    net: BTreeMap<(Instant, u64), Packet>,
    sent: u64,
    delay: Duration,
    loss: f64,
    rng: rand::rngs::StdRng,
    /// The last link-quality report for mediators.
    quality: Vec<accord_sfu_core::protocol::QualityView>,
    /// Media datagrams the SFU sent to someone while handling another
    /// client's datagram, before any timeout of its own.
    forwarded_at_once: usize,
    /// Bottlenecks towards some addresses: bits per second, and when the
    /// link is free again (packets queue up to [`MAX_QUEUE`], then drop).
    caps: HashMap<SocketAddr, (u64, Instant)>,
    /// Read the server's datagrams as the session task does, in batches:
    /// all that arrived, handed over together at every multiple of this
    /// interval. None: each one as it arrives.
    batch: Option<Duration>,
    /// When the last packet sent on each path (from, to) arrives.
    last_arrival: HashMap<(SocketAddr, SocketAddr), Instant>,
}

/// How long the simulcast publisher takes to answer a keyframe request.
const KEY_DELAY: Duration = Duration::from_millis(100);

/// The longest a capped link queues a packet.
const MAX_QUEUE: Duration = Duration::from_millis(200);

fn tag(index: u8, source: u8, sent_us: u64, key: bool) -> Vec<u8> {
    let mut p = Vec::with_capacity(200);
    if source != 0 {
        p.push(0x10); // VP8 payload descriptor, start of partition
        if key {
            // Key-frame tag and header: 640 x 360.
            p.extend_from_slice(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]);
        }
    }
    p.extend_from_slice(b"ACRD");
    p.push(index);
    p.push(source);
    p.extend_from_slice(&sent_us.to_le_bytes());
    p.resize(if source == 0 { 120 } else { 900 }, 0xab);
    p
}

/// A simulcast camera frame on `layer`: a Chromium-style VP8 descriptor
/// (X, S; I, L, T: 15-bit picture id, TL0PICIDX, TID 0), on key frames the
/// key-frame header with the layer's size, then the tag and the layer.
fn simulcast_tag(index: u8, layer: usize, sent_us: u64, frame: u64, key: bool) -> Vec<u8> {
    let (_, size, width, height) = LAYERS[layer];
    // Each layer numbers its pictures its own way.
    let picture = (layer as u64 * 10_000 + frame) as u16 & 0x7fff;
    let tl0 = (layer as u64 * 77 + frame) as u8;
    let mut p = vec![
        0x90,
        0xe0,
        0x80 | (picture >> 8) as u8,
        picture as u8,
        tl0,
        0x00,
    ];
    if key {
        p.extend_from_slice(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a]);
        p.extend_from_slice(&width.to_le_bytes());
        p.extend_from_slice(&height.to_le_bytes());
    }
    p.extend_from_slice(b"ACRD");
    p.push(index);
    p.push(1);
    p.extend_from_slice(&sent_us.to_le_bytes());
    p.push(layer as u8);
    p.resize(size, 0xab);
    p
}

/// Sender, source, send time, layer, key frame and picture id of a tagged payload.
fn untag(payload: &[u8]) -> Option<(u8, u8, u64, u8, bool, Option<u16>)> {
    let (p, key, picture) = if payload.starts_with(b"ACRD") {
        (payload, false, None)
    } else {
        let d = accord_sfu_core::vp8::Descriptor::parse(payload)?;
        let key = d.is_keyframe(payload);
        let skip = if d.keyframe_size(payload).is_some() {
            10
        } else {
            0
        };
        (
            payload.get(d.len + skip..)?,
            key,
            d.picture_id.map(|(id, _)| id),
        )
    };
    if p.len() < 15 || &p[..4] != b"ACRD" {
        return None;
    }
    let sent = u64::from_le_bytes(p[6..14].try_into().ok()?);
    let layer = if p[14] < 3 { p[14] } else { 0 };
    Some((p[4], p[5], sent, layer, key, picture))
}

impl World {
    fn new(delay: Duration, loss: f64) -> Self {
        let start = Instant::now();
        let server: SocketAddr = "10.0.0.1:3479".parse().unwrap();
        let server_tcp: SocketAddr = "10.0.0.1:3480".parse().unwrap();
        let config = Arc::new(MediaConfig {
            udp_candidates: vec![server],
            tcp_candidates: vec![server_tcp],
            turn: None,
            bandwidth_estimation: true,
        });
        let metrics = Arc::new(Metrics::default());
        World {
            start,
            now: start,
            server,
            server_tcp,
            media: Media::new(config, metrics.clone()),
            metrics,
            live: LiveSession::new(SEED),
            clients: Vec::new(),
            net: BTreeMap::new(),
            sent: 0,
            forwarded_at_once: 0,
            delay,
            loss,
            rng: rand::rngs::StdRng::seed_from_u64(SEED),
            quality: Vec::new(),
            caps: HashMap::new(),
            batch: None,
            last_arrival: HashMap::new(),
        }
    }

    fn caucus(n: u64) -> RoomId {
        RoomId::Caucus(Uuid::from_u64_pair(SEED, n))
    }

    /// A client joins the session (mediator if `index == 0`) and offers media.
    fn join(&mut self, index: u8) -> Uuid {
        self.join_over(index, Protocol::Udp)
    }

    /// [`World::join`] with only a UDP or only an (active) ICE-TCP candidate.
    fn join_over(&mut self, index: u8, proto: Protocol) -> Uuid {
        self.join_with(index, proto, false)
    }

    /// [`World::join`] sending the camera as three simulcast layers.
    fn join_simulcast(&mut self, index: u8) -> Uuid {
        self.join_with(index, Protocol::Udp, true)
    }

    fn join_with(&mut self, index: u8, proto: Protocol, simulcast: bool) -> Uuid {
        let id = Uuid::from_u64_pair(1, u64::from(index));
        let role = if index == 0 {
            SessionRole::Mediator
        } else {
            SessionRole::Party
        };
        self.live.join(id, role, &["main".to_owned()]).unwrap();
        let addr: SocketAddr = format!("10.0.1.{}:5000", index + 1).parse().unwrap();
        let mut rtc = Rtc::builder().set_rtp_mode(true).build(self.now);
        let candidate = match proto {
            Protocol::Tcp => Candidate::builder()
                .tcp()
                .host(addr)
                .tcptype(str0m::net::TcpType::Active)
                .build()
                .unwrap(),
            _ => Candidate::host(addr, "udp").unwrap(),
        };
        rtc.add_local_candidate(candidate);
        let mut api = rtc.sdp_api();
        let mic = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let layers = simulcast.then(|| {
            let mut s = Simulcast::new();
            for (rid, ..) in LAYERS {
                s.add_send_layer(SimulcastLayer::new(rid));
            }
            s
        });
        let cam = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, layers);
        let screen = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        self.clients.push(Client {
            id,
            index,
            addr,
            rtc,
            published: vec![
                (mic, MediaSource::Microphone),
                (cam, MediaSource::Camera),
                (screen, MediaSource::Screen),
            ],
            pending: Some(pending),
            received: Vec::new(),
            timeout: self.now,
            seq: 1,
            next_send: self.now,
            tracks: Vec::new(),
            offers: 0,
            speaker: None,
            level: -127,
            sharing: false,
            simulcast,
            want_key: [Some(self.now); 3],
            keyframe_requests: Vec::new(),
            want_key_plain: HashMap::new(),
            garble_next_answer: false,
            refusals: Vec::new(),
        });
        self.media
            .offer(self.now, id, &offer.to_sdp_string())
            .unwrap();
        self.settle();
        id
    }

    fn command(&mut self, from: Uuid, message: ClientMessage) {
        self.live.handle(self.now, from, message);
        self.settle();
    }

    fn client(&mut self, id: Uuid) -> &mut Client {
        self.clients.iter_mut().find(|c| c.id == id).unwrap()
    }

    fn push(&mut self, proto: Protocol, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        if self.rng.gen_bool(self.loss) {
            return;
        }
        let mut leaves = self.now;
        if let Some((bps, free)) = self.caps.get_mut(&to) {
            let start = (*free).max(self.now);
            if start - self.now > MAX_QUEUE {
                return;
            }
            *free = start + Duration::from_secs_f64((data.len() + 28) as f64 * 8.0 / *bps as f64);
            leaves = *free;
        }
        self.sent += 1;
        let jitter = Duration::from_micros(self.rng.gen_range(0..500));
        // Jitter, but no reordering on a path (as on most real paths).
        let last = self.last_arrival.entry((from, to)).or_insert(self.start);
        let arrives = (leaves + self.delay + jitter).max(*last);
        *last = arrives;
        self.net.insert(
            (arrives, self.sent),
            Packet {
                proto,
                to,
                from,
                data,
            },
        );
    }

    /// Takes the SFU's outputs: datagrams onto the network, messages to
    /// their clients. What came out, for each output: a datagram's
    /// destination and length, if it was one.
    fn drain_media(&mut self) -> Vec<Option<(SocketAddr, usize)>> {
        let mut outs = Vec::new();
        while let Some(out) = self.media.poll_output() {
            match out {
                MediaOutput::Transmit(t) => {
                    let data = t.contents.to_vec();
                    outs.push(Some((t.destination, data.len())));
                    self.push(t.proto, t.source, t.destination, data);
                    continue;
                }
                MediaOutput::Send { to, message } => self.deliver(to, message),
                MediaOutput::Quality(q) => self.quality = q,
                _ => {}
            }
            outs.push(None);
        }
        outs
    }

    /// Drains every output at the current instant.
    fn settle(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(out) = self.live.poll_output(self.now) {
                progressed = true;
                if let Output::RoutesChanged = out {
                    let routes = self.live.routes();
                    self.media.set_routes(self.now, routes);
                }
            }
            progressed |= !self.drain_media().is_empty();
            for i in 0..self.clients.len() {
                loop {
                    let out = self.clients[i].rtc.poll_output().unwrap();
                    match out {
                        RtcOutput::Transmit(t) => {
                            progressed = true;
                            let data = t.contents.to_vec();
                            self.push(t.proto, t.source, t.destination, data);
                        }
                        RtcOutput::Timeout(t) => {
                            self.clients[i].timeout = t;
                            break;
                        }
                        RtcOutput::Event(Event::RtpPacket(p)) => {
                            if let Some((from, source, sent_us, layer, key, picture)) =
                                untag(&p.payload)
                            {
                                let sent = self.start + Duration::from_micros(sent_us);
                                let now = self.now;
                                self.clients[i].received.push(Received {
                                    at: now,
                                    from,
                                    source,
                                    sent,
                                    layer,
                                    key,
                                    seq: *p.seq_no,
                                    picture,
                                });
                            }
                        }
                        RtcOutput::Event(Event::KeyframeRequest(req)) => {
                            let now = self.now;
                            let c = &mut self.clients[i];
                            c.keyframe_requests.push((now, req.rid));
                            if let Some(l) = LAYERS
                                .iter()
                                .position(|(rid, ..)| req.rid == Some(Rid::from(*rid)))
                            {
                                c.want_key[l].get_or_insert(now + KEY_DELAY);
                            } else if req.rid.is_none() {
                                c.want_key_plain.entry(req.mid).or_insert(now + KEY_DELAY);
                            }
                        }
                        RtcOutput::Event(_) => {}
                    }
                }
            }
            if !progressed {
                break;
            }
        }
    }

    fn deliver(&mut self, to: Uuid, message: ServerMessage) {
        let now = self.now;
        match message {
            ServerMessage::Answer { sdp } => {
                let c = self.client(to);
                let pending = c.pending.take().expect("an answer to our offer");
                c.rtc
                    .sdp_api()
                    .accept_answer(pending, SdpAnswer::from_sdp_string(&sdp).unwrap())
                    .unwrap();
                // Driven at once, as a client's loop is after it applies an
                // answer: str0m starts its ICE checks on a timeout, and as
                // the DTLS server (the SFU answers `active`) it asks for
                // none until then.
                c.rtc.handle_input(Input::Timeout(now)).unwrap();
            }
            ServerMessage::Offer { sdp } => {
                let c = self.client(to);
                c.offers += 1;
                let answer = c
                    .rtc
                    .sdp_api()
                    .accept_offer(SdpOffer::from_sdp_string(&sdp).unwrap())
                    .unwrap()
                    .to_sdp_string();
                if std::mem::take(&mut c.garble_next_answer) {
                    let cut = answer.rfind("m=").unwrap();
                    let refused = self.media.answer(now, to, &answer[..cut]).unwrap_err();
                    self.client(to).refusals.push(refused);
                }
                self.media.answer(now, to, &answer).unwrap();
            }
            ServerMessage::Speaker { participant } => self.client(to).speaker = Some(participant),
            ServerMessage::Tracks { tracks } => {
                self.client(to).tracks = tracks
                    .into_iter()
                    .map(|t| (t.mid, t.participant, t.source))
                    .collect();
            }
            _ => {}
        }
    }

    fn publish(&mut self, i: usize) {
        let now = self.now;
        let start = self.start;
        let c = &mut self.clients[i];
        if c.next_send > now {
            return;
        }
        c.next_send = now + TICK;
        if !c.rtc.is_connected() {
            return;
        }
        let sent_us = now.duration_since(start).as_micros() as u64;
        let seq = c.seq;
        c.seq += 1;
        let level = c.level;
        for (mid, source) in c.published.clone() {
            if source == MediaSource::Screen && !c.sharing {
                continue;
            }
            let codec = if source == MediaSource::Microphone {
                Codec::Opus
            } else {
                Codec::Vp8
            };
            let Some(pt) = c
                .rtc
                .codec_config()
                .params()
                .iter()
                .find(|p| p.spec().codec == codec)
                .map(|p| p.pt())
            else {
                continue;
            };
            let src = match source {
                MediaSource::Microphone => 0,
                MediaSource::Camera => 1,
                MediaSource::Screen => 2,
            };
            if source == MediaSource::Camera && c.simulcast {
                for (layer, (rid, ..)) in LAYERS.iter().enumerate() {
                    let key = c.want_key[layer].is_some_and(|t| t <= now);
                    if key {
                        c.want_key[layer] = None;
                    }
                    let payload = simulcast_tag(c.index, layer, sent_us, seq, key);
                    let mut api = c.rtc.direct_api();
                    if let Some(tx) = api.stream_tx_by_mid(mid, Some(Rid::from(*rid))) {
                        tx.write_rtp(
                            RtpWrite::new(
                                pt,
                                SeqNo::from(seq),
                                (sent_us / 1000 * 90) as u32,
                                now,
                                payload,
                            )
                            .marker(true)
                            .nackable(true),
                        );
                    }
                }
                continue;
            }
            let key = src != 0 && c.want_key_plain.get(&mid).is_some_and(|t| *t <= now);
            if key {
                c.want_key_plain.remove(&mid);
            }
            let payload = tag(c.index, src, sent_us, key);
            let mut api = c.rtc.direct_api();
            if let Some(tx) = api.stream_tx_by_mid(mid, None) {
                let rate = if src == 0 { 48 } else { 90 };
                let mut write = RtpWrite::new(
                    pt,
                    SeqNo::from(seq),
                    (sent_us / 1000 * rate) as u32,
                    now,
                    payload,
                )
                .marker(true)
                .nackable(src != 0);
                if src == 0 {
                    write = write.ext_vals(str0m::rtp::ExtensionValues {
                        audio_level: Some(level),
                        voice_activity: Some(level > -50),
                        ..Default::default()
                    });
                }
                tx.write_rtp(write);
            }
        }
    }

    /// Runs the world for `d` of simulated time.
    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            for i in 0..self.clients.len() {
                self.publish(i);
            }
            self.settle();
            let next = [
                self.next_arrival(),
                self.clients.iter().map(|c| c.timeout).min(),
                self.clients.iter().map(|c| c.next_send).min(),
                self.media.poll_timeout(),
                Some(end),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
            self.now = next.max(self.now);
            let batched = self.batch.is_some();
            if batched {
                self.arrive_in_batches();
            }
            while let Some(entry) = self.net.first_entry().filter(|_| !batched) {
                if entry.key().0 > self.now {
                    break;
                }
                let p = entry.remove();
                if p.to == self.server || p.to == self.server_tcp {
                    self.media
                        .handle_datagram(self.now, p.proto, p.from, p.to, &p.data);
                    // Media (over 200 bytes) to others that left at once,
                    // before any timeout of the SFU's.
                    let at_once = self
                        .drain_media()
                        .into_iter()
                        .flatten()
                        .filter(|(to, len)| *to != p.from && *len > 200)
                        .count();
                    self.forwarded_at_once += at_once;
                } else {
                    self.arrive_at_client(&p);
                }
            }
            let now = self.now;
            for c in &mut self.clients {
                if c.timeout <= now {
                    let _ = c.rtc.handle_input(Input::Timeout(now));
                }
            }
            if self.media.poll_timeout().is_some_and(|t| t <= now) {
                self.media.handle_timeout(now);
            }
            self.settle();
        }
    }

    /// When the next packet arrives: at a client, or, when the server reads
    /// in batches, at the server's next read after it.
    fn next_arrival(&self) -> Option<Instant> {
        let Some(batch) = self.batch else {
            return self.net.keys().next().map(|(t, _)| *t);
        };
        self.net
            .iter()
            .map(|((t, _), p)| {
                if p.to == self.server || p.to == self.server_tcp {
                    self.next_read(*t, batch)
                } else {
                    *t
                }
            })
            .min()
    }

    /// The server's first read at or after `t`.
    fn next_read(&self, t: Instant, batch: Duration) -> Instant {
        let since = t.saturating_duration_since(self.start).as_nanos();
        let step = batch.as_nanos();
        let reads = since.div_ceil(step);
        self.start + Duration::from_nanos(u64::try_from(reads * step).unwrap())
    }

    /// In batch mode: what arrived by now is delivered, the server's part
    /// (only at a read) in one batch, counting the media that left at once.
    fn arrive_in_batches(&mut self) {
        let batch = self.batch.unwrap();
        let reading = self.next_read(self.now, batch) == self.now;
        let due: Vec<(Instant, u64)> = self
            .net
            .range(..=(self.now, u64::MAX))
            .filter(|(_, p)| reading || (p.to != self.server && p.to != self.server_tcp))
            .map(|(k, _)| *k)
            .collect();
        let mut read = Vec::new();
        for key in due {
            let p = self.net.remove(&key).unwrap();
            if p.to == self.server || p.to == self.server_tcp {
                read.push((key.0, p));
            } else {
                self.arrive_at_client(&p);
            }
        }
        if read.is_empty() {
            return;
        }
        self.media.handle_datagrams(
            self.now,
            read.iter()
                .map(|(at, p)| (*at, p.proto, p.from, p.to, p.data.as_slice())),
        );
        // Media (over 200 bytes) that left while the batch was handled.
        let at_once = self
            .drain_media()
            .into_iter()
            .flatten()
            .filter(|(_, len)| *len > 200)
            .count();
        self.forwarded_at_once += at_once;
    }

    /// A packet reaches its client.
    fn arrive_at_client(&mut self, p: &Packet) {
        if let Some(c) = self.clients.iter_mut().find(|c| c.addr == p.to) {
            if let Ok(r) = Receive::new(p.proto, p.from, p.to, &p.data) {
                let _ = c.rtc.handle_input(Input::Receive(self.now, r));
            }
            // In RTP mode str0m holds one received packet until polled.
            self.settle();
        }
    }

    /// The camera packets `receiver` got from `sender`, in arrival order.
    fn camera(&self, receiver: u8, sender: u8) -> Vec<Received> {
        self.clients[receiver as usize]
            .received
            .iter()
            .filter(|r| r.from == sender && r.source == 1)
            .copied()
            .collect()
    }

    /// `receiver` asks for a keyframe on the m-line carrying `sender`'s camera.
    fn ask_camera_keyframe(&mut self, receiver: usize, sender: Uuid) {
        let c = &mut self.clients[receiver];
        let Some((mid, ..)) = c
            .tracks
            .iter()
            .find(|(_, p, s)| *p == sender && *s == MediaSource::Camera)
        else {
            panic!("client {receiver} has no camera m-line from {sender}");
        };
        let mid = Mid::from(mid.as_str());
        let mut api = c.rtc.direct_api();
        api.stream_rx_by_mid(mid, None)
            .expect("a receive stream")
            .request_keyframe(KeyframeRequestKind::Pli);
    }

    /// The SFU's counter `name` (a `..._total` line of its metrics), if shown.
    fn counter(&self, name: &str) -> Option<u64> {
        let metrics = self.metrics.render();
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    /// What `receiver` got from `sender`'s `source` (0 mic, 1 camera) sent in [from, to).
    fn got(&self, receiver: u8, sender: u8, source: u8, from: Instant, to: Instant) -> usize {
        self.clients[receiver as usize]
            .received
            .iter()
            .filter(|r| r.from == sender && r.source == source && r.sent >= from && r.sent < to)
            .count()
    }
}

#[test]
fn a_newcomer_does_not_interrupt_the_video_already_flowing_between_others() {
    let mut w = World::new(Duration::from_millis(10), 0.0);
    w.join(0);
    w.join(1);
    w.run(Duration::from_secs(3));
    // A third publisher appears: the others' m-lines for it are added, and
    // the camera already flowing from 0 to 1 must go on without a gap (it
    // needs no key frame: its receiver decodes it already).
    let joined = w.now;
    w.join(2);
    w.run(Duration::from_secs(2));
    // Nothing is held back: no gap between consecutive packets longer than
    // the camera's frame interval (33 ms) and the network's jitter; waiting
    // for a key frame would leave one of at least the publisher's key-frame
    // delay (100 ms here).
    let mut sent: Vec<Instant> = w.clients[1]
        .received
        .iter()
        .filter(|r| r.from == 0 && r.source == 1 && r.sent >= joined - Duration::from_millis(200))
        .map(|r| r.sent)
        .collect();
    sent.sort();
    assert!(sent.len() > 30, "{} packets", sent.len());
    let gap = sent
        .windows(2)
        .map(|p| p[1] - p[0])
        .max()
        .unwrap_or_default();
    assert!(
        gap < Duration::from_millis(80),
        "a {gap:?} gap in the flowing camera"
    );
}

#[test]
fn everyone_in_the_main_room_receives_everyone_else() {
    let mut w = World::new(Duration::from_millis(15), 0.0);
    for i in 0..3 {
        w.join(i);
    }
    w.run(Duration::from_secs(3));
    let (from, to) = (
        w.start + Duration::from_secs(2),
        w.now - Duration::from_millis(100),
    );
    for r in 0..3u8 {
        for s in 0..3u8 {
            if r == s {
                continue;
            }
            for source in [0, 1] {
                let n = w.got(r, s, source, from, to);
                assert!(
                    n >= 40,
                    "client {r} got {n} packets of source {source} from {s}"
                );
            }
        }
        // Each client got a track map naming the other two, three sources each.
        let c = &w.clients[r as usize];
        let mut named: Vec<Uuid> = c.tracks.iter().map(|t| t.1).collect();
        named.sort();
        named.dedup();
        assert_eq!(named.len(), 2, "client {r}: {:?}", c.tracks);
        assert!(c.tracks.iter().all(|t| t.1 != c.id));
    }
    for c in &w.clients {
        assert!(
            c.received.iter().all(|r| r.from != c.index),
            "nobody receives themselves"
        );
    }
}

/// str0m sends a packet written to a stream only once a timeout has stamped
/// it; the SFU gives that timeout in the same poll, so a forwarded packet
/// leaves while its datagram is handled, not on a later wake-up.
#[test]
fn forwarded_packets_leave_while_their_datagram_is_handled() {
    let mut w = World::new(Duration::from_millis(15), 0.0);
    w.join(0);
    w.join(1);
    w.run(Duration::from_secs(2));
    let before = w.forwarded_at_once;
    let got = w.got(1, 0, 1, w.start, w.now);
    w.run(Duration::from_secs(1));
    let camera = w.got(1, 0, 1, w.start, w.now) - got;
    let at_once = w.forwarded_at_once - before;
    // 1 s of one camera and one microphone each way, all of it at once
    // (a little may go out on a timeout: pacing, retransmissions).
    assert!(camera >= 20, "only {camera} camera packets in 1 s");
    assert!(
        at_once >= 2 * camera,
        "{at_once} media datagrams left at once; {camera} camera packets from one side alone"
    );
}

/// The session task reads datagrams in batches, so a receiver may have many
/// packets from several senders to send after one read; str0m's pacer lets
/// out one packet per timeout. They all leave in the turn that read them,
/// not a few per timer tick.
#[test]
fn a_burst_of_packets_for_one_receiver_leaves_in_the_turn_that_read_it() {
    let mut w = World::new(Duration::from_millis(15), 0.0);
    // Each read holds a frame of every camera and microphone: ten packets
    // for every receiver.
    w.batch = Some(TICK);
    for i in 0..6 {
        w.join(i);
    }
    w.run(Duration::from_secs(2));
    let before = w.forwarded_at_once;
    let from = w.now;
    w.run(Duration::from_secs(1));
    let camera: usize = (0..6u8)
        .flat_map(|r| (0..6u8).filter(move |s| *s != r).map(move |s| (r, s)))
        .map(|(r, s)| w.got(r, s, 1, from, w.now))
        .sum();
    let at_once = w.forwarded_at_once - before;
    // 30 camera streams of 50 packets/s; nearly all of them at once (a
    // little may go out on a timeout: pacing, retransmissions).
    assert!(camera >= 30 * 45, "only {camera} camera packets in 1 s");
    assert!(
        at_once * 100 >= camera * 97,
        "{at_once} media datagrams left at once of {camera} camera packets"
    );
}

#[test]
fn a_caucus_hears_only_itself_at_every_instant_across_repeated_moves() {
    // Loss and jitter on every link, and moves faster than renegotiation.
    let mut w = World::new(Duration::from_millis(20), 0.03);
    let ids: Vec<Uuid> = (0..4).map(|i| w.join(i)).collect();
    let mediator = ids[0];
    w.run(Duration::from_secs(2));
    w.command(mediator, ClientMessage::CreateCaucus { name: "A".into() });
    w.command(mediator, ClientMessage::CreateCaucus { name: "B".into() });
    // room of each client over time: (from, room)
    let mut history: HashMap<u8, Vec<(Instant, RoomId)>> = (0..4u8)
        .map(|i| (i, vec![(w.start, RoomId::Main)]))
        .collect();
    let rooms = [World::caucus(1), World::caucus(2), RoomId::Main];
    for step in 0..12usize {
        let who = 1 + (step % 3) as u8;
        let room = rooms[(step / 3 + who as usize) % 3];
        w.command(
            mediator,
            ClientMessage::Move {
                participant: ids[who as usize],
                room,
            },
        );
        history.get_mut(&who).unwrap().push((w.now, room));
        w.run(Duration::from_millis(150 + 37 * step as u64));
    }
    w.command(mediator, ClientMessage::RecallAll);
    for i in 1..4u8 {
        history.get_mut(&i).unwrap().push((w.now, RoomId::Main));
    }
    let recalled = w.now;
    w.run(Duration::from_secs(2));

    let room_at = |who: u8, t: Instant| -> RoomId {
        history[&who]
            .iter()
            .rev()
            .find(|(from, _)| *from <= t)
            .map(|(_, r)| *r)
            .unwrap()
    };
    // A packet sent at `sent` reaches the SFU after `sent`; forwarding follows
    // the rooms at arrival, so the sender and receiver shared a room at some
    // instant in [sent, received]. Anything else is a leak.
    let mut checked = 0;
    for c in &w.clients {
        for r in &c.received {
            let shared = std::iter::once(r.sent)
                .chain(
                    history[&c.index]
                        .iter()
                        .chain(history[&r.from].iter())
                        .map(|(t, _)| *t),
                )
                .filter(|t| *t >= r.sent && *t <= r.at)
                .any(|t| room_at(c.index, t) == room_at(r.from, t));
            assert!(
                shared,
                "client {} received a packet from {} sent at {:?} while in another room",
                c.index,
                r.from,
                r.sent - w.start
            );
            checked += 1;
        }
    }
    assert!(checked > 1000, "only {checked} packets were checked");
    // After recall everyone hears everyone again.
    for r in 0..4u8 {
        for s in 0..4u8 {
            if r != s {
                let n = w.got(
                    r,
                    s,
                    0,
                    recalled + Duration::from_millis(500),
                    w.now - Duration::from_millis(100),
                );
                assert!(
                    n >= 30,
                    "after recall client {r} got {n} audio packets from {s}"
                );
            }
        }
    }
}

#[test]
fn a_muted_participant_is_not_forwarded_and_video_continues() {
    let mut w = World::new(Duration::from_millis(10), 0.0);
    let ids: Vec<Uuid> = (0..3).map(|i| w.join(i)).collect();
    w.run(Duration::from_secs(2));
    w.command(
        ids[0],
        ClientMessage::Mute {
            participant: ids[1],
        },
    );
    let muted = w.now;
    w.run(Duration::from_secs(1));
    let end = w.now;
    assert_eq!(
        w.got(2, 1, 0, muted, end),
        0,
        "audio of a muted participant was forwarded"
    );
    assert!(
        w.got(2, 1, 1, muted, end - Duration::from_millis(100)) >= 30,
        "video stopped with the mute"
    );
}

#[test]
fn garbage_sdp_is_refused_and_nobody_else_is_affected() {
    let mut w = World::new(Duration::from_millis(10), 0.0);
    for i in 0..2 {
        w.join(i);
    }
    w.run(Duration::from_secs(2));
    let intruder = Uuid::from_u64_pair(9, 9);
    assert!(w
        .media
        .offer(w.now, intruder, "v=0\r\nthis is not sdp")
        .is_err());
    assert!(w.media.answer(w.now, intruder, "v=0\r\n").is_err());
    // An answer nobody asked for.
    let first = w.clients[0].id;
    assert!(w.media.answer(w.now, first, "v=0\r\n").is_err());
    // Random bytes on the media port.
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    for _ in 0..500 {
        let len = rng.gen_range(0..1500);
        let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        let from: SocketAddr = "10.0.9.9:9".parse().unwrap();
        w.media
            .handle_datagram(w.now, Protocol::Udp, from, w.server, &data);
    }
    let t = w.now;
    w.run(Duration::from_secs(1));
    assert!(w.got(1, 0, 1, t, w.now - Duration::from_millis(100)) >= 30);
}

#[test]
fn a_refused_answer_leaves_the_offer_waiting_for_a_corrected_one() {
    let mut w = World::new(Duration::from_millis(10), 0.0);
    let first = w.join(0);
    w.run(Duration::from_secs(1));
    // The first participant's answer to the server's offer of the second's
    // media lacks an m-section: refused, and the offer stays.
    w.client(first).garble_next_answer = true;
    let second = w.join(1);
    w.run(Duration::from_secs(2));
    let c = w.client(first);
    assert!(
        matches!(c.refusals.as_slice(), [MediaError::BadAnswer(m)] if m.contains("m-sections")),
        "{:?}",
        c.refusals
    );
    assert_eq!(
        c.refusals[0].to_message(),
        ServerMessage::Error {
            code: "INVALID".into(),
            message: c.refusals[0].to_string(),
            refused: Some(accord_sfu_core::protocol::SdpKind::Answer),
        }
    );
    // The corrected answer was taken: media flows both ways.
    let t = w.now;
    w.run(Duration::from_secs(1));
    assert!(
        w.got(1, 0, 1, t, w.now) >= 20,
        "the second receives the first's camera"
    );
    assert!(w.got(0, 1, 1, t, w.now) >= 20, "and the other way");
    // An answer with nothing waiting is still refused as such.
    assert_eq!(
        w.media.answer(w.now, second, "v=0\r\n"),
        Err(MediaError::UnexpectedAnswer)
    );
}

#[test]
fn a_client_that_can_only_use_tcp_gets_through_on_ice_tcp() {
    let mut w = World::new(Duration::from_millis(15), 0.0);
    w.join(0);
    w.join_over(1, Protocol::Tcp);
    w.run(Duration::from_secs(3));
    let (from, to) = (
        w.start + Duration::from_secs(2),
        w.now - Duration::from_millis(100),
    );
    for source in [0, 1] {
        assert!(
            w.got(1, 0, source, from, to) >= 40,
            "TCP client did not receive source {source}"
        );
        assert!(
            w.got(0, 1, source, from, to) >= 40,
            "nothing came from the TCP client on {source}"
        );
    }
}

#[test]
fn the_loudest_in_each_room_is_announced_as_speaker_to_that_room() {
    let mut w = World::new(Duration::from_millis(10), 0.0);
    let ids: Vec<Uuid> = (0..4).map(|i| w.join(i)).collect();
    w.run(Duration::from_secs(1));
    w.clients[1].level = -20;
    w.clients[2].level = -35;
    w.run(Duration::from_secs(2));
    for c in &w.clients {
        assert_eq!(c.speaker, Some(Some(ids[1])), "client {}", c.index);
    }
    // In a caucus of their own, 2 is the speaker there; main keeps 1.
    w.command(ids[0], ClientMessage::CreateCaucus { name: "A".into() });
    w.command(
        ids[0],
        ClientMessage::Move {
            participant: ids[2],
            room: World::caucus(1),
        },
    );
    w.command(
        ids[0],
        ClientMessage::Move {
            participant: ids[3],
            room: World::caucus(1),
        },
    );
    w.run(Duration::from_secs(2));
    assert_eq!(w.clients[3].speaker, Some(Some(ids[2])));
    assert_eq!(w.clients[0].speaker, Some(Some(ids[1])));
    // Silence: nobody speaks.
    w.clients[1].level = -127;
    w.clients[2].level = -127;
    w.run(Duration::from_secs(3));
    assert_eq!(w.clients[0].speaker, Some(None));
    assert_eq!(w.clients[3].speaker, Some(None));
}

#[test]
fn a_screen_is_forwarded_only_while_its_sender_shares() {
    let mut w = World::new(Duration::from_millis(10), 0.0);
    let ids: Vec<Uuid> = (0..3).map(|i| w.join(i)).collect();
    // Publishing on the screen m-line without having been allowed to share.
    w.clients[1].sharing = true;
    w.run(Duration::from_secs(2));
    let t = w.now;
    assert_eq!(
        w.got(2, 1, 2, w.start, t),
        0,
        "an unannounced screen was forwarded"
    );
    w.command(ids[1], ClientMessage::SetSharing { sharing: true });
    let shared = w.now;
    w.run(Duration::from_secs(2));
    assert!(w.got(2, 1, 2, shared, w.now - Duration::from_millis(100)) >= 40);
    assert!(w.got(0, 1, 2, shared, w.now - Duration::from_millis(100)) >= 40);
    // One sharer per room: the second is refused, and not forwarded.
    w.clients[2].sharing = true;
    w.command(ids[2], ClientMessage::SetSharing { sharing: true });
    w.command(ids[1], ClientMessage::SetSharing { sharing: false });
    let stopped = w.now;
    w.run(Duration::from_secs(1));
    assert_eq!(
        w.got(0, 1, 2, stopped + Duration::from_millis(50), w.now),
        0
    );
    assert_eq!(w.got(0, 2, 2, w.start, w.now), 0);
}

#[test]
fn mediators_get_each_participants_link_quality() {
    let mut w = World::new(Duration::from_millis(25), 0.02);
    let ids: Vec<Uuid> = (0..3).map(|i| w.join(i)).collect();
    w.run(Duration::from_secs(5));
    assert_eq!(w.quality.len(), 3, "{:?}", w.quality);
    for q in &w.quality {
        assert!(ids.contains(&q.id));
        // Each publishes ~50 audio + ~50 video packets a second.
        assert!(q.receive_kbps > 100.0, "{q:?}");
        assert!(q.send_kbps > 100.0, "{q:?}");
        assert!((0.0..=1.0).contains(&q.loss), "{q:?}");
    }
    assert!(
        w.quality.iter().any(|q| q.rtt_ms.is_some()),
        "{:?}",
        w.quality
    );
}

/// Checks what a receiver got of a simulcast camera: one layer at a time,
/// each change at a key frame of the new layer. Taken in sequence order: a
/// packet lost on a congested link comes late, resent. Returns them so.
fn assert_layers_change_at_key_frames(got: &[Received]) -> Vec<Received> {
    let mut got = got.to_vec();
    got.sort_by_key(|r| r.seq);
    got.dedup_by_key(|r| r.seq);
    for pair in got.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        // Across a packet lost for good (a congested link) there is no telling.
        if a.layer != b.layer && b.seq == a.seq + 1 {
            assert!(
                b.key,
                "layer {} -> {} without a key frame at {:?}",
                a.layer, b.layer, b.at
            );
        }
    }
    got
}

/// [`assert_layers_change_at_key_frames`], and one continuous stream of
/// sequence numbers and VP8 picture ids across the changes.
fn assert_one_continuous_layer_at_a_time(got: &[Received]) {
    let got = assert_layers_change_at_key_frames(got);
    for pair in got.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        assert_eq!(b.seq, a.seq + 1, "sequence gap at {:?}", b.at);
        let (Some(pa), Some(pb)) = (a.picture, b.picture) else {
            panic!("a simulcast packet without a picture id");
        };
        assert_eq!(
            pb.wrapping_sub(pa) & 0x7fff,
            1,
            "picture id {pa} -> {pb} at {:?}",
            b.at
        );
    }
}

#[test]
fn a_receiver_gets_one_simulcast_layer_and_moves_down_for_a_small_tile_at_its_key_frame() {
    let mut w = World::new(Duration::from_millis(10), 0.0);
    let ids = [w.join_simulcast(0), w.join(1)];
    w.run(Duration::from_secs(4));
    let before = w.camera(1, 0);
    assert!(before.len() > 100, "only {} camera packets", before.len());
    // Plenty of bandwidth and no tile said: the top layer.
    assert_eq!(before.last().map(|r| r.layer), Some(2));
    assert!(before.first().is_some_and(|r| r.key));
    // The receiver shows the camera in a small tile.
    let asked = w.now;
    w.media
        .set_tile(w.now, ids[1], ids[0], MediaSource::Camera, 160, 90);
    w.settle();
    w.run(Duration::from_secs(3));
    let got = w.camera(1, 0);
    assert_one_continuous_layer_at_a_time(&got);
    // In the order the SFU forwarded them.
    let mut after: Vec<Received> = got.into_iter().filter(|r| r.sent >= asked).collect();
    after.sort_by_key(|r| r.seq);
    let switch = after
        .iter()
        .position(|r| r.layer == 0)
        .expect("moved to the low layer");
    assert!(after[switch].key, "the low layer began without a key frame");
    // The top layer flowed until the low layer's key frame came (the
    // publisher takes 100 ms to make it), and only the low layer after.
    assert!(switch >= 3, "the top layer stopped {switch} packets early");
    assert!(after[..switch].iter().all(|r| r.layer == 2));
    assert!(
        after[switch..].iter().all(|r| r.layer == 0),
        "{:?}",
        after[switch..]
            .iter()
            .map(|r| (r.layer, r.key))
            .collect::<Vec<_>>()
    );
    assert!(after.len() - switch > 100);
    // The SFU asked the low layer for its key frame.
    assert!(w.clients[0]
        .keyframe_requests
        .iter()
        .any(|(t, rid)| *t >= asked && *rid == Some(Rid::from("q"))));
    // A large tile again: back up to the top layer once the upgrade hold
    // has passed, at its key frame, and only the top layer from then on.
    let grown = w.now;
    w.media
        .set_tile(w.now, ids[1], ids[0], MediaSource::Camera, 1280, 720);
    w.settle();
    // Not longer: now and then one of str0m's periodic probes measures far
    // below this uncapped link (seen 5.5 s or more after the tile grew, at
    // times that vary with str0m's random SSRCs), and the SFU follows the
    // estimate down a layer for a few seconds; that drop and the climb back
    // are the congested receiver's test.
    w.run(Duration::from_secs(4));
    let got = w.camera(1, 0);
    assert_one_continuous_layer_at_a_time(&got);
    let mut after: Vec<Received> = got.into_iter().filter(|r| r.sent >= grown).collect();
    after.sort_by_key(|r| r.seq);
    let up = after
        .iter()
        .position(|r| r.layer == 2)
        .expect("back to the top layer");
    assert!(after[up].key, "the top layer began without a key frame");
    assert!(
        after[up].sent >= grown + UPGRADE_HOLD
            && after[up].sent < grown + Duration::from_millis(2500),
        "back to the top layer after {:?}",
        after[up].sent - grown
    );
    let top: Vec<u8> = after[up..].iter().map(|r| r.layer).collect();
    assert!(top.len() > 70 && top.iter().all(|l| *l == 2), "{top:?}");
}

#[test]
fn a_hidden_tile_pauses_the_video_and_keeps_its_m_line() {
    let mut w = World::new(Duration::from_millis(10), 0.0);
    let ids = [w.join_simulcast(0), w.join(1), w.join(2)];
    w.run(Duration::from_secs(3));
    let tracks = w.clients[1].tracks.len();
    let offers = w.clients[1].offers;
    // Not shown: neither the simulcast camera nor a plain one flows.
    for sender in [ids[0], ids[2]] {
        w.media
            .set_tile(w.now, ids[1], sender, MediaSource::Camera, 0, 0);
    }
    w.settle();
    let hidden = w.now;
    w.run(Duration::from_secs(2));
    for sender in [0, 2] {
        assert_eq!(
            w.got(1, sender, 1, hidden + Duration::from_millis(100), w.now),
            0,
            "video from {sender} still flows"
        );
        assert!(w.got(1, sender, 0, hidden, w.now - Duration::from_millis(100)) >= 80);
    }
    assert_eq!(w.clients[1].tracks.len(), tracks, "m-lines changed");
    assert_eq!(w.clients[1].offers, offers, "renegotiated");
    // Shown again: both resume, each at a key frame.
    for sender in [ids[0], ids[2]] {
        w.media
            .set_tile(w.now, ids[1], sender, MediaSource::Camera, 320, 180);
    }
    w.settle();
    let shown = w.now;
    w.run(Duration::from_secs(3));
    for sender in [0, 2] {
        assert!(
            w.got(
                1,
                sender,
                1,
                shown + Duration::from_secs(2),
                w.now - Duration::from_millis(100)
            ) >= 40,
            "video from {sender} did not resume"
        );
    }
    let resumed: Vec<Received> = w
        .camera(1, 0)
        .into_iter()
        .filter(|r| r.sent >= hidden)
        .collect();
    assert!(resumed.first().is_some_and(|r| r.key && r.layer == 0));
    assert_one_continuous_layer_at_a_time(&w.camera(1, 0));
}

#[test]
fn keyframe_requests_reach_each_layer_at_most_once_a_second_and_are_not_lost() {
    let mut w = World::new(Duration::from_millis(10), 0.0);
    let ids = [w.join_simulcast(0), w.join(1), w.join(2)];
    w.run(Duration::from_secs(3));
    // One receiver on the low layer, the other on the top one.
    w.media
        .set_tile(w.now, ids[1], ids[0], MediaSource::Camera, 160, 90);
    w.media
        .set_tile(w.now, ids[2], ids[0], MediaSource::Camera, 1280, 720);
    w.settle();
    w.run(Duration::from_secs(2));
    // Both ask for keyframes ten times a second for three seconds.
    let from = w.now;
    for _ in 0..30 {
        w.ask_camera_keyframe(1, ids[0]);
        w.ask_camera_keyframe(2, ids[0]);
        w.run(Duration::from_millis(100));
    }
    let until = w.now;
    for rid in ["q", "f"] {
        let times: Vec<Instant> = w.clients[0]
            .keyframe_requests
            .iter()
            .filter(|(t, r)| *t >= from && *r == Some(Rid::from(rid)))
            .map(|(t, _)| *t)
            .collect();
        assert!(
            times.len() >= 3,
            "{rid}: {} requests in 3 s of asking",
            times.len()
        );
        for pair in times.windows(2) {
            assert!(
                pair[1] - pair[0] >= Duration::from_millis(990),
                "{rid}: requests {:?} apart",
                pair[1] - pair[0]
            );
        }
        assert!(times
            .iter()
            .all(|t| *t <= until + Duration::from_millis(50)));
    }
    // Per layer, not per m-line: both layers were asked within the same second.
    let first = |rid: &str| {
        w.clients[0]
            .keyframe_requests
            .iter()
            .find(|(t, r)| *t >= from && *r == Some(Rid::from(rid)))
            .map(|(t, _)| *t)
            .unwrap()
    };
    let (q, f) = (first("q"), first("f"));
    assert!(q.max(f) - q.min(f) < Duration::from_millis(500));
}

#[test]
fn a_congested_receiver_keeps_audio_drops_to_the_low_layer_and_climbs_back() {
    let mut w = World::new(Duration::from_millis(10), 0.0);
    w.join_simulcast(0);
    w.join(1);
    w.run(Duration::from_secs(4));
    assert_eq!(w.camera(1, 0).last().map(|r| r.layer), Some(2));
    // The receiver's downlink narrows to 320 kbit/s: audio (~70 kbit/s on
    // the wire) and the low layer (~145) fit, the middle one (~265) does not.
    let receiver = w.clients[1].addr;
    w.caps.insert(receiver, (320_000, w.now));
    let capped = w.now;
    w.run(Duration::from_secs(8));
    let end = w.now;
    let window = end - Duration::from_secs(3);
    let layers: Vec<u8> = w
        .camera(1, 0)
        .iter()
        .filter(|r| r.at >= window)
        .map(|r| r.layer)
        .collect();
    // The low layer, or none: paused while the estimate is below it.
    assert!(layers.iter().all(|l| *l == 0), "{layers:?}");
    // Audio is never sacrificed.
    let audio = w.got(1, 0, 0, window, end - Duration::from_millis(300));
    assert!(audio >= 120, "{audio} audio packets");
    assert!(w.got(1, 0, 0, capped, end - Duration::from_millis(300)) >= 300);
    assert_layers_change_at_key_frames(&w.camera(1, 0));
    // The link recovers: the receiver climbs back to the top layer.
    w.caps.remove(&receiver);
    let lifted = w.now;
    w.run(Duration::from_secs(20));
    let since: Vec<Received> = w
        .camera(1, 0)
        .into_iter()
        .filter(|r| r.sent >= lifted)
        .collect();
    // In the order the SFU forwarded them.
    let forwarded = assert_layers_change_at_key_frames(&since);
    let layers: Vec<u8> = forwarded.iter().map(|r| r.layer).collect();
    // From below the top layer to the top, for a good part of the 20 s. At
    // the lift the receiver is on the low layer, or paused where the
    // estimate sank below it (it may: str0m's estimate under the cap
    // wanders between about 200 and 330 kbit/s); either way the top layer
    // comes only once the estimate has cleared it for the upgrade hold.
    let first_top = forwarded
        .iter()
        .find(|r| r.layer == 2)
        .expect("back to the top layer");
    assert!(
        first_top.sent >= lifted + UPGRADE_HOLD,
        "the top layer came back {:?} after the lift: {layers:?}",
        first_top.sent - lifted
    );
    assert!(
        layers.iter().filter(|l| **l == 2).count() > 250,
        "{layers:?}"
    );
    assert_one_continuous_layer_at_a_time(&since);
    let switches = w.counter("accord_sfu_layer_switches_total");
    assert!(switches.is_some_and(|n| n >= 3), "{}", w.metrics.render());
}

#[test]
fn a_receiver_too_narrow_for_the_low_layer_has_the_video_paused_and_keeps_audio() {
    // Random loss under 10 % does not pause a shown video (its lowest layer
    // is kept); a downlink too narrow for audio and the low layer loses far
    // more than that, and there the video is paused for the audio's sake.
    let mut w = World::new(Duration::from_millis(10), 0.0);
    w.join_simulcast(0);
    w.join(1);
    w.run(Duration::from_secs(4));
    // 150 kbit/s: audio (~70 kbit/s on the wire) fits, audio and the low
    // layer (~145) do not.
    let receiver = w.clients[1].addr;
    w.caps.insert(receiver, (150_000, w.now));
    w.run(Duration::from_secs(12));
    let end = w.now;
    let window = end - Duration::from_secs(6);
    let camera = w.got(1, 0, 1, window, end);
    let audio = w.got(1, 0, 0, window, end - Duration::from_millis(300));
    let pauses = w.counter("accord_sfu_video_pauses_total");
    assert!(pauses.is_some_and(|n| n >= 1), "{}", w.metrics.render());
    // Most of the audio's 50 packets/s (237 to 285 of some 285 over eight
    // runs; with the video kept instead, 62 came through); the camera only
    // on the starved video's short trials (16 to 94 packets; kept, 228).
    assert!(audio >= 180, "{audio} audio packets in 5.7 s");
    assert!(camera < 150, "{camera} camera packets in 6 s");
}

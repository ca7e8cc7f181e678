//! The bot's peer connection (webrtc-rs) and its synthetic publishers.
//!
//! The camera may be published as three simulcast layers, as Chromium does:
//! one SSRC per RID (`q`, `h`, `f`, lowest first), announced with
//! `a=rid:… send` and `a=simulcast:send q;h;f`, every packet carrying the
//! `sdes:mid` and `sdes:rtp-stream-id` header extensions (the SDP names no
//! SSRCs for simulcast). webrtc-rs's default interceptors register those
//! extensions, and the transport-cc feedback (with its header extension) that
//! makes a receiving bot send TWCC feedback to the SFU.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use rtc::sdp::extmap::{SDES_MID_URI, SDES_RTP_STREAM_ID_URI};
use tokio::sync::watch;
use uuid::Uuid;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::MediaStreamTrack;
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCPeerConnectionState, Registry, SettingEngine,
    SettingEngineBuilder,
};
use webrtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit, RtpTransceiver};

use crate::bot::{BotConfig, BotError};
use crate::e2ee::packet::{self, Sealer};
use crate::tag::{self, Source, Tag};

/// The video kind, as webrtc-rs names it.
pub(crate) const VIDEO: RtpCodecKind = RtpCodecKind::Video;

/// Payload types offered; the answer's are used when sending.
const OPUS_PT: u8 = 111;
const VP8_PT: u8 = 96;
/// Opus: 20 ms packets at 48 kHz.
const OPUS_PTIME: Duration = Duration::from_millis(20);
const OPUS_SAMPLES_PER_PACKET: u32 = 960;
const VIDEO_CLOCK: u32 = 90_000;

fn opus() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// One simulcast layer of the camera: its RID, frame size and default rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulcastLayer {
    /// The RID (`q`, `h`, `f`).
    pub rid: &'static str,
    /// Key-frame width.
    pub width: u16,
    /// Key-frame height.
    pub height: u16,
    /// Default bit rate, kbit/s of RTP payload.
    pub kbps: u32,
}

/// The camera's simulcast layers, lowest first, as the session page sends them.
pub const SIMULCAST_LAYERS: [SimulcastLayer; 3] = [
    SimulcastLayer {
        rid: "q",
        width: 320,
        height: 180,
        kbps: 150,
    },
    SimulcastLayer {
        rid: "h",
        width: 640,
        height: 360,
        kbps: 500,
    },
    SimulcastLayer {
        rid: "f",
        width: 1280,
        height: 720,
        kbps: 1200,
    },
];

fn vp8() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: VIDEO_CLOCK,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

/// One stream a publisher sends: the only one, or one simulcast layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Encoding {
    /// The RID, for a simulcast layer.
    rid: Option<&'static str>,
    ssrc: u32,
    /// Bit rate, kbit/s of payload (video).
    kbps: u32,
    /// Key-frame width and height (video).
    size: (u16, u16),
}

/// The streams a source is sent as: one, or (the camera, with
/// [`BotConfig::simulcast`]) one per simulcast layer, lowest first.
pub(crate) fn encodings(config: &BotConfig, source: Source) -> Vec<Encoding> {
    if source == Source::Camera && config.simulcast {
        SIMULCAST_LAYERS
            .iter()
            .zip(config.simulcast_kbps)
            .map(|(layer, kbps)| Encoding {
                rid: Some(layer.rid),
                ssrc: rand::random::<u32>(),
                kbps,
                size: (layer.width, layer.height),
            })
            .collect()
    } else {
        vec![Encoding {
            rid: None,
            ssrc: rand::random::<u32>(),
            kbps: config.video_kbps,
            size: tag::DEFAULT_FRAME_SIZE,
        }]
    }
}

/// One send-only transceiver and what it sends.
pub(crate) struct Publisher {
    source: Source,
    /// Whether the bot sends anything on it.
    active: bool,
    track: Arc<TrackLocalStaticRTP>,
    encodings: Vec<Encoding>,
    transceiver: Arc<dyn RtpTransceiver>,
    /// Set by [`Publisher::negotiate`] when the layers go out as simulcast.
    rid_marking: Option<RidMarking>,
    /// With end-to-end encryption: the sender key every frame is sealed with.
    sealer: Option<Arc<Sealer>>,
}

/// What negotiation settled for a publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Negotiated {
    /// The payload type of its codec.
    pub payload_type: u8,
    /// For simulcast: the ids of the `sdes:mid` and `sdes:rtp-stream-id`
    /// header extensions; `None` without simulcast (or when the answer
    /// refused it: then only the lowest layer is sent, as a browser does).
    pub simulcast_extensions: Option<(u8, u8)>,
}

/// How often the bots' ICE agent checks a candidate pair it has not yet
/// connected on: every 50 ms, as browsers do (RFC 8445's Ta; webrtc-rs
/// defaults to 200 ms). An ICE-lite server such as Accord's SFU sends no
/// checks of its own, so the client's pace alone sets how soon media flows.
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(50);
/// Checks per pair before it fails: 1.4 s at [`ICE_CHECK_INTERVAL`], as
/// webrtc-rs's default 7 at 200 ms.
const ICE_MAX_CHECKS: u16 = 28;

/// The bots' engine settings (every peer connection they make, whatever
/// the server).
pub(crate) fn settings() -> SettingEngine {
    SettingEngineBuilder::new()
        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(ICE_MAX_CHECKS))
        .build()
}

/// Builds the peer connection with its three send-only transceivers
/// (microphone, camera, screen, in that order, as the SFU expects) and the
/// publishers that will feed them.
pub(crate) async fn peer_connection(
    config: &BotConfig,
    participant: Uuid,
    handler: Arc<dyn PeerConnectionEventHandler>,
) -> Result<(Arc<dyn PeerConnection>, Vec<Publisher>), BotError> {
    let mut media_engine = MediaEngine::default();
    media_engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus(),
            payload_type: OPUS_PT,
        },
        RtpCodecKind::Audio,
    )?;
    media_engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: vp8(),
            payload_type: VP8_PT,
        },
        RtpCodecKind::Video,
    )?;
    let registry = register_default_interceptors(Registry::new(), &mut media_engine)?;

    // A wildcard bind skips loopback interfaces, and webrtc-rs 0.21's
    // `SettingEngine::with_include_loopback_candidate` is not read anywhere:
    // binding the loopback address itself is what yields a 127.0.0.1 host
    // candidate (see `BotConfig::bind_ip`).
    let bind: SocketAddr = config.media_bind();
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(media_engine)
        .with_setting_engine(settings())
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_udp_addrs(vec![bind])
        .build()
        .await?;
    let pc: Arc<dyn PeerConnection> = Arc::new(pc);
    match add_transceivers(pc.as_ref(), config, participant).await {
        Ok(publishers) => Ok((pc, publishers)),
        Err(e) => {
            // A dropped connection's driver would run on: stop it.
            let _ = pc.close().await;
            Err(e)
        }
    }
}

async fn add_transceivers(
    pc: &dyn PeerConnection,
    config: &BotConfig,
    participant: Uuid,
) -> Result<Vec<Publisher>, BotError> {
    let mut publishers = Vec::new();
    for (source, kind, codec, active) in [
        (
            Source::Microphone,
            RtpCodecKind::Audio,
            opus(),
            config.publish_audio,
        ),
        (
            Source::Camera,
            RtpCodecKind::Video,
            vp8(),
            config.publish_video,
        ),
        (
            Source::Screen,
            RtpCodecKind::Video,
            vp8(),
            config.publish_screen,
        ),
    ] {
        let encodings = encodings(config, source);
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            participant.to_string(),
            format!("{participant}-{source}"),
            source.as_str().to_owned(),
            kind,
            encodings
                .iter()
                .map(|e| RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        rid: e.rid.unwrap_or_default().to_owned(),
                        ssrc: Some(e.ssrc),
                        ..Default::default()
                    },
                    codec: codec.clone(),
                    ..Default::default()
                })
                .collect(),
        )));
        // A source the bot does not publish is offered receive-only, as by a
        // client without that device: the SFU then gives other receivers no
        // m-line for it.
        let transceiver = if active {
            pc.add_transceiver_from_track(
                Arc::clone(&track) as Arc<dyn TrackLocal>,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Sendonly,
                    streams: vec![participant.to_string()],
                    send_encodings: vec![],
                }),
            )
            .await?
        } else {
            pc.add_transceiver_from_kind(
                kind,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Recvonly,
                    streams: vec![],
                    send_encodings: vec![],
                }),
            )
            .await?
        };
        publishers.push(Publisher {
            source,
            active,
            track,
            encodings,
            transceiver,
            rid_marking: None,
            sealer: None,
        });
    }
    Ok(publishers)
}

/// Frame size and packets per frame for a video bit rate.
pub(crate) fn video_plan(kbps: u32, fps: u32, max_payload: usize) -> (usize, usize) {
    let frame_bytes = (u64::from(kbps) * 1000 / 8 / u64::from(fps.max(1))) as usize;
    let frame_bytes = frame_bytes.max(tag::MIN_VP8_PAYLOAD);
    let max_payload = max_payload.max(tag::MIN_VP8_PAYLOAD);
    let packets = frame_bytes.div_ceil(max_payload);
    (frame_bytes, packets)
}

/// Whether the m-section with `a=mid:<mid>` of `sdp` (an answer) accepts
/// simulcast: it has an `a=simulcast:` line with a `recv` list.
pub(crate) fn simulcast_accepted(sdp: &str, mid: &str) -> bool {
    let mut in_section = false;
    let mut found = false;
    for line in sdp.lines().map(str::trim_end) {
        if line.starts_with("m=") {
            if in_section {
                break;
            }
            found = false;
            continue;
        }
        if line.strip_prefix("a=mid:") == Some(mid) {
            in_section = true;
        }
        if let Some(value) = line.strip_prefix("a=simulcast:") {
            found |= value.split_whitespace().any(|w| w == "recv");
        }
    }
    in_section && found
}

/// How a simulcast layer's packets are marked: header extension ids and the mid.
#[derive(Debug, Clone)]
struct RidMarking {
    mid_id: u8,
    rid_id: u8,
    mid: Vec<u8>,
}

/// One stream being sent and where it is.
struct Outgoing {
    encoding: Encoding,
    layer: u8,
    frame_bytes: usize,
    per_frame: usize,
    rtp_seq: u16,
    seq: u64,
}

impl Publisher {
    /// Whether the bot sends anything on it.
    pub(crate) fn active(&self) -> bool {
        self.active
    }

    /// Which source it sends.
    pub(crate) fn source(&self) -> Source {
        self.source
    }

    /// Seals every frame with `sealer`'s current key from now on (frames
    /// while it holds none are not sent).
    pub(crate) fn encrypt_with(&mut self, sealer: Arc<Sealer>) {
        self.sealer = Some(sealer);
    }

    /// An Opus payload of `size` bytes: in clear, or sealed; `None` when it
    /// must not go out (no sender key, or a counter past what a receiver reads).
    fn opus_payload(&self, t: &Tag, size: usize) -> Option<Vec<u8>> {
        match &self.sealer {
            None => Some(tag::encode_opus(t, size)),
            Some(sealer) => {
                let (key, ctr) = sealer.next()?;
                packet::seal_opus(&key, ctr, t, size).ok()
            }
        }
    }

    /// A VP8 payload, as [`Publisher::opus_payload`].
    fn vp8_payload(&self, t: &Tag, size: usize, keyframe: Option<(u16, u16)>) -> Option<Vec<u8>> {
        match &self.sealer {
            None => Some(tag::encode_vp8(t, size, keyframe)),
            Some(sealer) => {
                let (key, ctr) = sealer.next()?;
                packet::seal_vp8(&key, ctr, t, size, keyframe).ok()
            }
        }
    }

    /// How many streams it sends (simulcast layers, or one).
    pub(crate) fn layers(&self) -> usize {
        self.encodings.len()
    }

    /// What the answer (`answer_sdp`) gave this transceiver: its codec's
    /// payload type, and for simulcast the header extensions that mark the
    /// layers. An answer that refuses simulcast leaves the lowest layer only.
    pub(crate) async fn negotiate(&mut self, answer_sdp: &str) -> Result<Negotiated, BotError> {
        let sender = self
            .transceiver
            .sender()
            .await?
            .ok_or_else(|| BotError::Protocol(format!("no sender for the {}", self.source)))?;
        let parameters = sender.get_parameters().await?;
        let mime = match self.source {
            Source::Microphone => MIME_TYPE_OPUS,
            Source::Camera | Source::Screen => MIME_TYPE_VP8,
        };
        let codecs = &parameters.rtp_parameters.codecs;
        let payload_type = codecs
            .iter()
            .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
            .or(codecs.first())
            .map(|c| c.payload_type)
            .ok_or_else(|| {
                BotError::Protocol(format!("the answer gives the {} no codec", self.source))
            })?;
        let mut simulcast_extensions = None;
        if self.encodings.len() > 1 {
            let mid = self.transceiver.mid().await?;
            let accepted = mid
                .as_deref()
                .is_some_and(|mid| simulcast_accepted(answer_sdp, mid));
            let id = |uri: &str| {
                parameters
                    .rtp_parameters
                    .header_extensions
                    .iter()
                    .find(|e| e.uri == uri)
                    .and_then(|e| u8::try_from(e.id).ok())
            };
            match (accepted, id(SDES_MID_URI), id(SDES_RTP_STREAM_ID_URI)) {
                (true, Some(mid_id), Some(rid_id)) => {
                    simulcast_extensions = Some((mid_id, rid_id));
                    self.rid_marking = mid.map(|mid| RidMarking {
                        mid_id,
                        rid_id,
                        mid: mid.into_bytes(),
                    });
                }
                _ => {
                    tracing::info!(
                        source = %self.source,
                        "the answer does not accept simulcast: sending the lowest layer only"
                    );
                    self.encodings.truncate(1);
                }
            }
        }
        Ok(Negotiated {
            payload_type,
            simulcast_extensions,
        })
    }

    /// Sends synthetic media once the connection is up, until aborted.
    /// `sent` is told of every packet (its tag, payload bytes, accepted).
    pub(crate) async fn run(
        self,
        config: BotConfig,
        participant: Uuid,
        payload_type: u8,
        mut connection: watch::Receiver<RTCPeerConnectionState>,
        mut sent: impl FnMut(&Tag, usize, bool) + Send,
    ) {
        if connection
            .wait_for(|s| *s == RTCPeerConnectionState::Connected)
            .await
            .is_err()
        {
            return;
        }
        let audio = self.source == Source::Microphone;
        let period = if audio {
            OPUS_PTIME
        } else {
            Duration::from_secs(1) / config.video_fps.max(1)
        };
        let mut outgoing: Vec<Outgoing> = self
            .encodings
            .iter()
            .enumerate()
            .map(|(layer, encoding)| {
                let (frame_bytes, per_frame) = video_plan(
                    encoding.kbps,
                    config.video_fps,
                    config.max_video_payload_bytes,
                );
                Outgoing {
                    encoding: encoding.clone(),
                    layer: u8::try_from(layer).unwrap_or(u8::MAX),
                    frame_bytes,
                    per_frame,
                    rtp_seq: rand::random(),
                    seq: 0,
                }
            })
            .collect();
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut timestamp: u32 = rand::random();
        let ticks_per_frame = VIDEO_CLOCK / config.video_fps.max(1);
        let mut frame: u64 = 0;
        loop {
            interval.tick().await;
            if audio {
                let Some(out) = outgoing.first_mut() else {
                    return;
                };
                let tag = Tag {
                    sender: participant,
                    source: self.source,
                    layer: 0,
                    seq: out.seq,
                    sent_ns: tag::now_ns(),
                };
                let Some(payload) = self.opus_payload(&tag, config.audio_payload_bytes) else {
                    timestamp = timestamp.wrapping_add(OPUS_SAMPLES_PER_PACKET);
                    continue;
                };
                let len = payload.len();
                let ok = self
                    .write(
                        payload_type,
                        &out.encoding,
                        out.rtp_seq,
                        timestamp,
                        out.seq == 0,
                        payload,
                    )
                    .await;
                sent(&tag, len, ok);
                out.seq += 1;
                out.rtp_seq = out.rtp_seq.wrapping_add(1);
                timestamp = timestamp.wrapping_add(OPUS_SAMPLES_PER_PACKET);
            } else {
                let keyframe = frame == 0
                    || (config.keyframe_interval > 0
                        && frame.is_multiple_of(u64::from(config.keyframe_interval)));
                for out in &mut outgoing {
                    let (frame_bytes, per_frame) = (out.frame_bytes, out.per_frame);
                    for i in 0..per_frame {
                        // Spread the frame evenly; the first packets take the remainder.
                        let size =
                            frame_bytes / per_frame + usize::from(i < frame_bytes % per_frame);
                        let tag = Tag {
                            sender: participant,
                            source: self.source,
                            layer: out.layer,
                            seq: out.seq,
                            sent_ns: tag::now_ns(),
                        };
                        let key = (keyframe && i == 0).then_some(out.encoding.size);
                        let Some(payload) = self.vp8_payload(&tag, size, key) else {
                            continue;
                        };
                        let len = payload.len();
                        let last = i + 1 == per_frame;
                        let ok = self
                            .write(
                                payload_type,
                                &out.encoding,
                                out.rtp_seq,
                                timestamp,
                                last,
                                payload,
                            )
                            .await;
                        sent(&tag, len, ok);
                        out.seq += 1;
                        out.rtp_seq = out.rtp_seq.wrapping_add(1);
                    }
                }
                frame += 1;
                timestamp = timestamp.wrapping_add(ticks_per_frame);
            }
        }
    }

    async fn write(
        &self,
        payload_type: u8,
        encoding: &Encoding,
        sequence_number: u16,
        timestamp: u32,
        marker: bool,
        payload: Vec<u8>,
    ) -> bool {
        let mut header = rtp::Header {
            version: 2,
            marker,
            payload_type,
            sequence_number,
            timestamp,
            ssrc: encoding.ssrc,
            ..Default::default()
        };
        if let (Some(marking), Some(rid)) = (&self.rid_marking, encoding.rid) {
            let marked = header
                .set_extension(marking.mid_id, marking.mid.clone().into())
                .and_then(|()| header.set_extension(marking.rid_id, rid.as_bytes().into()));
            if let Err(e) = marked {
                tracing::trace!(source = %self.source, error = %e, "marking a simulcast layer");
                return false;
            }
        }
        let packet = rtp::Packet {
            header,
            payload: payload.into(),
        };
        match self.track.write_rtp(packet).await {
            Ok(()) => true,
            Err(e) => {
                tracing::trace!(source = %self.source, error = %e, "write_rtp");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Quiet;

    #[async_trait::async_trait]
    impl PeerConnectionEventHandler for Quiet {}

    fn config(simulcast: bool) -> BotConfig {
        let mut config = BotConfig::new(
            url::Url::parse("ws://127.0.0.1:9").expect("a URL"),
            Uuid::from_u128(1),
        );
        config.simulcast = simulcast;
        config
    }

    /// The m-sections of an SDP, each as its lines.
    fn sections(sdp: &str) -> Vec<Vec<&str>> {
        let mut out: Vec<Vec<&str>> = Vec::new();
        for line in sdp.lines() {
            if line.starts_with("m=") {
                out.push(Vec::new());
            }
            if let Some(section) = out.last_mut() {
                section.push(line);
            }
        }
        out
    }

    #[tokio::test]
    async fn the_offer_announces_simulcast_and_transport_cc() {
        let participant = Uuid::from_u128(7);
        let (pc, publishers) = peer_connection(&config(true), participant, Arc::new(Quiet))
            .await
            .expect("a peer connection");
        assert_eq!(
            publishers.iter().map(Publisher::layers).collect::<Vec<_>>(),
            vec![1, 3, 1]
        );
        let offer = pc.create_offer(None).await.expect("an offer");
        let _ = pc.close().await;
        let sdp = offer.sdp;
        let sections = sections(&sdp);
        assert_eq!(sections.len(), 3, "{sdp}");
        let [audio, camera, screen] = [&sections[0], &sections[1], &sections[2]];
        let has = |section: &Vec<&str>, what: &str| section.iter().any(|l| l.contains(what));
        // The camera: three RIDs, lowest first, no SSRC lines.
        for rid in ["a=rid:q send", "a=rid:h send", "a=rid:f send"] {
            assert!(camera.contains(&rid), "{sdp}");
        }
        assert!(camera.contains(&"a=simulcast:send q;h;f"), "{sdp}");
        assert!(!has(camera, "a=ssrc:"), "{sdp}");
        for uri in [
            "urn:ietf:params:rtp-hdrext:sdes:mid",
            "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
            "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
            "transport-wide-cc",
        ] {
            assert!(has(camera, uri), "{uri}: {sdp}");
        }
        // Transport-wide congestion control feedback, for audio and video:
        // what makes a receiving bot send TWCC feedback.
        for section in [audio, camera, screen] {
            assert!(has(section, "transport-cc"), "{sdp}");
            assert!(has(section, "transport-wide-cc"), "{sdp}");
        }
        // Without simulcast, nothing of it; SSRCs are announced.
        assert!(
            !has(screen, "a=rid:") && !has(screen, "a=simulcast"),
            "{sdp}"
        );
        assert!(has(audio, "a=ssrc:"), "{sdp}");
        // The screen is not published: offered receive-only, nothing to send.
        assert!(has(screen, "a=recvonly"), "{sdp}");
        assert!(!has(screen, "a=ssrc:"), "{sdp}");
        assert!(
            has(audio, "a=sendonly") && has(camera, "a=sendonly"),
            "{sdp}"
        );

        let (pc, publishers) = peer_connection(&config(false), participant, Arc::new(Quiet))
            .await
            .expect("a peer connection");
        let offer = pc.create_offer(None).await.expect("an offer");
        let _ = pc.close().await;
        assert!(!offer.sdp.contains("a=simulcast"), "{}", offer.sdp);
        assert_eq!(
            publishers.iter().map(Publisher::layers).collect::<Vec<_>>(),
            vec![1, 1, 1]
        );
    }

    #[test]
    fn encodings_follow_the_config() {
        let mut c = config(true);
        c.simulcast_kbps = [100, 300, 900];
        let camera = encodings(&c, Source::Camera);
        assert_eq!(
            camera
                .iter()
                .map(|e| (e.rid, e.kbps, e.size))
                .collect::<Vec<_>>(),
            vec![
                (Some("q"), 100, (320, 180)),
                (Some("h"), 300, (640, 360)),
                (Some("f"), 900, (1280, 720)),
            ]
        );
        // Distinct SSRCs (random: equal ones would be a one in 2^32 fluke).
        assert!(camera[0].ssrc != camera[1].ssrc || camera[1].ssrc != camera[2].ssrc);
        let screen = encodings(&c, Source::Screen);
        assert_eq!(screen.len(), 1);
        assert_eq!((screen[0].rid, screen[0].size), (None, (640, 360)));
        assert_eq!(encodings(&config(false), Source::Camera).len(), 1);
    }

    #[test]
    fn answers_accepting_simulcast_are_recognised() {
        let answer = "v=0\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=rid:q recv\r\na=simulcast:recv q;h;f\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\n";
        assert!(simulcast_accepted(answer, "1"));
        assert!(!simulcast_accepted(answer, "0"));
        assert!(!simulcast_accepted(answer, "2"));
        assert!(!simulcast_accepted(answer, "3"));
        // A send list only (the answerer sending simulcast) is no acceptance.
        let send_only = "m=video 9 UDP/TLS/RTP/SAVPF 96\na=simulcast:send q;h\na=mid:1\n";
        assert!(!simulcast_accepted(send_only, "1"));
        assert!(!simulcast_accepted("", "1"));
    }

    #[test]
    fn video_plans() {
        // 1200 kbit/s at 30 fps: 5000-byte frames in five packets.
        assert_eq!(video_plan(1200, 30, 1100), (5000, 5));
        // A tiny rate still sends one whole tag per frame.
        assert_eq!(video_plan(1, 30, 1100), (tag::MIN_VP8_PAYLOAD, 1));
        assert_eq!(video_plan(2500, 25, 1100), (12_500, 12));
    }
}

//! The bot's peer connection (webrtc-rs) and its synthetic publishers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use tokio::sync::watch;
use uuid::Uuid;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::MediaStreamTrack;
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCPeerConnectionState, Registry,
};
use webrtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit, RtpTransceiver};

use crate::bot::{BotConfig, BotError};
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

fn vp8() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: VIDEO_CLOCK,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

/// One send-only transceiver and what it sends.
pub(crate) struct Publisher {
    source: Source,
    /// Whether the bot sends anything on it.
    active: bool,
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    transceiver: Arc<dyn RtpTransceiver>,
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
        let ssrc = rand::random::<u32>();
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            participant.to_string(),
            format!("{participant}-{source}"),
            source.as_str().to_owned(),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec,
                ..Default::default()
            }],
        )));
        let transceiver = pc
            .add_transceiver_from_track(
                Arc::clone(&track) as Arc<dyn TrackLocal>,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Sendonly,
                    streams: vec![participant.to_string()],
                    send_encodings: vec![],
                }),
            )
            .await?;
        publishers.push(Publisher {
            source,
            active,
            track,
            ssrc,
            transceiver,
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

impl Publisher {
    /// Whether the bot sends on this transceiver.
    pub(crate) fn active(&self) -> bool {
        self.active
    }

    /// The payload type the answer gave this transceiver's codec.
    pub(crate) async fn negotiated_payload_type(&self) -> Result<u8, BotError> {
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
        codecs
            .iter()
            .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
            .or(codecs.first())
            .map(|c| c.payload_type)
            .ok_or_else(|| {
                BotError::Protocol(format!("the answer gives the {} no codec", self.source))
            })
    }

    /// Sends synthetic media once the connection is up, until aborted.
    /// `sent` is told of every packet (source, payload bytes, accepted).
    pub(crate) async fn run(
        self,
        config: BotConfig,
        participant: Uuid,
        payload_type: u8,
        mut connection: watch::Receiver<RTCPeerConnectionState>,
        mut sent: impl FnMut(Source, usize, bool) + Send,
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
        let (frame_bytes, per_frame) = video_plan(
            config.video_kbps,
            config.video_fps,
            config.max_video_payload_bytes,
        );
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut rtp_seq: u16 = rand::random();
        let mut timestamp: u32 = rand::random();
        let mut seq: u64 = 0;
        let ticks_per_frame = VIDEO_CLOCK / config.video_fps.max(1);
        let mut frame: u64 = 0;
        loop {
            interval.tick().await;
            if audio {
                let tag = Tag {
                    sender: participant,
                    source: self.source,
                    seq,
                    sent_ns: tag::now_ns(),
                };
                let payload = tag::encode_opus(&tag, config.audio_payload_bytes);
                let len = payload.len();
                let ok = self
                    .write(payload_type, rtp_seq, timestamp, seq == 0, payload)
                    .await;
                sent(self.source, len, ok);
                seq += 1;
                rtp_seq = rtp_seq.wrapping_add(1);
                timestamp = timestamp.wrapping_add(OPUS_SAMPLES_PER_PACKET);
            } else {
                let keyframe = frame == 0
                    || (config.keyframe_interval > 0
                        && frame.is_multiple_of(u64::from(config.keyframe_interval)));
                for i in 0..per_frame {
                    // Spread the frame evenly; the first packets take the remainder.
                    let size = frame_bytes / per_frame + usize::from(i < frame_bytes % per_frame);
                    let tag = Tag {
                        sender: participant,
                        source: self.source,
                        seq,
                        sent_ns: tag::now_ns(),
                    };
                    let payload = tag::encode_vp8(&tag, size, keyframe && i == 0);
                    let len = payload.len();
                    let last = i + 1 == per_frame;
                    let ok = self
                        .write(payload_type, rtp_seq, timestamp, last, payload)
                        .await;
                    sent(self.source, len, ok);
                    seq += 1;
                    rtp_seq = rtp_seq.wrapping_add(1);
                }
                frame += 1;
                timestamp = timestamp.wrapping_add(ticks_per_frame);
            }
        }
    }

    async fn write(
        &self,
        payload_type: u8,
        sequence_number: u16,
        timestamp: u32,
        marker: bool,
        payload: Vec<u8>,
    ) -> bool {
        let packet = rtp::Packet {
            header: rtp::Header {
                version: 2,
                marker,
                payload_type,
                sequence_number,
                timestamp,
                ssrc: self.ssrc,
                ..Default::default()
            },
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

    #[test]
    fn video_plans() {
        // 1200 kbit/s at 30 fps: 5000-byte frames in five packets.
        assert_eq!(video_plan(1200, 30, 1100), (5000, 5));
        // A tiny rate still sends one whole tag per frame.
        assert_eq!(video_plan(1, 30, 1100), (tag::MIN_VP8_PAYLOAD, 1));
        assert_eq!(video_plan(2500, 25, 1100), (12_500, 12));
    }
}

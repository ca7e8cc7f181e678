//! The bot against a fake SFU built from webrtc-rs itself, on loopback: the
//! join handshake (signature checked), the offer and answer, ICE and DTLS to a
//! 127.0.0.1 candidate, a server-initiated renegotiation adding two send-only
//! m-lines, and the bot's own tagged media reflected back and attributed;
//! also a simulcast camera, whose three layers webrtc-rs can only tell apart
//! by the RID header extensions the bot writes.
//! Needs no database and no Accord SFU.

use std::sync::Arc;
use std::time::Duration;

use accord_loadgen::protocol::{
    self, ClientMessage, MediaSource, SdpKind, ServerMessage, TrackView,
};
use accord_loadgen::{device, Bot, BotConfig, BotError, Source};
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use p256::ecdsa::signature::Verifier;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::media_stream::MediaStreamTrack;
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCIceGatheringState, RTCSessionDescription, Registry,
};
use webrtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};

const TOKEN: &str = "good-token";
/// A good token that also makes the fake SFU expect a simulcast camera.
const SIMULCAST_TOKEN: &str = "simulcast-token";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
type ServerWs = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A server message of a type the protocol does not have (yet).
fn from_the_future() -> Value {
    json!({ "type": "hologram", "participant": Uuid::nil() })
}

fn codec(kind: RtpCodecKind) -> RTCRtpCodec {
    match kind {
        RtpCodecKind::Audio => RTCRtpCodec {
            mime_type: MIME_TYPE_OPUS.to_owned(),
            clock_rate: 48_000,
            channels: 2,
            sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
            rtcp_feedback: vec![],
        },
        _ => RTCRtpCodec {
            mime_type: MIME_TYPE_VP8.to_owned(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![],
        },
    }
}

struct ServerHandler {
    tracks: mpsc::UnboundedSender<Arc<dyn TrackRemote>>,
    gathering: watch::Sender<RTCIceGatheringState>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for ServerHandler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.gathering.send_replace(state);
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.tracks.send(track);
    }
}

async fn recv_text(ws: &mut ServerWs) -> anyhow::Result<String> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the bot hung up"))??;
        match frame {
            Message::Text(text) => return Ok(text.as_str().to_owned()),
            Message::Close(_) => anyhow::bail!("the bot closed"),
            _ => continue,
        }
    }
}

/// The bot's next message, read as strictly as Accord's SFU reads it.
async fn recv_message(ws: &mut ServerWs) -> anyhow::Result<ClientMessage> {
    let text = recv_text(ws).await?;
    protocol::parse_client_message(&text)
        .map_err(|e| anyhow::anyhow!("the SFU would refuse {text}: {e}"))
}

async fn send(ws: &mut ServerWs, message: &impl serde::Serialize) -> anyhow::Result<()> {
    ws.send(Message::Text(serde_json::to_string(message)?.into()))
        .await?;
    Ok(())
}

/// One connection of the fake SFU, like Accord's: challenge, hello, state,
/// the client's offer answered, then the server's own offer with the
/// client's media reflected back on two send-only m-lines.
async fn serve(mut ws: ServerWs, participant: Uuid) -> anyhow::Result<()> {
    let nonce = "bm9uY2Utb2YtdGhlLWZha2U";
    // The handshake is not in the protocol's message types (the SFU keeps
    // its own); it is written out here as the SFU's documentation gives it,
    // so that the bot's types for it are checked against that.
    send(&mut ws, &json!({ "type": "challenge", "nonce": nonce })).await?;
    let hello: Value = serde_json::from_str(&recv_text(&mut ws).await?)?;
    let public = p256::PublicKey::from_jwk_str(&hello["deviceKey"].to_string())?;
    let signature = B64.decode(hello["signature"].as_str().unwrap_or(""))?;
    let signature = p256::ecdsa::Signature::from_slice(&signature)?;
    let verified = p256::ecdsa::VerifyingKey::from(public)
        .verify(nonce.as_bytes(), &signature)
        .is_ok();
    let refuse_offer = hello["token"] == "refuse-offer";
    let simulcast = hello["token"] == SIMULCAST_TOKEN;
    if hello["type"] != "hello"
        || !(hello["token"] == TOKEN || simulcast || refuse_offer)
        || !verified
    {
        ws.send(Message::Close(Some(CloseFrame {
            code: CloseCode::from(4401),
            reason: "the join token is invalid".into(),
        })))
        .await?;
        return Ok(());
    }
    // A type of a newer server's, before the first state and again later:
    // the bot must keep going (and keep it in its history).
    send(&mut ws, &from_the_future()).await?;
    send(
        &mut ws,
        &ServerMessage::State {
            you: participant,
            locked: false,
            hop_by_hop: false,
            rooms: vec![],
            participants: vec![],
        },
    )
    .await?;

    let offer_sdp = match recv_message(&mut ws).await? {
        ClientMessage::Offer { sdp } => sdp,
        other => anyhow::bail!("expected an offer, got {other:?}"),
    };
    if refuse_offer {
        send(
            &mut ws,
            &ServerMessage::Error {
                code: "INVALID".into(),
                message: "the offer could not be accepted: refused by the fake SFU".into(),
                refused: Some(SdpKind::Offer),
            },
        )
        .await?;
        // Keep the socket open: the bot must not wait for an answer.
        while recv_text(&mut ws).await.is_ok() {}
        return Ok(());
    }
    // The bot's offer: three m-lines, audio first, its candidates in it;
    // microphone and camera send-only, the screen (not published)
    // receive-only.
    let m_lines: Vec<&str> = offer_sdp.lines().filter(|l| l.starts_with("m=")).collect();
    anyhow::ensure!(m_lines.len() == 3, "{offer_sdp}");
    anyhow::ensure!(m_lines[0].starts_with("m=audio") && m_lines[1].starts_with("m=video"));
    anyhow::ensure!(offer_sdp.matches("a=sendonly").count() == 2, "{offer_sdp}");
    anyhow::ensure!(offer_sdp.matches("a=recvonly").count() == 1, "{offer_sdp}");
    anyhow::ensure!(offer_sdp.contains("127.0.0.1"), "{offer_sdp}");
    anyhow::ensure!(
        offer_sdp.contains(&format!("a=msid:{participant} ")),
        "{offer_sdp}"
    );
    anyhow::ensure!(
        offer_sdp.contains("a=simulcast:send q;h;f") == simulcast,
        "{offer_sdp}"
    );

    let mut media_engine = MediaEngine::default();
    for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
        media_engine.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: codec(kind),
                payload_type: if kind == RtpCodecKind::Audio { 111 } else { 96 },
            },
            kind,
        )?;
    }
    let registry = register_default_interceptors(Registry::new(), &mut media_engine)?;
    let (tracks_tx, mut tracks_rx) = mpsc::unbounded_channel();
    let (gathering, mut gathered) = watch::channel(RTCIceGatheringState::New);
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(media_engine)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(ServerHandler {
            tracks: tracks_tx,
            gathering,
        }))
        .with_udp_addrs(vec!["127.0.0.1:0"])
        .build()
        .await?;
    pc.set_remote_description(RTCSessionDescription::offer(offer_sdp)?)
        .await?;
    let answer = pc.create_answer(None).await?;
    pc.set_local_description(answer).await?;
    tokio::time::timeout(
        Duration::from_secs(10),
        gathered.wait_for(|s| *s == RTCIceGatheringState::Complete),
    )
    .await??;
    let answer = pc
        .local_description()
        .await
        .ok_or_else(|| anyhow::anyhow!("no answer"))?;
    send(&mut ws, &ServerMessage::Answer { sdp: answer.sdp }).await?;

    // The bot's microphone and camera, once it sends.
    let mut incoming = Vec::new();
    while incoming.len() < 2 {
        let track = tokio::time::timeout(Duration::from_secs(15), tracks_rx.recv())
            .await?
            .ok_or_else(|| anyhow::anyhow!("no tracks"))?;
        incoming.push(track);
    }

    // Renegotiate: two send-only m-lines carrying the bot's media back.
    let mut outgoing = Vec::new();
    for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
        let ssrc = rand::random::<u32>();
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            participant.to_string(),
            format!("reflected-{kind}"),
            format!("reflected-{kind}"),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: codec(kind),
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
        outgoing.push((kind, track, ssrc, transceiver));
    }
    let offer = pc.create_offer(None).await?;
    pc.set_local_description(offer).await?;
    let offer = pc
        .local_description()
        .await
        .ok_or_else(|| anyhow::anyhow!("no offer"))?;
    send(&mut ws, &ServerMessage::Offer { sdp: offer.sdp }).await?;
    let mut tracks = Vec::new();
    for (kind, _, _, transceiver) in &outgoing {
        let source = if *kind == RtpCodecKind::Audio {
            MediaSource::Microphone
        } else {
            MediaSource::Camera
        };
        tracks.push(TrackView {
            mid: transceiver
                .mid()
                .await?
                .ok_or_else(|| anyhow::anyhow!("an m-line without a mid"))?,
            participant,
            source,
        });
    }
    send(&mut ws, &ServerMessage::Tracks { tracks }).await?;
    send(&mut ws, &from_the_future()).await?;
    let answer = loop {
        if let ClientMessage::Answer { sdp } = recv_message(&mut ws).await? {
            break sdp;
        }
    };
    pc.set_remote_description(RTCSessionDescription::answer(answer)?)
        .await?;

    for track in incoming {
        let kind = track.kind().await;
        let Some((_, out, ssrc, transceiver)) = outgoing.iter().find(|o| o.0 == kind) else {
            continue;
        };
        let sender = transceiver
            .sender()
            .await?
            .ok_or_else(|| anyhow::anyhow!("no sender"))?;
        let payload_type = sender
            .get_parameters()
            .await?
            .rtp_parameters
            .codecs
            .first()
            .map(|c| c.payload_type)
            .ok_or_else(|| anyhow::anyhow!("no codec"))?;
        let (out, ssrc) = (Arc::clone(out), *ssrc);
        tokio::spawn(async move {
            // One sequence for everything reflected: simulcast layers arrive
            // with a sequence each, and SRTP's replay protection would drop
            // an interleaving of them.
            let mut sequence_number: u16 = rand::random();
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(mut packet) = event {
                    packet.header.ssrc = ssrc;
                    packet.header.sequence_number = sequence_number;
                    sequence_number = sequence_number.wrapping_add(1);
                    packet.header.payload_type = payload_type;
                    packet.header.extensions.clear();
                    packet.header.extension = false;
                    if out.write_rtp(packet).await.is_err() {
                        break;
                    }
                }
            }
        });
    }

    // Then echo chat, until the bot leaves.
    while let Ok(text) = recv_text(&mut ws).await {
        let message = protocol::parse_client_message(&text)
            .map_err(|e| anyhow::anyhow!("the SFU would refuse {text}: {e}"))?;
        if let ClientMessage::Chat { text } = message {
            send(
                &mut ws,
                &ServerMessage::Chat {
                    from: participant,
                    text,
                },
            )
            .await?;
        }
    }
    pc.close().await?;
    Ok(())
}

/// Starts the fake SFU; every connection is served as `participant`.
async fn fake_sfu(
    participant: Uuid,
) -> anyhow::Result<(url::Url, mpsc::UnboundedReceiver<String>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = url::Url::parse(&format!("ws://{}", listener.local_addr()?))?;
    let (errors_tx, errors) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let errors = errors_tx.clone();
            tokio::spawn(async move {
                let result = match tokio_tungstenite::accept_async(stream).await {
                    Ok(ws) => serve(ws, participant).await,
                    Err(e) => Err(e.into()),
                };
                if let Err(e) = result {
                    let _ = errors.send(format!("{e:#}"));
                }
            });
        }
    });
    Ok((url, errors))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_joins_publishes_renegotiates_and_attributes_what_it_receives() -> anyhow::Result<()>
{
    let participant = Uuid::new_v4();
    let (url, mut errors) = fake_sfu(participant).await?;
    let session = Uuid::new_v4();
    let mut config = BotConfig::new(url, session);
    config.participant = Some(participant);
    config.video_kbps = 600;
    config.arrival_log = 1000;
    let bot = Bot::join(config, TOKEN.into(), device::generate()).await?;
    assert_eq!(bot.participant(), participant);
    bot.connected(Duration::from_secs(10)).await?;

    let mut messages = bot.messages();
    let first = messages
        .wait_for_message(Duration::from_secs(1), |m| {
            matches!(m, ServerMessage::State { .. })
        })
        .await?;
    assert!(
        matches!(first, ServerMessage::State { you, .. } if you == participant),
        "{first:?}"
    );

    // The reflected media arrives, attributed to the bot itself.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let report = loop {
        let report = bot.report();
        if report.packets_from(participant, Source::Microphone) >= 50
            && report.packets_from(participant, Source::Camera) >= 100
        {
            break report;
        }
        if let Ok(e) = errors.try_recv() {
            anyhow::bail!("the fake SFU failed: {e}");
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "not enough media came back: {report:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("{}", serde_json::to_string_pretty(&report)?);
    assert_eq!(report.untagged_packets, 0, "{report:#?}");
    assert_eq!(report.mislabeled_packets, 0, "{report:#?}");
    assert_eq!((report.renegotiations, report.renegotiation_errors), (1, 0));
    for source in [Source::Microphone, Source::Camera] {
        let s = report.stream(participant, source).expect("a stream");
        assert!(s.loss() < 0.05, "{s:#?}");
        assert!(s.latency_p50_ms < 200.0, "{s:#?}");
        assert!(report
            .sent
            .get(&source)
            .is_some_and(|sent| sent.packets >= s.packets));
    }
    assert!(report.stream(participant, Source::Screen).is_none());
    assert!(!bot.arrivals().is_empty());
    assert_eq!(bot.camera_layers(), 1);

    let tracks = bot.tracks();
    assert_eq!(tracks.len(), 2, "{tracks:?}");
    assert!(tracks.iter().all(|t| t.participant == participant));
    // The messages of an unknown type were passed over, and kept.
    let mut history = bot.messages();
    for _ in 0..2 {
        history
            .next_of_type("hologram", Duration::from_secs(1))
            .await?;
    }

    // Other client messages go out; the server's come in.
    bot.send(&ClientMessage::Chat {
        text: "hello".into(),
    })
    .await?;
    let chat = messages
        .wait_for_message(Duration::from_secs(5), |m| {
            matches!(m, ServerMessage::Chat { .. })
        })
        .await?;
    assert_eq!(
        chat,
        ServerMessage::Chat {
            from: participant,
            text: "hello".into()
        }
    );
    // The history keeps them as JSON too, for tests that look at the wire.
    let chat = bot
        .messages()
        .next_of_type("chat", Duration::from_secs(1))
        .await?;
    assert_eq!(chat["text"], "hello");
    bot.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulcast_camera_goes_out_as_three_marked_layers() -> anyhow::Result<()> {
    let participant = Uuid::new_v4();
    let (url, mut errors) = fake_sfu(participant).await?;
    let mut config = BotConfig::new(url, Uuid::new_v4());
    config.participant = Some(participant);
    config.simulcast = true;
    config.simulcast_kbps = [100, 200, 400];
    config.arrival_log = 10_000;
    config.departure_log = 10_000;
    let bot = Bot::join(config, SIMULCAST_TOKEN.into(), device::generate()).await?;
    // webrtc-rs's answer accepts the three layers.
    assert_eq!(bot.camera_layers(), 3);
    bot.connected(Duration::from_secs(10)).await?;

    // The fake SFU binds each layer's SSRC by its RID (the SDP names none)
    // and reflects all of them: every layer comes back, told apart by its tag.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let report = loop {
        let report = bot.report();
        if (0..3).all(|layer| {
            report
                .stream_layer(participant, Source::Camera, layer)
                .is_some_and(|s| s.packets >= 30)
        }) && report.packets_from(participant, Source::Microphone) >= 25
        {
            break report;
        }
        if let Ok(e) = errors.try_recv() {
            anyhow::bail!("the fake SFU failed: {e}");
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "not every layer came back: {report:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(report.untagged_packets, 0, "{report:#?}");
    let camera: Vec<_> = report
        .sent_layers
        .iter()
        .filter(|l| l.source == Source::Camera)
        .map(|l| l.layer)
        .collect();
    assert_eq!(camera, vec![0, 1, 2]);
    for layer in 0..3u8 {
        let s = report
            .stream_layer(participant, Source::Camera, layer)
            .expect("a layer");
        assert!(s.loss() < 0.05, "{s:#?}");
    }
    // The layers' rates follow the config: f sends about four times q.
    let bytes = |layer| {
        bot.departures()
            .iter()
            .filter(|d| d.source == Source::Camera && d.layer == layer)
            .map(|d| u64::from(d.bytes))
            .sum::<u64>() as f64
    };
    let ratio = bytes(2) / bytes(0);
    assert!((3.0..5.0).contains(&ratio), "f/q bytes {ratio}");
    bot.close().await;
    Ok(())
}

#[tokio::test]
async fn a_refused_hello_is_reported_with_its_close_code() -> anyhow::Result<()> {
    let (url, _errors) = fake_sfu(Uuid::new_v4()).await?;
    let config = BotConfig::new(url, Uuid::new_v4());
    match Bot::join(config, "stolen".into(), device::generate()).await {
        Err(BotError::Refused { code, reason }) => {
            assert_eq!(code, 4401);
            assert!(reason.contains("invalid"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn a_refused_offer_fails_the_join_at_once() -> anyhow::Result<()> {
    let (url, _errors) = fake_sfu(Uuid::new_v4()).await?;
    let config = BotConfig::new(url, Uuid::new_v4());
    let started = std::time::Instant::now();
    let result = Bot::join(config, "refuse-offer".into(), device::generate()).await;
    match result {
        Err(BotError::Protocol(message)) => {
            assert!(message.contains("INVALID"), "{message}");
            assert!(message.contains("fake SFU"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    Ok(())
}

#[tokio::test]
async fn a_wrong_participant_is_noticed() -> anyhow::Result<()> {
    let (url, _errors) = fake_sfu(Uuid::new_v4()).await?;
    let mut config = BotConfig::new(url, Uuid::new_v4());
    config.participant = Some(Uuid::new_v4());
    let result = Bot::join(config, TOKEN.into(), device::generate()).await;
    assert!(matches!(result, Err(BotError::Protocol(_))), "{result:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_makes_a_key_joins_and_prints_a_report() -> anyhow::Result<()> {
    let participant = Uuid::new_v4();
    let (url, _errors) = fake_sfu(participant).await?;
    let dir = std::env::temp_dir().join(format!("accord-loadgen-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let key = dir.join("bot.pem");
    let exe = env!("CARGO_BIN_EXE_accord-loadgen");

    let made = tokio::process::Command::new(exe)
        .args(["device-key", "--out"])
        .arg(&key)
        .output()
        .await?;
    assert!(made.status.success(), "{made:?}");
    let jwk: Value = serde_json::from_slice(&made.stdout)?;
    assert_eq!(jwk["crv"], "P-256");
    let shown = tokio::process::Command::new(exe)
        .args(["jwk", "--key"])
        .arg(&key)
        .output()
        .await?;
    assert_eq!(serde_json::from_slice::<Value>(&shown.stdout)?, jwk);
    // An existing key is not overwritten by accident.
    let again = tokio::process::Command::new(exe)
        .args(["device-key", "--out"])
        .arg(&key)
        .output()
        .await?;
    assert!(!again.status.success());

    let joined = tokio::process::Command::new(exe)
        .args(["join", "--ws", url.as_str(), "--session"])
        .arg(Uuid::new_v4().to_string())
        .args([
            "--token",
            TOKEN,
            "--seconds",
            "2",
            "--video-kbps",
            "300",
            "--key",
        ])
        .arg(&key)
        .output()
        .await?;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        joined.status.success(),
        "{}",
        String::from_utf8_lossy(&joined.stderr)
    );
    let report: Value = serde_json::from_slice(&joined.stdout)?;
    assert_eq!(report["participant"], participant.to_string());
    let streams = report["streams"].as_array().cloned().unwrap_or_default();
    assert!(
        streams
            .iter()
            .any(|s| s["source"] == "microphone" && s["packets"].as_u64() > Some(10)),
        "{report:#}"
    );
    assert!(
        report["sent"]["camera"]["packets"].as_u64() > Some(10),
        "{report:#}"
    );
    Ok(())
}

//! A tap on what the SFU forwards: two bots in a live session keep every RTP
//! payload they receive as it came out of the SFU's hop (after SRTP, before
//! any end-to-end decryption), which is the media as the SFU itself holds
//! it: it forwards payloads unchanged but for the VP8 payload descriptor.
//! With end-to-end encryption on, no payload holds the bots' plaintext
//! marker (the tag's magic `ACRD` and the sender's id, inside every frame)
//! anywhere, and the only clear bytes are those the SFU needs (descriptor,
//! VP8 frame tag or key-frame header); the receivers still read every
//! sender. Hop by hop only, the same tap finds the marker in every payload.

use std::time::Duration;

use accord_domain::Role;
use accord_loadgen::e2ee::packet::VP8_DELTA_FRAME_TAG;
use accord_loadgen::protocol::{ClientMessage, ServerMessage};
use accord_loadgen::{device, tag, Bot, BotConfig, RawPayload, Source};
use accord_testkit::{spawn_app, Client, TestApp};
use serde_json::{json, Value};
use uuid::Uuid;

const JOIN: &str =
    "mutation($s: UUID!, $k: JSON!) { joinToken(sessionId: $s, deviceKey: $k) { token } }";

fn text(v: &Value) -> anyhow::Result<String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("expected a string, got {v}"))
}

/// An org with one case, its mediator and one party signed in, one session.
async fn world() -> anyhow::Result<(TestApp, Client, Client, Uuid)> {
    let app = spawn_app().await?;
    let org = app.org("tap").await?;
    app.member(org, "admin@t.test", Role::OrgAdmin).await?;
    let mediator_id = app.member(org, "med@t.test", Role::Mediator).await?;
    app.member(org, "one@t.test", Role::Party).await?;
    let admin = app.sign_in("admin@t.test", None).await?;
    let case = text(
        &admin
            .ok(
                "mutation($m: UUID) { createCase(input: {reference: \"T-1\", title: \"Tap\", mediatorId: $m}) { id } }",
                json!({ "m": mediator_id }),
            )
            .await?["createCase"]["id"],
    )?;
    admin
        .ok(
            "mutation($c: UUID!) { addParty(input: {caseId: $c, kind: PARTY, displayName: \"One\", email: \"one@t.test\"}) { id } }",
            json!({ "c": case }),
        )
        .await?;
    let session = text(
        &admin
            .ok(
                "mutation($c: UUID!) { scheduleSession(input: {caseId: $c, startsAt: \"2031-01-01T10:00:00Z\", timeZone: \"UTC\", durationMinutes: 60}) { id } }",
                json!({ "c": case }),
            )
            .await?["scheduleSession"]["id"],
    )?;
    let mediator = app.sign_in("med@t.test", None).await?;
    let party = app.sign_in("one@t.test", None).await?;
    Ok((app, mediator, party, Uuid::parse_str(&session)?))
}

async fn join(app: &TestApp, client: &Client, session: Uuid, e2ee: bool) -> anyhow::Result<Bot> {
    let key = device::generate();
    let data = client
        .ok(
            JOIN,
            json!({ "s": session, "k": device::jwk(key.verifying_key()) }),
        )
        .await?;
    let token = text(&data["joinToken"]["token"])?;
    let mut config = BotConfig::new(url::Url::parse(&format!("ws://{}", app.addr))?, session);
    config.video_kbps = 300;
    config.keyframe_interval = 15;
    config.step_timeout = Duration::from_secs(15);
    config.e2ee = e2ee;
    config.raw_log = 50_000;
    Ok(Bot::join(config, token, key).await?)
}

/// A mediator and a party publishing to each other for a few seconds; what
/// each received, as the SFU forwarded it.
async fn tap(e2ee: bool) -> anyhow::Result<Vec<(Bot, Vec<RawPayload>)>> {
    let (app, mediator_client, party_client, session) = world().await?;
    let mediator = join(&app, &mediator_client, session, e2ee).await?;
    mediator.connected(Duration::from_secs(10)).await?;
    let mut knocks = mediator.messages();
    let party = join(&app, &party_client, session, e2ee).await?;
    let knock = knocks
        .wait_for_message(Duration::from_secs(15), |m| {
            matches!(m, ServerMessage::Knock { .. })
        })
        .await?;
    let ServerMessage::Knock { participant } = knock else {
        anyhow::bail!("expected a knock, got {knock:?}");
    };
    mediator.send(&ClientMessage::Admit { participant }).await?;
    party.connected(Duration::from_secs(10)).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let heard = |bot: &Bot, other: &Bot| {
            let r = bot.report();
            r.packets_from(other.participant(), Source::Microphone) >= 100
                && r.packets_from(other.participant(), Source::Camera) >= 100
        };
        if heard(&mediator, &party) && heard(&party, &mediator) {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "media did not flow: {:#?} {:#?}",
                mediator.report(),
                party.report()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = vec![
        (mediator.raw_payloads(), mediator),
        (party.raw_payloads(), party),
    ];
    Ok(out.into_iter().map(|(raw, bot)| (bot, raw)).collect())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The payload's clear part: its VP8 descriptor and frame tag or key-frame
/// header (video), nothing (audio).
fn clear_len(raw: &RawPayload) -> anyhow::Result<usize> {
    if !raw.video {
        return Ok(0);
    }
    let descriptor = tag::vp8_descriptor_len(&raw.payload)?;
    Ok(if tag::vp8_keyframe_size(&raw.payload).is_some() {
        descriptor + tag::VP8_KEYFRAME_HEADER_LEN
    } else {
        descriptor + VP8_DELTA_FRAME_TAG.len()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_e2ee_the_sfu_forwards_no_media_in_clear() -> anyhow::Result<()> {
    let bots = tap(true).await?;
    let ids: Vec<Uuid> = bots.iter().map(|(b, _)| b.participant()).collect();
    for (bot, raw) in &bots {
        let me = bot.participant();
        let (video, audio) = (
            raw.iter().filter(|r| r.video).count(),
            raw.iter().filter(|r| !r.video).count(),
        );
        assert!(video >= 100 && audio >= 100, "{video} video, {audio} audio");
        let mut key_frames = 0;
        for r in raw {
            let p = &r.payload;
            assert!(!contains(p, &tag::MAGIC), "the marker in clear: {r:?}");
            for id in &ids {
                assert!(!contains(p, id.as_bytes()), "a sender id in clear: {r:?}");
            }
            let clear = clear_len(r)?;
            if r.video {
                if tag::vp8_keyframe_size(p).is_some() {
                    key_frames += 1;
                } else {
                    // The delta frame tag is all the frame shows.
                    let d = tag::vp8_descriptor_len(p)?;
                    assert_eq!(&p[d..clear], &VP8_DELTA_FRAME_TAG, "{r:?}");
                }
            }
            // SFrame header and GCM tag: at least 17 more bytes than shown.
            assert!(p.len() >= clear + 1 + 16 + tag::TAG_LEN, "{r:?}");
        }
        assert!(key_frames > 0, "no key frame forwarded");
        // And the receivers read them: the ciphertext is the media.
        let e = bot.report().e2ee;
        assert!(e.opened >= 200, "{e:#?}");
        assert_eq!((e.clear, e.forged, e.replayed), (0, 0, 0), "{e:#?}");
        let other = ids.iter().find(|i| **i != me).copied().unwrap_or(me);
        assert!(bot.report().packets_from(other, Source::Camera) >= 100);
    }
    for (bot, _) in bots {
        bot.close().await;
    }
    Ok(())
}

/// The tap sees what it should: hop by hop only, every payload shows its
/// sender's marker in clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_only_the_same_tap_finds_the_marker_in_every_payload() -> anyhow::Result<()> {
    let bots = tap(false).await?;
    for (bot, raw) in &bots {
        assert!(raw.len() >= 200, "{}", raw.len());
        let marked = raw
            .iter()
            .filter(|r| contains(&r.payload, &tag::MAGIC))
            .count();
        assert_eq!(marked, raw.len());
        assert_eq!(bot.report().e2ee, accord_loadgen::E2eeReport::default());
    }
    for (bot, _) in bots {
        bot.close().await;
    }
    Ok(())
}

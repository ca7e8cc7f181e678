//! One participant's connection as the media path keeps it: its str0m
//! `Rtc`, what it publishes, the m-lines it receives on and their state,
//! keyframe requests and link quality.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OutState {
    /// In an offer the client has not answered yet.
    Negotiating,
    /// Answered: packets may flow.
    Open,
    /// To be stopped in the next offer.
    ToStop,
    /// Stopped in an offer not yet answered.
    Stopping,
}

/// One m-line the server sends to a client: one source of one other participant.
#[derive(Debug)]
pub(super) struct OutTrack {
    pub(super) sender: ParticipantId,
    pub(super) source: MediaSource,
    pub(super) mid: Option<Mid>,
    pub(super) state: OutState,
    pub(super) rewrite: Rewrite,
    /// Payload type in this client's numbering, per codec.
    pub(super) pt: Option<(Codec, Pt)>,
    /// Which of the sender's layers flows (video; audio has one).
    pub(super) select: Selection,
    /// VP8 picture ids continued across layers and runs.
    pub(super) pictures: vp8::PictureIds,
    /// Paused because the estimate did not cover even the lowest layer:
    /// since when, and when a trial of the lowest layer may start.
    pub(super) starved: Option<Starved>,
    /// When video last started here: its route opened, or a layer started
    /// at a key frame. A receiver that asks for a key frame soon after could
    /// not decode the first one (with end-to-end encryption, its key for the
    /// sender's new key arrived after it): it is asked for at once, not
    /// after the loss-recovery interval.
    pub(super) switched_at: Option<Instant>,
    /// The route just started from a sender who seals their frames
    /// (end-to-end encryption): the first key frame under the key the
    /// sender makes for this receiver is still to come (see [`KeyWait`]).
    pub(super) key_wait: Option<KeyWait>,
}

/// A receiver whose route to a sealing sender just started waits for a key
/// frame under the sender's next key: the sender makes a new key when its
/// room's membership changes and sends it to the newcomer, who never gets
/// the previous one, so a key frame sealed under that one cannot be
/// decrypted, and it costs more than its bytes: a browser ignores key-frame
/// requests for 300 ms after each key frame it makes. Browsers cannot make
/// a key frame on their own when they change keys, so no key frame is
/// asked for at the route's start while the sender's key id is the one it
/// had (for up to [`KEY_CHANGE_GRACE`]); as soon as it changes, one is
/// asked for (again while none comes), and the wait ends at the first key
/// frame under a new key id. When the receiver has acknowledged holding
/// the sender's key of some generation (`e2eeKeyAck`, which the SFU
/// relays), frames under that key id are known to be decryptable: a key
/// frame is asked for as soon as the sender seals under it, even if that
/// is the key the route started with (the sender switched before the
/// receiver's route was ready, as after a reconnection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct KeyWait {
    /// The sender's key id when the route started (`None`: not seen yet).
    pub(super) from: Option<u64>,
    /// When the route started.
    pub(super) since: Instant,
    /// The newest generation of the sender's keys the receiver said it holds.
    pub(super) acked: Option<u64>,
}

impl KeyWait {
    /// Whether a key frame asked for now would likely come under the key id
    /// the route started with (`current`, the sender's latest) and one the
    /// receiver lacks: the sender has not changed keys yet, and may still.
    pub(super) fn holds_back(&self, now: Instant, current: Option<u64>) -> bool {
        self.from.is_some()
            && current == self.from
            && self.acked != current
            && now < self.since + KEY_CHANGE_GRACE
    }

    /// Whether a frame under key id `kid` is one the receiver can decrypt:
    /// a key made since the route started, or one it acknowledged.
    pub(super) fn usable(&self, kid: u64) -> bool {
        self.from != Some(kid) || self.acked == Some(kid)
    }
}

/// How long a new route of a sealing sender waits for the sender's key id
/// to change before asking for a key frame anyway (the sender may not
/// change keys: a screen share started for those who hold its key). A
/// browser switches to its new key at once, or, when others keep decoding
/// the old one, once they acknowledged the new one (300 ms at most;
/// portals/shared/src/live/e2ee/manager.ts).
pub(super) const KEY_CHANGE_GRACE: Duration = Duration::from_millis(600);

/// How long a new route of a sealing sender waits for a key frame under a
/// new key id at most.
pub(super) const KEY_WAIT: Duration = Duration::from_secs(3);

/// A video paused for bandwidth. An estimate only grows with traffic to
/// measure, so a paused video would stay paused on a link that has since
/// recovered (or whose estimate fell on a burst of random loss): the lowest
/// layer is tried again after [`STARVED_RETRY`], for [`STARVED_TRIAL`],
/// backing off while the trials fail.
#[derive(Debug, Clone, Copy)]
pub(super) struct Starved {
    /// When the next trial starts.
    pub(super) retry_at: Instant,
    /// The wait before the trial after that.
    pub(super) backoff: Duration,
    /// While `Some`, the lowest layer flows as a trial until then.
    pub(super) trial_until: Option<Instant>,
}

/// First wait before trying a paused video's lowest layer again.
pub(super) const STARVED_RETRY: Duration = Duration::from_secs(4);

/// How long a trial lasts: enough for the estimate to follow the traffic.
pub(super) const STARVED_TRIAL: Duration = Duration::from_secs(3);

/// The longest wait between trials.
pub(super) const STARVED_MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Link quality inputs, from str0m's stats events.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Quality {
    pub(super) last_bytes: Option<(Instant, u64, u64)>,
    pub(super) receive_kbps: f64,
    pub(super) send_kbps: f64,
    pub(super) loss: f64,
    pub(super) rtt_ms: Option<f64>,
    pub(super) jitter_ms: Option<f64>,
}

#[derive(Debug)]
pub(super) struct Peer {
    pub(super) rtc: Rtc,
    pub(super) ufrag: String,
    pub(super) addrs: Vec<SocketAddr>,
    /// What the client publishes, by the m-lines of its offer.
    pub(super) published: Vec<(Mid, MediaSource)>,
    pub(super) out: Vec<OutTrack>,
    pub(super) pending: Option<SdpPendingOffer>,
    /// The mids of the pending offer's m-sections, in order: an answer must
    /// have the same (RFC 8829 5.3.1), checked before the offer is given up.
    pub(super) pending_mids: Vec<String>,
    /// The client's track map is out of date.
    pub(super) tracks_changed: bool,
    pub(super) timeout: Option<Instant>,
    /// The latest time given to `rtc` in a timeout. It may run ahead of the
    /// clock by about 1 us per packet of a burst (tens of microseconds for a
    /// read of 64 datagrams): str0m's pacer asks to be called 1 us after the
    /// last time it was given for each packet it lets out. Timeouts hand
    /// `max(rtc_time, now)`, so the clock catches up.
    pub(super) rtc_time: Instant,
    /// The deadline last put into [`Media`]'s timers for this peer.
    pub(super) scheduled: Option<Instant>,
    /// Last keyframe request sent to this publisher, per m-line and layer.
    pub(super) asked_keyframe: HashMap<(Mid, Option<Rid>), Instant>,
    /// Smoothed audio level (dBov) and when it was last heard.
    pub(super) level: Option<(f32, Instant)>,
    pub(super) quality: Quality,
    /// NACKs this subscriber sent so far, per m-line.
    pub(super) nacks_seen: HashMap<Mid, u64>,
    /// Keyframe requests waiting for their interval to pass, and when each
    /// may go out.
    pub(super) deferred_keyframes: HashMap<(Mid, Option<Rid>), Instant>,
    /// What each incoming stream and payload type carries (source, codec,
    /// simulcast layer), once resolved.
    pub(super) incoming: HashMap<(Ssrc, Pt), (MediaSource, Codec, u8)>,
    /// The layers of each published source (one without simulcast).
    pub(super) layers: HashMap<MediaSource, Layers>,
    /// The SFrame key id of the latest frame of each video source, when
    /// this client seals its frames (`Routes::seals`).
    pub(super) key_ids: HashMap<MediaSource, u64>,
    /// The size this client shows others' video at, per sender and source.
    pub(super) tiles: HashMap<(ParticipantId, MediaSource), (u32, u32)>,
    /// The bandwidth estimate towards this client, bits per second.
    pub(super) estimate: Option<u64>,
    /// The highest estimate towards this client within [`PEAK_MEMORY`], and
    /// when it was reached.
    pub(super) peak: Option<(u64, Instant)>,
    /// The fraction of each outgoing stream this client last reported lost.
    pub(super) egress_loss: HashMap<Mid, f32>,
    /// When the estimate was last raised to what cannot be reduced.
    pub(super) floored: Option<Instant>,
    /// When the desired rate is next lowered for a round (see
    /// `Media::allocate`).
    pub(super) nudge: Option<Instant>,
    /// The minimum and desired rates last given to the BWE.
    pub(super) bwe_rates: (u64, u64),
}

impl Peer {
    /// Hands `rtc` a timeout at `at`, or at the latest time it was given if
    /// that is later (str0m's time never goes back).
    pub(super) fn advance(&mut self, who: ParticipantId, at: Instant) {
        self.rtc_time = self.rtc_time.max(at);
        if let Err(e) = self.rtc.handle_input(Input::Timeout(self.rtc_time)) {
            tracing::debug!(participant = %who, error = %e, "media timeout refused");
        }
    }

    /// When this peer next needs [`Media::handle_timeout`]: its connection's
    /// timeout or a deferred keyframe request, whichever comes first.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match (self.timeout, self.keyframe_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When a deferred keyframe request may go out.
    pub(super) fn keyframe_due(&self) -> Option<Instant> {
        self.deferred_keyframes.values().min().copied()
    }
}

impl Peer {
    pub(super) fn source_of(&self, mid: Mid) -> Option<MediaSource> {
        self.published
            .iter()
            .find(|(m, _)| *m == mid)
            .map(|(_, s)| *s)
    }

    pub(super) fn mid_of(&self, source: MediaSource) -> Option<Mid> {
        self.published
            .iter()
            .find(|(_, s)| *s == source)
            .map(|(m, _)| *m)
    }

    /// Asks the client for a keyframe on `mid` (on the simulcast layer
    /// `rid`), at most once per `interval` per layer
    /// ([`KEYFRAME_INTERVAL`] or [`KEYFRAME_START_INTERVAL`]); a request
    /// within the interval is deferred to its end, not dropped.
    pub(super) fn request_keyframe(
        &mut self,
        now: Instant,
        mid: Mid,
        rid: Option<Rid>,
        kind: KeyframeRequestKind,
        interval: Duration,
    ) -> bool {
        let key = (mid, rid);
        if let Some(last) = self.asked_keyframe.get(&key) {
            let due = *last + interval;
            if now < due {
                let deferred = self.deferred_keyframes.entry(key).or_insert(due);
                *deferred = (*deferred).min(due);
                return false;
            }
        }
        self.deferred_keyframes.remove(&key);
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_rx_by_mid(mid, rid) else {
            // The publisher's stream is not known yet (no packet so far):
            // try again shortly rather than forget the request.
            self.deferred_keyframes.insert(key, now + KEYFRAME_RETRY);
            return false;
        };
        stream.request_keyframe(kind);
        self.asked_keyframe.insert(key, now);
        true
    }
}

pub(super) fn rtc_for(now: Instant, bandwidth_estimation: bool) -> Rtc {
    let builder = Rtc::builder()
        .set_rtp_mode(true)
        .set_ice_lite(true)
        .clear_codecs()
        // Opus with RFC 2198 RED folded on (listed first in answers, so
        // browsers send redundant audio); kept only where the client offers it.
        .enable_opus(true, true)
        .enable_vp8(true)
        .set_stats_interval(Some(Duration::from_secs(1)));
    if bandwidth_estimation {
        // Estimates towards each receiver drive its simulcast layers.
        builder
            .enable_bwe(Some(Bitrate::bps(INITIAL_ESTIMATE)))
            .build(now)
    } else {
        builder.build(now)
    }
}

/// The codec a payload type carries; [`Codec::Red`] for the RED payload
/// type str0m folds onto Opus.
pub(super) fn codec_of(rtc: &Rtc, pt: Pt) -> Option<Codec> {
    let params = rtc.codec_config().params();
    params
        .iter()
        .find(|p| p.pt() == pt)
        .map(|p| p.spec().codec)
        .or_else(|| {
            params
                .iter()
                .any(|p| p.spec().codec == Codec::Opus && p.red() == Some(pt))
                .then_some(Codec::Red)
        })
}

/// The payload type for `codec` in this peer's numbering; for
/// [`Codec::Red`], Opus's RED payload type if the peer negotiated RED.
pub(super) fn pt_for(rtc: &Rtc, codec: Codec) -> Option<Pt> {
    let params = rtc.codec_config().params();
    if codec == Codec::Red {
        return params
            .iter()
            .find(|p| p.spec().codec == Codec::Opus)
            .and_then(|p| p.red());
    }
    params
        .iter()
        .find(|p| p.spec().codec == codec)
        .map(|p| p.pt())
}

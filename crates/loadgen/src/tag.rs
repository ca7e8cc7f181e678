//! The tag every synthetic RTP payload carries, so a receiver can tell who
//! sent it, from which source and simulcast layer, in which order and when.
//!
//! Layout (big-endian), [`TAG_LEN`] bytes, version 2:
//!
//! | bytes | what |
//! | --- | --- |
//! | 4 | magic `ACRD` |
//! | 1 | version ([`TAG_VERSION`]) |
//! | 16 | the sender's participant id |
//! | 1 | the source: 0 microphone, 1 camera, 2 screen |
//! | 1 | the simulcast layer, lowest first (0 `q`, 1 `h`, 2 `f`); 0 without simulcast |
//! | 8 | per-sender, per-source, per-layer sequence number |
//! | 8 | send time, nanoseconds since the UNIX epoch ([`now_ns`]) |
//!
//! then padding up to the payload's size. Version 1 was the same without the
//! layer byte ([`TAG_V1_LEN`] bytes); it is still read, as layer 0.
//!
//! An Opus payload is the tag itself; a VP8 payload starts with a one-byte VP8
//! payload descriptor (`0x10`: S bit set, partition 0), and on key frames a
//! ten-byte VP8 key-frame header with the frame's width and height follows
//! the descriptor before the tag, so a forwarder that looks for key frames
//! (and their sizes) finds them. [`decode_vp8`] also understands the longer
//! descriptors (picture id, TL0PICIDX, TID/KEYIDX) an SFU may write when it
//! rewrites them.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use accord_sfu_core::protocol::MediaSource;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The first bytes of every tag.
pub const MAGIC: [u8; 4] = *b"ACRD";
/// The layout's version.
pub const TAG_VERSION: u8 = 2;
/// Length of an encoded tag.
pub const TAG_LEN: usize = 4 + 1 + 16 + 1 + 1 + 8 + 8;
/// Length of a version 1 tag (no layer byte), still understood.
pub const TAG_V1_LEN: usize = TAG_LEN - 1;
/// The frame size written in key frames of a source without simulcast.
pub const DEFAULT_FRAME_SIZE: (u16, u16) = (640, 360);
/// The one-byte VP8 payload descriptor the bots write (S bit, partition 0).
pub const VP8_DESCRIPTOR: u8 = 0x10;
/// Length of the VP8 key-frame header written before the tag on key frames.
pub const VP8_KEYFRAME_HEADER_LEN: usize = 10;
/// Smallest VP8 payload [`encode_vp8`] writes (descriptor, key-frame header, tag).
pub const MIN_VP8_PAYLOAD: usize = 1 + VP8_KEYFRAME_HEADER_LEN + TAG_LEN;

/// Which of a participant's media sources a packet belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Source {
    /// The microphone (Opus).
    Microphone,
    /// The camera (VP8).
    Camera,
    /// The shared screen (VP8).
    Screen,
}

impl Source {
    /// The byte written in the tag.
    pub fn to_byte(self) -> u8 {
        match self {
            Source::Microphone => 0,
            Source::Camera => 1,
            Source::Screen => 2,
        }
    }

    /// The source a tag byte names, if any.
    pub fn from_byte(byte: u8) -> Option<Source> {
        match byte {
            0 => Some(Source::Microphone),
            1 => Some(Source::Camera),
            2 => Some(Source::Screen),
            _ => None,
        }
    }

    /// The name the signaling protocol uses (`microphone`, `camera`, `screen`).
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Microphone => "microphone",
            Source::Camera => "camera",
            Source::Screen => "screen",
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// The protocol's name for the same three sources: the tag needs its own type
// for the byte it writes, the signaling messages use the protocol's.
impl From<Source> for MediaSource {
    fn from(source: Source) -> MediaSource {
        match source {
            Source::Microphone => MediaSource::Microphone,
            Source::Camera => MediaSource::Camera,
            Source::Screen => MediaSource::Screen,
        }
    }
}

impl From<MediaSource> for Source {
    fn from(source: MediaSource) -> Source {
        match source {
            MediaSource::Microphone => Source::Microphone,
            MediaSource::Camera => Source::Camera,
            MediaSource::Screen => Source::Screen,
        }
    }
}

/// What a tag says about its packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tag {
    /// The sender's participant id.
    pub sender: Uuid,
    /// Which of their sources.
    pub source: Source,
    /// The simulcast layer, lowest first; 0 without simulcast.
    pub layer: u8,
    /// Per sender, source and layer, from 0, one per packet.
    pub seq: u64,
    /// When it was sent, nanoseconds since the UNIX epoch ([`now_ns`]).
    pub sent_ns: u64,
}

/// Why a payload holds no tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// Shorter than a tag (plus its descriptor).
    #[error("the payload is too short to hold a tag")]
    TooShort,
    /// The magic bytes are not there.
    #[error("the payload carries no tag")]
    NoMagic,
    /// A tag of another layout version.
    #[error("the tag's version {0} is not understood")]
    Version(u8),
    /// The source byte names no source.
    #[error("the tag's source byte {0} names no source")]
    Source(u8),
    /// The VP8 payload descriptor is malformed.
    #[error("the VP8 payload descriptor is malformed")]
    Descriptor,
}

impl Tag {
    /// The tag's bytes.
    pub fn to_bytes(&self) -> [u8; TAG_LEN] {
        let mut out = [0u8; TAG_LEN];
        out[0..4].copy_from_slice(&MAGIC);
        out[4] = TAG_VERSION;
        out[5..21].copy_from_slice(self.sender.as_bytes());
        out[21] = self.source.to_byte();
        out[22] = self.layer;
        out[23..31].copy_from_slice(&self.seq.to_be_bytes());
        out[31..39].copy_from_slice(&self.sent_ns.to_be_bytes());
        out
    }

    /// Reads a tag (version 2, or version 1 as layer 0) from the start of
    /// `bytes` (anything after it is padding).
    pub fn parse(bytes: &[u8]) -> Result<Tag, TagError> {
        let head = bytes.get(..5).ok_or(TagError::TooShort)?;
        if head[0..4] != MAGIC {
            return Err(TagError::NoMagic);
        }
        let (len, layer_at) = match head[4] {
            1 => (TAG_V1_LEN, None),
            2 => (TAG_LEN, Some(22)),
            other => return Err(TagError::Version(other)),
        };
        let head = bytes.get(..len).ok_or(TagError::TooShort)?;
        let mut sender = [0u8; 16];
        sender.copy_from_slice(&head[5..21]);
        let source = Source::from_byte(head[21]).ok_or(TagError::Source(head[21]))?;
        let layer = layer_at.map_or(0, |at| head[at]);
        let rest = &head[len - 16..];
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&rest[0..8]);
        let mut sent = [0u8; 8];
        sent.copy_from_slice(&rest[8..16]);
        Ok(Tag {
            sender: Uuid::from_bytes(sender),
            source,
            layer,
            seq: u64::from_be_bytes(seq),
            sent_ns: u64::from_be_bytes(sent),
        })
    }
}

/// Fills the padding after a tag: a cheap, non-constant pattern (so nothing
/// along the way can compress it away), derived from the sequence number.
fn pad(buf: &mut [u8], seed: u64) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for b in buf {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
}

/// An Opus payload of `size` bytes (at least [`TAG_LEN`]): the tag, then padding.
pub fn encode_opus(tag: &Tag, size: usize) -> Vec<u8> {
    let mut out = vec![0u8; size.max(TAG_LEN)];
    out[..TAG_LEN].copy_from_slice(&tag.to_bytes());
    pad(&mut out[TAG_LEN..], tag.seq);
    out
}

/// The ten-byte VP8 key-frame header of a `width` × `height` frame (RFC 6386
/// §9.1): the frame tag (P=0: a key frame, version 0, show_frame=1, first
/// partition size 0), the start code `9d 01 2a`, then the 14-bit width and
/// height, little-endian, without scaling.
pub fn vp8_keyframe_header(width: u16, height: u16) -> [u8; VP8_KEYFRAME_HEADER_LEN] {
    let [w0, w1] = (width & 0x3fff).to_le_bytes();
    let [h0, h1] = (height & 0x3fff).to_le_bytes();
    [0x10, 0x00, 0x00, 0x9d, 0x01, 0x2a, w0, w1, h0, h1]
}

/// A VP8 payload of `size` bytes (at least [`MIN_VP8_PAYLOAD`]): the payload
/// descriptor, on key frames (`keyframe`: the frame's width and height) a VP8
/// key-frame header, the tag, then padding.
pub fn encode_vp8(tag: &Tag, size: usize, keyframe: Option<(u16, u16)>) -> Vec<u8> {
    let mut out = vec![0u8; size.max(MIN_VP8_PAYLOAD)];
    out[0] = VP8_DESCRIPTOR;
    let mut at = 1;
    if let Some((width, height)) = keyframe {
        out[1..11].copy_from_slice(&vp8_keyframe_header(width, height));
        at += VP8_KEYFRAME_HEADER_LEN;
    }
    out[at..at + TAG_LEN].copy_from_slice(&tag.to_bytes());
    pad(&mut out[at + TAG_LEN..], tag.seq);
    out
}

/// Reads the tag of an Opus payload.
pub fn decode_opus(payload: &[u8]) -> Result<Tag, TagError> {
    Tag::parse(payload)
}

/// The length of the VP8 payload descriptor at the start of `payload` (RFC 7741 §4.2).
pub fn vp8_descriptor_len(payload: &[u8]) -> Result<usize, TagError> {
    let first = *payload.first().ok_or(TagError::TooShort)?;
    if first & 0x80 == 0 {
        return Ok(1);
    }
    let ext = *payload.get(1).ok_or(TagError::TooShort)?;
    let mut len = 2;
    if ext & 0x80 != 0 {
        // I: picture id, one byte or (M bit) two.
        let pid = *payload.get(len).ok_or(TagError::TooShort)?;
        len += if pid & 0x80 != 0 { 2 } else { 1 };
    }
    if ext & 0x40 != 0 {
        // L: TL0PICIDX.
        len += 1;
    }
    if ext & 0x30 != 0 {
        // T or K: TID/Y/KEYIDX.
        len += 1;
    }
    if ext & 0x0f != 0 {
        // Reserved bits must be zero.
        return Err(TagError::Descriptor);
    }
    Ok(len)
}

/// Reads the tag of a VP8 payload (after its descriptor and, on key frames,
/// the key-frame header).
pub fn decode_vp8(payload: &[u8]) -> Result<Tag, TagError> {
    let start = vp8_descriptor_len(payload)?;
    let body = payload.get(start..).ok_or(TagError::TooShort)?;
    if body.starts_with(&MAGIC) {
        return Tag::parse(body);
    }
    let is_keyframe_header = body.len() >= VP8_KEYFRAME_HEADER_LEN
        && body[0] & 0x01 == 0
        && body[3..6] == [0x9d, 0x01, 0x2a];
    if is_keyframe_header {
        return Tag::parse(&body[VP8_KEYFRAME_HEADER_LEN..]);
    }
    if body.len() < TAG_LEN {
        return Err(TagError::TooShort);
    }
    Err(TagError::NoMagic)
}

/// The width and height in a VP8 payload's key-frame header, if it starts a
/// key frame.
pub fn vp8_keyframe_size(payload: &[u8]) -> Option<(u16, u16)> {
    let start = vp8_descriptor_len(payload).ok()?;
    let header = payload.get(start..start + VP8_KEYFRAME_HEADER_LEN)?;
    if header[0] & 0x01 != 0 || header[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u16::from_le_bytes([header[6], header[7]]) & 0x3fff;
    let height = u16::from_le_bytes([header[8], header[9]]) & 0x3fff;
    Some((width, height))
}

struct Clock {
    wall_ns: u64,
    at: Instant,
}

fn clock() -> &'static Clock {
    static CLOCK: OnceLock<Clock> = OnceLock::new();
    CLOCK.get_or_init(|| Clock {
        wall_ns: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_nanos() as u64,
        at: Instant::now(),
    })
}

/// Nanoseconds since the UNIX epoch on one monotonic clock shared by every bot
/// in the process: the wall clock read once, advanced by a monotonic clock, so
/// latencies measured between bots of one process never go negative when the
/// wall clock is stepped.
pub fn now_ns() -> u64 {
    let c = clock();
    c.wall_ns.saturating_add(c.at.elapsed().as_nanos() as u64)
}

/// [`now_ns`] for a given [`Instant`] (after the clock's first use).
pub fn instant_ns(at: Instant) -> u64 {
    let c = clock();
    let since = at.saturating_duration_since(c.at).as_nanos() as u64;
    c.wall_ns.saturating_add(since)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tag(seq: u64) -> Tag {
        Tag {
            sender: Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
            source: Source::Camera,
            layer: 2,
            seq,
            sent_ns: 1_700_000_000_000_000_000 + seq,
        }
    }

    #[test]
    fn layout_is_as_documented() {
        let t = tag(7);
        let bytes = t.to_bytes();
        assert_eq!(&bytes[0..4], b"ACRD");
        assert_eq!(bytes[4], 2);
        assert_eq!(&bytes[5..21], t.sender.as_bytes());
        assert_eq!(bytes[21], 1);
        assert_eq!(bytes[22], 2);
        assert_eq!(&bytes[23..31], &7u64.to_be_bytes());
        assert_eq!(&bytes[31..39], &t.sent_ns.to_be_bytes());
        assert_eq!(bytes.len(), 39);
    }

    #[test]
    fn sources_are_named_as_the_protocol_names_them() {
        for source in [Source::Microphone, Source::Camera, Source::Screen] {
            let media = MediaSource::from(source);
            assert_eq!(Source::from(media), source);
            assert_eq!(
                serde_json::to_value(media).ok(),
                Some(serde_json::Value::from(source.as_str()))
            );
            assert_eq!(
                serde_json::to_value(source).ok(),
                serde_json::to_value(media).ok()
            );
        }
    }

    #[test]
    fn version_1_tags_are_read_as_layer_0() {
        let t = tag(7);
        let v2 = t.to_bytes();
        // Version 1: the same without the layer byte.
        let mut v1 = Vec::new();
        v1.extend_from_slice(&v2[0..4]);
        v1.push(1);
        v1.extend_from_slice(&v2[5..22]);
        v1.extend_from_slice(&v2[23..39]);
        assert_eq!(v1.len(), TAG_V1_LEN);
        assert_eq!(Tag::parse(&v1), Ok(Tag { layer: 0, ..t }));
        assert_eq!(Tag::parse(&v1[..TAG_V1_LEN - 1]), Err(TagError::TooShort));
        // A version 1 tag behind a VP8 descriptor.
        let mut vp8 = vec![VP8_DESCRIPTOR];
        vp8.extend_from_slice(&v1);
        assert_eq!(decode_vp8(&vp8), Ok(Tag { layer: 0, ..t }));
    }

    #[test]
    fn key_frames_carry_their_size() {
        let t = tag(3);
        for (w, h) in [(320, 180), (640, 360), (1280, 720), (16383, 1)] {
            let key = encode_vp8(&t, 1000, Some((w, h)));
            assert_eq!(vp8_keyframe_size(&key), Some((w, h)));
            assert_eq!(decode_vp8(&key), Ok(t));
        }
        // 640x360, as the bots always wrote before simulcast.
        assert_eq!(
            vp8_keyframe_header(640, 360),
            [0x10, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]
        );
        assert_eq!(vp8_keyframe_size(&encode_vp8(&t, 1000, None)), None);
        assert_eq!(vp8_keyframe_size(&[0x10, 0x10, 0x00]), None);
        // Behind a longer descriptor (X, I with a 15-bit picture id).
        let key = encode_vp8(&t, 200, Some((320, 180)));
        let mut rewritten = vec![0x90, 0x80, 0x81, 0x23];
        rewritten.extend_from_slice(&key[1..]);
        assert_eq!(vp8_keyframe_size(&rewritten), Some((320, 180)));
    }

    #[test]
    fn opus_and_vp8_payloads_round_trip() {
        let t = tag(42);
        let opus = encode_opus(&t, 100);
        assert_eq!(opus.len(), 100);
        assert_eq!(decode_opus(&opus), Ok(t));

        let delta = encode_vp8(&t, 1100, None);
        assert_eq!(delta.len(), 1100);
        assert_eq!(delta[0], VP8_DESCRIPTOR);
        assert_eq!(&delta[1..5], b"ACRD");
        assert_eq!(decode_vp8(&delta), Ok(t));

        let key = encode_vp8(&t, 1100, Some((640, 360)));
        assert_eq!(key[1] & 0x01, 0, "P bit clear: a key frame");
        assert_eq!(&key[4..7], &[0x9d, 0x01, 0x2a]);
        assert_eq!(decode_vp8(&key), Ok(t));

        // Too small a size still yields a whole tag.
        assert_eq!(decode_opus(&encode_opus(&t, 3)), Ok(t));
        assert_eq!(decode_vp8(&encode_vp8(&t, 3, Some((1, 1)))), Ok(t));
    }

    #[test]
    fn longer_vp8_descriptors_are_skipped() {
        let t = tag(9);
        let body = &encode_vp8(&t, 200, None)[1..];
        // X, I with a 15-bit picture id, L, T.
        let mut rewritten = vec![0x90, 0xe0, 0x81, 0x23, 0x05, 0x40];
        rewritten.extend_from_slice(body);
        assert_eq!(decode_vp8(&rewritten), Ok(t));
        // X, I with a 7-bit picture id only.
        let mut short_pid = vec![0x90, 0x80, 0x11];
        short_pid.extend_from_slice(body);
        assert_eq!(decode_vp8(&short_pid), Ok(t));
        // Reserved bits set: refused.
        let mut reserved = vec![0x90, 0x01];
        reserved.extend_from_slice(body);
        assert_eq!(decode_vp8(&reserved), Err(TagError::Descriptor));
    }

    #[test]
    fn short_and_foreign_payloads_are_refused() {
        let t = tag(1);
        let opus = encode_opus(&t, 100);
        assert_eq!(decode_opus(&[]), Err(TagError::TooShort));
        assert_eq!(decode_opus(&opus[..TAG_LEN - 1]), Err(TagError::TooShort));
        assert_eq!(decode_opus(&[0u8; 100]), Err(TagError::NoMagic));
        let mut version = opus.clone();
        version[4] = 3;
        assert_eq!(decode_opus(&version), Err(TagError::Version(3)));
        let mut source = opus.clone();
        source[21] = 9;
        assert_eq!(decode_opus(&source), Err(TagError::Source(9)));

        assert_eq!(decode_vp8(&[]), Err(TagError::TooShort));
        assert_eq!(decode_vp8(&[0x10]), Err(TagError::TooShort));
        assert_eq!(decode_vp8(&[0x90]), Err(TagError::TooShort));
        assert_eq!(decode_vp8(&[0x90, 0x80]), Err(TagError::TooShort));
        let vp8 = encode_vp8(&t, 100, None);
        assert_eq!(decode_vp8(&vp8[..TAG_LEN]), Err(TagError::TooShort));
        // A real VP8 inter frame (P bit set) is not a tag.
        let mut real = vec![0x10, 0x31, 0x02, 0x00];
        real.extend_from_slice(&[0xAB; 60]);
        assert_eq!(decode_vp8(&real), Err(TagError::NoMagic));
        // Opus decoding of a VP8 payload fails (the descriptor is in the way).
        assert_eq!(decode_opus(&vp8), Err(TagError::NoMagic));
    }

    #[test]
    fn the_clock_is_monotonic_and_near_the_wall_clock() {
        let a = now_ns();
        let b = now_ns();
        assert!(b >= a);
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        assert!(wall.abs_diff(b) < 5_000_000_000);
        let at = Instant::now();
        assert!(instant_ns(at) >= b);
    }

    proptest! {
        #[test]
        fn any_tag_round_trips(
            sender in any::<u128>(),
            source in 0u8..3,
            layer in any::<u8>(),
            seq in any::<u64>(),
            sent_ns in any::<u64>(),
            size in 0usize..1500,
            keyframe in proptest::option::of((0u16..16384, 0u16..16384)),
        ) {
            let t = Tag {
                sender: Uuid::from_u128(sender),
                source: Source::from_byte(source).unwrap_or(Source::Microphone),
                layer,
                seq,
                sent_ns,
            };
            prop_assert_eq!(Tag::parse(&t.to_bytes()), Ok(t));
            prop_assert_eq!(decode_opus(&encode_opus(&t, size)), Ok(t));
            let vp8 = encode_vp8(&t, size, keyframe);
            prop_assert_eq!(decode_vp8(&vp8), Ok(t));
            prop_assert_eq!(vp8_keyframe_size(&vp8), keyframe);
        }

        // Whatever arrives, decoding answers; it never panics.
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_opus(&bytes);
            let _ = decode_vp8(&bytes);
            let _ = vp8_keyframe_size(&bytes);
        }

        // Random bytes (without the magic) are never taken for a tag.
        #[test]
        fn random_payloads_are_untagged(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assume!(!bytes.windows(4).any(|w| w == MAGIC));
            prop_assert!(decode_opus(&bytes).is_err());
            prop_assert!(decode_vp8(&bytes).is_err());
        }
    }
}

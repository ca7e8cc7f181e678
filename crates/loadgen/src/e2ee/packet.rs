//! The bots' media frames with end-to-end encryption on: each synthetic
//! frame (one RTP payload: the bots never split a frame over packets) is
//! sealed as the browsers seal an encoded frame ([`super::frame`]), and only
//! what the SFU reads stays in clear.
//!
//! | source | on the wire |
//! | --- | --- |
//! | Opus | SFrame header, AES-GCM of the tag and its padding, GCM tag |
//! | VP8 key frame | payload descriptor, the 10-byte key-frame header, SFrame header, sealed rest |
//! | VP8 delta frame | payload descriptor, a 3-byte VP8 frame tag (P=1), SFrame header, sealed rest |
//!
//! The payload descriptor is the packetizer's, outside the encoded frame, as
//! in a browser; the 3 or 10 clear bytes are those the SFU's key-frame check
//! reads (crates/sfu-core/src/vp8.rs). The bots' tag (sender, source,
//! sequence, send time) is inside the sealed part, so a receiver learns it
//! only by decrypting. A payload is as long as without encryption whenever
//! the requested size leaves room for the SFrame header and GCM tag.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::frame::{
    decrypt_frame, encode_header, FrameError, FrameKey, FrameKind, ReceiveKey, BASE_KEY_BYTES,
    TAG_BYTES,
};
use crate::tag::{self, Tag, TagError};

/// The 3-byte VP8 frame tag of a delta frame (RFC 6386 §9.1): P=1 (not a key
/// frame), version 0, show_frame=1, first partition size 0.
pub const VP8_DELTA_FRAME_TAG: [u8; 3] = [0x11, 0x00, 0x00];

/// Why a received payload yielded no tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The frame could not be decrypted (and was dropped).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// No key at all is held for its sender (or the sender is unknown).
    #[error("no key is held for the sender")]
    NoSenderKey,
    /// It decrypted, but holds no tag: not a bot's frame.
    #[error("decrypted, but {0}")]
    Tag(#[from] TagError),
}

fn header_len(kid: u64, ctr: u64) -> Result<usize, FrameError> {
    Ok(encode_header(kid, ctr)?.len())
}

/// Padding after the tag so that `wire` bytes go out: what is left of `size`
/// after the fixed parts, never below the bare tag.
fn plain_len(size: usize, fixed: usize) -> usize {
    size.saturating_sub(fixed).max(tag::TAG_LEN)
}

/// An Opus payload of about `size` bytes: the tag and padding, sealed whole
/// under counter `ctr`.
pub fn seal_opus(key: &FrameKey, ctr: u64, t: &Tag, size: usize) -> Result<Vec<u8>, FrameError> {
    let fixed = header_len(key.kid(), ctr)? + TAG_BYTES;
    let frame = tag::encode_opus(t, plain_len(size, fixed));
    key.encrypt_frame(ctr, FrameKind::Audio, &frame)
}

/// A VP8 payload of about `size` bytes: the bots' one-byte payload
/// descriptor, then the frame (key-frame header of `keyframe`'s size, or a
/// delta frame tag; the tag; padding) sealed under counter `ctr`.
pub fn seal_vp8(
    key: &FrameKey,
    ctr: u64,
    t: &Tag,
    size: usize,
    keyframe: Option<(u16, u16)>,
) -> Result<Vec<u8>, FrameError> {
    let (kind, clear) = match keyframe {
        Some((w, h)) => (FrameKind::Key, tag::vp8_keyframe_header(w, h).to_vec()),
        None => (FrameKind::Delta, VP8_DELTA_FRAME_TAG.to_vec()),
    };
    let fixed = 1 + clear.len() + header_len(key.kid(), ctr)? + TAG_BYTES;
    let mut frame = clear;
    frame.extend_from_slice(&tag::encode_opus(t, plain_len(size, fixed)));
    let mut out = vec![tag::VP8_DESCRIPTOR];
    out.extend_from_slice(&key.encrypt_frame(ctr, kind, &frame)?);
    Ok(out)
}

/// Opens an Opus payload with the keys held for its sender and reads its tag.
pub fn open_opus(
    keys: Option<&mut HashMap<u64, ReceiveKey>>,
    payload: &[u8],
) -> Result<Tag, OpenError> {
    let keys = keys.ok_or(OpenError::NoSenderKey)?;
    let opened = decrypt_frame(keys, FrameKind::Audio, payload)?;
    Ok(Tag::parse(&opened.plain)?)
}

/// Opens a VP8 payload (any payload descriptor an SFU may write) with the
/// keys held for its sender and reads its tag.
pub fn open_vp8(
    keys: Option<&mut HashMap<u64, ReceiveKey>>,
    payload: &[u8],
) -> Result<Tag, OpenError> {
    let start = tag::vp8_descriptor_len(payload)?;
    let frame = payload.get(start..).ok_or(TagError::TooShort)?;
    let kind = if tag::vp8_keyframe_size(payload).is_some() {
        FrameKind::Key
    } else {
        FrameKind::Delta
    };
    let keys = keys.ok_or(OpenError::NoSenderKey)?;
    let opened = decrypt_frame(keys, kind, frame)?;
    let prefix = super::frame::clear_prefix_len(kind, frame.len());
    Ok(Tag::parse(&opened.plain[prefix..])?)
}

/// A bot's current sender key, shared by its publishers: the derived frame
/// key and the next counter. Counters are taken under the lock, so no two
/// frames of any source ever share one under a key (the nonce would repeat).
#[derive(Debug, Default)]
pub struct Sealer {
    current: Mutex<Option<(FrameKey, u64)>>,
    unsent: AtomicU64,
}

impl Sealer {
    /// Uses `(generation, base)` from now on (its counters from 0), or
    /// nothing (`None`: in the lobby, where frames are dropped). The same
    /// generation again changes nothing.
    pub fn set(&self, key: Option<(u32, [u8; BASE_KEY_BYTES])>) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        match key {
            None => *current = None,
            Some((generation, _))
                if current
                    .as_ref()
                    .is_some_and(|(k, _)| k.kid() == u64::from(generation)) => {}
            Some((generation, base)) => {
                *current = Some((FrameKey::derive(&base, u64::from(generation)), 0));
            }
        }
    }

    /// The key to seal the next frame with and its counter; `None` without
    /// a key (the frame is then dropped, and counted in [`Sealer::unsent`]).
    pub fn next(&self) -> Option<(FrameKey, u64)> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let Some((key, ctr)) = current.as_mut() else {
            self.unsent.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let taken = *ctr;
        *ctr += 1;
        Some((key.clone(), taken))
    }

    /// Frames asked for while no key was held.
    pub fn unsent(&self) -> u64 {
        self.unsent.load(Ordering::Relaxed)
    }

    /// The key id sealed with now, if any.
    pub fn kid(&self) -> Option<u64> {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        current.as_ref().map(|(k, _)| k.kid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tag::Source;
    use uuid::Uuid;

    fn t(source: Source, seq: u64) -> Tag {
        Tag {
            sender: Uuid::from_u128(0xACC0_4D00_0000_0000_0000_0000_0000_0001),
            source,
            layer: 1,
            seq,
            sent_ns: 1_800_000_000_000_000_000 + seq,
        }
    }

    fn held(base: &[u8; 16], kid: u64) -> HashMap<u64, ReceiveKey> {
        HashMap::from([(kid, ReceiveKey::new(base, kid))])
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn frames_round_trip_at_their_size_with_nothing_of_the_tag_in_clear() {
        let base = [7u8; 16];
        let key = FrameKey::derive(&base, 3);
        let mut keys = held(&base, 3);
        for (ctr, size) in [(0u64, 100usize), (9, 1100), (70_000, 300)] {
            let audio = t(Source::Microphone, ctr);
            let sealed = seal_opus(&key, ctr, &audio, size).expect("sealed");
            assert_eq!(sealed.len(), size);
            assert!(!contains(&sealed, &tag::MAGIC));
            assert!(!contains(&sealed, audio.sender.as_bytes()));
            assert_eq!(open_opus(Some(&mut keys), &sealed), Ok(audio));

            let video = t(Source::Camera, ctr + 1);
            let key_frame =
                seal_vp8(&key, ctr + 1, &video, size, Some((640, 360))).expect("sealed");
            assert_eq!(key_frame.len(), size);
            // What the SFU reads stays readable: a key frame, its size.
            assert_eq!(tag::vp8_keyframe_size(&key_frame), Some((640, 360)));
            assert!(!contains(&key_frame, &tag::MAGIC));
            assert_eq!(open_vp8(Some(&mut keys), &key_frame), Ok(video));

            let video = t(Source::Camera, ctr + 2);
            let delta = seal_vp8(&key, ctr + 2, &video, size, None).expect("sealed");
            assert_eq!(delta.len(), size);
            assert_eq!(&delta[..4], &[0x10, 0x11, 0x00, 0x00]);
            assert_eq!(tag::vp8_keyframe_size(&delta), None);
            assert!(!contains(&delta, &tag::MAGIC));
            assert_eq!(open_vp8(Some(&mut keys), &delta), Ok(video));
        }
        // Too small a size still carries the whole tag.
        let tiny = seal_opus(&key, 100, &t(Source::Microphone, 100), 1).expect("sealed");
        assert_eq!(tiny.len(), 1 + 1 + tag::TAG_LEN + TAG_BYTES);
    }

    #[test]
    fn a_descriptor_rewritten_by_the_sfu_still_opens() {
        let base = [1u8; 16];
        let key = FrameKey::derive(&base, 1);
        let video = t(Source::Camera, 5);
        let sealed = seal_vp8(&key, 5, &video, 400, Some((320, 180))).expect("sealed");
        // X, I (15-bit picture id), L: what the SFU writes for a browser.
        let mut rewritten = vec![0x90, 0xC0, 0x81, 0x23, 0x07];
        rewritten.extend_from_slice(&sealed[1..]);
        assert_eq!(open_vp8(Some(&mut held(&base, 1)), &rewritten), Ok(video));
    }

    #[test]
    fn other_keys_replays_and_changed_bytes_are_refused() {
        let base = [2u8; 16];
        let key = FrameKey::derive(&base, 4);
        let sealed = seal_vp8(&key, 0, &t(Source::Camera, 0), 200, None).expect("sealed");
        assert_eq!(open_vp8(None, &sealed), Err(OpenError::NoSenderKey));
        assert_eq!(
            open_vp8(Some(&mut held(&base, 5)), &sealed),
            Err(OpenError::Frame(FrameError::UnknownKey))
        );
        assert_eq!(
            open_vp8(Some(&mut held(&[3u8; 16], 4)), &sealed),
            Err(OpenError::Frame(FrameError::Forged))
        );
        let mut keys = held(&base, 4);
        assert!(open_vp8(Some(&mut keys), &sealed).is_ok());
        assert_eq!(
            open_vp8(Some(&mut keys), &sealed),
            Err(OpenError::Frame(FrameError::Replayed))
        );
        // The clear prefix is authenticated too: made to look like a key frame, it fails.
        let mut changed = sealed.clone();
        changed[1] = 0x10;
        assert!(open_vp8(Some(&mut held(&base, 4)), &changed).is_err());
        // A clear bot frame is no encrypted one.
        let clear = tag::encode_opus(&t(Source::Microphone, 1), 100);
        assert!(open_opus(Some(&mut held(&base, 4)), &clear).is_err());
    }

    #[test]
    fn the_sealer_counts_per_key_and_restarts_with_a_new_one() {
        let sealer = Sealer::default();
        assert!(sealer.next().is_none());
        sealer.set(Some((1, [1u8; 16])));
        let counters: Vec<u64> = (0..3)
            .filter_map(|_| sealer.next().map(|(_, c)| c))
            .collect();
        assert_eq!(counters, vec![0, 1, 2]);
        // The same generation again: the counter goes on.
        sealer.set(Some((1, [1u8; 16])));
        assert_eq!(sealer.next().map(|(k, c)| (k.kid(), c)), Some((1, 3)));
        sealer.set(Some((2, [9u8; 16])));
        assert_eq!(sealer.next().map(|(k, c)| (k.kid(), c)), Some((2, 0)));
        sealer.set(None);
        assert!(sealer.next().is_none());
        assert_eq!(sealer.kid(), None);
        assert_eq!(sealer.unsent(), 2);
    }
}

//! SFrame (RFC 9605) for encoded media frames, byte for byte as the browsers
//! do it (portals/shared/src/live/e2ee/frame.ts): a clear prefix the SFU
//! reads, the SFrame header (key id and counter), then AES-128-GCM of the
//! rest with the header and the prefix as additional data. Cipher suite
//! AES_128_GCM_SHA256_128 (0x0004).

use std::collections::{HashMap, HashSet};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

/// RFC 9605 cipher suite AES_128_GCM_SHA256_128.
pub const CIPHER_SUITE: u16 = 0x0004;
/// Nonce length (Nn), bytes.
const NN: usize = 12;
/// Authentication tag length (Nt), bytes.
pub const TAG_BYTES: usize = 16;
/// Length of a sender's base key, bytes.
pub const BASE_KEY_BYTES: usize = 16;
/// The largest key id or counter the browsers read (JavaScript's safe integers).
pub const MAX_VALUE: u64 = (1 << 53) - 1;

/// What kind of frame: video key or delta frame (VP8), or audio (Opus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A VP8 key frame: 10 bytes in clear (frame tag, start code, size).
    Key,
    /// A VP8 delta frame: its 3-byte frame tag in clear.
    Delta,
    /// Opus: nothing in clear (the audio level is a header extension).
    Audio,
}

/// How many leading bytes stay in clear: what the SFU reads
/// (crates/sfu-core/src/vp8.rs), never more than the frame has.
pub fn clear_prefix_len(kind: FrameKind, length: usize) -> usize {
    let wanted = match kind {
        FrameKind::Key => 10,
        FrameKind::Delta => 3,
        FrameKind::Audio => 0,
    };
    wanted.min(length)
}

/// Why a frame was not encrypted or decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Too short, or a header value the browsers cannot read.
    #[error("the frame was dropped: malformed")]
    Malformed,
    /// No key of that id is held for its sender.
    #[error("the frame was dropped: unknown-key")]
    UnknownKey,
    /// Its counter was already accepted under that key.
    #[error("the frame was dropped: replayed")]
    Replayed,
    /// The tag does not verify: a changed prefix, header or body, or another key.
    #[error("the frame was dropped: forged")]
    Forged,
}

/// The fewest big-endian bytes of `value` (at least one).
fn minimal_be(value: u64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    bytes[skip..].to_vec()
}

/// The SFrame header (RFC 9605 §4.3): a config byte `X K K K Y C C C`, then
/// the key id and the counter, each under 8 in the config byte itself,
/// otherwise in its fewest big-endian bytes. Values above [`MAX_VALUE`] are
/// refused, as the browsers could not read them.
pub fn encode_header(kid: u64, ctr: u64) -> Result<Vec<u8>, FrameError> {
    if kid > MAX_VALUE || ctr > MAX_VALUE {
        return Err(FrameError::Malformed);
    }
    let field = |v: u64| -> (u8, Vec<u8>) {
        if v < 8 {
            (v as u8, Vec::new())
        } else {
            let bytes = minimal_be(v);
            (0x08 | (bytes.len() as u8 - 1), bytes)
        }
    };
    let (k, kid_bytes) = field(kid);
    let (c, ctr_bytes) = field(ctr);
    let mut out = Vec::with_capacity(1 + kid_bytes.len() + ctr_bytes.len());
    out.push(k << 4 | c);
    out.extend_from_slice(&kid_bytes);
    out.extend_from_slice(&ctr_bytes);
    Ok(out)
}

/// A parsed header: the key id, the counter, and how many bytes it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Key id (the sender key's generation).
    pub kid: u64,
    /// Counter.
    pub ctr: u64,
    /// Bytes the header took.
    pub len: usize,
}

/// Reads the header at `offset`; `None` when the frame ends inside it or a
/// value is longer than 7 bytes or above [`MAX_VALUE`] (as the browsers).
pub fn decode_header(frame: &[u8], offset: usize) -> Option<Header> {
    let config = *frame.get(offset)?;
    let mut at = offset + 1;
    let mut field = |nibble: u8| -> Option<u64> {
        if nibble & 0x08 == 0 {
            return Some(u64::from(nibble & 0x07));
        }
        let len = usize::from(nibble & 0x07) + 1;
        if len > 7 || at + len > frame.len() {
            return None;
        }
        let v = frame[at..at + len]
            .iter()
            .fold(0u64, |v, b| v << 8 | u64::from(*b));
        at += len;
        (v <= MAX_VALUE).then_some(v)
    };
    let kid = field(config >> 4)?;
    let ctr = field(config & 0x0f)?;
    Some(Header {
        kid,
        ctr,
        len: at - offset,
    })
}

/// A sender key ready for frames: the AES key, the salt and their key id.
#[derive(Clone)]
pub struct FrameKey {
    kid: u64,
    cipher: Aes128Gcm,
    salt: [u8; NN],
}

impl std::fmt::Debug for FrameKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn label(prefix: &str, kid: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + 10);
    out.extend_from_slice(prefix.as_bytes());
    out.extend_from_slice(&kid.to_be_bytes());
    out.extend_from_slice(&CIPHER_SUITE.to_be_bytes());
    out
}

impl FrameKey {
    /// RFC 9605 §4.4.2: `sframe_secret = HKDF-Extract("", base_key)`, then the
    /// key and salt by HKDF-Expand with "SFrame 1.0 Secret key " / "… salt "
    /// followed by the key id (8 bytes) and the cipher suite (2 bytes).
    pub fn derive(base_key: &[u8; BASE_KEY_BYTES], kid: u64) -> FrameKey {
        let hk = Hkdf::<Sha256>::new(Some(&[]), base_key);
        let mut key = [0u8; 16];
        let mut salt = [0u8; NN];
        // Both lengths are far below HKDF-SHA256's 8160-byte limit.
        let _ = hk.expand(&label("SFrame 1.0 Secret key ", kid), &mut key);
        let _ = hk.expand(&label("SFrame 1.0 Secret salt ", kid), &mut salt);
        FrameKey {
            kid,
            cipher: Aes128Gcm::new(&key.into()),
            salt,
        }
    }

    /// The key id.
    pub fn kid(&self) -> u64 {
        self.kid
    }

    /// The salt (for the RFC's test vectors).
    pub fn salt(&self) -> [u8; NN] {
        self.salt
    }

    /// The nonce for counter `ctr`: the salt XOR the counter, big-endian over 12 bytes.
    pub fn nonce(&self, ctr: u64) -> [u8; NN] {
        let mut out = self.salt;
        for (o, c) in out[NN - 8..].iter_mut().zip(ctr.to_be_bytes()) {
            *o ^= c;
        }
        out
    }

    /// RFC 9605 §4.4.3: the header, then the ciphertext and tag; the AAD is
    /// the header followed by `metadata`.
    pub fn seal(&self, ctr: u64, metadata: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, FrameError> {
        let mut out = encode_header(self.kid, ctr)?;
        let mut aad = out.clone();
        aad.extend_from_slice(metadata);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&self.nonce(ctr)),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| FrameError::Malformed)?;
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Encrypts one frame with counter `ctr` (never used twice with a key):
    /// the clear prefix, then [`FrameKey::seal`] with the prefix as metadata.
    pub fn encrypt_frame(
        &self,
        ctr: u64,
        kind: FrameKind,
        frame: &[u8],
    ) -> Result<Vec<u8>, FrameError> {
        let prefix = &frame[..clear_prefix_len(kind, frame.len())];
        let mut out = prefix.to_vec();
        out.extend_from_slice(&self.seal(ctr, prefix, &frame[prefix.len()..])?);
        Ok(out)
    }
}

/// Counters already accepted under one key: the highest, and which of the
/// `size` below it were seen. A counter at or below the window's floor, or
/// seen before, is a replay.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    highest: Option<u64>,
    seen: HashSet<u64>,
    size: u64,
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow::new(1024)
    }
}

impl ReplayWindow {
    /// A window of `size` counters below the highest accepted.
    pub fn new(size: u64) -> ReplayWindow {
        ReplayWindow {
            highest: None,
            seen: HashSet::new(),
            size,
        }
    }

    /// Whether `ctr` is new (without recording it).
    pub fn fresh(&self, ctr: u64) -> bool {
        match self.highest {
            None => true,
            Some(h) if ctr > h => true,
            Some(h) => ctr + self.size > h && !self.seen.contains(&ctr),
        }
    }

    /// Records `ctr` as accepted.
    pub fn accept(&mut self, ctr: u64) {
        self.seen.insert(ctr);
        if self.highest.is_none_or(|h| ctr > h) {
            self.highest = Some(ctr);
            if self.seen.len() as u64 > self.size * 2 {
                let size = self.size;
                self.seen.retain(|c| c + size > ctr);
            }
        }
    }
}

/// A key a receiver holds for one sender: the frame key and the counters it accepted.
#[derive(Debug, Clone)]
pub struct ReceiveKey {
    /// The derived key.
    pub frame_key: FrameKey,
    /// Counters accepted under it.
    pub replay: ReplayWindow,
}

impl ReceiveKey {
    /// A key derived from `base_key` for key id `kid`, nothing accepted yet.
    pub fn new(base_key: &[u8; BASE_KEY_BYTES], kid: u64) -> ReceiveKey {
        ReceiveKey {
            frame_key: FrameKey::derive(base_key, kid),
            replay: ReplayWindow::default(),
        }
    }
}

/// A decrypted frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Its key id.
    pub kid: u64,
    /// Its counter.
    pub ctr: u64,
    /// The frame as it was before encryption (prefix included).
    pub plain: Vec<u8>,
}

/// Decrypts one frame with the keys held for its sender (by key id); an
/// error when it must be dropped (too short, unknown key id, counter already
/// used, or the tag does not verify).
pub fn decrypt_frame(
    keys: &mut HashMap<u64, ReceiveKey>,
    kind: FrameKind,
    frame: &[u8],
) -> Result<Opened, FrameError> {
    let prefix_len = clear_prefix_len(kind, frame.len());
    let header = decode_header(frame, prefix_len).ok_or(FrameError::Malformed)?;
    if frame.len() < prefix_len + header.len + TAG_BYTES {
        return Err(FrameError::Malformed);
    }
    let held = keys.get_mut(&header.kid).ok_or(FrameError::UnknownKey)?;
    if !held.replay.fresh(header.ctr) {
        return Err(FrameError::Replayed);
    }
    let body_start = prefix_len + header.len;
    let mut aad = frame[prefix_len..body_start].to_vec();
    aad.extend_from_slice(&frame[..prefix_len]);
    let body = held
        .frame_key
        .cipher
        .decrypt(
            Nonce::from_slice(&held.frame_key.nonce(header.ctr)),
            Payload {
                msg: &frame[body_start..],
                aad: &aad,
            },
        )
        .map_err(|_| FrameError::Forged)?;
    held.replay.accept(header.ctr);
    let mut plain = frame[..prefix_len].to_vec();
    plain.extend_from_slice(&body);
    Ok(Opened {
        kid: header.kid,
        ctr: header.ctr,
        plain,
    })
}

// ---- RED (RFC 2198) audio ------------------------------------------------
//
// The SFU reads RED headers to give receivers without RED the primary block
// alone (crates/sfu-core/src/red.rs), so the headers stay in clear and each
// block is sealed on its own.

/// One RED block: payload type, timestamp offset (redundant blocks) and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedBlock {
    /// Payload type (7 bits).
    pub pt: u8,
    /// Timestamp offset (14 bits); `None` for the primary block.
    pub offset: Option<u16>,
    /// The block's bytes.
    pub data: Vec<u8>,
}

/// The blocks of a RED payload, primary last; `None` when it is not well-formed.
pub fn parse_red(payload: &[u8]) -> Option<Vec<RedBlock>> {
    let mut headers: Vec<(u8, Option<u16>, Option<usize>)> = Vec::new();
    let mut at = 0;
    loop {
        let first = *payload.get(at)?;
        if first & 0x80 == 0 {
            headers.push((first & 0x7f, None, None));
            at += 1;
            break;
        }
        if at + 4 > payload.len() {
            return None;
        }
        let (b1, b2, b3) = (payload[at + 1], payload[at + 2], payload[at + 3]);
        let offset = u16::from(b1) << 6 | u16::from(b2 >> 2);
        let length = usize::from(b2 & 0x03) << 8 | usize::from(b3);
        headers.push((first & 0x7f, Some(offset), Some(length)));
        at += 4;
    }
    let mut blocks = Vec::with_capacity(headers.len());
    for (pt, offset, length) in headers {
        let length = length.unwrap_or(payload.len().saturating_sub(at));
        if at + length > payload.len() || (offset.is_none() && length == 0) {
            return None;
        }
        blocks.push(RedBlock {
            pt,
            offset,
            data: payload[at..at + length].to_vec(),
        });
        at += length;
    }
    Some(blocks)
}

/// A RED payload of `blocks` (primary last); `None` when there is no block or
/// a redundant block is too long for its 10-bit length.
pub fn build_red(blocks: &[RedBlock]) -> Option<Vec<u8>> {
    let (primary, redundant) = blocks.split_last()?;
    let mut out = Vec::new();
    for b in redundant {
        let offset = b.offset?;
        if b.data.len() > 1023 {
            return None;
        }
        let len = b.data.len();
        out.extend_from_slice(&[
            0x80 | b.pt,
            ((offset >> 6) & 0xff) as u8,
            (((offset & 0x3f) << 2) as u8) | (len >> 8) as u8,
            (len & 0xff) as u8,
        ]);
    }
    out.push(primary.pt & 0x7f);
    for b in blocks {
        out.extend_from_slice(&b.data);
    }
    Some(out)
}

/// Seals each block of a RED payload, each under its own counter from
/// `next_ctr` in block order, keeping the headers in clear. A redundant block
/// that would no longer fit its length field is left out. `Ok(None)` when
/// the payload is not RED.
pub fn encrypt_red(
    key: &FrameKey,
    mut next_ctr: impl FnMut() -> u64,
    payload: &[u8],
) -> Result<Option<Vec<u8>>, FrameError> {
    let Some(blocks) = parse_red(payload) else {
        return Ok(None);
    };
    let mut sealed = Vec::with_capacity(blocks.len());
    for b in blocks {
        sealed.push(RedBlock {
            data: key.seal(next_ctr(), &[], &b.data)?,
            ..b
        });
    }
    let last = sealed.len() - 1;
    let kept: Vec<RedBlock> = sealed
        .into_iter()
        .enumerate()
        .filter(|(i, b)| *i == last || b.data.len() <= 1023)
        .map(|(_, b)| b)
        .collect();
    Ok(build_red(&kept))
}

/// Opens each block of a sealed RED payload; a redundant block that fails is
/// left out, a primary that fails fails the frame.
pub fn decrypt_red(
    keys: &mut HashMap<u64, ReceiveKey>,
    payload: &[u8],
) -> Result<Vec<u8>, FrameError> {
    let blocks = parse_red(payload).ok_or(FrameError::Malformed)?;
    let Some((primary, redundant)) = blocks.split_last() else {
        return Err(FrameError::Malformed);
    };
    let mut opened = Vec::with_capacity(blocks.len());
    for b in redundant {
        // A copy of an earlier frame: the primary matters; a failed copy is dropped.
        if let Ok(o) = decrypt_frame(keys, FrameKind::Audio, &b.data) {
            opened.push(RedBlock {
                data: o.plain,
                ..b.clone()
            });
        }
    }
    let o = decrypt_frame(keys, FrameKind::Audio, &primary.data)?;
    opened.push(RedBlock {
        data: o.plain,
        ..primary.clone()
    });
    build_red(&opened).ok_or(FrameError::Malformed)
}

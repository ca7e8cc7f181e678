//! Segmented AES-256-GCM, in the STREAM construction (Hoang, Reyhanitabar,
//! Rogaway, Vizár 2015) that age and Tink's streaming AEAD use.
//!
//! An object is a 16-byte header followed by segments. Every segment but the
//! last holds exactly [`SEGMENT_LEN`] bytes of plaintext; the last holds 0 to
//! [`SEGMENT_LEN`] bytes. Each is sealed with the object's data key under the
//! nonce `prefix (7 bytes) || index (u32, big endian) || last flag (1 byte)`,
//! the header as associated data. So:
//!
//! - a segment moved to another position fails (its index is in its nonce);
//! - an object cut at a segment boundary fails (the new last segment was not
//!   sealed as last), as does one with a segment appended after the last;
//! - a segment from another object fails (another data key, another prefix);
//! - a changed header fails (it is every segment's associated data).
//!
//! Encryption and decryption hold one segment at a time, so an object of any
//! size passes through in constant memory.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use bytes::BufMut;
use rand::RngCore;
use zeroize::Zeroizing;

/// Plaintext bytes per segment (64 KiB, as in age).
pub const SEGMENT_LEN: usize = 64 * 1024;
/// The GCM tag that follows each segment's ciphertext.
pub const TAG_LEN: usize = 16;
/// The header: magic, format version, segment length, nonce prefix.
pub const HEADER_LEN: usize = 16;
const MAGIC: &[u8; 4] = b"ACV1";
const FORMAT: u8 = 1;
const PREFIX_LEN: usize = 7;

/// Why ciphertext was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StreamError {
    /// The header is not this format's.
    #[error("not a vault object (bad header)")]
    BadHeader,
    /// A segment failed authentication: tampered, reordered, swapped,
    /// truncated, or under another key.
    #[error("segment {0} failed authentication")]
    Segment(u32),
    /// The object ended before its header or first segment.
    #[error("the object is truncated")]
    Truncated,
    /// More than 2^32 segments.
    #[error("the object is too large for one key")]
    TooLong,
}

/// A document version's 256-bit data key. Zeroed when dropped.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// Wraps raw key bytes; `None` unless there are exactly 32.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(DataKey(Zeroizing::new(arr)))
    }

    /// A fresh random key (the local key service and tests).
    pub fn random() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(k.as_mut());
        DataKey(k)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn aead(&self) -> LessSafeKey {
        // 32 bytes is always a valid AES-256 key.
        let unbound = UnboundKey::new(&AES_256_GCM, self.0.as_ref())
            .unwrap_or_else(|_| unreachable!("AES-256 takes 32-byte keys"));
        LessSafeKey::new(unbound)
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

fn nonce(prefix: &[u8; PREFIX_LEN], index: u32, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[..PREFIX_LEN].copy_from_slice(prefix);
    n[PREFIX_LEN..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

/// The ciphertext length of `plain` plaintext bytes.
pub fn ciphertext_len(plain: u64) -> u64 {
    let seg = SEGMENT_LEN as u64;
    // Full segments before the last, then the last (possibly empty) one.
    let full = if plain == 0 { 0 } else { (plain - 1) / seg };
    HEADER_LEN as u64 + full * (seg + TAG_LEN as u64) + (plain - full * seg) + TAG_LEN as u64
}

/// The plaintext length a well-formed object of `cipher` bytes holds, or
/// `None` when no plaintext length encrypts to that many bytes.
pub fn plaintext_len(cipher: u64) -> Option<u64> {
    let body = cipher.checked_sub((HEADER_LEN + TAG_LEN) as u64)?;
    let per = (SEGMENT_LEN + TAG_LEN) as u64;
    let full = body / per;
    let rest = body % per;
    // The last segment is 0..=SEGMENT_LEN bytes plus its tag, which we took
    // off already: a remainder of exactly SEGMENT_LEN means one full last
    // segment; a remainder in (SEGMENT_LEN, per) is impossible.
    let (full, last) = if rest == 0 && full > 0 {
        (full - 1, SEGMENT_LEN as u64)
    } else if rest <= SEGMENT_LEN as u64 {
        (full, rest)
    } else {
        return None;
    };
    let plain = full * SEGMENT_LEN as u64 + last;
    (ciphertext_len(plain) == cipher).then_some(plain)
}

/// Parses a header: `Ok` when the bytes start like an object of this format.
pub fn check_header(bytes: &[u8]) -> Result<(), StreamError> {
    parse_header(bytes).map(|_| ())
}

fn parse_header(bytes: &[u8]) -> Result<[u8; PREFIX_LEN], StreamError> {
    if bytes.len() < HEADER_LEN {
        return Err(StreamError::Truncated);
    }
    let seg = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
    if &bytes[..4] != MAGIC || bytes[4] != FORMAT || seg as usize != SEGMENT_LEN {
        return Err(StreamError::BadHeader);
    }
    let mut prefix = [0u8; PREFIX_LEN];
    prefix.copy_from_slice(&bytes[9..HEADER_LEN]);
    Ok(prefix)
}

/// Encrypts a stream of plaintext chunks into an object.
pub struct Encryptor {
    key: LessSafeKey,
    header: [u8; HEADER_LEN],
    prefix: [u8; PREFIX_LEN],
    index: u32,
    pending: Vec<u8>,
    header_out: bool,
}

impl std::fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryptor")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl Encryptor {
    /// Starts an object under `key` with a fresh random nonce prefix.
    pub fn new(key: &DataKey) -> Self {
        let mut prefix = [0u8; PREFIX_LEN];
        rand::rngs::OsRng.fill_bytes(&mut prefix);
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(MAGIC);
        header[4] = FORMAT;
        header[5..9].copy_from_slice(&(SEGMENT_LEN as u32).to_be_bytes());
        header[9..].copy_from_slice(&prefix);
        Encryptor {
            key: key.aead(),
            header,
            prefix,
            index: 0,
            pending: Vec::with_capacity(SEGMENT_LEN + TAG_LEN),
            header_out: false,
        }
    }

    fn seal(&mut self, last: bool, out: &mut impl BufMut) -> Result<(), StreamError> {
        let n = nonce(&self.prefix, self.index, last);
        self.key
            .seal_in_place_append_tag(n, Aad::from(self.header), &mut self.pending)
            .map_err(|_| StreamError::Segment(self.index))?;
        out.put_slice(&self.pending);
        self.pending.clear();
        self.index = self.index.checked_add(1).ok_or(StreamError::TooLong)?;
        Ok(())
    }

    /// Feeds plaintext; appends whatever ciphertext is complete to `out`
    /// (a `Vec<u8>`, or the `BytesMut` an upload hands to its store).
    pub fn update(&mut self, mut data: &[u8], out: &mut impl BufMut) -> Result<(), StreamError> {
        if !self.header_out {
            out.put_slice(&self.header);
            self.header_out = true;
        }
        while !data.is_empty() {
            // A full segment is sealed only once more data proves it is not the last.
            if self.pending.len() == SEGMENT_LEN {
                self.seal(false, out)?;
            }
            let take = (SEGMENT_LEN - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    /// Seals the last segment and appends it (and the header, for an empty object).
    pub fn finish(mut self, out: &mut impl BufMut) -> Result<(), StreamError> {
        if !self.header_out {
            out.put_slice(&self.header);
        }
        self.seal(true, out)
    }
}

/// Decrypts an object given as a stream of ciphertext chunks.
pub struct Decryptor {
    key: LessSafeKey,
    header: Option<([u8; HEADER_LEN], [u8; PREFIX_LEN])>,
    index: u32,
    pending: Vec<u8>,
}

impl std::fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryptor")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

const SEALED_LEN: usize = SEGMENT_LEN + TAG_LEN;

impl Decryptor {
    /// Starts reading an object sealed under `key`.
    pub fn new(key: &DataKey) -> Self {
        Decryptor {
            key: key.aead(),
            header: None,
            index: 0,
            pending: Vec::with_capacity(SEALED_LEN + HEADER_LEN),
        }
    }

    fn open(&mut self, len: usize, last: bool, out: &mut Vec<u8>) -> Result<(), StreamError> {
        let (header, prefix) = self.header.ok_or(StreamError::Truncated)?;
        let n = nonce(&prefix, self.index, last);
        let plain = self
            .key
            .open_in_place(n, Aad::from(header), &mut self.pending[..len])
            .map_err(|_| StreamError::Segment(self.index))?;
        out.extend_from_slice(plain);
        self.pending.drain(..len);
        self.index = self.index.checked_add(1).ok_or(StreamError::TooLong)?;
        Ok(())
    }

    /// Feeds ciphertext; appends whatever plaintext is authenticated to `out`.
    /// A segment is released only once the next byte proves it is not the last.
    pub fn update(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<(), StreamError> {
        while !data.is_empty() {
            if self.header.is_none() {
                let take = (HEADER_LEN - self.pending.len()).min(data.len());
                self.pending.extend_from_slice(&data[..take]);
                data = &data[take..];
                if self.pending.len() == HEADER_LEN {
                    let prefix = parse_header(&self.pending)?;
                    let mut header = [0u8; HEADER_LEN];
                    header.copy_from_slice(&self.pending);
                    self.header = Some((header, prefix));
                    self.pending.clear();
                }
                continue;
            }
            if self.pending.len() == SEALED_LEN {
                self.open(SEALED_LEN, false, out)?;
            }
            let take = (SEALED_LEN - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    /// Opens the last segment. Fails when the object was cut short.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), StreamError> {
        if self.header.is_none() || self.pending.len() < TAG_LEN {
            return Err(StreamError::Truncated);
        }
        let len = self.pending.len();
        self.open(len, true, out)
    }
}

/// Encrypts `plain` in one go (tests, small objects).
pub fn seal_all(key: &DataKey, plain: &[u8]) -> Result<Vec<u8>, StreamError> {
    let mut out = Vec::with_capacity(ciphertext_len(plain.len() as u64) as usize);
    let mut enc = Encryptor::new(key);
    enc.update(plain, &mut out)?;
    enc.finish(&mut out)?;
    Ok(out)
}

/// Decrypts a whole object in one go (tests, small objects).
pub fn open_all(key: &DataKey, cipher: &[u8]) -> Result<Vec<u8>, StreamError> {
    let mut out = Vec::with_capacity(cipher.len());
    let mut dec = Decryptor::new(key);
    dec.update(cipher, &mut out)?;
    dec.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn seg(i: usize) -> std::ops::Range<usize> {
        let start = HEADER_LEN + i * SEALED_LEN;
        start..start + SEALED_LEN
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn round_trips_at_segment_edges() {
        let key = DataKey::random();
        for len in [
            0,
            1,
            SEGMENT_LEN - 1,
            SEGMENT_LEN,
            SEGMENT_LEN + 1,
            3 * SEGMENT_LEN,
            3 * SEGMENT_LEN + 7,
        ] {
            let plain = sample(len);
            let sealed = seal_all(&key, &plain).unwrap();
            assert_eq!(sealed.len() as u64, ciphertext_len(len as u64), "len {len}");
            assert_eq!(plaintext_len(sealed.len() as u64), Some(len as u64));
            assert_eq!(open_all(&key, &sealed).unwrap(), plain, "len {len}");
        }
    }

    #[test]
    fn truncation_at_a_segment_boundary_fails() {
        let key = DataKey::random();
        let sealed = seal_all(&key, &sample(3 * SEGMENT_LEN + 10)).unwrap();
        // Drop the last segment: the new last one was sealed as "not last".
        let cut = &sealed[..seg(2).end];
        assert_eq!(open_all(&key, cut), Err(StreamError::Segment(2)));
        // Cut inside a segment.
        assert!(open_all(&key, &sealed[..sealed.len() - 1]).is_err());
        // Only the header.
        assert_eq!(
            open_all(&key, &sealed[..HEADER_LEN]),
            Err(StreamError::Truncated)
        );
    }

    #[test]
    fn reordered_segments_fail() {
        let key = DataKey::random();
        let mut sealed = seal_all(&key, &sample(3 * SEGMENT_LEN + 10)).unwrap();
        let first: Vec<u8> = sealed[seg(0)].to_vec();
        let second: Vec<u8> = sealed[seg(1)].to_vec();
        sealed[seg(0)].copy_from_slice(&second);
        sealed[seg(1)].copy_from_slice(&first);
        assert_eq!(open_all(&key, &sealed), Err(StreamError::Segment(0)));
    }

    #[test]
    fn a_segment_from_another_object_fails_even_under_the_same_key() {
        let key = DataKey::random();
        let a = seal_all(&key, &sample(2 * SEGMENT_LEN + 1)).unwrap();
        let mut b = seal_all(&key, &sample(2 * SEGMENT_LEN + 1)).unwrap();
        b[seg(1)].copy_from_slice(&a[seg(1)]);
        assert_eq!(open_all(&key, &b), Err(StreamError::Segment(1)));
    }

    #[test]
    fn tampering_and_the_wrong_key_fail() {
        let key = DataKey::random();
        let sealed = seal_all(&key, &sample(SEGMENT_LEN + 5)).unwrap();
        let mut flipped = sealed.clone();
        flipped[HEADER_LEN + 3] ^= 1;
        assert_eq!(open_all(&key, &flipped), Err(StreamError::Segment(0)));
        let mut header = sealed.clone();
        header[12] ^= 1; // the nonce prefix, part of every segment's AAD
        assert!(open_all(&key, &header).is_err());
        let mut magic = sealed.clone();
        magic[0] = b'X';
        assert_eq!(open_all(&key, &magic), Err(StreamError::BadHeader));
        assert!(open_all(&DataKey::random(), &sealed).is_err());
        // A segment appended after the last.
        let mut longer = sealed.clone();
        longer.extend_from_slice(&sealed[seg(0)]);
        assert!(open_all(&key, &longer).is_err());
    }

    #[test]
    fn impossible_lengths_are_recognised() {
        assert_eq!(plaintext_len(0), None);
        assert_eq!(plaintext_len((HEADER_LEN + TAG_LEN) as u64), Some(0));
        assert_eq!(
            plaintext_len((HEADER_LEN + SEALED_LEN + TAG_LEN - 1) as u64),
            None
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn any_chunking_round_trips(len in 0usize..(3 * SEGMENT_LEN), cuts in proptest::collection::vec(1usize..40_000, 1..8)) {
            let key = DataKey::random();
            let plain = sample(len);
            let mut enc = Encryptor::new(&key);
            let mut sealed = Vec::new();
            let mut rest = &plain[..];
            for c in cuts.iter().cycle().take(64) {
                let take = (*c).min(rest.len());
                enc.update(&rest[..take], &mut sealed).unwrap();
                rest = &rest[take..];
            }
            enc.update(rest, &mut sealed).unwrap();
            enc.finish(&mut sealed).unwrap();
            prop_assert_eq!(sealed.len() as u64, ciphertext_len(len as u64));
            let mut dec = Decryptor::new(&key);
            let mut out = Vec::new();
            let mut rest = &sealed[..];
            for c in cuts.iter().rev().cycle().take(64) {
                let take = (*c).min(rest.len());
                dec.update(&rest[..take], &mut out).unwrap();
                rest = &rest[take..];
            }
            dec.update(rest, &mut out).unwrap();
            dec.finish(&mut out).unwrap();
            prop_assert_eq!(out, plain);
        }
    }
}

//! The VP8 RTP payload descriptor (RFC 7741), read without depacketizing:
//! enough to see where a key frame starts, how large it is, and which
//! picture ids a packet carries, so that simulcast layers can be switched
//! at key frames with a continuous picture-id sequence for the receiver.
//!
//! Everything here reads network input: short or malformed payloads give
//! `None` or `false`, never a panic.

/// What a VP8 payload descriptor says about its packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptor {
    /// S: the packet starts a VP8 partition.
    pub start: bool,
    /// PID: the partition index (0 for the first partition of a frame).
    pub partition: u8,
    /// PictureID and whether it is 15 bits wide (M bit), if present (I bit).
    pub picture_id: Option<(u16, bool)>,
    /// TL0PICIDX, if present (L bit).
    pub tl0_pic_idx: Option<u8>,
    /// The temporal layer index, if present (T bit).
    pub temporal: Option<u8>,
    /// Length of the descriptor: where the VP8 payload starts.
    pub len: usize,
}

impl Descriptor {
    /// Parses the descriptor at the start of an RTP payload. `None` when the
    /// payload ends inside the descriptor or carries nothing after it.
    pub fn parse(payload: &[u8]) -> Option<Descriptor> {
        let first = *payload.first()?;
        let mut d = Descriptor {
            start: first & 0x10 != 0,
            partition: first & 0x07,
            picture_id: None,
            tl0_pic_idx: None,
            temporal: None,
            len: 1,
        };
        if first & 0x80 != 0 {
            let x = *payload.get(d.len)?;
            d.len += 1;
            let (i, l, t, k) = (x & 0x80 != 0, x & 0x40 != 0, x & 0x20 != 0, x & 0x10 != 0);
            if i {
                let m = *payload.get(d.len)?;
                d.len += 1;
                if m & 0x80 != 0 {
                    let low = *payload.get(d.len)?;
                    d.len += 1;
                    d.picture_id = Some((u16::from(m & 0x7f) << 8 | u16::from(low), true));
                } else {
                    d.picture_id = Some((u16::from(m & 0x7f), false));
                }
            }
            if l {
                d.tl0_pic_idx = Some(*payload.get(d.len)?);
                d.len += 1;
            }
            if t || k {
                let tk = *payload.get(d.len)?;
                d.len += 1;
                if t {
                    d.temporal = Some(tk >> 6);
                }
            }
        }
        (payload.len() > d.len).then_some(d)
    }

    /// Whether the packet starts a key frame: the start of partition 0 whose
    /// frame tag has the P bit (bit 0 of its first byte) clear.
    pub fn is_keyframe(&self, payload: &[u8]) -> bool {
        self.start
            && self.partition == 0
            && payload.get(self.len).is_some_and(|tag| tag & 0x01 == 0)
    }

    /// Width and height of a key frame, from the key-frame header after the
    /// 3-byte frame tag (start code `9d 01 2a`, then 14-bit width and height,
    /// little-endian, each under 2 bits of scaling).
    pub fn keyframe_size(&self, payload: &[u8]) -> Option<(u16, u16)> {
        if !self.is_keyframe(payload) {
            return None;
        }
        let header = payload.get(self.len..self.len + 10)?;
        if header[3..6] != [0x9d, 0x01, 0x2a] {
            return None;
        }
        let width = u16::from_le_bytes([header[6], header[7]]) & 0x3fff;
        let height = u16::from_le_bytes([header[8], header[9]]) & 0x3fff;
        Some((width, height))
    }

    /// The SFrame key id (RFC 9605 §4.3) of an end-to-end encrypted frame,
    /// from the first packet of the frame (the start of partition 0): the
    /// SFrame header follows the part of the frame left in clear, a key
    /// frame's 10 bytes (frame tag, start code and size) or a delta frame's
    /// 3 (frame tag), as the browsers seal them
    /// (portals/shared/src/live/e2ee/frame.ts). `None` on any other packet or
    /// when the payload ends inside the header. Only meaningful for a sender
    /// known to seal its frames: a clear frame has VP8 data there.
    pub fn sframe_key_id(&self, payload: &[u8]) -> Option<u64> {
        if !self.start || self.partition != 0 {
            return None;
        }
        let tag = *payload.get(self.len)?;
        let clear = if tag & 0x01 == 0 { 10 } else { 3 };
        let header = payload.get(self.len + clear..)?;
        // Config byte `X K K K Y C C C`: a key id under 8 sits in K; with X
        // set, K is the length minus one of the key id that follows.
        let k = *header.first()? >> 4;
        if k & 0x08 == 0 {
            return Some(u64::from(k & 0x07));
        }
        let len = usize::from(k & 0x07) + 1;
        let bytes = header.get(1..1 + len)?;
        Some(bytes.iter().fold(0u64, |v, b| v << 8 | u64::from(*b)))
    }
}

/// Keeps one outgoing stream's VP8 picture ids and TL0PICIDX continuous when
/// what it forwards changes (another simulcast layer, a restarted
/// publisher): each new run continues from the last values written.
#[derive(Debug, Default, Clone, Copy)]
pub struct PictureIds {
    run: Option<u64>,
    picture_offset: u16,
    tl0_offset: u8,
    last_picture: Option<u16>,
    last_tl0: Option<u8>,
}

impl PictureIds {
    /// The outgoing picture id and TL0PICIDX for a packet of the rewrite run
    /// `run` carrying `descriptor`'s; each is `None` when absent. A 7-bit
    /// picture id stays 7 bits (it wraps at 128).
    pub fn map(&mut self, run: u64, descriptor: &Descriptor) -> (Option<u16>, Option<u8>) {
        if self.run != Some(run) {
            self.run = Some(run);
            self.picture_offset = match (self.last_picture, descriptor.picture_id) {
                (Some(last), Some((id, _))) => last.wrapping_add(1).wrapping_sub(id),
                _ => 0,
            };
            self.tl0_offset = match (self.last_tl0, descriptor.tl0_pic_idx) {
                (Some(last), Some(idx)) => last.wrapping_add(1).wrapping_sub(idx),
                _ => 0,
            };
        }
        let picture = descriptor.picture_id.map(|(id, long)| {
            let mask = if long { 0x7fff } else { 0x7f };
            let out = id.wrapping_add(self.picture_offset) & mask;
            // Remember the newest only: a reordered packet is older.
            let newer = match self.last_picture {
                Some(last) => {
                    let ahead = out.wrapping_sub(last) & mask;
                    ahead != 0 && ahead <= mask / 2
                }
                None => true,
            };
            if newer {
                self.last_picture = Some(out);
            }
            out
        });
        let tl0 = descriptor.tl0_pic_idx.map(|idx| {
            let out = idx.wrapping_add(self.tl0_offset);
            let newer = self
                .last_tl0
                .is_none_or(|last| (1..=127).contains(&out.wrapping_sub(last)));
            if newer {
                self.last_tl0 = Some(out);
            }
            out
        });
        (picture, tl0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Chromium-style first packet of a key frame: X and S set, 15-bit
    /// picture id, TL0PICIDX, TID, then the frame tag and key-frame header.
    fn chromium_keyframe(picture: u16, tl0: u8, width: u16, height: u16) -> Vec<u8> {
        let mut p = vec![
            0x90,
            0xe0,
            0x80 | (picture >> 8) as u8,
            picture as u8,
            tl0,
            0x20,
        ];
        // Frame tag: key frame (P = 0), version 0, shown, first partition size.
        p.extend_from_slice(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a]);
        p.extend_from_slice(&width.to_le_bytes());
        p.extend_from_slice(&height.to_le_bytes());
        p.extend_from_slice(&[0u8; 20]);
        p
    }

    #[test]
    fn reads_a_chromium_key_frame() {
        let p = chromium_keyframe(0x1234, 7, 1280, 720);
        let d = Descriptor::parse(&p).unwrap();
        assert_eq!(
            d,
            Descriptor {
                start: true,
                partition: 0,
                picture_id: Some((0x1234, true)),
                tl0_pic_idx: Some(7),
                temporal: Some(0),
                len: 6,
            }
        );
        assert!(d.is_keyframe(&p));
        assert_eq!(d.keyframe_size(&p), Some((1280, 720)));
        // Scaling bits (the top two of each dimension) are not the size.
        let mut scaled = p.clone();
        scaled[13] |= 0xc0;
        assert_eq!(
            Descriptor::parse(&scaled).unwrap().keyframe_size(&scaled),
            Some((1280, 720))
        );
    }

    #[test]
    fn reads_the_bots_one_byte_descriptor() {
        // crates/loadgen: 0x10, then a key-frame header on key frames.
        let mut key = vec![0x10, 0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a];
        key.extend_from_slice(&320u16.to_le_bytes());
        key.extend_from_slice(&180u16.to_le_bytes());
        key.extend_from_slice(b"ACRD");
        let d = Descriptor::parse(&key).unwrap();
        assert_eq!((d.len, d.picture_id, d.tl0_pic_idx), (1, None, None));
        assert!(d.is_keyframe(&key));
        assert_eq!(d.keyframe_size(&key), Some((320, 180)));
        // Inter frames have P = 1 ('A' is 0x41).
        let inter = b"\x10ACRD";
        let d = Descriptor::parse(inter).unwrap();
        assert!(!d.is_keyframe(inter));
        assert_eq!(d.keyframe_size(inter), None);
    }

    #[test]
    fn only_the_start_of_partition_zero_starts_a_key_frame() {
        let mut p = chromium_keyframe(5, 1, 640, 360);
        // Continuation packet (S = 0).
        p[0] = 0x80;
        assert!(!Descriptor::parse(&p).unwrap().is_keyframe(&p));
        // Start of partition 1.
        p[0] = 0x91;
        assert!(!Descriptor::parse(&p).unwrap().is_keyframe(&p));
        // A key-frame tag without the start code has no size.
        let mut q = chromium_keyframe(5, 1, 640, 360);
        q[9] = 0;
        let d = Descriptor::parse(&q).unwrap();
        assert!(d.is_keyframe(&q));
        assert_eq!(d.keyframe_size(&q), None);
    }

    #[test]
    fn reads_short_picture_ids_and_keyidx_without_temporal_layers() {
        // X, S; I and K: 7-bit picture id 0x55, then the TID/Y/KEYIDX byte.
        let p = [0x90, 0x90, 0x55, 0x1f, 0x01, 0xaa];
        let d = Descriptor::parse(&p).unwrap();
        assert_eq!(d.picture_id, Some((0x55, false)));
        assert_eq!(d.temporal, None);
        assert_eq!(d.len, 4);
        assert!(!d.is_keyframe(&p));
    }

    #[test]
    fn never_panics_on_short_or_malformed_payloads() {
        let full = chromium_keyframe(0x7fff, 255, 1, 1);
        // Every truncation inside the descriptor is refused; after it, the
        // size is simply unknown.
        for n in 0..=6 {
            assert_eq!(Descriptor::parse(&full[..n]), None, "{n} bytes");
        }
        for n in 7..full.len() {
            let d = Descriptor::parse(&full[..n]).unwrap();
            assert!(d.is_keyframe(&full[..n]));
            assert_eq!(d.keyframe_size(&full[..n]).is_some(), n >= 16, "{n} bytes");
        }
        // Every byte value in every position of a short payload.
        for len in 1..5 {
            for b in 0..=255u8 {
                for at in 0..len {
                    let mut p = vec![0xffu8; len];
                    p[at] = b;
                    if let Some(d) = Descriptor::parse(&p) {
                        assert!(d.len < p.len());
                        let _ = d.keyframe_size(&p);
                    }
                }
            }
        }
    }

    /// A sealed frame's first packet: the descriptor, the clear prefix
    /// (`clear` bytes of the frame), then the SFrame header.
    fn sealed(keyframe: bool, header: &[u8]) -> Vec<u8> {
        let mut p = if keyframe {
            chromium_keyframe(9, 1, 640, 360)[..16].to_vec()
        } else {
            vec![0x90, 0xe0, 0x80, 0x09, 0x01, 0x20, 0x31, 0x02, 0x00]
        };
        p.extend_from_slice(header);
        p.extend_from_slice(&[0xaa; 24]);
        p
    }

    #[test]
    fn reads_sframe_key_ids_after_the_clear_prefix() {
        // Key id 5, counter 3, in the config byte: a key frame and a delta frame.
        for keyframe in [true, false] {
            let p = sealed(keyframe, &[0x53]);
            let d = Descriptor::parse(&p).unwrap();
            assert_eq!(d.is_keyframe(&p), keyframe);
            assert_eq!(d.sframe_key_id(&p), Some(5), "key frame: {keyframe}");
        }
        // Key id 0x0102 in two bytes (X, length 2), counter 0x10 in one (Y).
        let p = sealed(false, &[0x98, 0x01, 0x02, 0x10]);
        assert_eq!(
            Descriptor::parse(&p).unwrap().sframe_key_id(&p),
            Some(0x0102)
        );
        // Key id 8: the smallest that needs a byte of its own.
        let p = sealed(true, &[0x80, 0x08]);
        assert_eq!(Descriptor::parse(&p).unwrap().sframe_key_id(&p), Some(8));
        // Eight bytes of key id, the most the header holds.
        let mut header = vec![0xf0];
        header.extend_from_slice(&u64::MAX.to_be_bytes());
        let p = sealed(false, &header);
        assert_eq!(
            Descriptor::parse(&p).unwrap().sframe_key_id(&p),
            Some(u64::MAX)
        );
        // Not the first packet of a frame: no header there.
        let mut cont = sealed(false, &[0x53]);
        cont[0] = 0x80;
        assert_eq!(Descriptor::parse(&cont).unwrap().sframe_key_id(&cont), None);
        // The payload ends inside the key id.
        let p = sealed(false, &[0x9a]);
        let short = &p[..p.len() - 23];
        assert_eq!(Descriptor::parse(short).unwrap().sframe_key_id(short), None);
    }

    #[test]
    fn picture_ids_continue_across_runs() {
        let mut ids = PictureIds::default();
        let d = |id: u16, tl0: u8| Descriptor {
            start: true,
            partition: 0,
            picture_id: Some((id, true)),
            tl0_pic_idx: Some(tl0),
            temporal: Some(0),
            len: 6,
        };
        // The first run is passed through unchanged.
        assert_eq!(ids.map(1, &d(100, 10)), (Some(100), Some(10)));
        assert_eq!(ids.map(1, &d(101, 11)), (Some(101), Some(11)));
        // A reordered older packet keeps its (mapped) id.
        assert_eq!(ids.map(1, &d(100, 10)), (Some(100), Some(10)));
        // Another layer with its own numbering continues at 102 / 12.
        assert_eq!(ids.map(2, &d(30_000, 200)), (Some(102), Some(12)));
        assert_eq!(ids.map(2, &d(30_001, 201)), (Some(103), Some(13)));
        // Wrapping at 15 bits and 8 bits.
        let mut ids = PictureIds::default();
        assert_eq!(ids.map(1, &d(0x7fff, 255)), (Some(0x7fff), Some(255)));
        assert_eq!(ids.map(2, &d(9, 9)), (Some(0), Some(0)));
        // A 7-bit picture id wraps at 128.
        let mut ids = PictureIds::default();
        let short = |id: u16| Descriptor {
            picture_id: Some((id, false)),
            tl0_pic_idx: None,
            ..d(0, 0)
        };
        assert_eq!(ids.map(1, &short(127)), (Some(127), None));
        assert_eq!(ids.map(2, &short(40)), (Some(0), None));
        assert_eq!(ids.map(2, &short(41)), (Some(1), None));
    }
}

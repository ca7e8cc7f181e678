//! RFC 2198 redundant audio ("RED") as browsers send it for Opus: each packet
//! carries the current Opus frame (the *primary* block) and copies of one or
//! more earlier frames, so a receiver recovers a lost packet from the next one
//! without a retransmission.
//!
//! The SFU forwards RED payloads unchanged to receivers that negotiated RED;
//! receivers that did not (the load generator's bots, anything offering plain
//! Opus only) get the primary block alone, as a plain Opus packet with the
//! same sequence number and timestamp. [`primary`] finds that block.
//!
//! The payload layout (RFC 2198 §3): a 4-byte header per redundant block
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |F|   block PT  |  timestamp offset         |   block length    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! with F = 1, then a 1-byte header (F = 0, block PT) for the primary, which
//! comes last; then the redundant blocks' data in header order, then the
//! primary's data (the rest of the payload).
//!
//! Malformed input (a header running past the end, block lengths adding up to
//! more than the payload, an empty primary) is never trusted: [`primary`]
//! answers `None`, and the forwarder drops that packet for receivers without
//! RED (it cannot know which bytes are Opus) while RED receivers still get it
//! unchanged (their own parser decides, exactly as without the SFU).

/// The `F` bit: another block header follows.
const FOLLOWS: u8 = 0x80;
/// Size of a redundant block's header.
const REDUNDANT_HEADER: usize = 4;

/// The primary block of a RED payload: its payload type and data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Primary<'a> {
    /// The block's payload type (the sender's Opus payload type).
    pub pt: u8,
    /// The encoded frame.
    pub data: &'a [u8],
    /// How many redundant blocks came before it.
    pub redundant: usize,
}

/// The primary block of a RED payload, or `None` when the payload is not
/// well-formed RFC 2198 or its primary block is empty. Never panics; walks
/// the headers once without allocating.
pub fn primary(payload: &[u8]) -> Option<Primary<'_>> {
    let mut at = 0;
    let mut redundant_bytes = 0usize;
    let mut redundant = 0usize;
    loop {
        let first = *payload.get(at)?;
        if first & FOLLOWS == 0 {
            // The primary's 1-byte header ends the header list.
            let start = at
                .checked_add(1)?
                .checked_add(redundant_bytes)
                .filter(|s| *s < payload.len())?;
            return Some(Primary {
                pt: first & !FOLLOWS,
                data: payload.get(start..)?,
                redundant,
            });
        }
        let header = payload.get(at..at.checked_add(REDUNDANT_HEADER)?)?;
        // The low 10 bits of the last two bytes: the block length.
        let length = (usize::from(header[2] & 0x03) << 8) | usize::from(header[3]);
        redundant_bytes = redundant_bytes.checked_add(length)?;
        redundant += 1;
        at += REDUNDANT_HEADER;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A RED payload: `(pt, timestamp offset, data)` per redundant block, then
    /// the primary's pt and data.
    fn red(redundant: &[(u8, u16, &[u8])], primary_pt: u8, primary: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (pt, offset, data) in redundant {
            let len = data.len();
            assert!(len < 1024 && *offset < (1 << 14));
            out.push(FOLLOWS | pt);
            out.push((offset >> 6) as u8);
            out.push((((offset & 0x3f) as u8) << 2) | (len >> 8) as u8);
            out.push((len & 0xff) as u8);
        }
        out.push(primary_pt);
        for (_, _, data) in redundant {
            out.extend_from_slice(data);
        }
        out.extend_from_slice(primary);
        out
    }

    #[test]
    fn a_payload_with_only_the_primary_is_that_block() {
        let p = red(&[], 111, b"opus-frame");
        assert_eq!(
            primary(&p),
            Some(Primary {
                pt: 111,
                data: b"opus-frame",
                redundant: 0
            })
        );
    }

    #[test]
    fn one_redundant_block_as_chromium_sends_it() {
        let previous = [0x11u8; 75];
        let p = red(&[(111, 960, &previous)], 111, &[0x22; 80]);
        let got = primary(&p).unwrap();
        assert_eq!(got.pt, 111);
        assert_eq!(got.data, &[0x22; 80][..]);
        assert_eq!(got.redundant, 1);
    }

    #[test]
    fn several_redundant_blocks_of_several_sizes() {
        let long = vec![7u8; 1023];
        let p = red(
            &[(111, 1920, b"two-back"), (111, 960, &long), (111, 480, b"")],
            111,
            b"now",
        );
        let got = primary(&p).unwrap();
        assert_eq!((got.pt, got.data, got.redundant), (111, &b"now"[..], 3));
    }

    #[test]
    fn the_primary_may_name_another_payload_type() {
        let p = red(&[(111, 960, b"x")], 13, b"comfort-noise");
        assert_eq!(primary(&p).map(|b| b.pt), Some(13));
    }

    #[test]
    fn malformed_payloads_are_refused_without_panicking() {
        // Nothing at all; only redundant headers; a header cut short.
        assert_eq!(primary(&[]), None);
        assert_eq!(primary(&[FOLLOWS | 111, 0, 0, 1]), None);
        assert_eq!(primary(&[FOLLOWS | 111, 0, 0]), None);
        // A primary with no data.
        assert_eq!(primary(&[111]), None);
        assert_eq!(primary(&red(&[(111, 960, b"abc")], 111, b"")), None);
        // Redundant lengths claiming more than the payload holds.
        let mut p = red(&[(111, 960, b"abc")], 111, b"primary");
        p[3] = 200;
        assert_eq!(primary(&p), None);
        // Lengths exactly covering the rest leave an empty primary.
        let mut p = red(&[(111, 960, b"abc")], 111, b"xy");
        p[3] = 5;
        assert_eq!(primary(&p), None);
    }

    #[test]
    fn a_long_run_of_headers_is_bounded_by_the_payload() {
        // 10 000 headers of zero-length blocks, then the primary.
        let mut p = Vec::new();
        for _ in 0..10_000 {
            p.extend_from_slice(&[FOLLOWS | 111, 0, 0, 0]);
        }
        p.push(111);
        p.push(42);
        assert_eq!(
            primary(&p).map(|b| (b.data, b.redundant)),
            Some((&[42u8][..], 10_000))
        );
        p.pop();
        assert_eq!(primary(&p), None);
    }

    proptest::proptest! {
        #[test]
        fn any_input_gives_an_answer_inside_it(data in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            if let Some(b) = primary(&data) {
                proptest::prop_assert!(!b.data.is_empty());
                // The primary is a suffix of the payload.
                proptest::prop_assert!(data.ends_with(b.data));
            }
        }

        #[test]
        fn built_payloads_round_trip(
            blocks in proptest::collection::vec((0u8..128, 0u16..(1 << 14), proptest::collection::vec(proptest::num::u8::ANY, 0..300)), 0..5),
            pt in 0u8..128,
            frame in proptest::collection::vec(proptest::num::u8::ANY, 1..400),
        ) {
            let redundant: Vec<(u8, u16, &[u8])> = blocks.iter().map(|(p, o, d)| (*p, *o, d.as_slice())).collect();
            let payload = red(&redundant, pt, &frame);
            proptest::prop_assert_eq!(primary(&payload), Some(Primary { pt, data: &frame, redundant: blocks.len() }));
        }
    }
}

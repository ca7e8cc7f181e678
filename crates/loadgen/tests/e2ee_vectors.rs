//! The bots' end-to-end encryption against fixed vectors the browser code
//! made (portals/shared/src/live/e2ee/vectors.json, also read by
//! portals/shared/test/e2eeVectors.test.ts): the same frames byte for byte,
//! the browser's key message verified and unwrapped, and a key message the
//! bot makes that the browser test unwraps. Plus RFC 9605's own vector.

use std::collections::HashMap;

use accord_loadgen::e2ee::frame::{
    decode_header, decrypt_frame, decrypt_red, encode_header, encrypt_red, FrameError, FrameKey,
    FrameKind, ReceiveKey,
};
use accord_loadgen::e2ee::keys::{
    context_text, make_identity, raw_device_key, safety_number, unwrap_key, verify_identity,
    wrap_key, wrap_key_with_iv, EcdhPair, KeyContext, KeyRefusal,
};
use accord_loadgen::protocol::{E2eeIdentity, RoomId};
use base64::Engine as _;
use p256::ecdsa::SigningKey;
use p256::SecretKey;
use serde_json::Value;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../portals/shared/src/live/e2ee/vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("the shared vectors")).expect("JSON")
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string"))
}

fn secret(jwk: &Value) -> SecretKey {
    SecretKey::from_slice(&B64.decode(s(jwk, "d")).expect("base64url")).expect("a P-256 scalar")
}

fn identity(v: &Value) -> E2eeIdentity {
    serde_json::from_value(v.clone()).expect("an identity")
}

fn kind(text: &str) -> FrameKind {
    match text {
        "key" => FrameKind::Key,
        "delta" => FrameKind::Delta,
        _ => FrameKind::Audio,
    }
}

struct Parties {
    v: Value,
    room: RoomId,
    sender_device: SigningKey,
    sender_ecdh: EcdhPair,
    recipient_device: SigningKey,
    recipient_ecdh: EcdhPair,
}

fn parties() -> Parties {
    let v = vectors();
    let room: RoomId = serde_json::from_value(v["room"].clone()).expect("a room");
    Parties {
        room,
        sender_device: SigningKey::from(secret(&v["sender"]["deviceJwk"])),
        sender_ecdh: EcdhPair::from_secret(secret(&v["sender"]["ecdhJwk"])),
        recipient_device: SigningKey::from(secret(&v["recipient"]["deviceJwk"])),
        recipient_ecdh: EcdhPair::from_secret(secret(&v["recipient"]["ecdhJwk"])),
        v,
    }
}

impl Parties {
    /// The context of the browser's key (sender to recipient).
    fn to_recipient(&self, generation: u32) -> KeyContext {
        KeyContext {
            session: s(&self.v, "session").to_owned(),
            room: self.room,
            from: s(&self.v, "from").to_owned(),
            to: s(&self.v, "to").to_owned(),
            generation,
            sender_ecdh: self.sender_ecdh.public_key().to_owned(),
            recipient_ecdh: self.recipient_ecdh.public_key().to_owned(),
        }
    }

    /// The context of the bot's key (recipient back to sender).
    fn to_sender(&self, generation: u32) -> KeyContext {
        KeyContext {
            session: s(&self.v, "session").to_owned(),
            room: self.room,
            from: s(&self.v, "to").to_owned(),
            to: s(&self.v, "from").to_owned(),
            generation,
            sender_ecdh: self.recipient_ecdh.public_key().to_owned(),
            recipient_ecdh: self.sender_ecdh.public_key().to_owned(),
        }
    }
}

#[test]
fn rfc_9605_vector_and_headers() {
    let key = FrameKey::derive(
        &hex("000102030405060708090a0b0c0d0e0f")
            .try_into()
            .expect("16 bytes"),
        0x123,
    );
    assert_eq!(to_hex(&key.salt()), "75234edefe07819026751816");
    assert_eq!(to_hex(&key.nonce(0x4567)), "75234edefe07819026755d71");
    let ct = key
        .seal(
            0x4567,
            &hex("4945544620534672616d65205747"),
            &hex("64726166742d696574662d736672616d652d656e63"),
        )
        .expect("sealed");
    assert_eq!(
        to_hex(&ct),
        "9901234567b7412c2513a1b66dbb48841bbaf17f598751176ad847681a69c6d0b091c07018ce4adb34eb"
    );
    // RFC 9605 Appendix C.1 header vectors.
    for (kid, ctr, header) in [
        (0u64, 0u64, "00"),
        (0, 7, "07"),
        (7, 0, "70"),
        (8, 8, "880808"),
        (0x123, 0x4567, "9901234567"),
        (0xffff_ffff, 0x100, "b9ffffffff0100"),
    ] {
        let bytes = encode_header(kid, ctr).expect("in range");
        assert_eq!(to_hex(&bytes), header, "kid {kid} ctr {ctr}");
        let back = decode_header(&bytes, 0).expect("decodes");
        assert_eq!((back.kid, back.ctr, back.len), (kid, ctr, bytes.len()));
    }
    assert_eq!(encode_header(1 << 53, 0), Err(FrameError::Malformed));
    assert!(
        decode_header(&hex("88"), 0).is_none(),
        "ends inside the key id"
    );
}

#[test]
fn frames_match_the_browsers_byte_for_byte() {
    let v = vectors();
    let base: [u8; 16] = hex(s(&v, "baseKey")).try_into().expect("16 bytes");
    let generation = v["generation"].as_u64().expect("generation");
    let key = FrameKey::derive(&base, generation);
    let mut keys = HashMap::from([(generation, ReceiveKey::new(&base, generation))]);
    let frames = v["frames"].as_array().expect("frames");
    assert_eq!(frames.len(), 3);
    for f in frames {
        let (k, ctr, plain, sealed) = (
            kind(s(f, "kind")),
            f["ctr"].as_u64().expect("ctr"),
            hex(s(f, "plain")),
            hex(s(f, "sealed")),
        );
        assert_eq!(
            key.encrypt_frame(ctr, k, &plain).expect("encrypts"),
            sealed,
            "{k:?}"
        );
        assert!(
            !sealed.windows(4).any(|w| w == b"ACRD"),
            "no plaintext tag in {k:?}"
        );
        let opened = decrypt_frame(&mut keys, k, &sealed).expect("the browser's frame decrypts");
        assert_eq!(
            (opened.kid, opened.ctr, &opened.plain),
            (generation, ctr, &plain)
        );
        assert_eq!(
            decrypt_frame(&mut keys, k, &sealed),
            Err(FrameError::Replayed)
        );
        let mut forged = sealed.clone();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        let mut fresh = HashMap::from([(generation, ReceiveKey::new(&base, generation))]);
        assert_eq!(
            decrypt_frame(&mut fresh, k, &forged),
            Err(FrameError::Forged)
        );
        assert_eq!(
            decrypt_frame(&mut HashMap::new(), k, &sealed),
            Err(FrameError::UnknownKey)
        );
    }
    // A key frame's clear prefix is part of the AAD: the SFU cannot change it.
    let f = &frames[0];
    let mut changed = hex(s(f, "sealed"));
    changed[0] ^= 0x01;
    let mut fresh = HashMap::from([(generation, ReceiveKey::new(&base, generation))]);
    assert_eq!(
        decrypt_frame(&mut fresh, FrameKind::Key, &changed),
        Err(FrameError::Forged)
    );
    assert_eq!(
        decrypt_frame(&mut fresh, FrameKind::Key, &changed[..12]),
        Err(FrameError::Malformed)
    );

    // RED: each block sealed on its own, counters in block order.
    let red = &v["red"];
    let first = red["firstCtr"].as_u64().expect("firstCtr");
    let mut next = first;
    let sealed = encrypt_red(
        &key,
        || {
            next += 1;
            next - 1
        },
        &hex(s(red, "plain")),
    )
    .expect("encrypts")
    .expect("is RED");
    assert_eq!(to_hex(&sealed), s(red, "sealed"));
    assert_eq!(
        decrypt_red(&mut keys, &sealed).expect("decrypts"),
        hex(s(red, "plain"))
    );
}

#[test]
fn the_browsers_key_message_verifies_and_unwraps() {
    let p = parties();
    let sender = verify_identity(
        s(&p.v, "session"),
        s(&p.v, "from"),
        &identity(&p.v["sender"]["identity"]),
    )
    .expect("the sender's identity verifies");
    assert!(
        verify_identity(
            s(&p.v, "session"),
            s(&p.v, "to"),
            &identity(&p.v["sender"]["identity"])
        )
        .is_none(),
        "claimed by another participant"
    );
    let recipient = verify_identity(
        s(&p.v, "session"),
        s(&p.v, "to"),
        &identity(&p.v["recipient"]["identity"]),
    )
    .expect("the recipient's identity verifies");
    assert_eq!(recipient.identity.ecdh_key, p.recipient_ecdh.public_key());
    assert_eq!(sender.identity.ecdh_key, p.sender_ecdh.public_key());
    assert_eq!(
        raw_device_key(p.sender_device.verifying_key()),
        sender.identity.device_key
    );
    // The bot's own identity for the same keys verifies as the browser's does
    // (ECDSA signatures differ each time; what is signed does not).
    let mine = make_identity(
        &p.recipient_device,
        s(&p.v, "session"),
        s(&p.v, "to"),
        &p.recipient_ecdh,
    );
    assert_eq!(mine.device_key, recipient.identity.device_key);
    assert!(verify_identity(s(&p.v, "session"), s(&p.v, "to"), &mine).is_some());

    let generation = u32::try_from(p.v["generation"].as_u64().expect("generation")).expect("u32");
    let context = p.to_recipient(generation);
    assert_eq!(context_text(&context), s(&p.v, "contextText"));
    let msg = &p.v["fromBrowser"];
    let base = unwrap_key(
        &p.recipient_ecdh,
        &sender,
        &context,
        s(msg, "wrapped"),
        s(msg, "signature"),
    )
    .expect("unwraps");
    assert_eq!(to_hex(&base), s(&p.v, "baseKey"));

    // Bound to every part of its context, and to the signature.
    assert_eq!(
        unwrap_key(
            &p.recipient_ecdh,
            &sender,
            &p.to_recipient(generation + 1),
            s(msg, "wrapped"),
            s(msg, "signature")
        ),
        Err(KeyRefusal::BadSignature)
    );
    let main = KeyContext {
        room: RoomId::Main,
        ..context.clone()
    };
    assert_eq!(
        unwrap_key(
            &p.recipient_ecdh,
            &sender,
            &main,
            s(msg, "wrapped"),
            s(msg, "signature")
        ),
        Err(KeyRefusal::BadSignature)
    );
    let mut sig = B64.decode(s(msg, "signature")).expect("base64url");
    sig[10] ^= 1;
    assert_eq!(
        unwrap_key(
            &p.recipient_ecdh,
            &sender,
            &context,
            s(msg, "wrapped"),
            &B64.encode(sig)
        ),
        Err(KeyRefusal::BadSignature)
    );
    // Signed for the recipient, but someone else's ECDH key cannot unwrap it.
    assert_eq!(
        unwrap_key(
            &EcdhPair::generate(),
            &sender,
            &context,
            s(msg, "wrapped"),
            s(msg, "signature")
        ),
        Err(KeyRefusal::Undecryptable)
    );
    assert_eq!(
        safety_number(&sender.identity.device_key, &recipient.identity.device_key),
        s(&p.v, "safetyNumber")
    );
    assert_eq!(
        safety_number(&recipient.identity.device_key, &sender.identity.device_key),
        s(&p.v, "safetyNumber")
    );
}

#[test]
fn the_bots_key_message_is_the_stored_one_and_round_trips() {
    let p = parties();
    let sender = verify_identity(
        s(&p.v, "session"),
        s(&p.v, "from"),
        &identity(&p.v["sender"]["identity"]),
    )
    .expect("verifies");
    let recipient = verify_identity(
        s(&p.v, "session"),
        s(&p.v, "to"),
        &identity(&p.v["recipient"]["identity"]),
    )
    .expect("verifies");
    let bot = &p.v["fromBot"];
    let generation = u32::try_from(bot["generation"].as_u64().expect("generation")).expect("u32");
    let base: [u8; 16] = hex(s(bot, "baseKey")).try_into().expect("16 bytes");
    let iv: [u8; 12] = hex(s(bot, "iv")).try_into().expect("12 bytes");
    let context = p.to_sender(generation);
    // RFC 6979 signatures and a fixed IV: the bot makes exactly the stored message, which the browser test unwraps.
    let made = wrap_key_with_iv(
        &p.recipient_device,
        &p.recipient_ecdh,
        &p.sender_ecdh_public(),
        &context,
        &base,
        iv,
    );
    assert_eq!(
        (made.wrapped.as_str(), made.signature.as_str()),
        (s(bot, "wrapped"), s(bot, "signature"))
    );
    assert_eq!(
        unwrap_key(
            &p.sender_ecdh,
            &recipient,
            &context,
            &made.wrapped,
            &made.signature
        ),
        Ok(base)
    );
    // A random IV each time; still unwraps.
    let random = wrap_key(
        &p.recipient_device,
        &p.recipient_ecdh,
        &sender.ecdh_key,
        &context,
        &base,
    );
    assert_ne!(random.wrapped, made.wrapped);
    assert_eq!(
        unwrap_key(
            &p.sender_ecdh,
            &recipient,
            &context,
            &random.wrapped,
            &random.signature
        ),
        Ok(base)
    );
}

impl Parties {
    fn sender_ecdh_public(&self) -> p256::PublicKey {
        let sender = verify_identity(
            s(&self.v, "session"),
            s(&self.v, "from"),
            &identity(&self.v["sender"]["identity"]),
        )
        .expect("verifies");
        sender.ecdh_key
    }
}

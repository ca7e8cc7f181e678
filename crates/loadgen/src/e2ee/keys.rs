//! The end-to-end encryption key messages, as the browsers make and check
//! them (portals/shared/src/live/e2ee/keys.ts, docs/signaling.md): a
//! connection's ECDH identity signed by the device key, sender keys wrapped
//! to each recipient's ECDH key and signed by the sender's device key, and
//! the safety number two people read aloud.

use accord_sfu_core::protocol::{E2eeIdentity, RoomId};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use hkdf::Hkdf;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use p256::{PublicKey, SecretKey};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use super::frame::BASE_KEY_BYTES;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `main` or `caucus:<id>` (the lobby has no keys; it is labelled `lobby`).
pub fn room_label(room: &RoomId) -> String {
    match room {
        RoomId::Lobby => "lobby".to_owned(),
        RoomId::Main => "main".to_owned(),
        RoomId::Caucus(id) => format!("caucus:{id}"),
    }
}

/// What the device key signs to vouch for a connection's ECDH key.
pub fn identity_text(session: &str, participant: &str, ecdh_key: &str) -> String {
    format!("accord-e2ee-identity/1\n{session}\n{participant}\n{ecdh_key}")
}

/// Everything a wrapped key is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyContext {
    /// The session id.
    pub session: String,
    /// The sender's room.
    pub room: RoomId,
    /// The sender.
    pub from: String,
    /// The recipient.
    pub to: String,
    /// The key's generation (its frames' key id).
    pub generation: u32,
    /// The sender's ECDH key (raw, base64url).
    pub sender_ecdh: String,
    /// The recipient's ECDH key (raw, base64url).
    pub recipient_ecdh: String,
}

/// The context string: the wrapping's HKDF info and AAD, and (with the
/// wrapped key) what the sender signs.
pub fn context_text(c: &KeyContext) -> String {
    [
        "accord-e2ee-key/1",
        &c.session,
        &room_label(&c.room),
        &c.from,
        &c.to,
        &c.generation.to_string(),
        &c.sender_ecdh,
        &c.recipient_ecdh,
    ]
    .join("\n")
}

/// A public key as its 65-byte uncompressed point, base64url.
pub fn raw_device_key(key: &VerifyingKey) -> String {
    B64.encode(key.to_encoded_point(false).as_bytes())
}

/// This connection's ECDH key pair and its public half, raw base64url.
#[derive(Clone)]
pub struct EcdhPair {
    secret: SecretKey,
    public_key: String,
}

impl std::fmt::Debug for EcdhPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcdhPair")
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

impl EcdhPair {
    /// A fresh random pair.
    pub fn generate() -> EcdhPair {
        EcdhPair::from_secret(SecretKey::random(&mut rand::rngs::OsRng))
    }

    /// The pair of a given secret (test vectors).
    pub fn from_secret(secret: SecretKey) -> EcdhPair {
        let public_key = B64.encode(secret.public_key().to_encoded_point(false).as_bytes());
        EcdhPair { secret, public_key }
    }

    /// The public half, raw base64url.
    pub fn public_key(&self) -> &str {
        &self.public_key
    }
}

/// This connection's identity, signed by the device key.
pub fn make_identity(
    device: &SigningKey,
    session: &str,
    participant: &str,
    ecdh: &EcdhPair,
) -> E2eeIdentity {
    E2eeIdentity {
        device_key: raw_device_key(device.verifying_key()),
        ecdh_key: ecdh.public_key.clone(),
        signature: sign(
            device,
            &identity_text(session, participant, &ecdh.public_key),
        ),
    }
}

fn sign(device: &SigningKey, text: &str) -> String {
    let signature: Signature = device.sign(text.as_bytes());
    B64.encode(signature.to_bytes())
}

fn verify(key: &VerifyingKey, text: &str, signature: &str) -> bool {
    let Ok(bytes) = B64.decode(signature) else {
        return false;
    };
    if bytes.len() != 64 {
        return false;
    }
    Signature::from_slice(&bytes).is_ok_and(|s| key.verify(text.as_bytes(), &s).is_ok())
}

/// A participant's identity whose signature verified: their keys, parsed.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    /// As advertised.
    pub identity: E2eeIdentity,
    /// Their device key.
    pub device_key: VerifyingKey,
    /// Their connection's ECDH key.
    pub ecdh_key: PublicKey,
}

fn raw_point(raw: &str) -> Option<Vec<u8>> {
    let bytes = B64.decode(raw).ok()?;
    (bytes.len() == 65 && bytes[0] == 4).then_some(bytes)
}

/// Checks `participant`'s identity; `None` when a key is not an uncompressed
/// P-256 point or the signature does not verify.
pub fn verify_identity(
    session: &str,
    participant: &str,
    identity: &E2eeIdentity,
) -> Option<VerifiedIdentity> {
    let device_key = VerifyingKey::from_sec1_bytes(&raw_point(&identity.device_key)?).ok()?;
    let ecdh_key = PublicKey::from_sec1_bytes(&raw_point(&identity.ecdh_key)?).ok()?;
    let text = identity_text(session, participant, &identity.ecdh_key);
    verify(&device_key, &text, &identity.signature).then(|| VerifiedIdentity {
        identity: identity.clone(),
        device_key,
        ecdh_key,
    })
}

/// ECDH (the shared point's x), then HKDF-SHA256 with an empty salt and the
/// context as info: an AES-256-GCM key.
fn wrapping_key(own: &SecretKey, theirs: &PublicKey, context: &str) -> Aes256Gcm {
    let shared = p256::ecdh::diffie_hellman(own.to_nonzero_scalar(), theirs.as_affine());
    let hk = Hkdf::<Sha256>::new(Some(&[]), shared.raw_secret_bytes());
    let mut key = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit.
    let _ = hk.expand(context.as_bytes(), &mut key);
    Aes256Gcm::new(&key.into())
}

/// A base key wrapped for one recipient and signed: an `e2eeKeys` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrapped {
    /// IV and AES-GCM ciphertext of the key (base64url).
    pub wrapped: String,
    /// The sender's device signature over the context and `wrapped` (base64url).
    pub signature: String,
}

/// Wraps `base_key` for the recipient named in `context` with a random IV.
pub fn wrap_key(
    device: &SigningKey,
    own: &EcdhPair,
    recipient: &PublicKey,
    context: &KeyContext,
    base_key: &[u8; BASE_KEY_BYTES],
) -> Wrapped {
    let mut iv = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut iv);
    wrap_key_with_iv(device, own, recipient, context, base_key, iv)
}

/// [`wrap_key`] with a given IV: for test vectors only (an IV must never repeat under a key).
pub fn wrap_key_with_iv(
    device: &SigningKey,
    own: &EcdhPair,
    recipient: &PublicKey,
    context: &KeyContext,
    base_key: &[u8; BASE_KEY_BYTES],
    iv: [u8; 12],
) -> Wrapped {
    let text = context_text(context);
    let key = wrapping_key(&own.secret, recipient, &text);
    let mut blob = iv.to_vec();
    // AES-GCM of 16 bytes cannot fail.
    if let Ok(sealed) = key.encrypt(
        Nonce::from_slice(&iv),
        Payload {
            msg: base_key,
            aad: text.as_bytes(),
        },
    ) {
        blob.extend_from_slice(&sealed);
    }
    let wrapped = B64.encode(&blob);
    let signature = sign(device, &format!("{text}\n{wrapped}"));
    Wrapped { wrapped, signature }
}

/// Why a key message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefusal {
    /// For a room the recipient is not in.
    #[error("a key message was refused: not-for-this-room")]
    NotForThisRoom,
    /// From someone not (verified) in the recipient's room.
    #[error("a key message was refused: unknown-sender")]
    UnknownSender,
    /// A generation at or below one already accepted from that sender.
    #[error("a key message was refused: replayed")]
    Replayed,
    /// The sender's device signature does not verify.
    #[error("a key message was refused: bad-signature")]
    BadSignature,
    /// Signed, but not wrapped for this recipient's ECDH key.
    #[error("a key message was refused: undecryptable")]
    Undecryptable,
}

impl KeyRefusal {
    /// The name the browsers use for it.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRefusal::NotForThisRoom => "not-for-this-room",
            KeyRefusal::UnknownSender => "unknown-sender",
            KeyRefusal::Replayed => "replayed",
            KeyRefusal::BadSignature => "bad-signature",
            KeyRefusal::Undecryptable => "undecryptable",
        }
    }
}

/// Checks a received key (the sender's device signature over the whole
/// context and the wrapped bytes) and unwraps it. The caller checks room and
/// generation; this checks the cryptography.
pub fn unwrap_key(
    own: &EcdhPair,
    sender: &VerifiedIdentity,
    context: &KeyContext,
    wrapped: &str,
    signature: &str,
) -> Result<[u8; BASE_KEY_BYTES], KeyRefusal> {
    let text = context_text(context);
    if !verify(&sender.device_key, &format!("{text}\n{wrapped}"), signature) {
        return Err(KeyRefusal::BadSignature);
    }
    let blob = B64.decode(wrapped).map_err(|_| KeyRefusal::BadSignature)?;
    if blob.len() != 12 + BASE_KEY_BYTES + 16 {
        return Err(KeyRefusal::Undecryptable);
    }
    let key = wrapping_key(&own.secret, &sender.ecdh_key, &text);
    let plain = key
        .decrypt(
            Nonce::from_slice(&blob[..12]),
            Payload {
                msg: &blob[12..],
                aad: text.as_bytes(),
            },
        )
        .map_err(|_| KeyRefusal::Undecryptable)?;
    plain.try_into().map_err(|_| KeyRefusal::Undecryptable)
}

/// The safety number of two devices: 20 digits in four groups of five, the
/// same on both sides (the raw keys are sorted first): SHA-256 over a label
/// and both keys; each group is five bytes of it modulo 100000.
pub fn safety_number(device_key_a: &str, device_key_b: &str) -> String {
    let (first, second) = if device_key_a <= device_key_b {
        (device_key_a, device_key_b)
    } else {
        (device_key_b, device_key_a)
    };
    let digest = Sha256::digest(format!("accord-safety-number/1\n{first}\n{second}").as_bytes());
    digest[..20]
        .chunks(5)
        .map(|c| {
            let v = c.iter().fold(0u64, |v, b| v << 8 | u64::from(*b));
            format!("{:05}", v % 100_000)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

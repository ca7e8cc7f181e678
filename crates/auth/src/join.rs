//! Join tokens: what lets a device into a live session on the SFU.
//!
//! A join token is a compact JWS (ES256) naming the org, the session, the
//! participant, their role and the rooms they may enter on their own, with a
//! unique `jti`, a lifetime of at most two minutes, and `cnf.jkt`: the RFC 7638
//! thumbprint of the device's public key (P-256). The SFU sends a fresh nonce;
//! the device answers with the token, its public key and an ECDSA signature over
//! the nonce ([`verify_possession`]), in the spirit of RFC 9449. A stolen token
//! is useless without the device's private key, which browsers keep
//! non-extractable. Spending the `jti` exactly once is the data layer's job
//! (`accord_db::join_tokens`), shared by every SFU node.
//!
//! Only ES256 is accepted, whatever the header says, so there is no algorithm
//! confusion; keys have ids so they can be rotated: the first key signs, all
//! verify.

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::DecodePrivateKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Longest lifetime a join token may have.
pub const MAX_LIFETIME: Duration = Duration::seconds(120);
/// The audience every join token names.
pub const AUDIENCE: &str = "accord-sfu";
/// The JWS `typ`, so a join token is never mistaken for another kind of token.
const TYP: &str = "accord-join+jwt";
/// Tolerated clock difference between the issuing API node and the SFU node.
const LEEWAY: Duration = Duration::seconds(5);

/// A device's public key, as the browser's WebCrypto exports it (JWK, P-256).
#[derive(Debug, Clone)]
pub struct DeviceKey {
    key: VerifyingKey,
    thumbprint: String,
}

/// Why a device key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceKeyError {
    /// Not a JWK of an EC P-256 public key.
    #[error("the device key must be a P-256 public key in JWK form (kty EC, crv P-256, x, y)")]
    NotP256,
    /// A private key was sent: the client has a bug and the key is now exposed.
    #[error("the device key contains private material; send only the public key")]
    PrivateKey,
}

impl DeviceKey {
    /// Parses a public JWK.
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<Self, DeviceKeyError> {
        if jwk.get("d").is_some() {
            return Err(DeviceKeyError::PrivateKey);
        }
        if jwk.get("kty").and_then(|v| v.as_str()) != Some("EC")
            || jwk.get("crv").and_then(|v| v.as_str()) != Some("P-256")
        {
            return Err(DeviceKeyError::NotP256);
        }
        let coordinate = |name: &str| -> Result<Vec<u8>, DeviceKeyError> {
            let text = jwk
                .get(name)
                .and_then(|v| v.as_str())
                .ok_or(DeviceKeyError::NotP256)?;
            let bytes = B64.decode(text).map_err(|_| DeviceKeyError::NotP256)?;
            if bytes.len() == 32 {
                Ok(bytes)
            } else {
                Err(DeviceKeyError::NotP256)
            }
        };
        let (x, y) = (coordinate("x")?, coordinate("y")?);
        let mut sec1 = Vec::with_capacity(65);
        sec1.push(0x04);
        sec1.extend_from_slice(&x);
        sec1.extend_from_slice(&y);
        // Rejects points that are not on the curve.
        let key = VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| DeviceKeyError::NotP256)?;
        Ok(DeviceKey {
            thumbprint: thumbprint(&x, &y),
            key,
        })
    }

    /// The RFC 7638 thumbprint (base64url SHA-256 of the canonical JWK).
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// Whether `signature` (raw r‖s as WebCrypto makes it, or DER) signs `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        let signature = match signature.len() {
            64 => Signature::from_slice(signature),
            _ => Signature::from_der(signature),
        };
        signature.is_ok_and(|s| self.key.verify(message, &s).is_ok())
    }
}

fn thumbprint(x: &[u8], y: &[u8]) -> String {
    // RFC 7638: required members only, lexicographic order, no whitespace.
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        B64.encode(x),
        B64.encode(y)
    );
    B64.encode(Sha256::digest(canonical.as_bytes()))
}

/// Proof-of-possession confirmation (RFC 7800).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// Thumbprint of the device key the token is bound to.
    pub jkt: String,
}

/// What a join token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinClaims {
    /// Who issued it (the API's public URL).
    pub iss: String,
    /// Always [`AUDIENCE`].
    pub aud: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// Unique id, spent on first use.
    pub jti: uuid::Uuid,
    /// The org.
    pub org: uuid::Uuid,
    /// The mediation session.
    pub sid: uuid::Uuid,
    /// The participant (account id).
    pub sub: uuid::Uuid,
    /// The participant's role in the session (`mediator`, `party`, `observer`).
    pub role: String,
    /// Rooms the participant may enter on their own (`*` for all).
    pub rooms: Vec<String>,
    /// The device binding.
    pub cnf: Confirmation,
    /// The participant's browser cannot encrypt media end to end and the
    /// org allows sessions without it: their session then runs protected
    /// hop by hop only, marked so to everyone. Absent (false) by default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clear: bool,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

/// Why a join token was refused. Each maps to its own close reason on the SFU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinTokenError {
    /// Not three base64url parts of JSON.
    #[error("the join token is malformed")]
    Malformed,
    /// Not ES256, or not a join token.
    #[error("the join token uses an unsupported algorithm or type")]
    Unsupported,
    /// Signed with a key this server does not know.
    #[error("the join token's signing key is unknown")]
    UnknownKey,
    /// The signature does not match: tampered or forged.
    #[error("the join token's signature is invalid")]
    BadSignature,
    /// Issued by someone else.
    #[error("the join token was issued by another server")]
    WrongIssuer,
    /// Meant for something else.
    #[error("the join token is not meant for the SFU")]
    WrongAudience,
    /// Too old.
    #[error("the join token has expired")]
    Expired,
    /// Issued in the future, or living longer than two minutes.
    #[error("the join token's validity period is not acceptable")]
    BadLifetime,
}

/// The keys that sign and verify join tokens; the first one signs.
#[derive(Clone)]
pub struct JoinKeys {
    keys: Vec<(String, SigningKey)>,
    issuer: String,
}

impl std::fmt::Debug for JoinKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("JoinKeys")
            .field("kids", &kids)
            .field("issuer", &self.issuer)
            .finish()
    }
}

/// Why signing keys could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("join token key {kid}: {reason}")]
pub struct KeyError {
    kid: String,
    reason: String,
}

impl JoinKeys {
    /// Keys from PKCS#8 PEM (`openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`),
    /// newest first.
    pub fn from_pem(issuer: &str, keys: &[(String, String)]) -> Result<Self, KeyError> {
        let keys = keys
            .iter()
            .map(|(kid, pem)| {
                SigningKey::from_pkcs8_pem(pem)
                    .map(|k| (kid.clone(), k))
                    .map_err(|e| KeyError {
                        kid: kid.clone(),
                        reason: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(KeyError {
                kid: String::new(),
                reason: "no keys given".into(),
            });
        }
        Ok(JoinKeys {
            keys,
            issuer: issuer.to_owned(),
        })
    }

    /// A fresh random key, for a single node in development and for tests.
    pub fn generate(issuer: &str, kid: &str) -> Self {
        JoinKeys {
            keys: vec![(kid.to_owned(), SigningKey::random(&mut rand::rngs::OsRng))],
            issuer: issuer.to_owned(),
        }
    }

    /// The issuer tokens name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs a token for these claims with the newest key.
    pub fn sign(&self, claims: &JoinClaims) -> String {
        let (kid, key) = &self.keys[0];
        let header = Header {
            alg: "ES256".into(),
            typ: TYP.into(),
            kid: kid.clone(),
        };
        let signing_input = format!("{}.{}", encode(&header), encode(claims));
        let signature: Signature = key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", B64.encode(signature.to_bytes()))
    }

    /// Issues a token for a participant, valid for `lifetime` (at most
    /// [`MAX_LIFETIME`]) from `now`.
    #[allow(clippy::too_many_arguments)]
    pub fn issue(
        &self,
        now: DateTime<Utc>,
        lifetime: Duration,
        org: uuid::Uuid,
        session: uuid::Uuid,
        participant: uuid::Uuid,
        role: &str,
        rooms: Vec<String>,
        device: &DeviceKey,
    ) -> (String, JoinClaims) {
        let lifetime = lifetime.min(MAX_LIFETIME);
        let claims = JoinClaims {
            iss: self.issuer.clone(),
            aud: AUDIENCE.into(),
            iat: now.timestamp(),
            exp: (now + lifetime).timestamp(),
            jti: uuid::Uuid::new_v4(),
            org,
            sid: session,
            sub: participant,
            role: role.to_owned(),
            rooms,
            cnf: Confirmation {
                jkt: device.thumbprint().to_owned(),
            },
            clear: false,
        };
        (self.sign(&claims), claims)
    }

    /// Checks a token's form, signature, issuer, audience and validity period.
    /// Spending its `jti` and checking possession of the device key are separate
    /// steps ([`verify_possession`]).
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<JoinClaims, JoinTokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JoinTokenError::Malformed);
        };
        let decode = |part: &str| B64.decode(part).map_err(|_| JoinTokenError::Malformed);
        let header: Header =
            serde_json::from_slice(&decode(h)?).map_err(|_| JoinTokenError::Malformed)?;
        if header.alg != "ES256" || header.typ != TYP {
            return Err(JoinTokenError::Unsupported);
        }
        let key = self
            .keys
            .iter()
            .find(|(kid, _)| *kid == header.kid)
            .map(|(_, k)| VerifyingKey::from(k))
            .ok_or(JoinTokenError::UnknownKey)?;
        let signature =
            Signature::from_slice(&decode(s)?).map_err(|_| JoinTokenError::BadSignature)?;
        let signing_input = &token[..h.len() + 1 + c.len()];
        key.verify(signing_input.as_bytes(), &signature)
            .map_err(|_| JoinTokenError::BadSignature)?;
        let claims: JoinClaims =
            serde_json::from_slice(&decode(c)?).map_err(|_| JoinTokenError::Malformed)?;
        if claims.iss != self.issuer {
            return Err(JoinTokenError::WrongIssuer);
        }
        if claims.aud != AUDIENCE {
            return Err(JoinTokenError::WrongAudience);
        }
        let now = now.timestamp();
        if claims.exp <= now - LEEWAY.num_seconds() {
            return Err(JoinTokenError::Expired);
        }
        if claims.iat > now + LEEWAY.num_seconds()
            || claims.exp - claims.iat > MAX_LIFETIME.num_seconds()
        {
            return Err(JoinTokenError::BadLifetime);
        }
        Ok(claims)
    }
}

/// base64url of a token part's JSON.
fn encode<T: Serialize>(part: &T) -> String {
    // Serialising these plain structs cannot fail.
    B64.encode(serde_json::to_vec(part).unwrap_or_default())
}

/// Why a device failed to prove it holds the key a token is bound to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PossessionError {
    /// The presented key is not the one the token was issued to.
    #[error("the join token belongs to another device")]
    WrongDevice,
    /// The signature over the nonce does not verify.
    #[error("the device's signature over the challenge is invalid")]
    BadSignature,
}

/// Checks that `device` is the key the token is bound to and that it signed `nonce`.
pub fn verify_possession(
    claims: &JoinClaims,
    device: &DeviceKey,
    nonce: &[u8],
    signature: &[u8],
) -> Result<(), PossessionError> {
    let bound: bool =
        subtle::ConstantTimeEq::ct_eq(claims.cnf.jkt.as_bytes(), device.thumbprint().as_bytes())
            .into();
    if !bound {
        return Err(PossessionError::WrongDevice);
    }
    if !device.verifies(nonce, signature) {
        return Err(PossessionError::BadSignature);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> (SigningKey, DeviceKey) {
        let secret = SigningKey::random(&mut rand::rngs::OsRng);
        let point = VerifyingKey::from(&secret).to_encoded_point(false);
        let jwk = serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": B64.encode(point.x().unwrap()),
            "y": B64.encode(point.y().unwrap()),
            "ext": true,
            "key_ops": ["verify"],
        });
        (secret, DeviceKey::from_jwk(&jwk).unwrap())
    }

    fn keys() -> JoinKeys {
        JoinKeys::generate("https://accord.example", "k1")
    }

    fn issue(keys: &JoinKeys, device: &DeviceKey, now: DateTime<Utc>) -> (String, JoinClaims) {
        let id = uuid::Uuid::new_v4;
        keys.issue(
            now,
            MAX_LIFETIME,
            id(),
            id(),
            id(),
            "party",
            vec!["lobby".into()],
            device,
        )
    }

    #[test]
    fn thumbprint_follows_rfc7638() {
        // Expected value computed independently: base64url(sha256(
        // '{"crv":"P-256","kty":"EC","x":"<x>","y":"<y>"}')) for x = 1..=32, y = 33..=64.
        let x: Vec<u8> = (1..=32).collect();
        let y: Vec<u8> = (33..=64).collect();
        assert_eq!(
            thumbprint(&x, &y),
            "t1ZI8tOt77KZ9YepYcUiqtqXcpIYInMJhkFb6casAFo"
        );
    }

    #[test]
    fn device_keys_must_be_public_p256_points() {
        let (_, good) = device();
        assert_eq!(good.thumbprint().len(), 43);
        let on_curve = |x: &str, y: &str| serde_json::json!({"kty":"EC","crv":"P-256","x":x,"y":y});
        let zero = B64.encode([0u8; 32]);
        assert_eq!(
            DeviceKey::from_jwk(&on_curve(&zero, &zero)).unwrap_err(),
            DeviceKeyError::NotP256
        );
        assert_eq!(
            DeviceKey::from_jwk(&serde_json::json!({"kty":"EC","crv":"P-384","x":"AA","y":"AA"}))
                .unwrap_err(),
            DeviceKeyError::NotP256
        );
        assert_eq!(
            DeviceKey::from_jwk(
                &serde_json::json!({"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"})
            )
            .unwrap_err(),
            DeviceKeyError::PrivateKey
        );
        assert_eq!(
            DeviceKey::from_jwk(&serde_json::json!("nope")).unwrap_err(),
            DeviceKeyError::NotP256
        );
    }

    #[test]
    fn a_token_round_trips_and_binds_the_device() {
        let keys = keys();
        let (_, device) = device();
        let now = Utc::now();
        let (token, claims) = issue(&keys, &device, now);
        let verified = keys.verify(&token, now).unwrap();
        assert_eq!(verified, claims);
        assert_eq!(verified.cnf.jkt, device.thumbprint());
        assert_eq!(verified.exp - verified.iat, 120);
        assert_eq!(verified.aud, AUDIENCE);
    }

    #[test]
    fn tampered_forged_and_foreign_tokens_are_refused() {
        let keys = keys();
        let (_, device) = device();
        let now = Utc::now();
        let (token, mut claims) = issue(&keys, &device, now);

        // Change a claim but keep the signature.
        claims.role = "mediator".into();
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], encode(&claims), parts[2]);
        assert_eq!(keys.verify(&forged, now), Err(JoinTokenError::BadSignature));

        // Same key id, another key.
        let impostor = JoinKeys::generate("https://accord.example", "k1");
        assert_eq!(
            keys.verify(&impostor.sign(&claims), now),
            Err(JoinTokenError::BadSignature)
        );
        // Unknown key id.
        let other = JoinKeys::generate("https://accord.example", "k9");
        assert_eq!(
            keys.verify(&other.sign(&claims), now),
            Err(JoinTokenError::UnknownKey)
        );
        // "alg": "none" and other kinds of token.
        let none = format!(
            "{}.{}.",
            encode(&serde_json::json!({"alg":"none","typ":TYP,"kid":"k1"})),
            parts[1]
        );
        assert_eq!(keys.verify(&none, now), Err(JoinTokenError::Unsupported));
        let jwt = format!(
            "{}.{}.{}",
            encode(&serde_json::json!({"alg":"ES256","typ":"JWT","kid":"k1"})),
            parts[1],
            parts[2]
        );
        assert_eq!(keys.verify(&jwt, now), Err(JoinTokenError::Unsupported));
        for garbage in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.!!.!!",
            &format!("{}.e30.{}", parts[0], parts[2]),
        ] {
            assert!(
                matches!(
                    keys.verify(garbage, now),
                    Err(JoinTokenError::Malformed | JoinTokenError::BadSignature)
                ),
                "{garbage}"
            );
        }
    }

    #[test]
    fn issuer_audience_and_time_are_checked() {
        let keys = keys();
        let (_, device) = device();
        let now = Utc::now();
        let (_, claims) = issue(&keys, &device, now);

        let other_issuer = JoinKeys {
            issuer: "https://elsewhere.example".into(),
            ..keys.clone()
        };
        assert_eq!(
            other_issuer.verify(&keys.sign(&claims), now),
            Err(JoinTokenError::WrongIssuer)
        );
        let mut c = claims.clone();
        c.aud = "something-else".into();
        assert_eq!(
            keys.verify(&keys.sign(&c), now),
            Err(JoinTokenError::WrongAudience)
        );

        let (token, _) = issue(&keys, &device, now);
        assert!(
            keys.verify(&token, now + Duration::seconds(124)).is_ok(),
            "within leeway"
        );
        assert_eq!(
            keys.verify(&token, now + Duration::seconds(126)),
            Err(JoinTokenError::Expired)
        );

        let mut long = claims.clone();
        long.exp = long.iat + 3600;
        assert_eq!(
            keys.verify(&keys.sign(&long), now),
            Err(JoinTokenError::BadLifetime)
        );
        let mut future = claims;
        future.iat += 60;
        future.exp += 60;
        assert_eq!(
            keys.verify(&keys.sign(&future), now),
            Err(JoinTokenError::BadLifetime)
        );
        // Issuing never exceeds the maximum lifetime.
        let id = uuid::Uuid::new_v4;
        let (_, c) = keys.issue(
            now,
            Duration::hours(1),
            id(),
            id(),
            id(),
            "party",
            vec![],
            &device,
        );
        assert_eq!(c.exp - c.iat, 120);
    }

    #[test]
    fn rotated_keys_still_verify_and_the_newest_signs() {
        let old = JoinKeys::generate("iss", "2026-10");
        let new = JoinKeys::generate("iss", "2026-11");
        let both = JoinKeys {
            keys: vec![new.keys[0].clone(), old.keys[0].clone()],
            issuer: "iss".into(),
        };
        let (_, device) = device();
        let now = Utc::now();
        let (from_old, _) = issue(&old, &device, now);
        assert!(both.verify(&from_old, now).is_ok());
        let (from_both, _) = issue(&both, &device, now);
        assert!(new.verify(&from_both, now).is_ok());
        assert_eq!(old.verify(&from_both, now), Err(JoinTokenError::UnknownKey));
    }

    #[test]
    fn possession_needs_the_bound_device_and_a_signature_over_the_nonce() {
        let keys = keys();
        let (secret, device) = device();
        let (thief_secret, thief_device) = self::device();
        let now = Utc::now();
        let (token, _) = issue(&keys, &device, now);
        let claims = keys.verify(&token, now).unwrap();
        let nonce = b"nonce-from-the-sfu";
        let raw: Signature = secret.sign(nonce);
        assert_eq!(
            verify_possession(&claims, &device, nonce, &raw.to_bytes()),
            Ok(())
        );
        assert_eq!(
            verify_possession(&claims, &device, nonce, raw.to_der().as_bytes()),
            Ok(())
        );
        assert_eq!(
            verify_possession(&claims, &device, b"another-nonce", &raw.to_bytes()),
            Err(PossessionError::BadSignature)
        );
        assert_eq!(
            verify_possession(&claims, &device, nonce, b"garbage"),
            Err(PossessionError::BadSignature)
        );
        // A stolen token on another device: the thief signs with their own key.
        let stolen: Signature = thief_secret.sign(nonce);
        assert_eq!(
            verify_possession(&claims, &thief_device, nonce, &stolen.to_bytes()),
            Err(PossessionError::WrongDevice)
        );
    }

    #[test]
    fn keys_load_from_pkcs8_pem() {
        use p256::pkcs8::{EncodePrivateKey, LineEnding};
        let secret = SigningKey::random(&mut rand::rngs::OsRng);
        let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let keys = JoinKeys::from_pem("iss", &[("k1".into(), pem)]).unwrap();
        assert!(format!("{keys:?}").contains("k1"));
        assert!(!format!("{keys:?}").contains("PRIVATE"));
        assert!(JoinKeys::from_pem("iss", &[("bad".into(), "not a pem".into())]).is_err());
        assert!(JoinKeys::from_pem("iss", &[]).is_err());
    }
}

//! The bot's device key: a P-256 key pair like the one a browser makes with
//! WebCrypto. The join token is bound to its public JWK; the bot proves it
//! holds the private key by signing the server's challenge.

use base64::Engine as _;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use serde_json::{json, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Why a device key could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not a PKCS#8 P-256 private key in PEM.
    #[error("not a P-256 private key in PKCS#8 PEM: {0}")]
    Pem(String),
}

/// A fresh random device key.
pub fn generate() -> SigningKey {
    SigningKey::random(&mut rand::rngs::OsRng)
}

/// The public key as a JWK: `{"kty":"EC","crv":"P-256","x":…,"y":…}`.
pub fn jwk(key: &VerifyingKey) -> Value {
    let point = key.to_encoded_point(false);
    let coordinate = |c: Option<&p256::FieldBytes>| c.map(|c| B64.encode(c)).unwrap_or_default();
    json!({
        "kty": "EC",
        "crv": "P-256",
        "x": coordinate(point.x()),
        "y": coordinate(point.y()),
    })
}

/// The hello's signature: ECDSA P-256/SHA-256 over the nonce's UTF-8 bytes,
/// raw r‖s (64 bytes), base64url without padding.
pub fn sign_nonce(key: &SigningKey, nonce: &str) -> String {
    let signature: Signature = key.sign(nonce.as_bytes());
    B64.encode(signature.to_bytes())
}

/// Reads a PKCS#8 PEM private key (`openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`).
pub fn from_pem(pem: &str) -> Result<SigningKey, KeyError> {
    SigningKey::from_pkcs8_pem(pem).map_err(|e| KeyError::Pem(e.to_string()))
}

/// The key as PKCS#8 PEM.
pub fn to_pem(key: &SigningKey) -> Result<String, KeyError> {
    key.to_pkcs8_pem(LineEnding::LF)
        .map(|pem| pem.to_string())
        .map_err(|e| KeyError::Pem(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;

    #[test]
    fn jwk_signature_and_pem() {
        let key = generate();
        let jwk = jwk(key.verifying_key());
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        let x = B64
            .decode(jwk["x"].as_str().unwrap_or(""))
            .unwrap_or_default();
        let y = B64
            .decode(jwk["y"].as_str().unwrap_or(""))
            .unwrap_or_default();
        assert_eq!((x.len(), y.len()), (32, 32));

        let signature = B64
            .decode(sign_nonce(&key, "the-nonce"))
            .unwrap_or_default();
        assert_eq!(signature.len(), 64);
        let signature = Signature::from_slice(&signature).expect("r||s");
        assert!(key.verifying_key().verify(b"the-nonce", &signature).is_ok());
        assert!(key.verifying_key().verify(b"other", &signature).is_err());

        let pem = to_pem(&key).expect("encodes");
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = from_pem(&pem).expect("decodes");
        assert_eq!(back.verifying_key(), key.verifying_key());
        assert!(from_pem("not a key").is_err());
    }
}

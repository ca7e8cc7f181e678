//! Random secrets (session tokens, link tokens), their stored hashes, and CSRF
//! tokens derived from session tokens.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A fresh 256-bit secret, base64url without padding (43 characters).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    B64.encode(bytes)
}

/// The SHA-256 of a token: what the database keeps instead of the token.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The CSRF token for a session token: HMAC-SHA256 keyed by the session token.
/// Only someone who can read the session's responses (not a cross-site page,
/// which cannot read the HttpOnly cookie nor our responses) can know it.
pub fn csrf_token(session_token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(session_token.as_bytes())
        .unwrap_or_else(|_| unreachable_hmac());
    mac.update(b"accord-csrf-v1");
    B64.encode(mac.finalize().into_bytes())
}

// HMAC accepts keys of any length, so construction cannot fail.
fn unreachable_hmac() -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(&[0]).unwrap_or_else(|_| unreachable_hmac())
}

/// Whether `presented` is the CSRF token of `session_token`, in constant time.
pub fn csrf_matches(session_token: &str, presented: &str) -> bool {
    let expected = csrf_token(session_token);
    expected.as_bytes().ct_eq(presented.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hash_stably() {
        let a = new_token();
        let b = new_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
    }

    #[test]
    fn csrf_is_bound_to_its_session() {
        let s1 = new_token();
        let s2 = new_token();
        let t1 = csrf_token(&s1);
        assert!(csrf_matches(&s1, &t1));
        assert!(!csrf_matches(&s2, &t1));
        assert!(!csrf_matches(&s1, ""));
        assert!(!csrf_matches(&s1, &t1[1..]));
    }
}

//! RFC 6238 time-based one-time passwords (HMAC-SHA1, 6 digits, 30-second steps)
//! and recovery codes.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use sha1::Sha1;
use sha2::{Digest, Sha256};

const STEP_SECONDS: i64 = 30;
const DIGITS: u32 = 6;

/// A fresh 160-bit secret (RFC 4226 recommends at least 128, SHA-1's block gives 160).
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    rand::thread_rng().fill_bytes(&mut secret);
    secret
}

/// The secret as authenticator apps take it (base32, no padding).
pub fn secret_base32(secret: &[u8]) -> String {
    BASE32_NOPAD.encode(secret)
}

/// An `otpauth://` URI for QR codes.
pub fn provisioning_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let label = format!("{issuer}:{account}");
    let mut url = url::Url::parse("otpauth://totp/").unwrap_or_else(|_| unreachable_url());
    url.set_path(&label);
    url.query_pairs_mut()
        .append_pair("secret", &secret_base32(secret))
        .append_pair("issuer", issuer)
        .append_pair("algorithm", "SHA1")
        .append_pair("digits", "6")
        .append_pair("period", "30");
    url.to_string()
}

fn unreachable_url() -> url::Url {
    // "otpauth://totp/" is a constant, valid URL; this is never reached.
    url::Url::parse("otpauth://totp/").unwrap_or_else(|_| unreachable_url())
}

/// The time step containing `unix_seconds`.
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The code for a time step (RFC 4226 dynamic truncation).
pub fn code_at_step(secret: &[u8], step: i64) -> String {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = (u32::from(digest[offset]) & 0x7f) << 24
        | u32::from(digest[offset + 1]) << 16
        | u32::from(digest[offset + 2]) << 8
        | u32::from(digest[offset + 3]);
    format!(
        "{:0width$}",
        binary % 10u32.pow(DIGITS),
        width = DIGITS as usize
    )
}

/// Checks `code` against the steps around `unix_seconds` (one step of clock
/// skew either way) and returns the matching step. Steps at or before
/// `last_used_step` are refused so a code cannot be replayed.
pub fn verify(
    secret: &[u8],
    code: &str,
    unix_seconds: i64,
    last_used_step: Option<i64>,
) -> Option<i64> {
    let code = code.trim().replace(' ', "");
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_seconds);
    (now - 1..=now + 1)
        .filter(|step| last_used_step.is_none_or(|last| *step > last))
        .find(|step| {
            let expected = code_at_step(secret, *step);
            subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), code.as_bytes()).into()
        })
}

/// Ten fresh recovery codes, like `k7qm-4xtz-9p2d`, shown to the user once.
pub fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..10)
        .map(|_| {
            let chars: Vec<char> = (0..12)
                .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
                .collect();
            format!(
                "{}-{}-{}",
                chars[0..4].iter().collect::<String>(),
                chars[4..8].iter().collect::<String>(),
                chars[8..12].iter().collect::<String>()
            )
        })
        .collect()
}

/// The stored form of a recovery code: case and dashes do not matter.
pub fn hash_recovery_code(code: &str) -> [u8; 32] {
    let normalized: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Sha256::digest(normalized.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", 8-digit codes
    // truncated to their last 6 digits (the truncation is modulo 10^digits).
    #[test]
    fn matches_rfc6238_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at_step(secret, step_at(time)), eight[2..], "t={time}");
        }
    }

    #[test]
    fn accepts_one_step_of_skew_and_refuses_replay() {
        let secret = new_secret();
        let now = 1_700_000_000;
        let code = code_at_step(&secret, step_at(now));
        let step = verify(&secret, &code, now, None).expect("current code");
        assert_eq!(verify(&secret, &code, now + 30, None), Some(step));
        assert_eq!(verify(&secret, &code, now + 61, None), None, "too old");
        assert_eq!(verify(&secret, &code, now, Some(step)), None, "replay");
        assert_eq!(verify(&secret, "12345", now, None), None);
        assert_eq!(verify(&secret, "abcdef", now, None), None);
    }

    #[test]
    fn recovery_codes_are_distinct_and_normalize() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        let c = &codes[0];
        assert_eq!(
            hash_recovery_code(c),
            hash_recovery_code(&c.to_uppercase().replace('-', " "))
        );
    }
}

//! Password hashing with argon2id.

use accord_domain::PlainPassword;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Hashing failed; only possible through a bug in parameters.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

fn hasher() -> Argon2<'static> {
    // OWASP's argon2id recommendation: 19 MiB memory, 2 iterations, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a new password into a PHC string (algorithm, parameters and salt included).
pub fn hash_password(password: &PlainPassword) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_str().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `candidate` matches the stored PHC string. A malformed hash never matches.
pub fn verify_password(stored: &str, candidate: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => hasher()
            .verify_password(candidate.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the same time as a real verification, for accounts that do not
/// exist or have no password yet, so response times do not reveal which emails
/// have accounts.
pub fn dummy_verify(candidate: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let stored = DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(b"accord-dummy-password", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    });
    let _ = verify_password(stored, candidate);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let pw = PlainPassword::parse("correct horse battery staple").unwrap();
        let a = hash_password(&pw).unwrap();
        let b = hash_password(&pw).unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify_password(&a, "correct horse battery staple"));
        assert!(!verify_password(&a, "correct horse battery stapl"));
        assert!(!verify_password("not a phc string", "anything"));
    }
}

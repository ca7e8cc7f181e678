//! Back-off after repeated failed sign-ins to one account.
//!
//! Per-IP rate limits stop one client hammering the server; this stops many
//! clients guessing one account's password. The first few failures are free
//! (typos); after that each failure doubles the wait, up to an hour.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

/// Failures allowed before the account starts backing off.
pub const FREE_FAILURES: i32 = 5;
const FIRST_LOCK_SECONDS: i64 = 30;
const MAX_LOCK_SECONDS: i64 = 3600;

/// How long the account is locked after its `failures`-th consecutive failure.
pub fn lock_duration(failures: i32) -> Option<Duration> {
    if failures < FREE_FAILURES {
        return None;
    }
    let doublings = u32::try_from(failures - FREE_FAILURES).unwrap_or(0).min(20);
    let seconds = FIRST_LOCK_SECONDS
        .saturating_mul(1i64 << doublings)
        .min(MAX_LOCK_SECONDS);
    Some(Duration::seconds(seconds))
}

/// The lock to store after the `failures`-th failure at `now`.
pub fn locked_until(failures: i32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    lock_duration(failures).map(|d| now + d)
}

/// The key failures are counted under: a hash of the normalised address, the
/// same whether or not an account uses it.
pub fn throttle_key(email: &accord_domain::EmailAddress) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"accord-sign-in-throttle\0");
    h.update(email.as_str().as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_exponentially_with_a_cap() {
        for f in 0..FREE_FAILURES {
            assert_eq!(lock_duration(f), None);
        }
        assert_eq!(lock_duration(5), Some(Duration::seconds(30)));
        assert_eq!(lock_duration(6), Some(Duration::seconds(60)));
        assert_eq!(lock_duration(7), Some(Duration::seconds(120)));
        assert_eq!(lock_duration(12), Some(Duration::seconds(3600)));
        assert_eq!(lock_duration(1000), Some(Duration::seconds(3600)));
    }
}

//! Password hashing with argon2id.
//!
//! Each hash needs 19 MiB of work memory. Allocated per hash, a burst of
//! sign-ins on many threads left the process hundreds of MiB larger for good:
//! glibc raises its mmap threshold after the first such block is freed, so
//! later ones come from per-thread arenas that are never given back. Here
//! the work memory comes from one small pool instead: at most one hash per
//! CPU runs at a time (more would not finish sooner), each on a buffer the
//! next hash reuses, so the memory for passwords is bounded by the number of
//! CPUs whatever the load.

use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};

use accord_domain::PlainPassword;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// Hashing failed; only possible through a bug in parameters.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

fn params() -> Params {
    // OWASP's argon2id recommendation: 19 MiB memory, 2 iterations, 1 lane.
    Params::new(19 * 1024, 2, 1, None).unwrap_or_default()
}

/// Argon2's work memory, shared by every hash in the process.
struct Workspace {
    pool: Mutex<Pool>,
    freed: Condvar,
    /// Hashes that may run at once.
    limit: usize,
}

struct Pool {
    idle: Vec<Vec<Block>>,
    busy: usize,
}

fn workspace() -> &'static Workspace {
    static WORKSPACE: OnceLock<Workspace> = OnceLock::new();
    WORKSPACE.get_or_init(|| Workspace {
        pool: Mutex::new(Pool {
            idle: Vec::new(),
            busy: 0,
        }),
        freed: Condvar::new(),
        limit: std::thread::available_parallelism().map_or(2, usize::from),
    })
}

impl Workspace {
    fn lock(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A buffer taken from the pool; given back (wiped) when dropped, also on a
/// panic, so a slot is never lost.
struct Lease {
    blocks: Vec<Block>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        // The blocks are derived from the password: wipe them before reuse.
        self.blocks.fill(Block::default());
        let workspace = workspace();
        let mut pool = workspace.lock();
        pool.busy -= 1;
        pool.idle.push(std::mem::take(&mut self.blocks));
        drop(pool);
        workspace.freed.notify_one();
    }
}

/// Runs `f` on `count` blocks of pooled work memory, waiting for a free slot
/// when as many hashes as CPUs are running.
fn with_blocks<R>(count: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
    let workspace = workspace();
    let mut lease = {
        let mut pool = workspace.lock();
        while pool.busy >= workspace.limit {
            pool = workspace
                .freed
                .wait(pool)
                .unwrap_or_else(|p| p.into_inner());
        }
        pool.busy += 1;
        Lease {
            blocks: pool.idle.pop().unwrap_or_default(),
        }
    };
    if lease.blocks.len() < count {
        lease.blocks.resize(count, Block::default());
    }
    f(&mut lease.blocks[..count])
}

/// Hashes a new password into a PHC string (algorithm, parameters and salt included).
pub fn hash_password(password: &PlainPassword) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    let params = params();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .map_err(|e| HashError(e.to_string()))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    with_blocks(params.block_count(), |blocks| {
        argon2.hash_password_into_with_memory(
            password.as_str().as_bytes(),
            salt_bytes,
            &mut out,
            blocks,
        )
    })
    .map_err(|e| HashError(e.to_string()))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| HashError(e.to_string()))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| HashError(e.to_string()))?),
    };
    Ok(hash.to_string())
}

/// Whether `candidate` matches the stored PHC string. A malformed hash never matches.
pub fn verify_password(stored: &str, candidate: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    let hashed = with_blocks(params.block_count(), |blocks| {
        argon2.hash_password_into_with_memory(candidate.as_bytes(), salt_bytes, &mut out, blocks)
    });
    // Output's equality is constant-time.
    hashed.is_ok() && Output::new(&out).is_ok_and(|out| out == expected)
}

/// Spends the same time as a real verification, for accounts that do not
/// exist or have no password yet, so response times do not reveal which emails
/// have accounts.
pub fn dummy_verify(candidate: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let stored = DUMMY.get_or_init(|| {
        PlainPassword::parse("accord-dummy-password")
            .ok()
            .and_then(|p| hash_password(&p).ok())
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

    #[test]
    fn hashes_made_by_the_argon2_crates_own_hasher_still_verify() {
        use argon2::password_hash::PasswordHasher as _;
        let salt = SaltString::generate(&mut OsRng);
        let stored = Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
            .hash_password(b"an older password", &salt)
            .unwrap()
            .to_string();
        assert!(verify_password(&stored, "an older password"));
        assert!(!verify_password(&stored, "an older passworD"));
        // And ours verify with the crate's verifier.
        let ours = hash_password(&PlainPassword::parse("a newer password").unwrap()).unwrap();
        use argon2::password_hash::PasswordVerifier as _;
        assert!(Argon2::default()
            .verify_password(b"a newer password", &PasswordHash::new(&ours).unwrap())
            .is_ok());
    }

    #[test]
    fn no_more_hashes_run_at_once_than_the_pool_allows() {
        let workspace = workspace();
        let running = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..workspace.limit * 3)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                std::thread::spawn(move || {
                    with_blocks(8, |blocks| {
                        let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        most.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        assert!(
                            blocks.iter().all(|b| b.as_ref().iter().all(|w| *w == 0)),
                            "wiped"
                        );
                        blocks[0].as_mut()[0] = 1;
                        running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    })
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(most.load(std::sync::atomic::Ordering::SeqCst) <= workspace.limit);
        assert!(workspace.lock().idle.len() <= workspace.limit);
    }
}

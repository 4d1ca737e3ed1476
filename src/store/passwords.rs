//! Password hashing for agents: argon2id PHC strings (RFC 9106), salted from the OS RNG.
//!
//! Hashing and verifying cost tens of milliseconds of CPU by design, so the async wrappers run
//! them on tokio's blocking pool instead of stalling a reactor thread.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::TryRngCore;
use rand::rngs::OsRng;

use super::StoreError;

/// Random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0_u8; N];
    // The OS RNG only fails when the kernel cannot supply entropy at all; nothing secure can
    // be done then.
    OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's RNG is unavailable");
    bytes
}

fn hasher() -> Argon2<'static> {
    // Unit tests hash hundreds of passwords in a debug build. Production uses the OWASP
    // argon2id setting of 7 MiB and 5 passes, which OWASP rates as strong as the crate's
    // default of 19 MiB and 2 passes for the same CPU: the switch's allocator keeps a freed
    // block for its thread's next use, so each hash's memory can stay resident after it, and
    // 7 MiB of that is what a 2,000-calls-per-second switch can spare. Hashes stored with other
    // parameters still verify: a PHC string carries its own.
    #[cfg(test)]
    let params = Params::new(Params::MIN_M_COST, 1, 1, None).expect("valid argon2 params");
    #[cfg(not(test))]
    let params = Params::new(7 * 1024, 5, 1, None).expect("valid argon2 params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The argon2id PHC string of `password` with a fresh salt.
pub fn hash_password_blocking(password: &str) -> Result<String, StoreError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()).map_err(|e| internal(&e))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| internal(&e))
}

/// Whether `password` matches the PHC string `hash`; an unreadable hash never matches.
#[must_use]
pub fn verify_password_blocking(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// [`hash_password_blocking`] on the blocking pool.
pub async fn hash_password(password: &str) -> Result<String, StoreError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_password_blocking(&password))
        .await
        .map_err(|e| internal(&e))?
}

/// [`verify_password_blocking`] on the blocking pool. With `hash` `None` (no such agent) a
/// fixed hash is checked instead, so an unknown id costs as much time as a wrong password.
pub async fn verify_password(hash: Option<String>, password: &str) -> bool {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || match hash {
        Some(hash) => verify_password_blocking(&hash, &password),
        None => {
            let _ = verify_password_blocking(dummy_hash(), &password);
            false
        }
    })
    .await
    .unwrap_or(false)
}

fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password_blocking("no agent has this password").unwrap_or_default())
}

fn internal(e: &dyn std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        table: "agents",
        column: "password_hash",
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_and_nothing_else() {
        let hash = hash_password_blocking("s3cret").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("s3cret"));
        assert!(verify_password_blocking(&hash, "s3cret"));
        assert!(!verify_password_blocking(&hash, "s3cret "));
        assert!(!verify_password_blocking("not a hash", "s3cret"));
    }

    #[test]
    fn the_same_password_gets_a_different_salt_each_time() {
        assert_ne!(
            hash_password_blocking("pw").unwrap(),
            hash_password_blocking("pw").unwrap()
        );
    }

    #[tokio::test]
    async fn an_unknown_agent_never_verifies() {
        assert!(!verify_password(None, "no agent has this password").await);
    }
}

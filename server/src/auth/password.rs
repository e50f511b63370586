//! Argon2id password hashing, run on the blocking pool so it never stalls the async runtime.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Hashing failed (the blocking task died or argon2 refused the input).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes a password into a PHC string.
pub async fn hash(password: String) -> Result<String, HashError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| HashError(err.to_string()))
    })
    .await
    .map_err(|err| HashError(err.to_string()))?
}

/// Whether `password` matches the PHC string `hash`. Without a usable hash (no such account, or
/// one without a password) the password is checked against a decoy and never matches, so the
/// answer takes as long as for a wrong password and does not tell which sign-in names exist.
pub async fn verify(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let parsed = hash
            .as_deref()
            .and_then(|hash| PasswordHash::new(hash).ok());
        let matches = |parsed: &PasswordHash<'_>| {
            Argon2::default()
                .verify_password(password.as_bytes(), parsed)
                .is_ok()
        };
        match parsed {
            Some(parsed) => matches(&parsed),
            None => {
                let decoy = PasswordHash::new(decoy()).expect("the decoy is a PHC string");
                let _ = matches(&decoy);
                false
            }
        }
    })
    .await
    .unwrap_or(false)
}

/// The hash of a random password, made once with the default parameters.
fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        let password = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_str().as_bytes(), &salt)
            .expect("argon2 hashes a random password")
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_matches_only_its_own_hash() {
        let hashed = hash("水票2026".into()).await.unwrap();
        assert!(verify("水票2026".into(), Some(hashed.clone())).await);
        assert!(!verify("水票2025".into(), Some(hashed)).await);
        assert!(!verify("水票2026".into(), Some("!".into())).await);
        assert!(!verify("水票2026".into(), None).await);
    }
}

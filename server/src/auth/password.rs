//! Passwords: the one rule for a password someone chooses ([`check`], applied by [`choose`]
//! wherever a password is set: sign-up, staff accounts, changes and resets, the command line),
//! and Argon2id hashing, run on the blocking pool so it never stalls the async runtime.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Shortest password anyone may choose.
pub const MIN_CHARS: usize = 8;
/// Longest: argon2 takes any length, but hashing a huge body on every attempt is needless work.
pub const MAX_CHARS: usize = 128;

/// Why a chosen password is refused; the message is shown to the person as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    /// Shorter than [`MIN_CHARS`].
    #[error("密码至少需要 8 位")]
    TooShort,
    /// Longer than [`MAX_CHARS`].
    #[error("密码不能超过 128 位")]
    TooLong,
    /// The login name itself (letter case and surrounding spaces aside): the first guess.
    #[error("密码不能与登录名相同")]
    SameAsUsername,
}

/// The rule for a password `username` chooses.
pub fn check(username: &str, password: &str) -> Result<(), WeakPassword> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(WeakPassword::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(WeakPassword::TooLong);
    }
    if password.trim().to_lowercase() == username.trim().to_lowercase() {
        return Err(WeakPassword::SameAsUsername);
    }
    Ok(())
}

/// Why a password could not be set.
#[derive(Debug, thiserror::Error)]
pub enum ChooseError {
    /// The password breaks the rule.
    #[error(transparent)]
    Weak(#[from] WeakPassword),
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// Checks a password `username` chooses against [`check`] and hashes it for storing.
pub async fn choose(username: &str, password: &str) -> Result<String, ChooseError> {
    check(username, password)?;
    Ok(hash(password.to_string()).await?)
}

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

    #[test]
    fn the_rule_wants_length_and_not_the_login_name() {
        assert_eq!(check("zhang", "short"), Err(WeakPassword::TooShort));
        assert_eq!(
            check("zhang", "水票水票水票水"),
            Err(WeakPassword::TooShort)
        );
        assert_eq!(
            check("zhang", "水票水票水票水票"),
            Ok(()),
            "characters, not bytes"
        );
        assert_eq!(check("zhang", &"x".repeat(129)), Err(WeakPassword::TooLong));
        assert_eq!(check("zhang", &"x".repeat(128)), Ok(()));
        assert_eq!(
            check("operator-li", "Operator-Li"),
            Err(WeakPassword::SameAsUsername)
        );
        assert_eq!(
            check("operator-li", " operator-li "),
            Err(WeakPassword::SameAsUsername)
        );
        assert_eq!(check("operator-li", "operator-li-2026"), Ok(()));
        assert_eq!(WeakPassword::TooShort.to_string(), "密码至少需要 8 位");
    }

    #[tokio::test]
    async fn choose_checks_then_hashes() {
        assert!(matches!(
            choose("zhang", "short").await,
            Err(ChooseError::Weak(WeakPassword::TooShort))
        ));
        let hashed = choose("zhang", "long enough").await.unwrap();
        assert!(verify("long enough".into(), Some(hashed)).await);
    }

    #[tokio::test]
    async fn a_password_matches_only_its_own_hash() {
        let hashed = hash("水票2026".into()).await.unwrap();
        assert!(verify("水票2026".into(), Some(hashed.clone())).await);
        assert!(!verify("水票2025".into(), Some(hashed)).await);
        assert!(!verify("水票2026".into(), Some("!".into())).await);
        assert!(!verify("水票2026".into(), None).await);
    }
}

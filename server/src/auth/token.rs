//! Bearer tokens of the form `<id>.<secret>`: the id finds the row, and the SHA-256 of the
//! secret is compared in constant time with the stored hash. Only hashes are stored.

use sha2::{Digest, Sha256};
use shuipiao_shared::ids::DeviceId;
use subtle::ConstantTimeEq;

use crate::random;

/// First character of device token ids; session ids start with `s`, so the two never mix.
pub const DEVICE_TOKEN_PREFIX: char = 'd';

/// The public id of a device token.
pub fn device_token_id(device: DeviceId) -> String {
    format!("{DEVICE_TOKEN_PREFIX}{}", device.0)
}

/// A fresh secret half: give `text` to the client once (joined to an id), store `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    /// 32 base32 characters (160 random bits).
    pub text: String,
    /// SHA-256 of `text`.
    pub hash: Vec<u8>,
}

/// Makes a fresh secret.
pub fn secret() -> Secret {
    let text = data_encoding::BASE32_NOPAD.encode(&random::bytes::<20>());
    Secret {
        hash: sha256(text.as_bytes()).to_vec(),
        text,
    }
}

/// The token text a client sends: `id.secret`.
pub fn join(id: &str, secret: &Secret) -> String {
    format!("{id}.{}", secret.text)
}

/// Splits a token into id and secret; `None` if it is not shaped like one.
pub fn split(text: &str) -> Option<(&str, &str)> {
    let (id, secret) = text.split_once('.')?;
    (!id.is_empty() && !secret.is_empty() && text.len() <= 256).then_some((id, secret))
}

/// Whether `secret` hashes to `stored_hash`, compared in constant time.
pub fn matches(secret: &str, stored_hash: &[u8]) -> bool {
    sha256(secret.as_bytes()).ct_eq(stored_hash).into()
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A random public id for sessions: `s` and 32 lower-case hex digits (never the device prefix).
pub fn session_id() -> String {
    format!(
        "s{}",
        data_encoding::HEXLOWER.encode(&random::bytes::<16>())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_others_do_not() {
        let made = secret();
        let text = join("s1", &made);
        let (id, secret_text) = split(&text).unwrap();
        assert_eq!(id, "s1");
        assert!(matches(secret_text, &made.hash));
        assert!(!matches("wrong", &made.hash));
        assert!(
            !matches(secret_text, &made.hash[..31]),
            "length mismatch never matches"
        );
        assert_eq!(split("no-dot"), None);
        assert_eq!(split(".x"), None);
    }
}

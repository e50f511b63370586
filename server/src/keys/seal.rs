//! Sealing private keys at rest with AES-256-GCM under the master key. The key id is the
//! associated data, so a sealed secret cannot be moved to another key's row.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use crate::config::MasterKey;
use crate::random;

const NONCE_LEN: usize = 12;

/// The sealed secret does not open under this master key (wrong key or tampered row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sealed key does not open with the configured master key")]
pub struct UnsealError;

/// Encrypts `secret`, returning nonce ‖ ciphertext ‖ tag.
pub fn seal(master: &MasterKey, kid: [u8; 4], secret: &[u8; 32]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(master.bytes().into());
    let nonce_bytes = random::bytes::<NONCE_LEN>();
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce_bytes),
            Payload {
                msg: secret,
                aad: &kid,
            },
        )
        .expect("AES-GCM encryption of 32 bytes cannot fail");
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&ciphertext);
    out
}

/// Decrypts what [`seal`] produced.
pub fn unseal(master: &MasterKey, kid: [u8; 4], sealed: &[u8]) -> Result<[u8; 32], UnsealError> {
    if sealed.len() < NONCE_LEN {
        return Err(UnsealError);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let cipher = Aes256Gcm::new(master.bytes().into());
    let plain = cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: &kid,
            },
        )
        .map_err(|_| UnsealError)?;
    plain.try_into().map_err(|_| UnsealError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let master = MasterKey::from_bytes([7; 32]);
        let sealed = seal(&master, [1, 2, 3, 4], &[9; 32]);
        assert_eq!(unseal(&master, [1, 2, 3, 4], &sealed), Ok([9; 32]));
        assert_eq!(
            unseal(&master, [1, 2, 3, 5], &sealed),
            Err(UnsealError),
            "kid is bound"
        );
        let other = MasterKey::from_bytes([8; 32]);
        assert_eq!(unseal(&other, [1, 2, 3, 4], &sealed), Err(UnsealError));
        assert_eq!(
            unseal(&master, [1, 2, 3, 4], &sealed[..5]),
            Err(UnsealError)
        );
    }
}

//! Sealing secrets at rest with AES-256-GCM: private keys under the master key (the key id is the
//! associated data, so a sealed secret cannot be moved to another key's row), and any bytes
//! under a given key and context (phone numbers, see `pii`).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use crate::config::MasterKey;
use crate::random;

const NONCE_LEN: usize = 12;

/// The sealed bytes do not open under this key (wrong key, wrong context or tampered row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sealed data does not open with the configured master key")]
pub struct UnsealError;

/// Encrypts `message` under `key`, bound to `context`; returns nonce ‖ ciphertext ‖ tag.
pub fn seal_bytes(key: &[u8; 32], context: &[u8], message: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key.into());
    let nonce_bytes = random::bytes::<NONCE_LEN>();
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce_bytes),
            Payload {
                msg: message,
                aad: context,
            },
        )
        .expect("AES-GCM encryption of a short message cannot fail");
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&ciphertext);
    out
}

/// Decrypts what [`seal_bytes`] produced with the same key and context.
pub fn open_bytes(key: &[u8; 32], context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, UnsealError> {
    if sealed.len() < NONCE_LEN {
        return Err(UnsealError);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    Aes256Gcm::new(key.into())
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: context,
            },
        )
        .map_err(|_| UnsealError)
}

/// Encrypts a private key under the master key, bound to its key id.
pub fn seal(master: &MasterKey, kid: [u8; 4], secret: &[u8; 32]) -> Vec<u8> {
    seal_bytes(master.bytes(), &kid, secret)
}

/// Decrypts what [`seal`] produced.
pub fn unseal(master: &MasterKey, kid: [u8; 4], sealed: &[u8]) -> Result<[u8; 32], UnsealError> {
    open_bytes(master.bytes(), &kid, sealed)?
        .try_into()
        .map_err(|_| UnsealError)
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

//! Issuer keys and the root-signed keyring bundle (docs/protocol.md, "Keyring bundle").
//!
//! Devices pin the root public key at enrollment. A bundle lists every issuer public key with its
//! validity window and state, carries a monotonic version, and is signed by the root key; a
//! device replaces its keyring only with a bundle that verifies and has a higher version, so a
//! replayed old bundle can never resurrect a compromised key.
//!
//! Bundle layout (big-endian; **do not reorder**, it is signed):
//! `"SPK1" | version u64 | issued_at u64 | count u16 | count × key | root signature [64]`,
//! where key = `kid [4] | public key [32] | not_before u32 | not_after u32 | state u8 |
//! compromised_since u32` and state is 0 active, 1 retired, 2 compromised.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::bytes::{ReadError, Reader};

const MAGIC: &[u8; 4] = b"SPK1";
const KEY_RECORD_LEN: usize = 4 + 32 + 4 + 4 + 1 + 4;

/// Key id: the first 4 bytes of SHA-256 of the issuer public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Kid(#[serde(with = "crate::bytes::hex_array")] pub [u8; 4]);

impl Kid {
    /// Derives the id of `key`.
    pub fn of(key: &VerifyingKey) -> Kid {
        let digest = Sha256::digest(key.as_bytes());
        Kid([digest[0], digest[1], digest[2], digest[3]])
    }
}

impl fmt::Display for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&data_encoding::HEXLOWER.encode(&self.0))
    }
}

impl fmt::Debug for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kid({self})")
    }
}

/// Lifecycle of an issuer key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Signs new books.
    Active,
    /// Signs nothing new; books it signed stay valid.
    Retired,
    /// Leaked: books it signed are refused from `since` (unix seconds) on.
    Compromised {
        /// When the compromise took effect.
        since: u32,
    },
}

/// One issuer public key as devices see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuerKey {
    /// Id derived from `key`.
    pub kid: Kid,
    /// The Ed25519 public key, already decompressed so verification pays no parsing cost.
    pub key: VerifyingKey,
    /// First second this key may sign for.
    pub not_before: u32,
    /// Last second of any book this key signs.
    pub not_after: u32,
    /// Active, retired or compromised.
    pub state: KeyState,
}

impl IssuerKey {
    /// A key record for `key`, with its derived kid.
    pub fn new(key: VerifyingKey, not_before: u32, not_after: u32, state: KeyState) -> IssuerKey {
        IssuerKey {
            kid: Kid::of(&key),
            key,
            not_before,
            not_after,
            state,
        }
    }

    /// When books under this key stop being honoured, if ever.
    pub fn compromised_since(&self) -> Option<u32> {
        match self.state {
            KeyState::Compromised { since } => Some(since),
            KeyState::Active | KeyState::Retired => None,
        }
    }
}

/// The set of issuer keys a device trusts, as of `version`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Keyring {
    /// Monotonic; a device only moves forward.
    pub version: u64,
    /// Server time the bundle was made.
    pub issued_at: u64,
    /// The keys; kids are unique.
    pub keys: Vec<IssuerKey>,
}

/// Why a bundle was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum KeyringError {
    /// Not a keyring bundle.
    #[error("not a keyring bundle")]
    BadMagic,
    /// Wrong length.
    #[error("malformed keyring bundle: {0}")]
    Malformed(#[from] ReadError),
    /// A key's kid is not derived from its public key.
    #[error("key {index}: kid does not match its public key")]
    KidMismatch {
        /// Position in the bundle.
        index: usize,
    },
    /// Bytes that are not an Ed25519 public key.
    #[error("key {index}: invalid public key")]
    InvalidPublicKey {
        /// Position in the bundle.
        index: usize,
    },
    /// An unknown state byte.
    #[error("key {index}: unknown state {state}")]
    UnknownState {
        /// Position in the bundle.
        index: usize,
        /// The byte read.
        state: u8,
    },
    /// Two keys share a kid.
    #[error("duplicate kid {0}")]
    DuplicateKid(Kid),
    /// The root signature does not verify.
    #[error("root signature does not verify")]
    BadSignature,
    /// The bundle is not newer than what the device holds.
    #[error("keyring version {offered} is not newer than {held}")]
    NotNewer {
        /// Version offered.
        offered: u64,
        /// Version held.
        held: u64,
    },
}

impl KeyringError {
    /// Stable snake_case name of the error kind, as used in the test vectors.
    pub fn kind(&self) -> &'static str {
        match self {
            KeyringError::BadMagic => "bad_magic",
            KeyringError::Malformed(_) => "malformed",
            KeyringError::KidMismatch { .. } => "kid_mismatch",
            KeyringError::InvalidPublicKey { .. } => "invalid_public_key",
            KeyringError::UnknownState { .. } => "unknown_state",
            KeyringError::DuplicateKid(_) => "duplicate_kid",
            KeyringError::BadSignature => "bad_signature",
            KeyringError::NotNewer { .. } => "not_newer",
        }
    }
}

impl Keyring {
    /// The key with this id.
    pub fn key(&self, kid: Kid) -> Option<&IssuerKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// Encodes and signs with the root key.
    pub fn sign(&self, root: &SigningKey) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 8 + 8 + 2 + self.keys.len() * KEY_RECORD_LEN + 64);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.issued_at.to_be_bytes());
        let count = u16::try_from(self.keys.len()).expect("fewer than 65536 issuer keys");
        out.extend_from_slice(&count.to_be_bytes());
        for key in &self.keys {
            let (state, since) = match key.state {
                KeyState::Active => (0u8, 0u32),
                KeyState::Retired => (1, 0),
                KeyState::Compromised { since } => (2, since),
            };
            out.extend_from_slice(&key.kid.0);
            out.extend_from_slice(key.key.as_bytes());
            out.extend_from_slice(&key.not_before.to_be_bytes());
            out.extend_from_slice(&key.not_after.to_be_bytes());
            out.push(state);
            out.extend_from_slice(&since.to_be_bytes());
        }
        let signature = root.sign(&out).to_bytes();
        out.extend_from_slice(&signature);
        out
    }

    /// Parses a bundle and verifies its root signature. Total: every input gives a keyring or an
    /// error.
    pub fn open(bundle: &[u8], root: &VerifyingKey) -> Result<Keyring, KeyringError> {
        let mut reader = Reader::new(bundle);
        if &reader.array::<4>()? != MAGIC {
            return Err(KeyringError::BadMagic);
        }
        let version = reader.u64()?;
        let issued_at = reader.u64()?;
        let count = usize::from(reader.u16()?);
        let mut keys: Vec<IssuerKey> = Vec::with_capacity(count.min(bundle.len() / KEY_RECORD_LEN));
        for index in 0..count {
            let kid = Kid(reader.array()?);
            let public = reader.array::<32>()?;
            let not_before = reader.u32()?;
            let not_after = reader.u32()?;
            let state = match (reader.u8()?, reader.u32()?) {
                (0, _) => KeyState::Active,
                (1, _) => KeyState::Retired,
                (2, since) => KeyState::Compromised { since },
                (state, _) => return Err(KeyringError::UnknownState { index, state }),
            };
            let key = VerifyingKey::from_bytes(&public)
                .map_err(|_| KeyringError::InvalidPublicKey { index })?;
            if Kid::of(&key) != kid {
                return Err(KeyringError::KidMismatch { index });
            }
            if keys.iter().any(|k| k.kid == kid) {
                return Err(KeyringError::DuplicateKid(kid));
            }
            keys.push(IssuerKey {
                kid,
                key,
                not_before,
                not_after,
                state,
            });
        }
        let signed_len = reader.offset();
        let signature = reader.array::<64>()?;
        reader.finish()?;
        root.verify_strict(&bundle[..signed_len], &Signature::from_bytes(&signature))
            .map_err(|_| KeyringError::BadSignature)?;
        Ok(Keyring {
            version,
            issued_at,
            keys,
        })
    }

    /// Opens `bundle` as a replacement for `self`: it must verify and be strictly newer.
    pub fn update(&self, bundle: &[u8], root: &VerifyingKey) -> Result<Keyring, KeyringError> {
        let offered = Keyring::open(bundle, root)?;
        if offered.version <= self.version {
            return Err(KeyringError::NotNewer {
                offered: offered.version,
                held: self.version,
            });
        }
        Ok(offered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn ring(version: u64) -> Keyring {
        Keyring {
            version,
            issued_at: 1_700_000_000,
            keys: vec![
                IssuerKey::new(key(1).verifying_key(), 0, 2_000_000_000, KeyState::Retired),
                IssuerKey::new(key(2).verifying_key(), 0, 2_000_000_000, KeyState::Active),
                IssuerKey::new(
                    key(3).verifying_key(),
                    0,
                    2_000_000_000,
                    KeyState::Compromised {
                        since: 1_750_000_000,
                    },
                ),
            ],
        }
    }

    #[test]
    fn bundle_round_trips() {
        let root = key(9);
        let bundle = ring(3).sign(&root);
        assert_eq!(Keyring::open(&bundle, &root.verifying_key()), Ok(ring(3)));
    }

    #[test]
    fn wrong_root_or_tampering_is_refused() {
        let root = key(9);
        let mut bundle = ring(3).sign(&root);
        assert_eq!(
            Keyring::open(&bundle, &key(8).verifying_key()),
            Err(KeyringError::BadSignature)
        );
        bundle[5] ^= 1;
        assert_eq!(
            Keyring::open(&bundle, &root.verifying_key()),
            Err(KeyringError::BadSignature)
        );
    }

    #[test]
    fn only_newer_bundles_replace_the_held_one() {
        let root = key(9);
        let held = ring(3);
        assert_eq!(
            held.update(&ring(3).sign(&root), &root.verifying_key()),
            Err(KeyringError::NotNewer {
                offered: 3,
                held: 3
            })
        );
        assert_eq!(
            held.update(&ring(4).sign(&root), &root.verifying_key()),
            Ok(ring(4))
        );
    }

    #[test]
    fn truncation_is_an_error_at_every_length() {
        let root = key(9);
        let bundle = ring(1).sign(&root);
        for len in 0..bundle.len() {
            assert!(Keyring::open(&bundle[..len], &root.verifying_key()).is_err());
        }
    }
}

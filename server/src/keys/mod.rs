//! Root and issuer keys (docs/protocol.md, "Keyring bundle"): creation, rotation, compromise, and what the root key
//! signs for devices: the keyring bundle and the status snapshot. Private halves live only
//! sealed in the store.

pub mod seal;

use ed25519_dalek::{SigningKey, VerifyingKey};
use shuipiao_shared::ids::UserId;
use shuipiao_shared::keyring::{IssuerKey, KeyState, Keyring, Kid};
use shuipiao_shared::status::StatusSnapshot;

use crate::config::MasterKey;
use crate::random;
use crate::store::models::{AuditEntry, KeyInstall, KeyPurpose, KeyStatus, SigningKeyRow};
use crate::store::{Store, StoreError};

/// How long a new key may sign: issuer keys two years, the root key ten.
const ISSUER_LIFETIME_SECS: u32 = 2 * 365 * 86_400;
const ROOT_LIFETIME_SECS: u32 = 10 * 365 * 86_400;

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A sealed key does not open: the master key is not the one the keys were sealed with.
    #[error(transparent)]
    Unseal(#[from] seal::UnsealError),
    /// No active key of this purpose exists yet.
    #[error("no active {0} key")]
    NoActiveKey(&'static str),
    /// A stored public key is not a valid Ed25519 point.
    #[error("stored public key {0} is invalid")]
    BadPublicKey(String),
}

/// An unsealed signing key with its row.
pub struct ActiveKey {
    /// The stored row.
    pub row: SigningKeyRow,
    /// The private key.
    pub signing_key: SigningKey,
}

fn new_key(master: &MasterKey, purpose: KeyPurpose, now: u32) -> SigningKeyRow {
    let signing_key = SigningKey::from_bytes(&random::bytes::<32>());
    let kid = Kid::of(&signing_key.verifying_key()).0;
    let lifetime = match purpose {
        KeyPurpose::Root => ROOT_LIFETIME_SECS,
        KeyPurpose::Issuer => ISSUER_LIFETIME_SECS,
    };
    SigningKeyRow {
        kid,
        purpose,
        public_key: signing_key.verifying_key().to_bytes(),
        sealed_secret: seal::seal(master, kid, &signing_key.to_bytes()),
        not_before: now,
        not_after: now.saturating_add(lifetime),
        status: KeyStatus::Active,
        compromised_since: None,
    }
}

fn unix_u32(now: i64) -> u32 {
    u32::try_from(now.max(0)).unwrap_or(u32::MAX)
}

/// The active key of `purpose`, unsealed.
pub async fn active(
    store: &Store,
    master: &MasterKey,
    purpose: KeyPurpose,
) -> Result<ActiveKey, KeyError> {
    let row = store
        .signing_keys()
        .await?
        .into_iter()
        .rev()
        .find(|row| row.purpose == purpose && row.status == KeyStatus::Active)
        .ok_or(KeyError::NoActiveKey(purpose.as_str()))?;
    let secret = seal::unseal(master, row.kid, &row.sealed_secret)?;
    Ok(ActiveKey {
        signing_key: SigningKey::from_bytes(&secret),
        row,
    })
}

/// Makes a root and an issuer key if missing and publishes a keyring; run at every start.
/// Also proves the master key opens the stored keys, so a wrong key fails at startup.
pub async fn ensure(store: &Store, master: &MasterKey, now: i64) -> Result<(), KeyError> {
    let rows = store.signing_keys().await?;
    let mut changed = false;
    for purpose in [KeyPurpose::Root, KeyPurpose::Issuer] {
        let has_active = rows
            .iter()
            .any(|row| row.purpose == purpose && row.status == KeyStatus::Active);
        if !has_active {
            let row = new_key(master, purpose, unix_u32(now));
            let audit = AuditEntry::new(
                None,
                "key.create",
                format!("key:{}", Kid(row.kid)),
                serde_json::json!({ "purpose": purpose.as_str() }),
            );
            match store
                .insert_signing_key(&row, KeyInstall::First, now, &audit)
                .await
            {
                Ok(()) => changed = true,
                // Another instance starting on the same database made it first (the database
                // allows one active key per purpose); use theirs.
                Err(StoreError::Conflict(_)) => {}
                Err(err) => return Err(err.into()),
            }
        }
    }
    active(store, master, KeyPurpose::Root).await?;
    active(store, master, KeyPurpose::Issuer).await?;
    if changed || store.latest_keyring_bundle().await?.is_none() {
        match publish_keyring(store, master, now).await {
            // Likewise a bundle published by another instance at the same moment will do.
            Err(KeyError::Store(StoreError::Conflict(_)))
                if store.latest_keyring_bundle().await?.is_some() => {}
            published => {
                published?;
            }
        }
    }
    Ok(())
}

/// Makes a new active issuer key, retiring the current one (it still verifies old books), and
/// publishes the keyring.
pub async fn rotate_issuer(
    store: &Store,
    master: &MasterKey,
    actor: Option<UserId>,
    now: i64,
) -> Result<SigningKeyRow, KeyError> {
    let row = new_key(master, KeyPurpose::Issuer, unix_u32(now));
    let audit = AuditEntry::new(
        actor,
        "key.rotate",
        format!("key:{}", Kid(row.kid)),
        serde_json::json!({ "purpose": "issuer" }),
    );
    store
        .insert_signing_key(&row, KeyInstall::Rotate, now, &audit)
        .await?;
    publish_keyring(store, master, now).await?;
    Ok(row)
}

/// Reads a key id as written in listings: 8 hex digits, either case.
pub fn parse_kid(text: &str) -> Option<[u8; 4]> {
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.trim().as_bytes())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
}

/// Marks an issuer key compromised from `since` and publishes the keyring. When it was the
/// active key, a new one is made first so issuing never stops.
pub async fn mark_compromised(
    store: &Store,
    master: &MasterKey,
    kid: [u8; 4],
    since: u32,
    actor: Option<UserId>,
    now: i64,
) -> Result<(), KeyError> {
    let rows = store.signing_keys().await?;
    let target = rows
        .iter()
        .find(|row| row.kid == kid && row.purpose == KeyPurpose::Issuer)
        .ok_or(StoreError::NotFound)?;
    if target.status == KeyStatus::Active {
        rotate_issuer(store, master, actor, now).await?;
    }
    let audit = AuditEntry::new(
        actor,
        "key.compromise",
        format!("key:{}", Kid(kid)),
        serde_json::json!({ "since": since }),
    );
    store.mark_key_compromised(kid, since, now, &audit).await?;
    publish_keyring(store, master, now).await?;
    Ok(())
}

/// The root public key devices pin.
pub async fn root_public_key(store: &Store) -> Result<[u8; 32], KeyError> {
    store
        .signing_keys()
        .await?
        .into_iter()
        .rev()
        .find(|row| row.purpose == KeyPurpose::Root && row.status == KeyStatus::Active)
        .map(|row| row.public_key)
        .ok_or(KeyError::NoActiveKey("root"))
}

/// The keyring as devices see it: every issuer key with its window and state.
pub fn keyring_of(
    rows: &[SigningKeyRow],
    version: u64,
    issued_at: u64,
) -> Result<Keyring, KeyError> {
    let keys = rows
        .iter()
        .filter(|row| row.purpose == KeyPurpose::Issuer)
        .map(|row| {
            let key = VerifyingKey::from_bytes(&row.public_key)
                .map_err(|_| KeyError::BadPublicKey(Kid(row.kid).to_string()))?;
            let state = match (row.status, row.compromised_since) {
                (KeyStatus::Active, _) => KeyState::Active,
                (KeyStatus::Retired, _) => KeyState::Retired,
                (KeyStatus::Compromised, since) => KeyState::Compromised {
                    since: since.unwrap_or(row.not_before),
                },
            };
            Ok(IssuerKey::new(key, row.not_before, row.not_after, state))
        })
        .collect::<Result<Vec<_>, KeyError>>()?;
    Ok(Keyring {
        version,
        issued_at,
        keys,
    })
}

/// Signs the current issuer keys into a bundle with the next version and stores it.
pub async fn publish_keyring(store: &Store, master: &MasterKey, now: i64) -> Result<u64, KeyError> {
    let root = active(store, master, KeyPurpose::Root).await?;
    let version = store
        .latest_keyring_bundle()
        .await?
        .map_or(1, |(version, _)| version + 1);
    let keyring = keyring_of(&store.signing_keys().await?, version, now.max(0) as u64)?;
    let bundle = keyring.sign(&root.signing_key);
    store.insert_keyring_bundle(version, &bundle, now).await?;
    Ok(version)
}

/// The revoked and used-up books as of now, root-signed (`shared::status`): a device that is
/// new or far behind loads this instead of pulling a row for each book. Built on request: it
/// reads only the flagged books, about 100 KB for a million books.
pub async fn status_snapshot(
    store: &Store,
    master: &MasterKey,
    now: i64,
) -> Result<Vec<u8>, KeyError> {
    let root = active(store, master, KeyPurpose::Root).await?;
    let (seq, sets) = store.status_sets().await?;
    let snapshot = StatusSnapshot {
        seq,
        generated_at: now.max(0) as u64,
        sets,
    };
    Ok(snapshot.sign(&root.signing_key))
}

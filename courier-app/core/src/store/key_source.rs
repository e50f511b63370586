//! Where a database's key lives: a `0600` key file beside the database (`<db>.key`) or, with the
//! `keystore` feature, an entry in the platform keystore.
//!
//! A courier database holds unsynced redemptions, so a key is never made for a database that
//! exists. A keystore-keyed database has a record beside it (`<db>.keysource`, JSON naming the
//! entry); with it, a later start that cannot read the keystore fails with a clear error instead of
//! taking the database for a new one. The record names the entry rather than deriving it again, so
//! a moved data directory still finds its key.
//!
//! Only [`provision`] puts new keys in the keystore: [`super::open`] alone makes key files, as the
//! CLI and tests want, and an app opts in by provisioning before it opens.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{DbKey, StoreError};

/// The keystore service of every courier database key; the account is the database's path.
pub const KEYSTORE_SERVICE: &str = "shuipiao-courier";

/// Where a database's key lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A key file, owner-readable only.
    File(PathBuf),
    /// A platform keystore entry.
    Keystore(KeystoreEntry),
}

/// A keystore entry holding a database key, as recorded beside the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeystoreEntry {
    /// Always [`KEYSTORE_SERVICE`] when written by this version.
    pub service: String,
    /// The database's absolute path when the key was made.
    pub account: String,
}

/// Where the key file of `db_path` lives: beside it, with `.key` appended.
pub fn key_path(db_path: &Path) -> PathBuf {
    sibling(db_path, ".key")
}

/// Where the record of a keystore-keyed `db_path` lives: beside it, with `.keysource` appended.
pub fn record_path(db_path: &Path) -> PathBuf {
    sibling(db_path, ".keysource")
}

fn sibling(db_path: &Path, suffix: &str) -> PathBuf {
    let mut name = db_path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Where the key of `db_path` lives, or `None` for a database that has no key yet.
pub fn locate(db_path: &Path) -> Result<Option<KeySource>, StoreError> {
    let record = record_path(db_path);
    match fs::read(&record) {
        Ok(bytes) => {
            let entry = serde_json::from_slice(&bytes)
                .map_err(|_| StoreError::KeySourceMalformed(record))?;
            Ok(Some(KeySource::Keystore(entry)))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key_file = key_path(db_path);
            Ok(key_file.exists().then_some(KeySource::File(key_file)))
        }
        Err(source) => Err(StoreError::KeyFile {
            path: record,
            source,
        }),
    }
}

/// The key of `db_path` from its key file; a new database gets a fresh key file. An existing
/// database without its key file is an error rather than a silent new empty database.
pub fn load_or_create_key_file(db_path: &Path) -> Result<DbKey, StoreError> {
    let path = key_path(db_path);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let bytes = data_encoding::HEXLOWER
                .decode(text.trim().as_bytes())
                .map_err(|_| StoreError::KeyMalformed(path.clone()))?;
            let key: [u8; 32] = bytes
                .try_into()
                .map_err(|_| StoreError::KeyMalformed(path.clone()))?;
            Ok(DbKey(key))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if db_path.exists() {
                return Err(StoreError::KeyMissing(db_path.to_path_buf()));
            }
            let key = random_key().map_err(|source| StoreError::KeyFile {
                path: path.clone(),
                source,
            })?;
            write_new(&path, data_encoding::HEXLOWER.encode(&key.0).as_bytes())?;
            Ok(key)
        }
        Err(source) => Err(StoreError::KeyFile { path, source }),
    }
}

/// The key in the keystore `entry` of `db_path`.
#[cfg(feature = "keystore")]
pub fn read_keystore(db_path: &Path, entry: &KeystoreEntry) -> Result<DbKey, StoreError> {
    let secret = keystore::entry(entry)
        .and_then(|keyring_entry| keyring_entry.get_secret())
        .map_err(|error| keystore_error(db_path, entry, error))?;
    let key: [u8; 32] = secret
        .try_into()
        .map_err(|_| StoreError::KeystoreKeyWrong(db_path.to_path_buf()))?;
    Ok(DbKey(key))
}

/// Without the `keystore` feature a keystore-keyed database cannot be opened.
#[cfg(not(feature = "keystore"))]
pub fn read_keystore(db_path: &Path, _entry: &KeystoreEntry) -> Result<DbKey, StoreError> {
    Err(StoreError::KeystoreUnavailable {
        db: db_path.to_path_buf(),
        reason: "this build has no keystore support".to_owned(),
    })
}

/// Gives a new database at `db_path` a key in the platform keystore and records it beside the
/// database; when the keystore cannot take the key (none on this platform, no Secret Service,
/// locked), a key file instead. A database that has a key keeps it where it is.
#[cfg(feature = "keystore")]
pub fn provision(db_path: &Path) -> Result<KeySource, StoreError> {
    if let Some(source) = locate(db_path)? {
        return Ok(source);
    }
    if db_path.exists() {
        return Err(StoreError::KeyMissing(db_path.to_path_buf()));
    }
    let record = record_path(db_path);
    let absolute = std::path::absolute(db_path).map_err(|source| StoreError::KeyFile {
        path: record.clone(),
        source,
    })?;
    let entry = KeystoreEntry {
        service: KEYSTORE_SERVICE.to_owned(),
        account: absolute.to_string_lossy().into_owned(),
    };
    let key = random_key().map_err(|source| StoreError::KeyFile {
        path: record.clone(),
        source,
    })?;
    if keystore::store(&entry, &key).is_err() {
        load_or_create_key_file(db_path)?;
        return Ok(KeySource::File(key_path(db_path)));
    }
    let json = serde_json::to_vec(&entry).map_err(|error| StoreError::KeyFile {
        path: record.clone(),
        source: std::io::Error::other(error),
    })?;
    // Through a temporary file, so a crash never leaves half a record.
    let tmp = sibling(db_path, ".keysource.tmp");
    let _ = fs::remove_file(&tmp);
    write_new(&tmp, &json)?;
    fs::rename(&tmp, &record).map_err(|source| StoreError::KeyFile {
        path: record.clone(),
        source,
    })?;
    Ok(KeySource::Keystore(entry))
}

#[cfg(feature = "keystore")]
fn keystore_error(db_path: &Path, entry: &KeystoreEntry, error: keyring::Error) -> StoreError {
    match error {
        keyring::Error::NoEntry => StoreError::KeystoreKeyMissing {
            db: db_path.to_path_buf(),
            account: entry.account.clone(),
        },
        other => StoreError::KeystoreUnavailable {
            db: db_path.to_path_buf(),
            reason: other.to_string(),
        },
    }
}

/// The platform keystore through the `keyring` crate.
#[cfg(feature = "keystore")]
mod keystore {
    use keyring::credential::CredentialPersistence;

    use super::{DbKey, KeystoreEntry};

    /// The entry, if this platform has a keystore that keeps it (not the in-memory mock keyring
    /// falls back to where it has no backend, e.g. Android).
    pub fn entry(entry: &KeystoreEntry) -> keyring::Result<keyring::Entry> {
        let persistence = keyring::default::default_credential_builder().persistence();
        if !matches!(persistence, CredentialPersistence::UntilDelete) {
            return Err(keyring::Error::NoStorageAccess(
                "no persistent keystore on this platform".into(),
            ));
        }
        keyring::Entry::new(&entry.service, &entry.account)
    }

    /// Stores `key` in `entry` and reads it back, so a key that did not stick is never used.
    pub fn store(entry: &KeystoreEntry, key: &DbKey) -> keyring::Result<()> {
        let keyring_entry = self::entry(entry)?;
        keyring_entry.set_secret(&key.0)?;
        if keyring_entry.get_secret()? != key.0 {
            return Err(keyring::Error::NoStorageAccess(
                "the keystore returned another key than stored".into(),
            ));
        }
        Ok(())
    }
}

fn random_key() -> std::io::Result<DbKey> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|error| std::io::Error::other(error.to_string()))?;
    Ok(DbKey(key))
}

/// Writes a new owner-readable-only file and syncs it.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let key_file_error = |source| StoreError::KeyFile {
        path: path.to_path_buf(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(key_file_error)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(key_file_error)
}

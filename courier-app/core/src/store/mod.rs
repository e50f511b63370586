//! The courier's local database: SQLCipher (encrypted at rest) through rusqlite, in WAL mode with
//! `synchronous=FULL` so a committed redemption survives a crash or a pulled battery.
//!
//! Read functions take `&Connection`; every mutation runs inside a transaction the caller (or the
//! function itself) opens. Tables: `meta` (one row: enrollment, cursors, sync times, PIN),
//! `keyring` (the root-signed bundle), `book_status` (pulled rows and loaded snapshots),
//! `outbox` (this device's signed events and their push state), `scan_log` (every scan) and
//! `deliveries` (the courier's delivery list).
//!
//! Ids are stored as SQLite integers with `as i64` / `as u64` casts: the cast is a bijection, so
//! even ids above `i64::MAX` round-trip exactly.
//!
//! **Key handling:** [`key_source`] keeps the 32-byte key in a `0600` key file next to the
//! database or, when the app provisioned it there, in the platform keystore; [`open_with_key`]
//! takes a key from anywhere else.

pub mod deliveries;
pub mod key_source;
pub mod meta;
pub mod migrate;
pub mod outbox;
pub mod scan_log;
pub mod snapshot;
pub mod status;

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use thiserror::Error;

/// A failure of the local database.
#[derive(Debug, Error)]
pub enum StoreError {
    /// SQLite / SQLCipher failed (including "file is not a database" for a wrong key).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Reading or writing the key file failed.
    #[error("key file {path}: {source}")]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The database exists but its key file does not.
    #[error("database {0} exists but its key file is missing")]
    KeyMissing(PathBuf),
    /// The key file does not hold a 32-byte hex key.
    #[error("key file {0} is malformed")]
    KeyMalformed(PathBuf),
    /// The record of a keystore-keyed database cannot be read.
    #[error("key source record {0} is malformed")]
    KeySourceMalformed(PathBuf),
    /// The database's key is in the platform keystore, which cannot be reached now.
    #[error("database {db}: keystore unavailable: {reason}")]
    KeystoreUnavailable {
        /// The database.
        db: PathBuf,
        /// What the keystore said.
        reason: String,
    },
    /// The database's key is recorded in the keystore, which has no such entry.
    #[error("database {db}: keystore entry {account} is missing")]
    KeystoreKeyMissing {
        /// The database.
        db: PathBuf,
        /// The entry's account.
        account: String,
    },
    /// The keystore entry holds no key, or another database's.
    #[error("database {0}: the keystore entry does not open it")]
    KeystoreKeyWrong(PathBuf),
    /// The database was written by a newer app version.
    #[error("database schema version {0} is newer than this app")]
    SchemaTooNew(i64),
    /// A stored value could not be decoded.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Sqlite(_) => "store_sqlite",
            StoreError::KeyFile { .. } => "store_key_file",
            StoreError::KeyMissing(_) => "store_key_missing",
            StoreError::KeyMalformed(_) => "store_key_malformed",
            StoreError::KeySourceMalformed(_) => "store_key_source_malformed",
            StoreError::KeystoreUnavailable { .. } => "store_keystore_unavailable",
            StoreError::KeystoreKeyMissing { .. } => "store_keystore_key_missing",
            StoreError::KeystoreKeyWrong(_) => "store_keystore_key_wrong",
            StoreError::SchemaTooNew(_) => "store_schema_too_new",
            StoreError::Corrupt(_) => "store_corrupt",
        }
    }

    /// zh-CN text for the courier. The keystore cases say not to reinstall or clear data: the
    /// database may hold redemptions not yet uploaded.
    pub fn user_message(&self) -> &'static str {
        match self {
            StoreError::KeystoreUnavailable { .. } => {
                "无法使用系统钥匙串，本机数据暂时打不开：请解锁系统钥匙串（或重新登录系统）后重启应用；仍不行请联系水厂，切勿卸载应用或清除数据"
            }
            StoreError::KeystoreKeyMissing { .. } | StoreError::KeystoreKeyWrong(_) => {
                "系统钥匙串中没有本机数据库的正确密钥，本机数据打不开：请联系水厂，切勿卸载应用或清除数据"
            }
            _ => "本地数据库出错，请重启应用或联系水厂",
        }
    }
}

/// A 32-byte database key.
#[derive(Clone, PartialEq, Eq)]
pub struct DbKey(pub [u8; 32]);

impl std::fmt::Debug for DbKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbKey(..)")
    }
}

/// Opens (creating if needed) the database at `db_path` with its key from where
/// [`key_source::locate`] finds it. A new database gets a key file; an existing one whose key
/// cannot be had is an error, and nothing is written.
pub fn open(db_path: &Path) -> Result<Connection, StoreError> {
    match key_source::locate(db_path)? {
        Some(key_source::KeySource::Keystore(entry)) => {
            let key = key_source::read_keystore(db_path, &entry)?;
            open_with_key(db_path, &key).map_err(|error| match error {
                StoreError::Sqlite(rusqlite::Error::SqliteFailure(failure, _))
                    if failure.code == rusqlite::ErrorCode::NotADatabase =>
                {
                    StoreError::KeystoreKeyWrong(db_path.to_path_buf())
                }
                other => other,
            })
        }
        _ => open_with_key(db_path, &key_source::load_or_create_key_file(db_path)?),
    }
}

/// Opens (creating if needed) the database at `db_path` with `key`, sets WAL and
/// `synchronous=FULL` and runs migrations.
pub fn open_with_key(db_path: &Path, key: &DbKey) -> Result<Connection, StoreError> {
    let mut conn = Connection::open(db_path)?;
    let hex = data_encoding::HEXLOWER.encode(&key.0);
    // A raw key (x'…') skips SQLCipher's passphrase KDF: the key is already random.
    conn.execute_batch(&format!("PRAGMA key = \"x'{hex}'\";"))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // The first read fails here with "file is not a database" when the key is wrong.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
    migrate::migrate(&mut conn)?;
    Ok(conn)
}

//! The courier's local database: SQLCipher (encrypted at rest) through rusqlite, in WAL mode with
//! `synchronous=FULL` so a committed redemption survives a crash or a pulled battery.
//!
//! Read functions take `&Connection`; every mutation runs inside a transaction the caller (or the
//! function itself) opens. Tables: `meta` (one row: enrollment, cursors, sync times, PIN),
//! `keyring` (the root-signed bundle), `book_status` (pulled rows and loaded snapshots),
//! `outbox` (this device's signed events and their push state) and `scan_log` (every scan).
//!
//! Ids are stored as SQLite integers with `as i64` / `as u64` casts: the cast is a bijection, so
//! even ids above `i64::MAX` round-trip exactly.
//!
//! **Key handling:** where the platform has a keystore the shell passes the 32-byte key to
//! [`open_with_key`]; elsewhere [`open`] keeps it in a `0600` key file next to the database.

pub mod meta;
pub mod migrate;
pub mod outbox;
pub mod scan_log;
pub mod snapshot;
pub mod status;

use std::fs;
use std::io::Write;
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
            StoreError::SchemaTooNew(_) => "store_schema_too_new",
            StoreError::Corrupt(_) => "store_corrupt",
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

/// Where the key file of `db_path` lives: beside it, with `.key` appended.
pub fn key_path(db_path: &Path) -> PathBuf {
    let mut name = db_path.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

/// Opens (creating if needed) the database at `db_path` with the key file beside it. A new
/// database gets a fresh random key written `0600`; an existing database without its key file is
/// an error rather than a silent new empty database.
pub fn open(db_path: &Path) -> Result<Connection, StoreError> {
    let key = load_or_create_key(db_path)?;
    open_with_key(db_path, &key)
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

fn load_or_create_key(db_path: &Path) -> Result<DbKey, StoreError> {
    let path = key_path(db_path);
    let key_file_error = |source| StoreError::KeyFile {
        path: path.clone(),
        source,
    };
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
            let mut key = [0u8; 32];
            getrandom::fill(&mut key)
                .map_err(|error| key_file_error(std::io::Error::other(error.to_string())))?;
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&path).map_err(key_file_error)?;
            file.write_all(data_encoding::HEXLOWER.encode(&key).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(key_file_error)?;
            Ok(DbKey(key))
        }
        Err(error) => Err(key_file_error(error)),
    }
}

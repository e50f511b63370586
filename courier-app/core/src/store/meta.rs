//! The single `meta` row: enrollment, sync cursors and times, the supervisor PIN hash, and the
//! simulated sync state of a training database.

use ed25519_dalek::{SigningKey, VerifyingKey};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use shuipiao_shared::ids::{DeviceId, ScopeId, UserId};

use crate::store::StoreError;

/// What a device got at enrollment (or made for itself in training mode).
#[derive(Debug, Clone)]
pub struct Identity {
    /// Server-assigned device id (0 in training mode).
    pub device_id: DeviceId,
    /// The device's own signing key; never leaves the encrypted database.
    pub device_key: SigningKey,
    /// Bearer token for sync calls (empty in training mode).
    pub device_token: String,
    /// Base URL of the server, e.g. `https://shuipiao.example.com` (empty in training mode).
    pub server_url: String,
    /// The pinned root public key.
    pub root_public_key: VerifyingKey,
    /// The courier or clerk the device is assigned to.
    pub courier_id: UserId,
    /// Their display name.
    pub courier_name: String,
    /// Scopes the device serves.
    pub scopes: Vec<ScopeId>,
}

/// The sync state a training database pretends to be in, so a trainee meets the refusals that
/// come from the phone's sync state rather than from a ticket. The default is a fresh sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PracticeSync {
    /// Seconds since the pretended last successful sync.
    pub data_age_secs: u64,
    /// Pretend the offline budget is used up.
    pub budget_used_up: bool,
}

/// The `meta` row.
#[derive(Debug, Clone)]
pub struct Meta {
    /// Training database: never synced.
    pub training: bool,
    /// `None` until enrolled.
    pub identity: Option<Identity>,
    /// Pull cursor.
    pub cursor: u64,
    /// Last server time seen (unix seconds).
    pub last_server_time: Option<u64>,
    /// Device time of the last successful sync (unix seconds).
    pub last_sync_at: Option<u64>,
    /// Last sync failure, cleared on success.
    pub last_sync_error: Option<String>,
    /// Highest `device_seq` at the last successful sync: stale redemptions after it count
    /// against the offline budget.
    pub budget_epoch_seq: u64,
    /// Salt and argon2 hash of the supervisor PIN, if one is set.
    pub pin: Option<([u8; 16], [u8; 32])>,
    /// The simulated sync state (training databases only; default elsewhere).
    pub practice: PracticeSync,
}

/// Reads the meta row.
pub fn read(conn: &Connection) -> Result<Meta, StoreError> {
    let row = conn.query_row(
        "SELECT training, device_id, device_key, device_token, root_public_key, courier_id,
                courier_name, scopes, cursor, last_server_time, last_sync_at, last_sync_error,
                budget_epoch_seq, pin_salt, pin_hash, server_url, practice_data_age,
                practice_budget_used_up
         FROM meta WHERE id = 1",
        [],
        |row| {
            Ok(RawMeta {
                training: row.get(0)?,
                device_id: row.get(1)?,
                device_key: row.get(2)?,
                device_token: row.get(3)?,
                root_public_key: row.get(4)?,
                courier_id: row.get(5)?,
                courier_name: row.get(6)?,
                scopes: row.get(7)?,
                cursor: row.get(8)?,
                last_server_time: row.get(9)?,
                last_sync_at: row.get(10)?,
                last_sync_error: row.get(11)?,
                budget_epoch_seq: row.get(12)?,
                pin_salt: row.get(13)?,
                pin_hash: row.get(14)?,
                server_url: row.get(15)?,
                practice_data_age: row.get(16)?,
                practice_budget_used_up: row.get(17)?,
            })
        },
    )?;
    row.decode()
}

struct RawMeta {
    training: bool,
    device_id: Option<i64>,
    device_key: Option<Vec<u8>>,
    device_token: Option<String>,
    root_public_key: Option<Vec<u8>>,
    courier_id: Option<i64>,
    courier_name: Option<String>,
    scopes: String,
    cursor: i64,
    last_server_time: Option<i64>,
    last_sync_at: Option<i64>,
    last_sync_error: Option<String>,
    budget_epoch_seq: i64,
    pin_salt: Option<Vec<u8>>,
    pin_hash: Option<Vec<u8>>,
    server_url: Option<String>,
    practice_data_age: i64,
    practice_budget_used_up: bool,
}

fn array<const N: usize>(bytes: Vec<u8>, what: &str) -> Result<[u8; N], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} has the wrong length")))
}

impl RawMeta {
    fn decode(self) -> Result<Meta, StoreError> {
        let identity = match (self.device_id, self.device_key, self.root_public_key) {
            (Some(device_id), Some(key), Some(root)) => {
                let root = VerifyingKey::from_bytes(&array(root, "root public key")?)
                    .map_err(|_| StoreError::Corrupt("root public key is invalid".into()))?;
                let scopes: Vec<ScopeId> = serde_json::from_str(&self.scopes)
                    .map_err(|error| StoreError::Corrupt(format!("scopes: {error}")))?;
                Some(Identity {
                    device_id: DeviceId(device_id as u64),
                    device_key: SigningKey::from_bytes(&array(key, "device key")?),
                    device_token: self.device_token.unwrap_or_default(),
                    server_url: self.server_url.unwrap_or_default(),
                    root_public_key: root,
                    courier_id: UserId(self.courier_id.unwrap_or(0) as u64),
                    courier_name: self.courier_name.unwrap_or_default(),
                    scopes,
                })
            }
            _ => None,
        };
        let pin = match (self.pin_salt, self.pin_hash) {
            (Some(salt), Some(hash)) => Some((array(salt, "pin salt")?, array(hash, "pin hash")?)),
            _ => None,
        };
        Ok(Meta {
            training: self.training,
            identity,
            cursor: self.cursor as u64,
            last_server_time: self.last_server_time.map(|t| t as u64),
            last_sync_at: self.last_sync_at.map(|t| t as u64),
            last_sync_error: self.last_sync_error,
            budget_epoch_seq: self.budget_epoch_seq as u64,
            pin,
            practice: PracticeSync {
                data_age_secs: self.practice_data_age.max(0) as u64,
                budget_used_up: self.practice_budget_used_up,
            },
        })
    }
}

/// Stores the device identity (enrollment or training setup). Refuses to replace an existing
/// identity: a device's chain must never restart under a new key in the same database.
pub fn save_identity(
    tx: &Transaction<'_>,
    identity: &Identity,
    training: bool,
    server_time: u64,
) -> Result<(), StoreError> {
    let enrolled: Option<i64> = tx
        .query_row("SELECT device_id FROM meta WHERE id = 1", [], |row| {
            row.get(0)
        })
        .optional()?
        .flatten();
    if enrolled.is_some() {
        return Err(StoreError::Corrupt(
            "this database already holds a device identity".into(),
        ));
    }
    let scopes = serde_json::to_string(&identity.scopes)
        .map_err(|error| StoreError::Corrupt(format!("scopes: {error}")))?;
    tx.execute(
        "UPDATE meta SET training = ?1, device_id = ?2, device_key = ?3, device_token = ?4,
                root_public_key = ?5, courier_id = ?6, courier_name = ?7, scopes = ?8,
                last_server_time = ?9, server_url = ?10
         WHERE id = 1",
        params![
            training,
            identity.device_id.0 as i64,
            identity.device_key.to_bytes().to_vec(),
            identity.device_token,
            identity.root_public_key.to_bytes().to_vec(),
            identity.courier_id.0 as i64,
            identity.courier_name,
            scopes,
            server_time as i64,
            identity.server_url,
        ],
    )?;
    Ok(())
}

/// Records the supervisor PIN hash.
pub fn set_pin(tx: &Transaction<'_>, salt: &[u8; 16], hash: &[u8; 32]) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE meta SET pin_salt = ?1, pin_hash = ?2 WHERE id = 1",
        params![salt.to_vec(), hash.to_vec()],
    )?;
    Ok(())
}

/// Records the simulated sync state of a training database.
pub fn set_practice_sync(tx: &Transaction<'_>, practice: PracticeSync) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE meta SET practice_data_age = ?1, practice_budget_used_up = ?2 WHERE id = 1",
        params![
            i64::try_from(practice.data_age_secs).unwrap_or(i64::MAX),
            practice.budget_used_up
        ],
    )?;
    Ok(())
}

/// Records a failed sync for the UI.
pub fn set_sync_error(tx: &Transaction<'_>, message: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE meta SET last_sync_error = ?1 WHERE id = 1",
        params![message],
    )?;
    Ok(())
}

/// Records a successful sync: clears the error, stamps the time and starts a new offline-budget
/// epoch.
pub fn mark_synced(tx: &Transaction<'_>, now: u64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE meta SET last_sync_error = NULL, last_sync_at = ?1,
                budget_epoch_seq = (SELECT COALESCE(MAX(device_seq), 0) FROM outbox)
         WHERE id = 1",
        params![now as i64],
    )?;
    Ok(())
}

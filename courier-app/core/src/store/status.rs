//! Server-side knowledge on the device: the keyring bundle and pulled book status rows, plus
//! the local view of one book that combines them with this device's own unreflected events.

use ed25519_dalek::VerifyingKey;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use shuipiao_shared::ids::BookId;
use shuipiao_shared::keyring::{Keyring, KeyringError};
use shuipiao_shared::status::{BookState, StatusRow};
use shuipiao_shared::sync::PullResponse;
use shuipiao_shared::verdict::{BookView, LastUse};

use crate::store::StoreError;
use crate::store::outbox::KIND_REDEMPTION;

/// Reads and verifies the stored keyring; an empty keyring before the first pull.
pub fn keyring(conn: &Connection, root: &VerifyingKey) -> Result<Keyring, StoreError> {
    let bundle: Option<Vec<u8>> = conn
        .query_row("SELECT bundle FROM keyring WHERE id = 1", [], |row| {
            row.get(0)
        })
        .optional()?;
    match bundle {
        None => Ok(Keyring::default()),
        Some(bundle) => Keyring::open(&bundle, root)
            .map_err(|error| StoreError::Corrupt(format!("stored keyring: {error}"))),
    }
}

/// Version of the stored keyring; 0 before the first.
pub fn keyring_version(conn: &Connection) -> Result<u64, StoreError> {
    let version: Option<i64> = conn
        .query_row("SELECT version FROM keyring WHERE id = 1", [], |row| {
            row.get(0)
        })
        .optional()?;
    Ok(version.map_or(0, |v| v as u64))
}

/// Stores `bundle` if it verifies against `root` and is newer than the held keyring.
pub fn update_keyring(
    tx: &Transaction<'_>,
    bundle: &[u8],
    root: &VerifyingKey,
) -> Result<Result<Keyring, KeyringError>, StoreError> {
    let held = keyring(tx, root)?;
    let offered = match held.update(bundle, root) {
        Ok(offered) => offered,
        Err(error) => return Ok(Err(error)),
    };
    tx.execute(
        "INSERT INTO keyring (id, version, bundle) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version, bundle = excluded.bundle",
        params![offered.version as i64, bundle],
    )?;
    Ok(Ok(offered))
}

/// Upserts one pulled row, never moving a book backwards.
pub fn apply_row(tx: &Transaction<'_>, row: &StatusRow) -> Result<(), StoreError> {
    let state = match row.state {
        BookState::Active => "active",
        BookState::UsedUp => "used_up",
        BookState::Revoked => "revoked",
    };
    tx.execute(
        "INSERT INTO book_status (book_id, used_units, state, seq, last_used_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (book_id) DO UPDATE SET used_units = excluded.used_units,
             state = excluded.state, seq = excluded.seq, last_used_at = excluded.last_used_at
         WHERE excluded.seq >= book_status.seq",
        params![
            row.book_id.0 as i64,
            row.used_units,
            state,
            row.seq as i64,
            row.last_used_at.map(|t| t as i64),
        ],
    )?;
    Ok(())
}

/// Applies one pull page: rows, a newer keyring, the cursor and the server time. A keyring that
/// does not verify is refused (the rest of the page still applies) and returned as the error.
pub fn apply_pull(
    tx: &Transaction<'_>,
    page: &PullResponse,
    root: &VerifyingKey,
) -> Result<Option<KeyringError>, StoreError> {
    for row in &page.statuses {
        apply_row(tx, row)?;
    }
    let keyring_error = match &page.keyring {
        Some(bundle) => match update_keyring(tx, bundle, root)? {
            Ok(_) | Err(KeyringError::NotNewer { .. }) => None,
            Err(error) => Some(error),
        },
        None => None,
    };
    advance_cursor(tx, page.next_cursor, page.server_time)?;
    Ok(keyring_error)
}

/// Moves the pull cursor and the last known server time forward, never back.
pub(crate) fn advance_cursor(
    tx: &Transaction<'_>,
    cursor: u64,
    server_time: u64,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE meta SET cursor = MAX(cursor, ?1),
                last_server_time = MAX(COALESCE(last_server_time, 0), ?2)
         WHERE id = 1",
        params![cursor as i64, server_time as i64],
    )?;
    Ok(())
}

/// What this device knows about `book_id`: the pulled row plus its own events the server has not
/// reflected yet (no pulled row with `seq >=` the event's `server_seq`), and the units it
/// accepted on the book while stale since `budget_epoch_seq`.
pub fn book_view(
    conn: &Connection,
    book_id: BookId,
    budget_epoch_seq: u64,
) -> Result<BookView, StoreError> {
    let id = book_id.0 as i64;
    let server: Option<(i64, String, Option<i64>)> = conn
        .query_row(
            "SELECT used_units, state, last_used_at FROM book_status WHERE book_id = ?1",
            params![id],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()?;
    let (own_delta, own_last, stale_units): (i64, Option<i64>, i64) = conn.query_row(
        "SELECT
            COALESCE(SUM(CASE WHEN o.server_seq IS NULL OR b.seq IS NULL OR b.seq < o.server_seq
                              THEN o.units_delta ELSE 0 END), 0),
            MAX(CASE WHEN o.kind = ?2 AND o.voided = 0 THEN o.scanned_at END),
            COALESCE(SUM(CASE WHEN o.kind = ?2 AND o.voided = 0 AND o.stale = 1
                              AND o.device_seq > ?3 THEN o.units_delta ELSE 0 END), 0)
         FROM outbox o LEFT JOIN book_status b ON b.book_id = o.book_id
         WHERE o.book_id = ?1",
        params![id, KIND_REDEMPTION, budget_epoch_seq as i64],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    let (server_used, revoked, server_last) = match server {
        Some((used, state, last)) => (used, state == "revoked", last),
        None => (0, false, None),
    };
    let last_use = match (own_last, server_last) {
        (Some(own), Some(server)) if server > own => Some(LastUse {
            at: server as u64,
            by_this_device: false,
        }),
        (Some(own), _) => Some(LastUse {
            at: own as u64,
            by_this_device: true,
        }),
        (None, Some(server)) => Some(LastUse {
            at: server as u64,
            by_this_device: false,
        }),
        (None, None) => None,
    };
    let used = (server_used + own_delta).clamp(0, i64::from(u16::MAX));
    Ok(BookView {
        used_units: used as u16,
        revoked,
        last_use,
        stale_units: stale_units.clamp(0, i64::from(u16::MAX)) as u16,
    })
}

/// Units accepted on all books while stale since `budget_epoch_seq`.
pub fn stale_units_total(conn: &Connection, budget_epoch_seq: u64) -> Result<u32, StoreError> {
    let total: i64 = conn.query_row(
        "SELECT COALESCE(SUM(units_delta), 0) FROM outbox
         WHERE kind = ?1 AND voided = 0 AND stale = 1 AND device_seq > ?2",
        params![KIND_REDEMPTION, budget_epoch_seq as i64],
        |row| row.get(0),
    )?;
    Ok(total.clamp(0, i64::from(u32::MAX)) as u32)
}

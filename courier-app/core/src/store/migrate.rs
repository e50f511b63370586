//! Schema migrations of the courier database, tracked by `PRAGMA user_version`.
//!
//! [`MIGRATIONS`] is an ordered list: migration `i` (0-based) takes the schema from version `i`
//! to `i + 1`. **Never edit a shipped migration**; append a new one, and keep changes
//! forward-compatible (add columns with defaults, never repurpose one).

use rusqlite::{Connection, TransactionBehavior};

use crate::store::StoreError;

/// The migrations, oldest first.
pub const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r"
    CREATE TABLE meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        training INTEGER NOT NULL DEFAULT 0,
        device_id INTEGER,
        device_key BLOB,
        device_token TEXT,
        server_url TEXT,
        root_public_key BLOB,
        courier_id INTEGER,
        courier_name TEXT,
        scopes TEXT NOT NULL DEFAULT '[]',
        cursor INTEGER NOT NULL DEFAULT 0,
        last_server_time INTEGER,
        last_sync_at INTEGER,
        last_sync_error TEXT,
        budget_epoch_seq INTEGER NOT NULL DEFAULT 0,
        pin_salt BLOB,
        pin_hash BLOB
    );
    INSERT INTO meta (id) VALUES (1);
    CREATE TABLE keyring (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL,
        bundle BLOB NOT NULL
    );
    CREATE TABLE book_status (
        book_id INTEGER PRIMARY KEY,
        used_units INTEGER NOT NULL,
        state TEXT NOT NULL,
        seq INTEGER NOT NULL,
        last_used_at INTEGER
    );
    CREATE TABLE outbox (
        device_seq INTEGER PRIMARY KEY,
        event_id BLOB NOT NULL UNIQUE,
        record BLOB NOT NULL,
        hash BLOB NOT NULL,
        kind INTEGER NOT NULL,
        book_id INTEGER,
        units_delta INTEGER NOT NULL,
        stale INTEGER NOT NULL,
        scanned_at INTEGER NOT NULL,
        voided INTEGER NOT NULL DEFAULT 0,
        push_state TEXT NOT NULL DEFAULT 'pending',
        verdict TEXT,
        server_seq INTEGER,
        rejection TEXT
    );
    CREATE INDEX outbox_book ON outbox (book_id);
    CREATE INDEX outbox_push_state ON outbox (push_state, device_seq);
    CREATE TABLE scan_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms INTEGER NOT NULL,
        source TEXT NOT NULL,
        text_digest BLOB NOT NULL,
        verdict TEXT NOT NULL,
        reason TEXT,
        book_id INTEGER,
        event_id BLOB,
        outcome TEXT NOT NULL,
        last_seen_ms INTEGER NOT NULL
    );
    CREATE INDEX scan_log_digest ON scan_log (text_digest, id);
    ",
    // 2: the simulated sync state of a training database (练习模式 practice of 数据过旧 and
    // 离线额度已用完); a device database never sets it.
    r"
    ALTER TABLE meta ADD COLUMN practice_data_age INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE meta ADD COLUMN practice_budget_used_up INTEGER NOT NULL DEFAULT 0;
    ",
    // 3: the courier's delivery list (docs/protocol.md, "Delivery list"): each order as last
    // pulled (the shared `DeliveryTask` as JSON), its state on this device, and the feed cursor.
    r"
    CREATE TABLE deliveries (
        order_id INTEGER PRIMARY KEY,
        day TEXT NOT NULL,
        task TEXT NOT NULL,
        state TEXT NOT NULL,
        seq INTEGER NOT NULL
    );
    CREATE INDEX deliveries_day ON deliveries (day);
    ALTER TABLE meta ADD COLUMN delivery_cursor INTEGER NOT NULL DEFAULT 0;
    ",
    // 4: the order an outbox event belongs to: a delivery's own, and the redemption a tickets
    // delivery's scan made (its record does not name the order). The list's 已送达 / 未送达
    // comes from here, and such a redemption cannot be undone.
    r"
    ALTER TABLE outbox ADD COLUMN order_id INTEGER;
    CREATE INDEX outbox_order ON outbox (order_id, device_seq);
    ",
];

/// Brings the schema up to date, one transaction per migration.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let current = usize::try_from(current).map_err(|_| StoreError::SchemaTooNew(current))?;
    if current > MIGRATIONS.len() {
        return Err(StoreError::SchemaTooNew(current as i64));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_run_once_and_set_the_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    #[test]
    fn a_version_1_database_keeps_its_data_and_gains_the_practice_state() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute("UPDATE meta SET training = 1, cursor = 42", [])
            .unwrap();
        migrate(&mut conn).unwrap();
        let meta = crate::store::meta::read(&conn).unwrap();
        assert!(meta.training);
        assert_eq!(meta.cursor, 42);
        assert_eq!(meta.practice, crate::store::meta::PracticeSync::default());
    }
}

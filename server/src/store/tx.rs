//! Transactions and the statements every table module runs inside one: the write start with
//! the SQLite write gate, audit entries and the locks. A leaf: it imports no table module, so
//! table modules can all use it.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use sqlx::{Any, AnyConnection, Transaction};
use tokio::sync::OwnedMutexGuard;

use crate::store::models::AuditEntry;
use crate::store::{Store, StoreError, StoreResult, backend};

/// How long a writer waits for the SQLite write gate before answering busy. Waiting holds no
/// connection, so it matches the pool's wait for one; writers in other processes (the CLI) are
/// still covered by the connection's `busy_timeout`.
const WRITE_GATE_TIMEOUT: Duration = Duration::from_secs(30);

/// A write transaction, holding the SQLite write gate until it ends.
pub(crate) struct WriteTx {
    tx: Transaction<'static, Any>,
    _gate: Option<OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub(crate) async fn commit(self) -> StoreResult<()> {
        Ok(self.tx.commit().await?)
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

impl Store {
    /// Starts a write transaction the way the backend needs (see `backend::begin_write_statement`).
    pub(crate) async fn begin_write(&self) -> StoreResult<WriteTx> {
        let gate = match &self.write_gate {
            Some(gate) => Some(
                tokio::time::timeout(WRITE_GATE_TIMEOUT, gate.clone().lock_owned())
                    .await
                    .map_err(|elapsed| StoreError::Busy(Box::new(elapsed)))?,
            ),
            None => None,
        };
        let tx = self
            .pool
            .begin_with(backend::begin_write_statement(self.backend))
            .await?;
        Ok(WriteTx { tx, _gate: gate })
    }
}

/// Writes one audit entry inside the caller's transaction.
pub(crate) async fn insert_audit(
    conn: &mut AnyConnection,
    audit: &AuditEntry,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (actor_user_id, action, target, detail, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(audit.actor.map(|user| user.0 as i64))
    .bind(audit.action)
    .bind(&audit.target)
    .bind(&audit.detail)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Locks `key` within `scope` (e.g. a phone's blind index for its codes) until the transaction
/// ends. On PostgreSQL a second transaction locking the same key waits here until the first
/// commits, so what it reads afterwards includes the first one's writes; SQLite write
/// transactions run one at a time anyway. Take key locks before the status clock, never after.
pub(crate) async fn lock_key(
    conn: &mut AnyConnection,
    scope: &str,
    key: &[u8],
    now: i64,
) -> StoreResult<()> {
    let mut lock_key = Vec::with_capacity(scope.len() + 1 + key.len());
    lock_key.extend_from_slice(scope.as_bytes());
    lock_key.push(b':');
    lock_key.extend_from_slice(key);
    // DO UPDATE, not DO NOTHING: only an update takes the existing row's lock.
    sqlx::query(
        "INSERT INTO key_locks (lock_key, taken_at) VALUES ($1, $2) \
         ON CONFLICT (lock_key) DO UPDATE SET taken_at = excluded.taken_at",
    )
    .bind(lock_key)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes the status clock's row lock without advancing it. Every transaction that changes books
/// locks the clock before any book row, so on PostgreSQL two of them can never deadlock.
pub(crate) async fn lock_status_clock(conn: &mut AnyConnection) -> StoreResult<()> {
    sqlx::query("UPDATE status_clock SET seq = seq WHERE id = 1")
        .execute(conn)
        .await?;
    Ok(())
}

//! Signing keys (their rotation and compromise) and the signed keyring bundles devices load.

use shuipiao_shared::ids::BookId;
use sqlx::AnyConnection;

use crate::store::models::{KeyInstall, KeyStatus, SigningKeyRow};
use crate::store::{ConflictKind, StoreError, StoreResult, ledger, rows};

/// Inserts a key; an active key installed as a rotation first retires its purpose's active key.
pub(super) async fn insert(
    conn: &mut AnyConnection,
    key: &SigningKeyRow,
    install: KeyInstall,
    now: i64,
) -> StoreResult<()> {
    if key.status == KeyStatus::Active && install == KeyInstall::Rotate {
        sqlx::query(
            "UPDATE signing_keys SET state = 'retired' WHERE purpose = $1 AND state = 'active'",
        )
        .bind(key.purpose.as_str())
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "INSERT INTO signing_keys (kid, purpose, public_key, sealed_secret, not_before, not_after, \
         state, compromised_since, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(key.kid.to_vec())
    .bind(key.purpose.as_str())
    .bind(key.public_key.to_vec())
    .bind(&key.sealed_secret)
    .bind(i64::from(key.not_before))
    .bind(i64::from(key.not_after))
    .bind(key.status.as_str())
    .bind(key.compromised_since.map(i64::from))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every key, oldest first.
pub(super) async fn all(conn: &mut AnyConnection) -> StoreResult<Vec<SigningKeyRow>> {
    let found = sqlx::query("SELECT * FROM signing_keys ORDER BY id")
        .fetch_all(conn)
        .await?;
    found.iter().map(rows::signing_key).collect()
}

/// Marks a key compromised from `since` and recomputes the ledgers of the books it signed that
/// have events; `NotFound` if there is no such key or it is compromised already.
pub(super) async fn mark_compromised(
    conn: &mut AnyConnection,
    kid: [u8; 4],
    since: u32,
    now: i64,
) -> StoreResult<()> {
    let changed = sqlx::query(
        "UPDATE signing_keys SET state = 'compromised', compromised_since = $1 WHERE kid = $2 AND state <> 'compromised'",
    )
    .bind(i64::from(since))
    .bind(kid.to_vec())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    let affected: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT b.id FROM books b JOIN events e ON e.book_id = b.id WHERE b.kid = $1",
    )
    .bind(kid.to_vec())
    .fetch_all(&mut *conn)
    .await?;
    let affected: Vec<BookId> = affected.into_iter().map(|id| BookId(id as u64)).collect();
    ledger::recompute_books(conn, &affected, now).await?;
    Ok(())
}

/// Inserts a keyring bundle; `Conflict` ([`ConflictKind::StaleKeyring`]) unless `version` is
/// higher than every stored one.
pub(super) async fn insert_bundle(
    conn: &mut AnyConnection,
    version: u64,
    bundle: &[u8],
    now: i64,
) -> StoreResult<()> {
    let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM keyring_bundles")
        .fetch_one(&mut *conn)
        .await?;
    if newest.is_some_and(|newest| newest >= version as i64) {
        return Err(StoreError::Conflict(ConflictKind::StaleKeyring));
    }
    sqlx::query("INSERT INTO keyring_bundles (version, bundle, created_at) VALUES ($1, $2, $3)")
        .bind(version as i64)
        .bind(bundle)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// The newest keyring bundle and its version.
pub(super) async fn latest_bundle(conn: &mut AnyConnection) -> StoreResult<Option<(u64, Vec<u8>)>> {
    let found: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT version, bundle FROM keyring_bundles ORDER BY version DESC LIMIT 1")
            .fetch_optional(conn)
            .await?;
    Ok(found.map(|(version, bundle)| (version as u64, bundle)))
}

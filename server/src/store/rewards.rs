//! Points and the gift catalogue: balances as sums of a ledger, and gift orders that check the
//! balance and the stock in the same transaction that spends them, under a lock on the
//! account's points.

use sqlx::{AnyConnection, Row};

use crate::store::models::{AuditEntry, Gift, PointsEntry};
use crate::store::{ConflictKind, StoreError, StoreResult, tx};
use shuipiao_shared::ids::UserId;

/// Adds points once per `reference` (a repeated reference is ignored).
pub(super) async fn credit(
    conn: &mut AnyConnection,
    account_id: i64,
    delta: i64,
    reason: &str,
    reference: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO points_ledger (account_id, delta, reason, ref, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (ref) DO NOTHING",
    )
    .bind(account_id)
    .bind(delta)
    .bind(reason)
    .bind(reference)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// An account's points.
pub(super) async fn balance(conn: &mut AnyConnection, account_id: i64) -> StoreResult<i64> {
    // SUM of BIGINT is NUMERIC on PostgreSQL: cast it back.
    Ok(sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(delta), 0) AS BIGINT) FROM points_ledger WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_one(conn)
    .await?)
}

/// An account's newest point changes.
pub(super) async fn history(
    conn: &mut AnyConnection,
    account_id: i64,
    limit: u32,
) -> StoreResult<Vec<PointsEntry>> {
    let found = sqlx::query(
        "SELECT delta, reason, created_at FROM points_ledger WHERE account_id = $1 \
         ORDER BY id DESC LIMIT $2",
    )
    .bind(account_id)
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    found
        .iter()
        .map(|row| {
            Ok(PointsEntry {
                delta: row.try_get("delta")?,
                reason: row.try_get("reason")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}

/// Adds a gift to the catalogue.
pub(super) async fn create_gift(
    conn: &mut AnyConnection,
    name: &str,
    points: i64,
    stock: i64,
    now: i64,
    audit: &AuditEntry,
) -> StoreResult<Gift> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO gifts (name, points, stock, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(name)
    .bind(points)
    .bind(stock)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    tx::insert_audit(conn, audit, now).await?;
    Ok(Gift {
        id,
        name: name.to_string(),
        points,
        stock,
    })
}

/// The catalogue, cheapest first.
pub(super) async fn gifts(conn: &mut AnyConnection) -> StoreResult<Vec<Gift>> {
    let found = sqlx::query("SELECT id, name, points, stock FROM gifts ORDER BY points, id")
        .fetch_all(conn)
        .await?;
    found
        .iter()
        .map(|row| {
            Ok(Gift {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                points: row.try_get("points")?,
                stock: row.try_get("stock")?,
            })
        })
        .collect()
}

/// Spends points on one gift: takes one from stock and records the order; `Conflict` with
/// [`ConflictKind::NotEnoughPoints`] or [`ConflictKind::OutOfStock`] changes nothing. The account's
/// points are locked before the balance is read, so orders placed at once (run in parallel on
/// PostgreSQL) are checked one after another and never spend more than the balance.
pub(super) async fn order_gift(
    conn: &mut AnyConnection,
    account_id: i64,
    user: UserId,
    gift_id: i64,
    now: i64,
) -> StoreResult<i64> {
    tx::lock_key(conn, "points", &account_id.to_be_bytes(), now).await?;
    let points: i64 = sqlx::query_scalar("SELECT points FROM gifts WHERE id = $1")
        .bind(gift_id)
        .fetch_one(&mut *conn)
        .await?;
    if balance(conn, account_id).await? < points {
        return Err(StoreError::Conflict(ConflictKind::NotEnoughPoints));
    }
    let taken = sqlx::query("UPDATE gifts SET stock = stock - 1 WHERE id = $1 AND stock > 0")
        .bind(gift_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if taken == 0 {
        return Err(StoreError::Conflict(ConflictKind::OutOfStock));
    }
    let order_id: i64 = sqlx::query_scalar(
        "INSERT INTO gift_orders (gift_id, account_id, user_id, points, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(gift_id)
    .bind(account_id)
    .bind(user.0 as i64)
    .bind(points)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    credit(
        conn,
        account_id,
        -points,
        "gift",
        &format!("gift-order:{order_id}"),
        now,
    )
    .await?;
    Ok(order_id)
}

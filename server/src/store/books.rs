//! Ticket books and the orders they come from: book ids, orders of packages, inserting,
//! reading, searching, revoking and replacing books, and the books' statuses devices pull.

use std::ops::Range;

use shuipiao_shared::ids::BookId;
use shuipiao_shared::status::{StatusRow, StatusSets};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::store::models::{Book, NewBook, NewOrder};
use crate::store::tx::lock_status_clock;
use crate::store::{ConflictKind, StoreError, StoreResult, ledger, reports, rows};

/// Selects books (`b`) with the package of their order; callers append `WHERE …`.
pub(super) const SELECT_BOOKS: &str = "SELECT b.id, b.order_id, b.account_id, b.product_code, b.units, \
    b.scope_id, b.valid_from, b.valid_until, b.kid, b.qr_text, b.source, b.replaces_book_id, \
    b.used_units, b.state, b.revoked_at, b.revoke_reason, b.last_used_at, b.status_seq, \
    o.package_id FROM books b LEFT JOIN orders o ON o.id = b.order_id";

/// Advances the book id counter by `count` and returns the ids it passed.
pub(super) async fn allocate_ids(conn: &mut AnyConnection, count: u32) -> StoreResult<Range<u64>> {
    let end: i64 = sqlx::query_scalar(
        "UPDATE id_counters SET next_value = next_value + $1 WHERE name = 'book' RETURNING next_value",
    )
    .bind(i64::from(count))
    .fetch_one(conn)
    .await?;
    let end = end as u64;
    Ok(end - u64::from(count)..end)
}

/// Inserts an order of a package and returns its id.
pub(super) async fn insert_order(
    conn: &mut AnyConnection,
    order: &NewOrder,
    now: i64,
) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO orders (account_id, package_id, quantity, total_fen, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(order.account_id)
    .bind(order.package_id)
    .bind(i64::from(order.quantity))
    .bind(order.total_fen)
    .bind(order.created_by.map(|user| user.0 as i64))
    .bind(now)
    .fetch_one(conn)
    .await?)
}

/// Inserts an active, unused book, of the order `order_id` if it has one.
pub(super) async fn insert(
    conn: &mut AnyConnection,
    book: &NewBook,
    order_id: Option<i64>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO books (id, order_id, account_id, product_code, units, scope_id, valid_from, \
         valid_until, kid, qr_text, source, replaces_book_id, used_units, state, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, 'active', $13)",
    )
    .bind(book.id.0 as i64)
    .bind(order_id)
    .bind(book.account_id)
    .bind(i64::from(book.product.0))
    .bind(i64::from(book.units))
    .bind(i64::from(book.scope.0))
    .bind(i64::from(book.valid_from))
    .bind(i64::from(book.valid_until))
    .bind(rows::kid_bytes(&book.kid_hex)?.to_vec())
    .bind(&book.qr_text)
    .bind(&book.source)
    .bind(book.replaces.map(|id| id.0 as i64))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The book with `id`.
pub(super) async fn fetch(conn: &mut AnyConnection, id: BookId) -> StoreResult<Book> {
    let row: AnyRow = sqlx::query(AssertSqlSafe(format!("{SELECT_BOOKS} WHERE b.id = $1")))
        .bind(id.0 as i64)
        .fetch_one(conn)
        .await?;
    rows::book(&row)
}

/// The books of an account, newest first.
pub(super) async fn of_account(
    conn: &mut AnyConnection,
    account_id: i64,
) -> StoreResult<Vec<Book>> {
    let found = sqlx::query(AssertSqlSafe(format!(
        "{SELECT_BOOKS} WHERE b.account_id = $1 ORDER BY b.id DESC"
    )))
    .bind(account_id)
    .fetch_all(conn)
    .await?;
    found.iter().map(rows::book).collect()
}

/// The books signed by the key `kid` that are not revoked, by id.
pub(super) async fn live_of_key(conn: &mut AnyConnection, kid: [u8; 4]) -> StoreResult<Vec<Book>> {
    let found = sqlx::query(AssertSqlSafe(format!(
        "{SELECT_BOOKS} WHERE b.kid = $1 AND b.state <> 'revoked' ORDER BY b.id"
    )))
    .bind(kid.to_vec())
    .fetch_all(conn)
    .await?;
    found.iter().map(rows::book).collect()
}

/// Active books with units left whose validity ends in `(now, before]`, soonest first.
pub(super) async fn expiring(
    conn: &mut AnyConnection,
    now: i64,
    before: i64,
) -> StoreResult<Vec<Book>> {
    let found = sqlx::query(AssertSqlSafe(format!(
        "{SELECT_BOOKS} WHERE b.state = 'active' AND b.valid_until > $1 AND b.valid_until <= $2 \
         AND b.used_units < b.units ORDER BY b.valid_until, b.id"
    )))
    .bind(now)
    .bind(before)
    .fetch_all(conn)
    .await?;
    found.iter().map(rows::book).collect()
}

/// Books whose id is `id`, or whose QR text is `text`, or whose account name contains `text`, or
/// whose holder (or holder's enterprise) signs in as `text`; newest first.
pub(super) async fn search(
    conn: &mut AnyConnection,
    id: Option<BookId>,
    text: &str,
    limit: u32,
) -> StoreResult<Vec<Book>> {
    let sql = format!(
        "{SELECT_BOOKS} JOIN accounts a ON a.id = b.account_id \
         WHERE b.id = $1 OR b.qr_text = $2 OR a.name LIKE $3 ESCAPE '\\' \
         OR b.account_id IN (SELECT u.account_id FROM users u WHERE u.username = $2) \
         OR a.enterprise_id IN (SELECT u.account_id FROM users u WHERE u.username = $2) \
         ORDER BY b.id DESC LIMIT $4"
    );
    let found = sqlx::query(AssertSqlSafe(sql))
        .bind(id.map_or(-1, |id| id.0 as i64))
        .bind(text)
        .bind(if text.is_empty() {
            String::new()
        } else {
            reports::contains_pattern(text)
        })
        .bind(i64::from(limit))
        .fetch_all(conn)
        .await?;
    found.iter().map(rows::book).collect()
}

/// Revokes a book under the status clock and recomputes its ledger; `Conflict`
/// ([`ConflictKind::AlreadyRevoked`]) if it is revoked already, `NotFound` if there is none.
pub(super) async fn revoke(
    conn: &mut AnyConnection,
    id: BookId,
    reason: &str,
    now: i64,
) -> StoreResult<()> {
    lock_status_clock(conn).await?;
    let changed = sqlx::query(
        "UPDATE books SET state = 'revoked', revoked_at = $1, revoke_reason = $2 \
         WHERE id = $3 AND state <> 'revoked'",
    )
    .bind(now)
    .bind(reason)
    .bind(id.0 as i64)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if changed == 0 {
        fetch(conn, id).await?;
        return Err(StoreError::Conflict(ConflictKind::AlreadyRevoked));
    }
    ledger::recompute_books(conn, &[id], now).await?;
    Ok(())
}

/// Revokes `old` and inserts its replacements, returning them as stored; `Conflict`
/// ([`ConflictKind::UnitsChanged`]) if they hold more units than `old` has left now.
pub(super) async fn replace(
    conn: &mut AnyConnection,
    old: BookId,
    replacements: &[NewBook],
    reason: &str,
    now: i64,
) -> StoreResult<Vec<Book>> {
    // The caller read the book before this transaction: under the status clock, which every
    // redemption's transaction takes too, check that its units left still cover the
    // replacements, or a redemption counted meanwhile would be handed out again.
    lock_status_clock(conn).await?;
    let book = fetch(conn, old).await?;
    let left = book.issued.units.saturating_sub(book.used_units);
    let replacing: u32 = replacements.iter().map(|b| u32::from(b.units)).sum();
    if replacing > u32::from(left) {
        tracing::info!(book = %old, left, replacing, "replacement refused: units left changed");
        return Err(StoreError::Conflict(ConflictKind::UnitsChanged));
    }
    revoke(conn, old, reason, now).await?;
    let mut books = Vec::with_capacity(replacements.len());
    for replacement in replacements {
        insert(conn, replacement, None, now).await?;
        books.push(fetch(conn, replacement.id).await?);
    }
    Ok(books)
}

/// Status rows of books changed after `cursor`, in sequence order.
pub(super) async fn statuses_after(
    conn: &mut AnyConnection,
    cursor: u64,
    limit: u32,
) -> StoreResult<Vec<StatusRow>> {
    let found = sqlx::query(
        "SELECT id, used_units, state, status_seq, last_used_at FROM books \
         WHERE status_seq > $1 ORDER BY status_seq LIMIT $2",
    )
    .bind(cursor as i64)
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    found.iter().map(rows::status_row).collect()
}

/// The revoked and used-up books and the highest status sequence, in one statement.
pub(super) async fn status_sets(conn: &mut AnyConnection) -> StoreResult<(u64, StatusSets)> {
    // One statement is one consistent read on both backends. Sequence numbers are handed
    // out under a lock held until commit, so every row at or below the highest committed
    // sequence is in, and everything later comes through pull.
    let found = sqlx::query(
        "SELECT id, state FROM books WHERE state <> 'active' \
         UNION ALL SELECT CAST(COALESCE(MAX(status_seq), 0) AS BIGINT), 'head' FROM books",
    )
    .fetch_all(conn)
    .await?;
    let (mut seq, mut sets) = (0, StatusSets::default());
    for row in &found {
        rows::add_to_sets(row, &mut seq, &mut sets)?;
    }
    Ok((seq, sets))
}

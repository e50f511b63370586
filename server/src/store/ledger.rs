//! Recomputing books' ledgers in SQL: load each book's terms, events and resolutions (plus a
//! push's events not stored yet), run the protocol's pure `ledger::compute`, and store the new
//! statuses under fresh status sequence numbers together with the ledger-decided review items.
//! Runs inside the caller's transaction.

use std::collections::{BTreeMap, HashMap};

use shuipiao_shared::event::SignedEvent;
use shuipiao_shared::ids::{BookId, DeviceId, EventId, UserId};
use shuipiao_shared::ledger::{
    self, BookLedger, BookTerms, LedgerEvent, LedgerEventKind, LedgerTip, Outcome,
};
use shuipiao_shared::status::BookState;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use crate::store::batch::{params, rows_per_statement, value_rows};
use crate::store::models::{BookEvent, BookHistory, ReviewReason};
use crate::store::tx::lock_status_clock;
use crate::store::{StoreResult, rows};
use crate::sync::classify;

/// Review reasons the ledger decides, refreshed on every whole recomputation. The queue keeps
/// one row per (event, reason), so a refresh deletes and re-adds only these rows and never
/// touches a reason the ledger does not decide (a device flag, an odd event found at push):
/// those stay until an operator resolves the event.
const LEDGER_REASONS: [ReviewReason; 2] =
    [ReviewReason::OverRedeemed, ReviewReason::AfterRevocation];

/// A book after recomputation.
pub(super) struct Recomputed {
    /// Its book.
    pub book_id: BookId,
    /// The status sequence number of this change.
    pub seq: i64,
    /// Its new state.
    pub state: BookState,
    /// When a counted redemption last used it.
    pub last_used_at: Option<u64>,
    /// The ledger: of every redemption when `whole`, else of the push's appended ones only.
    pub ledger: BookLedger,
    /// Whether `ledger` was computed from all the book's events (see [`ledger::extend`]).
    pub whole: bool,
    /// Its new ledger tip, stored in `used_units` and `ledger_at`.
    pub tip: LedgerTip,
}

/// What is stored of a book besides its events.
struct Stored {
    terms: BookTerms,
    tip: LedgerTip,
    last_used_at: Option<u64>,
}

/// Runs `sql` (with `{ids}` standing for the placeholders) over `books` in chunks and hands each
/// row to `each`.
async fn for_each_row(
    conn: &mut AnyConnection,
    books: &[BookId],
    sql: &str,
    mut each: impl FnMut(&AnyRow) -> StoreResult<()>,
) -> StoreResult<()> {
    for chunk in books.chunks(rows_per_statement(conn, 1)) {
        let sql = sql.replace("{ids}", &params(1, chunk.len()));
        let found = chunk
            .iter()
            .fold(sqlx::query(AssertSqlSafe(sql)), |query, id| {
                query.bind(id.0 as i64)
            })
            .fetch_all(&mut *conn)
            .await?;
        found.iter().try_for_each(&mut each)?;
    }
    Ok(())
}

fn optional_time(row: &AnyRow, column: &str) -> StoreResult<Option<u64>> {
    Ok(row.try_get::<Option<i64>, _>(column)?.map(|at| at as u64))
}

async fn load_stored(
    conn: &mut AnyConnection,
    books: &[BookId],
) -> StoreResult<BTreeMap<BookId, Stored>> {
    let mut stored = BTreeMap::new();
    let sql = "SELECT b.id, b.units, b.revoked_at, k.compromised_since, b.used_units, b.ledger_at, \
               b.last_used_at FROM books b JOIN signing_keys k ON k.kid = b.kid WHERE b.id IN ({ids})";
    for_each_row(conn, books, sql, |row| {
        let id: i64 = row.try_get("id")?;
        let units = |column| {
            let units: i64 = row.try_get(column)?;
            u16::try_from(units).map_err(|_| rows::corrupt("books.units"))
        };
        let terms = BookTerms {
            units: units("units")?,
            revoked_at: optional_time(row, "revoked_at")?,
            key_compromised_at: optional_time(row, "compromised_since")?,
        };
        let tip = LedgerTip {
            used_units: units("used_units")?,
            latest_redemption_at: optional_time(row, "ledger_at")?,
        };
        let last_used_at = optional_time(row, "last_used_at")?;
        stored.insert(
            BookId(id as u64),
            Stored {
                terms,
                tip,
                last_used_at,
            },
        );
        Ok(())
    })
    .await?;
    Ok(stored)
}

/// Every stored ledger event (redemptions, voids and operator resolutions) of `books`.
async fn load_events(
    conn: &mut AnyConnection,
    books: &[BookId],
) -> StoreResult<BTreeMap<BookId, Vec<LedgerEvent>>> {
    let mut events: BTreeMap<BookId, Vec<LedgerEvent>> = BTreeMap::new();
    let sql = "SELECT book_id, signed FROM events WHERE book_id IN ({ids}) \
               AND kind IN ('redemption', 'void')";
    for_each_row(conn, books, sql, |row| {
        let book_id: i64 = row.try_get("book_id")?;
        let signed: Vec<u8> = row.try_get("signed")?;
        let event = SignedEvent::from_bytes(&signed).map_err(|_| rows::corrupt("events.signed"))?;
        events
            .entry(BookId(book_id as u64))
            .or_default()
            .extend(LedgerEvent::from_device(&event));
        Ok(())
    })
    .await?;
    let sql = "SELECT book_id, event_id, target_event_id, action, operator_id, at FROM resolutions \
               WHERE book_id IN ({ids})";
    for_each_row(conn, books, sql, |row| {
        let book_id: i64 = row.try_get("book_id")?;
        let event_id: String = row.try_get("event_id")?;
        let target: String = row.try_get("target_event_id")?;
        let action: String = row.try_get("action")?;
        let operator: i64 = row.try_get("operator_id")?;
        let at: i64 = row.try_get("at")?;
        events
            .entry(BookId(book_id as u64))
            .or_default()
            .push(LedgerEvent {
                event_id: rows::parse_event_id(&event_id)?,
                device_id: DeviceId(0),
                device_seq: 0,
                at: at as u64,
                kind: LedgerEventKind::Resolution {
                    target: rows::parse_event_id(&target)?,
                    action: rows::parse_action(&action)?,
                    operator: UserId(operator as u64),
                },
            });
        Ok(())
    })
    .await?;
    Ok(events)
}

/// Recomputes `books` (each once, any order) from all their events and stores their new
/// statuses; returns them in book id order. Takes the status clock lock if the caller has not.
pub(super) async fn recompute_books(
    conn: &mut AnyConnection,
    books: &[BookId],
    now: i64,
) -> StoreResult<Vec<Recomputed>> {
    let recomputed = compute_books(conn, books, &[]).await?;
    store_books(conn, &recomputed, now).await?;
    Ok(recomputed)
}

/// Computes the ledgers of `books` from what is stored plus `pending` (events of those books
/// not inserted yet, so a push can store each event with its status sequence in one go) and
/// hands out their status sequence numbers. Nothing is written but the status clock, which
/// stays locked until commit: sequence order is commit order. [`store_books`] writes the rest.
///
/// A book with pending events only is appended to from its stored tip when
/// [`ledger::extend`] allows, which spares loading its events; a book without pending events
/// changed some other way and is recomputed whole.
pub(super) async fn compute_books(
    conn: &mut AnyConnection,
    books: &[BookId],
    pending: &[&SignedEvent],
) -> StoreResult<Vec<Recomputed>> {
    if books.is_empty() {
        return Ok(Vec::new());
    }
    // Lock before reading: on PostgreSQL (read committed) a transaction that read the events
    // first and then waited for the lock would store a ledger missing the events another
    // device's push committed meanwhile. Once the lock is held, every later statement sees them.
    lock_status_clock(conn).await?;
    let stored = load_stored(conn, books).await?;
    let mut new: BTreeMap<BookId, Vec<LedgerEvent>> = BTreeMap::new();
    for event in pending {
        if let Some(book_id) = event.event.body.book_id()
            && stored.contains_key(&book_id)
        {
            new.entry(book_id)
                .or_default()
                .extend(LedgerEvent::from_device(event));
        }
    }
    if stored.is_empty() {
        return Ok(Vec::new());
    }
    let mut appended: BTreeMap<BookId, BookLedger> = new
        .iter()
        .filter_map(|(id, events)| {
            let book = &stored[id];
            ledger::extend(&book.terms, &book.tip, events).map(|ledger| (*id, ledger))
        })
        .collect();
    let whole: Vec<BookId> = stored
        .keys()
        .filter(|id| !appended.contains_key(id))
        .copied()
        .collect();
    let mut events = load_events(conn, &whole).await?;
    let n_books = stored.len() as i64;
    let last_seq: i64 =
        sqlx::query_scalar("UPDATE status_clock SET seq = seq + $1 WHERE id = 1 RETURNING seq")
            .bind(n_books)
            .fetch_one(&mut *conn)
            .await?;
    Ok(stored
        .into_iter()
        .enumerate()
        .map(|(offset, (book_id, book))| {
            let new = new.remove(&book_id).unwrap_or_default();
            let (ledger, whole, events) = match appended.remove(&book_id) {
                Some(ledger) => (ledger, false, new),
                None => {
                    let mut all = events.remove(&book_id).unwrap_or_default();
                    all.extend(new);
                    (ledger::compute(&book.terms, &all), true, all)
                }
            };
            let at_of: HashMap<EventId, u64> = events.iter().map(|e| (e.event_id, e.at)).collect();
            let counted_at = ledger
                .redemptions
                .iter()
                .filter(|r| r.outcome == Outcome::Counted)
                .filter_map(|r| at_of.get(&r.event_id).copied())
                .max();
            // An appended ledger saw only the new events: fold in what was stored.
            let (last_used_at, tip) = if whole {
                (counted_at, LedgerTip::of(&ledger, &events))
            } else {
                (
                    counted_at.max(book.last_used_at),
                    book.tip.extended(&ledger, &events),
                )
            };
            let state = if book.terms.revoked_at.is_some() {
                BookState::Revoked
            } else if ledger.remaining == 0 {
                BookState::UsedUp
            } else {
                BookState::Active
            };
            Recomputed {
                book_id,
                seq: last_seq - n_books + 1 + offset as i64,
                state,
                last_used_at,
                ledger,
                whole,
                tip,
            }
        })
        .collect())
}

/// Stores what [`compute_books`] decided: statuses and the ledger-decided review items. The
/// events the review items name must be stored by now.
pub(super) async fn store_books(
    conn: &mut AnyConnection,
    recomputed: &[Recomputed],
    now: i64,
) -> StoreResult<()> {
    for chunk in recomputed.chunks(rows_per_statement(conn, 6)) {
        let sql = format!(
            "UPDATE books SET used_units = v.column2, state = v.column3, last_used_at = v.column4, \
             status_seq = v.column5, ledger_at = v.column6 FROM (VALUES {}) AS v \
             WHERE books.id = v.column1",
            value_rows(chunk.len(), 6)
        );
        let query = chunk
            .iter()
            .fold(sqlx::query(AssertSqlSafe(sql)), |query, book| {
                query
                    .bind(book.book_id.0 as i64)
                    .bind(i64::from(book.ledger.used_units))
                    .bind(rows::book_state_text(book.state))
                    .bind(book.last_used_at.map(|at| at as i64))
                    .bind(book.seq)
                    .bind(book.tip.latest_redemption_at.map(|at| at as i64))
            });
        query.execute(&mut *conn).await?;
    }
    refresh_review_items(conn, recomputed, now).await
}

async fn refresh_review_items(
    conn: &mut AnyConnection,
    recomputed: &[Recomputed],
    now: i64,
) -> StoreResult<()> {
    // Only a whole ledger replaces the book's items; an appended one adds its own.
    let whole: Vec<&Recomputed> = recomputed.iter().filter(|book| book.whole).collect();
    for chunk in whole.chunks(rows_per_statement(conn, 1)) {
        let sql = format!(
            "DELETE FROM review_queue WHERE resolution_event_id IS NULL AND reason IN ($1, $2) \
             AND book_id IN ({})",
            params(3, chunk.len())
        );
        let query = sqlx::query(AssertSqlSafe(sql))
            .bind(LEDGER_REASONS[0].as_str())
            .bind(LEDGER_REASONS[1].as_str());
        let query = chunk
            .iter()
            .fold(query, |query, book| query.bind(book.book_id.0 as i64));
        query.execute(&mut *conn).await?;
    }
    let flagged: Vec<(String, i64, ReviewReason)> = recomputed
        .iter()
        .flat_map(|book| {
            book.ledger.redemptions.iter().filter_map(|r| {
                classify::ledger_reason(r)
                    .map(|reason| (r.event_id.0.to_string(), book.book_id.0 as i64, reason))
            })
        })
        .collect();
    for chunk in flagged.chunks(rows_per_statement(conn, 4)) {
        let sql = format!(
            "INSERT INTO review_queue (event_id, book_id, reason, created_at) VALUES {} \
             ON CONFLICT (event_id, reason) DO NOTHING",
            value_rows(chunk.len(), 4)
        );
        let query = chunk
            .iter()
            .fold(sqlx::query(AssertSqlSafe(sql)), |query, item| {
                query
                    .bind(item.0.clone())
                    .bind(item.1)
                    .bind(item.2.as_str())
                    .bind(now)
            });
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The ledger of one book and every device event about it, oldest first, with who recorded it.
pub(super) async fn history(conn: &mut AnyConnection, book_id: BookId) -> StoreResult<BookHistory> {
    let stored = load_stored(conn, &[book_id]).await?;
    let book = stored
        .get(&book_id)
        .ok_or(crate::store::StoreError::NotFound)?;
    let events = load_events(conn, &[book_id]).await?;
    let ledger = ledger::compute(&book.terms, events.get(&book_id).map_or(&[], Vec::as_slice));
    let found = sqlx::query(
        "SELECT e.signed, e.received_at, d.name AS device_name, u.username, o.name AS outlet_name \
         FROM events e JOIN devices d ON d.id = e.device_id JOIN users u ON u.id = d.user_id \
         LEFT JOIN outlets o ON o.id = u.outlet_id \
         WHERE e.book_id = $1 ORDER BY e.scanned_at, e.event_id",
    )
    .bind(book_id.0 as i64)
    .fetch_all(&mut *conn)
    .await?;
    let events = found
        .iter()
        .map(|row| {
            let signed: Vec<u8> = row.try_get("signed")?;
            let event =
                SignedEvent::from_bytes(&signed).map_err(|_| rows::corrupt("events.signed"))?;
            Ok(BookEvent {
                event: event.event,
                received_at: row.try_get("received_at")?,
                device_name: row.try_get("device_name")?,
                staff_name: row.try_get("username")?,
                outlet_name: row.try_get("outlet_name")?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(BookHistory { ledger, events })
}

//! Device events in SQL: loading the facts of a pushed batch and applying the push decision
//! (`sync::classify`) in a few statements, the review queue and operator resolutions. Every
//! function runs inside the caller's write transaction; ledgers are recomputed by `ledger.rs`.

use std::collections::{BTreeSet, HashMap};

use shuipiao_shared::event::{ChainTip, EventBody, GENESIS_HASH, SignedEvent};
use shuipiao_shared::ids::{BookId, DeviceId, EventId, ScopeId, UserId};
use shuipiao_shared::ledger::ResolutionAction;
use shuipiao_shared::status::StatusRow;
use shuipiao_shared::sync::PushResult;
use shuipiao_shared::verdict::UseTerms;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use crate::store::batch::{params, rows_per_statement, value_rows};
use crate::store::buckets;
use crate::store::closing::{self, close_orders};
use crate::store::ledger::{compute_books, recompute_books, store_books};
use crate::store::models::{Device, ReviewItem, ReviewReason};
use crate::store::reports::FigureColumns;
use crate::store::tx::lock_status_clock;
use crate::store::{ConflictKind, StoreError, StoreResult, rows};
use crate::sync::classify::{self, MovedBook, PushFacts, StoredEvent};

fn body_kind(body: &EventBody) -> &'static str {
    match body {
        EventBody::Redemption { .. } => "redemption",
        EventBody::Void { .. } => "void",
        EventBody::ScanAttempt { .. } => "scan_attempt",
        EventBody::Delivery { .. } => "delivery",
    }
}

fn action_text(action: ResolutionAction) -> &'static str {
    match action {
        ResolutionAction::Charge => "charge",
        ResolutionAction::WriteOff => "write_off",
        ResolutionAction::Void => "void",
    }
}

async fn chain_tip_in(conn: &mut AnyConnection, device: DeviceId) -> StoreResult<ChainTip> {
    // A no-op UPDATE locks the device row on PostgreSQL, so two pushes of one device serialise.
    let (seq, hash): (i64, Option<Vec<u8>>) = sqlx::query_as(
        "UPDATE devices SET chain_seq = chain_seq WHERE id = $1 RETURNING chain_seq, chain_hash",
    )
    .bind(device.0 as i64)
    .fetch_one(conn)
    .await?;
    tip_from_row(seq, hash)
}

/// The tip of a device's chain as stored.
pub(super) async fn chain_tip(conn: &mut AnyConnection, device: DeviceId) -> StoreResult<ChainTip> {
    let (seq, hash): (i64, Option<Vec<u8>>) =
        sqlx::query_as("SELECT chain_seq, chain_hash FROM devices WHERE id = $1")
            .bind(device.0 as i64)
            .fetch_one(conn)
            .await?;
    tip_from_row(seq, hash)
}

/// A chain tip from the `devices` columns; no hash yet means no event yet.
fn tip_from_row(seq: i64, hash: Option<Vec<u8>>) -> StoreResult<ChainTip> {
    let hash = match hash {
        Some(bytes) => bytes
            .try_into()
            .map_err(|_| rows::corrupt("devices.chain_hash"))?,
        None => GENESIS_HASH,
    };
    Ok(ChainTip {
        device_seq: seq as u64,
        hash,
    })
}

/// The terms of the `books` that exist, by id: one statement per chunk of ids.
async fn book_terms(
    conn: &mut AnyConnection,
    books: &BTreeSet<BookId>,
) -> StoreResult<HashMap<BookId, UseTerms>> {
    let named: Vec<i64> = books.iter().map(|book| book.0 as i64).collect();
    let mut terms = HashMap::new();
    for chunk in named.chunks(rows_per_statement(conn, 1)) {
        let sql = format!(
            "SELECT id, product_code, scope_id, valid_from, valid_until FROM books WHERE id IN ({})",
            params(1, chunk.len())
        );
        let query = chunk
            .iter()
            .fold(sqlx::query(AssertSqlSafe(sql)), |query, id| query.bind(*id));
        for row in query.fetch_all(&mut *conn).await? {
            let (book, book_terms) = rows::book_terms(&row)?;
            terms.insert(book, book_terms);
        }
    }
    Ok(terms)
}

/// Already stored events among `events`, by id: their signed bytes and status sequence.
async fn stored_events(
    conn: &mut AnyConnection,
    events: &[SignedEvent],
) -> StoreResult<HashMap<EventId, StoredEvent>> {
    let mut stored = HashMap::new();
    for chunk in events.chunks(rows_per_statement(conn, 1)) {
        let sql = format!(
            "SELECT event_id, signed, server_seq FROM events WHERE event_id IN ({})",
            params(1, chunk.len())
        );
        let query = chunk
            .iter()
            .fold(sqlx::query(AssertSqlSafe(sql)), |query, event| {
                query.bind(event.event.event_id.0.to_string())
            });
        for row in query.fetch_all(&mut *conn).await? {
            let event_id: String = row.try_get("event_id")?;
            let server_seq: Option<i64> = row.try_get("server_seq")?;
            stored.insert(
                rows::parse_event_id(&event_id)?,
                StoredEvent {
                    signed: row.try_get("signed")?,
                    server_seq: server_seq.map(|seq| seq as u64),
                },
            );
        }
    }
    Ok(stored)
}

/// `device`'s stored redemptions among `targets`, with their book: one statement per chunk.
async fn own_redemptions(
    conn: &mut AnyConnection,
    device: DeviceId,
    targets: &BTreeSet<EventId>,
) -> StoreResult<HashMap<EventId, BookId>> {
    let targets: Vec<&EventId> = targets.iter().collect();
    let mut own = HashMap::new();
    for chunk in targets.chunks(rows_per_statement(conn, 1).saturating_sub(1).max(1)) {
        let sql = format!(
            "SELECT event_id, book_id FROM events WHERE device_id = $1 AND kind = 'redemption' \
             AND event_id IN ({})",
            params(2, chunk.len())
        );
        let query = chunk.iter().fold(
            sqlx::query(AssertSqlSafe(sql)).bind(device.0 as i64),
            |query, target| query.bind(target.0.to_string()),
        );
        for row in query.fetch_all(&mut *conn).await? {
            let event_id: String = row.try_get("event_id")?;
            let book_id: Option<i64> = row.try_get("book_id")?;
            if let Some(book_id) = book_id {
                own.insert(rows::parse_event_id(&event_id)?, BookId(book_id as u64));
            }
        }
    }
    Ok(own)
}

/// Inserts accepted events; those that moved a book carry its new status sequence number.
async fn insert_events(
    conn: &mut AnyConnection,
    events: &[&SignedEvent],
    seq_of_book: &HashMap<BookId, i64>,
    now: i64,
) -> StoreResult<()> {
    for chunk in events.chunks(rows_per_statement(conn, 18)) {
        let sql = format!(
            "INSERT INTO events (event_id, device_id, device_seq, kind, book_id, scanned_at, signed, received_at, server_seq, \
             units, product_code, refusal, void_target, order_id, outcome, bottles, empties, deposits) VALUES {}",
            value_rows(chunk.len(), 18)
        );
        let query = chunk
            .iter()
            .fold(sqlx::query(AssertSqlSafe(sql)), |query, event| {
                let figures = FigureColumns::of(&event.event.body);
                let delivery = figures.delivery;
                query
                    .bind(event.event.event_id.0.to_string())
                    .bind(event.event.device_id.0 as i64)
                    .bind(event.event.device_seq as i64)
                    .bind(body_kind(&event.event.body))
                    .bind(stored_book_id(&event.event.body))
                    .bind(event.event.scanned_at as i64)
                    .bind(event.to_bytes())
                    .bind(now)
                    .bind(
                        classify::moves_book(event)
                            .and_then(|book| seq_of_book.get(&book).copied()),
                    )
                    .bind(figures.units)
                    .bind(figures.product_code)
                    .bind(figures.refusal)
                    .bind(figures.void_target)
                    .bind(delivery.map(|d| d.order_id))
                    .bind(delivery.map(|d| d.outcome))
                    .bind(delivery.map(|d| d.bottles))
                    .bind(delivery.map(|d| d.empties))
                    .bind(delivery.map(|d| d.deposits))
            });
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The orders that delivery events among `events` are about: they are settled, and their
/// buckets' ledgers change. `classify` stores no order id past what a column holds.
fn delivered_orders(events: &[&SignedEvent]) -> BTreeSet<i64> {
    events
        .iter()
        .filter_map(|event| event.event.body.order_id())
        .filter_map(|id| i64::try_from(id).ok())
        .collect()
}

/// The `book_id` column of an event: none for a scan attempt whose code named an id past what
/// the column holds (no such book exists; the signed record keeps the id).
fn stored_book_id(body: &EventBody) -> Option<i64> {
    body.book_id().and_then(|id| i64::try_from(id.0).ok())
}

/// Queues `items` (each an event and one reason), skipping (event, reason) pairs already
/// queued, e.g. by the ledger's refresh of the same push.
async fn insert_review_items(
    conn: &mut AnyConnection,
    items: &[(&SignedEvent, ReviewReason)],
    now: i64,
) -> StoreResult<()> {
    for chunk in items.chunks(rows_per_statement(conn, 4)) {
        let sql = format!(
            "INSERT INTO review_queue (event_id, reason, book_id, created_at) VALUES {} \
             ON CONFLICT (event_id, reason) DO NOTHING",
            value_rows(chunk.len(), 4)
        );
        let query = chunk
            .iter()
            .fold(sqlx::query(AssertSqlSafe(sql)), |query, (event, reason)| {
                query
                    .bind(event.event.event_id.0.to_string())
                    .bind(reason.as_str())
                    .bind(stored_book_id(&event.event.body))
                    .bind(now)
            });
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Stores a pushed batch of one device's events and returns one result per event, in the
/// pushed order: loads the facts [`classify`] reads under the device's row lock, applies its
/// plan, closes the orders its deliveries name (`closing`) and answers with
/// [`PushPlan::settle`](classify::PushPlan::settle).
/// `signature_ok[i]` says whether `events[i]` carries the device's signature; `served` are the
/// scopes the device's user serves.
pub(super) async fn ingest(
    conn: &mut AnyConnection,
    device: &Device,
    events: &[SignedEvent],
    signature_ok: &[bool],
    served: &[ScopeId],
    now: i64,
) -> StoreResult<Vec<PushResult>> {
    let facts = PushFacts {
        device: device.id,
        courier: device.user_id,
        events,
        signature_ok,
        tip: chain_tip_in(conn, device.id).await?,
        stored: stored_events(conn, events).await?,
        books: book_terms(conn, &classify::named_books(events)).await?,
        own_redemptions: own_redemptions(conn, device.id, &classify::void_targets(events)).await?,
        served,
    };
    let plan = classify::classify(&facts);
    // The new ledgers are computed before the events are stored, so each event is written
    // once, with its book's status sequence number.
    let moving: Vec<&SignedEvent> = plan.moving.iter().map(|&idx| &events[idx]).collect();
    let recomputed = compute_books(conn, &plan.books, &moving).await?;
    let seq_of_book: HashMap<BookId, i64> = recomputed
        .iter()
        .map(|book| (book.book_id, book.seq))
        .collect();
    let to_insert: Vec<&SignedEvent> = plan.insert.iter().map(|&idx| &events[idx]).collect();
    insert_events(conn, &to_insert, &seq_of_book, now).await?;
    let orders = delivered_orders(&to_insert);
    buckets::refresh_after_push(conn, &orders, now).await?;
    // The ledger queues its reasons in `store_books`, the push its own after it; each (event,
    // reason) is one row, so an event both flagged and over-redeemed keeps both.
    store_books(conn, &recomputed, now).await?;
    let review: Vec<(&SignedEvent, ReviewReason)> = plan
        .review
        .iter()
        .map(|&(idx, reason)| (&events[idx], reason))
        .collect();
    insert_review_items(conn, &review, now).await?;
    let door_review = close_orders(conn, &orders, now).await?;
    if let Some(tip) = plan.tip {
        sqlx::query("UPDATE devices SET chain_seq = $1, chain_hash = $2 WHERE id = $3")
            .bind(tip.device_seq as i64)
            .bind(tip.hash.to_vec())
            .bind(device.id.0 as i64)
            .execute(&mut *conn)
            .await?;
    }
    let moved: Vec<MovedBook<'_>> = recomputed
        .iter()
        .map(|book| MovedBook {
            book_id: book.book_id,
            seq: book.seq as u64,
            ledger: &book.ledger,
        })
        .collect();
    Ok(closing::conflicts(
        plan.settle(events, &moved),
        &door_review,
    ))
}

/// Records an operator's resolution of a review item as an event and recomputes its book; the
/// book's new status row, or none for an item about no book (a refused scan of a code that
/// named none), which the decision only closes.
pub(super) async fn resolve(
    conn: &mut AnyConnection,
    target: EventId,
    resolution_id: EventId,
    action: ResolutionAction,
    operator: UserId,
    note: &str,
    now: i64,
) -> StoreResult<Option<StatusRow>> {
    lock_status_clock(conn).await?;
    // One row per reason, all naming the event's book and, once resolved, its resolution.
    let found: Vec<(Option<i64>, Option<String>)> =
        sqlx::query_as("SELECT book_id, resolution_event_id FROM review_queue WHERE event_id = $1")
            .bind(target.0.to_string())
            .fetch_all(&mut *conn)
            .await?;
    let Some(&(book_id, _)) = found.first() else {
        return Err(StoreError::NotFound);
    };
    if found.iter().any(|(_, resolved_by)| resolved_by.is_some()) {
        return Err(StoreError::Conflict(ConflictKind::AlreadyResolved));
    }
    if let Some(book_id) = book_id {
        let book_known: Option<i64> = sqlx::query_scalar("SELECT id FROM books WHERE id = $1")
            .bind(book_id)
            .fetch_optional(&mut *conn)
            .await?;
        if book_known.is_none() {
            tracing::warn!(
                book_id,
                event = %target,
                "review item of a book unknown to this server: restore the book before resolving it"
            );
            return Err(StoreError::Conflict(ConflictKind::UnknownBook));
        }
    }
    sqlx::query(
        "INSERT INTO resolutions (event_id, target_event_id, book_id, action, operator_id, note, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(resolution_id.0.to_string())
    .bind(target.0.to_string())
    .bind(book_id)
    .bind(action_text(action))
    .bind(operator.0 as i64)
    .bind(note)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE review_queue SET resolution_event_id = $1 WHERE event_id = $2")
        .bind(resolution_id.0.to_string())
        .bind(target.0.to_string())
        .execute(&mut *conn)
        .await?;
    let Some(book_id) = book_id else {
        return Ok(None);
    };
    let book_id = BookId(book_id as u64);
    recompute_books(conn, &[book_id], now).await?;
    status_row(conn, book_id).await.map(Some)
}

/// Whether the stored event `id` is a delivery.
pub(super) async fn is_delivery(conn: &mut AnyConnection, id: EventId) -> StoreResult<bool> {
    let kind: Option<String> = sqlx::query_scalar("SELECT kind FROM events WHERE event_id = $1")
        .bind(id.0.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(kind.as_deref() == Some("delivery"))
}

async fn status_row(conn: &mut AnyConnection, book_id: BookId) -> StoreResult<StatusRow> {
    let found = sqlx::query(
        "SELECT id, used_units, state, status_seq, last_used_at FROM books WHERE id = $1",
    )
    .bind(book_id.0 as i64)
    .fetch_one(conn)
    .await?;
    rows::status_row(&found)
}

/// Review items, oldest first, one per event with all its reasons; `open_only` leaves out
/// resolved ones.
///
/// An item whose stored rows do not decode (e.g. a number stored wrapped by an older server) is
/// logged and left out, so one damaged row cannot take the whole queue down.
pub(super) async fn review_items(
    conn: &mut AnyConnection,
    open_only: bool,
) -> StoreResult<Vec<ReviewItem>> {
    let found = sqlx::query(
        "SELECT q.event_id, q.reason, q.book_id, q.created_at, q.resolution_event_id, \
         e.device_id, e.device_seq, e.scanned_at, e.signed, r.action \
         FROM review_queue q JOIN events e ON e.event_id = q.event_id \
         LEFT JOIN resolutions r ON r.event_id = q.resolution_event_id \
         WHERE ($1 = 0 OR q.resolution_event_id IS NULL) ORDER BY q.event_id, q.reason",
    )
    .bind(i64::from(open_only))
    .fetch_all(conn)
    .await?;
    let mut items = Vec::new();
    for group in found.chunk_by(same_event) {
        match rows::review_item(group) {
            Ok(item) => items.push(item),
            Err(err) => {
                let event_id = group
                    .first()
                    .and_then(|row| row.try_get::<String, _>("event_id").ok());
                tracing::error!(?event_id, %err, "review item left out: its rows do not decode");
            }
        }
    }
    items.sort_by_key(|item| (item.created_at, item.event_id));
    Ok(items)
}

/// Whether two review rows are about the same event.
fn same_event(a: &AnyRow, b: &AnyRow) -> bool {
    let id = |row: &AnyRow| row.try_get::<String, _>("event_id").ok();
    id(a) == id(b)
}

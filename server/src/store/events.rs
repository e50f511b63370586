//! Device events in SQL: ingesting a pushed batch (chain, signature, idempotency) in a few
//! statements, the review queue and operator resolutions. Every function runs inside the
//! caller's write transaction; ledgers are recomputed by `ledger.rs`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use ed25519_dalek::VerifyingKey;
use shuipiao_shared::event::{ChainTip, EventBody, GENESIS_HASH, SignedEvent};
use shuipiao_shared::ids::{BookId, DeviceId, EventId, UserId};
use shuipiao_shared::ledger::ResolutionAction;
use shuipiao_shared::status::StatusRow;
use shuipiao_shared::sync::{PushRejection, PushResult, PushVerdict};
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use tokio::sync::Semaphore;

use crate::store::batch::{params, rows_per_statement, value_rows};
use crate::store::ledger::{Recomputed, compute_books, recompute_books, store_books};
use crate::store::models::{Device, ReviewItem};
use crate::store::reports::FigureColumns;
use crate::store::sql::lock_status_clock;
use crate::store::{ConflictKind, StoreError, StoreResult, rows};

fn body_kind(body: &EventBody) -> &'static str {
    match body {
        EventBody::Redemption { .. } => "redemption",
        EventBody::Void { .. } => "void",
        EventBody::ScanAttempt { .. } => "scan_attempt",
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

/// Ids of the books among `events` that exist.
async fn existing_books(
    conn: &mut AnyConnection,
    events: &[SignedEvent],
) -> StoreResult<BTreeSet<BookId>> {
    let named: BTreeSet<BookId> = events
        .iter()
        .filter_map(|e| e.event.body.book_id())
        .collect();
    let named: Vec<BookId> = named.into_iter().collect();
    let mut existing = BTreeSet::new();
    for chunk in named.chunks(rows_per_statement(conn, 1)) {
        let sql = format!(
            "SELECT id FROM books WHERE id IN ({})",
            params(1, chunk.len())
        );
        let query = chunk.iter().fold(
            sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)),
            |query, id| query.bind(id.0 as i64),
        );
        existing.extend(
            query
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .map(|id| BookId(id as u64)),
        );
    }
    Ok(existing)
}

/// Already stored events among `events`, by id: their signed bytes and status sequence.
async fn stored_events(
    conn: &mut AnyConnection,
    events: &[SignedEvent],
) -> StoreResult<HashMap<EventId, (Vec<u8>, Option<i64>)>> {
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
            stored.insert(
                rows::parse_event_id(&event_id)?,
                (row.try_get("signed")?, row.try_get("server_seq")?),
            );
        }
    }
    Ok(stored)
}

/// Whether `target` is a stored redemption of `book` by `device`.
async fn is_own_redemption(
    conn: &mut AnyConnection,
    device: DeviceId,
    book: BookId,
    target: EventId,
) -> StoreResult<bool> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT event_id FROM events WHERE event_id = $1 AND device_id = $2 AND book_id = $3 AND kind = 'redemption'",
    )
    .bind(target.0.to_string())
    .bind(device.0 as i64)
    .bind(book.0 as i64)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// Inserts accepted events; those that moved a book carry its new status sequence number.
async fn insert_events(
    conn: &mut AnyConnection,
    events: &[&SignedEvent],
    seq_of_book: &HashMap<BookId, i64>,
    now: i64,
) -> StoreResult<()> {
    for chunk in events.chunks(rows_per_statement(conn, 13)) {
        let sql = format!(
            "INSERT INTO events (event_id, device_id, device_seq, kind, book_id, scanned_at, signed, received_at, server_seq, \
             units, product_code, refusal, void_target) VALUES {}",
            value_rows(chunk.len(), 13)
        );
        let query = chunk
            .iter()
            .fold(sqlx::query(AssertSqlSafe(sql)), |query, event| {
                let figures = FigureColumns::of(&event.event.body);
                query
                    .bind(event.event.event_id.0.to_string())
                    .bind(event.event.device_id.0 as i64)
                    .bind(event.event.device_seq as i64)
                    .bind(body_kind(&event.event.body))
                    .bind(event.event.body.book_id().map(|id| id.0 as i64))
                    .bind(event.event.scanned_at as i64)
                    .bind(event.to_bytes())
                    .bind(now)
                    .bind(moves_book(event).and_then(|book| seq_of_book.get(&book).copied()))
                    .bind(figures.units)
                    .bind(figures.product_code)
                    .bind(figures.refusal)
                    .bind(figures.void_target)
            });
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

fn result(
    event: &SignedEvent,
    verdict: PushVerdict,
    server_seq: Option<u64>,
    rejection: Option<PushRejection>,
) -> PushResult {
    PushResult {
        event_id: event.event.event_id,
        device_seq: event.event.device_seq,
        verdict,
        server_seq,
        rejection,
    }
}

fn rejected(event: &SignedEvent, rejection: PushRejection) -> PushResult {
    result(event, PushVerdict::Rejected, None, Some(rejection))
}

/// Why a stored event needs an operator although its chain link is sound.
#[derive(Debug, Clone, Copy)]
enum Anomaly {
    /// A redemption or void of a book this server never issued (e.g. after restoring an old
    /// backup).
    UnknownBook,
    /// A void of something that is not this device's redemption of that book; the ledger
    /// ignores it.
    InvalidVoid,
    /// The event names a courier other than the one the device was enrolled for.
    ForeignCourier,
}

impl Anomaly {
    fn reason(self) -> &'static str {
        match self {
            Anomaly::UnknownBook => "unknown_book",
            Anomaly::InvalidVoid => "invalid_void",
            Anomaly::ForeignCourier => "foreign_courier",
        }
    }
}

/// The book a redemption or void moves; scan attempts move none.
fn moves_book(event: &SignedEvent) -> Option<BookId> {
    match event.event.body {
        EventBody::Redemption { book_id, .. } | EventBody::Void { book_id, .. } => Some(book_id),
        EventBody::ScanAttempt { .. } => None,
    }
}

fn flagged_redemption(event: &SignedEvent) -> bool {
    matches!(event.event.body, EventBody::Redemption { .. }) && event.event.flags.needs_review()
}

/// One permit per core for checking pushed signatures: a hundred devices pushing at once would
/// otherwise start a blocking thread each and spend the cores switching between them. Clones
/// share the permits.
#[derive(Clone, Debug)]
pub(super) struct SignatureCheckers {
    permits: Arc<Semaphore>,
    cores: usize,
}

impl SignatureCheckers {
    /// As many checkers as the machine has cores.
    pub(super) fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        SignatureCheckers {
            permits: Arc::new(Semaphore::new(cores)),
            cores,
        }
    }
}

/// Checks every event's device signature, spread over the machine's cores, one batch
/// verification per part, each part waiting for one of `checkers`. Runs before the write
/// transaction: signatures are most of a push's CPU time and need no database state, so
/// checking them outside keeps the single SQLite writer (or PostgreSQL's status clock lock) busy
/// only with writing.
pub(super) async fn check_signatures(
    checkers: &SignatureCheckers,
    device: &Device,
    events: &[SignedEvent],
) -> StoreResult<Vec<bool>> {
    let device_key = VerifyingKey::from_bytes(&device.public_key)
        .map_err(|_| rows::corrupt("devices.public_key"))?;
    let chunk = events.len().div_ceil(checkers.cores).max(1);
    let tasks: Vec<_> = events
        .chunks(chunk)
        .map(|part| {
            let part = part.to_vec();
            let permits = Arc::clone(&checkers.permits);
            tokio::spawn(async move {
                let _permit = permits.acquire_owned().await;
                tokio::task::spawn_blocking(move || SignedEvent::verify_all(&part, &device_key))
                    .await
            })
        })
        .collect();
    let mut verified = Vec::with_capacity(events.len());
    for task in tasks {
        let part = task
            .await
            .and_then(|checked| checked)
            .map_err(|err| StoreError::Other(Box::new(err)))?;
        verified.extend(part);
    }
    Ok(verified)
}

/// Stores a pushed batch of one device's events and returns one result per event, in the
/// pushed order. Events are checked in chain order, whatever order they were pushed in;
/// `signature_ok[i]` is [`check_signatures`]' answer for `events[i]`.
pub(super) async fn ingest(
    conn: &mut AnyConnection,
    device: &Device,
    events: &[SignedEvent],
    signature_ok: &[bool],
    now: i64,
) -> StoreResult<Vec<PushResult>> {
    let mut tip = chain_tip_in(conn, device.id).await?;
    let start_seq = tip.device_seq;
    let stored = stored_events(conn, events).await?;
    let known_books = existing_books(conn, events).await?;
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&idx| events[idx].event.device_seq);
    let mut results: Vec<Option<PushResult>> = vec![None; events.len()];
    // Events accepted in this batch, by id: their position, for in-batch duplicates and voids.
    let mut fresh: HashMap<EventId, usize> = HashMap::new();
    let mut chain_broken = false;
    let mut anomalies: Vec<(usize, Anomaly)> = Vec::new();
    for idx in order {
        let event = &events[idx];
        let event_id = event.event.event_id;
        if let Some((stored_bytes, server_seq)) = stored.get(&event_id) {
            results[idx] = Some(if *stored_bytes == event.to_bytes() {
                result(
                    event,
                    PushVerdict::Duplicate,
                    server_seq.map(|s| s as u64),
                    None,
                )
            } else {
                rejected(event, PushRejection::IdReused)
            });
            continue;
        }
        if let Some(&first) = fresh.get(&event_id) {
            results[idx] = Some(if events[first] == *event {
                result(event, PushVerdict::Duplicate, None, None)
            } else {
                rejected(event, PushRejection::IdReused)
            });
            continue;
        }
        if chain_broken {
            results[idx] = Some(rejected(event, PushRejection::AfterRejected));
            continue;
        }
        let next_tip = match tip.link(device.id, event, |_| signature_ok[idx]) {
            Ok(next_tip) => next_tip,
            Err(link) => {
                chain_broken = true;
                results[idx] = Some(rejected(event, PushRejection::Chain { link }));
                continue;
            }
        };
        // A well-signed link is a fact and is always stored, so one odd event never stalls the
        // device's chain; what is odd about it goes to the review queue instead.
        let anomaly = match event.event.body {
            _ if event.event.courier_id != device.user_id => Some(Anomaly::ForeignCourier),
            EventBody::Redemption { book_id, .. } | EventBody::Void { book_id, .. }
                if !known_books.contains(&book_id) =>
            {
                Some(Anomaly::UnknownBook)
            }
            EventBody::Void { book_id, target } => {
                let in_batch = fresh.get(&target).is_some_and(|&pos| {
                    matches!(events[pos].event.body, EventBody::Redemption { book_id: b, .. } if b == book_id)
                });
                (!in_batch && !is_own_redemption(conn, device.id, book_id, target).await?)
                    .then_some(Anomaly::InvalidVoid)
            }
            EventBody::Redemption { .. } | EventBody::ScanAttempt { .. } => None,
        };
        tip = next_tip;
        fresh.insert(event_id, idx);
        let verdict = if anomaly.is_some() || flagged_redemption(event) {
            PushVerdict::Conflict
        } else {
            PushVerdict::Accepted
        };
        if let Some(anomaly) = anomaly {
            anomalies.push((idx, anomaly));
        }
        results[idx] = Some(result(event, verdict, None, None));
    }
    let mut accepted: Vec<usize> = fresh.values().copied().collect();
    accepted.sort_by_key(|&idx| events[idx].event.device_seq);
    let to_insert: Vec<&SignedEvent> = accepted.iter().map(|&idx| &events[idx]).collect();
    // Ledger changes: only redemptions and voids of known books move a book. The new ledgers
    // are computed before the events are stored, so each event is written once, with its
    // book's status sequence number.
    let moving: Vec<&SignedEvent> = to_insert
        .iter()
        .copied()
        .filter(|event| moves_book(event).is_some_and(|book| known_books.contains(&book)))
        .collect();
    let books: Vec<BookId> = moving
        .iter()
        .filter_map(|event| moves_book(event))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let recomputed = compute_books(conn, &books, &moving).await?;
    let seq_of_book: HashMap<BookId, i64> = recomputed
        .iter()
        .map(|book| (book.book_id, book.seq))
        .collect();
    insert_events(conn, &to_insert, &seq_of_book, now).await?;
    store_books(conn, &recomputed, now).await?;
    let flagged = to_insert
        .iter()
        .filter(|e| flagged_redemption(e))
        .map(|e| (*e, "flagged"));
    let odd = anomalies
        .iter()
        .map(|&(idx, anomaly)| (&events[idx], anomaly.reason()));
    for (event, reason) in flagged.chain(odd) {
        sqlx::query(
            "INSERT INTO review_queue (event_id, book_id, reason, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(event.event.event_id.0.to_string())
        .bind(event.event.body.book_id().map(|id| id.0 as i64))
        .bind(reason)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    if tip.device_seq != start_seq {
        sqlx::query("UPDATE devices SET chain_seq = $1, chain_hash = $2 WHERE id = $3")
            .bind(tip.device_seq as i64)
            .bind(tip.hash.to_vec())
            .bind(device.id.0 as i64)
            .execute(&mut *conn)
            .await?;
    }
    let mut results: Vec<PushResult> = results
        .into_iter()
        .map(|r| r.ok_or_else(|| rows::corrupt("unanswered event")))
        .collect::<StoreResult<_>>()?;
    let ledger_of: HashMap<BookId, &Recomputed> =
        recomputed.iter().map(|book| (book.book_id, book)).collect();
    for &idx in &accepted {
        let Some(book) = moves_book(&events[idx]).and_then(|book| ledger_of.get(&book)) else {
            continue;
        };
        let event_id = results[idx].event_id;
        if book
            .ledger
            .redemptions
            .iter()
            .any(|r| r.event_id == event_id && r.needs_review())
        {
            results[idx].verdict = PushVerdict::Conflict;
        }
        results[idx].server_seq = Some(book.seq as u64);
    }
    // In-batch duplicates answer with their first copy's sequence.
    for idx in 0..results.len() {
        if results[idx].verdict == PushVerdict::Duplicate
            && results[idx].server_seq.is_none()
            && let Some(&first) = fresh.get(&results[idx].event_id)
        {
            results[idx].server_seq = results[first].server_seq;
        }
    }
    Ok(results)
}

/// Records an operator's resolution of a review item as an event and recomputes the book.
pub(super) async fn resolve(
    conn: &mut AnyConnection,
    target: EventId,
    resolution_id: EventId,
    action: ResolutionAction,
    operator: UserId,
    note: &str,
    now: i64,
) -> StoreResult<StatusRow> {
    lock_status_clock(conn).await?;
    let found: Option<(i64, Option<String>)> =
        sqlx::query_as("SELECT book_id, resolution_event_id FROM review_queue WHERE event_id = $1")
            .bind(target.0.to_string())
            .fetch_optional(&mut *conn)
            .await?;
    let Some((book_id, resolved_by)) = found else {
        return Err(StoreError::NotFound);
    };
    if resolved_by.is_some() {
        return Err(StoreError::Conflict(ConflictKind::AlreadyResolved));
    }
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
    let book_id = BookId(book_id as u64);
    recompute_books(conn, &[book_id], now).await?;
    status_row(conn, book_id).await
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

/// Review items, oldest first; `open_only` leaves out resolved ones.
pub(super) async fn review_items(
    conn: &mut AnyConnection,
    open_only: bool,
) -> StoreResult<Vec<ReviewItem>> {
    let found = sqlx::query(
        "SELECT q.event_id, q.book_id, q.reason, q.created_at, q.resolution_event_id, \
         e.device_id, e.device_seq, e.scanned_at, r.action \
         FROM review_queue q JOIN events e ON e.event_id = q.event_id \
         LEFT JOIN resolutions r ON r.event_id = q.resolution_event_id \
         WHERE ($1 = 0 OR q.resolution_event_id IS NULL) ORDER BY q.created_at, q.event_id",
    )
    .bind(i64::from(open_only))
    .fetch_all(conn)
    .await?;
    found.iter().map(rows::review_item).collect()
}

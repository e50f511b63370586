//! Device events in SQL: ingesting a pushed batch (chain, signature, idempotency) in a few
//! statements, the review queue and operator resolutions. Every function runs inside the
//! caller's write transaction; ledgers are recomputed by `ledger.rs`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use ed25519_dalek::VerifyingKey;
use shuipiao_shared::event::{ChainTip, EventBody, GENESIS_HASH, SignedEvent};
use shuipiao_shared::ids::{BookId, DeviceId, EventId, ScopeId, UserId};
use shuipiao_shared::ledger::ResolutionAction;
use shuipiao_shared::status::StatusRow;
use shuipiao_shared::sync::{EventField, PushRejection, PushResult, PushVerdict};
use shuipiao_shared::verdict::UseTerms;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use tokio::sync::Semaphore;

use crate::store::batch::{params, rows_per_statement, value_rows};
use crate::store::ledger::{Recomputed, compute_books, recompute_books, store_books};
use crate::store::models::{Device, ReviewItem, ReviewReason};
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

/// The terms of the books among `events` that exist, by id: one statement per chunk of ids.
async fn book_terms(
    conn: &mut AnyConnection,
    events: &[SignedEvent],
) -> StoreResult<HashMap<BookId, UseTerms>> {
    let named: BTreeSet<i64> = events
        .iter()
        .filter_map(|e| stored_book_id(&e.event.body))
        .collect();
    let named: Vec<i64> = named.into_iter().collect();
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

/// The voids among `events` whose target is a stored redemption of the same book by `device`,
/// by void id: one statement per chunk of targets.
async fn voids_of_own_redemptions(
    conn: &mut AnyConnection,
    device: DeviceId,
    events: &[SignedEvent],
) -> StoreResult<HashSet<EventId>> {
    let voids: Vec<(EventId, BookId, EventId)> = events
        .iter()
        .filter_map(|e| match e.event.body {
            EventBody::Void { book_id, target } => Some((e.event.event_id, book_id, target)),
            _ => None,
        })
        .collect();
    let mut own: HashMap<EventId, Option<i64>> = HashMap::new();
    for chunk in voids.chunks(rows_per_statement(conn, 1).saturating_sub(1).max(1)) {
        let sql = format!(
            "SELECT event_id, book_id FROM events WHERE device_id = $1 AND kind = 'redemption' \
             AND event_id IN ({})",
            params(2, chunk.len())
        );
        let query = chunk.iter().fold(
            sqlx::query(AssertSqlSafe(sql)).bind(device.0 as i64),
            |query, (_, _, target)| query.bind(target.0.to_string()),
        );
        for row in query.fetch_all(&mut *conn).await? {
            let event_id: String = row.try_get("event_id")?;
            own.insert(rows::parse_event_id(&event_id)?, row.try_get("book_id")?);
        }
    }
    Ok(voids
        .into_iter()
        .filter(|(_, book, target)| {
            own.get(target)
                .is_some_and(|stored| *stored == i64::try_from(book.0).ok())
        })
        .map(|(void, _, _)| void)
        .collect())
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
                    .bind(stored_book_id(&event.event.body))
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

/// The largest number the store holds: every integer column is a signed 64-bit integer.
const STORABLE: u64 = i64::MAX as u64;

/// The first number of `event` that no column can hold, if any. No honest device writes one:
/// sequence numbers count events, scan times are clock readings and a redemption or void names
/// a book the device verified, so such an event is refused. A refused scan's book id is not
/// checked: it is whatever a code shown to the device said (a forged code may name any id), so
/// it is stored, without its `book_id` column (see [`stored_book_id`]).
fn out_of_range(event: &SignedEvent) -> Option<EventField> {
    let e = &event.event;
    if e.device_seq > STORABLE {
        return Some(EventField::DeviceSeq);
    }
    if e.scanned_at > STORABLE {
        return Some(EventField::ScannedAt);
    }
    match e.body {
        EventBody::Redemption { book_id, .. } | EventBody::Void { book_id, .. }
            if book_id.0 > STORABLE =>
        {
            Some(EventField::BookId)
        }
        _ => None,
    }
}

/// The `book_id` column of an event: none for a scan attempt whose code named an id past what
/// the column holds (no such book exists; the signed record keeps the id).
fn stored_book_id(body: &EventBody) -> Option<i64> {
    body.book_id().and_then(|id| i64::try_from(id.0).ok())
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

/// Everything that needs an operator's eye about a pushed event whose link is sound: a device
/// flag, a courier other than the device's, a book this server does not know, a redemption
/// outside its book's terms (by the door's own rules, [`UseTerms::breaches`]), or a void of
/// something but this device's redemption of that book (`own_redemption(target, book)` says
/// whether it is one). In [`ReviewReason`] order; empty for an ordinary event.
fn review_reasons(
    event: &SignedEvent,
    device: &Device,
    served: &[ScopeId],
    terms: &HashMap<BookId, UseTerms>,
    own_redemption: impl FnOnce(EventId, BookId) -> bool,
) -> Vec<ReviewReason> {
    let e = &event.event;
    let mut reasons = Vec::new();
    if e.courier_id != device.user_id {
        reasons.push(ReviewReason::ForeignCourier);
    }
    match e.body {
        EventBody::Redemption {
            book_id, product, ..
        } => match terms.get(&book_id) {
            Some(terms) => reasons.extend(
                terms
                    .breaches(e.scanned_at, served, product)
                    .filter_map(ReviewReason::outside_terms),
            ),
            None => reasons.push(ReviewReason::UnknownBook),
        },
        EventBody::Void { book_id, .. } if !terms.contains_key(&book_id) => {
            reasons.push(ReviewReason::UnknownBook);
        }
        EventBody::Void { book_id, target } => {
            if !own_redemption(target, book_id) {
                reasons.push(ReviewReason::InvalidVoid);
            }
        }
        EventBody::ScanAttempt { .. } => {}
    }
    if flagged_redemption(event) {
        reasons.push(ReviewReason::Flagged);
    }
    reasons.sort();
    reasons
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
/// `signature_ok[i]` is [`check_signatures`]' answer for `events[i]`. `served` are the scopes
/// the device's user serves, which its redemptions are checked against with the door's rules.
pub(super) async fn ingest(
    conn: &mut AnyConnection,
    device: &Device,
    events: &[SignedEvent],
    signature_ok: &[bool],
    served: &[ScopeId],
    now: i64,
) -> StoreResult<Vec<PushResult>> {
    let mut tip = chain_tip_in(conn, device.id).await?;
    let start_seq = tip.device_seq;
    let stored = stored_events(conn, events).await?;
    let terms = book_terms(conn, events).await?;
    let own_voids = voids_of_own_redemptions(conn, device.id, events).await?;
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&idx| events[idx].event.device_seq);
    let mut results: Vec<Option<PushResult>> = vec![None; events.len()];
    // Events accepted in this batch, by id: their position, for in-batch duplicates and voids.
    let mut fresh: HashMap<EventId, usize> = HashMap::new();
    let mut chain_broken = false;
    let mut review: Vec<(usize, ReviewReason)> = Vec::new();
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
        if let Some(field) = out_of_range(event) {
            chain_broken = true;
            results[idx] = Some(rejected(event, PushRejection::OutOfRange { field }));
            continue;
        }
        // A well-signed link is a fact and is always stored, so one odd event never stalls the
        // device's chain; everything odd about it goes to the review queue instead.
        let reasons = review_reasons(event, device, served, &terms, |target, book| {
            own_voids.contains(&event_id)
                || fresh.get(&target).is_some_and(|&pos| {
                    matches!(events[pos].event.body,
                        EventBody::Redemption { book_id, .. } if book_id == book)
                })
        });
        tip = next_tip;
        fresh.insert(event_id, idx);
        let verdict = if reasons.is_empty() {
            PushVerdict::Accepted
        } else {
            PushVerdict::Conflict
        };
        review.extend(reasons.into_iter().map(|reason| (idx, reason)));
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
        .filter(|event| moves_book(event).is_some_and(|book| terms.contains_key(&book)))
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
    // The ledger queues its reasons in `store_books`, the push its own after it; each (event,
    // reason) is one row, so an event both flagged and over-redeemed keeps both.
    store_books(conn, &recomputed, now).await?;
    let review: Vec<(&SignedEvent, ReviewReason)> = review
        .into_iter()
        .map(|(idx, reason)| (&events[idx], reason))
        .collect();
    insert_review_items(conn, &review, now).await?;
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

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use shuipiao_shared::event::{Event, EventFlags};
    use shuipiao_shared::ids::ProductCode;

    use super::*;

    fn event(device_seq: u64, scanned_at: u64, body: EventBody) -> SignedEvent {
        Event {
            event_id: EventId::v7(1_000, [1; 10]),
            device_id: DeviceId(1),
            device_seq,
            prev_hash: GENESIS_HASH,
            scanned_at,
            courier_id: UserId(1),
            flags: EventFlags::default(),
            body,
        }
        .sign(&SigningKey::from_bytes(&[1; 32]))
    }

    #[test]
    fn numbers_past_a_signed_64_bit_integer_are_named() {
        let redemption = |id| EventBody::Redemption {
            book_id: BookId(id),
            units: 1,
            product: ProductCode(189),
        };
        let scan = |id| EventBody::ScanAttempt {
            book_id: Some(BookId(id)),
            refusal: shuipiao_shared::event::Refusal::AlreadyUsed,
        };
        let max = i64::MAX as u64;
        assert_eq!(out_of_range(&event(max, max, redemption(max))), None);
        assert_eq!(
            out_of_range(&event(max + 1, 1, redemption(1))),
            Some(EventField::DeviceSeq)
        );
        assert_eq!(
            out_of_range(&event(1, max + 1, redemption(1))),
            Some(EventField::ScannedAt)
        );
        assert_eq!(
            out_of_range(&event(1, 1, redemption(max + 1))),
            Some(EventField::BookId)
        );
        let forged = event(1, 1, scan(u64::MAX));
        assert_eq!(out_of_range(&forged), None, "a refused scan names any id");
        assert_eq!(stored_book_id(&forged.event.body), None);
        assert_eq!(stored_book_id(&scan(max)), Some(i64::MAX));
    }
}

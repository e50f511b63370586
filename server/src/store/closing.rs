//! Closing orders of water from the couriers' delivery events, inside the push's transaction
//! (docs/deliveries.md, "Closing an order at the door"): for every order a pushed delivery
//! names, load the order and all its stored delivery events, settle them with the pure
//! `ordering::closing::settle`, replace the order's open review items of the door's reasons,
//! and apply a change of state once: the order row, a `withdrawn` feed row for a courier whose
//! phone still holds it, an audit entry and the customer's message (deduplicated per order).

use std::collections::{BTreeSet, HashSet};

use serde_json::json;
use shuipiao_shared::event::{EventBody, SignedEvent};
use shuipiao_shared::ids::{BookId, DeviceId, EventId, UserId};
use shuipiao_shared::sync::{PushResult, PushVerdict};
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use crate::notify;
use crate::ordering::closing::{self, Closing, DoorEvent, NamedRedemption, OrderFacts};
use crate::store::batch::{params, rows_per_statement, value_rows};
use crate::store::delivery_orders::{
    DeliveryOrder, FeedChange, ORDER_COLUMNS, OrderState, append_feed, lock_dispatch_clock, order,
};
use crate::store::dispatch::tell_customer;
use crate::store::models::{AuditEntry, MessageKind, ReviewReason};
use crate::store::tx::insert_audit;
use crate::store::{StoreResult, rows};

/// Settles every order in `named` (those the delivery events a push just stored name), and
/// returns the pushed events the door sent to review, so the push answers them `conflict`.
pub(super) async fn close_orders(
    conn: &mut AnyConnection,
    named: &BTreeSet<i64>,
    now: i64,
) -> StoreResult<HashSet<EventId>> {
    let mut reviewed = HashSet::new();
    if named.is_empty() {
        return Ok(reviewed);
    }
    // Taken before any order is read, as every dispatch write does, so a cancellation or a
    // second push naming the same order waits and then reads what this one wrote.
    lock_dispatch_clock(conn).await?;
    for &order_id in named {
        let stored = fetch_order(conn, order_id).await?;
        let events = door_events(conn, order_id).await?;
        let facts = stored.as_ref().map(|order| OrderFacts {
            state: order.state,
            courier: order.courier_id,
            payment: order.payment,
            created_at: order.created_at,
        });
        let closing = closing::settle(facts.as_ref(), &events);
        replace_review_items(conn, order_id, &closing.review, now).await?;
        reviewed.extend(closing.review.iter().map(|(event, _)| *event));
        if let Some(order) = stored {
            apply(conn, &order, &closing, now).await?;
        }
    }
    Ok(reviewed)
}

/// `results` with every stored event of `reviewed` answered `conflict`.
pub(super) fn conflicts(
    mut results: Vec<PushResult>,
    reviewed: &HashSet<EventId>,
) -> Vec<PushResult> {
    for result in &mut results {
        if result.verdict == PushVerdict::Accepted && reviewed.contains(&result.event_id) {
            result.verdict = PushVerdict::Conflict;
        }
    }
    results
}

/// The order `id`, if this server holds it.
async fn fetch_order(conn: &mut AnyConnection, id: i64) -> StoreResult<Option<DeliveryOrder>> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM delivery_orders WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(order)
    .transpose()
}

/// Every stored delivery event naming `order_id`, with its device's courier and the
/// redemption a tickets delivery names, if stored.
async fn door_events(conn: &mut AnyConnection, order_id: i64) -> StoreResult<Vec<DoorEvent>> {
    let found = sqlx::query(
        "SELECT e.signed, e.received_at, d.user_id FROM events e \
         JOIN devices d ON d.id = e.device_id WHERE e.kind = 'delivery' AND e.order_id = $1",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut events = Vec::with_capacity(found.len());
    for row in &found {
        let signed: Vec<u8> = row.try_get("signed")?;
        let event = SignedEvent::from_bytes(&signed)
            .map_err(|_| rows::corrupt("events.signed"))?
            .event;
        let EventBody::Delivery {
            outcome, empties, ..
        } = event.body
        else {
            return Err(rows::corrupt("events.kind"));
        };
        events.push(DoorEvent {
            event_id: event.event_id,
            device_id: event.device_id,
            device_seq: event.device_seq,
            scanned_at: event.scanned_at,
            received_at: row.try_get("received_at")?,
            courier: UserId(row.try_get::<i64, _>("user_id")? as u64),
            outcome,
            empties,
            redemption: None,
        });
    }
    let targets: Vec<EventId> = events
        .iter()
        .filter_map(|event| event.outcome.redemption())
        .collect();
    for chunk in targets.chunks(rows_per_statement(conn, 1)) {
        let sql = format!(
            "SELECT event_id, device_id, book_id, units FROM events \
             WHERE kind = 'redemption' AND event_id IN ({})",
            params(1, chunk.len())
        );
        let query = chunk
            .iter()
            .fold(sqlx::query(AssertSqlSafe(sql)), |query, id| {
                query.bind(id.0.to_string())
            });
        for row in query.fetch_all(&mut *conn).await? {
            let id = rows::parse_event_id(&row.try_get::<String, _>("event_id")?)?;
            let named = NamedRedemption {
                device_id: DeviceId(row.try_get::<i64, _>("device_id")? as u64),
                book_id: BookId(row.try_get::<i64, _>("book_id")? as u64),
                units: u16::try_from(row.try_get::<i64, _>("units")?)
                    .map_err(|_| rows::corrupt("events.units"))?,
            };
            for event in events
                .iter_mut()
                .filter(|event| event.outcome.redemption() == Some(id))
            {
                event.redemption = Some(named);
            }
        }
    }
    Ok(events)
}

/// Replaces the open items of the door's reasons about `order_id`'s events with `review`, as
/// a book's ledger replaces its own: an event that arrived later may move `delivered_twice`.
async fn replace_review_items(
    conn: &mut AnyConnection,
    order_id: i64,
    review: &[(EventId, ReviewReason)],
    now: i64,
) -> StoreResult<()> {
    let sql = format!(
        "DELETE FROM review_queue WHERE resolution_event_id IS NULL AND reason IN ({}) \
         AND event_id IN (SELECT event_id FROM events WHERE kind = 'delivery' AND order_id = $1)",
        params(2, closing::REASONS.len())
    );
    closing::REASONS
        .iter()
        .fold(
            sqlx::query(AssertSqlSafe(sql)).bind(order_id),
            |query, reason| query.bind(reason.as_str()),
        )
        .execute(&mut *conn)
        .await?;
    for chunk in review.chunks(rows_per_statement(conn, 3)) {
        let sql = format!(
            "INSERT INTO review_queue (event_id, reason, created_at) VALUES {} \
             ON CONFLICT (event_id, reason) DO NOTHING",
            value_rows(chunk.len(), 3)
        );
        chunk
            .iter()
            .fold(sqlx::query(AssertSqlSafe(sql)), |query, (event, reason)| {
                query
                    .bind(event.0.to_string())
                    .bind(reason.as_str())
                    .bind(now)
            })
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Writes what `closing` changes about `order`. A change of state (open to delivered or
/// failed, failed to delivered) happens once, so its feed row, audit entry and message are
/// written once; a closing event moved earlier by a later arrival only moves `closed_at`.
async fn apply(
    conn: &mut AnyConnection,
    order: &DeliveryOrder,
    closing: &Closing,
    now: i64,
) -> StoreResult<()> {
    let (Some(state), Some(event)) = (closing.state, closing.closing) else {
        return Ok(());
    };
    let failure_reason = closing.failure_reason;
    if state == order.state
        && closing.closed_at() == order.closed_at
        && failure_reason == order.failure_reason.as_deref()
    {
        return Ok(());
    }
    sqlx::query(
        "UPDATE delivery_orders SET state = $1, closed_at = $2, failure_reason = $3 WHERE id = $4",
    )
    .bind(state.as_str())
    .bind(closing.closed_at())
    .bind(failure_reason)
    .bind(order.id)
    .execute(&mut *conn)
    .await?;
    if state == order.state {
        return Ok(());
    }
    if let Some(holder) = order.courier_id.filter(|holder| *holder != event.courier) {
        append_feed(conn, holder, order.id, FeedChange::Withdrawn, now).await?;
    }
    let audit = AuditEntry::new(
        Some(event.courier),
        "delivery_order.close",
        format!("order:{}", order.id),
        json!({
            "state": state.as_str(),
            "was": order.state.as_str(),
            "event": event.event_id.0,
            "device": event.device_id.0,
            "via": "sync",
        }),
    );
    insert_audit(conn, &audit, now).await?;
    let (kind, text, dedupe) = if state == OrderState::Delivered {
        (
            MessageKind::OrderDelivered,
            notify::order_delivered_text(order.id, event.outcome.bottles(), event.empties),
            format!("order_delivered:{}", order.id),
        )
    } else {
        (
            MessageKind::OrderFailed,
            notify::order_failed_text(
                order.id,
                &order.slot_date,
                order.slot.label(),
                failure_reason.unwrap_or_default(),
            ),
            format!("order_failed:{}", order.id),
        )
    };
    tell_customer(conn, order, kind, &text, &dedupe, now).await
}

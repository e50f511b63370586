//! Dispatch in SQL (docs/deliveries.md, "Dispatch"): a day's orders, couriers and their loads,
//! and the writes that assign, reassign, cancel and acknowledge orders. Every write (a `Store`
//! method in `deliveries`) takes the dispatch clock's lock first and re-reads what it decides on
//! under it, so two server instances at once never assign an order twice or write a feed row
//! twice; the `dispatch` module checks the rules before and says why in Chinese.

use serde_json::json;
use shuipiao_shared::ids::UserId;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use crate::accounts::Actor;
use crate::dispatch::plan::{self, Courier, DayOrder, Plan};
use crate::notify;
use crate::store::delivery_orders::{
    ADDRESS_COLUMNS, AddressRow, DeliveryOrder, FeedChange, ORDER_COLUMNS, OrderState, address,
    append_feed, fetch_order, order,
};
use crate::store::models::{AuditEntry, MessageKind};
use crate::store::tx::insert_audit;
use crate::store::{ConflictKind, StoreError, StoreResult, outbox, rows};

/// A courier as dispatch lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourierRow {
    /// Their user id.
    pub id: UserId,
    /// Their login name, which the console and the customer's message show.
    pub username: String,
    /// The region they serve.
    pub region_id: i64,
    /// Whether they may no longer sign in (and so get no new orders).
    pub disabled: bool,
}

/// A row of the delivery feed: what a courier's phone must learn, in commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedRow {
    /// The feed sequence (`dispatch_clock`).
    pub seq: i64,
    /// Whose phone.
    pub courier_id: UserId,
    /// Which order.
    pub order_id: i64,
    /// What changed.
    pub change: FeedChange,
}

/// What one run of automatic assignment did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutoAssigned {
    /// The plan applied: orders assigned and orders left without a courier.
    pub plan: Plan,
}

/// The state and courier an order had when the rules were checked; a write refuses with
/// [`ConflictKind::OrderChanged`] if the order no longer has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// The state seen.
    pub state: OrderState,
    /// The courier seen.
    pub courier: Option<UserId>,
}

impl Expected {
    /// What `order` holds now.
    pub fn of(order: &DeliveryOrder) -> Expected {
        Expected {
            state: order.state,
            courier: order.courier_id,
        }
    }
}

/// The orders of `day` (of `region` if given), by id.
async fn day_orders(
    conn: &mut AnyConnection,
    day: &str,
    region: Option<i64>,
) -> StoreResult<Vec<DeliveryOrder>> {
    let in_region = if region.is_some() {
        "AND region_id = $2"
    } else {
        ""
    };
    let query = format!(
        "SELECT {ORDER_COLUMNS} FROM delivery_orders WHERE slot_date = $1 {in_region} ORDER BY id"
    );
    let mut query = sqlx::query(AssertSqlSafe(query)).bind(day);
    if let Some(region) = region {
        query = query.bind(region);
    }
    query.fetch_all(conn).await?.iter().map(order).collect()
}

/// Every courier, enabled or not, by id.
pub(super) async fn couriers(conn: &mut AnyConnection) -> StoreResult<Vec<CourierRow>> {
    sqlx::query(
        "SELECT id, username, region_id, disabled_at FROM users \
         WHERE role = 'courier' AND region_id IS NOT NULL ORDER BY id",
    )
    .fetch_all(conn)
    .await?
    .iter()
    .map(|row| {
        Ok(CourierRow {
            id: UserId(row.try_get::<i64, _>("id")? as u64),
            username: row.try_get("username")?,
            region_id: row.try_get("region_id")?,
            disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
        })
    })
    .collect()
}

/// The enabled courier `id` of `region`, if there is one.
pub(super) async fn enabled_courier(
    conn: &mut AnyConnection,
    id: UserId,
    region: i64,
) -> StoreResult<Option<CourierRow>> {
    Ok(couriers(conn)
        .await?
        .into_iter()
        .find(|c| c.id == id && c.region_id == region && !c.disabled))
}

/// Queues a message of `kind` to the users of the order's account, once per `dedupe` key (per
/// user), in the transaction that made the change it tells.
pub(super) async fn tell_customer(
    conn: &mut AnyConnection,
    order: &DeliveryOrder,
    kind: MessageKind,
    text: &str,
    dedupe: &str,
    now: i64,
) -> StoreResult<()> {
    let messages: Vec<_> = outbox::recipients(conn, order.account_id)
        .await?
        .into_iter()
        .map(|r| notify::to_recipient(r, kind, text, Some(dedupe)))
        .collect();
    outbox::enqueue(conn, &messages, now).await?;
    Ok(())
}

/// Queues the `order_assigned` message, keyed by the feed row so a reassignment is told again
/// and a retried run never twice. An earlier assignment's message still waiting is given up: it
/// would name a courier who no longer comes.
async fn tell_assigned(
    conn: &mut AnyConnection,
    order: &DeliveryOrder,
    courier: &str,
    feed_seq: i64,
    now: i64,
) -> StoreResult<()> {
    withdraw_assigned(conn, order.id, "订单已改派，不再发送", now).await?;
    let text = notify::order_assigned_text(order.id, &order.slot_date, order.slot.label(), courier);
    let dedupe = format!("order_assigned:{}:{feed_seq}", order.id);
    tell_customer(conn, order, MessageKind::OrderAssigned, &text, &dedupe, now).await
}

/// Gives up the order's `order_assigned` messages not yet sent.
async fn withdraw_assigned(
    conn: &mut AnyConnection,
    order: i64,
    why: &str,
    now: i64,
) -> StoreResult<()> {
    outbox::withdraw_pending(conn, &format!("order_assigned:{order}:"), why, now).await?;
    Ok(())
}

/// Gives `order` to `courier` (taking it from its courier, if any, with a `withdrawn` row
/// first), appends the `assigned` feed row and tells the customer. Refuses with
/// [`ConflictKind::OrderChanged`] unless the order is still as `expected`.
pub(super) async fn give(
    conn: &mut AnyConnection,
    order: &DeliveryOrder,
    expected: Expected,
    courier: &CourierRow,
    now: i64,
) -> StoreResult<DeliveryOrder> {
    if Expected::of(order) != expected || !order.state.is_open() {
        return Err(StoreError::Conflict(ConflictKind::OrderChanged));
    }
    sqlx::query(
        "UPDATE delivery_orders SET state = 'assigned', courier_id = $1, assigned_at = $2 \
         WHERE id = $3",
    )
    .bind(courier.id.0 as i64)
    .bind(now)
    .bind(order.id)
    .execute(&mut *conn)
    .await?;
    if let Some(previous) = order.courier_id {
        append_feed(conn, previous, order.id, FeedChange::Withdrawn, now).await?;
    }
    let seq = append_feed(conn, courier.id, order.id, FeedChange::Assigned, now).await?;
    tell_assigned(conn, order, &courier.username, seq, now).await?;
    fetch_order(conn, order.id).await
}

/// The orders of `day` (of `region` if given), by id, with the addresses they name.
pub(super) async fn day_with_addresses(
    conn: &mut AnyConnection,
    day: &str,
    region: Option<i64>,
) -> StoreResult<Vec<(DeliveryOrder, AddressRow)>> {
    let orders = day_orders(conn, day, region).await?;
    let addresses: Vec<AddressRow> = sqlx::query(AssertSqlSafe(format!(
        "SELECT {ADDRESS_COLUMNS} FROM addresses WHERE id IN \
         (SELECT address_id FROM delivery_orders WHERE slot_date = $1)"
    )))
    .bind(day)
    .fetch_all(conn)
    .await?
    .iter()
    .map(address)
    .collect::<StoreResult<_>>()?;
    orders
        .into_iter()
        .map(|order| {
            let address = addresses
                .iter()
                .find(|a| a.id == order.address_id)
                .cloned()
                .ok_or(StoreError::NotFound)?;
            Ok((order, address))
        })
        .collect()
}

/// The feed rows of `courier` after `cursor`, in feed order, at most `limit`.
pub(super) async fn feed_after(
    conn: &mut AnyConnection,
    courier: UserId,
    cursor: i64,
    limit: u32,
) -> StoreResult<Vec<FeedRow>> {
    sqlx::query(
        "SELECT seq, courier_id, order_id, change FROM delivery_feed \
         WHERE courier_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(courier.0 as i64)
    .bind(cursor)
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?
    .iter()
    .map(|row| {
        let change: String = row.try_get("change")?;
        Ok(FeedRow {
            seq: row.try_get("seq")?,
            courier_id: UserId(row.try_get::<i64, _>("courier_id")? as u64),
            order_id: row.try_get("order_id")?,
            change: FeedChange::parse(&change)
                .ok_or_else(|| rows::corrupt("delivery_feed.change"))?,
        })
    })
    .collect()
}

/// Reads `day`'s orders (of `region` if given) and the enabled couriers, applies
/// `dispatch::plan`, writes each assignment with its feed row and message, and one audit entry
/// for `actor` naming what was assigned and what was left. Run it under the dispatch
/// clock's lock.
pub(super) async fn assign_planned(
    conn: &mut AnyConnection,
    day: &str,
    region: Option<i64>,
    actor: Actor,
    now: i64,
) -> StoreResult<Plan> {
    let orders = day_orders(conn, day, region).await?;
    let couriers: Vec<CourierRow> = couriers(conn)
        .await?
        .into_iter()
        .filter(|c| !c.disabled && region.is_none_or(|region| c.region_id == region))
        .collect();
    let facts: Vec<DayOrder> = orders.iter().map(DayOrder::from).collect();
    let available: Vec<Courier> = couriers.iter().map(Courier::from).collect();
    let plan = plan::plan(&facts, &available);
    for (order_id, courier_id) in &plan.assignments {
        let order = orders
            .iter()
            .find(|o| o.id == *order_id)
            .expect("the plan assigns only orders it was given");
        let courier = couriers
            .iter()
            .find(|c| c.id == *courier_id)
            .expect("the plan assigns only couriers it was given");
        give(conn, order, Expected::of(order), courier, now).await?;
    }
    let assigned: Vec<[u64; 2]> = plan
        .assignments
        .iter()
        .map(|(order, courier)| [*order as u64, courier.0])
        .collect();
    let audit = AuditEntry::new(
        actor.user,
        "dispatch.auto",
        format!("day:{day}"),
        json!({
            "region_id": region,
            "assigned": assigned,
            "unassignable": plan.unassignable,
            "via": actor.via,
        }),
    );
    insert_audit(conn, &audit, now).await?;
    Ok(plan)
}

/// Cancels `order` for `reason` if it is still open and as `expected`, with a `withdrawn` row
/// for its courier, if any, and tells the customer; [`ConflictKind::OrderChanged`] otherwise. Run it under the dispatch
/// clock's lock.
pub(super) async fn cancel(
    conn: &mut AnyConnection,
    order: &DeliveryOrder,
    expected: Expected,
    reason: &str,
    now: i64,
) -> StoreResult<()> {
    if Expected::of(order) != expected || !order.state.is_open() {
        return Err(StoreError::Conflict(ConflictKind::OrderChanged));
    }
    sqlx::query(
        "UPDATE delivery_orders SET state = 'cancelled', closed_at = $1, failure_reason = $2 \
         WHERE id = $3",
    )
    .bind(now)
    .bind(reason)
    .bind(order.id)
    .execute(&mut *conn)
    .await?;
    if let Some(courier) = order.courier_id {
        append_feed(conn, courier, order.id, FeedChange::Withdrawn, now).await?;
    }
    tell_cancelled(conn, order, reason, now).await
}

/// Queues the `order_cancelled` message, keyed by the order: a closed order is never
/// cancelled again, so the customer is told once. A 派单 message still waiting is given up.
async fn tell_cancelled(
    conn: &mut AnyConnection,
    order: &DeliveryOrder,
    reason: &str,
    now: i64,
) -> StoreResult<()> {
    withdraw_assigned(conn, order.id, "订单已取消，不再发送", now).await?;
    let text = notify::order_cancelled_text(order.id, &order.slot_date, order.slot.label(), reason);
    let dedupe = format!("order_cancelled:{}", order.id);
    tell_customer(
        conn,
        order,
        MessageKind::OrderCancelled,
        &text,
        &dedupe,
        now,
    )
    .await
}

/// Marks `out` every `assigned` order of `courier` whose latest feed row is at or before
/// `cursor`, with an audit entry for `actor` only if any; returns how many. Run it under the
/// dispatch clock's lock.
pub(super) async fn mark_out(
    conn: &mut AnyConnection,
    courier: UserId,
    cursor: i64,
    actor: Actor,
    now: i64,
) -> StoreResult<u64> {
    let changed = sqlx::query(
        "UPDATE delivery_orders SET state = 'out' \
         WHERE courier_id = $1 AND state = 'assigned' \
         AND (SELECT MAX(seq) FROM delivery_feed f WHERE f.order_id = delivery_orders.id) <= $2",
    )
    .bind(courier.0 as i64)
    .bind(cursor)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if changed > 0 {
        let audit = AuditEntry::new(
            actor.user,
            "dispatch.acknowledge",
            format!("courier:{}", courier.0),
            json!({ "cursor": cursor, "orders": changed, "via": actor.via }),
        );
        insert_audit(conn, &audit, now).await?;
    }
    Ok(changed)
}

//! Dispatch (派单, docs/deliveries.md): automatic assignment of a day's orders, manual assignment
//! and reassignment, cancellation by staff, the courier's acknowledgement that their phone has
//! an order, and what the console shows of a day (orders by region and slot with their courier
//! and late flag, couriers' loads) and of a courier's route.
//!
//! Every function parses nothing itself beyond its arguments' rules, checks them all before
//! writing, and returns a [`DispatchError`] whose message is the zh-CN text the API and the
//! console show. The writes themselves (`Store::auto_assign`, `assign_order`, …) re-read the
//! order under the dispatch clock's lock, so a change made meanwhile is refused, never
//! overwritten.

pub mod plan;

use std::collections::BTreeMap;

use shuipiao_shared::ids::UserId;

use crate::accounts::Actor;
use crate::config::MasterKey;
use crate::local_time;
use crate::ordering::slots;
use crate::pii::Phone;
use crate::store::delivery_orders::{AddressRow, DeliveryOrder, Slot};
use crate::store::delivery_slots::SlotHoursRow;
use crate::store::dispatch::{AutoAssigned, CourierRow, Expected};
use crate::store::models::AuditEntry;
use crate::store::{Store, StoreError};
use plan::{Courier, DayOrder, Load};

/// Longest reason for a cancellation by staff, in characters.
pub const MAX_REASON_CHARS: usize = 100;

/// Why a dispatch action was refused; the message is shown as is.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The day is not a `YYYY-MM-DD` date.
    #[error("日期格式应为 YYYY-MM-DD")]
    BadDate,
    /// The slot filter is neither morning nor afternoon.
    #[error("时段应为 morning(上午)或 afternoon(下午)")]
    BadSlot,
    /// The region filter names no region.
    #[error("区域不存在")]
    UnknownRegion,
    /// The order does not exist.
    #[error("订单不存在")]
    UnknownOrder,
    /// The courier does not exist, is not a courier, or is disabled.
    #[error("送水员不存在或已停用")]
    UnknownCourier,
    /// The courier serves another region than the order's.
    #[error("该送水员不负责这个订单所在的区域")]
    OtherRegion,
    /// The order is already this courier's.
    #[error("该订单已经派给这位送水员")]
    SameCourier,
    /// The order is delivered, failed or cancelled.
    #[error("订单已送达、未送达或已取消,不能再派单或取消")]
    Closed,
    /// The reason for a cancellation is empty or too long.
    #[error("请填写取消原因(1–100 个字)")]
    Reason,
    /// Storage failed, or the order changed meanwhile.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A `YYYY-MM-DD` Beijing day as typed, trimmed.
pub fn day(typed: &str) -> Result<&str, DispatchError> {
    let day = typed.trim();
    match local_time::day_start(day) {
        Some(_) if day.len() == 10 => Ok(day),
        _ => Err(DispatchError::BadDate),
    }
}

/// Today and tomorrow in Beijing, the days the console offers.
pub fn today_and_tomorrow(now: i64) -> [String; 2] {
    [local_time::date(now), local_time::date(now + 86_400)]
}

/// Whether `order` is late at `now` under its region's slot `hours` (`ordering::slots::hours`):
/// still open after its slot ended (逾期).
pub fn is_late(order: &DeliveryOrder, hours: &[SlotHoursRow; 2], now: i64) -> bool {
    let ends_minute = hours
        .iter()
        .find(|row| row.slot == order.slot)
        .map_or(24 * 60, |row| i64::from(row.ends_minute));
    order.state.is_open()
        && local_time::day_start(&order.slot_date).is_some_and(|day| now >= day + ends_minute * 60)
}

async fn region_exists(store: &Store, region: Option<i64>) -> Result<(), DispatchError> {
    match region {
        Some(id) if !store.regions().await?.iter().any(|r| r.id == id) => {
            Err(DispatchError::UnknownRegion)
        }
        _ => Ok(()),
    }
}

async fn open_order(store: &Store, id: i64) -> Result<DeliveryOrder, DispatchError> {
    let order = match store.delivery_order(id).await {
        Ok(order) => order,
        Err(StoreError::NotFound) => return Err(DispatchError::UnknownOrder),
        Err(err) => return Err(err.into()),
    };
    if !order.state.is_open() {
        return Err(DispatchError::Closed);
    }
    Ok(order)
}

/// Gives each pending order of `day` (of `region` if given) to a courier of its region
/// ([`plan::plan`]), in one transaction with one audit entry.
pub async fn auto_assign(
    store: &Store,
    actor: Actor,
    day_typed: &str,
    region: Option<i64>,
    now: i64,
) -> Result<AutoAssigned, DispatchError> {
    let day = day(day_typed)?;
    region_exists(store, region).await?;
    Ok(store.auto_assign(day, region, actor, now).await?)
}

/// Assigns open order `id` to `courier`, an enabled courier of the order's region; if it had
/// another courier, theirs is withdrawn first.
pub async fn assign(
    store: &Store,
    actor: Actor,
    id: i64,
    courier: UserId,
    now: i64,
) -> Result<DeliveryOrder, DispatchError> {
    let order = open_order(store, id).await?;
    let found = store
        .couriers()
        .await?
        .into_iter()
        .find(|c| c.id == courier && !c.disabled)
        .ok_or(DispatchError::UnknownCourier)?;
    if found.region_id != order.region_id {
        return Err(DispatchError::OtherRegion);
    }
    if order.courier_id == Some(courier) {
        return Err(DispatchError::SameCourier);
    }
    let audit = AuditEntry::new(
        actor.user,
        "dispatch.assign",
        format!("order:{id}"),
        serde_json::json!({
            "courier": courier.0,
            "previous": order.courier_id.map(|c| c.0),
            "via": actor.via,
        }),
    );
    Ok(store
        .assign_order(id, Expected::of(&order), courier, now, &audit)
        .await?)
}

/// Cancels open order `id` for `reason` (1–[`MAX_REASON_CHARS`] characters, trimmed): staff may
/// cancel any order not yet closed. The customer is told, with the reason.
pub async fn cancel_by_staff(
    store: &Store,
    actor: Actor,
    id: i64,
    reason: &str,
    now: i64,
) -> Result<DeliveryOrder, DispatchError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(DispatchError::Reason);
    }
    let order = open_order(store, id).await?;
    let audit = AuditEntry::new(
        actor.user,
        "dispatch.cancel",
        format!("order:{id}"),
        serde_json::json!({ "reason": reason, "state": order.state.as_str(), "via": actor.via }),
    );
    Ok(store
        .cancel_order_by_staff(id, Expected::of(&order), reason, now, &audit)
        .await?)
}

/// The courier's phone has fetched the feed up to `cursor`: their `assigned` orders whose latest
/// feed row is at or before it are now `out` (配送中). Returns how many changed.
pub async fn acknowledge(
    store: &Store,
    courier: UserId,
    cursor: i64,
    now: i64,
) -> Result<u64, DispatchError> {
    let actor = Actor {
        user: Some(courier),
        via: "sync",
    };
    Ok(store
        .acknowledge_deliveries(courier, cursor, actor, now)
        .await?)
}

/// An order as the dispatch page and API show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardOrder {
    /// The order.
    pub order: DeliveryOrder,
    /// Where it goes.
    pub address: AddressRow,
    /// Its courier's login name.
    pub courier: Option<String>,
    /// Still open after its slot ended (逾期).
    pub late: bool,
    /// Pending in a region without an enabled courier (无可派送员).
    pub no_courier: bool,
}

/// A courier's orders of the day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourierLoad {
    /// The courier.
    pub courier: CourierRow,
    /// Their orders of the day, per slot.
    pub load: Load,
}

/// A day of dispatch: its orders (by slot, then id) and the couriers' loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    /// The day.
    pub day: String,
    /// The orders, filtered by region and slot if asked.
    pub orders: Vec<BoardOrder>,
    /// Enabled couriers (of the region if asked), and any disabled one who has orders that day,
    /// with their loads.
    pub couriers: Vec<CourierLoad>,
}

/// The orders of `day` (of `region` and `slot` if given), each with its courier, late flag and
/// whether its region has a courier at all, and the couriers' loads of the day.
pub async fn board(
    store: &Store,
    day_typed: &str,
    region: Option<i64>,
    slot_typed: Option<&str>,
    now: i64,
) -> Result<Board, DispatchError> {
    let day = day(day_typed)?;
    let slot = match slot_typed.map(str::trim).filter(|typed| !typed.is_empty()) {
        Some(typed) => Some(Slot::parse(typed).ok_or(DispatchError::BadSlot)?),
        None => None,
    };
    region_exists(store, region).await?;
    let rows = store.dispatch_day(day, region).await?;
    let all_couriers = store.couriers().await?;
    let facts: Vec<DayOrder> = rows.iter().map(|(o, _)| DayOrder::from(o)).collect();
    let enabled: Vec<Courier> = all_couriers
        .iter()
        .filter(|c| !c.disabled)
        .map(Courier::from)
        .collect();
    let unassignable = plan::plan(&facts, &enabled).unassignable;
    let loads = plan::loads(&facts);
    let name = |id: UserId| {
        all_couriers
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.username.clone())
    };
    let mut hours: BTreeMap<i64, [SlotHoursRow; 2]> = BTreeMap::new();
    let mut orders = Vec::new();
    for (order, address) in rows {
        if slot.is_some_and(|slot| order.slot != slot) {
            continue;
        }
        let region_hours = match hours.get(&order.region_id) {
            Some(found) => *found,
            None => {
                let found = slots::hours(store, order.region_id).await?;
                *hours.entry(order.region_id).or_insert(found)
            }
        };
        orders.push(BoardOrder {
            courier: order.courier_id.and_then(name),
            late: is_late(&order, &region_hours, now),
            no_courier: unassignable.contains(&order.id),
            order,
            address,
        });
    }
    orders.sort_by_key(|o| (o.order.slot, o.order.id));
    let couriers = all_couriers
        .into_iter()
        .filter(|c| region.is_none_or(|region| c.region_id == region))
        .filter(|c| !c.disabled || loads.contains_key(&c.id))
        .map(|courier| CourierLoad {
            load: loads.get(&courier.id).copied().unwrap_or_default(),
            courier,
        })
        .collect();
    Ok(Board {
        day: day.to_string(),
        orders,
        couriers,
    })
}

/// One stop of a route sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// The order.
    pub order: DeliveryOrder,
    /// Where it goes.
    pub address: AddressRow,
    /// The contact's phone, masked (`138****8000`): the sheet is printed and left in vans.
    pub phone: String,
}

/// A courier's route sheet of a day: their open orders, sorted by slot, community, building,
/// unit and room.
pub async fn route_sheet(
    store: &Store,
    master: &MasterKey,
    courier: UserId,
    day_typed: &str,
) -> Result<(CourierRow, Vec<Stop>), DispatchError> {
    let day = day(day_typed)?;
    let courier = store
        .couriers()
        .await?
        .into_iter()
        .find(|c| c.id == courier)
        .ok_or(DispatchError::UnknownCourier)?;
    let mut stops: Vec<Stop> = store
        .dispatch_day(day, None)
        .await?
        .into_iter()
        .filter(|(o, _)| o.courier_id == Some(courier.id) && o.state.is_open())
        .map(|(order, address)| Stop {
            phone: Phone::open(master, &address.phone_sealed)
                .map(|phone| phone.masked())
                .unwrap_or_else(|_| "—".to_string()),
            order,
            address,
        })
        .collect();
    stops.sort_by_cached_key(|s| {
        (
            s.order.slot,
            s.address.community.clone(),
            s.address.building.clone(),
            s.address.unit.clone(),
            s.address.room.clone(),
            s.order.id,
        )
    });
    Ok((courier, stops))
}

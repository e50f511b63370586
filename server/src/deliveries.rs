//! The courier's delivery list, server side (docs/deliveries.md, "The courier's delivery list";
//! docs/protocol.md, "Delivery list"): a courier device's feed rows after its cursor, each made
//! into the task the phone keeps offline.
//!
//! The phone's store is encrypted, so the task carries the contact's phone whole, opened with
//! the master key. A row whose order is no longer the courier's (reassigned since, or
//! cancelled) goes out as `withdrawn` with no task, whatever it said when appended: the phone
//! ends with the same list, and a customer's address and phone reach no courier who no longer
//! delivers to them.

use std::collections::HashMap;

use shuipiao_shared::delivery::{
    DeliveriesResponse, DeliveryChange, DeliveryPayment, DeliveryRow, DeliverySlot, DeliveryTask,
};
use shuipiao_shared::ids::UserId;

use crate::config::MasterKey;
use crate::dispatch::{self, DispatchError};
use crate::ordering::slots;
use crate::pii::Phone;
use crate::store::delivery_orders::{
    AddressRow, DeliveryOrder, FeedChange, OrderState, Payment, Slot,
};
use crate::store::delivery_slots::SlotHoursRow;
use crate::store::dispatch::FeedRow;
use crate::store::models::{Device, Role};
use crate::store::{Store, StoreError};
use crate::wallet;

/// Why a delivery-list pull was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeliveriesError {
    /// The device is a store counter's: only couriers have a delivery list.
    #[error("门店设备没有配送单，只有配送员的手机可以同步配送单")]
    NotCourier,
    /// Marking the phone's orders 配送中 failed.
    #[error(transparent)]
    Acknowledge(#[from] DispatchError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The device's courier's feed after `cursor`, at most `limit` rows (clamped to `1..=page_size`
/// like a status pull). The phone has applied every row up to `cursor`, so the courier's
/// assigned orders whose latest row is at or before it are marked 配送中 first.
pub async fn pull(
    store: &Store,
    master: &MasterKey,
    device: &Device,
    cursor: u64,
    limit: Option<u32>,
    page_size: u32,
    now: i64,
) -> Result<DeliveriesResponse, DeliveriesError> {
    let courier = courier_of(store, device).await?;
    let limit = limit.unwrap_or(page_size).clamp(1, page_size);
    let held = i64::try_from(cursor).unwrap_or(i64::MAX);
    if held > 0 {
        dispatch::acknowledge(store, courier, held, now).await?;
    }
    let feed = store.delivery_feed(courier, held, limit).await?;
    let mut tasks = Tasks::load(store, master).await?;
    let mut rows = Vec::with_capacity(feed.len());
    for entry in &feed {
        rows.push(tasks.row(store, courier, entry).await?);
    }
    Ok(DeliveriesResponse {
        next_cursor: rows.last().map_or(cursor, |row: &DeliveryRow| row.seq),
        has_more: feed.len() == limit as usize,
        rows,
        server_time: now.max(0) as u64,
    })
}

/// The courier a device works for; a store counter's device has none.
async fn courier_of(store: &Store, device: &Device) -> Result<UserId, DeliveriesError> {
    let user = store.user(device.user_id).await?;
    match user.spec.role {
        Role::Courier => Ok(user.id),
        _ => Err(DeliveriesError::NotCourier),
    }
}

/// Names and hours a page of tasks reads, each loaded once.
struct Tasks<'a> {
    master: &'a MasterKey,
    names: wallet::Names,
    regions: HashMap<i64, String>,
    hours: HashMap<i64, [SlotHoursRow; 2]>,
}

impl<'a> Tasks<'a> {
    async fn load(store: &Store, master: &'a MasterKey) -> Result<Tasks<'a>, StoreError> {
        Ok(Tasks {
            master,
            names: wallet::Names::load(store).await?,
            regions: store
                .regions()
                .await?
                .into_iter()
                .map(|region| (region.id, region.name))
                .collect(),
            hours: HashMap::new(),
        })
    }

    async fn row(
        &mut self,
        store: &Store,
        courier: UserId,
        entry: &FeedRow,
    ) -> Result<DeliveryRow, StoreError> {
        let seq = entry.seq as u64;
        let withdrawn = DeliveryRow::withdrawn(seq, entry.order_id as u64);
        let change = match entry.change {
            FeedChange::Withdrawn => return Ok(withdrawn),
            FeedChange::Assigned => DeliveryChange::Assigned,
            FeedChange::Updated => DeliveryChange::Updated,
        };
        let order = store.delivery_order(entry.order_id).await?;
        if order.courier_id != Some(courier) || order.state == OrderState::Cancelled {
            return Ok(withdrawn);
        }
        let address = store.address(order.address_id).await?;
        let hours = match self.hours.get(&order.region_id) {
            Some(hours) => *hours,
            None => {
                let hours = slots::hours(store, order.region_id).await?;
                *self.hours.entry(order.region_id).or_insert(hours)
            }
        };
        Ok(DeliveryRow::put(
            seq,
            change,
            self.task(&order, &address, &hours),
        ))
    }

    fn task(
        &self,
        order: &DeliveryOrder,
        address: &AddressRow,
        hours: &[SlotHoursRow; 2],
    ) -> DeliveryTask {
        let slot_hours = hours
            .iter()
            .find(|row| row.slot == order.slot)
            .map(|row| {
                format!(
                    "{}-{}",
                    slots::clock(row.starts_minute),
                    slots::clock(row.ends_minute)
                )
            })
            .unwrap_or_default();
        // A phone that does not open (a rotated master key) is left out rather than failing
        // the courier's whole list.
        let phone = Phone::open(self.master, &address.phone_sealed)
            .map(|phone| phone.digits().to_string())
            .unwrap_or_default();
        DeliveryTask {
            order_id: order.id as u64,
            day: order.slot_date.clone(),
            slot: match order.slot {
                Slot::Morning => DeliverySlot::Morning,
                Slot::Afternoon => DeliverySlot::Afternoon,
            },
            slot_hours,
            address: address.line(),
            label: address.label.clone(),
            region: self
                .regions
                .get(&order.region_id)
                .cloned()
                .unwrap_or_default(),
            contact: address.contact.clone(),
            phone,
            product: order.product,
            product_name: self.names.product(order.product.0),
            bottles: order.bottles,
            payment: match order.payment {
                Payment::Tickets(_) => DeliveryPayment::Tickets,
                Payment::Account => DeliveryPayment::Account,
                Payment::Cash => DeliveryPayment::Cash,
            },
            book_id: order.payment.book(),
            note: order.note.clone(),
        }
    }
}

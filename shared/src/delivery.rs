//! The courier's delivery list (docs/protocol.md, "Delivery list"; docs/deliveries.md): the
//! bodies of `GET /api/v1/sync/deliveries` and [`apply`], the one rule by which a phone turns
//! feed rows into its list.
//!
//! Like every other API body, these reject unknown fields. A row is checked as it is read: a
//! `withdrawn` row carries no task, any other carries the task of its own order, so [`apply`] is
//! total and a device never holds a half-described order.

use serde::{Deserialize, Serialize};

use crate::ids::{BookId, ProductCode};

/// Query of `GET /api/v1/sync/deliveries`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// `next_cursor` of the previous pull; 0 the first time.
    pub cursor: u64,
    /// Most rows wanted; the server clamps it to its page size.
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Answer to a delivery-list pull.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesResponse {
    /// The courier's feed rows after the cursor, in `seq` order.
    pub rows: Vec<DeliveryRow>,
    /// Cursor for the next pull: no row committed later has a lower sequence.
    pub next_cursor: u64,
    /// More rows are waiting.
    pub has_more: bool,
    /// Server time, unix seconds.
    pub server_time: u64,
}

/// What a row tells the phone about one order.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryChange {
    /// The order is now the courier's.
    Assigned,
    /// Something the courier reads changed.
    Updated,
    /// The order is no longer the courier's: reassigned or cancelled.
    Withdrawn,
}

/// One row of the delivery feed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WireRow", deny_unknown_fields)]
pub struct DeliveryRow {
    /// Feed sequence, increasing in commit order.
    pub seq: u64,
    /// What happened.
    pub change: DeliveryChange,
    /// The order.
    pub order_id: u64,
    /// The order as it is when pulled; `null` exactly for `withdrawn`.
    pub task: Option<DeliveryTask>,
}

/// A row as it travels, before [`DeliveryRow`]'s check.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRow {
    seq: u64,
    change: DeliveryChange,
    order_id: u64,
    task: Option<DeliveryTask>,
}

impl TryFrom<WireRow> for DeliveryRow {
    type Error = String;

    fn try_from(row: WireRow) -> Result<DeliveryRow, String> {
        match (&row.change, &row.task) {
            (DeliveryChange::Withdrawn, Some(_)) => {
                return Err(format!("withdrawn order {} carries a task", row.order_id));
            }
            (DeliveryChange::Assigned | DeliveryChange::Updated, None) => {
                return Err(format!("order {} comes without its task", row.order_id));
            }
            (_, Some(task)) if task.order_id != row.order_id => {
                return Err(format!(
                    "row of order {} carries the task of order {}",
                    row.order_id, task.order_id
                ));
            }
            _ => {}
        }
        Ok(DeliveryRow {
            seq: row.seq,
            change: row.change,
            order_id: row.order_id,
            task: row.task,
        })
    }
}

impl DeliveryRow {
    /// A row that puts `task` in the list (`assigned` or `updated`).
    pub fn put(seq: u64, change: DeliveryChange, task: DeliveryTask) -> DeliveryRow {
        DeliveryRow {
            seq,
            change,
            order_id: task.order_id,
            task: Some(task),
        }
    }

    /// A row that takes `order_id` out of the list.
    pub fn withdrawn(seq: u64, order_id: u64) -> DeliveryRow {
        DeliveryRow {
            seq,
            change: DeliveryChange::Withdrawn,
            order_id,
            task: None,
        }
    }
}

/// Half a day of deliveries.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliverySlot {
    /// 上午.
    Morning,
    /// 下午.
    Afternoon,
}

impl DeliverySlot {
    /// The name people read.
    pub fn label(self) -> &'static str {
        match self {
            DeliverySlot::Morning => "上午",
            DeliverySlot::Afternoon => "下午",
        }
    }
}

/// How an order is paid, as the courier must know at the door.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryPayment {
    /// Scan the customer's ticket book (`book_id`).
    Tickets,
    /// 月结: on the enterprise's account.
    Account,
    /// 货到付款: collect cash.
    Cash,
}

impl DeliveryPayment {
    /// The name people read.
    pub fn label(self) -> &'static str {
        match self {
            DeliveryPayment::Tickets => "水票",
            DeliveryPayment::Account => "月结",
            DeliveryPayment::Cash => "货到付款",
        }
    }
}

/// An order as the courier's phone keeps it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryTask {
    /// The order number customers and couriers see.
    pub order_id: u64,
    /// The Beijing day, `YYYY-MM-DD`.
    pub day: String,
    /// Morning or afternoon.
    pub slot: DeliverySlot,
    /// The slot's hours in the order's region, for display, e.g. `08:00-12:00`.
    pub slot_hours: String,
    /// 小区 楼栋 单元 门牌 on one line.
    pub address: String,
    /// An enterprise's delivery point (e.g. 三楼前台); empty for a home.
    pub label: String,
    /// The region's name.
    pub region: String,
    /// Who receives the water.
    pub contact: String,
    /// The contact's phone, whole: the device store is encrypted, and screens mask it.
    pub phone: String,
    /// What to deliver.
    pub product: ProductCode,
    /// The product's name.
    pub product_name: String,
    /// How many bottles.
    pub bottles: u16,
    /// How it is paid.
    pub payment: DeliveryPayment,
    /// The book a tickets order is paid from; `null` otherwise.
    pub book_id: Option<BookId>,
    /// The customer's note for the courier.
    pub note: String,
}

/// Applies feed rows in order to a list: `assigned` and `updated` put the task in, replacing the
/// one of the same order; `withdrawn` takes the order out (nothing happens for an order the list
/// does not hold). The result is sorted by order id, so applying a feed in one page or in many
/// gives the same list.
pub fn apply(list: Vec<DeliveryTask>, rows: &[DeliveryRow]) -> Vec<DeliveryTask> {
    let mut by_order: std::collections::BTreeMap<u64, DeliveryTask> =
        list.into_iter().map(|task| (task.order_id, task)).collect();
    for row in rows {
        match &row.task {
            Some(task) => {
                by_order.insert(row.order_id, task.clone());
            }
            None => {
                by_order.remove(&row.order_id);
            }
        }
    }
    by_order.into_values().collect()
}

//! The courier's delivery list on the device (docs/protocol.md, "Delivery list"): the orders
//! pulled from the delivery feed, kept in the encrypted store so the day's list is there with
//! no signal, and the feed cursor.
//!
//! Rows are applied with the semantics of [`shuipiao_shared::delivery::apply`] (`assigned` and
//! `updated` put the task in, replacing the order's; `withdrawn` takes it out), one transaction
//! per pulled page together with the cursor. Each order also carries its [`TaskState`] on this
//! device, read from the outbox (the latest delivery event of the order), so the feed never
//! overwrites it and a withdrawn and reassigned order keeps what the courier did. The table's
//! `state` column predates that and stays `open`.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use shuipiao_shared::delivery::{DeliveriesResponse, DeliverySlot, DeliveryTask};
use shuipiao_shared::event::{DeliveryOutcome, MissReason};

use crate::store::StoreError;
use crate::store::outbox::{self, KIND_DELIVERY};

/// Where an order of the list is on this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Still to be delivered (待送).
    Open,
    /// Handed over at the door (已送达).
    Delivered,
    /// The courier could not deliver it (未送达); they may come back and deliver it.
    NotDelivered,
}

impl TaskState {
    /// The state after a delivery with `outcome`, or before any.
    pub fn of(outcome: Option<&DeliveryOutcome>) -> TaskState {
        match outcome {
            None => TaskState::Open,
            Some(outcome) if outcome.delivered() => TaskState::Delivered,
            Some(_) => TaskState::NotDelivered,
        }
    }

    /// Whether the order is closed (delivered or not, at the door).
    pub fn is_done(self) -> bool {
        self != TaskState::Open
    }

    /// The name people read.
    pub fn label(self) -> &'static str {
        match self {
            TaskState::Open => "待送",
            TaskState::Delivered => "已送达",
            TaskState::NotDelivered => "未送达",
        }
    }
}

/// One order of the list as the device holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The order as last pulled.
    pub task: DeliveryTask,
    /// Where it is on this device.
    pub state: TaskState,
    /// Why it was not delivered, when [`TaskState::NotDelivered`].
    pub reason: Option<MissReason>,
}

impl Delivery {
    fn new(task: DeliveryTask, outcome: Option<DeliveryOutcome>) -> Delivery {
        Delivery {
            task,
            state: TaskState::of(outcome.as_ref()),
            reason: match outcome {
                Some(DeliveryOutcome::NotDelivered { reason }) => Some(reason),
                _ => None,
            },
        }
    }
}

/// The delivery feed cursor: `next_cursor` of the last applied page; 0 before the first.
pub fn cursor(conn: &Connection) -> Result<u64, StoreError> {
    let cursor: i64 =
        conn.query_row("SELECT delivery_cursor FROM meta WHERE id = 1", [], |row| {
            row.get(0)
        })?;
    Ok(cursor as u64)
}

/// Applies one pulled page and moves the cursor to its `next_cursor` (never backwards), inside
/// the caller's transaction. Rows at or before the held cursor were applied already.
pub fn apply_page(tx: &Transaction<'_>, page: &DeliveriesResponse) -> Result<(), StoreError> {
    let held = cursor(tx)?;
    for row in page.rows.iter().filter(|row| row.seq > held) {
        match &row.task {
            Some(task) => put(tx, task, row.seq)?,
            None => {
                tx.execute(
                    "DELETE FROM deliveries WHERE order_id = ?1",
                    params![row.order_id as i64],
                )?;
            }
        }
    }
    tx.execute(
        "UPDATE meta SET delivery_cursor = MAX(delivery_cursor, ?1) WHERE id = 1",
        params![page.next_cursor as i64],
    )?;
    Ok(())
}

fn put(tx: &Transaction<'_>, task: &DeliveryTask, seq: u64) -> Result<(), StoreError> {
    let json = serde_json::to_string(task)
        .map_err(|error| StoreError::Corrupt(format!("delivery task: {error}")))?;
    tx.execute(
        "INSERT INTO deliveries (order_id, day, task, state, seq) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (order_id) DO UPDATE SET day = excluded.day, task = excluded.task,
             seq = excluded.seq",
        params![task.order_id as i64, task.day, json, "open", seq as i64],
    )?;
    Ok(())
}

/// The order `order_id` with its state, if the list holds it.
pub fn get(conn: &Connection, order_id: u64) -> Result<Option<Delivery>, StoreError> {
    let task: Option<String> = conn
        .query_row(
            "SELECT task FROM deliveries WHERE order_id = ?1",
            params![order_id as i64],
            |row| row.get(0),
        )
        .optional()?;
    task.map(|task| {
        Ok(Delivery::new(
            decode(&task)?,
            outbox::last_delivery(conn, order_id)?,
        ))
    })
    .transpose()
}

/// The list of Beijing day `day` (`YYYY-MM-DD`), sorted by slot, then address, then order.
pub fn of_day(conn: &Connection, day: &str) -> Result<Vec<Delivery>, StoreError> {
    let mut statement = conn.prepare(
        "SELECT d.task,
                (SELECT o.record FROM outbox o WHERE o.order_id = d.order_id AND o.kind = ?2
                 ORDER BY o.device_seq DESC LIMIT 1)
         FROM deliveries d WHERE d.day = ?1 ORDER BY d.order_id",
    )?;
    let mut list = statement
        .query_map(params![day, KIND_DELIVERY], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, Option<Vec<u8>>>(1)?))
        })?
        .map(|row| {
            let (task, record) = row?;
            let outcome = record
                .map(|record| outbox::delivery_outcome(&record))
                .transpose()?;
            Ok(Delivery::new(decode(&task)?, outcome))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    // Stable: equal slot and address keep the order-id order of the query.
    list.sort_by(|a, b| {
        (slot_rank(a.task.slot), &a.task.address).cmp(&(slot_rank(b.task.slot), &b.task.address))
    });
    Ok(list)
}

/// Every order the device holds, by order id: what [`shuipiao_shared::delivery::apply`] makes
/// of the same rows.
pub fn all(conn: &Connection) -> Result<Vec<DeliveryTask>, StoreError> {
    let mut statement = conn.prepare("SELECT task FROM deliveries ORDER BY order_id")?;
    statement
        .query_map([], |row| row.get::<_, String>(0))?
        .map(|task| decode(&task?))
        .collect()
}

fn decode(task: &str) -> Result<DeliveryTask, StoreError> {
    serde_json::from_str(task)
        .map_err(|error| StoreError::Corrupt(format!("delivery task: {error}")))
}

fn slot_rank(slot: DeliverySlot) -> u8 {
    match slot {
        DeliverySlot::Morning => 0,
        DeliverySlot::Afternoon => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shuipiao_shared::delivery::{self, DeliveryRow};

    /// The committed vectors, applied through the store page by page, give the list
    /// [`delivery::apply`] gives.
    #[test]
    fn the_store_applies_the_delivery_vectors_as_the_protocol_does() {
        let vectors = ["..", "..", "shared", "vectors", "deliveries.json"]
            .iter()
            .fold(
                std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
                |path, part| path.join(part),
            );
        let text = std::fs::read_to_string(vectors).unwrap();
        let file: serde_json::Value = serde_json::from_str(&text).unwrap();
        for case in file["cases"].as_array().unwrap() {
            let before: Vec<DeliveryTask> = serde_json::from_value(case["before"].clone()).unwrap();
            let pages: Vec<Vec<DeliveryRow>> =
                serde_json::from_value(case["pages"].clone()).unwrap();
            let mut conn = Connection::open_in_memory().unwrap();
            crate::store::migrate::migrate(&mut conn).unwrap();
            let tx = conn.transaction().unwrap();
            for task in &before {
                put(&tx, task, 0).unwrap();
            }
            tx.commit().unwrap();
            for rows in &pages {
                let page = DeliveriesResponse {
                    next_cursor: rows.last().map_or(0, |row| row.seq),
                    rows: rows.clone(),
                    has_more: false,
                    server_time: 0,
                };
                let tx = conn.transaction().unwrap();
                apply_page(&tx, &page).unwrap();
                tx.commit().unwrap();
            }
            let expect: Vec<DeliveryTask> = serde_json::from_value(case["expect"].clone()).unwrap();
            assert_eq!(all(&conn).unwrap(), expect, "{}", case["name"]);
            assert_eq!(
                delivery::apply(before, &pages.concat()),
                expect,
                "{}",
                case["name"]
            );
        }
    }
}

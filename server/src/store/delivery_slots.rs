//! A region's own delivery-slot hours (`delivery_slots`); `ordering::slots` falls back to the
//! plant's hours for a region without rows.

use sqlx::{AnyConnection, Row};

use crate::store::delivery_orders::Slot;
use crate::store::{StoreResult, rows};

/// One slot's hours in one region, in minutes after Beijing midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotHoursRow {
    /// Morning or afternoon.
    pub slot: Slot,
    /// First minute of the slot.
    pub starts_minute: u16,
    /// The minute after its last (an exclusive end, up to 1440).
    pub ends_minute: u16,
    /// Whether customers may choose it.
    pub offered: bool,
}

/// The rows a region set for its slots, in the order of the day; empty when it uses the plant's
/// hours.
pub(super) async fn of_region(
    conn: &mut AnyConnection,
    region_id: i64,
) -> StoreResult<Vec<SlotHoursRow>> {
    let found = sqlx::query(
        "SELECT slot, starts_minute, ends_minute, offered FROM delivery_slots \
         WHERE region_id = $1",
    )
    .bind(region_id)
    .fetch_all(conn)
    .await?;
    let mut hours = found
        .iter()
        .map(|row| {
            let slot: String = row.try_get("slot")?;
            let minute = |column: &str| -> StoreResult<u16> {
                u16::try_from(row.try_get::<i64, _>(column)?).map_err(|_| rows::corrupt(column))
            };
            Ok(SlotHoursRow {
                slot: Slot::parse(&slot).ok_or_else(|| rows::corrupt("delivery_slots.slot"))?,
                starts_minute: minute("starts_minute")?,
                ends_minute: minute("ends_minute")?,
                offered: row.try_get::<i64, _>("offered")? != 0,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    hours.sort_by_key(|row| row.slot);
    Ok(hours)
}

/// Replaces a region's slot rows with `hours`.
pub(super) async fn replace(
    conn: &mut AnyConnection,
    region_id: i64,
    hours: &[SlotHoursRow],
) -> StoreResult<()> {
    sqlx::query("DELETE FROM delivery_slots WHERE region_id = $1")
        .bind(region_id)
        .execute(&mut *conn)
        .await?;
    for row in hours {
        sqlx::query(
            "INSERT INTO delivery_slots (region_id, slot, starts_minute, ends_minute, offered) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(region_id)
        .bind(row.slot.as_str())
        .bind(i64::from(row.starts_minute))
        .bind(i64::from(row.ends_minute))
        .bind(i64::from(row.offered))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

//! Reads of the couriers' delivery feed (docs/deliveries.md, "The courier's delivery list"):
//! a courier's rows after a cursor, each with the order and its address as they are now.
//! Rows are appended by [`super::delivery_orders::append_feed`] inside the change they tell.

use shuipiao_shared::ids::UserId;
use sqlx::Row;

use crate::store::delivery_orders::{
    AddressRow, DeliveryOrder, FeedChange, fetch_address, fetch_order,
};
use crate::store::{Store, StoreResult, rows};

/// One feed row with what the phone reads of its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    /// The feed sequence.
    pub seq: i64,
    /// What the row tells.
    pub change: FeedChange,
    /// The order as it is now, and its address.
    pub order: (DeliveryOrder, AddressRow),
}

impl Store {
    /// `courier`'s feed rows after `cursor`, at most `limit`, in sequence order, each with its
    /// order and address as they are now. A cursor beyond any sequence reads nothing.
    pub async fn delivery_feed(
        &self,
        courier: UserId,
        cursor: u64,
        limit: u32,
    ) -> StoreResult<Vec<FeedEntry>> {
        let mut conn = self.pool.acquire().await?;
        let found = sqlx::query(
            "SELECT seq, order_id, change FROM delivery_feed \
             WHERE courier_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(courier.0 as i64)
        .bind(i64::try_from(cursor).unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
        let mut entries = Vec::with_capacity(found.len());
        for row in &found {
            let change: String = row.try_get("change")?;
            let order = fetch_order(&mut conn, row.try_get("order_id")?).await?;
            let address = fetch_address(&mut conn, order.address_id).await?;
            entries.push(FeedEntry {
                seq: row.try_get("seq")?,
                change: FeedChange::parse(&change)
                    .ok_or_else(|| rows::corrupt("delivery_feed.change"))?,
                order: (order, address),
            });
        }
        Ok(entries)
    }
}

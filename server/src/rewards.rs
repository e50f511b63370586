//! Points and gifts for customers: what a balance buys, and why an order was refused.

use crate::store::models::User;
use crate::store::{ConflictKind, Store, StoreError};

/// Why a gift could not be ordered; the message is shown to the customer.
#[derive(Debug, thiserror::Error)]
pub enum GiftError {
    /// Balance below the price.
    #[error("积分不足")]
    NotEnoughPoints,
    /// Nothing left.
    #[error("该礼品已兑完")]
    OutOfStock,
    /// No such gift, or the user has no account.
    #[error("礼品不存在")]
    Unknown,
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
}

/// Orders one gift for the user's account with its points.
pub async fn order_gift(
    store: &Store,
    user: &User,
    gift_id: i64,
    now: i64,
) -> Result<i64, GiftError> {
    let account_id = user.spec.account_id.ok_or(GiftError::Unknown)?;
    store
        .order_gift(account_id, user.id, gift_id, now)
        .await
        .map_err(|err| match err {
            StoreError::NotFound => GiftError::Unknown,
            StoreError::Conflict(ConflictKind::NotEnoughPoints) => GiftError::NotEnoughPoints,
            StoreError::Conflict(ConflictKind::OutOfStock) => GiftError::OutOfStock,
            other => GiftError::Store(other),
        })
}

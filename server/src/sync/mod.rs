//! Device sync: a pushed batch from the device's signatures to the stored events.
//!
//! This module checks the batch's signatures (`signatures`, before any transaction) and works
//! out the scopes the device's user serves by the same rule as at enrollment, so the server
//! re-checks each redemption's scope as the door did. The store then loads what it holds about
//! the batch and applies the decision of [`classify`], a pure function of those facts, in one
//! transaction.

pub mod classify;
mod signatures;

use shuipiao_shared::event::{EventBody, SignedEvent};
use shuipiao_shared::ids::ScopeId;
use shuipiao_shared::sync::{MAX_PUSH_EVENTS, MAX_SYNC_ERROR_CHARS, PushResult};

use crate::enrollment;
use crate::store::models::Device;
use crate::store::{Store, StoreError};

/// Why a device's sync report was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The previous sync error is too long to keep.
    #[error("同步错误信息最长 {MAX_SYNC_ERROR_CHARS} 个字符")]
    ErrorTooLong,
    /// The pending count does not fit the store.
    #[error("待上传数量无效")]
    BadPending,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records what a device reports when it pulls: the events it still holds and its previous sync
/// error, shown on the device list.
pub async fn report(
    store: &Store,
    device: &Device,
    pending: u64,
    error: Option<&str>,
    now: i64,
) -> Result<(), ReportError> {
    if error.is_some_and(|text| text.chars().count() > MAX_SYNC_ERROR_CHARS) {
        return Err(ReportError::ErrorTooLong);
    }
    let pending = i64::try_from(pending).map_err(|_| ReportError::BadPending)?;
    store
        .report_device_sync(device.id, pending, error, now)
        .await?;
    Ok(())
}

/// Why a push was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// More than [`MAX_PUSH_EVENTS`] events.
    #[error("more than {MAX_PUSH_EVENTS} events")]
    TooMany,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Stores a device's pushed events: one result per event, in the pushed order.
pub async fn push(
    store: &Store,
    device: &Device,
    events: &[SignedEvent],
    now: i64,
) -> Result<Vec<PushResult>, PushError> {
    if events.len() > MAX_PUSH_EVENTS {
        return Err(PushError::TooMany);
    }
    let redeems = events
        .iter()
        .any(|e| matches!(e.event.body, EventBody::Redemption { .. }));
    let served: Vec<ScopeId> = if redeems {
        let user = store.user(device.user_id).await?;
        enrollment::scopes_served(store, &user)
            .await?
            .into_iter()
            .map(|scope| scope.scope)
            .collect()
    } else {
        Vec::new()
    };
    let signature_ok = signatures::check(device, events).await?;
    Ok(store
        .push_events(device, events, &signature_ok, &served, now)
        .await?)
}

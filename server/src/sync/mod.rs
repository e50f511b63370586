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
use shuipiao_shared::sync::{MAX_PUSH_EVENTS, PushResult};

use crate::enrollment;
use crate::store::models::Device;
use crate::store::{Store, StoreError};

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
pub async fn push<S: Store>(
    store: &S,
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

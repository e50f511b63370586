//! Device sync: what a pushed batch is checked against besides its hash chain.
//!
//! The store decides each event's fate in chain order (`store::events`); this module gives it
//! the one thing the store cannot know by itself, the scopes the device's user serves, worked
//! out by the same rule as at enrollment, so the server re-checks each redemption's scope as
//! the door did.

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
    Ok(store.push_events(device, events, &served, now).await?)
}

//! Resolving the review queue: an operator charges, writes off or voids a flagged redemption,
//! with a note, or marks an item about an order (a delivery) handled. The resolution is itself
//! a ledger event; the JSON API and the console call the same function, so the note has one
//! limit, the actions one rule and the audit entry one shape.

use serde_json::json;
use shuipiao_shared::ids::{EventId, UserId};
use shuipiao_shared::ledger::ResolutionAction;
use shuipiao_shared::status::StatusRow;

use crate::store::models::AuditEntry;
use crate::store::{Store, StoreError};

/// Longest note, in characters: it is kept in the ledger and the audit log.
pub const MAX_NOTE_CHARS: usize = 200;

/// Why a resolution was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The note is longer than [`MAX_NOTE_CHARS`].
    #[error("备注最多 200 字")]
    NoteTooLong,
    /// A delivery's item is about an order, not a book: there is nothing to charge or void,
    /// only to mark handled (`write_off`).
    #[error("订单冲突只能标记为已处理")]
    OrderItem,
    /// No such flagged redemption, already resolved, or storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Resolves the flagged redemption `target` with `action`; returns the book's new status, none
/// for an event that names no book. An item about an order is only marked handled, with
/// `write_off`: it changes no ledger. `via` names the surface in the audit entry.
pub async fn resolve(
    store: &Store,
    target: EventId,
    action: ResolutionAction,
    note: &str,
    operator: UserId,
    via: &'static str,
    now: i64,
) -> Result<Option<StatusRow>, ReviewError> {
    let note = note.trim();
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(ReviewError::NoteTooLong);
    }
    if action != ResolutionAction::WriteOff && store.is_delivery_event(target).await? {
        return Err(ReviewError::OrderItem);
    }
    let millis = u64::try_from(now.max(0)).unwrap_or(0).saturating_mul(1000);
    let resolution = EventId::v7(millis, crate::random::bytes::<10>());
    let audit = AuditEntry::new(
        Some(operator),
        "review.resolve",
        format!("event:{}", target.0),
        json!({ "action": action, "note": note, "resolution": resolution.0, "via": via }),
    );
    Ok(store
        .resolve_review(target, resolution, action, operator, note, now, &audit)
        .await?)
}

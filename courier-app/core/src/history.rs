//! This device's records as the history and counter screens list them: one row per event with
//! zh-CN text, whether it reached the server, and whether it can still be undone.

use serde::{Deserialize, Serialize};
use shuipiao_shared::event::{DeliveryOutcome, EventBody, Refusal};
use shuipiao_shared::ids::{BookId, EventId, ProductCode};

use crate::engine::{CLOCK_SLACK_SECS, UNDO_WINDOW_SECS, format_beijing_time};
use crate::store::outbox::{OutboxEntry, PushState};

/// The kind of a history row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    /// Water delivered.
    Redemption,
    /// An undo.
    Void,
    /// A refused scan.
    Refused,
    /// An order closed at the door: delivered or not.
    Delivery,
}

/// One event, ready to list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRow {
    /// The event.
    pub event_id: EventId,
    /// Its place in this device's chain.
    pub device_seq: u64,
    /// Device time, unix seconds.
    pub at: u64,
    /// `YYYY-MM-DD HH:MM`, Beijing time.
    pub at_text: String,
    /// Redemption, undo or refusal.
    pub kind: RowKind,
    /// The book, if known.
    pub book_id: Option<BookId>,
    /// Units redeemed (redemptions only).
    pub units: u16,
    /// Product delivered (redemptions only).
    pub product: Option<ProductCode>,
    /// zh-CN summary, e.g. 核销 2 张 or 拒绝：已过期.
    pub title: String,
    /// zh-CN upload state: 待上传 / 已上传 / 服务器拒收.
    pub upload: String,
    /// Stored on the server.
    pub uploaded: bool,
    /// A redemption that a later undo voided.
    pub voided: bool,
    /// Can be undone now (own redemption, not voided, not a delivery's, within the window).
    pub undoable: bool,
}

/// Rows for `entries` (newest first, as [`crate::engine::Engine::history`] returns them) at
/// device time `now`.
pub fn rows(entries: &[OutboxEntry], now: u64) -> Vec<HistoryRow> {
    entries.iter().map(|entry| row(entry, now)).collect()
}

/// The redemptions of the Beijing calendar day of `now`, voided ones included (marked).
pub fn today_redemptions(entries: &[OutboxEntry], now: u64) -> Vec<HistoryRow> {
    let today = beijing_day(now);
    rows(entries, now)
        .into_iter()
        .filter(|row| row.kind == RowKind::Redemption && beijing_day(row.at) == today)
        .collect()
}

/// Days since 1970-01-01 in Beijing time (UTC+8).
pub fn beijing_day(unix_secs: u64) -> u64 {
    (unix_secs + 8 * 3600) / 86_400
}

fn row(entry: &OutboxEntry, now: u64) -> HistoryRow {
    let event = &entry.event.event;
    let (kind, units, product, title) = match event.body {
        EventBody::Redemption { units, product, .. } => (
            RowKind::Redemption,
            units,
            Some(product),
            if entry.voided {
                format!("核销 {units} 张（已撤销）")
            } else {
                format!("核销 {units} 张")
            },
        ),
        EventBody::Void { .. } => (RowKind::Void, 0, None, "撤销核销".to_owned()),
        EventBody::ScanAttempt { refusal, .. } => (
            RowKind::Refused,
            0,
            None,
            format!(
                "拒绝：{}",
                match refusal {
                    Refusal::AlreadyUsed => "已使用",
                    Refusal::Rejected(reason) => reason.message(),
                }
            ),
        ),
        EventBody::Delivery {
            order_id, outcome, ..
        } => (
            RowKind::Delivery,
            0,
            None,
            match outcome {
                DeliveryOutcome::NotDelivered { reason } => {
                    format!("订单 {order_id} 未送达：{}", reason.label())
                }
                delivered => format!("订单 {order_id} 已送达 {} 桶", delivered.bottles()),
            },
        ),
    };
    let age_ok = now.saturating_sub(event.scanned_at) <= UNDO_WINDOW_SECS
        && now + CLOCK_SLACK_SECS >= event.scanned_at;
    HistoryRow {
        event_id: event.event_id,
        device_seq: event.device_seq,
        at: event.scanned_at,
        at_text: format_beijing_time(event.scanned_at),
        kind,
        book_id: event.body.book_id(),
        units,
        product,
        title,
        upload: match entry.push_state {
            PushState::Pending => "待上传",
            PushState::Acked => "已上传",
            PushState::Rejected => "服务器拒收",
        }
        .to_owned(),
        uploaded: entry.push_state == PushState::Acked,
        voided: entry.voided,
        // A delivery's redemption is its payment: the engine refuses to undo it alone.
        undoable: kind == RowKind::Redemption
            && !entry.voided
            && entry.order_id.is_none()
            && age_ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_days_turn_at_utc_four_pm() {
        // 2026-09-21T15:59:59Z is 23:59:59 in Beijing; a second later it is the next day.
        let evening = 1_790_006_399;
        assert_eq!(beijing_day(evening) + 1, beijing_day(evening + 1));
        assert_eq!(format_beijing_time(evening + 1), "2026-09-22 00:00");
    }
}

//! Jobs that turn state into messages: counted redemptions (read from the book status
//! sequence with a cursor, so pushes never wait for messaging; the points they earn are
//! credited in the same step) and expiry reminders; [`run_all`] also runs the recurring-order
//! job (`ordering::recurring::run`), which queues its own messages.

use crate::config::PromotionConfig;
use crate::local_time;
use crate::notify::{expiring_text, for_account, redeemed_text, tell_account};
use crate::store::models::{MessageKind, UsageChange};
use crate::store::{Store, StoreResult};
use crate::wallet::Names;

/// Cursor name of the redemption job.
const USAGE_CURSOR: &str = "notify.usage";
/// Remind this long before a book expires.
pub const EXPIRY_NOTICE_SECS: i64 = 3 * 86_400;

/// Queues "已使用 N 张,剩余 M 张" for every book whose counted units went up since its holder
/// was last told, and credits `points_per_unit` per unit (taken back for voided units).
/// Returns the number of books reported.
///
/// Every instance runs this job: each change is recorded only if the book's told figure is still
/// the one read, so two instances that read the same book at two moments tell and credit each
/// unit once; the one that lost re-reads the book and reports what is left.
pub async fn usage(store: &Store, points_per_unit: u32, now: i64) -> StoreResult<u32> {
    let mut reported = 0;
    loop {
        let after = store.job_cursor(USAGE_CURSOR).await?;
        let (changes, last) = store.usage_changes(after, 500).await?;
        let Some(last) = last else {
            return Ok(reported);
        };
        for change in changes {
            let mut current = Some(change);
            while let Some(change) = current {
                if report_usage(store, &change, points_per_unit, now).await? {
                    reported += u32::from(change.used_units > change.notified_used_units);
                    break;
                }
                current = store.usage_change(change.book_id).await?;
            }
        }
        store.advance_job_cursor(USAGE_CURSOR, last).await?;
    }
}

/// Tells and credits one change; `false` when another run recorded the book first.
async fn report_usage(
    store: &Store,
    change: &UsageChange,
    points_per_unit: u32,
    now: i64,
) -> StoreResult<bool> {
    let messages = if change.used_units > change.notified_used_units {
        let body = redeemed_text(
            change.used_units - change.notified_used_units,
            change.units.saturating_sub(change.used_units),
        );
        let key = format!("redeemed:{}:{}", change.book_id.0, change.used_units);
        for_account(
            store,
            change.account_id,
            MessageKind::Redeemed,
            &body,
            Some(&key),
        )
        .await?
    } else {
        // A void took units back: remember the new figure, say nothing.
        Vec::new()
    };
    let delta = i64::from(change.used_units) - i64::from(change.notified_used_units);
    let points = delta * i64::from(points_per_unit);
    store.notify_usage(change, &messages, points, now).await
}

/// Queues one reminder per book that expires within [`EXPIRY_NOTICE_SECS`] with units left.
pub async fn expiry(store: &Store, now: i64) -> StoreResult<u32> {
    let books = store.books_expiring(now, now + EXPIRY_NOTICE_SECS).await?;
    if books.is_empty() {
        return Ok(0);
    }
    let names = Names::load(store).await?;
    for book in &books {
        let body = expiring_text(
            &names.title(book),
            book.issued.units.saturating_sub(book.used_units),
            &local_time::date(i64::from(book.issued.valid_until)),
        );
        let key = format!("expiring:{}", book.issued.id.0);
        tell_account(
            store,
            book.issued.account_id,
            MessageKind::Expiring,
            &body,
            Some(&key),
            now,
        )
        .await;
    }
    Ok(books.len() as u32)
}

/// Every job once.
pub async fn run_all(store: &Store, promotions: &PromotionConfig, now: i64) -> StoreResult<()> {
    usage(store, promotions.points_per_unit, now).await?;
    expiry(store, now).await?;
    crate::ordering::recurring::run(store, now).await?;
    Ok(())
}

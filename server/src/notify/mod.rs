//! Messages to customers (DESIGN.md §7): what is said on issue, redemption, before expiry, on
//! reissue and for sign-in codes; queued in the store's outbox and delivered by the
//! [`dispatch`]er through a [`sink`] (the log by default, an HTTP gateway in production).
//!
//! **Architecture Invariant:** queuing happens in the same step as the change it reports (or
//! from a job with its own cursor), delivery never blocks a request, and a message is sent at
//! most once per dedupe key.

pub mod dispatch;
pub mod jobs;
pub mod sink;

use crate::store::models::{Channel, NewNotification};
use crate::store::{Store, StoreResult};

/// Every kind of message, as stored.
pub const KINDS: [&str; 5] = ["code", "issued", "redeemed", "expiring", "reissued"];

/// The sign-in or registration code.
pub fn code_text(code: &str, minutes: i64) -> String {
    format!("【水票】您的验证码是{code},{minutes}分钟内有效。请勿告诉他人。")
}

/// New books arrived.
pub fn issued_text(title: &str, units: u32) -> String {
    format!("【水票】您的{title}已到账,共{units}张,打开“我的水票”即可出示二维码送水。")
}

/// Units were redeemed.
pub fn redeemed_text(used: u16, remaining: u16) -> String {
    format!("【水票】您的水票已使用{used}张,剩余{remaining}张。")
}

/// A book is about to expire.
pub fn expiring_text(title: &str, remaining: u16, date: &str) -> String {
    format!("【水票】您的{title}还剩{remaining}张,将于{date}到期,请尽快使用。")
}

/// An enterprise added the customer as a member.
pub fn invited_text(enterprise: &str) -> String {
    format!(
        "【水票】{enterprise}已将您加入企业用水,请用本手机号通过验证码登录“我的水票”查看分配给您的水票。"
    )
}

/// A lost book was replaced.
pub fn reissued_text(units: u16) -> String {
    format!("【水票】您挂失的水票已补发,新水票共{units}张,旧二维码已作废。")
}

/// One SMS per user of `account_id` who has a phone number; each message's dedupe key is
/// `dedupe` suffixed with the user id, so every user is told once.
pub async fn for_account<S: Store>(
    store: &S,
    account_id: i64,
    kind: &'static str,
    body: &str,
    dedupe: Option<&str>,
) -> StoreResult<Vec<NewNotification>> {
    Ok(store
        .recipients(account_id)
        .await?
        .into_iter()
        .map(|(user_id, recipient_sealed)| NewNotification {
            user_id: Some(user_id),
            channel: Channel::Sms,
            recipient_sealed,
            kind,
            body: body.to_string(),
            dedupe_key: dedupe.map(|key| format!("{key}:{}", user_id.0)),
        })
        .collect())
}

/// Queues a message for the users of an account. Reporting is best effort: a failure is logged
/// and never undoes the change it reports.
pub async fn tell_account<S: Store>(
    store: &S,
    account_id: i64,
    kind: &'static str,
    body: &str,
    dedupe: Option<&str>,
    now: i64,
) {
    let queued = match for_account(store, account_id, kind, body, dedupe).await {
        Ok(messages) => store.enqueue_notifications(&messages, now).await,
        Err(err) => Err(err),
    };
    if let Err(err) = queued {
        tracing::warn!(error = %err, account_id, kind, "could not queue a notification");
    }
}

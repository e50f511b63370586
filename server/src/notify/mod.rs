//! Messages to customers: what is said on issue, redemption, before expiry, on
//! reissue and for sign-in codes; which channel carries it ([`route`]); queued in the store's
//! outbox and delivered by the [`dispatch`]er through the channel's [`adapter`] (SMS gateway,
//! WeChat template messages, app push; SMS is written to the log until a gateway is set).
//!
//! **Architecture Invariant:** queuing happens in the same step as the change it reports (or
//! from a job with its own cursor), delivery never blocks a request, and a message is sent at
//! most once per dedupe key.

pub mod adapter;
pub mod dispatch;
pub mod gateway;
pub mod jobs;

use shuipiao_shared::ids::UserId;

use crate::store::models::{Channel, MessageKind, NewNotification, Recipient};
use crate::store::{Store, StoreResult};

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

/// An enterprise invites the customer: nothing happens unless they accept, in the wallet or
/// with the code on the join page.
pub fn invitation_text(enterprise: &str, code: &str, days: i64) -> String {
    format!(
        "【水票】{enterprise}邀请您加入企业用水,邀请码{code},{days}天内有效。请在“我的水票”中接受或拒绝,或在“加入企业”页输入手机号和邀请码。如不认识该企业,请忽略本短信。"
    )
}

/// A lost book was replaced.
pub fn reissued_text(units: u16) -> String {
    format!("【水票】您挂失的水票已补发,新水票共{units}张,旧二维码已作废。")
}

/// The channel that carries a message to a user, and its sealed address there.
///
/// The rule: codes always go by SMS (they must reach the phone being proven); anything else
/// goes by WeChat if the user bound WeChat, else by app push if they bound a device, else by
/// SMS. A channel whose gateway is off when the message is delivered falls back to SMS
/// ([`adapter::Adapters::carrier`]).
pub fn route(kind: MessageKind, recipient: &Recipient) -> (Channel, Option<Vec<u8>>) {
    if kind == MessageKind::Code {
        return (Channel::Sms, None);
    }
    match (&recipient.wechat_sealed, &recipient.push_sealed) {
        (Some(openid), _) => (Channel::Wechat, Some(openid.clone())),
        (None, Some(token)) => (Channel::Push, Some(token.clone())),
        (None, None) => (Channel::Sms, None),
    }
}

/// A message by SMS to a phone (codes, and users who cannot have bound another channel yet).
pub fn by_sms(
    user_id: Option<UserId>,
    phone_sealed: Vec<u8>,
    kind: MessageKind,
    body: String,
    dedupe_key: Option<String>,
) -> NewNotification {
    NewNotification {
        user_id,
        channel: Channel::Sms,
        recipient_sealed: phone_sealed,
        address_sealed: None,
        kind,
        body,
        dedupe_key,
    }
}

/// One message per user of `account_id` who has a phone number, each on its [`route`]; each
/// message's dedupe key is `dedupe` suffixed with the user id, so every user is told once.
pub async fn for_account<S: Store>(
    store: &S,
    account_id: i64,
    kind: MessageKind,
    body: &str,
    dedupe: Option<&str>,
) -> StoreResult<Vec<NewNotification>> {
    Ok(store
        .recipients(account_id)
        .await?
        .into_iter()
        .map(|recipient| {
            let (channel, address_sealed) = route(kind, &recipient);
            NewNotification {
                user_id: Some(recipient.user_id),
                channel,
                recipient_sealed: recipient.phone_sealed,
                address_sealed,
                kind,
                body: body.to_string(),
                dedupe_key: dedupe.map(|key| format!("{key}:{}", recipient.user_id.0)),
            }
        })
        .collect())
}

/// Queues a message for the users of an account. Reporting is best effort: a failure is logged
/// and never undoes the change it reports.
pub async fn tell_account<S: Store>(
    store: &S,
    account_id: i64,
    kind: MessageKind,
    body: &str,
    dedupe: Option<&str>,
    now: i64,
) {
    let queued = match for_account(store, account_id, kind, body, dedupe).await {
        Ok(messages) => store.enqueue_notifications(&messages, now).await,
        Err(err) => Err(err),
    };
    if let Err(err) = queued {
        tracing::warn!(error = %err, account_id, kind = kind.as_str(), "could not queue a notification");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_go_by_sms_and_wechat_comes_before_push() {
        let mut recipient = Recipient {
            user_id: UserId(7),
            phone_sealed: b"phone".to_vec(),
            wechat_sealed: None,
            push_sealed: None,
        };
        assert_eq!(route(MessageKind::Issued, &recipient), (Channel::Sms, None));
        recipient.push_sealed = Some(b"token".to_vec());
        assert_eq!(
            route(MessageKind::Redeemed, &recipient),
            (Channel::Push, Some(b"token".to_vec()))
        );
        recipient.wechat_sealed = Some(b"openid".to_vec());
        assert_eq!(
            route(MessageKind::Expiring, &recipient),
            (Channel::Wechat, Some(b"openid".to_vec()))
        );
        assert_eq!(route(MessageKind::Code, &recipient), (Channel::Sms, None));
    }
}

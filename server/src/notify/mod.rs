//! Messages to customers: what is said on issue, redemption, before expiry, on reissue, when an
//! order of water is assigned, cancelled, delivered or not delivered, and for sign-in codes; which channel carries it ([`route`]); queued
//! in the store's outbox and delivered by the [`dispatch`]er through the channel's [`adapter`]
//! (SMS gateway, WeChat template messages, app push; SMS is written to the log until a gateway is
//! set).
//! A code is never stored in a message's text: the text masks it and the code is sealed
//! beside it until the message is sent or the code expires ([`code_message`]).
//!
//! **Architecture Invariant:** queuing happens in the same step as the change it reports (or
//! from a job with its own cursor), delivery never blocks a request, and a message is sent at
//! most once per dedupe key.

pub mod adapter;
pub mod channels;
pub mod dispatch;
pub mod gateway;
pub mod jobs;

use shuipiao_shared::ids::UserId;

use crate::config::MasterKey;
use crate::keys::seal::{self, UnsealError};
use crate::local_time;
use crate::store::models::{
    AuditEntry, Channel, MessageKind, NewNotification, Recipient, SealedSecret,
};
use crate::store::{Store, StoreError, StoreResult};

/// The sign-in or registration code.
pub fn code_text(code: &str, minutes: i64) -> String {
    format!("【水票】您的验证码是{code},{minutes}分钟内有效。请勿告诉他人。")
}

/// What a stored message holds in place of its secret: the outbox, the admin pages and every
/// list of messages only ever show this; the adapter puts the secret back to deliver.
pub const SECRET_MASK: &str = "******";

/// Subkey purpose for secrets in the outbox.
const SECRET_PURPOSE: &[u8] = b"shuipiao outbox secret v1";

/// The SMS carrying a sign-in or registration code that works until `expires_at`: its text
/// shows [`SECRET_MASK`], and the code travels beside it sealed ([`sealed_code_message`]).
pub fn code_message(
    master: &MasterKey,
    phone_sealed: Vec<u8>,
    code: &str,
    expires_at: i64,
    now: i64,
) -> NewNotification {
    let text = code_text(SECRET_MASK, (expires_at - now) / 60);
    sealed_code_message(
        master,
        None,
        phone_sealed,
        MessageKind::Code,
        text,
        code,
        expires_at,
    )
}

/// An SMS whose `text` holds [`SECRET_MASK`] where `code` goes: the code travels beside it
/// sealed, bound to the sealed phone number it goes to, so it opens only in that message, and
/// it is erased once the message is sent or `expires_at` passes.
pub fn sealed_code_message(
    master: &MasterKey,
    user: Option<UserId>,
    phone_sealed: Vec<u8>,
    kind: MessageKind,
    text: String,
    code: &str,
    expires_at: i64,
) -> NewNotification {
    let key = master.mac(SECRET_PURPOSE, b"");
    let secret = SealedSecret {
        sealed: seal::seal_bytes(&key, &phone_sealed, code.as_bytes()),
        expires_at,
    };
    NewNotification {
        secret: Some(secret),
        ..by_sms(user, phone_sealed, kind, text, None)
    }
}

/// The text to deliver: the stored text, with its secret (if it has one) opened in place of
/// [`SECRET_MASK`]. Only adapters call this, at the moment they send.
pub fn delivered_text(
    master: &MasterKey,
    message: &NewNotification,
) -> Result<String, UnsealError> {
    let Some(secret) = &message.secret else {
        return Ok(message.body.clone());
    };
    let key = master.mac(SECRET_PURPOSE, b"");
    let opened = seal::open_bytes(&key, &message.recipient_sealed, &secret.sealed)?;
    let opened = String::from_utf8(opened).map_err(|_| UnsealError)?;
    Ok(message.body.replacen(SECRET_MASK, &opened, 1))
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

/// An order of water was given to a courier: the day, the slot and who brings it.
pub fn order_assigned_text(order_id: i64, day: &str, slot: &str, courier: &str) -> String {
    let day = local_time::month_day(day);
    format!(
        "【水票】您的订水单 #{order_id} 已派单，送水员{courier}将于{day} {slot}送达，请保持电话畅通。"
    )
}

/// Staff cancelled an order of water: which order, its day and slot, and the reason they gave
/// (its own final full stop dropped, as the text adds one).
pub fn order_cancelled_text(order_id: i64, day: &str, slot: &str, reason: &str) -> String {
    let day = local_time::month_day(day);
    let reason = reason.trim_end_matches(['。', '.']);
    format!(
        "【水票】您的订水单 #{order_id}（{day} {slot}）已被水站取消：{reason}。如有疑问请联系客服。"
    )
}

/// The courier handed the water over: how many bottles, and the empty buckets taken back when
/// there were any.
pub fn order_delivered_text(order_id: i64, bottles: u16, empties: u16) -> String {
    if empties == 0 {
        format!("【水票】您的订水单 #{order_id} 已送达 {bottles} 桶。")
    } else {
        format!("【水票】您的订水单 #{order_id} 已送达 {bottles} 桶，收回空桶 {empties} 只。")
    }
}

/// The courier could not deliver: the order's day and slot and the reason the courier chose.
pub fn order_failed_text(order_id: i64, day: &str, slot: &str, reason: &str) -> String {
    let day = local_time::month_day(day);
    format!(
        "【水票】您的订水单 #{order_id}（{day} {slot}）未能送达：{reason}。请联系水站重新安排。"
    )
}

/// A lost book was replaced.
pub fn reissued_text(units: u16) -> String {
    format!("【水票】您挂失的水票已补发,新水票共{units}张,旧二维码已作废。")
}

/// A recurring order could not order for a day: which day, and why.
pub fn order_skipped_text(date: &str, slot: &str, reason: &str) -> String {
    format!("【水票】您的周期订水({date}{slot})未能下单:{reason}。请打开“我的水票”查看或修改。")
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
        secret: None,
    }
}

/// One message per user of `account_id` who has a phone number, each on its [`route`]; each
/// message's dedupe key is `dedupe` suffixed with the user id, so every user is told once.
pub async fn for_account(
    store: &Store,
    account_id: i64,
    kind: MessageKind,
    body: &str,
    dedupe: Option<&str>,
) -> StoreResult<Vec<NewNotification>> {
    Ok(store
        .recipients(account_id)
        .await?
        .into_iter()
        .map(|recipient| to_recipient(recipient, kind, body, dedupe))
        .collect())
}

/// One message to `recipient` on its [`route`]; its dedupe key is `dedupe` suffixed with the
/// user id, so every user is told once.
pub fn to_recipient(
    recipient: Recipient,
    kind: MessageKind,
    body: &str,
    dedupe: Option<&str>,
) -> NewNotification {
    let (channel, address_sealed) = route(kind, &recipient);
    NewNotification {
        user_id: Some(recipient.user_id),
        channel,
        recipient_sealed: recipient.phone_sealed,
        address_sealed,
        kind,
        body: body.to_string(),
        dedupe_key: dedupe.map(|key| format!("{key}:{}", recipient.user_id.0)),
        secret: None,
    }
}

/// Queues a message for the users of an account. Reporting is best effort: a failure is logged
/// and never undoes the change it reports.
pub async fn tell_account(
    store: &Store,
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
    fn a_code_is_stored_masked_and_opens_only_in_its_own_message() {
        let master = MasterKey::from_bytes([5; 32]);
        let message = code_message(&master, b"phone-a".to_vec(), "042917", 1_600, 1_000);
        assert_eq!(
            message.body,
            "【水票】您的验证码是******,10分钟内有效。请勿告诉他人。"
        );
        let secret = message.secret.as_ref().expect("the code travels sealed");
        assert_eq!(secret.expires_at, 1_600);
        assert!(!secret.sealed.windows(6).any(|w| w == b"042917"));
        assert_eq!(
            delivered_text(&master, &message).unwrap(),
            "【水票】您的验证码是042917,10分钟内有效。请勿告诉他人。"
        );
        let moved = NewNotification {
            recipient_sealed: b"phone-b".to_vec(),
            ..message.clone()
        };
        assert_eq!(delivered_text(&master, &moved), Err(UnsealError));
        let other = MasterKey::from_bytes([6; 32]);
        assert_eq!(delivered_text(&other, &message), Err(UnsealError));
        let plain = by_sms(
            None,
            b"p".to_vec(),
            MessageKind::Issued,
            "到账".into(),
            None,
        );
        assert_eq!(delivered_text(&master, &plain).unwrap(), "到账");
    }

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

/// Why a message was not queued again; the message is shown as is.
#[derive(Debug, thiserror::Error)]
pub enum ResendError {
    /// No such message.
    #[error("通知不存在")]
    Unknown,
    /// The message did not fail, its code has expired, or storage failed.
    #[error(transparent)]
    Store(StoreError),
}

/// Support (`actor`) queues message `id` again, due now, with the attempts reset. Only a failed
/// message (dead, or pending after a failed attempt) is resent, and a code message only while
/// its code still works: the store checks both in the same transaction as the write.
pub async fn resend(store: &Store, id: i64, actor: UserId, now: i64) -> Result<(), ResendError> {
    let audit = AuditEntry::new(
        Some(actor),
        "notification.resend",
        format!("notification:{id}"),
        serde_json::json!({}),
    );
    store
        .resend_notification(id, now, &audit)
        .await
        .map_err(|err| match err {
            StoreError::NotFound => ResendError::Unknown,
            other => ResendError::Store(other),
        })
}

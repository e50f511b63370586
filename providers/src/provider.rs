//! The one interface the server uses for any provider: create a payment, query, close, refund,
//! and read a notification into what happened.
//!
//! Everything here is in fen and in the plant's own words; the provider modules translate to
//! and from their protocols. A notification is only ever turned into an event after its
//! signature (and for WeChat Pay, its encryption) checked out.

use std::future::Future;

use time::OffsetDateTime;

use crate::alipay::AlipayError;
use crate::wechatpay::{ErrorCode, JsapiPayParams, ResourceError, SignatureError};

/// How the buyer will pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// WeChat Pay inside WeChat (公众号 JSAPI): needs the buyer's openid under the plant's AppID.
    WechatJsapi {
        /// The buyer's openid.
        openid: String,
    },
    /// WeChat Pay from a phone browser outside WeChat (H5).
    WechatH5 {
        /// The buyer's IP address, which WeChat Pay requires.
        payer_client_ip: String,
    },
    /// Alipay from a phone browser (`alipay.trade.wap.pay`).
    AlipayWap {
        /// Where Alipay sends the buyer back (only a hint: the notification decides).
        return_url: Option<String>,
    },
    /// Alipay from a desktop browser (`alipay.trade.page.pay`).
    AlipayPage {
        /// Where Alipay sends the buyer back.
        return_url: Option<String>,
    },
}

/// A payment to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePayment {
    /// The plant's order number, 6–32 of `[0-9A-Za-z_-]` (both providers accept that set).
    pub out_trade_no: String,
    /// Amount in fen, at least 1.
    pub amount_fen: u64,
    /// What is bought, shown to the buyer (WeChat `description`, Alipay `subject`).
    pub description: String,
    /// How the buyer pays.
    pub channel: Channel,
}

/// What the wallet needs to let the buyer pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentStart {
    /// Parameters for `WeixinJSBridge.invoke('getBrandWCPayRequest', …)`.
    Jsapi(JsapiPayParams),
    /// A URL to send the buyer's browser to (WeChat H5 cashier, Alipay cashier).
    Redirect(String),
}

/// A payment the provider confirms as paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmed {
    /// The plant's order number.
    pub out_trade_no: String,
    /// The provider's transaction number.
    pub transaction_id: String,
    /// What the order was paid for, in fen (the order total, not what a coupon left to pay).
    pub amount_fen: u64,
    /// When the buyer paid.
    pub paid_at: OffsetDateTime,
}

/// Where a payment stands, as a query answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Created, not (yet) paid.
    NotPaid,
    /// Paid; for WeChat Pay also after a refund started (the payment itself stays confirmed).
    Paid(Confirmed),
    /// Closed without payment, or (Alipay) fully refunded.
    Closed,
}

/// A refund to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// The paid order.
    pub out_trade_no: String,
    /// The plant's refund number; repeating it repeats the same refund, never a second one.
    pub out_refund_no: String,
    /// Amount to refund, fen.
    pub refund_fen: u64,
    /// The order's total, fen (WeChat Pay requires it).
    pub total_fen: u64,
    /// Reason shown to the buyer.
    pub reason: String,
}

/// Where a refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundState {
    /// Accepted, money not yet back.
    Processing,
    /// Money back with the buyer.
    Succeeded,
    /// Closed or abnormal: the plant must act.
    Failed,
}

/// A refund's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundOutcome {
    /// The paid order.
    pub out_trade_no: String,
    /// The plant's refund number.
    pub out_refund_no: String,
    /// Amount refunded, fen.
    pub refund_fen: u64,
    /// Where it stands.
    pub state: RefundState,
}

/// What a verified notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationEvent {
    /// The order is paid.
    Confirmed(Confirmed),
    /// A refund moved.
    Refund(RefundOutcome),
    /// The order was closed without payment.
    Closed {
        /// The plant's order number.
        out_trade_no: String,
    },
}

/// How the merchant must answer a notification so the provider stops (or keeps) retrying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationReply {
    /// HTTP status.
    pub status: u16,
    /// Content type of `body`.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

/// Why a provider operation or notification failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProviderError {
    /// Network failure, timeout or an answer that is not the protocol's.
    #[error("provider unreachable or answered outside its protocol: {0}")]
    Transport(String),
    /// An answer or notification whose signature does not check out.
    #[error("signature refused: {0}")]
    Signature(#[from] SignatureError),
    /// A WeChat Pay resource that does not decrypt.
    #[error("notification resource refused: {0}")]
    Resource(#[from] ResourceError),
    /// A notification (timestamp and nonce) already accepted once.
    #[error("notification replayed")]
    Replayed,
    /// Signed and well-formed but not for this merchant or application, or for another amount.
    #[error("notification is not for this merchant: {0}")]
    Mismatch(String),
    /// WeChat Pay refused the request with a documented code.
    #[error("WeChat Pay refused: {code:?} {message}")]
    Wechat {
        /// The error code.
        code: ErrorCode,
        /// WeChat Pay's message.
        message: String,
    },
    /// Alipay refused the request, or its answer or notification failed.
    #[error("Alipay: {0}")]
    Alipay(#[from] AlipayError),
    /// The request cannot be sent as given (amount 0, bad order number, wrong channel).
    #[error("invalid request: {0}")]
    Invalid(&'static str),
}

/// One payment provider, as the server's checkout uses it.
pub trait PaymentProvider: Send + Sync {
    /// Creates the provider's order and returns what the wallet needs to pay it.
    fn create_payment(
        &self,
        payment: &CreatePayment,
    ) -> impl Future<Output = Result<PaymentStart, ProviderError>> + Send;
    /// Asks the provider where an order stands (for a notification that never came).
    fn query(
        &self,
        out_trade_no: &str,
    ) -> impl Future<Output = Result<PaymentStatus, ProviderError>> + Send;
    /// Closes an unpaid order so it can no longer be paid.
    fn close(&self, out_trade_no: &str) -> impl Future<Output = Result<(), ProviderError>> + Send;
    /// Refunds (part of) a paid order.
    fn refund(
        &self,
        refund: &Refund,
    ) -> impl Future<Output = Result<RefundOutcome, ProviderError>> + Send;
    /// Verifies and reads one notification request (its headers and exact body).
    fn parse_notification(
        &self,
        headers: &axum::http::HeaderMap,
        body: &[u8],
    ) -> Result<NotificationEvent, ProviderError>;
    /// The answer to a notification: `handled` tells the provider to stop retrying.
    fn notification_reply(&self, handled: bool) -> NotificationReply;
}

/// Checks what both providers require of an order before any request is sent.
pub(crate) fn check_payment(payment: &CreatePayment) -> Result<(), ProviderError> {
    check_out_no(&payment.out_trade_no)?;
    if payment.amount_fen == 0 {
        return Err(ProviderError::Invalid("amount must be at least 1 fen"));
    }
    if payment.description.is_empty() || payment.description.chars().count() > 127 {
        return Err(ProviderError::Invalid(
            "description must be 1 to 127 characters",
        ));
    }
    Ok(())
}

/// 6–32 of `[0-9A-Za-z_-]`: what both providers accept for order and refund numbers.
pub(crate) fn check_out_no(no: &str) -> Result<(), ProviderError> {
    if !(6..=32).contains(&no.len())
        || !no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(ProviderError::Invalid(
            "order and refund numbers are 6 to 32 of 0-9 A-Z a-z _ -",
        ));
    }
    Ok(())
}

/// Seconds since the Unix epoch on this machine's clock.
pub(crate) fn now_secs() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// A random nonce of 32 upper-case hex characters (the documents' own example form).
pub(crate) fn nonce() -> String {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the system random source is available");
    data_encoding::HEXUPPER.encode(&bytes)
}

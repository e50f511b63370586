//! Shuipiao's payment providers: WeChat Pay API v3 and Alipay, implemented to their published
//! documents, both the merchant's side and (in [`sim`]) the provider's side, so that the
//! checkout can be tested end to end over loopback.
//!
//! [`PaymentProvider`] is what the server uses; amounts are integer fen everywhere ([`amount`]).
//! `docs/payments.md` lists every operation with the document it follows.

pub mod alipay;
pub mod amount;
pub mod keys;
pub mod provider;
pub mod sim;
pub mod wechatpay;

#[cfg(test)]
mod vectors;

pub use provider::{
    Channel, Confirmed, CreatePayment, NotificationEvent, NotificationReply, PaymentProvider,
    PaymentStart, PaymentStatus, ProviderError, Refund, RefundOutcome, RefundState,
};

//! WeChat Pay API v3 (微信支付 APIv3), direct merchant (直连商户) mode: both sides of its
//! signatures, notification decryption, JSAPI `paySign`, typed bodies and a client.

mod api;
mod bill;
mod client;
mod jsapi;
mod resource;
mod sign;

pub use api::*;
pub use bill::{BillRow, TradeBillFile, parse_trade_bill};
pub use client::{PRODUCTION_BASE_URL, WechatPay, WechatPayConfig};
pub use jsapi::{JsapiPayParams, pay_sign_message};
#[cfg(test)]
pub(crate) use resource::open;
pub use resource::{ALGORITHM, ApiV3Key, EncryptedResource, ResourceError, decrypt, encrypt};
pub use sign::{
    Authorization, MerchantSigner, PlatformVerifier, SCHEMA, SignatureError, SignedHeaders,
    TIMESTAMP_WINDOW_SECS, request_message, response_message,
};

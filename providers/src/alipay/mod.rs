//! Alipay (支付宝开放平台) with the public key mode (公钥模式) and RSA2 signatures: request
//! signing, answer and async notification verification, the cashier redirect of
//! `alipay.trade.wap.pay` / `alipay.trade.page.pay`, and `alipay.trade.query`, `.refund`,
//! `.close` over the gateway.

mod client;
mod sign;

use std::collections::BTreeMap;

use time::format_description::BorrowedFormatItem;
use time::macros::{format_description, offset};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

pub use client::{Alipay, AlipayConfig, PRODUCTION_GATEWAY};
pub use sign::{
    raw_member, sign_content, sign_params, verify_notification_params, verify_request_params,
};

/// 公共请求参数 `version`.
pub const VERSION: &str = "1.0";
/// `code` of a successful answer (接口调用成功).
pub const CODE_SUCCESS: &str = "10000";

/// Alipay's time format, `2014-07-24 03:07:50`, always Beijing time.
const TIME_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
/// Beijing time, in which every Alipay timestamp is written.
pub const BEIJING: UtcOffset = offset!(+8);

/// `2014-07-24 03:07:50` (Beijing) for an instant.
pub fn format_time(at: OffsetDateTime) -> String {
    at.to_offset(BEIJING)
        .format(TIME_FORMAT)
        .expect("a date with a four-digit year formats")
}

/// Reads `2014-07-24 03:07:50` as Beijing time.
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    PrimitiveDateTime::parse(text, TIME_FORMAT)
        .ok()
        .map(|t| t.assume_offset(BEIJING))
}

/// Why an Alipay request, answer or notification failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AlipayError {
    /// The answer or notification carries no `sign`.
    #[error("unsigned where a signature is required")]
    Unsigned,
    /// The signature does not verify with the Alipay public key.
    #[error("signature does not verify")]
    BadSignature,
    /// `sign_type` is not `RSA2` (RSA1 is SHA-1 and not accepted).
    #[error("sign_type {0:?} is not RSA2")]
    SignType(String),
    /// Alipay refused: `code` is the public code (`40004` 业务处理失败…), `sub_code` the
    /// business one (`ACQ.TRADE_NOT_EXIST`…).
    #[error("refused: {code} {msg} {sub_code:?} {sub_msg:?}")]
    Refused {
        /// 网关返回码.
        code: String,
        /// 网关返回码描述.
        msg: String,
        /// 业务返回码.
        sub_code: Option<String>,
        /// 业务返回码描述.
        sub_msg: Option<String>,
    },
    /// An answer or notification that is not what the document describes.
    #[error("malformed: {0}")]
    Malformed(String),
}

/// Documented `sub_code`s of the `alipay.trade.*` operations used here.
pub mod sub_code {
    /// 交易不存在.
    pub const TRADE_NOT_EXIST: &str = "ACQ.TRADE_NOT_EXIST";
    /// 交易已被支付 (closing a paid trade).
    pub const TRADE_HAS_SUCCESS: &str = "ACQ.TRADE_HAS_SUCCESS";
    /// 交易已经关闭.
    pub const TRADE_HAS_CLOSE: &str = "ACQ.TRADE_HAS_CLOSE";
    /// 交易状态不合法.
    pub const TRADE_STATUS_ERROR: &str = "ACQ.TRADE_STATUS_ERROR";
    /// 参数无效.
    pub const INVALID_PARAMETER: &str = "ACQ.INVALID_PARAMETER";
    /// 退款金额超限.
    pub const REFUND_AMT_NOT_EQUAL_TOTAL: &str = "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL";
    /// 卖家余额不足.
    pub const SELLER_BALANCE_NOT_ENOUGH: &str = "ACQ.SELLER_BALANCE_NOT_ENOUGH";
    /// 系统错误.
    pub const SYSTEM_ERROR: &str = "ACQ.SYSTEM_ERROR";
    /// 验签出错 (public code 40002).
    pub const INVALID_SIGNATURE: &str = "isv.invalid-signature";
    /// 无效的AppID参数 (public code 40002).
    pub const INVALID_APP_ID: &str = "isv.invalid-app-id";
}

/// 交易状态 (`trade_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeStatus {
    /// 交易创建，等待买家付款.
    WaitBuyerPay,
    /// 未付款交易超时关闭，或支付完成后全额退款.
    TradeClosed,
    /// 交易支付成功.
    TradeSuccess,
    /// 交易结束，不可退款.
    TradeFinished,
}

impl TradeStatus {
    /// Reads the documented values.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "WAIT_BUYER_PAY" => Self::WaitBuyerPay,
            "TRADE_CLOSED" => Self::TradeClosed,
            "TRADE_SUCCESS" => Self::TradeSuccess,
            "TRADE_FINISHED" => Self::TradeFinished,
            _ => return None,
        })
    }

    /// The documented value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WaitBuyerPay => "WAIT_BUYER_PAY",
            Self::TradeClosed => "TRADE_CLOSED",
            Self::TradeSuccess => "TRADE_SUCCESS",
            Self::TradeFinished => "TRADE_FINISHED",
        }
    }
}

/// Parameters as a sorted map (a form body or a query string).
pub type Params = BTreeMap<String, String>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_beijing_time_both_ways() {
        let at = parse_time("2019-08-15 15:56:24").unwrap();
        assert_eq!(at.unix_timestamp(), 1_565_855_784);
        assert_eq!(format_time(at), "2019-08-15 15:56:24");
        assert_eq!(parse_time("2019-08-15T15:56:24"), None);
    }

    #[test]
    fn trade_statuses_read_back() {
        for s in [
            TradeStatus::WaitBuyerPay,
            TradeStatus::TradeClosed,
            TradeStatus::TradeSuccess,
            TradeStatus::TradeFinished,
        ] {
            assert_eq!(TradeStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(TradeStatus::parse("PAID"), None);
    }
}

//! Typed bodies of the WeChat Pay API v3 operations used by the plant, and the documented error
//! codes. Field names are the documents' own; amounts are integer fen, as API v3 counts them.
//!
//! - JSAPI下单 `POST /v3/pay/transactions/jsapi` (<https://pay.weixin.qq.com/doc/v3/merchant/4012525167>)
//! - H5下单 `POST /v3/pay/transactions/h5` (<https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_3_1.shtml>)
//! - 商户订单号查询订单 `GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=…`
//!   (<https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_1_2.shtml>)
//! - 关闭订单 `POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close`, 204 (<https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_1_3.shtml>)
//! - 退款申请 `POST /v3/refund/domestic/refunds` (<https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_1_9.shtml>)
//! - 查询单笔退款 `GET /v3/refund/domestic/refunds/{out_refund_no}` (<https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_1_10.shtml>)
//! - 支付成功回调通知 / 退款结果回调通知 (<https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_1_5.shtml>,
//!   <https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_1_11.shtml>)
//! - 申请交易账单 `GET /v3/bill/tradebill?bill_date=…&bill_type=ALL` (<https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_1_6.shtml>)
//! - 错误码 (<https://pay.weixin.qq.com/wiki/doc/apiv3/wechatpay/wechatpay2_2.shtml>): non-2xx answers carry
//!   `{"code": "...", "message": "..."}`.

use serde::{Deserialize, Serialize};

use super::resource::EncryptedResource;

/// `amount` of a prepay request: total in fen, currency `"CNY"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderAmount {
    /// Total in fen.
    pub total: u64,
    /// `"CNY"`.
    pub currency: String,
}

/// `payer` of a JSAPI prepay: the buyer's openid under `appid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payer {
    /// 用户标识.
    pub openid: String,
}

/// The fields every prepay (下单) request body has, whatever the trade type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepayOrder {
    /// 公众号ID.
    pub appid: String,
    /// 直连商户号.
    pub mchid: String,
    /// 商品描述 (at most 127 characters).
    pub description: String,
    /// 商户订单号: 6–32 of `[0-9A-Za-z_*-]`.
    pub out_trade_no: String,
    /// Where WeChat Pay posts the payment notification.
    pub notify_url: String,
    /// 订单金额.
    pub amount: OrderAmount,
}

/// JSAPI下单 request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsapiPrepayRequest {
    /// The common fields.
    #[serde(flatten)]
    pub order: PrepayOrder,
    /// 支付者.
    pub payer: Payer,
}

/// `scene_info` of an H5 prepay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SceneInfo {
    /// The buyer's IP address as the merchant saw it.
    pub payer_client_ip: String,
    /// `{"type": "Wap"}`.
    pub h5_info: H5Info,
}

/// `scene_info.h5_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct H5Info {
    /// 场景类型: `iOS`, `Android` or `Wap`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// H5下单 request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct H5PrepayRequest {
    /// The common fields.
    #[serde(flatten)]
    pub order: PrepayOrder,
    /// 场景信息.
    pub scene_info: SceneInfo,
}

/// JSAPI下单 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepayResponse {
    /// 预支付交易会话标识, valid two hours.
    pub prepay_id: String,
}

/// H5下单 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct H5Response {
    /// The cashier page the buyer's browser is sent to (valid five minutes).
    pub h5_url: String,
}

/// 关闭订单 request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseRequest {
    /// 直连商户号.
    pub mchid: String,
}

/// 交易状态.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeState {
    /// 支付成功.
    Success,
    /// 转入退款.
    Refund,
    /// 未支付.
    Notpay,
    /// 已关闭.
    Closed,
    /// 已撤销 (付款码支付).
    Revoked,
    /// 用户支付中 (付款码支付).
    Userpaying,
    /// 支付失败.
    Payerror,
}

/// `amount` of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionAmount {
    /// 订单总金额, fen.
    pub total: u64,
    /// 用户支付金额, fen (present once paid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_total: Option<u64>,
    /// `"CNY"`.
    pub currency: String,
    /// 用户支付币种.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_currency: Option<String>,
}

/// A transaction: 查询订单 answer, and the plaintext of a `TRANSACTION.SUCCESS` notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// 公众号ID.
    pub appid: String,
    /// 直连商户号.
    pub mchid: String,
    /// 商户订单号.
    pub out_trade_no: String,
    /// 微信支付订单号 (present once WeChat Pay created a transaction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// 交易类型: `JSAPI`, `MWEB` (H5)….
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_type: Option<String>,
    /// 交易状态.
    pub trade_state: TradeState,
    /// 交易状态描述.
    pub trade_state_desc: String,
    /// 付款银行.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_type: Option<String>,
    /// 支付完成时间, RFC 3339 (`2018-06-08T10:34:56+08:00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<String>,
    /// 支付者.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<Payer>,
    /// 订单金额.
    pub amount: TransactionAmount,
}

/// `amount` of a refund request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequestAmount {
    /// 退款金额, fen.
    pub refund: u64,
    /// 原订单金额, fen.
    pub total: u64,
    /// `"CNY"`.
    pub currency: String,
}

/// 退款申请 request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    /// 商户订单号 of the paid order.
    pub out_trade_no: String,
    /// 商户退款单号, unique per merchant; repeating it repeats the same refund.
    pub out_refund_no: String,
    /// 退款原因, shown to the buyer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where the refund notification goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    /// 金额信息.
    pub amount: RefundRequestAmount,
}

/// 退款状态.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundStatus {
    /// 退款成功.
    Success,
    /// 退款关闭.
    Closed,
    /// 退款处理中.
    Processing,
    /// 退款异常.
    Abnormal,
}

/// `amount` of a refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundAmount {
    /// 订单金额, fen.
    pub total: u64,
    /// 退款金额, fen.
    pub refund: u64,
    /// 用户支付金额, fen.
    pub payer_total: u64,
    /// 用户退款金额, fen.
    pub payer_refund: u64,
    /// `"CNY"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// A refund: 退款申请 / 查询单笔退款 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// 微信支付退款单号.
    pub refund_id: String,
    /// 商户退款单号.
    pub out_refund_no: String,
    /// 微信支付订单号.
    pub transaction_id: String,
    /// 商户订单号.
    pub out_trade_no: String,
    /// 退款渠道: `ORIGINAL`, `BALANCE`….
    pub channel: String,
    /// 退款入账账户.
    pub user_received_account: String,
    /// 退款成功时间, RFC 3339, once successful.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<String>,
    /// 退款创建时间, RFC 3339.
    pub create_time: String,
    /// 退款状态.
    pub status: RefundStatus,
    /// 金额信息.
    pub amount: RefundAmount,
}

/// The plaintext of a `REFUND.SUCCESS` / `REFUND.ABNORMAL` / `REFUND.CLOSED` notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundNotice {
    /// 直连商户号.
    pub mchid: String,
    /// 商户订单号.
    pub out_trade_no: String,
    /// 微信支付订单号.
    pub transaction_id: String,
    /// 商户退款单号.
    pub out_refund_no: String,
    /// 微信支付退款单号.
    pub refund_id: String,
    /// 退款状态.
    pub refund_status: RefundStatus,
    /// 退款成功时间.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<String>,
    /// 退款入账账户.
    pub user_received_account: String,
    /// 金额信息.
    pub amount: RefundAmount,
}

/// A notification as posted to the merchant's `notify_url`; its `resource` is encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// 通知ID, the same across retries of one notification.
    pub id: String,
    /// 通知创建时间, RFC 3339.
    pub create_time: String,
    /// `TRANSACTION.SUCCESS`, `REFUND.SUCCESS`, `REFUND.ABNORMAL`, `REFUND.CLOSED`.
    pub event_type: String,
    /// `encrypt-resource`.
    pub resource_type: String,
    /// The encrypted object.
    pub resource: EncryptedResource,
    /// 回调摘要.
    pub summary: String,
}

/// 申请交易账单 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeBill {
    /// `SHA1`.
    pub hash_type: String,
    /// Hex SHA-1 of the bill file.
    pub hash_value: String,
    /// Where to GET the file (a signed request, like any other).
    pub download_url: String,
}

/// The body of every non-2xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error code, see [`ErrorCode`].
    pub code: String,
    /// A human-readable message (Chinese).
    pub message: String,
}

/// The documented error codes of the operations above, with their HTTP statuses in the
/// documents; a code not listed here is kept verbatim in [`ErrorCode::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    /// 400 参数错误.
    ParamError,
    /// 400 HTTP 请求不符合微信支付 APIv3 接口规则.
    InvalidRequest,
    /// 400 AppID和mch_id不匹配.
    AppidMchidNotMatch,
    /// 400 商户号不存在.
    MchNotExists,
    /// 400 订单已关闭.
    OrderClosed,
    /// 400 订单已支付 (closing or re-ordering a paid order).
    OrderPaid,
    /// 401 签名错误.
    SignError,
    /// 403 商户无权限.
    NoAuth,
    /// 403 商户订单号重复.
    OutTradeNoUsed,
    /// 403 业务规则限制.
    RuleLimit,
    /// 403 交易错误.
    TradeError,
    /// 403 余额不足 (refunds).
    NotEnough,
    /// 403 用户账户异常 (refunds).
    UserAccountAbnormal,
    /// 404 订单不存在.
    OrderNotExist,
    /// 404 请求的资源不存在 (refund queries).
    ResourceNotExists,
    /// 429 频率超限.
    FrequencyLimited,
    /// 500 系统错误.
    SystemError,
    /// 500 银行系统异常.
    BankError,
    /// Any other code, verbatim.
    Other(String),
}

impl ErrorCode {
    const TABLE: [(&'static str, ErrorCode); 18] = [
        ("PARAM_ERROR", ErrorCode::ParamError),
        ("INVALID_REQUEST", ErrorCode::InvalidRequest),
        ("APPID_MCHID_NOT_MATCH", ErrorCode::AppidMchidNotMatch),
        ("MCH_NOT_EXISTS", ErrorCode::MchNotExists),
        ("ORDER_CLOSED", ErrorCode::OrderClosed),
        ("ORDERPAID", ErrorCode::OrderPaid),
        ("SIGN_ERROR", ErrorCode::SignError),
        ("NO_AUTH", ErrorCode::NoAuth),
        ("OUT_TRADE_NO_USED", ErrorCode::OutTradeNoUsed),
        ("RULE_LIMIT", ErrorCode::RuleLimit),
        ("TRADE_ERROR", ErrorCode::TradeError),
        ("NOT_ENOUGH", ErrorCode::NotEnough),
        ("USER_ACCOUNT_ABNORMAL", ErrorCode::UserAccountAbnormal),
        ("ORDERNOTEXIST", ErrorCode::OrderNotExist),
        ("RESOURCE_NOT_EXISTS", ErrorCode::ResourceNotExists),
        ("FREQUENCY_LIMITED", ErrorCode::FrequencyLimited),
        ("SYSTEM_ERROR", ErrorCode::SystemError),
        ("BANK_ERROR", ErrorCode::BankError),
    ];

    /// The code as it appears in `ErrorBody::code`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Other(code) => code,
            known => Self::TABLE
                .iter()
                .find(|(_, c)| c == known)
                .map(|(s, _)| *s)
                .expect("every variant but Other is in the table"),
        }
    }

    /// Reads a code; unknown codes are kept.
    pub fn parse(code: &str) -> Self {
        Self::TABLE
            .iter()
            .find(|(s, _)| *s == code)
            .map_or_else(|| Self::Other(code.to_owned()), |(_, c)| c.clone())
    }

    /// The HTTP status the documents give this code.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::ParamError
            | Self::InvalidRequest
            | Self::AppidMchidNotMatch
            | Self::MchNotExists
            | Self::OrderClosed
            | Self::OrderPaid => 400,
            Self::SignError => 401,
            Self::NoAuth
            | Self::OutTradeNoUsed
            | Self::RuleLimit
            | Self::TradeError
            | Self::NotEnough
            | Self::UserAccountAbnormal => 403,
            Self::OrderNotExist | Self::ResourceNotExists => 404,
            Self::FrequencyLimited => 429,
            Self::SystemError | Self::BankError | Self::Other(_) => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepay_bodies_are_flat_as_the_documents_show_them() {
        let order = PrepayOrder {
            appid: "wxd678efh567hg6787".into(),
            mchid: "1230000109".into(),
            description: "Image形象店-深圳腾大-QQ公仔".into(),
            out_trade_no: "1217752501201407033233368018".into(),
            notify_url: "https://www.weixin.qq.com/wxpay/pay.php".into(),
            amount: OrderAmount {
                total: 100,
                currency: "CNY".into(),
            },
        };
        let jsapi = JsapiPrepayRequest {
            order: order.clone(),
            payer: Payer {
                openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&jsapi).unwrap(),
            serde_json::json!({
                "appid": "wxd678efh567hg6787", "mchid": "1230000109", "description": "Image形象店-深圳腾大-QQ公仔",
                "out_trade_no": "1217752501201407033233368018", "notify_url": "https://www.weixin.qq.com/wxpay/pay.php",
                "amount": {"total": 100, "currency": "CNY"}, "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
            })
        );
        let h5 = H5PrepayRequest {
            order,
            scene_info: SceneInfo {
                payer_client_ip: "14.23.150.211".into(),
                h5_info: H5Info { kind: "Wap".into() },
            },
        };
        let json = serde_json::to_value(&h5).unwrap();
        assert_eq!(
            json["scene_info"],
            serde_json::json!({"payer_client_ip": "14.23.150.211", "h5_info": {"type": "Wap"}})
        );
        assert_eq!(json["out_trade_no"], "1217752501201407033233368018");
    }

    #[test]
    fn every_error_code_reads_back_and_unknown_ones_are_kept() {
        for (text, code) in ErrorCode::TABLE {
            assert_eq!(ErrorCode::parse(text), code);
            assert_eq!(code.as_str(), text);
        }
        assert_eq!(
            ErrorCode::parse("NEW_CODE"),
            ErrorCode::Other("NEW_CODE".into())
        );
        assert_eq!(ErrorCode::SignError.http_status(), 401);
        assert_eq!(ErrorCode::OrderNotExist.http_status(), 404);
    }

    #[test]
    fn the_documented_query_answer_parses() {
        // A 查询订单 answer in the shape of the document's example, with fields this crate ignores.
        let json = r#"{"amount":{"currency":"CNY","payer_currency":"CNY","payer_total":1,"total":1},
            "appid":"wxdace645e0bc2cXXX","attach":"","bank_type":"OTHERS","mchid":"1900006XXX",
            "out_trade_no":"44_2126281063_5504","payer":{"openid":"o4GgauJP_mgWEWictzA15WT15XXX"},
            "promotion_detail":[],"success_time":"2021-03-22T10:29:05+08:00","trade_state":"SUCCESS",
            "trade_state_desc":"支付成功","trade_type":"JSAPI","transaction_id":"4200000891202103228088184743"}"#;
        let transaction: Transaction = serde_json::from_str(json).unwrap();
        assert_eq!(transaction.trade_state, TradeState::Success);
        assert_eq!(transaction.amount.total, 1);
    }
}

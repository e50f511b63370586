//! The merchant side of Alipay over its gateway: signed requests and redirects, verified answers
//! and verified async notifications.
//!
//! - 手机网站支付 `alipay.trade.wap.pay` (<https://docs.open.alipay.com/api_1/alipay.trade.wap.pay>)
//!   and 电脑网站支付 `alipay.trade.page.pay` (<https://docs.open.alipay.com/api_1/alipay.trade.page.pay>):
//!   a GET of the gateway with every parameter in the query string, which the buyer's browser follows.
//! - 统一收单交易查询 `alipay.trade.query` (<https://docs.open.alipay.com/api_1/alipay.trade.query>),
//!   统一收单交易退款 `alipay.trade.refund` (<https://docs.open.alipay.com/api_1/alipay.trade.refund>),
//!   统一收单交易关闭 `alipay.trade.close` (<https://docs.open.alipay.com/api_1/alipay.trade.close>):
//!   a form POST to the gateway, answered `{"<method>_response": {...}, "sign": "..."}`.
//! - 异步通知 (<https://docs.open.alipay.com/203/105286>): a form POST to `notify_url`,
//!   answered with the plain text `success`.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::sign::{raw_member, sign_params, verify_notification_params};
use super::{
    AlipayError, CODE_SUCCESS, Params, TradeStatus, VERSION, format_time, parse_time, sub_code,
};
use crate::amount::{fen_to_yuan, yuan_to_fen};
use crate::keys::{PrivateKey, PublicKey};
use crate::provider::{
    self, Channel, Confirmed, CreatePayment, NotificationEvent, NotificationReply, PaymentProvider,
    PaymentStart, PaymentStatus, ProviderError, Refund, RefundOutcome, RefundState,
};

/// The production gateway.
pub const PRODUCTION_GATEWAY: &str = "https://openapi.alipay.com/gateway.do";

/// What a merchant configures for Alipay.
#[derive(Debug)]
pub struct AlipayConfig {
    /// The gateway URL: [`PRODUCTION_GATEWAY`], or the simulator's.
    pub gateway: String,
    /// The application's AppID.
    pub app_id: String,
    /// The application private key (应用私钥).
    pub app_key: PrivateKey,
    /// The Alipay public key (支付宝公钥) shown in the open platform console.
    pub alipay_public_key: PublicKey,
    /// Where async notifications go.
    pub notify_url: String,
}

/// An Alipay client for one application.
#[derive(Debug)]
pub struct Alipay {
    config: AlipayConfig,
    http: reqwest::Client,
}

impl Alipay {
    /// A client over `http` (whose TLS setup is the caller's).
    pub fn new(config: AlipayConfig, http: reqwest::Client) -> Self {
        Self { config, http }
    }

    /// The application's configuration.
    pub fn config(&self) -> &AlipayConfig {
        &self.config
    }

    /// 公共请求参数 plus `biz_content`, signed.
    fn signed_params(&self, method: &str, biz_content: &Value, extra: &[(&str, &str)]) -> Params {
        let mut params: Params = [
            ("app_id", self.config.app_id.as_str()),
            ("method", method),
            ("format", "JSON"),
            ("charset", "utf-8"),
            ("sign_type", "RSA2"),
            ("version", VERSION),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        params.insert("timestamp".into(), format_time(OffsetDateTime::now_utc()));
        params.insert("biz_content".into(), biz_content.to_string());
        let sign = sign_params(&self.config.app_key, &params);
        params.insert("sign".into(), sign);
        params
    }

    /// The cashier URL of `alipay.trade.wap.pay` (`wap`) or `alipay.trade.page.pay`.
    pub fn pay_url(
        &self,
        wap: bool,
        out_trade_no: &str,
        amount_fen: u64,
        subject: &str,
        return_url: Option<&str>,
    ) -> String {
        let (method, product_code) = if wap {
            ("alipay.trade.wap.pay", "QUICK_WAP_WAY")
        } else {
            ("alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY")
        };
        let biz = json!({
            "out_trade_no": out_trade_no,
            "total_amount": fen_to_yuan(amount_fen),
            "subject": subject,
            "product_code": product_code,
        });
        let mut extra = vec![("notify_url", self.config.notify_url.as_str())];
        if let Some(url) = return_url {
            extra.push(("return_url", url));
        }
        let params = self.signed_params(method, &biz, &extra);
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        format!("{}?{query}", self.config.gateway)
    }

    /// Calls one gateway method and returns its verified `<method>_response` object (code 10000).
    pub async fn execute(
        &self,
        method: &str,
        biz_content: &Value,
        extra: &[(&str, &str)],
    ) -> Result<Value, ProviderError> {
        let params = self.signed_params(method, biz_content, extra);
        let form = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        let response = self
            .http
            .post(&self.config.gateway)
            .header(
                "Content-Type",
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(form)
            .send()
            .await
            .map_err(|e| ProviderError::Transport(e.to_string()))?;
        let body = response
            .text()
            .await
            .map_err(|e| ProviderError::Transport(e.to_string()))?;
        Ok(verify_answer(
            &self.config.alipay_public_key,
            method,
            &body,
        )?)
    }

    /// `alipay.trade.query` by the plant's order number.
    pub async fn trade_query(&self, out_trade_no: &str) -> Result<Value, ProviderError> {
        provider::check_out_no(out_trade_no)?;
        self.execute(
            "alipay.trade.query",
            &json!({ "out_trade_no": out_trade_no }),
            &[],
        )
        .await
    }

    /// `alipay.trade.close`.
    pub async fn trade_close(&self, out_trade_no: &str) -> Result<Value, ProviderError> {
        provider::check_out_no(out_trade_no)?;
        self.execute(
            "alipay.trade.close",
            &json!({ "out_trade_no": out_trade_no }),
            &[],
        )
        .await
    }

    /// `alipay.trade.refund`; `out_request_no` makes a partial refund repeatable.
    pub async fn trade_refund(&self, refund: &Refund) -> Result<Value, ProviderError> {
        provider::check_out_no(&refund.out_trade_no)?;
        provider::check_out_no(&refund.out_refund_no)?;
        let biz = json!({
            "out_trade_no": refund.out_trade_no,
            "refund_amount": fen_to_yuan(refund.refund_fen),
            "out_request_no": refund.out_refund_no,
            "refund_reason": refund.reason,
        });
        self.execute("alipay.trade.refund", &biz, &[]).await
    }

    /// Verifies an async notification (the form body as received) and reads what it says.
    pub fn verify_notification(
        &self,
        form_body: &[u8],
    ) -> Result<NotificationEvent, ProviderError> {
        let mut params = Params::new();
        for (k, v) in url::form_urlencoded::parse(form_body) {
            if params.insert(k.into_owned(), v.into_owned()).is_some() {
                return Err(AlipayError::Malformed("a parameter appears twice".into()).into());
            }
        }
        self.verify_notification_params(&params)
    }

    /// [`Self::verify_notification`] on already-decoded parameters.
    pub fn verify_notification_params(
        &self,
        params: &Params,
    ) -> Result<NotificationEvent, ProviderError> {
        if !params.contains_key("sign") {
            return Err(AlipayError::Unsigned.into());
        }
        if let Some(kind) = params.get("sign_type").filter(|t| *t != "RSA2") {
            return Err(AlipayError::SignType(kind.clone()).into());
        }
        if !verify_notification_params(&self.config.alipay_public_key, params) {
            return Err(AlipayError::BadSignature.into());
        }
        let field = |name: &str| {
            params
                .get(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| AlipayError::Malformed(format!("no {name}")))
        };
        if field("app_id")? != &self.config.app_id {
            return Err(ProviderError::Mismatch(format!(
                "app_id {:?}",
                params["app_id"]
            )));
        }
        let out_trade_no = field("out_trade_no")?.clone();
        let status = TradeStatus::parse(field("trade_status")?)
            .ok_or_else(|| AlipayError::Malformed("unknown trade_status".into()))?;
        let fen = |name: &str| -> Result<u64, AlipayError> {
            yuan_to_fen(field(name)?)
                .ok_or_else(|| AlipayError::Malformed(format!("{name} is not an amount")))
        };
        if let (Some(out_biz_no), Some(_)) = (params.get("out_biz_no"), params.get("refund_fee")) {
            return Ok(NotificationEvent::Refund(RefundOutcome {
                out_trade_no,
                out_refund_no: out_biz_no.clone(),
                refund_fen: fen("refund_fee")?,
                state: RefundState::Succeeded,
            }));
        }
        match status {
            TradeStatus::TradeSuccess | TradeStatus::TradeFinished => {
                Ok(NotificationEvent::Confirmed(Confirmed {
                    out_trade_no,
                    transaction_id: field("trade_no")?.clone(),
                    amount_fen: fen("total_amount")?,
                    paid_at: parse_time(field("gmt_payment")?)
                        .ok_or_else(|| AlipayError::Malformed("gmt_payment".into()))?,
                }))
            }
            TradeStatus::TradeClosed => Ok(NotificationEvent::Closed { out_trade_no }),
            TradeStatus::WaitBuyerPay => {
                Err(AlipayError::Malformed("WAIT_BUYER_PAY is not notified".into()).into())
            }
        }
    }
}

/// Verifies a gateway answer and returns its `<method>_response` object when its code is 10000.
///
/// A success must be signed; a refusal is checked when signed (Alipay leaves some refusals,
/// such as a bad request signature, unsigned: they are reported, never trusted as facts).
pub fn verify_answer(
    alipay_public_key: &PublicKey,
    method: &str,
    body: &str,
) -> Result<Value, AlipayError> {
    let node_name = format!("{}_response", method.replace('.', "_"));
    let raw = raw_member(body, &node_name)
        .or_else(|| raw_member(body, "error_response"))
        .ok_or_else(|| AlipayError::Malformed(format!("no {node_name} in the answer")))?;
    let sign = match raw_member(body, "sign") {
        Some(text) => Some(
            serde_json::from_str::<String>(text)
                .map_err(|_| AlipayError::Malformed("sign is not a string".into()))?,
        ),
        None => None,
    };
    if let Some(sign) = &sign
        && !alipay_public_key.verify_base64(raw.as_bytes(), sign)
    {
        return Err(AlipayError::BadSignature);
    }
    let node: Value =
        serde_json::from_str(raw).map_err(|e| AlipayError::Malformed(e.to_string()))?;
    let text = |name: &str| node.get(name).and_then(Value::as_str).map(str::to_owned);
    let code = text("code").ok_or_else(|| AlipayError::Malformed("no code".into()))?;
    if code != CODE_SUCCESS {
        return Err(AlipayError::Refused {
            code,
            msg: text("msg").unwrap_or_default(),
            sub_code: text("sub_code"),
            sub_msg: text("sub_msg"),
        });
    }
    if sign.is_none() {
        return Err(AlipayError::Unsigned);
    }
    Ok(node)
}

fn refused_with(error: &ProviderError, sub: &str) -> bool {
    matches!(error, ProviderError::Alipay(AlipayError::Refused { sub_code: Some(s), .. }) if s == sub)
}

impl PaymentProvider for Alipay {
    async fn create_payment(&self, payment: &CreatePayment) -> Result<PaymentStart, ProviderError> {
        provider::check_payment(payment)?;
        let (wap, return_url) = match &payment.channel {
            Channel::AlipayWap { return_url } => (true, return_url),
            Channel::AlipayPage { return_url } => (false, return_url),
            Channel::WechatJsapi { .. } | Channel::WechatH5 { .. } => {
                return Err(ProviderError::Invalid(
                    "a WeChat Pay channel sent to Alipay",
                ));
            }
        };
        Ok(PaymentStart::Redirect(self.pay_url(
            wap,
            &payment.out_trade_no,
            payment.amount_fen,
            &payment.description,
            return_url.as_deref(),
        )))
    }

    async fn query(&self, out_trade_no: &str) -> Result<PaymentStatus, ProviderError> {
        let node = match self.trade_query(out_trade_no).await {
            Ok(node) => node,
            // A cashier trade exists at Alipay only once the buyer opened the cashier page: until
            // then the documented answer is TRADE_NOT_EXIST, which means "not paid".
            Err(e) if refused_with(&e, sub_code::TRADE_NOT_EXIST) => {
                return Ok(PaymentStatus::NotPaid);
            }
            Err(e) => return Err(e),
        };
        let text = |name: &str| {
            node.get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| AlipayError::Malformed(format!("no {name}")))
        };
        let status = TradeStatus::parse(text("trade_status")?)
            .ok_or_else(|| AlipayError::Malformed("unknown trade_status".into()))?;
        Ok(match status {
            TradeStatus::WaitBuyerPay => PaymentStatus::NotPaid,
            TradeStatus::TradeClosed => PaymentStatus::Closed,
            TradeStatus::TradeSuccess | TradeStatus::TradeFinished => {
                PaymentStatus::Paid(Confirmed {
                    out_trade_no: text("out_trade_no")?.to_owned(),
                    transaction_id: text("trade_no")?.to_owned(),
                    amount_fen: yuan_to_fen(text("total_amount")?)
                        .ok_or_else(|| AlipayError::Malformed("total_amount".into()))?,
                    paid_at: parse_time(text("send_pay_date")?)
                        .ok_or_else(|| AlipayError::Malformed("send_pay_date".into()))?,
                })
            }
        })
    }

    async fn close(&self, out_trade_no: &str) -> Result<(), ProviderError> {
        self.trade_close(out_trade_no).await.map(|_| ())
    }

    async fn refund(&self, refund: &Refund) -> Result<RefundOutcome, ProviderError> {
        let node = self.trade_refund(refund).await?;
        // fund_change "Y": this call moved the money. "N": nothing moved now (a repeated
        // out_request_no, or still in progress): the document says to query before concluding.
        let state = if node.get("fund_change").and_then(Value::as_str) == Some("Y") {
            RefundState::Succeeded
        } else {
            RefundState::Processing
        };
        Ok(RefundOutcome {
            out_trade_no: refund.out_trade_no.clone(),
            out_refund_no: refund.out_refund_no.clone(),
            refund_fen: refund.refund_fen,
            state,
        })
    }

    fn parse_notification(
        &self,
        _headers: &axum::http::HeaderMap,
        body: &[u8],
    ) -> Result<NotificationEvent, ProviderError> {
        self.verify_notification(body)
    }

    /// The document: answer the plain text `success`; anything else and Alipay retries (over
    /// about 25 hours).
    fn notification_reply(&self, handled: bool) -> NotificationReply {
        NotificationReply {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: if handled { "success" } else { "failure" }.into(),
        }
    }
}

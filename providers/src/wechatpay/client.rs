//! The merchant side of WeChat Pay API v3 over HTTP: signed requests, verified answers,
//! verified and decrypted notifications.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::api::{
    CloseRequest, ErrorBody, ErrorCode, H5Info, H5PrepayRequest, H5Response, JsapiPrepayRequest,
    Notification, OrderAmount, Payer, PrepayOrder, PrepayResponse, Refund as WxRefund,
    RefundNotice, RefundRequest, RefundRequestAmount, RefundStatus, SceneInfo, TradeBill,
    TradeState, Transaction,
};
use super::jsapi::JsapiPayParams;
use super::resource::{self, ApiV3Key};
use super::sign::{MerchantSigner, PlatformVerifier, SignedHeaders, TIMESTAMP_WINDOW_SECS};
use crate::provider::{
    self, Channel, Confirmed, CreatePayment, NotificationEvent, NotificationReply, PaymentProvider,
    PaymentStart, PaymentStatus, ProviderError, Refund, RefundOutcome, RefundState,
};

/// The production API host.
pub const PRODUCTION_BASE_URL: &str = "https://api.mch.weixin.qq.com";

/// What a merchant configures for WeChat Pay.
#[derive(Debug)]
pub struct WechatPayConfig {
    /// `https://api.mch.weixin.qq.com` in production, the simulator's address in tests.
    pub base_url: String,
    /// 公众号 AppID the buyers pay under.
    pub appid: String,
    /// Merchant number, certificate serial and API key.
    pub signer: MerchantSigner,
    /// Trusted platform keys.
    pub platform: PlatformVerifier,
    /// APIv3 key, decrypts notification resources.
    pub api_v3_key: ApiV3Key,
    /// Where payment and refund notifications go.
    pub notify_url: String,
}

/// A WeChat Pay API v3 client for one merchant.
#[derive(Debug)]
pub struct WechatPay {
    config: WechatPayConfig,
    http: reqwest::Client,
    /// Nonces of notifications accepted within the timestamp window, to refuse replays.
    seen: Mutex<HashMap<String, i64>>,
}

impl WechatPay {
    /// A client over `http` (whose TLS setup is the caller's: the simulator needs none).
    pub fn new(config: WechatPayConfig, http: reqwest::Client) -> Self {
        Self {
            config,
            http,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// The merchant's configuration.
    pub fn config(&self) -> &WechatPayConfig {
        &self.config
    }

    /// Sends one signed request and verifies the signed answer; `Ok(None)` for 204.
    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<String>,
    ) -> Result<Option<T>, ProviderError> {
        let body = body.unwrap_or_default();
        let timestamp = provider::now_secs();
        let authorization = self.config.signer.authorization(
            method.as_str(),
            path_and_query,
            timestamp,
            &provider::nonce(),
            &body,
        );
        let mut request = self
            .http
            .request(method, format!("{}{path_and_query}", self.config.base_url))
            .header("Authorization", authorization)
            .header("Accept", "application/json");
        if !body.is_empty() {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ProviderError::Transport(e.to_string()))?;
        let status = response.status();
        let headers = SignedHeaders::from_headers(response.headers());
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ProviderError::Transport(e.to_string()))?;
        self.config
            .platform
            .verify(&headers?, &bytes, provider::now_secs())?;
        if status.is_success() {
            if status == reqwest::StatusCode::NO_CONTENT {
                return Ok(None);
            }
            return serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| ProviderError::Transport(format!("answer body: {e}")));
        }
        let error: ErrorBody = serde_json::from_slice(&bytes)
            .map_err(|e| ProviderError::Transport(format!("HTTP {status}: {e}")))?;
        Err(ProviderError::Wechat {
            code: ErrorCode::parse(&error.code),
            message: error.message,
        })
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Option<T>, ProviderError> {
        let json = serde_json::to_string(body)
            .expect("request bodies are plain structs that always serialise");
        self.call(reqwest::Method::POST, path, Some(json)).await
    }

    fn order(&self, out_trade_no: &str, amount_fen: u64, description: &str) -> PrepayOrder {
        PrepayOrder {
            appid: self.config.appid.clone(),
            mchid: self.config.signer.mchid.clone(),
            description: description.to_owned(),
            out_trade_no: out_trade_no.to_owned(),
            notify_url: self.config.notify_url.clone(),
            amount: OrderAmount {
                total: amount_fen,
                currency: "CNY".into(),
            },
        }
    }

    /// JSAPI下单.
    pub async fn jsapi_prepay(
        &self,
        out_trade_no: &str,
        amount_fen: u64,
        description: &str,
        openid: &str,
    ) -> Result<PrepayResponse, ProviderError> {
        let request = JsapiPrepayRequest {
            order: self.order(out_trade_no, amount_fen, description),
            payer: Payer {
                openid: openid.to_owned(),
            },
        };
        self.post("/v3/pay/transactions/jsapi", &request)
            .await?
            .ok_or_else(empty)
    }

    /// H5下单.
    pub async fn h5_prepay(
        &self,
        out_trade_no: &str,
        amount_fen: u64,
        description: &str,
        payer_client_ip: &str,
    ) -> Result<H5Response, ProviderError> {
        let scene_info = SceneInfo {
            payer_client_ip: payer_client_ip.to_owned(),
            h5_info: H5Info { kind: "Wap".into() },
        };
        let request = H5PrepayRequest {
            order: self.order(out_trade_no, amount_fen, description),
            scene_info,
        };
        self.post("/v3/pay/transactions/h5", &request)
            .await?
            .ok_or_else(empty)
    }

    /// The `getBrandWCPayRequest` parameters for a prepay id, signed now.
    pub fn jsapi_pay_params(&self, prepay_id: &str) -> JsapiPayParams {
        JsapiPayParams::sign(
            &self.config.signer.key,
            &self.config.appid,
            prepay_id,
            provider::now_secs(),
            &provider::nonce(),
        )
    }

    /// 商户订单号查询订单.
    pub async fn query_by_out_trade_no(
        &self,
        out_trade_no: &str,
    ) -> Result<Transaction, ProviderError> {
        provider::check_out_no(out_trade_no)?;
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={}",
            self.config.signer.mchid
        );
        self.call(reqwest::Method::GET, &path, None)
            .await?
            .ok_or_else(empty)
    }

    /// 关闭订单.
    pub async fn close_order(&self, out_trade_no: &str) -> Result<(), ProviderError> {
        provider::check_out_no(out_trade_no)?;
        let request = CloseRequest {
            mchid: self.config.signer.mchid.clone(),
        };
        self.post::<_, serde_json::Value>(
            &format!("/v3/pay/transactions/out-trade-no/{out_trade_no}/close"),
            &request,
        )
        .await?;
        Ok(())
    }

    /// 退款申请.
    pub async fn create_refund(&self, refund: &Refund) -> Result<WxRefund, ProviderError> {
        provider::check_out_no(&refund.out_trade_no)?;
        provider::check_out_no(&refund.out_refund_no)?;
        let request = RefundRequest {
            out_trade_no: refund.out_trade_no.clone(),
            out_refund_no: refund.out_refund_no.clone(),
            reason: Some(refund.reason.clone()).filter(|r| !r.is_empty()),
            notify_url: Some(self.config.notify_url.clone()),
            amount: RefundRequestAmount {
                refund: refund.refund_fen,
                total: refund.total_fen,
                currency: "CNY".into(),
            },
        };
        self.post("/v3/refund/domestic/refunds", &request)
            .await?
            .ok_or_else(empty)
    }

    /// 查询单笔退款.
    pub async fn query_refund(&self, out_refund_no: &str) -> Result<WxRefund, ProviderError> {
        provider::check_out_no(out_refund_no)?;
        self.call(
            reqwest::Method::GET,
            &format!("/v3/refund/domestic/refunds/{out_refund_no}"),
            None,
        )
        .await?
        .ok_or_else(empty)
    }

    /// 申请交易账单 for one day (`YYYY-MM-DD`), all transactions.
    pub async fn trade_bill(&self, bill_date: &str) -> Result<TradeBill, ProviderError> {
        let valid = bill_date.len() == 10
            && bill_date.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if !valid {
            return Err(ProviderError::Invalid("bill date must be YYYY-MM-DD"));
        }
        self.call(
            reqwest::Method::GET,
            &format!("/v3/bill/tradebill?bill_date={bill_date}&bill_type=ALL"),
            None,
        )
        .await?
        .ok_or_else(empty)
    }

    /// 下载账单: a signed GET of `download_url`. The file answer is not signed; its SHA-1 must
    /// match the `hash_value` the (signed) 申请交易账单 answer gave.
    pub async fn download_bill(&self, bill: &TradeBill) -> Result<Vec<u8>, ProviderError> {
        let path = bill
            .download_url
            .strip_prefix(&self.config.base_url)
            .filter(|p| p.starts_with('/'))
            .ok_or(ProviderError::Mismatch(
                "bill download URL is not on the API host".into(),
            ))?;
        let timestamp = provider::now_secs();
        let authorization =
            self.config
                .signer
                .authorization("GET", path, timestamp, &provider::nonce(), "");
        let response = self
            .http
            .get(&bill.download_url)
            .header("Authorization", authorization)
            .send()
            .await
            .map_err(|e| ProviderError::Transport(e.to_string()))?;
        if !response.status().is_success() {
            return Err(ProviderError::Transport(format!(
                "bill download: HTTP {}",
                response.status()
            )));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ProviderError::Transport(e.to_string()))?;
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &bytes);
        if bill.hash_type != "SHA1"
            || !data_encoding::HEXLOWER
                .encode(digest.as_ref())
                .eq_ignore_ascii_case(&bill.hash_value)
        {
            return Err(ProviderError::Mismatch(
                "bill file does not match its SHA1 hash".into(),
            ));
        }
        Ok(bytes.to_vec())
    }

    /// Verifies one notification at time `now` (signature, window, replay), decrypts its
    /// resource and checks it is for this merchant.
    pub fn verify_notification(
        &self,
        headers: &axum::http::HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<NotificationEvent, ProviderError> {
        let signed = SignedHeaders::from_headers(headers)?;
        self.config.platform.verify(&signed, body, now)?;
        {
            let mut seen = self
                .seen
                .lock()
                .expect("the nonce map is never left poisoned: no code panics while holding it");
            seen.retain(|_, at| now.abs_diff(*at) <= TIMESTAMP_WINDOW_SECS.unsigned_abs());
            if seen.insert(signed.nonce.clone(), now).is_some() {
                return Err(ProviderError::Replayed);
            }
        }
        let notification: Notification = serde_json::from_slice(body)
            .map_err(|e| ProviderError::Transport(format!("notification body: {e}")))?;
        let plaintext = resource::decrypt(&self.config.api_v3_key, &notification.resource)?;
        let malformed =
            |e: serde_json::Error| ProviderError::Transport(format!("notification resource: {e}"));
        match notification.event_type.as_str() {
            "TRANSACTION.SUCCESS" => {
                let transaction: Transaction =
                    serde_json::from_slice(&plaintext).map_err(malformed)?;
                self.check_merchant(&transaction.mchid, Some(&transaction.appid))?;
                confirmed(&transaction)?
                    .map(NotificationEvent::Confirmed)
                    .ok_or(ProviderError::Mismatch(
                        "TRANSACTION.SUCCESS for an unpaid order".into(),
                    ))
            }
            "REFUND.SUCCESS" | "REFUND.ABNORMAL" | "REFUND.CLOSED" => {
                let notice: RefundNotice = serde_json::from_slice(&plaintext).map_err(malformed)?;
                self.check_merchant(&notice.mchid, None)?;
                Ok(NotificationEvent::Refund(RefundOutcome {
                    out_trade_no: notice.out_trade_no,
                    out_refund_no: notice.out_refund_no,
                    refund_fen: notice.amount.refund,
                    state: refund_state(notice.refund_status),
                }))
            }
            other => Err(ProviderError::Transport(format!(
                "unknown notification event {other:?}"
            ))),
        }
    }

    fn check_merchant(&self, mchid: &str, appid: Option<&str>) -> Result<(), ProviderError> {
        if mchid != self.config.signer.mchid || appid.is_some_and(|a| a != self.config.appid) {
            return Err(ProviderError::Mismatch(format!("mchid {mchid:?}")));
        }
        Ok(())
    }
}

fn empty() -> ProviderError {
    ProviderError::Transport("an answer without a body where one is documented".into())
}

fn refund_state(status: RefundStatus) -> RefundState {
    match status {
        RefundStatus::Success => RefundState::Succeeded,
        RefundStatus::Processing => RefundState::Processing,
        RefundStatus::Closed | RefundStatus::Abnormal => RefundState::Failed,
    }
}

/// A paid transaction as [`Confirmed`]; `None` when it is not (or no longer) a payment.
fn confirmed(transaction: &Transaction) -> Result<Option<Confirmed>, ProviderError> {
    if !matches!(
        transaction.trade_state,
        TradeState::Success | TradeState::Refund
    ) {
        return Ok(None);
    }
    let missing = |what: &str| ProviderError::Transport(format!("paid transaction without {what}"));
    let paid_at = transaction
        .success_time
        .as_deref()
        .ok_or_else(|| missing("success_time"))?;
    Ok(Some(Confirmed {
        out_trade_no: transaction.out_trade_no.clone(),
        transaction_id: transaction
            .transaction_id
            .clone()
            .ok_or_else(|| missing("transaction_id"))?,
        amount_fen: transaction.amount.total,
        paid_at: OffsetDateTime::parse(paid_at, &Rfc3339)
            .map_err(|_| missing("a valid success_time"))?,
    }))
}

impl PaymentProvider for WechatPay {
    async fn create_payment(&self, payment: &CreatePayment) -> Result<PaymentStart, ProviderError> {
        provider::check_payment(payment)?;
        let CreatePayment {
            out_trade_no,
            amount_fen,
            description,
            channel,
        } = payment;
        match channel {
            Channel::WechatJsapi { openid } => {
                let prepay = self
                    .jsapi_prepay(out_trade_no, *amount_fen, description, openid)
                    .await?;
                Ok(PaymentStart::Jsapi(
                    self.jsapi_pay_params(&prepay.prepay_id),
                ))
            }
            Channel::WechatH5 { payer_client_ip } => Ok(PaymentStart::Redirect(
                self.h5_prepay(out_trade_no, *amount_fen, description, payer_client_ip)
                    .await?
                    .h5_url,
            )),
            Channel::AlipayWap { .. } | Channel::AlipayPage { .. } => Err(ProviderError::Invalid(
                "an Alipay channel sent to WeChat Pay",
            )),
        }
    }

    async fn query(&self, out_trade_no: &str) -> Result<PaymentStatus, ProviderError> {
        let transaction = self.query_by_out_trade_no(out_trade_no).await?;
        self.check_merchant(&transaction.mchid, Some(&transaction.appid))?;
        Ok(match transaction.trade_state {
            TradeState::Closed | TradeState::Revoked | TradeState::Payerror => {
                PaymentStatus::Closed
            }
            TradeState::Notpay | TradeState::Userpaying => PaymentStatus::NotPaid,
            TradeState::Success | TradeState::Refund => {
                PaymentStatus::Paid(confirmed(&transaction)?.ok_or_else(empty)?)
            }
        })
    }

    async fn close(&self, out_trade_no: &str) -> Result<(), ProviderError> {
        self.close_order(out_trade_no).await
    }

    async fn refund(&self, refund: &Refund) -> Result<RefundOutcome, ProviderError> {
        let answer = self.create_refund(refund).await?;
        Ok(RefundOutcome {
            out_trade_no: answer.out_trade_no,
            out_refund_no: answer.out_refund_no,
            refund_fen: answer.amount.refund,
            state: refund_state(answer.status),
        })
    }

    fn parse_notification(
        &self,
        headers: &axum::http::HeaderMap,
        body: &[u8],
    ) -> Result<NotificationEvent, ProviderError> {
        self.verify_notification(headers, body, provider::now_secs())
    }

    /// 回调应答: success is HTTP 200 or 204 with no body; failure a 4xx/5xx with
    /// `{"code":"FAIL","message":"失败"}`, and WeChat Pay retries.
    fn notification_reply(&self, handled: bool) -> NotificationReply {
        if handled {
            NotificationReply {
                status: 204,
                content_type: "application/json",
                body: String::new(),
            }
        } else {
            NotificationReply {
                status: 500,
                content_type: "application/json",
                body: r#"{"code":"FAIL","message":"失败"}"#.into(),
            }
        }
    }
}

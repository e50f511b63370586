//! The simulator's WeChat Pay API v3: signed requests in, signed answers and encrypted,
//! signed notifications out, and the trade bill.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{OrderState, Outgoing, Provider, Shared, SimOrder, SimRefund, random_alnum};
use crate::alipay::BEIJING;
use crate::amount::fen_to_yuan;
use crate::provider::{nonce, now_secs};
use crate::wechatpay::PrepayOrder;
use crate::wechatpay::{
    Authorization, ErrorBody, ErrorCode, H5PrepayRequest, H5Response, JsapiPrepayRequest,
    Notification, Payer, PrepayResponse, Refund, RefundAmount, RefundNotice, RefundRequest,
    RefundStatus, SignedHeaders, TradeBill, TradeState, Transaction, TransactionAmount, encrypt,
};

/// An answer before signing: status and JSON body (empty for 204).
type Answer = (StatusCode, String);

fn error(code: ErrorCode, message: &str) -> Answer {
    let status =
        StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_string(&ErrorBody {
        code: code.as_str().to_owned(),
        message: message.to_owned(),
    })
    .expect("an error body always serialises");
    (status, body)
}

fn ok<T: serde::Serialize>(body: &T) -> Answer {
    (
        StatusCode::OK,
        serde_json::to_string(body).expect("answer bodies always serialise"),
    )
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Answer> {
    serde_json::from_slice(body)
        .map_err(|e| error(ErrorCode::ParamError, &format!("请求参数格式错误: {e}")))
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.to_offset(BEIJING)
        .format(&Rfc3339)
        .expect("a date with a four-digit year formats")
}

/// Every `/v3/...` request.
pub(super) async fn api(
    State(sim): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let body_text = String::from_utf8_lossy(&body).into_owned();
    let authorized = headers
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or(crate::wechatpay::SignatureError::MissingHeader(
            "Authorization",
        ))
        .and_then(Authorization::parse)
        .and_then(|auth| {
            let keys = HashMap::from([(
                sim.config.merchant_serial.clone(),
                sim.config.merchant_key.clone(),
            )]);
            auth.verify(
                &keys,
                method.as_str(),
                &path_and_query,
                &body_text,
                now_secs(),
            )?;
            Ok(auth)
        });
    let answer = match authorized {
        Err(e) => error(ErrorCode::SignError, &format!("签名错误: {e}")),
        Ok(auth) if auth.mchid != sim.config.mchid => {
            error(ErrorCode::MchNotExists, "商户号不存在")
        }
        Ok(_) if sim.request_fault().await => error(ErrorCode::SystemError, "系统错误"),
        Ok(_) => route(&sim, &method, uri.path(), uri.query().unwrap_or(""), &body)
            .await
            .unwrap_or_else(|e| e),
    };
    if uri.path() == "/v3/billdownload/file" && answer.0 == StatusCode::OK {
        // The bill file itself is not signed: its SHA-1 is in the signed 申请交易账单 answer.
        return (
            StatusCode::OK,
            [("Content-Type", "text/plain; charset=utf-8")],
            answer.1,
        )
            .into_response();
    }
    sign_answer(&sim, answer)
}

fn sign_answer(sim: &Shared, (status, body): Answer) -> Response {
    let signed_bytes = if sim.corrupt() {
        format!("{body} ")
    } else {
        body.clone()
    };
    let headers = SignedHeaders::sign(
        &sim.config.platform_key,
        &sim.config.platform_serial,
        now_secs(),
        &nonce(),
        signed_bytes.as_bytes(),
    );
    let mut response = (status, body).into_response();
    let map = response.headers_mut();
    map.insert(
        "Content-Type",
        axum::http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    for (name, value) in headers.pairs() {
        if let Ok(value) = axum::http::HeaderValue::from_str(value) {
            map.insert(name, value);
        }
    }
    response
}

async fn route(
    sim: &Arc<Shared>,
    method: &Method,
    path: &str,
    query: &str,
    body: &[u8],
) -> Result<Answer, Answer> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let query: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["v3", "pay", "transactions", "jsapi"]) => {
            let request: JsapiPrepayRequest = parse(body)?;
            let order = new_order(
                sim,
                &request.order,
                "JSAPI",
                Some(request.payer.openid.clone()),
            )?;
            let prepay_id = format!(
                "wx{}{:010}",
                OffsetDateTime::now_utc().unix_timestamp(),
                sim.next()
            );
            sim.lock().prepay.insert(prepay_id.clone(), order);
            Ok(ok(&PrepayResponse { prepay_id }))
        }
        ("POST", ["v3", "pay", "transactions", "h5"]) => {
            let request: H5PrepayRequest = parse(body)?;
            let order = new_order(sim, &request.order, "MWEB", None)?;
            Ok(ok(&H5Response {
                h5_url: format!("{}/sim/pay/wechatpay/{order}", sim.base_url),
            }))
        }
        ("GET", ["v3", "pay", "transactions", "out-trade-no", out_trade_no]) => {
            if query.get("mchid") != Some(&sim.config.mchid) {
                return Err(error(ErrorCode::ParamError, "mchid 与请求者不符"));
            }
            let order = sim
                .lock()
                .orders
                .get(&(Provider::Wechat, (*out_trade_no).to_owned()))
                .cloned();
            let order = order.ok_or_else(|| error(ErrorCode::OrderNotExist, "订单不存在"))?;
            Ok(ok(&transaction(sim, &order)))
        }
        (
            "POST",
            [
                "v3",
                "pay",
                "transactions",
                "out-trade-no",
                out_trade_no,
                "close",
            ],
        ) => {
            let request: serde_json::Value = parse(body)?;
            if request.get("mchid").and_then(|m| m.as_str()) != Some(sim.config.mchid.as_str()) {
                return Err(error(ErrorCode::ParamError, "mchid 与请求者不符"));
            }
            let mut inner = sim.lock();
            let order = inner
                .orders
                .get_mut(&(Provider::Wechat, (*out_trade_no).to_owned()))
                .ok_or_else(|| error(ErrorCode::OrderNotExist, "订单不存在"))?;
            match order.state {
                OrderState::Paid { .. } => Err(error(ErrorCode::OrderPaid, "订单已支付")),
                OrderState::NotPaid | OrderState::Closed => {
                    order.state = OrderState::Closed;
                    Ok((StatusCode::NO_CONTENT, String::new()))
                }
            }
        }
        ("POST", ["v3", "refund", "domestic", "refunds"]) => refund(sim, parse(body)?).await,
        ("GET", ["v3", "refund", "domestic", "refunds", out_refund_no]) => {
            let inner = sim.lock();
            let found = inner
                .orders
                .values()
                .filter(|o| o.provider == Provider::Wechat)
                .find_map(|o| {
                    o.refunds
                        .iter()
                        .find(|r| r.out_refund_no == *out_refund_no)
                        .map(|r| refund_body(o, r))
                });
            found
                .map(|r| ok(&r))
                .ok_or_else(|| error(ErrorCode::ResourceNotExists, "退款单不存在"))
        }
        ("GET", ["v3", "bill", "tradebill"]) => {
            let date = query.get("bill_date").cloned().unwrap_or_default();
            let bill = trade_bill(sim, &date);
            let digest =
                ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, bill.as_bytes());
            Ok(ok(&TradeBill {
                hash_type: "SHA1".into(),
                hash_value: data_encoding::HEXLOWER.encode(digest.as_ref()),
                download_url: format!("{}/v3/billdownload/file?token={date}", sim.base_url),
            }))
        }
        ("GET", ["v3", "billdownload", "file"]) => Ok((
            StatusCode::OK,
            trade_bill(sim, query.get("token").map_or("", String::as_str)),
        )),
        _ => Err(error(ErrorCode::InvalidRequest, "不支持的请求")),
    }
}

/// Creates (or, for the same parameters, finds again) a WeChat Pay order.
fn new_order(
    sim: &Shared,
    request: &PrepayOrder,
    trade_type: &str,
    openid: Option<String>,
) -> Result<String, Answer> {
    let PrepayOrder {
        appid,
        mchid,
        description,
        out_trade_no,
        notify_url,
        amount,
    } = request;
    let total = amount.total;
    if *appid != sim.config.wechat_appid || *mchid != sim.config.mchid {
        return Err(error(ErrorCode::AppidMchidNotMatch, "AppID和mch_id不匹配"));
    }
    if crate::provider::check_out_no(out_trade_no).is_err() {
        return Err(error(ErrorCode::ParamError, "商户订单号格式错误"));
    }
    if total == 0
        || amount.currency != "CNY"
        || description.is_empty()
        || !notify_url.starts_with("http")
    {
        return Err(error(ErrorCode::ParamError, "参数错误"));
    }
    let mut inner = sim.lock();
    let key = (Provider::Wechat, out_trade_no.to_owned());
    if let Some(existing) = inner.orders.get(&key) {
        return match existing.state {
            OrderState::Paid { .. } => Err(error(ErrorCode::OrderPaid, "订单已支付")),
            OrderState::Closed => Err(error(ErrorCode::OrderClosed, "订单已关闭")),
            OrderState::NotPaid
                if existing.amount_fen != total
                    || existing.description != *description
                    || existing.trade_type != trade_type =>
            {
                Err(error(ErrorCode::OutTradeNoUsed, "商户订单号重复"))
            }
            OrderState::NotPaid => Ok(out_trade_no.to_owned()),
        };
    }
    inner.orders.insert(
        key,
        SimOrder {
            provider: Provider::Wechat,
            out_trade_no: out_trade_no.to_owned(),
            amount_fen: total,
            description: description.to_owned(),
            notify_url: notify_url.to_owned(),
            return_url: None,
            trade_type: trade_type.to_owned(),
            openid,
            state: OrderState::NotPaid,
            refunds: Vec::new(),
        },
    );
    Ok(out_trade_no.to_owned())
}

fn transaction(sim: &Shared, order: &SimOrder) -> Transaction {
    let (trade_state, desc, transaction_id, success_time) = match &order.state {
        OrderState::NotPaid => (TradeState::Notpay, "订单未支付", None, None),
        OrderState::Closed => (TradeState::Closed, "订单已关闭", None, None),
        OrderState::Paid {
            transaction_id,
            paid_at,
        } if order.refunds.is_empty() => (
            TradeState::Success,
            "支付成功",
            Some(transaction_id.clone()),
            Some(rfc3339(*paid_at)),
        ),
        OrderState::Paid {
            transaction_id,
            paid_at,
        } => (
            TradeState::Refund,
            "订单发生过退款",
            Some(transaction_id.clone()),
            Some(rfc3339(*paid_at)),
        ),
    };
    let paid = transaction_id.is_some();
    Transaction {
        appid: sim.config.wechat_appid.clone(),
        mchid: sim.config.mchid.clone(),
        out_trade_no: order.out_trade_no.clone(),
        transaction_id,
        trade_type: Some(order.trade_type.clone()),
        trade_state,
        trade_state_desc: desc.into(),
        bank_type: paid.then(|| "OTHERS".to_owned()),
        success_time,
        payer: order.openid.clone().map(|openid| Payer { openid }),
        amount: TransactionAmount {
            total: order.amount_fen,
            payer_total: paid.then_some(order.amount_fen),
            currency: "CNY".into(),
            payer_currency: paid.then(|| "CNY".to_owned()),
        },
    }
}

fn refund_body(order: &SimOrder, refund: &SimRefund) -> Refund {
    let transaction_id = match &order.state {
        OrderState::Paid { transaction_id, .. } => transaction_id.clone(),
        OrderState::NotPaid | OrderState::Closed => String::new(),
    };
    Refund {
        refund_id: refund.refund_id.clone(),
        out_refund_no: refund.out_refund_no.clone(),
        transaction_id,
        out_trade_no: order.out_trade_no.clone(),
        channel: "ORIGINAL".into(),
        user_received_account: "支付用户零钱".into(),
        success_time: refund.succeeded_at.map(rfc3339),
        create_time: rfc3339(refund.created_at),
        status: if refund.succeeded_at.is_some() {
            RefundStatus::Success
        } else {
            RefundStatus::Processing
        },
        amount: RefundAmount {
            total: order.amount_fen,
            refund: refund.amount_fen,
            payer_total: order.amount_fen,
            payer_refund: refund.amount_fen,
            currency: Some("CNY".into()),
        },
    }
}

/// 退款申请: answered PROCESSING; the refund then succeeds and REFUND.SUCCESS is notified.
async fn refund(sim: &Arc<Shared>, request: RefundRequest) -> Result<Answer, Answer> {
    let refund_id = format!("50000000{:020}", sim.next());
    let (answer, notify_url) = {
        let mut inner = sim.lock();
        let order = inner
            .orders
            .get_mut(&(Provider::Wechat, request.out_trade_no.clone()))
            .ok_or_else(|| error(ErrorCode::ResourceNotExists, "订单不存在"))?;
        if !matches!(order.state, OrderState::Paid { .. }) {
            return Err(error(ErrorCode::InvalidRequest, "订单未支付,不能退款"));
        }
        if let Some(existing) = order
            .refunds
            .iter()
            .find(|r| r.out_refund_no == request.out_refund_no)
        {
            return Ok(ok(&refund_body(order, existing)));
        }
        if request.amount.total != order.amount_fen
            || request.amount.currency != "CNY"
            || request.amount.refund == 0
        {
            return Err(error(
                ErrorCode::ParamError,
                "订单金额或退款金额与原订单不一致",
            ));
        }
        if order.refunded_fen() + request.amount.refund > order.amount_fen {
            return Err(error(
                ErrorCode::InvalidRequest,
                "申请退款金额超过订单可退金额",
            ));
        }
        let refund = SimRefund {
            out_refund_no: request.out_refund_no.clone(),
            refund_id,
            amount_fen: request.amount.refund,
            succeeded_at: None,
            created_at: OffsetDateTime::now_utc(),
        };
        order.refunds.push(refund.clone());
        (
            ok(&refund_body(order, &refund)),
            request
                .notify_url
                .clone()
                .unwrap_or_else(|| order.notify_url.clone()),
        )
    };
    let sim = sim.clone();
    tokio::spawn(async move {
        let notice = {
            let mut inner = sim.lock();
            let Some(order) = inner
                .orders
                .get_mut(&(Provider::Wechat, request.out_trade_no.clone()))
            else {
                return;
            };
            let Some(index) = order
                .refunds
                .iter()
                .position(|r| r.out_refund_no == request.out_refund_no)
            else {
                return;
            };
            order.refunds[index].succeeded_at = Some(OffsetDateTime::now_utc());
            let body = refund_body(order, &order.refunds[index]);
            RefundNotice {
                mchid: sim.config.mchid.clone(),
                out_trade_no: body.out_trade_no,
                transaction_id: body.transaction_id,
                out_refund_no: body.out_refund_no,
                refund_id: body.refund_id,
                refund_status: RefundStatus::Success,
                success_time: body.success_time,
                user_received_account: body.user_received_account,
                amount: body.amount,
            }
        };
        let plaintext = serde_json::to_vec(&notice).expect("a refund notice always serialises");
        let outgoing = notification(
            &sim,
            &request.out_trade_no,
            notify_url,
            "REFUND.SUCCESS",
            "refund",
            "退款成功",
            &plaintext,
        );
        sim.notify(outgoing).await;
    });
    Ok(answer)
}

/// The TRANSACTION.SUCCESS notification of a paid order.
pub(super) fn payment_notification(sim: &Shared, order: &SimOrder) -> Outgoing {
    let plaintext =
        serde_json::to_vec(&transaction(sim, order)).expect("a transaction always serialises");
    notification(
        sim,
        &order.out_trade_no,
        order.notify_url.clone(),
        "TRANSACTION.SUCCESS",
        "transaction",
        "支付成功",
        &plaintext,
    )
}

fn notification(
    sim: &Shared,
    out_trade_no: &str,
    url: String,
    event: &str,
    original_type: &str,
    summary: &str,
    plaintext: &[u8],
) -> Outgoing {
    let resource = encrypt(
        &sim.config.api_v3_key,
        &random_alnum(12),
        original_type,
        original_type,
        plaintext,
    );
    let body = serde_json::to_vec(&Notification {
        id: format!("EV-{}", random_alnum(20)),
        create_time: rfc3339(OffsetDateTime::now_utc()),
        event_type: event.to_owned(),
        resource_type: "encrypt-resource".into(),
        resource,
        summary: summary.to_owned(),
    })
    .expect("a notification always serialises");
    Outgoing {
        provider: Provider::Wechat,
        out_trade_no: out_trade_no.to_owned(),
        event: event.to_owned(),
        url,
        content_type: "application/json",
        body,
    }
}

/// The trade bill (交易账单, `bill_type=ALL`) of one Beijing day: a header line, one line per
/// order paid that day with each field prefixed by a backtick, as WeChat Pay writes it, then the
/// summary lines.
fn trade_bill(sim: &Shared, date: &str) -> String {
    let inner = sim.lock();
    let mut rows: Vec<&SimOrder> = inner
        .orders
        .values()
        .filter(|o| o.provider == Provider::Wechat)
        .filter(|o| matches!(&o.state, OrderState::Paid { paid_at, .. } if crate::alipay::format_time(*paid_at).starts_with(date)))
        .collect();
    rows.sort_by(|a, b| a.out_trade_no.cmp(&b.out_trade_no));
    let mut bill = String::from(
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\r\n",
    );
    let mut total_fen = 0u64;
    let mut fee_units = 0u64;
    for order in &rows {
        let OrderState::Paid {
            transaction_id,
            paid_at,
        } = &order.state
        else {
            continue;
        };
        // Fee at 0.6%, in units of 0.00001 yuan as the bill writes it: fen × 6.
        let fee = order.amount_fen * 6;
        total_fen += order.amount_fen;
        fee_units += fee;
        let fields = [
            crate::alipay::format_time(*paid_at),
            sim.config.wechat_appid.clone(),
            sim.config.mchid.clone(),
            "0".into(),
            String::new(),
            transaction_id.clone(),
            order.out_trade_no.clone(),
            order.openid.clone().unwrap_or_default(),
            order.trade_type.clone(),
            "SUCCESS".into(),
            "OTHERS".into(),
            "CNY".into(),
            fen_to_yuan(order.amount_fen),
            "0.00".into(),
            "0".into(),
            "0".into(),
            "0.00".into(),
            "0.00".into(),
            String::new(),
            String::new(),
            order.description.clone(),
            String::new(),
            format!("{}.{:05}", fee / 100_000, fee % 100_000),
            "0.60%".into(),
            fen_to_yuan(order.amount_fen),
            "0.00".into(),
            String::new(),
        ];
        bill.push_str(
            &fields
                .iter()
                .map(|f| format!("`{f}"))
                .collect::<Vec<_>>()
                .join(","),
        );
        bill.push_str("\r\n");
    }
    bill.push_str("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n");
    let totals = [
        rows.len().to_string(),
        fen_to_yuan(total_fen),
        "0.00".into(),
        "0.00".into(),
        format!("{}.{:05}", fee_units / 100_000, fee_units % 100_000),
        fen_to_yuan(total_fen),
        "0.00".into(),
    ];
    bill.push_str(
        &totals
            .iter()
            .map(|f| format!("`{f}"))
            .collect::<Vec<_>>()
            .join(","),
    );
    bill.push_str("\r\n");
    bill
}

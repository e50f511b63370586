//! The simulator's Alipay gateway: signed parameters in, signed `<method>_response` answers
//! and signed async notifications out.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{OrderState, Outgoing, Provider, Shared, SimOrder, SimRefund, pages, random_alnum};
use crate::alipay::{
    Params, TradeStatus, format_time, sign_content, sub_code, verify_request_params,
};
use crate::amount::{fen_to_yuan, yuan_to_fen};

/// A refusal: public code, its message, sub code and sub message.
struct Refusal(&'static str, &'static str, &'static str, &'static str);

const INVALID_SIGNATURE: Refusal = Refusal(
    "40002",
    "Invalid Arguments",
    sub_code::INVALID_SIGNATURE,
    "验签出错",
);
const INVALID_APP_ID: Refusal = Refusal(
    "40002",
    "Invalid Arguments",
    sub_code::INVALID_APP_ID,
    "无效的AppID参数",
);
const INVALID_PARAMETER: Refusal = Refusal(
    "40004",
    "Business Failed",
    sub_code::INVALID_PARAMETER,
    "参数无效",
);
const TRADE_NOT_EXIST: Refusal = Refusal(
    "40004",
    "Business Failed",
    sub_code::TRADE_NOT_EXIST,
    "交易不存在",
);
const TRADE_STATUS_ERROR: Refusal = Refusal(
    "40004",
    "Business Failed",
    sub_code::TRADE_STATUS_ERROR,
    "交易状态不合法",
);
const REFUND_TOO_MUCH: Refusal = Refusal(
    "40004",
    "Business Failed",
    sub_code::REFUND_AMT_NOT_EQUAL_TOTAL,
    "退款金额超限",
);
const SYSTEM_ERROR: Refusal = Refusal(
    "20000",
    "Service Currently Unavailable",
    sub_code::SYSTEM_ERROR,
    "系统繁忙",
);

/// `/gateway.do`: parameters from the query string (redirects) and the form body (API calls).
pub(super) async fn gateway(
    State(sim): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let mut params = Params::new();
    let pairs = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).chain(
        if method == Method::POST {
            url::form_urlencoded::parse(&body)
        } else {
            url::form_urlencoded::parse(b"")
        },
    );
    for (k, v) in pairs {
        if params.insert(k.into_owned(), v.into_owned()).is_some() {
            return (StatusCode::BAD_REQUEST, "参数重复").into_response();
        }
    }
    let api_method = params.get("method").cloned().unwrap_or_default();
    let refused = if params.get("app_id") != Some(&sim.config.alipay_app_id) {
        Some(INVALID_APP_ID)
    } else if params.get("sign_type").map(String::as_str) != Some("RSA2")
        || !verify_request_params(&sim.config.alipay_app_key, &params)
    {
        Some(INVALID_SIGNATURE)
    } else {
        None
    };
    if matches!(
        api_method.as_str(),
        "alipay.trade.wap.pay" | "alipay.trade.page.pay"
    ) {
        if let Some(Refusal(_, _, _, sub_msg)) = refused {
            return pages::message_page(StatusCode::BAD_REQUEST, "支付请求无效", sub_msg);
        }
        return cashier(&sim, &api_method, &params);
    }
    let node_name = format!("{}_response", api_method.replace('.', "_"));
    let node = match &refused {
        Some(refusal) => refusal_node(refusal),
        None if sim.request_fault().await => refusal_node(&SYSTEM_ERROR),
        None => {
            let biz: Value = params
                .get("biz_content")
                .and_then(|b| serde_json::from_str(b).ok())
                .unwrap_or(Value::Null);
            match api_method.as_str() {
                "alipay.trade.query" => query(&sim, &biz),
                "alipay.trade.close" => close(&sim, &biz),
                "alipay.trade.refund" => refund(&sim, &biz).await,
                _ => Err(Refusal(
                    "40001",
                    "Missing Required Arguments",
                    "isv.missing-method",
                    "缺少方法名参数",
                )),
            }
            .unwrap_or_else(|refusal| refusal_node(&refusal))
        }
    };
    answer(&sim, &node_name, &node, refused.is_none())
}

fn refusal_node(Refusal(code, msg, sub_code, sub_msg): &Refusal) -> Value {
    json!({ "code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg })
}

/// `{"<node>":<json>,"sign":"..."}`, the signature over the node's exact text. Refusals of the
/// request's own signature or AppID go unsigned, as Alipay leaves them.
fn answer(sim: &Shared, node_name: &str, node: &Value, sign: bool) -> Response {
    let text = node.to_string();
    let body = if sign {
        let signed = if sim.corrupt() {
            format!("{text} ")
        } else {
            text.clone()
        };
        let signature = sim.config.alipay_key.sign_base64(signed.as_bytes());
        format!("{{\"{node_name}\":{text},\"sign\":\"{signature}\"}}")
    } else {
        format!("{{\"{node_name}\":{text}}}")
    };
    (
        StatusCode::OK,
        [("Content-Type", "text/html;charset=utf-8")],
        body,
    )
        .into_response()
}

fn out_trade_no(biz: &Value) -> Result<String, Refusal> {
    biz.get("out_trade_no")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or(INVALID_PARAMETER)
}

/// `alipay.trade.wap.pay` / `.page.pay`: records the trade and sends the browser to the cashier.
fn cashier(sim: &Shared, method: &str, params: &Params) -> Response {
    let biz: Value = params
        .get("biz_content")
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    let text = |name: &str| {
        biz.get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let (no, subject, product_code) = (text("out_trade_no"), text("subject"), text("product_code"));
    let expected_code = if method == "alipay.trade.wap.pay" {
        "QUICK_WAP_WAY"
    } else {
        "FAST_INSTANT_TRADE_PAY"
    };
    let Some(amount_fen) = yuan_to_fen(&text("total_amount")).filter(|f| *f > 0) else {
        return pages::message_page(StatusCode::BAD_REQUEST, "支付请求无效", "金额无效");
    };
    let notify_url = params.get("notify_url").cloned().unwrap_or_default();
    if crate::provider::check_out_no(&no).is_err()
        || subject.is_empty()
        || product_code != expected_code
        || !notify_url.starts_with("http")
    {
        return pages::message_page(StatusCode::BAD_REQUEST, "支付请求无效", "参数无效");
    }
    {
        let mut inner = sim.lock();
        let key = (Provider::Alipay, no.clone());
        match inner.orders.get(&key) {
            Some(existing) if existing.state != OrderState::NotPaid => {
                return pages::message_page(
                    StatusCode::BAD_REQUEST,
                    "无法支付",
                    "订单已支付或已关闭",
                );
            }
            Some(existing)
                if existing.amount_fen != amount_fen || existing.description != subject =>
            {
                return pages::message_page(
                    StatusCode::BAD_REQUEST,
                    "无法支付",
                    "订单号已用于其他订单",
                );
            }
            Some(_) => {}
            None => {
                inner.orders.insert(
                    key,
                    SimOrder {
                        provider: Provider::Alipay,
                        out_trade_no: no.clone(),
                        amount_fen,
                        description: subject,
                        notify_url,
                        return_url: params.get("return_url").cloned(),
                        trade_type: product_code,
                        openid: None,
                        state: OrderState::NotPaid,
                        refunds: Vec::new(),
                    },
                );
            }
        }
    }
    Redirect::to(&format!("/sim/pay/alipay/{no}")).into_response()
}

fn trade_no(order: &SimOrder) -> String {
    match &order.state {
        OrderState::Paid { transaction_id, .. } => transaction_id.clone(),
        OrderState::NotPaid | OrderState::Closed => String::new(),
    }
}

fn status(order: &SimOrder) -> TradeStatus {
    match order.state {
        OrderState::NotPaid => TradeStatus::WaitBuyerPay,
        OrderState::Closed => TradeStatus::TradeClosed,
        OrderState::Paid { .. } if order.refunded_fen() == order.amount_fen => {
            TradeStatus::TradeClosed
        }
        OrderState::Paid { .. } => TradeStatus::TradeSuccess,
    }
}

fn query(sim: &Shared, biz: &Value) -> Result<Value, Refusal> {
    let no = out_trade_no(biz)?;
    let inner = sim.lock();
    let order = inner
        .orders
        .get(&(Provider::Alipay, no))
        .ok_or(TRADE_NOT_EXIST)?;
    let mut node = json!({
        "code": "10000",
        "msg": "Success",
        "out_trade_no": order.out_trade_no,
        "trade_status": status(order).as_str(),
        "total_amount": fen_to_yuan(order.amount_fen),
    });
    if let OrderState::Paid {
        transaction_id,
        paid_at,
    } = &order.state
    {
        node["trade_no"] = json!(transaction_id);
        node["send_pay_date"] = json!(format_time(*paid_at));
        node["buyer_logon_id"] = json!("159****5620");
        node["receipt_amount"] = json!(fen_to_yuan(order.amount_fen));
    }
    Ok(node)
}

fn close(sim: &Shared, biz: &Value) -> Result<Value, Refusal> {
    let no = out_trade_no(biz)?;
    let mut inner = sim.lock();
    let order = inner
        .orders
        .get_mut(&(Provider::Alipay, no))
        .ok_or(TRADE_NOT_EXIST)?;
    if matches!(order.state, OrderState::Paid { .. }) {
        return Err(TRADE_STATUS_ERROR);
    }
    order.state = OrderState::Closed;
    Ok(json!({ "code": "10000", "msg": "Success", "out_trade_no": order.out_trade_no }))
}

/// `alipay.trade.refund`: synchronous; a new `out_request_no` moves money (`fund_change` "Y")
/// and is notified; a repeated one answers the same refund with `fund_change` "N".
async fn refund(sim: &Arc<Shared>, biz: &Value) -> Result<Value, Refusal> {
    let no = out_trade_no(biz)?;
    let text = |name: &str| biz.get(name).and_then(Value::as_str).map(str::to_owned);
    let amount = text("refund_amount")
        .as_deref()
        .and_then(yuan_to_fen)
        .filter(|a| *a > 0)
        .ok_or(INVALID_PARAMETER)?;
    let request_no = text("out_request_no").unwrap_or_else(|| no.clone());
    let refund_id = format!("{:020}", sim.next());
    let (node, notification) = {
        let mut inner = sim.lock();
        let order = inner
            .orders
            .get_mut(&(Provider::Alipay, no.clone()))
            .ok_or(TRADE_NOT_EXIST)?;
        if !matches!(order.state, OrderState::Paid { .. }) {
            return Err(TRADE_STATUS_ERROR);
        }
        let repeated = order.refunds.iter().any(|r| r.out_refund_no == request_no);
        if !repeated {
            if order.refunded_fen() + amount > order.amount_fen {
                return Err(REFUND_TOO_MUCH);
            }
            let now = OffsetDateTime::now_utc();
            order.refunds.push(SimRefund {
                out_refund_no: request_no.clone(),
                refund_id,
                amount_fen: amount,
                succeeded_at: Some(now),
                created_at: now,
            });
        }
        let node = json!({
            "code": "10000",
            "msg": "Success",
            "trade_no": trade_no(order),
            "out_trade_no": order.out_trade_no,
            "buyer_logon_id": "159****5620",
            "fund_change": if repeated { "N" } else { "Y" },
            "refund_fee": fen_to_yuan(order.refunded_fen()),
        });
        (
            node,
            (!repeated).then(|| refund_notification(sim, order, &request_no)),
        )
    };
    if let Some(outgoing) = notification {
        let sim = sim.clone();
        tokio::spawn(async move { sim.notify(outgoing).await });
    }
    Ok(node)
}

/// The common fields of a `trade_status_sync` notification, signed last.
fn notification(sim: &Shared, order: &SimOrder, event: &str, mut params: Params) -> Outgoing {
    let now = format_time(OffsetDateTime::now_utc());
    let common = [
        ("notify_time", now.clone()),
        ("notify_type", "trade_status_sync".to_owned()),
        ("notify_id", random_alnum(32)),
        ("app_id", sim.config.alipay_app_id.clone()),
        ("charset", "utf-8".to_owned()),
        ("version", "1.0".to_owned()),
        ("sign_type", "RSA2".to_owned()),
        ("trade_no", trade_no(order)),
        ("out_trade_no", order.out_trade_no.clone()),
        ("trade_status", status(order).as_str().to_owned()),
        ("total_amount", fen_to_yuan(order.amount_fen)),
        ("subject", order.description.clone()),
        ("seller_id", "2088102119685838".to_owned()),
        ("buyer_id", "2088102116773037".to_owned()),
    ];
    params.extend(common.into_iter().map(|(k, v)| (k.to_owned(), v)));
    let sign = sim
        .config
        .alipay_key
        .sign_base64(sign_content(&params, true).as_bytes());
    params.insert("sign".into(), sign);
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish()
        .into_bytes();
    Outgoing {
        provider: Provider::Alipay,
        out_trade_no: order.out_trade_no.clone(),
        event: event.to_owned(),
        url: order.notify_url.clone(),
        content_type: "application/x-www-form-urlencoded; charset=utf-8",
        body,
    }
}

/// TRADE_SUCCESS of a paid order.
pub(super) fn payment_notification(sim: &Shared, order: &SimOrder) -> Outgoing {
    let mut params = Params::new();
    if let OrderState::Paid { paid_at, .. } = &order.state {
        params.insert("gmt_payment".into(), format_time(*paid_at));
        params.insert("receipt_amount".into(), fen_to_yuan(order.amount_fen));
        params.insert("buyer_pay_amount".into(), fen_to_yuan(order.amount_fen));
    }
    notification(sim, order, "TRADE_SUCCESS", params)
}

/// A refund's notification: TRADE_SUCCESS (partial) or TRADE_CLOSED (full), with `refund_fee`
/// (the order's total refunded so far), `out_biz_no` and `gmt_refund`.
fn refund_notification(sim: &Shared, order: &SimOrder, out_request_no: &str) -> Outgoing {
    let mut params = Params::new();
    params.insert("refund_fee".into(), fen_to_yuan(order.refunded_fen()));
    params.insert("out_biz_no".into(), out_request_no.to_owned());
    params.insert("gmt_refund".into(), format_time(OffsetDateTime::now_utc()));
    if let OrderState::Paid { paid_at, .. } = &order.state {
        params.insert("gmt_payment".into(), format_time(*paid_at));
    }
    notification(
        sim,
        order,
        &format!("{}+refund", status(order).as_str()),
        params,
    )
}

//! The simulator's buyer-facing pages: 模拟支付 with 确认支付 / 取消, and the stand-in for
//! `WeixinJSBridge` that takes the wallet's signed `getBrandWCPayRequest` parameters.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, Json};

use super::{OrderState, Provider, Shared, SimError};
use crate::amount::fen_to_yuan;
use crate::wechatpay::JsapiPayParams;

fn provider(path: &str) -> Option<Provider> {
    match path {
        "wechatpay" => Some(Provider::Wechat),
        "alipay" => Some(Provider::Alipay),
        _ => None,
    }
}

/// Escapes text for HTML element content and quoted attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title></head><body><main><p><small>支付模拟器（仅供测试，不会扣款）</small></p><h1>{}</h1>{body}</main></body></html>",
        escape(title),
        escape(title)
    )
}

/// A page with one message.
pub(super) fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    (
        status,
        Html(page(title, &format!("<p>{}</p>", escape(message)))),
    )
        .into_response()
}

/// `GET /sim/pay/{provider}/{out_trade_no}`: the 模拟支付 page.
pub(super) async fn pay_page(
    State(sim): State<Arc<Shared>>,
    Path((provider_path, no)): Path<(String, String)>,
) -> Response {
    let Some(which) = provider(&provider_path) else {
        return message_page(StatusCode::NOT_FOUND, "订单不存在", "没有这个支付渠道");
    };
    let Some(order) = sim.lock().orders.get(&(which, no.clone())).cloned() else {
        return message_page(StatusCode::NOT_FOUND, "订单不存在", "没有这个订单");
    };
    if order.state != OrderState::NotPaid {
        return message_page(StatusCode::CONFLICT, "无法支付", "订单已支付或已关闭");
    }
    let channel = match which {
        Provider::Wechat => "微信支付",
        Provider::Alipay => "支付宝",
    };
    let action = format!("/sim/pay/{provider_path}/{}", escape(&no));
    let body = format!(
        "<p>{}：{}</p><p>金额：¥{}</p><p>订单号：{}</p>\
         <form method=\"post\" action=\"{action}/confirm\"><button type=\"submit\">确认支付</button></form>\
         <form method=\"post\" action=\"{action}/cancel\"><button type=\"submit\">取消</button></form>",
        channel,
        escape(&order.description),
        fen_to_yuan(order.amount_fen),
        escape(&order.out_trade_no),
    );
    Html(page("模拟支付", &body)).into_response()
}

/// `POST …/confirm`: the buyer pays; back to Alipay's `return_url` when there is one.
pub(super) async fn confirm(
    State(sim): State<Arc<Shared>>,
    Path((provider_path, no)): Path<(String, String)>,
) -> Response {
    let Some(which) = provider(&provider_path) else {
        return message_page(StatusCode::NOT_FOUND, "订单不存在", "没有这个支付渠道");
    };
    match sim.pay(which, &no).await {
        Ok(()) => {
            let return_url = sim
                .lock()
                .orders
                .get(&(which, no.clone()))
                .and_then(|o| o.return_url.clone());
            match return_url {
                Some(url) => Redirect::to(&url).into_response(),
                None => message_page(StatusCode::OK, "支付成功", "已完成支付，请返回商户页面。"),
            }
        }
        Err(SimError::UnknownOrder) => {
            message_page(StatusCode::NOT_FOUND, "订单不存在", "没有这个订单")
        }
        Err(_) => message_page(StatusCode::CONFLICT, "无法支付", "订单已支付或已关闭"),
    }
}

/// `POST …/cancel`: the buyer gives up; the order stays unpaid.
pub(super) async fn cancel(Path((_, _)): Path<(String, String)>) -> Response {
    message_page(
        StatusCode::OK,
        "已取消支付",
        "订单未支付，可返回商户页面重新发起。",
    )
}

/// Checks `getBrandWCPayRequest` parameters as the WeChat client does, and finds the order.
pub(super) fn jsapi_target(sim: &Shared, params: &JsapiPayParams) -> Result<String, SimError> {
    if params.app_id != sim.config.wechat_appid || !params.verify(&sim.config.merchant_key) {
        return Err(SimError::BadJsapiParams);
    }
    let prepay_id = params
        .package
        .strip_prefix("prepay_id=")
        .ok_or(SimError::BadJsapiParams)?;
    let no = sim
        .lock()
        .prepay
        .get(prepay_id)
        .cloned()
        .ok_or(SimError::BadJsapiParams)?;
    Ok(format!("{}/sim/pay/wechatpay/{no}", sim.base_url))
}

/// `POST /sim/wechatpay/jsapi`: the demo wallet's stand-in for `WeixinJSBridge`; answers
/// `{"pay_url": …}` or 400 with `{"err_msg": "get_brand_wcpay_request:fail"}`.
pub(super) async fn jsapi(
    State(sim): State<Arc<Shared>>,
    Json(params): Json<JsapiPayParams>,
) -> Response {
    match jsapi_target(&sim, &params) {
        Ok(url) => Json(serde_json::json!({ "pay_url": url })).into_response(),
        Err(_) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "err_msg": "get_brand_wcpay_request:fail" })),
        )
            .into_response(),
    }
}

/// `POST /sim/wechatpay/jsapi/form`: the same as a plain form post, which a wallet page on
/// another origin can submit without CORS; answers a redirect to the 模拟支付 page.
pub(super) async fn jsapi_form(
    State(sim): State<Arc<Shared>>,
    Form(params): Form<JsapiPayParams>,
) -> Response {
    match jsapi_target(&sim, &params) {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(_) => message_page(StatusCode::BAD_REQUEST, "无法支付", "支付参数签名无效"),
    }
}

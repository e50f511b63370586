//! The merchant clients against the simulator over loopback: a payment from creation to refund
//! notification for both providers, the simulator's faults, and forged, replayed and tampered
//! notifications sent to the merchant's notify URL as an attacker would.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use shuipiao_providers::alipay::{self, Alipay, AlipayConfig, AlipayError, sub_code};
use shuipiao_providers::keys::{PrivateKey, PublicKey};
use shuipiao_providers::sim::{
    Faults, Provider, SimConfig, Simulator, install_crypto_provider, test_keys,
};
use shuipiao_providers::wechatpay::{
    ApiV3Key, ErrorCode, MerchantSigner, Notification, PlatformVerifier, RefundStatus,
    SignatureError, SignedHeaders, WechatPay, WechatPayConfig, encrypt,
};
use shuipiao_providers::{
    Channel, CreatePayment, NotificationEvent, PaymentProvider, PaymentStart, PaymentStatus,
    ProviderError, Refund, RefundState,
};
use tokio::sync::mpsc;

/// What the merchant's notify endpoint answered and made of one notification.
type Outcome = (u16, Result<NotificationEvent, ProviderError>);
type Events = mpsc::UnboundedReceiver<Outcome>;

fn http() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::new()
}

fn wechat_config(base_url: String, notify_url: String) -> WechatPayConfig {
    WechatPayConfig {
        base_url,
        appid: test_keys::WECHAT_APPID.into(),
        signer: MerchantSigner {
            mchid: test_keys::MCHID.into(),
            serial_no: test_keys::MERCHANT_SERIAL.into(),
            key: PrivateKey::from_pem(test_keys::WECHATPAY_MERCHANT_KEY).unwrap(),
        },
        platform: PlatformVerifier::new(
            test_keys::PLATFORM_SERIAL,
            PublicKey::from_pem(test_keys::WECHATPAY_PLATFORM_PUB).unwrap(),
        ),
        api_v3_key: ApiV3Key::new(test_keys::API_V3_KEY).unwrap(),
        notify_url,
    }
}

fn alipay_config(gateway: String, notify_url: String) -> AlipayConfig {
    AlipayConfig {
        gateway,
        app_id: test_keys::ALIPAY_APP_ID.into(),
        app_key: PrivateKey::from_pem(test_keys::ALIPAY_APP_KEY).unwrap(),
        alipay_public_key: PublicKey::from_pem(test_keys::ALIPAY_PLATFORM_PUB).unwrap(),
        notify_url,
    }
}

/// The merchant's notify endpoint: verifies with the provider, answers as the provider wants,
/// and hands each outcome to the test.
async fn notify<P: PaymentProvider + 'static>(
    State((provider, events)): State<(Arc<P>, mpsc::UnboundedSender<Outcome>)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = provider.parse_notification(&headers, &body);
    let reply = provider.notification_reply(result.is_ok());
    let _ = events.send((reply.status, result));
    let status = StatusCode::from_u16(reply.status).unwrap();
    (status, [("Content-Type", reply.content_type)], reply.body).into_response()
}

/// Starts a merchant whose provider client is made by `make` from the notify URL.
async fn merchant<P: PaymentProvider + 'static>(
    make: impl FnOnce(String) -> P,
) -> (Arc<P>, Events, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let notify_url = format!("http://{}/notify", listener.local_addr().unwrap());
    let provider = Arc::new(make(notify_url.clone()));
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new()
        .route("/notify", post(notify::<P>))
        .with_state((provider.clone(), tx));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (provider, rx, notify_url)
}

async fn next(events: &mut Events) -> (u16, Result<NotificationEvent, ProviderError>) {
    tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .expect("a notification arrives")
        .expect("the merchant runs")
}

async fn wechat_setup() -> (Simulator, Arc<WechatPay>, Events) {
    let sim = Simulator::start(SimConfig::test()).await.unwrap();
    let base = sim.base_url();
    let (wechat, events, _) =
        merchant(|notify_url| WechatPay::new(wechat_config(base, notify_url), http())).await;
    (sim, wechat, events)
}

async fn alipay_setup() -> (Simulator, Arc<Alipay>, Events) {
    let sim = Simulator::start(SimConfig::test()).await.unwrap();
    let gateway = sim.alipay_gateway();
    let (alipay, events, _) =
        merchant(|notify_url| Alipay::new(alipay_config(gateway, notify_url), http())).await;
    (sim, alipay, events)
}

fn payment(no: &str, amount_fen: u64, channel: Channel) -> CreatePayment {
    CreatePayment {
        out_trade_no: no.into(),
        amount_fen,
        description: "家庭月套餐 <20桶>".into(),
        channel,
    }
}

fn today() -> String {
    alipay::format_time(time::OffsetDateTime::now_utc())[..10].to_owned()
}

#[tokio::test]
async fn wechat_jsapi_payment_from_prepay_to_refund_notification() {
    let (sim, wechat, mut events) = wechat_setup().await;
    let start = wechat
        .create_payment(&payment(
            "SP2026000001",
            5800,
            Channel::WechatJsapi {
                openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into(),
            },
        ))
        .await
        .unwrap();
    let PaymentStart::Jsapi(params) = start else {
        panic!("JSAPI answers bridge parameters")
    };
    assert_eq!(params.app_id, test_keys::WECHAT_APPID);
    assert_eq!(params.sign_type, "RSA");

    // The wallet hands the parameters to the bridge; the simulator checks paySign as WeChat does.
    let bridge: serde_json::Value = http()
        .post(format!("{}/sim/wechatpay/jsapi", sim.base_url()))
        .json(&params)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pay_url = bridge["pay_url"].as_str().unwrap().to_owned();
    assert_eq!(pay_url, sim.jsapi_pay_url(&params).unwrap());
    let mut forged = params.clone();
    forged.package = "prepay_id=wx0".into();
    assert!(sim.jsapi_pay_url(&forged).is_err());

    // The same as a form post from the wallet's own origin: a redirect to the same page.
    let form = [
        ("appId", params.app_id.as_str()),
        ("timeStamp", &params.time_stamp),
        ("nonceStr", &params.nonce_str),
        ("package", &params.package),
        ("signType", &params.sign_type),
        ("paySign", &params.pay_sign),
    ];
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let posted = http()
        .post(format!("{}/sim/wechatpay/jsapi/form", sim.base_url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.replace("paySign=", "paySign=A"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 400);
    let posted = http()
        .post(format!("{}/sim/wechatpay/jsapi/form", sim.base_url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.url().as_str(), pay_url);

    let page = http()
        .get(&pay_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("模拟支付")
            && page.contains("确认支付")
            && page.contains("取消")
            && page.contains("58.00")
    );
    assert!(
        page.contains("家庭月套餐 &lt;20桶&gt;"),
        "the description is escaped: {page}"
    );
    assert!(wechat.query("SP2026000001").await.unwrap() == PaymentStatus::NotPaid);

    let confirmed = http()
        .post(format!("{pay_url}/confirm"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(confirmed.contains("支付成功"));
    let (status, event) = next(&mut events).await;
    let NotificationEvent::Confirmed(paid) = event.unwrap() else {
        panic!("a payment")
    };
    assert_eq!(status, 204);
    assert_eq!(
        (paid.out_trade_no.as_str(), paid.amount_fen),
        ("SP2026000001", 5800)
    );

    let PaymentStatus::Paid(queried) = wechat.query("SP2026000001").await.unwrap() else {
        panic!("paid")
    };
    assert_eq!(queried.transaction_id, paid.transaction_id);
    assert_eq!(
        queried.paid_at.unix_timestamp(),
        paid.paid_at.unix_timestamp()
    );

    let refund = Refund {
        out_trade_no: "SP2026000001".into(),
        out_refund_no: "RF2026000001".into(),
        refund_fen: 1000,
        total_fen: 5800,
        reason: "少送两桶".into(),
    };
    let outcome = wechat.refund(&refund).await.unwrap();
    assert_eq!(
        (outcome.refund_fen, outcome.state),
        (1000, RefundState::Processing)
    );
    let (_, event) = next(&mut events).await;
    let NotificationEvent::Refund(refunded) = event.unwrap() else {
        panic!("a refund")
    };
    assert_eq!(
        (
            refunded.out_refund_no.as_str(),
            refunded.refund_fen,
            refunded.state
        ),
        ("RF2026000001", 1000, RefundState::Succeeded)
    );
    assert_eq!(
        wechat.query_refund("RF2026000001").await.unwrap().status,
        RefundStatus::Success
    );
    // Repeating the refund number repeats the refund, never a second one.
    assert_eq!(wechat.refund(&refund).await.unwrap().refund_fen, 1000);
    assert_eq!(
        sim.order(Provider::Wechat, "SP2026000001")
            .unwrap()
            .refunds
            .len(),
        1
    );

    let bill = wechat.trade_bill(&today()).await.unwrap();
    let file = String::from_utf8(wechat.download_bill(&bill).await.unwrap()).unwrap();
    assert!(file.starts_with("交易时间,公众账号ID,商户号"));
    assert!(
        file.contains("`SP2026000001,")
            && file.contains(&format!("`{},", paid.transaction_id))
            && file.contains("`58.00,")
    );
    let parsed = shuipiao_providers::wechatpay::parse_trade_bill(&file).unwrap();
    assert_eq!((parsed.count, parsed.settled_total_fen), (1, 5800));
    assert_eq!(
        (
            parsed.rows[0].out_trade_no.as_str(),
            parsed.rows[0].transaction_id.as_str()
        ),
        ("SP2026000001", paid.transaction_id.as_str())
    );
    let doctored = file.replacen("`58.00,", "`5.80,", 1);
    assert!(shuipiao_providers::wechatpay::parse_trade_bill(&doctored).is_err());
    let mut wrong = bill.clone();
    wrong.hash_value = "0".repeat(40);
    assert!(matches!(
        wechat.download_bill(&wrong).await,
        Err(ProviderError::Mismatch(_))
    ));
}

#[tokio::test]
async fn wechat_h5_payment_redirects_to_the_cashier_and_errors_carry_their_documented_codes() {
    let (sim, wechat, mut events) = wechat_setup().await;
    let start = wechat
        .create_payment(&payment(
            "SP2026000002",
            1,
            Channel::WechatH5 {
                payer_client_ip: "127.0.0.1".into(),
            },
        ))
        .await
        .unwrap();
    assert_eq!(
        start,
        PaymentStart::Redirect(sim.pay_page_url(Provider::Wechat, "SP2026000002"))
    );
    // The same order again is the same order; other parameters under its number are refused.
    wechat
        .create_payment(&payment(
            "SP2026000002",
            1,
            Channel::WechatH5 {
                payer_client_ip: "127.0.0.1".into(),
            },
        ))
        .await
        .unwrap();
    let other = wechat
        .create_payment(&payment(
            "SP2026000002",
            2,
            Channel::WechatH5 {
                payer_client_ip: "127.0.0.1".into(),
            },
        ))
        .await;
    assert!(matches!(
        other,
        Err(ProviderError::Wechat {
            code: ErrorCode::OutTradeNoUsed,
            ..
        })
    ));

    sim.pay(Provider::Wechat, "SP2026000002").await.unwrap();
    assert!(
        matches!(next(&mut events).await.1, Ok(NotificationEvent::Confirmed(c)) if c.amount_fen == 1)
    );
    assert!(matches!(
        wechat.close("SP2026000002").await,
        Err(ProviderError::Wechat {
            code: ErrorCode::OrderPaid,
            ..
        })
    ));
    assert!(matches!(
        wechat.query("SP2026009999").await,
        Err(ProviderError::Wechat {
            code: ErrorCode::OrderNotExist,
            ..
        })
    ));
    let too_much = Refund {
        out_trade_no: "SP2026000002".into(),
        out_refund_no: "RF2026000002".into(),
        refund_fen: 2,
        total_fen: 1,
        reason: String::new(),
    };
    assert!(matches!(
        wechat.refund(&too_much).await,
        Err(ProviderError::Wechat {
            code: ErrorCode::InvalidRequest,
            ..
        })
    ));
    let wrong_total = Refund {
        out_refund_no: "RF2026000003".into(),
        refund_fen: 1,
        total_fen: 2,
        ..too_much
    };
    assert!(matches!(
        wechat.refund(&wrong_total).await,
        Err(ProviderError::Wechat {
            code: ErrorCode::ParamError,
            ..
        })
    ));

    // Closing an unpaid order: it can no longer be paid.
    wechat
        .create_payment(&payment(
            "SP2026000003",
            100,
            Channel::WechatH5 {
                payer_client_ip: "127.0.0.1".into(),
            },
        ))
        .await
        .unwrap();
    wechat.close("SP2026000003").await.unwrap();
    assert_eq!(
        wechat.query("SP2026000003").await.unwrap(),
        PaymentStatus::Closed
    );
    assert!(sim.pay(Provider::Wechat, "SP2026000003").await.is_err());

    // Bad input is refused before any request.
    let zero = wechat
        .create_payment(&payment(
            "SP2026000004",
            0,
            Channel::WechatH5 {
                payer_client_ip: "127.0.0.1".into(),
            },
        ))
        .await;
    assert!(matches!(zero, Err(ProviderError::Invalid(_))));
    let alipay_channel = wechat
        .create_payment(&payment(
            "SP2026000004",
            1,
            Channel::AlipayWap { return_url: None },
        ))
        .await;
    assert!(matches!(alipay_channel, Err(ProviderError::Invalid(_))));
    assert!(matches!(
        wechat.query("../v3/x").await,
        Err(ProviderError::Invalid(_))
    ));
}

#[tokio::test]
async fn wechat_requests_signed_with_another_key_are_refused_with_sign_error() {
    let sim = Simulator::start(SimConfig::test()).await.unwrap();
    let mut config = wechat_config(sim.base_url(), "http://127.0.0.1:9/notify".into());
    config.signer.key = PrivateKey::from_pem(test_keys::ALIPAY_APP_KEY).unwrap();
    let wechat = WechatPay::new(config, http());
    assert!(matches!(
        wechat.query("SP2026000001").await,
        Err(ProviderError::Wechat {
            code: ErrorCode::SignError,
            ..
        })
    ));
}

#[tokio::test]
async fn the_simulator_fails_delays_forges_repeats_reorders_and_drops_as_told() {
    let (sim, wechat, mut events) = wechat_setup().await;
    let h5 = || Channel::WechatH5 {
        payer_client_ip: "127.0.0.1".into(),
    };

    sim.set_faults(Faults {
        fail_requests: 1,
        delay: Duration::from_millis(1),
        ..Faults::default()
    });
    let failed = wechat
        .create_payment(&payment("SP2026000010", 300, h5()))
        .await;
    assert!(matches!(
        failed,
        Err(ProviderError::Wechat {
            code: ErrorCode::SystemError,
            ..
        })
    ));
    wechat
        .create_payment(&payment("SP2026000010", 300, h5()))
        .await
        .unwrap();

    // A forged answer (signature over other bytes) is refused, not believed.
    sim.set_faults(Faults {
        corrupt_answer_signatures: true,
        ..Faults::default()
    });
    assert!(matches!(
        wechat.query("SP2026000010").await,
        Err(ProviderError::Signature(SignatureError::BadSignature))
    ));

    // Repeated notifications all verify and all say the same.
    sim.set_faults(Faults {
        repeat_notifications: 2,
        ..Faults::default()
    });
    sim.pay(Provider::Wechat, "SP2026000010").await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let NotificationEvent::Confirmed(c) = next(&mut events).await.1.unwrap() else {
            panic!("a payment")
        };
        seen.push(c);
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]));

    // Held then released newest first: the refund notification arrives before the payment's.
    wechat
        .create_payment(&payment("SP2026000011", 500, h5()))
        .await
        .unwrap();
    sim.set_faults(Faults {
        hold_notifications: true,
        ..Faults::default()
    });
    sim.pay(Provider::Wechat, "SP2026000011").await.unwrap();
    let refund = Refund {
        out_trade_no: "SP2026000011".into(),
        out_refund_no: "RF2026000011".into(),
        refund_fen: 500,
        total_fen: 500,
        reason: String::new(),
    };
    wechat.refund(&refund).await.unwrap();
    while sim
        .notifications()
        .iter()
        .filter(|n| n.status.is_none())
        .count()
        < 2
    {
        tokio::task::yield_now().await;
    }
    sim.set_faults(Faults::default());
    sim.release_notifications(true).await;
    assert!(
        matches!(next(&mut events).await.1, Ok(NotificationEvent::Refund(r)) if r.out_trade_no == "SP2026000011")
    );
    assert!(
        matches!(next(&mut events).await.1, Ok(NotificationEvent::Confirmed(c)) if c.out_trade_no == "SP2026000011")
    );

    // Dropped: nothing arrives, and the query still tells the truth.
    wechat
        .create_payment(&payment("SP2026000012", 700, h5()))
        .await
        .unwrap();
    sim.set_faults(Faults {
        drop_notifications: true,
        ..Faults::default()
    });
    sim.pay(Provider::Wechat, "SP2026000012").await.unwrap();
    assert!(
        matches!(wechat.query("SP2026000012").await.unwrap(), PaymentStatus::Paid(c) if c.amount_fen == 700)
    );
    assert!(events.try_recv().is_err());
    assert_eq!(sim.notifications().last().unwrap().answer, "dropped");
}

/// A WeChat Pay notification for `out_trade_no`, encrypted with `api_v3_key`, signed by `key`
/// under `serial` at `timestamp`.
fn wechat_notification(
    key: &PrivateKey,
    serial: &str,
    timestamp: i64,
    nonce: &str,
    mchid: &str,
    api_v3_key: &str,
) -> (HeaderMap, Vec<u8>) {
    let transaction = serde_json::json!({
        "appid": test_keys::WECHAT_APPID, "mchid": mchid, "out_trade_no": "SP2026000020",
        "transaction_id": "4200000000000000000000000020", "trade_type": "JSAPI", "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功", "success_time": "2026-01-01T10:00:00+08:00",
        "amount": {"total": 5800, "payer_total": 5800, "currency": "CNY", "payer_currency": "CNY"}
    });
    let resource = encrypt(
        &ApiV3Key::new(api_v3_key).unwrap(),
        "0123456789ab",
        "transaction",
        "transaction",
        transaction.to_string().as_bytes(),
    );
    let body = serde_json::to_vec(&Notification {
        id: "EV-2026".into(),
        create_time: "2026-01-01T10:00:00+08:00".into(),
        event_type: "TRANSACTION.SUCCESS".into(),
        resource_type: "encrypt-resource".into(),
        resource,
        summary: "支付成功".into(),
    })
    .unwrap();
    let signed = SignedHeaders::sign(key, serial, timestamp, nonce, &body);
    let mut headers = HeaderMap::new();
    for (name, value) in signed.pairs() {
        headers.insert(name, value.parse().unwrap());
    }
    (headers, body)
}

async fn post_notification(url: &str, headers: &HeaderMap, body: Vec<u8>) -> u16 {
    http()
        .post(url)
        .headers(headers.clone())
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn forged_replayed_tampered_and_stale_wechat_notifications_are_refused_at_the_notify_url() {
    let sim = Simulator::start(SimConfig::test()).await.unwrap();
    let base = sim.base_url();
    let (_, mut events, url) =
        merchant(|notify_url| WechatPay::new(wechat_config(base, notify_url), http())).await;
    let platform = PrivateKey::from_pem(test_keys::WECHATPAY_PLATFORM_KEY).unwrap();
    let attacker = PrivateKey::from_pem(test_keys::WECHATPAY_MERCHANT_KEY).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let serial = test_keys::PLATFORM_SERIAL;
    let (mchid, key) = (test_keys::MCHID, test_keys::API_V3_KEY);

    let (headers, body) = wechat_notification(&platform, serial, now, "N1", mchid, key);
    assert_eq!(post_notification(&url, &headers, body.clone()).await, 204);
    assert!(
        matches!(next(&mut events).await.1, Ok(NotificationEvent::Confirmed(c)) if c.amount_fen == 5800)
    );

    let refused = |expected: fn(&ProviderError) -> bool| {
        move |(status, result): (u16, Result<NotificationEvent, ProviderError>)| {
            assert_eq!(status, 500);
            let error = result.unwrap_err();
            assert!(expected(&error), "{error:?}");
        }
    };
    // Replayed byte for byte.
    assert_eq!(post_notification(&url, &headers, body.clone()).await, 500);
    refused(|e| *e == ProviderError::Replayed)(next(&mut events).await);
    // Tampered body under the genuine signature.
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("支付成功", "支付成功 ")
        .into_bytes();
    let (headers2, _) = wechat_notification(&platform, serial, now, "N2", mchid, key);
    let mut tampered_headers = headers2.clone();
    tampered_headers.insert(
        "Wechatpay-Signature",
        headers.get("Wechatpay-Signature").unwrap().clone(),
    );
    post_notification(&url, &tampered_headers, tampered).await;
    refused(|e| *e == ProviderError::Signature(SignatureError::BadSignature))(
        next(&mut events).await,
    );
    // Forged: signed by a key that is not the platform's, under its serial or another one.
    let (h, b) = wechat_notification(&attacker, serial, now, "N3", mchid, key);
    post_notification(&url, &h, b).await;
    refused(|e| *e == ProviderError::Signature(SignatureError::BadSignature))(
        next(&mut events).await,
    );
    let (h, b) = wechat_notification(&attacker, "ATTACKER", now, "N4", mchid, key);
    post_notification(&url, &h, b).await;
    refused(|e| {
        matches!(
            e,
            ProviderError::Signature(SignatureError::UnknownSerial(_))
        )
    })(next(&mut events).await);
    // Stale: a genuine notification older than five minutes.
    let (h, b) = wechat_notification(&platform, serial, now - 301, "N5", mchid, key);
    post_notification(&url, &h, b).await;
    refused(|e| matches!(e, ProviderError::Signature(SignatureError::Expired { .. })))(
        next(&mut events).await,
    );
    // Unsigned.
    post_notification(&url, &HeaderMap::new(), body.clone()).await;
    refused(|e| {
        matches!(
            e,
            ProviderError::Signature(SignatureError::MissingHeader(_))
        )
    })(next(&mut events).await);
    // Signed, but the resource was encrypted under another key (or its ciphertext altered).
    let (h, b) = wechat_notification(
        &platform,
        serial,
        now,
        "N6",
        mchid,
        "0123456789abcdef0123456789abcdef",
    );
    post_notification(&url, &h, b).await;
    refused(|e| matches!(e, ProviderError::Resource(_)))(next(&mut events).await);
    // Signed and encrypted, but for another merchant.
    let (h, b) = wechat_notification(&platform, serial, now, "N7", "1999999999", key);
    post_notification(&url, &h, b).await;
    refused(|e| matches!(e, ProviderError::Mismatch(_)))(next(&mut events).await);
}

#[tokio::test]
async fn alipay_wap_payment_from_cashier_to_refund_notification() {
    let (sim, alipay, mut events) = alipay_setup().await;
    let PaymentStart::Redirect(url) = alipay
        .create_payment(&payment(
            "SP2026000030",
            8888,
            Channel::AlipayWap { return_url: None },
        ))
        .await
        .unwrap()
    else {
        panic!("Alipay answers a redirect")
    };
    assert!(
        url.starts_with(&sim.alipay_gateway())
            && url.contains("method=alipay.trade.wap.pay")
            && url.contains("sign=")
    );
    assert_eq!(
        alipay.query("SP2026000030").await.unwrap(),
        PaymentStatus::NotPaid
    );

    // The buyer's browser follows the redirect to the cashier and pays.
    let cashier = http().get(&url).send().await.unwrap();
    let pay_url = cashier.url().to_string();
    let page = cashier.text().await.unwrap();
    assert!(
        page.contains("模拟支付") && page.contains("88.88") && page.contains("支付宝"),
        "{page}"
    );
    assert_eq!(
        alipay.query("SP2026000030").await.unwrap(),
        PaymentStatus::NotPaid
    );
    http()
        .post(format!("{pay_url}/confirm"))
        .send()
        .await
        .unwrap();
    let (status, event) = next(&mut events).await;
    assert_eq!(status, 200);
    let NotificationEvent::Confirmed(paid) = event.unwrap() else {
        panic!("a payment")
    };
    assert_eq!(
        (paid.out_trade_no.as_str(), paid.amount_fen),
        ("SP2026000030", 8888)
    );
    assert_eq!(sim.notifications().last().unwrap().answer, "success");
    let PaymentStatus::Paid(queried) = alipay.query("SP2026000030").await.unwrap() else {
        panic!("paid")
    };
    assert_eq!(queried.transaction_id, paid.transaction_id);

    let refund = Refund {
        out_trade_no: "SP2026000030".into(),
        out_refund_no: "RF2026000030".into(),
        refund_fen: 888,
        total_fen: 8888,
        reason: "少送一桶".into(),
    };
    assert_eq!(
        alipay.refund(&refund).await.unwrap().state,
        RefundState::Succeeded
    );
    let NotificationEvent::Refund(refunded) = next(&mut events).await.1.unwrap() else {
        panic!("a refund")
    };
    assert_eq!(
        (refunded.out_refund_no.as_str(), refunded.refund_fen),
        ("RF2026000030", 888)
    );
    // Repeating out_request_no moves no money again.
    assert_eq!(
        alipay.refund(&refund).await.unwrap().state,
        RefundState::Processing
    );
    assert_eq!(
        sim.order(Provider::Alipay, "SP2026000030")
            .unwrap()
            .refunds
            .len(),
        1
    );
    let too_much = Refund {
        out_refund_no: "RF2026000031".into(),
        refund_fen: 8001,
        ..refund
    };
    assert!(
        matches!(alipay.refund(&too_much).await, Err(ProviderError::Alipay(AlipayError::Refused { sub_code: Some(s), .. })) if s == sub_code::REFUND_AMT_NOT_EQUAL_TOTAL)
    );

    // Closing: a paid trade cannot be closed; an unpaid one can, and can then not be paid.
    assert!(
        matches!(alipay.close("SP2026000030").await, Err(ProviderError::Alipay(AlipayError::Refused { sub_code: Some(s), .. })) if s == sub_code::TRADE_STATUS_ERROR)
    );
    let PaymentStart::Redirect(url) = alipay
        .create_payment(&payment(
            "SP2026000031",
            100,
            Channel::AlipayPage {
                return_url: Some("http://127.0.0.1:9/back".into()),
            },
        ))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(url.contains("method=alipay.trade.page.pay"));
    http().get(&url).send().await.unwrap();
    alipay.close("SP2026000031").await.unwrap();
    assert_eq!(
        alipay.query("SP2026000031").await.unwrap(),
        PaymentStatus::Closed
    );
    let page = http()
        .get(sim.pay_page_url(Provider::Alipay, "SP2026000031"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("订单已支付或已关闭"));
}

#[tokio::test]
async fn alipay_answers_that_are_forged_or_refuse_the_signature_are_reported() {
    let (sim, alipay, _) = alipay_setup().await;
    sim.set_faults(Faults {
        corrupt_answer_signatures: true,
        ..Faults::default()
    });
    assert!(matches!(
        alipay.query("SP2026000040").await,
        Err(ProviderError::Alipay(AlipayError::BadSignature))
    ));
    sim.set_faults(Faults {
        fail_requests: 1,
        ..Faults::default()
    });
    assert!(
        matches!(alipay.query("SP2026000040").await, Err(ProviderError::Alipay(AlipayError::Refused { code, .. })) if code == "20000")
    );

    let mut config = alipay_config(sim.alipay_gateway(), "http://127.0.0.1:9/notify".into());
    config.app_key = PrivateKey::from_pem(test_keys::WECHATPAY_MERCHANT_KEY).unwrap();
    let wrong_key = Alipay::new(config, http());
    assert!(
        matches!(wrong_key.query("SP2026000040").await, Err(ProviderError::Alipay(AlipayError::Refused { sub_code: Some(s), .. })) if s == sub_code::INVALID_SIGNATURE)
    );
    let page = http()
        .get(wrong_key.pay_url(true, "SP2026000041", 100, "水票", None))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
}

/// An Alipay notification form signed by `key` (sign and sign_type left out of the content).
fn alipay_form(key: &PrivateKey, params: &[(&str, &str)]) -> (BTreeMap<String, String>, Vec<u8>) {
    let mut map: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let sign = key.sign_base64(alipay::sign_content(&map, true).as_bytes());
    map.insert("sign".into(), sign);
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&map)
        .finish()
        .into_bytes();
    (map, body)
}

#[tokio::test]
async fn forged_and_tampered_alipay_notifications_are_refused_at_the_notify_url() {
    let sim = Simulator::start(SimConfig::test()).await.unwrap();
    let gateway = sim.alipay_gateway();
    let (_, mut events, url) =
        merchant(|notify_url| Alipay::new(alipay_config(gateway, notify_url), http())).await;
    let platform = PrivateKey::from_pem(test_keys::ALIPAY_PLATFORM_KEY).unwrap();
    let attacker = PrivateKey::from_pem(test_keys::ALIPAY_APP_KEY).unwrap();
    let fields = [
        ("app_id", test_keys::ALIPAY_APP_ID),
        ("notify_type", "trade_status_sync"),
        ("notify_id", "ac05099524730693a8b330c5ecf72da9786"),
        ("notify_time", "2026-01-01 10:00:01"),
        ("charset", "utf-8"),
        ("version", "1.0"),
        ("sign_type", "RSA2"),
        ("trade_no", "2026010122001400000000000050"),
        ("out_trade_no", "SP2026000050"),
        ("trade_status", "TRADE_SUCCESS"),
        ("total_amount", "58.00"),
        ("gmt_payment", "2026-01-01 10:00:00"),
    ];
    let send = |body: Vec<u8>| {
        let url = url.clone();
        async move {
            let response = http()
                .post(url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            response.text().await.unwrap()
        }
    };

    let (_, body) = alipay_form(&platform, &fields);
    assert_eq!(send(body).await, "success");
    assert!(
        matches!(next(&mut events).await.1, Ok(NotificationEvent::Confirmed(c)) if c.amount_fen == 5800)
    );

    let (_, body) = alipay_form(&attacker, &fields);
    assert_eq!(send(body).await, "failure");
    assert_eq!(
        next(&mut events).await.1,
        Err(ProviderError::Alipay(AlipayError::BadSignature))
    );

    let (mut map, _) = alipay_form(&platform, &fields);
    map.insert("total_amount".into(), "0.01".into());
    send(
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&map)
            .finish()
            .into_bytes(),
    )
    .await;
    assert_eq!(
        next(&mut events).await.1,
        Err(ProviderError::Alipay(AlipayError::BadSignature))
    );

    let mut other_app = fields;
    other_app[0] = ("app_id", "2021000000009999");
    let (_, body) = alipay_form(&platform, &other_app);
    send(body).await;
    assert!(matches!(
        next(&mut events).await.1,
        Err(ProviderError::Mismatch(_))
    ));

    let mut rsa1 = fields;
    rsa1[6] = ("sign_type", "RSA");
    let (_, body) = alipay_form(&platform, &rsa1);
    send(body).await;
    assert!(matches!(
        next(&mut events).await.1,
        Err(ProviderError::Alipay(AlipayError::SignType(_)))
    ));

    let (_, mut body) = alipay_form(&platform, &fields);
    body.extend_from_slice(b"&total_amount=0.01");
    send(body).await;
    assert!(matches!(
        next(&mut events).await.1,
        Err(ProviderError::Alipay(AlipayError::Malformed(_)))
    ));

    let (mut map, _) = alipay_form(&platform, &fields);
    map.remove("sign");
    send(
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&map)
            .finish()
            .into_bytes(),
    )
    .await;
    assert_eq!(
        next(&mut events).await.1,
        Err(ProviderError::Alipay(AlipayError::Unsigned))
    );
}

#[tokio::test]
async fn the_pay_page_cancel_leaves_the_order_unpaid() {
    let (sim, wechat, mut events) = wechat_setup().await;
    let PaymentStart::Redirect(url) = wechat
        .create_payment(&payment(
            "SP2026000060",
            100,
            Channel::WechatH5 {
                payer_client_ip: "127.0.0.1".into(),
            },
        ))
        .await
        .unwrap()
    else {
        panic!()
    };
    let cancelled = http()
        .post(format!("{url}/cancel"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(cancelled.contains("已取消支付"));
    assert_eq!(
        wechat.query("SP2026000060").await.unwrap(),
        PaymentStatus::NotPaid
    );
    assert!(events.try_recv().is_err());
    assert!(sim.notifications().is_empty());
}

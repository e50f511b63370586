//! Customer messages end to end on the store: routing to SMS, WeChat and push; each channel's
//! payload, retries, backoff and dead letter against its own mock gateway; redemption and
//! expiry messages queued exactly once; two servers delivering each message once.

use axum::http::{Method, StatusCode};
use shuipiao_server::config::{GatewayConfig, NotifyConfig};
use shuipiao_server::issuance::{self, IssueOrder};
use shuipiao_server::notify::adapter::Adapters;
use shuipiao_server::notify::dispatch::{Dispatcher, Round};
use shuipiao_server::notify::{self, jobs};
use shuipiao_server::pii::{self, Phone};
use shuipiao_server::store::Store;
use shuipiao_server::store::models::{
    Channel, MessageKind, NewNotification, NotificationFilter, NotificationState, User,
};

use crate::gateway::Gateway;
use crate::support::{self, NOW, TestDb, on_both_backends};

on_both_backends!(two_servers_deliver_each_message_once);

fn dispatcher_for(store: &Store, config: NotifyConfig) -> Dispatcher {
    let adapters = Adapters::from_config(&config).unwrap();
    Dispatcher::new(
        store.clone(),
        support::master(),
        adapters,
        config.max_attempts,
        config.claim_secs,
    )
}

fn http_dispatcher(store: &Store, gateway: &Gateway, max_attempts: u32) -> Dispatcher {
    let config = NotifyConfig {
        sms: gateway.config(),
        max_attempts,
        ..NotifyConfig::default()
    };
    dispatcher_for(store, config)
}

fn sms(phone: &str, body: &str) -> NewNotification {
    notify::by_sms(
        None,
        Phone::parse(phone).unwrap().seal(&support::master()),
        MessageKind::Code,
        body.into(),
        None,
    )
}

async fn customer(store: &Store, phone: &str) -> User {
    support::phone_customer(store, phone, "客户").await
}

async fn bind(store: &Store, user: &User, channel: Channel, address: &str) {
    let sealed = pii::seal_address(&support::master(), channel.as_str(), address);
    store
        .bind_channel(user.id, channel, Some(&sealed), NOW)
        .await
        .unwrap();
}

/// Queues one "issued" message for each user's account, as issuing a book does.
async fn tell(store: &Store, users: &[&User], text: &str) {
    for user in users {
        notify::tell_account(
            store,
            user.spec.account_id.unwrap(),
            MessageKind::Issued,
            text,
            Some(&format!("test:{text}")),
            NOW,
        )
        .await;
    }
}

fn state_of(
    list: &[shuipiao_server::store::models::Notification],
    user: &User,
) -> (Channel, NotificationState, u32) {
    let message = list
        .iter()
        .find(|m| m.spec.user_id == Some(user.id))
        .expect("the user has a message");
    (message.spec.channel, message.state, message.attempts)
}

#[tokio::test]
async fn each_channel_gets_its_own_payload_and_fails_on_its_own() {
    let db = support::TestDb::sqlite();
    let store = support::open(&db).await;
    let (sms_gateway, wechat_gateway, push_gateway) = (
        Gateway::start().await,
        Gateway::start().await,
        Gateway::start().await,
    );
    let dispatcher = dispatcher_for(
        &store,
        NotifyConfig {
            sms: sms_gateway.config(),
            wechat: wechat_gateway.config(),
            push: push_gateway.config(),
            max_attempts: 2,
            ..NotifyConfig::default()
        },
    );
    let by_sms = customer(&store, "13900000001").await;
    let by_wechat = customer(&store, "13900000002").await;
    let by_push = customer(&store, "13900000003").await;
    bind(&store, &by_wechat, Channel::Wechat, "oWX-openid-2").await;
    bind(&store, &by_push, Channel::Push, "device-token-3").await;
    // Bound to both: WeChat wins.
    bind(&store, &by_wechat, Channel::Push, "device-token-2").await;

    tell(
        &store,
        &[&by_sms, &by_wechat, &by_push],
        "您的家庭月套餐已到账,共4张",
    )
    .await;
    let queued = store
        .list_notifications(&NotificationFilter::default(), 10)
        .await
        .unwrap();
    assert_eq!(state_of(&queued, &by_sms).0, Channel::Sms);
    assert_eq!(state_of(&queued, &by_wechat).0, Channel::Wechat);
    assert_eq!(state_of(&queued, &by_push).0, Channel::Push);

    // The WeChat gateway is down: only its message waits, with the first 30 s backoff.
    wechat_gateway.fail_next(10);
    let first = dispatcher.run_once(NOW, 10).await.unwrap();
    assert_eq!(
        first,
        Round {
            sent: 2,
            retrying: 1,
            dead: 0,
            lost: 0
        }
    );
    let sms_payload = &sms_gateway.received()[0];
    assert_eq!(sms_payload["phone"], "13900000001");
    assert_eq!(sms_payload["text"], "您的家庭月套餐已到账,共4张");
    assert_eq!(sms_payload.as_object().unwrap().len(), 3, "{sms_payload}");
    let push_payload = &push_gateway.received()[0];
    assert_eq!(push_payload["token"], "device-token-3");
    assert_eq!(push_payload["title"], "水票到账");
    assert_eq!(push_payload["body"], "您的家庭月套餐已到账,共4张");
    assert!(
        push_payload.get("phone").is_none(),
        "a push carries no phone number"
    );
    assert!(wechat_gateway.received().is_empty());

    assert_eq!(
        dispatcher.run_once(NOW + 29, 10).await.unwrap(),
        Round::default()
    );
    let last = dispatcher.run_once(NOW + 30, 10).await.unwrap();
    assert_eq!(
        last,
        Round {
            sent: 0,
            retrying: 0,
            dead: 1,
            lost: 0
        },
        "two attempts, then dead"
    );
    let after = store
        .list_notifications(&NotificationFilter::default(), 10)
        .await
        .unwrap();
    assert_eq!(
        state_of(&after, &by_wechat),
        (Channel::Wechat, NotificationState::Dead, 2)
    );
    assert_eq!(state_of(&after, &by_sms).1, NotificationState::Sent);
    assert_eq!(state_of(&after, &by_push).1, NotificationState::Sent);
    let dead = after
        .iter()
        .find(|m| m.spec.user_id == Some(by_wechat.id))
        .unwrap();
    assert!(
        dead.last_error.as_deref().unwrap().contains("503"),
        "{dead:?}"
    );

    // Resent once the gateway is back: the template message arrives in WeChat's shape.
    wechat_gateway.fail_next(0);
    store
        .resend_notification(dead.id, NOW + 100, &support::audit("notification.resend"))
        .await
        .unwrap();
    assert_eq!(dispatcher.run_once(NOW + 100, 10).await.unwrap().sent, 1);
    let template = &wechat_gateway.received()[0];
    assert_eq!(template["touser"], "oWX-openid-2");
    assert_eq!(template["template_id"], "TPL-ACCOUNT-NOTICE");
    assert_eq!(template["data"]["first"]["value"], "水票到账");
    assert_eq!(
        template["data"]["keyword1"]["value"],
        "您的家庭月套餐已到账,共4张"
    );
    assert_eq!(template["id"], dead.id);

    // Codes always go by SMS, even to a WeChat user.
    let phone = Phone::parse("13900000002").unwrap();
    shuipiao_server::signup::send_code(&store, &support::master(), &phone, NOW + 200)
        .await
        .unwrap();
    dispatcher.run_once(NOW + 200, 10).await.unwrap();
    assert!(
        sms_gateway
            .received()
            .iter()
            .any(|m| m["phone"] == "13900000002" && m["text"].as_str().unwrap().contains("验证码")),
        "{:?}",
        sms_gateway.received()
    );
    assert_eq!(wechat_gateway.received().len(), 1);
}

#[tokio::test]
async fn a_channel_turned_off_falls_back_to_sms_and_unbinding_stops_routing_there() {
    let db = support::TestDb::sqlite();
    let store = support::open(&db).await;
    let sms_gateway = Gateway::start().await;
    let push_gateway = Gateway::start().await;
    let user = customer(&store, "13700000001").await;
    bind(&store, &user, Channel::Push, "device-token").await;
    tell(&store, &[&user], "第一条").await;

    // Push is configured but switched off: the push message goes by SMS and says so.
    let push_off = GatewayConfig {
        enabled: false,
        ..push_gateway.config()
    };
    let dispatcher = dispatcher_for(
        &store,
        NotifyConfig {
            sms: sms_gateway.config(),
            push: push_off,
            ..NotifyConfig::default()
        },
    );
    assert_eq!(dispatcher.run_once(NOW, 10).await.unwrap().sent, 1);
    assert!(push_gateway.received().is_empty());
    assert_eq!(sms_gateway.received()[0]["phone"], "13700000001");
    let sent = store.notifications_of(user.id, 10).await.unwrap();
    assert_eq!(
        sent[0].spec.channel,
        Channel::Sms,
        "the channel that carried it"
    );

    store
        .bind_channel(user.id, Channel::Push, None, NOW)
        .await
        .unwrap();
    tell(&store, &[&user], "第二条").await;
    assert_eq!(
        store.notifications_of(user.id, 10).await.unwrap()[0]
            .spec
            .channel,
        Channel::Sms
    );
    assert!(
        store
            .bind_channel(user.id, Channel::Sms, Some(b"x"), NOW)
            .await
            .is_err(),
        "the SMS address is the phone number"
    );
}

#[tokio::test]
async fn failed_deliveries_back_off_then_succeed_or_dead_letter() {
    let db = support::TestDb::sqlite();
    let store = support::open(&db).await;
    let gateway = Gateway::start().await;
    let dispatcher = http_dispatcher(&store, &gateway, 3);
    store
        .enqueue_notifications(&[sms("13800000001", "一"), sms("13800000002", "二")], NOW)
        .await
        .unwrap();

    gateway.fail_next(2);
    let first = dispatcher.run_once(NOW, 10).await.unwrap();
    assert_eq!(
        first,
        Round {
            sent: 0,
            retrying: 2,
            dead: 0,
            lost: 0
        }
    );
    let early = dispatcher.run_once(NOW + 29, 10).await.unwrap();
    assert_eq!(
        early,
        Round::default(),
        "nothing is due before the 30 s backoff"
    );
    gateway.fail_next(1);
    let second = dispatcher.run_once(NOW + 30, 10).await.unwrap();
    assert_eq!(
        second,
        Round {
            sent: 1,
            retrying: 1,
            dead: 0,
            lost: 0
        }
    );
    let texts: Vec<_> = gateway
        .received()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts.len(), 1);

    // The second backoff is 60 s; the third failure is the last allowed.
    gateway.fail_next(1);
    assert_eq!(
        dispatcher.run_once(NOW + 89, 10).await.unwrap(),
        Round::default()
    );
    let third = dispatcher.run_once(NOW + 90, 10).await.unwrap();
    assert_eq!(
        third,
        Round {
            sent: 0,
            retrying: 0,
            dead: 1,
            lost: 0
        }
    );
    assert_eq!(
        dispatcher.run_once(NOW + 10_000, 10).await.unwrap(),
        Round::default()
    );
    assert_eq!(gateway.received().len(), 1, "a dead message is never sent");
    let received = gateway.received();
    assert!(
        received[0]["phone"]
            .as_str()
            .unwrap()
            .starts_with("1380000000")
    );

    // A gateway that does not check out (wrong secret → 401) counts as a failure too.
    let wrong_secret = GatewayConfig {
        secret: Some("wrong".into()),
        ..gateway.config()
    };
    let wrong = dispatcher_for(
        &store,
        NotifyConfig {
            sms: wrong_secret,
            max_attempts: 1,
            ..NotifyConfig::default()
        },
    );
    store
        .enqueue_notifications(&[sms("13800000003", "三")], NOW)
        .await
        .unwrap();
    assert_eq!(wrong.run_once(NOW + 20_000, 10).await.unwrap().dead, 1);
}

#[tokio::test]
async fn redemptions_and_expiry_are_told_once() {
    let db = support::TestDb::sqlite();
    let server = support::start(&db).await;
    let store = &server.store;
    let catalogue = support::catalogue(store, 4).await;
    let master = support::master();
    let user = customer(store, "13511112222").await;
    let now = shuipiao_server::unix_now();
    let order = IssueOrder {
        account_id: user.spec.account_id.unwrap(),
        package_id: catalogue.package_id,
        quantity: 1,
        allocations: Vec::new(),
    };
    let book = issuance::issue_order(store, &master, &order, None, now)
        .await
        .unwrap()
        .books
        .remove(0);
    let bodies = |list: Vec<shuipiao_server::store::models::Notification>| {
        list.into_iter().map(|n| n.spec.body).collect::<Vec<_>>()
    };
    let told = bodies(store.notifications_of(user.id, 10).await.unwrap());
    assert_eq!(told.len(), 1);
    assert!(told[0].contains("家庭月套餐已到账,共4张"), "{told:?}");

    let (_, admin_token) = server
        .user("admin", shuipiao_server::store::models::Role::Admin, None)
        .await;
    let mut device = server.device(&admin_token, "courier1").await;
    let events = vec![device.redeem(book.id, 1)];
    let pushed = server
        .call(
            axum::http::Method::POST,
            "/api/v1/sync/push",
            Some(&device.token),
            Some(serde_json::json!({ "events": events })),
        )
        .await;
    assert_eq!(pushed.status, axum::http::StatusCode::OK);
    assert_eq!(jobs::usage(store, 10, now).await.unwrap(), 1);
    assert_eq!(jobs::usage(store, 10, now).await.unwrap(), 0, "told once");
    let events = vec![device.redeem(book.id, 2)];
    server
        .call(
            axum::http::Method::POST,
            "/api/v1/sync/push",
            Some(&device.token),
            Some(serde_json::json!({ "events": events })),
        )
        .await;
    jobs::usage(store, 10, now).await.unwrap();
    let account_id = user.spec.account_id.unwrap();
    assert_eq!(
        store.points_balance(account_id).await.unwrap(),
        30,
        "10 points per unit"
    );
    let told = bodies(store.notifications_of(user.id, 10).await.unwrap());
    assert_eq!(
        told[..2],
        [
            "【水票】您的水票已使用2张,剩余1张。".to_string(),
            "【水票】您的水票已使用1张,剩余3张。".to_string()
        ],
        "{told:?}"
    );

    // 31-day validity: a reminder three days before the end, once.
    let near_end = i64::from(book.valid_until) - 2 * 86_400;
    assert_eq!(jobs::expiry(store, near_end).await.unwrap(), 1);
    jobs::expiry(store, near_end + 60).await.unwrap();
    let told = bodies(store.notifications_of(user.id, 10).await.unwrap());
    assert_eq!(
        told.iter().filter(|t| t.contains("到期")).count(),
        1,
        "{told:?}"
    );
    assert!(told[0].contains("还剩1张"), "{told:?}");
    assert_eq!(
        jobs::expiry(store, now).await.unwrap(),
        0,
        "not yet near the end"
    );
}

#[tokio::test]
async fn the_app_binds_and_unbinds_a_push_token_over_http() {
    let db = support::TestDb::sqlite();
    let server = support::start(&db).await;
    let master = support::master();
    let user = support::phone_customer(&server.store, "13600000001", "赵家").await;
    let login = server
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(serde_json::json!({ "username": "p-13600000001", "password": support::PASSWORD })),
        )
        .await;
    let token = login.json["token"].as_str().unwrap().to_string();
    let account = user.spec.account_id.unwrap();
    let path = "/api/v1/me/channels/push";

    for (bad_path, body) in [
        (
            "/api/v1/me/channels/sms",
            serde_json::json!({ "address": "x" }),
        ),
        (
            "/api/v1/me/channels/fax",
            serde_json::json!({ "address": "x" }),
        ),
        (path, serde_json::json!({ "address": "  " })),
        (path, serde_json::json!({ "address": "有空格 的令牌" })),
        (path, serde_json::json!({ "token": "x" })),
    ] {
        let refused = server
            .call(Method::PUT, bad_path, Some(&token), Some(body))
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad_path}");
        assert_eq!(refused.json["code"], "bad_request");
        let message = refused.json["message"].as_str().unwrap_or_default();
        assert!(
            message
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "the customer is told in Chinese: {message}"
        );
    }
    let recipient = &server.store.recipients(account).await.unwrap()[0];
    assert_eq!(recipient.push_sealed, None, "bad input changes nothing");

    let bound = server
        .call(
            Method::PUT,
            path,
            Some(&token),
            Some(serde_json::json!({ "address": "tok-123" })),
        )
        .await;
    assert_eq!(bound.status, StatusCode::NO_CONTENT);
    let recipient = &server.store.recipients(account).await.unwrap()[0];
    let sealed = recipient.push_sealed.as_deref().expect("bound");
    assert_eq!(
        pii::open_address(&master, "push", sealed).unwrap(),
        "tok-123"
    );
    assert_eq!(
        notify::route(MessageKind::Redeemed, recipient).0,
        Channel::Push
    );

    let unbound = server.call(Method::DELETE, path, Some(&token), None).await;
    assert_eq!(unbound.status, StatusCode::NO_CONTENT);
    let recipient = &server.store.recipients(account).await.unwrap()[0];
    assert_eq!(
        notify::route(MessageKind::Redeemed, recipient).0,
        Channel::Sms
    );
}

/// Two servers on one database run their delivery rounds at the same moment: each message
/// reaches the gateway once.
async fn two_servers_deliver_each_message_once(db: TestDb) {
    let store = support::open(&db).await;
    let gateway = Gateway::start().await;
    let messages: Vec<NewNotification> = (0..20)
        .map(|n| sms("13900000009", &format!("【水票】第{n}条")))
        .collect();
    store.enqueue_notifications(&messages, NOW).await.unwrap();
    let first = http_dispatcher(&store, &gateway, 3);
    let second = http_dispatcher(&support::open(&db).await, &gateway, 3);
    let (a, b) = tokio::join!(first.run_once(NOW, 100), second.run_once(NOW, 100));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.sent + b.sent, 20, "{a:?} {b:?}");
    assert_eq!(gateway.received().len(), 20, "no message went out twice");
}

//! Customer messages end to end on the store: the dispatcher's retries, backoff and dead letter
//! against a mock gateway; redemption and expiry messages queued exactly once.

use shuipiao_server::issuance::{self, IssueOrder};
use shuipiao_server::notify::dispatch::{Dispatcher, Round};
use shuipiao_server::notify::jobs;
use shuipiao_server::notify::sink::{HttpSink, Sink};
use shuipiao_server::pii::Phone;
use shuipiao_server::store::models::{Channel, NewCustomer, NewNotification};
use shuipiao_server::store::{SqlStore, Store};

use crate::gateway::{self, Gateway};
use crate::support::{self, NOW};

fn http_dispatcher(store: &SqlStore, gateway: &Gateway, max_attempts: u32) -> Dispatcher<SqlStore> {
    let sink = Sink::Http(HttpSink::new(gateway.url.clone(), gateway::SECRET.into()).unwrap());
    Dispatcher::new(store.clone(), support::master(), sink, max_attempts)
}

fn sms(phone: &str, body: &str) -> NewNotification {
    NewNotification {
        user_id: None,
        channel: Channel::Sms,
        recipient_sealed: Phone::parse(phone).unwrap().seal(&support::master()),
        kind: "code",
        body: body.into(),
        dedupe_key: None,
    }
}

#[tokio::test]
async fn failed_deliveries_back_off_then_succeed_or_dead_letter() {
    let db = support::sqlite_db();
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
            dead: 0
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
            dead: 0
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
            dead: 1
        }
    );
    assert_eq!(
        dispatcher.run_once(NOW + 10_000, 10).await.unwrap(),
        Round::default()
    );
    assert_eq!(gateway.received().len(), 1, "a dead message is never sent");
    let received = gateway.received();
    assert!(
        received[0]["to"]
            .as_str()
            .unwrap()
            .starts_with("1380000000")
    );

    // A gateway that does not check out (wrong secret → 401) counts as a failure too.
    let wrong = Dispatcher::new(
        store.clone(),
        support::master(),
        Sink::Http(HttpSink::new(gateway.url.clone(), "wrong".into()).unwrap()),
        1,
    );
    store
        .enqueue_notifications(&[sms("13800000003", "三")], NOW)
        .await
        .unwrap();
    assert_eq!(wrong.run_once(NOW + 20_000, 10).await.unwrap().dead, 1);
}

#[tokio::test]
async fn redemptions_and_expiry_are_told_once() {
    let db = support::sqlite_db();
    let server = support::start(&db).await;
    let store = &server.store;
    let catalogue = support::catalogue(store, 4).await;
    let master = support::master();
    let phone = Phone::parse("13511112222").unwrap();
    let user = store
        .register_customer(
            &NewCustomer {
                name: "周婷家".into(),
                enterprise_id: None,
                username: "p-zhou".into(),
                password_hash: "x".into(),
                phone_index: phone.index(&master),
                phone_sealed: phone.seal(&master),
                referrer: None,
                browser_hash: None,
            },
            NOW,
            &support::audit("customer.register"),
        )
        .await
        .unwrap();
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

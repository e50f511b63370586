//! Couriers' delivery events close orders of water, pushed over HTTP by real enrolled devices on
//! both backends: the order is delivered or failed, its reservation released, the customer told
//! once however often the batch is pushed, and everything odd about a delivery (an unknown,
//! foreign or cancelled order, a second delivery in any arrival order, a payment that is not the
//! order's) lands in the review queue, where an operator marks it handled.

use std::num::NonZeroU16;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use shuipiao_server::accounts::Actor;
use shuipiao_server::local_time;
use shuipiao_server::store::delivery_orders::{DeliveryOrder, FeedChange, OrderState};
use shuipiao_server::store::models::{MessageKind, NotificationFilter, Role, User};
use shuipiao_server::{dispatch, unix_now};
use shuipiao_shared::event::{DeliveryOutcome, EventBody, EventFlags, MissReason, SignedEvent};
use shuipiao_shared::ids::{BookId, EventId};
use shuipiao_shared::sync::{EventField, PushRejection, PushResponse, PushResult, PushVerdict};

use crate::support::{self, TestDb, TestDevice, TestServer, on_both_backends};
use crate::web::{Browser, refused_page};

on_both_backends!(
    a_delivery_closes_the_order_releases_its_reservation_and_tells_the_customer_once,
    a_miss_fails_the_order_and_a_later_delivery_still_closes_it,
    a_second_delivery_is_reviewed_whatever_order_the_two_arrive_in,
    a_courier_closing_another_couriers_order_is_reviewed_and_withdrawn_from_the_owner,
    deliveries_of_cancelled_unknown_and_unstorable_orders_change_nothing,
    a_payment_other_than_the_orders_is_a_mismatch,
    an_operator_marks_an_order_item_handled_on_the_api_and_the_console,
);

const UNITS: u32 = 10;

struct Setup {
    server: TestServer,
    admin: (User, String),
    operator: String,
    customer: (User, String),
    address: i64,
    book: BookId,
    region: i64,
}

async fn setup(db: &TestDb) -> Setup {
    let server = support::start(db).await;
    let admin = server.user("admin", Role::Admin, None).await;
    let (_, operator) = server.user("operator", Role::Operator, None).await;
    let catalogue = support::catalogue(&server.store, UNITS).await;
    // A customer with a phone, so the outbox has someone to tell.
    let signed_up = support::phone_customer(&server.store, "13800138000", "王女士").await;
    let login = server
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "username": signed_up.spec.username, "password": support::PASSWORD })),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let account_id = signed_up.spec.account_id.unwrap();
    let customer = (signed_up, login.json["token"].as_str().unwrap().to_string());
    let added = server
        .call(
            Method::POST,
            "/api/v1/addresses",
            Some(&customer.1),
            Some(
                json!({"region_id": catalogue.region_id, "community": "幸福小区",
                "building": "3栋", "unit": "2单元", "room": "501", "contact": "王女士",
                "phone": "13800138000"}),
            ),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.text);
    let issued = server
        .call(
            Method::POST,
            "/api/v1/orders",
            Some(&operator),
            Some(json!({ "account_id": account_id, "package_id": catalogue.package_id, "quantity": 1 })),
        )
        .await;
    assert_eq!(issued.status, StatusCode::OK, "{:?}", issued.json);
    Setup {
        book: BookId(issued.json["books"][0]["id"].as_u64().unwrap()),
        address: added.json["id"].as_i64().unwrap(),
        region: catalogue.region_id,
        server,
        admin,
        operator,
        customer,
    }
}

fn bottles(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap()
}

fn cash(n: u16) -> DeliveryOutcome {
    DeliveryOutcome::Cash {
        bottles: bottles(n),
        deposits: 0,
    }
}

const MISSED: DeliveryOutcome = DeliveryOutcome::NotDelivered {
    reason: MissReason::NobodyHome,
};

fn delivery(
    device: &mut TestDevice,
    order: i64,
    outcome: DeliveryOutcome,
    empties: u16,
) -> SignedEvent {
    device.next(
        EventBody::Delivery {
            order_id: order as u64,
            outcome,
            empties,
        },
        EventFlags::default(),
    )
}

/// The scan of `book` for `units` and the tickets delivery naming it.
fn tickets(
    device: &mut TestDevice,
    order: i64,
    book: BookId,
    units: u16,
    bottles_: u16,
) -> [SignedEvent; 2] {
    let redemption = device.redeem(book, units);
    let delivered = delivery(
        device,
        order,
        DeliveryOutcome::Tickets {
            bottles: bottles(bottles_),
            deposits: 0,
            redemption: redemption.event.event_id,
        },
        2,
    );
    [redemption, delivered]
}

impl Setup {
    /// A courier of the region with an enrolled phone.
    async fn courier(&self, name: &str) -> TestDevice {
        let (courier, _) = self
            .server
            .user_at(name, Role::Courier, None, (Some(self.region), None))
            .await;
        self.server
            .enroll_device(&self.admin.1, courier.id, name)
            .await
    }

    /// The customer orders `bottles` for tomorrow morning, paid with `payment` (the book for
    /// tickets).
    async fn order(&self, bottles: u16, payment: &str) -> i64 {
        let tomorrow = local_time::date(unix_now() + 86_400);
        let book = (payment == "tickets").then_some(self.book.0);
        let placed = self
            .server
            .call(
                Method::POST,
                "/api/v1/delivery-orders",
                Some(&self.customer.1),
                Some(
                    json!({"address_id": self.address, "product": 189, "bottles": bottles,
                    "slot_date": tomorrow, "slot": "morning", "payment": payment, "book_id": book}),
                ),
            )
            .await;
        assert_eq!(placed.status, StatusCode::OK, "{}", placed.text);
        placed.json["id"].as_i64().unwrap()
    }

    async fn assign(&self, order: i64, device: &TestDevice) {
        let actor = Actor {
            user: Some(self.admin.0.id),
            via: "api",
        };
        dispatch::assign(&self.server.store, actor, order, device.courier, unix_now())
            .await
            .unwrap();
    }

    async fn push(&self, device: &TestDevice, events: &[SignedEvent]) -> Vec<PushResult> {
        let response = self
            .server
            .call(
                Method::POST,
                "/api/v1/sync/push",
                Some(&device.token),
                Some(json!({ "events": events })),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{:?}", response.json);
        serde_json::from_value::<PushResponse>(response.json)
            .unwrap()
            .results
    }

    async fn stored(&self, order: i64) -> DeliveryOrder {
        self.server.store.delivery_order(order).await.unwrap()
    }

    /// The messages of `kind` queued to the customer, as their texts.
    async fn told(&self, kind: MessageKind) -> Vec<String> {
        self.server
            .store
            .list_notifications(
                &NotificationFilter {
                    user_id: Some(self.customer.0.id),
                    kind: Some(kind),
                    ..NotificationFilter::default()
                },
                100,
            )
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.spec.body)
            .collect()
    }

    /// Audit entries of `action` about `order`.
    async fn audited(&self, action: &str, order: i64) -> usize {
        let target = format!("order:{order}");
        self.server
            .store
            .audit_log(10_000)
            .await
            .unwrap()
            .iter()
            .filter(|entry| entry.action == action && entry.target == target)
            .count()
    }

    /// The review queue as the operator reads it through the API.
    async fn review(&self, all: bool) -> Vec<Value> {
        let path = if all {
            "/api/v1/review?all=true"
        } else {
            "/api/v1/review"
        };
        let response = self
            .server
            .call(Method::GET, path, Some(&self.operator), None)
            .await;
        assert_eq!(response.status, StatusCode::OK, "{:?}", response.json);
        response.json.as_array().unwrap().clone()
    }

    /// The reasons the open queue gives `event`, empty if it is not there.
    async fn reasons(&self, event: &SignedEvent) -> Vec<String> {
        let id = event.event.event_id.0.to_string();
        self.review(false)
            .await
            .iter()
            .filter(|item| item["event_id"] == id.as_str())
            .flat_map(|item| {
                assert_eq!(
                    item["labels"].as_array().unwrap().len(),
                    item["reasons"].as_array().unwrap().len()
                );
                item["reasons"].as_array().unwrap().clone()
            })
            .map(|reason| reason.as_str().unwrap().to_string())
            .collect()
    }
}

fn verdicts(results: &[PushResult]) -> Vec<PushVerdict> {
    results.iter().map(|r| r.verdict).collect()
}

async fn a_delivery_closes_the_order_releases_its_reservation_and_tells_the_customer_once(
    db: TestDb,
) {
    let s = setup(&db).await;
    let mut zhang = s.courier("zhang").await;
    let order = s.order(2, "tickets").await;
    s.assign(order, &zhang).await;
    let store = &s.server.store;
    assert_eq!(
        store.orderable_units(s.book).await.unwrap(),
        i64::from(UNITS) - 2
    );

    let batch = tickets(&mut zhang, order, s.book, 2, 2);
    let results = s.push(&zhang, &batch).await;
    assert_eq!(
        verdicts(&results),
        [PushVerdict::Accepted; 2],
        "{results:?}"
    );
    let closed = s.stored(order).await;
    assert_eq!(closed.state, OrderState::Delivered);
    assert_eq!(closed.closed_at, Some(batch[1].event.scanned_at as i64));
    assert_eq!(closed.failure_reason, None);
    assert_eq!(
        store.orderable_units(s.book).await.unwrap(),
        i64::from(UNITS) - 2,
        "the redemption counts and the reservation is gone"
    );
    let expected = format!("【水票】您的订水单 #{order} 已送达 2 桶，收回空桶 2 只。");
    assert_eq!(
        s.told(MessageKind::OrderDelivered).await,
        std::slice::from_ref(&expected)
    );
    assert!(s.review(false).await.is_empty());

    // The same batch again, and on two servers of one database at once: nothing moves twice.
    let again = s.push(&zhang, &batch).await;
    assert_eq!(verdicts(&again), [PushVerdict::Duplicate; 2]);
    let second = support::start(&db).await;
    let push = |server: &'static str| {
        let server = if server == "first" {
            &s.server
        } else {
            &second
        };
        server.call(
            Method::POST,
            "/api/v1/sync/push",
            Some(&zhang.token),
            Some(json!({ "events": batch })),
        )
    };
    let (a, b) = tokio::join!(push("first"), push("second"));
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(s.told(MessageKind::OrderDelivered).await, [expected]);
    assert_eq!(s.audited("delivery_order.close", order).await, 1);
    assert_eq!(s.stored(order).await, closed);
}

async fn a_miss_fails_the_order_and_a_later_delivery_still_closes_it(db: TestDb) {
    let s = setup(&db).await;
    let mut zhang = s.courier("zhang").await;
    let order = s.order(1, "cash").await;
    s.assign(order, &zhang).await;
    let missed = delivery(&mut zhang, order, MISSED, 0);
    assert_eq!(
        verdicts(&s.push(&zhang, &[missed]).await),
        [PushVerdict::Accepted]
    );
    let failed = s.stored(order).await;
    assert_eq!(failed.state, OrderState::Failed);
    assert_eq!(failed.failure_reason.as_deref(), Some("无人在家"));
    let day = local_time::month_day(&failed.slot_date);
    assert_eq!(
        s.told(MessageKind::OrderFailed).await,
        [format!(
            "【水票】您的订水单 #{order}（{day} 上午）未能送达：无人在家。请联系水站重新安排。"
        )]
    );

    let delivered = delivery(&mut zhang, order, cash(1), 0);
    assert_eq!(
        verdicts(&s.push(&zhang, &[delivered]).await),
        [PushVerdict::Accepted]
    );
    let closed = s.stored(order).await;
    assert_eq!(closed.state, OrderState::Delivered);
    assert_eq!(closed.failure_reason, None);
    assert_eq!(closed.closed_at, Some(delivered.event.scanned_at as i64));
    assert_eq!(
        s.told(MessageKind::OrderDelivered).await,
        [format!("【水票】您的订水单 #{order} 已送达 1 桶。")]
    );
    assert_eq!(s.told(MessageKind::OrderFailed).await.len(), 1);
    assert_eq!(s.audited("delivery_order.close", order).await, 2);
    assert!(s.review(false).await.is_empty());
}

async fn a_second_delivery_is_reviewed_whatever_order_the_two_arrive_in(db: TestDb) {
    let s = setup(&db).await;
    let mut zhang = s.courier("zhang").await;
    let mut li = s.courier("li").await;
    for zhang_first in [true, false] {
        let order = s.order(1, "cash").await;
        s.assign(order, &zhang).await;
        // Li was at the door first (by the devices' clocks), Zhang after.
        li.clock = zhang.clock + 1_000;
        zhang.clock = li.clock + 1_000;
        let by_li = delivery(&mut li, order, cash(1), 0);
        let by_zhang = delivery(&mut zhang, order, cash(1), 0);
        let pushes = if zhang_first {
            [(&zhang, by_zhang), (&li, by_li)]
        } else {
            [(&li, by_li), (&zhang, by_zhang)]
        };
        for (device, event) in pushes {
            let results = s.push(device, &[event]).await;
            assert_eq!(results[0].rejection, None);
        }
        let closed = s.stored(order).await;
        assert_eq!(closed.state, OrderState::Delivered);
        assert_eq!(
            closed.closed_at,
            Some(by_li.event.scanned_at as i64),
            "zhang first: {zhang_first}"
        );
        assert_eq!(
            s.reasons(&by_li).await,
            ["foreign_order"],
            "zhang first: {zhang_first}"
        );
        assert_eq!(
            s.reasons(&by_zhang).await,
            ["delivered_twice"],
            "zhang first: {zhang_first}"
        );
        assert_eq!(s.audited("delivery_order.close", order).await, 1);
    }
    assert_eq!(
        s.told(MessageKind::OrderDelivered).await.len(),
        2,
        "one per order"
    );
}

async fn a_courier_closing_another_couriers_order_is_reviewed_and_withdrawn_from_the_owner(
    db: TestDb,
) {
    let s = setup(&db).await;
    let zhang = s.courier("zhang").await;
    let mut intruder = s.courier("intruder").await;
    let order = s.order(1, "cash").await;
    s.assign(order, &zhang).await;
    let feed_before = s
        .server
        .store
        .delivery_feed(zhang.courier, 0, 100)
        .await
        .unwrap();

    let taken = delivery(&mut intruder, order, cash(1), 0);
    let results = s.push(&intruder, &[taken]).await;
    assert_eq!(verdicts(&results), [PushVerdict::Conflict]);
    assert_eq!(
        s.stored(order).await.state,
        OrderState::Delivered,
        "the water was handed over"
    );
    assert_eq!(s.reasons(&taken).await, ["foreign_order"]);
    let feed = s
        .server
        .store
        .delivery_feed(zhang.courier, 0, 100)
        .await
        .unwrap();
    assert_eq!(feed.len(), feed_before.len() + 1);
    let last = feed.last().unwrap();
    assert_eq!((last.order_id, last.change), (order, FeedChange::Withdrawn));
    assert!(
        s.server
            .store
            .delivery_feed(intruder.courier, 0, 100)
            .await
            .unwrap()
            .is_empty(),
        "the intruder's phone learns nothing of the order"
    );
}

async fn deliveries_of_cancelled_unknown_and_unstorable_orders_change_nothing(db: TestDb) {
    let s = setup(&db).await;
    let mut zhang = s.courier("zhang").await;
    let cancelled = s.order(1, "cash").await;
    s.assign(cancelled, &zhang).await;
    let actor = Actor {
        user: Some(s.admin.0.id),
        via: "api",
    };
    dispatch::cancel_by_staff(&s.server.store, actor, cancelled, "客户不要了", unix_now())
        .await
        .unwrap();
    let before = s.stored(cancelled).await;

    let late = delivery(&mut zhang, cancelled, cash(1), 0);
    let zero = delivery(&mut zhang, 0, cash(1), 0);
    let max = delivery(&mut zhang, i64::MAX, cash(1), 0);
    let results = s.push(&zhang, &[late, zero, max]).await;
    assert_eq!(
        verdicts(&results),
        [PushVerdict::Conflict; 3],
        "{results:?}"
    );
    assert_eq!(
        s.stored(cancelled).await,
        before,
        "a cancelled order stays cancelled"
    );
    assert_eq!(s.reasons(&late).await, ["after_cancel"]);
    assert_eq!(s.reasons(&zero).await, ["unknown_order"]);
    assert_eq!(s.reasons(&max).await, ["unknown_order"]);
    assert!(s.told(MessageKind::OrderDelivered).await.is_empty());
    let item = s
        .review(false)
        .await
        .into_iter()
        .find(|item| item["event_id"] == max.event.event_id.0.to_string().as_str())
        .unwrap();
    assert_eq!(item["order_id"], json!(i64::MAX as u64));
    assert_eq!(item["book_id"], Value::Null);

    // An id past what the store holds is refused by name, and the chain goes on after it.
    let tip = zhang.tip;
    let past = zhang.next(
        EventBody::Delivery {
            order_id: u64::MAX,
            outcome: cash(1),
            empties: 0,
        },
        EventFlags::default(),
    );
    let results = s.push(&zhang, &[past]).await;
    assert_eq!(
        results[0].rejection,
        Some(PushRejection::OutOfRange {
            field: EventField::OrderId
        })
    );
    zhang.tip = tip;

    // 65535 empties close an order as any other count does.
    let order = s.order(1, "cash").await;
    s.assign(order, &zhang).await;
    let heavy = delivery(&mut zhang, order, cash(1), u16::MAX);
    assert_eq!(
        verdicts(&s.push(&zhang, &[heavy]).await),
        [PushVerdict::Accepted]
    );
    assert_eq!(s.stored(order).await.state, OrderState::Delivered);
    assert_eq!(
        s.told(MessageKind::OrderDelivered).await,
        [format!(
            "【水票】您的订水单 #{order} 已送达 1 桶，收回空桶 65535 只。"
        )]
    );
}

async fn a_payment_other_than_the_orders_is_a_mismatch(db: TestDb) {
    let s = setup(&db).await;
    let mut zhang = s.courier("zhang").await;
    let mut li = s.courier("li").await;

    let cash_on_tickets = s.order(1, "tickets").await;
    s.assign(cash_on_tickets, &zhang).await;
    let paid_cash = delivery(&mut zhang, cash_on_tickets, cash(1), 0);
    assert_eq!(
        verdicts(&s.push(&zhang, &[paid_cash]).await),
        [PushVerdict::Conflict]
    );
    assert_eq!(s.reasons(&paid_cash).await, ["redemption_mismatch"]);
    assert_eq!(s.stored(cash_on_tickets).await.state, OrderState::Delivered);

    let short = s.order(2, "tickets").await;
    s.assign(short, &zhang).await;
    let batch = tickets(&mut zhang, short, s.book, 1, 2);
    let results = s.push(&zhang, &batch).await;
    assert_eq!(
        verdicts(&results),
        [PushVerdict::Accepted, PushVerdict::Conflict]
    );
    assert_eq!(s.reasons(&batch[1]).await, ["redemption_mismatch"]);

    // Zhang's delivery naming a redemption Li's phone made.
    let borrowed = s.order(1, "tickets").await;
    s.assign(borrowed, &zhang).await;
    let lis = li.redeem(s.book, 1);
    s.push(&li, &[lis]).await;
    let named = delivery(
        &mut zhang,
        borrowed,
        DeliveryOutcome::Tickets {
            bottles: bottles(1),
            deposits: 0,
            redemption: lis.event.event_id,
        },
        0,
    );
    s.push(&zhang, &[named]).await;
    assert_eq!(s.reasons(&named).await, ["redemption_mismatch"]);

    let tickets_on_cash = s.order(1, "cash").await;
    s.assign(tickets_on_cash, &zhang).await;
    let batch = tickets(&mut zhang, tickets_on_cash, s.book, 1, 1);
    s.push(&zhang, &batch).await;
    assert_eq!(s.reasons(&batch[1]).await, ["redemption_mismatch"]);
}

async fn an_operator_marks_an_order_item_handled_on_the_api_and_the_console(db: TestDb) {
    let s = setup(&db).await;
    let mut zhang = s.courier("zhang").await;
    let first = delivery(&mut zhang, 9_001, cash(1), 0);
    let second = delivery(&mut zhang, 9_002, cash(1), 0);
    s.push(&zhang, &[first, second]).await;
    let id = |event: &SignedEvent| event.event.event_id;

    let s = &s;
    let resolve = |event: EventId, body: Value| {
        let path = format!("/api/v1/review/{}/resolve", event.0);
        async move {
            s.server
                .call(Method::POST, &path, Some(&s.operator), Some(body))
                .await
        }
    };
    let refused = resolve(id(&first), json!({"action": "void", "note": "误扫"})).await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        refused.json
    );
    assert_eq!(refused.json["message"], "订单冲突只能标记为已处理");
    let done = resolve(
        id(&first),
        json!({"action": "write_off", "note": "电话核实,客户未下单"}),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.json);
    assert_eq!(done.json, Value::Null);
    assert!(s.reasons(&first).await.is_empty());
    let all = s.review(true).await;
    let item = all
        .iter()
        .find(|item| item["event_id"] == id(&first).0.to_string().as_str())
        .unwrap();
    assert_eq!(item["resolution"], "write_off");

    let mut browser = Browser::new(&s.server);
    browser.sign_in("operator").await;
    let page = browser.get("/admin/review").await;
    assert!(page.text.contains("订单 #9002"), "{}", page.text);
    assert!(page.text.contains("订单不存在"));
    let form = format!("/admin/review/{}/resolve", id(&second).0);
    let csrf = browser.csrf();
    let posted = browser
        .post_form(&form, &[("csrf", &csrf), ("action", "void"), ("note", "")])
        .await;
    refused_page(&posted, "订单冲突只能标记为已处理");
    let posted = browser
        .post_form(
            &form,
            &[("csrf", &csrf), ("action", "write_off"), ("note", "已核实")],
        )
        .await;
    assert!(posted.status.is_redirection(), "{}", posted.text);
    assert!(s.review(false).await.is_empty());
    let resolutions = s
        .server
        .store
        .audit_log(10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|entry| entry.action == "review.resolve")
        .count();
    assert_eq!(resolutions, 2);
}

//! Buckets (押桶 / 空桶) over HTTP on both backends: real signed delivery events pushed from
//! enrolled devices make each account's bucket ledger, read through the API; deposits, opening
//! balances and refunds recorded by operators; empties beyond what the customer held reviewed
//! until an opening balance; and the attacks: records by the wrong people, numbers out of range.

use std::num::NonZeroU16;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use shuipiao_server::ordering::orders::{self, OrderInput};
use shuipiao_server::store::models::{AccountKind, Role, User};
use shuipiao_shared::event::{DeliveryOutcome, EventBody, EventFlags, MissReason, SignedEvent};

use crate::support::{self, TestDb, TestDevice, TestServer, on_both_backends};
use crate::web::{Browser, refused_page};

on_both_backends!(
    deposits_at_the_door_and_the_counter_make_the_steady_state_and_refunds_stop_at_refundable,
    empties_beyond_what_the_customer_held_are_reviewed_until_an_opening_balance,
    a_batch_pushed_twice_or_two_devices_in_either_order_give_the_same_numbers,
    only_operators_and_admins_record_and_only_the_account_reads_its_buckets,
    numbers_out_of_range_are_refused_with_the_rules_message_and_change_nothing,
    a_products_deposit_is_set_within_its_range,
    the_console_records_with_the_apis_rules_and_the_wallet_shows_the_card,
    statistics_count_rounds_by_customer_region_and_courier_and_buckets_held_by_region,
);

struct Plant {
    server: TestServer,
    admin: String,
    operator: String,
    customer: User,
    customer_token: String,
    account: i64,
    address: i64,
}

async fn plant(db: &TestDb) -> Plant {
    let server = support::start(db).await;
    let region = support::catalogue(&server.store, 10).await.region_id;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    let (_, operator) = server.user("kefu", Role::Operator, None).await;
    let account = support::customer_account(&server.store, "张三家").await.id;
    let (customer, customer_token) = server.user("zhangsan", Role::Customer, Some(account)).await;
    let address = support::address(&server.store, &customer, region, "小区", "301").await;
    Plant {
        server,
        admin,
        operator,
        customer,
        customer_token,
        account,
        address,
    }
}

impl Plant {
    /// A cash order of the customer's for tomorrow morning.
    async fn order(&self) -> u64 {
        self.order_for(&self.customer, self.address).await
    }

    /// A cash order of `customer`'s to `address` for tomorrow morning.
    async fn order_for(&self, customer: &User, address: i64) -> u64 {
        let now = shuipiao_server::unix_now();
        orders::place(
            &self.server.store,
            customer,
            &OrderInput {
                address_id: address,
                product: 189,
                bottles: 2,
                slot_date: shuipiao_server::local_time::date(now + 86_400),
                slot: "morning".into(),
                note: String::new(),
                payment: "cash".into(),
                book_id: None,
            },
            now,
        )
        .await
        .unwrap()
        .id as u64
    }

    async fn device(&self, name: &str) -> TestDevice {
        self.server.device(&self.admin, name).await
    }

    async fn push(&self, device: &TestDevice, events: &[SignedEvent]) {
        let pushed = self
            .server
            .call(
                Method::POST,
                "/api/v1/sync/push",
                Some(&device.token),
                Some(json!({ "events": events })),
            )
            .await;
        assert_eq!(pushed.status, StatusCode::OK, "{}", pushed.text);
    }

    /// `GET /api/v1/accounts/{id}/buckets` of the customer's account as `token`.
    async fn read(&self, token: &str) -> support::Response {
        self.server
            .call(
                Method::GET,
                &format!("/api/v1/accounts/{}/buckets", self.account),
                Some(token),
                None,
            )
            .await
    }

    /// The account's buckets as `token` reads them through the API.
    async fn buckets(&self, token: &str) -> Value {
        let read = self.read(token).await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.text);
        read.json
    }

    /// (held, deposits, owed, refundable, held_back) of product 189.
    async fn figures(&self) -> (u64, u64, u64, u64, u64) {
        let json = self.buckets(&self.operator).await;
        let product = &json["products"][0];
        assert_eq!(product["product"], 189);
        let n = |key: &str| product[key].as_u64().unwrap();
        (
            n("held"),
            n("deposits"),
            n("owed"),
            n("refundable"),
            n("held_back"),
        )
    }

    async fn record(&self, token: &str, body: Value) -> support::Response {
        self.server
            .call(
                Method::POST,
                &format!("/api/v1/accounts/{}/buckets/records", self.account),
                Some(token),
                Some(body),
            )
            .await
    }

    /// Open review items with the empties_exceed reason.
    async fn empties_items(&self) -> Vec<String> {
        let queue = self
            .server
            .call(Method::GET, "/api/v1/review", Some(&self.operator), None)
            .await;
        queue
            .json
            .as_array()
            .unwrap()
            .iter()
            .filter(|item| {
                item["reasons"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("empties_exceed"))
            })
            .map(|item| item["event_id"].as_str().unwrap().to_string())
            .collect()
    }
}

/// A cash delivery of `order`: `full` buckets handed over, `empties` taken back, `deposits`
/// collected at the door.
fn delivery(
    device: &mut TestDevice,
    order: u64,
    full: u16,
    empties: u16,
    deposits: u16,
) -> SignedEvent {
    device.next(
        EventBody::Delivery {
            order_id: order,
            outcome: DeliveryOutcome::Cash {
                bottles: NonZeroU16::new(full).unwrap(),
                deposits,
            },
            empties,
        },
        EventFlags::default(),
    )
}

async fn deposits_at_the_door_and_the_counter_make_the_steady_state_and_refunds_stop_at_refundable(
    db: TestDb,
) {
    let plant = plant(&db).await;
    let mut phone = plant.device("送水员").await;
    let (first, second) = (plant.order().await, plant.order().await);
    let events = [
        delivery(&mut phone, first, 2, 0, 2),
        delivery(&mut phone, second, 2, 2, 0),
    ];
    plant.push(&phone, &events).await;
    assert_eq!(plant.figures().await, (2, 2, 0, 0, 0));

    let paid = plant
        .record(
            &plant.operator,
            json!({ "product": 189, "kind": "deposit", "buckets": 1, "method": "cash" }),
        )
        .await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.text);
    assert_eq!(paid.json["record"]["amount_fen"], 3000);
    assert_eq!(plant.figures().await, (2, 3, 0, 1, 0));

    let too_much = plant
        .record(
            &plant.operator,
            json!({ "product": 189, "kind": "refund", "buckets": 2 }),
        )
        .await;
    assert_eq!(
        (too_much.status, too_much.json["message"].as_str()),
        (StatusCode::BAD_REQUEST, Some("最多可退 1 只桶的押金"))
    );
    assert_eq!(plant.figures().await, (2, 3, 0, 1, 0), "nothing changed");

    let refunded = plant
        .record(
            &plant.admin,
            json!({ "product": 189, "kind": "refund", "buckets": 1, "method": "online" }),
        )
        .await;
    assert_eq!(refunded.status, StatusCode::OK, "{}", refunded.text);
    assert_eq!(refunded.json["record"]["amount_fen"], 3000);
    assert_eq!(plant.figures().await, (2, 2, 0, 0, 0));

    // The customer reads the same numbers and the records, newest first.
    let own = plant.buckets(&plant.customer_token).await;
    assert_eq!(own["products"][0]["held"], 2);
    let kinds: Vec<&str> = own["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["refund", "deposit"]);
}

async fn empties_beyond_what_the_customer_held_are_reviewed_until_an_opening_balance(db: TestDb) {
    let plant = plant(&db).await;
    let mut phone = plant.device("送水员").await;
    let order = plant.order().await;
    let event = delivery(&mut phone, order, 1, 3, 0);
    plant.push(&phone, std::slice::from_ref(&event)).await;
    assert_eq!(plant.figures().await, (0, 0, 0, 0, 2));
    let items = plant.empties_items().await;
    assert_eq!(items, [event.event.event_id.0.to_string()]);
    let queue = plant
        .server
        .call(Method::GET, "/api/v1/review", Some(&plant.operator), None)
        .await;
    // The delivery is of an order nobody assigned to this courier: reviewed as such too.
    let labels = &queue.json[0]["labels"];
    assert!(
        labels
            .as_array()
            .is_some_and(|labels| labels.iter().any(|l| l == "空桶多于客户持有")),
        "{labels}"
    );

    let opening = plant
        .record(
            &plant.operator,
            json!({ "product": 189, "kind": "opening", "buckets": 2, "note": "老客户" }),
        )
        .await;
    assert_eq!(opening.status, StatusCode::OK, "{}", opening.text);
    assert_eq!(opening.json["record"]["at"], 0);
    assert_eq!(opening.json["record"]["amount_fen"], 0);
    assert_eq!(plant.figures().await, (0, 0, 0, 0, 0));
    assert!(
        plant.empties_items().await.is_empty(),
        "the item is resolved"
    );

    // Marked handled instead: the item stays resolved when later pushes recompute the ledger.
    let too_many = delivery(&mut phone, plant.order().await, 1, 5, 0);
    plant.push(&phone, std::slice::from_ref(&too_many)).await;
    let items = plant.empties_items().await;
    assert_eq!(items, [too_many.event.event_id.0.to_string()]);
    let handled = plant
        .server
        .call(
            Method::POST,
            &format!("/api/v1/review/{}/resolve", items[0]),
            Some(&plant.operator),
            Some(json!({ "action": "write_off", "note": "空桶是邻居的" })),
        )
        .await;
    assert_eq!(handled.status, StatusCode::OK, "{}", handled.text);
    let next = delivery(&mut phone, plant.order().await, 1, 0, 0);
    plant.push(&phone, &[next]).await;
    assert!(plant.empties_items().await.is_empty(), "not raised again");
    assert_eq!(plant.figures().await, (1, 0, 1, 0, 4));
}

async fn a_batch_pushed_twice_or_two_devices_in_either_order_give_the_same_numbers(db: TestDb) {
    let plant = plant(&db).await;
    let mut a = plant.device("送水员A").await;
    let mut b = plant.device("送水员B").await;
    b.clock = a.clock + 10_000;
    let (first, second) = (plant.order().await, plant.order().await);
    let from_a = [delivery(&mut a, first, 2, 0, 1)];
    let from_b = [delivery(&mut b, second, 1, 3, 0)];
    // The later delivery arrives first: its empties exceed what the customer holds so far.
    plant.push(&b, &from_b).await;
    assert_eq!(plant.figures().await, (0, 0, 0, 0, 2));
    assert_eq!(plant.empties_items().await.len(), 1);
    plant.push(&a, &from_a).await;
    plant.push(&a, &from_a).await;
    plant.push(&b, &from_b).await;
    assert_eq!(plant.figures().await, (0, 1, 0, 1, 0));
    assert!(plant.empties_items().await.is_empty());
}

async fn only_operators_and_admins_record_and_only_the_account_reads_its_buckets(db: TestDb) {
    let plant = plant(&db).await;
    plant
        .record(
            &plant.operator,
            json!({ "product": 189, "kind": "deposit", "buckets": 3 }),
        )
        .await;
    let enterprise = support::account(&plant.server.store, AccountKind::Enterprise, "某公司")
        .await
        .id;
    let (_, boss) = plant
        .server
        .user("qiye", Role::EnterpriseAdmin, Some(enterprise))
        .await;
    let (_, courier) = plant.server.user("songshui", Role::Courier, None).await;
    let refund = json!({ "product": 189, "kind": "refund", "buckets": 3 });
    for token in [&boss, &plant.customer_token, &courier] {
        let refused = plant.record(token, refund.clone()).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    }
    for (token, status) in [
        (&boss, StatusCode::NOT_FOUND),
        (&courier, StatusCode::FORBIDDEN),
    ] {
        let read = plant.read(token).await;
        assert_eq!(read.status, status, "{}", read.text);
    }
    assert_eq!(plant.figures().await, (0, 3, 0, 3, 0), "nothing refunded");
}

async fn numbers_out_of_range_are_refused_with_the_rules_message_and_change_nothing(db: TestDb) {
    let plant = plant(&db).await;
    let cases = [
        (
            json!({ "product": 189, "kind": "deposit", "buckets": -5 }),
            "押金桶数应为 1–100",
        ),
        (
            json!({ "product": 189, "kind": "deposit", "buckets": 0 }),
            "押金桶数应为 1–100",
        ),
        (
            json!({ "product": 189, "kind": "refund", "buckets": 1_000_000_000_000i64 }),
            "押金桶数应为 1–100",
        ),
        (
            json!({ "product": 189, "kind": "opening", "buckets": 1001 }),
            "期初桶数应为 0–1000",
        ),
        (
            json!({ "product": 189, "kind": "opening", "buckets": -1 }),
            "期初桶数应为 0–1000",
        ),
        (
            json!({ "product": 7, "kind": "deposit", "buckets": 1 }),
            "产品不存在",
        ),
        (
            json!({ "product": 189, "kind": "deposit", "buckets": 1, "note": "x".repeat(101) }),
            "备注最多 100 字,且不能含控制字符",
        ),
    ];
    for (body, message) in cases {
        let refused = plant.record(&plant.operator, body).await;
        assert_eq!(
            (refused.status, refused.json["message"].as_str()),
            (StatusCode::BAD_REQUEST, Some(message))
        );
    }
    // An amount is the product's deposit times the buckets: a client cannot name one.
    let named = plant
        .record(
            &plant.operator,
            json!({ "product": 189, "kind": "refund", "buckets": 1, "amount_fen": -300000 }),
        )
        .await;
    assert_eq!(named.status, StatusCode::BAD_REQUEST);
    let read = plant.buckets(&plant.operator).await;
    assert_eq!(read, json!({ "products": [], "records": [] }));

    // A delivery of 65 535 empties to a customer who held none is all held back.
    let mut phone = plant.device("送水员").await;
    let order = plant.order().await;
    let event = delivery(&mut phone, order, 1, u16::MAX, 0);
    plant.push(&phone, &[event]).await;
    assert_eq!(plant.figures().await, (0, 0, 0, 0, u64::from(u16::MAX) - 1));
}

async fn a_products_deposit_is_set_within_its_range(db: TestDb) {
    let plant = plant(&db).await;
    let set = |fen: Value, token: String| {
        let server = &plant.server;
        async move {
            server
                .call(
                    Method::PUT,
                    "/api/v1/products/189/deposit",
                    Some(&token),
                    Some(json!({ "deposit_fen": fen })),
                )
                .await
        }
    };
    for fen in [json!(-1), json!(100_001), json!(i64::MAX)] {
        let refused = set(fen, plant.admin.clone()).await;
        assert_eq!(
            (refused.status, refused.json["message"].as_str()),
            (StatusCode::BAD_REQUEST, Some("押金应在 0 到 1000 元之间"))
        );
    }
    let by_operator = set(json!(5000), plant.operator.clone()).await;
    assert_eq!(by_operator.status, StatusCode::FORBIDDEN);
    let set_ok = set(json!(5000), plant.admin.clone()).await;
    assert_eq!(set_ok.status, StatusCode::OK, "{}", set_ok.text);
    let products = plant
        .server
        .call(Method::GET, "/api/v1/products", Some(&plant.admin), None)
        .await;
    assert_eq!(products.json[0]["deposit_fen"], 5000);
    let paid = plant
        .record(
            &plant.operator,
            json!({ "product": 189, "kind": "deposit", "buckets": 2 }),
        )
        .await;
    assert_eq!(paid.json["record"]["amount_fen"], 10_000);
}

async fn the_console_records_with_the_apis_rules_and_the_wallet_shows_the_card(db: TestDb) {
    let plant = plant(&db).await;
    let mut console = Browser::new(&plant.server);
    console.sign_in("kefu").await;
    let path = format!("/admin/buckets?account={}", plant.account);
    let page = console.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("张三家"), "{}", page.text);
    let csrf = console.csrf();
    let action = format!("/admin/buckets/{}/records", plant.account);
    for (kind, buckets, message) in [
        ("deposit", "-5", "押金桶数应为 1–100"),
        ("deposit", "99999999999999999999", "押金桶数应为 1–100"),
        ("deposit", "两只", "押金桶数应为 1–100"),
        ("opening", "1001", "期初桶数应为 0–1000"),
        ("refund", "1", "最多可退 0 只桶的押金"),
    ] {
        let refused = console
            .post_form(
                &action,
                &[
                    ("csrf", &csrf),
                    ("kind", kind),
                    ("product", "189"),
                    ("buckets", buckets),
                    ("method", "cash"),
                ],
            )
            .await;
        refused_page(&refused, message);
    }
    assert_eq!(
        plant.buckets(&plant.operator).await,
        json!({ "products": [], "records": [] }),
        "nothing recorded"
    );
    for (kind, buckets) in [("opening", "3"), ("deposit", "2")] {
        let recorded = console
            .post_form(
                &action,
                &[
                    ("csrf", &csrf),
                    ("kind", kind),
                    ("product", "189"),
                    ("buckets", buckets),
                    ("method", "cash"),
                    ("note", "柜台"),
                ],
            )
            .await;
        assert_eq!(recorded.status, StatusCode::SEE_OTHER, "{}", recorded.text);
    }
    let page = console.get(&path).await;
    assert!(page.text.contains("收押金"), "{}", page.text);
    assert!(page.text.contains("¥60.00"), "{}", page.text);
    assert_eq!(plant.figures().await, (3, 2, 1, 0, 0));

    let wallet = plant
        .server
        .page("/wallet/orders", &plant.customer_token)
        .await;
    assert_eq!(wallet.status, StatusCode::OK, "{}", wallet.text);
    assert!(
        wallet
            .text
            .contains("持有 3 只,押金 2 只(¥60.00),欠桶 1 只"),
        "{}",
        wallet.text
    );
}

async fn statistics_count_rounds_by_customer_region_and_courier_and_buckets_held_by_region(
    db: TestDb,
) {
    let plant = plant(&db).await;
    let hanyang = plant
        .server
        .store
        .create_region("汉阳", support::NOW, &support::audit("region.create"))
        .await
        .unwrap();
    let account = support::customer_account(&plant.server.store, "李四家")
        .await
        .id;
    let (lisi, _) = plant
        .server
        .user("lisi", Role::Customer, Some(account))
        .await;
    let lisi_address =
        support::address(&plant.server.store, &lisi, hanyang.id, "小区", "301").await;
    let mut a = plant.device("送水员A").await;
    let mut b = plant.device("送水员B").await;
    let (first, second) = (plant.order().await, plant.order().await);
    let pushed_a = [
        delivery(&mut a, first, 2, 0, 1),
        delivery(&mut a, second, 1, 1, 0),
    ];
    plant.push(&a, &pushed_a).await;
    let missed = plant.order_for(&lisi, lisi_address).await;
    let nobody_home = b.next(
        EventBody::Delivery {
            order_id: missed,
            outcome: DeliveryOutcome::NotDelivered {
                reason: MissReason::NobodyHome,
            },
            empties: 0,
        },
        EventFlags::default(),
    );
    let again = delivery(&mut b, plant.order_for(&lisi, lisi_address).await, 3, 0, 0);
    plant.push(&b, &[nobody_home, again]).await;
    // Pushed twice: counted once.
    plant.push(&a, &pushed_a).await;

    let mut console = Browser::new(&plant.server);
    console.sign_in("admin").await;
    let now = shuipiao_server::unix_now();
    let day = |at: i64| shuipiao_server::local_time::date(at);
    let table = |key: &str| {
        format!(
            "/admin/stats/export?table={key}&format=csv&from={}&to={}",
            day(now - 86_400),
            day(now + 86_400)
        )
    };
    let rows = |text: &str| -> Vec<String> {
        text.trim_start_matches('\u{feff}')
            .split("\r\n")
            .filter(|line| !line.is_empty())
            .map(str::to_string)
            .collect()
    };
    let regions = console.get(&table("delivery_region")).await;
    assert_eq!(regions.status, StatusCode::OK, "{}", regions.text);
    assert_eq!(
        rows(&regions.text),
        [
            "客户区域,送达(单),未送达(单),送出(桶),回收空桶,回桶率,收押桶",
            "武汉,2,0,3,1,33.3%,1",
            "汉阳,1,1,3,0,0.0%,0",
        ]
    );
    let couriers = console.get(&table("courier_rounds")).await;
    assert_eq!(
        rows(&couriers.text),
        [
            "送水工,送达(单),未送达(单),送出(桶),回收空桶,回桶率,收押桶",
            "送水员A,2,0,3,1,33.3%,1",
            "送水员B,1,1,3,0,0.0%,0",
        ]
    );
    let held = console.get(&table("buckets_outstanding")).await;
    assert_eq!(
        rows(&held.text),
        [
            "客户区域,欠桶客户,在外(桶),押金覆盖(桶),欠桶,可退押金(桶)",
            "武汉,1,2,1,1,0",
            "汉阳,1,3,0,3,0",
        ]
    );

    // A refund of what the deposits cover beyond the buckets held moves the figures too: the
    // customer brings both buckets back at the door and has the deposit back at the counter.
    let back = delivery(&mut a, plant.order().await, 1, 3, 0);
    plant.push(&a, &[back]).await;
    let refund = plant
        .record(
            &plant.operator,
            json!({ "product": 189, "kind": "refund", "buckets": 1, "method": "cash" }),
        )
        .await;
    assert_eq!(refund.status, StatusCode::OK, "{}", refund.text);
    let held = console.get(&table("buckets_outstanding")).await;
    assert_eq!(rows(&held.text)[1..], ["武汉,0,0,0,0,0", "汉阳,1,3,0,3,0"]);
    let page = console.get("/admin/stats").await;
    for title in [
        "配送:按客户区域",
        "配送:按送水工(回收空桶)",
        "在外水桶:按客户区域(当前)",
    ] {
        assert!(page.text.contains(title), "{title}");
    }
}

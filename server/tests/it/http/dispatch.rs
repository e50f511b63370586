//! Dispatch (派单) over HTTP, as a dispatcher would drive it: automatic assignment balanced
//! within each region, reassignment and its feed rows, two servers assigning at once, refusals
//! that read the same on the API and the console and change nothing, and the route sheet.

use axum::http::{Method, StatusCode};
use serde_json::json;
use shuipiao_server::accounts::{self, Actor, UserChange};
use shuipiao_server::dispatch;
use shuipiao_server::ordering::orders::{self, OrderInput};
use shuipiao_server::store::delivery_orders::{FeedChange, OrderState};
use shuipiao_server::store::dispatch::FeedRow;
use shuipiao_server::store::models::{
    MessageKind, NewUser, NotificationFilter, NotificationState, Role, User,
};
use shuipiao_server::{auth, local_time};
use shuipiao_shared::ids::UserId;

use crate::support::{self, TestDb, TestServer, on_both_backends};
use crate::web::{Browser, refused_page};

/// A plant with two served regions (武汉: couriers A and B; 襄阳: courier C) and one without a
/// courier (宜昌), a customer with an address in each, and a dispatcher.
struct Plant {
    server: TestServer,
    dispatcher: String,
    customer: User,
    /// One address per region.
    addresses: [i64; 3],
    /// A and B in 武汉, C in 襄阳.
    couriers: [UserId; 3],
    /// Tomorrow in Beijing: every slot is open for orders.
    date: String,
}

async fn courier(server: &TestServer, name: &str, region: i64) -> UserId {
    let hash = auth::password::hash(support::PASSWORD.into())
        .await
        .unwrap();
    server
        .store
        .create_user(
            &NewUser {
                username: name.into(),
                password_hash: hash,
                role: Role::Courier,
                account_id: None,
                region_id: Some(region),
                outlet_id: None,
            },
            support::NOW,
            &support::audit("user.create"),
        )
        .await
        .unwrap()
        .id
}

async fn plant(db: &TestDb) -> Plant {
    let server = support::start(db).await;
    let store = &server.store;
    let wuhan = support::catalogue(store, 10).await.region_id;
    let mut regions = [wuhan, 0, 0];
    for (slot, name) in [(1, "襄阳"), (2, "宜昌")] {
        regions[slot] = store
            .create_region(name, support::NOW, &support::audit("region.create"))
            .await
            .unwrap()
            .id;
    }
    let couriers = [
        courier(&server, "送水员A", regions[0]).await,
        courier(&server, "送水员B", regions[0]).await,
        courier(&server, "送水员C", regions[1]).await,
    ];
    let (_, dispatcher) = server.user("diaodu", Role::Dispatcher, None).await;
    let customer = support::phone_customer(store, "13800138000", "张三").await;
    let now = shuipiao_server::unix_now();
    let mut addresses = [0; 3];
    for (n, region) in regions.iter().enumerate() {
        addresses[n] = support::address(
            store,
            &customer,
            *region,
            &format!("小区{n}"),
            &format!("30{n}"),
        )
        .await;
    }
    Plant {
        server,
        dispatcher,
        customer,
        addresses,
        couriers,
        date: local_time::date(now + 86_400),
    }
}

impl Plant {
    /// Places a cash order of one bottle for tomorrow's `slot` at the address in `region`
    /// (0 武汉, 1 襄阳, 2 宜昌).
    async fn order(&self, region: usize, slot: &str) -> i64 {
        orders::place(
            &self.server.store,
            &self.customer,
            &OrderInput {
                address_id: self.addresses[region],
                product: 189,
                bottles: 1,
                slot_date: self.date.clone(),
                slot: slot.into(),
                note: String::new(),
                payment: "cash".into(),
                book_id: None,
            },
            shuipiao_server::unix_now(),
        )
        .await
        .unwrap()
        .id
    }

    async fn api(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> support::Response {
        self.server
            .call(method, path, Some(&self.dispatcher), body)
            .await
    }

    /// Every feed row of `courier`.
    async fn feed(&self, courier: UserId) -> Vec<FeedRow> {
        self.server
            .store
            .delivery_feed(courier, 0, 1_000)
            .await
            .unwrap()
    }

    /// Every feed row of every courier, in feed order.
    async fn all_feed(&self) -> Vec<FeedRow> {
        let mut rows = Vec::new();
        for courier in self.couriers {
            rows.extend(self.feed(courier).await);
        }
        rows.sort_by_key(|row| row.seq);
        rows
    }

    /// A browser signed in as the dispatcher, on the dispatch page of tomorrow.
    async fn console(&self) -> Browser<'_> {
        let mut browser = Browser::new(&self.server);
        let landed = browser.sign_in("diaodu").await;
        assert_eq!(
            landed, "/admin/dispatch",
            "a dispatcher starts on the dispatch page"
        );
        let page = browser
            .get(&format!("/admin/dispatch?date={}", self.date))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        browser
    }

    /// The audit entries written so far.
    async fn audit_count(&self) -> usize {
        self.server.store.audit_log(10_000).await.unwrap().len()
    }
}

async fn auto_assign_balances_within_each_region(db: TestDb) {
    let plant = plant(&db).await;
    let mut wuhan = Vec::new();
    for slot in [
        "morning",
        "morning",
        "morning",
        "morning",
        "afternoon",
        "afternoon",
    ] {
        wuhan.push(plant.order(0, slot).await);
    }
    let xiangyang = plant.order(1, "morning").await;
    let yichang = plant.order(2, "afternoon").await;

    let done = plant
        .api(
            Method::POST,
            "/api/v1/dispatch/auto",
            Some(json!({ "date": plant.date })),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.json);
    assert_eq!(done.json["assigned"].as_array().unwrap().len(), 7);
    assert_eq!(done.json["unassignable"], json!([yichang]));

    let loads = plant
        .api(
            Method::GET,
            &format!("/api/v1/dispatch/couriers?date={}", plant.date),
            None,
        )
        .await;
    assert_eq!(loads.status, StatusCode::OK, "{:?}", loads.json);
    let load = |name: &str| {
        let row = loads
            .json
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["username"] == name)
            .unwrap_or_else(|| panic!("{name} in {:?}", loads.json));
        (
            row["morning"].as_u64().unwrap(),
            row["afternoon"].as_u64().unwrap(),
        )
    };
    assert_eq!(
        load("送水员A"),
        (2, 1),
        "武汉's six orders split evenly per slot"
    );
    assert_eq!(load("送水员B"), (2, 1));
    assert_eq!(load("送水员C"), (1, 0), "襄阳's order stays in 襄阳");

    let listed = plant
        .api(
            Method::GET,
            &format!("/api/v1/dispatch/orders?date={}", plant.date),
            None,
        )
        .await;
    let listed = listed.json.as_array().unwrap().clone();
    let row = |id: i64| listed.iter().find(|o| o["id"] == id).unwrap().clone();
    assert_eq!(row(xiangyang)["courier"], "送水员C");
    assert_eq!(row(yichang)["state"], "pending");
    assert_eq!(
        row(yichang)["no_courier"],
        true,
        "宜昌 has no courier: 无可派送员"
    );
    for id in &wuhan {
        let courier = row(*id)["courier"].as_str().unwrap().to_string();
        assert!(courier == "送水员A" || courier == "送水员B", "{courier}");
    }

    let feed = plant.all_feed().await;
    assert_eq!(feed.len(), 7, "one feed row per assignment");
    assert!(feed.iter().all(|row| row.change == FeedChange::Assigned));
    let told = plant
        .server
        .store
        .list_notifications(
            &NotificationFilter {
                kind: Some(MessageKind::OrderAssigned),
                ..NotificationFilter::default()
            },
            100,
        )
        .await
        .unwrap();
    assert_eq!(told.len(), 7, "the customer hears of every assignment");
    assert!(
        told.iter()
            .any(|m| m.spec.body.contains("送水员C") && m.spec.body.contains("上午")),
        "{told:?}"
    );

    let again = plant
        .api(
            Method::POST,
            "/api/v1/dispatch/auto",
            Some(json!({ "date": plant.date })),
        )
        .await;
    assert_eq!(
        again.json["assigned"],
        json!([]),
        "a second run finds nothing pending"
    );
    assert_eq!(plant.all_feed().await.len(), 7);
}

async fn reassign_withdraws_then_assigns_in_feed_order(db: TestDb) {
    let plant = plant(&db).await;
    let order = plant.order(0, "morning").await;
    let [a, b, _] = plant.couriers;
    let path = format!("/api/v1/dispatch/orders/{order}/assign");
    let first = plant
        .api(Method::POST, &path, Some(json!({ "courier_id": a.0 })))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.json);
    assert_eq!(first.json["state"], "assigned");
    let second = plant
        .api(Method::POST, &path, Some(json!({ "courier_id": b.0 })))
        .await;
    assert_eq!(second.status, StatusCode::OK, "{:?}", second.json);
    assert_eq!(second.json["courier_id"], b.0);

    let feed: Vec<(UserId, FeedChange)> = plant
        .all_feed()
        .await
        .into_iter()
        .map(|row| (row.courier_id, row.change))
        .collect();
    assert_eq!(
        feed,
        vec![
            (a, FeedChange::Assigned),
            (a, FeedChange::Withdrawn),
            (b, FeedChange::Assigned),
        ]
    );

    // A's phone syncing past its rows changes nothing; B's phone acknowledges its row.
    let a_cursor = plant.feed(a).await.last().unwrap().seq;
    let now = shuipiao_server::unix_now();
    assert_eq!(
        dispatch::acknowledge(&plant.server.store, a, a_cursor, now)
            .await
            .unwrap(),
        0
    );
    let b_row = plant.feed(b).await[0].seq;
    assert_eq!(
        dispatch::acknowledge(&plant.server.store, b, b_row - 1, now)
            .await
            .unwrap(),
        0,
        "a cursor before the row leaves the order assigned"
    );
    assert_eq!(
        dispatch::acknowledge(&plant.server.store, b, b_row, now)
            .await
            .unwrap(),
        1
    );
    let stored = plant.server.store.delivery_order(order).await.unwrap();
    assert_eq!(stored.state, OrderState::Out);

    // Cancelling it takes it from B's phone.
    let cancelled = plant
        .api(
            Method::POST,
            &format!("/api/v1/dispatch/orders/{order}/cancel"),
            Some(json!({ "reason": "客户电话取消" })),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.json);
    assert_eq!(cancelled.json["state"], "cancelled");
    let last = plant.feed(b).await.last().unwrap().clone();
    assert_eq!((last.order_id, last.change), (order, FeedChange::Withdrawn));
}

async fn two_servers_auto_assigning_at_once_assign_each_order_once(db: TestDb) {
    let plant = plant(&db).await;
    let mut placed = Vec::new();
    for n in 0..12 {
        let slot = if n % 3 == 0 { "afternoon" } else { "morning" };
        placed.push(plant.order(n % 2, slot).await);
    }
    let other = support::start(&db).await;
    let request = support::Request::json(
        Method::POST,
        "/api/v1/dispatch/auto",
        Some(&plant.dispatcher),
        json!({ "date": plant.date }),
    );
    let (here, there) = tokio::join!(
        plant.server.at_once(vec![request.clone(); 3]),
        other.at_once(vec![request; 3]),
    );
    let mut assigned = 0;
    for response in here.iter().chain(&there) {
        assert_eq!(response.status, StatusCode::OK, "{:?}", response.json);
        assigned += response.json["assigned"].as_array().unwrap().len();
    }
    assert_eq!(
        assigned,
        placed.len(),
        "every order assigned by exactly one run"
    );
    let feed = plant.all_feed().await;
    assert_eq!(
        feed.len(),
        placed.len(),
        "one feed row per assignment: {feed:?}"
    );
    let mut ordered: Vec<i64> = feed.iter().map(|row| row.order_id).collect();
    ordered.sort_unstable();
    assert_eq!(ordered, placed);
    let seqs: Vec<i64> = feed.iter().map(|row| row.seq).collect();
    assert_eq!(
        seqs,
        (1..=placed.len() as i64).collect::<Vec<_>>(),
        "no gaps, no repeats"
    );
}

/// The same bad input through the API and the console: the same message, nothing written.
async fn refusals_read_the_same_on_the_api_and_the_console(db: TestDb) {
    let plant = plant(&db).await;
    let order = plant.order(0, "morning").await;
    let [a, _, c] = plant.couriers;
    let mut console = plant.console().await;
    let csrf = console.csrf();
    let before = plant.audit_count().await;

    // A courier of another region.
    let other_region = "该送水员不负责这个订单所在的区域";
    let api = plant
        .api(
            Method::POST,
            &format!("/api/v1/dispatch/orders/{order}/assign"),
            Some(json!({ "courier_id": c.0 })),
        )
        .await;
    assert_eq!(
        (api.status, api.json["message"].as_str()),
        (StatusCode::BAD_REQUEST, Some(other_region))
    );
    let page = console
        .post_form(
            &format!("/admin/dispatch/orders/{order}/assign"),
            &[("csrf", &csrf), ("courier_id", &c.0.to_string())],
        )
        .await;
    refused_page(&page, other_region);

    // An unknown order.
    let api = plant
        .api(
            Method::POST,
            "/api/v1/dispatch/orders/999999/assign",
            Some(json!({ "courier_id": a.0 })),
        )
        .await;
    assert_eq!(
        (api.status, api.json["message"].as_str()),
        (StatusCode::NOT_FOUND, Some("订单不存在"))
    );
    let page = console
        .post_form(
            "/admin/dispatch/orders/999999/assign",
            &[("csrf", &csrf), ("courier_id", &a.0.to_string())],
        )
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.text.contains("订单不存在"), "{}", page.text);

    // A date that is not a date, on every way in that takes one.
    let bad_date = "日期格式应为 YYYY-MM-DD";
    for path in [
        "/api/v1/dispatch/orders?date=2026-02-30",
        "/api/v1/dispatch/couriers?date=tomorrow",
    ] {
        let api = plant.api(Method::GET, path, None).await;
        assert_eq!(api.json["message"], bad_date, "{path}");
    }
    let api = plant
        .api(
            Method::POST,
            "/api/v1/dispatch/auto",
            Some(json!({ "date": "8 Dec" })),
        )
        .await;
    assert_eq!(
        (api.status, api.json["message"].as_str()),
        (StatusCode::BAD_REQUEST, Some(bad_date))
    );
    refused_page(
        &console.get("/admin/dispatch?date=2026-02-30").await,
        bad_date,
    );
    let page = console
        .post_form(
            "/admin/dispatch/auto",
            &[("csrf", &csrf), ("date", "8 Dec")],
        )
        .await;
    refused_page(&page, bad_date);

    // An empty reason.
    let empty_reason = "请填写取消原因(1–100 个字)";
    let api = plant
        .api(
            Method::POST,
            &format!("/api/v1/dispatch/orders/{order}/cancel"),
            Some(json!({ "reason": "   " })),
        )
        .await;
    assert_eq!(
        (api.status, api.json["message"].as_str()),
        (StatusCode::BAD_REQUEST, Some(empty_reason))
    );
    let page = console
        .post_form(
            &format!("/admin/dispatch/orders/{order}/cancel"),
            &[("csrf", &csrf), ("reason", " ")],
        )
        .await;
    refused_page(&page, empty_reason);

    // A disabled courier.
    accounts::update_user(
        &plant.server.store,
        Actor::COMMAND_LINE,
        a,
        UserChange {
            role: None,
            disabled: true,
        },
        shuipiao_server::unix_now(),
    )
    .await
    .unwrap();
    let disabled = "送水员不存在或已停用";
    let api = plant
        .api(
            Method::POST,
            &format!("/api/v1/dispatch/orders/{order}/assign"),
            Some(json!({ "courier_id": a.0 })),
        )
        .await;
    assert_eq!(
        (api.status, api.json["message"].as_str()),
        (StatusCode::BAD_REQUEST, Some(disabled))
    );
    let page = console
        .post_form(
            &format!("/admin/dispatch/orders/{order}/assign"),
            &[("csrf", &csrf), ("courier_id", &a.0.to_string())],
        )
        .await;
    refused_page(&page, disabled);

    let stored = plant.server.store.delivery_order(order).await.unwrap();
    assert_eq!(
        (stored.state, stored.courier_id),
        (OrderState::Pending, None)
    );
    assert!(plant.all_feed().await.is_empty(), "no feed row written");
    assert_eq!(
        plant.audit_count().await,
        before + 1,
        "only disabling the courier was recorded"
    );
}

/// Assigns `order` to `courier`, then marks it delivered at the door, as the courier's sync
/// will record it.
async fn deliver(plant: &Plant, db: &TestDb, order: i64, courier: UserId) {
    let assigned = plant
        .api(
            Method::POST,
            &format!("/api/v1/dispatch/orders/{order}/assign"),
            Some(json!({ "courier_id": courier.0 })),
        )
        .await;
    assert_eq!(assigned.status, StatusCode::OK, "{:?}", assigned.json);
    let pool = sqlx::AnyPool::connect(db.url.expose()).await.unwrap();
    sqlx::query("UPDATE delivery_orders SET state = 'delivered', closed_at = 1 WHERE id = $1")
        .bind(order)
        .execute(&pool)
        .await
        .unwrap();
}

async fn closed_orders_are_neither_cancelled_nor_reassigned(db: TestDb) {
    let plant = plant(&db).await;
    let order = plant.order(0, "morning").await;
    let [a, b, _] = plant.couriers;
    deliver(&plant, &db, order, a).await;
    let feed_before = plant.all_feed().await;
    let closed = "订单已送达、未送达或已取消,不能再派单或取消";
    let cancel = plant
        .api(
            Method::POST,
            &format!("/api/v1/dispatch/orders/{order}/cancel"),
            Some(json!({ "reason": "客户不要了" })),
        )
        .await;
    assert_eq!(
        (cancel.status, cancel.json["message"].as_str()),
        (StatusCode::BAD_REQUEST, Some(closed))
    );
    let reassign = plant
        .api(
            Method::POST,
            &format!("/api/v1/dispatch/orders/{order}/assign"),
            Some(json!({ "courier_id": b.0 })),
        )
        .await;
    assert_eq!(reassign.json["message"], closed);
    let mut console = plant.console().await;
    let csrf = console.csrf();
    let page = console
        .post_form(
            &format!("/admin/dispatch/orders/{order}/cancel"),
            &[("csrf", &csrf), ("reason", "客户不要了")],
        )
        .await;
    refused_page(&page, closed);
    let stored = plant.server.store.delivery_order(order).await.unwrap();
    assert_eq!(stored.state, OrderState::Delivered);
    assert_eq!(plant.all_feed().await, feed_before);
}

/// The customer's messages that tell of a cancellation.
async fn cancellation_messages(plant: &Plant) -> Vec<(Option<UserId>, String, String)> {
    plant
        .server
        .store
        .list_notifications(
            &NotificationFilter {
                user_id: Some(plant.customer.id),
                ..NotificationFilter::default()
            },
            100,
        )
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.spec.body.contains("取消"))
        .map(|m| {
            (
                m.spec.user_id,
                m.spec.kind.as_str().to_string(),
                m.spec.body,
            )
        })
        .collect()
}

async fn a_staff_cancellation_tells_the_customer_once(db: TestDb) {
    let plant = plant(&db).await;
    let order = plant.order(0, "morning").await;
    let delivered = plant.order(0, "afternoon").await;
    deliver(&plant, &db, delivered, plant.couriers[0]).await;
    let cancel = async |id: i64| {
        plant
            .api(
                Method::POST,
                &format!("/api/v1/dispatch/orders/{id}/cancel"),
                Some(json!({ "reason": "地址无法送达。" })),
            )
            .await
    };

    let refused = cancel(delivered).await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        refused.json
    );
    let unknown = cancel(order + 1_000).await;
    assert_ne!(unknown.status, StatusCode::OK, "{:?}", unknown.json);
    assert_eq!(
        cancellation_messages(&plant).await,
        vec![],
        "a refused cancellation tells nobody"
    );

    let cancelled = cancel(order).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.json);
    let again = cancel(order).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{:?}", again.json);
    let told = cancellation_messages(&plant).await;
    assert_eq!(told.len(), 1, "told once: {told:?}");
    let (user, kind, body) = &told[0];
    assert_eq!(*user, Some(plant.customer.id));
    assert_eq!(kind, "order_cancelled");
    assert_eq!(
        body,
        &format!(
            "【水票】您的订水单 #{order}（{} 上午）已被水站取消：地址无法送达。如有疑问请联系客服。",
            local_time::month_day(&plant.date)
        )
    );
}

async fn the_console_assigns_and_prints_the_route_sheet(db: TestDb) {
    let plant = plant(&db).await;
    let first = plant.order(0, "afternoon").await;
    let second = plant.order(0, "morning").await;
    let unserved = plant.order(2, "morning").await;
    let [a, _, _] = plant.couriers;
    let mut console = plant.console().await;
    let page = console
        .get(&format!("/admin/dispatch?date={}", plant.date))
        .await;
    assert!(page.text.contains("无可派送员"), "{}", page.text);
    assert!(page.text.contains(&format!("id=\"order-{unserved}\"")));
    let csrf = console.csrf();
    for order in [first, second] {
        let done = console
            .post_form(
                &format!("/admin/dispatch/orders/{order}/assign"),
                &[("csrf", &csrf), ("courier_id", &a.0.to_string())],
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
        assert!(done.header("location").unwrap().contains("done=assigned"));
    }
    let sheet = console
        .get(&format!(
            "/admin/dispatch/sheet?courier_id={}&date={}",
            a.0, plant.date
        ))
        .await;
    assert_eq!(sheet.status, StatusCode::OK, "{}", sheet.text);
    assert!(sheet.text.contains("138****8000"), "the phone is masked");
    assert!(!sheet.text.contains("13800138000"));
    let morning = sheet.text.find(&format!("<td>{second}</td>")).unwrap();
    let afternoon = sheet.text.find(&format!("<td>{first}</td>")).unwrap();
    assert!(morning < afternoon, "sorted by slot first");
    assert!(sheet.text.contains("签收"));

    // The day is late once the slots are over.
    let later = shuipiao_server::unix_now() + 3 * 86_400;
    let board = dispatch::board(&plant.server.store, &plant.date, None, None, later)
        .await
        .unwrap();
    assert!(board.orders.iter().all(|o| o.late));
    let unknown = console
        .get(&format!(
            "/admin/dispatch/sheet?courier_id=999&date={}",
            plant.date
        ))
        .await;
    refused_page(&unknown, "送水员不存在或已停用");
}

/// A dispatcher opens dispatch but neither keys nor users.
async fn a_dispatcher_dispatches_and_nothing_else(db: TestDb) {
    let plant = plant(&db).await;
    let mut console = plant.console().await;
    for path in ["/admin/keys", "/admin/users", "/admin/review", "/admin"] {
        let page = console.get(path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
    }
    let page = console.get("/admin/dispatch").await;
    assert!(page.text.contains("href=\"/admin/dispatch\""));
    assert!(
        !page.text.contains("href=\"/admin/keys\""),
        "no nav entry for keys"
    );
    assert_eq!(
        plant.api(Method::GET, "/api/v1/keys", None).await.status,
        StatusCode::FORBIDDEN
    );
}

/// The order's `order_assigned` messages: (state, body), oldest first.
async fn assignment_messages(plant: &Plant, order: i64) -> Vec<(NotificationState, String)> {
    let mut told: Vec<_> = plant
        .server
        .store
        .list_notifications(
            &NotificationFilter {
                kind: Some(MessageKind::OrderAssigned),
                ..NotificationFilter::default()
            },
            100,
        )
        .await
        .unwrap()
        .into_iter()
        .filter(|m| {
            m.spec
                .dedupe_key
                .as_deref()
                .is_some_and(|key| key.starts_with(&format!("order_assigned:{order}:")))
        })
        .map(|m| (m.id, m.state, m.spec.body))
        .collect();
    told.sort_by_key(|(id, ..)| *id);
    told.into_iter()
        .map(|(_, state, body)| (state, body))
        .collect()
}

async fn a_reassigned_or_cancelled_order_is_not_announced_with_a_stale_courier(db: TestDb) {
    let plant = plant(&db).await;
    let [a, b, _] = plant.couriers;
    let reassigned = plant.order(0, "morning").await;
    let cancelled = plant.order(0, "afternoon").await;
    let assign = async |order: i64, courier: UserId| {
        let answer = plant
            .api(
                Method::POST,
                &format!("/api/v1/dispatch/orders/{order}/assign"),
                Some(json!({ "courier_id": courier.0 })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    };
    assign(reassigned, a).await;
    assign(reassigned, b).await;
    let told = assignment_messages(&plant, reassigned).await;
    let states: Vec<_> = told.iter().map(|(state, _)| *state).collect();
    assert_eq!(
        states,
        [NotificationState::Dead, NotificationState::Pending],
        "only the latest courier is announced: {told:?}"
    );
    assert!(told[1].1.contains("送水员B"), "{told:?}");

    assign(cancelled, a).await;
    let cancel = plant
        .api(
            Method::POST,
            &format!("/api/v1/dispatch/orders/{cancelled}/cancel"),
            Some(json!({ "reason": "客户出差" })),
        )
        .await;
    assert_eq!(cancel.status, StatusCode::OK, "{:?}", cancel.json);
    let told = assignment_messages(&plant, cancelled).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].0, NotificationState::Dead, "{told:?}");
    // The message of the other order is untouched.
    assert_eq!(
        assignment_messages(&plant, reassigned).await[1].0,
        NotificationState::Pending
    );
}

on_both_backends!(
    a_reassigned_or_cancelled_order_is_not_announced_with_a_stale_courier,
    auto_assign_balances_within_each_region,
    reassign_withdraws_then_assigns_in_feed_order,
    two_servers_auto_assigning_at_once_assign_each_order_once,
    refusals_read_the_same_on_the_api_and_the_console,
    closed_orders_are_neither_cancelled_nor_reassigned,
    a_staff_cancellation_tells_the_customer_once,
    the_console_assigns_and_prints_the_route_sheet,
    a_dispatcher_dispatches_and_nothing_else,
);

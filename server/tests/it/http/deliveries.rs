//! The courier's delivery list over HTTP on both backends (`GET /api/v1/sync/deliveries`): a
//! customer's order assigned to a courier reaches their device as a task with the phone whole,
//! the phone's cursor marks it 配送中, a reassigned or cancelled order is withdrawn without
//! reaching anyone it is no longer for, pages are clamped, and a store counter has no list.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use shuipiao_server::accounts::Actor;
use shuipiao_server::dispatch;
use shuipiao_server::local_time;
use shuipiao_server::store::delivery_orders::OrderState;
use shuipiao_server::store::models::{Role, User};
use shuipiao_shared::delivery::{
    DeliveriesResponse, DeliveryChange, DeliveryPayment, DeliveryRow, DeliverySlot, DeliveryTask,
};
use shuipiao_shared::ids::ProductCode;

use crate::support::{self, Catalogue, TestDb, TestDevice, TestServer, on_both_backends};

on_both_backends!(
    an_assigned_order_reaches_the_courier_and_the_phone_having_it_makes_it_out,
    a_reassigned_or_cancelled_order_is_withdrawn_and_reaches_no_one_else,
    delivery_pages_are_clamped_and_cursors_checked,
    a_store_counter_has_no_delivery_list,
);

const PHONE: &str = "13800138000";

struct Setup {
    server: TestServer,
    admin: (User, String),
    customer: String,
    catalogue: Catalogue,
    address: i64,
}

async fn setup(db: &TestDb) -> Setup {
    let server = support::start(db).await;
    let admin = server.user("admin", Role::Admin, None).await;
    let catalogue = support::catalogue(&server.store, 10).await;
    let account = support::customer_account(&server.store, "王女士家").await;
    let (_, customer) = server.user("wang", Role::Customer, Some(account.id)).await;
    let added = server
        .call(
            Method::POST,
            "/api/v1/addresses",
            Some(&customer),
            Some(
                json!({"region_id": catalogue.region_id, "community": "幸福小区",
                "building": "3栋", "unit": "2单元", "room": "501", "contact": "王女士",
                "phone": PHONE}),
            ),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.text);
    Setup {
        address: added.json["id"].as_i64().unwrap(),
        server,
        admin,
        customer,
        catalogue,
    }
}

impl Setup {
    /// A courier of the catalogue's region with an enrolled phone.
    async fn courier(&self, name: &str) -> TestDevice {
        let region = Some(self.catalogue.region_id);
        let (courier, _) = self
            .server
            .user_at(name, Role::Courier, None, (region, None))
            .await;
        self.server
            .enroll_device(&self.admin.1, courier.id, &courier.spec.username)
            .await
    }

    /// The customer orders two bottles for tomorrow morning, cash at the door.
    async fn order(&self, note: &str) -> i64 {
        let tomorrow = local_time::date(shuipiao_server::unix_now() + 86_400);
        let placed = self
            .server
            .call(
                Method::POST,
                "/api/v1/delivery-orders",
                Some(&self.customer),
                Some(
                    json!({"address_id": self.address, "product": 189, "bottles": 2,
                    "slot_date": tomorrow, "slot": "morning", "note": note, "payment": "cash"}),
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
        let now = shuipiao_server::unix_now();
        dispatch::assign(&self.server.store, actor, order, device.courier, now)
            .await
            .unwrap();
    }

    async fn pull_raw(&self, device: &TestDevice, query: &str) -> support::Response {
        let path = format!("/api/v1/sync/deliveries?{query}");
        self.server
            .call(Method::GET, &path, Some(&device.token), None)
            .await
    }

    async fn pull(&self, device: &TestDevice, cursor: u64) -> DeliveriesResponse {
        let response = self.pull_raw(device, &format!("cursor={cursor}")).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text);
        serde_json::from_value(response.json).unwrap()
    }

    async fn state(&self, order: i64) -> OrderState {
        self.server.store.delivery_order(order).await.unwrap().state
    }
}

async fn an_assigned_order_reaches_the_courier_and_the_phone_having_it_makes_it_out(db: TestDb) {
    let s = setup(&db).await;
    let zhang = s.courier("zhang").await;
    let order = s.order("请放门口").await;
    assert!(
        s.pull(&zhang, 0).await.rows.is_empty(),
        "nothing assigned yet"
    );
    s.assign(order, &zhang).await;

    let page = s.pull(&zhang, 0).await;
    let tomorrow = local_time::date(shuipiao_server::unix_now() + 86_400);
    let expected = DeliveryTask {
        order_id: order as u64,
        day: tomorrow,
        slot: DeliverySlot::Morning,
        slot_hours: "08:00-12:00".into(),
        address: "幸福小区 3栋 2单元 501".into(),
        label: String::new(),
        region: "武汉".into(),
        contact: "王女士".into(),
        phone: PHONE.into(),
        product: ProductCode(189),
        product_name: "18.9L 桶装水".into(),
        bottles: 2,
        payment: DeliveryPayment::Cash,
        book_id: None,
        note: "请放门口".into(),
    };
    assert_eq!(page.rows.len(), 1);
    let row = &page.rows[0];
    assert_eq!(
        row,
        &DeliveryRow::put(row.seq, DeliveryChange::Assigned, expected)
    );
    assert_eq!((page.next_cursor, page.has_more), (row.seq, false));
    assert_eq!(
        s.state(order).await,
        OrderState::Assigned,
        "the phone has not said it holds the order yet"
    );

    let next = s.pull(&zhang, page.next_cursor).await;
    assert!(next.rows.is_empty());
    assert_eq!(next.next_cursor, page.next_cursor);
    assert_eq!(
        s.state(order).await,
        OrderState::Out,
        "配送中 once the phone has it"
    );
    let seen = s
        .server
        .call(
            Method::GET,
            &format!("/api/v1/delivery-orders/{order}"),
            Some(&s.customer),
            None,
        )
        .await;
    assert_eq!(seen.json["state_label"], "配送中");
}

async fn a_reassigned_or_cancelled_order_is_withdrawn_and_reaches_no_one_else(db: TestDb) {
    let s = setup(&db).await;
    let zhang = s.courier("zhang").await;
    let li = s.courier("li").await;
    let order = s.order("").await;
    s.assign(order, &zhang).await;
    s.assign(order, &li).await;

    // Zhang's phone pulls only now: the row that gave him the order tells him nothing of it.
    let response = s.pull_raw(&zhang, "cursor=0").await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert!(!response.text.contains(PHONE), "{}", response.text);
    assert!(!response.text.contains("幸福小区"), "{}", response.text);
    let page: DeliveriesResponse = serde_json::from_value(response.json).unwrap();
    let changes: Vec<(DeliveryChange, u64)> = page
        .rows
        .iter()
        .map(|row| (row.change, row.order_id))
        .collect();
    let id = order as u64;
    assert_eq!(
        changes,
        [
            (DeliveryChange::Withdrawn, id),
            (DeliveryChange::Withdrawn, id)
        ]
    );
    assert!(page.rows.iter().all(|row| row.task.is_none()));
    assert_eq!(
        s.state(order).await,
        OrderState::Assigned,
        "Li's phone has not fetched it"
    );

    let li_page = s.pull(&li, 0).await;
    assert_eq!(li_page.rows.len(), 1);
    assert_eq!(li_page.rows[0].change, DeliveryChange::Assigned);
    assert_eq!(li_page.rows[0].task.as_ref().unwrap().phone, PHONE);
    s.pull(&li, li_page.next_cursor).await;
    assert_eq!(s.state(order).await, OrderState::Out);

    let actor = Actor {
        user: Some(s.admin.0.id),
        via: "api",
    };
    dispatch::cancel_by_staff(
        &s.server.store,
        actor,
        order,
        "客户不要了",
        shuipiao_server::unix_now(),
    )
    .await
    .unwrap();
    let cancelled = s.pull(&li, li_page.next_cursor).await;
    assert_eq!(
        cancelled.rows,
        [DeliveryRow::withdrawn(cancelled.next_cursor, id)]
    );
    assert!(s.pull(&zhang, page.next_cursor).await.rows.is_empty());
}

async fn delivery_pages_are_clamped_and_cursors_checked(db: TestDb) {
    let s = setup(&db).await;
    let zhang = s.courier("zhang").await;
    let mut orders = Vec::new();
    for n in 0..3 {
        let order = s.order(&format!("第{n}单")).await;
        s.assign(order, &zhang).await;
        orders.push(order as u64);
    }
    let mut cursor = 0;
    let mut seen = Vec::new();
    loop {
        let response = s
            .pull_raw(&zhang, &format!("cursor={cursor}&limit=0"))
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text);
        let page: DeliveriesResponse = serde_json::from_value(response.json).unwrap();
        assert_eq!(
            page.rows.len().min(1),
            page.rows.len(),
            "a limit of 0 reads one row"
        );
        seen.extend(page.rows.iter().map(|row| row.order_id));
        cursor = page.next_cursor;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(seen, orders, "every row once, in order");
    let whole = s.pull_raw(&zhang, "cursor=0&limit=4294967295").await;
    assert_eq!(whole.json["rows"].as_array().unwrap().len(), 3);
    assert_eq!(whole.json["has_more"], false);

    let beyond = s.pull_raw(&zhang, &format!("cursor={}", u64::MAX)).await;
    assert_eq!(beyond.status, StatusCode::OK, "{}", beyond.text);
    assert_eq!(beyond.json["rows"], json!([]));
    for bad in ["cursor=-1", "cursor=abc", "", "cursor=0&colour=blue"] {
        let refused = s.pull_raw(&zhang, bad).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            refused.text
        );
        assert_eq!(refused.json["code"], "bad_request");
    }
    let anonymous = s
        .server
        .call(Method::GET, "/api/v1/sync/deliveries?cursor=0", None, None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let session = s
        .server
        .call(
            Method::GET,
            "/api/v1/sync/deliveries?cursor=0",
            Some(&s.admin.1),
            None,
        )
        .await;
    assert_eq!(
        session.status,
        StatusCode::UNAUTHORIZED,
        "a console session is no device"
    );
}

async fn a_store_counter_has_no_delivery_list(db: TestDb) {
    let s = setup(&db).await;
    let outlet = (Some(s.catalogue.region_id), Some(s.catalogue.outlet_id));
    let (clerk, _) = s
        .server
        .user_at("clerk", Role::StoreStaff, None, outlet)
        .await;
    let counter = s
        .server
        .enroll_device(&s.admin.1, clerk.id, &clerk.spec.username)
        .await;
    let refused = s.pull_raw(&counter, "cursor=0").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert_eq!(refused.json["code"], "forbidden");
    let message: &Value = &refused.json["message"];
    assert_eq!(
        message,
        "门店设备没有配送单，只有配送员的手机可以同步配送单"
    );
}

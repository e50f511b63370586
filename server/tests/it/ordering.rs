//! Ordering water over HTTP, on both backends: bad orders refused alike by the API and the
//! wallet page with nothing written, two orders at once on a book with units for one, the
//! reservation shown in the wallet and the API and released by cancelling, addresses, and the
//! recurring-order job run by two stores on one database.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use shuipiao_server::issuance::{self, IssueOrder};
use shuipiao_server::local_time;
use shuipiao_server::ordering::recurring;
use shuipiao_server::store::models::{
    AccountKind, MessageKind, NewBook, NewPackage, NotificationFilter, Product, Role,
};
use shuipiao_shared::ids::{ProductCode, ScopeId};

use crate::support::{self, Request, TestDb, TestServer, audit, on_both_backends};
use crate::web::{Browser, refused_page};

/// A plant with two families, each with an address and a 4-unit book; 张家 also holds a book
/// of another product.
struct Plant {
    server: TestServer,
    zhang_token: String,
    wang_token: String,
    region_id: i64,
    zhang_address: i64,
    wang_address: i64,
    zhang_book: NewBook,
    zhang_other_product: NewBook,
    wang_book: NewBook,
}

async fn issue(server: &TestServer, account_id: i64, package_id: i64) -> NewBook {
    let order = IssueOrder {
        account_id,
        package_id,
        quantity: 1,
        allocations: Vec::new(),
    };
    let now = shuipiao_server::unix_now();
    issuance::issue_order(&server.store, &support::master(), &order, None, now)
        .await
        .unwrap()
        .books
        .remove(0)
}

async fn add_address(server: &TestServer, token: &str, region_id: i64, room: &str) -> i64 {
    let added = server
        .call(
            Method::POST,
            "/api/v1/addresses",
            Some(token),
            Some(json!({
                "region_id": region_id, "community": "光谷花园", "building": "3栋",
                "unit": "2单元", "room": room, "contact": "张伟", "phone": "13812345678",
            })),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.text);
    added.json["id"].as_i64().unwrap()
}

async fn plant(db: &TestDb) -> Plant {
    let server = support::start(db).await;
    let store = &server.store;
    let catalogue = support::catalogue(store, 4).await;
    let other = Product {
        code: ProductCode(110),
        name: "11L 桶装水".into(),
        volume_ml: 11_000,
        deposit_fen: 0,
    };
    store
        .create_product(&other, support::NOW, &audit("product.create"))
        .await
        .unwrap();
    let other_package = store
        .create_package(
            &NewPackage {
                name: "小桶套餐".into(),
                price_fen: 3000,
                paid_units: 4,
                bonus_units: 0,
                validity_days: 31,
                product: other.code,
                scope: ScopeId::ANYWHERE,
                holder_bound: false,
            },
            support::NOW,
            &audit("package.create"),
        )
        .await
        .unwrap();
    let zhang_account = support::customer_account(store, "张伟家").await;
    let wang_account = support::customer_account(store, "王芳家").await;
    let (_, zhang_token) = server
        .user("zhang", Role::Customer, Some(zhang_account.id))
        .await;
    let (_, wang_token) = server
        .user("wang", Role::Customer, Some(wang_account.id))
        .await;
    let zhang_address = add_address(&server, &zhang_token, catalogue.region_id, "501").await;
    let wang_address = add_address(&server, &wang_token, catalogue.region_id, "601").await;
    let zhang_book = issue(&server, zhang_account.id, catalogue.package_id).await;
    let zhang_other_product = issue(&server, zhang_account.id, other_package.id).await;
    let wang_book = issue(&server, wang_account.id, catalogue.package_id).await;
    Plant {
        server,
        zhang_token,
        wang_token,
        region_id: catalogue.region_id,
        zhang_address,
        wang_address,
        zhang_book,
        zhang_other_product,
        wang_book,
    }
}

fn tomorrow() -> String {
    local_time::date(shuipiao_server::unix_now() + 86_400)
}

fn today() -> String {
    local_time::date(shuipiao_server::unix_now())
}

/// An order of `bottles` from `book` for tomorrow morning.
fn order(address: i64, book: u64, bottles: i64) -> Value {
    json!({
        "address_id": address, "product": 189, "bottles": bottles,
        "slot_date": tomorrow(), "slot": "morning", "payment": "tickets", "book_id": book,
    })
}

async fn orders_written(server: &TestServer, token: &str) -> usize {
    let listed = server
        .call(Method::GET, "/api/v1/delivery-orders", Some(token), None)
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    listed.json.as_array().unwrap().len()
}

/// The wallet form's fields for the same order as the JSON `body`.
fn form_fields(body: &Value) -> Vec<(String, String)> {
    let text = |key: &str| match &body[key] {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let pay = match text("payment").as_str() {
        "tickets" => format!("book:{}", text("book_id")),
        other => other.to_string(),
    };
    vec![
        ("address".into(), text("address_id")),
        ("product".into(), text("product")),
        ("bottles".into(), text("bottles")),
        (
            "slot".into(),
            format!("{}/{}", text("slot_date"), text("slot")),
        ),
        ("note".into(), text("note")),
        ("pay".into(), pay),
    ]
}

async fn bad_orders_are_refused_alike_by_api_and_page(db: TestDb) {
    let plant = plant(&db).await;
    let server = &plant.server;
    // Today's morning in this region ends at 00:30 (set on the console): it is closed whenever
    // the test runs.
    server.user("admin", Role::Admin, None).await;
    let mut admin = Browser::new(server);
    admin.sign_in("admin").await;
    admin.get("/admin/packages").await;
    let csrf = admin.csrf();
    let saved = admin
        .post_form(
            &format!("/admin/regions/{}/slots", plant.region_id),
            &[
                ("csrf", &csrf),
                ("morning_starts", "00:00"),
                ("morning_ends", "00:30"),
                ("morning_offered", "1"),
                ("afternoon_starts", "13:00"),
                ("afternoon_ends", "18:00"),
                ("afternoon_offered", "1"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    let console = admin.get("/admin/packages").await;
    assert!(
        console.text.contains(r#"value="00:30""#),
        "{}",
        console.text
    );
    let book = plant.zhang_book.id.0;
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut body = order(plant.zhang_address, book, 2);
        edit(&mut body);
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (with(&|b| b["bottles"] = json!(0)), "每单可订 1 到 50 桶"),
        (with(&|b| b["bottles"] = json!(51)), "每单可订 1 到 50 桶"),
        (
            with(&|b| b["slot_date"] = json!(today())),
            "该配送时段已截止,请选择其他时段",
        ),
        (
            with(&|b| b["address_id"] = json!(plant.wang_address)),
            "请选择您自己的收货地址",
        ),
        (
            with(&|b| b["book_id"] = json!(plant.wang_book.id.0)),
            "请选择您自己的水票",
        ),
        (
            with(&|b| b["book_id"] = json!(plant.zhang_other_product.id.0)),
            "该水票不能兑换所选产品",
        ),
        (
            with(&|b| {
                b["payment"] = json!("account");
                b["book_id"] = Value::Null;
            }),
            "只有企业账户可以月结",
        ),
        (
            with(&|b| b["note"] = json!("请".repeat(101))),
            "备注不能超过 100 字",
        ),
    ];
    let mut browser = Browser::new(server);
    browser.sign_in("zhang").await;
    for (body, message) in &cases {
        let api = server
            .call(
                Method::POST,
                "/api/v1/delivery-orders",
                Some(&plant.zhang_token),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            api.status,
            StatusCode::BAD_REQUEST,
            "{message}: {}",
            api.text
        );
        assert_eq!(api.json["message"], *message, "{body}");

        browser.get("/wallet/order").await;
        let mut fields = form_fields(body);
        fields.push(("csrf".into(), browser.csrf()));
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let page = browser.post_form("/wallet/order", &fields).await;
        refused_page(&page, message);
    }
    assert_eq!(orders_written(server, &plant.zhang_token).await, 0);
    assert_eq!(
        plant
            .server
            .store
            .orderable_units(plant.zhang_book.id)
            .await
            .unwrap(),
        4,
        "nothing was reserved"
    );
}

async fn two_orders_at_once_reserve_a_book_once(db: TestDb) {
    let plant = plant(&db).await;
    let server = &plant.server;
    let body = order(plant.zhang_address, plant.zhang_book.id.0, 3);
    let request = Request::json(
        Method::POST,
        "/api/v1/delivery-orders",
        Some(&plant.zhang_token),
        body,
    );
    let answers = server.at_once(vec![request.clone(), request]).await;
    let placed = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    assert_eq!(
        placed,
        1,
        "{:?}",
        answers.iter().map(|a| &a.text).collect::<Vec<_>>()
    );
    let refused = answers.iter().find(|a| a.status != StatusCode::OK).unwrap();
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    assert_eq!(refused.json["message"], "该水票还可订 1 桶,不够本次订购");
    assert_eq!(orders_written(server, &plant.zhang_token).await, 1);
}

async fn orderable(server: &TestServer, token: &str, book: u64) -> i64 {
    let books = server
        .call(Method::GET, "/api/v1/books/orderable", Some(token), None)
        .await;
    assert_eq!(books.status, StatusCode::OK, "{}", books.text);
    books
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["book_id"] == book)
        .map_or(0, |b| b["orderable"].as_i64().unwrap())
}

async fn an_order_reserves_units_until_cancelled(db: TestDb) {
    let plant = plant(&db).await;
    let server = &plant.server;
    let book = plant.zhang_book.id.0;
    assert_eq!(orderable(server, &plant.zhang_token, book).await, 4);
    let placed = server
        .call(
            Method::POST,
            "/api/v1/delivery-orders",
            Some(&plant.zhang_token),
            Some(order(plant.zhang_address, book, 3)),
        )
        .await;
    assert_eq!(placed.status, StatusCode::OK, "{}", placed.text);
    assert_eq!(placed.json["state_label"], "待派单");
    assert_eq!(placed.json["cancellable"], true);
    let id = placed.json["id"].as_i64().unwrap();
    assert_eq!(orderable(server, &plant.zhang_token, book).await, 1);
    let wallet = server.page("/wallet", &plant.zhang_token).await;
    assert!(wallet.text.contains("可订 1 桶"), "{}", wallet.text);

    // Another family can neither read nor cancel it.
    for (method, path) in [
        (Method::GET, format!("/api/v1/delivery-orders/{id}")),
        (Method::POST, format!("/api/v1/delivery-orders/{id}/cancel")),
    ] {
        let other = server
            .call(method, &path, Some(&plant.wang_token), None)
            .await;
        assert_eq!(
            other.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            other.text
        );
        assert_eq!(other.json["message"], "订单不存在");
    }

    let mut browser = Browser::new(server);
    browser.sign_in("zhang").await;
    let orders = browser.get("/wallet/orders").await;
    assert!(orders.text.contains("待派单"), "{}", orders.text);
    let csrf = browser.csrf();
    let cancelled = browser
        .post_form(&format!("/wallet/orders/{id}/cancel"), &[("csrf", &csrf)])
        .await;
    assert_eq!(
        cancelled.status,
        StatusCode::SEE_OTHER,
        "{}",
        cancelled.text
    );
    let orders = browser.get("/wallet/orders?done=cancelled").await;
    assert!(orders.text.contains("已取消"), "{}", orders.text);
    assert_eq!(orderable(server, &plant.zhang_token, book).await, 4);
    let wallet = server.page("/wallet", &plant.zhang_token).await;
    assert!(!wallet.text.contains("可订 "), "{}", wallet.text);

    // A cancelled order is not cancelled twice; repeat orders it again for the first open slot.
    let again = server
        .call(
            Method::POST,
            &format!("/api/v1/delivery-orders/{id}/cancel"),
            Some(&plant.zhang_token),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.json["message"], "只能取消待派单的订单");
    let repeated = server
        .call(
            Method::POST,
            "/api/v1/delivery-orders/repeat",
            Some(&plant.zhang_token),
            None,
        )
        .await;
    assert_eq!(repeated.status, StatusCode::OK, "{}", repeated.text);
    assert_eq!(repeated.json["bottles"], 3);
    assert_eq!(repeated.json["book_id"], book);
    assert_eq!(orderable(server, &plant.zhang_token, book).await, 1);
}

async fn addresses_belong_to_their_account(db: TestDb) {
    let plant = plant(&db).await;
    let server = &plant.server;
    let second = add_address(server, &plant.zhang_token, plant.region_id, "502").await;
    let listed = server
        .call(
            Method::GET,
            "/api/v1/addresses",
            Some(&plant.zhang_token),
            None,
        )
        .await;
    assert_eq!(
        listed.json[0]["id"], plant.zhang_address,
        "the first is the default"
    );
    assert_eq!(listed.json[0]["is_default"], true);
    assert_eq!(listed.json[0]["phone_masked"], "138****5678");
    assert!(!listed.text.contains("13812345678"), "{}", listed.text);

    // Another family's address can be neither edited, removed nor made default.
    let edit = json!({
        "region_id": plant.region_id, "community": "别人家", "building": "1栋",
        "contact": "王芳", "phone": "",
    });
    for (method, path, body) in [
        (
            Method::PUT,
            format!("/api/v1/addresses/{}", plant.wang_address),
            Some(edit.clone()),
        ),
        (
            Method::DELETE,
            format!("/api/v1/addresses/{}", plant.wang_address),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/addresses/{}/default", plant.wang_address),
            None,
        ),
    ] {
        let refused = server
            .call(method, &path, Some(&plant.zhang_token), body)
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(refused.json["message"], "请选择您自己的收货地址");
    }
    let wang = server
        .call(
            Method::GET,
            "/api/v1/addresses",
            Some(&plant.wang_token),
            None,
        )
        .await;
    assert_eq!(wang.json[0]["community"], "光谷花园");

    // The same bad address through the API and the page.
    let mut browser = Browser::new(server);
    browser.sign_in("zhang").await;
    for (field, value, message) in [
        ("community", "", "请填写小区"),
        ("contact", &"名".repeat(21) as &str, "联系人不能超过 20 字"),
        ("phone", "12345", "请输入 11 位手机号码"),
    ] {
        let mut body = json!({
            "region_id": plant.region_id, "community": "光谷花园", "building": "3栋",
            "contact": "张伟", "phone": "13812345678",
        });
        body[field] = json!(value);
        let api = server
            .call(
                Method::POST,
                "/api/v1/addresses",
                Some(&plant.zhang_token),
                Some(body),
            )
            .await;
        assert_eq!(api.json["message"], message, "{field}");
        browser.get("/wallet/addresses").await;
        let csrf = browser.csrf();
        let region = plant.region_id.to_string();
        let mut fields = vec![
            ("region", region.as_str()),
            ("community", "光谷花园"),
            ("building", "3栋"),
            ("contact", "张伟"),
            ("phone", "13812345678"),
            ("csrf", csrf.as_str()),
        ];
        fields.retain(|(k, _)| *k != field);
        fields.push((field, value));
        let page = browser.post_form("/wallet/addresses", &fields).await;
        refused_page(&page, message);
    }

    // Removing the default makes the other one the default; orders keep a removed address.
    let removed = server
        .call(
            Method::DELETE,
            &format!("/api/v1/addresses/{}", plant.zhang_address),
            Some(&plant.zhang_token),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text);
    let listed = server
        .call(
            Method::GET,
            "/api/v1/addresses",
            Some(&plant.zhang_token),
            None,
        )
        .await;
    assert_eq!(listed.json.as_array().unwrap().len(), 1);
    assert_eq!(listed.json[0]["id"], second);
    assert_eq!(listed.json[0]["is_default"], true);
    let on_removed = server
        .call(
            Method::POST,
            "/api/v1/delivery-orders",
            Some(&plant.zhang_token),
            Some(order(plant.zhang_address, plant.zhang_book.id.0, 1)),
        )
        .await;
    assert_eq!(on_removed.json["message"], "请选择您自己的收货地址");
}

async fn recurring_order(server: &TestServer, token: &str, body: Value) -> i64 {
    let made = server
        .call(
            Method::POST,
            "/api/v1/recurring-orders",
            Some(token),
            Some(body),
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.text);
    made.json["id"].as_i64().unwrap()
}

async fn two_instances_make_one_order_per_day(db: TestDb) {
    let plant = plant(&db).await;
    let server = &plant.server;
    let id = recurring_order(
        server,
        &plant.zhang_token,
        json!({
            "address_id": plant.zhang_address, "product": 189, "bottles": 1,
            "slot": "afternoon", "payment": "cash", "every_days": 1, "start_date": tomorrow(),
        }),
    )
    .await;
    let other = support::open(&db).await;
    let now = shuipiao_server::unix_now();
    let (a, b) = tokio::join!(
        recurring::run(&server.store, now),
        recurring::run(&other, now)
    );
    assert_eq!(a.unwrap().ordered + b.unwrap().ordered, 1);
    let again = recurring::run(&other, now).await.unwrap();
    assert_eq!(again.ordered, 0, "the day is made once");
    let orders = server
        .call(
            Method::GET,
            "/api/v1/delivery-orders",
            Some(&plant.zhang_token),
            None,
        )
        .await;
    let orders = orders.json.as_array().unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["slot_date"], tomorrow());
    assert_eq!(orders[0]["recurring_id"], id);
    let listed = server
        .call(
            Method::GET,
            "/api/v1/recurring-orders",
            Some(&plant.zhang_token),
            None,
        )
        .await;
    assert_eq!(
        listed.json[0]["next_date"],
        local_time::add_days(&tomorrow(), 1).unwrap()
    );

    // Paused, it orders nothing; another family cannot touch it.
    let foreign = server
        .call(
            Method::POST,
            &format!("/api/v1/recurring-orders/{id}/resume"),
            Some(&plant.wang_token),
            None,
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(foreign.json["message"], "周期订单不存在");
    let paused = server
        .call(
            Method::POST,
            &format!("/api/v1/recurring-orders/{id}/pause"),
            Some(&plant.zhang_token),
            None,
        )
        .await;
    assert_eq!(paused.json["paused"], true, "{}", paused.text);
    let later = now + 86_400;
    assert_eq!(recurring::run(&other, later).await.unwrap().ordered, 0);
}

async fn a_skipped_day_is_told_to_the_customer(db: TestDb) {
    let plant = plant(&db).await;
    let server = &plant.server;
    let store = &server.store;
    // A customer with a phone, so the outbox can reach them.
    let customer = support::phone_customer(store, "13912345678", "李家").await;
    let account = customer.spec.account_id.unwrap();
    let login = server
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "username": customer.spec.username, "password": support::PASSWORD })),
        )
        .await;
    let token = login.json["token"].as_str().unwrap().to_string();
    let address = add_address(server, &token, plant.region_id, "701").await;
    let packages = store.packages().await.unwrap();
    let book = issue(server, account, packages[0].id).await;
    recurring_order(
        server,
        &token,
        json!({
            "address_id": address, "product": 189, "bottles": 3, "slot": "afternoon",
            "payment": "tickets", "book_id": book.id.0, "weekday":
                local_time::weekday(&tomorrow()).unwrap(), "start_date": tomorrow(),
        }),
    )
    .await;
    // The customer orders 2 of the book's 4 units by hand first: 2 are left for the 3 wanted.
    let placed = server
        .call(
            Method::POST,
            "/api/v1/delivery-orders",
            Some(&token),
            Some(order(address, book.id.0, 2)),
        )
        .await;
    assert_eq!(placed.status, StatusCode::OK, "{}", placed.text);
    let report = recurring::run(store, shuipiao_server::unix_now())
        .await
        .unwrap();
    assert_eq!((report.ordered, report.skipped), (0, 1));
    let told = store
        .list_notifications(
            &NotificationFilter {
                kind: Some(MessageKind::OrderSkipped),
                ..NotificationFilter::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].spec.user_id, Some(customer.id));
    assert!(
        told[0].spec.body.contains("水票可订数量不足"),
        "{}",
        told[0].spec.body
    );
    assert_eq!(
        orders_written(server, &token).await,
        1,
        "only the hand-placed order"
    );
    let listed = server
        .call(Method::GET, "/api/v1/recurring-orders", Some(&token), None)
        .await;
    assert_eq!(
        listed.json[0]["next_date"],
        local_time::add_days(&tomorrow(), 7).unwrap(),
        "the skipped day is passed"
    );
}

async fn an_enterprise_pays_on_account(db: TestDb) {
    let plant = plant(&db).await;
    let server = &plant.server;
    let enterprise = support::account(&server.store, AccountKind::Enterprise, "汉江科技").await;
    let (_, token) = server
        .user("hjadmin", Role::EnterpriseAdmin, Some(enterprise.id))
        .await;
    let point = server
        .call(
            Method::POST,
            "/api/v1/addresses",
            Some(&token),
            Some(json!({
                "region_id": plant.region_id, "label": "三楼前台", "community": "光谷软件园",
                "building": "A座", "contact": "前台", "phone": "13712345678",
            })),
        )
        .await;
    assert_eq!(point.status, StatusCode::OK, "{}", point.text);
    let placed = server
        .call(
            Method::POST,
            "/api/v1/delivery-orders",
            Some(&token),
            Some(json!({
                "address_id": point.json["id"], "product": 189, "bottles": 10,
                "slot_date": tomorrow(), "slot": "afternoon", "payment": "account",
            })),
        )
        .await;
    assert_eq!(placed.status, StatusCode::OK, "{}", placed.text);
    assert_eq!(placed.json["payment_label"], "月结");
    assert_eq!(placed.json["address_label"], "三楼前台");
}

/// Submits the wallet's recurring-order form with `fields`, as a person would after loading it.
async fn submit_recurring(
    browser: &mut Browser<'_>,
    fields: Vec<(&'static str, String)>,
) -> support::Response {
    browser.get("/wallet/recurring").await;
    let csrf = browser.csrf();
    let mut fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    fields.push(("csrf", &csrf));
    browser.post_form("/wallet/recurring", &fields).await
}

async fn recurring_orders_from_the_wallet(db: TestDb) {
    let plant = plant(&db).await;
    let server = &plant.server;
    let mut browser = Browser::new(server);
    browser.sign_in("zhang").await;
    let address = plant.zhang_address.to_string();
    let book = format!("book:{}", plant.zhang_book.id.0);
    let start = tomorrow();
    let form = |rule: &str, every: &str, weekday: &str| {
        vec![
            ("address", address.clone()),
            ("product", "189".to_string()),
            ("bottles", "2".to_string()),
            ("slot", "morning".to_string()),
            ("pay", book.clone()),
            ("rule", rule.to_string()),
            ("every_days", every.to_string()),
            ("weekday", weekday.to_string()),
            ("start_date", start.clone()),
        ]
    };
    // The same bad rule through the API and the page, nothing written.
    let api = server
        .call(
            Method::POST,
            "/api/v1/recurring-orders",
            Some(&plant.zhang_token),
            Some(json!({
                "address_id": plant.zhang_address, "product": 189, "bottles": 2,
                "slot": "morning", "payment": "tickets", "book_id": plant.zhang_book.id.0,
                "every_days": 61, "start_date": start,
            })),
        )
        .await;
    assert_eq!(api.status, StatusCode::BAD_REQUEST);
    assert_eq!(api.json["message"], "请选择每隔 1 到 60 天,或每周的某一天");
    let page = submit_recurring(&mut browser, form("days", "61", "")).await;
    refused_page(&page, "请选择每隔 1 到 60 天,或每周的某一天");
    let listed = server
        .call(
            Method::GET,
            "/api/v1/recurring-orders",
            Some(&plant.zhang_token),
            None,
        )
        .await;
    assert_eq!(listed.json.as_array().unwrap().len(), 0);

    // Weekly on tomorrow's weekday, then paused, resumed and deleted from the page.
    let weekday = local_time::weekday(&tomorrow()).unwrap().to_string();
    let made = submit_recurring(&mut browser, form("weekly", "", &weekday)).await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.text);
    let listed = server
        .call(
            Method::GET,
            "/api/v1/recurring-orders",
            Some(&plant.zhang_token),
            None,
        )
        .await;
    assert_eq!(listed.json[0]["next_date"], tomorrow());
    assert!(
        listed.json[0]["rule_label"]
            .as_str()
            .unwrap()
            .starts_with("每周")
    );
    let id = listed.json[0]["id"].as_i64().unwrap();
    for (action, paused) in [("pause", true), ("resume", false)] {
        browser.get("/wallet/recurring").await;
        let csrf = browser.csrf();
        let done = browser
            .post_form(
                &format!("/wallet/recurring/{id}/{action}"),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(
            done.status,
            StatusCode::SEE_OTHER,
            "{action}: {}",
            done.text
        );
        let one = server
            .call(
                Method::GET,
                "/api/v1/recurring-orders",
                Some(&plant.zhang_token),
                None,
            )
            .await;
        assert_eq!(one.json[0]["paused"], paused, "{action}");
    }
    // Another family's page cannot delete it.
    let mut other = Browser::new(server);
    other.sign_in("wang").await;
    other.get("/wallet/recurring").await;
    let csrf = other.csrf();
    let refused = other
        .post_form(
            &format!("/wallet/recurring/{id}/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    refused_page(&refused, "周期订单不存在");
    browser.get("/wallet/recurring").await;
    let csrf = browser.csrf();
    let deleted = browser
        .post_form(
            &format!("/wallet/recurring/{id}/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.text);
    let listed = server
        .call(
            Method::GET,
            "/api/v1/recurring-orders",
            Some(&plant.zhang_token),
            None,
        )
        .await;
    assert_eq!(listed.json.as_array().unwrap().len(), 0);
}

on_both_backends!(
    recurring_orders_from_the_wallet,
    bad_orders_are_refused_alike_by_api_and_page,
    two_orders_at_once_reserve_a_book_once,
    an_order_reserves_units_until_cancelled,
    addresses_belong_to_their_account,
    two_instances_make_one_order_per_day,
    a_skipped_day_is_told_to_the_customer,
    an_enterprise_pays_on_account,
);

//! Request sizes and numbers an operator can send: orders, packages and scopes are bounded by
//! the domain before anything is allocated, stored or signed; the JSON API and the admin pages
//! give the same zh-CN message for the same bad input, and a refused request changes nothing.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use shuipiao_server::store::models::{AccountKind, NewAccount, NewPackage, Role};
use shuipiao_shared::ids::{BookId, ProductCode, ScopeId};

use crate::support::{self, NOW, TestDb, TestServer, audit, on_both_backends};
use crate::web::Browser;

const QUANTITY_MESSAGE: &str = "数量应在 1 到 1000 之间";

/// A 400 whose JSON message is `message`.
pub(super) fn refused(response: &support::Response, message: &str) {
    assert_eq!(
        (response.status, response.json["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request")),
        "{}",
        response.text
    );
    assert_eq!(response.json["message"], message, "{}", response.text);
}

/// A package stored as it is, bypassing the rules (rows written before they existed).
async fn stored_package(server: &TestServer, name: &str, units: u32, price_fen: i64) -> i64 {
    server
        .store
        .create_package(
            &NewPackage {
                name: name.into(),
                price_fen,
                paid_units: units,
                bonus_units: 1,
                validity_days: 31,
                product: ProductCode(189),
                scope: ScopeId::ANYWHERE,
                holder_bound: false,
            },
            NOW,
            &audit("package.create"),
        )
        .await
        .unwrap()
        .id
}

async fn order(server: &TestServer, token: &str, body: Value) -> support::Response {
    server
        .call(Method::POST, "/api/v1/orders", Some(token), Some(body))
        .await
}

/// One request for four billion packages used to allocate every book before any check and
/// abort the whole server; now the quantity is refused first, through the API and the issue
/// page alike, and nothing is issued.
async fn orders_are_bounded_before_anything_is_allocated(db: TestDb) {
    let server = support::start(&db).await;
    let catalogue = support::catalogue(&server.store, 10).await;
    let account = support::customer_account(&server.store, "张伟家").await;
    let (_, operator) = server.user("operator", Role::Operator, None).await;
    for quantity in [u32::MAX, 1_001, 0] {
        let response = order(
            &server,
            &operator,
            json!({ "account_id": account.id, "package_id": catalogue.package_id, "quantity": quantity }),
        )
        .await;
        refused(&response, QUANTITY_MESSAGE);
        let preview = server
            .page(
                &format!(
                    "/admin/issue?account={}&package={}&quantity={quantity}",
                    account.id, catalogue.package_id
                ),
                &operator,
            )
            .await;
        assert_eq!(preview.status, StatusCode::OK);
        assert!(preview.text.contains(QUANTITY_MESSAGE), "{}", preview.text);
    }
    let accepted = order(
        &server,
        &operator,
        json!({ "account_id": account.id, "package_id": catalogue.package_id, "quantity": 1_000 }),
    )
    .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    assert_eq!(
        server
            .store
            .books_of_account(account.id)
            .await
            .unwrap()
            .len(),
        1_000,
        "only the order within the limit was issued"
    );

    // An enterprise split names at most as many books as an order may hold.
    let enterprise = server
        .store
        .create_account(
            &NewAccount {
                kind: AccountKind::Enterprise,
                name: "汉江科技".into(),
                enterprise_id: None,
            },
            NOW,
            &audit("account.create"),
        )
        .await
        .unwrap();
    let allocations: Vec<Value> = (0..1_001)
        .map(|_| json!({ "account_id": account.id, "units": 1 }))
        .collect();
    let split = order(
        &server,
        &operator,
        json!({ "account_id": enterprise.id, "package_id": catalogue.package_id, "quantity": 1, "allocations": allocations }),
    )
    .await;
    refused(&split, "一个订单最多发放 1000 本水票");
    assert!(
        server
            .store
            .books_of_account(enterprise.id)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Units per book and the order's price are computed with checked arithmetic: a package row
/// holding an overflowing sum or price (stored before the package rules existed) is refused
/// with a message instead of a dropped connection, on the API and on the issue page.
async fn overflowing_packages_are_refused_at_issue(db: TestDb) {
    let server = support::start(&db).await;
    support::catalogue(&server.store, 10).await;
    let account = support::customer_account(&server.store, "张伟家").await;
    let (_, operator) = server.user("operator", Role::Operator, None).await;
    let huge_units = stored_package(&server, "溢出张数", u32::MAX, 100).await;
    let huge_price = stored_package(&server, "溢出金额", 10, i64::MAX).await;
    let cases = [
        (huge_units, "该套餐每本水票的张数超出上限,不能发放"),
        (huge_price, "订单金额超出上限"),
    ];
    for (package_id, message) in cases {
        let response = order(
            &server,
            &operator,
            json!({ "account_id": account.id, "package_id": package_id, "quantity": 2 }),
        )
        .await;
        refused(&response, message);
        let preview = server
            .page(
                &format!(
                    "/admin/issue?account={}&package={package_id}&quantity=2",
                    account.id
                ),
                &operator,
            )
            .await;
        assert_eq!(preview.status, StatusCode::OK);
        assert!(preview.text.contains(message), "{}", preview.text);
    }
    assert!(
        server
            .store
            .books_of_account(account.id)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Package creation has one set of rules, through the API and the catalogue page alike: units
/// that fit in a book, a known product and scope, a name, a validity and a price in range.
async fn package_rules_are_the_same_on_the_api_and_the_page(db: TestDb) {
    let server = support::start(&db).await;
    support::catalogue(&server.store, 10).await;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    let mut browser = Browser::new(&server);
    browser.sign_in("admin").await;
    browser.get("/admin/packages").await;
    let csrf = browser.csrf();
    let good = json!({ "name": "买十送一", "price_fen": 15000, "paid_units": 10, "bonus_units": 1,
                       "validity_days": 365, "product": 189, "scope": 0 });
    let cases: [(&str, Value, &str); 9] = [
        (
            "paid_units",
            json!(4_294_967_295u32),
            "购买张数应为 1–10000",
        ),
        ("paid_units", json!(0), "购买张数应为 1–10000"),
        (
            "bonus_units",
            json!(4_294_967_295u32),
            "赠送张数应为 0–10000",
        ),
        ("bonus_units", json!(65_535), "赠送张数应为 0–10000"),
        (
            "validity_days",
            json!(4_294_967_295u32),
            "有效天数应为 1–3650",
        ),
        ("name", json!(""), "套餐名称为 1–40 个字"),
        ("product", json!(999), "产品不存在"),
        ("scope", json!(77), "使用范围不存在"),
        (
            "price_fen",
            json!(1_000_000_000),
            "价格应在 0 到 9999999.99 元之间",
        ),
    ];
    let page_value = |field: &str, value: &Value| -> String {
        match (field, value) {
            ("price_fen", value) => format!("{}", value.as_i64().unwrap() / 100),
            (_, Value::String(text)) => text.clone(),
            (_, value) => value.to_string(),
        }
    };
    for (field, value, message) in cases {
        let mut body = good.clone();
        body[field] = value.clone();
        let response = server
            .call(Method::POST, "/api/v1/packages", Some(&admin), Some(body))
            .await;
        refused(&response, message);

        let mut form: Vec<(&str, String)> = vec![
            ("csrf", csrf.clone()),
            ("name", "买十送一".into()),
            ("price", "150".into()),
            ("paid_units", "10".into()),
            ("bonus_units", "1".into()),
            ("validity_days", "365".into()),
            ("product", "189".into()),
            ("scope", "0".into()),
        ];
        let key = if field == "price_fen" { "price" } else { field };
        for entry in &mut form {
            if entry.0 == key {
                entry.1 = page_value(field, &value);
            }
        }
        let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = browser.post_form("/admin/packages", &fields).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{field}: {}",
            page.text
        );
        assert!(page.text.contains(message), "{field}: {}", page.text);
    }
    assert_eq!(
        server.store.packages().await.unwrap().len(),
        1,
        "only the fixture's package exists"
    );
    let created = server
        .call(Method::POST, "/api/v1/packages", Some(&admin), Some(good))
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
}

/// A scope lists at most 1000 regions and 1000 stores, so one request cannot hold the write
/// lock for a hundred thousand inserts.
async fn scopes_are_bounded(db: TestDb) {
    let server = support::start(&db).await;
    let catalogue = support::catalogue(&server.store, 10).await;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    let many: Vec<i64> = vec![catalogue.region_id; 1_001];
    let response = server
        .call(
            Method::POST,
            "/api/v1/scopes",
            Some(&admin),
            Some(json!({ "name": "全省", "region_ids": many, "outlet_ids": [] })),
        )
        .await;
    refused(&response, "一个使用范围最多包含 1000 个区域和 1000 个门店");
    assert_eq!(server.store.scopes().await.unwrap().len(), 1);
}

/// The free texts kept with a book and in the ledger have the same limits through the API as
/// through the console: a revocation or reissue needs a reason of at most 200 characters, a
/// resolution's note has at most 200; a refused request changes nothing.
async fn reasons_and_notes_are_bounded(db: TestDb) {
    let server = support::start(&db).await;
    let catalogue = support::catalogue(&server.store, 1).await;
    let account = support::customer_account(&server.store, "张伟家").await;
    let (_, operator) = server.user("operator", Role::Operator, None).await;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    let issued = order(
        &server,
        &operator,
        json!({ "account_id": account.id, "package_id": catalogue.package_id, "quantity": 1 }),
    )
    .await;
    let book = issued.json["books"][0]["id"].as_u64().unwrap();
    let long = "长".repeat(201);
    for action in ["revoke", "reissue"] {
        let path = format!("/api/v1/books/{book}/{action}");
        for (reason, message) in [(long.as_str(), "原因最多 200 字"), (" ", "请填写原因")]
        {
            let response = server
                .call(
                    Method::POST,
                    &path,
                    Some(&operator),
                    Some(json!({ "reason": reason })),
                )
                .await;
            refused(&response, message);
        }
    }
    let mut browser = Browser::new(&server);
    browser.sign_in("operator").await;
    browser.get("/admin/tickets").await;
    let csrf = browser.csrf();
    let page = browser
        .post_form(
            &format!("/admin/books/{book}/revoke"),
            &[("csrf", &csrf), ("reason", &long)],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.text.contains("原因最多 200 字"), "{}", page.text);
    let stored = server.store.book(BookId(book)).await.unwrap();
    assert_eq!(stored.revoked_at, None, "nothing was revoked");

    let event_id = server.over_redeemed(&admin, "courier1", BookId(book)).await;
    let response = server
        .call(
            Method::POST,
            &format!("/api/v1/review/{event_id}/resolve"),
            Some(&operator),
            Some(json!({ "action": "charge", "note": long })),
        )
        .await;
    refused(&response, "备注最多 200 字");
    let open = server
        .call(Method::GET, "/api/v1/review", Some(&operator), None)
        .await;
    assert_eq!(open.json.as_array().unwrap().len(), 1, "still open");
}

on_both_backends!(
    reasons_and_notes_are_bounded,
    orders_are_bounded_before_anything_is_allocated,
    overflowing_packages_are_refused_at_issue,
    package_rules_are_the_same_on_the_api_and_the_page,
    scopes_are_bounded,
);

//! Every conflict a client can cause answers a fixed zh-CN message chosen by what collided; the
//! database's own text (constraint names, table names, `UNIQUE`, `violates`) stays in the log.

use axum::http::{Method, StatusCode};
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use shuipiao_server::store::models::Role;

use crate::support::{self, TestDb, TestServer, on_both_backends};
use crate::web::Browser;

/// Words of SQLite's and PostgreSQL's messages, and the tables a conflict could name.
const DATABASE_WORDS: [&str; 18] = [
    "constraint",
    "unique",
    "violates",
    "foreign key",
    "duplicate key",
    "users",
    "products",
    "regions",
    "outlets",
    "scopes",
    "packages",
    "accounts",
    "books",
    "devices",
    "review_queue",
    "resolutions",
    "conflict:",
    "sqlite",
];

/// A 409 with `message` and no database text.
fn conflict(what: &str, response: &support::Response, message: &str) {
    assert_eq!(
        (response.status, response.json["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict")),
        "{what}: {}",
        response.text
    );
    assert_eq!(response.json["message"], message, "{what}");
    no_database_text(what, &response.text);
}

fn no_database_text(what: &str, body: &str) {
    let lower = body.to_lowercase();
    for word in DATABASE_WORDS {
        assert!(!lower.contains(word), "{what}: `{word}` in {body}");
    }
}

async fn post(server: &TestServer, token: &str, path: &str, body: Value) -> support::Response {
    server
        .call(Method::POST, path, Some(token), Some(body))
        .await
}

/// Each known conflict of the JSON API, on both backends.
async fn conflicts_answer_fixed_messages(db: TestDb) {
    let server = support::start(&db).await;
    let catalogue = support::catalogue(&server.store, 1).await;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    let customer = support::customer_account(&server.store, "张伟家").await;

    let user = json!({ "username": "dup", "password": "longenough", "role": "operator" });
    assert_eq!(
        post(&server, &admin, "/api/v1/users", user.clone())
            .await
            .status,
        StatusCode::OK
    );
    let package = json!({ "name": "家庭月套餐", "price_fen": 100, "paid_units": 1, "bonus_units": 0,
                          "validity_days": 31, "product": 189, "scope": 0 });
    let cases: Vec<(&str, Value, &str)> = vec![
        ("/api/v1/users", user, "用户名已存在"),
        (
            "/api/v1/users",
            json!({ "username": "c2", "password": "longenough", "role": "courier", "region_id": 999 }),
            "关联的记录不存在,请刷新后重试",
        ),
        (
            "/api/v1/products",
            json!({ "code": 189, "name": "另一种水", "volume_ml": 1 }),
            "产品编号已存在",
        ),
        (
            "/api/v1/products",
            json!({ "code": 190, "name": "18.9L 桶装水", "volume_ml": 1 }),
            "产品名称已存在",
        ),
        (
            "/api/v1/regions",
            json!({ "name": "武汉" }),
            "区域名称已存在",
        ),
        (
            "/api/v1/outlets",
            json!({ "region_id": catalogue.region_id, "name": "光谷门店" }),
            "门店名称已存在",
        ),
        (
            "/api/v1/scopes",
            json!({ "name": "武汉市", "region_ids": [catalogue.region_id], "outlet_ids": [] }),
            "使用范围名称已存在",
        ),
        ("/api/v1/packages", package, "已有同名套餐"),
        (
            "/api/v1/accounts",
            json!({ "kind": "customer", "name": "员工", "enterprise_id": customer.id }),
            "所属账户不是企业账户",
        ),
    ];
    for (path, body, message) in cases {
        let response = post(&server, &admin, path, body.clone()).await;
        conflict(&format!("{path} {body}"), &response, message);
    }

    // A book revoked twice.
    let order = post(
        &server,
        &admin,
        "/api/v1/orders",
        json!({ "account_id": customer.id, "package_id": catalogue.package_id, "quantity": 2 }),
    )
    .await;
    assert_eq!(order.status, StatusCode::OK, "{}", order.text);
    let first = order.json["books"][0]["id"].as_u64().unwrap();
    let second = order.json["books"][1]["id"].as_u64().unwrap();
    let revoke = format!("/api/v1/books/{first}/revoke");
    let reason = json!({ "reason": "用户挂失" });
    assert_eq!(
        post(&server, &admin, &revoke, reason.clone()).await.status,
        StatusCode::OK
    );
    let again = post(&server, &admin, &revoke, reason).await;
    conflict("revoke twice", &again, "该水票已作废,不能重复操作");

    // A flagged redemption resolved twice.
    let event_id = server
        .over_redeemed(&admin, "courier1", shuipiao_shared::ids::BookId(second))
        .await;
    let resolve = format!("/api/v1/review/{event_id}/resolve");
    let action = json!({ "action": "charge" });
    assert_eq!(
        post(&server, &admin, &resolve, action.clone()).await.status,
        StatusCode::OK
    );
    let again = post(&server, &admin, &resolve, action).await;
    conflict("resolve twice", &again, "该冲突已处理");

    // A device key enrolled twice.
    let key = SigningKey::from_bytes(&[7; 32]);
    let public = data_encoding::HEXLOWER.encode(key.verifying_key().as_bytes());
    let (courier, _) = server.user("courier2", Role::Courier, None).await;
    for attempt in 0..2 {
        let code = post(
            &server,
            &admin,
            "/api/v1/devices/enrollment-codes",
            json!({ "user_id": courier.id.0 }),
        )
        .await;
        let enrolled = server
            .call(
                Method::POST,
                "/api/v1/devices/enroll",
                None,
                Some(json!({ "code": code.json["code"], "device_pubkey": public, "name": "手机" })),
            )
            .await;
        if attempt == 0 {
            assert_eq!(enrolled.status, StatusCode::OK, "{}", enrolled.text);
        } else {
            conflict("key enrolled twice", &enrolled, "该设备已注册");
        }
    }
}

/// The admin pages show the same fixed messages.
async fn pages_show_the_same_conflict_messages(db: TestDb) {
    let server = support::start(&db).await;
    support::catalogue(&server.store, 1).await;
    server.user("admin", Role::Admin, None).await;
    let mut browser = Browser::new(&server);
    browser.sign_in("admin").await;
    browser.get("/admin/users").await;
    let csrf = browser.csrf();
    let user = [
        ("csrf", csrf.as_str()),
        ("username", "admin"),
        ("password", "longenough"),
        ("role", "operator"),
    ];
    let page = browser.post_form("/admin/users", &user).await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.text);
    assert!(page.text.contains("用户名已存在"), "{}", page.text);
    no_database_text("user page", &page.text);
    let package = [
        ("csrf", csrf.as_str()),
        ("name", "家庭月套餐"),
        ("price", "60"),
        ("paid_units", "1"),
        ("validity_days", "31"),
        ("product", "189"),
    ];
    let page = browser.post_form("/admin/packages", &package).await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.text);
    assert!(page.text.contains("已有同名套餐"), "{}", page.text);
    no_database_text("package page", &page.text);
    assert_eq!(server.store.packages().await.unwrap().len(), 1);
}

on_both_backends!(
    conflicts_answer_fixed_messages,
    pages_show_the_same_conflict_messages
);

//! The admin side over HTTP: catalogue, accounts and users, enterprise orders, reports, keys.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use shuipiao_server::store::models::Role;

use crate::support::{self, TestDb};

async fn ok(response: support::Response) -> Value {
    assert!(
        response.status.is_success(),
        "{} {}",
        response.status,
        response.text
    );
    response.json
}

#[tokio::test]
async fn admin_builds_catalogue_staff_and_enterprise_orders() {
    let db = TestDb::sqlite();
    let server = support::start(&db).await;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    let call = |method: Method, path: &'static str, body: Option<Value>| {
        let server = &server;
        let admin = admin.clone();
        async move { server.call(method, path, Some(&admin), body).await }
    };

    let region = ok(call(
        Method::POST,
        "/api/v1/regions",
        Some(json!({ "name": "襄阳" })),
    )
    .await)
    .await;
    let outlet = ok(call(
        Method::POST,
        "/api/v1/outlets",
        Some(json!({ "region_id": region["id"], "name": "樊城门店" })),
    )
    .await)
    .await;
    let scope = ok(call(
        Method::POST,
        "/api/v1/scopes",
        Some(
            json!({ "name": "襄阳市", "region_ids": [region["id"]], "outlet_ids": [outlet["id"]] }),
        ),
    )
    .await)
    .await;
    ok(call(
        Method::POST,
        "/api/v1/products",
        Some(json!({ "code": 189, "name": "18.9L 桶装水", "volume_ml": 18900 })),
    )
    .await)
    .await;
    let package = ok(call(
        Method::POST,
        "/api/v1/packages",
        Some(
            json!({ "name": "企业年套餐", "price_fen": 140000, "paid_units": 100, "bonus_units": 0,
                     "validity_days": 365, "product": 189, "scope": scope["id"] }),
        ),
    )
    .await)
    .await;
    let bad_package = call(
        Method::POST,
        "/api/v1/packages",
        Some(json!({ "name": "x", "price_fen": -1, "paid_units": 0, "bonus_units": 0, "validity_days": 1, "product": 189, "scope": 0 })),
    )
    .await;
    assert_eq!(bad_package.status, StatusCode::BAD_REQUEST);

    let enterprise = ok(call(
        Method::POST,
        "/api/v1/accounts",
        Some(json!({ "kind": "enterprise", "name": "襄阳汉江科技", "enterprise_id": null })),
    )
    .await)
    .await;
    let mut members = Vec::new();
    for n in 0..4 {
        let member = server
            .call(
                Method::POST,
                "/api/v1/accounts",
                Some(&admin),
                Some(json!({ "kind": "customer", "name": format!("员工{n}"), "enterprise_id": enterprise["id"] })),
            )
            .await;
        members.push(ok(member).await);
    }
    let user = ok(call(
        Method::POST,
        "/api/v1/users",
        Some(json!({ "username": "xyadmin", "password": "longenough", "role": "enterprise_admin", "account_id": enterprise["id"] })),
    )
    .await)
    .await;
    assert_eq!(user["role"], "enterprise_admin");
    let weak = call(
        Method::POST,
        "/api/v1/users",
        Some(json!({ "username": "w", "password": "short", "role": "operator" })),
    )
    .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);

    // 100 tickets split among the members; the split must add up.
    let allocations: Vec<Value> = members
        .iter()
        .zip([40, 30, 20, 10])
        .map(|(m, units)| json!({ "account_id": m["id"], "units": units }))
        .collect();
    let order = ok(call(
        Method::POST,
        "/api/v1/orders",
        Some(json!({ "account_id": enterprise["id"], "package_id": package["id"], "quantity": 1, "allocations": allocations })),
    )
    .await)
    .await;
    assert_eq!(order["books"].as_array().unwrap().len(), 4);
    let short = call(
        Method::POST,
        "/api/v1/orders",
        Some(
            json!({ "account_id": enterprise["id"], "package_id": package["id"], "quantity": 1,
                     "allocations": [{ "account_id": members[0]["id"], "units": 99 }] }),
        ),
    )
    .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST, "{}", short.text);

    let login = server
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "username": "xyadmin", "password": "longenough" })),
        )
        .await;
    let xyadmin = ok(login).await["token"].as_str().unwrap().to_string();
    let members_path = format!("/api/v1/accounts/{}/members", enterprise["id"]);
    let seen = ok(server
        .call(Method::GET, &members_path, Some(&xyadmin), None)
        .await)
    .await;
    assert_eq!(seen.as_array().unwrap().len(), 4);
    let other = server
        .call(
            Method::GET,
            "/api/v1/accounts/999/members",
            Some(&xyadmin),
            None,
        )
        .await;
    assert_eq!(
        other.status,
        StatusCode::FORBIDDEN,
        "an enterprise admin sees only their enterprise"
    );
    // The enterprise sees what it handed out, as figures; the QR codes stay with the members.
    let allocated_path = format!("/api/v1/accounts/{}/allocated-books", enterprise["id"]);
    let allocated = ok(server
        .call(Method::GET, &allocated_path, Some(&xyadmin), None)
        .await)
    .await;
    let allocated = allocated.as_array().unwrap();
    let units: u64 = allocated.iter().map(|b| b["units"].as_u64().unwrap()).sum();
    assert_eq!((allocated.len(), units), (4, 100));
    assert!(
        allocated
            .iter()
            .all(|b| b["status"] == "unused" && b.get("qr_text").is_none())
    );
    let mine = ok(server
        .call(Method::GET, "/api/v1/books/mine", Some(&xyadmin), None)
        .await)
    .await;
    assert_eq!(
        mine.as_array().unwrap().len(),
        0,
        "the enterprise holds none of its members' books"
    );
    let elsewhere = server
        .call(
            Method::GET,
            "/api/v1/accounts/999/allocated-books",
            Some(&xyadmin),
            None,
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);

    let (_, statistician) = server.user("stats", Role::Statistician, None).await;
    let summary = ok(server
        .call(
            Method::GET,
            "/api/v1/stats/summary",
            Some(&statistician),
            None,
        )
        .await)
    .await;
    assert_eq!(
        (summary["books"].as_i64(), summary["units_issued"].as_i64()),
        (Some(4), Some(100))
    );
    let refused = server
        .call(
            Method::POST,
            "/api/v1/regions",
            Some(&statistician),
            Some(json!({ "name": "宜昌" })),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::FORBIDDEN,
        "statisticians only read reports"
    );

    let keys = ok(call(Method::GET, "/api/v1/keys", None).await).await;
    let issuer = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["purpose"] == "issuer")
        .unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_string();
    let compromised = server
        .call(
            Method::POST,
            &format!("/api/v1/keys/{issuer}/compromise"),
            Some(&admin),
            Some(json!({ "reissue": true })),
        )
        .await;
    let compromised = ok(compromised).await;
    assert_eq!(
        compromised["reissued_books"].as_array().unwrap().len(),
        4,
        "every live book is reissued under the new key"
    );
    let keys = ok(call(Method::GET, "/api/v1/keys", None).await).await;
    let states: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["active", "compromised", "active"],
        "root, old issuer, new issuer"
    );
    let bad_kid = server
        .call(
            Method::POST,
            "/api/v1/keys/xyz/compromise",
            Some(&admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(bad_kid.status, StatusCode::BAD_REQUEST);
}

//! Device enrollment and device tokens: one-time codes, sound keys, and devices that stop
//! when they or their users are disabled.

use axum::http::{Method, StatusCode};
use serde_json::json;
use shuipiao_server::store::models::{NewEnrollmentCode, Role};
use sqlx::Connection;

use crate::support::{self, NOW, TestDb, TestDevice, TestServer, on_both_backends};
use crate::web::Browser;

on_both_backends!(
    disabling_a_device_twice_is_refused_alike,
    disabling_a_user_disables_their_devices,
    weak_device_keys_are_refused_at_enrollment,
);

#[tokio::test]
async fn enrollment_is_one_time_and_tokens_work_until_disabled() {
    let db = TestDb::sqlite();
    let server = support::start(&db).await;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    let (courier, _) = server.user("courier", Role::Courier, None).await;
    let (customer, _) = server
        .user(
            "customer",
            Role::Customer,
            Some(support::customer_account(&server.store, "x").await.id),
        )
        .await;

    let refused = server
        .call(
            Method::POST,
            "/api/v1/devices/enrollment-codes",
            Some(&admin),
            Some(json!({ "user_id": customer.id.0 })),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "codes are only for couriers and store staff"
    );

    let code = server.enrollment_code(&admin, courier.id).await;
    let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
    let pubkey = data_encoding::HEXLOWER.encode(key.verifying_key().as_bytes());
    let enroll = |code: String, pubkey: String| {
        let server = &server;
        async move {
            server
                .call(
                    Method::POST,
                    "/api/v1/devices/enroll",
                    None,
                    Some(json!({ "code": code, "device_pubkey": pubkey, "name": "张师傅的手机" })),
                )
                .await
        }
    };
    let bad_key = enroll(code.clone(), "00".repeat(31)).await;
    assert_eq!(
        bad_key.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        bad_key.json
    );
    let enrolled = enroll(code.to_lowercase(), pubkey.clone()).await;
    assert_eq!(enrolled.status, StatusCode::OK, "{:?}", enrolled.json);
    assert_eq!(enrolled.json["role"], "courier");
    assert_eq!(enrolled.json["user_id"], courier.id.0);
    assert_eq!(enrolled.json["scopes"][0]["scope"], 0);
    let root = server
        .call(Method::GET, "/api/v1/keys", Some(&admin), None)
        .await;
    let root_hex = root
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["purpose"] == "root")
        .unwrap()["public_key"]
        .clone();
    assert_eq!(
        enrolled.json["root_public_key"], root_hex,
        "devices pin the root key"
    );

    let again = enroll(code.clone(), pubkey.clone()).await;
    assert_eq!(
        (again.status, again.json["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("enrollment_code_invalid"))
    );
    let unknown = enroll("AAAAAAAAAAAAAAAA".into(), pubkey.clone()).await;
    assert_eq!(unknown.json["code"], "enrollment_code_invalid");

    let expired_hash = shuipiao_server::auth::token::sha256(b"EXPIREDCODE00000").to_vec();
    server
        .store
        .create_enrollment_code(
            &NewEnrollmentCode {
                code_hash: expired_hash,
                user_id: courier.id,
                expires_at: NOW,
                created_by: None,
            },
            NOW - 100,
            &support::audit("code"),
        )
        .await
        .unwrap();
    let expired = enroll("EXPIREDCODE00000".into(), "11".repeat(32)).await;
    assert_eq!(expired.json["code"], "enrollment_code_invalid");

    let token = enrolled.json["device_token"].as_str().unwrap().to_string();
    let status = server
        .call(Method::GET, "/api/v1/sync/status", Some(&token), None)
        .await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(status.json["last_device_seq"], 0);
    let forged = format!("{}.AAAA", token.split('.').next().unwrap());
    assert_eq!(
        server
            .call(Method::GET, "/api/v1/sync/status", Some(&forged), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let as_user = server
        .call(Method::GET, "/api/v1/me", Some(&token), None)
        .await;
    assert_eq!(
        as_user.status,
        StatusCode::UNAUTHORIZED,
        "a device token is not a user session"
    );

    let device_id = enrolled.json["device_id"].as_u64().unwrap();
    let disabled = server
        .call(
            Method::POST,
            &format!("/api/v1/devices/{device_id}/disable"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(disabled.status, StatusCode::NO_CONTENT);
    let refused = server
        .call(Method::GET, "/api/v1/sync/status", Some(&token), None)
        .await;
    assert_eq!(
        (refused.status, refused.json["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("device_disabled"))
    );
    let audit = server
        .call(Method::GET, "/api/v1/audit", Some(&admin), None)
        .await;
    let actions: Vec<_> = audit
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert!(
        actions.contains(&"device.disable".to_string())
            && actions.contains(&"device.enrollment_code".to_string()),
        "{actions:?}"
    );
}

/// A push of one redemption of `book`; the answer's status and error code.
async fn push_one(
    server: &TestServer,
    device: &mut TestDevice,
    book: shuipiao_shared::ids::BookId,
) -> (StatusCode, serde_json::Value) {
    let event = device.redeem(book, 1);
    let response = server
        .call(
            Method::POST,
            "/api/v1/sync/push",
            Some(&device.token),
            Some(json!({ "events": [event] })),
        )
        .await;
    (response.status, response.json)
}

/// Disabling a staff user on the users page disables their devices in the same step, each
/// audited: the phone of a courier who left can no longer push or pull, a code made for them
/// before no longer enrolls, and enabling them again does not bring the devices back. A device
/// whose user is disabled any other way is refused too.
/// A device that does not exist or is already disabled gets the same answer from the API and
/// the devices page, and no second audit entry.
async fn disabling_a_device_twice_is_refused_alike(db: TestDb) {
    const MESSAGE: &str = "设备不存在或已停用";
    let server = support::start(&db).await;
    let (_, admin_token) = server.user("admin", Role::Admin, None).await;
    let device = server.device(&admin_token, "phone").await;
    async fn api(server: &TestServer, token: &str, id: u64) -> support::Response {
        let path = format!("/api/v1/devices/{id}/disable");
        server.call(Method::POST, &path, Some(token), None).await
    }
    assert_eq!(
        api(&server, &admin_token, device.id.0).await.status,
        StatusCode::NO_CONTENT
    );
    let disables = || async {
        server
            .store
            .audit_log(50)
            .await
            .unwrap()
            .iter()
            .filter(|entry| entry.action == "device.disable")
            .count()
    };
    assert_eq!(disables().await, 1);
    let mut admin = Browser::new(&server);
    admin.sign_in("admin").await;
    admin.get("/admin/devices").await;
    let csrf = admin.csrf();
    for id in [device.id.0, 999_999] {
        let response = api(&server, &admin_token, id).await;
        assert_eq!(
            (response.status, response.json["message"].as_str()),
            (StatusCode::NOT_FOUND, Some(MESSAGE)),
            "{}",
            response.text
        );
        let page = admin
            .post_form(&format!("/admin/devices/{id}/disable"), &[("csrf", &csrf)])
            .await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.text);
        assert!(page.text.contains(MESSAGE), "{}", page.text);
    }
    assert_eq!(disables().await, 1, "nothing more was written");
}

async fn disabling_a_user_disables_their_devices(db: TestDb) {
    let server = support::start(&db).await;
    let (_, admin_token) = server.user("admin", Role::Admin, None).await;
    let cat = support::catalogue(&server.store, 100).await;
    let account = support::customer_account(&server.store, "客户").await;
    let order = server
        .call(
            Method::POST,
            "/api/v1/orders",
            Some(&admin_token),
            Some(json!({ "account_id": account.id, "package_id": cat.package_id, "quantity": 1 })),
        )
        .await;
    assert_eq!(order.status, StatusCode::OK, "{:?}", order.json);
    let book = shuipiao_shared::ids::BookId(order.json["books"][0]["id"].as_u64().unwrap());
    let mut leaving = server.device(&admin_token, "leaving").await;
    let mut staying = server.device(&admin_token, "staying").await;
    let (status, _) = push_one(&server, &mut leaving, book).await;
    assert_eq!(status, StatusCode::OK);
    let spare_code = server
        .call(
            Method::POST,
            "/api/v1/devices/enrollment-codes",
            Some(&admin_token),
            Some(json!({ "user_id": leaving.courier.0 })),
        )
        .await;
    assert_eq!(spare_code.status, StatusCode::OK);

    let mut admin = Browser::new(&server);
    admin.sign_in("admin").await;
    let csrf = admin.csrf();
    let path = format!("/admin/users/{}", leaving.courier.0);
    let disabled = admin
        .post_form(
            &path,
            &[("csrf", &csrf), ("role", "courier"), ("status", "disabled")],
        )
        .await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER, "{}", disabled.text);

    let (status, body) = push_one(&server, &mut leaving, book).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("device_disabled")),
        "{body}"
    );
    for path in ["/api/v1/sync/pull?cursor=0", "/api/v1/sync/status"] {
        let refused = server
            .call(Method::GET, path, Some(&leaving.token), None)
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
    }
    let (status, _) = push_one(&server, &mut staying, book).await;
    assert_eq!(status, StatusCode::OK, "other users' devices go on");

    let listed = server
        .call(Method::GET, "/api/v1/devices", Some(&admin_token), None)
        .await;
    let disabled_at = |id: u64| {
        listed
            .json
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == id)
            .unwrap()["disabled_at"]
            .clone()
    };
    assert!(!disabled_at(leaving.id.0).is_null());
    assert!(disabled_at(staying.id.0).is_null());
    let page = admin.get("/admin/devices").await;
    assert!(page.text.contains("已停用"), "the device list shows it");
    let audit = server
        .call(Method::GET, "/api/v1/audit", Some(&admin_token), None)
        .await;
    let entries = audit.json.as_array().unwrap();
    let device_entry = entries
        .iter()
        .find(|e| {
            e["action"] == "device.disable" && e["target"] == format!("device:{}", leaving.id.0)
        })
        .expect("the device's disabling is audited");
    assert!(
        device_entry["detail"]
            .as_str()
            .unwrap()
            .contains("user_disabled"),
        "{device_entry}"
    );

    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let late = server
        .call(
            Method::POST,
            "/api/v1/devices/enroll",
            None,
            Some(json!({
                "code": spare_code.json["code"],
                "device_pubkey": data_encoding::HEXLOWER.encode(key.verifying_key().as_bytes()),
                "name": "新手机",
            })),
        )
        .await;
    assert_eq!(
        late.json["code"], "enrollment_code_invalid",
        "{:?}",
        late.json
    );
    let new_code = server
        .call(
            Method::POST,
            "/api/v1/devices/enrollment-codes",
            Some(&admin_token),
            Some(json!({ "user_id": leaving.courier.0 })),
        )
        .await;
    assert_eq!(new_code.status, StatusCode::BAD_REQUEST);
    assert!(
        new_code.json["message"]
            .as_str()
            .unwrap()
            .contains("已停用"),
        "{:?}",
        new_code.json
    );

    let enabled = admin
        .post_form(
            &path,
            &[("csrf", &csrf), ("role", "courier"), ("status", "active")],
        )
        .await;
    assert_eq!(enabled.status, StatusCode::SEE_OTHER);
    let (status, _) = push_one(&server, &mut leaving, book).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "enabling the user does not bring the device back"
    );

    // A user disabled without going through the console (e.g. by hand in the database).
    let mut conn = sqlx::AnyConnection::connect(db.url.expose()).await.unwrap();
    sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
        .bind(NOW)
        .bind(staying.courier.0 as i64)
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let (status, body) = push_one(&server, &mut staying, book).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("device_disabled")),
        "{body}"
    );
}

/// A device key of small order would let anyone sign events that verify under it; holder keys
/// already refuse them. Enrollment refuses them with a clear message and keeps the code.
async fn weak_device_keys_are_refused_at_enrollment(db: TestDb) {
    let server = support::start(&db).await;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    let (courier, _) = server.user("courier", Role::Courier, None).await;
    let code = server.enrollment_code(&admin, courier.id).await;
    let enroll = |pubkey: String| {
        let (server, code) = (&server, code.clone());
        async move {
            server
                .call(
                    Method::POST,
                    "/api/v1/devices/enroll",
                    None,
                    Some(json!({ "code": code, "device_pubkey": pubkey, "name": "张师傅的手机" })),
                )
                .await
        }
    };
    // The identity, the point of order 2 and a point of order 4, as Ed25519 encodes them.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut order_two = [0xff; 32];
    order_two[0] = 0xec;
    order_two[31] = 0x7f;
    let order_four = [0u8; 32];
    for weak in [identity, order_two, order_four] {
        let refused = enroll(data_encoding::HEXLOWER.encode(&weak)).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{:?}",
            refused.json
        );
        assert!(
            refused.json["message"].as_str().unwrap().contains("弱密钥"),
            "{:?}",
            refused.json
        );
    }
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let enrolled = enroll(data_encoding::HEXLOWER.encode(key.verifying_key().as_bytes())).await;
    assert_eq!(
        enrolled.status,
        StatusCode::OK,
        "the code survives a refused key: {:?}",
        enrolled.json
    );
    assert!(server.store.devices().await.unwrap().len() == 1);
}

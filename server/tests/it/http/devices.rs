//! Device enrollment and device tokens: one-time codes, sound keys, disabled devices.

use axum::http::{Method, StatusCode};
use serde_json::json;
use shuipiao_server::store::Store;
use shuipiao_server::store::models::{NewEnrollmentCode, Role};

use crate::support::{self, NOW, TestDb, on_both_backends};

on_both_backends!(weak_device_keys_are_refused_at_enrollment);

#[tokio::test]
async fn enrollment_is_one_time_and_tokens_work_until_disabled() {
    let db = support::sqlite_db();
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

    let code = server
        .call(
            Method::POST,
            "/api/v1/devices/enrollment-codes",
            Some(&admin),
            Some(json!({ "user_id": courier.id.0 })),
        )
        .await;
    assert_eq!(code.status, StatusCode::OK);
    let code = code.json["code"].as_str().unwrap().to_string();
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

/// A device key of small order would let anyone sign events that verify under it; holder keys
/// already refuse them. Enrollment refuses them with a clear message and keeps the code.
async fn weak_device_keys_are_refused_at_enrollment(db: TestDb) {
    let server = support::start(&db).await;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    let (courier, _) = server.user("courier", Role::Courier, None).await;
    let code = server
        .call(
            Method::POST,
            "/api/v1/devices/enrollment-codes",
            Some(&admin),
            Some(json!({ "user_id": courier.id.0 })),
        )
        .await;
    let code = code.json["code"].as_str().unwrap().to_string();
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

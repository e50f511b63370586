//! Login, sessions, the route × role matrix, and bad input.

use axum::http::{Method, StatusCode};
use serde_json::json;
use shuipiao_server::http::{Access, Surface, routes};
use shuipiao_server::store::models::{AccountKind, NewAccount, Role};
use shuipiao_server::store::{SqlStore, Store};

use crate::support::{self, BODY_LIMIT, Body, NOW, audit};

#[tokio::test]
async fn login_sets_an_http_only_cookie_and_logout_ends_the_session() {
    let db = support::sqlite_db();
    let server = support::start(&db).await;
    let (_, token) = server.user("admin", Role::Admin, None).await;
    let response = server
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "username": "admin", "password": support::PASSWORD })),
        )
        .await;
    let cookie = response.header("set-cookie").unwrap().to_string();
    assert!(cookie.starts_with("sp_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let me = server
        .raw(
            Method::GET,
            "/api/v1/me",
            &[("Cookie", &session)],
            Body::Bytes(b""),
        )
        .await;
    assert_eq!(me.status, StatusCode::OK, "the cookie alone signs in");

    let me = server
        .call(Method::GET, "/api/v1/me", Some(&token), None)
        .await;
    assert_eq!(me.json["role"], "admin");
    let out = server
        .call(Method::POST, "/api/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let after = server
        .call(Method::GET, "/api/v1/me", Some(&token), None)
        .await;
    assert_eq!(
        after.status,
        StatusCode::UNAUTHORIZED,
        "the session is gone"
    );

    let wrong = server
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "username": "admin", "password": "nope" })),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.json["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let nobody = server
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "username": "ghost", "password": "nope" })),
        )
        .await;
    assert_eq!(nobody.status, StatusCode::UNAUTHORIZED);
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{kid}", "00000000")
        .replace("{event_id}", "0190a0b0-c0d0-7000-8000-000000000000")
        .replace("{channel}", "push")
}

/// Every route in the table, called by every role: allowed roles get past the access check
/// (anything but 401/403), every other role gets 403, and no token gets 401.
#[tokio::test]
async fn route_role_matrix() {
    let db = support::sqlite_db();
    let server = support::start(&db).await;
    let store: &SqlStore = &server.store;
    let enterprise = store
        .create_account(
            &NewAccount {
                kind: AccountKind::Enterprise,
                name: "企业".into(),
                enterprise_id: None,
            },
            NOW,
            &audit("account.create"),
        )
        .await
        .unwrap();
    let customer = support::customer_account(store, "客户").await;
    let mut tokens = Vec::new();
    for role in Role::ALL {
        let account = match role {
            Role::Customer => Some(customer.id),
            Role::EnterpriseAdmin => Some(enterprise.id),
            _ => None,
        };
        let (_, token) = server.user(role.as_str(), role, account).await;
        tokens.push((role, token));
    }
    let table = routes::<SqlStore>();
    // Logout ends the caller's session, so it is walked last.
    let (last, first): (Vec<_>, Vec<_>) =
        table.iter().partition(|r| r.path == "/api/v1/auth/logout");
    let mut checked = 0;
    for route in first.into_iter().chain(last) {
        let path = concrete(route.path);
        let body = (route.method == Method::POST).then(|| json!({}));
        match route.access {
            Access::Public | Access::Metrics => continue,
            Access::Device => {
                for (role, token) in &tokens {
                    let response = server
                        .call(route.method.clone(), &path, Some(token), body.clone())
                        .await;
                    assert_eq!(
                        response.status,
                        StatusCode::UNAUTHORIZED,
                        "{role:?} session on device route {} {path}",
                        route.method
                    );
                }
            }
            Access::Roles(allowed) => {
                for (role, token) in &tokens {
                    let response = server
                        .call(route.method.clone(), &path, Some(token), body.clone())
                        .await;
                    if allowed.contains(role) {
                        assert!(
                            response.status != StatusCode::UNAUTHORIZED
                                && response.status != StatusCode::FORBIDDEN,
                            "{role:?} is allowed on {} {path} but got {} {:?}",
                            route.method,
                            response.status,
                            response.json
                        );
                    } else {
                        assert_eq!(
                            response.status,
                            StatusCode::FORBIDDEN,
                            "{role:?} must be refused on {} {path}",
                            route.method
                        );
                        match route.surface {
                            Surface::Api => assert_eq!(response.json["code"], "forbidden"),
                            Surface::Page => assert!(
                                response.text.contains("没有权限"),
                                "error page on {path}: {}",
                                response.text
                            ),
                        }
                    }
                    checked += 1;
                }
            }
        }
        let anonymous = server
            .call(route.method.clone(), &path, None, body.clone())
            .await;
        match route.surface {
            Surface::Api => assert_eq!(
                anonymous.status,
                StatusCode::UNAUTHORIZED,
                "no token on {} {path}",
                route.method
            ),
            Surface::Page => {
                assert_eq!(
                    anonymous.status,
                    StatusCode::SEE_OTHER,
                    "no session on page {} {path}",
                    route.method
                );
                let location = anonymous.header("location").unwrap_or_default();
                assert!(
                    location.starts_with("/login?next=%2F"),
                    "{path} → {location}"
                );
            }
        }
    }
    assert!(
        checked > 100,
        "the matrix covered {checked} route × role pairs"
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_body() {
    let db = support::sqlite_db();
    let server = support::start(&db).await;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    let bearer = format!("Bearer {admin}");
    let json_type = ("Content-Type", "application/json");

    let response = server
        .raw(
            Method::POST,
            "/api/v1/auth/login",
            &[json_type],
            Body::AnnouncedOnly(BODY_LIMIT + 1024),
        )
        .await;
    assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.json["code"], "payload_too_large");

    let response = server
        .raw(
            Method::POST,
            "/api/v1/regions",
            &[json_type, ("Authorization", &bearer)],
            Body::Bytes(b"{\"name\": "),
        )
        .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.json["code"], "bad_request");

    let unknown = server
        .call(
            Method::POST,
            "/api/v1/regions",
            Some(&admin),
            Some(json!({ "name": "襄阳", "colour": "blue" })),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.json["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request")),
        "{:?}",
        unknown.json
    );
    assert!(
        server.store.regions().await.unwrap().is_empty(),
        "nothing was written"
    );

    let response = server
        .raw(
            Method::POST,
            "/api/v1/regions",
            &[
                ("Authorization", &bearer),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            Body::Bytes(b"name=x"),
        )
        .await;
    assert_eq!(response.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    for token in ["garbage", "abc.def", "d1.nope", ""] {
        let response = server
            .call(Method::GET, "/api/v1/me", Some(token), None)
            .await;
        assert_eq!(
            (response.status, response.json["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized")),
            "token {token:?}"
        );
    }
    let tampered = format!("{}x", &admin[..admin.len() - 1]);
    assert_eq!(
        server
            .call(Method::GET, "/api/v1/me", Some(&tampered), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    let bad_path = server
        .call(
            Method::GET,
            "/api/v1/books/not-a-number",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (bad_path.status, bad_path.json["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
    let missing = server
        .call(Method::GET, "/api/v1/nowhere", Some(&admin), None)
        .await;
    assert_eq!(
        (missing.status, missing.json["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );

    let health = server.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.json["status"], "ok");
    let metrics = server.call(Method::GET, "/metrics", None, None).await.text;
    assert!(
        metrics.contains(
            "shuipiao_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn holders_see_only_their_own_books() {
    let db = support::sqlite_db();
    let server = support::start(&db).await;
    let cat = support::catalogue(&server.store, 4).await;
    let (_, operator) = server.user("operator", Role::Operator, None).await;
    let mine = support::customer_account(&server.store, "张伟家").await;
    let theirs = support::customer_account(&server.store, "王芳家").await;
    let (_, customer) = server.user("zhang", Role::Customer, Some(mine.id)).await;
    let mut ids = Vec::new();
    for account in [mine.id, theirs.id] {
        let order = server
            .call(
                Method::POST,
                "/api/v1/orders",
                Some(&operator),
                Some(json!({ "account_id": account, "package_id": cat.package_id, "quantity": 1 })),
            )
            .await;
        assert_eq!(order.status, StatusCode::OK, "{:?}", order.json);
        ids.push(order.json["books"][0]["id"].as_u64().unwrap());
    }
    let own = server
        .call(
            Method::GET,
            &format!("/api/v1/books/{}", ids[0]),
            Some(&customer),
            None,
        )
        .await;
    assert_eq!(own.status, StatusCode::OK);
    assert!(own.json["qr_text"].as_str().unwrap().starts_with("SP1"));
    let other = server
        .call(
            Method::GET,
            &format!("/api/v1/books/{}", ids[1]),
            Some(&customer),
            None,
        )
        .await;
    assert_eq!(
        other.status,
        StatusCode::NOT_FOUND,
        "another account's book is invisible"
    );
    let list = server
        .call(Method::GET, "/api/v1/books/mine", Some(&customer), None)
        .await;
    assert_eq!(list.json.as_array().unwrap().len(), 1);

    let reissued = server
        .call(
            Method::POST,
            &format!("/api/v1/books/{}/reissue", ids[0]),
            Some(&operator),
            Some(json!({ "reason": "用户挂失" })),
        )
        .await;
    assert_eq!(reissued.status, StatusCode::OK, "{:?}", reissued.json);
    assert_eq!(reissued.json["replaces"], ids[0]);
    let list = server
        .call(Method::GET, "/api/v1/books/mine", Some(&customer), None)
        .await;
    let states: Vec<_> = list
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["state"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(states, ["active", "revoked"]);
}

//! Login, sessions, the route × role matrix, and bad input.

use axum::http::{Method, StatusCode};
use serde_json::json;
use shuipiao_server::http::{Access, Surface};
use shuipiao_server::router::routes;
use shuipiao_server::store::Store;
use shuipiao_server::store::models::{AccountKind, NewAccount, Role};

use crate::support::{self, BODY_LIMIT, Body, NOW, TestDb, audit};

#[tokio::test]
async fn login_gives_a_bearer_token_and_logout_ends_the_session() {
    let db = TestDb::sqlite();
    let server = support::start(&db).await;
    let (_, token) = server.user("admin", Role::Admin, None).await;
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

/// A browser that signed in through the login form: its `Cookie` header.
async fn web_session(server: &support::TestServer, username: &str) -> String {
    let mut browser = crate::web::Browser::new(server);
    browser.sign_in(username).await;
    browser.jar.header()
}

/// The JSON API never takes the session cookie, so a cross-site form or `fetch` that a
/// signed-in admin's browser sends with its cookies cannot rotate keys, disable a device or
/// sign the admin out: only the bearer header authenticates there.
async fn the_api_ignores_the_session_cookie(db: support::TestDb) {
    let server = support::start(&db).await;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    let device = server.device(&admin, "courier").await;
    let cookie = web_session(&server, "admin").await;
    let keys_before = server.store.signing_keys().await.unwrap().len();
    let bodyless = [
        "/api/v1/keys/rotate".to_string(),
        format!("/api/v1/devices/{}/disable", device.id.0),
        "/api/v1/auth/logout".to_string(),
    ];
    for path in &bodyless {
        let forged = server
            .raw(
                Method::POST,
                path,
                &[("Cookie", &cookie), ("Origin", "https://evil.example")],
                Body::Bytes(b""),
            )
            .await;
        assert_eq!(
            (forged.status, forged.json["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized")),
            "{path} with the cookie only: {}",
            forged.text
        );
    }
    let me = server
        .raw(
            Method::GET,
            "/api/v1/me",
            &[("Cookie", &cookie)],
            Body::Bytes(b""),
        )
        .await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{}", me.text);
    assert_eq!(
        server.store.signing_keys().await.unwrap().len(),
        keys_before
    );
    let still = server.store.device(device.id).await.unwrap();
    assert!(still.disabled_at.is_none(), "the device is still enabled");
    let wallet = server
        .raw(
            Method::GET,
            "/admin",
            &[("Cookie", &cookie)],
            Body::Bytes(b""),
        )
        .await;
    assert_eq!(
        wallet.status,
        StatusCode::OK,
        "the web session is still open"
    );

    let login = server
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "username": "admin", "password": support::PASSWORD })),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK);
    assert_eq!(
        login.header("set-cookie"),
        None,
        "an API sign-in gives a bearer token, not a cookie"
    );
    let bearer_on_a_page = server.call(Method::GET, "/admin", Some(&admin), None).await;
    assert_eq!(
        bearer_on_a_page.status,
        StatusCode::SEE_OTHER,
        "pages take the cookie only"
    );
}

support::on_both_backends!(the_api_ignores_the_session_cookie);

fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{kid}", "00000000")
        .replace("{event_id}", "0190a0b0-c0d0-7000-8000-000000000000")
        .replace("{channel}", "push")
}

/// A signed-in user of every role (named after it, plus `suffix`), with their API token; the
/// holders in a customer and an enterprise account of their own.
async fn every_role(server: &support::TestServer, suffix: &str) -> Vec<(Role, String)> {
    let store: &Store = &server.store;
    let enterprise = store
        .create_account(
            &NewAccount {
                kind: AccountKind::Enterprise,
                name: format!("企业{suffix}"),
                enterprise_id: None,
            },
            NOW,
            &audit("account.create"),
        )
        .await
        .unwrap();
    let customer = support::customer_account(store, &format!("客户{suffix}")).await;
    let mut tokens = Vec::new();
    for role in Role::ALL {
        let account = match role {
            Role::Customer => Some(customer.id),
            Role::EnterpriseAdmin => Some(enterprise.id),
            _ => None,
        };
        let name = format!("{}{suffix}", role.as_str());
        let (_, token) = server.user(&name, role, account).await;
        tokens.push((role, token));
    }
    tokens
}

/// How a caller presents its session: API clients the bearer header, browsers the cookie.
#[derive(Clone, Copy)]
enum Carrier {
    Bearer,
    Cookie,
}

/// Calls `path` presenting `token` (if any) the way `carrier` says, with a JSON body on POSTs.
async fn call_with(
    server: &support::TestServer,
    method: &Method,
    path: &str,
    token: Option<&str>,
    carrier: Carrier,
) -> support::Response {
    let body = (*method == Method::POST).then(|| json!({}));
    match (carrier, token) {
        (Carrier::Bearer, _) | (_, None) => server.call(method.clone(), path, token, body).await,
        (Carrier::Cookie, Some(token)) => {
            let cookie = format!("sp_session={token}");
            let bytes = body.map(|body| body.to_string()).unwrap_or_default();
            let mut headers = vec![("Cookie", cookie.as_str())];
            if !bytes.is_empty() {
                headers.push(("Content-Type", "application/json"));
            }
            server
                .raw(
                    method.clone(),
                    path,
                    &headers,
                    Body::Bytes(bytes.as_bytes()),
                )
                .await
        }
    }
}

/// Every route in the table, called by every role: allowed roles get past the access check
/// (anything but 401/403), every other role gets 403, and no token gets 401. API routes take
/// the session only as a bearer token and pages only as the cookie: the other way round counts
/// as no session at all.
#[tokio::test]
async fn route_role_matrix() {
    let db = TestDb::sqlite();
    let server = support::start(&db).await;
    let tokens = every_role(&server, "").await;
    let table = routes();
    // Logout ends the caller's session, so it is walked last.
    let (last, first): (Vec<_>, Vec<_>) = table.iter().partition(|r| r.path.ends_with("/logout"));
    let mut checked = 0;
    for route in first.into_iter().chain(last) {
        let path = concrete(route.path);
        let method = &route.method;
        let (carrier, wrong_carrier) = match route.surface {
            Surface::Api => (Carrier::Bearer, Carrier::Cookie),
            Surface::Page => (Carrier::Cookie, Carrier::Bearer),
        };
        match route.access {
            Access::Public | Access::Metrics => continue,
            Access::Device => {
                for (role, token) in &tokens {
                    let response = call_with(&server, method, &path, Some(token), carrier).await;
                    assert_eq!(
                        response.status,
                        StatusCode::UNAUTHORIZED,
                        "{role:?} session on device route {method} {path}",
                    );
                }
            }
            Access::Roles(allowed) => {
                for (role, token) in &tokens {
                    if allowed.contains(role) {
                        let wrong =
                            call_with(&server, method, &path, Some(token), wrong_carrier).await;
                        assert_anonymous(route.surface, &wrong, method, &path);
                    }
                    let response = call_with(&server, method, &path, Some(token), carrier).await;
                    if allowed.contains(role) {
                        assert!(
                            response.status != StatusCode::UNAUTHORIZED
                                && response.status != StatusCode::FORBIDDEN,
                            "{role:?} is allowed on {method} {path} but got {} {:?}",
                            response.status,
                            response.json
                        );
                    } else {
                        assert_eq!(
                            response.status,
                            StatusCode::FORBIDDEN,
                            "{role:?} must be refused on {method} {path}",
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
        let anonymous = call_with(&server, method, &path, None, carrier).await;
        assert_anonymous(route.surface, &anonymous, method, &path);
    }
    assert!(
        checked > 100,
        "the matrix covered {checked} route × role pairs"
    );
}

/// The CSRF token of the forms a page shows the session `token`.
async fn form_token(server: &support::TestServer, token: &str) -> String {
    let cookie = format!("sp_session={token}");
    let page = server
        .raw(
            Method::GET,
            "/login",
            &[("Cookie", &cookie)],
            Body::Bytes(b""),
        )
        .await;
    crate::web::form_token(&page.text).expect("the page's CSRF token")
}

/// Every form a signed-in page posts refuses a token of another session of the same role, a
/// token planted together with a matching CSRF cookie (from a sibling subdomain or a plain-HTTP
/// hop), and none at all.
#[tokio::test]
async fn every_signed_in_form_wants_its_own_session_token() {
    let db = TestDb::sqlite();
    let server = support::start(&db).await;
    let mut sessions = Vec::new();
    let others = every_role(&server, "-2").await;
    for ((role, mine), (_, other)) in every_role(&server, "").await.into_iter().zip(others) {
        sessions.push((role, mine, form_token(&server, &other).await));
    }
    let mut checked = 0;
    for route in routes() {
        let (Surface::Page, Access::Roles(allowed)) = (route.surface, route.access) else {
            continue;
        };
        if route.method != Method::POST {
            continue;
        }
        let (role, mine, foreign) = sessions
            .iter()
            .find(|(role, _, _)| allowed.contains(role))
            .unwrap();
        let path = concrete(route.path);
        let cookie = format!("sp_session={mine}; sp_csrf=PLANTEDTOKEN");
        for csrf in [foreign.as_str(), "PLANTEDTOKEN", ""] {
            let body = format!(
                "csrf={csrf}&name=x&phone=13800138000&status=active&new_password=long+enough+pw"
            );
            let response = server
                .raw(
                    Method::POST,
                    &path,
                    &[
                        ("Cookie", &cookie),
                        ("Content-Type", "application/x-www-form-urlencoded"),
                    ],
                    Body::Bytes(body.as_bytes()),
                )
                .await;
            let refused = response.status.is_client_error() || response.text.contains("页面已过期");
            assert!(
                refused && !response.status.is_redirection(),
                "{role:?} {path} with token {csrf:?}: {} {}",
                response.status,
                response.text
            );
        }
        checked += 1;
    }
    assert!(checked > 15, "{checked} forms checked");
}

/// A caller without a usable session: 401 from the API, the sign-in page from a page.
fn assert_anonymous(surface: Surface, response: &support::Response, method: &Method, path: &str) {
    match surface {
        Surface::Api => assert_eq!(
            (response.status, response.json["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized")),
            "no usable session on {method} {path}"
        ),
        Surface::Page => {
            assert_eq!(
                response.status,
                StatusCode::SEE_OTHER,
                "no usable session on page {method} {path}"
            );
            let location = response.header("location").unwrap_or_default();
            assert!(
                location.starts_with("/login?next=%2F"),
                "{path} → {location}"
            );
        }
    }
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_body() {
    let db = TestDb::sqlite();
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
    let db = TestDb::sqlite();
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

//! Per-client rate limits and the password lock per account and client over real HTTP: each limit answers
//! 429 with `Retry-After` (the JSON error on the API, a zh-CN page on the web), another client is
//! unaffected, and the client gets back in once it has waited.
//!
//! Clients are told apart by `X-Forwarded-For`, which the server believes only because these
//! tests list 127.0.0.1 as a trusted proxy.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use shuipiao_server::config::{Config, Rate};
use shuipiao_server::store::models::Role;

use crate::support::{self, Body, PASSWORD, TestDb, TestServer};
use crate::web::Browser;

const ATTACKER: &str = "203.0.113.7";
const NEIGHBOUR: &str = "198.51.100.20";

/// A server behind a "proxy" on 127.0.0.1 with the given limits.
async fn server(db: &support::TestDb, edit: impl FnOnce(&mut Config)) -> TestServer {
    support::start_with(db, |config| {
        config.limits.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        edit(config);
    })
    .await
}

async fn post_json(
    server: &TestServer,
    path: &str,
    client: &str,
    body: Value,
) -> support::Response {
    let body = serde_json::to_vec(&body).unwrap();
    server
        .raw(
            Method::POST,
            path,
            &[
                ("Content-Type", "application/json"),
                ("X-Forwarded-For", client),
            ],
            Body::Bytes(&body),
        )
        .await
}

async fn api_login(
    server: &TestServer,
    client: &str,
    username: &str,
    password: &str,
) -> support::Response {
    post_json(
        server,
        "/api/v1/auth/login",
        client,
        json!({ "username": username, "password": password }),
    )
    .await
}

/// Asserts the API's 429 and returns how long to wait.
fn api_limited(response: &support::Response) -> Duration {
    assert_eq!(
        response.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        response.text
    );
    assert_eq!(response.json["code"], "rate_limited", "{}", response.text);
    assert!(response.json["message"].as_str().unwrap().contains("请"));
    retry_after(response)
}

/// Asserts the web's 429 page and returns how long to wait.
fn page_limited(response: &support::Response) -> Duration {
    assert_eq!(
        response.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        response.text
    );
    assert!(
        response
            .header("content-type")
            .unwrap()
            .starts_with("text/html"),
        "a page, not JSON"
    );
    assert!(response.text.contains("操作过于频繁"), "{}", response.text);
    assert!(response.text.contains("后再试"), "{}", response.text);
    retry_after(response)
}

fn retry_after(response: &support::Response) -> Duration {
    let secs: u64 = response
        .header("retry-after")
        .expect("Retry-After on a 429")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=5).contains(&secs), "Retry-After {secs}");
    Duration::from_secs(secs)
}

#[tokio::test]
async fn api_password_login_is_limited_per_client() {
    let db = TestDb::sqlite();
    let server = server(&db, |config| config.limits.login = Rate::new(3, 2)).await;
    server.user("lin", Role::Customer, None).await;

    for _ in 0..3 {
        let wrong = api_login(&server, ATTACKER, "lin", "guess").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }
    let wait = api_limited(&api_login(&server, ATTACKER, "lin", PASSWORD).await);

    let neighbour = api_login(&server, NEIGHBOUR, "lin", PASSWORD).await;
    assert_eq!(
        neighbour.status,
        StatusCode::OK,
        "another client is unaffected"
    );

    tokio::time::sleep(wait).await;
    let back = api_login(&server, ATTACKER, "lin", PASSWORD).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text);
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_does_not_escape_the_limit() {
    let db = TestDb::sqlite();
    let server = support::start_with(&db, |config| config.limits.login = Rate::new(2, 60)).await;
    for client in ["192.0.2.1", "192.0.2.2"] {
        let wrong = api_login(&server, client, "nobody", "guess").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }
    let spoofed = api_login(&server, "192.0.2.3", "nobody", "guess").await;
    assert_eq!(
        spoofed.status,
        StatusCode::TOO_MANY_REQUESTS,
        "without trusted proxies every request counts against the peer, 127.0.0.1"
    );
}

/// A 429 of a lock that lasts for minutes.
fn assert_locked(response: &support::Response) {
    assert_eq!(
        (response.status, response.json["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")),
        "{}",
        response.text
    );
    assert!(response.header("retry-after").is_some());
}

/// The lock entries of the audit log: (target, client, scope).
async fn lockouts(server: &TestServer) -> Vec<(String, String, String)> {
    let log = server.store.audit_log(100).await.unwrap();
    log.into_iter()
        .filter(|entry| entry.action == "auth.lockout")
        .map(|entry| {
            let detail: Value = serde_json::from_str(&entry.detail).unwrap();
            let text = |key: &str| detail[key].as_str().unwrap_or_default().to_string();
            (entry.target, text("client"), text("scope"))
        })
        .collect()
}

/// Wrong passwords lock the account only for the client that typed them: whoever knows a
/// staff login can no longer keep its owner out from another address. The lock is audited.
async fn wrong_passwords_lock_only_the_guessing_client(db: support::TestDb) {
    let server = server(&db, |config| {
        config.limits.login = Rate::new(0, 0);
        config.limits.password_failures = Rate::new(2, 600);
    })
    .await;
    server.user("chen", Role::Operator, None).await;
    server.user("zhou", Role::Customer, None).await;

    for _ in 0..2 {
        let wrong = api_login(&server, ATTACKER, "chen", "guess").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }
    assert_locked(&api_login(&server, ATTACKER, "chen", PASSWORD).await);
    let owner = api_login(&server, NEIGHBOUR, "chen", PASSWORD).await;
    assert_eq!(
        owner.status,
        StatusCode::OK,
        "the owner signs in from elsewhere: {}",
        owner.text
    );
    let mut browser = Browser::new(&server);
    browser.forwarded_for = Some(NEIGHBOUR);
    let web = login_form(&mut browser, "chen", PASSWORD).await;
    assert_eq!(web.status, StatusCode::SEE_OTHER, "{}", web.text);
    let other_account = api_login(&server, ATTACKER, "zhou", PASSWORD).await;
    assert_eq!(other_account.status, StatusCode::OK, "only chen is locked");
    assert_eq!(
        lockouts(&server).await,
        [(
            "user:chen".to_string(),
            ATTACKER.to_string(),
            "client".to_string()
        )],
        "one audit entry for the lock"
    );

    // An unknown name locks the same way, so a lock tells nobody which accounts exist.
    for _ in 0..2 {
        let wrong = api_login(&server, ATTACKER, "nobody", "guess").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }
    assert_locked(&api_login(&server, ATTACKER, "nobody", "guess").await);

    // A right password clears the client's count: two more wrong ones are needed to lock again.
    let wrong = api_login(&server, NEIGHBOUR, "chen", "guess").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let again = api_login(&server, NEIGHBOUR, "chen", PASSWORD).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    let wrong = api_login(&server, NEIGHBOUR, "chen", "guess").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let still = api_login(&server, NEIGHBOUR, "chen", PASSWORD).await;
    assert_eq!(still.status, StatusCode::OK, "{}", still.text);
}

/// Guesses from many addresses still meet a ceiling per account, much higher than one
/// client's allowance; reaching it locks the account for everyone and is audited.
async fn many_addresses_meet_the_account_ceiling(db: support::TestDb) {
    let server = server(&db, |config| {
        config.limits.login = Rate::new(0, 0);
        config.limits.password_failures = Rate::new(2, 600);
        config.limits.password_failures_per_account = Rate::new(4, 600);
    })
    .await;
    server.user("chen", Role::Admin, None).await;
    for client in ["203.0.113.1", "203.0.113.2"] {
        for _ in 0..2 {
            let wrong = api_login(&server, client, "chen", "guess").await;
            assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        }
    }
    assert_locked(&api_login(&server, NEIGHBOUR, "chen", PASSWORD).await);
    let scopes: Vec<String> = lockouts(&server)
        .await
        .into_iter()
        .map(|(target, _, scope)| format!("{target} {scope}"))
        .collect();
    assert!(
        scopes.contains(&"user:chen account".to_string()),
        "{scopes:?}"
    );
}

support::on_both_backends!(
    wrong_passwords_lock_only_the_guessing_client,
    many_addresses_meet_the_account_ceiling
);

async fn login_form(
    browser: &mut Browser<'_>,
    username: &str,
    password: &str,
) -> support::Response {
    browser.get("/login").await;
    let csrf = browser.csrf();
    browser
        .post_form(
            "/login",
            &[
                ("username", username),
                ("password", password),
                ("csrf", &csrf),
            ],
        )
        .await
}

#[tokio::test]
async fn web_password_login_shows_a_page_when_limited() {
    let db = TestDb::sqlite();
    let server = server(&db, |config| config.limits.login = Rate::new(2, 2)).await;
    server.user("wu", Role::Admin, None).await;
    let mut attacker = Browser::new(&server);
    attacker.forwarded_for = Some(ATTACKER);
    for _ in 0..2 {
        let wrong = login_form(&mut attacker, "wu", "guess").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert!(wrong.text.contains("账号或密码错误"));
    }
    let wait = page_limited(&login_form(&mut attacker, "wu", PASSWORD).await);

    let mut neighbour = Browser::new(&server);
    neighbour.forwarded_for = Some(NEIGHBOUR);
    assert_eq!(
        login_form(&mut neighbour, "wu", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    tokio::time::sleep(wait).await;
    assert_eq!(
        login_form(&mut attacker, "wu", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
}

/// Posts a phone form (`/login/sms` or `/wallet/register`) with a fresh CSRF token.
async fn phone_form(
    browser: &mut Browser<'_>,
    path: &str,
    fields: &[(&str, &str)],
) -> support::Response {
    browser.get(path).await;
    let csrf = browser.csrf();
    let mut fields = fields.to_vec();
    fields.push(("csrf", &csrf));
    browser.post_form(path, &fields).await
}

#[tokio::test]
async fn sms_codes_are_limited_per_client_on_top_of_per_phone() {
    let db = TestDb::sqlite();
    let server = server(&db, |config| config.limits.sms_code = Rate::new(2, 2)).await;
    let mut attacker = Browser::new(&server);
    attacker.forwarded_for = Some(ATTACKER);
    // Different phones, so the per-phone limit (one code a minute) never trips first.
    for (path, phone) in [
        ("/login/sms", "13800138001"),
        ("/wallet/register", "13800138002"),
    ] {
        let sent = phone_form(&mut attacker, path, &[("phone", phone), ("action", "send")]).await;
        assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
        assert!(sent.text.contains("验证码已发送"), "{}", sent.text);
    }
    let wait = page_limited(
        &phone_form(
            &mut attacker,
            "/login/sms",
            &[("phone", "13800138003"), ("action", "send")],
        )
        .await,
    );

    let mut neighbour = Browser::new(&server);
    neighbour.forwarded_for = Some(NEIGHBOUR);
    let sent = phone_form(
        &mut neighbour,
        "/wallet/register",
        &[("phone", "13800138004"), ("action", "send")],
    )
    .await;
    assert!(sent.text.contains("验证码已发送"), "{}", sent.text);

    tokio::time::sleep(wait).await;
    let sent = phone_form(
        &mut attacker,
        "/login/sms",
        &[("phone", "13800138003"), ("action", "send")],
    )
    .await;
    assert!(sent.text.contains("验证码已发送"), "{}", sent.text);
}

#[tokio::test]
async fn sms_sign_in_and_registration_are_limited_per_client() {
    let db = TestDb::sqlite();
    let server = server(&db, |config| {
        config.limits.login = Rate::new(2, 2);
        config.limits.register = Rate::new(1, 2);
    })
    .await;
    let mut attacker = Browser::new(&server);
    attacker.forwarded_for = Some(ATTACKER);
    let guess = [
        ("phone", "13900139000"),
        ("code", "123456"),
        ("action", "login"),
    ];
    for _ in 0..2 {
        let wrong = phone_form(&mut attacker, "/login/sms", &guess).await;
        assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
        assert!(wrong.text.contains("验证码错误"), "{}", wrong.text);
    }
    let sign_in_wait = page_limited(&phone_form(&mut attacker, "/login/sms", &guess).await);

    let registration = [
        ("phone", "13900139000"),
        ("code", "123456"),
        ("name", "新客户"),
        ("action", "register"),
    ];
    let wrong = phone_form(&mut attacker, "/wallet/register", &registration).await;
    assert_eq!(
        wrong.status,
        StatusCode::BAD_REQUEST,
        "its own limit, not the sign-in one"
    );
    let register_wait =
        page_limited(&phone_form(&mut attacker, "/wallet/register", &registration).await);

    let mut neighbour = Browser::new(&server);
    neighbour.forwarded_for = Some(NEIGHBOUR);
    assert_eq!(
        phone_form(&mut neighbour, "/wallet/register", &registration)
            .await
            .status,
        StatusCode::BAD_REQUEST,
        "another client is unaffected"
    );
    assert_eq!(
        phone_form(&mut neighbour, "/login/sms", &guess)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    tokio::time::sleep(sign_in_wait.max(register_wait)).await;
    for (path, fields) in [
        ("/login/sms", &guess[..]),
        ("/wallet/register", &registration[..]),
    ] {
        let again = phone_form(&mut attacker, path, fields).await;
        assert_eq!(
            again.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            again.text
        );
    }
}

fn enroll_body(code: &str) -> Value {
    let key = SigningKey::from_bytes(&shuipiao_server::random::bytes::<32>());
    json!({
        "code": code,
        "device_pubkey": data_encoding::HEXLOWER.encode(key.verifying_key().as_bytes()),
        "name": "测试手机",
    })
}

#[tokio::test]
async fn failed_enrollments_are_limited_per_client_and_successes_are_free() {
    let db = TestDb::sqlite();
    let server = server(&db, |config| config.limits.enroll = Rate::new(2, 2)).await;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    let (courier, _) = server.user("courier", Role::Courier, None).await;
    // Good codes are used up as they go, so enrolling a whole fleet is never limited.
    for _ in 0..3 {
        let good = server.enrollment_code(&admin, courier.id).await;
        let enrolled = post_json(
            &server,
            "/api/v1/devices/enroll",
            ATTACKER,
            enroll_body(&good),
        )
        .await;
        assert_eq!(enrolled.status, StatusCode::OK, "{}", enrolled.text);
    }
    for _ in 0..2 {
        let bad = post_json(
            &server,
            "/api/v1/devices/enroll",
            ATTACKER,
            enroll_body("AAAAAAAAAAAAAAAA"),
        )
        .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert_eq!(bad.json["code"], "enrollment_code_invalid");
    }
    let good = server.enrollment_code(&admin, courier.id).await;
    let wait = api_limited(
        &post_json(
            &server,
            "/api/v1/devices/enroll",
            ATTACKER,
            enroll_body(&good),
        )
        .await,
    );

    let bad = post_json(
        &server,
        "/api/v1/devices/enroll",
        NEIGHBOUR,
        enroll_body("AAAAAAAAAAAAAAAA"),
    )
    .await;
    assert_eq!(
        bad.json["code"], "enrollment_code_invalid",
        "another client is unaffected"
    );

    tokio::time::sleep(wait).await;
    let enrolled = post_json(
        &server,
        "/api/v1/devices/enroll",
        ATTACKER,
        enroll_body(&good),
    )
    .await;
    assert_eq!(
        enrolled.status,
        StatusCode::OK,
        "the refused code was not used up: {}",
        enrolled.text
    );
}

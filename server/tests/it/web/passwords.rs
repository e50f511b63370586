//! Passwords over real HTTP: changing one's own (wallet page, console page, API), an admin
//! resetting a staff member's, and a customer resetting a forgotten one by SMS code. Every way
//! applies the same rule with the same zh-CN message, and ends the sessions it should.

use axum::http::{Method, StatusCode};
use serde_json::json;
use shuipiao_server::config::Config;
use shuipiao_server::store::models::Role;

use super::{Browser, wallet_fixture};
use crate::gateway::Gateway;
use crate::support::{self, PASSWORD, TestDb, TestServer};

const NEW_PASSWORD: &str = "a brand new secret";

/// Signs in over the API with `password`: the status, and the token on success.
async fn api_login(server: &TestServer, username: &str, password: &str) -> (StatusCode, String) {
    let response = server
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "username": username, "password": password })),
        )
        .await;
    let token = response.json["token"].as_str().unwrap_or_default();
    (response.status, token.to_string())
}

async fn me(server: &TestServer, token: &str) -> StatusCode {
    server
        .call(Method::GET, "/api/v1/me", Some(token), None)
        .await
        .status
}

/// The audit actions recorded about `target`.
async fn audited(server: &TestServer, target: &str) -> Vec<String> {
    let log = server.store.audit_log(200).await.unwrap();
    log.into_iter()
        .filter(|entry| entry.target == target)
        .map(|entry| entry.action)
        .collect()
}

/// Posts a password form of `path` with the page's token.
async fn change(
    browser: &mut Browser<'_>,
    path: &str,
    current: &str,
    new: &str,
    confirm: &str,
) -> support::Response {
    browser.get(path).await;
    let csrf = browser.csrf();
    browser
        .post_form(
            path,
            &[
                ("csrf", &csrf),
                ("current_password", current),
                ("new_password", new),
                ("confirm_password", confirm),
            ],
        )
        .await
}

async fn a_holder_changes_their_password_on_the_wallet(db: TestDb) {
    let server = support::start(&db).await;
    wallet_fixture(&server).await;
    let mut here = Browser::new(&server);
    here.sign_in("zhang").await;
    let mut phone = Browser::new(&server);
    phone.sign_in("zhang").await;
    let (_, script) = api_login(&server, "zhang", PASSWORD).await;

    let page = here.get("/wallet/password").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("修改密码"), "{}", page.text);
    for (current, new, confirm, message) in [
        (
            "wrong password",
            NEW_PASSWORD,
            NEW_PASSWORD,
            "当前密码不正确",
        ),
        (PASSWORD, "short", "short", "密码至少需要 8 位"),
        (
            PASSWORD,
            NEW_PASSWORD,
            "something else",
            "两次输入的新密码不一致",
        ),
    ] {
        let refused = change(&mut here, "/wallet/password", current, new, confirm).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{message}");
        assert!(refused.text.contains(message), "{}", refused.text);
    }
    let forged = here
        .post_form(
            "/wallet/password",
            &[
                ("csrf", "forged"),
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert!(forged.status.is_client_error(), "{}", forged.status);
    assert_eq!(
        api_login(&server, "zhang", PASSWORD).await.0,
        StatusCode::OK
    );

    let done = change(
        &mut here,
        "/wallet/password",
        PASSWORD,
        NEW_PASSWORD,
        NEW_PASSWORD,
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    let shown = here.get(done.header("location").unwrap()).await;
    assert!(shown.text.contains("密码已修改"), "{}", shown.text);
    assert_eq!(here.get("/wallet").await.status, StatusCode::OK, "kept");
    assert_eq!(
        phone.get("/wallet").await.status,
        StatusCode::SEE_OTHER,
        "the other browser is signed out"
    );
    assert_eq!(me(&server, &script).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        api_login(&server, "zhang", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api_login(&server, "zhang", NEW_PASSWORD).await.0,
        StatusCode::OK
    );
    assert!(
        audited(&server, "user:zhang")
            .await
            .contains(&"user.password_change".to_string())
    );
}

async fn staff_change_their_password_on_the_console(db: TestDb) {
    let server = support::start(&db).await;
    server.user("stats01", Role::Statistician, None).await;
    let mut console = Browser::new(&server);
    assert_eq!(console.sign_in("stats01").await, "/admin");
    let page = console.get("/admin/password").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let same = change(
        &mut console,
        "/admin/password",
        PASSWORD,
        "stats01",
        "stats01",
    )
    .await;
    assert_eq!(same.status, StatusCode::BAD_REQUEST);
    assert!(same.text.contains("密码至少需要 8 位"), "{}", same.text);
    server.user("operator-li", Role::Operator, None).await;
    let mut li = Browser::new(&server);
    li.sign_in("operator-li").await;
    let same = change(
        &mut li,
        "/admin/password",
        PASSWORD,
        "Operator-Li",
        "Operator-Li",
    )
    .await;
    assert_eq!(same.status, StatusCode::BAD_REQUEST);
    assert!(same.text.contains("密码不能与登录名相同"), "{}", same.text);

    let done = change(
        &mut console,
        "/admin/password",
        PASSWORD,
        NEW_PASSWORD,
        NEW_PASSWORD,
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    let shown = console.get(done.header("location").unwrap()).await;
    assert!(shown.text.contains("密码已修改"), "{}", shown.text);
    assert_eq!(
        api_login(&server, "stats01", NEW_PASSWORD).await.0,
        StatusCode::OK
    );
}

async fn the_api_changes_the_password_of_its_bearer(db: TestDb) {
    let server = support::start(&db).await;
    let (_, token) = server.user("courier-wang", Role::Courier, None).await;
    let (_, other) = api_login(&server, "courier-wang", PASSWORD).await;
    let post = |body: serde_json::Value| {
        let server = &server;
        let token = token.clone();
        async move {
            server
                .call(
                    Method::POST,
                    "/api/v1/me/password",
                    Some(&token),
                    Some(body),
                )
                .await
        }
    };
    for (current, new, message) in [
        ("wrong password", NEW_PASSWORD, "当前密码不正确"),
        (PASSWORD, "short", "密码至少需要 8 位"),
        (PASSWORD, "COURIER-WANG", "密码不能与登录名相同"),
    ] {
        let refused = post(json!({ "current_password": current, "new_password": new })).await;
        assert_eq!(
            (refused.status, refused.json["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_request")),
            "{}",
            refused.text
        );
        assert_eq!(refused.json["message"], message);
    }
    assert_eq!(me(&server, &other).await, StatusCode::OK, "nothing changed");

    let done = post(json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD })).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.text);
    assert_eq!(
        me(&server, &token).await,
        StatusCode::OK,
        "this session stays"
    );
    assert_eq!(
        me(&server, &other).await,
        StatusCode::UNAUTHORIZED,
        "others end"
    );
    assert_eq!(
        api_login(&server, "courier-wang", NEW_PASSWORD).await.0,
        StatusCode::OK
    );
}

async fn an_admin_resets_a_staff_password(db: TestDb) {
    let server = support::start(&db).await;
    wallet_fixture(&server).await;
    let (courier, courier_token) = server.user("courier-zhao", Role::Courier, None).await;
    let mut console = Browser::new(&server);
    console.sign_in("admin").await;
    let users = console.get("/admin/users").await;
    let action = format!("/admin/users/{}/password", courier.id.0);
    assert!(users.text.contains(&action), "{}", users.text);
    let csrf = console.csrf();

    let weak = console
        .post_form(&action, &[("csrf", &csrf), ("new_password", "short")])
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(weak.text.contains("密码至少需要 8 位"), "{}", weak.text);
    let zhang = server.store.user_by_name("zhang").await.unwrap();
    let customer = console
        .post_form(
            &format!("/admin/users/{}/password", zhang.id.0),
            &[("csrf", &csrf), ("new_password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(customer.status, StatusCode::BAD_REQUEST);
    assert!(customer.text.contains("手机验证码"), "{}", customer.text);
    assert_eq!(
        api_login(&server, "zhang", PASSWORD).await.0,
        StatusCode::OK
    );

    let done = console
        .post_form(&action, &[("csrf", &csrf), ("new_password", NEW_PASSWORD)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    let shown = console.get(done.header("location").unwrap()).await;
    assert!(shown.text.contains("密码已重置"), "{}", shown.text);
    assert_eq!(me(&server, &courier_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        api_login(&server, "courier-zhao", NEW_PASSWORD).await.0,
        StatusCode::OK
    );
    assert!(
        audited(&server, "user:courier-zhao")
            .await
            .contains(&"user.password_reset".to_string())
    );
}

/// Submits the forgotten-password form.
async fn reset(
    browser: &mut Browser<'_>,
    phone: &str,
    code: &str,
    password: &str,
    csrf: &str,
) -> support::Response {
    browser
        .post_form(
            "/login/reset",
            &[
                ("phone", phone),
                ("code", code),
                ("password", password),
                ("action", "reset"),
                ("csrf", csrf),
            ],
        )
        .await
}

async fn a_customer_resets_a_forgotten_password_by_sms(db: TestDb) {
    let gateway = Gateway::start().await;
    let sms = gateway.config();
    let server = support::start_with(&db, |config: &mut Config| {
        config.notify.sms = sms;
        config.notify.interval_secs = 1;
    })
    .await;
    let phone = "13722223333";
    let customer = support::phone_customer(&server.store, phone, "赵家").await;
    let (_, old_token) = api_login(&server, phone, PASSWORD).await;

    let mut browser = Browser::new(&server);
    let login = browser.get("/login").await;
    assert!(
        login.text.contains("/login/reset"),
        "the sign-in page links to it"
    );
    let page = browser.get("/login/reset").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let csrf = browser.csrf();
    let sent = browser
        .post_form(
            "/login/reset",
            &[("phone", phone), ("action", "send"), ("csrf", &csrf)],
        )
        .await;
    assert!(sent.text.contains("137****3333"), "{}", sent.text);
    let code = gateway.code_for(phone, 0).await;
    let weak = reset(&mut browser, phone, &code, "short", &csrf).await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(weak.text.contains("密码至少需要 8 位"), "{}", weak.text);
    let wrong = reset(&mut browser, phone, "000000", NEW_PASSWORD, &csrf).await;
    assert!(wrong.text.contains("验证码错误"), "{}", wrong.text);
    assert_eq!(
        me(&server, &old_token).await,
        StatusCode::OK,
        "nothing changed"
    );

    let done = reset(&mut browser, phone, &code, NEW_PASSWORD, &csrf).await;
    assert_eq!(done.header("location"), Some("/wallet"), "{}", done.text);
    assert_eq!(browser.get("/wallet").await.status, StatusCode::OK);
    assert_eq!(me(&server, &old_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        api_login(&server, phone, NEW_PASSWORD).await.0,
        StatusCode::OK
    );
    assert_eq!(
        api_login(&server, phone, PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    let mut later = Browser::new(&server);
    later.get("/login/reset").await;
    let later_csrf = later.csrf();
    let again = reset(&mut later, phone, &code, "yet another secret", &later_csrf).await;
    assert!(
        again.text.contains("验证码错误"),
        "a code works once: {}",
        again.text
    );
    let target = format!("user:{}", customer.spec.username);
    assert!(
        audited(&server, &target)
            .await
            .contains(&"user.password_reset".to_string())
    );

    // A phone without an account: the code arrives but resets nothing.
    let stranger_phone = "13744445555";
    let mut stranger = Browser::new(&server);
    stranger.get("/login/reset").await;
    let csrf = stranger.csrf();
    stranger
        .post_form(
            "/login/reset",
            &[
                ("phone", stranger_phone),
                ("action", "send"),
                ("csrf", &csrf),
            ],
        )
        .await;
    let code = gateway.code_for(stranger_phone, 0).await;
    let refused = reset(&mut stranger, stranger_phone, &code, NEW_PASSWORD, &csrf).await;
    assert!(
        refused.text.contains("该手机号尚未注册"),
        "{}",
        refused.text
    );
}

support::on_both_backends!(
    a_holder_changes_their_password_on_the_wallet,
    staff_change_their_password_on_the_console,
    the_api_changes_the_password_of_its_bearer,
    an_admin_resets_a_staff_password,
    a_customer_resets_a_forgotten_password_by_sms,
);

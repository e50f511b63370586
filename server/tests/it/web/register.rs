//! Registration and sign-in by phone over real HTTP, with codes delivered through a mock SMS
//! gateway: staff attribution, welcome and referral gifts, anti-farming, limits on codes.

use axum::http::StatusCode;
use shuipiao_server::config::Config;
use shuipiao_server::signup;
use shuipiao_server::store::models::Role;
use sqlx::{Connection, Row};

use super::Browser;
use crate::gateway::Gateway;
use crate::support::{self, TestServer};

async fn server_with_gateway(db: &support::TestDb) -> (TestServer, Gateway) {
    let gateway = Gateway::start().await;
    let sms = gateway.config();
    let server = support::start_with(db, |config: &mut Config| {
        config.notify.sms = sms;
        config.notify.interval_secs = 1;
    })
    .await;
    support::catalogue(&server.store, 4).await;
    (server, gateway)
}

/// Opens the registration form with `referral` and asks for a code for `phone`; returns the
/// form's CSRF token and the `nth_code` code the phone received.
async fn ask_code(
    browser: &mut Browser<'_>,
    gateway: &Gateway,
    phone: &str,
    referral: &str,
    nth_code: usize,
) -> (String, String) {
    let form = browser
        .get(&format!("/wallet/register?code={referral}"))
        .await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.text.contains(&format!("value=\"{referral}\"")));
    let csrf = browser.csrf();
    let sent = browser
        .post_form(
            "/wallet/register",
            &[
                ("phone", phone),
                ("action", "send"),
                ("csrf", &csrf),
                ("referral", referral),
            ],
        )
        .await;
    assert!(sent.text.contains("验证码已发送"), "{}", sent.text);
    (csrf, gateway.code_for(phone, nth_code).await)
}

/// What registering `phone` as `name` with `code` and `referral` is answered.
async fn submit_registration(
    browser: &mut Browser<'_>,
    csrf: &str,
    phone: &str,
    code: &str,
    name: &str,
    referral: &str,
) -> support::Response {
    browser
        .post_form(
            "/wallet/register",
            &[
                ("phone", phone),
                ("code", code),
                ("name", name),
                ("referral", referral),
                ("action", "register"),
                ("csrf", csrf),
            ],
        )
        .await
}

/// Registers `phone` through the form (asking for a code first); returns where it went.
async fn register(
    browser: &mut Browser<'_>,
    gateway: &Gateway,
    phone: &str,
    referral: &str,
    nth_code: usize,
) -> support::Response {
    let (csrf, code) = ask_code(browser, gateway, phone, referral, nth_code).await;
    submit_registration(browser, &csrf, phone, &code, "新客户", referral).await
}

async fn referrer_of(db: &support::TestDb, username_phone_user: u64) -> Option<i64> {
    let mut conn = sqlx::AnyConnection::connect(db.url.expose()).await.unwrap();
    let row = sqlx::query("SELECT referrer_id FROM signups WHERE user_id = $1")
        .bind(username_phone_user as i64)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    row.try_get("referrer_id").unwrap()
}

#[tokio::test]
async fn a_courier_qr_sign_up_is_attributed_and_gets_the_welcome_gift() {
    sqlx::any::install_default_drivers();
    let db = support::TestDb::sqlite();
    let (server, gateway) = server_with_gateway(&db).await;
    let (courier, _) = server.user("courier1", Role::Courier, None).await;
    let staff_code = signup::referral_code(courier.id);

    let mut browser = Browser::new(&server);
    let done = register(&mut browser, &gateway, "13812345678", &staff_code, 0).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    assert_eq!(done.header("location"), Some("/wallet"));
    let wallet = browser.get("/wallet").await;
    assert!(
        wallet.text.contains("<strong>2</strong><span>可用张数"),
        "{}",
        wallet.text
    );
    gateway.wait_for("13812345678", "赠票已到账,共2张").await;

    let index = shuipiao_server::pii::Phone::parse("13812345678")
        .unwrap()
        .index(&support::master());
    let user = server.store.user_by_phone(&index).await.unwrap();
    assert_eq!(user.spec.role, Role::Customer);
    assert!(
        !user.spec.username.contains("5678"),
        "no phone digits in the login name"
    );
    assert_eq!(referrer_of(&db, user.id.0).await, Some(courier.id.0 as i64));

    // The same phone cannot register twice.
    let mut again = Browser::new(&server);
    again.get("/wallet/register").await;
    let csrf = again.csrf();
    let twice = again
        .post_form(
            "/wallet/register",
            &[
                ("phone", "138 1234 5678"),
                ("code", "123456"),
                ("action", "register"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
    assert!(twice.text.contains("该手机号已注册"));
}

#[tokio::test]
async fn a_registration_whose_gifts_cannot_be_issued_stores_nothing() {
    let db = support::TestDb::sqlite();
    let gateway = Gateway::start().await;
    let sms = gateway.config();
    let server = support::start_with(&db, |config: &mut Config| {
        config.notify.sms = sms;
        config.notify.interval_secs = 1;
        config.promotions.gift_product = 999;
    })
    .await;
    support::catalogue(&server.store, 4).await;

    let mut browser = Browser::new(&server);
    let refused = register(&mut browser, &gateway, "13812340000", "", 0).await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "the form again, with the reason"
    );
    assert!(refused.text.contains("暂时无法注册"), "{}", refused.text);
    let index = shuipiao_server::pii::Phone::parse("13812340000")
        .unwrap()
        .index(&support::master());
    assert!(
        server.store.user_by_phone(&index).await.is_err(),
        "no customer without the gift"
    );
    let mut conn = sqlx::AnyConnection::connect(db.url.expose()).await.unwrap();
    for (what, query) in [
        (
            "accounts",
            "SELECT COUNT(*) FROM accounts WHERE kind = 'customer'",
        ),
        ("sign-ups", "SELECT COUNT(*) FROM signups"),
        ("books", "SELECT COUNT(*) FROM books"),
    ] {
        let count: i64 = sqlx::query_scalar(query)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(count, 0, "{what}");
    }
}

#[tokio::test]
async fn customers_sign_in_by_sms_code_or_phone_and_password() {
    let db = support::TestDb::sqlite();
    let (server, gateway) = server_with_gateway(&db).await;
    let master = support::master();
    let phone = shuipiao_server::pii::Phone::parse("13611112222").unwrap();
    let customer = shuipiao_server::store::models::NewCustomer {
        name: "李娜家".into(),
        enterprise_id: None,
        username: "p-lina".into(),
        password_hash: shuipiao_server::auth::password::hash(support::PASSWORD.into())
            .await
            .unwrap(),
        phone_index: phone.index(&master),
        phone_sealed: phone.seal(&master),
        referrer: None,
        browser_hash: None,
    };
    server
        .store
        .register_customer(
            &customer,
            support::NOW,
            &support::audit("customer.register"),
        )
        .await
        .unwrap();

    let mut by_password = Browser::new(&server);
    by_password.get("/login").await;
    let csrf = by_password.csrf();
    let signed_in = by_password
        .post_form(
            "/login",
            &[
                ("username", "136-1111-2222"),
                ("password", support::PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(
        signed_in.header("location"),
        Some("/wallet"),
        "{}",
        signed_in.text
    );

    let mut by_code = Browser::new(&server);
    by_code.get("/login/sms").await;
    let csrf = by_code.csrf();
    let sent = by_code
        .post_form(
            "/login/sms",
            &[
                ("phone", "13611112222"),
                ("action", "send"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert!(sent.text.contains("136****2222"), "{}", sent.text);
    let code = gateway.code_for("13611112222", 0).await;
    let signed_in = by_code
        .post_form(
            "/login/sms",
            &[
                ("phone", "13611112222"),
                ("code", &code),
                ("action", "sign_in"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(
        signed_in.header("location"),
        Some("/wallet"),
        "{}",
        signed_in.text
    );
    assert_eq!(by_code.get("/wallet").await.status, StatusCode::OK);

    // A phone without an account: the code arrives but signs nobody in.
    let mut stranger = Browser::new(&server);
    stranger.get("/login/sms").await;
    let csrf = stranger.csrf();
    stranger
        .post_form(
            "/login/sms",
            &[
                ("phone", "13633334444"),
                ("action", "send"),
                ("csrf", &csrf),
            ],
        )
        .await;
    let code = gateway.code_for("13633334444", 0).await;
    let refused = stranger
        .post_form(
            "/login/sms",
            &[
                ("phone", "13633334444"),
                ("code", &code),
                ("action", "sign_in"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert!(
        refused.text.contains("该手机号尚未注册"),
        "{}",
        refused.text
    );
    assert!(stranger.jar.get("sp_session").is_none());
}

#[tokio::test]
async fn referrals_reward_both_once_and_not_from_a_farming_browser() {
    let db = support::TestDb::sqlite();
    let (server, gateway) = server_with_gateway(&db).await;

    let mut alice = Browser::new(&server);
    let done = register(&mut alice, &gateway, "13900000001", "", 0).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    let list = alice.get("/wallet").await;
    let code = list
        .text
        .split("<code>")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .expect("the wallet shows the referral code")
        .to_string();

    let mut bob = Browser::new(&server);
    let done = register(&mut bob, &gateway, "13900000002", &code, 0).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    // Bob: 2 for registering + 1 referral; Alice: 2 + 1.
    let bob_wallet = bob.get("/wallet").await;
    assert!(bob_wallet.text.contains("<strong>3</strong><span>可用张数"));
    let alice_wallet = alice.get("/wallet").await;
    assert!(
        alice_wallet
            .text
            .contains("<strong>3</strong><span>可用张数")
    );
    assert!(alice_wallet.text.contains("推荐奖励") || alice_wallet.text.contains("18.9L"));

    // Bob's browser signs up a third phone with Alice's code: no referral gift for anyone.
    let csrf = bob.csrf();
    bob.post_form("/logout", &[("csrf", &csrf)]).await;
    let done = register(&mut bob, &gateway, "13900000003", &code, 0).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let carol_wallet = bob.get("/wallet").await;
    assert!(
        carol_wallet
            .text
            .contains("<strong>2</strong><span>可用张数")
    );
    let alice_wallet = alice.get("/wallet").await;
    assert!(
        alice_wallet
            .text
            .contains("<strong>3</strong><span>可用张数"),
        "still 3"
    );

    // Bad inputs are explained and change nothing.
    let mut eve = Browser::new(&server);
    eve.get("/wallet/register").await;
    let csrf = eve.csrf();
    for (phone, referral, needle) in [
        ("12345", "", "请输入 11 位手机号码"),
        ("13900000004", "SP999999", "推荐码无效"),
        ("13900000004", "hello", "推荐码无效"),
    ] {
        let response = eve
            .post_form(
                "/wallet/register",
                &[
                    ("phone", phone),
                    ("code", "123456"),
                    ("referral", referral),
                    ("action", "register"),
                    ("csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{phone} {referral}"
        );
        assert!(
            response.text.contains(needle),
            "{needle}: {}",
            response.text
        );
    }
}

#[tokio::test]
async fn codes_are_rate_limited_and_die_after_five_wrong_guesses() {
    let db = support::TestDb::sqlite();
    let (server, gateway) = server_with_gateway(&db).await;
    let mut browser = Browser::new(&server);
    browser.get("/wallet/register").await;
    let csrf = browser.csrf();
    let send = [
        ("phone", "13700000000"),
        ("action", "send"),
        ("csrf", csrf.as_str()),
    ];
    assert!(
        browser
            .post_form("/wallet/register", &send)
            .await
            .text
            .contains("验证码已发送")
    );
    let again = browser.post_form("/wallet/register", &send).await;
    assert!(again.text.contains("验证码发送太频繁"), "{}", again.text);
    let code = gateway.code_for("13700000000", 0).await;
    let wrong = if code == "111111" { "222222" } else { "111111" };
    for _ in 0..5 {
        let response = browser
            .post_form(
                "/wallet/register",
                &[
                    ("phone", "13700000000"),
                    ("code", wrong),
                    ("action", "register"),
                    ("csrf", &csrf),
                ],
            )
            .await;
        assert!(response.text.contains("验证码错误"));
    }
    let late = browser
        .post_form(
            "/wallet/register",
            &[
                ("phone", "13700000000"),
                ("code", &code),
                ("action", "register"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert!(
        late.text.contains("验证码错误"),
        "the right code no longer works"
    );
    let forged = browser
        .post_form(
            "/wallet/register",
            &[("phone", "13700000000"), ("action", "send")],
        )
        .await;
    assert!(forged.text.contains("页面已过期"), "no token, no SMS");
    assert_eq!(gateway.received().len(), 1, "exactly one SMS went out");
}

support::on_both_backends!(a_registration_name_follows_the_account_name_rule_of_the_console);

/// A customer registering names their account by the rule every account follows: a name the
/// console's API refuses is refused on the registration page with the same message, nothing is
/// stored, and the code still works for a name within the rule.
async fn a_registration_name_follows_the_account_name_rule_of_the_console(db: support::TestDb) {
    let (server, gateway) = server_with_gateway(&db).await;
    let too_long = "家".repeat(41);
    let message = super::console_refuses_account_name(&server, &too_long).await;
    assert_eq!(message, "账户名称为 1–40 个字");

    let users = server.store.users().await.unwrap().len();
    let accounts = server.store.accounts().await.unwrap().len();
    let mut browser = Browser::new(&server);
    let (csrf, code) = ask_code(&mut browser, &gateway, "13812345678", "", 0).await;
    let phone = "13812345678";
    let refused = submit_registration(&mut browser, &csrf, phone, &code, &too_long, "").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    assert!(refused.text.contains(&message), "{}", refused.text);
    assert_eq!(server.store.users().await.unwrap().len(), users);
    assert_eq!(server.store.accounts().await.unwrap().len(), accounts);

    let done = submit_registration(&mut browser, &csrf, phone, &code, "张家", "").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
}

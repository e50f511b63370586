//! SMS codes over real HTTP on both backends, sent as an attacker would send them: the
//! per-phone limits and the guesses per code hold when many requests arrive at once, a code
//! signs in once, and no operator ever reads a live code in the outbox.

use axum::http::StatusCode;
use shuipiao_server::config::{Config, Rate};
use shuipiao_server::notify::dispatch::Dispatcher;
use shuipiao_server::pii::Phone;
use shuipiao_server::signup::CODE_TTL_SECS;
use shuipiao_server::store::models::{MessageKind, NotificationFilter, NotificationState, Role};
use sqlx::{Connection, Row};

use super::Browser;
use crate::gateway::Gateway;
use crate::support::{self, TestDb, TestServer, on_both_backends};

on_both_backends!(
    codes_asked_at_once_send_one,
    guesses_at_once_stop_at_the_attempt_limit,
    a_code_used_at_once_signs_in_once,
    operators_never_read_a_live_code,
);

/// A server whose SMS go to a mock gateway; per-client limits are high, so only the per-phone
/// rules in the database can refuse.
async fn server_with_gateway(db: &TestDb) -> (TestServer, Gateway) {
    let gateway = Gateway::start().await;
    let sms = gateway.config();
    let server = support::start_with(db, |config: &mut Config| {
        config.notify.sms = sms;
        config.notify.interval_secs = 1;
        config.limits.sms_code = Rate::new(1_000, 60);
        config.limits.login = Rate::new(1_000, 60);
    })
    .await;
    (server, gateway)
}

/// A browser on the SMS sign-in page and its CSRF token.
async fn sms_page(server: &TestServer) -> (Browser<'_>, String) {
    let mut browser = Browser::new(server);
    browser.get("/login/sms").await;
    let csrf = browser.csrf();
    (browser, csrf)
}

/// The fields of the SMS sign-in form asking for a code.
fn ask_fields<'a>(phone: &'a str, csrf: &'a str) -> [(&'static str, &'a str); 3] {
    [("phone", phone), ("action", "send"), ("csrf", csrf)]
}

/// The fields of the SMS sign-in form signing in with `code`.
fn sign_in_fields<'a>(
    phone: &'a str,
    code: &'a str,
    csrf: &'a str,
) -> [(&'static str, &'a str); 4] {
    [
        ("phone", phone),
        ("code", code),
        ("action", "login"),
        ("csrf", csrf),
    ]
}

/// Signs in with `code` from a fresh browser.
async fn sign_in(server: &TestServer, phone: &str, code: &str) -> support::Response {
    let (mut browser, csrf) = sms_page(server).await;
    browser
        .post_form("/login/sms", &sign_in_fields(phone, code, &csrf))
        .await
}

/// The code rows of a phone: (attempts, used).
async fn code_rows(db: &TestDb, phone: &str) -> Vec<(i64, bool)> {
    let index = Phone::parse(phone).unwrap().index(&support::master());
    let mut conn = sqlx::AnyConnection::connect(db.url.expose()).await.unwrap();
    sqlx::query("SELECT attempts, used_at FROM phone_codes WHERE phone_index = $1 ORDER BY id")
        .bind(index)
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|row| {
            let used: Option<i64> = row.try_get("used_at").unwrap();
            (row.try_get("attempts").unwrap(), used.is_some())
        })
        .collect()
}

/// Asks for a code for `phone` and returns it as the gateway received it.
async fn code_for(server: &TestServer, gateway: &Gateway, phone: &str) -> String {
    let (mut browser, csrf) = sms_page(server).await;
    let sent = browser
        .post_form("/login/sms", &ask_fields(phone, &csrf))
        .await;
    assert!(sent.text.contains("验证码已发送"), "{}", sent.text);
    gateway.code_for(phone, 0).await
}

async fn codes_asked_at_once_send_one(db: TestDb) {
    let (server, gateway) = server_with_gateway(&db).await;
    let (browser, csrf) = sms_page(&server).await;
    let phone = "13600000001";
    let ask = browser.form("/login/sms", &ask_fields(phone, &csrf));
    let answers = server.at_once(vec![ask; 10]).await;
    let sent = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK && a.text.contains("验证码已发送"))
        .count();
    let refused = answers
        .iter()
        .filter(|a| a.status == StatusCode::BAD_REQUEST && a.text.contains("验证码发送太频繁"))
        .count();
    assert_eq!(
        (sent, refused),
        (1, 9),
        "one code a minute per phone: {:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert_eq!(code_rows(&db, phone).await.len(), 1, "one code stored");
    let codes = NotificationFilter {
        kind: Some(MessageKind::Code),
        ..NotificationFilter::default()
    };
    let queued = server.store.list_notifications(&codes, 50).await.unwrap();
    assert_eq!(queued.len(), 1, "one SMS queued");
    gateway.code_for(phone, 0).await;
}

async fn guesses_at_once_stop_at_the_attempt_limit(db: TestDb) {
    let (server, gateway) = server_with_gateway(&db).await;
    let phone = "13600000002";
    let code = code_for(&server, &gateway, phone).await;
    let wrong = if code == "111111" { "222222" } else { "111111" };
    let (browser, csrf) = sms_page(&server).await;
    let guess = browser.form("/login/sms", &sign_in_fields(phone, wrong, &csrf));
    let answers = server.at_once(vec![guess; 20]).await;
    for answer in &answers {
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
        assert!(
            answer.text.contains("验证码错误或已过期"),
            "{}",
            answer.text
        );
    }
    assert_eq!(
        code_rows(&db, phone).await,
        vec![(5, false)],
        "no more guesses checked than the limit allows"
    );
    let late = sign_in(&server, phone, &code).await;
    assert!(
        late.text.contains("验证码错误或已过期"),
        "the right code no longer works: {}",
        late.text
    );
}

async fn a_code_used_at_once_signs_in_once(db: TestDb) {
    let (server, gateway) = server_with_gateway(&db).await;
    let phone = "13600000003";
    support::phone_customer(&server.store, phone, "李家").await;
    let code = code_for(&server, &gateway, phone).await;
    let (browser, csrf) = sms_page(&server).await;
    let sign_in = browser.form("/login/sms", &sign_in_fields(phone, &code, &csrf));
    let answers = server.at_once(vec![sign_in; 10]).await;
    let signed_in = answers
        .iter()
        .filter(|a| a.status == StatusCode::SEE_OTHER && a.header("location") == Some("/wallet"))
        .count();
    let refused = answers
        .iter()
        .filter(|a| a.status == StatusCode::BAD_REQUEST && a.text.contains("验证码错误或已过期"))
        .count();
    assert_eq!((signed_in, refused), (1, 9), "a code is used once");
    let rows = code_rows(&db, phone).await;
    assert!(rows.len() == 1 && rows[0].1, "{rows:?}");
}

async fn operators_never_read_a_live_code(db: TestDb) {
    let (server, gateway) = server_with_gateway(&db).await;
    server.user("op", Role::Operator, None).await;
    let mut operator = Browser::new(&server);
    operator.sign_in("op").await;
    let phone = "13600000004";
    support::phone_customer(&server.store, phone, "赵家").await;

    // Whether the operator looks before or after delivery, the code is masked.
    let (mut customer, csrf) = sms_page(&server).await;
    let sent = customer
        .post_form("/login/sms", &ask_fields(phone, &csrf))
        .await;
    assert!(sent.text.contains("验证码已发送"), "{}", sent.text);
    let early = operator.get("/admin/notifications?kind=code").await;
    let code = gateway.code_for(phone, 0).await;
    let codes = NotificationFilter {
        kind: Some(MessageKind::Code),
        ..NotificationFilter::default()
    };
    let mut delivered = false;
    for _ in 0..150 {
        let queued = server.store.list_notifications(&codes, 5).await.unwrap();
        if queued[0].state == NotificationState::Sent {
            delivered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(delivered, "the dispatcher records the delivery");
    let late = operator.get("/admin/notifications?kind=code").await;
    for page in [&early, &late] {
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text.contains("验证码是******"), "{}", page.text);
        assert!(!page.text.contains(&code), "the code leaks: {}", page.text);
    }
    assert_eq!(
        stored_secrets(&db, &code).await,
        (0, 0),
        "nothing left to read"
    );

    // A code that could not be delivered is erased when it expires, and cannot be resent.
    let other = "13600000005";
    gateway.fail_next(1_000);
    let (mut customer, csrf) = sms_page(&server).await;
    customer
        .post_form("/login/sms", &ask_fields(other, &csrf))
        .await;
    let master = support::master();
    let adapters = shuipiao_server::notify::adapter::Adapters::from_config(
        &shuipiao_server::config::NotifyConfig {
            sms: gateway.config(),
            ..Default::default()
        },
    )
    .unwrap();
    let later = shuipiao_server::unix_now() + CODE_TTL_SECS + 1;
    Dispatcher::new(server.store.clone(), master, adapters, 5, 60)
        .run_once(later, 100)
        .await
        .unwrap();
    let failed = server.store.list_notifications(&codes, 5).await.unwrap();
    let expired = failed
        .iter()
        .find(|m| m.state == NotificationState::Dead)
        .expect("the undelivered code was given up on");
    assert_eq!(expired.last_error.as_deref(), Some("验证码已过期,未发送"));
    assert_eq!(stored_secrets(&db, "").await.1, 0, "no sealed code remains");
    let token = operator.csrf();
    let resend = operator
        .post_form(
            &format!("/admin/notifications/{}/resend", expired.id),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(resend.status, StatusCode::CONFLICT);
    assert!(resend.text.contains("验证码已失效"), "{}", resend.text);

    // The code the customer received still signs in.
    let signed_in = sign_in(&server, phone, &code).await;
    assert_eq!(signed_in.header("location"), Some("/wallet"));
}

/// Rows of the outbox whose text contains `code` (none if `code` is empty), and rows that
/// still hold a sealed secret.
async fn stored_secrets(db: &TestDb, code: &str) -> (usize, usize) {
    let mut conn = sqlx::AnyConnection::connect(db.url.expose()).await.unwrap();
    let rows = sqlx::query("SELECT body, secret_sealed FROM notifications")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let in_text = rows
        .iter()
        .filter(|row| {
            let body: String = row.try_get("body").unwrap();
            !code.is_empty() && body.contains(code)
        })
        .count();
    let sealed = rows
        .iter()
        .filter(|row| {
            let sealed: Option<Vec<u8>> = row.try_get("secret_sealed").unwrap();
            sealed.is_some()
        })
        .count();
    (in_text, sealed)
}

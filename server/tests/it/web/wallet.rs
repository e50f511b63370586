//! The wallet pages over real HTTP: sign-in, list and filters, detail with QR and history, print
//! view, and that a holder never sees another holder's book.

use axum::http::StatusCode;

use super::{Browser, wallet_fixture};
use crate::support::{self, TestDb};

#[tokio::test]
async fn sign_in_needs_the_form_token_and_the_right_password() {
    let db = support::TestDb::sqlite();
    let server = support::start(&db).await;
    wallet_fixture(&server).await;

    let mut browser = Browser::new(&server);
    let wallet = browser.get("/wallet").await;
    assert_eq!(wallet.status, StatusCode::SEE_OTHER);
    assert_eq!(wallet.header("location"), Some("/login?next=%2Fwallet"));

    // A cross-site form post carries no token: refused, no session.
    let forged = browser
        .post_form(
            "/login",
            &[("username", "zhang"), ("password", support::PASSWORD)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert!(forged.text.contains("页面已过期"), "{}", forged.text);
    assert!(browser.jar.get("sp_session").is_none());

    let form = browser
        .get("/login?next=%2Fwallet%3Fstatus%3Dpartial")
        .await;
    let csrf = browser.csrf();
    assert!(form.text.contains("/wallet?status=partial"));
    let wrong = browser
        .post_form(
            "/login",
            &[
                ("username", "zhang"),
                ("password", "wrong"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.text.contains("账号或密码错误"));
    assert!(browser.jar.get("sp_session").is_none());

    let ok = browser
        .post_form(
            "/login",
            &[
                ("username", "zhang"),
                ("password", support::PASSWORD),
                ("csrf", &csrf),
                ("next", "/wallet?status=partial"),
            ],
        )
        .await;
    assert_eq!(ok.header("location"), Some("/wallet?status=partial"));
    assert!(
        ok.header("set-cookie")
            .is_some_and(|c| c.contains("HttpOnly") && c.contains("SameSite=Lax"))
    );

    // Logout needs the token too (the page's, which belongs to the new session), then the
    // session is gone.
    let refused = browser.post_form("/logout", &[("csrf", "nope")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(browser.get("/wallet").await.status, StatusCode::OK);
    let refused = browser.post_form("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(
        refused.status,
        StatusCode::FORBIDDEN,
        "the token from before signing in"
    );
    let token = browser.csrf();
    let out = browser.post_form("/logout", &[("csrf", &token)]).await;
    assert_eq!(out.header("location"), Some("/login"));
    assert_eq!(browser.get("/wallet").await.status, StatusCode::SEE_OTHER);
}

/// Loads `/login?next=…` in a fresh browser and signs zhang in with the form's `next` set to
/// `next`: the form page, and the answer to the sign-in.
async fn sign_in_with_next(
    server: &support::TestServer,
    next: &str,
) -> (support::Response, support::Response) {
    let mut browser = Browser::new(server);
    let form = browser
        .get(&format!("/login?next={}", super::urlencode(next)))
        .await;
    let csrf = browser.csrf();
    let response = browser
        .post_form(
            "/login",
            &[
                ("username", "zhang"),
                ("password", support::PASSWORD),
                ("csrf", &csrf),
                ("next", next),
            ],
        )
        .await;
    (form, response)
}

#[tokio::test]
async fn after_sign_in_only_same_site_paths_are_followed() {
    let db = support::TestDb::sqlite();
    let server = support::start(&db).await;
    wallet_fixture(&server).await;
    for next in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let (_, response) = sign_in_with_next(&server, next).await;
        assert_eq!(response.header("location"), Some("/wallet"), "next={next}");
    }
}

#[tokio::test]
async fn the_wallet_lists_filters_and_explains_each_book() {
    let db = support::TestDb::sqlite();
    let server = support::start(&db).await;
    let fixture = wallet_fixture(&server).await;
    let mut browser = Browser::new(&server);
    assert_eq!(browser.sign_in("zhang").await, "/wallet");

    let list = browser.get("/wallet").await;
    assert_eq!(list.status, StatusCode::OK);
    let [partial, unused, revoked] = [0, 1, 2].map(|i| fixture.zhang[i].id.0);
    for id in [partial, unused, revoked] {
        assert!(
            list.text.contains(&format!("/wallet/books/{id}\"")),
            "book {id} listed"
        );
    }
    for label in ["部分使用", "未使用", "已作废"] {
        assert!(list.text.contains(label), "{label}");
    }
    // 2 left on the partly used book + 10 on the other; the revoked book counts nothing.
    assert!(
        list.text.contains("<strong>12</strong><span>可用张数"),
        "{}",
        list.text
    );
    assert!(
        !list
            .text
            .contains(&format!("/wallet/books/{}\"", fixture.wang[0].id.0))
    );

    let only = |text: &str, id: u64| {
        [partial, unused, revoked]
            .iter()
            .all(|&b| text.contains(&format!("/wallet/books/{b}\"")) == (b == id))
    };
    let by_status = browser.get("/wallet?status=revoked").await;
    assert!(only(&by_status.text, revoked), "status filter");
    let by_keyword = browser.get(&format!("/wallet?q={unused}")).await;
    assert!(only(&by_keyword.text, unused), "book number search");
    let none = browser.get("/wallet?from=2000-01-01&to=2000-01-31").await;
    assert!(none.text.contains("没有符合条件的水票"), "date range");
    let today = shuipiao_server::local_time::date(shuipiao_server::unix_now());
    let all_today = browser
        .get(&format!("/wallet?from={today}&to={today}&product=189"))
        .await;
    assert!(
        all_today
            .text
            .contains(&format!("/wallet/books/{partial}\""))
    );
    let bad = browser.get("/wallet?from=yesterday").await;
    assert_eq!(bad.status, StatusCode::OK);
    assert!(bad.text.contains("日期格式应为"), "a bad date is explained");

    let detail = browser.get(&format!("/wallet/books/{partial}")).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert!(detail.text.contains("<svg"), "a QR code is shown");
    assert!(detail.text.contains(&fixture.zhang[0].qr_text));
    assert!(detail.text.contains("<strong>2</strong> / 4 张"));
    assert_eq!(
        detail.text.matches("送水员 courier1").count(),
        2,
        "both redemptions, with the courier"
    );
    assert!(detail.text.contains("购买套餐") && detail.text.contains("不限区域"));

    let gone = browser.get(&format!("/wallet/books/{revoked}")).await;
    assert!(!gone.text.contains("<svg"), "a revoked book shows no QR");
    assert!(gone.text.contains("用户挂失"));

    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
    ] {
        assert_eq!(
            detail.header(name),
            Some(value),
            "{name} on a page with a QR code"
        );
    }

    let print = browser.get(&format!("/wallet/books/{unused}/print")).await;
    assert_eq!(print.status, StatusCode::OK);
    assert!(print.text.contains("<svg") && print.text.contains("data-print"));
}

#[tokio::test]
async fn holders_never_see_another_holders_book() {
    let db = support::TestDb::sqlite();
    let server = support::start(&db).await;
    let fixture = wallet_fixture(&server).await;
    let mut wang = Browser::new(&server);
    wang.sign_in("wang").await;
    for book in fixture.zhang.iter().chain(&fixture.members) {
        for path in [
            format!("/wallet/books/{}", book.id.0),
            format!("/wallet/books/{}/print", book.id.0),
        ] {
            let response = wang.get(&path).await;
            assert_eq!(response.status, StatusCode::NOT_FOUND, "{path}");
            assert!(
                !response.text.contains(&book.qr_text),
                "{path} leaks the QR"
            );
        }
    }
    let own = wang
        .get(&format!("/wallet/books/{}", fixture.wang[0].id.0))
        .await;
    assert_eq!(own.status, StatusCode::OK);

    // The enterprise admin holds only the enterprise's own books: of what it handed to its
    // members it sees the figures on the enterprise page, never a QR; the families' not at all.
    let mut admin = Browser::new(&server);
    admin.sign_in("hjadmin").await;
    let list = admin.get("/wallet").await;
    let overview = admin.get("/wallet/enterprise").await;
    for book in &fixture.members {
        assert!(
            !list
                .text
                .contains(&format!("/wallet/books/{}\"", book.id.0))
        );
        assert!(overview.text.contains(&format!("票号 {}", book.id.0)));
        let detail = admin.get(&format!("/wallet/books/{}", book.id.0)).await;
        assert_eq!(detail.status, StatusCode::NOT_FOUND);
        assert!(!detail.text.contains(&book.qr_text));
    }
    assert!(overview.text.contains("汉江员工1") && overview.text.contains("汉江员工2"));
    let family = admin
        .get(&format!("/wallet/books/{}", fixture.zhang[0].id.0))
        .await;
    assert_eq!(family.status, StatusCode::NOT_FOUND);
}

/// Browsers drop tabs and newlines from a URL and read `\\` as `/`, so `/<TAB>/evil.example`
/// would leave the site: only a clean path is followed after sign-in, and a line break in
/// `next` is refused like any other junk, never a 500.
#[tokio::test]
async fn sign_in_follows_only_a_clean_path() {
    let db = TestDb::sqlite();
    let server = support::start(&db).await;
    wallet_fixture(&server).await;
    for next in [
        "/\t/evil.example/x",
        "/\n/evil.example/x",
        "/\r\n/evil.example",
        "/ /evil.example",
        "/\u{3000}/evil.example",
        "/\\/evil.example",
        "/wallet\nSet-Cookie: a=b",
        "/wallet?x=\u{7f}",
    ] {
        let (form, response) = sign_in_with_next(&server, next).await;
        assert_eq!(form.status, StatusCode::OK, "next={next:?}");
        assert!(
            form.text.contains(r#"name="next" value="""#),
            "the form does not carry next={next:?}: {}",
            form.text
        );
        assert_eq!(
            (response.status, response.header("location")),
            (StatusCode::SEE_OTHER, Some("/wallet")),
            "next={next:?}: {}",
            response.text
        );
    }
    let clean = "/wallet/points?tab=gifts&x=%2F%2F";
    let (form, response) = sign_in_with_next(&server, clean).await;
    assert!(form.text.contains("tab=gifts"), "{}", form.text);
    assert_eq!(
        response.header("location"),
        Some(clean),
        "a clean path is followed"
    );
}

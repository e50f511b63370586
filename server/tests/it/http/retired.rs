//! Packages taken off sale (停售) on both backends: retired through the API or the console, a
//! retired package issues nothing through the API or the issue page (same message, nothing
//! written), retiring twice or an unknown package is refused, and the books it issued before
//! stay valid.

use axum::http::{Method, StatusCode};
use serde_json::json;
use shuipiao_server::store::models::Role;
use shuipiao_shared::status::BookState;

use crate::support::{self, TestDb, on_both_backends};
use crate::web::{Browser, refused_page};

on_both_backends!(a_retired_package_issues_nothing_anywhere_and_its_books_stay_valid);

const RETIRED: &str = "套餐已停售,不能再发放";

async fn a_retired_package_issues_nothing_anywhere_and_its_books_stay_valid(db: TestDb) {
    let server = support::start(&db).await;
    let catalogue = support::catalogue(&server.store, 10).await;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    server.user("kefu", Role::Operator, None).await;
    let account = support::customer_account(&server.store, "张伟家").await.id;
    let order = json!({ "account_id": account, "package_id": catalogue.package_id, "quantity": 1 });
    let before = server
        .call(
            Method::POST,
            "/api/v1/orders",
            Some(&admin),
            Some(order.clone()),
        )
        .await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.text);
    let book = before.json["books"][0]["id"].as_u64().unwrap();

    let retire = format!("/api/v1/packages/{}/retire", catalogue.package_id);
    let retired = server.call(Method::POST, &retire, Some(&admin), None).await;
    assert_eq!(retired.status, StatusCode::OK, "{}", retired.text);
    assert!(
        retired.json["retired_at"].as_i64().is_some(),
        "{}",
        retired.text
    );
    for (path, message) in [
        (retire.as_str(), "套餐已经停售"),
        ("/api/v1/packages/999999/retire", "套餐不存在"),
    ] {
        let refused = server.call(Method::POST, path, Some(&admin), None).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            refused.text
        );
        assert_eq!(refused.json["message"], message, "{path}");
    }

    let refused = server
        .call(Method::POST, "/api/v1/orders", Some(&admin), Some(order))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    assert_eq!(refused.json["message"], RETIRED);
    let mut console = Browser::new(&server);
    console.sign_in("kefu").await;
    let preview = console
        .get(&format!(
            "/admin/issue?account={account}&package={}&quantity=1",
            catalogue.package_id
        ))
        .await;
    assert!(preview.text.contains(RETIRED), "{}", preview.text);
    assert!(
        !preview.text.contains("确认发放"),
        "no confirmation offered"
    );
    let csrf = console.csrf();
    let package = catalogue.package_id.to_string();
    let account_text = account.to_string();
    let submitted = console
        .post_form(
            "/admin/issue",
            &[
                ("csrf", &csrf),
                ("account", &account_text),
                ("package", &package),
                ("quantity", "1"),
            ],
        )
        .await;
    refused_page(&submitted, RETIRED);
    let books = server.store.books_of_account(account).await.unwrap();
    assert_eq!(books.len(), 1, "nothing issued after retirement");
    assert_eq!(
        books[0].state,
        BookState::Active,
        "the book issued before stays valid"
    );
    assert_eq!(books[0].issued.id.0, book);

    // On the console: an admin retires another package; it leaves the issue page's choices.
    let other = support::catalogue_with(&server.store, 5).await.package_id;
    let mut admin_console = Browser::new(&server);
    admin_console.sign_in("admin").await;
    admin_console.get("/admin/packages").await;
    let csrf = admin_console.csrf();
    let done = admin_console
        .post_form(
            &format!("/admin/packages/{other}/retire"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    let page = admin_console.get("/admin/packages").await;
    assert_eq!(page.text.matches("已停售").count(), 2, "{}", page.text);
    let issue = admin_console
        .get(&format!("/admin/issue?account={account}"))
        .await;
    assert!(
        !issue.text.contains(&format!("<option value=\"{other}\"")),
        "{}",
        issue.text
    );
}

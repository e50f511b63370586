//! The audit log filtered to one operator's issuance: what a plant reviews to see who issued
//! which books, since operators may issue books to any account, including ones they created.

use axum::http::{Method, StatusCode};
use serde_json::json;
use shuipiao_server::store::models::{AuditEntry, Role};

use crate::support::{self, TestDb, on_both_backends};
use crate::web::Browser;

async fn audit_log_filters_issuance_per_operator(db: TestDb) {
    let server = support::start(&db).await;
    let catalogue = support::catalogue(&server.store, 1).await;
    let account = support::customer_account(&server.store, "张伟家").await;
    let (first, first_token) = server.user("operator1", Role::Operator, None).await;
    let (_, second_token) = server.user("operator2", Role::Operator, None).await;
    server.user("admin", Role::Admin, None).await;
    let issue = |token: String| {
        let server = &server;
        async move {
            let response = server
                .call(
                    Method::POST,
                    "/api/v1/orders",
                    Some(&token),
                    Some(json!({ "account_id": account.id, "package_id": catalogue.package_id, "quantity": 1 })),
                )
                .await;
            assert_eq!(response.status, StatusCode::OK, "{}", response.text);
            response.json["books"][0]["id"].as_u64().unwrap()
        }
    };
    let book = issue(first_token.clone()).await;
    issue(first_token.clone()).await;
    issue(second_token).await;
    let revoked = server
        .call(
            Method::POST,
            &format!("/api/v1/books/{book}/revoke"),
            Some(&first_token),
            Some(json!({ "reason": "用户挂失" })),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK);

    let mut admin = Browser::new(&server);
    admin.sign_in("admin").await;
    let rows = |text: &str, who: &str| text.matches(&format!("<td>{who}</td>")).count();
    let page = admin.get("/admin/audit").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains("name=\"actor\"") && page.text.contains("name=\"action\""),
        "the page offers the operator and action filters"
    );
    assert!(page.text.contains("<option value=\"operator1\""));

    let mine = admin
        .get("/admin/audit?actor=operator1&action=order.issue")
        .await;
    assert_eq!(mine.status, StatusCode::OK);
    assert_eq!(mine.text.matches("<code>order.issue</code>").count(), 2);
    assert_eq!(rows(&mine.text, "operator1"), 2);
    assert_eq!(rows(&mine.text, "operator2"), 0);
    assert!(!mine.text.contains("<code>book.revoke</code>"));
    let theirs = admin
        .get("/admin/audit?actor=operator2&action=order.issue")
        .await;
    assert_eq!(rows(&theirs.text, "operator2"), 1);
    assert_eq!(rows(&theirs.text, "operator1"), 0);
    let everything_of_one = admin.get("/admin/audit?actor=operator1").await;
    assert_eq!(
        rows(&everything_of_one.text, "operator1"),
        3,
        "issuance and revocation"
    );

    // A long history pages with the filters kept.
    for n in 0..100 {
        let entry = AuditEntry::new(
            Some(first.id),
            "order.issue",
            format!("account:{}", account.id),
            json!({ "n": n }),
        );
        server
            .store
            .create_region(&format!("区域{n}"), 5, &entry)
            .await
            .unwrap();
    }
    let first_page = admin
        .get("/admin/audit?actor=operator1&action=order.issue")
        .await;
    assert_eq!(rows(&first_page.text, "operator1"), 100);
    let start = first_page
        .text
        .find("&amp;before=")
        .expect("a link to older entries");
    let link = &first_page.text[first_page.text[..start].rfind('"').unwrap() + 1..];
    let link = link[..link.find('"').unwrap()].replace("&amp;", "&");
    assert!(
        link.contains("actor=operator1") && link.contains("action=order.issue"),
        "{link}"
    );
    let older = admin.get(&link).await;
    assert_eq!(rows(&older.text, "operator1"), 2, "the two real orders");
    assert_eq!(rows(&older.text, "operator2"), 0);
}

on_both_backends!(audit_log_filters_issuance_per_operator);

//! The customer directory (客户) over HTTP on both backends: found by phone (through its blind
//! index), book number, pasted QR text, name, login and address, filtered by region, a page at a
//! time; a customer's page with logins, addresses and books; bad and hostile search text.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use serde_json::json;
use shuipiao_server::store::models::{AccountKind, NewAccount, Role};

use super::Browser;
use crate::support::{self, TestDb, on_both_backends};

on_both_backends!(support_finds_a_customer_by_what_the_caller_knows);

/// The accounts a directory page links to.
fn listed(html: &str) -> BTreeSet<i64> {
    html.split("href=\"/admin/customers/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .collect()
}

async fn support_finds_a_customer_by_what_the_caller_knows(db: TestDb) {
    let server = support::start(&db).await;
    let catalogue = support::catalogue(&server.store, 10).await;
    let hanyang = server
        .store
        .create_region("汉阳", support::NOW, &support::audit("region.create"))
        .await
        .unwrap()
        .id;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    server.user("kefu", Role::Operator, None).await;
    let zhang = support::phone_customer(&server.store, "13800138000", "张三家").await;
    let li = support::phone_customer(&server.store, "13900139000", "李四家").await;
    let wang = support::customer_account(&server.store, "王五家").await.id;
    support::address(
        &server.store,
        &zhang,
        catalogue.region_id,
        "光谷花园",
        "301",
    )
    .await;
    support::address(&server.store, &li, hanyang, "钟家村小区", "301").await;
    let (zhang, li) = (zhang.spec.account_id.unwrap(), li.spec.account_id.unwrap());
    let order = server
        .call(
            Method::POST,
            "/api/v1/orders",
            Some(&admin),
            Some(json!({ "account_id": li, "package_id": catalogue.package_id, "quantity": 1 })),
        )
        .await;
    assert_eq!(order.status, StatusCode::OK, "{}", order.text);
    let book_id = order.json["books"][0]["id"].as_u64().unwrap();
    let qr = order.json["books"][0]["qr_text"]
        .as_str()
        .unwrap()
        .to_string();

    let mut console = Browser::new(&server);
    console.sign_in("kefu").await;
    let mut find = async |query: &str| {
        let page = console.get(&format!("/admin/customers?{query}")).await;
        assert_eq!(page.status, StatusCode::OK, "{query}: {}", page.text);
        page.text
    };
    let everyone = find("").await;
    assert_eq!(listed(&everyone), BTreeSet::from([zhang, li, wang]));
    let newest_first = ["王五家", "李四家", "张三家"].map(|name| everyone.find(name).unwrap());
    assert!(newest_first.is_sorted(), "newest first");
    let book = book_id.to_string();
    for (query, expected) in [
        ("q=13800138000", vec![zhang]),
        ("q=+138+0013+8000+", vec![zhang]),
        ("q=13700000000", vec![]),
        (&format!("q={book}")[..], vec![li]),
        (&format!("q={}", super::urlencode(&qr))[..], vec![li]),
        ("q=%E9%92%9F%E5%AE%B6%E6%9D%91", vec![li]),
        ("q=%E5%BC%A0%E4%B8%89%E5%AE%B6", vec![zhang]),
        ("q=p-1390", vec![li]),
        (&format!("region={hanyang}")[..], vec![li]),
        (
            &format!("q=%E5%BC%A0%E4%B8%89%E5%AE%B6&region={hanyang}")[..],
            vec![],
        ),
        ("q=%25", vec![]),
        ("q=_", vec![]),
        ("q=%27%20OR%201%3D1%20--", vec![]),
        ("region=abc&page=-1", vec![zhang, li, wang]),
    ] {
        let page = find(query).await;
        assert_eq!(listed(&page), expected.into_iter().collect(), "{query}");
    }
    let unreadable = find("q=SP1NOTATICKET").await;
    assert!(unreadable.contains("二维码内容无法识别"), "{unreadable}");
    assert!(listed(&unreadable).is_empty());

    // A page at a time: 50 accounts, then the rest.
    for n in 0..50 {
        server
            .store
            .create_account(
                &NewAccount {
                    kind: AccountKind::Customer,
                    name: format!("客户{n:02}"),
                    enterprise_id: None,
                },
                support::NOW,
                &support::audit("account.create"),
            )
            .await
            .unwrap();
    }
    let first = find("").await;
    assert_eq!(listed(&first).len(), 50);
    assert!(first.contains("page=1\">下一页"), "a next page");
    let second = find("page=1").await;
    assert_eq!(listed(&second), BTreeSet::from([zhang, li, wang]));
    assert!(!second.contains("下一页"));

    let page = console.get(&format!("/admin/customers/{li}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    for shown in [
        "李四家",
        "钟家村小区1栋2单元301",
        "p-13900139000",
        &format!("/admin/books/{book_id}"),
    ] {
        assert!(page.text.contains(shown), "{shown}: {}", page.text);
    }
    let missing = console.get("/admin/customers/999999").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

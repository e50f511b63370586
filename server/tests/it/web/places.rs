//! Setting a plant up on the console, from an empty database: regions, stores, scopes and
//! products added on their pages with the API's rules and messages (bad input changes nothing,
//! on both backends), and the whole setup clicked through in a real headless Chromium up to a
//! package on sale. Screenshot: `admin/24-places.png`.

use axum::http::{Method, StatusCode};
use fantoccini::Locator;
use serde_json::json;
use shuipiao_server::store::models::Role;

use super::browser::{browser, click, driver, sign_in_to, type_into};
use super::{Browser, refused_page};
use crate::support::{self, TestDb, TestServer, on_both_backends};

on_both_backends!(the_pages_refuse_what_the_api_refuses_and_change_nothing);

/// What the catalogue holds: region, store, scope and product names.
async fn catalogue(server: &TestServer) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
    let store = &server.store;
    (
        store
            .regions()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect(),
        store
            .outlets()
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.name)
            .collect(),
        store
            .scopes()
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect(),
        store
            .products()
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect(),
    )
}

/// A page, its form's fields, the API path and body of the same input, and the message both give.
type Case<'a> = (
    &'a str,
    Vec<(&'a str, &'a str)>,
    &'a str,
    serde_json::Value,
    &'a str,
);

async fn the_pages_refuse_what_the_api_refuses_and_change_nothing(db: TestDb) {
    let server = support::start(&db).await;
    let (_, token) = server.user("admin", Role::Admin, None).await;
    let mut console = Browser::new(&server);
    console.sign_in("admin").await;
    let page = console.get("/admin/places").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("还没有区域"), "{}", page.text);
    let csrf = console.csrf();
    let empty = catalogue(&server).await;

    let long = "区".repeat(41);
    let cases: [Case; 8] = [
        (
            "/admin/regions",
            vec![("name", " ")],
            "/api/v1/regions",
            json!({ "name": " " }),
            "区域名称为 1–40 个字",
        ),
        (
            "/admin/regions",
            vec![("name", &long)],
            "/api/v1/regions",
            json!({ "name": long }),
            "区域名称为 1–40 个字",
        ),
        (
            "/admin/outlets",
            vec![("region", "999"), ("name", "中南路门店")],
            "/api/v1/outlets",
            json!({ "region_id": 999, "name": "中南路门店" }),
            "区域不存在",
        ),
        (
            "/admin/scopes",
            vec![("name", "空范围")],
            "/api/v1/scopes",
            json!({ "name": "空范围", "region_ids": [], "outlet_ids": [] }),
            "使用范围至少包含一个区域或门店",
        ),
        (
            "/admin/scopes",
            vec![("name", "外地"), ("region", "999")],
            "/api/v1/scopes",
            json!({ "name": "外地", "region_ids": [999], "outlet_ids": [] }),
            "区域不存在",
        ),
        (
            "/admin/scopes",
            vec![("name", "外地"), ("outlet", "999")],
            "/api/v1/scopes",
            json!({ "name": "外地", "region_ids": [], "outlet_ids": [999] }),
            "门店不存在",
        ),
        (
            "/admin/products",
            vec![
                ("code", "0"),
                ("name", "18.9L 桶装水"),
                ("volume_ml", "18900"),
            ],
            "/api/v1/products",
            json!({ "code": 0, "name": "18.9L 桶装水", "volume_ml": 18900 }),
            "产品编号应为 1–65535",
        ),
        (
            "/admin/products",
            vec![
                ("code", "189"),
                ("name", "18.9L 桶装水"),
                ("volume_ml", "0"),
            ],
            "/api/v1/products",
            json!({ "code": 189, "name": "18.9L 桶装水", "volume_ml": 0 }),
            "容量应为 1–100000 毫升",
        ),
    ];
    for (page, fields, api, body, message) in cases {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(fields);
        refused_page(&console.post_form(page, &form).await, message);
        let refused = server
            .call(Method::POST, api, Some(&token), Some(body))
            .await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{api}: {}",
            refused.text
        );
        assert_eq!(refused.json["message"], message, "{api}");
    }
    for (code, message) in [
        ("七十", "产品编号应为 1–65535"),
        ("65536", "产品编号应为 1–65535"),
    ] {
        let typed = [
            ("csrf", csrf.as_str()),
            ("code", code),
            ("name", "桶"),
            ("volume_ml", "100"),
        ];
        refused_page(&console.post_form("/admin/products", &typed).await, message);
    }
    assert_eq!(catalogue(&server).await, empty, "nothing was added");

    // Added once; the same name again is refused with the API's message.
    let region = [("csrf", csrf.as_str()), ("name", "武昌区")];
    let added = console.post_form("/admin/regions", &region).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.text);
    let twice = console.post_form("/admin/regions", &region).await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.text);
    assert!(twice.text.contains("区域名称已存在"), "{}", twice.text);
    let wuchang = server.store.regions().await.unwrap()[0].id.to_string();
    let outlet = [
        ("csrf", csrf.as_str()),
        ("region", &wuchang),
        ("name", "中南路门店"),
    ];
    let added = console.post_form("/admin/outlets", &outlet).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.text);
    let store_id = server.store.outlets().await.unwrap()[0].id.to_string();
    let scope = [
        ("csrf", csrf.as_str()),
        ("name", "武昌区及门店"),
        ("region", &wuchang),
        ("region", &wuchang),
        ("outlet", &store_id),
    ];
    let added = console.post_form("/admin/scopes", &scope).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.text);
    let scopes = server.store.scopes().await.unwrap();
    assert_eq!(
        scopes[0].region_ids.len(),
        1,
        "a region ticked twice counts once"
    );
    assert_eq!(scopes[0].outlet_ids.len(), 1);
    let page = console.get("/admin/places").await;
    assert!(page.text.contains("武昌区、中南路门店"), "{}", page.text);
}

#[tokio::test]
async fn an_admin_sets_up_a_plant_from_empty_on_the_console() {
    let Some(driver) = driver().await else {
        return;
    };
    let db = TestDb::sqlite();
    let server = support::start(&db).await;
    server.user("admin", Role::Admin, None).await;
    let base = format!("http://{}", server.addr);
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    client.set_window_size(1440, 900).await.unwrap();
    sign_in_to(&client, &base, "/admin", "admin", support::PASSWORD).await;

    // After each form: the page it lands on, with its notice.
    let landed = |path: &'static str, done: &'static str, text: &'static str| {
        let client = client.clone();
        let url = format!("{base}{path}?done={done}");
        async move {
            client
                .wait()
                .for_url(&url.parse().unwrap())
                .await
                .unwrap_or_else(|_| panic!("{url}"));
            let shown = client
                .find(Locator::Css(".notice"))
                .await
                .expect("a notice")
                .text()
                .await
                .unwrap();
            assert!(shown.contains(text), "{shown}");
        }
    };
    client.goto(&format!("{base}/admin/places")).await.unwrap();
    type_into(
        &client,
        "form[action='/admin/regions'] input[name=name]",
        "武昌区",
    )
    .await;
    click(&client, "form[action='/admin/regions'] button").await;
    landed("/admin/places", "region_created", "区域已新增").await;
    client
        .find(Locator::Css(
            "form[action='/admin/outlets'] select[name=region]",
        ))
        .await
        .unwrap()
        .select_by_label("武昌区")
        .await
        .unwrap();
    type_into(
        &client,
        "form[action='/admin/outlets'] input[name=name]",
        "中南路门店",
    )
    .await;
    click(&client, "form[action='/admin/outlets'] button").await;
    landed("/admin/places", "outlet_created", "门店已新增").await;
    type_into(
        &client,
        "form[action='/admin/scopes'] input[name=name]",
        "武昌区及门店",
    )
    .await;
    click(&client, "form[action='/admin/scopes'] input[name=region]").await;
    click(&client, "form[action='/admin/scopes'] input[name=outlet]").await;
    click(&client, "form[action='/admin/scopes'] button").await;
    landed("/admin/places", "scope_created", "使用范围已新增").await;
    let rows = client
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(rows.contains("武昌区、中南路门店"), "{rows}");
    super::admin_browser::snap(&client, "24-places").await;

    client
        .goto(&format!("{base}/admin/packages"))
        .await
        .unwrap();
    for (field, value) in [
        ("code", "189"),
        ("name", "18.9L 桶装水"),
        ("volume_ml", "18900"),
        ("deposit", "30"),
    ] {
        type_into(
            &client,
            &format!("form[action='/admin/products'] input[name={field}]"),
            value,
        )
        .await;
    }
    click(&client, "form[action='/admin/products'] button").await;
    landed("/admin/packages", "product_created", "产品已新增").await;
    for (field, value) in [("name", "家庭月套餐"), ("price", "60"), ("paid_units", "4")] {
        type_into(
            &client,
            &format!("form[action='/admin/packages'] input[name={field}]"),
            value,
        )
        .await;
    }
    for (select, label) in [("product", "18.9L 桶装水"), ("scope", "武昌区及门店")] {
        client
            .find(Locator::Css(&format!(
                "form[action='/admin/packages'] select[name={select}]"
            )))
            .await
            .unwrap()
            .select_by_label(label)
            .await
            .unwrap();
    }
    click(&client, "form[action='/admin/packages'] button").await;
    landed("/admin/packages", "package_created", "套餐已上架").await;
    let packages = server.store.packages().await.unwrap();
    assert_eq!(packages.len(), 1);
    assert_eq!(packages[0].spec.price_fen, 6_000);
    let scope = &server.store.scopes().await.unwrap()[0];
    assert_eq!(packages[0].spec.scope, scope.id);
    assert_eq!(server.store.products().await.unwrap()[0].deposit_fen, 3_000);
    client.close().await.unwrap();
}

//! The admin console in a real headless Chromium at desktop width, on the demo plant: an admin
//! issues a package, revokes the new book, resolves the demo's conflict and downloads the
//! statistics as XLSX, whose cells are read back; a dispatcher assigns tomorrow's orders by hand
//! and automatically and opens a courier's route sheet. Screenshots of the dashboard, the
//! statistics, the review queue, a book, the staff leaderboard, the dispatch page and a route
//! sheet are saved under `target/screenshots/admin/` for people to look at.

use std::io::Cursor;
use std::path::PathBuf;

use calamine::{Data, Reader, Xlsx};
use fantoccini::{Client, Locator};
use shuipiao_server::demo;
use shuipiao_server::ordering::addresses;
use shuipiao_server::ordering::orders::{self, OrderInput};
use shuipiao_server::store::models::Role;

use super::admin::fetch_bytes;
use super::browser::{browser, driver};
use crate::support;

const WIDTH: u32 = 1440;

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots/admin");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

/// Sizes the window to the whole page, then saves a screenshot.
pub(super) async fn snap(client: &Client, name: &str) {
    let height = client
        .execute("return document.documentElement.scrollHeight;", vec![])
        .await
        .unwrap()
        .as_u64()
        .unwrap_or(900)
        .clamp(600, 4_000) as u32;
    client.set_window_size(WIDTH, height + 90).await.unwrap();
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).expect("save screenshot");
    client.set_window_size(WIDTH, 900).await.unwrap();
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} on the page"))
        .click()
        .await
        .unwrap();
}

/// Clicks and waits for the next page to show `until`.
async fn submit(client: &Client, css: &str, until: &str) {
    click(client, css).await;
    client
        .wait()
        .for_element(Locator::Css(until))
        .await
        .unwrap_or_else(|_| panic!("{until} after clicking {css}"));
}

async fn type_into(client: &Client, css: &str, text: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} on the page"))
        .send_keys(text)
        .await
        .unwrap();
}

async fn text_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} on the page"))
        .text()
        .await
        .unwrap()
}

/// Waits until the browser's address contains `part` (a form's redirect, say).
async fn landed_with(client: &Client, part: &str) {
    for _ in 0..200 {
        if client.current_url().await.unwrap().as_str().contains(part) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the browser never reached an address with {part}");
}

async fn path(client: &Client) -> String {
    client.current_url().await.unwrap().path().to_string()
}

fn number(cell: Option<&Data>) -> f64 {
    match cell {
        Some(Data::Float(n)) => *n,
        Some(Data::Int(n)) => *n as f64,
        other => panic!("a number, not {other:?}"),
    }
}

/// Downloads an export with the browser's session and opens it as a workbook.
async fn export(client: &Client, addr: &str, href: &str) -> Xlsx<Cursor<Vec<u8>>> {
    let cookie = client
        .get_all_cookies()
        .await
        .unwrap()
        .iter()
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect::<Vec<_>>()
        .join("; ");
    let (status, bytes) = fetch_bytes(addr, &cookie, href).await;
    assert_eq!(status, 200);
    Xlsx::new(Cursor::new(bytes)).expect("an XLSX workbook")
}

/// Units of 18.9L issued, from the `product` sheet.
fn issued_189(workbook: &mut Xlsx<Cursor<Vec<u8>>>) -> f64 {
    let products = workbook.worksheet_range("product").unwrap();
    let row = (1..products.height() as u32)
        .find(|&r| products.get_value((r, 0)) == Some(&Data::String("18.9L 桶装水".into())))
        .expect("a row for 18.9L");
    number(products.get_value((row, 1)))
}

#[tokio::test]
async fn an_admin_issues_revokes_resolves_and_exports() {
    let Some(driver) = driver().await else {
        return;
    };
    let db = support::TestDb::sqlite();
    let server = support::start(&db).await;
    demo::fill(
        &server.store,
        &support::master(),
        shuipiao_server::unix_now(),
    )
    .await
    .unwrap();
    let base = format!("http://{}", server.addr);
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    client.set_window_size(WIDTH, 900).await.unwrap();

    // Sign in: staff land on the console.
    client.goto(&format!("{base}/admin")).await.unwrap();
    assert_eq!(path(&client).await, "/login");
    type_into(&client, "input[name=username]", "admin").await;
    type_into(&client, "input[name=password]", demo::DEMO_PASSWORD).await;
    click(&client, "button[type=submit].primary").await;
    client
        .wait()
        .for_url(&format!("{base}/admin").parse().unwrap())
        .await
        .unwrap();
    assert!(text_of(&client, ".kpis").await.contains("待处理冲突"));
    snap(&client, "01-dashboard").await;

    let mut baseline = export(
        &client,
        &server.addr,
        "/admin/stats/export?table=all&format=xlsx",
    )
    .await;

    // Issue one 买十送一 package to 张伟家 through the preview.
    let accounts = server.store.accounts().await.unwrap();
    let family = accounts.iter().find(|a| a.spec.name == "张伟家").unwrap();
    let packages = server.store.packages().await.unwrap();
    let package = packages
        .iter()
        .find(|p| p.spec.name.starts_with("买十送一"))
        .unwrap();
    // The customer is found by search, then chosen.
    client.goto(&format!("{base}/admin/issue")).await.unwrap();
    type_into(&client, "input[name=q]", "张伟").await;
    submit(&client, "form.search button", "table.found").await;
    submit(
        &client,
        &format!("table.found a[href='/admin/issue?account={}']", family.id),
        "p.chosen",
    )
    .await;
    assert!(text_of(&client, "p.chosen").await.contains("张伟家"));
    client
        .find(Locator::Css("select[name=package]"))
        .await
        .unwrap()
        .select_by_value(&package.id.to_string())
        .await
        .unwrap();
    submit(&client, "form.stack button[type=submit]", "form.confirm").await;
    assert!(text_of(&client, ".preview").await.contains("共 11 张"));
    let before = server
        .store
        .books_of_account(family.id)
        .await
        .unwrap()
        .len();
    submit(&client, "form.confirm button", ".notice").await;
    assert!(text_of(&client, ".notice").await.contains("水票已发放"));
    let issued = server.store.books_of_account(family.id).await.unwrap();
    assert_eq!(issued.len(), before + 1);
    let new_book = issued[0].issued.id;
    assert_eq!(path(&client).await, format!("/admin/books/{new_book}"));
    snap(&client, "04-book").await;

    // Revoke it (the browser asks for confirmation first).
    type_into(
        &client,
        "form[action$='/revoke'] input[name=reason]",
        "客户退款",
    )
    .await;
    click(&client, "form[action$='/revoke'] button").await;
    client.accept_alert().await.unwrap();
    client
        .wait()
        .for_url(
            &format!("{base}/admin/books/{new_book}?done=revoked")
                .parse()
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(text_of(&client, ".notice").await.contains("水票已作废"));
    let revoked = server.store.book(new_book).await.unwrap();
    assert_eq!(revoked.revoke_reason.as_deref(), Some("客户退款"));

    // Resolve the demo's conflict from the review queue.
    client.goto(&format!("{base}/admin/review")).await.unwrap();
    let open = server.store.review_queue(true).await.unwrap().len();
    assert!(open >= 1, "the demo has a conflict");
    snap(&client, "03-review").await;
    client
        .find(Locator::Css("form.resolve select[name=action]"))
        .await
        .unwrap()
        .select_by_value("write_off")
        .await
        .unwrap();
    type_into(
        &client,
        "form.resolve input[name=note]",
        "两位送水员都已送达",
    )
    .await;
    submit(&client, "form.resolve button", ".notice").await;
    assert!(text_of(&client, ".notice").await.contains("冲突已处理"));
    assert_eq!(
        server.store.review_queue(true).await.unwrap().len(),
        open - 1
    );

    // Statistics: the page, then the XLSX export with the browser's session.
    client.goto(&format!("{base}/admin/stats")).await.unwrap();
    assert!(
        client
            .find_all(Locator::Css("svg.chart"))
            .await
            .unwrap()
            .len()
            >= 8
    );
    snap(&client, "02-statistics").await;
    client.goto(&format!("{base}/admin/staff")).await.unwrap();
    assert!(text_of(&client, ".star").await.contains("推广之星"));
    snap(&client, "05-staff").await;
    client.goto(&format!("{base}/admin/stats")).await.unwrap();
    let href = client
        .find(Locator::Css("a[href*='table=all'][href*='format=xlsx']"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let mut after = export(&client, &server.addr, &href).await;
    let products = after.worksheet_range("product").unwrap();
    assert_eq!(
        products.get_value((0, 1)),
        Some(&Data::String("发放(张)".into()))
    );
    assert_eq!(
        issued_189(&mut after) - issued_189(&mut baseline),
        11.0,
        "the package issued here (10 + 1), revoked or not"
    );
    let regions = after.worksheet_range("region").unwrap();
    let delivered: f64 = (1..regions.height() as u32)
        .map(|r| number(regions.get_value((r, 1))))
        .sum();
    let by_product: f64 = (1..products.height() as u32)
        .map(|r| number(products.get_value((r, 2))))
        .sum();
    assert_eq!(delivered, by_product, "every bottle counted once");
    assert!(
        delivered > 0.0,
        "the demo delivered water in the last 30 days"
    );
    let success = regions.get_value((1, 4));
    assert!(
        matches!(success, Some(Data::Float(share)) if (0.0..=1.0).contains(share)),
        "核销成功率 is a share: {success:?}"
    );
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_dispatcher_assigns_tomorrows_orders_and_prints_a_route_sheet() {
    let Some(driver) = driver().await else {
        return;
    };
    let db = support::TestDb::sqlite();
    let server = support::start(&db).await;
    let now = shuipiao_server::unix_now();
    demo::fill(&server.store, &support::master(), now)
        .await
        .unwrap();
    // Orders of three demo families for tomorrow, whatever the hour the demo was filled at.
    let tomorrow = shuipiao_server::local_time::date(now + 86_400);
    let customers: Vec<_> = server
        .store
        .users()
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.spec.role == Role::Customer)
        .collect();
    let mut placed = Vec::new();
    for customer in &customers {
        let Ok(list) = addresses::list(&server.store, &support::master(), customer).await else {
            continue;
        };
        let Some(address) = list.first() else {
            continue;
        };
        let input = OrderInput {
            address_id: address.id,
            product: 189,
            bottles: 2,
            slot_date: tomorrow.clone(),
            slot: if placed.len() % 2 == 0 {
                "morning"
            } else {
                "afternoon"
            }
            .into(),
            note: "到了请打电话".into(),
            payment: "cash".into(),
            book_id: None,
        };
        placed.push(
            orders::place(&server.store, customer, &input, now)
                .await
                .unwrap()
                .id,
        );
        if placed.len() == 3 {
            break;
        }
    }
    assert_eq!(placed.len(), 3, "three demo families with an address");
    let base = format!("http://{}", server.addr);
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    client.set_window_size(WIDTH, 900).await.unwrap();

    // A dispatcher starts on the dispatch page.
    client.goto(&format!("{base}/login")).await.unwrap();
    type_into(&client, "input[name=username]", "dispatcher").await;
    type_into(&client, "input[name=password]", demo::DEMO_PASSWORD).await;
    click(&client, "button[type=submit].primary").await;
    client
        .wait()
        .for_url(&format!("{base}/admin/dispatch").parse().unwrap())
        .await
        .unwrap();
    client
        .goto(&format!("{base}/admin/dispatch?date={tomorrow}"))
        .await
        .unwrap();
    snap(&client, "20-dispatch-pending").await;

    // Assign the first order by hand, then the rest automatically.
    let first = placed[0];
    client
        .find(Locator::Css(&format!(
            "#order-{first} select[name=courier_id]"
        )))
        .await
        .unwrap()
        .select_by_index(1)
        .await
        .unwrap();
    submit(
        &client,
        &format!("#order-{first} form[action$='/assign'] button"),
        ".notice",
    )
    .await;
    assert!(text_of(&client, ".notice").await.contains("已派单"));
    let courier = server
        .store
        .delivery_order(first)
        .await
        .unwrap()
        .courier_id
        .expect("assigned by hand");
    // The page already shows a notice: wait for the next page's address instead.
    click(&client, "#auto-assign button").await;
    landed_with(&client, "done=dispatched").await;
    assert!(text_of(&client, ".notice").await.contains("已自动派单"));
    for id in &placed {
        let order = server.store.delivery_order(*id).await.unwrap();
        assert!(order.courier_id.is_some(), "order {id} assigned");
    }
    snap(&client, "21-dispatch-assigned").await;

    // The hand-picked courier's route sheet.
    client
        .goto(&format!(
            "{base}/admin/dispatch/sheet?courier_id={}&date={tomorrow}",
            courier.0
        ))
        .await
        .unwrap();
    let sheet = text_of(&client, "table.sheet").await;
    assert!(sheet.contains(&first.to_string()), "{sheet}");
    assert!(sheet.contains("****"), "phones are masked: {sheet}");
    snap(&client, "22-route-sheet").await;
    client.close().await.unwrap();
}

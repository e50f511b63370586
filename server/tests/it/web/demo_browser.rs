//! The demo plant as a newcomer first sees it, in headless Chromium: customer01's wallet home at
//! phone width (live books and what is left on them) and their live book's page, whose QR code
//! scans back to the book; the console's dashboard and its statistics over a year of history,
//! whose demand forecast reports a backtested accuracy. Screenshots: `wallet/30-demo-home.png`,
//! `wallet/31-demo-book.png`, `admin/30-demo-dashboard.png` and `admin/31-demo-statistics.png`.

use shuipiao_server::{demo, wallet};
use shuipiao_shared::status::BookState;

use super::browser::{browser, decode_qr, driver, phone, sign_in_to, snap};
use crate::support;

#[tokio::test]
async fn the_demo_looks_lived_in_on_a_phone_and_in_the_console() {
    let Some(driver) = driver().await else {
        return;
    };
    let db = support::TestDb::sqlite();
    let server = support::start(&db).await;
    let now = shuipiao_server::unix_now();
    demo::fill(&server.store, &support::master(), now)
        .await
        .unwrap();
    let base = format!("http://{}", server.addr);

    let profile = tempfile::tempdir().unwrap();
    let client = phone(&driver, profile.path()).await;
    sign_in_to(&client, &base, "/wallet", "customer01", demo::DEMO_PASSWORD).await;
    let home = client.source().await.unwrap();
    assert!(home.contains("可用张数"), "the wallet home: {home}");
    snap(&client, "30-demo-home").await;

    let customer = server.store.user_by_name("customer01").await.unwrap();
    let books = wallet::holder_books(&server.store, &customer)
        .await
        .unwrap();
    let live = books
        .iter()
        .find(|b| {
            b.state == BookState::Active
                && i64::from(b.issued.valid_until) > now
                && b.used_units < b.issued.units
        })
        .expect("customer01 holds a live book");
    client
        .goto(&format!("{base}/wallet/books/{}", live.issued.id))
        .await
        .unwrap();
    let png = snap(&client, "31-demo-book").await;
    assert_eq!(
        decode_qr(&png),
        vec![live.issued.qr_text.clone()],
        "the book's QR code"
    );
    client.close().await.unwrap();

    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    client.set_window_size(1440, 900).await.unwrap();
    sign_in_to(&client, &base, "/admin", "admin", demo::DEMO_PASSWORD).await;
    super::admin_browser::snap(&client, "30-demo-dashboard").await;
    client.goto(&format!("{base}/admin/stats")).await.unwrap();
    let stats = client.source().await.unwrap();
    assert!(stats.contains("过去四周准确率"), "the forecast table");
    super::admin_browser::snap(&client, "31-demo-statistics").await;
    client.close().await.unwrap();
}

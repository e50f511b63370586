//! Ordering water in a real headless Chromium at phone width (390 px): add an address, order
//! from the wallet's 一键订水 with the bottles stepper, see the order 待派单 and the book's units
//! still orderable go down, and the recurring-order page. Screenshots are saved beside the
//! wallet's under `target/screenshots/wallet/`.

use fantoccini::{Client, Locator};

use super::browser::{click, driver, phone, sign_in, snap, type_into};
use super::wallet_fixture;
use crate::support;

/// Nothing on the page scrolls sideways: it is no wider than the browser's window.
async fn fits_the_phone(client: &Client, page: &str) {
    let widths = client
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            Vec::new(),
        )
        .await
        .unwrap();
    let (page_width, window) = (widths[0].as_f64().unwrap(), widths[1].as_f64().unwrap());
    assert_eq!(window, 390.0, "a phone's width");
    assert!(
        page_width <= window,
        "{page} is {page_width} px wide in a {window} px window"
    );
}

#[tokio::test]
async fn a_customer_orders_water_from_the_wallet_at_phone_width() {
    let Some(driver) = driver().await else {
        return;
    };
    let db = support::TestDb::sqlite();
    let server = support::start(&db).await;
    wallet_fixture(&server).await;
    let base = format!("http://{}", server.addr);
    let profile = tempfile::tempdir().unwrap();
    let client = phone(&driver, profile.path()).await;
    sign_in(&client, &base, "zhang").await;

    // No address yet: 一键订水 asks for one first.
    click(&client, "a.order-now").await;
    client
        .wait()
        .for_element(Locator::LinkText("添加地址"))
        .await
        .expect("the order page asks for an address");
    click(&client, "main a.button.primary").await;
    client
        .wait()
        .for_element(Locator::Css("input[name=community]"))
        .await
        .expect("the address form");
    type_into(&client, "input[name=community]", "光谷花园").await;
    type_into(&client, "input[name=building]", "3栋").await;
    type_into(&client, "input[name=unit]", "2单元").await;
    type_into(&client, "input[name=room]", "501").await;
    type_into(&client, "input[name=contact]", "张伟").await;
    type_into(&client, "input[name=phone]", "13812345678").await;
    fits_the_phone(&client, "/wallet/addresses").await;
    snap(&client, "20-order-address-form").await;
    click(&client, "form.card button.primary").await;
    client
        .wait()
        .for_element(Locator::Css("li.address"))
        .await
        .expect("the saved address is listed");
    let listed = client.find(Locator::Css("li.address")).await.unwrap();
    let listed = listed.text().await.unwrap();
    assert!(listed.contains("138****5678"), "{listed}");
    assert!(listed.contains("默认"), "{listed}");
    snap(&client, "21-order-addresses").await;

    // 一键订水: two bottles with the stepper, the first open slot, the first book.
    client.goto(&format!("{base}/wallet")).await.unwrap();
    click(&client, "a.order-now").await;
    client
        .wait()
        .for_element(Locator::Css("form.order-form"))
        .await
        .expect("the order form");
    click(&client, "button[data-step='1']").await;
    let bottles = client
        .find(Locator::Css("input[name=bottles]"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(bottles.as_deref(), Some("2"), "the stepper adds a bottle");
    let book = client
        .find(Locator::Css("input[name=pay]:checked"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .expect("a book is chosen");
    type_into(&client, "textarea[name=note]", "放门口即可").await;
    fits_the_phone(&client, "/wallet/order").await;
    snap(&client, "22-order-form").await;
    click(&client, "form.order-form button.primary").await;
    client
        .wait()
        .for_element(Locator::Css("li.order"))
        .await
        .expect("the orders page lists the new order");
    let order = client.find(Locator::Css("li.order")).await.unwrap();
    let order = order.text().await.unwrap();
    assert!(order.contains("待派单"), "{order}");
    assert!(order.contains("× 2"), "{order}");
    assert!(order.contains("放门口即可"), "{order}");
    fits_the_phone(&client, "/wallet/orders").await;
    snap(&client, "23-orders").await;

    // The wallet shows fewer units orderable from the book the order reserves on.
    let book = book.trim_start_matches("book:");
    client.goto(&format!("{base}/wallet")).await.unwrap();
    let entry = client
        .find(Locator::Css(&format!(
            "a.book[href='/wallet/books/{book}']"
        )))
        .await
        .unwrap();
    let entry = entry.text().await.unwrap();
    assert!(entry.contains("可订"), "{entry}");
    snap(&client, "24-order-wallet-orderable").await;

    client
        .goto(&format!("{base}/wallet/recurring"))
        .await
        .unwrap();
    fits_the_phone(&client, "/wallet/recurring").await;
    snap(&client, "25-order-recurring").await;
    client.close().await.unwrap();
}

//! Buckets in a real headless Chromium: the wallet's 我的水桶 card at phone width and the
//! console's 客户水桶 page at desktop width, after an operator recorded an opening balance and
//! a deposit. Screenshots: `wallet/26-buckets.png` and `admin/23-buckets.png`.

use fantoccini::Locator;
use shuipiao_server::buckets::{self, RecordInput};
use shuipiao_server::store::buckets::{PayMethod, RecordKind};
use shuipiao_server::store::models::Role;
use shuipiao_shared::ids::ProductCode;

use super::browser::{browser, driver, phone, sign_in, sign_in_to, snap};
use crate::support;

#[tokio::test]
async fn the_wallet_card_and_the_console_page_show_the_buckets() {
    let Some(driver) = driver().await else {
        return;
    };
    let db = support::TestDb::sqlite();
    let server = support::start(&db).await;
    support::catalogue(&server.store, 10).await;
    let account = support::customer_account(&server.store, "张伟家").await.id;
    server.user("zhang", Role::Customer, Some(account)).await;
    let (operator, _) = server.user("kefu", Role::Operator, None).await;
    for (kind, count) in [(RecordKind::Opening, 3), (RecordKind::Deposit, 2)] {
        let input = RecordInput {
            product: ProductCode(189),
            kind,
            buckets: count,
            method: PayMethod::Cash,
            note: "柜台".into(),
        };
        buckets::record(
            &server.store,
            &operator,
            account,
            &input,
            shuipiao_server::unix_now(),
        )
        .await
        .unwrap();
    }
    let base = format!("http://{}", server.addr);

    let profile = tempfile::tempdir().unwrap();
    let client = phone(&driver, profile.path()).await;
    sign_in(&client, &base, "zhang").await;
    client.goto(&format!("{base}/wallet/orders")).await.unwrap();
    let card = client
        .find(Locator::Css("section.buckets"))
        .await
        .expect("the 我的水桶 card")
        .text()
        .await
        .unwrap();
    assert!(card.contains("欠桶 1 只"), "{card}");
    snap(&client, "26-buckets").await;
    client.close().await.unwrap();

    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    client.set_window_size(1440, 900).await.unwrap();
    sign_in_to(&client, &base, "/admin", "kefu", support::PASSWORD).await;
    client
        .goto(&format!("{base}/admin/buckets?account={account}"))
        .await
        .unwrap();
    let ledger = client
        .find(Locator::Css("section.buckets"))
        .await
        .expect("the ledger")
        .text()
        .await
        .unwrap();
    assert!(ledger.contains("¥60.00"), "{ledger}");
    super::admin_browser::snap(&client, "23-buckets").await;
    client.close().await.unwrap();
}

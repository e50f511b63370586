//! Read-then-write races over real HTTP on both backends: many identical requests sent at once,
//! as a script would, must spend points, hand out units and use one-time things no more than
//! one request at a time may (PostgreSQL runs write transactions READ COMMITTED, in parallel).

use axum::http::StatusCode;
use shuipiao_server::notify::jobs;
use shuipiao_server::store::Store;

use super::{Browser, wallet_fixture};
use crate::support::{self, TestDb, audit, on_both_backends};

on_both_backends!(gift_orders_at_once_spend_the_points_once);

fn statuses(answers: &[support::Response]) -> Vec<u16> {
    answers.iter().map(|a| a.status.as_u16()).collect()
}

async fn gift_orders_at_once_spend_the_points_once(db: TestDb) {
    let server = support::start(&db).await;
    let fixture = wallet_fixture(&server).await;
    let store = &server.store;
    let now = shuipiao_server::unix_now();
    // Two delivered units: 20 points, enough for one 15-point cup of the ten in stock.
    jobs::usage(store, 10, now).await.unwrap();
    let cup = store
        .create_gift("水杯", 15, 10, now, &audit("gift.create"))
        .await
        .unwrap();
    let account = fixture.zhang[0].account_id;
    assert_eq!(store.points_balance(account).await.unwrap(), 20);

    let mut zhang = Browser::new(&server);
    zhang.sign_in("zhang").await;
    zhang.get("/wallet/points").await;
    let csrf = zhang.jar.get("sp_csrf").unwrap().to_string();
    let order = zhang.form(
        &format!("/wallet/points/gifts/{}", cup.id),
        &[("csrf", &csrf)],
    );
    let answers = server.at_once(vec![order; 10]).await;
    let ordered = answers
        .iter()
        .filter(|a| a.header("location") == Some("/wallet/points?done=1"))
        .count();
    let refused = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK && a.text.contains("积分不足"))
        .count();
    assert_eq!((ordered, refused), (1, 9), "{:?}", statuses(&answers));
    assert_eq!(store.points_balance(account).await.unwrap(), 5);
    let stock = store.gifts().await.unwrap()[0].stock;
    assert_eq!(stock, 9, "one cup left the stock");
}

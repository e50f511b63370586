//! Read-then-write races over real HTTP on both backends: many identical requests sent at once,
//! as a script would, must spend points, hand out units and use one-time things no more than
//! one request at a time may (PostgreSQL runs write transactions READ COMMITTED, in parallel).

use axum::http::{Method, StatusCode};
use serde_json::json;
use shuipiao_server::issuance::{self, Allocation, IssueOrder};
use shuipiao_server::notify::jobs;
use shuipiao_server::store::models::Role;
use shuipiao_shared::ids::BookId;
use shuipiao_shared::status::BookState;

use super::{Browser, wallet_fixture};
use crate::support::{self, Request, TestDb, TestServer, audit, on_both_backends};

on_both_backends!(
    gift_orders_at_once_spend_the_points_once,
    allocations_at_once_hand_out_the_pool_once,
    taking_back_while_a_redemption_lands_hands_out_no_used_unit,
    a_split_planned_before_a_redemption_landed_is_refused,
    one_time_actions_at_once_happen_once,
);

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
    let csrf = zhang.csrf();
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

/// The enterprise of the wallet fixture, a fresh 10-unit book in its pool, and its admin
/// signed in on the enterprise page with the page's CSRF token.
async fn enterprise_pool(server: &TestServer) -> (i64, Vec<i64>, BookId, Browser<'_>, String) {
    let store = &server.store;
    let enterprise = store
        .user_by_name("hjadmin")
        .await
        .unwrap()
        .spec
        .account_id
        .unwrap();
    let members = store.members(enterprise).await.unwrap();
    let package = store.packages().await.unwrap().last().unwrap().id;
    let order = IssueOrder {
        account_id: enterprise,
        package_id: package,
        quantity: 1,
        allocations: Vec::new(),
    };
    let now = shuipiao_server::unix_now();
    let pool = issuance::issue_order(store, &support::master(), &order, None, now)
        .await
        .unwrap()
        .books[0]
        .id;
    let mut admin = Browser::new(server);
    admin.sign_in("hjadmin").await;
    admin.get("/wallet/enterprise").await;
    let csrf = admin.csrf();
    let members = members.iter().map(|m| m.id).collect();
    (enterprise, members, pool, admin, csrf)
}

/// Units of the active books of `account` that replace `book`.
async fn units_from(server: &TestServer, account: i64, book: BookId) -> u16 {
    server
        .store
        .books_of_account(account)
        .await
        .unwrap()
        .iter()
        .filter(|b| b.issued.replaces == Some(book) && b.state == BookState::Active)
        .map(|b| b.issued.units)
        .sum()
}

async fn allocations_at_once_hand_out_the_pool_once(db: TestDb) {
    let server = support::start(&db).await;
    wallet_fixture(&server).await;
    let (enterprise, members, pool, admin, csrf) = enterprise_pool(&server).await;
    let give = admin.form(
        "/wallet/enterprise/allocate",
        &[
            ("book", &pool.0.to_string()),
            ("member", &members[0].to_string()),
            ("units", "3"),
            ("csrf", &csrf),
        ],
    );
    let answers = server.at_once(vec![give; 10]).await;
    let given = answers
        .iter()
        .filter(|a| a.header("location") == Some("/wallet/enterprise?done=1"))
        .count();
    // A request that read the book after the first one revoked it is told it is no longer
    // valid; one that read it before is told it just changed.
    let told = answers
        .iter()
        .filter(|a| {
            a.status == StatusCode::OK
                && (a.text.contains("该水票刚刚有变动,请刷新后重试")
                    || a.text.contains("只能分配有效的水票"))
        })
        .count();
    assert_eq!((given, told), (1, 9), "{:?}", statuses(&answers));
    assert_eq!(units_from(&server, members[0], pool).await, 3);
    assert_eq!(units_from(&server, enterprise, pool).await, 7);
}

async fn taking_back_while_a_redemption_lands_hands_out_no_used_unit(db: TestDb) {
    let server = support::start(&db).await;
    wallet_fixture(&server).await;
    let (enterprise, members, _, admin, csrf) = enterprise_pool(&server).await;
    let store = &server.store;
    let now = shuipiao_server::unix_now();
    let package = store.packages().await.unwrap().last().unwrap().id;
    let order = IssueOrder {
        account_id: enterprise,
        package_id: package,
        quantity: 4,
        allocations: vec![
            Allocation {
                account_id: members[0],
                units: 5,
            };
            8
        ],
    };
    let books = issuance::issue_order(store, &support::master(), &order, None, now)
        .await
        .unwrap()
        .books;
    let (_, plant_admin) = server.user("plant-admin", Role::Admin, None).await;
    let mut device = server.device(&plant_admin, "courier9").await;
    // Scanned after any take-back: once the book is revoked, the redemption counts nothing.
    device.clock = now as u64 + 3_600;
    for book in &books {
        let take_back = admin.form(
            "/wallet/enterprise/allocate",
            &[("book", &book.id.0.to_string()), ("csrf", &csrf)],
        );
        let redemption = device.redeem(book.id, 1);
        let push = Request::json(
            Method::POST,
            "/api/v1/sync/push",
            Some(&device.token),
            json!({ "events": [redemption] }),
        );
        let answers = server.at_once(vec![take_back, push]).await;
        assert!(answers[0].status != StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answers[1].status, StatusCode::OK, "{}", answers[1].text);
        let used = store.book(book.id).await.unwrap().used_units;
        let taken = units_from(&server, enterprise, book.id).await;
        assert!(
            used + taken <= 5,
            "book {}: {used} used and {taken} taken back of 5",
            book.id
        );
    }
}

/// The deterministic form of the race above: the book is read, a redemption lands, then the
/// split planned from the read is stored. The store checks the units left under its lock.
async fn a_split_planned_before_a_redemption_landed_is_refused(db: TestDb) {
    let server = support::start(&db).await;
    let store = &server.store;
    support::catalogue(store, 10).await;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    let account = support::customer_account(store, "周家").await;
    let order = IssueOrder {
        account_id: account.id,
        package_id: store.packages().await.unwrap()[0].id,
        quantity: 1,
        allocations: Vec::new(),
    };
    let now = shuipiao_server::unix_now();
    let issued = issuance::issue_order(store, &support::master(), &order, None, now)
        .await
        .unwrap()
        .books[0]
        .clone();
    let read = store.book(issued.id).await.unwrap();
    assert_eq!(read.used_units, 0);

    let mut device = server.device(&admin, "courier3").await;
    device.clock = now as u64 + 60;
    let redemption = device.redeem(issued.id, 3);
    let pushed = server
        .call(
            Method::POST,
            "/api/v1/sync/push",
            Some(&device.token),
            Some(json!({ "events": [redemption] })),
        )
        .await;
    assert_eq!(pushed.status, StatusCode::OK, "{}", pushed.text);

    let ids = store.allocate_book_ids(2).await.unwrap();
    let replacement = |id: u64, units: u16| shuipiao_server::store::models::NewBook {
        id: BookId(id),
        units,
        source: "reissue".into(),
        replaces: Some(issued.id),
        ..read.issued.clone()
    };
    let stale = store
        .replace_book(
            issued.id,
            &[replacement(ids.start, 10)],
            "用户挂失",
            now,
            &audit("book.reissue"),
        )
        .await;
    assert!(
        matches!(stale, Err(shuipiao_server::store::StoreError::Conflict(_))),
        "3 of the 10 units were used meanwhile: {stale:?}"
    );
    let book = store.book(issued.id).await.unwrap();
    assert_eq!((book.state, book.used_units), (BookState::Active, 3));
    store
        .replace_book(
            issued.id,
            &[replacement(ids.start + 1, 7)],
            "用户挂失",
            now,
            &audit("book.reissue"),
        )
        .await
        .unwrap();
}

async fn one_time_actions_at_once_happen_once(db: TestDb) {
    let server = support::start(&db).await;
    support::catalogue(&server.store, 2).await;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    let (_, operator) = server.user("op", Role::Operator, None).await;
    let (courier, _) = server.user("courier", Role::Courier, None).await;

    // One enrollment code enrolls one device.
    let code = server.enrollment_code(&admin, courier.id).await;
    let enrollments: Vec<Request> = (0..10)
        .map(|_| {
            let key =
                ed25519_dalek::SigningKey::from_bytes(&shuipiao_server::random::bytes::<32>());
            Request::json(
                Method::POST,
                "/api/v1/devices/enroll",
                None,
                json!({
                    "code": code,
                    "device_pubkey": data_encoding::HEXLOWER.encode(key.verifying_key().as_bytes()),
                    "name": "抢注的手机",
                }),
            )
        })
        .collect();
    let answers = server.at_once(enrollments).await;
    let enrolled = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    assert_eq!(enrolled, 1, "{:?}", statuses(&answers));
    assert!(
        answers
            .iter()
            .all(|a| a.status.is_success() || a.status.is_client_error())
    );
    assert_eq!(server.store.devices().await.unwrap().len(), 1);

    // One reissue of a lost book; the other requests find it revoked.
    let package = server.store.packages().await.unwrap()[0].id;
    let account = support::customer_account(&server.store, "孙家").await;
    let order = IssueOrder {
        account_id: account.id,
        package_id: package,
        quantity: 1,
        allocations: Vec::new(),
    };
    let now = shuipiao_server::unix_now();
    let book = issuance::issue_order(&server.store, &support::master(), &order, None, now)
        .await
        .unwrap()
        .books[0]
        .id;
    let reissue = Request::json(
        Method::POST,
        &format!("/api/v1/books/{book}/reissue"),
        Some(&operator),
        json!({ "reason": "用户挂失" }),
    );
    let answers = server.at_once(vec![reissue; 10]).await;
    let reissued = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    assert_eq!(reissued, 1, "{:?}", statuses(&answers));
    assert!(
        answers
            .iter()
            .all(|a| a.status.is_success() || a.status.is_client_error())
    );
    let books = server.store.books_of_account(account.id).await.unwrap();
    assert_eq!(books.len(), 2, "the lost book and one replacement");

    // One resolution of an over-redemption.
    let replacement = books.iter().find(|b| b.state == BookState::Active).unwrap();
    let mut device = server.device(&admin, "courier2").await;
    device.clock = now as u64 + 60;
    let events = [
        device.redeem(replacement.issued.id, 2),
        device.redeem(replacement.issued.id, 1),
    ];
    let pushed = server
        .call(
            Method::POST,
            "/api/v1/sync/push",
            Some(&device.token),
            Some(json!({ "events": events })),
        )
        .await;
    assert_eq!(pushed.status, StatusCode::OK, "{}", pushed.text);
    let path = format!("/api/v1/review/{}/resolve", events[1].event.event_id.0);
    let resolve = Request::json(
        Method::POST,
        &path,
        Some(&operator),
        json!({ "action": "write_off", "note": "多送了一桶" }),
    );
    let answers = server.at_once(vec![resolve; 10]).await;
    let resolved = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    assert_eq!(resolved, 1, "{:?}", statuses(&answers));
    assert!(
        answers
            .iter()
            .all(|a| a.status.is_success() || a.status.is_client_error())
    );
    let log = server.store.audit_log(50).await.unwrap();
    let resolutions = log.iter().filter(|e| e.action == "review.resolve").count();
    assert_eq!(resolutions, 1);
}

//! Scenario 10: the demo a newcomer runs (`shuipiao-server demo`, then an enrollment code from
//! `shuipiao-server enroll-code`). Every live book of the demo plant scans green on a courier's
//! phone of its region, none of the season's deliveries predates its book, and the
//! `shuipiao-courier` CLI delivers the product chosen on the device, so its first scan of a demo
//! ticket is green too. The demo makes a good first impression: `customer01` has a live book
//! whose QR page renders, a recent delivery, points and an open order; every redemption of its
//! year of history falls in working hours, and summers sell more water than winters. The
//! `--scale large` path runs at a small size with the same checks on its history.

use shuipiao_courier::data_dir::{DataDir, Settings};
use shuipiao_courier::engine::ScanOutcome;
use std::collections::BTreeMap;

use shuipiao_server::local_time;
use shuipiao_server::store::Store;
use shuipiao_server::store::delivery_orders::OrderState;
use shuipiao_server::store::models::{Book, Role};
use shuipiao_shared::event::EventBody;
use shuipiao_shared::ids::{ProductCode, ScopeId};
use shuipiao_shared::status::BookState;
use shuipiao_shared::verdict::RejectReason;
use shuipiao_test_support::TestDb;
use shuipiao_tests::api::Api;
use shuipiao_tests::device::Device;
use shuipiao_tests::inspect::ServerView;
use shuipiao_tests::plant::BUCKET;
use shuipiao_tests::processes::{ServerProcess, courier_command, enroll_code, enroll_courier};
use shuipiao_tests::world::{accepted, rejected};

shuipiao_test_support::on_both_backends!(
    every_live_demo_ticket_scans_green,
    the_cli_delivers_the_product_chosen_on_the_device,
    customer01_has_a_live_book_a_recent_delivery_points_and_an_open_order,
    the_scaled_demo_tells_the_same_story_with_progress
);

/// The books a customer can still use: active, not expired, with units left.
fn live_books(view: &ServerView) -> Vec<&Book> {
    let now = shuipiao_server::unix_now();
    view.books
        .values()
        .filter(|book| {
            book.state == BookState::Active
                && i64::from(book.issued.valid_until) > now
                && book.used_units < book.issued.units
        })
        .collect()
}

fn units_left(book: &Book) -> u16 {
    book.issued.units - book.used_units
}

async fn every_live_demo_ticket_scans_green(db: TestDb) {
    let server = ServerProcess::demo(&db).await;
    // One courier's phone in each of the demo's regions (武汉, 襄阳, 宜昌).
    let mut phones = Vec::new();
    for courier in ["courier11", "courier21", "courier31"] {
        let code = enroll_code(&db, courier).await;
        let phone = Device::enroll(&server.url, &code, &format!("{courier}的手机")).await;
        phone.sync().await;
        phones.push(phone);
    }

    let view = ServerView::load(&db.url).await;
    for book in view.books.values() {
        for event in view.events_of(book.issued.id) {
            if let EventBody::Redemption { .. } = event.event.body {
                assert!(
                    event.event.scanned_at >= u64::from(book.issued.valid_from),
                    "book {} was delivered at {} but is valid only from {}",
                    book.issued.id,
                    event.event.scanned_at,
                    book.issued.valid_from
                );
            }
        }
    }
    let live = live_books(&view);
    assert!(
        live.len() >= 11,
        "the demo's yearly and enterprise books are live: {live:#?}"
    );
    for book in live {
        let phone = phones
            .iter_mut()
            .find(|phone| {
                book.issued.scope == ScopeId::ANYWHERE || phone.scopes.contains(&book.issued.scope)
            })
            .unwrap_or_else(|| panic!("no demo courier serves book {book:#?}"));
        let outcome = phone.scan_for(&book.issued.qr_text, book.issued.product, 1);
        accepted(
            &format!("{} scanning demo book {}", phone.name, book.issued.id),
            &outcome,
            units_left(book) - 1,
        );
    }
}

/// `shuipiao-courier --json scan --text <qr>` without `--product`, as a newcomer types it.
fn cli_scan(db: &std::path::Path, qr: &str) -> ScanOutcome {
    let output = courier_command(db)
        .args(["scan", "--text", qr])
        .output()
        .expect("run shuipiao-courier scan");
    assert!(
        output.status.success(),
        "scan: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("a scan outcome as JSON")
}

async fn the_cli_delivers_the_product_chosen_on_the_device(db: TestDb) {
    let server = ServerProcess::demo(&db).await;
    let dir = tempfile::tempdir().expect("device dir");
    let device_db = dir.path().join("courier.db");
    let code = enroll_code(&db, "courier12").await;
    enroll_courier(&device_db, &server.url, &code, "courier12的电脑");

    let view = ServerView::load(&db.url).await;
    let buckets: Vec<&Book> = live_books(&view)
        .into_iter()
        .filter(|book| book.issued.product == BUCKET && book.issued.scope == ScopeId::ANYWHERE)
        .collect();
    assert!(buckets.len() >= 2, "live 18.9L books: {buckets:#?}");

    // A fresh device delivers what the app offers first, 18.9L buckets.
    let first = cli_scan(&device_db, &buckets[0].issued.qr_text);
    accepted(
        "the first scan with the CLI",
        &first,
        units_left(buckets[0]) - 1,
    );

    // The courier picks 11.3L in the app on the same data directory: the CLI delivers that.
    let data = DataDir::new(dir.path());
    let settings = Settings {
        last_product: ProductCode(113),
        ..data.settings().expect("the device's settings")
    };
    data.save_settings(&settings).expect("save the settings");
    let second = cli_scan(&device_db, &buckets[1].issued.qr_text);
    rejected(
        "an 18.9L ticket while delivering 11.3L",
        &second,
        RejectReason::WrongProduct,
        "产品不符",
    );
}

/// Redemptions of the history, each checked to fall in working hours (08:00–20:00 Beijing):
/// bottles per local day.
fn bottles_per_day(view: &ServerView) -> BTreeMap<String, u64> {
    let mut per_day = BTreeMap::new();
    for event in view.events.values() {
        if let EventBody::Redemption { units, .. } = event.event.body {
            let at = event.event.scanned_at as i64;
            let minute = local_time::minute_of_day(at);
            assert!(
                (8 * 60..20 * 60).contains(&minute),
                "a redemption at {} Beijing time",
                local_time::minute(at)
            );
            *per_day.entry(local_time::date(at)).or_default() += u64::from(units);
        }
    }
    per_day
}

/// Average bottles a day over every day from the first delivery to yesterday whose month is in
/// `months` (1–12); days without deliveries count as zero.
fn daily_average(per_day: &BTreeMap<String, u64>, months: &[u32]) -> f64 {
    let first = per_day.keys().next().expect("deliveries").clone();
    let today = local_time::date(shuipiao_server::unix_now());
    let (mut bottles, mut days) = (0, 0);
    let mut day = first;
    while day < today {
        let month: u32 = day[5..7].parse().expect("a month");
        if months.contains(&month) {
            bottles += per_day.get(&day).copied().unwrap_or(0);
            days += 1;
        }
        day = local_time::add_days(&day, 1).expect("a date");
    }
    assert!(days > 0, "no day of months {months:?} in the history");
    bottles as f64 / f64::from(days)
}

/// Months of history in working hours, busier in summer (June–September) than in winter
/// (November–February).
fn assert_believable_history(view: &ServerView, min_days: i64) {
    let per_day = bottles_per_day(view);
    let first = per_day.keys().next().expect("the demo delivered water");
    let span = (local_time::day_start(&local_time::date(shuipiao_server::unix_now())).unwrap()
        - local_time::day_start(first).unwrap())
        / 86_400;
    assert!(span >= min_days, "history from {first}: {span} days");
    if min_days >= 365 {
        let summer = daily_average(&per_day, &[6, 7, 8, 9]);
        let winter = daily_average(&per_day, &[11, 12, 1, 2]);
        assert!(
            summer > 1.3 * winter,
            "summer {summer:.1} bottles a day, winter {winter:.1}"
        );
    }
}

async fn customer01_has_a_live_book_a_recent_delivery_points_and_an_open_order(db: TestDb) {
    let server = ServerProcess::demo(&db).await;
    let now = shuipiao_server::unix_now();
    let store = Store::connect(&db.url)
        .await
        .expect("open the demo database");
    let customer = store.user_by_name("customer01").await.expect("customer01");
    let account = customer.spec.account_id.expect("customer01's account");
    let view = ServerView::load(&db.url).await;
    assert_believable_history(&view, 365);

    let live = live_books(&view);
    let book = live
        .iter()
        .find(|book| book.issued.account_id == account)
        .expect("customer01 holds a live book");
    let wallet = Api::login(
        &server.url,
        "customer01",
        shuipiao_server::demo::DEMO_PASSWORD,
    )
    .await;
    let page = wallet
        .page(&format!("/wallet/books/{}", book.issued.id))
        .await;
    assert!(
        page.contains("class=\"qr\"") && page.contains("<svg"),
        "the book's page shows its QR code: {page}"
    );

    let recent = view
        .events
        .values()
        .filter(|e| matches!(e.event.body, EventBody::Redemption { .. }))
        .filter(|e| {
            view.books
                .get(&e.event.body.book_id().expect("a redemption names its book"))
                .is_some_and(|b| b.issued.account_id == account)
        })
        .map(|e| e.event.scanned_at as i64)
        .max()
        .expect("customer01 had water delivered");
    assert!(
        now - recent <= 7 * 86_400,
        "customer01's last delivery was at {}",
        local_time::minute(recent)
    );
    assert!(store.points_balance(account).await.expect("points") > 0);
    let orders = store
        .orders_of_account(account, 100)
        .await
        .expect("customer01's orders");
    assert!(
        orders.iter().any(|o| matches!(
            o.state,
            OrderState::Pending | OrderState::Assigned | OrderState::Out
        )),
        "customer01 has an open order: {orders:#?}"
    );
    // Every courier of the default demo has today's list.
    let today = local_time::date(now);
    let day = store
        .dispatch_day(&today, None)
        .await
        .expect("today's orders");
    assert!(!day.is_empty(), "orders out with the couriers today");
}

async fn the_scaled_demo_tells_the_same_story_with_progress(db: TestDb) {
    let (_server, said) = ServerProcess::demo_with(
        &db,
        &[
            "--scale",
            "large",
            "--customers",
            "12",
            "--couriers",
            "9",
            "--days",
            "60",
        ],
    )
    .await;
    assert!(
        said.iter()
            .any(|line| line.starts_with("history: day 60/60")),
        "progress on stderr: {said:#?}"
    );
    assert!(
        said.iter().any(|line| line.contains("12 families")),
        "a summary: {said:#?}"
    );
    let store = Store::connect(&db.url)
        .await
        .expect("open the demo database");
    let users = store.users().await.expect("users");
    let count = |role: Role, prefix: &str| {
        users
            .iter()
            .filter(|u| u.spec.role == role && u.spec.username.starts_with(prefix))
            .count()
    };
    assert_eq!(count(Role::Customer, "customer"), 12);
    assert_eq!(count(Role::Courier, "courier"), 9);
    let view = ServerView::load(&db.url).await;
    view.assert_ledgers_consistent();
    assert_believable_history(&view, 55);
}

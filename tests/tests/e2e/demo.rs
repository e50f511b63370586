//! Scenario 10: the demo a newcomer runs (`shuipiao-server demo`, then an enrollment code from
//! `shuipiao-server enroll-code`). Every live book of the demo plant scans green on a courier's
//! phone of its region, none of the season's deliveries predates its book, and the
//! `shuipiao-courier` CLI delivers the product chosen on the device, so its first scan of a demo
//! ticket is green too.

use shuipiao_courier::data_dir::{DataDir, Settings};
use shuipiao_courier::engine::ScanOutcome;
use shuipiao_server::store::models::Book;
use shuipiao_shared::event::EventBody;
use shuipiao_shared::ids::{ProductCode, ScopeId};
use shuipiao_shared::status::BookState;
use shuipiao_shared::verdict::RejectReason;
use shuipiao_test_support::TestDb;
use shuipiao_tests::device::Device;
use shuipiao_tests::inspect::ServerView;
use shuipiao_tests::plant::BUCKET;
use shuipiao_tests::processes::{ServerProcess, courier_command, enroll_code, enroll_courier};
use shuipiao_tests::world::{accepted, rejected};

shuipiao_test_support::on_both_backends!(
    every_live_demo_ticket_scans_green,
    the_cli_delivers_the_product_chosen_on_the_device
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

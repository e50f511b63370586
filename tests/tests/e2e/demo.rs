//! Scenario 10: the demo a newcomer runs (`shuipiao-server demo`, then an enrollment code from
//! `shuipiao-server enroll-code`). Every live book of the demo plant scans green on a courier's
//! phone of its region, and none of the season's deliveries predates its book.

use shuipiao_server::store::models::Book;
use shuipiao_shared::event::EventBody;
use shuipiao_shared::ids::ScopeId;
use shuipiao_shared::status::BookState;
use shuipiao_tests::database::TestDb;
use shuipiao_tests::device::Device;
use shuipiao_tests::inspect::ServerView;
use shuipiao_tests::processes::{ServerProcess, enroll_code};
use shuipiao_tests::world::accepted;

crate::on_both_backends!(every_live_demo_ticket_scans_green);

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

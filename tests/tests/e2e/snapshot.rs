//! Scenario: a device far behind loads the server's root-signed status snapshot instead of
//! pulling a row per book, then pulls only what came after it; a device close behind keeps
//! pulling rows. The server pages one row at a time here, so "far" is 50 status changes.

use shuipiao_courier::engine::OutcomeKind;
use shuipiao_courier::store::meta;
use shuipiao_courier::sync::FAR_BEHIND_PAGES;
use shuipiao_shared::ids::ScopeId;
use shuipiao_shared::status::BookState;
use shuipiao_shared::verdict::RejectReason;
use shuipiao_test_support::TestDb;
use shuipiao_tests::plant::BUCKET;
use shuipiao_tests::world::{World, accepted, rejected};

shuipiao_test_support::on_both_backends!(far_behind_device_loads_the_snapshot);

async fn far_behind_device_loads_the_snapshot(db: TestDb) {
    let world = World::start_with(db, |config| config.pull_page_size = 1).await;
    let plant = &world.plant;
    let single = plant
        .package("单桶水票", 1, BUCKET, ScopeId::ANYWHERE, 31)
        .await;
    let customer = plant.customer("snapshot-customer").await;
    let far = usize::try_from(FAR_BEHIND_PAGES).expect("small");
    let books = plant.issue(&customer, single, far as u32 + 10).await;
    let mut qr = Vec::new();
    for &book in &books {
        qr.push(customer.qr_text(book).await);
    }

    // One courier uses up more books than the snapshot threshold; three are revoked.
    let mut busy = world.device("courier-busy").await;
    busy.sync().await;
    for text in &qr[..far + 2] {
        accepted("courier-busy", &busy.scan(text, 1), 0);
    }
    busy.sync().await;
    let revoked = &books[far + 2..far + 5];
    for &book in revoked {
        assert_eq!(plant.revoke(book).await.state, BookState::Revoked);
    }

    // A new device: one page of rows, then the snapshot, then nothing left to pull.
    let mut new = world.device("courier-new").await;
    let report = new.sync().await;
    let view = world.view().await;
    let head = view
        .books
        .values()
        .filter_map(|book| book.status_seq)
        .max()
        .expect("books have changed");
    assert_eq!(report.snapshot_seq, Some(head as u64), "{report:?}");
    assert_eq!(
        report.pulled_rows, 1,
        "one page before the snapshot: {report:?}"
    );
    let cursor = meta::read(new.engine().connection()).expect("meta").cursor;
    assert_eq!(cursor, head as u64, "pulls continue after the snapshot");
    for &book in &books[..far + 2] {
        let seen = new.view(book);
        assert!(
            seen.used_units >= 1 && !seen.revoked,
            "book {book}: {seen:?}"
        );
    }
    for &book in revoked {
        assert!(new.view(book).revoked, "book {book}");
    }
    let used = new.scan(&qr[0], 1);
    assert_eq!(
        (used.kind, used.title.as_str()),
        (OutcomeKind::AlreadyUsed, "已使用"),
        "{used:#?}"
    );
    rejected(
        "courier-new",
        &new.scan(&qr[far + 2], 1),
        RejectReason::Revoked,
        "已作废",
    );
    accepted("courier-new", &new.scan(&qr[far + 5], 1), 0);

    // The busy device is only three changes behind: it pulls rows and loads no snapshot.
    let report = busy.sync().await;
    assert_eq!(report.snapshot_seq, None, "{report:?}");
    for &book in revoked {
        assert!(busy.view(book).revoked, "book {book}");
    }

    new.sync().await;
    busy.sync().await;
    let view = world.view().await;
    view.assert_holds_exactly("courier-new", new.id, &new.events());
    view.assert_holds_exactly("courier-busy", busy.id, &busy.events());
    view.assert_book(books[far + 5], 1, BookState::UsedUp);
    view.assert_ledgers_consistent();
}

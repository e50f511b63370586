//! Scenario 1: an admin issues a 10-unit book, the customer shows its QR, a courier offline
//! redeems 3, syncs, the server counts 3 (7 left) and a second courier pulls and sees 7.

use shuipiao_shared::ledger::Outcome;
use shuipiao_shared::status::BookState;
use shuipiao_test_support::TestDb;
use shuipiao_tests::device::Device;
use shuipiao_tests::world::{World, accepted};

shuipiao_test_support::on_both_backends!(happy_path);

async fn happy_path(db: TestDb) {
    let world = World::start(db).await;
    let plant = &world.plant;
    let (book, qr) = plant.family_book("zhang-wei").await;

    let mut first = world.device("courier-li").await;
    let second: Device = world.device("courier-wang").await;
    first.sync().await;
    second.sync().await;

    // Out of signal range: the last sync is more than five minutes old.
    first.clock.advance_secs(3600);
    let outcome = first.scan(&qr, 3);
    let redemption = accepted("courier-li", &outcome, 7);
    assert!(
        outcome.flags.offline,
        "made without a network: {outcome:#?}"
    );
    assert_eq!(
        first.view(book).used_units,
        3,
        "the device counts its own redemption"
    );

    let report = first.sync().await;
    assert_eq!(
        (report.pushed, report.acknowledged, report.rejected),
        (1, 1, 0)
    );
    assert_eq!(
        first.view(book).used_units,
        3,
        "after the pull the device must count the redemption once, not twice"
    );

    let view = world.view().await;
    view.assert_holds_exactly("courier-li", first.id, &first.events());
    view.assert_holds_exactly("courier-wang", second.id, &second.events());
    view.assert_book(book, 3, BookState::Active);
    view.assert_outcome(redemption, Outcome::Counted, None);
    view.assert_ledgers_consistent();
    assert_eq!(view.ledger(book).remaining, 7);
    let seen_by_admin = plant.book(book).await;
    assert_eq!(seen_by_admin.used_units, 3, "admin API: {seen_by_admin:#?}");

    second.sync().await;
    let seen = second.view(book);
    assert_eq!(
        (seen.used_units, seen.revoked),
        (3, false),
        "the second courier must see 7 of 10 left after pulling"
    );
}

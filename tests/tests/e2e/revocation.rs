//! Scenario 3: a book revoked on the server is refused by a device after its next pull, and a
//! device that was offline during the revocation redeems it; the server flags that redemption
//! `after_revocation` and counts nothing.

use shuipiao_courier::engine::OutcomeKind;
use shuipiao_shared::event::{EventBody, Refusal};
use shuipiao_shared::ledger::Outcome;
use shuipiao_shared::status::BookState;
use shuipiao_shared::verdict::RejectReason;
use shuipiao_test_support::TestDb;
use shuipiao_tests::world::{World, accepted, rejected};

shuipiao_test_support::on_both_backends!(revocation);

async fn revocation(db: TestDb) {
    let world = World::start(db).await;
    let plant = &world.plant;
    let (book, qr) = plant.family_book("lost-card").await;

    let mut online = world.device("courier-online").await;
    let mut offline = world.device("courier-offline").await;
    online.sync().await;
    offline.sync().await;

    let revoked = plant.revoke(book).await;
    assert_eq!(revoked.state, BookState::Revoked);

    online.sync().await;
    assert!(online.view(book).revoked, "the pull carries the revocation");
    let refused = rejected(
        "courier-online",
        &online.scan(&qr, 1),
        RejectReason::Revoked,
        "已作废",
    );

    // The other courier never heard of it and, honestly, delivers.
    offline.clock.advance_secs(1800);
    let late = accepted("courier-offline", &offline.scan(&qr, 2), 8);
    offline.sync().await;
    online.sync().await;

    let view = world.view().await;
    view.assert_holds_exactly("courier-online", online.id, &online.events());
    view.assert_holds_exactly("courier-offline", offline.id, &offline.events());
    view.assert_book(book, 0, BookState::Revoked);
    view.assert_outcome(late, Outcome::AfterRevocation, None);
    view.assert_ledgers_consistent();
    let attempt = &view.events[&refused];
    assert_eq!(
        attempt.event.body,
        EventBody::ScanAttempt {
            book_id: Some(book),
            refusal: Refusal::Rejected(RejectReason::Revoked)
        },
        "the refusal is uploaded for support"
    );
    let open = plant.review(false).await;
    assert_eq!(
        open.iter()
            .map(|item| (item.event_id, item.book_id, item.reason.as_str()))
            .collect::<Vec<_>>(),
        vec![(late, Some(book), "after_revocation")],
        "{open:#?}"
    );

    // After its own sync the offline device refuses the book too.
    assert!(offline.view(book).revoked);
    let again = offline.scan(&qr, 1);
    assert_eq!(again.kind, OutcomeKind::Rejected, "{again:#?}");
    assert_eq!(again.reason, Some(RejectReason::Revoked), "{again:#?}");
}

//! Scenario 2: one printed 1-unit ticket, two couriers, both offline. Both accept (honest
//! offline behaviour); after sync exactly one redemption counts and the other is
//! `over_redeemed` in the review queue; the operator's resolution is recorded; both devices
//! learn the book is used up.

use shuipiao_courier::engine::OutcomeKind;
use shuipiao_shared::ids::ScopeId;
use shuipiao_shared::ledger::{Outcome, ResolutionAction};
use shuipiao_shared::status::BookState;
use shuipiao_test_support::TestDb;
use shuipiao_tests::plant::BUCKET;
use shuipiao_tests::world::{World, accepted};

shuipiao_test_support::on_both_backends!(offline_double_spend);

async fn offline_double_spend(db: TestDb) {
    let world = World::start(db).await;
    let plant = &world.plant;
    let package = plant
        .package("单张纸质水票", 1, BUCKET, ScopeId::ANYWHERE, 31)
        .await;
    let customer = plant.customer("elder-chen").await;
    let ticket = plant.issue(&customer, package, 1).await[0];
    let qr = customer.qr_text(ticket).await;

    let mut li = world.device("courier-li").await;
    let mut wang = world.device("courier-wang").await;
    li.sync().await;
    wang.sync().await;

    // Both out of signal; Li is at the door a minute before Wang (device clocks).
    li.clock.advance_secs(3600);
    wang.clock.advance_secs(3660);
    let first = accepted("courier-li", &li.scan(&qr, 1), 0);
    let second = accepted("courier-wang", &wang.scan(&qr, 1), 0);

    // Wang comes back online first: arrival order must not matter.
    wang.sync().await;
    li.sync().await;

    let view = world.view().await;
    view.assert_holds_exactly("courier-li", li.id, &li.events());
    view.assert_holds_exactly("courier-wang", wang.id, &wang.events());
    view.assert_book(ticket, 1, BookState::UsedUp);
    view.assert_outcome(first, Outcome::Counted, None);
    view.assert_outcome(second, Outcome::OverRedeemed, None);
    view.assert_ledgers_consistent();
    let open = plant.review(false).await;
    assert_eq!(
        open.iter()
            .map(|item| (item.event_id, item.book_id, item.reason.as_str()))
            .collect::<Vec<_>>(),
        vec![(second, Some(ticket), "over_redeemed")],
        "the review queue must hold exactly Wang's redemption: {open:#?}"
    );

    // The operator charges the customer for the second bucket.
    plant
        .resolve(second, ResolutionAction::Charge, "客户同意补缴一桶水费")
        .await;
    let view = world.view().await;
    view.assert_outcome(
        second,
        Outcome::OverRedeemed,
        Some(ResolutionAction::Charge),
    );
    view.assert_book(ticket, 1, BookState::UsedUp);
    view.assert_ledgers_consistent();
    assert_eq!(
        view.resolutions
            .iter()
            .map(|r| (r.target, r.book_id, r.action))
            .collect::<Vec<_>>(),
        vec![(second, ticket, ResolutionAction::Charge)],
        "exactly one resolution, recorded as a ledger event"
    );
    assert!(plant.review(false).await.is_empty(), "nothing left open");
    let all = plant.review(true).await;
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(
        all[0].resolution,
        Some(ResolutionAction::Charge),
        "{all:#?}"
    );
    assert_eq!(
        all[0].resolution_event_id,
        Some(view.resolutions[0].event_id),
        "{all:#?}"
    );

    // Both devices learn the ticket is used up, and neither redeems it again.
    li.sync().await;
    wang.sync().await;
    for device in [&mut li, &mut wang] {
        let seen = device.view(ticket);
        assert_eq!(seen.used_units, 1, "{}: {seen:?}", device.name);
        let again = device.scan(&qr, 1);
        assert_eq!(
            (again.kind, again.title.as_str()),
            (OutcomeKind::AlreadyUsed, "已使用"),
            "{}: {again:#?}",
            device.name
        );
    }
    li.sync().await;
    wang.sync().await;
    let view = world.view().await;
    view.assert_book(ticket, 1, BookState::UsedUp);
    view.assert_holds_exactly("courier-li", li.id, &li.events());
    view.assert_holds_exactly("courier-wang", wang.id, &wang.events());
}

//! Scenario 6: freshness with the device clock moved, not slept. With data 30 h old the device
//! accepts within its offline budget (2 units per book) and marks the events stale; past the
//! budget it refuses with 离线额度已用完. At 80 h it refuses with 数据过旧 unless a supervisor
//! PIN overrides, which is recorded. The server counts them and puts them in front of an
//! operator as `flagged`.

use shuipiao_courier::engine::{Freshness, Warning};
use shuipiao_server::store::models::ReviewReason;
use shuipiao_shared::ids::ScopeId;
use shuipiao_shared::ledger::Outcome;
use shuipiao_shared::status::BookState;
use shuipiao_shared::verdict::RejectReason;
use shuipiao_test_support::TestDb;
use shuipiao_tests::plant::BUCKET;
use shuipiao_tests::world::{World, accepted, rejected};

shuipiao_test_support::on_both_backends!(freshness);

const HOUR: u64 = 3600;

async fn freshness(db: TestDb) {
    let world = World::start(db).await;
    let plant = &world.plant;
    let package = plant
        .package("企业年套餐", 10, BUCKET, ScopeId::ANYWHERE, 365)
        .await;
    let customer = plant.customer("factory").await;
    let books = plant.issue(&customer, package, 2).await;
    let (first_book, second_book) = (books[0], books[1]);
    let first = customer.qr_text(first_book).await;
    let second = customer.qr_text(second_book).await;

    let mut device = world.device("courier-mountain").await;
    device.sync().await;
    device
        .engine()
        .set_supervisor_pin("246810")
        .expect("set the supervisor PIN");

    // 30 hours in the mountains without signal.
    device.clock.advance_secs(30 * HOUR);
    assert_eq!(device.status().freshness, Freshness::Stale);
    let stale_a = device.scan(&first, 1);
    let stale_a_id = accepted("30 h, first unit", &stale_a, 9);
    assert!(stale_a.flags.stale && stale_a.flags.offline, "{stale_a:#?}");
    assert!(
        stale_a.warnings.contains(&Warning::DataStale),
        "{stale_a:#?}"
    );
    let stale_b = device.scan(&first, 1);
    let stale_b_id = accepted("30 h, second unit", &stale_b, 8);
    assert!(stale_b.flags.stale, "{stale_b:#?}");
    let over_budget = rejected(
        "30 h, third unit",
        &device.scan(&first, 1),
        RejectReason::OfflineBudgetExceeded,
        "离线额度已用完",
    );

    // 80 hours: refused, unless the supervisor overrides.
    device.clock.advance_secs(50 * HOUR);
    assert_eq!(device.status().freshness, Freshness::TooOld);
    let too_old = rejected(
        "80 h",
        &device.scan(&second, 1),
        RejectReason::StaleData,
        "数据过旧",
    );
    let overridden = device.scan_with(&second, BUCKET, 1, Some("246810"));
    let overridden_id = accepted("80 h with supervisor PIN", &overridden, 9);
    assert!(
        overridden.flags.supervisor_override && overridden.flags.stale,
        "the override is recorded on the event: {overridden:#?}"
    );

    device.sync().await;
    assert_eq!(device.status().freshness, Freshness::Fresh);
    let view = world.view().await;
    view.assert_holds_exactly("courier-mountain", device.id, &device.events());
    view.assert_ledgers_consistent();
    view.assert_book(first_book, 2, BookState::Active);
    view.assert_book(second_book, 1, BookState::Active);
    for id in [stale_a_id, stale_b_id, overridden_id] {
        view.assert_outcome(id, Outcome::Counted, None);
        assert!(
            view.events[&id].event.flags.stale,
            "event {id}: stale flag lost"
        );
    }
    assert!(view.events[&overridden_id].event.flags.supervisor_override);
    for id in [over_budget, too_old] {
        assert!(
            view.ledger(first_book)
                .redemptions
                .iter()
                .chain(view.ledger(second_book).redemptions.iter())
                .all(|r| r.event_id != id),
            "refused scan {id} must not be in a ledger"
        );
    }
    let mut flagged: Vec<_> = plant
        .review(false)
        .await
        .into_iter()
        .filter(|item| item.reasons.contains(&ReviewReason::Flagged))
        .map(|item| item.event_id)
        .collect();
    flagged.sort();
    let mut expected = vec![stale_a_id, stale_b_id, overridden_id];
    expected.sort();
    assert_eq!(
        flagged, expected,
        "stale and overridden redemptions go to an operator"
    );
}

//! Scenario 5a: three couriers sync through a proxy that refuses connections, cuts requests,
//! delays, cuts answers after the server acted, and sends requests twice. Between syncs they
//! keep scanning (and undoing) offline on shared books, and delivering the orders of their
//! delivery lists. After the network heals: every event is on the server exactly once, every
//! ledger equals the pure ledger of the stored events, every device sees exactly the server's
//! counts, and every order a phone delivered is 已送达 with its customer told once.

use std::collections::BTreeMap;

use serde_json::json;
use shuipiao_courier::engine::{Handover, OutcomeKind};
use shuipiao_server::store::delivery_orders::OrderState;
use shuipiao_server::store::models::{MessageKind, NotificationFilter};
use shuipiao_shared::event::EventBody;
use shuipiao_shared::ids::{BookId, ScopeId};
use shuipiao_test_support::TestDb;
use shuipiao_test_support::rng::Rng;
use shuipiao_tests::device::Device;
use shuipiao_tests::inspect::live_redemptions;
use shuipiao_tests::plant::BUCKET;
use shuipiao_tests::proxy::{FaultProxy, Plan};
use shuipiao_tests::world::World;

shuipiao_test_support::on_both_backends!(sync_through_a_faulty_network);

/// Sync rounds under faults; `SHUIPIAO_E2E_FAULT_ROUNDS` raises it.
const DEFAULT_ROUNDS: usize = 25;
/// Cash orders each courier has in their list.
const ORDERS_PER_COURIER: usize = 4;

/// Tomorrow's cash orders, [`ORDERS_PER_COURIER`] per device, each assigned to its courier.
struct Orders {
    day: String,
}

async fn cash_orders(world: &World, devices: &[Device]) -> Orders {
    let plant = &world.plant;
    let customer = plant
        .phone_customer(&world.server.store, "order-family", "13900000001")
        .await;
    let address = customer
        .wallet
        .post(
            "/api/v1/addresses",
            &json!({"region_id": plant.home_region, "community": "光谷花园", "building": "1栋",
                "contact": "李女士", "phone": "13900000001"}),
        )
        .await;
    let day = shuipiao_server::local_time::date(shuipiao_server::unix_now() + 86_400);
    for device in devices {
        for n in 0..ORDERS_PER_COURIER {
            let order = customer
                .wallet
                .post(
                    "/api/v1/delivery-orders",
                    &json!({"address_id": address["id"], "product": 189, "bottles": 1 + n,
                        "slot_date": day, "slot": "morning", "payment": "cash"}),
                )
                .await;
            plant
                .admin
                .post(
                    &format!("/api/v1/dispatch/orders/{}/assign", order["id"]),
                    &json!({"courier_id": device.courier.0}),
                )
                .await;
        }
    }
    Orders { day }
}

async fn sync_through_a_faulty_network(db: TestDb) {
    let rounds = shuipiao_tests::env_count("SHUIPIAO_E2E_FAULT_ROUNDS", DEFAULT_ROUNDS);
    let mut rng = Rng::from_env("sync_through_a_faulty_network");
    let world = World::start(db).await;
    let plant = &world.plant;
    let package = plant
        .package("企业年套餐", 12, BUCKET, ScopeId::ANYWHERE, 31)
        .await;
    let customer = plant.customer("busy-office").await;
    let books = plant.issue(&customer, package, 6).await;
    let mut codes: BTreeMap<BookId, String> = BTreeMap::new();
    for book in &books {
        codes.insert(*book, customer.qr_text(*book).await);
    }

    let proxy = FaultProxy::start(world.server.addr, Rng::new(rng.next_u64())).await;
    let mut devices = Vec::new();
    for name in ["courier-1", "courier-2", "courier-3"] {
        let code = plant.courier_code(name).await;
        devices.push(Device::enroll(&proxy.url, &code, name).await);
    }
    let orders = cash_orders(&world, &devices).await;
    for device in &devices {
        device.sync().await;
    }
    // Each phone's orders still to deliver.
    let mut to_deliver: Vec<Vec<u64>> = devices
        .iter()
        .map(|device| {
            let listed = device.deliveries(&orders.day);
            listed.items.iter().map(|item| item.task.order_id).collect()
        })
        .collect();
    assert!(
        to_deliver
            .iter()
            .all(|list| list.len() == ORDERS_PER_COURIER),
        "every phone has its orders: {to_deliver:?}"
    );
    let mut delivered = Vec::new();

    proxy.set_plan(Plan::Random { percent: 70 });
    let (mut failures, mut successes) = (0u32, 0u32);
    for _ in 0..rounds {
        for (idx, device) in devices.iter_mut().enumerate() {
            for _ in 0..=rng.below(3) {
                let book = books[rng.below(books.len() as u64) as usize];
                let quantity = 1 + rng.below(2) as u16;
                let outcome = device.scan(&codes[&book], quantity);
                if outcome.kind == OutcomeKind::Accepted
                    && rng.chance(15)
                    && let Some(id) = outcome.event_id
                {
                    device.engine().undo(id).expect("undo within two minutes");
                }
            }
            if rng.chance(30)
                && let Some(order) = to_deliver[idx].pop()
            {
                let cash = Handover::Cash {
                    empties: rng.below(2) as u16,
                    deposits: 0,
                };
                device
                    .engine()
                    .deliver(order, cash)
                    .expect("deliver for cash");
                delivered.push(order);
            }
            match device.try_sync().await {
                Ok(_) => successes += 1,
                Err(_) => failures += 1,
            }
        }
    }
    let stats = proxy.stats();
    eprintln!("{rounds} rounds: {successes} syncs succeeded, {failures} failed; proxy {stats:?}");
    assert!(
        stats.refused > 0
            && stats.dropped > 0
            && stats.delayed > 0
            && stats.truncated > 0
            && stats.duplicated > 0,
        "every kind of fault must have happened at least once: {stats:?}"
    );
    assert!(failures > 0, "faults must have broken some syncs");

    // The network heals.
    proxy.set_plan(Plan::Clean);
    for device in &devices {
        device.sync().await;
        let state = device.status().sync;
        assert_eq!(
            (state.pending, state.rejected),
            (0, 0),
            "{}: everything stored after one clean sync: {state:?}",
            device.name
        );
    }
    for device in &devices {
        device.sync().await;
    }

    let view = world.view().await;
    for device in &devices {
        view.assert_holds_exactly(&device.name, device.id, &device.events());
    }
    view.assert_ledgers_consistent();
    assert!(!delivered.is_empty(), "some orders were delivered");
    for order in &delivered {
        let seen = world.server.store.delivery_order(*order as i64).await;
        let seen = seen.expect("the order");
        assert_eq!(seen.state, OrderState::Delivered, "order {order}");
    }
    for order in to_deliver.iter().flatten() {
        let seen = world.server.store.delivery_order(*order as i64).await;
        assert_eq!(
            seen.expect("the order").state,
            OrderState::Out,
            "order {order}"
        );
    }
    assert!(
        plant
            .review(false)
            .await
            .iter()
            .all(|item| item.order_id.is_none()),
        "no delivery needs review"
    );
    let told = world
        .server
        .store
        .list_notifications(
            &NotificationFilter {
                kind: Some(MessageKind::OrderDelivered),
                ..NotificationFilter::default()
            },
            1_000,
        )
        .await
        .expect("notifications");
    let mut told_orders: Vec<u64> = told
        .iter()
        .filter_map(|m| {
            m.spec
                .dedupe_key
                .as_deref()?
                .split(':')
                .nth(1)?
                .parse()
                .ok()
        })
        .collect();
    told_orders.sort_unstable();
    let mut expected = delivered.clone();
    expected.sort_unstable();
    assert_eq!(told_orders, expected, "each delivered order told once");
    let mut all_events = Vec::new();
    for device in &devices {
        all_events.extend(device.events());
    }
    let live = live_redemptions(&all_events);
    for book in &books {
        let ledger = view.ledger(*book);
        let delivered: u16 = live
            .get(book)
            .map(|ids| {
                ids.iter()
                    .map(|id| match view.events[id].event.body {
                        EventBody::Redemption { units, .. } => units,
                        _ => 0,
                    })
                    .sum()
            })
            .unwrap_or(0);
        let in_ledger: u16 = ledger
            .redemptions
            .iter()
            .filter(|r| r.outcome != shuipiao_shared::ledger::Outcome::Voided)
            .map(|r| r.units)
            .sum();
        assert_eq!(
            in_ledger, delivered,
            "book {book}: devices delivered {delivered} units not undone, the ledger holds {in_ledger}"
        );
        // Redemptions count in ledger order while they fit, so a book can end a few units short
        // of full when a larger redemption did not fit into what was left.
        if delivered <= 12 {
            assert_eq!(
                ledger.used_units, delivered,
                "book {book}: everything delivered must be counted"
            );
        }
        for over in ledger
            .redemptions
            .iter()
            .filter(|r| r.outcome == shuipiao_shared::ledger::Outcome::OverRedeemed)
        {
            assert!(
                over.units > ledger.remaining,
                "book {book}: {over:?} would have fitted into the {} units left",
                ledger.remaining
            );
        }
        for device in &devices {
            assert_eq!(
                device.view(*book).used_units,
                view.book(*book).used_units,
                "{}: book {book} seen differently from the server after the final pull",
                device.name
            );
        }
    }
}

//! Scenario: the plant's day at the door. A customer orders two bottles in the wallet, paid with
//! a ticket book; the dispatcher assigns the order; the courier's phone pulls its list, goes out
//! of signal range, scans the customer's book at the door and takes back two empties, then
//! syncs: the order is 已送达, the book counts two units, the reservation is released, the
//! bucket ledger holds exactly what crossed the door and the customer heard of the dispatch and
//! of the delivery once each.
//!
//! Then an order reassigned while its first courier was offline is delivered by both couriers:
//! it closes once, and the second delivery waits in the review queue.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shuipiao_courier::engine::{DoorInput, Handover, ScanSource};
use shuipiao_server::store::models::{MessageKind, NotificationFilter, ReviewReason};
use shuipiao_shared::status::BookState;
use shuipiao_test_support::TestDb;
use shuipiao_tests::api::Api;
use shuipiao_tests::device::Device;
use shuipiao_tests::plant::{Customer, Plant};
use shuipiao_tests::server::PASSWORD;
use shuipiao_tests::world::World;

shuipiao_test_support::on_both_backends!(a_delivery_at_the_door, two_couriers_deliver_one_order);

/// The wallet's address for the customer, in the plant's home region; the customer's app is
/// bound for push messages, so the order's messages have somewhere to go.
async fn address(plant: &Plant, customer: &Customer) -> Value {
    let bound = customer
        .wallet
        .call(
            Method::PUT,
            "/api/v1/me/channels/push",
            Some(&json!({"address": "push-token-wang-fang"})),
        )
        .await;
    assert_eq!(bound.status, StatusCode::NO_CONTENT, "{:?}", bound.json);
    plant.home_address(customer).await
}

/// A dispatcher's session.
async fn dispatcher(world: &World) -> Api {
    let plant = &world.plant;
    plant
        .admin
        .post(
            "/api/v1/users",
            &json!({"username": "diao-du", "password": PASSWORD, "role": "dispatcher"}),
        )
        .await;
    Api::login(&plant.admin.base, "diao-du", PASSWORD).await
}

async fn assign(dispatcher: &Api, order: u64, device: &Device) {
    dispatcher
        .post(
            &format!("/api/v1/dispatch/orders/{order}/assign"),
            &json!({"courier_id": device.courier.0}),
        )
        .await;
}

/// The kinds of the messages queued about `order`, in queueing order.
async fn told(world: &World, order: u64) -> Vec<MessageKind> {
    let mut messages = world
        .server
        .store
        .list_notifications(&NotificationFilter::default(), 1_000)
        .await
        .expect("notifications");
    messages.sort_by_key(|m| m.id);
    messages
        .into_iter()
        .filter(|m| {
            m.spec.dedupe_key.as_deref().is_some_and(|key| {
                key.split(':').nth(1) == Some(order.to_string().as_str())
                    && key.starts_with("order_")
            })
        })
        .map(|m| m.spec.kind)
        .collect()
}

async fn a_delivery_at_the_door(db: TestDb) {
    let world = World::start(db).await;
    let plant = &world.plant;
    let customer = plant
        .phone_customer(&world.server.store, "wang-fang", "13800138000")
        .await;
    let (book, qr) = plant.family_book_for(&customer).await;
    let address = address(plant, &customer).await;
    // The family kept two buckets from before the plant counted them here.
    let buckets_path = format!("/api/v1/accounts/{}/buckets", customer.account_id);
    plant
        .admin
        .post(
            &format!("{buckets_path}/records"),
            &json!({"product": 189, "kind": "opening", "buckets": 2, "method": "cash",
                "note": "系统上线前的存桶"}),
        )
        .await;
    let tomorrow = shuipiao_server::local_time::date(shuipiao_server::unix_now() + 86_400);
    let order = customer
        .wallet
        .post(
            "/api/v1/delivery-orders",
            &json!({"address_id": address["id"], "product": 189, "bottles": 2,
                "slot_date": tomorrow, "slot": "morning", "payment": "tickets",
                "book_id": book.0}),
        )
        .await;
    let order_id = order["id"].as_u64().expect("order id");
    let orderable = |wallet: &Api| {
        let wallet = wallet.clone();
        async move {
            let books: Value = wallet.get("/api/v1/books/orderable").await;
            books
                .as_array()
                .expect("orderable books")
                .iter()
                .find(|b| b["book_id"] == book.0)
                .map(|b| b["orderable"].clone())
        }
    };
    assert_eq!(
        orderable(&customer.wallet).await,
        Some(json!(8)),
        "reserved"
    );

    let dispatcher = dispatcher(&world).await;
    let mut li = world.device("courier-li").await;
    assign(&dispatcher, order_id, &li).await;
    li.sync().await;
    assert_eq!(li.delivery_ids(&tomorrow), [order_id]);

    // Out of signal range: the courier scans the book at the door and takes two empties back.
    li.clock.advance_secs(3_600);
    let door = DoorInput {
        source: ScanSource::Camera,
        supervisor_pin: None,
    };
    let done = li
        .engine()
        .deliver_scanned(order_id, &qr, &door, 2, 0)
        .expect("delivered at the door");
    assert!(done.event_id.is_some(), "{done:?}");
    let list = li.deliveries(&tomorrow);
    assert_eq!((list.done, list.left), (1, 0));
    assert_eq!(li.view(book).used_units, 2, "the phone counts its scan");

    let report = li.sync().await;
    assert_eq!((report.pushed, report.rejected), (2, 0), "{report:?}");
    let seen: Value = customer
        .wallet
        .get(&format!("/api/v1/delivery-orders/{order_id}"))
        .await;
    assert_eq!(seen["state_label"], "已送达", "{seen}");
    assert_eq!(plant.book(book).await.used_units, 2);
    assert_eq!(
        orderable(&customer.wallet).await,
        Some(json!(8)),
        "the reservation is released as the units are spent"
    );
    assert_eq!(
        told(&world, order_id).await,
        [MessageKind::OrderAssigned, MessageKind::OrderDelivered]
    );
    assert!(plant.review(false).await.is_empty(), "nothing odd");
    // Two full buckets in, two empties out: the family still holds two, with no deposit.
    let buckets: Value = customer.wallet.get(&buckets_path).await;
    let ledger = &buckets["products"][0];
    assert_eq!(
        (
            &ledger["delivered"],
            &ledger["returned"],
            &ledger["held"],
            &ledger["deposits"],
            &ledger["owed"],
            &ledger["held_back"]
        ),
        (
            &json!(4),
            &json!(2),
            &json!(2),
            &json!(0),
            &json!(2),
            &json!(0)
        ),
        "{buckets}"
    );

    // Syncing again changes nothing.
    li.sync().await;
    let view = world.view().await;
    view.assert_holds_exactly("courier-li", li.id, &li.events());
    view.assert_book(book, 2, BookState::Active);
    view.assert_ledgers_consistent();
    assert_eq!(
        told(&world, order_id).await,
        [MessageKind::OrderAssigned, MessageKind::OrderDelivered]
    );
}

async fn two_couriers_deliver_one_order(db: TestDb) {
    let world = World::start(db).await;
    let plant = &world.plant;
    let customer = plant
        .phone_customer(&world.server.store, "wang-fang", "13800138000")
        .await;
    let address = address(plant, &customer).await;
    let tomorrow = shuipiao_server::local_time::date(shuipiao_server::unix_now() + 86_400);
    let order = customer
        .wallet
        .post(
            "/api/v1/delivery-orders",
            &json!({"address_id": address["id"], "product": 189, "bottles": 1,
                "slot_date": tomorrow, "slot": "afternoon", "payment": "cash"}),
        )
        .await;
    let order_id = order["id"].as_u64().expect("order id");
    let dispatcher = dispatcher(&world).await;
    let mut li = world.device("courier-li").await;
    let mut wang = world.device("courier-wang").await;
    assign(&dispatcher, order_id, &li).await;
    li.sync().await;
    // Li goes out of range with the order; the dispatcher gives it to Wang meanwhile.
    assign(&dispatcher, order_id, &wang).await;
    wang.sync().await;
    assert_eq!(
        li.delivery_ids(&tomorrow),
        [order_id],
        "still on li's phone"
    );
    assert_eq!(wang.delivery_ids(&tomorrow), [order_id]);

    let cash = Handover::Cash {
        empties: 1,
        deposits: 0,
    };
    wang.clock.advance_secs(60);
    wang.engine()
        .deliver(order_id, cash)
        .expect("wang delivers");
    li.clock.advance_secs(600);
    li.engine()
        .deliver(order_id, cash)
        .expect("li delivers too");
    wang.sync().await;
    li.sync().await;

    let seen: Value = customer
        .wallet
        .get(&format!("/api/v1/delivery-orders/{order_id}"))
        .await;
    assert_eq!(seen["state_label"], "已送达", "{seen}");
    assert_eq!(
        told(&world, order_id)
            .await
            .iter()
            .filter(|kind| **kind == MessageKind::OrderDelivered)
            .count(),
        1,
        "told once"
    );
    let review = plant.review(false).await;
    let li_event = li.events().last().expect("li's delivery").event.event_id;
    let item = review
        .iter()
        .find(|item| item.event_id == li_event)
        .unwrap_or_else(|| panic!("li's delivery is reviewed: {review:#?}"));
    assert!(
        item.reasons.contains(&ReviewReason::DeliveredTwice),
        "{item:#?}"
    );
    let wang_event = wang
        .events()
        .last()
        .expect("wang's delivery")
        .event
        .event_id;
    assert!(
        !review.iter().any(|item| item.event_id == wang_event),
        "the first delivery closed the order: {review:#?}"
    );
    world
        .view()
        .await
        .assert_holds_exactly("courier-wang", wang.id, &wang.events());
}

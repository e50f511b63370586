//! Delivering the orders of the list at the door, against real encrypted SQLite files: on the
//! account, for cash and not delivered; a tickets order delivered by a scan through the door
//! verdict (its redemption and the delivery naming it in one chain), a code of another book, a
//! book with too few units left, a freshness refusal and its supervisor override; orders not in
//! the list, delivered twice or paid otherwise; undo of a delivery's redemption; the list's
//! states and counts; every event signed, chained and read back as written.

mod engine_support;

use engine_support::*;
use shuipiao_courier::engine::{DoorInput, Engine, EngineError, Handover, OutcomeKind, ScanSource};
use shuipiao_courier::history;
use shuipiao_courier::store::deliveries::TaskState;
use shuipiao_courier::store::{self, deliveries, outbox};
use shuipiao_shared::delivery::{
    DeliveriesResponse, DeliveryChange, DeliveryPayment, DeliveryRow, DeliverySlot, DeliveryTask,
};
use shuipiao_shared::event::{
    ChainTip, DeliveryOutcome, EventBody, MissReason, Refusal, SignedEvent, verify_chain,
};
use shuipiao_shared::ids::BookId;
use shuipiao_shared::status::BookState;
use shuipiao_shared::verdict::RejectReason;

/// The Beijing day of [`NOW`].
const TODAY: &str = "2026-09-21";
const CASH: u64 = 11;
const ACCOUNT: u64 = 12;
const TICKETS: u64 = 13;
/// The book order [`TICKETS`] is paid from: 10 units, 8 used.
const ORDER_BOOK: u64 = 3001;

fn task(order_id: u64, payment: DeliveryPayment, bottles: u16) -> DeliveryTask {
    DeliveryTask {
        order_id,
        day: TODAY.to_owned(),
        slot: DeliverySlot::Morning,
        slot_hours: "08:00-12:00".to_owned(),
        address: format!("幸福小区 {order_id}栋 1单元 101"),
        label: String::new(),
        region: "武汉市江汉区".to_owned(),
        contact: "王女士".to_owned(),
        phone: "13800138000".to_owned(),
        product: BUCKET,
        product_name: "18.9L 桶装水".to_owned(),
        bottles,
        payment,
        book_id: (payment == DeliveryPayment::Tickets).then_some(BookId(ORDER_BOOK)),
        note: String::new(),
    }
}

/// A device synced an hour ago holding a cash, an account and a tickets order of 2 bottles.
fn device_with_orders() -> Device {
    let device = Device::enrolled(&[row(ORDER_BOOK, 8, BookState::Active, 1)], NOW - HOUR);
    put_orders(
        &device,
        vec![
            task(CASH, DeliveryPayment::Cash, 2),
            task(ACCOUNT, DeliveryPayment::Account, 3),
            task(TICKETS, DeliveryPayment::Tickets, 2),
        ],
    );
    device
}

/// Puts `tasks` in the device's list as a pulled feed page would.
fn put_orders(device: &Device, tasks: Vec<DeliveryTask>) {
    let mut conn = store::open(&device.db).unwrap();
    let held = deliveries::cursor(&conn).unwrap();
    let rows: Vec<DeliveryRow> = tasks
        .into_iter()
        .enumerate()
        .map(|(i, task)| DeliveryRow::put(held + 1 + i as u64, DeliveryChange::Assigned, task))
        .collect();
    let page = DeliveriesResponse {
        next_cursor: rows.last().map_or(held, |row| row.seq),
        rows,
        has_more: false,
        server_time: NOW,
    };
    let tx = conn.transaction().unwrap();
    deliveries::apply_page(&tx, &page).unwrap();
    tx.commit().unwrap();
}

fn camera() -> DoorInput<'static> {
    DoorInput {
        source: ScanSource::Camera,
        supervisor_pin: None,
    }
}

fn cash(empties: u16, deposits: u16) -> Handover {
    Handover::Cash { empties, deposits }
}

fn events(engine: &Engine) -> Vec<SignedEvent> {
    let mut entries = engine.history(1000).unwrap();
    entries.reverse();
    entries.into_iter().map(|entry| entry.event).collect()
}

/// Every event of the device is signed by it, chained from the start and reads back as written.
fn assert_chain_sound(engine: &Engine) {
    let events = events(engine);
    verify_chain(
        ChainTip::GENESIS,
        DEVICE,
        &device_key().verifying_key(),
        &events,
    )
    .unwrap();
    for event in &events {
        assert_eq!(SignedEvent::from_bytes(&event.to_bytes()), Ok(*event));
    }
}

fn state_of(engine: &Engine, order_id: u64) -> TaskState {
    let list = engine.deliveries(Some(TODAY)).unwrap();
    list.items
        .iter()
        .find(|item| item.task.order_id == order_id)
        .unwrap()
        .state
}

#[test]
fn cash_account_and_not_delivered_are_signed_chained_delivery_events() {
    let device = device_with_orders();
    let mut engine = device.engine();
    let list = engine.deliveries(None).unwrap();
    assert_eq!((list.done, list.left), (0, 3));

    let done = engine.deliver(CASH, cash(2, 1)).unwrap();
    assert_eq!(done.state, TaskState::Delivered);
    assert!(done.scan.is_none());
    assert!(done.message.contains("已送达"), "{}", done.message);
    let done = engine
        .deliver(
            ACCOUNT,
            Handover::NotDelivered {
                reason: MissReason::NobodyHome,
                empties: 1,
            },
        )
        .unwrap();
    assert_eq!(done.state, TaskState::NotDelivered);
    assert!(done.message.contains("无人在家"), "{}", done.message);

    let list = engine.deliveries(None).unwrap();
    assert_eq!((list.done, list.left), (2, 1));
    let account = list
        .items
        .iter()
        .find(|item| item.task.order_id == ACCOUNT)
        .unwrap();
    assert_eq!(account.reason, Some(MissReason::NobodyHome));

    // The courier came back: the order not delivered is delivered now.
    device.clock.advance_millis(3_600_000);
    engine
        .deliver(
            ACCOUNT,
            Handover::Account {
                empties: 0,
                deposits: 3,
            },
        )
        .unwrap();
    assert_eq!(state_of(&engine, ACCOUNT), TaskState::Delivered);

    let bodies: Vec<EventBody> = events(&engine).iter().map(|e| e.event.body).collect();
    assert_eq!(
        bodies,
        [
            EventBody::Delivery {
                order_id: CASH,
                outcome: DeliveryOutcome::Cash {
                    bottles: 2.try_into().unwrap(),
                    deposits: 1
                },
                empties: 2,
            },
            EventBody::Delivery {
                order_id: ACCOUNT,
                outcome: DeliveryOutcome::NotDelivered {
                    reason: MissReason::NobodyHome
                },
                empties: 1,
            },
            EventBody::Delivery {
                order_id: ACCOUNT,
                outcome: DeliveryOutcome::Account {
                    bottles: 3.try_into().unwrap(),
                    deposits: 3
                },
                empties: 0,
            },
        ]
    );
    assert_chain_sound(&engine);
    drop(engine);
    // The states are on disk, read back by a fresh engine.
    let engine = device.engine();
    assert_eq!(engine.deliveries(None).unwrap().done, 2);
}

#[test]
fn a_tickets_order_is_delivered_by_a_scan_that_redeems_its_bottles() {
    let device = device_with_orders();
    let mut engine = device.engine();
    let code = ticket(book(ORDER_BOOK, 10));
    let done = engine
        .deliver_scanned(TICKETS, &code, &camera(), 1, 2)
        .unwrap();
    let scan = done.scan.clone().unwrap();
    assert_eq!(scan.kind, OutcomeKind::Accepted);
    assert_eq!((scan.units, scan.remaining), (2, Some(0)));
    assert_eq!(done.state, TaskState::Delivered);

    let events = events(&engine);
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0].event.body,
        EventBody::Redemption {
            book_id: BookId(ORDER_BOOK),
            units: 2,
            product: BUCKET,
        }
    );
    assert_eq!(Some(events[0].event.event_id), scan.event_id);
    assert_eq!(
        events[1].event.body,
        EventBody::Delivery {
            order_id: TICKETS,
            outcome: DeliveryOutcome::Tickets {
                bottles: 2.try_into().unwrap(),
                deposits: 2,
                redemption: events[0].event.event_id,
            },
            empties: 1,
        }
    );
    assert_eq!(done.event_id, Some(events[1].event.event_id));
    assert_chain_sound(&engine);
    assert_eq!(state_of(&engine, TICKETS), TaskState::Delivered);

    // The redemption is the delivery's payment: it cannot be undone, and history says so.
    let redemption = events[0].event.event_id;
    assert!(matches!(
        engine.undo(redemption),
        Err(EngineError::UndoDelivered)
    ));
    assert_eq!(
        EngineError::UndoDelivered.user_message(),
        "该核销属于已送达的订单，不能撤销"
    );
    let rows = history::rows(&engine.history(10).unwrap(), NOW);
    assert!(rows.iter().all(|row| !row.undoable), "{rows:?}");
    assert_eq!(engine.history(10).unwrap().len(), 2, "nothing written");

    // Delivered: a second scan of the same order is refused before any verdict.
    device.clock.advance_millis(10_000);
    assert!(matches!(
        engine.deliver_scanned(TICKETS, &code, &camera(), 0, 0),
        Err(EngineError::OrderDelivered)
    ));
    assert_eq!(engine.history(10).unwrap().len(), 2);

    // An ordinary scan of the same book sees the bottles the delivery redeemed.
    let again = engine
        .scan(
            &code,
            &shuipiao_courier::engine::ScanInput {
                product: BUCKET,
                quantity: 1.try_into().unwrap(),
                source: ScanSource::Camera,
                supervisor_pin: None,
            },
        )
        .unwrap();
    assert_eq!(again.kind, OutcomeKind::AlreadyUsed);
}

#[test]
fn a_code_of_another_book_is_refused_and_writes_nothing() {
    let device = device_with_orders();
    let mut engine = device.engine();
    let refused = engine
        .deliver_scanned(TICKETS, &ticket(book(4004, 10)), &camera(), 0, 0)
        .unwrap_err();
    assert!(matches!(refused, EngineError::WrongBook));
    assert_eq!(refused.user_message(), "这张水票不是该订单的水票");
    assert!(engine.history(10).unwrap().is_empty());
    assert_eq!(state_of(&engine, TICKETS), TaskState::Open);
}

#[test]
fn a_refused_scan_is_logged_as_a_scan_attempt_and_delivers_nothing() {
    // Only one unit left on the order's book: the order is for two.
    let device = Device::enrolled(&[row(ORDER_BOOK, 9, BookState::Active, 1)], NOW - HOUR);
    put_orders(&device, vec![task(TICKETS, DeliveryPayment::Tickets, 2)]);
    let mut engine = device.engine();
    let code = ticket(book(ORDER_BOOK, 10));
    let done = engine
        .deliver_scanned(TICKETS, &code, &camera(), 1, 0)
        .unwrap();
    let scan = done.scan.clone().unwrap();
    assert_eq!(scan.reason, Some(RejectReason::InsufficientUnits));
    assert_eq!((done.event_id, done.state), (None, TaskState::Open));
    assert!(done.message.contains("仍待送"), "{}", done.message);
    let events = events(&engine);
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].event.body,
        EventBody::ScanAttempt {
            book_id: Some(BookId(ORDER_BOOK)),
            refusal: Refusal::Rejected(RejectReason::InsufficientUnits),
        }
    );

    // A used-up book is 已使用, as at any door; a revoked one is refused with its reason.
    let device = Device::enrolled(&[row(ORDER_BOOK, 10, BookState::UsedUp, 1)], NOW - HOUR);
    put_orders(&device, vec![task(TICKETS, DeliveryPayment::Tickets, 2)]);
    let mut engine = device.engine();
    let done = engine
        .deliver_scanned(TICKETS, &code, &camera(), 0, 0)
        .unwrap();
    assert_eq!(done.scan.unwrap().kind, OutcomeKind::AlreadyUsed);
    let device = Device::enrolled(&[row(ORDER_BOOK, 0, BookState::Revoked, 1)], NOW - HOUR);
    put_orders(&device, vec![task(TICKETS, DeliveryPayment::Tickets, 2)]);
    let mut engine = device.engine();
    let done = engine
        .deliver_scanned(TICKETS, &code, &camera(), 0, 0)
        .unwrap();
    assert_eq!(done.scan.unwrap().reason, Some(RejectReason::Revoked));
    assert_eq!(state_of(&engine, TICKETS), TaskState::Open);
    assert_chain_sound(&engine);
}

#[test]
fn data_too_old_needs_the_supervisor_at_the_door_too() {
    let device = Device::enrolled(
        &[row(ORDER_BOOK, 0, BookState::Active, 1)],
        NOW - 100 * HOUR,
    );
    put_orders(&device, vec![task(TICKETS, DeliveryPayment::Tickets, 2)]);
    let mut engine = device.engine();
    engine.set_supervisor_pin("2468").unwrap();
    let code = ticket(book(ORDER_BOOK, 10));
    let done = engine
        .deliver_scanned(TICKETS, &code, &camera(), 0, 0)
        .unwrap();
    assert_eq!(done.scan.unwrap().reason, Some(RejectReason::StaleData));
    assert_eq!(done.event_id, None);

    let wrong = DoorInput {
        supervisor_pin: Some("1357"),
        ..camera()
    };
    assert!(matches!(
        engine.deliver_scanned(TICKETS, &code, &wrong, 0, 0),
        Err(EngineError::WrongSupervisorPin)
    ));
    let right = DoorInput {
        supervisor_pin: Some("2468"),
        ..camera()
    };
    let done = engine
        .deliver_scanned(TICKETS, &code, &right, 0, 0)
        .unwrap();
    let scan = done.scan.unwrap();
    assert_eq!(scan.kind, OutcomeKind::Accepted);
    assert!(scan.flags.supervisor_override && scan.flags.stale);
    assert_eq!(done.state, TaskState::Delivered);
    assert_chain_sound(&engine);
}

#[test]
fn orders_not_in_the_list_closed_or_paid_otherwise_are_refused_with_nothing_written() {
    let device = device_with_orders();
    let mut engine = device.engine();
    let code = ticket(book(ORDER_BOOK, 10));
    let cases: Vec<(&str, Result<_, EngineError>, &str)> = vec![
        (
            "not in the list",
            engine.deliver(404, cash(0, 0)),
            "配送单中没有这个订单，请先同步",
        ),
        (
            "scan of an order not in the list",
            engine.deliver_scanned(404, &code, &camera(), 0, 0),
            "配送单中没有这个订单，请先同步",
        ),
        (
            "cash order on the account",
            engine.deliver(
                CASH,
                Handover::Account {
                    empties: 0,
                    deposits: 0,
                },
            ),
            "该订单为货到付款，请选择现金送达",
        ),
        (
            "account order for cash",
            engine.deliver(ACCOUNT, cash(0, 0)),
            "该订单为月结，请选择月结送达",
        ),
        (
            "tickets order for cash",
            engine.deliver(TICKETS, cash(0, 0)),
            "该订单用水票支付，请扫码送达",
        ),
        (
            "cash order scanned",
            engine.deliver_scanned(CASH, &code, &camera(), 0, 0),
            "该订单为货到付款，请选择现金送达",
        ),
        (
            "100 empties",
            engine.deliver(CASH, cash(100, 0)),
            "空桶和押桶数量须在0到99之间",
        ),
        (
            "100 deposits",
            engine.deliver_scanned(TICKETS, &code, &camera(), 0, 100),
            "空桶和押桶数量须在0到99之间",
        ),
    ];
    for (name, result, message) in cases {
        let error = result.err().unwrap_or_else(|| panic!("{name}: accepted"));
        assert_eq!(error.user_message(), message, "{name}");
    }
    assert!(engine.history(10).unwrap().is_empty(), "nothing written");

    engine.deliver(CASH, cash(0, 0)).unwrap();
    let twice = engine.deliver(CASH, cash(0, 0)).unwrap_err();
    assert_eq!(twice.user_message(), "该订单已送达，不能重复送达");
    let missed = Handover::NotDelivered {
        reason: MissReason::WrongAddress,
        empties: 0,
    };
    assert!(matches!(
        engine.deliver(CASH, missed),
        Err(EngineError::OrderDelivered)
    ));
    engine.deliver(ACCOUNT, missed).unwrap();
    assert!(matches!(
        engine.deliver(ACCOUNT, missed),
        Err(EngineError::OrderAlreadyMissed)
    ));
    assert_eq!(engine.history(10).unwrap().len(), 2);
    assert_chain_sound(&engine);
}

#[test]
fn the_feed_replacing_an_order_keeps_what_the_courier_did() {
    let device = device_with_orders();
    let mut engine = device.engine();
    engine.deliver(CASH, cash(0, 0)).unwrap();
    let mut updated = task(CASH, DeliveryPayment::Cash, 2);
    updated.note = "放门口".to_owned();
    put_orders(&device, vec![updated]);
    let list = engine.deliveries(None).unwrap();
    let item = list
        .items
        .iter()
        .find(|item| item.task.order_id == CASH)
        .unwrap();
    assert_eq!(
        (item.task.note.as_str(), item.state),
        ("放门口", TaskState::Delivered)
    );
    assert_eq!((list.done, list.left), (1, 2));
    let entry = outbox::recent(engine.connection(), 1).unwrap().remove(0);
    assert_eq!(entry.order_id, Some(CASH));
}

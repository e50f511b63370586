//! Closing an order of water at the door (docs/deliveries.md, "Closing an order at the door"),
//! as a pure function of the order and the *set* of its stored delivery events: like a book's
//! ledger, the answer does not depend on the order the events arrived in, so every server
//! instance, and a replayed push, comes to the same state and the same review reasons.
//!
//! The store loads the facts and applies the answer inside the push's transaction
//! (`store::closing`); nothing here reads a clock or a database.

use shuipiao_shared::event::DeliveryOutcome;
use shuipiao_shared::ids::{BookId, DeviceId, EventId, UserId};

use crate::store::delivery_orders::{OrderState, Payment};
use crate::store::models::ReviewReason;

/// What the closing reads of the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderFacts {
    /// Its stored state.
    pub state: OrderState,
    /// The courier it is assigned to, if any.
    pub courier: Option<UserId>,
    /// How it is paid.
    pub payment: Payment,
    /// When it was placed (server clock): an event stored before cannot be about it.
    pub created_at: i64,
}

/// A redemption a tickets delivery names, as the store holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedRedemption {
    /// The device that recorded it.
    pub device_id: DeviceId,
    /// The book it redeemed.
    pub book_id: BookId,
    /// Units redeemed.
    pub units: u16,
}

/// A stored delivery event naming the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoorEvent {
    /// The event.
    pub event_id: EventId,
    /// The device that recorded it.
    pub device_id: DeviceId,
    /// Its place in the device's chain.
    pub device_seq: u64,
    /// Device clock, unix seconds.
    pub scanned_at: u64,
    /// When the server stored it (server clock).
    pub received_at: i64,
    /// The courier the device is enrolled for: who stood at the door.
    pub courier: UserId,
    /// How it went.
    pub outcome: DeliveryOutcome,
    /// Empty buckets taken back.
    pub empties: u16,
    /// The stored redemption the outcome names, if it names one the store holds.
    pub redemption: Option<NamedRedemption>,
}

impl DoorEvent {
    /// The order every server sorts delivery events in, as the ledger sorts redemptions.
    fn sort_key(&self) -> (u64, DeviceId, u64) {
        (self.scanned_at, self.device_id, self.device_seq)
    }
}

/// What the order comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closing {
    /// The order's state (its stored one when nothing closes it); none for an unknown order.
    pub state: Option<OrderState>,
    /// The event that closed it: the first delivered one, else the first not delivered one.
    pub closing: Option<DoorEvent>,
    /// Why it was not delivered, for a `failed` order.
    pub failure_reason: Option<&'static str>,
    /// Review items, as (event, reason): each event's reasons in [`ReviewReason`] order, the
    /// events in sorted order.
    pub review: Vec<(EventId, ReviewReason)>,
}

impl Closing {
    /// When the order was closed: the closing event's scan time on its device.
    pub fn closed_at(&self) -> Option<i64> {
        self.closing
            .map(|event| i64::try_from(event.scanned_at).unwrap_or(i64::MAX))
    }
}

/// The review reasons of the door, in the order an item lists them.
pub const REASONS: [ReviewReason; 5] = [
    ReviewReason::UnknownOrder,
    ReviewReason::ForeignOrder,
    ReviewReason::AfterCancel,
    ReviewReason::DeliveredTwice,
    ReviewReason::RedemptionMismatch,
];

/// Settles an order from its delivery events (in any order): `order` is `None` for an order
/// this server does not hold, which closes nothing and sends every event to review.
///
/// The first delivered event (by scan time, device, sequence) closes the order `delivered`,
/// even after a not-delivered one; without any, the first not-delivered one closes it `failed`.
/// A cancelled order stays cancelled. An event stored before the order was placed cannot be
/// about it (it named an id not yet taken) and counts as about an unknown order.
pub fn settle(order: Option<&OrderFacts>, events: &[DoorEvent]) -> Closing {
    let mut sorted: Vec<&DoorEvent> = events.iter().collect();
    sorted.sort_by_key(|event| (event.sort_key(), event.event_id));
    let Some(order) = order else {
        return Closing {
            state: None,
            closing: None,
            failure_reason: None,
            review: sorted
                .iter()
                .map(|event| (event.event_id, ReviewReason::UnknownOrder))
                .collect(),
        };
    };
    let (about, before): (Vec<&DoorEvent>, Vec<&DoorEvent>) = sorted
        .into_iter()
        .partition(|event| event.received_at >= order.created_at);
    let first_delivered = about.iter().find(|e| e.outcome.delivered()).copied();
    let first_missed = about.iter().find(|e| !e.outcome.delivered()).copied();
    let cancelled = order.state == OrderState::Cancelled;
    let closing = if cancelled {
        None
    } else {
        first_delivered.or(first_missed).copied()
    };
    let state = Some(match closing {
        None => order.state,
        Some(event) if event.outcome.delivered() => OrderState::Delivered,
        Some(_) => OrderState::Failed,
    });
    let failure_reason = match closing.map(|event| event.outcome) {
        Some(DeliveryOutcome::NotDelivered { reason }) => Some(reason.label()),
        _ => None,
    };
    let mut review = Vec::new();
    for event in &about {
        let delivered = event.outcome.delivered();
        let mut reasons = Vec::new();
        if order.courier != Some(event.courier) {
            reasons.push(ReviewReason::ForeignOrder);
        }
        if cancelled && delivered {
            reasons.push(ReviewReason::AfterCancel);
        }
        if delivered && first_delivered.is_some_and(|first| first.event_id != event.event_id) {
            reasons.push(ReviewReason::DeliveredTwice);
        }
        if !paid_as_ordered(order.payment, event) {
            reasons.push(ReviewReason::RedemptionMismatch);
        }
        review.extend(reasons.into_iter().map(|reason| (event.event_id, reason)));
    }
    review.extend(
        before
            .iter()
            .map(|event| (event.event_id, ReviewReason::UnknownOrder)),
    );
    Closing {
        state,
        closing,
        failure_reason,
        review,
    }
}

/// Whether a delivery was paid as the order says: the same kind of payment, and for tickets a
/// stored redemption by the same device of the order's book for as many units as bottles.
fn paid_as_ordered(payment: Payment, event: &DoorEvent) -> bool {
    match (event.outcome, payment) {
        (DeliveryOutcome::NotDelivered { .. }, _)
        | (DeliveryOutcome::Account { .. }, Payment::Account)
        | (DeliveryOutcome::Cash { .. }, Payment::Cash) => true,
        (DeliveryOutcome::Tickets { bottles, .. }, Payment::Tickets(book)) => {
            event.redemption.is_some_and(|redemption| {
                redemption.device_id == event.device_id
                    && redemption.book_id == book
                    && redemption.units == bottles.get()
            })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU16;

    use proptest::prelude::*;
    use shuipiao_shared::event::MissReason;

    use super::*;

    const A: UserId = UserId(10);
    const B: UserId = UserId(11);
    const BOOK: BookId = BookId(7);

    fn order(state: OrderState, payment: Payment) -> OrderFacts {
        OrderFacts {
            state,
            courier: Some(A),
            payment,
            created_at: 100,
        }
    }

    fn bottles(n: u16) -> NonZeroU16 {
        NonZeroU16::new(n).expect("a test delivers at least one bottle")
    }

    fn cash(n: u16) -> DeliveryOutcome {
        DeliveryOutcome::Cash {
            bottles: bottles(n),
            deposits: 0,
        }
    }

    const MISSED: DeliveryOutcome = DeliveryOutcome::NotDelivered {
        reason: MissReason::NobodyHome,
    };

    fn event(id: u8, courier: UserId, scanned_at: u64, outcome: DeliveryOutcome) -> DoorEvent {
        DoorEvent {
            event_id: EventId(uuid::Uuid::from_bytes([id; 16])),
            device_id: DeviceId(courier.0),
            device_seq: u64::from(id),
            scanned_at,
            received_at: 200,
            courier,
            outcome,
            empties: 0,
            redemption: None,
        }
    }

    fn reasons(closing: &Closing, event: &DoorEvent) -> Vec<ReviewReason> {
        closing
            .review
            .iter()
            .filter(|(id, _)| *id == event.event_id)
            .map(|(_, reason)| *reason)
            .collect()
    }

    #[test]
    fn the_first_delivery_closes_the_order_even_after_a_miss() {
        let missed = event(1, A, 1_000, MISSED);
        let delivered = event(2, A, 2_000, cash(2));
        let cash_order = order(OrderState::Out, Payment::Cash);
        let failed = settle(Some(&cash_order), &[missed]);
        assert_eq!(failed.state, Some(OrderState::Failed));
        assert_eq!(failed.failure_reason, Some("无人在家"));
        assert_eq!(failed.closed_at(), Some(1_000));
        assert!(failed.review.is_empty());
        let closed = settle(Some(&cash_order), &[delivered, missed]);
        assert_eq!(closed.state, Some(OrderState::Delivered));
        assert_eq!(closed.closing, Some(delivered));
        assert_eq!(closed.failure_reason, None);
        assert_eq!(closed.closed_at(), Some(2_000));
        assert!(closed.review.is_empty(), "{:?}", closed.review);
    }

    #[test]
    fn a_second_delivery_by_anyone_is_reviewed_and_a_foreign_one_still_closes() {
        let cash_order = order(OrderState::Assigned, Payment::Cash);
        let foreign = event(1, B, 1_000, cash(1));
        let own = event(2, A, 1_500, cash(1));
        let closed = settle(Some(&cash_order), &[own, foreign]);
        assert_eq!(closed.state, Some(OrderState::Delivered));
        assert_eq!(closed.closing, Some(foreign));
        assert_eq!(reasons(&closed, &foreign), [ReviewReason::ForeignOrder]);
        assert_eq!(reasons(&closed, &own), [ReviewReason::DeliveredTwice]);
        let twice = event(3, A, 1_600, cash(1));
        let again = settle(Some(&cash_order), &[own, twice]);
        assert_eq!(reasons(&again, &twice), [ReviewReason::DeliveredTwice]);
        assert!(reasons(&again, &own).is_empty());
    }

    #[test]
    fn a_cancelled_order_stays_cancelled_and_an_unknown_one_closes_nothing() {
        let delivered = event(1, A, 1_000, cash(1));
        let missed = event(2, A, 900, MISSED);
        let cancelled = order(OrderState::Cancelled, Payment::Cash);
        let closing = settle(Some(&cancelled), &[delivered, missed]);
        assert_eq!(closing.state, Some(OrderState::Cancelled));
        assert_eq!(closing.closing, None);
        assert_eq!(closing.closed_at(), None);
        assert_eq!(reasons(&closing, &delivered), [ReviewReason::AfterCancel]);
        assert!(reasons(&closing, &missed).is_empty());
        let unknown = settle(None, &[delivered, missed]);
        assert_eq!(unknown.closing, None);
        assert_eq!(reasons(&unknown, &delivered), [ReviewReason::UnknownOrder]);
        assert_eq!(reasons(&unknown, &missed), [ReviewReason::UnknownOrder]);
    }

    #[test]
    fn an_event_stored_before_the_order_was_placed_is_not_about_it() {
        let early = DoorEvent {
            received_at: 99,
            ..event(1, A, 1_000, cash(1))
        };
        let closing = settle(Some(&order(OrderState::Pending, Payment::Cash)), &[early]);
        assert_eq!(closing.state, Some(OrderState::Pending));
        assert_eq!(closing.closing, None);
        assert_eq!(reasons(&closing, &early), [ReviewReason::UnknownOrder]);
    }

    #[test]
    fn tickets_must_name_the_same_devices_redemption_of_the_orders_book_for_the_bottles() {
        let tickets_order = order(OrderState::Out, Payment::Tickets(BOOK));
        let tickets = |redemption| DoorEvent {
            redemption,
            ..event(
                1,
                A,
                1_000,
                DeliveryOutcome::Tickets {
                    bottles: bottles(2),
                    deposits: 0,
                    redemption: EventId(uuid::Uuid::from_bytes([9; 16])),
                },
            )
        };
        let good = NamedRedemption {
            device_id: DeviceId(A.0),
            book_id: BOOK,
            units: 2,
        };
        for (redemption, expected) in [
            (Some(good), vec![]),
            (None, vec![ReviewReason::RedemptionMismatch]),
            (
                Some(NamedRedemption { units: 1, ..good }),
                vec![ReviewReason::RedemptionMismatch],
            ),
            (
                Some(NamedRedemption {
                    book_id: BookId(8),
                    ..good
                }),
                vec![ReviewReason::RedemptionMismatch],
            ),
            (
                Some(NamedRedemption {
                    device_id: DeviceId(99),
                    ..good
                }),
                vec![ReviewReason::RedemptionMismatch],
            ),
        ] {
            let event = tickets(redemption);
            let closing = settle(Some(&tickets_order), &[event]);
            assert_eq!(closing.state, Some(OrderState::Delivered));
            assert_eq!(reasons(&closing, &event), expected, "{redemption:?}");
        }
        let cash_on_tickets = event(2, A, 1_000, cash(2));
        let closing = settle(Some(&tickets_order), &[cash_on_tickets]);
        assert_eq!(
            reasons(&closing, &cash_on_tickets),
            [ReviewReason::RedemptionMismatch]
        );
        let tickets_on_cash = tickets(Some(good));
        let closing = settle(
            Some(&order(OrderState::Out, Payment::Cash)),
            &[tickets_on_cash],
        );
        assert_eq!(
            reasons(&closing, &tickets_on_cash),
            [ReviewReason::RedemptionMismatch]
        );
    }

    fn any_event() -> impl Strategy<Value = DoorEvent> {
        (
            0u8..6,
            prop::bool::ANY,
            0u64..5,
            0u8..3,
            prop::bool::ANY,
            90i64..110,
        )
            .prop_map(|(id, other, scanned_at, outcome, redeemed, received_at)| {
                let courier = if other { B } else { A };
                let outcome = match outcome {
                    0 => cash(1),
                    1 => MISSED,
                    _ => DeliveryOutcome::Tickets {
                        bottles: bottles(1),
                        deposits: 0,
                        redemption: EventId(uuid::Uuid::from_bytes([9; 16])),
                    },
                };
                DoorEvent {
                    received_at,
                    redemption: redeemed.then_some(NamedRedemption {
                        device_id: DeviceId(courier.0),
                        book_id: BOOK,
                        units: 1,
                    }),
                    ..event(id, courier, scanned_at, outcome)
                }
            })
    }

    proptest! {
        #[test]
        fn any_arrival_order_gives_the_same_answer(
            events in prop::collection::vec(any_event(), 0..8),
            state in prop::sample::select(OrderState::ALL.to_vec()),
            tickets in prop::bool::ANY,
            seed in any::<u64>(),
        ) {
            // Distinct ids, as stored events have.
            let mut events = events;
            events.sort_by_key(|e| e.event_id);
            events.dedup_by_key(|e| e.event_id);
            let payment = if tickets { Payment::Tickets(BOOK) } else { Payment::Cash };
            let facts = order(state, payment);
            let mut shuffled = events.clone();
            let mut rng = seed;
            for i in (1..shuffled.len()).rev() {
                rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                shuffled.swap(i, (rng >> 33) as usize % (i + 1));
            }
            let closing = settle(Some(&facts), &events);
            prop_assert_eq!(&closing, &settle(Some(&facts), &shuffled));
            let delivered = events
                .iter()
                .filter(|e| e.received_at >= facts.created_at && e.outcome.delivered())
                .count();
            let twice = closing
                .review
                .iter()
                .filter(|(_, r)| *r == ReviewReason::DeliveredTwice)
                .count();
            prop_assert_eq!(twice, delivered.saturating_sub(1));
            if state == OrderState::Cancelled {
                prop_assert_eq!(closing.state, Some(OrderState::Cancelled));
            } else if delivered > 0 {
                prop_assert_eq!(closing.state, Some(OrderState::Delivered));
            }
        }
    }
}

//! Property tests of the protocol: codecs round-trip, parsers are total, and the ledger is a
//! function of the event *set* (order, duplication and batching do not matter); the delivery
//! list does not depend on how its feed is split into pages; the bucket ledger, like the ticket
//! ledger, depends only on the set of its entries.
//!
//! Case counts default to 10,000 for the ledger and 2,000 for the codecs; set
//! `SHUIPIAO_PROPTEST_CASES` to run more (e.g. 1000000 before a release).

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use shuipiao_shared::buckets::{self, BucketEntry, BucketMove};
use shuipiao_shared::credential::{Credential, SignedCredential};
use shuipiao_shared::delivery::{
    self, DeliveryChange, DeliveryPayment, DeliveryRow, DeliverySlot, DeliveryTask,
};
use shuipiao_shared::event::{
    DeliveryOutcome, Event, EventBody, EventFlags, MissReason, Refusal, SignedEvent,
};
use shuipiao_shared::holder::{self, HolderCredential, Presented, RotatingCode};
use shuipiao_shared::ids::{BookId, DeviceId, EventId, ProductCode, ScopeId, UserId};
use shuipiao_shared::keyring::{Keyring, Kid};
use shuipiao_shared::ledger::{self, BookTerms, LedgerEvent, LedgerEventKind, ResolutionAction};
use shuipiao_shared::status::{StatusDelta, StatusSnapshot};
use shuipiao_shared::verdict::RejectReason;

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("SHUIPIAO_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

fn issuer() -> SigningKey {
    SigningKey::from_bytes(&[0x42; 32])
}

prop_compose! {
    fn any_credential()(
        book_id in any::<u64>(), product in any::<u16>(), units in any::<u16>(),
        scope in any::<u32>(), valid_from in any::<u32>(), valid_until in any::<u32>(),
        holder_tag in any::<u32>(),
    ) -> Credential {
        Credential {
            kid: Kid([0; 4]),
            book_id: BookId(book_id),
            product: ProductCode(product),
            units,
            scope: ScopeId(scope),
            valid_from,
            valid_until,
            holder_tag,
        }
    }
}

fn any_body() -> impl Strategy<Value = EventBody> {
    let reason = prop::sample::select(RejectReason::ALL.to_vec());
    prop_oneof![
        (any::<u64>(), any::<u16>(), any::<u16>()).prop_map(|(b, units, p)| {
            EventBody::Redemption {
                book_id: BookId(b),
                units,
                product: ProductCode(p),
            }
        }),
        (any::<u64>(), any::<u128>()).prop_map(|(b, t)| EventBody::Void {
            book_id: BookId(b),
            target: EventId(uuid::Uuid::from_u128(t)),
        }),
        (prop::option::of(any::<u64>()), prop::option::of(reason)).prop_map(|(b, r)| {
            EventBody::ScanAttempt {
                book_id: b.map(BookId),
                refusal: r.map_or(Refusal::AlreadyUsed, Refusal::Rejected),
            }
        }),
        (any::<u64>(), any_outcome(), any::<u16>()).prop_map(|(order_id, outcome, empties)| {
            EventBody::Delivery {
                order_id,
                outcome,
                empties,
            }
        }),
    ]
}

fn any_outcome() -> impl Strategy<Value = DeliveryOutcome> {
    let bottles = (1u16..).prop_map(|b| std::num::NonZeroU16::new(b).expect("from 1"));
    prop_oneof![
        (bottles.clone(), any::<u16>(), any::<u128>()).prop_map(|(bottles, deposits, r)| {
            DeliveryOutcome::Tickets {
                bottles,
                deposits,
                redemption: EventId(uuid::Uuid::from_u128(r)),
            }
        }),
        (bottles.clone(), any::<u16>())
            .prop_map(|(bottles, deposits)| DeliveryOutcome::Account { bottles, deposits }),
        (bottles, any::<u16>())
            .prop_map(|(bottles, deposits)| DeliveryOutcome::Cash { bottles, deposits }),
        prop::sample::select(MissReason::ALL.to_vec())
            .prop_map(|reason| DeliveryOutcome::NotDelivered { reason }),
    ]
}

proptest! {
    #![proptest_config(cases(2_000))]

    #[test]
    fn credential_round_trips(credential in any_credential()) {
        let signed = credential.sign(&issuer());
        let text = signed.to_qr_text();
        prop_assert_eq!(text.len(), 159);
        prop_assert_eq!(SignedCredential::from_qr_text(&text), Ok(signed));
        prop_assert_eq!(SignedCredential::from_bytes(&signed.to_bytes()), Ok(signed));
        prop_assert!(signed.verify(&issuer().verifying_key()).is_ok());
    }

    #[test]
    fn rotating_code_round_trips_and_verifies(
        credential in any_credential(), holder_seed in any::<[u8; 32]>(), now in any::<u32>(),
    ) {
        let holder_key = SigningKey::from_bytes(&holder_seed);
        let bound = HolderCredential { credential, holder_key: holder_key.verifying_key().to_bytes() };
        let code = bound.sign(&issuer()).present(&holder_key, holder::window_at(u64::from(now)));
        let text = code.to_qr_text();
        prop_assert_eq!(text.len(), holder::QR_TEXT_LEN);
        prop_assert_eq!(Presented::from_qr_text(&text), Ok(Presented::Rotating(code)));
        prop_assert_eq!(RotatingCode::from_bytes(&code.to_bytes()), Ok(code));
        prop_assert!(code.signed.verify(&issuer().verifying_key()).is_ok());
        prop_assert!(code.verify_proof().is_ok());
        prop_assert_eq!(code.proof_time(u64::from(now)), holder::ProofTime::Current);
    }

    #[test]
    fn one_flipped_bit_breaks_a_rotating_code(
        credential in any_credential(), bit in 0usize..(holder::CODE_LEN * 8),
    ) {
        let holder_key = SigningKey::from_bytes(&[0x48; 32]);
        let bound = HolderCredential { credential, holder_key: holder_key.verifying_key().to_bytes() };
        let original = bound.sign(&issuer()).present(&holder_key, 59_666_666);
        let mut bytes = original.to_bytes();
        bytes[bit / 8] ^= 1 << (bit % 8);
        if let Ok(parsed) = RotatingCode::from_bytes(&bytes) {
            // The issuer signature covers the credential, the proof covers book and window.
            let intact = parsed.signed.verify(&issuer().verifying_key()).is_ok()
                && parsed.verify_proof().is_ok();
            prop_assert!(!intact);
        }
    }

    #[test]
    fn event_round_trips(
        seq in any::<u64>(), at in any::<u64>(), device in any::<u64>(), courier in any::<u64>(),
        bits in 0u8..16, body in any_body(), prev in any::<[u8; 32]>(), id in any::<u128>(),
    ) {
        let event = Event {
            event_id: EventId(uuid::Uuid::from_u128(id)),
            device_id: DeviceId(device),
            device_seq: seq,
            prev_hash: prev,
            scanned_at: at,
            courier_id: UserId(courier),
            flags: EventFlags {
                offline: bits & 1 != 0,
                stale: bits & 2 != 0,
                supervisor_override: bits & 4 != 0,
                clock_rollback: bits & 8 != 0,
            },
            body,
        };
        let signed = event.sign(&issuer());
        prop_assert_eq!(SignedEvent::from_bytes(&signed.to_bytes()), Ok(signed));
        let json = serde_json::to_string(&signed).expect("serializes");
        prop_assert_eq!(serde_json::from_str::<SignedEvent>(&json).expect("parses"), signed);
    }

    #[test]
    fn deltas_round_trip_with_one_encoding_per_delta(
        revoked in prop::collection::btree_set(any::<u64>(), 0..50),
        used_up in prop::collection::btree_set(0..2_000_000u64, 0..300),
        removed in prop::collection::btree_set(0..200u64, 0..20),
    ) {
        let root = issuer();
        let delta = StatusDelta {
            base_seq: 3,
            seq: 9,
            generated_at: 1_700_000_000,
            revoked_added: revoked.into_iter().collect(),
            used_up_added: used_up.into_iter().collect(),
            used_up_removed: removed.into_iter().collect(),
        };
        let bytes = delta.sign(&root);
        let opened = StatusDelta::open(&bytes, &root.verifying_key()).expect("opens");
        prop_assert_eq!(&opened, &delta);
        prop_assert_eq!(opened.sign(&root), bytes);
    }

    #[test]
    fn parsers_are_total_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let root = issuer().verifying_key();
        let _ = SignedCredential::from_bytes(&bytes);
        let _ = SignedEvent::from_bytes(&bytes);
        let _ = Keyring::open(&bytes, &root);
        let _ = StatusSnapshot::open(&bytes, &root);
        let _ = StatusDelta::open(&bytes, &root);
        let _ = SignedCredential::from_qr_text(&String::from_utf8_lossy(&bytes));
        let _ = RotatingCode::from_bytes(&bytes);
        let _ = Presented::from_qr_text(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn qr_parser_is_total_on_near_miss_text(
        body in "[A-Za-z2-7 =+/0-9\r\n\t]{0,200}",
        prefix in prop::sample::select(vec!["SP1", "sp1", "SP", "", " SP1", "SP2", "sp2"]),
    ) {
        let text = format!("{prefix}{body}");
        if let Ok(signed) = SignedCredential::from_qr_text(&text) {
            // Anything accepted re-encodes to the same bytes: the codec is canonical.
            let again = SignedCredential::from_qr_text(&signed.to_qr_text());
            prop_assert_eq!(again, Ok(signed));
        }
        if let Ok(Presented::Rotating(code)) = Presented::from_qr_text(&text) {
            prop_assert_eq!(RotatingCode::from_qr_text(&code.to_qr_text()), Ok(code));
        }
    }

    #[test]
    fn one_flipped_bit_never_verifies(credential in any_credential(), bit in 0usize..(97 * 8)) {
        let mut bytes = credential.sign(&issuer()).to_bytes();
        bytes[bit / 8] ^= 1 << (bit % 8);
        if let Ok(parsed) = SignedCredential::from_bytes(&bytes) {
            prop_assert!(parsed.verify(&issuer().verifying_key()).is_err());
        }
    }
}

/// A book's history: redemptions from three devices at colliding times, voids of some of them
/// and operator resolutions, with revocation and compromise cut-offs.
fn any_history() -> impl Strategy<Value = (BookTerms, Vec<LedgerEvent>)> {
    let redemption = (0u64..3, 0u64..40, 1u16..4);
    (
        1u16..12,
        prop::option::of(0u64..40),
        prop::option::of(0u64..40),
        prop::collection::vec(redemption, 0..16),
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..4), 0..6),
    )
        .prop_map(
            |(units, revoked_at, compromised_at, redemptions, followups)| {
                let mut events: Vec<LedgerEvent> = redemptions
                    .into_iter()
                    .enumerate()
                    .map(|(i, (device, at, units))| LedgerEvent {
                        event_id: EventId::v7(at, [i as u8; 10]),
                        device_id: DeviceId(device),
                        device_seq: i as u64,
                        at,
                        kind: LedgerEventKind::Redemption { units },
                    })
                    .collect();
                if !events.is_empty() {
                    let targets = events.clone();
                    for (n, (index, action)) in followups.into_iter().enumerate() {
                        let target = index.get(&targets);
                        let resolution = |action| LedgerEventKind::Resolution {
                            target: target.event_id,
                            action,
                            operator: UserId(1),
                        };
                        let kind = match action {
                            0 => LedgerEventKind::Void {
                                target: target.event_id,
                            },
                            1 => resolution(ResolutionAction::Charge),
                            2 => resolution(ResolutionAction::WriteOff),
                            _ => resolution(ResolutionAction::Void),
                        };
                        events.push(LedgerEvent {
                            event_id: EventId::v7(1000 + n as u64, [200 + n as u8; 10]),
                            device_id: target.device_id,
                            device_seq: 100 + n as u64,
                            at: target.at + 1 + n as u64,
                            kind,
                        });
                    }
                }
                let terms = BookTerms {
                    units,
                    revoked_at,
                    key_compromised_at: compromised_at,
                };
                (terms, events)
            },
        )
}

proptest! {
    #![proptest_config(cases(10_000))]

    #[test]
    fn ledger_depends_only_on_the_event_set(
        (terms, events, mut shuffled) in any_history()
            .prop_flat_map(|(t, e)| (Just(t), Just(e.clone()), Just(e).prop_shuffle())),
        duplicates in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        let reference = ledger::compute(&terms, &events);

        // Any permutation, with some events delivered twice.
        if !events.is_empty() {
            for d in &duplicates {
                shuffled.push(*d.get(&events));
            }
        }
        prop_assert_eq!(&ledger::compute(&terms, &shuffled), &reference);

        // Batches arriving one after another into a store that keeps every event once.
        let mut stored: std::collections::BTreeMap<EventId, LedgerEvent> = Default::default();
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c.index(shuffled.len() + 1)).collect();
        bounds.push(shuffled.len());
        bounds.sort_unstable();
        let mut start = 0;
        for end in bounds {
            for event in &shuffled[start..end] {
                stored.entry(event.event_id).or_insert(*event);
            }
            start = end;
        }
        let batched: Vec<LedgerEvent> = stored.into_values().collect();
        prop_assert_eq!(&ledger::compute(&terms, &batched), &reference);

        // Nothing is counted twice and nothing beyond the book.
        let counted: u32 = reference
            .redemptions
            .iter()
            .filter(|r| r.outcome == ledger::Outcome::Counted)
            .map(|r| u32::from(r.units))
            .sum();
        prop_assert_eq!(counted, u32::from(reference.used_units));
        prop_assert_eq!(reference.used_units + reference.remaining, terms.units);
        let n_redemptions = events
            .iter()
            .filter(|e| matches!(e.kind, LedgerEventKind::Redemption { .. }))
            .count();
        prop_assert_eq!(reference.redemptions.len(), n_redemptions);
    }
}

proptest! {
    #![proptest_config(cases(10_000))]

    /// Appending redemptions to a stored tip gives the full recomputation's outcomes and tip, and
    /// the shortcut is taken whenever its conditions hold (all later, or all fitting).
    #[test]
    fn extending_a_tip_equals_recomputing(
        (terms, earlier) in any_history(),
        later in prop::collection::vec((1u64..4, 0u64..60, 1u16..4), 0..8),
    ) {
        let later: Vec<LedgerEvent> = later
            .into_iter()
            .enumerate()
            .map(|(i, (device, at, units))| LedgerEvent {
                event_id: EventId::v7(at, [100 + i as u8; 10]),
                device_id: DeviceId(device),
                device_seq: 50 + i as u64,
                at,
                kind: LedgerEventKind::Redemption { units },
            })
            .collect();
        let tip = ledger::LedgerTip::of(&ledger::compute(&terms, &earlier), &earlier);
        let all: Vec<LedgerEvent> = earlier.iter().chain(&later).copied().collect();
        let full = ledger::compute(&terms, &all);

        let in_order = later
            .iter()
            .all(|e| tip.latest_redemption_at.is_none_or(|latest| e.at > latest));
        let asked: u16 = later.iter().map(|e| match e.kind {
            LedgerEventKind::Redemption { units } => units,
            _ => 0,
        }).sum();
        let all_fit = tip.used_units + asked <= terms.units;
        let applies = terms.revoked_at.is_none()
            && terms.key_compromised_at.is_none()
            && (in_order || all_fit);
        let extended = ledger::extend(&terms, &tip, &later);
        prop_assert_eq!(extended.is_some(), applies);
        if let Some(extended) = extended {
            prop_assert_eq!(tip.extended(&extended, &later), ledger::LedgerTip::of(&full, &all));
            prop_assert_eq!(extended.used_units, full.used_units);
            prop_assert_eq!(extended.remaining, full.remaining);
            prop_assert_eq!(extended.redemptions.len(), later.len());
            for outcome in &extended.redemptions {
                prop_assert!(full.redemptions.contains(outcome), "{outcome:?} not in {full:?}");
            }
        }
    }
}

fn any_delivery_row() -> impl Strategy<Value = DeliveryRow> {
    // Few orders and notes, so rows of one order meet often.
    (1u64..6, 0u8..3, 0u8..3).prop_map(|(order_id, change, note)| {
        let change = [
            DeliveryChange::Assigned,
            DeliveryChange::Updated,
            DeliveryChange::Withdrawn,
        ][usize::from(change)];
        if change == DeliveryChange::Withdrawn {
            return DeliveryRow::withdrawn(0, order_id);
        }
        let task = DeliveryTask {
            order_id,
            day: "2026-09-21".into(),
            slot: DeliverySlot::Morning,
            slot_hours: "08:00-12:00".into(),
            address: format!("幸福小区 {order_id}栋"),
            label: String::new(),
            region: "江汉区".into(),
            contact: "王女士".into(),
            phone: "13800138000".into(),
            product: ProductCode(1),
            product_name: "18.9L 桶装水".into(),
            bottles: 1,
            payment: DeliveryPayment::Cash,
            book_id: None,
            note: ["", "请放门口", "到了打电话"][usize::from(note)].into(),
        };
        DeliveryRow::put(0, change, task)
    })
}

proptest! {
    #![proptest_config(cases(2_000))]

    #[test]
    fn a_delivery_feed_gives_the_same_list_in_any_page_split(
        rows in prop::collection::vec(any_delivery_row(), 0..40),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let rows: Vec<DeliveryRow> = rows
            .into_iter()
            .enumerate()
            .map(|(seq, row)| DeliveryRow { seq: seq as u64 + 1, ..row })
            .collect();
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(rows.len() + 1)).collect();
        cuts.push(0);
        cuts.push(rows.len());
        cuts.sort_unstable();
        let paged = cuts
            .windows(2)
            .fold(Vec::new(), |list, cut| delivery::apply(list, &rows[cut[0]..cut[1]]));
        prop_assert_eq!(&paged, &delivery::apply(Vec::new(), &rows));
        // And the list is what the last row of each order says, by order id.
        let mut last = std::collections::BTreeMap::new();
        for row in &rows {
            last.insert(row.order_id, row.task.clone());
        }
        let expected: Vec<DeliveryTask> = last.into_values().flatten().collect();
        prop_assert_eq!(paged, expected);
    }
}

fn any_bucket_entry() -> impl Strategy<Value = BucketEntry> {
    let movement = prop_oneof![
        (0u16..5).prop_map(|buckets| BucketMove::Opening { buckets }),
        (0u16..6, 0u16..6, 0u16..3).prop_map(|(full, empties, deposits)| BucketMove::Delivery {
            full,
            empties,
            deposits
        }),
        (0u16..4).prop_map(|buckets| BucketMove::Deposit { buckets }),
        (0u16..4).prop_map(|buckets| BucketMove::Refund { buckets }),
    ];
    (0u8..40, 0u64..50, movement).prop_map(|(n, at, movement)| BucketEntry {
        id: EventId(uuid::Uuid::from_u128(u128::from(n))),
        at,
        movement,
    })
}

proptest! {
    #![proptest_config(cases(10_000))]

    #[test]
    fn the_bucket_ledger_is_a_function_of_the_entry_set_and_never_goes_negative(
        entries in prop::collection::vec(any_bucket_entry(), 0..30),
        shuffle in any::<prop::sample::Index>(),
    ) {
        // One movement per id, as a server stores them.
        let mut by_id = std::collections::BTreeMap::new();
        for entry in entries {
            by_id.entry(entry.id).or_insert(entry);
        }
        let entries: Vec<BucketEntry> = by_id.into_values().collect();
        let ledger = buckets::compute(&entries);
        let mut mixed = entries.clone();
        mixed.extend(entries.iter().step_by(2).copied());
        let len = mixed.len();
        mixed.rotate_left(shuffle.index(len.max(1)).min(len));
        mixed.reverse();
        prop_assert_eq!(&buckets::compute(&mixed), &ledger);
        // Every empty is either counted or held back, and a customer never holds fewer than none.
        let empties: u64 = entries.iter().map(|e| match e.movement {
            BucketMove::Delivery { empties, .. } => u64::from(empties),
            _ => 0,
        }).sum();
        let held_back: u64 = ledger.held_back.iter().map(|h| u64::from(h.empties)).sum();
        prop_assert_eq!(ledger.returned + held_back, empties);
        prop_assert!(ledger.returned <= ledger.delivered);
        prop_assert_eq!(ledger.owed() + ledger.deposits.min(ledger.held()), ledger.held());
    }
}

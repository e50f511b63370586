//! The push decision as a pure function: facts in, plan out.
//!
//! Given a pushed batch with each event's signature verdict, the device, the stored chain tip and
//! what the store holds about the events and books the batch names ([`PushFacts`]),
//! [`classify`] says what becomes of every event — stored, a duplicate, or rejected for a reused
//! id, a broken chain or a number out of range — which review reasons to queue and what to
//! insert ([`PushPlan`]). The store loads the facts and applies the plan in one transaction;
//! [`PushPlan::settle`] then folds in the ledgers of the books the push moved (computed by the
//! protocol's `ledger::compute` or `ledger::extend`), which decide the ledger's own review
//! reasons and the status sequence each stored event answers with.
//!
//! It lives in the server rather than in `shared` because its answer is in the review queue's
//! terms ([`ReviewReason`]), a record of this server that devices never see; everything else it
//! reads is a protocol type. It imports no database, runtime or HTTP crate, so the committed
//! vectors (`server/vectors/push.json`) can pin every case without a database.

use std::collections::{BTreeSet, HashMap};

use shuipiao_shared::event::{ChainTip, EventBody, SignedEvent};
use shuipiao_shared::ids::{BookId, DeviceId, EventId, ScopeId, UserId};
use shuipiao_shared::ledger::{BookLedger, Outcome, RedemptionOutcome};
use shuipiao_shared::sync::{EventField, PushRejection, PushResult, PushVerdict};
use shuipiao_shared::verdict::UseTerms;

use crate::store::models::ReviewReason;

/// An event the store already holds under a pushed event's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its signed record.
    pub signed: Vec<u8>,
    /// The status sequence it was stored with, if it moved a book.
    pub server_seq: Option<u64>,
}

/// Everything the push decision reads. The store loads it under the device's lock.
#[derive(Debug, Clone)]
pub struct PushFacts<'a> {
    /// The pushing device.
    pub device: DeviceId,
    /// The courier the device was enrolled for.
    pub courier: UserId,
    /// The pushed batch, in the order pushed.
    pub events: &'a [SignedEvent],
    /// Whether each event's signature is the device's, in the same order; an event without a
    /// verdict here counts as badly signed.
    pub signature_ok: &'a [bool],
    /// Where the stored chain of the device ends.
    pub tip: ChainTip,
    /// Stored events among the batch's ids (see [`StoredEvent`]).
    pub stored: HashMap<EventId, StoredEvent>,
    /// The use terms of the books the batch names that the store knows (see [`named_books`]).
    pub books: HashMap<BookId, UseTerms>,
    /// The device's stored redemptions among the targets of the batch's voids, with their book
    /// (see [`void_targets`]).
    pub own_redemptions: HashMap<EventId, BookId>,
    /// The scopes the device's user serves.
    pub served: &'a [ScopeId],
}

/// What to do with a pushed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPlan {
    /// One answer per pushed event, in the order pushed, before the ledger has its say.
    results: Vec<PushResult>,
    /// Events to store, as indexes into the batch, in chain order.
    pub insert: Vec<usize>,
    /// Those of [`insert`](Self::insert) that move a known book's ledger.
    pub moving: Vec<usize>,
    /// The known books they move, in id order.
    pub books: Vec<BookId>,
    /// Review items the push decides, as (index into the batch, reason): every reason of an
    /// event, in [`ReviewReason`] order. The ledger's reasons come from its recomputation.
    pub review: Vec<(usize, ReviewReason)>,
    /// The device's new chain tip, when the push advanced it.
    pub tip: Option<ChainTip>,
    /// Stored events of this batch by id: their index, for in-batch duplicates.
    fresh: HashMap<EventId, usize>,
}

/// A book the push moved, after its ledger was recomputed.
#[derive(Debug, Clone, Copy)]
pub struct MovedBook<'a> {
    /// The book.
    pub book_id: BookId,
    /// The status sequence number of this change.
    pub seq: u64,
    /// Its ledger; of the push's redemptions at least.
    pub ledger: &'a BookLedger,
}

/// The ids of the books `events` name that may be stored, for loading [`PushFacts::books`].
pub fn named_books(events: &[SignedEvent]) -> BTreeSet<BookId> {
    events
        .iter()
        .filter_map(|e| e.event.body.book_id())
        .filter(|book| book.0 <= STORABLE)
        .collect()
}

/// The targets of the voids among `events`, for loading [`PushFacts::own_redemptions`].
pub fn void_targets(events: &[SignedEvent]) -> BTreeSet<EventId> {
    events
        .iter()
        .filter_map(|e| match e.event.body {
            EventBody::Void { target, .. } => Some(target),
            _ => None,
        })
        .collect()
}

/// The review reason the ledger gives a redemption, if it needs review: counted past the
/// book's units, or redeemed at or after its revocation.
pub fn ledger_reason(redemption: &RedemptionOutcome) -> Option<ReviewReason> {
    if !redemption.needs_review() {
        return None;
    }
    Some(match redemption.outcome {
        Outcome::AfterRevocation => ReviewReason::AfterRevocation,
        _ => ReviewReason::OverRedeemed,
    })
}

/// Decides the fate of every event of a pushed batch. Events are taken in chain order,
/// whatever order they were pushed in: a stored id answers `duplicate` (same bytes) or
/// `id_reused`; the first broken link, or the first number no column holds, is rejected and
/// every later new event is `after_rejected`; any other sound link is stored, with everything
/// odd about it queued for review, so one odd event never stalls the device's chain.
pub fn classify(facts: &PushFacts<'_>) -> PushPlan {
    let events = facts.events;
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&idx| events[idx].event.device_seq);
    let mut results: Vec<PushResult> = events
        .iter()
        .map(|event| rejected(event, PushRejection::AfterRejected))
        .collect();
    let mut tip = facts.tip;
    let mut fresh: HashMap<EventId, usize> = HashMap::new();
    let mut insert = Vec::new();
    let mut review = Vec::new();
    let mut chain_broken = false;
    for idx in order {
        let event = &events[idx];
        let event_id = event.event.event_id;
        if let Some(stored) = facts.stored.get(&event_id) {
            results[idx] = if stored.signed == event.to_bytes() {
                result(event, PushVerdict::Duplicate, stored.server_seq, None)
            } else {
                rejected(event, PushRejection::IdReused)
            };
            continue;
        }
        if let Some(&first) = fresh.get(&event_id) {
            results[idx] = if events[first] == *event {
                result(event, PushVerdict::Duplicate, None, None)
            } else {
                rejected(event, PushRejection::IdReused)
            };
            continue;
        }
        if chain_broken {
            continue;
        }
        // An event without a verdict counts as badly signed.
        let signature_ok = facts.signature_ok.get(idx).copied().unwrap_or(false);
        let next_tip = match tip.link(facts.device, event, |_| signature_ok) {
            Ok(next_tip) => next_tip,
            Err(link) => {
                chain_broken = true;
                results[idx] = rejected(event, PushRejection::Chain { link });
                continue;
            }
        };
        if let Some(field) = out_of_range(event) {
            chain_broken = true;
            results[idx] = rejected(event, PushRejection::OutOfRange { field });
            continue;
        }
        let reasons = review_reasons(facts, event, |target, book| {
            facts.own_redemptions.get(&target) == Some(&book)
                || fresh.get(&target).is_some_and(|&pos| {
                    matches!(events[pos].event.body,
                        EventBody::Redemption { book_id, .. } if book_id == book)
                })
        });
        tip = next_tip;
        fresh.insert(event_id, idx);
        insert.push(idx);
        let verdict = if reasons.is_empty() {
            PushVerdict::Accepted
        } else {
            PushVerdict::Conflict
        };
        review.extend(reasons.into_iter().map(|reason| (idx, reason)));
        results[idx] = result(event, verdict, None, None);
    }
    // Only redemptions and voids of known books move a ledger.
    let moving: Vec<usize> = insert
        .iter()
        .copied()
        .filter(|&idx| moves_book(&events[idx]).is_some_and(|b| facts.books.contains_key(&b)))
        .collect();
    let books: BTreeSet<BookId> = moving
        .iter()
        .filter_map(|&idx| moves_book(&events[idx]))
        .collect();
    PushPlan {
        results,
        insert,
        moving,
        books: books.into_iter().collect(),
        review,
        tip: (tip != facts.tip).then_some(tip),
        fresh,
    }
}

impl PushPlan {
    /// The answers to the push once the ledgers of the books it moved are known (`moved`: each
    /// of [`books`](Self::books) with its new status sequence and ledger): a stored event
    /// answers its book's sequence and is a `conflict` when the ledger sends it to review, and
    /// an in-batch duplicate answers what its first copy answers.
    pub fn settle(self, events: &[SignedEvent], moved: &[MovedBook<'_>]) -> Vec<PushResult> {
        let mut results = self.results;
        let ledger_of: HashMap<BookId, &MovedBook<'_>> =
            moved.iter().map(|book| (book.book_id, book)).collect();
        for &idx in &self.insert {
            let Some(book) = moves_book(&events[idx]).and_then(|book| ledger_of.get(&book)) else {
                continue;
            };
            let event_id = results[idx].event_id;
            if book
                .ledger
                .redemptions
                .iter()
                .any(|r| r.event_id == event_id && r.needs_review())
            {
                results[idx].verdict = PushVerdict::Conflict;
            }
            results[idx].server_seq = Some(book.seq);
        }
        for idx in 0..results.len() {
            if results[idx].verdict == PushVerdict::Duplicate
                && results[idx].server_seq.is_none()
                && let Some(&first) = self.fresh.get(&results[idx].event_id)
            {
                results[idx].server_seq = results[first].server_seq;
            }
        }
        results
    }
}

fn result(
    event: &SignedEvent,
    verdict: PushVerdict,
    server_seq: Option<u64>,
    rejection: Option<PushRejection>,
) -> PushResult {
    PushResult {
        event_id: event.event.event_id,
        device_seq: event.event.device_seq,
        verdict,
        server_seq,
        rejection,
    }
}

fn rejected(event: &SignedEvent, rejection: PushRejection) -> PushResult {
    result(event, PushVerdict::Rejected, None, Some(rejection))
}

/// The largest number the store holds: every integer column is a signed 64-bit integer.
pub const STORABLE: u64 = i64::MAX as u64;

/// The first number of `event` that no column can hold, if any. No honest device writes one:
/// sequence numbers count events, scan times are clock readings and a redemption or void names
/// a book the device verified, so such an event is refused. A refused scan's book id is not
/// checked: it is whatever a code shown to the device said (a forged code may name any id), so
/// it is stored, without its `book_id` column.
fn out_of_range(event: &SignedEvent) -> Option<EventField> {
    let e = &event.event;
    if e.device_seq > STORABLE {
        return Some(EventField::DeviceSeq);
    }
    if e.scanned_at > STORABLE {
        return Some(EventField::ScannedAt);
    }
    match e.body {
        EventBody::Redemption { book_id, .. } | EventBody::Void { book_id, .. }
            if book_id.0 > STORABLE =>
        {
            Some(EventField::BookId)
        }
        EventBody::Delivery { order_id, .. } if order_id > STORABLE => Some(EventField::OrderId),
        _ => None,
    }
}

/// The book a redemption or void moves; scan attempts and deliveries move none.
pub fn moves_book(event: &SignedEvent) -> Option<BookId> {
    match event.event.body {
        EventBody::Redemption { book_id, .. } | EventBody::Void { book_id, .. } => Some(book_id),
        EventBody::ScanAttempt { .. } | EventBody::Delivery { .. } => None,
    }
}

/// Everything that needs an operator's eye about a pushed event whose link is sound: a device
/// flag, a courier other than the device's, a book this server does not know, a redemption
/// outside its book's terms (by the door's own rules, [`UseTerms::breaches`]), or a void of
/// something but this device's redemption of that book (`own_redemption(target, book)` says
/// whether it is one). In [`ReviewReason`] order; empty for an ordinary event.
fn review_reasons(
    facts: &PushFacts<'_>,
    event: &SignedEvent,
    own_redemption: impl FnOnce(EventId, BookId) -> bool,
) -> Vec<ReviewReason> {
    let e = &event.event;
    let mut reasons = Vec::new();
    if e.courier_id != facts.courier {
        reasons.push(ReviewReason::ForeignCourier);
    }
    match e.body {
        EventBody::Redemption {
            book_id, product, ..
        } => match facts.books.get(&book_id) {
            Some(terms) => reasons.extend(
                terms
                    .breaches(e.scanned_at, facts.served, product)
                    .filter_map(ReviewReason::outside_terms),
            ),
            None => reasons.push(ReviewReason::UnknownBook),
        },
        EventBody::Void { book_id, .. } if !facts.books.contains_key(&book_id) => {
            reasons.push(ReviewReason::UnknownBook);
        }
        EventBody::Void { book_id, target } => {
            if !own_redemption(target, book_id) {
                reasons.push(ReviewReason::InvalidVoid);
            }
        }
        EventBody::ScanAttempt { .. } | EventBody::Delivery { .. } => {}
    }
    if matches!(e.body, EventBody::Redemption { .. }) && e.flags.needs_review() {
        reasons.push(ReviewReason::Flagged);
    }
    reasons.sort();
    reasons
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use shuipiao_shared::event::{Event, EventFlags, GENESIS_HASH};
    use shuipiao_shared::ids::ProductCode;

    use super::*;

    fn event(device_seq: u64, scanned_at: u64, body: EventBody) -> SignedEvent {
        Event {
            event_id: EventId::v7(1_000, [1; 10]),
            device_id: DeviceId(1),
            device_seq,
            prev_hash: GENESIS_HASH,
            scanned_at,
            courier_id: UserId(1),
            flags: EventFlags::default(),
            body,
        }
        .sign(&SigningKey::from_bytes(&[1; 32]))
    }

    #[test]
    fn numbers_past_a_signed_64_bit_integer_are_named() {
        let redemption = |id| EventBody::Redemption {
            book_id: BookId(id),
            units: 1,
            product: ProductCode(189),
        };
        let scan = |id| EventBody::ScanAttempt {
            book_id: Some(BookId(id)),
            refusal: shuipiao_shared::event::Refusal::AlreadyUsed,
        };
        let max = i64::MAX as u64;
        assert_eq!(out_of_range(&event(max, max, redemption(max))), None);
        assert_eq!(
            out_of_range(&event(max + 1, 1, redemption(1))),
            Some(EventField::DeviceSeq)
        );
        assert_eq!(
            out_of_range(&event(1, max + 1, redemption(1))),
            Some(EventField::ScannedAt)
        );
        assert_eq!(
            out_of_range(&event(1, 1, redemption(max + 1))),
            Some(EventField::BookId)
        );
        let forged = event(1, 1, scan(u64::MAX));
        assert_eq!(out_of_range(&forged), None, "a refused scan names any id");
        assert!(named_books(std::slice::from_ref(&forged)).is_empty());
        assert_eq!(
            named_books(&[event(1, 1, scan(max))]),
            BTreeSet::from([BookId(max)])
        );
    }

    #[test]
    fn an_event_without_a_signature_verdict_counts_as_badly_signed() {
        let events = [event(
            1,
            1,
            EventBody::ScanAttempt {
                book_id: None,
                refusal: shuipiao_shared::event::Refusal::AlreadyUsed,
            },
        )];
        let facts = PushFacts {
            device: DeviceId(1),
            courier: UserId(1),
            events: &events,
            signature_ok: &[],
            tip: ChainTip::GENESIS,
            stored: HashMap::new(),
            books: HashMap::new(),
            own_redemptions: HashMap::new(),
            served: &[],
        };
        let plan = classify(&facts);
        assert!(plan.insert.is_empty() && plan.tip.is_none());
        assert_eq!(
            plan.settle(&events, &[])[0].rejection,
            Some(PushRejection::Chain {
                link: shuipiao_shared::event::LinkError::BadSignature
            })
        );
    }
}

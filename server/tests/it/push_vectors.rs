//! The committed push vectors, `server/vectors/push.json`: what the push decision
//! (`sync::classify`) makes of a batch, from the facts the store loads to each event's answer,
//! the events stored, the new chain tip and every reason the review queue holds.
//!
//! As for the protocol's vectors (`shared/tests/vectors.rs`), the file is generated here from
//! fixed seeds with the expected outcome written down by intent (never computed by the code
//! under test), then
//! 1. compared with the committed file, so code and vectors cannot drift apart, and
//! 2. read back and every case run through `classify`, the ledger of each book it moves
//!    (`ledger::compute`) and `PushPlan::settle`.
//!
//! Regenerate after a deliberate change:
//! `SHUIPIAO_WRITE_VECTORS=1 cargo nextest run -p shuipiao-server --test it -E 'test(/push_vectors/)'`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::{Value, json};
use shuipiao_server::store::models::ReviewReason;
use shuipiao_server::store::models::ReviewReason::{
    AfterRevocation, Expired, Flagged, ForeignCourier, InvalidVoid, NotYetValid, OutOfScope,
    OverRedeemed, UnknownBook, WrongProduct,
};
use shuipiao_server::sync::classify::{self, MovedBook, PushFacts, StoredEvent};
use shuipiao_shared::event::{
    ChainTip, Event, EventBody, EventFlags, GENESIS_HASH, LinkError, Refusal, SignedEvent,
};
use shuipiao_shared::ids::{BookId, DeviceId, EventId, ProductCode, ScopeId, UserId};
use shuipiao_shared::ledger::{self, BookTerms, LedgerEvent};
use shuipiao_shared::sync::PushVerdict::{Accepted, Conflict, Duplicate};
use shuipiao_shared::sync::{EventField, PushRejection, PushResult, PushVerdict};
use shuipiao_shared::verdict::UseTerms;
use shuipiao_test_support::hex::{hex, unhex};

/// The device's clock for the pushed events: 2026-09-21T14:13:20Z.
const NOW: u64 = 1_790_000_000;
const BOOK_FROM: u32 = 1_780_000_000;
const BOOK_UNTIL: u32 = 1_800_000_000;
const BUCKET_18_9L: ProductCode = ProductCode(1);
const BUCKET_11_3L: ProductCode = ProductCode(2);
const WUHAN: ScopeId = ScopeId(1);
const XIANGYANG: ScopeId = ScopeId(2);
const DEVICE: DeviceId = DeviceId(7);
const OTHER_DEVICE: DeviceId = DeviceId(8);
const COURIER: UserId = UserId(31);
const OTHER_COURIER: UserId = UserId(32);
/// The status clock before every push; the books a push moves get the next numbers, in book id
/// order.
const STATUS_SEQ: u64 = 500;
/// The largest number the server stores.
const STORABLE: u64 = i64::MAX as u64;

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("serializable")
}

fn device_key() -> SigningKey {
    SigningKey::from_bytes(&[0x21; 32])
}

fn thief_key() -> SigningKey {
    SigningKey::from_bytes(&[0x66; 32])
}

// ---------------------------------------------------------------------------------------------
// Generation.

fn redeem(book: u64) -> EventBody {
    EventBody::Redemption {
        book_id: BookId(book),
        units: 1,
        product: BUCKET_18_9L,
    }
}

fn void(book: u64, target: &SignedEvent) -> EventBody {
    EventBody::Void {
        book_id: BookId(book),
        target: target.event.event_id,
    }
}

fn refused_scan(book: Option<u64>) -> EventBody {
    EventBody::ScanAttempt {
        book_id: book.map(BookId),
        refusal: Refusal::AlreadyUsed,
    }
}

/// A device's chain being written: every event links to the one before.
struct Chain {
    device: DeviceId,
    seq: u64,
    prev: [u8; 32],
    /// Distinguishes event ids.
    next_id: u8,
}

impl Chain {
    fn new(device: DeviceId) -> Chain {
        Chain {
            device,
            seq: 0,
            prev: GENESIS_HASH,
            next_id: if device == DEVICE { 1 } else { 0x80 },
        }
    }

    /// A chain whose stored tip is `seq` (with a made-up hash).
    fn at(seq: u64) -> Chain {
        Chain {
            seq,
            prev: [0x5e; 32],
            ..Chain::new(DEVICE)
        }
    }

    fn tip(&self) -> ChainTip {
        ChainTip {
            device_seq: self.seq,
            hash: self.prev,
        }
    }

    /// The next event, as `edit` leaves it, signed by the device and linked.
    fn next_with(
        &mut self,
        at: u64,
        body: EventBody,
        edit: impl FnOnce(&mut Event),
    ) -> SignedEvent {
        self.seq += 1;
        self.next_id += 1;
        let mut event = Event {
            event_id: EventId::v7(at * 1000, [self.next_id; 10]),
            device_id: self.device,
            device_seq: self.seq,
            prev_hash: self.prev,
            scanned_at: at,
            courier_id: COURIER,
            flags: EventFlags {
                offline: true,
                ..EventFlags::default()
            },
            body,
        };
        edit(&mut event);
        let signed = event.sign(&device_key());
        self.prev = signed.hash();
        signed
    }

    fn next(&mut self, at: u64, body: EventBody) -> SignedEvent {
        self.next_with(at, body, |_| {})
    }
}

/// A book as the store holds it: its use terms, ledger terms and stored ledger events.
#[derive(Clone)]
struct Book {
    id: u64,
    units: u16,
    scope: ScopeId,
    revoked_at: Option<u64>,
    events: Vec<LedgerEvent>,
}

fn book(id: u64, units: u16) -> Book {
    Book {
        id,
        units,
        scope: WUHAN,
        revoked_at: None,
        events: Vec::new(),
    }
}

impl Book {
    fn with(mut self, stored: &SignedEvent) -> Book {
        self.events.extend(LedgerEvent::from_device(stored));
        self
    }

    fn json(&self) -> Value {
        json!({"book_id": self.id, "product": BUCKET_18_9L, "scope": self.scope,
            "valid_from": BOOK_FROM, "valid_until": BOOK_UNTIL, "units": self.units,
            "revoked_at": self.revoked_at, "key_compromised_at": null, "events": self.events})
    }
}

/// A case being written: facts, then the expected outcome.
struct Case {
    name: String,
    description: String,
    tip: ChainTip,
    events: Vec<(SignedEvent, bool)>,
    stored: Vec<(SignedEvent, Option<u64>)>,
    own: Vec<(SignedEvent, u64)>,
    books: Vec<Book>,
    results: Vec<Value>,
    inserted: Vec<EventId>,
    new_tip: Option<ChainTip>,
    review: BTreeMap<EventId, Vec<ReviewReason>>,
}

fn case(name: &str, description: &str, tip: ChainTip) -> Case {
    Case {
        name: name.to_string(),
        description: description.to_string(),
        tip,
        events: Vec::new(),
        stored: Vec::new(),
        own: Vec::new(),
        books: Vec::new(),
        results: Vec::new(),
        inserted: Vec::new(),
        new_tip: None,
        review: BTreeMap::new(),
    }
}

/// The expected answer for one pushed event.
fn answer(
    event: &SignedEvent,
    verdict: PushVerdict,
    server_seq: Option<u64>,
    rejection: Option<PushRejection>,
) -> Value {
    to_json(&PushResult {
        event_id: event.event.event_id,
        device_seq: event.event.device_seq,
        verdict,
        server_seq,
        rejection,
    })
}

impl Case {
    fn books(mut self, books: &[Book]) -> Case {
        self.books.extend(books.iter().cloned());
        self
    }

    fn stored(mut self, event: &SignedEvent, server_seq: Option<u64>) -> Case {
        self.stored.push((*event, server_seq));
        self
    }

    fn own(mut self, redemption: &SignedEvent, book: u64) -> Case {
        self.own.push((*redemption, book));
        self
    }

    /// Pushes `event`, expecting it stored with `verdict`, answering `server_seq`, and queued
    /// for review with `reasons`.
    fn stores(
        mut self,
        event: &SignedEvent,
        verdict: PushVerdict,
        server_seq: Option<u64>,
        reasons: &[ReviewReason],
    ) -> Case {
        self.events.push((*event, true));
        self.results.push(answer(event, verdict, server_seq, None));
        self.inserted.push(event.event.event_id);
        self.new_tip = Some(ChainTip {
            device_seq: event.event.device_seq,
            hash: event.hash(),
        });
        self.reasons(event, reasons)
    }

    /// Pushes `event` (its signature `signature_ok`), expecting it answered `verdict`,
    /// `server_seq` and `rejection`, and not stored.
    fn answers(
        mut self,
        event: &SignedEvent,
        signature_ok: bool,
        verdict: PushVerdict,
        server_seq: Option<u64>,
        rejection: Option<PushRejection>,
    ) -> Case {
        self.events.push((*event, signature_ok));
        self.results
            .push(answer(event, verdict, server_seq, rejection));
        self
    }

    fn rejects(self, event: &SignedEvent, signature_ok: bool, rejection: PushRejection) -> Case {
        self.answers(
            event,
            signature_ok,
            PushVerdict::Rejected,
            None,
            Some(rejection),
        )
    }

    /// Expects `event` (stored before or now) in the review queue with `reasons` after the push.
    fn reasons(mut self, event: &SignedEvent, reasons: &[ReviewReason]) -> Case {
        if !reasons.is_empty() {
            self.review.insert(event.event.event_id, reasons.to_vec());
        }
        self
    }

    fn json(self) -> Value {
        let record = |e: &SignedEvent| hex(&e.to_bytes());
        let events: Vec<Value> = self
            .events
            .iter()
            .map(|(e, ok)| json!({"record": record(e), "signature_ok": ok}))
            .collect();
        let stored: Vec<Value> = self
            .stored
            .iter()
            .map(|(e, seq)| json!({"record": record(e), "server_seq": seq}))
            .collect();
        let own: Vec<Value> = self
            .own
            .iter()
            .map(|(e, book)| json!({"event_id": e.event.event_id, "book_id": book}))
            .collect();
        let review: Vec<Value> = self
            .review
            .iter()
            .map(|(id, reasons)| json!({"event_id": id, "reasons": reasons}))
            .collect();
        json!({
            "name": self.name,
            "description": self.description,
            "facts": {
                "device_id": DEVICE, "courier_id": COURIER, "served": [WUHAN],
                "tip": self.tip, "status_seq": STATUS_SEQ,
                "events": events, "stored": stored, "own_redemptions": own,
                "books": self.books.iter().map(Book::json).collect::<Vec<_>>(),
            },
            "expect": {
                "results": self.results, "inserted": self.inserted, "tip": self.new_tip,
                "review": review,
            },
        })
    }
}

const NEXT_SEQ: Option<u64> = Some(STATUS_SEQ + 1);

/// The chain, idempotency and range cases, one at a time.
fn chain_cases() -> Vec<Case> {
    let mut cases = Vec::new();

    let mut c = Chain::new(DEVICE);
    let r = c.next(NOW, redeem(3001));
    cases.push(
        case(
            "ordinary redemption",
            "A redemption of a known book within its terms is accepted and answers \
            its book's next status sequence.",
            ChainTip::GENESIS,
        )
        .books(&[book(3001, 10)])
        .stores(&r, Accepted, NEXT_SEQ, &[]),
    );

    let mut c = Chain::new(DEVICE);
    let s = c.next(NOW, refused_scan(Some(3001)));
    let forged = c.next(NOW + 1, refused_scan(Some(u64::MAX)));
    let unreadable = c.next(NOW + 2, refused_scan(None));
    cases.push(
        case(
            "refused scans",
            "Refused scans are stored and move no book, so they answer no status \
            sequence; one whose code named an id past 2^63 - 1 (a forged code may \
            name any) is stored too.",
            ChainTip::GENESIS,
        )
        .books(&[book(3001, 10)])
        .stores(&s, Accepted, None, &[])
        .stores(&forged, Accepted, None, &[])
        .stores(&unreadable, Accepted, None, &[]),
    );

    let mut c = Chain::new(DEVICE);
    let first = c.next(NOW, redeem(3001));
    let second = c.next(NOW + 60, redeem(3002));
    let third = c.next(NOW + 120, refused_scan(Some(3001)));
    let mut reversed = case(
        "pushed in reverse",
        "Events are taken in chain order whatever order they are pushed in; \
        answers keep the pushed order. The two books moved get the next two \
        status sequences in book id order.",
        ChainTip::GENESIS,
    )
    .books(&[book(3001, 10), book(3002, 10)]);
    reversed = reversed
        .stores(&third, Accepted, None, &[])
        .stores(&second, Accepted, Some(STATUS_SEQ + 2), &[])
        .stores(&first, Accepted, Some(STATUS_SEQ + 1), &[]);
    reversed.inserted = vec![
        first.event.event_id,
        second.event.event_id,
        third.event.event_id,
    ];
    reversed.new_tip = Some(ChainTip {
        device_seq: 3,
        hash: third.hash(),
    });
    cases.push(reversed);

    let mut c = Chain::new(DEVICE);
    let stored_redemption = c.next(NOW, redeem(3001));
    let stored_scan = c.next(NOW + 30, refused_scan(Some(3001)));
    let tip = c.tip();
    let after = c.next(NOW + 60, redeem(3001));
    cases.push(
        case(
            "resent stored events",
            "Events already stored with the same bytes are duplicates answering the \
            status sequence they were stored with (none for a refused scan); the \
            next event continues the chain.",
            tip,
        )
        .books(&[book(3001, 10).with(&stored_redemption)])
        .stored(&stored_redemption, Some(420))
        .stored(&stored_scan, None)
        .answers(&stored_redemption, true, Duplicate, Some(420), None)
        .answers(&stored_scan, true, Duplicate, None, None)
        .stores(&after, Accepted, NEXT_SEQ, &[]),
    );

    let mut c = Chain::new(DEVICE);
    let stored = c.next(NOW, redeem(3001));
    let tip = c.tip();
    let mut forged = stored;
    forged.event.scanned_at += 1;
    let forged = forged.event.sign(&device_key());
    cases.push(
        case(
            "stored id with other content",
            "An event whose id is stored with other bytes is refused as id_reused, \
            before its link is looked at.",
            tip,
        )
        .books(&[book(3001, 10).with(&stored)])
        .stored(&stored, Some(420))
        .rejects(&forged, true, PushRejection::IdReused),
    );

    let mut c = Chain::new(DEVICE);
    let r = c.next(NOW, redeem(3001));
    let scan = c.next(NOW + 30, refused_scan(Some(3001)));
    let mut reused = c.next(NOW + 60, redeem(3001));
    reused.event.event_id = scan.event.event_id;
    let reused = reused.event.sign(&device_key());
    let copies = case(
        "copies within the batch",
        "A second copy of an event in the same batch is a duplicate answering \
        what the first copy answers; another event with an id used earlier in \
        the batch is id_reused, and being no link it breaks nothing.",
        ChainTip::GENESIS,
    )
    .books(&[book(3001, 10)])
    .stores(&r, Accepted, NEXT_SEQ, &[])
    .answers(&r, true, Duplicate, NEXT_SEQ, None)
    .stores(&scan, Accepted, None, &[])
    .rejects(&reused, true, PushRejection::IdReused);
    cases.push(copies);

    let mut c = Chain::new(DEVICE);
    let one = c.next(NOW, redeem(3001));
    let _two = c.next(NOW + 30, redeem(3001));
    let three = c.next(NOW + 60, redeem(3001));
    let four = c.next(NOW + 90, refused_scan(None));
    cases.push(
        case(
            "gap",
            "A missing event rejects the first event after it (chain, gap) and \
            every later new event (after_rejected); the events before it are \
            stored.",
            ChainTip::GENESIS,
        )
        .books(&[book(3001, 10)])
        .stores(&one, Accepted, NEXT_SEQ, &[])
        .rejects(
            &three,
            true,
            PushRejection::Chain {
                link: LinkError::Gap {
                    expected: 2,
                    found: 3,
                },
            },
        )
        .rejects(&four, true, PushRejection::AfterRejected),
    );

    let mut c = Chain::new(DEVICE);
    let one = c.next(NOW, redeem(3001));
    let bad_link = c.next_with(NOW + 30, redeem(3001), |e| e.prev_hash = [0xab; 32]);
    let after = c.next(NOW + 60, redeem(3001));
    cases.push(
        case(
            "bad link",
            "An event whose prev_hash is not the hash of the event before is \
            rejected (chain, bad_link), and so is every later new event, a copy of \
            a stored one still answering duplicate.",
            ChainTip::GENESIS,
        )
        .books(&[book(3001, 10)])
        .stores(&one, Accepted, NEXT_SEQ, &[])
        .rejects(
            &bad_link,
            true,
            PushRejection::Chain {
                link: LinkError::BadLink,
            },
        )
        .answers(&one, true, Duplicate, NEXT_SEQ, None)
        .rejects(&after, true, PushRejection::AfterRejected),
    );

    let mut c = Chain::new(DEVICE);
    let one = c.next(NOW, redeem(3001));
    let thief = c.next(NOW + 30, redeem(3001)).event.sign(&thief_key());
    cases.push(
        case(
            "bad signature",
            "An event not signed by the device's key is rejected (chain, \
            bad_signature).",
            ChainTip::GENESIS,
        )
        .books(&[book(3001, 10)])
        .stores(&one, Accepted, NEXT_SEQ, &[])
        .rejects(
            &thief,
            false,
            PushRejection::Chain {
                link: LinkError::BadSignature,
            },
        ),
    );

    let mut other = Chain::new(OTHER_DEVICE);
    let foreign = other.next(NOW, redeem(3001));
    cases.push(
        case(
            "another device's event",
            "An event naming another device is rejected (chain, wrong_device), \
            though signed with this device's key.",
            ChainTip::GENESIS,
        )
        .books(&[book(3001, 10)])
        .rejects(
            &foreign,
            true,
            PushRejection::Chain {
                link: LinkError::WrongDevice,
            },
        ),
    );

    let mut c = Chain::at(STORABLE);
    let tip = c.tip();
    let past = c.next(NOW, redeem(3001));
    cases.push(
        case(
            "device_seq out of range",
            "A sound link numbered past 2^63 - 1 is refused as out_of_range \
            (device_seq).",
            tip,
        )
        .books(&[book(3001, 10)])
        .rejects(
            &past,
            true,
            PushRejection::OutOfRange {
                field: EventField::DeviceSeq,
            },
        ),
    );

    let mut c = Chain::new(DEVICE);
    let late = c.next_with(NOW, redeem(3001), |e| e.scanned_at = STORABLE + 1);
    let after = c.next(NOW, redeem(3001));
    cases.push(
        case(
            "scanned_at out of range",
            "A scan time past 2^63 - 1 is refused as out_of_range (scanned_at), and \
            every later new event after it.",
            ChainTip::GENESIS,
        )
        .books(&[book(3001, 10)])
        .rejects(
            &late,
            true,
            PushRejection::OutOfRange {
                field: EventField::ScannedAt,
            },
        )
        .rejects(&after, true, PushRejection::AfterRejected),
    );

    let mut c = Chain::new(DEVICE);
    let huge = c.next(NOW, redeem(STORABLE + 1));
    let mut c = Chain::new(DEVICE);
    let huge_void = c.next(NOW, void(STORABLE + 1, &huge));
    cases.push(
        case(
            "book_id out of range",
            "A redemption naming a book past 2^63 - 1 is refused as out_of_range \
            (book_id).",
            ChainTip::GENESIS,
        )
        .rejects(
            &huge,
            true,
            PushRejection::OutOfRange {
                field: EventField::BookId,
            },
        ),
    );
    cases.push(
        case(
            "void book_id out of range",
            "A void naming a book past 2^63 - 1 is refused as out_of_range \
            (book_id).",
            ChainTip::GENESIS,
        )
        .rejects(
            &huge_void,
            true,
            PushRejection::OutOfRange {
                field: EventField::BookId,
            },
        ),
    );
    cases
}

/// The voids, the ledger's reasons and several reasons at once.
fn review_cases() -> Vec<Case> {
    let mut cases = Vec::new();

    let mut c = Chain::new(DEVICE);
    let stored = c.next(NOW, redeem(3001));
    let tip = c.tip();
    let undo = c.next(NOW + 60, void(3001, &stored));
    cases.push(
        case(
            "void of the device's stored redemption",
            "A void of this device's stored redemption of the same book is accepted \
            and moves the book.",
            tip,
        )
        .books(&[book(3001, 10).with(&stored)])
        .own(&stored, 3001)
        .stores(&undo, Accepted, NEXT_SEQ, &[]),
    );

    let mut c = Chain::new(DEVICE);
    let r = c.next(NOW, redeem(3001));
    let undo = c.next(NOW + 60, void(3001, &r));
    cases.push(
        case(
            "void of a redemption of the same batch",
            "A void of a redemption stored earlier in the same batch is accepted; \
            both answer the book's one new status sequence.",
            ChainTip::GENESIS,
        )
        .books(&[book(3001, 10)])
        .stores(&r, Accepted, NEXT_SEQ, &[])
        .stores(&undo, Accepted, NEXT_SEQ, &[]),
    );

    let mut c = Chain::new(DEVICE);
    let r = c.next(NOW, redeem(3001));
    let wrong_book = c.next(NOW + 60, void(3002, &r));
    cases.push(
        case(
            "void naming another book",
            "A void of the device's redemption of book 3001 that names book 3002 is \
            stored and queued as invalid_void.",
            ChainTip::GENESIS,
        )
        .books(&[book(3001, 10), book(3002, 10)])
        .stores(&r, Accepted, NEXT_SEQ, &[])
        .stores(&wrong_book, Conflict, Some(STATUS_SEQ + 2), &[InvalidVoid]),
    );

    let mut other = Chain::new(OTHER_DEVICE);
    let theirs = other.next(NOW - 3600, redeem(3001));
    let mut c = Chain::new(DEVICE);
    let undo_theirs = c.next(NOW, void(3001, &theirs));
    let undo_unknown = c.next(NOW + 30, void(3999, &theirs));
    cases.push(
        case(
            "voids of what is not the device's",
            "A void of another device's redemption is queued as invalid_void (the \
            ledger ignores it, so the redemption still counts); a void of a book \
            the server does not know is queued as unknown_book and moves nothing.",
            ChainTip::GENESIS,
        )
        .books(&[book(3001, 10).with(&theirs)])
        .stores(&undo_theirs, Conflict, NEXT_SEQ, &[InvalidVoid])
        .stores(&undo_unknown, Conflict, None, &[UnknownBook]),
    );

    let mut other = Chain::new(OTHER_DEVICE);
    let later = other.next(NOW + 600, redeem(3001));
    let mut c = Chain::new(DEVICE);
    let earlier = c.next(NOW, redeem(3001));
    cases.push(
        case(
            "an earlier redemption takes the last unit",
            "The ledger orders redemptions by scan time: a pushed redemption \
            earlier than a stored one of a 1-unit book counts, and the stored one \
            is queued as over_redeemed.",
            ChainTip::GENESIS,
        )
        .books(&[book(3001, 1).with(&later)])
        .stores(&earlier, Accepted, NEXT_SEQ, &[])
        .reasons(&later, &[OverRedeemed]),
    );

    let mut other = Chain::new(OTHER_DEVICE);
    let theirs = other.next(NOW - 3600, redeem(3001));
    let mut c = Chain::new(DEVICE);
    let everything = c.next_with(
        u64::from(BOOK_UNTIL) + 1,
        EventBody::Redemption {
            book_id: BookId(3001),
            units: 1,
            product: BUCKET_11_3L,
        },
        |e| {
            e.courier_id = OTHER_COURIER;
            e.flags.stale = true;
            e.flags.supervisor_override = true;
        },
    );
    let mut far = book(3001, 1).with(&theirs);
    far.scope = XIANGYANG;
    cases.push(
        case(
            "every reason at once",
            "A redemption by another courier, of another product, outside the \
            scopes served, after the book's last valid second, under a supervisor \
            override and past the book's units is stored and lists every reason, \
            ledger reasons first.",
            ChainTip::GENESIS,
        )
        .books(&[far])
        .stores(
            &everything,
            Conflict,
            NEXT_SEQ,
            &[
                OverRedeemed,
                ForeignCourier,
                OutOfScope,
                WrongProduct,
                Expired,
                Flagged,
            ],
        ),
    );
    cases
}

/// Every device flag with every anomaly the review queue knows, one redemption (a void for
/// invalid_void) each: the anomaly's reason, plus flagged when a flag other than offline is set
/// on a redemption.
fn matrix_cases() -> Vec<Case> {
    let flag_sets: [(&str, EventFlags); 6] = [
        ("no flag", EventFlags::default()),
        (
            "offline",
            EventFlags {
                offline: true,
                ..EventFlags::default()
            },
        ),
        (
            "stale",
            EventFlags {
                offline: true,
                stale: true,
                ..EventFlags::default()
            },
        ),
        (
            "supervisor override",
            EventFlags {
                offline: true,
                stale: true,
                supervisor_override: true,
                ..EventFlags::default()
            },
        ),
        (
            "clock rollback",
            EventFlags {
                clock_rollback: true,
                ..EventFlags::default()
            },
        ),
        (
            "every flag",
            EventFlags {
                offline: true,
                stale: true,
                supervisor_override: true,
                clock_rollback: true,
            },
        ),
    ];
    let anomalies = [
        "none",
        "over_redeemed",
        "after_revocation",
        "unknown_book",
        "foreign_courier",
        "invalid_void",
        "out_of_scope",
        "wrong_product",
        "not_yet_valid",
        "expired",
    ];
    let mut cases = Vec::new();
    for (flag_name, flags) in flag_sets {
        for anomaly in anomalies {
            let mut other = Chain::new(OTHER_DEVICE);
            let theirs = other.next(NOW - 3600, redeem(3001));
            let mut c = Chain::new(DEVICE);
            let mut known = book(3001, 10);
            let mut at = NOW;
            let mut body = redeem(3001);
            let mut courier = COURIER;
            let mut reason = None;
            match anomaly {
                "over_redeemed" => {
                    known = book(3001, 1).with(&theirs);
                    reason = Some(OverRedeemed);
                }
                "after_revocation" => {
                    known.revoked_at = Some(NOW - 60);
                    reason = Some(AfterRevocation);
                }
                "unknown_book" => {
                    body = redeem(3999);
                    reason = Some(UnknownBook);
                }
                "foreign_courier" => {
                    courier = OTHER_COURIER;
                    reason = Some(ForeignCourier);
                }
                "invalid_void" => {
                    known = known.with(&theirs);
                    body = void(3001, &theirs);
                    reason = Some(InvalidVoid);
                }
                "out_of_scope" => {
                    known.scope = XIANGYANG;
                    reason = Some(OutOfScope);
                }
                "wrong_product" => {
                    body = EventBody::Redemption {
                        book_id: BookId(3001),
                        units: 1,
                        product: BUCKET_11_3L,
                    };
                    reason = Some(WrongProduct);
                }
                "not_yet_valid" => {
                    at = u64::from(BOOK_FROM) - 1;
                    reason = Some(NotYetValid);
                }
                "expired" => {
                    at = u64::from(BOOK_UNTIL) + 1;
                    reason = Some(Expired);
                }
                _ => {}
            }
            let is_redemption = matches!(body, EventBody::Redemption { .. });
            let event = c.next_with(at, body, |e| {
                e.courier_id = courier;
                e.flags = flags;
            });
            let flagged =
                is_redemption && (flags.stale || flags.supervisor_override || flags.clock_rollback);
            let reasons: Vec<ReviewReason> = reason
                .into_iter()
                .chain(flagged.then_some(Flagged))
                .collect();
            let verdict = if reasons.is_empty() {
                Accepted
            } else {
                Conflict
            };
            let server_seq = if anomaly == "unknown_book" {
                None
            } else {
                NEXT_SEQ
            };
            let kind = if is_redemption { "redemption" } else { "void" };
            cases.push(
                case(
                    &format!("{flag_name} × {anomaly}"),
                    &format!(
                        "A {kind} with flags {flag_name} and anomaly {anomaly}: stored, queued \
                        for review with {}.",
                        if reasons.is_empty() {
                            "nothing".to_string()
                        } else {
                            reasons
                                .iter()
                                .map(|r| r.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    ),
                    ChainTip::GENESIS,
                )
                .books(&[known])
                .stores(&event, verdict, server_seq, &reasons),
            );
        }
    }
    cases
}

fn push_file() -> Value {
    let cases: Vec<Value> = chain_cases()
        .into_iter()
        .chain(review_cases())
        .chain(matrix_cases())
        .map(Case::json)
        .collect();
    json!({
        "description": "The server's push decision (docs/protocol.md, section Events and the \
        hash chain, and the review queue): each case gives the facts the store \
        loads for a pushed batch of device 7 (courier 31, serving scope 1) and \
        expects each event's answer in pushed order, the events stored in \
        chain order, the new chain tip (null when unchanged) and every review \
        reason the queue holds afterwards. Event records are signed with \
        device_seed; signature_ok is each event's signature verdict. Each book \
        lists its use terms, its ledger terms and its stored ledger events; \
        the books a push moves get status sequences status_seq + 1, + 2 … in \
        book id order and their ledgers are computed from their stored events \
        and the stored new ones.",
        "device_seed": hex(&[0x21; 32]),
        "device_public_key": hex(device_key().verifying_key().as_bytes()),
        "cases": cases,
    })
}

// ---------------------------------------------------------------------------------------------
// Checks.

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/push.json")
}

#[test]
fn committed_push_vectors_match_the_generator() {
    let generated = serde_json::to_string_pretty(&push_file()).expect("json") + "\n";
    if std::env::var_os("SHUIPIAO_WRITE_VECTORS").is_some() {
        std::fs::create_dir_all(vectors_path().parent().expect("a folder")).expect("folder");
        std::fs::write(vectors_path(), &generated).expect("write vector file");
    }
    let committed = std::fs::read_to_string(vectors_path()).unwrap_or_default();
    assert!(
        committed == generated,
        "server/vectors/push.json differs from what the generator makes; if the change is \
        deliberate, run SHUIPIAO_WRITE_VECTORS=1 with this test"
    );
}

fn record(value: &Value) -> SignedEvent {
    SignedEvent::from_bytes(&unhex(value)).expect("record parses")
}

fn field<T: serde::de::DeserializeOwned>(value: &Value) -> T {
    serde_json::from_value(value.clone()).expect("field decodes")
}

#[test]
fn push_vectors() {
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(vectors_path()).expect("vector file present"),
    )
    .expect("vector file is JSON");
    let key_bytes: [u8; 32] = unhex(&file["device_public_key"])
        .try_into()
        .expect("32 bytes");
    let device_key = VerifyingKey::from_bytes(&key_bytes).expect("valid key");
    for case in file["cases"].as_array().expect("cases") {
        let name = &case["name"];
        let facts = &case["facts"];
        let pushed = facts["events"].as_array().expect("events");
        let events: Vec<SignedEvent> = pushed.iter().map(|e| record(&e["record"])).collect();
        let signature_ok: Vec<bool> = pushed.iter().map(|e| field(&e["signature_ok"])).collect();
        assert_eq!(
            SignedEvent::verify_all(&events, &device_key),
            signature_ok,
            "{name}: signature verdicts"
        );
        let served: Vec<ScopeId> = field(&facts["served"]);
        let mut books = HashMap::new();
        let mut ledgers = HashMap::new();
        for book in facts["books"].as_array().expect("books") {
            let id = BookId(field(&book["book_id"]));
            let terms = UseTerms {
                product: field(&book["product"]),
                scope: field(&book["scope"]),
                valid_from: field(&book["valid_from"]),
                valid_until: field(&book["valid_until"]),
            };
            let ledger_terms = BookTerms {
                units: field(&book["units"]),
                revoked_at: field(&book["revoked_at"]),
                key_compromised_at: field(&book["key_compromised_at"]),
            };
            let stored: Vec<LedgerEvent> = field(&book["events"]);
            books.insert(id, terms);
            ledgers.insert(id, (ledger_terms, stored));
        }
        let stored = facts["stored"]
            .as_array()
            .expect("stored")
            .iter()
            .map(|s| {
                let signed = unhex(&s["record"]);
                let id = SignedEvent::from_bytes(&signed)
                    .expect("record parses")
                    .event
                    .event_id;
                (
                    id,
                    StoredEvent {
                        signed,
                        server_seq: field(&s["server_seq"]),
                    },
                )
            })
            .collect();
        let own_redemptions = facts["own_redemptions"]
            .as_array()
            .expect("own redemptions")
            .iter()
            .map(|o| (field(&o["event_id"]), BookId(field(&o["book_id"]))))
            .collect();
        let push = PushFacts {
            device: DeviceId(field(&facts["device_id"])),
            courier: UserId(field(&facts["courier_id"])),
            events: &events,
            signature_ok: &signature_ok,
            tip: field(&facts["tip"]),
            stored,
            books,
            own_redemptions,
            served: &served,
        };
        let plan = classify::classify(&push);
        let status_seq: u64 = field(&facts["status_seq"]);
        let computed: Vec<(BookId, u64, ledger::BookLedger)> = plan
            .books
            .iter()
            .zip(status_seq + 1..)
            .map(|(&book, seq)| {
                let (terms, stored) = &ledgers[&book];
                let mut all = stored.clone();
                all.extend(
                    plan.moving
                        .iter()
                        .filter(|&&idx| classify::moves_book(&events[idx]) == Some(book))
                        .filter_map(|&idx| LedgerEvent::from_device(&events[idx])),
                );
                (book, seq, ledger::compute(terms, &all))
            })
            .collect();
        let mut review: BTreeMap<EventId, BTreeSet<ReviewReason>> = BTreeMap::new();
        for &(idx, reason) in &plan.review {
            review
                .entry(events[idx].event.event_id)
                .or_default()
                .insert(reason);
        }
        for (_, _, book) in &computed {
            for redemption in &book.redemptions {
                if let Some(reason) = classify::ledger_reason(redemption) {
                    review
                        .entry(redemption.event_id)
                        .or_default()
                        .insert(reason);
                }
            }
        }
        let inserted: Vec<EventId> = plan
            .insert
            .iter()
            .map(|&idx| events[idx].event.event_id)
            .collect();
        let tip = plan.tip;
        let moved: Vec<MovedBook<'_>> = computed
            .iter()
            .map(|(book_id, seq, ledger)| MovedBook {
                book_id: *book_id,
                seq: *seq,
                ledger,
            })
            .collect();
        let results = plan.settle(&events, &moved);
        let review: Vec<Value> = review
            .into_iter()
            .map(|(id, reasons)| json!({"event_id": id, "reasons": reasons}))
            .collect();
        let got = json!({"results": results, "inserted": inserted, "tip": tip, "review": review});
        assert_eq!(got, case["expect"], "{name}");
    }
}

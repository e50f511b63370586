//! What the server holds, read straight from its database after the fact, and the assertions
//! every scenario ends with. Ledgers are recomputed here with the protocol's pure
//! `ledger::compute` over the stored event set and compared with what the server stored, so a
//! server that counted an event twice, lost one, or kept a stale status is caught; every failure
//! names the event (id, device, sequence) or book that diverged.

use std::collections::{BTreeMap, BTreeSet};

use shuipiao_server::config::DatabaseUrl;
use shuipiao_server::store::Store;
use shuipiao_server::store::models::{Book, KeyPurpose, ReviewItem, ReviewReason};
use shuipiao_shared::event::{EventBody, SignedEvent};
use shuipiao_shared::ids::{BookId, DeviceId, EventId, UserId};
use shuipiao_shared::ledger::{
    self, BookLedger, BookTerms, LedgerEvent, LedgerEventKind, Outcome, RedemptionOutcome,
    ResolutionAction,
};
use shuipiao_shared::status::BookState;
use sqlx::Row;

/// An operator's resolution as stored.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// The resolution event.
    pub event_id: EventId,
    /// The redemption it resolves.
    pub target: EventId,
    /// Its book.
    pub book_id: BookId,
    /// The decision.
    pub action: ResolutionAction,
    /// Who decided.
    pub operator: UserId,
    /// Server time.
    pub at: u64,
}

/// A snapshot of the server's events, books, resolutions and review queue.
#[derive(Debug, Clone)]
pub struct ServerView {
    /// Every stored device event by id.
    pub events: BTreeMap<EventId, SignedEvent>,
    /// The status sequence of the change each stored event made to its book.
    pub server_seqs: BTreeMap<EventId, u64>,
    /// Every book by id.
    pub books: BTreeMap<BookId, Book>,
    /// Every resolution.
    pub resolutions: Vec<Resolution>,
    /// The whole review queue, resolved items included.
    pub review: Vec<ReviewItem>,
    /// Compromise time of each issuer key (hex kid) marked compromised.
    compromised: BTreeMap<String, u64>,
}

fn describe(event: &SignedEvent) -> String {
    let e = &event.event;
    let what = match e.body {
        EventBody::Redemption { book_id, units, .. } => {
            format!("redemption of {units} on book {book_id}")
        }
        EventBody::Void { book_id, target } => format!("void of {target} on book {book_id}"),
        EventBody::ScanAttempt { book_id, refusal } => {
            format!("scan attempt ({refusal:?}) on book {book_id:?}")
        }
        EventBody::Delivery {
            order_id, outcome, ..
        } => format!("delivery ({outcome:?}) of order {order_id}"),
    };
    format!(
        "event {} (device {} seq {}, {what})",
        e.event_id, e.device_id, e.device_seq
    )
}

impl ServerView {
    /// Reads everything from the database at `url`.
    pub async fn load(url: &DatabaseUrl) -> ServerView {
        let store = Store::connect(url)
            .await
            .unwrap_or_else(|e| panic!("open {url} for inspection: {e}"));
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(url.expose())
            .await
            .unwrap_or_else(|e| panic!("open {url} for raw reads: {e}"));

        let mut events = BTreeMap::new();
        let mut server_seqs = BTreeMap::new();
        for row in sqlx::query("SELECT event_id, signed, server_seq FROM events")
            .fetch_all(&pool)
            .await
            .expect("read events")
        {
            let id: String = row.try_get("event_id").expect("events.event_id");
            let bytes: Vec<u8> = row.try_get("signed").expect("events.signed");
            let signed = SignedEvent::from_bytes(&bytes)
                .unwrap_or_else(|e| panic!("stored event {id} does not parse: {e:?}"));
            assert_eq!(
                signed.event.event_id.0.to_string(),
                id,
                "stored event {id} holds another event's bytes"
            );
            let server_seq: Option<i64> = row.try_get("server_seq").expect("events.server_seq");
            if let Some(seq) = server_seq {
                server_seqs.insert(signed.event.event_id, seq as u64);
            }
            events.insert(signed.event.event_id, signed);
        }

        let mut books = BTreeMap::new();
        for row in sqlx::query("SELECT id FROM books")
            .fetch_all(&pool)
            .await
            .expect("read book ids")
        {
            let id: i64 = row.try_get("id").expect("books.id");
            let id = BookId(id as u64);
            let book = store
                .book(id)
                .await
                .unwrap_or_else(|e| panic!("read book {id}: {e}"));
            books.insert(id, book);
        }

        let mut resolutions = Vec::new();
        for row in sqlx::query(
            "SELECT event_id, target_event_id, book_id, action, operator_id, at FROM resolutions",
        )
        .fetch_all(&pool)
        .await
        .expect("read resolutions")
        {
            let parse = |column: &str| -> EventId {
                let text: String = row.try_get(column).expect("resolution id");
                EventId(uuid::Uuid::parse_str(&text).expect("resolution ids are UUIDs"))
            };
            let action: String = row.try_get("action").expect("resolutions.action");
            let book_id: i64 = row.try_get("book_id").expect("resolutions.book_id");
            let operator: i64 = row.try_get("operator_id").expect("resolutions.operator_id");
            let at: i64 = row.try_get("at").expect("resolutions.at");
            resolutions.push(Resolution {
                event_id: parse("event_id"),
                target: parse("target_event_id"),
                book_id: BookId(book_id as u64),
                action: serde_json::from_value(serde_json::Value::String(action.clone()))
                    .unwrap_or_else(|_| panic!("unknown resolution action {action}")),
                operator: UserId(operator as u64),
                at: at as u64,
            });
        }
        pool.close().await;

        let review = store.review_queue(false).await.expect("read review queue");
        let compromised = store
            .signing_keys()
            .await
            .expect("read keys")
            .into_iter()
            .filter(|key| key.purpose == KeyPurpose::Issuer)
            .filter_map(|key| {
                key.compromised_since
                    .map(|since| (data_encoding::HEXLOWER.encode(&key.kid), u64::from(since)))
            })
            .collect();
        ServerView {
            events,
            server_seqs,
            books,
            resolutions,
            review,
            compromised,
        }
    }

    /// A book, or a panic naming it.
    pub fn book(&self, id: BookId) -> &Book {
        self.books
            .get(&id)
            .unwrap_or_else(|| panic!("book {id} is not on the server"))
    }

    /// Stored events about `book`, in `(scanned_at, device, seq)` order.
    pub fn events_of(&self, book: BookId) -> Vec<&SignedEvent> {
        let mut events: Vec<&SignedEvent> = self
            .events
            .values()
            .filter(|e| e.event.body.book_id() == Some(book))
            .collect();
        events.sort_by_key(|e| (e.event.scanned_at, e.event.device_id, e.event.device_seq));
        events
    }

    /// Stored events of one device, in `device_seq` order.
    pub fn events_of_device(&self, device: DeviceId) -> Vec<&SignedEvent> {
        let mut events: Vec<&SignedEvent> = self
            .events
            .values()
            .filter(|e| e.event.device_id == device)
            .collect();
        events.sort_by_key(|e| e.event.device_seq);
        events
    }

    /// The ledger of `book` as the pure function computes it from what is stored.
    pub fn ledger(&self, book: BookId) -> BookLedger {
        self.ledger_of(book, |_| true)
    }

    /// The ledger `book` must have had at status sequence `seq`: that of its device events
    /// stored with `server_seq ≤ seq`, which were committed by then (sequence order is commit
    /// order). A status row that counts otherwise lost or invented an update.
    ///
    /// # Panics
    /// When the book has operator resolutions: they carry no sequence.
    pub fn ledger_at(&self, book: BookId, seq: u64) -> BookLedger {
        assert!(
            self.resolutions.iter().all(|r| r.book_id != book),
            "book {book}: ledger_at ignores resolutions"
        );
        self.ledger_of(book, |event| {
            self.server_seqs
                .get(&event.event.event_id)
                .is_some_and(|&at| at <= seq)
        })
    }

    /// The ledger of `book` over its stored events that pass `include`, and its resolutions.
    fn ledger_of(&self, book: BookId, include: impl Fn(&SignedEvent) -> bool) -> BookLedger {
        let stored = self.book(book);
        let terms = BookTerms {
            units: stored.issued.units,
            revoked_at: stored.revoked_at.map(|at| at as u64),
            key_compromised_at: self
                .compromised
                .get(&stored.issued.kid_hex.to_ascii_lowercase())
                .copied(),
        };
        let mut inputs: Vec<LedgerEvent> = self
            .events_of(book)
            .into_iter()
            .filter(|event| include(event))
            .filter_map(LedgerEvent::from_device)
            .collect();
        inputs.extend(
            self.resolutions
                .iter()
                .filter(|r| r.book_id == book)
                .map(|r| LedgerEvent {
                    event_id: r.event_id,
                    device_id: DeviceId(0),
                    device_seq: 0,
                    at: r.at,
                    kind: LedgerEventKind::Resolution {
                        target: r.target,
                        action: r.action,
                        operator: r.operator,
                    },
                }),
        );
        ledger::compute(&terms, &inputs)
    }

    /// How a redemption ended up in its book's ledger.
    pub fn outcome(&self, event: EventId) -> RedemptionOutcome {
        let signed = self
            .events
            .get(&event)
            .unwrap_or_else(|| panic!("event {event} is not on the server"));
        let book = signed
            .event
            .body
            .book_id()
            .unwrap_or_else(|| panic!("{} names no book", describe(signed)));
        self.ledger(book)
            .redemptions
            .into_iter()
            .find(|r| r.event_id == event)
            .unwrap_or_else(|| panic!("{} is not a redemption in its ledger", describe(signed)))
    }

    /// Asserts the server holds exactly `events` for `device`: each once, byte for byte, and
    /// nothing else from that device.
    pub fn assert_holds_exactly(&self, device: &str, device_id: DeviceId, events: &[SignedEvent]) {
        let mut expected_ids = BTreeSet::new();
        for event in events {
            let id = event.event.event_id;
            assert!(
                expected_ids.insert(id),
                "{device}: the device itself holds {} twice",
                describe(event)
            );
            match self.events.get(&id) {
                None => panic!("{device}: {} was lost: not on the server", describe(event)),
                Some(stored) if stored != event => panic!(
                    "{device}: {} is stored with other content: {}",
                    describe(event),
                    describe(stored)
                ),
                Some(_) => {}
            }
        }
        let stored = self.events_of_device(device_id);
        for event in &stored {
            assert!(
                expected_ids.contains(&event.event.event_id),
                "{device}: the server holds {} which the device never made",
                describe(event)
            );
        }
        let mut seqs: Vec<u64> = stored.iter().map(|e| e.event.device_seq).collect();
        seqs.dedup();
        assert_eq!(
            seqs,
            (1..=stored.len() as u64).collect::<Vec<_>>(),
            "{device}: the server's copy of the chain has gaps or repeats"
        );
    }

    /// Asserts every book's stored status equals the pure ledger of its stored events, and the
    /// open review queue holds exactly the ledger's unresolved flagged redemptions.
    pub fn assert_ledgers_consistent(&self) {
        let mut flagged = BTreeSet::new();
        for (id, book) in &self.books {
            let ledger = self.ledger(*id);
            assert_eq!(
                book.used_units,
                ledger.used_units,
                "book {id}: the server stored used_units {} but its {} stored events count {}: {:?}",
                book.used_units,
                self.events_of(*id).len(),
                ledger.used_units,
                ledger.redemptions
            );
            let state = if book.revoked_at.is_some() {
                BookState::Revoked
            } else if ledger.remaining == 0 {
                BookState::UsedUp
            } else {
                BookState::Active
            };
            assert_eq!(
                book.state, state,
                "book {id}: state {:?} but the ledger says {state:?}",
                book.state
            );
            flagged.extend(
                ledger
                    .redemptions
                    .iter()
                    .filter(|r| r.needs_review())
                    .map(|r| r.event_id),
            );
        }
        let open: BTreeSet<EventId> = self
            .review
            .iter()
            .filter(|item| item.resolution.is_none())
            .filter(|item| {
                item.reasons.iter().any(|reason| {
                    matches!(
                        reason,
                        ReviewReason::OverRedeemed | ReviewReason::AfterRevocation
                    )
                })
            })
            .map(|item| item.event_id)
            .collect();
        let name = |id: &EventId| self.events.get(id).map_or_else(|| id.to_string(), describe);
        let missing: Vec<String> = flagged.difference(&open).map(name).collect();
        assert!(
            missing.is_empty(),
            "flagged by the ledger but not in the open review queue: {missing:#?}"
        );
        let extra: Vec<String> = open.difference(&flagged).map(name).collect();
        assert!(
            extra.is_empty(),
            "in the open review queue but not flagged by the ledger: {extra:#?}"
        );
    }

    /// Asserts a book's used units and state on the server.
    pub fn assert_book(&self, id: BookId, used_units: u16, state: BookState) {
        let book = self.book(id);
        assert_eq!(
            (book.used_units, book.state),
            (used_units, state),
            "book {id}: expected {used_units} used and {state:?}; ledger {:?}",
            self.ledger(id).redemptions
        );
    }

    /// Asserts how a redemption ended up and what the operator decided.
    pub fn assert_outcome(
        &self,
        event: EventId,
        outcome: Outcome,
        resolution: Option<ResolutionAction>,
    ) {
        let found = self.outcome(event);
        assert_eq!(
            (found.outcome, found.resolution),
            (outcome, resolution),
            "{}: unexpected ledger outcome",
            describe(&self.events[&event])
        );
    }

    /// Counted units per book, from the pure ledgers.
    pub fn counted_units(&self) -> BTreeMap<BookId, u16> {
        self.books
            .keys()
            .map(|id| (*id, self.ledger(*id).used_units))
            .collect()
    }
}

/// Redemptions of `events` that are not undone by a void among them, by book.
pub fn live_redemptions(events: &[SignedEvent]) -> BTreeMap<BookId, Vec<EventId>> {
    let voided: BTreeSet<EventId> = events
        .iter()
        .filter_map(|e| match e.event.body {
            EventBody::Void { target, .. } => Some(target),
            _ => None,
        })
        .collect();
    let mut by_book: BTreeMap<BookId, Vec<EventId>> = BTreeMap::new();
    for event in events {
        if let EventBody::Redemption { book_id, .. } = event.event.body
            && !voided.contains(&event.event.event_id)
        {
            by_book
                .entry(book_id)
                .or_default()
                .push(event.event.event_id);
        }
    }
    by_book
}

/// Describes an event for failure messages.
pub fn describe_event(event: &SignedEvent) -> String {
    describe(event)
}

//! Scenario 9: horizontal scale. Two `shuipiao-server` processes share one PostgreSQL database
//! behind a round-robin loopback balancer that also loses, delays and duplicates requests (a
//! duplicate goes to the other instance, so the same batch is ingested by both at once). Several
//! devices push small batches for the same few books concurrently: more redemptions than the
//! books hold, voids of their own redemptions and a few invalid voids of another device's.
//! Meanwhile two devices pull statuses page by page, alternating between the instances.
//!
//! Asserts: no push ever failed with a 500; every device's chain is stored exactly once; the
//! end state equals what one instance makes of the same signed bytes (replayed into a fresh
//! database: every book's used units, state and last use, the review queue with each event's
//! reason); pulled cursors only move forward, every page is in strictly increasing sequence
//! order, every row pulled mid-run counts exactly the events committed before it (so a lost
//! update shows even when a later push repaired the book), a puller that followed the run ends with
//! exactly the final statuses (a row committed behind a cursor already handed out would be
//! missed for good), and a full pull returns the same rows from either instance.
//!
//! PostgreSQL only (`SHUIPIAO_TEST_PG_URL`; under CI a missing URL fails): SQLite cannot be
//! shared by two processes on different hosts, so it is deployed as a single instance.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use reqwest::StatusCode;
use shuipiao_server::store::models::ReviewReason;
use shuipiao_shared::event::{EventBody, SignedEvent};
use shuipiao_shared::ids::{BookId, EventId, ScopeId};
use shuipiao_shared::status::{BookState, StatusRow};
use shuipiao_shared::sync::{MAX_PUSH_EVENTS, PullResponse, PushResult, PushVerdict};
use shuipiao_test_support::TestDb;
use shuipiao_test_support::rng::Rng;
use shuipiao_tests::inspect::ServerView;
use shuipiao_tests::keyed::{self, KeyedDevice, PushFailure};
use shuipiao_tests::plant::{BUCKET, Plant};
use shuipiao_tests::processes::{ServerProcess, create_admin};
use shuipiao_tests::proxy::{FaultProxy, Plan};
use shuipiao_tests::world::World;

const BOOKS: usize = 6;
const UNITS: u32 = 150;
const DEVICES: usize = 8;
/// Events of all devices together; with one or two units per redemption the books run out.
const EVENTS: usize = 1200;
/// Largest push batch; small batches make many concurrent transactions.
const MAX_BATCH: u64 = 8;
/// Rows per pull page, small so a pull of the running system takes many pages.
const PULL_PAGE: u32 = 5;
/// Chance in percent that the balancer disturbs a request.
const FAULT_PERCENT: u64 = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let mut rng = Rng::from_env("two_instances_on_one_postgres");
    let started = Instant::now();
    create_admin(&db).await;
    // One after the other: the first start makes the signing keys.
    let first = ServerProcess::start(&db).await;
    let second = ServerProcess::start(&db).await;
    let instances = [first.url.clone(), second.url.clone()];
    let balancer = FaultProxy::balance(&[first.addr, second.addr], Rng::new(rng.next_u64())).await;

    let keys: Vec<SigningKey> = (0..DEVICES)
        .map(|_| SigningKey::from_bytes(&shuipiao_server::random::bytes::<32>()))
        .collect();
    // The admin's calls alternate between the instances too: sessions live in the database.
    let mut shared = set_up(&Plant::setup(&balancer.url).await, &keys).await;
    // The same books and devices through one instance on a fresh database, set up before the
    // script is written: the server checks each redemption against its book's validity window,
    // so the reference's books must be valid from before the first event too.
    let reference = World::start(
        TestDb::postgres()
            .await
            .expect("the cluster answered above"),
    )
    .await;
    let single = set_up(&reference.plant, &keys).await;
    assert_eq!(
        (&single.books, ids(&single.devices)),
        (&shared.books, ids(&shared.devices)),
        "the reference setup must give the same ids"
    );
    write_script(&mut shared, &mut rng);
    let batches: Vec<Vec<Vec<SignedEvent>>> = shared
        .devices
        .iter()
        .map(|device| split(&device.events, &mut rng))
        .collect();
    let batch_count: usize = batches.iter().map(Vec::len).sum();

    balancer.set_plan(Plan::Random {
        percent: FAULT_PERCENT,
    });
    let http = shuipiao_tests::api::http_client();
    let done = Arc::new(AtomicBool::new(false));
    let mut pullers = tokio::task::JoinSet::new();
    for device in &shared.devices[..2] {
        let mut puller = Puller::new(&device.token, &instances);
        let (http, done) = (http.clone(), done.clone());
        pullers.spawn(async move {
            while !done.load(Ordering::Acquire) {
                if !puller.page(&http).await {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            // Everything is committed now: catch up.
            while puller.page(&http).await {}
            puller
        });
    }
    let pushing = Instant::now();
    let mut pushers = tokio::task::JoinSet::new();
    for (device, batches) in shared.devices.iter().zip(batches) {
        let (http, url, token) = (http.clone(), balancer.url.clone(), device.token.clone());
        pushers.spawn(async move {
            let mut results: Vec<PushResult> = Vec::new();
            let mut failures: Vec<PushFailure> = Vec::new();
            for batch in batches {
                let (response, failed) = keyed::push(&http, &url, &token, &batch).await;
                results.extend(response.results);
                failures.extend(failed);
            }
            (results, failures)
        });
    }
    let mut results = Vec::new();
    let mut failures = Vec::new();
    while let Some(joined) = pushers.join_next().await {
        let (pushed, failed) = joined.expect("push task");
        results.extend(pushed);
        failures.extend(failed);
    }
    let pushed_in = pushing.elapsed();
    done.store(true, Ordering::Release);
    let mut followers = Vec::new();
    while let Some(joined) = pullers.join_next().await {
        followers.push(joined.expect("pull task"));
    }

    // A lost answer is retried and then answered `duplicate`; a 503 asks for a retry. A 500 is a
    // server bug (e.g. a serialization failure or deadlock not mapped to "busy").
    let internal: Vec<String> = failures
        .iter()
        .filter(|f| f.status == Some(StatusCode::INTERNAL_SERVER_ERROR))
        .map(ToString::to_string)
        .collect();
    assert!(internal.is_empty(), "pushes failed with 500: {internal:#?}");
    let rejected: Vec<&PushResult> = results
        .iter()
        .filter(|r| r.verdict == PushVerdict::Rejected)
        .collect();
    assert!(
        rejected.is_empty(),
        "well-formed events refused: {rejected:#?}"
    );
    let stats = balancer.stats();
    let per_instance = balancer.per_upstream();
    assert!(
        per_instance.iter().all(|&n| n > 0) && stats.duplicated > 0,
        "both instances must have taken requests, some the same one: {per_instance:?} {stats:?}"
    );

    let view = ServerView::load(&db.url).await;
    for (index, device) in shared.devices.iter().enumerate() {
        view.assert_holds_exactly(&format!("device {index}"), device.id, &device.events);
    }
    view.assert_ledgers_consistent();
    assert!(
        view.events
            .values()
            .any(|e| matches!(e.event.body, EventBody::Void { .. })),
        "the script must void redemptions"
    );
    let reasons = review_reasons(&view);
    for reason in [ReviewReason::OverRedeemed, ReviewReason::InvalidVoid] {
        assert!(
            reasons.values().any(|r| r.contains(&reason)),
            "the script must produce {reason:?}: {reasons:?}"
        );
    }
    // A device counts a pushed event until a pulled row with `seq ≥ server_seq` includes it.
    for result in &results {
        if let Some(seq) = result.server_seq {
            let event = &view.events[&result.event_id];
            let book = event
                .event
                .body
                .book_id()
                .expect("sequenced events name a book");
            let status_seq = view.book(book).status_seq.unwrap_or_default();
            assert!(
                status_seq >= seq as i64,
                "event {} was answered with seq {seq} but book {book} ends at {status_seq}",
                result.event_id
            );
        }
    }

    // Pulls: whoever followed the run, and a full pull from either instance, see the end state.
    let mut full = Vec::new();
    for instance in &instances {
        let mut puller = Puller::new(&shared.devices[0].token, std::slice::from_ref(instance));
        while puller.page(&http).await {}
        full.push(puller);
    }
    assert_eq!(
        full[0].received, full[1].received,
        "a full pull differs between the instances"
    );
    let statuses: BTreeMap<BookId, StatusRow> = view
        .books
        .iter()
        .filter_map(|(id, book)| {
            Some((
                *id,
                StatusRow {
                    book_id: *id,
                    used_units: book.used_units,
                    state: book.state,
                    seq: u64::try_from(book.status_seq?).ok()?,
                    last_used_at: book.last_used_at.map(|at| at as u64),
                },
            ))
        })
        .collect();
    assert_eq!(
        full[0].rows, statuses,
        "a full pull is not the stored state"
    );
    // Every row pulled while the pushes ran counts exactly the events committed before it: a
    // lost update shows here even when a later recomputation of the book repaired it.
    for (index, follower) in followers.iter().enumerate() {
        for row in &follower.received {
            let ledger = view.ledger_at(row.book_id, row.seq);
            let state = if ledger.remaining == 0 {
                BookState::UsedUp
            } else {
                BookState::Active
            };
            assert_eq!(
                (row.used_units, row.state),
                (ledger.used_units, state),
                "puller {index} got {row:?}, but the events committed by seq {} count otherwise: \
                 {:?}",
                row.seq,
                ledger.redemptions
            );
        }
        assert_eq!(
            follower.rows, statuses,
            "puller {index} ({} pages) ended with other statuses than the database: a row was \
             committed behind a cursor already handed out",
            follower.pages
        );
    }

    // The same signed bytes through the reference instance.
    for (device, twin) in shared.devices.iter().zip(&single.devices) {
        for batch in device.events.chunks(MAX_PUSH_EVENTS) {
            let (response, _) = keyed::push(&http, &reference.server.url, &twin.token, batch).await;
            assert!(
                response
                    .results
                    .iter()
                    .all(|r| r.verdict != PushVerdict::Rejected),
                "replay refused: {:#?}",
                response.results
            );
        }
    }
    let expected = reference.view().await;
    expected.assert_ledgers_consistent();
    assert_eq!(
        view.events, expected.events,
        "stored events differ from the replay"
    );
    for (id, want) in &expected.books {
        let got = view.book(*id);
        assert_eq!(
            (got.used_units, got.state, got.last_used_at),
            (want.used_units, want.state, want.last_used_at),
            "book {id}: two instances ended otherwise than one; ledger {:?}",
            view.ledger(*id).redemptions
        );
    }
    assert_eq!(
        reasons,
        review_reasons(&expected),
        "the review queue differs from one instance's"
    );

    eprintln!(
        "two instances: {EVENTS} events in {batch_count} batches in {pushed_in:.1?} ({} attempts \
         failed and were retried, {} of them busy); connections per instance {per_instance:?}, \
         {stats:?}; pullers took {:?} pages; {} in review; whole scenario {:.1?}",
        failures.len(),
        failures
            .iter()
            .filter(|f| f.status == Some(StatusCode::SERVICE_UNAVAILABLE))
            .count(),
        followers.iter().map(|f| f.pages).collect::<Vec<_>>(),
        reasons.len(),
        started.elapsed()
    );
    reference.server.stop().await;
    first.kill().await;
    second.kill().await;
}

/// Books and enrolled devices, made by the same calls in the same order on any fresh server so
/// that their ids match and one server's signed events can be replayed into another.
struct Setup {
    books: Vec<BookId>,
    devices: Vec<KeyedDevice>,
}

async fn set_up(plant: &Plant, keys: &[SigningKey]) -> Setup {
    let package = plant
        .package("企业年套餐", UNITS, BUCKET, ScopeId::ANYWHERE, 31)
        .await;
    let customer = plant.customer("big-company").await;
    let books = plant.issue(&customer, package, BOOKS as u32).await;
    let mut devices = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        let name = format!("courier-{index}");
        let code = plant.courier_code(&name).await;
        devices.push(KeyedDevice::enroll(&plant.admin.base, &code, key.clone(), &name).await);
    }
    Setup { books, devices }
}

fn ids(devices: &[KeyedDevice]) -> Vec<u64> {
    devices.iter().map(|device| device.id.0).collect()
}

/// Signs the run's events in device-clock order: mostly redemptions of one or two units of a
/// random book, about one in eight a void of the device's own earlier redemption, and every
/// fortieth a void of another device's redemption (invalid: reviewed, ignored by the ledger).
fn write_script(setup: &mut Setup, rng: &mut Rng) {
    let start = u64::try_from(shuipiao_server::unix_now()).expect("time");
    let mut live: Vec<Vec<(BookId, EventId)>> = vec![Vec::new(); setup.devices.len()];
    for step in 0..EVENTS {
        let at = start + step as u64;
        let who = rng.below(setup.devices.len() as u64) as usize;
        let foreign = live
            .iter()
            .enumerate()
            .find(|(other, redemptions)| *other != who && !redemptions.is_empty())
            .and_then(|(_, redemptions)| redemptions.first().copied());
        let device = &mut setup.devices[who];
        match foreign {
            Some((book, target)) if step % 40 == 39 => {
                device.void(book, target, at);
            }
            _ if rng.chance(12) && !live[who].is_empty() => {
                let pick = rng.below(live[who].len() as u64) as usize;
                let (book, target) = live[who].swap_remove(pick);
                device.void(book, target, at);
            }
            _ => {
                let book = setup.books[rng.below(setup.books.len() as u64) as usize];
                let units = 1 + rng.below(2) as u16;
                let id = device.redeem(book, units, at);
                live[who].push((book, id));
            }
        }
    }
}

/// A device's events cut into push batches of random sizes.
fn split(events: &[SignedEvent], rng: &mut Rng) -> Vec<Vec<SignedEvent>> {
    let mut batches = Vec::new();
    let mut rest = events;
    while !rest.is_empty() {
        let size = (1 + rng.below(MAX_BATCH) as usize).min(rest.len());
        let (batch, tail) = rest.split_at(size);
        batches.push(batch.to_vec());
        rest = tail;
    }
    batches
}

/// Each event's review reasons.
fn review_reasons(view: &ServerView) -> BTreeMap<EventId, Vec<ReviewReason>> {
    view.review
        .iter()
        .map(|item| (item.event_id, item.reasons.clone()))
        .collect()
}

/// A device's view of book statuses built only from pulls, going round the given instances one
/// page at a time.
struct Puller {
    token: String,
    instances: Vec<String>,
    cursor: u64,
    pages: u64,
    /// Every row received, in order.
    received: Vec<StatusRow>,
    /// The newest row of each book.
    rows: BTreeMap<BookId, StatusRow>,
}

impl Puller {
    fn new(token: &str, instances: &[String]) -> Puller {
        Puller {
            token: token.to_owned(),
            instances: instances.to_vec(),
            cursor: 0,
            pages: 0,
            received: Vec::new(),
            rows: BTreeMap::new(),
        }
    }

    /// Pulls the next page from the next instance; returns whether more rows are waiting.
    async fn page(&mut self, http: &reqwest::Client) -> bool {
        let instance = &self.instances[self.pages as usize % self.instances.len()];
        self.pages += 1;
        let url = format!(
            "{instance}/api/v1/sync/pull?cursor={}&limit={PULL_PAGE}",
            self.cursor
        );
        let response = http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert!(
            response.status().is_success(),
            "GET {url}: {}",
            response.status()
        );
        let page: PullResponse = response.json().await.expect("pull response");
        let mut last = self.cursor;
        for row in &page.statuses {
            assert!(
                row.seq > last,
                "GET {url}: row {row:?} is not past {last}: {:?}",
                page.statuses
            );
            last = row.seq;
            self.rows.insert(row.book_id, *row);
        }
        assert_eq!(page.next_cursor, last, "GET {url}: next cursor");
        self.received.extend(page.statuses);
        self.cursor = last;
        page.has_more
    }
}

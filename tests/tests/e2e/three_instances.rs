//! Scenario 11: background work once across instances. Three `shuipiao-server` processes share
//! one PostgreSQL database and one SMS gateway (a mock in this test that answers slowly and
//! counts every request by the message `id` it carries). Each runs the background jobs and
//! delivery rounds every second, with a claim of a few seconds (`notify.claim_secs`).
//!
//! Round one: customers with phones each make a recurring order (周期订水, due tomorrow) and are
//! issued many books, so hundreds of "到账" messages are queued through the real issuance path
//! while all three instances deliver and run the recurring-order job. Asserts: every message
//! reached the gateway exactly once and is recorded sent; each recurring order made exactly one
//! order for tomorrow.
//!
//! Round two: as many messages again, and one instance is killed (SIGKILL) mid-round, holding
//! messages it had claimed. Asserts: the two others deliver every message within seconds of the
//! dead instance's claims running out, and none twice but the one message the killed instance
//! may have handed to the gateway without recording it: that one goes again with the same `id`,
//! which a gateway drops duplicates by (`server/README.md`), so the mock allows at most one id
//! requested twice, and only in this round.
//!
//! PostgreSQL only (`SHUIPIAO_TEST_PG_URL`; under CI a missing URL fails): SQLite is deployed as a
//! single instance.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use shuipiao_server::local_time;
use shuipiao_server::notify::gateway;
use shuipiao_server::store::Store;
use shuipiao_server::store::models::{NotificationFilter, NotificationState};
use shuipiao_shared::ids::ScopeId;
use shuipiao_test_support::TestDb;
use shuipiao_tests::plant::{BUCKET, Customer, Plant};
use shuipiao_tests::processes::{ServerProcess, create_admin};

/// Customers with a phone; each makes one recurring order.
const CUSTOMERS: usize = 10;
/// Books issued to each customer per round: one "到账" message each.
const ISSUES: usize = 15;
/// Seconds a delivery round holds a message (kept short so a dead instance's work comes back
/// quickly).
const CLAIM_SECS: u64 = 3;
const SECRET: &str = "three-instances-gateway-secret";

/// The mock SMS gateway: checks each request's signature, counts it under its message id, then
/// answers after a delay (so instances overlap and a killed one dies mid-send).
#[derive(Default)]
struct Counts {
    requests: Mutex<BTreeMap<i64, u32>>,
    delay_ms: AtomicU64,
}

async fn receive(
    State(counts): State<Arc<Counts>>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    if header("x-shuipiao-signature")
        != gateway::sign(SECRET, header("x-shuipiao-timestamp"), &body)
    {
        return StatusCode::UNAUTHORIZED;
    }
    let payload: Value = serde_json::from_str(&body).expect("the gateway receives JSON");
    let id = payload["id"]
        .as_i64()
        .expect("every request carries the message id");
    *counts
        .requests
        .lock()
        .expect("counts lock")
        .entry(id)
        .or_default() += 1;
    // Slow, and unevenly so: 1× to 2× the round's delay.
    let base = counts.delay_ms.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(
        base + (id as u64 * 7_919) % (base + 1),
    ))
    .await;
    StatusCode::OK
}

struct MockGateway {
    url: String,
    counts: Arc<Counts>,
}

impl MockGateway {
    async fn start() -> MockGateway {
        let counts = Arc::new(Counts::default());
        let app = axum::Router::new()
            .route("/send", axum::routing::post(receive))
            .with_state(counts.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the gateway");
        let url = format!("http://{}/send", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        MockGateway { url, counts }
    }

    fn requests(&self) -> BTreeMap<i64, u32> {
        self.counts.requests.lock().expect("counts lock").clone()
    }

    fn total(&self) -> u32 {
        self.requests().values().sum()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_deliver_each_message_once() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let started = Instant::now();
    let gateway = MockGateway::start().await;
    gateway.counts.delay_ms.store(5, Ordering::Relaxed);
    create_admin(&db).await;
    let config = format!(
        "[notify]\ninterval_secs = 1\nclaim_secs = {CLAIM_SECS}\nmax_attempts = 20\n\
         [notify.sms]\nenabled = true\nendpoint = \"{}\"\nsecret = \"{SECRET}\"\n",
        gateway.url
    );
    // One after the other: the first start makes the signing keys.
    let first = ServerProcess::start_with_config(&db, &config).await;
    let second = ServerProcess::start_with_config(&db, &config).await;
    let third = ServerProcess::start_with_config(&db, &config).await;
    let store = Store::connect(&db.url).await.expect("open the database");
    // The operator works on the first instance, which is never killed.
    let plant = Plant::setup(&first.url).await;
    let package = plant
        .package("家庭月套餐", 10, BUCKET, ScopeId::ANYWHERE, 31)
        .await;
    let tomorrow = local_time::date(shuipiao_server::unix_now() + 86_400);

    // Round one.
    let mut customers = Vec::new();
    let mut recurring = BTreeSet::new();
    for n in 0..CUSTOMERS {
        let customer = plant
            .phone_customer(&store, &format!("family-{n}"), &format!("139{n:08}"))
            .await;
        recurring.insert(recurring_order(&plant, &customer, &tomorrow).await);
        customers.push(customer);
    }
    issue_round(&plant, &customers, package).await;
    let first_round = all_sent(&store, CUSTOMERS * ISSUES).await;
    let requests = gateway.requests();
    let twice: Vec<(&i64, &u32)> = requests.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "messages sent twice: {twice:?}");
    assert_eq!(
        requests.keys().copied().collect::<BTreeSet<_>>(),
        first_round,
        "every message queued reached the gateway"
    );
    wait_for("every recurring order's first order", || async {
        store
            .dispatch_day(&tomorrow, None)
            .await
            .expect("orders")
            .len()
            >= CUSTOMERS
    })
    .await;
    let orders = store
        .dispatch_day(&tomorrow, None)
        .await
        .expect("tomorrow's orders");
    let mut made: BTreeMap<i64, usize> = BTreeMap::new();
    for (order, _) in &orders {
        *made
            .entry(order.recurring_id.expect("only recurring orders were made"))
            .or_default() += 1;
    }
    assert_eq!(
        made,
        recurring
            .iter()
            .map(|id| (*id, 1))
            .collect::<BTreeMap<_, _>>(),
        "each recurring order makes tomorrow's order once"
    );

    // Round two: a backlog, and the third instance dies in the middle of it.
    gateway.counts.delay_ms.store(20, Ordering::Relaxed);
    let before = gateway.total();
    issue_round(&plant, &customers, package).await;
    let third_of_round = u32::try_from(CUSTOMERS * ISSUES / 3).expect("small");
    wait_for("a third of round two at the gateway", || {
        std::future::ready(gateway.total() >= before + third_of_round)
    })
    .await;
    let killed_at = Instant::now();
    third.kill().await;
    let all = all_sent(&store, 2 * CUSTOMERS * ISSUES).await;
    let recovered_in = killed_at.elapsed();
    let requests = gateway.requests();
    assert_eq!(
        requests.keys().copied().collect::<BTreeSet<_>>(),
        all,
        "every message reached the gateway"
    );
    let twice: Vec<(&i64, &u32)> = requests.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.len() <= 1
            && twice
                .iter()
                .all(|(id, n)| **n == 2 && !first_round.contains(id)),
        "only the one message the killed instance had in flight may go twice: {twice:?}"
    );
    let orders = store.dispatch_day(&tomorrow, None).await.expect("orders");
    assert_eq!(orders.len(), CUSTOMERS, "no order made again");

    eprintln!(
        "three instances: {} messages, {} requests ({} twice); round two finished {:.1?} after \
         the kill; whole scenario {:.1?}",
        all.len(),
        gateway.total(),
        twice.len(),
        recovered_in,
        started.elapsed()
    );
    first.kill().await;
    second.kill().await;
}

/// A recurring cash order of one bottle every day from tomorrow, at a new address of the
/// customer's in the home region; its id.
async fn recurring_order(plant: &Plant, customer: &Customer, tomorrow: &str) -> i64 {
    let address = plant.home_address(customer).await;
    let made = customer
        .wallet
        .post(
            "/api/v1/recurring-orders",
            &json!({"address_id": address["id"], "product": BUCKET.0, "bottles": 1,
                "slot": "morning", "payment": "cash", "every_days": 1, "start_date": tomorrow}),
        )
        .await;
    made["id"].as_i64().expect("recurring order id")
}

/// Issues [`ISSUES`] books to every customer, one order at a time, customers taking turns.
async fn issue_round(plant: &Plant, customers: &[Customer], package: i64) {
    for _ in 0..ISSUES {
        for customer in customers {
            plant.issue(customer, package, 1).await;
        }
    }
}

/// Waits (up to 40 s) until the database holds `count` messages, all sent; their ids. Panics
/// naming any message dead-lettered or still pending.
async fn all_sent(store: &Store, count: usize) -> BTreeSet<i64> {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let messages = store
            .list_notifications(&NotificationFilter::default(), 10_000)
            .await
            .expect("list the outbox");
        let dead: Vec<_> = messages
            .iter()
            .filter(|m| m.state == NotificationState::Dead)
            .collect();
        assert!(dead.is_empty(), "dead-lettered: {dead:#?}");
        let sent = messages
            .iter()
            .filter(|m| m.state == NotificationState::Sent)
            .count();
        if messages.len() == count && sent == count {
            return messages.iter().map(|m| m.id).collect();
        }
        assert!(
            Instant::now() < deadline,
            "{sent} of {} messages sent ({count} expected): claims of a dead instance stuck?",
            messages.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for<F: Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

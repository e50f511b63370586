//! Scenario 8: load. Many devices, enrolled through the real enrollment API with keys of their
//! own, push signed, hash-chained redemptions concurrently to one server over loopback, on
//! SQLite and (when `SHUIPIAO_TEST_PG_URL` is set, always in CI) PostgreSQL. The events are
//! made with the protocol crate directly, as a load generator: a courier engine's durable
//! per-scan write would measure the phone's disk, not the server. Asserts that nothing is lost
//! or refused and that every ledger equals the pure ledger of the stored events; prints
//! events/s.
//!
//! Default: 100 devices × 100 events. The full run of the issue (100 × 1,000) is
//! `SHUIPIAO_E2E_LOAD_EVENTS=1000`; `SHUIPIAO_E2E_LOAD_DEVICES` changes the device count.

use std::time::Instant;

use ed25519_dalek::SigningKey;
use shuipiao_server::store::models::ReviewReason;
use shuipiao_shared::event::SignedEvent;
use shuipiao_shared::ids::{BookId, ScopeId};
use shuipiao_shared::sync::{MAX_PUSH_EVENTS, PushVerdict};
use shuipiao_test_support::TestDb;
use shuipiao_tests::keyed::{self, KeyedDevice};
use shuipiao_tests::plant::BUCKET;
use shuipiao_tests::world::World;

const BOOKS: usize = 200;
const COURIERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_on_sqlite() {
    load(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    load(db).await;
}

async fn load(db: TestDb) {
    let device_count = shuipiao_tests::env_count("SHUIPIAO_E2E_LOAD_DEVICES", 100);
    let per_device = shuipiao_tests::env_count("SHUIPIAO_E2E_LOAD_EVENTS", 100);
    let backend = format!("{:?}", db.backend);
    let world = World::start(db).await;
    let plant = &world.plant;
    // Units chosen so the busiest books run out: some redemptions end up over-redeemed.
    let total = device_count * per_device;
    let units = u32::try_from((total / BOOKS).max(1) * 9 / 10 + 1).expect("units fit");
    let package = plant
        .package("压测套餐", units, BUCKET, ScopeId::ANYWHERE, 31)
        .await;
    let customer = plant.customer("load-customer").await;
    let books = plant
        .issue(&customer, package, u32::try_from(BOOKS).expect("fits"))
        .await;

    let mut courier_ids = Vec::new();
    for index in 0..COURIERS {
        let user = plant
            .admin
            .post(
                "/api/v1/users",
                &serde_json::json!({
                    "username": format!("load-courier-{index}"),
                    "password": shuipiao_tests::server::PASSWORD,
                    "role": "courier",
                    "region_id": plant.home_region,
                }),
            )
            .await;
        courier_ids.push(user["id"].as_u64().expect("user id"));
    }
    let base_time = u64::try_from(shuipiao_server::unix_now()).expect("time");
    let mut devices = Vec::new();
    for index in 0..device_count {
        let courier = courier_ids[index % COURIERS];
        let code = plant.enrollment_code(courier).await;
        let key = SigningKey::from_bytes(&shuipiao_server::random::bytes::<32>());
        let mut device =
            KeyedDevice::enroll(&world.server.url, &code, key, &format!("压测设备{index}")).await;
        for seq in 1..=per_device as u64 {
            let book: BookId = books[(index * 31 + seq as usize * 7) % BOOKS];
            device.redeem(book, 1, base_time + seq);
        }
        devices.push(device);
    }

    let http = shuipiao_tests::api::http_client();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for device in &devices {
        let http = http.clone();
        let url = world.server.url.clone();
        let token = device.token.clone();
        let batches: Vec<Vec<SignedEvent>> = device
            .events
            .chunks(MAX_PUSH_EVENTS)
            .map(<[SignedEvent]>::to_vec)
            .collect();
        let id = device.id;
        tasks.spawn(async move {
            let mut verdicts = Vec::new();
            let mut retries = Vec::new();
            for events in batches {
                let (body, failures) = keyed::push(&http, &url, &token, &events).await;
                retries.extend(failures.iter().map(ToString::to_string));
                verdicts.extend(body.results);
            }
            (id, verdicts, retries)
        });
    }
    let mut accepted = 0usize;
    let mut conflicts = 0usize;
    let mut retried: Vec<String> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (id, verdicts, retries) = joined.expect("push task");
        retried.extend(retries);
        assert_eq!(
            verdicts.len(),
            per_device,
            "device {id}: one verdict per event"
        );
        for result in verdicts {
            match result.verdict {
                PushVerdict::Accepted => accepted += 1,
                PushVerdict::Conflict => conflicts += 1,
                other => panic!(
                    "device {id}: event {} (seq {}) got {other:?}: {:?}",
                    result.event_id, result.device_seq, result.rejection
                ),
            }
        }
    }
    let elapsed = started.elapsed();
    let rate = total as f64 / elapsed.as_secs_f64();
    println!(
        "load on {backend}: {device_count} devices × {per_device} events = {total} events in \
         {elapsed:.2?}: {rate:.0} events/s ({accepted} accepted, {conflicts} flagged; {} pushes \
         retried after a server error{})",
        retried.len(),
        retried
            .first()
            .map_or_else(String::new, |first| format!(", e.g. {first}"))
    );

    let view = world.view().await;
    assert_eq!(view.events.len(), total, "events stored");
    for (index, device) in devices.iter().enumerate() {
        view.assert_holds_exactly(&format!("load device {index}"), device.id, &device.events);
    }
    view.assert_ledgers_consistent();
    let counted: usize = books
        .iter()
        .map(|b| usize::from(view.book(*b).used_units))
        .sum();
    let over = view
        .review
        .iter()
        .filter(|item| item.reasons.contains(&ReviewReason::OverRedeemed))
        .count();
    assert_eq!(
        counted + over,
        total,
        "every event either counts or is over-redeemed"
    );
    assert!(over > 0, "the busiest books must have run out");
}

//! Scenario 5b: the `shuipiao-courier` binary killed with SIGKILL at random points while it scans
//! (counter mode, several codes per run), while it delivers orders of its list for cash and
//! while it syncs. Whatever a run printed as a green screen or a delivery must reach the server;
//! after recovery every event is on the server exactly once, the device's chain is unbroken,
//! nothing is counted twice, every order the device delivered is 已送达 and the device agrees
//! with the server.
//!
//! `SHUIPIAO_E2E_KILL_POINTS` sets the number of kill points (default 200; CI runs the default,
//! 1,000 for a long run). `SHUIPIAO_E2E_SEED` replays a run.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use shuipiao_courier::clock::{OsRandom, SystemClock};
use shuipiao_courier::engine::{Engine, OutcomeKind, ScanOutcome};
use shuipiao_courier::store::{meta, outbox, status};
use shuipiao_server::store::delivery_orders::OrderState;
use shuipiao_shared::event::{ChainTip, verify_chain};
use shuipiao_shared::ids::{EventId, ScopeId};
use shuipiao_shared::ledger::Outcome;
use shuipiao_test_support::TestDb;
use shuipiao_test_support::rng::Rng;
use shuipiao_tests::plant::BUCKET;
use shuipiao_tests::processes::{courier_command, enroll_courier};
use shuipiao_tests::server::PASSWORD;
use shuipiao_tests::world::World;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const UNITS_PER_BOOK: u32 = 30;

/// Cash orders in the courier's list for the deliver runs.
const ORDERS: usize = 12;

#[derive(Debug, Default)]
struct Tally {
    scan_runs: u32,
    deliver_runs: u32,
    sync_runs: u32,
    killed_running: u32,
    finished_first: u32,
}

/// Runs one CLI invocation, feeding `stdin`, and SIGKILLs it after `kill_after` unless it
/// already finished. Returns its standard output.
async fn run_and_kill(
    args: &[&str],
    db: &std::path::Path,
    stdin: &str,
    kill_after: Duration,
    tally: &mut Tally,
) -> String {
    let mut command = tokio::process::Command::from(courier_command(db));
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start shuipiao-courier");
    let mut input = child.stdin.take().expect("stdin");
    // The pipe holds the whole input; a child killed early just leaves it unread.
    let _ = input.write_all(stdin.as_bytes()).await;
    drop(input);
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text).await;
        text
    });
    tokio::select! {
        status = child.wait() => {
            status.expect("reap the courier");
            tally.finished_first += 1;
        }
        () = tokio::time::sleep(kill_after) => {
            child.start_kill().expect("SIGKILL the courier");
            child.wait().await.expect("reap the courier");
            tally.killed_running += 1;
        }
    }
    reader.await.expect("stdout reader")
}

/// Adds the redemptions a run showed as green screens. Only complete lines were shown: a line
/// cut by the kill never reached the screen.
fn record_green(out: &str, shown_green: &mut BTreeSet<EventId>) {
    for line in out.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
        let outcome: ScanOutcome =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("courier printed {line:?}: {e}"));
        if outcome.kind == OutcomeKind::Accepted {
            shown_green.insert(outcome.event_id.expect("an accept names its event"));
        }
    }
}

/// Adds the order a deliver run printed as delivered (a complete line with its event).
fn record_delivered(out: &str, shown_delivered: &mut BTreeSet<u64>) {
    for line in out.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
        let done: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("courier printed {line:?}: {e}"));
        if !done["event_id"].is_null() {
            shown_delivered.insert(done["order_id"].as_u64().expect("the delivered order"));
        }
    }
}

/// [`ORDERS`] cash orders for tomorrow, assigned to `courier`; returns their ids.
async fn cash_orders(world: &World, courier: u64) -> Vec<u64> {
    let plant = &world.plant;
    let customer = plant.customer("canteen-orders").await;
    let address = customer
        .wallet
        .post(
            "/api/v1/addresses",
            &json!({"region_id": plant.home_region, "community": "光谷花园", "building": "2栋",
                "contact": "食堂", "phone": "13900000002"}),
        )
        .await;
    let day = shuipiao_server::local_time::date(shuipiao_server::unix_now() + 86_400);
    let mut orders = Vec::with_capacity(ORDERS);
    for _ in 0..ORDERS {
        let order = customer
            .wallet
            .post(
                "/api/v1/delivery-orders",
                &json!({"address_id": address["id"], "product": 189, "bottles": 1,
                    "slot_date": day, "slot": "afternoon", "payment": "cash"}),
            )
            .await;
        let id = order["id"].as_u64().expect("order id");
        plant
            .admin
            .post(
                &format!("/api/v1/dispatch/orders/{id}/assign"),
                &json!({"courier_id": courier}),
            )
            .await;
        orders.push(id);
    }
    orders
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn courier_killed_at_random_points() {
    let points = shuipiao_tests::env_count("SHUIPIAO_E2E_KILL_POINTS", 200);
    let mut rng = Rng::from_env("courier_killed_at_random_points");
    let started = Instant::now();
    let world = World::start(TestDb::sqlite()).await;
    let plant = &world.plant;
    let package = plant
        .package("企业年套餐", UNITS_PER_BOOK, BUCKET, ScopeId::ANYWHERE, 31)
        .await;
    let customer = plant.customer("canteen").await;
    // Enough books that the 2.5 s scanner dedupe window rarely sees the same code twice.
    let book_count = 40 + points / 2;
    let books = plant
        .issue(
            &customer,
            package,
            u32::try_from(book_count).expect("count"),
        )
        .await;
    let mut codes = Vec::new();
    for book in &books {
        codes.push(customer.qr_text(*book).await);
    }

    let dir = tempfile::tempdir().expect("device dir");
    let db = dir.path().join("courier.db");
    let courier = plant
        .admin
        .post(
            "/api/v1/users",
            &json!({"username": "counter-clerk", "password": PASSWORD, "role": "courier",
                "region_id": plant.home_region}),
        )
        .await["id"]
        .as_u64()
        .expect("courier id");
    let code = plant.enrollment_code(courier).await;
    enroll_courier(&db, &world.server.url, &code, "柜台扫码枪");
    let orders = cash_orders(&world, courier).await;
    let mut shown_delivered: BTreeSet<u64> = BTreeSet::new();

    // Calibration: how long an unkilled run of eight scans and its sync take on this machine,
    // so kill points spread over the whole of a run instead of bunching at its start.
    let mut tally = Tally::default();
    let mut shown_green: BTreeSet<EventId> = BTreeSet::new();
    let mut next = 0usize;
    let batch = |next: &mut usize, count: u64| -> String {
        (0..count)
            .map(|_| {
                *next += 1;
                format!("{}\n", codes[*next % codes.len()])
            })
            .collect()
    };
    let lines = batch(&mut next, 8);
    let clock = Instant::now();
    let out = run_and_kill(
        &["scan", "--stdin", "--product", "189"],
        &db,
        &lines,
        Duration::from_secs(60),
        &mut tally,
    )
    .await;
    let scan_run = clock.elapsed();
    record_green(&out, &mut shown_green);
    let clock = Instant::now();
    run_and_kill(&["sync"], &db, "", Duration::from_secs(60), &mut tally).await;
    let sync_run = clock.elapsed();
    assert_eq!(
        (tally.finished_first, shown_green.len()),
        (2, 8),
        "calibration runs must finish and accept every code"
    );
    eprintln!("calibration: 8 scans in {scan_run:.1?}, their sync in {sync_run:.1?}");
    let scan_window = u64::try_from(scan_run.as_millis()).unwrap_or(1000) * 5 / 4 + 1;
    let sync_window = u64::try_from(sync_run.as_millis()).unwrap_or(1000) * 5 / 4 + 1;
    tally = Tally::default();
    for _ in 0..points {
        if rng.chance(15) {
            tally.deliver_runs += 1;
            let order = orders[rng.below(ORDERS as u64) as usize].to_string();
            let out = run_and_kill(
                &["deliver", &order, "--cash", "--empties", "1"],
                &db,
                "",
                Duration::from_millis(rng.below(scan_window)),
                &mut tally,
            )
            .await;
            record_delivered(&out, &mut shown_delivered);
        } else if rng.chance(60) {
            tally.scan_runs += 1;
            let lines = batch(&mut next, 1 + rng.below(8));
            let out = run_and_kill(
                &["scan", "--stdin", "--product", "189"],
                &db,
                &lines,
                Duration::from_millis(rng.below(scan_window)),
                &mut tally,
            )
            .await;
            record_green(&out, &mut shown_green);
        } else {
            tally.sync_runs += 1;
            run_and_kill(
                &["sync"],
                &db,
                "",
                Duration::from_millis(rng.below(sync_window)),
                &mut tally,
            )
            .await;
        }
    }
    eprintln!(
        "{points} kill points in {:.1?}: {tally:?}; {} green screens",
        started.elapsed(),
        shown_green.len()
    );
    assert!(
        tally.killed_running * 10 >= points as u32,
        "at least a tenth of the runs must be killed mid-work, not after finishing: {tally:?}"
    );
    assert!(
        !shown_green.is_empty() && !shown_delivered.is_empty(),
        "some scans must have been accepted and some orders delivered"
    );

    // Recovery: sync until nothing is pending.
    let mut recovered = false;
    for _ in 0..5 {
        let out = courier_command(&db)
            .arg("sync")
            .output()
            .expect("run shuipiao-courier sync");
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        if out.status.success() && report["state"]["pending"] == 0 {
            recovered = true;
            break;
        }
    }
    assert!(
        recovered,
        "the device never finished syncing after the kills"
    );

    let engine = Engine::open(&db, Arc::new(SystemClock), Box::new(OsRandom))
        .expect("open the device database after the kills");
    let conn = engine.connection();
    let identity = meta::read(conn).expect("meta").identity.expect("enrolled");
    let entries = {
        let mut entries = outbox::recent(conn, usize::MAX >> 1).expect("outbox");
        entries.reverse();
        entries
    };
    let events: Vec<_> = entries.iter().map(|e| e.event).collect();
    verify_chain(
        ChainTip::GENESIS,
        identity.device_id,
        &identity.device_key.verifying_key(),
        &events,
    )
    .unwrap_or_else(|e| panic!("the device's own chain broke: {e:?}"));
    let on_device: BTreeSet<EventId> = events.iter().map(|e| e.event.event_id).collect();
    for id in &shown_green {
        assert!(
            on_device.contains(id),
            "redemption {id} was shown green but is not in the device outbox"
        );
    }

    let delivered_on_device: BTreeSet<u64> = events
        .iter()
        .filter_map(|e| e.event.body.order_id())
        .collect();
    assert!(
        shown_delivered.is_subset(&delivered_on_device),
        "orders shown delivered must be in the device outbox: {shown_delivered:?}"
    );
    assert_eq!(
        delivered_on_device.len(),
        events
            .iter()
            .filter(|e| e.event.body.order_id().is_some())
            .count(),
        "an order is delivered once from one device"
    );
    for order in &orders {
        let state = world
            .server
            .store
            .delivery_order(*order as i64)
            .await
            .expect("the order")
            .state;
        let expected = if delivered_on_device.contains(order) {
            OrderState::Delivered
        } else {
            OrderState::Out
        };
        assert_eq!(state, expected, "order {order}");
    }

    let view = world.view().await;
    view.assert_holds_exactly("counter-clerk", identity.device_id, &events);
    view.assert_ledgers_consistent();
    for id in &shown_green {
        view.assert_outcome(*id, Outcome::Counted, None);
    }
    assert!(
        view.review.is_empty(),
        "one device cannot over-redeem; the review queue must be empty: {:?}",
        view.review
    );
    let meta = meta::read(conn).expect("meta");
    let mut counted = 0u32;
    for book in &books {
        let server = view.book(*book).used_units;
        counted += u32::from(server);
        let device = status::book_view(conn, *book, meta.budget_epoch_seq)
            .expect("book view")
            .used_units;
        assert_eq!(
            device, server,
            "book {book}: the device counts {device}, the server {server}"
        );
    }
    let accepted_units = events
        .iter()
        .filter(|e| {
            matches!(
                e.event.body,
                shuipiao_shared::event::EventBody::Redemption { .. }
            )
        })
        .count() as u32;
    assert_eq!(
        counted, accepted_units,
        "every accepted redemption counts exactly once"
    );
    eprintln!(
        "recovered: {} events on device and server, {counted} units counted, in {:.1?}",
        events.len(),
        started.elapsed()
    );
}

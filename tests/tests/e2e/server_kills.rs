//! Scenario 5c: the `shuipiao-server` process killed with SIGKILL in the middle of push batches
//! (the proxy reports the push request; the kill follows within a few milliseconds), then
//! started again on the same database behind the same proxy address. After recovery every
//! event is stored exactly once and every book counts exactly what was delivered.
//!
//! `SHUIPIAO_E2E_SERVER_KILLS` sets the number of kills (default 4).

use std::time::{Duration, Instant};

use shuipiao_shared::ids::ScopeId;
use shuipiao_shared::status::BookState;
use shuipiao_test_support::TestDb;
use shuipiao_test_support::rng::Rng;
use shuipiao_tests::device::Device;
use shuipiao_tests::inspect::ServerView;
use shuipiao_tests::plant::{BUCKET, Plant};
use shuipiao_tests::processes::{ServerProcess, create_admin};
use shuipiao_tests::proxy::FaultProxy;
use shuipiao_tests::world::accepted;

shuipiao_test_support::on_both_backends!(server_killed_during_push);

const BOOKS: usize = 20;
const SCANS_PER_BOOK_PER_DEVICE: u16 = 30;

async fn server_killed_during_push(db: TestDb) {
    let kills = shuipiao_tests::env_count("SHUIPIAO_E2E_SERVER_KILLS", 4);
    let mut rng = Rng::from_env("server_killed_during_push");
    let started = Instant::now();
    create_admin(&db).await;
    let mut server = Some(ServerProcess::start(&db).await);
    let direct = server.as_ref().map(|s| s.url.clone()).expect("server");
    let plant = Plant::setup(&direct).await;
    let units = u32::from(SCANS_PER_BOOK_PER_DEVICE) * 2;
    let package = plant
        .package("企业年套餐", units, BUCKET, ScopeId::ANYWHERE, 31)
        .await;
    let customer = plant.customer("big-company").await;
    let books = plant.issue(&customer, package, BOOKS as u32).await;
    let mut codes = Vec::new();
    for book in &books {
        codes.push(customer.qr_text(*book).await);
    }

    let addr = server.as_ref().map(|s| s.addr).expect("server");
    let proxy = FaultProxy::start(addr, Rng::new(rng.next_u64())).await;
    let mut devices = Vec::new();
    for name in ["courier-east", "courier-west"] {
        let code = plant.courier_code(name).await;
        let device = Device::enroll(&proxy.url, &code, name).await;
        device.sync().await;
        devices.push(device);
    }

    // Each device delivers its share of every book offline: more than one push batch each.
    let mut scans = Vec::new();
    for _ in 0..SCANS_PER_BOOK_PER_DEVICE {
        for code in &codes {
            scans.push(code.clone());
        }
    }
    let mut cursor = vec![0usize; devices.len()];
    let scan_some = |devices: &mut Vec<Device>, cursor: &mut Vec<usize>, count: usize| {
        for (index, device) in devices.iter_mut().enumerate() {
            for _ in 0..count {
                if let Some(code) = scans.get(cursor[index]) {
                    let outcome = device.scan(code, 1);
                    let left = outcome.remaining.unwrap_or_default();
                    accepted(&device.name, &outcome, left);
                    cursor[index] += 1;
                }
            }
        }
    };
    scan_some(&mut devices, &mut cursor, scans.len() * 3 / 4);

    let mut failed_syncs = 0;
    for round in 0..kills {
        let mut pushes = proxy.pushes();
        pushes.borrow_and_update();
        let victim = server.take().expect("a running server");
        let kill_delay = Duration::from_millis(rng.below(20));
        let syncs = async {
            let (a, b) = tokio::join!(devices[0].try_sync(), devices[1].try_sync());
            [a.is_err(), b.is_err()]
        };
        let killer = async {
            tokio::time::timeout(Duration::from_secs(30), pushes.changed())
                .await
                .unwrap_or_else(|_| panic!("round {round}: no push reached the server"))
                .expect("proxy alive");
            tokio::time::sleep(kill_delay).await;
            victim.kill().await;
        };
        let (errors, ()) = tokio::join!(syncs, killer);
        failed_syncs += errors.iter().filter(|e| **e).count();
        let restarted = ServerProcess::start(&db).await;
        proxy.set_upstream(restarted.addr);
        server = Some(restarted);
        scan_some(
            &mut devices,
            &mut cursor,
            scans.len() / (4 * kills.max(1)) + 1,
        );
    }
    scan_some(&mut devices, &mut cursor, scans.len());
    assert!(
        failed_syncs > 0,
        "killing the server mid-push must have broken some syncs"
    );

    for device in &devices {
        device.sync().await;
        let state = device.status().sync;
        assert_eq!(
            (state.pending, state.rejected),
            (0, 0),
            "{}: after recovery everything is stored: {state:?}",
            device.name
        );
    }
    for device in &devices {
        device.sync().await;
    }

    let view = ServerView::load(&db.url).await;
    for device in &devices {
        assert_eq!(
            device.events().len(),
            scans.len(),
            "{}: one event per scan",
            device.name
        );
        view.assert_holds_exactly(&device.name, device.id, &device.events());
    }
    view.assert_ledgers_consistent();
    for book in &books {
        view.assert_book(*book, units as u16, BookState::UsedUp);
        for device in &devices {
            assert_eq!(
                device.view(*book).used_units,
                units as u16,
                "{}: book {book} after the final pull",
                device.name
            );
        }
    }
    assert!(
        view.review.is_empty(),
        "nothing over-redeemed: {:?}",
        view.review
    );
    eprintln!(
        "{kills} server kills mid-push, {failed_syncs} syncs broken, {} events recovered in {:.1?}",
        view.events.len(),
        started.elapsed()
    );
    if let Some(server) = server {
        server.kill().await;
    }
}

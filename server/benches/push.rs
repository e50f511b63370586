//! Push ingestion throughput: batches of 500 signed redemptions through `Store::push_events`
//! (chain and signature checks, inserts, ledger recomputation, status sequence), on SQLite and,
//! when SHUIPIAO_TEST_PG_URL is set, on a fresh PostgreSQL database.
//!
//! Run with `cargo bench -p shuipiao-server --bench push`; prints events per second.

use std::time::Instant;

use ed25519_dalek::SigningKey;
use shuipiao_server::config::{DatabaseUrl, MasterKey};
use shuipiao_server::issuance::{self, IssueOrder};
use shuipiao_server::keys;
use shuipiao_server::store::models::*;
use shuipiao_server::store::{SqlStore, Store};
use shuipiao_shared::event::{ChainTip, Event, EventBody, EventFlags, SignedEvent};
use shuipiao_shared::ids::{BookId, EventId, ProductCode, ScopeId};
use sqlx::{Connection, Executor};

const BATCH: usize = 500;
const BATCHES: usize = 20;
const BOOKS: u32 = 2_000;
const NOW: i64 = 1_780_000_000;

fn audit() -> AuditEntry {
    AuditEntry::new(None, "bench", "bench", serde_json::json!({}))
}

async fn prepare(store: &SqlStore) -> (Device, SigningKey, Vec<BookId>) {
    let master = MasterKey::from_bytes([7; 32]);
    keys::ensure(store, &master, NOW).await.unwrap();
    let product = Product {
        code: ProductCode(189),
        name: "18.9L".into(),
        volume_ml: 18_900,
    };
    store.create_product(&product, NOW, &audit()).await.unwrap();
    let package = NewPackage {
        name: "bench".into(),
        price_fen: 100,
        paid_units: 10,
        bonus_units: 0,
        validity_days: 365,
        product: product.code,
        scope: ScopeId::ANYWHERE,
    };
    let package = store.create_package(&package, NOW, &audit()).await.unwrap();
    let account = NewAccount {
        kind: AccountKind::Customer,
        name: "bench".into(),
        enterprise_id: None,
    };
    let account = store.create_account(&account, NOW, &audit()).await.unwrap();
    let order = IssueOrder {
        account_id: account.id,
        package_id: package.id,
        quantity: BOOKS,
        allocations: vec![],
    };
    let books = issuance::issue_order(store, &master, &order, None, NOW)
        .await
        .unwrap()
        .books;
    let courier = NewUser {
        username: "courier".into(),
        password_hash: "x".into(),
        role: Role::Courier,
        account_id: None,
        region_id: None,
        outlet_id: None,
    };
    let courier = store.create_user(&courier, NOW, &audit()).await.unwrap();
    let code = NewEnrollmentCode {
        code_hash: vec![1; 32],
        user_id: courier.id,
        expires_at: NOW + 60,
        created_by: None,
    };
    store
        .create_enrollment_code(&code, NOW, &audit())
        .await
        .unwrap();
    let key = SigningKey::from_bytes(&[9; 32]);
    let device = NewDevice {
        name: "bench".into(),
        public_key: key.verifying_key().to_bytes(),
        token_hash: vec![2; 32],
    };
    let device = store
        .enroll_device(&code.code_hash, &device, NOW)
        .await
        .unwrap();
    (device, key, books.iter().map(|b| b.id).collect())
}

fn events(device: &Device, key: &SigningKey, books: &[BookId]) -> Vec<SignedEvent> {
    let mut tip = ChainTip::GENESIS;
    (0..BATCH * BATCHES)
        .map(|idx| {
            let at = 1_770_000_000 + idx as u64;
            let mut random = [0u8; 10];
            random[..8].copy_from_slice(&(idx as u64).to_be_bytes());
            let signed = Event {
                event_id: EventId::v7(at * 1000, random),
                device_id: device.id,
                device_seq: tip.device_seq + 1,
                prev_hash: tip.hash,
                scanned_at: at,
                courier_id: device.user_id,
                flags: EventFlags::default(),
                body: EventBody::Redemption {
                    book_id: books[idx % books.len()],
                    units: 1,
                    product: ProductCode(189),
                },
            }
            .sign(key);
            tip = ChainTip {
                device_seq: tip.device_seq + 1,
                hash: signed.hash(),
            };
            signed
        })
        .collect()
}

async fn measure(name: &str, url: DatabaseUrl) {
    let store = SqlStore::connect(&url).await.unwrap();
    let (device, key, books) = prepare(&store).await;
    let events = events(&device, &key, &books);
    let started = Instant::now();
    for batch in events.chunks(BATCH) {
        let results = store.push_events(&device, batch, NOW).await.unwrap();
        assert!(results.iter().all(|r| r.rejection.is_none()));
    }
    let elapsed = started.elapsed();
    let verify_started = Instant::now();
    let public = key.verifying_key();
    shuipiao_shared::event::verify_chain(ChainTip::GENESIS, device.id, &public, &events).unwrap();
    let verify_only = verify_started.elapsed();
    println!(
        "push/{name}: {} events in batches of {BATCH} over {BOOKS} books: {:.0} events/s ({:.1} ms per batch; chain and signature checks alone: {:.1} ms per batch)",
        events.len(),
        events.len() as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / BATCHES as f64,
        verify_only.as_secs_f64() * 1000.0 / BATCHES as f64
    );
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    measure(
        "sqlite",
        DatabaseUrl::new(format!("sqlite://{}/bench.db", dir.path().display())),
    )
    .await;
    match std::env::var("SHUIPIAO_TEST_PG_URL") {
        Ok(admin_url) => {
            sqlx::any::install_default_drivers();
            let name = format!("sp_bench_{}", std::process::id());
            let mut conn = sqlx::AnyConnection::connect(&admin_url).await.unwrap();
            conn.execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name}"
            )))
            .await
            .unwrap();
            conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await
                .unwrap();
            let base = admin_url
                .split('?')
                .next()
                .unwrap()
                .rsplit_once('/')
                .unwrap()
                .0
                .to_string();
            measure("postgres", DatabaseUrl::new(format!("{base}/{name}"))).await;
        }
        Err(_) => println!("push/postgres: skipped (SHUIPIAO_TEST_PG_URL not set)"),
    }
}

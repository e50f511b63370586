//! A courier's phone: the real courier engine over its own encrypted SQLite file in a temp dir,
//! its sync client, and a [`ShiftedClock`] the test moves instead of sleeping.

use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use shuipiao_courier::clock::OsRandom;
use shuipiao_courier::deliveries::DayList;
use shuipiao_courier::engine::{Engine, EngineStatus, ScanInput, ScanOutcome, ScanSource};
use shuipiao_courier::store::outbox::{self, OutboxEntry};
use shuipiao_courier::store::{meta, status};
use shuipiao_courier::sync::{self, SyncClient, SyncError, SyncReport};
use shuipiao_shared::event::SignedEvent;
use shuipiao_shared::ids::{BookId, DeviceId, ProductCode, ScopeId, UserId};
use shuipiao_shared::verdict::BookView;

use crate::clock::ShiftedClock;
use crate::plant::BUCKET;

/// Seconds the clock moves before each [`Device::scan`]: the next customer's door, past the
/// 5-second camera dedupe window.
pub const SECS_BETWEEN_DOORS: u64 = 30;

/// An enrolled courier device.
pub struct Device {
    /// Name used in failure messages.
    pub name: String,
    /// Its server-assigned id.
    pub id: DeviceId,
    /// The scopes its courier serves, as enrollment answered.
    pub scopes: Vec<ScopeId>,
    /// The courier it is enrolled for.
    pub courier: UserId,
    /// Its clock.
    pub clock: ShiftedClock,
    db_path: PathBuf,
    engine: Engine,
    sync: SyncClient,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Device({} #{})", self.name, self.id)
    }
}

impl Device {
    /// Enrolls a new device database with `code` at `server_url` (the proxy's URL when traffic
    /// should pass through faults), then opens its engine and sync client.
    pub async fn enroll(server_url: &str, code: &str, name: &str) -> Device {
        let dir = tempfile::Builder::new()
            .prefix("shuipiao-e2e-device-")
            .tempdir()
            .expect("temp dir for a device");
        let db_path = dir.path().join("courier.db");
        let enrolled = sync::enroll(server_url, code, name, &db_path)
            .await
            .unwrap_or_else(|e| panic!("enroll {name}: {e}"));
        let clock = ShiftedClock::new();
        let engine = Engine::open(&db_path, Arc::new(clock.clone()), Box::new(OsRandom))
            .unwrap_or_else(|e| panic!("open engine of {name}: {e}"));
        let sync = SyncClient::open(&db_path, Arc::new(clock.clone()))
            .unwrap_or_else(|e| panic!("open sync client of {name}: {e}"));
        Device {
            name: name.to_owned(),
            id: enrolled.device_id,
            scopes: enrolled.scopes.iter().map(|named| named.scope).collect(),
            courier: enrolled.user_id,
            clock,
            db_path,
            engine,
            sync,
            _dir: dir,
        }
    }

    /// The device database file.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// The engine, for calls the helpers below do not cover.
    pub fn engine(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// Moves to the next door and scans `text` with the camera for `quantity` units of `product`.
    pub fn scan_for(&mut self, text: &str, product: ProductCode, quantity: u16) -> ScanOutcome {
        self.scan_with(text, product, quantity, None)
    }

    /// [`Device::scan_for`] of the bucket product.
    pub fn scan(&mut self, text: &str, quantity: u16) -> ScanOutcome {
        self.scan_for(text, BUCKET, quantity)
    }

    /// Moves to the next door and scans with an optional supervisor PIN.
    pub fn scan_with(
        &mut self,
        text: &str,
        product: ProductCode,
        quantity: u16,
        supervisor_pin: Option<&str>,
    ) -> ScanOutcome {
        self.clock.advance_secs(SECS_BETWEEN_DOORS);
        let input = ScanInput {
            product,
            quantity: NonZeroU16::new(quantity).expect("a scan redeems at least one unit"),
            source: ScanSource::Camera,
            supervisor_pin,
        };
        self.engine
            .scan(text, &input)
            .unwrap_or_else(|e| panic!("{}: scan failed: {e}", self.name))
    }

    /// One push-then-pull cycle.
    pub async fn try_sync(&self) -> Result<SyncReport, SyncError> {
        self.sync.sync_once().await
    }

    /// One sync cycle that must succeed.
    pub async fn sync(&self) -> SyncReport {
        self.sync
            .sync_once()
            .await
            .unwrap_or_else(|e| panic!("{}: sync failed: {e}", self.name))
    }

    /// What the device knows about a book (server status plus its own unreflected events).
    pub fn view(&self, book: BookId) -> BookView {
        let conn = self.engine.connection();
        let meta = meta::read(conn).unwrap_or_else(|e| panic!("{}: meta: {e}", self.name));
        status::book_view(conn, book, meta.budget_epoch_seq)
            .unwrap_or_else(|e| panic!("{}: view of book {book}: {e}", self.name))
    }

    /// Every event in the outbox, in `device_seq` order.
    pub fn outbox(&self) -> Vec<OutboxEntry> {
        let mut entries = outbox::recent(self.engine.connection(), usize::MAX >> 1)
            .unwrap_or_else(|e| panic!("{}: outbox: {e}", self.name));
        entries.reverse();
        entries
    }

    /// The signed events of the outbox, in `device_seq` order.
    pub fn events(&self) -> Vec<SignedEvent> {
        self.outbox().into_iter().map(|entry| entry.event).collect()
    }

    /// The delivery list of Beijing day `day`, as the device keeps it.
    pub fn deliveries(&self, day: &str) -> DayList {
        self.engine
            .deliveries(Some(day))
            .unwrap_or_else(|e| panic!("{}: delivery list: {e}", self.name))
    }

    /// The order ids of [`Device::deliveries`], in the order the list shows them.
    pub fn delivery_ids(&self, day: &str) -> Vec<u64> {
        let list = self.deliveries(day);
        list.items.iter().map(|item| item.task.order_id).collect()
    }

    /// Status screen data.
    pub fn status(&self) -> EngineStatus {
        self.engine
            .status()
            .unwrap_or_else(|e| panic!("{}: status: {e}", self.name))
    }
}

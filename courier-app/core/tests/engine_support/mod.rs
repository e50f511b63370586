//! Shared fixtures of the engine tests: fixed test keys (seeds as in `shared/tests/vectors.rs`),
//! tickets signed with them, and a device database enrolled and synced without a network.
#![allow(dead_code)] // Each test binary uses a different part of the fixtures.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use shuipiao_courier::clock::{Clock, CountingIds, SystemClock, TestClock};
use shuipiao_courier::engine::Engine;
use shuipiao_courier::store::{self, meta, status};
use shuipiao_shared::credential::Credential;
use shuipiao_shared::ids::{BookId, DeviceId, ProductCode, ScopeId, UserId};
use shuipiao_shared::keyring::{IssuerKey, KeyState, Keyring, Kid};
use shuipiao_shared::status::{BookState, StatusRow};
use shuipiao_shared::sync::PullResponse;

/// "Now" of the tests: 2026-09-21T14:13:20Z.
pub const NOW: u64 = 1_790_000_000;
pub const HOUR: u64 = 3600;
/// 18.9L buckets: what a fresh device delivers unless the courier picks another product.
pub const BUCKET: ProductCode = ProductCode(189);
pub const OTHER_PRODUCT: ProductCode = ProductCode(2);
pub const WUHAN: ScopeId = ScopeId(1);
pub const XIANGYANG: ScopeId = ScopeId(2);
pub const DEVICE: DeviceId = DeviceId(7);

pub fn key(byte: u8) -> SigningKey {
    SigningKey::from_bytes(&[byte; 32])
}

pub fn root() -> SigningKey {
    key(0x01)
}
pub fn issuer() -> SigningKey {
    key(0x26)
}
pub fn leaked() -> SigningKey {
    key(0x13)
}
pub fn other_plant() -> SigningKey {
    key(0x99)
}
pub fn device_key() -> SigningKey {
    key(0x21)
}

pub fn keyring(version: u64) -> Keyring {
    let since = u32::try_from(NOW - 2 * 24 * HOUR).unwrap();
    Keyring {
        version,
        issued_at: NOW - 24 * HOUR,
        keys: vec![
            IssuerKey::new(
                issuer().verifying_key(),
                1_700_000_000,
                4_000_000_000,
                KeyState::Active,
            ),
            IssuerKey::new(
                leaked().verifying_key(),
                1_700_000_000,
                4_000_000_000,
                KeyState::Compromised { since },
            ),
        ],
    }
}

/// A credential for `book_id` with `units`, product [`BUCKET`], scope [`WUHAN`], valid around
/// [`NOW`].
pub fn book(book_id: u64, units: u16) -> Credential {
    Credential {
        kid: Kid([0; 4]),
        book_id: BookId(book_id),
        product: BUCKET,
        units,
        scope: WUHAN,
        valid_from: 1_780_000_000,
        valid_until: 1_800_000_000,
        holder_tag: 0x5a5a_0001,
    }
}

/// Like [`book`] but valid around the real clock, for tests that run the CLI binary.
pub fn live_book(book_id: u64, units: u16) -> Credential {
    let now = u32::try_from(SystemClock.now_secs()).unwrap();
    Credential {
        valid_from: now - 24 * 3600,
        valid_until: now + 30 * 24 * 3600,
        ..book(book_id, units)
    }
}

pub fn ticket(credential: Credential) -> String {
    credential.sign(&issuer()).to_qr_text()
}

pub fn row(book_id: u64, used_units: u16, state: BookState, seq: u64) -> StatusRow {
    StatusRow {
        book_id: BookId(book_id),
        used_units,
        state,
        seq,
        last_used_at: (used_units > 0).then_some(NOW - 5 * HOUR),
    }
}

/// A temporary device directory.
pub struct Device {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub clock: TestClock,
}

impl Device {
    /// A device enrolled as [`DEVICE`] serving [`WUHAN`], holding keyring v3 and `rows`, synced
    /// at `synced_at` with the test clock at [`NOW`].
    pub fn enrolled(rows: &[StatusRow], synced_at: u64) -> Device {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("courier.db");
        enroll_at(&db, "http://127.0.0.1:9", rows, synced_at);
        Device {
            dir,
            db,
            clock: TestClock::at_secs(NOW),
        }
    }

    pub fn engine(&self) -> Engine {
        Engine::open(
            &self.db,
            Arc::new(self.clock.clone()),
            Box::new(CountingIds::default()),
        )
        .unwrap()
    }
}

/// Writes an enrolled, synced device database at `db` without a network.
pub fn enroll_at(db: &Path, server_url: &str, rows: &[StatusRow], synced_at: u64) {
    let mut conn = store::open(db).unwrap();
    let tx = conn.transaction().unwrap();
    meta::save_identity(
        &tx,
        &meta::Identity {
            device_id: DEVICE,
            device_key: device_key(),
            device_token: "token-7".to_owned(),
            server_url: server_url.to_owned(),
            root_public_key: root().verifying_key(),
            courier_id: UserId(3),
            courier_name: "张师傅".to_owned(),
            scopes: vec![WUHAN],
        },
        false,
        synced_at,
    )
    .unwrap();
    let page = PullResponse {
        statuses: rows.to_vec(),
        keyring: Some(keyring(3).sign(&root())),
        server_time: synced_at,
        next_cursor: rows.iter().map(|r| r.seq).max().unwrap_or(0),
        has_more: false,
    };
    assert_eq!(
        status::apply_pull(&tx, &page, &root().verifying_key()).unwrap(),
        None
    );
    meta::mark_synced(&tx, synced_at).unwrap();
    tx.commit().unwrap();
}

//! A courier device for the device-side suites: its encrypted store enrolled and synced without
//! a network (through the store's public functions, as enrollment and the first pull write it),
//! tickets from the plant's issuer key, and status snapshots loaded into the store.

use std::path::PathBuf;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use shuipiao_courier::clock::{CountingIds, TestClock};
use shuipiao_courier::engine::Engine;
use shuipiao_courier::store::{self, meta, snapshot, status};
use shuipiao_shared::credential::{Credential, SignedCredential};
use shuipiao_shared::ids::{BookId, DeviceId, ScopeId, UserId};
use shuipiao_shared::keyring::{IssuerKey, KeyState, Keyring, Kid};
use shuipiao_shared::sync::PullResponse;

use crate::plant::PRODUCT;

/// The device's clock: 2026-09-21T14:13:20Z.
pub const NOW: u64 = 1_790_000_000;
/// The scope the device serves and tickets carry.
pub const SCOPE: ScopeId = ScopeId(1);

/// The plant's root key (pinned by the device, signs keyrings and snapshots).
pub fn root() -> SigningKey {
    SigningKey::from_bytes(&[0x51; 32])
}

/// The plant's issuer key (signs tickets).
pub fn issuer() -> SigningKey {
    SigningKey::from_bytes(&[0x52; 32])
}

/// A device store in a temp dir, enrolled and synced at [`NOW`].
pub struct Device {
    /// The database file (its key file lies beside it).
    pub db: PathBuf,
    _dir: tempfile::TempDir,
}

impl Device {
    /// Enrolls a new store: identity, the plant's keyring, synced at [`NOW`].
    pub fn enrolled() -> anyhow::Result<Device> {
        let dir = tempfile::Builder::new()
            .prefix("shuipiao-bench-device-")
            .tempdir()?;
        let db = dir.path().join("courier.db");
        let mut conn = store::open(&db)?;
        let tx = conn.transaction()?;
        let identity = meta::Identity {
            device_id: DeviceId(1),
            device_key: SigningKey::from_bytes(&[0x53; 32]),
            device_token: "bench".to_owned(),
            server_url: "http://127.0.0.1:9".to_owned(),
            root_public_key: root().verifying_key(),
            courier_id: UserId(1),
            courier_name: "压测配送员".to_owned(),
            scopes: vec![SCOPE],
        };
        meta::save_identity(&tx, &identity, false, NOW)?;
        let keyring = Keyring {
            version: 1,
            issued_at: NOW,
            keys: vec![IssuerKey::new(
                issuer().verifying_key(),
                0,
                u32::MAX,
                KeyState::Active,
            )],
        };
        let first_pull = PullResponse {
            statuses: vec![],
            keyring: Some(keyring.sign(&root())),
            server_time: NOW,
            next_cursor: 0,
            has_more: false,
        };
        if let Some(error) = status::apply_pull(&tx, &first_pull, &root().verifying_key())? {
            anyhow::bail!("keyring refused: {error}");
        }
        meta::mark_synced(&tx, NOW)?;
        tx.commit()?;
        Ok(Device { db, _dir: dir })
    }

    /// The door engine over this store, its clock stopped at [`NOW`].
    pub fn engine(&self) -> anyhow::Result<Engine> {
        Ok(Engine::open(
            &self.db,
            Arc::new(TestClock::at_secs(NOW)),
            Box::new(CountingIds::default()),
        )?)
    }

    /// Loads a root-signed status snapshot the way the sync client does
    /// (`store::snapshot::load`: verify against the pinned root, write the rows, move the
    /// cursor, in one transaction); returns the rows written.
    pub fn load_snapshot(&self, bytes: &[u8]) -> anyhow::Result<u64> {
        let mut conn = store::open(&self.db)?;
        let tx = conn.transaction()?;
        let loaded = snapshot::load(&tx, bytes, &root().verifying_key(), 0)??
            .ok_or_else(|| anyhow::anyhow!("the snapshot is not newer than the device's data"))?;
        tx.commit()?;
        Ok(loaded.rows)
    }
}

/// A 10-unit book valid around [`NOW`] for [`PRODUCT`] in [`SCOPE`], signed by the issuer.
pub fn ticket(book_id: u64) -> SignedCredential {
    Credential {
        // `sign` sets the issuer's kid.
        kid: Kid([0; 4]),
        book_id: BookId(book_id),
        product: PRODUCT,
        units: 10,
        scope: SCOPE,
        valid_from: 1_780_000_000,
        valid_until: 1_800_000_000,
        holder_tag: 0x5a5a_0001,
    }
    .sign(&issuer())
}

//! A courier device for the device-side suites: its encrypted store enrolled and synced without
//! a network (through the store's public functions, as enrollment and the first pull write it),
//! tickets from the plant's issuer key, and status snapshots written into the store.

use std::path::PathBuf;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use shuipiao_courier::clock::{CountingIds, TestClock};
use shuipiao_courier::engine::Engine;
use shuipiao_courier::store::{self, meta, status};
use shuipiao_shared::credential::{Credential, SignedCredential};
use shuipiao_shared::ids::{BookId, DeviceId, ScopeId, UserId};
use shuipiao_shared::keyring::{IssuerKey, KeyState, Keyring, Kid};
use shuipiao_shared::status::{BookState, StatusDelta, StatusRow, StatusSnapshot};
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

    /// Writes a snapshot's sets into the store's book status, one row per revoked or used-up
    /// book, in one transaction; returns the rows written.
    ///
    /// The device sync pulls rows, not snapshots, so this is the write a snapshot bootstrap
    /// would make. A snapshot carries no unit counts: a used-up book is written with every unit
    /// used.
    pub fn apply_snapshot(&self, snapshot: &StatusSnapshot) -> anyhow::Result<u64> {
        let sets = &snapshot.sets;
        self.write_rows(
            snapshot.seq,
            sets.revoked
                .iter()
                .map(|id| (id, BookState::Revoked))
                .chain(sets.used_up.iter().map(|id| (id, BookState::UsedUp))),
        )
    }

    /// Writes a delta like [`Device::apply_snapshot`]; a book no longer used up is written as
    /// active with no units used until its next pulled row.
    pub fn apply_delta(&self, delta: &StatusDelta) -> anyhow::Result<u64> {
        self.write_rows(
            delta.seq,
            delta
                .revoked_added
                .iter()
                .map(|id| (id, BookState::Revoked))
                .chain(delta.used_up_added.iter().map(|id| (id, BookState::UsedUp)))
                .chain(
                    delta
                        .used_up_removed
                        .iter()
                        .map(|id| (id, BookState::Active)),
                ),
        )
    }

    fn write_rows(
        &self,
        seq: u64,
        rows: impl Iterator<Item = (u64, BookState)>,
    ) -> anyhow::Result<u64> {
        let mut conn = store::open(&self.db)?;
        let tx = conn.transaction()?;
        let mut written = 0;
        for (book_id, state) in rows {
            let row = StatusRow {
                book_id: BookId(book_id),
                used_units: if state == BookState::UsedUp {
                    u16::MAX
                } else {
                    0
                },
                state,
                seq,
                last_used_at: None,
            };
            status::apply_row(&tx, &row)?;
            written += 1;
        }
        tx.commit()?;
        Ok(written)
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

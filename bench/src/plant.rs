//! A plant set up for load, directly through the server's domain code: one product and package,
//! an account holding the books, one courier whose devices enroll with keys of their own, and
//! devices that make signed, hash-chained redemptions with the protocol crate. They are a load
//! generator, not courier engines: an engine's durable per-scan write would measure the
//! phone's disk, not the server.

use std::time::Duration;

use anyhow::Context;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::json;
use shuipiao_server::enrollment;
use shuipiao_server::issuance::{self, IssueOrder};
use shuipiao_server::store::models::{
    AccountKind, AuditEntry, NewAccount, NewPackage, NewUser, Product, Role,
};
use shuipiao_shared::event::{ChainTip, Event, EventBody, EventFlags, SignedEvent};
use shuipiao_shared::ids::{BookId, DeviceId, EventId, ProductCode, ScopeId, UserId};
use shuipiao_shared::sync::{EnrollRequest, PushRequest, PushResponse, PushVerdict};

use crate::server::Running;

/// The product of every book, ticket and redemption in the bench.
pub const PRODUCT: ProductCode = ProductCode(189);

/// Units per book: enough that no run uses a book up, so every event takes the accepted path.
const UNITS: u32 = 50;

/// The catalogue and books of one server.
pub struct Plant {
    /// The issued books.
    pub books: Vec<BookId>,
    courier: UserId,
}

impl Plant {
    /// Creates the catalogue, issues `books` books and a courier.
    pub async fn setup(server: &Running, books: u32) -> anyhow::Result<Plant> {
        let store = &server.store;
        let now = shuipiao_server::unix_now();
        let audit = || AuditEntry::new(None, "bench.setup", "bench", json!({}));
        let product = Product {
            code: PRODUCT,
            name: "18.9L 桶装水".into(),
            volume_ml: 18_900,
            deposit_fen: 0,
        };
        store.create_product(&product, now, &audit()).await?;
        let package = NewPackage {
            name: "压测套餐".into(),
            price_fen: 5_000,
            paid_units: UNITS,
            bonus_units: 0,
            validity_days: 365,
            product: PRODUCT,
            scope: ScopeId::ANYWHERE,
            holder_bound: false,
        };
        let package = store.create_package(&package, now, &audit()).await?;
        let account = NewAccount {
            kind: AccountKind::Customer,
            name: "压测客户".into(),
            enterprise_id: None,
        };
        let account = store.create_account(&account, now, &audit()).await?;
        // Orders of at most the most packages one order may hold, issued before the oldest
        // history the statistics suite stores (90 days back), so every redemption of every
        // suite falls inside the validity window the server checks.
        let mut issued = Vec::new();
        let mut left = books;
        while left > 0 {
            let order = IssueOrder {
                account_id: account.id,
                package_id: package.id,
                quantity: left.min(issuance::MAX_QUANTITY),
                allocations: vec![],
            };
            let order =
                issuance::issue_order(store, &server.master, &order, None, now - 100 * 86_400)
                    .await
                    .context("issue the books")?;
            left -= u32::try_from(order.books.len()).context("books of one order")?;
            issued.extend(order.books.iter().map(|book| book.id));
        }
        let courier = NewUser {
            username: "bench-courier".into(),
            // No password: the courier never signs in, only their devices sync.
            password_hash: "!".into(),
            role: Role::Courier,
            account_id: None,
            region_id: None,
            outlet_id: None,
        };
        let courier = store.create_user(&courier, now, &audit()).await?;
        Ok(Plant {
            books: issued,
            courier: courier.id,
        })
    }

    /// Enrolls `count` devices of the courier, each with a one-time code and a key of its own,
    /// through the same domain code as `POST /api/v1/devices/enroll`.
    pub async fn enroll(&self, server: &Running, count: usize) -> anyhow::Result<Vec<LoadDevice>> {
        let mut devices = Vec::with_capacity(count);
        for idx in 0..count {
            // Devices start at different books, as couriers on different routes do.
            devices.push(enroll_device(server, self.courier, idx * 7_919).await?);
        }
        Ok(devices)
    }
}

/// Enrolls one device of `courier` with a one-time code and a key of its own, through the same
/// domain code as `POST /api/v1/devices/enroll`; its redemptions start at book `first_book`.
pub async fn enroll_device(
    server: &Running,
    courier: UserId,
    first_book: usize,
) -> anyhow::Result<LoadDevice> {
    let now = shuipiao_server::unix_now();
    let key = SigningKey::from_bytes(&shuipiao_server::random::bytes::<32>());
    let code = enrollment::create_code(&server.store, courier, 3600, None, now).await?;
    let request = EnrollRequest {
        code: code.code,
        device_pubkey: key.verifying_key().to_bytes(),
        name: format!("压测设备{}-{first_book}", courier.0),
    };
    let enrolled = enrollment::enroll(&server.store, &request, now).await?;
    Ok(LoadDevice {
        id: enrolled.device_id,
        courier: enrolled.user_id,
        token: enrolled.device_token,
        root: VerifyingKey::from_bytes(&enrolled.root_public_key)?,
        key,
        tip: ChainTip::GENESIS,
        first_book,
    })
}

/// Unix milliseconds an hour ago: scans that long past are inside every validity window and
/// behind the server's clock.
pub fn an_hour_ago_ms() -> u64 {
    (shuipiao_server::unix_now() as u64 - 3_600) * 1000
}

/// An enrolled device that makes redemptions.
pub struct LoadDevice {
    /// Server-assigned id.
    pub id: DeviceId,
    /// Bearer token for sync calls.
    pub token: String,
    /// The root public key it pinned.
    pub root: VerifyingKey,
    courier: UserId,
    key: SigningKey,
    // Invariant: the last event the server holds from this device.
    tip: ChainTip,
    first_book: usize,
}

impl LoadDevice {
    /// The next `count` redemptions of this device's chain, one unit each on `books` in turn,
    /// scanned one millisecond apart from `scanned_from_ms` (unix milliseconds). They continue
    /// the chain only once pushed (see [`Self::pushed`]).
    pub fn redemptions(
        &self,
        books: &[BookId],
        count: usize,
        scanned_from_ms: u64,
    ) -> Vec<SignedEvent> {
        let first_seq = self.tip.device_seq + 1;
        self.chain(count, |device_seq| {
            let book_idx = (self.first_book + device_seq as usize) % books.len();
            let body = EventBody::Redemption {
                book_id: books[book_idx],
                units: 1,
                product: PRODUCT,
            };
            (scanned_from_ms + (device_seq - first_seq), body)
        })
    }

    /// The next `count` events of this device's chain; `event(device_seq)` gives each one's scan
    /// time in unix milliseconds and its body. They continue the chain only once pushed.
    pub fn chain(&self, count: usize, event: impl Fn(u64) -> (u64, EventBody)) -> Vec<SignedEvent> {
        let mut tip = self.tip;
        let random = {
            let mut random = [0u8; 10];
            random[..8].copy_from_slice(&self.id.0.to_be_bytes());
            random
        };
        (0..count)
            .map(|_| {
                let device_seq = tip.device_seq + 1;
                let (at_ms, body) = event(device_seq);
                let signed = Event {
                    event_id: EventId::v7(at_ms, random),
                    device_id: self.id,
                    device_seq,
                    prev_hash: tip.hash,
                    scanned_at: at_ms / 1000,
                    courier_id: self.courier,
                    flags: EventFlags::default(),
                    body,
                }
                .sign(&self.key);
                tip = ChainTip {
                    device_seq,
                    hash: signed.hash(),
                };
                signed
            })
            .collect()
    }

    /// Records that the server now holds the chain up to `last`.
    pub fn pushed(&mut self, last: &SignedEvent) {
        self.tip = ChainTip {
            device_seq: last.event.device_seq,
            hash: last.hash(),
        };
    }
}

/// The JSON body of a push of `events`.
pub fn push_body(events: &[SignedEvent]) -> Vec<u8> {
    let request = PushRequest {
        events: events.to_vec(),
    };
    serde_json::to_vec(&request).expect("events always serialize")
}

/// Sends one push body, again while the server answers 503 (database busy, nothing changed).
/// Fails unless every event was stored; returns how often the server was busy.
pub async fn push(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: &[u8],
) -> anyhow::Result<u32> {
    let mut busy = 0;
    loop {
        let answer = http
            .post(format!("{url}/api/v1/sync/push"))
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await?;
        let status = answer.status();
        if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            busy += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        let text = answer.text().await?;
        anyhow::ensure!(status.is_success(), "push answered {status}: {text}");
        let response: PushResponse = serde_json::from_str(&text)?;
        if let Some(refused) = response
            .results
            .iter()
            .find(|result| result.verdict == PushVerdict::Rejected)
        {
            anyhow::bail!("push refused event {}: {refused:?}", refused.device_seq);
        }
        return Ok(busy);
    }
}

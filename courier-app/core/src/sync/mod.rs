//! Enrollment and the sync client (docs/protocol.md, "Sync API and versioning"): reqwest over rustls on tokio, beside the
//! engine and never in its way.
//!
//! **Architecture Invariant:** the client opens its own connection to the device database and
//! holds it only for short reads and short transactions, never across a network call, so a scan
//! never waits for the network. A cycle is: `GET /sync/status` (where the server's copy of the
//! chain ends, to resume after a crash), push pending events in `device_seq` order in batches of
//! at most [`MAX_PUSH_EVENTS`], record each per-event verdict, then pull pages of status rows
//! (and a newer keyring, verified with the pinned root) until `has_more` is false. A device more
//! than [`FAR_BEHIND_PAGES`] pages behind (new on a large plant, or long offline) loads the
//! root-signed status snapshot instead and pulls only what came after it. Each pull
//! reports the events still pending and the previous cycle's error for the operators' device
//! list. Last, the courier's delivery list: pages of the delivery feed after its own cursor
//! until `has_more` is false, each applied in one transaction (a server without the list, or a
//! store counter's device, leaves it empty and the cycle goes on).

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ed25519_dalek::{SigningKey, VerifyingKey};
use reqwest::{Client, RequestBuilder};
use rusqlite::Connection;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use shuipiao_shared::delivery::{DeliveriesQuery, DeliveriesResponse};
use shuipiao_shared::event::SignedEvent;
use shuipiao_shared::keyring::KeyringError;
use shuipiao_shared::status::StatusError;
use shuipiao_shared::sync::{
    API_PREFIX, EnrollRequest, EnrollResponse, ErrorBody, ErrorCode, MAX_PUSH_EVENTS,
    MAX_SYNC_ERROR_CHARS, PullQuery, PullResponse, PushRequest, PushResponse, PushVerdict,
    SyncStatusResponse,
};
use thiserror::Error;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::store::{self, StoreError, deliveries, meta, outbox, snapshot, status};

/// How far behind, in pull pages, a device loads the status snapshot instead of pulling rows:
/// fifty pages is 50,000 rows at the server's default page size, against a snapshot of about
/// 100 KB for a million books. Nearer than that, rows are better: they carry units partly
/// used, which a snapshot does not.
pub const FAR_BEHIND_PAGES: u64 = 50;

/// Upload state for the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    /// Events not yet stored on the server.
    pub pending: u64,
    /// Events the server refused for good: kept and shown, need an operator.
    pub rejected: u64,
    /// Device time of the last successful sync, unix seconds.
    pub last_success: Option<u64>,
    /// The last sync failure, cleared by a success.
    pub last_error: Option<String>,
}

/// Reads the upload state.
pub fn state(conn: &Connection) -> Result<SyncState, StoreError> {
    let meta = meta::read(conn)?;
    let (pending, rejected) = outbox::counts(conn)?;
    Ok(SyncState {
        pending,
        rejected,
        last_success: meta.last_sync_at,
        last_error: meta.last_sync_error,
    })
}

/// What one sync cycle did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SyncReport {
    /// Events sent (including resends).
    pub pushed: u64,
    /// Events the server now holds (accepted, duplicate or conflict).
    pub acknowledged: u64,
    /// Events refused in this cycle.
    pub rejected: u64,
    /// Status rows applied.
    pub pulled_rows: u64,
    /// Status sequence of the snapshot loaded instead of older rows, if one was.
    pub snapshot_seq: Option<u64>,
    /// Keyring version after the cycle.
    pub keyring_version: u64,
    /// Delivery feed rows applied.
    pub delivery_rows: u64,
    /// Whether the delivery list could be pulled.
    pub delivery_list: DeliveryListSync,
}

/// How the courier's delivery list fared in a sync cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryListSync {
    /// Pulled up to date.
    #[default]
    Pulled,
    /// The server is older than the delivery list (no such route): the list stays as it is.
    NotOffered,
    /// The server keeps no list for this device (a store counter).
    NotCourier,
}

/// Why enrollment or a sync failed.
#[derive(Debug, Error)]
pub enum SyncError {
    /// The local database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The network or HTTP layer failed.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// The server answered with an error.
    #[error("server answered {status}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The server's error body, if it sent one.
        body: Option<ErrorBody>,
        /// Its message or the raw status text.
        message: String,
    },
    /// Not enrolled yet.
    #[error("device is not enrolled")]
    NotEnrolled,
    /// This database is already enrolled.
    #[error("device is already enrolled")]
    AlreadyEnrolled,
    /// Training databases never sync.
    #[error("training database: sync is disabled")]
    Training,
    /// The server sent a root key or keyring that does not verify.
    #[error("keyring: {0}")]
    Keyring(#[from] KeyringError),
    /// The server sent a status snapshot that does not verify against the pinned root.
    #[error("status snapshot: {0}")]
    Snapshot(#[from] StatusError),
    /// The server sent an invalid root public key at enrollment.
    #[error("invalid root public key")]
    InvalidRootKey,
    /// The server's copy of this device's chain differs from the local one.
    #[error("server chain differs from the local chain at device_seq {0}")]
    ChainDiverged(u64),
    /// The server holds events this device does not (restored from an old backup?).
    #[error("server holds device_seq {server} but the device only has {local}")]
    ServerAhead {
        /// Server's last `device_seq`.
        server: u64,
        /// Local last `device_seq`.
        local: u64,
    },
    /// A pull did not advance its cursor.
    #[error("pull cursor did not advance")]
    PullStuck,
    /// Reading randomness failed.
    #[error("randomness: {0}")]
    Random(String),
}

impl SyncError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::Store(error) => error.code(),
            SyncError::Http(_) => "sync_network",
            SyncError::Server { .. } => "sync_server",
            SyncError::NotEnrolled => "not_enrolled",
            SyncError::AlreadyEnrolled => "already_enrolled",
            SyncError::Training => "training",
            SyncError::Keyring(_) => "sync_keyring",
            SyncError::Snapshot(_) => "sync_snapshot",
            SyncError::InvalidRootKey => "sync_invalid_root_key",
            SyncError::ChainDiverged(_) => "sync_chain_diverged",
            SyncError::ServerAhead { .. } => "sync_server_ahead",
            SyncError::PullStuck => "sync_pull_stuck",
            SyncError::Random(_) => "random",
        }
    }

    /// zh-CN text for the courier.
    pub fn user_message(&self) -> &'static str {
        match self {
            SyncError::Store(error) => error.user_message(),
            SyncError::Http(_) => "无法连接服务器，请检查网络，稍后会自动重试",
            SyncError::Server {
                status: 401 | 403, ..
            } => "设备未授权或已停用，请联系水厂",
            SyncError::Server { .. } => "服务器暂时无法处理，稍后会自动重试",
            SyncError::NotEnrolled => "设备尚未注册，请先用注册码注册",
            SyncError::AlreadyEnrolled => "设备已注册，无需重复注册",
            SyncError::Training => "练习模式不会同步数据",
            SyncError::Keyring(_) | SyncError::Snapshot(_) | SyncError::InvalidRootKey => {
                "服务器发来的密钥或数据校验失败，请联系水厂"
            }
            SyncError::ChainDiverged(_) | SyncError::ServerAhead { .. } => {
                "本机记录与服务器不一致，请联系水厂处理"
            }
            SyncError::PullStuck => "下载数据异常，稍后会自动重试",
            SyncError::Random(_) => "加密出错，请重试",
        }
    }

    /// Whether retrying later can help (network and server faults); otherwise the loop stops.
    pub fn is_retryable(&self) -> bool {
        match self {
            SyncError::Http(_) | SyncError::Store(_) | SyncError::PullStuck => true,
            SyncError::Server { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

impl From<rusqlite::Error> for SyncError {
    fn from(error: rusqlite::Error) -> Self {
        SyncError::Store(StoreError::Sqlite(error))
    }
}

fn http_client() -> Result<Client, SyncError> {
    // reqwest is built without a bundled crypto provider; install ring once per process.
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    Ok(Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()?)
}

fn api_url(server_url: &str, path: &str) -> String {
    format!("{}{API_PREFIX}{path}", server_url.trim_end_matches('/'))
}

async fn send_json<T: DeserializeOwned>(request: RequestBuilder) -> Result<T, SyncError> {
    Ok(checked(request.send().await?).await?.json::<T>().await?)
}

/// The response if it is a success, else the server's error.
async fn checked(response: reqwest::Response) -> Result<reqwest::Response, SyncError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str::<ErrorBody>(&text).ok();
    Err(SyncError::Server {
        status: status.as_u16(),
        message: body
            .as_ref()
            .map_or_else(|| status.to_string(), |b| b.message.clone()),
        body,
    })
}

/// Enrolls the device database at `db_path` with a one-time `code`: makes the device key pair
/// locally (the private key never leaves the encrypted database), posts the public key and stores
/// the answer. A first [`SyncClient::sync_once`] then fetches the keyring and statuses.
pub async fn enroll(
    server_url: &str,
    code: &str,
    name: &str,
    db_path: &Path,
) -> Result<EnrollResponse, SyncError> {
    if meta::read(&store::open(db_path)?)?.identity.is_some() {
        return Err(SyncError::AlreadyEnrolled);
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|error| SyncError::Random(error.to_string()))?;
    let device_key = SigningKey::from_bytes(&seed);
    let request = EnrollRequest {
        code: code.to_owned(),
        device_pubkey: device_key.verifying_key().to_bytes(),
        name: name.to_owned(),
    };
    let http = http_client()?;
    let response: EnrollResponse = send_json(
        http.post(api_url(server_url, "/devices/enroll"))
            .json(&request),
    )
    .await?;
    let root_public_key = VerifyingKey::from_bytes(&response.root_public_key)
        .map_err(|_| SyncError::InvalidRootKey)?;
    let identity = meta::Identity {
        device_id: response.device_id,
        device_key,
        device_token: response.device_token.clone(),
        server_url: server_url.trim_end_matches('/').to_owned(),
        root_public_key,
        courier_id: response.user_id,
        courier_name: response.display_name.clone(),
        scopes: response.scopes.iter().map(|s| s.scope).collect(),
    };
    let mut conn = store::open(db_path)?;
    let tx = conn.transaction()?;
    meta::save_identity(&tx, &identity, false, response.server_time)?;
    tx.commit()?;
    Ok(response)
}

/// The sync client of one device database.
pub struct SyncClient {
    http: Client,
    conn: Mutex<Connection>,
    clock: Arc<dyn Clock>,
}

struct Credentials {
    server_url: String,
    token: String,
    root: VerifyingKey,
}

impl SyncClient {
    /// A client over its own connection to the database at `db_path`.
    pub fn open(db_path: &Path, clock: Arc<dyn Clock>) -> Result<SyncClient, SyncError> {
        SyncClient::new(store::open(db_path)?, clock)
    }

    /// A client over an already opened connection (not the engine's).
    pub fn new(conn: Connection, clock: Arc<dyn Clock>) -> Result<SyncClient, SyncError> {
        Ok(SyncClient {
            http: http_client()?,
            conn: Mutex::new(conn),
            clock,
        })
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The upload state.
    pub fn state(&self) -> Result<SyncState, StoreError> {
        state(&self.db())
    }

    /// One push-then-pull cycle. A failure is recorded for the UI and returned.
    pub async fn sync_once(&self) -> Result<SyncReport, SyncError> {
        let result = self.cycle().await;
        if let Err(error) = &result
            && !matches!(error, SyncError::Training | SyncError::NotEnrolled)
        {
            let mut conn = self.db();
            let tx = conn.transaction()?;
            meta::set_sync_error(&tx, &format!("{}: {error}", error.code()))?;
            tx.commit()?;
        }
        result
    }

    fn credentials(&self) -> Result<Credentials, SyncError> {
        let meta = meta::read(&self.db())?;
        if meta.training {
            return Err(SyncError::Training);
        }
        let identity = meta.identity.ok_or(SyncError::NotEnrolled)?;
        Ok(Credentials {
            server_url: identity.server_url,
            token: identity.device_token,
            root: identity.root_public_key,
        })
    }

    async fn cycle(&self) -> Result<SyncReport, SyncError> {
        let credentials = self.credentials()?;
        let url = |path| api_url(&credentials.server_url, path);
        let mut report = SyncReport::default();

        let server: SyncStatusResponse = send_json(
            self.http
                .get(url("/sync/status"))
                .bearer_auth(&credentials.token),
        )
        .await?;
        self.check_chain(&server)?;

        loop {
            let batch: Vec<SignedEvent> = outbox::pending(&self.db(), MAX_PUSH_EVENTS)?;
            if batch.is_empty() {
                break;
            }
            let sent = batch.len();
            let response: PushResponse = send_json(
                self.http
                    .post(url("/sync/push"))
                    .bearer_auth(&credentials.token)
                    .json(&PushRequest { events: batch }),
            )
            .await?;
            report.pushed += sent as u64;
            let mut acknowledged = 0u64;
            {
                let mut conn = self.db();
                let tx = conn.transaction()?;
                for result in &response.results {
                    if !outbox::record_result(&tx, result)? {
                        continue;
                    }
                    match result.verdict {
                        PushVerdict::Rejected => report.rejected += 1,
                        _ => acknowledged += 1,
                    }
                }
                tx.commit()?;
            }
            report.acknowledged += acknowledged;
            // Stop when a batch made no progress (everything left is refused) or was the last.
            if acknowledged == 0 || sent < MAX_PUSH_EVENTS {
                break;
            }
        }

        let mut snapshot_tried = false;
        loop {
            let query = {
                let conn = self.db();
                let meta = meta::read(&conn)?;
                // The report for the device list: what this cycle's push left, and the error of
                // the cycle before (cleared once this one succeeds).
                let (pending, _rejected) = outbox::counts(&conn)?;
                PullQuery {
                    cursor: meta.cursor,
                    keyring_version: status::keyring_version(&conn)?,
                    limit: None,
                    pending_events: Some(pending),
                    last_sync_error: meta
                        .last_sync_error
                        .map(|error| error.chars().take(MAX_SYNC_ERROR_CHARS).collect()),
                }
            };
            let cursor = query.cursor;
            let page: PullResponse = send_json(
                self.http
                    .get(url("/sync/pull"))
                    .bearer_auth(&credentials.token)
                    .query(&query),
            )
            .await?;
            let keyring_error = {
                let mut conn = self.db();
                let tx = conn.transaction()?;
                let keyring_error = status::apply_pull(&tx, &page, &credentials.root)?;
                tx.commit()?;
                keyring_error
            };
            report.pulled_rows += page.statuses.len() as u64;
            if let Some(error) = keyring_error {
                return Err(SyncError::Keyring(error));
            }
            if !page.has_more {
                break;
            }
            if !snapshot_tried {
                snapshot_tried = true;
                let far_behind = cursor + FAR_BEHIND_PAGES * page.statuses.len() as u64;
                report.snapshot_seq = self
                    .load_snapshot_beyond(&url("/sync/snapshot"), &credentials, far_behind)
                    .await?;
                if report.snapshot_seq.is_some() {
                    continue;
                }
            }
            if page.next_cursor <= cursor {
                return Err(SyncError::PullStuck);
            }
        }

        report.delivery_list = self
            .pull_deliveries(&url("/sync/deliveries"), &credentials, &mut report)
            .await?;

        let now = self.clock.now_secs();
        let mut conn = self.db();
        let tx = conn.transaction()?;
        meta::mark_synced(&tx, now)?;
        tx.commit()?;
        report.keyring_version = status::keyring_version(&conn)?;
        Ok(report)
    }

    /// Pulls the delivery feed after the list's cursor until `has_more` is false, one
    /// transaction per page (rows and cursor together), counting the rows in `report`.
    async fn pull_deliveries(
        &self,
        url: &str,
        credentials: &Credentials,
        report: &mut SyncReport,
    ) -> Result<DeliveryListSync, SyncError> {
        loop {
            let cursor = deliveries::cursor(&self.db())?;
            let response = self
                .http
                .get(url)
                .bearer_auth(&credentials.token)
                .query(&DeliveriesQuery {
                    cursor,
                    limit: None,
                })
                .send()
                .await?;
            if response.status() == reqwest::StatusCode::NOT_FOUND {
                return Ok(DeliveryListSync::NotOffered);
            }
            let page: DeliveriesResponse = match checked(response).await {
                Ok(response) => response.json().await?,
                Err(SyncError::Server {
                    status: 403,
                    body:
                        Some(ErrorBody {
                            code: ErrorCode::Forbidden,
                            ..
                        }),
                    ..
                }) => return Ok(DeliveryListSync::NotCourier),
                Err(error) => return Err(error),
            };
            {
                let mut conn = self.db();
                let tx = conn.transaction()?;
                deliveries::apply_page(&tx, &page)?;
                tx.commit()?;
            }
            report.delivery_rows += page.rows.len() as u64;
            if !page.has_more {
                return Ok(DeliveryListSync::Pulled);
            }
            if page.next_cursor <= cursor {
                return Err(SyncError::PullStuck);
            }
        }
    }

    /// Fetches the status snapshot and loads it in one transaction if its sequence is beyond
    /// `far_behind`; returns that sequence. Downloading it costs about one page of rows.
    async fn load_snapshot_beyond(
        &self,
        url: &str,
        credentials: &Credentials,
        far_behind: u64,
    ) -> Result<Option<u64>, SyncError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(&credentials.token)
            .send()
            .await?;
        // A server from before snapshots has no such route: the rows still come by pulling.
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = checked(response).await?;
        let bytes = response.bytes().await?;
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let loaded = snapshot::load(&tx, &bytes, &credentials.root, far_behind)??;
        tx.commit()?;
        Ok(loaded.map(|loaded| loaded.seq))
    }

    /// Compares the server's end of this device's chain with the local chain. Events the server
    /// already holds but that are still pending locally (a crash between push and recording the
    /// verdicts) are simply resent: the server answers `duplicate` with their `server_seq`.
    fn check_chain(&self, server: &SyncStatusResponse) -> Result<(), SyncError> {
        if server.last_device_seq == 0 {
            return Ok(());
        }
        let conn = self.db();
        let local_tip = outbox::tip(&conn)?;
        if server.last_device_seq > local_tip.device_seq {
            return Err(SyncError::ServerAhead {
                server: server.last_device_seq,
                local: local_tip.device_seq,
            });
        }
        match outbox::hash_at(&conn, server.last_device_seq)? {
            Some(hash) if hash == server.last_hash => Ok(()),
            _ => Err(SyncError::ChainDiverged(server.last_device_seq)),
        }
    }
}

/// Timing of [`run_sync_loop`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopConfig {
    /// Pause between successful cycles.
    pub interval: Duration,
    /// First pause after a failure.
    pub base_backoff: Duration,
    /// Longest pause after failures.
    pub max_backoff: Duration,
}

impl Default for LoopConfig {
    fn default() -> Self {
        LoopConfig {
            interval: Duration::from_secs(60),
            base_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(300),
        }
    }
}

/// The pause after `failures` consecutive failures: exponential from `base` up to `max`, with
/// "equal jitter" (half fixed, half random from `random`) so a fleet does not retry in step.
pub fn backoff_delay(failures: u32, base: Duration, max: Duration, random: u64) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let ceiling = base.saturating_mul(1 << exponent).min(max);
    let ceiling_millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    let half = ceiling_millis / 2;
    Duration::from_millis(half + random % (ceiling_millis - half + 1))
}

/// Syncs until `shutdown` turns true: every `interval` after a success, with backoff and jitter
/// after failures. Stops early for errors retrying cannot fix (training, not enrolled, a diverged
/// chain), returning that error.
pub async fn run_sync_loop(
    client: &SyncClient,
    config: LoopConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), SyncError> {
    let mut failures = 0u32;
    while !*shutdown.borrow() {
        let delay = match client.sync_once().await {
            Ok(_) => {
                failures = 0;
                config.interval
            }
            Err(error) if error.is_retryable() => {
                failures = failures.saturating_add(1);
                let mut random = [0u8; 8];
                // Without randomness the delay is still bounded, just not jittered.
                let _ = getrandom::fill(&mut random);
                backoff_delay(
                    failures,
                    config.base_backoff,
                    config.max_backoff,
                    u64::from_le_bytes(random),
                )
            }
            Err(error) => return Err(error),
        };
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            changed = shutdown.changed() => if changed.is_err() { return Ok(()); },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters_within_bounds() {
        let base = Duration::from_secs(2);
        let max = Duration::from_secs(300);
        for failures in 1..40 {
            let ceiling = base.saturating_mul(1 << (failures - 1).min(20)).min(max);
            for random in [0, 1, 12_345, u64::MAX] {
                let delay = backoff_delay(failures, base, max, random);
                assert!(delay <= ceiling, "never above the exponential ceiling");
                assert!(delay >= ceiling / 2, "at least half the ceiling");
            }
        }
        assert_eq!(backoff_delay(1, base, max, 0), Duration::from_secs(1));
        assert_eq!(backoff_delay(30, base, max, 0), Duration::from_secs(150));
    }
}

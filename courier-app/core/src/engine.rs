//! The offline engine: one [`Engine`] per device database, plain synchronous Rust over rusqlite.
//!
//! **API Boundary:** the Tauri shell and the CLI call only this type; arguments and results are
//! plain data with public fields. **Architecture Invariant:** nothing on the scan path is async or
//! touches the network. A scan runs the protocol's pure [`verdict::decide`] against the local view
//! (pulled status rows plus this device's own unreflected events) and, before returning, commits
//! a signed, hash-chained event to the outbox: a redemption for an accept, a scan attempt for a
//! refusal. The green screen is therefore never shown for a redemption that a crash could lose.
//!
//! Delivering an order of the list at the door ([`Engine::deliver`], [`Engine::deliver_scanned`])
//! appends a delivery event the same way; for an order paid with tickets the delivery is a scan
//! through the same door verdict, and its redemption and the delivery naming it are committed in
//! one transaction.

use std::num::NonZeroU16;
use std::path::Path;
use std::sync::Arc;

use argon2::Argon2;
use ed25519_dalek::{SigningKey, VerifyingKey};
use rusqlite::{Connection, TransactionBehavior};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shuipiao_shared::delivery::{DeliveryPayment, DeliveryTask};
use shuipiao_shared::event::{
    DeliveryOutcome, Event, EventBody, EventFlags, MissReason, Refusal, SignedEvent,
};
use shuipiao_shared::holder::Presented;
use shuipiao_shared::ids::{BookId, DeviceId, EventId, ProductCode, ScopeId, UserId};
use shuipiao_shared::keyring::{Keyring, KeyringError};
use shuipiao_shared::verdict::{
    self, BookView, DoorContext, FreshnessPolicy, RejectReason, StatusView, Verdict,
};
use thiserror::Error;

use crate::clock::{Clock, IdSource};
use crate::deliveries::{DayList, beijing_day};
use crate::store::deliveries::{Delivery, TaskState};
use crate::store::meta::PracticeSync;
use crate::store::outbox::{self, OutboxEntry};
use crate::store::{self, StoreError, meta, scan_log, status};
use crate::sync::SyncState;

/// Most empty buckets taken back, or deposits collected, in one delivery.
pub const MAX_BUCKETS_AT_DOOR: u16 = 99;

/// How long after a redemption the same device may undo it, in seconds.
pub const UNDO_WINDOW_SECS: u64 = 120;

/// A successful sync younger than this means the device counts as online, in seconds.
pub const ONLINE_WINDOW_SECS: u64 = 300;

/// How far the clock may step back behind this device's own latest event before it counts as a
/// rollback, in seconds.
pub const CLOCK_SLACK_SECS: u64 = 60;

/// Where the scanned text came from; decides the dedupe window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanSource {
    /// Phone camera: a code stays in view, so the window is 5 s.
    Camera,
    /// USB keyboard-wedge scanner at a counter: 2.5 s.
    Scanner,
}

impl ScanSource {
    /// The same text again within this many milliseconds is the same scan.
    pub fn dedupe_window_millis(self) -> u64 {
        match self {
            ScanSource::Camera => 5_000,
            ScanSource::Scanner => 2_500,
        }
    }
}

/// What is being delivered, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanInput<'a> {
    /// Product being delivered.
    pub product: ProductCode,
    /// Units to redeem.
    pub quantity: NonZeroU16,
    /// Camera or scanner.
    pub source: ScanSource,
    /// A supervisor's PIN, entered to override a freshness refusal.
    pub supervisor_pin: Option<&'a str>,
}

/// How the scan of a tickets order is made: a delivery scan takes its product and quantity from
/// the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoorInput<'a> {
    /// Camera or scanner.
    pub source: ScanSource,
    /// A supervisor's PIN, entered to override a freshness refusal.
    pub supervisor_pin: Option<&'a str>,
}

/// How an order not paid with tickets went at the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "handover", rename_all = "snake_case")]
pub enum Handover {
    /// Delivered on the enterprise's account (月结).
    Account {
        /// Empty buckets taken back.
        empties: u16,
        /// Buckets whose deposit (押桶) goes on the account.
        deposits: u16,
    },
    /// Delivered and paid in cash (货到付款).
    Cash {
        /// Empty buckets taken back.
        empties: u16,
        /// Buckets whose deposit (押桶) was collected in cash.
        deposits: u16,
    },
    /// Not delivered (未送达); empty buckets may still have been taken back.
    NotDelivered {
        /// Why.
        reason: MissReason,
        /// Empty buckets taken back.
        empties: u16,
    },
}

impl Handover {
    fn empties(self) -> u16 {
        match self {
            Handover::Account { empties, .. }
            | Handover::Cash { empties, .. }
            | Handover::NotDelivered { empties, .. } => empties,
        }
    }

    fn deposits(self) -> u16 {
        match self {
            Handover::Account { deposits, .. } | Handover::Cash { deposits, .. } => deposits,
            Handover::NotDelivered { .. } => 0,
        }
    }
}

/// What a delivery at the door did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryDone {
    /// The order.
    pub order_id: u64,
    /// The scan of a tickets order, as its verdict screen shows it; a refused scan delivered
    /// nothing.
    pub scan: Option<ScanOutcome>,
    /// The delivery event appended; `None` when the scan was refused.
    pub event_id: Option<EventId>,
    /// The order's state on this device now.
    pub state: TaskState,
    /// One zh-CN line for the courier.
    pub message: String,
}

/// The order a delivery scan is for, and the buckets counted at the door.
#[derive(Debug, Clone, Copy)]
struct OrderAtDoor {
    order_id: u64,
    empties: u16,
    deposits: u16,
}

/// The colour of the verdict screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// Green: 可以送水.
    Accepted,
    /// Orange: 已使用.
    AlreadyUsed,
    /// Red: refused, with a reason.
    Rejected,
}

/// Something the courier should know beside the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Warning {
    /// The device clock is behind the last server time seen.
    ClockRollback,
    /// Status data is older than the stale limit.
    DataStale,
    /// The device has never synced status data.
    NeverSynced,
}

impl Warning {
    /// zh-CN text.
    pub fn message(self) -> &'static str {
        match self {
            Warning::ClockRollback => "设备时间早于服务器时间，请检查手机时间设置",
            Warning::DataStale => "数据超过24小时未同步，请尽快联网同步",
            Warning::NeverSynced => "尚未同步数据，请先联网同步",
        }
    }
}

/// What to show after a scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanOutcome {
    /// Green, orange or red.
    pub kind: OutcomeKind,
    /// Headline in zh-CN: 可以送水 / 已使用 / the reason.
    pub title: String,
    /// Second line in zh-CN: remaining units, when it was used, or what to do.
    pub detail: String,
    /// The refusal reason, for red screens.
    pub reason: Option<RejectReason>,
    /// The book, if the code could be parsed.
    pub book_id: Option<BookId>,
    /// Units redeemed now (0 unless accepted).
    pub units: u16,
    /// Units left after this redemption, for accepts.
    pub remaining: Option<u16>,
    /// When the book was last used (unix seconds), for 已使用.
    pub last_used_at: Option<u64>,
    /// Whether that last use was on this device.
    pub last_used_here: Option<bool>,
    /// The event written for this scan: the redemption or the scan attempt.
    pub event_id: Option<EventId>,
    /// Flags recorded on the event.
    pub flags: EventFlags,
    /// Warnings to show beside the verdict.
    pub warnings: Vec<Warning>,
    /// Device clock at the scan, unix milliseconds.
    pub scanned_at_millis: u64,
    /// The same code was scanned moments ago: this repeats that outcome and wrote nothing.
    pub duplicate: bool,
}

/// The result of an undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Undone {
    /// The void event appended.
    pub void_event_id: EventId,
    /// The book given its units back.
    pub book_id: BookId,
    /// Units given back.
    pub units: u16,
}

/// How fresh the status data is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Freshness {
    /// Younger than the stale limit.
    Fresh,
    /// Stale: accepts only within the offline budget.
    Stale,
    /// Past the refusal limit: accepts only with a supervisor override.
    TooOld,
    /// Never synced.
    Never,
}

impl Freshness {
    /// zh-CN text.
    pub fn message(self) -> &'static str {
        match self {
            Freshness::Fresh => "数据正常",
            Freshness::Stale => "数据较旧（离线额度内可核销）",
            Freshness::TooOld => "数据过旧（需主管授权）",
            Freshness::Never => "尚未同步",
        }
    }
}

/// The device's state for the status screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStatus {
    /// Enrolled (or set up for training).
    pub enrolled: bool,
    /// A training database: never synced.
    pub training: bool,
    /// The device id, once enrolled.
    pub device_id: Option<DeviceId>,
    /// The courier's display name.
    pub courier_name: Option<String>,
    /// Upload state.
    pub sync: SyncState,
    /// Seconds since the last successful sync.
    pub data_age_secs: Option<u64>,
    /// Freshness class of the data.
    pub freshness: Freshness,
    /// The device clock is behind the last server time.
    pub clock_rollback: bool,
    /// Keyring version held.
    pub keyring_version: u64,
    /// Units accepted while stale since the last sync, against the total budget.
    pub offline_units_used: u32,
    /// The total offline budget.
    pub offline_units_budget: u32,
}

/// Why an engine call failed. Nothing is written when one is returned.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The local database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The device is not enrolled yet.
    #[error("device is not enrolled")]
    NotEnrolled,
    /// A PIN was given but none is set.
    #[error("no supervisor pin is set")]
    NoSupervisorPin,
    /// The supervisor PIN is wrong.
    #[error("wrong supervisor pin")]
    WrongSupervisorPin,
    /// A new PIN is not 4 to 12 digits.
    #[error("supervisor pin must be 4 to 12 digits")]
    InvalidPin,
    /// No event with that id on this device.
    #[error("no such event on this device")]
    UndoNotFound,
    /// Only redemptions can be undone.
    #[error("only redemptions can be undone")]
    UndoNotRedemption,
    /// The redemption was already undone.
    #[error("redemption already undone")]
    UndoAlreadyVoided,
    /// More than two minutes have passed.
    #[error("undo window of {UNDO_WINDOW_SECS} s has passed")]
    UndoWindowPassed,
    /// A training keyring did not verify.
    #[error("training keyring: {0}")]
    TrainingKeyring(#[from] KeyringError),
    /// Only a training database can pretend a sync state.
    #[error("not a training database")]
    NotTraining,
    /// Hashing the PIN or reading randomness failed.
    #[error("crypto failure: {0}")]
    Crypto(String),
    /// The order is not in this device's delivery list.
    #[error("order is not in the delivery list")]
    OrderNotInList,
    /// The order was delivered already from this device.
    #[error("order already delivered")]
    OrderDelivered,
    /// The order is already recorded as not delivered; only a handover may follow.
    #[error("order already recorded as not delivered")]
    OrderAlreadyMissed,
    /// The handover does not match how the order is paid (the order's payment).
    #[error("the order is paid by {0:?}")]
    PaymentMismatch(DeliveryPayment),
    /// The scanned code is of another book than the order's.
    #[error("the ticket is not the order's book")]
    WrongBook,
    /// Empty buckets or deposits beyond [`MAX_BUCKETS_AT_DOOR`].
    #[error("bucket count out of range")]
    BucketCount,
    /// The redemption belongs to a delivered order.
    #[error("redemption belongs to a delivery")]
    UndoDelivered,
}

impl EngineError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::Store(error) => error.code(),
            EngineError::NotEnrolled => "not_enrolled",
            EngineError::NoSupervisorPin => "no_supervisor_pin",
            EngineError::WrongSupervisorPin => "wrong_supervisor_pin",
            EngineError::InvalidPin => "invalid_pin",
            EngineError::UndoNotFound => "undo_not_found",
            EngineError::UndoNotRedemption => "undo_not_redemption",
            EngineError::UndoAlreadyVoided => "undo_already_voided",
            EngineError::UndoWindowPassed => "undo_window_passed",
            EngineError::TrainingKeyring(_) => "training_keyring",
            EngineError::NotTraining => "not_training",
            EngineError::Crypto(_) => "crypto",
            EngineError::OrderNotInList => "order_not_in_list",
            EngineError::OrderDelivered => "order_delivered",
            EngineError::OrderAlreadyMissed => "order_already_missed",
            EngineError::PaymentMismatch(_) => "payment_mismatch",
            EngineError::WrongBook => "wrong_book",
            EngineError::BucketCount => "bucket_count",
            EngineError::UndoDelivered => "undo_delivered",
        }
    }

    /// zh-CN text for the courier.
    pub fn user_message(&self) -> &'static str {
        match self {
            EngineError::Store(error) => error.user_message(),
            EngineError::NotEnrolled => "设备尚未注册，请先用注册码注册",
            EngineError::NoSupervisorPin => "尚未设置主管密码",
            EngineError::WrongSupervisorPin => "主管密码错误",
            EngineError::InvalidPin => "主管密码须为4到12位数字",
            EngineError::UndoNotFound => "找不到这条记录",
            EngineError::UndoNotRedemption => "只能撤销核销记录",
            EngineError::UndoAlreadyVoided => "这条核销已撤销",
            EngineError::UndoWindowPassed => "已超过2分钟，不能撤销",
            EngineError::TrainingKeyring(_) => "练习密钥无效",
            EngineError::NotTraining => "只有练习模式可以模拟同步状态",
            EngineError::Crypto(_) => "加密出错，请重试",
            EngineError::OrderNotInList => "配送单中没有这个订单，请先同步",
            EngineError::OrderDelivered => "该订单已送达，不能重复送达",
            EngineError::OrderAlreadyMissed => "该订单已登记未送达，再次上门送达时请选择送达方式",
            EngineError::PaymentMismatch(DeliveryPayment::Tickets) => {
                "该订单用水票支付，请扫码送达"
            }
            EngineError::PaymentMismatch(DeliveryPayment::Account) => {
                "该订单为月结，请选择月结送达"
            }
            EngineError::PaymentMismatch(DeliveryPayment::Cash) => {
                "该订单为货到付款，请选择现金送达"
            }
            EngineError::WrongBook => "这张水票不是该订单的水票",
            EngineError::BucketCount => "空桶和押桶数量须在0到99之间",
            EngineError::UndoDelivered => "该核销属于已送达的订单，不能撤销",
        }
    }
}

impl From<rusqlite::Error> for EngineError {
    fn from(error: rusqlite::Error) -> Self {
        EngineError::Store(StoreError::Sqlite(error))
    }
}

/// The courier engine over one device database.
pub struct Engine {
    conn: Connection,
    clock: Arc<dyn Clock>,
    ids: Box<dyn IdSource>,
    policy: FreshnessPolicy,
    // Invariant: holds the stored keyring of this version, verified with the pinned root.
    keyring: Option<(u64, Keyring)>,
}

/// The local status view handed to the pure verdict function, computed before the call.
struct LocalView {
    book: Option<(BookId, BookView)>,
    stale_units_total: u32,
}

impl StatusView for LocalView {
    fn book(&self, book_id: BookId) -> BookView {
        match self.book {
            Some((id, view)) if id == book_id => view,
            _ => BookView::default(),
        }
    }

    fn stale_units_total(&self) -> u32 {
        self.stale_units_total
    }
}

impl Engine {
    /// Opens the database at `db_path` (key file beside it) with the default freshness policy.
    pub fn open(
        db_path: &Path,
        clock: Arc<dyn Clock>,
        ids: Box<dyn IdSource>,
    ) -> Result<Engine, EngineError> {
        Ok(Engine::new(store::open(db_path)?, clock, ids))
    }

    /// An engine over an already opened (keyed and migrated) connection.
    pub fn new(conn: Connection, clock: Arc<dyn Clock>, ids: Box<dyn IdSource>) -> Engine {
        Engine {
            conn,
            clock,
            ids,
            policy: FreshnessPolicy::default(),
            keyring: None,
        }
    }

    /// Replaces the freshness policy (per-device budgets come from settings).
    pub fn set_policy(&mut self, policy: FreshnessPolicy) {
        self.policy = policy;
    }

    /// Read access for diagnostics and tests.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Sets up a training database: a local device key, the training keyring (verified against
    /// `training_root`) and the scopes to practise with. Such a database never syncs.
    pub fn init_training(
        &mut self,
        training_root: VerifyingKey,
        keyring_bundle: &[u8],
        scopes: Vec<ScopeId>,
    ) -> Result<(), EngineError> {
        Keyring::open(keyring_bundle, &training_root)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|error| EngineError::Crypto(error.to_string()))?;
        let identity = meta::Identity {
            device_id: DeviceId(0),
            device_key: SigningKey::from_bytes(&seed),
            device_token: String::new(),
            server_url: String::new(),
            root_public_key: training_root,
            courier_id: UserId(0),
            courier_name: "练习模式".to_owned(),
            scopes,
        };
        let now = self.clock.now_secs();
        let tx = self.conn.transaction()?;
        meta::save_identity(&tx, &identity, true, now)?;
        status::update_keyring(&tx, keyring_bundle, &training_root)??;
        meta::mark_synced(&tx, now)?;
        tx.commit()?;
        Ok(())
    }

    /// Sets the supervisor PIN (4–12 digits), stored as a salted argon2 hash.
    pub fn set_supervisor_pin(&mut self, pin: &str) -> Result<(), EngineError> {
        if !(4..=12).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(EngineError::InvalidPin);
        }
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|error| EngineError::Crypto(error.to_string()))?;
        let hash = hash_pin(pin, &salt)?;
        let tx = self.conn.transaction()?;
        meta::set_pin(&tx, &salt, &hash)?;
        tx.commit()?;
        Ok(())
    }

    /// 练习模式 only: makes the training database behave as if its last sync were
    /// `practice.data_age_secs` ago (and its offline budget used up), until set again. Each
    /// state starts from a pretended sync, so units accepted while stale before it no longer
    /// count against the budget.
    pub fn set_practice_sync(&mut self, practice: PracticeSync) -> Result<(), EngineError> {
        let now = self.clock.now_secs();
        let tx = self.conn.transaction()?;
        if !meta::read(&tx)?.training {
            return Err(EngineError::NotTraining);
        }
        meta::mark_synced(&tx, now)?;
        meta::set_practice_sync(&tx, practice)?;
        tx.commit()?;
        Ok(())
    }

    /// Decides a scan and makes it durable before returning. See the module docs.
    pub fn scan(&mut self, text: &str, input: &ScanInput<'_>) -> Result<ScanOutcome, EngineError> {
        Ok(self.at_the_door(text, input, None)?.0)
    }

    /// Delivers order `order_id` of the list paid with tickets: scans the customer's code with
    /// the same door verdict as [`Engine::scan`], for the order's product and bottles, and on an
    /// accept appends, in the same transaction, the redemption and then the delivery naming it.
    /// A code of another book than the order's is refused before the verdict, writing nothing;
    /// a code the verdict refuses is logged as a scan attempt, as any refused scan, and delivers
    /// nothing (see [`DeliveryDone::scan`]).
    pub fn deliver_scanned(
        &mut self,
        order_id: u64,
        text: &str,
        input: &DoorInput<'_>,
        empties: u16,
        deposits: u16,
    ) -> Result<DeliveryDone, EngineError> {
        check_buckets(empties, deposits)?;
        let task = open_order(&self.conn, order_id, true)?;
        if task.payment != DeliveryPayment::Tickets {
            return Err(EngineError::PaymentMismatch(task.payment));
        }
        let scan_input = ScanInput {
            product: task.product,
            quantity: order_bottles(&task)?,
            source: input.source,
            supervisor_pin: input.supervisor_pin,
        };
        let order = OrderAtDoor {
            order_id,
            empties,
            deposits,
        };
        let (outcome, event_id) = self.at_the_door(text, &scan_input, Some(order))?;
        let message = match event_id {
            Some(_) => format!(
                "订单 {order_id} 已送达：{} 桶（水票），收回空桶 {empties} 只，押桶 {deposits} 只",
                task.bottles
            ),
            None => format!(
                "订单 {order_id} 未送达：扫码未通过（{}），订单仍待送",
                outcome.title
            ),
        };
        Ok(DeliveryDone {
            order_id,
            state: if event_id.is_some() {
                TaskState::Delivered
            } else {
                TaskState::of(outbox::last_delivery(&self.conn, order_id)?.as_ref())
            },
            scan: Some(outcome),
            event_id,
            message,
        })
    }

    /// Delivers order `order_id` of the list on the account (月结) or for cash (货到付款), or
    /// records that it could not be delivered (未送达). The handover must match how the order is
    /// paid; an order delivered already is refused, one not delivered may be delivered later.
    pub fn deliver(
        &mut self,
        order_id: u64,
        handover: Handover,
    ) -> Result<DeliveryDone, EngineError> {
        let (empties, deposits) = (handover.empties(), handover.deposits());
        check_buckets(empties, deposits)?;
        let now_millis = self.clock.now_millis();
        let now = now_millis / 1000;
        let meta = meta::read(&self.conn)?;
        let identity = meta.identity.as_ref().ok_or(EngineError::NotEnrolled)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let hands_over = !matches!(handover, Handover::NotDelivered { .. });
        let task = open_order(&tx, order_id, hands_over)?;
        let (paid_by, outcome) = match handover {
            Handover::Account { deposits, .. } => (
                Some(DeliveryPayment::Account),
                DeliveryOutcome::Account {
                    bottles: order_bottles(&task)?,
                    deposits,
                },
            ),
            Handover::Cash { deposits, .. } => (
                Some(DeliveryPayment::Cash),
                DeliveryOutcome::Cash {
                    bottles: order_bottles(&task)?,
                    deposits,
                },
            ),
            Handover::NotDelivered { reason, .. } => {
                (None, DeliveryOutcome::NotDelivered { reason })
            }
        };
        if paid_by.is_some_and(|paid_by| paid_by != task.payment) {
            return Err(EngineError::PaymentMismatch(task.payment));
        }
        let flags = flags_beside_a_scan(&tx, &meta, now)?;
        let body = EventBody::Delivery {
            order_id,
            outcome,
            empties,
        };
        let signed = sign_next(&tx, &mut *self.ids, identity, now_millis, flags, body)?;
        outbox::append(&tx, &signed, 0)?;
        tx.commit()?;
        let message = match outcome {
            DeliveryOutcome::NotDelivered { reason } => {
                format!(
                    "订单 {order_id} 未送达：{}，收回空桶 {empties} 只",
                    reason.label()
                )
            }
            delivered => format!(
                "订单 {order_id} 已送达：{} 桶（{}），收回空桶 {empties} 只，押桶 {deposits} 只",
                delivered.bottles(),
                task.payment.label()
            ),
        };
        Ok(DeliveryDone {
            order_id,
            scan: None,
            event_id: Some(signed.event.event_id),
            state: TaskState::of(Some(&outcome)),
            message,
        })
    }

    /// The door verdict of [`Engine::scan`], made durable; for an `order` (a delivery scan) an
    /// accept also appends the delivery, whose event id is returned with the outcome.
    fn at_the_door(
        &mut self,
        text: &str,
        input: &ScanInput<'_>,
        order: Option<OrderAtDoor>,
    ) -> Result<(ScanOutcome, Option<EventId>), EngineError> {
        let now_millis = self.clock.now_millis();
        let now = now_millis / 1000;
        let text = text.trim();
        let text_digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();

        let meta = meta::read(&self.conn)?;
        let identity = meta.identity.as_ref().ok_or(EngineError::NotEnrolled)?;
        let supervisor_override = match input.supervisor_pin {
            None => false,
            Some(pin) => {
                let (salt, stored) = meta.pin.ok_or(EngineError::NoSupervisorPin)?;
                if !constant_time_eq(&hash_pin(pin, &salt)?, &stored) {
                    return Err(EngineError::WrongSupervisorPin);
                }
                true
            }
        };
        self.refresh_keyring(&identity.root_public_key)?;
        let keyring = match &self.keyring {
            Some((_, keyring)) => keyring,
            None => &Keyring::default(),
        };

        // Everything from here on sees and writes one consistent state: the immediate
        // transaction holds the write lock, so two processes on one database cannot both accept
        // the last unit of a book.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let parsed_book = Presented::from_qr_text(text)
            .ok()
            .map(|code| code.credential().book_id);
        if let Some(order) = order {
            // Re-read under the lock: another process may have delivered it meanwhile.
            let task = open_order(&tx, order.order_id, true)?;
            if parsed_book.is_some_and(|book| Some(book) != task.book_id) {
                return Err(EngineError::WrongBook);
            }
        } else if let Some(last) = scan_log::latest_for(&tx, &text_digest)?
            && now_millis >= last.last_seen_ms
            && now_millis - last.last_seen_ms < input.source.dedupe_window_millis()
        {
            // A delivery scan is one deliberate action on one order and never a repeat; a plain
            // scan of the code still in view is.
            let mut outcome: ScanOutcome = serde_json::from_str(&last.outcome)
                .map_err(|error| StoreError::Corrupt(format!("scan log outcome: {error}")))?;
            scan_log::seen_again(&tx, last.id, now_millis)?;
            tx.commit()?;
            outcome.duplicate = true;
            return Ok((outcome, None));
        }

        let view = LocalView {
            book: match parsed_book {
                Some(book_id) => Some((
                    book_id,
                    status::book_view(&tx, book_id, meta.budget_epoch_seq)?,
                )),
                None => None,
            },
            stale_units_total: stale_units_total(&tx, &meta, self.policy)?,
        };
        let clock_rollback = clock_rolled_back(&tx, &meta, now)?;
        let data_age = data_age(&meta, now);
        let offline = is_offline(&meta, now);
        let ctx = DoorContext {
            now,
            scopes: &identity.scopes,
            product: input.product,
            quantity: input.quantity,
            data_age,
            policy: self.policy,
            supervisor_override,
            clock_rollback,
            offline,
        };
        let decided = verdict::decide(text, keyring, &view, &ctx);

        let mut warnings = Vec::new();
        if clock_rollback {
            warnings.push(Warning::ClockRollback);
        }
        match data_age {
            None => warnings.push(Warning::NeverSynced),
            Some(age) if age >= self.policy.stale_after => warnings.push(Warning::DataStale),
            Some(_) => {}
        }
        let attempt_flags = EventFlags {
            offline,
            stale: data_age.is_none_or(|age| age >= self.policy.stale_after),
            supervisor_override: false,
            clock_rollback,
        };
        let (body, flags, units_delta, mut outcome) =
            describe(&decided, attempt_flags, now_millis, warnings);

        let signed = sign_next(&tx, &mut *self.ids, identity, now_millis, flags, body)?;
        // The order a delivery's redemption was made for: it can no longer be undone alone.
        let delivered = order.filter(|_| outcome.kind == OutcomeKind::Accepted);
        outbox::append_for_order(
            &tx,
            &signed,
            units_delta,
            delivered.map(|order| order.order_id),
        )?;
        outcome.event_id = Some(signed.event.event_id);
        let delivery_id = match delivered {
            Some(order) => {
                let delivery = sign_next(
                    &tx,
                    &mut *self.ids,
                    identity,
                    now_millis,
                    EventFlags {
                        offline,
                        clock_rollback,
                        ..EventFlags::default()
                    },
                    EventBody::Delivery {
                        order_id: order.order_id,
                        outcome: DeliveryOutcome::Tickets {
                            bottles: input.quantity,
                            deposits: order.deposits,
                            redemption: signed.event.event_id,
                        },
                        empties: order.empties,
                    },
                )?;
                outbox::append(&tx, &delivery, 0)?;
                Some(delivery.event.event_id)
            }
            None => None,
        };
        let outcome_json = serde_json::to_string(&outcome)
            .map_err(|error| StoreError::Corrupt(format!("outcome: {error}")))?;
        scan_log::insert(
            &tx,
            &scan_log::ScanLogEntry {
                at_ms: now_millis,
                source: match input.source {
                    ScanSource::Camera => "camera".to_owned(),
                    ScanSource::Scanner => "scanner".to_owned(),
                },
                text_digest,
                verdict: match outcome.kind {
                    OutcomeKind::Accepted => "accepted",
                    OutcomeKind::AlreadyUsed => "already_used",
                    OutcomeKind::Rejected => "rejected",
                }
                .to_owned(),
                reason: outcome
                    .reason
                    .and_then(|r| serde_json::to_value(r).ok())
                    .and_then(|v| v.as_str().map(str::to_owned)),
                book_id: outcome.book_id.map(|b| b.0),
                event_id: Some(*signed.event.event_id.0.as_bytes()),
                outcome: outcome_json,
            },
        )?;
        tx.commit()?;
        Ok((outcome, delivery_id))
    }

    /// Undoes this device's redemption `event_id` within [`UNDO_WINDOW_SECS`] by appending a void
    /// event; the redemption itself is never deleted. A redemption a delivery names is refused:
    /// the delivery stands, and voiding its payment would leave it unpaid.
    pub fn undo(&mut self, event_id: EventId) -> Result<Undone, EngineError> {
        let now_millis = self.clock.now_millis();
        let now = now_millis / 1000;
        let meta = meta::read(&self.conn)?;
        let identity = meta.identity.as_ref().ok_or(EngineError::NotEnrolled)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let entry = outbox::get(&tx, event_id)?.ok_or(EngineError::UndoNotFound)?;
        let EventBody::Redemption { book_id, units, .. } = entry.event.event.body else {
            return Err(EngineError::UndoNotRedemption);
        };
        if entry.event.event.device_id != identity.device_id {
            return Err(EngineError::UndoNotFound);
        }
        if entry.voided {
            return Err(EngineError::UndoAlreadyVoided);
        }
        if entry.order_id.is_some() {
            return Err(EngineError::UndoDelivered);
        }
        let scanned_at = entry.event.event.scanned_at;
        // A clock set far back cannot prove the window is still open.
        if now.saturating_sub(scanned_at) > UNDO_WINDOW_SECS || now + CLOCK_SLACK_SECS < scanned_at
        {
            return Err(EngineError::UndoWindowPassed);
        }
        let flags = flags_beside_a_scan(&tx, &meta, now)?;
        let body = EventBody::Void {
            book_id,
            target: event_id,
        };
        let signed = sign_next(&tx, &mut *self.ids, identity, now_millis, flags, body)?;
        outbox::append(&tx, &signed, -i64::from(units))?;
        outbox::mark_voided(&tx, event_id)?;
        tx.commit()?;
        Ok(Undone {
            void_event_id: signed.event.event_id,
            book_id,
            units,
        })
    }

    /// The most recent `limit` events of this device, newest first.
    pub fn history(&self, limit: usize) -> Result<Vec<OutboxEntry>, EngineError> {
        Ok(outbox::recent(&self.conn, limit)?)
    }

    /// The delivery list of Beijing day `day` (`YYYY-MM-DD`), today's by the device clock if
    /// `None`, as last pulled: it is there with no signal.
    pub fn deliveries(&self, day: Option<&str>) -> Result<DayList, EngineError> {
        let day = day.map_or_else(|| beijing_day(self.clock.now_secs()), str::to_owned);
        let items = store::deliveries::of_day(&self.conn, &day)?;
        Ok(DayList::new(day, items))
    }

    /// Order `order_id` of the list, with its state on this device; the phone whole, to call.
    pub fn delivery(&self, order_id: u64) -> Result<Delivery, EngineError> {
        store::deliveries::get(&self.conn, order_id)?.ok_or(EngineError::OrderNotInList)
    }

    /// Enrollment, sync and freshness state for the status screen.
    pub fn status(&self) -> Result<EngineStatus, EngineError> {
        let now = self.clock.now_secs();
        let meta = meta::read(&self.conn)?;
        let data_age = data_age(&meta, now);
        let freshness = match data_age {
            None => Freshness::Never,
            Some(age) if age < self.policy.stale_after => Freshness::Fresh,
            Some(age) if age < self.policy.refuse_after => Freshness::Stale,
            Some(_) => Freshness::TooOld,
        };
        Ok(EngineStatus {
            enrolled: meta.identity.is_some(),
            training: meta.training,
            device_id: meta.identity.as_ref().map(|i| i.device_id),
            courier_name: meta.identity.as_ref().map(|i| i.courier_name.clone()),
            sync: crate::sync::state(&self.conn)?,
            data_age_secs: data_age,
            freshness,
            clock_rollback: clock_rolled_back(&self.conn, &meta, now)?,
            keyring_version: status::keyring_version(&self.conn)?,
            offline_units_used: stale_units_total(&self.conn, &meta, self.policy)?,
            offline_units_budget: self.policy.budget_total,
        })
    }

    fn refresh_keyring(&mut self, root: &VerifyingKey) -> Result<(), EngineError> {
        let version = status::keyring_version(&self.conn)?;
        if self
            .keyring
            .as_ref()
            .is_none_or(|(held, _)| *held != version)
        {
            self.keyring = Some((version, status::keyring(&self.conn, root)?));
        }
        Ok(())
    }
}

/// The flags of an event that is no scan (a void, a delivery): whether the device was offline
/// and its clock behind; freshness is a scan's matter.
fn flags_beside_a_scan(
    conn: &Connection,
    meta: &meta::Meta,
    now: u64,
) -> Result<EventFlags, StoreError> {
    Ok(EventFlags {
        offline: is_offline(meta, now),
        clock_rollback: clock_rolled_back(conn, meta, now)?,
        ..EventFlags::default()
    })
}

/// The next event of this device's chain, signed: it follows the outbox's tip.
fn sign_next(
    conn: &Connection,
    ids: &mut dyn IdSource,
    identity: &meta::Identity,
    now_millis: u64,
    flags: EventFlags,
    body: EventBody,
) -> Result<SignedEvent, StoreError> {
    let tip = outbox::tip(conn)?;
    Ok(Event {
        event_id: EventId::v7(now_millis, ids.random10()),
        device_id: identity.device_id,
        device_seq: tip.device_seq + 1,
        prev_hash: tip.hash,
        scanned_at: now_millis / 1000,
        courier_id: identity.courier_id,
        flags,
        body,
    }
    .sign(&identity.device_key))
}

/// The order `order_id` of the list, if a delivery may close it now: it is in the list and not
/// delivered yet; one recorded as not delivered takes only a handover (`hands_over`).
fn open_order(
    conn: &Connection,
    order_id: u64,
    hands_over: bool,
) -> Result<DeliveryTask, EngineError> {
    let delivery = store::deliveries::get(conn, order_id)?.ok_or(EngineError::OrderNotInList)?;
    match delivery.state {
        TaskState::Delivered => Err(EngineError::OrderDelivered),
        TaskState::NotDelivered if !hands_over => Err(EngineError::OrderAlreadyMissed),
        TaskState::Open | TaskState::NotDelivered => Ok(delivery.task),
    }
}

/// The bottles an order hands over; the server never sends an order of none.
fn order_bottles(task: &DeliveryTask) -> Result<NonZeroU16, StoreError> {
    NonZeroU16::new(task.bottles)
        .ok_or_else(|| StoreError::Corrupt(format!("order {} of no bottle", task.order_id)))
}

fn check_buckets(empties: u16, deposits: u16) -> Result<(), EngineError> {
    if empties > MAX_BUCKETS_AT_DOOR || deposits > MAX_BUCKETS_AT_DOOR {
        return Err(EngineError::BucketCount);
    }
    Ok(())
}

/// Turns a verdict into the event to record and the outcome to show.
fn describe(
    decided: &Verdict,
    attempt_flags: EventFlags,
    now_millis: u64,
    warnings: Vec<Warning>,
) -> (EventBody, EventFlags, i64, ScanOutcome) {
    let base = ScanOutcome {
        kind: OutcomeKind::Rejected,
        title: String::new(),
        detail: String::new(),
        reason: None,
        book_id: decided.book_id(),
        units: 0,
        remaining: None,
        last_used_at: None,
        last_used_here: None,
        event_id: None,
        flags: attempt_flags,
        warnings,
        scanned_at_millis: now_millis,
        duplicate: false,
    };
    match *decided {
        Verdict::Accept {
            credential,
            units,
            remaining,
            flags,
        } => (
            EventBody::Redemption {
                book_id: credential.book_id,
                units,
                product: credential.product,
            },
            flags,
            i64::from(units),
            ScanOutcome {
                kind: OutcomeKind::Accepted,
                title: "可以送水".to_owned(),
                detail: format!("本次核销 {units} 张，剩余 {remaining} 张"),
                units,
                remaining: Some(remaining),
                flags,
                ..base
            },
        ),
        Verdict::AlreadyUsed {
            credential,
            last_use,
        } => (
            EventBody::ScanAttempt {
                book_id: Some(credential.book_id),
                refusal: Refusal::AlreadyUsed,
            },
            attempt_flags,
            0,
            ScanOutcome {
                kind: OutcomeKind::AlreadyUsed,
                title: "已使用".to_owned(),
                detail: match last_use {
                    Some(last) => format!(
                        "上次使用：{}{}",
                        format_beijing_time(last.at),
                        if last.by_this_device {
                            "（本机）"
                        } else {
                            ""
                        }
                    ),
                    None => "此票已全部用完".to_owned(),
                },
                last_used_at: last_use.map(|l| l.at),
                last_used_here: last_use.map(|l| l.by_this_device),
                ..base
            },
        ),
        Verdict::Reject { reason, credential } => (
            EventBody::ScanAttempt {
                book_id: credential.map(|c| c.book_id),
                refusal: Refusal::Rejected(reason),
            },
            attempt_flags,
            0,
            ScanOutcome {
                kind: OutcomeKind::Rejected,
                title: reason.message().to_owned(),
                detail: reason.hint().to_owned(),
                reason: Some(reason),
                ..base
            },
        ),
    }
}

/// The device clock is behind the last server time seen, or clearly behind this device's own
/// latest event (more than [`CLOCK_SLACK_SECS`], so a small NTP correction is not flagged).
fn clock_rolled_back(conn: &Connection, meta: &meta::Meta, now: u64) -> Result<bool, StoreError> {
    let behind_server = meta.last_server_time.is_some_and(|server| now < server);
    let behind_own =
        outbox::last_scanned_at(conn)?.is_some_and(|last| now + CLOCK_SLACK_SECS < last);
    Ok(behind_server || behind_own)
}

/// Seconds since the last successful sync (`None`: never). A training database never syncs; its
/// data is as old as its practice state says.
fn data_age(meta: &meta::Meta, now: u64) -> Option<u64> {
    if meta.training {
        Some(meta.practice.data_age_secs)
    } else {
        meta.last_sync_at.map(|at| now.saturating_sub(at))
    }
}

/// Units accepted while stale since the last sync, or the whole budget when a training database
/// pretends it is used up.
fn stale_units_total(
    conn: &Connection,
    meta: &meta::Meta,
    policy: FreshnessPolicy,
) -> Result<u32, StoreError> {
    let used = status::stale_units_total(conn, meta.budget_epoch_seq)?;
    Ok(if meta.training && meta.practice.budget_used_up {
        used.max(policy.budget_total)
    } else {
        used
    })
}

/// Offline unless a sync succeeded within [`ONLINE_WINDOW_SECS`].
fn is_offline(meta: &meta::Meta, now: u64) -> bool {
    data_age(meta, now).is_none_or(|age| age > ONLINE_WINDOW_SECS)
}

fn hash_pin(pin: &str, salt: &[u8; 16]) -> Result<[u8; 32], EngineError> {
    let mut out = [0u8; 32];
    Argon2::default()
        .hash_password_into(pin.as_bytes(), salt, &mut out)
        .map_err(|error| EngineError::Crypto(error.to_string()))?;
    Ok(out)
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Formats unix seconds as `YYYY-MM-DD HH:MM` in China Standard Time (UTC+8), the plant's zone.
pub fn format_beijing_time(unix_secs: u64) -> String {
    let local = unix_secs + 8 * 3600;
    let days = local / 86_400;
    let secs_of_day = local % 86_400;
    // Civil-from-days (Howard Hinnant), for days since 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_time_formats_known_instants() {
        assert_eq!(format_beijing_time(0), "1970-01-01 08:00");
        // 2026-09-21T14:13:20Z.
        assert_eq!(format_beijing_time(1_790_000_000), "2026-09-21 22:13");
        // 2024-02-29T16:00:00Z is already 1 March in Beijing.
        assert_eq!(format_beijing_time(1_709_222_400), "2024-03-01 00:00");
    }

    #[test]
    fn dedupe_windows_follow_the_design() {
        assert_eq!(ScanSource::Camera.dedupe_window_millis(), 5_000);
        assert_eq!(ScanSource::Scanner.dedupe_window_millis(), 2_500);
    }
}

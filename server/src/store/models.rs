//! Rows the store reads and writes: read models (`Book`) beside insert models (`NewBook`).
//! Protocol types from `shuipiao-shared` are wrapped here, never given database traits.

use serde::{Deserialize, Serialize};
use shuipiao_shared::event::{Event, EventFlags};
use shuipiao_shared::ids::{BookId, DeviceId, EventId, ProductCode, ScopeId, UserId};
use shuipiao_shared::ledger::{BookLedger, ResolutionAction};
use shuipiao_shared::status::BookState;
use shuipiao_shared::verdict::RejectReason;
use utoipa::ToSchema;

/// A product (one bottle size).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Product {
    /// Code carried in credentials.
    #[schema(value_type = u16)]
    pub code: ProductCode,
    /// Display name, e.g. `18.9L 桶装水`.
    pub name: String,
    /// Volume in millilitres.
    pub volume_ml: u32,
    /// Deposit per bucket (押金), fen: 0–100 000 (`catalogue::MAX_DEPOSIT_FEN`).
    #[serde(default)]
    pub deposit_fen: i64,
}

/// A sales region (e.g. 武汉).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Region {
    /// Server id.
    pub id: i64,
    /// Name.
    pub name: String,
}

/// A physical store (门店) where staff redeem at a counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Outlet {
    /// Server id.
    pub id: i64,
    /// Region the store is in.
    pub region_id: i64,
    /// Name.
    pub name: String,
}

/// A scope to insert: a named set of regions and stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewScope {
    /// Name.
    #[schema(min_length = 1, max_length = 40)]
    pub name: String,
    /// Regions in the scope.
    pub region_ids: Vec<i64>,
    /// Stores in the scope.
    pub outlet_ids: Vec<i64>,
}

/// A scope: where books carrying its id may be redeemed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Scope {
    /// Id carried in credentials (never 0, which means anywhere).
    #[schema(value_type = u32)]
    pub id: ScopeId,
    /// Name.
    pub name: String,
    /// Regions in the scope.
    pub region_ids: Vec<i64>,
    /// Stores in the scope.
    pub outlet_ids: Vec<i64>,
}

/// A package to insert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPackage {
    /// Name, e.g. 家庭月套餐.
    #[schema(min_length = 1, max_length = 40)]
    pub name: String,
    /// Price in fen.
    #[schema(minimum = 0, maximum = 999_999_999)]
    pub price_fen: i64,
    /// Units paid for.
    #[schema(minimum = 1, maximum = 10_000)]
    pub paid_units: u32,
    /// Bonus units (买十送一 gives 1 per 10).
    #[schema(maximum = 10_000)]
    pub bonus_units: u32,
    /// Days a book stays valid after issue.
    #[schema(minimum = 1, maximum = 3_650)]
    pub validity_days: u32,
    /// Product the units are for.
    #[schema(value_type = u16)]
    pub product: ProductCode,
    /// Where books may be redeemed (0 = anywhere).
    #[schema(value_type = u32)]
    pub scope: ScopeId,
    /// Books are shown only as a rotating QR code signed in the holder's browser (v2
    /// credential), so screenshots stop working; off by default.
    #[serde(default)]
    pub holder_bound: bool,
}

/// A package on sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Package {
    /// Server id.
    pub id: i64,
    /// What was inserted.
    #[serde(flatten)]
    pub spec: NewPackage,
    /// When it was taken off sale (停售): it issues no new books; the books it issued stay valid.
    #[serde(default)]
    pub retired_at: Option<i64>,
}

/// Kind of account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// A household or person.
    Customer,
    /// A company whose members share its books.
    Enterprise,
}

impl AccountKind {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Customer => "customer",
            AccountKind::Enterprise => "enterprise",
        }
    }

    /// Parses stored text.
    pub fn parse(text: &str) -> Option<AccountKind> {
        match text {
            "customer" => Some(AccountKind::Customer),
            "enterprise" => Some(AccountKind::Enterprise),
            _ => None,
        }
    }
}

/// An account to insert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// Customer or enterprise.
    pub kind: AccountKind,
    /// Display name.
    pub name: String,
    /// The enterprise a member customer belongs to.
    pub enterprise_id: Option<i64>,
}

/// An account: who owns books.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Account {
    /// Server id.
    pub id: i64,
    /// What was inserted.
    #[serde(flatten)]
    pub spec: NewAccount,
}

/// A user role; every route states which roles may call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees own books only.
    Customer,
    /// Manages the members of one enterprise.
    EnterpriseAdmin,
    /// Redeems at the door.
    Courier,
    /// Redeems at a store counter.
    StoreStaff,
    /// Reads reports only.
    Statistician,
    /// Assigns the day's orders of water to couriers (派单).
    Dispatcher,
    /// Support: lookup, revoke, reissue, resolve conflicts.
    Operator,
    /// Everything, including keys and users.
    Admin,
}

impl Role {
    /// Every role, for matrices.
    pub const ALL: [Role; 8] = [
        Role::Customer,
        Role::EnterpriseAdmin,
        Role::Courier,
        Role::StoreStaff,
        Role::Statistician,
        Role::Dispatcher,
        Role::Operator,
        Role::Admin,
    ];

    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::EnterpriseAdmin => "enterprise_admin",
            Role::Courier => "courier",
            Role::StoreStaff => "store_staff",
            Role::Statistician => "statistician",
            Role::Dispatcher => "dispatcher",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Parses stored text.
    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }

    /// zh-CN name.
    pub fn label(self) -> &'static str {
        match self {
            Role::Customer => "客户",
            Role::EnterpriseAdmin => "企业管理员",
            Role::Courier => "送水员",
            Role::StoreStaff => "门店店员",
            Role::Statistician => "统计员",
            Role::Dispatcher => "调度员",
            Role::Operator => "客服",
            Role::Admin => "管理员",
        }
    }
}

/// A user to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Login name, unique.
    pub username: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Account (customers, enterprise admins).
    pub account_id: Option<i64>,
    /// Region served (couriers).
    pub region_id: Option<i64>,
    /// Store (store staff).
    pub outlet_id: Option<i64>,
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Server id.
    pub id: UserId,
    /// What was inserted.
    pub spec: NewUser,
    /// When the user was disabled, if ever.
    pub disabled_at: Option<i64>,
    /// Their sealed phone number, for customers who signed up with one.
    pub phone_sealed: Option<Vec<u8>>,
}

/// A login session; the client holds `id.secret`, the server only a hash of the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Public half of the token.
    pub id: String,
    /// Owner.
    pub user_id: UserId,
    /// SHA-256 of the secret half.
    pub secret_hash: Vec<u8>,
    /// Unix seconds after which the session is refused.
    pub expires_at: i64,
}

/// An order to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// Buyer.
    pub account_id: i64,
    /// What was bought.
    pub package_id: i64,
    /// How many packages.
    pub quantity: u32,
    /// Total price in fen.
    pub total_fen: i64,
    /// Staff member who issued it.
    pub created_by: Option<UserId>,
}

/// A signed book to insert. Its id comes from [`crate::store::Store::allocate_book_ids`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NewBook {
    /// Serial, never reused.
    #[schema(value_type = u64)]
    pub id: BookId,
    /// Owner.
    pub account_id: i64,
    /// Product.
    #[schema(value_type = u16)]
    pub product: ProductCode,
    /// Units in the book.
    pub units: u16,
    /// Scope.
    #[schema(value_type = u32)]
    pub scope: ScopeId,
    /// Unix seconds.
    pub valid_from: u32,
    /// Unix seconds.
    pub valid_until: u32,
    /// Issuer key id (hex of the 4 bytes).
    pub kid_hex: String,
    /// The QR text (`SP1…`).
    pub qr_text: String,
    /// Where the book came from: `purchase`, `gift`, `referral`, `registration`, `enterprise`, `reissue`.
    pub source: String,
    /// The book this one replaces (lost-ticket recovery, key compromise).
    #[schema(value_type = Option<u64>)]
    pub replaces: Option<BookId>,
}

/// A book with its server-side status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Book {
    /// What was issued.
    #[serde(flatten)]
    pub issued: NewBook,
    /// Order it came from, if any.
    pub order_id: Option<i64>,
    /// Package of that order.
    pub package_id: Option<i64>,
    /// Units counted by the ledger.
    pub used_units: u16,
    /// Status.
    #[schema(value_type = String)]
    pub state: BookState,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// Why it was revoked.
    pub revoke_reason: Option<String>,
    /// Device time of the latest counted redemption.
    pub last_used_at: Option<i64>,
    /// Status sequence of the last change (devices pull by it).
    pub status_seq: Option<i64>,
}

/// One device event about a book, with the device and staff member who recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookEvent {
    /// The event as signed.
    pub event: Event,
    /// When the server received it.
    pub received_at: i64,
    /// Device name, e.g. 张师傅的手机.
    pub device_name: String,
    /// Login name of the courier or clerk the device belongs to.
    pub staff_name: String,
    /// The clerk's store, for counter devices.
    pub outlet_name: Option<String>,
}

/// Everything that happened to a book: why it has the units it has (support answers "why could I
/// not redeem" from this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookHistory {
    /// The ledger as the server computes it now.
    pub ledger: BookLedger,
    /// Redemptions, voids and refused scans, oldest first.
    pub events: Vec<BookEvent>,
}

/// Purpose of a signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyPurpose {
    /// Signs keyring bundles.
    Root,
    /// Signs credentials.
    Issuer,
}

impl KeyPurpose {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::Root => "root",
            KeyPurpose::Issuer => "issuer",
        }
    }
}

/// How a new active key takes its purpose's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyInstall {
    /// Only when the purpose has no active key yet, else `Conflict`: instances starting together
    /// on an empty database install one key set.
    First,
    /// Retiring the purpose's active key (rotation).
    Rotate,
}

/// State of a stored key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Signs new material.
    Active,
    /// Verifies old material only.
    Retired,
    /// Refused from `compromised_since`.
    Compromised,
}

impl KeyStatus {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Retired => "retired",
            KeyStatus::Compromised => "compromised",
        }
    }
}

/// A signing key as stored: the private half sealed with the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRow {
    /// Key id: first 4 bytes of SHA-256 of the public key.
    pub kid: [u8; 4],
    /// Root or issuer.
    pub purpose: KeyPurpose,
    /// Ed25519 public key.
    pub public_key: [u8; 32],
    /// AES-256-GCM nonce followed by ciphertext of the 32-byte secret.
    pub sealed_secret: Vec<u8>,
    /// Unix seconds.
    pub not_before: u32,
    /// Unix seconds.
    pub not_after: u32,
    /// State.
    pub status: KeyStatus,
    /// Set when compromised.
    pub compromised_since: Option<u32>,
}

/// A one-time enrollment code to insert (only its hash is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEnrollmentCode {
    /// SHA-256 of the code.
    pub code_hash: Vec<u8>,
    /// The courier or store clerk the device will work for.
    pub user_id: UserId,
    /// Unix seconds after which the code is refused.
    pub expires_at: i64,
    /// Admin who made it.
    pub created_by: Option<UserId>,
}

/// A device to insert on enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDevice {
    /// Name the device gave itself.
    pub name: String,
    /// Ed25519 public key made on the device.
    pub public_key: [u8; 32],
    /// SHA-256 of the device token's secret.
    pub token_hash: Vec<u8>,
}

/// An enrolled device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Server id.
    pub id: DeviceId,
    /// Name.
    pub name: String,
    /// The courier or store clerk it works for.
    pub user_id: UserId,
    /// Ed25519 public key.
    pub public_key: [u8; 32],
    /// SHA-256 of the token secret.
    pub token_hash: Vec<u8>,
    /// Unix seconds.
    pub enrolled_at: i64,
    /// Unix seconds, when disabled.
    pub disabled_at: Option<i64>,
}

/// An admin action to record in the audit log, in the same transaction as the action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Who did it (None for the CLI).
    pub actor: Option<UserId>,
    /// What, e.g. `book.revoke`.
    pub action: &'static str,
    /// On what, e.g. `book:42`.
    pub target: String,
    /// JSON detail.
    pub detail: String,
}

impl AuditEntry {
    /// An entry with JSON detail.
    pub fn new(
        actor: Option<UserId>,
        action: &'static str,
        target: impl Into<String>,
        detail: serde_json::Value,
    ) -> AuditEntry {
        AuditEntry {
            actor,
            action,
            target: target.into(),
            detail: detail.to_string(),
        }
    }
}

/// A recorded admin action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditRecord {
    /// Serial.
    pub id: i64,
    /// Who (user id), if a user.
    pub actor_user_id: Option<i64>,
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// JSON detail.
    pub detail: String,
    /// Unix seconds.
    pub at: i64,
}

/// Why a stored event waits for an operator. One event may have several: stored as one
/// `review_queue` row per (event, reason), and listed together on one review item.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ReviewReason {
    /// Counted past the book's units (e.g. two offline couriers redeemed the same ticket).
    OverRedeemed,
    /// Redeemed at or after the book's revocation or its key's compromise.
    AfterRevocation,
    /// About a book this server never issued (e.g. after restoring an old backup).
    UnknownBook,
    /// Names another courier than the one the device was enrolled for.
    ForeignCourier,
    /// A void of something that is not this device's redemption of that book.
    InvalidVoid,
    /// A redemption of a book whose scope the device does not serve.
    OutOfScope,
    /// A redemption of another product than the book's.
    WrongProduct,
    /// A redemption scanned before the book's first valid second.
    NotYetValid,
    /// A redemption scanned after the book's last valid second.
    Expired,
    /// The device flagged the redemption: stale data, supervisor override or clock rollback.
    Flagged,
    /// A delivery of an order this server does not hold.
    UnknownOrder,
    /// A delivery by a courier the order is not assigned to (reassigned, or never theirs); it
    /// still closes the order, as the water was handed over.
    ForeignOrder,
    /// A delivery of an order staff had cancelled; the order stays cancelled.
    AfterCancel,
    /// A delivery of an order another delivery already closed.
    DeliveredTwice,
    /// A delivery paid otherwise than the order says, or with tickets whose redemption is not
    /// the same device's redemption of the order's book for as many units as bottles.
    RedemptionMismatch,
    /// A delivery took back more empty buckets than the customer held (空桶多于客户持有): the
    /// bucket ledger held the excess back (`shared::buckets`).
    EmptiesExceed,
    /// Stored by a newer server version (during a rolling upgrade); shown as 其他.
    #[serde(other)]
    Unknown,
}

impl ReviewReason {
    /// Every reason this version stores, in the order an item lists them.
    pub const ALL: [ReviewReason; 16] = [
        ReviewReason::OverRedeemed,
        ReviewReason::AfterRevocation,
        ReviewReason::UnknownBook,
        ReviewReason::ForeignCourier,
        ReviewReason::InvalidVoid,
        ReviewReason::OutOfScope,
        ReviewReason::WrongProduct,
        ReviewReason::NotYetValid,
        ReviewReason::Expired,
        ReviewReason::Flagged,
        ReviewReason::UnknownOrder,
        ReviewReason::ForeignOrder,
        ReviewReason::AfterCancel,
        ReviewReason::DeliveredTwice,
        ReviewReason::RedemptionMismatch,
        ReviewReason::EmptiesExceed,
    ];

    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewReason::OverRedeemed => "over_redeemed",
            ReviewReason::AfterRevocation => "after_revocation",
            ReviewReason::UnknownBook => "unknown_book",
            ReviewReason::ForeignCourier => "foreign_courier",
            ReviewReason::InvalidVoid => "invalid_void",
            ReviewReason::OutOfScope => "out_of_scope",
            ReviewReason::WrongProduct => "wrong_product",
            ReviewReason::NotYetValid => "not_yet_valid",
            ReviewReason::Expired => "expired",
            ReviewReason::Flagged => "flagged",
            ReviewReason::UnknownOrder => "unknown_order",
            ReviewReason::ForeignOrder => "foreign_order",
            ReviewReason::AfterCancel => "after_cancel",
            ReviewReason::DeliveredTwice => "delivered_twice",
            ReviewReason::RedemptionMismatch => "redemption_mismatch",
            ReviewReason::EmptiesExceed => "empties_exceed",
            ReviewReason::Unknown => "unknown",
        }
    }

    /// Parses stored text; `None` for a reason this version does not know.
    pub fn parse(text: &str) -> Option<ReviewReason> {
        ReviewReason::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// The reason for a redemption outside its book's terms, as [`UseTerms`] names it.
    ///
    /// [`UseTerms`]: shuipiao_shared::verdict::UseTerms
    pub fn outside_terms(refusal: RejectReason) -> Option<ReviewReason> {
        match refusal {
            RejectReason::OutOfScope => Some(ReviewReason::OutOfScope),
            RejectReason::WrongProduct => Some(ReviewReason::WrongProduct),
            RejectReason::NotYetValid => Some(ReviewReason::NotYetValid),
            RejectReason::Expired => Some(ReviewReason::Expired),
            _ => None,
        }
    }

    /// zh-CN text for an operator; a device flag says which circumstances `flags` records.
    pub fn label(self, flags: EventFlags) -> String {
        let text = match self {
            ReviewReason::OverRedeemed => "超额核销(多台设备离线重复核销)",
            ReviewReason::AfterRevocation => "作废后仍被核销",
            ReviewReason::UnknownBook => "服务器无此票本(可能来自旧备份)",
            ReviewReason::ForeignCourier => "记录的送水员与设备登记的不符",
            ReviewReason::InvalidVoid => "撤销的不是本设备对该票本的核销",
            ReviewReason::OutOfScope => "票本不在该设备的服务区域",
            ReviewReason::WrongProduct => "核销的产品与票本不符",
            ReviewReason::NotYetValid => "核销时票本尚未生效",
            ReviewReason::Expired => "核销时票本已过期",
            ReviewReason::UnknownOrder => "订单不存在",
            ReviewReason::ForeignOrder => "非本人订单",
            ReviewReason::AfterCancel => "订单已取消后送达",
            ReviewReason::DeliveredTwice => "重复送达",
            ReviewReason::RedemptionMismatch => "核销与订单不符",
            ReviewReason::EmptiesExceed => "空桶多于客户持有",
            ReviewReason::Unknown => "其他",
            ReviewReason::Flagged => {
                let circumstances: Vec<&str> = [
                    (flags.stale, "数据过旧"),
                    (flags.supervisor_override, "主管授权"),
                    (flags.clock_rollback, "时钟回拨"),
                ]
                .into_iter()
                .filter_map(|(on, text)| on.then_some(text))
                .collect();
                return if circumstances.is_empty() {
                    "设备标记".to_string()
                } else {
                    format!("设备标记:{}", circumstances.join("、"))
                };
            }
        };
        text.to_string()
    }
}

/// A stored event waiting for (or given) an operator's decision, with every reason it is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReviewItem {
    /// The event: a redemption, or an odd void, scan attempt or delivery.
    #[schema(value_type = String)]
    pub event_id: EventId,
    /// Its book; none for a refused scan of a code that named no book, or a delivery.
    #[schema(value_type = Option<u64>)]
    pub book_id: Option<BookId>,
    /// The order a delivery names (which may not exist).
    pub order_id: Option<u64>,
    /// The first of `reasons`, for clients from before an item listed several.
    pub reason: ReviewReason,
    /// Everything wrong with the event, in a fixed order (ledger reasons first).
    pub reasons: Vec<ReviewReason>,
    /// zh-CN text of each of `reasons`, in the same order.
    pub labels: Vec<String>,
    /// Device that recorded it.
    #[schema(value_type = u64)]
    pub device_id: DeviceId,
    /// Its sequence number on that device.
    pub device_seq: u64,
    /// Device clock, unix seconds.
    pub scanned_at: u64,
    /// When it entered the queue (server clock).
    pub created_at: i64,
    /// The decision, once resolved.
    #[schema(value_type = Option<String>)]
    pub resolution: Option<ResolutionAction>,
    /// The resolution event, once resolved.
    #[schema(value_type = Option<String>)]
    pub resolution_event_id: Option<EventId>,
}

/// Totals for the statistics dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Summary {
    /// Books issued.
    pub books: i64,
    /// Units issued.
    pub units_issued: i64,
    /// Units counted by the ledger.
    pub units_used: i64,
    /// Revoked books.
    pub books_revoked: i64,
    /// Redemption events stored.
    pub redemptions: i64,
    /// Refused scans logged by devices.
    pub scan_attempts: i64,
    /// Enrolled devices.
    pub devices: i64,
    /// Review items waiting for an operator.
    pub open_reviews: i64,
}

/// A customer signing up with a phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    /// Account (household) name.
    pub name: String,
    /// The enterprise that invited them, for enterprise members.
    pub enterprise_id: Option<i64>,
    /// Login name: derived from the phone's blind index, so it carries no personal data.
    pub username: String,
    /// Argon2 PHC string (a random password when the customer signs in by SMS only).
    pub password_hash: String,
    /// Blind index of the phone number.
    pub phone_index: Vec<u8>,
    /// The sealed phone number.
    pub phone_sealed: Vec<u8>,
    /// Who referred them (staff code or another customer).
    pub referrer: Option<UserId>,
    /// Keyed hash of the browser's id cookie, to spot one phone farming sign-ups.
    pub browser_hash: Option<Vec<u8>>,
}

/// What registration stores with a new customer, in the same transaction: welcome and referral
/// gift books, their audit entries and the messages about them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Welcome {
    /// Signed gift books (for the new account, and the referrer's).
    pub books: Vec<NewBook>,
    /// One audit entry per book.
    pub audits: Vec<AuditEntry>,
    /// Messages to queue.
    pub messages: Vec<NewNotification>,
}

/// Delivery channel of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Text message.
    Sms,
    /// WeChat template message.
    Wechat,
    /// App push.
    Push,
}

impl Channel {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Wechat => "wechat",
            Channel::Push => "push",
        }
    }

    /// Parses stored text.
    pub fn parse(text: &str) -> Option<Channel> {
        [Channel::Sms, Channel::Wechat, Channel::Push]
            .into_iter()
            .find(|c| c.as_str() == text)
    }
}

impl Channel {
    /// Every channel, in the order pages list them.
    pub const ALL: [Channel; 3] = [Channel::Sms, Channel::Wechat, Channel::Push];

    /// zh-CN label.
    pub fn label(self) -> &'static str {
        match self {
            Channel::Sms => "短信",
            Channel::Wechat => "微信模板消息",
            Channel::Push => "App 推送",
        }
    }
}

/// What a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A sign-in or registration code.
    Code,
    /// Books arrived.
    Issued,
    /// Units were redeemed.
    Redeemed,
    /// A book is about to expire.
    Expiring,
    /// A lost book was replaced.
    Reissued,
    /// An enterprise invited the customer to become a member.
    Invited,
    /// An order of water was given to a courier.
    OrderAssigned,
    /// Staff cancelled an order of water.
    OrderCancelled,
    /// The courier delivered an order of water.
    OrderDelivered,
    /// The courier could not deliver an order of water.
    OrderFailed,
    /// A recurring order could not order for a day.
    OrderSkipped,
}

impl MessageKind {
    /// Every kind, in the order pages list them.
    pub const ALL: [MessageKind; 11] = [
        MessageKind::Code,
        MessageKind::Issued,
        MessageKind::Redeemed,
        MessageKind::Expiring,
        MessageKind::Reissued,
        MessageKind::Invited,
        MessageKind::OrderAssigned,
        MessageKind::OrderCancelled,
        MessageKind::OrderDelivered,
        MessageKind::OrderFailed,
        MessageKind::OrderSkipped,
    ];

    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Code => "code",
            MessageKind::Issued => "issued",
            MessageKind::Redeemed => "redeemed",
            MessageKind::Expiring => "expiring",
            MessageKind::Reissued => "reissued",
            MessageKind::Invited => "invited",
            MessageKind::OrderAssigned => "order_assigned",
            MessageKind::OrderCancelled => "order_cancelled",
            MessageKind::OrderDelivered => "order_delivered",
            MessageKind::OrderFailed => "order_failed",
            MessageKind::OrderSkipped => "order_skipped",
        }
    }

    /// Parses stored text.
    pub fn parse(text: &str) -> Option<MessageKind> {
        MessageKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// zh-CN label, also the title of an app push.
    pub fn label(self) -> &'static str {
        match self {
            MessageKind::Code => "验证码",
            MessageKind::Issued => "水票到账",
            MessageKind::Redeemed => "水票使用提醒",
            MessageKind::Expiring => "水票到期提醒",
            MessageKind::Reissued => "水票补发",
            MessageKind::Invited => "企业用水邀请",
            MessageKind::OrderAssigned => "订水派单",
            MessageKind::OrderCancelled => "订水单取消",
            MessageKind::OrderDelivered => "订水单送达",
            MessageKind::OrderFailed => "订水单未送达",
            MessageKind::OrderSkipped => "周期订水未下单",
        }
    }
}

/// A user a message can reach: the phone always, and the channels they bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The user.
    pub user_id: UserId,
    /// Their sealed phone number.
    pub phone_sealed: Vec<u8>,
    /// Sealed WeChat openid, if bound.
    pub wechat_sealed: Option<Vec<u8>>,
    /// Sealed app push device token, if bound.
    pub push_sealed: Option<Vec<u8>>,
}

/// A message to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// The user it is for, if known.
    pub user_id: Option<UserId>,
    /// How to deliver it.
    pub channel: Channel,
    /// The sealed phone number: the SMS address, and the fallback of the other channels.
    pub recipient_sealed: Vec<u8>,
    /// The sealed WeChat openid or push token, for those channels.
    pub address_sealed: Option<Vec<u8>>,
    /// What it is about.
    pub kind: MessageKind,
    /// zh-CN text.
    pub body: String,
    /// Queued at most once per key (e.g. `expiring:12`).
    pub dedupe_key: Option<String>,
    /// The secret part of the text (a sign-in code), kept apart from `body`, which masks it.
    pub secret: Option<SealedSecret>,
}

/// The secret part of a message, sealed under a subkey of the master key
/// (`crate::notify::code_message`): the store keeps it only while the message may still be
/// delivered, and erases it once the message is sent, given up on or past `expires_at`, so
/// no operator and no later copy of the database can read a live code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// Nonce, ciphertext and tag.
    pub sealed: Vec<u8>,
    /// After this time (unix seconds) the secret is useless and is not delivered.
    pub expires_at: i64,
}

/// A one-time code for a phone and the message that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPhoneCode {
    /// Blind index of the phone number.
    pub phone_index: Vec<u8>,
    /// Keyed hash of the phone number and the code; the code itself is never stored.
    pub code_hash: Vec<u8>,
    /// The code stops working at this time (unix seconds).
    pub expires_at: i64,
    /// The SMS with the code, sealed as its secret.
    pub message: NewNotification,
}

/// At most `count` codes for one phone within the last `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeLimit {
    /// Length of the window in seconds.
    pub window_secs: i64,
    /// Codes allowed in it.
    pub count: i64,
}

/// Where a queued message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationState {
    /// Waiting for (another) delivery attempt.
    Pending,
    /// Delivered to the gateway.
    Sent,
    /// Given up after the last allowed attempt.
    Dead,
}

impl NotificationState {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationState::Pending => "pending",
            NotificationState::Sent => "sent",
            NotificationState::Dead => "dead",
        }
    }

    /// zh-CN label.
    pub fn label(self) -> &'static str {
        match self {
            NotificationState::Pending => "待发送",
            NotificationState::Sent => "已发送",
            NotificationState::Dead => "已放弃",
        }
    }

    /// Parses stored text.
    pub fn parse(text: &str) -> Option<NotificationState> {
        [
            NotificationState::Pending,
            NotificationState::Sent,
            NotificationState::Dead,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A queued message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Server id.
    pub id: i64,
    /// What was queued.
    pub spec: NewNotification,
    /// Where it stands.
    pub state: NotificationState,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Not before this time (unix seconds).
    pub next_attempt_at: i64,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// Queued at (unix seconds).
    pub created_at: i64,
    /// Delivered at (unix seconds).
    pub sent_at: Option<i64>,
}

impl Notification {
    /// Delivery failed at least once and the message is not delivered: a candidate for resend.
    pub fn failed(&self) -> bool {
        self.state == NotificationState::Dead
            || (self.state == NotificationState::Pending && self.last_error.is_some())
    }
}

/// Which messages the admin notifications page lists; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationFilter {
    /// Only this state.
    pub state: Option<NotificationState>,
    /// Only failed ones (dead, or pending after a failed attempt).
    pub failed: bool,
    /// Only this channel.
    pub channel: Option<Channel>,
    /// Only this kind.
    pub kind: Option<MessageKind>,
    /// Only messages to this user.
    pub user_id: Option<UserId>,
    /// Queued at or after (unix seconds).
    pub since: Option<i64>,
}

/// A book whose counted units changed since its holder was last told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageChange {
    /// The book.
    pub book_id: BookId,
    /// Its holder's account.
    pub account_id: i64,
    /// Units on the book.
    pub units: u16,
    /// Units counted now.
    pub used_units: u16,
    /// Units counted when the holder was last told.
    pub notified_used_units: u16,
    /// The status sequence of this state.
    pub status_seq: i64,
}

/// An item of the gift catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gift {
    /// Server id.
    pub id: i64,
    /// Name, e.g. 饮水机滤芯.
    pub name: String,
    /// Price in points.
    pub points: i64,
    /// Items left.
    pub stock: i64,
}

/// One change of an account's points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointsEntry {
    /// Points added (negative when spent).
    pub delta: i64,
    /// `redeemed` or `gift`.
    pub reason: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// What feedback is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedbackKind {
    /// A rating of a delivery.
    Rating,
    /// 领不到水票.
    CannotGet,
    /// 无法核销.
    CannotRedeem,
    /// 水票丢失.
    Lost,
    /// Anything else.
    Other,
}

impl FeedbackKind {
    /// Every kind, in form order.
    pub const ALL: [FeedbackKind; 5] = [
        FeedbackKind::Rating,
        FeedbackKind::CannotGet,
        FeedbackKind::CannotRedeem,
        FeedbackKind::Lost,
        FeedbackKind::Other,
    ];

    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackKind::Rating => "rating",
            FeedbackKind::CannotGet => "cannot_get",
            FeedbackKind::CannotRedeem => "cannot_redeem",
            FeedbackKind::Lost => "lost",
            FeedbackKind::Other => "other",
        }
    }

    /// Parses stored text.
    pub fn parse(text: &str) -> Option<FeedbackKind> {
        FeedbackKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// zh-CN label.
    pub fn label(self) -> &'static str {
        match self {
            FeedbackKind::Rating => "评价送水服务",
            FeedbackKind::CannotGet => "领不到水票",
            FeedbackKind::CannotRedeem => "水票无法核销",
            FeedbackKind::Lost => "水票丢失",
            FeedbackKind::Other => "其他问题",
        }
    }
}

/// Feedback to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFeedback {
    /// Who wrote it.
    pub user_id: UserId,
    /// The book it is about.
    pub book_id: Option<BookId>,
    /// What it is about.
    pub kind: FeedbackKind,
    /// 1–5 stars, for ratings.
    pub rating: Option<u8>,
    /// The courier or clerk rated.
    pub staff_user_id: Option<UserId>,
    /// The customer's words.
    pub message: String,
}

/// Feedback as the support desk sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    /// Server id.
    pub id: i64,
    /// What was written.
    pub spec: NewFeedback,
    /// `open`, `in_progress` or `closed`.
    pub state: String,
    /// Support staff working on it.
    pub assignee_id: Option<UserId>,
    /// Unix seconds.
    pub created_at: i64,
}

/// Where an enterprise invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    /// Sent, not answered yet (it may have expired meanwhile).
    Pending,
    /// The customer joined.
    Accepted,
    /// The customer said no.
    Declined,
    /// The enterprise took it back before an answer.
    Withdrawn,
    /// Nobody answered in time and the enterprise invited the phone again.
    Expired,
    /// The customer joined and has left since.
    Left,
}

impl InvitationState {
    /// Every state.
    pub const ALL: [InvitationState; 6] = [
        InvitationState::Pending,
        InvitationState::Accepted,
        InvitationState::Declined,
        InvitationState::Withdrawn,
        InvitationState::Expired,
        InvitationState::Left,
    ];

    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationState::Pending => "pending",
            InvitationState::Accepted => "accepted",
            InvitationState::Declined => "declined",
            InvitationState::Withdrawn => "withdrawn",
            InvitationState::Expired => "expired",
            InvitationState::Left => "left",
        }
    }

    /// Parses stored text.
    pub fn parse(text: &str) -> Option<InvitationState> {
        InvitationState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// An invitation to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvitation {
    /// The inviting enterprise.
    pub enterprise_id: i64,
    /// Blind index of the invited phone.
    pub phone_index: Vec<u8>,
    /// The phone as the enterprise may see it (`139****5678`).
    pub phone_masked: String,
    /// What the enterprise calls the invitee.
    pub name: String,
    /// Keyed hash of the code the invitation message carries.
    pub code_hash: Vec<u8>,
    /// The enterprise admin who sent it.
    pub invited_by: UserId,
    /// Unix seconds after which it can no longer be accepted.
    pub expires_at: i64,
}

/// What may be sent, counted in the transaction that stores an invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationLimits {
    /// Per phone, from every enterprise: (since, at most this many since then).
    pub per_phone: Vec<(i64, i64)>,
    /// Per enterprise: (since, at most this many since then).
    pub per_enterprise: (i64, i64),
    /// No new invitation from the same enterprise if the phone declined one since then.
    pub declined_since: i64,
}

/// A stored invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Server id.
    pub id: i64,
    /// The inviting enterprise.
    pub enterprise_id: i64,
    /// Its name, as the invitee sees it.
    pub enterprise_name: String,
    /// Blind index of the invited phone.
    pub phone_index: Vec<u8>,
    /// The masked phone.
    pub phone_masked: String,
    /// What the enterprise calls the invitee.
    pub name: String,
    /// Where it stands.
    pub state: InvitationState,
    /// The account that answered it.
    pub account_id: Option<i64>,
    /// Unix seconds.
    pub expires_at: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// When it was answered or withdrawn.
    pub answered_at: Option<i64>,
}

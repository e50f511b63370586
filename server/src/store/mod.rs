//! Storage: the [`Store`] trait, its error, and its one SQL implementation.
//!
//! **Architecture Invariant:** the server keeps no state outside the store, so several server
//! instances can share one PostgreSQL database. Methods are domain-level (no generic SQL leaks
//! out), take the time as a parameter, and write an admin action and its audit entry in one
//! transaction.

pub mod audit;
mod backend;
mod batch;
mod customers;
mod enterprise;
mod events;
mod feedback;
mod ledger;
pub mod models;
mod outbox;
pub mod reports;
mod rewards;
mod rows;
mod sql;

use std::future::Future;
use std::ops::Range;

use shuipiao_shared::event::{ChainTip, SignedEvent};
use shuipiao_shared::ids::{BookId, DeviceId, EventId, ProductCode, ScopeId, UserId};
use shuipiao_shared::ledger::ResolutionAction;
use shuipiao_shared::status::{StatusRow, StatusSets};
use shuipiao_shared::sync::PushResult;

use crate::config::{Backend, DatabaseUrl};
use audit::{AuditPage, AuditQuery};
use models::*;
pub use outbox::SECRET_EXPIRED;
use reports::{Bucket, DeviceActivity, ReportData};
pub use sql::SqlStore;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist (or is no longer usable, e.g. an expired code).
    #[error("not found")]
    NotFound,
    /// The change collides with existing data (unique key, foreign key, state). The database's
    /// own text is logged where it is classified, never carried: clients are told only the kind.
    #[error("conflict: {0}")]
    Conflict(ConflictKind),
    /// A text the database cannot store or compare (PostgreSQL refuses the NUL character): the
    /// request was bad, nothing was changed.
    #[error("text the database cannot hold")]
    BadText,
    /// The database is overloaded (no free connection, lock wait timed out, serialization
    /// failure): nothing was changed, and the same call may succeed later.
    #[error("database busy: {0}")]
    Busy(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything else: connection, migration, corrupt row.
    #[error("storage error: {0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What a change collided with: a closed set, so every caller can say it in its own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConflictKind {
    /// A user with this login name exists.
    #[error("the login name is taken")]
    DuplicateUsername,
    /// An account is registered with this phone number.
    #[error("the phone number is registered")]
    DuplicatePhone,
    /// A product with this code exists.
    #[error("the product code is taken")]
    DuplicateProductCode,
    /// A product with this name exists.
    #[error("the product name is taken")]
    DuplicateProductName,
    /// A region with this name exists.
    #[error("the region name is taken")]
    DuplicateRegionName,
    /// A store with this name exists.
    #[error("the store name is taken")]
    DuplicateOutletName,
    /// A scope with this name exists.
    #[error("the scope name is taken")]
    DuplicateScopeName,
    /// A package with this name exists.
    #[error("the package name is taken")]
    DuplicatePackageName,
    /// A gift with this name exists.
    #[error("the gift name is taken")]
    DuplicateGiftName,
    /// A device with this public key is enrolled.
    #[error("the device key is enrolled")]
    DuplicateDeviceKey,
    /// A row named by the change (account, region, store, product, …) does not exist.
    #[error("a referenced row does not exist")]
    MissingReference,
    /// The account named as an enterprise is not one.
    #[error("the account is not an enterprise")]
    NotEnterprise,
    /// Only a customer account outside any enterprise can join one.
    #[error("the account cannot join an enterprise")]
    NotJoinable,
    /// The enterprise has already invited this phone and the invitation is open.
    #[error("an invitation is pending")]
    AlreadyInvited,
    /// The phone's owner declined this enterprise recently.
    #[error("the invitation was declined recently")]
    RecentlyDeclined,
    /// Too many invitations to this phone, or from this enterprise, lately.
    #[error("too many invitations")]
    TooManyInvitations,
    /// The invitation is answered, withdrawn or expired.
    #[error("the invitation is not pending")]
    NotPending,
    /// The book's units left no longer cover the replacements (it changed since it was read).
    #[error("the book's units left changed")]
    UnitsChanged,
    /// The book is already revoked.
    #[error("the book is already revoked")]
    AlreadyRevoked,
    /// The flagged redemption is already resolved.
    #[error("the review item is already resolved")]
    AlreadyResolved,
    /// The flagged redemption's book is unknown to this server (restore it before resolving).
    #[error("the book of the review item is unknown")]
    UnknownBook,
    /// The account's points do not cover the gift.
    #[error("not enough points")]
    NotEnoughPoints,
    /// The gift is out of stock.
    #[error("out of stock")]
    OutOfStock,
    /// Only a message whose delivery failed can be sent again.
    #[error("the notification did not fail")]
    NotFailed,
    /// The message's secret (a code) was erased or expired: it cannot be sent again.
    #[error("the notification's secret is gone")]
    SecretGone,
    /// The SMS address is the phone number; it is not bound separately.
    #[error("the SMS channel is not bound separately")]
    SmsChannel,
    /// The purpose already has an active key (another instance made it first).
    #[error("an active key exists")]
    ActiveKeyExists,
    /// A keyring bundle of this version or a newer one exists.
    #[error("the keyring version is not the newest")]
    StaleKeyring,
    /// The backup file exists already.
    #[error("the backup file exists")]
    BackupExists,
    /// The backend is copied with its own tools (pg_dump).
    #[error("the backend is backed up with its own tools")]
    BackupUnsupported,
    /// Any other constraint of the schema.
    #[error("a constraint of the schema")]
    Constraint,
}

/// Unique keys a client can collide with: SQLite names the column (`UNIQUE constraint failed:
/// users.username`), PostgreSQL the constraint.
const UNIQUE_KEYS: [(&str, &str, ConflictKind); 12] = [
    (
        "users.username",
        "users_username_key",
        ConflictKind::DuplicateUsername,
    ),
    (
        "users.phone_index",
        "users_phone_index",
        ConflictKind::DuplicatePhone,
    ),
    (
        "products.code",
        "products_pkey",
        ConflictKind::DuplicateProductCode,
    ),
    (
        "products.name",
        "products_name_key",
        ConflictKind::DuplicateProductName,
    ),
    (
        "regions.name",
        "regions_name_key",
        ConflictKind::DuplicateRegionName,
    ),
    (
        "outlets.name",
        "outlets_name_key",
        ConflictKind::DuplicateOutletName,
    ),
    (
        "scopes.name",
        "scopes_name_key",
        ConflictKind::DuplicateScopeName,
    ),
    (
        "packages.name",
        "packages_name_key",
        ConflictKind::DuplicatePackageName,
    ),
    (
        "gifts.name",
        "gifts_name_key",
        ConflictKind::DuplicateGiftName,
    ),
    (
        "devices.public_key",
        "devices_public_key_key",
        ConflictKind::DuplicateDeviceKey,
    ),
    (
        "signing_keys.purpose",
        "signing_keys_one_active",
        ConflictKind::ActiveKeyExists,
    ),
    (
        "keyring_bundles.version",
        "keyring_bundles_pkey",
        ConflictKind::StaleKeyring,
    ),
];

/// The kind of a constraint violation, `None` for any other database error.
fn conflict_kind(err: &dyn sqlx::error::DatabaseError) -> Option<ConflictKind> {
    match err.kind() {
        sqlx::error::ErrorKind::UniqueViolation => {
            let column = err.message().strip_prefix("UNIQUE constraint failed: ");
            let constraint = err.constraint();
            Some(
                UNIQUE_KEYS
                    .iter()
                    .find(|(sqlite, postgres, _)| {
                        column == Some(*sqlite) || constraint == Some(*postgres)
                    })
                    .map_or(ConflictKind::Constraint, |(_, _, kind)| *kind),
            )
        }
        sqlx::error::ErrorKind::ForeignKeyViolation => Some(ConflictKind::MissingReference),
        sqlx::error::ErrorKind::CheckViolation | sqlx::error::ErrorKind::NotNullViolation => {
            Some(ConflictKind::Constraint)
        }
        _ => None,
    }
}

/// SQLite busy / locked, PostgreSQL serialization failure / deadlock / lock timeout.
const RETRYABLE_CODES: [&str; 6] = ["5", "6", "517", "40001", "40P01", "55P03"];

/// PostgreSQL: a character the encoding cannot hold (NUL), or cannot translate.
const BAD_TEXT_CODES: [&str; 2] = ["22021", "22P05"];

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> StoreError {
        match &err {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut => StoreError::Busy(Box::new(err)),
            sqlx::Error::Database(db_err) => {
                if let Some(kind) = conflict_kind(db_err.as_ref()) {
                    tracing::info!(
                        %kind,
                        detail = db_err.message(),
                        constraint = db_err.constraint(),
                        "store conflict"
                    );
                    StoreError::Conflict(kind)
                } else if db_err
                    .code()
                    .is_some_and(|code| RETRYABLE_CODES.contains(&code.as_ref()))
                {
                    StoreError::Busy(Box::new(err))
                } else if db_err
                    .code()
                    .is_some_and(|code| BAD_TEXT_CODES.contains(&code.as_ref()))
                {
                    tracing::info!(detail = db_err.message(), "text the database refused");
                    StoreError::BadText
                } else {
                    StoreError::Other(Box::new(err))
                }
            }
            _ => StoreError::Other(Box::new(err)),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> StoreError {
        StoreError::Other(Box::new(err))
    }
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the server persists. Implemented by [`SqlStore`] for SQLite and PostgreSQL.
pub trait Store: Clone + Send + Sync + 'static {
    /// Opens (creating a SQLite file if needed) and migrates the database at `url`.
    fn connect(url: &DatabaseUrl) -> impl Future<Output = StoreResult<Self>> + Send;
    /// Which backend this is.
    fn backend(&self) -> Backend;
    /// Checks the database answers.
    fn ping(&self) -> impl Future<Output = StoreResult<()>> + Send;
    /// Copies a SQLite database to `path` while it is in use (`VACUUM INTO`).
    fn backup_to(&self, path: &str) -> impl Future<Output = StoreResult<()>> + Send;

    // Catalogue.
    /// Adds a product.
    fn create_product(
        &self,
        product: &Product,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// All products by code.
    fn products(&self) -> impl Future<Output = StoreResult<Vec<Product>>> + Send;
    /// One product.
    fn product(&self, code: ProductCode) -> impl Future<Output = StoreResult<Product>> + Send;
    /// Adds a region.
    fn create_region(
        &self,
        name: &str,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<Region>> + Send;
    /// All regions.
    fn regions(&self) -> impl Future<Output = StoreResult<Vec<Region>>> + Send;
    /// Adds a store in a region.
    fn create_outlet(
        &self,
        region_id: i64,
        name: &str,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<Outlet>> + Send;
    /// All stores.
    fn outlets(&self) -> impl Future<Output = StoreResult<Vec<Outlet>>> + Send;
    /// Adds a scope.
    fn create_scope(
        &self,
        scope: &NewScope,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<Scope>> + Send;
    /// All scopes.
    fn scopes(&self) -> impl Future<Output = StoreResult<Vec<Scope>>> + Send;
    /// Adds a package.
    fn create_package(
        &self,
        package: &NewPackage,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<Package>> + Send;
    /// One package.
    fn package(&self, id: i64) -> impl Future<Output = StoreResult<Package>> + Send;
    /// All packages.
    fn packages(&self) -> impl Future<Output = StoreResult<Vec<Package>>> + Send;

    // Accounts and users.
    /// Adds an account (an enterprise member names its enterprise).
    fn create_account(
        &self,
        account: &NewAccount,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<Account>> + Send;
    /// One account.
    fn account(&self, id: i64) -> impl Future<Output = StoreResult<Account>> + Send;
    /// Member accounts of an enterprise.
    fn members(&self, enterprise_id: i64)
    -> impl Future<Output = StoreResult<Vec<Account>>> + Send;

    // Enterprise membership, by invitation and consent.
    /// Stores an invitation and queues its message in one step, if `limits` allow: `Conflict`
    /// ([`ConflictKind::AlreadyInvited`], [`ConflictKind::RecentlyDeclined`],
    /// [`ConflictKind::TooManyInvitations`]) if not, counted
    /// so that concurrent invitations of one enterprise cannot pass a limit together.
    fn create_invitation(
        &self,
        invitation: &NewInvitation,
        limits: &InvitationLimits,
        message: &NewNotification,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<Invitation>> + Send;
    /// One invitation.
    fn invitation(&self, id: i64) -> impl Future<Output = StoreResult<Invitation>> + Send;
    /// An enterprise's newest invitations, whatever their state.
    fn invitations_of(
        &self,
        enterprise_id: i64,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<Invitation>>> + Send;
    /// The pending, unexpired invitations of a phone (by its blind index).
    fn open_invitations(
        &self,
        phone_index: &[u8],
        now: i64,
    ) -> impl Future<Output = StoreResult<Vec<Invitation>>> + Send;
    /// The phone's open invitation whose code hash is `code_hash`; every call uses up one
    /// attempt of each open invitation of the phone, whether it matches or not.
    fn check_invitation_code(
        &self,
        phone_index: &[u8],
        code_hash: &[u8],
        now: i64,
    ) -> impl Future<Output = StoreResult<Option<Invitation>>> + Send;
    /// Answers a pending, unexpired invitation: accepting makes `account_id` (a customer account
    /// in no enterprise) a member. `Conflict` ([`ConflictKind::NotPending`],
    /// [`ConflictKind::NotJoinable`]) changes nothing.
    fn answer_invitation(
        &self,
        id: i64,
        account_id: Option<i64>,
        accept: bool,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Withdraws an enterprise's pending invitation; `NotFound` if it is not one.
    fn withdraw_invitation(
        &self,
        id: i64,
        enterprise_id: i64,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// A member account leaves its enterprise; `NotFound` if it is not a member of it.
    fn leave_enterprise(
        &self,
        account_id: i64,
        enterprise_id: i64,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Books an enterprise handed to other accounts (split orders, allocations from its own
    /// books) and their replacements for the same holder, newest first.
    fn allocated_books(
        &self,
        enterprise_id: i64,
    ) -> impl Future<Output = StoreResult<Vec<Book>>> + Send;
    /// Adds a user.
    fn create_user(
        &self,
        user: &NewUser,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<User>> + Send;
    /// One user.
    fn user(&self, id: UserId) -> impl Future<Output = StoreResult<User>> + Send;
    /// One user by login name.
    fn user_by_name(&self, username: &str) -> impl Future<Output = StoreResult<User>> + Send;
    /// Stores a new session.
    fn create_session(
        &self,
        session: &Session,
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// One session by its public id.
    fn session(&self, id: &str) -> impl Future<Output = StoreResult<Session>> + Send;
    /// Ends a session.
    fn delete_session(&self, id: &str) -> impl Future<Output = StoreResult<()>> + Send;
    /// Stores a user's new password hash and ends their sessions but `keep_session`, with the
    /// audit entry, in one transaction; `NotFound` for an unknown user.
    fn set_password(
        &self,
        user: UserId,
        password_hash: &str,
        keep_session: Option<&str>,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Records something that happened without a change of its own (e.g. a sign-in lock).
    fn record_audit(
        &self,
        audit: &AuditEntry,
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// One user by the blind index of their phone number.
    fn user_by_phone(&self, phone_index: &[u8]) -> impl Future<Output = StoreResult<User>> + Send;

    // Customers signing up.
    /// Stores a one-time code for a phone and queues its message, unless the phone's codes
    /// already reach one of `limits`; counting and storing are one atomic step, whatever runs
    /// at the same time. `false` when a limit refused it (nothing stored).
    fn create_phone_code(
        &self,
        code: &NewPhoneCode,
        limits: &[CodeLimit],
        now: i64,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Uses the phone's newest live code if `code_hash` matches it; every guess, right or
    /// wrong, takes one of the code's attempts first, atomically, so guesses sent at once are
    /// never checked more often than the code allows, and a code is used once.
    fn use_phone_code(
        &self,
        phone_index: &[u8],
        code_hash: &[u8],
        now: i64,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Registers a customer (account, user, sign-up record); `Conflict` if the phone is
    /// already registered.
    fn register_customer(
        &self,
        customer: &NewCustomer,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<User>> + Send {
        self.register_customer_with(customer, now, audit, |_, _| Welcome::default())
    }
    /// Registers a customer and, in the same transaction, what `welcome` makes for the new
    /// account and user (gift books signed for the account id); nothing is stored if any
    /// part fails.
    fn register_customer_with<F>(
        &self,
        customer: &NewCustomer,
        now: i64,
        audit: &AuditEntry,
        welcome: F,
    ) -> impl Future<Output = StoreResult<User>> + Send
    where
        F: FnOnce(i64, UserId) -> Welcome + Send;
    /// Earlier sign-ups from a browser.
    fn signups_from_browser(
        &self,
        browser_hash: &[u8],
    ) -> impl Future<Output = StoreResult<i64>> + Send;

    // Notifications.
    /// Queues messages (skipping already queued dedupe keys); returns how many were new.
    fn enqueue_notifications(
        &self,
        messages: &[NewNotification],
        now: i64,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Claims pending messages due at `now` (oldest first, up to `limit`) for the caller until
    /// `claimed_until` or until it records their delivery, so no other server delivers them
    /// meanwhile. In the same step, erases the secrets past their expiry and gives up on the
    /// pending messages that carried them.
    fn claim_notifications(
        &self,
        now: i64,
        claimed_until: i64,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<Notification>>> + Send;
    /// A user's messages, newest first.
    fn notifications_of(
        &self,
        user: UserId,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<Notification>>> + Send;
    /// Records a delivery attempt over `channel`: sent, or failed with a retry time, or dead
    /// without one. Ends the claim; a sent or dead message's secret is erased.
    fn record_delivery(
        &self,
        id: i64,
        channel: Channel,
        result: Result<(), &str>,
        retry_at: Option<i64>,
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Messages matching a filter, newest first.
    fn list_notifications(
        &self,
        filter: &NotificationFilter,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<Notification>>> + Send;
    /// Queues a failed message again, due now; `NotFound` for an unknown id, `Conflict`
    /// ([`ConflictKind::NotFailed`]) for one that did not fail, `Conflict`
    /// ([`ConflictKind::SecretGone`]) for one whose secret (a code) was erased or expired.
    fn resend_notification(
        &self,
        id: i64,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Binds a user's sealed WeChat openid or push token (`None` unbinds).
    fn bind_channel(
        &self,
        user: UserId,
        channel: Channel,
        address_sealed: Option<&[u8]>,
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The users of an account, with their sealed phone numbers and bound channels.
    fn recipients(
        &self,
        account_id: i64,
    ) -> impl Future<Output = StoreResult<Vec<Recipient>>> + Send;
    /// Where a background job has read up to.
    fn job_cursor(&self, name: &str) -> impl Future<Output = StoreResult<i64>> + Send;
    /// Moves a job's cursor forward.
    fn advance_job_cursor(
        &self,
        name: &str,
        position: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Books after status sequence `after` whose counted units differ from what their holder
    /// was told, and the last sequence read.
    fn usage_changes(
        &self,
        after: i64,
        limit: u32,
    ) -> impl Future<Output = StoreResult<(Vec<UsageChange>, Option<i64>)>> + Send;
    /// Queues the messages about a usage change, credits the points it earned and records it
    /// as told, in one transaction.
    fn notify_usage(
        &self,
        change: &UsageChange,
        messages: &[NewNotification],
        points: i64,
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Active books that expire before `before` with units left, and were issued before `now`.
    fn books_expiring(
        &self,
        now: i64,
        before: i64,
    ) -> impl Future<Output = StoreResult<Vec<Book>>> + Send;

    // Points, gifts and feedback.
    /// An account's points.
    fn points_balance(&self, account_id: i64) -> impl Future<Output = StoreResult<i64>> + Send;
    /// An account's newest point changes.
    fn points_history(
        &self,
        account_id: i64,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<PointsEntry>>> + Send;
    /// Adds a gift to the catalogue.
    fn create_gift(
        &self,
        name: &str,
        points: i64,
        stock: i64,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<Gift>> + Send;
    /// The gift catalogue.
    fn gifts(&self) -> impl Future<Output = StoreResult<Vec<Gift>>> + Send;
    /// Spends an account's points on a gift; `Conflict` if the points or the stock run short.
    fn order_gift(
        &self,
        account_id: i64,
        user: UserId,
        gift_id: i64,
        now: i64,
    ) -> impl Future<Output = StoreResult<i64>> + Send;
    /// Stores customer feedback.
    fn create_feedback(
        &self,
        feedback: &NewFeedback,
        now: i64,
    ) -> impl Future<Output = StoreResult<i64>> + Send;
    /// A user's feedback, newest first.
    fn feedback_of(&self, user: UserId) -> impl Future<Output = StoreResult<Vec<Feedback>>> + Send;
    /// The support desk's feedback inbox.
    fn feedback_inbox(
        &self,
        open_only: bool,
    ) -> impl Future<Output = StoreResult<Vec<Feedback>>> + Send;

    // Issuance.
    /// Reserves `count` fresh book ids; ids are never handed out twice, even if unused.
    fn allocate_book_ids(&self, count: u32)
    -> impl Future<Output = StoreResult<Range<u64>>> + Send;
    /// Records an order with its signed books (ids from [`Store::allocate_book_ids`]).
    fn record_order(
        &self,
        order: &NewOrder,
        books: &[NewBook],
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<i64>> + Send;
    /// Stores books issued outside an order (gifts, reissues).
    fn record_books(
        &self,
        books: &[NewBook],
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// One book.
    fn book(&self, id: BookId) -> impl Future<Output = StoreResult<Book>> + Send;
    /// A book's ledger and every device event about it.
    fn book_history(&self, id: BookId) -> impl Future<Output = StoreResult<BookHistory>> + Send;
    /// Books owned by an account, newest first.
    fn books_of_account(
        &self,
        account_id: i64,
    ) -> impl Future<Output = StoreResult<Vec<Book>>> + Send;
    /// Active (not revoked) books signed by a key.
    fn live_books_of_key(
        &self,
        kid: [u8; 4],
    ) -> impl Future<Output = StoreResult<Vec<Book>>> + Send;
    /// Revokes a book; `Conflict` if it is already revoked.
    fn revoke_book(
        &self,
        id: BookId,
        reason: &str,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<Book>> + Send;
    /// Revokes `old` and stores its replacements (each naming `old` in `replaces`: a reissue, or
    /// the parts of a split) in one transaction; `Conflict` if `old` is already revoked or the
    /// replacements hold more units than it has left at that moment.
    fn replace_book(
        &self,
        old: BookId,
        replacements: &[NewBook],
        reason: &str,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<Vec<Book>>> + Send;

    // Keys.
    /// Stores a key; an active key takes its purpose's place as `install` says.
    fn insert_signing_key(
        &self,
        key: &SigningKeyRow,
        install: KeyInstall,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// All keys, oldest first.
    fn signing_keys(&self) -> impl Future<Output = StoreResult<Vec<SigningKeyRow>>> + Send;
    /// Marks a key compromised from `since`.
    fn mark_key_compromised(
        &self,
        kid: [u8; 4],
        since: u32,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Stores a signed keyring bundle; `Conflict` unless `version` is the highest.
    fn insert_keyring_bundle(
        &self,
        version: u64,
        bundle: &[u8],
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The newest keyring bundle.
    fn latest_keyring_bundle(
        &self,
    ) -> impl Future<Output = StoreResult<Option<(u64, Vec<u8>)>>> + Send;

    // Devices.
    /// Stores an enrollment code hash.
    fn create_enrollment_code(
        &self,
        code: &NewEnrollmentCode,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Uses a code once and enrolls a device; `NotFound` if the code is unknown, used or
    /// expired, or its user has been disabled since it was made.
    fn enroll_device(
        &self,
        code_hash: &[u8],
        device: &NewDevice,
        now: i64,
    ) -> impl Future<Output = StoreResult<Device>> + Send;
    /// One device.
    fn device(&self, id: DeviceId) -> impl Future<Output = StoreResult<Device>> + Send;
    /// All devices.
    fn devices(&self) -> impl Future<Output = StoreResult<Vec<Device>>> + Send;
    /// Disables a device: its token stops working.
    fn disable_device(
        &self,
        id: DeviceId,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    // Sync.
    /// Stores a pushed batch of `device`'s events as `sync::classify` decides: one result per
    /// event, in order; never all-or-nothing. `signature_ok[i]` says whether `events[i]` carries
    /// the device's signature (checked by the caller, outside the write transaction).
    /// Redemptions are checked against their books' terms and `served`, the scopes the device's
    /// user serves; what breaks them is stored and queued for review.
    fn push_events(
        &self,
        device: &Device,
        events: &[SignedEvent],
        signature_ok: &[bool],
        served: &[ScopeId],
        now: i64,
    ) -> impl Future<Output = StoreResult<Vec<PushResult>>> + Send;
    /// Book statuses changed after `cursor`, in sequence (= commit) order.
    fn pull_statuses(
        &self,
        cursor: u64,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<StatusRow>>> + Send;
    /// The revoked and used-up books and the status sequence they reflect, read in one
    /// statement so the two agree: a device that loads them pulls rows after that sequence.
    fn status_sets(&self) -> impl Future<Output = StoreResult<(u64, StatusSets)>> + Send;
    /// Where the stored chain of a device ends.
    fn chain_tip(&self, device: DeviceId) -> impl Future<Output = StoreResult<ChainTip>> + Send;
    /// The review queue; `open_only` leaves out resolved items.
    fn review_queue(
        &self,
        open_only: bool,
    ) -> impl Future<Output = StoreResult<Vec<ReviewItem>>> + Send;
    /// Resolves a review item with a resolution event `resolution_id`; returns the book's new
    /// status, or none for an item about no book.
    #[allow(clippy::too_many_arguments)]
    fn resolve_review(
        &self,
        target: EventId,
        resolution_id: EventId,
        action: ResolutionAction,
        operator: UserId,
        note: &str,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<Option<StatusRow>>> + Send;

    // Audit.
    /// Totals for reports.
    fn summary(&self) -> impl Future<Output = StoreResult<Summary>> + Send;
    /// The newest `limit` audit entries.
    fn audit_log(&self, limit: u32) -> impl Future<Output = StoreResult<Vec<AuditRecord>>> + Send;
    /// One page of the audit log, filtered by text, with keyset bounds.
    fn audit_page(&self, query: &AuditQuery)
    -> impl Future<Output = StoreResult<AuditPage>> + Send;

    // Reports and admin.
    /// Device events and books of `[from, to)` counted per `bucket` by SQL aggregation, with
    /// who recorded the events and where: what statistics are computed from.
    fn report_data(
        &self,
        from: i64,
        to: i64,
        bucket: Bucket,
    ) -> impl Future<Output = StoreResult<ReportData>> + Send;
    /// Uploads per device (last upload time, events uploaded) and their last sync reports.
    fn device_activity(&self) -> impl Future<Output = StoreResult<Vec<DeviceActivity>>> + Send;
    /// Records a device's sync report: events it still holds, its previous sync error.
    fn report_device_sync(
        &self,
        device: DeviceId,
        pending_events: i64,
        last_sync_error: Option<&str>,
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Support search: the book `id`, or books whose QR text is `text`, whose account name
    /// contains `text` or whose holder (or holder's enterprise) signs in as `text`; newest first.
    fn search_books(
        &self,
        id: Option<BookId>,
        text: &str,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<Book>>> + Send;
    /// Every account.
    fn accounts(&self) -> impl Future<Output = StoreResult<Vec<Account>>> + Send;
    /// Every user.
    fn users(&self) -> impl Future<Output = StoreResult<Vec<User>>> + Send;
    /// New customers each courier or clerk guided (signed up with their staff code) in
    /// `[from, to)`.
    fn guided_customers(
        &self,
        from: i64,
        to: i64,
    ) -> impl Future<Output = StoreResult<Vec<(UserId, i64)>>> + Send;
    /// Sets a support ticket's state (`open`, `in_progress`, `closed`) and assignee;
    /// `NotFound` if there is no such feedback.
    fn update_feedback(
        &self,
        id: i64,
        state: &str,
        assignee: Option<UserId>,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Notifications queued since `since` that were given up on (every delivery attempt failed).
    fn dead_notifications(&self, since: i64) -> impl Future<Output = StoreResult<i64>> + Send;
    /// Sets a user's role and whether they are disabled. Disabling ends their sessions and
    /// disables their devices, each with its own `device.disable` audit entry by the same actor,
    /// in the same transaction; enabling the user again leaves the devices disabled.
    fn update_user(
        &self,
        id: UserId,
        role: Role,
        disabled: bool,
        now: i64,
        audit: &AuditEntry,
    ) -> impl Future<Output = StoreResult<User>> + Send;
}

//! Storage: the [`Store`], its error, and the table modules behind it.
//!
//! `Store` is a concrete struct, not a trait: there is one implementation, over sqlx `Any` for
//! both SQLite and PostgreSQL, and no test double. A trait only lengthened compile times and
//! every handler's and domain function's signature with an `S: Store` bound.
//!
//! Layout: `sql.rs` holds `Store` itself (connect, ping, backup) and the public methods for
//! tickets, accounts and the rest; `deliveries.rs` holds those for the plant's day (addresses,
//! slot hours, orders of water, recurring orders, dispatch, the delivery feed and buckets). Each method
//! is a few lines that open a connection or a write transaction, call table functions in it,
//! write the audit entry and commit. The SQL lives in table modules named after what they hold
//! (`catalogue`, `users`, `books`, `keys`, `devices`, `customers`, `enterprise`, `events`,
//! `ledger`, `outbox`, `rewards`, `feedback`, `reports`, `audit`, `addresses`,
//! `delivery_orders`, `delivery_slots`, `recurring_orders`, `dispatch`, `closing`, `buckets`), as
//! functions over one `AnyConnection` that run inside whatever transaction the method opened. The
//! methods are grouped by area in these two frame files, not in an `impl Store` per table, because a
//! method's transaction often spans tables (a registration writes users, books and the outbox;
//! an assignment writes orders, the feed and the outbox): a frame file shows every transaction
//! boundary and the public surface of its area at once. Table modules may use `tx`
//! (transaction start, audit entries, locks), `rows`, `models`, `backend` and each other, never
//! `sql` nor `Store`; `tx` uses no table module.
//!
//! **Architecture Invariant:** the server keeps no state outside the store, so several server
//! instances can share one PostgreSQL database. Methods are domain-level (no generic SQL leaks
//! out), take the time as a parameter, and write an admin action and its audit entry in one
//! transaction.

pub mod addresses;
pub mod audit;
mod backend;
mod batch;
mod books;
pub mod buckets;
mod catalogue;
mod closing;
mod customers;
mod deliveries;
pub mod delivery_orders;
pub mod delivery_slots;
mod devices;
pub mod directory;
pub mod dispatch;
mod enterprise;
mod events;
mod feedback;
mod keys;
mod ledger;
pub mod models;
mod outbox;
pub mod recurring_orders;
pub mod reports;
mod rewards;
mod rows;
mod sql;
mod tx;
mod users;

pub use outbox::SECRET_EXPIRED;
pub use sql::Store;

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
    /// The order of water changed (state, courier, or the courier's standing) since it was read.
    #[error("the order changed")]
    OrderChanged,
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

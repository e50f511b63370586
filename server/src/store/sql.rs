//! [`Store`]'s methods, written once in SQL that SQLite and PostgreSQL both accept
//! (`$n` parameters, `RETURNING`, `ON CONFLICT`), over sqlx's `Any` driver.
//! Only connection setup, migrations and transaction start differ (see `backend.rs`).

use std::ops::Range;
use std::sync::Arc;

use shuipiao_shared::event::{ChainTip, SignedEvent};
use shuipiao_shared::ids::{BookId, DeviceId, EventId, ProductCode, ScopeId, UserId};
use shuipiao_shared::ledger::ResolutionAction;
use shuipiao_shared::status::{StatusRow, StatusSets};
use shuipiao_shared::sync::PushResult;
use sqlx::AnyConnection;
use sqlx::AnyPool;
use sqlx::any::AnyRow;
use tokio::sync::Mutex;

use crate::config::{Backend, DatabaseUrl};
use crate::store::audit::{self, AuditPage, AuditQuery};
use crate::store::models::*;
use crate::store::reports::{self, Bucket, DeviceActivity, ReportData};
use crate::store::{
    ConflictKind, StoreError, StoreResult, backend, customers, enterprise, events, feedback,
    ledger, outbox, rewards, rows, tx,
};
use tx::{insert_audit, lock_status_clock};

/// The SQL store for both backends.
#[derive(Clone, Debug)]
pub struct Store {
    pub(super) pool: AnyPool,
    pub(super) backend: Backend,
    /// SQLite only: this process's writers queue here for the database's single write lock.
    /// Waiting inside SQLite means sleeping and polling (1, 2, 5, 10 … ms), so concurrent pushes
    /// left the lock idle between writers; a queue hands it over at once.
    pub(super) write_gate: Option<Arc<Mutex<()>>>,
}

/// Selects books (`b`) with the package of their order; callers append `WHERE …`.
pub(super) const SELECT_BOOKS: &str = "SELECT b.id, b.order_id, b.account_id, b.product_code, b.units, \
    b.scope_id, b.valid_from, b.valid_until, b.kid, b.qr_text, b.source, b.replaces_book_id, \
    b.used_units, b.state, b.revoked_at, b.revoke_reason, b.last_used_at, b.status_seq, \
    o.package_id FROM books b LEFT JOIN orders o ON o.id = b.order_id";

/// Disables every enabled device of `user`, each with a `device.disable` audit entry by
/// `actor`: a disabled courier's phone must stop pushing, not only their sign-in.
async fn disable_devices_of(
    conn: &mut AnyConnection,
    user: UserId,
    actor: Option<UserId>,
    now: i64,
) -> StoreResult<()> {
    let disabled: Vec<i64> = sqlx::query_scalar(
        "UPDATE devices SET disabled_at = $1 WHERE user_id = $2 AND disabled_at IS NULL \
         RETURNING id",
    )
    .bind(now)
    .bind(user.0 as i64)
    .fetch_all(&mut *conn)
    .await?;
    for device in disabled {
        let audit = AuditEntry::new(
            actor,
            "device.disable",
            format!("device:{device}"),
            serde_json::json!({ "user_disabled": user.0 }),
        );
        insert_audit(conn, &audit, now).await?;
    }
    Ok(())
}

async fn insert_book(
    conn: &mut AnyConnection,
    book: &NewBook,
    order_id: Option<i64>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO books (id, order_id, account_id, product_code, units, scope_id, valid_from, \
         valid_until, kid, qr_text, source, replaces_book_id, used_units, state, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, 'active', $13)",
    )
    .bind(book.id.0 as i64)
    .bind(order_id)
    .bind(book.account_id)
    .bind(i64::from(book.product.0))
    .bind(i64::from(book.units))
    .bind(i64::from(book.scope.0))
    .bind(i64::from(book.valid_from))
    .bind(i64::from(book.valid_until))
    .bind(rows::kid_bytes(&book.kid_hex)?.to_vec())
    .bind(&book.qr_text)
    .bind(&book.source)
    .bind(book.replaces.map(|id| id.0 as i64))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

async fn fetch_book(conn: &mut AnyConnection, id: BookId) -> StoreResult<Book> {
    let row: AnyRow = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT_BOOKS} WHERE b.id = $1"
    )))
    .bind(id.0 as i64)
    .fetch_one(conn)
    .await?;
    rows::book(&row)
}

async fn revoke_in(
    conn: &mut AnyConnection,
    id: BookId,
    reason: &str,
    now: i64,
) -> StoreResult<()> {
    lock_status_clock(conn).await?;
    let changed = sqlx::query(
        "UPDATE books SET state = 'revoked', revoked_at = $1, revoke_reason = $2 \
         WHERE id = $3 AND state <> 'revoked'",
    )
    .bind(now)
    .bind(reason)
    .bind(id.0 as i64)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if changed == 0 {
        fetch_book(conn, id).await?;
        return Err(StoreError::Conflict(ConflictKind::AlreadyRevoked));
    }
    ledger::recompute_books(conn, &[id], now).await?;
    Ok(())
}

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the database at `url`.
    pub async fn connect(url: &DatabaseUrl) -> StoreResult<Store> {
        let (pool, backend) = backend::open(url).await?;
        reports::decode_old_events(&pool, backend::begin_write_statement(backend)).await?;
        let write_gate = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        Ok(Store {
            pool,
            backend,
            write_gate,
        })
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Copies a SQLite database to `path` while it is in use (`VACUUM INTO`).
    pub async fn backup_to(&self, path: &str) -> StoreResult<()> {
        match self.backend {
            Backend::Sqlite => backend::vacuum_into(&self.pool, path).await,
            // PostgreSQL is copied with pg_dump (see the runbook).
            Backend::Postgres => Err(StoreError::Conflict(ConflictKind::BackupUnsupported)),
        }
    }

    // Catalogue.
    /// Adds a product.
    pub async fn create_product(
        &self,
        product: &Product,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO products (code, name, volume_ml) VALUES ($1, $2, $3)")
            .bind(i64::from(product.code.0))
            .bind(&product.name)
            .bind(i64::from(product.volume_ml))
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// All products by code.
    pub async fn products(&self) -> StoreResult<Vec<Product>> {
        let found = sqlx::query("SELECT code, name, volume_ml FROM products ORDER BY code")
            .fetch_all(&self.pool)
            .await?;
        found.iter().map(rows::product).collect()
    }

    /// One product.
    pub async fn product(&self, code: ProductCode) -> StoreResult<Product> {
        let row = sqlx::query("SELECT code, name, volume_ml FROM products WHERE code = $1")
            .bind(i64::from(code.0))
            .fetch_one(&self.pool)
            .await?;
        rows::product(&row)
    }

    /// Adds a region.
    pub async fn create_region(
        &self,
        name: &str,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<Region> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("INSERT INTO regions (name) VALUES ($1) RETURNING id, name")
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        rows::region(&row)
    }

    /// All regions.
    pub async fn regions(&self) -> StoreResult<Vec<Region>> {
        let found = sqlx::query("SELECT id, name FROM regions ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        found.iter().map(rows::region).collect()
    }

    /// Adds a store in a region.
    pub async fn create_outlet(
        &self,
        region_id: i64,
        name: &str,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<Outlet> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO outlets (region_id, name) VALUES ($1, $2) RETURNING id, region_id, name",
        )
        .bind(region_id)
        .bind(name)
        .fetch_one(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        rows::outlet(&row)
    }

    /// All stores.
    pub async fn outlets(&self) -> StoreResult<Vec<Outlet>> {
        let found = sqlx::query("SELECT id, region_id, name FROM outlets ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        found.iter().map(rows::outlet).collect()
    }

    /// Adds a scope.
    pub async fn create_scope(
        &self,
        scope: &NewScope,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<Scope> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar("INSERT INTO scopes (name) VALUES ($1) RETURNING id")
            .bind(&scope.name)
            .fetch_one(&mut *tx)
            .await?;
        for region_id in &scope.region_ids {
            sqlx::query("INSERT INTO scope_regions (scope_id, region_id) VALUES ($1, $2)")
                .bind(id)
                .bind(region_id)
                .execute(&mut *tx)
                .await?;
        }
        for outlet_id in &scope.outlet_ids {
            sqlx::query("INSERT INTO scope_outlets (scope_id, outlet_id) VALUES ($1, $2)")
                .bind(id)
                .bind(outlet_id)
                .execute(&mut *tx)
                .await?;
        }
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(Scope {
            id: shuipiao_shared::ids::ScopeId(
                u32::try_from(id).map_err(|_| rows::corrupt("scopes.id"))?,
            ),
            name: scope.name.clone(),
            region_ids: scope.region_ids.clone(),
            outlet_ids: scope.outlet_ids.clone(),
        })
    }

    /// All scopes.
    pub async fn scopes(&self) -> StoreResult<Vec<Scope>> {
        // Three statements whatever the number of scopes: every push reads them (the scopes a
        // device serves), so no statement per scope.
        let mut conn = self.pool.acquire().await?;
        let found: Vec<(i64, String)> = sqlx::query_as("SELECT id, name FROM scopes ORDER BY id")
            .fetch_all(&mut *conn)
            .await?;
        let members = |sql| sqlx::query_as::<_, (i64, i64)>(sql);
        let regions = members("SELECT scope_id, region_id FROM scope_regions ORDER BY 1, 2")
            .fetch_all(&mut *conn)
            .await?;
        let outlets = members("SELECT scope_id, outlet_id FROM scope_outlets ORDER BY 1, 2")
            .fetch_all(&mut *conn)
            .await?;
        let of = |pairs: &[(i64, i64)], scope: i64| -> Vec<i64> {
            pairs
                .iter()
                .filter(|(id, _)| *id == scope)
                .map(|(_, member)| *member)
                .collect()
        };
        found
            .into_iter()
            .map(|(id, name)| {
                Ok(Scope {
                    id: shuipiao_shared::ids::ScopeId(
                        u32::try_from(id).map_err(|_| rows::corrupt("scopes.id"))?,
                    ),
                    name,
                    region_ids: of(&regions, id),
                    outlet_ids: of(&outlets, id),
                })
            })
            .collect()
    }

    /// Adds a package.
    pub async fn create_package(
        &self,
        package: &NewPackage,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<Package> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO packages (name, price_fen, paid_units, bonus_units, validity_days, \
             product_code, scope_id, holder_bound) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             RETURNING id",
        )
        .bind(&package.name)
        .bind(package.price_fen)
        .bind(i64::from(package.paid_units))
        .bind(i64::from(package.bonus_units))
        .bind(i64::from(package.validity_days))
        .bind(i64::from(package.product.0))
        .bind(i64::from(package.scope.0))
        .bind(i64::from(package.holder_bound))
        .fetch_one(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(Package {
            id,
            spec: package.clone(),
        })
    }

    /// One package.
    pub async fn package(&self, id: i64) -> StoreResult<Package> {
        let row = sqlx::query("SELECT * FROM packages WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        rows::package(&row)
    }

    /// All packages.
    pub async fn packages(&self) -> StoreResult<Vec<Package>> {
        let found = sqlx::query("SELECT * FROM packages ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        found.iter().map(rows::package).collect()
    }

    // Accounts and users.
    /// Adds an account (an enterprise member names its enterprise).
    pub async fn create_account(
        &self,
        account: &NewAccount,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<Account> {
        let mut tx = self.begin_write().await?;
        if let Some(enterprise_id) = account.enterprise_id {
            let kind: String = sqlx::query_scalar("SELECT kind FROM accounts WHERE id = $1")
                .bind(enterprise_id)
                .fetch_one(&mut *tx)
                .await?;
            if kind != AccountKind::Enterprise.as_str() {
                return Err(StoreError::Conflict(ConflictKind::NotEnterprise));
            }
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO accounts (kind, name, enterprise_id, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(account.kind.as_str())
        .bind(&account.name)
        .bind(account.enterprise_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(Account {
            id,
            spec: account.clone(),
        })
    }

    /// One account.
    pub async fn account(&self, id: i64) -> StoreResult<Account> {
        let row = sqlx::query("SELECT id, kind, name, enterprise_id FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        rows::account(&row)
    }

    /// Member accounts of an enterprise.
    pub async fn members(&self, enterprise_id: i64) -> StoreResult<Vec<Account>> {
        let found = sqlx::query(
            "SELECT id, kind, name, enterprise_id FROM accounts WHERE enterprise_id = $1 ORDER BY id",
        )
        .bind(enterprise_id)
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(rows::account).collect()
    }

    // Enterprise membership, by invitation and consent.
    /// Stores an invitation and queues its message in one step, if `limits` allow: `Conflict`
    /// ([`ConflictKind::AlreadyInvited`], [`ConflictKind::RecentlyDeclined`],
    /// [`ConflictKind::TooManyInvitations`]) if not, counted
    /// so that concurrent invitations of one enterprise cannot pass a limit together.
    pub async fn create_invitation(
        &self,
        invitation: &NewInvitation,
        limits: &InvitationLimits,
        message: &NewNotification,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<Invitation> {
        let mut tx = self.begin_write().await?;
        let id = enterprise::create(&mut tx, invitation, limits, now).await?;
        outbox::enqueue(&mut tx, std::slice::from_ref(message), now).await?;
        insert_audit(&mut tx, audit, now).await?;
        let stored = enterprise::fetch(&mut tx, id).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// One invitation.
    pub async fn invitation(&self, id: i64) -> StoreResult<Invitation> {
        let mut conn = self.pool.acquire().await?;
        enterprise::fetch(&mut conn, id).await
    }

    /// An enterprise's newest invitations, whatever their state.
    pub async fn invitations_of(
        &self,
        enterprise_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<Invitation>> {
        let mut conn = self.pool.acquire().await?;
        enterprise::of_enterprise(&mut conn, enterprise_id, limit).await
    }

    /// The pending, unexpired invitations of a phone (by its blind index).
    pub async fn open_invitations(
        &self,
        phone_index: &[u8],
        now: i64,
    ) -> StoreResult<Vec<Invitation>> {
        let mut conn = self.pool.acquire().await?;
        enterprise::open_for_phone(&mut conn, phone_index, now).await
    }

    /// The phone's open invitation whose code hash is `code_hash`; every call uses up one
    /// attempt of each open invitation of the phone, whether it matches or not.
    pub async fn check_invitation_code(
        &self,
        phone_index: &[u8],
        code_hash: &[u8],
        now: i64,
    ) -> StoreResult<Option<Invitation>> {
        let mut tx = self.begin_write().await?;
        let matched = enterprise::check_code(&mut tx, phone_index, code_hash, now).await?;
        tx.commit().await?;
        Ok(matched)
    }

    /// Answers a pending, unexpired invitation: accepting makes `account_id` (a customer account
    /// in no enterprise) a member. `Conflict` ([`ConflictKind::NotPending`],
    /// [`ConflictKind::NotJoinable`]) changes nothing.
    pub async fn answer_invitation(
        &self,
        id: i64,
        account_id: Option<i64>,
        accept: bool,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        enterprise::answer(&mut tx, id, account_id, accept, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await
    }

    /// Withdraws an enterprise's pending invitation; `NotFound` if it is not one.
    pub async fn withdraw_invitation(
        &self,
        id: i64,
        enterprise_id: i64,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        enterprise::withdraw(&mut tx, id, enterprise_id, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await
    }

    /// A member account leaves its enterprise; `NotFound` if it is not a member of it.
    pub async fn leave_enterprise(
        &self,
        account_id: i64,
        enterprise_id: i64,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        enterprise::leave(&mut tx, account_id, enterprise_id, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await
    }

    /// Books an enterprise handed to other accounts (split orders, allocations from its own
    /// books) and their replacements for the same holder, newest first.
    pub async fn allocated_books(&self, enterprise_id: i64) -> StoreResult<Vec<Book>> {
        let mut conn = self.pool.acquire().await?;
        enterprise::allocated_books(&mut conn, enterprise_id).await
    }

    /// Adds a user.
    pub async fn create_user(
        &self,
        user: &NewUser,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<User> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, password_hash, role, account_id, region_id, outlet_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .bind(user.account_id)
        .bind(user.region_id)
        .bind(user.outlet_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(User {
            id: UserId(id as u64),
            spec: user.clone(),
            disabled_at: None,
            phone_sealed: None,
        })
    }

    /// One user.
    pub async fn user(&self, id: UserId) -> StoreResult<User> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id.0 as i64)
            .fetch_one(&self.pool)
            .await?;
        rows::user(&row)
    }

    /// One user by login name.
    pub async fn user_by_name(&self, username: &str) -> StoreResult<User> {
        let row = sqlx::query("SELECT * FROM users WHERE username = $1")
            .bind(username)
            .fetch_one(&self.pool)
            .await?;
        rows::user(&row)
    }

    /// One user by the blind index of their phone number.
    pub async fn user_by_phone(&self, phone_index: &[u8]) -> StoreResult<User> {
        let row = sqlx::query("SELECT * FROM users WHERE phone_index = $1")
            .bind(phone_index.to_vec())
            .fetch_one(&self.pool)
            .await?;
        rows::user(&row)
    }

    // Customers signing up.
    /// Stores a one-time code for a phone and queues its message, unless the phone's codes
    /// already reach one of `limits`; counting and storing are one atomic step, whatever runs
    /// at the same time. `false` when a limit refused it (nothing stored).
    pub async fn create_phone_code(
        &self,
        code: &NewPhoneCode,
        limits: &[CodeLimit],
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let created = customers::insert_code(&mut tx, code, limits, now).await?;
        if created {
            outbox::enqueue(&mut tx, std::slice::from_ref(&code.message), now).await?;
        }
        tx.commit().await?;
        Ok(created)
    }

    /// Uses the phone's newest live code if `code_hash` matches it; every guess, right or
    /// wrong, takes one of the code's attempts first, atomically, so guesses sent at once are
    /// never checked more often than the code allows, and a code is used once.
    pub async fn use_phone_code(
        &self,
        phone_index: &[u8],
        code_hash: &[u8],
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let used = customers::use_code(&mut tx, phone_index, code_hash, now).await?;
        tx.commit().await?;
        Ok(used)
    }

    /// Registers a customer (account, user, sign-up record); `Conflict` if the phone is
    /// already registered.
    pub async fn register_customer(
        &self,
        customer: &NewCustomer,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<User> {
        self.register_customer_with(customer, now, audit, |_, _| Welcome::default())
            .await
    }

    /// Registers a customer and, in the same transaction, what `welcome` makes for the new
    /// account and user (gift books signed for the account id); nothing is stored if any
    /// part fails.
    pub async fn register_customer_with<F>(
        &self,
        customer: &NewCustomer,
        now: i64,
        audit: &AuditEntry,
        welcome: F,
    ) -> StoreResult<User>
    where
        F: FnOnce(i64, UserId) -> Welcome + Send,
    {
        let mut tx = self.begin_write().await?;
        let id = customers::register(&mut tx, customer, now, audit).await?;
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id.0 as i64)
            .fetch_one(&mut *tx)
            .await?;
        let user = rows::user(&row)?;
        let account_id = user
            .spec
            .account_id
            .ok_or_else(|| rows::corrupt("users.account_id"))?;
        let extras = welcome(account_id, id);
        for book in &extras.books {
            insert_book(&mut tx, book, None, now).await?;
        }
        for entry in &extras.audits {
            insert_audit(&mut tx, entry, now).await?;
        }
        outbox::enqueue(&mut tx, &extras.messages, now).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Earlier sign-ups from a browser.
    pub async fn signups_from_browser(&self, browser_hash: &[u8]) -> StoreResult<i64> {
        let mut conn = self.pool.acquire().await?;
        customers::signups_from_browser(&mut conn, browser_hash).await
    }

    // Notifications.
    /// Queues messages (skipping already queued dedupe keys); returns how many were new.
    pub async fn enqueue_notifications(
        &self,
        messages: &[NewNotification],
        now: i64,
    ) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let added = outbox::enqueue(&mut tx, messages, now).await?;
        tx.commit().await?;
        Ok(added)
    }

    /// Claims pending messages due at `now` (oldest first, up to `limit`) for the caller until
    /// `claimed_until` or until it records their delivery, so no other server delivers them
    /// meanwhile. In the same step, erases the secrets past their expiry and gives up on the
    /// pending messages that carried them.
    pub async fn claim_notifications(
        &self,
        now: i64,
        claimed_until: i64,
        limit: u32,
    ) -> StoreResult<Vec<Notification>> {
        let mut tx = self.begin_write().await?;
        let claimed = outbox::claim(&mut tx, now, claimed_until, limit).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// A user's messages, newest first.
    pub async fn notifications_of(
        &self,
        user: UserId,
        limit: u32,
    ) -> StoreResult<Vec<Notification>> {
        let filter = NotificationFilter {
            user_id: Some(user),
            ..NotificationFilter::default()
        };
        self.list_notifications(&filter, limit).await
    }

    /// Records a delivery attempt over `channel`: sent, or failed with a retry time, or dead
    /// without one. Ends the claim; a sent or dead message's secret is erased.
    pub async fn record_delivery(
        &self,
        id: i64,
        channel: Channel,
        result: Result<(), &str>,
        retry_at: Option<i64>,
        now: i64,
    ) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        outbox::record_attempt(&mut conn, id, channel, result, retry_at, now).await
    }

    /// Messages matching a filter, newest first.
    pub async fn list_notifications(
        &self,
        filter: &NotificationFilter,
        limit: u32,
    ) -> StoreResult<Vec<Notification>> {
        let mut conn = self.pool.acquire().await?;
        outbox::list(&mut conn, filter, limit).await
    }

    /// Queues a failed message again, due now; `NotFound` for an unknown id, `Conflict`
    /// ([`ConflictKind::NotFailed`]) for one that did not fail, `Conflict`
    /// ([`ConflictKind::SecretGone`]) for one whose secret (a code) was erased or expired.
    pub async fn resend_notification(
        &self,
        id: i64,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        outbox::resend(&mut tx, id, now, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Binds a user's sealed WeChat openid or push token (`None` unbinds).
    pub async fn bind_channel(
        &self,
        user: UserId,
        channel: Channel,
        address_sealed: Option<&[u8]>,
        now: i64,
    ) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        outbox::bind_channel(&mut conn, user, channel, address_sealed, now).await
    }

    /// The users of an account, with their sealed phone numbers and bound channels.
    pub async fn recipients(&self, account_id: i64) -> StoreResult<Vec<Recipient>> {
        let mut conn = self.pool.acquire().await?;
        outbox::recipients(&mut conn, account_id).await
    }

    /// Where a background job has read up to.
    pub async fn job_cursor(&self, name: &str) -> StoreResult<i64> {
        let mut conn = self.pool.acquire().await?;
        outbox::cursor(&mut conn, name).await
    }

    /// Moves a job's cursor forward.
    pub async fn advance_job_cursor(&self, name: &str, position: i64) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        outbox::advance_cursor(&mut conn, name, position).await
    }

    /// Books after status sequence `after` whose counted units differ from what their holder
    /// was told, and the last sequence read.
    pub async fn usage_changes(
        &self,
        after: i64,
        limit: u32,
    ) -> StoreResult<(Vec<UsageChange>, Option<i64>)> {
        let mut conn = self.pool.acquire().await?;
        outbox::usage_changes(&mut conn, after, limit).await
    }

    /// Queues the messages about a usage change, credits the points it earned and records it
    /// as told, in one transaction.
    pub async fn notify_usage(
        &self,
        change: &UsageChange,
        messages: &[NewNotification],
        points: i64,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        outbox::enqueue(&mut tx, messages, now).await?;
        if points != 0 {
            let reference = format!("usage:{}:{}", change.book_id.0, change.status_seq);
            rewards::credit(
                &mut tx,
                change.account_id,
                points,
                "redeemed",
                &reference,
                now,
            )
            .await?;
        }
        outbox::mark_notified(&mut tx, change.book_id, change.used_units).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Active books that expire before `before` with units left, and were issued before `now`.
    pub async fn books_expiring(&self, now: i64, before: i64) -> StoreResult<Vec<Book>> {
        let found = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_BOOKS} WHERE b.state = 'active' AND b.valid_until > $1 AND b.valid_until <= $2 \
             AND b.used_units < b.units ORDER BY b.valid_until, b.id"
        )))
        .bind(now)
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(rows::book).collect()
    }

    // Points, gifts and feedback.
    /// An account's points.
    pub async fn points_balance(&self, account_id: i64) -> StoreResult<i64> {
        let mut conn = self.pool.acquire().await?;
        rewards::balance(&mut conn, account_id).await
    }

    /// An account's newest point changes.
    pub async fn points_history(
        &self,
        account_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<PointsEntry>> {
        let mut conn = self.pool.acquire().await?;
        rewards::history(&mut conn, account_id, limit).await
    }

    /// Adds a gift to the catalogue.
    pub async fn create_gift(
        &self,
        name: &str,
        points: i64,
        stock: i64,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<Gift> {
        let mut tx = self.begin_write().await?;
        let gift = rewards::create_gift(&mut tx, name, points, stock, now, audit).await?;
        tx.commit().await?;
        Ok(gift)
    }

    /// The gift catalogue.
    pub async fn gifts(&self) -> StoreResult<Vec<Gift>> {
        let mut conn = self.pool.acquire().await?;
        rewards::gifts(&mut conn).await
    }

    /// Spends an account's points on a gift; `Conflict` if the points or the stock run short.
    pub async fn order_gift(
        &self,
        account_id: i64,
        user: UserId,
        gift_id: i64,
        now: i64,
    ) -> StoreResult<i64> {
        let mut tx = self.begin_write().await?;
        let order = rewards::order_gift(&mut tx, account_id, user, gift_id, now).await?;
        tx.commit().await?;
        Ok(order)
    }

    /// Stores customer feedback.
    pub async fn create_feedback(&self, feedback: &NewFeedback, now: i64) -> StoreResult<i64> {
        let mut conn = self.pool.acquire().await?;
        feedback::insert(&mut conn, feedback, now).await
    }

    /// A user's feedback, newest first.
    pub async fn feedback_of(&self, user: UserId) -> StoreResult<Vec<Feedback>> {
        let mut conn = self.pool.acquire().await?;
        feedback::of_user(&mut conn, user).await
    }

    /// The support desk's feedback inbox.
    pub async fn feedback_inbox(&self, open_only: bool) -> StoreResult<Vec<Feedback>> {
        let mut conn = self.pool.acquire().await?;
        feedback::inbox(&mut conn, open_only).await
    }

    /// Stores a new session.
    pub async fn create_session(&self, session: &Session, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, secret_hash, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&session.id)
        .bind(session.user_id.0 as i64)
        .bind(&session.secret_hash)
        .bind(session.expires_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One session by its public id.
    pub async fn session(&self, id: &str) -> StoreResult<Session> {
        let row =
            sqlx::query("SELECT id, user_id, secret_hash, expires_at FROM sessions WHERE id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
        rows::session(&row)
    }

    /// Ends a session.
    pub async fn delete_session(&self, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores a user's new password hash and ends their sessions but `keep_session`, with the
    /// audit entry, in one transaction; `NotFound` for an unknown user.
    pub async fn set_password(
        &self,
        user: UserId,
        password_hash: &str,
        keep_session: Option<&str>,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(user.0 as i64)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        // No session id is empty, so "" keeps none.
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
            .bind(user.0 as i64)
            .bind(keep_session.unwrap_or_default())
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records something that happened without a change of its own (e.g. a sign-in lock).
    pub async fn record_audit(&self, audit: &AuditEntry, now: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    // Issuance.
    /// Reserves `count` fresh book ids; ids are never handed out twice, even if unused.
    pub async fn allocate_book_ids(&self, count: u32) -> StoreResult<Range<u64>> {
        let mut tx = self.begin_write().await?;
        let end: i64 = sqlx::query_scalar(
            "UPDATE id_counters SET next_value = next_value + $1 WHERE name = 'book' RETURNING next_value",
        )
        .bind(i64::from(count))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let end = end as u64;
        Ok(end - u64::from(count)..end)
    }

    /// Records an order with its signed books (ids from [`Store::allocate_book_ids`]).
    pub async fn record_order(
        &self,
        order: &NewOrder,
        books: &[NewBook],
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<i64> {
        let mut tx = self.begin_write().await?;
        let order_id: i64 = sqlx::query_scalar(
            "INSERT INTO orders (account_id, package_id, quantity, total_fen, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(order.account_id)
        .bind(order.package_id)
        .bind(i64::from(order.quantity))
        .bind(order.total_fen)
        .bind(order.created_by.map(|user| user.0 as i64))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        for book in books {
            insert_book(&mut tx, book, Some(order_id), now).await?;
        }
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(order_id)
    }

    /// Stores books issued outside an order (gifts, reissues).
    pub async fn record_books(
        &self,
        books: &[NewBook],
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for book in books {
            insert_book(&mut tx, book, None, now).await?;
        }
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One book.
    pub async fn book(&self, id: BookId) -> StoreResult<Book> {
        let mut conn = self.pool.acquire().await?;
        fetch_book(&mut conn, id).await
    }

    /// A book's ledger and every device event about it.
    pub async fn book_history(&self, id: BookId) -> StoreResult<BookHistory> {
        let mut conn = self.pool.acquire().await?;
        ledger::history(&mut conn, id).await
    }

    /// Books owned by an account, newest first.
    pub async fn books_of_account(&self, account_id: i64) -> StoreResult<Vec<Book>> {
        let found = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_BOOKS} WHERE b.account_id = $1 ORDER BY b.id DESC"
        )))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(rows::book).collect()
    }

    /// Active (not revoked) books signed by a key.
    pub async fn live_books_of_key(&self, kid: [u8; 4]) -> StoreResult<Vec<Book>> {
        let found = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_BOOKS} WHERE b.kid = $1 AND b.state <> 'revoked' ORDER BY b.id"
        )))
        .bind(kid.to_vec())
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(rows::book).collect()
    }

    /// Revokes a book; `Conflict` if it is already revoked.
    pub async fn revoke_book(
        &self,
        id: BookId,
        reason: &str,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<Book> {
        let mut tx = self.begin_write().await?;
        revoke_in(&mut tx, id, reason, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        let book = fetch_book(&mut tx, id).await?;
        tx.commit().await?;
        Ok(book)
    }

    /// Revokes `old` and stores its replacements (each naming `old` in `replaces`: a reissue, or
    /// the parts of a split) in one transaction; `Conflict` if `old` is already revoked or the
    /// replacements hold more units than it has left at that moment.
    pub async fn replace_book(
        &self,
        old: BookId,
        replacements: &[NewBook],
        reason: &str,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<Vec<Book>> {
        if replacements.is_empty() || replacements.iter().any(|b| b.replaces != Some(old)) {
            return Err(StoreError::Other(
                format!("replacements do not all name book {old}").into(),
            ));
        }
        let mut tx = self.begin_write().await?;
        // The caller read the book before this transaction: under the status clock, which every
        // redemption's transaction takes too, check that its units left still cover the
        // replacements, or a redemption counted meanwhile would be handed out again.
        lock_status_clock(&mut tx).await?;
        let book = fetch_book(&mut tx, old).await?;
        let left = book.issued.units.saturating_sub(book.used_units);
        let replacing: u32 = replacements.iter().map(|b| u32::from(b.units)).sum();
        if replacing > u32::from(left) {
            tracing::info!(book = %old, left, replacing, "replacement refused: units left changed");
            return Err(StoreError::Conflict(ConflictKind::UnitsChanged));
        }
        revoke_in(&mut tx, old, reason, now).await?;
        let mut books = Vec::with_capacity(replacements.len());
        for replacement in replacements {
            insert_book(&mut tx, replacement, None, now).await?;
            books.push(fetch_book(&mut tx, replacement.id).await?);
        }
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(books)
    }

    // Keys.
    /// Stores a key; an active key takes its purpose's place as `install` says.
    pub async fn insert_signing_key(
        &self,
        key: &SigningKeyRow,
        install: KeyInstall,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        if key.status == KeyStatus::Active && install == KeyInstall::Rotate {
            sqlx::query(
                "UPDATE signing_keys SET state = 'retired' WHERE purpose = $1 AND state = 'active'",
            )
            .bind(key.purpose.as_str())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO signing_keys (kid, purpose, public_key, sealed_secret, not_before, not_after, \
             state, compromised_since, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(key.kid.to_vec())
        .bind(key.purpose.as_str())
        .bind(key.public_key.to_vec())
        .bind(&key.sealed_secret)
        .bind(i64::from(key.not_before))
        .bind(i64::from(key.not_after))
        .bind(key.status.as_str())
        .bind(key.compromised_since.map(i64::from))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// All keys, oldest first.
    pub async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRow>> {
        let found = sqlx::query("SELECT * FROM signing_keys ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        found.iter().map(rows::signing_key).collect()
    }

    /// Marks a key compromised from `since`.
    pub async fn mark_key_compromised(
        &self,
        kid: [u8; 4],
        since: u32,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE signing_keys SET state = 'compromised', compromised_since = $1 WHERE kid = $2 AND state <> 'compromised'",
        )
        .bind(i64::from(since))
        .bind(kid.to_vec())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        let affected: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT b.id FROM books b JOIN events e ON e.book_id = b.id WHERE b.kid = $1",
        )
        .bind(kid.to_vec())
        .fetch_all(&mut *tx)
        .await?;
        let affected: Vec<BookId> = affected.into_iter().map(|id| BookId(id as u64)).collect();
        ledger::recompute_books(&mut tx, &affected, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a signed keyring bundle; `Conflict` unless `version` is the highest.
    pub async fn insert_keyring_bundle(
        &self,
        version: u64,
        bundle: &[u8],
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM keyring_bundles")
            .fetch_one(&mut *tx)
            .await?;
        if newest.is_some_and(|newest| newest >= version as i64) {
            return Err(StoreError::Conflict(ConflictKind::StaleKeyring));
        }
        sqlx::query(
            "INSERT INTO keyring_bundles (version, bundle, created_at) VALUES ($1, $2, $3)",
        )
        .bind(version as i64)
        .bind(bundle)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest keyring bundle.
    pub async fn latest_keyring_bundle(&self) -> StoreResult<Option<(u64, Vec<u8>)>> {
        let found: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT version, bundle FROM keyring_bundles ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.map(|(version, bundle)| (version as u64, bundle)))
    }

    // Devices.
    /// Stores an enrollment code hash.
    pub async fn create_enrollment_code(
        &self,
        code: &NewEnrollmentCode,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO enrollment_codes (code_hash, user_id, expires_at, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&code.code_hash)
        .bind(code.user_id.0 as i64)
        .bind(code.expires_at)
        .bind(code.created_by.map(|user| user.0 as i64))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Uses a code once and enrolls a device; `NotFound` if the code is unknown, used or
    /// expired, or its user has been disabled since it was made.
    pub async fn enroll_device(
        &self,
        code_hash: &[u8],
        device: &NewDevice,
        now: i64,
    ) -> StoreResult<Device> {
        let mut tx = self.begin_write().await?;
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT c.user_id FROM enrollment_codes c JOIN users u ON u.id = c.user_id \
             WHERE c.code_hash = $1 AND c.used_at IS NULL AND c.expires_at > $2 \
             AND u.disabled_at IS NULL",
        )
        .bind(code_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user_id) = found else {
            return Err(StoreError::NotFound);
        };
        let row = sqlx::query(
            "INSERT INTO devices (name, user_id, public_key, token_hash, enrolled_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING *",
        )
        .bind(&device.name)
        .bind(user_id)
        .bind(device.public_key.to_vec())
        .bind(&device.token_hash)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let enrolled = rows::device(&row)?;
        let used = sqlx::query(
            "UPDATE enrollment_codes SET used_at = $1, device_id = $2 WHERE code_hash = $3 AND used_at IS NULL",
        )
        .bind(now)
        .bind(enrolled.id.0 as i64)
        .bind(code_hash)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if used != 1 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(enrolled)
    }

    /// One device.
    pub async fn device(&self, id: DeviceId) -> StoreResult<Device> {
        let row = sqlx::query("SELECT * FROM devices WHERE id = $1")
            .bind(id.0 as i64)
            .fetch_one(&self.pool)
            .await?;
        rows::device(&row)
    }

    /// All devices.
    pub async fn devices(&self) -> StoreResult<Vec<Device>> {
        let found = sqlx::query("SELECT * FROM devices ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        found.iter().map(rows::device).collect()
    }

    /// Disables a device: its token stops working.
    pub async fn disable_device(
        &self,
        id: DeviceId,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE devices SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL",
        )
        .bind(now)
        .bind(id.0 as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    // Sync.
    /// Stores a pushed batch of `device`'s events as `sync::classify` decides: one result per
    /// event, in order; never all-or-nothing. `signature_ok[i]` says whether `events[i]` carries
    /// the device's signature (checked by the caller, outside the write transaction).
    /// Redemptions are checked against their books' terms and `served`, the scopes the device's
    /// user serves; what breaks them is stored and queued for review.
    pub async fn push_events(
        &self,
        device: &Device,
        events: &[SignedEvent],
        signature_ok: &[bool],
        served: &[ScopeId],
        now: i64,
    ) -> StoreResult<Vec<PushResult>> {
        let mut tx = self.begin_write().await?;
        let results = events::ingest(&mut tx, device, events, signature_ok, served, now).await?;
        tx.commit().await?;
        Ok(results)
    }

    /// Book statuses changed after `cursor`, in sequence (= commit) order.
    pub async fn pull_statuses(&self, cursor: u64, limit: u32) -> StoreResult<Vec<StatusRow>> {
        let found = sqlx::query(
            "SELECT id, used_units, state, status_seq, last_used_at FROM books \
             WHERE status_seq > $1 ORDER BY status_seq LIMIT $2",
        )
        .bind(cursor as i64)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(rows::status_row).collect()
    }

    /// The revoked and used-up books and the status sequence they reflect, read in one
    /// statement so the two agree: a device that loads them pulls rows after that sequence.
    pub async fn status_sets(&self) -> StoreResult<(u64, StatusSets)> {
        // One statement is one consistent read on both backends. Sequence numbers are handed
        // out under a lock held until commit, so every row at or below the highest committed
        // sequence is in, and everything later comes through pull.
        let found = sqlx::query(
            "SELECT id, state FROM books WHERE state <> 'active' \
             UNION ALL SELECT CAST(COALESCE(MAX(status_seq), 0) AS BIGINT), 'head' FROM books",
        )
        .fetch_all(&self.pool)
        .await?;
        let (mut seq, mut sets) = (0, StatusSets::default());
        for row in &found {
            rows::add_to_sets(row, &mut seq, &mut sets)?;
        }
        Ok((seq, sets))
    }

    /// Where the stored chain of a device ends.
    pub async fn chain_tip(&self, device: DeviceId) -> StoreResult<ChainTip> {
        let mut conn = self.pool.acquire().await?;
        events::chain_tip(&mut conn, device).await
    }

    /// The review queue; `open_only` leaves out resolved items.
    pub async fn review_queue(&self, open_only: bool) -> StoreResult<Vec<ReviewItem>> {
        let mut conn = self.pool.acquire().await?;
        events::review_items(&mut conn, open_only).await
    }

    /// Resolves a review item with a resolution event `resolution_id`; returns the book's new
    /// status, or none for an item about no book.
    #[expect(
        clippy::too_many_arguments,
        reason = "each argument is a distinct part of the resolution and its audit"
    )]
    pub async fn resolve_review(
        &self,
        target: EventId,
        resolution_id: EventId,
        action: ResolutionAction,
        operator: UserId,
        note: &str,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<Option<StatusRow>> {
        let mut tx = self.begin_write().await?;
        let row =
            events::resolve(&mut tx, target, resolution_id, action, operator, note, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(row)
    }

    // Audit.
    /// Totals for reports.
    pub async fn summary(&self) -> StoreResult<Summary> {
        let (books, units_issued, units_used, books_revoked): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(units), 0) AS BIGINT), CAST(COALESCE(SUM(used_units), 0) AS BIGINT), \
             COUNT(revoked_at) FROM books",
        )
        .fetch_one(&self.pool)
        .await?;
        let (redemptions, scan_attempts): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(CASE WHEN kind = 'redemption' THEN 1 END), COUNT(CASE WHEN kind = 'scan_attempt' THEN 1 END) FROM events",
        )
        .fetch_one(&self.pool)
        .await?;
        let devices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices")
            .fetch_one(&self.pool)
            .await?;
        let open_reviews: i64 = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT event_id) FROM review_queue WHERE resolution_event_id IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Summary {
            books,
            units_issued,
            units_used,
            books_revoked,
            redemptions,
            scan_attempts,
            devices,
            open_reviews,
        })
    }

    /// The newest `limit` audit entries.
    pub async fn audit_log(&self, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        let found = sqlx::query("SELECT * FROM audit_log ORDER BY id DESC LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        found.iter().map(rows::audit).collect()
    }

    /// One page of the audit log, filtered by text, with keyset bounds.
    pub async fn audit_page(&self, query: &AuditQuery) -> StoreResult<AuditPage> {
        audit::page(&self.pool, query).await
    }

    // Reports and admin.
    /// Device events and books of `[from, to)` counted per `bucket` by SQL aggregation, with
    /// who recorded the events and where: what statistics are computed from.
    pub async fn report_data(&self, from: i64, to: i64, bucket: Bucket) -> StoreResult<ReportData> {
        reports::data(&self.pool, from, to, bucket).await
    }

    /// Uploads per device (last upload time, events uploaded) and their last sync reports.
    pub async fn device_activity(&self) -> StoreResult<Vec<DeviceActivity>> {
        reports::device_activity(&self.pool).await
    }

    /// Records a device's sync report: events it still holds, its previous sync error.
    pub async fn report_device_sync(
        &self,
        device: DeviceId,
        pending_events: i64,
        last_sync_error: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        reports::report_device_sync(&self.pool, device, pending_events, last_sync_error, now).await
    }

    /// Support search: the book `id`, or books whose QR text is `text`, whose account name
    /// contains `text` or whose holder (or holder's enterprise) signs in as `text`; newest first.
    pub async fn search_books(
        &self,
        id: Option<BookId>,
        text: &str,
        limit: u32,
    ) -> StoreResult<Vec<Book>> {
        reports::search_books(&self.pool, SELECT_BOOKS, id, text, limit).await
    }

    /// Every account.
    pub async fn accounts(&self) -> StoreResult<Vec<Account>> {
        reports::accounts(&self.pool).await
    }

    /// Every user.
    pub async fn users(&self) -> StoreResult<Vec<User>> {
        reports::users(&self.pool).await
    }

    /// New customers each courier or clerk guided (signed up with their staff code) in
    /// `[from, to)`.
    pub async fn guided_customers(&self, from: i64, to: i64) -> StoreResult<Vec<(UserId, i64)>> {
        reports::guided_customers(&self.pool, from, to).await
    }

    /// Sets a support ticket's state (`open`, `in_progress`, `closed`) and assignee;
    /// `NotFound` if there is no such feedback.
    pub async fn update_feedback(
        &self,
        id: i64,
        state: &str,
        assignee: Option<UserId>,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        reports::update_feedback(&mut tx, id, state, assignee, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Notifications queued since `since` that were given up on (every delivery attempt failed).
    pub async fn dead_notifications(&self, since: i64) -> StoreResult<i64> {
        reports::dead_notifications(&self.pool, since).await
    }

    /// Sets a user's role and whether they are disabled. Disabling ends their sessions and
    /// disables their devices, each with its own `device.disable` audit entry by the same actor,
    /// in the same transaction; enabling the user again leaves the devices disabled.
    pub async fn update_user(
        &self,
        id: UserId,
        role: Role,
        disabled: bool,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<User> {
        let mut tx = self.begin_write().await?;
        let user = reports::update_user(&mut tx, id, role, disabled, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        if disabled {
            disable_devices_of(&mut tx, id, audit.actor, now).await?;
        }
        tx.commit().await?;
        Ok(user)
    }
}

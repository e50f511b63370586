//! [`Store`] itself, its connection, and its methods: each opens a connection or a write
//! transaction, calls the table modules' functions in it and commits. The SQL lives in the table
//! modules (see the `store` module doc).

use std::ops::Range;
use std::sync::Arc;

use shuipiao_shared::event::{ChainTip, SignedEvent};
use shuipiao_shared::ids::{BookId, DeviceId, EventId, ProductCode, ScopeId, UserId};
use shuipiao_shared::ledger::ResolutionAction;
use shuipiao_shared::status::{StatusRow, StatusSets};
use shuipiao_shared::sync::PushResult;
use sqlx::AnyPool;
use tokio::sync::Mutex;

use crate::config::{Backend, DatabaseUrl};
use crate::store::audit::{self, AuditPage, AuditQuery};
use crate::store::models::*;
use crate::store::reports::{self, Bucket, DeliveryGroup, DeviceActivity, ReportData};
use crate::store::{
    ConflictKind, StoreError, StoreResult, backend, books, catalogue, customers, devices,
    directory, enterprise, events, feedback, keys, ledger, outbox, rewards, tx, users,
};
use tx::insert_audit;

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
        catalogue::insert_product(&mut tx, product).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await
    }

    /// Sets a product's deposit per bucket.
    pub async fn set_product_deposit(
        &self,
        code: ProductCode,
        deposit_fen: i64,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        catalogue::set_deposit(&mut tx, code, deposit_fen).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await
    }

    /// All products by code.
    pub async fn products(&self) -> StoreResult<Vec<Product>> {
        let mut conn = self.pool.acquire().await?;
        catalogue::products(&mut conn).await
    }

    /// One product.
    pub async fn product(&self, code: ProductCode) -> StoreResult<Product> {
        let mut conn = self.pool.acquire().await?;
        catalogue::product(&mut conn, code).await
    }

    /// Adds a region.
    pub async fn create_region(
        &self,
        name: &str,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<Region> {
        let mut tx = self.begin_write().await?;
        let region = catalogue::insert_region(&mut tx, name).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(region)
    }

    /// All regions.
    pub async fn regions(&self) -> StoreResult<Vec<Region>> {
        let mut conn = self.pool.acquire().await?;
        catalogue::regions(&mut conn).await
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
        let outlet = catalogue::insert_outlet(&mut tx, region_id, name).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(outlet)
    }

    /// All stores.
    pub async fn outlets(&self) -> StoreResult<Vec<Outlet>> {
        let mut conn = self.pool.acquire().await?;
        catalogue::outlets(&mut conn).await
    }

    /// Adds a scope.
    pub async fn create_scope(
        &self,
        scope: &NewScope,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<Scope> {
        let mut tx = self.begin_write().await?;
        let stored = catalogue::insert_scope(&mut tx, scope).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// All scopes.
    pub async fn scopes(&self) -> StoreResult<Vec<Scope>> {
        let mut conn = self.pool.acquire().await?;
        catalogue::scopes(&mut conn).await
    }

    /// Adds a package.
    pub async fn create_package(
        &self,
        package: &NewPackage,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<Package> {
        let mut tx = self.begin_write().await?;
        let stored = catalogue::insert_package(&mut tx, package).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Takes a package off sale with its audit entry; `false` (nothing written) if it was off
    /// sale already.
    pub async fn retire_package(&self, id: i64, now: i64, audit: &AuditEntry) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        if !catalogue::retire_package(&mut tx, id, now).await? {
            return Ok(false);
        }
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// One package.
    pub async fn package(&self, id: i64) -> StoreResult<Package> {
        let mut conn = self.pool.acquire().await?;
        catalogue::package(&mut conn, id).await
    }

    /// All packages.
    pub async fn packages(&self) -> StoreResult<Vec<Package>> {
        let mut conn = self.pool.acquire().await?;
        catalogue::packages(&mut conn).await
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
        let stored = users::insert_account(&mut tx, account, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// One account.
    pub async fn account(&self, id: i64) -> StoreResult<Account> {
        let mut conn = self.pool.acquire().await?;
        users::account(&mut conn, id).await
    }

    /// Member accounts of an enterprise.
    pub async fn members(&self, enterprise_id: i64) -> StoreResult<Vec<Account>> {
        let mut conn = self.pool.acquire().await?;
        users::members(&mut conn, enterprise_id).await
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
        let stored = users::insert_user(&mut tx, user, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// One user.
    pub async fn user(&self, id: UserId) -> StoreResult<User> {
        let mut conn = self.pool.acquire().await?;
        users::user(&mut conn, id).await
    }

    /// One user by login name.
    pub async fn user_by_name(&self, username: &str) -> StoreResult<User> {
        let mut conn = self.pool.acquire().await?;
        users::user_by_name(&mut conn, username).await
    }

    /// One user by the blind index of their phone number.
    pub async fn user_by_phone(&self, phone_index: &[u8]) -> StoreResult<User> {
        let mut conn = self.pool.acquire().await?;
        users::user_by_phone(&mut conn, phone_index).await
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
        let (user, account_id) = customers::register(&mut tx, customer, now, audit).await?;
        let extras = welcome(account_id, user.id);
        for book in &extras.books {
            books::insert(&mut tx, book, None, now).await?;
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

    /// Claims pending messages due at `now` (oldest first, up to `limit`) for the delivery round
    /// `holder` until `claimed_until` or until it records their delivery, so no other server
    /// delivers them meanwhile. In the same step, erases the secrets past their expiry and gives
    /// up on the pending messages that carried them.
    pub async fn claim_notifications(
        &self,
        holder: &str,
        now: i64,
        claimed_until: i64,
        limit: u32,
    ) -> StoreResult<Vec<Notification>> {
        let mut tx = self.begin_write().await?;
        let claimed = outbox::claim(&mut tx, holder, now, claimed_until, limit).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Extends `holder`'s claim on message `id` to `claimed_until` just before sending it;
    /// `false` when the round no longer holds it (its claim ran out and another round took it,
    /// or it was delivered or withdrawn meanwhile): then it must not be sent.
    pub async fn renew_notification_claim(
        &self,
        holder: &str,
        id: i64,
        claimed_until: i64,
    ) -> StoreResult<bool> {
        let mut conn = self.pool.acquire().await?;
        outbox::renew_claim(&mut conn, holder, id, claimed_until).await
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

    /// Records the delivery round `holder`'s attempt over `channel`: sent, or failed with a
    /// retry time, or dead without one. Ends the claim; a sent or dead message's secret is
    /// erased. `false`, recording nothing, when another round holds the message now.
    pub async fn record_delivery(
        &self,
        holder: &str,
        id: i64,
        channel: Channel,
        result: Result<(), &str>,
        retry_at: Option<i64>,
        now: i64,
    ) -> StoreResult<bool> {
        let mut conn = self.pool.acquire().await?;
        outbox::record_attempt(&mut conn, holder, id, channel, result, retry_at, now).await
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

    /// The book's usage now, when its holder was not told its counted units.
    pub async fn usage_change(&self, book: BookId) -> StoreResult<Option<UsageChange>> {
        let mut conn = self.pool.acquire().await?;
        outbox::usage_change(&mut conn, book).await
    }

    /// Records a usage change as told, queues its messages and credits the points it earned,
    /// in one transaction; `false`, writing nothing, when another run of the job recorded a
    /// change of the book since `change` was read (re-read it with [`Store::usage_change`]).
    pub async fn notify_usage(
        &self,
        change: &UsageChange,
        messages: &[NewNotification],
        points: i64,
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        if !outbox::mark_notified(&mut tx, change).await? {
            return Ok(false);
        }
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
        tx.commit().await?;
        Ok(true)
    }

    /// Active books that expire before `before` with units left, and were issued before `now`.
    pub async fn books_expiring(&self, now: i64, before: i64) -> StoreResult<Vec<Book>> {
        let mut conn = self.pool.acquire().await?;
        books::expiring(&mut conn, now, before).await
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
        let mut conn = self.pool.acquire().await?;
        users::insert_session(&mut conn, session, now).await
    }

    /// One session by its public id.
    pub async fn session(&self, id: &str) -> StoreResult<Session> {
        let mut conn = self.pool.acquire().await?;
        users::session(&mut conn, id).await
    }

    /// Ends a session.
    pub async fn delete_session(&self, id: &str) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        users::delete_session(&mut conn, id).await
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
        users::set_password(&mut tx, user, password_hash, keep_session).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await
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
        let ids = books::allocate_ids(&mut tx, count).await?;
        tx.commit().await?;
        Ok(ids)
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
        let order_id = books::insert_order(&mut tx, order, now).await?;
        for book in books {
            books::insert(&mut tx, book, Some(order_id), now).await?;
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
            books::insert(&mut tx, book, None, now).await?;
        }
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await
    }

    /// One book.
    pub async fn book(&self, id: BookId) -> StoreResult<Book> {
        let mut conn = self.pool.acquire().await?;
        books::fetch(&mut conn, id).await
    }

    /// A book's ledger and every device event about it.
    pub async fn book_history(&self, id: BookId) -> StoreResult<BookHistory> {
        let mut conn = self.pool.acquire().await?;
        ledger::history(&mut conn, id).await
    }

    /// Books owned by an account, newest first.
    pub async fn books_of_account(&self, account_id: i64) -> StoreResult<Vec<Book>> {
        let mut conn = self.pool.acquire().await?;
        books::of_account(&mut conn, account_id).await
    }

    /// Active (not revoked) books signed by a key.
    pub async fn live_books_of_key(&self, kid: [u8; 4]) -> StoreResult<Vec<Book>> {
        let mut conn = self.pool.acquire().await?;
        books::live_of_key(&mut conn, kid).await
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
        books::revoke(&mut tx, id, reason, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        let book = books::fetch(&mut tx, id).await?;
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
        let books = books::replace(&mut tx, old, replacements, reason, now).await?;
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
        keys::insert(&mut tx, key, install, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await
    }

    /// All keys, oldest first.
    pub async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRow>> {
        let mut conn = self.pool.acquire().await?;
        keys::all(&mut conn).await
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
        keys::mark_compromised(&mut tx, kid, since, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await
    }

    /// Stores a signed keyring bundle; `Conflict` unless `version` is the highest.
    pub async fn insert_keyring_bundle(
        &self,
        version: u64,
        bundle: &[u8],
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        keys::insert_bundle(&mut tx, version, bundle, now).await?;
        tx.commit().await
    }

    /// The newest keyring bundle.
    pub async fn latest_keyring_bundle(&self) -> StoreResult<Option<(u64, Vec<u8>)>> {
        let mut conn = self.pool.acquire().await?;
        keys::latest_bundle(&mut conn).await
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
        devices::insert_code(&mut tx, code, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await
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
        let enrolled = devices::enroll(&mut tx, code_hash, device, now).await?;
        tx.commit().await?;
        Ok(enrolled)
    }

    /// One device.
    pub async fn device(&self, id: DeviceId) -> StoreResult<Device> {
        let mut conn = self.pool.acquire().await?;
        devices::device(&mut conn, id).await
    }

    /// All devices.
    pub async fn devices(&self) -> StoreResult<Vec<Device>> {
        let mut conn = self.pool.acquire().await?;
        devices::devices(&mut conn).await
    }

    /// Disables a device: its token stops working.
    pub async fn disable_device(
        &self,
        id: DeviceId,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        devices::disable(&mut tx, id, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await
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
        let mut conn = self.pool.acquire().await?;
        books::statuses_after(&mut conn, cursor, limit).await
    }

    /// The revoked and used-up books and the status sequence they reflect, read in one
    /// statement so the two agree: a device that loads them pulls rows after that sequence.
    pub async fn status_sets(&self) -> StoreResult<(u64, StatusSets)> {
        let mut conn = self.pool.acquire().await?;
        books::status_sets(&mut conn).await
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

    /// Whether the stored event `id` is a delivery (its review items are about an order).
    pub async fn is_delivery_event(&self, id: EventId) -> StoreResult<bool> {
        let mut conn = self.pool.acquire().await?;
        events::is_delivery(&mut conn, id).await
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
        reports::summary(&self.pool).await
    }

    /// The newest `limit` audit entries.
    pub async fn audit_log(&self, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        audit::newest(&self.pool, limit).await
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

    /// Delivery events of `[from, to)` counted per courier, customer region and outcome.
    pub async fn delivery_report(&self, from: i64, to: i64) -> StoreResult<Vec<DeliveryGroup>> {
        reports::deliveries(&self.pool, from, to).await
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
        let mut conn = self.pool.acquire().await?;
        books::search(&mut conn, id, text, limit).await
    }

    /// Accounts matching `filter`, newest first, `limit` from `offset` (the customer directory).
    pub async fn customers(
        &self,
        filter: &directory::CustomerFilter,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<directory::CustomerRow>> {
        let mut conn = self.pool.acquire().await?;
        directory::search(&mut conn, filter, limit, offset).await
    }

    /// Every account.
    pub async fn accounts(&self) -> StoreResult<Vec<Account>> {
        let mut conn = self.pool.acquire().await?;
        users::accounts(&mut conn).await
    }

    /// Every user.
    pub async fn users(&self) -> StoreResult<Vec<User>> {
        let mut conn = self.pool.acquire().await?;
        users::users(&mut conn).await
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
        feedback::update(&mut tx, id, state, assignee, now).await?;
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
        let user = users::update_user(&mut tx, id, role, disabled, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        if disabled {
            devices::disable_of_user(&mut tx, id, audit.actor, now).await?;
        }
        tx.commit().await?;
        Ok(user)
    }
}

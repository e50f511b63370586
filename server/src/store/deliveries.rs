//! `Store`'s methods for the plant's day (docs/deliveries.md): addresses, slot hours, orders of
//! water, recurring orders, dispatch, the couriers' delivery feed and buckets. Like those in `sql.rs`,
//! each opens a connection or a write transaction, takes the locks, calls the table modules'
//! functions in it, writes the audit entry and commits; they are kept apart from `sql.rs` only
//! by area, so each file stays readable.

use crate::accounts::Actor;
use std::collections::BTreeMap;

use shuipiao_shared::buckets::BucketLedger;
use shuipiao_shared::ids::ProductCode;

use crate::store::addresses::{self, AddressFields};
use crate::store::buckets::{self, BucketRecord};
use crate::store::delivery_orders::{self, AddressRow, DeliveryOrder, NewOrderRow, Placed};
use crate::store::delivery_slots::{self, SlotHoursRow};
use crate::store::dispatch::{self, AutoAssigned, CourierRow, Expected, FeedRow};
use crate::store::models::AuditEntry;
use crate::store::recurring_orders::{self, DayOutcome, DayPlan, NewRecurringRow, RecurringRow};
use crate::store::tx::insert_audit;
use crate::store::{ConflictKind, Store, StoreError, StoreResult};
use shuipiao_shared::ids::{BookId, UserId};

impl Store {
    /// An account's live addresses, the default first.
    pub async fn addresses_of_account(&self, account_id: i64) -> StoreResult<Vec<AddressRow>> {
        let mut conn = self.pool.acquire().await?;
        addresses::live_of(&mut conn, account_id).await
    }

    /// Adds an address to `account_id`'s list unless it already holds `max_live` live ones
    /// (`None` then); the first live address becomes the default.
    pub async fn add_address(
        &self,
        account_id: i64,
        fields: &AddressFields,
        max_live: usize,
        audit: impl FnOnce(i64) -> AuditEntry,
        now: i64,
    ) -> StoreResult<Option<i64>> {
        let mut tx = self.begin_write().await?;
        addresses::lock_account(&mut tx, account_id, now).await?;
        let live = addresses::live_of(&mut tx, account_id).await?;
        if live.len() >= max_live {
            return Ok(None);
        }
        let id = addresses::insert(&mut tx, account_id, fields, live.is_empty(), now).await?;
        insert_audit(&mut tx, &audit(id), now).await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Rewrites live address `id` of `account_id`; `NotFound` if it is not one.
    pub async fn edit_address(
        &self,
        account_id: i64,
        id: i64,
        fields: &AddressFields,
        audit: &AuditEntry,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        addresses::lock_account(&mut tx, account_id, now).await?;
        addresses::live_one(&mut tx, account_id, id).await?;
        addresses::update(&mut tx, id, fields).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await
    }

    /// Takes live address `id` of `account_id` off the list (orders keep it); if it was the
    /// default, the oldest remaining address becomes the default. `NotFound` if it is not one.
    pub async fn remove_address(
        &self,
        account_id: i64,
        id: i64,
        audit: &AuditEntry,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        addresses::lock_account(&mut tx, account_id, now).await?;
        let removed = addresses::live_one(&mut tx, account_id, id).await?;
        addresses::mark_removed(&mut tx, id, now).await?;
        if removed.is_default
            && let Some(next) = addresses::live_of(&mut tx, account_id).await?.first()
        {
            addresses::make_default(&mut tx, account_id, next.id).await?;
        }
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await
    }

    /// Makes live address `id` `account_id`'s default; `NotFound` if it is not one.
    pub async fn set_default_address(
        &self,
        account_id: i64,
        id: i64,
        audit: &AuditEntry,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        addresses::lock_account(&mut tx, account_id, now).await?;
        addresses::live_one(&mut tx, account_id, id).await?;
        addresses::make_default(&mut tx, account_id, id).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await
    }

    /// The rows a region set for its slots, in the order of the day; empty when it uses the
    /// plant's hours.
    pub async fn slot_hours(&self, region_id: i64) -> StoreResult<Vec<SlotHoursRow>> {
        let mut conn = self.pool.acquire().await?;
        delivery_slots::of_region(&mut conn, region_id).await
    }

    /// Replaces a region's slot rows.
    pub async fn set_slot_hours(
        &self,
        region_id: i64,
        hours: &[SlotHoursRow],
        audit: &AuditEntry,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        delivery_slots::replace(&mut tx, region_id, hours).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await
    }

    /// One order of water.
    pub async fn delivery_order(&self, id: i64) -> StoreResult<DeliveryOrder> {
        let mut conn = self.pool.acquire().await?;
        delivery_orders::fetch_order(&mut conn, id).await
    }

    /// One address, removed or not.
    pub async fn address(&self, id: i64) -> StoreResult<AddressRow> {
        let mut conn = self.pool.acquire().await?;
        delivery_orders::fetch_address(&mut conn, id).await
    }

    /// Places an order checked by the domain: a tickets order reserves its bottles under the
    /// book's lock, or is refused as [`Placed::Short`] with nothing written.
    pub async fn place_order(
        &self,
        new: &NewOrderRow,
        audit: impl FnOnce(i64) -> AuditEntry,
        now: i64,
    ) -> StoreResult<Placed> {
        let mut tx = self.begin_write().await?;
        let placed = delivery_orders::place_in(&mut tx, new, now).await?;
        if let Placed::Order(id) = placed {
            insert_audit(&mut tx, &audit(id), now).await?;
            tx.commit().await?;
        }
        Ok(placed)
    }

    /// Units of `book` a customer may still order now.
    pub async fn orderable_units(&self, book: BookId) -> StoreResult<i64> {
        let mut conn = self.pool.acquire().await?;
        delivery_orders::orderable_units(&mut conn, book).await
    }

    /// An account's orders, newest first, at most `limit`.
    pub async fn orders_of_account(
        &self,
        account_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryOrder>> {
        let mut conn = self.pool.acquire().await?;
        delivery_orders::of_account(&mut conn, account_id, limit).await
    }

    /// Cancels order `id` of `account_id` if it is still `pending`, releasing its reservation;
    /// `false` (nothing written) if it is not.
    pub async fn cancel_pending_order(
        &self,
        account_id: i64,
        id: i64,
        audit: &AuditEntry,
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        if !delivery_orders::cancel_pending(&mut tx, account_id, id, now).await? {
            return Ok(false);
        }
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Stores a recurring order unless the account holds `max` already (`None` then).
    pub async fn insert_recurring(
        &self,
        new: &NewRecurringRow,
        max: usize,
        audit: impl FnOnce(i64) -> AuditEntry,
        now: i64,
    ) -> StoreResult<Option<i64>> {
        let mut tx = self.begin_write().await?;
        recurring_orders::lock_account(&mut tx, new.account_id, now).await?;
        if recurring_orders::of_account(&mut tx, new.account_id)
            .await?
            .len()
            >= max
        {
            return Ok(None);
        }
        let id = recurring_orders::insert(&mut tx, new, now).await?;
        insert_audit(&mut tx, &audit(id), now).await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// One recurring order.
    pub async fn recurring_order(&self, id: i64) -> StoreResult<RecurringRow> {
        let mut conn = self.pool.acquire().await?;
        recurring_orders::fetch(&mut conn, id).await
    }

    /// An account's recurring orders, oldest first.
    pub async fn recurring_of_account(&self, account_id: i64) -> StoreResult<Vec<RecurringRow>> {
        let mut conn = self.pool.acquire().await?;
        recurring_orders::of_account(&mut conn, account_id).await
    }

    /// Pauses (`paused_at` set) or resumes (`None`, ordering next on `next_date`) recurring
    /// order `id` of `account_id`; `NotFound` if it is not one.
    pub async fn set_recurring_paused(
        &self,
        account_id: i64,
        id: i64,
        paused_at: Option<i64>,
        next_date: &str,
        audit: &AuditEntry,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        recurring_orders::lock(&mut tx, id, now).await?;
        recurring_orders::set_paused(&mut tx, account_id, id, paused_at, next_date).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await
    }

    /// Deletes recurring order `id` of `account_id`; the orders it made stay, no longer linked
    /// to it. `NotFound` if it is not one.
    pub async fn delete_recurring(
        &self,
        account_id: i64,
        id: i64,
        audit: &AuditEntry,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        recurring_orders::lock(&mut tx, id, now).await?;
        if recurring_orders::fetch(&mut tx, id).await?.account_id != account_id {
            return Err(StoreError::NotFound);
        }
        recurring_orders::delete(&mut tx, id).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await
    }

    /// Active recurring orders whose next day is `until` or earlier.
    pub async fn due_recurring(&self, until: &str) -> StoreResult<Vec<RecurringRow>> {
        let mut conn = self.pool.acquire().await?;
        recurring_orders::due(&mut conn, until).await
    }

    /// The job's step for recurring order `id`'s day `day`: under the recurring order's lock,
    /// if it is still active and still due for `day`, carries out `plan` (the order and its
    /// audit entry, or the skip messages) and moves `next_date` to `next`, in one transaction.
    pub async fn run_recurring_day(
        &self,
        id: i64,
        day: &str,
        next: &str,
        plan: DayPlan,
        audit: impl FnOnce(i64, &NewOrderRow) -> AuditEntry,
        now: i64,
    ) -> StoreResult<DayOutcome> {
        let mut tx = self.begin_write().await?;
        recurring_orders::lock(&mut tx, id, now).await?;
        if !recurring_orders::still_due(&mut tx, id, day).await? {
            return Ok(DayOutcome::Stale);
        }
        let outcome = recurring_orders::carry_out(&mut tx, plan, audit, now).await?;
        recurring_orders::set_next_date(&mut tx, id, next).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// The orders of `day` (of `region` if given), by id, with the addresses they name.
    pub async fn dispatch_day(
        &self,
        day: &str,
        region: Option<i64>,
    ) -> StoreResult<Vec<(DeliveryOrder, AddressRow)>> {
        let mut conn = self.pool.acquire().await?;
        dispatch::day_with_addresses(&mut conn, day, region).await
    }

    /// The feed rows of `courier` after `cursor`, in feed order, at most `limit`.
    pub async fn delivery_feed(
        &self,
        courier: UserId,
        cursor: i64,
        limit: u32,
    ) -> StoreResult<Vec<FeedRow>> {
        let mut conn = self.pool.acquire().await?;
        dispatch::feed_after(&mut conn, courier, cursor, limit).await
    }

    /// Every courier, enabled or not, by id.
    pub async fn couriers(&self) -> StoreResult<Vec<CourierRow>> {
        let mut conn = self.pool.acquire().await?;
        dispatch::couriers(&mut conn).await
    }

    /// Automatic assignment of `day`'s pending orders (of `region` if given): under the
    /// dispatch clock's lock, reads the day's orders and the enabled couriers, applies
    /// `dispatch::plan` and writes each assignment with its feed row and message, and one audit
    /// entry for `actor` naming what was assigned and what was left.
    pub async fn auto_assign(
        &self,
        day: &str,
        region: Option<i64>,
        actor: Actor,
        now: i64,
    ) -> StoreResult<AutoAssigned> {
        let mut tx = self.begin_write().await?;
        delivery_orders::lock_dispatch_clock(&mut tx).await?;
        let plan = dispatch::assign_planned(&mut tx, day, region, actor, now).await?;
        tx.commit().await?;
        Ok(AutoAssigned { plan })
    }

    /// Gives order `id` to `courier`, an enabled courier of the order's region, if the order is
    /// still open and as `expected`; a reassignment writes `withdrawn` for the old courier
    /// before `assigned` for the new one.
    pub async fn assign_order(
        &self,
        id: i64,
        expected: Expected,
        courier: UserId,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<DeliveryOrder> {
        let mut tx = self.begin_write().await?;
        delivery_orders::lock_dispatch_clock(&mut tx).await?;
        let order = delivery_orders::fetch_order(&mut tx, id).await?;
        let courier = dispatch::enabled_courier(&mut tx, courier, order.region_id)
            .await?
            .ok_or(StoreError::Conflict(ConflictKind::OrderChanged))?;
        let assigned = dispatch::give(&mut tx, &order, expected, &courier, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(assigned)
    }

    /// Cancels order `id` for `reason` if it is still open and as `expected`; its courier, if
    /// any, gets a `withdrawn` row and the customer an `order_cancelled` message. A tickets
    /// order's reservation ends with the state.
    pub async fn cancel_order_by_staff(
        &self,
        id: i64,
        expected: Expected,
        reason: &str,
        now: i64,
        audit: &AuditEntry,
    ) -> StoreResult<DeliveryOrder> {
        let mut tx = self.begin_write().await?;
        delivery_orders::lock_dispatch_clock(&mut tx).await?;
        let order = delivery_orders::fetch_order(&mut tx, id).await?;
        dispatch::cancel(&mut tx, &order, expected, reason, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        let cancelled = delivery_orders::fetch_order(&mut tx, id).await?;
        tx.commit().await?;
        Ok(cancelled)
    }

    /// Marks `out` every `assigned` order of `courier` whose latest feed row is at or before
    /// `cursor`: their phone has fetched it. Returns how many; an audit entry for `actor` is
    /// written only if any.
    pub async fn acknowledge_deliveries(
        &self,
        courier: UserId,
        cursor: i64,
        actor: Actor,
        now: i64,
    ) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        delivery_orders::lock_dispatch_clock(&mut tx).await?;
        let changed = dispatch::mark_out(&mut tx, courier, cursor, actor, now).await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// An account's bucket ledger of each product it has any entry of (押桶 / 空桶).
    pub async fn bucket_ledgers(
        &self,
        account_id: i64,
    ) -> StoreResult<BTreeMap<ProductCode, BucketLedger>> {
        let mut conn = self.pool.acquire().await?;
        buckets::ledgers(&mut conn, account_id).await
    }

    /// Every account's bucket ledgers with the account's region, for the statistics.
    pub async fn buckets_outstanding(&self) -> StoreResult<Vec<buckets::Outstanding>> {
        let mut conn = self.pool.acquire().await?;
        buckets::outstanding(&mut conn).await
    }

    /// An account's bucket records, newest first.
    pub async fn bucket_records(&self, account_id: i64) -> StoreResult<Vec<BucketRecord>> {
        let mut conn = self.pool.acquire().await?;
        buckets::records(&mut conn, account_id).await
    }

    /// Adds the record `make` builds from the ledger of `account_id`'s buckets of `product` as
    /// it stands under the account's bucket lock and the time of its latest entry (or refuses),
    /// with its audit entry, and refreshes that ledger's `empties_exceed` review items; returns
    /// the record and the new ledger.
    pub async fn add_bucket_record<E: From<StoreError>>(
        &self,
        account_id: i64,
        product: ProductCode,
        make: impl FnOnce(&BucketLedger, u64) -> Result<(BucketRecord, AuditEntry), E>,
        now: i64,
    ) -> Result<(BucketRecord, BucketLedger), E> {
        let mut tx = self.begin_write().await?;
        buckets::lock_account(&mut tx, account_id, now).await?;
        let (before, latest) = buckets::ledger(&mut tx, account_id, product).await?;
        let (record, audit) = make(&before, latest)?;
        buckets::insert_record(&mut tx, &record).await?;
        insert_audit(&mut tx, &audit, now).await?;
        let (ledger, _) = buckets::ledger(&mut tx, account_id, product).await?;
        buckets::refresh_review(&mut tx, account_id, product, &ledger, now).await?;
        tx.commit().await?;
        Ok((record, ledger))
    }
}

//! Recurring orders (周期订水, docs/deliveries.md): the rows, and the job's step that makes one
//! day's order and moves `next_date` on in one transaction, under the recurring order's lock,
//! so several server instances running the job make each day's order once.

use shuipiao_shared::ids::{BookId, ProductCode, UserId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::store::delivery_orders::{NewOrderRow, Payment, Placed, Slot, place_in};
use crate::store::models::{AuditEntry, NewNotification};
use crate::store::tx::{insert_audit, lock_key};
use crate::store::{Store, StoreError, StoreResult, outbox, rows};

/// How often a recurring order orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Every N days (1–60).
    EveryDays(u16),
    /// Weekly on an ISO weekday (1 Monday … 7 Sunday).
    Weekly(u8),
}

/// A recurring order as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecurringRow {
    /// Row id.
    pub id: i64,
    /// The ordering account.
    pub account_id: i64,
    /// Where to deliver.
    pub address_id: i64,
    /// What to deliver.
    pub product: ProductCode,
    /// How many bottles.
    pub bottles: u16,
    /// Morning or afternoon.
    pub slot: Slot,
    /// The note for the courier.
    pub note: String,
    /// How each order is paid.
    pub payment: Payment,
    /// How often.
    pub rule: Rule,
    /// The next Beijing day it orders for.
    pub next_date: String,
    /// When it was paused, if it is.
    pub paused_at: Option<i64>,
    /// Who made it.
    pub created_by: Option<UserId>,
}

/// What a new recurring order holds; the domain has checked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecurringRow {
    /// The ordering account.
    pub account_id: i64,
    /// Where to deliver.
    pub address_id: i64,
    /// What to deliver.
    pub product: ProductCode,
    /// How many bottles.
    pub bottles: u16,
    /// Morning or afternoon.
    pub slot: Slot,
    /// The note for the courier.
    pub note: String,
    /// How each order is paid.
    pub payment: Payment,
    /// How often.
    pub rule: Rule,
    /// The first day it orders for.
    pub next_date: String,
    /// Who makes it.
    pub created_by: Option<UserId>,
}

const COLUMNS: &str = "id, account_id, address_id, product_code, bottles, slot, note, payment, \
    book_id, every_days, weekday, next_date, paused_at, created_by";

fn recurring(row: &AnyRow) -> StoreResult<RecurringRow> {
    let int = |column: &str| -> StoreResult<i64> { Ok(row.try_get::<i64, _>(column)?) };
    let slot: String = row.try_get("slot")?;
    let payment: String = row.try_get("payment")?;
    let book: Option<i64> = row.try_get("book_id")?;
    let every_days: Option<i64> = row.try_get("every_days")?;
    let weekday: Option<i64> = row.try_get("weekday")?;
    let rule = match (every_days, weekday) {
        (Some(days), None) => u16::try_from(days).ok().map(Rule::EveryDays),
        (None, Some(day)) => u8::try_from(day).ok().map(Rule::Weekly),
        _ => None,
    }
    .ok_or_else(|| rows::corrupt("recurring_orders.rule"))?;
    let payment = match (payment.as_str(), book) {
        ("tickets", Some(book)) => Payment::Tickets(BookId(book as u64)),
        ("account", None) => Payment::Account,
        ("cash", None) => Payment::Cash,
        _ => return Err(rows::corrupt("recurring_orders.payment")),
    };
    let created_by: Option<i64> = row.try_get("created_by")?;
    Ok(RecurringRow {
        id: int("id")?,
        account_id: int("account_id")?,
        address_id: int("address_id")?,
        product: ProductCode(
            u16::try_from(int("product_code")?)
                .map_err(|_| rows::corrupt("recurring_orders.product_code"))?,
        ),
        bottles: u16::try_from(int("bottles")?)
            .map_err(|_| rows::corrupt("recurring_orders.bottles"))?,
        slot: Slot::parse(&slot).ok_or_else(|| rows::corrupt("recurring_orders.slot"))?,
        note: row.try_get("note")?,
        payment,
        rule,
        next_date: row.try_get("next_date")?,
        paused_at: row.try_get("paused_at")?,
        created_by: created_by.map(|id| UserId(id as u64)),
    })
}

async fn fetch(conn: &mut AnyConnection, id: i64) -> StoreResult<RecurringRow> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM recurring_orders WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    recurring(&row)
}

async fn of_account(conn: &mut AnyConnection, account_id: i64) -> StoreResult<Vec<RecurringRow>> {
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM recurring_orders WHERE account_id = $1 ORDER BY id"
    )))
    .bind(account_id)
    .fetch_all(conn)
    .await?;
    found.iter().map(recurring).collect()
}

/// One recurring order's changes wait for each other, across instances.
async fn lock(conn: &mut AnyConnection, id: i64, now: i64) -> StoreResult<()> {
    lock_key(conn, "recurring", &id.to_be_bytes(), now).await
}

/// What the job's step for one day came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayOutcome {
    /// The day's order was made.
    Ordered(i64),
    /// The day was skipped and the customer told.
    Skipped,
    /// Another instance (or a pause, resume or delete) changed the recurring order first:
    /// nothing was written.
    Stale,
}

/// What the job decided for one day, before its transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayPlan {
    /// Place this order; if the book no longer covers it, queue these messages instead.
    Order(NewOrderRow, Vec<NewNotification>),
    /// The order cannot be placed: queue these messages.
    Skip(Vec<NewNotification>),
}

impl Store {
    /// Stores a recurring order unless the account holds `max` already (`None` then).
    pub async fn insert_recurring(
        &self,
        new: &NewRecurringRow,
        max: usize,
        audit: impl FnOnce(i64) -> AuditEntry,
        now: i64,
    ) -> StoreResult<Option<i64>> {
        let mut tx = self.begin_write().await?;
        lock_key(
            &mut tx,
            "recurring-account",
            &new.account_id.to_be_bytes(),
            now,
        )
        .await?;
        if of_account(&mut tx, new.account_id).await?.len() >= max {
            return Ok(None);
        }
        let (every_days, weekday) = match new.rule {
            Rule::EveryDays(days) => (Some(i64::from(days)), None),
            Rule::Weekly(day) => (None, Some(i64::from(day))),
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO recurring_orders (account_id, address_id, product_code, bottles, slot, \
             note, payment, book_id, every_days, weekday, next_date, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        )
        .bind(new.account_id)
        .bind(new.address_id)
        .bind(i64::from(new.product.0))
        .bind(i64::from(new.bottles))
        .bind(new.slot.as_str())
        .bind(&new.note)
        .bind(new.payment.kind())
        .bind(new.payment.book().map(|book| book.0 as i64))
        .bind(every_days)
        .bind(weekday)
        .bind(&new.next_date)
        .bind(new.created_by.map(|user| user.0 as i64))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        insert_audit(&mut tx, &audit(id), now).await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// One recurring order.
    pub async fn recurring_order(&self, id: i64) -> StoreResult<RecurringRow> {
        let mut conn = self.pool.acquire().await?;
        fetch(&mut conn, id).await
    }

    /// An account's recurring orders, oldest first.
    pub async fn recurring_of_account(&self, account_id: i64) -> StoreResult<Vec<RecurringRow>> {
        let mut conn = self.pool.acquire().await?;
        of_account(&mut conn, account_id).await
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
        lock(&mut tx, id, now).await?;
        let changed = sqlx::query(
            "UPDATE recurring_orders SET paused_at = $3, next_date = $4 \
             WHERE id = $1 AND account_id = $2",
        )
        .bind(id)
        .bind(account_id)
        .bind(paused_at)
        .bind(next_date)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
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
        lock(&mut tx, id, now).await?;
        if fetch(&mut tx, id).await?.account_id != account_id {
            return Err(StoreError::NotFound);
        }
        sqlx::query("UPDATE delivery_orders SET recurring_id = NULL WHERE recurring_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM recurring_orders WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await
    }

    /// Active recurring orders whose next day is `until` or earlier.
    pub async fn due_recurring(&self, until: &str) -> StoreResult<Vec<RecurringRow>> {
        let mut conn = self.pool.acquire().await?;
        let found = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM recurring_orders \
             WHERE paused_at IS NULL AND next_date <= $1 ORDER BY id"
        )))
        .bind(until)
        .fetch_all(&mut *conn)
        .await?;
        found.iter().map(recurring).collect()
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
        lock(&mut tx, id, now).await?;
        let current = match fetch(&mut tx, id).await {
            Ok(current) => current,
            Err(StoreError::NotFound) => return Ok(DayOutcome::Stale),
            Err(err) => return Err(err),
        };
        if current.paused_at.is_some() || current.next_date != day {
            return Ok(DayOutcome::Stale);
        }
        let outcome = match plan {
            DayPlan::Order(row, short_messages) => match place_in(&mut tx, &row, now).await? {
                Placed::Order(order) => {
                    insert_audit(&mut tx, &audit(order, &row), now).await?;
                    DayOutcome::Ordered(order)
                }
                Placed::Short { .. } => {
                    outbox::enqueue(&mut tx, &short_messages, now).await?;
                    DayOutcome::Skipped
                }
            },
            DayPlan::Skip(messages) => {
                outbox::enqueue(&mut tx, &messages, now).await?;
                DayOutcome::Skipped
            }
        };
        sqlx::query("UPDATE recurring_orders SET next_date = $2 WHERE id = $1")
            .bind(id)
            .bind(next)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(outcome)
    }
}

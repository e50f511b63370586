//! Recurring orders (周期订水, docs/deliveries.md): the rows and their SQL. The job's step (a
//! `Store` method in `deliveries`) makes one day's order and moves `next_date` on in one
//! transaction, under the recurring order's lock, so several server instances running the job
//! make each day's order once.

use shuipiao_shared::ids::{BookId, ProductCode, UserId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::store::delivery_orders::{NewOrderRow, Payment, Placed, Slot, place_in};
use crate::store::models::{AuditEntry, NewNotification};
use crate::store::tx::{insert_audit, lock_key};
use crate::store::{StoreError, StoreResult, outbox, rows};

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

/// One recurring order, `NotFound` if there is none.
pub(super) async fn fetch(conn: &mut AnyConnection, id: i64) -> StoreResult<RecurringRow> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM recurring_orders WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    recurring(&row)
}

/// An account's recurring orders, oldest first.
pub(super) async fn of_account(
    conn: &mut AnyConnection,
    account_id: i64,
) -> StoreResult<Vec<RecurringRow>> {
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM recurring_orders WHERE account_id = $1 ORDER BY id"
    )))
    .bind(account_id)
    .fetch_all(conn)
    .await?;
    found.iter().map(recurring).collect()
}

/// One recurring order's changes wait for each other, across instances.
pub(super) async fn lock(conn: &mut AnyConnection, id: i64, now: i64) -> StoreResult<()> {
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

/// Serialises the creation of an account's recurring orders, so two at once cannot both pass
/// the account's limit.
pub(super) async fn lock_account(
    conn: &mut AnyConnection,
    account_id: i64,
    now: i64,
) -> StoreResult<()> {
    lock_key(conn, "recurring-account", &account_id.to_be_bytes(), now).await
}

/// Stores a new recurring order; returns its id.
pub(super) async fn insert(
    conn: &mut AnyConnection,
    new: &NewRecurringRow,
    now: i64,
) -> StoreResult<i64> {
    let (every_days, weekday) = match new.rule {
        Rule::EveryDays(days) => (Some(i64::from(days)), None),
        Rule::Weekly(day) => (None, Some(i64::from(day))),
    };
    Ok(sqlx::query_scalar(
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
    .fetch_one(conn)
    .await?)
}

/// Sets the pause and the next day of recurring order `id` of `account_id`; `NotFound` if it is
/// not one.
pub(super) async fn set_paused(
    conn: &mut AnyConnection,
    account_id: i64,
    id: i64,
    paused_at: Option<i64>,
    next_date: &str,
) -> StoreResult<()> {
    let changed = sqlx::query(
        "UPDATE recurring_orders SET paused_at = $3, next_date = $4 \
         WHERE id = $1 AND account_id = $2",
    )
    .bind(id)
    .bind(account_id)
    .bind(paused_at)
    .bind(next_date)
    .execute(conn)
    .await?
    .rows_affected();
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Deletes recurring order `id`, first unlinking the orders it made.
pub(super) async fn delete(conn: &mut AnyConnection, id: i64) -> StoreResult<()> {
    sqlx::query("UPDATE delivery_orders SET recurring_id = NULL WHERE recurring_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM recurring_orders WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Active recurring orders whose next day is `until` or earlier.
pub(super) async fn due(conn: &mut AnyConnection, until: &str) -> StoreResult<Vec<RecurringRow>> {
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM recurring_orders \
         WHERE paused_at IS NULL AND next_date <= $1 ORDER BY id"
    )))
    .bind(until)
    .fetch_all(conn)
    .await?;
    found.iter().map(recurring).collect()
}

/// Whether recurring order `id` is still active and due for `day`: `false` if another instance,
/// or a pause, resume or delete, changed it first. Read it under [`lock`].
pub(super) async fn still_due(conn: &mut AnyConnection, id: i64, day: &str) -> StoreResult<bool> {
    let current = match fetch(conn, id).await {
        Ok(current) => current,
        Err(StoreError::NotFound) => return Ok(false),
        Err(err) => return Err(err),
    };
    Ok(current.paused_at.is_none() && current.next_date == day)
}

/// Carries out a day's `plan`: the order and its audit entry, or the skip messages when the
/// order cannot be placed.
pub(super) async fn carry_out(
    conn: &mut AnyConnection,
    plan: DayPlan,
    audit: impl FnOnce(i64, &NewOrderRow) -> AuditEntry,
    now: i64,
) -> StoreResult<DayOutcome> {
    Ok(match plan {
        DayPlan::Order(row, short_messages) => match place_in(conn, &row, now).await? {
            Placed::Order(order) => {
                insert_audit(conn, &audit(order, &row), now).await?;
                DayOutcome::Ordered(order)
            }
            Placed::Short { .. } => {
                outbox::enqueue(conn, &short_messages, now).await?;
                DayOutcome::Skipped
            }
        },
        DayPlan::Skip(messages) => {
            outbox::enqueue(conn, &messages, now).await?;
            DayOutcome::Skipped
        }
    })
}

/// Moves recurring order `id`'s next day to `next`.
pub(super) async fn set_next_date(
    conn: &mut AnyConnection,
    id: i64,
    next: &str,
) -> StoreResult<()> {
    sqlx::query("UPDATE recurring_orders SET next_date = $2 WHERE id = $1")
        .bind(id)
        .bind(next)
        .execute(conn)
        .await?;
    Ok(())
}

//! Recurring orders (周期订水, docs/deliveries.md): a customer makes one under the rules of an
//! order except the day, pauses, resumes and deletes it; the background [`run`] job makes each
//! due day's order (today's or tomorrow's) and moves `next_date` on in one transaction, exactly
//! once across server instances, or skips the day and tells the customer through the outbox.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::local_time;
use crate::notify;
use crate::ordering::orders::{Parts, check_book, check_parts, placed_audit};
use crate::ordering::{OrderingError, ordering_account, slots};
use crate::store::delivery_orders::{NewOrderRow, Slot};
use crate::store::models::{AuditEntry, MessageKind, NewNotification, User};
use crate::store::recurring_orders::{DayOutcome, DayPlan, NewRecurringRow, RecurringRow, Rule};
use crate::store::{Store, StoreError, StoreResult};
use crate::wallet;

/// Most recurring orders an account keeps.
pub const MAX_RECURRING: usize = 10;

/// A recurring order as asked for: an order without its day, and a rule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecurringInput {
    /// One of the account's live addresses.
    pub address_id: i64,
    /// The product's code.
    pub product: i64,
    /// 1–50 bottles.
    pub bottles: i64,
    /// `morning` or `afternoon`.
    pub slot: String,
    /// A note for the courier, at most 100 characters.
    #[serde(default)]
    pub note: String,
    /// `tickets`, `account` or `cash`.
    pub payment: String,
    /// The book `tickets` orders reserve on.
    #[serde(default)]
    pub book_id: Option<u64>,
    /// Every N days (1–60); exactly one of this and `weekday`.
    #[serde(default)]
    pub every_days: Option<i64>,
    /// Weekly on this ISO weekday (1 Monday … 7 Sunday).
    #[serde(default)]
    pub weekday: Option<i64>,
    /// The first day it may order for (`YYYY-MM-DD`, Beijing, from today on).
    pub start_date: String,
}

fn rule(every_days: Option<i64>, weekday: Option<i64>) -> Result<Rule, OrderingError> {
    match (every_days, weekday) {
        (Some(days @ 1..=60), None) => Ok(Rule::EveryDays(days as u16)),
        (None, Some(day @ 1..=7)) => Ok(Rule::Weekly(day as u8)),
        _ => Err(OrderingError::RecurringRule),
    }
}

/// The first day on or after `from` that `rule` orders on.
fn first_on_or_after(rule: Rule, from: &str) -> Option<String> {
    match rule {
        Rule::EveryDays(_) => Some(from.to_string()),
        Rule::Weekly(day) => {
            let today = local_time::weekday(from)?;
            local_time::add_days(from, i64::from((day + 7 - today) % 7))
        }
    }
}

/// The day after `day` that `rule` orders on.
fn after(rule: Rule, day: &str) -> Option<String> {
    match rule {
        Rule::EveryDays(days) => local_time::add_days(day, i64::from(days)),
        Rule::Weekly(_) => local_time::add_days(day, 7),
    }
}

/// `user` makes a recurring order for their account.
pub async fn create(
    store: &Store,
    user: &User,
    input: &RecurringInput,
    now: i64,
) -> Result<RecurringView, OrderingError> {
    let parts = Parts {
        address_id: input.address_id,
        product: input.product,
        bottles: input.bottles,
        note: &input.note,
        payment: &input.payment,
        book_id: input.book_id,
    };
    let (checked, _) = check_parts(store, user, parts).await?;
    let slot = Slot::parse(input.slot.trim()).ok_or(OrderingError::SlotChoice)?;
    let rule = rule(input.every_days, input.weekday)?;
    let today = local_time::date(now);
    let start = input.start_date.trim();
    if local_time::day_start(start).is_none() || start < today.as_str() {
        return Err(OrderingError::StartDate);
    }
    let mut next = first_on_or_after(rule, start).ok_or(OrderingError::StartDate)?;
    // A first day whose slot is already closed today starts the rule on its following day.
    if next == today
        && slots::check_open(store, checked.address.region_id, &next, slot.as_str(), now)
            .await
            .is_err()
    {
        next = after(rule, &next).ok_or(OrderingError::StartDate)?;
    }
    let new = NewRecurringRow {
        account_id: checked.account,
        address_id: checked.address.id,
        product: checked.product,
        bottles: checked.bottles,
        slot,
        note: checked.note,
        payment: checked.payment,
        rule,
        next_date: next,
        created_by: Some(user.id),
    };
    let id = store
        .insert_recurring(
            &new,
            MAX_RECURRING,
            |id| {
                AuditEntry::new(
                    Some(user.id),
                    "recurring_order.create",
                    format!("recurring_order:{id}"),
                    json!({ "next_date": new.next_date, "bottles": new.bottles }),
                )
            },
            now,
        )
        .await?
        .ok_or(OrderingError::TooManyRecurring)?;
    one(store, user, id).await
}

/// Recurring order `id` of `user`'s account.
async fn own(store: &Store, user: &User, id: i64) -> Result<RecurringRow, OrderingError> {
    let account = ordering_account(user)?;
    match store.recurring_order(id).await {
        Ok(row) if row.account_id == account => Ok(row),
        Ok(_) | Err(StoreError::NotFound) => Err(OrderingError::UnknownRecurring),
        Err(err) => Err(err.into()),
    }
}

fn audit(user: &User, action: &'static str, id: i64) -> AuditEntry {
    AuditEntry::new(
        Some(user.id),
        action,
        format!("recurring_order:{id}"),
        json!({}),
    )
}

fn unknown(err: StoreError) -> OrderingError {
    match err {
        StoreError::NotFound => OrderingError::UnknownRecurring,
        err => err.into(),
    }
}

/// `user` pauses one of their account's recurring orders: it orders nothing until resumed.
pub async fn pause(
    store: &Store,
    user: &User,
    id: i64,
    now: i64,
) -> Result<RecurringView, OrderingError> {
    let row = own(store, user, id).await?;
    let entry = audit(user, "recurring_order.pause", id);
    store
        .set_recurring_paused(row.account_id, id, Some(now), &row.next_date, &entry, now)
        .await
        .map_err(unknown)?;
    one(store, user, id).await
}

/// `user` resumes one of their account's recurring orders; a next day already past moves to the
/// first day of its rule from tomorrow.
pub async fn resume(
    store: &Store,
    user: &User,
    id: i64,
    now: i64,
) -> Result<RecurringView, OrderingError> {
    let row = own(store, user, id).await?;
    let tomorrow = local_time::date(now + 86_400);
    let next = if row.next_date < tomorrow {
        first_on_or_after(row.rule, &tomorrow).unwrap_or(tomorrow)
    } else {
        row.next_date
    };
    let entry = audit(user, "recurring_order.resume", id);
    store
        .set_recurring_paused(row.account_id, id, None, &next, &entry, now)
        .await
        .map_err(unknown)?;
    one(store, user, id).await
}

/// `user` deletes one of their account's recurring orders; the orders it made stay.
pub async fn delete(store: &Store, user: &User, id: i64, now: i64) -> Result<(), OrderingError> {
    let row = own(store, user, id).await?;
    let entry = audit(user, "recurring_order.delete", id);
    store
        .delete_recurring(row.account_id, id, &entry, now)
        .await
        .map_err(unknown)
}

/// A recurring order as its account reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RecurringView {
    /// Its id.
    pub id: i64,
    /// Where to deliver.
    pub address_id: i64,
    /// The address on one line.
    pub address_line: String,
    /// The product's code.
    pub product: u16,
    /// The product's name.
    pub product_name: String,
    /// How many bottles each time.
    pub bottles: u16,
    /// `morning` or `afternoon`.
    pub slot: String,
    /// 上午 or 下午.
    pub slot_label: String,
    /// The note for the courier.
    pub note: String,
    /// `tickets`, `account` or `cash`.
    pub payment: String,
    /// 水票, 月结 or 货到付款.
    pub payment_label: String,
    /// The book tickets orders reserve on.
    pub book_id: Option<u64>,
    /// Every N days, if that is the rule.
    pub every_days: Option<u16>,
    /// Weekly on this ISO weekday, if that is the rule.
    pub weekday: Option<u8>,
    /// The rule in words: 每 3 天, 每周三.
    pub rule_label: String,
    /// The next day it orders for.
    pub next_date: String,
    /// Whether it is paused.
    pub paused: bool,
}

const WEEKDAYS: [&str; 7] = ["一", "二", "三", "四", "五", "六", "日"];

fn rule_label(rule: Rule) -> String {
    match rule {
        Rule::EveryDays(1) => "每天".to_string(),
        Rule::EveryDays(days) => format!("每 {days} 天"),
        Rule::Weekly(day) => format!("每周{}", WEEKDAYS[usize::from(day.clamp(1, 7)) - 1]),
    }
}

async fn present(store: &Store, row: RecurringRow) -> Result<RecurringView, OrderingError> {
    let names = wallet::Names::load(store).await?;
    let address = store.address(row.address_id).await?;
    let (every_days, weekday) = match row.rule {
        Rule::EveryDays(days) => (Some(days), None),
        Rule::Weekly(day) => (None, Some(day)),
    };
    Ok(RecurringView {
        id: row.id,
        address_id: row.address_id,
        address_line: address.line(),
        product: row.product.0,
        product_name: names.product(row.product.0),
        bottles: row.bottles,
        slot: row.slot.as_str().to_string(),
        slot_label: row.slot.label().to_string(),
        note: row.note,
        payment: row.payment.kind().to_string(),
        payment_label: row.payment.label().to_string(),
        book_id: row.payment.book().map(|book| book.0),
        every_days,
        weekday,
        rule_label: rule_label(row.rule),
        next_date: row.next_date,
        paused: row.paused_at.is_some(),
    })
}

/// One of `user`'s account's recurring orders.
pub async fn one(store: &Store, user: &User, id: i64) -> Result<RecurringView, OrderingError> {
    let row = own(store, user, id).await?;
    present(store, row).await
}

/// `user`'s account's recurring orders, oldest first.
pub async fn list(store: &Store, user: &User) -> Result<Vec<RecurringView>, OrderingError> {
    let account = ordering_account(user)?;
    let mut views = Vec::new();
    for row in store.recurring_of_account(account).await? {
        views.push(present(store, row).await?);
    }
    Ok(views)
}

/// What the job makes of `row`'s day `day`: the order, placed as its maker would place it (so
/// every rule of an order holds on the day), or why it cannot be.
async fn plan(
    store: &Store,
    row: &RecurringRow,
    day: &str,
    now: i64,
) -> StoreResult<Result<NewOrderRow, OrderingError>> {
    let maker = match row.created_by {
        Some(maker) => match store.user(maker).await {
            Ok(user) => user,
            Err(StoreError::NotFound) => return Ok(Err(OrderingError::NotOrderer)),
            Err(err) => return Err(err),
        },
        None => return Ok(Err(OrderingError::NotOrderer)),
    };
    let parts = Parts {
        address_id: row.address_id,
        product: i64::from(row.product.0),
        bottles: i64::from(row.bottles),
        note: &row.note,
        payment: row.payment.kind(),
        book_id: row.payment.book().map(|book| book.0),
    };
    let checked = check_parts(store, &maker, parts).await;
    let (checked, book) = match checked {
        Ok(parts) => parts,
        Err(OrderingError::Store(err)) => return Err(err),
        Err(refused) => return Ok(Err(refused)),
    };
    let open = slots::check_open(
        store,
        checked.address.region_id,
        day,
        row.slot.as_str(),
        now,
    )
    .await;
    let slot = match open {
        Ok(slot) => slot,
        Err(OrderingError::Store(err)) => return Err(err),
        Err(refused) => return Ok(Err(refused)),
    };
    if let Err(refused) = check_book(book.as_ref(), day) {
        return Ok(Err(refused));
    }
    Ok(Ok(checked.row(&maker, day, slot, Some(row.id))))
}

/// The messages telling `row`'s account that `day` was skipped and why.
async fn skipped(
    store: &Store,
    row: &RecurringRow,
    day: &str,
    reason: &str,
) -> StoreResult<Vec<NewNotification>> {
    let body = notify::order_skipped_text(day, row.slot.label(), reason);
    let key = format!("order_skipped:{}:{day}", row.id);
    notify::for_account(
        store,
        row.account_id,
        MessageKind::OrderSkipped,
        &body,
        Some(&key),
    )
    .await
}

/// Why a day was skipped when the book no longer covered the bottles.
const SHORT_REASON: &str = "水票可订数量不足";

/// What one run of the job did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunReport {
    /// Orders made.
    pub ordered: u32,
    /// Days skipped, each told to the customer.
    pub skipped: u32,
}

/// The job: for every active recurring order whose next day is today or tomorrow (Beijing),
/// makes that day's order and moves `next_date` on; a day that cannot be placed is skipped and
/// the customer told. Days already past (the server was down) are passed over silently. Safe to
/// run on several instances at once: each day is taken under the recurring order's lock and
/// only while `next_date` still names it.
pub async fn run(store: &Store, now: i64) -> StoreResult<RunReport> {
    let today = local_time::date(now);
    let tomorrow = local_time::date(now + 86_400);
    let mut report = RunReport::default();
    for mut row in store.due_recurring(&tomorrow).await? {
        while row.next_date <= tomorrow && row.paused_at.is_none() {
            let day = row.next_date.clone();
            let Some(next) = after(row.rule, &day) else {
                tracing::warn!(id = row.id, day, "recurring order with an unreadable day");
                break;
            };
            let plan = if day < today {
                DayPlan::Skip(Vec::new())
            } else {
                match plan(store, &row, &day, now).await? {
                    Ok(order) => {
                        // Told only if the book turns out short under its lock.
                        let messages = skipped(store, &row, &day, SHORT_REASON).await?;
                        DayPlan::Order(order, messages)
                    }
                    Err(refused) => {
                        DayPlan::Skip(skipped(store, &row, &day, &refused.to_string()).await?)
                    }
                }
            };
            let past = day < today;
            match store
                .run_recurring_day(
                    row.id,
                    &day,
                    &next,
                    plan,
                    |id, order| placed_audit(None, id, order),
                    now,
                )
                .await?
            {
                DayOutcome::Ordered(_) => report.ordered += 1,
                DayOutcome::Skipped if !past => report.skipped += 1,
                DayOutcome::Skipped => {}
                DayOutcome::Stale => break,
            }
            row = match store.recurring_order(row.id).await {
                Ok(row) => row,
                Err(StoreError::NotFound) => break,
                Err(err) => return Err(err),
            };
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_find_their_days() {
        // 2026-12-07 is a Monday.
        assert_eq!(
            first_on_or_after(Rule::Weekly(3), "2026-12-07").as_deref(),
            Some("2026-12-09")
        );
        assert_eq!(
            first_on_or_after(Rule::Weekly(1), "2026-12-07").as_deref(),
            Some("2026-12-07")
        );
        assert_eq!(
            first_on_or_after(Rule::Weekly(7), "2026-12-08").as_deref(),
            Some("2026-12-13")
        );
        assert_eq!(
            after(Rule::EveryDays(3), "2026-12-30").as_deref(),
            Some("2027-01-02")
        );
        assert_eq!(
            after(Rule::Weekly(3), "2026-12-09").as_deref(),
            Some("2026-12-16")
        );
        assert_eq!(rule_label(Rule::Weekly(3)), "每周三");
        assert_eq!(rule_label(Rule::EveryDays(1)), "每天");
        assert!(rule(Some(0), None).is_err());
        assert!(rule(Some(3), Some(2)).is_err());
        assert!(rule(None, Some(8)).is_err());
    }
}

//! Rows for reports and the admin console: every device event flattened with who recorded it and
//! where, every book's figures, device activity, the support desk's book search and its ticket
//! updates. The figures themselves are computed by a pure module over these rows
//! (`web::admin::figures`), so the same numbers come out of SQLite and PostgreSQL.

use shuipiao_shared::event::{EventBody, Refusal, SignedEvent};
use shuipiao_shared::ids::{BookId, DeviceId, EventId, UserId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Row};

use crate::store::models::{Account, Book, Role, User};
use crate::store::{StoreError, StoreResult, rows};

/// What a device event was, as far as reports care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// Water delivered.
    Redemption {
        /// Units (bottles).
        units: u16,
        /// Product code.
        product: u16,
    },
    /// An earlier redemption undone by its device.
    Void {
        /// The undone redemption.
        target: EventId,
    },
    /// A refused scan.
    Refused(Refusal),
}

/// One device event with its context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportEvent {
    /// The event.
    pub event_id: EventId,
    /// Device clock, unix seconds.
    pub scanned_at: i64,
    /// Server clock at upload, unix seconds.
    pub received_at: i64,
    /// What happened.
    pub kind: ReportKind,
    /// The book, if known.
    pub book_id: Option<BookId>,
    /// The recording device.
    pub device_id: DeviceId,
    /// The courier or clerk the device works for.
    pub staff_id: UserId,
    /// The staff member's region (a clerk's through their store).
    pub region_id: Option<i64>,
    /// The clerk's store.
    pub outlet_id: Option<i64>,
    /// The event was ever put in the review queue (an anomaly).
    pub in_review: bool,
}

/// One book's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportBook {
    /// Book id.
    pub id: BookId,
    /// Product code.
    pub product: u16,
    /// Units issued.
    pub units: u16,
    /// Units counted by the ledger.
    pub used_units: u16,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// Issued to replace another book (lost ticket, key compromise).
    pub reissue: bool,
    /// Issued at, unix seconds.
    pub created_at: i64,
    /// Package of its order.
    pub package_id: Option<i64>,
}

/// Everything the statistics are computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportData {
    /// Device events, by device clock.
    pub events: Vec<ReportEvent>,
    /// Books, by id.
    pub books: Vec<ReportBook>,
}

/// What a device has uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceActivity {
    /// The device.
    pub device_id: DeviceId,
    /// Server time of its latest upload, if any.
    pub last_push_at: Option<i64>,
    /// Events it uploaded.
    pub events: i64,
}

fn report_event(row: &AnyRow) -> StoreResult<ReportEvent> {
    let signed: Vec<u8> = row.try_get("signed")?;
    let event = SignedEvent::from_bytes(&signed)
        .map_err(|_| rows::corrupt("events.signed"))?
        .event;
    let kind = match event.body {
        EventBody::Redemption { units, product, .. } => ReportKind::Redemption {
            units,
            product: product.0,
        },
        EventBody::Void { target, .. } => ReportKind::Void { target },
        EventBody::ScanAttempt { refusal, .. } => ReportKind::Refused(refusal),
    };
    let staff_id: i64 = row.try_get("staff_id")?;
    let in_review: i64 = row.try_get("in_review")?;
    Ok(ReportEvent {
        event_id: event.event_id,
        scanned_at: i64::try_from(event.scanned_at).map_err(|_| rows::corrupt("scanned_at"))?,
        received_at: row.try_get("received_at")?,
        kind,
        book_id: event.body.book_id(),
        device_id: event.device_id,
        staff_id: UserId(staff_id as u64),
        region_id: row.try_get("region_id")?,
        outlet_id: row.try_get("outlet_id")?,
        in_review: in_review != 0,
    })
}

fn report_book(row: &AnyRow) -> StoreResult<ReportBook> {
    let number = |column: &str| -> StoreResult<i64> { Ok(row.try_get::<i64, _>(column)?) };
    let small = |column: &str| -> StoreResult<u16> {
        u16::try_from(number(column)?).map_err(|_| rows::corrupt(column))
    };
    let source: String = row.try_get("source")?;
    Ok(ReportBook {
        id: BookId(number("id")? as u64),
        product: small("product_code")?,
        units: small("units")?,
        used_units: small("used_units")?,
        revoked_at: row.try_get("revoked_at")?,
        reissue: source == "reissue",
        created_at: number("created_at")?,
        package_id: row.try_get("package_id")?,
    })
}

/// Every event and book.
pub(super) async fn data(pool: &AnyPool) -> StoreResult<ReportData> {
    let events = sqlx::query(
        "SELECT e.signed, e.received_at, u.id AS staff_id, \
         COALESCE(u.region_id, o.region_id) AS region_id, u.outlet_id, \
         CAST(CASE WHEN q.event_id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS in_review \
         FROM events e JOIN devices d ON d.id = e.device_id JOIN users u ON u.id = d.user_id \
         LEFT JOIN outlets o ON o.id = u.outlet_id \
         LEFT JOIN review_queue q ON q.event_id = e.event_id \
         ORDER BY e.scanned_at, e.event_id",
    )
    .fetch_all(pool)
    .await?;
    let books = sqlx::query(
        "SELECT b.id, b.product_code, b.units, b.used_units, b.revoked_at, b.created_at, \
         b.source, o.package_id FROM books b LEFT JOIN orders o ON o.id = b.order_id ORDER BY b.id",
    )
    .fetch_all(pool)
    .await?;
    Ok(ReportData {
        events: events
            .iter()
            .map(report_event)
            .collect::<StoreResult<_>>()?,
        books: books.iter().map(report_book).collect::<StoreResult<_>>()?,
    })
}

/// Uploads per device.
pub(super) async fn device_activity(pool: &AnyPool) -> StoreResult<Vec<DeviceActivity>> {
    let found: Vec<(i64, Option<i64>, i64)> = sqlx::query_as(
        "SELECT d.id, MAX(e.received_at), COUNT(e.event_id) FROM devices d \
         LEFT JOIN events e ON e.device_id = d.id GROUP BY d.id ORDER BY d.id",
    )
    .fetch_all(pool)
    .await?;
    Ok(found
        .into_iter()
        .map(|(id, last_push_at, events)| DeviceActivity {
            device_id: DeviceId(id as u64),
            last_push_at,
            events,
        })
        .collect())
}

/// `LIKE` pattern matching `text` anywhere, with the wildcards in it taken literally.
fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Books whose id is `id`, or whose QR text is `text`, or whose account name contains `text`, or
/// whose holder (or holder's enterprise) signs in as `text`; newest first. `select_books` selects
/// books as `b` (see `sql.rs`).
pub(super) async fn search_books(
    pool: &AnyPool,
    select_books: &str,
    id: Option<BookId>,
    text: &str,
    limit: u32,
) -> StoreResult<Vec<Book>> {
    let sql = format!(
        "{select_books} JOIN accounts a ON a.id = b.account_id \
         WHERE b.id = $1 OR b.qr_text = $2 OR a.name LIKE $3 ESCAPE '\\' \
         OR b.account_id IN (SELECT u.account_id FROM users u WHERE u.username = $2) \
         OR a.enterprise_id IN (SELECT u.account_id FROM users u WHERE u.username = $2) \
         ORDER BY b.id DESC LIMIT $4"
    );
    let found = sqlx::query(AssertSqlSafe(sql))
        .bind(id.map_or(-1, |id| id.0 as i64))
        .bind(text)
        .bind(if text.is_empty() {
            String::new()
        } else {
            contains_pattern(text)
        })
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    found.iter().map(rows::book).collect()
}

/// Sign-ups per referring courier or clerk in `[from, to)`.
pub(super) async fn guided_customers(
    pool: &AnyPool,
    from: i64,
    to: i64,
) -> StoreResult<Vec<(UserId, i64)>> {
    let found: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT s.referrer_id, COUNT(*) FROM signups s JOIN users r ON r.id = s.referrer_id \
         WHERE r.role IN ('courier', 'store_staff') AND s.created_at >= $1 AND s.created_at < $2 \
         GROUP BY s.referrer_id ORDER BY s.referrer_id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(found
        .into_iter()
        .map(|(id, n)| (UserId(id as u64), n))
        .collect())
}

/// Notifications created since `since` and given up on.
pub(super) async fn dead_notifications(pool: &AnyPool, since: i64) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM notifications WHERE state = 'dead' AND created_at >= $1",
    )
    .bind(since)
    .fetch_one(pool)
    .await?)
}

/// Every account.
pub(super) async fn accounts(pool: &AnyPool) -> StoreResult<Vec<Account>> {
    let found = sqlx::query("SELECT id, kind, name, enterprise_id FROM accounts ORDER BY id")
        .fetch_all(pool)
        .await?;
    found.iter().map(rows::account).collect()
}

/// Every user.
pub(super) async fn users(pool: &AnyPool) -> StoreResult<Vec<User>> {
    let found = sqlx::query("SELECT * FROM users ORDER BY id")
        .fetch_all(pool)
        .await?;
    found.iter().map(rows::user).collect()
}

/// Sets a feedback item's state and assignee, inside the caller's transaction.
pub(super) async fn update_feedback(
    conn: &mut AnyConnection,
    id: i64,
    state: &str,
    assignee: Option<UserId>,
    now: i64,
) -> StoreResult<()> {
    let changed = sqlx::query(
        "UPDATE feedback SET state = $1, assignee_id = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(state)
    .bind(assignee.map(|user| user.0 as i64))
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected();
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Sets a user's role and whether they are disabled, inside the caller's transaction; disabling
/// ends their sessions.
pub(super) async fn update_user(
    conn: &mut AnyConnection,
    id: UserId,
    role: Role,
    disabled: bool,
    now: i64,
) -> StoreResult<User> {
    let row = sqlx::query("SELECT * FROM users WHERE id = $1")
        .bind(id.0 as i64)
        .fetch_one(&mut *conn)
        .await?;
    let before = rows::user(&row)?;
    let disabled_at = disabled.then(|| before.disabled_at.unwrap_or(now));
    sqlx::query("UPDATE users SET role = $1, disabled_at = $2 WHERE id = $3")
        .bind(role.as_str())
        .bind(disabled_at)
        .bind(id.0 as i64)
        .execute(&mut *conn)
        .await?;
    if disabled {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id.0 as i64)
            .execute(&mut *conn)
            .await?;
    }
    let row = sqlx::query("SELECT * FROM users WHERE id = $1")
        .bind(id.0 as i64)
        .fetch_one(&mut *conn)
        .await?;
    rows::user(&row)
}

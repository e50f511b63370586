//! Rows for reports and the admin console: device events and books counted by SQL aggregation
//! (grouped by time bucket, device, kind, product and refusal), device activity and sync reports,
//! the console's totals, guided sign-ups and given-up notifications. The figures themselves are computed by a pure
//! module over these groups (`web::admin::figures`), so the same numbers come out of SQLite and
//! PostgreSQL, and a request costs the groups of its period, not every event ever stored.
//!
//! Buckets are Beijing (UTC+8) hours or days, the calendar the figures are read in.

use shuipiao_shared::event::{DeliveryOutcome, EventBody, Refusal, SignedEvent};
use shuipiao_shared::ids::{DeviceId, UserId};
use shuipiao_shared::verdict::RejectReason;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, AssertSqlSafe, Row};

use crate::store::models::Summary;
use crate::store::{StoreError, StoreResult, rows};

/// Seconds Beijing time is ahead of UTC (no daylight saving).
pub const BEIJING_OFFSET: i64 = 8 * 3_600;

/// How finely events are grouped in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Beijing hours (for usage by hour of day).
    Hour,
    /// Beijing days.
    Day,
}

impl Bucket {
    fn seconds(self) -> i64 {
        match self {
            Bucket::Hour => 3_600,
            Bucket::Day => 86_400,
        }
    }
}

/// The decoded parts of a device event that statistics group by, stored beside its signed
/// bytes: a redemption's units and product, a void's target, a scan attempt's refusal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct FigureColumns {
    pub units: Option<i64>,
    pub product_code: Option<i64>,
    pub refusal: Option<i64>,
    pub void_target: Option<String>,
    pub delivery: Option<DeliveryColumns>,
}

/// What statistics, orders and buckets read of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DeliveryColumns {
    pub order_id: i64,
    pub outcome: &'static str,
    pub bottles: i64,
    pub empties: i64,
    pub deposits: i64,
}

/// The `outcome` column of a delivery.
pub fn outcome_text(outcome: &DeliveryOutcome) -> &'static str {
    match outcome {
        DeliveryOutcome::Tickets { .. } => "tickets",
        DeliveryOutcome::Account { .. } => "account",
        DeliveryOutcome::Cash { .. } => "cash",
        DeliveryOutcome::NotDelivered { .. } => "not_delivered",
    }
}

impl FigureColumns {
    pub fn of(body: &EventBody) -> FigureColumns {
        match *body {
            EventBody::Redemption { units, product, .. } => FigureColumns {
                units: Some(i64::from(units)),
                product_code: Some(i64::from(product.0)),
                ..FigureColumns::default()
            },
            EventBody::Void { target, .. } => FigureColumns {
                void_target: Some(target.0.to_string()),
                ..FigureColumns::default()
            },
            EventBody::ScanAttempt { refusal, .. } => FigureColumns {
                refusal: Some(i64::from(match refusal {
                    Refusal::AlreadyUsed => 0,
                    Refusal::Rejected(reason) => reason.code(),
                })),
                ..FigureColumns::default()
            },
            EventBody::Delivery {
                order_id,
                outcome,
                empties,
            } => FigureColumns {
                delivery: Some(DeliveryColumns {
                    // Orders past i64 are refused at the push (out of range).
                    order_id: order_id as i64,
                    outcome: outcome_text(&outcome),
                    bottles: i64::from(outcome.bottles()),
                    empties: i64::from(empties),
                    deposits: i64::from(outcome.deposits()),
                }),
                ..FigureColumns::default()
            },
        }
    }
}

/// The refusal stored as `code` in `events.refusal` (the event encoding's code).
fn refusal_of(code: i64) -> StoreResult<Refusal> {
    match u8::try_from(code).map_err(|_| rows::corrupt("events.refusal"))? {
        0 => Ok(Refusal::AlreadyUsed),
        code => RejectReason::from_code(code)
            .map(Refusal::Rejected)
            .ok_or_else(|| rows::corrupt("events.refusal")),
    }
}

/// Fills the figure columns of events stored before they existed (listed in
/// `events_undecoded`), a thousand per transaction; a no-op once the list is empty.
pub(super) async fn decode_old_events(
    pool: &AnyPool,
    begin_write: &'static str,
) -> StoreResult<()> {
    loop {
        let mut tx = pool.begin_with(begin_write).await?;
        let found: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT u.event_id, e.signed FROM events_undecoded u \
             JOIN events e ON e.event_id = u.event_id ORDER BY u.event_id LIMIT 1000",
        )
        .fetch_all(&mut *tx)
        .await?;
        for (event_id, signed) in &found {
            let event = SignedEvent::from_bytes(signed)
                .map_err(|_| rows::corrupt("events.signed"))?
                .event;
            let figures = FigureColumns::of(&event.body);
            sqlx::query(
                "UPDATE events SET units = $1, product_code = $2, refusal = $3, void_target = $4 \
                 WHERE event_id = $5",
            )
            .bind(figures.units)
            .bind(figures.product_code)
            .bind(figures.refusal)
            .bind(figures.void_target)
            .bind(event_id.as_str())
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM events_undecoded WHERE event_id = $1")
                .bind(event_id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if found.is_empty() {
            return Ok(());
        }
    }
}

/// What a group of device events was, as far as reports care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// Water delivered.
    Redemption {
        /// Product code.
        product: u16,
    },
    /// Earlier redemptions undone by their device.
    Void,
    /// Refused scans.
    Refused(Refusal),
}

/// Device events of one kind recorded by one device in one time bucket, counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventGroup {
    /// First second of the bucket (device clock).
    pub at: i64,
    /// What happened.
    pub kind: ReportKind,
    /// The courier or clerk the device works for.
    pub staff_id: UserId,
    /// The staff member's region (a clerk's through their store).
    pub region_id: Option<i64>,
    /// The clerk's store.
    pub outlet_id: Option<i64>,
    /// Events in the group.
    pub events: i64,
    /// Bottles delivered: units of the group's redemptions that no void undid.
    pub bottles: i64,
    /// Events of the group in the review queue (anomalies).
    pub anomalies: i64,
}

/// Books issued on one day of one product and package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookGroup {
    /// First second of the Beijing day they were issued.
    pub day: i64,
    /// Product code.
    pub product: u16,
    /// Package of their order.
    pub package_id: Option<i64>,
    /// Issued to replace other books (lost ticket, key compromise).
    pub reissue: bool,
    /// Books.
    pub books: i64,
    /// Units issued.
    pub units: i64,
}

/// Units taken back by revocation on one day: what the revoked books had left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevokedDay {
    /// First second of the Beijing day.
    pub day: i64,
    /// Units the books still had.
    pub units: i64,
}

/// Everything the statistics of a span `[from, to)` are computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportData {
    /// First second of the span.
    pub from: i64,
    /// Device events of the span, by bucket.
    pub events: Vec<EventGroup>,
    /// Books issued in the span, by day.
    pub books: Vec<BookGroup>,
    /// Revocations in the span, by day.
    pub revoked: Vec<RevokedDay>,
    /// Unused units before the span: units issued, less units taken back by revocation, less
    /// bottles delivered.
    pub unused_before: i64,
    /// Unused units of live books now.
    pub unused_now: i64,
}

/// Delivery events of one courier at the doors of one customer region, delivered or not,
/// counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryGroup {
    /// The courier the device works for.
    pub staff_id: UserId,
    /// The region of the order's address; `None` for an event naming no order the server knows.
    pub region_id: Option<i64>,
    /// Whether the water was handed over (not 未送达).
    pub delivered: bool,
    /// Delivery events.
    pub events: i64,
    /// Full buckets handed over.
    pub bottles: i64,
    /// Empty buckets taken back.
    pub empties: i64,
    /// Buckets whose deposit was taken at the door.
    pub deposits: i64,
}

/// What a device has uploaded, and what it last reported about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceActivity {
    /// The device.
    pub device_id: DeviceId,
    /// Server time of its latest upload, if any.
    pub last_push_at: Option<i64>,
    /// Events it uploaded.
    pub events: i64,
    /// Events it held that the server had not stored, as it last reported.
    pub pending_events: Option<i64>,
    /// The error of its failed sync before that report, if any.
    pub last_sync_error: Option<String>,
    /// Server time of that report.
    pub reported_at: Option<i64>,
}

/// `NOT EXISTS` clause true for redemptions `e` that no void undid.
const NOT_VOIDED: &str = "NOT EXISTS (SELECT 1 FROM events v WHERE v.void_target = e.event_id)";

fn event_group(row: &AnyRow, bucket: Bucket) -> StoreResult<EventGroup> {
    let kind: String = row.try_get("kind")?;
    let product: Option<i64> = row.try_get("product_code")?;
    let refusal: Option<i64> = row.try_get("refusal")?;
    let kind = match (kind.as_str(), product, refusal) {
        ("redemption", Some(product), _) => ReportKind::Redemption {
            product: u16::try_from(product).map_err(|_| rows::corrupt("events.product_code"))?,
        },
        ("void", ..) => ReportKind::Void,
        ("scan_attempt", _, Some(code)) => ReportKind::Refused(refusal_of(code)?),
        _ => return Err(rows::corrupt("events.kind")),
    };
    let index: i64 = row.try_get("bucket")?;
    let staff_id: i64 = row.try_get("staff_id")?;
    Ok(EventGroup {
        at: index * bucket.seconds() - BEIJING_OFFSET,
        kind,
        staff_id: UserId(staff_id as u64),
        region_id: row.try_get("region_id")?,
        outlet_id: row.try_get("outlet_id")?,
        events: row.try_get("n_events")?,
        bottles: row.try_get("bottles")?,
        anomalies: row.try_get("anomalies")?,
    })
}

fn book_group(row: &AnyRow) -> StoreResult<BookGroup> {
    let day: i64 = row.try_get("day")?;
    let product: i64 = row.try_get("product_code")?;
    let reissue: i64 = row.try_get("reissue")?;
    Ok(BookGroup {
        day: day * 86_400 - BEIJING_OFFSET,
        product: u16::try_from(product).map_err(|_| rows::corrupt("books.product_code"))?,
        package_id: row.try_get("package_id")?,
        reissue: reissue != 0,
        books: row.try_get("n_books")?,
        units: row.try_get("units")?,
    })
}

/// Device events and books of `[from, to)` counted per `bucket`, with the unused units before
/// it and now.
pub(super) async fn data(
    pool: &AnyPool,
    from: i64,
    to: i64,
    bucket: Bucket,
) -> StoreResult<ReportData> {
    // Grouped by device first, so the staff joins run once per group rather than per event.
    // Deliveries are not scans: the bottles they hand over are counted by their redemption (or
    // not at all for cash and account orders), and 核销成功率 is about scans only.
    let sql = format!(
        "SELECT g.bucket, g.kind, g.product_code, g.refusal, u.id AS staff_id, \
         COALESCE(u.region_id, o.region_id) AS region_id, u.outlet_id, \
         g.n_events, g.bottles, g.anomalies FROM ( \
           SELECT (e.scanned_at + {BEIJING_OFFSET}) / $3 AS bucket, e.device_id, e.kind, \
           e.product_code, e.refusal, COUNT(*) AS n_events, \
           CAST(SUM(CASE WHEN e.kind = 'redemption' AND {NOT_VOIDED} THEN e.units ELSE 0 END) \
             AS BIGINT) AS bottles, \
           CAST(SUM(CASE WHEN EXISTS (SELECT 1 FROM review_queue q \
             WHERE q.event_id = e.event_id) THEN 1 ELSE 0 END) AS BIGINT) AS anomalies \
           FROM events e \
           WHERE e.scanned_at >= $1 AND e.scanned_at < $2 AND e.kind <> 'delivery' \
           GROUP BY 1, e.device_id, e.kind, e.product_code, e.refusal \
         ) g JOIN devices d ON d.id = g.device_id JOIN users u ON u.id = d.user_id \
         LEFT JOIN outlets o ON o.id = u.outlet_id \
         ORDER BY g.bucket, u.id, g.kind, g.product_code, g.refusal"
    );
    let events = sqlx::query(AssertSqlSafe(sql))
        .bind(from)
        .bind(to)
        .bind(bucket.seconds())
        .fetch_all(pool)
        .await?;
    let books = sqlx::query(AssertSqlSafe(format!(
        "SELECT (b.created_at + {BEIJING_OFFSET}) / 86400 AS day, b.product_code, o.package_id, \
         CAST(CASE WHEN b.source = 'reissue' THEN 1 ELSE 0 END AS BIGINT) AS reissue, \
         COUNT(*) AS n_books, CAST(SUM(b.units) AS BIGINT) AS units \
         FROM books b LEFT JOIN orders o ON o.id = b.order_id \
         WHERE b.created_at >= $1 AND b.created_at < $2 \
         GROUP BY 1, b.product_code, o.package_id, 4 ORDER BY 1, 2, 3, 4"
    )))
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    const LEFT: &str = "CASE WHEN units > used_units THEN units - used_units ELSE 0 END";
    let revoked: Vec<(i64, i64)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT (revoked_at + {BEIJING_OFFSET}) / 86400, CAST(SUM({LEFT}) AS BIGINT) FROM books \
         WHERE revoked_at >= $1 AND revoked_at < $2 GROUP BY 1 ORDER BY 1"
    )))
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let (issued_before, revoked_before, unused_now): (i64, i64, i64) =
        sqlx::query_as(AssertSqlSafe(format!(
            "SELECT CAST(COALESCE(SUM(CASE WHEN created_at < $1 THEN units ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN revoked_at < $1 THEN {LEFT} ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN revoked_at IS NULL THEN {LEFT} ELSE 0 END), 0) AS BIGINT) \
             FROM books"
        )))
        .bind(from)
        .fetch_one(pool)
        .await?;
    let delivered_before: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT CAST(COALESCE(SUM(e.units), 0) AS BIGINT) FROM events e \
         WHERE e.scanned_at < $1 AND e.kind = 'redemption' AND {NOT_VOIDED}"
    )))
    .bind(from)
    .fetch_one(pool)
    .await?;
    Ok(ReportData {
        from,
        events: events
            .iter()
            .map(|row| event_group(row, bucket))
            .collect::<StoreResult<_>>()?,
        books: books.iter().map(book_group).collect::<StoreResult<_>>()?,
        revoked: revoked
            .into_iter()
            .map(|(day, units)| RevokedDay {
                day: day * 86_400 - BEIJING_OFFSET,
                units,
            })
            .collect(),
        unused_before: issued_before - revoked_before - delivered_before,
        unused_now,
    })
}

/// Delivery events of `[from, to)` by courier, the order's region and outcome. An order
/// delivered twice counts twice here, as the buckets did change hands twice; the review queue
/// says which of them the plant charges.
pub(super) async fn deliveries(
    pool: &AnyPool,
    from: i64,
    to: i64,
) -> StoreResult<Vec<DeliveryGroup>> {
    let found = sqlx::query(
        "SELECT d.user_id AS staff_id, o.region_id, \
         CAST(CASE WHEN e.outcome = 'not_delivered' THEN 0 ELSE 1 END AS BIGINT) AS delivered, \
         COUNT(*) AS n_events, CAST(SUM(COALESCE(e.bottles, 0)) AS BIGINT) AS bottles, \
         CAST(SUM(COALESCE(e.empties, 0)) AS BIGINT) AS empties, \
         CAST(SUM(COALESCE(e.deposits, 0)) AS BIGINT) AS deposits \
         FROM events e JOIN devices d ON d.id = e.device_id \
         LEFT JOIN delivery_orders o ON o.id = e.order_id \
         WHERE e.kind = 'delivery' AND e.scanned_at >= $1 AND e.scanned_at < $2 \
         GROUP BY d.user_id, o.region_id, 3 ORDER BY 1, 2, 3",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    found
        .iter()
        .map(|row| {
            let staff: i64 = row.try_get("staff_id")?;
            let delivered: i64 = row.try_get("delivered")?;
            Ok(DeliveryGroup {
                staff_id: UserId(staff as u64),
                region_id: row.try_get("region_id")?,
                delivered: delivered != 0,
                events: row.try_get("n_events")?,
                bottles: row.try_get("bottles")?,
                empties: row.try_get("empties")?,
                deposits: row.try_get("deposits")?,
            })
        })
        .collect()
}

/// Uploads per device and their last reports. A device's chain is gapless and stored in order,
/// so its tip's sequence number is its event count and the tip arrived last.
pub(super) async fn device_activity(pool: &AnyPool) -> StoreResult<Vec<DeviceActivity>> {
    let found = sqlx::query(
        "SELECT d.id, d.chain_seq, e.received_at, d.pending_events, d.last_sync_error, \
         d.reported_at FROM devices d \
         LEFT JOIN events e ON e.device_id = d.id AND e.device_seq = d.chain_seq ORDER BY d.id",
    )
    .fetch_all(pool)
    .await?;
    found
        .iter()
        .map(|row| {
            let id: i64 = row.try_get("id")?;
            Ok(DeviceActivity {
                device_id: DeviceId(id as u64),
                last_push_at: row.try_get("received_at")?,
                events: row.try_get("chain_seq")?,
                pending_events: row.try_get("pending_events")?,
                last_sync_error: row.try_get("last_sync_error")?,
                reported_at: row.try_get("reported_at")?,
            })
        })
        .collect()
}

/// Records what a device reported when it synced.
pub(super) async fn report_device_sync(
    pool: &AnyPool,
    device: DeviceId,
    pending_events: i64,
    last_sync_error: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    let changed = sqlx::query(
        "UPDATE devices SET pending_events = $1, last_sync_error = $2, reported_at = $3 \
         WHERE id = $4",
    )
    .bind(pending_events)
    .bind(last_sync_error)
    .bind(now)
    .bind(device.0 as i64)
    .execute(pool)
    .await?
    .rows_affected();
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// `LIKE` pattern matching `text` anywhere, with the wildcards in it taken literally.
pub(super) fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
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

/// Totals over books, events, devices and open review items.
pub(super) async fn summary(pool: &AnyPool) -> StoreResult<Summary> {
    let (books, units_issued, units_used, books_revoked): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(units), 0) AS BIGINT), CAST(COALESCE(SUM(used_units), 0) AS BIGINT), \
         COUNT(revoked_at) FROM books",
    )
    .fetch_one(pool)
    .await?;
    let (redemptions, scan_attempts): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(CASE WHEN kind = 'redemption' THEN 1 END), COUNT(CASE WHEN kind = 'scan_attempt' THEN 1 END) FROM events",
    )
    .fetch_one(pool)
    .await?;
    let devices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices")
        .fetch_one(pool)
        .await?;
    let open_reviews: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT event_id) FROM review_queue WHERE resolution_event_id IS NULL",
    )
    .fetch_one(pool)
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

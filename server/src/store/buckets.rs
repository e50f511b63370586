//! Buckets in SQL (押桶 / 空桶): the plant's bucket records, the entries of an account's bucket
//! ledgers (its orders' delivery events and its records) handed to the protocol's pure
//! `buckets::compute`, the `empties_exceed` review items that follow from them, and the bucket
//! figures of the statistics. Every function runs inside the caller's connection or transaction.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use shuipiao_shared::buckets::{self, BucketEntry, BucketLedger, BucketMove};
use shuipiao_shared::ids::{EventId, ProductCode, UserId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use utoipa::ToSchema;

use crate::store::batch::{params, rows_per_statement};
use crate::store::models::ReviewReason;
use crate::store::tx::lock_key;
use crate::store::{StoreResult, rows};

/// What a bucket record changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// 期初桶数: buckets the customer held before the plant counted them here.
    Opening,
    /// 收押金: deposits paid away from the door.
    Deposit,
    /// 退押金: deposits paid back.
    Refund,
}

impl RecordKind {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Opening => "opening",
            RecordKind::Deposit => "deposit",
            RecordKind::Refund => "refund",
        }
    }

    /// zh-CN text.
    pub fn label(self) -> &'static str {
        match self {
            RecordKind::Opening => "期初桶数",
            RecordKind::Deposit => "收押金",
            RecordKind::Refund => "退押金",
        }
    }

    fn parse(text: &str) -> StoreResult<RecordKind> {
        [RecordKind::Opening, RecordKind::Deposit, RecordKind::Refund]
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| rows::corrupt("bucket_records.kind"))
    }
}

/// How a deposit was paid or paid back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayMethod {
    /// 现金.
    Cash,
    /// 记账 (the account's statement).
    Account,
    /// 线上.
    Online,
}

impl PayMethod {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            PayMethod::Cash => "cash",
            PayMethod::Account => "account",
            PayMethod::Online => "online",
        }
    }

    /// zh-CN text.
    pub fn label(self) -> &'static str {
        match self {
            PayMethod::Cash => "现金",
            PayMethod::Account => "记账",
            PayMethod::Online => "线上",
        }
    }

    /// Parses the stored (and the form's) text.
    pub fn parse(text: &str) -> Option<PayMethod> {
        [PayMethod::Cash, PayMethod::Account, PayMethod::Online]
            .into_iter()
            .find(|method| method.as_str() == text)
    }
}

/// One record of the plant's about a customer's buckets of one product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BucketRecord {
    /// Its id, also its ledger entry's.
    #[schema(value_type = String)]
    pub id: EventId,
    /// The customer's account.
    pub account_id: i64,
    /// The product.
    #[schema(value_type = u16)]
    pub product: ProductCode,
    /// What it changes.
    pub kind: RecordKind,
    /// How many buckets.
    pub buckets: u16,
    /// Money paid (deposit) or paid back (refund), fen; 0 for an opening balance.
    pub amount_fen: i64,
    /// How it was paid.
    pub method: PayMethod,
    /// The operator's note.
    pub note: String,
    /// Who recorded it.
    #[schema(value_type = u64)]
    pub operator: UserId,
    /// Its ledger time: 0 for an opening balance (before everything), else when recorded.
    pub at: i64,
    /// When it was recorded.
    pub created_at: i64,
}

impl BucketRecord {
    /// Its entry in the bucket ledger.
    pub fn entry(&self) -> BucketEntry {
        let buckets = self.buckets;
        BucketEntry {
            id: self.id,
            at: u64::try_from(self.at).unwrap_or(0),
            movement: match self.kind {
                RecordKind::Opening => BucketMove::Opening { buckets },
                RecordKind::Deposit => BucketMove::Deposit { buckets },
                RecordKind::Refund => BucketMove::Refund { buckets },
            },
        }
    }
}

/// Takes the lock of `account`'s buckets until the transaction ends, so a record's rule and a
/// push's review items are decided on every entry committed before.
pub(super) async fn lock_account(
    conn: &mut AnyConnection,
    account_id: i64,
    now: i64,
) -> StoreResult<()> {
    lock_key(conn, "buckets", &account_id.to_be_bytes(), now).await
}

/// Inserts a record.
pub(super) async fn insert_record(
    conn: &mut AnyConnection,
    record: &BucketRecord,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO bucket_records (id, account_id, product_code, kind, buckets, amount_fen, \
         method, note, operator_id, at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(record.id.0.to_string())
    .bind(record.account_id)
    .bind(i64::from(record.product.0))
    .bind(record.kind.as_str())
    .bind(i64::from(record.buckets))
    .bind(record.amount_fen)
    .bind(record.method.as_str())
    .bind(&record.note)
    .bind(record.operator.0 as i64)
    .bind(record.at)
    .bind(record.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// An account's records, newest first.
pub(super) async fn records(
    conn: &mut AnyConnection,
    account_id: i64,
) -> StoreResult<Vec<BucketRecord>> {
    let found = sqlx::query(AssertSqlSafe(format!(
        "{RECORD_COLUMNS} WHERE account_id = $1 ORDER BY created_at DESC, at DESC, id DESC"
    )))
    .bind(account_id)
    .fetch_all(conn)
    .await?;
    found.iter().map(record).collect()
}

const RECORD_COLUMNS: &str = "SELECT id, account_id, product_code, kind, buckets, amount_fen, \
    method, note, operator_id, at, created_at FROM bucket_records";

fn record(row: &AnyRow) -> StoreResult<BucketRecord> {
    let number = |column: &str| -> StoreResult<i64> { Ok(row.try_get(column)?) };
    let small = |column: &str| -> StoreResult<u16> {
        u16::try_from(number(column)?).map_err(|_| rows::corrupt(column))
    };
    let id: String = row.try_get("id")?;
    let kind: String = row.try_get("kind")?;
    let method: String = row.try_get("method")?;
    Ok(BucketRecord {
        id: rows::parse_event_id(&id)?,
        account_id: number("account_id")?,
        product: ProductCode(small("product_code")?),
        kind: RecordKind::parse(&kind)?,
        buckets: small("buckets")?,
        amount_fen: number("amount_fen")?,
        method: PayMethod::parse(&method).ok_or_else(|| rows::corrupt("bucket_records.method"))?,
        note: row.try_get("note")?,
        operator: UserId(number("operator_id")? as u64),
        at: number("at")?,
        created_at: number("created_at")?,
    })
}

/// Every entry of `account`'s bucket ledgers, by product: the delivery events of its orders,
/// whatever the order's state (a cancelled order physically delivered still counts), and its
/// records.
async fn entries(
    conn: &mut AnyConnection,
    account_id: i64,
) -> StoreResult<BTreeMap<ProductCode, Vec<BucketEntry>>> {
    Ok(entries_where(conn, Some(account_id))
        .await?
        .into_iter()
        .map(|((_, product), entries)| (product, entries))
        .collect())
}

/// The entries of every ledger by account and product: of one account, or of all of them.
async fn entries_where(
    conn: &mut AnyConnection,
    account_id: Option<i64>,
) -> StoreResult<BTreeMap<(i64, ProductCode), Vec<BucketEntry>>> {
    let (deliveries_of, records_of) = match account_id {
        Some(_) => (" AND o.account_id = $1", " WHERE account_id = $1"),
        None => ("", ""),
    };
    let bound = |sql: String| {
        let query = sqlx::query(AssertSqlSafe(sql));
        match account_id {
            Some(id) => query.bind(id),
            None => query,
        }
    };
    let mut ledgers: BTreeMap<(i64, ProductCode), Vec<BucketEntry>> = BTreeMap::new();
    let found = bound(format!(
        "SELECT e.event_id, e.scanned_at, e.bottles, e.empties, e.deposits, o.account_id, \
         o.product_code FROM events e JOIN delivery_orders o ON o.id = e.order_id \
         WHERE e.kind = 'delivery'{deliveries_of}"
    ))
    .fetch_all(&mut *conn)
    .await?;
    for row in &found {
        let small = |column: &str| -> StoreResult<u16> {
            let value: Option<i64> = row.try_get(column)?;
            u16::try_from(value.unwrap_or(0)).map_err(|_| rows::corrupt(column))
        };
        let id: String = row.try_get("event_id")?;
        let at: i64 = row.try_get("scanned_at")?;
        let account: i64 = row.try_get("account_id")?;
        let product: i64 = row.try_get("product_code")?;
        let product =
            u16::try_from(product).map_err(|_| rows::corrupt("delivery_orders.product_code"))?;
        ledgers
            .entry((account, ProductCode(product)))
            .or_default()
            .push(BucketEntry {
                id: rows::parse_event_id(&id)?,
                at: u64::try_from(at).unwrap_or(0),
                movement: BucketMove::Delivery {
                    full: small("bottles")?,
                    empties: small("empties")?,
                    deposits: small("deposits")?,
                },
            });
    }
    let records = bound(format!("{RECORD_COLUMNS}{records_of}"))
        .fetch_all(&mut *conn)
        .await?;
    for row in &records {
        let record = record(row)?;
        ledgers
            .entry((record.account_id, record.product))
            .or_default()
            .push(record.entry());
    }
    Ok(ledgers)
}

/// `account`'s bucket ledger of each product it has any entry of, by product.
pub(super) async fn ledgers(
    conn: &mut AnyConnection,
    account_id: i64,
) -> StoreResult<BTreeMap<ProductCode, BucketLedger>> {
    Ok(entries(conn, account_id)
        .await?
        .into_iter()
        .map(|(product, entries)| (product, buckets::compute(&entries)))
        .collect())
}

/// `account`'s ledger of `product` (empty if it has no entry) and the time of its latest entry
/// (0 if none).
pub(super) async fn ledger(
    conn: &mut AnyConnection,
    account_id: i64,
    product: ProductCode,
) -> StoreResult<(BucketLedger, u64)> {
    let entries = entries(conn, account_id)
        .await?
        .remove(&product)
        .unwrap_or_default();
    let latest = entries.iter().map(|entry| entry.at).max().unwrap_or(0);
    Ok((buckets::compute(&entries), latest))
}

/// Replaces the open `empties_exceed` review items of `account`'s deliveries of `product` with
/// the ledger's held-back empties, like the ticket ledger replaces its reasons. A resolved item
/// stays resolved: its row is neither deleted nor added again.
pub(super) async fn refresh_review(
    conn: &mut AnyConnection,
    account_id: i64,
    product: ProductCode,
    ledger: &BucketLedger,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "DELETE FROM review_queue WHERE resolution_event_id IS NULL AND reason = $1 \
         AND event_id IN (SELECT e.event_id FROM events e \
         JOIN delivery_orders o ON o.id = e.order_id \
         WHERE e.kind = 'delivery' AND o.account_id = $2 AND o.product_code = $3)",
    )
    .bind(ReviewReason::EmptiesExceed.as_str())
    .bind(account_id)
    .bind(i64::from(product.0))
    .execute(&mut *conn)
    .await?;
    for held in &ledger.held_back {
        sqlx::query(
            "INSERT INTO review_queue (event_id, reason, book_id, created_at) \
             VALUES ($1, $2, NULL, $3) ON CONFLICT (event_id, reason) DO NOTHING",
        )
        .bind(held.event_id.0.to_string())
        .bind(ReviewReason::EmptiesExceed.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Recomputes, under each account's bucket lock (taken in account order), the ledgers that the
/// delivery events of `orders` touch and refreshes their `empties_exceed` review items. Runs in
/// a push's transaction after its events are inserted.
pub(super) async fn refresh_after_push(
    conn: &mut AnyConnection,
    orders: &BTreeSet<i64>,
    now: i64,
) -> StoreResult<()> {
    let named: Vec<i64> = orders.iter().copied().collect();
    let mut pairs: BTreeSet<(i64, u16)> = BTreeSet::new();
    for chunk in named.chunks(rows_per_statement(conn, 1)) {
        let sql = format!(
            "SELECT DISTINCT account_id, product_code FROM delivery_orders WHERE id IN ({})",
            params(1, chunk.len())
        );
        let found: Vec<(i64, i64)> = chunk
            .iter()
            .fold(sqlx::query_as(AssertSqlSafe(sql)), |query, id| {
                query.bind(*id)
            })
            .fetch_all(&mut *conn)
            .await?;
        for (account, product) in found {
            let product = u16::try_from(product)
                .map_err(|_| rows::corrupt("delivery_orders.product_code"))?;
            pairs.insert((account, product));
        }
    }
    let accounts: BTreeSet<i64> = pairs.iter().map(|(account, _)| *account).collect();
    for account in accounts {
        lock_account(conn, account, now).await?;
        let mut ledgers = ledgers(conn, account).await?;
        for (_, product) in pairs.range((account, 0)..=(account, u16::MAX)) {
            let product = ProductCode(*product);
            let ledger = ledgers.remove(&product).unwrap_or_default();
            refresh_review(conn, account, product, &ledger, now).await?;
        }
    }
    Ok(())
}

/// One customer's buckets of one product now, and where the customer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outstanding {
    /// The customer's account.
    pub account_id: i64,
    /// The region of the account's default address (else of any address it keeps, else of its
    /// latest order); `None` for an account with neither.
    pub region_id: Option<i64>,
    /// The product.
    pub product: ProductCode,
    /// Its ledger.
    pub ledger: BucketLedger,
}

/// Every ledger of every account, with the account's region: what the statistics' buckets
/// outstanding are summed from.
pub(super) async fn outstanding(conn: &mut AnyConnection) -> StoreResult<Vec<Outstanding>> {
    let ledgers = entries_where(conn, None).await?;
    let regions: BTreeMap<i64, Option<i64>> = sqlx::query_as(
        "SELECT a.id, COALESCE( \
           (SELECT ad.region_id FROM addresses ad WHERE ad.account_id = a.id \
            AND ad.removed_at IS NULL ORDER BY ad.is_default DESC, ad.id LIMIT 1), \
           (SELECT o.region_id FROM delivery_orders o WHERE o.account_id = a.id \
            ORDER BY o.created_at DESC, o.id DESC LIMIT 1)) \
         FROM accounts a WHERE a.id IN (SELECT account_id FROM delivery_orders \
           UNION SELECT account_id FROM bucket_records)",
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    Ok(ledgers
        .into_iter()
        .map(|((account_id, product), entries)| Outstanding {
            account_id,
            region_id: regions.get(&account_id).copied().flatten(),
            product,
            ledger: buckets::compute(&entries),
        })
        .collect())
}

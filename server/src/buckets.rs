//! Buckets (押桶 / 空桶, docs/deliveries.md "Buckets"): who may read a customer's bucket
//! ledgers, and the records the plant makes beside the couriers' deliveries — a deposit paid at
//! the counter, an opening balance, a refund of deposits no bucket needs any more. The ledger
//! itself is the protocol's pure rule (`shared::buckets`); the JSON API and the console call
//! these functions, so the same bad input gets the same zh-CN message and changes nothing.

use serde::Serialize;
use shuipiao_shared::buckets::BucketLedger;
use shuipiao_shared::ids::{EventId, ProductCode};
use utoipa::ToSchema;

use crate::store::buckets::{BucketRecord, PayMethod, RecordKind};
use crate::store::models::{AuditEntry, Role, User};
use crate::store::{Store, StoreError};

/// Most buckets of one deposit or refund record.
pub const MAX_RECORD_BUCKETS: i64 = 100;
/// Most buckets of an opening balance.
pub const MAX_OPENING_BUCKETS: i64 = 1_000;
/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 100;

/// Why reading or recording buckets was refused.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    /// The writer is not an operator or admin.
    #[error("只有客服或管理员可以登记水桶")]
    Forbidden,
    /// No such account, or not the reader's.
    #[error("账户不存在")]
    NoAccount,
    /// No such product.
    #[error("产品不存在")]
    NoProduct,
    /// A deposit or refund of 0 or more than 100 buckets.
    #[error("押金桶数应为 1–100")]
    RecordBuckets,
    /// An opening balance of more than 1 000 buckets (or fewer than none).
    #[error("期初桶数应为 0–1000")]
    OpeningBuckets,
    /// A refund beyond the deposits no held bucket needs.
    #[error("最多可退 {0} 只桶的押金")]
    BeyondRefundable(u64),
    /// The note is too long or holds control characters.
    #[error("备注最多 100 字,且不能含控制字符")]
    Note,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One product's buckets of an account, as every surface shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ProductBuckets {
    /// The product.
    #[schema(value_type = u16)]
    pub product: ProductCode,
    /// Its name.
    pub product_name: String,
    /// Deposit per bucket today, fen.
    pub deposit_fen: i64,
    /// Full buckets handed over, opening balances included.
    pub delivered: u64,
    /// Empties taken back and counted.
    pub returned: u64,
    /// Buckets at the customer's (持有).
    pub held: u64,
    /// Buckets covered by a deposit (押金).
    pub deposits: u64,
    /// 欠桶: buckets held beyond the deposits.
    pub owed: u64,
    /// Deposits the plant may pay back (可退押金), in buckets.
    pub refundable: u64,
    /// Empties taken back beyond what the customer held, waiting for review.
    pub held_back: u64,
}

impl ProductBuckets {
    fn new(product: ProductCode, name: String, deposit_fen: i64, ledger: &BucketLedger) -> Self {
        ProductBuckets {
            product,
            product_name: name,
            deposit_fen,
            delivered: ledger.delivered,
            returned: ledger.returned,
            held: ledger.held(),
            deposits: ledger.deposits,
            owed: ledger.owed(),
            refundable: ledger.refundable(),
            held_back: ledger.held_back.iter().map(|h| u64::from(h.empties)).sum(),
        }
    }

    /// The deposits held, in yuan as shown (`¥60.00`), at today's deposit per bucket.
    pub fn deposits_yuan(&self) -> String {
        yuan(self.deposit_fen.saturating_mul(self.deposits as i64))
    }
}

/// Fen as yuan text, `¥30.00`.
pub fn yuan(fen: i64) -> String {
    format!("¥{}.{:02}", fen / 100, fen % 100)
}

/// Whether `viewer` may read `account_id`'s buckets: its own customers and enterprise admin,
/// and the plant's operators and admins.
fn may_read(viewer: &User, account_id: i64) -> bool {
    match viewer.spec.role {
        Role::Operator | Role::Admin => true,
        Role::Customer | Role::EnterpriseAdmin => viewer.spec.account_id == Some(account_id),
        _ => false,
    }
}

/// `account_id`'s buckets of each product it has any entry of, by product code.
pub async fn of_account(
    store: &Store,
    viewer: &User,
    account_id: i64,
) -> Result<Vec<ProductBuckets>, BucketError> {
    if !may_read(viewer, account_id) {
        // As for an account that does not exist: a customer learns nothing of others' ids.
        return Err(BucketError::NoAccount);
    }
    let products = store.products().await?;
    Ok(store
        .bucket_ledgers(account_id)
        .await?
        .iter()
        .map(|(code, ledger)| {
            let product = products.iter().find(|p| p.code == *code);
            ProductBuckets::new(
                *code,
                product.map_or_else(|| format!("产品 {}", code.0), |p| p.name.clone()),
                product.map_or(0, |p| p.deposit_fen),
                ledger,
            )
        })
        .collect())
}

/// `account_id`'s records, newest first (same readers as [`of_account`]).
pub async fn records(
    store: &Store,
    viewer: &User,
    account_id: i64,
) -> Result<Vec<BucketRecord>, BucketError> {
    if !may_read(viewer, account_id) {
        // As for an account that does not exist: a customer learns nothing of others' ids.
        return Err(BucketError::NoAccount);
    }
    Ok(store.bucket_records(account_id).await?)
}

/// A record as sent by the API or read from the console's form. Numbers are wide so a negative
/// or huge count gets the rule's message, not a parse error.
#[derive(Debug, Clone)]
pub struct RecordInput {
    /// The product.
    pub product: ProductCode,
    /// What it changes.
    pub kind: RecordKind,
    /// How many buckets.
    pub buckets: i64,
    /// How it was paid or paid back (ignored for an opening balance, stored as cash).
    pub method: PayMethod,
    /// The operator's note.
    pub note: String,
}

/// Records `input` for `account_id` by `operator` (an operator or admin): a deposit of 1–100
/// buckets, an opening balance of 0–1 000, or a refund of 1–100 buckets and at most the
/// ledger's refundable deposits, checked under the account's bucket lock. The amount is the
/// buckets times the product's deposit (none for an opening balance). Returns the record and
/// the product's new ledger.
pub async fn record(
    store: &Store,
    operator: &User,
    account_id: i64,
    input: &RecordInput,
    now: i64,
) -> Result<(BucketRecord, ProductBuckets), BucketError> {
    if !matches!(operator.spec.role, Role::Operator | Role::Admin) {
        return Err(BucketError::Forbidden);
    }
    let range = match input.kind {
        RecordKind::Opening => 0..=MAX_OPENING_BUCKETS,
        RecordKind::Deposit | RecordKind::Refund => 1..=MAX_RECORD_BUCKETS,
    };
    if !range.contains(&input.buckets) {
        return Err(match input.kind {
            RecordKind::Opening => BucketError::OpeningBuckets,
            _ => BucketError::RecordBuckets,
        });
    }
    let buckets = u16::try_from(input.buckets).map_err(|_| BucketError::OpeningBuckets)?;
    let note = input.note.trim();
    if note.chars().count() > MAX_NOTE_CHARS || note.chars().any(char::is_control) {
        return Err(BucketError::Note);
    }
    match store.account(account_id).await {
        Err(StoreError::NotFound) => return Err(BucketError::NoAccount),
        other => other?,
    };
    let product = match store.product(input.product).await {
        Err(StoreError::NotFound) => return Err(BucketError::NoProduct),
        other => other?,
    };
    let (amount_fen, method) = match input.kind {
        RecordKind::Opening => (0, PayMethod::Cash),
        _ => (product.deposit_fen * i64::from(buckets), input.method),
    };
    let kind = input.kind;
    let note = note.to_string();
    let (record, ledger) = store
        .add_bucket_record(
            account_id,
            product.code,
            |ledger, latest| {
                if kind == RecordKind::Refund && u64::from(buckets) > ledger.refundable() {
                    return Err(BucketError::BeyondRefundable(ledger.refundable()));
                }
                // An opening balance is before everything; a deposit or refund is after every
                // entry the rule was checked on (a courier's clock may run ahead of ours), so
                // later entries cannot reorder what was checked.
                let at = match kind {
                    RecordKind::Opening => 0,
                    _ => now.max(i64::try_from(latest).unwrap_or(i64::MAX - 1) + 1),
                };
                let millis = u64::try_from(now.max(0)).unwrap_or(0).saturating_mul(1000);
                let record = BucketRecord {
                    id: EventId::v7(millis, crate::random::bytes::<10>()),
                    account_id,
                    product: product.code,
                    kind,
                    buckets,
                    amount_fen,
                    method,
                    note,
                    operator: operator.id,
                    at,
                    created_at: now,
                };
                let audit = AuditEntry::new(
                    Some(operator.id),
                    "buckets.record",
                    format!("account:{account_id}"),
                    serde_json::json!({
                        "record": record.id.0,
                        "product": product.code.0,
                        "kind": kind.as_str(),
                        "buckets": buckets,
                        "amount_fen": amount_fen,
                        "method": method.as_str(),
                    }),
                );
                Ok((record, audit))
            },
            now,
        )
        .await?;
    let shown = ProductBuckets::new(product.code, product.name, product.deposit_fen, &ledger);
    Ok((record, shown))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::models::NewUser;
    use shuipiao_shared::ids::UserId;

    fn user(role: Role, account_id: Option<i64>) -> User {
        User {
            id: UserId(7),
            spec: NewUser {
                username: "u".into(),
                password_hash: String::new(),
                role,
                account_id,
                region_id: None,
                outlet_id: None,
            },
            disabled_at: None,
            phone_sealed: None,
        }
    }

    #[test]
    fn only_the_accounts_own_users_and_the_plants_staff_read_its_buckets() {
        assert!(may_read(&user(Role::Customer, Some(3)), 3));
        assert!(may_read(&user(Role::EnterpriseAdmin, Some(3)), 3));
        assert!(!may_read(&user(Role::Customer, Some(4)), 3));
        assert!(!may_read(&user(Role::EnterpriseAdmin, Some(4)), 3));
        assert!(!may_read(&user(Role::Courier, None), 3));
        assert!(may_read(&user(Role::Operator, None), 3));
    }

    #[test]
    fn yuan_shows_two_decimals() {
        assert_eq!(yuan(3000), "¥30.00");
        assert_eq!(yuan(105), "¥1.05");
    }
}

//! Issuing books: an order of a package becomes signed credentials; revocation; lost-ticket
//! recovery (revoke + reissue the remaining units, lineage kept); reissue after key compromise.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use shuipiao_shared::credential::Credential;
use shuipiao_shared::ids::{BookId, ProductCode, ScopeId, UserId};
use shuipiao_shared::keyring::Kid;
use utoipa::ToSchema;

use crate::config::MasterKey;
use crate::keys::{self, ActiveKey, KeyError};
use crate::store::models::{AccountKind, AuditEntry, Book, KeyPurpose, NewBook, NewOrder};
use crate::store::{Store, StoreError};

/// Why issuing failed.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// Storage failed or something named does not exist.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Keys are unusable.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The request does not make sense (zero units, allocation mismatch…).
    #[error("{0}")]
    Invalid(String),
}

/// Units of an order given to one member account of the buying enterprise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Allocation {
    /// Member account.
    pub account_id: i64,
    /// Units for that member.
    pub units: u16,
}

/// An order to issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueOrder {
    /// Buyer.
    pub account_id: i64,
    /// Package bought.
    pub package_id: i64,
    /// Number of packages.
    pub quantity: u32,
    /// For enterprises: split the units among members (must add up to the order's units).
    /// Without it, one book per package goes to the buyer.
    #[serde(default)]
    pub allocations: Vec<Allocation>,
}

/// The order and the books issued for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IssuedOrder {
    /// Order id.
    pub order_id: i64,
    /// Books, with their QR text.
    pub books: Vec<NewBook>,
}

/// What a book should carry before it is signed.
struct BookSpec {
    account_id: i64,
    product: ProductCode,
    units: u16,
    scope: ScopeId,
    valid_from: u32,
    valid_until: u32,
    source: &'static str,
    replaces: Option<BookId>,
}

/// First 4 bytes of HMAC-SHA256(account id) under a key derived from the master key: lets
/// support match a QR to an account without putting personal data in it.
fn holder_tag(master: &MasterKey, account_id: i64) -> u32 {
    let mut derive =
        Hmac::<Sha256>::new_from_slice(master.bytes()).expect("HMAC takes any key length");
    derive.update(b"shuipiao holder tag v1");
    let tag_key = derive.finalize().into_bytes();
    let mut mac = Hmac::<Sha256>::new_from_slice(&tag_key).expect("HMAC takes any key length");
    mac.update(&account_id.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

fn sign_book(master: &MasterKey, issuer: &ActiveKey, id: u64, spec: &BookSpec) -> NewBook {
    let valid_until = spec.valid_until.min(issuer.row.not_after);
    let signed = Credential {
        kid: Kid(issuer.row.kid),
        book_id: BookId(id),
        product: spec.product,
        units: spec.units,
        scope: spec.scope,
        valid_from: spec.valid_from,
        valid_until,
        holder_tag: holder_tag(master, spec.account_id),
    }
    .sign(&issuer.signing_key);
    NewBook {
        id: BookId(id),
        account_id: spec.account_id,
        product: spec.product,
        units: spec.units,
        scope: spec.scope,
        valid_from: spec.valid_from,
        valid_until,
        kid_hex: Kid(issuer.row.kid).to_string(),
        qr_text: signed.to_qr_text(),
        source: spec.source.to_string(),
        replaces: spec.replaces,
    }
}

fn unix_u32(now: i64) -> u32 {
    u32::try_from(now.max(0)).unwrap_or(u32::MAX)
}

/// Issues an order: one book per package to the buyer, or the units split among enterprise members.
pub async fn issue_order<S: Store>(
    store: &S,
    master: &MasterKey,
    order: &IssueOrder,
    actor: Option<UserId>,
    now: i64,
) -> Result<IssuedOrder, IssueError> {
    if order.quantity == 0 {
        return Err(IssueError::Invalid("数量必须大于 0".into()));
    }
    let package = store.package(order.package_id).await?;
    let buyer = store.account(order.account_id).await?;
    let units_per_package = package.spec.paid_units + package.spec.bonus_units;
    let total_units = u64::from(units_per_package) * u64::from(order.quantity);
    let valid_from = unix_u32(now);
    let valid_until = valid_from.saturating_add(package.spec.validity_days.saturating_mul(86_400));
    let base = |account_id: i64, units: u16, source: &'static str| BookSpec {
        account_id,
        product: package.spec.product,
        units,
        scope: package.spec.scope,
        valid_from,
        valid_until,
        source,
        replaces: None,
    };
    let specs: Vec<BookSpec> = if order.allocations.is_empty() {
        let units = u16::try_from(units_per_package)
            .map_err(|_| IssueError::Invalid("每本水票最多 65535 张".into()))?;
        (0..order.quantity)
            .map(|_| base(order.account_id, units, "purchase"))
            .collect()
    } else {
        if buyer.spec.kind != AccountKind::Enterprise {
            return Err(IssueError::Invalid("只有企业账户可以分配给成员".into()));
        }
        let allocated: u64 = order.allocations.iter().map(|a| u64::from(a.units)).sum();
        if allocated != total_units {
            return Err(IssueError::Invalid(format!(
                "分配合计 {allocated} 张,与订单 {total_units} 张不符"
            )));
        }
        let members = store.members(order.account_id).await?;
        let mut specs = Vec::with_capacity(order.allocations.len());
        for allocation in &order.allocations {
            if allocation.units == 0 || !members.iter().any(|m| m.id == allocation.account_id) {
                return Err(IssueError::Invalid(format!(
                    "账户 {} 不是该企业的成员或数量为 0",
                    allocation.account_id
                )));
            }
            specs.push(base(allocation.account_id, allocation.units, "enterprise"));
        }
        specs
    };
    let issuer = keys::active(store, master, KeyPurpose::Issuer).await?;
    let ids = store.allocate_book_ids(specs.len() as u32).await?;
    let books: Vec<NewBook> = ids
        .zip(&specs)
        .map(|(id, spec)| sign_book(master, &issuer, id, spec))
        .collect();
    let total_fen = package.spec.price_fen * i64::from(order.quantity);
    let audit = AuditEntry::new(
        actor,
        "order.issue",
        format!("account:{}", order.account_id),
        serde_json::json!({
            "package_id": order.package_id,
            "quantity": order.quantity,
            "books": books.iter().map(|b| b.id.0).collect::<Vec<_>>(),
        }),
    );
    let new_order = NewOrder {
        account_id: order.account_id,
        package_id: order.package_id,
        quantity: order.quantity,
        total_fen,
        created_by: actor,
    };
    let order_id = store.record_order(&new_order, &books, now, &audit).await?;
    Ok(IssuedOrder { order_id, books })
}

/// Lost-ticket recovery and key-compromise reissue: revokes `old` and issues its remaining units
/// in a new book under the active issuer key, naming `old` as the book it replaces.
pub async fn reissue<S: Store>(
    store: &S,
    master: &MasterKey,
    old: BookId,
    reason: &str,
    actor: Option<UserId>,
    now: i64,
) -> Result<Book, IssueError> {
    let book = store.book(old).await?;
    let remaining = book.issued.units.saturating_sub(book.used_units);
    if remaining == 0 {
        return Err(IssueError::Invalid("该水票已无剩余数量".into()));
    }
    let issuer = keys::active(store, master, KeyPurpose::Issuer).await?;
    let id = store.allocate_book_ids(1).await?.start;
    let spec = BookSpec {
        account_id: book.issued.account_id,
        product: book.issued.product,
        units: remaining,
        scope: book.issued.scope,
        valid_from: unix_u32(now).min(book.issued.valid_until),
        valid_until: book.issued.valid_until,
        source: "reissue",
        replaces: Some(old),
    };
    let replacement = sign_book(master, &issuer, id, &spec);
    let audit = AuditEntry::new(
        actor,
        "book.reissue",
        format!("book:{old}"),
        serde_json::json!({ "new_book": id, "units": remaining, "reason": reason }),
    );
    Ok(store
        .replace_book(old, &replacement, reason, now, &audit)
        .await?)
}

/// Reissues every live book signed by a compromised key; returns the new books.
pub async fn reissue_compromised<S: Store>(
    store: &S,
    master: &MasterKey,
    kid: [u8; 4],
    actor: Option<UserId>,
    now: i64,
) -> Result<Vec<Book>, IssueError> {
    let mut reissued = Vec::new();
    for book in store.live_books_of_key(kid).await? {
        if book.issued.units > book.used_units {
            reissued.push(
                reissue(
                    store,
                    master,
                    book.issued.id,
                    "签名密钥泄露,已换发",
                    actor,
                    now,
                )
                .await?,
            );
        }
    }
    Ok(reissued)
}

/// Revokes a book (lost, refunded).
pub async fn revoke<S: Store>(
    store: &S,
    id: BookId,
    reason: &str,
    actor: Option<UserId>,
    now: i64,
) -> Result<Book, IssueError> {
    let audit = AuditEntry::new(
        actor,
        "book.revoke",
        format!("book:{id}"),
        serde_json::json!({ "reason": reason }),
    );
    Ok(store.revoke_book(id, reason, now, &audit).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holder_tags_differ_per_account_and_key() {
        let master = MasterKey::from_bytes([1; 32]);
        assert_ne!(holder_tag(&master, 1), holder_tag(&master, 2));
        assert_ne!(
            holder_tag(&master, 1),
            holder_tag(&MasterKey::from_bytes([2; 32]), 1)
        );
        assert_eq!(holder_tag(&master, 1), holder_tag(&master, 1));
    }
}

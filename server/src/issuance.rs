//! Issuing books: an order of a package becomes signed credentials; gifts; revocation;
//! lost-ticket recovery (revoke + reissue the remaining units, lineage kept); reissue after key
//! compromise. Holders are told through the notification outbox.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use shuipiao_shared::credential::Credential;
use shuipiao_shared::holder::HolderCredential;
use shuipiao_shared::ids::{BookId, ProductCode, ScopeId, UserId};
use shuipiao_shared::keyring::Kid;
use shuipiao_shared::status::BookState;
use utoipa::ToSchema;

use crate::config::MasterKey;
use crate::keys::{self, ActiveKey, KeyError};
use crate::notify;
use crate::store::models::{
    AccountKind, AuditEntry, Book, KeyPurpose, MessageKind, NewBook, NewOrder, NewPackage,
};
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

/// Packages in one order, at most: every book of an order is signed and stored in one request.
pub const MAX_QUANTITY: u32 = 1_000;
/// Books in one order, at most (one per package, or one per member of an enterprise's split).
pub const MAX_ORDER_BOOKS: usize = 1_000;

/// What an order of a package comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderSize {
    /// Units of the book each package gives.
    pub units_per_package: u16,
    /// Units of the whole order.
    pub total_units: u32,
    /// Price of the whole order in fen.
    pub total_fen: i64,
}

/// The one rule for the size of an order, checked by the issue page's preview and by
/// [`issue_order`] before anything is allocated: 1 to [`MAX_QUANTITY`] packages whose books fit
/// in a credential and whose total price fits in a number (rows stored before the catalogue's
/// rules existed may hold more).
pub fn order_size(package: &NewPackage, quantity: u32) -> Result<OrderSize, IssueError> {
    if quantity == 0 || quantity > MAX_QUANTITY {
        return Err(IssueError::Invalid(format!(
            "数量应在 1 到 {MAX_QUANTITY} 之间"
        )));
    }
    let units_per_package = package
        .paid_units
        .checked_add(package.bonus_units)
        .and_then(|units| u16::try_from(units).ok())
        .ok_or_else(|| IssueError::Invalid("该套餐每本水票的张数超出上限,不能发放".into()))?;
    let total_fen = package
        .price_fen
        .checked_mul(i64::from(quantity))
        .ok_or_else(|| IssueError::Invalid("订单金额超出上限".into()))?;
    Ok(OrderSize {
        units_per_package,
        // At most 65 535 × 1 000.
        total_units: u32::from(units_per_package) * quantity,
        total_fen,
    })
}

/// Checks that an order names at most [`MAX_ORDER_BOOKS`] books.
pub fn check_book_count(books: usize) -> Result<(), IssueError> {
    if books > MAX_ORDER_BOOKS {
        return Err(IssueError::Invalid(format!(
            "一个订单最多发放 {MAX_ORDER_BOOKS} 本水票"
        )));
    }
    Ok(())
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
    #[schema(minimum = 1, maximum = 1000)]
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
    /// The holder's public key for a v2 (rotating QR) credential; `None` signs v1.
    holder_key: Option<[u8; 32]>,
}

/// First 4 bytes of HMAC-SHA256(account id) under a key derived from the master key: lets
/// support match a QR to an account without putting personal data in it.
fn holder_tag(master: &MasterKey, account_id: i64) -> u32 {
    let digest = master.mac(b"shuipiao holder tag v1", &account_id.to_be_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Signs a book whose window lies inside its key's, as devices require of a genuine book: it
/// never outlives the key, and never starts before it (which happens when another instance, its
/// clock running ahead of ours, made the key moments ago; the book then waits those seconds).
fn sign_book(master: &MasterKey, issuer: &ActiveKey, id: u64, spec: &BookSpec) -> NewBook {
    let valid_from = spec.valid_from.max(issuer.row.not_before);
    let valid_until = spec.valid_until.min(issuer.row.not_after);
    let credential = Credential {
        kid: Kid(issuer.row.kid),
        book_id: BookId(id),
        product: spec.product,
        units: spec.units,
        scope: spec.scope,
        valid_from,
        valid_until,
        holder_tag: holder_tag(master, spec.account_id),
    };
    let qr_text = match spec.holder_key {
        None => credential.sign(&issuer.signing_key).to_qr_text(),
        Some(holder_key) => HolderCredential {
            credential,
            holder_key,
        }
        .sign(&issuer.signing_key)
        .to_text(),
    };
    NewBook {
        id: BookId(id),
        account_id: spec.account_id,
        product: spec.product,
        units: spec.units,
        scope: spec.scope,
        valid_from,
        valid_until,
        kid_hex: Kid(issuer.row.kid).to_string(),
        qr_text,
        source: spec.source.to_string(),
        replaces: spec.replaces,
    }
}

fn unix_u32(now: i64) -> u32 {
    u32::try_from(now.max(0)).unwrap_or(u32::MAX)
}

/// Issues an order: one book per package to the buyer, or the units split among enterprise members.
pub async fn issue_order(
    store: &Store,
    master: &MasterKey,
    order: &IssueOrder,
    actor: Option<UserId>,
    now: i64,
) -> Result<IssuedOrder, IssueError> {
    check_book_count(order.allocations.len())?;
    let package = store.package(order.package_id).await?;
    if package.retired_at.is_some() {
        return Err(IssueError::Invalid(crate::catalogue::RETIRED.into()));
    }
    let size = order_size(&package.spec, order.quantity)?;
    let buyer = store.account(order.account_id).await?;
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
        holder_key: None,
    };
    let specs: Vec<BookSpec> = if order.allocations.is_empty() {
        (0..order.quantity)
            .map(|_| base(order.account_id, size.units_per_package, "purchase"))
            .collect()
    } else {
        if buyer.spec.kind != AccountKind::Enterprise {
            return Err(IssueError::Invalid("只有企业账户可以分配给成员".into()));
        }
        // At most 1 000 × 65 535.
        let allocated: u64 = order.allocations.iter().map(|a| u64::from(a.units)).sum();
        if allocated != u64::from(size.total_units) {
            return Err(IssueError::Invalid(format!(
                "分配合计 {allocated} 张,与订单 {} 张不符",
                size.total_units
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
    let count = u32::try_from(specs.len()).expect("an order holds at most MAX_ORDER_BOOKS books");
    let ids = store.allocate_book_ids(count).await?;
    let books: Vec<NewBook> = ids
        .zip(&specs)
        .map(|(id, spec)| sign_book(master, &issuer, id, spec))
        .collect();
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
        total_fen: size.total_fen,
        created_by: actor,
    };
    let order_id = store.record_order(&new_order, &books, now, &audit).await?;
    let mut per_account: BTreeMap<i64, u32> = BTreeMap::new();
    for book in &books {
        *per_account.entry(book.account_id).or_default() += u32::from(book.units);
    }
    for (account_id, units) in per_account {
        let body = notify::issued_text(&package.spec.name, units);
        let key = format!("issued:{order_id}:{account_id}");
        notify::tell_account(
            store,
            account_id,
            MessageKind::Issued,
            &body,
            Some(&key),
            now,
        )
        .await;
    }
    Ok(IssuedOrder { order_id, books })
}

/// Longest reason for a revocation or a reissue, in characters: it is kept with the book and in
/// the audit log.
pub const MAX_REASON_CHARS: usize = 200;

/// The trimmed reason of a revocation or a reissue: required, at most [`MAX_REASON_CHARS`].
fn checked_reason(reason: &str) -> Result<&str, IssueError> {
    match reason.trim() {
        "" => Err(IssueError::Invalid("请填写原因".into())),
        reason if reason.chars().count() > MAX_REASON_CHARS => Err(IssueError::Invalid(format!(
            "原因最多 {MAX_REASON_CHARS} 字"
        ))),
        reason => Ok(reason),
    }
}

/// Lost-ticket recovery and key-compromise reissue: revokes `old` and issues its remaining units
/// in a new book under the active issuer key, naming `old` as the book it replaces.
pub async fn reissue(
    store: &Store,
    master: &MasterKey,
    old: BookId,
    reason: &str,
    actor: Option<UserId>,
    now: i64,
) -> Result<Book, IssueError> {
    let reason = checked_reason(reason)?;
    let book = store.book(old).await?;
    let replaced = replace(store, master, &book, reason, None, actor, now).await?;
    let id = replaced.issued.id;
    let remaining = replaced.issued.units;
    let key = format!("reissued:{id}");
    let body = notify::reissued_text(remaining);
    notify::tell_account(
        store,
        book.issued.account_id,
        MessageKind::Reissued,
        &body,
        Some(&key),
        now,
    )
    .await;
    Ok(replaced)
}

/// Binds a book to the holder's browser key: revokes `book` and issues its remaining units as a
/// v2 credential carrying `holder_key`, naming `book` as the one it replaces, as a reissue does.
/// A bound book is never re-signed in place: the old credential (static or bound to another
/// browser) must stop working at the devices' next sync, and only revocation does that.
pub async fn bind_holder(
    store: &Store,
    master: &MasterKey,
    book: &Book,
    holder_key: [u8; 32],
    actor: Option<UserId>,
    now: i64,
) -> Result<Book, IssueError> {
    if book.state != BookState::Active || i64::from(book.issued.valid_until) < now {
        return Err(IssueError::Invalid("只能为有效的水票启用动态码".into()));
    }
    let reason = "启用动态二维码";
    replace(store, master, book, reason, Some(holder_key), actor, now).await
}

/// Revokes `book` and issues its remaining units in one new book (v2 when `holder_key` is set).
async fn replace(
    store: &Store,
    master: &MasterKey,
    book: &Book,
    reason: &str,
    holder_key: Option<[u8; 32]>,
    actor: Option<UserId>,
    now: i64,
) -> Result<Book, IssueError> {
    let old = book.issued.id;
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
        holder_key,
    };
    let replacement = sign_book(master, &issuer, id, &spec);
    let action = match holder_key {
        None => "book.reissue",
        Some(_) => "book.bind_holder",
    };
    let audit = AuditEntry::new(
        actor,
        action,
        format!("book:{old}"),
        serde_json::json!({ "new_book": id, "units": remaining, "reason": reason }),
    );
    Ok(store
        .replace_book(old, std::slice::from_ref(&replacement), reason, now, &audit)
        .await?
        .remove(0))
}

/// Moves `units` of an enterprise book to `to_account` (a member, or the enterprise itself when
/// taking units back): the book is revoked and replaced by a book of `units` for the receiver
/// and, if any are left, a book of the rest for the old holder. Both name the old book.
pub async fn allocate(
    store: &Store,
    master: &MasterKey,
    from: BookId,
    to_account: i64,
    units: u16,
    actor: Option<UserId>,
    now: i64,
) -> Result<Vec<Book>, IssueError> {
    let book = store.book(from).await?;
    let remaining = book.issued.units.saturating_sub(book.used_units);
    if book.state != BookState::Active || i64::from(book.issued.valid_until) <= now {
        return Err(IssueError::Invalid("只能分配有效的水票".into()));
    }
    if units == 0 || units > remaining {
        return Err(IssueError::Invalid(format!(
            "分配数量应在 1 到 {remaining} 张之间"
        )));
    }
    if to_account == book.issued.account_id {
        return Err(IssueError::Invalid("不能分配给原持有人".into()));
    }
    let issuer = keys::active(store, master, KeyPurpose::Issuer).await?;
    let parts: Vec<(i64, u16)> = [
        (to_account, units),
        (book.issued.account_id, remaining - units),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .collect();
    // Two parts at most: the receiver's and the rest.
    let ids = store.allocate_book_ids(parts.len() as u32).await?;
    let replacements: Vec<NewBook> = ids
        .zip(&parts)
        .map(|(id, &(account_id, units))| {
            let spec = BookSpec {
                account_id,
                product: book.issued.product,
                units,
                scope: book.issued.scope,
                valid_from: unix_u32(now).min(book.issued.valid_until),
                valid_until: book.issued.valid_until,
                source: "enterprise",
                replaces: Some(from),
                holder_key: None,
            };
            sign_book(master, &issuer, id, &spec)
        })
        .collect();
    let audit = AuditEntry::new(
        actor,
        "book.allocate",
        format!("book:{from}"),
        serde_json::json!({ "to_account": to_account, "units": units }),
    );
    let books = match store
        .replace_book(from, &replacements, "企业内分配", now, &audit)
        .await
    {
        // Another allocation, a take-back or a redemption changed the book since it was read.
        Err(StoreError::Conflict(kind)) => {
            tracing::info!(book = %from, %kind, "allocation refused: the book changed");
            return Err(IssueError::Invalid("该水票刚刚有变动,请刷新后重试".into()));
        }
        other => other?,
    };
    let body = notify::issued_text("企业水票", u32::from(units));
    let key = format!("issued:allocation:{}", replacements[0].id.0);
    notify::tell_account(
        store,
        to_account,
        MessageKind::Issued,
        &body,
        Some(&key),
        now,
    )
    .await;
    Ok(books)
}

/// A gift of tickets outside an order (registration, referral, promotion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gift {
    /// Who receives it.
    pub account_id: i64,
    /// Product of the tickets.
    pub product: ProductCode,
    /// Number of tickets.
    pub units: u16,
    /// Days it stays valid.
    pub validity_days: u32,
    /// Why: `registration`, `referral` or `promotion`.
    pub source: &'static str,
}

/// A gift book ready to sign for any holder: the product, the issuer key and the book id are
/// fetched first, so registration can sign its welcome gifts inside the transaction that
/// creates the new customer's account.
pub struct PlannedGift {
    id: u64,
    issuer: ActiveKey,
    product_name: String,
    product: ProductCode,
    units: u16,
    validity_days: u32,
    source: &'static str,
    valid_from: u32,
}

/// Plans a gift of `units` tickets of `product` (valid anywhere) for `validity_days`.
pub async fn plan_gift(
    store: &Store,
    master: &MasterKey,
    product: ProductCode,
    units: u16,
    validity_days: u32,
    source: &'static str,
    now: i64,
) -> Result<PlannedGift, IssueError> {
    if units == 0 {
        return Err(IssueError::Invalid("赠送数量必须大于 0".into()));
    }
    let product_name = store.product(product).await?.name;
    let issuer = keys::active(store, master, KeyPurpose::Issuer).await?;
    let id = store.allocate_book_ids(1).await?.start;
    Ok(PlannedGift {
        id,
        issuer,
        product_name,
        product,
        units,
        validity_days,
        source,
        valid_from: unix_u32(now),
    })
}

impl PlannedGift {
    /// The signed book for `account_id` and its audit entry.
    pub fn sign(
        &self,
        master: &MasterKey,
        account_id: i64,
        actor: Option<UserId>,
    ) -> (NewBook, AuditEntry) {
        let spec = BookSpec {
            account_id,
            product: self.product,
            units: self.units,
            scope: ScopeId::ANYWHERE,
            valid_from: self.valid_from,
            valid_until: self
                .valid_from
                .saturating_add(self.validity_days.saturating_mul(86_400)),
            source: self.source,
            replaces: None,
            holder_key: None,
        };
        let audit = AuditEntry::new(
            actor,
            "book.gift",
            format!("account:{account_id}"),
            serde_json::json!({ "book": self.id, "units": self.units, "source": self.source }),
        );
        (sign_book(master, &self.issuer, self.id, &spec), audit)
    }

    /// What the holder is told.
    pub fn message(&self) -> String {
        notify::issued_text(&format!("{}赠票", self.product_name), u32::from(self.units))
    }

    /// The dedupe key of that message (suffixed with each user id).
    pub fn dedupe_key(&self) -> String {
        format!("issued:gift:{}", self.id)
    }
}

/// Issues a gift book (valid anywhere) and tells its holder.
pub async fn issue_gift(
    store: &Store,
    master: &MasterKey,
    gift: &Gift,
    actor: Option<UserId>,
    now: i64,
) -> Result<NewBook, IssueError> {
    let planned = plan_gift(
        store,
        master,
        gift.product,
        gift.units,
        gift.validity_days,
        gift.source,
        now,
    )
    .await?;
    let (book, audit) = planned.sign(master, gift.account_id, actor);
    store
        .record_books(std::slice::from_ref(&book), now, &audit)
        .await?;
    notify::tell_account(
        store,
        gift.account_id,
        MessageKind::Issued,
        &planned.message(),
        Some(&planned.dedupe_key()),
        now,
    )
    .await;
    Ok(book)
}

/// Reissues every live book signed by a compromised key; returns the new books.
pub async fn reissue_compromised(
    store: &Store,
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
pub async fn revoke(
    store: &Store,
    id: BookId,
    reason: &str,
    actor: Option<UserId>,
    now: i64,
) -> Result<Book, IssueError> {
    let reason = checked_reason(reason)?;
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

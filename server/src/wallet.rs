//! The holder's view of books (我的水票): who may read which book, what status a customer sees,
//! the filters of the wallet list, and an enterprise admin handing books to members. Shared by
//! the JSON API and the wallet pages.

use std::collections::HashMap;

use crate::config::MasterKey;
use crate::store::models::{Book, Role, User};
use crate::store::{Store, StoreError, StoreResult};
use shuipiao_shared::ids::BookId;
use shuipiao_shared::status::BookState;

/// The status a customer sees; finer than the ledger's [`BookState`] (partly used, expired).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WalletStatus {
    /// 未使用: nothing redeemed yet.
    Unused,
    /// 部分使用: some units left.
    Partial,
    /// 已使用: every unit redeemed.
    UsedUp,
    /// 已过期: past its validity with units left.
    Expired,
    /// 已作废: revoked (lost, refunded, reissued).
    Revoked,
}

impl WalletStatus {
    /// Every status, in the order the filter shows them.
    pub const ALL: [WalletStatus; 5] = [
        WalletStatus::Unused,
        WalletStatus::Partial,
        WalletStatus::UsedUp,
        WalletStatus::Expired,
        WalletStatus::Revoked,
    ];

    /// The status of `book` at `now`.
    pub fn of(book: &Book, now: i64) -> WalletStatus {
        match book.state {
            BookState::Revoked => WalletStatus::Revoked,
            BookState::UsedUp => WalletStatus::UsedUp,
            BookState::Active if i64::from(book.issued.valid_until) <= now => WalletStatus::Expired,
            BookState::Active if book.used_units == 0 => WalletStatus::Unused,
            BookState::Active => WalletStatus::Partial,
        }
    }

    /// zh-CN label.
    pub fn label(self) -> &'static str {
        match self {
            WalletStatus::Unused => "未使用",
            WalletStatus::Partial => "部分使用",
            WalletStatus::UsedUp => "已使用",
            WalletStatus::Expired => "已过期",
            WalletStatus::Revoked => "已作废",
        }
    }

    /// Stable key for query strings and CSS classes.
    pub fn key(self) -> &'static str {
        match self {
            WalletStatus::Unused => "unused",
            WalletStatus::Partial => "partial",
            WalletStatus::UsedUp => "used_up",
            WalletStatus::Expired => "expired",
            WalletStatus::Revoked => "revoked",
        }
    }

    /// Parses [`WalletStatus::key`].
    pub fn parse(key: &str) -> Option<WalletStatus> {
        WalletStatus::ALL.into_iter().find(|s| s.key() == key)
    }

    /// Whether a QR shown for this book can still be redeemed.
    pub fn redeemable(self) -> bool {
        matches!(self, WalletStatus::Unused | WalletStatus::Partial)
    }
}

/// zh-CN name of where a book came from (`books.source`).
pub fn source_label(source: &str) -> &'static str {
    match source {
        "purchase" => "购买套餐",
        "enterprise" => "企业分配",
        "reissue" => "挂失补发",
        "gift" => "赠送",
        "registration" => "注册礼",
        "referral" => "推荐奖励",
        "promotion" => "促销活动",
        _ => "其他",
    }
}

/// Whether `user` may read `book` (its QR included): holders their own account's, staff all.
/// An enterprise admin is the holder of the enterprise's own books only: of the books it handed
/// to members it sees figures on the enterprise page ([`crate::enterprise::member_books`]),
/// never the QR, and a member's own books not at all.
pub fn may_read(user: &User, book: &Book) -> bool {
    match user.spec.role {
        Role::Operator | Role::Admin => true,
        Role::Customer | Role::EnterpriseAdmin => {
            user.spec.account_id == Some(book.issued.account_id)
        }
        Role::Courier | Role::StoreStaff | Role::Statistician | Role::Dispatcher => false,
    }
}

/// Books a holder keeps: their account's.
pub async fn holder_books(store: &Store, user: &User) -> StoreResult<Vec<Book>> {
    match user.spec.account_id {
        Some(account_id) => store.books_of_account(account_id).await,
        None => Ok(Vec::new()),
    }
}

/// One line of the wallet list.
#[derive(Debug, Clone)]
pub struct WalletEntry {
    /// The book.
    pub book: Book,
    /// Its status now.
    pub status: WalletStatus,
    /// Package name, else product name.
    pub title: String,
    /// Product name.
    pub product_name: String,
    /// Whose book it is (account name).
    pub holder_name: String,
}

impl WalletEntry {
    /// Units left.
    pub fn remaining(&self) -> u16 {
        self.book.issued.units.saturating_sub(self.book.used_units)
    }
}

/// Names for products, packages and accounts, loaded once per page.
pub struct Names {
    products: HashMap<u16, String>,
    packages: HashMap<i64, String>,
}

impl Names {
    /// Loads product and package names.
    pub async fn load(store: &Store) -> StoreResult<Names> {
        Ok(Names {
            products: store
                .products()
                .await?
                .into_iter()
                .map(|p| (p.code.0, p.name))
                .collect(),
            packages: store
                .packages()
                .await?
                .into_iter()
                .map(|p| (p.id, p.spec.name))
                .collect(),
        })
    }

    /// A product's name (its code if unknown).
    pub fn product(&self, code: u16) -> String {
        self.products
            .get(&code)
            .cloned()
            .unwrap_or_else(|| format!("产品 {code}"))
    }

    /// A book's title: its package, else its product.
    pub fn title(&self, book: &Book) -> String {
        book.package_id
            .and_then(|id| self.packages.get(&id).cloned())
            .unwrap_or_else(|| self.product(book.issued.product.0))
    }
}

/// The holder's wallet, newest first.
pub async fn entries(store: &Store, user: &User, now: i64) -> StoreResult<Vec<WalletEntry>> {
    let names = Names::load(store).await?;
    let mut holders: HashMap<i64, String> = HashMap::new();
    let mut entries = Vec::new();
    for book in holder_books(store, user).await? {
        let account_id = book.issued.account_id;
        if let std::collections::hash_map::Entry::Vacant(slot) = holders.entry(account_id) {
            slot.insert(store.account(account_id).await?.spec.name);
        }
        entries.push(WalletEntry {
            status: WalletStatus::of(&book, now),
            title: names.title(&book),
            product_name: names.product(book.issued.product.0),
            holder_name: holders.get(&account_id).cloned().unwrap_or_default(),
            book,
        });
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.book.issued.id.0));
    Ok(entries)
}

/// What the wallet list is narrowed to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalletFilter {
    /// Issued at or after (unix seconds).
    pub issued_from: Option<i64>,
    /// Issued before (unix seconds).
    pub issued_before: Option<i64>,
    /// Ticket type: a product code.
    pub product: Option<u16>,
    /// Status.
    pub status: Option<WalletStatus>,
    /// Matches title, product, holder or book number.
    pub keyword: String,
}

impl WalletFilter {
    /// Whether `entry` passes every set criterion.
    pub fn matches(&self, entry: &WalletEntry) -> bool {
        let issued = i64::from(entry.book.issued.valid_from);
        let keyword = self.keyword.trim();
        self.issued_from.is_none_or(|from| issued >= from)
            && self.issued_before.is_none_or(|before| issued < before)
            && self
                .product
                .is_none_or(|code| entry.book.issued.product.0 == code)
            && self.status.is_none_or(|status| entry.status == status)
            && (keyword.is_empty()
                || entry.title.contains(keyword)
                || entry.product_name.contains(keyword)
                || entry.holder_name.contains(keyword)
                || entry.book.issued.id.0.to_string() == keyword)
    }
}

/// Why an enterprise admin's allocation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AllocationError {
    /// Not this enterprise's book or member.
    #[error("只能分配本企业的水票给本企业成员")]
    NotYours,
    /// A member already used part of the book.
    #[error("成员已使用过的水票不能收回")]
    AlreadyUsed,
    /// Issuing refused it.
    #[error(transparent)]
    Issue(#[from] crate::issuance::IssueError),
}

impl From<StoreError> for AllocationError {
    fn from(err: StoreError) -> AllocationError {
        AllocationError::Issue(err.into())
    }
}

/// An enterprise admin gives `units` of an enterprise-held book to a member, or takes an unused
/// book it handed to a member back (`to_account` = the enterprise).
pub async fn enterprise_allocate(
    store: &Store,
    master: &MasterKey,
    admin: &User,
    from: BookId,
    to_account: i64,
    units: u16,
    now: i64,
) -> Result<Vec<Book>, AllocationError> {
    let enterprise = match (admin.spec.role, admin.spec.account_id) {
        (Role::EnterpriseAdmin, Some(enterprise)) => enterprise,
        _ => return Err(AllocationError::NotYours),
    };
    let members: Vec<i64> = store
        .members(enterprise)
        .await?
        .iter()
        .map(|m| m.id)
        .collect();
    let book = match store.book(from).await {
        Ok(book) => book,
        Err(StoreError::NotFound) => return Err(AllocationError::NotYours),
        Err(err) => return Err(err.into()),
    };
    let holder = book.issued.account_id;
    let giving = holder == enterprise && members.contains(&to_account);
    let taking_back = members.contains(&holder) && to_account == enterprise;
    if !giving && !taking_back {
        return Err(AllocationError::NotYours);
    }
    // Only what the enterprise handed out comes back: a member's own books stay theirs.
    if taking_back && !crate::enterprise::handed_out(store, enterprise, from).await? {
        return Err(AllocationError::NotYours);
    }
    if taking_back && book.used_units > 0 {
        return Err(AllocationError::AlreadyUsed);
    }
    Ok(
        crate::issuance::allocate(store, master, from, to_account, units, Some(admin.id), now)
            .await?,
    )
}

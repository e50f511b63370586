//! The catalogue's rules: what a product, region, store, scope or package on sale may hold.
//! The JSON API and the admin pages call the same functions, so the same bad input gets the same
//! zh-CN message, and nothing is stored until every rule holds.

use shuipiao_shared::ids::{ProductCode, ScopeId, UserId};

use crate::store::models::{
    AuditEntry, NewPackage, NewScope, Outlet, Package, Product, Region, Scope,
};
use crate::store::{Store, StoreError};

/// Longest name of a catalogue entry, in characters.
pub const MAX_NAME_CHARS: usize = 40;
/// Most paid, and most bonus, units of one package.
pub const MAX_PACKAGE_UNITS: u16 = 10_000;
/// Longest validity of a package, in days (ten years).
pub const MAX_VALIDITY_DAYS: u32 = 3_650;
/// Highest price of a package in fen (¥9 999 999.99), so an order's total always fits.
pub const MAX_PRICE_FEN: i64 = 999_999_999;
/// Highest deposit per bucket in fen (¥1 000).
pub const MAX_DEPOSIT_FEN: i64 = 100_000;
/// Most regions, and most stores, one scope lists: each is a row written in one transaction.
pub const MAX_SCOPE_PLACES: usize = 1_000;

/// Paid units out of range (also the page's message for text that is not a number).
pub const PAID_UNITS_RULE: &str = "购买张数应为 1–10000";
/// Bonus units out of range.
pub const BONUS_UNITS_RULE: &str = "赠送张数应为 0–10000";
/// Validity out of range.
pub const VALIDITY_RULE: &str = "有效天数应为 1–3650";
/// Price out of range.
pub const PRICE_RULE: &str = "价格应在 0 到 9999999.99 元之间";

/// A product code out of range (also the page's message for text that is not a number).
pub const CODE_RULE: &str = "产品编号应为 1–65535";
/// A volume out of range.
pub const VOLUME_RULE: &str = "容量应为 1–100000 毫升";
/// A store or scope naming a region that does not exist (or a form's text that is not one).
pub const NO_SUCH_REGION: &str = "区域不存在";
/// A scope naming a store that does not exist.
pub const NO_SUCH_OUTLET: &str = "门店不存在";

/// Deposit out of range (also the page's message for text that is not an amount).
pub const DEPOSIT_RULE: &str = "押金应在 0 到 1000 元之间";

/// Why a catalogue change was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// The input breaks a rule; the zh-CN message says which.
    #[error("{0}")]
    Invalid(&'static str),
    /// Storage failed or the change collides with existing data.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The units of each book of a package: paid and bonus units each at most
/// [`MAX_PACKAGE_UNITS`], so their sum always fits in a credential's `u16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackageUnits {
    paid: u16,
    bonus: u16,
}

impl PackageUnits {
    /// Checks 1–10 000 paid and 0–10 000 bonus units.
    pub fn new(paid: u32, bonus: u32) -> Result<PackageUnits, CatalogueError> {
        let paid = u16::try_from(paid)
            .ok()
            .filter(|n| (1..=MAX_PACKAGE_UNITS).contains(n))
            .ok_or(CatalogueError::Invalid(PAID_UNITS_RULE))?;
        let bonus = u16::try_from(bonus)
            .ok()
            .filter(|n| *n <= MAX_PACKAGE_UNITS)
            .ok_or(CatalogueError::Invalid(BONUS_UNITS_RULE))?;
        Ok(PackageUnits { paid, bonus })
    }

    /// Units paid for.
    pub fn paid(self) -> u16 {
        self.paid
    }

    /// Units given on top.
    pub fn bonus(self) -> u16 {
        self.bonus
    }

    /// Units of each book: at most 20 000, so the sum cannot overflow.
    pub fn per_book(self) -> u16 {
        self.paid + self.bonus
    }
}

/// A package that passed every rule that needs no database: only [`PackageDraft::new`] makes
/// one, and [`create_package`] takes nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageDraft {
    name: String,
    price_fen: i64,
    units: PackageUnits,
    validity_days: u32,
    product: ProductCode,
    scope: ScopeId,
    holder_bound: bool,
}

impl PackageDraft {
    /// Checks a package as sent by the API or read from the page's form.
    pub fn new(package: &NewPackage) -> Result<PackageDraft, CatalogueError> {
        let name = checked_name(&package.name, "套餐名称为 1–40 个字")?;
        let units = PackageUnits::new(package.paid_units, package.bonus_units)?;
        if !(1..=MAX_VALIDITY_DAYS).contains(&package.validity_days) {
            return Err(CatalogueError::Invalid(VALIDITY_RULE));
        }
        if !(0..=MAX_PRICE_FEN).contains(&package.price_fen) {
            return Err(CatalogueError::Invalid(PRICE_RULE));
        }
        Ok(PackageDraft {
            name,
            price_fen: package.price_fen,
            units,
            validity_days: package.validity_days,
            product: package.product,
            scope: package.scope,
            holder_bound: package.holder_bound,
        })
    }

    /// Units of each book.
    pub fn units(&self) -> PackageUnits {
        self.units
    }

    fn spec(&self) -> NewPackage {
        NewPackage {
            name: self.name.clone(),
            price_fen: self.price_fen,
            paid_units: u32::from(self.units.paid),
            bonus_units: u32::from(self.units.bonus),
            validity_days: self.validity_days,
            product: self.product,
            scope: self.scope,
            holder_bound: self.holder_bound,
        }
    }
}

/// A trimmed name of 1–40 characters, or `message`.
fn checked_name(name: &str, message: &'static str) -> Result<String, CatalogueError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(CatalogueError::Invalid(message));
    }
    Ok(name.to_string())
}

fn audit(
    actor: Option<UserId>,
    action: &'static str,
    target: String,
    detail: serde_json::Value,
) -> AuditEntry {
    AuditEntry::new(actor, action, target, detail)
}

/// Puts a package on sale: its product and scope must exist. `actor` is the staff member, none
/// for the command line and the demo.
pub async fn create_package(
    store: &Store,
    draft: &PackageDraft,
    actor: Option<UserId>,
    now: i64,
) -> Result<Package, CatalogueError> {
    match store.product(draft.product).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => return Err(CatalogueError::Invalid("产品不存在")),
        Err(err) => return Err(err.into()),
    }
    if draft.scope != ScopeId::ANYWHERE
        && !store.scopes().await?.iter().any(|s| s.id == draft.scope)
    {
        return Err(CatalogueError::Invalid("使用范围不存在"));
    }
    let audit = audit(
        actor,
        "package.create",
        format!("package:{}", draft.name),
        serde_json::json!({ "price_fen": draft.price_fen, "units": draft.units.per_book() }),
    );
    Ok(store.create_package(&draft.spec(), now, &audit).await?)
}

/// A retired package named where a new book would be issued.
pub const RETIRED: &str = "套餐已停售,不能再发放";

/// Takes a package off sale (停售): it issues no new books through the API, the console or the
/// CLI; the books it issued stay valid until they expire.
pub async fn retire_package(
    store: &Store,
    id: i64,
    actor: Option<UserId>,
    now: i64,
) -> Result<Package, CatalogueError> {
    let audit = audit(
        actor,
        "package.retire",
        format!("package:{id}"),
        serde_json::json!({}),
    );
    match store.retire_package(id, now, &audit).await {
        Ok(true) => Ok(store.package(id).await?),
        Ok(false) => Err(CatalogueError::Invalid("套餐已经停售")),
        Err(StoreError::NotFound) => Err(CatalogueError::Invalid("套餐不存在")),
        Err(err) => Err(err.into()),
    }
}

/// A deposit per bucket of 0–[`MAX_DEPOSIT_FEN`] fen.
fn checked_deposit(deposit_fen: i64) -> Result<i64, CatalogueError> {
    if (0..=MAX_DEPOSIT_FEN).contains(&deposit_fen) {
        Ok(deposit_fen)
    } else {
        Err(CatalogueError::Invalid(DEPOSIT_RULE))
    }
}

/// Sets the deposit a customer pays per bucket of `code` (押金); deposits already paid keep
/// the amount they were paid with.
pub async fn set_deposit(
    store: &Store,
    code: ProductCode,
    deposit_fen: i64,
    actor: Option<UserId>,
    now: i64,
) -> Result<(), CatalogueError> {
    let deposit_fen = checked_deposit(deposit_fen)?;
    let audit = audit(
        actor,
        "product.deposit",
        format!("product:{}", code.0),
        serde_json::json!({ "deposit_fen": deposit_fen }),
    );
    match store
        .set_product_deposit(code, deposit_fen, now, &audit)
        .await
    {
        Err(StoreError::NotFound) => Err(CatalogueError::Invalid("产品不存在")),
        other => Ok(other?),
    }
}

/// Adds a product (a bottle size).
pub async fn create_product(
    store: &Store,
    product: &Product,
    actor: Option<UserId>,
    now: i64,
) -> Result<Product, CatalogueError> {
    if product.code.0 == 0 {
        return Err(CatalogueError::Invalid(CODE_RULE));
    }
    if !(1..=100_000).contains(&product.volume_ml) {
        return Err(CatalogueError::Invalid(VOLUME_RULE));
    }
    let product = Product {
        name: checked_name(&product.name, "产品名称为 1–40 个字")?,
        deposit_fen: checked_deposit(product.deposit_fen)?,
        ..product.clone()
    };
    let audit = audit(
        actor,
        "product.create",
        format!("product:{}", product.code.0),
        serde_json::json!({ "name": product.name, "deposit_fen": product.deposit_fen }),
    );
    store.create_product(&product, now, &audit).await?;
    Ok(product)
}

/// Adds a region.
pub async fn create_region(
    store: &Store,
    name: &str,
    actor: Option<UserId>,
    now: i64,
) -> Result<Region, CatalogueError> {
    let name = checked_name(name, "区域名称为 1–40 个字")?;
    let audit = audit(
        actor,
        "region.create",
        format!("region:{name}"),
        serde_json::json!({}),
    );
    Ok(store.create_region(&name, now, &audit).await?)
}

/// Adds a store in a region.
pub async fn create_outlet(
    store: &Store,
    region_id: i64,
    name: &str,
    actor: Option<UserId>,
    now: i64,
) -> Result<Outlet, CatalogueError> {
    let name = checked_name(name, "门店名称为 1–40 个字")?;
    if !store.regions().await?.iter().any(|r| r.id == region_id) {
        return Err(CatalogueError::Invalid(NO_SUCH_REGION));
    }
    let audit = audit(
        actor,
        "outlet.create",
        format!("outlet:{name}"),
        serde_json::json!({ "region_id": region_id }),
    );
    Ok(store.create_outlet(region_id, &name, now, &audit).await?)
}

/// Adds a scope of at least one place, at most [`MAX_SCOPE_PLACES`] regions and as many stores,
/// each existing (a place named twice counts once).
pub async fn create_scope(
    store: &Store,
    scope: &NewScope,
    actor: Option<UserId>,
    now: i64,
) -> Result<Scope, CatalogueError> {
    if scope.region_ids.len() > MAX_SCOPE_PLACES || scope.outlet_ids.len() > MAX_SCOPE_PLACES {
        return Err(CatalogueError::Invalid(
            "一个使用范围最多包含 1000 个区域和 1000 个门店",
        ));
    }
    let distinct = |ids: &[i64]| {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let scope = NewScope {
        name: checked_name(&scope.name, "使用范围名称为 1–40 个字")?,
        region_ids: distinct(&scope.region_ids),
        outlet_ids: distinct(&scope.outlet_ids),
    };
    if scope.region_ids.is_empty() && scope.outlet_ids.is_empty() {
        return Err(CatalogueError::Invalid("使用范围至少包含一个区域或门店"));
    }
    let regions = store.regions().await?;
    if scope
        .region_ids
        .iter()
        .any(|id| !regions.iter().any(|r| r.id == *id))
    {
        return Err(CatalogueError::Invalid(NO_SUCH_REGION));
    }
    let outlets = store.outlets().await?;
    if scope
        .outlet_ids
        .iter()
        .any(|id| !outlets.iter().any(|o| o.id == *id))
    {
        return Err(CatalogueError::Invalid(NO_SUCH_OUTLET));
    }
    let audit = audit(
        actor,
        "scope.create",
        format!("scope:{}", scope.name),
        serde_json::json!({}),
    );
    Ok(store.create_scope(&scope, now, &audit).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package() -> NewPackage {
        NewPackage {
            name: " 买十送一 ".into(),
            price_fen: 15_000,
            paid_units: 10,
            bonus_units: 1,
            validity_days: 365,
            product: ProductCode(189),
            scope: ScopeId::ANYWHERE,
            holder_bound: false,
        }
    }

    fn refused(edit: fn(&mut NewPackage)) -> Option<String> {
        let mut package = package();
        edit(&mut package);
        PackageDraft::new(&package).err().map(|err| err.to_string())
    }

    #[test]
    fn units_of_a_book_always_fit() {
        let most = PackageUnits::new(10_000, 10_000).unwrap();
        assert_eq!(most.per_book(), 20_000);
        assert!(PackageUnits::new(0, 1).is_err());
        assert!(PackageUnits::new(u32::MAX, 1).is_err());
        assert!(PackageUnits::new(1, 65_535).is_err());
    }

    #[test]
    fn a_package_is_checked_before_it_is_stored() {
        let draft = PackageDraft::new(&package()).unwrap();
        assert_eq!(draft.spec().name, "买十送一");
        assert_eq!(draft.units().per_book(), 11);
        assert_eq!(
            refused(|p| p.name.clear()).as_deref(),
            Some("套餐名称为 1–40 个字")
        );
        assert_eq!(
            refused(|p| p.paid_units = 0).as_deref(),
            Some(PAID_UNITS_RULE)
        );
        assert_eq!(
            refused(|p| p.bonus_units = u32::MAX).as_deref(),
            Some(BONUS_UNITS_RULE)
        );
        assert_eq!(
            refused(|p| p.validity_days = 0).as_deref(),
            Some(VALIDITY_RULE)
        );
        assert_eq!(refused(|p| p.price_fen = -1).as_deref(), Some(PRICE_RULE));
        assert_eq!(
            refused(|p| p.price_fen = MAX_PRICE_FEN + 1).as_deref(),
            Some(PRICE_RULE)
        );
    }
}

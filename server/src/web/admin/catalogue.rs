//! Products and packages (admins): the bottle sizes and the packages on sale (家庭月套餐,
//! 企业年套餐, 买十送一 …) with price, paid and bonus units, validity, product and scope; each
//! product's deposit per bucket (押金), and the form that adds a product; and each region's
//! delivery-slot hours (`ordering::slots`).

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use shuipiao_shared::ids::{ProductCode, ScopeId};

use crate::catalogue::{self, PackageDraft};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::ordering::slots::{self, SlotHoursInput};
use crate::store::models::{NewPackage, Product};
use crate::web::admin::{Admin, Chrome, DoneQuery, PlainForm, done};
use crate::web::{PageError, PagePath, PageQuery};

struct PackageRow {
    id: i64,
    retired: bool,
    name: String,
    price: String,
    units: String,
    validity_days: u32,
    product: String,
    scope: String,
    qr: &'static str,
}

struct Choice {
    id: u32,
    name: String,
}

/// A region's slot hours as its form shows them.
struct RegionSlots {
    id: i64,
    name: String,
    /// Morning then afternoon: (key, label, starts, ends, offered).
    slots: Vec<(&'static str, &'static str, String, String, bool)>,
}

#[derive(Template)]
#[template(path = "admin/catalogue.html")]
struct CataloguePage {
    chrome: Chrome,
    products: Vec<Product>,
    packages: Vec<PackageRow>,
    product_choices: Vec<Choice>,
    scopes: Vec<Choice>,
    regions: Vec<RegionSlots>,
}

/// `GET /admin/packages`.
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(query): PageQuery<DoneQuery>,
) -> Result<Response, PageError> {
    let store = &state.store;
    let products = store.products().await?;
    let scopes: Vec<Choice> = store
        .scopes()
        .await?
        .into_iter()
        .map(|s| Choice {
            id: s.id.0,
            name: s.name,
        })
        .collect();
    let product_name = |code: ProductCode| {
        products
            .iter()
            .find(|p| p.code == code)
            .map_or_else(|| format!("产品 {}", code.0), |p| p.name.clone())
    };
    let scope_name = |scope: ScopeId| {
        scopes
            .iter()
            .find(|s| s.id == scope.0)
            .map_or_else(|| "不限区域".to_string(), |s| s.name.clone())
    };
    let packages = store
        .packages()
        .await?
        .into_iter()
        .map(|p| PackageRow {
            id: p.id,
            retired: p.retired_at.is_some(),
            price: format!("¥{}.{:02}", p.spec.price_fen / 100, p.spec.price_fen % 100),
            units: match p.spec.bonus_units {
                0 => format!("{} 张", p.spec.paid_units),
                bonus => format!("{} + 赠 {bonus} 张", p.spec.paid_units),
            },
            validity_days: p.spec.validity_days,
            product: product_name(p.spec.product),
            scope: scope_name(p.spec.scope),
            qr: if p.spec.holder_bound {
                "动态码"
            } else {
                "静态码"
            },
            name: p.spec.name,
        })
        .collect();
    let product_choices = products
        .iter()
        .map(|p| Choice {
            id: u32::from(p.code.0),
            name: p.name.clone(),
        })
        .collect();
    let mut regions = Vec::new();
    for region in store.regions().await? {
        let hours = slots::hours(store, region.id).await?;
        regions.push(RegionSlots {
            id: region.id,
            name: region.name,
            slots: hours
                .iter()
                .map(|row| {
                    (
                        row.slot.as_str(),
                        row.slot.label(),
                        slots::clock(row.starts_minute),
                        slots::clock(row.ends_minute),
                        row.offered,
                    )
                })
                .collect(),
        });
    }
    Ok(admin.send(&CataloguePage {
        chrome: admin.chrome("/admin/packages", query.done.as_deref()),
        products,
        packages,
        product_choices,
        scopes,
        regions,
    }))
}

/// The new-package form as typed.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct PackageForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    price: String,
    #[serde(default)]
    paid_units: String,
    #[serde(default)]
    bonus_units: String,
    #[serde(default)]
    validity_days: String,
    #[serde(default)]
    product: String,
    /// The checkbox: present (any value) when ticked.
    #[serde(default)]
    holder_bound: Option<String>,
    #[serde(default)]
    scope: String,
}

/// Price in yuan (`150`, `150.5`, `150.50`) as fen; the range is the catalogue's rule.
fn fen(text: &str) -> Option<i64> {
    let (whole, cents) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || cents.len() > 2
        || !cents.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let cents: i64 = format!("{cents:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(cents)
}

/// Reads the form into a package; a zh-CN message for text that is not a number. The rules on
/// the numbers are [`PackageDraft`]'s, the same as the API's.
fn package_of(form: &PackageForm) -> Result<NewPackage, &'static str> {
    let number = |text: &str, message: &'static str| -> Result<u32, &'static str> {
        text.trim().parse().map_err(|_| message)
    };
    Ok(NewPackage {
        name: form.name.clone(),
        price_fen: fen(&form.price).ok_or("价格应为元,最多两位小数,例如 150 或 66.50")?,
        paid_units: number(&form.paid_units, catalogue::PAID_UNITS_RULE)?,
        bonus_units: match form.bonus_units.trim() {
            "" => 0,
            text => number(text, catalogue::BONUS_UNITS_RULE)?,
        },
        validity_days: number(&form.validity_days, catalogue::VALIDITY_RULE)?,
        product: ProductCode(form.product.trim().parse().map_err(|_| "请选择产品")?),
        scope: ScopeId(match form.scope.trim() {
            "" => 0,
            text => text.parse().map_err(|_| "请选择使用范围")?,
        }),
        holder_bound: form.holder_bound.is_some(),
    })
}

/// `POST /admin/packages`.
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Form(form): Form<PackageForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    let package = package_of(&form).map_err(ApiError::bad_request)?;
    let draft = PackageDraft::new(&package).map_err(ApiError::from)?;
    catalogue::create_package(&state.store, &draft, Some(admin.user.id), crate::unix_now())
        .await
        .map_err(ApiError::from)?;
    Ok(done("/admin/packages", "package_created"))
}

/// `POST /admin/packages/{id}/retire`: 停售.
pub async fn retire(
    State(state): State<AppState>,
    admin: Admin,
    PagePath(id): PagePath<i64>,
    Form(form): Form<PlainForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    catalogue::retire_package(&state.store, id, Some(admin.user.id), crate::unix_now())
        .await
        .map_err(ApiError::from)?;
    Ok(done("/admin/packages", "package_retired"))
}

/// The new-product form as typed.
#[derive(Debug, Default, Deserialize)]
pub struct ProductForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    volume_ml: String,
    #[serde(default)]
    deposit: String,
}

/// `POST /admin/products`: a bottle size; the rules are [`catalogue::create_product`]'s.
pub async fn create_product(
    State(state): State<AppState>,
    admin: Admin,
    Form(form): Form<ProductForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    let code = form
        .code
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request(catalogue::CODE_RULE))?;
    let volume_ml = form
        .volume_ml
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request(catalogue::VOLUME_RULE))?;
    let deposit_fen = match form.deposit.trim() {
        "" => 0,
        text => fen(text).ok_or(ApiError::bad_request(catalogue::DEPOSIT_RULE))?,
    };
    let product = Product {
        code: ProductCode(code),
        name: form.name,
        volume_ml,
        deposit_fen,
    };
    catalogue::create_product(
        &state.store,
        &product,
        Some(admin.user.id),
        crate::unix_now(),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(done("/admin/packages", "product_created"))
}

/// A product's deposit form as typed.
#[derive(Debug, Default, Deserialize)]
pub struct DepositForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    deposit: String,
}

/// `POST /admin/products/{code}/deposit`: the deposit per bucket in yuan; the range is
/// [`catalogue::set_deposit`]'s.
pub async fn set_deposit(
    State(state): State<AppState>,
    admin: Admin,
    PagePath(code): PagePath<u16>,
    Form(form): Form<DepositForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    let deposit_fen = fen(&form.deposit).ok_or(ApiError::bad_request(catalogue::DEPOSIT_RULE))?;
    catalogue::set_deposit(
        &state.store,
        ProductCode(code),
        deposit_fen,
        Some(admin.user.id),
        crate::unix_now(),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(done("/admin/packages", "deposit_saved"))
}

/// A region's slot-hours form as typed.
#[derive(Debug, Default, Deserialize)]
pub struct SlotsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    morning_starts: String,
    #[serde(default)]
    morning_ends: String,
    /// The checkbox: present when ticked.
    #[serde(default)]
    morning_offered: Option<String>,
    #[serde(default)]
    afternoon_starts: String,
    #[serde(default)]
    afternoon_ends: String,
    /// The checkbox: present when ticked.
    #[serde(default)]
    afternoon_offered: Option<String>,
}

/// `POST /admin/regions/{id}/slots`: the rules are [`slots::set_hours`]'.
pub async fn set_slots(
    State(state): State<AppState>,
    admin: Admin,
    PagePath(region_id): PagePath<i64>,
    Form(form): Form<SlotsForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    let input = [
        SlotHoursInput {
            slot: "morning".into(),
            starts: form.morning_starts,
            ends: form.morning_ends,
            offered: form.morning_offered.is_some(),
        },
        SlotHoursInput {
            slot: "afternoon".into(),
            starts: form.afternoon_starts,
            ends: form.afternoon_ends,
            offered: form.afternoon_offered.is_some(),
        },
    ];
    slots::set_hours(
        &state.store,
        Some(admin.user.id),
        region_id,
        &input,
        crate::unix_now(),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(done("/admin/packages", "slots_saved"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_read_in_yuan() {
        assert_eq!(fen("99999999999999999999"), None);
        assert_eq!(fen("92233720368547759"), None, "overflows in fen");
        assert_eq!(fen("150"), Some(15_000));
        assert_eq!(fen("66.5"), Some(6_650));
        assert_eq!(fen("0.05"), Some(5));
        assert_eq!(fen("1.234"), None);
        assert_eq!(fen("-1"), None);
        assert_eq!(fen("abc"), None);
        assert_eq!(fen(".5"), None);
    }

    #[test]
    fn a_package_form_is_read() {
        let form = PackageForm {
            name: "买十送一".into(),
            price: "150".into(),
            paid_units: "10".into(),
            bonus_units: "1".into(),
            validity_days: "365".into(),
            product: "189".into(),
            ..PackageForm::default()
        };
        let package = package_of(&form).unwrap();
        assert_eq!(
            (package.price_fen, package.paid_units, package.bonus_units),
            (15_000, 10, 1)
        );
        assert_eq!(package.scope, ScopeId::ANYWHERE);
        let bad = |edit: fn(&mut PackageForm)| {
            let mut f = form.clone();
            edit(&mut f);
            package_of(&f).err()
        };
        assert_eq!(
            bad(|f| f.paid_units = "十".into()),
            Some(catalogue::PAID_UNITS_RULE)
        );
        assert_eq!(
            bad(|f| f.validity_days = "99999999999".into()),
            Some(catalogue::VALIDITY_RULE)
        );
        assert_eq!(bad(|f| f.product.clear()), Some("请选择产品"));
        assert!(bad(|f| f.price = "1,5".into()).is_some());
    }
}

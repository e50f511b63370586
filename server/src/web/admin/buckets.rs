//! 客户水桶 (operators, admins): one account's bucket ledger per product, the plant's records,
//! and the forms that record a deposit paid at the counter (收押金), an opening balance
//! (期初桶数) or a refund (退押金). The rules are [`crate::buckets`]', the same as the API's.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use shuipiao_shared::ids::ProductCode;

use crate::buckets::{self, ProductBuckets, RecordInput};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::local_time;
use crate::store::buckets::{PayMethod, RecordKind};
use crate::store::models::Product;
use crate::web::admin::{Admin, Chrome, done};
use crate::web::{PageError, PagePath, PageQuery};

/// A record as its row shows it.
struct RecordRow {
    at: String,
    kind: &'static str,
    product: String,
    buckets: u16,
    amount: String,
    method: &'static str,
    note: String,
}

#[derive(Template)]
#[template(path = "admin/buckets.html")]
struct BucketsPage {
    chrome: Chrome,
    /// The account shown, if one was asked for.
    account: Option<(i64, String)>,
    ledgers: Vec<ProductBuckets>,
    records: Vec<RecordRow>,
    products: Vec<Product>,
}

/// `GET /admin/buckets?account=`.
#[derive(Debug, Default, Deserialize)]
pub struct BucketsQuery {
    #[serde(default)]
    account: Option<i64>,
    #[serde(default)]
    done: Option<String>,
}

/// `GET /admin/buckets`.
pub async fn show(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(query): PageQuery<BucketsQuery>,
) -> Result<Response, PageError> {
    let store = &state.store;
    let products = store.products().await?;
    let (mut account, mut ledgers, mut records) = (None, Vec::new(), Vec::new());
    if let Some(id) = query.account {
        let found = store.account(id).await?;
        ledgers = buckets::of_account(store, &admin.user, id)
            .await
            .map_err(ApiError::from)?;
        records = buckets::records(store, &admin.user, id)
            .await
            .map_err(ApiError::from)?
            .into_iter()
            .map(|r| RecordRow {
                at: local_time::minute(r.created_at),
                kind: r.kind.label(),
                product: products
                    .iter()
                    .find(|p| p.code == r.product)
                    .map_or_else(|| format!("产品 {}", r.product.0), |p| p.name.clone()),
                buckets: r.buckets,
                amount: buckets::yuan(r.amount_fen),
                method: r.method.label(),
                note: r.note,
            })
            .collect();
        account = Some((id, found.spec.name));
    }
    Ok(admin.send(&BucketsPage {
        chrome: admin.chrome("/admin/buckets", query.done.as_deref()),
        account,
        ledgers,
        records,
        products,
    }))
}

/// The record form as typed.
#[derive(Debug, Default, Deserialize)]
pub struct RecordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    buckets: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    note: String,
}

/// `POST /admin/buckets/{account}/records`: the rules are [`buckets::record`]'s.
pub async fn record(
    State(state): State<AppState>,
    admin: Admin,
    PagePath(account): PagePath<i64>,
    Form(form): Form<RecordForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    let kind = match form.kind.as_str() {
        "opening" => RecordKind::Opening,
        "deposit" => RecordKind::Deposit,
        "refund" => RecordKind::Refund,
        _ => return Err(ApiError::bad_request("请选择登记类型").into()),
    };
    let product = form
        .product
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request("请选择产品"))?;
    // Text that is not a whole number gets the count's rule, as a number out of range does.
    let buckets = form.buckets.trim().parse().unwrap_or(i64::MIN);
    let input = RecordInput {
        product: ProductCode(product),
        kind,
        buckets,
        method: PayMethod::parse(form.method.trim()).unwrap_or(PayMethod::Cash),
        note: form.note,
    };
    buckets::record(
        &state.store,
        &admin.user,
        account,
        &input,
        crate::unix_now(),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(done(
        &format!("/admin/buckets?account={account}"),
        "buckets_recorded",
    ))
}

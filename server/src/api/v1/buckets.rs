//! Buckets (押桶 / 空桶): an account's bucket ledgers and records, and the plant's records of
//! deposits, opening balances and refunds. The rules are in [`crate::buckets`]; these handlers
//! parse and present.

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use shuipiao_shared::ids::ProductCode;
use utoipa::ToSchema;

use crate::buckets::{self, ProductBuckets, RecordInput};
use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::store::buckets::{BucketRecord, PayMethod, RecordKind};

/// An account's buckets.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountBuckets {
    /// One ledger per product the account has any entry of.
    pub products: Vec<ProductBuckets>,
    /// The plant's records, newest first.
    pub records: Vec<BucketRecord>,
}

/// An account's bucket ledgers and records: its own customers and enterprise admin, operators
/// and admins.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/buckets", tag = "buckets",
    params(("id" = i64, Path, description = "account id")),
    responses((status = 200, body = AccountBuckets), (status = 403)))]
pub async fn account_buckets(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AccountBuckets>, ApiError> {
    Ok(Json(AccountBuckets {
        products: buckets::of_account(&state.store, &user, id).await?,
        records: buckets::records(&state.store, &user, id).await?,
    }))
}

/// `POST /api/v1/accounts/{id}/buckets/records`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBucketRecord {
    /// The product.
    pub product: u16,
    /// `opening`, `deposit` or `refund`.
    pub kind: RecordKind,
    /// Buckets: 0–1000 for an opening balance, else 1–100.
    pub buckets: i64,
    /// `cash`, `account` or `online`; cash if left out.
    #[serde(default)]
    pub method: Option<PayMethod>,
    /// Note, at most 100 characters.
    #[serde(default)]
    pub note: String,
}

/// A record made, with the product's new ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordedBuckets {
    /// The record.
    pub record: BucketRecord,
    /// The product's ledger after it.
    pub ledger: ProductBuckets,
}

/// Records a deposit paid at the counter, an opening balance or a refund (operators, admins).
#[utoipa::path(post, path = "/api/v1/accounts/{id}/buckets/records", tag = "buckets",
    request_body = NewBucketRecord, params(("id" = i64, Path, description = "account id")),
    responses((status = 200, body = RecordedBuckets), (status = 400), (status = 403)))]
pub async fn add_record(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewBucketRecord>,
) -> Result<Json<RecordedBuckets>, ApiError> {
    let input = RecordInput {
        product: ProductCode(body.product),
        kind: body.kind,
        buckets: body.buckets,
        method: body.method.unwrap_or(PayMethod::Cash),
        note: body.note,
    };
    let (record, ledger) =
        buckets::record(&state.store, &user, id, &input, crate::unix_now()).await?;
    Ok(Json(RecordedBuckets { record, ledger }))
}

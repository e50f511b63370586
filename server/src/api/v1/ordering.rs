//! Ordering water: addresses, the slots open now, orders (place, cancel, repeat) and recurring
//! orders. The rules are in [`crate::ordering`]; these handlers parse and present.

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::ordering::addresses::{self, AddressInput, AddressView};
use crate::ordering::orders::{self, OrderInput, OrderView, PayableBook};
use crate::ordering::recurring::{self, RecurringInput, RecurringView};
use crate::ordering::slots::{self, SlotChoice};

/// The signed-in customer's (or enterprise's) live addresses, the default first.
#[utoipa::path(get, path = "/api/v1/addresses", tag = "ordering",
    responses((status = 200, body = Vec<AddressView>)))]
pub async fn list_addresses(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
) -> Result<Json<Vec<AddressView>>, ApiError> {
    Ok(Json(
        addresses::list(&state.store, &state.master, &user).await?,
    ))
}

/// The id of the address or recurring order a request named or made.
#[derive(Debug, Serialize, ToSchema)]
pub struct Changed {
    /// The id.
    pub id: i64,
}

/// Adds an address; the first becomes the default.
#[utoipa::path(post, path = "/api/v1/addresses", tag = "ordering", request_body = AddressInput,
    responses((status = 200, body = Changed), (status = 400)))]
pub async fn add_address(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiJson(input): ApiJson<AddressInput>,
) -> Result<Json<Changed>, ApiError> {
    let id = addresses::add(
        &state.store,
        &state.master,
        &user,
        &input,
        crate::unix_now(),
    )
    .await?;
    Ok(Json(Changed { id }))
}

/// Rewrites an address; an empty phone keeps the stored one.
#[utoipa::path(put, path = "/api/v1/addresses/{id}", tag = "ordering", request_body = AddressInput,
    params(("id" = i64, Path, description = "address id")),
    responses((status = 200, body = Changed), (status = 400)))]
pub async fn edit_address(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<AddressInput>,
) -> Result<Json<Changed>, ApiError> {
    addresses::edit(
        &state.store,
        &state.master,
        &user,
        id,
        &input,
        crate::unix_now(),
    )
    .await?;
    Ok(Json(Changed { id }))
}

/// Takes an address off the list; orders keep it.
#[utoipa::path(delete, path = "/api/v1/addresses/{id}", tag = "ordering",
    params(("id" = i64, Path, description = "address id")),
    responses((status = 200, body = Changed), (status = 400)))]
pub async fn remove_address(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Changed>, ApiError> {
    addresses::remove(&state.store, &user, id, crate::unix_now()).await?;
    Ok(Json(Changed { id }))
}

/// Makes an address the default.
#[utoipa::path(post, path = "/api/v1/addresses/{id}/default", tag = "ordering",
    params(("id" = i64, Path, description = "address id")),
    responses((status = 200, body = Changed), (status = 400)))]
pub async fn default_address(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Changed>, ApiError> {
    addresses::set_default(&state.store, &user, id, crate::unix_now()).await?;
    Ok(Json(Changed { id }))
}

/// Query of the open slots.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotQuery {
    /// One of the account's addresses.
    pub address_id: i64,
}

/// The days and slots an order for this address may choose now.
#[utoipa::path(get, path = "/api/v1/delivery-slots", tag = "ordering",
    params(("address_id" = i64, Query, description = "one of the account's addresses")),
    responses((status = 200, body = Vec<SlotChoice>), (status = 400)))]
pub async fn open_slots(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiQuery(query): ApiQuery<SlotQuery>,
) -> Result<Json<Vec<SlotChoice>>, ApiError> {
    Ok(Json(
        slots::for_address(&state.store, &user, query.address_id, crate::unix_now()).await?,
    ))
}

/// The account's orders, newest first.
#[utoipa::path(get, path = "/api/v1/delivery-orders", tag = "ordering",
    responses((status = 200, body = Vec<OrderView>)))]
pub async fn list_orders(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
) -> Result<Json<Vec<OrderView>>, ApiError> {
    Ok(Json(orders::list(&state.store, &user).await?))
}

/// Places an order (一键订水).
#[utoipa::path(post, path = "/api/v1/delivery-orders", tag = "ordering", request_body = OrderInput,
    responses((status = 200, body = OrderView), (status = 400)))]
pub async fn place_order(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiJson(input): ApiJson<OrderInput>,
) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(
        orders::place(&state.store, &user, &input, crate::unix_now()).await?,
    ))
}

/// One of the account's orders.
#[utoipa::path(get, path = "/api/v1/delivery-orders/{id}", tag = "ordering",
    params(("id" = i64, Path, description = "order number")),
    responses((status = 200, body = OrderView), (status = 404)))]
pub async fn get_order(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(orders::one(&state.store, &user, id).await?))
}

/// Cancels an order no courier has yet.
#[utoipa::path(post, path = "/api/v1/delivery-orders/{id}/cancel", tag = "ordering",
    params(("id" = i64, Path, description = "order number")),
    responses((status = 200, body = OrderView), (status = 400), (status = 404)))]
pub async fn cancel_order(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(
        orders::cancel(&state.store, &user, id, crate::unix_now()).await?,
    ))
}

/// Orders again what the account ordered last, for the first slot still open (再来一单).
#[utoipa::path(post, path = "/api/v1/delivery-orders/repeat", tag = "ordering",
    responses((status = 200, body = OrderView), (status = 400)))]
pub async fn repeat_order(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(
        orders::repeat(&state.store, &user, crate::unix_now()).await?,
    ))
}

/// The account's books an order may be paid with, with the units still orderable from each
/// (units − used − reserved by open orders).
#[utoipa::path(get, path = "/api/v1/books/orderable", tag = "ordering",
    responses((status = 200, body = Vec<PayableBook>)))]
pub async fn orderable_books(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
) -> Result<Json<Vec<PayableBook>>, ApiError> {
    Ok(Json(
        orders::payable_books(&state.store, &user, crate::unix_now()).await?,
    ))
}

/// The account's recurring orders.
#[utoipa::path(get, path = "/api/v1/recurring-orders", tag = "ordering",
    responses((status = 200, body = Vec<RecurringView>)))]
pub async fn list_recurring(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
) -> Result<Json<Vec<RecurringView>>, ApiError> {
    Ok(Json(recurring::list(&state.store, &user).await?))
}

/// Makes a recurring order (周期订水).
#[utoipa::path(post, path = "/api/v1/recurring-orders", tag = "ordering",
    request_body = RecurringInput,
    responses((status = 200, body = RecurringView), (status = 400)))]
pub async fn create_recurring(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiJson(input): ApiJson<RecurringInput>,
) -> Result<Json<RecurringView>, ApiError> {
    Ok(Json(
        recurring::create(&state.store, &user, &input, crate::unix_now()).await?,
    ))
}

/// Deletes a recurring order; the orders it made stay.
#[utoipa::path(delete, path = "/api/v1/recurring-orders/{id}", tag = "ordering",
    params(("id" = i64, Path, description = "recurring order id")),
    responses((status = 200, body = Changed), (status = 404)))]
pub async fn delete_recurring(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Changed>, ApiError> {
    recurring::delete(&state.store, &user, id, crate::unix_now()).await?;
    Ok(Json(Changed { id }))
}

/// Pauses a recurring order.
#[utoipa::path(post, path = "/api/v1/recurring-orders/{id}/pause", tag = "ordering",
    params(("id" = i64, Path, description = "recurring order id")),
    responses((status = 200, body = RecurringView), (status = 404)))]
pub async fn pause_recurring(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<RecurringView>, ApiError> {
    Ok(Json(
        recurring::pause(&state.store, &user, id, crate::unix_now()).await?,
    ))
}

/// Resumes a paused recurring order.
#[utoipa::path(post, path = "/api/v1/recurring-orders/{id}/resume", tag = "ordering",
    params(("id" = i64, Path, description = "recurring order id")),
    responses((status = 200, body = RecurringView), (status = 404)))]
pub async fn resume_recurring(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<RecurringView>, ApiError> {
    Ok(Json(
        recurring::resume(&state.store, &user, id, crate::unix_now()).await?,
    ))
}

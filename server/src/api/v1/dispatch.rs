//! Dispatch (派单) for dispatchers, operators and admins: a day's orders and couriers' loads,
//! automatic assignment, manual assignment and reassignment, cancellation by staff. Each handler
//! parses and calls one function of the `dispatch` domain.

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use shuipiao_shared::ids::UserId;
use utoipa::ToSchema;

use crate::accounts::Actor;
use crate::dispatch::{self, BoardOrder, CourierLoad};
use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::store::delivery_orders::DeliveryOrder;

/// Query of the day's orders.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrdersQuery {
    /// The Beijing day, `YYYY-MM-DD`.
    pub date: String,
    /// Only this region's orders.
    #[serde(default)]
    pub region_id: Option<i64>,
    /// Only this slot's orders: `morning` or `afternoon`.
    #[serde(default)]
    pub slot: Option<String>,
}

/// An order as dispatch sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DispatchOrder {
    /// Order number.
    pub id: i64,
    /// The order's region.
    pub region_id: i64,
    /// The Beijing day.
    pub date: String,
    /// `morning` or `afternoon`.
    pub slot: String,
    /// `pending`, `assigned`, `out`, `delivered`, `failed` or `cancelled`.
    pub state: String,
    /// The state as people read it.
    pub state_label: String,
    /// The assigned courier.
    pub courier_id: Option<u64>,
    /// Their login name.
    pub courier: Option<String>,
    /// Still open after its slot ended (逾期).
    pub late: bool,
    /// Pending in a region without an enabled courier (无可派送员).
    pub no_courier: bool,
    /// How many bottles.
    pub bottles: u16,
    /// `tickets`, `account` or `cash`.
    pub payment: String,
    /// 小区 楼栋 单元 门牌.
    pub address: String,
    /// Who receives the water.
    pub contact: String,
    /// The customer's note for the courier.
    pub note: String,
}

impl From<BoardOrder> for DispatchOrder {
    fn from(row: BoardOrder) -> DispatchOrder {
        DispatchOrder {
            address: row.address.line(),
            contact: row.address.contact,
            courier: row.courier,
            late: row.late,
            no_courier: row.no_courier,
            ..DispatchOrder::from(row.order)
        }
    }
}

impl From<DeliveryOrder> for DispatchOrder {
    fn from(order: DeliveryOrder) -> DispatchOrder {
        DispatchOrder {
            id: order.id,
            region_id: order.region_id,
            date: order.slot_date,
            slot: order.slot.as_str().to_string(),
            state: order.state.as_str().to_string(),
            state_label: order.state.label().to_string(),
            courier_id: order.courier_id.map(|c| c.0),
            courier: None,
            late: false,
            no_courier: false,
            bottles: order.bottles,
            payment: order.payment.kind().to_string(),
            address: String::new(),
            contact: String::new(),
            note: order.note,
        }
    }
}

/// The orders of a day by slot and id, with their courier, late flag and 无可派送员 flag.
#[utoipa::path(get, path = "/api/v1/dispatch/orders", tag = "dispatch",
    params(
        ("date" = String, Query, description = "the Beijing day, YYYY-MM-DD"),
        ("region_id" = Option<i64>, Query, description = "only this region"),
        ("slot" = Option<String>, Query, description = "only this slot: morning or afternoon"),
    ),
    responses((status = 200, body = Vec<DispatchOrder>), (status = 400)))]
pub async fn orders(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<OrdersQuery>,
) -> Result<Json<Vec<DispatchOrder>>, ApiError> {
    let board = dispatch::board(
        &state.store,
        &query.date,
        query.region_id,
        query.slot.as_deref(),
        crate::unix_now(),
    )
    .await?;
    Ok(Json(board.orders.into_iter().map(Into::into).collect()))
}

/// Query of the couriers' loads.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CouriersQuery {
    /// The Beijing day, `YYYY-MM-DD`.
    pub date: String,
}

/// A courier and their orders of the day.
#[derive(Debug, Serialize, ToSchema)]
pub struct CourierLoadView {
    /// The courier's user id.
    pub id: u64,
    /// Their login name.
    pub username: String,
    /// The region they serve.
    pub region_id: i64,
    /// Disabled couriers get no new orders; listed only while they still have some that day.
    pub disabled: bool,
    /// Morning orders.
    pub morning: u32,
    /// Afternoon orders.
    pub afternoon: u32,
}

impl From<CourierLoad> for CourierLoadView {
    fn from(row: CourierLoad) -> CourierLoadView {
        CourierLoadView {
            id: row.courier.id.0,
            username: row.courier.username,
            region_id: row.courier.region_id,
            disabled: row.courier.disabled,
            morning: row.load.morning,
            afternoon: row.load.afternoon,
        }
    }
}

/// The couriers and their orders of a day (every order with a courier but a cancelled one).
#[utoipa::path(get, path = "/api/v1/dispatch/couriers", tag = "dispatch",
    params(("date" = String, Query, description = "the Beijing day, YYYY-MM-DD")),
    responses((status = 200, body = Vec<CourierLoadView>), (status = 400)))]
pub async fn couriers(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<CouriersQuery>,
) -> Result<Json<Vec<CourierLoadView>>, ApiError> {
    let board = dispatch::board(&state.store, &query.date, None, None, crate::unix_now()).await?;
    Ok(Json(board.couriers.into_iter().map(Into::into).collect()))
}

/// `POST /api/v1/dispatch/auto`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoRequest {
    /// The Beijing day, `YYYY-MM-DD`.
    pub date: String,
    /// Only this region's orders.
    #[serde(default)]
    pub region_id: Option<i64>,
}

/// One order given to a courier.
#[derive(Debug, Serialize, ToSchema)]
pub struct Assignment {
    /// Order number.
    pub order_id: i64,
    /// The courier's user id.
    pub courier_id: u64,
}

/// What automatic assignment did.
#[derive(Debug, Serialize, ToSchema)]
pub struct AutoResult {
    /// The orders assigned, each to a courier of its region.
    pub assigned: Vec<Assignment>,
    /// Pending orders left without a courier: their region has none (无可派送员).
    pub unassignable: Vec<i64>,
}

/// Gives each pending order of the day to the courier of its region with the fewest orders of
/// that day and slot.
#[utoipa::path(post, path = "/api/v1/dispatch/auto", tag = "dispatch", request_body = AutoRequest,
    responses((status = 200, body = AutoResult), (status = 400)))]
pub async fn auto(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiJson(request): ApiJson<AutoRequest>,
) -> Result<Json<AutoResult>, ApiError> {
    let done = dispatch::auto_assign(
        &state.store,
        Actor::api(user.id),
        &request.date,
        request.region_id,
        crate::unix_now(),
    )
    .await?;
    Ok(Json(AutoResult {
        assigned: done
            .plan
            .assignments
            .into_iter()
            .map(|(order_id, courier)| Assignment {
                order_id,
                courier_id: courier.0,
            })
            .collect(),
        unassignable: done.plan.unassignable,
    }))
}

/// `POST /api/v1/dispatch/orders/{id}/assign`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// An enabled courier of the order's region.
    pub courier_id: u64,
}

/// Assigns an open order to a courier, or reassigns it from its courier.
#[utoipa::path(post, path = "/api/v1/dispatch/orders/{id}/assign", tag = "dispatch",
    request_body = AssignRequest, params(("id" = i64, Path, description = "order number")),
    responses((status = 200, body = DispatchOrder), (status = 400), (status = 404), (status = 409)))]
pub async fn assign(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(request): ApiJson<AssignRequest>,
) -> Result<Json<DispatchOrder>, ApiError> {
    let order = dispatch::assign(
        &state.store,
        Actor::api(user.id),
        id,
        UserId(request.courier_id),
        crate::unix_now(),
    )
    .await?;
    Ok(Json(order.into()))
}

/// `POST /api/v1/dispatch/orders/{id}/cancel`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Why, 1–100 characters.
    pub reason: String,
}

/// Cancels an order that is not yet delivered, failed or cancelled.
#[utoipa::path(post, path = "/api/v1/dispatch/orders/{id}/cancel", tag = "dispatch",
    request_body = CancelRequest, params(("id" = i64, Path, description = "order number")),
    responses((status = 200, body = DispatchOrder), (status = 400), (status = 404), (status = 409)))]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(request): ApiJson<CancelRequest>,
) -> Result<Json<DispatchOrder>, ApiError> {
    let order = dispatch::cancel_by_staff(
        &state.store,
        Actor::api(user.id),
        id,
        &request.reason,
        crate::unix_now(),
    )
    .await?;
    Ok(Json(order.into()))
}

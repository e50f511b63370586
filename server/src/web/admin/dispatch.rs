//! The dispatch page (派单): today's or tomorrow's orders by slot, with a region filter, the
//! automatic-assignment button, a reassign select per open order, late orders highlighted,
//! 无可派送员 shown, per-courier counts; and each courier's printable route sheet. Every form
//! goes through the `dispatch` domain, which the JSON API calls too.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use shuipiao_shared::ids::UserId;

use crate::accounts::Actor;
use crate::dispatch::{self, BoardOrder, DispatchError};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::local_time;
use crate::store::delivery_orders::Slot;
use crate::web::admin::{Admin, Chrome, done};
use crate::web::{PageError, PagePath, PageQuery};

/// Query of the dispatch page and of the forms' way back to it.
#[derive(Debug, Default, Deserialize)]
pub struct DispatchQuery {
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    region_id: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// A region filter as typed: empty is every region, anything but a number names none.
fn region_filter(typed: Option<&str>) -> Result<Option<i64>, DispatchError> {
    match typed.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| DispatchError::UnknownRegion),
    }
}

/// The page again, for `date` and `region`, with the notice `key`.
fn back(date: &str, region: Option<i64>, key: &str) -> Response {
    let region = region
        .map(|r| format!("&region_id={r}"))
        .unwrap_or_default();
    done(&format!("/admin/dispatch?date={date}{region}"), key)
}

struct DayLink {
    date: String,
    label: &'static str,
    active: bool,
}

struct RegionOption {
    id: i64,
    name: String,
    selected: bool,
}

struct CourierOption {
    id: u64,
    name: String,
}

struct OrderRow {
    id: i64,
    region: String,
    address: String,
    contact: String,
    bottles: u16,
    payment: &'static str,
    note: String,
    state: &'static str,
    open: bool,
    courier: Option<String>,
    late: bool,
    no_courier: bool,
    choices: Vec<CourierOption>,
}

struct SlotGroup {
    label: &'static str,
    orders: Vec<OrderRow>,
}

struct LoadRow {
    id: u64,
    name: String,
    region: String,
    disabled: bool,
    morning: u32,
    afternoon: u32,
    total: u32,
}

#[derive(Template)]
#[template(path = "admin/dispatch.html")]
struct DispatchPage {
    chrome: Chrome,
    date: String,
    region_id: String,
    days: Vec<DayLink>,
    regions: Vec<RegionOption>,
    slots: Vec<SlotGroup>,
    loads: Vec<LoadRow>,
    pending: usize,
    late: usize,
    no_courier: usize,
}

/// `GET /admin/dispatch?date=&region_id=`: today unless another day is asked for.
pub async fn show(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(query): PageQuery<DispatchQuery>,
) -> Result<Response, PageError> {
    let store = &state.store;
    let now = crate::unix_now();
    let [today, tomorrow] = dispatch::today_and_tomorrow(now);
    let date = query.date.clone().unwrap_or_else(|| today.clone());
    let region = region_filter(query.region_id.as_deref()).map_err(ApiError::from)?;
    let board = dispatch::board(store, &date, region, None, now)
        .await
        .map_err(ApiError::from)?;
    let regions = store.regions().await?;
    let region_names: HashMap<i64, String> =
        regions.iter().map(|r| (r.id, r.name.clone())).collect();
    let region_name = |id: i64| region_names.get(&id).cloned().unwrap_or_default();
    let row = |b: &BoardOrder| OrderRow {
        id: b.order.id,
        region: region_name(b.order.region_id),
        address: b.address.line(),
        contact: b.address.contact.clone(),
        bottles: b.order.bottles,
        payment: b.order.payment.label(),
        note: b.order.note.clone(),
        state: b.order.state.label(),
        open: b.order.state.is_open(),
        courier: b.courier.clone(),
        late: b.late,
        no_courier: b.no_courier,
        choices: board
            .couriers
            .iter()
            .filter(|c| {
                !c.courier.disabled
                    && c.courier.region_id == b.order.region_id
                    && Some(c.courier.id) != b.order.courier_id
            })
            .map(|c| CourierOption {
                id: c.courier.id.0,
                name: c.courier.username.clone(),
            })
            .collect(),
    };
    let slots = Slot::ALL
        .into_iter()
        .map(|slot| SlotGroup {
            label: slot.label(),
            orders: board
                .orders
                .iter()
                .filter(|b| b.order.slot == slot)
                .map(row)
                .collect(),
        })
        .collect();
    let loads = board
        .couriers
        .iter()
        .map(|c| LoadRow {
            id: c.courier.id.0,
            name: c.courier.username.clone(),
            region: region_name(c.courier.region_id),
            disabled: c.courier.disabled,
            morning: c.load.morning,
            afternoon: c.load.afternoon,
            total: c.load.day(),
        })
        .collect();
    let count = |keep: fn(&BoardOrder) -> bool| board.orders.iter().filter(|b| keep(b)).count();
    Ok(admin.send(&DispatchPage {
        chrome: admin.chrome("/admin/dispatch", query.done.as_deref()),
        days: [(today, "今天"), (tomorrow, "明天")]
            .into_iter()
            .map(|(day, label)| DayLink {
                active: day == board.day,
                date: day,
                label,
            })
            .collect(),
        regions: regions
            .iter()
            .map(|r| RegionOption {
                id: r.id,
                name: r.name.clone(),
                selected: Some(r.id) == region,
            })
            .collect(),
        region_id: region.map(|r| r.to_string()).unwrap_or_default(),
        pending: count(|b| b.order.courier_id.is_none() && b.order.state.is_open()),
        late: count(|b| b.late),
        no_courier: count(|b| b.no_courier),
        slots,
        loads,
        date: board.day,
    }))
}

/// The automatic-assignment form.
#[derive(Debug, Deserialize)]
pub struct AutoForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    region_id: Option<String>,
}

/// `POST /admin/dispatch/auto`.
pub async fn auto(
    State(state): State<AppState>,
    admin: Admin,
    Form(form): Form<AutoForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    let region = region_filter(form.region_id.as_deref()).map_err(ApiError::from)?;
    let done = dispatch::auto_assign(
        &state.store,
        Actor::console(admin.user.id),
        &form.date,
        region,
        crate::unix_now(),
    )
    .await
    .map_err(ApiError::from)?;
    let key = if done.plan.unassignable.is_empty() {
        "dispatched"
    } else {
        "dispatched_partly"
    };
    Ok(back(form.date.trim(), region, key))
}

/// The assign form of one order.
#[derive(Debug, Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    courier_id: String,
    #[serde(default)]
    region_id: Option<String>,
}

/// `POST /admin/dispatch/orders/{id}/assign`.
pub async fn assign(
    State(state): State<AppState>,
    admin: Admin,
    PagePath(id): PagePath<i64>,
    Form(form): Form<AssignForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    let courier = form
        .courier_id
        .trim()
        .parse()
        .map(UserId)
        .map_err(|_| ApiError::from(DispatchError::UnknownCourier))?;
    let region = region_filter(form.region_id.as_deref()).map_err(ApiError::from)?;
    let order = dispatch::assign(
        &state.store,
        Actor::console(admin.user.id),
        id,
        courier,
        crate::unix_now(),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(back(&order.slot_date, region, "assigned"))
}

/// The cancel form of one order.
#[derive(Debug, Deserialize)]
pub struct CancelForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    region_id: Option<String>,
}

/// `POST /admin/dispatch/orders/{id}/cancel`.
pub async fn cancel(
    State(state): State<AppState>,
    admin: Admin,
    PagePath(id): PagePath<i64>,
    Form(form): Form<CancelForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    let region = region_filter(form.region_id.as_deref()).map_err(ApiError::from)?;
    let order = dispatch::cancel_by_staff(
        &state.store,
        Actor::console(admin.user.id),
        id,
        &form.reason,
        crate::unix_now(),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(back(&order.slot_date, region, "order_cancelled"))
}

/// Query of a route sheet.
#[derive(Debug, Default, Deserialize)]
pub struct SheetQuery {
    #[serde(default)]
    courier_id: String,
    #[serde(default)]
    date: Option<String>,
}

struct StopRow {
    slot: &'static str,
    id: i64,
    address: String,
    label: String,
    contact: String,
    phone: String,
    bottles: u16,
    payment: &'static str,
    note: String,
}

#[derive(Template)]
#[template(path = "admin/dispatch_sheet.html")]
struct SheetPage {
    chrome: Chrome,
    courier: String,
    region: String,
    date: String,
    printed: String,
    stops: Vec<StopRow>,
    bottles: u32,
}

/// `GET /admin/dispatch/sheet?courier_id=&date=`: a courier's printable route sheet.
pub async fn sheet(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(query): PageQuery<SheetQuery>,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let courier = query
        .courier_id
        .trim()
        .parse()
        .map(UserId)
        .map_err(|_| ApiError::from(DispatchError::UnknownCourier))?;
    let date = query.date.unwrap_or_else(|| local_time::date(now));
    let (courier, stops) = dispatch::route_sheet(&state.store, &state.master, courier, &date)
        .await
        .map_err(ApiError::from)?;
    let region = state
        .store
        .regions()
        .await?
        .into_iter()
        .find(|r| r.id == courier.region_id)
        .map(|r| r.name)
        .unwrap_or_default();
    Ok(admin.send(&SheetPage {
        chrome: admin.chrome("/admin/dispatch", None),
        courier: courier.username,
        region,
        date: date.trim().to_string(),
        printed: local_time::minute(now),
        bottles: stops.iter().map(|s| u32::from(s.order.bottles)).sum(),
        stops: stops
            .into_iter()
            .map(|s| StopRow {
                slot: s.order.slot.label(),
                id: s.order.id,
                address: s.address.line(),
                label: s.address.label,
                contact: s.address.contact,
                phone: s.phone,
                bottles: s.order.bottles,
                payment: s.order.payment.label(),
                note: s.order.note,
            })
            .collect(),
    }))
}

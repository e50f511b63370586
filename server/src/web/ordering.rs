//! The wallet's ordering pages at phone width: 一键订水 (`/wallet/order`), my orders with cancel
//! and 再来一单 (`/wallet/orders`), addresses (`/wallet/addresses`) and recurring orders
//! (`/wallet/recurring`). Handlers parse the form, call one function of [`crate::ordering`] and
//! present the outcome; a refusal re-renders the form with the domain's zh-CN message.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use crate::buckets::{self, ProductBuckets};
use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::ApiError;
use crate::local_time;
use crate::ordering::addresses::{self, AddressInput, AddressView};
use crate::ordering::orders::{self, OrderInput, OrderView, PayableBook};
use crate::ordering::recurring::{self, RecurringInput, RecurringView};
use crate::ordering::slots::{self, SlotChoice};
use crate::ordering::{OrderingError, ordering_account};
use crate::store::models::{AccountKind, Product, Region, User};
use crate::web::csrf::{self, TokenForm};
use crate::web::wallet::{Chrome, with_token};
use crate::web::{PageError, PagePath, render};

/// What a stale form is told.
const EXPIRED: &str = "页面已过期,请重新提交";

/// A refusal the page shows in place, or an error page for anything else.
fn refusal(err: OrderingError) -> Result<String, PageError> {
    match err {
        OrderingError::Store(err) => Err(ApiError::from(err).into()),
        refused => Ok(refused.to_string()),
    }
}

/// A number typed into a form; what does not parse becomes `fallback`, which the domain refuses
/// with its own message (so a page and the API say the same thing).
fn number(text: &str, fallback: i64) -> i64 {
    text.trim().parse().unwrap_or(fallback)
}

/// The payment select's value: `book:<id>`, `account` or `cash`.
fn payment(choice: &str) -> (String, Option<u64>) {
    match choice.trim().strip_prefix("book:") {
        Some(id) => ("tickets".to_string(), Some(id.parse().unwrap_or(0))),
        None => (choice.trim().to_string(), None),
    }
}

fn status(error: &Option<String>) -> StatusCode {
    if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    }
}

// ---- 一键订水 ----

#[derive(Template)]
#[template(path = "order.html")]
struct OrderPage {
    chrome: Chrome,
    products: Vec<Product>,
    addresses: Vec<AddressView>,
    slots: Vec<SlotChoice>,
    books: Vec<PayableBook>,
    enterprise: bool,
    form: OrderForm,
    error: Option<String>,
}

/// The order form, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct OrderForm {
    #[serde(default)]
    address: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    bottles: String,
    /// `YYYY-MM-DD/morning`.
    #[serde(default)]
    slot: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    pay: String,
    #[serde(default)]
    csrf: String,
}

/// `?address=` picks the address whose slots the form offers.
#[derive(Debug, Default, Deserialize)]
pub struct AddressQuery {
    #[serde(default)]
    address: String,
}

async fn order_page(
    state: &AppState,
    user: &User,
    headers: &HeaderMap,
    mut form: OrderForm,
    error: Option<String>,
) -> Result<Response, PageError> {
    let token = csrf::token(headers);
    let now = crate::unix_now();
    let account = ordering_account(user).map_err(ApiError::from)?;
    let addresses = addresses::list(&state.store, &state.master, user)
        .await
        .map_err(ApiError::from)?;
    let chosen = addresses
        .iter()
        .find(|a| a.id.to_string() == form.address.trim())
        .or_else(|| addresses.first());
    let slots = match chosen {
        Some(address) => slots::open_in(&state.store, address.region_id, now).await?,
        None => Vec::new(),
    };
    if let Some(address) = chosen {
        form.address = address.id.to_string();
    }
    if form.bottles.is_empty() {
        form.bottles = "1".to_string();
    }
    let page = OrderPage {
        chrome: Chrome::new(user, &token),
        products: state.store.products().await?,
        addresses,
        slots,
        books: orders::payable_books(&state.store, user, now)
            .await
            .map_err(ApiError::from)?,
        enterprise: state.store.account(account).await?.spec.kind == AccountKind::Enterprise,
        form,
        error,
    };
    let status = status(&page.error);
    Ok((status, with_token(&token, render(&page))).into_response())
}

/// `GET /wallet/order`.
pub async fn order_form(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(query): Query<AddressQuery>,
) -> Result<Response, PageError> {
    let form = OrderForm {
        address: query.address,
        ..OrderForm::default()
    };
    order_page(&state, &user, &headers, form, None).await
}

/// `POST /wallet/order`: the rules are [`orders::place`]'s.
pub async fn place(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<OrderForm>,
) -> Result<Response, PageError> {
    if !csrf::verify(&headers, &form.csrf) {
        return order_page(&state, &user, &headers, form, Some(EXPIRED.into())).await;
    }
    let (slot_date, slot) = form.slot.split_once('/').unwrap_or(("", ""));
    let (payment, book_id) = payment(&form.pay);
    let input = OrderInput {
        address_id: number(&form.address, 0),
        product: number(&form.product, -1),
        bottles: number(&form.bottles, 0),
        slot_date: slot_date.to_string(),
        slot: slot.to_string(),
        note: form.note.clone(),
        payment,
        book_id,
    };
    match orders::place(&state.store, &user, &input, crate::unix_now()).await {
        Ok(_) => Ok(Redirect::to("/wallet/orders?done=placed").into_response()),
        Err(err) => {
            let message = refusal(err)?;
            order_page(&state, &user, &headers, form, Some(message)).await
        }
    }
}

// ---- 我的订单 ----

#[derive(Template)]
#[template(path = "orders.html")]
struct OrdersPage {
    chrome: Chrome,
    orders: Vec<OrderView>,
    /// 我的水桶: the account's buckets of each product.
    buckets: Vec<ProductBuckets>,
    notice: Option<&'static str>,
    error: Option<String>,
}

/// What a form on the orders page just did.
#[derive(Debug, Default, Deserialize)]
pub struct OrdersQuery {
    #[serde(default)]
    done: String,
}

async fn orders_page(
    state: &AppState,
    user: &User,
    headers: &HeaderMap,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let token = csrf::token(headers);
    let buckets = match user.spec.account_id {
        Some(account) => buckets::of_account(&state.store, user, account)
            .await
            .map_err(ApiError::from)?,
        None => Vec::new(),
    };
    let page = OrdersPage {
        chrome: Chrome::new(user, &token),
        orders: orders::list(&state.store, user)
            .await
            .map_err(ApiError::from)?,
        buckets,
        notice,
        error,
    };
    let status = status(&page.error);
    Ok((status, with_token(&token, render(&page))).into_response())
}

/// `GET /wallet/orders`.
pub async fn orders_list(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(query): Query<OrdersQuery>,
) -> Result<Response, PageError> {
    let notice = match query.done.as_str() {
        "placed" => Some("下单成功,我们会尽快为您派送"),
        "cancelled" => Some("订单已取消"),
        _ => None,
    };
    orders_page(&state, &user, &headers, notice, None).await
}

/// `POST /wallet/orders/{id}/cancel`.
pub async fn cancel(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    PagePath(id): PagePath<i64>,
    Form(form): Form<TokenForm>,
) -> Result<Response, PageError> {
    if !csrf::verify(&headers, &form.csrf) {
        return orders_page(&state, &user, &headers, None, Some(EXPIRED.into())).await;
    }
    match orders::cancel(&state.store, &user, id, crate::unix_now()).await {
        Ok(_) => Ok(Redirect::to("/wallet/orders?done=cancelled").into_response()),
        Err(err) => {
            let message = refusal(err)?;
            orders_page(&state, &user, &headers, None, Some(message)).await
        }
    }
}

/// `POST /wallet/orders/repeat` (再来一单).
pub async fn repeat(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Result<Response, PageError> {
    if !csrf::verify(&headers, &form.csrf) {
        return orders_page(&state, &user, &headers, None, Some(EXPIRED.into())).await;
    }
    match orders::repeat(&state.store, &user, crate::unix_now()).await {
        Ok(_) => Ok(Redirect::to("/wallet/orders?done=placed").into_response()),
        Err(err) => {
            let message = refusal(err)?;
            orders_page(&state, &user, &headers, None, Some(message)).await
        }
    }
}

// ---- 收货地址 ----

#[derive(Template)]
#[template(path = "addresses.html")]
struct AddressesPage {
    chrome: Chrome,
    addresses: Vec<AddressView>,
    regions: Vec<Region>,
    /// The address being edited, if any.
    editing: Option<i64>,
    form: AddressForm,
    notice: Option<&'static str>,
    error: Option<String>,
}

/// The address form, as typed.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AddressForm {
    #[serde(default)]
    region: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    community: String,
    #[serde(default)]
    building: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    room: String,
    #[serde(default)]
    contact: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    csrf: String,
}

impl AddressForm {
    fn input(&self) -> AddressInput {
        AddressInput {
            region_id: number(&self.region, 0),
            label: self.label.clone(),
            community: self.community.clone(),
            building: self.building.clone(),
            unit: self.unit.clone(),
            room: self.room.clone(),
            contact: self.contact.clone(),
            phone: self.phone.clone(),
        }
    }

    fn of(address: &AddressView) -> AddressForm {
        AddressForm {
            region: address.region_id.to_string(),
            label: address.label.clone(),
            community: address.community.clone(),
            building: address.building.clone(),
            unit: address.unit.clone(),
            room: address.room.clone(),
            contact: address.contact.clone(),
            phone: String::new(),
            csrf: String::new(),
        }
    }
}

/// `?edit=<id>` opens an address in the form; `?done=` says what a form just did.
#[derive(Debug, Default, Deserialize)]
pub struct AddressesQuery {
    #[serde(default)]
    edit: String,
    #[serde(default)]
    done: String,
}

async fn addresses_page(
    state: &AppState,
    user: &User,
    headers: &HeaderMap,
    editing: Option<i64>,
    form: Option<AddressForm>,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let token = csrf::token(headers);
    let addresses = addresses::list(&state.store, &state.master, user)
        .await
        .map_err(ApiError::from)?;
    let editing = editing.filter(|id| addresses.iter().any(|a| a.id == *id));
    let form = form.unwrap_or_else(|| {
        addresses
            .iter()
            .find(|a| Some(a.id) == editing)
            .map(AddressForm::of)
            .unwrap_or_default()
    });
    let page = AddressesPage {
        chrome: Chrome::new(user, &token),
        addresses,
        regions: state.store.regions().await?,
        editing,
        form,
        notice,
        error,
    };
    let status = status(&page.error);
    Ok((status, with_token(&token, render(&page))).into_response())
}

/// `GET /wallet/addresses`.
pub async fn addresses_list(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(query): Query<AddressesQuery>,
) -> Result<Response, PageError> {
    let notice = match query.done.as_str() {
        "saved" => Some("地址已保存"),
        "removed" => Some("地址已删除"),
        "default" => Some("已设为默认地址"),
        _ => None,
    };
    let editing = query.edit.trim().parse().ok();
    addresses_page(&state, &user, &headers, editing, None, notice, None).await
}

/// `POST /wallet/addresses`: the rules are [`addresses::add`]'s.
pub async fn add_address(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<AddressForm>,
) -> Result<Response, PageError> {
    if !csrf::verify(&headers, &form.csrf) {
        let error = Some(EXPIRED.into());
        return addresses_page(&state, &user, &headers, None, Some(form), None, error).await;
    }
    let added = addresses::add(
        &state.store,
        &state.master,
        &user,
        &form.input(),
        crate::unix_now(),
    )
    .await;
    match added {
        Ok(_) => Ok(Redirect::to("/wallet/addresses?done=saved").into_response()),
        Err(err) => {
            let error = Some(refusal(err)?);
            addresses_page(&state, &user, &headers, None, Some(form), None, error).await
        }
    }
}

/// `POST /wallet/addresses/{id}`: the rules are [`addresses::edit`]'s.
pub async fn edit_address(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    PagePath(id): PagePath<i64>,
    Form(form): Form<AddressForm>,
) -> Result<Response, PageError> {
    if !csrf::verify(&headers, &form.csrf) {
        let error = Some(EXPIRED.into());
        return addresses_page(&state, &user, &headers, Some(id), Some(form), None, error).await;
    }
    let edited = addresses::edit(
        &state.store,
        &state.master,
        &user,
        id,
        &form.input(),
        crate::unix_now(),
    )
    .await;
    match edited {
        Ok(()) => Ok(Redirect::to("/wallet/addresses?done=saved").into_response()),
        Err(err) => {
            let error = Some(refusal(err)?);
            addresses_page(&state, &user, &headers, Some(id), Some(form), None, error).await
        }
    }
}

/// `POST /wallet/addresses/{id}/remove`.
pub async fn remove_address(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    PagePath(id): PagePath<i64>,
    Form(form): Form<TokenForm>,
) -> Result<Response, PageError> {
    if !csrf::verify(&headers, &form.csrf) {
        let error = Some(EXPIRED.into());
        return addresses_page(&state, &user, &headers, None, None, None, error).await;
    }
    match addresses::remove(&state.store, &user, id, crate::unix_now()).await {
        Ok(()) => Ok(Redirect::to("/wallet/addresses?done=removed").into_response()),
        Err(err) => {
            let error = Some(refusal(err)?);
            addresses_page(&state, &user, &headers, None, None, None, error).await
        }
    }
}

/// `POST /wallet/addresses/{id}/default`.
pub async fn default_address(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    PagePath(id): PagePath<i64>,
    Form(form): Form<TokenForm>,
) -> Result<Response, PageError> {
    if !csrf::verify(&headers, &form.csrf) {
        let error = Some(EXPIRED.into());
        return addresses_page(&state, &user, &headers, None, None, None, error).await;
    }
    match addresses::set_default(&state.store, &user, id, crate::unix_now()).await {
        Ok(()) => Ok(Redirect::to("/wallet/addresses?done=default").into_response()),
        Err(err) => {
            let error = Some(refusal(err)?);
            addresses_page(&state, &user, &headers, None, None, None, error).await
        }
    }
}

// ---- 周期订水 ----

#[derive(Template)]
#[template(path = "recurring.html")]
struct RecurringPage {
    chrome: Chrome,
    recurring: Vec<RecurringView>,
    products: Vec<Product>,
    addresses: Vec<AddressView>,
    books: Vec<PayableBook>,
    enterprise: bool,
    weekdays: [(u8, &'static str); 7],
    form: RecurringForm,
    notice: Option<&'static str>,
    error: Option<String>,
}

/// The recurring-order form, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct RecurringForm {
    #[serde(default)]
    address: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    bottles: String,
    #[serde(default)]
    slot: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    pay: String,
    /// `days` or `weekly`.
    #[serde(default)]
    rule: String,
    #[serde(default)]
    every_days: String,
    #[serde(default)]
    weekday: String,
    #[serde(default)]
    start_date: String,
    #[serde(default)]
    csrf: String,
}

impl RecurringForm {
    fn input(&self) -> RecurringInput {
        let (payment, book_id) = payment(&self.pay);
        let weekly = self.rule == "weekly";
        RecurringInput {
            address_id: number(&self.address, 0),
            product: number(&self.product, -1),
            bottles: number(&self.bottles, 0),
            slot: self.slot.clone(),
            note: self.note.clone(),
            payment,
            book_id,
            every_days: (!weekly).then(|| number(&self.every_days, 0)),
            weekday: weekly.then(|| number(&self.weekday, 0)),
            start_date: self.start_date.clone(),
        }
    }
}

/// `?done=` says what a form just did.
#[derive(Debug, Default, Deserialize)]
pub struct RecurringQuery {
    #[serde(default)]
    done: String,
}

async fn recurring_page(
    state: &AppState,
    user: &User,
    headers: &HeaderMap,
    form: Option<RecurringForm>,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let token = csrf::token(headers);
    let now = crate::unix_now();
    let account = ordering_account(user).map_err(ApiError::from)?;
    let form = form.unwrap_or_else(|| RecurringForm {
        bottles: "1".into(),
        every_days: "7".into(),
        start_date: local_time::date(now + 86_400),
        ..RecurringForm::default()
    });
    let page = RecurringPage {
        chrome: Chrome::new(user, &token),
        recurring: recurring::list(&state.store, user)
            .await
            .map_err(ApiError::from)?,
        products: state.store.products().await?,
        addresses: addresses::list(&state.store, &state.master, user)
            .await
            .map_err(ApiError::from)?,
        books: orders::payable_books(&state.store, user, now)
            .await
            .map_err(ApiError::from)?,
        enterprise: state.store.account(account).await?.spec.kind == AccountKind::Enterprise,
        weekdays: [
            (1, "周一"),
            (2, "周二"),
            (3, "周三"),
            (4, "周四"),
            (5, "周五"),
            (6, "周六"),
            (7, "周日"),
        ],
        form,
        notice,
        error,
    };
    let status = status(&page.error);
    Ok((status, with_token(&token, render(&page))).into_response())
}

/// `GET /wallet/recurring`.
pub async fn recurring_list(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(query): Query<RecurringQuery>,
) -> Result<Response, PageError> {
    let notice = match query.done.as_str() {
        "created" => Some("周期订水已设置,系统会在配送前一天自动下单"),
        "paused" => Some("已暂停"),
        "resumed" => Some("已恢复"),
        "deleted" => Some("已删除"),
        _ => None,
    };
    recurring_page(&state, &user, &headers, None, notice, None).await
}

/// `POST /wallet/recurring`: the rules are [`recurring::create`]'s.
pub async fn create_recurring(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<RecurringForm>,
) -> Result<Response, PageError> {
    if !csrf::verify(&headers, &form.csrf) {
        return recurring_page(
            &state,
            &user,
            &headers,
            Some(form),
            None,
            Some(EXPIRED.into()),
        )
        .await;
    }
    match recurring::create(&state.store, &user, &form.input(), crate::unix_now()).await {
        Ok(_) => Ok(Redirect::to("/wallet/recurring?done=created").into_response()),
        Err(err) => {
            let error = Some(refusal(err)?);
            recurring_page(&state, &user, &headers, Some(form), None, error).await
        }
    }
}

/// What a button on a recurring order does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecurringAction {
    /// 暂停.
    Pause,
    /// 恢复.
    Resume,
    /// 删除.
    Delete,
}

/// `POST /wallet/recurring/{id}/{action}`.
pub async fn change_recurring(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    PagePath((id, action)): PagePath<(i64, RecurringAction)>,
    Form(form): Form<TokenForm>,
) -> Result<Response, PageError> {
    if !csrf::verify(&headers, &form.csrf) {
        return recurring_page(&state, &user, &headers, None, None, Some(EXPIRED.into())).await;
    }
    let now = crate::unix_now();
    let (done, result) = match action {
        RecurringAction::Pause => (
            "paused",
            recurring::pause(&state.store, &user, id, now)
                .await
                .map(drop),
        ),
        RecurringAction::Resume => (
            "resumed",
            recurring::resume(&state.store, &user, id, now)
                .await
                .map(drop),
        ),
        RecurringAction::Delete => (
            "deleted",
            recurring::delete(&state.store, &user, id, now).await,
        ),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/wallet/recurring?done={done}")).into_response()),
        Err(err) => {
            let error = Some(refusal(err)?);
            recurring_page(&state, &user, &headers, None, None, error).await
        }
    }
}

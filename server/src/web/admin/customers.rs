//! 客户 (operators, admins): the customer directory — every account, found by phone, book
//! number, name, login or address and filtered by region, a page at a time — and one customer's
//! page with everything support needs while the customer is on the phone: logins, addresses,
//! books, orders, points, buckets, feedback and the messages sent. The search rules are
//! [`crate::directory`]'s, the same as the ticket search's.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use crate::directory::{self, DirectoryError};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::local_time;
use crate::store::StoreError;
use crate::store::directory::CustomerRow;
use crate::store::models::{AccountKind, Region};
use crate::wallet::Names;
use crate::web::admin::inbox::state_label;
use crate::web::admin::tickets::{BookRow, book_row};
use crate::web::admin::{Admin, Chrome};
use crate::web::{PageError, PagePath, PageQuery};

/// Orders and messages shown per customer.
const RECENT: u32 = 20;

fn kind_label(kind: AccountKind) -> &'static str {
    match kind {
        AccountKind::Customer => "个人",
        AccountKind::Enterprise => "企业",
    }
}

fn region_name(regions: &[Region], id: Option<i64>) -> String {
    id.and_then(|id| regions.iter().find(|r| r.id == id))
        .map_or_else(|| "—".into(), |r| r.name.clone())
}

/// A customer as the directory's row shows it.
struct Row {
    id: i64,
    name: String,
    kind: &'static str,
    region: String,
    logins: String,
    live_books: i64,
    units_left: i64,
    opened: String,
}

#[derive(Template)]
#[template(path = "admin/customers.html")]
struct DirectoryPage {
    chrome: Chrome,
    q: String,
    region: Option<i64>,
    regions: Vec<Region>,
    error: Option<String>,
    rows: Vec<Row>,
    page: u32,
    more: bool,
}

/// `GET /admin/customers?q=&region=&page=`.
#[derive(Debug, Default, Deserialize)]
pub struct DirectoryQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    page: String,
}

/// `GET /admin/customers`.
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(query): PageQuery<DirectoryQuery>,
) -> Result<Response, PageError> {
    let regions = state.store.regions().await?;
    let region = query.region.trim().parse().ok();
    let page = query.page.trim().parse().unwrap_or(0);
    let (rows, more, error) =
        match directory::find(&state.store, &state.master, &query.q, region, page).await {
            Ok(found) => (found.customers, found.more, None),
            Err(DirectoryError::Invalid(message)) => (Vec::new(), false, Some(message.into())),
            Err(DirectoryError::Store(err)) => return Err(err.into()),
        };
    let rows = rows
        .into_iter()
        .map(|row: CustomerRow| Row {
            id: row.id,
            name: row.name,
            kind: kind_label(row.kind),
            region: region_name(&regions, row.region_id),
            logins: row.logins,
            live_books: row.live_books,
            units_left: row.units_left,
            opened: local_time::date(row.created_at),
        })
        .collect();
    Ok(admin.send(&DirectoryPage {
        chrome: admin.chrome("/admin/customers", None),
        q: query.q,
        region,
        regions,
        error,
        rows,
        page,
        more,
    }))
}

/// A login of the account.
struct LoginRow {
    username: String,
    role: &'static str,
    enabled: bool,
}

/// An address as support reads it out.
struct AddressLine {
    region: String,
    text: String,
    contact: String,
    default: bool,
}

/// An order in the customer's history.
struct OrderLine {
    id: i64,
    slot: String,
    bottles: u16,
    payment: &'static str,
    state: &'static str,
}

/// A message sent (or to be sent) to one of the account's users.
struct MessageLine {
    at: String,
    kind: &'static str,
    channel: &'static str,
    state: &'static str,
    body: String,
}

/// A piece of feedback from one of the account's users.
struct FeedbackLine {
    at: String,
    kind: &'static str,
    state: &'static str,
    message: String,
}

#[derive(Template)]
#[template(path = "admin/customer.html")]
struct CustomerPage {
    chrome: Chrome,
    id: i64,
    name: String,
    kind: &'static str,
    enterprise: Option<(i64, String)>,
    logins: Vec<LoginRow>,
    addresses: Vec<AddressLine>,
    books: Vec<BookRow>,
    orders: Vec<OrderLine>,
    points: i64,
    feedback: Vec<FeedbackLine>,
    messages: Vec<MessageLine>,
}

/// `GET /admin/customers/{id}`.
pub async fn show(
    State(state): State<AppState>,
    admin: Admin,
    PagePath(id): PagePath<i64>,
) -> Result<Response, PageError> {
    let store = &state.store;
    let account = match store.account(id).await {
        Ok(account) => account,
        Err(StoreError::NotFound) => return Err(ApiError::not_found().into()),
        Err(err) => return Err(err.into()),
    };
    let enterprise = match account.spec.enterprise_id {
        Some(enterprise) => Some((enterprise, store.account(enterprise).await?.spec.name)),
        None => None,
    };
    let regions = store.regions().await?;
    let users: Vec<_> = store
        .users()
        .await?
        .into_iter()
        .filter(|u| u.spec.account_id == Some(id))
        .collect();
    let addresses = store
        .addresses_of_account(id)
        .await?
        .into_iter()
        .filter(|a| a.removed_at.is_none())
        .map(|a| AddressLine {
            region: region_name(&regions, Some(a.region_id)),
            text: format!("{}{}{}{}", a.community, a.building, a.unit, a.room),
            contact: a.contact,
            default: a.is_default,
        })
        .collect();
    let names = Names::load(store).await?;
    let now = crate::unix_now();
    let mut books = Vec::new();
    for book in store.books_of_account(id).await? {
        books.push(book_row(store, &names, &book, now).await?);
    }
    let orders = store
        .orders_of_account(id, RECENT)
        .await?
        .into_iter()
        .map(|o| OrderLine {
            id: o.id,
            slot: format!("{} {}", o.slot_date, o.slot.label()),
            bottles: o.bottles,
            payment: o.payment.label(),
            state: o.state.label(),
        })
        .collect();
    let (mut feedback, mut messages) = (Vec::new(), Vec::new());
    for user in &users {
        for item in store.feedback_of(user.id).await? {
            feedback.push(FeedbackLine {
                at: local_time::minute(item.created_at),
                kind: item.spec.kind.label(),
                state: state_label(&item.state),
                message: item.spec.message,
            });
        }
        for message in store.notifications_of(user.id, RECENT).await? {
            messages.push(MessageLine {
                at: local_time::minute(message.created_at),
                kind: message.spec.kind.label(),
                channel: message.spec.channel.label(),
                state: message.state.label(),
                body: message.spec.body,
            });
        }
    }
    feedback.sort_by(|a, b| b.at.cmp(&a.at));
    messages.sort_by(|a, b| b.at.cmp(&a.at));
    messages.truncate(RECENT as usize);
    Ok(admin.send(&CustomerPage {
        chrome: admin.chrome("/admin/customers", None),
        id,
        name: account.spec.name,
        kind: kind_label(account.spec.kind),
        enterprise,
        logins: users
            .iter()
            .map(|u| LoginRow {
                username: u.spec.username.clone(),
                role: u.spec.role.label(),
                enabled: u.disabled_at.is_none(),
            })
            .collect(),
        addresses,
        books,
        orders,
        points: store.points_balance(id).await?,
        feedback,
        messages,
    }))
}

//! The enterprise admin's page: the tickets the enterprise bought, handing units to members,
//! taking unused books back, and who used what.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use shuipiao_shared::ids::BookId;

use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::ApiError;
use crate::issuance::IssueError;
use crate::local_time;
use crate::pii::Phone;
use crate::signup::{self, SignupError};
use crate::store::Store;
use crate::store::models::User;
use crate::wallet::{self, AllocationError, Names, WalletStatus};
use crate::web::csrf;
use crate::web::wallet::{Chrome, with_token};
use crate::web::{DoneQuery, PageError, render};

struct BookRow {
    id: u64,
    title: String,
    remaining: u16,
    units: u16,
    used: u16,
    status: WalletStatus,
    last_used: String,
    reclaimable: bool,
}

struct MemberView {
    id: i64,
    name: String,
    books: Vec<BookRow>,
    used: u32,
    remaining: u32,
}

#[derive(Template)]
#[template(path = "enterprise.html")]
struct EnterprisePage {
    chrome: Chrome,
    enterprise_name: String,
    pool: Vec<BookRow>,
    members: Vec<MemberView>,
    pool_units: u32,
    error: Option<String>,
    notice: Option<&'static str>,
}

async fn rows<S: Store>(
    store: &S,
    names: &Names,
    account: i64,
    now: i64,
) -> Result<Vec<BookRow>, PageError> {
    Ok(store
        .books_of_account(account)
        .await?
        .into_iter()
        .map(|book| {
            let status = WalletStatus::of(&book, now);
            BookRow {
                id: book.issued.id.0,
                title: names.title(&book),
                remaining: book.issued.units.saturating_sub(book.used_units),
                units: book.issued.units,
                used: book.used_units,
                status,
                last_used: book
                    .last_used_at
                    .map(local_time::minute)
                    .unwrap_or_default(),
                reclaimable: status.redeemable() && book.used_units == 0,
            }
        })
        .collect())
}

async fn page<S: Store>(
    state: &AppState<S>,
    user: &User,
    headers: &HeaderMap,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let token = csrf::token(headers);
    let enterprise = user.spec.account_id.ok_or_else(ApiError::forbidden)?;
    let now = crate::unix_now();
    let names = Names::load(&state.store).await?;
    let pool = rows(&state.store, &names, enterprise, now).await?;
    let mut members = Vec::new();
    for member in state.store.members(enterprise).await? {
        let books = rows(&state.store, &names, member.id, now).await?;
        members.push(MemberView {
            id: member.id,
            name: member.spec.name,
            used: books.iter().map(|b| u32::from(b.used)).sum(),
            remaining: books
                .iter()
                .filter(|b| b.status.redeemable())
                .map(|b| u32::from(b.remaining))
                .sum(),
            books,
        });
    }
    let page = EnterprisePage {
        chrome: Chrome::new(user, &token),
        enterprise_name: state.store.account(enterprise).await?.spec.name,
        pool_units: pool
            .iter()
            .filter(|b| b.status.redeemable())
            .map(|b| u32::from(b.remaining))
            .sum(),
        pool,
        members,
        error,
        notice,
    };
    Ok(with_token(&token, render(&page)))
}

/// `GET /wallet/enterprise`.
pub async fn overview<S: Store>(
    State(state): State<AppState<S>>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let notice = query.notice("已完成,成员会收到短信通知");
    page(&state, &user, &headers, notice, None).await
}

/// A member to add.
#[derive(Debug, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /wallet/enterprise/invite`: adds a member by phone number.
pub async fn invite<S: Store>(
    State(state): State<AppState<S>>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<InviteForm>,
) -> Result<Response, PageError> {
    let refuse = |message: String| page(&state, &user, &headers, None, Some(message));
    if !csrf::verify(&headers, &form.csrf) {
        return refuse("页面已过期,请重新提交".into()).await;
    }
    let phone = match Phone::parse(&form.phone) {
        Ok(phone) => phone,
        Err(err) => return refuse(err.to_string()).await,
    };
    let now = crate::unix_now();
    match signup::invite_member(&state.store, &state.master, &user, &phone, &form.name, now).await {
        Ok(_) => Ok(Redirect::to("/wallet/enterprise?done=1").into_response()),
        Err(SignupError::Store(err)) => Err(err.into()),
        Err(err) => refuse(err.to_string()).await,
    }
}

/// Give units to a member, or (with `member` empty) take a member's unused book back.
#[derive(Debug, Deserialize)]
pub struct AllocateForm {
    book: String,
    #[serde(default)]
    member: String,
    #[serde(default)]
    units: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /wallet/enterprise/allocate`.
pub async fn allocate<S: Store>(
    State(state): State<AppState<S>>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<AllocateForm>,
) -> Result<Response, PageError> {
    let refuse = |message: String| page(&state, &user, &headers, None, Some(message));
    if !csrf::verify(&headers, &form.csrf) {
        return refuse("页面已过期,请重新提交".into()).await;
    }
    let enterprise = user.spec.account_id.ok_or_else(ApiError::forbidden)?;
    let Ok(book_id) = form.book.trim().parse::<u64>() else {
        return refuse("请选择水票".into()).await;
    };
    let book = BookId(book_id);
    let (to_account, units) = if form.member.trim().is_empty() {
        let Ok(held) = state.store.book(book).await else {
            return refuse(AllocationError::NotYours.to_string()).await;
        };
        (
            enterprise,
            held.issued.units.saturating_sub(held.used_units),
        )
    } else {
        let (Ok(member), Ok(units)) = (form.member.trim().parse(), form.units.trim().parse())
        else {
            return refuse("请选择成员并填写张数".into()).await;
        };
        (member, units)
    };
    let now = crate::unix_now();
    match wallet::enterprise_allocate(
        &state.store,
        &state.master,
        &user,
        book,
        to_account,
        units,
        now,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/wallet/enterprise?done=1").into_response()),
        Err(AllocationError::Issue(IssueError::Invalid(message))) => refuse(message).await,
        Err(AllocationError::Issue(IssueError::Store(err))) => Err(err.into()),
        Err(AllocationError::Issue(IssueError::Keys(err))) => Err(ApiError::from(err).into()),
        Err(err) => refuse(err.to_string()).await,
    }
}

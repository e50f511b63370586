//! The enterprise admin's page: the tickets the enterprise bought, handing units to members,
//! taking unused allocated books back, who used what of what they were given, and the
//! invitations sent (pending ones can be withdrawn). The rules are in [`crate::enterprise`].

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use shuipiao_shared::ids::BookId;

use crate::enterprise::{self, EnterpriseError, InvitationStatus, MemberBooks};
use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::{ApiError, ApiPath};
use crate::issuance::IssueError;
use crate::pii::Phone;
use crate::store::models::User;
use crate::wallet::{self, AllocationError, Names, WalletStatus};
use crate::web::csrf::{self, TokenForm};
use crate::web::membership::page_error;
use crate::web::wallet::{Chrome, with_token};
use crate::web::{DoneQuery, PageError, render};

struct PoolRow {
    id: u64,
    title: String,
    remaining: u16,
    units: u16,
    status: WalletStatus,
}

struct InvitationRow {
    id: i64,
    name: String,
    phone: String,
    status: InvitationStatus,
    /// Unanswered and not expired: it can be withdrawn.
    pending: bool,
    sent: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "enterprise.html")]
struct EnterprisePage {
    chrome: Chrome,
    enterprise_name: String,
    pool: Vec<PoolRow>,
    members: Vec<MemberBooks>,
    invitations: Vec<InvitationRow>,
    ttl_days: i64,
    pool_units: u32,
    error: Option<String>,
    notice: Option<&'static str>,
}

async fn page(
    state: &AppState,
    user: &User,
    headers: &HeaderMap,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let token = csrf::token(headers);
    let enterprise = user.spec.account_id.ok_or_else(ApiError::forbidden)?;
    let now = crate::unix_now();
    let names = Names::load(&state.store).await?;
    let pool: Vec<PoolRow> = state
        .store
        .books_of_account(enterprise)
        .await?
        .iter()
        .map(|book| PoolRow {
            id: book.issued.id.0,
            title: names.title(book),
            remaining: book.issued.units.saturating_sub(book.used_units),
            units: book.issued.units,
            status: WalletStatus::of(book, now),
        })
        .collect();
    let members = enterprise::member_books(&state.store, user, enterprise, now)
        .await
        .map_err(page_error)?;
    let invitations = enterprise::invitations(&state.store, user)
        .await
        .map_err(page_error)?
        .into_iter()
        .map(|invitation| {
            let status = InvitationStatus::of(&invitation, now);
            InvitationRow {
                id: invitation.id,
                status,
                pending: status == InvitationStatus::Pending,
                sent: crate::local_time::minute(invitation.created_at),
                expires: crate::local_time::minute(invitation.expires_at),
                name: invitation.name,
                phone: invitation.phone_masked,
            }
        })
        .collect();
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
        invitations,
        ttl_days: enterprise::INVITATION_TTL_DAYS,
        error,
        notice,
    };
    Ok(with_token(&token, render(&page)))
}

/// `GET /wallet/enterprise`.
pub async fn overview(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let notice = query.notice("已完成,相关成员会收到通知");
    page(&state, &user, &headers, notice, None).await
}

/// A phone number to invite.
#[derive(Debug, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /wallet/enterprise/invite`: invites a phone number; it joins only if its owner accepts.
pub async fn invite(
    State(state): State<AppState>,
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
    match enterprise::invite(&state.store, &state.master, &user, &phone, &form.name, now).await {
        Ok(_) => Ok(Redirect::to("/wallet/enterprise?done=1").into_response()),
        Err(err @ (EnterpriseError::Store(_) | EnterpriseError::Issue(_))) => Err(page_error(err)),
        Err(err) => refuse(err.to_string()).await,
    }
}

/// `POST /wallet/enterprise/invitations/{id}/withdraw`: takes back an unanswered invitation.
pub async fn withdraw(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    Form(form): Form<TokenForm>,
) -> Result<Response, PageError> {
    let refuse = |message: String| page(&state, &user, &headers, None, Some(message));
    if !csrf::verify(&headers, &form.csrf) {
        return refuse("页面已过期,请重新提交".into()).await;
    }
    match enterprise::withdraw(&state.store, &user, id, crate::unix_now()).await {
        Ok(()) => Ok(Redirect::to("/wallet/enterprise?done=1").into_response()),
        Err(err @ (EnterpriseError::Store(_) | EnterpriseError::Issue(_))) => Err(page_error(err)),
        Err(err) => refuse(err.to_string()).await,
    }
}

/// Give units to a member, or (with `member` empty) take an allocated book back.
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
pub async fn allocate(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<AllocateForm>,
) -> Result<Response, PageError> {
    let refuse = |message: String| page(&state, &user, &headers, None, Some(message));
    if !csrf::verify(&headers, &form.csrf) {
        return refuse("页面已过期,请重新提交".into()).await;
    }
    let Ok(book_id) = form.book.trim().parse::<u64>() else {
        return refuse("请选择水票".into()).await;
    };
    let book = BookId(book_id);
    let now = crate::unix_now();
    let (store, master) = (&state.store, &state.master);
    let done = if form.member.trim().is_empty() {
        enterprise::reclaim(store, master, &user, book, now).await
    } else {
        let (Ok(member), Ok(units)) = (form.member.trim().parse(), form.units.trim().parse())
        else {
            return refuse("请选择成员并填写张数".into()).await;
        };
        wallet::enterprise_allocate(store, master, &user, book, member, units, now).await
    };
    match done {
        Ok(_) => Ok(Redirect::to("/wallet/enterprise?done=1").into_response()),
        Err(AllocationError::Issue(IssueError::Invalid(message))) => refuse(message).await,
        Err(AllocationError::Issue(IssueError::Store(err))) => Err(err.into()),
        Err(AllocationError::Issue(IssueError::Keys(err))) => Err(ApiError::from(err).into()),
        Err(err) => refuse(err.to_string()).await,
    }
}

//! The 我的水票 wallet pages: the list with filters, a book's detail with its QR code and usage
//! history, and a print view for customers who prefer paper. Books of holder-bound packages
//! show a rotating QR code instead: `static/holder.js` binds the book to a key the browser keeps
//! and draws each 30 s window's code through [`rotating_qr_svg`].

use askama::Template;
use axum::Extension;
use axum::Json;
use axum::extract::{Form, Query, State};
use axum::http::HeaderMap;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::response::{AppendHeaders, IntoResponse, Response};
use serde::Deserialize;
use shuipiao_shared::event::EventBody;
use shuipiao_shared::ids::{BookId, ScopeId};
use shuipiao_shared::ledger::Outcome;

use crate::enterprise;
use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::ApiError;
use crate::local_time;
use crate::ordering;
use crate::rotating_qr::{self, QrMode};
use crate::store::models::{Book, BookHistory, Role, User};
use crate::wallet::{self, Names, WalletEntry, WalletFilter, WalletStatus};
use crate::web::csrf::{self, CsrfToken};
use crate::web::{PageError, PagePath, qr, render};

/// What every signed-in wallet page shows in its header.
pub(super) struct Chrome {
    pub(super) username: String,
    pub(super) csrf: String,
    /// Shows the enterprise tab.
    pub(super) enterprise_admin: bool,
}

impl Chrome {
    pub(super) fn new(user: &User, token: &CsrfToken) -> Chrome {
        Chrome {
            username: user.spec.username.clone(),
            csrf: token.value.clone(),
            enterprise_admin: user.spec.role == Role::EnterpriseAdmin,
        }
    }
}

/// Sends the page, setting the CSRF cookie if the browser had none.
pub(super) fn with_token(token: &CsrfToken, page: Response) -> Response {
    let cookies: Vec<_> = token
        .set_cookie
        .iter()
        .map(|cookie| (SET_COOKIE, cookie.clone()))
        .collect();
    (AppendHeaders(cookies), page).into_response()
}

struct EntryView {
    id: u64,
    title: String,
    product_name: String,
    remaining: u16,
    units: u16,
    status: WalletStatus,
    issued: String,
    valid_until: String,
    /// Units still orderable (units − used − reserved by open orders), for a redeemable book.
    orderable: Option<u16>,
}

impl EntryView {
    fn of(entry: &WalletEntry, orderable: Option<u16>) -> EntryView {
        EntryView {
            orderable,
            id: entry.book.issued.id.0,
            title: entry.title.clone(),
            product_name: entry.product_name.clone(),
            remaining: entry.remaining(),
            units: entry.book.issued.units,
            status: entry.status,
            issued: local_time::date(i64::from(entry.book.issued.valid_from)),
            valid_until: local_time::date(i64::from(entry.book.issued.valid_until)),
        }
    }
}

struct ProductOption {
    code: u16,
    name: String,
}

/// An enterprise's invitation to the customer, as its card shows it.
struct InvitationCard {
    id: i64,
    enterprise_name: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "wallet_list.html")]
struct ListPage {
    chrome: Chrome,
    entries: Vec<EntryView>,
    total_books: usize,
    redeemable_units: u32,
    products: Vec<ProductOption>,
    statuses: [WalletStatus; 5],
    query: ListQuery,
    filtered: bool,
    notice: Option<&'static str>,
    error: Option<String>,
    referral_code: String,
    invitations: Vec<InvitationCard>,
    /// The enterprise the customer is a member of.
    membership: Option<String>,
}

/// Filters of the wallet list, as typed into the form, and what a form just did.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    q: String,
    /// `joined`, `declined` or `left` after an enterprise form.
    #[serde(default)]
    done: String,
}

impl ListQuery {
    /// The filter, or the first thing that could not be read.
    fn filter(&self) -> Result<WalletFilter, &'static str> {
        let date = |text: &str, parse: fn(&str) -> Option<i64>| match text.trim() {
            "" => Ok(None),
            text => parse(text)
                .map(Some)
                .ok_or("日期格式应为 年-月-日,例如 2026-11-27"),
        };
        Ok(WalletFilter {
            issued_from: date(&self.from, local_time::day_start)?,
            issued_before: date(&self.to, local_time::day_end)?,
            product: match self.product.trim() {
                "" => None,
                code => Some(code.parse().map_err(|_| "未知的水票类型")?),
            },
            status: match self.status.trim() {
                "" => None,
                key => Some(WalletStatus::parse(key).ok_or("未知的水票状态")?),
            },
            keyword: self.q.trim().to_string(),
        })
    }

    fn is_set(&self) -> bool {
        [&self.from, &self.to, &self.product, &self.status, &self.q]
            .iter()
            .any(|field| !field.trim().is_empty())
    }

    fn notice(&self) -> Option<&'static str> {
        match self.done.as_str() {
            "joined" => Some("已加入企业"),
            "declined" => Some("已拒绝邀请"),
            "left" => Some("已退出企业,企业分配给您且未用完的水票已退回企业"),
            _ => None,
        }
    }
}

/// `GET /wallet`.
pub async fn list(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    list_page(&state, &user, &headers, query, None).await
}

/// The wallet list narrowed by `query`, with `error` from a form that was refused.
pub(super) async fn list_page(
    state: &AppState,
    user: &User,
    headers: &HeaderMap,
    query: ListQuery,
    error: Option<String>,
) -> Result<Response, PageError> {
    let token = csrf::token(headers);
    let now = crate::unix_now();
    let all = wallet::entries(&state.store, user, now).await?;
    let (filter, filter_error) = match query.filter() {
        Ok(filter) => (filter, None),
        Err(message) => (WalletFilter::default(), Some(message.to_string())),
    };
    let redeemable_units = all
        .iter()
        .filter(|e| e.status.redeemable())
        .map(|e| u32::from(e.remaining()))
        .sum();
    let mut entries = Vec::new();
    for entry in all.iter().filter(|e| filter.matches(e)) {
        let orderable = match entry.status.redeemable() {
            true => Some(
                ordering::orders::orderable(&state.store, &entry.book, now)
                    .await
                    .map_err(ApiError::from)?,
            ),
            false => None,
        };
        entries.push(EntryView::of(entry, orderable));
    }
    let products = state
        .store
        .products()
        .await?
        .into_iter()
        .map(|p| ProductOption {
            code: p.code.0,
            name: p.name,
        })
        .collect();
    let invitations = enterprise::open_invitations(&state.store, &state.master, user, now)
        .await?
        .into_iter()
        .map(|invitation| InvitationCard {
            id: invitation.id,
            enterprise_name: invitation.enterprise_name,
            expires: local_time::minute(invitation.expires_at),
        })
        .collect();
    let membership = enterprise::membership(&state.store, user)
        .await?
        .map(|enterprise| enterprise.spec.name);
    let page = ListPage {
        chrome: Chrome::new(user, &token),
        entries,
        total_books: all.len(),
        redeemable_units,
        products,
        statuses: WalletStatus::ALL,
        filtered: query.is_set(),
        notice: query.notice(),
        query,
        error: error.or(filter_error),
        referral_code: crate::signup::referral_code(user.id),
        invitations,
        membership,
    };
    Ok(with_token(&token, render(&page)))
}

struct UsageView {
    at: String,
    who: String,
    units: u16,
    state: &'static str,
    counted: bool,
}

/// The redemptions of a book as the customer sees them (refused scans stay with support).
fn usage(history: &BookHistory) -> Vec<UsageView> {
    history
        .events
        .iter()
        .filter_map(|e| {
            let EventBody::Redemption { units, .. } = e.event.body else {
                return None;
            };
            let outcome = history
                .ledger
                .redemptions
                .iter()
                .find(|r| r.event_id == e.event.event_id)
                .map(|r| r.outcome);
            let (state, counted) = match outcome {
                Some(Outcome::Counted) => ("已核销", true),
                Some(Outcome::Voided) => ("已撤销", false),
                Some(Outcome::OverRedeemed | Outcome::AfterRevocation) => ("核查中", false),
                None => ("处理中", false),
            };
            let who = match &e.outlet_name {
                Some(outlet) => format!("{outlet}({})", e.staff_name),
                None => format!("送水员 {}", e.staff_name),
            };
            Some(UsageView {
                at: local_time::minute(e.event.scanned_at as i64),
                who,
                units,
                state,
                counted,
            })
        })
        .rev()
        .collect()
}

/// A book with everything its pages show.
struct BookView {
    id: u64,
    title: String,
    product_name: String,
    holder_name: String,
    scope_name: String,
    source: &'static str,
    replaces: Option<u64>,
    status: WalletStatus,
    remaining: u16,
    units: u16,
    issued: String,
    valid_until: String,
    revoke_reason: Option<String>,
    qr_svg: Option<String>,
    qr_text: String,
    /// `bind` (the browser must make a key first) or `rotate`, when the code rotates and the
    /// book can still be used; empty otherwise.
    rotating: &'static str,
}

async fn book_view(state: &AppState, user: &User, id: u64) -> Result<(BookView, Book), PageError> {
    let book = state.store.book(BookId(id)).await?;
    if !wallet::may_read(user, &book) {
        return Err(ApiError::not_found().into());
    }
    let names = Names::load(&state.store).await?;
    let status = WalletStatus::of(&book, crate::unix_now());
    let mode = rotating_qr::mode(&state.store, &book).await?;
    let rotating = match mode {
        _ if !status.redeemable() => "",
        QrMode::Static => "",
        QrMode::NeedsHolderKey => "bind",
        QrMode::Rotating(_) => "rotate",
    };
    let scope_name = if book.issued.scope == ScopeId::ANYWHERE {
        "不限区域".to_string()
    } else {
        state
            .store
            .scopes()
            .await?
            .into_iter()
            .find(|s| s.id == book.issued.scope)
            .map_or_else(|| format!("区域 {}", book.issued.scope.0), |s| s.name)
    };
    let view = BookView {
        id,
        title: names.title(&book),
        product_name: names.product(book.issued.product.0),
        holder_name: state.store.account(book.issued.account_id).await?.spec.name,
        scope_name,
        source: wallet::source_label(&book.issued.source),
        replaces: book.issued.replaces.map(|b| b.0),
        status,
        remaining: book.issued.units.saturating_sub(book.used_units),
        units: book.issued.units,
        issued: local_time::date(i64::from(book.issued.valid_from)),
        valid_until: local_time::date(i64::from(book.issued.valid_until)),
        revoke_reason: book.revoke_reason.clone(),
        qr_svg: (status.redeemable() && mode == QrMode::Static)
            .then(|| qr::svg(&book.issued.qr_text))
            .flatten(),
        qr_text: book.issued.qr_text.clone(),
        rotating,
    };
    Ok((view, book))
}

#[derive(Template)]
#[template(path = "wallet_book.html")]
struct DetailPage {
    chrome: Chrome,
    book: BookView,
    usage: Vec<UsageView>,
    used_units: u16,
}

/// `GET /wallet/books/{id}`; another holder's book is "not found", so ids cannot be probed.
pub async fn detail(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    PagePath(id): PagePath<u64>,
) -> Result<Response, PageError> {
    let token = csrf::token(&headers);
    let (view, book) = book_view(&state, &user, id).await?;
    let history = state.store.book_history(book.issued.id).await?;
    let page = DetailPage {
        chrome: Chrome::new(&user, &token),
        usage: usage(&history),
        used_units: history.ledger.used_units,
        book: view,
    };
    Ok(with_token(&token, render(&page)))
}

#[derive(Template)]
#[template(path = "wallet_print.html")]
struct PrintPage {
    book: BookView,
    printed: String,
}

/// `GET /wallet/books/{id}/print`: one ticket per page, large type, for the fridge door.
pub async fn print(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    PagePath(id): PagePath<u64>,
) -> Result<Response, PageError> {
    let (view, _) = book_view(&state, &user, id).await?;
    Ok(render(&PrintPage {
        book: view,
        printed: local_time::minute(crate::unix_now()),
    }))
}

/// The browser's proof for one window, as query parameters of [`rotating_qr_svg`].
#[derive(Debug, Default, Deserialize)]
pub struct ProofQuery {
    #[serde(default)]
    window: String,
    #[serde(default)]
    proof: String,
}

/// `GET /wallet/books/{id}/qr.svg?window=…&proof=…`: the rotating QR code of a bound book for
/// the window the browser signed. Nothing is stored; a wrong or stale proof is refused.
pub async fn rotating_qr_svg(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    PagePath(id): PagePath<u64>,
    Query(query): Query<ProofQuery>,
) -> Result<Response, PageError> {
    let book = state.store.book(BookId(id)).await?;
    if !wallet::may_read(&user, &book) {
        return Err(ApiError::not_found().into());
    }
    let now = crate::unix_now();
    let QrMode::Rotating(bound) = rotating_qr::mode(&state.store, &book).await? else {
        return Err(ApiError::bad_request("此水票没有动态二维码").into());
    };
    if !WalletStatus::of(&book, now).redeemable() {
        return Err(ApiError::bad_request("此水票已不能使用").into());
    }
    let window = query
        .window
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request("时间窗口格式不正确"))?;
    let code =
        rotating_qr::code(&bound, window, &query.proof, now).map_err(ApiError::bad_request)?;
    let svg = qr::svg(&code.to_qr_text()).ok_or_else(|| ApiError::bad_request("二维码生成失败"))?;
    Ok((
        [(CONTENT_TYPE, "image/svg+xml"), (CACHE_CONTROL, "no-store")],
        svg,
    )
        .into_response())
}

/// The key the browser made for a book.
#[derive(Debug, Default, Deserialize)]
pub struct BindForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    public_key: String,
}

/// `POST /wallet/books/{id}/holder-key`: binds the book to the browser's public key by revoking
/// it and issuing its remaining units as a v2 credential; answers `{"book_id": new id}`.
pub async fn bind_holder_key(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    PagePath(id): PagePath<u64>,
    Form(form): Form<BindForm>,
) -> Result<Response, PageError> {
    if !csrf::verify(&headers, &form.csrf) {
        return Err(ApiError::forbidden().into());
    }
    let book = state.store.book(BookId(id)).await?;
    if !wallet::may_read(&user, &book) {
        return Err(ApiError::not_found().into());
    }
    if !rotating_qr::may_bind(&user, &book) {
        return Err(ApiError::forbidden().into());
    }
    if rotating_qr::mode(&state.store, &book).await? == QrMode::Static {
        return Err(ApiError::bad_request("此水票不使用动态二维码").into());
    }
    let key = rotating_qr::holder_key(&form.public_key).map_err(ApiError::bad_request)?;
    let bound = crate::issuance::bind_holder(
        &state.store,
        &state.master,
        &book,
        key,
        Some(user.id),
        crate::unix_now(),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(Json(serde_json::json!({ "book_id": bound.issued.id.0 })).into_response())
}

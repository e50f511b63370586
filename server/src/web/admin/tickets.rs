//! The support desk: find books by phone, book id, pasted QR text, login or account name; a
//! book's page with its ledger (every redemption, void and refused scan, which answers "why could
//! I not redeem"), its lineage, and the revoke and lost-ticket reissue actions.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use shuipiao_shared::event::EventBody;
use shuipiao_shared::ids::BookId;
use shuipiao_shared::ledger::{Outcome, ResolutionAction};

use crate::directory::{SearchKey, search_key};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::issuance;
use crate::local_time;
use crate::stats::refusal_label;
use crate::store::models::{Book, BookHistory};
use crate::store::{Store, StoreError};
use crate::wallet::{self, Names, WalletStatus};
use crate::web::admin::{Admin, Chrome, DoneQuery, done};
use crate::web::{PageError, PagePath, PageQuery};

/// Books shown for one search.
const SEARCH_LIMIT: u32 = 100;

/// A book in a list.
pub(super) struct BookRow {
    pub(super) id: u64,
    pub(super) title: String,
    pub(super) holder: String,
    pub(super) remaining: u16,
    pub(super) units: u16,
    pub(super) status: WalletStatus,
    pub(super) valid_until: String,
}

pub(super) async fn book_row(
    store: &Store,
    names: &Names,
    book: &Book,
    now: i64,
) -> Result<BookRow, StoreError> {
    Ok(BookRow {
        id: book.issued.id.0,
        title: names.title(book),
        holder: store.account(book.issued.account_id).await?.spec.name,
        remaining: book.issued.units.saturating_sub(book.used_units),
        units: book.issued.units,
        status: WalletStatus::of(book, now),
        valid_until: local_time::date(i64::from(book.issued.valid_until)),
    })
}

#[derive(Template)]
#[template(path = "admin/tickets.html")]
struct SearchPage {
    chrome: Chrome,
    q: String,
    searched: bool,
    error: Option<&'static str>,
    books: Vec<BookRow>,
}

/// Query of the search page.
#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// `GET /admin/tickets?q=…`.
pub async fn search(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(query): PageQuery<SearchQuery>,
) -> Result<Response, PageError> {
    let store = &state.store;
    let mut books = Vec::new();
    let mut error = None;
    let searched = !query.q.trim().is_empty();
    if searched {
        let found = match search_key(&query.q) {
            Ok(SearchKey::Phone(phone)) => {
                match store.user_by_phone(&phone.index(&state.master)).await {
                    Ok(holder) => {
                        store
                            .search_books(None, &holder.spec.username, SEARCH_LIMIT)
                            .await?
                    }
                    Err(StoreError::NotFound) => Vec::new(),
                    Err(err) => return Err(err.into()),
                }
            }
            Ok(SearchKey::Text(id, text)) => store.search_books(id, &text, SEARCH_LIMIT).await?,
            Err(message) => {
                error = Some(message);
                Vec::new()
            }
        };
        let names = Names::load(store).await?;
        let now = crate::unix_now();
        for book in &found {
            books.push(book_row(store, &names, book, now).await?);
        }
    }
    Ok(admin.send(&SearchPage {
        chrome: admin.chrome("/admin/tickets", None),
        q: query.q,
        searched,
        error,
        books,
    }))
}

/// One line of a book's ledger as support reads it.
struct LedgerRow {
    at: String,
    what: String,
    units: String,
    device: String,
    staff: String,
    flags: String,
    outcome: &'static str,
    counted: bool,
    received: String,
}

fn outcome_label(outcome: Outcome, resolution: Option<ResolutionAction>) -> &'static str {
    match (outcome, resolution) {
        (_, Some(ResolutionAction::Charge)) => "已核销(向客户收费)",
        (_, Some(ResolutionAction::WriteOff)) => "已核销(水厂承担)",
        (_, Some(ResolutionAction::Void)) => "已作废(不计)",
        (Outcome::Counted, None) => "已计入",
        (Outcome::OverRedeemed, None) => "超额核销,待处理",
        (Outcome::AfterRevocation, None) => "作废后核销,待处理",
        (Outcome::Voided, None) => "已撤销",
    }
}

/// Every device event of a book, oldest first, with how the ledger counted it.
fn ledger_rows(history: &BookHistory) -> Vec<LedgerRow> {
    history
        .events
        .iter()
        .map(|e| {
            let event = &e.event;
            let mut flags = Vec::new();
            for (on, label) in [
                (event.flags.offline, "离线"),
                (event.flags.stale, "数据过旧"),
                (event.flags.supervisor_override, "主管授权"),
                (event.flags.clock_rollback, "时钟回拨"),
            ] {
                if on {
                    flags.push(label);
                }
            }
            let redemption = history
                .ledger
                .redemptions
                .iter()
                .find(|r| r.event_id == event.event_id);
            let (what, units, outcome) = match event.body {
                EventBody::Redemption { units, .. } => (
                    "核销".to_string(),
                    units.to_string(),
                    redemption.map_or("处理中", |r| outcome_label(r.outcome, r.resolution)),
                ),
                EventBody::Void { .. } => ("撤销上一笔核销".into(), String::new(), "—"),
                EventBody::ScanAttempt { refusal, .. } => (
                    format!("扫码被拒:{}", refusal_label(refusal)),
                    String::new(),
                    "未核销",
                ),
                EventBody::Delivery { order_id, .. } => {
                    (format!("送达订单 {order_id}"), String::new(), "—")
                }
            };
            LedgerRow {
                at: local_time::minute(event.scanned_at as i64),
                what,
                units,
                device: e.device_name.clone(),
                staff: match &e.outlet_name {
                    Some(outlet) => format!("{}({outlet})", e.staff_name),
                    None => e.staff_name.clone(),
                },
                flags: flags.join("、"),
                counted: redemption.is_some_and(|r| r.outcome == Outcome::Counted),
                outcome,
                received: local_time::minute(e.received_at),
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "admin/book.html")]
struct BookPage {
    chrome: Chrome,
    book: BookRow,
    product: String,
    source: &'static str,
    kid: String,
    valid_from: String,
    revoked: Option<(String, String)>,
    replaces: Option<u64>,
    replaced_by: Vec<u64>,
    ledger: Vec<LedgerRow>,
    can_act: bool,
}

/// `GET /admin/books/{id}`.
pub async fn book(
    State(state): State<AppState>,
    admin: Admin,
    PagePath(id): PagePath<u64>,
    PageQuery(query): PageQuery<DoneQuery>,
) -> Result<Response, PageError> {
    let store = &state.store;
    let book = store.book(BookId(id)).await?;
    let names = Names::load(store).await?;
    let now = crate::unix_now();
    let history = store.book_history(book.issued.id).await?;
    let replaced_by = store
        .books_of_account(book.issued.account_id)
        .await?
        .iter()
        .filter(|b| b.issued.replaces == Some(book.issued.id))
        .map(|b| b.issued.id.0)
        .collect();
    let status = WalletStatus::of(&book, now);
    let page = BookPage {
        chrome: admin.chrome("/admin/tickets", query.done.as_deref()),
        product: names.product(book.issued.product.0),
        source: wallet::source_label(&book.issued.source),
        kid: book.issued.kid_hex.clone(),
        valid_from: local_time::date(i64::from(book.issued.valid_from)),
        revoked: book.revoked_at.map(|at| {
            (
                local_time::minute(at),
                book.revoke_reason.clone().unwrap_or_default(),
            )
        }),
        replaces: book.issued.replaces.map(|b| b.0),
        replaced_by,
        ledger: ledger_rows(&history),
        can_act: status != WalletStatus::Revoked,
        book: book_row(store, &names, &book, now).await?,
    };
    Ok(admin.send(&page))
}

/// The revoke and reissue forms.
#[derive(Debug, Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

impl ReasonForm {
    /// The reason of a form with a valid token (its rules are the domain's).
    fn checked(&self, admin: &Admin) -> Result<&str, PageError> {
        admin.check_form(&self.csrf)?;
        Ok(&self.reason)
    }
}

/// `POST /admin/books/{id}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    admin: Admin,
    PagePath(id): PagePath<u64>,
    Form(form): Form<ReasonForm>,
) -> Result<Response, PageError> {
    let reason = form.checked(&admin)?;
    issuance::revoke(
        &state.store,
        BookId(id),
        reason,
        Some(admin.user.id),
        crate::unix_now(),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(done(&format!("/admin/books/{id}"), "revoked"))
}

/// `POST /admin/books/{id}/reissue`: lost-ticket recovery; goes on to the new book.
pub async fn reissue(
    State(state): State<AppState>,
    admin: Admin,
    PagePath(id): PagePath<u64>,
    Form(form): Form<ReasonForm>,
) -> Result<Response, PageError> {
    let reason = form.checked(&admin)?;
    let new = issuance::reissue(
        &state.store,
        &state.master,
        BookId(id),
        reason,
        Some(admin.user.id),
        crate::unix_now(),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(done(&format!("/admin/books/{}", new.issued.id), "reissued"))
}

//! Customer feedback from the wallet: rate a delivery or report a problem (can't get a ticket,
//! can't redeem, lost ticket). It lands in the support desk's inbox.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use shuipiao_shared::event::EventBody;
use shuipiao_shared::ids::BookId;

use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::local_time;
use crate::store::models::{FeedbackKind, NewFeedback, User};
use crate::store::{Store, StoreError};
use crate::wallet;
use crate::web::csrf;
use crate::web::wallet::{Chrome, with_token};
use crate::web::{DoneQuery, PageError, render};

/// Longest message accepted.
const MAX_MESSAGE_CHARS: usize = 500;

struct BookOption {
    id: u64,
    title: String,
}

struct FeedbackView {
    at: String,
    kind: &'static str,
    rating: Option<u8>,
    message: String,
    state: &'static str,
}

#[derive(Template)]
#[template(path = "feedback.html")]
struct FeedbackPage {
    chrome: Chrome,
    kinds: [FeedbackKind; 5],
    books: Vec<BookOption>,
    mine: Vec<FeedbackView>,
    form: FeedbackForm,
    notice: Option<&'static str>,
    error: Option<&'static str>,
}

/// The feedback form.
#[derive(Debug, Default, Deserialize)]
pub struct FeedbackForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    book: String,
    #[serde(default)]
    rating: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    csrf: String,
}

async fn page<S: Store>(
    state: &AppState<S>,
    user: &User,
    headers: &HeaderMap,
    form: FeedbackForm,
    notice: Option<&'static str>,
    error: Option<&'static str>,
) -> Result<Response, PageError> {
    let token = csrf::token(headers);
    let books = wallet::entries(&state.store, user, crate::unix_now())
        .await?
        .into_iter()
        .map(|e| BookOption {
            id: e.book.issued.id.0,
            title: format!("{}(票号 {})", e.title, e.book.issued.id.0),
        })
        .collect();
    let mine = state
        .store
        .feedback_of(user.id)
        .await?
        .into_iter()
        .map(|f| FeedbackView {
            at: local_time::minute(f.created_at),
            kind: f.spec.kind.label(),
            rating: f.spec.rating,
            message: f.spec.message,
            state: match f.state.as_str() {
                "open" => "待处理",
                "in_progress" => "处理中",
                _ => "已解决",
            },
        })
        .collect();
    let page = FeedbackPage {
        chrome: Chrome::new(user, &token),
        kinds: FeedbackKind::ALL,
        books,
        mine,
        form,
        notice,
        error,
    };
    let status = if error.is_some() {
        axum::http::StatusCode::BAD_REQUEST
    } else {
        axum::http::StatusCode::OK
    };
    Ok((status, with_token(&token, render(&page))).into_response())
}

/// `GET /wallet/feedback`.
pub async fn form<S: Store>(
    State(state): State<AppState<S>>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let notice = query.notice("已收到您的反馈,客服会尽快处理");
    page(
        &state,
        &user,
        &headers,
        FeedbackForm::default(),
        notice,
        None,
    )
    .await
}

/// Checks the form: the feedback to store, or what to fix.
async fn validate<S: Store>(
    store: &S,
    user: &User,
    form: &FeedbackForm,
) -> Result<Result<NewFeedback, &'static str>, StoreError> {
    let Some(kind) = FeedbackKind::parse(form.kind.trim()) else {
        return Ok(Err("请选择反馈类型"));
    };
    let rating = match form.rating.trim() {
        "" => None,
        text => match text.parse::<u8>() {
            Ok(r @ 1..=5) => Some(r),
            _ => return Ok(Err("评分应为 1 到 5 星")),
        },
    };
    if kind == FeedbackKind::Rating && rating.is_none() {
        return Ok(Err("请为送水服务打分"));
    }
    let message = form.message.trim();
    if kind != FeedbackKind::Rating && message.is_empty() {
        return Ok(Err("请描述遇到的问题"));
    }
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Ok(Err("内容不能超过 500 字"));
    }
    let book = match form.book.trim() {
        "" => None,
        text => {
            let Ok(id) = text.parse::<u64>() else {
                return Ok(Err("请选择您自己的水票"));
            };
            let book = match store.book(BookId(id)).await {
                Ok(book) => book,
                Err(StoreError::NotFound) => return Ok(Err("请选择您自己的水票")),
                Err(err) => return Err(err),
            };
            if !wallet::may_read(user, &book) {
                return Ok(Err("请选择您自己的水票"));
            }
            Some(book.issued.id)
        }
    };
    // A rating is about whoever delivered last on that book.
    let staff_user_id = match (kind, book) {
        (FeedbackKind::Rating, Some(book)) => store
            .book_history(book)
            .await?
            .events
            .iter()
            .rev()
            .find(|e| matches!(e.event.body, EventBody::Redemption { .. }))
            .map(|e| e.event.courier_id),
        _ => None,
    };
    Ok(Ok(NewFeedback {
        user_id: user.id,
        book_id: book,
        kind,
        rating,
        staff_user_id,
        message: message.to_string(),
    }))
}

/// `POST /wallet/feedback`.
pub async fn submit<S: Store>(
    State(state): State<AppState<S>>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<FeedbackForm>,
) -> Result<Response, PageError> {
    if !csrf::verify(&headers, &form.csrf) {
        return page(
            &state,
            &user,
            &headers,
            form,
            None,
            Some("页面已过期,请重新提交"),
        )
        .await;
    }
    match validate(&state.store, &user, &form).await? {
        Ok(feedback) => {
            state
                .store
                .create_feedback(&feedback, crate::unix_now())
                .await?;
            Ok(Redirect::to("/wallet/feedback?done=1").into_response())
        }
        Err(message) => page(&state, &user, &headers, form, None, Some(message)).await,
    }
}

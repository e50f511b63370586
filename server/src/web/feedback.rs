//! Customer feedback from the wallet: rate a delivery or report a problem (can't get a ticket,
//! can't redeem, lost ticket). It lands in the support desk's inbox.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use crate::feedback::{self, FeedbackError, FeedbackInput};
use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::ApiError;
use crate::local_time;
use crate::store::models::{FeedbackKind, User};
use crate::wallet;
use crate::web::csrf;
use crate::web::wallet::{Chrome, with_token};
use crate::web::{DoneQuery, PageError, render};

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

async fn page(
    state: &AppState,
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
pub async fn form(
    State(state): State<AppState>,
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

/// `POST /wallet/feedback`.
pub async fn submit(
    State(state): State<AppState>,
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
    let input = FeedbackInput {
        kind: &form.kind,
        rating: &form.rating,
        message: &form.message,
        book: &form.book,
    };
    match feedback::submit(&state.store, &user, input, crate::unix_now()).await {
        Ok(_) => Ok(Redirect::to("/wallet/feedback?done=1").into_response()),
        Err(FeedbackError::Invalid(message)) => {
            page(&state, &user, &headers, form, None, Some(message)).await
        }
        Err(other) => Err(ApiError::from(other).into()),
    }
}

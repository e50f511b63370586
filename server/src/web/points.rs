//! Points and the gift catalogue in the wallet: balance, history, and ordering a gift.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};

use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::{ApiError, ApiPath};
use crate::local_time;
use crate::rewards::{self, GiftError};
use crate::store::models::{Gift, User};
use crate::web::csrf::{self, TokenForm};
use crate::web::wallet::{Chrome, with_token};
use crate::web::{DoneQuery, PageError, render};

struct EntryView {
    at: String,
    delta: i64,
    reason: &'static str,
}

#[derive(Template)]
#[template(path = "points.html")]
struct PointsPage {
    chrome: Chrome,
    balance: i64,
    gifts: Vec<Gift>,
    history: Vec<EntryView>,
    notice: Option<&'static str>,
    error: Option<String>,
}

async fn page(
    state: &AppState,
    user: &User,
    headers: &HeaderMap,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let token = csrf::token(headers);
    let account_id = user.spec.account_id.ok_or_else(ApiError::not_found)?;
    let history = state
        .store
        .points_history(account_id, 50)
        .await?
        .into_iter()
        .map(|e| EntryView {
            at: local_time::minute(e.created_at),
            delta: e.delta,
            reason: match e.reason.as_str() {
                "redeemed" => "送水得积分",
                "gift" => "兑换礼品",
                _ => "其他",
            },
        })
        .collect();
    let page = PointsPage {
        chrome: Chrome::new(user, &token),
        balance: state.store.points_balance(account_id).await?,
        gifts: state.store.gifts().await?,
        history,
        notice,
        error,
    };
    Ok(with_token(&token, render(&page)))
}

/// `GET /wallet/points`.
pub async fn points(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let notice = query.notice("兑换成功,礼品将随下次送水一起送到");
    page(&state, &user, &headers, notice, None).await
}

/// `POST /wallet/points/gifts/{id}`: orders one gift, then shows the points page again.
pub async fn order(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    ApiPath(gift_id): ApiPath<i64>,
    Form(form): Form<TokenForm>,
) -> Result<Response, PageError> {
    if !csrf::verify(&headers, &form.csrf) {
        return page(
            &state,
            &user,
            &headers,
            None,
            Some("页面已过期,请重新提交".into()),
        )
        .await;
    }
    match rewards::order_gift(&state.store, &user, gift_id, crate::unix_now()).await {
        Ok(_) => Ok(Redirect::to("/wallet/points?done=1").into_response()),
        Err(GiftError::Store(err)) => Err(err.into()),
        Err(err) => page(&state, &user, &headers, None, Some(err.to_string())).await,
    }
}

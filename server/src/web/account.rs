//! Changing one's own password from a page: the form the wallet (`/wallet/password`) and the
//! console (`/admin/password`) share, handed to `auth::credentials::change_own`, which keeps the
//! session of the page and ends the user's others.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use crate::auth::credentials::{self, Change, CredentialError};
use crate::http::auth::{CurrentUser, session_id};
use crate::http::error::ApiError;
use crate::http::rate_limit::ClientIp;
use crate::http::{AppState, Surface};
use crate::store::models::User;
use crate::web::csrf;
use crate::web::wallet::{Chrome, with_token};
use crate::web::{DoneQuery, PageError, render};

/// The change-password form.
#[derive(Debug, Default, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// Changes the signed-in user's password from a submitted form: `Ok(Ok(()))` when done,
/// `Ok(Err(message))` for what the person should fix on the form.
pub(crate) async fn change(
    state: &AppState,
    user: &User,
    client: ClientIp,
    headers: &HeaderMap,
    form: PasswordForm,
) -> Result<Result<(), String>, PageError> {
    if !csrf::verify(headers, &form.csrf) {
        return Ok(Err("页面已过期,请刷新页面后重新提交".into()));
    }
    if form.new_password != form.confirm_password {
        return Ok(Err("两次输入的新密码不一致".into()));
    }
    let change = Change {
        current: form.current_password,
        new: form.new_password,
    };
    let changed = credentials::change_own(
        &state.store,
        &*state.limits,
        client.0,
        user,
        session_id(headers, Surface::Page),
        change,
        crate::unix_now(),
    )
    .await;
    match changed {
        Ok(()) => Ok(Ok(())),
        Err(err @ (CredentialError::Limited(_) | CredentialError::Store(_))) => {
            Err(ApiError::from(err).into())
        }
        Err(CredentialError::Hash(err)) => Err(ApiError::internal(&err).into()),
        Err(err) => Ok(Err(err.to_string())),
    }
}

#[derive(Template)]
#[template(path = "wallet_password.html")]
struct WalletPasswordPage {
    chrome: Chrome,
    notice: Option<&'static str>,
    error: Option<String>,
}

fn wallet_page(
    user: &User,
    headers: &HeaderMap,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Response {
    let token = csrf::token(headers);
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = WalletPasswordPage {
        chrome: Chrome::new(user, &token),
        notice,
        error,
    };
    (status, with_token(&token, render(&page))).into_response()
}

/// `GET /wallet/password`.
pub async fn wallet_form(
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(query): Query<DoneQuery>,
) -> Response {
    let notice = query.notice("密码已修改,其他设备上的登录已退出");
    wallet_page(&user, &headers, notice, None)
}

/// `POST /wallet/password`.
pub async fn wallet_change(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    client: ClientIp,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    Ok(match change(&state, &user, client, &headers, form).await? {
        Ok(()) => Redirect::to("/wallet/password?done=1").into_response(),
        Err(message) => wallet_page(&user, &headers, None, Some(message)),
    })
}

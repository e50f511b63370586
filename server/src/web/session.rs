//! Signing in and out in the browser, and the front door that sends each role to its pages.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::SET_COOKIE;
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::http::AppState;
use crate::http::auth::{PasswordError, check_password, end_session, start_session, user_of};
use crate::http::rate_limit::ClientIp;
use crate::store::Store;
use crate::store::models::Role;
use crate::web::csrf::{self, CsrfToken};
use crate::web::{PageError, render};

/// Where a signed-in user starts.
fn start_page(role: Role) -> &'static str {
    match role {
        Role::Customer | Role::EnterpriseAdmin => "/wallet",
        Role::Statistician | Role::Operator | Role::Admin => "/admin",
        _ => "/login?signed_in=1",
    }
}

/// Only same-site paths are followed after login (no open redirect).
fn safe_next(next: Option<&str>) -> Option<&str> {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
}

/// `GET /`: the wallet for holders, else the sign-in page.
pub async fn home<S: Store>(State(state): State<AppState<S>>, headers: HeaderMap) -> Redirect {
    match user_of(&state, &headers, crate::unix_now()).await {
        Ok(user) => Redirect::to(start_page(user.spec.role)),
        Err(_) => Redirect::to("/login"),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    next: &'a str,
    username: &'a str,
    error: Option<&'a str>,
    signed_in_as: Option<String>,
}

/// Query of the sign-in page.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

fn login_page(token: &CsrfToken, page: &LoginPage<'_>, status: axum::http::StatusCode) -> Response {
    let cookies: Vec<(axum::http::HeaderName, String)> = token
        .set_cookie
        .iter()
        .map(|cookie| (SET_COOKIE, cookie.clone()))
        .collect();
    (status, AppendHeaders(cookies), render(page)).into_response()
}

/// `GET /login`.
pub async fn login_form<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    let token = csrf::token(&headers);
    let signed_in_as = user_of(&state, &headers, crate::unix_now())
        .await
        .ok()
        .map(|user| format!("{}({})", user.spec.username, user.spec.role.label()));
    let page = LoginPage {
        csrf: &token.value,
        next: safe_next(query.next.as_deref()).unwrap_or(""),
        username: "",
        error: None,
        signed_in_as,
    };
    login_page(&token, &page, axum::http::StatusCode::OK)
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /login`: checks the password, opens a session, goes on to `next` or the start page.
/// Too many attempts get the 429 message page.
pub async fn login<S: Store>(
    State(state): State<AppState<S>>,
    client: ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let token = csrf::token(&headers);
    let refuse = |message: &'static str| {
        let page = LoginPage {
            csrf: &token.value,
            next: safe_next(Some(&form.next)).unwrap_or(""),
            username: &form.username,
            error: Some(message),
            signed_in_as: None,
        };
        login_page(&token, &page, axum::http::StatusCode::UNAUTHORIZED)
    };
    if !csrf::verify(&headers, &form.csrf) {
        return Ok(refuse("页面已过期,请重新提交"));
    }
    let user = match check_password(&state, client, &form.username, form.password.clone()).await {
        Ok(user) => user,
        Err(PasswordError::Wrong) => return Ok(refuse("账号或密码错误")),
        Err(err) => return Err(crate::http::error::ApiError::from(err).into()),
    };
    let session = start_session(&state, &user, crate::unix_now()).await?;
    let target = safe_next(Some(&form.next)).unwrap_or(start_page(user.spec.role));
    Ok((
        AppendHeaders([(SET_COOKIE, session.cookie)]),
        Redirect::to(target),
    )
        .into_response())
}

/// The sign-out form.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`.
pub async fn logout<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Result<Response, PageError> {
    if !csrf::verify(&headers, &form.csrf) {
        return Err(crate::http::error::ApiError::forbidden().into());
    }
    let cookie = end_session(&state, &headers).await?;
    Ok((
        AppendHeaders([(SET_COOKIE, cookie)]),
        Redirect::to("/login"),
    )
        .into_response())
}

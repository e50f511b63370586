//! The web pages people use: the 我的水票 wallet (mobile-first) and sign-in. Server-rendered with
//! askama templates from `server/templates/`; every page is in the route table with its access.
//!
//! **Architecture Invariant:** pages call the same domain modules as the JSON API (`wallet`,
//! `issuance`, the store); no business rule lives in a handler or a template.

mod assets;
pub mod csrf;
mod qr;
mod session;
mod wallet;

use askama::Template;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::http::error::ApiError;
use crate::http::{Access, BOOK_READERS, EVERYONE, HOLDERS, Route, Surface};
use crate::store::{Store, StoreError};

/// The page routes, merged into the one route table by `http::routes`.
pub fn routes<S: Store>() -> Vec<Route<S>> {
    let (get, post) = (Method::GET, Method::POST);
    vec![
        Route::new(
            Surface::Page,
            get.clone(),
            "/",
            Access::Public,
            session::home::<S>,
        ),
        Route::new(
            Surface::Page,
            get.clone(),
            "/login",
            Access::Public,
            session::login_form::<S>,
        ),
        Route::new(
            Surface::Page,
            post.clone(),
            "/login",
            Access::Public,
            session::login::<S>,
        ),
        Route::new(
            Surface::Page,
            post,
            "/logout",
            Access::Roles(EVERYONE),
            session::logout::<S>,
        ),
        Route::new(
            Surface::Page,
            get.clone(),
            "/static/shuipiao.css",
            Access::Public,
            assets::stylesheet,
        ),
        Route::new(
            Surface::Page,
            get.clone(),
            "/wallet",
            Access::Roles(HOLDERS),
            wallet::list::<S>,
        ),
        Route::new(
            Surface::Page,
            get.clone(),
            "/wallet/books/{id}",
            Access::Roles(BOOK_READERS),
            wallet::detail::<S>,
        ),
        Route::new(
            Surface::Page,
            get,
            "/wallet/books/{id}/print",
            Access::Roles(BOOK_READERS),
            wallet::print::<S>,
        ),
    ]
}

/// Renders a template into a page (500 if rendering fails, which a test would catch).
fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(err) => PageError::from(ApiError::internal(&err)).into_response(),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

/// A page that could not be shown: rendered as an error page with its status.
#[derive(Debug)]
pub struct PageError(ApiError);

impl From<ApiError> for PageError {
    fn from(err: ApiError) -> PageError {
        PageError(err)
    }
}

impl From<StoreError> for PageError {
    fn from(err: StoreError) -> PageError {
        PageError(err.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = match self.0.status {
            StatusCode::NOT_FOUND => "页面不存在",
            StatusCode::FORBIDDEN => "没有权限",
            status if status.is_client_error() => "请求有误",
            _ => "服务暂时不可用",
        };
        let page = ErrorPage {
            title,
            message: &self.0.message,
        };
        let html = page.render().unwrap_or_else(|_| self.0.message.clone());
        (
            self.0.status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response()
    }
}

/// Answers a refused page request: to the login page (coming back afterwards) when not signed in,
/// else an error page.
pub fn refuse(err: ApiError, uri: &Uri) -> Response {
    if err.status == StatusCode::UNAUTHORIZED {
        let next = uri.path_and_query().map_or("/", |pq| pq.as_str());
        let target = format!("/login?next={}", urlencode(next));
        return Redirect::to(&target).into_response();
    }
    PageError(err).into_response()
}

fn urlencode(text: &str) -> String {
    askama::filters::urlencode_strict(text)
        .map(|encoded| encoded.to_string())
        .unwrap_or_default()
}

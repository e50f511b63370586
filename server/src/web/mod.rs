//! The web pages people use: the 我的水票 wallet (mobile-first) and sign-in. Server-rendered with
//! askama templates from `server/templates/`; every page is in the route table with its access.
//!
//! **Architecture Invariant:** pages call the same domain modules as the JSON API (`wallet`,
//! `issuance`, the store); no business rule lives in a handler or a template.

mod account;
pub mod admin;
mod assets;
pub mod csrf;
mod enterprise;
mod feedback;
mod membership;
mod ordering;
mod points;
mod qr;
mod register;
mod session;
mod wallet;

use askama::Template;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::Method;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;
pub use crate::http::error::PageError;
use crate::http::{Access, BOOK_READERS, EVERYONE, HOLDERS, Route, Surface};
use crate::store::models::Role;

/// The page routes, joined with the API's into the one route table by
/// [`crate::router::routes`].
pub fn routes() -> Vec<Route> {
    vec![
        Route::new(
            Surface::Page,
            Method::GET,
            "/",
            Access::Public,
            session::home,
        ),
        Route::new(
            Surface::Page,
            Method::GET,
            "/login",
            Access::Public,
            session::login_form,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/login",
            Access::Public,
            session::login,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/logout",
            Access::Roles(EVERYONE),
            session::logout,
        ),
        Route::new(
            Surface::Page,
            Method::GET,
            "/login/sms",
            Access::Public,
            register::sign_in_form,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/login/sms",
            Access::Public,
            register::sign_in,
        ),
        Route::new(
            Surface::Page,
            Method::GET,
            "/login/reset",
            Access::Public,
            register::reset_form,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/login/reset",
            Access::Public,
            register::reset,
        ),
        Route::new(
            Surface::Page,
            Method::GET,
            "/wallet/register",
            Access::Public,
            register::register_form,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/wallet/register",
            Access::Public,
            register::register,
        ),
        Route::new(
            Surface::Page,
            Method::GET,
            "/static/shuipiao.css",
            Access::Public,
            assets::stylesheet,
        ),
        Route::new(
            Surface::Page,
            Method::GET,
            "/static/shuipiao.js",
            Access::Public,
            assets::script,
        ),
        Route::new(
            Surface::Page,
            Method::GET,
            "/static/holder.js",
            Access::Public,
            assets::holder_script,
        ),
        Route::new(
            Surface::Page,
            Method::GET,
            "/wallet",
            Access::Roles(HOLDERS),
            wallet::list,
        ),
        Route::new(
            Surface::Page,
            Method::GET,
            "/wallet/books/{id}",
            Access::Roles(BOOK_READERS),
            wallet::detail,
        ),
        Route::new(
            Surface::Page,
            Method::GET,
            "/wallet/books/{id}/print",
            Access::Roles(BOOK_READERS),
            wallet::print,
        ),
        Route::new(
            Surface::Page,
            Method::GET,
            "/wallet/books/{id}/qr.svg",
            Access::Roles(BOOK_READERS),
            wallet::rotating_qr_svg,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/wallet/books/{id}/holder-key",
            Access::Roles(HOLDERS),
            wallet::bind_holder_key,
        ),
        Route::new(
            Surface::Page,
            Method::GET,
            "/wallet/points",
            Access::Roles(HOLDERS),
            points::points,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/wallet/points/gifts/{id}",
            Access::Roles(HOLDERS),
            points::order,
        ),
        Route::new(
            Surface::Page,
            Method::GET,
            "/wallet/enterprise",
            Access::Roles(&[Role::EnterpriseAdmin]),
            enterprise::overview,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/wallet/enterprise/allocate",
            Access::Roles(&[Role::EnterpriseAdmin]),
            enterprise::allocate,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/wallet/enterprise/invite",
            Access::Roles(&[Role::EnterpriseAdmin]),
            enterprise::invite,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/wallet/enterprise/invitations/{id}/withdraw",
            Access::Roles(&[Role::EnterpriseAdmin]),
            enterprise::withdraw,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/wallet/invitations/{id}",
            Access::Roles(&[Role::Customer]),
            membership::answer,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/wallet/enterprise/leave",
            Access::Roles(&[Role::Customer]),
            membership::leave,
        ),
        Route::new(
            Surface::Page,
            Method::GET,
            "/wallet/join",
            Access::Public,
            membership::join_form,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/wallet/join",
            Access::Public,
            membership::join,
        ),
        Route::new(
            Surface::Page,
            Method::GET,
            "/wallet/password",
            Access::Roles(HOLDERS),
            account::wallet_form,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/wallet/password",
            Access::Roles(HOLDERS),
            account::wallet_change,
        ),
        Route::new(
            Surface::Page,
            Method::GET,
            "/wallet/order",
            Access::Roles(HOLDERS),
            ordering::order_form,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/wallet/order",
            Access::Roles(HOLDERS),
            ordering::place,
        ),
        Route::new(
            Surface::Page,
            Method::GET,
            "/wallet/orders",
            Access::Roles(HOLDERS),
            ordering::orders_list,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/wallet/orders/repeat",
            Access::Roles(HOLDERS),
            ordering::repeat,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/wallet/orders/{id}/cancel",
            Access::Roles(HOLDERS),
            ordering::cancel,
        ),
        Route::new(
            Surface::Page,
            Method::GET,
            "/wallet/addresses",
            Access::Roles(HOLDERS),
            ordering::addresses_list,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/wallet/addresses",
            Access::Roles(HOLDERS),
            ordering::add_address,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/wallet/addresses/{id}",
            Access::Roles(HOLDERS),
            ordering::edit_address,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/wallet/addresses/{id}/remove",
            Access::Roles(HOLDERS),
            ordering::remove_address,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/wallet/addresses/{id}/default",
            Access::Roles(HOLDERS),
            ordering::default_address,
        ),
        Route::new(
            Surface::Page,
            Method::GET,
            "/wallet/recurring",
            Access::Roles(HOLDERS),
            ordering::recurring_list,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/wallet/recurring",
            Access::Roles(HOLDERS),
            ordering::create_recurring,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/wallet/recurring/{id}/{action}",
            Access::Roles(HOLDERS),
            ordering::change_recurring,
        ),
        Route::new(
            Surface::Page,
            Method::GET,
            "/wallet/feedback",
            Access::Roles(HOLDERS),
            feedback::form,
        ),
        Route::new(
            Surface::Page,
            Method::POST,
            "/wallet/feedback",
            Access::Roles(HOLDERS),
            feedback::submit,
        ),
    ]
    .into_iter()
    .chain(admin::routes())
    .collect()
}

/// `?done=1` on the page a form redirected back to: the page shows its success notice.
#[derive(Debug, Default, serde::Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

impl DoneQuery {
    /// `text` when the form just succeeded.
    fn notice(&self, text: &'static str) -> Option<&'static str> {
        self.done.as_ref().map(|_| text)
    }
}

/// `axum::extract::Query` for pages: an address whose query does not parse (a number field
/// holding letters or out of its type's range) gets a zh-CN error page, not axum's plain-text
/// rejection.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for PageQuery<T> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| PageQuery(value))
            .map_err(|_| {
                ApiError::bad_request("网址中的查询参数有误,请从页面上的链接或表单进入").into()
            })
    }
}

/// `axum::extract::Path` for pages: a malformed id in the address gets the "not found" error
/// page, as an unknown one does.
#[derive(Debug, Clone, Copy, Default)]
pub struct PagePath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PagePath<T> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| PagePath(value))
            .map_err(|_| ApiError::not_found().into())
    }
}

/// Renders a template into a page (500 if rendering fails, which a test would catch).
fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(err) => PageError::from(ApiError::internal(&err)).into_response(),
    }
}

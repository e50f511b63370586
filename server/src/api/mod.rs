//! The JSON API: `/api/v1` handlers (`v1`), the operations endpoints (health, metrics, the
//! OpenAPI document) and their entries of the route table.
//!
//! **API Boundary:** the `/api/v1` routes speak the protocol crate's DTOs; server-only resources
//! (catalogue, orders, review) use the serde types beside their handlers. Handlers parse, call
//! one domain function or store read, and present the result; they never write to the store.

pub mod openapi;
mod ops;
pub mod v1;

use axum::handler::Handler;
use axum::http::Method;

use crate::http::{
    ADMIN, Access, AppState, BOOK_READERS, EVERYONE, HOLDERS, REPORTS, Route, STAFF, Surface,
};
use crate::store::models::Role;

/// An API entry of the route table.
fn route<H, T>(method: Method, path: &'static str, access: Access, handler: H) -> Route
where
    H: Handler<T, AppState>,
    T: 'static,
{
    Route::new(Surface::Api, method, path, access, handler)
}

/// The JSON API's routes, joined with the pages' into the one route table by
/// [`crate::router::routes`].
pub fn routes() -> Vec<Route> {
    use v1::{
        accounts, audit, books, catalogue, channels, devices, keys, review, session, stats, sync,
    };
    let (get, post) = (Method::GET, Method::POST);
    vec![
        route(get.clone(), "/healthz", Access::Public, ops::healthz),
        route(get.clone(), "/metrics", Access::Metrics, ops::metrics),
        route(
            get.clone(),
            "/api/v1/openapi.json",
            Access::Public,
            ops::openapi_json,
        ),
        route(
            post.clone(),
            "/api/v1/auth/login",
            Access::Public,
            session::login,
        ),
        route(
            post.clone(),
            "/api/v1/auth/logout",
            Access::Roles(EVERYONE),
            session::logout,
        ),
        route(
            get.clone(),
            "/api/v1/me",
            Access::Roles(EVERYONE),
            session::me,
        ),
        route(
            post.clone(),
            "/api/v1/me/password",
            Access::Roles(EVERYONE),
            session::change_password,
        ),
        route(
            Method::PUT,
            "/api/v1/me/channels/{channel}",
            Access::Roles(HOLDERS),
            channels::bind,
        ),
        route(
            Method::DELETE,
            "/api/v1/me/channels/{channel}",
            Access::Roles(HOLDERS),
            channels::unbind,
        ),
        route(
            post.clone(),
            "/api/v1/devices/enroll",
            Access::Public,
            devices::enroll,
        ),
        route(
            post.clone(),
            "/api/v1/sync/push",
            Access::Device,
            sync::push,
        ),
        route(get.clone(), "/api/v1/sync/pull", Access::Device, sync::pull),
        route(
            get.clone(),
            "/api/v1/sync/snapshot",
            Access::Device,
            sync::snapshot,
        ),
        route(
            get.clone(),
            "/api/v1/sync/status",
            Access::Device,
            sync::status,
        ),
        route(
            get.clone(),
            "/api/v1/products",
            Access::Roles(EVERYONE),
            catalogue::list_products,
        ),
        route(
            post.clone(),
            "/api/v1/products",
            Access::Roles(ADMIN),
            catalogue::create_product,
        ),
        route(
            get.clone(),
            "/api/v1/regions",
            Access::Roles(EVERYONE),
            catalogue::list_regions,
        ),
        route(
            post.clone(),
            "/api/v1/regions",
            Access::Roles(ADMIN),
            catalogue::create_region,
        ),
        route(
            get.clone(),
            "/api/v1/outlets",
            Access::Roles(EVERYONE),
            catalogue::list_outlets,
        ),
        route(
            post.clone(),
            "/api/v1/outlets",
            Access::Roles(ADMIN),
            catalogue::create_outlet,
        ),
        route(
            get.clone(),
            "/api/v1/scopes",
            Access::Roles(EVERYONE),
            catalogue::list_scopes,
        ),
        route(
            post.clone(),
            "/api/v1/scopes",
            Access::Roles(ADMIN),
            catalogue::create_scope,
        ),
        route(
            get.clone(),
            "/api/v1/packages",
            Access::Roles(EVERYONE),
            catalogue::list_packages,
        ),
        route(
            post.clone(),
            "/api/v1/packages",
            Access::Roles(ADMIN),
            catalogue::create_package,
        ),
        route(
            post.clone(),
            "/api/v1/accounts",
            Access::Roles(STAFF),
            accounts::create_account,
        ),
        route(
            get.clone(),
            "/api/v1/accounts/{id}/members",
            Access::Roles(&[Role::EnterpriseAdmin, Role::Operator, Role::Admin]),
            accounts::members,
        ),
        route(
            get.clone(),
            "/api/v1/accounts/{id}/allocated-books",
            Access::Roles(&[Role::EnterpriseAdmin, Role::Operator, Role::Admin]),
            accounts::allocated_books,
        ),
        route(
            post.clone(),
            "/api/v1/users",
            Access::Roles(ADMIN),
            accounts::create_user,
        ),
        route(
            post.clone(),
            "/api/v1/orders",
            Access::Roles(STAFF),
            books::issue_order,
        ),
        route(
            get.clone(),
            "/api/v1/books/mine",
            Access::Roles(HOLDERS),
            books::my_books,
        ),
        route(
            get.clone(),
            "/api/v1/books/{id}",
            Access::Roles(BOOK_READERS),
            books::get_book,
        ),
        route(
            post.clone(),
            "/api/v1/books/{id}/revoke",
            Access::Roles(STAFF),
            books::revoke,
        ),
        route(
            post.clone(),
            "/api/v1/books/{id}/reissue",
            Access::Roles(STAFF),
            books::reissue,
        ),
        route(
            get.clone(),
            "/api/v1/review",
            Access::Roles(STAFF),
            review::list,
        ),
        route(
            post.clone(),
            "/api/v1/review/{event_id}/resolve",
            Access::Roles(STAFF),
            review::resolve,
        ),
        route(
            get.clone(),
            "/api/v1/stats/summary",
            Access::Roles(REPORTS),
            stats::summary,
        ),
        route(
            post.clone(),
            "/api/v1/devices/enrollment-codes",
            Access::Roles(ADMIN),
            devices::create_enrollment_code,
        ),
        route(
            get.clone(),
            "/api/v1/devices",
            Access::Roles(STAFF),
            devices::list,
        ),
        route(
            post.clone(),
            "/api/v1/devices/{id}/disable",
            Access::Roles(ADMIN),
            devices::disable,
        ),
        route(
            get.clone(),
            "/api/v1/keys",
            Access::Roles(ADMIN),
            keys::list,
        ),
        route(
            post.clone(),
            "/api/v1/keys/rotate",
            Access::Roles(ADMIN),
            keys::rotate,
        ),
        route(
            post.clone(),
            "/api/v1/keys/{kid}/compromise",
            Access::Roles(ADMIN),
            keys::compromise,
        ),
        route(get, "/api/v1/audit", Access::Roles(ADMIN), audit::list),
    ]
}

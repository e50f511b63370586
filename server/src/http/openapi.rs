//! The OpenAPI document, generated from the handlers' annotations and served at
//! `/api/v1/openapi.json`. Protocol DTOs from `shuipiao-shared` appear as free-form objects named
//! in their descriptions, since the protocol crate stays free of documentation dependencies.

use utoipa::OpenApi;

use crate::http::{ops, v1};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Shuipiao API", description = "电子水票 server API, version 1"),
    paths(
        ops::healthz,
        ops::metrics,
        v1::session::login,
        v1::session::logout,
        v1::session::me,
        v1::session::change_password,
        v1::channels::bind,
        v1::channels::unbind,
        v1::devices::enroll,
        v1::devices::create_enrollment_code,
        v1::devices::list,
        v1::devices::disable,
        v1::sync::push,
        v1::sync::pull,
        v1::sync::snapshot,
        v1::sync::status,
        v1::catalogue::list_products,
        v1::catalogue::create_product,
        v1::catalogue::list_regions,
        v1::catalogue::create_region,
        v1::catalogue::list_outlets,
        v1::catalogue::create_outlet,
        v1::catalogue::list_scopes,
        v1::catalogue::create_scope,
        v1::catalogue::list_packages,
        v1::catalogue::create_package,
        v1::accounts::create_account,
        v1::accounts::members,
        v1::accounts::allocated_books,
        v1::accounts::create_user,
        v1::books::issue_order,
        v1::books::my_books,
        v1::books::get_book,
        v1::books::revoke,
        v1::books::reissue,
        v1::keys::list,
        v1::keys::rotate,
        v1::keys::compromise,
        v1::review::list,
        v1::review::resolve,
        v1::stats::summary,
        v1::audit::list,
    )
)]
pub struct ApiDoc;

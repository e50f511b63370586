//! The application's one route table and the router built from it: the JSON API's routes
//! (`api`) and the pages' (`web`), each declaring who may call it, served by the transport
//! kernel (`http`). The role-matrix test walks [`routes`]; the OpenAPI document walks the API's
//! part, `api::routes`, so that `api` never names the router that names it.

use axum::Router;

use crate::http::{self, AppState, Route};
use crate::{api, web};

/// The route table: the single place that lists every route and who may call it.
pub fn routes() -> Vec<Route> {
    api::routes().into_iter().chain(web::routes()).collect()
}

/// The application: every route of [`routes`] behind the kernel's layers.
pub fn router(state: AppState) -> Router {
    http::serve_routes(state, routes())
}

//! Operations endpoints: health, Prometheus metrics and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::openapi;
use crate::http::AppState;
use crate::http::error::ApiError;

/// Answer of `/healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the database answers.
    pub status: &'static str,
}

/// Liveness and database reachability.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Health), (status = 500, description = "database unreachable")))]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store.ping().await?;
    Ok(Json(Health { status: "ok" }))
}

/// Prometheus text exposition, for the scraper with the configured `metrics_token` (as its
/// bearer token), or without one for a scraper on the server's own host.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format", content_type = "text/plain"),
    (status = 401, description = "`metrics_token` is set and the request does not carry it"),
    (status = 404, description = "no `metrics_token` is set and the request is not from this host")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
}

/// This API's OpenAPI document.
pub async fn openapi_json() -> impl IntoResponse {
    Json(openapi::document())
}

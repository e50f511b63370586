//! Read-only figures for statisticians: issued, used and remaining units, redemptions, devices.

use axum::Json;
use axum::extract::State;

use crate::http::AppState;
use crate::http::error::ApiError;
use crate::store::models::Summary;

/// Totals over all books.
#[utoipa::path(get, path = "/api/v1/stats/summary", tag = "stats", responses((status = 200, body = Summary)))]
pub async fn summary(State(state): State<AppState>) -> Result<Json<Summary>, ApiError> {
    Ok(Json(state.store.summary().await?))
}

//! The audit log of admin actions.

use axum::Json;
use axum::extract::State;

use crate::http::AppState;
use crate::http::error::ApiError;
use crate::store::models::AuditRecord;

/// The newest 200 audit entries.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", responses((status = 200, body = Vec<AuditRecord>)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<AuditRecord>>, ApiError> {
    Ok(Json(state.store.audit_log(200).await?))
}

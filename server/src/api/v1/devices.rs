//! Devices: enrollment by one-time code, codes for admins, listing and disabling.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use shuipiao_shared::ids::{DeviceId, UserId};
use shuipiao_shared::sync::{EnrollRequest, EnrollResponse};
use utoipa::ToSchema;

use crate::enrollment;
use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::http::rate_limit::ClientIp;

/// Enrolls a device with a one-time code.
///
/// Failed attempts count against the client's limit; a success is given back, since it used up
/// a code an admin made.
#[utoipa::path(post, path = "/api/v1/devices/enroll", tag = "devices",
    request_body = EnrollRequest,
    responses((status = 200, body = EnrollResponse), (status = 400, description = "bad or used code"),
        (status = 429, description = "too many failed enrollments from this client; see Retry-After")))]
pub async fn enroll(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    ApiJson(request): ApiJson<EnrollRequest>,
) -> Result<Json<EnrollResponse>, ApiError> {
    state.limits.enroll.take(client)?;
    let enrolled = enrollment::enroll(&state.store, &request, crate::unix_now()).await?;
    state.limits.enroll.give_back(&client);
    Ok(Json(enrolled))
}

/// `POST /api/v1/devices/enrollment-codes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// The courier or store clerk.
    #[schema(value_type = u64)]
    pub user_id: UserId,
    /// Lifetime in seconds (60 s – 7 days; default 1 day).
    #[schema(minimum = 60, maximum = 604_800)]
    pub ttl_secs: Option<i64>,
}

/// A fresh enrollment code, shown once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CodeResponse {
    /// The code.
    pub code: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Makes a one-time enrollment code.
#[utoipa::path(post, path = "/api/v1/devices/enrollment-codes", tag = "devices", request_body = CodeRequest,
    responses((status = 200, body = CodeResponse)))]
pub async fn create_enrollment_code(
    State(state): State<AppState>,
    Extension(CurrentUser(admin)): Extension<CurrentUser>,
    ApiJson(request): ApiJson<CodeRequest>,
) -> Result<Json<CodeResponse>, ApiError> {
    let issued = enrollment::create_code(
        &state.store,
        request.user_id,
        request.ttl_secs.unwrap_or(86_400),
        Some(admin.id),
        crate::unix_now(),
    )
    .await?;
    Ok(Json(CodeResponse {
        code: issued.code,
        expires_at: issued.expires_at,
    }))
}

/// A device as listed to staff.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviceView {
    /// Id.
    #[schema(value_type = u64)]
    pub id: DeviceId,
    /// Name.
    pub name: String,
    /// Courier or clerk.
    #[schema(value_type = u64)]
    pub user_id: UserId,
    /// Unix seconds.
    pub enrolled_at: i64,
    /// Unix seconds, when disabled.
    pub disabled_at: Option<i64>,
}

/// Lists devices.
#[utoipa::path(get, path = "/api/v1/devices", tag = "devices", responses((status = 200, body = Vec<DeviceView>)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<DeviceView>>, ApiError> {
    let devices = state.store.devices().await?;
    Ok(Json(
        devices
            .into_iter()
            .map(|d| DeviceView {
                id: d.id,
                name: d.name,
                user_id: d.user_id,
                enrolled_at: d.enrolled_at,
                disabled_at: d.disabled_at,
            })
            .collect(),
    ))
}

/// Disables a device; its token stops working at once.
#[utoipa::path(post, path = "/api/v1/devices/{id}/disable", tag = "devices",
    params(("id" = u64, Path, description = "device id")), responses((status = 204), (status = 404)))]
pub async fn disable(
    State(state): State<AppState>,
    Extension(CurrentUser(admin)): Extension<CurrentUser>,
    ApiPath(id): ApiPath<u64>,
) -> Result<StatusCode, ApiError> {
    enrollment::disable_device(
        &state.store,
        DeviceId(id),
        admin.id,
        "api",
        crate::unix_now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

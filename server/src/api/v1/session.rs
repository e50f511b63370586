//! Login and logout over the API: argon2-checked passwords, sessions as bearer tokens (the API
//! takes no cookie, see `http::auth`), and changing one's own password.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use shuipiao_shared::ids::UserId;
use utoipa::ToSchema;

use crate::auth::credentials::{self, Change};
use crate::auth::{session, sign_in};
use crate::http::auth::{CurrentUser, session_id, session_token};
use crate::http::error::{ApiError, ApiJson};
use crate::http::rate_limit::ClientIp;
use crate::http::{AppState, Surface};
use crate::store::models::Role;

/// `POST /api/v1/auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name or phone number.
    pub username: String,
    /// Password.
    pub password: String,
}

/// A new session.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token for the `Authorization` header.
    pub token: String,
    /// The user.
    #[schema(value_type = u64)]
    pub user_id: UserId,
    /// Their role.
    pub role: Role,
    /// Unix seconds.
    pub expires_at: i64,
}

/// The signed-in user.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    /// Id.
    #[schema(value_type = u64)]
    pub user_id: UserId,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Account, for holders.
    pub account_id: Option<i64>,
    /// Region, for couriers.
    pub region_id: Option<i64>,
    /// Store, for store staff.
    pub outlet_id: Option<i64>,
}

/// Signs in with a password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, description = "wrong name or password"),
        (status = 429, description = "too many sign-ins from this client or wrong passwords for this account; see Retry-After")))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<axum::Json<LoginResponse>, ApiError> {
    let now = crate::unix_now();
    let user = sign_in::check_password(
        &state.store,
        &state.master,
        &*state.limits,
        client,
        &request.username,
        request.password,
        now,
    )
    .await?;
    let session = session::open(&state.store, &user, state.config.session_ttl_secs, now).await?;
    Ok(axum::Json(LoginResponse {
        token: session.token,
        user_id: user.id,
        role: user.spec.role,
        expires_at: session.expires_at,
    }))
}

/// Ends the session of the bearer token.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204)))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    if let Some(token) = session_token(&headers, Surface::Api) {
        session::end(&state.store, token).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/me/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The password now.
    pub current_password: String,
    /// The new password: at least 8 characters, not the login name.
    pub new_password: String,
}

/// Changes the caller's password. Every other session and API token of the user ends; this one
/// stays. Wrong current passwords count towards the sign-in lock.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204), (status = 400, description = "wrong current password, or the new one breaks the rule"),
        (status = 429, description = "too many wrong passwords; see Retry-After")))]
pub async fn change_password(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    ApiJson(request): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let change = Change {
        current: request.current_password,
        new: request.new_password,
    };
    credentials::change_own(
        &state.store,
        &*state.limits,
        client,
        &user,
        session_id(&headers, Surface::Api),
        change,
        crate::unix_now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who am I.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", responses((status = 200, body = Me)))]
pub async fn me(Extension(CurrentUser(user)): Extension<CurrentUser>) -> axum::Json<Me> {
    axum::Json(Me {
        user_id: user.id,
        username: user.spec.username,
        role: user.spec.role,
        account_id: user.spec.account_id,
        region_id: user.spec.region_id,
        outlet_id: user.spec.outlet_id,
    })
}

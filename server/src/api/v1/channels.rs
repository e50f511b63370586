//! Binding and unbinding the channels a customer is reached on besides SMS
//! (`notify::channels`).

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::notify::channels;

/// Where the channel reaches the customer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelAddress {
    /// WeChat openid or app push device token.
    pub address: String,
}

/// Binds the signed-in customer's WeChat openid or push device token.
#[utoipa::path(put, path = "/api/v1/me/channels/{channel}", tag = "auth",
    params(("channel" = String, Path, description = "`wechat` or `push`")),
    request_body = ChannelAddress, responses((status = 204), (status = 400)))]
pub async fn bind(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<ChannelAddress>,
) -> Result<StatusCode, ApiError> {
    let now = crate::unix_now();
    channels::bind(
        &state.store,
        &state.master,
        &user,
        &name,
        &body.address,
        now,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unbinds a channel: messages go by SMS again (or by the other bound channel).
#[utoipa::path(delete, path = "/api/v1/me/channels/{channel}", tag = "auth",
    params(("channel" = String, Path, description = "`wechat` or `push`")),
    responses((status = 204), (status = 400)))]
pub async fn unbind(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    channels::unbind(&state.store, &user, &name, crate::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

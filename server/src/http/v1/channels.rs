//! The channels a customer is reached on besides SMS: the app registers its push device token,
//! the WeChat official account binds the customer's openid (both sealed at rest), and either
//! can be unbound. Messages then go by [`crate::notify::route`].

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::pii;
use crate::store::Store;
use crate::store::models::Channel;

/// Longest accepted openid or device token.
const MAX_ADDRESS_CHARS: usize = 256;

/// Where the channel reaches the customer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelAddress {
    /// WeChat openid or app push device token.
    pub address: String,
}

fn bindable(name: &str) -> Result<Channel, ApiError> {
    match Channel::parse(name) {
        Some(channel @ (Channel::Wechat | Channel::Push)) => Ok(channel),
        _ => Err(ApiError::bad_request(
            "channel must be wechat or push (SMS uses the phone number)",
        )),
    }
}

/// Binds the signed-in customer's WeChat openid or push device token.
#[utoipa::path(put, path = "/api/v1/me/channels/{channel}", tag = "auth",
    params(("channel" = String, Path, description = "`wechat` or `push`")),
    request_body = ChannelAddress, responses((status = 204), (status = 400)))]
pub async fn bind<S: Store>(
    State(state): State<AppState<S>>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<ChannelAddress>,
) -> Result<StatusCode, ApiError> {
    let channel = bindable(&name)?;
    let address = body.address.trim();
    let printable = address.bytes().all(|b| b.is_ascii_graphic());
    if address.is_empty() || address.len() > MAX_ADDRESS_CHARS || !printable {
        return Err(ApiError::bad_request(
            "address must be 1 to 256 printable ASCII characters",
        ));
    }
    let sealed = pii::seal_address(&state.master, channel.as_str(), address);
    state
        .store
        .bind_channel(user.id, channel, Some(&sealed), crate::unix_now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unbinds a channel: messages go by SMS again (or by the other bound channel).
#[utoipa::path(delete, path = "/api/v1/me/channels/{channel}", tag = "auth",
    params(("channel" = String, Path, description = "`wechat` or `push`")),
    responses((status = 204), (status = 400)))]
pub async fn unbind<S: Store>(
    State(state): State<AppState<S>>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let channel = bindable(&name)?;
    state
        .store
        .bind_channel(user.id, channel, None, crate::unix_now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Sessions and bearer tokens: opening a session for a user who proved who they are, finding the
//! user or the device behind a token, and ending a session. The transport (`http::auth`) only
//! finds the token in a request (bearer header or cookie) and answers what these functions
//! decide.

use shuipiao_shared::ids::DeviceId;

use crate::auth::token::{self, DEVICE_TOKEN_PREFIX};
use crate::store::models::{Device, Session, User};
use crate::store::{Store, StoreError};

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Malformed, unknown, expired, or of a disabled user; which one is never said.
    #[error("未登录或凭证无效")]
    Invalid,
    /// The device was disabled.
    #[error("该设备已被停用,请联系管理员")]
    DeviceDisabled,
    /// The device's user was disabled.
    #[error("该设备的使用人已被停用,请联系管理员")]
    DeviceUserDisabled,
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for TokenError {
    fn from(err: StoreError) -> TokenError {
        match err {
            StoreError::NotFound => TokenError::Invalid,
            other => TokenError::Store(other),
        }
    }
}

/// A session just opened.
#[derive(Debug)]
pub struct NewSession {
    /// `id.secret`, shown once: the bearer token or the session cookie's value.
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Opens a session of `ttl_secs` for `user`, who has just proved who they are; only the secret's
/// hash is stored.
pub async fn open(
    store: &Store,
    user: &User,
    ttl_secs: u64,
    now: i64,
) -> Result<NewSession, StoreError> {
    let expires_at = now + ttl_secs as i64;
    let id = token::session_id();
    let secret = token::secret();
    store
        .create_session(
            &Session {
                id: id.clone(),
                user_id: user.id,
                secret_hash: secret.hash.clone(),
                expires_at,
            },
            now,
        )
        .await?;
    Ok(NewSession {
        token: token::join(&id, &secret),
        expires_at,
    })
}

/// Ends the session whose token is `text`; a malformed one ends nothing.
pub async fn end(store: &Store, text: &str) -> Result<(), StoreError> {
    match token::split(text) {
        Some((id, _)) => store.delete_session(id).await,
        None => Ok(()),
    }
}

/// The enabled user of the live session whose token is `text`. A device token is no session.
pub async fn user_of(store: &Store, text: &str, now: i64) -> Result<User, TokenError> {
    let (id, secret) = token::split(text).ok_or(TokenError::Invalid)?;
    if id.starts_with(DEVICE_TOKEN_PREFIX) {
        return Err(TokenError::Invalid);
    }
    let session = store.session(id).await?;
    if session.expires_at <= now || !token::matches(secret, &session.secret_hash) {
        return Err(TokenError::Invalid);
    }
    let user = store.user(session.user_id).await?;
    if user.disabled_at.is_some() {
        return Err(TokenError::Invalid);
    }
    Ok(user)
}

/// The enabled device whose token is `text`, used by an enabled user.
pub async fn device_of(store: &Store, text: &str) -> Result<Device, TokenError> {
    let (id, secret) = token::split(text).ok_or(TokenError::Invalid)?;
    let device_id = id
        .strip_prefix(DEVICE_TOKEN_PREFIX)
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or(TokenError::Invalid)?;
    let device = store.device(DeviceId(device_id)).await?;
    if !token::matches(secret, &device.token_hash) {
        return Err(TokenError::Invalid);
    }
    if device.disabled_at.is_some() {
        return Err(TokenError::DeviceDisabled);
    }
    // Disabling a user disables their devices in the same step; this check also covers a
    // device whose user was disabled some other way (e.g. by hand in the database).
    let user = store.user(device.user_id).await?;
    if user.disabled_at.is_some() {
        return Err(TokenError::DeviceUserDisabled);
    }
    Ok(device)
}

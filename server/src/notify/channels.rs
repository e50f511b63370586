//! The channels a customer is reached on besides SMS: the app registers its push device token,
//! the WeChat official account binds the customer's openid (both sealed at rest), and either
//! can be unbound. Messages then go by [`crate::notify::route`].

use crate::config::MasterKey;
use crate::pii;
use crate::store::models::{Channel, User};
use crate::store::{Store, StoreError};

/// Longest accepted openid or device token.
const MAX_ADDRESS_CHARS: usize = 256;

/// Why a channel was not bound or unbound.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// Not `wechat` or `push`.
    #[error("通知渠道只能是 wechat 或 push(短信发往注册手机号,无需绑定)")]
    NotBindable,
    /// Empty, too long, or not printable ASCII.
    #[error("地址须为 1 到 256 个可打印的 ASCII 字符")]
    BadAddress,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn bindable(name: &str) -> Result<Channel, ChannelError> {
    match Channel::parse(name) {
        Some(channel @ (Channel::Wechat | Channel::Push)) => Ok(channel),
        _ => Err(ChannelError::NotBindable),
    }
}

/// Binds `user`'s channel `name` (`wechat` or `push`) to `address`, sealed.
pub async fn bind(
    store: &Store,
    master: &MasterKey,
    user: &User,
    name: &str,
    address: &str,
    now: i64,
) -> Result<(), ChannelError> {
    let channel = bindable(name)?;
    let address = address.trim();
    let printable = address.bytes().all(|b| b.is_ascii_graphic());
    if address.is_empty() || address.len() > MAX_ADDRESS_CHARS || !printable {
        return Err(ChannelError::BadAddress);
    }
    let sealed = pii::seal_address(master, channel.as_str(), address);
    store
        .bind_channel(user.id, channel, Some(&sealed), now)
        .await?;
    Ok(())
}

/// Unbinds `user`'s channel `name`: messages go by SMS again (or by the other bound channel).
pub async fn unbind(store: &Store, user: &User, name: &str, now: i64) -> Result<(), ChannelError> {
    let channel = bindable(name)?;
    store.bind_channel(user.id, channel, None, now).await?;
    Ok(())
}

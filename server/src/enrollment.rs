//! Device enrollment: one-time expiring codes made by an admin for a courier or a store clerk,
//! redeemed by a device that sends its public key and receives a token (stored hashed).

use ed25519_dalek::VerifyingKey;
use shuipiao_shared::ids::{DeviceId, ScopeId, UserId};
use shuipiao_shared::sync::{DeviceRole, EnrollRequest, EnrollResponse, NamedScope};

use crate::auth::token;
use crate::keys::{self, KeyError};
use crate::random;
use crate::store::models::{AuditEntry, NewDevice, NewEnrollmentCode, Role, User};
use crate::store::{Store, StoreError};

/// Why enrollment failed.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// The code is unknown, used or expired.
    #[error("enrollment code unknown, used or expired")]
    BadCode,
    /// The request is malformed.
    #[error("{0}")]
    Invalid(&'static str),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Keys are unusable.
    #[error(transparent)]
    Keys(#[from] KeyError),
}

/// A fresh code as shown to the admin once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCode {
    /// 16 characters `A–Z 2–7`.
    pub code: String,
    /// Unix seconds.
    pub expires_at: i64,
}

fn code_hash(code: &str) -> Vec<u8> {
    token::sha256(code.trim().to_ascii_uppercase().as_bytes()).to_vec()
}

/// Makes a one-time code for a courier or a store clerk, valid for `ttl_secs`.
pub async fn create_code(
    store: &Store,
    user_id: UserId,
    ttl_secs: i64,
    actor: Option<UserId>,
    now: i64,
) -> Result<IssuedCode, EnrollError> {
    let user = store.user(user_id).await?;
    if user.disabled_at.is_some() {
        return Err(EnrollError::Invalid("该用户已停用,不能生成设备注册码"));
    }
    match user.spec.role {
        Role::Courier => {}
        Role::StoreStaff if user.spec.outlet_id.is_some() => {}
        _ => {
            return Err(EnrollError::Invalid(
                "只能为配送员或已分配门店的店员生成设备注册码",
            ));
        }
    }
    let code = data_encoding::BASE32_NOPAD.encode(&random::bytes::<10>());
    let expires_at = now + ttl_secs.clamp(60, 7 * 86_400);
    let audit = AuditEntry::new(
        actor,
        "device.enrollment_code",
        format!("user:{user_id}", user_id = user_id.0),
        serde_json::json!({ "expires_at": expires_at }),
    );
    store
        .create_enrollment_code(
            &NewEnrollmentCode {
                code_hash: code_hash(&code),
                user_id,
                expires_at,
                created_by: actor,
            },
            now,
            &audit,
        )
        .await?;
    Ok(IssuedCode { code, expires_at })
}

/// Why a device was not disabled; the message is shown as is.
#[derive(Debug, thiserror::Error)]
pub enum DisableError {
    /// No such device, or it is disabled already.
    #[error("设备不存在或已停用")]
    Unknown,
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
}

/// `actor` disables device `id`: its token stops working at once. `via` names the surface in
/// the audit entry. A device already disabled is refused, so each disabling is audited once.
pub async fn disable_device(
    store: &Store,
    id: DeviceId,
    actor: UserId,
    via: &'static str,
    now: i64,
) -> Result<(), DisableError> {
    let audit = AuditEntry::new(
        Some(actor),
        "device.disable",
        format!("device:{}", id.0),
        serde_json::json!({ "via": via }),
    );
    store
        .disable_device(id, now, &audit)
        .await
        .map_err(|err| match err {
            StoreError::NotFound => DisableError::Unknown,
            other => DisableError::Store(other),
        })
}

/// Scopes a user's devices serve: anywhere, plus every scope naming their region or store.
/// Told to a device at enrollment, and what the server checks its redemptions against on push.
pub(crate) async fn scopes_served(
    store: &Store,
    user: &User,
) -> Result<Vec<NamedScope>, StoreError> {
    let outlets = store.outlets().await?;
    let outlet = user
        .spec
        .outlet_id
        .and_then(|id| outlets.iter().find(|o| o.id == id));
    let region = user.spec.region_id.or(outlet.map(|o| o.region_id));
    let mut served = vec![NamedScope {
        scope: ScopeId::ANYWHERE,
        name: "全部区域".into(),
    }];
    for scope in store.scopes().await? {
        let by_region = region.is_some_and(|r| scope.region_ids.contains(&r));
        let by_outlet = outlet.is_some_and(|o| scope.outlet_ids.contains(&o.id));
        if by_region || by_outlet {
            served.push(NamedScope {
                scope: scope.id,
                name: scope.name,
            });
        }
    }
    Ok(served)
}

/// Redeems a code: stores the device with a hashed token and tells it what to pin and serve.
pub async fn enroll(
    store: &Store,
    request: &EnrollRequest,
    now: i64,
) -> Result<EnrollResponse, EnrollError> {
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(EnrollError::Invalid("设备名称必须为 1–64 个字符"));
    }
    // A small-order point would let anyone "sign" events that verify under it (the same rule
    // as for holder keys, `rotating_qr::holder_key`).
    match VerifyingKey::from_bytes(&request.device_pubkey) {
        Ok(key) if !key.is_weak() => {}
        Ok(_) => {
            return Err(EnrollError::Invalid(
                "设备公钥无效(弱密钥),请在设备上重新生成密钥后再注册",
            ));
        }
        Err(_) => return Err(EnrollError::Invalid("设备公钥无效")),
    }
    let secret = token::secret();
    let device = store
        .enroll_device(
            &code_hash(&request.code),
            &NewDevice {
                name: name.to_string(),
                public_key: request.device_pubkey,
                token_hash: secret.hash.clone(),
            },
            now,
        )
        .await
        .map_err(|err| match err {
            StoreError::NotFound => EnrollError::BadCode,
            other => other.into(),
        })?;
    let user = store.user(device.user_id).await?;
    let store_name = match user.spec.outlet_id {
        Some(id) => store
            .outlets()
            .await?
            .into_iter()
            .find(|o| o.id == id)
            .map(|o| o.name),
        None => None,
    };
    Ok(EnrollResponse {
        device_id: device.id,
        device_token: token::join(&token::device_token_id(device.id), &secret),
        root_public_key: keys::root_public_key(store).await?,
        role: if user.spec.role == Role::Courier {
            DeviceRole::Courier
        } else {
            DeviceRole::Store
        },
        user_id: user.id,
        staff_code: crate::signup::referral_code(user.id),
        scopes: scopes_served(store, &user).await?,
        display_name: user.spec.username,
        store_name,
        server_time: now.max(0) as u64,
    })
}

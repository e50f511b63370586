//! Customers signing themselves up and in with a phone number: one-time SMS codes (rate limited,
//! few guesses), registration with a referral or staff code (线下协助 attribution), and the
//! welcome gifts (registration bonus; referral bonus for both sides, once per new customer, not
//! from a browser that already signed someone up).

use shuipiao_shared::ids::{ProductCode, UserId};

use crate::auth::{password, token};
use crate::config::{MasterKey, PromotionConfig};
use crate::issuance::{self, Gift, IssueError};
use crate::notify;
use crate::pii::{BadPhone, Phone};
use crate::store::models::{AuditEntry, Channel, NewCustomer, NewNotification, Role, User};
use crate::store::{Store, StoreError};

/// How long a code works.
pub const CODE_TTL_SECS: i64 = 10 * 60;
/// Codes per phone per minute.
const CODES_PER_MINUTE: i64 = 1;
/// Codes per phone per hour.
const CODES_PER_HOUR: i64 = 5;
/// Shortest password a customer may choose.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Why a sign-up step failed; the message is shown to the customer as is.
#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    /// Not a mobile number.
    #[error(transparent)]
    Phone(#[from] BadPhone),
    /// Codes asked too often.
    #[error("验证码发送太频繁,请稍后再试")]
    TooManyCodes,
    /// Wrong, expired or used code.
    #[error("验证码错误或已过期")]
    WrongCode,
    /// The phone has an account.
    #[error("该手机号已注册,请直接登录")]
    AlreadyRegistered,
    /// No account for the phone.
    #[error("该手机号尚未注册")]
    NotRegistered,
    /// The referral code names nobody who may refer.
    #[error("推荐码无效")]
    UnknownReferral,
    /// Password too short.
    #[error("密码至少需要 8 位")]
    WeakPassword,
    /// Only an enterprise admin invites members.
    #[error("只有企业管理员可以邀请成员")]
    NotEnterpriseAdmin,
    /// A member needs a name.
    #[error("请填写成员姓名")]
    NameMissing,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The code on a staff member's or customer's QR and posters: `SP` and the user id.
pub fn referral_code(user: UserId) -> String {
    format!("SP{:06}", user.0)
}

/// Parses [`referral_code`] (case and spaces forgiven).
pub fn parse_referral_code(text: &str) -> Option<UserId> {
    let text = text.trim().to_ascii_uppercase();
    let digits = text.strip_prefix("SP")?;
    (!digits.is_empty() && digits.len() <= 12 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok().map(UserId))
        .flatten()
}

fn code_hash(master: &MasterKey, phone: &Phone, code: &str) -> Vec<u8> {
    master
        .mac(
            b"shuipiao phone code v1",
            format!("{}:{code}", phone.digits()).as_bytes(),
        )
        .to_vec()
}

/// Sends a six-digit code to `phone` by SMS (through the outbox), within the rate limits.
pub async fn send_code<S: Store>(
    store: &S,
    master: &MasterKey,
    phone: &Phone,
    now: i64,
) -> Result<(), SignupError> {
    let index = phone.index(master);
    if store.phone_codes_since(&index, now - 60).await? >= CODES_PER_MINUTE
        || store.phone_codes_since(&index, now - 3_600).await? >= CODES_PER_HOUR
    {
        return Err(SignupError::TooManyCodes);
    }
    let number = u32::from_be_bytes(crate::random::bytes::<4>()) % 1_000_000;
    let code = format!("{number:06}");
    store
        .create_phone_code(
            &index,
            &code_hash(master, phone, &code),
            now + CODE_TTL_SECS,
            now,
        )
        .await?;
    let message = NewNotification {
        user_id: None,
        channel: Channel::Sms,
        recipient_sealed: phone.seal(master),
        kind: "code",
        body: notify::code_text(&code, CODE_TTL_SECS / 60),
        dedupe_key: None,
    };
    store.enqueue_notifications(&[message], now).await?;
    Ok(())
}

async fn use_code<S: Store>(
    store: &S,
    master: &MasterKey,
    phone: &Phone,
    code: &str,
    now: i64,
) -> Result<(), SignupError> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignupError::WrongCode);
    }
    let used = store
        .use_phone_code(&phone.index(master), &code_hash(master, phone, code), now)
        .await?;
    if used {
        Ok(())
    } else {
        Err(SignupError::WrongCode)
    }
}

/// Signs in with a code: the phone's user.
pub async fn sign_in_with_code<S: Store>(
    store: &S,
    master: &MasterKey,
    phone: &Phone,
    code: &str,
    now: i64,
) -> Result<User, SignupError> {
    use_code(store, master, phone, code, now).await?;
    match store.user_by_phone(&phone.index(master)).await {
        Ok(user) if user.disabled_at.is_none() => Ok(user),
        Ok(_) | Err(StoreError::NotFound) => Err(SignupError::NotRegistered),
        Err(err) => Err(err.into()),
    }
}

/// A customer row for `phone`; its login name comes from the phone's blind index, so it
/// carries no personal data.
fn new_customer(
    master: &MasterKey,
    phone: &Phone,
    name: String,
    password_hash: String,
    enterprise_id: Option<i64>,
) -> NewCustomer {
    let phone_index = phone.index(master);
    NewCustomer {
        name,
        enterprise_id,
        username: format!("p{}", data_encoding::HEXLOWER.encode(&phone_index[..8])),
        password_hash,
        phone_index,
        phone_sealed: phone.seal(master),
        referrer: None,
        browser_hash: None,
    }
}

async fn hash_password(password: String) -> Result<String, StoreError> {
    password::hash(password)
        .await
        .map_err(|err| StoreError::Other(Box::new(err)))
}

/// An enterprise admin adds a member by phone number: the member account and its user are
/// created, and the member is told by SMS to sign in with a code.
pub async fn invite_member<S: Store>(
    store: &S,
    master: &MasterKey,
    admin: &User,
    phone: &Phone,
    name: &str,
    now: i64,
) -> Result<User, SignupError> {
    let Some(enterprise_id) = admin
        .spec
        .account_id
        .filter(|_| admin.spec.role == Role::EnterpriseAdmin)
    else {
        return Err(SignupError::NotEnterpriseAdmin);
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(SignupError::NameMissing);
    }
    let customer = new_customer(
        master,
        phone,
        name.chars().take(40).collect(),
        hash_password(token::secret().text).await?,
        Some(enterprise_id),
    );
    let audit = AuditEntry::new(
        Some(admin.id),
        "enterprise.invite",
        format!("account:{enterprise_id}"),
        serde_json::json!({ "phone": phone.masked() }),
    );
    let user = match store.register_customer(&customer, now, &audit).await {
        Err(StoreError::Conflict(_)) => return Err(SignupError::AlreadyRegistered),
        other => other?,
    };
    let enterprise = store.account(enterprise_id).await?.spec.name;
    let message = NewNotification {
        user_id: Some(user.id),
        channel: Channel::Sms,
        recipient_sealed: customer.phone_sealed,
        kind: "issued",
        body: notify::invited_text(&enterprise),
        dedupe_key: Some(format!("invited:{}", user.id.0)),
    };
    store.enqueue_notifications(&[message], now).await?;
    Ok(user)
}

/// What a customer typed to register.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Phone number.
    pub phone: Phone,
    /// The SMS code.
    pub code: String,
    /// How to address them; defaults to 手机用户 and the last four digits.
    pub name: String,
    /// Optional password for password sign-in.
    pub password: String,
    /// Optional referral or staff code.
    pub referral: String,
    /// The browser's id cookie, if any.
    pub browser_id: Option<String>,
}

/// Who referred the new customer, if the code names a customer or a courier / clerk.
async fn referrer<S: Store>(store: &S, text: &str) -> Result<Option<User>, SignupError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let id = parse_referral_code(text).ok_or(SignupError::UnknownReferral)?;
    match store.user(id).await {
        Ok(user)
            if user.disabled_at.is_none()
                && matches!(
                    user.spec.role,
                    Role::Customer | Role::Courier | Role::StoreStaff
                ) =>
        {
            Ok(Some(user))
        }
        Ok(_) | Err(StoreError::NotFound) => Err(SignupError::UnknownReferral),
        Err(err) => Err(err.into()),
    }
}

/// Registers a customer and hands out the welcome gifts. A gift that cannot be issued is
/// logged and does not undo the registration.
pub async fn register<S: Store>(
    store: &S,
    master: &MasterKey,
    promotions: &PromotionConfig,
    form: &Registration,
    now: i64,
) -> Result<User, SignupError> {
    let password = form.password.trim();
    if !password.is_empty() && password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(SignupError::WeakPassword);
    }
    let referrer = referrer(store, &form.referral).await?;
    let index = form.phone.index(master);
    match store.user_by_phone(&index).await {
        Ok(_) => return Err(SignupError::AlreadyRegistered),
        Err(StoreError::NotFound) => {}
        Err(err) => return Err(err.into()),
    }
    use_code(store, master, &form.phone, &form.code, now).await?;
    // Without a password the customer signs in by SMS code only.
    let password_hash = match password {
        "" => hash_password(token::secret().text).await?,
        chosen => hash_password(chosen.to_string()).await?,
    };
    let browser_hash = form
        .browser_id
        .as_ref()
        .map(|id| master.mac(b"shuipiao browser v1", id.as_bytes()).to_vec());
    let farmed = match &browser_hash {
        Some(hash) => store.signups_from_browser(hash).await? > 0,
        None => false,
    };
    let name = match form.name.trim() {
        "" => format!("手机用户{}", &form.phone.digits()[7..]),
        name => name.chars().take(40).collect(),
    };
    let customer = NewCustomer {
        referrer: referrer.as_ref().map(|r| r.id),
        browser_hash,
        ..new_customer(master, &form.phone, name, password_hash, None)
    };
    let audit = AuditEntry::new(
        None,
        "customer.register",
        format!("phone:{}", form.phone.masked()),
        serde_json::json!({ "referrer": referrer.as_ref().map(|r| r.id.0) }),
    );
    let user = match store.register_customer(&customer, now, &audit).await {
        Err(StoreError::Conflict(_)) => return Err(SignupError::AlreadyRegistered),
        other => other?,
    };
    let gift = |account_id, units, source| Gift {
        account_id,
        product: ProductCode(promotions.gift_product),
        units,
        validity_days: promotions.gift_validity_days,
        source,
    };
    let mut gifts = Vec::new();
    if let Some(account_id) = user.spec.account_id {
        if promotions.registration_units > 0 {
            gifts.push(gift(
                account_id,
                promotions.registration_units,
                "registration",
            ));
        }
        let referring_customer = referrer
            .as_ref()
            .filter(|r| r.spec.role == Role::Customer)
            .and_then(|r| r.spec.account_id);
        if let Some(referrer_account) =
            referring_customer.filter(|_| !farmed && promotions.referral_units > 0)
        {
            gifts.push(gift(account_id, promotions.referral_units, "referral"));
            gifts.push(gift(
                referrer_account,
                promotions.referral_units,
                "referral",
            ));
        }
    }
    for gift in &gifts {
        if let Err(err) = issuance::issue_gift(store, master, gift, None, now).await {
            log_gift_failure(gift, &err);
        }
    }
    Ok(user)
}

fn log_gift_failure(gift: &Gift, err: &IssueError) {
    tracing::error!(account_id = gift.account_id, source = gift.source, error = %err,
        "welcome gift not issued");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referral_codes_round_trip_and_junk_is_refused() {
        assert_eq!(referral_code(UserId(42)), "SP000042");
        assert_eq!(parse_referral_code(" sp000042 "), Some(UserId(42)));
        assert_eq!(parse_referral_code("SP1234567"), Some(UserId(1_234_567)));
        for junk in ["", "SP", "42", "SPX1", "SP-1", "SP99999999999999999999"] {
            assert_eq!(parse_referral_code(junk), None, "{junk}");
        }
    }
}

//! Customers signing themselves up and in with a phone number: one-time SMS codes (rate limited,
//! few guesses), registration with a referral or staff code (线下协助 attribution), and the
//! welcome gifts (registration bonus; referral bonus for both sides, once per new customer, not
//! from a browser that already signed someone up), stored in the registration's transaction.

use shuipiao_shared::ids::{ProductCode, UserId};

use crate::accounts::{self, AccountError};
use crate::auth::password::{self, WeakPassword};
use crate::auth::token;
use crate::config::{MasterKey, PromotionConfig};
use crate::issuance::{self, IssueError, PlannedGift};
use crate::notify;
use crate::pii::{BadPhone, Phone};
use crate::store::models::{
    AuditEntry, CodeLimit, MessageKind, NewCustomer, NewPhoneCode, Role, User, Welcome,
};
use crate::store::{Store, StoreError};

/// How long a code works.
pub const CODE_TTL_SECS: i64 = 10 * 60;
/// Codes per phone: one a minute, five an hour.
pub const CODE_LIMITS: [CodeLimit; 2] = [
    CodeLimit {
        window_secs: 60,
        count: 1,
    },
    CodeLimit {
        window_secs: 3_600,
        count: 5,
    },
];

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
    /// The name, or the login name made from the phone, breaks the rule of every account and
    /// user (`accounts`).
    #[error(transparent)]
    Name(AccountError),
    /// The chosen password breaks the rule of `auth::password`.
    #[error(transparent)]
    WeakPassword(#[from] WeakPassword),
    /// The welcome gifts cannot be issued (no gift product, no usable key), so nobody is
    /// registered without them.
    #[error("暂时无法注册,请稍后再试")]
    GiftUnavailable,
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

/// The per-phone limits on codes sent at `now`, as (since, at most this many since then).
pub(crate) fn code_limits(now: i64) -> Vec<(i64, i64)> {
    CODE_LIMITS
        .iter()
        .map(|limit| (now - limit.window_secs, limit.count))
        .collect()
}

/// A fresh six-digit code.
pub(crate) fn new_code() -> String {
    let number = u32::from_be_bytes(crate::random::bytes::<4>()) % 1_000_000;
    format!("{number:06}")
}

/// Whether `code` looks like one of [`new_code`]'s, before anything is looked up.
pub(crate) fn well_formed_code(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

/// The keyed hash a code is stored as: bound to the phone it was sent to.
pub(crate) fn code_hash(master: &MasterKey, phone: &Phone, code: &str) -> Vec<u8> {
    master
        .mac(
            b"shuipiao phone code v1",
            format!("{}:{code}", phone.digits()).as_bytes(),
        )
        .to_vec()
}

/// Sends a six-digit code to `phone` by SMS (through the outbox), within the per-phone limits,
/// which hold however many requests arrive at once.
pub async fn send_code(
    store: &Store,
    master: &MasterKey,
    phone: &Phone,
    now: i64,
) -> Result<(), SignupError> {
    let code = new_code();
    let expires_at = now + CODE_TTL_SECS;
    let new_code = NewPhoneCode {
        phone_index: phone.index(master),
        code_hash: code_hash(master, phone, &code),
        expires_at,
        message: notify::code_message(master, phone.seal(master), &code, expires_at, now),
    };
    if store
        .create_phone_code(&new_code, &CODE_LIMITS, now)
        .await?
    {
        Ok(())
    } else {
        Err(SignupError::TooManyCodes)
    }
}

/// Uses the newest live code sent to `phone`: `WrongCode` unless `code` is it (a miss counts
/// against the code's few guesses).
pub(crate) async fn use_code(
    store: &Store,
    master: &MasterKey,
    phone: &Phone,
    code: &str,
    now: i64,
) -> Result<(), SignupError> {
    let code = code.trim();
    if !well_formed_code(code) {
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
pub async fn sign_in_with_code(
    store: &Store,
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

/// The login name of the customer with `phone`: from the phone's blind index, so it carries no
/// personal data; held to the login-name rule of every user all the same.
fn customer_username(master: &MasterKey, phone: &Phone) -> Result<String, AccountError> {
    let made = format!(
        "p{}",
        data_encoding::HEXLOWER.encode(&phone.index(master)[..8])
    );
    Ok(accounts::username(&made)?.to_string())
}

/// A customer row for `phone`, in no enterprise (joining one takes the customer's consent); its
/// login name comes from the phone's blind index, so it carries no personal data. The name and
/// the login name follow the rules of every account and user (`accounts`).
pub(crate) fn new_customer(
    master: &MasterKey,
    phone: &Phone,
    name: &str,
    password_hash: String,
) -> Result<NewCustomer, AccountError> {
    let phone_index = phone.index(master);
    Ok(NewCustomer {
        name: accounts::account_name(name)?.to_string(),
        enterprise_id: None,
        username: customer_username(master, phone)?,
        password_hash,
        phone_index,
        phone_sealed: phone.seal(master),
        referrer: None,
        browser_hash: None,
    })
}

/// Argon2 hash of a password (a random one for customers who sign in by SMS code only).
pub(crate) async fn hash_password(password: String) -> Result<String, StoreError> {
    password::hash(password)
        .await
        .map_err(|err| StoreError::Other(Box::new(err)))
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
async fn referrer(store: &Store, text: &str) -> Result<Option<User>, SignupError> {
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

/// The welcome gifts of a registration, planned before it: the registration bonus and, when a
/// customer referred them (not from a browser that already signed someone up), the referral
/// bonus for both sides. Each is paired with the referrer's account, or `None` for the new one.
async fn plan_welcome(
    store: &Store,
    master: &MasterKey,
    promotions: &PromotionConfig,
    referrer_account: Option<i64>,
    now: i64,
) -> Result<Vec<(Option<i64>, PlannedGift)>, IssueError> {
    let mut holders = Vec::new();
    if promotions.registration_units > 0 {
        holders.push((None, promotions.registration_units, "registration"));
    }
    if let Some(referrer) = referrer_account.filter(|_| promotions.referral_units > 0) {
        holders.push((None, promotions.referral_units, "referral"));
        holders.push((Some(referrer), promotions.referral_units, "referral"));
    }
    let mut planned = Vec::new();
    for (holder, units, source) in holders {
        let gift = issuance::plan_gift(
            store,
            master,
            ProductCode(promotions.gift_product),
            units,
            promotions.gift_validity_days,
            source,
            now,
        )
        .await?;
        planned.push((holder, gift));
    }
    Ok(planned)
}

/// Registers a customer with the welcome gifts in one transaction: either the customer exists
/// with every gift (and the messages about them), or nothing was stored.
pub async fn register(
    store: &Store,
    master: &MasterKey,
    promotions: &PromotionConfig,
    form: &Registration,
    now: i64,
) -> Result<User, SignupError> {
    let password = form.password.trim();
    let username = customer_username(master, &form.phone).map_err(SignupError::Name)?;
    // Checked before the code is used, so a refused name or password does not waste it.
    let name = match form.name.trim() {
        "" => format!("手机用户{}", &form.phone.digits()[7..]),
        typed => accounts::account_name(typed)
            .map_err(SignupError::Name)?
            .to_string(),
    };
    if !password.is_empty() {
        password::check(&username, password)?;
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
        chosen => password::choose(&username, chosen)
            .await
            .map_err(|err| StoreError::Other(Box::new(err)))?,
    };
    let browser_hash = form
        .browser_id
        .as_ref()
        .map(|id| master.mac(b"shuipiao browser v1", id.as_bytes()).to_vec());
    let farmed = match &browser_hash {
        Some(hash) => store.signups_from_browser(hash).await? > 0,
        None => false,
    };
    let customer = NewCustomer {
        referrer: referrer.as_ref().map(|r| r.id),
        browser_hash,
        ..new_customer(master, &form.phone, &name, password_hash).map_err(SignupError::Name)?
    };
    let audit = AuditEntry::new(
        None,
        "customer.register",
        format!("phone:{}", form.phone.masked()),
        serde_json::json!({ "referrer": referrer.as_ref().map(|r| r.id.0) }),
    );
    let referrer_account = referrer
        .as_ref()
        .filter(|r| r.spec.role == Role::Customer && !farmed)
        .and_then(|r| r.spec.account_id);
    let gifts = plan_welcome(store, master, promotions, referrer_account, now)
        .await
        .map_err(gift_failure)?;
    let mut referrer_messages = Vec::new();
    for (holder, gift) in &gifts {
        if let Some(account_id) = holder {
            let dedupe = gift.dedupe_key();
            let body = gift.message();
            referrer_messages.extend(
                notify::for_account(
                    store,
                    *account_id,
                    MessageKind::Issued,
                    &body,
                    Some(&dedupe),
                )
                .await?,
            );
        }
    }
    let phone_sealed = customer.phone_sealed.clone();
    let welcome = move |account_id: i64, user_id: UserId| {
        let mut welcome = Welcome {
            messages: referrer_messages,
            ..Welcome::default()
        };
        for (holder, gift) in &gifts {
            let (book, audit) = gift.sign(master, holder.unwrap_or(account_id), None);
            welcome.books.push(book);
            welcome.audits.push(audit);
            if holder.is_none() {
                welcome.messages.push(notify::by_sms(
                    Some(user_id),
                    phone_sealed.clone(),
                    MessageKind::Issued,
                    gift.message(),
                    Some(format!("{}:{}", gift.dedupe_key(), user_id.0)),
                ));
            }
        }
        welcome
    };
    match store
        .register_customer_with(&customer, now, &audit, welcome)
        .await
    {
        Err(StoreError::Conflict(_)) => Err(SignupError::AlreadyRegistered),
        other => Ok(other?),
    }
}

fn gift_failure(err: IssueError) -> SignupError {
    tracing::error!(error = %err, "welcome gifts cannot be issued; registration refused");
    SignupError::GiftUnavailable
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

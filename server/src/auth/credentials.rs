//! Changing and resetting passwords. A user changes their own with the current one (wallet
//! page, console page, `POST /api/v1/me/password`); an admin resets a staff member's (users
//! page, `shuipiao-server reset-password`); a customer who forgot theirs resets it with an SMS
//! code (`/login/reset`), under the phone-code rules of `signup`. Every way applies
//! [`password::choose`]'s rule. A change ends the user's other sessions and API tokens and
//! keeps the one it was made in; a reset ends them all, since whoever held them may be the
//! reason for it. Each writes its audit entry in the same transaction as the new hash.

use std::net::IpAddr;

use crate::auth::limits::{Limited, SignInLimits};
use crate::auth::password::{self, ChooseError, HashError, WeakPassword};
use crate::auth::sign_in::{self, PasswordError};
use crate::config::MasterKey;
use crate::pii::Phone;
use crate::signup::{self, SignupError};
use crate::store::models::{AuditEntry, Role, User};
use crate::store::{Store, StoreError};

/// Why a password was not changed; the message is shown as is.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The current password given with a change is wrong.
    #[error("当前密码不正确")]
    WrongCurrent,
    /// The new password breaks the rule.
    #[error(transparent)]
    Weak(#[from] WeakPassword),
    /// Customers reset their password themselves, by SMS code.
    #[error("客户请用手机验证码找回密码,这里只能重置员工的密码")]
    NotStaff,
    /// The SMS code or phone was refused.
    #[error(transparent)]
    Code(SignupError),
    /// Too many wrong current passwords.
    #[error("尝试过于频繁,请稍后再试")]
    Limited(Limited),
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ChooseError> for CredentialError {
    fn from(err: ChooseError) -> CredentialError {
        match err {
            ChooseError::Weak(weak) => CredentialError::Weak(weak),
            ChooseError::Hash(err) => CredentialError::Hash(err),
        }
    }
}

impl From<SignupError> for CredentialError {
    fn from(err: SignupError) -> CredentialError {
        match err {
            SignupError::Store(err) => CredentialError::Store(err),
            other => CredentialError::Code(other),
        }
    }
}

fn target(user: &User) -> String {
    format!("user:{}", user.spec.username)
}

/// A password change as typed: the current password, and the new one.
#[derive(Debug, Clone)]
pub struct Change {
    /// The password now.
    pub current: String,
    /// The password wanted.
    pub new: String,
}

/// `user` changes their own password, proving the current one (under the sign-in locks). Their
/// other sessions end; `keep_session` (the id of the session making the change) stays.
pub async fn change_own(
    store: &Store,
    limits: &dyn SignInLimits,
    client: IpAddr,
    user: &User,
    keep_session: Option<&str>,
    change: Change,
    now: i64,
) -> Result<(), CredentialError> {
    let Change { current, new } = change;
    sign_in::check_current_password(store, limits, client, user, current, now)
        .await
        .map_err(|err| match err {
            PasswordError::Wrong => CredentialError::WrongCurrent,
            PasswordError::Limited(limited) => CredentialError::Limited(limited),
            PasswordError::Store(err) => CredentialError::Store(err),
        })?;
    let hash = password::choose(&user.spec.username, &new).await?;
    let audit = AuditEntry::new(
        Some(user.id),
        "user.password_change",
        target(user),
        serde_json::json!({}),
    );
    store
        .set_password(user.id, &hash, keep_session, now, &audit)
        .await?;
    Ok(())
}

/// An admin (`None`: the command line) gives a staff member a new password; all the staff
/// member's sessions end. Customers are refused: they reset theirs by SMS code, so nobody at
/// the plant ever knows a customer's password.
pub async fn reset_staff(
    store: &Store,
    actor: Option<&User>,
    staff: &User,
    new: &str,
    now: i64,
) -> Result<(), CredentialError> {
    if matches!(staff.spec.role, Role::Customer | Role::EnterpriseAdmin) {
        return Err(CredentialError::NotStaff);
    }
    let hash = password::choose(&staff.spec.username, new).await?;
    let via = if actor.is_some() { "admin" } else { "cli" };
    let audit = AuditEntry::new(
        actor.map(|actor| actor.id),
        "user.password_reset",
        target(staff),
        serde_json::json!({ "via": via }),
    );
    store
        .set_password(staff.id, &hash, None, now, &audit)
        .await?;
    Ok(())
}

/// A customer who forgot their password sets a new one with an SMS code sent to their phone
/// (`signup::send_code`); all their sessions end and the customer is returned, to sign in.
/// The rule is checked before the code is used, so a refused password does not waste it; an
/// unknown phone is told so only after a right code, as with signing in by code.
pub async fn reset_with_code(
    store: &Store,
    master: &MasterKey,
    phone: &Phone,
    code: &str,
    new: &str,
    now: i64,
) -> Result<User, CredentialError> {
    let user = match store.user_by_phone(&phone.index(master)).await {
        Ok(user) => Some(user),
        Err(StoreError::NotFound) => None,
        Err(err) => return Err(err.into()),
    };
    let username = user.as_ref().map_or("", |user| user.spec.username.as_str());
    password::check(username, new)?;
    signup::use_code(store, master, phone, code, now).await?;
    let Some(user) = user.filter(|user| {
        user.disabled_at.is_none()
            && matches!(user.spec.role, Role::Customer | Role::EnterpriseAdmin)
    }) else {
        return Err(CredentialError::Code(SignupError::NotRegistered));
    };
    let hash = password::choose(&user.spec.username, new).await?;
    let audit = AuditEntry::new(
        Some(user.id),
        "user.password_reset",
        target(&user),
        serde_json::json!({ "via": "sms", "phone": phone.masked() }),
    );
    store
        .set_password(user.id, &hash, None, now, &audit)
        .await?;
    Ok(user)
}

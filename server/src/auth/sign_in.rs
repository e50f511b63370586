//! Signing in with a password, and the locks that keep guessing slow.
//!
//! Every attempt counts against three limits ([`SignInLimits`], kept by the transport): sign-ins per client, wrong
//! passwords per account *and client*, and a much higher ceiling of wrong passwords per account
//! from all clients together. The lock is keyed on the client as well as the account so that
//! whoever knows a staff login cannot keep its owner out: their guesses lock only their own
//! address, and the owner signs in from another. The ceiling still bounds guessing from many
//! addresses. The client is the address `ClientIp` resolved, which believes `X-Forwarded-For`
//! only from a configured trusted proxy. Each lock of a known account is written to the audit
//! log (and the log), which is where admins see that someone is guessing.

use std::net::IpAddr;

use crate::auth::limits::{Limited, SignInLimits};
use crate::auth::password;
use crate::config::MasterKey;
use crate::pii::Phone;
use crate::store::models::{AuditEntry, User};
use crate::store::{Store, StoreError};

/// Why a password was refused.
#[derive(Debug)]
pub enum PasswordError {
    /// Too many sign-ins from this client, or too many wrong passwords for this account.
    Limited(Limited),
    /// Unknown login, wrong password or disabled user; which one is never said.
    Wrong,
    /// Storage failed.
    Store(StoreError),
}

/// The key of an account's wrong-password counts: the user a login names, else the login as
/// typed, so an unknown name locks like a real one and a lock tells nobody which accounts exist.
fn account_key(login: &str, user: Option<&User>) -> String {
    match user {
        Some(user) => format!("user:{}", user.id.0),
        None => format!("login:{}", login.trim().to_lowercase()),
    }
}

/// Checks a login (user name or phone number) and its password, within the client's sign-in
/// limit and the wrong-password locks; a right password clears this client's count.
pub async fn check_password(
    store: &Store,
    master: &MasterKey,
    limits: &dyn SignInLimits,
    client: IpAddr,
    login: &str,
    password: String,
    now: i64,
) -> Result<User, PasswordError> {
    limits
        .sign_ins()
        .take(client)
        .map_err(PasswordError::Limited)?;
    let found = match Phone::parse(login) {
        Ok(phone) => store.user_by_phone(&phone.index(master)).await,
        Err(_) => store.user_by_name(login.trim()).await,
    };
    let user = match found {
        Ok(user) => Some(user),
        Err(StoreError::NotFound) => None,
        Err(err) => return Err(PasswordError::Store(err)),
    };
    let key = account_key(login, user.as_ref());
    if attempt(store, limits, client, key, user.as_ref(), password, now).await? {
        user.ok_or(PasswordError::Wrong)
    } else {
        Err(PasswordError::Wrong)
    }
}

/// Checks the signed-in `user`'s current password before they change it, under the same locks
/// as signing in, so a stolen session cannot be used to guess the password.
pub async fn check_current_password(
    store: &Store,
    limits: &dyn SignInLimits,
    client: IpAddr,
    user: &User,
    password: String,
    now: i64,
) -> Result<(), PasswordError> {
    let key = account_key(&user.spec.username, Some(user));
    if attempt(store, limits, client, key, Some(user), password, now).await? {
        Ok(())
    } else {
        Err(PasswordError::Wrong)
    }
}

/// One counted password attempt for `account` from `client`: whether the password is right
/// and the user may sign in. Counted before the check, so parallel guesses cannot slip past.
async fn attempt(
    store: &Store,
    limits: &dyn SignInLimits,
    client: IpAddr,
    account: String,
    user: Option<&User>,
    password: String,
    now: i64,
) -> Result<bool, PasswordError> {
    let pair = (account, client);
    let per_client = limits.wrong_passwords();
    let per_account = limits.wrong_passwords_per_account();
    per_client
        .take(pair.clone())
        .map_err(PasswordError::Limited)?;
    if let Err(limited) = per_account.take(pair.0.clone()) {
        per_client.give_back(&pair);
        return Err(PasswordError::Limited(limited));
    }
    let hash = user.map(|user| user.spec.password_hash.clone());
    let right = password::verify(password, hash).await;
    if user.is_none_or(|user| !right || user.disabled_at.is_some()) {
        if let Some(user) = user {
            let scope = if per_account.exhausted(&pair.0) {
                Some("account")
            } else if per_client.exhausted(&pair) {
                Some("client")
            } else {
                None
            };
            if let Some(scope) = scope {
                audit_lock(store, user, client, scope, now).await;
            }
        }
        return Ok(false);
    }
    per_client.clear(&pair);
    // A right password is no guess: it does not count towards the account's ceiling.
    per_account.give_back(&pair.0);
    Ok(true)
}

/// Records that wrong passwords just locked `user` for `client` (scope `client`) or for everyone
/// (scope `account`). A failed write is logged: it must not change the answer the guesser sees.
async fn audit_lock(store: &Store, user: &User, client: IpAddr, scope: &str, now: i64) {
    tracing::warn!(
        user = %user.spec.username,
        client = %client,
        scope,
        "wrong passwords locked a sign-in"
    );
    let entry = AuditEntry::new(
        None,
        "auth.lockout",
        format!("user:{}", user.spec.username),
        serde_json::json!({ "client": client.to_string(), "scope": scope }),
    );
    if let Err(err) = store.record_audit(&entry, now).await {
        tracing::error!(error = %err, "the lock could not be written to the audit log");
    }
}

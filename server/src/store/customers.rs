//! Customers who sign up themselves: one-time phone codes (limited per phone and in attempts,
//! both atomic under concurrent requests), registration with its referral record, and lookups
//! by the phone's blind index.

use sqlx::AnyConnection;
use subtle::ConstantTimeEq;

use crate::store::models::{
    AccountKind, AuditEntry, CodeLimit, NewCustomer, NewPhoneCode, Role, User,
};
use crate::store::{ConflictKind, StoreError, StoreResult, tx, users};
use shuipiao_shared::ids::UserId;

/// Wrong guesses allowed on one code before it stops working.
pub const MAX_CODE_ATTEMPTS: i64 = 5;

/// Stores a fresh code for a phone unless its codes reach one of `limits` (`false`: nothing
/// stored). The phone's key lock makes counting and inserting one step on PostgreSQL, where
/// two requests would otherwise both count the same codes and both insert.
pub(super) async fn insert_code(
    conn: &mut AnyConnection,
    code: &NewPhoneCode,
    limits: &[CodeLimit],
    now: i64,
) -> StoreResult<bool> {
    tx::lock_key(conn, "phone-codes", &code.phone_index, now).await?;
    for limit in limits {
        if codes_since(conn, &code.phone_index, now - limit.window_secs).await? >= limit.count {
            return Ok(false);
        }
    }
    sqlx::query(
        "INSERT INTO phone_codes (phone_index, code_hash, expires_at, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(code.phone_index.clone())
    .bind(code.code_hash.clone())
    .bind(code.expires_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(true)
}

/// Codes sent to a phone since `since` (for rate limits).
async fn codes_since(conn: &mut AnyConnection, phone_index: &[u8], since: i64) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM phone_codes WHERE phone_index = $1 AND created_at >= $2",
    )
    .bind(phone_index.to_vec())
    .bind(since)
    .fetch_one(conn)
    .await?)
}

/// Checks a code against the phone's newest live code: a match uses it up, a miss counts
/// against it. `Ok(false)` for a wrong, expired, used or exhausted code.
///
/// The guess first takes one of the code's attempts in a single conditional `UPDATE`, and only
/// a guess that got one is compared; on PostgreSQL a concurrent guess waits for the row and
/// re-checks the condition, so no more than [`MAX_CODE_ATTEMPTS`] guesses are ever compared.
pub(super) async fn use_code(
    conn: &mut AnyConnection,
    phone_index: &[u8],
    code_hash: &[u8],
    now: i64,
) -> StoreResult<bool> {
    let claimed: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "UPDATE phone_codes SET attempts = attempts + 1 \
         WHERE id = (SELECT id FROM phone_codes \
                     WHERE phone_index = $1 AND used_at IS NULL AND expires_at > $2 \
                     ORDER BY id DESC LIMIT 1) \
         AND used_at IS NULL AND attempts < $3 \
         RETURNING id, code_hash",
    )
    .bind(phone_index.to_vec())
    .bind(now)
    .bind(MAX_CODE_ATTEMPTS)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id, stored)) = claimed else {
        return Ok(false);
    };
    if !bool::from(stored.ct_eq(code_hash)) {
        return Ok(false);
    }
    let used = sqlx::query("UPDATE phone_codes SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(used == 1)
}

/// Creates the account, the user and the sign-up record in the caller's transaction; returns
/// the user as stored and the account's id.
pub(super) async fn register(
    conn: &mut AnyConnection,
    customer: &NewCustomer,
    now: i64,
    audit: &AuditEntry,
) -> StoreResult<(User, i64)> {
    let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE phone_index = $1")
        .bind(customer.phone_index.clone())
        .fetch_optional(&mut *conn)
        .await?;
    if taken.is_some() {
        return Err(StoreError::Conflict(ConflictKind::DuplicatePhone));
    }
    let account_id: i64 = sqlx::query_scalar(
        "INSERT INTO accounts (kind, name, enterprise_id, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(AccountKind::Customer.as_str())
    .bind(&customer.name)
    .bind(customer.enterprise_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let user_id: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, password_hash, role, account_id, phone_index, phone_sealed, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(&customer.username)
    .bind(&customer.password_hash)
    .bind(Role::Customer.as_str())
    .bind(account_id)
    .bind(customer.phone_index.clone())
    .bind(customer.phone_sealed.clone())
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO signups (user_id, referrer_id, browser_hash, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(user_id)
    .bind(customer.referrer.map(|r| r.0 as i64))
    .bind(customer.browser_hash.clone())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    tx::insert_audit(conn, audit, now).await?;
    let user = users::user(conn, UserId(user_id as u64)).await?;
    Ok((user, account_id))
}

/// Earlier sign-ups from the same browser.
pub(super) async fn signups_from_browser(
    conn: &mut AnyConnection,
    browser_hash: &[u8],
) -> StoreResult<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM signups WHERE browser_hash = $1")
            .bind(browser_hash.to_vec())
            .fetch_one(conn)
            .await?,
    )
}

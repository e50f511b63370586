//! Customers who sign up themselves: one-time phone codes (limited attempts), registration with
//! its referral record, and lookups by the phone's blind index.

use sqlx::{AnyConnection, Row};
use subtle::ConstantTimeEq;

use crate::store::models::{AccountKind, AuditEntry, NewCustomer, Role};
use crate::store::{ConflictKind, StoreError, StoreResult, sql};
use shuipiao_shared::ids::UserId;

/// Wrong guesses allowed on one code before it stops working.
pub const MAX_CODE_ATTEMPTS: i64 = 5;

/// Stores a fresh code for a phone.
pub(super) async fn insert_code(
    conn: &mut AnyConnection,
    phone_index: &[u8],
    code_hash: &[u8],
    expires_at: i64,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO phone_codes (phone_index, code_hash, expires_at, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(phone_index.to_vec())
    .bind(code_hash.to_vec())
    .bind(expires_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Codes sent to a phone since `since` (for rate limits).
pub(super) async fn codes_since(
    conn: &mut AnyConnection,
    phone_index: &[u8],
    since: i64,
) -> StoreResult<i64> {
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
pub(super) async fn use_code(
    conn: &mut AnyConnection,
    phone_index: &[u8],
    code_hash: &[u8],
    now: i64,
) -> StoreResult<bool> {
    let row = sqlx::query(
        "SELECT id, code_hash, attempts FROM phone_codes \
         WHERE phone_index = $1 AND used_at IS NULL AND expires_at > $2 \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(phone_index.to_vec())
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    let id: i64 = row.try_get("id")?;
    let stored: Vec<u8> = row.try_get("code_hash")?;
    let attempts: i64 = row.try_get("attempts")?;
    if attempts >= MAX_CODE_ATTEMPTS {
        return Ok(false);
    }
    let matches = bool::from(stored.ct_eq(code_hash));
    let update = if matches {
        sqlx::query("UPDATE phone_codes SET used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
    } else {
        sqlx::query("UPDATE phone_codes SET attempts = attempts + 1 WHERE id = $1").bind(id)
    };
    update.execute(conn).await?;
    Ok(matches)
}

/// Creates the account, the user and the sign-up record in the caller's transaction.
pub(super) async fn register(
    conn: &mut AnyConnection,
    customer: &NewCustomer,
    now: i64,
    audit: &AuditEntry,
) -> StoreResult<UserId> {
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
    sql::insert_audit(conn, audit, now).await?;
    Ok(UserId(user_id as u64))
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

//! Accounts, users, sessions and passwords: who holds books and who signs in.

use shuipiao_shared::ids::UserId;
use sqlx::AnyConnection;

use crate::store::models::{Account, AccountKind, NewAccount, NewUser, Role, Session, User};
use crate::store::{ConflictKind, StoreError, StoreResult, rows};

/// Inserts an account; `Conflict` ([`ConflictKind::NotEnterprise`]) if the enterprise it names
/// is not one.
pub(super) async fn insert_account(
    conn: &mut AnyConnection,
    account: &NewAccount,
    now: i64,
) -> StoreResult<Account> {
    if let Some(enterprise_id) = account.enterprise_id {
        let kind: String = sqlx::query_scalar("SELECT kind FROM accounts WHERE id = $1")
            .bind(enterprise_id)
            .fetch_one(&mut *conn)
            .await?;
        if kind != AccountKind::Enterprise.as_str() {
            return Err(StoreError::Conflict(ConflictKind::NotEnterprise));
        }
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO accounts (kind, name, enterprise_id, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(account.kind.as_str())
    .bind(&account.name)
    .bind(account.enterprise_id)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(Account {
        id,
        spec: account.clone(),
    })
}

/// The account with `id`.
pub(super) async fn account(conn: &mut AnyConnection, id: i64) -> StoreResult<Account> {
    let row = sqlx::query("SELECT id, kind, name, enterprise_id FROM accounts WHERE id = $1")
        .bind(id)
        .fetch_one(conn)
        .await?;
    rows::account(&row)
}

/// The member accounts of an enterprise by id.
pub(super) async fn members(
    conn: &mut AnyConnection,
    enterprise_id: i64,
) -> StoreResult<Vec<Account>> {
    let found = sqlx::query(
        "SELECT id, kind, name, enterprise_id FROM accounts WHERE enterprise_id = $1 ORDER BY id",
    )
    .bind(enterprise_id)
    .fetch_all(conn)
    .await?;
    found.iter().map(rows::account).collect()
}

/// Every account by id.
pub(super) async fn accounts(conn: &mut AnyConnection) -> StoreResult<Vec<Account>> {
    let found = sqlx::query("SELECT id, kind, name, enterprise_id FROM accounts ORDER BY id")
        .fetch_all(conn)
        .await?;
    found.iter().map(rows::account).collect()
}

/// Inserts a user.
pub(super) async fn insert_user(
    conn: &mut AnyConnection,
    user: &NewUser,
    now: i64,
) -> StoreResult<User> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, password_hash, role, account_id, region_id, outlet_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(&user.username)
    .bind(&user.password_hash)
    .bind(user.role.as_str())
    .bind(user.account_id)
    .bind(user.region_id)
    .bind(user.outlet_id)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(User {
        id: UserId(id as u64),
        spec: user.clone(),
        disabled_at: None,
        phone_sealed: None,
    })
}

/// The user with `id`.
pub(super) async fn user(conn: &mut AnyConnection, id: UserId) -> StoreResult<User> {
    let row = sqlx::query("SELECT * FROM users WHERE id = $1")
        .bind(id.0 as i64)
        .fetch_one(conn)
        .await?;
    rows::user(&row)
}

/// The user who signs in as `username`.
pub(super) async fn user_by_name(conn: &mut AnyConnection, username: &str) -> StoreResult<User> {
    let row = sqlx::query("SELECT * FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(conn)
        .await?;
    rows::user(&row)
}

/// The user whose phone number has the blind index `phone_index`.
pub(super) async fn user_by_phone(
    conn: &mut AnyConnection,
    phone_index: &[u8],
) -> StoreResult<User> {
    let row = sqlx::query("SELECT * FROM users WHERE phone_index = $1")
        .bind(phone_index.to_vec())
        .fetch_one(conn)
        .await?;
    rows::user(&row)
}

/// Every user by id.
pub(super) async fn users(conn: &mut AnyConnection) -> StoreResult<Vec<User>> {
    let found = sqlx::query("SELECT * FROM users ORDER BY id")
        .fetch_all(conn)
        .await?;
    found.iter().map(rows::user).collect()
}

/// Sets a user's role and whether they are disabled (keeping the first disabling time);
/// disabling deletes their sessions.
pub(super) async fn update_user(
    conn: &mut AnyConnection,
    id: UserId,
    role: Role,
    disabled: bool,
    now: i64,
) -> StoreResult<User> {
    let before = user(conn, id).await?;
    let disabled_at = disabled.then(|| before.disabled_at.unwrap_or(now));
    sqlx::query("UPDATE users SET role = $1, disabled_at = $2 WHERE id = $3")
        .bind(role.as_str())
        .bind(disabled_at)
        .bind(id.0 as i64)
        .execute(&mut *conn)
        .await?;
    if disabled {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id.0 as i64)
            .execute(&mut *conn)
            .await?;
    }
    user(conn, id).await
}

/// Stores a user's new password hash and deletes their sessions but `keep_session`;
/// `NotFound` for an unknown user.
pub(super) async fn set_password(
    conn: &mut AnyConnection,
    user: UserId,
    password_hash: &str,
    keep_session: Option<&str>,
) -> StoreResult<()> {
    let changed = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(password_hash)
        .bind(user.0 as i64)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    // No session id is empty, so "" keeps none.
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
        .bind(user.0 as i64)
        .bind(keep_session.unwrap_or_default())
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts a session.
pub(super) async fn insert_session(
    conn: &mut AnyConnection,
    session: &Session,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, secret_hash, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&session.id)
    .bind(session.user_id.0 as i64)
    .bind(&session.secret_hash)
    .bind(session.expires_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The session with the public id `id`.
pub(super) async fn session(conn: &mut AnyConnection, id: &str) -> StoreResult<Session> {
    let row =
        sqlx::query("SELECT id, user_id, secret_hash, expires_at FROM sessions WHERE id = $1")
            .bind(id)
            .fetch_one(conn)
            .await?;
    rows::session(&row)
}

/// Deletes a session.
pub(super) async fn delete_session(conn: &mut AnyConnection, id: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM sessions WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

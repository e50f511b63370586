//! Enrollment codes and the devices they enroll, and disabling devices.

use shuipiao_shared::ids::{DeviceId, UserId};
use sqlx::AnyConnection;

use crate::store::models::{AuditEntry, Device, NewDevice, NewEnrollmentCode};
use crate::store::tx::insert_audit;
use crate::store::{StoreError, StoreResult, rows};

/// Inserts an enrollment code's hash.
pub(super) async fn insert_code(
    conn: &mut AnyConnection,
    code: &NewEnrollmentCode,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO enrollment_codes (code_hash, user_id, expires_at, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&code.code_hash)
    .bind(code.user_id.0 as i64)
    .bind(code.expires_at)
    .bind(code.created_by.map(|user| user.0 as i64))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts a device for the user of a live code and marks the code used by it; `NotFound` if
/// the code is unknown, used or expired, or its user is disabled.
pub(super) async fn enroll(
    conn: &mut AnyConnection,
    code_hash: &[u8],
    device: &NewDevice,
    now: i64,
) -> StoreResult<Device> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT c.user_id FROM enrollment_codes c JOIN users u ON u.id = c.user_id \
         WHERE c.code_hash = $1 AND c.used_at IS NULL AND c.expires_at > $2 \
         AND u.disabled_at IS NULL",
    )
    .bind(code_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(user_id) = found else {
        return Err(StoreError::NotFound);
    };
    let row = sqlx::query(
        "INSERT INTO devices (name, user_id, public_key, token_hash, enrolled_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING *",
    )
    .bind(&device.name)
    .bind(user_id)
    .bind(device.public_key.to_vec())
    .bind(&device.token_hash)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let enrolled = rows::device(&row)?;
    let used = sqlx::query(
        "UPDATE enrollment_codes SET used_at = $1, device_id = $2 WHERE code_hash = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(enrolled.id.0 as i64)
    .bind(code_hash)
    .execute(conn)
    .await?
    .rows_affected();
    if used != 1 {
        return Err(StoreError::NotFound);
    }
    Ok(enrolled)
}

/// The device with `id`.
pub(super) async fn device(conn: &mut AnyConnection, id: DeviceId) -> StoreResult<Device> {
    let row = sqlx::query("SELECT * FROM devices WHERE id = $1")
        .bind(id.0 as i64)
        .fetch_one(conn)
        .await?;
    rows::device(&row)
}

/// Every device by id.
pub(super) async fn devices(conn: &mut AnyConnection) -> StoreResult<Vec<Device>> {
    let found = sqlx::query("SELECT * FROM devices ORDER BY id")
        .fetch_all(conn)
        .await?;
    found.iter().map(rows::device).collect()
}

/// Disables an enabled device; `NotFound` if there is none.
pub(super) async fn disable(conn: &mut AnyConnection, id: DeviceId, now: i64) -> StoreResult<()> {
    let changed =
        sqlx::query("UPDATE devices SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL")
            .bind(now)
            .bind(id.0 as i64)
            .execute(conn)
            .await?
            .rows_affected();
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Disables every enabled device of `user`, each with a `device.disable` audit entry by
/// `actor`: a disabled courier's phone must stop pushing, not only their sign-in.
pub(super) async fn disable_of_user(
    conn: &mut AnyConnection,
    user: UserId,
    actor: Option<UserId>,
    now: i64,
) -> StoreResult<()> {
    let disabled: Vec<i64> = sqlx::query_scalar(
        "UPDATE devices SET disabled_at = $1 WHERE user_id = $2 AND disabled_at IS NULL \
         RETURNING id",
    )
    .bind(now)
    .bind(user.0 as i64)
    .fetch_all(&mut *conn)
    .await?;
    for device in disabled {
        let audit = AuditEntry::new(
            actor,
            "device.disable",
            format!("device:{device}"),
            serde_json::json!({ "user_disabled": user.0 }),
        );
        insert_audit(conn, &audit, now).await?;
    }
    Ok(())
}

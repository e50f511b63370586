//! The notification outbox (queue, due messages, delivery results) and the cursor of the job
//! that turns counted redemptions into messages.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::store::models::{
    Channel, NewNotification, Notification, NotificationState, UsageChange,
};
use crate::store::{StoreResult, rows};
use shuipiao_shared::ids::{BookId, UserId};

/// Queues messages; one whose dedupe key is already queued is skipped. Returns how many were new.
pub(super) async fn enqueue(
    conn: &mut AnyConnection,
    messages: &[NewNotification],
    now: i64,
) -> StoreResult<u64> {
    let mut added = 0;
    for message in messages {
        added += sqlx::query(
            "INSERT INTO notifications (user_id, channel, recipient_sealed, kind, body, dedupe_key, \
             state, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7) \
             ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(message.user_id.map(|u| u.0 as i64))
        .bind(message.channel.as_str())
        .bind(message.recipient_sealed.clone())
        .bind(message.kind)
        .bind(&message.body)
        .bind(message.dedupe_key.clone())
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(added)
}

fn kind_of(text: &str) -> &'static str {
    crate::notify::KINDS
        .iter()
        .find(|k| **k == text)
        .copied()
        .unwrap_or("other")
}

fn notification(row: &AnyRow) -> StoreResult<Notification> {
    let channel: String = row.try_get("channel")?;
    let state: String = row.try_get("state")?;
    let kind: String = row.try_get("kind")?;
    let user_id: Option<i64> = row.try_get("user_id")?;
    let attempts: i64 = row.try_get("attempts")?;
    Ok(Notification {
        id: row.try_get("id")?,
        spec: NewNotification {
            user_id: user_id.map(|u| UserId(u as u64)),
            channel: Channel::parse(&channel)
                .ok_or_else(|| rows::corrupt("notifications.channel"))?,
            recipient_sealed: row.try_get("recipient_sealed")?,
            kind: kind_of(&kind),
            body: row.try_get("body")?,
            dedupe_key: row.try_get("dedupe_key")?,
        },
        state: NotificationState::parse(&state)
            .ok_or_else(|| rows::corrupt("notifications.state"))?,
        attempts: u32::try_from(attempts).map_err(|_| rows::corrupt("notifications.attempts"))?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
    })
}

const COLUMNS: &str = "id, user_id, channel, recipient_sealed, kind, body, dedupe_key, state, \
    attempts, next_attempt_at, last_error";

/// Pending messages due at `now`, oldest first.
pub(super) async fn due(
    conn: &mut AnyConnection,
    now: i64,
    limit: u32,
) -> StoreResult<Vec<Notification>> {
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM notifications WHERE state = 'pending' AND next_attempt_at <= $1 \
         ORDER BY next_attempt_at, id LIMIT $2"
    )))
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    found.iter().map(notification).collect()
}

/// Messages of a user, newest first.
pub(super) async fn of_user(
    conn: &mut AnyConnection,
    user: UserId,
    limit: u32,
) -> StoreResult<Vec<Notification>> {
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM notifications WHERE user_id = $1 ORDER BY id DESC LIMIT $2"
    )))
    .bind(user.0 as i64)
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    found.iter().map(notification).collect()
}

/// Records one delivery attempt: sent, retried at `retry_at`, or dead when there is none.
pub(super) async fn record_attempt(
    conn: &mut AnyConnection,
    id: i64,
    result: Result<(), &str>,
    retry_at: Option<i64>,
    now: i64,
) -> StoreResult<()> {
    let query = match (result, retry_at) {
        (Ok(()), _) => sqlx::query(
            "UPDATE notifications SET state = 'sent', attempts = attempts + 1, sent_at = $2, \
             last_error = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(now),
        (Err(error), Some(at)) => sqlx::query(
            "UPDATE notifications SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(error.to_string())
        .bind(at),
        (Err(error), None) => sqlx::query(
            "UPDATE notifications SET state = 'dead', attempts = attempts + 1, last_error = $2 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(error.to_string()),
    };
    query.execute(conn).await?;
    Ok(())
}

/// Where the job `name` has read up to (0 before its first run).
pub(super) async fn cursor(conn: &mut AnyConnection, name: &str) -> StoreResult<i64> {
    let position: Option<i64> =
        sqlx::query_scalar("SELECT position FROM job_cursors WHERE name = $1")
            .bind(name)
            .fetch_optional(conn)
            .await?;
    Ok(position.unwrap_or(0))
}

/// Moves the job's cursor forward (never back, so two servers racing do no harm).
pub(super) async fn advance_cursor(
    conn: &mut AnyConnection,
    name: &str,
    position: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO job_cursors (name, position) VALUES ($1, $2) ON CONFLICT (name) \
         DO UPDATE SET position = excluded.position WHERE job_cursors.position < excluded.position",
    )
    .bind(name)
    .bind(position)
    .execute(conn)
    .await?;
    Ok(())
}

/// Books changed after status sequence `after` whose counted units differ from what the
/// holder was told, in sequence order.
pub(super) async fn usage_changes(
    conn: &mut AnyConnection,
    after: i64,
    limit: u32,
) -> StoreResult<(Vec<UsageChange>, Option<i64>)> {
    let found = sqlx::query(
        "SELECT id, account_id, units, used_units, notified_used_units, status_seq FROM books \
         WHERE status_seq > $1 ORDER BY status_seq LIMIT $2",
    )
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    let mut last_seq = None;
    let mut changes = Vec::new();
    for row in &found {
        let int16 = |name: &'static str| -> StoreResult<u16> {
            let value: i64 = row.try_get(name)?;
            u16::try_from(value).map_err(|_| rows::corrupt(name))
        };
        let change = UsageChange {
            book_id: BookId(row.try_get::<i64, _>("id")? as u64),
            account_id: row.try_get("account_id")?,
            units: int16("units")?,
            used_units: int16("used_units")?,
            notified_used_units: int16("notified_used_units")?,
            status_seq: row.try_get("status_seq")?,
        };
        last_seq = Some(change.status_seq);
        if change.used_units != change.notified_used_units {
            changes.push(change);
        }
    }
    Ok((changes, last_seq))
}

/// Records that the holder now knows about `used_units`.
pub(super) async fn mark_notified(
    conn: &mut AnyConnection,
    book: BookId,
    used_units: u16,
) -> StoreResult<()> {
    sqlx::query("UPDATE books SET notified_used_units = $2 WHERE id = $1")
        .bind(book.0 as i64)
        .bind(i64::from(used_units))
        .execute(conn)
        .await?;
    Ok(())
}

/// Sealed phone numbers of the users of an account, for messages about its books.
pub(super) async fn recipients(
    conn: &mut AnyConnection,
    account_id: i64,
) -> StoreResult<Vec<(UserId, Vec<u8>)>> {
    let found = sqlx::query(
        "SELECT id, phone_sealed FROM users WHERE account_id = $1 AND phone_sealed IS NOT NULL \
         AND disabled_at IS NULL ORDER BY id",
    )
    .bind(account_id)
    .fetch_all(conn)
    .await?;
    found
        .iter()
        .map(|row| {
            Ok((
                UserId(row.try_get::<i64, _>("id")? as u64),
                row.try_get("phone_sealed")?,
            ))
        })
        .collect()
}

//! The notification outbox (queue, claims of due messages, delivery results, secrets erased
//! once sent or expired) and the cursor of the job that turns counted redemptions into
//! messages.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::store::models::{
    AuditEntry, Channel, MessageKind, NewNotification, Notification, NotificationFilter,
    NotificationState, Recipient, SealedSecret, UsageChange,
};
use crate::store::{ConflictKind, StoreError, StoreResult, rows, tx};
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
            "INSERT INTO notifications (user_id, channel, recipient_sealed, address_sealed, kind, \
             body, dedupe_key, state, next_attempt_at, created_at, secret_sealed, \
             secret_expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $8, $9, $10) \
             ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(message.user_id.map(|u| u.0 as i64))
        .bind(message.channel.as_str())
        .bind(message.recipient_sealed.clone())
        .bind(message.address_sealed.clone())
        .bind(message.kind.as_str())
        .bind(&message.body)
        .bind(message.dedupe_key.clone())
        .bind(now)
        .bind(message.secret.as_ref().map(|s| s.sealed.clone()))
        .bind(message.secret.as_ref().map(|s| s.expires_at))
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(added)
}

fn notification(row: &AnyRow) -> StoreResult<Notification> {
    let channel: String = row.try_get("channel")?;
    let state: String = row.try_get("state")?;
    let kind: String = row.try_get("kind")?;
    let user_id: Option<i64> = row.try_get("user_id")?;
    let attempts: i64 = row.try_get("attempts")?;
    let secret_sealed: Option<Vec<u8>> = row.try_get("secret_sealed")?;
    let secret_expires_at: Option<i64> = row.try_get("secret_expires_at")?;
    let secret = secret_sealed
        .zip(secret_expires_at)
        .map(|(sealed, expires_at)| SealedSecret { sealed, expires_at });
    Ok(Notification {
        id: row.try_get("id")?,
        spec: NewNotification {
            user_id: user_id.map(|u| UserId(u as u64)),
            channel: Channel::parse(&channel)
                .ok_or_else(|| rows::corrupt("notifications.channel"))?,
            recipient_sealed: row.try_get("recipient_sealed")?,
            address_sealed: row.try_get("address_sealed")?,
            kind: MessageKind::parse(&kind).ok_or_else(|| rows::corrupt("notifications.kind"))?,
            body: row.try_get("body")?,
            dedupe_key: row.try_get("dedupe_key")?,
            secret,
        },
        state: NotificationState::parse(&state)
            .ok_or_else(|| rows::corrupt("notifications.state"))?,
        attempts: u32::try_from(attempts).map_err(|_| rows::corrupt("notifications.attempts"))?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        sent_at: row.try_get("sent_at")?,
    })
}

const COLUMNS: &str = "id, user_id, channel, recipient_sealed, address_sealed, kind, body, \
    dedupe_key, state, attempts, next_attempt_at, last_error, created_at, sent_at, \
    secret_sealed, secret_expires_at";

/// The last error of a message given up on because its secret expired before delivery.
pub const SECRET_EXPIRED: &str = "验证码已过期,未发送";

/// Gives up the pending messages whose dedupe key starts with `prefix` and that no dispatcher
/// holds at `now`: they would tell of something no longer true (an order's 派单 message when it
/// was reassigned or cancelled before the message went out). A message being sent is left to
/// finish. Returns how many were given up.
pub(super) async fn withdraw_pending(
    conn: &mut AnyConnection,
    prefix: &str,
    why: &str,
    now: i64,
) -> StoreResult<u64> {
    // LIKE with every wildcard of the prefix escaped: the same on both backends.
    let pattern = prefix
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
        + "%";
    Ok(sqlx::query(
        "UPDATE notifications SET state = 'dead', last_error = $1, secret_sealed = NULL \
         WHERE state = 'pending' AND dedupe_key LIKE $2 ESCAPE '\\' \
         AND (claimed_until IS NULL OR claimed_until < $3)",
    )
    .bind(why)
    .bind(pattern)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Claims up to `limit` pending messages due at `now`, oldest first, for the delivery round
/// `holder` until `claimed_until`: a message claimed and not yet recorded is claimed by nobody
/// else until its claim runs out, so two servers never deliver it twice. First, in the same
/// step, erases every secret past its expiry and gives up on the pending messages that carried
/// one.
///
/// The claim is one conditional `UPDATE`: on PostgreSQL a dispatcher that finds a row claimed
/// meanwhile waits for that claim to commit, re-checks the condition on the claimed row and
/// skips it; SQLite runs one write at a time.
pub(super) async fn claim(
    conn: &mut AnyConnection,
    holder: &str,
    now: i64,
    claimed_until: i64,
    limit: u32,
) -> StoreResult<Vec<Notification>> {
    sqlx::query(
        "UPDATE notifications SET secret_sealed = NULL, \
         last_error = CASE WHEN state = 'pending' THEN $2 ELSE last_error END, \
         state = CASE WHEN state = 'pending' THEN 'dead' ELSE state END \
         WHERE secret_sealed IS NOT NULL AND secret_expires_at <= $1",
    )
    .bind(now)
    .bind(SECRET_EXPIRED)
    .execute(&mut *conn)
    .await?;
    let due = "state = 'pending' AND next_attempt_at <= $1 \
        AND (claimed_until IS NULL OR claimed_until <= $1)";
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE notifications SET claimed_until = $2, claimed_by = $4 \
         WHERE id IN (SELECT id FROM notifications WHERE {due} \
                      ORDER BY next_attempt_at, id LIMIT $3) \
         AND {due} RETURNING {COLUMNS}"
    )))
    .bind(now)
    .bind(claimed_until)
    .bind(i64::from(limit))
    .bind(holder)
    .fetch_all(conn)
    .await?;
    let mut claimed = found
        .iter()
        .map(notification)
        .collect::<StoreResult<Vec<_>>>()?;
    claimed.sort_by_key(|message| (message.next_attempt_at, message.id));
    Ok(claimed)
}

/// Extends `holder`'s claim on message `id` to `claimed_until`, just before it is handed to its
/// gateway; `false` when the claim is no longer the holder's (it ran out and another round took
/// it) or the message is no longer pending (delivered by that round, or withdrawn): then it
/// must not be sent. One conditional `UPDATE`, so a claim runs out only between two messages of
/// a round, never while one of them is being sent.
pub(super) async fn renew_claim(
    conn: &mut AnyConnection,
    holder: &str,
    id: i64,
    claimed_until: i64,
) -> StoreResult<bool> {
    let renewed = sqlx::query(
        "UPDATE notifications SET claimed_until = $3 \
         WHERE id = $1 AND claimed_by = $2 AND state = 'pending' AND claimed_until IS NOT NULL",
    )
    .bind(id)
    .bind(holder)
    .bind(claimed_until)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(renewed == 1)
}

/// Records one delivery attempt of the round `holder` over `channel` (the queued one, or SMS
/// when that channel is off): sent, retried at `retry_at`, or dead when there is none. The claim
/// ends, and a sent or dead message's secret is erased. Nothing is recorded when another round
/// holds the message now (`false`): that round's attempt is the one that counts.
pub(super) async fn record_attempt(
    conn: &mut AnyConnection,
    holder: &str,
    id: i64,
    channel: Channel,
    result: Result<(), &str>,
    retry_at: Option<i64>,
    now: i64,
) -> StoreResult<bool> {
    let (state, error, next_attempt_at, sent_at) = match (result, retry_at) {
        (Ok(()), _) => ("sent", None, None, Some(now)),
        (Err(error), Some(at)) => ("pending", Some(error), Some(at), None),
        (Err(error), None) => ("dead", Some(error), None, None),
    };
    let recorded = sqlx::query(
        "UPDATE notifications SET state = $2, channel = $3, attempts = attempts + 1, \
         last_error = $4, next_attempt_at = COALESCE($5, next_attempt_at), sent_at = $6, \
         claimed_until = NULL, \
         secret_sealed = CASE WHEN $2 = 'pending' THEN secret_sealed ELSE NULL END \
         WHERE id = $1 AND (claimed_by IS NULL OR claimed_by = $7)",
    )
    .bind(id)
    .bind(state)
    .bind(channel.as_str())
    .bind(error.map(str::to_string))
    .bind(next_attempt_at)
    .bind(sent_at)
    .bind(holder)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(recorded == 1)
}

/// Messages matching `filter`, newest first.
pub(super) async fn list(
    conn: &mut AnyConnection,
    filter: &NotificationFilter,
    limit: u32,
) -> StoreResult<Vec<Notification>> {
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM notifications \
         WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR channel = $2) \
         AND ($3 IS NULL OR kind = $3) AND ($4 IS NULL OR user_id = $4) \
         AND ($5 IS NULL OR created_at >= $5) \
         AND ($6 = 0 OR state = 'dead' OR (state = 'pending' AND last_error IS NOT NULL)) \
         ORDER BY id DESC LIMIT $7"
    )))
    .bind(filter.state.map(NotificationState::as_str))
    .bind(filter.channel.map(Channel::as_str))
    .bind(filter.kind.map(MessageKind::as_str))
    .bind(filter.user_id.map(|u| u.0 as i64))
    .bind(filter.since)
    .bind(i64::from(filter.failed))
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    found.iter().map(notification).collect()
}

/// Puts a failed message (dead, or pending after a failed attempt) back in the queue, due
/// now, with a fresh attempt count and no error; `NotFound` for an unknown id, `Conflict` for a
/// message that did not fail ([`NOT_FAILED`]) or whose secret is gone or expired
/// ([`SECRET_GONE`]): a code is never sent late, and nothing could fill in its text.
pub(super) async fn resend(
    conn: &mut AnyConnection,
    id: i64,
    now: i64,
    audit: &AuditEntry,
) -> StoreResult<()> {
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM notifications WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let found = found.ok_or(StoreError::NotFound)?;
    let had_secret = found
        .try_get::<Option<i64>, _>("secret_expires_at")?
        .is_some();
    let message = notification(&found)?;
    if !message.failed() {
        return Err(StoreError::Conflict(ConflictKind::NotFailed));
    }
    let secret_live = message
        .spec
        .secret
        .as_ref()
        .is_some_and(|secret| secret.expires_at > now);
    if had_secret && !secret_live {
        return Err(StoreError::Conflict(ConflictKind::SecretGone));
    }
    sqlx::query(
        "UPDATE notifications SET state = 'pending', attempts = 0, next_attempt_at = $2, \
         last_error = NULL WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    tx::insert_audit(conn, audit, now).await
}

/// Binds (or with `None` unbinds) a user's WeChat openid or push token.
pub(super) async fn bind_channel(
    conn: &mut AnyConnection,
    user: UserId,
    channel: Channel,
    address_sealed: Option<&[u8]>,
    now: i64,
) -> StoreResult<()> {
    if channel == Channel::Sms {
        return Err(StoreError::Conflict(ConflictKind::SmsChannel));
    }
    let query = match address_sealed {
        Some(address) => sqlx::query(
            "INSERT INTO user_channels (user_id, channel, address_sealed, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, channel) \
             DO UPDATE SET address_sealed = excluded.address_sealed, updated_at = excluded.updated_at",
        )
        .bind(user.0 as i64)
        .bind(channel.as_str())
        .bind(address.to_vec())
        .bind(now),
        None => sqlx::query("DELETE FROM user_channels WHERE user_id = $1 AND channel = $2")
            .bind(user.0 as i64)
            .bind(channel.as_str()),
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
        let change = usage_row(row)?;
        last_seq = Some(change.status_seq);
        if change.used_units != change.notified_used_units {
            changes.push(change);
        }
    }
    Ok((changes, last_seq))
}

/// Records that the holder now knows about `change.used_units`, if what they knew is still what
/// `change` read; `false` when another run of the job recorded a change of this book meanwhile
/// (two instances read it at two moments): then `change` is stale and must not be told or
/// credited. One conditional `UPDATE`: on PostgreSQL the second of two waits for the first and
/// re-checks the condition.
pub(super) async fn mark_notified(
    conn: &mut AnyConnection,
    change: &UsageChange,
) -> StoreResult<bool> {
    let marked = sqlx::query(
        "UPDATE books SET notified_used_units = $2 WHERE id = $1 AND notified_used_units = $3",
    )
    .bind(change.book_id.0 as i64)
    .bind(i64::from(change.used_units))
    .bind(i64::from(change.notified_used_units))
    .execute(conn)
    .await?
    .rows_affected();
    Ok(marked == 1)
}

/// The book's usage as [`usage_changes`] reads it, now; `None` when it is gone or its holder
/// knows its counted units.
pub(super) async fn usage_change(
    conn: &mut AnyConnection,
    book: BookId,
) -> StoreResult<Option<UsageChange>> {
    let found = sqlx::query(
        "SELECT id, account_id, units, used_units, notified_used_units, status_seq FROM books \
         WHERE id = $1",
    )
    .bind(book.0 as i64)
    .fetch_optional(conn)
    .await?;
    Ok(found
        .as_ref()
        .map(usage_row)
        .transpose()?
        .filter(|change| change.used_units != change.notified_used_units))
}

fn usage_row(row: &AnyRow) -> StoreResult<UsageChange> {
    let int16 = |name: &'static str| -> StoreResult<u16> {
        let value: i64 = row.try_get(name)?;
        u16::try_from(value).map_err(|_| rows::corrupt(name))
    };
    Ok(UsageChange {
        book_id: BookId(row.try_get::<i64, _>("id")? as u64),
        account_id: row.try_get("account_id")?,
        units: int16("units")?,
        used_units: int16("used_units")?,
        notified_used_units: int16("notified_used_units")?,
        status_seq: row.try_get("status_seq")?,
    })
}

/// The users of an account a message about its books goes to, with their bound channels.
pub(super) async fn recipients(
    conn: &mut AnyConnection,
    account_id: i64,
) -> StoreResult<Vec<Recipient>> {
    let found = sqlx::query(
        "SELECT u.id, u.phone_sealed, w.address_sealed AS wechat, p.address_sealed AS push \
         FROM users u \
         LEFT JOIN user_channels w ON w.user_id = u.id AND w.channel = 'wechat' \
         LEFT JOIN user_channels p ON p.user_id = u.id AND p.channel = 'push' \
         WHERE u.account_id = $1 AND u.phone_sealed IS NOT NULL AND u.disabled_at IS NULL \
         ORDER BY u.id",
    )
    .bind(account_id)
    .fetch_all(conn)
    .await?;
    found
        .iter()
        .map(|row| {
            Ok(Recipient {
                user_id: UserId(row.try_get::<i64, _>("id")? as u64),
                phone_sealed: row.try_get("phone_sealed")?,
                wechat_sealed: row.try_get("wechat")?,
                push_sealed: row.try_get("push")?,
            })
        })
        .collect()
}

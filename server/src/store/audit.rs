//! The audit log a page at a time: entries matching a text, newest first, with keyset bounds
//! (ids older or newer than an entry already shown), so paging stays cheap however long the log
//! grows and an entry written meanwhile never shifts a page.

use sqlx::{AnyPool, AssertSqlSafe};

use crate::store::models::AuditRecord;
use crate::store::{StoreResult, reports, rows};

/// Which page of the audit log to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Text the action, target, detail or actor's login name contains; empty for every entry.
    pub text: String,
    /// Entries without an actor (command line, system) match the text too.
    pub actorless: bool,
    /// Only entries of this action (e.g. `order.issue`); empty for every action.
    pub action: String,
    /// Only entries by the user with this login name; empty for every actor.
    pub actor: String,
    /// Only entries older than this id.
    pub before: Option<i64>,
    /// Only entries newer than this id (ignored with `before`).
    pub after: Option<i64>,
    /// Entries per page.
    pub limit: u32,
}

/// One page of the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditPage {
    /// Entries, newest first.
    pub entries: Vec<AuditRecord>,
    /// Older matching entries exist.
    pub older: bool,
    /// Newer matching entries exist.
    pub newer: bool,
}

/// Matching entries with `above < id < below`, at most `limit`, newest first unless `oldest_first`.
async fn matching(
    pool: &AnyPool,
    query: &AuditQuery,
    (above, below): (i64, i64),
    oldest_first: bool,
    limit: u32,
) -> StoreResult<Vec<AuditRecord>> {
    let order = if oldest_first { "ASC" } else { "DESC" };
    let sql = format!(
        "SELECT a.id, a.actor_user_id, a.action, a.target, a.detail, a.at \
         FROM audit_log a LEFT JOIN users u ON u.id = a.actor_user_id \
         WHERE a.id > $1 AND a.id < $2 AND ($3 = '' OR a.action LIKE $4 ESCAPE '\\' \
         OR a.target LIKE $4 ESCAPE '\\' OR a.detail LIKE $4 ESCAPE '\\' \
         OR u.username LIKE $4 ESCAPE '\\' OR (a.actor_user_id IS NULL AND $5 = 1)) \
         AND ($6 = '' OR a.action = $6) AND ($7 = '' OR u.username = $7) \
         ORDER BY a.id {order} LIMIT $8"
    );
    let found = sqlx::query(AssertSqlSafe(sql))
        .bind(above)
        .bind(below)
        .bind(&query.text)
        .bind(reports::contains_pattern(&query.text))
        .bind(i64::from(query.actorless))
        .bind(&query.action)
        .bind(&query.actor)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    found.iter().map(rows::audit).collect()
}

/// The page `query` asks for.
pub(super) async fn page(pool: &AnyPool, query: &AuditQuery) -> StoreResult<AuditPage> {
    let limit = query.limit.max(1);
    // Keyset bounds come from the address bar: any i64 must work, so no arithmetic may overflow.
    let (bounds, oldest_first) = match (query.before, query.after) {
        (Some(before), _) => ((0, before), false),
        (None, Some(after)) => ((after, i64::MAX), true),
        (None, None) => ((0, i64::MAX), false),
    };
    let mut entries = matching(pool, query, bounds, oldest_first, limit.saturating_add(1)).await?;
    let more = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    if oldest_first {
        entries.reverse();
    }
    // Whether anything lies beyond the page on the side it was reached from.
    let beyond = |bounds| async move {
        StoreResult::Ok(!matching(pool, query, bounds, false, 1).await?.is_empty())
    };
    let (older, newer) = match (query.before, query.after) {
        (Some(before), _) => (more, beyond((before.saturating_sub(1), i64::MAX)).await?),
        (None, Some(after)) => (beyond((0, after.saturating_add(1))).await?, more),
        (None, None) => (more, false),
    };
    Ok(AuditPage {
        entries,
        older,
        newer,
    })
}

/// The newest `limit` entries.
pub(super) async fn newest(pool: &AnyPool, limit: u32) -> StoreResult<Vec<AuditRecord>> {
    let found = sqlx::query("SELECT * FROM audit_log ORDER BY id DESC LIMIT $1")
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    found.iter().map(rows::audit).collect()
}

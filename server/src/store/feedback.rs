//! Customer feedback rows: written from the wallet, read by the support desk.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::store::models::{Feedback, FeedbackKind, NewFeedback};
use crate::store::{StoreError, StoreResult, rows};
use shuipiao_shared::ids::{BookId, UserId};

/// Stores new feedback as `open`.
pub(super) async fn insert(
    conn: &mut AnyConnection,
    feedback: &NewFeedback,
    now: i64,
) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO feedback (user_id, book_id, kind, rating, staff_user_id, message, state, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $7) RETURNING id",
    )
    .bind(feedback.user_id.0 as i64)
    .bind(feedback.book_id.map(|b| b.0 as i64))
    .bind(feedback.kind.as_str())
    .bind(feedback.rating.map(i64::from))
    .bind(feedback.staff_user_id.map(|u| u.0 as i64))
    .bind(&feedback.message)
    .bind(now)
    .fetch_one(conn)
    .await?)
}

fn feedback(row: &AnyRow) -> StoreResult<Feedback> {
    let kind: String = row.try_get("kind")?;
    let id_of = |name: &str| -> StoreResult<Option<u64>> {
        Ok(row.try_get::<Option<i64>, _>(name)?.map(|v| v as u64))
    };
    let rating: Option<i64> = row.try_get("rating")?;
    Ok(Feedback {
        id: row.try_get("id")?,
        spec: NewFeedback {
            user_id: UserId(row.try_get::<i64, _>("user_id")? as u64),
            book_id: id_of("book_id")?.map(BookId),
            kind: FeedbackKind::parse(&kind).ok_or_else(|| rows::corrupt("feedback.kind"))?,
            rating: rating
                .map(|r| u8::try_from(r).map_err(|_| rows::corrupt("feedback.rating")))
                .transpose()?,
            staff_user_id: id_of("staff_user_id")?.map(UserId),
            message: row.try_get("message")?,
        },
        state: row.try_get("state")?,
        assignee_id: id_of("assignee_id")?.map(UserId),
        created_at: row.try_get("created_at")?,
    })
}

const COLUMNS: &str = "id, user_id, book_id, kind, rating, staff_user_id, message, state, \
    assignee_id, created_at";

/// A user's feedback, newest first.
pub(super) async fn of_user(conn: &mut AnyConnection, user: UserId) -> StoreResult<Vec<Feedback>> {
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM feedback WHERE user_id = $1 ORDER BY id DESC"
    )))
    .bind(user.0 as i64)
    .fetch_all(conn)
    .await?;
    found.iter().map(feedback).collect()
}

/// The support desk's inbox, oldest first; `open_only` leaves out closed items.
pub(super) async fn inbox(conn: &mut AnyConnection, open_only: bool) -> StoreResult<Vec<Feedback>> {
    let filter = if open_only {
        "WHERE state <> 'closed'"
    } else {
        ""
    };
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM feedback {filter} ORDER BY id"
    )))
    .fetch_all(conn)
    .await?;
    found.iter().map(feedback).collect()
}

/// Sets a feedback item's state and assignee; `NotFound` if there is none.
pub(super) async fn update(
    conn: &mut AnyConnection,
    id: i64,
    state: &str,
    assignee: Option<UserId>,
    now: i64,
) -> StoreResult<()> {
    let changed = sqlx::query(
        "UPDATE feedback SET state = $1, assignee_id = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(state)
    .bind(assignee.map(|user| user.0 as i64))
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected();
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

//! Enterprise membership by consent: invitations (their sending limits counted in the
//! transaction that stores one), answering them with or without a code, withdrawing them,
//! leaving, and reading back which books an enterprise handed to whom.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use subtle::ConstantTimeEq;

use crate::store::books::SELECT_BOOKS;
use crate::store::customers::MAX_CODE_ATTEMPTS;
use crate::store::models::{Book, Invitation, InvitationLimits, InvitationState, NewInvitation};
use crate::store::{ConflictKind, StoreError, StoreResult, rows};

const SELECT_INVITATIONS: &str = "SELECT i.id, i.enterprise_id, a.name AS enterprise_name, \
    i.phone_index, i.phone_masked, i.name, i.state, i.account_id, i.expires_at, i.created_at, \
    i.answered_at FROM enterprise_invitations i JOIN accounts a ON a.id = i.enterprise_id";

fn decode(found: &[AnyRow]) -> StoreResult<Vec<Invitation>> {
    found.iter().map(rows::invitation).collect()
}

/// Stores an invitation if the limits allow it; returns its id.
pub(super) async fn create(
    conn: &mut AnyConnection,
    invitation: &NewInvitation,
    limits: &InvitationLimits,
    now: i64,
) -> StoreResult<i64> {
    let enterprise = invitation.enterprise_id;
    let phone = invitation.phone_index.clone();
    // Locks the enterprise's row, so on PostgreSQL two invitations of one enterprise are counted
    // one after the other (SQLite runs one writer at a time anyway).
    let locked =
        sqlx::query("UPDATE accounts SET name = name WHERE id = $1 AND kind = 'enterprise'")
            .bind(enterprise)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    if locked == 0 {
        return Err(StoreError::NotFound);
    }
    sqlx::query(
        "UPDATE enterprise_invitations SET state = 'expired' WHERE enterprise_id = $1 \
         AND phone_index = $2 AND state = 'pending' AND expires_at <= $3",
    )
    .bind(enterprise)
    .bind(phone.clone())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let open: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM enterprise_invitations WHERE enterprise_id = $1 \
         AND phone_index = $2 AND state = 'pending'",
    )
    .bind(enterprise)
    .bind(phone.clone())
    .fetch_one(&mut *conn)
    .await?;
    if open > 0 {
        return Err(StoreError::Conflict(ConflictKind::AlreadyInvited));
    }
    let declined: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM enterprise_invitations WHERE enterprise_id = $1 \
         AND phone_index = $2 AND state = 'declined' AND answered_at >= $3",
    )
    .bind(enterprise)
    .bind(phone.clone())
    .bind(limits.declined_since)
    .fetch_one(&mut *conn)
    .await?;
    if declined > 0 {
        return Err(StoreError::Conflict(ConflictKind::RecentlyDeclined));
    }
    for &(since, most) in &limits.per_phone {
        let sent: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM enterprise_invitations WHERE phone_index = $1 AND created_at >= $2",
        )
        .bind(phone.clone())
        .bind(since)
        .fetch_one(&mut *conn)
        .await?;
        if sent >= most {
            return Err(StoreError::Conflict(ConflictKind::TooManyInvitations));
        }
    }
    let (since, most) = limits.per_enterprise;
    let sent: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM enterprise_invitations WHERE enterprise_id = $1 AND created_at >= $2",
    )
    .bind(enterprise)
    .bind(since)
    .fetch_one(&mut *conn)
    .await?;
    if sent >= most {
        return Err(StoreError::Conflict(ConflictKind::TooManyInvitations));
    }
    Ok(sqlx::query_scalar(
        "INSERT INTO enterprise_invitations (enterprise_id, phone_index, phone_masked, name, \
         code_hash, state, invited_by, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8) RETURNING id",
    )
    .bind(enterprise)
    .bind(phone)
    .bind(&invitation.phone_masked)
    .bind(&invitation.name)
    .bind(invitation.code_hash.clone())
    .bind(invitation.invited_by.0 as i64)
    .bind(invitation.expires_at)
    .bind(now)
    .fetch_one(conn)
    .await?)
}

/// One invitation.
pub(super) async fn fetch(conn: &mut AnyConnection, id: i64) -> StoreResult<Invitation> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT_INVITATIONS} WHERE i.id = $1"
    )))
    .bind(id)
    .fetch_one(conn)
    .await?;
    rows::invitation(&row)
}

/// An enterprise's newest invitations.
pub(super) async fn of_enterprise(
    conn: &mut AnyConnection,
    enterprise_id: i64,
    limit: u32,
) -> StoreResult<Vec<Invitation>> {
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT_INVITATIONS} WHERE i.enterprise_id = $1 ORDER BY i.id DESC LIMIT $2"
    )))
    .bind(enterprise_id)
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    decode(&found)
}

/// Invitations a phone can still answer, oldest first.
pub(super) async fn open_for_phone(
    conn: &mut AnyConnection,
    phone_index: &[u8],
    now: i64,
) -> StoreResult<Vec<Invitation>> {
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT_INVITATIONS} WHERE i.phone_index = $1 AND i.state = 'pending' \
         AND i.expires_at > $2 ORDER BY i.id"
    )))
    .bind(phone_index.to_vec())
    .bind(now)
    .fetch_all(conn)
    .await?;
    decode(&found)
}

/// Checks a code against the phone's open invitations. Each guess first takes one of every open
/// invitation's attempts (an invitation with none left is not compared at all), so concurrent
/// guesses cannot get more tries than [`MAX_CODE_ATTEMPTS`]; the invitation whose code matches
/// is returned, still pending.
pub(super) async fn check_code(
    conn: &mut AnyConnection,
    phone_index: &[u8],
    code_hash: &[u8],
    now: i64,
) -> StoreResult<Option<Invitation>> {
    let tried = sqlx::query(
        "UPDATE enterprise_invitations SET attempts = attempts + 1 WHERE phone_index = $1 \
         AND state = 'pending' AND expires_at > $2 AND attempts < $3 RETURNING id, code_hash",
    )
    .bind(phone_index.to_vec())
    .bind(now)
    .bind(MAX_CODE_ATTEMPTS)
    .fetch_all(&mut *conn)
    .await?;
    let mut matched = None;
    for row in &tried {
        let stored: Vec<u8> = row.try_get("code_hash")?;
        if bool::from(stored.ct_eq(code_hash)) {
            matched = Some(row.try_get::<i64, _>("id")?);
        }
    }
    match matched {
        Some(id) => Ok(Some(fetch(conn, id).await?)),
        None => Ok(None),
    }
}

/// Accepts (the account joins the enterprise) or declines a pending, unexpired invitation.
pub(super) async fn answer(
    conn: &mut AnyConnection,
    id: i64,
    account_id: Option<i64>,
    accept: bool,
    now: i64,
) -> StoreResult<()> {
    let state = if accept {
        InvitationState::Accepted
    } else {
        InvitationState::Declined
    };
    let answered = sqlx::query(
        "UPDATE enterprise_invitations SET state = $2, account_id = $3, answered_at = $4 \
         WHERE id = $1 AND state = 'pending' AND expires_at > $4",
    )
    .bind(id)
    .bind(state.as_str())
    .bind(account_id)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if answered == 0 {
        return Err(StoreError::Conflict(ConflictKind::NotPending));
    }
    if !accept {
        return Ok(());
    }
    let joined = sqlx::query(
        "UPDATE accounts SET enterprise_id = \
         (SELECT enterprise_id FROM enterprise_invitations WHERE id = $1) \
         WHERE id = $2 AND kind = 'customer' AND enterprise_id IS NULL",
    )
    .bind(id)
    .bind(account_id)
    .execute(conn)
    .await?
    .rows_affected();
    if joined == 0 {
        return Err(StoreError::Conflict(ConflictKind::NotJoinable));
    }
    Ok(())
}

/// The enterprise takes back its pending invitation; `NotFound` unless it is its own and pending.
pub(super) async fn withdraw(
    conn: &mut AnyConnection,
    id: i64,
    enterprise_id: i64,
    now: i64,
) -> StoreResult<()> {
    let withdrawn = sqlx::query(
        "UPDATE enterprise_invitations SET state = 'withdrawn', answered_at = $3 \
         WHERE id = $1 AND enterprise_id = $2 AND state = 'pending'",
    )
    .bind(id)
    .bind(enterprise_id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    if withdrawn == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// A member account leaves its enterprise; `NotFound` unless it is a member of it.
pub(super) async fn leave(
    conn: &mut AnyConnection,
    account_id: i64,
    enterprise_id: i64,
    now: i64,
) -> StoreResult<()> {
    let left = sqlx::query(
        "UPDATE accounts SET enterprise_id = NULL WHERE id = $1 AND enterprise_id = $2",
    )
    .bind(account_id)
    .bind(enterprise_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if left == 0 {
        return Err(StoreError::NotFound);
    }
    sqlx::query(
        "UPDATE enterprise_invitations SET state = 'left', answered_at = $3 \
         WHERE account_id = $1 AND enterprise_id = $2 AND state = 'accepted'",
    )
    .bind(account_id)
    .bind(enterprise_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Books the enterprise handed to another account, and their reissues, newest first: the books
/// of its orders split among members, the books it allocated from its own, and every book that
/// replaced one of those for the same holder (lost-ticket reissue, a rotating-QR binding, the
/// rest of a partial move). A book a customer bought or was given otherwise is never here.
pub(super) async fn allocated_books(
    conn: &mut AnyConnection,
    enterprise_id: i64,
) -> StoreResult<Vec<Book>> {
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH RECURSIVE handed (id, account_id) AS ( \
             SELECT b.id, b.account_id FROM orders o JOIN books b ON b.order_id = o.id \
              WHERE o.account_id = $1 AND b.source = 'enterprise' AND b.account_id <> $1 \
             UNION ALL \
             SELECT b.id, b.account_id FROM books pool JOIN books b ON b.replaces_book_id = pool.id \
              WHERE pool.account_id = $1 AND b.source = 'enterprise' AND b.account_id <> $1 \
         ), allocated (id, account_id) AS ( \
             SELECT id, account_id FROM handed \
             UNION ALL \
             SELECT b.id, b.account_id FROM books b JOIN allocated a ON b.replaces_book_id = a.id \
              WHERE b.account_id = a.account_id \
         ) \
         {SELECT_BOOKS} WHERE b.id IN (SELECT id FROM allocated) ORDER BY b.id DESC"
    )))
    .bind(enterprise_id)
    .fetch_all(conn)
    .await?;
    found.iter().map(rows::book).collect()
}

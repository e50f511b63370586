//! The customer directory in SQL: accounts found by what support knows of a customer (the
//! account, a name, a login or an address fragment, a region), a page at a time, each with its
//! region and what it holds.

use sqlx::{AnyConnection, AssertSqlSafe, Row};

use crate::store::models::AccountKind;
use crate::store::reports::contains_pattern;
use crate::store::{StoreResult, rows};

/// Which accounts a directory page lists; every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerFilter {
    /// Only this account (a phone's or a book's).
    pub account: Option<i64>,
    /// Text in the account's name, a login of it, or one of its addresses.
    pub text: Option<String>,
    /// Only accounts with an address in this region.
    pub region: Option<i64>,
}

/// An account as the directory lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRow {
    /// The account.
    pub id: i64,
    /// Customer or enterprise.
    pub kind: AccountKind,
    /// Its name.
    pub name: String,
    /// The enterprise a member belongs to.
    pub enterprise_id: Option<i64>,
    /// When it was opened.
    pub created_at: i64,
    /// The region of its default address (else of any address it keeps).
    pub region_id: Option<i64>,
    /// Its logins, comma-separated.
    pub logins: String,
    /// Books not revoked and not used up.
    pub live_books: i64,
    /// Units those books have left.
    pub units_left: i64,
}

/// Accounts matching `filter`, newest first, `limit` from `offset`.
pub(super) async fn search(
    conn: &mut AnyConnection,
    filter: &CustomerFilter,
    limit: u32,
    offset: u32,
) -> StoreResult<Vec<CustomerRow>> {
    let sql = "SELECT a.id, a.kind, a.name, a.enterprise_id, a.created_at, \
         (SELECT ad.region_id FROM addresses ad WHERE ad.account_id = a.id \
          AND ad.removed_at IS NULL ORDER BY ad.is_default DESC, ad.id LIMIT 1) AS region_id, \
         (SELECT COUNT(*) FROM books b WHERE b.account_id = a.id AND b.state = 'active') \
           AS live_books, \
         (SELECT CAST(COALESCE(SUM(b.units - b.used_units), 0) AS BIGINT) FROM books b \
          WHERE b.account_id = a.id AND b.state = 'active') AS units_left \
         FROM accounts a \
         WHERE ($1 < 0 OR a.id = $1) \
         AND ($2 = '' OR a.name LIKE $2 ESCAPE '\\' \
           OR EXISTS (SELECT 1 FROM users u WHERE u.account_id = a.id \
             AND u.username LIKE $2 ESCAPE '\\') \
           OR EXISTS (SELECT 1 FROM addresses ad WHERE ad.account_id = a.id \
             AND ad.removed_at IS NULL AND (ad.community || ad.building || ad.unit || ad.room \
             || ad.contact) LIKE $2 ESCAPE '\\')) \
         AND ($3 < 0 OR EXISTS (SELECT 1 FROM addresses ad WHERE ad.account_id = a.id \
           AND ad.removed_at IS NULL AND ad.region_id = $3)) \
         ORDER BY a.id DESC LIMIT $4 OFFSET $5";
    let found = sqlx::query(AssertSqlSafe(sql))
        .bind(filter.account.unwrap_or(-1))
        .bind(
            filter
                .text
                .as_deref()
                .map_or(String::new(), contains_pattern),
        )
        .bind(filter.region.unwrap_or(-1))
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(&mut *conn)
        .await?;
    let mut customers = Vec::with_capacity(found.len());
    for row in &found {
        let id: i64 = row.try_get("id")?;
        let kind: String = row.try_get("kind")?;
        let logins: Vec<String> =
            sqlx::query_scalar("SELECT username FROM users WHERE account_id = $1 ORDER BY id")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
        customers.push(CustomerRow {
            id,
            kind: AccountKind::parse(&kind).ok_or_else(|| rows::corrupt("accounts.kind"))?,
            name: row.try_get("name")?,
            enterprise_id: row.try_get("enterprise_id")?,
            created_at: row.try_get("created_at")?,
            region_id: row.try_get("region_id")?,
            logins: logins.join(", "),
            live_books: row.try_get("live_books")?,
            units_left: row.try_get("units_left")?,
        });
    }
    Ok(customers)
}

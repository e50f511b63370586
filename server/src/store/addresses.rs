//! An account's delivery addresses (docs/deliveries.md, "Addresses"): the SQL that adds, edits,
//! removes from the list and chooses the default. The rules are checked by
//! `ordering::addresses`; the `Store` methods in `deliveries` keep the default unique and count
//! live addresses under the account's lock.

use sqlx::AnyConnection;

use crate::store::delivery_orders::{ADDRESS_COLUMNS, AddressRow, address};
use crate::store::tx::lock_key;
use crate::store::{StoreError, StoreResult};

/// The text of an address as the domain checked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressFields {
    /// Its region.
    pub region_id: i64,
    /// A delivery point's name, empty for a home.
    pub label: String,
    /// 小区.
    pub community: String,
    /// 楼栋.
    pub building: String,
    /// 单元.
    pub unit: String,
    /// 门牌.
    pub room: String,
    /// Who receives the water.
    pub contact: String,
    /// The contact's phone, sealed.
    pub phone_sealed: Vec<u8>,
}

/// Serialises address changes of one account, so the live count and the one default hold when
/// two requests change the same account's list at once.
pub(super) async fn lock_account(
    conn: &mut AnyConnection,
    account_id: i64,
    now: i64,
) -> StoreResult<()> {
    lock_key(conn, "addresses", &account_id.to_be_bytes(), now).await
}

/// An account's live addresses, the default first.
pub(super) async fn live_of(
    conn: &mut AnyConnection,
    account_id: i64,
) -> StoreResult<Vec<AddressRow>> {
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ADDRESS_COLUMNS} FROM addresses WHERE account_id = $1 AND removed_at IS NULL \
         ORDER BY is_default DESC, id"
    )))
    .bind(account_id)
    .fetch_all(conn)
    .await?;
    found.iter().map(address).collect()
}

/// The live address `id` of `account_id`, `NotFound` otherwise.
pub(super) async fn live_one(
    conn: &mut AnyConnection,
    account_id: i64,
    id: i64,
) -> StoreResult<AddressRow> {
    live_of(conn, account_id)
        .await?
        .into_iter()
        .find(|row| row.id == id)
        .ok_or(StoreError::NotFound)
}

/// Makes address `id` the one default of `account_id`.
pub(super) async fn make_default(
    conn: &mut AnyConnection,
    account_id: i64,
    id: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE addresses SET is_default = CASE WHEN id = $2 THEN 1 ELSE 0 END \
         WHERE account_id = $1 AND (is_default = 1 OR id = $2)",
    )
    .bind(account_id)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores a new address of `account_id`, the default if `is_default`; returns its id.
pub(super) async fn insert(
    conn: &mut AnyConnection,
    account_id: i64,
    fields: &AddressFields,
    is_default: bool,
    now: i64,
) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO addresses (account_id, region_id, label, community, building, unit, \
         room, contact, phone_sealed, is_default, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(account_id)
    .bind(fields.region_id)
    .bind(&fields.label)
    .bind(&fields.community)
    .bind(&fields.building)
    .bind(&fields.unit)
    .bind(&fields.room)
    .bind(&fields.contact)
    .bind(&fields.phone_sealed)
    .bind(i64::from(is_default))
    .bind(now)
    .fetch_one(conn)
    .await?)
}

/// Rewrites the text of address `id`.
pub(super) async fn update(
    conn: &mut AnyConnection,
    id: i64,
    fields: &AddressFields,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE addresses SET region_id = $2, label = $3, community = $4, building = $5, \
         unit = $6, room = $7, contact = $8, phone_sealed = $9 WHERE id = $1",
    )
    .bind(id)
    .bind(fields.region_id)
    .bind(&fields.label)
    .bind(&fields.community)
    .bind(&fields.building)
    .bind(&fields.unit)
    .bind(&fields.room)
    .bind(&fields.contact)
    .bind(&fields.phone_sealed)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes address `id` off the list (and off being the default); orders keep it.
pub(super) async fn mark_removed(conn: &mut AnyConnection, id: i64, now: i64) -> StoreResult<()> {
    sqlx::query("UPDATE addresses SET removed_at = $2, is_default = 0 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

//! An account's delivery addresses (docs/deliveries.md, "Addresses"): adding, editing, removing
//! from the list and choosing the default, each with its audit entry in one transaction. The
//! rules are checked by `ordering::addresses`; this module keeps the default unique and counts
//! live addresses under the account's lock.

use sqlx::AnyConnection;

use crate::store::delivery_orders::{ADDRESS_COLUMNS, AddressRow, address};
use crate::store::models::AuditEntry;
use crate::store::tx::{insert_audit, lock_key};
use crate::store::{Store, StoreError, StoreResult};

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
async fn lock_account(conn: &mut AnyConnection, account_id: i64, now: i64) -> StoreResult<()> {
    lock_key(conn, "addresses", &account_id.to_be_bytes(), now).await
}

async fn live_of(conn: &mut AnyConnection, account_id: i64) -> StoreResult<Vec<AddressRow>> {
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
async fn live_one(conn: &mut AnyConnection, account_id: i64, id: i64) -> StoreResult<AddressRow> {
    live_of(conn, account_id)
        .await?
        .into_iter()
        .find(|row| row.id == id)
        .ok_or(StoreError::NotFound)
}

async fn make_default(conn: &mut AnyConnection, account_id: i64, id: i64) -> StoreResult<()> {
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

impl Store {
    /// An account's live addresses, the default first.
    pub async fn addresses_of_account(&self, account_id: i64) -> StoreResult<Vec<AddressRow>> {
        let mut conn = self.pool.acquire().await?;
        live_of(&mut conn, account_id).await
    }

    /// Adds an address to `account_id`'s list unless it already holds `max_live` live ones
    /// (`None` then); the first live address becomes the default.
    pub async fn add_address(
        &self,
        account_id: i64,
        fields: &AddressFields,
        max_live: usize,
        audit: impl FnOnce(i64) -> AuditEntry,
        now: i64,
    ) -> StoreResult<Option<i64>> {
        let mut tx = self.begin_write().await?;
        lock_account(&mut tx, account_id, now).await?;
        let live = live_of(&mut tx, account_id).await?;
        if live.len() >= max_live {
            return Ok(None);
        }
        let id: i64 = sqlx::query_scalar(
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
        .bind(i64::from(live.is_empty()))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        insert_audit(&mut tx, &audit(id), now).await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Rewrites live address `id` of `account_id`; `NotFound` if it is not one.
    pub async fn edit_address(
        &self,
        account_id: i64,
        id: i64,
        fields: &AddressFields,
        audit: &AuditEntry,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        lock_account(&mut tx, account_id, now).await?;
        live_one(&mut tx, account_id, id).await?;
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
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await
    }

    /// Takes live address `id` of `account_id` off the list (orders keep it); if it was the
    /// default, the oldest remaining address becomes the default. `NotFound` if it is not one.
    pub async fn remove_address(
        &self,
        account_id: i64,
        id: i64,
        audit: &AuditEntry,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        lock_account(&mut tx, account_id, now).await?;
        let removed = live_one(&mut tx, account_id, id).await?;
        sqlx::query("UPDATE addresses SET removed_at = $2, is_default = 0 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if removed.is_default
            && let Some(next) = live_of(&mut tx, account_id).await?.first()
        {
            make_default(&mut tx, account_id, next.id).await?;
        }
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await
    }

    /// Makes live address `id` `account_id`'s default; `NotFound` if it is not one.
    pub async fn set_default_address(
        &self,
        account_id: i64,
        id: i64,
        audit: &AuditEntry,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        lock_account(&mut tx, account_id, now).await?;
        live_one(&mut tx, account_id, id).await?;
        make_default(&mut tx, account_id, id).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await
    }
}

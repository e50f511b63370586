//! The catalogue's tables: products, regions, stores (outlets), scopes with their member
//! regions and stores, and packages.

use shuipiao_shared::ids::{ProductCode, ScopeId};
use sqlx::AnyConnection;

use crate::store::models::{NewPackage, NewScope, Outlet, Package, Product, Region, Scope};
use crate::store::{StoreError, StoreResult, rows};

/// Inserts a product.
pub(super) async fn insert_product(conn: &mut AnyConnection, product: &Product) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO products (code, name, volume_ml, deposit_fen) VALUES ($1, $2, $3, $4)",
    )
    .bind(i64::from(product.code.0))
    .bind(&product.name)
    .bind(i64::from(product.volume_ml))
    .bind(product.deposit_fen)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets a product's deposit per bucket; `NotFound` if there is no such product.
pub(super) async fn set_deposit(
    conn: &mut AnyConnection,
    code: ProductCode,
    deposit_fen: i64,
) -> StoreResult<()> {
    let changed = sqlx::query("UPDATE products SET deposit_fen = $1 WHERE code = $2")
        .bind(deposit_fen)
        .bind(i64::from(code.0))
        .execute(conn)
        .await?
        .rows_affected();
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Every product by code.
pub(super) async fn products(conn: &mut AnyConnection) -> StoreResult<Vec<Product>> {
    let found =
        sqlx::query("SELECT code, name, volume_ml, deposit_fen FROM products ORDER BY code")
            .fetch_all(conn)
            .await?;
    found.iter().map(rows::product).collect()
}

/// The product with `code`.
pub(super) async fn product(conn: &mut AnyConnection, code: ProductCode) -> StoreResult<Product> {
    let row =
        sqlx::query("SELECT code, name, volume_ml, deposit_fen FROM products WHERE code = $1")
            .bind(i64::from(code.0))
            .fetch_one(conn)
            .await?;
    rows::product(&row)
}

/// Inserts a region.
pub(super) async fn insert_region(conn: &mut AnyConnection, name: &str) -> StoreResult<Region> {
    let row = sqlx::query("INSERT INTO regions (name) VALUES ($1) RETURNING id, name")
        .bind(name)
        .fetch_one(conn)
        .await?;
    rows::region(&row)
}

/// Every region by id.
pub(super) async fn regions(conn: &mut AnyConnection) -> StoreResult<Vec<Region>> {
    let found = sqlx::query("SELECT id, name FROM regions ORDER BY id")
        .fetch_all(conn)
        .await?;
    found.iter().map(rows::region).collect()
}

/// Inserts a store in a region.
pub(super) async fn insert_outlet(
    conn: &mut AnyConnection,
    region_id: i64,
    name: &str,
) -> StoreResult<Outlet> {
    let row = sqlx::query(
        "INSERT INTO outlets (region_id, name) VALUES ($1, $2) RETURNING id, region_id, name",
    )
    .bind(region_id)
    .bind(name)
    .fetch_one(conn)
    .await?;
    rows::outlet(&row)
}

/// Every store by id.
pub(super) async fn outlets(conn: &mut AnyConnection) -> StoreResult<Vec<Outlet>> {
    let found = sqlx::query("SELECT id, region_id, name FROM outlets ORDER BY id")
        .fetch_all(conn)
        .await?;
    found.iter().map(rows::outlet).collect()
}

/// Inserts a scope and its member regions and stores.
pub(super) async fn insert_scope(conn: &mut AnyConnection, scope: &NewScope) -> StoreResult<Scope> {
    let id: i64 = sqlx::query_scalar("INSERT INTO scopes (name) VALUES ($1) RETURNING id")
        .bind(&scope.name)
        .fetch_one(&mut *conn)
        .await?;
    for region_id in &scope.region_ids {
        sqlx::query("INSERT INTO scope_regions (scope_id, region_id) VALUES ($1, $2)")
            .bind(id)
            .bind(region_id)
            .execute(&mut *conn)
            .await?;
    }
    for outlet_id in &scope.outlet_ids {
        sqlx::query("INSERT INTO scope_outlets (scope_id, outlet_id) VALUES ($1, $2)")
            .bind(id)
            .bind(outlet_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(Scope {
        id: scope_id(id)?,
        name: scope.name.clone(),
        region_ids: scope.region_ids.clone(),
        outlet_ids: scope.outlet_ids.clone(),
    })
}

/// Every scope by id with its members.
pub(super) async fn scopes(conn: &mut AnyConnection) -> StoreResult<Vec<Scope>> {
    // Three statements whatever the number of scopes: every push reads them (the scopes a
    // device serves), so no statement per scope.
    let found: Vec<(i64, String)> = sqlx::query_as("SELECT id, name FROM scopes ORDER BY id")
        .fetch_all(&mut *conn)
        .await?;
    let members = |sql| sqlx::query_as::<_, (i64, i64)>(sql);
    let regions = members("SELECT scope_id, region_id FROM scope_regions ORDER BY 1, 2")
        .fetch_all(&mut *conn)
        .await?;
    let outlets = members("SELECT scope_id, outlet_id FROM scope_outlets ORDER BY 1, 2")
        .fetch_all(&mut *conn)
        .await?;
    let of = |pairs: &[(i64, i64)], scope: i64| -> Vec<i64> {
        pairs
            .iter()
            .filter(|(id, _)| *id == scope)
            .map(|(_, member)| *member)
            .collect()
    };
    found
        .into_iter()
        .map(|(id, name)| {
            Ok(Scope {
                id: scope_id(id)?,
                name,
                region_ids: of(&regions, id),
                outlet_ids: of(&outlets, id),
            })
        })
        .collect()
}

/// A stored scope id as the protocol's.
fn scope_id(id: i64) -> StoreResult<ScopeId> {
    Ok(ScopeId(
        u32::try_from(id).map_err(|_| rows::corrupt("scopes.id"))?,
    ))
}

/// Inserts a package.
pub(super) async fn insert_package(
    conn: &mut AnyConnection,
    package: &NewPackage,
) -> StoreResult<Package> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO packages (name, price_fen, paid_units, bonus_units, validity_days, \
         product_code, scope_id, holder_bound) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         RETURNING id",
    )
    .bind(&package.name)
    .bind(package.price_fen)
    .bind(i64::from(package.paid_units))
    .bind(i64::from(package.bonus_units))
    .bind(i64::from(package.validity_days))
    .bind(i64::from(package.product.0))
    .bind(i64::from(package.scope.0))
    .bind(i64::from(package.holder_bound))
    .fetch_one(conn)
    .await?;
    Ok(Package {
        id,
        spec: package.clone(),
        retired_at: None,
    })
}

/// Takes package `id` off sale at `now`; `false` if it was off sale already, `NotFound` if there
/// is none.
pub(super) async fn retire_package(
    conn: &mut AnyConnection,
    id: i64,
    now: i64,
) -> StoreResult<bool> {
    let changed =
        sqlx::query("UPDATE packages SET retired_at = $1 WHERE id = $2 AND retired_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    if changed == 0 {
        package(conn, id).await?;
    }
    Ok(changed > 0)
}

/// The package with `id`.
pub(super) async fn package(conn: &mut AnyConnection, id: i64) -> StoreResult<Package> {
    let row = sqlx::query("SELECT * FROM packages WHERE id = $1")
        .bind(id)
        .fetch_one(conn)
        .await?;
    rows::package(&row)
}

/// Every package by id.
pub(super) async fn packages(conn: &mut AnyConnection) -> StoreResult<Vec<Package>> {
    let found = sqlx::query("SELECT * FROM packages ORDER BY id")
        .fetch_all(conn)
        .await?;
    found.iter().map(rows::package).collect()
}

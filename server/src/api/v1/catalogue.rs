//! The catalogue: products, regions, stores, scopes and packages. The rules are in
//! [`crate::catalogue`]; these handlers parse and present.

use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;
use shuipiao_shared::ids::ProductCode;
use utoipa::ToSchema;

use crate::catalogue::{self, PackageDraft};
use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::store::models::{NewPackage, NewScope, Outlet, Package, Product, Region, Scope};

/// Lists products.
#[utoipa::path(get, path = "/api/v1/products", tag = "catalogue", responses((status = 200, body = Vec<Product>)))]
pub async fn list_products(State(state): State<AppState>) -> Result<Json<Vec<Product>>, ApiError> {
    Ok(Json(state.store.products().await?))
}

/// Adds a product.
#[utoipa::path(post, path = "/api/v1/products", tag = "catalogue", request_body = Product, responses((status = 200, body = Product), (status = 400), (status = 409)))]
pub async fn create_product(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    ApiJson(product): ApiJson<Product>,
) -> Result<Json<Product>, ApiError> {
    Ok(Json(
        catalogue::create_product(&state.store, &product, Some(user.0.id), crate::unix_now())
            .await?,
    ))
}

/// `PUT /api/v1/products/{code}/deposit`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepositBody {
    /// Deposit per bucket in fen, 0–100 000.
    pub deposit_fen: i64,
}

/// Sets a product's deposit per bucket (押金).
#[utoipa::path(put, path = "/api/v1/products/{code}/deposit", tag = "catalogue", request_body = DepositBody,
    params(("code" = u16, Path, description = "product code")),
    responses((status = 200, body = Product), (status = 400)))]
pub async fn set_deposit(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    ApiPath(code): ApiPath<u16>,
    ApiJson(body): ApiJson<DepositBody>,
) -> Result<Json<Product>, ApiError> {
    let code = ProductCode(code);
    catalogue::set_deposit(
        &state.store,
        code,
        body.deposit_fen,
        Some(user.0.id),
        crate::unix_now(),
    )
    .await?;
    Ok(Json(state.store.product(code).await?))
}

/// `POST /api/v1/regions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRegion {
    /// Name, e.g. 武汉.
    #[schema(min_length = 1, max_length = 40)]
    pub name: String,
}

/// Lists regions.
#[utoipa::path(get, path = "/api/v1/regions", tag = "catalogue", responses((status = 200, body = Vec<Region>)))]
pub async fn list_regions(State(state): State<AppState>) -> Result<Json<Vec<Region>>, ApiError> {
    Ok(Json(state.store.regions().await?))
}

/// Adds a region.
#[utoipa::path(post, path = "/api/v1/regions", tag = "catalogue", request_body = NewRegion, responses((status = 200, body = Region), (status = 400), (status = 409)))]
pub async fn create_region(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    ApiJson(region): ApiJson<NewRegion>,
) -> Result<Json<Region>, ApiError> {
    Ok(Json(
        catalogue::create_region(
            &state.store,
            &region.name,
            Some(user.0.id),
            crate::unix_now(),
        )
        .await?,
    ))
}

/// `POST /api/v1/outlets`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOutlet {
    /// Region.
    pub region_id: i64,
    /// Name.
    #[schema(min_length = 1, max_length = 40)]
    pub name: String,
}

/// Lists stores.
#[utoipa::path(get, path = "/api/v1/outlets", tag = "catalogue", responses((status = 200, body = Vec<Outlet>)))]
pub async fn list_outlets(State(state): State<AppState>) -> Result<Json<Vec<Outlet>>, ApiError> {
    Ok(Json(state.store.outlets().await?))
}

/// Adds a store.
#[utoipa::path(post, path = "/api/v1/outlets", tag = "catalogue", request_body = NewOutlet, responses((status = 200, body = Outlet), (status = 400), (status = 409)))]
pub async fn create_outlet(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    ApiJson(outlet): ApiJson<NewOutlet>,
) -> Result<Json<Outlet>, ApiError> {
    Ok(Json(
        catalogue::create_outlet(
            &state.store,
            outlet.region_id,
            &outlet.name,
            Some(user.0.id),
            crate::unix_now(),
        )
        .await?,
    ))
}

/// Lists scopes.
#[utoipa::path(get, path = "/api/v1/scopes", tag = "catalogue", responses((status = 200, body = Vec<Scope>)))]
pub async fn list_scopes(State(state): State<AppState>) -> Result<Json<Vec<Scope>>, ApiError> {
    Ok(Json(state.store.scopes().await?))
}

/// Adds a scope.
#[utoipa::path(post, path = "/api/v1/scopes", tag = "catalogue", request_body = NewScope, responses((status = 200, body = Scope), (status = 400), (status = 409)))]
pub async fn create_scope(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    ApiJson(scope): ApiJson<NewScope>,
) -> Result<Json<Scope>, ApiError> {
    Ok(Json(
        catalogue::create_scope(&state.store, &scope, Some(user.0.id), crate::unix_now()).await?,
    ))
}

/// Lists packages.
#[utoipa::path(get, path = "/api/v1/packages", tag = "catalogue", responses((status = 200, body = Vec<Package>)))]
pub async fn list_packages(State(state): State<AppState>) -> Result<Json<Vec<Package>>, ApiError> {
    Ok(Json(state.store.packages().await?))
}

/// Takes a package off sale (停售): it issues no new books; its books stay valid.
#[utoipa::path(post, path = "/api/v1/packages/{id}/retire", tag = "catalogue",
    params(("id" = i64, Path, description = "package id")),
    responses((status = 200, body = Package), (status = 400)))]
pub async fn retire_package(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Package>, ApiError> {
    Ok(Json(
        catalogue::retire_package(&state.store, id, Some(user.0.id), crate::unix_now()).await?,
    ))
}

/// Adds a package.
#[utoipa::path(post, path = "/api/v1/packages", tag = "catalogue", request_body = NewPackage, responses((status = 200, body = Package), (status = 400), (status = 409)))]
pub async fn create_package(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    ApiJson(package): ApiJson<NewPackage>,
) -> Result<Json<Package>, ApiError> {
    let draft = PackageDraft::new(&package)?;
    Ok(Json(
        catalogue::create_package(&state.store, &draft, Some(user.0.id), crate::unix_now()).await?,
    ))
}

//! 区域与门店 (admins): the plant's regions, stores (门店) and scopes (使用范围: where a package's
//! books may be redeemed), and the forms that add them. The rules are [`crate::catalogue`]'s, the
//! same as the API's; the handlers only read the forms.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use crate::catalogue;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::store::models::{NewScope, Outlet, Region};
use crate::web::admin::{Admin, Chrome, DoneQuery, done};
use crate::web::{PageError, PageQuery};

/// A region as its row shows it.
struct RegionRow {
    name: String,
    outlets: Vec<String>,
}

/// A scope as its row shows it.
struct ScopeRow {
    id: u32,
    name: String,
    places: String,
}

#[derive(Template)]
#[template(path = "admin/places.html")]
struct PlacesPage {
    chrome: Chrome,
    rows: Vec<RegionRow>,
    regions: Vec<Region>,
    outlets: Vec<Outlet>,
    scopes: Vec<ScopeRow>,
}

/// `GET /admin/places`.
pub async fn show(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(query): PageQuery<DoneQuery>,
) -> Result<Response, PageError> {
    let store = &state.store;
    let regions = store.regions().await?;
    let outlets = store.outlets().await?;
    let region_name = |id: i64| {
        regions
            .iter()
            .find(|r| r.id == id)
            .map_or_else(|| format!("区域 {id}"), |r| r.name.clone())
    };
    let outlet_name = |id: i64| {
        outlets
            .iter()
            .find(|o| o.id == id)
            .map_or_else(|| format!("门店 {id}"), |o| o.name.clone())
    };
    let rows = regions
        .iter()
        .map(|region| RegionRow {
            name: region.name.clone(),
            outlets: outlets
                .iter()
                .filter(|o| o.region_id == region.id)
                .map(|o| o.name.clone())
                .collect(),
        })
        .collect();
    let scopes = store
        .scopes()
        .await?
        .into_iter()
        .map(|scope| {
            let places: Vec<String> = scope
                .region_ids
                .iter()
                .map(|&id| region_name(id))
                .chain(scope.outlet_ids.iter().map(|&id| outlet_name(id)))
                .collect();
            ScopeRow {
                id: scope.id.0,
                name: scope.name,
                places: places.join("、"),
            }
        })
        .collect();
    Ok(admin.send(&PlacesPage {
        chrome: admin.chrome("/admin/places", query.done.as_deref()),
        rows,
        regions,
        outlets,
        scopes,
    }))
}

/// The new-region form as typed.
#[derive(Debug, Default, Deserialize)]
pub struct RegionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

/// `POST /admin/regions`.
pub async fn create_region(
    State(state): State<AppState>,
    admin: Admin,
    Form(form): Form<RegionForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    catalogue::create_region(
        &state.store,
        &form.name,
        Some(admin.user.id),
        crate::unix_now(),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(done("/admin/places", "region_created"))
}

/// The new-store form as typed.
#[derive(Debug, Default, Deserialize)]
pub struct OutletForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    name: String,
}

/// `POST /admin/outlets`.
pub async fn create_outlet(
    State(state): State<AppState>,
    admin: Admin,
    Form(form): Form<OutletForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    let region = form
        .region
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request(catalogue::NO_SUCH_REGION))?;
    catalogue::create_outlet(
        &state.store,
        region,
        &form.name,
        Some(admin.user.id),
        crate::unix_now(),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(done("/admin/places", "outlet_created"))
}

/// `POST /admin/scopes`: the name and the ticked regions and stores, read from the raw form
/// since a checkbox list repeats its field.
pub async fn create_scope(
    State(state): State<AppState>,
    admin: Admin,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    };
    admin.check_form(field("csrf"))?;
    let ids = |name: &str, message: &'static str| -> Result<Vec<i64>, ApiError> {
        fields
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| {
                value
                    .trim()
                    .parse()
                    .map_err(|_| ApiError::bad_request(message))
            })
            .collect()
    };
    let scope = NewScope {
        name: field("name").to_string(),
        region_ids: ids("region", catalogue::NO_SUCH_REGION)?,
        outlet_ids: ids("outlet", catalogue::NO_SUCH_OUTLET)?,
    };
    catalogue::create_scope(&state.store, &scope, Some(admin.user.id), crate::unix_now())
        .await
        .map_err(ApiError::from)?;
    Ok(done("/admin/places", "scope_created"))
}

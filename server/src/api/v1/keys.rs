//! Issuer keys: list, rotate, mark compromised (optionally reissuing affected books).

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use shuipiao_shared::keyring::Kid;
use utoipa::ToSchema;

use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::issuance;
use crate::keys;
use crate::store::models::{KeyPurpose, KeyStatus, SigningKeyRow};

/// A key as shown to admins (public half only).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyView {
    /// Key id, hex.
    pub kid: String,
    /// Root or issuer.
    pub purpose: KeyPurpose,
    /// Public key, hex.
    pub public_key: String,
    /// Unix seconds.
    pub not_before: u32,
    /// Unix seconds.
    pub not_after: u32,
    /// State.
    pub status: KeyStatus,
    /// When compromised.
    pub compromised_since: Option<u32>,
}

fn view(row: SigningKeyRow) -> KeyView {
    KeyView {
        kid: Kid(row.kid).to_string(),
        purpose: row.purpose,
        public_key: data_encoding::HEXLOWER.encode(&row.public_key),
        not_before: row.not_before,
        not_after: row.not_after,
        status: row.status,
        compromised_since: row.compromised_since,
    }
}

/// Lists keys.
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys", responses((status = 200, body = Vec<KeyView>)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<KeyView>>, ApiError> {
    Ok(Json(
        state
            .store
            .signing_keys()
            .await?
            .into_iter()
            .map(view)
            .collect(),
    ))
}

/// Makes a new issuer key and retires the old one.
#[utoipa::path(post, path = "/api/v1/keys/rotate", tag = "keys", responses((status = 200, body = KeyView)))]
pub async fn rotate(
    State(state): State<AppState>,
    Extension(CurrentUser(actor)): Extension<CurrentUser>,
) -> Result<Json<KeyView>, ApiError> {
    let row = keys::rotate_issuer(
        &state.store,
        &state.master,
        Some(actor.id),
        crate::unix_now(),
    )
    .await?;
    Ok(Json(view(row)))
}

/// `POST /api/v1/keys/{kid}/compromise`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Compromise {
    /// From when books under the key are refused (unix seconds); now if absent.
    pub since: Option<u32>,
    /// Also reissue every live book signed by the key under the new key.
    #[serde(default)]
    pub reissue: bool,
}

/// What a compromise did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CompromiseResult {
    /// Ids of the books issued in place of affected ones.
    pub reissued_books: Vec<u64>,
}

/// Marks an issuer key compromised.
#[utoipa::path(post, path = "/api/v1/keys/{kid}/compromise", tag = "keys", request_body = Compromise,
    params(("kid" = String, Path, description = "key id, 8 hex digits")), responses((status = 200, body = CompromiseResult), (status = 404)))]
pub async fn compromise(
    State(state): State<AppState>,
    Extension(CurrentUser(actor)): Extension<CurrentUser>,
    ApiPath(kid): ApiPath<String>,
    ApiJson(request): ApiJson<Compromise>,
) -> Result<Json<CompromiseResult>, ApiError> {
    let kid = keys::parse_kid(&kid)
        .ok_or_else(|| ApiError::bad_request("密钥编号必须是 8 位十六进制"))?;
    let now = crate::unix_now();
    let since = request.since.unwrap_or(now.max(0) as u32);
    keys::mark_compromised(&state.store, &state.master, kid, since, Some(actor.id), now).await?;
    let reissued = if request.reissue {
        issuance::reissue_compromised(&state.store, &state.master, kid, Some(actor.id), now).await?
    } else {
        Vec::new()
    };
    Ok(Json(CompromiseResult {
        reissued_books: reissued.iter().map(|b| b.issued.id.0).collect(),
    }))
}

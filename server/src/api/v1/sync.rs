//! Device sync (docs/protocol.md, "Sync API and versioning"): push events, pull changed book statuses, fetch the status
//! snapshot, ask where the stored chain ends, pull the courier's delivery list.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use shuipiao_shared::delivery::{DeliveriesQuery, DeliveriesResponse};
use shuipiao_shared::sync::{
    MAX_PUSH_EVENTS, PullQuery, PullResponse, PushRequest, PushResponse, SyncStatusResponse,
};

use crate::deliveries;
use crate::http::AppState;
use crate::http::auth::CurrentDevice;
use crate::http::error::{ApiError, ApiJson, ApiQuery};
use crate::keys;
use crate::sync::{self, PushError};

/// Uploads events; one verdict per event, never all-or-nothing, and retries are harmless.
#[utoipa::path(post, path = "/api/v1/sync/push", tag = "sync",
    request_body = PushRequest,
    responses((status = 200, body = PushResponse, description = "one verdict per event"), (status = 400, description = "malformed or too many events")))]
pub async fn push(
    State(state): State<AppState>,
    Extension(CurrentDevice(device)): Extension<CurrentDevice>,
    ApiJson(request): ApiJson<PushRequest>,
) -> Result<Json<PushResponse>, ApiError> {
    let now = crate::unix_now();
    let results = sync::push(&state.store, &device, &request.events, now)
        .await
        .map_err(|err| match err {
            PushError::TooMany => {
                ApiError::bad_request(format!("一次最多上传 {MAX_PUSH_EVENTS} 条记录"))
            }
            PushError::Store(err) => err.into(),
        })?;
    state
        .metrics
        .record_verdicts(results.iter().map(|r| r.verdict));
    Ok(Json(PushResponse {
        results,
        server_time: now.max(0) as u64,
    }))
}

/// Book statuses changed after the cursor, plus a newer keyring bundle if there is one.
#[utoipa::path(get, path = "/api/v1/sync/pull", tag = "sync",
    params(("cursor" = u64, Query, description = "next_cursor of the previous pull; 0 at first"),
           ("keyring_version" = Option<u64>, Query, description = "keyring version held"),
           ("limit" = Option<u32>, Query, description = "most rows wanted"),
           ("pending_events" = Option<u64>, Query, description = "events the device holds that the server has not stored; shown on the device list"),
           ("last_sync_error" = Option<String>, Query, description = "the device's previous failed sync, at most 200 characters")),
    responses((status = 200, body = PullResponse), (status = 400, description = "malformed query or report")))]
pub async fn pull(
    State(state): State<AppState>,
    Extension(CurrentDevice(device)): Extension<CurrentDevice>,
    ApiQuery(query): ApiQuery<PullQuery>,
) -> Result<Json<PullResponse>, ApiError> {
    if let Some(pending) = query.pending_events {
        let error = query.last_sync_error.as_deref();
        sync::report(&state.store, &device, pending, error, crate::unix_now()).await?;
    }
    let page = state.config.pull_page_size;
    let limit = query.limit.unwrap_or(page).clamp(1, page);
    let statuses = state.store.pull_statuses(query.cursor, limit).await?;
    let keyring = state
        .store
        .latest_keyring_bundle()
        .await?
        .filter(|(version, _)| *version > query.keyring_version)
        .map(|(_, bundle)| bundle);
    Ok(Json(PullResponse {
        next_cursor: statuses.last().map_or(query.cursor, |row| row.seq),
        has_more: statuses.len() == limit as usize,
        statuses,
        keyring,
        server_time: crate::unix_now().max(0) as u64,
    }))
}

/// The root-signed snapshot of the revoked and used-up books (`shared::status`, "SPS1"), for a
/// device that is new or far behind: it loads the sets in one go and pulls rows after the
/// snapshot's sequence.
#[utoipa::path(get, path = "/api/v1/sync/snapshot", tag = "sync",
    responses((status = 200, description = "shuipiao_shared::status::StatusSnapshot, signed", content_type = "application/octet-stream")))]
pub async fn snapshot(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let bytes = keys::status_snapshot(&state.store, &state.master, crate::unix_now()).await?;
    Ok(([(CONTENT_TYPE, "application/octet-stream")], bytes))
}

/// Where the server's copy of this device's chain ends.
#[utoipa::path(get, path = "/api/v1/sync/status", tag = "sync",
    responses((status = 200, body = SyncStatusResponse)))]
pub async fn status(
    State(state): State<AppState>,
    Extension(CurrentDevice(device)): Extension<CurrentDevice>,
) -> Result<Json<SyncStatusResponse>, ApiError> {
    let tip = state.store.chain_tip(device.id).await?;
    Ok(Json(SyncStatusResponse {
        device_id: device.id,
        last_device_seq: tip.device_seq,
        last_hash: tip.hash,
        server_time: crate::unix_now().max(0) as u64,
    }))
}

/// The courier's delivery feed after the cursor, each order as it is now; pulling at or beyond
/// an assigned order's row marks it 配送中. A store counter's device is refused.
#[utoipa::path(get, path = "/api/v1/sync/deliveries", tag = "sync",
    params(("cursor" = u64, Query, description = "next_cursor of the previous delivery pull; 0 at first"),
           ("limit" = Option<u32>, Query, description = "most rows wanted")),
    responses((status = 200, body = DeliveriesResponse),
              (status = 400, description = "malformed query"),
              (status = 403, description = "not a courier's device")))]
pub async fn deliveries(
    State(state): State<AppState>,
    Extension(CurrentDevice(device)): Extension<CurrentDevice>,
    ApiQuery(query): ApiQuery<DeliveriesQuery>,
) -> Result<Json<DeliveriesResponse>, ApiError> {
    let page = deliveries::pull(
        &state.store,
        &state.master,
        &device,
        query.cursor,
        query.limit,
        state.config.pull_page_size,
        crate::unix_now(),
    )
    .await?;
    Ok(Json(page))
}

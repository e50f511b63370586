//! The review queue of flagged redemptions and the operator's resolutions.

use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;
use shuipiao_shared::ids::EventId;
use shuipiao_shared::ledger::ResolutionAction;
use shuipiao_shared::status::StatusRow;
use utoipa::ToSchema;

use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::review;
use crate::store::models::ReviewItem;

/// Query of the review list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewQuery {
    /// Include resolved items.
    #[serde(default)]
    pub all: bool,
}

/// Lists review items (open ones unless `all=true`): one per event, with every reason and its
/// zh-CN label.
#[utoipa::path(get, path = "/api/v1/review", tag = "review",
    params(("all" = Option<bool>, Query, description = "include resolved items")), responses((status = 200, body = Vec<ReviewItem>)))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ReviewQuery>,
) -> Result<Json<Vec<ReviewItem>>, ApiError> {
    Ok(Json(state.store.review_queue(!query.all).await?))
}

/// `POST /api/v1/review/{event_id}/resolve`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    /// `charge`, `write_off` or `void`.
    #[schema(value_type = String)]
    pub action: ResolutionAction,
    /// Why.
    #[serde(default)]
    pub note: String,
}

/// Resolves a review item; the resolution is itself a ledger event.
#[utoipa::path(post, path = "/api/v1/review/{event_id}/resolve", tag = "review", request_body = Resolve,
    params(("event_id" = String, Path, description = "the flagged event")),
    responses((status = 200, description = "the book's new status row (shuipiao_shared::status::StatusRow), or null for an item about no book"), (status = 404), (status = 409)))]
pub async fn resolve(
    State(state): State<AppState>,
    Extension(CurrentUser(operator)): Extension<CurrentUser>,
    ApiPath(event_id): ApiPath<uuid::Uuid>,
    ApiJson(request): ApiJson<Resolve>,
) -> Result<Json<Option<StatusRow>>, ApiError> {
    let row = review::resolve(
        &state.store,
        EventId(event_id),
        request.action,
        &request.note,
        operator.id,
        "api",
        crate::unix_now(),
    )
    .await?;
    Ok(Json(row))
}

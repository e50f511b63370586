//! The review queue: one item per flagged event with every reason it is there (over-redeemed,
//! after revocation, a device flag, a redemption outside its book's terms, an odd void or
//! courier, an odd delivery of an order), the operator's charge / write-off / void (an order's
//! item is only marked handled), and the trail of past decisions from the audit log.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use shuipiao_shared::ids::{DeviceId, EventId};
use shuipiao_shared::ledger::ResolutionAction;

use crate::http::AppState;
use crate::http::error::ApiError;
use crate::local_time;
use crate::review::{self, ReviewError};
use crate::store::StoreError;
use crate::store::models::ReviewItem;
use crate::web::admin::users::{AuditRow, audit_rows};
use crate::web::admin::{Admin, Chrome, done};
use crate::web::{PageError, PagePath, PageQuery};

/// Past decisions shown under the queue.
const TRAIL_LENGTH: usize = 20;
/// Audit entries searched for them.
const AUDIT_WINDOW: u32 = 1_000;

fn action_label(action: ResolutionAction) -> &'static str {
    match action {
        ResolutionAction::Charge => "向客户收费",
        ResolutionAction::WriteOff => "水厂承担(核销)",
        ResolutionAction::Void => "作废此次核销",
    }
}

fn parse_action(text: &str) -> Option<ResolutionAction> {
    match text {
        "charge" => Some(ResolutionAction::Charge),
        "write_off" => Some(ResolutionAction::WriteOff),
        "void" => Some(ResolutionAction::Void),
        _ => None,
    }
}

struct ItemRow {
    event_id: String,
    book_id: Option<u64>,
    order_id: Option<u64>,
    reasons: String,
    device: String,
    scanned: String,
    queued: String,
    resolution: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "admin/review.html")]
struct ReviewPage {
    chrome: Chrome,
    items: Vec<ItemRow>,
    trail: Vec<AuditRow>,
    show_all: bool,
    open: usize,
}

/// Query of the review page.
#[derive(Debug, Default, Deserialize)]
pub struct ReviewQuery {
    #[serde(default)]
    all: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

fn item_row(item: &ReviewItem, devices: &HashMap<DeviceId, String>) -> ItemRow {
    ItemRow {
        event_id: item.event_id.to_string(),
        book_id: item.book_id.map(|id| id.0),
        order_id: item.order_id,
        reasons: item.labels.join(";"),
        device: devices
            .get(&item.device_id)
            .cloned()
            .unwrap_or_else(|| format!("设备 {}", item.device_id)),
        scanned: local_time::minute(item.scanned_at as i64),
        queued: local_time::minute(item.created_at),
        resolution: item.resolution.map(|action| match item.order_id {
            Some(_) => "已处理",
            None => action_label(action),
        }),
    }
}

/// `GET /admin/review` (`?all=1` includes resolved items).
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(query): PageQuery<ReviewQuery>,
) -> Result<Response, PageError> {
    let store = &state.store;
    let show_all = query.all.is_some();
    let devices: HashMap<DeviceId, String> = store
        .devices()
        .await?
        .into_iter()
        .map(|d| (d.id, d.name))
        .collect();
    let queue = store.review_queue(!show_all).await?;
    let open = queue.iter().filter(|i| i.resolution.is_none()).count();
    let trail = audit_rows(store, AUDIT_WINDOW)
        .await?
        .into_iter()
        .filter(|r| r.action == "review.resolve")
        .take(TRAIL_LENGTH)
        .collect();
    Ok(admin.send(&ReviewPage {
        chrome: admin.chrome("/admin/review", query.done.as_deref()),
        items: queue.iter().map(|i| item_row(i, &devices)).collect(),
        trail,
        show_all,
        open,
    }))
}

/// The resolve form.
#[derive(Debug, Deserialize)]
pub struct ResolveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    note: String,
}

/// `POST /admin/review/{event_id}/resolve`.
pub async fn resolve(
    State(state): State<AppState>,
    admin: Admin,
    PagePath(event_id): PagePath<uuid::Uuid>,
    Form(form): Form<ResolveForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    let action = parse_action(&form.action)
        .ok_or_else(|| ApiError::bad_request("请选择处理方式:收费、核销或作废"))?;
    review::resolve(
        &state.store,
        EventId(event_id),
        action,
        &form.note,
        admin.user.id,
        "admin",
        crate::unix_now(),
    )
    .await
    .map_err(|err| match err {
        ReviewError::Store(StoreError::NotFound) => ApiError::bad_request("该冲突不存在"),
        other => other.into(),
    })?;
    Ok(done("/admin/review", "resolved"))
}

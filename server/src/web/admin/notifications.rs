//! The notification outbox as support sees it: every message with its channel, state and last
//! error, filtered by state, channel, kind and the customer's phone (found through the phone's
//! blind index), and a resend for a message whose delivery failed. Codes show masked
//! (验证码是******): the stored text never holds them, so support cannot sign in as a customer.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use crate::http::AppState;
use crate::http::error::ApiError;
use crate::local_time;
use crate::notify;
use crate::pii::Phone;
use crate::store::StoreError;
use crate::store::models::{
    Channel, MessageKind, Notification, NotificationFilter, NotificationState,
};
use crate::web::admin::{Admin, Chrome, PlainForm, done};
use crate::web::{PageError, PagePath, PageQuery};

/// Rows on one page: the newest messages matching the filter.
const PAGE_ROWS: u32 = 200;

/// The `failed` choice of the state filter: dead, or pending after a failed attempt.
const FAILED: &str = "failed";

struct MessageRow {
    id: i64,
    at: String,
    to: String,
    channel: &'static str,
    kind: &'static str,
    body: String,
    state: &'static str,
    state_label: &'static str,
    attempts: u32,
    last_error: String,
    can_resend: bool,
}

#[derive(Template)]
#[template(path = "admin/notifications.html")]
struct NotificationsPage {
    chrome: Chrome,
    query: NotificationsQuery,
    states: Vec<(&'static str, &'static str)>,
    channels: Vec<(&'static str, &'static str)>,
    kinds: Vec<(&'static str, &'static str)>,
    rows: Vec<MessageRow>,
    error: Option<String>,
}

/// Filters of the page; an empty field matches everything.
#[derive(Debug, Default, Deserialize)]
pub struct NotificationsQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    phone: String,
    /// Only the last N days (the dashboard's 7-day count links here).
    #[serde(default)]
    days: Option<u32>,
    #[serde(default)]
    done: Option<String>,
}

fn row(master: &crate::config::MasterKey, message: Notification) -> MessageRow {
    MessageRow {
        id: message.id,
        at: local_time::minute(message.created_at),
        to: Phone::open(master, &message.spec.recipient_sealed)
            .map_or_else(|_| "无法解密".into(), |phone| phone.masked()),
        channel: message.spec.channel.label(),
        kind: message.spec.kind.label(),
        can_resend: message.failed(),
        state: message.state.as_str(),
        state_label: if message.failed() && message.state == NotificationState::Pending {
            "重试中"
        } else {
            message.state.label()
        },
        attempts: message.attempts,
        last_error: message.last_error.unwrap_or_default(),
        body: message.spec.body,
    }
}

/// A filter field, `None` when left empty.
fn pick(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

/// The store filter the query names, or the zh-CN reason it names none.
async fn filter(
    state: &AppState,
    query: &NotificationsQuery,
    now: i64,
) -> Result<NotificationFilter, String> {
    let mut filter = NotificationFilter {
        failed: query.state == FAILED,
        since: query.days.map(|days| now - i64::from(days) * 86_400),
        ..NotificationFilter::default()
    };
    if let Some(text) = pick(&query.state).filter(|text| *text != FAILED) {
        filter.state = Some(NotificationState::parse(text).ok_or("未知的发送状态")?);
    }
    if let Some(text) = pick(&query.channel) {
        filter.channel = Some(Channel::parse(text).ok_or("未知的发送渠道")?);
    }
    if let Some(text) = pick(&query.kind) {
        filter.kind = Some(MessageKind::parse(text).ok_or("未知的通知类型")?);
    }
    if let Some(text) = pick(query.phone.trim()) {
        let phone = Phone::parse(text).map_err(|err| err.to_string())?;
        let user = match state.store.user_by_phone(&phone.index(&state.master)).await {
            Ok(user) => user,
            Err(StoreError::NotFound) => return Err("该手机号没有注册账户".into()),
            Err(err) => return Err(ApiError::from(err).message),
        };
        filter.user_id = Some(user.id);
    }
    Ok(filter)
}

/// `GET /admin/notifications`.
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(query): PageQuery<NotificationsQuery>,
) -> Result<Response, PageError> {
    let (rows, error) = match filter(&state, &query, crate::unix_now()).await {
        Ok(filter) => {
            let found = state.store.list_notifications(&filter, PAGE_ROWS).await?;
            let rows = found.into_iter().map(|m| row(&state.master, m)).collect();
            (rows, None)
        }
        Err(reason) => (Vec::new(), Some(reason)),
    };
    let mut states: Vec<_> = [
        NotificationState::Pending,
        NotificationState::Sent,
        NotificationState::Dead,
    ]
    .into_iter()
    .map(|s| (s.as_str(), s.label()))
    .collect();
    states.push((FAILED, "发送失败(含重试中)"));
    Ok(admin.send(&NotificationsPage {
        chrome: admin.chrome("/admin/notifications", query.done.as_deref()),
        states,
        channels: Channel::ALL.map(|c| (c.as_str(), c.label())).to_vec(),
        kinds: MessageKind::ALL.map(|k| (k.as_str(), k.label())).to_vec(),
        rows,
        error,
        query,
    }))
}

/// `POST /admin/notifications/{id}/resend`: queues a failed message again, due now
/// ([`notify::resend`]).
pub async fn resend(
    State(state): State<AppState>,
    admin: Admin,
    PagePath(id): PagePath<i64>,
    Form(form): Form<PlainForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    notify::resend(&state.store, id, admin.user.id, crate::unix_now())
        .await
        .map_err(ApiError::from)?;
    Ok(done("/admin/notifications", "resent"))
}

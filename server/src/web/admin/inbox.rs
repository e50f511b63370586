//! The support desk's inbox: customer feedback and problems from the wallet (领不到水票, 无法核销,
//! 丢失, delivery ratings), each with its state and the support staff member working on it.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use shuipiao_shared::ids::UserId;

use crate::http::AppState;
use crate::http::error::ApiError;
use crate::local_time;
use crate::store::models::{AuditEntry, Feedback, Role};
use crate::store::{Store, StoreError};
use crate::web::admin::{Admin, Chrome, done};
use crate::web::{PageError, PagePath, PageQuery};

/// The states of a ticket, in working order, with their labels.
const STATES: [(&str, &str); 3] = [
    ("open", "待处理"),
    ("in_progress", "处理中"),
    ("closed", "已关闭"),
];

fn state_label(state: &str) -> &'static str {
    STATES
        .iter()
        .find(|(key, _)| *key == state)
        .map_or("未知", |(_, label)| label)
}

struct TicketRow {
    id: i64,
    at: String,
    customer: String,
    kind: &'static str,
    book_id: Option<u64>,
    rating: String,
    staff: String,
    message: String,
    state: String,
    state_label: &'static str,
    assignee: Option<u64>,
}

struct Person {
    id: u64,
    name: String,
}

#[derive(Template)]
#[template(path = "admin/inbox.html")]
struct InboxPage {
    chrome: Chrome,
    tickets: Vec<TicketRow>,
    states: [(&'static str, &'static str); 3],
    agents: Vec<Person>,
    show_all: bool,
}

fn ticket_row(item: Feedback, names: &HashMap<UserId, String>) -> TicketRow {
    let name = |id: UserId| names.get(&id).cloned().unwrap_or_default();
    TicketRow {
        id: item.id,
        at: local_time::minute(item.created_at),
        customer: name(item.spec.user_id),
        kind: item.spec.kind.label(),
        book_id: item.spec.book_id.map(|b| b.0),
        rating: item
            .spec
            .rating
            .map(|stars| "★".repeat(usize::from(stars)))
            .unwrap_or_default(),
        staff: item.spec.staff_user_id.map(name).unwrap_or_default(),
        message: item.spec.message,
        state_label: state_label(&item.state),
        state: item.state,
        assignee: item.assignee_id.map(|id| id.0),
    }
}

/// Query of the inbox.
#[derive(Debug, Default, Deserialize)]
pub struct InboxQuery {
    #[serde(default)]
    all: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// `GET /admin/inbox` (`?all=1` includes closed tickets).
pub async fn list<S: Store>(
    State(state): State<AppState<S>>,
    admin: Admin,
    PageQuery(query): PageQuery<InboxQuery>,
) -> Result<Response, PageError> {
    let store = &state.store;
    let users = store.users().await?;
    let names: HashMap<UserId, String> = users
        .iter()
        .map(|u| (u.id, u.spec.username.clone()))
        .collect();
    let agents = users
        .iter()
        .filter(|u| matches!(u.spec.role, Role::Operator | Role::Admin) && u.disabled_at.is_none())
        .map(|u| Person {
            id: u.id.0,
            name: u.spec.username.clone(),
        })
        .collect();
    let show_all = query.all.is_some();
    let tickets = store
        .feedback_inbox(!show_all)
        .await?
        .into_iter()
        .map(|item| ticket_row(item, &names))
        .collect();
    Ok(admin.send(&InboxPage {
        chrome: admin.chrome("/admin/inbox", query.done.as_deref()),
        tickets,
        states: STATES,
        agents,
        show_all,
    }))
}

/// The ticket form.
#[derive(Debug, Deserialize)]
pub struct TicketForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    assignee: String,
}

/// `POST /admin/inbox/{id}`: sets the state and the assignee.
pub async fn update<S: Store>(
    State(state): State<AppState<S>>,
    admin: Admin,
    PagePath(id): PagePath<i64>,
    Form(form): Form<TicketForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    let (new_state, _) = STATES
        .iter()
        .find(|(key, _)| *key == form.state)
        .ok_or_else(|| ApiError::bad_request("请选择工单状态"))?;
    let assignee = match form.assignee.trim() {
        "" => None,
        text => {
            let id = text
                .parse()
                .map(UserId)
                .map_err(|_| ApiError::bad_request("处理人无效"))?;
            let agent = state
                .store
                .user(id)
                .await
                .map_err(|_| ApiError::bad_request("处理人不存在"))?;
            if !matches!(agent.spec.role, Role::Operator | Role::Admin) {
                return Err(ApiError::bad_request("处理人必须是客服或管理员").into());
            }
            Some(agent.id)
        }
    };
    let audit = AuditEntry::new(
        Some(admin.user.id),
        "feedback.update",
        format!("feedback:{id}"),
        serde_json::json!({ "state": new_state, "assignee": assignee.map(|a| a.0) }),
    );
    state
        .store
        .update_feedback(id, new_state, assignee, crate::unix_now(), &audit)
        .await
        .map_err(|err| match err {
            StoreError::NotFound => ApiError::bad_request("工单不存在"),
            other => other.into(),
        })?;
    Ok(done("/admin/inbox", "ticket_updated"))
}

//! The support desk's inbox: customer feedback and problems from the wallet (领不到水票, 无法核销,
//! 丢失, delivery ratings), each with its state and the support staff member working on it.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use shuipiao_shared::ids::UserId;

use crate::feedback::{self, SUPPORT_ROLES, TICKET_STATES, TicketChange};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::local_time;
use crate::store::models::Feedback;
use crate::web::admin::{Admin, Chrome, done};
use crate::web::{PageError, PagePath, PageQuery};

pub(super) fn state_label(state: &str) -> &'static str {
    TICKET_STATES
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
pub async fn list(
    State(state): State<AppState>,
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
        .filter(|u| SUPPORT_ROLES.contains(&u.spec.role) && u.disabled_at.is_none())
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
        states: TICKET_STATES,
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

/// `POST /admin/inbox/{id}`: sets the state and the assignee ([`feedback::update_ticket`]).
pub async fn update(
    State(state): State<AppState>,
    admin: Admin,
    PagePath(id): PagePath<i64>,
    Form(form): Form<TicketForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    let assignee = match form.assignee.trim() {
        "" => None,
        text => Some(
            text.parse()
                .map(UserId)
                .map_err(|_| ApiError::bad_request("处理人无效"))?,
        ),
    };
    let change = TicketChange {
        state: &form.state,
        assignee,
    };
    feedback::update_ticket(&state.store, id, change, admin.user.id, crate::unix_now())
        .await
        .map_err(ApiError::from)?;
    Ok(done("/admin/inbox", "ticket_updated"))
}

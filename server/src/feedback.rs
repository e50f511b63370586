//! The support desk's work on customer feedback: a ticket's state and who handles it. The inbox
//! page only parses its form and presents the outcome; the rules and the audit entry are here.

use serde_json::json;
use shuipiao_shared::ids::UserId;

use crate::store::models::{AuditEntry, Role};
use crate::store::{Store, StoreError};

/// The states of a ticket, in working order, with their zh-CN labels.
pub const TICKET_STATES: [(&str, &str); 3] = [
    ("open", "待处理"),
    ("in_progress", "处理中"),
    ("closed", "已关闭"),
];

/// Roles that handle tickets.
pub const SUPPORT_ROLES: [Role; 2] = [Role::Operator, Role::Admin];

/// Why a ticket was not changed; the message is shown as is.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    /// Not one of [`TICKET_STATES`].
    #[error("请选择工单状态")]
    State,
    /// No such ticket.
    #[error("工单不存在")]
    UnknownTicket,
    /// No such user.
    #[error("处理人不存在")]
    UnknownAssignee,
    /// The assignee is not support staff.
    #[error("处理人必须是客服或管理员")]
    NotSupport,
    /// The assignee may no longer sign in, so would never see the ticket.
    #[error("处理人已停用")]
    AssigneeDisabled,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A ticket change as asked for.
#[derive(Debug, Clone, Copy)]
pub struct TicketChange<'a> {
    /// One of [`TICKET_STATES`]' keys.
    pub state: &'a str,
    /// Who handles it, if anyone: an active operator or admin.
    pub assignee: Option<UserId>,
}

/// `actor` sets ticket `id`'s state and assignee.
pub async fn update_ticket<S: Store>(
    store: &S,
    id: i64,
    change: TicketChange<'_>,
    actor: UserId,
    now: i64,
) -> Result<(), FeedbackError> {
    let (state, _) = TICKET_STATES
        .iter()
        .find(|(key, _)| *key == change.state)
        .ok_or(FeedbackError::State)?;
    if let Some(assignee) = change.assignee {
        let agent = match store.user(assignee).await {
            Ok(agent) => agent,
            Err(StoreError::NotFound) => return Err(FeedbackError::UnknownAssignee),
            Err(err) => return Err(err.into()),
        };
        if !SUPPORT_ROLES.contains(&agent.spec.role) {
            return Err(FeedbackError::NotSupport);
        }
        if agent.disabled_at.is_some() {
            return Err(FeedbackError::AssigneeDisabled);
        }
    }
    let audit = AuditEntry::new(
        Some(actor),
        "feedback.update",
        format!("feedback:{id}"),
        json!({ "state": state, "assignee": change.assignee.map(|a| a.0) }),
    );
    match store
        .update_feedback(id, state, change.assignee, now, &audit)
        .await
    {
        Err(StoreError::NotFound) => Err(FeedbackError::UnknownTicket),
        other => Ok(other?),
    }
}

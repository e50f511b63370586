//! Customer feedback and the support desk's work on it: what a customer may send from the wallet
//! (a rated delivery or a described problem, about one of their own books), and a ticket's state
//! and who handles it. The wallet's feedback page and the console's inbox only parse their forms
//! and present the outcome; the rules and the audit entry are here.

use serde_json::json;
use shuipiao_shared::event::EventBody;
use shuipiao_shared::ids::{BookId, UserId};

use crate::store::models::{AuditEntry, FeedbackKind, NewFeedback, Role, User};
use crate::store::{Store, StoreError};
use crate::wallet;

/// Longest message a customer may send, in characters.
pub const MAX_MESSAGE_CHARS: usize = 500;

/// The states of a ticket, in working order, with their zh-CN labels.
pub const TICKET_STATES: [(&str, &str); 3] = [
    ("open", "待处理"),
    ("in_progress", "处理中"),
    ("closed", "已关闭"),
];

/// Roles that handle tickets.
pub const SUPPORT_ROLES: [Role; 2] = [Role::Operator, Role::Admin];

/// Why feedback was refused or a ticket not changed; the message is shown as is.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    /// The customer's feedback breaks a rule; the zh-CN message says which.
    #[error("{0}")]
    Invalid(&'static str),
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

/// Feedback as typed in the wallet's form.
#[derive(Debug, Clone, Copy)]
pub struct FeedbackInput<'a> {
    /// A [`FeedbackKind`] key.
    pub kind: &'a str,
    /// 1–5 stars, or empty.
    pub rating: &'a str,
    /// What happened.
    pub message: &'a str,
    /// The number of one of the customer's books, or empty.
    pub book: &'a str,
}

/// Checks `user`'s feedback: a known kind; a rating of 1–5 stars, required for a rating; a
/// described problem otherwise, of at most [`MAX_MESSAGE_CHARS`]; a book only if it is theirs.
/// A rating names whoever delivered last on that book.
async fn check(
    store: &Store,
    user: &User,
    input: FeedbackInput<'_>,
) -> Result<NewFeedback, FeedbackError> {
    let kind =
        FeedbackKind::parse(input.kind.trim()).ok_or(FeedbackError::Invalid("请选择反馈类型"))?;
    let rating = match input.rating.trim() {
        "" => None,
        text => match text.parse::<u8>() {
            Ok(r @ 1..=5) => Some(r),
            _ => return Err(FeedbackError::Invalid("评分应为 1 到 5 星")),
        },
    };
    if kind == FeedbackKind::Rating && rating.is_none() {
        return Err(FeedbackError::Invalid("请为送水服务打分"));
    }
    let message = input.message.trim();
    if kind != FeedbackKind::Rating && message.is_empty() {
        return Err(FeedbackError::Invalid("请描述遇到的问题"));
    }
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(FeedbackError::Invalid("内容不能超过 500 字"));
    }
    const NOT_THEIRS: FeedbackError = FeedbackError::Invalid("请选择您自己的水票");
    let book = match input.book.trim() {
        "" => None,
        text => {
            let id = text.parse::<u64>().map_err(|_| NOT_THEIRS)?;
            let book = match store.book(BookId(id)).await {
                Ok(book) => book,
                Err(StoreError::NotFound) => return Err(NOT_THEIRS),
                Err(err) => return Err(err.into()),
            };
            if !wallet::may_read(user, &book) {
                return Err(NOT_THEIRS);
            }
            Some(book.issued.id)
        }
    };
    let staff_user_id = match (kind, book) {
        (FeedbackKind::Rating, Some(book)) => store
            .book_history(book)
            .await?
            .events
            .iter()
            .rev()
            .find(|e| matches!(e.event.body, EventBody::Redemption { .. }))
            .map(|e| e.event.courier_id),
        _ => None,
    };
    Ok(NewFeedback {
        user_id: user.id,
        book_id: book,
        kind,
        rating,
        staff_user_id,
        message: message.to_string(),
    })
}

/// `user` sends feedback, under [`check`]'s rules; returns the new ticket's id.
pub async fn submit(
    store: &Store,
    user: &User,
    input: FeedbackInput<'_>,
    now: i64,
) -> Result<i64, FeedbackError> {
    let feedback = check(store, user, input).await?;
    Ok(store.create_feedback(&feedback, now).await?)
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
pub async fn update_ticket(
    store: &Store,
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

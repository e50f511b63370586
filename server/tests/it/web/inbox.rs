//! The support desk's inbox over real HTTP: a ticket goes only to support staff who may still
//! sign in, in a known state; a refused change writes nothing.

use axum::http::StatusCode;
use shuipiao_server::store::models::{FeedbackKind, NewFeedback, Role};

use super::Browser;
use crate::support::{self, TestDb, on_both_backends};

/// The page offers active operators and admins as assignees; a form naming anyone else (a
/// disabled operator, a courier, nobody) is refused, as is an unknown state or ticket.
async fn tickets_go_only_to_active_support_staff(db: TestDb) {
    let server = support::start(&db).await;
    let (op, _) = server.user("op", Role::Operator, None).await;
    let (gone, _) = server.user("gone", Role::Operator, None).await;
    server
        .store
        .update_user(
            gone.id,
            Role::Operator,
            true,
            support::NOW,
            &support::audit("user.update"),
        )
        .await
        .unwrap();
    let (admin, _) = server.user("admin", Role::Admin, None).await;
    let account = support::customer_account(&server.store, "张伟家").await;
    let (zhang, _) = server.user("zhang", Role::Customer, Some(account.id)).await;
    let id = server
        .store
        .create_feedback(
            &NewFeedback {
                user_id: zhang.id,
                book_id: None,
                kind: FeedbackKind::CannotRedeem,
                rating: None,
                staff_user_id: None,
                message: "送水员扫不出来".into(),
            },
            support::NOW,
        )
        .await
        .unwrap();
    let mut browser = Browser::new(&server);
    browser.sign_in("op").await;
    let inbox = browser.get("/admin/inbox").await;
    assert!(
        !inbox.text.contains(">gone<"),
        "a disabled operator is not offered"
    );
    let csrf = browser.csrf();
    let path = format!("/admin/inbox/{id}");
    let gone_id = gone.id.0.to_string();
    let zhang_id = zhang.id.0.to_string();
    for (path, state, assignee, message) in [
        (
            path.as_str(),
            "in_progress",
            gone_id.as_str(),
            "处理人已停用",
        ),
        (&path, "in_progress", &zhang_id, "处理人必须是客服或管理员"),
        (&path, "in_progress", "999999", "处理人不存在"),
        (&path, "in_progress", "x", "处理人无效"),
        (&path, "lost", "", "请选择工单状态"),
        ("/admin/inbox/999999", "closed", "", "工单不存在"),
    ] {
        let page = browser
            .post_form(
                path,
                &[("csrf", &csrf), ("state", state), ("assignee", assignee)],
            )
            .await;
        super::refused_page(&page, message);
    }
    let item = &server.store.feedback_inbox(true).await.unwrap()[0];
    assert_eq!((item.state.as_str(), item.assignee_id), ("open", None));
    let log = server.store.audit_log(20).await.unwrap();
    assert!(log.iter().all(|entry| entry.action != "feedback.update"));

    let taken = browser
        .post_form(
            &path,
            &[
                ("csrf", &csrf),
                ("state", "in_progress"),
                ("assignee", &admin.id.0.to_string()),
            ],
        )
        .await;
    assert_eq!(taken.status, StatusCode::SEE_OTHER, "{}", taken.text);
    let item = &server.store.feedback_inbox(true).await.unwrap()[0];
    assert_eq!(item.assignee_id, Some(admin.id));
    let log = server.store.audit_log(1).await.unwrap();
    assert_eq!(
        (log[0].action.as_str(), log[0].actor_user_id),
        ("feedback.update", Some(op.id.0 as i64))
    );
}

on_both_backends!(tickets_go_only_to_active_support_staff);

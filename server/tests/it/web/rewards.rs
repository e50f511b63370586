//! Points, gifts and feedback in the wallet over real HTTP.

use axum::http::StatusCode;
use shuipiao_server::notify::jobs;
use shuipiao_server::store::models::FeedbackKind;

use super::{Browser, wallet_fixture};
use crate::support::{self, audit};

#[tokio::test]
async fn points_from_deliveries_buy_gifts_while_stock_lasts() {
    let db = support::TestDb::sqlite();
    let server = support::start(&db).await;
    let fixture = wallet_fixture(&server).await;
    let store = &server.store;
    let now = shuipiao_server::unix_now();
    // The fixture's courier delivered two units to 张家: 20 points.
    jobs::usage(store, 10, now).await.unwrap();
    let cup = store
        .create_gift("水杯", 15, 1, now, &audit("gift.create"))
        .await
        .unwrap();
    let filter = store
        .create_gift("饮水机滤芯", 50, 9, now, &audit("gift.create"))
        .await
        .unwrap();

    let mut zhang = Browser::new(&server);
    zhang.sign_in("zhang").await;
    let page = zhang.get("/wallet/points").await;
    assert!(
        page.text.contains("<strong>20</strong><span>我的积分"),
        "{}",
        page.text
    );
    assert!(page.text.contains("送水得积分") && page.text.contains("饮水机滤芯"));
    let csrf = zhang.csrf();

    let poor = zhang
        .post_form(
            &format!("/wallet/points/gifts/{}", filter.id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(poor.status, StatusCode::OK);
    assert!(poor.text.contains("积分不足"), "{}", poor.text);
    let forged = zhang
        .post_form(
            &format!("/wallet/points/gifts/{}", cup.id),
            &[("csrf", "x")],
        )
        .await;
    assert!(forged.text.contains("页面已过期"));
    let ordered = zhang
        .post_form(
            &format!("/wallet/points/gifts/{}", cup.id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(ordered.header("location"), Some("/wallet/points?done=1"));
    let after = zhang.get("/wallet/points?done=1").await;
    assert!(after.text.contains("<strong>5</strong><span>我的积分"));
    assert!(after.text.contains("兑换成功") && after.text.contains("-15"));
    let account = fixture.zhang[0].account_id;
    assert_eq!(store.points_balance(account).await.unwrap(), 5);

    // 王家 has no points; nobody can take the last cup twice.
    let gifts = store.gifts().await.unwrap();
    assert_eq!(gifts.iter().find(|g| g.id == cup.id).unwrap().stock, 0);
    let mut wang = Browser::new(&server);
    wang.sign_in("wang").await;
    let csrf = wang.csrf();
    let gone = wang
        .post_form(
            &format!("/wallet/points/gifts/{}", cup.id),
            &[("csrf", &csrf)],
        )
        .await;
    assert!(gone.text.contains("积分不足") || gone.text.contains("已兑完"));
    let unknown = wang
        .post_form("/wallet/points/gifts/999", &[("csrf", &csrf)])
        .await;
    assert!(unknown.text.contains("礼品不存在"));
}

#[tokio::test]
async fn feedback_reaches_the_support_inbox_and_names_the_courier() {
    let db = support::TestDb::sqlite();
    let server = support::start(&db).await;
    let fixture = wallet_fixture(&server).await;
    let mut zhang = Browser::new(&server);
    zhang.sign_in("zhang").await;
    zhang.get("/wallet/feedback").await;
    let csrf = zhang.csrf();
    let own = fixture.zhang[0].id.0.to_string();
    let other = fixture.wang[0].id.0.to_string();

    for (fields, needle) in [
        (
            vec![("kind", "rating"), ("book", own.as_str())],
            "请为送水服务打分",
        ),
        (
            vec![("kind", "lost"), ("message", "  ")],
            "请描述遇到的问题",
        ),
        (
            vec![("kind", "rating"), ("rating", "9")],
            "评分应为 1 到 5 星",
        ),
        (
            vec![
                ("kind", "lost"),
                ("book", other.as_str()),
                ("message", "丢了"),
            ],
            "请选择您自己的水票",
        ),
        (
            vec![("kind", "nonsense"), ("message", "x")],
            "请选择反馈类型",
        ),
    ] {
        let mut fields = fields;
        fields.push(("csrf", &csrf));
        let response = zhang.post_form("/wallet/feedback", &fields).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{needle}");
        assert!(
            response.text.contains(needle),
            "{needle}: {}",
            response.text
        );
    }
    assert!(
        server.store.feedback_inbox(true).await.unwrap().is_empty(),
        "nothing stored"
    );

    let sent = zhang
        .post_form(
            "/wallet/feedback",
            &[
                ("kind", "rating"),
                ("book", &own),
                ("rating", "5"),
                ("message", "师傅很准时"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(sent.header("location"), Some("/wallet/feedback?done=1"));
    zhang
        .post_form(
            "/wallet/feedback",
            &[
                ("kind", "cannot_redeem"),
                ("message", "扫码提示已使用"),
                ("csrf", &csrf),
            ],
        )
        .await;
    let page = zhang.get("/wallet/feedback?done=1").await;
    assert!(page.text.contains("已收到您的反馈") && page.text.contains("师傅很准时"));

    let inbox = server.store.feedback_inbox(true).await.unwrap();
    assert_eq!(inbox.len(), 2);
    assert_eq!(inbox[0].spec.kind, FeedbackKind::Rating);
    assert_eq!(inbox[0].spec.rating, Some(5));
    let courier = server.store.user_by_name("courier1").await.unwrap();
    assert_eq!(
        inbox[0].spec.staff_user_id,
        Some(courier.id),
        "the rating names the courier"
    );
    assert_eq!(inbox[1].spec.kind, FeedbackKind::CannotRedeem);
    assert_eq!(inbox[1].state, "open");
}

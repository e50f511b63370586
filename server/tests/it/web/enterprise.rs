//! The enterprise admin hands units to members and takes unused books back, over real HTTP.

use axum::http::{Method, StatusCode};
use shuipiao_server::issuance::{self, IssueOrder};
use shuipiao_server::store::Store;
use shuipiao_shared::status::BookState;

use super::{Browser, wallet_fixture};
use crate::support;

#[tokio::test]
async fn units_go_to_members_and_unused_books_come_back() {
    let db = support::sqlite_db();
    let server = support::start(&db).await;
    let fixture = wallet_fixture(&server).await;
    let store = &server.store;
    let now = shuipiao_server::unix_now();
    let enterprise = store
        .user_by_name("hjadmin")
        .await
        .unwrap()
        .spec
        .account_id
        .unwrap();
    let members = store.members(enterprise).await.unwrap();
    let package = store.packages().await.unwrap().last().unwrap().id;
    let order = IssueOrder {
        account_id: enterprise,
        package_id: package,
        quantity: 1,
        allocations: Vec::new(),
    };
    let pool = issuance::issue_order(store, &support::master(), &order, None, now)
        .await
        .unwrap()
        .books
        .remove(0);

    let mut admin = Browser::new(&server);
    admin.sign_in("hjadmin").await;
    let overview = admin.get("/wallet/enterprise").await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(overview.text.contains("汉江科技") && overview.text.contains("汉江员工2"));
    assert!(
        overview
            .text
            .contains("<strong>10</strong><span>待分配张数"),
        "{}",
        overview.text
    );
    let csrf = admin.csrf();
    let pool_id = pool.id.0.to_string();
    let member = members[0].id.to_string();

    let too_many = admin
        .post_form(
            "/wallet/enterprise/allocate",
            &[
                ("book", &pool_id),
                ("member", &member),
                ("units", "11"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert!(
        too_many.text.contains("分配数量应在 1 到 10 张之间"),
        "{}",
        too_many.text
    );
    let stranger = fixture.zhang[0].account_id.to_string();
    let outside = admin
        .post_form(
            "/wallet/enterprise/allocate",
            &[
                ("book", &pool_id),
                ("member", &stranger),
                ("units", "1"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert!(
        outside.text.contains("只能分配本企业的水票"),
        "{}",
        outside.text
    );
    assert_eq!(
        store.book(pool.id).await.unwrap().state,
        BookState::Active,
        "nothing changed"
    );

    let given = admin
        .post_form(
            "/wallet/enterprise/allocate",
            &[
                ("book", &pool_id),
                ("member", &member),
                ("units", "3"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(given.header("location"), Some("/wallet/enterprise?done=1"));
    assert_eq!(store.book(pool.id).await.unwrap().state, BookState::Revoked);
    let member_books = store.books_of_account(members[0].id).await.unwrap();
    let new_book = member_books
        .iter()
        .find(|b| b.issued.replaces == Some(pool.id))
        .expect("the member got a book that names the pool book");
    assert_eq!(
        (new_book.issued.units, new_book.issued.source.as_str()),
        (3, "enterprise")
    );
    let rest = store.books_of_account(enterprise).await.unwrap();
    let rest = rest.iter().find(|b| b.state == BookState::Active).unwrap();
    assert_eq!(rest.issued.units, 7, "the rest stays with the enterprise");

    // Unused: back to the enterprise. Used: refused.
    let back = admin
        .post_form(
            "/wallet/enterprise/allocate",
            &[("book", &new_book.issued.id.0.to_string()), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(back.header("location"), Some("/wallet/enterprise?done=1"));
    let pool_now: u16 = store
        .books_of_account(enterprise)
        .await
        .unwrap()
        .iter()
        .filter(|b| b.state == BookState::Active)
        .map(|b| b.issued.units)
        .sum();
    assert_eq!(pool_now, 10);

    let used = &fixture.members[1];
    let (_, admin_token) = server
        .user(
            "plant-admin",
            shuipiao_server::store::models::Role::Admin,
            None,
        )
        .await;
    let mut device = server.device(&admin_token, "courier2").await;
    device.clock = now as u64 - 60;
    let events = vec![device.redeem(used.id, 1)];
    server
        .call(
            Method::POST,
            "/api/v1/sync/push",
            Some(&device.token),
            Some(serde_json::json!({ "events": events })),
        )
        .await;
    let refused = admin
        .post_form(
            "/wallet/enterprise/allocate",
            &[("book", &used.id.0.to_string()), ("csrf", &csrf)],
        )
        .await;
    assert!(
        refused.text.contains("成员已使用过的水票不能收回"),
        "{}",
        refused.text
    );
    let page = admin.get("/wallet/enterprise").await;
    assert!(
        page.text.contains("已用 1 / 5 张"),
        "who used what: {}",
        page.text
    );

    // A new member by phone: account in the enterprise, told by SMS; the phone is then taken.
    let invited = admin
        .post_form(
            "/wallet/enterprise/invite",
            &[
                ("name", "汉江员工3"),
                ("phone", "13912345678"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(
        invited.header("location"),
        Some("/wallet/enterprise?done=1"),
        "{}",
        invited.text
    );
    let members = store.members(enterprise).await.unwrap();
    assert!(members.iter().any(|m| m.spec.name == "汉江员工3"));
    let phone = shuipiao_server::pii::Phone::parse("13912345678").unwrap();
    let member = store
        .user_by_phone(&phone.index(&support::master()))
        .await
        .unwrap();
    let told = store.notifications_of(member.id, 5).await.unwrap();
    assert!(
        told[0].spec.body.contains("汉江科技已将您加入企业用水"),
        "{:?}",
        told[0]
    );
    for (name, phone, needle) in [
        ("重复", "13912345678", "该客户已是本企业成员"),
        ("", "13912345679", "请填写成员姓名"),
        ("坏号", "12", "请输入 11 位手机号码"),
    ] {
        let refused = admin
            .post_form(
                "/wallet/enterprise/invite",
                &[("name", name), ("phone", phone), ("csrf", &csrf)],
            )
            .await;
        assert!(refused.text.contains(needle), "{needle}: {}", refused.text);
    }
    assert_eq!(
        store.members(enterprise).await.unwrap().len(),
        3,
        "refusals added nobody"
    );

    // A customer who already has an account joins with it, keeping their own books.
    let customer = support::phone_customer(store, "13711112222", "周家").await;
    let joined = admin
        .post_form(
            "/wallet/enterprise/invite",
            &[("name", ""), ("phone", "137 1111 2222"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(
        joined.header("location"),
        Some("/wallet/enterprise?done=1"),
        "{}",
        joined.text
    );
    let account = customer.spec.account_id.unwrap();
    assert_eq!(
        store.account(account).await.unwrap().spec.enterprise_id,
        Some(enterprise)
    );
    assert_eq!(
        store.account(account).await.unwrap().spec.name,
        "周家",
        "name kept"
    );
    let told = store.notifications_of(customer.id, 5).await.unwrap();
    assert!(told[0].spec.body.contains("已将您加入企业用水"), "{told:?}");
    let again = admin
        .post_form(
            "/wallet/enterprise/invite",
            &[("name", ""), ("phone", "13711112222"), ("csrf", &csrf)],
        )
        .await;
    assert!(
        again.text.contains("该客户已是本企业成员"),
        "{}",
        again.text
    );
    let elsewhere = store
        .join_enterprise(
            account,
            enterprise + 1_000,
            &[],
            now,
            &support::audit("enterprise.invite"),
        )
        .await;
    assert!(
        matches!(
            elsewhere,
            Err(shuipiao_server::store::StoreError::Conflict(_))
        ),
        "one enterprise at a time: {elsewhere:?}"
    );
    assert_eq!(store.members(enterprise).await.unwrap().len(), 4);
    let log = store.audit_log(1).await.unwrap();
    assert_eq!(log[0].action, "enterprise.invite");
}

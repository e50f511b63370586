//! Enterprise invitations from both sides over real HTTP: they expire and can be withdrawn, only
//! the invited phone answers them, sending them is limited, their codes allow few guesses even
//! all at once, and a member who leaves takes nothing of the enterprise's and leaves nothing of
//! their own.

use axum::http::{Method, StatusCode};
use shuipiao_server::config::Rate;
use shuipiao_server::enterprise;
use shuipiao_server::pii::Phone;
use shuipiao_server::store::Store;
use shuipiao_server::store::models::Role;
use shuipiao_shared::status::BookState;
use sqlx::Connection;

use super::enterprise::{
    answer, bought, csrf, enterprise_of, invite, join, other_enterprise, redeem_one,
};
use super::{Browser, wallet_fixture};
use crate::client::{self, Body};
use crate::gateway::Gateway;
use crate::support::{self, TestDb, on_both_backends};

on_both_backends!(
    invitations_expire_and_can_be_withdrawn,
    only_the_invited_phone_answers_and_sending_is_limited,
    a_member_leaves_and_only_the_enterprises_tickets_go_back,
    invitation_codes_allow_five_guesses_even_all_at_once,
    an_invitee_name_follows_the_account_name_rule_of_the_console,
);

const DAY: i64 = 86_400;

async fn has_card(customer: &mut Browser<'_>) -> bool {
    customer
        .get("/wallet")
        .await
        .text
        .contains("action=\"/wallet/invitations/")
}

async fn member_of(store: &Store, account_id: i64) -> Option<i64> {
    store.account(account_id).await.unwrap().spec.enterprise_id
}

async fn page_has(browser: &mut Browser<'_>, path: &str, needle: &str) -> bool {
    browser.get(path).await.text.contains(needle)
}

async fn invitations_expire_and_can_be_withdrawn(db: TestDb) {
    let server = support::start(&db).await;
    wallet_fixture(&server).await;
    let store = &server.store;
    let master = support::master();
    let now = shuipiao_server::unix_now();
    let zhou = support::phone_customer(store, "13711112222", "周家").await;
    let account = zhou.spec.account_id.unwrap();
    let phone = Phone::parse("13711112222").unwrap();
    let hjadmin = store.user_by_name("hjadmin").await.unwrap();

    // Sent eight days ago: past its seven days.
    let old = enterprise::invite(store, &master, &hjadmin, &phone, "周工", now - 8 * DAY)
        .await
        .unwrap();
    let mut customer = Browser::new(&server);
    customer.sign_in("p-13711112222").await;
    assert!(
        !has_card(&mut customer).await,
        "an expired invitation shows no card"
    );
    let late = answer(&mut customer, old.id, "accept").await;
    assert!(late.text.contains("邀请不存在或已失效"), "{}", late.text);
    assert_eq!(member_of(store, account).await, None);
    let mut admin = Browser::new(&server);
    admin.sign_in("hjadmin").await;
    assert!(page_has(&mut admin, "/wallet/enterprise", "已过期").await);

    // Invited again; another enterprise cannot withdraw it, a forged form changes nothing.
    let invited = invite(&mut admin, "周工", "13711112222").await;
    assert_eq!(
        invited.header("location"),
        Some("/wallet/enterprise?done=1"),
        "{}",
        invited.text
    );
    let open = store
        .open_invitations(&phone.index(&master), now)
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    let withdraw = format!("/wallet/enterprise/invitations/{}/withdraw", open[0].id);
    assert!(page_has(&mut admin, "/wallet/enterprise", &withdraw).await);
    other_enterprise(&server).await;
    let mut other = Browser::new(&server);
    other.sign_in("wladmin").await;
    let other_csrf = csrf(&other);
    let foreign = other.post_form(&withdraw, &[("csrf", &other_csrf)]).await;
    assert!(
        foreign.text.contains("邀请不存在或已失效"),
        "{}",
        foreign.text
    );
    let forged = admin.post_form(&withdraw, &[]).await;
    assert!(forged.text.contains("页面已过期"), "{}", forged.text);
    assert!(has_card(&mut customer).await);

    let admin_csrf = csrf(&admin);
    let withdrawn = admin.post_form(&withdraw, &[("csrf", &admin_csrf)]).await;
    assert_eq!(
        withdrawn.header("location"),
        Some("/wallet/enterprise?done=1")
    );
    assert!(page_has(&mut admin, "/wallet/enterprise", "已撤回").await);
    assert_eq!(
        store.audit_log(1).await.unwrap()[0].action,
        "enterprise.withdraw"
    );
    assert!(!has_card(&mut customer).await);
    let gone = answer(&mut customer, open[0].id, "accept").await;
    assert!(gone.text.contains("邀请不存在或已失效"), "{}", gone.text);
    assert_eq!(member_of(store, account).await, None);
}

async fn only_the_invited_phone_answers_and_sending_is_limited(db: TestDb) {
    let server = support::start(&db).await;
    wallet_fixture(&server).await;
    let store = &server.store;
    let master = support::master();
    let now = shuipiao_server::unix_now();
    let zhou = support::phone_customer(store, "13711112222", "周家").await;
    let wu = support::phone_customer(store, "13711113333", "吴家").await;
    let mut admin = Browser::new(&server);
    admin.sign_in("hjadmin").await;
    let sent = invite(&mut admin, "周工", "13711112222").await;
    assert_eq!(sent.header("location"), Some("/wallet/enterprise?done=1"));
    let index = Phone::parse("13711112222").unwrap().index(&master);
    let invitation = store.open_invitations(&index, now).await.unwrap()[0].id;

    // Someone else's invitation: refused, and nobody joins.
    let mut other = Browser::new(&server);
    other.sign_in("p-13711113333").await;
    assert!(!has_card(&mut other).await);
    let stolen = answer(&mut other, invitation, "accept").await;
    assert!(
        stolen.text.contains("邀请不存在或已失效"),
        "{}",
        stolen.text
    );
    let as_admin = answer(&mut admin, invitation, "accept").await;
    assert_eq!(as_admin.status, StatusCode::FORBIDDEN);
    let mut customer = Browser::new(&server);
    customer.sign_in("p-13711112222").await;
    let forged = customer
        .post_form(
            &format!("/wallet/invitations/{invitation}"),
            &[("answer", "accept")],
        )
        .await;
    assert!(forged.text.contains("页面已过期"), "{}", forged.text);
    for account in [zhou.spec.account_id.unwrap(), wu.spec.account_id.unwrap()] {
        assert_eq!(member_of(store, account).await, None);
    }

    // One open invitation per enterprise and phone; at most one SMS a minute to a phone.
    let twice = invite(&mut admin, "周工", "13711112222").await;
    assert!(
        twice.text.contains("已邀请该手机号,请等待对方接受"),
        "{}",
        twice.text
    );
    let wladmin = other_enterprise(&server).await;
    let mut other_admin = Browser::new(&server);
    other_admin.sign_in("wladmin").await;
    let flood = invite(&mut other_admin, "周", "13711112222").await;
    assert!(flood.text.contains("邀请发送太频繁"), "{}", flood.text);

    // An enterprise sends at most 50 an hour, whatever the phones.
    for n in 0..50 {
        let phone = Phone::parse(&format!("135{n:08}")).unwrap();
        enterprise::invite(store, &master, &wladmin, &phone, "员工", now)
            .await
            .unwrap();
    }
    let over = invite(&mut other_admin, "员工", "13699999999").await;
    assert!(over.text.contains("邀请发送太频繁"), "{}", over.text);
    let wallet = customer.get("/wallet").await;
    assert_eq!(
        wallet.text.matches("action=\"/wallet/invitations/").count(),
        1,
        "refused invitations reach nobody"
    );
}

async fn a_member_leaves_and_only_the_enterprises_tickets_go_back(db: TestDb) {
    let server = support::start(&db).await;
    let fixture = wallet_fixture(&server).await;
    let store = &server.store;
    let master = support::master();
    let now = shuipiao_server::unix_now();
    let hjadmin = store.user_by_name("hjadmin").await.unwrap();
    let enterprise = enterprise_of(store).await;
    let member = store.members(enterprise).await.unwrap()[0].id;
    let handed = fixture
        .members
        .iter()
        .find(|b| b.account_id == member)
        .unwrap()
        .clone();
    let own = bought(store, member).await;
    let pool = bought(store, enterprise).await;
    let given = shuipiao_server::wallet::enterprise_allocate(
        store, &master, &hjadmin, pool.id, member, 3, now,
    )
    .await
    .unwrap();
    let partly = given
        .iter()
        .find(|b| b.issued.account_id == member)
        .unwrap();
    redeem_one(&server, partly.issued.id).await;

    server.user("hj1", Role::Customer, Some(member)).await;
    let mut leaver = Browser::new(&server);
    leaver.sign_in("hj1").await;
    let wallet = leaver.get("/wallet").await;
    assert!(
        wallet.text.contains("<strong>汉江科技</strong> 的企业成员")
            && wallet.text.contains("action=\"/wallet/enterprise/leave\""),
        "{}",
        wallet.text
    );
    let forged = leaver.post_form("/wallet/enterprise/leave", &[]).await;
    assert!(forged.text.contains("页面已过期"), "{}", forged.text);
    assert_eq!(member_of(store, member).await, Some(enterprise));
    let token = csrf(&leaver);
    let left = leaver
        .post_form("/wallet/enterprise/leave", &[("csrf", &token)])
        .await;
    assert_eq!(
        left.header("location"),
        Some("/wallet?done=left"),
        "{}",
        left.text
    );
    assert_eq!(member_of(store, member).await, None);
    assert_eq!(store.members(enterprise).await.unwrap().len(), 1);

    // What the enterprise handed out and was not used went back; the member's own book stayed.
    for book in [handed.id, partly.issued.id] {
        assert_eq!(store.book(book).await.unwrap().state, BookState::Revoked);
    }
    let pool_units: u16 = store
        .books_of_account(enterprise)
        .await
        .unwrap()
        .iter()
        .filter(|b| b.state == BookState::Active)
        .map(|b| b.issued.units - b.used_units)
        .sum();
    assert_eq!(
        pool_units,
        1 + 5 + 2,
        "the rest, the unused 5 and the 2 left of 3"
    );
    let active: Vec<_> = store
        .books_of_account(member)
        .await
        .unwrap()
        .into_iter()
        .filter(|b| b.state == BookState::Active)
        .map(|b| b.issued.id)
        .collect();
    assert_eq!(active, vec![own.id]);
    let after = leaver.get("/wallet?done=left").await;
    assert!(after.text.contains("已退出企业") && !after.text.contains("的企业成员"));
    let mut admin = Browser::new(&server);
    admin.sign_in("hjadmin").await;
    assert!(!page_has(&mut admin, "/wallet/enterprise", "汉江员工1").await);
    assert!(
        store
            .audit_log(5)
            .await
            .unwrap()
            .iter()
            .any(|entry| entry.action == "enterprise.leave")
    );
    let again = leaver
        .post_form("/wallet/enterprise/leave", &[("csrf", &token)])
        .await;
    assert!(again.text.contains("您不是企业成员"), "{}", again.text);
}

async fn invitation_codes_allow_five_guesses_even_all_at_once(db: TestDb) {
    let gateway = Gateway::start().await;
    let sms = gateway.config();
    let server = support::start_with(&db, |config| {
        config.notify.sms = sms;
        config.notify.interval_secs = 1;
        config.limits.login = Rate::new(1_000, 60);
    })
    .await;
    wallet_fixture(&server).await;
    let mut admin = Browser::new(&server);
    admin.sign_in("hjadmin").await;
    invite(&mut admin, "新员工", "13912345678").await;
    let code = gateway.code_after("13912345678", "邀请码", 0).await;
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);

    let mut page = Browser::new(&server);
    page.get("/wallet/join").await;
    let token = csrf(&page);
    let cookie = page.jar.header();
    let body = format!("phone=13912345678&code={wrong}&answer=accept&csrf={token}");
    let mut guesses = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (addr, cookie, body) = (server.addr.clone(), cookie.clone(), body.clone());
        guesses.spawn(async move {
            let headers = [
                ("Cookie", cookie.as_str()),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ];
            let body = Body::Bytes(body.as_bytes());
            client::send(&addr, &Method::POST, "/wallet/join", &headers, body).await
        });
    }
    while let Some(guess) = guesses.join_next().await {
        let guess = guess.unwrap();
        assert!(guess.text.contains("邀请码错误或已过期"), "{}", guess.text);
    }
    let right = join(&mut page, "13912345678", &code, "accept").await;
    assert!(
        right.text.contains("邀请码错误或已过期"),
        "the right code after five wrong guesses: {}",
        right.text
    );
    let index = Phone::parse("13912345678")
        .unwrap()
        .index(&support::master());
    assert!(
        server.store.user_by_phone(&index).await.is_err(),
        "nobody joined"
    );
    let mut conn = sqlx::AnyConnection::connect(db.url.expose()).await.unwrap();
    let attempts: i64 = sqlx::query_scalar("SELECT attempts FROM enterprise_invitations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(attempts, 5);
}

/// The invitee's name becomes their account's name if they accept without an account, so it
/// follows the rule every account follows: a name the console's API refuses is refused on the
/// invitation form with the same message, and nothing is sent.
async fn an_invitee_name_follows_the_account_name_rule_of_the_console(db: TestDb) {
    let server = support::start(&db).await;
    wallet_fixture(&server).await;
    let too_long = "工".repeat(41);
    let message = super::console_refuses_account_name(&server, &too_long).await;

    let mut admin = Browser::new(&server);
    admin.sign_in("hjadmin").await;
    let refused = invite(&mut admin, &too_long, "13711112222").await;
    assert_eq!(
        refused.status,
        StatusCode::OK,
        "the form again: {}",
        refused.text
    );
    assert!(refused.text.contains(&message), "{}", refused.text);
    let index = Phone::parse("13711112222")
        .unwrap()
        .index(&support::master());
    let now = shuipiao_server::unix_now();
    assert!(
        server
            .store
            .open_invitations(&index, now)
            .await
            .unwrap()
            .is_empty()
    );
}

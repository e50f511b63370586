//! The enterprise admin over real HTTP, as an attacker would try it: inviting makes nobody a
//! member until they accept, a member's own books stay out of the enterprise's reach, and of
//! the books it handed out the enterprise sees figures, never the QR. Then the everyday flow:
//! units go to members and unused allocated books come back.

use axum::http::{Method, StatusCode};
use serde_json::json;
use shuipiao_server::issuance::{self, IssueOrder};
use shuipiao_server::store::Store;
use shuipiao_server::store::models::{AccountKind, NewAccount, NewBook, Role, User};
use shuipiao_shared::ids::BookId;
use shuipiao_shared::status::BookState;

use super::{Browser, wallet_fixture};
use crate::gateway::Gateway;
use crate::support::{self, TestDb, TestServer, on_both_backends};

on_both_backends!(
    inviting_a_customer_makes_them_a_member_only_when_they_accept,
    an_enterprise_admin_never_reads_or_takes_a_members_own_books,
    allocated_books_show_their_figures_but_never_their_qr,
    units_go_to_members_and_unused_books_come_back,
);

/// The fixture's enterprise (汉江科技).
pub(super) async fn enterprise_of(store: &Store) -> i64 {
    store
        .user_by_name("hjadmin")
        .await
        .unwrap()
        .spec
        .account_id
        .unwrap()
}

/// A package bought by `account_id` itself (not through an enterprise).
pub(super) async fn bought(store: &Store, account_id: i64) -> NewBook {
    let package = store.packages().await.unwrap()[0].id;
    let order = IssueOrder {
        account_id,
        package_id: package,
        quantity: 1,
        allocations: Vec::new(),
    };
    let now = shuipiao_server::unix_now();
    issuance::issue_order(store, &support::master(), &order, None, now)
        .await
        .unwrap()
        .books
        .remove(0)
}

/// A bearer token for `username` from the JSON login.
async fn api_token(server: &TestServer, username: &str) -> String {
    let login = server
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "username": username, "password": support::PASSWORD })),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{:?}", login.json);
    login.json["token"].as_str().unwrap().to_string()
}

pub(super) fn csrf(browser: &Browser<'_>) -> String {
    browser.csrf()
}

/// The id in the first `action="/wallet/invitations/{id}"` of a page.
pub(super) fn invitation_id(page: &str) -> String {
    let start = page
        .find("action=\"/wallet/invitations/")
        .unwrap_or_else(|| panic!("no invitation card: {page}"))
        + "action=\"/wallet/invitations/".len();
    page[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}

/// The enterprise admin's invitation form.
pub(super) async fn invite(admin: &mut Browser<'_>, name: &str, phone: &str) -> support::Response {
    let token = csrf(admin);
    admin
        .post_form(
            "/wallet/enterprise/invite",
            &[("name", name), ("phone", phone), ("csrf", &token)],
        )
        .await
}

/// The customer answers invitation `id` (`accept` or `decline`) on its wallet card.
pub(super) async fn answer(
    customer: &mut Browser<'_>,
    id: impl std::fmt::Display,
    answer: &str,
) -> support::Response {
    let token = csrf(customer);
    customer
        .post_form(
            &format!("/wallet/invitations/{id}"),
            &[("answer", answer), ("csrf", &token)],
        )
        .await
}

/// The join page's form: `answer` (`accept` or `decline`) with an invitation code.
pub(super) async fn join(
    browser: &mut Browser<'_>,
    phone: &str,
    code: &str,
    answer: &str,
) -> support::Response {
    browser.get("/wallet/join").await;
    let token = csrf(browser);
    browser
        .post_form(
            "/wallet/join",
            &[
                ("phone", phone),
                ("code", code),
                ("answer", answer),
                ("csrf", &token),
            ],
        )
        .await
}

/// A second enterprise, 襄阳物流, with its admin `wladmin`.
pub(super) async fn other_enterprise(server: &TestServer) -> User {
    let other = server
        .store
        .create_account(
            &NewAccount {
                kind: AccountKind::Enterprise,
                name: "襄阳物流".into(),
                enterprise_id: None,
            },
            support::NOW,
            &support::audit("account.create"),
        )
        .await
        .unwrap();
    server
        .user("wladmin", Role::EnterpriseAdmin, Some(other.id))
        .await
        .0
}

/// A courier redeems one unit of `book`, pushed over the sync API.
pub(super) async fn redeem_one(server: &TestServer, book: BookId) {
    let now = shuipiao_server::unix_now();
    let (_, admin_token) = server.user("plant-admin", Role::Admin, None).await;
    let mut device = server.device(&admin_token, "courier2").await;
    device.clock = now as u64 - 60;
    let events = vec![device.redeem(book, 1)];
    let pushed = server
        .call(
            Method::POST,
            "/api/v1/sync/push",
            Some(&device.token),
            Some(json!({ "events": events })),
        )
        .await;
    assert_eq!(pushed.status, StatusCode::OK, "{:?}", pushed.json);
}

/// The admin tries to take `book` "back" into the enterprise: refused, the book unchanged.
async fn assert_not_taken(admin: &mut Browser<'_>, book: &NewBook) {
    let token = csrf(admin);
    let taken = admin
        .post_form(
            "/wallet/enterprise/allocate",
            &[("book", &book.id.0.to_string()), ("csrf", &token)],
        )
        .await;
    assert!(
        taken.text.contains("只能分配本企业的水票"),
        "{}",
        taken.text
    );
    let kept = admin.server.store.book(book.id).await.unwrap();
    assert_eq!(
        (kept.state, kept.issued.account_id),
        (BookState::Active, book.account_id)
    );
}

/// Everything an enterprise admin could use to read `book`, by page and by API: each must answer
/// "not found" without its QR.
async fn assert_unreadable(admin: &mut Browser<'_>, token: &str, book: &NewBook) {
    let id = book.id.0;
    for path in [
        format!("/wallet/books/{id}"),
        format!("/wallet/books/{id}/print"),
        format!("/wallet/books/{id}/qr.svg?window=1&proof=00"),
    ] {
        let page = admin.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}: {}", page.text);
        assert!(!page.text.contains(&book.qr_text), "{path} leaks the QR");
    }
    let api = admin
        .server
        .call(
            Method::GET,
            &format!("/api/v1/books/{id}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(api.status, StatusCode::NOT_FOUND, "{:?}", api.json);
    assert!(!api.text.contains(&book.qr_text));
    let mine = admin
        .server
        .call(Method::GET, "/api/v1/books/mine", Some(token), None)
        .await;
    assert_eq!(mine.status, StatusCode::OK);
    assert!(
        !mine.text.contains(&book.qr_text),
        "books/mine lists book {id}"
    );
    let wallet = admin.get("/wallet").await;
    assert!(!wallet.text.contains(&format!("/wallet/books/{id}\"")));
    // Nor can it bind the book to its own browser's key (which would re-sign it).
    let token = csrf(admin);
    let key = "ab".repeat(32);
    let bind = admin
        .post_form(
            &format!("/wallet/books/{id}/holder-key"),
            &[("csrf", &token), ("public_key", &key)],
        )
        .await;
    assert_eq!(bind.status, StatusCode::NOT_FOUND, "{}", bind.text);
    let stored = admin.server.store.book(book.id).await.unwrap();
    assert_eq!(stored.state, BookState::Active);
}

async fn enterprise_id_of(store: &Store, account_id: i64) -> Option<i64> {
    store.account(account_id).await.unwrap().spec.enterprise_id
}

async fn inviting_a_customer_makes_them_a_member_only_when_they_accept(db: TestDb) {
    let server = support::start(&db).await;
    wallet_fixture(&server).await;
    let store = &server.store;
    let enterprise = enterprise_of(store).await;
    let zhou = support::phone_customer(store, "13711112222", "周家").await;
    let zhou_account = zhou.spec.account_id.unwrap();
    let zhou_book = bought(store, zhou_account).await;

    let mut admin = Browser::new(&server);
    admin.sign_in("hjadmin").await;
    let token = api_token(&server, "hjadmin").await;
    let invited = invite(&mut admin, "周工", "137 1111 2222").await;
    assert_eq!(
        invited.header("location"),
        Some("/wallet/enterprise?done=1"),
        "{}",
        invited.text
    );

    // Invited is not joined: nothing of the customer is the enterprise's.
    assert_eq!(
        enterprise_id_of(store, zhou_account).await,
        None,
        "an invitation alone made the customer a member"
    );
    assert_eq!(store.members(enterprise).await.unwrap().len(), 2);
    assert_unreadable(&mut admin, &token, &zhou_book).await;
    assert_not_taken(&mut admin, &zhou_book).await;

    // The customer sees who invites them and says no: still nobody's member, not asked again.
    let mut customer = Browser::new(&server);
    customer.sign_in("p-13711112222").await;
    let wallet = customer.get("/wallet").await;
    assert!(
        wallet.text.contains("加入企业")
            && wallet.text.contains("<strong>汉江科技</strong> 邀请您"),
        "{}",
        wallet.text
    );
    let declined = answer(&mut customer, invitation_id(&wallet.text), "decline").await;
    assert_eq!(declined.header("location"), Some("/wallet?done=declined"));
    assert_eq!(enterprise_id_of(store, zhou_account).await, None);
    assert!(
        !customer
            .get("/wallet")
            .await
            .text
            .contains("action=\"/wallet/invitations/")
    );
    let overview = admin.get("/wallet/enterprise").await;
    assert!(
        overview.text.contains("周工") && overview.text.contains("已拒绝"),
        "{}",
        overview.text
    );
    let again = invite(&mut admin, "周工", "13711112222").await;
    assert!(again.text.contains("30 天内不能再次邀请"), "{}", again.text);

    // Another customer accepts: a member now, and their own book is still theirs alone.
    let wu = support::phone_customer(store, "13711113333", "吴家").await;
    let wu_account = wu.spec.account_id.unwrap();
    let wu_book = bought(store, wu_account).await;
    invite(&mut admin, "吴工", "13711113333").await;
    let mut wu_browser = Browser::new(&server);
    wu_browser.sign_in("p-13711113333").await;
    let wallet = wu_browser.get("/wallet").await;
    let accepted = answer(&mut wu_browser, invitation_id(&wallet.text), "accept").await;
    assert_eq!(accepted.header("location"), Some("/wallet?done=joined"));
    let account = store.account(wu_account).await.unwrap();
    assert_eq!(account.spec.enterprise_id, Some(enterprise));
    assert_eq!(account.spec.name, "吴家", "the customer's name is kept");
    let wallet = wu_browser.get("/wallet?done=joined").await;
    assert!(
        wallet.text.contains("已加入企业") && wallet.text.contains("企业成员"),
        "{}",
        wallet.text
    );
    assert_eq!(
        store.audit_log(1).await.unwrap()[0].action,
        "enterprise.join"
    );
    let overview = admin.get("/wallet/enterprise").await;
    assert!(overview.text.contains("吴家") && overview.text.contains("已加入"));
    assert!(!overview.text.contains(&format!("票号 {}", wu_book.id.0)));
    assert_unreadable(&mut admin, &token, &wu_book).await;
    assert_not_taken(&mut admin, &wu_book).await;
}

async fn an_enterprise_admin_never_reads_or_takes_a_members_own_books(db: TestDb) {
    let server = support::start(&db).await;
    wallet_fixture(&server).await;
    let store = &server.store;
    let enterprise = enterprise_of(store).await;
    let member = store.members(enterprise).await.unwrap()[0].id;
    let own = bought(store, member).await;

    let mut admin = Browser::new(&server);
    admin.sign_in("hjadmin").await;
    let token = api_token(&server, "hjadmin").await;
    assert_unreadable(&mut admin, &token, &own).await;
    let overview = admin.get("/wallet/enterprise").await;
    assert!(
        !overview
            .text
            .contains(&format!("/wallet/books/{}\"", own.id.0))
            && !overview.text.contains(&format!("票号 {}", own.id.0))
            && !overview
                .text
                .contains(&format!("name=\"book\" value=\"{}\"", own.id.0)),
        "the enterprise page shows the member's own book: {}",
        overview.text
    );

    // Taking it "back" into the enterprise is refused and changes nothing.
    assert_not_taken(&mut admin, &own).await;
    assert!(
        store.books_of_account(enterprise).await.unwrap().is_empty(),
        "nothing moved to the enterprise"
    );

    // Nor can the admin file support tickets about it.
    admin.get("/wallet/feedback").await;
    let admin_csrf = csrf(&admin);
    let feedback = admin
        .post_form(
            "/wallet/feedback",
            &[
                ("kind", "lost"),
                ("book", &own.id.0.to_string()),
                ("message", "水票丢了,请补发"),
                ("csrf", &admin_csrf),
            ],
        )
        .await;
    assert!(
        feedback.text.contains("请选择您自己的水票"),
        "{}",
        feedback.text
    );
    assert!(store.feedback_inbox(false).await.unwrap().is_empty());
}

async fn allocated_books_show_their_figures_but_never_their_qr(db: TestDb) {
    let server = support::start(&db).await;
    let fixture = wallet_fixture(&server).await;
    let store = &server.store;
    let enterprise = enterprise_of(store).await;
    let member = store.members(enterprise).await.unwrap()[0].id;
    let allocated = fixture
        .members
        .iter()
        .find(|b| b.account_id == member)
        .unwrap()
        .clone();

    let mut admin = Browser::new(&server);
    admin.sign_in("hjadmin").await;
    let token = api_token(&server, "hjadmin").await;
    let overview = admin.get("/wallet/enterprise").await;
    assert!(
        overview.text.contains("汉江员工1") && overview.text.contains("已用 0 / 5 张"),
        "how much of what it handed out was used: {}",
        overview.text
    );
    assert!(!overview.text.contains(&allocated.qr_text));
    let figures = server
        .call(
            Method::GET,
            &format!("/api/v1/accounts/{enterprise}/allocated-books"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(figures.status, StatusCode::OK);
    assert!(
        figures
            .json
            .as_array()
            .unwrap()
            .iter()
            .any(|b| { b["book_id"] == allocated.id.0 && b["units"] == 5 && b["used_units"] == 0 }),
        "{:?}",
        figures.json
    );
    assert!(!figures.text.contains(&allocated.qr_text));
    assert_unreadable(&mut admin, &token, &allocated).await;

    // The member holds it: the QR is theirs to show.
    server.user("hj1", Role::Customer, Some(member)).await;
    let mut holder = Browser::new(&server);
    holder.sign_in("hj1").await;
    let detail = holder
        .get(&format!("/wallet/books/{}", allocated.id.0))
        .await;
    assert_eq!(detail.status, StatusCode::OK);
    assert!(detail.text.contains(&allocated.qr_text));
}

async fn units_go_to_members_and_unused_books_come_back(db: TestDb) {
    let gateway = Gateway::start().await;
    let sms = gateway.config();
    let server = support::start_with(&db, |config| {
        config.notify.sms = sms;
        config.notify.interval_secs = 1;
    })
    .await;
    let fixture = wallet_fixture(&server).await;
    let store = &server.store;
    let now = shuipiao_server::unix_now();
    let enterprise = enterprise_of(store).await;
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
    redeem_one(&server, used.id).await;
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

    // A new member by phone: invited by SMS with a code, no account until they answer; with
    // the code they join, and the phone is then registered.
    let invited = invite(&mut admin, "汉江员工3", "13912345678").await;
    assert_eq!(
        invited.header("location"),
        Some("/wallet/enterprise?done=1"),
        "{}",
        invited.text
    );
    let phone = shuipiao_server::pii::Phone::parse("13912345678").unwrap();
    let index = phone.index(&support::master());
    assert!(
        store.user_by_phone(&index).await.is_err(),
        "no account is made for a phone that has not answered"
    );
    assert_eq!(store.members(enterprise).await.unwrap().len(), 2);
    gateway
        .wait_for("13912345678", "汉江科技邀请您加入企业用水")
        .await;
    let code = gateway.code_after("13912345678", "邀请码", 0).await;
    let mut newcomer = Browser::new(&server);
    let joined = join(&mut newcomer, "139 1234 5678", &code, "accept").await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.text);
    assert!(joined.text.contains("已加入汉江科技"), "{}", joined.text);
    let newcomer_account = store
        .user_by_phone(&index)
        .await
        .unwrap()
        .spec
        .account_id
        .unwrap();
    let account = store.account(newcomer_account).await.unwrap();
    assert_eq!(
        (account.spec.name.as_str(), account.spec.enterprise_id),
        ("汉江员工3", Some(enterprise))
    );
    for (name, phone, needle) in [
        ("重复", "13912345678", "该客户已是本企业成员"),
        ("", "13912345679", "请填写成员姓名"),
        ("坏号", "12", "请输入 11 位手机号码"),
    ] {
        let refused = invite(&mut admin, name, phone).await;
        assert!(refused.text.contains(needle), "{needle}: {}", refused.text);
    }
    assert_eq!(
        store.members(enterprise).await.unwrap().len(),
        3,
        "refusals added nobody"
    );

    // A customer with an account accepts on their wallet's card, keeping their name; one
    // enterprise at a time: another enterprise's invitation cannot be accepted while a member.
    let zhou = support::phone_customer(store, "13711112222", "周家").await;
    let zhou_account = zhou.spec.account_id.unwrap();
    invite(&mut admin, "周工", "137 1111 2222").await;
    let mut customer = Browser::new(&server);
    customer.sign_in("p-13711112222").await;
    let wallet = customer.get("/wallet").await;
    let joined = answer(&mut customer, invitation_id(&wallet.text), "accept").await;
    assert_eq!(joined.header("location"), Some("/wallet?done=joined"));
    let zhou_now = store.account(zhou_account).await.unwrap();
    assert_eq!(
        (zhou_now.spec.name.as_str(), zhou_now.spec.enterprise_id),
        ("周家", Some(enterprise))
    );
    let wladmin = other_enterprise(&server).await;
    let other = wladmin.spec.account_id.unwrap();
    // Two minutes later (one invitation a minute reaches a phone).
    let zhou_phone = shuipiao_server::pii::Phone::parse("13711112222").unwrap();
    shuipiao_server::enterprise::invite(
        store,
        &support::master(),
        &wladmin,
        &zhou_phone,
        "周",
        now + 120,
    )
    .await
    .unwrap();
    let wallet = customer.get("/wallet").await;
    assert!(wallet.text.contains("<strong>襄阳物流</strong> 邀请您"));
    let elsewhere = answer(&mut customer, invitation_id(&wallet.text), "accept").await;
    assert!(
        elsewhere.text.contains("请先退出后再接受邀请"),
        "{}",
        elsewhere.text
    );
    assert_eq!(
        enterprise_id_of(store, zhou_account).await,
        Some(enterprise)
    );
    assert!(store.members(other).await.unwrap().is_empty());
    assert_eq!(store.members(enterprise).await.unwrap().len(), 4);
    let log = store.audit_log(5).await.unwrap();
    assert!(
        log.iter().any(|entry| entry.action == "enterprise.invite"),
        "{log:?}"
    );
}

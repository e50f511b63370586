//! The admin console over real HTTP: staff land on it and see their menu, support finds, revokes
//! and reissues books, issuance with preview, the review queue, keys, devices and users, every
//! action in the audit log; and the statistics checked against figures computed by hand on the
//! wallet fixture.

use axum::http::StatusCode;
use serde_json::json;
use shuipiao_server::store::StoreError;
use shuipiao_server::store::models::{
    Channel, FeedbackKind, MessageKind, NewCustomer, NewFeedback, NewNotification,
    NotificationState, Role,
};
use shuipiao_shared::event::{EventBody, EventFlags, Refusal};
use shuipiao_shared::ids::BookId;
use shuipiao_shared::verdict::RejectReason;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Browser, WalletFixture, wallet_fixture};
use crate::support::{self, TestDb, TestServer};

/// The body of a GET at `addr` as bytes (for downloads), sent with `cookie`.
pub async fn fetch_bytes(addr: &str, cookie: &str, path: &str) -> (u16, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: {cookie}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    assert!(!head.contains("chunked"), "downloads carry a length");
    let status = head[9..12].parse().unwrap();
    (status, raw[split + 4..].to_vec())
}

/// The wallet fixture plus a signed-in browser for `username` (made with `role` unless it is the
/// fixture's `admin`).
async fn console<'a>(
    server: &'a TestServer,
    username: &str,
    role: Role,
) -> (WalletFixture, Browser<'a>) {
    let fixture = wallet_fixture(server).await;
    if username != "admin" {
        server.user(username, role, None).await;
    }
    let mut browser = Browser::new(server);
    let landing = browser.sign_in(username).await;
    assert_eq!(landing, "/admin", "staff start in the console");
    (fixture, browser)
}

fn csrf(browser: &Browser<'_>) -> String {
    browser.csrf()
}

#[tokio::test]
async fn each_role_sees_its_own_menu() {
    let db = TestDb::sqlite();
    let server = support::start(&db).await;
    let (_, mut admin) = console(&server, "admin", Role::Admin).await;
    let page = admin.get("/admin").await;
    assert_eq!(page.status, StatusCode::OK);
    for item in [
        "运营总览",
        "水票查询",
        "冲突处理",
        "统计分析",
        "签名密钥",
        "审计日志",
    ] {
        assert!(page.text.contains(item), "admin menu has {item}");
    }
    assert!(page.text.contains("待处理冲突"));

    server.user("stat", Role::Statistician, None).await;
    let mut statistician = Browser::new(&server);
    assert_eq!(statistician.sign_in("stat").await, "/admin");
    let page = statistician.get("/admin").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("统计分析") && page.text.contains("员工绩效"));
    assert!(!page.text.contains("水票查询") && !page.text.contains("签名密钥"));
    let refused = statistician.get("/admin/tickets").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.text.contains("没有权限"));
    let stats = statistician.get("/admin/stats").await;
    assert_eq!(stats.status, StatusCode::OK);
    assert!(stats.text.contains("<svg"), "charts are inline SVG");

    let css = admin.get("/static/admin.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
}

#[tokio::test]
async fn support_finds_revokes_and_reissues_a_book() {
    let db = TestDb::sqlite();
    let server = support::start(&db).await;
    let (fixture, mut operator) = console(&server, "op", Role::Operator).await;
    let book = &fixture.zhang[0];

    let by_id = operator.get(&format!("/admin/tickets?q={}", book.id)).await;
    assert!(by_id.text.contains(&format!("/admin/books/{}", book.id)));
    let by_login = operator.get("/admin/tickets?q=zhang").await;
    assert!(by_login.text.contains("查询结果(3)"), "{}", by_login.text);
    let by_qr = operator
        .get(&format!("/admin/tickets?q={}", book.qr_text))
        .await;
    assert!(by_qr.text.contains("查询结果(1)"));
    let bad_qr = operator.get("/admin/tickets?q=SP1AAAA").await;
    assert!(bad_qr.text.contains("二维码内容无法识别"));

    let page = operator.get(&format!("/admin/books/{}", book.id)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.text.matches("<td>核销</td>").count(),
        2,
        "both redemptions"
    );
    assert!(page.text.contains("送水员") || page.text.contains("courier1"));

    // A stale form changes nothing.
    let stale = operator
        .post_form(
            &format!("/admin/books/{}/reissue", book.id),
            &[("csrf", "forged"), ("reason", "挂失")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::BAD_REQUEST);
    assert!(stale.text.contains("页面已过期"));
    assert!(
        server
            .store
            .book(book.id)
            .await
            .unwrap()
            .revoked_at
            .is_none()
    );
    let token = csrf(&operator);
    let no_reason = operator
        .post_form(
            &format!("/admin/books/{}/reissue", book.id),
            &[("csrf", &token), ("reason", " ")],
        )
        .await;
    assert_eq!(no_reason.status, StatusCode::BAD_REQUEST);
    assert!(no_reason.text.contains("请填写原因"));

    let reissued = operator
        .post_form(
            &format!("/admin/books/{}/reissue", book.id),
            &[("csrf", &token), ("reason", "客户挂失")],
        )
        .await;
    assert_eq!(reissued.status, StatusCode::SEE_OTHER);
    let location = reissued.header("location").unwrap().to_string();
    let new_id: u64 = location
        .trim_start_matches("/admin/books/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let new = server.store.book(BookId(new_id)).await.unwrap();
    assert_eq!(new.issued.replaces, Some(book.id));
    assert_eq!(new.issued.units, 2, "the two units left");
    let shown = operator.get(&location).await;
    assert!(shown.text.contains("已补发新水票"));
    assert!(
        shown
            .text
            .contains(&format!("补发自 <a href=\"/admin/books/{}\"", book.id))
    );
    let old = operator.get(&format!("/admin/books/{}", book.id)).await;
    assert!(
        old.text
            .contains(&format!("已补发为 <a href=\"/admin/books/{new_id}\""))
    );

    let revoked = operator
        .post_form(
            &format!("/admin/books/{}/revoke", fixture.wang[0].id),
            &[("csrf", &token), ("reason", "退款")],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    let again = operator
        .post_form(
            &format!("/admin/books/{}/revoke", fixture.wang[0].id),
            &[("csrf", &token), ("reason", "退款")],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.text.contains("已作废"));

    let log = server.store.audit_log(20).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|r| r.action.as_str()).collect();
    assert!(actions.contains(&"book.reissue") && actions.contains(&"book.revoke"));
    assert!(
        log.iter()
            .all(|r| r.action != "book.reissue" || r.actor_user_id.is_some())
    );
}

#[tokio::test]
async fn the_support_inbox_assigns_and_closes_customer_problems() {
    let db = TestDb::sqlite();
    let server = support::start(&db).await;
    let (fixture, mut operator) = console(&server, "op", Role::Operator).await;
    let zhang = server.store.user_by_name("zhang").await.unwrap();
    let id = server
        .store
        .create_feedback(
            &NewFeedback {
                user_id: zhang.id,
                book_id: Some(fixture.zhang[1].id),
                kind: FeedbackKind::CannotRedeem,
                rating: None,
                staff_user_id: None,
                message: "送水员扫不出来".into(),
            },
            shuipiao_server::unix_now(),
        )
        .await
        .unwrap();
    let inbox = operator.get("/admin/inbox").await;
    assert!(inbox.text.contains("送水员扫不出来") && inbox.text.contains("水票无法核销"));
    assert!(
        inbox
            .text
            .contains(&format!("/admin/books/{}", fixture.zhang[1].id))
    );

    let token = csrf(&operator);
    let path = format!("/admin/inbox/{id}");
    let bad = operator
        .post_form(&path, &[("csrf", &token), ("state", "lost")])
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let me = server.store.user_by_name("op").await.unwrap();
    let taken = operator
        .post_form(
            &path,
            &[
                ("csrf", &token),
                ("state", "in_progress"),
                ("assignee", &me.id.0.to_string()),
            ],
        )
        .await;
    assert_eq!(taken.status, StatusCode::SEE_OTHER);
    let item = &server.store.feedback_inbox(true).await.unwrap()[0];
    assert_eq!(
        (item.state.as_str(), item.assignee_id),
        ("in_progress", Some(me.id))
    );
    let closed = operator
        .post_form(&path, &[("csrf", &token), ("state", "closed")])
        .await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER);
    assert!(server.store.feedback_inbox(true).await.unwrap().is_empty());
    let log = server.store.audit_log(5).await.unwrap();
    assert_eq!(log[0].action, "feedback.update");
}

#[tokio::test]
async fn issuing_shows_a_preview_then_issues_to_members() {
    let db = TestDb::sqlite();
    let server = support::start(&db).await;
    let (_, mut operator) = console(&server, "op", Role::Operator).await;
    let accounts = server.store.accounts().await.unwrap();
    let enterprise = accounts.iter().find(|a| a.spec.name == "汉江科技").unwrap();
    let package = &server.store.packages().await.unwrap()[1];
    assert_eq!(package.spec.paid_units, 10);
    let query = format!(
        "account={}&package={}&quantity=3&split=members",
        enterprise.id, package.id
    );
    let preview = operator.get(&format!("/admin/issue?{query}")).await;
    assert_eq!(preview.status, StatusCode::OK);
    assert!(
        preview
            .text
            .contains("<strong>2</strong> 册水票,共 <strong>30</strong> 张")
    );
    let before = server.store.summary().await.unwrap().books;

    let token = csrf(&operator);
    let enterprise_id = enterprise.id.to_string();
    let package_id = package.id.to_string();
    let bad = [
        ("csrf", token.as_str()),
        ("account", enterprise_id.as_str()),
        ("package", package_id.as_str()),
        ("quantity", "0"),
        ("split", "members"),
    ];
    let refused = operator.post_form("/admin/issue", &bad).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.text.contains("数量应在 1 到 1000 之间"));
    assert_eq!(server.store.summary().await.unwrap().books, before);

    let mut good = bad;
    good[3].1 = "3";
    let issued = operator.post_form("/admin/issue", &good).await;
    assert_eq!(issued.status, StatusCode::SEE_OTHER);
    assert!(issued.header("location").unwrap().ends_with("?done=issued"));
    assert_eq!(server.store.summary().await.unwrap().books, before + 2);
    let members = server.store.members(enterprise.id).await.unwrap();
    for member in &members {
        let books = server.store.books_of_account(member.id).await.unwrap();
        assert_eq!(
            books[0].issued.units, 15,
            "30 units split between two members"
        );
    }
}

#[tokio::test]
async fn an_over_redemption_is_resolved_from_the_queue() {
    let db = TestDb::sqlite();
    let server = support::start(&db).await;
    let (fixture, mut operator) = console(&server, "op", Role::Operator).await;
    let (_, admin_token) = server.user("admin2", Role::Admin, None).await;
    let mut device = server.device(&admin_token, "courier2").await;
    device.clock = shuipiao_server::unix_now() as u64;
    let book = fixture.zhang[0].id;
    let events: Vec<_> = (0..3).map(|_| device.redeem(book, 1)).collect();
    let pushed = server
        .call(
            axum::http::Method::POST,
            "/api/v1/sync/push",
            Some(&device.token),
            Some(json!({ "events": events })),
        )
        .await;
    assert_eq!(pushed.status, StatusCode::OK);

    let queue = operator.get("/admin/review").await;
    assert!(queue.text.contains("待处理冲突(1)"), "{}", queue.text);
    assert!(queue.text.contains("超额核销"));
    let item = &server.store.review_queue(true).await.unwrap()[0];
    let path = format!("/admin/review/{}/resolve", item.event_id);
    let token = csrf(&operator);
    let no_action = operator
        .post_form(&path, &[("csrf", &token), ("action", "refund")])
        .await;
    assert_eq!(no_action.status, StatusCode::BAD_REQUEST);
    let resolved = operator
        .post_form(
            &path,
            &[
                ("csrf", &token),
                ("action", "write_off"),
                ("note", "客户已付现金"),
            ],
        )
        .await;
    assert_eq!(resolved.status, StatusCode::SEE_OTHER);
    assert!(server.store.review_queue(true).await.unwrap().is_empty());
    let after = operator.get("/admin/review?all=1").await;
    assert!(after.text.contains("水厂承担"));
    assert!(
        after.text.contains("客户已付现金"),
        "the audit trail shows the note"
    );
    let twice = operator
        .post_form(&path, &[("csrf", &token), ("action", "void")])
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    assert!(twice.text.contains("该冲突已处理"));
}

#[tokio::test]
async fn keys_devices_and_users_are_managed_by_admins() {
    let db = TestDb::sqlite();
    let server = support::start(&db).await;
    let (_, mut admin) = console(&server, "admin", Role::Admin).await;
    let token = csrf(&admin);

    let before = server.store.signing_keys().await.unwrap().len();
    let rotated = admin
        .post_form("/admin/keys/rotate", &[("csrf", &token)])
        .await;
    assert_eq!(rotated.status, StatusCode::SEE_OTHER);
    assert_eq!(server.store.signing_keys().await.unwrap().len(), before + 1);
    let keys = admin.get("/admin/keys").await;
    assert!(keys.text.contains("已退役"));

    let devices = admin.get("/admin/devices").await;
    assert!(devices.text.contains("courier1的手机"));
    let courier = server.store.user_by_name("courier1").await.unwrap();
    let code = admin
        .post_form(
            "/admin/devices/enrollment-codes",
            &[("csrf", &token), ("user_id", &courier.id.0.to_string())],
        )
        .await;
    assert_eq!(code.status, StatusCode::OK);
    assert!(code.text.contains("设备注册码") && code.text.contains("<svg"));
    // The QR carries the address this console was reached at, beside the code.
    let shown = code
        .text
        .split("class=\"code\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the code as text");
    assert!(
        code.text.contains(&format!(
            "data-enroll=\"SPENROLL:1:{shown}:http://{}\"",
            server.addr
        )),
        "{}",
        code.text
    );
    let not_staff = admin
        .post_form(
            "/admin/devices/enrollment-codes",
            &[("csrf", &token), ("user_id", "1")],
        )
        .await;
    assert_eq!(not_staff.status, StatusCode::BAD_REQUEST);
    let device = &server.store.devices().await.unwrap()[0];
    let disabled = admin
        .post_form(
            &format!("/admin/devices/{}/disable", device.id),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER);
    assert!(
        server
            .store
            .device(device.id)
            .await
            .unwrap()
            .disabled_at
            .is_some()
    );

    let new_user = [
        ("csrf", token.as_str()),
        ("username", "stat2"),
        ("password", "long enough"),
        ("role", "statistician"),
    ];
    let created = admin.post_form("/admin/users", &new_user).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    let stat = server.store.user_by_name("stat2").await.unwrap();
    let duplicate = admin.post_form("/admin/users", &new_user).await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert!(duplicate.text.contains("用户名已存在"));
    let promoted = admin
        .post_form(
            &format!("/admin/users/{}", stat.id.0),
            &[
                ("csrf", &token),
                ("role", "operator"),
                ("status", "disabled"),
            ],
        )
        .await;
    assert_eq!(promoted.status, StatusCode::SEE_OTHER);
    let stat = server.store.user(stat.id).await.unwrap();
    assert_eq!(stat.spec.role, Role::Operator);
    assert!(stat.disabled_at.is_some());
    let me = server.store.user_by_name("admin").await.unwrap();
    let self_lock = admin
        .post_form(
            &format!("/admin/users/{}", me.id.0),
            &[("csrf", &token), ("role", "admin"), ("status", "disabled")],
        )
        .await;
    assert_eq!(self_lock.status, StatusCode::BAD_REQUEST);

    let product = server.store.products().await.unwrap()[0].code.0.to_string();
    let package = [
        ("csrf", token.as_str()),
        ("name", "买十送一(测试)"),
        ("price", "150"),
        ("paid_units", "10"),
        ("bonus_units", "1"),
        ("validity_days", "365"),
        ("product", product.as_str()),
        ("scope", "0"),
    ];
    let listed = admin.post_form("/admin/packages", &package).await;
    assert_eq!(listed.status, StatusCode::SEE_OTHER);
    let packages = server.store.packages().await.unwrap();
    let new = packages
        .iter()
        .find(|p| p.spec.name == "买十送一(测试)")
        .unwrap();
    assert_eq!((new.spec.price_fen, new.spec.bonus_units), (15_000, 1));
    let twice = admin.post_form("/admin/packages", &package).await;
    assert!(twice.text.contains("已有同名套餐"));
    let mut unpriced = package;
    unpriced[2].1 = "一百";
    unpriced[1].1 = "另一个";
    let refused = admin.post_form("/admin/packages", &unpriced).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(server.store.packages().await.unwrap().len(), packages.len());
    assert!(
        admin
            .get("/admin/packages")
            .await
            .text
            .contains("10 + 赠 1 张")
    );

    let audit = admin.get("/admin/audit?q=user.update").await;
    assert!(audit.text.contains("user:stat2"));
    let all = admin.get("/admin/audit").await;
    for action in [
        "package.create",
        "key.rotate",
        "device.disable",
        "device.enrollment_code",
        "user.create",
    ] {
        assert!(all.text.contains(action), "{action} is audited");
    }
}

/// The statistics of the wallet fixture, worked out by hand: 32 units issued (张家 4 + 10 + 4,
/// 王家 4, the enterprise's members 5 + 5), two bottles delivered by `courier1` (who has no
/// region), one refused scan and one customer guided by `courier1` added here; 张家's third book
/// (4 units) revoked. Run on both backends, since the rows come from SQL.
async fn statistics_match_figures_computed_by_hand(db: TestDb) {
    let server = support::start(&db).await;
    let (fixture, mut stat) = console(&server, "stat", Role::Statistician).await;
    let courier = server.store.user_by_name("courier1").await.unwrap();
    server
        .store
        .register_customer(
            &NewCustomer {
                name: "新客户".into(),
                username: "guided".into(),
                password_hash: String::new(),
                phone_index: vec![1; 32],
                phone_sealed: vec![2; 40],
                referrer: Some(courier.id),
                browser_hash: None,
                enterprise_id: None,
            },
            shuipiao_server::unix_now(),
            &support::audit("customer.register"),
        )
        .await
        .unwrap();
    let (_, admin_token) = server.user("admin2", Role::Admin, None).await;
    let mut device = server.device(&admin_token, "courier2").await;
    device.clock = shuipiao_server::unix_now() as u64 - 1_200;
    let refused = device.next(
        EventBody::ScanAttempt {
            book_id: Some(fixture.zhang[2].id),
            refusal: Refusal::Rejected(RejectReason::Revoked),
        },
        EventFlags::default(),
    );
    let pushed = server
        .call(
            axum::http::Method::POST,
            "/api/v1/sync/push",
            Some(&device.token),
            Some(json!({ "events": [refused] })),
        )
        .await;
    assert_eq!(pushed.status, StatusCode::OK);

    let now = shuipiao_server::unix_now();
    let from = shuipiao_server::local_time::date(now - 2 * 86_400);
    let to = shuipiao_server::local_time::date(now);
    let period = format!("from={from}&to={to}");
    let page = stat.get(&format!("/admin/stats?{period}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("66.7%"), "核销成功率 2 / 3");

    let csv =
        |table: &'static str| format!("/admin/stats/export?{period}&table={table}&format=csv");
    let product = stat.get(&csv("product")).await;
    assert_eq!(product.status, StatusCode::OK);
    assert!(
        product
            .header("content-disposition")
            .unwrap()
            .contains(".csv")
    );
    assert_eq!(
        product.text,
        "\u{feff}产品,发放(张),核销(桶)\r\n18.9L 桶装水,32,2\r\n"
    );
    let daily = stat.get(&csv("daily")).await;
    let last = daily.text.lines().last().unwrap();
    assert!(
        last.ends_with(",26"),
        "unused: 32 − 4 revoked − 2 delivered: {last}"
    );
    let region = stat.get(&csv("region")).await;
    assert!(
        region.text.contains("未分区,2,2,1,66.7%,0,0.0%"),
        "{}",
        region.text
    );
    let reasons = stat.get(&csv("reasons")).await;
    assert!(reasons.text.contains("已作废,1,100.0%"));
    let unknown = stat
        .get(&format!(
            "/admin/stats/export?{period}&table=nope&format=csv"
        ))
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    let bad_dates = stat.get("/admin/stats?from=2026-13-01").await;
    assert!(bad_dates.text.contains("开始日期格式应为"));

    let month = &to[..7];
    let board = stat
        .get(&format!("/admin/staff/export?month={month}&format=csv"))
        .await;
    assert!(
        board
            .text
            .contains("1,courier1,送水员,未分区,2,1,0,—,12,推广之星"),
        "{}",
        board.text
    );
    let (status, xlsx) = fetch_bytes(
        &server.addr,
        &stat.jar.header(),
        &format!("/admin/stats/export?{period}&table=all&format=xlsx"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(&xlsx[..2], b"PK");
}

#[tokio::test]
async fn statistics_on_sqlite() {
    statistics_match_figures_computed_by_hand(TestDb::sqlite()).await;
}

#[tokio::test]
async fn statistics_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        statistics_match_figures_computed_by_hand(db).await;
    }
}

/// The console's own store queries on a backend: book search (with `LIKE` wildcards taken
/// literally), user and feedback updates, device activity.
async fn console_queries(db: TestDb) {
    let server = support::start(&db).await;
    let fixture = wallet_fixture(&server).await;
    let store = &server.store;
    let zhang = &fixture.zhang;
    let by_login = store.search_books(None, "zhang", 10).await.unwrap();
    assert_eq!(by_login.len(), 3);
    let by_name = store.search_books(None, "伟家", 10).await.unwrap();
    assert_eq!(by_name.len(), 3, "part of the account name");
    assert!(store.search_books(None, "%", 10).await.unwrap().is_empty());
    let by_members = store.search_books(None, "hjadmin", 10).await.unwrap();
    assert_eq!(
        by_members.len(),
        2,
        "an enterprise admin finds the members' books"
    );
    let by_qr = store
        .search_books(Some(zhang[1].id), &zhang[1].qr_text, 10)
        .await
        .unwrap();
    assert_eq!(by_qr.len(), 1);

    let wang = store.user_by_name("wang").await.unwrap();
    let audit = support::audit("user.update");
    let set = |disabled: bool, now: i64| {
        store.update_user(wang.id, Role::Customer, disabled, now, &audit)
    };
    assert_eq!(set(true, 5).await.unwrap().disabled_at, Some(5));
    let again = set(true, 9).await.unwrap();
    assert_eq!(again.disabled_at, Some(5), "disabled from the first time");
    let back = set(false, 10).await.unwrap();
    assert_eq!(back.disabled_at, None);

    let missing = store
        .update_feedback(999, "closed", None, 10, &support::audit("feedback.update"))
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)));
    assert_eq!(store.dead_notifications(0).await.unwrap(), 0);
    let activity = store.device_activity().await.unwrap();
    assert_eq!(activity.len(), 1);
    assert_eq!(activity[0].events, 2);
    assert!(activity[0].last_push_at.is_some());
}

#[tokio::test]
async fn console_queries_on_sqlite() {
    console_queries(TestDb::sqlite()).await;
}

#[tokio::test]
async fn console_queries_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        console_queries(db).await;
    }
}

/// The audit log pages through a long log with keyset links that keep the filter: 130 matching
/// entries among others, 100 to a page, older then newer again.
async fn audit_log_pages(db: TestDb) {
    let server = support::start(&db).await;
    let (_, mut admin) = console(&server, "admin", Role::Admin).await;
    for n in 0..130 {
        let name = format!("分页区域{n:03}");
        let audit = shuipiao_server::store::models::AuditEntry::new(
            None,
            "region.create",
            format!("region:{name}"),
            json!({ "n": n }),
        );
        server.store.create_region(&name, 5, &audit).await.unwrap();
        if n % 10 == 0 {
            server
                .store
                .create_outlet(
                    1,
                    &format!("分页门店{n:03}"),
                    5,
                    &support::audit("outlet.create"),
                )
                .await
                .unwrap();
        }
    }
    let rows = |text: &str| text.matches("<code>region.create</code>").count();
    let link = |text: &str, key: &str| -> Option<String> {
        let start = text.find(&format!("&amp;{key}="))? + key.len() + 6;
        let end = start + text[start..].find('"')?;
        Some(format!(
            "/admin/audit?q=region%3A%E5%88%86%E9%A1%B5&{key}={}",
            &text[start..end]
        ))
    };
    let first = admin.get("/admin/audit?q=region:分页").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(rows(&first.text), 100);
    assert!(first.text.contains("region:分页区域129"), "newest first");
    assert!(!first.text.contains("region:分页区域029"));
    assert!(!first.text.contains("outlet.create"), "the filter holds");
    assert_eq!(link(&first.text, "after"), None, "nothing newer");
    let older = link(&first.text, "before").expect("a link to older entries");
    assert!(
        first
            .text
            .contains("q=region%3A%E5%88%86%E9%A1%B5&amp;before="),
        "the link keeps the filter"
    );

    let second = admin.get(&older).await;
    assert_eq!(rows(&second.text), 30);
    assert!(
        second.text.contains("region:分页区域029") && second.text.contains("region:分页区域000")
    );
    assert!(!second.text.contains("region:分页区域030"), "no overlap");
    assert!(!second.text.contains("outlet.create"));
    assert_eq!(link(&second.text, "before"), None, "nothing older");
    let newer = link(&second.text, "after").expect("a link back to newer entries");

    let back = admin.get(&newer).await;
    assert_eq!(rows(&back.text), 100);
    assert!(back.text.contains("region:分页区域129") && back.text.contains("region:分页区域030"));
    assert_eq!(link(&back.text, "after"), None, "back at the newest");
    assert!(link(&back.text, "before").is_some());

    let everything = admin.get("/admin/audit").await;
    assert!(
        rows(&everything.text) < 100 && everything.text.contains("<code>outlet.create</code>"),
        "without a filter, other actions share the page"
    );
    let bad = admin.get("/admin/audit?before=abc").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn audit_log_pages_on_sqlite() {
    audit_log_pages(TestDb::sqlite()).await;
}

#[tokio::test]
async fn audit_log_pages_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        audit_log_pages(db).await;
    }
}

/// A device's sync report over the pull query: an old client without it changes nothing, a new
/// one is shown on the device list with its time and error, an overlong error is refused.
#[tokio::test]
async fn devices_show_what_they_reported_when_pulling() {
    let db = TestDb::sqlite();
    let server = support::start(&db).await;
    let (_, mut admin) = console(&server, "admin", Role::Admin).await;
    let (_, admin_token) = server.user("admin2", Role::Admin, None).await;
    let device = server.device(&admin_token, "courier9").await;
    let (server_ref, device_id) = (&server, device.id);
    let pull = move |query: String| {
        let token = device.token.clone();
        async move {
            server_ref
                .call(
                    axum::http::Method::GET,
                    &format!("/api/v1/sync/pull?cursor=0{query}"),
                    Some(&token),
                    None,
                )
                .await
        }
    };
    let reported = move || async move {
        let activity = server_ref.store.device_activity().await.unwrap();
        let mine = activity.iter().find(|a| a.device_id == device_id).unwrap();
        (mine.pending_events, mine.last_sync_error.clone())
    };
    assert_eq!(pull(String::new()).await.status, StatusCode::OK);
    assert_eq!(
        reported().await,
        (None, None),
        "an old client reports nothing"
    );
    let page = admin.get("/admin/devices").await;
    assert!(page.text.contains("未上报"));

    let ok = pull("&pending_events=4&last_sync_error=sync_network%3A%20timed%20out".into()).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.json);
    assert_eq!(
        reported().await,
        (Some(4), Some("sync_network: timed out".into()))
    );
    let page = admin.get("/admin/devices").await;
    assert!(
        page.text.contains("<span class=\"pending\">4</span>"),
        "{}",
        page.text
    );
    assert!(page.text.contains("上次同步失败") && page.text.contains("sync_network: timed out"));

    let long = "x".repeat(201);
    let refused = pull(format!("&pending_events=1&last_sync_error={long}")).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let unknown = pull("&pending_events=1&battery=50".into()).await;
    assert_eq!(
        unknown.status,
        StatusCode::BAD_REQUEST,
        "unknown fields stay refused"
    );
    assert_eq!(
        reported().await,
        (Some(4), Some("sync_network: timed out".into())),
        "refused reports change nothing"
    );
    let recovered = pull("&pending_events=0".into()).await;
    assert_eq!(recovered.status, StatusCode::OK);
    assert_eq!(reported().await, (Some(0), None));
}

/// Events stored before the figure columns existed are decoded when the server starts: the
/// statistics of the wallet fixture come out the same after its columns are cleared and listed
/// as undecoded, as the migration leaves them.
async fn old_events_are_decoded_on_start(db: TestDb) {
    let server = support::start(&db).await;
    wallet_fixture(&server).await;
    let now = shuipiao_server::unix_now();
    let span = (now - 3 * 86_400, now + 86_400);
    let hourly = shuipiao_server::store::reports::Bucket::Hour;
    let before = server
        .store
        .report_data(span.0, span.1, hourly)
        .await
        .unwrap();
    assert!(
        before.events.iter().any(|group| group.bottles > 0),
        "{before:?}"
    );
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(db.url.expose())
        .await
        .unwrap();
    for statement in [
        "INSERT INTO events_undecoded (event_id) SELECT event_id FROM events",
        "UPDATE events SET units = NULL, product_code = NULL, refusal = NULL, void_target = NULL",
    ] {
        sqlx::Executor::execute(&mut conn, statement).await.unwrap();
    }
    let cleared = server.store.report_data(span.0, span.1, hourly).await;
    assert_ne!(cleared.ok(), Some(before.clone()), "the columns matter");
    let reopened = support::open(&db).await;
    let after = reopened.report_data(span.0, span.1, hourly).await.unwrap();
    assert_eq!(after, before);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events_undecoded")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn old_events_are_decoded_on_sqlite() {
    old_events_are_decoded_on_start(TestDb::sqlite()).await;
}

#[tokio::test]
async fn old_events_are_decoded_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        old_events_are_decoded_on_start(db).await;
    }
}

#[tokio::test]
async fn support_filters_notifications_and_resends_a_dead_one() {
    let db = TestDb::sqlite();
    let server = support::start(&db).await;
    let (_, mut operator) = console(&server, "op", Role::Operator).await;
    let master = support::master();
    let phone = shuipiao_server::pii::Phone::parse("13800001111").unwrap();
    let customer = support::phone_customer(&server.store, "13800001111", "王芳家").await;
    let message = NewNotification {
        user_id: Some(customer.id),
        channel: Channel::Wechat,
        recipient_sealed: phone.seal(&master),
        address_sealed: Some(shuipiao_server::pii::seal_address(&master, "wechat", "oid")),
        kind: MessageKind::Issued,
        body: "【水票】您的家庭月套餐已到账,共4张".into(),
        dedupe_key: None,
        secret: None,
    };
    let now = shuipiao_server::unix_now();
    server
        .store
        .enqueue_notifications(&[message], now)
        .await
        .unwrap();
    let id = server.store.notifications_of(customer.id, 1).await.unwrap()[0].id;
    server
        .store
        .record_delivery(
            "test",
            id,
            Channel::Wechat,
            Err("gateway answered 503"),
            None,
            now,
        )
        .await
        .unwrap();

    let dashboard = operator.get("/admin").await;
    assert!(
        dashboard
            .text
            .contains("href=\"/admin/notifications?state=dead&amp;days=7\""),
        "the failure count links to the list"
    );
    let list = operator.get("/admin/notifications?state=dead&days=7").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.text.contains("通知记录"), "in the menu");
    for shown in [
        "138****1111",
        "微信模板消息",
        "水票到账",
        "已放弃",
        "gateway answered 503",
        "重发",
    ] {
        assert!(list.text.contains(shown), "{shown}: {}", list.text);
    }
    assert!(
        !list.text.contains("13800001111"),
        "phone numbers stay masked"
    );
    let filtered = operator
        .get("/admin/notifications?channel=wechat&kind=issued&phone=138-0000-1111")
        .await;
    assert!(filtered.text.contains("138****1111"));
    for empty in [
        "/admin/notifications?state=sent",
        "/admin/notifications?channel=push",
        "/admin/notifications?phone=13900000000",
    ] {
        let page = operator.get(empty).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text.contains("没有符合条件的通知"), "{empty}");
    }
    let bad = operator.get("/admin/notifications?phone=12345").await;
    assert!(bad.text.contains("请输入 11 位手机号"), "{}", bad.text);
    let unknown = operator.get("/admin/notifications?channel=fax").await;
    assert!(unknown.text.contains("未知的发送渠道"));

    let path = format!("/admin/notifications/{id}/resend");
    let forged = operator.post_form(&path, &[("csrf", "forged")]).await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        server.store.notifications_of(customer.id, 1).await.unwrap()[0].state,
        NotificationState::Dead,
        "a forged form changes nothing"
    );
    let token = csrf(&operator);
    let resent = operator.post_form(&path, &[("csrf", &token)]).await;
    assert_eq!(resent.status, StatusCode::SEE_OTHER);
    let queued = &server.store.notifications_of(customer.id, 1).await.unwrap()[0];
    assert_eq!(
        (queued.state, queued.attempts, queued.last_error.as_deref()),
        (NotificationState::Pending, 0, None)
    );
    let log = server.store.audit_log(5).await.unwrap();
    assert_eq!(log[0].action, "notification.resend");
    assert_eq!(log[0].target, format!("notification:{id}"));
    let again = operator.post_form(&path, &[("csrf", &token)]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.text.contains("只能重发发送失败的通知"));
    let missing = operator
        .post_form("/admin/notifications/999999/resend", &[("csrf", &token)])
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);

    server.user("stat", Role::Statistician, None).await;
    let mut statistician = Browser::new(&server);
    statistician.sign_in("stat").await;
    assert_eq!(
        statistician.get("/admin/notifications").await.status,
        StatusCode::FORBIDDEN
    );
}

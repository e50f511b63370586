//! Accounts and users have one set of rules, whichever way they are written: the JSON API, the
//! users page and `create-admin` refuse the same bad input with the same zh-CN message, and a
//! refused request writes nothing.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use shuipiao_server::store::models::{AccountKind, Role};

use super::bounds::refused;
use crate::support::{self, TestDb, TestServer, on_both_backends};
use crate::web::Browser;

const USERNAME_RULE: &str = "登录名为 1–32 位字母、数字、汉字、下划线、点或横线";
const GOOD_PASSWORD: &str = "long enough";

/// How many users and accounts exist.
async fn counts(server: &TestServer) -> (usize, usize) {
    (
        server.store.users().await.unwrap().len(),
        server.store.accounts().await.unwrap().len(),
    )
}

async fn account(server: &TestServer, kind: AccountKind, name: &str) -> i64 {
    support::account(&server.store, kind, name).await.id
}

/// Staff users: a login name without spaces of at most 32 characters, a password by the one
/// rule, a courier's region and a clerk's store; the API and the page agree, and so does the
/// command line for the login name and the password.
async fn user_rules_are_the_same_on_the_api_the_page_and_the_command_line(db: TestDb) {
    let server = support::start(&db).await;
    let catalogue = support::catalogue(&server.store, 10).await;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    let enterprise = account(&server, AccountKind::Enterprise, "襄阳汉江科技有限公司").await;
    let family = account(&server, AccountKind::Customer, "张伟家").await;
    let mut browser = Browser::new(&server);
    browser.sign_in("admin").await;
    browser.get("/admin/users").await;
    let csrf = browser.csrf();
    let long = "x".repeat(33);
    let region = catalogue.region_id.to_string();
    let outlet = catalogue.outlet_id.to_string();
    // (username, password, role, region, outlet, message)
    let cases: [(&str, &str, &str, &str, &str, &str); 8] = [
        (
            "zhang san",
            GOOD_PASSWORD,
            "operator",
            "",
            "",
            USERNAME_RULE,
        ),
        ("", GOOD_PASSWORD, "operator", "", "", USERNAME_RULE),
        ("  ", GOOD_PASSWORD, "operator", "", "", USERNAME_RULE),
        (&long, GOOD_PASSWORD, "operator", "", "", USERNAME_RULE),
        ("a<b>", GOOD_PASSWORD, "operator", "", "", USERNAME_RULE),
        ("weakling", "short", "operator", "", "", "密码至少需要 8 位"),
        (
            "courier9",
            GOOD_PASSWORD,
            "courier",
            "",
            &outlet,
            "送水员需要选择服务区域",
        ),
        (
            "clerk9",
            GOOD_PASSWORD,
            "store_staff",
            &region,
            "",
            "门店店员需要选择门店",
        ),
    ];
    let before = counts(&server).await;
    let id = |text: &str| text.parse::<i64>().ok();
    for (username, password, role, region, outlet, message) in cases {
        let body = json!({
            "username": username, "password": password, "role": role,
            "region_id": id(region), "outlet_id": id(outlet),
        });
        let response = server
            .call(Method::POST, "/api/v1/users", Some(&admin), Some(body))
            .await;
        refused(&response, message);

        let page = browser
            .post_form(
                "/admin/users",
                &[
                    ("csrf", &csrf),
                    ("username", username),
                    ("password", password),
                    ("role", role),
                    ("region", region),
                    ("outlet", outlet),
                ],
            )
            .await;
        crate::web::refused_page(&page, message);
    }
    // Only the API links wallet users to accounts: a customer to a customer account, an
    // enterprise admin to an enterprise, nobody else to any.
    let linked: [(&str, Option<i64>, &str); 5] = [
        (
            "customer",
            Some(enterprise),
            "客户只能关联客户账户,企业管理员只能关联企业账户",
        ),
        (
            "enterprise_admin",
            Some(family),
            "客户只能关联客户账户,企业管理员只能关联企业账户",
        ),
        ("customer", Some(999_999), "账户不存在"),
        (
            "customer",
            None,
            "客户和企业管理员必须关联账户,其他角色不能关联账户",
        ),
        (
            "operator",
            Some(family),
            "客户和企业管理员必须关联账户,其他角色不能关联账户",
        ),
    ];
    for (role, account_id, message) in linked {
        let body = json!({
            "username": "wallet1", "password": GOOD_PASSWORD, "role": role, "account_id": account_id,
        });
        let response = server
            .call(Method::POST, "/api/v1/users", Some(&admin), Some(body))
            .await;
        refused(&response, message);
    }
    let url = db.url.expose().to_string();
    for (username, password, message) in [
        ("zhang san", GOOD_PASSWORD, USERNAME_RULE),
        (long.as_str(), GOOD_PASSWORD, USERNAME_RULE),
        ("boss", "short", "密码至少需要 8 位"),
    ] {
        let (ok, _, err) = crate::cli::run_with(
            &url,
            &["create-admin", "--username", username],
            &[("SHUIPIAO_ADMIN_PASSWORD", password)],
        );
        assert!(!ok && err.contains(message), "{username}: {err}");
    }
    assert_eq!(counts(&server).await, before, "nothing was written");

    let created = server
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&admin),
            Some(
                json!({ "username": " 张师傅 ", "password": GOOD_PASSWORD, "role": "courier",
                         "region_id": catalogue.region_id }),
            ),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    assert_eq!(created.json["username"], "张师傅");
    let page = browser
        .post_form(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("username", "clerk-li"),
                ("password", GOOD_PASSWORD),
                ("role", "store_staff"),
                ("region", ""),
                ("outlet", &outlet),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text);
    let clerk = server.store.user_by_name("clerk-li").await.unwrap();
    assert_eq!(clerk.spec.outlet_id, Some(catalogue.outlet_id));
}

/// Accounts: a name of 1–40 characters, and a member belongs only to an enterprise that exists;
/// an enterprise belongs to nobody.
async fn account_rules_hold_on_the_api(db: TestDb) {
    let server = support::start(&db).await;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    let enterprise = account(&server, AccountKind::Enterprise, "襄阳汉江科技有限公司").await;
    let family = account(&server, AccountKind::Customer, "张伟家").await;
    let cases: [(Value, &str); 5] = [
        (
            json!({ "kind": "customer", "name": "" }),
            "账户名称为 1–40 个字",
        ),
        (
            json!({ "kind": "customer", "name": "  " }),
            "账户名称为 1–40 个字",
        ),
        (
            json!({ "kind": "customer", "name": "家".repeat(41) }),
            "账户名称为 1–40 个字",
        ),
        (
            json!({ "kind": "customer", "name": "员工", "enterprise_id": 999_999 }),
            "所属企业不存在",
        ),
        (
            json!({ "kind": "enterprise", "name": "子公司", "enterprise_id": enterprise }),
            "企业账户不能隶属于其他企业",
        ),
    ];
    let before = counts(&server).await;
    for (body, message) in cases {
        let response = server
            .call(Method::POST, "/api/v1/accounts", Some(&admin), Some(body))
            .await;
        refused(&response, message);
    }
    // A member of an account that is not an enterprise is the store's conflict, as it always was.
    let response = server
        .call(
            Method::POST,
            "/api/v1/accounts",
            Some(&admin),
            Some(json!({ "kind": "customer", "name": "员工", "enterprise_id": family })),
        )
        .await;
    assert_eq!(response.status, StatusCode::CONFLICT, "{}", response.text);
    assert_eq!(response.json["message"], "所属账户不是企业账户");
    assert_eq!(counts(&server).await, before, "nothing was written");
    let member = server
        .call(
            Method::POST,
            "/api/v1/accounts",
            Some(&admin),
            Some(json!({ "kind": "customer", "name": " 员工01 ", "enterprise_id": enterprise })),
        )
        .await;
    assert_eq!(member.status, StatusCode::OK, "{}", member.text);
    assert_eq!(member.json["name"], "员工01");
}

/// A role change keeps a courier with a region and a clerk with a store: a user without one
/// cannot be given that role.
async fn role_changes_keep_couriers_in_a_region(db: TestDb) {
    let server = support::start(&db).await;
    let (_, _) = server.user("admin", Role::Admin, None).await;
    let (operator, _) = server.user("operator", Role::Operator, None).await;
    let mut browser = Browser::new(&server);
    browser.sign_in("admin").await;
    browser.get("/admin/users").await;
    let csrf = browser.csrf();
    let path = format!("/admin/users/{}", operator.id.0);
    for (role, message) in [
        ("courier", "该用户没有服务区域,不能改为送水员"),
        ("store_staff", "该用户没有所属门店,不能改为门店店员"),
    ] {
        let page = browser
            .post_form(
                &path,
                &[("csrf", &csrf), ("role", role), ("status", "active")],
            )
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.text);
        assert!(page.text.contains(message), "{}", page.text);
    }
    let stored = server.store.user(operator.id).await.unwrap();
    assert_eq!(stored.spec.role, Role::Operator, "nothing changed");
    let page = browser
        .post_form(
            &path,
            &[
                ("csrf", &csrf),
                ("role", "statistician"),
                ("status", "disabled"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text);
    let stored = server.store.user(operator.id).await.unwrap();
    assert_eq!(stored.spec.role, Role::Statistician);
    assert!(stored.disabled_at.is_some());
}

/// Admins make dispatchers on the API and the users page under the staff rules: no region,
/// store or account, and the users page offers the role.
async fn dispatchers_are_made_on_the_api_and_the_users_page(db: TestDb) {
    let server = support::start(&db).await;
    let catalogue = support::catalogue(&server.store, 10).await;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    let mut browser = Browser::new(&server);
    browser.sign_in("admin").await;
    let form = browser.get("/admin/users").await;
    assert!(
        form.text.contains(r#"value="dispatcher""#),
        "the page offers 调度员"
    );
    assert!(form.text.contains("调度员"));
    let csrf = browser.csrf();
    let before = counts(&server).await;
    let with_region = server
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&admin),
            Some(
                json!({ "username": "diaodu1", "password": GOOD_PASSWORD, "role": "dispatcher",
                         "region_id": catalogue.region_id }),
            ),
        )
        .await;
    refused(&with_region, "只有送水员关联服务区域,只有门店店员关联门店");
    assert_eq!(counts(&server).await, before, "nothing was written");
    let created = server
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&admin),
            Some(json!({ "username": "diaodu1", "password": GOOD_PASSWORD, "role": "dispatcher" })),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    assert_eq!(created.json["role"], "dispatcher");
    let page = browser
        .post_form(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("username", "diaodu2"),
                ("password", GOOD_PASSWORD),
                ("role", "dispatcher"),
                ("region", ""),
                ("outlet", ""),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text);
    let made = server.store.user_by_name("diaodu2").await.unwrap();
    assert_eq!(made.spec.role, Role::Dispatcher);
}

on_both_backends!(
    user_rules_are_the_same_on_the_api_the_page_and_the_command_line,
    account_rules_hold_on_the_api,
    role_changes_keep_couriers_in_a_region,
    dispatchers_are_made_on_the_api_and_the_users_page,
);

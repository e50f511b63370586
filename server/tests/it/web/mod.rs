//! The web pages over real HTTP: sign-in with CSRF, the wallet and who may see which book; and
//! the same pages driven in headless Chromium.

mod admin;
mod admin_browser;
mod audit;
mod browser;
mod buckets_browser;
mod codes;
mod csrf;
mod customers;
mod demo_browser;
mod enterprise;
mod holder_browser;
mod holder_qr;
mod inbox;
mod membership;
mod ordering_browser;
mod passwords;
mod places;
mod races;
mod register;
mod rewards;
mod wallet;

use axum::http::{Method, StatusCode};
use shuipiao_server::issuance::{self, Allocation, IssueOrder};
use shuipiao_server::store::models::{AccountKind, NewAccount, NewBook, Role};

use crate::support::{self, Body, PASSWORD, TestServer, audit};

/// A browser's cookie jar for one site, kept as the `Cookie` header value.
#[derive(Default, Clone)]
pub struct Jar(Vec<(String, String)>);

impl Jar {
    /// Takes the `Set-Cookie` headers of a response.
    pub fn take(&mut self, response: &support::Response) {
        for (name, value) in &response.headers {
            if !name.eq_ignore_ascii_case("set-cookie") {
                continue;
            }
            let pair = value.split(';').next().unwrap_or_default();
            let (key, val) = pair.split_once('=').unwrap();
            self.0.retain(|(k, _)| k != key);
            if !val.is_empty() {
                self.0.push((key.to_string(), val.to_string()));
            }
        }
    }

    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Sets a cookie as another site or a network attacker might plant it.
    pub fn set(&mut self, name: &str, value: &str) {
        self.0.retain(|(k, _)| k != name);
        self.0.push((name.to_string(), value.to_string()));
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A browser-like client: GETs and form POSTs with cookies, no redirects followed.
pub struct Browser<'a> {
    pub server: &'a TestServer,
    pub jar: Jar,
    /// Sent as `X-Forwarded-For`, to look like this client behind a trusted proxy.
    pub forwarded_for: Option<&'a str>,
    /// The CSRF token in the forms of the last page loaded.
    form_token: Option<String>,
}

impl<'a> Browser<'a> {
    pub fn new(server: &'a TestServer) -> Browser<'a> {
        Browser {
            server,
            jar: Jar::default(),
            forwarded_for: None,
            form_token: None,
        }
    }

    fn headers<'h>(&'h self, cookie: &'h str) -> Vec<(&'h str, &'h str)> {
        let mut headers = vec![("Cookie", cookie)];
        if let Some(client) = self.forwarded_for {
            headers.push(("X-Forwarded-For", client));
        }
        headers
    }

    pub async fn get(&mut self, path: &str) -> support::Response {
        let cookie = self.jar.header();
        let response = self
            .server
            .raw(Method::GET, path, &self.headers(&cookie), Body::Bytes(b""))
            .await;
        self.take(&response);
        response
    }

    /// Keeps the response's cookies, and the CSRF token of its forms if it is a page with any.
    fn take(&mut self, response: &support::Response) {
        self.jar.take(response);
        if let Some(token) = form_token(&response.text) {
            self.form_token = Some(token);
        }
    }

    /// The CSRF token a form of the last loaded page would submit, as a person's browser does.
    pub fn csrf(&self) -> String {
        self.form_token
            .clone()
            .expect("a page with a form was loaded")
    }

    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> support::Response {
        let cookie = self.jar.header();
        let body = form_body(fields);
        let mut headers = self.headers(&cookie);
        headers.push(("Content-Type", "application/x-www-form-urlencoded"));
        let response = self
            .server
            .raw(Method::POST, path, &headers, Body::Bytes(body.as_bytes()))
            .await;
        self.take(&response);
        response
    }

    /// The form POST [`Browser::post_form`] would send, to send with others
    /// ([`TestServer::at_once`]); its answer does not touch the jar.
    pub fn form(&self, path: &str, fields: &[(&str, &str)]) -> support::Request {
        let cookie = self.jar.header();
        let mut headers: Vec<(String, String)> = self
            .headers(&cookie)
            .into_iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        headers.push((
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
        support::Request {
            method: Method::POST,
            path: path.into(),
            headers,
            body: form_body(fields).into_bytes(),
        }
    }

    /// Signs in through the login form and, like a browser, loads the page it redirects to;
    /// panics unless it redirects. Returns where it went.
    pub async fn sign_in(&mut self, username: &str) -> String {
        let form = self.get("/login").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = self.csrf();
        let response = self
            .post_form(
                "/login",
                &[
                    ("username", username),
                    ("password", PASSWORD),
                    ("csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.text);
        let location = response.header("location").unwrap().to_string();
        self.get(&location).await;
        location
    }
}

/// An error page with status 400 that shows `message`.
pub fn refused_page(page: &support::Response, message: &str) {
    assert_eq!(
        page.status,
        StatusCode::BAD_REQUEST,
        "{message}: {}",
        page.text
    );
    assert!(page.text.contains(message), "{message}: {}", page.text);
}

fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The message the console's API refuses a customer account named `name` with (signing in a
/// fresh admin for it).
async fn console_refuses_account_name(server: &TestServer, name: &str) -> String {
    let (_, admin) = server.user("console-admin", Role::Admin, None).await;
    let console = server
        .call(
            Method::POST,
            "/api/v1/accounts",
            Some(&admin),
            Some(serde_json::json!({ "kind": "customer", "name": name })),
        )
        .await;
    assert_eq!(console.status, StatusCode::BAD_REQUEST, "{}", console.text);
    console.json["message"].as_str().unwrap().to_string()
}

/// The value of a page's hidden `csrf` field.
pub(crate) fn form_token(html: &str) -> Option<String> {
    let (_, rest) = html.split_once(r#"name="csrf" value=""#)?;
    rest.split('"').next().map(str::to_string)
}

/// `text` percent-encoded for a query string or a form body.
pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Two families and an enterprise with two members, each with books.
pub struct WalletFixture {
    /// 张家: a 4-unit book (2 used), a 10+1 book, and a revoked book.
    pub zhang: Vec<NewBook>,
    /// 王家: one book.
    pub wang: Vec<NewBook>,
    /// Books of the enterprise's two members.
    pub members: Vec<NewBook>,
}

pub async fn wallet_fixture(server: &TestServer) -> WalletFixture {
    let store = &server.store;
    let now = shuipiao_server::unix_now();
    let family = support::catalogue(store, 4).await;
    let big = support::catalogue_with(store, 10).await;
    let zhang = support::customer_account(store, "张伟家").await;
    let wang = support::customer_account(store, "王芳家").await;
    server.user("zhang", Role::Customer, Some(zhang.id)).await;
    server.user("wang", Role::Customer, Some(wang.id)).await;
    let enterprise = store
        .create_account(
            &NewAccount {
                kind: AccountKind::Enterprise,
                name: "汉江科技".into(),
                enterprise_id: None,
            },
            now,
            &audit("account.create"),
        )
        .await
        .unwrap();
    server
        .user("hjadmin", Role::EnterpriseAdmin, Some(enterprise.id))
        .await;
    let mut member_ids = Vec::new();
    for n in 1..=2 {
        let member = store
            .create_account(
                &NewAccount {
                    kind: AccountKind::Customer,
                    name: format!("汉江员工{n}"),
                    enterprise_id: Some(enterprise.id),
                },
                now,
                &audit("account.create"),
            )
            .await
            .unwrap();
        member_ids.push(member.id);
    }
    let master = support::master();
    let issue = |account_id, package_id, allocations: Vec<Allocation>| {
        let order = IssueOrder {
            account_id,
            package_id,
            quantity: 1,
            allocations,
        };
        let master = master.clone();
        async move {
            issuance::issue_order(store, &master, &order, None, now)
                .await
                .unwrap()
                .books
        }
    };
    let mut zhang_books = issue(zhang.id, family.package_id, Vec::new()).await;
    zhang_books.extend(issue(zhang.id, big.package_id, Vec::new()).await);
    zhang_books.extend(issue(zhang.id, family.package_id, Vec::new()).await);
    issuance::revoke(store, zhang_books[2].id, "用户挂失", None, now)
        .await
        .unwrap();
    let wang_books = issue(wang.id, family.package_id, Vec::new()).await;
    let members = issue(
        enterprise.id,
        big.package_id,
        member_ids
            .iter()
            .map(|&account_id| Allocation {
                account_id,
                units: 5,
            })
            .collect(),
    )
    .await;

    // A courier redeems two units of 张家's first book.
    let (_, admin_token) = server.user("admin", Role::Admin, None).await;
    let mut device = server.device(&admin_token, "courier1").await;
    // The redemptions are scanned at the books' issue time and a minute later.
    device.clock = now as u64 - 60;
    let events = vec![
        device.redeem(zhang_books[0].id, 1),
        device.redeem(zhang_books[0].id, 1),
    ];
    server.push_ok(&device, &events).await;
    assert_eq!(store.book(zhang_books[0].id).await.unwrap().used_units, 2);
    WalletFixture {
        zhang: zhang_books,
        wang: wang_books,
        members,
    }
}

//! Extreme values in every query and path parameter of every GET route of the route table, sent
//! as every role that may open it: no answer is a 500 and no connection is dropped (a handler
//! that panicked on an overflow used to close it without a response).

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use shuipiao_server::http::Access;
use shuipiao_server::router::routes;
use shuipiao_server::store::Store;
use shuipiao_server::store::models::Role;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;

use crate::support::{self, TestDb, on_both_backends};
use crate::web::urlencode;

/// Numbers at the edges of every integer type a parameter may be read as, dates far outside
/// the calendar, nothing, not a number, a NUL character (which PostgreSQL cannot store) and a
/// 10 kB string.
fn extreme_values() -> Vec<String> {
    let mut values: Vec<String> = [
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551615",
        "2147483647",
        "-2147483648",
        "4294967295",
        "-1",
        "0",
        "2147483647-12",
        "-2147483648-01",
        "9999-99-99",
        "9999-12-31",
        "0000-01-01",
        "",
        "abc",
        "a\0b",
    ]
    .map(String::from)
    .to_vec();
    values.push("9".repeat(10_000));
    values
}

/// The query parameters each GET route reads. A GET route missing here fails the test, so a
/// new route cannot go unchecked.
fn query_parameters(path: &str) -> Option<&'static [&'static str]> {
    const PERIOD: &[&str] = &["from", "to", "table", "format"];
    const STAFF: &[&str] = &[
        "month",
        "per_bottle",
        "per_guided",
        "per_anomaly",
        "min_bottles",
        "format",
    ];
    const DONE: &[&str] = &["done"];
    Some(match path {
        "/healthz"
        | "/metrics"
        | "/api/v1/openapi.json"
        | "/api/v1/me"
        | "/api/v1/sync/snapshot"
        | "/api/v1/sync/status"
        | "/api/v1/products"
        | "/api/v1/regions"
        | "/api/v1/outlets"
        | "/api/v1/scopes"
        | "/api/v1/packages"
        | "/api/v1/accounts/{id}/members"
        | "/api/v1/accounts/{id}/allocated-books"
        | "/api/v1/accounts/{id}/buckets"
        | "/api/v1/books/mine"
        | "/api/v1/books/{id}"
        | "/api/v1/stats/summary"
        | "/api/v1/devices"
        | "/api/v1/keys"
        | "/api/v1/audit"
        | "/api/v1/addresses"
        | "/api/v1/delivery-orders"
        | "/api/v1/delivery-orders/{id}"
        | "/api/v1/books/orderable"
        | "/api/v1/recurring-orders"
        | "/"
        | "/login/sms"
        | "/login/reset"
        | "/wallet/join"
        | "/static/shuipiao.css"
        | "/static/shuipiao.js"
        | "/static/holder.js"
        | "/static/admin.css"
        | "/wallet/books/{id}"
        | "/wallet/books/{id}/print" => &[],
        "/api/v1/sync/pull" => &[
            "cursor",
            "keyring_version",
            "limit",
            "pending_events",
            "last_sync_error",
        ],
        "/api/v1/sync/deliveries" => &["cursor", "limit"],
        "/api/v1/review" => &["all"],
        "/api/v1/delivery-slots" => &["address_id"],
        "/wallet/order" => &["address"],
        "/wallet/addresses" => &["edit", "done"],
        "/wallet/orders" | "/wallet/recurring" => DONE,
        "/login" => &["next"],
        "/wallet/register" => &["code"],
        "/wallet" => &["from", "to", "product", "status", "q"],
        "/wallet/books/{id}/qr.svg" => &["window", "proof"],
        "/wallet/points" | "/wallet/enterprise" | "/wallet/feedback" | "/admin"
        | "/admin/books/{id}" | "/admin/packages" | "/admin/keys" | "/admin/devices"
        | "/admin/users" | "/wallet/password" | "/admin/password" | "/admin/places" => DONE,
        "/admin/customers" => &["q", "region", "page"],
        "/admin/customers/{id}" => &[],
        "/admin/tickets" => &["q"],
        "/admin/inbox" | "/admin/review" => &["all", "done"],
        "/admin/buckets" => &["account", "done"],
        "/admin/notifications" => &["state", "channel", "kind", "phone", "days", "done"],
        "/admin/issue" => &["account", "package", "quantity", "split"],
        "/admin/audit" => &["q", "actor", "action", "before", "after"],
        "/admin/stats" | "/admin/stats/export" => PERIOD,
        "/admin/staff" | "/admin/staff/export" => STAFF,
        "/api/v1/dispatch/orders" => &["date", "region_id", "slot"],
        "/api/v1/dispatch/couriers" => &["date"],
        "/admin/dispatch" => &["date", "region_id", "done"],
        "/admin/dispatch/sheet" => &["courier_id", "date"],
        _ => return None,
    })
}

/// The status of a GET, or `None` when the server closed the connection without an answer.
async fn status_of(addr: &str, path: &str, token: Option<&str>) -> Option<StatusCode> {
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let head = String::from_utf8_lossy(raw.get(..12)?).into_owned();
    let code = head.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    StatusCode::from_u16(code).ok()
}

/// One request of the sweep: the path with its query, and who sends it.
struct Probe {
    path: String,
    caller: String,
    token: Option<Arc<str>>,
}

async fn extreme_parameters_never_break_a_get_route(db: TestDb) {
    let server = support::start(&db).await;
    let store: &Store = &server.store;
    let fixture = crate::web::wallet_fixture(&server).await;
    // Holders of the fixture's books, so book pages get past "not yours" to their parameters.
    let customer = fixture.zhang[0].account_id;
    let member = store.account(fixture.members[0].account_id).await.unwrap();
    let enterprise = member.spec.enterprise_id.unwrap();
    let mut tokens: Vec<(Role, Arc<str>)> = Vec::new();
    for role in Role::ALL {
        let account = match role {
            Role::Customer => Some(customer),
            Role::EnterpriseAdmin => Some(enterprise),
            _ => None,
        };
        let (_, token) = server
            .user(&format!("extreme-{}", role.as_str()), role, account)
            .await;
        tokens.push((role, token.into()));
    }
    let admin_token = tokens
        .iter()
        .find(|(role, _)| *role == Role::Admin)
        .map(|(_, token)| token.to_string())
        .unwrap();
    let device = server.device(&admin_token, "extreme-device").await;
    let device_token: Arc<str> = device.token.clone().into();
    let known_book = fixture.zhang[0].id.0.to_string();

    let values = extreme_values();
    let mut probes = Vec::new();
    for route in routes().iter().filter(|r| r.method == Method::GET) {
        let parameters = query_parameters(route.path).unwrap_or_else(|| {
            panic!(
                "list the query parameters of GET {} in this test",
                route.path
            )
        });
        let callers: Vec<(String, Option<Arc<str>>)> = match route.access {
            Access::Public | Access::Metrics => vec![("anonymous".into(), None)],
            Access::Device => vec![("device".into(), Some(device_token.clone()))],
            Access::Roles(allowed) => tokens
                .iter()
                .filter(|(role, _)| allowed.contains(role))
                .map(|(role, token)| (format!("{role:?}"), Some(token.clone())))
                .collect(),
        };
        let mut paths = Vec::new();
        if route.path.contains("{id}") {
            for value in values.iter().filter(|v| !v.is_empty()) {
                paths.push(route.path.replace("{id}", &urlencode(value)));
            }
        }
        let base = route.path.replace("{id}", &known_book);
        for parameter in parameters {
            for value in &values {
                paths.push(format!("{base}?{parameter}={}", urlencode(value)));
            }
        }
        for path in paths {
            for (caller, token) in &callers {
                probes.push(Probe {
                    path: path.clone(),
                    caller: caller.clone(),
                    token: token.clone(),
                });
            }
        }
    }
    assert!(probes.len() > 1_000, "{} probes", probes.len());

    let addr: Arc<str> = server.addr.clone().into();
    let mut failures = Vec::new();
    let mut running = JoinSet::new();
    let mut queue = probes.into_iter();
    loop {
        while running.len() < 8 {
            let Some(probe) = queue.next() else { break };
            let addr = addr.clone();
            running.spawn(async move {
                let status = status_of(&addr, &probe.path, probe.token.as_deref()).await;
                (probe, status)
            });
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        let (probe, status) = done.unwrap();
        match status {
            None => failures.push(format!("dropped: {} GET {}", probe.caller, probe.path)),
            Some(status) if status.is_server_error() => failures.push(format!(
                "{status}: {} GET {}",
                probe.caller,
                probe.path.chars().take(200).collect::<String>()
            )),
            Some(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        store.books_of_account(customer).await.unwrap().len(),
        fixture.zhang.len(),
        "the sweep changed nothing"
    );
}

/// A NUL character in a request body, which PostgreSQL refuses to store or compare, is a bad
/// request, not a server error: anonymously at the login, and in an admin's new region.
async fn a_nul_character_is_a_bad_request(db: TestDb) {
    let server = support::start(&db).await;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    let login = server
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(serde_json::json!({ "username": "a\0b", "password": "whatever1" })),
        )
        .await;
    assert!(
        matches!(login.status.as_u16(), 400 | 401),
        "{} {}",
        login.status,
        login.text
    );
    let region = server
        .call(
            Method::POST,
            "/api/v1/regions",
            Some(&admin),
            Some(serde_json::json!({ "name": "武\0汉" })),
        )
        .await;
    assert!(!region.status.is_server_error(), "{}", region.text);
    if region.status == StatusCode::BAD_REQUEST {
        assert_eq!(region.json["message"], "文字中含有无法保存的字符");
    }
}

on_both_backends!(
    extreme_parameters_never_break_a_get_route,
    a_nul_character_is_a_bad_request
);

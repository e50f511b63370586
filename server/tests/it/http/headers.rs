//! Security headers and cookie flags over real HTTP, and the templates' promise to the
//! Content-Security-Policy: no inline script, event handler or style anywhere.

use axum::http::{Method, StatusCode};
use shuipiao_server::http::CONTENT_SECURITY_POLICY;
use shuipiao_server::store::models::Role;

use crate::support::{self, Body, PASSWORD, TestDb};

fn set_cookies(response: &support::Response) -> Vec<&str> {
    response
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, value)| value.as_str())
        .collect()
}

#[tokio::test]
async fn pages_and_api_carry_the_security_headers() {
    let db = TestDb::sqlite();
    let server = support::start(&db).await;
    let page = server
        .raw(Method::GET, "/login", &[], Body::Bytes(b""))
        .await;
    let api = server.call(Method::GET, "/healthz", None, None).await;
    let missing = server
        .call(Method::GET, "/api/v1/nothing", None, None)
        .await;
    for response in [&page, &api, &missing] {
        for (name, value) in [
            ("content-security-policy", CONTENT_SECURITY_POLICY),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "same-origin"),
        ] {
            assert_eq!(response.header(name), Some(value), "{name}");
        }
        assert_eq!(
            response.header("strict-transport-security"),
            None,
            "no HSTS over plain HTTP"
        );
    }
    assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self';"));
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));

    let cookies = set_cookies(&page);
    assert!(!cookies.is_empty(), "the login page sets a CSRF cookie");
    assert!(
        cookies.iter().all(|cookie| !cookie.contains("Secure")),
        "{cookies:?}"
    );
}

/// Behind HTTPS every cookie is `Secure`, and the session and CSRF cookies are `__Host-`
/// cookies (host-only, `Path=/`): a sibling subdomain or a plain-HTTP hop cannot plant one, and
/// a cookie under the plain name is not taken for a session.
#[tokio::test]
async fn cookie_secure_marks_every_cookie() {
    let db = TestDb::sqlite();
    let server = support::start_with(&db, |config| config.cookie_secure = true).await;
    let (_, token) = server.user("he", Role::Customer, None).await;
    let mut browser = crate::web::Browser::new(&server);
    let form = browser.get("/login").await;
    let csrf = browser.csrf();
    let login = browser
        .post_form(
            "/login",
            &[("username", "he"), ("password", PASSWORD), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.text);
    let register = server
        .raw(Method::GET, "/wallet/register", &[], Body::Bytes(b""))
        .await;
    let cookies: Vec<&str> = set_cookies(&form)
        .into_iter()
        .chain(set_cookies(&login))
        .chain(set_cookies(&register))
        .collect();
    let names: Vec<&str> = cookies
        .iter()
        .map(|cookie| cookie.split('=').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "__Host-sp_csrf",
            "__Host-sp_session",
            "__Host-sp_csrf",
            "sp_browser"
        ],
        "CSRF, session, CSRF and browser id: {cookies:?}"
    );
    for cookie in cookies {
        let attributes: Vec<&str> = cookie.split("; ").skip(1).collect();
        assert_eq!(
            attributes.iter().filter(|a| **a == "Secure").count(),
            1,
            "{cookie}"
        );
        assert!(attributes.contains(&"Path=/"), "{cookie}");
        assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
    }
    assert_eq!(
        login.header("strict-transport-security"),
        None,
        "HSTS is for the server's own TLS only"
    );

    assert_eq!(browser.get("/wallet").await.status, StatusCode::OK);
    let host = format!("__Host-sp_session={token}");
    let plain = format!("sp_session={token}");
    let wallet = |cookie: String| {
        let server = &server;
        async move {
            server
                .raw(
                    Method::GET,
                    "/wallet",
                    &[("Cookie", &cookie)],
                    Body::Bytes(b""),
                )
                .await
                .status
        }
    };
    assert_eq!(wallet(host).await, StatusCode::OK);
    assert_eq!(
        wallet(plain).await,
        StatusCode::SEE_OTHER,
        "a plain-named cookie may have been planted: it is no session"
    );
}

/// Pages and JSON that carry a bearer QR, a token or personal data must not stay in a shared
/// or browser cache (a kiosk's back button, a proxy): every page, every API answer and every
/// redirect says `no-store`; only the static assets may be kept.
#[tokio::test]
async fn credentials_and_personal_data_are_never_cached() {
    let db = TestDb::sqlite();
    let server = support::start(&db).await;
    let fixture = crate::web::wallet_fixture(&server).await;
    let admin = server
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(serde_json::json!({ "username": "admin", "password": PASSWORD })),
        )
        .await
        .json["token"]
        .as_str()
        .unwrap()
        .to_string();
    let book = fixture.zhang[0].id.0;
    let mut zhang = crate::web::Browser::new(&server);
    zhang.sign_in("zhang").await;
    let mut responses = vec![
        (
            "login page",
            server
                .raw(Method::GET, "/login", &[], Body::Bytes(b""))
                .await,
        ),
        ("wallet", zhang.get("/wallet").await),
        (
            "book with its QR",
            zhang.get(&format!("/wallet/books/{book}")).await,
        ),
        (
            "printed ticket",
            zhang.get(&format!("/wallet/books/{book}/print")).await,
        ),
        ("points", zhang.get("/wallet/points").await),
        (
            "redirect to sign-in",
            server
                .raw(Method::GET, "/wallet", &[], Body::Bytes(b""))
                .await,
        ),
    ];
    let credentials = serde_json::json!({ "username": "admin", "password": PASSWORD });
    responses.push((
        "API sign-in with its token",
        server
            .call(Method::POST, "/api/v1/auth/login", None, Some(credentials))
            .await,
    ));
    for (what, path) in [
        ("API book with its QR", format!("/api/v1/books/{book}")),
        ("API me", "/api/v1/me".to_string()),
        ("API audit", "/api/v1/audit".to_string()),
    ] {
        responses.push((
            what,
            server.call(Method::GET, &path, Some(&admin), None).await,
        ));
    }
    let mut console = crate::web::Browser::new(&server);
    console.sign_in("admin").await;
    for path in ["/admin", "/admin/tickets", "/admin/users", "/admin/audit"] {
        responses.push(("admin page", console.get(path).await));
    }
    for (what, response) in &responses {
        assert!(
            response.status.is_success() || response.status.is_redirection(),
            "{what}: {} {}",
            response.status,
            response.text
        );
        assert_eq!(response.header("cache-control"), Some("no-store"), "{what}");
    }
    for asset in [
        "/static/shuipiao.css",
        "/static/shuipiao.js",
        "/static/holder.js",
        "/static/admin.css",
    ] {
        let response = server.raw(Method::GET, asset, &[], Body::Bytes(b"")).await;
        assert_eq!(
            response.header("cache-control"),
            Some("public, max-age=3600"),
            "{asset} stays cacheable"
        );
    }
}

#[tokio::test]
async fn page_behaviour_comes_from_the_script_file() {
    let db = TestDb::sqlite();
    let server = support::start(&db).await;
    let script = server
        .raw(Method::GET, "/static/shuipiao.js", &[], Body::Bytes(b""))
        .await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(
        script
            .header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(script.text.contains("data-confirm") || script.text.contains("dataset.confirm"));
    assert!(script.text.contains("data-print"));
    let page = server
        .raw(Method::GET, "/login", &[], Body::Bytes(b""))
        .await;
    assert!(
        page.text
            .contains(r#"<script src="/static/shuipiao.js" defer></script>"#)
    );
}

/// Every template, so pages no test renders are held to the policy too.
#[test]
fn templates_have_no_inline_script_or_style() {
    fn visit(dir: &std::path::Path, found: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                visit(&path, found);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            found.push((path.display().to_string(), text));
        }
    }
    let mut templates = Vec::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    visit(&root, &mut templates);
    assert!(templates.len() > 10, "templates found under {root:?}");
    for (path, text) in &templates {
        let lower = text.to_lowercase();
        for script in lower.match_indices("<script").map(|(at, _)| &lower[at..]) {
            let tag = &script[..script.find('>').unwrap()];
            assert!(tag.contains(" src="), "{path}: inline <script>");
        }
        assert!(!lower.contains("<style"), "{path}: <style> element");
        assert!(!lower.contains(" style="), "{path}: style attribute");
        assert!(!lower.contains("javascript:"), "{path}: javascript: URL");
        for handler in lower.match_indices(" on").map(|(at, _)| &lower[at + 1..]) {
            let name: String = handler
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            assert!(
                !(name.len() > 2 && handler[name.len()..].starts_with('=')),
                "{path}: inline event handler {name}="
            );
        }
    }
}

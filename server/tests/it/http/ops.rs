//! Operations endpoints over real HTTP: who may read `/metrics`.

use axum::http::{Method, StatusCode};

use crate::support::{self, Body, TestDb};

async fn scrape(server: &support::TestServer, headers: &[(&str, &str)]) -> support::Response {
    server
        .raw(Method::GET, "/metrics", headers, Body::Bytes(b""))
        .await
}

/// Without a metrics token, `/metrics` answers only a scraper on the same host: a request a
/// reverse proxy relayed from outside (it names the client in a forwarding header) is told
/// there is nothing there, trusted proxy or not.
#[tokio::test]
async fn without_a_token_metrics_answer_only_a_local_scraper() {
    let db = TestDb::sqlite();
    let server = support::start(&db).await;
    let local = scrape(&server, &[]).await;
    assert_eq!(local.status, StatusCode::OK, "{}", local.text);
    assert!(local.text.contains("shuipiao_http_requests_total"));
    for header in [
        ("X-Forwarded-For", "203.0.113.7"),
        ("Forwarded", "for=203.0.113.7"),
        ("X-Real-IP", "203.0.113.7"),
    ] {
        let relayed = scrape(&server, &[header]).await;
        assert_eq!(relayed.status, StatusCode::NOT_FOUND, "{header:?}");
        assert!(!relayed.text.contains("shuipiao_"), "{}", relayed.text);
    }

    let behind_proxy = support::start_with(&db, |config| {
        config.limits.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let relayed = scrape(&behind_proxy, &[("X-Forwarded-For", "203.0.113.7")]).await;
    assert_eq!(relayed.status, StatusCode::NOT_FOUND);
}

/// With `metrics_token` set, `/metrics` wants it as a bearer token from everyone, local or not.
#[tokio::test]
async fn with_a_token_metrics_want_it_from_everyone() {
    let db = TestDb::sqlite();
    let token = "metrics-scraper-token-0123456789";
    let server = support::start_with(&db, |config| {
        config.metrics_token = Some(token.parse().unwrap());
    })
    .await;
    let right = format!("Bearer {token}");
    let wrong = format!("Bearer {token}x");
    let ok = scrape(&server, &[("Authorization", &right)]).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let relayed = scrape(
        &server,
        &[
            ("Authorization", &right),
            ("X-Forwarded-For", "203.0.113.7"),
        ],
    )
    .await;
    assert_eq!(
        relayed.status,
        StatusCode::OK,
        "the token works through a proxy"
    );
    for headers in [
        &[][..],
        &[("Authorization", wrong.as_str())][..],
        &[("Authorization", "Bearer ")][..],
    ] {
        let refused = scrape(&server, headers).await;
        assert_eq!(
            (refused.status, refused.json["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized")),
            "{headers:?}"
        );
        assert!(!refused.text.contains("shuipiao_"));
    }
}

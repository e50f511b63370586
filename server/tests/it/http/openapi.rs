//! The OpenAPI document is served and matches the committed snapshot, so API changes are
//! deliberate. Regenerate with `UPDATE_SNAPSHOTS=1 cargo nextest run -p shuipiao-server openapi`.

use axum::http::{Method, StatusCode};

use shuipiao_server::http::{Access, Surface};

use crate::support;

#[tokio::test]
async fn openapi_document_matches_snapshot() {
    let db = support::TestDb::sqlite();
    let server = support::start(&db).await;
    let response = server
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(response.status, StatusCode::OK);
    let actual = serde_json::to_string_pretty(&response.json).unwrap() + "\n";
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/snapshots/openapi.json");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "the OpenAPI document changed; review it and rerun with UPDATE_SNAPSHOTS=1 to accept"
    );
    // Every API route is documented, says who may call it, and how it fails.
    for route in shuipiao_server::router::routes() {
        if route.path == "/api/v1/openapi.json" || route.surface == Surface::Page {
            continue;
        }
        let method = route.method.as_str().to_lowercase();
        let operation = &response.json["paths"][route.path][&method];
        assert!(
            operation.is_object(),
            "route {} {} is missing from the OpenAPI document",
            route.method,
            route.path
        );
        assert_eq!(
            operation.get("security").is_some(),
            route.access != Access::Public,
            "{method} {}",
            route.path
        );
        assert!(operation["responses"]["500"].is_object(), "{}", route.path);
    }
    let schemes = &response.json["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["scheme"], "bearer");
}

/// A method a path does not declare answers 405 with the declared ones in `Allow`, before any
/// access check: not 401 or 403, which would say the caller, not the method, is wrong.
#[tokio::test]
async fn undeclared_methods_answer_405_with_allow() {
    let db = support::TestDb::sqlite();
    let server = support::start(&db).await;
    let routes = shuipiao_server::router::routes();
    let mut checked = 0;
    for route in &routes {
        let declared: Vec<&Method> = routes
            .iter()
            .filter(|other| other.path == route.path)
            .map(|other| &other.method)
            .collect();
        let path = route.path.replace("{id}", "1").replace("{kid}", "0a0b0c0d");
        let path = path
            .replace("{event_id}", "01a0862e-4370-7453-b56a-9ebb90390000")
            .replace("{channel}", "push");
        for method in [Method::PUT, Method::PATCH, Method::DELETE, Method::POST] {
            if declared.contains(&&method) {
                continue;
            }
            let response = server.call(method.clone(), &path, None, None).await;
            assert_eq!(
                response.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            let allow = response.header("allow").unwrap_or_default().to_string();
            for method in &declared {
                assert!(allow.contains(method.as_str()), "{path}: Allow {allow}");
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked} undeclared methods tried");
}

//! The server's own HTTPS: a self-signed certificate made in the test, a client that trusts only
//! it, HSTS and `Secure` `__Host-` cookies over TLS, plain HTTP refused, unusable files named at start.

use std::path::Path;

use axum::http::StatusCode;
use shuipiao_server::auth;
use shuipiao_server::config::{Config, TlsConfig};
use shuipiao_server::store::models::{NewUser, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{self, PASSWORD};

/// A certificate for `localhost` and 127.0.0.1, written as PEM files into `dir`.
fn self_signed(dir: &Path, name: &str) -> (TlsConfig, String) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert_pem = certified.cert.pem();
    let tls = TlsConfig {
        cert: dir.join(format!("{name}.crt")),
        key: dir.join(format!("{name}.key")),
    };
    std::fs::write(&tls.cert, &cert_pem).unwrap();
    std::fs::write(&tls.key, certified.signing_key.serialize_pem()).unwrap();
    (tls, cert_pem)
}

fn client_trusting(cert_pem: &str) -> reqwest::Client {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap()])
        .build()
        .unwrap()
}

#[tokio::test]
async fn serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (tls, cert_pem) = self_signed(dir.path(), "server");
    let db = support::TestDb::sqlite();
    let server = support::start_with(&db, |config: &mut Config| config.tls = Some(tls)).await;
    let port = server.addr.rsplit_once(':').unwrap().1;
    let client = client_trusting(&cert_pem);

    let health = client
        .get(format!("https://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .expect("HTTPS with the trusted certificate");
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(
        health.headers()["strict-transport-security"],
        "max-age=31536000"
    );

    // A user made in the store: the harness's own sign-in speaks plain HTTP.
    let user = NewUser {
        username: "lu".into(),
        password_hash: auth::password::hash(PASSWORD.into()).await.unwrap(),
        role: Role::Customer,
        account_id: None,
        region_id: None,
        outlet_id: None,
    };
    let audit = support::audit("user.create");
    server
        .store
        .create_user(&user, support::NOW, &audit)
        .await
        .unwrap();
    let login = client
        .post(format!("https://localhost:{port}/api/v1/auth/login"))
        .json(&serde_json::json!({ "username": "lu", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let page = client
        .get(format!("https://localhost:{port}/login"))
        .send()
        .await
        .unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("__Host-sp_csrf="), "{cookie}");
    assert!(cookie.ends_with("; Secure"), "{cookie}");

    let stranger = client_trusting(&self_signed(dir.path(), "other").1);
    assert!(
        stranger
            .get(format!("https://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_err(),
        "a client that does not trust the certificate is refused"
    );

    let mut plain = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer).await;
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP gets no HTTP answer on the TLS port: {:?}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test]
async fn unusable_tls_files_stop_the_server_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = self_signed(dir.path(), "good");
    let (other, _) = self_signed(dir.path(), "other");
    let cases = [
        (
            TlsConfig {
                cert: dir.path().join("missing.crt"),
                key: good.key.clone(),
            },
            "missing.crt",
        ),
        (
            TlsConfig {
                cert: good.key.clone(),
                key: good.key.clone(),
            },
            "no PEM certificate",
        ),
        (
            TlsConfig {
                cert: good.cert.clone(),
                key: good.cert.clone(),
            },
            "no usable key",
        ),
        (
            TlsConfig {
                cert: good.cert.clone(),
                key: other.key.clone(),
            },
            "do not fit",
        ),
    ];
    for (tls, reason) in cases {
        let db = support::TestDb::sqlite();
        let store = support::open(&db).await;
        let config = Config {
            database_url: db.url.clone(),
            master_key: Some(support::master()),
            tls: Some(tls),
            ..Config::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let err = shuipiao_server::serve_store(store, config, listener, async {})
            .await
            .expect_err("the server must not start");
        assert!(err.to_string().contains(reason), "{reason}: {err}");
    }
}

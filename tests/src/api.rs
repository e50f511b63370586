//! The server's JSON API as people use it: sign in, then call `/api/v1` with a bearer token.
//! Every call that must succeed panics with the method, path, status and body when it does not.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A signed-in (or anonymous) API client for one server.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    /// Base URL, e.g. `http://127.0.0.1:PORT`.
    pub base: String,
    token: Option<String>,
}

/// A raw answer: status and JSON body (`Null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// Parsed body.
    pub json: Value,
}

/// A plain HTTP client (60 s timeout).
pub fn http_client() -> reqwest::Client {
    // The workspace builds reqwest without a bundled crypto provider (the courier picks ring);
    // plain http needs none, but building a client must not depend on who ran first.
    let _already = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("build HTTP client")
}

impl Api {
    /// An anonymous client for `base`.
    pub fn anonymous(base: &str) -> Api {
        Api {
            http: http_client(),
            base: base.trim_end_matches('/').to_owned(),
            token: None,
        }
    }

    /// Signs in with a password.
    pub async fn login(base: &str, username: &str, password: &str) -> Api {
        let mut api = Api::anonymous(base);
        let answer = api
            .post(
                "/api/v1/auth/login",
                &serde_json::json!({ "username": username, "password": password }),
            )
            .await;
        let token = answer["token"]
            .as_str()
            .unwrap_or_else(|| panic!("login of {username}: no token in {answer}"))
            .to_owned();
        api.token = Some(token);
        api
    }

    /// Any request; returns whatever came back.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Answer {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status();
        let text = response
            .text()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: reading body: {e}"));
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer { status, json }
    }

    /// A page of the web console as this user; panics unless it answers 200. Pages take the
    /// session as the cookie a browser keeps, never as a bearer token.
    pub async fn page(&self, path: &str) -> String {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.header(reqwest::header::COOKIE, format!("sp_session={token}"));
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status();
        let text = response
            .text()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: reading body: {e}"));
        assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
        text
    }

    async fn expect_ok(&self, method: Method, path: &str, body: Option<&Value>) -> Value {
        let answer = self.call(method.clone(), path, body).await;
        assert!(
            answer.status.is_success(),
            "{method} {path} answered {}: {}",
            answer.status,
            answer.json
        );
        answer.json
    }

    /// `GET`, which must succeed.
    pub async fn get(&self, path: &str) -> Value {
        self.expect_ok(Method::GET, path, None).await
    }

    /// `POST` with a JSON body, which must succeed.
    pub async fn post(&self, path: &str, body: &Value) -> Value {
        self.expect_ok(Method::POST, path, Some(body)).await
    }

    /// `GET` into a type.
    pub async fn get_as<T: DeserializeOwned>(&self, path: &str) -> T {
        let json = self.get(path).await;
        serde_json::from_value(json.clone())
            .unwrap_or_else(|e| panic!("GET {path}: unexpected body {json}: {e}"))
    }
}

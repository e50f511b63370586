//! A mock SMS / WeChat / push gateway on 127.0.0.1:0: records each signed request, checks the
//! signature, and can be told to fail the next requests.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use shuipiao_server::config::GatewayConfig;
use shuipiao_server::notify::gateway;

pub const SECRET: &str = "gateway-test-secret";

#[derive(Default)]
struct Inner {
    received: Mutex<Vec<Value>>,
    fail_next: AtomicU32,
}

/// The running gateway; requests are kept until the test ends.
#[derive(Clone)]
pub struct Gateway {
    pub url: String,
    inner: Arc<Inner>,
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: String) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let expected = gateway::sign(SECRET, header("x-shuipiao-timestamp"), &body);
    if header("x-shuipiao-signature") != expected {
        return StatusCode::UNAUTHORIZED;
    }
    if inner
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    inner
        .received
        .lock()
        .unwrap()
        .push(serde_json::from_str(&body).expect("the gateway receives JSON"));
    StatusCode::OK
}

impl Gateway {
    pub async fn start() -> Gateway {
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new()
            .route("/send", post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/send", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Gateway { url, inner }
    }

    /// The config section of a channel sending here.
    pub fn config(&self) -> GatewayConfig {
        GatewayConfig {
            enabled: true,
            endpoint: Some(self.url.clone()),
            secret: Some(SECRET.into()),
            template_id: Some("TPL-ACCOUNT-NOTICE".into()),
        }
    }

    /// The next `n` requests get 503.
    pub fn fail_next(&self, n: u32) {
        self.inner.fail_next.store(n, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Value> {
        self.inner.received.lock().unwrap().clone()
    }

    /// Waits (up to 15 s) for a message to `phone` whose text contains `needle`.
    pub async fn wait_for(&self, phone: &str, needle: &str) -> Value {
        for _ in 0..150 {
            if let Some(found) = self
                .received()
                .into_iter()
                .find(|m| m["phone"] == phone && m["text"].as_str().unwrap_or("").contains(needle))
            {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "no message to {phone} containing {needle:?}; received {:?}",
            self.received()
        );
    }

    /// The six-digit code of the `nth` code message to `phone`.
    pub async fn code_for(&self, phone: &str, nth: usize) -> String {
        self.code_after(phone, "验证码是", nth).await
    }

    /// The six characters after `marker` in the `nth` message to `phone` that has it.
    pub async fn code_after(&self, phone: &str, marker: &str, nth: usize) -> String {
        for _ in 0..150 {
            let codes: Vec<String> = self
                .received()
                .into_iter()
                .filter(|m| m["phone"] == phone)
                .filter_map(|m| {
                    let text = m["text"].as_str()?.to_string();
                    let start = text.find(marker)? + marker.len();
                    Some(text[start..].chars().take(6).collect())
                })
                .collect();
            if let Some(code) = codes.get(nth) {
                return code.clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "no {marker} #{nth} for {phone}; received {:?}",
            self.received()
        );
    }
}

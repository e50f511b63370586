//! The HTTP request every channel adapter makes: JSON posted to the channel's gateway, signed
//! so the gateway can reject forged or replayed requests.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A delivery failed (or a gateway is misconfigured); the dispatcher retries later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryError(pub String);

/// Posts JSON to one gateway, signed with `X-Shuipiao-Signature: hex(HMAC-SHA256(secret,
/// "<timestamp>.<body>"))` and `X-Shuipiao-Timestamp`. Any 2xx answer counts as delivered.
#[derive(Debug, Clone)]
pub struct Gateway {
    endpoint: String,
    secret: String,
    client: reqwest::Client,
}

impl Gateway {
    /// A gateway at `endpoint` checking signatures with `secret`.
    pub fn new(endpoint: String, secret: String) -> Result<Gateway, DeliveryError> {
        // reqwest is built without a default TLS crypto provider; pick ring once per process.
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|err| DeliveryError(format!("HTTP client: {err}")))?;
        Ok(Gateway {
            endpoint,
            secret,
            client,
        })
    }

    /// Posts one payload.
    pub async fn post(&self, payload: &serde_json::Value) -> Result<(), DeliveryError> {
        let body = payload.to_string();
        let timestamp = crate::unix_now().to_string();
        let response = self
            .client
            .post(&self.endpoint)
            .header("content-type", "application/json")
            .header("x-shuipiao-timestamp", &timestamp)
            .header(
                "x-shuipiao-signature",
                sign(&self.secret, &timestamp, &body),
            )
            .body(body)
            .send()
            .await
            .map_err(|err| DeliveryError(format!("gateway unreachable: {err}")))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(DeliveryError(format!("gateway answered {status}")))
        }
    }
}

/// The request signature a gateway checks.
pub fn sign(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
}

//! Where messages go: the log (default, so a newcomer sees every message in the console) or an
//! HTTP gateway (SMS / WeChat template / app push provider) that receives signed JSON requests.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::config::NotifyConfig;

/// A message ready to deliver (the phone number opened only for this moment).
#[derive(Debug, Clone, Serialize)]
pub struct Outgoing {
    /// Outbox id: the gateway may use it to drop duplicates of a retried request.
    pub id: i64,
    /// `sms`, `wechat` or `push`.
    pub channel: &'static str,
    /// Phone number.
    pub to: String,
    /// Message kind, e.g. `redeemed`.
    pub kind: &'static str,
    /// zh-CN text.
    pub text: String,
}

/// A delivery failed; the dispatcher retries later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryError(pub String);

/// The configured destination.
#[derive(Debug, Clone)]
pub enum Sink {
    /// Writes each message to the log.
    Log,
    /// Posts each message to a gateway.
    Http(HttpSink),
}

impl Sink {
    /// The sink the configuration names.
    pub fn from_config(config: &NotifyConfig) -> Result<Sink, DeliveryError> {
        match &config.http_endpoint {
            None => Ok(Sink::Log),
            Some(endpoint) => Ok(Sink::Http(HttpSink::new(
                endpoint.clone(),
                config.http_secret.clone().unwrap_or_default(),
            )?)),
        }
    }

    /// Delivers one message.
    pub async fn deliver(&self, message: &Outgoing) -> Result<(), DeliveryError> {
        match self {
            Sink::Log => {
                let masked = crate::pii::Phone::parse(&message.to)
                    .map(|p| p.masked())
                    .unwrap_or_default();
                tracing::info!(to = %masked, channel = message.channel, kind = message.kind,
                    text = %message.text, "notification");
                Ok(())
            }
            Sink::Http(http) => http.deliver(message).await,
        }
    }
}

/// Posts JSON to a gateway, signed with `X-Shuipiao-Signature: hex(HMAC-SHA256(secret,
/// "<timestamp>.<body>"))` and `X-Shuipiao-Timestamp`, so the gateway can reject forged or
/// replayed requests. Any 2xx answer counts as delivered.
#[derive(Debug, Clone)]
pub struct HttpSink {
    endpoint: String,
    secret: String,
    client: reqwest::Client,
}

impl HttpSink {
    /// A sink posting to `endpoint`.
    pub fn new(endpoint: String, secret: String) -> Result<HttpSink, DeliveryError> {
        // reqwest is built without a default TLS crypto provider; pick ring once per process.
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|err| DeliveryError(format!("HTTP client: {err}")))?;
        Ok(HttpSink {
            endpoint,
            secret,
            client,
        })
    }

    async fn deliver(&self, message: &Outgoing) -> Result<(), DeliveryError> {
        let body = serde_json::to_string(message).map_err(|err| DeliveryError(err.to_string()))?;
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

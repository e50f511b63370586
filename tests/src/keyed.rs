//! A device that is only a signing key and a hash chain, enrolled through the real enrollment
//! API: it signs events the way the protocol says, without a courier engine. Load generators use
//! it because an engine's durable per-scan write would measure the phone's disk, not the server;
//! replays use it because its key and signed bytes can be enrolled and pushed into a second
//! server unchanged.

use std::time::Duration;

use ed25519_dalek::SigningKey;
use reqwest::StatusCode;
use shuipiao_shared::event::{ChainTip, Event, EventBody, EventFlags, SignedEvent};
use shuipiao_shared::ids::{BookId, DeviceId, EventId, UserId};
use shuipiao_shared::sync::{EnrollResponse, PushRequest, PushResponse};

use crate::api::Api;
use crate::plant::BUCKET;

/// An enrolled device made of a key and the chain it has signed so far.
#[derive(Debug)]
pub struct KeyedDevice {
    /// Its server-assigned id.
    pub id: DeviceId,
    /// Its bearer token.
    pub token: String,
    /// The courier it was enrolled for.
    pub courier: UserId,
    /// Every event it has signed, in `device_seq` order.
    pub events: Vec<SignedEvent>,
    key: SigningKey,
    tip: ChainTip,
}

impl KeyedDevice {
    /// Enrolls `key` at `server_url` with a courier's one-time `code`.
    pub async fn enroll(server_url: &str, code: &str, key: SigningKey, name: &str) -> KeyedDevice {
        let answer = Api::anonymous(server_url)
            .call(
                reqwest::Method::POST,
                "/api/v1/devices/enroll",
                Some(&serde_json::json!({
                    "code": code,
                    "device_pubkey": data_encoding::HEXLOWER.encode(key.verifying_key().as_bytes()),
                    "name": name,
                })),
            )
            .await;
        assert!(
            answer.status.is_success(),
            "enroll {name}: {} {}",
            answer.status,
            answer.json
        );
        let enrolled: EnrollResponse = serde_json::from_value(answer.json).expect("enrollment");
        KeyedDevice {
            id: enrolled.device_id,
            token: enrolled.device_token,
            courier: enrolled.user_id,
            events: Vec::new(),
            key,
            tip: ChainTip::GENESIS,
        }
    }

    /// Signs the next link of the chain, made at device time `at`, and keeps it.
    pub fn sign(&mut self, at: u64, flags: EventFlags, body: EventBody) -> &SignedEvent {
        let device_seq = self.tip.device_seq + 1;
        let signed = Event {
            event_id: EventId::v7(at * 1000, shuipiao_server::random::bytes::<10>()),
            device_id: self.id,
            device_seq,
            prev_hash: self.tip.hash,
            scanned_at: at,
            courier_id: self.courier,
            flags,
            body,
        }
        .sign(&self.key);
        self.tip = ChainTip {
            device_seq,
            hash: signed.hash(),
        };
        self.events.push(signed);
        self.events.last().expect("just pushed")
    }

    /// An offline redemption of `units` buckets of `book` at `at`; returns its id.
    pub fn redeem(&mut self, book: BookId, units: u16, at: u64) -> EventId {
        let flags = EventFlags {
            offline: true,
            ..EventFlags::default()
        };
        let body = EventBody::Redemption {
            book_id: book,
            units,
            product: BUCKET,
        };
        self.sign(at, flags, body).event.event_id
    }

    /// A void of redemption `target` of `book` at `at`.
    pub fn void(&mut self, book: BookId, target: EventId, at: u64) -> EventId {
        let body = EventBody::Void {
            book_id: book,
            target,
        };
        self.sign(at, EventFlags::default(), body).event.event_id
    }
}

/// A push attempt that failed and was retried.
#[derive(Debug, Clone)]
pub struct PushFailure {
    /// The server's status, or `None` when the request or answer was lost on the way.
    pub status: Option<StatusCode>,
    /// The body or the transport error.
    pub detail: String,
}

impl std::fmt::Display for PushFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(status) => write!(f, "{status}: {}", self.detail),
            None => write!(f, "{}", self.detail),
        }
    }
}

/// Pushes `events` with `token` to `server_url` until the server answers 200, like the sync
/// client: a server error or a lost request is retried with backoff (resending a batch is
/// harmless), and every failure is returned so the caller can judge it. Any other answer panics.
pub async fn push(
    http: &reqwest::Client,
    server_url: &str,
    token: &str,
    events: &[SignedEvent],
) -> (PushResponse, Vec<PushFailure>) {
    let url = format!("{server_url}/api/v1/sync/push");
    let request = PushRequest {
        events: events.to_vec(),
    };
    let mut failures = Vec::new();
    loop {
        let failure = match http
            .post(&url)
            .bearer_auth(token)
            .json(&request)
            .send()
            .await
        {
            Ok(response) if response.status().is_success() => {
                match response.json::<PushResponse>().await {
                    Ok(body) => return (body, failures),
                    Err(error) => PushFailure {
                        status: None,
                        detail: format!("answer cut: {error}"),
                    },
                }
            }
            Ok(response) if response.status().is_server_error() => PushFailure {
                status: Some(response.status()),
                detail: response.text().await.unwrap_or_default(),
            },
            Ok(response) => panic!(
                "push to {url} answered {}: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            ),
            Err(error) => PushFailure {
                status: None,
                detail: error.to_string(),
            },
        };
        failures.push(failure);
        let attempt = failures.len() as u32;
        assert!(
            attempt < 30,
            "push to {url} kept failing: {}",
            failures.last().expect("a failure")
        );
        let jitter = shuipiao_server::random::bytes::<1>()[0];
        tokio::time::sleep(Duration::from_millis(
            (50u64 << attempt.min(5)) + u64::from(jitter % 50),
        ))
        .await;
    }
}

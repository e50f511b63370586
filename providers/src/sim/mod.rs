//! A loopback simulator of WeChat Pay API v3 and of the Alipay gateway, speaking their
//! protocols to the merchant: it checks the merchant's request signatures, answers signed, sends
//! signed (and for WeChat Pay, encrypted) notifications to the merchant's `notify_url`, serves a
//! trade bill, and shows a 模拟支付 page where the buyer confirms or cancels.
//!
//! It signs with the committed test keys of [`test_keys`] (test only, never production keys).
//! Tests and the demo drive it from Rust: [`Simulator::start`], [`Simulator::pay`],
//! [`Simulator::set_faults`] (fail, delay, repeat, hold and reorder, or drop notifications).

mod alipay;
mod pages;
mod wechat;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::routing::{any, get, post};
use time::OffsetDateTime;
use tokio::sync::oneshot;

use crate::keys::{PrivateKey, PublicKey};
use crate::provider::{nonce, now_secs};
use crate::wechatpay::{ApiV3Key, SignedHeaders};

/// The committed test keys (see `providers/test-keys/README.md`): public, for tests and the
/// demo only.
pub mod test_keys {
    /// Merchant API private key (WeChat Pay).
    pub const WECHATPAY_MERCHANT_KEY: &str =
        include_str!("../../test-keys/wechatpay-merchant.key.pem");
    /// Merchant API public key (WeChat Pay).
    pub const WECHATPAY_MERCHANT_PUB: &str =
        include_str!("../../test-keys/wechatpay-merchant.pub.pem");
    /// Platform private key (WeChat Pay), the simulator's.
    pub const WECHATPAY_PLATFORM_KEY: &str =
        include_str!("../../test-keys/wechatpay-platform.key.pem");
    /// Platform public key (WeChat Pay), trusted by the merchant.
    pub const WECHATPAY_PLATFORM_PUB: &str =
        include_str!("../../test-keys/wechatpay-platform.pub.pem");
    /// Application private key (Alipay).
    pub const ALIPAY_APP_KEY: &str = include_str!("../../test-keys/alipay-app.key.pem");
    /// Application public key (Alipay).
    pub const ALIPAY_APP_PUB: &str = include_str!("../../test-keys/alipay-app.pub.pem");
    /// Alipay's private key, the simulator's.
    pub const ALIPAY_PLATFORM_KEY: &str = include_str!("../../test-keys/alipay-platform.key.pem");
    /// Alipay's public key, trusted by the merchant.
    pub const ALIPAY_PLATFORM_PUB: &str = include_str!("../../test-keys/alipay-platform.pub.pem");
    /// The simulator's WeChat Pay merchant number.
    pub const MCHID: &str = "1900009191";
    /// The simulator's WeChat Pay AppID.
    pub const WECHAT_APPID: &str = "wx8888888888888888";
    /// Serial of the merchant API certificate.
    pub const MERCHANT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
    /// ID of the platform public key.
    pub const PLATFORM_SERIAL: &str = "PUB_KEY_ID_0119000091912026010100000000000001";
    /// The APIv3 key.
    pub const API_V3_KEY: &str = "shuipiaoTestApiV3Key000000000000";
    /// The simulator's Alipay AppID.
    pub const ALIPAY_APP_ID: &str = "2021000000000001";
}

/// What the simulator plays: one WeChat Pay merchant and one Alipay application.
#[derive(Debug)]
pub struct SimConfig {
    /// 商户号 it accepts.
    pub mchid: String,
    /// AppID it accepts for WeChat Pay.
    pub wechat_appid: String,
    /// Merchant certificate serial it accepts.
    pub merchant_serial: String,
    /// The merchant's public key, to check request signatures and `paySign`.
    pub merchant_key: PublicKey,
    /// Its platform key serial.
    pub platform_serial: String,
    /// Its platform private key.
    pub platform_key: PrivateKey,
    /// The merchant's APIv3 key, to encrypt resources.
    pub api_v3_key: ApiV3Key,
    /// Alipay AppID it accepts.
    pub alipay_app_id: String,
    /// The application's public key, to check request signatures.
    pub alipay_app_key: PublicKey,
    /// Alipay's private key.
    pub alipay_key: PrivateKey,
}

impl SimConfig {
    /// The configuration of the committed test keys.
    pub fn test() -> Self {
        let key = |pem| PrivateKey::from_pem(pem).expect("the committed test private keys parse");
        let public = |pem| PublicKey::from_pem(pem).expect("the committed test public keys parse");
        Self {
            mchid: test_keys::MCHID.into(),
            wechat_appid: test_keys::WECHAT_APPID.into(),
            merchant_serial: test_keys::MERCHANT_SERIAL.into(),
            merchant_key: public(test_keys::WECHATPAY_MERCHANT_PUB),
            platform_serial: test_keys::PLATFORM_SERIAL.into(),
            platform_key: key(test_keys::WECHATPAY_PLATFORM_KEY),
            api_v3_key: ApiV3Key::new(test_keys::API_V3_KEY)
                .expect("the test APIv3 key is 32 bytes"),
            alipay_app_id: test_keys::ALIPAY_APP_ID.into(),
            alipay_app_key: public(test_keys::ALIPAY_APP_PUB),
            alipay_key: key(test_keys::ALIPAY_PLATFORM_KEY),
        }
    }
}

/// Misbehaviours to simulate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// The next this many API requests are refused with a system error (WeChat Pay
    /// `SYSTEM_ERROR` 500, Alipay `20000` / `ACQ.SYSTEM_ERROR`).
    pub fail_requests: u32,
    /// Every API answer is delayed this long.
    pub delay: Duration,
    /// Every notification is sent this many extra times.
    pub repeat_notifications: u32,
    /// Notifications are queued until [`Simulator::release_notifications`].
    pub hold_notifications: bool,
    /// Notifications are not sent at all (the merchant must query).
    pub drop_notifications: bool,
    /// Answers carry a signature of other bytes (a forged answer).
    pub corrupt_answer_signatures: bool,
}

/// Which provider an order belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// WeChat Pay.
    Wechat,
    /// Alipay.
    Alipay,
}

impl Provider {
    fn path(self) -> &'static str {
        match self {
            Self::Wechat => "wechatpay",
            Self::Alipay => "alipay",
        }
    }
}

/// Where a simulated order stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderState {
    /// Created, not paid.
    NotPaid,
    /// Paid.
    Paid {
        /// The provider's transaction number.
        transaction_id: String,
        /// When.
        paid_at: OffsetDateTime,
    },
    /// Closed unpaid.
    Closed,
}

/// One refund of a simulated order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRefund {
    /// The merchant's refund number.
    pub out_refund_no: String,
    /// The provider's refund number.
    pub refund_id: String,
    /// Amount, fen.
    pub amount_fen: u64,
    /// Whether it completed.
    pub succeeded_at: Option<OffsetDateTime>,
    /// When it was asked for.
    pub created_at: OffsetDateTime,
}

/// A simulated order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimOrder {
    /// Its provider.
    pub provider: Provider,
    /// The merchant's order number.
    pub out_trade_no: String,
    /// Amount, fen.
    pub amount_fen: u64,
    /// What is bought.
    pub description: String,
    /// Where notifications go.
    pub notify_url: String,
    /// Where the buyer goes back (Alipay).
    pub return_url: Option<String>,
    /// `JSAPI`, `MWEB`, `QUICK_WAP_WAY`, `FAST_INSTANT_TRADE_PAY`.
    pub trade_type: String,
    /// The buyer's openid (WeChat JSAPI).
    pub openid: Option<String>,
    /// Where it stands.
    pub state: OrderState,
    /// Its refunds, oldest first.
    pub refunds: Vec<SimRefund>,
}

impl SimOrder {
    fn refunded_fen(&self) -> u64 {
        self.refunds.iter().map(|r| r.amount_fen).sum()
    }
}

/// A notification the simulator sent (or held or dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentNotification {
    /// Its provider.
    pub provider: Provider,
    /// The order it is about.
    pub out_trade_no: String,
    /// `TRANSACTION.SUCCESS`, `REFUND.SUCCESS`, `TRADE_SUCCESS`….
    pub event: String,
    /// The merchant's HTTP status, `None` when not delivered (dropped, held, unreachable).
    pub status: Option<u16>,
    /// The merchant's answer body.
    pub answer: String,
}

/// An outgoing notification request.
#[derive(Debug, Clone)]
struct Outgoing {
    provider: Provider,
    out_trade_no: String,
    event: String,
    url: String,
    content_type: &'static str,
    body: Vec<u8>,
}

/// Errors of the control API.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SimError {
    /// No such order.
    #[error("no such order")]
    UnknownOrder,
    /// The order is not payable (paid or closed).
    #[error("order is not payable")]
    NotPayable,
    /// A `paySign` that does not verify, or a prepay id the simulator never issued.
    #[error("JSAPI parameters refused")]
    BadJsapiParams,
}

#[derive(Debug, Default)]
struct Inner {
    orders: HashMap<(Provider, String), SimOrder>,
    prepay: HashMap<String, String>,
    faults: Faults,
    held: Vec<Outgoing>,
    sent: Vec<SentNotification>,
    sequence: u64,
}

/// State shared by the handlers and the control API.
#[derive(Debug)]
struct Shared {
    config: SimConfig,
    base_url: String,
    http: reqwest::Client,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .expect("no simulator code panics while holding its state lock")
    }

    /// A fresh number for transaction, refund and prepay ids.
    fn next(&self) -> u64 {
        let mut inner = self.lock();
        inner.sequence += 1;
        inner.sequence
    }

    /// Applies the request faults: the delay, then whether this request must fail.
    async fn request_fault(&self) -> bool {
        let (delay, fail) = {
            let mut inner = self.lock();
            let fail = inner.faults.fail_requests > 0;
            if fail {
                inner.faults.fail_requests -= 1;
            }
            (inner.faults.delay, fail)
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        fail
    }

    fn corrupt(&self) -> bool {
        self.lock().faults.corrupt_answer_signatures
    }

    /// Sends (or holds, or drops) a notification, as the faults say.
    async fn notify(&self, outgoing: Outgoing) {
        let (drop, hold, repeat) = {
            let inner = self.lock();
            (
                inner.faults.drop_notifications,
                inner.faults.hold_notifications,
                inner.faults.repeat_notifications,
            )
        };
        if drop || hold {
            let mut inner = self.lock();
            inner.sent.push(SentNotification {
                provider: outgoing.provider,
                out_trade_no: outgoing.out_trade_no.clone(),
                event: outgoing.event.clone(),
                status: None,
                answer: if drop { "dropped" } else { "held" }.into(),
            });
            if hold {
                inner.held.push(outgoing);
            }
            return;
        }
        for _ in 0..=repeat {
            self.deliver(&outgoing).await;
        }
    }

    /// Sends one notification request. WeChat Pay signs each request it sends, retries
    /// included, so every delivery gets a fresh timestamp and nonce; Alipay's form carries its
    /// signature in its body.
    async fn deliver(&self, outgoing: &Outgoing) {
        let mut request = self
            .http
            .post(&outgoing.url)
            .header("Content-Type", outgoing.content_type)
            .body(outgoing.body.clone());
        if outgoing.provider == Provider::Wechat {
            let signed = SignedHeaders::sign(
                &self.config.platform_key,
                &self.config.platform_serial,
                now_secs(),
                &nonce(),
                &outgoing.body,
            );
            for (name, value) in signed.pairs() {
                request = request.header(name, value);
            }
        }
        let (status, answer) = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                (Some(status), response.text().await.unwrap_or_default())
            }
            Err(e) => (None, e.to_string()),
        };
        tracing::debug!(url = %outgoing.url, ?status, "simulator notification delivered");
        self.lock().sent.push(SentNotification {
            provider: outgoing.provider,
            out_trade_no: outgoing.out_trade_no.clone(),
            event: outgoing.event.clone(),
            status,
            answer,
        });
    }

    /// Marks an order paid and notifies the merchant.
    async fn pay(&self, provider: Provider, out_trade_no: &str) -> Result<(), SimError> {
        let transaction_id = match provider {
            Provider::Wechat => format!("42000000{:020}", self.next()),
            Provider::Alipay => format!("2026{:024}", self.next()),
        };
        let order = {
            let mut inner = self.lock();
            let order = inner
                .orders
                .get_mut(&(provider, out_trade_no.to_owned()))
                .ok_or(SimError::UnknownOrder)?;
            if order.state != OrderState::NotPaid {
                return Err(SimError::NotPayable);
            }
            order.state = OrderState::Paid {
                transaction_id,
                paid_at: OffsetDateTime::now_utc(),
            };
            order.clone()
        };
        let outgoing = match provider {
            Provider::Wechat => wechat::payment_notification(self, &order),
            Provider::Alipay => alipay::payment_notification(self, &order),
        };
        self.notify(outgoing).await;
        Ok(())
    }
}

/// A running simulator. Dropping it stops it.
#[derive(Debug)]
pub struct Simulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl Simulator {
    /// Starts the simulator on a loopback port chosen by the system.
    pub async fn start(config: SimConfig) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            config,
            base_url: format!("http://{addr}"),
            http,
            inner: Mutex::new(Inner::default()),
        });
        let app = Router::new()
            .route("/v3/{*rest}", any(wechat::api))
            .route("/gateway.do", any(alipay::gateway))
            .route("/sim/wechatpay/jsapi", post(pages::jsapi))
            .route("/sim/wechatpay/jsapi/form", post(pages::jsapi_form))
            .route("/sim/pay/{provider}/{out_trade_no}", get(pages::pay_page))
            .route(
                "/sim/pay/{provider}/{out_trade_no}/confirm",
                post(pages::confirm),
            )
            .route(
                "/sim/pay/{provider}/{out_trade_no}/cancel",
                post(pages::cancel),
            )
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "payment simulator stopped");
            }
        });
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
        })
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:port`: the WeChat Pay API base URL.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The Alipay gateway URL.
    pub fn alipay_gateway(&self) -> String {
        format!("{}/gateway.do", self.shared.base_url)
    }

    /// The 模拟支付 page of an order.
    pub fn pay_page_url(&self, provider: Provider, out_trade_no: &str) -> String {
        format!(
            "{}/sim/pay/{}/{out_trade_no}",
            self.shared.base_url,
            provider.path()
        )
    }

    /// Replaces the faults.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.lock().faults = faults;
    }

    /// The buyer pays: the order becomes paid and the merchant is notified.
    pub async fn pay(&self, provider: Provider, out_trade_no: &str) -> Result<(), SimError> {
        self.shared.pay(provider, out_trade_no).await
    }

    /// An order as the simulator holds it.
    pub fn order(&self, provider: Provider, out_trade_no: &str) -> Option<SimOrder> {
        self.shared
            .lock()
            .orders
            .get(&(provider, out_trade_no.to_owned()))
            .cloned()
    }

    /// Every notification so far, in order.
    pub fn notifications(&self) -> Vec<SentNotification> {
        self.shared.lock().sent.clone()
    }

    /// Sends the held notifications, newest first when `reversed` (a reordering network).
    pub async fn release_notifications(&self, reversed: bool) {
        let mut held = std::mem::take(&mut self.shared.lock().held);
        if reversed {
            held.reverse();
        }
        for outgoing in held {
            self.shared.deliver(&outgoing).await;
        }
    }

    /// What the WeChat client does with `getBrandWCPayRequest` parameters: checks `paySign`
    /// with the merchant key and the prepay id, and answers the 模拟支付 page of the order.
    pub fn jsapi_pay_url(
        &self,
        params: &crate::wechatpay::JsapiPayParams,
    ) -> Result<String, SimError> {
        pages::jsapi_target(&self.shared, params)
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Installs ring as the process's rustls provider unless one already is: reqwest (built
/// without a provider of its own, as everywhere in this workspace) needs one to build a client,
/// even one that only speaks plain HTTP to loopback.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err means another thread installed one in between: that one serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A random string of `len` characters from `[0-9A-Za-z]` (GCM nonces, notification ids).
fn random_alnum(len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut bytes = vec![0u8; len];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the system random source is available");
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

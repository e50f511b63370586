//! Test harness: a real server on 127.0.0.1:0 over a fresh database (`shuipiao_test_support`),
//! users, devices and signed events.

use axum::http::{Method, StatusCode};
use ed25519_dalek::SigningKey;
use serde_json::Value;
use shuipiao_server::config::{Config, MasterKey};
use shuipiao_server::store::Store;
use shuipiao_server::store::models::*;
use shuipiao_server::{auth, keys};
use shuipiao_shared::event::{ChainTip, Event, EventBody, EventFlags, SignedEvent};
use shuipiao_shared::ids::{BookId, DeviceId, EventId, ProductCode, ScopeId, UserId};
use shuipiao_shared::sync::EnrollResponse;
pub use shuipiao_test_support::{TestDb, on_both_backends};
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse battery";
pub const MASTER: [u8; 32] = [42; 32];
/// Small limit so the oversized-body test stays cheap.
pub const BODY_LIMIT: usize = 512 * 1024;

pub async fn open(db: &TestDb) -> Store {
    Store::connect(&db.url).await.unwrap()
}

pub fn master() -> MasterKey {
    MasterKey::from_bytes(MASTER)
}

pub fn audit(action: &'static str) -> AuditEntry {
    AuditEntry::new(None, action, "test", serde_json::json!({}))
}

pub const NOW: i64 = 1_780_000_000;

/// Catalogue basics: one product, one region with a store, one scope, one package of `units`.
pub struct Catalogue {
    pub region_id: i64,
    pub outlet_id: i64,
    pub package_id: i64,
}

pub async fn catalogue(store: &Store, units: u32) -> Catalogue {
    let product = Product {
        code: ProductCode(189),
        name: "18.9L 桶装水".into(),
        volume_ml: 18_900,
        deposit_fen: 3000,
    };
    store
        .create_product(&product, NOW, &audit("product.create"))
        .await
        .unwrap();
    catalogue_for(store, product.code, units).await
}

/// A package of `units` in a store that may already hold the catalogue basics.
pub async fn catalogue_with(store: &Store, units: u32) -> Catalogue {
    let product = ProductCode(189);
    if store.product(product).await.is_err() {
        return catalogue(store, units).await;
    }
    let existing = &store.scopes().await.unwrap()[0];
    let package = store
        .create_package(
            &NewPackage {
                name: format!("套餐{}", store.packages().await.unwrap().len()),
                price_fen: 100,
                paid_units: units,
                bonus_units: 0,
                validity_days: 31,
                product,
                scope: ScopeId::ANYWHERE,
                holder_bound: false,
            },
            NOW,
            &audit("package.create"),
        )
        .await
        .unwrap();
    Catalogue {
        region_id: existing.region_ids[0],
        outlet_id: existing.outlet_ids[0],
        package_id: package.id,
    }
}

async fn catalogue_for(store: &Store, product: ProductCode, units: u32) -> Catalogue {
    let region = store
        .create_region("武汉", NOW, &audit("region.create"))
        .await
        .unwrap();
    let outlet = store
        .create_outlet(region.id, "光谷门店", NOW, &audit("outlet.create"))
        .await
        .unwrap();
    store
        .create_scope(
            &NewScope {
                name: "武汉市".into(),
                region_ids: vec![region.id],
                outlet_ids: vec![outlet.id],
            },
            NOW,
            &audit("scope.create"),
        )
        .await
        .unwrap();
    let package = store
        .create_package(
            &NewPackage {
                name: "家庭月套餐".into(),
                price_fen: 6000,
                paid_units: units,
                bonus_units: 0,
                validity_days: 31,
                product,
                scope: ScopeId::ANYWHERE,
                holder_bound: false,
            },
            NOW,
            &audit("package.create"),
        )
        .await
        .unwrap();
    Catalogue {
        region_id: region.id,
        outlet_id: outlet.id,
        package_id: package.id,
    }
}

pub async fn customer_account(store: &Store, name: &str) -> Account {
    account(store, AccountKind::Customer, name).await
}

/// An account of `kind` in no enterprise, stored as it is.
pub async fn account(store: &Store, kind: AccountKind, name: &str) -> Account {
    store
        .create_account(
            &NewAccount {
                kind,
                name: name.into(),
                enterprise_id: None,
            },
            NOW,
            &audit("account.create"),
        )
        .await
        .unwrap()
}

/// A customer who signed up with `phone` (named `name`, login name `p-<digits>`, password
/// [`PASSWORD`]).
pub async fn phone_customer(store: &Store, phone: &str, name: &str) -> User {
    let phone = shuipiao_server::pii::Phone::parse(phone).unwrap();
    let customer = NewCustomer {
        name: name.into(),
        enterprise_id: None,
        username: format!("p-{}", phone.digits()),
        password_hash: auth::password::hash(PASSWORD.into()).await.unwrap(),
        phone_index: phone.index(&master()),
        phone_sealed: phone.seal(&master()),
        referrer: None,
        browser_hash: None,
    };
    store
        .register_customer(&customer, NOW, &audit("customer.register"))
        .await
        .unwrap()
}

/// An address of `customer`'s in `region` at `community` 1栋2单元`room` (the first one is the
/// default), through the wallet's rules.
pub async fn address(
    store: &Store,
    customer: &User,
    region: i64,
    community: &str,
    room: &str,
) -> i64 {
    shuipiao_server::ordering::addresses::add(
        store,
        &master(),
        customer,
        &shuipiao_server::ordering::addresses::AddressInput {
            region_id: region,
            community: community.into(),
            building: "1栋".into(),
            unit: "2单元".into(),
            room: room.into(),
            contact: "张三".into(),
            phone: "13800138000".into(),
            ..Default::default()
        },
        shuipiao_server::unix_now(),
    )
    .await
    .unwrap()
}

/// A running server; dropping it stops it.
pub struct TestServer {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    pub store: Store,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn start(db: &TestDb) -> TestServer {
    start_with(db, |_| {}).await
}

/// [`start`] with the test's own settings (e.g. a mock notification gateway).
pub async fn start_with(db: &TestDb, edit: impl FnOnce(&mut Config)) -> TestServer {
    let store = open(db).await;
    keys::ensure(&store, &master(), shuipiao_server::unix_now())
        .await
        .unwrap();
    let mut config = Config {
        database_url: db.url.clone(),
        master_key: Some(master()),
        body_limit_bytes: BODY_LIMIT,
        pull_page_size: 50,
        ..Config::default()
    };
    edit(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(shuipiao_server::serve_store(
        store.clone(),
        config,
        listener,
        async {
            let _ = rx.await;
        },
    ));
    TestServer {
        addr,
        store,
        shutdown: Some(tx),
    }
}

pub use crate::client::{Body, Response};

/// A request to send together with others ([`TestServer::at_once`]); everything owned, so each
/// can go out on its own task.
#[derive(Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// A JSON request with an optional bearer token.
    pub fn json(method: Method, path: &str, token: Option<&str>, body: Value) -> Request {
        let mut headers = vec![("Content-Type".into(), "application/json".into())];
        if let Some(token) = token {
            headers.push(("Authorization".into(), format!("Bearer {token}")));
        }
        Request {
            method,
            path: path.into(),
            headers,
            body: serde_json::to_vec(&body).unwrap(),
        }
    }
}

impl TestServer {
    /// A JSON request with an optional bearer token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let bearer = token.map(|token| format!("Bearer {token}"));
        let mut headers = Vec::new();
        if let Some(bearer) = &bearer {
            headers.push(("Authorization", bearer.as_str()));
        }
        let bytes = body.map(|body| serde_json::to_vec(&body).unwrap());
        if bytes.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let body = Body::Bytes(bytes.as_deref().unwrap_or_default());
        crate::client::send(&self.addr, &method, path, &headers, body).await
    }

    /// GETs a page as a browser signed in with the session `token` does: with the session
    /// cookie (pages never take a bearer token).
    pub async fn page(&self, path: &str, token: &str) -> Response {
        let cookie = format!("sp_session={token}");
        self.raw(Method::GET, path, &[("Cookie", &cookie)], Body::Bytes(b""))
            .await
    }

    /// Sends every request at once, each on its own connection and task, as a script racing
    /// the server would; the responses come back in the order of `requests`.
    pub async fn at_once(&self, requests: Vec<Request>) -> Vec<Response> {
        let mut tasks = tokio::task::JoinSet::new();
        for (n, request) in requests.into_iter().enumerate() {
            let addr = self.addr.clone();
            tasks.spawn(async move {
                let headers: Vec<(&str, &str)> = request
                    .headers
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.as_str()))
                    .collect();
                let body = Body::Bytes(&request.body);
                let response =
                    crate::client::send(&addr, &request.method, &request.path, &headers, body)
                        .await;
                (n, response)
            });
        }
        let mut responses = tasks.join_all().await;
        responses.sort_by_key(|(n, _)| *n);
        responses
            .into_iter()
            .map(|(_, response)| response)
            .collect()
    }

    /// Any request, headers as given.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Response {
        crate::client::send(&self.addr, &method, path, headers, body).await
    }

    /// Makes a user directly in the store and signs in over HTTP; returns the user and token.
    pub async fn user(
        &self,
        username: &str,
        role: Role,
        account_id: Option<i64>,
    ) -> (User, String) {
        self.user_at(username, role, account_id, (None, None)).await
    }

    /// [`TestServer::user`] for staff of a region or store: `(region_id, outlet_id)`.
    pub async fn user_at(
        &self,
        username: &str,
        role: Role,
        account_id: Option<i64>,
        (region_id, outlet_id): (Option<i64>, Option<i64>),
    ) -> (User, String) {
        let hash = auth::password::hash(PASSWORD.into()).await.unwrap();
        let user = self
            .store
            .create_user(
                &NewUser {
                    username: username.into(),
                    password_hash: hash,
                    role,
                    account_id,
                    region_id,
                    outlet_id,
                },
                NOW,
                &audit("user.create"),
            )
            .await
            .unwrap();
        let response = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(serde_json::json!({ "username": username, "password": PASSWORD })),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{:?}", response.json);
        (user, response.json["token"].as_str().unwrap().to_string())
    }

    /// Redeems the last unit of a one-unit `book` twice from a fresh courier's device, so the
    /// second redemption waits in the review queue; returns its event id.
    /// Pushes `events` as `device` over HTTP; the push must be answered 200.
    pub async fn push_ok(&self, device: &TestDevice, events: &[SignedEvent]) {
        let pushed = self
            .call(
                Method::POST,
                "/api/v1/sync/push",
                Some(&device.token),
                Some(serde_json::json!({ "events": events })),
            )
            .await;
        assert_eq!(pushed.status, StatusCode::OK, "{}", pushed.text);
    }

    pub async fn over_redeemed(
        &self,
        admin_token: &str,
        courier_name: &str,
        book: BookId,
    ) -> String {
        let mut device = self.device(admin_token, courier_name).await;
        let events = vec![device.redeem(book, 1), device.redeem(book, 1)];
        self.push_ok(&device, &events).await;
        let queue = self
            .call(Method::GET, "/api/v1/review", Some(admin_token), None)
            .await;
        queue.json[0]["event_id"].as_str().unwrap().to_string()
    }

    /// Enrolls a device for a fresh courier; returns the device and its token.
    pub async fn device(&self, admin_token: &str, courier_name: &str) -> TestDevice {
        let (courier, _) = self.user(courier_name, Role::Courier, None).await;
        self.enroll_device(admin_token, courier.id, courier_name)
            .await
    }

    /// A fresh enrollment code for `user`, made over the API by the admin `admin_token`.
    pub async fn enrollment_code(&self, admin_token: &str, user: UserId) -> String {
        let made = self
            .call(
                Method::POST,
                "/api/v1/devices/enrollment-codes",
                Some(admin_token),
                Some(serde_json::json!({ "user_id": user.0 })),
            )
            .await;
        assert_eq!(made.status, StatusCode::OK, "{}", made.text);
        made.json["code"].as_str().unwrap().to_string()
    }

    /// Enrolls a device of `user` (its phone named after `name`) over the API with a code made
    /// by the admin `admin_token`.
    pub async fn enroll_device(&self, admin_token: &str, user: UserId, name: &str) -> TestDevice {
        let code = self.enrollment_code(admin_token, user).await;
        let key = SigningKey::from_bytes(&shuipiao_server::random::bytes::<32>());
        let enrolled = self
            .call(
                Method::POST,
                "/api/v1/devices/enroll",
                None,
                Some(serde_json::json!({
                    "code": code,
                    "device_pubkey": data_encoding::HEXLOWER.encode(key.verifying_key().as_bytes()),
                    "name": format!("{name}的手机"),
                })),
            )
            .await;
        assert_eq!(enrolled.status, StatusCode::OK, "{:?}", enrolled.json);
        let enrolled: EnrollResponse = serde_json::from_value(enrolled.json).unwrap();
        TestDevice {
            id: enrolled.device_id,
            token: enrolled.device_token,
            key,
            courier: user,
            tip: ChainTip::GENESIS,
            // Now: books issued by the test are valid from their issue time, and the server
            // flags a redemption scanned outside its book's validity.
            clock: shuipiao_server::unix_now() as u64,
        }
    }
}

/// A device as the courier app keeps it: key, token and chain tip.
pub struct TestDevice {
    pub id: DeviceId,
    pub token: String,
    pub key: SigningKey,
    pub courier: UserId,
    pub tip: ChainTip,
    pub clock: u64,
}

impl TestDevice {
    /// Signs the next event of this device's chain.
    pub fn next(&mut self, body: EventBody, flags: EventFlags) -> SignedEvent {
        self.clock += 60;
        let signed = Event {
            event_id: EventId::v7(self.clock * 1000, shuipiao_server::random::bytes::<10>()),
            device_id: self.id,
            device_seq: self.tip.device_seq + 1,
            prev_hash: self.tip.hash,
            scanned_at: self.clock,
            courier_id: self.courier,
            flags,
            body,
        }
        .sign(&self.key);
        self.tip = ChainTip {
            device_seq: self.tip.device_seq + 1,
            hash: signed.hash(),
        };
        signed
    }

    pub fn redeem(&mut self, book: BookId, units: u16) -> SignedEvent {
        self.next(
            EventBody::Redemption {
                book_id: book,
                units,
                product: ProductCode(189),
            },
            EventFlags::default(),
        )
    }
}

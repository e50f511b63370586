//! The server in-process: `shuipiao_server::serve_store` on 127.0.0.1:0 inside the test's tokio
//! runtime, over a [`TestDb`], with a first admin made the way `create-admin` makes one.

use std::net::SocketAddr;

use shuipiao_server::config::{Config, MasterKey};
use shuipiao_server::store::Store;
use shuipiao_server::store::models::{AuditEntry, NewUser, Role};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use shuipiao_test_support::TestDb;

/// The master key of every test server (sealing keys at rest; a test value, never a real one).
pub const MASTER_KEY: [u8; 32] = [0x5a; 32];
/// The first admin's login.
pub const ADMIN: &str = "admin";
/// Every test user's password.
pub const PASSWORD: &str = "shuipiao-e2e-password";

/// The master key as [`MasterKey`].
pub fn master_key() -> MasterKey {
    MasterKey::from_bytes(MASTER_KEY)
}

/// The master key as `SHUIPIAO_MASTER_KEY` expects it.
pub fn master_key_hex() -> String {
    master_key().to_hex()
}

/// A running in-process server; [`InProcessServer::stop`] (or dropping it) shuts it down.
pub struct InProcessServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its store, for direct reads.
    pub store: Store,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl InProcessServer {
    /// Opens (and migrates) `db`, makes the admin if missing, and serves on 127.0.0.1:0.
    pub async fn start(db: &TestDb) -> InProcessServer {
        InProcessServer::start_with(db, |_| {}).await
    }

    /// [`InProcessServer::start`] with the configuration changed by `configure`.
    pub async fn start_with(db: &TestDb, configure: impl FnOnce(&mut Config)) -> InProcessServer {
        let store = Store::connect(&db.url)
            .await
            .unwrap_or_else(|e| panic!("open {}: {e}", db.url));
        ensure_admin(&store).await;
        let mut config = Config {
            database_url: db.url.clone(),
            master_key: Some(master_key()),
            ..Config::default()
        };
        configure(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("listener address");
        let (tx, rx) = oneshot::channel::<()>();
        let served = store.clone();
        let task = tokio::spawn(async move {
            let result = shuipiao_server::serve_store(served, config, listener, async {
                let _ = rx.await;
            })
            .await;
            if let Err(error) = result {
                panic!("in-process server stopped: {error}");
            }
        });
        // Serving starts with `keys::ensure`; wait until the API answers so the first call of a
        // test never races it.
        let url = format!("http://{addr}");
        wait_until_healthy(&url).await;
        InProcessServer {
            addr,
            url,
            store,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Stops serving and waits for the server task.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }
}

impl Drop for InProcessServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Makes the first admin directly in the store, as `shuipiao-server create-admin` does.
pub async fn ensure_admin(store: &Store) {
    if store.user_by_name(ADMIN).await.is_ok() {
        return;
    }
    let hash = shuipiao_server::auth::password::hash(PASSWORD.to_owned())
        .await
        .expect("hash the admin password");
    store
        .create_user(
            &NewUser {
                username: ADMIN.to_owned(),
                password_hash: hash,
                role: Role::Admin,
                account_id: None,
                region_id: None,
                outlet_id: None,
            },
            shuipiao_server::unix_now(),
            &AuditEntry::new(None, "user.create", "user:admin", serde_json::json!({})),
        )
        .await
        .expect("create the admin");
}

/// Polls `/healthz` until it answers 200 (at most about ten seconds).
pub async fn wait_until_healthy(url: &str) {
    let http = crate::api::http_client();
    let mut last = String::new();
    for _ in 0..400 {
        match tokio::time::timeout(
            std::time::Duration::from_secs(2),
            http.get(format!("{url}/healthz")).send(),
        )
        .await
        {
            Ok(Ok(response)) if response.status().is_success() => return,
            Ok(Ok(response)) => last = format!("status {}", response.status()),
            Ok(Err(error)) => last = error.to_string(),
            Err(_) => last = "timeout".to_owned(),
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("server at {url} never became healthy: {last}");
}

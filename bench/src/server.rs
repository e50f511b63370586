//! The server under test: a fresh database per run (`shuipiao_test_support::TestDb`: a SQLite
//! file in a temp dir, or a new database in the `SHUIPIAO_TEST_PG_URL` cluster, dropped afterwards) and
//! `shuipiao_server::serve_store` on 127.0.0.1:0 inside the bench's runtime, as the binary serves.

use std::time::Duration;

use anyhow::Context;
use shuipiao_server::config::{Backend, Config, MasterKey};
use shuipiao_server::store::Store;
use shuipiao_test_support::TestDb;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{Cell, Table};

pub use shuipiao_test_support::database::PG_URL_VAR;

/// The row text of a PostgreSQL measurement that could not run.
pub const PG_SKIPPED: &str = "skipped: SHUIPIAO_TEST_PG_URL not set";

/// Both backends, SQLite first.
pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

/// The backend's name in tables.
pub fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// A server on a fresh `backend` database, or `None` once `table` says why there is none.
pub async fn start_or_skip(
    backend: Backend,
    table: &mut Table,
) -> anyhow::Result<Option<(TestDb, Running)>> {
    let db = match backend {
        Backend::Sqlite => Some(TestDb::sqlite()),
        Backend::Postgres => TestDb::postgres_if_configured()
            .await
            .with_context(|| format!("a throw-away database in {PG_URL_VAR}"))?,
    };
    let Some(db) = db else {
        table.rows.push(vec![
            Cell::text(backend_name(backend)),
            Cell::text(PG_SKIPPED),
        ]);
        return Ok(None);
    };
    let running = Running::start(&db).await?;
    Ok(Some((db, running)))
}

/// A server serving on loopback until [`Running::stop`].
pub struct Running {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its store, for setting up the plant directly.
    pub store: Store,
    /// Its master key.
    pub master: MasterKey,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<Result<(), shuipiao_server::ServeError>>,
}

impl Running {
    /// Opens and migrates `db` and serves it on 127.0.0.1:0 with the default configuration.
    pub async fn start(db: &TestDb) -> anyhow::Result<Running> {
        let store = Store::connect(&db.url)
            .await
            .with_context(|| format!("open {}", db.url.redacted()))?;
        let master = MasterKey::from_bytes([0x42; 32]);
        let config = Config {
            database_url: db.url.clone(),
            master_key: Some(master.clone()),
            ..Config::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(shuipiao_server::serve_store(
            store.clone(),
            config,
            listener,
            async {
                let _ = stopped.await;
            },
        ));
        // Serving starts with `keys::ensure`; the plant's setup needs those keys.
        let http = client();
        for _ in 0..400 {
            let healthy = http.get(format!("{url}/healthz")).send().await;
            if healthy.is_ok_and(|answer| answer.status().is_success()) {
                return Ok(Running {
                    url,
                    store,
                    master,
                    shutdown,
                    task,
                });
            }
            if task.is_finished() {
                task.await??;
                anyhow::bail!("the server stopped before answering");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        anyhow::bail!("the server at {url} never became healthy")
    }

    /// Stops serving and waits for the server.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(());
        self.task.await??;
        Ok(())
    }
}

/// A plain-HTTP client with a pool large enough for every concurrent device.
pub fn client() -> reqwest::Client {
    // The workspace builds reqwest without a crypto provider; plain http needs none, but building
    // a client needs one installed.
    let _already = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(256)
        .build()
        .expect("an HTTP client without TLS settings always builds")
}

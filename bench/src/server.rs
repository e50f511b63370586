//! The server under test: a fresh database per run (a SQLite file in a temp dir, or a new
//! database in the PostgreSQL cluster named by `SHUIPIAO_TEST_PG_URL`, dropped afterwards) and
//! `shuipiao_server::serve_store` on 127.0.0.1:0 inside the bench's runtime, as the binary serves.

use std::time::Duration;

use anyhow::Context;
use shuipiao_server::config::{Backend, Config, DatabaseUrl, MasterKey};
use shuipiao_server::store::{SqlStore, Store};
use sqlx::{Connection, Executor};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{Cell, Table};

/// The variable naming a PostgreSQL cluster to create throw-away databases in.
pub const PG_URL_VAR: &str = "SHUIPIAO_TEST_PG_URL";

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

/// A database that exists for one run.
pub struct ScratchDb {
    /// Where it is.
    pub url: DatabaseUrl,
    /// The PostgreSQL cluster URL and database name, to drop it afterwards.
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl ScratchDb {
    /// A fresh database on `backend`; `None` for PostgreSQL when `SHUIPIAO_TEST_PG_URL` is unset.
    pub async fn create(backend: Backend) -> anyhow::Result<Option<ScratchDb>> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("shuipiao-bench-")
                    .tempdir()?;
                let url = format!("sqlite://{}/server.db", dir.path().display());
                Ok(Some(ScratchDb {
                    url: DatabaseUrl::new(url),
                    postgres: None,
                    _dir: Some(dir),
                }))
            }
            Backend::Postgres => {
                let Ok(cluster) = std::env::var(PG_URL_VAR) else {
                    return Ok(None);
                };
                let suffix: String = shuipiao_server::random::bytes::<6>()
                    .iter()
                    .map(|byte| format!("{byte:02x}"))
                    .collect();
                let name = format!("sp_bench_{suffix}");
                execute(&cluster, &format!("CREATE DATABASE {name}")).await?;
                let base = cluster.split('?').next().unwrap_or(&cluster);
                let prefix = base.rsplit_once('/').map_or(base, |(prefix, _db)| prefix);
                Ok(Some(ScratchDb {
                    url: DatabaseUrl::new(format!("{prefix}/{name}")),
                    postgres: Some((cluster, name)),
                    _dir: None,
                }))
            }
        }
    }

    /// Removes the database (a SQLite temp dir goes when the value drops).
    pub async fn remove(self) -> anyhow::Result<()> {
        if let Some((cluster, name)) = &self.postgres {
            execute(cluster, &format!("DROP DATABASE {name} WITH (FORCE)")).await?;
        }
        Ok(())
    }
}

async fn execute(cluster: &str, statement: &str) -> anyhow::Result<()> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(cluster)
        .await
        .with_context(|| format!("connect to {PG_URL_VAR}"))?;
    conn.execute(sqlx::AssertSqlSafe(statement.to_owned()))
        .await
        .with_context(|| statement.to_owned())?;
    conn.close().await?;
    Ok(())
}

/// A server on a fresh `backend` database, or `None` once `table` says why there is none.
pub async fn start_or_skip(
    backend: Backend,
    table: &mut Table,
) -> anyhow::Result<Option<(ScratchDb, Running)>> {
    let Some(db) = ScratchDb::create(backend).await? else {
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
    pub store: SqlStore,
    /// Its master key.
    pub master: MasterKey,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<Result<(), shuipiao_server::ServeError>>,
}

impl Running {
    /// Opens and migrates `db` and serves it on 127.0.0.1:0 with the default configuration.
    pub async fn start(db: &ScratchDb) -> anyhow::Result<Running> {
        let store = SqlStore::connect(&db.url)
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

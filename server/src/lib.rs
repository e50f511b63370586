//! Shuipiao server: storage, issuance, keys, devices, sync, the JSON API and the web pages.
//!
//! [`serve`] runs the whole server on a listener the caller binds, so tests use `127.0.0.1:0`.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod api;
pub mod auth;
pub mod buckets;
pub mod catalogue;
pub mod config;
pub mod deliveries;
pub mod demo;
pub mod directory;
pub mod dispatch;
pub mod enrollment;
pub mod enterprise;
pub mod feedback;
pub mod http;
pub mod issuance;
pub mod keys;
pub mod local_time;
pub mod metrics;
pub mod notify;
pub mod ordering;
pub mod pii;
pub mod random;
pub mod review;
pub mod rewards;
pub mod rotating_qr;
pub mod router;
pub mod signup;
pub mod stats;
pub mod store;
pub mod sync;
pub mod tls;
pub mod wallet;
pub mod web;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::{Config, ConfigError};
use crate::http::AppState;
use crate::http::rate_limit::{Limits, PeerAddr};
use crate::keys::KeyError;
use crate::store::{Store, StoreError};

/// The server's clock: unix seconds (UTC). Read only at the HTTP and CLI boundary and passed down.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// Keys could not be created or opened.
    #[error("keys: {0}")]
    Keys(#[from] KeyError),
    /// The listener failed.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
    /// The notification gateway is misconfigured.
    #[error("notifications: {0}")]
    Notify(#[from] notify::gateway::DeliveryError),
    /// The TLS certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// Opens the configured database, makes sure keys exist, and serves until `shutdown` completes:
/// HTTPS on `listener` when `[tls]` is configured, else plain HTTP.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let store = Store::connect(&config.database_url).await?;
    serve_store(store, config, listener, shutdown).await
}

/// [`serve`] over an already opened store.
pub async fn serve_store(
    store: Store,
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let master = config.require_master_key()?.clone();
    let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
    keys::ensure(&store, &master, unix_now()).await?;
    let adapters = notify::adapter::Adapters::from_config(&config.notify)?;
    let dispatcher = notify::dispatch::Dispatcher::new(
        store.clone(),
        master.clone(),
        adapters,
        config.notify.max_attempts,
        config.notify.claim_secs,
    );
    let interval = std::time::Duration::from_secs(config.notify.interval_secs.max(1));
    let delivery = tokio::spawn(dispatcher.run(interval, config.promotions.clone()));
    let state = AppState {
        store,
        master,
        limits: Arc::new(Limits::new(&config.limits)),
        config: Arc::new(config),
        metrics: Arc::default(),
    };
    let address = listener.local_addr()?;
    let app = router::router(state).into_make_service_with_connect_info::<PeerAddr>();
    let served = match tls {
        Some(tls) => {
            tracing::info!(%address, "serving HTTPS");
            axum::serve(tls::TlsListener::new(listener, tls)?, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            tracing::info!(%address, "serving");
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    };
    delivery.abort();
    Ok(served?)
}

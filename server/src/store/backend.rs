//! The per-backend parts of storage: connection setup, embedded migrations, and how a write
//! transaction starts. Everything else is shared SQL in the table modules.

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, Executor, SqlSafeStr};

use crate::config::{Backend, DatabaseUrl};
use crate::store::{ConflictKind, StoreError, StoreResult};

/// One embedded migration: the same name exists under `migrations/sqlite` and `migrations/postgres`.
struct MigrationFile {
    version: i64,
    description: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

macro_rules! migration {
    ($version:literal, $name:literal) => {
        MigrationFile {
            version: $version,
            description: $name,
            sqlite: include_str!(concat!(
                "../../migrations/sqlite/",
                $version,
                "_",
                $name,
                ".sql"
            )),
            postgres: include_str!(concat!(
                "../../migrations/postgres/",
                $version,
                "_",
                $name,
                ".sql"
            )),
        }
    };
}

const MIGRATIONS: &[MigrationFile] = &[
    migration!(20261127000001, "init"),
    migration!(20261127000002, "customers"),
    migration!(20261127000003, "one_active_key"),
    migration!(20261204000001, "ledger_tip"),
    migration!(20261204000101, "event_figures"),
    migration!(20261204000102, "device_report"),
    migration!(20261204000201, "notify_channels"),
    migration!(20261204000301, "books_flagged"),
    migration!(20261204000401, "holder_bound"),
    migration!(20261207000101, "review_reasons"),
    migration!(20261207000201, "enterprise_invitations"),
    migration!(20261207000501, "outbox_claims"),
    migration!(20261207000502, "outbox_secrets"),
    migration!(20261207000503, "key_locks"),
    migration!(20261208000001, "delivery_orders"),
    migration!(20261208000101, "delivery_events"),
    migration!(20261208000301, "buckets"),
    migration!(20261209000101, "outbox_claim_holder"),
    migration!(20261209000201, "package_retired"),
];

fn migrator(backend: Backend) -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|file| {
            let sql = match backend {
                Backend::Sqlite => file.sqlite,
                Backend::Postgres => file.postgres,
            };
            Migration::new(
                file.version,
                Cow::Borrowed(file.description),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// Statement that opens a write transaction. SQLite takes the write lock up front so a
/// transaction that reads before it writes never fails to upgrade its lock, which also runs
/// write transactions one at a time. PostgreSQL runs them in parallel at READ COMMITTED: a
/// transaction that reads, decides and then writes must lock first (`tx::lock_key`,
/// `tx::lock_status_clock`) or decide inside one conditional statement (`UPDATE … WHERE …`).
pub(super) fn begin_write_statement(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN",
    }
}

/// Opens a pool for `url` and runs the embedded migrations.
pub(super) async fn open(url: &DatabaseUrl) -> StoreResult<(AnyPool, Backend)> {
    sqlx::any::install_default_drivers();
    let backend = url
        .backend()
        .map_err(|err| StoreError::Other(Box::new(err)))?;
    let pool = match backend {
        Backend::Sqlite => open_sqlite(url.expose()).await?,
        Backend::Postgres => {
            AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url.expose())
                .await?
        }
    };
    migrator(backend).run(&pool).await?;
    Ok((pool, backend))
}

async fn open_sqlite(url: &str) -> StoreResult<AnyPool> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    let in_memory = path == ":memory:" || path.is_empty();
    if !in_memory
        && let Some(parent) = Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|err| {
            StoreError::Other(
                format!(
                    "cannot create database directory {}: {err}",
                    parent.display()
                )
                .into(),
            )
        })?;
    }
    let connect_url = if in_memory {
        "sqlite::memory:".to_string()
    } else {
        format!("sqlite://{path}?mode=rwc")
    };
    let pool = AnyPoolOptions::new()
        // One in-memory database exists per connection, so it must stay a single connection.
        .max_connections(if in_memory { 1 } else { 8 })
        .acquire_timeout(Duration::from_secs(30))
        // synchronous = FULL: a device forgets the events a push acknowledged, so a commit must
        // survive power loss, not only a crash of this process (NORMAL may lose the last
        // transactions of the WAL on power loss).
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;",
                )
                .await?;
                Ok(())
            })
        })
        .connect(&connect_url)
        .await?;
    Ok(pool)
}

/// Copies a live SQLite database to `dest` with `VACUUM INTO`.
pub(super) async fn vacuum_into(pool: &AnyPool, dest: &str) -> StoreResult<()> {
    if Path::new(dest).exists() {
        return Err(StoreError::Conflict(ConflictKind::BackupExists));
    }
    let quoted = dest.replace('\'', "''");
    pool.execute(AssertSqlSafe(format!("VACUUM INTO '{quoted}'")))
        .await?;
    Ok(())
}

//! A throw-away server database: a SQLite file in a temp dir (always), or a new database in the
//! PostgreSQL cluster named by `SHUIPIAO_TEST_PG_URL`.
//!
//! Under CI (`CI` set) a missing `SHUIPIAO_TEST_PG_URL` is a failure, never a silent skip:
//! `scripts/test-all.sh` always starts a cluster.

use shuipiao_server::config::{Backend, DatabaseUrl};
use sqlx::{Connection, Executor};

/// The variable naming a PostgreSQL cluster to create throw-away databases in.
pub const PG_URL_VAR: &str = "SHUIPIAO_TEST_PG_URL";

/// A fresh database; a SQLite file lives as long as this value.
pub struct TestDb {
    /// URL for the server (`sqlite://…` or `postgres://…`).
    pub url: DatabaseUrl,
    /// Which backend.
    pub backend: Backend,
    /// The cluster URL and database name of a PostgreSQL database, for [`TestDb::remove`].
    postgres: Option<(String, String)>,
    dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestDb({})", self.url)
    }
}

impl TestDb {
    /// A new SQLite file in a temp dir.
    ///
    /// # Panics
    /// When no temp dir can be made.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::Builder::new()
            .prefix("shuipiao-test-")
            .tempdir()
            .expect("temp dir for the server database");
        let url = DatabaseUrl::new(format!("sqlite://{}/server.db", dir.path().display()));
        TestDb {
            url,
            backend: Backend::Sqlite,
            postgres: None,
            dir: Some(dir),
        }
    }

    /// A database the test manages itself (e.g. one a CLI run writes).
    ///
    /// # Panics
    /// When the URL names no known backend.
    pub fn at(url: &str) -> TestDb {
        let url = DatabaseUrl::new(url);
        let backend = url.backend().expect("a sqlite:// or postgres:// URL");
        TestDb {
            url,
            backend,
            postgres: None,
            dir: None,
        }
    }

    /// A new PostgreSQL database, or `None` (with a note on stderr) when
    /// `SHUIPIAO_TEST_PG_URL` is not set outside CI.
    ///
    /// # Panics
    /// Under CI without `SHUIPIAO_TEST_PG_URL`, or when the cluster cannot be reached.
    pub async fn postgres() -> Option<TestDb> {
        if std::env::var_os(PG_URL_VAR).is_none() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{PG_URL_VAR} is not set under CI: run the tests through scripts/test-all.sh"
            );
            eprintln!("{PG_URL_VAR} not set: PostgreSQL variant skipped");
            return None;
        }
        match TestDb::postgres_if_configured().await {
            Ok(db) => db,
            Err(err) => panic!("a throw-away database in {PG_URL_VAR}: {err}"),
        }
    }

    /// A new PostgreSQL database when `SHUIPIAO_TEST_PG_URL` names a cluster, `None` when it is
    /// unset (for callers that report the skip themselves, such as the benchmarks).
    pub async fn postgres_if_configured() -> Result<Option<TestDb>, sqlx::Error> {
        let Ok(cluster) = std::env::var(PG_URL_VAR) else {
            return Ok(None);
        };
        let name = format!(
            "sp_test_{}",
            data_encoding::HEXLOWER.encode(&shuipiao_server::random::bytes::<8>())
        );
        execute(&cluster, &format!("CREATE DATABASE {name}")).await?;
        let base = cluster.split('?').next().unwrap_or(&cluster);
        let prefix = base.rsplit_once('/').map_or(base, |(prefix, _db)| prefix);
        Ok(Some(TestDb {
            url: DatabaseUrl::new(format!("{prefix}/{name}")),
            backend: Backend::Postgres,
            postgres: Some((cluster, name)),
            dir: None,
        }))
    }

    /// Drops a PostgreSQL database (a SQLite temp dir goes when the value drops). Tests leave
    /// theirs to the throw-away cluster; long runs such as the benchmarks remove each one.
    pub async fn remove(self) -> Result<(), sqlx::Error> {
        if let Some((cluster, name)) = &self.postgres {
            execute(
                cluster,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await?;
        }
        Ok(())
    }

    /// The temp dir holding a SQLite database (also a handy place for other files).
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(tempfile::TempDir::path)
    }
}

/// Runs one statement on the cluster's maintenance database.
async fn execute(cluster: &str, statement: &str) -> Result<(), sqlx::Error> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(cluster).await?;
    conn.execute(sqlx::AssertSqlSafe(statement.to_string()))
        .await?;
    conn.close().await
}

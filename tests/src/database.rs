//! A throw-away server database per test: a SQLite file in a temp dir (always), or a new
//! database in the PostgreSQL cluster named by `SHUIPIAO_TEST_PG_URL`.
//!
//! Under CI (`CI` set) a missing `SHUIPIAO_TEST_PG_URL` is a failure, never a silent skip:
//! `scripts/test-all.sh` always starts a cluster.

use shuipiao_server::config::{Backend, DatabaseUrl};
use sqlx::{Connection, Executor};

/// A fresh database; a SQLite file lives as long as this value.
pub struct TestDb {
    /// URL for the server (`sqlite://…` or `postgres://…`).
    pub url: DatabaseUrl,
    /// Which backend.
    pub backend: Backend,
    dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestDb({})", self.url)
    }
}

impl TestDb {
    /// A new SQLite file in a temp dir.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::Builder::new()
            .prefix("shuipiao-e2e-server-")
            .tempdir()
            .expect("temp dir for the server database");
        let url = DatabaseUrl::new(format!("sqlite://{}/server.db", dir.path().display()));
        TestDb {
            url,
            backend: Backend::Sqlite,
            dir: Some(dir),
        }
    }

    /// A new PostgreSQL database, or `None` (with a note on stderr) when
    /// `SHUIPIAO_TEST_PG_URL` is not set outside CI.
    ///
    /// # Panics
    /// Under CI without `SHUIPIAO_TEST_PG_URL`, or when the cluster cannot be reached.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin_url) = std::env::var("SHUIPIAO_TEST_PG_URL") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "SHUIPIAO_TEST_PG_URL is not set under CI: run the tests through scripts/test-all.sh"
            );
            eprintln!("SHUIPIAO_TEST_PG_URL not set: PostgreSQL variant skipped");
            return None;
        };
        sqlx::any::install_default_drivers();
        let name = format!(
            "sp_e2e_{}",
            data_encoding::HEXLOWER.encode(&shuipiao_server::random::bytes::<8>())
        );
        let mut conn = sqlx::AnyConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("connect to SHUIPIAO_TEST_PG_URL: {e}"));
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        conn.close().await.ok();
        let base = admin_url.split('?').next().unwrap_or(&admin_url);
        let prefix = base.rsplit_once('/').map_or(base, |(prefix, _db)| prefix);
        Some(TestDb {
            url: DatabaseUrl::new(format!("{prefix}/{name}")),
            backend: Backend::Postgres,
            dir: None,
        })
    }

    /// The temp dir holding a SQLite database (also a handy place for other files).
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(tempfile::TempDir::path)
    }
}

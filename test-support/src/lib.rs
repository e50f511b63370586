//! What the server's integration tests, the end-to-end suite and the benchmarks share: a fresh
//! database per test on SQLite or PostgreSQL ([`database`]), the [`on_both_backends!`] macro that
//! runs one test on each, seeded randomness that prints its seed ([`rng`]), and the test vectors'
//! hex ([`hex`]).
#![forbid(unsafe_code)]

pub mod database;
pub mod hex;
pub mod rng;

pub use database::TestDb;

/// Runs each named `async fn(TestDb)` on a fresh SQLite database and, when
/// `SHUIPIAO_TEST_PG_URL` names a cluster, on a fresh PostgreSQL database: two tests per name,
/// `sqlite::name` and `postgres::name`. The caller's crate must depend on `tokio`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::TestDb::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::TestDb::postgres().await else {
                        return;
                    };
                    super::$name(db).await;
                }
            )*
        }
    };
}

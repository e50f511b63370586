//! The end-to-end harness: a real `shuipiao-server` (in-process on 127.0.0.1:0, or as a child
//! process for crash tests), real courier engines with their own SQLite files, a fault-injecting
//! TCP proxy, and assertions on the exact end state. The scenarios live in `tests/tests/`.
//!
//! Fresh databases per test, the both-backends macro and seeded randomness come from
//! `shuipiao-test-support`.
//! - [`server`]: the server in-process; [`processes`]: server and courier binaries as children.
//! - [`api`]: the JSON API as an admin, operator or customer uses it; [`plant`]: a plant set up
//!   through that API (catalogue, customer, couriers, books).
//! - [`device`]: a courier device (engine, sync client, shifted clock); [`clock`]: that clock.
//! - [`keyed`]: a device that is only a key and a hash chain, for load and replays.
//! - [`inspect`]: what the server holds, and assertions that name the diverging event or book.
//! - [`proxy`]: drop, delay, truncate and duplicate traffic, and balance it over several servers.
//! - [`world`]: database + server + plant for one scenario, and verdict assertions.
#![forbid(unsafe_code)]

pub mod api;
pub mod clock;
pub mod device;
pub mod inspect;
pub mod keyed;
pub mod plant;
pub mod processes;
pub mod proxy;
pub mod server;
pub mod world;

use std::path::PathBuf;

/// The repository root, found from this crate's manifest directory.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Reads a count from the environment variable `name`, or `default` when it is unset.
///
/// # Panics
/// When the variable is set but is not a number: a typo must not silently shrink a test.
pub fn env_count(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a count")),
        Err(_) => default,
    }
}

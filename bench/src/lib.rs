//! The benchmark harness: each suite measures one hot path the way it runs in production (real
//! HTTP on loopback, a real device store, the protocol crate) and returns a [`Table`] with its
//! figures against the goals listed in docs/performance.md.
//!
//! Run: `cargo run -p shuipiao-bench --release -- <suite> [--quick]`. [`run`] is the same entry
//! point for `tests/smoke.rs`, which runs every suite with [`Options::quick`] in a debug build so
//! the harness cannot rot.
//!
//! - [`push`] and [`pull`]: sync throughput over [`server`] (an in-process server on a fresh
//!   SQLite file or PostgreSQL database) set up by [`plant`].
//! - [`snapshot`]: status snapshot and delta sizes, and loading the snapshot into a [`device`] store.
//! - [`stats`]: the admin console's statistics pages over a long history.
//! - [`day`]: a plant's day of orders: dispatch, every courier's delivery list, delivery events.
//! - [`frame`]: camera frame to verdict; [`verify`]: signature checks.
//! - [`table`]: the printed table; [`measure`]: percentiles and process memory.
#![forbid(unsafe_code)]

pub mod day;
pub mod device;
pub mod frame;
pub mod measure;
pub mod plant;
pub mod pull;
pub mod push;
pub mod server;
pub mod snapshot;
pub mod stats;
pub mod table;
pub mod verify;

use std::time::Duration;

pub use table::{Cell, Table};

/// One benchmark suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// Push ingestion through `POST /api/v1/sync/push`.
    Push,
    /// Status rows through `GET /api/v1/sync/pull`.
    Pull,
    /// Status snapshot and delta: size, verify, load into the device store, memory.
    Snapshot,
    /// Camera frame → verdict with the durable outbox write.
    Frame,
    /// Credential and event signature checks next to raw `verify_strict`.
    Verify,
    /// The statistics pages over a long history of events.
    Stats,
    /// A day of orders: dispatch, delivery lists and delivery events.
    Day,
}

impl Suite {
    /// Every suite, in the order `all` runs them: the snapshot's memory figures first, before the
    /// frame suite's buffers or a server have grown the heap.
    pub const ALL: [Suite; 7] = [
        Suite::Verify,
        Suite::Snapshot,
        Suite::Frame,
        Suite::Push,
        Suite::Pull,
        Suite::Stats,
        Suite::Day,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Push => "push",
            Suite::Pull => "pull",
            Suite::Snapshot => "snapshot",
            Suite::Frame => "frame",
            Suite::Verify => "verify",
            Suite::Stats => "stats",
            Suite::Day => "day",
        }
    }

    /// The suite called `name` on the command line.
    pub fn from_name(name: &str) -> Option<Suite> {
        Suite::ALL.into_iter().find(|suite| suite.name() == name)
    }
}

/// Sizes of a run. [`Options::default`] is the full run (each suite within about two minutes on
/// two cores); [`Options::quick`] is a smoke test of seconds, even in a debug build.
#[derive(Debug, Clone)]
pub struct Options {
    /// Concurrent devices of the push grid.
    pub push_devices: Vec<usize>,
    /// Events per request of the push grid.
    pub push_batches: Vec<usize>,
    /// Events each push cell prepares (at least one batch per device); the cell stops early at
    /// `cell_time`.
    pub push_events: usize,
    /// Books the push and pull suites issue.
    pub books: u32,
    /// `limit` of each pull page.
    pub pull_limits: Vec<u32>,
    /// How long one push or pull cell keeps sending.
    pub cell_time: Duration,
    /// Book counts of the snapshot suite.
    pub snapshot_books: Vec<u64>,
    /// Changed books in the daily delta.
    pub delta_changes: u64,
    /// Clean frames per frame size.
    pub frames: u64,
    /// Also scan the decoder benchmark's degraded set (about 170 views per size).
    pub degraded_frames: bool,
    /// Signature checks per operation.
    pub verifications: u32,
    /// Events of the statistics suite's history.
    pub stats_events: usize,
    /// Couriers of the day suite, one phone each.
    pub day_couriers: usize,
    /// Orders each courier delivers in the day suite.
    pub day_deliveries: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            push_devices: vec![1, 10, 100],
            push_batches: vec![1, 50, 500],
            push_events: 15_000,
            books: 10_000,
            pull_limits: vec![100, 1000],
            cell_time: Duration::from_secs(3),
            snapshot_books: vec![100_000, 1_000_000],
            delta_changes: 5_000,
            frames: 200,
            degraded_frames: true,
            verifications: 20_000,
            stats_events: 200_000,
            day_couriers: 200,
            day_deliveries: 150,
        }
    }
}

impl Options {
    /// Tiny sizes that still walk every code path of every suite.
    pub fn quick() -> Options {
        Options {
            push_devices: vec![1, 10],
            push_batches: vec![1, 50],
            push_events: 100,
            books: 100,
            pull_limits: vec![10, 100],
            cell_time: Duration::from_millis(200),
            snapshot_books: vec![10_000],
            delta_changes: 50,
            frames: 3,
            degraded_frames: false,
            verifications: 50,
            stats_events: 400,
            day_couriers: 3,
            day_deliveries: 4,
        }
    }
}

/// Runs one suite and returns its table.
pub fn run(suite: Suite, options: &Options) -> anyhow::Result<Table> {
    match suite {
        Suite::Push => runtime()?.block_on(push::run(options)),
        Suite::Pull => runtime()?.block_on(pull::run(options)),
        Suite::Snapshot => snapshot::run(options),
        Suite::Frame => frame::run(options),
        Suite::Verify => verify::run(options),
        Suite::Stats => runtime()?.block_on(stats::run(options)),
        Suite::Day => runtime()?.block_on(day::run(options)),
    }
}

/// The server and its clients share one multi-threaded runtime, one worker per core, as the
/// server binary runs.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// One line about the machine, printed above the tables.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    format!("{cpus} CPUs ({model}), {profile} build")
}

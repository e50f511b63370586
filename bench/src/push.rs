//! Push ingestion: enrolled devices push their signed, hash-chained redemptions concurrently
//! through `POST /api/v1/sync/push` over loopback HTTP, for each device count × batch size, on
//! SQLite and PostgreSQL. Events are signed and encoded before the clock starts, so the figure
//! is the server's (sharing the two cores with the client, as a loopback run must).

use std::time::{Duration, Instant};

use shuipiao_server::config::Backend;
use tokio::task::JoinSet;

use crate::plant::{self, LoadDevice, Plant};
use crate::server::{self, BACKENDS, Running, backend_name};
use crate::{Cell, Options, Table, measure};

/// The goal for batches of 500, in events per second (docs/performance.md).
pub fn goal(backend: Backend) -> f64 {
    match backend {
        Backend::Sqlite => 20_000.0,
        Backend::Postgres => 10_000.0,
    }
}

/// The batch size the goals are stated for.
pub const GOAL_BATCH: usize = 500;

/// Runs the grid on both backends.
pub async fn run(options: &Options) -> anyhow::Result<Table> {
    let mut table = Table::new(
        "push: signed redemptions through POST /api/v1/sync/push",
        &[
            "backend", "devices", "batch", "events", "events/s", "p50 ms", "p99 ms", "busy",
            "vs goal",
        ],
    );
    let http = server::client();
    let most_devices = options.push_devices.iter().copied().max().unwrap_or(1);
    for backend in BACKENDS {
        let name = backend_name(backend);
        let Some((db, running)) = server::start_or_skip(backend, &mut table).await? else {
            continue;
        };
        let plant = Plant::setup(&running, options.books).await?;
        let mut devices = plant.enroll(&running, most_devices).await?;
        // Each cell's scans come after the previous cell's, as a day's scans reach the server
        // after yesterday's: a book's new redemptions usually follow its stored ones.
        let mut scan_clock_ms = plant::an_hour_ago_ms();
        for &n_devices in &options.push_devices {
            for &batch in &options.push_batches {
                let mut cell = cell(
                    &http,
                    &running,
                    &plant,
                    &mut devices[..n_devices],
                    batch,
                    &mut scan_clock_ms,
                    options,
                )
                .await?;
                let rate = cell.events as f64 / cell.elapsed.as_secs_f64();
                table.rows.push(vec![
                    Cell::text(name),
                    Cell::count(n_devices as f64),
                    Cell::count(batch as f64),
                    Cell::count(cell.events as f64),
                    Cell::count(rate),
                    Cell::figure(measure::percentile_ms(&mut cell.latencies, 0.5), 1),
                    Cell::figure(measure::percentile_ms(&mut cell.latencies, 0.99), 1),
                    Cell::count(cell.busy),
                    if batch == GOAL_BATCH {
                        Cell::Ratio(rate / goal(backend))
                    } else {
                        Cell::Empty
                    },
                ]);
            }
        }
        running.stop().await?;
        db.remove().await?;
    }
    table.notes = vec![
        format!(
            "Each cell sends for at most {:.1} s (at least one request per device); events/s is \
             events stored ÷ wall time; p50/p99 are per request; busy counts 503 answers \
             (database busy) that the device retried.",
            options.cell_time.as_secs_f64()
        ),
        format!(
            "Goal for batches of {GOAL_BATCH}: ≥ {} events/s on SQLite, ≥ {} on PostgreSQL.",
            goal(Backend::Sqlite),
            goal(Backend::Postgres)
        ),
    ];
    Ok(table)
}

/// What one cell measured.
struct CellResult {
    events: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    busy: u32,
}

async fn cell(
    http: &reqwest::Client,
    server: &Running,
    plant: &Plant,
    devices: &mut [LoadDevice],
    batch: usize,
    scan_clock_ms: &mut u64,
    options: &Options,
) -> anyhow::Result<CellResult> {
    let per_device = options
        .push_events
        .div_ceil(devices.len())
        .div_ceil(batch)
        .max(1)
        * batch;
    let chains: Vec<_> = devices
        .iter()
        .map(|device| device.redemptions(&plant.books, per_device, *scan_clock_ms))
        .collect();
    *scan_clock_ms += per_device as u64;
    let bodies: Vec<Vec<Vec<u8>>> = chains
        .iter()
        .map(|chain| chain.chunks(batch).map(plant::push_body).collect())
        .collect();
    let started = Instant::now();
    let deadline = started + options.cell_time;
    let mut tasks = JoinSet::new();
    for (idx, (device, bodies)) in devices.iter().zip(bodies).enumerate() {
        let (http, url, token) = (http.clone(), server.url.clone(), device.token.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(bodies.len());
            let mut busy = 0;
            for body in &bodies {
                if !latencies.is_empty() && Instant::now() >= deadline {
                    break;
                }
                let sent = Instant::now();
                busy += plant::push(&http, &url, &token, body).await?;
                latencies.push(sent.elapsed());
            }
            anyhow::Ok((idx, latencies, busy))
        });
    }
    let mut result = CellResult {
        events: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        busy: 0,
    };
    while let Some(done) = tasks.join_next().await {
        let (idx, latencies, busy) = done??;
        let pushed = latencies.len() * batch;
        devices[idx].pushed(&chains[idx][pushed - 1]);
        result.events += pushed;
        result.latencies.extend(latencies);
        result.busy += busy;
    }
    result.elapsed = started.elapsed();
    Ok(result)
}

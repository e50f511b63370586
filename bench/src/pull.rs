//! Pull: after one device has pushed a redemption on every book (so every book has a status
//! row), a device pages through `GET /api/v1/sync/pull` from cursor 0 to the end, again and
//! again, on SQLite and PostgreSQL.

use std::time::Instant;

use shuipiao_shared::keyring::Keyring;
use shuipiao_shared::sync::{MAX_PUSH_EVENTS, PullResponse};

use crate::plant::{self, LoadDevice, Plant};
use crate::server::{self, BACKENDS, Running, backend_name};
use crate::{Cell, Options, Table, measure};

/// Runs every page size on both backends.
pub async fn run(options: &Options) -> anyhow::Result<Table> {
    let mut table = Table::new(
        "pull: status rows through GET /api/v1/sync/pull",
        &[
            "backend",
            "books",
            "limit",
            "passes",
            "rows",
            "rows/s",
            "page p50 ms",
            "page p99 ms",
        ],
    );
    let http = server::client();
    for backend in BACKENDS {
        let name = backend_name(backend);
        let Some((db, running)) = server::start_or_skip(backend, &mut table).await? else {
            continue;
        };
        let plant = Plant::setup(&running, options.books).await?;
        let mut devices = plant.enroll(&running, 1).await?;
        let device = &mut devices[0];
        let chain = device.redemptions(&plant.books, plant.books.len(), plant::an_hour_ago_ms());
        for events in chain.chunks(MAX_PUSH_EVENTS) {
            plant::push(
                &http,
                &running.url,
                &device.token,
                &plant::push_body(events),
            )
            .await?;
        }
        if let Some(last) = chain.last() {
            device.pushed(last);
        }
        let keyring_version = held_keyring(&http, &running, device).await?;
        for &limit in &options.pull_limits {
            let mut passes = 0;
            let mut rows = 0;
            let mut latencies = Vec::new();
            let started = Instant::now();
            while passes == 0 || started.elapsed() < options.cell_time {
                let mut cursor = 0;
                loop {
                    let sent = Instant::now();
                    let page =
                        pull(&http, &running, device, cursor, limit, keyring_version).await?;
                    latencies.push(sent.elapsed());
                    rows += page.statuses.len();
                    cursor = page.next_cursor;
                    if !page.has_more {
                        break;
                    }
                }
                passes += 1;
            }
            let elapsed = started.elapsed();
            table.rows.push(vec![
                Cell::text(name),
                Cell::count(plant.books.len() as f64),
                Cell::count(limit),
                Cell::count(passes),
                Cell::count(rows as f64),
                Cell::count(rows as f64 / elapsed.as_secs_f64()),
                Cell::figure(measure::percentile_ms(&mut latencies, 0.5), 1),
                Cell::figure(measure::percentile_ms(&mut latencies, 0.99), 1),
            ]);
        }
        running.stop().await?;
        db.remove().await?;
    }
    table.notes = vec![format!(
        "A pass pulls every status row from cursor 0, page by page, as a new device does; \
         passes repeat for {:.1} s. The server caps a page at its pull_page_size (1000 by default).",
        options.cell_time.as_secs_f64()
    )];
    Ok(table)
}

/// The keyring version a synced device holds, so later pulls do not fetch the bundle again.
async fn held_keyring(
    http: &reqwest::Client,
    server: &Running,
    device: &LoadDevice,
) -> anyhow::Result<u64> {
    let first = pull(http, server, device, 0, 1, 0).await?;
    let bundle = first
        .keyring
        .ok_or_else(|| anyhow::anyhow!("the first pull carried no keyring"))?;
    Ok(Keyring::open(&bundle, &device.root)?.version)
}

async fn pull(
    http: &reqwest::Client,
    server: &Running,
    device: &LoadDevice,
    cursor: u64,
    limit: u32,
    keyring_version: u64,
) -> anyhow::Result<PullResponse> {
    let url = format!(
        "{}/api/v1/sync/pull?cursor={cursor}&limit={limit}&keyring_version={keyring_version}",
        server.url
    );
    let answer = http.get(url).bearer_auth(&device.token).send().await?;
    let status = answer.status();
    let text = answer.text().await?;
    anyhow::ensure!(status.is_success(), "pull answered {status}: {text}");
    Ok(serde_json::from_str(&text)?)
}

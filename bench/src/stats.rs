//! Statistics: the admin console's statistics pages over a plant with a long history. Devices
//! have stored redemptions and refused scans spread over the last 90 days (one in twenty scans
//! refused), then a statistician opens the dashboard, the statistics page for the default 30
//! days and for a whole year, and the staff leaderboard, over loopback HTTP, on SQLite and
//! PostgreSQL.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use shuipiao_server::store::models::{AuditEntry, NewUser, Role};
use shuipiao_shared::event::{EventBody, Refusal};
use shuipiao_shared::sync::MAX_PUSH_EVENTS;
use shuipiao_shared::verdict::RejectReason;

use crate::plant::{LoadDevice, PRODUCT, Plant};
use crate::server::{self, BACKENDS, Running, backend_name};
use crate::{Cell, Options, Table, measure};

/// Devices the events are spread over.
const DEVICES: usize = 20;
/// Days of history.
const HISTORY_DAYS: u64 = 90;
/// Requests per page.
const ROUNDS: usize = 5;
const PASSWORD: &str = "bench statistician";

/// Runs the pages on both backends.
pub async fn run(options: &Options) -> anyhow::Result<Table> {
    let mut table = Table::new(
        "stats: statistics pages over a long history",
        &["backend", "events", "page", "p50 ms", "max ms"],
    );
    let http = server::client();
    for backend in BACKENDS {
        let name = backend_name(backend);
        let Some((db, running)) = server::start_or_skip(backend, &mut table).await? else {
            continue;
        };
        // Enough books that no redemption is ever over the book's units.
        let books = (options.stats_events / 40).max(10) as u32;
        let plant = Plant::setup(&running, books).await?;
        let devices = plant.enroll(&running, DEVICES).await?;
        let events = store_history(&running, &plant, &devices, options.stats_events).await?;
        let token = statistician(&http, &running).await?;
        let year_ago =
            shuipiao_server::local_time::date(shuipiao_server::unix_now() - 365 * 86_400);
        let pages = [
            ("/admin".to_owned(), "dashboard"),
            ("/admin/stats".to_owned(), "stats, 30 days"),
            (format!("/admin/stats?from={year_ago}"), "stats, 366 days"),
            ("/admin/staff".to_owned(), "staff leaderboard"),
        ];
        for (path, label) in pages {
            let mut latencies = Vec::with_capacity(ROUNDS);
            for _ in 0..ROUNDS {
                let sent = Instant::now();
                // Pages take the session as the cookie a browser keeps, not a bearer token.
                let answer = http
                    .get(format!("{}{path}", running.url))
                    .header(reqwest::header::COOKIE, format!("sp_session={token}"))
                    .send()
                    .await?;
                let status = answer.status();
                let signed_out = answer.url().path() == "/login";
                answer.bytes().await?;
                anyhow::ensure!(status.is_success(), "{path} answered {status}");
                anyhow::ensure!(
                    !signed_out,
                    "{path} sent the statistician to the sign-in page"
                );
                latencies.push(sent.elapsed());
            }
            let max = latencies.iter().max().copied().unwrap_or(Duration::ZERO);
            table.rows.push(vec![
                Cell::text(name),
                Cell::count(events as f64),
                Cell::text(label),
                Cell::figure(measure::percentile_ms(&mut latencies, 0.5), 1),
                Cell::figure(max.as_secs_f64() * 1000.0, 1),
            ]);
        }
        running.stop().await?;
        db.remove().await?;
    }
    table.notes = vec![format!(
        "{DEVICES} devices' events over the last {HISTORY_DAYS} days, stored through the store \
         before the clock starts; each page is requested {ROUNDS} times in a row by a signed-in \
         statistician, whole response read."
    )];
    Ok(table)
}

/// Stores about `total` events from `devices`, spread evenly over the history; returns how
/// many.
async fn store_history(
    server: &Running,
    plant: &Plant,
    devices: &[LoadDevice],
    total: usize,
) -> anyhow::Result<usize> {
    let per_device = total.div_ceil(devices.len());
    let now_ms = shuipiao_server::unix_now() as u64 * 1000;
    let from_ms = now_ms - HISTORY_DAYS * 86_400_000;
    let step_ms = (now_ms - from_ms) / per_device as u64;
    let mut stored = 0;
    for (idx, device) in devices.iter().enumerate() {
        let chain = device.chain(per_device, |device_seq| {
            let book = plant.books[(idx * 7_919 + device_seq as usize) % plant.books.len()];
            let body = if device_seq % 20 == 0 {
                EventBody::ScanAttempt {
                    book_id: Some(book),
                    refusal: Refusal::Rejected(RejectReason::Expired),
                }
            } else {
                EventBody::Redemption {
                    book_id: book,
                    units: 1,
                    product: PRODUCT,
                }
            };
            // Devices interleave within each step, so scan times stay distinct per device.
            (from_ms + device_seq * step_ms + idx as u64, body)
        });
        let record = server.store.device(device.id).await?;
        for events in chain.chunks(MAX_PUSH_EVENTS) {
            shuipiao_server::sync::push(
                &server.store,
                &record,
                events,
                shuipiao_server::unix_now(),
            )
            .await
            .context("store the history")?;
        }
        stored += chain.len();
    }
    Ok(stored)
}

/// Makes a statistician and signs in; returns the session token.
async fn statistician(http: &reqwest::Client, server: &Running) -> anyhow::Result<String> {
    let password_hash = shuipiao_server::auth::password::hash(PASSWORD.into()).await?;
    let user = NewUser {
        username: "bench-stat".into(),
        password_hash,
        role: Role::Statistician,
        account_id: None,
        region_id: None,
        outlet_id: None,
    };
    let audit = AuditEntry::new(None, "bench.setup", "bench", json!({}));
    server
        .store
        .create_user(&user, shuipiao_server::unix_now(), &audit)
        .await?;
    let answer = http
        .post(format!("{}/api/v1/auth/login", server.url))
        .json(&json!({ "username": "bench-stat", "password": PASSWORD }))
        .send()
        .await?;
    anyhow::ensure!(
        answer.status().is_success(),
        "login answered {}",
        answer.status()
    );
    let body: serde_json::Value = answer.json().await?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .context("login answer without a token")
}

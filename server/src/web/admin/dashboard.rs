//! The operations monitor, the admin console's front page: today's issued and delivered units,
//! 核销成功率 and conflicts, devices that have not synced for a day, open support tickets and
//! undelivered notifications, the last two weeks at a glance, and the server's health.

use std::time::Instant;

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use crate::http::AppState;
use crate::stats::{self, Cell, Overview, Period};
use crate::store::reports::Bucket;
use crate::web::admin::charts::{self, Series};
use crate::web::admin::devices::{DeviceRow, device_rows};
use crate::web::admin::{Admin, Chrome, DoneQuery};
use crate::web::{PageError, PageQuery};

/// Days in the dashboard's chart.
const CHART_DAYS: i64 = 14;
/// Days of undelivered notifications counted.
const NOTIFICATION_DAYS: i64 = 7;

struct Health {
    database: &'static str,
    latency_ms: u128,
    backend: &'static str,
    version: &'static str,
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    today: Overview,
    success_rate: String,
    open_reviews: i64,
    books: i64,
    stale: Vec<DeviceRow>,
    open_tickets: usize,
    dead_notifications: i64,
    chart: String,
    health: Health,
    can_support: bool,
}

/// `GET /admin`.
pub async fn show(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(query): PageQuery<DoneQuery>,
) -> Result<Response, PageError> {
    let store = &state.store;
    let now = crate::unix_now();
    let started = Instant::now();
    let database = match store.ping().await {
        Ok(()) => "正常",
        Err(_) => "无法连接",
    };
    let latency_ms = started.elapsed().as_millis();
    let summary = store.summary().await?;
    let today_start = stats::day_start(now);
    let fortnight = Period {
        from: today_start - (CHART_DAYS - 1) * 86_400,
        to: today_start + 86_400,
    };
    let data = store
        .report_data(fortnight.from, fortnight.to, Bucket::Day)
        .await?;
    let today = stats::overview(
        &data,
        Period {
            from: today_start,
            to: fortnight.to,
        },
    );
    let recent = stats::daily(&data, fortnight);
    let labels: Vec<String> = recent
        .rows
        .iter()
        .map(|row| row[0].display().chars().skip(5).collect())
        .collect();
    let chart = charts::lines(
        "近14天发放与核销",
        &labels,
        &[
            Series {
                name: "发放(张)",
                values: recent.column(1),
            },
            Series {
                name: "核销(桶)",
                values: recent.column(2),
            },
        ],
    );
    let stale = device_rows(
        &store.devices().await?,
        &store.device_activity().await?,
        &store.users().await?,
        now,
    )
    .into_iter()
    .filter(|d| d.stale)
    .collect();
    let open_tickets = store.feedback_inbox(true).await?.len();
    let dead_notifications = store
        .dead_notifications(today_start - (NOTIFICATION_DAYS - 1) * 86_400)
        .await?;
    let page = DashboardPage {
        open_tickets,
        dead_notifications,
        chrome: admin.chrome("/admin", query.done.as_deref()),
        success_rate: Cell::Percent(today.success_rate).display(),
        today,
        open_reviews: summary.open_reviews,
        books: summary.books,
        stale,
        chart,
        health: Health {
            database,
            latency_ms,
            backend: match store.backend() {
                crate::config::Backend::Sqlite => "SQLite",
                crate::config::Backend::Postgres => "PostgreSQL",
            },
            version: env!("CARGO_PKG_VERSION"),
        },
        can_support: admin.user.spec.role != crate::store::models::Role::Statistician,
    };
    Ok(admin.send(&page))
}

//! The plant's statistics as pure functions over report rows (`store::reports`): issued, delivered
//! and unused units over time; usage by hour, weekday and month; by region, store, product and
//! package; 核销成功率 with reject reasons; anomaly rates; low-usage regions; the demand forecast;
//! deliveries and buckets by customer region and courier; and the staff leaderboard with its
//! 推广之星 rule. Every result is a [`Table`], so every figure on a page can be exported as it is
//! shown.
//!
//! Times are grouped by Beijing time (UTC+8, no daylight saving), and the store counts events
//! in Beijing hours or days, so periods are whole Beijing days. The period rules (default and
//! longest span, a leaderboard's month) live here too, so every page and export reads them alike;
//! pages only present the tables.

mod deliveries;
mod forecast;
mod staff;
#[cfg(test)]
mod tests;
mod usage;

use std::collections::BTreeMap;

use shuipiao_shared::ids::UserId;

use crate::local_time;
use crate::store::models::{Outlet, Package, Product, Region, Role, User};
use crate::store::reports::{BEIJING_OFFSET, Bucket, EventGroup, ReportData, ReportKind};
use crate::store::{Store, StoreResult};

pub use deliveries::{buckets_outstanding, courier_rounds, delivery_regions};
pub use forecast::{HORIZON_WEEKS, backtest_accuracy, forecast, forecast_span, forecast_weeks};
pub use staff::{STAR_RULE_BOUNDS, StaffExtras, Standing, StarRule, leaderboard, ratings, staff};
pub use usage::{
    Overview, by_hour, by_month, by_product, by_weekday, daily, outlets, overview, packages,
    refusal_label, regions, reject_reasons,
};

const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;
/// A region is "low usage" below this share of the average region.
const LOW_USAGE_SHARE: f64 = 0.7;
const WEEKDAYS: [&str; 7] = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];

/// One cell of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A count.
    Int(i64),
    /// A share in `0..=1`, shown as a percentage; `None` when there is nothing to divide by.
    Percent(Option<f64>),
}

impl Cell {
    /// How the cell reads on a page and in CSV.
    pub fn display(&self) -> String {
        match self {
            Cell::Text(text) => text.clone(),
            Cell::Int(n) => n.to_string(),
            Cell::Percent(Some(share)) => format!("{:.1}%", share * 100.0),
            Cell::Percent(None) => "—".into(),
        }
    }

    /// The number in the cell, for charts.
    pub fn number(&self) -> f64 {
        match self {
            Cell::Int(n) => *n as f64,
            Cell::Percent(share) => share.unwrap_or(0.0) * 100.0,
            Cell::Text(_) => 0.0,
        }
    }
}

/// A titled table of figures; the unit of display and export.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Stable key, used in export links and file names.
    pub key: &'static str,
    /// zh-CN title.
    pub title: &'static str,
    /// Column headings.
    pub columns: Vec<&'static str>,
    /// Rows of cells, one per column.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// The numbers of one column, for a chart.
    pub fn column(&self, index: usize) -> Vec<f64> {
        self.rows.iter().map(|row| row[index].number()).collect()
    }

    /// The first column's texts, for chart labels.
    pub fn labels(&self) -> Vec<String> {
        self.rows.iter().map(|row| row[0].display()).collect()
    }
}

fn share(part: i64, whole: i64) -> Cell {
    Cell::Percent((whole > 0).then(|| part as f64 / whole as f64))
}

/// A time span `[from, to)` in unix seconds, from the start of a Beijing day to the start of
/// another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// First second.
    pub from: i64,
    /// First second after.
    pub to: i64,
}

/// Default period of the statistics: the last 30 days.
const DEFAULT_DAYS: i64 = 30;
/// Longest period one page or export covers.
const MAX_DAYS: i64 = 366;

impl Period {
    fn contains(self, at: i64) -> bool {
        (self.from..self.to).contains(&at)
    }

    /// The days `from` to `to` (`YYYY-MM-DD`, both inclusive), the last 30 days up to today when
    /// empty; at most 366 days. The error is the zh-CN message.
    pub fn between(from: &str, to: &str, now: i64) -> Result<Period, &'static str> {
        let today_end = day_start(now) + DAY;
        let to = match to.trim() {
            "" => today_end,
            text => local_time::day_end(text).ok_or("结束日期格式应为 年-月-日")?,
        };
        let from = match from.trim() {
            "" => to - DEFAULT_DAYS * DAY,
            text => local_time::day_start(text).ok_or("开始日期格式应为 年-月-日")?,
        };
        if from >= to {
            return Err("开始日期应早于结束日期");
        }
        if to - from > MAX_DAYS * DAY {
            return Err("统计区间最长 366 天");
        }
        Ok(Period { from, to })
    }

    /// The month `month` (`YYYY-MM`, this month when empty) as written back and its period.
    pub fn month(month: &str, now: i64) -> Result<(String, Period), &'static str> {
        let month = match month.trim() {
            "" => local_time::date(now).chars().take(7).collect(),
            text => text.to_string(),
        };
        let (from, to) = local_time::month_span(&month).ok_or("月份格式应为 年-月,例如 2026-11")?;
        Ok((
            local_time::date(from).chars().take(7).collect(),
            Period { from, to },
        ))
    }
}

/// Days since 1970-01-01 in Beijing.
fn local_day(at: i64) -> i64 {
    (at + BEIJING_OFFSET).div_euclid(DAY)
}

/// The first second of the Beijing day containing `at`.
pub fn day_start(at: i64) -> i64 {
    local_day(at) * DAY - BEIJING_OFFSET
}

fn hour(at: i64) -> usize {
    ((at + BEIJING_OFFSET).rem_euclid(DAY) / 3_600) as usize
}

/// Monday = 0 (1970-01-01 was a Thursday).
fn weekday(at: i64) -> usize {
    (local_day(at) + 3).rem_euclid(7) as usize
}

fn month(at: i64) -> String {
    crate::local_time::date(at).chars().take(7).collect()
}

/// Names of everything a table mentions.
#[derive(Debug, Clone, Default)]
pub struct Names {
    products: BTreeMap<u16, String>,
    regions: BTreeMap<i64, String>,
    outlets: BTreeMap<i64, String>,
    packages: BTreeMap<i64, String>,
    staff: BTreeMap<UserId, User>,
}

impl Names {
    /// Names from the catalogue and the users.
    pub fn new(
        products: &[Product],
        regions: &[Region],
        outlets: &[Outlet],
        packages: &[Package],
        users: &[User],
    ) -> Names {
        Names {
            products: products
                .iter()
                .map(|p| (p.code.0, p.name.clone()))
                .collect(),
            regions: regions.iter().map(|r| (r.id, r.name.clone())).collect(),
            outlets: outlets.iter().map(|o| (o.id, o.name.clone())).collect(),
            packages: packages
                .iter()
                .map(|p| (p.id, p.spec.name.clone()))
                .collect(),
            staff: users
                .iter()
                .filter(|u| matches!(u.spec.role, Role::Courier | Role::StoreStaff))
                .map(|u| (u.id, u.clone()))
                .collect(),
        }
    }

    fn product(&self, code: u16) -> String {
        self.products
            .get(&code)
            .cloned()
            .unwrap_or_else(|| format!("产品 {code}"))
    }

    fn region(&self, id: Option<i64>) -> String {
        id.and_then(|id| self.regions.get(&id).cloned())
            .unwrap_or_else(|| "未分区".into())
    }
}

/// The groups of redemptions with bottles that still stand (not undone by their device), with
/// their product.
fn deliveries(data: &ReportData) -> impl Iterator<Item = (&EventGroup, u16)> {
    data.events.iter().filter_map(|e| match e.kind {
        ReportKind::Redemption { product } if e.bottles > 0 => Some((e, product)),
        _ => None,
    })
}

/// Events of `data` in `period` whose kind `matches`.
fn count_events(data: &ReportData, period: Period, matches: fn(&ReportKind) -> bool) -> i64 {
    data.events
        .iter()
        .filter(|e| period.contains(e.at) && matches(&e.kind))
        .map(|e| e.events)
        .sum()
}

/// Delivered bottles, scans, success rate and anomalies per group of events.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    bottles: i64,
    accepted: i64,
    refused: i64,
    anomalies: i64,
}

impl Tally {
    fn cells(self) -> [Cell; 6] {
        [
            Cell::Int(self.bottles),
            Cell::Int(self.accepted),
            Cell::Int(self.refused),
            share(self.accepted, self.accepted + self.refused),
            Cell::Int(self.anomalies),
            share(self.anomalies, self.accepted),
        ]
    }
}

const TALLY_COLUMNS: [&str; 6] = [
    "核销(桶)",
    "核销次数",
    "拒绝次数",
    "核销成功率",
    "异常",
    "异常率",
];

fn tally_by<K: Ord>(
    data: &ReportData,
    period: Period,
    key: impl Fn(&EventGroup) -> Option<K>,
) -> BTreeMap<K, Tally> {
    let mut tallies: BTreeMap<K, Tally> = BTreeMap::new();
    for event in data.events.iter().filter(|e| period.contains(e.at)) {
        let Some(k) = key(event) else { continue };
        let tally = tallies.entry(k).or_default();
        match event.kind {
            ReportKind::Redemption { .. } => {
                tally.accepted += event.events;
                tally.bottles += event.bottles;
                tally.anomalies += event.anomalies;
            }
            ReportKind::Refused(_) => tally.refused += event.events,
            ReportKind::Void => {}
        }
    }
    tallies
}

/// The names of the catalogue and the staff, as the tables print them.
async fn names(store: &Store) -> StoreResult<Names> {
    Ok(Names::new(
        &store.products().await?,
        &store.regions().await?,
        &store.outlets().await?,
        &store.packages().await?,
        &store.users().await?,
    ))
}

/// What the statistics show for a period: its tables, in page order, and the report data (by
/// the hour) they were computed from.
pub struct Figures {
    /// The period's report data.
    pub data: ReportData,
    /// Every table.
    pub tables: Vec<Table>,
}

/// Every table of the statistics of `period`, with the demand forecast as of `now`.
pub async fn figures(store: &Store, period: Period, now: i64) -> StoreResult<Figures> {
    let names = names(store).await?;
    let data = store
        .report_data(period.from, period.to, Bucket::Hour)
        .await?;
    let (span, bucket) = forecast_span(now);
    let history = store.report_data(span.from, span.to, bucket).await?;
    let rounds = store.delivery_report(period.from, period.to).await?;
    let held = store.buckets_outstanding().await?;
    let tables = vec![
        daily(&data, period),
        by_hour(&data, period),
        by_weekday(&data, period),
        by_month(&data, period),
        regions(&data, period, &names),
        outlets(&data, period, &names),
        by_product(&data, period, &names),
        packages(&data, period, &names),
        reject_reasons(&data, period),
        staff(&data, period, &names),
        delivery_regions(&rounds, &names),
        courier_rounds(&rounds, &names),
        buckets_outstanding(&held, &names),
        forecast(&history, &names, now),
    ];
    Ok(Figures { data, tables })
}

/// The leaderboard of `period` under `rule` and its 推广之星: new customers guided are sign-ups
/// with the staff member's code, ratings come from customers' feedback.
pub async fn board(
    store: &Store,
    period: Period,
    rule: StarRule,
) -> StoreResult<(Table, Option<Standing>)> {
    let names = names(store).await?;
    let data = store
        .report_data(period.from, period.to, Bucket::Day)
        .await?;
    let extras = StaffExtras {
        guided: store
            .guided_customers(period.from, period.to)
            .await?
            .into_iter()
            .collect(),
        ratings: ratings(&store.feedback_inbox(false).await?, period),
    };
    Ok(leaderboard(&data, period, &names, &extras, rule))
}

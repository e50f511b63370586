//! Deliveries and scans of a period: headline figures, units over time, usage by hour, weekday
//! and month, by region, store, product and package, and refused scans by reason.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use shuipiao_shared::event::Refusal;

use super::{
    Cell, DAY, LOW_USAGE_SHARE, Names, Period, TALLY_COLUMNS, Table, WEEKDAYS, count_events,
    deliveries, hour, local_day, month, share, tally_by, weekday,
};
use crate::store::reports::{BEIJING_OFFSET, EventGroup, ReportData, ReportKind};

/// Headline figures of a period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overview {
    /// Units issued (new books; reissues are not counted twice).
    pub issued: i64,
    /// Bottles delivered.
    pub delivered: i64,
    /// Unused units of live books now.
    pub unused_now: i64,
    /// Scans: accepted redemptions plus refused attempts.
    pub scans: i64,
    /// Accepted redemptions.
    pub accepted: i64,
    /// Accepted / scans.
    pub success_rate: Option<f64>,
    /// Redemptions that went to the review queue.
    pub anomalies: i64,
}

/// The headline figures of `period`.
pub fn overview(data: &ReportData, period: Period) -> Overview {
    let accepted = count_events(data, period, |kind| {
        matches!(kind, ReportKind::Redemption { .. })
    });
    let refused = count_events(data, period, |kind| matches!(kind, ReportKind::Refused(_)));
    let scans = accepted + refused;
    Overview {
        issued: data
            .books
            .iter()
            .filter(|b| !b.reissue && period.contains(b.day))
            .map(|b| b.units)
            .sum(),
        delivered: deliveries(data)
            .filter(|(e, _)| period.contains(e.at))
            .map(|(e, _)| e.bottles)
            .sum(),
        unused_now: data.unused_now,
        scans,
        accepted,
        success_rate: (scans > 0).then(|| accepted as f64 / scans as f64),
        anomalies: data
            .events
            .iter()
            .filter(|e| period.contains(e.at))
            .map(|e| e.anomalies)
            .sum(),
    }
}

/// Issued, delivered and unused units per day of `period` (which starts no earlier than
/// `data`). Unused is all-time: units of books issued so far, less units taken back by
/// revocation, less bottles delivered.
pub fn daily(data: &ReportData, period: Period) -> Table {
    let first = local_day(period.from);
    let last = local_day(period.to - 1);
    let mut issued: BTreeMap<i64, i64> = BTreeMap::new();
    let mut balance: BTreeMap<i64, i64> = BTreeMap::new();
    let mut delivered: BTreeMap<i64, i64> = BTreeMap::new();
    for book in &data.books {
        let day = local_day(book.day);
        if !book.reissue {
            *issued.entry(day).or_default() += book.units;
        }
        *balance.entry(day).or_default() += book.units;
    }
    for revoked in &data.revoked {
        *balance.entry(local_day(revoked.day)).or_default() -= revoked.units;
    }
    for (event, _) in deliveries(data) {
        let day = local_day(event.at);
        *delivered.entry(day).or_default() += event.bottles;
        *balance.entry(day).or_default() -= event.bottles;
    }
    let mut unused: i64 = data.unused_before + balance.range(..first).map(|(_, n)| n).sum::<i64>();
    let rows = (first..=last)
        .map(|day| {
            unused += balance.get(&day).copied().unwrap_or(0);
            vec![
                Cell::Text(crate::local_time::date(day * DAY - BEIJING_OFFSET)),
                Cell::Int(issued.get(&day).copied().unwrap_or(0)),
                Cell::Int(delivered.get(&day).copied().unwrap_or(0)),
                Cell::Int(unused),
            ]
        })
        .collect();
    Table {
        key: "daily",
        title: "每日发放、核销与未用余量",
        columns: vec!["日期", "发放(张)", "核销(桶)", "未用余量(张)"],
        rows,
    }
}

/// Bottles delivered in `period`, grouped by `key` into the given buckets (in order).
fn bottles_by(
    data: &ReportData,
    period: Period,
    buckets: Vec<String>,
    key: impl Fn(&EventGroup) -> String,
) -> Vec<Vec<Cell>> {
    let mut counts: HashMap<String, i64> = HashMap::new();
    for (event, _) in deliveries(data) {
        if period.contains(event.at) {
            *counts.entry(key(event)).or_default() += event.bottles;
        }
    }
    let total: i64 = counts.values().sum();
    buckets
        .into_iter()
        .map(|bucket| {
            let n = counts.get(&bucket).copied().unwrap_or(0);
            vec![Cell::Text(bucket), Cell::Int(n), share(n, total)]
        })
        .collect()
}

/// Bottles delivered by hour of day.
pub fn by_hour(data: &ReportData, period: Period) -> Table {
    let buckets = (0..24).map(|h| format!("{h:02}时")).collect();
    Table {
        key: "hour",
        title: "按时段(小时)",
        columns: vec!["时段", "核销(桶)", "占比"],
        rows: bottles_by(data, period, buckets, |e| format!("{:02}时", hour(e.at))),
    }
}

/// Bottles delivered by weekday.
pub fn by_weekday(data: &ReportData, period: Period) -> Table {
    let buckets = WEEKDAYS.iter().map(|d| d.to_string()).collect();
    Table {
        key: "weekday",
        title: "按星期",
        columns: vec!["星期", "核销(桶)", "占比"],
        rows: bottles_by(data, period, buckets, |e| {
            WEEKDAYS[weekday(e.at)].to_string()
        }),
    }
}

/// Bottles delivered by month (the season).
pub fn by_month(data: &ReportData, period: Period) -> Table {
    let months: BTreeSet<String> = (local_day(period.from)..=local_day(period.to - 1))
        .map(|day| month(day * DAY - BEIJING_OFFSET))
        .collect();
    Table {
        key: "month",
        title: "按月份(季节)",
        columns: vec!["月份", "核销(桶)", "占比"],
        rows: bottles_by(data, period, months.into_iter().collect(), |e| month(e.at)),
    }
}

/// Units issued and bottles delivered per product.
pub fn by_product(data: &ReportData, period: Period, names: &Names) -> Table {
    let mut issued: BTreeMap<u16, i64> = names.products.keys().map(|&c| (c, 0)).collect();
    let mut delivered = issued.clone();
    for book in data
        .books
        .iter()
        .filter(|b| !b.reissue && period.contains(b.day))
    {
        *issued.entry(book.product).or_default() += book.units;
    }
    for (event, product) in deliveries(data) {
        if period.contains(event.at) {
            *delivered.entry(product).or_default() += event.bottles;
        }
    }
    let rows = issued
        .iter()
        .map(|(&code, &n)| {
            let used = delivered.get(&code).copied().unwrap_or(0);
            vec![
                Cell::Text(names.product(code)),
                Cell::Int(n),
                Cell::Int(used),
            ]
        })
        .collect();
    Table {
        key: "product",
        title: "按产品",
        columns: vec!["产品", "发放(张)", "核销(桶)"],
        rows,
    }
}

/// Which packages sell: books and units issued in `period` per package.
pub fn packages(data: &ReportData, period: Period, names: &Names) -> Table {
    let mut per: BTreeMap<Option<i64>, (i64, i64)> = names
        .packages
        .keys()
        .map(|&id| (Some(id), (0, 0)))
        .collect();
    for book in data
        .books
        .iter()
        .filter(|b| !b.reissue && period.contains(b.day))
    {
        let entry = per.entry(book.package_id).or_default();
        entry.0 += book.books;
        entry.1 += book.units;
    }
    let total: i64 = per.values().map(|(_, units)| units).sum();
    let rows = per
        .iter()
        .map(|(id, &(books, units))| {
            let name = match id {
                Some(id) => names
                    .packages
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| format!("套餐 {id}")),
                None => "赠送及其他".into(),
            };
            vec![
                Cell::Text(name),
                Cell::Int(books),
                Cell::Int(units),
                share(units, total),
            ]
        })
        .collect();
    Table {
        key: "package",
        title: "套餐偏好",
        columns: vec!["套餐", "水票册", "发放(张)", "占比"],
        rows,
    }
}

/// Per region: bottles, 核销成功率, anomaly rate, and whether usage is low against the average
/// region.
pub fn regions(data: &ReportData, period: Period, names: &Names) -> Table {
    let mut tallies = tally_by(data, period, |e| Some(e.region_id));
    for &id in names.regions.keys() {
        tallies.entry(Some(id)).or_default();
    }
    let known: Vec<i64> = tallies
        .iter()
        .filter(|(id, _)| id.is_some())
        .map(|(_, t)| t.bottles)
        .collect();
    let average = known.iter().sum::<i64>() as f64 / known.len().max(1) as f64;
    let rows = tallies
        .iter()
        .map(|(id, tally)| {
            let relative = (average > 0.0).then(|| tally.bottles as f64 / average);
            let low = id.is_some() && relative.is_some_and(|r| r < LOW_USAGE_SHARE);
            let mut row = vec![Cell::Text(names.region(*id))];
            row.extend(tally.cells());
            row.push(Cell::Percent(relative));
            row.push(Cell::Text(if low { "偏低" } else { "" }.into()));
            row
        })
        .collect();
    let mut columns = vec!["区域"];
    columns.extend(TALLY_COLUMNS);
    columns.extend(["相对区域平均", "使用率"]);
    Table {
        key: "region",
        title: "按区域:核销、成功率、异常率与低使用率",
        columns,
        rows,
    }
}

/// Bottles redeemed at each store's counter.
pub fn outlets(data: &ReportData, period: Period, names: &Names) -> Table {
    let mut tallies = tally_by(data, period, |e| e.outlet_id);
    for &id in names.outlets.keys() {
        tallies.entry(id).or_default();
    }
    let rows = tallies
        .iter()
        .map(|(id, tally)| {
            let name = names
                .outlets
                .get(id)
                .cloned()
                .unwrap_or_else(|| format!("门店 {id}"));
            let mut row = vec![Cell::Text(name)];
            row.extend(tally.cells());
            row
        })
        .collect();
    let mut columns = vec!["门店"];
    columns.extend(TALLY_COLUMNS);
    Table {
        key: "outlet",
        title: "按门店(柜台核销)",
        columns,
        rows,
    }
}

/// zh-CN text of why a scan was refused.
pub fn refusal_label(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::AlreadyUsed => "已使用",
        Refusal::Rejected(reason) => reason.message(),
    }
}

/// Refused scans by reason.
pub fn reject_reasons(data: &ReportData, period: Period) -> Table {
    let mut counts: BTreeMap<&'static str, i64> = BTreeMap::new();
    for event in data.events.iter().filter(|e| period.contains(e.at)) {
        if let ReportKind::Refused(refusal) = event.kind {
            *counts.entry(refusal_label(refusal)).or_default() += event.events;
        }
    }
    let total: i64 = counts.values().sum();
    let mut rows: Vec<(&str, i64)> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    Table {
        key: "reasons",
        title: "拒绝原因",
        columns: vec!["原因", "次数", "占比"],
        rows: rows
            .into_iter()
            .map(|(label, n)| vec![Cell::Text(label.into()), Cell::Int(n), share(n, total)])
            .collect(),
    }
}

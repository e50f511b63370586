//! The demand forecast: expected bottles per product and region for the next weeks, with each
//! series' past accuracy.

use std::collections::BTreeMap;

use super::{Cell, Names, Period, Table, WEEK, day_start, deliveries};
use crate::store::reports::{Bucket, ReportData};

/// Weeks forecast ahead.
pub const HORIZON_WEEKS: usize = 4;

/// Forecast of the next [`HORIZON_WEEKS`] weeks from weekly history (oldest first): the same
/// weeks a year earlier scaled by this year's trend when a year of history exists (seasonal
/// baseline), else the average of the last four weeks.
pub fn forecast_weeks(history: &[f64]) -> [f64; HORIZON_WEEKS] {
    let n = history.len();
    let recent = &history[n.saturating_sub(4)..];
    let recent_mean = recent.iter().sum::<f64>() / recent.len().max(1) as f64;
    let mut out = [recent_mean; HORIZON_WEEKS];
    if n >= 52 + 4 {
        let year_ago = &history[n - 52 - 4..n - 52];
        let base = year_ago.iter().sum::<f64>() / 4.0;
        let trend = if base > 0.0 { recent_mean / base } else { 1.0 };
        for (h, slot) in out.iter_mut().enumerate() {
            *slot = history[n - 52 + h] * trend;
        }
    }
    out
}

/// Past accuracy of [`forecast_weeks`]: each of the last four weeks forecast one week ahead from
/// the weeks before it, scored as 1 − (Σ|forecast − actual| / Σ actual), floored at 0. `None`
/// with fewer than eight weeks of history or no deliveries to compare with.
pub fn backtest_accuracy(history: &[f64]) -> Option<f64> {
    let n = history.len();
    if n < 8 {
        return None;
    }
    let (mut error, mut actual) = (0.0, 0.0);
    for i in n - 4..n {
        error += (forecast_weeks(&history[..i])[0] - history[i]).abs();
        actual += history[i];
    }
    (actual > 0.0).then(|| (1.0 - error / actual).max(0.0))
}

/// The weeks of history the forecast reads: two years and the four weeks it scores itself on.
const FORECAST_HISTORY_WEEKS: i64 = 2 * 52 + 4;

/// The span and bucket of the report data [`forecast`] needs for `now`.
pub fn forecast_span(now: i64) -> (Period, Bucket) {
    let end = day_start(now);
    let from = end - FORECAST_HISTORY_WEEKS * WEEK;
    (Period { from, to: end }, Bucket::Day)
}

/// Expected bottles per product and region for the next four weeks, from complete weeks of
/// redemptions before `now`'s day (in `data` of [`forecast_span`]), with each series' past
/// accuracy.
pub fn forecast(data: &ReportData, names: &Names, now: i64) -> Table {
    let end = day_start(now);
    let first = deliveries(data).map(|(e, _)| e.at).min();
    let weeks = first.map_or(0, |first| ((end - first).max(0) + WEEK - 1) / WEEK);
    let weeks = weeks.min(FORECAST_HISTORY_WEEKS) as usize;
    let mut series: BTreeMap<(u16, Option<i64>), Vec<f64>> = BTreeMap::new();
    for (event, product) in deliveries(data) {
        let age = end - event.at;
        if age <= 0 {
            continue;
        }
        let back = ((age - 1) / WEEK) as usize;
        if back >= weeks {
            continue;
        }
        let history = series
            .entry((product, event.region_id))
            .or_insert_with(|| vec![0.0; weeks]);
        history[weeks - 1 - back] += event.bottles as f64;
    }
    let rows = series
        .iter()
        .map(|((product, region), history)| {
            let ahead = forecast_weeks(history);
            let mut row = vec![
                Cell::Text(names.product(*product)),
                Cell::Text(names.region(*region)),
            ];
            row.extend(ahead.iter().map(|n| Cell::Int(n.round() as i64)));
            row.push(Cell::Int(ahead.iter().sum::<f64>().round() as i64));
            row.push(Cell::Percent(backtest_accuracy(history)));
            row
        })
        .collect();
    Table {
        key: "forecast",
        title: "未来四周需求预测(桶)",
        columns: vec![
            "产品",
            "区域",
            "第1周",
            "第2周",
            "第3周",
            "第4周",
            "四周合计",
            "过去四周准确率",
        ],
        rows,
    }
}

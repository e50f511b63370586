//! The plant's statistics as pure functions over report rows (`store::reports`): issued, delivered
//! and unused units over time; usage by hour, weekday and month; by region, store, product and
//! package; 核销成功率 with reject reasons; anomaly rates; low-usage regions; the demand forecast;
//! and the staff leaderboard with its 推广之星 rule. Every result is a [`Table`], so every figure on
//! a page can be exported as it is shown.
//!
//! Times are grouped by Beijing time (UTC+8, no daylight saving), and the store counts events
//! in Beijing hours or days, so periods are whole Beijing days.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use shuipiao_shared::event::Refusal;
use shuipiao_shared::ids::UserId;

use crate::store::models::{Feedback, Outlet, Package, Product, Region, Role, User};
use crate::store::reports::{BEIJING_OFFSET, Bucket, EventGroup, ReportData, ReportKind};

const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;
/// Weeks forecast ahead.
pub const HORIZON_WEEKS: usize = 4;
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

impl Period {
    fn contains(self, at: i64) -> bool {
        (self.from..self.to).contains(&at)
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
pub(super) fn refusal_label(refusal: Refusal) -> &'static str {
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

fn staff_place(user: &User, names: &Names) -> String {
    match user.spec.outlet_id {
        Some(outlet) => names
            .outlets
            .get(&outlet)
            .cloned()
            .unwrap_or_else(|| format!("门店 {outlet}")),
        None => names.region(user.spec.region_id),
    }
}

/// Per courier and clerk: bottles, 核销成功率 and anomaly rate.
pub fn staff(data: &ReportData, period: Period, names: &Names) -> Table {
    let tallies = tally_by(data, period, |e| Some(e.staff_id));
    let rows = names
        .staff
        .values()
        .map(|user| {
            let tally = tallies.get(&user.id).copied().unwrap_or_default();
            let mut row = vec![
                Cell::Text(user.spec.username.clone()),
                Cell::Text(user.spec.role.label().into()),
                Cell::Text(staff_place(user, names)),
            ];
            row.extend(tally.cells());
            row
        })
        .collect();
    let mut columns = vec!["员工", "岗位", "区域/门店"];
    columns.extend(TALLY_COLUMNS);
    Table {
        key: "staff",
        title: "按员工:核销与异常率",
        columns,
        rows,
    }
}

/// How 推广之星 is chosen: points per bottle delivered and per new customer guided, a penalty
/// per anomaly, and a minimum of bottles to qualify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StarRule {
    /// Points per bottle delivered.
    pub per_bottle: i64,
    /// Points per new customer who signed up with the staff member's code.
    pub per_guided: i64,
    /// Points taken per redemption that went to review.
    pub per_anomaly: i64,
    /// Bottles needed to qualify.
    pub min_bottles: i64,
}

/// What a rule's numbers may be: enough for any real weighting, small enough that no score
/// overflows.
pub const STAR_RULE_BOUNDS: &str =
    "推广之星规则:各项分值应为 0–1000 的整数,最少核销桶数应为 0–1000000";

impl StarRule {
    /// Most points per bottle, per new customer or per anomaly.
    pub const MAX_POINTS: i64 = 1_000;
    /// Most bottles a rule may ask for.
    pub const MAX_MIN_BOTTLES: i64 = 1_000_000;

    /// A rule within [`STAR_RULE_BOUNDS`].
    pub fn new(
        per_bottle: i64,
        per_guided: i64,
        per_anomaly: i64,
        min_bottles: i64,
    ) -> Result<StarRule, &'static str> {
        let points = 0..=Self::MAX_POINTS;
        if ![per_bottle, per_guided, per_anomaly]
            .iter()
            .all(|n| points.contains(n))
            || !(0..=Self::MAX_MIN_BOTTLES).contains(&min_bottles)
        {
            return Err(STAR_RULE_BOUNDS);
        }
        Ok(StarRule {
            per_bottle,
            per_guided,
            per_anomaly,
            min_bottles,
        })
    }
}

impl Default for StarRule {
    fn default() -> StarRule {
        StarRule {
            per_bottle: 1,
            per_guided: 10,
            per_anomaly: 5,
            min_bottles: 1,
        }
    }
}

/// Delivery ratings (1–5 stars) per courier or clerk from customer feedback written in `period`.
pub fn ratings(feedback: &[Feedback], period: Period) -> HashMap<UserId, Vec<u8>> {
    let mut out: HashMap<UserId, Vec<u8>> = HashMap::new();
    for item in feedback.iter().filter(|f| period.contains(f.created_at)) {
        if let (Some(staff), Some(stars)) = (item.spec.staff_user_id, item.spec.rating) {
            out.entry(staff).or_default().push(stars);
        }
    }
    out
}

fn average(stars: Option<&Vec<u8>>) -> Cell {
    match stars {
        Some(stars) if !stars.is_empty() => {
            let sum: u32 = stars.iter().map(|&s| u32::from(s)).sum();
            Cell::Text(format!("{:.1}", f64::from(sum) / stars.len() as f64))
        }
        _ => Cell::Text("—".into()),
    }
}

/// One staff member's month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// Login name.
    pub username: String,
    /// Bottles delivered.
    pub bottles: i64,
    /// New customers guided.
    pub guided: i64,
    /// Redemptions that went to review.
    pub anomalies: i64,
    /// Score under the rule.
    pub score: i64,
    /// Meets the minimum.
    pub qualifies: bool,
}

/// What the leaderboard adds to the events: new customers per staff member (sign-ups with their
/// staff code) and customers' delivery ratings.
#[derive(Debug, Clone, Default)]
pub struct StaffExtras {
    /// New customers guided.
    pub guided: HashMap<UserId, i64>,
    /// Star ratings received.
    pub ratings: HashMap<UserId, Vec<u8>>,
}

/// The leaderboard of `period` (best first) and its 推广之星 (the best who qualifies).
pub fn leaderboard(
    data: &ReportData,
    period: Period,
    names: &Names,
    extras: &StaffExtras,
    rule: StarRule,
) -> (Table, Option<Standing>) {
    let guided = &extras.guided;
    let tallies = tally_by(data, period, |e| Some(e.staff_id));
    let mut standings: Vec<(Standing, &User)> = names
        .staff
        .values()
        .map(|user| {
            let tally = tallies.get(&user.id).copied().unwrap_or_default();
            let guided = guided.get(&user.id).copied().unwrap_or(0);
            // Saturating: the rule is bounded, but the counts come from the database.
            let score = tally
                .bottles
                .saturating_mul(rule.per_bottle)
                .saturating_add(guided.saturating_mul(rule.per_guided))
                .saturating_sub(tally.anomalies.saturating_mul(rule.per_anomaly));
            let standing = Standing {
                username: user.spec.username.clone(),
                bottles: tally.bottles,
                guided,
                anomalies: tally.anomalies,
                score,
                qualifies: tally.bottles >= rule.min_bottles,
            };
            (standing, user)
        })
        .collect();
    standings.sort_by(|(a, _), (b, _)| {
        b.score
            .cmp(&a.score)
            .then(b.bottles.cmp(&a.bottles))
            .then(a.username.cmp(&b.username))
    });
    let star = standings
        .iter()
        .map(|(s, _)| s)
        .find(|s| s.qualifies)
        .cloned();
    let rows = standings
        .iter()
        .enumerate()
        .map(|(rank, (s, user))| {
            let is_star = star
                .as_ref()
                .is_some_and(|star| star.username == s.username);
            vec![
                Cell::Int(rank as i64 + 1),
                Cell::Text(s.username.clone()),
                Cell::Text(user.spec.role.label().into()),
                Cell::Text(staff_place(user, names)),
                Cell::Int(s.bottles),
                Cell::Int(s.guided),
                Cell::Int(s.anomalies),
                average(extras.ratings.get(&user.id)),
                Cell::Int(s.score),
                Cell::Text(if is_star { "推广之星" } else { "" }.into()),
            ]
        })
        .collect();
    let table = Table {
        key: "leaderboard",
        title: "月度排行榜",
        columns: vec![
            "名次",
            "员工",
            "岗位",
            "区域/门店",
            "核销(桶)",
            "引导新客户",
            "异常",
            "平均评分",
            "得分",
            "荣誉",
        ],
        rows,
    };
    (table, star)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::models::NewUser;
    use crate::store::reports::{BookGroup, RevokedDay};
    use shuipiao_shared::ids::ProductCode;
    use shuipiao_shared::verdict::RejectReason;

    /// Monday 2026-11-23 00:00 in Beijing.
    const MONDAY: i64 = 1_795_708_800 - 4 * DAY;

    /// A group of one event, in its hour.
    fn event(at: i64, kind: ReportKind, bottles: i64, staff: u64, region: i64) -> EventGroup {
        EventGroup {
            at: at - at.rem_euclid(3_600),
            kind,
            staff_id: UserId(staff),
            region_id: Some(region),
            outlet_id: None,
            events: 1,
            bottles,
            anomalies: 0,
        }
    }

    fn redeem(product: u16) -> ReportKind {
        ReportKind::Redemption { product }
    }

    fn courier(id: u64, name: &str, region: i64) -> User {
        User {
            id: UserId(id),
            spec: NewUser {
                username: name.into(),
                password_hash: String::new(),
                role: Role::Courier,
                account_id: None,
                region_id: Some(region),
                outlet_id: None,
            },
            disabled_at: None,
            phone_sealed: None,
        }
    }

    /// Two regions, two couriers; four redemptions (one of 3 bottles voided, one flagged), two
    /// refusals. Books: 11 (3 used) and 10 (1 used, revoked on Tuesday) issued the Sunday
    /// before, 9 reissued on Tuesday.
    fn fixture() -> (ReportData, Names) {
        let mut flagged = event(MONDAY + DAY + 20 * 3_600, redeem(189), 1, 2, 20);
        flagged.anomalies = 1;
        let events = vec![
            event(MONDAY + 9 * 3_600, redeem(189), 2, 1, 10),
            event(MONDAY + 9 * 3_600 + 60, redeem(113), 1, 1, 10),
            flagged,
            event(MONDAY + DAY + 21 * 3_600, redeem(189), 0, 2, 20),
            event(MONDAY + DAY + 21 * 3_600 + 30, ReportKind::Void, 0, 2, 20),
            event(
                MONDAY + 2 * DAY,
                ReportKind::Refused(Refusal::Rejected(RejectReason::Expired)),
                0,
                1,
                10,
            ),
            event(
                MONDAY + 2 * DAY + 5,
                ReportKind::Refused(Refusal::AlreadyUsed),
                0,
                2,
                20,
            ),
        ];
        let books = |day: i64, reissue: bool, books: i64, units: i64| BookGroup {
            day,
            product: 189,
            package_id: Some(1),
            reissue,
            books,
            units,
        };
        let data = ReportData {
            from: MONDAY - WEEK,
            events,
            books: vec![
                books(MONDAY - DAY, false, 2, 21),
                books(MONDAY + DAY, true, 1, 9),
            ],
            revoked: vec![RevokedDay {
                day: MONDAY + DAY,
                units: 10 - 1,
            }],
            unused_before: 0,
            // Book 1 has 11 − 3, book 3 has 9.
            unused_now: 17,
        };
        let products = [189u16, 113].map(|code| Product {
            code: ProductCode(code),
            name: format!("{code}"),
            volume_ml: 0,
        });
        let regions = [(10, "武汉"), (20, "襄阳"), (30, "宜昌")].map(|(id, name)| Region {
            id,
            name: name.into(),
        });
        let names = Names::new(
            &products,
            &regions,
            &[],
            &[],
            &[courier(1, "courier11", 10), courier(2, "courier21", 20)],
        );
        (data, names)
    }

    const WEEK_PERIOD: Period = Period {
        from: MONDAY,
        to: MONDAY + WEEK,
    };

    fn ints(table: &Table, column: usize) -> Vec<i64> {
        table.column(column).into_iter().map(|n| n as i64).collect()
    }

    #[test]
    fn beijing_calendar() {
        assert_eq!(weekday(MONDAY), 0);
        assert_eq!(weekday(MONDAY - 1), 6);
        assert_eq!(hour(MONDAY + 9 * 3_600), 9);
        assert_eq!(crate::local_time::date(MONDAY), "2026-11-23");
        assert_eq!(day_start(MONDAY + 5), MONDAY);
    }

    #[test]
    fn overview_counts_scans_and_skips_voided_bottles() {
        let (data, _) = fixture();
        let o = overview(&data, WEEK_PERIOD);
        // 4 redemptions + 2 refusals; 2 + 1 + 1 bottles (the 3 were voided).
        assert_eq!((o.accepted, o.scans, o.delivered), (4, 6, 4));
        assert_eq!(o.success_rate, Some(4.0 / 6.0));
        assert_eq!(o.anomalies, 1);
        // Books issued in the week: only the reissue, which does not count as new.
        assert_eq!(o.issued, 0);
    }

    #[test]
    fn daily_unused_follows_issue_revocation_and_delivery() {
        let (data, _) = fixture();
        let period = Period {
            from: MONDAY - DAY,
            to: MONDAY + 2 * DAY,
        };
        let table = daily(&data, period);
        assert_eq!(ints(&table, 1), vec![21, 0, 0]);
        assert_eq!(ints(&table, 2), vec![0, 3, 1]);
        // 21 issued; −3 delivered Monday; Tuesday −(10 − 1) revoked +9 reissued −1 delivered.
        assert_eq!(ints(&table, 3), vec![21, 18, 17]);
    }

    #[test]
    fn daily_unused_starts_from_before_the_data() {
        let (mut data, _) = fixture();
        data.unused_before = 5;
        let period = Period {
            from: MONDAY + DAY,
            to: MONDAY + 2 * DAY,
        };
        // 5 before the data, 21 issued on Sunday, 3 delivered on Monday; Tuesday as above.
        assert_eq!(ints(&daily(&data, period), 3), vec![5 + 21 - 3 - 1]);
    }

    #[test]
    fn usage_by_hour_weekday_and_month() {
        let (data, _) = fixture();
        let hours = by_hour(&data, WEEK_PERIOD);
        assert_eq!(hours.rows.len(), 24);
        assert_eq!(ints(&hours, 1)[9], 3);
        assert_eq!(ints(&hours, 1)[20], 1);
        assert_eq!(ints(&hours, 1).iter().sum::<i64>(), 4);
        let days = by_weekday(&data, WEEK_PERIOD);
        assert_eq!(ints(&days, 1), vec![3, 1, 0, 0, 0, 0, 0]);
        assert_eq!(days.rows[0][2], Cell::Percent(Some(0.75)));
        let months = by_month(&data, WEEK_PERIOD);
        assert_eq!(months.labels(), vec!["2026-11"]);
        assert_eq!(ints(&months, 1), vec![4]);
    }

    #[test]
    fn regions_show_success_anomalies_and_low_usage() {
        let (data, names) = fixture();
        let table = regions(&data, WEEK_PERIOD, &names);
        assert_eq!(table.labels(), vec!["武汉", "襄阳", "宜昌"]);
        // 武汉: 3 bottles, 2 accepted, 1 refused; 襄阳: 1 bottle, 2 accepted (one flagged), 1 refused.
        assert_eq!(ints(&table, 1), vec![3, 1, 0]);
        assert_eq!(ints(&table, 2), vec![2, 2, 0]);
        assert_eq!(ints(&table, 3), vec![1, 1, 0]);
        assert_eq!(table.rows[0][4], Cell::Percent(Some(2.0 / 3.0)));
        assert_eq!(table.rows[1][6], Cell::Percent(Some(0.5)));
        // Average region: 4 / 3 bottles; 襄阳 at 75% is not low, 宜昌 at 0% is.
        assert_eq!(table.rows[1][7], Cell::Percent(Some(0.75)));
        assert_eq!(table.rows[1][8], Cell::Text(String::new()));
        assert_eq!(table.rows[2][8], Cell::Text("偏低".into()));
    }

    #[test]
    fn products_packages_and_reasons() {
        let (data, names) = fixture();
        let table = by_product(&data, WEEK_PERIOD, &names);
        assert_eq!(ints(&table, 2), vec![1, 3], "113: 1, 189: 2 + 1");
        let reasons = reject_reasons(&data, WEEK_PERIOD);
        assert_eq!(reasons.labels(), vec!["已使用", "已过期"]);
        let earlier = Period {
            from: MONDAY - WEEK,
            to: MONDAY,
        };
        let sold = packages(&data, earlier, &names);
        assert_eq!(ints(&sold, 1), vec![2]);
        assert_eq!(ints(&sold, 2), vec![21]);
    }

    #[test]
    fn leaderboard_applies_the_rule() {
        let (data, names) = fixture();
        let extras = StaffExtras {
            guided: HashMap::from([(UserId(2), 1)]),
            ratings: HashMap::from([(UserId(1), vec![5, 4])]),
        };
        let (table, star) = leaderboard(&data, WEEK_PERIOD, &names, &extras, StarRule::default());
        // courier11: 3 bottles → 3; courier21: 1 bottle + 10 guided − 5 anomaly → 6.
        assert_eq!(table.labels(), vec!["1", "2"]);
        assert_eq!(ints(&table, 8), vec![6, 3]);
        assert_eq!(table.rows[1][7], Cell::Text("4.5".into()));
        assert_eq!(table.rows[0][7], Cell::Text("—".into()));
        assert_eq!(star.unwrap().username, "courier21");
        let strict = StarRule {
            min_bottles: 2,
            ..StarRule::default()
        };
        let (_, star) = leaderboard(&data, WEEK_PERIOD, &names, &extras, strict);
        assert_eq!(star.unwrap().username, "courier11");
    }

    #[test]
    fn forecast_uses_the_season_when_a_year_is_known() {
        let flat = vec![10.0; 6];
        assert_eq!(forecast_weeks(&flat), [10.0; 4]);
        assert_eq!(backtest_accuracy(&flat), None, "too short to score");
        // Two years: each summer (weeks 20..30 of a year) doubles; this year runs 10% higher.
        let year = |scale: f64| -> Vec<f64> {
            (0..52)
                .map(|w| if (20..30).contains(&w) { 20.0 } else { 10.0 } * scale)
                .collect()
        };
        let mut history = year(1.0);
        history.extend(&year(1.1)[..18]);
        let ahead = forecast_weeks(&history);
        // Next weeks are 18..22 of the year: 10, 10, 20, 20 last year, times 1.1.
        let expected = [11.0, 11.0, 22.0, 22.0];
        for (got, want) in ahead.iter().zip(expected) {
            assert!((got - want).abs() < 1e-9, "{ahead:?}");
        }
        assert!(backtest_accuracy(&history).unwrap() > 0.999_999);
        let noisy = [
            10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 20.0, 10.0, 10.0, 10.0,
        ];
        // Forecasts for the last four weeks: 10, 12.5, 12.5, 12.5 against 20, 10, 10, 10.
        let accuracy = backtest_accuracy(&noisy).unwrap();
        assert!((accuracy - (1.0 - 17.5 / 50.0)).abs() < 1e-9, "{accuracy}");
    }

    #[test]
    fn forecast_table_per_product_and_region() {
        let (data, names) = fixture();
        let table = forecast(&data, &names, MONDAY + WEEK + 3_600);
        assert_eq!(table.rows.len(), 3, "189 in 武汉 and 襄阳, 113 in 武汉");
        // One week of history: the forecast is that week's deliveries.
        assert_eq!(table.rows[1][0], Cell::Text("189".into()));
        assert_eq!(table.rows[1][1], Cell::Text("武汉".into()));
        assert_eq!(ints(&table, 2)[1], 2);
        assert_eq!(ints(&table, 6)[1], 8);
        assert_eq!(table.rows[1][7], Cell::Percent(None));
    }
}

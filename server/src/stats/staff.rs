//! Couriers' and clerks' figures: the staff table, their customers' ratings, and the monthly
//! leaderboard with its configurable 推广之星 rule.

use std::collections::HashMap;

use shuipiao_shared::ids::UserId;

use super::{Cell, Names, Period, TALLY_COLUMNS, Table, tally_by};
use crate::store::models::{Feedback, User};
use crate::store::reports::ReportData;

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

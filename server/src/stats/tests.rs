//! The statistics over one fixture: a season of events in two regions with couriers and a store.

use std::collections::HashMap;

use shuipiao_shared::event::Refusal;
use shuipiao_shared::ids::{ProductCode, UserId};
use shuipiao_shared::verdict::RejectReason;

use super::*;
use crate::store::models::NewUser;
use crate::store::reports::{BookGroup, RevokedDay};

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
        deposit_fen: 0,
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

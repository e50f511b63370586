//! Statistics and staff performance pages: the figures of a chosen period as charts and tables,
//! each table downloadable as CSV or XLSX exactly as shown; the monthly staff leaderboard with
//! its configurable 推广之星 rule.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use crate::http::AppState;
use crate::http::error::ApiError;
use crate::local_time;
use crate::stats::{self, Cell, Figures, Overview, Period, Standing, StarRule, Table};
use crate::web::admin::charts::{self, Series};
use crate::web::admin::export::{self, FileFormat};
use crate::web::admin::{Admin, Chrome};
use crate::web::{PageError, PageQuery};

/// The period form as typed.
#[derive(Debug, Default, Deserialize)]
pub struct PeriodQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    table: String,
    #[serde(default)]
    format: String,
}

struct Chart {
    title: &'static str,
    svg: String,
}

fn column_chart(table: &Table, column: usize) -> Chart {
    Chart {
        title: table.title,
        svg: charts::columns(table.title, &table.labels(), &table.column(column)),
    }
}

/// The charts of the page, drawn from its tables.
fn charts_of(tables: &[Table]) -> Vec<Chart> {
    let find = |key: &str| tables.iter().find(|t| t.key == key);
    let mut out = Vec::new();
    if let Some(daily) = find("daily") {
        let labels: Vec<String> = daily
            .labels()
            .into_iter()
            .map(|date| date.chars().skip(5).collect())
            .collect();
        out.push(Chart {
            title: "每日发放与核销",
            svg: charts::lines(
                "每日发放与核销",
                &labels,
                &[
                    Series {
                        name: "发放(张)",
                        values: daily.column(1),
                    },
                    Series {
                        name: "核销(桶)",
                        values: daily.column(2),
                    },
                ],
            ),
        });
        out.push(Chart {
            title: "未用余量",
            svg: charts::lines(
                "未用余量",
                &labels,
                &[Series {
                    name: "未用余量(张)",
                    values: daily.column(3),
                }],
            ),
        });
    }
    for key in ["hour", "weekday", "month", "region", "product", "package"] {
        if let Some(table) = find(key) {
            let column = if key == "product" || key == "package" {
                2
            } else {
                1
            };
            out.push(column_chart(table, column));
        }
    }
    if let Some(forecast) = find("forecast") {
        let weeks: Vec<String> = forecast.columns[2..6]
            .iter()
            .map(|c| c.to_string())
            .collect();
        let totals: Vec<f64> = (2..6)
            .map(|col| forecast.column(col).iter().sum())
            .collect();
        out.push(Chart {
            title: "未来四周需求预测(全部产品与区域,桶)",
            svg: charts::columns("未来四周需求预测", &weeks, &totals),
        });
    }
    out
}

struct TableView {
    table: Table,
    cells: Vec<Vec<String>>,
}

impl TableView {
    fn of(table: Table) -> TableView {
        let cells = table
            .rows
            .iter()
            .map(|row| row.iter().map(Cell::display).collect())
            .collect();
        TableView { table, cells }
    }
}

#[derive(Template)]
#[template(path = "admin/stats.html")]
struct StatsPage {
    chrome: Chrome,
    from: String,
    to: String,
    query: String,
    export_base: String,
    error: Option<&'static str>,
    overview: Overview,
    success_rate: String,
    charts: Vec<Chart>,
    tables: Vec<TableView>,
}

/// The period shown as the form's dates (the to-date inclusive).
fn period_text(period: Period) -> (String, String) {
    (
        local_time::date(period.from),
        local_time::date(period.to - 1),
    )
}

/// `GET /admin/stats?from=…&to=…`.
pub async fn show(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(query): PageQuery<PeriodQuery>,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let (period, error) = match Period::between(&query.from, &query.to, now) {
        Ok(period) => (period, None),
        // Empty fields ask for the last 30 days.
        Err(message) => (Period::between("", "", now)?, Some(message)),
    };
    let Figures { data, tables: all } = stats::figures(&state.store, period, now).await?;
    let overview = stats::overview(&data, period);
    let (from, to) = period_text(period);
    Ok(admin.send(&StatsPage {
        chrome: admin.chrome("/admin/stats", None),
        query: format!("from={from}&to={to}"),
        export_base: format!("/admin/stats/export?from={from}&to={to}"),
        from,
        to,
        error,
        success_rate: Cell::Percent(overview.success_rate).display(),
        overview,
        charts: charts_of(&all),
        tables: all.into_iter().map(TableView::of).collect(),
    }))
}

impl From<&'static str> for PageError {
    fn from(message: &'static str) -> PageError {
        ApiError::bad_request(message).into()
    }
}

fn file_format(text: &str) -> Result<FileFormat, PageError> {
    FileFormat::parse(text).ok_or_else(|| "导出格式应为 csv 或 xlsx".into())
}

fn send_file(name: &str, format: FileFormat, tables: &[Table]) -> Result<Response, PageError> {
    export::download(name, format, tables).map_err(|err| ApiError::internal(&err).into())
}

/// `GET /admin/stats/export?table=KEY|all&format=csv|xlsx&from=…&to=…`.
pub async fn export(
    State(state): State<AppState>,
    PageQuery(query): PageQuery<PeriodQuery>,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let period = Period::between(&query.from, &query.to, now)?;
    let format = file_format(&query.format)?;
    let all = stats::figures(&state.store, period, now).await?.tables;
    let (from, to) = period_text(period);
    let chosen: Vec<Table> = match query.table.as_str() {
        "all" => all,
        key => all.into_iter().filter(|t| t.key == key).collect::<Vec<_>>(),
    };
    if chosen.is_empty() {
        return Err("没有这个报表".into());
    }
    send_file(&format!("{}-{from}-{to}", query.table), format, &chosen)
}

/// The leaderboard form as typed: the month and the 推广之星 rule (every field text, so bad
/// input gets a message, not a rejection).
#[derive(Debug, Default, Deserialize)]
pub struct StaffQuery {
    #[serde(default)]
    month: String,
    #[serde(default)]
    per_bottle: String,
    #[serde(default)]
    per_guided: String,
    #[serde(default)]
    per_anomaly: String,
    #[serde(default)]
    min_bottles: String,
    #[serde(default)]
    format: String,
}

impl StaffQuery {
    /// The rule, the default's value for an empty field; [`StarRule::new`] bounds the numbers.
    fn rule(&self) -> Result<StarRule, &'static str> {
        let default = StarRule::default();
        let number = |text: &str, default: i64| match text.trim() {
            "" => Ok(default),
            text => text.parse().map_err(|_| stats::STAR_RULE_BOUNDS),
        };
        StarRule::new(
            number(&self.per_bottle, default.per_bottle)?,
            number(&self.per_guided, default.per_guided)?,
            number(&self.per_anomaly, default.per_anomaly)?,
            number(&self.min_bottles, default.min_bottles)?,
        )
    }

    fn query_string(&self, month: &str, rule: StarRule) -> String {
        format!(
            "month={month}&per_bottle={}&per_guided={}&per_anomaly={}&min_bottles={}",
            rule.per_bottle, rule.per_guided, rule.per_anomaly, rule.min_bottles
        )
    }
}

#[derive(Template)]
#[template(path = "admin/staff.html")]
struct StaffPage {
    chrome: Chrome,
    month: String,
    rule: StarRule,
    export_base: String,
    error: Option<&'static str>,
    star: Option<Standing>,
    chart: String,
    view: TableView,
}

/// `GET /admin/staff?month=…&per_bottle=…`.
pub async fn staff(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(query): PageQuery<StaffQuery>,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let (month, period, month_error) = match Period::month(&query.month, now) {
        Ok((month, period)) => (month, period, None),
        Err(message) => {
            // An empty field asks for the current month.
            let (month, period) = Period::month("", now)?;
            (month, period, Some(message))
        }
    };
    let (rule, rule_error) = match query.rule() {
        Ok(rule) => (rule, None),
        Err(message) => (StarRule::default(), Some(message)),
    };
    let error = month_error.or(rule_error);
    let (table, star) = stats::board(&state.store, period, rule).await?;
    let names: Vec<String> = table.rows.iter().map(|row| row[1].display()).collect();
    let chart = charts::columns("员工核销(桶)", &names, &table.column(4));
    Ok(admin.send(&StaffPage {
        chrome: admin.chrome("/admin/staff", None),
        export_base: format!("/admin/staff/export?{}", query.query_string(&month, rule)),
        month,
        rule,
        error,
        star,
        chart,
        view: TableView::of(table),
    }))
}

/// `GET /admin/staff/export?month=…&format=csv|xlsx`.
pub async fn staff_export(
    State(state): State<AppState>,
    PageQuery(query): PageQuery<StaffQuery>,
) -> Result<Response, PageError> {
    let (month, period) = Period::month(&query.month, crate::unix_now())?;
    let rule = query.rule()?;
    let format = file_format(&query.format)?;
    let (table, _) = stats::board(&state.store, period, rule).await?;
    send_file(&format!("leaderboard-{month}"), format, &[table])
}

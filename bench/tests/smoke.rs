//! Every suite with quick sizes, in-process and in a debug build, so the harness cannot rot:
//! each table has the rows its options call for, with figures above zero. Timing is never
//! asserted.

use shuipiao_bench::server::{PG_SKIPPED, PG_URL_VAR};
use shuipiao_bench::{Cell, Options, Suite, Table};

/// Runs `suite` quickly and checks it has `rows_per_backend` rows per backend (or per suite
/// when it has no backends) and figures above zero in `positive` columns.
fn check(suite: Suite, rows_per_backend: usize, backends: bool, positive: &[&str]) -> Table {
    let table = shuipiao_bench::run(suite, &Options::quick())
        .unwrap_or_else(|error| panic!("suite {} failed: {error:#}", suite.name()));
    let postgres = std::env::var_os(PG_URL_VAR).is_some();
    let expected = match (backends, postgres) {
        (false, _) => rows_per_backend,
        (true, true) => 2 * rows_per_backend,
        // PostgreSQL is one row saying why it was skipped.
        (true, false) => rows_per_backend + 1,
    };
    assert_eq!(table.rows.len(), expected, "unexpected rows in\n{table}");
    for row in &table.rows {
        if row.get(1) == Some(&Cell::text(PG_SKIPPED)) {
            assert!(!postgres, "PostgreSQL skipped although {PG_URL_VAR} is set");
            continue;
        }
        for column in positive {
            let idx = table
                .column(column)
                .unwrap_or_else(|| panic!("no column {column:?} in\n{table}"));
            let value = row.get(idx).and_then(Cell::value);
            assert!(
                value.is_some_and(|value| value > 0.0),
                "{column} is {value:?} in\n{table}"
            );
        }
    }
    table
}

#[test]
fn push_suite_fills_its_grid() {
    let options = Options::quick();
    let cells = options.push_devices.len() * options.push_batches.len();
    check(
        Suite::Push,
        cells,
        true,
        &["events", "events/s", "p50 ms", "p99 ms"],
    );
}

#[test]
fn pull_suite_pulls_every_book() {
    let options = Options::quick();
    let table = check(
        Suite::Pull,
        options.pull_limits.len(),
        true,
        &["passes", "rows", "rows/s", "page p50 ms"],
    );
    let rows = table.column("rows").expect("rows column");
    let passes = table.column("passes").expect("passes column");
    for row in table.rows.iter().filter(|row| row.len() > rows) {
        let (rows, passes) = (row[rows].value(), row[passes].value());
        assert_eq!(
            rows.zip(passes).map(|(rows, passes)| rows / passes),
            Some(f64::from(options.books)),
            "each pass pulls one status row per book:\n{table}"
        );
    }
}

#[test]
fn snapshot_suite_measures_every_size() {
    check(
        Suite::Snapshot,
        Options::quick().snapshot_books.len(),
        false,
        &[
            "flagged",
            "snapshot bytes",
            "delta changes",
            "delta bytes",
            "load ms",
            "peak RSS MiB",
        ],
    );
}

#[test]
fn frame_suite_accepts_every_frame() {
    let table = check(
        Suite::Frame,
        2,
        false,
        &[
            "accepted",
            "p50 ms",
            "decode p50 ms",
            "verdict p50 ms",
            "fsync p50 ms",
        ],
    );
    for row in &table.rows {
        assert_eq!(
            row[1], row[3],
            "every clean frame of a fresh ticket is accepted:\n{table}"
        );
    }
}

#[test]
fn verify_suite_compares_with_raw_verify_strict() {
    check(
        Suite::Verify,
        5,
        false,
        &["µs each", "per second", "vs raw"],
    );
}

#[test]
fn stats_suite_opens_every_page() {
    check(Suite::Stats, 4, true, &["events", "p50 ms"]);
}

//! Placeholder lists for statements over many rows at once (`IN (...)`, multi-row `VALUES`),
//! so a pushed batch costs a handful of round trips instead of several per event.

use sqlx::AnyConnection;

/// Most rows bound in one PostgreSQL statement; keeps parameter counts far below its limit.
const POSTGRES_ROWS: usize = 500;

/// Most parameters bound in one SQLite statement. SQLite resolves each named parameter (`$n`)
/// by scanning the statement's parameter list, so binding costs grow with the square of the
/// count: a 4,000-parameter insert spent more time naming parameters than writing rows.
const SQLITE_PARAMS: usize = 250;

/// How many rows of `params_per_row` parameters one statement on `conn` should carry.
pub(super) fn rows_per_statement(conn: &AnyConnection, params_per_row: usize) -> usize {
    if conn.backend_name().eq_ignore_ascii_case("sqlite") {
        (SQLITE_PARAMS / params_per_row.max(1)).max(1)
    } else {
        POSTGRES_ROWS
    }
}

/// `$from, $from+1, …` for `n` parameters.
pub(super) fn params(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|idx| format!("${idx}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($1, $2), ($3, $4), …` for `n_rows` rows of `n_cols` parameters.
pub(super) fn value_rows(n_rows: usize, n_cols: usize) -> String {
    (0..n_rows)
        .map(|row| format!("({})", params(1 + row * n_cols, n_cols)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(params(2, 3), "$2, $3, $4");
        assert_eq!(value_rows(2, 2), "($1, $2), ($3, $4)");
    }
}

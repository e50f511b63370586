//! Placeholder lists for statements over many rows at once (`IN (...)`, multi-row `VALUES`),
//! so a pushed batch costs a handful of round trips instead of several per event.

/// Most rows bound in one statement; keeps parameter counts far below both backends' limits.
pub(super) const CHUNK: usize = 500;

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

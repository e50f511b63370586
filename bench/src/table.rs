//! The table a suite prints: GitHub Markdown, so a run's output pastes straight into
//! `docs/performance.md`, with cells that keep their numbers for the smoke test.

use std::fmt;

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A label (backend, size) or a note such as a skipped backend.
    Text(String),
    /// A measured figure, shown with `decimals` digits.
    Figure {
        /// The value.
        value: f64,
        /// Digits after the point.
        decimals: usize,
    },
    /// A figure divided by its goal or baseline, shown as `0.42×`.
    Ratio(f64),
    /// Nothing to show (e.g. no goal for this row).
    Empty,
}

impl Cell {
    /// A label.
    pub fn text(text: impl Into<String>) -> Cell {
        Cell::Text(text.into())
    }

    /// A whole number.
    pub fn count(value: impl Into<f64>) -> Cell {
        Cell::Figure {
            value: value.into(),
            decimals: 0,
        }
    }

    /// A figure with `decimals` digits.
    pub fn figure(value: f64, decimals: usize) -> Cell {
        Cell::Figure { value, decimals }
    }

    /// The number in a figure or ratio cell.
    pub fn value(&self) -> Option<f64> {
        match self {
            Cell::Figure { value, .. } | Cell::Ratio(value) => Some(*value),
            Cell::Text(_) | Cell::Empty => None,
        }
    }

    fn is_numeric(&self) -> bool {
        self.value().is_some()
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Text(text) => f.write_str(text),
            Cell::Figure { value, decimals } => write!(f, "{value:.decimals$}"),
            Cell::Ratio(ratio) => write!(f, "{ratio:.2}×"),
            Cell::Empty => Ok(()),
        }
    }
}

/// A suite's result: a title, named columns, rows and notes.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// What was measured.
    pub title: String,
    /// Column names.
    pub columns: Vec<&'static str>,
    /// Rows; a row may be shorter than `columns` (a skipped backend).
    pub rows: Vec<Vec<Cell>>,
    /// Lines printed under the table: goals, how to read it.
    pub notes: Vec<String>,
}

impl Table {
    /// An empty table.
    pub fn new(title: impl Into<String>, columns: &[&'static str]) -> Table {
        Table {
            title: title.into(),
            columns: columns.to_vec(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Index of the column called `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|column| *column == name)
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rendered: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|row| row.iter().map(Cell::to_string).collect())
            .collect();
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(idx, name)| {
                rendered
                    .iter()
                    .filter_map(|row| row.get(idx))
                    .map(|text| text.chars().count())
                    .chain([name.chars().count(), 3])
                    .max()
                    .unwrap_or(3)
            })
            .collect();
        // A column is right-aligned when its first filled cell is a number.
        let numeric: Vec<bool> = (0..self.columns.len())
            .map(|idx| {
                self.rows
                    .iter()
                    .filter_map(|row| row.get(idx))
                    .find(|cell| **cell != Cell::Empty)
                    .is_some_and(Cell::is_numeric)
            })
            .collect();
        let line = |f: &mut fmt::Formatter<'_>, cells: &[String]| -> fmt::Result {
            f.write_str("|")?;
            for (idx, width) in widths.iter().enumerate() {
                let text = cells.get(idx).map_or("", String::as_str);
                let pad = width - text.chars().count();
                if numeric[idx] {
                    write!(f, " {}{text} |", " ".repeat(pad))?;
                } else {
                    write!(f, " {text}{} |", " ".repeat(pad))?;
                }
            }
            writeln!(f)
        };
        writeln!(f, "### {}", self.title)?;
        writeln!(f)?;
        let header: Vec<String> = self.columns.iter().map(|c| (*c).to_owned()).collect();
        line(f, &header)?;
        let rule: Vec<String> = widths
            .iter()
            .zip(&numeric)
            .map(|(width, numeric)| {
                if *numeric {
                    format!("{}:", "-".repeat(width - 1))
                } else {
                    "-".repeat(*width)
                }
            })
            .collect();
        line(f, &rule)?;
        for row in &rendered {
            line(f, row)?;
        }
        if !self.notes.is_empty() {
            writeln!(f)?;
            for note in &self.notes {
                writeln!(f, "{note}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_markdown_with_numbers_right_aligned() {
        let mut table = Table::new("t", &["backend", "events/s", "vs goal"]);
        table.rows.push(vec![
            Cell::text("sqlite"),
            Cell::count(1234.4),
            Cell::Ratio(0.5),
        ]);
        table
            .rows
            .push(vec![Cell::text("postgres"), Cell::text("skipped")]);
        assert_eq!(
            table.to_string(),
            "### t\n\n\
             | backend  | events/s | vs goal |\n\
             | -------- | -------: | ------: |\n\
             | sqlite   |     1234 |   0.50× |\n\
             | postgres |  skipped |         |\n"
        );
    }
}

//! Tables as downloads: CSV (UTF-8 with a byte-order mark, so Excel reads the Chinese) and XLSX
//! (one sheet per table, headings in bold, percentages as numbers formatted `0.0%`).

use axum::http::header;
use axum::response::{IntoResponse, Response};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use crate::stats::{Cell, Table};

/// A download format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Comma-separated values.
    Csv,
    /// Excel workbook.
    Xlsx,
}

impl FileFormat {
    /// Parses `csv` or `xlsx`.
    pub fn parse(text: &str) -> Option<FileFormat> {
        match text {
            "csv" => Some(FileFormat::Csv),
            "xlsx" => Some(FileFormat::Xlsx),
            _ => None,
        }
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The tables as CSV, one after another with a blank line between.
pub fn csv(tables: &[Table]) -> String {
    let mut out = String::from("\u{feff}");
    for (n, table) in tables.iter().enumerate() {
        if n > 0 {
            out.push_str("\r\n");
        }
        if tables.len() > 1 {
            out.push_str(&csv_field(table.title));
            out.push_str("\r\n");
        }
        let heading: Vec<String> = table.columns.iter().map(|c| csv_field(c)).collect();
        out.push_str(&heading.join(","));
        out.push_str("\r\n");
        for row in &table.rows {
            let cells: Vec<String> = row.iter().map(|c| csv_field(&c.display())).collect();
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
    }
    out
}

/// The tables as an XLSX workbook, one sheet per table named by its key.
pub fn xlsx(tables: &[Table]) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let percent = Format::new().set_num_format("0.0%");
    for table in tables {
        let sheet = workbook.add_worksheet();
        sheet.set_name(table.key)?;
        for (col, heading) in table.columns.iter().enumerate() {
            let col = col as u16;
            sheet.write_string_with_format(0, col, *heading, &bold)?;
            sheet.set_column_width(col, 14)?;
        }
        for (r, row) in table.rows.iter().enumerate() {
            let r = r as u32 + 1;
            for (col, cell) in row.iter().enumerate() {
                let col = col as u16;
                match cell {
                    Cell::Text(text) => sheet.write_string(r, col, text)?,
                    Cell::Int(n) => sheet.write_number(r, col, *n as f64)?,
                    Cell::Percent(Some(share)) => {
                        sheet.write_number_with_format(r, col, *share, &percent)?
                    }
                    Cell::Percent(None) => sheet.write_string(r, col, "—")?,
                };
            }
        }
    }
    workbook.save_to_buffer()
}

/// A download response of `tables` named `name.csv` or `name.xlsx`.
pub fn download(name: &str, format: FileFormat, tables: &[Table]) -> Result<Response, XlsxError> {
    let (content_type, body, extension) = match format {
        FileFormat::Csv => ("text/csv; charset=utf-8", csv(tables).into_bytes(), "csv"),
        FileFormat::Xlsx => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            xlsx(tables)?,
            "xlsx",
        ),
    };
    let disposition = format!("attachment; filename=\"shuipiao-{name}.{extension}\"");
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table {
            key: "demo",
            title: "示例",
            columns: vec!["名称", "数量", "占比"],
            rows: vec![vec![
                Cell::Text("a,\"b\"".into()),
                Cell::Int(3),
                Cell::Percent(Some(0.25)),
            ]],
        }
    }

    #[test]
    fn csv_quotes_and_marks_utf8() {
        let text = csv(&[table()]);
        assert_eq!(
            text,
            "\u{feff}名称,数量,占比\r\n\"a,\"\"b\"\"\",3,25.0%\r\n"
        );
    }

    #[test]
    fn xlsx_is_a_zip_workbook() {
        let bytes = xlsx(&[table()]).unwrap();
        assert_eq!(&bytes[..2], b"PK");
    }
}

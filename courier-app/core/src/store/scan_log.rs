//! The scan log: every scan that reached a verdict, with a digest of its text (never the text,
//! which is a bearer credential) and the outcome shown, which also drives the dedupe window.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::store::StoreError;

/// One logged scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanLogEntry {
    /// Device clock, unix milliseconds.
    pub at_ms: u64,
    /// `camera` or `scanner`.
    pub source: String,
    /// SHA-256 of the scanned text.
    pub text_digest: [u8; 32],
    /// `accepted`, `already_used` or `rejected`.
    pub verdict: String,
    /// Stable reject reason name, for refusals.
    pub reason: Option<String>,
    /// The book, if the code parsed.
    pub book_id: Option<u64>,
    /// The event written for the scan.
    pub event_id: Option<[u8; 16]>,
    /// The outcome shown, as JSON.
    pub outcome: String,
}

/// Appends a scan.
pub fn insert(tx: &Transaction<'_>, entry: &ScanLogEntry) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO scan_log (at_ms, source, text_digest, verdict, reason, book_id, event_id,
                               outcome)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            entry.at_ms as i64,
            entry.source,
            entry.text_digest.to_vec(),
            entry.verdict,
            entry.reason,
            entry.book_id.map(|b| b as i64),
            entry.event_id.map(|id| id.to_vec()),
            entry.outcome,
        ],
    )?;
    Ok(())
}

/// The latest scan of the text with this digest: `(at_ms, outcome JSON)`.
pub fn latest_for(
    conn: &Connection,
    text_digest: &[u8; 32],
) -> Result<Option<(u64, String)>, StoreError> {
    let row: Option<(i64, String)> = conn
        .query_row(
            "SELECT at_ms, outcome FROM scan_log WHERE text_digest = ?1
             ORDER BY id DESC LIMIT 1",
            params![text_digest.to_vec()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    Ok(row.map(|(at, outcome)| (at as u64, outcome)))
}

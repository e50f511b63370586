//! The scan log: every scan that reached a verdict, with a digest of its text (never the text,
//! which is a bearer credential) and the outcome shown, which also drives the dedupe window.
//!
//! The window slides: each repeated sighting of a code moves `last_seen_ms`, so a ticket held in
//! front of the camera for longer than the window is still one scan.

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
                               outcome, last_seen_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?1)",
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

/// The latest scan of a text, as the dedupe window sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastSighting {
    /// Row id, to record a repeated sighting.
    pub id: i64,
    /// When the code was last seen, unix milliseconds.
    pub last_seen_ms: u64,
    /// The outcome shown, as JSON.
    pub outcome: String,
}

/// The latest scan of the text with this digest.
pub fn latest_for(
    conn: &Connection,
    text_digest: &[u8; 32],
) -> Result<Option<LastSighting>, StoreError> {
    let row: Option<(i64, i64, String)> = conn
        .query_row(
            "SELECT id, last_seen_ms, outcome FROM scan_log WHERE text_digest = ?1
             ORDER BY id DESC LIMIT 1",
            params![text_digest.to_vec()],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()?;
    Ok(row.map(|(id, seen, outcome)| LastSighting {
        id,
        last_seen_ms: seen as u64,
        outcome,
    }))
}

/// Records that the code of scan `id` was seen again at `at_ms`.
pub fn seen_again(tx: &Transaction<'_>, id: i64, at_ms: u64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE scan_log SET last_seen_ms = ?2 WHERE id = ?1",
        params![id, at_ms as i64],
    )?;
    Ok(())
}

//! Loading a root-signed status snapshot (`shared::status`) into `book_status`: what a device
//! that is new or far behind does instead of pulling a row for each of a million books.
//!
//! A snapshot names the revoked and the used-up books as of a status sequence, without unit
//! counts. Loading it writes a row at that sequence for each named book (a used-up book with
//! every unit used), forgets held used-up rows it no longer names (a void put the book back into
//! use; the device then knows it as any unflagged book: no units used but its own unreflected
//! events) and moves the pull cursor to the sequence, all in the caller's transaction. Held
//! rows of active books stay: older than the snapshot, but it carries no partial use, so they
//! are the best the device has. Later pulled rows replace all of these.

use ed25519_dalek::VerifyingKey;
use rusqlite::{Transaction, params};
use shuipiao_shared::status::{StatusError, StatusSnapshot};

use crate::store::{StoreError, meta, status};

/// What loading a snapshot changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    /// The snapshot's status sequence, now the pull cursor.
    pub seq: u64,
    /// Rows written for revoked and used-up books (not over newer rows).
    pub rows: u64,
    /// Used-up rows dropped because the snapshot no longer lists them.
    pub forgotten: u64,
}

/// Verifies `bytes` against the pinned `root` and loads the snapshot in `tx` if its sequence
/// is beyond both `beyond` and the held cursor; otherwise changes nothing and returns
/// `Ok(Ok(None))` (a device never goes back). A snapshot that does not verify is refused and
/// changes nothing.
pub fn load(
    tx: &Transaction<'_>,
    bytes: &[u8],
    root: &VerifyingKey,
    beyond: u64,
) -> Result<Result<Option<Loaded>, StatusError>, StoreError> {
    let snapshot = match StatusSnapshot::open(bytes, root) {
        Ok(snapshot) => snapshot,
        Err(error) => return Ok(Err(error)),
    };
    if snapshot.seq <= beyond.max(meta::read(tx)?.cursor) {
        return Ok(Ok(None));
    }
    let seq = snapshot.seq as i64;
    let sets = &snapshot.sets;

    let mut forgotten = 0;
    {
        let mut held =
            tx.prepare("SELECT book_id FROM book_status WHERE state = 'used_up' AND seq <= ?1")?;
        let mut forget = tx.prepare_cached("DELETE FROM book_status WHERE book_id = ?1")?;
        let held: Vec<i64> = held
            .query_map(params![seq], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        for book_id in held {
            let id = book_id as u64;
            if !sets.used_up.contains(id) && !sets.revoked.contains(id) {
                forget.execute(params![book_id])?;
                forgotten += 1;
            }
        }
    }

    // Revocation keeps the units already counted; a used-up book has every unit used whatever
    // its credential says. Never over a row newer than the snapshot.
    let mut write = tx.prepare_cached(
        "INSERT INTO book_status (book_id, used_units, state, seq) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (book_id) DO UPDATE SET
             used_units = CASE WHEN excluded.state = 'used_up' THEN excluded.used_units
                               ELSE book_status.used_units END,
             state = excluded.state, seq = excluded.seq
         WHERE book_status.seq <= excluded.seq",
    )?;
    // One pass in book id order: on a new device every row goes to the end of the table.
    let mut rows = 0;
    for book_id in &(&sets.revoked | &sets.used_up) {
        let (used, state) = if sets.revoked.contains(book_id) {
            (0, "revoked")
        } else {
            (u16::MAX, "used_up")
        };
        rows += write.execute(params![book_id as i64, used, state, seq])? as u64;
    }
    status::advance_cursor(tx, snapshot.seq, snapshot.generated_at)?;
    Ok(Ok(Some(Loaded {
        seq: snapshot.seq,
        rows,
        forgotten,
    })))
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use rusqlite::Connection;
    use shuipiao_shared::ids::BookId;
    use shuipiao_shared::status::{BookState, StatusRow, StatusSets};

    use super::*;
    use crate::store;

    fn root() -> SigningKey {
        SigningKey::from_bytes(&[0x31; 32])
    }

    fn signed(seq: u64, revoked: &[u64], used_up: &[u64]) -> Vec<u8> {
        StatusSnapshot {
            seq,
            generated_at: 1_790_000_000 + seq,
            sets: StatusSets {
                revoked: revoked.iter().copied().collect(),
                used_up: used_up.iter().copied().collect(),
            },
        }
        .sign(&root())
    }

    /// Every `book_status` row as (book, used units, state, seq), and the cursor.
    fn held(conn: &Connection) -> (Vec<(i64, i64, String, i64)>, u64) {
        let mut query = conn
            .prepare("SELECT book_id, used_units, state, seq FROM book_status ORDER BY book_id")
            .unwrap();
        let rows = query
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        (rows, meta::read(conn).unwrap().cursor)
    }

    fn load_into(
        conn: &mut Connection,
        bytes: &[u8],
        beyond: u64,
    ) -> Result<Option<Loaded>, StatusError> {
        let tx = conn.transaction().unwrap();
        let loaded = load(&tx, bytes, &root().verifying_key(), beyond).unwrap();
        tx.commit().unwrap();
        loaded
    }

    fn row(book: u64, used_units: u16, state: BookState, seq: u64) -> StatusRow {
        StatusRow {
            book_id: BookId(book),
            used_units,
            state,
            seq,
            last_used_at: None,
        }
    }

    /// A store holding pulled rows up to seq 12: books 1 and 7 partly used, 2 and 3 used up, 4
    /// used up by a change newer than the snapshots below.
    fn store_with_rows(dir: &tempfile::TempDir) -> Connection {
        let mut conn = store::open(&dir.path().join("courier.db")).unwrap();
        let tx = conn.transaction().unwrap();
        for pulled in [
            row(1, 3, BookState::Active, 10),
            row(7, 2, BookState::Active, 9),
            row(2, 5, BookState::UsedUp, 11),
            row(3, 5, BookState::UsedUp, 12),
            row(4, 5, BookState::UsedUp, 30),
        ] {
            status::apply_row(&tx, &pulled).unwrap();
        }
        status::advance_cursor(&tx, 12, 1_790_000_000).unwrap();
        tx.commit().unwrap();
        conn
    }

    #[test]
    fn a_snapshot_writes_flagged_books_forgets_voided_ones_and_moves_the_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = store_with_rows(&dir);
        // Book 1 was revoked, 2 voided back into use, 3 stays used up, 5 and 6 are new to the
        // device, 4 has a newer row than the snapshot, 7 is still partly used.
        let loaded = load_into(&mut conn, &signed(20, &[6, 1], &[3, 4, 5]), 0);
        assert_eq!(
            loaded,
            Ok(Some(Loaded {
                seq: 20,
                rows: 4,
                forgotten: 1
            }))
        );
        let used_up = i64::from(u16::MAX);
        assert_eq!(
            held(&conn),
            (
                vec![
                    (1, 3, "revoked".to_owned(), 20),
                    (3, used_up, "used_up".to_owned(), 20),
                    (4, 5, "used_up".to_owned(), 30),
                    (5, used_up, "used_up".to_owned(), 20),
                    (6, 0, "revoked".to_owned(), 20),
                    (7, 2, "active".to_owned(), 9),
                ],
                20
            )
        );
    }

    #[test]
    fn a_snapshot_not_beyond_the_cursor_or_the_threshold_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = store_with_rows(&dir);
        let before = held(&conn);
        assert_eq!(load_into(&mut conn, &signed(12, &[1], &[]), 0), Ok(None));
        assert_eq!(load_into(&mut conn, &signed(40, &[1], &[]), 40), Ok(None));
        assert_eq!(held(&conn), before);
    }

    #[test]
    fn a_snapshot_signed_by_another_root_or_damaged_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = store_with_rows(&dir);
        let before = held(&conn);
        let forged = StatusSnapshot {
            seq: 99,
            generated_at: 1,
            sets: StatusSets::default(),
        }
        .sign(&SigningKey::from_bytes(&[0x32; 32]));
        assert_eq!(
            load_into(&mut conn, &forged, 0),
            Err(StatusError::BadSignature)
        );
        let mut damaged = signed(99, &[1], &[2]);
        damaged[12] ^= 1;
        assert_eq!(
            load_into(&mut conn, &damaged, 0),
            Err(StatusError::BadSignature)
        );
        assert!(load_into(&mut conn, b"SPS1 truncated", 0).is_err());
        assert_eq!(held(&conn), before);
    }
}

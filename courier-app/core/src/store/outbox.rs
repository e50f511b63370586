//! The outbox: this device's signed events in `device_seq` order, with their push state.
//!
//! Records are immutable (`record` holds [`SignedEvent::to_bytes`]); only the local bookkeeping
//! columns change: `voided` (set when a void event is appended), `push_state`, `verdict`,
//! `server_seq` and `rejection`. `order_id`, written once with the row, ties a delivery and the
//! redemption its scan made to their order. Push states: `pending` (to send, including retryable
//! rejections), `acked` (accepted, duplicate or conflict) and `rejected` (kept and shown, needs an
//! operator).

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use shuipiao_shared::event::{ChainTip, DeliveryOutcome, EventBody, EventHash, SignedEvent};
use shuipiao_shared::ids::EventId;
use shuipiao_shared::sync::{PushRejection, PushResult, PushVerdict};

use crate::store::StoreError;

/// `kind` column value of a redemption.
pub const KIND_REDEMPTION: i64 = 1;
/// `kind` column value of a void.
pub const KIND_VOID: i64 = 2;
/// `kind` column value of a refused scan attempt.
pub const KIND_SCAN_ATTEMPT: i64 = 3;
/// `kind` of a delivery.
pub const KIND_DELIVERY: i64 = 4;

/// Where an event stands with the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PushState {
    /// Not yet stored on the server (or a retryable rejection).
    Pending,
    /// Stored on the server.
    Acked,
    /// Refused for good: kept on the device and shown.
    Rejected,
}

impl PushState {
    fn as_str(self) -> &'static str {
        match self {
            PushState::Pending => "pending",
            PushState::Acked => "acked",
            PushState::Rejected => "rejected",
        }
    }

    fn parse(text: &str) -> Result<PushState, StoreError> {
        match text {
            "pending" => Ok(PushState::Pending),
            "acked" => Ok(PushState::Acked),
            "rejected" => Ok(PushState::Rejected),
            other => Err(StoreError::Corrupt(format!("push state {other}"))),
        }
    }
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxEntry {
    /// The signed event.
    pub event: SignedEvent,
    /// A later void undid this redemption.
    pub voided: bool,
    /// The order a delivery closes, or that the redemption was made for at the door.
    pub order_id: Option<u64>,
    /// Push state.
    pub push_state: PushState,
    /// The server's verdict, once pushed.
    pub verdict: Option<PushVerdict>,
    /// The server's status sequence reflecting it.
    pub server_seq: Option<u64>,
    /// Why the server refused it.
    pub rejection: Option<PushRejection>,
}

/// The tip of this device's chain: last `device_seq` and its hash.
pub fn tip(conn: &Connection) -> Result<ChainTip, StoreError> {
    let last: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT device_seq, hash FROM outbox ORDER BY device_seq DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    match last {
        None => Ok(ChainTip::GENESIS),
        Some((seq, hash)) => Ok(ChainTip {
            device_seq: seq as u64,
            hash: hash
                .try_into()
                .map_err(|_| StoreError::Corrupt("event hash length".into()))?,
        }),
    }
}

/// Appends a signed event. `units_delta` is what it changes the book's used count by
/// (+units for a redemption, −units of the target for a void, 0 for a scan attempt).
pub fn append(
    tx: &Transaction<'_>,
    signed: &SignedEvent,
    units_delta: i64,
) -> Result<(), StoreError> {
    append_for_order(tx, signed, units_delta, signed.event.body.order_id())
}

/// [`append`], tying the event to `order_id`: a delivery's own order, or the order a
/// redemption was made for at the door.
pub fn append_for_order(
    tx: &Transaction<'_>,
    signed: &SignedEvent,
    units_delta: i64,
    order_id: Option<u64>,
) -> Result<(), StoreError> {
    let event = &signed.event;
    let kind = match event.body {
        EventBody::Redemption { .. } => KIND_REDEMPTION,
        EventBody::Void { .. } => KIND_VOID,
        EventBody::ScanAttempt { .. } => KIND_SCAN_ATTEMPT,
        EventBody::Delivery { .. } => KIND_DELIVERY,
    };
    tx.execute(
        "INSERT INTO outbox (device_seq, event_id, record, hash, kind, book_id, units_delta,
                             stale, scanned_at, order_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            event.device_seq as i64,
            event.event_id.0.as_bytes().to_vec(),
            signed.to_bytes(),
            signed.hash().to_vec(),
            kind,
            event.body.book_id().map(|b| b.0 as i64),
            units_delta,
            event.flags.stale,
            event.scanned_at as i64,
            order_id.map(|id| id as i64),
        ],
    )?;
    Ok(())
}

/// How this device last closed `order_id` at the door: the outcome of its latest delivery
/// event, if any.
pub fn last_delivery(
    conn: &Connection,
    order_id: u64,
) -> Result<Option<DeliveryOutcome>, StoreError> {
    let record: Option<Vec<u8>> = conn
        .query_row(
            "SELECT record FROM outbox WHERE order_id = ?1 AND kind = ?2
             ORDER BY device_seq DESC LIMIT 1",
            params![order_id as i64, KIND_DELIVERY],
            |row| row.get(0),
        )
        .optional()?;
    record.map(|record| delivery_outcome(&record)).transpose()
}

/// The outcome of a delivery record.
pub(crate) fn delivery_outcome(record: &[u8]) -> Result<DeliveryOutcome, StoreError> {
    match SignedEvent::from_bytes(record)
        .map_err(|error| StoreError::Corrupt(format!("outbox record: {error}")))?
        .event
        .body
    {
        EventBody::Delivery { outcome, .. } => Ok(outcome),
        _ => Err(StoreError::Corrupt("delivery row of another kind".into())),
    }
}

/// Marks a redemption as voided by a later event.
pub fn mark_voided(tx: &Transaction<'_>, event_id: EventId) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE outbox SET voided = 1 WHERE event_id = ?1",
        params![event_id.0.as_bytes().to_vec()],
    )?;
    Ok(())
}

const ENTRY_COLUMNS: &str = "record, voided, push_state, verdict, server_seq, rejection, order_id";

fn entry_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawEntry> {
    Ok(RawEntry {
        record: row.get(0)?,
        voided: row.get(1)?,
        push_state: row.get(2)?,
        verdict: row.get(3)?,
        server_seq: row.get(4)?,
        rejection: row.get(5)?,
        order_id: row.get(6)?,
    })
}

struct RawEntry {
    record: Vec<u8>,
    voided: bool,
    push_state: String,
    verdict: Option<String>,
    server_seq: Option<i64>,
    rejection: Option<String>,
    order_id: Option<i64>,
}

impl RawEntry {
    fn decode(self) -> Result<OutboxEntry, StoreError> {
        let event = SignedEvent::from_bytes(&self.record)
            .map_err(|error| StoreError::Corrupt(format!("outbox record: {error}")))?;
        let json = |text: &str| format!("\"{text}\"");
        let verdict = self
            .verdict
            .map(|v| serde_json::from_str::<PushVerdict>(&json(&v)))
            .transpose()
            .map_err(|error| StoreError::Corrupt(format!("verdict: {error}")))?;
        let rejection = self
            .rejection
            .map(|r| serde_json::from_str::<PushRejection>(&r))
            .transpose()
            .map_err(|error| StoreError::Corrupt(format!("rejection: {error}")))?;
        Ok(OutboxEntry {
            event,
            voided: self.voided,
            order_id: self.order_id.map(|id| id as u64),
            push_state: PushState::parse(&self.push_state)?,
            verdict,
            server_seq: self.server_seq.map(|s| s as u64),
            rejection,
        })
    }
}

/// The entry of `event_id`, if any.
pub fn get(conn: &Connection, event_id: EventId) -> Result<Option<OutboxEntry>, StoreError> {
    conn.query_row(
        &format!("SELECT {ENTRY_COLUMNS} FROM outbox WHERE event_id = ?1"),
        params![event_id.0.as_bytes().to_vec()],
        entry_from_row,
    )
    .optional()?
    .map(RawEntry::decode)
    .transpose()
}

/// Up to `limit` events still to push, in `device_seq` order.
pub fn pending(conn: &Connection, limit: usize) -> Result<Vec<SignedEvent>, StoreError> {
    let mut statement = conn.prepare(
        "SELECT record FROM outbox WHERE push_state = 'pending' ORDER BY device_seq LIMIT ?1",
    )?;
    let records = statement
        .query_map(params![limit as i64], |row| row.get::<_, Vec<u8>>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    records
        .iter()
        .map(|record| {
            SignedEvent::from_bytes(record)
                .map_err(|error| StoreError::Corrupt(format!("outbox record: {error}")))
        })
        .collect()
}

/// The most recent `limit` entries, newest first.
pub fn recent(conn: &Connection, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut statement = conn.prepare(&format!(
        "SELECT {ENTRY_COLUMNS} FROM outbox ORDER BY device_seq DESC LIMIT ?1"
    ))?;
    let rows = statement
        .query_map(params![limit as i64], entry_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(RawEntry::decode).collect()
}

/// Counts of events by push state: (pending, rejected).
pub fn counts(conn: &Connection) -> Result<(u64, u64), StoreError> {
    let (pending, rejected): (i64, i64) = conn.query_row(
        "SELECT COALESCE(SUM(push_state = 'pending'), 0), COALESCE(SUM(push_state = 'rejected'), 0)
         FROM outbox",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    Ok((pending as u64, rejected as u64))
}

/// Records the server's verdict on one pushed event. Returns `false` if no such event exists.
pub fn record_result(tx: &Transaction<'_>, result: &PushResult) -> Result<bool, StoreError> {
    let state = match (result.verdict, result.rejection) {
        (PushVerdict::Accepted | PushVerdict::Duplicate | PushVerdict::Conflict, _) => {
            PushState::Acked
        }
        (PushVerdict::Rejected, Some(rejection)) if rejection.is_retryable() => PushState::Pending,
        (PushVerdict::Rejected, _) => PushState::Rejected,
    };
    let verdict = serde_json::to_value(result.verdict)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned));
    let rejection = result
        .rejection
        .map(|r| serde_json::to_string(&r))
        .transpose()
        .map_err(|error| StoreError::Corrupt(format!("rejection: {error}")))?;
    let changed = tx.execute(
        "UPDATE outbox SET push_state = ?2, verdict = ?3,
                server_seq = COALESCE(?4, server_seq), rejection = ?5
         WHERE event_id = ?1 AND device_seq = ?6",
        params![
            result.event_id.0.as_bytes().to_vec(),
            state.as_str(),
            verdict,
            result.server_seq.map(|s| s as i64),
            rejection,
            result.device_seq as i64,
        ],
    )?;
    Ok(changed == 1)
}

/// Device time of this device's latest event, if any.
pub fn last_scanned_at(conn: &Connection) -> Result<Option<u64>, StoreError> {
    let at: Option<i64> = conn
        .query_row(
            "SELECT scanned_at FROM outbox ORDER BY device_seq DESC LIMIT 1",
            [],
            |row| row.get(0),
        )
        .optional()?;
    Ok(at.map(|t| t as u64))
}

/// The hash of this device's event `device_seq`, if it exists.
pub fn hash_at(conn: &Connection, device_seq: u64) -> Result<Option<EventHash>, StoreError> {
    let hash: Option<Vec<u8>> = conn
        .query_row(
            "SELECT hash FROM outbox WHERE device_seq = ?1",
            params![device_seq as i64],
            |row| row.get(0),
        )
        .optional()?;
    hash.map(|h| {
        h.try_into()
            .map_err(|_| StoreError::Corrupt("event hash length".into()))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use shuipiao_shared::event::LinkError;
    use shuipiao_shared::event::{Event, EventFlags, GENESIS_HASH};
    use shuipiao_shared::ids::{BookId, DeviceId, ProductCode, UserId};

    use super::*;

    fn stored_event(conn: &mut Connection) -> SignedEvent {
        let signed = Event {
            event_id: EventId::v7(1_790_000_000_000, [1; 10]),
            device_id: DeviceId(7),
            device_seq: 1,
            prev_hash: GENESIS_HASH,
            scanned_at: 1_790_000_000,
            courier_id: UserId(3),
            flags: EventFlags::default(),
            body: EventBody::Redemption {
                book_id: BookId(1),
                units: 1,
                product: ProductCode(1),
            },
        }
        .sign(&SigningKey::from_bytes(&[0x21; 32]));
        let tx = conn.transaction().unwrap();
        append(&tx, &signed, 1).unwrap();
        tx.commit().unwrap();
        signed
    }

    /// Accepted, duplicate and conflict are done; a retryable rejection is sent again; any
    /// other rejection is kept and shown.
    #[test]
    fn verdicts_map_to_push_states() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::migrate(&mut conn).unwrap();
        let signed = stored_event(&mut conn);
        let cases = [
            (PushVerdict::Accepted, None, PushState::Acked),
            (PushVerdict::Duplicate, None, PushState::Acked),
            (PushVerdict::Conflict, None, PushState::Acked),
            (
                PushVerdict::Rejected,
                Some(PushRejection::AfterRejected),
                PushState::Pending,
            ),
            (
                PushVerdict::Rejected,
                Some(PushRejection::Chain {
                    link: LinkError::Gap {
                        expected: 1,
                        found: 2,
                    },
                }),
                PushState::Pending,
            ),
            (
                PushVerdict::Rejected,
                Some(PushRejection::Chain {
                    link: LinkError::BadSignature,
                }),
                PushState::Rejected,
            ),
            (
                PushVerdict::Rejected,
                Some(PushRejection::IdReused),
                PushState::Rejected,
            ),
        ];
        for (verdict, rejection, expected) in cases {
            let tx = conn.transaction().unwrap();
            let result = PushResult {
                event_id: signed.event.event_id,
                device_seq: 1,
                verdict,
                server_seq: Some(5),
                rejection,
            };
            assert!(record_result(&tx, &result).unwrap());
            tx.commit().unwrap();
            let entry = get(&conn, signed.event.event_id).unwrap().unwrap();
            assert_eq!(entry.push_state, expected, "{verdict:?} {rejection:?}");
            assert_eq!(entry.verdict, Some(verdict));
            assert_eq!(entry.rejection, rejection);
            assert_eq!(entry.event, signed, "the record itself never changes");
        }
        let unknown = PushResult {
            event_id: EventId::v7(1, [9; 10]),
            device_seq: 9,
            verdict: PushVerdict::Accepted,
            server_seq: None,
            rejection: None,
        };
        let tx = conn.transaction().unwrap();
        assert!(!record_result(&tx, &unknown).unwrap());
    }
}

//! Book status as devices see it: per-book rows from pull, and compact root-signed snapshots and
//! deltas of the revoked and used-up sets for bootstrapping a device with a million books.
//!
//! Rows carry `seq`, the server's status sequence at the change; a device keeps counting its own
//! pushed event against a book until it holds a row whose `seq` is at least the event's
//! `server_seq` (docs/protocol.md, "Sync API and versioning").
//!
//! Snapshot layout (big-endian, **do not reorder**, it is signed):
//! `"SPS1" | seq u64 | generated_at u64 | len u32 | revoked (roaring) | len u32 | used_up
//! (roaring) | root signature [64]`. A delta is `"SPD1" | base_seq u64 | seq u64 | generated_at
//! u64` followed by three sets (revoked added, used-up added, used-up removed) and the signature.
//! A delta's sets are sparse (a day's changes scattered over every book ever issued), where a
//! roaring array still spends 16 bits an id; so each is written as its count and then the gaps
//! between successive ids, as LEB128 varints: `count | first id | gap - 1 | gap - 1 ...`. A day of
//! 5,000 changes over a million books averages gaps of about 200, one or two bytes each.
//! Revocation is permanent (a lost book is reissued under a new id), so the
//! revoked set only grows; a void can return a used-up book to use, so that set can shrink.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use roaring::RoaringTreemap;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::bytes::{ReadError, Reader, put_varint};
use crate::ids::BookId;

const SNAPSHOT_MAGIC: &[u8; 4] = b"SPS1";
const DELTA_MAGIC: &[u8; 4] = b"SPD1";

/// State of a book on the server.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookState {
    /// Units left and not revoked.
    Active,
    /// Every unit counted.
    UsedUp,
    /// Revoked (lost, refunded or under a compromised key).
    Revoked,
}

/// One changed book, as pulled by devices.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRow {
    /// The book.
    pub book_id: BookId,
    /// Units counted by the server's ledger.
    pub used_units: u16,
    /// Active, used up or revoked.
    pub state: BookState,
    /// Server status sequence of this change.
    pub seq: u64,
    /// When the latest counted redemption happened (device clock), for the 已使用 screen.
    pub last_used_at: Option<u64>,
}

/// The revoked and used-up sets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatusSets {
    /// Revoked books.
    pub revoked: RoaringTreemap,
    /// Books with every unit used.
    pub used_up: RoaringTreemap,
}

/// The sets as of server status sequence `seq`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatusSnapshot {
    /// Status sequence the sets reflect.
    pub seq: u64,
    /// Server time it was made.
    pub generated_at: u64,
    /// The sets.
    pub sets: StatusSets,
}

/// The change from the sets at `base_seq` to the sets at `seq`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatusDelta {
    /// Sequence the delta applies to.
    pub base_seq: u64,
    /// Sequence after applying it.
    pub seq: u64,
    /// Server time it was made.
    pub generated_at: u64,
    /// Newly revoked books.
    pub revoked_added: RoaringTreemap,
    /// Newly used-up books.
    pub used_up_added: RoaringTreemap,
    /// Books no longer used up (a redemption was voided).
    pub used_up_removed: RoaringTreemap,
}

/// Why a snapshot or delta was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum StatusError {
    /// Not a snapshot / delta.
    #[error("wrong magic")]
    BadMagic,
    /// Truncated or with extra bytes.
    #[error("malformed: {0}")]
    Malformed(#[from] ReadError),
    /// A bitmap that does not deserialize, or a delta set whose ids overflow 64 bits.
    #[error("invalid set")]
    InvalidSet,
    /// The root signature does not verify.
    #[error("root signature does not verify")]
    BadSignature,
    /// The delta is for another base.
    #[error("delta is based on seq {delta_base}, sets are at seq {held}")]
    BaseMismatch {
        /// The delta's base.
        delta_base: u64,
        /// What the device holds.
        held: u64,
    },
}

impl StatusSets {
    /// Records a row's state.
    pub fn apply_row(&mut self, row: &StatusRow) {
        let id = row.book_id.0;
        match row.state {
            BookState::Revoked => {
                self.revoked.insert(id);
                self.used_up.remove(id);
            }
            BookState::UsedUp => {
                self.used_up.insert(id);
            }
            BookState::Active => {
                self.used_up.remove(id);
            }
        }
    }

    /// State of a book according to the sets alone.
    pub fn state_of(&self, book_id: BookId) -> BookState {
        if self.revoked.contains(book_id.0) {
            BookState::Revoked
        } else if self.used_up.contains(book_id.0) {
            BookState::UsedUp
        } else {
            BookState::Active
        }
    }
}

impl StatusSnapshot {
    /// Encodes and signs with the root key.
    pub fn sign(&self, root: &SigningKey) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.generated_at.to_be_bytes());
        put_bitmap(&mut out, &self.sets.revoked);
        put_bitmap(&mut out, &self.sets.used_up);
        sign_into(out, root)
    }

    /// Verifies and decodes. The signature is checked before any bitmap is parsed.
    pub fn open(bytes: &[u8], root: &VerifyingKey) -> Result<StatusSnapshot, StatusError> {
        let mut reader = signed_reader(bytes, SNAPSHOT_MAGIC, root)?;
        let seq = reader.u64()?;
        let generated_at = reader.u64()?;
        let revoked = take_bitmap(&mut reader)?;
        let used_up = take_bitmap(&mut reader)?;
        reader.finish()?;
        Ok(StatusSnapshot {
            seq,
            generated_at,
            sets: StatusSets { revoked, used_up },
        })
    }

    /// Moves the sets forward by `delta`, which must start where they are.
    pub fn apply(&mut self, delta: &StatusDelta) -> Result<(), StatusError> {
        if delta.base_seq != self.seq {
            return Err(StatusError::BaseMismatch {
                delta_base: delta.base_seq,
                held: self.seq,
            });
        }
        self.sets.revoked |= &delta.revoked_added;
        self.sets.used_up |= &delta.used_up_added;
        self.sets.used_up -= &delta.used_up_removed;
        self.sets.used_up -= &delta.revoked_added;
        self.seq = delta.seq;
        self.generated_at = delta.generated_at;
        Ok(())
    }

    /// The delta that takes `self` to `newer`.
    pub fn delta_to(&self, newer: &StatusSnapshot) -> StatusDelta {
        StatusDelta {
            base_seq: self.seq,
            seq: newer.seq,
            generated_at: newer.generated_at,
            revoked_added: &newer.sets.revoked - &self.sets.revoked,
            used_up_added: &newer.sets.used_up - &self.sets.used_up,
            used_up_removed: &(&self.sets.used_up - &newer.sets.used_up) - &newer.sets.revoked,
        }
    }
}

impl StatusDelta {
    /// Encodes and signs with the root key.
    pub fn sign(&self, root: &SigningKey) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(DELTA_MAGIC);
        out.extend_from_slice(&self.base_seq.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.generated_at.to_be_bytes());
        put_sparse(&mut out, &self.revoked_added);
        put_sparse(&mut out, &self.used_up_added);
        put_sparse(&mut out, &self.used_up_removed);
        sign_into(out, root)
    }

    /// Verifies and decodes.
    pub fn open(bytes: &[u8], root: &VerifyingKey) -> Result<StatusDelta, StatusError> {
        let mut reader = signed_reader(bytes, DELTA_MAGIC, root)?;
        let delta = StatusDelta {
            base_seq: reader.u64()?,
            seq: reader.u64()?,
            generated_at: reader.u64()?,
            revoked_added: take_sparse(&mut reader)?,
            used_up_added: take_sparse(&mut reader)?,
            used_up_removed: take_sparse(&mut reader)?,
        };
        reader.finish()?;
        Ok(delta)
    }
}

fn put_bitmap(out: &mut Vec<u8>, bitmap: &RoaringTreemap) {
    let len = u32::try_from(bitmap.serialized_size()).expect("bitmap under 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    bitmap
        .serialize_into(&mut *out)
        .expect("writing into a Vec cannot fail");
}

fn take_bitmap(reader: &mut Reader<'_>) -> Result<RoaringTreemap, StatusError> {
    let len = usize::try_from(reader.u32()?).map_err(|_| StatusError::InvalidSet)?;
    let bytes = reader.take(len)?;
    let bitmap = RoaringTreemap::deserialize_from(bytes).map_err(|_| StatusError::InvalidSet)?;
    if bitmap.serialized_size() != len {
        return Err(StatusError::InvalidSet);
    }
    Ok(bitmap)
}

fn put_sparse(out: &mut Vec<u8>, set: &RoaringTreemap) {
    put_varint(out, set.len());
    let mut previous = None;
    for id in set {
        put_varint(out, previous.map_or(id, |p: u64| id - p - 1));
        previous = Some(id);
    }
}

/// Reads a sparse set. Every count and gap is valid except ids past `u64::MAX`, so a set has one
/// encoding; the count is checked against the bytes left before anything is read.
fn take_sparse(reader: &mut Reader<'_>) -> Result<RoaringTreemap, StatusError> {
    let count = reader.varint()?;
    if count > reader.remaining() as u64 {
        return Err(ReadError::Truncated {
            offset: reader.offset(),
            needed: usize::try_from(count).unwrap_or(usize::MAX),
        }
        .into());
    }
    let mut ids = Vec::with_capacity(count as usize);
    let mut previous: Option<u64> = None;
    for _ in 0..count {
        let gap = reader.varint()?;
        let id = match previous {
            None => Some(gap),
            Some(p) => p.checked_add(1).and_then(|next| next.checked_add(gap)),
        }
        .ok_or(StatusError::InvalidSet)?;
        ids.push(id);
        previous = Some(id);
    }
    RoaringTreemap::from_sorted_iter(ids).map_err(|_| StatusError::InvalidSet)
}

fn sign_into(mut out: Vec<u8>, root: &SigningKey) -> Vec<u8> {
    let signature = root.sign(&out).to_bytes();
    out.extend_from_slice(&signature);
    out
}

/// Checks magic and root signature over everything but the last 64 bytes, and returns a reader
/// positioned after the magic and limited to the signed part.
fn signed_reader<'a>(
    bytes: &'a [u8],
    magic: &[u8; 4],
    root: &VerifyingKey,
) -> Result<Reader<'a>, StatusError> {
    let signed_len = bytes.len().checked_sub(64).ok_or(ReadError::Truncated {
        offset: 0,
        needed: 64,
    })?;
    let (signed, signature) = bytes.split_at(signed_len);
    let mut reader = Reader::new(signed);
    if &reader.array::<4>()? != magic {
        return Err(StatusError::BadMagic);
    }
    let signature: [u8; 64] = signature
        .try_into()
        .map_err(|_| StatusError::BadSignature)?;
    root.verify_strict(signed, &Signature::from_bytes(&signature))
        .map_err(|_| StatusError::BadSignature)?;
    Ok(reader)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(seq: u64, revoked: &[u64], used_up: &[u64]) -> StatusSnapshot {
        StatusSnapshot {
            seq,
            generated_at: 1_700_000_000 + seq,
            sets: StatusSets {
                revoked: revoked.iter().copied().collect(),
                used_up: used_up.iter().copied().collect(),
            },
        }
    }

    #[test]
    fn snapshot_round_trips_and_rejects_other_roots() {
        let root = SigningKey::from_bytes(&[5; 32]);
        let snap = snapshot(9, &[1, 5, 1 << 40], &[2, 3]);
        let bytes = snap.sign(&root);
        assert_eq!(
            StatusSnapshot::open(&bytes, &root.verifying_key()),
            Ok(snap)
        );
        let other = SigningKey::from_bytes(&[6; 32]).verifying_key();
        assert_eq!(
            StatusSnapshot::open(&bytes, &other),
            Err(StatusError::BadSignature)
        );
    }

    #[test]
    fn delta_moves_old_sets_to_new_ones() {
        let root = SigningKey::from_bytes(&[5; 32]);
        let old = snapshot(10, &[1], &[2, 3, 4]);
        let new = snapshot(20, &[1, 3, 7], &[2, 8]);
        let delta =
            StatusDelta::open(&old.delta_to(&new).sign(&root), &root.verifying_key()).unwrap();
        let mut moved = old.clone();
        moved.apply(&delta).unwrap();
        assert_eq!(moved, new);
        assert_eq!(
            moved.apply(&delta),
            Err(StatusError::BaseMismatch {
                delta_base: 10,
                held: 20
            })
        );
    }

    #[test]
    fn delta_sets_are_gap_coded_and_refuse_ids_past_the_end() {
        let root = SigningKey::from_bytes(&[5; 32]);
        let old = snapshot(1, &[], &[]);
        let new = snapshot(2, &[0, 1, 200, u64::MAX], &[]);
        let bytes = old.delta_to(&new).sign(&root);
        // Header 28, count 1, gaps 0, 0, 198 (two bytes), u64::MAX - 201 (ten), two empty sets.
        assert_eq!(bytes.len(), 28 + 1 + 1 + 1 + 2 + 10 + 2 + 64);
        let delta = StatusDelta::open(&bytes, &root.verifying_key()).unwrap();
        assert_eq!(delta.revoked_added, new.sets.revoked);

        let mut past_the_end = bytes[..28].to_vec();
        put_varint(&mut past_the_end, 2);
        put_varint(&mut past_the_end, u64::MAX);
        put_varint(&mut past_the_end, 0);
        past_the_end.extend_from_slice(&[0, 0]);
        let signed = sign_into(past_the_end, &root);
        assert_eq!(
            StatusDelta::open(&signed, &root.verifying_key()),
            Err(StatusError::InvalidSet)
        );
    }

    #[test]
    fn rows_update_sets() {
        let mut sets = StatusSets::default();
        let row = |id, state| StatusRow {
            book_id: BookId(id),
            used_units: 0,
            state,
            seq: 1,
            last_used_at: None,
        };
        sets.apply_row(&row(4, BookState::UsedUp));
        assert_eq!(sets.state_of(BookId(4)), BookState::UsedUp);
        sets.apply_row(&row(4, BookState::Active));
        assert_eq!(sets.state_of(BookId(4)), BookState::Active);
        sets.apply_row(&row(4, BookState::Revoked));
        assert_eq!(sets.state_of(BookId(4)), BookState::Revoked);
    }
}

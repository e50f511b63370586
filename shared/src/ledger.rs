//! Conflict resolution (docs/protocol.md, "Ledger"): a book's ledger as a pure function of its set of events.
//!
//! Events are facts — the water was delivered — so none is dropped. Redemptions are ordered by
//! `(scanned_at, device_id, device_seq)`; voids (by the device that made the redemption, or an
//! operator's void resolution) remove their target; the rest are counted until the book's units run out, and
//! those past that point are `over_redeemed`. Redemptions on or after the book's revocation, or
//! after its signing key was marked compromised, are `after_revocation` and count nothing.
//!
//! Because the input is treated as a set (deduplicated by event id, then sorted), the result is
//! identical for any arrival order, duplication or batching — the property the server relies on
//! to merge offline devices, and which the property tests check.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::event::{EventBody, SignedEvent};
use crate::ids::{DeviceId, EventId, UserId};

/// The facts about a book the ledger needs besides its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BookTerms {
    /// Units in the book.
    pub units: u16,
    /// When it was revoked, if it was.
    pub revoked_at: Option<u64>,
    /// When its signing key was marked compromised, if it was.
    pub key_compromised_at: Option<u64>,
}

/// What an operator decided about a flagged redemption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionAction {
    /// The customer pays for the extra delivery.
    Charge,
    /// The plant absorbs it.
    WriteOff,
    /// No water was delivered: the redemption is void.
    Void,
}

/// One input to the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LedgerEvent {
    /// Unique id.
    pub event_id: EventId,
    /// Device (or, for resolutions, none: `DeviceId(0)`).
    pub device_id: DeviceId,
    /// Device sequence number (0 for resolutions).
    pub device_seq: u64,
    /// Device clock for redemptions and voids; server clock for resolutions.
    pub at: u64,
    /// What it does.
    pub kind: LedgerEventKind,
}

/// The ledger-relevant kinds of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LedgerEventKind {
    /// Units redeemed.
    Redemption {
        /// How many.
        units: u16,
    },
    /// A device undid its redemption.
    Void {
        /// The redemption undone.
        target: EventId,
    },
    /// An operator resolved a flagged redemption.
    Resolution {
        /// The redemption resolved.
        target: EventId,
        /// The decision.
        action: ResolutionAction,
        /// Who decided.
        operator: UserId,
    },
}

impl LedgerEvent {
    /// The ledger view of a device event; `None` for scan attempts and deliveries, which move no
    /// book (a delivery paid with tickets names the redemption that did).
    pub fn from_device(event: &SignedEvent) -> Option<LedgerEvent> {
        let e = &event.event;
        let kind = match e.body {
            EventBody::Redemption { units, .. } => LedgerEventKind::Redemption { units },
            EventBody::Void { target, .. } => LedgerEventKind::Void { target },
            EventBody::ScanAttempt { .. } | EventBody::Delivery { .. } => return None,
        };
        Some(LedgerEvent {
            event_id: e.event_id,
            device_id: e.device_id,
            device_seq: e.device_seq,
            at: e.scanned_at,
            kind,
        })
    }
}

/// How a redemption ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Counted against the book.
    Counted,
    /// Past the book's units (e.g. the same printed ticket redeemed by two offline couriers).
    OverRedeemed,
    /// On or after revocation or key compromise.
    AfterRevocation,
    /// Undone by a void.
    Voided,
}

/// The outcome of one redemption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedemptionOutcome {
    /// The redemption.
    pub event_id: EventId,
    /// Units it asked for.
    pub units: u16,
    /// How it ended up.
    pub outcome: Outcome,
    /// The operator's latest decision on it, if any.
    pub resolution: Option<ResolutionAction>,
}

impl RedemptionOutcome {
    /// Flagged and not yet resolved: belongs in the review queue.
    pub fn needs_review(&self) -> bool {
        matches!(
            self.outcome,
            Outcome::OverRedeemed | Outcome::AfterRevocation
        ) && self.resolution.is_none()
    }
}

/// A book's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookLedger {
    /// Every redemption in ledger order.
    pub redemptions: Vec<RedemptionOutcome>,
    /// Units counted.
    pub used_units: u16,
    /// Units left.
    pub remaining: u16,
}

/// Computes the ledger of a book from its events (any order, duplicates allowed).
pub fn compute(terms: &BookTerms, events: &[LedgerEvent]) -> BookLedger {
    // Dedupe by id. Two different events with one id cannot both be stored (the server refuses
    // id reuse), but the choice is made deterministic anyway: the smallest wins.
    let mut by_id: BTreeMap<EventId, &LedgerEvent> = BTreeMap::new();
    for event in events {
        by_id
            .entry(event.event_id)
            .and_modify(|held| {
                if event < *held {
                    *held = event;
                }
            })
            .or_insert(event);
    }

    // A device may only undo its own redemption; a void naming anything else changes nothing.
    let voided: BTreeSet<EventId> = by_id
        .values()
        .filter_map(|event| match event.kind {
            LedgerEventKind::Void { target } => by_id
                .get(&target)
                .filter(|t| matches!(t.kind, LedgerEventKind::Redemption { .. }))
                .filter(|t| t.device_id == event.device_id)
                .map(|_| target),
            _ => None,
        })
        .collect();
    let mut resolutions: BTreeMap<EventId, (u64, EventId, ResolutionAction)> = BTreeMap::new();
    let mut redemptions = Vec::new();
    for event in by_id.values() {
        match event.kind {
            LedgerEventKind::Redemption { units } => redemptions.push((event, units)),
            LedgerEventKind::Void { .. } => {}
            LedgerEventKind::Resolution { target, action, .. } => {
                let latest =
                    resolutions
                        .entry(target)
                        .or_insert((event.at, event.event_id, action));
                if (event.at, event.event_id) > (latest.0, latest.1) {
                    *latest = (event.at, event.event_id, action);
                }
            }
        }
    }
    redemptions.sort_by_key(|(e, _)| (e.at, e.device_id, e.device_seq, e.event_id));

    let cutoff = match (terms.revoked_at, terms.key_compromised_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let mut remaining = terms.units;
    let outcomes = redemptions
        .into_iter()
        .map(|(event, units)| {
            let resolution = resolutions.get(&event.event_id).map(|r| r.2);
            let outcome =
                if voided.contains(&event.event_id) || resolution == Some(ResolutionAction::Void) {
                    Outcome::Voided
                } else if cutoff.is_some_and(|cut| event.at >= cut) {
                    Outcome::AfterRevocation
                } else {
                    count(&mut remaining, units)
                };
            RedemptionOutcome {
                event_id: event.event_id,
                units,
                outcome,
                resolution,
            }
        })
        .collect();
    BookLedger {
        redemptions: outcomes,
        used_units: terms.units - remaining,
        remaining,
    }
}

/// Counts a redemption against what is left if it fits; one that does not is over-redeemed and
/// a later, smaller one may still fit.
fn count(remaining: &mut u16, units: u16) -> Outcome {
    if units <= *remaining {
        *remaining -= units;
        Outcome::Counted
    } else {
        Outcome::OverRedeemed
    }
}

/// What a book's stored ledger must remember so later redemptions can be appended without
/// reloading its events (see [`extend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LedgerTip {
    /// Units counted so far.
    pub used_units: u16,
    /// Device time of the latest redemption so far, whatever its outcome.
    pub latest_redemption_at: Option<u64>,
}

impl LedgerTip {
    /// The tip a ledger computed from `events` leaves.
    pub fn of(ledger: &BookLedger, events: &[LedgerEvent]) -> LedgerTip {
        LedgerTip {
            used_units: ledger.used_units,
            latest_redemption_at: latest_redemption(events),
        }
    }

    /// The tip after [`extend`] appended `new` to this one, making `appended`.
    pub fn extended(&self, appended: &BookLedger, new: &[LedgerEvent]) -> LedgerTip {
        LedgerTip {
            used_units: appended.used_units,
            latest_redemption_at: self.latest_redemption_at.max(latest_redemption(new)),
        }
    }
}

fn latest_redemption(events: &[LedgerEvent]) -> Option<u64> {
    events
        .iter()
        .filter(|e| matches!(e.kind, LedgerEventKind::Redemption { .. }))
        .map(|e| e.at)
        .max()
}

/// Appends `new` events to a book whose earlier events left `tip`, without those events: the
/// ledger of the new redemptions alone, with the book's totals. It equals what [`compute`] makes
/// of all events, restricted to the new redemptions, when the book has no cutoff, every new
/// event is a redemption, and either
/// - every new redemption is later than every earlier one: earlier outcomes cannot change, and
///   the new ones are counted from the units left; or
/// - the new ones fit in the units left: all are counted, whatever their times, and no earlier
///   outcome changes. Inserting a redemption before others only lowers the units left at each
///   later one: one that did not fit still does not, and one that fit still does, since at its
///   time at least its own units plus everything left at the end (which covers the new ones)
///   was left. So a courier's late push, or two couriers' pushes crossing, need not reload the
///   book.
///
/// Otherwise `None`: the caller recomputes. The caller guarantees no earlier event names a new
/// one. The server's sync does: a device's void follows its redemption in the device's hash
/// chain, and operators resolve stored events.
pub fn extend(terms: &BookTerms, tip: &LedgerTip, new: &[LedgerEvent]) -> Option<BookLedger> {
    if terms.revoked_at.is_some() || terms.key_compromised_at.is_some() {
        return None;
    }
    let mut redemptions = new
        .iter()
        .map(|event| match event.kind {
            LedgerEventKind::Redemption { units } => Some((event, units)),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    redemptions.sort_by_key(|(e, _)| (e.at, e.device_id, e.device_seq, e.event_id));
    redemptions.dedup_by_key(|(e, _)| e.event_id);
    let mut remaining = terms.units.checked_sub(tip.used_units)?;
    let in_order = redemptions
        .iter()
        .all(|(e, _)| tip.latest_redemption_at.is_none_or(|latest| e.at > latest));
    let asked: u32 = redemptions.iter().map(|(_, units)| u32::from(*units)).sum();
    let all_fit = asked <= u32::from(remaining);
    if !in_order && !all_fit {
        return None;
    }
    let outcomes = redemptions
        .into_iter()
        .map(|(event, units)| RedemptionOutcome {
            event_id: event.event_id,
            units,
            outcome: count(&mut remaining, units),
            resolution: None,
        })
        .collect();
    Some(BookLedger {
        redemptions: outcomes,
        used_units: terms.units - remaining,
        remaining,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redemption(id: u8, device: u64, seq: u64, at: u64, units: u16) -> LedgerEvent {
        LedgerEvent {
            event_id: EventId::v7(at * 1000, [id; 10]),
            device_id: DeviceId(device),
            device_seq: seq,
            at,
            kind: LedgerEventKind::Redemption { units },
        }
    }

    #[test]
    fn offline_double_spend_counts_the_earlier_one() {
        let terms = BookTerms {
            units: 1,
            ..BookTerms::default()
        };
        let first = redemption(1, 2, 5, 100, 1);
        let second = redemption(2, 1, 9, 101, 1);
        let ledger = compute(&terms, &[second, first]);
        assert_eq!(ledger.remaining, 0);
        assert_eq!(ledger.redemptions[0].event_id, first.event_id);
        assert_eq!(ledger.redemptions[0].outcome, Outcome::Counted);
        assert_eq!(ledger.redemptions[1].outcome, Outcome::OverRedeemed);
        assert!(ledger.redemptions[1].needs_review());
    }

    #[test]
    fn voids_and_void_resolutions_release_units() {
        let terms = BookTerms {
            units: 1,
            ..BookTerms::default()
        };
        let first = redemption(1, 2, 5, 100, 1);
        let second = redemption(2, 1, 9, 101, 1);
        let void = LedgerEvent {
            event_id: EventId::v7(102_000, [3; 10]),
            device_id: DeviceId(2),
            device_seq: 6,
            at: 102,
            kind: LedgerEventKind::Void {
                target: first.event_id,
            },
        };
        let ledger = compute(&terms, &[first, second, void]);
        assert_eq!(ledger.redemptions[0].outcome, Outcome::Voided);
        assert_eq!(ledger.redemptions[1].outcome, Outcome::Counted);

        let charge = LedgerEvent {
            event_id: EventId::v7(200_000, [4; 10]),
            device_id: DeviceId(0),
            device_seq: 0,
            at: 200,
            kind: LedgerEventKind::Resolution {
                target: second.event_id,
                action: ResolutionAction::Charge,
                operator: UserId(1),
            },
        };
        let ledger = compute(&terms, &[first, second, charge]);
        assert_eq!(ledger.redemptions[1].outcome, Outcome::OverRedeemed);
        assert_eq!(
            ledger.redemptions[1].resolution,
            Some(ResolutionAction::Charge)
        );
        assert!(!ledger.redemptions[1].needs_review());
    }

    #[test]
    fn revocation_and_compromise_cut_off_later_redemptions() {
        let events = [redemption(1, 1, 1, 100, 2), redemption(2, 1, 2, 200, 2)];
        for terms in [
            BookTerms {
                units: 10,
                revoked_at: Some(150),
                key_compromised_at: None,
            },
            BookTerms {
                units: 10,
                revoked_at: None,
                key_compromised_at: Some(150),
            },
        ] {
            let ledger = compute(&terms, &events);
            assert_eq!(ledger.used_units, 2);
            assert_eq!(ledger.redemptions[1].outcome, Outcome::AfterRevocation);
        }
    }
}

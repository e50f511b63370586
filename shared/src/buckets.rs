//! The bucket ledger (押桶 / 空桶, docs/deliveries.md "Buckets"): how many of one product's
//! buckets a customer holds, how many of them are covered by a deposit, and which empties taken
//! back at the door could not have been the customer's.
//!
//! Like the ticket ledger it is a function of a *set* of entries: [`compute`] sorts by
//! `(at, id)` and counts an id once, so couriers syncing in any order, twice, or on two servers
//! give the same answer. A server groups a customer's entries by product and calls it once per
//! group.
//!
//! The counts: a delivery hands over full buckets and takes back empties; a customer holds
//! `delivered − returned` buckets; deposits paid (at the door, at the counter or online) less
//! deposits refunded cover some of them. 欠桶, the buckets owed, is what the customer holds beyond
//! the deposits; deposits beyond the buckets held are refundable. Empties are counted only while
//! the customer still holds a bucket: the excess of a delivery that would make the count
//! negative is held back for review (an opening balance — buckets the customer had before — set
//! by an operator lets it count on the next computation, since an opening balance is dated
//! before everything).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::EventId;

/// One change to a customer's buckets of one product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketEntry {
    /// The delivery event or the plant's record.
    pub id: EventId,
    /// When, unix seconds (the device clock for a delivery); an opening balance uses 0.
    pub at: u64,
    /// What changed.
    pub movement: BucketMove,
}

/// What a [`BucketEntry`] changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BucketMove {
    /// Buckets the customer held before the plant counted them here.
    Opening {
        /// How many.
        buckets: u16,
    },
    /// A delivery at the door, whatever its outcome.
    Delivery {
        /// Full buckets handed over.
        full: u16,
        /// Empty buckets taken back.
        empties: u16,
        /// Buckets whose deposit was taken at the door.
        deposits: u16,
    },
    /// Deposits paid away from the door (at the counter, online).
    Deposit {
        /// Buckets covered.
        buckets: u16,
    },
    /// Deposits paid back to the customer.
    Refund {
        /// Buckets whose deposit was paid back.
        buckets: u16,
    },
}

/// Empties of one delivery the ledger did not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldBack {
    /// The delivery event.
    pub event_id: EventId,
    /// Empties beyond the buckets the customer held at the time.
    pub empties: u16,
}

/// A customer's buckets of one product.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketLedger {
    /// Full buckets handed over, opening balances included.
    pub delivered: u64,
    /// Empties taken back and counted.
    pub returned: u64,
    /// Deposits held: paid less refunded.
    pub deposits: u64,
    /// Empties not counted, in the order met.
    pub held_back: Vec<HeldBack>,
}

impl BucketLedger {
    /// Buckets at the customer's.
    pub fn held(&self) -> u64 {
        self.delivered - self.returned
    }

    /// 欠桶: buckets held beyond the deposits.
    pub fn owed(&self) -> u64 {
        self.held().saturating_sub(self.deposits)
    }

    /// Deposits beyond the buckets held, which the plant may pay back.
    pub fn refundable(&self) -> u64 {
        self.deposits.saturating_sub(self.held())
    }
}

/// The ledger of a set of entries (see the module documentation).
pub fn compute(entries: &[BucketEntry]) -> BucketLedger {
    let unique: BTreeMap<(u64, EventId), BucketMove> = entries
        .iter()
        .map(|entry| ((entry.at, entry.id), entry.movement))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut ledger = BucketLedger::default();
    for ((_, id), movement) in unique {
        // The same id at two times is one entry: the earliest counts.
        if !seen.insert(id) {
            continue;
        }
        match movement {
            BucketMove::Opening { buckets } => ledger.delivered += u64::from(buckets),
            BucketMove::Delivery {
                full,
                empties,
                deposits,
            } => {
                ledger.delivered += u64::from(full);
                ledger.deposits += u64::from(deposits);
                let counted = u64::from(empties).min(ledger.held());
                ledger.returned += counted;
                let excess = u64::from(empties) - counted;
                if excess > 0 {
                    ledger.held_back.push(HeldBack {
                        event_id: id,
                        empties: excess as u16,
                    });
                }
            }
            BucketMove::Deposit { buckets } => ledger.deposits += u64::from(buckets),
            BucketMove::Refund { buckets } => {
                ledger.deposits = ledger.deposits.saturating_sub(u64::from(buckets));
            }
        }
    }
    ledger
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8, at: u64, movement: BucketMove) -> BucketEntry {
        BucketEntry {
            id: EventId::v7(at * 1000, [n; 10]),
            at,
            movement,
        }
    }

    fn delivery(n: u8, at: u64, full: u16, empties: u16, deposits: u16) -> BucketEntry {
        entry(
            n,
            at,
            BucketMove::Delivery {
                full,
                empties,
                deposits,
            },
        )
    }

    #[test]
    fn a_customer_with_a_deposit_owes_nothing_in_the_steady_state() {
        let ledger = compute(&[
            delivery(1, 10, 2, 0, 2),
            delivery(2, 20, 2, 2, 0),
            delivery(3, 30, 1, 2, 0),
        ]);
        assert_eq!(
            (ledger.delivered, ledger.returned, ledger.deposits),
            (5, 4, 2)
        );
        assert_eq!(
            (ledger.held(), ledger.owed(), ledger.refundable()),
            (1, 0, 1)
        );
        assert!(ledger.held_back.is_empty());
    }

    #[test]
    fn empties_beyond_the_buckets_held_are_held_back_until_an_opening_balance() {
        let first = delivery(1, 10, 1, 0, 0);
        let too_many = delivery(2, 20, 1, 3, 0);
        let ledger = compute(&[too_many, first]);
        assert_eq!((ledger.held(), ledger.owed()), (0, 0));
        assert_eq!(
            ledger.held_back,
            vec![HeldBack {
                event_id: too_many.id,
                empties: 1
            }]
        );
        let opening = entry(3, 0, BucketMove::Opening { buckets: 1 });
        let ledger = compute(&[too_many, first, opening]);
        assert_eq!((ledger.delivered, ledger.returned), (3, 3));
        assert!(ledger.held_back.is_empty());
    }

    #[test]
    fn an_entry_counts_once_whatever_the_order_and_refunds_never_go_below_zero() {
        let a = delivery(1, 10, 3, 0, 0);
        let b = entry(2, 15, BucketMove::Deposit { buckets: 2 });
        let c = entry(3, 20, BucketMove::Refund { buckets: 5 });
        let once = compute(&[a, b, c]);
        assert_eq!(compute(&[c, a, b, a, c]), once);
        assert_eq!((once.deposits, once.owed()), (0, 3));
    }
}

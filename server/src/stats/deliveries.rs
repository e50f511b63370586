//! Deliveries at the door and buckets: orders delivered and missed, full buckets handed over and
//! empties taken back, per region of the customers' addresses and per courier, and the buckets
//! customers hold now (欠桶) by region.

use std::collections::{BTreeMap, BTreeSet};

use shuipiao_shared::ids::UserId;

use super::{Cell, Names, Table, share};
use crate::store::buckets::Outstanding;
use crate::store::reports::DeliveryGroup;

/// Orders delivered and missed, buckets handed over, empties and deposits taken back.
#[derive(Debug, Clone, Copy, Default)]
struct Rounds {
    delivered: i64,
    missed: i64,
    bottles: i64,
    empties: i64,
    deposits: i64,
}

impl Rounds {
    fn add(&mut self, group: &DeliveryGroup) {
        if group.delivered {
            self.delivered += group.events;
        } else {
            self.missed += group.events;
        }
        self.bottles += group.bottles;
        self.empties += group.empties;
        self.deposits += group.deposits;
    }

    fn cells(self) -> [Cell; 6] {
        [
            Cell::Int(self.delivered),
            Cell::Int(self.missed),
            Cell::Int(self.bottles),
            Cell::Int(self.empties),
            share(self.empties, self.bottles),
            Cell::Int(self.deposits),
        ]
    }
}

const ROUNDS_COLUMNS: [&str; 6] = [
    "送达(单)",
    "未送达(单)",
    "送出(桶)",
    "回收空桶",
    "回桶率",
    "收押桶",
];

fn rounds_by<K: Ord>(
    groups: &[DeliveryGroup],
    key: impl Fn(&DeliveryGroup) -> K,
) -> BTreeMap<K, Rounds> {
    let mut rounds: BTreeMap<K, Rounds> = BTreeMap::new();
    for group in groups {
        rounds.entry(key(group)).or_default().add(group);
    }
    rounds
}

/// Per region of the customers' addresses: the deliveries of the period.
pub fn delivery_regions(groups: &[DeliveryGroup], names: &Names) -> Table {
    let rows = rounds_by(groups, |g| g.region_id)
        .into_iter()
        .map(|(region, rounds)| {
            let mut row = vec![Cell::Text(names.region(region))];
            row.extend(rounds.cells());
            row
        })
        .collect();
    let mut columns = vec!["客户区域"];
    columns.extend(ROUNDS_COLUMNS);
    Table {
        key: "delivery_region",
        title: "配送:按客户区域",
        columns,
        rows,
    }
}

/// Per courier: the deliveries of the period and the empties brought back.
pub fn courier_rounds(groups: &[DeliveryGroup], names: &Names) -> Table {
    let rows = rounds_by(groups, |g| g.staff_id)
        .into_iter()
        .map(|(staff, rounds): (UserId, Rounds)| {
            let name = names
                .staff
                .get(&staff)
                .map(|user| user.spec.username.clone())
                .unwrap_or_else(|| format!("员工 {}", staff.0));
            let mut row = vec![Cell::Text(name)];
            row.extend(rounds.cells());
            row
        })
        .collect();
    let mut columns = vec!["送水工"];
    columns.extend(ROUNDS_COLUMNS);
    Table {
        key: "courier_rounds",
        title: "配送:按送水工(回收空桶)",
        columns,
        rows,
    }
}

/// Per region of the customers: the buckets they hold now, the deposits covering them, 欠桶
/// and the deposits a customer could have back.
pub fn buckets_outstanding(ledgers: &[Outstanding], names: &Names) -> Table {
    #[derive(Default)]
    struct Held {
        owing: BTreeSet<i64>,
        held: u64,
        deposits: u64,
        owed: u64,
        refundable: u64,
    }
    let mut regions: BTreeMap<Option<i64>, Held> = BTreeMap::new();
    for entry in ledgers {
        let region = regions.entry(entry.region_id).or_default();
        region.held += entry.ledger.held();
        region.deposits += entry.ledger.deposits;
        region.owed += entry.ledger.owed();
        region.refundable += entry.ledger.refundable();
        if entry.ledger.owed() > 0 {
            region.owing.insert(entry.account_id);
        }
    }
    let count = |n: u64| Cell::Int(i64::try_from(n).unwrap_or(i64::MAX));
    let rows = regions
        .into_iter()
        .map(|(region, held)| {
            vec![
                Cell::Text(names.region(region)),
                Cell::Int(held.owing.len() as i64),
                count(held.held),
                count(held.deposits),
                count(held.owed),
                count(held.refundable),
            ]
        })
        .collect();
    Table {
        key: "buckets_outstanding",
        title: "在外水桶:按客户区域(当前)",
        columns: vec![
            "客户区域",
            "欠桶客户",
            "在外(桶)",
            "押金覆盖(桶)",
            "欠桶",
            "可退押金(桶)",
        ],
        rows,
    }
}

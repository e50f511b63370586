//! Automatic assignment as a pure function: from a day's orders and the enabled couriers of each
//! region to the assignments (docs/deliveries.md, "Dispatch"). No clock and no storage, so the
//! same facts give the same plan on every server instance; the store calls it under the dispatch
//! clock's lock with the facts it has just read.

use std::collections::BTreeMap;

use shuipiao_shared::ids::UserId;

use crate::store::delivery_orders::{DeliveryOrder, OrderState, Slot};
use crate::store::dispatch::CourierRow;

/// An order of the day as the plan sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayOrder {
    /// The order.
    pub id: i64,
    /// Its region.
    pub region_id: i64,
    /// Its slot.
    pub slot: Slot,
    /// Where it is.
    pub state: OrderState,
    /// Its courier, if assigned.
    pub courier: Option<UserId>,
}

impl From<&DeliveryOrder> for DayOrder {
    fn from(order: &DeliveryOrder) -> DayOrder {
        DayOrder {
            id: order.id,
            region_id: order.region_id,
            slot: order.slot,
            state: order.state,
            courier: order.courier_id,
        }
    }
}

/// An enabled courier and the region they serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Courier {
    /// The courier's user id.
    pub id: UserId,
    /// Their region.
    pub region_id: i64,
}

impl From<&CourierRow> for Courier {
    fn from(row: &CourierRow) -> Courier {
        Courier {
            id: row.id,
            region_id: row.region_id,
        }
    }
}

/// What automatic assignment does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Each pending order that gets a courier, in the order they were decided.
    pub assignments: Vec<(i64, UserId)>,
    /// Pending orders whose region has no enabled courier (无可派送员).
    pub unassignable: Vec<i64>,
}

/// A courier's orders of the day: per slot and in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    /// Morning orders.
    pub morning: u32,
    /// Afternoon orders.
    pub afternoon: u32,
}

impl Load {
    /// The orders of one slot.
    pub fn slot(&self, slot: Slot) -> u32 {
        match slot {
            Slot::Morning => self.morning,
            Slot::Afternoon => self.afternoon,
        }
    }

    /// The orders of the day.
    pub fn day(&self) -> u32 {
        self.morning + self.afternoon
    }

    fn add(&mut self, slot: Slot) {
        match slot {
            Slot::Morning => self.morning += 1,
            Slot::Afternoon => self.afternoon += 1,
        }
    }
}

/// Each courier's load from the day's orders: every order with a courier counts except a
/// cancelled one (delivered and failed orders were the courier's work of the day).
pub fn loads(orders: &[DayOrder]) -> BTreeMap<UserId, Load> {
    let mut loads: BTreeMap<UserId, Load> = BTreeMap::new();
    for order in orders {
        if let (Some(courier), false) = (order.courier, order.state == OrderState::Cancelled) {
            loads.entry(courier).or_default().add(order.slot);
        }
    }
    loads
}

/// Gives each `pending` order without a courier, by slot then id, to the courier of its region
/// with the fewest orders of that day and slot so far (ties: fewest of the day, then the lowest
/// user id), counting the assignments made before it. Orders of a region without a courier stay
/// pending and are listed in [`Plan::unassignable`].
pub fn plan(orders: &[DayOrder], couriers: &[Courier]) -> Plan {
    let mut loads = loads(orders);
    let mut pending: Vec<&DayOrder> = orders
        .iter()
        .filter(|order| order.state == OrderState::Pending && order.courier.is_none())
        .collect();
    pending.sort_by_key(|order| (order.slot, order.id));
    let mut plan = Plan::default();
    for order in pending {
        let chosen = couriers
            .iter()
            .filter(|courier| courier.region_id == order.region_id)
            .map(|courier| {
                let load = loads.get(&courier.id).copied().unwrap_or_default();
                (load.slot(order.slot), load.day(), courier.id)
            })
            .min();
        match chosen {
            Some((_, _, courier)) => {
                loads.entry(courier).or_default().add(order.slot);
                plan.assignments.push((order.id, courier));
            }
            None => plan.unassignable.push(order.id),
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn pending(id: i64, region_id: i64, slot: Slot) -> DayOrder {
        DayOrder {
            id,
            region_id,
            slot,
            state: OrderState::Pending,
            courier: None,
        }
    }

    fn courier(id: u64, region_id: i64) -> Courier {
        Courier {
            id: UserId(id),
            region_id,
        }
    }

    #[test]
    fn ties_go_to_fewest_of_the_day_then_the_lowest_id() {
        let mut orders = vec![DayOrder {
            courier: Some(UserId(5)),
            state: OrderState::Delivered,
            ..pending(1, 1, Slot::Morning)
        }];
        orders.push(pending(2, 1, Slot::Afternoon));
        orders.push(pending(3, 1, Slot::Afternoon));
        orders.push(pending(4, 2, Slot::Morning));
        let plan = plan(&orders, &[courier(5, 1), courier(9, 1)]);
        assert_eq!(
            plan.assignments,
            vec![(2, UserId(9)), (3, UserId(5))],
            "9 has fewer orders of the day, then both have one and 5 is lower"
        );
        assert_eq!(plan.unassignable, vec![4]);
    }

    #[test]
    fn cancelled_orders_are_no_load_and_assigned_ones_are_left_alone() {
        let orders = [
            DayOrder {
                courier: Some(UserId(5)),
                state: OrderState::Cancelled,
                ..pending(1, 1, Slot::Morning)
            },
            DayOrder {
                courier: Some(UserId(9)),
                state: OrderState::Assigned,
                ..pending(2, 1, Slot::Morning)
            },
            pending(3, 1, Slot::Morning),
        ];
        let plan = plan(&orders, &[courier(5, 1), courier(9, 1)]);
        assert_eq!(plan.assignments, vec![(3, UserId(5))]);
    }

    fn slot() -> impl Strategy<Value = Slot> {
        prop_oneof![Just(Slot::Morning), Just(Slot::Afternoon)]
    }

    /// Pending orders in regions 1–3 and couriers in regions 1–3 (some regions may have none).
    fn day() -> impl Strategy<Value = (Vec<DayOrder>, Vec<Courier>)> {
        (
            prop::collection::vec((1..=3i64, slot()), 0..60),
            prop::collection::vec(1..=3i64, 0..8),
        )
            .prop_map(|(orders, regions)| {
                let orders = orders
                    .into_iter()
                    .enumerate()
                    .map(|(i, (region, slot))| pending(i as i64 + 1, region, slot))
                    .collect();
                let couriers = regions
                    .into_iter()
                    .enumerate()
                    .map(|(i, region)| courier(100 + i as u64, region))
                    .collect();
                (orders, couriers)
            })
    }

    proptest! {
        /// From equal (empty) loads, the couriers of a region end each slot within one order of
        /// each other.
        #[test]
        fn loads_within_a_region_and_slot_differ_by_at_most_one((orders, couriers) in day()) {
            let plan = plan(&orders, &couriers);
            let slot_of: HashMap<i64, Slot> = orders.iter().map(|o| (o.id, o.slot)).collect();
            let mut counts: HashMap<(UserId, Slot), u32> = HashMap::new();
            for (order, courier) in &plan.assignments {
                *counts.entry((*courier, slot_of[order])).or_default() += 1;
            }
            for region in 1..=3 {
                for slot in Slot::ALL {
                    let of_region: Vec<u32> = couriers
                        .iter()
                        .filter(|c| c.region_id == region)
                        .map(|c| counts.get(&(c.id, slot)).copied().unwrap_or(0))
                        .collect();
                    if let (Some(min), Some(max)) = (of_region.iter().min(), of_region.iter().max()) {
                        prop_assert!(max - min <= 1, "region {region} {slot:?}: {of_region:?}");
                    }
                }
            }
        }

        /// Every pending order is either assigned to a courier of its own region or listed as
        /// unassignable because its region has none; never both, never twice.
        #[test]
        fn never_assigns_across_regions((orders, couriers) in day()) {
            let plan = plan(&orders, &couriers);
            let region_of: HashMap<i64, i64> = orders.iter().map(|o| (o.id, o.region_id)).collect();
            let courier_region: HashMap<UserId, i64> =
                couriers.iter().map(|c| (c.id, c.region_id)).collect();
            for (order, courier) in &plan.assignments {
                prop_assert_eq!(region_of[order], courier_region[courier]);
            }
            for order in &plan.unassignable {
                prop_assert!(!couriers.iter().any(|c| c.region_id == region_of[order]));
            }
            let mut decided: Vec<i64> = plan
                .assignments
                .iter()
                .map(|(order, _)| *order)
                .chain(plan.unassignable.iter().copied())
                .collect();
            decided.sort_unstable();
            let mut all: Vec<i64> = orders.iter().map(|o| o.id).collect();
            all.sort_unstable();
            prop_assert_eq!(decided, all);
        }

        /// The plan depends only on the facts, not on the order they are listed in.
        #[test]
        fn deterministic((orders, couriers) in day(), seed in any::<u64>()) {
            let first = plan(&orders, &couriers);
            let mut shuffled_orders = orders.clone();
            let mut shuffled_couriers = couriers.clone();
            let rotate = |len: usize| if len == 0 { 0 } else { (seed as usize) % len };
            shuffled_orders.rotate_left(rotate(orders.len()));
            shuffled_orders.reverse();
            shuffled_couriers.rotate_left(rotate(couriers.len()));
            prop_assert_eq!(&first, &plan(&orders, &couriers));
            prop_assert_eq!(first, plan(&shuffled_orders, &shuffled_couriers));
        }
    }
}

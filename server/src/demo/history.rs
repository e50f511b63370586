//! The plant's past, day by day: each customer drinks at their own pace (scaled by the month,
//! the weekday and who they are, see [`traffic`](super::traffic)), buys a new book of their
//! package through [`issuance::issue_order`] when the last one is used up or expired, and has
//! their water brought by their regular courier (or fetches it at a store counter), whose device
//! records a signed redemption at a working hour. Devices push what they recorded through the
//! real sync path every week of the story, so memory stays flat at any scale.

use std::time::{Duration, Instant};

use shuipiao_shared::event::EventBody;
use shuipiao_shared::ids::{BookId, ProductCode};
use shuipiao_shared::sync::MAX_PUSH_EVENTS;

use super::traffic::{self, Dice, Drinker};
use super::{DemoDevice, DemoError, Progress};
use crate::config::MasterKey;
use crate::issuance::{self, IssueOrder};
use crate::local_time;
use crate::store::Store;
use crate::store::models::Package;

/// A book a customer holds, as far as the story needs to know it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Held {
    pub id: BookId,
    pub product: ProductCode,
    pub left: u16,
    pub valid_until: i64,
}

/// One customer of the story.
pub(super) struct Customer {
    pub account_id: i64,
    /// Index of the customer's region.
    pub region: usize,
    /// The package they buy again when their books run out; `None` for staff whose enterprise
    /// buys for them.
    pub package: Option<usize>,
    /// Bottles a week in a mild month.
    pub weekly: f64,
    pub drinker: Drinker,
    /// First day of the story they drink on, and the first they no longer do (their later
    /// deliveries are orders, made elsewhere).
    pub from_day: u32,
    pub until_day: u32,
    /// Device indexes: their regular courier's phone and their store's counter.
    pub courier: usize,
    pub counter: usize,
    pub books: Vec<Held>,
}

impl Customer {
    /// Drops used-up and expired books as of `at`.
    pub fn live_books(&mut self, at: i64) -> &mut Vec<Held> {
        self.books.retain(|b| b.left > 0 && b.valid_until > at);
        &mut self.books
    }
}

/// The books a customer received from an issued order.
pub(super) fn held(books: &[crate::store::models::NewBook]) -> Vec<Held> {
    books
        .iter()
        .map(|b| Held {
            id: b.id,
            product: b.product,
            left: b.units,
            valid_until: i64::from(b.valid_until),
        })
        .collect()
}

/// Where and how long the story runs.
pub(super) struct Story<'a> {
    pub store: &'a Store,
    pub master: &'a MasterKey,
    pub packages: &'a [Package],
    /// The `YYYY-MM-DD` of day 0.
    pub first_day: String,
    /// Days before today; the story then goes on today until `now`.
    pub days: u32,
    /// No purchase is dated before this (the issuer key's first second).
    pub earliest: i64,
    /// When devices push (the real clock of the demo).
    pub now: i64,
}

/// What the story made, and where its time went.
#[derive(Debug, Default)]
pub(super) struct Told {
    pub books: usize,
    pub events: usize,
    pub issuing: Duration,
    pub pushing: Duration,
}

/// Average bottles per delivery (one, a quarter of the time two).
const BOTTLES_PER_DELIVERY: f64 = 1.25;

/// Runs the story over `customers`, recording on `devices` and pushing every week.
pub(super) async fn tell(
    story: &Story<'_>,
    customers: &mut [Customer],
    devices: &mut [DemoDevice],
    dice: &mut Dice,
    progress: &mut Progress<'_>,
) -> Result<Told, DemoError> {
    let started = Instant::now();
    let mut told = Told::default();
    for day in 0..=story.days {
        let date = local_time::add_days(&story.first_day, i64::from(day)).unwrap_or_default();
        let midnight = local_time::day_start(&date).unwrap_or_default();
        let season = traffic::season(&date);
        let weekday = local_time::weekday(&date).unwrap_or(1);
        let mut deliveries = Vec::new();
        for (idx, customer) in customers.iter().enumerate() {
            if day < customer.from_day || day >= customer.until_day {
                continue;
            }
            let chance = customer.weekly * season * traffic::weekday(weekday, customer.drinker)
                / 7.0
                / BOTTLES_PER_DELIVERY;
            if dice.unit() >= chance {
                continue;
            }
            let bottles: u16 = if dice.below(4) == 0 { 2 } else { 1 };
            let at = midnight + traffic::time_of_day(dice) as i64;
            if at < story.now {
                deliveries.push((at, idx, bottles));
            }
        }
        // Each device records in time order, as a phone does.
        deliveries.sort_unstable();
        for (at, idx, bottles) in deliveries {
            let customer = &mut customers[idx];
            if customer.live_books(at).is_empty() {
                let Some(package) = customer.package else {
                    continue;
                };
                // Bought in the wallet some hours before the courier came.
                let bought = (at - 3_600 - dice.below(20 * 3_600) as i64).max(story.earliest);
                let order = IssueOrder {
                    account_id: customer.account_id,
                    package_id: story.packages[package].id,
                    quantity: 1,
                    allocations: Vec::new(),
                };
                let issuing = Instant::now();
                let issued =
                    issuance::issue_order(story.store, story.master, &order, None, bought).await?;
                told.issuing += issuing.elapsed();
                told.books += issued.books.len();
                customer.books.extend(held(&issued.books));
            }
            let Some(book) = customer.books.first_mut() else {
                continue;
            };
            let units = bottles.min(book.left);
            book.left -= units;
            let device = if dice.below(6) == 0 {
                customer.counter
            } else {
                customer.courier
            };
            devices[device].record(
                at as u64,
                EventBody::Redemption {
                    book_id: book.id,
                    units,
                    product: book.product,
                },
                dice,
            );
        }
        let last = day == story.days;
        if day % 7 == 6 || last {
            let pushing = Instant::now();
            told.events += push_pending(story.store, devices, story.now).await?;
            told.pushing += pushing.elapsed();
        }
        if day % 28 == 27 || last {
            progress(format!(
                "history: day {}/{} ({date}), {} books bought, {} events pushed, {:.1} s (issuing {:.1} s, pushing {:.1} s)",
                day,
                story.days,
                told.books,
                told.events,
                started.elapsed().as_secs_f64(),
                told.issuing.as_secs_f64(),
                told.pushing.as_secs_f64(),
            ));
        }
    }
    Ok(told)
}

/// Pushes every device's recorded events through the real sync path, as many at a time as a
/// device may; returns how many.
pub(super) async fn push_pending(
    store: &Store,
    devices: &mut [DemoDevice],
    now: i64,
) -> Result<usize, DemoError> {
    let mut pushed = 0;
    for device in devices {
        for batch in device.pending.chunks(MAX_PUSH_EVENTS) {
            crate::sync::push(store, &device.device, batch, now).await?;
            pushed += batch.len();
        }
        device.pending.clear();
    }
    Ok(pushed)
}

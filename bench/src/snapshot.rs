//! Status snapshot and daily delta for a plant's books: encoded size against the goals, root
//! signature check and decode, the write into a device's store, and the memory it takes.
//!
//! The sets are spread pseudo-randomly over the book ids (1 % revoked, 4 % used up), which is
//! the worst case for the roaring encoding: real used-up books cluster by issue date.

use std::time::Instant;

use roaring::RoaringTreemap;
use shuipiao_shared::status::{StatusDelta, StatusSets, StatusSnapshot};

use crate::device::{self, Device};
use crate::{Cell, Options, Table, measure};

/// Goal for the snapshot of a million books, in bytes (2 MB).
pub const SNAPSHOT_GOAL: u64 = 2_000_000;
/// Goal for a daily delta of 5,000 changes, in bytes (10 KB).
pub const DELTA_GOAL: u64 = 10_000;

/// Measures every book count of `options`.
pub fn run(options: &Options) -> anyhow::Result<Table> {
    let mut table = Table::new(
        "snapshot: signed status snapshot and daily delta on a device",
        &[
            "books",
            "flagged",
            "snapshot bytes",
            "vs 2 MB",
            "delta changes",
            "delta bytes",
            "vs 10 KB",
            "open ms",
            "apply ms",
            "delta ms",
            "RSS MiB",
            "peak +MiB",
        ],
    );
    let root = device::root();
    for &books in &options.snapshot_books {
        let old = StatusSnapshot {
            seq: 1,
            generated_at: device::NOW - 86_400,
            sets: spread_sets(books),
        };
        let new = StatusSnapshot {
            seq: 2,
            generated_at: device::NOW,
            sets: a_day_later(&old.sets, books, options.delta_changes),
        };
        let snapshot_bytes = old.sign(&root);
        let delta = old.delta_to(&new);
        let changes =
            delta.revoked_added.len() + delta.used_up_added.len() + delta.used_up_removed.len();
        let delta_bytes = delta.sign(&root);
        let device = Device::enrolled()?;
        let root_public = root.verifying_key();

        measure::reset_peak();
        let before = measure::memory();
        let started = Instant::now();
        let opened = StatusSnapshot::open(&snapshot_bytes, &root_public)?;
        let open_ms = started.elapsed().as_secs_f64() * 1000.0;
        let started = Instant::now();
        device.apply_snapshot(&opened)?;
        let apply_ms = started.elapsed().as_secs_f64() * 1000.0;
        let started = Instant::now();
        let mut held = opened;
        let opened_delta = StatusDelta::open(&delta_bytes, &root_public)?;
        device.apply_delta(&opened_delta)?;
        held.apply(&opened_delta)?;
        let delta_ms = started.elapsed().as_secs_f64() * 1000.0;
        let after = measure::memory();
        anyhow::ensure!(
            held == new,
            "the delta did not move the sets to the new day"
        );

        table.rows.push(vec![
            Cell::count(books as f64),
            Cell::count((old.sets.revoked.len() + old.sets.used_up.len()) as f64),
            Cell::count(snapshot_bytes.len() as f64),
            Cell::Ratio(snapshot_bytes.len() as f64 / SNAPSHOT_GOAL as f64),
            Cell::count(changes as f64),
            Cell::count(delta_bytes.len() as f64),
            Cell::Ratio(delta_bytes.len() as f64 / DELTA_GOAL as f64),
            Cell::figure(open_ms, 1),
            Cell::figure(apply_ms, 1),
            Cell::figure(delta_ms, 1),
            Cell::figure(measure::mib(after.rss), 1),
            Cell::figure(measure::mib(after.peak.saturating_sub(before.rss)), 1),
        ]);
    }
    table.notes = vec![
        "Goals: snapshot of 1e6 books ≤ 2 MB; daily delta of 5k changes ≤ 10 KB (ratios ≤ 1.00× meet them).".to_owned(),
        "open = root signature check and decode; apply = one book_status row per flagged book in \
         one transaction of the device's encrypted store (synchronous=FULL); delta = open the \
         delta, write its rows and move the held sets."
            .to_owned(),
        "RSS is this process after the steps; peak +MiB is its peak (VmHWM, reset before the \
         steps) above the RSS before them: what holding and applying the snapshot costs a device."
            .to_owned(),
    ];
    Ok(table)
}

/// A small deterministic generator (xorshift64), so every run measures the same sets.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Books 1..=`books`, 1 % revoked and 4 % used up.
fn spread_sets(books: u64) -> StatusSets {
    let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15);
    let mut sets = StatusSets::default();
    for book in 1..=books {
        match rng.next() % 100 {
            0 => {
                sets.revoked.insert(book);
            }
            1..=4 => {
                sets.used_up.insert(book);
            }
            _ => {}
        }
    }
    sets
}

/// `sets` after a day with `changes` changed books: 10 % revoked, 5 % back in use after a
/// void, the rest used up.
fn a_day_later(sets: &StatusSets, books: u64, changes: u64) -> StatusSets {
    let mut rng = Xorshift(0x2545_F491_4F6C_DD1D);
    let mut later = sets.clone();
    let mut changed = RoaringTreemap::new();
    while changed.len() < changes {
        let book = rng.next() % books + 1;
        if changed.contains(book) || later.revoked.contains(book) {
            continue;
        }
        let done = match changed.len() % 20 {
            0 | 1 => {
                later.used_up.remove(book);
                later.revoked.insert(book)
            }
            2 => later.used_up.remove(book),
            _ => later.used_up.insert(book),
        };
        if done {
            changed.insert(book);
        }
    }
    later
}

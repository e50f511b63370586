//! Status snapshot and daily delta for a plant's books: encoded size against the goals, root
//! signature check and decode, loading the snapshot into a device's store the way the sync
//! client does, and the memory it takes.
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
/// Goal for loading the snapshot of a million books on a device, in milliseconds.
pub const LOAD_GOAL_MS: f64 = 1000.0;
/// Goal for the device's resident memory while loading it, in bytes (80 MB).
pub const RSS_GOAL: u64 = 80_000_000;

/// Measures every book count of `options`.
pub fn run(options: &Options) -> anyhow::Result<Table> {
    let mut table = Table::new(
        "snapshot: signed status snapshot and daily delta, loaded on a device",
        &[
            "books",
            "flagged",
            "snapshot bytes",
            "vs 2 MB",
            "delta changes",
            "delta bytes",
            "vs 10 KB",
            "open ms",
            "load ms",
            "vs 1 s",
            "peak RSS MiB",
            "peak +MiB",
            "vs 80 MB",
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
        let mut moved = StatusSnapshot::open(&snapshot_bytes, &root.verifying_key())?;
        moved.apply(&StatusDelta::open(&delta_bytes, &root.verifying_key())?)?;
        anyhow::ensure!(
            moved == new,
            "the delta did not move the sets to the new day"
        );
        drop((moved, new));

        let started = Instant::now();
        StatusSnapshot::open(&snapshot_bytes, &root.verifying_key())?;
        let open_ms = started.elapsed().as_secs_f64() * 1000.0;

        let device = Device::enrolled()?;
        measure::reset_peak();
        let before = measure::memory();
        let started = Instant::now();
        let rows = device.load_snapshot(&snapshot_bytes)?;
        let load_ms = started.elapsed().as_secs_f64() * 1000.0;
        let after = measure::memory();
        let flagged = old.sets.revoked.len() + old.sets.used_up.len();
        anyhow::ensure!(rows == flagged, "{rows} rows written for {flagged} books");

        table.rows.push(vec![
            Cell::count(books as f64),
            Cell::count(flagged as f64),
            Cell::count(snapshot_bytes.len() as f64),
            Cell::Ratio(snapshot_bytes.len() as f64 / SNAPSHOT_GOAL as f64),
            Cell::count(changes as f64),
            Cell::count(delta_bytes.len() as f64),
            Cell::Ratio(delta_bytes.len() as f64 / DELTA_GOAL as f64),
            Cell::figure(open_ms, 1),
            Cell::figure(load_ms, 1),
            Cell::Ratio(load_ms / LOAD_GOAL_MS),
            Cell::figure(measure::mib(after.peak), 1),
            Cell::figure(measure::mib(after.peak.saturating_sub(before.rss)), 1),
            Cell::Ratio(after.peak as f64 / RSS_GOAL as f64),
        ]);
    }
    table.notes = vec![
        "Goals: snapshot of 1e6 books ≤ 2 MB; daily delta of 5k changes ≤ 10 KB; loading the \
         1e6-book snapshot on a device ≤ 1 s and ≤ 80 MB resident (ratios ≤ 1.00× meet them)."
            .to_owned(),
        "open = root signature check and decode alone; load = what the sync client does with a \
         downloaded snapshot (store::snapshot::load): check and decode, one book_status row per \
         flagged book and the cursor, in one transaction of the encrypted store \
         (synchronous=FULL), committed."
            .to_owned(),
        "peak RSS is this whole process's peak (VmHWM, reset just before the load; it includes \
         the harness's own copies of the sets); peak +MiB is that peak above the RSS before \
         the load: what loading costs a device."
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

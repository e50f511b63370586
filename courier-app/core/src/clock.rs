//! Injected time and randomness, so the engine runs deterministically in tests.
//!
//! [`SystemClock`] and [`OsRandom`] are the production sources; [`TestClock`] is a settable clock
//! whose clones share one time, and [`CountingIds`] yields predictable id bytes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Unix time in milliseconds.
    fn now_millis(&self) -> u64;

    /// Unix time in seconds.
    fn now_secs(&self) -> u64 {
        self.now_millis() / 1000
    }
}

/// The device clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A clock tests set and advance; clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct TestClock {
    millis: Arc<AtomicU64>,
}

impl TestClock {
    /// A clock at `unix_secs`.
    pub fn at_secs(unix_secs: u64) -> TestClock {
        TestClock {
            millis: Arc::new(AtomicU64::new(unix_secs * 1000)),
        }
    }

    /// Moves the clock by `millis` (forwards).
    pub fn advance_millis(&self, millis: u64) {
        self.millis.fetch_add(millis, Ordering::SeqCst);
    }

    /// Sets the clock (also backwards, to simulate a rollback).
    pub fn set_secs(&self, unix_secs: u64) {
        self.millis.store(unix_secs * 1000, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now_millis(&self) -> u64 {
        self.millis.load(Ordering::SeqCst)
    }
}

/// Random bytes for UUIDv7 event ids.
pub trait IdSource: Send {
    /// Ten random bytes.
    fn random10(&mut self) -> [u8; 10];
}

/// Operating-system randomness.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl IdSource for OsRandom {
    fn random10(&mut self) -> [u8; 10] {
        let mut bytes = [0u8; 10];
        if getrandom::fill(&mut bytes).is_err() {
            // The timestamp part still orders ids; a counter-like fallback keeps them distinct.
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            bytes[..4].copy_from_slice(&nanos.to_be_bytes());
        }
        bytes
    }
}

/// Predictable id bytes for tests: a counter.
#[derive(Debug, Clone, Default)]
pub struct CountingIds {
    next: u64,
}

impl IdSource for CountingIds {
    fn random10(&mut self) -> [u8; 10] {
        self.next += 1;
        let mut bytes = [0u8; 10];
        bytes[2..].copy_from_slice(&self.next.to_be_bytes());
        bytes
    }
}

//! The device clock of the harness: the wall clock plus an offset the test moves, so a device
//! can be "30 hours later" without sleeping while the in-process server keeps real time.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use shuipiao_courier::clock::{Clock, SystemClock};

/// Wall-clock time shifted by a settable offset; clones share the offset.
#[derive(Debug, Clone, Default)]
pub struct ShiftedClock {
    offset_millis: Arc<AtomicI64>,
}

impl ShiftedClock {
    /// A clock at wall time.
    pub fn new() -> ShiftedClock {
        ShiftedClock::default()
    }

    /// Moves the clock forward by `secs`.
    pub fn advance_secs(&self, secs: u64) {
        let millis = i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        self.offset_millis.fetch_add(millis, Ordering::SeqCst);
    }

    /// Sets the offset from wall time (negative: a clock set back).
    pub fn set_offset_secs(&self, secs: i64) {
        self.offset_millis
            .store(secs.saturating_mul(1000), Ordering::SeqCst);
    }

    /// Current offset from wall time, in seconds.
    pub fn offset_secs(&self) -> i64 {
        self.offset_millis.load(Ordering::SeqCst) / 1000
    }
}

impl Clock for ShiftedClock {
    fn now_millis(&self) -> u64 {
        let wall = i64::try_from(SystemClock.now_millis()).unwrap_or(i64::MAX);
        u64::try_from(wall.saturating_add(self.offset_millis.load(Ordering::SeqCst))).unwrap_or(0)
    }
}

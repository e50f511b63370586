//! Small measuring tools: latency percentiles and this process's memory from `/proc`.

use std::time::Duration;

/// The `p`-th quantile (0..=1) of `samples` in milliseconds, nearest rank; 0 when empty.
pub fn percentile_ms(samples: &mut [Duration], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_unstable();
    let idx = ((samples.len() - 1) as f64 * p).round() as usize;
    samples[idx].as_secs_f64() * 1000.0
}

/// Resident memory of this process, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Now (`VmRSS`).
    pub rss: u64,
    /// Peak since start or since [`reset_peak`] (`VmHWM`).
    pub peak: u64,
}

/// Reads `VmRSS` and `VmHWM` from `/proc/self/status`; zeros where there is no procfs.
pub fn memory() -> Memory {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map_or(0, |kib| kib * 1024)
    };
    Memory {
        rss: field("VmRSS:"),
        peak: field("VmHWM:"),
    }
}

/// Starts a new `VmHWM` window (Linux: writing 5 to `clear_refs` resets the peak to the current
/// RSS), so a step's peak is not one an earlier suite left behind. Best effort.
pub fn reset_peak() {
    let _ignored = std::fs::write("/proc/self/clear_refs", "5");
}

/// Bytes as MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

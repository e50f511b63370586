//! Frame → verdict at the door: decode a camera frame with the recommended decoder chain, run
//! the verdict against the local store and commit the signed redemption durably
//! (`synchronous=FULL`) before the green screen — the whole path a courier waits for.
//!
//! Run: `cargo bench -p shuipiao-courier --bench scan`. Prints one table; goal at 1280×720:
//! p50 ≤ 5 ms, p99 ≤ 15 ms. Decoding is the scan loop's (fast pass, retries within
//! `decode::FRAME_BUDGET`). The harness's frame suite (`bench/`) measures the same path and
//! adds the degraded set and the disk's fsync floor; the commit's fsync is what moves most on a
//! loaded machine, so compare figures taken side by side.

use std::num::NonZeroU16;
use std::time::{Duration, Instant};

use shuipiao_courier::decode::{self, Resume};
use shuipiao_courier::engine::{OutcomeKind, ScanInput, ScanSource};
use shuipiao_courier::frame::{FrameSource, SyntheticSource};

#[path = "../tests/engine_support/mod.rs"]
mod engine_support;

use engine_support::{BUCKET, Device, NOW, book, ticket};

const SCANS: u64 = 200;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

fn main() {
    let decoder = decode::recommended();
    let input = ScanInput {
        product: BUCKET,
        quantity: NonZeroU16::MIN,
        source: ScanSource::Camera,
        supervisor_pin: None,
    };
    println!(
        "{:<10} {:>6} {:>8} | {:>9} {:>9} {:>9} | {:>11} {:>11}",
        "frame", "scans", "green", "p50 ms", "p99 ms", "mean ms", "decode p50", "verdict p50"
    );
    for (width, height) in [(640, 480), (1280, 720)] {
        let device = Device::enrolled(&[], NOW);
        let mut engine = device.engine();
        let frames: Vec<_> = (0..SCANS)
            .map(|i| {
                let text = ticket(book(100_000 + i, 10));
                SyntheticSource::new(text, width, height)
                    .seeded(i)
                    .next_frame()
                    .expect("synthetic frame")
            })
            .collect();
        let (mut total, mut decode_only, mut verdict_only) = (vec![], vec![], vec![]);
        let mut green = 0;
        for frame in &frames {
            let start = Instant::now();
            let texts = decoder
                .decode_within(frame, decode::FRAME_BUDGET, &mut Resume::default())
                .unwrap_or_default();
            let decoded = start.elapsed();
            let Some(text) = texts.first() else {
                continue;
            };
            let outcome = engine.scan(text, &input).expect("scan");
            let elapsed = start.elapsed();
            green += usize::from(outcome.kind == OutcomeKind::Accepted);
            total.push(elapsed);
            decode_only.push(decoded);
            verdict_only.push(elapsed - decoded);
        }
        for series in [&mut total, &mut decode_only, &mut verdict_only] {
            series.sort();
        }
        let mean = total.iter().map(Duration::as_secs_f64).sum::<f64>() / total.len() as f64;
        println!(
            "{:<10} {:>6} {:>8} | {:>9.2} {:>9.2} {:>9.2} | {:>11.2} {:>11.2}",
            format!("{width}×{height}"),
            SCANS,
            green,
            percentile(&total, 0.5),
            percentile(&total, 0.99),
            mean * 1000.0,
            percentile(&decode_only, 0.5),
            percentile(&verdict_only, 0.5),
        );
    }
}

//! Frame → verdict at the door: decode a camera frame with the recommended decoder chain, decide
//! against the device's store and commit the signed redemption durably (`synchronous=FULL`)
//! before the green screen: the whole path a courier waits for. Frames are clean synthetic
//! camera views of distinct tickets, rendered before the clock starts.

use std::num::NonZeroU16;
use std::time::Instant;

use shuipiao_courier::decode::{self, Decoder};
use shuipiao_courier::engine::{OutcomeKind, ScanInput, ScanSource};
use shuipiao_courier::frame::{FrameSource, SyntheticSource};

use crate::device::{self, Device};
use crate::plant::PRODUCT;
use crate::{Cell, Options, Table, measure};

/// Frame sizes couriers' phones deliver: VGA (old or throttled phones) and 720p.
pub const SIZES: [(u32, u32); 2] = [(640, 480), (1280, 720)];
/// Goal for the whole path at the median, in milliseconds.
pub const P50_GOAL_MS: f64 = 5.0;
/// Goal for the whole path at p99, in milliseconds.
pub const P99_GOAL_MS: f64 = 15.0;

/// Scans `options.frames` frames per size.
pub fn run(options: &Options) -> anyhow::Result<Table> {
    let mut table = Table::new(
        "frame: camera frame → verdict with the durable outbox write",
        &[
            "frame",
            "scans",
            "accepted",
            "p50 ms",
            "p99 ms",
            "decode p50 ms",
            "verdict p50 ms",
            "p50 vs 5 ms",
            "p99 vs 15 ms",
        ],
    );
    let decoder = decode::recommended();
    let input = ScanInput {
        product: PRODUCT,
        quantity: NonZeroU16::MIN,
        source: ScanSource::Camera,
        supervisor_pin: None,
    };
    for (width, height) in SIZES {
        let device = Device::enrolled()?;
        let mut engine = device.engine()?;
        let frames = (0..options.frames)
            .map(|idx| {
                let text = device::ticket(100_000 + idx).to_qr_text();
                SyntheticSource::new(text, width, height)
                    .seeded(idx)
                    .next_frame()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (mut total, mut decode_only, mut verdict_only) = (vec![], vec![], vec![]);
        let mut accepted = 0;
        for frame in &frames {
            let started = Instant::now();
            let texts = decoder.decode(frame)?;
            let decoded = started.elapsed();
            let text = texts
                .first()
                .ok_or_else(|| anyhow::anyhow!("no QR code read in a clean frame"))?;
            let outcome = engine.scan(text, &input)?;
            let elapsed = started.elapsed();
            accepted += u32::from(outcome.kind == OutcomeKind::Accepted);
            total.push(elapsed);
            decode_only.push(decoded);
            verdict_only.push(elapsed - decoded);
        }
        let p50 = measure::percentile_ms(&mut total, 0.5);
        let p99 = measure::percentile_ms(&mut total, 0.99);
        table.rows.push(vec![
            Cell::text(format!("{width}×{height}")),
            Cell::count(frames.len() as f64),
            Cell::count(accepted),
            Cell::figure(p50, 2),
            Cell::figure(p99, 2),
            Cell::figure(measure::percentile_ms(&mut decode_only, 0.5), 2),
            Cell::figure(measure::percentile_ms(&mut verdict_only, 0.5), 2),
            Cell::Ratio(p50 / P50_GOAL_MS),
            Cell::Ratio(p99 / P99_GOAL_MS),
        ]);
    }
    table.notes = vec![format!(
        "Goal at 1280×720: p50 ≤ {P50_GOAL_MS} ms, p99 ≤ {P99_GOAL_MS} ms for the whole path. \
         verdict = parse, checks against the local store, sign the event and commit it."
    )];
    Ok(table)
}

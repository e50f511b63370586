//! Frame → verdict at the door: decode a camera frame with the recommended decoder chain the
//! way the scan loop does (fast first pass, retries within the per-frame budget, the next frame
//! resuming them), decide against the device's store and commit the signed redemption durably
//! (`synchronous=FULL`) before the green screen: the whole path a courier waits for.
//!
//! Two kinds of rows per frame size: clean synthetic camera views of distinct tickets, and the
//! decoder benchmark's degraded set (`degrade::degraded_set`) rendered with real tickets, each
//! held still in front of the camera: the same frame again until the chain reads it, at most
//! [`MAX_FRAMES`] frames. Frames are rendered before the clock starts. Beside each scan the
//! suite times a bare 4 KiB write and `fdatasync` in the store's directory: the durable commit
//! cannot be faster than that, and on a shared machine it is what moves the most.

use std::fs::File;
use std::io::Write;
use std::num::NonZeroU16;
use std::time::{Duration, Instant};

use shuipiao_courier::decode::{self, Resume};
use shuipiao_courier::degrade::{self, degraded_set};
use shuipiao_courier::engine::{OutcomeKind, ScanInput, ScanSource};
use shuipiao_courier::frame::{Frame, FrameSource, SyntheticSource};

use crate::device::{self, Device};
use crate::plant::PRODUCT;
use crate::{Cell, Options, Table, measure};

/// Frame sizes couriers' phones deliver: VGA (old or throttled phones) and 720p.
pub const SIZES: [(u32, u32); 2] = [(640, 480), (1280, 720)];
/// Goal for the whole path at the median, in milliseconds.
pub const P50_GOAL_MS: f64 = 5.0;
/// Goal for the whole path at p99, in milliseconds.
pub const P99_GOAL_MS: f64 = 15.0;
/// Frames a degraded view is held before the suite gives up on it (a third of a second).
pub const MAX_FRAMES: usize = 10;

/// What one row measures.
struct Scene {
    label: String,
    /// One still view of a distinct ticket per scan.
    frames: Vec<Frame>,
}

/// Scans `options.frames` clean frames per size, and the degraded set if `options` asks.
pub fn run(options: &Options) -> anyhow::Result<Table> {
    let mut table = Table::new(
        "frame: camera frame → verdict with the durable outbox write",
        &[
            "frames",
            "scans",
            "read",
            "accepted",
            "p50 ms",
            "p99 ms",
            "decode p50 ms",
            "frame decode p99 ms",
            "verdict p50 ms",
            "fsync p50 ms",
            "most frames",
            "p50 vs 5 ms",
            "p99 vs 15 ms",
        ],
    );
    for (width, height) in SIZES {
        let clean = (0..options.frames)
            .map(|idx| {
                let text = device::ticket(100_000 + idx).to_qr_text();
                SyntheticSource::new(text, width, height)
                    .seeded(idx)
                    .next_frame()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut scenes = vec![Scene {
            label: format!("{width}×{height} clean"),
            frames: clean,
        }];
        if options.degraded_frames {
            let degraded = degraded_set()
                .into_iter()
                .filter(|sample| (sample.width, sample.height) == (width, height))
                .enumerate()
                .map(|(idx, sample)| {
                    let text = device::ticket(200_000 + idx as u64).to_qr_text();
                    degrade::render(&text, width, height, &sample.degradation, sample.seed)
                })
                .collect::<Result<Vec<_>, _>>()?;
            scenes.push(Scene {
                label: format!("{width}×{height} degraded set"),
                frames: degraded,
            });
        }
        for scene in scenes {
            table.rows.push(measure_scene(&scene)?);
        }
    }
    table.notes = vec![
        format!(
            "Goal at 1280×720: p50 ≤ {P50_GOAL_MS} ms, p99 ≤ {P99_GOAL_MS} ms for the whole \
             path, from the frame that reads the code to the committed verdict. verdict = parse, \
             checks against the local store, sign the event and commit it (one fsync)."
        ),
        format!(
            "Decoding is the scan loop's: the fast first pass, then retries started only within \
             {} ms per frame, the next frame resuming them. frame decode p99 is over every frame \
             fed, read or not; most frames is the longest a view was held before it was read \
             (at most {MAX_FRAMES}); read counts the views read at all.",
            decode::FRAME_BUDGET.as_millis()
        ),
        "fsync p50 is a bare 4 KiB write + fdatasync beside the store, timed after each scan: \
         the floor of the durable commit on this disk at that moment."
            .to_owned(),
    ];
    Ok(table)
}

fn measure_scene(scene: &Scene) -> anyhow::Result<Vec<Cell>> {
    let decoder = decode::recommended();
    let input = ScanInput {
        product: PRODUCT,
        quantity: NonZeroU16::MIN,
        source: ScanSource::Camera,
        supervisor_pin: None,
    };
    let device = Device::enrolled()?;
    let mut engine = device.engine()?;
    let mut probe = File::create(device.db.with_file_name("fsync-probe"))?;
    let (mut total, mut decode_read, mut per_frame, mut verdicts, mut fsyncs) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut read, mut accepted, mut most_frames) = (0u32, 0u32, 0usize);
    for frame in &scene.frames {
        let mut resume = Resume::default();
        for held in 1..=MAX_FRAMES {
            let started = Instant::now();
            let texts = decoder
                .decode_within(frame, decode::FRAME_BUDGET, &mut resume)
                .unwrap_or_default();
            let decoded = started.elapsed();
            per_frame.push(decoded);
            let Some(text) = texts.first() else {
                continue;
            };
            let outcome = engine.scan(text, &input)?;
            let elapsed = started.elapsed();
            read += 1;
            accepted += u32::from(outcome.kind == OutcomeKind::Accepted);
            most_frames = most_frames.max(held);
            total.push(elapsed);
            decode_read.push(decoded);
            verdicts.push(elapsed - decoded);
            break;
        }
        fsyncs.push(fsync_probe(&mut probe)?);
    }
    let p50 = measure::percentile_ms(&mut total, 0.5);
    let p99 = measure::percentile_ms(&mut total, 0.99);
    Ok(vec![
        Cell::text(scene.label.clone()),
        Cell::count(scene.frames.len() as f64),
        Cell::count(f64::from(read)),
        Cell::count(f64::from(accepted)),
        Cell::figure(p50, 2),
        Cell::figure(p99, 2),
        Cell::figure(measure::percentile_ms(&mut decode_read, 0.5), 2),
        Cell::figure(measure::percentile_ms(&mut per_frame, 0.99), 2),
        Cell::figure(measure::percentile_ms(&mut verdicts, 0.5), 2),
        Cell::figure(measure::percentile_ms(&mut fsyncs, 0.5), 2),
        Cell::count(most_frames as f64),
        Cell::Ratio(p50 / P50_GOAL_MS),
        Cell::Ratio(p99 / P99_GOAL_MS),
    ])
}

/// Appends 4 KiB to `probe` and waits for the disk: one durable write's floor.
fn fsync_probe(probe: &mut File) -> anyhow::Result<Duration> {
    let started = Instant::now();
    probe.write_all(&[0x5a; 4096])?;
    probe.sync_data()?;
    Ok(started.elapsed())
}

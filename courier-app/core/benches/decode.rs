//! Decoder benchmark on the fixed degraded set: for each decoder, degradation class and frame
//! size, the share decoded correctly and the decode time (mean / p50 / p99), plus panics.
//! The scan pipeline's decoder is chosen from this table. Run with
//! `cargo bench -p shuipiao-courier --bench decode`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use shuipiao_courier::decode::{
    Chain, DecodeError, Decoder, Enhanced, Enhancement, Rqrr, Rxing, recommended,
};
use shuipiao_courier::degrade::{Class, FRAME_SIZES, degraded_set};
use shuipiao_courier::frame::Frame;

/// Outcome of one decode.
struct Run {
    correct: bool,
    panicked: bool,
    time: Duration,
}

fn main() {
    let started = Instant::now();
    let set = degraded_set();
    let frames: Vec<(Class, (u32, u32), String, Frame)> = set
        .iter()
        .map(|s| {
            let frame = s.render().expect("degraded set renders");
            (s.class, (s.width, s.height), s.text.clone(), frame)
        })
        .collect();
    println!(
        "rendered {} frames in {:.1} s",
        frames.len(),
        started.elapsed().as_secs_f64()
    );

    let local = Enhancement::LocalContrast { radius: 12 };
    let third = Enhancement::Downscale { factor: 3 };
    let decoders: Vec<(&str, Box<dyn Decoder>)> = vec![
        ("rqrr", Box::new(Rqrr)),
        ("rxing", Box::new(Rxing::plain())),
        ("rxing-closed", Box::new(Rxing::closed())),
        (
            "downscale+rxing",
            Box::new(Enhanced::new(third, Rxing::plain())),
        ),
        (
            "downscale+rxing-closed",
            Box::new(Enhanced::new(third, Rxing::closed())),
        ),
        (
            "double+stretch+rxing",
            Box::new(Enhanced::new(
                Enhancement::Double,
                Enhanced::new(Enhancement::Stretch, Rxing::plain()),
            )),
        ),
        (
            "stretch+rxing",
            Box::new(Enhanced::new(Enhancement::Stretch, Rxing::plain())),
        ),
        (
            "local+rxing",
            Box::new(Enhanced::new(local, Rxing::plain())),
        ),
        (
            "smooth+rxing",
            Box::new(Enhanced::new(
                Enhancement::Smooth { radius: 1 },
                Rxing::plain(),
            )),
        ),
        (
            "chain(rxing→rqrr)",
            Box::new(Chain::new(vec![Box::new(Rxing::plain()), Box::new(Rqrr)])),
        ),
        ("recommended", Box::new(recommended())),
    ];
    println!("\n| decoder | class | size | n | decoded | mean ms | p50 ms | p99 ms | panics |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, decoder) in &decoders {
        let mut by_cell: BTreeMap<(Class, (u32, u32)), Vec<Run>> = BTreeMap::new();
        for (class, size, text, frame) in &frames {
            let start = Instant::now();
            let result = decoder.decode(frame);
            let time = start.elapsed();
            by_cell.entry((*class, *size)).or_default().push(Run {
                correct: matches!(&result, Ok(texts) if texts.iter().any(|t| t == text)),
                panicked: matches!(result, Err(DecodeError::Panicked { .. })),
                time,
            });
        }
        for ((class, (w, h)), runs) in &by_cell {
            print_row(name, class.name(), &format!("{w}×{h}"), runs);
        }
        for (w, h) in FRAME_SIZES {
            let all: Vec<&Run> = by_cell
                .iter()
                .filter(|((_, size), _)| *size == (w, h))
                .flat_map(|(_, runs)| runs)
                .collect();
            print_row(name, "**all**", &format!("{w}×{h}"), all);
        }
    }
    println!("\ntotal {:.1} s", started.elapsed().as_secs_f64());
}

fn print_row<'a>(decoder: &str, class: &str, size: &str, runs: impl IntoIterator<Item = &'a Run>) {
    let runs: Vec<&Run> = runs.into_iter().collect();
    let mut ms: Vec<f64> = runs.iter().map(|r| r.time.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let n = runs.len();
    let pct = |p: f64| ms[((n as f64 - 1.0) * p).round() as usize];
    let correct = runs.iter().filter(|r| r.correct).count();
    let panics = runs.iter().filter(|r| r.panicked).count();
    println!(
        "| {decoder} | {class} | {size} | {n} | {:.1} % | {:.2} | {:.2} | {:.2} | {panics} |",
        100.0 * correct as f64 / n as f64,
        ms.iter().sum::<f64>() / n as f64,
        pct(0.5),
        pct(0.99),
    );
}

//! Regression gate for the scan pipeline: the recommended decoder must keep reading the
//! degraded set. Debug builds render slowly, so this runs a fixed, evenly spread subset that
//! still contains every class and both frame sizes; the full set is measured by
//! `benches/decode.rs`.

use shuipiao_courier::decode::{Decoder, recommended};
use shuipiao_courier::degrade::{Class, degraded_set};

/// Every `STRIDE`-th sample of the set.
const STRIDE: usize = 5;

#[test]
fn recommended_decoder_reads_the_degraded_set() {
    let set = degraded_set();
    let decoder = recommended();
    let subset: Vec<_> = set.iter().step_by(STRIDE).collect();
    let mut misses = Vec::new();
    for sample in &subset {
        let frame = sample.render().expect("degraded set renders");
        match decoder.decode(&frame) {
            Ok(texts) if texts.contains(&sample.text) => {}
            other => misses.push(format!(
                "{} {}x{} seed {}: {other:?}",
                sample.class.name(),
                sample.width,
                sample.height,
                sample.seed
            )),
        }
    }
    let classes: std::collections::BTreeSet<Class> = subset.iter().map(|s| s.class).collect();
    assert_eq!(classes.len(), Class::ALL.len(), "subset lost a class");
    // Threshold from the bench (see the crate notes): at most one miss in the subset.
    assert!(
        misses.len() <= 1,
        "{} of {} missed:\n{}",
        misses.len(),
        subset.len(),
        misses.join("\n")
    );
}

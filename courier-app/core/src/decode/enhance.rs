//! Frame clean-up before a retry. rxing's binariser loses codes whose ink and paper differ by
//! a few dozen grey levels (faded print, dim rooms, shadows) even when a person reads them
//! easily; stretching the contrast first recovers most of them (measured in
//! `benches/decode.rs`). Only frames the plain pass missed pay for it.

use super::{DecodeError, Decoder};
use crate::frame::Frame;

/// How to clean a frame up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enhancement {
    /// Global stretch: the 1st and 99th luma percentiles become black and white.
    Stretch,
    /// Local contrast normalisation: each pixel relative to the mean of its neighbourhood
    /// (`radius` px), amplified. Removes shading and shadow edges as well.
    LocalContrast {
        /// Neighbourhood half-width, px; about two QR modules works.
        radius: u32,
    },
    /// Box smoothing over `(2 * radius + 1)²` pixels: averages sensor noise away in dark
    /// rooms, where a module still spans several pixels.
    Smooth {
        /// Box half-width, px.
        radius: u32,
    },
    /// Each `factor`×`factor` block becomes its mean: a smaller frame in which blur and noise
    /// are averaged away while a frame-filling code still spans enough pixels per module.
    Downscale {
        /// Block width, px.
        factor: u32,
    },
    /// Twice the width and height, bilinear, for frames narrower than [`DOUBLE_BELOW_WIDTH`]:
    /// in a VGA frame a ticket's modules are a few pixels wide, and the binariser's fixed-size
    /// blocks read blurred or noisy ones better at twice the size. Wider frames give modules
    /// pixels enough and are skipped.
    Double,
}

/// Frames at least this wide are not doubled ([`Enhancement::Double`]).
pub const DOUBLE_BELOW_WIDTH: u32 = 1280;

impl Enhancement {
    /// Whether this enhancement is worth applying to `frame` at all.
    pub fn applies_to(self, frame: &Frame) -> bool {
        match self {
            Self::Double => frame.width() < DOUBLE_BELOW_WIDTH,
            _ => true,
        }
    }

    /// Returns the enhanced copy of `frame`.
    pub fn apply(self, frame: &Frame) -> Frame {
        let luma = match self {
            Self::Downscale { factor } => return downscale(frame, factor.max(1)),
            Self::Double => return double(frame),
            Self::Stretch => stretch(frame.luma()),
            Self::LocalContrast { radius } => {
                let means = box_means(frame, radius as usize);
                frame
                    .luma()
                    .iter()
                    .zip(means)
                    .map(|(&v, mean)| {
                        (128 + 3 * (i32::from(v) - i32::from(mean))).clamp(0, 255) as u8
                    })
                    .collect()
            }
            Self::Smooth { radius } => box_means(frame, radius as usize),
        };
        // Same dimensions and length as a valid frame: cannot fail.
        Frame::new(frame.width(), frame.height(), luma).unwrap_or_else(|_| frame.clone())
    }
}

fn stretch(luma: &[u8]) -> Vec<u8> {
    let mut histogram = [0usize; 256];
    for &v in luma {
        histogram[usize::from(v)] += 1;
    }
    let percentile = |p: usize| {
        let target = luma.len() * p / 100;
        let mut seen = 0;
        histogram
            .iter()
            .position(|&count| {
                seen += count;
                seen > target
            })
            .unwrap_or(255) as i32
    };
    let (lo, hi) = (percentile(1), percentile(99));
    let span = (hi - lo).max(1);
    let lut: Vec<u8> = (0..256)
        .map(|v| ((v - lo) * 255 / span).clamp(0, 255) as u8)
        .collect();
    luma.iter().map(|&v| lut[usize::from(v)]).collect()
}

/// Mean of each pixel's `(2 * radius + 1)²` neighbourhood (clipped at the borders), in time
/// independent of the radius thanks to a summed-area table.
fn box_means(frame: &Frame, radius: usize) -> Vec<u8> {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let luma = frame.luma();
    // Summed-area table, one row and column of zeros in front.
    let mut sat = vec![0u32; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0u32;
        for x in 0..w {
            row += u32::from(luma[y * w + x]);
            sat[(y + 1) * (w + 1) + x + 1] = sat[y * (w + 1) + x + 1] + row;
        }
    }
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(radius), (y + radius + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(radius), (x + radius + 1).min(w));
            let sum = sat[y1 * (w + 1) + x1] + sat[y0 * (w + 1) + x0]
                - sat[y0 * (w + 1) + x1]
                - sat[y1 * (w + 1) + x0];
            let area = ((x1 - x0) * (y1 - y0)) as u32;
            out.push(u8::try_from(sum / area).unwrap_or(u8::MAX));
        }
    }
    out
}

/// Block means (rounded), dropping the right and bottom edges that do not fill a block. A frame
/// smaller than one block is kept as it is.
fn downscale(frame: &Frame, factor: u32) -> Frame {
    let (width, height) = (frame.width() / factor, frame.height() / factor);
    let (f, stride) = (factor as usize, frame.width() as usize);
    let luma = frame.luma();
    let mut out = Vec::with_capacity(width as usize * height as usize);
    for y in 0..height as usize {
        for x in 0..width as usize {
            let mut sum = f * f / 2;
            for dy in 0..f {
                let start = (y * f + dy) * stride + x * f;
                sum += luma[start..start + f]
                    .iter()
                    .map(|&v| usize::from(v))
                    .sum::<usize>();
            }
            out.push((sum / (f * f)) as u8);
        }
    }
    Frame::new(width, height, out).unwrap_or_else(|_| frame.clone())
}

/// Bilinear doubling: each new pixel is ¾ of its nearest source pixel and ¼ of the next one
/// across, in each direction (edges repeat), in integers.
fn double(frame: &Frame) -> Frame {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let luma = frame.luma();
    // Horizontal pass, weights summing to 4.
    let mut wide = vec![0u16; 2 * w * h];
    for (src, dst) in luma.chunks_exact(w).zip(wide.chunks_exact_mut(2 * w)) {
        for x in 0..w {
            let here = 3 * u16::from(src[x]);
            dst[2 * x] = here + u16::from(src[x.saturating_sub(1)]);
            dst[2 * x + 1] = here + u16::from(src[(x + 1).min(w - 1)]);
        }
    }
    // Vertical pass, weights summing to 16.
    let mut out = vec![0u8; 4 * w * h];
    let row = |y: usize| &wide[y * 2 * w..(y + 1) * 2 * w];
    for y in 0..h {
        let (here, above, below) = (row(y), row(y.saturating_sub(1)), row((y + 1).min(h - 1)));
        for (dy, next) in [(0, above), (1, below)] {
            let dst = &mut out[(2 * y + dy) * 2 * w..(2 * y + dy + 1) * 2 * w];
            for ((d, &a), &b) in dst.iter_mut().zip(here).zip(next) {
                *d = ((3 * a + b + 8) >> 4) as u8;
            }
        }
    }
    Frame::new(2 * w as u32, 2 * h as u32, out).unwrap_or_else(|_| frame.clone())
}

/// Runs another decoder on an enhanced copy of the frame.
pub struct Enhanced<D> {
    enhancement: Enhancement,
    inner: D,
}

impl<D: Decoder> Enhanced<D> {
    /// `inner`, fed with frames cleaned up by `enhancement`.
    pub fn new(enhancement: Enhancement, inner: D) -> Self {
        Self { enhancement, inner }
    }
}

impl<D: Decoder> Decoder for Enhanced<D> {
    fn name(&self) -> &'static str {
        match self.enhancement {
            Enhancement::Stretch => "stretch",
            Enhancement::LocalContrast { .. } => "local-contrast",
            Enhancement::Smooth { .. } => "smooth",
            Enhancement::Downscale { .. } => "downscale",
            Enhancement::Double => "double",
        }
    }

    fn detect(&self, frame: &Frame) -> Result<Vec<String>, DecodeError> {
        if !self.enhancement.applies_to(frame) {
            return Ok(vec![]);
        }
        self.inner.detect(&self.enhancement.apply(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downscale_takes_rounded_block_means_and_drops_partial_blocks() {
        #[rustfmt::skip]
        let luma = vec![
            0, 2, 9, 9, 7,
            1, 2, 9, 8, 7,
        ];
        let frame = Frame::new(5, 2, luma).unwrap();
        let small = Enhancement::Downscale { factor: 2 }.apply(&frame);
        assert_eq!((small.width(), small.height()), (2, 1));
        // (0 + 2 + 1 + 2 + 2) / 4 = 1, (9 + 9 + 9 + 8 + 2) / 4 = 9; the last column is dropped.
        assert_eq!(small.luma(), [1, 9]);
        // Smaller than a block: unchanged.
        assert_eq!(Enhancement::Downscale { factor: 3 }.apply(&frame), frame);
    }

    #[test]
    fn doubling_interpolates_between_pixels_and_skips_wide_frames() {
        let frame = Frame::new(2, 2, vec![0, 200, 0, 200]).unwrap();
        let big = Enhancement::Double.apply(&frame);
        assert_eq!((big.width(), big.height()), (4, 4));
        for row in big.luma().chunks(4) {
            assert_eq!(row, [0, 50, 150, 200]);
        }
        let column = Frame::new(1, 2, vec![0, 160]).unwrap();
        assert_eq!(
            Enhancement::Double.apply(&column).luma(),
            [0, 0, 40, 40, 120, 120, 160, 160]
        );
        assert!(Enhancement::Double.applies_to(&frame));
        let wide = Frame::new(DOUBLE_BELOW_WIDTH, 1, vec![0; DOUBLE_BELOW_WIDTH as usize]).unwrap();
        assert!(!Enhancement::Double.applies_to(&wide));
    }

    #[test]
    fn stretch_maps_percentiles_to_the_full_range() {
        let luma: Vec<u8> = (0..1000)
            .map(|i| if i % 2 == 0 { 120 } else { 150 })
            .collect();
        let frame = Frame::new(100, 10, luma).expect("frame");
        let out = Enhancement::Stretch.apply(&frame);
        assert_eq!(out.luma()[0], 0);
        assert_eq!(out.luma()[1], 255);
    }

    #[test]
    fn smooth_averages_noise_and_keeps_flat_areas() {
        let luma: Vec<u8> = (0..100)
            .map(|i| if i % 2 == 0 { 90 } else { 110 })
            .collect();
        let frame = Frame::new(10, 10, luma).expect("frame");
        let out = Enhancement::Smooth { radius: 1 }.apply(&frame);
        assert!(
            out.luma().iter().all(|&v| (95..=105).contains(&v)),
            "{:?}",
            out.luma()
        );
    }

    #[test]
    fn local_contrast_removes_a_gradient_and_keeps_edges() {
        // A horizontal shading ramp with a dark bar in the middle.
        let (w, h) = (64usize, 8usize);
        let luma = (0..w * h)
            .map(|i| {
                let x = i % w;
                let base = 60 + 2 * x as i32;
                (if (30..34).contains(&x) {
                    base - 40
                } else {
                    base
                }) as u8
            })
            .collect();
        let frame = Frame::new(w as u32, h as u32, luma).expect("frame");
        let out = Enhancement::LocalContrast { radius: 8 }.apply(&frame);
        let at = |x: usize| out.luma()[4 * w + x];
        assert!(
            at(5).abs_diff(at(58)) < 20,
            "shading left: {} vs {}",
            at(5),
            at(58)
        );
        assert!(
            at(31) < 60 && at(20) > 100,
            "edge lost: {} {}",
            at(31),
            at(20)
        );
    }
}

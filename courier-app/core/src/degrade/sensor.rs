//! The camera's electronics after the lens: exposure, the tone curve, read and shot noise,
//! 8-bit quantisation, and JPEG compression (the camera app, or a chat app that re-sent the
//! picture of a ticket).

use super::rng::Rng;
use crate::frame::{Frame, FrameError};

/// Entries in the tone-curve lookup table (linear light in `[0, 1]`).
const TONE_STEPS: usize = 4096;

/// Exposes linear light, applies an sRGB-like tone curve and adds noise in output codes.
/// `noise` is the standard deviation at mid-grey; shot noise makes it grow with brightness
/// (in linear terms) while the tone curve amplifies it in the shadows.
pub(crate) fn expose(linear: &[f32], exposure: f32, noise: f32, rng: &mut Rng) -> Vec<u8> {
    let tone: Vec<f32> = (0..TONE_STEPS)
        .map(|i| 255.0 * (i as f32 / (TONE_STEPS - 1) as f32).powf(1.0 / 2.2))
        .collect();
    let top = (TONE_STEPS - 1) as f32;
    linear
        .iter()
        .map(|&v| {
            let v = (v * exposure).clamp(0.0, 1.0);
            let mut out = tone[(v * top) as usize];
            if noise > 0.0 {
                out += noise * (0.5 + v).sqrt() * rng.normal();
            }
            out.round().clamp(0.0, 255.0) as u8
        })
        .collect()
}

/// Re-encodes a frame as baseline JPEG at `quality` (1–100) and decodes it again, which leaves
/// the block and ringing artefacts a real pipeline would.
pub(crate) fn jpeg_round_trip(frame: &Frame, quality: u8) -> Result<Frame, FrameError> {
    let wrap = |source| FrameError::Image {
        what: "JPEG".to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality.clamp(1, 100))
        .encode(
            frame.luma(),
            frame.width(),
            frame.height(),
            image::ExtendedColorType::L8,
        )
        .map_err(wrap)?;
    let decoded = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
        .map_err(wrap)?
        .into_luma8();
    Frame::new(frame.width(), frame.height(), decoded.into_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_curve_ends_and_noise_is_seeded() {
        let linear = [0.0, 1.0, 2.0, 0.18];
        let clean = expose(&linear, 1.0, 0.0, &mut Rng::new(1));
        assert_eq!(&clean[..3], &[0, 255, 255]);
        assert!((110..=120).contains(&clean[3]), "18 % grey: {}", clean[3]);
        let a = expose(&[0.2; 64], 1.0, 8.0, &mut Rng::new(5));
        let b = expose(&[0.2; 64], 1.0, 8.0, &mut Rng::new(5));
        assert_eq!(a, b);
        assert!(a.iter().any(|&v| v != a[0]));
    }

    #[test]
    fn jpeg_round_trip_keeps_size_and_roughly_the_content() {
        let luma: Vec<u8> = (0..64 * 32)
            .map(|i| if i % 64 < 32 { 30 } else { 220 })
            .collect();
        let frame = Frame::new(64, 32, luma.clone()).expect("frame");
        let out = jpeg_round_trip(&frame, 20).expect("jpeg");
        assert_eq!((out.width(), out.height()), (64, 32));
        let mean_err: f32 = out
            .luma()
            .iter()
            .zip(&luma)
            .map(|(a, b)| f32::from(a.abs_diff(*b)))
            .sum::<f32>()
            / luma.len() as f32;
        assert!(
            mean_err < 12.0 && out.luma() != luma.as_slice(),
            "{mean_err}"
        );
    }
}

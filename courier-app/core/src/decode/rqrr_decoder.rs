//! rqrr (pure Rust, quirc port): kept as a second opinion. On real photos it reads 56 % at
//! ~12 ms (docs/performance.md, "Decoders and frames"), so it is never the only decoder.

use super::{DecodeError, Decoder};
use crate::frame::Frame;

/// The rqrr decoder.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rqrr;

impl Decoder for Rqrr {
    fn name(&self) -> &'static str {
        "rqrr"
    }

    fn detect(&self, frame: &Frame) -> Result<Vec<String>, DecodeError> {
        let width = frame.width() as usize;
        let luma = frame.luma();
        // In bounds: a Frame's plane is exactly width * height bytes.
        let mut prepared =
            rqrr::PreparedImage::prepare_from_greyscale(width, frame.height() as usize, |x, y| {
                luma[y * width + x]
            });
        let mut texts = Vec::new();
        let mut last_error = None;
        for grid in prepared.detect_grids() {
            match grid.decode() {
                Ok((_, text)) => texts.push(text),
                Err(e) => last_error = Some(e),
            }
        }
        match (texts.is_empty(), last_error) {
            (true, Some(e)) => Err(DecodeError::Unreadable {
                decoder: self.name(),
                reason: e.to_string(),
            }),
            _ => Ok(texts),
        }
    }
}

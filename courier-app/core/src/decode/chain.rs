//! Several decoders in order, the first that reads something wins: a cheap or robust decoder
//! first, a different algorithm as a fallback for the frames it misses.

use super::{DecodeError, Decoder};
use crate::frame::Frame;

/// Tries its decoders in order until one reads a code.
pub struct Chain {
    decoders: Vec<Box<dyn Decoder + Send + Sync>>,
}

impl Chain {
    /// A chain over `decoders`, tried first to last.
    pub fn new(decoders: Vec<Box<dyn Decoder + Send + Sync>>) -> Self {
        Self { decoders }
    }
}

impl Decoder for Chain {
    fn name(&self) -> &'static str {
        "chain"
    }

    /// Each member goes through its own (isolated) `decode`, so one member's panic does not
    /// cost the others their turn. With nothing read, the most telling failure is returned:
    /// an unreadable code over a panic, and any error over "nothing in view".
    fn detect(&self, frame: &Frame) -> Result<Vec<String>, DecodeError> {
        let mut failure: Option<DecodeError> = None;
        for decoder in &self.decoders {
            match decoder.decode(frame) {
                Ok(texts) if !texts.is_empty() => return Ok(texts),
                Ok(_) => {}
                Err(e) => {
                    let replace = matches!(
                        (&failure, &e),
                        (None, _)
                            | (
                                Some(DecodeError::Panicked { .. }),
                                DecodeError::Unreadable { .. }
                            )
                    );
                    if replace {
                        failure = Some(e);
                    }
                }
            }
        }
        failure.map_or(Ok(vec![]), Err)
    }
}

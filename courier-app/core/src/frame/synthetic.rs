//! A camera that always sees a given ticket: the desktop app's window tests and the end-to-end
//! tests "show a ticket to the camera" with it. Successive frames differ only in their random
//! draws (noise, glare position), as a live preview does.

use super::{Frame, FrameError, FrameSource};
use crate::degrade::{Degradation, render};

/// Renders `text` as a QR code seen through a (possibly degraded) camera.
#[derive(Clone, Debug)]
pub struct SyntheticSource {
    text: String,
    width: u32,
    height: u32,
    degradation: Degradation,
    seed: u64,
}

impl SyntheticSource {
    /// A clean, well-framed view of `text` at `width` × `height`.
    pub fn new(text: impl Into<String>, width: u32, height: u32) -> Self {
        let module_px = (0.45 * width.min(height) as f32 / 45.0).max(1.0);
        Self {
            text: text.into(),
            width,
            height,
            degradation: Degradation {
                module_px,
                ..Degradation::default()
            },
            seed: 0,
        }
    }

    /// Shows the ticket degraded as given (see [`crate::degrade`]).
    pub fn degraded(mut self, degradation: Degradation) -> Self {
        self.degradation = degradation;
        self
    }

    /// Starts the per-frame seeds at `seed` (frame `n` uses `seed + n`).
    pub fn seeded(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

impl FrameSource for SyntheticSource {
    fn next_frame(&mut self) -> Result<Frame, FrameError> {
        let frame = render(
            &self.text,
            self.width,
            self.height,
            &self.degradation,
            self.seed,
        )?;
        self.seed = self.seed.wrapping_add(1);
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_requested_size_and_vary_like_a_live_preview() {
        let mut source = SyntheticSource::new("SP1HELLO", 320, 240).seeded(5);
        let a = source.next_frame().expect("frame");
        let b = source.next_frame().expect("frame");
        assert_eq!((a.width(), a.height()), (320, 240));
        assert_ne!(a, b, "noise differs between frames");
        // Dark modules and light paper are both present.
        assert!(a.luma().iter().any(|&y| y < 80) && a.luma().iter().any(|&y| y > 200));
    }

    #[test]
    fn bad_requests_fail_cleanly() {
        assert!(SyntheticSource::new("SP1", 0, 10).next_frame().is_err());
        let huge = "9".repeat(10_000);
        assert!(matches!(
            SyntheticSource::new(huge, 64, 64).next_frame(),
            Err(FrameError::Render(_))
        ));
    }
}

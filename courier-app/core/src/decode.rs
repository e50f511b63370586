//! QR decoding behind one trait, so the scan loop can swap or chain decoders on measurement
//! rather than on faith. Decoders are third-party code fed with whatever the camera sees, and
//! rqrr has been seen panicking on a real photo (docs/performance.md, "Decoders and frames"): every call therefore runs under
//! `catch_unwind`, and a panic becomes [`DecodeError::Panicked`] instead of taking down the app
//! at the customer's door. (This relies on the default `panic = "unwind"`; the workspace
//! profiles keep it.)

mod chain;
mod enhance;
mod rqrr_decoder;
mod rxing_decoder;

pub use chain::{Chain, Resume};
pub use enhance::{Enhanced, Enhancement};
pub use rqrr_decoder::Rqrr;
pub use rxing_decoder::Rxing;

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::frame::Frame;

/// Finds and reads QR codes in a luma frame.
///
/// Implementors write [`Decoder::detect`]; callers use [`Decoder::decode`], which isolates
/// panics. Do not override `decode`.
pub trait Decoder {
    /// Short name for logs and tables.
    fn name(&self) -> &'static str;

    /// The decoder proper. It may panic; it is never called except through [`Decoder::decode`].
    /// Returns every code read (empty if none is in view).
    fn detect(&self, frame: &Frame) -> Result<Vec<String>, DecodeError>;

    /// Reads the QR codes in `frame`: `Ok(vec![])` when none is in view, an error when one was
    /// seen but could not be read, or when the decoder broke.
    fn decode(&self, frame: &Frame) -> Result<Vec<String>, DecodeError> {
        // AssertUnwindSafe: `detect` takes `&self` and decoders keep no state that a panic could
        // leave half-updated (they build everything per call).
        catch_unwind(AssertUnwindSafe(|| self.detect(frame))).unwrap_or_else(|payload| {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic payload".to_owned());
            Err(DecodeError::Panicked {
                decoder: self.name(),
                message,
            })
        })
    }
}

/// Why a frame gave no text. Messages are shown to the courier, hence zh-CN.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A code was located but its content could not be recovered (damaged, blurred, partly
    /// hidden): worth asking the courier to hold still or move closer.
    #[error("二维码不清晰，无法识别（{decoder}：{reason}）")]
    Unreadable {
        /// Which decoder.
        decoder: &'static str,
        /// The library's own words.
        reason: String,
    },
    /// The decoder panicked; the frame is skipped and the app keeps running.
    #[error("识别程序内部错误，已跳过此画面（{decoder}：{message}）")]
    Panicked {
        /// Which decoder.
        decoder: &'static str,
        /// The panic message.
        message: String,
    },
}

/// Decoding time per frame after which the scan loop starts no further retry and takes the
/// next frame instead ([`Chain::decode_within`]), so a hard frame never holds the door up.
pub const FRAME_BUDGET: std::time::Duration = std::time::Duration::from_millis(8);

/// The decoder the scan loop should use, chosen by measurement on the degraded set
/// (`cargo bench -p shuipiao-courier --bench decode`, 338 frames):
///
/// - rqrr alone reads 71 % (720p) / 60 % (VGA) at ~18 / ~11 ms, so it is not used; appended
///   to this chain it recovered no further frame.
/// - rxing alone reads 88 % / 86 % at p50 ≈ 2.6 / 1.0 ms, and misses mostly low-contrast,
///   noisy and shaded frames.
/// - Each retry below recovers a different part of those misses; together 100 % (720p) and
///   99.4 % (VGA), 99.7 % overall, with the p50 unchanged (the first pass succeeds on most
///   frames) and the retries costing up to about 17 ms each only on frames that would fail
///   anyway. The last one, doubling VGA frames, alone reads 97.6 % of them at 4.9 ms and
///   recovers defocused, noisy and combined views none of the others read.
pub fn recommended() -> Chain {
    Chain::new(vec![
        Box::new(Rxing::plain()),
        Box::new(Enhanced::new(Enhancement::Stretch, Rxing::plain())),
        Box::new(Enhanced::new(
            Enhancement::LocalContrast { radius: 12 },
            Rxing::plain(),
        )),
        Box::new(Enhanced::new(
            Enhancement::Smooth { radius: 1 },
            Rxing::plain(),
        )),
        Box::new(Rxing::closed()),
        Box::new(Enhanced::new(
            Enhancement::Downscale { factor: 3 },
            Rxing::plain(),
        )),
        Box::new(Enhanced::new(
            Enhancement::Downscale { factor: 3 },
            Rxing::closed(),
        )),
        Box::new(Enhanced::new(
            Enhancement::Double,
            Enhanced::new(Enhancement::Stretch, Rxing::plain()),
        )),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Exploding;

    impl Decoder for Exploding {
        fn name(&self) -> &'static str {
            "exploding"
        }
        fn detect(&self, frame: &Frame) -> Result<Vec<String>, DecodeError> {
            // Indexing past the end, like a decoder bug on a hostile frame.
            let past_end = frame.luma().len() + 1;
            let _ = frame.luma()[past_end];
            Ok(vec![])
        }
    }

    struct ExplodingWithString;

    impl Decoder for ExplodingWithString {
        fn name(&self) -> &'static str {
            "exploding-string"
        }
        fn detect(&self, _: &Frame) -> Result<Vec<String>, DecodeError> {
            panic!("assertion `x <= i32::MAX as f64` failed: {}", 42)
        }
    }

    #[test]
    fn a_panicking_decoder_becomes_an_error() {
        let frame = Frame::new(4, 4, vec![0; 16]).expect("frame");
        let err = Exploding.decode(&frame).expect_err("isolated panic");
        assert!(
            matches!(&err, DecodeError::Panicked { decoder: "exploding", message } if message.contains("out of bounds")),
            "{err:?}"
        );
        let err = ExplodingWithString
            .decode(&frame)
            .expect_err("isolated panic");
        assert!(
            matches!(&err, DecodeError::Panicked { message, .. } if message.contains("i32::MAX as f64")),
            "{err:?}"
        );
        assert!(err.to_string().contains("识别程序内部错误"));
        // The process is still fine: decoding goes on.
        assert!(Exploding.decode(&frame).is_err());
    }

    #[test]
    fn a_chain_survives_a_panicking_member() {
        let text = crate::degrade::ticket_text(11);
        let frame =
            crate::degrade::render(&text, 640, 480, &crate::degrade::Degradation::default(), 1)
                .expect("render");
        let chain = Chain::new(vec![
            Box::new(ExplodingWithString),
            Box::new(Rxing::plain()),
        ]);
        assert_eq!(chain.decode(&frame), Ok(vec![text]));
        let only_broken = Chain::new(vec![Box::new(Exploding)]);
        assert!(matches!(
            only_broken.decode(&frame),
            Err(DecodeError::Panicked { .. })
        ));
    }
}

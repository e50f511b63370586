//! rxing (a ZXing port), QR only, try-harder: the most robust decoder measured here (92 % of
//! real photos at ~1 ms; docs/performance.md, "Decoders and frames"). The plain pass reads the frame's luma in place; the closed
//! pass also closes the binarised image (dilate, then erode), which joins modules that noise or
//! blur broke apart. These are the steps of rxing's own pyramid reader (`FilteredImageReader`),
//! kept apart so the scan loop can spread them over frames (`Chain::decode_within`).

use std::collections::HashSet;

use rxing::common::HybridBinarizer;
use rxing::{
    BarcodeFormat, BinaryBitmap, DecodeHints, Exceptions, Luma8Source, MultiFormatReader, Reader,
};

use super::{DecodeError, Decoder};
use crate::frame::Frame;

/// The rxing decoder, restricted to QR codes and in try-harder mode.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rxing {
    closed: bool,
}

impl Rxing {
    /// The frame as it is.
    pub fn plain() -> Self {
        Self { closed: false }
    }

    /// The binarised frame morphologically closed.
    pub fn closed() -> Self {
        Self { closed: true }
    }
}

impl Decoder for Rxing {
    fn name(&self) -> &'static str {
        if self.closed { "rxing-closed" } else { "rxing" }
    }

    fn detect(&self, frame: &Frame) -> Result<Vec<String>, DecodeError> {
        let mut hints = DecodeHints::default().with(rxing::DecodeHintValue::TryHarder(true));
        let format = Some(BarcodeFormat::QR_CODE);
        let (width, height) = (frame.width(), frame.height());
        let result = if self.closed {
            closed(frame, &mut hints)
        } else {
            rxing::helpers::detect_in_luma_slice_with_hints(
                frame.luma(),
                width,
                height,
                format,
                &mut hints,
            )
        };
        match result {
            Ok(result) => Ok(vec![result.getText().to_owned()]),
            Err(Exceptions::NotFoundException(_)) => Ok(vec![]),
            Err(e) => Err(DecodeError::Unreadable {
                decoder: self.name(),
                reason: e.to_string(),
            }),
        }
    }
}

fn closed(frame: &Frame, hints: &mut DecodeHints) -> rxing::common::Result<rxing::RXingResult> {
    hints.PossibleFormats = Some(HashSet::from([BarcodeFormat::QR_CODE]));
    let source = Luma8Source::new_with_slice(frame.luma(), frame.width(), frame.height())?;
    let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source));
    bitmap.close()?;
    MultiFormatReader::default().decode_with_hints(&mut bitmap, hints)
}

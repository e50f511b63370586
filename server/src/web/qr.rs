//! QR codes as inline SVG for wallet pages: dark modules on white with the standard quiet zone,
//! scaled by the page, so a phone screen at arm's length or a printout both scan.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// The SVG markup of `text` as a QR code (error correction level M, the level the courier's
/// decoder is measured with), or `None` if the text does not fit a QR code.
pub fn svg(text: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .min_dimensions(240, 240)
            .quiet_zone(true)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build(),
    )
}

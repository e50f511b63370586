//! 线下协助: a QR code the customer scans with their own phone to open the wallet's registration
//! page with the courier's staff code, so the sign-up is attributed to the courier. The URL comes
//! from [`crate::data_dir::Profile::register_url`]; this renders it as an SVG for the screen.

use qrcode::{Color, EcLevel, QrCode};

/// Renders `text` as a black-on-white SVG QR code with a 4-module quiet zone, scaling to
/// whatever box it is drawn in.
pub fn qr_svg(text: &str) -> Result<String, qrcode::types::QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)?;
    let width = code.width();
    let size = width + 8;
    let mut path = String::new();
    for (index, color) in code.to_colors().into_iter().enumerate() {
        if color == Color::Dark {
            let (x, y) = (index % width + 4, index / width + 4);
            path.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" \
         shape-rendering=\"crispEdges\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
         <path fill=\"#000\" d=\"{path}\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{self, Decoder};
    use crate::frame::Frame;

    /// Rasterises the SVG's unit squares back into a frame, 8 pixels per module.
    fn rasterise(svg: &str) -> Frame {
        let size: usize = svg
            .split("viewBox=\"0 0 ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("viewBox");
        let scale = 8;
        let mut luma = vec![255u8; size * size * scale * scale];
        let path = svg.split(" d=\"").nth(1).expect("path");
        for square in path.split('M').skip(1) {
            let mut numbers = square.split(|c: char| !c.is_ascii_digit());
            let x: usize = numbers.next().and_then(|n| n.parse().ok()).expect("x");
            let y: usize = numbers.next().and_then(|n| n.parse().ok()).expect("y");
            for dy in 0..scale {
                for dx in 0..scale {
                    luma[(y * scale + dy) * size * scale + x * scale + dx] = 0;
                }
            }
        }
        let side = u32::try_from(size * scale).expect("size");
        Frame::new(side, side, luma).expect("frame")
    }

    #[test]
    fn the_svg_reads_back_as_the_url() {
        let url = "http://127.0.0.1:8080/wallet/register?code=SP000012";
        let svg = qr_svg(url).expect("render");
        assert!(svg.starts_with("<svg"));
        let texts = decode::recommended()
            .decode(&rasterise(&svg))
            .expect("decode");
        assert_eq!(texts, vec![url]);
    }
}

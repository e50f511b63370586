//! Tickets as a phone camera sees them. The decoders are chosen and regression-tested on these
//! renderings, so they model the physical causes (pose, lens, hand, light, screen, sensor,
//! compression) rather than adding arbitrary noise; every parameter is explicit and every
//! random choice is seeded, so a frame can be regenerated bit for bit from `(text, params, seed)`.
//!
//! [`degraded_set`] is the fixed benchmark/regression set built from these.

mod optics;
mod rng;
mod scene;
mod sensor;
mod set;

pub use set::{Class, FRAME_SIZES, Sample, degraded_set};

use crate::frame::{Frame, FrameError, pixel_count};
use rng::Rng;

/// Prefix of every v1 ticket's QR text.
pub const TICKET_PREFIX: &str = "SP1";
/// Length of a v1 credential (header + Ed25519 signature), in bytes.
pub const TICKET_BYTES: usize = 97;

/// A ticket-shaped QR text with random content: `SP1` + base32 (RFC 4648, upper case, no
/// padding) of 97 bytes, i.e. 159 characters, exactly what the protocol crate produces.
pub fn ticket_text(seed: u64) -> String {
    let mut bytes = [0u8; TICKET_BYTES];
    Rng::new(seed ^ 0x5449_434B_4554).fill(&mut bytes);
    format!(
        "{TICKET_PREFIX}{}",
        data_encoding::BASE32_NOPAD.encode(&bytes)
    )
}

/// How the ticket is shown to the camera. [`Default`] is a sharp, square-on, well-lit printed
/// ticket filling a comfortable part of the frame: what a careful courier gets.
#[derive(Clone, Debug, PartialEq)]
pub struct Degradation {
    /// Size of one QR module at the code's centre, in frame pixels.
    pub module_px: f32,
    /// Desired offset of the code from the frame centre, as a fraction of the frame size
    /// (clamped so the quiet zone stays in the frame).
    pub offset: (f32, f32),
    /// In-plane rotation, degrees, any angle.
    pub rotation_deg: f32,
    /// Perspective tilt about the horizontal and the vertical axis, degrees.
    pub tilt_deg: (f32, f32),
    /// Defocus blur, Gaussian standard deviation in pixels (0.6 is a sharp phone lens).
    pub blur_sigma: f32,
    /// Motion blur length in pixels (hand shake during the exposure).
    pub motion_px: f32,
    /// Motion blur direction, degrees.
    pub motion_deg: f32,
    /// Sensor noise, standard deviation in 8-bit codes at mid-grey.
    pub noise: f32,
    /// Exposure multiplier (below 1: a dark stairwell).
    pub exposure: f32,
    /// Print contrast, 1 = black ink on white paper, towards 0 = faded grey on grey.
    pub contrast: f32,
    /// Uneven light: the darkest part of the frame gets `1 - shading` of the light.
    pub shading: f32,
    /// Shape of the light fall-off: 0 = a smooth gradient, 1 = a hard shadow edge.
    pub shadow_edge: f32,
    /// Peak brightness of a specular highlight on the ticket (linear light; ≥ 1 saturates).
    pub glare: f32,
    /// Shown on a phone screen instead of printed on paper.
    pub screen: Option<Screen>,
    /// Re-encoded as JPEG at this quality.
    pub jpeg_quality: Option<u8>,
}

impl Default for Degradation {
    fn default() -> Self {
        Self {
            module_px: 6.0,
            offset: (0.0, 0.0),
            rotation_deg: 0.0,
            tilt_deg: (0.0, 0.0),
            blur_sigma: 0.6,
            motion_px: 0.0,
            motion_deg: 0.0,
            noise: 2.0,
            exposure: 1.0,
            contrast: 1.0,
            shading: 0.0,
            shadow_edge: 0.0,
            glare: 0.0,
            screen: None,
            jpeg_quality: None,
        }
    }
}

/// A phone screen showing the ticket: its pixel grid beats against the camera's (moiré).
#[derive(Clone, Debug, PartialEq)]
pub struct Screen {
    /// Screen pixels per QR module.
    pub pixels_per_module: f32,
    /// Lit fraction of each screen pixel's pitch (the rest is the black matrix), per axis.
    pub fill: f32,
}

/// Renders `text` as an EC-level-M QR code into a `width` × `height` luma frame, degraded as
/// `degradation` says, with every random choice drawn from `seed`.
pub fn render(
    text: &str,
    width: u32,
    height: u32,
    degradation: &Degradation,
    seed: u64,
) -> Result<Frame, FrameError> {
    pixel_count(width, height)?;
    let modules = qr_modules(text)?;
    let (w, h) = (width as usize, height as usize);
    let mut rng = Rng::new(seed);
    let mut light = scene::render(&modules, degradation, w, h, &mut rng);
    optics::motion_blur(
        &mut light,
        w,
        h,
        degradation.motion_px,
        degradation.motion_deg,
    );
    optics::gaussian_blur(&mut light, w, h, degradation.blur_sigma);
    let luma = sensor::expose(&light, degradation.exposure, degradation.noise, &mut rng);
    let frame = Frame::new(width, height, luma)?;
    match degradation.jpeg_quality {
        Some(quality) => sensor::jpeg_round_trip(&frame, quality),
        None => Ok(frame),
    }
}

/// Encodes `text` at error correction M in the smallest version that holds it (7 for tickets).
fn qr_modules(text: &str) -> Result<scene::Modules, FrameError> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| FrameError::Render(e.to_string()))?;
    let dark = code
        .to_colors()
        .into_iter()
        .map(|c| c == qrcode::Color::Dark)
        .collect();
    Ok(scene::Modules {
        size: code.width(),
        dark,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_text_has_the_protocol_shape() {
        let text = ticket_text(42);
        assert_eq!(text.len(), 159);
        assert!(text.starts_with(TICKET_PREFIX));
        let body = &text[TICKET_PREFIX.len()..];
        let bytes = data_encoding::BASE32_NOPAD
            .decode(body.as_bytes())
            .expect("valid base32");
        assert_eq!(bytes.len(), TICKET_BYTES);
        assert_ne!(ticket_text(43), text);
        assert_eq!(ticket_text(42), text);
    }

    #[test]
    fn tickets_are_version_7_at_level_m() {
        let modules = qr_modules(&ticket_text(1)).expect("encodable");
        assert_eq!(modules.size, 45);
        let code = qrcode::QrCode::with_error_correction_level(
            ticket_text(1).as_bytes(),
            qrcode::EcLevel::M,
        )
        .expect("encodable");
        assert_eq!(code.version(), qrcode::Version::Normal(7));
    }

    #[test]
    fn rendering_is_deterministic_and_seed_dependent() {
        let text = ticket_text(3);
        let degradation = Degradation {
            noise: 6.0,
            module_px: 2.0,
            ..Degradation::default()
        };
        let seeded = |seed| render(&text, 160, 120, &degradation, seed).expect("render");
        assert_eq!(seeded(9), seeded(9));
        assert_ne!(seeded(9), seeded(10));
    }

    #[test]
    fn unencodable_text_and_empty_frames_are_errors() {
        let too_long = "A".repeat(5000);
        let d = Degradation::default();
        assert!(matches!(
            render(&too_long, 64, 64, &d, 0),
            Err(FrameError::Render(_))
        ));
        assert!(matches!(
            render("SP1", 0, 64, &d, 0),
            Err(FrameError::Empty { .. })
        ));
    }
}

//! The fixed degraded set: every degradation alone, from mild to hard, plus realistic mixes, at
//! the two frame sizes couriers' phones deliver. Parameters are drawn from a seeded generator
//! along a mild→hard ramp, so each class always contains its hard end.

use super::rng::Rng;
use super::{Degradation, Screen, render, ticket_text};
use crate::frame::{Frame, FrameError};

/// The frame sizes of the set: 720p (most phones' preview) and VGA (old or throttled phones).
pub const FRAME_SIZES: [(u32, u32); 2] = [(1280, 720), (640, 480)];

/// Frames per class and frame size (combinations get twice as many).
const PER_CLASS: usize = 13;

/// What a sample mainly suffers from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// Square-on, sharp, well lit: the control group.
    Clean,
    /// In-plane rotation, any angle.
    Rotation,
    /// Ticket held at an angle to the lens.
    Perspective,
    /// Out of focus.
    Defocus,
    /// Hand shake during the exposure.
    Motion,
    /// Dark place: low exposure, high gain noise.
    Noise,
    /// Faded print on grey paper.
    LowContrast,
    /// A shadow or light gradient across the ticket, and a specular highlight.
    Lighting,
    /// Code about 15 % of a 720p frame's width (the ticket held far away).
    Small,
    /// A phone screen showing the ticket, photographed: pixel-grid moiré.
    Moire,
    /// Strong JPEG compression.
    Jpeg,
    /// Realistic mixes of several milder degradations at once.
    Combined,
}

impl Class {
    /// Every class, in table order.
    pub const ALL: [Self; 12] = [
        Self::Clean,
        Self::Rotation,
        Self::Perspective,
        Self::Defocus,
        Self::Motion,
        Self::Noise,
        Self::LowContrast,
        Self::Lighting,
        Self::Small,
        Self::Moire,
        Self::Jpeg,
        Self::Combined,
    ];

    /// Short name for tables and test messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::Rotation => "rotation",
            Self::Perspective => "perspective",
            Self::Defocus => "defocus",
            Self::Motion => "motion",
            Self::Noise => "noise",
            Self::LowContrast => "low-contrast",
            Self::Lighting => "lighting+glare",
            Self::Small => "small",
            Self::Moire => "moire",
            Self::Jpeg => "jpeg",
            Self::Combined => "combined",
        }
    }

    fn count(self) -> usize {
        if self == Self::Combined {
            2 * PER_CLASS
        } else {
            PER_CLASS
        }
    }

    /// Parameters for a sample at `hardness` (0 = mild … 1 = the hard end of the class).
    fn degradation(self, hardness: f32, height: u32, rng: &mut Rng) -> Degradation {
        // A comfortable distance: the code spans 30–55 % of the frame height.
        let comfortable = rng.range(0.30, 0.55) * height as f32 / 45.0;
        let mut d = Degradation {
            module_px: comfortable,
            offset: (rng.range(-0.25, 0.25), rng.range(-0.25, 0.25)),
            noise: rng.range(1.5, 3.0),
            ..Degradation::default()
        };
        // Linear ramp with jitter, so the class spans its range evenly.
        let ramp = |lo: f32, hi: f32, rng: &mut Rng| {
            let t = (hardness + rng.range(-0.05, 0.05)).clamp(0.0, 1.0);
            lo + (hi - lo) * t
        };
        let m = d.module_px;
        match self {
            Self::Clean => {}
            Self::Rotation => d.rotation_deg = rng.range(0.0, 360.0),
            Self::Perspective => {
                let tilt = ramp(10.0, 50.0, rng);
                let share = rng.range(0.0, 1.0);
                d.tilt_deg = (tilt * share * rng.sign(), tilt * (1.0 - share) * rng.sign());
                d.rotation_deg = rng.range(-20.0, 20.0);
            }
            Self::Defocus => d.blur_sigma = ramp(0.15, 0.45, rng) * m,
            Self::Motion => {
                d.motion_px = ramp(0.3, 1.5, rng) * m;
                d.motion_deg = rng.range(0.0, 180.0);
            }
            Self::Noise => {
                d.noise = ramp(6.0, 28.0, rng);
                d.exposure = ramp(0.9, 0.3, rng);
            }
            Self::LowContrast => d.contrast = ramp(0.5, 0.12, rng),
            Self::Lighting => {
                d.shading = ramp(0.3, 0.85, rng);
                d.shadow_edge = rng.range(0.0, 1.0);
                d.glare = ramp(0.2, 1.5, rng);
            }
            Self::Small => {
                // ~15 % of a 720p width is 192 px for 45 modules; VGA phones get the same
                // pixels per module, the smallest a 2 MP sensor resolves reliably.
                let code_fraction = ramp(0.17, 0.135, rng);
                d.module_px = code_fraction * 1280.0 / 45.0;
                d.offset = (rng.range(-0.4, 0.4), rng.range(-0.4, 0.4));
            }
            Self::Moire => {
                d.screen = Some(Screen {
                    pixels_per_module: ramp(16.0, 3.0, rng) * rng.range(0.9, 1.1),
                    fill: rng.range(0.55, 0.9),
                });
                d.rotation_deg = rng.range(-15.0, 15.0);
                d.glare = rng.range(0.0, 0.4);
            }
            Self::Jpeg => d.jpeg_quality = Some(ramp(70.0, 12.0, rng).round() as u8),
            Self::Combined => combine(&mut d, hardness, rng),
        }
        d
    }
}

/// A courier's typical bad frame: some of everything, each milder than its class's hard end.
fn combine(d: &mut Degradation, hardness: f32, rng: &mut Rng) {
    let m = d.module_px;
    let k = 0.4 + 0.6 * hardness;
    d.rotation_deg = rng.range(-35.0, 35.0);
    d.tilt_deg = (rng.range(-25.0, 25.0) * k, rng.range(-25.0, 25.0) * k);
    d.blur_sigma = rng.range(0.1, 0.25) * m * k + 0.5;
    if rng.chance(0.5) {
        d.motion_px = rng.range(0.2, 0.7) * m * k;
        d.motion_deg = rng.range(0.0, 180.0);
    }
    d.noise = rng.range(3.0, 12.0) * k;
    d.exposure = rng.range(0.6, 1.0);
    d.contrast = 1.0 - rng.range(0.0, 0.5) * k;
    d.shading = rng.range(0.0, 0.5) * k;
    d.shadow_edge = rng.range(0.0, 1.0);
    if rng.chance(0.4) {
        d.glare = rng.range(0.1, 0.8) * k;
    }
    if rng.chance(0.3) {
        d.screen = Some(Screen {
            pixels_per_module: rng.range(6.0, 16.0),
            fill: rng.range(0.6, 0.9),
        });
    }
    if rng.chance(0.5) {
        d.jpeg_quality = Some(rng.range(35.0, 85.0).round() as u8);
    }
}

/// One member of the degraded set; rendered on demand so the set costs no memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// What it mainly suffers from.
    pub class: Class,
    /// Frame width, px.
    pub width: u32,
    /// Frame height, px.
    pub height: u32,
    /// Seed for the rendering's random choices.
    pub seed: u64,
    /// The ticket text the frame shows (the expected decode).
    pub text: String,
    /// How it is degraded.
    pub degradation: Degradation,
}

impl Sample {
    /// Renders the frame.
    pub fn render(&self) -> Result<Frame, FrameError> {
        render(
            &self.text,
            self.width,
            self.height,
            &self.degradation,
            self.seed,
        )
    }
}

/// The fixed, seeded degraded set: 12 classes × 2 frame sizes, 13 frames each (26 for
/// combinations), 338 frames in all, mild to hard within each class.
pub fn degraded_set() -> Vec<Sample> {
    let mut samples = Vec::new();
    for (class_index, class) in Class::ALL.into_iter().enumerate() {
        for (size_index, (width, height)) in FRAME_SIZES.into_iter().enumerate() {
            let n = class.count();
            for i in 0..n {
                let seed = ((class_index as u64) << 32) | ((size_index as u64) << 16) | i as u64;
                let mut rng = Rng::new(seed);
                let hardness = i as f32 / (n - 1) as f32;
                samples.push(Sample {
                    class,
                    width,
                    height,
                    seed,
                    text: ticket_text(seed),
                    degradation: class.degradation(hardness, height, &mut rng),
                });
            }
        }
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_is_fixed_large_and_covers_every_class_and_size() {
        let set = degraded_set();
        assert!(set.len() >= 300, "{}", set.len());
        assert_eq!(set, degraded_set());
        for class in Class::ALL {
            for (w, h) in FRAME_SIZES {
                assert!(
                    set.iter()
                        .any(|s| s.class == class && (s.width, s.height) == (w, h)),
                    "{} {w}x{h}",
                    class.name()
                );
            }
        }
        let mut texts: Vec<_> = set.iter().map(|s| &s.text).collect();
        texts.sort();
        texts.dedup();
        assert_eq!(texts.len(), set.len(), "every sample shows its own ticket");
    }

    #[test]
    fn small_class_is_about_15_percent_of_720p_width() {
        for s in degraded_set().iter().filter(|s| s.class == Class::Small) {
            let fraction = s.degradation.module_px * 45.0 / 1280.0;
            assert!((0.12..=0.18).contains(&fraction), "{fraction}");
        }
    }
}

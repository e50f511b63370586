//! What is in front of the lens, in linear light: a ticket (printed card or phone screen) placed
//! in 3-D in front of a pinhole camera, lit unevenly, over a cluttered background. Geometry is
//! an inverse mapping: every frame pixel is traced back onto the ticket plane through the
//! inverse homography and the ticket texture is sampled bilinearly there.

use super::Degradation;
use super::rng::Rng;

/// Texture resolution of the ticket, in texels per QR module.
const TEXELS_PER_MODULE: usize = 8;
/// Paper around the code beyond the 4-module quiet zone (a card or a label), in modules.
const CARD_MARGIN: f32 = 7.0;
/// Black phone bezel around a screen, in modules.
const BEZEL: f32 = 5.0;
/// Reflectance of paper and of ink at full contrast (linear light).
const PAPER: f32 = 0.80;
const INK: f32 = 0.03;
/// Emission of a phone screen's white and black pixels, relative to lit paper.
const SCREEN_WHITE: f32 = 0.85;
const SCREEN_BLACK: f32 = 0.01;

/// The QR symbol as a bitmap of modules, `true` = dark, quiet zone not included.
pub(crate) struct Modules {
    pub(crate) size: usize,
    pub(crate) dark: Vec<bool>,
}

/// A 3×3 projective transform, row-major.
#[derive(Clone, Copy, Debug)]
struct Homography([[f32; 3]; 3]);

impl Homography {
    fn apply(&self, x: f32, y: f32) -> Option<(f32, f32)> {
        let m = &self.0;
        let w = m[2][0] * x + m[2][1] * y + m[2][2];
        // w <= 0 is behind the camera: never the ticket.
        (w > 1e-6).then(|| {
            (
                (m[0][0] * x + m[0][1] * y + m[0][2]) / w,
                (m[1][0] * x + m[1][1] * y + m[1][2]) / w,
            )
        })
    }

    fn inverse(&self) -> Self {
        let m = &self.0;
        let cof = |r0: usize, r1: usize, c0: usize, c1: usize| {
            m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0]
        };
        // The adjugate is the inverse up to scale, and scale does not matter projectively.
        Self([
            [cof(1, 2, 1, 2), -cof(0, 2, 1, 2), cof(0, 1, 1, 2)],
            [-cof(1, 2, 0, 2), cof(0, 2, 0, 2), -cof(0, 1, 0, 2)],
            [cof(1, 2, 0, 1), -cof(0, 2, 0, 1), cof(0, 1, 0, 1)],
        ])
    }
}

/// Ticket-plane coordinates are in modules, origin at the code's top-left dark corner.
/// Builds the plane-to-image homography `K · [r1 r2 t]` for a ticket centred on the optical
/// axis, then shifts the principal point so that the quiet zone stays inside the frame.
fn camera(d: &Degradation, size: usize, width: f32, height: f32, rng: &mut Rng) -> Homography {
    let focal = 0.9 * width;
    let (rot, tilt_x, tilt_y) = (
        d.rotation_deg.to_radians(),
        d.tilt_deg.0.to_radians(),
        d.tilt_deg.1.to_radians(),
    );
    // R = Rz(rot) · Rx(tilt_x) · Ry(tilt_y); only its first two columns matter for a plane.
    let (sz, cz) = rot.sin_cos();
    let (sx, cx) = tilt_x.sin_cos();
    let (sy, cy) = tilt_y.sin_cos();
    let rx_ry = [
        [cy, 0.0, sy],
        [sx * sy, cx, -sx * cy],
        [-cx * sy, sx, cx * cy],
    ];
    let rz = [[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]];
    let r = mul(&rz, &rx_ry);
    // Plane point (u, v) in modules → camera space: R · ((u - c)·s, (v - c)·s, 0) + (0, 0, f).
    let s = d.module_px;
    let c = size as f32 / 2.0;
    let plane = [
        [r[0][0] * s, r[0][1] * s, -(r[0][0] + r[0][1]) * s * c],
        [r[1][0] * s, r[1][1] * s, -(r[1][0] + r[1][1]) * s * c],
        [
            r[2][0] * s,
            r[2][1] * s,
            -(r[2][0] + r[2][1]) * s * c + focal,
        ],
    ];
    let centred = |px: f32, py: f32| {
        let k = [[focal, 0.0, px], [0.0, focal, py], [0.0, 0.0, 1.0]];
        Homography(mul(&k, &plane))
    };
    // Where does the quiet zone land with the code centred? Shift it by a random amount that
    // keeps it in the frame (or centre it when it does not fit).
    let probe = centred(width / 2.0, height / 2.0);
    let q = -4.0;
    let far = size as f32 + 4.0;
    let corners = [(q, q), (far, q), (q, far), (far, far)].map(|(u, v)| probe.apply(u, v));
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for (x, y) in corners.into_iter().flatten() {
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    // Allowed shifts keep [lo, hi] inside [0, limit]; a code too big to fit stays centred.
    let shift = |lo: f32, hi: f32, limit: f32, wanted: f32| {
        let (min_shift, max_shift) = (-lo, limit - hi);
        if min_shift > max_shift {
            0.0
        } else {
            (wanted * limit).clamp(min_shift, max_shift)
        }
    };
    let dx = shift(x0, x1, width, d.offset.0 + 0.02 * rng.normal());
    let dy = shift(y0, y1, height, d.offset.1 + 0.02 * rng.normal());
    centred(width / 2.0 + dx, height / 2.0 + dy)
}

fn mul(a: &[[f32; 3]; 3], b: &[[f32; 3]; 3]) -> [[f32; 3]; 3] {
    std::array::from_fn(|i| std::array::from_fn(|j| (0..3).map(|k| a[i][k] * b[k][j]).sum()))
}

/// The ticket's own texture: the code with quiet zone and card (or screen) margin, as
/// reflectance (paper) or emission (screen), `TEXELS_PER_MODULE` texels per module.
struct Texture {
    side: usize,
    texels: Vec<f32>,
    /// Plane coordinate (modules) of texel 0.
    origin: f32,
}

impl Texture {
    fn new(modules: &Modules, d: &Degradation) -> Self {
        let margin = 4.0 + CARD_MARGIN;
        let side_modules = modules.size + 2 * margin as usize;
        let side = side_modules * TEXELS_PER_MODULE;
        let (dark, light) = if d.screen.is_some() {
            (SCREEN_BLACK, SCREEN_WHITE)
        } else {
            // Low contrast pulls ink and paper towards a grey midpoint (faded thermal print,
            // grey recycled paper).
            let mid = 0.35;
            (
                mid - d.contrast * (mid - INK),
                mid + d.contrast * (PAPER - mid),
            )
        };
        let mut texels = vec![light; side * side];
        for (i, texel) in texels.iter_mut().enumerate() {
            let (tx, ty) = (i % side, i / side);
            let (mx, my) = (
                (tx / TEXELS_PER_MODULE) as isize - margin as isize,
                (ty / TEXELS_PER_MODULE) as isize - margin as isize,
            );
            let inside = (0..modules.size as isize).contains(&mx)
                && (0..modules.size as isize).contains(&my);
            if inside && modules.dark[my as usize * modules.size + mx as usize] {
                *texel = dark;
            }
        }
        Self {
            side,
            texels,
            origin: -margin,
        }
    }

    /// Bilinear sample at plane coordinates (modules); `None` off the ticket.
    fn sample(&self, u: f32, v: f32) -> Option<f32> {
        let tx = (u - self.origin) * TEXELS_PER_MODULE as f32 - 0.5;
        let ty = (v - self.origin) * TEXELS_PER_MODULE as f32 - 0.5;
        let last = (self.side - 1) as f32;
        if !(-0.5..=last + 0.5).contains(&tx) || !(-0.5..=last + 0.5).contains(&ty) {
            return None;
        }
        let (tx, ty) = (tx.clamp(0.0, last), ty.clamp(0.0, last));
        let (x0, y0) = (tx as usize, ty as usize);
        let (x1, y1) = ((x0 + 1).min(self.side - 1), (y0 + 1).min(self.side - 1));
        let (fx, fy) = (tx - x0 as f32, ty - y0 as f32);
        let at = |x: usize, y: usize| self.texels[y * self.side + x];
        let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
        let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
        Some(top * (1.0 - fy) + bottom * fy)
    }
}

/// Fraction of `[a, b]` covered by the lit apertures of a pixel grid of period 1 whose
/// apertures fill `[k, k + fill)`: the closed-form box integral of a periodic rectangle wave.
/// Averaging over the camera pixel's footprint (instead of point-sampling) is what makes the
/// beat pattern a moiré rather than aliasing noise.
fn aperture_coverage(a: f32, b: f32, fill: f32) -> f32 {
    let integral = |x: f32| x.floor() * fill + (x - x.floor()).min(fill);
    if b - a < 1e-4 {
        return if a - a.floor() < fill { 1.0 } else { 0.0 };
    }
    (integral(b) - integral(a)) / (b - a)
}

/// A smooth random illumination/background field: bilinear upsampling of a coarse grid.
struct SmoothField {
    cols: usize,
    rows: usize,
    values: Vec<f32>,
}

impl SmoothField {
    fn new(rng: &mut Rng, cols: usize, rows: usize, lo: f32, hi: f32) -> Self {
        let values = (0..cols * rows).map(|_| rng.range(lo, hi)).collect();
        Self { cols, rows, values }
    }

    /// Value at normalised position (`0..=1`, `0..=1`).
    fn at(&self, x: f32, y: f32) -> f32 {
        let gx = (x * (self.cols - 1) as f32).clamp(0.0, (self.cols - 1) as f32);
        let gy = (y * (self.rows - 1) as f32).clamp(0.0, (self.rows - 1) as f32);
        let (x0, y0) = (gx as usize, gy as usize);
        let (x1, y1) = ((x0 + 1).min(self.cols - 1), (y0 + 1).min(self.rows - 1));
        let (fx, fy) = (gx - x0 as f32, gy - y0 as f32);
        let v = |x: usize, y: usize| self.values[y * self.cols + x];
        (v(x0, y0) * (1.0 - fx) + v(x1, y0) * fx) * (1.0 - fy)
            + (v(x0, y1) * (1.0 - fx) + v(x1, y1) * fx) * fy
    }
}

/// Renders the scene in linear light (0 = black, ~1 = well-lit white).
pub(crate) fn render(
    modules: &Modules,
    d: &Degradation,
    width: usize,
    height: usize,
    rng: &mut Rng,
) -> Vec<f32> {
    let (wf, hf) = (width as f32, height as f32);
    let to_plane = camera(d, modules.size, wf, hf, rng).inverse();
    let texture = Texture::new(modules, d);
    let background = SmoothField::new(rng, 7, 5, 0.08, 0.55);
    // Clutter: a few flat rectangles (other print, a hand, a door frame) give the detector
    // false edges to reject.
    let clutter: Vec<([f32; 4], f32)> = (0..5)
        .map(|_| {
            let (x, y) = (rng.range(0.0, 1.0), rng.range(0.0, 1.0));
            let (w, h) = (rng.range(0.05, 0.3), rng.range(0.05, 0.3));
            ([x, y, x + w, y + h], rng.range(0.02, 0.7))
        })
        .collect();
    // Uneven light: full light on one side of a line through the frame, `shading` less on the
    // other, with a transition from a hard shadow edge to a frame-wide gradient.
    let (ls, lc) = rng.range(0.0, std::f32::consts::TAU).sin_cos();
    let softness = 0.02 + 0.6 * (1.0 - d.shadow_edge);
    let light_offset = rng.range(-0.2, 0.2);
    let glare_at = (
        rng.range(-0.15, 0.15) * modules.size as f32 + modules.size as f32 / 2.0,
        rng.range(-0.15, 0.15) * modules.size as f32 + modules.size as f32 / 2.0,
    );
    let glare_radius = rng.range(4.0, 10.0);
    let code_end = modules.size as f32 + 4.0 + CARD_MARGIN;
    let code_start = -4.0 - CARD_MARGIN;

    let mut out = vec![0.0; width * height];
    for (i, px) in out.iter_mut().enumerate() {
        let (x, y) = ((i % width) as f32 + 0.5, (i / width) as f32 + 0.5);
        let (nx, ny) = (x / wf, y / hf);
        let along = (nx - 0.5) * lc + (ny - 0.5) * ls - light_offset;
        let t = (along / softness).clamp(-0.5, 0.5) + 0.5;
        let light = 1.0 - d.shading * (1.0 - t);
        let plane = to_plane.apply(x, y);
        let surface = plane.and_then(|(u, v)| texture.sample(u, v).map(|s| (u, v, s)));
        *px = match (surface, &d.screen) {
            (Some((u, v, emission)), Some(screen)) => {
                // Footprint of this camera pixel on the screen, in screen pixels.
                let ppm = screen.pixels_per_module;
                let (u1, v1) = to_plane.apply(x + 1.0, y).unwrap_or((u, v));
                let (u2, v2) = to_plane.apply(x, y + 1.0).unwrap_or((u, v));
                let eu = ((u1 - u).abs() + (u2 - u).abs()) * ppm / 2.0;
                let ev = ((v1 - v).abs() + (v2 - v).abs()) * ppm / 2.0;
                let (su, sv) = ((u - code_start) * ppm, (v - code_start) * ppm);
                let mask = aperture_coverage(su - eu, su + eu, screen.fill)
                    * aperture_coverage(sv - ev, sv + ev, screen.fill);
                // Emissive: the room's shading does not dim a screen.
                emission * mask
            }
            (Some((_, _, reflectance)), None) => reflectance * light,
            (None, screen) => {
                let bezel = plane.is_some_and(|(u, v)| {
                    let lo = code_start - BEZEL;
                    let hi = code_end + BEZEL;
                    (lo..hi).contains(&u) && (lo..hi).contains(&v)
                });
                if screen.is_some() && bezel {
                    0.02 * light
                } else {
                    let base = clutter
                        .iter()
                        .find(|(r, _)| nx >= r[0] && nx < r[2] && ny >= r[1] && ny < r[3])
                        .map_or_else(|| background.at(nx, ny), |(_, v)| *v);
                    base * light
                }
            }
        };
        if d.glare > 0.0
            && let Some((u, v)) = plane
        {
            // A specular highlight (lamp or sky reflected in gloss paper or glass), anchored on
            // the ticket, saturating at its core for strong glare.
            let r2 = ((u - glare_at.0).powi(2) + (v - glare_at.1).powi(2))
                / (glare_radius * glare_radius);
            if r2 < 9.0 {
                *px += d.glare * (-r2 / 2.0).exp();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homography_inverse_round_trips() {
        let d = Degradation {
            rotation_deg: 33.0,
            tilt_deg: (25.0, -15.0),
            ..Degradation::default()
        };
        let h = camera(&d, 45, 1280.0, 720.0, &mut Rng::new(1));
        let inv = h.inverse();
        for (u, v) in [(0.0, 0.0), (45.0, 0.0), (22.5, 22.5), (-4.0, 49.0)] {
            let (x, y) = h.apply(u, v).expect("in front of the camera");
            assert!(
                (0.0..1280.0).contains(&x) && (0.0..720.0).contains(&y),
                "{x} {y}"
            );
            let (u2, v2) = inv.apply(x, y).expect("invertible");
            assert!(
                (u - u2).abs() < 1e-2 && (v - v2).abs() < 1e-2,
                "{u},{v} -> {u2},{v2}"
            );
        }
    }

    #[test]
    fn module_scale_at_the_centre_is_module_px() {
        let d = Degradation {
            module_px: 6.0,
            ..Degradation::default()
        };
        let h = camera(&d, 45, 1280.0, 720.0, &mut Rng::new(2));
        let (x0, _) = h.apply(22.0, 22.5).expect("visible");
        let (x1, _) = h.apply(23.0, 22.5).expect("visible");
        assert!(((x1 - x0) - 6.0).abs() < 0.05, "{}", x1 - x0);
    }

    #[test]
    fn aperture_coverage_averages_to_fill_over_whole_periods() {
        assert!((aperture_coverage(0.0, 3.0, 0.7) - 0.7).abs() < 1e-5);
        assert!((aperture_coverage(0.2, 0.5, 0.7) - 1.0).abs() < 1e-5);
        assert!((aperture_coverage(0.7, 1.0, 0.7)).abs() < 1e-5);
        assert_eq!(aperture_coverage(0.75, 0.75, 0.7), 0.0);
    }
}

//! Lens and hand: defocus (Gaussian) and motion blur on a linear-light image. Both run in time
//! independent of the blur size per pixel tap, so hard cases stay cheap enough for debug tests.

/// Gaussian blur approximated by three successive box blurs (error < 3 % of the kernel), done
/// separably with running sums and edge clamping.
pub(crate) fn gaussian_blur(buf: &mut [f32], width: usize, height: usize, sigma: f32) {
    if sigma < 0.3 {
        return;
    }
    let mut scratch = vec![0.0; buf.len()];
    for radius in box_radii(sigma) {
        box_pass(buf, &mut scratch, width, height, radius, Axis::Horizontal);
        box_pass(&scratch, buf, width, height, radius, Axis::Vertical);
    }
}

/// Radii of three boxes whose succession has variance `sigma²` (Kovesi's construction).
fn box_radii(sigma: f32) -> [usize; 3] {
    let n = 3.0;
    let ideal = (12.0 * sigma * sigma / n + 1.0).sqrt();
    let mut lower = ideal.floor() as usize;
    if lower.is_multiple_of(2) {
        lower = lower.saturating_sub(1);
    }
    let lower = lower.max(1);
    let upper = lower + 2;
    let lf = lower as f32;
    let m = ((12.0 * sigma * sigma - n * lf * lf - 4.0 * n * lf - 3.0 * n) / (-4.0 * lf - 4.0))
        .round()
        .clamp(0.0, 3.0) as usize;
    std::array::from_fn(|i| if i < m { lower / 2 } else { upper / 2 })
}

#[derive(Clone, Copy)]
enum Axis {
    Horizontal,
    Vertical,
}

/// One box blur of half-width `radius` along `axis`, `src` into `dst`.
fn box_pass(src: &[f32], dst: &mut [f32], width: usize, height: usize, radius: usize, axis: Axis) {
    let (lines, len, step_line, step_px) = match axis {
        Axis::Horizontal => (height, width, width, 1),
        Axis::Vertical => (width, height, 1, width),
    };
    let norm = 1.0 / (2 * radius + 1) as f32;
    let at = |line: usize, i: isize| {
        let i = i.clamp(0, len as isize - 1) as usize;
        line * step_line + i * step_px
    };
    for line in 0..lines {
        let r = radius as isize;
        let mut sum: f32 = (-r..=r).map(|i| src[at(line, i)]).sum();
        for i in 0..len as isize {
            dst[at(line, i)] = sum * norm;
            sum += src[at(line, i + r + 1)] - src[at(line, i - r)];
        }
    }
}

/// Linear motion blur: the average of the image shifted along a segment of `length` pixels at
/// `angle_deg`, sampled every pixel or closer with bilinear interpolation. Each tap has the same
/// fractional offset everywhere, so its bilinear weights are computed once.
pub(crate) fn motion_blur(
    buf: &mut [f32],
    width: usize,
    height: usize,
    length: f32,
    angle_deg: f32,
) {
    if length < 0.5 {
        return;
    }
    let taps = length.ceil() as usize + 1;
    let (sin, cos) = angle_deg.to_radians().sin_cos();
    let src = buf.to_vec();
    buf.fill(0.0);
    let weight = 1.0 / taps as f32;
    let (w, h) = (width as isize, height as isize);
    for k in 0..taps {
        let t = length * (k as f32 / (taps - 1) as f32 - 0.5);
        let (dx, dy) = (t * cos, t * sin);
        let (ix, iy) = (dx.floor() as isize, dy.floor() as isize);
        let (fx, fy) = (dx - dx.floor(), dy - dy.floor());
        let corner_weights = [
            (0, 0, (1.0 - fx) * (1.0 - fy)),
            (1, 0, fx * (1.0 - fy)),
            (0, 1, (1.0 - fx) * fy),
            (1, 1, fx * fy),
        ];
        for (ox, oy, cw) in corner_weights {
            let cw = cw * weight;
            if cw == 0.0 {
                continue;
            }
            for y in 0..h {
                let sy = (y + iy + oy).clamp(0, h - 1) as usize;
                let src_row = &src[sy * width..(sy + 1) * width];
                let dst_row = &mut buf[y as usize * width..(y as usize + 1) * width];
                for (x, out) in dst_row.iter_mut().enumerate() {
                    let sx = (x as isize + ix + ox).clamp(0, w - 1) as usize;
                    *out += cw * src_row[sx];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn impulse(size: usize) -> Vec<f32> {
        let mut buf = vec![0.0; size * size];
        buf[size / 2 * size + size / 2] = 1.0;
        buf
    }

    fn variance_x(buf: &[f32], size: usize) -> f32 {
        let c = (size / 2) as f32;
        buf.iter()
            .enumerate()
            .map(|(i, v)| v * ((i % size) as f32 - c).powi(2))
            .sum::<f32>()
            / buf.iter().sum::<f32>()
    }

    #[test]
    fn gaussian_keeps_energy_and_matches_sigma() {
        let size = 41;
        let mut buf = impulse(size);
        gaussian_blur(&mut buf, size, size, 3.0);
        assert!((buf.iter().sum::<f32>() - 1.0).abs() < 1e-3);
        let sigma = variance_x(&buf, size).sqrt();
        assert!((sigma - 3.0).abs() < 0.35, "sigma {sigma}");
    }

    #[test]
    fn motion_blur_spreads_along_its_direction_only() {
        let size = 41;
        let mut buf = impulse(size);
        motion_blur(&mut buf, size, size, 12.0, 0.0);
        assert!((buf.iter().sum::<f32>() - 1.0).abs() < 1e-3);
        let centre_row = size / 2 * size;
        let on_row: f32 = buf[centre_row..centre_row + size].iter().sum();
        assert!(on_row > 0.999, "energy left the row: {on_row}");
        // A 12 px box has a standard deviation of about 12 / sqrt(12) ≈ 3.5 px.
        let sigma = variance_x(&buf, size).sqrt();
        assert!((sigma - 3.6).abs() < 0.4, "sigma {sigma}");
    }
}

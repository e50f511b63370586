//! Pixel-format converters into luma. Decoders only need brightness, so the YUV formats that
//! cameras deliver are not colour-converted at all: their Y bytes are the luma plane already
//! (≈ 0.3 ms per 720p frame versus ≈ 5 ms through RGB; docs/performance.md, "Decoders and frames"). RGB and MJPEG are the
//! fallbacks for cameras that offer nothing else.

use super::{Frame, FrameError, pixel_count};

/// The layouts a camera (or a test) can hand over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    /// Already 8-bit grey, one byte per pixel.
    Gray,
    /// Packed 4:2:2, `Y0 U Y1 V` per pixel pair (V4L2 `YUYV`, a.k.a. YUY2).
    Yuyv,
    /// Planar 4:2:0: a full Y plane followed by an interleaved, half-size UV plane.
    Nv12,
    /// Packed 8-bit `R G B`.
    Rgb,
    /// Packed 8-bit `B G R`.
    Bgr,
    /// A JPEG per frame (webcams at high resolutions).
    Mjpeg,
}

impl PixelFormat {
    /// Converts one buffer of this format into a luma frame.
    pub fn to_luma(self, width: u32, height: u32, data: &[u8]) -> Result<Frame, FrameError> {
        let pixels = pixel_count(width, height)?;
        match self {
            Self::Gray => {
                check_len(width, height, pixels, data)?;
                Frame::new(width, height, data[..pixels].to_vec())
            }
            Self::Yuyv => {
                // Pixel pairs share chroma, so an odd width still occupies a whole pair.
                let expected = usize::try_from(width.div_ceil(2))
                    .ok()
                    .and_then(|pairs| pairs.checked_mul(4)?.checked_mul(height as usize))
                    .ok_or(FrameError::Empty { width, height })?;
                check_len(width, height, expected, data)?;
                let row_bytes = expected / height as usize;
                let mut luma = Vec::with_capacity(pixels);
                for row in data.chunks_exact(row_bytes).take(height as usize) {
                    luma.extend(row.iter().step_by(2).take(width as usize));
                }
                Frame::new(width, height, luma)
            }
            Self::Nv12 => {
                let chroma = (width.div_ceil(2) as usize) * (height.div_ceil(2) as usize) * 2;
                check_len(width, height, pixels + chroma, data)?;
                Frame::new(width, height, data[..pixels].to_vec())
            }
            Self::Rgb | Self::Bgr => {
                check_len(width, height, pixels * 3, data)?;
                let (r, b) = if self == Self::Rgb { (0, 2) } else { (2, 0) };
                let luma = data
                    .chunks_exact(3)
                    .take(pixels)
                    .map(|p| rgb_luma(p[r], p[1], p[b]))
                    .collect();
                Frame::new(width, height, luma)
            }
            Self::Mjpeg => {
                let image = image::load_from_memory_with_format(data, image::ImageFormat::Jpeg)
                    .map_err(|source| FrameError::Image {
                        what: "摄像头画面".to_owned(),
                        source,
                    })?
                    .into_luma8();
                if image.dimensions() != (width, height) {
                    return Err(FrameError::BadLength {
                        width,
                        height,
                        expected: pixels,
                        actual: image.as_raw().len(),
                    });
                }
                Frame::new(width, height, image.into_raw())
            }
        }
    }
}

/// BT.601 luma in 8.8 fixed point: the weights sum to 256, so white stays 255.
fn rgb_luma(r: u8, g: u8, b: u8) -> u8 {
    let y = 77 * u32::from(r) + 150 * u32::from(g) + 29 * u32::from(b) + 128;
    // The weights sum to 256, so y >> 8 is at most 255.
    u8::try_from(y >> 8).unwrap_or(u8::MAX)
}

/// Camera drivers sometimes pad buffers at the end; shorter is an error, longer is tolerated.
fn check_len(width: u32, height: u32, expected: usize, data: &[u8]) -> Result<(), FrameError> {
    if data.len() < expected {
        return Err(FrameError::BadLength {
            width,
            height,
            expected,
            actual: data.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuyv_takes_every_other_byte() {
        // 2x2: Y0 U Y1 V | Y2 U Y3 V
        let data = [10, 200, 20, 201, 30, 202, 40, 203];
        let frame = PixelFormat::Yuyv.to_luma(2, 2, &data).expect("valid yuyv");
        assert_eq!(frame.luma(), &[10, 20, 30, 40]);
    }

    #[test]
    fn yuyv_odd_width_drops_the_padding_pixel() {
        // Width 3 occupies two pixel pairs (8 bytes) per row.
        let data = [1, 0, 2, 0, 3, 0, 99, 0, 4, 0, 5, 0, 6, 0, 99, 0];
        let frame = PixelFormat::Yuyv.to_luma(3, 2, &data).expect("valid yuyv");
        assert_eq!(frame.luma(), &[1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn nv12_keeps_the_y_plane() {
        // 4x2 Y plane, then a 2x1 interleaved UV plane (4 bytes).
        let data = [1, 2, 3, 4, 5, 6, 7, 8, 128, 129, 130, 131];
        let frame = PixelFormat::Nv12.to_luma(4, 2, &data).expect("valid nv12");
        assert_eq!(frame.luma(), &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn rgb_uses_bt601_weights() {
        let data = [255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0];
        let frame = PixelFormat::Rgb.to_luma(2, 2, &data).expect("valid rgb");
        assert_eq!(frame.luma(), &[255, 0, 77, 149]);
    }

    #[test]
    fn bgr_swaps_red_and_blue() {
        let data = [0, 0, 255, 255, 0, 0];
        let frame = PixelFormat::Bgr.to_luma(2, 1, &data).expect("valid bgr");
        assert_eq!(frame.luma(), &[77, 29]);
    }

    #[test]
    fn short_buffers_are_errors_not_panics() {
        for format in [
            PixelFormat::Gray,
            PixelFormat::Yuyv,
            PixelFormat::Nv12,
            PixelFormat::Rgb,
            PixelFormat::Bgr,
        ] {
            let err = format.to_luma(4, 4, &[0; 5]).expect_err("too short");
            assert!(
                matches!(err, FrameError::BadLength { .. }),
                "{format:?}: {err}"
            );
        }
        assert!(matches!(
            PixelFormat::Gray.to_luma(0, 4, &[]),
            Err(FrameError::Empty { .. })
        ));
    }

    #[test]
    fn mjpeg_decodes_to_luma_and_rejects_garbage() {
        let grey = image::GrayImage::from_pixel(8, 8, image::Luma([128]));
        let mut jpeg = Vec::new();
        image::DynamicImage::ImageLuma8(grey)
            .write_to(
                &mut std::io::Cursor::new(&mut jpeg),
                image::ImageFormat::Jpeg,
            )
            .expect("encode jpeg");
        let frame = PixelFormat::Mjpeg.to_luma(8, 8, &jpeg).expect("valid jpeg");
        assert!(frame.luma().iter().all(|&y| y.abs_diff(128) <= 2));
        assert!(PixelFormat::Mjpeg.to_luma(8, 8, b"not a jpeg").is_err());
        assert!(PixelFormat::Mjpeg.to_luma(16, 8, &jpeg).is_err());
    }
}

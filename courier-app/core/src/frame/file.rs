//! Frames from image files (PNG, JPEG): headless stores run `scan --image`, and tests feed
//! photographs through the same pipeline as the camera.

use std::path::{Path, PathBuf};

use super::{Frame, FrameError, FrameSource};

/// Reads an image file and keeps only its luma.
pub fn load_image(path: &Path) -> Result<Frame, FrameError> {
    let image_error = |source| FrameError::Image {
        what: path.display().to_string(),
        source,
    };
    let image = image::ImageReader::open(path)
        .map_err(|e| image_error(image::ImageError::IoError(e)))?
        .with_guessed_format()
        .map_err(|e| image_error(image::ImageError::IoError(e)))?
        .decode()
        .map_err(image_error)?
        .into_luma8();
    let (width, height) = image.dimensions();
    Frame::new(width, height, image.into_raw())
}

/// Yields the given files once each, in order, then [`FrameError::Exhausted`].
#[derive(Debug)]
pub struct ImageFileSource {
    paths: std::vec::IntoIter<PathBuf>,
}

impl ImageFileSource {
    /// A source over these files; nothing is read until [`FrameSource::next_frame`].
    pub fn new(paths: impl IntoIterator<Item = PathBuf>) -> Self {
        Self {
            paths: paths.into_iter().collect::<Vec<_>>().into_iter(),
        }
    }
}

impl FrameSource for ImageFileSource {
    fn next_frame(&mut self) -> Result<Frame, FrameError> {
        let path = self.paths.next().ok_or(FrameError::Exhausted)?;
        load_image(&path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_png_and_jpeg_then_runs_dry() {
        let dir = tempfile::tempdir().expect("temp dir");
        let gradient = image::GrayImage::from_fn(32, 16, |x, _| image::Luma([(x * 8) as u8]));
        let png = dir.path().join("a.png");
        let jpg = dir.path().join("b.jpg");
        gradient.save(&png).expect("write png");
        gradient.save(&jpg).expect("write jpeg");

        let mut source = ImageFileSource::new([png, jpg]);
        let first = source.next_frame().expect("png frame");
        assert_eq!((first.width(), first.height()), (32, 16));
        assert_eq!(first.luma(), gradient.as_raw().as_slice());
        let second = source.next_frame().expect("jpeg frame");
        assert_eq!((second.width(), second.height()), (32, 16));
        assert!(matches!(source.next_frame(), Err(FrameError::Exhausted)));
    }

    #[test]
    fn missing_and_corrupt_files_are_errors() {
        let dir = tempfile::tempdir().expect("temp dir");
        let bogus = dir.path().join("bogus.png");
        std::fs::write(&bogus, b"\x89PNG but not really").expect("write");
        for path in [dir.path().join("missing.png"), bogus] {
            let err = load_image(&path).expect_err("unreadable");
            assert!(err.to_string().contains("无法读取图片"), "{err}");
        }
    }
}

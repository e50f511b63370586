//! Camera frames as the decoders want them: one 8-bit luma plane, tightly packed. Every input
//! (camera, image file, synthetic ticket) is turned into a [`Frame`] at the edge so the rest of
//! the pipeline never deals with pixel formats.

mod file;
mod luma;
mod synthetic;

#[cfg(feature = "camera")]
mod camera;

#[cfg(feature = "camera")]
pub use camera::CameraSource;
pub use file::{ImageFileSource, load_image};
pub use luma::PixelFormat;
pub use synthetic::SyntheticSource;

/// One grey-scale picture: `width * height` luma bytes, row by row, no padding.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    width: u32,
    height: u32,
    luma: Vec<u8>,
}

impl Frame {
    /// Wraps a luma plane, checking that its length matches the dimensions (the decoders index
    /// it blindly, so the invariant is enforced here once).
    pub fn new(width: u32, height: u32, luma: Vec<u8>) -> Result<Self, FrameError> {
        let expected = pixel_count(width, height)?;
        if luma.len() != expected {
            return Err(FrameError::BadLength {
                width,
                height,
                expected,
                actual: luma.len(),
            });
        }
        Ok(Self {
            width,
            height,
            luma,
        })
    }

    /// Width in pixels (never 0).
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels (never 0).
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The luma plane, `width * height` bytes.
    pub fn luma(&self) -> &[u8] {
        &self.luma
    }

    /// Gives the luma plane back, e.g. to reuse the allocation.
    pub fn into_luma(self) -> Vec<u8> {
        self.luma
    }
}

impl std::fmt::Debug for Frame {
    // A derived Debug would dump a megabyte of pixels into logs and test failures.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frame({}x{})", self.width, self.height)
    }
}

/// `width * height`, refusing empty frames and sizes that do not fit in memory arithmetic.
pub(crate) fn pixel_count(width: u32, height: u32) -> Result<usize, FrameError> {
    if width == 0 || height == 0 {
        return Err(FrameError::Empty { width, height });
    }
    usize::try_from(u64::from(width) * u64::from(height))
        .map_err(|_| FrameError::Empty { width, height })
}

/// Anything that yields frames: a camera, a list of image files, a rendered ticket.
pub trait FrameSource {
    /// Returns the next frame, or an error that says why there is none.
    fn next_frame(&mut self) -> Result<Frame, FrameError>;
}

/// Why no frame could be produced. Messages are shown to the courier, hence zh-CN.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Zero-sized (or absurdly large) dimensions.
    #[error("画面尺寸无效：{width}×{height}")]
    Empty {
        /// Claimed width.
        width: u32,
        /// Claimed height.
        height: u32,
    },
    /// The pixel buffer does not match the claimed size and format.
    #[error("画面数据长度不符：{width}×{height} 需要 {expected} 字节，实际 {actual} 字节")]
    BadLength {
        /// Claimed width.
        width: u32,
        /// Claimed height.
        height: u32,
        /// Bytes the format needs for that size.
        expected: usize,
        /// Bytes received.
        actual: usize,
    },
    /// An image file or compressed camera frame could not be read.
    #[error("无法读取图片 {what}：{source}")]
    Image {
        /// File name or "摄像头画面".
        what: String,
        /// The decoder's own error.
        #[source]
        source: image::ImageError,
    },
    /// A source that yields a fixed list has given all of it.
    #[error("没有更多画面")]
    Exhausted,
    /// The synthetic source could not encode its text as a QR code.
    #[error("无法生成二维码：{0}")]
    Render(String),
    /// No camera is attached (or none is visible to this process).
    #[error("未找到摄像头，请检查摄像头连接或权限")]
    NoCamera,
    /// The camera exists but failed.
    #[error("摄像头错误：{0}")]
    Camera(String),
    /// The camera delivers a pixel format this pipeline does not convert.
    #[error("不支持的摄像头画面格式：{0}")]
    UnsupportedFormat(String),
}

//! A real camera through nokhwa (V4L2 on Linux, AVFoundation, Media Foundation). Frames are
//! taken raw and converted to luma here, so YUYV and NV12 cameras never pay for an RGB decode.

use nokhwa::Camera;
use nokhwa::pixel_format::LumaFormat;
use nokhwa::utils::{ApiBackend, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType};

use super::{Frame, FrameError, FrameSource, PixelFormat};

/// A camera, opened and streaming.
pub struct CameraSource {
    camera: Camera,
}

impl CameraSource {
    /// Opens camera number `index` (0 = the first) at its highest frame rate. With no camera
    /// attached this returns [`FrameError::NoCamera`] rather than a backend-specific error.
    pub fn open(index: u32) -> Result<Self, FrameError> {
        let cameras = nokhwa::query(ApiBackend::Auto).map_err(|e| camera_error(&e))?;
        if cameras.is_empty() {
            return Err(FrameError::NoCamera);
        }
        let requested =
            RequestedFormat::new::<LumaFormat>(RequestedFormatType::AbsoluteHighestFrameRate);
        let mut camera =
            Camera::new(CameraIndex::Index(index), requested).map_err(|e| camera_error(&e))?;
        camera.open_stream().map_err(|e| camera_error(&e))?;
        Ok(Self { camera })
    }
}

fn camera_error(e: &nokhwa::NokhwaError) -> FrameError {
    FrameError::Camera(e.to_string())
}

impl FrameSource for CameraSource {
    fn next_frame(&mut self) -> Result<Frame, FrameError> {
        let buffer = self.camera.frame().map_err(|e| camera_error(&e))?;
        let format = match buffer.source_frame_format() {
            FrameFormat::YUYV => PixelFormat::Yuyv,
            FrameFormat::NV12 => PixelFormat::Nv12,
            FrameFormat::GRAY => PixelFormat::Gray,
            FrameFormat::RAWRGB => PixelFormat::Rgb,
            FrameFormat::RAWBGR => PixelFormat::Bgr,
            FrameFormat::MJPEG => PixelFormat::Mjpeg,
        };
        let resolution = buffer.resolution();
        format.to_luma(resolution.width(), resolution.height(), buffer.buffer())
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        // Releases the device for the next scan screen; nothing useful to do on failure.
        let _ = self.camera.stop_stream();
    }
}

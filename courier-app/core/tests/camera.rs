//! The real camera source (feature `camera`): on a machine without a camera (CI, headless
//! stores) opening one must fail with a clear error, never panic.
#![cfg(feature = "camera")]

use shuipiao_courier::frame::{CameraSource, FrameError, FrameSource};

#[test]
fn no_camera_is_a_clean_error() {
    let has_video_device = std::fs::read_dir("/dev")
        .map(|dir| {
            dir.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("video"))
        })
        .unwrap_or(false);
    match CameraSource::open(0) {
        Err(FrameError::NoCamera) => assert!(!has_video_device),
        Err(e @ FrameError::Camera(_)) => assert!(!e.to_string().is_empty()),
        Err(other) => panic!("unexpected error kind: {other}"),
        Ok(mut camera) => {
            // A camera is attached after all: it must deliver a frame or a clean error.
            if let Ok(frame) = camera.next_frame() {
                assert!(frame.width() > 0 && frame.height() > 0);
            }
        }
    }
}

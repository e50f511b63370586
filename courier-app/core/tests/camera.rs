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

#[test]
fn the_cli_reports_a_missing_camera_in_chinese() {
    if std::fs::read_dir("/dev").is_ok_and(|mut d| {
        d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("video")))
    }) {
        return; // A camera is attached: the CLI would wait for a code.
    }
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_shuipiao-courier"))
        .arg("--db")
        .arg(dir.path().join("courier.db"))
        .args(["scan", "--camera"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "clean failure, not a panic: {stderr}"
    );
    assert!(stderr.contains("摄像头"), "{stderr}");
}

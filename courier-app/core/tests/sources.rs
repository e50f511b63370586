//! Frame sources end to end: a ticket rendered to a PNG on disk, read back by the image-file
//! source, and a synthetic "camera" both decode to the exact ticket text.

use shuipiao_courier::decode::{Decoder, recommended};
use shuipiao_courier::degrade::{Degradation, ticket_text};
use shuipiao_courier::frame::{FrameError, FrameSource, ImageFileSource, SyntheticSource};

#[test]
fn png_on_disk_decodes_through_the_image_file_source() {
    let text = ticket_text(2024);
    let frame = SyntheticSource::new(text.clone(), 640, 480)
        .degraded(Degradation {
            module_px: 6.0,
            rotation_deg: 17.0,
            ..Degradation::default()
        })
        .next_frame()
        .expect("render");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ticket.png");
    image::GrayImage::from_raw(frame.width(), frame.height(), frame.into_luma())
        .expect("sizes match")
        .save(&path)
        .expect("write png");

    let mut source = ImageFileSource::new([path]);
    let read = source.next_frame().expect("read png");
    assert_eq!(recommended().decode(&read), Ok(vec![text]));
    assert!(matches!(source.next_frame(), Err(FrameError::Exhausted)));
}

#[test]
fn synthetic_camera_shows_the_ticket_frame_after_frame() {
    let text = ticket_text(7);
    let mut camera = SyntheticSource::new(text.clone(), 1280, 720).seeded(100);
    let decoder = recommended();
    for _ in 0..3 {
        let frame = camera.next_frame().expect("frame");
        assert_eq!(decoder.decode(&frame), Ok(vec![text.clone()]));
    }
}

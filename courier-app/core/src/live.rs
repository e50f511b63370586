//! Live scanning for an app's scan screen: a frame source chosen by a short spec string, and a
//! background thread that turns its frames into preview images and decoded codes.
//!
//! The spec is what settings and tests choose between: `camera:N` (a real camera, with the
//! `camera` feature), `image:PATH` (a photo re-read at every frame, so a test can swap it) and
//! `ticket:PATH` (a synthetic camera that shows the QR text held in a file, blank paper while the
//! file is empty or missing). Mobile platforms hand their own frames to the same [`FrameSource`]
//! trait; only this choice of source differs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::decode;
use crate::frame::{Frame, FrameError, FrameSource, SyntheticSource, load_image};

/// Where the scan screen's frames come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// Camera number N (0 = the first).
    Camera(u32),
    /// A PNG or JPEG file, re-read at every frame.
    Image(PathBuf),
    /// A synthetic camera showing the QR text held in this file.
    Ticket(PathBuf),
}

impl SourceSpec {
    /// Parses `camera:N`, `image:PATH` or `ticket:PATH`; a bare `camera` means camera 0.
    pub fn parse(spec: &str) -> Result<SourceSpec, SpecError> {
        let spec = spec.trim();
        let (kind, rest) = spec.split_once(':').unwrap_or((spec, ""));
        match kind {
            "camera" if rest.is_empty() => Ok(SourceSpec::Camera(0)),
            "camera" => rest
                .parse()
                .map(SourceSpec::Camera)
                .map_err(|_| SpecError(spec.to_owned())),
            "image" if !rest.is_empty() => Ok(SourceSpec::Image(PathBuf::from(rest))),
            "ticket" if !rest.is_empty() => Ok(SourceSpec::Ticket(PathBuf::from(rest))),
            _ => Err(SpecError(spec.to_owned())),
        }
    }

    /// Opens the source. Call it on the thread that will read the frames (cameras may be tied
    /// to the thread that opened them).
    pub fn open(&self) -> Result<Box<dyn FrameSource>, FrameError> {
        match self {
            SourceSpec::Camera(index) => open_camera(*index),
            SourceSpec::Image(path) => Ok(Box::new(ImageLoopSource { path: path.clone() })),
            SourceSpec::Ticket(path) => Ok(Box::new(TicketFileSource::new(path))),
        }
    }
}

impl std::fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceSpec::Camera(index) => write!(f, "camera:{index}"),
            SourceSpec::Image(path) => write!(f, "image:{}", path.display()),
            SourceSpec::Ticket(path) => write!(f, "ticket:{}", path.display()),
        }
    }
}

/// A frame source spec that is none of the known forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("画面来源格式不正确：{0}（应为 camera:N、image:路径 或 ticket:路径）")]
pub struct SpecError(pub String);

#[cfg(feature = "camera")]
fn open_camera(index: u32) -> Result<Box<dyn FrameSource>, FrameError> {
    Ok(Box::new(crate::frame::CameraSource::open(index)?))
}

#[cfg(not(feature = "camera"))]
fn open_camera(_index: u32) -> Result<Box<dyn FrameSource>, FrameError> {
    Err(FrameError::Camera(
        "此版本未包含摄像头支持（需以 camera 功能编译）".to_owned(),
    ))
}

/// A photo shown to the camera, re-read at every frame.
#[derive(Debug)]
struct ImageLoopSource {
    path: PathBuf,
}

impl FrameSource for ImageLoopSource {
    fn next_frame(&mut self) -> Result<Frame, FrameError> {
        load_image(&self.path)
    }
}

/// Width and height of the synthetic camera's frames.
const TICKET_FRAME: (u32, u32) = (480, 360);

/// A synthetic camera looking at whatever QR text a file holds.
#[derive(Debug)]
pub struct TicketFileSource {
    path: PathBuf,
    showing: Option<(String, SyntheticSource)>,
    seed: u64,
}

impl TicketFileSource {
    /// A source showing the text in `path` (nothing while it is empty or missing).
    pub fn new(path: &Path) -> TicketFileSource {
        TicketFileSource {
            path: path.to_owned(),
            showing: None,
            seed: 0,
        }
    }
}

impl FrameSource for TicketFileSource {
    fn next_frame(&mut self) -> Result<Frame, FrameError> {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let text = text.trim();
        let (width, height) = TICKET_FRAME;
        if text.is_empty() {
            self.showing = None;
            // Blank paper with a little sensor noise, so the preview looks alive.
            self.seed = self.seed.wrapping_add(1);
            let luma = (0..width * height)
                .map(|i| {
                    let noise =
                        (u64::from(i) ^ self.seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 61;
                    200 + noise as u8
                })
                .collect();
            return Frame::new(width, height, luma);
        }
        if self.showing.as_ref().is_none_or(|(shown, _)| shown != text) {
            let source = SyntheticSource::new(text, width, height).seeded(self.seed);
            self.showing = Some((text.to_owned(), source));
        }
        match &mut self.showing {
            Some((_, source)) => source.next_frame(),
            None => Err(FrameError::Exhausted),
        }
    }
}

/// Encodes a frame as a small grey JPEG `data:` URL for a preview `<img>`, `max_width` pixels
/// wide at most.
pub fn preview_data_url(frame: &Frame, max_width: u32) -> Result<String, FrameError> {
    let (width, height) = (frame.width(), frame.height());
    let scale = (max_width.max(1) as f32 / width as f32).min(1.0);
    let out_w = ((width as f32 * scale).round() as u32).max(1);
    let out_h = ((height as f32 * scale).round() as u32).max(1);
    let luma = frame.luma();
    let mut small = Vec::with_capacity((out_w * out_h) as usize);
    for y in 0..out_h {
        let src_y = (u64::from(y) * u64::from(height) / u64::from(out_h)) as usize;
        for x in 0..out_w {
            let src_x = (u64::from(x) * u64::from(width) / u64::from(out_w)) as usize;
            small.push(luma[src_y * width as usize + src_x]);
        }
    }
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 70)
        .encode(&small, out_w, out_h, image::ExtendedColorType::L8)
        .map_err(|source| FrameError::Image {
            what: "预览画面".to_owned(),
            source,
        })?;
    Ok(format!(
        "data:image/jpeg;base64,{}",
        data_encoding::BASE64.encode(&jpeg)
    ))
}

/// Timing and size of the live loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveConfig {
    /// Shortest time between two frames.
    pub frame_interval: Duration,
    /// Width of preview images, pixels.
    pub preview_width: u32,
    /// Decoding time after which a frame starts no further retry: the next frame resumes them
    /// (`decode::Chain::decode_within`).
    pub decode_budget: Duration,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            frame_interval: Duration::from_millis(100),
            preview_width: 360,
            decode_budget: decode::FRAME_BUDGET,
        }
    }
}

/// What the live loop reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LiveEvent {
    /// A preview image of the latest frame.
    Preview {
        /// `data:image/jpeg;base64,…`.
        data_url: String,
    },
    /// A QR code was read (only while not paused).
    Code {
        /// Its text.
        text: String,
    },
    /// A code is in view but could not be read: hold still or move closer.
    Unreadable,
    /// The source failed and the loop stopped.
    Failed {
        /// zh-CN reason.
        message: String,
    },
}

/// What the handler of a [`LiveEvent::Code`] wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep decoding.
    Continue,
    /// Keep previewing but stop decoding until [`LiveScanner::resume`] (a verdict is on screen).
    Pause,
}

/// A running live loop; dropping it stops the loop and releases the source.
pub struct LiveScanner {
    stop: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LiveScanner {
    /// Starts reading `spec` on a new thread; `on_event` runs on that thread.
    pub fn start(
        spec: SourceSpec,
        config: LiveConfig,
        mut on_event: impl FnMut(LiveEvent) -> Flow + Send + 'static,
    ) -> LiveScanner {
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let (stop_flag, paused_flag) = (stop.clone(), paused.clone());
        let thread = std::thread::spawn(move || {
            let mut source = match spec.open() {
                Ok(source) => source,
                Err(error) => {
                    on_event(LiveEvent::Failed {
                        message: error.to_string(),
                    });
                    return;
                }
            };
            let decoder = decode::recommended();
            let mut resume = decode::Resume::default();
            while !stop_flag.load(Ordering::SeqCst) {
                let started = Instant::now();
                let frame = match source.next_frame() {
                    Ok(frame) => frame,
                    Err(error) => {
                        on_event(LiveEvent::Failed {
                            message: error.to_string(),
                        });
                        return;
                    }
                };
                if let Ok(data_url) = preview_data_url(&frame, config.preview_width) {
                    on_event(LiveEvent::Preview { data_url });
                }
                if !paused_flag.load(Ordering::SeqCst) {
                    match decoder.decode_within(&frame, config.decode_budget, &mut resume) {
                        Ok(texts) => {
                            if let Some(text) = texts.into_iter().next()
                                && on_event(LiveEvent::Code { text }) == Flow::Pause
                            {
                                paused_flag.store(true, Ordering::SeqCst);
                            }
                        }
                        Err(_) => {
                            on_event(LiveEvent::Unreadable);
                        }
                    }
                }
                if let Some(rest) = config.frame_interval.checked_sub(started.elapsed()) {
                    std::thread::sleep(rest);
                }
            }
        });
        LiveScanner {
            stop,
            paused,
            thread: Some(thread),
        }
    }

    /// Decodes again after a [`Flow::Pause`].
    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }

    /// Whether decoding is paused.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }
}

impl Drop for LiveScanner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            // A panicked loop has nothing left to release.
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::decode::Decoder;

    #[test]
    fn specs_parse_and_print_back() {
        for text in ["camera:2", "image:/tmp/a.png", "ticket:/tmp/t.txt"] {
            assert_eq!(SourceSpec::parse(text).expect(text).to_string(), text);
        }
        assert_eq!(SourceSpec::parse("camera"), Ok(SourceSpec::Camera(0)));
        for bad in ["", "camera:x", "image:", "webcam:1"] {
            assert!(SourceSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ticket_file_shows_blank_paper_then_the_ticket() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ticket.txt");
        let mut source = TicketFileSource::new(&path);
        let decoder = decode::recommended();
        let blank = source.next_frame().expect("blank frame");
        assert!(decoder.decode(&blank).expect("no code").is_empty());
        std::fs::write(&path, "SP1HELLOWORLD\n").expect("write");
        let shown = source.next_frame().expect("ticket frame");
        assert_eq!(
            decoder.decode(&shown).expect("decode"),
            vec!["SP1HELLOWORLD"]
        );
    }

    #[test]
    fn preview_is_a_small_jpeg_data_url() {
        let frame = Frame::new(640, 480, vec![128; 640 * 480]).expect("frame");
        let url = preview_data_url(&frame, 320).expect("encode");
        let payload = url.strip_prefix("data:image/jpeg;base64,").expect("prefix");
        let jpeg = data_encoding::BASE64
            .decode(payload.as_bytes())
            .expect("base64");
        let image = image::load_from_memory(&jpeg).expect("jpeg");
        assert_eq!((image.width(), image.height()), (320, 240));
    }

    #[test]
    fn live_loop_reads_a_code_pauses_and_resumes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ticket.txt");
        std::fs::write(&path, "SP1LIVE").expect("write");
        let (tx, rx) = mpsc::channel();
        let scanner = LiveScanner::start(
            SourceSpec::Ticket(path),
            LiveConfig {
                frame_interval: Duration::from_millis(5),
                preview_width: 64,
                ..LiveConfig::default()
            },
            move |event| {
                let _ = tx.send(event);
                Flow::Pause
            },
        );
        let mut codes = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        while codes == 0 && Instant::now() < deadline {
            if let Ok(LiveEvent::Code { text }) = rx.recv_timeout(Duration::from_secs(60)) {
                assert_eq!(text, "SP1LIVE");
                codes += 1;
            }
        }
        assert_eq!(codes, 1, "the ticket was read");
        // The loop sets the flag once the callback has returned, just after the event arrived.
        while !scanner.is_paused() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(scanner.is_paused(), "a verdict pauses decoding");
        scanner.resume();
        assert!(!scanner.is_paused());
    }

    #[test]
    fn a_missing_camera_or_bad_image_stops_the_loop_with_a_reason() {
        let (tx, rx) = mpsc::channel();
        let _scanner = LiveScanner::start(
            SourceSpec::Image(PathBuf::from("/nonexistent/ticket.png")),
            LiveConfig::default(),
            move |event| {
                let _ = tx.send(event);
                Flow::Continue
            },
        );
        match rx.recv_timeout(Duration::from_secs(30)).expect("an event") {
            LiveEvent::Failed { message } => assert!(message.contains("无法读取图片"), "{message}"),
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}

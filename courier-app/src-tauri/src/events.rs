//! Events the shell pushes to the UI: verdicts, camera previews and state, the status bar,
//! delivery scans and enrollment QRs read.

use serde::Serialize;
use shuipiao_courier::engine::ScanOutcome;
use shuipiao_courier::status_bar::StatusBar;
use tauri::{AppHandle, Emitter, Runtime};

/// A verdict to show full screen.
pub const VERDICT: &str = "verdict";
/// A preview image of the camera (`{data_url}`).
pub const PREVIEW: &str = "preview";
/// The camera stopped or a code in view could not be read (`{kind, message}`).
pub const CAMERA: &str = "camera";
/// The status bar changed.
pub const STATUS: &str = "status";
/// A delivery scan was decided (`DeliveryDone`: its verdict, and the order's state).
pub const DELIVERY: &str = "delivery";
/// An enrollment QR was read (`{server_url, code}`).
pub const ENROLL_QR: &str = "enroll_qr";

/// A verdict with the warnings already worded.
#[derive(Debug, Clone, Serialize)]
pub struct VerdictEvent {
    /// What the engine decided and recorded.
    pub outcome: ScanOutcome,
    /// zh-CN warnings to show under the verdict.
    pub warnings: Vec<String>,
    /// Scanned in 练习模式.
    pub training: bool,
}

impl VerdictEvent {
    /// The event for `outcome`.
    pub fn new(outcome: ScanOutcome, training: bool) -> VerdictEvent {
        VerdictEvent {
            warnings: outcome
                .warnings
                .iter()
                .map(|w| w.message().to_owned())
                .collect(),
            outcome,
            training,
        }
    }
}

/// Sends `payload` to every window; a closed window has nothing to show, so failures are
/// ignored.
pub fn emit<R: Runtime, T: Serialize + Clone>(app: &AppHandle<R>, event: &str, payload: T) {
    let _ = app.emit(event, payload);
}

/// Sends the status bar.
pub fn status<R: Runtime>(app: &AppHandle<R>, bar: &StatusBar) {
    emit(app, STATUS, bar.clone());
}

//! Wires the engine's live loop to the window: previews and camera trouble become events, and a
//! code read becomes a verdict (the loop pauses until the courier taps 继续扫码), the delivery of
//! the order the camera was started for, or, on the enrollment screen, the server address and
//! code of an enrollment QR.

use serde::Serialize;
use shuipiao_courier::engine::ScanSource;
use shuipiao_courier::enroll_qr;
use shuipiao_courier::live::{Flow, LiveConfig, LiveEvent, LiveScanner, SourceSpec};
use tauri::{AppHandle, Manager, Runtime};

use crate::error::CommandError;
use crate::events::{self, VerdictEvent};
use crate::state::{AppState, refresh_status};

/// The `camera` event.
#[derive(Debug, Clone, Serialize)]
pub struct CameraEvent {
    /// `failed` (the loop stopped), `unreadable` (hold still), `duplicate` (same ticket again),
    /// `error` (the scan could not be recorded) or `not_enrollment` (a code that is not an
    /// enrollment QR, while enrolling).
    pub kind: &'static str,
    /// zh-CN text.
    pub message: String,
}

/// What codes read by the camera are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Tickets at the door: each code read is a scan.
    Tickets,
    /// The enrollment QR: the first one read fills the enrollment form.
    Enrollment,
    /// The ticket of a tickets order at its door: the first code read delivers it.
    Delivery {
        /// The order.
        order_id: u64,
        /// Empty buckets taken back.
        empties: u16,
        /// Deposits (押桶) taken.
        deposits: u16,
    },
}

/// Starts the camera loop on the source from the environment or the settings.
pub fn start<R: Runtime>(app: &AppHandle<R>, purpose: Purpose) -> Result<(), CommandError> {
    let state = app.state::<AppState>();
    let spec = match &state.camera_override {
        Some(spec) => spec.clone(),
        None => state.data.settings()?.camera,
    };
    let spec = SourceSpec::parse(&spec)?;
    let app = app.clone();
    let scanner = LiveScanner::start(spec, LiveConfig::default(), move |event| {
        on_event(&app, purpose, event)
    });
    state.set_scanner(Some(scanner));
    Ok(())
}

/// Tells the UI about the camera: `kind` and the zh-CN text.
fn camera_event<R: Runtime>(app: &AppHandle<R>, kind: &'static str, message: &str) {
    events::emit(
        app,
        events::CAMERA,
        CameraEvent {
            kind,
            message: message.to_owned(),
        },
    );
}

fn on_event<R: Runtime>(app: &AppHandle<R>, purpose: Purpose, event: LiveEvent) -> Flow {
    match event {
        LiveEvent::Preview { data_url } => {
            events::emit(
                app,
                events::PREVIEW,
                serde_json::json!({ "data_url": data_url }),
            );
            Flow::Continue
        }
        LiveEvent::Unreadable => {
            camera_event(app, "unreadable", "二维码不清晰，请拿稳或靠近一些");
            Flow::Continue
        }
        LiveEvent::Failed { message } => {
            camera_event(app, "failed", &message);
            Flow::Continue
        }
        LiveEvent::Code { text } => match purpose {
            Purpose::Enrollment => match enroll_qr::parse(&text) {
                Ok(qr) => {
                    events::emit(app, events::ENROLL_QR, qr);
                    Flow::Pause
                }
                Err(error) => {
                    camera_event(app, "not_enrollment", error.user_message());
                    Flow::Continue
                }
            },
            Purpose::Delivery {
                order_id,
                empties,
                deposits,
            } => deliver(app, order_id, &text, empties, deposits),
            Purpose::Tickets => scan(app, &text),
        },
    }
}

/// A ticket read on the scan screen: its verdict, and the loop pauses.
fn scan<R: Runtime>(app: &AppHandle<R>, text: &str) -> Flow {
    let state = app.state::<AppState>();
    match state.scan(text, ScanSource::Camera) {
        Ok(outcome) if outcome.duplicate => {
            camera_event(app, "duplicate", "同一张水票，已忽略，请移开");
            Flow::Continue
        }
        Ok(outcome) => {
            events::emit(
                app,
                events::VERDICT,
                VerdictEvent::new(outcome, state.training()),
            );
            refresh_status(app);
            Flow::Pause
        }
        Err(error) => {
            camera_event(app, "error", &error.message);
            Flow::Pause
        }
    }
}

/// A ticket read at the door of a tickets order: the delivery (or the refused scan) arrives as
/// a `delivery` event and the loop pauses; a code of another book or a closed order is told in
/// the camera hint and decoding goes on, since nothing was recorded.
fn deliver<R: Runtime>(
    app: &AppHandle<R>,
    order_id: u64,
    text: &str,
    empties: u16,
    deposits: u16,
) -> Flow {
    let state = app.state::<AppState>();
    match state.deliver_scanned(order_id, text, empties, deposits) {
        Ok(done) => {
            events::emit(app, events::DELIVERY, done);
            refresh_status(app);
            Flow::Pause
        }
        Err(error) => {
            camera_event(app, "error", &error.message);
            Flow::Continue
        }
    }
}

//! The courier app's Tauri 2 shell. It is thin: commands call the engine (`shuipiao-courier`),
//! verdicts, camera previews and the status bar reach the UI as events, and the UI (`../ui`,
//! plain HTML/CSS/JS, no build step) only displays them.
//!
//! - [`commands`]: what the UI can invoke, one module per screen area.
//! - [`camera`]: the engine's live loop wired to events.
//! - [`state`]: engines, sync task, camera loop and wedge parser between calls.
//! - [`events`] and [`error`]: what the UI receives.
#![forbid(unsafe_code)]

pub mod camera;
pub mod commands;
pub mod error;
pub mod events;
pub mod state;

use std::path::PathBuf;

use shuipiao_courier::data_dir::DataDir;
use tauri::{AppHandle, Builder, Manager, Runtime};

use crate::error::CommandError;
use crate::state::AppState;

/// Environment variable naming the data directory (tests, several devices on one desktop).
pub const DATA_DIR_ENV: &str = "SHUIPIAO_COURIER_DATA_DIR";
/// Environment variable overriding the frame source spec, e.g. `ticket:/tmp/ticket.txt`.
pub const CAMERA_ENV: &str = "SHUIPIAO_COURIER_CAMERA";

/// Where the app keeps its data and which frame source it scans, when not the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launch {
    /// The data directory; the platform's app data directory when `None`.
    pub data_dir: Option<PathBuf>,
    /// A frame source spec overriding the settings (see `shuipiao_courier::live::SourceSpec`).
    pub camera: Option<String>,
}

impl Launch {
    /// From [`DATA_DIR_ENV`] and [`CAMERA_ENV`].
    pub fn from_env() -> Launch {
        Launch {
            data_dir: std::env::var_os(DATA_DIR_ENV).map(PathBuf::from),
            camera: std::env::var(CAMERA_ENV).ok(),
        }
    }
}

/// Adds [`start`] as the setup step and every command to `builder`.
pub fn setup<R: Runtime>(builder: Builder<R>, launch: Launch) -> Builder<R> {
    builder
        .setup(move |app| Ok(start(app.handle(), launch).map_err(|e| e.message)?))
        .invoke_handler(tauri::generate_handler![
            commands::device::overview,
            commands::device::enroll,
            commands::device::scan_enrollment_qr,
            commands::device::sync_now,
            commands::device::status,
            commands::device::assist_qr,
            commands::device::logout,
            commands::scan::start_camera,
            commands::scan::stop_camera,
            commands::scan::resume_camera,
            commands::scan::set_choice,
            commands::scan::practice_scan,
            commands::scan::counter_keys,
            commands::scan::arm_override,
            commands::scan::set_supervisor_pin,
            commands::deliveries::deliveries,
            commands::deliveries::delivery_phone,
            commands::deliveries::deliver,
            commands::deliveries::deliver_scan,
            commands::records::history,
            commands::records::today,
            commands::records::undo,
            commands::settings::settings,
            commands::settings::save_settings,
            commands::settings::set_training,
        ])
}

/// Opens the data directory, manages the state and starts the status ticker. Run once, as the
/// setup step of [`setup`] (tests with the mock runtime call it themselves after building).
pub fn start<R: Runtime>(app: &AppHandle<R>, launch: Launch) -> Result<(), CommandError> {
    let data = match launch.data_dir {
        Some(dir) => DataDir::new(dir),
        None => DataDir::new(
            app.path()
                .app_data_dir()
                .map_err(|_| CommandError::new("data_dir", "找不到应用数据目录"))?,
        ),
    };
    app.manage(AppState::open(data, launch.camera)?);
    state::spawn_status_ticker(app.clone());
    Ok(())
}

/// Runs the app.
pub fn run() {
    if let Err(error) =
        setup(Builder::default(), Launch::from_env()).run(tauri::generate_context!())
    {
        eprintln!("水票配送无法启动：{error}");
        std::process::exit(1);
    }
}

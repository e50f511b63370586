//! Tauri commands, one module per screen area. Each takes the app handle, calls the engine (on a
//! blocking thread when it touches the database) and maps the error to `{code, message}`.

pub mod deliveries;
pub mod device;
pub mod records;
pub mod scan;
pub mod settings;

use tauri::{AppHandle, Manager, Runtime};

use crate::error::CommandError;
use crate::state::AppState;

/// Runs `f` with the state on a blocking thread: engine calls wait for the disk.
pub async fn blocking<R: Runtime, T: Send + 'static>(
    app: &AppHandle<R>,
    f: impl FnOnce(&AppHandle<R>, &AppState) -> Result<T, CommandError> + Send + 'static,
) -> Result<T, CommandError> {
    let app = app.clone();
    tauri::async_runtime::spawn_blocking(move || f(&app, &app.state::<AppState>()))
        .await
        .map_err(|_| CommandError::new("shell", "应用内部错误，请重启应用"))?
}

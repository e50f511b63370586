//! The scan and counter screens: camera loop, product and quantity, scanner keys, supervisor
//! override, and practice tickets.

use std::num::NonZeroU16;

use serde::Deserialize;
use shuipiao_courier::engine::ScanSource;
use shuipiao_shared::ids::ProductCode;
use tauri::{AppHandle, Runtime};

use super::blocking;
use crate::camera::{self, Purpose};
use crate::error::CommandError;
use crate::events::VerdictEvent;
use crate::state::{Choice, refresh_status};

/// Starts the camera preview and decoding of tickets.
#[tauri::command]
pub async fn start_camera<R: Runtime>(app: AppHandle<R>) -> Result<(), CommandError> {
    blocking(&app, |app, _| camera::start(app, Purpose::Tickets)).await
}

/// Stops the camera (leaving the scan screen).
#[tauri::command]
pub async fn stop_camera<R: Runtime>(app: AppHandle<R>) -> Result<(), CommandError> {
    blocking(&app, |_, state| {
        state.set_scanner(None);
        Ok(())
    })
    .await
}

/// Decodes again after a verdict (继续扫码).
#[tauri::command]
pub async fn resume_camera<R: Runtime>(app: AppHandle<R>) -> Result<(), CommandError> {
    blocking(&app, |_, state| {
        state.resume_scanner();
        Ok(())
    })
    .await
}

/// Sets the product and quantity for the next scans and remembers the product as the default.
#[tauri::command]
pub async fn set_choice<R: Runtime>(
    app: AppHandle<R>,
    product: u16,
    quantity: u16,
) -> Result<(), CommandError> {
    let quantity = NonZeroU16::new(quantity)
        .ok_or_else(|| CommandError::new("invalid_quantity", "数量至少为1"))?;
    blocking(&app, move |_, state| {
        state.set_choice(Choice {
            product: ProductCode(product),
            quantity,
        });
        let mut settings = state.data.settings()?;
        settings.last_product = ProductCode(product);
        Ok(state.data.save_settings(&settings)?)
    })
    .await
}

/// 练习模式: scans practice ticket `index` (as listed by `set_training`) in its sync state.
#[tauri::command]
pub async fn practice_scan<R: Runtime>(
    app: AppHandle<R>,
    index: usize,
) -> Result<VerdictEvent, CommandError> {
    blocking(&app, move |app, state| {
        let outcome = state.practice_scan(index)?;
        refresh_status(app);
        Ok(VerdictEvent::new(outcome, true))
    })
    .await
}

/// One key from a USB scanner: `"Enter"`, `"Tab"` or a single character, and when it came.
#[derive(Debug, Clone, Deserialize)]
pub struct KeyPress {
    /// The key as the browser names it.
    pub key: String,
    /// Milliseconds (any monotonic origin).
    pub at_ms: u64,
}

/// Counter mode: feeds scanner keys to the wedge parser and decides every completed line.
#[tauri::command]
pub async fn counter_keys<R: Runtime>(
    app: AppHandle<R>,
    keys: Vec<KeyPress>,
) -> Result<Vec<VerdictEvent>, CommandError> {
    blocking(&app, move |app, state| {
        let keys: Vec<(String, u64)> = keys.into_iter().map(|k| (k.key, k.at_ms)).collect();
        let verdicts = state
            .wedge_keys(&keys)
            .iter()
            .map(|line| {
                let outcome = state.scan(line, ScanSource::Scanner)?;
                Ok(VerdictEvent::new(outcome, state.training()))
            })
            .collect::<Result<Vec<_>, CommandError>>()?;
        refresh_status(app);
        Ok(verdicts)
    })
    .await
}

/// Supervisor override: checks nothing here; the PIN is verified by the engine on the next scan
/// of the refused ticket, and recorded on its event.
#[tauri::command]
pub async fn arm_override<R: Runtime>(app: AppHandle<R>, pin: String) -> Result<(), CommandError> {
    blocking(&app, move |_, state| {
        state.arm_override(pin);
        state.resume_scanner();
        Ok(())
    })
    .await
}

/// Sets the supervisor PIN (4 to 12 digits).
#[tauri::command]
pub async fn set_supervisor_pin<R: Runtime>(
    app: AppHandle<R>,
    pin: String,
) -> Result<(), CommandError> {
    blocking(&app, move |_, state| {
        state.with_engine(|engine| Ok(engine.set_supervisor_pin(&pin)?))
    })
    .await
}

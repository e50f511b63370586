//! Settings and 练习模式.

use serde::Serialize;
use shuipiao_courier::assist::qr_svg;
use shuipiao_courier::data_dir::Settings;
use shuipiao_courier::training::PracticeTicket;
use tauri::{AppHandle, Runtime};

use super::blocking;
use crate::error::CommandError;
use crate::state::refresh_status;

/// The settings.
#[tauri::command]
pub async fn settings<R: Runtime>(app: AppHandle<R>) -> Result<Settings, CommandError> {
    blocking(&app, |_, state| Ok(state.data.settings()?)).await
}

/// Saves the settings.
#[tauri::command]
pub async fn save_settings<R: Runtime>(
    app: AppHandle<R>,
    settings: Settings,
) -> Result<(), CommandError> {
    blocking(&app, move |_, state| {
        Ok(state.data.save_settings(&settings)?)
    })
    .await
}

/// A practice ticket with its QR for the screen.
#[derive(Debug, Clone, Serialize)]
pub struct PracticeCard {
    /// The ticket.
    pub ticket: PracticeTicket,
    /// Its QR as SVG markup.
    pub svg: String,
}

/// Turns 练习模式 on or off; on, returns the practice tickets.
#[tauri::command]
pub async fn set_training<R: Runtime>(
    app: AppHandle<R>,
    on: bool,
) -> Result<Vec<PracticeCard>, CommandError> {
    blocking(&app, move |app, state| {
        let tickets = state.set_training(on)?;
        refresh_status(app);
        tickets
            .into_iter()
            .map(|ticket| {
                let svg =
                    qr_svg(&ticket.text).map_err(|_| CommandError::new("qr", "无法生成二维码"))?;
                Ok(PracticeCard { ticket, svg })
            })
            .collect()
    })
    .await
}

//! History with undo, and the counter screen's list of today's redemptions.

use shuipiao_courier::clock::{Clock, SystemClock};
use shuipiao_courier::engine::Undone;
use shuipiao_courier::history::{self, HistoryRow};
use shuipiao_shared::ids::EventId;
use tauri::{AppHandle, Runtime};

use super::blocking;
use crate::error::CommandError;
use crate::state::refresh_status;

/// How many events the history screen lists.
const HISTORY_LIMIT: usize = 100;
/// How far back the counter screen looks for today's redemptions.
const TODAY_LIMIT: usize = 1000;

/// The latest events of this device, newest first.
#[tauri::command]
pub async fn history<R: Runtime>(app: AppHandle<R>) -> Result<Vec<HistoryRow>, CommandError> {
    blocking(&app, |_, state| {
        let entries = state.with_engine(|engine| Ok(engine.history(HISTORY_LIMIT)?))?;
        Ok(history::rows(&entries, SystemClock.now_secs()))
    })
    .await
}

/// Today's redemptions (Beijing day), newest first.
#[tauri::command]
pub async fn today<R: Runtime>(app: AppHandle<R>) -> Result<Vec<HistoryRow>, CommandError> {
    blocking(&app, |_, state| {
        let entries = state.with_engine(|engine| Ok(engine.history(TODAY_LIMIT)?))?;
        Ok(history::today_redemptions(&entries, SystemClock.now_secs()))
    })
    .await
}

/// Undoes one of this device's redemptions within 2 minutes.
#[tauri::command]
pub async fn undo<R: Runtime>(
    app: AppHandle<R>,
    event_id: EventId,
) -> Result<Undone, CommandError> {
    blocking(&app, move |app, state| {
        let undone = state.with_engine(|engine| Ok(engine.undo(event_id)?))?;
        refresh_status(app);
        Ok(undone)
    })
    .await
}

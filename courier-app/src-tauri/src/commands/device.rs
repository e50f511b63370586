//! Enrollment (typed or by the enrollment QR), the status bar, sync, 线下协助 and logout.

use serde::Serialize;
use shuipiao_courier::assist::qr_svg;
use shuipiao_courier::data_dir::{Profile, Settings};
use shuipiao_courier::status_bar::StatusBar;
use shuipiao_courier::sync::SyncReport;
use tauri::{AppHandle, Manager, Runtime};

use super::blocking;
use crate::camera::{self, Purpose};
use crate::error::CommandError;
use crate::state::{AppState, refresh_status};

/// Everything the UI needs to pick its first screen.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// The enrollment profile, once enrolled.
    pub profile: Option<Profile>,
    /// The settings.
    pub settings: Settings,
    /// 练习模式 is on.
    pub training: bool,
    /// The status bar.
    pub status: StatusBar,
}

/// The profile, settings and status; starts the sync loop if enrolled.
#[tauri::command]
pub async fn overview<R: Runtime>(app: AppHandle<R>) -> Result<Overview, CommandError> {
    blocking(&app, |app, state| {
        state.start_sync(app)?;
        Ok(Overview {
            profile: state.data.profile()?,
            settings: state.data.settings()?,
            training: state.training(),
            status: state.status_bar()?,
        })
    })
    .await
}

/// Enrolls with a one-time code, then syncs once (fetching the keyring and book statuses) and
/// starts the sync loop.
#[tauri::command]
pub async fn enroll<R: Runtime>(
    app: AppHandle<R>,
    server_url: String,
    code: String,
    name: String,
) -> Result<Profile, CommandError> {
    let state = app.state::<AppState>();
    let profile = state
        .data
        .enroll(server_url.trim(), code.trim(), name.trim())
        .await?;
    blocking(&app, |app, state| state.start_sync(app)).await?;
    // A failed first sync is in the status bar; the loop retries it.
    let _ = sync_now(app).await;
    Ok(profile)
}

/// Starts the camera to read an enrollment QR (扫码注册): previews as on the scan screen, the
/// first enrollment QR read arrives as an `enroll_qr` event; `stop_camera` ends it.
#[tauri::command]
pub async fn scan_enrollment_qr<R: Runtime>(app: AppHandle<R>) -> Result<(), CommandError> {
    blocking(&app, |app, _| camera::start(app, Purpose::Enrollment)).await
}

/// One sync cycle now (the 立即同步 button); the status bar follows as an event.
#[tauri::command]
pub async fn sync_now<R: Runtime>(app: AppHandle<R>) -> Result<SyncReport, CommandError> {
    let client = app
        .state::<AppState>()
        .sync_client()
        .ok_or_else(|| CommandError::new("not_enrolled", "设备尚未注册，请先用注册码注册"))?;
    let report = client.sync_once().await;
    refresh_status(&app);
    Ok(report?)
}

/// The status bar now.
#[tauri::command]
pub async fn status<R: Runtime>(app: AppHandle<R>) -> Result<StatusBar, CommandError> {
    blocking(&app, |_, state| state.status_bar()).await
}

/// The 线下协助 QR: the wallet's registration page with this courier's staff code.
#[derive(Debug, Clone, Serialize)]
pub struct AssistQr {
    /// The URL the QR holds.
    pub url: String,
    /// The QR as SVG markup.
    pub svg: String,
    /// The staff code, printed under the QR.
    pub staff_code: String,
}

/// The 线下协助 QR of the enrolled courier.
#[tauri::command]
pub async fn assist_qr<R: Runtime>(app: AppHandle<R>) -> Result<AssistQr, CommandError> {
    blocking(&app, |_, state| {
        let profile = state
            .data
            .profile()?
            .ok_or_else(|| CommandError::new("not_enrolled", "设备尚未注册，请先用注册码注册"))?;
        let url = profile.register_url();
        let svg = qr_svg(&url).map_err(|_| CommandError::new("qr", "无法生成二维码"))?;
        Ok(AssistQr {
            url,
            svg,
            staff_code: profile.staff_code,
        })
    })
    .await
}

/// Logout: wipes the device and training databases and the profile (settings stay).
#[tauri::command]
pub async fn logout<R: Runtime>(app: AppHandle<R>) -> Result<(), CommandError> {
    blocking(&app, |app, state| {
        state.wipe()?;
        refresh_status(app);
        Ok(())
    })
    .await
}

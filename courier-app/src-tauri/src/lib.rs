//! The courier app's Tauri shell. It will stay thin: commands call `shuipiao-courier` and push
//! verdicts to the UI as events. Until the app issue lands this crate only reserves its place in
//! the workspace.
#![forbid(unsafe_code)]

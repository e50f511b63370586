//! The courier's offline engine, scan side: turn what a camera or a USB scanner sees into QR
//! text at the door, with no network and no UI. The Tauri shell and the CLI sit on top of it.
//!
//! - [`frame`]: 8-bit luma frames and where they come from (camera, image files, synthetic).
//! - [`decode`]: QR decoders behind one panic-isolated trait.
//! - [`degrade`]: camera-like renderings of tickets, for tests, benches and training mode.
//! - [`wedge`]: keyboard-wedge line assembly for USB barcode scanners.
//! - [`engine`]: the offline door engine (verdict, outbox, undo, dedupe) over [`store`], the
//!   encrypted local database; [`sync`]: enrollment and the sync client; [`clock`]: injected
//!   time and randomness.
//! - For apps over the engine: [`live`] (the scan screen's frame loop and preview),
//!   [`data_dir`] (profile, settings, logout), [`enroll_qr`] (the enrollment QR), [`history`]
//!   (rows for the history and counter screens), [`deliveries`] (the day's delivery list),
//!   [`status_bar`], [`assist`] (the 线下协助 QR) and [`training`] (practice tickets and
//!   practice sync states).
#![forbid(unsafe_code)]

pub mod decode;
pub mod degrade;
pub mod frame;
pub mod wedge;

pub mod clock;
pub mod engine;
pub mod store;
pub mod sync;

pub mod assist;
pub mod data_dir;
pub mod deliveries;
pub mod enroll_qr;
pub mod history;
pub mod live;
pub mod status_bar;
pub mod training;

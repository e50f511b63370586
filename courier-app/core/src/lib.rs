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
#![forbid(unsafe_code)]

pub mod decode;
pub mod degrade;
pub mod frame;
pub mod wedge;

pub mod clock;
pub mod engine;
pub mod store;
pub mod sync;

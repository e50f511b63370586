//! The Shuipiao protocol: everything the server, the courier engine and any third-party verifier
//! must agree on, byte for byte.
//!
//! **Architecture Invariant:** this crate is pure. It performs no file, network or clock I/O and
//! depends on no runtime or database crate; callers pass time and data in. That is what lets the
//! door decision ([`verdict`]) and the conflict rules ([`ledger`]) be tested as plain functions
//! and run identically on a phone and on the server.
#![forbid(unsafe_code)]

pub mod buckets;
pub mod bytes;
pub mod credential;
pub mod delivery;
pub mod event;
pub mod holder;
pub mod ids;
pub mod keyring;
pub mod ledger;
pub mod status;
pub mod sync;
pub mod verdict;

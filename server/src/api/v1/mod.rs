//! Handlers of `/api/v1`, one module per resource. Each extracts, reads the store or calls one
//! domain function, and returns a DTO.

pub mod accounts;
pub mod audit;
pub mod books;
pub mod buckets;
pub mod catalogue;
pub mod channels;
pub mod devices;
pub mod dispatch;
pub mod keys;
pub mod ordering;
pub mod review;
pub mod session;
pub mod stats;
pub mod sync;

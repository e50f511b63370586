//! The HTTP API over real 127.0.0.1:0.

mod accounts;
mod admin;
mod auth;
mod bounds;
mod buckets;
mod conflicts;
mod deliveries;
mod deliveries_push;
mod devices;
mod dispatch;
mod extremes;
mod headers;
mod limits;
mod openapi;
mod ops;
mod push_review;
mod retired;
mod sync;
mod tls;

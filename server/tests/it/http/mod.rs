//! The HTTP API over real 127.0.0.1:0.

mod admin;
mod auth;
mod devices;
mod headers;
mod limits;
mod openapi;
mod ops;
mod sync;
mod tls;

//! Integration tests of the server, mirroring `src/`: the store contract on both backends, and
//! the HTTP API over real 127.0.0.1:0.

mod client;
mod support;

mod cli;
mod http;
mod store;
mod web;

//! Integration tests of the server, mirroring `src/`: the store contract on both backends, and
//! the HTTP API over real 127.0.0.1:0.

mod client;
mod gateway;
mod support;

mod cli;
mod http;
mod instances;
mod notify;
mod ordering;
mod push_vectors;
mod store;
mod store_customers;
mod web;

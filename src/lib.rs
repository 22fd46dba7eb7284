//! machipay: a double-entry ledger service for a town's digital regional currency and point
//! card. See README.md for the bird's-eye view and the code map.
//!
//! - `features/`: one folder per business capability (use-cases, SQL, routes);
//! - `writer/`: the single batching writer every write goes through;
//! - `db/`: pools, the write transaction, migrations, durability;
//! - `http/`: the server, extractors, responses and rendered files;
//! - the pure domain is its own crate, `machipay_domain` (`crates/machipay-domain`).

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod app;
pub mod db;
pub mod demo;
pub mod error;
pub mod features;
pub mod http;
pub mod writer;

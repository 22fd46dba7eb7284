//! machipay: a double-entry ledger service for a town's digital regional currency and point
//! card. See README.md for the bird's-eye view and the code map.
//!
//! - `features/`: one folder per business capability (use-cases, SQL, routes);
//! - `writer/`: the single batching writer every write goes through, its write transaction
//!   (`WriteTx`) and what it remembers (`Known`);
//! - `db/`: pools, migrations, durability, the single-writer lock;
//! - `server`: the server: mounts every capability's routes, the OpenAPI document,
//!   middleware, the serve loop;
//! - `http/`: what routes are built with: extractors, responses and rendered files;
//! - `metrics`: the process's Prometheus metrics; `rate_limit`: per-key token buckets;
//!   `relying_party`: who the passkey (WebAuthn) ceremonies speak as;
//! - the pure domain is its own crate, `machipay_domain` (`crates/machipay-domain`).

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod app;
pub mod db;
pub mod demo;
pub mod error;
pub mod features;
pub(crate) mod http;
pub mod metrics;
pub mod rate_limit;
pub mod relying_party;
pub mod server;
pub mod writer;

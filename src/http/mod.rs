//! The HTTP toolkit every capability's routes use: extractors (`extract`: strict JSON bodies,
//! `Idempotency-Key`, paths, queries), responses (`response`), query parameter value sets
//! (`params`), the request refusals (`refusals`), rendered files (`render`: CSV for Excel, QR
//! images) and the embedded web app (`web`). It names no capability: the server that mounts
//! them all is `crate::server`, and the bearer caller is `features::directory::caller`.

pub mod extract;
pub mod params;
pub mod refusals;
pub mod render;
pub mod response;
pub mod web;

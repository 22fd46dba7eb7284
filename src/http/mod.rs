//! The HTTP toolkit every capability's routes use: extractors (`extract`: strict JSON bodies,
//! `Idempotency-Key`, paths, queries), responses (`response`), query parameter value sets
//! (`params`), the request refusals (`refusals`), rendered files (`render`: CSV for Excel, QR
//! images), browser session cookies and their CSRF rule (`session_cookie`) and the embedded web
//! app (`web`). It names no capability: the server that mounts them all is
//! `crate::server`, and the caller (bearer token or session cookie) is
//! `features::directory::caller`.

pub(crate) mod extract;
pub(crate) mod params;
pub(crate) mod refusals;
pub(crate) mod render;
pub(crate) mod response;
pub(crate) mod session_cookie;
pub(crate) mod web;

//! Pure types and rules of the field: money, ids, the double-entry shape, principals,
//! programs. Nothing here imports axum or sqlx; everything here is testable without I/O.

pub mod auth;
pub mod ids;
pub mod ledger;
pub mod money;
pub mod program;

//! Pure types and rules of the field: money, ids, the double-entry shape, principals,
//! programs. Nothing here imports axum or sqlx; everything here is testable without I/O.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod auth;
pub mod calendar;
pub mod card;
pub mod expiry;
pub mod ids;
pub mod jpqr;
pub mod ledger;
pub mod lottery;
pub mod money;
pub mod prepaid_law;
pub mod program;
pub mod registry;
pub mod romaji;
pub mod settlement;
pub mod zengin;

/// A stored text that names no known variant: the database and the code disagree.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown {what}: {value}")]
pub struct UnknownVariant {
    pub what: &'static str,
    pub value: String,
}

/// `TryFrom<String>` for the enums stored as text, so storage rows decode straight into them.
macro_rules! text_enum {
    ($($ty:ty),*) => {$(
        impl TryFrom<String> for $ty {
            type Error = UnknownVariant;
            fn try_from(value: String) -> Result<Self, UnknownVariant> {
                Self::parse(&value).ok_or(UnknownVariant { what: stringify!($ty), value })
            }
        }
    )*};
}
text_enum!(
    ledger::Asset,
    ledger::AccountKind,
    program::ProgramKind,
    auth::StaffKind,
    auth::Role
);

//! The one error type use-cases return, and the one JSON envelope every error is shown in:
//! `{"error": {"code": "...", "message": "..."}}`. Client errors carry a named code; storage
//! and internal errors are logged once by the HTTP layer and shown opaque.

use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request was understood and refused; nothing changed.
    #[error("{message}")]
    Rejected {
        status: u16,
        code: &'static str,
        message: String,
    },
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("internal: {0}")]
    Internal(String),
    /// The writer is gone (shutting down) or a commit failed; nothing was written, so the
    /// client may retry with the same Idempotency-Key.
    #[error("storage unavailable")]
    Unavailable,
}

impl AppError {
    pub fn rejected(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self::Rejected {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::rejected(400, code, message)
    }
    pub fn unauthorized() -> Self {
        Self::rejected(401, "unauthorized", "a valid bearer token is required")
    }
    pub fn forbidden() -> Self {
        Self::rejected(403, "forbidden", "this principal may not call this route")
    }
    /// Also what another city's, store's or shopper's object answers, so ids cannot be probed.
    pub fn not_found(what: &str) -> Self {
        Self::rejected(404, "not_found", format!("{what} not found"))
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::rejected(409, code, message)
    }
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::rejected(422, code, message)
    }
    pub fn insufficient_funds() -> Self {
        Self::unprocessable(
            "insufficient_funds",
            "the balance does not cover this amount",
        )
    }

    /// Status and envelope as shown to the client.
    pub fn status_and_body(&self) -> (u16, ErrorEnvelope) {
        match self {
            Self::Rejected {
                status,
                code,
                message,
            } => (*status, ErrorEnvelope::new(code, message)),
            Self::Unavailable => (
                503,
                ErrorEnvelope::new(
                    "unavailable",
                    "the service could not commit; retry with the same Idempotency-Key",
                ),
            ),
            Self::Db(e) if is_busy(e) => (
                503,
                ErrorEnvelope::new(
                    "unavailable",
                    "the database is busy; retry with the same Idempotency-Key",
                ),
            ),
            Self::Db(_) | Self::Internal(_) => {
                (500, ErrorEnvelope::new("internal", "internal error"))
            }
        }
    }
}

fn is_busy(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
    )
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable: e.g. `insufficient_funds`, `invalid_amount`, `not_found`.
    pub code: String,
    /// For people; may change.
    pub message: String,
}

impl ErrorEnvelope {
    pub fn new(code: &str, message: &str) -> Self {
        Self {
            error: ErrorBody {
                code: code.to_owned(),
                message: message.to_owned(),
            },
        }
    }
}

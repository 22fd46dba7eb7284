//! Errors: what use-cases refuse and what fails under them, and the one JSON envelope every
//! error is shown in: `{"error": {"code": "...", "message": "..."}}`.
//!
//! Each capability names its refusals in its own enum, declared with [`refusals!`](crate::refusals!): a variant,
//! the kind of refusal ([`Refused`]), a stable code and the message. [`Refused::http_status`] is
//! the one place a kind becomes an HTTP status. `server::error_codes` gathers every enum's codes
//! into the published list (`GET /api/v1/error-codes`), which the web app's translations are
//! tested against. Storage and internal failures are logged once by the HTTP layer and shown
//! opaque.

use serde::Serialize;

/// What kind of refusal a code is. The client sees it as the HTTP status
/// ([`Refused::http_status`]); use-cases never pick a status themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Refused {
    /// The request is malformed: a parameter, a header or a body field (400).
    BadRequest,
    /// No valid credentials (401).
    Unauthenticated,
    /// The caller may not call this route (403).
    Forbidden,
    /// The object does not exist, or belongs to another city, store or shopper (404).
    NotFound,
    /// The path exists with other methods (405, with an `Allow` header).
    MethodNotAllowed,
    /// The request took too long (408).
    Timeout,
    /// The request clashes with the current state: a duplicate, a state that forbids it (409).
    Conflict,
    /// The object existed and was withdrawn: a revoked code, an expired request (410).
    Gone,
    /// The body is larger than allowed (413).
    TooLarge,
    /// The body's media type is not accepted (415).
    UnsupportedMediaType,
    /// Well-formed, understood and refused by a business rule (422).
    Unprocessable,
    /// Too many requests (429).
    TooMany,
}

impl Refused {
    /// The HTTP status a refusal of this kind answers with: the one mapping.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Timeout => 408,
            Self::Conflict => 409,
            Self::Gone => 410,
            Self::TooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::Unprocessable => 422,
            Self::TooMany => 429,
        }
    }

    /// The kind an HTTP status stands for (the framework's own errors: 405, 408, 413, 415).
    pub const fn from_http_status(status: u16) -> Option<Self> {
        Some(match status {
            400 => Self::BadRequest,
            401 => Self::Unauthenticated,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            408 => Self::Timeout,
            409 => Self::Conflict,
            410 => Self::Gone,
            413 => Self::TooLarge,
            415 => Self::UnsupportedMediaType,
            422 => Self::Unprocessable,
            429 => Self::TooMany,
            _ => return None,
        })
    }
}

/// One entry of the published list of error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErrorCode {
    /// Stable, machine-readable, e.g. `insufficient_funds`.
    pub code: &'static str,
    /// What kind of refusal it is.
    pub kind: Refused,
    /// The HTTP status it answers with.
    pub status: u16,
}

impl ErrorCode {
    pub const fn new(code: &'static str, kind: Refused) -> Self {
        Self {
            code,
            kind,
            status: kind.http_status(),
        }
    }
}

/// A capability's refusal: its kind and its stable code. Implemented by [`refusals!`](crate::refusals!).
pub trait Refusal: std::error::Error {
    fn kind(&self) -> Refused;
    fn code(&self) -> &'static str;
}

/// Declares a capability's refusals: an enum, its messages (thiserror), its kinds and codes,
/// the list of its codes (`CODES`) and its conversion into [`AppError`].
///
/// ```ignore
/// refusals! {
///     /// What a payment refuses.
///     pub enum PaymentRefusal {
///         /// The balance does not cover the amount.
///         InsufficientFunds => Unprocessable, "insufficient_funds", "the balance does not cover this amount";
///         InvalidChargeAmount(String) => Unprocessable, "invalid_charge_amount", "{0}";
///     }
/// }
/// ```
#[macro_export]
macro_rules! refusals {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident $( ( $($field:ty),* $(,)? ) )? => $kind:ident, $code:literal, $message:literal;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        $vis enum $name {
            $(
                $(#[$vmeta])*
                #[error($message)]
                $variant $( ( $($field),* ) )?,
            )*
        }

        impl $name {
            /// The enum's name, as the published list's declarations show it.
            pub const NAME: &'static str = stringify!($name);
            /// Every code this enum can answer with, and its kind.
            pub const CODES: &'static [$crate::error::ErrorCode] = &[
                $( $crate::error::ErrorCode::new($code, $crate::error::Refused::$kind), )*
            ];
        }

        impl $crate::error::Refusal for $name {
            fn kind(&self) -> $crate::error::Refused {
                match self {
                    $( Self::$variant { .. } => $crate::error::Refused::$kind, )*
                }
            }
            fn code(&self) -> &'static str {
                match self {
                    $( Self::$variant { .. } => $code, )*
                }
            }
        }

        impl From<$name> for $crate::error::AppError {
            fn from(refusal: $name) -> Self {
                $crate::error::AppError::refused(&refusal)
            }
        }
    };
}

refusals! {
    /// Refusals every capability shares: who may call, what exists, what a request must hold.
    pub enum Common {
        /// No valid bearer token or session.
        Unauthenticated => Unauthenticated, "unauthorized", "a valid bearer token is required";
        /// The caller's role may not call this route.
        Forbidden => Forbidden, "forbidden", "this principal may not call this route";
        /// Also what another city's, store's or shopper's object answers, so ids cannot be
        /// probed. The text names what was looked for.
        NotFound(&'static str) => NotFound, "not_found", "{0} not found";
        /// An amount outside 1 to 10^12 (or not a whole number).
        InvalidAmount(String) => BadRequest, "invalid_amount", "{0}";
        /// A wallet or stock does not cover the amount.
        InsufficientFunds => Unprocessable, "insufficient_funds", "the balance does not cover this amount";
        /// The same Idempotency-Key with another route or body.
        IdempotencyKeyReused => Unprocessable, "idempotency_key_reused", "this Idempotency-Key was used with a different request";
        /// The point card was replaced (the text says what to do instead). Shared: a reversal
        /// of a payment meets it as well as the card's own routes.
        CardReplaced(&'static str) => Unprocessable, "card_replaced", "{0}";
        /// The program is of the other kind (currency vs point card).
        WrongProgramKind(&'static str) => Unprocessable, "wrong_program_kind", "{0}";
        /// A reason (reversal, refund, replacement, cash-out, withdrawal) empty or too long.
        InvalidReason => BadRequest, "invalid_reason", "reason must be 1 to 200 characters";
        /// A campaign's terms out of bounds (points' and rebates' campaigns); says which.
        InvalidCampaign(&'static str) => BadRequest, "invalid_campaign", "{0}";
        /// A campaign's expiry (premium or rebate points) before they can be spent.
        ExpiryTooEarly(String) => Unprocessable, "expiry_too_early", "{0}";
        /// A card import's file has bad rows (how many); the answer lists them.
        CardImportRejected(usize) => Unprocessable, "import_rejected", "{0} bad rows; nothing was imported";
        /// A store import with bad lines (how many); the answer lists each line's errors.
        MerchantImportRejected(usize) => Unprocessable, "import_rejected", "{0} line(s) have errors; nothing was imported";
        /// A card return would take back points the card has spent, and the program refuses
        /// shortfalls (points due, points held).
        CardPointsAlreadySpent(i64, i64) => Unprocessable, "points_already_spent", "the return takes back {0} points but the card holds {1}";
        /// A refund would take back rebate points the shopper has spent (points to take
        /// back, points held).
        RebatePointsAlreadySpent(i64, i64) => Unprocessable, "points_already_spent", "the refund takes back {0} rebate points but the shopper holds {1}";
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request was understood and refused; nothing changed. Made from a capability's
    /// refusal enum (`?` converts), never by hand.
    #[error("{message}")]
    Rejected {
        kind: Refused,
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
    /// The writer's queue is full: the request was not queued, nothing was written. Answered
    /// at once (503 with `Retry-After`) instead of waiting for room.
    #[error("the writer queue is full")]
    Overloaded,
    /// A write request ran past the request limit: it may have been applied or not (a job
    /// once queued runs to its commit). The client retries with the same Idempotency-Key,
    /// which answers what happened without moving money twice.
    #[error("the request ran past its time limit; its outcome is unknown")]
    OutcomeUnknown,
}

impl AppError {
    /// A capability's refusal as the error use-cases pass on.
    pub fn refused(refusal: &impl Refusal) -> Self {
        Self::Rejected {
            kind: refusal.kind(),
            code: refusal.code(),
            message: refusal.to_string(),
        }
    }

    pub fn unauthorized() -> Self {
        Common::Unauthenticated.into()
    }
    pub fn forbidden() -> Self {
        Common::Forbidden.into()
    }
    /// Also what another city's, store's or shopper's object answers, so ids cannot be probed.
    pub fn not_found(what: &'static str) -> Self {
        Common::NotFound(what).into()
    }
    pub fn insufficient_funds() -> Self {
        Common::InsufficientFunds.into()
    }

    /// The refusal's code, if this is one.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Status and envelope as shown to the client.
    pub fn status_and_body(&self) -> (u16, ErrorEnvelope) {
        match self {
            Self::Rejected {
                kind,
                code,
                message,
            } => (kind.http_status(), ErrorEnvelope::new(code, message)),
            Self::Unavailable => (
                503,
                ErrorEnvelope::new(
                    UNAVAILABLE,
                    "the service could not commit; retry with the same Idempotency-Key",
                ),
            ),
            Self::Overloaded => (
                503,
                ErrorEnvelope::new(
                    OVERLOADED,
                    "the service is busy and did nothing; retry after Retry-After seconds",
                ),
            ),
            Self::OutcomeUnknown => (
                503,
                ErrorEnvelope::new(
                    OUTCOME_UNKNOWN,
                    "the request took too long and may or may not have been done; \
                     retry with the same Idempotency-Key to learn which",
                ),
            ),
            Self::Db(e) if is_busy(e) => (
                503,
                ErrorEnvelope::new(
                    UNAVAILABLE,
                    "the database is busy; retry with the same Idempotency-Key",
                ),
            ),
            Self::Db(_) | Self::Internal(_) => {
                (500, ErrorEnvelope::new(INTERNAL, "internal error"))
            }
        }
    }
}

/// The `'static` text of a code read back from a stored reply (a replayed refusal handed to a
/// Rust caller). Codes are `'static` in the running code; a stored one is kept once per
/// distinct text, so memory is bounded by the number of codes there are.
pub fn intern(code: &str) -> &'static str {
    static CODES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut codes = CODES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = codes.iter().find(|c| **c == code) {
        return known;
    }
    let leaked: &'static str = Box::leak(code.to_owned().into_boxed_str());
    codes.push(leaked);
    leaked
}

/// A failure that is a bug, not a refusal (a stored text that does not parse, an arithmetic
/// overflow): answered 500 `internal` and logged.
pub fn internal(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(e.to_string())
}

/// The code of a 503: nothing was written, retry with the same Idempotency-Key.
pub const UNAVAILABLE: &str = "unavailable";
/// The code of a 503 when the writer's queue is full: nothing was done, retry later.
pub const OVERLOADED: &str = "overloaded";
/// The code of a 503 for a write that ran past the request limit: it may have been done;
/// retry with the same Idempotency-Key (the retry answers what happened, once).
pub const OUTCOME_UNKNOWN: &str = "outcome_unknown";
/// The code of a 500: a bug; logged, shown opaque.
pub const INTERNAL: &str = "internal";

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
    /// `GET /api/v1/error-codes` lists them all.
    pub code: String,
    /// For people; may change. Apps show their own text for the code.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_keeps_its_kind_code_and_message() {
        let e: AppError = Common::NotFound("program").into();
        let (status, body) = e.status_and_body();
        assert_eq!(status, 404);
        assert_eq!(body.error.code, "not_found");
        assert_eq!(body.error.message, "program not found");
        assert!(
            Common::CODES
                .iter()
                .any(|c| c.code == "insufficient_funds" && c.status == 422)
        );
    }
}

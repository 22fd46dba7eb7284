//! How use-case results and errors become HTTP responses. The one place errors are mapped to
//! statuses and the shared envelope, and the one place 5xx are logged.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::writer::{Answer, Done, Reply};

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, body) = self.status_and_body();
        if status >= 500 {
            tracing::error!(error = %self, "request failed");
        }
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(body)).into_response();
        // Every 503 is worth retrying (with the same Idempotency-Key): say when.
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(RETRY_AFTER_SECS),
            );
        }
        response
    }
}

/// Seconds a client waits before retrying a 503 (`Retry-After`).
pub(crate) const RETRY_AFTER_SECS: u32 = 1;

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.body)).into_response()
    }
}

impl<T: serde::Serialize> IntoResponse for Done<T> {
    fn into_response(self) -> Response {
        let status = if self.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        (status, Json(self.value)).into_response()
    }
}

impl<T: serde::Serialize> IntoResponse for Answer<T> {
    fn into_response(self) -> Response {
        match self {
            Self::Fresh(done) => done.into_response(),
            Self::Replay(reply) => reply.into_response(),
        }
    }
}

/// 429 `rate_limited` with `Retry-After`, for a rate limit's refusal (`rate_limit::RateLimit::take`).
pub(crate) fn rate_limited(wait: std::time::Duration) -> Response {
    let secs = wait.as_secs().saturating_add(1);
    let mut response =
        AppError::from(crate::http::refusals::RequestRefusal::RateLimited(secs)).into_response();
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(secs),
    );
    response
}

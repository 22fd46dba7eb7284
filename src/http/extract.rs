//! Request extractors: strict JSON bodies with named errors (`Body`, `Fingerprinted`), the
//! `Idempotency-Key` header, paths and queries. The bearer caller and the `Money<T>` bundle
//! (caller + Idempotency-Key + body) are the directory's: `features::directory::caller`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, header, request::Parts};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::error::{AppError, Common};
use crate::http::refusals::RequestRefusal;

/// Idempotency keys are 1 to 255 visible ASCII characters (a UUID is typical).
pub(crate) const IDEMPOTENCY_KEY_LEN_MAX: usize = 255;

/// A JSON body parsed strictly: unknown fields, bad amounts and malformed JSON each get a
/// named 400; a body over the limit gets 413.
pub(crate) struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let bytes = json_bytes(req, state).await?;
        Ok(Body(parse(&bytes)?))
    }
}

async fn json_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, AppError> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(RequestRefusal::UnsupportedMediaType.into());
    }
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            RequestRefusal::BodyTooLarge.into()
        } else {
            RequestRefusal::UnreadableBody.into()
        }
    })
}

/// How long a large upload waits for a turn (`App::uploads`) before 503 `overloaded`.
pub(crate) const UPLOAD_WAIT_MS: u64 = 2_000;

/// Reads a large upload's body (an import file), after the route has checked who calls:
/// waits up to `UPLOAD_WAIT_MS` for one of `permits` (503 `overloaded` past it, nothing
/// read), then reads the body up to the route's limit (413 past it). The permit is held
/// while the body is read, so at most that many large bodies are in memory being read.
/// Returns the permit too: hold it while the file is parsed.
pub(crate) async fn read_upload<S: Send + Sync>(
    permits: &std::sync::Arc<tokio::sync::Semaphore>,
    req: Request,
    state: &S,
) -> Result<(Bytes, tokio::sync::OwnedSemaphorePermit), AppError> {
    let wait = std::time::Duration::from_millis(UPLOAD_WAIT_MS);
    let permit = tokio::time::timeout(wait, permits.clone().acquire_owned())
        .await
        .map_err(|_| AppError::Overloaded)?
        .map_err(|_| AppError::Unavailable)?;
    let bytes = Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            AppError::from(RequestRefusal::BodyTooLarge)
        } else {
            AppError::from(RequestRefusal::UnreadableBody)
        }
    })?;
    Ok((bytes, permit))
}

/// Parses JSON and names what was wrong with it.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| -> AppError {
        let path = e.path().to_string();
        let inner = e.inner();
        let message = inner.to_string();
        let text = if path == "." {
            message.clone()
        } else {
            format!("{path}: {message}")
        };
        if inner.is_syntax() || inner.is_eof() {
            RequestRefusal::MalformedJson(text).into()
        } else if message.starts_with("unknown field") {
            RequestRefusal::UnknownField(text).into()
        } else if path.ends_with("amount") {
            Common::InvalidAmount(text).into()
        } else if path.ends_with("card_number") {
            RequestRefusal::InvalidCardNumber(text).into()
        } else if message.starts_with("missing field") {
            RequestRefusal::MissingField(text).into()
        } else {
            RequestRefusal::InvalidField(text).into()
        }
    })?;
    de.end().map_err(|_| {
        RequestRefusal::MalformedJson("trailing characters after the JSON body".into())
    })?;
    Ok(value)
}

/// The `Idempotency-Key` header: 1 to `IDEMPOTENCY_KEY_LEN_MAX` visible ASCII characters.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<String, AppError> {
    let value = headers
        .get("idempotency-key")
        .ok_or(RequestRefusal::MissingIdempotencyKey)?;
    let key = value.to_str().unwrap_or_default();
    let valid = !key.is_empty()
        && key.len() <= IDEMPOTENCY_KEY_LEN_MAX
        && key.bytes().all(|b| b.is_ascii_graphic());
    if !valid {
        return Err(RequestRefusal::InvalidIdempotencyKey.into());
    }
    Ok(key.to_owned())
}

/// Path parameters; a malformed id answers a named 400 in the shared envelope.
pub(crate) struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| RequestRefusal::InvalidPath(e.body_text()).into())
    }
}

/// Query parameters; a malformed or unknown one answers a named 400 (`invalid_query`) in the
/// shared envelope.
pub(crate) struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| RequestRefusal::InvalidQuery(e.body_text()).into())
    }
}

/// A JSON body and the SHA-256 of its route and canonical form: the request hash of an
/// idempotency key (`Money`'s, or one the body itself carries: bank charges carry the bank's
/// reference).
pub(crate) struct Fingerprinted<T> {
    pub body: T,
    pub hash: Vec<u8>,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Fingerprinted<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let fingerprint = format!("{} {}", req.method(), req.uri().path());
        let bytes = json_bytes(req, state).await?;
        let body: T = parse(&bytes)?;
        // The hash covers the route and the body's meaning, not its whitespace or key order:
        // serde_json's map is ordered, so re-serialising canonicalises.
        let canonical: serde_json::Value = parse(&bytes)?;
        let mut hasher = Sha256::new();
        hasher.update(fingerprint.as_bytes());
        hasher.update([0]);
        hasher.update(canonical.to_string().as_bytes());
        Ok(Fingerprinted {
            body,
            hash: hasher.finalize().to_vec(),
        })
    }
}

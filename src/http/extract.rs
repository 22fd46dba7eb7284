//! Request extractors: the bearer-token caller, strict JSON bodies with named errors, and the
//! `Money<T>` bundle (caller + Idempotency-Key + body) every money-moving POST takes.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, header, request::Parts};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::error::{AppError, Common};
use crate::features::directory::store::principal_for_token;
use crate::http::refusals::RequestRefusal;
use crate::writer::Idempotency;
use machipay_domain::auth::{Principal, hash_secret};
use machipay_domain::ids::TokenId;

/// Longest accepted bearer token; anything longer is not one of ours.
const TOKEN_LEN_MAX: usize = 128;
/// Idempotency keys are 1 to 255 visible ASCII characters (a UUID is typical).
pub const IDEMPOTENCY_KEY_LEN_MAX: usize = 255;

/// The authenticated caller of a route.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub who: Principal,
    /// The token this request came with (so a caller can revoke it).
    pub token: TokenId,
}

impl FromRequestParts<App> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, AppError> {
        let token = bearer(&parts.headers).ok_or(Common::Unauthenticated)?;
        let hash = hash_secret(token);
        let (token, who) = match app.tokens.get(&hash) {
            (Some(found), _) => found,
            (None, generation) => {
                let found = principal_for_token(&app.db, &hash)
                    .await?
                    .ok_or(Common::Unauthenticated)?;
                app.tokens.put(hash, found, generation);
                found
            }
        };
        tracing::Span::current().record("principal", tracing::field::debug(who.scope_id()));
        Ok(Caller { who, token })
    }
}

/// The token of an `Authorization: Bearer <token>` header. The scheme is matched without
/// regard to case (RFC 9110 §11.1: `bearer`, `BEARER` and `Bearer` are one scheme).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim_start().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty() && token.len() <= TOKEN_LEN_MAX).then_some(token)
}

/// A JSON body parsed strictly: unknown fields, bad amounts and malformed JSON each get a
/// named 400; a body over the limit gets 413.
pub struct Body<T>(pub T);

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

/// Parses JSON and names what was wrong with it.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
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

/// What a money-moving POST needs: who calls, their Idempotency-Key, and the body.
pub struct Money<T> {
    pub caller: Caller,
    pub idempotency: Idempotency,
    pub body: T,
}

impl<T: DeserializeOwned> FromRequest<App> for Money<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, app: &App) -> Result<Self, AppError> {
        let (mut parts, body) = req.into_parts();
        let caller = Caller::from_request_parts(&mut parts, app).await?;
        let key = idempotency_key(&parts.headers)?;
        let fingerprint = format!("{} {}", parts.method, parts.uri.path());
        let bytes = json_bytes(Request::from_parts(parts, body), app).await?;
        let body: T = parse(&bytes)?;
        // The fingerprint covers the route and the body's meaning, not its whitespace or
        // key order: serde_json's map is ordered, so re-serialising canonicalises.
        let canonical: serde_json::Value = parse(&bytes)?;
        let mut hasher = Sha256::new();
        hasher.update(fingerprint.as_bytes());
        hasher.update([0]);
        hasher.update(canonical.to_string().as_bytes());
        let idempotency = Idempotency {
            scope: caller.who.idempotency_scope(),
            key,
            request_hash: hasher.finalize().to_vec(),
        };
        Ok(Money {
            caller,
            idempotency,
            body,
        })
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, AppError> {
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
pub struct Path<T>(pub T);

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
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| RequestRefusal::InvalidQuery(e.body_text()).into())
    }
}

/// A JSON body and the SHA-256 of its canonical form, for routes whose idempotency key comes
/// from the body itself (bank charges carry the bank's reference).
pub struct Fingerprinted<T> {
    pub body: T,
    pub hash: Vec<u8>,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Fingerprinted<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let fingerprint = format!("{} {}", req.method(), req.uri().path());
        let bytes = json_bytes(req, state).await?;
        let body: T = parse(&bytes)?;
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

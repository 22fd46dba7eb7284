//! Who is calling: the `Caller` of a route, by bearer token (looked up in the directory, through
//! the server's token cache) or by browser session cookie (with its CSRF rule,
//! `http::session_cookie`), and the `Money<T>` bundle (caller + Idempotency-Key + body) every
//! money-moving POST takes.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, header, request::Parts};
use serde::de::DeserializeOwned;

use crate::app::App;
use crate::error::{AppError, Common};
use crate::features::directory::DirectoryRefusal;
use crate::features::directory::store::{
    is_blocked_shoppers_token, principal_for_session, principal_for_token,
};
use crate::http::extract::{Fingerprinted, idempotency_key};
use crate::http::session_cookie;
use crate::writer::Idempotency;
use machipay_domain::auth::{Principal, hash_secret};
use machipay_domain::ids::TokenId;

/// Longest accepted bearer token; anything longer is not one of ours.
const TOKEN_LEN_MAX: usize = 128;

/// The authenticated caller of a route.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub who: Principal,
    /// The token this request came with (so a caller can revoke it); a session's token when
    /// it came with the session cookie.
    pub token: TokenId,
    /// Whether it came with the session cookie (a browser) rather than a bearer token.
    pub session: bool,
}

impl FromRequestParts<App> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, AppError> {
        // A bearer token wins over a cookie: an integration means what it sends.
        let Some(token) = bearer(&parts.headers) else {
            return from_session(parts, app).await;
        };
        let hash = hash_secret(token);
        let (token, who) = match app.tokens.get(&hash) {
            (Some(found), _) => found,
            (None, generation) => {
                let Some(found) = principal_for_token(&app.db, &hash).await? else {
                    return Err(unresolved(app, &hash).await);
                };
                app.tokens.put(hash, found, generation);
                found
            }
        };
        tracing::Span::current().record("principal", tracing::field::debug(who.scope_id()));
        Ok(Caller {
            who,
            token,
            session: false,
        })
    }
}

/// The caller of a request that came with the session cookie. An unsafe method must carry the
/// session's CSRF token; sessions are read from the database on every request (they end by
/// time as well as by revocation, which the token cache does not track).
async fn from_session(parts: &Parts, app: &App) -> Result<Caller, AppError> {
    let secret = session_cookie::session_secret(&parts.headers).ok_or(Common::Unauthenticated)?;
    // An ended session is a sign-in to make again (401) before it is a CSRF question (403).
    let hash = hash_secret(secret);
    let Some((token, who)) = principal_for_session(&app.db, &hash, chrono::Utc::now()).await?
    else {
        return Err(unresolved(app, &hash).await);
    };
    if !session_cookie::is_safe(&parts.method) && !session_cookie::csrf_ok(&parts.headers, secret) {
        return Err(DirectoryRefusal::CsrfTokenInvalid.into());
    }
    tracing::Span::current().record("principal", tracing::field::debug(who.scope_id()));
    Ok(Caller {
        who,
        token,
        session: true,
    })
}

/// Why a token or session resolved to nobody: a blocked shopper's (403 `shopper_blocked`,
/// so the app can say so) or simply not a live credential (401).
async fn unresolved(app: &App, hash: &[u8]) -> AppError {
    match is_blocked_shoppers_token(&app.db, hash).await {
        Ok(true) => DirectoryRefusal::ShopperBlocked.into(),
        Ok(false) => Common::Unauthenticated.into(),
        Err(e) => e.into(),
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
        // The request hash covers the route and the body's meaning, not its whitespace or
        // key order (`Fingerprinted`).
        let Fingerprinted { body, hash } =
            Fingerprinted::<T>::from_request(Request::from_parts(parts, body), app).await?;
        let idempotency = Idempotency {
            scope: caller.who.idempotency_scope(),
            key,
            request_hash: hash,
        };
        Ok(Money {
            caller,
            idempotency,
            body,
        })
    }
}

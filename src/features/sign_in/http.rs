//! Routes for registration, sign-in (password or passkey), setup codes, sessions, sign-out and
//! the caller's passkeys. The answers that start a session set its two cookies
//! (`http::session_cookie`); limits answer 429 with `Retry-After`.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::{HeaderValue, header, request::Parts};
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::App;
use crate::error::{AppError, ErrorEnvelope};
use crate::features::directory::api::{City, PrincipalKind};
use crate::features::directory::caller::Caller;
use crate::features::sign_in::{self as uc, *};
use crate::http::extract::{Body, Path};
use crate::http::session_cookie;
use crate::writer::Answer;
use machipay_domain::ids::TokenId;

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_cities))
        .routes(routes!(register))
        .routes(routes!(sign_in, list_sessions))
        .routes(routes!(end_session))
        .routes(routes!(sign_out))
        .routes(routes!(issue_setup_code))
        .routes(routes!(set_up))
        .routes(routes!(start_passkey_registration))
        .routes(routes!(add_passkey, list_passkeys))
        .routes(routes!(remove_passkey))
        .routes(routes!(start_passkey_sign_in))
        .routes(routes!(passkey_sign_in))
        .routes(routes!(start_passkey_sign_up))
        .routes(routes!(passkey_sign_up))
}

impl IntoResponse for Throttled {
    fn into_response(self) -> Response {
        let mut response = self.error.into_response();
        if let Some(s) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
}

/// The request's client (address and browser) and whether its cookies get `Secure`.
struct Origin {
    client: Client,
    secure: bool,
}

impl FromRequestParts<App> for Origin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &App) -> Result<Self, AppError> {
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok(Origin {
            client: Client {
                ip: session_cookie::client_ip(parts),
                user_agent,
            },
            secure: session_cookie::secure(&parts.headers),
        })
    }
}

/// A started session's answer (201) with its cookies; never stored by caches.
fn started(s: Started, secure: bool) -> Response {
    let mut response = (axum::http::StatusCode::CREATED, Json(s.shown)).into_response();
    let headers = response.headers_mut();
    for cookie in session_cookie::start_cookies(&s.secret, s.max_age_s, secure) {
        headers.append(header::SET_COOKIE, cookie);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The towns one may register in (open to all).
#[utoipa::path(get, path = "/api/v1/cities", tag = "sign-in",
    responses((status = 200, body = Vec<City>), (status = "4XX", body = ErrorEnvelope)))]
async fn list_cities(State(app): State<App>) -> Result<Json<Vec<City>>, AppError> {
    crate::features::directory::list_cities(&app)
        .await
        .map(Json)
}

/// A shopper registers with an email address or phone number and a password, and is signed
/// in (session cookies set). 409 `login_taken` if the login is in use.
#[utoipa::path(post, path = "/api/v1/registrations", tag = "sign-in",
    request_body = RegisterRequest,
    responses((status = 201, body = SignedIn), (status = "4XX", body = ErrorEnvelope)))]
async fn register(
    State(app): State<App>,
    origin: Origin,
    Body(req): Body<RegisterRequest>,
) -> Result<Response, Throttled> {
    let s = uc::register(&app, origin.client, req).await?;
    Ok(started(s, origin.secure))
}

/// Sign in with a login and password (session cookies set). 401 `sign_in_failed`; 429
/// `sign_in_locked` after five wrong passwords in a row (for 15 minutes) and
/// `too_many_sign_ins` after 20 failures from one address in 15 minutes, with `Retry-After`.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "sign-in",
    request_body = SignInRequest,
    responses((status = 201, body = SignedIn), (status = "4XX", body = ErrorEnvelope)))]
async fn sign_in(
    State(app): State<App>,
    origin: Origin,
    Body(req): Body<SignInRequest>,
) -> Result<Response, Throttled> {
    let s = uc::sign_in(&app, origin.client, req).await?;
    Ok(started(s, origin.secure))
}

/// The caller's live browser sessions, newest first (`current` marks this one).
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sign-in", security(("bearer" = [])),
    responses((status = 200, body = Vec<Session>), (status = "4XX", body = ErrorEnvelope)))]
async fn list_sessions(State(app): State<App>, c: Caller) -> Result<Json<Vec<Session>>, AppError> {
    uc::list_sessions(&app, c.who, c.token).await.map(Json)
}

/// End one of the caller's own sessions (on another device, say).
#[utoipa::path(delete, path = "/api/v1/sessions/{session_id}", tag = "sign-in", security(("bearer" = [])),
    params(("session_id" = TokenId, Path)),
    responses((status = 200, body = EndedSession), (status = "4XX", body = ErrorEnvelope)))]
async fn end_session(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<TokenId>,
) -> Result<Answer<EndedSession>, AppError> {
    uc::end_session(&app, c.who, id).await
}

/// Sign out: ends the session this request came with and clears its cookies (a bearer token
/// stays: revoke it with `DELETE /api/v1/tokens/{token_id}`).
#[utoipa::path(post, path = "/api/v1/sign-out", tag = "sign-in", security(("bearer" = [])),
    responses((status = 200, body = EndedSession), (status = "4XX", body = ErrorEnvelope)))]
async fn sign_out(State(app): State<App>, origin: Origin, c: Caller) -> Result<Response, AppError> {
    let answer = uc::sign_out(&app, c.token, c.session).await?;
    let mut response = answer.into_response();
    for cookie in session_cookie::end_cookies(origin.secure) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// Issue a one-time setup code for a shopper or store owner (operators) or staff member (city
/// admins), after checking who they are: it sets their first password, or a new one at
/// recovery (every session ends). Shown once; works for 24 hours; earlier codes stop working.
#[utoipa::path(post, path = "/api/v1/principals/{principal_kind}/{principal_id}/setup-codes", tag = "sign-in",
    security(("bearer" = [])),
    params(("principal_kind" = PrincipalKind, Path), ("principal_id" = String, Path, format = Uuid)),
    responses((status = 201, body = SetupCode), (status = "4XX", body = ErrorEnvelope)))]
async fn issue_setup_code(
    State(app): State<App>,
    c: Caller,
    Path((kind, id)): Path<(PrincipalKind, uuid::Uuid)>,
) -> Result<Answer<SetupCode>, AppError> {
    uc::issue_setup_code(&app, c.who, kind.into(), id).await
}

/// Redeem a setup code: set the password (and the login, required the first time), end every
/// earlier session, and sign in (session cookies set).
#[utoipa::path(post, path = "/api/v1/setup", tag = "sign-in",
    request_body = SetupRequest,
    responses((status = 201, body = SignedIn), (status = "4XX", body = ErrorEnvelope)))]
async fn set_up(
    State(app): State<App>,
    origin: Origin,
    Body(req): Body<SetupRequest>,
) -> Result<Response, Throttled> {
    let s = uc::set_up(&app, origin.client, req).await?;
    Ok(started(s, origin.secure))
}

/// Begin adding a passkey to the caller's account (anyone who signs in with a login): the
/// options for `navigator.credentials.create` and the challenge's id (5 minutes, once).
/// 422 `passkey_login_required` for a till or a principal without a login.
#[utoipa::path(post, path = "/api/v1/passkey-registrations", tag = "sign-in", security(("bearer" = [])),
    responses((status = 201, body = PasskeyChallenge), (status = "4XX", body = ErrorEnvelope)))]
async fn start_passkey_registration(
    State(app): State<App>,
    c: Caller,
) -> Result<(axum::http::StatusCode, Json<PasskeyChallenge>), AppError> {
    let challenge = uc::passkeys::start_registration(&app, c.who).await?;
    Ok((axum::http::StatusCode::CREATED, Json(challenge)))
}

/// Finish adding a passkey: the browser's answer to the caller's challenge, and its name.
/// `passkey_challenge_unknown` (or used), `passkey_challenge_expired`,
/// `passkey_registration_failed`, `passkey_already_registered`.
#[utoipa::path(post, path = "/api/v1/passkeys", tag = "sign-in", security(("bearer" = [])),
    request_body = AddPasskeyRequest,
    responses((status = 201, body = Passkey), (status = "4XX", body = ErrorEnvelope)))]
async fn add_passkey(
    State(app): State<App>,
    c: Caller,
    Body(req): Body<AddPasskeyRequest>,
) -> Result<Answer<Passkey>, AppError> {
    uc::passkeys::finish_registration(&app, c.who, req).await
}

/// The caller's passkeys, oldest first, with when each was added and last used.
#[utoipa::path(get, path = "/api/v1/passkeys", tag = "sign-in", security(("bearer" = [])),
    responses((status = 200, body = Vec<Passkey>), (status = "4XX", body = ErrorEnvelope)))]
async fn list_passkeys(State(app): State<App>, c: Caller) -> Result<Json<Vec<Passkey>>, AppError> {
    uc::passkeys::list(&app, c.who).await.map(Json)
}

/// Remove one of the caller's passkeys (someone else's: 404, unchanged).
#[utoipa::path(delete, path = "/api/v1/passkeys/{passkey_id}", tag = "sign-in", security(("bearer" = [])),
    params(("passkey_id" = String, Path, format = Uuid)),
    responses((status = 200, body = Passkey), (status = "4XX", body = ErrorEnvelope)))]
async fn remove_passkey(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<uuid::Uuid>,
) -> Result<Answer<Passkey>, AppError> {
    uc::passkeys::remove(&app, c.who, id).await
}

/// Begin signing in with a passkey (anyone; body `{}`): the options for
/// `navigator.credentials.get`, naming no account, and the challenge's id (5 minutes, once).
/// 429 `too_many_sign_ins` like a password sign-in.
#[utoipa::path(post, path = "/api/v1/passkey-challenges", tag = "sign-in",
    request_body = PasskeyChallengeRequest,
    responses((status = 201, body = PasskeyChallenge), (status = "4XX", body = ErrorEnvelope)))]
async fn start_passkey_sign_in(
    State(app): State<App>,
    origin: Origin,
    Body(_empty): Body<PasskeyChallengeRequest>,
) -> Result<Response, Throttled> {
    let challenge = uc::passkeys::start_sign_in(&app, origin.client).await?;
    let mut response = (axum::http::StatusCode::CREATED, Json(challenge)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Sign in with a passkey: the browser's answer to a sign-in challenge (session cookies set,
/// as a password sign-in). 401 `passkey_not_recognised` or `passkey_verification_failed`,
/// `passkey_challenge_unknown` (or used), 410 `passkey_challenge_expired`; each failure
/// counts toward the address's `too_many_sign_ins`.
#[utoipa::path(post, path = "/api/v1/passkey-sessions", tag = "sign-in",
    request_body = PasskeySignInRequest,
    responses((status = 201, body = SignedIn), (status = "4XX", body = ErrorEnvelope)))]
async fn passkey_sign_in(
    State(app): State<App>,
    origin: Origin,
    Body(req): Body<PasskeySignInRequest>,
) -> Result<Response, Throttled> {
    let s = uc::passkeys::finish_sign_in(&app, origin.client, req).await?;
    Ok(started(s, origin.secure))
}

/// A shopper begins registering with a passkey alone (no password): the town, login and name
/// are checked as for `POST /api/v1/registrations` (409 `login_taken`), and the answer is the
/// options for `navigator.credentials.create` and the challenge's id (5 minutes, once).
/// Nothing is created yet. 429 `too_many_sign_ins` like a sign-in.
#[utoipa::path(post, path = "/api/v1/passkey-sign-ups", tag = "sign-in",
    request_body = PasskeySignUpRequest,
    responses((status = 201, body = PasskeyChallenge), (status = "4XX", body = ErrorEnvelope)))]
async fn start_passkey_sign_up(
    State(app): State<App>,
    origin: Origin,
    Body(req): Body<PasskeySignUpRequest>,
) -> Result<Response, Throttled> {
    let challenge = uc::passkeys::start_sign_up(&app, origin.client, req).await?;
    let mut response = (axum::http::StatusCode::CREATED, Json(challenge)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Finish registering with a passkey: the browser's answer to a sign-up challenge. The shopper,
/// their login (no password: password sign-in answers `sign_in_failed` until a setup code sets
/// one) and the passkey are created together, and they are signed in (session cookies set).
/// `passkey_challenge_unknown` (or used), 410 `passkey_challenge_expired`,
/// `passkey_registration_failed`, `passkey_already_registered`, `login_taken`: nothing created.
#[utoipa::path(post, path = "/api/v1/passkey-sign-ups/finish", tag = "sign-in",
    request_body = PasskeySignUpFinish,
    responses((status = 201, body = SignedIn), (status = "4XX", body = ErrorEnvelope)))]
async fn passkey_sign_up(
    State(app): State<App>,
    origin: Origin,
    Body(req): Body<PasskeySignUpFinish>,
) -> Result<Response, Throttled> {
    let s = uc::passkeys::finish_sign_up(&app, origin.client, req).await?;
    Ok(started(s, origin.secure))
}

//! Sign-in use-cases: logins with an argon2id password for shoppers (who register themselves),
//! store owners and staff (who redeem a setup code staff issued), browser sessions (tokens of
//! the directory that end and resolve only from the session cookie, to the same principal a
//! bearer token gives), the per-login lockout and per-address limit, sessions listed and ended
//! by their holder, and recovery at a counter (a setup code that sets a new password and ends
//! every session); passkeys beside the password (`passkeys.rs`). README, "Sign-in", states the
//! rules.

pub mod api;
pub(crate) mod http;
pub mod passkeys;
mod password;
mod store;

use std::net::IpAddr;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::app::App;
use crate::error::{AppError, Common, internal};
use crate::features::directory::{self, PrincipalKind};
use crate::writer::{Answer, Done, Work};
use machipay_domain::auth::{Capability, Principal, hash_secret};
use machipay_domain::ids::*;

pub use api::{
    AddPasskeyRequest, EndedSession, Passkey, PasskeyChallenge, PasskeyChallengeRequest,
    PasskeySignInRequest, PasskeySignUpFinish, PasskeySignUpRequest, RegisterRequest, Session,
    SetupCode, SetupRequest, SignInRequest, SignedIn,
};
pub use passkeys::PasskeyRefusal;

/// Consecutive wrong passwords that lock a login.
pub const LOGIN_FAILURES_MAX: i32 = 5;
/// How long a locked login stays locked.
pub const LOCKOUT_MINUTES: i64 = 15;
/// Failed sign-ins and setup codes one client address may make within the window.
pub const ADDRESS_FAILURES_MAX: usize = 20;
/// The window of the per-address limit.
pub const ADDRESS_WINDOW_MINUTES: u64 = 15;
/// How long a shopper's session lasts (a phone's wallet stays signed in for a month).
pub const SHOPPER_SESSION_HOURS: i64 = 24 * 30;
/// How long a staff member's or store owner's session lasts (a working day).
pub const STAFF_SESSION_HOURS: i64 = 12;
/// How long a setup code works.
pub const SETUP_CODE_TTL_HOURS: i64 = 24;
/// Longest browser description kept with a session.
const USER_AGENT_CHARS_MAX: usize = 200;

crate::refusals! {
    /// What sign-in refuses.
    pub enum SignInRefusal {
        /// Neither an email address nor a phone number (10 to 15 digits).
        InvalidLogin => BadRequest, "invalid_login", "the login must be an email address or a phone number";
        /// A password outside 8 to 128 characters.
        InvalidPassword => BadRequest, "invalid_password", "the password must be 8 to 128 characters";
        /// Another account signs in with this email address or phone number.
        LoginTaken => Conflict, "login_taken", "this email address or phone number is already registered";
        /// A setup code for a principal without a login needs one.
        LoginRequired => BadRequest, "login_required", "choose an email address or phone number to sign in with";
        /// The login does not exist or the password is wrong (one answer for both).
        SignInFailed => Unauthenticated, "sign_in_failed", "the login or the password is wrong";
        /// Too many wrong passwords for this login: it is locked for a while (seconds left;
        /// `Retry-After` says the same).
        SignInLocked(u64) => TooMany, "sign_in_locked", "too many wrong passwords for this login; try again in {0} seconds";
        /// Too many failed sign-ins from this address (seconds left; `Retry-After` too).
        TooManySignIns(u64) => TooMany, "too_many_sign_ins", "too many failed sign-ins from this address; try again in {0} seconds";
        /// The setup code is unknown, used or expired.
        InvalidSetupCode => Unauthenticated, "invalid_setup_code", "the setup code is unknown, used or expired";
        /// Tills enroll with an enrollment code; they have no login.
        NoLoginForDevices => Unprocessable, "no_login_for_devices", "a till has no login: it is enrolled with an enrollment code";
    }
}

/// A refusal, with how long to wait before trying again when it is a limit (`Retry-After`).
#[derive(Debug)]
pub struct Throttled {
    pub error: AppError,
    pub retry_after_s: Option<u64>,
}

impl From<AppError> for Throttled {
    fn from(error: AppError) -> Self {
        Self {
            error,
            retry_after_s: None,
        }
    }
}

impl From<SignInRefusal> for Throttled {
    fn from(refusal: SignInRefusal) -> Self {
        let retry_after_s = match refusal {
            SignInRefusal::SignInLocked(s) | SignInRefusal::TooManySignIns(s) => Some(s),
            _ => None,
        };
        Self {
            error: refusal.into(),
            retry_after_s,
        }
    }
}

/// Where a request came from, as sign-in records it.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: Option<IpAddr>,
    pub user_agent: String,
}

/// A session just started: what the answer shows, and the secret for the cookie only.
#[derive(serde::Serialize)]
pub struct Started {
    pub shown: SignedIn,
    #[serde(skip)]
    pub secret: String,
    /// Seconds the session lasts (the cookies' Max-Age).
    #[serde(skip)]
    pub max_age_s: i64,
}

fn session_hours(kind: PrincipalKind) -> i64 {
    match kind {
        PrincipalKind::Shopper => SHOPPER_SESSION_HOURS,
        _ => STAFF_SESSION_HOURS,
    }
}

/// The principal's table and id, as logins and tokens name them.
pub(crate) fn principal_key(who: &Principal) -> (PrincipalKind, Uuid) {
    match *who {
        Principal::Staff { id, .. } => (PrincipalKind::Staff, id.0),
        Principal::MerchantOwner { merchant, .. } => (PrincipalKind::MerchantOwner, merchant.0),
        Principal::Device { id, .. } => (PrincipalKind::Device, id.0),
        Principal::Shopper { id, .. } => (PrincipalKind::Shopper, id.0),
    }
}

fn fresh<T>(answer: Answer<T>) -> Result<T, AppError> {
    match answer {
        Answer::Fresh(done) => Ok(done.value),
        Answer::Replay(_) => Err(internal("sign-in runs without an Idempotency-Key")),
    }
}

/// Starts a session for a login inside the writer job.
async fn start_session(
    w: &mut Work,
    login_id: Uuid,
    city: CityId,
    kind: PrincipalKind,
    principal_id: Uuid,
    user_agent: &str,
) -> Result<Started, AppError> {
    let hours = session_hours(kind);
    let expires_at = w.now + Duration::hours(hours);
    let token = directory::issue_session_tx(w, city, kind, principal_id, expires_at).await?;
    store::insert_session(&mut w.tx, token.token_id, login_id, user_agent, w.now).await?;
    Ok(Started {
        shown: SignedIn {
            session_id: token.token_id,
            expires_at,
            csrf_token: crate::http::session_cookie::csrf_token_for(&token.token),
            kind: kind.into(),
            principal_id,
            city_id: city,
        },
        secret: token.token,
        max_age_s: hours * 3600,
    })
}

fn user_agent(client: &Client) -> String {
    client
        .user_agent
        .chars()
        .take(USER_AGENT_CHARS_MAX)
        .collect()
}

/// Refuses an address over its limit of failures.
fn check_address(app: &App, client: &Client) -> Result<(), Throttled> {
    let Some(ip) = client.ip else { return Ok(()) };
    let window = StdDuration::from_secs(ADDRESS_WINDOW_MINUTES * 60);
    match app.failures.blocked_for(ip, ADDRESS_FAILURES_MAX, window) {
        Some(wait) => Err(SignInRefusal::TooManySignIns(wait.as_secs().max(1)).into()),
        None => Ok(()),
    }
}

fn count_address_failure(app: &App, client: &Client) {
    if let Some(ip) = client.ip {
        app.failures.record(ip, ADDRESS_FAILURES_MAX);
    }
}

fn login_and_password(login: &str, password: &str) -> Result<String, AppError> {
    let login = password::normalise_login(login).ok_or(SignInRefusal::InvalidLogin)?;
    if !password::password_ok(password) {
        return Err(SignInRefusal::InvalidPassword.into());
    }
    Ok(login)
}

/// A shopper registers themself in a city and is signed in.
pub async fn register(
    app: &App,
    client: Client,
    req: RegisterRequest,
) -> Result<Started, Throttled> {
    let login = login_and_password(&req.login, &req.password)?;
    directory::check_name("display_name", &req.display_name)?;
    directory::city(&app.db, req.city_id)
        .await?
        .ok_or(AppError::from(Common::NotFound("city")))?;
    let hash = password::hash(req.password).await?;
    let agent = user_agent(&client);
    let answer = app
        .writer
        .answer(None, move |w| {
            Box::pin(async move {
                if store::login_named_tx(&mut w.tx, &login).await?.is_some() {
                    return Err(SignInRefusal::LoginTaken.into());
                }
                let shopper = directory::new_shopper_tx(w, req.city_id, req.display_name).await?;
                let id = Uuid::now_v7();
                let row = store::NewLogin {
                    id,
                    city_id: req.city_id,
                    login: &login,
                    kind: PrincipalKind::Shopper,
                    principal_id: shopper.id.0,
                    password_hash: &hash,
                };
                store::insert_login(&mut w.tx, &row, w.now).await?;
                let started = start_session(
                    w,
                    id,
                    req.city_id,
                    PrincipalKind::Shopper,
                    shopper.id.0,
                    &agent,
                )
                .await?;
                Ok(Done::created(started))
            })
        })
        .await?;
    Ok(fresh(answer)?)
}

/// What the sign-in job found.
#[derive(serde::Serialize)]
enum Outcome {
    Started(Started),
    /// The password was wrong; the login locked until then if this failure locked it.
    Failed(Option<DateTime<Utc>>),
    Locked(DateTime<Utc>),
}

fn seconds_until(until: DateTime<Utc>) -> u64 {
    u64::try_from((until - Utc::now()).num_seconds())
        .unwrap_or(0)
        .max(1)
}

/// Signs in with a login and password. A locked login is refused without checking the
/// password; an unknown login takes as long as a wrong password and answers the same.
pub async fn sign_in(app: &App, client: Client, req: SignInRequest) -> Result<Started, Throttled> {
    check_address(app, &client)?;
    let Some(login) = password::normalise_login(&req.login) else {
        count_address_failure(app, &client);
        return Err(SignInRefusal::SignInFailed.into());
    };
    let row = store::login_named(&app.db, &login)
        .await
        .map_err(AppError::from)?;
    if let Some(until) = row.as_ref().and_then(|r| r.locked_until)
        && until > Utc::now()
    {
        return Err(SignInRefusal::SignInLocked(seconds_until(until)).into());
    }
    let stored = row.as_ref().map(|r| r.password_hash.clone());
    let right = password::verify(req.password, stored).await?;
    let Some(row) = row else {
        count_address_failure(app, &client);
        return Err(SignInRefusal::SignInFailed.into());
    };
    if !right {
        count_address_failure(app, &client);
    }
    let agent = user_agent(&client);
    let answer = app
        .writer
        .answer(None, move |w| {
            Box::pin(async move {
                if !right {
                    let until = w.now + Duration::minutes(LOCKOUT_MINUTES);
                    let locked =
                        store::count_failure(&mut w.tx, row.id, LOGIN_FAILURES_MAX, until).await?;
                    return Ok(Done::ok(Outcome::Failed(locked)));
                }
                // A lock set by failures that committed since the read above still holds.
                let now_row = store::login_named_tx(&mut w.tx, &row.login).await?;
                if let Some(until) = now_row.and_then(|r| r.locked_until)
                    && until > w.now
                {
                    return Ok(Done::ok(Outcome::Locked(until)));
                }
                store::clear_failures(&mut w.tx, row.id).await?;
                let started =
                    start_session(w, row.id, row.city_id, row.kind, row.principal_id, &agent)
                        .await?;
                Ok(Done::created(Outcome::Started(started)))
            })
        })
        .await?;
    match fresh(answer)? {
        Outcome::Started(started) => Ok(started),
        Outcome::Failed(Some(until)) | Outcome::Locked(until) => {
            Err(SignInRefusal::SignInLocked(seconds_until(until)).into())
        }
        Outcome::Failed(None) => Err(SignInRefusal::SignInFailed.into()),
    }
}

/// Staff who checked who someone is issue a one-time setup code for them: operators for
/// shoppers and store owners, city admins for staff (the rule of `directory::manages_tokens_of`).
/// It sets the first password (and login) or a new one; earlier unused codes stop working.
pub async fn issue_setup_code(
    app: &App,
    who: Principal,
    kind: PrincipalKind,
    id: Uuid,
) -> Result<Answer<SetupCode>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(Common::Forbidden.into());
    }
    directory::principal_in_city(app, &who, kind, id).await?;
    if !directory::manages_tokens_of(&who, kind) {
        return Err(Common::Forbidden.into());
    }
    if kind == PrincipalKind::Device {
        return Err(SignInRefusal::NoLoginForDevices.into());
    }
    let code = password::new_setup_code();
    let hash =
        hash_secret(&password::normalise_setup_code(&code).ok_or_else(|| internal("setup code"))?);
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                store::retire_setup_codes(&mut w.tx, id, w.now).await?;
                let expires_at = w.now + Duration::hours(SETUP_CODE_TTL_HOURS);
                let row = store::NewSetupCode {
                    hash: &hash,
                    city_id: who.city(),
                    kind,
                    principal_id: id,
                    issued_by: who.scope_id(),
                    expires_at,
                };
                store::insert_setup_code(&mut w.tx, &row, w.now).await?;
                let change = crate::features::audit::Change {
                    action: "setup_code_issued",
                    subject_kind: kind.as_str(),
                    subject_id: id,
                    detail: serde_json::json!({"expires_at": expires_at}),
                };
                crate::features::audit::record(&mut w.tx, &who, w.now, change).await?;
                Ok(Done::created(SetupCode {
                    code,
                    expires_at,
                    principal_kind: kind.into(),
                    principal_id: id,
                }))
            })
        })
        .await
}

/// Redeems a setup code: sets the principal's password (making its login if it has none),
/// ends every session it had, and signs it in.
pub async fn set_up(app: &App, client: Client, req: SetupRequest) -> Result<Started, Throttled> {
    check_address(app, &client)?;
    let Some(code) = password::normalise_setup_code(&req.code) else {
        count_address_failure(app, &client);
        return Err(SignInRefusal::InvalidSetupCode.into());
    };
    let login = match &req.login {
        Some(l) => Some(password::normalise_login(l).ok_or(SignInRefusal::InvalidLogin)?),
        None => None,
    };
    if !password::password_ok(&req.password) {
        return Err(SignInRefusal::InvalidPassword.into());
    }
    let hash = password::hash(req.password).await?;
    let agent = user_agent(&client);
    let answer = app
        .writer
        .answer(None, move |w| {
            Box::pin(async move {
                let Some((city, kind, pid)) =
                    store::take_setup_code(&mut w.tx, &hash_secret(&code), w.now).await?
                else {
                    return Err(SignInRefusal::InvalidSetupCode.into());
                };
                let login_id = set_password_tx(w, city, kind, pid, login, &hash).await?;
                directory::end_sessions_tx(w, kind, pid).await?;
                let started = start_session(w, login_id, city, kind, pid, &agent).await?;
                Ok(Done::created(started))
            })
        })
        .await;
    if matches!(&answer, Err(e) if e.code() == Some("invalid_setup_code")) {
        count_address_failure(app, &client);
    }
    // Sessions ended: no remembered token may outlive this point.
    app.tokens.forget_all();
    Ok(fresh(answer?)?)
}

/// Gives the principal's login the new password (and name), or makes the login; its id.
async fn set_password_tx(
    w: &mut Work,
    city: CityId,
    kind: PrincipalKind,
    pid: Uuid,
    login: Option<String>,
    hash: &str,
) -> Result<Uuid, AppError> {
    let existing = store::login_of_tx(&mut w.tx, kind, pid).await?;
    if let Some(name) = &login
        && let Some(other) = store::login_named_tx(&mut w.tx, name).await?
        && existing.as_ref().is_none_or(|e| e.id != other.id)
    {
        return Err(SignInRefusal::LoginTaken.into());
    }
    match existing {
        Some(row) => {
            let name = login.unwrap_or(row.login);
            store::set_password(&mut w.tx, row.id, &name, hash, w.now).await?;
            Ok(row.id)
        }
        None => {
            let name = login.ok_or(SignInRefusal::LoginRequired)?;
            let id = Uuid::now_v7();
            let row = store::NewLogin {
                id,
                city_id: city,
                login: &name,
                kind,
                principal_id: pid,
                password_hash: hash,
            };
            store::insert_login(&mut w.tx, &row, w.now).await?;
            Ok(id)
        }
    }
}

/// The caller's live browser sessions, newest first (any principal; a till has none).
pub async fn list_sessions(
    app: &App,
    who: Principal,
    current: TokenId,
) -> Result<Vec<Session>, AppError> {
    let (kind, id) = principal_key(&who);
    let rows = store::live_sessions(&app.db, kind, id, Utc::now()).await?;
    Ok(rows
        .into_iter()
        .map(|r| Session::from_row(r, current))
        .collect())
}

/// Ends one of the caller's own sessions (another's answers 404).
pub async fn end_session(
    app: &App,
    who: Principal,
    session: TokenId,
) -> Result<Answer<EndedSession>, AppError> {
    let (kind, id) = principal_key(&who);
    let answer = app
        .writer
        .answer(None, move |w| {
            Box::pin(async move {
                if !store::is_own_session(&mut w.tx, session, kind, id).await? {
                    return Err(Common::NotFound("session").into());
                }
                directory::revoke_token_tx(w, session).await?;
                Ok(Done::ok(EndedSession {
                    ended: Some(session),
                }))
            })
        })
        .await;
    app.tokens.forget_all();
    answer
}

/// Signs out: ends the session the request came with. A bearer token is not a session and
/// stays (an integration revokes it with `DELETE /api/v1/tokens/{id}`): `ended` is absent.
pub async fn sign_out(
    app: &App,
    token: TokenId,
    session: bool,
) -> Result<Answer<EndedSession>, AppError> {
    let answer = app
        .writer
        .answer(None, move |w| {
            Box::pin(async move {
                if session {
                    directory::revoke_token_tx(w, token).await?;
                }
                Ok(Done::ok(EndedSession {
                    ended: session.then_some(token),
                }))
            })
        })
        .await;
    app.tokens.forget_all();
    answer
}

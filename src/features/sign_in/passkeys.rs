//! Passkeys (WebAuthn, with webauthn-rs) beside the password. A signed-in person adds a
//! passkey to their login (a registration ceremony), lists and removes their own; anyone signs
//! in with one without typing a login (a discoverable, "usernameless" ceremony: the
//! authenticator says whose it is) and gets the same session a password gives. A shopper may
//! also register with a passkey alone (`start_sign_up`, `finish_sign_up`): the account is
//! created with the passkey when the ceremony ends, and its login has no password.
//!
//! Each ceremony is two requests: the first stores a challenge (webauthn-rs's state, as JSON)
//! in the database for a few minutes, because the second may reach another instance; the
//! second spends it (once, whatever the answer) and checks the browser's answer against it.
//! Failed passkey sign-ins count against the client address like wrong passwords.

use chrono::Duration;
use uuid::Uuid;
use webauthn_rs::Webauthn;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey as Credential, PasskeyRegistration,
};

use super::store::{self, LoginRow, Purpose};
use super::{
    Client, PasskeyChallenge, SignInRefusal, Started, Throttled, check_address,
    count_address_failure, fresh, password, principal_key, start_session, user_agent,
};
use crate::app::App;
use crate::error::{AppError, Common, internal};
use crate::features::audit;
use crate::features::directory;
use crate::writer::{Answer, Done};
use machipay_domain::auth::Principal;

pub use super::api::{
    AddPasskeyRequest, Passkey, PasskeySignInRequest, PasskeySignUpFinish, PasskeySignUpRequest,
};

/// What a passkey made at sign-up is called unless the browser names it.
pub const SIGN_UP_PASSKEY_NAME: &str = "パスキー";

/// How long a ceremony's challenge works (WebAuthn's own timeout is 5 minutes too).
pub const CHALLENGE_TTL_SECONDS: i64 = 300;
/// How long a challenge is kept after its end, so a late answer hears "expired" rather than
/// "unknown"; older ones are purged when a new one is stored.
const CHALLENGE_KEPT_HOURS: i64 = 24;

crate::refusals! {
    /// What the passkey ceremonies refuse.
    pub enum PasskeyRefusal {
        /// No such challenge for this ceremony (and this person), or it was already answered.
        ChallengeUnknown => BadRequest, "passkey_challenge_unknown", "the passkey challenge is unknown or was already used; start again";
        /// The challenge's few minutes are over.
        ChallengeExpired => Gone, "passkey_challenge_expired", "the passkey challenge expired; start again";
        /// No login here has this passkey (it was removed, or it is another site's).
        NotRecognised => Unauthenticated, "passkey_not_recognised", "this passkey is not registered here";
        /// The authenticator's answer does not verify (signature, challenge, origin, user
        /// verification).
        VerificationFailed => Unauthenticated, "passkey_verification_failed", "the passkey's answer did not verify";
        /// The new passkey's answer does not verify.
        RegistrationFailed => Unprocessable, "passkey_registration_failed", "the new passkey's answer did not verify";
        /// The authenticator's credential is registered already (here or to someone else).
        AlreadyRegistered => Conflict, "passkey_already_registered", "this passkey is already registered";
        /// Passkeys are added to a login: tills and token-only principals have none.
        LoginRequired => Unprocessable, "passkey_login_required", "a passkey is added to an account that signs in; set up a password first";
        /// A login holds at most `store::PASSKEYS_PER_LOGIN_MAX` passkeys.
        TooManyPasskeys => Unprocessable, "too_many_passkeys", "an account holds at most 20 passkeys; remove one first";
    }
}

fn webauthn(app: &App) -> Result<&Webauthn, AppError> {
    app.relying_party
        .webauthn()
        .ok_or_else(|| internal("the passkeys' relying party is not configured"))
}

/// The caller's login: passkeys hang off it.
async fn own_login(app: &App, who: &Principal) -> Result<Option<LoginRow>, AppError> {
    if matches!(who, Principal::Device { .. }) {
        return Ok(None);
    }
    let (kind, id) = principal_key(who);
    Ok(store::login_of(&app.db, kind, id).await?)
}

fn stored(row: &store::PasskeyRow) -> Result<Credential, AppError> {
    serde_json::from_str(&row.credential).map_err(|_| internal("a stored passkey does not read"))
}

/// Stores a new challenge with the ceremony's `state`; answers the options to send.
async fn store_challenge(
    app: &App,
    purpose: Purpose,
    login_id: Option<Uuid>,
    state: String,
    options: serde_json::Value,
) -> Result<PasskeyChallenge, AppError> {
    let id = Uuid::now_v7();
    let answer = app
        .writer
        .answer(None, move |w| {
            Box::pin(async move {
                let expires_at = w.now + Duration::seconds(CHALLENGE_TTL_SECONDS);
                let stale = w.now - Duration::hours(CHALLENGE_KEPT_HOURS);
                store::purge_challenges(&mut w.tx, stale).await?;
                let row = store::NewChallenge {
                    id,
                    purpose,
                    login_id,
                    state: &state,
                    expires_at,
                };
                store::insert_challenge(&mut w.tx, &row, w.now).await?;
                Ok(Done::created(PasskeyChallenge {
                    challenge_id: id,
                    expires_at,
                    options,
                }))
            })
        })
        .await?;
    fresh(answer)
}

/// What spending a challenge found.
#[derive(serde::Serialize)]
enum Taken {
    State(String),
    Expired,
    Unknown,
}

/// Spends the challenge (it works once, whatever comes of the answer) and answers its state.
async fn take_challenge(
    app: &App,
    id: Uuid,
    purpose: Purpose,
    login_id: Option<Uuid>,
) -> Result<String, AppError> {
    let answer = app
        .writer
        .answer(None, move |w| {
            Box::pin(async move {
                let found = store::take_challenge(&mut w.tx, id, purpose, login_id, w.now).await?;
                Ok(Done::ok(match found {
                    None => Taken::Unknown,
                    Some((_, until)) if until <= w.now => Taken::Expired,
                    Some((state, _)) => Taken::State(state),
                }))
            })
        })
        .await?;
    match fresh(answer)? {
        Taken::State(state) => Ok(state),
        Taken::Expired => Err(PasskeyRefusal::ChallengeExpired.into()),
        Taken::Unknown => Err(PasskeyRefusal::ChallengeUnknown.into()),
    }
}

/// Begins adding a passkey to the caller's login: the options for
/// `navigator.credentials.create`. The passkey must be discoverable (kept on the
/// authenticator with its owner), so that signing in needs no login typed.
pub async fn start_registration(app: &App, who: Principal) -> Result<PasskeyChallenge, AppError> {
    let webauthn = webauthn(app)?;
    let login = own_login(app, &who)
        .await?
        .ok_or(PasskeyRefusal::LoginRequired)?;
    let held = store::passkeys_of(&app.db, login.id).await?;
    if i64::try_from(held.len()).unwrap_or(i64::MAX) >= store::PASSKEYS_PER_LOGIN_MAX {
        return Err(PasskeyRefusal::TooManyPasskeys.into());
    }
    // The authenticator refuses to make a second passkey for an account it already holds one of.
    let exclude = held
        .iter()
        .map(|row| stored(row).map(|p| p.cred_id().clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let (options, state) = webauthn
        .start_passkey_registration(login.id, &login.login, &login.login, Some(exclude))
        .map_err(|e| internal(format!("passkey registration options: {e}")))?;
    let options = discoverable(options)?;
    let state = serde_json::to_string(&state).map_err(|_| internal("passkey state as JSON"))?;
    store_challenge(app, Purpose::Register, Some(login.id), state, options).await
}

/// Finishes adding a passkey: checks the browser's answer against the caller's challenge and
/// stores the passkey under `name` (recorded in the audit log).
pub async fn finish_registration(
    app: &App,
    who: Principal,
    req: AddPasskeyRequest,
) -> Result<Answer<Passkey>, AppError> {
    let webauthn = webauthn(app)?;
    let name = req.name.trim().to_owned();
    directory::check_name("name", &name)?;
    let login = own_login(app, &who)
        .await?
        .ok_or(PasskeyRefusal::LoginRequired)?;
    let state = take_challenge(app, req.challenge_id, Purpose::Register, Some(login.id)).await?;
    let state: PasskeyRegistration =
        serde_json::from_str(&state).map_err(|_| internal("a stored passkey challenge"))?;
    let passkey = webauthn
        .finish_passkey_registration(&req.credential, &state)
        .map_err(|_| PasskeyRefusal::RegistrationFailed)?;
    let credential_id = passkey.cred_id().clone();
    let credential = serde_json::to_string(&passkey).map_err(|_| internal("a passkey as JSON"))?;
    let login_kind = login.kind.as_str();
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                let (held, taken) =
                    store::passkey_counts_tx(&mut w.tx, login.id, &credential_id).await?;
                if taken {
                    return Err(PasskeyRefusal::AlreadyRegistered.into());
                }
                if held >= store::PASSKEYS_PER_LOGIN_MAX {
                    return Err(PasskeyRefusal::TooManyPasskeys.into());
                }
                let id = Uuid::now_v7();
                let row = store::NewPasskey {
                    id,
                    login_id: login.id,
                    credential_id: &credential_id,
                    credential: &credential,
                    name: &name,
                };
                store::insert_passkey(&mut w.tx, &row, w.now).await?;
                let change = audit::Change {
                    action: "passkey_added",
                    subject_kind: "passkey",
                    subject_id: id,
                    detail: serde_json::json!({"name": name, "login_kind": login_kind}),
                };
                audit::record(&mut w.tx, &who, w.now, change).await?;
                Ok(Done::created(Passkey {
                    id,
                    name,
                    created_at: w.now,
                    last_used_at: None,
                }))
            })
        })
        .await
}

/// The caller's passkeys, oldest first (none without a login).
pub async fn list(app: &App, who: Principal) -> Result<Vec<Passkey>, AppError> {
    let Some(login) = own_login(app, &who).await? else {
        return Ok(Vec::new());
    };
    let rows = store::passkeys_of(&app.db, login.id).await?;
    Ok(rows.into_iter().map(Passkey::from_row).collect())
}

/// Removes one of the caller's passkeys (recorded in the audit log). Another's answers 404 and
/// stays as it was.
pub async fn remove(app: &App, who: Principal, id: Uuid) -> Result<Answer<Passkey>, AppError> {
    let login = own_login(app, &who)
        .await?
        .ok_or(Common::NotFound("passkey"))?;
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                let Some(row) = store::delete_passkey(&mut w.tx, id, login.id).await? else {
                    return Err(Common::NotFound("passkey").into());
                };
                let change = audit::Change {
                    action: "passkey_removed",
                    subject_kind: "passkey",
                    subject_id: id,
                    detail: serde_json::json!({"name": row.name, "login_kind": login.kind.as_str()}),
                };
                audit::record(&mut w.tx, &who, w.now, change).await?;
                Ok(Done::ok(Passkey::from_row(row)))
            })
        })
        .await
}

/// Begins a sign-in with a passkey (anyone): the options for `navigator.credentials.get`,
/// naming no account: the authenticator offers the passkeys it holds for this site.
pub async fn start_sign_in(app: &App, client: Client) -> Result<PasskeyChallenge, Throttled> {
    check_address(app, &client)?;
    let webauthn = webauthn(app)?;
    let (options, state) = webauthn
        .start_discoverable_authentication()
        .map_err(|e| internal(format!("passkey sign-in options: {e}")))?;
    let mut options =
        serde_json::to_value(options).map_err(|_| internal("passkey options as JSON"))?;
    // webauthn-rs marks these for the browser's autofill ("conditional") prompt; the app asks
    // from a button, where the browser's own dialog is wanted.
    if let Some(o) = options.as_object_mut() {
        o.remove("mediation");
    }
    let state = serde_json::to_string(&state).map_err(|_| internal("passkey state as JSON"))?;
    Ok(store_challenge(app, Purpose::SignIn, None, state, options).await?)
}

/// Signs in with a passkey: spends the challenge, finds the passkey the authenticator names,
/// checks its answer, and starts the session its login's password would. Every refusal counts
/// against the client address.
pub async fn finish_sign_in(
    app: &App,
    client: Client,
    req: PasskeySignInRequest,
) -> Result<Started, Throttled> {
    check_address(app, &client)?;
    let verified = match verify_sign_in(app, &req).await {
        Ok(v) => v,
        Err(e) => {
            if e.code().is_some_and(|c| c.starts_with("passkey_")) {
                count_address_failure(app, &client);
            }
            return Err(e.into());
        }
    };
    let (row, login, credential) = verified;
    let agent = user_agent(&client);
    let answer = app
        .writer
        .answer(None, move |w| {
            Box::pin(async move {
                if !store::passkey_used(&mut w.tx, row.id, &credential, w.now).await? {
                    // Removed between the check and now.
                    return Err(PasskeyRefusal::NotRecognised.into());
                }
                let started = start_session(
                    w,
                    login.id,
                    login.city_id,
                    login.kind,
                    login.principal_id,
                    &agent,
                )
                .await?;
                Ok(Done::created(started))
            })
        })
        .await?;
    Ok(fresh(answer)?)
}

/// The passkey, its login and its new stored form (the counter moved), once the answer checks.
async fn verify_sign_in(
    app: &App,
    req: &PasskeySignInRequest,
) -> Result<(store::PasskeyRow, LoginRow, String), AppError> {
    let webauthn = webauthn(app)?;
    let state = take_challenge(app, req.challenge_id, Purpose::SignIn, None).await?;
    // A sign-up's challenge is kept beside the sign-ins' (it has no login yet either): it is
    // not one of them.
    let state: DiscoverableAuthentication =
        serde_json::from_str(&state).map_err(|_| PasskeyRefusal::ChallengeUnknown)?;
    let (user, credential_id) = webauthn
        .identify_discoverable_authentication(&req.credential)
        .map_err(|_| PasskeyRefusal::VerificationFailed)?;
    let row = store::passkey_by_credential(&app.db, credential_id)
        .await?
        .ok_or(PasskeyRefusal::NotRecognised)?;
    // The authenticator's account must be the passkey's: a credential id alone proves nothing.
    if row.login_id != user {
        return Err(PasskeyRefusal::NotRecognised.into());
    }
    let login = store::login_by_id(&app.db, row.login_id)
        .await?
        .ok_or(PasskeyRefusal::NotRecognised)?;
    let mut passkey = stored(&row)?;
    let result = webauthn
        .finish_discoverable_authentication_v2(&req.credential, state, &passkey)
        .map_err(|_| PasskeyRefusal::VerificationFailed)?;
    passkey.update_credential(&result);
    let credential = serde_json::to_string(&passkey).map_err(|_| internal("a passkey as JSON"))?;
    Ok((row, login, credential))
}

/// A sign-up under way: who the shopper will be and webauthn-rs's registration state, kept in
/// the challenge (as a sign-in's is, with no login: none exists yet). Nothing else is written
/// until the answer comes back, so an abandoned sign-up leaves only its expiring challenge.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SignUpState {
    /// The login's id to be, which the passkey names as its user (the user handle a
    /// usernameless sign-in answers with).
    login_id: Uuid,
    city_id: machipay_domain::ids::CityId,
    login: String,
    display_name: String,
    registration: PasskeyRegistration,
}

/// The challenge's state as kept: tagged, so that it never reads as a sign-in's.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SignUpStored {
    sign_up: SignUpState,
}

/// A shopper begins registering with a passkey alone: checks the login, name and town as
/// registration does (a login in use: `login_taken` now, and again at the end), and answers
/// the options for `navigator.credentials.create` for the account to be. The address's limit
/// of failures applies as to a sign-in.
pub async fn start_sign_up(
    app: &App,
    client: Client,
    req: PasskeySignUpRequest,
) -> Result<PasskeyChallenge, Throttled> {
    check_address(app, &client)?;
    let webauthn = webauthn(app)?;
    let login = password::normalise_login(&req.login).ok_or(SignInRefusal::InvalidLogin)?;
    let display_name = req.display_name.trim().to_owned();
    directory::check_name("display_name", &display_name)?;
    directory::city(&app.db, req.city_id)
        .await?
        .ok_or(AppError::from(Common::NotFound("city")))?;
    if store::login_named(&app.db, &login)
        .await
        .map_err(AppError::from)?
        .is_some()
    {
        return Err(SignInRefusal::LoginTaken.into());
    }
    let login_id = Uuid::now_v7();
    let (options, registration) = webauthn
        .start_passkey_registration(login_id, &login, &display_name, None)
        .map_err(|e| internal(format!("passkey registration options: {e}")))?;
    let options = discoverable(options)?;
    let state = SignUpStored {
        sign_up: SignUpState {
            login_id,
            city_id: req.city_id,
            login,
            display_name,
            registration,
        },
    };
    let state = serde_json::to_string(&state).map_err(|_| internal("passkey state as JSON"))?;
    Ok(store_challenge(app, Purpose::SignIn, None, state, options).await?)
}

/// Registration options as JSON, asking for a discoverable passkey. webauthn-rs asks for a
/// non-discoverable one; usernameless sign-in needs it kept on the authenticator. Only the
/// browser reads this; the server's check is unchanged.
fn discoverable(
    options: webauthn_rs::prelude::CreationChallengeResponse,
) -> Result<serde_json::Value, AppError> {
    let mut options =
        serde_json::to_value(options).map_err(|_| internal("passkey options as JSON"))?;
    if let Some(selection) = options
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(|s| s.as_object_mut())
    {
        selection.insert("residentKey".into(), "required".into());
        selection.insert("requireResidentKey".into(), true.into());
    }
    Ok(options)
}

/// Finishes a sign-up: spends the challenge, checks the new passkey, then in one writer job
/// creates the shopper, their login (with no password: `password::NO_PASSWORD`) and the
/// passkey, and starts their session. If anything is refused (the login taken meanwhile, the
/// passkey already registered) nothing of it is written.
pub async fn finish_sign_up(
    app: &App,
    client: Client,
    req: PasskeySignUpFinish,
) -> Result<Started, Throttled> {
    check_address(app, &client)?;
    let name = req
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(SIGN_UP_PASSKEY_NAME)
        .to_owned();
    directory::check_name("name", &name)?;
    let checked = match verify_sign_up(app, &req).await {
        Ok(v) => v,
        Err(e) => {
            if e.code().is_some_and(|c| c.starts_with("passkey_")) {
                count_address_failure(app, &client);
            }
            return Err(e.into());
        }
    };
    let (state, credential_id, credential) = checked;
    let account = (
        state.login_id,
        state.city_id,
        state.login,
        state.display_name,
    );
    let agent = user_agent(&client);
    let answer = app
        .writer
        .answer(None, move |w| {
            Box::pin(async move {
                let (login_id, city_id, login_name, display_name) = account;
                if store::login_named_tx(&mut w.tx, &login_name).await?.is_some() {
                    return Err(SignInRefusal::LoginTaken.into());
                }
                let (_, taken) = store::passkey_counts_tx(&mut w.tx, login_id, &credential_id).await?;
                if taken {
                    return Err(PasskeyRefusal::AlreadyRegistered.into());
                }
                let shopper = directory::new_shopper_tx(w, city_id, display_name).await?;
                let login = store::NewLogin {
                    id: login_id,
                    city_id,
                    login: &login_name,
                    kind: directory::PrincipalKind::Shopper,
                    principal_id: shopper.id.0,
                    password_hash: password::NO_PASSWORD,
                };
                store::insert_login(&mut w.tx, &login, w.now).await?;
                let id = Uuid::now_v7();
                let row = store::NewPasskey {
                    id,
                    login_id,
                    credential_id: &credential_id,
                    credential: &credential,
                    name: &name,
                };
                store::insert_passkey(&mut w.tx, &row, w.now).await?;
                let who = Principal::Shopper {
                    id: shopper.id,
                    city: city_id,
                };
                let change = audit::Change {
                    action: "passkey_added",
                    subject_kind: "passkey",
                    subject_id: id,
                    detail: serde_json::json!({"name": name, "login_kind": "shopper", "sign_up": true}),
                };
                audit::record(&mut w.tx, &who, w.now, change).await?;
                let started = start_session(
                    w,
                    login_id,
                    city_id,
                    directory::PrincipalKind::Shopper,
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

/// The sign-up's state, and the new passkey's id and stored form, once its answer checks.
async fn verify_sign_up(
    app: &App,
    req: &PasskeySignUpFinish,
) -> Result<(SignUpState, Vec<u8>, String), AppError> {
    let webauthn = webauthn(app)?;
    let state = take_challenge(app, req.challenge_id, Purpose::SignIn, None).await?;
    // A sign-in's challenge is not a sign-up's.
    let stored: SignUpStored =
        serde_json::from_str(&state).map_err(|_| PasskeyRefusal::ChallengeUnknown)?;
    let state = stored.sign_up;
    let passkey = webauthn
        .finish_passkey_registration(&req.credential, &state.registration)
        .map_err(|_| PasskeyRefusal::RegistrationFailed)?;
    let credential_id = passkey.cred_id().to_vec();
    let credential = serde_json::to_string(&passkey).map_err(|_| internal("a passkey as JSON"))?;
    Ok((state, credential_id, credential))
}

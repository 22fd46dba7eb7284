//! What the sign-in routes take and answer: registration, sign-in and setup requests, the
//! signed-in answer (never the session's secret: that goes only into the HttpOnly cookie),
//! sessions as their holder lists them, setup codes as staff hand them over, and passkeys: the
//! options of a ceremony, the browser's answers, a passkey as its holder lists it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::features::directory::api::PrincipalKind;
use crate::features::sign_in::store;
use machipay_domain::ids::*;

/// A shopper registers themself.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The town (`GET /api/v1/cities`).
    pub city_id: CityId,
    /// An email address or a mobile phone number.
    pub login: String,
    /// 8 to 128 characters.
    pub password: String,
    pub display_name: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    /// The email address or phone number the login was made with (any spelling of it:
    /// upper case, hyphens and full-width digits are read alike).
    pub login: String,
    pub password: String,
}

/// Redeems a setup code: the first password of a staff member or store owner, or a new one
/// after recovery at a counter.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The code on the slip staff handed over (hyphens and case do not matter).
    pub code: String,
    /// Required when the principal has no login yet; otherwise it may rename the login.
    #[serde(default)]
    pub login: Option<String>,
    /// The new password, 8 to 128 characters.
    pub password: String,
}

/// A browser session has started. The session's secret is in the `machipay_session` cookie
/// (HttpOnly) only; the CSRF token is also in the readable `machipay_csrf` cookie.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SignedIn {
    /// The session's id (to list and end it).
    pub session_id: TokenId,
    pub expires_at: DateTime<Utc>,
    /// Echo in `X-CSRF-Token` on every unsafe request made with the cookie.
    pub csrf_token: String,
    /// Who signed in: staff, merchant_owner or shopper.
    pub kind: PrincipalKind,
    /// The staff member, store (for an owner) or shopper.
    #[schema(value_type = String, format = Uuid)]
    pub principal_id: uuid::Uuid,
    pub city_id: CityId,
}

/// A live browser session of the caller.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Session {
    pub id: TokenId,
    /// The browser, as it described itself (first 200 characters).
    pub user_agent: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Whether this request came with this session.
    pub current: bool,
}

impl Session {
    pub(crate) fn from_row(row: store::SessionRow, current: TokenId) -> Self {
        Self {
            current: row.id == current,
            id: row.id,
            user_agent: row.user_agent,
            created_at: row.created_at,
            expires_at: row.expires_at,
        }
    }
}

/// What ending a session (or signing out) answers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EndedSession {
    /// The session that ended; absent when signing out with a bearer token (it stays).
    pub ended: Option<TokenId>,
}

/// A one-time setup code, shown once: staff hand it over on paper.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SetupCode {
    /// `ABCD-EFGH-JKMN`: works once, until `expires_at`.
    pub code: String,
    pub expires_at: DateTime<Utc>,
    pub principal_kind: PrincipalKind,
    #[schema(value_type = String, format = Uuid)]
    pub principal_id: uuid::Uuid,
}

/// A passkey ceremony begun: the options for `navigator.credentials.create` (registration) or
/// `.get` (sign-in), and the challenge's id to send back with the browser's answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PasskeyChallenge {
    /// Send back with the answer; works once, until `expires_at`.
    #[schema(value_type = String, format = Uuid)]
    pub challenge_id: uuid::Uuid,
    pub expires_at: DateTime<Utc>,
    /// WebAuthn's options as JSON (`{"publicKey": {...}}`), binary fields in unpadded base64url.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

/// A sign-in challenge is open to anyone: the body is an empty object (JSON, like every open
/// route, so a cross-site form cannot send it).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyChallengeRequest {}

/// The browser's answer to a registration challenge, and what to call the passkey.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddPasskeyRequest {
    #[schema(value_type = String, format = Uuid)]
    pub challenge_id: uuid::Uuid,
    /// What the person calls it ("iPhone"), 1 to 100 characters.
    pub name: String,
    /// The `PublicKeyCredential` from `navigator.credentials.create`, as JSON: `id`, `rawId`,
    /// `type`, `response.attestationObject` and `response.clientDataJSON` (unpadded base64url).
    #[schema(value_type = Object)]
    pub credential: webauthn_rs::prelude::RegisterPublicKeyCredential,
}

/// A shopper begins registering with a passkey alone (no password): who they will be. Nothing
/// is created until the passkey's answer comes back (`PasskeySignUpFinish`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeySignUpRequest {
    /// The town (`GET /api/v1/cities`).
    pub city_id: CityId,
    /// An email address or a mobile phone number (to recognise them at a counter, and to set a
    /// password later with a setup code).
    pub login: String,
    pub display_name: String,
}

/// The browser's answer to a sign-up challenge: the new passkey, and what to call it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeySignUpFinish {
    #[schema(value_type = String, format = Uuid)]
    pub challenge_id: uuid::Uuid,
    /// What the person calls the passkey, 1 to 100 characters (default `パスキー`).
    #[serde(default)]
    pub name: Option<String>,
    /// The `PublicKeyCredential` from `navigator.credentials.create`, as for `AddPasskeyRequest`.
    #[schema(value_type = Object)]
    pub credential: webauthn_rs::prelude::RegisterPublicKeyCredential,
}

/// The browser's answer to a sign-in challenge.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeySignInRequest {
    #[schema(value_type = String, format = Uuid)]
    pub challenge_id: uuid::Uuid,
    /// The `PublicKeyCredential` from `navigator.credentials.get`, as JSON: `id`, `rawId`,
    /// `type`, `response.authenticatorData`, `.clientDataJSON`, `.signature` and `.userHandle`
    /// (unpadded base64url).
    #[schema(value_type = Object)]
    pub credential: webauthn_rs::prelude::PublicKeyCredential,
}

/// One of the caller's passkeys.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Passkey {
    #[schema(value_type = String, format = Uuid)]
    pub id: uuid::Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// The last sign-in with it; absent if never used.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl Passkey {
    pub(crate) fn from_row(row: store::PasskeyRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        }
    }
}

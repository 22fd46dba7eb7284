//! Logins, browser sessions, setup codes, passkeys and passkey challenges: the rows sign-in
//! reads and writes. A session's token row is the directory's (`api_tokens`); the listing
//! joins it for its times.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{Db, read};
use crate::features::directory::PrincipalKind;
use crate::writer::{WriteTx, read_flushed, write};
use machipay_domain::ids::*;

/// A login as sign-in needs it.
#[derive(Debug, Clone)]
pub(crate) struct LoginRow {
    pub(crate) id: Uuid,
    pub(crate) city_id: CityId,
    pub(crate) login: String,
    pub(crate) kind: PrincipalKind,
    pub(crate) principal_id: Uuid,
    pub(crate) password_hash: String,
    pub(crate) locked_until: Option<DateTime<Utc>>,
}

type LoginTuple = (
    Uuid,
    Uuid,
    String,
    String,
    Uuid,
    String,
    Option<DateTime<Utc>>,
);

const LOGIN_COLUMNS: &str = "SELECT id, city_id, login, principal_kind, principal_id, password_hash, locked_until FROM logins";

fn login_row(t: LoginTuple) -> Option<LoginRow> {
    Some(LoginRow {
        id: t.0,
        city_id: CityId(t.1),
        login: t.2,
        kind: PrincipalKind::parse(&t.3)?,
        principal_id: t.4,
        password_hash: t.5,
        locked_until: t.6,
    })
}

/// The login of that name (normal form), read outside the writer before the password check.
pub(crate) async fn login_named(db: &Db, login: &str) -> Result<Option<LoginRow>, sqlx::Error> {
    let sql = format!("{LOGIN_COLUMNS} WHERE login = $1");
    let row: Option<LoginTuple> = read!(db, |c| sqlx::query_as(&sql)
        .bind(login)
        .fetch_optional(c)
        .await)?;
    Ok(row.and_then(login_row))
}

/// The login of that id (read outside the writer).
pub(crate) async fn login_by_id(db: &Db, id: Uuid) -> Result<Option<LoginRow>, sqlx::Error> {
    let sql = format!("{LOGIN_COLUMNS} WHERE id = $1");
    let row: Option<LoginTuple> = read!(db, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(c)
        .await)?;
    Ok(row.and_then(login_row))
}

/// A principal's login, if it has one (read outside the writer).
pub(crate) async fn login_of(
    db: &Db,
    kind: PrincipalKind,
    principal_id: Uuid,
) -> Result<Option<LoginRow>, sqlx::Error> {
    let sql = format!("{LOGIN_COLUMNS} WHERE principal_kind = $1 AND principal_id = $2");
    let row: Option<LoginTuple> = read!(db, |c| sqlx::query_as(&sql)
        .bind(kind.as_str())
        .bind(principal_id)
        .fetch_optional(c)
        .await)?;
    Ok(row.and_then(login_row))
}

/// The same, in the write transaction.
pub(crate) async fn login_named_tx(
    tx: &mut WriteTx,
    login: &str,
) -> Result<Option<LoginRow>, sqlx::Error> {
    let sql = format!("{LOGIN_COLUMNS} WHERE login = $1");
    let row: Option<LoginTuple> = read_flushed!(tx, |c| sqlx::query_as(&sql)
        .bind(login)
        .fetch_optional(c)
        .await)?;
    Ok(row.and_then(login_row))
}

/// A principal's login, if it has one, in the write transaction.
pub(crate) async fn login_of_tx(
    tx: &mut WriteTx,
    kind: PrincipalKind,
    principal_id: Uuid,
) -> Result<Option<LoginRow>, sqlx::Error> {
    let sql = format!("{LOGIN_COLUMNS} WHERE principal_kind = $1 AND principal_id = $2");
    let row: Option<LoginTuple> = read_flushed!(tx, |c| sqlx::query_as(&sql)
        .bind(kind.as_str())
        .bind(principal_id)
        .fetch_optional(c)
        .await)?;
    Ok(row.and_then(login_row))
}

/// A new login row.
pub(crate) struct NewLogin<'a> {
    pub(crate) id: Uuid,
    pub(crate) city_id: CityId,
    pub(crate) login: &'a str,
    pub(crate) kind: PrincipalKind,
    pub(crate) principal_id: Uuid,
    pub(crate) password_hash: &'a str,
}

pub(crate) async fn insert_login(
    tx: &mut WriteTx,
    l: &NewLogin<'_>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write!(tx, |c| {
        sqlx::query(
        "INSERT INTO logins (id, city_id, login, principal_kind, principal_id, password_hash, \
         failed_signins, password_changed_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7)"
    )
    .bind(l.id)
    .bind(l.city_id.0)
    .bind(l.login)
    .bind(l.kind.as_str())
    .bind(l.principal_id)
    .bind(l.password_hash)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())
    })
}

/// A new password (and login name) for an existing login: failures and any lock cleared.
pub(crate) async fn set_password(
    tx: &mut WriteTx,
    id: Uuid,
    login: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "UPDATE logins SET login = $2, password_hash = $3, password_changed_at = $4, \
         failed_signins = 0, locked_until = NULL WHERE id = $1"
    )
    .bind(id)
    .bind(login)
    .bind(password_hash)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ()))
}

/// Counts a wrong password. At `max` consecutive failures the login locks until `until` and
/// the count starts again; answers the lock's end if this failure set it. One statement, so
/// concurrent failures each count.
pub(crate) async fn count_failure(
    tx: &mut WriteTx,
    id: Uuid,
    max: i32,
    until: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let row: Option<(i32, Option<DateTime<Utc>>)> = write!(tx, |c| sqlx::query_as(
        "UPDATE logins SET \
           locked_until = CASE WHEN failed_signins + 1 >= $2 THEN $3 ELSE locked_until END, \
           failed_signins = CASE WHEN failed_signins + 1 >= $2 THEN 0 ELSE failed_signins + 1 END \
         WHERE id = $1 RETURNING failed_signins, locked_until"
    )
    .bind(id)
    .bind(max)
    .bind(until)
    .fetch_optional(c)
    .await)?;
    Ok(row.and_then(|(failed, locked)| if failed == 0 { locked } else { None }))
}

/// A right password: the failures so far no longer count.
pub(crate) async fn clear_failures(tx: &mut WriteTx, id: Uuid) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "UPDATE logins SET failed_signins = 0, locked_until = NULL WHERE id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .map(|_| ()))
}

pub(crate) async fn insert_session(
    tx: &mut WriteTx,
    token: TokenId,
    login: Uuid,
    user_agent: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "INSERT INTO sessions (token_id, login_id, user_agent, created_at) VALUES ($1, $2, $3, $4)"
    )
    .bind(token.0)
    .bind(login)
    .bind(user_agent)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ()))
}

/// A live session as its holder lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct SessionRow {
    #[sqlx(try_from = "Uuid")]
    pub(crate) id: TokenId,
    pub(crate) user_agent: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
}

/// Sessions listed at most.
pub(crate) const SESSIONS_LISTED_MAX: i64 = 100;

/// A principal's live sessions (not revoked, not ended), newest first.
pub(crate) async fn live_sessions(
    db: &Db,
    kind: PrincipalKind,
    principal_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    read!(db, |c| sqlx::query_as(
        "SELECT t.id, s.user_agent, s.created_at, t.expires_at FROM sessions s \
         JOIN api_tokens t ON t.id = s.token_id \
         WHERE t.principal_kind = $1 AND t.principal_id = $2 AND t.revoked_at IS NULL \
           AND t.expires_at > $3 \
         ORDER BY s.created_at DESC, t.id DESC LIMIT $4"
    )
    .bind(kind.as_str())
    .bind(principal_id)
    .bind(now)
    .bind(SESSIONS_LISTED_MAX)
    .fetch_all(c)
    .await)
}

/// Whether `token` is a live session of this principal.
pub(crate) async fn is_own_session(
    tx: &mut WriteTx,
    token: TokenId,
    kind: PrincipalKind,
    principal_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let found: Option<Uuid> = read_flushed!(tx, |c| sqlx::query_scalar(
        "SELECT t.id FROM sessions s JOIN api_tokens t ON t.id = s.token_id \
         WHERE t.id = $1 AND t.principal_kind = $2 AND t.principal_id = $3 \
           AND t.revoked_at IS NULL"
    )
    .bind(token.0)
    .bind(kind.as_str())
    .bind(principal_id)
    .fetch_optional(c)
    .await)?;
    Ok(found.is_some())
}

/// Retires a principal's unused setup codes (a new one replaces them).
pub(crate) async fn retire_setup_codes(
    tx: &mut WriteTx,
    principal_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "UPDATE setup_codes SET used_at = $2 \
         WHERE principal_id = $1 AND used_at IS NULL AND expires_at > $2"
    )
    .bind(principal_id)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ()))
}

/// A new setup code's row.
pub(crate) struct NewSetupCode<'a> {
    pub(crate) hash: &'a [u8],
    pub(crate) city_id: CityId,
    pub(crate) kind: PrincipalKind,
    pub(crate) principal_id: Uuid,
    pub(crate) issued_by: Uuid,
    pub(crate) expires_at: DateTime<Utc>,
}

pub(crate) async fn insert_setup_code(
    tx: &mut WriteTx,
    s: &NewSetupCode<'_>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "INSERT INTO setup_codes (code_hash, city_id, principal_kind, principal_id, issued_by, \
         expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(s.hash)
    .bind(s.city_id.0)
    .bind(s.kind.as_str())
    .bind(s.principal_id)
    .bind(s.issued_by)
    .bind(s.expires_at)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ()))
}

/// Marks an unused, unexpired code used and answers whose it was. A code works once.
pub(crate) async fn take_setup_code(
    tx: &mut WriteTx,
    hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<(CityId, PrincipalKind, Uuid)>, sqlx::Error> {
    let row: Option<(Uuid, String, Uuid)> = write!(tx, |c| sqlx::query_as(
        "UPDATE setup_codes SET used_at = $2 \
         WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 \
         RETURNING city_id, principal_kind, principal_id"
    )
    .bind(hash)
    .bind(now)
    .fetch_optional(c)
    .await)?;
    Ok(row.and_then(|(city, kind, p)| Some((CityId(city), PrincipalKind::parse(&kind)?, p))))
}

// ---- passkeys -------------------------------------------------------------------------------

/// What a passkey challenge is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Register,
    SignIn,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::SignIn => "sign_in",
        }
    }
}

/// A new challenge: the ceremony's state (JSON) until `expires_at`.
pub(crate) struct NewChallenge<'a> {
    pub(crate) id: Uuid,
    pub(crate) purpose: Purpose,
    pub(crate) login_id: Option<Uuid>,
    pub(crate) state: &'a str,
    pub(crate) expires_at: DateTime<Utc>,
}

pub(crate) async fn insert_challenge(
    tx: &mut WriteTx,
    c: &NewChallenge<'_>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write!(tx, |conn| sqlx::query(
        "INSERT INTO passkey_challenges (id, purpose, login_id, state, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(c.id)
    .bind(c.purpose.as_str())
    .bind(c.login_id)
    .bind(c.state)
    .bind(now)
    .bind(c.expires_at)
    .execute(conn)
    .await
    .map(|_| ()))
}

/// Deletes challenges that expired before `before` (used or not): they can only be refused.
pub(crate) async fn purge_challenges(
    tx: &mut WriteTx,
    before: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "DELETE FROM passkey_challenges WHERE expires_at < $1"
    )
    .bind(before)
    .execute(c)
    .await
    .map(|_| ()))
}

/// Marks an unused challenge of this purpose (and, for a registration, this login) used and
/// answers its state and end; `None` when there is none or it was used. A challenge works
/// once, whatever the answer to it: the first try spends it.
pub(crate) async fn take_challenge(
    tx: &mut WriteTx,
    id: Uuid,
    purpose: Purpose,
    login_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Option<(String, DateTime<Utc>)>, sqlx::Error> {
    let whose = match purpose {
        Purpose::Register => "AND login_id = $4",
        Purpose::SignIn => "AND login_id IS NULL",
    };
    let sql = format!(
        "UPDATE passkey_challenges SET used_at = $2 \
         WHERE id = $1 AND purpose = $3 AND used_at IS NULL {whose} RETURNING state, expires_at"
    );
    write!(tx, |c| {
        let q = sqlx::query_as(&sql)
            .bind(id)
            .bind(now)
            .bind(purpose.as_str());
        let q = match login_id {
            Some(login) => q.bind(login),
            None => q,
        };
        q.fetch_optional(c).await
    })
}

/// A stored passkey, with the login it signs in as.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct PasskeyRow {
    pub(crate) id: Uuid,
    pub(crate) login_id: Uuid,
    pub(crate) credential: String,
    pub(crate) name: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) last_used_at: Option<DateTime<Utc>>,
}

const PASSKEY_COLUMNS: &str =
    "SELECT id, login_id, credential, name, created_at, last_used_at FROM passkeys";

/// Passkeys a login may hold at most (and so lists at most).
pub(crate) const PASSKEYS_PER_LOGIN_MAX: i64 = 20;

/// A login's passkeys, oldest first.
pub(crate) async fn passkeys_of(db: &Db, login_id: Uuid) -> Result<Vec<PasskeyRow>, sqlx::Error> {
    let sql = format!("{PASSKEY_COLUMNS} WHERE login_id = $1 ORDER BY created_at, id LIMIT $2");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(login_id)
        .bind(PASSKEYS_PER_LOGIN_MAX)
        .fetch_all(c)
        .await)
}

/// The passkey an authenticator names by `credential_id`, if any.
pub(crate) async fn passkey_by_credential(
    db: &Db,
    credential_id: &[u8],
) -> Result<Option<PasskeyRow>, sqlx::Error> {
    let sql = format!("{PASSKEY_COLUMNS} WHERE credential_id = $1");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(credential_id)
        .fetch_optional(c)
        .await)
}

/// How many passkeys a login holds, and whether `credential_id` is anyone's already.
pub(crate) async fn passkey_counts_tx(
    tx: &mut WriteTx,
    login_id: Uuid,
    credential_id: &[u8],
) -> Result<(i64, bool), sqlx::Error> {
    let (held, taken): (i64, i64) = read_flushed!(tx, |c| sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM passkeys WHERE login_id = $1), \
                (SELECT COUNT(*) FROM passkeys WHERE credential_id = $2)"
    )
    .bind(login_id)
    .bind(credential_id)
    .fetch_one(c)
    .await)?;
    Ok((held, taken > 0))
}

/// A new passkey's row.
pub(crate) struct NewPasskey<'a> {
    pub(crate) id: Uuid,
    pub(crate) login_id: Uuid,
    pub(crate) credential_id: &'a [u8],
    pub(crate) credential: &'a str,
    pub(crate) name: &'a str,
}

pub(crate) async fn insert_passkey(
    tx: &mut WriteTx,
    p: &NewPasskey<'_>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "INSERT INTO passkeys (id, login_id, credential_id, credential, name, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(p.id)
    .bind(p.login_id)
    .bind(p.credential_id)
    .bind(p.credential)
    .bind(p.name)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ()))
}

/// A sign-in with the passkey: its new state (the signature counter) and when. False when it
/// was removed meanwhile.
pub(crate) async fn passkey_used(
    tx: &mut WriteTx,
    id: Uuid,
    credential: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let n = write!(tx, |c| sqlx::query(
        "UPDATE passkeys SET credential = $2, last_used_at = $3 WHERE id = $1"
    )
    .bind(id)
    .bind(credential)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Deletes the login's passkey `id` and answers its row; `None` when the login has no such
/// passkey (someone else's is left alone).
pub(crate) async fn delete_passkey(
    tx: &mut WriteTx,
    id: Uuid,
    login_id: Uuid,
) -> Result<Option<PasskeyRow>, sqlx::Error> {
    write!(tx, |c| sqlx::query_as(
        "DELETE FROM passkeys WHERE id = $1 AND login_id = $2 \
         RETURNING id, login_id, credential, name, created_at, last_used_at"
    )
    .bind(id)
    .bind(login_id)
    .fetch_optional(c)
    .await)
}

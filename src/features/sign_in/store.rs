//! Logins, browser sessions and setup codes: the rows sign-in reads and writes. A session's
//! token row is the directory's (`api_tokens`); the listing joins it for its times.

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

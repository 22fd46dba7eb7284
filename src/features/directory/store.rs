//! Cities, programs, staff, merchants, devices, shoppers and their tokens: who exists and
//! who may call. Rows decode straight into typed ids and enums.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use sqlx::{FromRow, Row};

use futures::future::BoxFuture;

use crate::db::{Db, read};
use crate::error::AppError;
use crate::writer::guard::FactSet;
use crate::writer::{Fact, WARM_ROWS_MAX, WriteTx, read_flushed, read_tx, write};
use machipay_domain::auth::{Principal, Role, Secret, StaffKind};
use machipay_domain::ids::*;
use machipay_domain::program::ProgramKind;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct City {
    #[sqlx(try_from = "Uuid")]
    pub id: CityId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProgramRow {
    #[sqlx(try_from = "Uuid")]
    pub id: ProgramId,
    #[sqlx(try_from = "Uuid")]
    pub city_id: CityId,
    #[sqlx(try_from = "String")]
    pub kind: ProgramKind,
    pub name: String,
    pub settings: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Staff {
    #[sqlx(try_from = "Uuid")]
    pub id: StaffId,
    #[sqlx(try_from = "Uuid")]
    pub city_id: CityId,
    #[sqlx(try_from = "String")]
    pub kind: StaffKind,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Merchant {
    #[sqlx(try_from = "Uuid")]
    pub id: MerchantId,
    #[sqlx(try_from = "Uuid")]
    pub city_id: CityId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Device {
    #[sqlx(try_from = "Uuid")]
    pub id: DeviceId,
    #[sqlx(try_from = "Uuid")]
    pub merchant_id: MerchantId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Shopper {
    #[sqlx(try_from = "Uuid")]
    pub id: ShopperId,
    #[sqlx(try_from = "Uuid")]
    pub city_id: CityId,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
    /// Set while staff keep the shopper blocked (migration 0023), with the reason and who.
    pub blocked_at: Option<DateTime<Utc>>,
    pub blocked_reason: Option<String>,
    pub blocked_by: Option<Uuid>,
}

/// Which table a token's principal lives in (a merchant owner's id is its merchant's id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    Staff,
    MerchantOwner,
    Device,
    Shopper,
}

impl PrincipalKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "staff" => Some(Self::Staff),
            "merchant_owner" => Some(Self::MerchantOwner),
            "device" => Some(Self::Device),
            "shopper" => Some(Self::Shopper),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Staff => "staff",
            Self::MerchantOwner => "merchant_owner",
            Self::Device => "device",
            Self::Shopper => "shopper",
        }
    }
}

pub async fn insert_city(tx: &mut WriteTx, city: &City) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "INSERT INTO cities (id, name, created_at) VALUES ($1, $2, $3)"
    )
    .bind(city.id.0)
    .bind(&city.name)
    .bind(city.created_at)
    .execute(c)
    .await
    .map(|_| ()))
}

/// How many cities the database holds (the demo seeds only an empty one).
pub async fn city_count(db: &Db) -> Result<i64, sqlx::Error> {
    read!(db, |c| sqlx::query_scalar("SELECT count(*) FROM cities")
        .fetch_one(c)
        .await)
}

/// Cities listed at most (a deployment serves one town, or a few).
pub const CITIES_LISTED_MAX: i64 = 100;

pub async fn list_cities(db: &Db) -> Result<Vec<City>, sqlx::Error> {
    read!(db, |c| sqlx::query_as(
        "SELECT id, name, created_at FROM cities ORDER BY name, id LIMIT $1"
    )
    .bind(CITIES_LISTED_MAX)
    .fetch_all(c)
    .await)
}

pub async fn get_city(db: &Db, id: CityId) -> Result<Option<City>, sqlx::Error> {
    read!(db, |c| sqlx::query_as(
        "SELECT id, name, created_at FROM cities WHERE id = $1"
    )
    .bind(id.0)
    .fetch_optional(c)
    .await)
}

pub async fn insert_staff(tx: &mut WriteTx, s: &Staff) -> Result<(), sqlx::Error> {
    write!(tx, |c| {
        sqlx::query(
        "INSERT INTO staff (id, city_id, kind, role, name, created_at) VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(s.id.0)
    .bind(s.city_id.0)
    .bind(s.kind.as_str())
    .bind(s.role.as_str())
    .bind(&s.name)
    .bind(s.created_at)
    .execute(c)
    .await
    .map(|_| ())
    })
}

pub async fn get_staff(db: &Db, id: StaffId) -> Result<Option<Staff>, sqlx::Error> {
    read!(db, |c| sqlx::query_as(
        "SELECT id, city_id, kind, role, name, created_at FROM staff WHERE id = $1"
    )
    .bind(id.0)
    .fetch_optional(c)
    .await)
}

pub async fn insert_token(
    tx: &mut WriteTx,
    secret: &Secret,
    city: CityId,
    kind: PrincipalKind,
    principal_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write!(tx, |c| {
        sqlx::query(
        "INSERT INTO api_tokens (id, token_hash, city_id, principal_kind, principal_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(secret.id.0)
    .bind(&secret.hash)
    .bind(city.0)
    .bind(kind.as_str())
    .bind(principal_id)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())
    })
}

/// The city, principal kind and principal of an unrevoked token, for revocation checks.
pub async fn token_owner(
    tx: &mut WriteTx,
    id: TokenId,
) -> Result<Option<(CityId, PrincipalKind, Uuid)>, sqlx::Error> {
    let row: Option<(Uuid, String, Uuid)> = read_flushed!(tx, |c| sqlx::query_as(
        "SELECT city_id, principal_kind, principal_id FROM api_tokens \
         WHERE id = $1 AND revoked_at IS NULL"
    )
    .bind(id.0)
    .fetch_optional(c)
    .await)?;
    Ok(row.and_then(|(city, kind, p)| Some((CityId(city), PrincipalKind::parse(&kind)?, p))))
}

/// A token's row as listed: never its secret or hash.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenInfo {
    #[sqlx(try_from = "Uuid")]
    pub id: TokenId,
    pub created_at: DateTime<Utc>,
    /// When it stopped working; absent while it works.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Tokens kept per principal at most in a listing (a principal gets one per issue).
pub const TOKENS_LISTED_MAX: i64 = 200;

/// A principal's tokens, newest first (at most `TOKENS_LISTED_MAX`).
pub async fn list_tokens(
    db: &Db,
    city: CityId,
    kind: PrincipalKind,
    principal_id: Uuid,
) -> Result<Vec<TokenInfo>, sqlx::Error> {
    read!(db, |c| sqlx::query_as(
        "SELECT id, created_at, revoked_at FROM api_tokens \
         WHERE principal_id = $1 AND principal_kind = $2 AND city_id = $3 \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    )
    .bind(principal_id)
    .bind(kind.as_str())
    .bind(city.0)
    .bind(TOKENS_LISTED_MAX)
    .fetch_all(c)
    .await)
}

/// The city of a principal of `kind`, if it exists (a device's is its merchant's).
pub async fn principal_city(
    db: &Db,
    kind: PrincipalKind,
    id: Uuid,
) -> Result<Option<CityId>, sqlx::Error> {
    let sql = match kind {
        PrincipalKind::Staff => "SELECT city_id FROM staff WHERE id = $1",
        PrincipalKind::MerchantOwner => "SELECT city_id FROM merchants WHERE id = $1",
        PrincipalKind::Device => {
            "SELECT m.city_id FROM devices d JOIN merchants m ON m.id = d.merchant_id WHERE d.id = $1"
        }
        PrincipalKind::Shopper => "SELECT city_id FROM shoppers WHERE id = $1",
    };
    let city: Option<Uuid> = read!(db, |c| sqlx::query_scalar(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?;
    Ok(city.map(CityId))
}

pub async fn revoke_token(
    tx: &mut WriteTx,
    id: TokenId,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // Other instances forget their cached tokens too (the shared generation).
    tx.changes_shared_state();
    let done = write!(tx, |c| sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL"
    )
    .bind(id.0)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// Resolves a bearer token's hash to the principal it stands for; revoked tokens resolve to
/// nothing, and so do browser sessions (a session's secret works only as a cookie, where the
/// CSRF rule holds). One query per request, joined so a staff role change takes effect at once.
pub async fn principal_for_token(
    db: &Db,
    hash: &[u8],
) -> Result<Option<(TokenId, Principal)>, sqlx::Error> {
    principal_where(db, hash, "t.expires_at IS NULL", None).await
}

/// Resolves a session cookie's secret (its hash) to the principal it stands for, while the
/// session lasts and is not revoked: the same principal a bearer token of that person gives.
pub async fn principal_for_session(
    db: &Db,
    hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<(TokenId, Principal)>, sqlx::Error> {
    principal_where(db, hash, "t.expires_at > $2", Some(now)).await
}

async fn principal_where(
    db: &Db,
    hash: &[u8],
    lasting: &str,
    now: Option<DateTime<Utc>>,
) -> Result<Option<(TokenId, Principal)>, sqlx::Error> {
    type Row = (
        Uuid,
        Uuid,
        String,
        Uuid,
        Option<String>,
        Option<String>,
        Option<Uuid>,
    );
    let sql = format!(
        "SELECT t.id, t.city_id, t.principal_kind, t.principal_id, s.kind, s.role, d.merchant_id \
         FROM api_tokens t \
         LEFT JOIN staff s ON t.principal_kind = 'staff' AND s.id = t.principal_id \
         LEFT JOIN devices d ON t.principal_kind = 'device' AND d.id = t.principal_id \
              AND d.revoked_at IS NULL \
         LEFT JOIN shoppers sh ON t.principal_kind = 'shopper' AND sh.id = t.principal_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND {lasting} \
           AND sh.blocked_at IS NULL"
    );
    let row: Option<Row> = read!(db, |c| {
        let q = sqlx::query_as(&sql).bind(hash);
        let q = match now {
            Some(now) => q.bind(now),
            None => q,
        };
        q.fetch_optional(c).await
    })?;
    let Some((token, city, kind, pid, staff_kind, role, device_merchant)) = row else {
        return Ok(None);
    };
    let city = CityId(city);
    let principal = match kind.as_str() {
        "staff" => {
            let kind = staff_kind.as_deref().and_then(StaffKind::parse);
            let role = role.as_deref().and_then(Role::parse);
            match (kind, role) {
                (Some(kind), Some(role)) => Principal::Staff {
                    id: StaffId(pid),
                    city,
                    kind,
                    role,
                },
                _ => return Ok(None),
            }
        }
        "merchant_owner" => Principal::MerchantOwner {
            merchant: MerchantId(pid),
            city,
        },
        "device" => match device_merchant {
            Some(m) => Principal::Device {
                id: DeviceId(pid),
                merchant: MerchantId(m),
                city,
            },
            None => return Ok(None),
        },
        "shopper" => Principal::Shopper {
            id: ShopperId(pid),
            city,
        },
        _ => return Ok(None),
    };
    Ok(Some((TokenId(token), principal)))
}

/// Whether a live token or session (by its hash) belongs to a shopper staff have blocked:
/// what turns a token that resolves to nothing into 403 `shopper_blocked` rather than 401.
/// Asked only after `principal_for_token` or `principal_for_session` found nothing.
pub async fn is_blocked_shoppers_token(db: &Db, hash: &[u8]) -> Result<bool, sqlx::Error> {
    let found: i64 = read!(db, |c| sqlx::query_scalar(
        "SELECT count(*) FROM api_tokens t JOIN shoppers sh ON sh.id = t.principal_id \
         WHERE t.token_hash = $1 AND t.principal_kind = 'shopper' AND t.revoked_at IS NULL \
           AND sh.blocked_at IS NOT NULL"
    )
    .bind(hash)
    .fetch_one(c)
    .await)?;
    Ok(found > 0)
}

/// Stores a browser session's token: like `insert_token`, with the instant it ends.
pub async fn insert_session_token(
    tx: &mut WriteTx,
    secret: &Secret,
    city: CityId,
    kind: PrincipalKind,
    principal_id: Uuid,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write!(tx, |c| {
        sqlx::query(
        "INSERT INTO api_tokens (id, token_hash, city_id, principal_kind, principal_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(secret.id.0)
    .bind(&secret.hash)
    .bind(city.0)
    .bind(kind.as_str())
    .bind(principal_id)
    .bind(now)
    .bind(expires_at)
    .execute(c)
    .await
    .map(|_| ())
    })
}

/// Revokes every live browser session of a principal (a new password ends them all); its
/// bearer tokens stay. Answers how many ended.
pub async fn revoke_sessions_of(
    tx: &mut WriteTx,
    kind: PrincipalKind,
    principal_id: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    // Other instances forget their cached tokens too (the shared generation).
    tx.changes_shared_state();
    write!(tx, |c| sqlx::query(
        "UPDATE api_tokens SET revoked_at = $3 \
         WHERE principal_kind = $1 AND principal_id = $2 AND revoked_at IS NULL \
           AND expires_at IS NOT NULL"
    )
    .bind(kind.as_str())
    .bind(principal_id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
}

/// A till as its owner sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeviceRow {
    #[sqlx(try_from = "Uuid")]
    pub id: DeviceId,
    #[sqlx(try_from = "Uuid")]
    pub merchant_id: MerchantId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Tills listed per store at most.
pub const DEVICES_LISTED_MAX: i64 = 200;

/// A store's tills, newest first (revoked ones included).
pub async fn list_devices(db: &Db, merchant: MerchantId) -> Result<Vec<DeviceRow>, sqlx::Error> {
    read!(db, |c| sqlx::query_as(
        "SELECT id, merchant_id, name, created_at, revoked_at FROM devices \
         WHERE merchant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
    )
    .bind(merchant.0)
    .bind(DEVICES_LISTED_MAX)
    .fetch_all(c)
    .await)
}

/// Marks a store's till revoked and revokes its tokens; the row as it now stands, or None if
/// the store has no such till.
pub async fn revoke_device(
    tx: &mut WriteTx,
    merchant: MerchantId,
    device: DeviceId,
    now: DateTime<Utc>,
) -> Result<Option<DeviceRow>, sqlx::Error> {
    // Other instances forget their cached tokens too (the shared generation).
    tx.changes_shared_state();
    write!(tx, |c| sqlx::query(
        "UPDATE devices SET revoked_at = $3 \
         WHERE id = $1 AND merchant_id = $2 AND revoked_at IS NULL"
    )
    .bind(device.0)
    .bind(merchant.0)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ()))?;
    write!(tx, |c| sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 \
         WHERE principal_kind = 'device' AND principal_id = $1 AND revoked_at IS NULL"
    )
    .bind(device.0)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ()))?;
    read_flushed!(tx, |c| sqlx::query_as(
        "SELECT id, merchant_id, name, created_at, revoked_at FROM devices \
         WHERE id = $1 AND merchant_id = $2"
    )
    .bind(device.0)
    .bind(merchant.0)
    .fetch_optional(c)
    .await)
}

pub async fn insert_program(tx: &mut WriteTx, p: &ProgramRow) -> Result<(), sqlx::Error> {
    write!(tx, |c| {
        sqlx::query(
        "INSERT INTO programs (id, city_id, kind, name, settings, created_at) VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(p.id.0)
    .bind(p.city_id.0)
    .bind(p.kind.as_str())
    .bind(&p.name)
    .bind(&p.settings)
    .bind(p.created_at)
    .execute(c)
    .await
    .map(|_| ())
    })
}

const PROGRAM_COLUMNS: &str = "SELECT id, city_id, kind, name, settings, created_at FROM programs";

pub async fn get_program(db: &Db, id: ProgramId) -> Result<Option<ProgramRow>, sqlx::Error> {
    let sql = format!("{PROGRAM_COLUMNS} WHERE id = $1");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(id.0)
        .fetch_optional(c)
        .await)
}

/// The same read inside a write transaction, so a job sees the settings it acts under.
pub async fn get_program_tx(
    tx: &mut WriteTx,
    id: ProgramId,
) -> Result<Option<ProgramRow>, sqlx::Error> {
    let sql = format!("{PROGRAM_COLUMNS} WHERE id = $1");
    read_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id.0)
        .fetch_optional(c)
        .await)
}

/// A program and the settings text in effect on `date` (JST), in one read inside the write
/// transaction. The writer remembers the pair per (program, date) (`Known`: settings
/// versions are only ever inserted, through `write!`, which forgets it).
pub async fn program_with_settings_tx(
    tx: &mut WriteTx,
    id: ProgramId,
    date: chrono::NaiveDate,
) -> Result<Option<(ProgramRow, Option<String>)>, sqlx::Error> {
    if let Some(found) = tx.known.get::<ProgramOnDate, _>(&(id, date)) {
        return Ok(Some((found.row, found.settings_then)));
    }
    let found: Option<(ProgramRow, Option<String>)> = read_tx!(tx, |c| {
        let row = sqlx::query(
            "SELECT id, city_id, kind, name, settings, created_at, \
             (SELECT v.settings FROM program_settings_versions v \
              WHERE v.program_id = programs.id AND v.effective_from <= $2 \
              ORDER BY v.effective_from DESC, v.created_at DESC LIMIT 1) AS current_settings \
             FROM programs WHERE id = $1",
        )
        .bind(id.0)
        .bind(date)
        .fetch_optional(c)
        .await?;
        match row {
            Some(row) => {
                let program = ProgramRow::from_row(&row)?;
                let current: Option<String> = row.try_get("current_settings")?;
                Ok::<_, sqlx::Error>(Some((program, current)))
            }
            None => Ok(None),
        }
    })?;
    if let Some((row, settings_then)) = &found {
        let fact = ProgramOnDate {
            row: row.clone(),
            settings_then: settings_then.clone(),
        };
        tx.known.stage((id, date), fact);
    }
    Ok(found)
}

pub async fn list_programs(db: &Db, city: CityId) -> Result<Vec<ProgramRow>, sqlx::Error> {
    let sql = format!("{PROGRAM_COLUMNS} WHERE city_id = $1 ORDER BY id");
    read!(db, |c| sqlx::query_as(&sql).bind(city.0).fetch_all(c).await)
}

/// Every merchant of the city: (id, name).
pub async fn city_merchant_names(
    db: &Db,
    city: CityId,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    read!(db, |c| sqlx::query_as(
        "SELECT id, name FROM merchants WHERE city_id = $1"
    )
    .bind(city.0)
    .fetch_all(c)
    .await)
}

pub async fn insert_merchant(tx: &mut WriteTx, m: &Merchant) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "INSERT INTO merchants (id, city_id, name, created_at) VALUES ($1, $2, $3, $4)"
    )
    .bind(m.id.0)
    .bind(m.city_id.0)
    .bind(&m.name)
    .bind(m.created_at)
    .execute(c)
    .await
    .map(|_| ()))
}

pub async fn get_merchant(db: &Db, id: MerchantId) -> Result<Option<Merchant>, sqlx::Error> {
    read!(db, |c| sqlx::query_as(
        "SELECT id, city_id, name, created_at FROM merchants WHERE id = $1"
    )
    .bind(id.0)
    .fetch_optional(c)
    .await)
}

/// A merchant, read in the write transaction; the writer remembers it (`Known`:
/// a statement that changes a merchant runs through `write!`, which forgets it).
pub async fn get_merchant_tx(
    tx: &mut WriteTx,
    id: MerchantId,
) -> Result<Option<Merchant>, sqlx::Error> {
    if let Some(m) = tx.known.get::<Merchant, _>(&id) {
        return Ok(Some(m));
    }
    let found: Option<Merchant> = read_tx!(tx, |c| sqlx::query_as(
        "SELECT id, city_id, name, created_at FROM merchants WHERE id = $1"
    )
    .bind(id.0)
    .fetch_optional(c)
    .await)?;
    if let Some(m) = &found {
        tx.known.stage(id, m.clone());
    }
    Ok(found)
}

/// Seek pagination: merchants after `after` in id order, at most `limit`.
pub async fn list_merchants(
    db: &Db,
    city: CityId,
    after: Option<MerchantId>,
    limit: i64,
) -> Result<Vec<Merchant>, sqlx::Error> {
    let after = after.map(|m| m.0).unwrap_or(Uuid::nil());
    read!(db, |c| {
        sqlx::query_as(
        "SELECT id, city_id, name, created_at FROM merchants WHERE city_id = $1 AND id > $2 ORDER BY id LIMIT $3"
    )
    .bind(city.0)
    .bind(after)
    .bind(limit)
    .fetch_all(c)
    .await
    })
}

/// What the store registry's search looks for: the text as typed (name, 店舗番号) and its
/// katakana form (店舗名カナ; hiragana typed at the counter becomes katakana), both as LIKE
/// patterns (`\` escapes).
pub struct StoreSearch {
    pub text: String,
    pub kana: String,
}

/// Seek pagination over the merchants of the city matching `search` in their name, their
/// profile's kana or their 店舗番号 (external ref), in id order. The profile is the merchant
/// registry's table (`merchants::store`), read here and never written, so the registry's list
/// stays one query and one route.
pub async fn search_merchants(
    db: &Db,
    city: CityId,
    search: &StoreSearch,
    after: Option<MerchantId>,
    limit: i64,
) -> Result<Vec<Merchant>, sqlx::Error> {
    let after = after.map(|m| m.0).unwrap_or(Uuid::nil());
    read!(db, |c| {
        sqlx::query_as(
            "SELECT m.id, m.city_id, m.name, m.created_at FROM merchants m \
             LEFT JOIN merchant_profiles p ON p.merchant_id = m.id \
             WHERE m.city_id = $1 AND m.id > $2 \
               AND (lower(m.name) LIKE $3 ESCAPE '\\' OR p.name_kana LIKE $4 ESCAPE '\\' \
                    OR lower(p.external_ref) LIKE $3 ESCAPE '\\') \
             ORDER BY m.id LIMIT $5",
        )
        .bind(city.0)
        .bind(after)
        .bind(&search.text)
        .bind(&search.kana)
        .bind(limit)
        .fetch_all(c)
        .await
    })
}

pub async fn insert_enrollment_code(
    tx: &mut WriteTx,
    hash: &[u8],
    merchant: MerchantId,
    device_name: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write!(tx, |c| {
        sqlx::query(
        "INSERT INTO enrollment_codes (code_hash, merchant_id, device_name, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(hash)
    .bind(merchant.0)
    .bind(device_name)
    .bind(expires_at)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())
    })
}

/// Marks an unused, unexpired code used and returns what it was for. A code works once.
pub async fn take_enrollment_code(
    tx: &mut WriteTx,
    hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<(MerchantId, String)>, sqlx::Error> {
    let row: Option<(Uuid, String)> = write!(tx, |c| sqlx::query_as(
        "UPDATE enrollment_codes SET used_at = $2 \
         WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 \
         RETURNING merchant_id, device_name"
    )
    .bind(hash)
    .bind(now)
    .fetch_optional(c)
    .await)?;
    Ok(row.map(|(m, name)| (MerchantId(m), name)))
}

pub async fn insert_device(tx: &mut WriteTx, d: &Device) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "INSERT INTO devices (id, merchant_id, name, created_at) VALUES ($1, $2, $3, $4)"
    )
    .bind(d.id.0)
    .bind(d.merchant_id.0)
    .bind(&d.name)
    .bind(d.created_at)
    .execute(c)
    .await
    .map(|_| ()))
}

pub async fn insert_shopper(tx: &mut WriteTx, s: &Shopper) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "INSERT INTO shoppers (id, city_id, display_name, created_at) VALUES ($1, $2, $3, $4)"
    )
    .bind(s.id.0)
    .bind(s.city_id.0)
    .bind(&s.display_name)
    .bind(s.created_at)
    .execute(c)
    .await
    .map(|_| ()))
}

const SHOPPER_COLUMNS: &str = "SELECT id, city_id, display_name, created_at, blocked_at, \
     blocked_reason, blocked_by FROM shoppers WHERE id = $1";

/// The city's shoppers whose name contains `needle` (LIKE, `\` escapes), by name.
pub async fn search_shoppers(
    db: &Db,
    city: CityId,
    needle: &str,
    limit: i64,
) -> Result<Vec<Shopper>, sqlx::Error> {
    let pattern = format!(
        "%{}%",
        needle
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    read!(db, |c| sqlx::query_as(
        "SELECT id, city_id, display_name, created_at, blocked_at, blocked_reason, blocked_by \
         FROM shoppers \
         WHERE city_id = $1 AND display_name LIKE $2 ESCAPE '\\' ORDER BY display_name, id LIMIT $3"
    )
    .bind(city.0)
    .bind(&pattern)
    .bind(limit)
    .fetch_all(c)
    .await)
}

/// The city's shoppers holding a point card with this number (16 digits) in any of the
/// city's programs, by name; a replaced or blocked card still finds its holder. The card
/// table is the point card's (`points::store`): read here, never written, so the counter's
/// one search stays one query.
pub async fn shoppers_by_card(
    db: &Db,
    city: CityId,
    number: &str,
) -> Result<Vec<Shopper>, sqlx::Error> {
    read!(db, |c| sqlx::query_as(
        "SELECT DISTINCT s.id, s.city_id, s.display_name, s.created_at, s.blocked_at, \
                s.blocked_reason, s.blocked_by \
         FROM point_cards pc JOIN shoppers s ON s.id = pc.shopper_id \
         WHERE pc.number = $1 AND s.city_id = $2 ORDER BY s.display_name, s.id"
    )
    .bind(number)
    .bind(city.0)
    .fetch_all(c)
    .await)
}

/// Sets (`Some`: at, reason, by) or clears (`None`) a shopper's block; whether the row
/// changed. Other instances forget their remembered tokens too (the shared generation).
pub async fn set_shopper_block(
    tx: &mut WriteTx,
    id: ShopperId,
    block: Option<(DateTime<Utc>, &str, Uuid)>,
) -> Result<bool, sqlx::Error> {
    tx.changes_shared_state();
    let (at, reason, by) = match block {
        Some((at, reason, by)) => (Some(at), Some(reason), Some(by)),
        None => (None, None, None),
    };
    write!(tx, |c| sqlx::query(
        "UPDATE shoppers SET blocked_at = $2, blocked_reason = $3, blocked_by = $4 WHERE id = $1"
    )
    .bind(id.0)
    .bind(at)
    .bind(reason)
    .bind(by)
    .execute(c)
    .await
    .map(|r| r.rows_affected() == 1))
}

pub async fn get_shopper(db: &Db, id: ShopperId) -> Result<Option<Shopper>, sqlx::Error> {
    read!(db, |c| sqlx::query_as(SHOPPER_COLUMNS)
        .bind(id.0)
        .fetch_optional(c)
        .await)
}

/// A shopper, read in the write transaction; the writer remembers it (`Known`).
pub async fn get_shopper_tx(
    tx: &mut WriteTx,
    id: ShopperId,
) -> Result<Option<Shopper>, sqlx::Error> {
    if let Some(s) = tx.known.get::<Shopper, _>(&id) {
        return Ok(Some(s));
    }
    let found: Option<Shopper> = read_tx!(tx, |c| sqlx::query_as(SHOPPER_COLUMNS)
        .bind(id.0)
        .fetch_optional(c)
        .await)?;
    if let Some(s) = &found {
        tx.known.stage(id, s.clone());
    }
    Ok(found)
}

pub async fn get_city_tx(tx: &mut WriteTx, id: CityId) -> Result<Option<City>, sqlx::Error> {
    read_tx!(tx, |c| sqlx::query_as(
        "SELECT id, name, created_at FROM cities WHERE id = $1"
    )
    .bind(id.0)
    .fetch_optional(c)
    .await)
}

/// One version of a program's settings, in effect from a JST date (changed by premium's
/// settings change; the first is written with the program).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SettingsVersion {
    pub id: Uuid,
    #[sqlx(try_from = "Uuid")]
    pub program_id: ProgramId,
    pub effective_from: NaiveDate,
    /// The settings as JSON text (see ProgramSettings).
    pub settings: String,
    pub changed_by: Uuid,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_settings_version(
    tx: &mut WriteTx,
    v: &SettingsVersion,
) -> Result<(), sqlx::Error> {
    write!(tx, |c| {
        sqlx::query(
        "INSERT INTO program_settings_versions (id, program_id, effective_from, settings, changed_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(v.id)
    .bind(v.program_id.0)
    .bind(v.effective_from)
    .bind(&v.settings)
    .bind(v.changed_by)
    .bind(v.created_at)
    .execute(c)
    .await
    .map(|_| ())
    })
}

const SETTINGS_AT: &str = "SELECT settings FROM program_settings_versions \
     WHERE program_id = $1 AND effective_from <= $2 ORDER BY effective_from DESC, created_at DESC LIMIT 1";

/// The settings text in effect on `date`, if any version is.
pub async fn settings_at_tx(
    tx: &mut WriteTx,
    program: ProgramId,
    date: NaiveDate,
) -> Result<Option<String>, sqlx::Error> {
    read_flushed!(tx, |c| sqlx::query_scalar(SETTINGS_AT)
        .bind(program.0)
        .bind(date)
        .fetch_optional(c)
        .await)
}

pub async fn settings_at(
    db: &Db,
    program: ProgramId,
    date: NaiveDate,
) -> Result<Option<String>, sqlx::Error> {
    read!(db, |c| sqlx::query_scalar(SETTINGS_AT)
        .bind(program.0)
        .bind(date)
        .fetch_optional(c)
        .await)
}

pub async fn settings_history(
    db: &Db,
    program: ProgramId,
) -> Result<Vec<SettingsVersion>, sqlx::Error> {
    read!(db, |c| {
        sqlx::query_as(
        "SELECT id, program_id, effective_from, settings, changed_by, created_at FROM program_settings_versions \
         WHERE program_id = $1 ORDER BY effective_from, created_at"
    )
    .bind(program.0)
    .fetch_all(c)
    .await
    })
}

// ---------------------------------------------------------------------------------------
// What the writer remembers of the directory (`writer::Known`).

/// A program with the settings text in effect on a date (None: no version yet, the row's
/// own text holds): what the writer remembers per (program, JST date).
#[derive(Debug, Clone)]
pub struct ProgramOnDate {
    pub row: ProgramRow,
    pub settings_then: Option<String>,
}

impl Fact for ProgramOnDate {
    type Key = (ProgramId, NaiveDate);
    const NAME: &'static str = "program";
    const FORGOTTEN_BY: FactSet = FactSet::PROGRAMS;
    fn reread<'a>(
        tx: &'a mut WriteTx,
        &(id, date): &'a Self::Key,
    ) -> BoxFuture<'a, Result<Option<Self>, AppError>> {
        Box::pin(async move {
            let found = program_with_settings_tx(tx, id, date).await?;
            Ok(found.map(|(row, settings_then)| ProgramOnDate { row, settings_then }))
        })
    }
}

impl Fact for Merchant {
    type Key = MerchantId;
    const NAME: &'static str = "merchant";
    const FORGOTTEN_BY: FactSet = FactSet::MERCHANTS;
    fn reread<'a>(
        tx: &'a mut WriteTx,
        id: &'a MerchantId,
    ) -> BoxFuture<'a, Result<Option<Self>, AppError>> {
        Box::pin(async move { Ok(get_merchant_tx(tx, *id).await?) })
    }
}

impl Fact for Shopper {
    type Key = ShopperId;
    const NAME: &'static str = "shopper";
    const FORGOTTEN_BY: FactSet = FactSet::SHOPPERS;
    fn reread<'a>(
        tx: &'a mut WriteTx,
        id: &'a ShopperId,
    ) -> BoxFuture<'a, Result<Option<Self>, AppError>> {
        Box::pin(async move { Ok(get_shopper_tx(tx, *id).await?) })
    }
}

/// Every shopper (whether blocked is what a payment asks first), for the writer to know when
/// it starts (`features::WARM_AT_START`), if there are at most `WARM_ROWS_MAX`: otherwise the
/// first payments after a restart each read their shopper on the writer's path.
pub(crate) fn warm_shoppers(tx: &mut WriteTx) -> BoxFuture<'_, Result<usize, sqlx::Error>> {
    Box::pin(async move {
        let shoppers: Vec<Shopper> = read_tx!(tx, |c| sqlx::query_as(
            "SELECT id, city_id, display_name, created_at, blocked_at, blocked_reason, \
             blocked_by FROM shoppers LIMIT $1"
        )
        .bind(WARM_ROWS_MAX + 1)
        .fetch_all(c)
        .await)?;
        Ok(tx.known.stage_warm(shoppers, |s| s.id))
    })
}

/// Every merchant, for the writer to know when it starts (`features::WARM_AT_START`), if
/// there are at most `WARM_ROWS_MAX`.
pub(crate) fn warm_merchants(tx: &mut WriteTx) -> BoxFuture<'_, Result<usize, sqlx::Error>> {
    Box::pin(async move {
        let merchants: Vec<Merchant> = read_tx!(tx, |c| sqlx::query_as(
            "SELECT id, city_id, name, created_at FROM merchants LIMIT $1"
        )
        .bind(WARM_ROWS_MAX + 1)
        .fetch_all(c)
        .await)?;
        Ok(tx.known.stage_warm(merchants, |m| m.id))
    })
}

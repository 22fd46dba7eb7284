//! Directory use-cases: cities, staff, programs, merchants, cashier devices, shoppers and
//! their tokens. Every write goes through the writer like money does; tokens are minted
//! here, returned once, and stored only as hashes.

pub mod api;
pub mod caller;
pub(crate) mod http;
mod lookup;
pub mod store;

use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::error::internal;
use crate::error::{AppError, Common};
use crate::writer::{Answer, Done, Work, WriteTx};
use machipay_domain::auth::{self, Capability, Principal, Role, StaffKind};
use machipay_domain::ids::*;

pub use api::{
    City, Device, DeviceStatus, EnrollRequest, EnrollmentCode, Issued, Merchant,
    NewEnrollmentCodeRequest, NewMerchantRequest, NewProgramRequest, NewShopperRequest,
    NewStaffRequest, NewToken, Program, RevokedToken, Shopper, ShopperBlockRequest, ShopperStatus,
    Staff, TokenInfo,
};
pub use lookup::{
    CityRow, MerchantRow, PrincipalKind, ProgramRow, SettingsVersion, ShopperRow, city, city_count,
    city_tx, merchant, merchant_names, merchant_tx, program, program_tx, program_with_settings_tx,
    programs_of_city, settings_versions, shopper, shopper_tx,
};
pub(crate) use lookup::{add_merchant_tx, add_settings_version_tx, set_shopper_block_tx};
pub(crate) use store::{warm_merchants, warm_shoppers};

/// How long a device enrollment code stays usable.
pub const ENROLLMENT_CODE_TTL_MINUTES: i64 = 15;
/// Page size for listings.
pub const PAGE_SIZE_MAX: i64 = 200;

crate::refusals! {
    /// What the directory refuses.
    pub enum DirectoryRefusal {
        /// A name of a person, merchant, program or campaign that is blank or too long. The
        /// text names the field.
        InvalidName(&'static str) => BadRequest, "invalid_name", "{0} must be 1 to 100 characters";
        /// Program settings that break a rule (`ProgramSettings::validate`).
        InvalidSettings(String) => BadRequest, "invalid_settings", "{0}";
        /// The enrollment code is the credential: a bad one is a failed sign-in.
        InvalidEnrollmentCode => Unauthenticated, "invalid_enrollment_code", "the code is unknown, used or expired";
        /// A device's token is never re-issued: the terminal is enrolled again.
        DeviceTokenNotReissued => Unprocessable, "device_token_not_reissued", "a cashier terminal is enrolled again with a new enrollment code";
        /// A request signed in by session cookie with an unsafe method and no (or the wrong)
        /// `X-CSRF-Token` (README, "Sign-in").
        CsrfTokenInvalid => Forbidden, "csrf_token_invalid", "a request signed in by cookie must echo the machipay_csrf cookie in the X-CSRF-Token header";
        /// Staff have blocked the shopper: their tokens and sessions, sign-in and every
        /// movement of theirs are refused until staff unblock them (README, "Back office").
        ShopperBlocked => Forbidden, "shopper_blocked", "the shopper is blocked by staff; ask at the counter";
    }
}

/// Names of people, merchants, programs and campaigns: 1 to 100 characters, not blank.
pub(crate) fn check_name(what: &'static str, name: &str) -> Result<(), AppError> {
    let len = name.trim().chars().count();
    if len == 0 || name.chars().count() > 100 {
        return Err(DirectoryRefusal::InvalidName(what).into());
    }
    Ok(())
}

/// What a new city's bootstrap prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bootstrapped {
    pub city: City,
    pub admin: Staff,
    /// The admin token's id (to revoke it with `DELETE /api/v1/tokens/{id}`).
    pub token_id: TokenId,
    pub token: String,
}

/// Creates a city and its first admin (city staff, role admin) and returns the admin's
/// token. Used by `machipay bootstrap-city`; there is no HTTP route for it on purpose.
pub async fn bootstrap_city(
    app: &App,
    city_name: String,
    admin_name: String,
) -> Result<Bootstrapped, AppError> {
    check_name("city name", &city_name)?;
    check_name("admin name", &admin_name)?;
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                let city = store::City {
                    id: CityId::new(),
                    name: city_name,
                    created_at: w.now,
                };
                store::insert_city(&mut w.tx, &city).await?;
                let issued =
                    new_staff(w, city.id, admin_name, StaffKind::City, Role::Admin).await?;
                Ok(Done::created(Bootstrapped {
                    city: city.into(),
                    admin: issued.item,
                    token_id: issued.token_id,
                    token: issued.token,
                }))
            })
        })
        .await?
        .into_value()
}

async fn new_staff(
    w: &mut Work,
    city: CityId,
    name: String,
    kind: StaffKind,
    role: Role,
) -> Result<Issued<Staff>, AppError> {
    let staff = store::Staff {
        id: StaffId::new(),
        city_id: city,
        kind,
        role,
        name,
        created_at: w.now,
    };
    store::insert_staff(&mut w.tx, &staff).await?;
    let token = issue_token(w, city, PrincipalKind::Staff, staff.id.0).await?;
    Ok(token.with(staff.into()))
}

/// Mints a token for a principal of `city` and stores its hash. Every token is made here.
pub(crate) async fn issue_token(
    w: &mut Work,
    city: CityId,
    kind: PrincipalKind,
    principal_id: uuid::Uuid,
) -> Result<NewToken, AppError> {
    let secret = auth::new_token();
    store::insert_token(&mut w.tx, &secret, city, kind, principal_id, w.now).await?;
    Ok(NewToken {
        token_id: secret.id,
        token: secret.plaintext,
    })
}

pub async fn create_staff(
    app: &App,
    who: Principal,
    req: NewStaffRequest,
) -> Result<Answer<Issued<Staff>>, AppError> {
    if !who.can(Capability::AdministerCity) {
        return Err(Common::Forbidden.into());
    }
    check_name("name", &req.name)?;
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                let issued = new_staff(w, who.city(), req.name, req.kind, req.role).await?;
                Ok(Done::created(issued))
            })
        })
        .await
}

pub async fn create_program(
    app: &App,
    who: Principal,
    req: NewProgramRequest,
) -> Result<Answer<Program>, AppError> {
    if !who.can(Capability::AdministerCity) {
        return Err(Common::Forbidden.into());
    }
    check_name("name", &req.name)?;
    req.settings
        .validate()
        .map_err(|e| DirectoryRefusal::InvalidSettings(e.to_string()))?;
    crate::features::settings_fit(req.kind, &req.settings)?;
    let settings = serde_json::to_string(&req.settings).map_err(internal)?;
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                let row = ProgramRow {
                    id: ProgramId::new(),
                    city_id: who.city(),
                    kind: req.kind,
                    name: req.name,
                    settings,
                    created_at: w.now,
                };
                store::insert_program(&mut w.tx, &row).await?;
                let version = store::SettingsVersion {
                    id: uuid::Uuid::now_v7(),
                    program_id: row.id,
                    effective_from: machipay_domain::calendar::jst_date(w.now),
                    settings: row.settings.clone(),
                    changed_by: who.scope_id(),
                    created_at: w.now,
                };
                store::insert_settings_version(&mut w.tx, &version).await?;
                Ok(Done::created(Program::try_from(row)?))
            })
        })
        .await
}

/// Every principal of the city may see its programs (shoppers need to know where to pay).
pub async fn list_programs(app: &App, who: Principal) -> Result<Vec<Program>, AppError> {
    let mut out = Vec::new();
    for row in store::list_programs(&app.db, who.city()).await? {
        out.push(with_current_settings(app, row).await?);
    }
    Ok(out)
}

/// The settings text of `program` in effect on `date`, if any version is (the first version
/// is written with the program; premium's settings changes add the later ones).
pub async fn settings_at(
    db: &crate::db::Db,
    program: ProgramId,
    date: chrono::NaiveDate,
) -> Result<Option<String>, AppError> {
    Ok(store::settings_at(db, program, date).await?)
}

/// A program as it stands today: its settings are the version in effect on today's JST date.
async fn with_current_settings(app: &App, mut row: ProgramRow) -> Result<Program, AppError> {
    let today = machipay_domain::calendar::jst_date(Utc::now());
    if let Some(current) = settings_at(&app.db, row.id, today).await? {
        row.settings = current;
    }
    Program::try_from(row)
}

pub async fn get_program(app: &App, who: Principal, id: ProgramId) -> Result<Program, AppError> {
    let row = store::get_program(&app.db, id)
        .await?
        .filter(|p| p.city_id == who.city())
        .ok_or(Common::NotFound("program"))?;
    with_current_settings(app, row).await
}

/// Registers a merchant and returns its owner token.
pub async fn create_merchant(
    app: &App,
    who: Principal,
    req: NewMerchantRequest,
) -> Result<Answer<Issued<Merchant>>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(Common::Forbidden.into());
    }
    check_name("name", &req.name)?;
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                let merchant = store::Merchant {
                    id: MerchantId::new(),
                    city_id: who.city(),
                    name: req.name,
                    created_at: w.now,
                };
                store::insert_merchant(&mut w.tx, &merchant).await?;
                let token = issue_token(
                    w,
                    merchant.city_id,
                    PrincipalKind::MerchantOwner,
                    merchant.id.0,
                )
                .await?;
                Ok(Done::created(token.with(merchant.into())))
            })
        })
        .await
}

/// Staff of the city, the merchant's owner and the merchant's devices may read a merchant.
pub async fn get_merchant(app: &App, who: Principal, id: MerchantId) -> Result<Merchant, AppError> {
    let merchant = store::get_merchant(&app.db, id)
        .await?
        .filter(|m| m.city_id == who.city())
        .ok_or(Common::NotFound("merchant"))?;
    if who.can(Capability::ViewCity) || who.acts_for_merchant(id) {
        Ok(merchant.into())
    } else {
        Err(Common::NotFound("merchant").into())
    }
}

/// The city's stores in id order, a page at a time (staff); with `q`, those whose name,
/// 店舗名カナ or 店舗番号 contains it (case aside; hiragana finds katakana), or whose id it is.
pub async fn list_merchants(
    app: &App,
    who: Principal,
    q: Option<&str>,
    after: Option<MerchantId>,
    limit: Option<i64>,
) -> Result<Vec<Merchant>, AppError> {
    if !who.can(Capability::ViewCity) {
        return Err(Common::Forbidden.into());
    }
    let limit = limit.unwrap_or(50);
    if !(1..=PAGE_SIZE_MAX).contains(&limit) {
        return Err(crate::http::refusals::RequestRefusal::InvalidLimit(PAGE_SIZE_MAX).into());
    }
    let q = q.map(str::trim).unwrap_or_default();
    if q.chars().count() > 100 {
        let why = "q must be at most 100 characters".to_owned();
        return Err(crate::http::refusals::RequestRefusal::InvalidQuery(why).into());
    }
    if q.is_empty() {
        let rows = store::list_merchants(&app.db, who.city(), after, limit).await?;
        return Ok(rows.into_iter().map(Merchant::from).collect());
    }
    if let Ok(id) = uuid::Uuid::parse_str(q) {
        let found = store::get_merchant(&app.db, MerchantId(id)).await?;
        let mine = found.filter(|m| m.city_id == who.city() && after.is_none());
        return Ok(mine.into_iter().map(Merchant::from).collect());
    }
    let search = store::StoreSearch {
        text: like_pattern(&q.to_lowercase()),
        kana: like_pattern(&katakana(q)),
    };
    let rows = store::search_merchants(&app.db, who.city(), &search, after, limit).await?;
    Ok(rows.into_iter().map(Merchant::from).collect())
}

/// `%needle%` for LIKE with `\` as the escape: `%`, `_` and `\` are characters, not wildcards.
fn like_pattern(needle: &str) -> String {
    let escaped = needle
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Hiragana as katakana (ぁ..ゖ → ァ..ヶ), the form 店舗名カナ is kept in; the rest as it is.
fn katakana(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'ぁ'..='ゖ' => char::from_u32(c as u32 + 0x60).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// A merchant's owner mints a one-time code for a cashier terminal.
pub async fn create_enrollment_code(
    app: &App,
    who: Principal,
    merchant: MerchantId,
    req: NewEnrollmentCodeRequest,
) -> Result<Answer<EnrollmentCode>, AppError> {
    owner_of(&who, merchant)?;
    check_name("device_name", &req.device_name)?;
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                let secret = auth::new_enrollment_code();
                let expires_at = w.now + Duration::minutes(ENROLLMENT_CODE_TTL_MINUTES);
                store::insert_enrollment_code(
                    &mut w.tx,
                    &secret.hash,
                    merchant,
                    &req.device_name,
                    expires_at,
                    w.now,
                )
                .await?;
                Ok(Done::created(EnrollmentCode {
                    code: secret.plaintext,
                    expires_at,
                }))
            })
        })
        .await
}

/// A terminal trades a one-time code for its own token, scoped to one merchant.
pub async fn enroll_device(
    app: &App,
    req: EnrollRequest,
) -> Result<Answer<Issued<Device>>, AppError> {
    if req.code.len() > 64 {
        return Err(DirectoryRefusal::InvalidEnrollmentCode.into());
    }
    let hash = auth::hash_secret(&req.code);
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                let (merchant_id, name) = store::take_enrollment_code(&mut w.tx, &hash, w.now)
                    .await?
                    .ok_or(DirectoryRefusal::InvalidEnrollmentCode)?;
                let merchant = store::get_merchant_tx(&mut w.tx, merchant_id)
                    .await?
                    .ok_or_else(|| AppError::Internal("enrollment code without merchant".into()))?;
                let device = store::Device {
                    id: DeviceId::new(),
                    merchant_id,
                    name,
                    created_at: w.now,
                };
                store::insert_device(&mut w.tx, &device).await?;
                let token =
                    issue_token(w, merchant.city_id, PrincipalKind::Device, device.id.0).await?;
                Ok(Done::created(token.with(device.into())))
            })
        })
        .await
}

/// Starts a browser session for a principal: a token that ends at `expires_at` and resolves
/// only from the session cookie (`caller`). Used by sign-in, inside its writer job.
pub(crate) async fn issue_session_tx(
    w: &mut Work,
    city: CityId,
    kind: PrincipalKind,
    principal_id: uuid::Uuid,
    expires_at: chrono::DateTime<Utc>,
) -> Result<NewToken, AppError> {
    // Every way of signing in (password, setup code, passkey) starts its session here, so a
    // blocked shopper is refused here once (the job rolls back: a setup code stays unused).
    if kind == PrincipalKind::Shopper {
        refuse_blocked_tx(&mut w.tx, ShopperId(principal_id)).await?;
    }
    let secret = auth::new_token();
    store::insert_session_token(
        &mut w.tx,
        &secret,
        city,
        kind,
        principal_id,
        w.now,
        expires_at,
    )
    .await?;
    Ok(NewToken {
        token_id: secret.id,
        token: secret.plaintext,
    })
}

/// Ends every browser session of a principal (its bearer tokens stay); how many ended. The
/// caller forgets remembered tokens once the job commits (`App::tokens`).
pub(crate) async fn end_sessions_tx(
    w: &mut Work,
    kind: PrincipalKind,
    principal_id: uuid::Uuid,
) -> Result<u64, AppError> {
    Ok(store::revoke_sessions_of(&mut w.tx, kind, principal_id, w.now).await?)
}

/// Revokes one token inside a writer job (sign-out, ending one's own session); whether it was
/// live.
pub(crate) async fn revoke_token_tx(w: &mut Work, token: TokenId) -> Result<bool, AppError> {
    Ok(store::revoke_token(&mut w.tx, token, w.now).await?)
}

/// Whether `who` is the owner of `merchant`: 404 for another store's owner (ids cannot be
/// probed), 403 for everyone else.
fn owner_of(who: &Principal, merchant: MerchantId) -> Result<(), AppError> {
    match *who {
        Principal::MerchantOwner { merchant: m, .. } if m == merchant => Ok(()),
        Principal::MerchantOwner { .. } => Err(Common::NotFound("merchant").into()),
        _ => Err(Common::Forbidden.into()),
    }
}

/// A store's tills, newest first, revoked ones included (the owner, and staff of the city).
pub async fn list_devices(
    app: &App,
    who: Principal,
    merchant: MerchantId,
) -> Result<Vec<DeviceStatus>, AppError> {
    if !who.can(Capability::ViewCity) {
        owner_of(&who, merchant)?;
    }
    get_merchant(app, who, merchant).await?;
    let rows = store::list_devices(&app.db, merchant).await?;
    Ok(rows.into_iter().map(DeviceStatus::from).collect())
}

/// The owner revokes a till: it stops working at once (its tokens are revoked) and stays
/// listed as revoked. Revoking a revoked till changes nothing and answers it again.
pub async fn revoke_device(
    app: &App,
    who: Principal,
    merchant: MerchantId,
    device: DeviceId,
) -> Result<Answer<DeviceStatus>, AppError> {
    owner_of(&who, merchant)?;
    let answer = app
        .writer
        .answer(None, move |w| {
            Box::pin(async move {
                let row = store::revoke_device(&mut w.tx, merchant, device, w.now)
                    .await?
                    .ok_or(Common::NotFound("device"))?;
                Ok(Done::ok(DeviceStatus::from(row)))
            })
        })
        .await;
    // Committed (or not): no remembered token of the till may outlive this point.
    app.tokens.forget_all();
    answer
}

/// Every city, by name: what a person picks when they register themself (public).
pub async fn list_cities(app: &App) -> Result<Vec<City>, AppError> {
    let rows = store::list_cities(&app.db).await?;
    Ok(rows.into_iter().map(City::from).collect())
}

/// A new shopper of `city`, inside a writer job, without a token (the app's self-service
/// registration signs them in with a session instead).
pub(crate) async fn new_shopper_tx(
    w: &mut Work,
    city: CityId,
    display_name: String,
) -> Result<Shopper, AppError> {
    check_name("display_name", &display_name)?;
    let shopper = store::Shopper {
        id: ShopperId::new(),
        city_id: city,
        display_name,
        created_at: w.now,
        blocked_at: None,
        blocked_reason: None,
        blocked_by: None,
    };
    store::insert_shopper(&mut w.tx, &shopper).await?;
    Ok(shopper.into())
}

/// Registers a shopper (at the counter, or by the app's sign-up) and returns its token.
pub async fn create_shopper(
    app: &App,
    who: Principal,
    req: NewShopperRequest,
) -> Result<Answer<Issued<Shopper>>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(Common::Forbidden.into());
    }
    check_name("display_name", &req.display_name)?;
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                let shopper = store::Shopper {
                    id: ShopperId::new(),
                    city_id: who.city(),
                    display_name: req.display_name,
                    created_at: w.now,
                    blocked_at: None,
                    blocked_reason: None,
                    blocked_by: None,
                };
                store::insert_shopper(&mut w.tx, &shopper).await?;
                let token =
                    issue_token(w, shopper.city_id, PrincipalKind::Shopper, shopper.id.0).await?;
                Ok(Done::created(token.with(shopper.into())))
            })
        })
        .await
}

/// Staff of the city and the shopper themself may read a shopper.
pub async fn get_shopper(app: &App, who: Principal, id: ShopperId) -> Result<Shopper, AppError> {
    let shopper = store::get_shopper(&app.db, id)
        .await?
        .filter(|s| s.city_id == who.city())
        .ok_or(Common::NotFound("shopper"))?;
    if who.can(Capability::ViewCity) || who.is_shopper(id) {
        Ok(shopper.into())
    } else {
        Err(Common::NotFound("shopper").into())
    }
}

/// Shoppers of the city found by name (a part of it) or by id (staff): the counter's search.
/// Without `q`, the first of them by name.
pub async fn search_shoppers(
    app: &App,
    who: Principal,
    q: Option<&str>,
    limit: Option<i64>,
) -> Result<Vec<Shopper>, AppError> {
    if !who.can(Capability::ViewCity) {
        return Err(Common::Forbidden.into());
    }
    let limit = limit.unwrap_or(50);
    if !(1..=PAGE_SIZE_MAX).contains(&limit) {
        return Err(crate::http::refusals::RequestRefusal::InvalidLimit(PAGE_SIZE_MAX).into());
    }
    let q = q.map(str::trim).unwrap_or_default();
    if q.chars().count() > 100 {
        let why = "q must be at most 100 characters".to_owned();
        return Err(crate::http::refusals::RequestRefusal::InvalidQuery(why).into());
    }
    if let Some(number) = card_number_in(q) {
        let rows = store::shoppers_by_card(&app.db, who.city(), &number).await?;
        return Ok(rows.into_iter().map(Shopper::from).collect());
    }
    if let Ok(id) = uuid::Uuid::parse_str(q) {
        let found = store::get_shopper(&app.db, ShopperId(id)).await?;
        let mine = found.filter(|s| s.city_id == who.city());
        return Ok(mine.into_iter().map(Shopper::from).collect());
    }
    let rows = store::search_shoppers(&app.db, who.city(), q, limit).await?;
    Ok(rows.into_iter().map(Shopper::from).collect())
}

/// A point card number typed at the counter: 16 digits, with or without spaces or hyphens,
/// full-width digits too (`１２３４ ５６７８ …`). Anything else is a name or an id.
fn card_number_in(q: &str) -> Option<String> {
    let mut digits = String::with_capacity(16);
    for c in q.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '０'..='９' => digits.push(char::from(b'0' + (c as u32 - '０' as u32) as u8)),
            ' ' | '\u{3000}' | '-' => {}
            _ => return None,
        }
    }
    (digits.len() == 16).then_some(digits)
}

/// Refuses a blocked shopper (403 `shopper_blocked`), read in the write transaction so a
/// block that commits first is seen. An unknown shopper passes: callers check existence.
pub(crate) async fn refuse_blocked_tx(
    tx: &mut WriteTx,
    shopper: ShopperId,
) -> Result<(), AppError> {
    match store::get_shopper_tx(tx, shopper).await? {
        Some(s) if s.blocked_at.is_some() => Err(DirectoryRefusal::ShopperBlocked.into()),
        _ => Ok(()),
    }
}

/// Whether `who` may manage (revoke, re-issue) the tokens of a principal of `kind` in its
/// city: a city admin any; operators those of shoppers, merchant owners and devices, never a
/// staff member's (a staff token would let an operator act as, say, a city admin).
pub(crate) fn manages_tokens_of(who: &Principal, kind: PrincipalKind) -> bool {
    who.can(Capability::AdministerCity)
        || (kind != PrincipalKind::Staff && who.can(Capability::OperateProgram))
}

/// Revokes a token at once. A principal may revoke its own tokens; staff the tokens they
/// manage (`manages_tokens_of`). Others' tokens answer 404.
pub async fn revoke_token(
    app: &App,
    who: Principal,
    caller_token: TokenId,
    token: TokenId,
) -> Result<Answer<RevokedToken>, AppError> {
    let answer = app
        .writer
        .answer(None, move |w| {
            Box::pin(async move {
                let (_, kind, owner) = store::token_owner(&mut w.tx, token)
                    .await?
                    .filter(|(city, _, _)| *city == who.city())
                    .ok_or(Common::NotFound("token"))?;
                let own = owner == who.scope_id() || token == caller_token;
                if !(own || manages_tokens_of(&who, kind)) {
                    return Err(Common::NotFound("token").into());
                }
                store::revoke_token(&mut w.tx, token, w.now).await?;
                Ok(Done::ok(RevokedToken { revoked: token }))
            })
        })
        .await;
    // Committed (or not): either way no remembered token may outlive this point.
    app.tokens.forget_all();
    answer
}

/// The principal of `kind` and `id` if it is in `who`'s city; 404 otherwise, so ids of
/// another city cannot be probed.
pub(crate) async fn principal_in_city(
    app: &App,
    who: &Principal,
    kind: PrincipalKind,
    id: uuid::Uuid,
) -> Result<(), AppError> {
    match store::principal_city(&app.db, kind, id).await? {
        Some(city) if city == who.city() => Ok(()),
        _ => Err(Common::NotFound("principal").into()),
    }
}

/// A principal's tokens, newest first, revoked ones included (staff of the city).
pub async fn list_tokens(
    app: &App,
    who: Principal,
    kind: PrincipalKind,
    id: uuid::Uuid,
) -> Result<Vec<TokenInfo>, AppError> {
    if !who.can(Capability::ViewCity) {
        return Err(Common::Forbidden.into());
    }
    principal_in_city(app, &who, kind, id).await?;
    let rows = store::list_tokens(&app.db, who.city(), kind, id).await?;
    Ok(rows.into_iter().map(TokenInfo::from).collect())
}

/// Issues a new token for an existing shopper, merchant owner (operators) or staff member
/// (city admins), e.g. after the holder revoked or lost theirs. Earlier tokens keep working
/// until revoked. A device is enrolled again with a new code instead: its token is the
/// terminal's, and a fresh enrollment names the terminal.
pub async fn reissue_token(
    app: &App,
    who: Principal,
    kind: PrincipalKind,
    id: uuid::Uuid,
) -> Result<Answer<NewToken>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(Common::Forbidden.into());
    }
    principal_in_city(app, &who, kind, id).await?;
    if !manages_tokens_of(&who, kind) {
        return Err(Common::Forbidden.into());
    }
    if kind == PrincipalKind::Device {
        return Err(DirectoryRefusal::DeviceTokenNotReissued.into());
    }
    let city = who.city();
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                let token = issue_token(w, city, kind, id).await?;
                Ok(Done::created(token))
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_number_is_16_digits_however_it_is_typed() {
        let plain = Some("4111111111111111".to_owned());
        assert_eq!(card_number_in("4111111111111111"), plain);
        assert_eq!(card_number_in("4111 1111 1111 1111"), plain);
        assert_eq!(card_number_in("4111-1111-1111-1111"), plain);
        assert_eq!(
            card_number_in("４１１１　１１１１　１１１１　１１１１"),
            plain
        );
        assert_eq!(card_number_in("411111111111111"), None, "15 digits");
        assert_eq!(card_number_in("山田 4111111111111111"), None, "a name");
        assert_eq!(card_number_in(""), None);
    }

    #[test]
    fn the_store_search_reads_hiragana_as_katakana_and_wildcards_as_characters() {
        assert_eq!(katakana("やまびこ食堂"), "ヤマビコ食堂");
        assert_eq!(katakana("ヤマダ s-1"), "ヤマダ s-1");
        assert_eq!(like_pattern("100%_\\"), "%100\\%\\_\\\\%");
    }
}

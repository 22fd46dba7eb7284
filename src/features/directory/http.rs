//! Routes for staff, programs, merchants, devices, shoppers and tokens.

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::App;
use crate::error::{AppError, ErrorEnvelope};
use crate::features::directory::api::*;
use crate::features::directory::caller::Caller;
use crate::features::directory::{self as uc};
use crate::http::extract::{Body, Path, Query};
use crate::writer::Answer;
use machipay_domain::ids::*;

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(create_staff))
        .routes(routes!(create_program, list_programs))
        .routes(routes!(get_program))
        .routes(routes!(create_merchant, list_merchants))
        .routes(routes!(get_merchant))
        .routes(routes!(create_enrollment_code))
        .routes(routes!(enroll_device))
        .routes(routes!(list_devices))
        .routes(routes!(revoke_device))
        .routes(routes!(create_shopper, search_shoppers))
        .routes(routes!(get_shopper))
        .routes(routes!(revoke_token))
        .routes(routes!(list_tokens, reissue_token))
}

/// Create a staff member (city admins). The token in the answer is shown once.
#[utoipa::path(post, path = "/api/v1/staff", tag = "directory", security(("bearer" = [])),
    request_body = NewStaffRequest,
    responses((status = 201, body = Issued<Staff>), (status = "4XX", body = ErrorEnvelope)))]
async fn create_staff(
    State(app): State<App>,
    c: Caller,
    Body(req): Body<NewStaffRequest>,
) -> Result<Answer<Issued<Staff>>, AppError> {
    uc::create_staff(&app, c.who, req).await
}

/// Create a program (city admins).
#[utoipa::path(post, path = "/api/v1/programs", tag = "directory", security(("bearer" = [])),
    request_body = NewProgramRequest,
    responses((status = 201, body = Program), (status = "4XX", body = ErrorEnvelope)))]
async fn create_program(
    State(app): State<App>,
    c: Caller,
    Body(req): Body<NewProgramRequest>,
) -> Result<Answer<Program>, AppError> {
    uc::create_program(&app, c.who, req).await
}

/// The city's programs (any principal of the city).
#[utoipa::path(get, path = "/api/v1/programs", tag = "directory", security(("bearer" = [])),
    responses((status = 200, body = Vec<Program>), (status = "4XX", body = ErrorEnvelope)))]
async fn list_programs(State(app): State<App>, c: Caller) -> Result<Json<Vec<Program>>, AppError> {
    uc::list_programs(&app, c.who).await.map(Json)
}

/// One program of the caller's city.
#[utoipa::path(get, path = "/api/v1/programs/{program_id}", tag = "directory", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path)),
    responses((status = 200, body = Program), (status = "4XX", body = ErrorEnvelope)))]
async fn get_program(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ProgramId>,
) -> Result<Json<Program>, AppError> {
    uc::get_program(&app, c.who, id).await.map(Json)
}

/// Register a store (operator staff). The answer carries the owner's token, shown once.
#[utoipa::path(post, path = "/api/v1/merchants", tag = "directory", security(("bearer" = [])),
    request_body = NewMerchantRequest,
    responses((status = 201, body = Issued<Merchant>), (status = "4XX", body = ErrorEnvelope)))]
async fn create_merchant(
    State(app): State<App>,
    c: Caller,
    Body(req): Body<NewMerchantRequest>,
) -> Result<Answer<Issued<Merchant>>, AppError> {
    uc::create_merchant(&app, c.who, req).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Page {
    /// A part of the store's name, 店舗名カナ (hiragana finds katakana) or 店舗番号, or the
    /// store's id (at most 100 characters); none: every store.
    q: Option<String>,
    /// Seek pagination: the last id of the previous page.
    #[param(value_type = Option<String>, format = Uuid)]
    after: Option<MerchantId>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// The city's stores, in id order, a page at a time; with `q`, the registry's search (staff).
#[utoipa::path(get, path = "/api/v1/merchants", tag = "directory", security(("bearer" = [])),
    params(Page),
    responses((status = 200, body = Vec<Merchant>), (status = "4XX", body = ErrorEnvelope)))]
async fn list_merchants(
    State(app): State<App>,
    c: Caller,
    Query(page): Query<Page>,
) -> Result<Json<Vec<Merchant>>, AppError> {
    uc::list_merchants(&app, c.who, page.q.as_deref(), page.after, page.limit)
        .await
        .map(Json)
}

/// One store (staff, or the store's owner and devices).
#[utoipa::path(get, path = "/api/v1/merchants/{merchant_id}", tag = "directory", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path)),
    responses((status = 200, body = Merchant), (status = "4XX", body = ErrorEnvelope)))]
async fn get_merchant(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<MerchantId>,
) -> Result<Json<Merchant>, AppError> {
    uc::get_merchant(&app, c.who, id).await.map(Json)
}

/// Mint a one-time code to enroll a cashier terminal (the store's owner).
#[utoipa::path(post, path = "/api/v1/merchants/{merchant_id}/enrollment-codes", tag = "directory", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path)), request_body = NewEnrollmentCodeRequest,
    responses((status = 201, body = EnrollmentCode), (status = "4XX", body = ErrorEnvelope)))]
async fn create_enrollment_code(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<MerchantId>,
    Body(req): Body<NewEnrollmentCodeRequest>,
) -> Result<Response, AppError> {
    let key = c.who.idempotency_scope().to_string();
    if let Err(wait) = app.rate_limits.enrollment_codes.take(&key) {
        return Ok(crate::http::response::rate_limited(wait));
    }
    Ok(uc::create_enrollment_code(&app, c.who, id, req)
        .await?
        .into_response())
}

/// A store's tills, newest first, revoked ones included (the store's owner, and staff).
#[utoipa::path(get, path = "/api/v1/merchants/{merchant_id}/devices", tag = "directory", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path)),
    responses((status = 200, body = Vec<DeviceStatus>), (status = "4XX", body = ErrorEnvelope)))]
async fn list_devices(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<MerchantId>,
) -> Result<Json<Vec<DeviceStatus>>, AppError> {
    uc::list_devices(&app, c.who, id).await.map(Json)
}

/// Revoke a till (the store's owner): its tokens stop working at once.
#[utoipa::path(delete, path = "/api/v1/merchants/{merchant_id}/devices/{device_id}", tag = "directory", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path), ("device_id" = DeviceId, Path)),
    responses((status = 200, body = DeviceStatus), (status = "4XX", body = ErrorEnvelope)))]
async fn revoke_device(
    State(app): State<App>,
    c: Caller,
    Path((merchant, device)): Path<(MerchantId, DeviceId)>,
) -> Result<Answer<DeviceStatus>, AppError> {
    uc::revoke_device(&app, c.who, merchant, device).await
}

/// A terminal trades its one-time code for a device token (no bearer token: the code is
/// the credential).
#[utoipa::path(post, path = "/api/v1/devices/enroll", tag = "directory",
    request_body = EnrollRequest,
    responses((status = 201, body = Issued<Device>), (status = "4XX", body = ErrorEnvelope)))]
async fn enroll_device(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Body(req): Body<EnrollRequest>,
) -> Result<Response, AppError> {
    if let Err(wait) = app.rate_limits.enrollments.take(&peer.ip().to_string()) {
        return Ok(crate::http::response::rate_limited(wait));
    }
    Ok(uc::enroll_device(&app, req).await?.into_response())
}

/// Register a shopper (operator staff). The answer carries the shopper's token, shown once.
#[utoipa::path(post, path = "/api/v1/shoppers", tag = "directory", security(("bearer" = [])),
    request_body = NewShopperRequest,
    responses((status = 201, body = Issued<Shopper>), (status = "4XX", body = ErrorEnvelope)))]
async fn create_shopper(
    State(app): State<App>,
    c: Caller,
    Body(req): Body<NewShopperRequest>,
) -> Result<Answer<Issued<Shopper>>, AppError> {
    uc::create_shopper(&app, c.who, req).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ShopperSearch {
    /// A part of the shopper's name (at most 100 characters), the shopper's id, or a point
    /// card number (16 digits, spaces and hyphens allowed); none: the first shoppers by name.
    q: Option<String>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// Find the city's shoppers by a part of their name, by id, or by a point card's number
/// (staff): the counter's search.
#[utoipa::path(get, path = "/api/v1/shoppers", tag = "directory", security(("bearer" = [])),
    params(ShopperSearch),
    responses((status = 200, body = Vec<Shopper>), (status = "4XX", body = ErrorEnvelope)))]
async fn search_shoppers(
    State(app): State<App>,
    c: Caller,
    Query(q): Query<ShopperSearch>,
) -> Result<Json<Vec<Shopper>>, AppError> {
    uc::search_shoppers(&app, c.who, q.q.as_deref(), q.limit)
        .await
        .map(Json)
}

/// One shopper (staff, or the shopper themself).
#[utoipa::path(get, path = "/api/v1/shoppers/{shopper_id}", tag = "directory", security(("bearer" = [])),
    params(("shopper_id" = ShopperId, Path)),
    responses((status = 200, body = Shopper), (status = "4XX", body = ErrorEnvelope)))]
async fn get_shopper(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ShopperId>,
) -> Result<Json<Shopper>, AppError> {
    uc::get_shopper(&app, c.who, id).await.map(Json)
}

/// Revoke a token at once (its holder, or a city admin).
#[utoipa::path(delete, path = "/api/v1/tokens/{token_id}", tag = "directory", security(("bearer" = [])),
    params(("token_id" = TokenId, Path)),
    responses((status = 200, body = RevokedToken), (status = "4XX", body = ErrorEnvelope)))]
async fn revoke_token(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<TokenId>,
) -> Result<Answer<RevokedToken>, AppError> {
    uc::revoke_token(&app, c.who, c.token, id).await
}

/// A principal's tokens, newest first, revoked ones included (staff of the city). A store
/// owner's id is its store's.
#[utoipa::path(get, path = "/api/v1/principals/{principal_kind}/{principal_id}/tokens", tag = "directory",
    security(("bearer" = [])),
    params(("principal_kind" = PrincipalKind, Path), ("principal_id" = String, Path, format = Uuid)),
    responses((status = 200, body = Vec<TokenInfo>), (status = "4XX", body = ErrorEnvelope)))]
async fn list_tokens(
    State(app): State<App>,
    c: Caller,
    Path((kind, id)): Path<(PrincipalKind, uuid::Uuid)>,
) -> Result<Json<Vec<TokenInfo>>, AppError> {
    uc::list_tokens(&app, c.who, kind.into(), id)
        .await
        .map(Json)
}

/// Issue a new token for an existing shopper or store owner (operators) or staff member (city
/// admins); shown once. Devices are enrolled again instead (422 `device_token_not_reissued`).
#[utoipa::path(post, path = "/api/v1/principals/{principal_kind}/{principal_id}/tokens", tag = "directory",
    security(("bearer" = [])),
    params(("principal_kind" = PrincipalKind, Path), ("principal_id" = String, Path, format = Uuid)),
    responses((status = 201, body = NewToken), (status = "4XX", body = ErrorEnvelope)))]
async fn reissue_token(
    State(app): State<App>,
    c: Caller,
    Path((kind, id)): Path<(PrincipalKind, uuid::Uuid)>,
) -> Result<Answer<NewToken>, AppError> {
    uc::reissue_token(&app, c.who, kind.into(), id).await
}

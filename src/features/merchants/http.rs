//! Routes of the merchant registry: applications and decisions, profiles, bank accounts,
//! participation events, CSV imports and the city's store-count targets.

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::App;
use crate::error::{AppError, ErrorEnvelope};
use crate::features::directory::caller::Caller;
use crate::features::merchants::import::{IMPORT_BODY_MAX_BYTES, Imported};
use crate::features::merchants::{self as uc, *};
use crate::http::extract::{Body, Path, Query};
use crate::http::refusals::RequestRefusal;
use crate::writer::Answer;
use machipay_domain::ids::*;
use machipay_domain::registry::{BankAccountInput, BankAccountView, Profile};

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(submit_application, list_applications))
        .routes(routes!(decide_application))
        .routes(routes!(put_profile, get_profile))
        .routes(routes!(put_bank_account, get_bank_account))
        .routes(routes!(record_event, history))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(import_stores))
                .layer(DefaultBodyLimit::max(IMPORT_BODY_MAX_BYTES)),
        )
        .routes(routes!(set_target))
        .routes(routes!(targets))
}

/// Enter a store's application (operator staff or city admins). No store exists until it is
/// approved.
#[utoipa::path(post, path = "/api/v1/merchant-applications", tag = "registry", security(("bearer" = [])),
    request_body = ApplicationRequest,
    responses((status = 201, body = ApplicationView), (status = "4XX", body = ErrorEnvelope)))]
async fn submit_application(
    State(app): State<App>,
    c: Caller,
    Body(req): Body<ApplicationRequest>,
) -> Result<Answer<ApplicationView>, AppError> {
    uc::submit_application(&app, c.who, req).await
}

/// The city's applications, newest first (staff).
#[utoipa::path(get, path = "/api/v1/merchant-applications", tag = "registry", security(("bearer" = [])),
    responses((status = 200, body = Vec<ApplicationView>), (status = "4XX", body = ErrorEnvelope)))]
async fn list_applications(
    State(app): State<App>,
    c: Caller,
) -> Result<Json<Vec<ApplicationView>>, AppError> {
    uc::list_applications(&app, c.who).await.map(Json)
}

/// Approve (creating the store and its owner token, shown once) or reject a pending
/// application (operator staff or city admins). A decided application answers 409.
#[utoipa::path(post, path = "/api/v1/merchant-applications/{application_id}/decision", tag = "registry", security(("bearer" = [])),
    params(("application_id" = ApplicationId, Path)), request_body = DecisionRequest,
    responses((status = 200, body = DecisionResponse), (status = "4XX", body = ErrorEnvelope)))]
async fn decide_application(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ApplicationId>,
    Body(req): Body<DecisionRequest>,
) -> Result<Answer<DecisionResponse>, AppError> {
    uc::decide_application(&app, c.who, id, req).await
}

/// Replace a store's profile (operator staff or city admins).
#[utoipa::path(put, path = "/api/v1/merchants/{merchant_id}/profile", tag = "registry", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path)), request_body = Profile,
    responses((status = 200, body = Profile), (status = "4XX", body = ErrorEnvelope)))]
async fn put_profile(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<MerchantId>,
    Body(req): Body<Profile>,
) -> Result<Answer<Profile>, AppError> {
    uc::put_profile(&app, c.who, id, req).await
}

/// A store's profile (staff, the store's owner and devices).
#[utoipa::path(get, path = "/api/v1/merchants/{merchant_id}/profile", tag = "registry", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path)),
    responses((status = 200, body = Profile), (status = "4XX", body = ErrorEnvelope)))]
async fn get_profile(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<MerchantId>,
) -> Result<Json<Profile>, AppError> {
    uc::get_profile(&app, c.who, id).await.map(Json)
}

/// Set a store's bank account (operator staff or city admins). Names are converted to
/// half-width bank kana; a character a bank would refuse is `invalid_bank_account`.
#[utoipa::path(put, path = "/api/v1/merchants/{merchant_id}/bank-account", tag = "registry", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path)), request_body = BankAccountInput,
    responses((status = 200, body = BankAccountView), (status = "4XX", body = ErrorEnvelope)))]
async fn put_bank_account(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<MerchantId>,
    Body(req): Body<BankAccountInput>,
) -> Result<Answer<BankAccountView>, AppError> {
    uc::put_bank_account(&app, c.who, id, req).await
}

/// The store's bank account in force (staff and the store's owner).
#[utoipa::path(get, path = "/api/v1/merchants/{merchant_id}/bank-account", tag = "registry", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path)),
    responses((status = 200, body = BankAccountView), (status = "4XX", body = ErrorEnvelope)))]
async fn get_bank_account(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<MerchantId>,
) -> Result<Json<BankAccountView>, AppError> {
    uc::get_bank_account(&app, c.who, id).await.map(Json)
}

/// Record that a store joined, was suspended, resumed or left the program (operator staff
/// or city admins). Payments to a suspended or departed store are refused.
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/merchants/{merchant_id}/participation-events", tag = "registry", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("merchant_id" = MerchantId, Path)), request_body = EventRequest,
    responses((status = 201, body = ParticipationEvent), (status = "4XX", body = ErrorEnvelope)))]
async fn record_event(
    State(app): State<App>,
    c: Caller,
    Path((program, merchant)): Path<(ProgramId, MerchantId)>,
    Body(req): Body<EventRequest>,
) -> Result<Answer<ParticipationEvent>, AppError> {
    uc::record_event(&app, c.who, program, merchant, req).await
}

/// A store's participation history in the program, oldest first (staff, the store itself).
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/merchants/{merchant_id}/participation-events", tag = "registry", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("merchant_id" = MerchantId, Path)),
    responses((status = 200, body = Vec<ParticipationEvent>), (status = "4XX", body = ErrorEnvelope)))]
async fn history(
    State(app): State<App>,
    c: Caller,
    Path((program, merchant)): Path<(ProgramId, MerchantId)>,
) -> Result<Json<Vec<ParticipationEvent>>, AppError> {
    uc::history(&app, c.who, program, merchant).await.map(Json)
}

/// Import a city's store list: the CSV file itself as the body (`Content-Type: text/csv`;
/// UTF-8 with or without BOM, or Shift_JIS; up to 4 MiB and 5,000 lines). Headers 店舗番号,
/// 店舗名, 店舗名カナ, 業種, 商店会, 地区, 規模, 住所, 連絡先 and optionally 銀行コード, 銀行名カナ,
/// 支店コード, 支店名カナ, 口座種別, 口座番号, 口座名義カナ (the English names are aliases). All
/// or nothing: a file with any bad line answers 422 `import_rejected` with every line's errors
/// in `lines`. Keyed by 店舗番号, so a second import of the same file creates nothing new
/// (operator staff or city admins).
#[utoipa::path(post, path = "/api/v1/merchants/imports", tag = "registry", security(("bearer" = [])),
    params(
        ("program_id" = Option<String>, Query, format = Uuid, description = "Stores not yet participating join this program."),
        ("joined_on" = Option<String>, Query, format = Date, description = "The join date (JST, YYYY-MM-DD; default today)."),
    ),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportResult), (status = "4XX", body = ErrorEnvelope)))]
async fn import_stores(
    State(app): State<App>,
    c: Caller,
    Query(req): Query<ImportRequest>,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    // Who may import is checked before a byte of the (up to 4 MiB) body is read.
    uc::import::may_import(&c.who)?;
    let headers = request.headers().clone();
    let (body, _permit) = crate::http::extract::read_upload(&app.uploads, request, &app).await?;
    let is_csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv"));
    if !is_csv {
        return Err(RequestRefusal::FileNotCsv.into());
    }
    Ok(match uc::import::import(&app, c.who, req, &body).await? {
        Imported::Done(answer) => answer.into_response(),
        Imported::Rejected(rejection) => {
            (StatusCode::UNPROCESSABLE_ENTITY, Json(rejection)).into_response()
        }
    })
}

/// Set the store-count target of a 年度 ("2025", "令和7年度", "R7"; city admins). Every change
/// is kept.
#[utoipa::path(put, path = "/api/v1/programs/{program_id}/targets/{fiscal_year}", tag = "registry", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("fiscal_year" = String, Path)), request_body = TargetRequest,
    responses((status = 200, body = TargetView), (status = "4XX", body = ErrorEnvelope)))]
async fn set_target(
    State(app): State<App>,
    c: Caller,
    Path((program, fiscal_year)): Path<(ProgramId, String)>,
    Body(req): Body<TargetRequest>,
) -> Result<Answer<TargetView>, AppError> {
    uc::set_target(&app, c.who, program, &fiscal_year, req).await
}

/// The targets in force per 年度 and every change made to them (staff).
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/targets", tag = "registry", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path)),
    responses((status = 200, body = Targets), (status = "4XX", body = ErrorEnvelope)))]
async fn targets(
    State(app): State<App>,
    c: Caller,
    Path(program): Path<ProgramId>,
) -> Result<Json<Targets>, AppError> {
    uc::targets(&app, c.who, program).await.map(Json)
}

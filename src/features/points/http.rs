//! Routes of the point card: cards (issue, import, link, block, replace, QR image), store
//! earn rates and campaign multipliers, the till (earn, spend, returns, combined checkout),
//! prepaid point stock, and the point reports as JSON or CSV.

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::App;
use crate::error::{AppError, ErrorEnvelope};
use crate::features::directory::caller::{Caller, Money};
use crate::features::points::cards::{self, *};
use crate::features::points::reports::{self as reports, PointStatement, PointsReport};
use crate::features::points::{self as till, *};
use crate::http::extract::{Body, Path, Query};
use crate::http::refusals::RequestRefusal;
use crate::writer::{Answer, Done};
use machipay_domain::calendar::{FiscalYear, jst_date};
use machipay_domain::card::IMPORT_BYTES_MAX;
use machipay_domain::ids::*;

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(issue_card))
        .merge(import_router())
        .routes(routes!(link_card))
        .routes(routes!(get_card))
        .routes(routes!(card_image))
        .routes(routes!(block_card))
        .routes(routes!(replace_card))
        .routes(routes!(shopper_cards))
        .routes(routes!(set_rate))
        .routes(routes!(create_campaign, list_campaigns))
        .routes(routes!(buy_stock))
        .routes(routes!(earn))
        .routes(routes!(spend))
        .routes(routes!(return_points))
        .routes(routes!(checkout))
        .routes(routes!(points_report))
        .routes(routes!(point_statement))
}

/// The import route alone takes files up to `IMPORT_BYTES_MAX` (a city's plastic cards);
/// this inner limit overrides the global 64 KiB one for this route only.
fn import_router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(import_cards))
        .layer(DefaultBodyLimit::max(IMPORT_BYTES_MAX))
}

/// Issue a new card with a fresh number (operators).
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/cards", tag = "points", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path)), request_body = NewCardRequest,
    responses((status = 201, body = CardView), (status = "4XX", body = ErrorEnvelope)))]
async fn issue_card(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ProgramId>,
    Body(req): Body<NewCardRequest>,
) -> Result<Answer<CardView>, AppError> {
    cards::issue(&app, c.who, id, req).await
}

/// Import plastic cards from CSV (`card_number,balance,last_used_on`; operators). All or
/// nothing, every bad row reported by line; the same file again changes nothing.
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/card-imports", tag = "points", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path)), request_body(content = String, content_type = "text/csv"),
    responses((status = 201, body = ImportReport), (status = 422, body = ImportRejection), (status = "4XX", body = ErrorEnvelope)))]
async fn import_cards(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ProgramId>,
    req: axum::extract::Request,
) -> Result<Response, AppError> {
    // Who may import is checked before a byte of the (up to 8 MiB) body is read.
    cards::may_import(&c.who)?;
    let headers = req.headers().clone();
    let (body, _permit) = crate::http::extract::read_upload(&app.uploads, req, &app).await?;
    let is_csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv"));
    if !is_csv {
        return Err(RequestRefusal::NotCsv.into());
    }
    let text = String::from_utf8(body.to_vec()).map_err(|_| RequestRefusal::NotUtf8)?;
    Ok(match cards::import(&app, c.who, id, text).await? {
        Ok(report) => Done::created(report).into_response(),
        Err(rejection) => {
            // The status of the refusal's kind (422), with every bad row beside the envelope.
            let kind = crate::error::Refusal::kind(&crate::error::Common::CardImportRejected(0));
            let status = StatusCode::from_u16(kind.http_status())
                .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            (status, Json(rejection)).into_response()
        }
    })
}

/// Link a card to a shopper: a shopper links a card to themself; operators name the shopper.
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/card-links", tag = "points", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path)), request_body = LinkRequest,
    responses((status = 201, body = CardView), (status = "4XX", body = ErrorEnvelope)))]
async fn link_card(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ProgramId>,
    Body(req): Body<LinkRequest>,
) -> Result<Answer<CardView>, AppError> {
    cards::link(&app, c.who, id, req).await
}

/// A card and its balance (staff, or the shopper it is linked to).
#[utoipa::path(get, path = "/api/v1/cards/{card_id}", tag = "points", security(("bearer" = [])),
    params(("card_id" = CardId, Path)),
    responses((status = 200, body = CardView), (status = "4XX", body = ErrorEnvelope)))]
async fn get_card(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<CardId>,
) -> Result<Json<CardView>, AppError> {
    cards::get(&app, c.who, id).await.map(Json)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct CardImageQuery {
    /// `png` (default) or `svg`.
    #[param(value_type = Option<crate::http::params::PngOrSvg>)]
    format: Option<String>,
}

/// The card as a QR code of its 16 digits, for the cashier to scan (staff, or its shopper).
#[utoipa::path(get, path = "/api/v1/cards/{card_id}/image", tag = "points", security(("bearer" = [])),
    params(("card_id" = CardId, Path), CardImageQuery),
    responses((status = 200, description = "image/png or image/svg+xml", content_type = "image/png"), (status = "4XX", body = ErrorEnvelope)))]
async fn card_image(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<CardId>,
    Query(q): Query<CardImageQuery>,
) -> Result<Response, AppError> {
    let svg = match q.format.as_deref() {
        None | Some("png") => false,
        Some("svg") => true,
        Some(_) => return Err(RequestRefusal::FormatNotPngOrSvg.into()),
    };
    let (content_type, bytes) = cards::image(&app, c.who, id, svg).await?;
    Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}

/// Block a card: tills refuse it from now on (operators).
#[utoipa::path(post, path = "/api/v1/cards/{card_id}/block", tag = "points", security(("bearer" = [])),
    params(("card_id" = CardId, Path)),
    responses((status = 200, body = CardView), (status = "4XX", body = ErrorEnvelope)))]
async fn block_card(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<CardId>,
) -> Result<Answer<CardView>, AppError> {
    cards::block(&app, c.who, id).await
}

/// Replace a card: a new number takes over its balance, shopper and expiry clock (operators).
#[utoipa::path(post, path = "/api/v1/cards/{card_id}/replacements", tag = "points", security(("bearer" = [])),
    params(("card_id" = CardId, Path), ("Idempotency-Key" = String, Header)), request_body = ReplacementRequest,
    responses((status = 201, body = ReplacementResponse), (status = "4XX", body = ErrorEnvelope)))]
async fn replace_card(
    State(app): State<App>,
    Path(id): Path<CardId>,
    m: Money<ReplacementRequest>,
) -> Result<Answer<ReplacementResponse>, AppError> {
    cards::replace(&app, m.caller.who, id, m.body, m.idempotency).await
}

/// The cards linked to a shopper (the shopper, or staff).
#[utoipa::path(get, path = "/api/v1/shoppers/{shopper_id}/cards", tag = "points", security(("bearer" = [])),
    params(("shopper_id" = ShopperId, Path)),
    responses((status = 200, body = Vec<CardView>), (status = "4XX", body = ErrorEnvelope)))]
async fn shopper_cards(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ShopperId>,
) -> Result<Json<Vec<CardView>>, AppError> {
    cards::cards_of_shopper(&app, c.who, id).await.map(Json)
}

/// Set or clear a store's own earn rate (operators).
#[utoipa::path(put, path = "/api/v1/programs/{program_id}/merchants/{merchant_id}/point-rate", tag = "points", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("merchant_id" = MerchantId, Path)), request_body = RateRequest,
    responses((status = 200, body = PointRate), (status = "4XX", body = ErrorEnvelope)))]
async fn set_rate(
    State(app): State<App>,
    c: Caller,
    Path((p, m)): Path<(ProgramId, MerchantId)>,
    Body(req): Body<RateRequest>,
) -> Result<Answer<PointRate>, AppError> {
    cards::set_rate(&app, c.who, p, m, req).await
}

/// Open a time-boxed points multiplier campaign (operators). Idempotent (Idempotency-Key).
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/point-campaigns", tag = "points", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("Idempotency-Key" = String, Header)), request_body = NewPointCampaignRequest,
    responses((status = 201, body = PointCampaign), (status = "4XX", body = ErrorEnvelope)))]
async fn create_campaign(
    State(app): State<App>,
    Path(id): Path<ProgramId>,
    m: Money<NewPointCampaignRequest>,
) -> Result<Answer<PointCampaign>, AppError> {
    cards::create_campaign(&app, m.caller.who, id, m.body, m.idempotency).await
}

/// The program's multiplier campaigns (anyone in the city).
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/point-campaigns", tag = "points", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path)),
    responses((status = 200, body = Vec<PointCampaign>), (status = "4XX", body = ErrorEnvelope)))]
async fn list_campaigns(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ProgramId>,
) -> Result<Json<Vec<PointCampaign>>, AppError> {
    cards::list_campaigns(&app, c.who, id).await.map(Json)
}

/// Record a store's purchase of prepaid point stock (operators); deducted at settlement.
#[utoipa::path(post, path = "/api/v1/merchants/{merchant_id}/point-stock", tag = "points", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path), ("Idempotency-Key" = String, Header)), request_body = StockPurchaseRequest,
    responses((status = 201, body = StockPurchaseResponse), (status = "4XX", body = ErrorEnvelope)))]
async fn buy_stock(
    State(app): State<App>,
    Path(id): Path<MerchantId>,
    m: Money<StockPurchaseRequest>,
) -> Result<Answer<StockPurchaseResponse>, AppError> {
    till::buy_stock(&app, m.caller.who, id, m.body, m.idempotency).await
}

/// Award points for a purchase (the store's devices and owner).
#[utoipa::path(post, path = "/api/v1/merchants/{merchant_id}/point-earns", tag = "points", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path), ("Idempotency-Key" = String, Header)), request_body = EarnRequest,
    responses((status = 201, body = CardMovementResponse), (status = "4XX", body = ErrorEnvelope)))]
async fn earn(
    State(app): State<App>,
    Path(id): Path<MerchantId>,
    m: Money<EarnRequest>,
) -> Result<Answer<CardMovementResponse>, AppError> {
    till::earn(&app, m.caller.who, id, m.body, m.idempotency).await
}

/// Pay with points (the store's devices and owner); the store is reimbursed at settlement.
#[utoipa::path(post, path = "/api/v1/merchants/{merchant_id}/point-spends", tag = "points", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path), ("Idempotency-Key" = String, Header)), request_body = SpendRequest,
    responses((status = 201, body = CardMovementResponse), (status = "4XX", body = ErrorEnvelope)))]
async fn spend(
    State(app): State<App>,
    Path(id): Path<MerchantId>,
    m: Money<SpendRequest>,
) -> Result<Answer<CardMovementResponse>, AppError> {
    till::spend(&app, m.caller.who, id, m.body, m.idempotency).await
}

/// Return a purchase (earned points taken back in proportion) or refund a points payment
/// (points restored), partly or wholly (the store's devices and owner).
#[utoipa::path(post, path = "/api/v1/merchants/{merchant_id}/point-returns", tag = "points", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path), ("Idempotency-Key" = String, Header)), request_body = PointReturnRequest,
    responses((status = 201, body = CardMovementResponse), (status = "4XX", body = ErrorEnvelope)))]
async fn return_points(
    State(app): State<App>,
    Path(id): Path<MerchantId>,
    m: Money<PointReturnRequest>,
) -> Result<Answer<CardMovementResponse>, AppError> {
    till::return_points(&app, m.caller.who, id, m.body, m.idempotency).await
}

/// One bill paid with a linked card's points and the same person's currency wallet, in the
/// currency program's spend order, atomically (the store's devices and owner).
#[utoipa::path(post, path = "/api/v1/merchants/{merchant_id}/point-checkouts", tag = "points", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path), ("Idempotency-Key" = String, Header)), request_body = CheckoutRequest,
    responses((status = 201, body = CheckoutResponse), (status = "4XX", body = ErrorEnvelope)))]
async fn checkout(
    State(app): State<App>,
    Path(id): Path<MerchantId>,
    m: Money<CheckoutRequest>,
) -> Result<Answer<CheckoutResponse>, AppError> {
    till::checkout(&app, m.caller.who, id, m.body, m.idempotency).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReportQuery {
    /// The 年度: "2026", "令和8年度", "R8"...; default the running one. A 年度 that has not
    /// started is `period_in_future`.
    fiscal_year: Option<String>,
    /// `json` (default) or `csv`.
    #[param(value_type = Option<crate::http::params::JsonOrCsv>)]
    format: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct StatementQuery {
    /// The 年度: "2026", "令和8年度", "R8"...; default the running one.
    fiscal_year: Option<String>,
    /// `json` (default) or `csv`.
    #[param(value_type = Option<crate::http::params::JsonOrCsv>)]
    format: Option<String>,
}

fn fiscal_year(text: Option<&str>) -> Result<FiscalYear, AppError> {
    let bad = |_| AppError::from(RequestRefusal::NotAFiscalYear);
    match text {
        Some(t) => t.parse::<FiscalYear>().map_err(bad),
        None => FiscalYear::of(jst_date(Utc::now())).map_err(bad),
    }
}

fn wants_csv(format: Option<&str>) -> Result<bool, AppError> {
    match format {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(_) => Err(RequestRefusal::FormatNotJsonOrCsv.into()),
    }
}

fn csv_response(
    header: &[&str],
    rows: Vec<Vec<String>>,
    filename: String,
) -> Result<Response, AppError> {
    // For Excel, as the currency and city reports: the one CSV convention.
    let body = crate::http::render::csv::csv_for_excel(header, rows)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// Points issued, clawed back, redeemed, refunded, expired and imported per store and in
/// total for a 年度, the liability at its start and end, and the redemption rate (staff).
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/reports/points", tag = "reports", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ReportQuery),
    responses((status = 200, description = "The report; `format=csv` answers one record per store and a TOTAL record",
        content((PointsReport = "application/json"), (String = "text/csv"))), (status = "4XX", body = ErrorEnvelope)))]
async fn points_report(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ProgramId>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, AppError> {
    let fy = fiscal_year(q.fiscal_year.as_deref())?;
    let csv = wants_csv(q.format.as_deref())?;
    let report = reports::report(&app, c.who, id, fy, Utc::now()).await?;
    if !csv {
        return Ok(Json(report).into_response());
    }
    csv_response(
        &PointsReport::csv_header(),
        report.csv_rows(),
        format!("points-{}.csv", fy.start_year()),
    )
}

/// A store's point movements in a 年度 with the points it issued and redeemed, net (the
/// store's owner and devices, or staff).
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/merchants/{merchant_id}/point-statement", tag = "reports", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("merchant_id" = MerchantId, Path), StatementQuery),
    responses((status = 200, description = "The statement; `format=csv` answers one record per movement",
        content((PointStatement = "application/json"), (String = "text/csv"))), (status = "4XX", body = ErrorEnvelope)))]
async fn point_statement(
    State(app): State<App>,
    c: Caller,
    Path((program, id)): Path<(ProgramId, MerchantId)>,
    Query(q): Query<StatementQuery>,
) -> Result<Response, AppError> {
    let fy = fiscal_year(q.fiscal_year.as_deref())?;
    let csv = wants_csv(q.format.as_deref())?;
    let s = reports::statement(&app, c.who, id, program, fy, Utc::now()).await?;
    if !csv {
        return Ok(Json(s).into_response());
    }
    csv_response(
        &PointStatement::csv_header(),
        s.csv_rows(),
        format!("point-statement-{}.csv", fy.start_year()),
    )
}

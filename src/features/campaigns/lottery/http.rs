//! Routes of lottery sales: open, read, apply, a shopper's result, draw, the draw report
//! (JSON or CSV), and staff's resident checks.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::App;
use crate::error::{AppError, ErrorEnvelope};
use crate::features::campaigns::lottery::{self as uc, *};
use crate::features::directory::caller::{Caller, Money};
use crate::http::extract::{Body, Path, Query};
use crate::http::refusals::RequestRefusal;
use crate::http::render::csv::csv_for_excel;
use crate::writer::Answer;
use machipay_domain::ids::*;

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(create_lottery))
        .routes(routes!(get_lottery))
        .routes(routes!(apply))
        .routes(routes!(application))
        .routes(routes!(draw))
        .routes(routes!(draw_report))
        .routes(routes!(check_resident))
}

/// Open a lottery sale (抽選販売): a premium-set campaign sold by lottery, with its seed's
/// SHA-256 published at once and never changed (operator staff or city admins). Idempotent
/// (Idempotency-Key).
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/lotteries", tag = "currency", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("Idempotency-Key" = String, Header)), request_body = NewLotteryRequest,
    responses((status = 201, body = LotteryView), (status = "4XX", body = ErrorEnvelope)))]
async fn create_lottery(
    State(app): State<App>,
    Path(id): Path<ProgramId>,
    m: Money<NewLotteryRequest>,
) -> Result<Answer<LotteryView>, AppError> {
    uc::create(&app, m.caller.who, id, m.body, m.idempotency).await
}

/// A lottery sale: its windows, the published seed hash, the seed once drawn, the draws
/// (anyone in the city).
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/lotteries/{campaign_id}", tag = "currency", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("campaign_id" = PremiumCampaignId, Path)),
    responses((status = 200, body = LotteryView), (status = "4XX", body = ErrorEnvelope)))]
async fn get_lottery(
    State(app): State<App>,
    c: Caller,
    Path((program, campaign)): Path<(ProgramId, PremiumCampaignId)>,
) -> Result<Json<LotteryView>, AppError> {
    uc::get(&app, c.who, program, campaign).await.map(Json)
}

/// Apply to a lottery: once per shopper, within the window (shoppers, for themselves).
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/lotteries/{campaign_id}/applications", tag = "currency", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("campaign_id" = PremiumCampaignId, Path)), request_body = ApplyRequest,
    responses((status = 201, body = LotteryApplication), (status = "4XX", body = ErrorEnvelope)))]
async fn apply(
    State(app): State<App>,
    c: Caller,
    Path((program, campaign)): Path<(ProgramId, PremiumCampaignId)>,
    Body(req): Body<ApplyRequest>,
) -> Result<Answer<LotteryApplication>, AppError> {
    uc::apply(&app, c.who, program, campaign, req).await
}

/// A shopper's application and result (pending, won with the purchase period, lost): the
/// shopper (what the wallet shows), or staff.
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/lotteries/{campaign_id}/applications/{shopper_id}", tag = "currency", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("campaign_id" = PremiumCampaignId, Path), ("shopper_id" = ShopperId, Path)),
    responses((status = 200, body = LotteryApplication), (status = "4XX", body = ErrorEnvelope)))]
async fn application(
    State(app): State<App>,
    c: Caller,
    Path((program, campaign, shopper)): Path<(ProgramId, PremiumCampaignId, ShopperId)>,
) -> Result<Json<LotteryApplication>, AppError> {
    uc::application(&app, c.who, program, campaign, shopper)
        .await
        .map(Json)
}

/// Run the next draw with the revealed seed (its SHA-256 must be the published hash):
/// round 1 after the window, round 2 of the unclaimed sets after the winners' period
/// (operator staff or city admins).
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/lotteries/{campaign_id}/draws", tag = "currency", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("campaign_id" = PremiumCampaignId, Path)), request_body = DrawRequest,
    responses((status = 201, body = DrawView), (status = "4XX", body = ErrorEnvelope)))]
async fn draw(
    State(app): State<App>,
    c: Caller,
    Path((program, campaign)): Path<(ProgramId, PremiumCampaignId)>,
    Body(req): Body<DrawRequest>,
) -> Result<Answer<DrawView>, AppError> {
    uc::draw(&app, c.who, program, campaign, req).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReportQuery {
    /// `json` (default) or `csv`.
    #[param(value_type = Option<crate::http::params::JsonOrCsv>)]
    format: Option<String>,
}

/// The draw report (staff): applications in the canonical order with their results and the
/// sets bought, the draws, the totals (won, bought, unclaimed). The JSON is what
/// `machipay lottery-verify` re-runs the draws from; CSV for Excel: one row per application.
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/lotteries/{campaign_id}/report", tag = "currency", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("campaign_id" = PremiumCampaignId, Path), ReportQuery),
    responses(
        (status = 200, description = "The report; `format=csv` answers one row per application (UTF-8 with BOM, CRLF, Japanese headers)",
            content((DrawReport = "application/json"), (String = "text/csv"))),
        (status = "4XX", body = ErrorEnvelope)))]
async fn draw_report(
    State(app): State<App>,
    c: Caller,
    Path((program, campaign)): Path<(ProgramId, PremiumCampaignId)>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, AppError> {
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(RequestRefusal::FormatNotJsonOrCsv.into()),
    };
    let report = uc::report(&app, c.who, program, campaign).await?;
    if !csv {
        return Ok(Json(report).into_response());
    }
    let header_row = [
        "利用者ID",
        "申込セット数",
        "申込日時",
        "当選回",
        "購入セット数",
    ];
    let rows = report.applications.iter().map(|a| {
        vec![
            a.shopper_id.to_string(),
            a.units.to_string(),
            a.applied_at.to_rfc3339(),
            a.won_round.map(|r| r.to_string()).unwrap_or_default(),
            a.units_bought.to_string(),
        ]
    });
    let body = csv_for_excel(&header_row, rows)?;
    let filename = format!("attachment; filename=\"lottery-{campaign}.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        body,
    )
        .into_response())
}

/// Record that city staff checked a shopper's residence, with the date and method (for
/// residents-only lotteries; a new check replaces the old). Operator staff or city admins.
#[utoipa::path(post, path = "/api/v1/shoppers/{shopper_id}/resident-check", tag = "currency", security(("bearer" = [])),
    params(("shopper_id" = ShopperId, Path)), request_body = ResidentCheckRequest,
    responses((status = 201, body = ResidentCheck), (status = "4XX", body = ErrorEnvelope)))]
async fn check_resident(
    State(app): State<App>,
    c: Caller,
    Path(shopper): Path<ShopperId>,
    Body(req): Body<ResidentCheckRequest>,
) -> Result<Answer<ResidentCheck>, AppError> {
    uc::check_resident(&app, c.who, shopper, req).await
}

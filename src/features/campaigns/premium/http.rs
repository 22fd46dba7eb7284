//! Routes of currency programs: settings and their history, premium-set campaigns and sales,
//! bank charges, the premium reconciliation, approved cash-outs.

use axum::Json;
use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::App;
use crate::error::{AppError, ErrorEnvelope};
use crate::features::campaigns::premium::{self as uc, *};
use crate::features::directory::caller::{Caller, Money};
use crate::features::payments::MovementResponse;
use crate::http::extract::{Body, Fingerprinted, Path};
use crate::writer::Answer;
use machipay_domain::ids::*;

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(change_settings, settings_history))
        .routes(routes!(create_campaign, list_campaigns))
        .routes(routes!(buy_premium_sets))
        .routes(routes!(enter_queue))
        .routes(routes!(queue_ticket))
        .routes(routes!(bank_charge))
        .routes(routes!(premium_reconciliation))
        .routes(routes!(cash_out_exception))
}

/// Change a program's settings from a date on (operator staff or city admins). Audited.
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/settings", tag = "currency", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path)), request_body = SettingsChangeRequest,
    responses((status = 201, body = SettingsVersionView), (status = "4XX", body = ErrorEnvelope)))]
async fn change_settings(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ProgramId>,
    Body(req): Body<SettingsChangeRequest>,
) -> Result<Answer<SettingsVersionView>, AppError> {
    uc::change_settings(&app, c.who, id, req).await
}

/// Every settings version with its effective date and author (staff).
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/settings", tag = "currency", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path)),
    responses((status = 200, body = Vec<SettingsVersionView>), (status = "4XX", body = ErrorEnvelope)))]
async fn settings_history(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ProgramId>,
) -> Result<Json<Vec<SettingsVersionView>>, AppError> {
    uc::settings_history(&app, c.who, id).await.map(Json)
}

/// Open a premium-set campaign (operator staff or city admins). Idempotent (Idempotency-Key).
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/premium-campaigns", tag = "currency", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("Idempotency-Key" = String, Header)), request_body = NewCampaignRequest,
    responses((status = 201, body = PremiumCampaign), (status = "4XX", body = ErrorEnvelope)))]
async fn create_campaign(
    State(app): State<App>,
    Path(id): Path<ProgramId>,
    m: Money<NewCampaignRequest>,
) -> Result<Answer<PremiumCampaign>, AppError> {
    uc::create_campaign(&app, m.caller.who, id, m.body, m.idempotency).await
}

/// The program's premium-set campaigns (anyone in the city).
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/premium-campaigns", tag = "currency", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path)),
    responses((status = 200, body = Vec<PremiumCampaign>), (status = "4XX", body = ErrorEnvelope)))]
async fn list_campaigns(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ProgramId>,
) -> Result<Json<Vec<PremiumCampaign>>, AppError> {
    uc::list_campaigns(&app, c.who, id).await.map(Json)
}

/// Sell premium sets to a shopper at the counter (operator staff or city admins).
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/premium-campaigns/{campaign_id}/purchases", tag = "currency", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("campaign_id" = PremiumCampaignId, Path), ("Idempotency-Key" = String, Header)),
    request_body = PurchaseRequest,
    responses((status = 201, body = MovementResponse), (status = "4XX", body = ErrorEnvelope)))]
async fn buy_premium_sets(
    State(app): State<App>,
    Path((program, campaign)): Path<(ProgramId, PremiumCampaignId)>,
    m: Money<PurchaseRequest>,
) -> Result<Answer<MovementResponse>, AppError> {
    uc::buy_premium_sets(&app, m.caller.who, program, campaign, m.body, m.idempotency).await
}

/// Take a place in a first-come campaign's waiting room (the shopper's own wallet). 201 with a
/// new ticket, 200 with the one taken before; a sold-out campaign answers `campaign_sold_out`
/// at once.
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/premium-campaigns/{campaign_id}/queue", tag = "currency", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("campaign_id" = PremiumCampaignId, Path)),
    responses((status = 201, body = QueueTicket), (status = 200, body = QueueTicket), (status = "4XX", body = ErrorEnvelope)))]
async fn enter_queue(
    State(app): State<App>,
    c: Caller,
    Path((program, campaign)): Path<(ProgramId, PremiumCampaignId)>,
) -> Result<Answer<QueueTicket>, AppError> {
    uc::waiting_room::enter(&app, c.who, program, campaign).await
}

/// A waiting-room ticket now: `waiting` (tickets ahead, the wait, when to poll again),
/// `admitted` (buy until `buy_until`) or `expired`; `campaign_sold_out` once nothing is left
/// (the ticket's shopper, or staff of the city).
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/premium-campaigns/{campaign_id}/queue/{ticket_id}", tag = "currency", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("campaign_id" = PremiumCampaignId, Path), ("ticket_id" = QueueTicketId, Path)),
    responses((status = 200, body = QueueTicket), (status = "4XX", body = ErrorEnvelope)))]
async fn queue_ticket(
    State(app): State<App>,
    c: Caller,
    Path((program, campaign, ticket)): Path<(ProgramId, PremiumCampaignId, QueueTicketId)>,
) -> Result<Json<QueueTicket>, AppError> {
    uc::waiting_room::ticket(&app, c.who, program, campaign, ticket)
        .await
        .map(Json)
}

/// A charge paid by bank transfer (the bank integration's operator token). The bank's
/// reference is the idempotency key: no Idempotency-Key header is needed.
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/bank-charges", tag = "currency", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path)), request_body = BankChargeRequest,
    responses((status = 201, body = MovementResponse), (status = "4XX", body = ErrorEnvelope)))]
async fn bank_charge(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ProgramId>,
    f: Fingerprinted<BankChargeRequest>,
) -> Result<Answer<MovementResponse>, AppError> {
    uc::bank_charge(&app, c.who, id, f.body, f.hash).await
}

/// Premium sold, granted, spent, expired and outstanding, for the city's reconciliation (staff).
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/premium-reconciliation", tag = "currency", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path)),
    responses((status = 200, body = PremiumFigures), (status = "4XX", body = ErrorEnvelope)))]
async fn premium_reconciliation(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ProgramId>,
) -> Result<Json<PremiumFigures>, AppError> {
    uc::premium_reconciliation(&app, c.who, id).await.map(Json)
}

/// Hand a shopper's paid coin back in cash under an approved, logged exception (operator
/// admins or city admins; everyone else is refused with `cash_out_not_allowed`).
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/cash-out-exceptions", tag = "currency", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("Idempotency-Key" = String, Header)), request_body = CashOutRequest,
    responses((status = 201, body = MovementResponse), (status = "4XX", body = ErrorEnvelope)))]
async fn cash_out_exception(
    State(app): State<App>,
    Path(id): Path<ProgramId>,
    m: Money<CashOutRequest>,
) -> Result<Answer<MovementResponse>, AppError> {
    uc::cash_out_exception(&app, m.caller.who, id, m.body, m.idempotency).await
}

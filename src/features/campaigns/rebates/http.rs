//! Routes for rebate campaigns and store categories.

use axum::Json;
use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::App;
use crate::error::{AppError, ErrorEnvelope};
use crate::features::campaigns::rebates::{self as uc, *};
use crate::features::directory::caller::{Caller, Money};
use crate::http::extract::{Body, Path};
use crate::writer::Answer;
use machipay_domain::ids::*;

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(create_campaign, list_campaigns))
        .routes(routes!(set_category))
}

/// Open a rebate campaign (operator staff or city admins). Idempotent (Idempotency-Key);
/// a campaign overlapping another for one of its store categories is `campaign_overlaps`.
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/rebate-campaigns", tag = "currency", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("Idempotency-Key" = String, Header)), request_body = NewRebateCampaignRequest,
    responses((status = 201, body = RebateCampaignView), (status = "4XX", body = ErrorEnvelope)))]
async fn create_campaign(
    State(app): State<App>,
    Path(id): Path<ProgramId>,
    m: Money<NewRebateCampaignRequest>,
) -> Result<Answer<RebateCampaignView>, AppError> {
    uc::create_campaign(&app, m.caller.who, id, m.body, m.idempotency).await
}

/// The program's rebate campaigns with their status and remaining budget (anyone in the city).
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/rebate-campaigns", tag = "currency", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path)),
    responses((status = 200, body = Vec<RebateCampaignView>), (status = "4XX", body = ErrorEnvelope)))]
async fn list_campaigns(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ProgramId>,
) -> Result<Json<Vec<RebateCampaignView>>, AppError> {
    uc::list_campaigns(&app, c.who, id).await.map(Json)
}

/// Set a store's rebate category (operator staff or city admins).
#[utoipa::path(put, path = "/api/v1/merchants/{merchant_id}/category", tag = "currency", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path)), request_body = CategoryRequest,
    responses((status = 200, body = CategoryResponse), (status = "4XX", body = ErrorEnvelope)))]
async fn set_category(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<MerchantId>,
    Body(req): Body<CategoryRequest>,
) -> Result<Answer<CategoryResponse>, AppError> {
    uc::set_category(&app, c.who, id, req).await
}

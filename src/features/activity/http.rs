//! Routes for the apps' first screens: a store's or a shopper's latest activity, with a
//! store's takings today and a shopper's nearest expiry.

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::App;
use crate::error::{AppError, ErrorEnvelope};
use crate::features::activity::{self as uc, Activity};
use crate::features::directory::caller::Caller;
use crate::http::extract::{Path, Query};
use machipay_domain::ids::*;

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(merchant_activity))
        .routes(routes!(shopper_activity))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ActivityQuery {
    /// How many entries, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// A store's latest entries and today's takings (the store's owner and devices, or staff).
#[utoipa::path(get, path = "/api/v1/merchants/{merchant_id}/activity", tag = "activity", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path), ActivityQuery),
    responses((status = 200, body = Activity), (status = "4XX", body = ErrorEnvelope)))]
async fn merchant_activity(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<MerchantId>,
    Query(q): Query<ActivityQuery>,
) -> Result<Json<Activity>, AppError> {
    uc::merchant_activity(&app, c.who, id, q.limit, Utc::now())
        .await
        .map(Json)
}

/// A shopper's latest entries and nearest expiry per wallet (the shopper, or staff).
#[utoipa::path(get, path = "/api/v1/shoppers/{shopper_id}/activity", tag = "activity", security(("bearer" = [])),
    params(("shopper_id" = ShopperId, Path), ActivityQuery),
    responses((status = 200, body = Activity), (status = "4XX", body = ErrorEnvelope)))]
async fn shopper_activity(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ShopperId>,
    Query(q): Query<ActivityQuery>,
) -> Result<Json<Activity>, AppError> {
    uc::shopper_activity(&app, c.who, id, q.limit, Utc::now())
        .await
        .map(Json)
}

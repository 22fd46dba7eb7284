//! Routes of the shopper block: `POST /api/v1/shoppers/{id}/block` and `.../unblock`.

use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::App;
use crate::error::{AppError, ErrorEnvelope};
use crate::features::directory::caller::Caller;
use crate::features::directory::{Shopper, ShopperBlockRequest};
use crate::features::shopper_block as uc;
use crate::http::extract::{Body, Path};
use crate::writer::Answer;
use machipay_domain::ids::ShopperId;

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(block_shopper))
        .routes(routes!(unblock_shopper))
}

/// Block a shopper (operators, city admins): their tokens and sessions stop at once, sign-in
/// and every payment, charge, transfer, earn and spend are refused (403 `shopper_blocked`);
/// balances stay. Already blocked: answered as they are.
#[utoipa::path(post, path = "/api/v1/shoppers/{shopper_id}/block", tag = "directory", security(("bearer" = [])),
    params(("shopper_id" = ShopperId, Path)), request_body = ShopperBlockRequest,
    responses((status = 200, body = Shopper), (status = "4XX", body = ErrorEnvelope)))]
async fn block_shopper(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ShopperId>,
    Body(req): Body<ShopperBlockRequest>,
) -> Result<Answer<Shopper>, AppError> {
    uc::block_shopper(&app, c.who, id, req).await
}

/// Unblock a shopper (operators, city admins): their tokens, sessions and sign-in work again.
#[utoipa::path(post, path = "/api/v1/shoppers/{shopper_id}/unblock", tag = "directory", security(("bearer" = [])),
    params(("shopper_id" = ShopperId, Path)), request_body = ShopperBlockRequest,
    responses((status = 200, body = Shopper), (status = "4XX", body = ErrorEnvelope)))]
async fn unblock_shopper(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ShopperId>,
    Body(req): Body<ShopperBlockRequest>,
) -> Result<Answer<Shopper>, AppError> {
    uc::unblock_shopper(&app, c.who, id, req).await
}

//! Routes for QR payments: store codes and their images, dynamic payment requests,
//! shopper-presented codes, resolving and paying by code, and the store's live event stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::App;
use crate::error::{AppError, ErrorEnvelope};
use crate::features::directory::caller::{Caller, Money};
use crate::features::payments::MovementResponse;
use crate::features::qr::{self as uc, *};
use crate::http::extract::{Body, Path, Query};
use crate::writer::{Answer, StoreEvent};
use machipay_domain::auth::Principal;
use machipay_domain::ids::*;

/// Keep-alive comments on the event stream, so proxies do not close an idle connection.
const EVENTS_KEEPALIVE_MS: u64 = 15_000;
/// How soon a client reconnects after the server ended its stream (shutdown).
const EVENTS_RECONNECT_MS: u64 = 1_000;

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(issue_store_code, list_store_codes))
        .routes(routes!(revoke_store_code))
        .routes(routes!(store_code_image))
        .routes(routes!(create_payment_request))
        .routes(routes!(get_payment_request))
        .routes(routes!(payment_request_image))
        .routes(routes!(charge_shopper_code))
        .routes(routes!(store_events))
        .routes(routes!(create_shopper_code))
        .routes(routes!(resolve))
        .routes(routes!(pay_by_code))
}

/// Issue a static store code (the store's owner, or operator staff).
#[utoipa::path(post, path = "/api/v1/merchants/{merchant_id}/codes", tag = "qr", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path)), request_body = NewStoreCodeRequest,
    responses((status = 201, body = StoreCode), (status = "4XX", body = ErrorEnvelope)))]
async fn issue_store_code(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<MerchantId>,
    Body(req): Body<NewStoreCodeRequest>,
) -> Result<Answer<StoreCode>, AppError> {
    uc::issue_store_code(&app, c.who, id, req).await
}

/// A store's codes, revoked ones included (the store's owner and devices, or staff).
#[utoipa::path(get, path = "/api/v1/merchants/{merchant_id}/codes", tag = "qr", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path)),
    responses((status = 200, body = Vec<StoreCode>), (status = "4XX", body = ErrorEnvelope)))]
async fn list_store_codes(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<MerchantId>,
) -> Result<Json<Vec<StoreCode>>, AppError> {
    uc::list_store_codes(&app, c.who, id).await.map(Json)
}

/// Revoke a store code at once (the store's owner, or operator staff).
#[utoipa::path(delete, path = "/api/v1/merchants/{merchant_id}/codes/{code_id}", tag = "qr", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path), ("code_id" = StoreCodeId, Path)),
    responses((status = 200, body = RevokedStoreCode), (status = "4XX", body = ErrorEnvelope)))]
async fn revoke_store_code(
    State(app): State<App>,
    c: Caller,
    Path((m, code)): Path<(MerchantId, StoreCodeId)>,
) -> Result<Answer<RevokedStoreCode>, AppError> {
    uc::revoke_store_code(&app, c.who, m, code).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ImageQuery {
    /// png (default), svg, or poster (A4 SVG).
    format: Option<ImageFormat>,
}

/// A store code as PNG, SVG, or a printable A4 poster (the store's owner and devices, or staff).
#[utoipa::path(get, path = "/api/v1/merchants/{merchant_id}/codes/{code_id}/image", tag = "qr", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path), ("code_id" = StoreCodeId, Path), ImageQuery),
    responses((status = 200, description = "image/png, or image/svg+xml for svg and poster", content_type = "image/png"), (status = "4XX", body = ErrorEnvelope)))]
async fn store_code_image(
    State(app): State<App>,
    c: Caller,
    Path((m, code)): Path<(MerchantId, StoreCodeId)>,
    Query(q): Query<ImageQuery>,
) -> Result<Response, AppError> {
    let (content_type, bytes) =
        uc::store_code_image(&app, c.who, m, code, q.format.unwrap_or(ImageFormat::Png)).await?;
    Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}

/// Ask for an amount with a single-use code that expires in five minutes (the store's devices or owner).
#[utoipa::path(post, path = "/api/v1/merchants/{merchant_id}/payment-requests", tag = "qr", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path)), request_body = NewPaymentRequest,
    responses((status = 201, body = PaymentRequest), (status = "4XX", body = ErrorEnvelope)))]
async fn create_payment_request(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<MerchantId>,
    Body(req): Body<NewPaymentRequest>,
) -> Result<Answer<PaymentRequest>, AppError> {
    uc::create_payment_request(&app, c.who, id, req).await
}

/// A payment request and whether it has been paid (the store's devices or owner).
#[utoipa::path(get, path = "/api/v1/merchants/{merchant_id}/payment-requests/{request_id}", tag = "qr", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path), ("request_id" = PaymentRequestId, Path)),
    responses((status = 200, body = PaymentRequest), (status = "4XX", body = ErrorEnvelope)))]
async fn get_payment_request(
    State(app): State<App>,
    c: Caller,
    Path((m, id)): Path<(MerchantId, PaymentRequestId)>,
) -> Result<Json<PaymentRequest>, AppError> {
    uc::get_payment_request(&app, c.who, m, id).await.map(Json)
}

/// A payment request's code as PNG (default) or SVG, for the till's screen (the store's
/// devices or owner).
#[utoipa::path(get, path = "/api/v1/merchants/{merchant_id}/payment-requests/{request_id}/image", tag = "qr", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path), ("request_id" = PaymentRequestId, Path), ImageQuery),
    responses((status = 200, description = "image/png, or image/svg+xml for svg", content_type = "image/png"), (status = "4XX", body = ErrorEnvelope)))]
async fn payment_request_image(
    State(app): State<App>,
    c: Caller,
    Path((m, id)): Path<(MerchantId, PaymentRequestId)>,
    Query(q): Query<ImageQuery>,
) -> Result<Response, AppError> {
    let (content_type, bytes) =
        uc::payment_request_image(&app, c.who, m, id, q.format.unwrap_or(ImageFormat::Png)).await?;
    Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}

/// Take a payment by scanning a shopper's one-time code (the store's devices or owner).
#[utoipa::path(post, path = "/api/v1/merchants/{merchant_id}/shopper-code-payments", tag = "qr", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path), ("Idempotency-Key" = String, Header)), request_body = ShopperCodePaymentRequest,
    responses((status = 201, body = ShopperCodePayment), (status = "4XX", body = ErrorEnvelope)))]
async fn charge_shopper_code(
    State(app): State<App>,
    Path(id): Path<MerchantId>,
    m: Money<ShopperCodePaymentRequest>,
) -> Result<Answer<ShopperCodePayment>, AppError> {
    uc::charge_shopper_code(&app, m.caller.who, id, m.body, m.idempotency).await
}

/// Server-sent events: each payment to this store, the moment it commits (the store's
/// devices and owner; nobody else's payments are ever sent).
#[utoipa::path(get, path = "/api/v1/merchants/{merchant_id}/events", tag = "qr", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path)),
    responses((status = 200, description = "text/event-stream of StoreEvent", body = StoreEvent, content_type = "text/event-stream"), (status = "4XX", body = ErrorEnvelope)))]
async fn store_events(
    State(app): State<App>,
    c: Caller,
    Path(merchant): Path<MerchantId>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    if !matches!(
        c.who,
        Principal::MerchantOwner { .. } | Principal::Device { .. }
    ) {
        return Err(AppError::forbidden());
    }
    if !c.who.acts_for_merchant(merchant) {
        return Err(AppError::not_found("merchant"));
    }
    let rx = app.writer.subscribe();
    let stream = futures::stream::unfold(rx, move |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(ev) if ev.merchant_id == merchant => {
                    let event = Event::default()
                        .event(ev.kind.clone())
                        .json_data(&ev)
                        .unwrap_or_default();
                    return Some((Ok(event), rx));
                }
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    let event = Event::default().event("lagged").data(n.to_string());
                    return Some((Ok(event), rx));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    // At shutdown the stream ends with a `reconnect` event (`retry` 1 s): the store's screen
    // connects again, to another instance behind the balancer or to this one restarted, and
    // the server is not held open by it.
    let draining = app.draining.clone();
    let stream = futures::StreamExt::take_until(stream, async move { draining.started().await });
    let goodbye = futures::stream::once(async {
        Ok(Event::default()
            .event("reconnect")
            .retry(Duration::from_millis(EVENTS_RECONNECT_MS))
            .data("the server is restarting; connect again"))
    });
    let stream = futures::StreamExt::chain(stream, goodbye);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_millis(EVENTS_KEEPALIVE_MS))))
}

/// A one-time code for the shopper to show at the till, valid for a minute (shoppers).
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/shopper-codes", tag = "qr", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path)),
    responses((status = 201, body = ShopperCode), (status = "4XX", body = ErrorEnvelope)))]
async fn create_shopper_code(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ProgramId>,
) -> Result<Answer<ShopperCode>, AppError> {
    uc::create_shopper_code(&app, c.who, id).await
}

/// What a scanned code means: the payee as the server knows it and, for a cashier's
/// request, the amount (shoppers).
#[utoipa::path(post, path = "/api/v1/qr/resolve", tag = "qr", security(("bearer" = [])),
    request_body = ResolveRequest,
    responses((status = 200, body = ResolvedCode), (status = "4XX", body = ErrorEnvelope)))]
async fn resolve(
    State(app): State<App>,
    c: Caller,
    Body(req): Body<ResolveRequest>,
) -> Result<Answer<ResolvedCode>, AppError> {
    uc::resolve(&app, c.who, req).await
}

/// Pay by a scanned store code or cashier's request (shoppers).
#[utoipa::path(post, path = "/api/v1/qr/payments", tag = "qr", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header)), request_body = CodePaymentRequest,
    responses((status = 201, body = MovementResponse), (status = "4XX", body = ErrorEnvelope)))]
async fn pay_by_code(
    State(app): State<App>,
    m: Money<CodePaymentRequest>,
) -> Result<Answer<MovementResponse>, AppError> {
    uc::pay_by_code(&app, m.caller.who, m.body, m.idempotency).await
}

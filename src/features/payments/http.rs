//! Routes that move money (store refunds included), and the ledger reads (balances, transactions, integrity check).
//! Every POST here takes an Idempotency-Key.

use axum::Json;
use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::App;
use crate::error::{AppError, ErrorEnvelope};
use crate::features::directory::caller::{Caller, Money};
use crate::features::payments::reads::{
    self, AccountBalance, AggregatesCheck, LedgerCheck, TransactionView,
};
use crate::features::payments::{self as uc, *};
use crate::http::extract::Path;
use crate::writer::Answer;
use machipay_domain::ids::*;

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(counter_charge))
        .routes(routes!(pay))
        .routes(routes!(transfer))
        .routes(routes!(reverse))
        .routes(routes!(refund))
        .routes(routes!(get_transaction))
        .routes(routes!(shopper_balances))
        .routes(routes!(merchant_balances))
        .routes(routes!(ledger_check))
        .routes(routes!(aggregates_check))
        .routes(routes!(ledger_check_incremental))
}

/// Charge a shopper's wallet with yen paid at the counter (operator staff).
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/charges", tag = "money", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("Idempotency-Key" = String, Header)),
    request_body = CounterChargeRequest,
    responses((status = 201, body = MovementResponse), (status = "4XX", body = ErrorEnvelope)))]
async fn counter_charge(
    State(app): State<App>,
    Path(program): Path<ProgramId>,
    m: Money<CounterChargeRequest>,
) -> Result<Answer<MovementResponse>, AppError> {
    uc::counter_charge(&app, m.caller.who, program, m.body, m.idempotency).await
}

/// Pay a store from the caller's wallet (shoppers). Premium is spent before paid coin.
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/payments", tag = "money", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("Idempotency-Key" = String, Header)),
    request_body = PaymentRequest,
    responses((status = 201, body = MovementResponse), (status = "4XX", body = ErrorEnvelope)))]
async fn pay(
    State(app): State<App>,
    Path(program): Path<ProgramId>,
    m: Money<PaymentRequest>,
) -> Result<Answer<MovementResponse>, AppError> {
    uc::pay(&app, m.caller.who, program, m.body, m.idempotency).await
}

/// Send paid coin to another shopper (shoppers; only where the program allows it).
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/transfers", tag = "money", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("Idempotency-Key" = String, Header)),
    request_body = TransferRequest,
    responses((status = 201, body = MovementResponse), (status = "4XX", body = ErrorEnvelope)))]
async fn transfer(
    State(app): State<App>,
    Path(program): Path<ProgramId>,
    m: Money<TransferRequest>,
) -> Result<Answer<MovementResponse>, AppError> {
    uc::transfer(&app, m.caller.who, program, m.body, m.idempotency).await
}

/// Reverse a transaction with an exactly opposite one (operator staff). Once per transaction.
#[utoipa::path(post, path = "/api/v1/transactions/{transaction_id}/reversals", tag = "money", security(("bearer" = [])),
    params(("transaction_id" = TransactionId, Path), ("Idempotency-Key" = String, Header)),
    request_body = ReversalRequest,
    responses((status = 201, body = ReversalResponse), (status = "4XX", body = ErrorEnvelope)))]
async fn reverse(
    State(app): State<App>,
    Path(id): Path<TransactionId>,
    m: Money<ReversalRequest>,
) -> Result<Answer<ReversalResponse>, AppError> {
    uc::reverse(&app, m.caller.who, id, m.body, m.idempotency).await
}

/// Refund a payment the store received, fully or partly, within the program's window (the
/// store's devices and owner). The rebate it earned is taken back in proportion.
#[utoipa::path(post, path = "/api/v1/merchants/{merchant_id}/refunds", tag = "money", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path), ("Idempotency-Key" = String, Header)), request_body = RefundRequest,
    responses((status = 201, body = RefundResponse), (status = "4XX", body = ErrorEnvelope)))]
async fn refund(
    State(app): State<App>,
    Path(id): Path<MerchantId>,
    m: Money<RefundRequest>,
) -> Result<Answer<RefundResponse>, AppError> {
    uc::refund(&app, m.caller.who, id, m.body, m.idempotency).await
}

/// One transaction with its postings (staff of the city, or a shopper or store it touches).
#[utoipa::path(get, path = "/api/v1/transactions/{transaction_id}", tag = "money", security(("bearer" = [])),
    params(("transaction_id" = TransactionId, Path)),
    responses((status = 200, body = TransactionView), (status = "4XX", body = ErrorEnvelope)))]
async fn get_transaction(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<TransactionId>,
) -> Result<Json<TransactionView>, AppError> {
    reads::transaction(&app, c.who, id).await.map(Json)
}

/// A shopper's balances in every program (the shopper, or staff).
#[utoipa::path(get, path = "/api/v1/shoppers/{shopper_id}/balances", tag = "money", security(("bearer" = [])),
    params(("shopper_id" = ShopperId, Path)),
    responses((status = 200, body = Vec<AccountBalance>), (status = "4XX", body = ErrorEnvelope)))]
async fn shopper_balances(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ShopperId>,
) -> Result<Json<Vec<AccountBalance>>, AppError> {
    reads::shopper_balances(&app, c.who, id).await.map(Json)
}

/// What the program owes a store, per asset (the store's owner and devices, or staff).
#[utoipa::path(get, path = "/api/v1/merchants/{merchant_id}/balances", tag = "money", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path)),
    responses((status = 200, body = Vec<AccountBalance>), (status = "4XX", body = ErrorEnvelope)))]
async fn merchant_balances(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<MerchantId>,
) -> Result<Json<Vec<AccountBalance>>, AppError> {
    reads::merchant_balances(&app, c.who, id).await.map(Json)
}

/// Recompute every balance from postings and lots and report disagreements (staff).
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/ledger-check", tag = "money", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path)),
    responses((status = 200, body = LedgerCheck), (status = "4XX", body = ErrorEnvelope)))]
async fn ledger_check(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ProgramId>,
) -> Result<Json<LedgerCheck>, AppError> {
    reads::ledger_check(&app, c.who, id).await.map(Json)
}

/// Recompute the report aggregates from postings and name the first row that differs (staff).
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/aggregates-check", tag = "money", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path)),
    responses((status = 200, body = AggregatesCheck), (status = "4XX", body = ErrorEnvelope)))]
async fn aggregates_check(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ProgramId>,
) -> Result<Json<AggregatesCheck>, AppError> {
    reads::aggregates_check(&app, c.who, id).await.map(Json)
}

/// Check only what came after the last full check that passed (its checkpoint): new
/// transactions balance, every balance = checkpoint + postings since, new returns within
/// their originals (staff). Without a checkpoint, from the first posting.
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/ledger-check/incremental", tag = "money", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path)),
    responses((status = 200, body = LedgerCheck), (status = "4XX", body = ErrorEnvelope)))]
async fn ledger_check_incremental(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ProgramId>,
) -> Result<Json<LedgerCheck>, AppError> {
    crate::features::payments::check::incremental_as(&app, c.who, id)
        .await
        .map(Json)
}

//! The published list of error codes: every code the API can answer with, gathered from each
//! capability's refusal enum (`refusals!`) and the framework's own. Served at
//! `GET /api/v1/error-codes` (no sign-in needed); the web app's translations are tested
//! against it, so the API cannot gain a code the apps cannot say.

use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::App;
use crate::error::{self, Common, ErrorCode};
use crate::features::directory::DirectoryRefusal;
use crate::http::refusals::RequestRefusal;

/// Every refusal enum's codes with the enum that declares them. A capability that declares a
/// refusal enum adds it here. Each code is declared by one enum only (tested): the others use
/// that enum's variant.
pub fn declarations() -> Vec<(&'static str, ErrorCode)> {
    use crate::features::{campaigns, merchants, points};
    let enums: &[(&str, &[ErrorCode])] = &[
        (Common::NAME, Common::CODES),
        (RequestRefusal::NAME, RequestRefusal::CODES),
        (DirectoryRefusal::NAME, DirectoryRefusal::CODES),
        (
            crate::features::sign_in::SignInRefusal::NAME,
            crate::features::sign_in::SignInRefusal::CODES,
        ),
        (
            crate::features::sign_in::PasskeyRefusal::NAME,
            crate::features::sign_in::PasskeyRefusal::CODES,
        ),
        (
            crate::features::qr::QrRefusal::NAME,
            crate::features::qr::QrRefusal::CODES,
        ),
        (
            points::refusals::PointRefusal::NAME,
            points::refusals::PointRefusal::CODES,
        ),
        (
            points::refusals::CardRefusal::NAME,
            points::refusals::CardRefusal::CODES,
        ),
        (
            campaigns::premium::PremiumRefusal::NAME,
            campaigns::premium::PremiumRefusal::CODES,
        ),
        (
            campaigns::lottery::LotteryRefusal::NAME,
            campaigns::lottery::LotteryRefusal::CODES,
        ),
        (
            campaigns::rebates::RebateRefusal::NAME,
            campaigns::rebates::RebateRefusal::CODES,
        ),
        (
            crate::features::SettingsRefusal::NAME,
            crate::features::SettingsRefusal::CODES,
        ),
        (
            crate::features::settlement::SettlementRefusal::NAME,
            crate::features::settlement::SettlementRefusal::CODES,
        ),
        (
            crate::features::payments::PaymentRefusal::NAME,
            crate::features::payments::PaymentRefusal::CODES,
        ),
        (
            crate::features::expiry::ExpiryRefusal::NAME,
            crate::features::expiry::ExpiryRefusal::CODES,
        ),
        (
            merchants::MerchantRefusal::NAME,
            merchants::MerchantRefusal::CODES,
        ),
        (
            merchants::import::ImportLineRefusal::NAME,
            merchants::import::ImportLineRefusal::CODES,
        ),
        (
            crate::features::city_report::CityReportRefusal::NAME,
            crate::features::city_report::CityReportRefusal::CODES,
        ),
    ];
    enums
        .iter()
        .flat_map(|(name, codes)| codes.iter().map(move |c| (*name, *c)))
        .collect()
}

/// Every enum's codes, in one list.
pub fn catalogue() -> Vec<ErrorCode> {
    let mut all: Vec<ErrorCode> = declarations().into_iter().map(|(_, c)| c).collect();
    // A code answering with two statuses (`code_revoked`: 422 scanned, 410 for its image) is
    // listed once per status.
    all.sort_by_key(|c| (c.code, c.status));
    all.dedup_by_key(|c| (c.code, c.status));
    all
}

/// The list as served: each code, its kind and status, plus the 503s (`unavailable`,
/// `overloaded`, `outcome_unknown`) and `internal` (500).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorCodeList {
    pub codes: Vec<ErrorCode>,
    /// Answered with 503 when nothing was written: retry with the same Idempotency-Key.
    pub unavailable: &'static str,
    /// Answered with 503 when the writer's queue is full: nothing was done; retry after
    /// `Retry-After` seconds.
    pub overloaded: &'static str,
    /// Answered with 503 when a write with an Idempotency-Key ran past the request limit: it
    /// may or may not have been done; retry with the same key to learn which (never twice).
    pub outcome_unknown: &'static str,
    /// Answered with 500: a bug, logged.
    pub internal: &'static str,
}

/// Every error code the API can answer with (no sign-in needed).
#[utoipa::path(get, path = "/api/v1/error-codes", tag = "meta",
    responses((status = 200, body = ErrorCodeList)))]
async fn error_codes() -> Json<ErrorCodeList> {
    Json(ErrorCodeList {
        codes: catalogue(),
        unavailable: error::UNAVAILABLE,
        overloaded: error::OVERLOADED,
        outcome_unknown: error::OUTCOME_UNKNOWN,
        internal: error::INTERNAL,
    })
}

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(error_codes))
}

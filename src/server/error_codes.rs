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

/// Every enum's codes, in one list. A capability that declares a refusal enum adds it here.
pub fn catalogue() -> Vec<ErrorCode> {
    let lists: &[&[ErrorCode]] = &[
        Common::CODES,
        RequestRefusal::CODES,
        DirectoryRefusal::CODES,
        crate::features::qr::QrRefusal::CODES,
        crate::features::points::refusals::PointRefusal::CODES,
        crate::features::points::refusals::CardRefusal::CODES,
        crate::features::campaigns::premium::PremiumRefusal::CODES,
        crate::features::campaigns::rebates::RebateRefusal::CODES,
        crate::features::SettingsRefusal::CODES,
        crate::features::settlement::SettlementRefusal::CODES,
        crate::features::payments::PaymentRefusal::CODES,
        crate::features::expiry::ExpiryRefusal::CODES,
        crate::features::activity::ActivityRefusal::CODES,
        crate::features::merchants::MerchantRefusal::CODES,
        crate::features::merchants::import::ImportLineRefusal::CODES,
        crate::features::reports::ReportRefusal::CODES,
        crate::features::city_report::CityReportRefusal::CODES,
    ];
    let mut all: Vec<ErrorCode> = lists.iter().flat_map(|l| l.iter().copied()).collect();
    // A code shared by capabilities is listed once per status it answers with.
    all.sort_by_key(|c| (c.code, c.status));
    all.dedup_by_key(|c| (c.code, c.status));
    all
}

/// The list as served: each code, its kind and status, plus `unavailable` (503) and
/// `internal` (500).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorCodeList {
    pub codes: Vec<ErrorCode>,
    /// Answered with 503 when nothing was written: retry with the same Idempotency-Key.
    pub unavailable: &'static str,
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
        internal: error::INTERNAL,
    })
}

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(error_codes))
}

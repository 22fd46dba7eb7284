//! What the API of lottery sales shows: the lottery, applications and their results, draws,
//! the draw report (also the input of `machipay lottery-verify`), resident checks.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::features::campaigns::premium::{NewCampaignRequest, PremiumCampaign};
use machipay_domain::ids::*;

/// What happens to sets the winners did not buy in their period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unclaimed {
    /// A second draw among the applications that lost the first, for the sets left.
    SecondDraw,
    /// Anyone may buy them (per-person limit) until the sale ends.
    FirstCome,
}

impl Unclaimed {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SecondDraw => "second_draw",
            Self::FirstCome => "first_come",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "second_draw" => Some(Self::SecondDraw),
            "first_come" => Some(Self::FirstCome),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLotteryRequest {
    /// The premium-set campaign: its sale period is the winners' purchase period and after.
    pub campaign: NewCampaignRequest,
    #[serde(deserialize_with = "machipay_domain::calendar::deserialize_micros")]
    pub applications_open_at: DateTime<Utc>,
    /// Still in the future: the seed's hash is published before the window closes.
    #[serde(deserialize_with = "machipay_domain::calendar::deserialize_micros")]
    pub applications_close_at: DateTime<Utc>,
    /// Winners buy from the campaign's `sale_starts_at` until this instant (before its
    /// `sale_ends_at`); then the unclaimed sets are re-offered.
    #[serde(deserialize_with = "machipay_domain::calendar::deserialize_micros")]
    pub winners_buy_until: DateTime<Utc>,
    /// Only shoppers city staff checked as residents may apply.
    #[serde(default)]
    pub residents_only: bool,
    pub unclaimed: Unclaimed,
    /// Hex SHA-256 (64 lowercase digits) of the secret seed, published at once and never
    /// changed; the seed itself is revealed at the draw.
    pub seed_hash: String,
}

/// A lottery sale and where it stands.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LotteryView {
    pub campaign: PremiumCampaign,
    pub applications_open_at: DateTime<Utc>,
    pub applications_close_at: DateTime<Utc>,
    pub winners_buy_until: DateTime<Utc>,
    pub residents_only: bool,
    pub unclaimed: Unclaimed,
    /// Published from the lottery's creation: SHA-256 of the seed, hex.
    pub seed_hash: String,
    /// The seed, once revealed by the first draw.
    pub seed: Option<String>,
    pub applications: i64,
    pub draws: Vec<DrawView>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// Sets wanted, 1 to the campaign's per-person limit; won whole or not at all.
    pub units: i32,
}

/// A shopper's application and its result (what the wallet shows).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LotteryApplication {
    pub campaign_id: PremiumCampaignId,
    pub shopper_id: ShopperId,
    pub units: i32,
    pub applied_at: DateTime<Utc>,
    /// `pending` (not drawn yet), `won` or `lost` (a second draw may still come).
    pub result: String,
    /// The draw it won in (1 or 2).
    pub won_round: Option<i32>,
    /// A winner buys from `buy_from` until `buy_until`.
    pub buy_from: Option<DateTime<Utc>>,
    pub buy_until: Option<DateTime<Utc>>,
    pub units_bought: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrawRequest {
    /// The seed whose SHA-256 was published: 16 to 128 visible ASCII characters.
    pub seed: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DrawView {
    /// 1, then 2 for the unclaimed sets of a `second_draw` lottery.
    pub round: i32,
    /// Whole sets the draw had to give (what the budget had left).
    pub budget_units: i64,
    /// Applications in the draw's pool.
    pub pool: i64,
    pub winners: i64,
    pub units_won: i64,
    pub drawn_at: DateTime<Utc>,
}

/// One application in the draw report, in the canonical order (shopper id).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReportLine {
    pub shopper_id: ShopperId,
    pub units: i32,
    pub applied_at: DateTime<Utc>,
    pub won_round: Option<i32>,
    pub units_bought: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ReportTotals {
    pub applications: i64,
    pub units_applied: i64,
    pub winners: i64,
    pub units_won: i64,
    /// Sets bought by winners.
    pub units_bought: i64,
    /// Sets won but not bought.
    pub units_unclaimed: i64,
}

/// The draw report: every application with its result, the draws and the totals. Published
/// as it is, it is what `machipay lottery-verify` re-runs the draws from.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DrawReport {
    pub campaign_id: PremiumCampaignId,
    pub name: String,
    pub seed_hash: String,
    pub seed: Option<String>,
    pub draws: Vec<DrawView>,
    pub applications: Vec<ReportLine>,
    pub totals: ReportTotals,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResidentCheckRequest {
    /// The date staff checked the shopper's residence.
    pub verified_on: NaiveDate,
    /// How (e.g. "マイナンバーカード", "住民票"): 1 to 100 characters.
    pub method: String,
}

/// A shopper checked as a resident by city staff.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ResidentCheck {
    pub shopper_id: ShopperId,
    pub verified_on: NaiveDate,
    pub method: String,
    #[schema(value_type = String, format = Uuid)]
    pub verified_by: Uuid,
    pub created_at: DateTime<Utc>,
}

//! What the API of rebates shows: campaign terms and where a campaign stands, store
//! categories, and what a grant run did.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::features::campaigns::rebates::store::RebateCampaignRow;
use machipay_domain::ids::*;
use machipay_domain::money::{Amount, Points};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Store category, e.g. "member", "non_member", "convenience", "large".
    pub category: String,
    /// Fraction of the yen paid returned as points: "0.2" is 20 %; "0" states a category the
    /// campaign leaves out (e.g. large stores 0 %).
    #[schema(value_type = String, example = "0.2")]
    pub rate: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantMode {
    /// Points arrive with the payment.
    Immediate,
    /// Points accrue and are granted on `grant_on`.
    Batch,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRebateCampaignRequest {
    pub name: String,
    pub tiers: Vec<Tier>,
    pub monthly_cap_points: Amount,
    pub budget_points: Amount,
    #[serde(deserialize_with = "machipay_domain::calendar::deserialize_micros")]
    pub starts_at: DateTime<Utc>,
    #[serde(deserialize_with = "machipay_domain::calendar::deserialize_micros")]
    pub ends_at: DateTime<Utc>,
    pub grant_mode: GrantMode,
    /// Required for batch campaigns: the JST date the points are granted.
    pub grant_on: Option<NaiveDate>,
    /// Last JST date the points may be spent; never if omitted.
    pub points_expire_on: Option<NaiveDate>,
}

/// Where a campaign stands, as the shopper should read its terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Not started yet.
    Scheduled,
    /// Rebating payments now.
    Running,
    /// Within its period, but the budget is spent: payments earn nothing more.
    BudgetExhausted,
    /// Past its end.
    Ended,
}

/// A campaign with where it stands and what is left of its budget.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RebateCampaignView {
    pub id: RebateCampaignId,
    pub program_id: ProgramId,
    pub name: String,
    /// JSON text of the tiers.
    pub tiers: String,
    pub monthly_cap_points: Points,
    pub budget_points: Points,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub grant_mode: String,
    pub grant_on: Option<NaiveDate>,
    pub points_expire_on: Option<NaiveDate>,
    #[schema(value_type = String, format = Uuid)]
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub status: CampaignStatus,
    /// Points given so far, net of claw-backs (points refunds could not take back count).
    pub points_used: Points,
    pub budget_remaining_points: Points,
}

impl RebateCampaignView {
    /// A campaign with `used` points given so far, as it stands at `now`.
    pub fn new(c: RebateCampaignRow, used: i64, now: DateTime<Utc>) -> Self {
        let remaining = (c.budget_points - used).max(0);
        let status = if now < c.starts_at {
            CampaignStatus::Scheduled
        } else if now >= c.ends_at {
            CampaignStatus::Ended
        } else if remaining == 0 {
            CampaignStatus::BudgetExhausted
        } else {
            CampaignStatus::Running
        };
        Self {
            id: c.id,
            program_id: c.program_id,
            name: c.name,
            tiers: c.tiers,
            monthly_cap_points: Points::new(c.monthly_cap_points),
            budget_points: Points::new(c.budget_points),
            starts_at: c.starts_at,
            ends_at: c.ends_at,
            grant_mode: c.grant_mode,
            grant_on: c.grant_on,
            points_expire_on: c.points_expire_on,
            created_by: c.created_by,
            created_at: c.created_at,
            status,
            points_used: Points::new(used),
            budget_remaining_points: Points::new(remaining),
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryRequest {
    /// The store's rebate category; null clears it.
    pub category: Option<String>,
}

/// A store's rebate category as set.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CategoryResponse {
    /// Null: the store has none (earns no rebate).
    pub category: Option<String>,
    pub merchant_id: MerchantId,
}

/// What a grant run did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct GrantRun {
    pub as_of: Option<NaiveDate>,
    pub accruals: i64,
    pub points: Points,
}

/// What one grant job did: accruals granted and points posted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantBatch {
    pub accruals: i64,
    pub points: Points,
}

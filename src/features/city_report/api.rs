//! What the city's report routes answer as JSON: the store report (counts, breakdowns, the
//! trend across 年度) and the usage report. The CSV and SVG forms are rendered from these in
//! `city_report::render`.

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use crate::features::city_report::store::Usage;
use machipay_domain::ids::{MerchantId, ProgramId};
use machipay_domain::registry::ParticipationKind;

/// Counts of one period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StoreCounts {
    /// Stores participating (joined, not left; suspended included) at the end of the period.
    pub registered_at_end: i64,
    /// Stores with at least one transaction in the period.
    pub active: i64,
    /// Stores that joined in the period.
    pub joined: i64,
    /// Stores that left in the period.
    pub left: i64,
    /// The target of the 年度 the period ends in, if set.
    pub target: Option<i64>,
    /// 達成率 = registered_at_end ÷ target × 100, one decimal, rounded half up ("101.8").
    pub achievement_rate: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct YearRow {
    pub fiscal_year: i32,
    /// "令和7年度".
    pub label: String,
    /// "2025年度".
    pub western_label: String,
    #[serde(flatten)]
    pub counts: StoreCounts,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupRow {
    /// The group (商店会, 業種, 地区 or size); "なし" for no 商店会, "未登録" without a profile.
    pub key: String,
    pub registered_at_end: i64,
    pub active: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Breakdowns {
    pub association: Vec<GroupRow>,
    pub industry: Vec<GroupRow>,
    pub district: Vec<GroupRow>,
    pub size_class: Vec<GroupRow>,
}

/// A store that joined, was suspended, resumed or left within the period (a participation
/// event), with its name and the reason recorded.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StoreChange {
    pub merchant_id: MerchantId,
    /// The store's name now.
    pub name: String,
    pub kind: ParticipationKind,
    pub effective_on: NaiveDate,
    pub reason: Option<String>,
}

/// The store report of a program for a period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StoreReport {
    pub program_id: ProgramId,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The last day the figures cover: `to`, or today (JST) while the period runs ("2026年12月6日現在").
    pub as_of: NaiveDate,
    pub fiscal_year: Option<i32>,
    /// "令和7年度 (2025)" or the date range.
    pub label: String,
    #[serde(flatten)]
    pub counts: StoreCounts,
    pub breakdowns: Breakdowns,
    /// Each 年度 from the first with a target or an event to the period's, oldest first.
    pub trend: Vec<YearRow>,
    /// The same days one year earlier (`from` to `as_of`, each less a year): year over year.
    pub previous_year: Option<StoreCounts>,
    /// Joins, suspensions, resumptions and withdrawals in the period, oldest first (at most
    /// `CHANGES_MAX`; `changes_truncated` says when more happened).
    pub changes: Vec<StoreChange>,
    pub changes_truncated: bool,
    /// How the breakdowns were made (profiles are not versioned).
    pub note: &'static str,
}

/// Usage of one month or one 年度.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsageRow {
    /// "2025-04" for a month, "令和7年度 (2025)" for a 年度, "合計" for the period.
    pub key: String,
    pub transactions: i64,
    pub value_yen: i64,
    pub active_shoppers: i64,
    pub points_issued: i64,
    pub points_redeemed: i64,
}

impl UsageRow {
    pub(crate) fn new(key: String, u: Usage) -> Self {
        Self {
            key,
            transactions: u.transactions,
            value_yen: u.value,
            active_shoppers: u.active_shoppers,
            points_issued: u.points_issued,
            points_redeemed: u.points_redeemed,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsageReport {
    pub program_id: ProgramId,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub label: String,
    /// The last day the figures cover: `to`, or today (JST) while the period runs.
    pub as_of: NaiveDate,
    pub months: Vec<UsageRow>,
    pub fiscal_years: Vec<UsageRow>,
    pub total: UsageRow,
    /// The total of the same days one year earlier (`from` to `as_of`, each less a year).
    pub previous_total: Option<UsageRow>,
}

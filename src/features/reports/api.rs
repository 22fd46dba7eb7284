//! What the report routes answer as JSON: the unused-balance report. Its CSV form is rendered
//! from this in `reports::render`.

use serde::Serialize;
use utoipa::ToSchema;

use machipay_domain::ids::ProgramId;
use machipay_domain::prepaid_law::UnusedBalanceReport;

/// The unused-balance report of one program at the end of one JST date.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnusedBalanceView {
    pub program_id: ProgramId,
    /// Whether the date is a 基準日 (31 March or 30 September), i.e. a report to file.
    pub is_reference_date: bool,
    #[serde(flatten)]
    pub report: UnusedBalanceReport,
}

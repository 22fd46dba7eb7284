//! Regulatory reports for city staff. The unused-balance report (未使用残高) of the
//! prepaid-instrument law is recomputed from postings for the end of the asked JST date, so a
//! past date's figures never change, whatever happened since.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::domain::auth::{Capability, Principal};
use crate::domain::calendar::{
    is_reference_date, jst_date, jst_end_of_day_utc, latest_closed_reference_date,
};
use crate::domain::ids::ProgramId;
use crate::domain::ledger::Asset;
use crate::domain::prepaid_law::{UnusedBalanceReport, UnusedBalances};
use crate::error::AppError;
use crate::storage::reports as store;

/// The unused-balance report of one program at the end of one JST date.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnusedBalanceView {
    pub program_id: ProgramId,
    /// Whether the date is a 基準日 (31 March or 30 September), i.e. a report to file.
    pub is_reference_date: bool,
    #[serde(flatten)]
    pub report: UnusedBalanceReport,
}

impl UnusedBalanceView {
    /// CSV column names: the program, the report's own columns, then `is_reference_date`
    /// (the same names as the JSON fields).
    pub fn csv_header() -> Vec<&'static str> {
        let mut header = vec!["program_id"];
        header.extend(UnusedBalanceReport::csv_header());
        header.push("is_reference_date");
        header
    }

    /// One CSV record in `csv_header` order.
    pub fn csv_row(&self) -> Vec<String> {
        let mut row = vec![self.program_id.to_string()];
        row.extend(self.report.to_csv_row());
        row.push(self.is_reference_date.to_string());
        row
    }
}

/// The unused balance of `program` at the end of `date` (JST), staff of the program's city
/// only. Without a date, the latest 基準日 that has ended at `now`. A date after today (JST)
/// is refused: its figures do not exist yet. Today's figures are those so far.
pub async fn unused_balance(
    app: &App,
    who: Principal,
    program: ProgramId,
    date: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<UnusedBalanceView, AppError> {
    if !who.can(Capability::ViewCity) {
        return Err(AppError::forbidden());
    }
    let program = crate::storage::directory::get_program(&app.db, program)
        .await?
        .filter(|p| p.city_id == who.city())
        .ok_or_else(|| AppError::not_found("program"))?;
    let date = match date {
        Some(d) => d,
        None => latest_closed_reference_date(now)
            .ok_or_else(|| AppError::Internal("no reference date before now".into()))?,
    };
    let today = jst_date(now);
    if date > today {
        return Err(AppError::unprocessable(
            "date_in_future",
            format!("{date} has not begun yet (today is {today} JST)"),
        ));
    }
    let totals = store::wallet_totals_before(&app.db, program.id, jst_end_of_day_utc(date)).await?;
    let of = |asset: Asset| {
        totals
            .iter()
            .filter(|(a, _)| *a == asset)
            .map(|(_, n)| *n)
            .sum::<i64>()
    };
    let balances = UnusedBalances {
        paid_yen: of(Asset::Coin),
        premium_yen: of(Asset::Premium),
        free_points: of(Asset::Points),
    };
    let report = UnusedBalanceReport::compute_as_of(date, balances)
        .map_err(|e| AppError::Internal(format!("unused balance report: {e}")))?;
    Ok(UnusedBalanceView {
        program_id: program.id,
        is_reference_date: is_reference_date(date),
        report,
    })
}

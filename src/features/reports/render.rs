//! The unused-balance report (未使用残高) as CSV for Excel: a header row of Japanese column
//! names and one record.

use crate::error::AppError;
use crate::features::reports::UnusedBalanceView;
use crate::http::render::csv::csv_for_excel;
use machipay_domain::prepaid_law::UnusedBalanceReport;

/// The program, the report's own columns, then whether the date is a 基準日.
pub(crate) fn unused_balance_csv(view: &UnusedBalanceView) -> Result<Vec<u8>, AppError> {
    let mut header = vec!["プログラムID"];
    header.extend(UnusedBalanceReport::csv_header());
    header.push("基準日該当");
    let mut row = vec![view.program_id.to_string()];
    row.extend(view.report.csv_cells());
    row.push(
        if view.is_reference_date {
            "はい"
        } else {
            "いいえ"
        }
        .to_owned(),
    );
    csv_for_excel(&header, [row])
}

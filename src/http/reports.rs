//! Report routes for city staff: the unused-balance report of the prepaid-instrument law, as
//! JSON or CSV.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{Caller, Path};
use crate::app::App;
use crate::domain::ids::ProgramId;
use crate::error::{AppError, ErrorEnvelope};
use crate::ledger::reports::{self as uc, UnusedBalanceView};

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(unused_balance))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct UnusedBalanceQuery {
    /// The JST date at whose end balances are measured (YYYY-MM-DD), today at the latest.
    /// Default: the latest 基準日 (31 March or 30 September) that has ended.
    #[param(format = Date)]
    date: Option<String>,
    /// `json` (default) or `csv`.
    #[param(value_type = Option<super::params::JsonOrCsv>)]
    format: Option<String>,
}

/// 未使用残高: the unused paid coin and premium of a program at the end of a JST date, the
/// excess over ¥10,000,000 and the deposit owed (half the excess, rounded up); free points
/// apart. Recomputed from postings, so a past date's report never changes (staff).
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/reports/unused-balance", tag = "reports", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), UnusedBalanceQuery),
    responses(
        (status = 200, description = "The report; `format=csv` answers a header row and one record",
            content((UnusedBalanceView = "application/json"), (String = "text/csv"))),
        (status = "4XX", body = ErrorEnvelope)))]
async fn unused_balance(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ProgramId>,
    query: Result<Query<UnusedBalanceQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let Query(q) = query.map_err(|e| AppError::bad_request("invalid_query", e.body_text()))?;
    let date = q
        .date
        .as_deref()
        .map(|s| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                AppError::bad_request("invalid_date", "date must be a date as YYYY-MM-DD")
            })
        })
        .transpose()?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            return Err(AppError::bad_request(
                "invalid_format",
                "format must be json or csv",
            ));
        }
    };
    let view = uc::unused_balance(&app, c.who, id, date, Utc::now()).await?;
    if !csv {
        return Ok(Json(view).into_response());
    }
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(UnusedBalanceView::csv_header())
        .and_then(|()| out.write_record(view.csv_row()))
        .map_err(|e| AppError::Internal(format!("csv: {e}")))?;
    let body = out
        .into_inner()
        .map_err(|e| AppError::Internal(format!("csv: {e}")))?;
    let filename = format!(
        "attachment; filename=\"unused-balance-{}.csv\"",
        view.report.reference_date()
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        body,
    )
        .into_response())
}

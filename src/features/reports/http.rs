//! Report routes for city staff: the unused-balance report of the prepaid-instrument law, as
//! JSON or CSV.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::App;
use crate::error::{AppError, ErrorEnvelope};
use crate::features::directory::caller::Caller;
use crate::features::reports::{self as uc, UnusedBalanceView};
use crate::http::extract::{Path, Query};
use crate::http::refusals::RequestRefusal;
use machipay_domain::ids::ProgramId;

pub(crate) fn router() -> OpenApiRouter<App> {
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
    #[param(value_type = Option<crate::http::params::JsonOrCsv>)]
    format: Option<String>,
}

/// 未使用残高: the unused paid coin and premium of a program at the end of a JST date and the
/// deposit owed (要供託額: half of the whole balance, rounded up, once it exceeds
/// ¥10,000,000; 資金決済法 第14条1項), with the half-year's 発行額 (issued) and 回収額 (used);
/// free points apart. Recomputed from postings, so a past date's report never changes
/// (staff). CSV for Excel: UTF-8 with a BOM, CRLF, Japanese headers.
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/reports/unused-balance", tag = "reports", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), UnusedBalanceQuery),
    responses(
        (status = 200, description = "The report; `format=csv` answers a header row and one record (UTF-8 with BOM, CRLF, Japanese headers)",
            content((UnusedBalanceView = "application/json"), (String = "text/csv"))),
        (status = "4XX", body = ErrorEnvelope)))]
async fn unused_balance(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ProgramId>,
    Query(q): Query<UnusedBalanceQuery>,
) -> Result<Response, AppError> {
    let date = q
        .date
        .as_deref()
        .map(|s| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| RequestRefusal::InvalidDate("date"))
        })
        .transpose()?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(RequestRefusal::FormatNotJsonOrCsv.into()),
    };
    let view = uc::unused_balance(&app, c.who, id, date, Utc::now()).await?;
    if !csv {
        return Ok(Json(view).into_response());
    }
    let body = crate::features::reports::render::unused_balance_csv(&view)?;
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

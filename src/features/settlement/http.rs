//! Settlement routes: run a cycle, read runs and statements (JSON or CSV), download the run's
//! 全銀 総合振込 file, confirm a run as paid, and a store's own statements.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::App;
use crate::error::{AppError, ErrorEnvelope};
use crate::features::settlement::{self as uc, RunRequest, RunView, StatementView};
use crate::http::extract::{Body, Caller, Money, Path};
use crate::writer::Reply;
use machipay_domain::ids::*;

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(run_cycle, list_runs))
        .routes(routes!(statements))
        .routes(routes!(zengin))
        .routes(routes!(confirm))
        .routes(routes!(merchant_statements))
}

/// Run the settlement cycle closing on `closing_date` (operator staff or city admins). The
/// cycle must have ended (JST), else 409 `cycle_still_open`. Running a cycle again answers
/// the existing run and changes nothing, so the answer is always 200. The cycle is computed
/// under the settings in force on its closing date. A transfer date not after today is 422
/// `transfer_date_in_past`, one in a year without holiday data 422 `holiday_data_not_covered`.
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/settlement-runs", tag = "settlement", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path)), request_body = RunRequest,
    responses((status = 200, body = RunView), (status = "4XX", body = ErrorEnvelope)))]
async fn run_cycle(
    State(app): State<App>,
    c: Caller,
    Path(program): Path<ProgramId>,
    Body(req): Body<RunRequest>,
) -> Result<Reply, AppError> {
    uc::run_cycle(&app, c.who, program, req).await
}

/// The program's runs, newest cycle first (staff).
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/settlement-runs", tag = "settlement", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path)),
    responses((status = 200, body = Vec<RunView>), (status = "4XX", body = ErrorEnvelope)))]
async fn list_runs(
    State(app): State<App>,
    c: Caller,
    Path(program): Path<ProgramId>,
) -> Result<Json<Vec<RunView>>, AppError> {
    uc::list_runs(&app, c.who, program).await.map(Json)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct FormatQuery {
    /// `json` (default) or `csv` (UTF-8 with BOM, CRLF, Japanese headers).
    #[param(value_type = Option<crate::http::params::JsonOrCsv>)]
    format: Option<String>,
}

/// A run's statements, one per store (staff).
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/settlement-runs/{run_id}/statements", tag = "settlement", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("run_id" = SettlementRunId, Path), FormatQuery),
    responses((status = 200, description = "The statements", content((Vec<StatementView> = "application/json"), (String = "text/csv"))),
        (status = "4XX", body = ErrorEnvelope)))]
async fn statements(
    State(app): State<App>,
    c: Caller,
    Path((program, run)): Path<(ProgramId, SettlementRunId)>,
    query: Result<Query<FormatQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let Query(q) = query.map_err(|e| AppError::bad_request("invalid_query", e.body_text()))?;
    let csv = wants_csv(q.format.as_deref())?;
    let rows = uc::statements(&app, c.who, program, run).await?;
    if !csv {
        return Ok(Json(rows).into_response());
    }
    let body = uc::statements_csv(&rows)?;
    let filename = format!("attachment; filename=\"statements-{run}.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        body,
    )
        .into_response())
}

/// The run's 全銀 総合振込 file: Shift_JIS, 120-byte records with CRLF (operator staff or
/// city admins).
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/settlement-runs/{run_id}/zengin", tag = "settlement", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("run_id" = SettlementRunId, Path)),
    responses((status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>),
        (status = "4XX", body = ErrorEnvelope)))]
async fn zengin(
    State(app): State<App>,
    c: Caller,
    Path((program, run)): Path<(ProgramId, SettlementRunId)>,
) -> Result<Response, AppError> {
    let (run, file) = uc::zengin_file(&app, c.who, program, run).await?;
    let filename = format!("attachment; filename=\"furikomi-{}.txt\"", run.closing_date);
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        file,
    )
        .into_response())
}

/// Confirm a run as paid: posts each payable store's payout once (operator staff or city
/// admins). Confirming again answers the run and posts nothing.
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/settlement-runs/{run_id}/confirm", tag = "settlement", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("run_id" = SettlementRunId, Path), ("Idempotency-Key" = String, Header)),
    request_body = serde_json::Value,
    responses((status = 200, body = RunView), (status = "4XX", body = ErrorEnvelope)))]
async fn confirm(
    State(app): State<App>,
    Path((program, run)): Path<(ProgramId, SettlementRunId)>,
    m: Money<serde_json::Value>,
) -> Result<Reply, AppError> {
    uc::confirm(&app, m.caller.who, program, run, m.idempotency).await
}

/// A store's statements, newest first, as JSON or CSV (staff, the store's owner and devices).
#[utoipa::path(get, path = "/api/v1/merchants/{merchant_id}/statements", tag = "settlement", security(("bearer" = [])),
    params(("merchant_id" = MerchantId, Path), FormatQuery),
    responses((status = 200, description = "The statements", content((Vec<StatementView> = "application/json"), (String = "text/csv"))),
        (status = "4XX", body = ErrorEnvelope)))]
async fn merchant_statements(
    State(app): State<App>,
    c: Caller,
    Path(merchant): Path<MerchantId>,
    query: Result<Query<FormatQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let Query(q) = query.map_err(|e| AppError::bad_request("invalid_query", e.body_text()))?;
    let csv = wants_csv(q.format.as_deref())?;
    let rows = uc::merchant_statements(&app, c.who, merchant).await?;
    if !csv {
        return Ok(Json(rows).into_response());
    }
    let body = uc::statements_csv(&rows)?;
    let filename = format!("attachment; filename=\"statements-{merchant}.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        body,
    )
        .into_response())
}

/// `json` (default, None) or `csv`; anything else is `invalid_format`.
fn wants_csv(format: Option<&str>) -> Result<bool, AppError> {
    match format {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(_) => Err(AppError::bad_request(
            "invalid_format",
            "format must be json or csv",
        )),
    }
}

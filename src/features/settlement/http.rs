//! Settlement routes: run a cycle, read runs and statements (JSON or CSV), download the run's
//! 全銀 総合振込 file, confirm a run as paid, and a store's own statements; and the request
//! and response types they show.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::App;
use crate::error::{AppError, ErrorEnvelope};
use crate::features::directory::caller::{Caller, Money};
use crate::features::settlement as uc;
use crate::features::settlement::store::{RunRow, StatementRow};
use crate::http::extract::{Body, Path, Query};
use crate::http::refusals::RequestRefusal;
use crate::writer::Answer;
use machipay_domain::ids::*;
use machipay_domain::money::{Points, Yen};
use machipay_domain::registry::BankAccountView;

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// The cycle's closing date (a closing day under the program's settings, already ended in
    /// JST).
    pub closing_date: NaiveDate,
    /// 振込指定日: a business day (no weekend, public holiday or 12/31–1/3) after the closing
    /// date and after today (JST). Default: the fifth business day after the closing date,
    /// or for a late run that finds that day come, the next business day after today.
    #[serde(default)]
    pub transfer_date: Option<NaiveDate>,
}

/// A run and its totals.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    pub id: SettlementRunId,
    pub program_id: ProgramId,
    pub closing_date: NaiveDate,
    pub transfer_date: NaiveDate,
    /// `calculated`, or `paid` once confirmed.
    pub status: String,
    /// Who ran it (a staff id). Someone else confirms it (the two-person rule).
    pub created_by: uuid::Uuid,
    pub created_at: DateTime<Utc>,
    /// Who confirmed it, once paid.
    pub confirmed_by: Option<uuid::Uuid>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub payable_statements: usize,
    pub held_statements: usize,
    pub total_payable_yen: Yen,
}

impl RunView {
    /// The run with the totals of its statements.
    pub fn new(run: RunRow, statements: &[StatementRow]) -> Result<Self, AppError> {
        let payable: Vec<_> = statements
            .iter()
            .filter(|s| s.status == "payable")
            .collect();
        let total_payable_yen = Yen::sum(payable.iter().map(|s| Yen::new(s.net_payable_yen)))
            .map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(Self {
            id: run.id,
            program_id: run.program_id,
            closing_date: run.closing_date,
            transfer_date: run.transfer_date,
            status: run.status,
            created_by: run.created_by,
            created_at: run.created_at,
            confirmed_by: run.confirmed_by,
            confirmed_at: run.confirmed_at,
            payable_statements: payable.len(),
            held_statements: statements.len() - payable.len(),
            total_payable_yen,
        })
    }
}

/// A store's statement in a run (immutable), with the account it pays to.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatementView {
    pub id: StatementId,
    pub run_id: SettlementRunId,
    pub merchant_id: MerchantId,
    /// `payable` (in the transfer file) or `held` (settles nothing; see hold_reason).
    pub status: String,
    /// `new_store`, `no_bank_account` or `nothing_payable`.
    pub hold_reason: Option<String>,
    pub transactions: i64,
    pub payments_yen: Yen,
    pub refunds_yen: Yen,
    pub coin_net: Yen,
    pub premium_net: Yen,
    pub points_received: Points,
    pub points_charged: Points,
    /// What a point was worth in yen for this statement ("1" in a currency program).
    pub point_value_yen: String,
    pub points_reimbursed_yen: Yen,
    pub points_charged_yen: Yen,
    pub fee_yen: Yen,
    pub net_payable_yen: Yen,
    pub created_at: DateTime<Utc>,
    pub bank_account: Option<BankAccountView>,
    /// A store's own statements only: the last day of the cycle the run closed (締め日).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closing_date: Option<NaiveDate>,
    /// A store's own statements only: the day the payout reaches the bank (振込指定日).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_date: Option<NaiveDate>,
}

impl TryFrom<StatementRow> for StatementView {
    type Error = AppError;
    fn try_from(s: StatementRow) -> Result<Self, AppError> {
        let bank_account = match &s.bank_account {
            Some(text) => {
                Some(serde_json::from_str(text).map_err(|e| AppError::Internal(e.to_string()))?)
            }
            None => None,
        };
        Ok(Self {
            id: s.id,
            run_id: s.run_id,
            merchant_id: s.merchant_id,
            status: s.status,
            hold_reason: s.hold_reason,
            transactions: s.transactions,
            payments_yen: Yen::new(s.payments_yen),
            refunds_yen: Yen::new(s.refunds_yen),
            coin_net: Yen::new(s.coin_net),
            premium_net: Yen::new(s.premium_net),
            points_received: Points::new(s.points_received),
            points_charged: Points::new(s.points_charged),
            point_value_yen: s.point_value_yen,
            points_reimbursed_yen: Yen::new(s.points_reimbursed_yen),
            points_charged_yen: Yen::new(s.points_charged_yen),
            fee_yen: Yen::new(s.fee_yen),
            net_payable_yen: Yen::new(s.net_payable_yen),
            created_at: s.created_at,
            bank_account,
            closing_date: None,
            transfer_date: None,
        })
    }
}

pub(crate) fn router() -> OpenApiRouter<App> {
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
) -> Result<Answer<RunView>, AppError> {
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
    Query(q): Query<FormatQuery>,
) -> Result<Response, AppError> {
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
/// admins other than the one who ran it: 409 `second_person_required`). Confirming again
/// answers the run and posts nothing.
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/settlement-runs/{run_id}/confirm", tag = "settlement", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ("run_id" = SettlementRunId, Path), ("Idempotency-Key" = String, Header)),
    request_body = serde_json::Value,
    responses((status = 200, body = RunView), (status = "4XX", body = ErrorEnvelope)))]
async fn confirm(
    State(app): State<App>,
    Path((program, run)): Path<(ProgramId, SettlementRunId)>,
    m: Money<serde_json::Value>,
) -> Result<Answer<RunView>, AppError> {
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
    Query(q): Query<FormatQuery>,
) -> Result<Response, AppError> {
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
        Some(_) => Err(RequestRefusal::FormatNotJsonOrCsv.into()),
    }
}

//! The city's report routes: stores against the yearly target (JSON, CSV for Excel, SVG
//! chart) and usage (JSON or CSV), for a 年度, a date range or up to a past date.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::App;
use crate::error::{AppError, ErrorEnvelope};
use crate::features::city_report::render;
use crate::features::city_report::{self as uc, Period, StoreReport, UsageReport};
use crate::features::directory::caller::Caller;
use crate::http::extract::{Path, Query};
use crate::http::refusals::RequestRefusal;
use machipay_domain::ids::ProgramId;

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(stores))
        .routes(routes!(usage))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReportQuery {
    /// A 年度: "2025", "令和7年度", "R7".
    fiscal_year: Option<String>,
    /// First JST date of a range (with `to`).
    from: Option<String>,
    /// Last JST date of a range, inclusive.
    to: Option<String>,
    /// The 年度 up to this JST date. Without any of these: the current 年度.
    date: Option<String>,
    /// `json` (default), `csv` or, for the store report, `svg`.
    #[param(value_type = Option<crate::http::params::ReportFormat>)]
    format: Option<String>,
    /// The words of the SVG chart: `ja` (default) or `en`.
    lang: Option<String>,
}

enum Format {
    Json,
    Csv,
    Svg(render::Lang),
}

fn parse_date(name: &'static str, s: Option<&str>) -> Result<Option<NaiveDate>, AppError> {
    s.map(|s| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| RequestRefusal::InvalidDate(name).into())
    })
    .transpose()
}

fn parse(q: ReportQuery, svg_allowed: bool) -> Result<(Period, Format), AppError> {
    let format = match q.format.as_deref() {
        None | Some("json") => Format::Json,
        Some("csv") => Format::Csv,
        Some("svg") if svg_allowed => Format::Svg(
            render::Lang::parse(q.lang.as_deref())
                .ok_or(RequestRefusal::InvalidFormat("lang must be ja or en"))?,
        ),
        Some(_) => return Err(RequestRefusal::InvalidFormat("unknown format").into()),
    };
    let period = Period::parse(
        q.fiscal_year.as_deref(),
        parse_date("from", q.from.as_deref())?,
        parse_date("to", q.to.as_deref())?,
        parse_date("date", q.date.as_deref())?,
        machipay_domain::calendar::jst_date(chrono::Utc::now()),
    )?;
    Ok((period, format))
}

fn file(content_type: &str, name: String, body: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// Participating stores of a program for a period: registered at its end, active in it,
/// joins, withdrawals, the target and 達成率, breakdowns by 商店会, 業種, 地区 and size, and the
/// trend across 年度 (staff). A period that ends before it starts is
/// `period_ends_before_start`.
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/reports/stores", tag = "reports", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ReportQuery),
    responses((status = 200, description = "The report",
            content((StoreReport = "application/json"), (String = "text/csv"), (String = "image/svg+xml"))),
        (status = "4XX", body = ErrorEnvelope)))]
async fn stores(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ProgramId>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, AppError> {
    let (period, format) = parse(q, true)?;
    let report = uc::store_report(&app, c.who, id, period).await?;
    Ok(match format {
        Format::Json => Json(report).into_response(),
        Format::Csv => file(
            "text/csv; charset=utf-8",
            format!("stores-{}-{}.csv", period.from, period.to),
            render::store_csv(&report)?,
        ),
        Format::Svg(lang) => file(
            "image/svg+xml; charset=utf-8",
            format!("stores-{}-{}.svg", period.from, period.to),
            render::store_svg(&report, lang),
        ),
    })
}

/// Usage of a program per JST month and per 年度: transactions paying stores, their value,
/// active shoppers, points issued and redeemed (staff).
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/reports/usage", tag = "reports", security(("bearer" = [])),
    params(("program_id" = ProgramId, Path), ReportQuery),
    responses((status = 200, description = "The report",
            content((UsageReport = "application/json"), (String = "text/csv"))),
        (status = "4XX", body = ErrorEnvelope)))]
async fn usage(
    State(app): State<App>,
    c: Caller,
    Path(id): Path<ProgramId>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, AppError> {
    let (period, format) = parse(q, false)?;
    let report = uc::usage_report(&app, c.who, id, period).await?;
    Ok(match format {
        Format::Csv => file(
            "text/csv; charset=utf-8",
            format!("usage-{}-{}.csv", period.from, period.to),
            render::usage_csv(&report)?,
        ),
        _ => Json(report).into_response(),
    })
}

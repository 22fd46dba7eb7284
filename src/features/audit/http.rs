//! The audit log's route: a page of who changed what, newest first (operators).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::app::App;
use crate::error::{AppError, ErrorEnvelope};
use crate::features::audit::{self as uc, AuditPage};
use crate::features::directory::caller::Caller;
use crate::http::extract::Query;

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(audit_log))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Entries older than this entry (the previous page's `next_before`).
    before: Option<Uuid>,
    /// How many entries, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// The city's audit log, newest first: who (staff name), what, to what, when (operator staff
/// and city admins).
#[utoipa::path(get, path = "/api/v1/audit-log", tag = "audit", security(("bearer" = [])),
    params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = "4XX", body = ErrorEnvelope)))]
async fn audit_log(
    State(app): State<App>,
    c: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditPage>, AppError> {
    uc::list(&app, c.who, q.before, q.limit).await.map(Json)
}

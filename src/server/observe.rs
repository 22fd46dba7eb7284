//! What operators observe: the request id every answer carries (`x-request-id`, also on the
//! request's log lines), the request metrics, `GET /metrics` (Prometheus text), `/healthz`
//! (alive: the process and its writer) and `/readyz` (ready for traffic: database reachable,
//! migrations applied, writer running, not shutting down).

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, State};
use axum::http::{HeaderValue, Request, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::db::Backend;
use crate::error::{AppError, ErrorEnvelope};

/// The header a request id travels in, both ways.
pub const REQUEST_ID: &str = "x-request-id";
/// Longest request id taken from a client or balancer; a longer or odd one is replaced.
const REQUEST_ID_LEN_MAX: usize = 64;

/// Gives every request an id: the one its client or load balancer sent (`x-request-id`, 1 to
/// 64 of `A-Z a-z 0-9 - _ .`), or a new UUIDv7. The request's span records it (so every log
/// line of the request carries it) and the answer returns it.
pub(crate) async fn request_id(mut req: Request<Body>, next: Next) -> Response {
    let given = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= REQUEST_ID_LEN_MAX
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map(str::to_owned);
    let id = given.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let value = HeaderValue::from_str(&id).expect("checked or generated: visible ASCII");
    req.headers_mut().insert(REQUEST_ID, value.clone());
    let mut response = next.run(req).await;
    response.headers_mut().insert(REQUEST_ID, value);
    response
}

/// Counts and times every request by method, route template and status.
pub(crate) async fn track(req: Request<Body>, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = req.method().as_str().to_owned();
    let metrics = crate::metrics::get();
    metrics.http_in_flight.inc();
    let started = Instant::now();
    let response = next.run(req).await;
    metrics.http_in_flight.dec();
    metrics
        .http_duration
        .with_label_values(&[&method, &route])
        .observe(crate::metrics::seconds(started.elapsed()));
    metrics
        .http_requests
        .with_label_values(&[&method, &route, response.status().as_str()])
        .inc();
    response
}

/// `GET /metrics`: every metric in Prometheus' text format. Open to whoever can reach it: it
/// holds counts and timings by route template, never an id, a token or personal data. Put it
/// on its own address (`serve --metrics-addr`) to keep it off the public listener.
pub(crate) async fn metrics(State(app): State<App>) -> Response {
    let m = crate::metrics::get();
    m.writer_queue_depth
        .set(i64::try_from(app.writer.queue_depth()).unwrap_or(i64::MAX));
    m.sse_subscribers
        .set(i64::try_from(app.writer.subscribers()).unwrap_or(i64::MAX));
    m.uploads_in_progress.set(
        i64::try_from(crate::app::UPLOADS_MAX.saturating_sub(app.uploads.available_permits()))
            .unwrap_or(0),
    );
    m.draining.set(i64::from(app.draining.is_draining()));
    for use_ in app.db.pool_use() {
        let idle = i64::try_from(use_.idle).unwrap_or(0);
        let busy = i64::try_from(use_.size.saturating_sub(use_.idle)).unwrap_or(0);
        m.db_pool.with_label_values(&[use_.pool, "idle"]).set(idle);
        m.db_pool.with_label_values(&[use_.pool, "busy"]).set(busy);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.render(),
    )
        .into_response()
}

/// A router with only the operators' routes, for `serve --metrics-addr`.
pub fn ops_router(app: App) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz))
        .with_state(app)
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    status: &'static str,
    database: Backend,
}

/// Alive: the process answers and its writer runs (a server whose writer died answers every
/// write 503 and must be restarted). Does not touch the database, so a database outage does
/// not get every instance restarted. Open to all.
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses((status = 200, body = Health), (status = 503, body = ErrorEnvelope)))]
pub(crate) async fn healthz(State(app): State<App>) -> Result<Json<Health>, AppError> {
    if !app.writer.is_running() {
        return Err(AppError::Unavailable);
    }
    Ok(Json(Health {
        status: "ok",
        database: app.db.backend(),
    }))
}

/// Ready for traffic: the database answers, every migration this build knows is applied,
/// the writer runs and the server is not shutting down. A load balancer sends requests only
/// to a ready instance. Open to all.
#[utoipa::path(get, path = "/readyz", tag = "system",
    responses((status = 200, body = Health), (status = 503, body = ErrorEnvelope)))]
pub(crate) async fn readyz(State(app): State<App>) -> Response {
    let not_ready = |why: &str| {
        let mut r = (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Json(ErrorEnvelope::new(
                crate::error::UNAVAILABLE,
                &format!("not ready: {why}"),
            )),
        )
            .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        r
    };
    if app.draining.is_draining() {
        return not_ready("shutting down");
    }
    if !app.writer.is_running() {
        return not_ready("the writer has stopped");
    }
    match app.db.migrations_applied().await {
        Ok(true) => {}
        Ok(false) => return not_ready("migrations not applied"),
        Err(_) => return not_ready("the database does not answer"),
    }
    Json(Health {
        status: "ready",
        database: app.db.backend(),
    })
    .into_response()
}

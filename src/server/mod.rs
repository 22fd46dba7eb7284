//! The server: mounts every capability's routes (and the health, `me` and error-code routes),
//! the OpenAPI document, the middleware every request passes, and the serve loop. Handlers
//! parse, call one use-case and map its result; they never touch SQL. What the capabilities'
//! routes are built with is `crate::http`.

pub mod error_codes;
pub mod observe;
mod serve;

pub use serve::{
    CONNECTIONS_MAX, HEADER_READ_TIMEOUT_MS, Limits, REQUEST_TIMEOUT_MS, SHUTDOWN_GRACE_MS, serve,
    serve_with, serve_with_writer,
};

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri, header};
use axum::{Json, Router};
use serde::Serialize;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::App;
use crate::error::Refusal;
use crate::error::{AppError, ErrorEnvelope};
use crate::features::directory::caller::Caller;
use crate::http::refusals::RequestRefusal;
use crate::http::{extract, params, web};
use machipay_domain::auth::Principal;
use machipay_domain::ids::{CityId, TokenId};

/// Largest request body accepted; every request of this API is a few hundred bytes.
pub const BODY_SIZE_MAX_BYTES: usize = 64 * 1024;
/// The one exception: a city's plastic card import (up to 100,000 rows, written in writer jobs
/// of 500) may take minutes; it runs on its own task, so even a cut-off import completes.
pub const CARD_IMPORT_TIMEOUT_MS: u64 = 600_000;

#[derive(OpenApi)]
#[openapi(
    info(title = "machipay", description = "Ledger for a town's digital regional currency and point card."),
    modifiers(&BearerAuth),
    // Types only parameters name: utoipa registers what bodies use, not what parameters use.
    components(schemas(
        ErrorEnvelope,
        machipay_domain::ids::TokenId,
        crate::features::qr::ImageFormat,
        crate::features::directory::api::PrincipalKind,
        params::JsonOrCsv,
        params::ReportFormat,
        params::PngOrSvg,
    ))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// States the server's rule for `Idempotency-Key` (`extract::idempotency_key`) on every
/// route that takes one, so the annotations need not repeat it.
struct KeyConstraints;

impl Modify for KeyConstraints {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{ObjectBuilder, RefOr, Type};
        let key = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(extract::IDEMPOTENCY_KEY_LEN_MAX))
            .pattern(Some("^[!-~]+$"))
            .build();
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                for param in op.parameters.iter_mut().flatten() {
                    let RefOr::T(p) = param else { continue };
                    if p.parameter_in == ParameterIn::Header && p.name == "Idempotency-Key" {
                        p.schema = Some(RefOr::T(key.clone().into()));
                        p.description = Some(
                            "1 to 255 visible ASCII characters; scoped to the calling account \
                             (a shopper, a store with its devices, a staff member)"
                                .into(),
                        );
                    }
                }
            }
        }
    }
}

/// The OpenAPI document, generated from the route annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes_and_doc().1
}

fn routes_and_doc() -> (Router<App>, utoipa::openapi::OpenApi) {
    let (routes, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(observe::healthz))
        .routes(routes!(observe::readyz))
        .routes(routes!(me))
        .merge(error_codes::router())
        .merge(crate::features::directory::http::router())
        .merge(crate::features::payments::http::router())
        .merge(crate::features::campaigns::premium::http::router())
        .merge(crate::features::campaigns::lottery::http::router())
        .merge(crate::features::qr::http::router())
        .merge(crate::features::campaigns::rebates::http::router())
        .merge(crate::features::points::http::router())
        .merge(crate::features::reports::http::router())
        .merge(crate::features::merchants::http::router())
        .merge(crate::features::settlement::http::router())
        .merge(crate::features::city_report::http::router())
        .merge(crate::features::activity::http::router())
        .merge(crate::features::sign_in::http::router())
        .merge(crate::features::audit::http::router())
        .merge(crate::features::shopper_block::http::router())
        .split_for_parts();
    // After the routes are in: `modifiers(...)` run before any path exists.
    KeyConstraints.modify(&mut doc);
    (routes, doc)
}

/// The whole application with the default limits (`Limits::default()`).
pub fn router(app: App) -> Router {
    router_with(app, Limits::default())
}

/// The whole application: routes, the OpenAPI document at /api/openapi.json, `/metrics`
/// (unless `limits.metrics_here` is false), and the middleware every request passes: its
/// request id, tracing, metrics, panic capture, the time limit, the body limit.
pub fn router_with(app: App, limits: Limits) -> Router {
    let (routes, doc) = routes_and_doc();
    // Serialised once and shared: axum clones every route's handler for each new connection,
    // and a handler owning the document deep-cloned it (~3 MB a connection).
    let doc = Bytes::from(serde_json::to_vec(&doc).expect("the OpenAPI document serialises"));
    let openapi_json = move || async move { ([(header::CONTENT_TYPE, "application/json")], doc) };
    let mut routes = routes.route("/api/openapi.json", axum::routing::get(openapi_json));
    if limits.metrics_here {
        routes = routes.route("/metrics", axum::routing::get(observe::metrics));
    }
    let request_timeout_ms = limits.request_timeout_ms;
    routes
        .merge(web::router())
        .fallback(not_found)
        .layer(axum::middleware::map_response(envelope_bare_errors))
        .layer(DefaultBodyLimit::max(BODY_SIZE_MAX_BYTES))
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                timeout(request_timeout_ms, req, next)
            },
        ))
        .layer(CatchPanicLayer::custom(|_| AppError::Internal("handler panicked".into()).into_response_boxed()))
        .layer(axum::middleware::from_fn(observe::track))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req.headers().get(observe::REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
            tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path(), principal = tracing::field::Empty)
        }))
        .layer(axum::middleware::from_fn(observe::request_id))
        .with_state(app)
}

/// Cuts a request off after `ms` (the card import after `CARD_IMPORT_TIMEOUT_MS`): a body
/// that trickles in too slowly ends here too. A write with an Idempotency-Key answers 503
/// `outcome_unknown`: its job may still commit (once queued, a job runs), so the client must
/// keep the key and retry with it, which answers what happened and never moves money twice.
/// Anything else answers 408 `request_timeout`.
async fn timeout(
    ms: u64,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let import = req.method() == Method::POST && req.uri().path().ends_with("/card-imports");
    let ms = if import {
        CARD_IMPORT_TIMEOUT_MS.max(ms)
    } else {
        ms
    };
    let keyed_write = !matches!(*req.method(), Method::GET | Method::HEAD)
        && req.headers().contains_key("idempotency-key");
    match tokio::time::timeout(Duration::from_millis(ms), next.run(req)).await {
        Ok(response) => response,
        Err(_) if keyed_write => AppError::OutcomeUnknown.into_response_boxed(),
        Err(_) => AppError::from(RequestRefusal::RequestTimeout(ms)).into_response_boxed(),
    }
}

/// Gives the error envelope to the errors axum answers by itself with an empty body (405 for
/// a known path with another method, keeping its `Allow` header), so every error a client
/// sees has the one shape.
async fn envelope_bare_errors(response: axum::response::Response) -> axum::response::Response {
    let status = response.status();
    let bare = !response.headers().contains_key(header::CONTENT_TYPE)
        && axum::body::HttpBody::size_hint(response.body()).exact() == Some(0);
    if !(status.is_client_error() || status.is_server_error()) || !bare {
        return response;
    }
    // The status stays axum's; the refusal gives code and message.
    let refusal = match status.as_u16() {
        405 => RequestRefusal::MethodNotAllowed,
        408 => RequestRefusal::TookTooLong,
        413 => RequestRefusal::BodyTooLarge,
        415 => RequestRefusal::ContentTypeNotAccepted,
        _ => RequestRefusal::Refused,
    };
    let envelope = if status.is_server_error() {
        ErrorEnvelope::new(crate::error::INTERNAL, "internal error")
    } else {
        ErrorEnvelope::new(refusal.code(), &refusal.to_string())
    };
    let (mut parts, _) = response.into_parts();
    let body = serde_json::to_vec(&envelope).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    axum::response::Response::from_parts(parts, axum::body::Body::from(body))
}

impl AppError {
    fn into_response_boxed(self) -> axum::response::Response {
        axum::response::IntoResponse::into_response(self)
    }
}

async fn not_found(method: Method, uri: Uri) -> AppError {
    RequestRefusal::NoSuchRoute(method.to_string(), uri.path().to_owned()).into()
}

#[derive(Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Me {
    Staff {
        id: uuid::Uuid,
        city_id: CityId,
        staff_kind: machipay_domain::auth::StaffKind,
        role: machipay_domain::auth::Role,
        /// The token this request came with (to revoke it).
        token_id: TokenId,
    },
    MerchantOwner {
        merchant_id: uuid::Uuid,
        city_id: CityId,
        token_id: TokenId,
    },
    Device {
        id: uuid::Uuid,
        merchant_id: uuid::Uuid,
        city_id: CityId,
        token_id: TokenId,
    },
    Shopper {
        id: uuid::Uuid,
        city_id: CityId,
        token_id: TokenId,
    },
}

/// Who the token belongs to. Any principal.
#[utoipa::path(get, path = "/api/v1/me", tag = "system", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = "4XX", body = ErrorEnvelope)))]
async fn me(c: Caller) -> Json<Me> {
    let token_id = c.token;
    Json(match c.who {
        Principal::Staff {
            id,
            city,
            kind,
            role,
        } => Me::Staff {
            id: id.0,
            city_id: city,
            staff_kind: kind,
            role,
            token_id,
        },
        Principal::MerchantOwner { merchant, city } => Me::MerchantOwner {
            merchant_id: merchant.0,
            city_id: city,
            token_id,
        },
        Principal::Device { id, merchant, city } => Me::Device {
            id: id.0,
            merchant_id: merchant.0,
            city_id: city,
            token_id,
        },
        Principal::Shopper { id, city } => Me::Shopper {
            id: id.0,
            city_id: city,
            token_id,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    /// A body that never finishes arriving is cut off at `REQUEST_TIMEOUT_MS` with 408 in the
    /// envelope. The clock is paused, so the 30 s pass at once.
    #[tokio::test(start_paused = true)]
    async fn a_slow_body_gets_408_in_the_envelope() {
        let routes = Router::new()
            .route(
                "/slow",
                axum::routing::post(|body: Bytes| async move { body.len().to_string() }),
            )
            .layer(axum::middleware::map_response(envelope_bare_errors))
            .layer(axum::middleware::from_fn(
                |req: axum::extract::Request, next: axum::middleware::Next| {
                    timeout(REQUEST_TIMEOUT_MS, req, next)
                },
            ));
        let trickle = futures::stream::pending::<Result<Bytes, std::io::Error>>();
        let request = axum::http::Request::post("/slow")
            .body(axum::body::Body::from_stream(trickle))
            .expect("request");
        let started = tokio::time::Instant::now();
        let response = routes.oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), axum::http::StatusCode::REQUEST_TIMEOUT);
        assert_eq!(started.elapsed(), Duration::from_millis(REQUEST_TIMEOUT_MS));
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        let envelope: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(envelope["error"]["code"], "request_timeout");
    }
}

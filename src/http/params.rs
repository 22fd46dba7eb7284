//! The value sets of query parameters that handlers read as text (`format=json|csv`...), as
//! the OpenAPI document states them. Documentation only: each handler still parses its own
//! and answers a named 400 for anything else.

use utoipa::ToSchema;

/// `json` (the default) or `csv` (UTF-8 with a BOM, CRLF, Japanese headers).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum JsonOrCsv {
    Json,
    Csv,
}

/// `json` (the default), `csv` or, for the store report, `svg` (a chart).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum ReportFormat {
    Json,
    Csv,
    Svg,
}

/// `png` (the default) or `svg`.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum PngOrSvg {
    Png,
    Svg,
}

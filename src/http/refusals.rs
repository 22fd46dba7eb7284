//! What the HTTP edge itself refuses before any use-case runs: bodies that are not JSON or
//! too large, malformed JSON, bad path and query parameters, missing Idempotency-Keys, routes
//! and methods that do not exist, and requests that take too long. Also the request-shape
//! codes every capability shares (a query's format, limit, dates and 年度, an upload's media
//! type and encoding): each code is declared in one enum only.

crate::refusals! {
    /// The extractors' and the router's own refusals.
    pub enum RequestRefusal {
        /// The body is not sent as `application/json`.
        UnsupportedMediaType => UnsupportedMediaType, "unsupported_media_type", "send Content-Type: application/json";
        /// What axum answered with an empty body for an unaccepted content type.
        ContentTypeNotAccepted => UnsupportedMediaType, "unsupported_media_type", "this content type is not accepted";
        /// The body is over `server::BODY_SIZE_MAX_BYTES`.
        BodyTooLarge => TooLarge, "body_too_large", "the request body is too large";
        /// The body stopped arriving or broke off.
        UnreadableBody => BadRequest, "unreadable_body", "the request body could not be read";
        /// Not JSON, or something after it. The text says where.
        MalformedJson(String) => BadRequest, "malformed_json", "{0}";
        /// A field the route does not take (no mass assignment).
        UnknownField(String) => BadRequest, "unknown_field", "{0}";
        /// A required field is absent.
        MissingField(String) => BadRequest, "missing_field", "{0}";
        /// A card number that is not one.
        InvalidCardNumber(String) => BadRequest, "invalid_card_number", "{0}";
        /// A field of the wrong type or out of its range.
        InvalidField(String) => BadRequest, "invalid_field", "{0}";
        /// A money-moving request without an Idempotency-Key header.
        MissingIdempotencyKey => BadRequest, "missing_idempotency_key", "money-moving requests need an Idempotency-Key header";
        /// An Idempotency-Key that is not 1 to 255 visible ASCII characters.
        InvalidIdempotencyKey => BadRequest, "invalid_idempotency_key", "Idempotency-Key must be 1 to 255 visible ASCII characters";
        /// A path parameter that does not parse (a malformed id).
        InvalidPath(String) => BadRequest, "invalid_path", "{0}";
        /// A query parameter that does not parse, or one the route does not take.
        InvalidQuery(String) => BadRequest, "invalid_query", "{0}";
        /// A report's `format` other than json or csv.
        FormatNotJsonOrCsv => BadRequest, "invalid_format", "format must be json or csv";
        /// An image's `format` other than png or svg.
        FormatNotPngOrSvg => BadRequest, "invalid_format", "format must be png or svg";
        /// A `format` the route does not answer in (the message).
        InvalidFormat(&'static str) => BadRequest, "invalid_format", "{0}";
        /// A page size outside 1 to the maximum given.
        InvalidLimit(i64) => BadRequest, "invalid_limit", "limit must be 1 to {0}";
        /// A date parameter (its name) that is not YYYY-MM-DD.
        InvalidDate(&'static str) => BadRequest, "invalid_date", "{0} must be a date as YYYY-MM-DD";
        /// A date no 年度 holds (the calendar's text).
        DateOutOfRange(String) => BadRequest, "invalid_date", "{0}";
        /// A report date after today (the date, today in JST).
        DateNotBegun(chrono::NaiveDate, chrono::NaiveDate) => BadRequest, "date_in_future", "{0} has not begun yet (today is {1} JST)";
        /// A day asked of the city report after today (the date, today in JST).
        DateNotCome(chrono::NaiveDate, chrono::NaiveDate) => BadRequest, "date_in_future", "{0} has not come yet (today is {1} JST)";
        /// A `fiscal_year` that is not a 年度.
        NotAFiscalYear => BadRequest, "invalid_fiscal_year", "fiscal_year must be a 年度 such as 2026 or 令和8年度";
        /// Not a 年度 ("2025", "令和7年度", "R7"): what was given and why.
        InvalidFiscalYear(String) => BadRequest, "invalid_fiscal_year", "{0}";
        /// A period whose first day is after today (its first day, today).
        PeriodInFuture(chrono::NaiveDate, chrono::NaiveDate) => BadRequest, "period_in_future", "the period starts ({0}) after today ({1})";
        /// A 年度 that has not started (its label, its first day, today in JST).
        FiscalYearInFuture(String, chrono::NaiveDate, chrono::NaiveDate) => BadRequest, "period_in_future", "{0} starts on {1} (today is {2} JST)";
        /// An upload not sent as text/csv.
        NotCsv => UnsupportedMediaType, "unsupported_media_type", "send Content-Type: text/csv";
        /// A file upload not sent as text/csv.
        FileNotCsv => UnsupportedMediaType, "unsupported_media_type", "send the file with Content-Type: text/csv";
        /// An uploaded file that is not UTF-8.
        NotUtf8 => BadRequest, "invalid_encoding", "the file must be UTF-8";
        /// An uploaded file in neither UTF-8 nor Shift_JIS.
        NotUtf8OrShiftJis => BadRequest, "invalid_encoding", "the file must be UTF-8 (with or without BOM) or Shift_JIS";
        /// No route has this path. Method and path.
        NoSuchRoute(String, String) => NotFound, "no_such_route", "no route for {0} {1}";
        /// The path exists with other methods; answered 405 with an `Allow` header.
        MethodNotAllowed => MethodNotAllowed, "method_not_allowed", "this route does not take that method (see the Allow header)";
        /// Cut off after this many milliseconds (`server::REQUEST_TIMEOUT_MS`).
        RequestTimeout(u64) => Timeout, "request_timeout", "the request took longer than {0} ms";
        /// What axum answered with an empty 408.
        TookTooLong => Timeout, "request_timeout", "the request took too long";
        /// A rate limit (`rate_limit::RateLimits`) refused the request: retry after the
        /// seconds given (also in `Retry-After`).
        RateLimited(u64) => TooMany, "rate_limited", "too many requests; retry in {0} s";
        /// Any other client error axum answered with an empty body (its status is kept).
        Refused => BadRequest, "bad_request", "the request was refused";
    }
}

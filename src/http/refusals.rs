//! What the HTTP edge itself refuses before any use-case runs: bodies that are not JSON or
//! too large, malformed JSON, bad path and query parameters, missing Idempotency-Keys, routes
//! and methods that do not exist, and requests that take too long.

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
        /// No route has this path. Method and path.
        NoSuchRoute(String, String) => NotFound, "no_such_route", "no route for {0} {1}";
        /// The path exists with other methods; answered 405 with an `Allow` header (the
        /// status is axum's, not the kind's).
        MethodNotAllowed => BadRequest, "method_not_allowed", "this route does not take that method (see the Allow header)";
        /// Cut off after this many milliseconds (`server::REQUEST_TIMEOUT_MS`).
        RequestTimeout(u64) => Timeout, "request_timeout", "the request took longer than {0} ms";
        /// What axum answered with an empty 408.
        TookTooLong => Timeout, "request_timeout", "the request took too long";
        /// Any other client error axum answered with an empty body (its status is kept).
        Refused => BadRequest, "bad_request", "the request was refused";
    }
}

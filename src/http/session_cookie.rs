//! Browser sessions on the wire: the session cookie and its CSRF token, how they are read from
//! a request and written into `Set-Cookie`, and the client address sign-in limits count by.
//!
//! The rules (README, "Sign-in"):
//! - `machipay_session` holds the session's secret: `HttpOnly; SameSite=Strict; Path=/`, and
//!   `Secure` unless the request came to a loopback host (`localhost`, `127.0.0.1`, `[::1]`)
//!   without `X-Forwarded-Proto: https` — the demo and the tests run over plain
//!   `http://127.0.0.1`, where a browser would drop a `Secure` cookie. A real browser always
//!   names the real host, so a deployed server always marks its cookies `Secure`.
//! - `machipay_csrf` holds the CSRF token, readable by the page's script (not `HttpOnly`). It is
//!   derived from the session secret (`csrf_token_for`), so it needs no storage and no other
//!   session's token fits. A cookie-authenticated request with an unsafe method (anything but
//!   GET, HEAD, OPTIONS) must echo it in `X-CSRF-Token`; a page of another site can neither read
//!   the cookie nor set the header. Bearer-token requests need no CSRF token: a browser never
//!   attaches a bearer token by itself.

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderValue, Method, header, request::Parts};
use sha2::{Digest, Sha256};

/// The cookie holding the session's secret.
pub(crate) const SESSION_COOKIE: &str = "machipay_session";
/// The cookie holding the CSRF token (readable by the page).
pub(crate) const CSRF_COOKIE: &str = "machipay_csrf";
/// The header a cookie-authenticated unsafe request echoes the CSRF token in.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";
/// Longest session secret accepted from a cookie (ours are 67 characters).
const SECRET_LEN_MAX: usize = 128;

/// The session secret of the request's `machipay_session` cookie, if it has one.
pub(crate) fn session_secret(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, SESSION_COOKIE).filter(|s| !s.is_empty() && s.len() <= SECRET_LEN_MAX)
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The CSRF token of a session: a digest of its secret under a label of its own, so it
/// cannot stand in for the secret (nor the stored token hash, which is the plain SHA-256).
pub(crate) fn csrf_token_for(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"machipay csrf v1\0");
    h.update(secret.as_bytes());
    hex::encode(h.finalize())
}

/// Whether a method changes nothing (needs no CSRF token).
pub(crate) fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether the request's `X-CSRF-Token` matches the session's, compared in constant time.
pub(crate) fn csrf_ok(headers: &HeaderMap, secret: &str) -> bool {
    let Some(given) = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let want = csrf_token_for(secret);
    given.len() == want.len()
        && given
            .bytes()
            .zip(want.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Whether cookies set in answer to this request get `Secure` (see the module's rules).
pub(crate) fn secure(headers: &HeaderMap) -> bool {
    let forwarded_https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    forwarded_https || !loopback_host(headers)
}

fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    // Strip the port: `[::1]:8080`, `127.0.0.1:8080`, `localhost:8080`.
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost") || name == "::1" || name.starts_with("127.")
}

/// The two `Set-Cookie` values that start a session lasting `max_age_s` seconds.
pub(crate) fn start_cookies(secret: &str, max_age_s: i64, secure: bool) -> [HeaderValue; 2] {
    let tail = attributes(max_age_s, secure);
    [
        value(&format!("{SESSION_COOKIE}={secret}; HttpOnly; {tail}")),
        value(&format!("{CSRF_COOKIE}={}; {tail}", csrf_token_for(secret))),
    ]
}

/// The two `Set-Cookie` values that remove the session's cookies from the browser.
pub(crate) fn end_cookies(secure: bool) -> [HeaderValue; 2] {
    let tail = attributes(0, secure);
    [
        value(&format!("{SESSION_COOKIE}=; HttpOnly; {tail}")),
        value(&format!("{CSRF_COOKIE}=; {tail}")),
    ]
}

fn attributes(max_age_s: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("Path=/; Max-Age={max_age_s}; SameSite=Strict{secure}")
}

fn value(text: &str) -> HeaderValue {
    // Secrets and tokens are hex with a prefix: always a valid header value.
    HeaderValue::from_str(text).expect("cookie text is visible ASCII")
}

/// The address of the client, as the connection shows it (a server behind a proxy sees the
/// proxy; per-address limits then count the proxy's clients together, which only makes them
/// stricter). `None` where the server runs without connection info (router unit tests).
pub(crate) fn client_ip(parts: &Parts) -> Option<std::net::IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; machipay_session=mp_abc; machipay_csrf=x")]);
        assert_eq!(session_secret(&h), Some("mp_abc"));
        assert_eq!(session_secret(&headers(&[("cookie", "a=1")])), None);
    }

    #[test]
    fn secure_unless_a_loopback_host_over_plain_http() {
        assert!(!secure(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(!secure(&headers(&[("host", "localhost")])));
        assert!(!secure(&headers(&[("host", "[::1]:80")])));
        assert!(secure(&headers(&[("host", "pay.example.jp")])));
        assert!(secure(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-proto", "https")
        ])));
    }

    #[test]
    fn the_csrf_token_is_bound_to_its_session() {
        let token = csrf_token_for("mp_one");
        assert!(csrf_ok(&headers(&[("x-csrf-token", &token)]), "mp_one"));
        assert!(!csrf_ok(&headers(&[("x-csrf-token", &token)]), "mp_two"));
        assert!(!csrf_ok(&HeaderMap::new(), "mp_one"));
        let [session, csrf] = start_cookies("mp_one", 60, true);
        let session = session.to_str().expect("text");
        assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
        assert!(session.ends_with("; Secure"));
        assert!(!csrf.to_str().expect("text").contains("HttpOnly"));
    }
}

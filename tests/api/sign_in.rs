//! Sign-in: a shopper registers with a password and the session cookie acts as the shopper;
//! the cookie's attributes; CSRF refused without the token; wrong passwords lock the login and
//! failures lock the address (429 with Retry-After); sessions listed and ended by their
//! holder, and sign-out; recovery at a counter with a setup code; a store owner's first
//! sign-in by setup code, and tills enrolled and revoked from the owner's session.

use reqwest::header::{COOKIE, HeaderMap, RETRY_AFTER, SET_COOKIE};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    a_shopper_registers_and_the_cookie_acts_as_the_shopper,
    unsafe_cookie_requests_need_the_csrf_token,
    wrong_passwords_lock_the_login_and_failures_the_address,
    sessions_are_listed_and_ended_by_their_holder,
    recovery_at_a_counter_sets_a_new_password_and_ends_old_sessions,
    an_owner_sets_up_a_login_and_enrolls_and_revokes_tills,
);

pub(crate) const PASSWORD: &str = "correct horse battery";

/// A browser's cookies for one session, and its CSRF token.
#[derive(Debug, Clone)]
pub(crate) struct Jar {
    pub(crate) cookie: String,
    pub(crate) csrf: String,
}

/// What an answer's `Set-Cookie` headers say.
pub(crate) fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .collect()
}

/// The cookie jar a browser keeps from a sign-in's answer.
pub(crate) fn jar_of(headers: &HeaderMap) -> Jar {
    let cookies = set_cookies(headers);
    let value = |name: &str| {
        cookies
            .iter()
            .find_map(|c| c.strip_prefix(&format!("{name}=")))
            .and_then(|c| c.split(';').next())
            .unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"))
            .to_owned()
    };
    let session = value("machipay_session");
    let csrf = value("machipay_csrf");
    Jar {
        cookie: format!("machipay_session={session}; machipay_csrf={csrf}"),
        csrf,
    }
}

/// A request with the jar's cookies (and, for unsafe methods, `csrf` as `X-CSRF-Token`).
pub(crate) async fn with_cookie(
    app: &TestApp,
    method: &str,
    path: &str,
    jar: &Jar,
    csrf: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, HeaderMap) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.base))
        .header(COOKIE, &jar.cookie);
    if let Some(t) = csrf {
        req = req.header("X-CSRF-Token", t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    answer(req).await
}

pub(crate) async fn answer(req: reqwest::RequestBuilder) -> (u16, Value, HeaderMap) {
    let resp = req.send().await.expect("sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value, headers)
}

/// An anonymous JSON POST (registration, sign-in, setup).
pub(crate) async fn post_open(app: &TestApp, path: &str, body: Value) -> (u16, Value, HeaderMap) {
    answer(app.client.post(format!("{}{path}", app.base)).json(&body)).await
}

pub(crate) async fn city_of(app: &TestApp) -> String {
    let (_, cities, _) = answer(app.client.get(format!("{}/api/v1/cities", app.base))).await;
    cities[0]["id"].as_str().expect("city id").to_owned()
}

/// Registers a shopper with `login`; the answer and the browser's jar.
pub(crate) async fn register(app: &TestApp, login: &str) -> (Value, Jar) {
    let city = city_of(app).await;
    let (s, v, h) = post_open(
        app,
        "/api/v1/registrations",
        json!({"city_id": city, "login": login, "password": PASSWORD, "display_name": "花子"}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    (v, jar_of(&h))
}

pub(crate) async fn sign_in(app: &TestApp, login: &str, password: &str) -> (u16, Value, HeaderMap) {
    post_open(
        app,
        "/api/v1/sessions",
        json!({"login": login, "password": password}),
    )
    .await
}

pub(crate) async fn signed_in(app: &TestApp, login: &str, password: &str) -> Jar {
    let (s, v, h) = sign_in(app, login, password).await;
    assert_eq!(s, 201, "{v}");
    jar_of(&h)
}

async fn a_shopper_registers_and_the_cookie_acts_as_the_shopper(app: &TestApp) {
    let (shown, jar) = register(app, "Hanako@Example.jp").await;
    assert_eq!(shown["kind"], "shopper");
    assert!(
        shown.get("token").is_none(),
        "the secret is in the cookie only: {shown}"
    );
    // The cookie resolves to the shopper, like a bearer token would.
    let (s, me, _) = with_cookie(app, "GET", "/api/v1/me", &jar, None, None).await;
    assert_eq!((s, &me["kind"]), (200, &json!("shopper")), "{me}");
    assert_eq!(me["id"], shown["principal_id"]);
    let shopper = me["id"].as_str().expect("id");
    let path = format!("/api/v1/shoppers/{shopper}/balances");
    let (s, v, _) = with_cookie(app, "GET", &path, &jar, None, None).await;
    assert_eq!(s, 200, "{v}");
    // Another shopper's data stays hidden from this cookie.
    let (other, _) = app.shopper(&app.admin).await;
    let path = format!("/api/v1/shoppers/{other}/balances");
    let (s, _, _) = with_cookie(app, "GET", &path, &jar, None, None).await;
    assert_eq!(s, 404);

    // Cookie attributes: HttpOnly session, readable CSRF, SameSite=Strict; no Secure over
    // plain http to 127.0.0.1, Secure behind a TLS proxy.
    let (_, _, h) = sign_in(app, "hanako@example.jp", PASSWORD).await;
    let cookies = set_cookies(&h);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("machipay_session="))
        .expect("session");
    let csrf = cookies
        .iter()
        .find(|c| c.starts_with("machipay_csrf="))
        .expect("csrf");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    assert!(
        session.contains("Path=/") && session.contains("Max-Age="),
        "{session}"
    );
    assert!(!session.contains("Secure"), "{session}");
    assert!(
        !csrf.contains("HttpOnly") && csrf.contains("SameSite=Strict"),
        "{csrf}"
    );
    let (s, _, h) = answer(
        app.client
            .post(format!("{}/api/v1/sessions", app.base))
            .header("X-Forwarded-Proto", "https")
            .json(&json!({"login": "HANAKO@example.jp", "password": PASSWORD})),
    )
    .await;
    assert_eq!(s, 201);
    assert!(set_cookies(&h).iter().all(|c| c.ends_with("; Secure")));

    // The session's secret is no bearer token.
    let secret = jar
        .cookie
        .split(';')
        .next()
        .expect("pair")
        .trim_start_matches("machipay_session=");
    let (s, _) = app.get("/api/v1/me", secret).await;
    assert_eq!(s.as_u16(), 401);

    // Refusals, each named.
    let (s, v, _) = sign_in(app, "hanako@example.jp", "wrong password").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("sign_in_failed"))
    );
    let (s, v, _) = sign_in(app, "nobody@example.jp", PASSWORD).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("sign_in_failed"))
    );
    let city = city_of(app).await;
    for (login, password, status, code) in [
        ("hanako@EXAMPLE.jp", PASSWORD, 409, "login_taken"),
        ("hanako", PASSWORD, 400, "invalid_login"),
        ("090-1234-5678", "short", 400, "invalid_password"),
    ] {
        let (s, v, _) = post_open(
            app,
            "/api/v1/registrations",
            json!({"city_id": city, "login": login, "password": password, "display_name": "花子"}),
        )
        .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{login}"
        );
    }
    // A phone number signs in however it is typed.
    register(app, "090-1234-5678").await;
    signed_in(app, "０９０１２３４５６７８", PASSWORD).await;
}

async fn unsafe_cookie_requests_need_the_csrf_token(app: &TestApp) {
    let program = app.currency().await;
    let (shown, jar) = register(app, "csrf@example.jp").await;
    assert_eq!(shown["csrf_token"].as_str(), Some(jar.csrf.as_str()));
    let path = format!("/api/v1/programs/{program}/shopper-codes");
    // Without the header, and with another session's token: refused, nothing made.
    let (s, v, _) = with_cookie(app, "POST", &path, &jar, None, Some(json!({}))).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("csrf_token_invalid")),
        "{v}"
    );
    let (_, other) = register(app, "other@example.jp").await;
    let (s, v, _) = with_cookie(app, "POST", &path, &jar, Some(&other.csrf), Some(json!({}))).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("csrf_token_invalid")),
        "{v}"
    );
    // With it: done. Safe methods need none.
    let (s, v, _) = with_cookie(app, "POST", &path, &jar, Some(&jar.csrf), Some(json!({}))).await;
    assert_eq!(s, 201, "{v}");
    let (s, _, _) = with_cookie(app, "GET", "/api/v1/sessions", &jar, None, None).await;
    assert_eq!(s, 200);
    // Sign-out is unsafe too.
    let (s, _, _) = with_cookie(app, "POST", "/api/v1/sign-out", &jar, None, None).await;
    assert_eq!(s, 403);
    // Bearer tokens need no CSRF token (a browser never sends one by itself).
    let (_, token) = app.shopper(&app.admin).await;
    let (s, v) = app.post(&path, &token, json!({})).await;
    assert_eq!(s.as_u16(), 201, "{v}");
}

async fn wrong_passwords_lock_the_login_and_failures_the_address(app: &TestApp) {
    register(app, "locked@example.jp").await;
    for attempt in 1..=4 {
        let (s, v, _) = sign_in(app, "locked@example.jp", "wrong password").await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (401, Some("sign_in_failed")),
            "{attempt}"
        );
    }
    // The fifth wrong password locks the login for 15 minutes; then even the right one waits.
    let (s, v, h) = sign_in(app, "locked@example.jp", "wrong password").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (429, Some("sign_in_locked")),
        "{v}"
    );
    let wait: u64 = h[RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((890..=900).contains(&wait), "{wait}");
    let (s, v, h) = sign_in(app, "locked@example.jp", PASSWORD).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (429, Some("sign_in_locked")),
        "{v}"
    );
    assert!(h.contains_key(RETRY_AFTER));
    // Another login is not locked.
    register(app, "fine@example.jp").await;
    signed_in(app, "fine@example.jp", PASSWORD).await;

    // This address has failed 5 times; 15 more and it must wait, whatever the login.
    for n in 0..15 {
        let (s, _, _) = sign_in(app, &format!("guess{n}@example.jp"), PASSWORD).await;
        assert_eq!(s, 401);
    }
    let (s, v, h) = sign_in(app, "fine@example.jp", PASSWORD).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (429, Some("too_many_sign_ins")),
        "{v}"
    );
    let wait: u64 = h[RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&wait), "{wait}");
}

async fn sessions_are_listed_and_ended_by_their_holder(app: &TestApp) {
    let (_, phone) = register(app, "two@example.jp").await;
    let laptop = signed_in(app, "two@example.jp", PASSWORD).await;
    let (s, list, _) = with_cookie(app, "GET", "/api/v1/sessions", &phone, None, None).await;
    assert_eq!(s, 200, "{list}");
    let list = list.as_array().expect("array").clone();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(list[0]["user_agent"].is_string() && list[0]["expires_at"].is_string());
    let laptop_id = list
        .iter()
        .find(|s| s["current"] == false)
        .expect("the laptop")["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // Someone else cannot end it.
    let (_, stranger) = register(app, "stranger@example.jp").await;
    let path = format!("/api/v1/sessions/{laptop_id}");
    let (s, _, _) = with_cookie(app, "DELETE", &path, &stranger, Some(&stranger.csrf), None).await;
    assert_eq!(s, 404);
    let (s, _, _) = with_cookie(app, "GET", "/api/v1/me", &laptop, None, None).await;
    assert_eq!(s, 200);
    // Its holder ends it from the phone: the laptop is signed out.
    let (s, v, _) = with_cookie(app, "DELETE", &path, &phone, Some(&phone.csrf), None).await;
    assert_eq!(
        (s, v["ended"].as_str()),
        (200, Some(laptop_id.as_str())),
        "{v}"
    );
    let (s, _, _) = with_cookie(app, "GET", "/api/v1/me", &laptop, None, None).await;
    assert_eq!(s, 401);

    // Sign-out ends the phone's session and clears its cookies.
    let (s, _, h) = with_cookie(
        app,
        "POST",
        "/api/v1/sign-out",
        &phone,
        Some(&phone.csrf),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let cleared = set_cookies(&h);
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("machipay_session=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    let (s, _, _) = with_cookie(app, "GET", "/api/v1/me", &phone, None, None).await;
    assert_eq!(s, 401);
    // A bearer token's sign-out ends nothing: integrations keep their token.
    let (_, token) = app.shopper(&app.admin).await;
    let (s, v) = app.post("/api/v1/sign-out", &token, json!({})).await;
    assert_eq!((s.as_u16(), &v["ended"]), (200, &Value::Null), "{v}");
    assert_eq!(app.get("/api/v1/me", &token).await.0.as_u16(), 200);
}

async fn recovery_at_a_counter_sets_a_new_password_and_ends_old_sessions(app: &TestApp) {
    let (shown, old) = register(app, "forgot@example.jp").await;
    let shopper = shown["principal_id"].as_str().expect("id");
    let op = app.operator().await;
    let path = format!("/api/v1/principals/shopper/{shopper}/setup-codes");
    // Only staff who manage the shopper issue codes.
    let (s, _, _) = with_cookie(app, "POST", &path, &old, Some(&old.csrf), None).await;
    assert_eq!(s, 403);
    let (s, code) = app.post(&path, &op, json!({})).await;
    assert_eq!(s.as_u16(), 201, "{code}");
    let code = code["code"].as_str().expect("code").to_owned();
    assert_eq!(code.len(), 14, "{code}");

    // The shopper types it in (any case, any spacing) with a new password.
    let new_password = "a brand new password";
    let typed = code.to_lowercase().replace('-', " ");
    let (s, v, h) = post_open(
        app,
        "/api/v1/setup",
        json!({"code": typed, "password": new_password}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["principal_id"].as_str(), Some(shopper));
    let fresh = jar_of(&h);
    // Old sessions ended, the old password no longer works, the new one does.
    let (s, _, _) = with_cookie(app, "GET", "/api/v1/me", &old, None, None).await;
    assert_eq!(s, 401);
    let (s, _, _) = with_cookie(app, "GET", "/api/v1/me", &fresh, None, None).await;
    assert_eq!(s, 200);
    let (s, _, _) = sign_in(app, "forgot@example.jp", PASSWORD).await;
    assert_eq!(s, 401);
    signed_in(app, "forgot@example.jp", new_password).await;
    // A code works once.
    let (s, v, _) = post_open(
        app,
        "/api/v1/setup",
        json!({"code": code, "password": new_password}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("invalid_setup_code"))
    );
    // An operator may not set up a staff member's login; a city admin may.
    let (staff, _) = app.staff("city", "viewer").await;
    let path = format!("/api/v1/principals/staff/{staff}/setup-codes");
    assert_eq!(app.post(&path, &op, json!({})).await.0.as_u16(), 403);
    let (s, code) = app.post(&path, &app.admin, json!({})).await;
    assert_eq!(s.as_u16(), 201, "{code}");
    let (s, v, h) = post_open(
        app,
        "/api/v1/setup",
        json!({"code": code["code"], "login": "viewer@city.example.jp", "password": PASSWORD}),
    )
    .await;
    assert_eq!((s, &v["kind"]), (201, &json!("staff")), "{v}");
    let (_, me, _) = with_cookie(app, "GET", "/api/v1/me", &jar_of(&h), None, None).await;
    assert_eq!(me["role"], "viewer", "{me}");
}

async fn an_owner_sets_up_a_login_and_enrolls_and_revokes_tills(app: &TestApp) {
    let op = app.operator().await;
    let (merchant, _) = app.merchant(&op).await;
    let (other_merchant, other_owner) = app.merchant(&op).await;
    let path = format!("/api/v1/principals/merchant_owner/{merchant}/setup-codes");
    let (s, code) = app.post(&path, &op, json!({})).await;
    assert_eq!(s.as_u16(), 201, "{code}");
    // The first time, the owner chooses a login.
    let (s, v, _) = post_open(
        app,
        "/api/v1/setup",
        json!({"code": code["code"], "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("login_required"))
    );
    let (s, v, h) = post_open(
        app,
        "/api/v1/setup",
        json!({"code": code["code"], "login": "owner@shop.example.jp", "password": PASSWORD}),
    )
    .await;
    assert_eq!((s, &v["kind"]), (201, &json!("merchant_owner")), "{v}");
    let owner = jar_of(&h);

    // From the session: a one-time code, a till enrolled with it, listed as working.
    let codes = format!("/api/v1/merchants/{merchant}/enrollment-codes");
    let body = json!({"device_name": "レジ2"});
    let (s, code, _) =
        with_cookie(app, "POST", &codes, &owner, Some(&owner.csrf), Some(body)).await;
    assert_eq!(s, 201, "{code}");
    let (s, till) = app
        .request(
            "POST",
            "/api/v1/devices/enroll",
            None,
            None,
            Some(&json!({"code": code["code"]})),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{till}");
    let till_token = till["token"].as_str().expect("token");
    assert_eq!(app.get("/api/v1/me", till_token).await.0.as_u16(), 200);
    let devices = format!("/api/v1/merchants/{merchant}/devices");
    let (s, list, _) = with_cookie(app, "GET", &devices, &owner, None, None).await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list[0]["name"], "レジ2");
    assert_eq!(list[0]["revoked_at"], Value::Null);

    // Another store's owner can neither see nor revoke it.
    let one = format!("{devices}/{}", till["id"].as_str().expect("id"));
    let (s, _) = app
        .request("DELETE", &one, Some(&other_owner), None, None)
        .await;
    assert_eq!(s.as_u16(), 404);
    let theirs = format!("/api/v1/merchants/{other_merchant}/devices");
    let (s, _, _) = with_cookie(app, "GET", &theirs, &owner, None, None).await;
    assert_eq!(s, 404);
    // The owner revokes it: the till stops working at once and is listed as revoked.
    let (s, v, _) = with_cookie(app, "DELETE", &one, &owner, Some(&owner.csrf), None).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["revoked_at"].is_string(), "{v}");
    assert_eq!(app.get("/api/v1/me", till_token).await.0.as_u16(), 401);
    let (_, list, _) = with_cookie(app, "GET", &devices, &owner, None, None).await;
    assert!(list[0]["revoked_at"].is_string(), "{list}");
}

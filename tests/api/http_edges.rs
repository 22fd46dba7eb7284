//! The HTTP edges: one time per event, the error envelope on every error, the bearer scheme
//! in any case, token ids and their management, and the idempotency scope of an account.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    a_payment_has_one_time_in_its_reply_and_when_read_back,
    wrong_methods_answer_the_envelope_and_the_scheme_ignores_case,
    token_ids_are_returned_and_staff_manage_a_principals_tokens,
    reissuing_and_revoking_respect_who_manages_whom,
    one_store_is_one_idempotency_scope,
    a_key_belongs_to_one_request_of_one_account,
    campaign_times_sent_with_nanoseconds_read_back_as_answered,
);

/// Enrolls a cashier terminal for `merchant`; returns its answer (id, token, token_id...).
async fn enroll(app: &TestApp, merchant: &str, owner: &str) -> Value {
    app.enroll_device(merchant, owner).await
}

async fn a_payment_has_one_time_in_its_reply_and_when_read_back(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, _) = app.merchant(&op).await;
    let (s, st) = app.shopper(&op).await;
    let charged = app.charge(&op, &p, &s, 5_000).await;
    // Several payments, so a nanosecond clock would show in at least one of them.
    let mut made = vec![charged];
    for amount in [1, 2, 3, 4, 5] {
        let (status, v) = app
            .post_money(
                &format!("/api/v1/programs/{p}/payments"),
                &st,
                json!({"merchant_id": m, "amount": amount}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        made.push(v);
    }
    for reply in made {
        let id = reply["transaction_id"].as_str().expect("id");
        let (status, stored) = app.get(&format!("/api/v1/transactions/{id}"), &st).await;
        assert_eq!(status, StatusCode::OK, "{stored}");
        let answered: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(reply["created_at"].clone()).expect("reply time");
        let read: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(stored["created_at"].clone()).expect("stored time");
        assert_eq!(answered, read, "reply {reply} vs stored {stored}");
        assert_eq!(answered.timestamp_subsec_nanos() % 1_000, 0);
    }
}

/// Times a request sends are stored to the microsecond (PostgreSQL's precision), so the
/// creation reply and every later read give a campaign the same start and end.
async fn campaign_times_sent_with_nanoseconds_read_back_as_answered(app: &TestApp) {
    let op = app.operator().await;
    let currency = app.currency().await;
    let points = app.program("points", json!({})).await;
    let (start, end) = (
        "2026-12-01T00:00:00.123456789Z",
        "2099-01-01T00:00:00.987654321Z",
    );
    let cases = [
        (
            format!("/api/v1/programs/{currency}/premium-campaigns"),
            ["sale_starts_at", "sale_ends_at"],
            json!({"name": "第1弾", "price_yen": 10_000, "premium_yen": 3_000, "units_per_person_max": 2,
                "budget_yen": 9_000, "sale_starts_at": start, "sale_ends_at": end}),
        ),
        (
            format!("/api/v1/programs/{currency}/rebate-campaigns"),
            ["starts_at", "ends_at"],
            json!({"name": "還元", "tiers": [{"category": "member", "rate": "0.1"}], "monthly_cap_points": 100,
                "budget_points": 1_000, "starts_at": start, "ends_at": end, "grant_mode": "immediate"}),
        ),
        (
            format!("/api/v1/programs/{points}/point-campaigns"),
            ["starts_at", "ends_at"],
            json!({"name": "倍", "multiplier": "2", "starts_at": start, "ends_at": end}),
        ),
    ];
    for (path, fields, body) in cases {
        let (s, made) = app.post_money(&path, &op, body).await;
        assert_eq!(s, StatusCode::CREATED, "{path}: {made}");
        let (s, list) = app.get(&path, &op).await;
        assert_eq!(s, StatusCode::OK, "{list}");
        let read = list
            .as_array()
            .expect("list")
            .iter()
            .find(|c| c["id"] == made["id"])
            .unwrap_or_else(|| panic!("{path}: {} not in {list}", made["id"]));
        for field in fields {
            assert_eq!(made[field], read[field], "{path} {field}: {made} vs {read}");
            let at: chrono::DateTime<chrono::Utc> =
                serde_json::from_value(made[field].clone()).expect("time");
            assert_eq!(
                at.timestamp_subsec_nanos() % 1_000,
                0,
                "{path} {field}: {made}"
            );
        }
    }
    // The cut is a truncation, not a rounding: .123456789 is .123456.
    let (_, list) = app
        .get(&format!("/api/v1/programs/{points}/point-campaigns"), &op)
        .await;
    let at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(list[0]["starts_at"].clone()).expect("time");
    assert_eq!(at.timestamp_subsec_micros(), 123_456, "{list}");
}

async fn wrong_methods_answer_the_envelope_and_the_scheme_ignores_case(app: &TestApp) {
    // A known path with a method it does not take: 405 in the envelope, Allow kept.
    let resp = app
        .client
        .delete(format!("{}/api/v1/programs", app.base))
        .bearer_auth(&app.admin)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let allow = resp
        .headers()
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    let body: Value = resp.json().await.expect("a JSON body");
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
    assert!(body["error"]["message"].is_string());

    // The scheme is case-insensitive; another scheme is not a bearer token.
    for scheme in ["bearer", "BEARER", "Bearer", "bEaReR"] {
        let resp = app
            .client
            .get(format!("{}/api/v1/me", app.base))
            .header("Authorization", format!("{scheme} {}", app.admin))
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), StatusCode::OK, "scheme {scheme}");
    }
    for header in [
        format!("Basic {}", app.admin),
        format!("Bearer{}", app.admin),
    ] {
        let resp = app
            .client
            .get(format!("{}/api/v1/me", app.base))
            .header("Authorization", header.clone())
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{header}");
        let body: Value = resp.json().await.expect("a JSON body");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
}

async fn token_ids_are_returned_and_staff_manage_a_principals_tokens(app: &TestApp) {
    let op = app.operator().await;
    let (_, shopper) = app
        .post("/api/v1/shoppers", &op, json!({"display_name": "田中"}))
        .await;
    let (sid, token, token_id) = (
        shopper["id"].as_str().expect("id").to_owned(),
        shopper["token"].as_str().expect("token").to_owned(),
        shopper["token_id"].as_str().expect("token_id").to_owned(),
    );
    // GET /me names the token the request came with.
    let (_, me) = app.get("/api/v1/me", &token).await;
    assert_eq!(me["token_id"], token_id.as_str(), "{me}");
    // Every way of issuing a token answers its id: staff, stores, devices.
    let (_, staff) = app
        .post(
            "/api/v1/staff",
            &app.admin,
            json!({"name": "係員", "kind": "operator", "role": "viewer"}),
        )
        .await;
    let (_, merchant) = app
        .post("/api/v1/merchants", &op, json!({"name": "本屋"}))
        .await;
    let owner = merchant["token"].as_str().expect("token");
    let device = enroll(app, merchant["id"].as_str().expect("id"), owner).await;
    for issued in [&staff, &merchant, &device] {
        let (_, me) = app
            .get("/api/v1/me", issued["token"].as_str().expect("token"))
            .await;
        assert_eq!(me["token_id"], issued["token_id"], "{issued} / {me}");
    }

    // The shopper revokes their own token by its id and is locked out...
    let (s, v) = app
        .request(
            "DELETE",
            &format!("/api/v1/tokens/{token_id}"),
            Some(&token),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = app.get("/api/v1/me", &token).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // ...until an operator issues a new one.
    let tokens = format!("/api/v1/principals/shopper/{sid}/tokens");
    let (s, renewed) = app.post(&tokens, &op, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{renewed}");
    let new_token = renewed["token"].as_str().expect("token");
    let (s, me) = app.get("/api/v1/me", new_token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (me["kind"].as_str(), me["id"].as_str()),
        (Some("shopper"), Some(sid.as_str()))
    );
    assert_eq!(me["token_id"], renewed["token_id"]);
    // Staff list the shopper's tokens, newest first, the revoked one marked.
    let (s, list) = app.get(&tokens, &op).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["id"], renewed["token_id"]);
    assert!(list[0]["revoked_at"].is_null());
    assert_eq!(list[1]["id"], token_id.as_str());
    assert!(list[1]["revoked_at"].is_string());
    // The shopper is not staff: no listing, not even of their own tokens.
    let (s, _) = app.get(&tokens, new_token).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A store owner's tokens are listed under its store's id.
    let mid = merchant["id"].as_str().expect("id");
    let (s, list) = app
        .get(
            &format!("/api/v1/principals/merchant_owner/{mid}/tokens"),
            &op,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list[0]["id"], merchant["token_id"]);

    // Another city's shopper is not found, for listing and for issuing.
    let other =
        machipay::features::directory::bootstrap_city(&app.app, "別の市".into(), "admin".into())
            .await
            .expect("bootstrap");
    let (_, me) = app.get("/api/v1/me", &other.token).await;
    assert_eq!(
        me["token_id"],
        json!(other.token_id),
        "bootstrap answers its token id"
    );
    let (_, foreign) = app
        .post(
            "/api/v1/shoppers",
            &other.token,
            json!({"display_name": "他市"}),
        )
        .await;
    let foreign = format!(
        "/api/v1/principals/shopper/{}/tokens",
        foreign["id"].as_str().expect("id")
    );
    let (s, _) = app.get(&foreign, &app.admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app.post(&foreign, &app.admin, json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // An unknown kind is a named 400.
    let (s, v) = app
        .get(&format!("/api/v1/principals/wizard/{sid}/tokens"), &op)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], "invalid_path");
}

async fn reissuing_and_revoking_respect_who_manages_whom(app: &TestApp) {
    let op = app.operator().await;
    let (staff_id, staff_token) = app.staff("city", "viewer").await;
    let staff_tokens = format!("/api/v1/principals/staff/{staff_id}/tokens");
    // An operator may not mint or revoke a staff member's token (that would let them act as
    // that staff member); a city admin may.
    let (s, _) = app.post(&staff_tokens, &op, json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, me) = app.get("/api/v1/me", &staff_token).await;
    let staff_token_id = me["token_id"].as_str().expect("token_id").to_owned();
    let revoke = format!("/api/v1/tokens/{staff_token_id}");
    let (s, _) = app.request("DELETE", &revoke, Some(&op), None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = app.post(&staff_tokens, &app.admin, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, _) = app
        .get("/api/v1/me", v["token"].as_str().expect("token"))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .request("DELETE", &revoke, Some(&app.admin), None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.get("/api/v1/me", &staff_token).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Operators revoke a store owner's token and issue the owner a new one.
    let (m, owner) = app.merchant(&op).await;
    let (_, me) = app.get("/api/v1/me", &owner).await;
    let (s, _) = app
        .request(
            "DELETE",
            &format!("/api/v1/tokens/{}", me["token_id"].as_str().expect("id")),
            Some(&op),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.get("/api/v1/me", &owner).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = app
        .post(
            &format!("/api/v1/principals/merchant_owner/{m}/tokens"),
            &op,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let owner = v["token"].as_str().expect("token").to_owned();
    let (_, me) = app.get("/api/v1/me", &owner).await;
    assert_eq!(me["merchant_id"], m.as_str());

    // A device is enrolled again rather than given a token.
    let device = enroll(app, &m, &owner).await;
    let did = device["id"].as_str().expect("id");
    let (s, v) = app
        .post(
            &format!("/api/v1/principals/device/{did}/tokens"),
            &op,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["error"]["code"], "device_token_not_reissued");
    // Viewers see tokens but issue none.
    let viewer = app.staff("operator", "viewer").await.1;
    let (s, _) = app
        .get(&format!("/api/v1/principals/device/{did}/tokens"), &viewer)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .post(
            &format!("/api/v1/principals/merchant_owner/{m}/tokens"),
            &viewer,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

async fn one_store_is_one_idempotency_scope(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, owner) = app.merchant(&op).await;
    let device = enroll(app, &m, &owner).await;
    let device = device["token"].as_str().expect("token");
    let (s, st) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 1_000).await;
    let (status, paid) = app
        .post_money(
            &format!("/api/v1/programs/{p}/payments"),
            &st,
            json!({"merchant_id": m, "amount": 500}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    let refund = json!({"transaction_id": paid["transaction_id"], "amount": 100, "reason": "返品"});
    let path = format!("/api/v1/merchants/{m}/refunds");
    // The till and the back office retry the same refund with the same key: one refund.
    let (s1, first) = app
        .request("POST", &path, Some(device), Some("refund-1"), Some(&refund))
        .await;
    assert_eq!(s1, StatusCode::CREATED, "{first}");
    let (s2, second) = app
        .request("POST", &path, Some(&owner), Some("refund-1"), Some(&refund))
        .await;
    assert_eq!(s2, StatusCode::CREATED, "{second}");
    assert_eq!(first, second, "the owner's retry is the device's refund");
    assert_eq!(app.wallet(&p, &s, "coin").await, 600);
    assert_eq!(app.merchant_balance(&p, &m, "coin").await, 400);
    // The same key with another amount is another request: refused, nothing moves.
    let other = json!({"transaction_id": paid["transaction_id"], "amount": 50, "reason": "返品"});
    let (s3, v) = app
        .request("POST", &path, Some(&owner), Some("refund-1"), Some(&other))
        .await;
    assert_eq!(s3, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "idempotency_key_reused");
    assert_eq!(app.wallet(&p, &s, "coin").await, 600);
    app.assert_ledger_ok(&p).await;
}

async fn a_key_belongs_to_one_request_of_one_account(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, _) = app.merchant(&op).await;
    let (x, xt) = app.shopper(&op).await;
    let (y, yt) = app.shopper(&op).await;
    app.charge(&op, &p, &x, 1_000).await;
    app.charge(&op, &p, &y, 1_000).await;
    let pay = json!({"merchant_id": m, "amount": 100});
    let payments = format!("/api/v1/programs/{p}/payments");
    let (s, _) = app
        .request("POST", &payments, Some(&xt), Some("k-1"), Some(&pay))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    // Another account's same key is its own.
    let (s, _) = app
        .request("POST", &payments, Some(&yt), Some("k-1"), Some(&pay))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    // The same account's key on another route is refused, not a second movement.
    let (s, v) = app
        .request(
            "POST",
            &format!("/api/v1/programs/{p}/transfers"),
            Some(&xt),
            Some("k-1"),
            Some(&json!({"to_shopper_id": y, "amount": 100})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "idempotency_key_reused");
    assert_eq!(app.wallet(&p, &x, "coin").await, 900);
    assert_eq!(app.wallet(&p, &y, "coin").await, 900);
    app.assert_ledger_ok(&p).await;
}

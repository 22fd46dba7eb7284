//! Bad input: every refusal is a named error in the shared envelope and changes nothing.
//! Also tokens: revocation takes effect at once, enrollment codes work once.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    bad_amounts_and_bodies_are_named_and_change_nothing,
    revoked_tokens_stop_working_at_once,
    enrollment_codes_work_once,
);

async fn bad_amounts_and_bodies_are_named_and_change_nothing(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, _) = app.merchant(&op).await;
    let (s, st) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 1_000).await;
    let path = format!("/api/v1/programs/{p}/payments");
    let cases: Vec<(Value, &str)> = vec![
        (json!({"merchant_id": m, "amount": 0}), "invalid_amount"),
        (json!({"merchant_id": m, "amount": -5}), "invalid_amount"),
        (
            json!({"merchant_id": m, "amount": 1_000_000_000_001_i64}),
            "invalid_amount",
        ),
        (
            json!({"merchant_id": m, "amount": 9_223_372_036_854_775_807_i64}),
            "invalid_amount",
        ),
        (json!({"merchant_id": m, "amount": 12.5}), "invalid_amount"),
        (json!({"merchant_id": m, "amount": "100"}), "invalid_amount"),
        (json!({"merchant_id": m, "amount": 1e30}), "invalid_amount"),
        (json!({"merchant_id": m}), "missing_field"),
        (
            json!({"merchant_id": m, "amount": 10, "fee": 0}),
            "unknown_field",
        ),
        (
            json!({"merchant_id": "not-a-uuid", "amount": 10}),
            "invalid_field",
        ),
    ];
    for (body, code) in cases {
        let (status, v) = app.post_money(&path, &st, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {v}");
        assert_eq!(v["error"]["code"], code, "{body} -> {v}");
        assert!(v["error"]["message"].is_string());
    }
    // Huge integers that do not even fit i64, malformed JSON, wrong content type.
    let raw = |body: &'static str, ct: &'static str| {
        app.client
            .post(format!("{}{path}", app.base))
            .bearer_auth(&st)
            .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
            .header("Content-Type", ct)
            .body(body)
    };
    for (body, ct, status, code) in [
        (
            r#"{"merchant_id":"00000000-0000-0000-0000-000000000000","amount":99999999999999999999999}"#,
            "application/json",
            400,
            "invalid_amount",
        ),
        (r#"{"amount": 5"#, "application/json", 400, "malformed_json"),
        (
            r#"{"amount": 5}"#,
            "text/plain",
            415,
            "unsupported_media_type",
        ),
    ] {
        let resp = raw(body, ct).send().await.expect("sent");
        assert_eq!(resp.status().as_u16(), status, "{body}");
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["error"]["code"], code, "{body}");
    }
    // Oversized body. The server answers 413 without reading the rest and closes the
    // connection, so this goes on a client of its own: the shared client's pool must not
    // pick up that closing connection for the next request.
    let big = format!(
        r#"{{"merchant_id":"{m}","amount":1,"pad":"{}"}}"#,
        "x".repeat(200_000)
    );
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", app.base))
        .bearer_auth(&st)
        .header("Idempotency-Key", "big")
        .header("Content-Type", "application/json")
        .body(big)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["error"]["code"], "body_too_large");
    // Missing or absurd idempotency keys.
    let body = json!({"merchant_id": m, "amount": 10});
    let (status, v) = app
        .request("POST", &path, Some(&st), None, Some(&body))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("missing_idempotency_key"))
    );
    let long = "k".repeat(256);
    let (status, v) = app
        .request("POST", &path, Some(&st), Some(&long), Some(&body))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_idempotency_key"))
    );
    // Someone else's or a made-up id: 404, not a hint.
    let (status, v) = app
        .post_money(
            &path,
            &st,
            json!({"merchant_id": uuid::Uuid::now_v7(), "amount": 10}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, v) = app.get("/api/v1/shoppers/not-a-uuid/balances", &st).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_path"))
    );
    let (status, v) = app.get("/api/v1/nowhere", &st).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("no_such_route"))
    );
    // Charges beyond the holding cap are refused whole.
    let (status, v) = app
        .post_money(
            &format!("/api/v1/programs/{p}/charges"),
            &op,
            json!({"shopper_id": s, "amount": 99_001}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("holding_cap_exceeded")
        )
    );
    // Nothing moved.
    assert_eq!(app.wallet(&p, &s, "coin").await, 1_000);
    assert_eq!(app.merchant_balance(&p, &m, "coin").await, 0);
    let check = app.assert_ledger_ok(&p).await;
    assert_eq!(check["transactions"], 1);
}

async fn revoked_tokens_stop_working_at_once(app: &TestApp) {
    let op = app.operator().await;
    let (s, st) = app.shopper(&op).await;
    let (status, me) = app.get("/api/v1/me", &st).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["kind"], "shopper");
    assert_eq!(me["id"], s.as_str());
    // A shopper cannot find (let alone revoke) the operator's token.
    let (_, op_id_token) = app.staff("operator", "viewer").await;
    let (status, _) = app.get("/api/v1/me", &op_id_token).await;
    assert_eq!(status, StatusCode::OK);
    // The admin revokes the shopper's token; the very next request fails.
    let token_id = token_id_of(app, &st).await;
    let (status, v) = app
        .request(
            "DELETE",
            &format!("/api/v1/tokens/{token_id}"),
            Some(&st),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = app.get("/api/v1/me", &st).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"]["code"], "unauthorized");
}

/// The token id is not shown to clients other than through the database; read it there.
async fn token_id_of(app: &TestApp, token: &str) -> uuid::Uuid {
    let hash = machipay_domain::auth::hash_secret(token);
    let (id, _) = machipay::features::directory::store::principal_for_token(&app.app.db, &hash)
        .await
        .expect("query")
        .expect("token exists");
    id.0
}

async fn enrollment_codes_work_once(app: &TestApp) {
    let op = app.operator().await;
    let (m, owner) = app.merchant(&op).await;
    let (_, other_owner) = app.merchant(&op).await;
    let path = format!("/api/v1/merchants/{m}/enrollment-codes");
    let (status, _) = app
        .post(&path, &other_owner, json!({"device_name": "レジ1"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another store's owner");
    let (status, code) = app
        .post(&path, &owner, json!({"device_name": "レジ1"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{code}");
    let body = json!({"code": code["code"]});
    let (status, device) = app
        .request("POST", "/api/v1/devices/enroll", None, None, Some(&body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{device}");
    let (status, me) = app
        .get("/api/v1/me", device["token"].as_str().expect("token"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (me["kind"].as_str(), me["merchant_id"].as_str()),
        (Some("device"), Some(m.as_str()))
    );
    let (status, again) = app
        .request("POST", "/api/v1/devices/enroll", None, None, Some(&body))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(again["error"]["code"], "invalid_enrollment_code");
}

//! Currency programs: settings with effective dates, charge rules, premium sets, bank charges.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    settings_changes_are_validated_dated_and_audited,
    premium_sets_grant_city_funded_premium_within_limits,
    a_bank_reference_charges_once,
);

async fn settings_changes_are_validated_dated_and_audited(app: &TestApp) {
    let op = app.operator().await;
    let p = app.program("currency", json!({})).await;
    let (s, _) = app.shopper(&op).await;
    let charges = format!("/api/v1/programs/{p}/charges");
    let charge =
        |amount: i64| app.post_money(&charges, &op, json!({"shopper_id": s, "amount": amount}));
    // Defaults: ¥1,000 steps from ¥1,000 to ¥50,000.
    for amount in [500, 1_500, 51_000] {
        let (status, v) = charge(amount).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{amount}: {v}");
        assert_eq!(v["error"]["code"], "invalid_charge_amount");
    }
    assert_eq!(charge(3_000).await.0, StatusCode::CREATED);
    let path = format!("/api/v1/programs/{p}/settings");
    // Invalid settings and past dates are refused; viewers may not change settings.
    let (status, v) = app
        .post(&path, &op, json!({"settings": {"charge_min_yen": 1_500}}))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_settings"))
    );
    let (status, v) = app
        .post(
            &path,
            &op,
            json!({"settings": {}, "effective_from": "2020-04-01"}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("effective_date_in_past")
        )
    );
    let (status, v) = app
        .post(&path, &op, json!({"settings": {"bogus": 1}}))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unknown_field"))
    );
    let (_, viewer) = app.staff("operator", "viewer").await;
    assert_eq!(
        app.post(&path, &viewer, json!({"settings": {}})).await.0,
        StatusCode::FORBIDDEN
    );
    // A change effective next year does not apply yet; one effective today does.
    let (status, v) = app
        .post(&path, &op, json!({"settings": {"charge_step_yen": 500, "charge_min_yen": 500}, "effective_from": "2099-04-01"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(charge(1_500).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .post(
            &path,
            &op,
            json!({"settings": {"charge_step_yen": 500, "charge_min_yen": 500}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, v) = charge(1_500).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (_, program) = app.get(&format!("/api/v1/programs/{p}"), &op).await;
    assert_eq!(program["settings"]["charge_step_yen"], 500);
    // The audit trail: creation, today's change, the future one, with their authors.
    let (status, history) = app.get(&path, &viewer).await;
    assert_eq!(status, StatusCode::OK);
    let versions = history.as_array().expect("array");
    assert_eq!(versions.len(), 3, "{history}");
    assert_eq!(versions[2]["effective_from"], "2099-04-01");
    assert!(versions.iter().all(|v| v["changed_by"].is_string()));
    assert_eq!(app.wallet(&p, &s, "coin").await, 4_500);
}

async fn premium_sets_grant_city_funded_premium_within_limits(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, _) = app.merchant(&op).await;
    let (s, st) = app.shopper(&op).await;
    let (s2, _) = app.shopper(&op).await;
    let campaigns = format!("/api/v1/programs/{p}/premium-campaigns");
    let open = json!({"name": "いたばしPay 第1弾", "price_yen": 10_000, "premium_yen": 3_000, "units_per_person_max": 2,
        "budget_yen": 9_000, "sale_starts_at": "2020-01-01T00:00:00Z", "sale_ends_at": "2099-01-01T00:00:00Z"});
    let (status, c) = app.post_money(&campaigns, &op, open).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let buy = format!("{campaigns}/{}/purchases", c["id"].as_str().expect("id"));
    let (status, v) = app
        .post_money(&buy, &op, json!({"shopper_id": s, "units": 2}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(app.wallet(&p, &s, "coin").await, 20_000);
    assert_eq!(app.wallet(&p, &s, "premium").await, 6_000);
    // Per-person limit, then the budget (9,000 = three units of premium in all).
    let (status, v) = app
        .post_money(&buy, &op, json!({"shopper_id": s, "units": 1}))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("set_limit_reached"))
    );
    let (status, v) = app
        .post_money(&buy, &op, json!({"shopper_id": s2, "units": 2}))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("campaign_budget_exhausted")
        )
    );
    let (status, _) = app
        .post_money(&buy, &op, json!({"shopper_id": s2, "units": 1}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // A campaign not on sale yet.
    let later = json!({"name": "第2弾", "price_yen": 10_000, "premium_yen": 2_000, "units_per_person_max": 1,
        "budget_yen": 100_000, "sale_starts_at": "2098-01-01T00:00:00Z", "sale_ends_at": "2099-01-01T00:00:00Z"});
    let (_, c2) = app.post_money(&campaigns, &op, later).await;
    let (status, v) = app
        .post_money(
            &format!("{campaigns}/{}/purchases", c2["id"].as_str().expect("id")),
            &op,
            json!({"shopper_id": s, "units": 1}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("campaign_not_on_sale")
        )
    );
    // Premium is spent before paid coin.
    let (status, v) = app
        .post_money(
            &format!("/api/v1/programs/{p}/payments"),
            &st,
            json!({"merchant_id": m, "amount": 7_000}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(app.wallet(&p, &s, "premium").await, 0);
    assert_eq!(app.wallet(&p, &s, "coin").await, 19_000);
    assert_eq!(app.merchant_balance(&p, &m, "premium").await, 6_000);
    assert_eq!(app.merchant_balance(&p, &m, "coin").await, 1_000);
    let (status, r) = app
        .get(&format!("/api/v1/programs/{p}/premium-reconciliation"), &op)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            r["sold_yen"].as_i64(),
            r["granted_yen"].as_i64(),
            r["spent_yen"].as_i64(),
            r["outstanding_yen"].as_i64()
        ),
        (Some(30_000), Some(9_000), Some(6_000), Some(3_000)),
        "{r}"
    );
    // Refused sales moved nothing; the books balance.
    app.assert_ledger_ok(&p).await;
}

async fn a_bank_reference_charges_once(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (s, _) = app.shopper(&op).await;
    let path = format!("/api/v1/programs/{p}/bank-charges");
    let body = json!({"shopper_id": s, "amount": 5_000, "bank_reference": "20261123-000042"});
    let first = app
        .request("POST", &path, Some(&op), None, Some(&body))
        .await;
    assert_eq!(first.0, StatusCode::CREATED, "{}", first.1);
    // The bank redelivers, even through another integration token: same answer, no second charge.
    let (_, other_op) = app.staff("operator", "operator").await;
    let again = app
        .request("POST", &path, Some(&other_op), None, Some(&body))
        .await;
    assert_eq!(again, first);
    let changed = json!({"shopper_id": s, "amount": 6_000, "bank_reference": "20261123-000042"});
    let (status, v) = app
        .request("POST", &path, Some(&op), None, Some(&changed))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("idempotency_key_reused")
        )
    );
    let (status, v) = app
        .request(
            "POST",
            &path,
            Some(&op),
            None,
            Some(&json!({"shopper_id": s, "amount": 5_000, "bank_reference": ""})),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_bank_reference"))
    );
    assert_eq!(app.wallet(&p, &s, "coin").await, 5_000);
    app.assert_ledger_ok(&p).await;
}

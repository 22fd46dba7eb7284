//! Rebate campaigns, store refunds with proportional claw-back, and approved cash-outs.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    rebates_follow_tiers_caps_and_budget,
    batch_rebates_are_granted_once_on_their_date,
    refunds_are_bounded_and_take_back_the_rebate_in_proportion,
    cash_out_is_an_approved_exception_only,
);

fn campaign(
    tiers: Value,
    monthly_cap: i64,
    budget: i64,
    mode: &str,
    grant_on: Option<&str>,
) -> Value {
    json!({"name": "20%還元", "tiers": tiers, "monthly_cap_points": monthly_cap, "budget_points": budget,
        "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z", "grant_mode": mode, "grant_on": grant_on})
}

async fn set_category(app: &TestApp, op: &str, merchant: &str, category: &str) {
    let (status, v) = app
        .request(
            "PUT",
            &format!("/api/v1/merchants/{merchant}/category"),
            Some(op),
            None,
            Some(&json!({"category": category})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

async fn pay(app: &TestApp, p: &str, shopper_token: &str, merchant: &str, amount: i64) -> Value {
    let (status, v) = app
        .post_money(
            &format!("/api/v1/programs/{p}/payments"),
            shopper_token,
            json!({"merchant_id": merchant, "amount": amount}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v
}

async fn rebates_follow_tiers_caps_and_budget(app: &TestApp) {
    let op = app.operator().await;
    // Coin first, so the points earned pile up where the test can count them.
    let p = app
        .program(
            "currency",
            json!({"spend_order": "coin_first", "charge_step_yen": 1, "charge_min_yen": 1}),
        )
        .await;
    let (member, _) = app.merchant(&op).await;
    let (conbini, _) = app.merchant(&op).await;
    let (plain, _) = app.merchant(&op).await;
    set_category(app, &op, &member, "member").await;
    set_category(app, &op, &conbini, "convenience").await;
    let tiers =
        json!([{"category": "member", "rate": "0.2"}, {"category": "convenience", "rate": "0.05"}]);
    let (status, c) = app
        .post(
            &format!("/api/v1/programs/{p}/rebate-campaigns"),
            &op,
            campaign(tiers, 300, 450, "immediate", None),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let (a, at) = app.shopper(&op).await;
    let (b, bt) = app.shopper(&op).await;
    app.charge(&op, &p, &a, 10_000).await;
    app.charge(&op, &p, &b, 10_000).await;
    pay(app, &p, &at, &member, 999).await; // 20 % of 999 = 199.8 -> 199
    assert_eq!(app.wallet(&p, &a, "points").await, 199);
    pay(app, &p, &at, &conbini, 100).await; // 5 % -> 5
    assert_eq!(app.wallet(&p, &a, "points").await, 204);
    pay(app, &p, &at, &plain, 1_000).await; // no tier, no rebate
    assert_eq!(app.wallet(&p, &a, "points").await, 204);
    // The monthly cap of 300: this payment earns 200 but gets 300 - 204 = 96.
    pay(app, &p, &at, &member, 1_000).await;
    assert_eq!(app.wallet(&p, &a, "points").await, 300);
    // Paying with points earns nothing: ¥6,901 of coin and 99 points earn 20 % of 6,901, but
    // the cap is reached, so nothing; the points paid are not rebated either.
    pay(app, &p, &at, &member, 7_000).await;
    assert_eq!(app.wallet(&p, &a, "points").await, 201);
    assert_eq!(app.wallet(&p, &a, "coin").await, 0);
    // The budget (450) is what is left for others: 450 - 300 = 150.
    pay(app, &p, &bt, &member, 5_000).await;
    assert_eq!(app.wallet(&p, &b, "points").await, 150);
    pay(app, &p, &bt, &member, 1_000).await;
    assert_eq!(
        app.wallet(&p, &b, "points").await,
        150,
        "the budget ended the campaign"
    );
    app.assert_ledger_ok(&p).await;
}

async fn batch_rebates_are_granted_once_on_their_date(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, _) = app.merchant(&op).await;
    set_category(app, &op, &m, "member").await;
    let tiers = json!([{"category": "member", "rate": "0.1"}]);
    let (status, c) = app
        .post(
            &format!("/api/v1/programs/{p}/rebate-campaigns"),
            &op,
            campaign(tiers, 10_000, 100_000, "batch", Some("2030-01-10")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let (s, st) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 5_000).await;
    pay(app, &p, &st, &m, 2_000).await;
    assert_eq!(
        app.wallet(&p, &s, "points").await,
        0,
        "accrued, not yet granted"
    );
    let day = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("date");
    let early = machipay::ledger::rebates::grant_due(&app.app, day("2030-01-09"))
        .await
        .expect("grant");
    assert_eq!(early.accruals, 0);
    let run = machipay::ledger::rebates::grant_due(&app.app, day("2030-01-10"))
        .await
        .expect("grant");
    assert_eq!((run.accruals, run.points), (1, 200));
    assert_eq!(app.wallet(&p, &s, "points").await, 200);
    let again = machipay::ledger::rebates::grant_due(&app.app, day("2030-01-10"))
        .await
        .expect("grant");
    assert_eq!(again.accruals, 0);
    assert_eq!(app.wallet(&p, &s, "points").await, 200);
    app.assert_ledger_ok(&p).await;
}

async fn refunds_are_bounded_and_take_back_the_rebate_in_proportion(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, owner) = app.merchant(&op).await;
    let (other, other_owner) = app.merchant(&op).await;
    set_category(app, &op, &m, "member").await;
    let tiers = json!([{"category": "member", "rate": "0.2"}]);
    app.post(
        &format!("/api/v1/programs/{p}/rebate-campaigns"),
        &op,
        campaign(tiers, 10_000, 100_000, "immediate", None),
    )
    .await;
    let (s, st) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 5_000).await;
    let paid = pay(app, &p, &st, &m, 1_000).await;
    let tx = paid["transaction_id"].as_str().expect("id");
    assert_eq!(app.wallet(&p, &s, "points").await, 200);
    let refunds = format!("/api/v1/merchants/{m}/refunds");
    // Another store cannot refund this payment; the shopper cannot refund at all.
    let (status, _) = app
        .post_money(
            &format!("/api/v1/merchants/{other}/refunds"),
            &other_owner,
            json!({"transaction_id": tx, "amount": 100, "reason": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post_money(
            &refunds,
            &st,
            json!({"transaction_id": tx, "amount": 100, "reason": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // 40 % back: 400 yen; the rebate keeps floor(200 × 600 / 1000) = 120.
    let (status, r) = app
        .post_money(
            &refunds,
            &owner,
            json!({"transaction_id": tx, "amount": 400, "reason": "返品"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(r["points_clawed_back"], 80);
    assert_eq!(app.wallet(&p, &s, "coin").await, 4_400);
    assert_eq!(app.wallet(&p, &s, "points").await, 120);
    let (status, v) = app
        .post_money(
            &refunds,
            &owner,
            json!({"transaction_id": tx, "amount": 601, "reason": "返品"}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("refund_exceeds_payment")
        )
    );
    // The shopper spends 100 of the 120 points elsewhere; the last refund can take back only 20.
    pay(app, &p, &st, &other, 100).await;
    let (status, r) = app
        .post_money(
            &refunds,
            &owner,
            json!({"transaction_id": tx, "amount": 600, "reason": "返品"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(
        (
            r["points_clawed_back"].as_i64(),
            r["shortfall_points"].as_i64()
        ),
        (Some(20), Some(100))
    );
    assert_eq!(app.wallet(&p, &s, "points").await, 0);
    assert_eq!(app.wallet(&p, &s, "coin").await, 5_000);
    assert_eq!(app.merchant_balance(&p, &m, "coin").await, 0);
    let (status, v) = app
        .post_money(
            &refunds,
            &owner,
            json!({"transaction_id": tx, "amount": 1, "reason": "x"}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("refund_exceeds_payment")
        )
    );
    app.assert_ledger_ok(&p).await;
    // A program with no refund window refuses refunds.
    let closed = app
        .program(
            "currency",
            json!({"refund_window_days": 0, "charge_step_yen": 1, "charge_min_yen": 1}),
        )
        .await;
    app.charge(&op, &closed, &s, 1_000).await;
    let paid = pay(app, &closed, &st, &m, 500).await;
    let (status, v) = app
        .post_money(
            &refunds,
            &owner,
            json!({"transaction_id": paid["transaction_id"], "amount": 100, "reason": "x"}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("refund_window_closed")
        )
    );
}

async fn cash_out_is_an_approved_exception_only(app: &TestApp) {
    let op = app.operator().await;
    let (_, op_admin) = app.staff("operator", "admin").await;
    let p = app.currency().await;
    let (s, st) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 3_000).await;
    let path = format!("/api/v1/programs/{p}/cash-outs-exceptions");
    let path = path.replace("cash-outs-exceptions", "cash-out-exceptions");
    let body = json!({"shopper_id": s, "amount": 2_000, "reason": "転居のため"});
    for token in [&st, &op] {
        let (status, v) = app.post_money(&path, token, body.clone()).await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("cash_out_not_allowed"))
        );
    }
    let (status, v) = app.post_money(&path, &op_admin, body).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(app.wallet(&p, &s, "coin").await, 1_000);
    let (_, t) = app
        .get(
            &format!(
                "/api/v1/transactions/{}",
                v["transaction_id"].as_str().expect("id")
            ),
            &op,
        )
        .await;
    assert!(
        t["memo"].as_str().expect("memo").contains("転居のため"),
        "{t}"
    );
    let (status, v) = app
        .post_money(
            &path,
            &op_admin,
            json!({"shopper_id": s, "amount": 1_001, "reason": "x"}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("insufficient_funds"))
    );
    app.assert_ledger_ok(&p).await;
}

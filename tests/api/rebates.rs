//! Rebate campaigns, store refunds with claw-back, and approved cash-outs; the refund loop,
//! retried and overlapping campaigns, campaign terms, expiry back to the city, and a property
//! test that the cap and the budget hold under any sequence of payments, spends, refunds and
//! grants.

use chrono::{Days, Utc};
use machipay_domain::calendar::{jst_date, jst_end_of_day_utc};
use machipay_domain::ids::ProgramId;
use machipay_domain::ledger::{AccountKind, Asset};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    rebates_follow_tiers_caps_and_budget,
    batch_rebates_are_granted_once_on_their_date,
    refunds_are_bounded_and_take_back_the_rebate_in_proportion,
    cash_out_is_an_approved_exception_only,
    a_refund_loop_never_lifts_the_cap_or_the_budget,
    clawback_shortfall_refuse_stops_the_loop_at_the_till,
    a_refund_that_returns_points_claws_them_back_first,
    claw_backs_leave_the_rate_on_the_net_in_rebates_and_point_cards,
    a_retried_campaign_opens_once_and_campaigns_do_not_stack,
    campaign_terms_show_status_and_remaining_budget_and_refuse_bad_dates,
    premium_campaigns_refuse_an_expiry_before_the_sale_ends,
    expired_rebate_points_go_back_to_the_city,
    random_pays_spends_refunds_and_grants_keep_the_cap_and_budget,
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

/// A currency program with ¥1 charge steps and `extra` settings on top.
async fn program(app: &TestApp, extra: Value) -> String {
    let mut s = json!({"charge_step_yen": 1, "charge_min_yen": 1, "charge_max_yen": 100_000});
    for (k, v) in extra.as_object().expect("object") {
        s[k] = v.clone();
    }
    app.program("currency", s).await
}

async fn open_campaign(app: &TestApp, op: &str, p: &str, body: Value) -> Value {
    let (status, c) = app
        .post_money(&format!("/api/v1/programs/{p}/rebate-campaigns"), op, body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    c
}

async fn refund(
    app: &TestApp,
    m: &str,
    owner: &str,
    tx: &Value,
    amount: i64,
) -> (StatusCode, Value) {
    app.post_money(
        &format!("/api/v1/merchants/{m}/refunds"),
        owner,
        json!({"transaction_id": tx, "amount": amount, "reason": "返品"}),
    )
    .await
}

async fn campaigns(app: &TestApp, p: &str, token: &str) -> Vec<Value> {
    let (status, v) = app
        .get(&format!("/api/v1/programs/{p}/rebate-campaigns"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v.as_array().expect("list").clone()
}

async fn book(app: &TestApp, p: &str, kind: AccountKind, asset: Asset) -> i64 {
    machipay::writer::rows::system_accounts(&app.app.db, ProgramId(p.parse().expect("id")))
        .await
        .expect("accounts")
        .iter()
        .filter(|a| a.kind == kind && a.asset == asset)
        .map(|a| a.balance)
        .sum()
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
    open_campaign(app, &op, &p, campaign(tiers, 300, 450, "immediate", None)).await;
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
    open_campaign(
        app,
        &op,
        &p,
        campaign(tiers, 10_000, 100_000, "batch", Some("2030-01-10")),
    )
    .await;
    let (s, st) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 5_000).await;
    pay(app, &p, &st, &m, 2_000).await;
    assert_eq!(
        app.wallet(&p, &s, "points").await,
        0,
        "accrued, not yet granted"
    );
    let day = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("date");
    let early = machipay::features::campaigns::rebates::grant_due(&app.app, day("2030-01-09"))
        .await
        .expect("grant");
    assert_eq!(early.accruals, 0);
    let run = machipay::features::campaigns::rebates::grant_due(&app.app, day("2030-01-10"))
        .await
        .expect("grant");
    assert_eq!((run.accruals, run.points.get()), (1, 200));
    assert_eq!(app.wallet(&p, &s, "points").await, 200);
    let again = machipay::features::campaigns::rebates::grant_due(&app.app, day("2030-01-10"))
        .await
        .expect("grant");
    assert_eq!(again.accruals, 0);
    assert_eq!(app.wallet(&p, &s, "points").await, 200);
    app.assert_ledger_ok(&p).await;
}

async fn refunds_are_bounded_and_take_back_the_rebate_in_proportion(app: &TestApp) {
    let op = app.operator().await;
    // take_remaining: a claw-back of spent points is recorded as a shortfall (see below).
    let p = program(app, json!({"clawback_shortfall": "take_remaining"})).await;
    let (m, owner) = app.merchant(&op).await;
    let (other, other_owner) = app.merchant(&op).await;
    set_category(app, &op, &m, "member").await;
    let tiers = json!([{"category": "member", "rate": "0.2"}]);
    open_campaign(
        app,
        &op,
        &p,
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

/// A 20 % campaign with a monthly cap of 3,000 points and a budget of 5,000, on `category`.
fn loop_campaign(category: &str) -> Value {
    campaign(
        json!([{"category": category, "rate": "0.2"}]),
        3_000,
        5_000,
        "immediate",
        None,
    )
}

async fn a_refund_loop_never_lifts_the_cap_or_the_budget(app: &TestApp) {
    let op = app.operator().await;
    let p = program(app, json!({"clawback_shortfall": "take_remaining"})).await;
    let (member, owner) = app.merchant(&op).await;
    let (other, _) = app.merchant(&op).await;
    set_category(app, &op, &member, "member").await;
    open_campaign(app, &op, &p, loop_campaign("member")).await;
    let (a, at) = app.shopper(&op).await;
    app.charge(&op, &p, &a, 50_000).await;
    // Buy for ¥15,000, spend the 3,000 points at another store, have the goods refunded: three
    // times. Only the first round earns; the spent points keep counting against the cap.
    for round in 0..3 {
        let paid = pay(app, &p, &at, &member, 15_000).await;
        let earned = if round == 0 { 3_000 } else { 0 };
        assert_eq!(app.wallet(&p, &a, "points").await, earned, "round {round}");
        if earned > 0 {
            pay(app, &p, &at, &other, 3_000).await; // points first: all 3,000 points
        }
        let (status, r) = refund(app, &member, &owner, &paid["transaction_id"], 15_000).await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        assert_eq!(
            (
                r["points_clawed_back"].as_i64(),
                r["shortfall_points"].as_i64()
            ),
            (Some(0), Some(earned)),
            "round {round}: {r}"
        );
    }
    assert_eq!(app.wallet(&p, &a, "coin").await, 50_000);
    assert_eq!(app.merchant_balance(&p, &other, "points").await, 3_000);
    // The budget left for everyone else is 5,000 − 3,000: the shortfall freed nothing.
    let (b, bt) = app.shopper(&op).await;
    app.charge(&op, &p, &b, 50_000).await;
    pay(app, &p, &bt, &member, 15_000).await;
    assert_eq!(app.wallet(&p, &b, "points").await, 2_000);
    pay(app, &p, &bt, &member, 5_000).await; // spends the 2,000 points, earns nothing
    assert_eq!(app.wallet(&p, &b, "points").await, 0);
    assert_eq!(
        -book(app, &p, AccountKind::CitySubsidy, Asset::Points).await,
        5_000,
        "the city paid out exactly its budget"
    );
    let listed = campaigns(app, &p, &bt).await;
    assert_eq!(
        (
            listed[0]["status"].as_str(),
            listed[0]["points_used"].as_i64(),
            listed[0]["budget_remaining_points"].as_i64()
        ),
        (Some("budget_exhausted"), Some(5_000), Some(0))
    );
    app.assert_ledger_ok(&p).await;
}

async fn clawback_shortfall_refuse_stops_the_loop_at_the_till(app: &TestApp) {
    let op = app.operator().await;
    let p = program(app, json!({"clawback_shortfall": "refuse"})).await;
    let (member, owner) = app.merchant(&op).await;
    let (other, _) = app.merchant(&op).await;
    set_category(app, &op, &member, "member").await;
    open_campaign(app, &op, &p, loop_campaign("member")).await;
    let (a, at) = app.shopper(&op).await;
    app.charge(&op, &p, &a, 50_000).await;
    let paid = pay(app, &p, &at, &member, 15_000).await;
    pay(app, &p, &at, &other, 2_500).await; // 2,500 of the 3,000 points spent
    let (status, v) = refund(app, &member, &owner, &paid["transaction_id"], 15_000).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("points_already_spent")
        ),
        "{v}"
    );
    assert_eq!(app.wallet(&p, &a, "coin").await, 35_000, "nothing moved");
    assert_eq!(app.wallet(&p, &a, "points").await, 500);
    // A partial refund the held points cover is fine: ¥2,500 back keeps floor(20 % of
    // ¥12,500) = 2,500 points, so 500 come back.
    let (status, r) = refund(app, &member, &owner, &paid["transaction_id"], 2_500).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(
        (
            r["points_clawed_back"].as_i64(),
            r["shortfall_points"].as_i64()
        ),
        (Some(500), Some(0))
    );
    assert_eq!(app.wallet(&p, &a, "points").await, 0);
    app.assert_ledger_ok(&p).await;
}

async fn a_refund_that_returns_points_claws_them_back_first(app: &TestApp) {
    let op = app.operator().await;
    // Points first (the default spend order), so the second payment uses the 500 points.
    let p = program(app, json!({"clawback_shortfall": "take_remaining"})).await;
    let (member, owner) = app.merchant(&op).await;
    let (other, _) = app.merchant(&op).await;
    set_category(app, &op, &member, "member").await;
    let tiers = json!([{"category": "member", "rate": "0.2"}]);
    open_campaign(
        app,
        &op,
        &p,
        campaign(tiers, 10_000, 100_000, "immediate", None),
    )
    .await;
    let (a, at) = app.shopper(&op).await;
    app.charge(&op, &p, &a, 20_000).await;
    pay(app, &p, &at, &member, 2_500).await;
    assert_eq!(app.wallet(&p, &a, "points").await, 500);
    let second = pay(app, &p, &at, &member, 10_000).await; // 500 points + ¥9,500: earns 1,900
    assert_eq!(app.wallet(&p, &a, "points").await, 1_900);
    pay(app, &p, &at, &other, 1_900).await;
    assert_eq!(app.wallet(&p, &a, "points").await, 0);
    let (status, r) = refund(app, &member, &owner, &second["transaction_id"], 10_000).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(
        (
            r["points_clawed_back"].as_i64(),
            r["shortfall_points"].as_i64()
        ),
        (Some(500), Some(1_400)),
        "{r}"
    );
    assert_eq!(app.wallet(&p, &a, "points").await, 0);
    assert_eq!(app.wallet(&p, &a, "coin").await, 17_500);
    assert_eq!(app.merchant_balance(&p, &member, "points").await, 0);
    // Nothing more can be refunded of it: the points part counts as given back.
    let (status, v) = refund(app, &member, &owner, &second["transaction_id"], 1).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("refund_exceeds_payment")
        )
    );
    app.assert_ledger_ok(&p).await;
}

async fn claw_backs_leave_the_rate_on_the_net_in_rebates_and_point_cards(app: &TestApp) {
    let op = app.operator().await;
    let p = program(app, json!({"spend_order": "coin_first"})).await;
    let (member, owner) = app.merchant(&op).await;
    set_category(app, &op, &member, "member").await;
    let tiers = json!([{"category": "member", "rate": "0.2"}]);
    open_campaign(
        app,
        &op,
        &p,
        campaign(tiers, 10_000, 100_000, "immediate", None),
    )
    .await;
    let (a, at) = app.shopper(&op).await;
    app.charge(&op, &p, &a, 5_000).await;
    // ¥999 at 20 % earns 199; ¥333 back leaves floor(20 % of ¥666) = 133, so 66 go.
    let paid = pay(app, &p, &at, &member, 999).await;
    let (status, r) = refund(app, &member, &owner, &paid["transaction_id"], 333).await;
    assert_eq!(
        (status, r["points_clawed_back"].as_i64()),
        (StatusCode::CREATED, Some(66)),
        "{r}"
    );
    assert_eq!(app.wallet(&p, &a, "points").await, 133);
    // ¥1 back of ¥1,000 already costs a point: the rate on ¥999 is 199.
    let paid = pay(app, &p, &at, &member, 1_000).await;
    let (_, r) = refund(app, &member, &owner, &paid["transaction_id"], 1).await;
    assert_eq!(r["points_clawed_back"].as_i64(), Some(1), "{r}");
    assert_eq!(app.wallet(&p, &a, "points").await, 133 + 199);

    // The point card rounds the same way, at its effective earn rate.
    let cards = app.program("points", json!({"earn_rate": "0.2"})).await;
    let (card, v) = app
        .post(
            &format!("/api/v1/programs/{cards}/cards"),
            &op,
            json!({"shopper_id": null}),
        )
        .await;
    assert_eq!(card, StatusCode::CREATED, "{v}");
    let (card_id, number) = (v["id"].clone(), v["number"].clone());
    let till = |what: &str| format!("/api/v1/merchants/{member}/{what}");
    let (status, e) = app
        .post_money(
            &till("point-earns"),
            &owner,
            json!({"program_id": cards, "card_number": number, "amount": 999}),
        )
        .await;
    assert_eq!(
        (status, e["points"].as_i64()),
        (StatusCode::CREATED, Some(199)),
        "{e}"
    );
    let (status, r) = app
        .post_money(
            &till("point-returns"),
            &owner,
            json!({"transaction_id": e["transaction_id"], "amount": 333}),
        )
        .await;
    assert_eq!(
        (status, r["points"].as_i64()),
        (StatusCode::CREATED, Some(66)),
        "{r}"
    );
    let (_, c) = app
        .get(
            &format!("/api/v1/cards/{}", card_id.as_str().expect("id")),
            &op,
        )
        .await;
    assert_eq!(c["balance"], 133, "{c}");
    app.assert_ledger_ok(&p).await;
    app.assert_ledger_ok(&cards).await;
}

async fn a_retried_campaign_opens_once_and_campaigns_do_not_stack(app: &TestApp) {
    let op = app.operator().await;
    let p = program(app, json!({})).await;
    let (member, _) = app.merchant(&op).await;
    set_category(app, &op, &member, "member").await;
    let path = format!("/api/v1/programs/{p}/rebate-campaigns");
    let body = campaign(
        json!([{"category": "member", "rate": "0.2"}]),
        10_000,
        100_000,
        "immediate",
        None,
    );
    let send = |key: &'static str, body: Value| {
        let (path, op) = (path.clone(), op.clone());
        async move {
            app.request("POST", &path, Some(&op), Some(key), Some(&body))
                .await
        }
    };
    let (s1, c1) = send("open-20", body.clone()).await;
    let (s2, c2) = send("open-20", body.clone()).await;
    assert_eq!(
        (s1, s2),
        (StatusCode::CREATED, StatusCode::CREATED),
        "{c1} {c2}"
    );
    assert_eq!(c1["id"], c2["id"], "the retry answers the first campaign");
    let mut other = body.clone();
    other["name"] = json!("別の名前");
    let (status, v) = send("open-20", other).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("idempotency_key_reused")
        )
    );
    let (status, v) = app
        .request("POST", &path, Some(&op), None, Some(&body))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("missing_idempotency_key"))
    );
    // The same terms again under a new key overlap the first: campaigns do not stack.
    let (status, v) = send("open-20-again", body.clone()).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("campaign_overlaps")),
        "{v}"
    );
    // Another category, or the same one after the first ends, is fine.
    let conbini = campaign(
        json!([{"category": "convenience", "rate": "0.05"}]),
        100,
        1_000,
        "immediate",
        None,
    );
    let (status, v) = send("open-5", conbini).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let mut later = body.clone();
    later["starts_at"] = json!("2099-01-01T00:00:00Z");
    later["ends_at"] = json!("2099-02-01T00:00:00Z");
    let (status, v) = send("open-later", later).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(campaigns(app, &p, &op).await.len(), 3);
    // So ¥1,000 at "20 %" earns 200 points, not 400.
    let (a, at) = app.shopper(&op).await;
    app.charge(&op, &p, &a, 1_000).await;
    pay(app, &p, &at, &member, 1_000).await;
    assert_eq!(app.wallet(&p, &a, "points").await, 200);

    // Premium and point campaigns are idempotent too.
    let premium = format!("/api/v1/programs/{p}/premium-campaigns");
    let set = json!({"name": "第1弾", "price_yen": 10_000, "premium_yen": 3_000, "units_per_person_max": 2,
        "budget_yen": 9_000, "sale_starts_at": "2020-01-01T00:00:00Z", "sale_ends_at": "2099-01-01T00:00:00Z"});
    let (_, k1) = app
        .request("POST", &premium, Some(&op), Some("premium-1"), Some(&set))
        .await;
    let (_, k2) = app
        .request("POST", &premium, Some(&op), Some("premium-1"), Some(&set))
        .await;
    assert_eq!(k1["id"], k2["id"], "{k1} {k2}");
    let (_, listed) = app.get(&premium, &op).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let cards = app.program("points", json!({})).await;
    let points = format!("/api/v1/programs/{cards}/point-campaigns");
    let double = json!({"name": "倍", "multiplier": "2", "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"});
    let (_, d1) = app
        .request("POST", &points, Some(&op), Some("double-1"), Some(&double))
        .await;
    let (_, d2) = app
        .request("POST", &points, Some(&op), Some("double-1"), Some(&double))
        .await;
    assert_eq!(d1["id"], d2["id"], "{d1} {d2}");
    let (_, listed) = app.get(&points, &op).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
}

async fn campaign_terms_show_status_and_remaining_budget_and_refuse_bad_dates(app: &TestApp) {
    let op = app.operator().await;
    let p = program(app, json!({})).await;
    let (member, _) = app.merchant(&op).await;
    let (large, _) = app.merchant(&op).await;
    set_category(app, &op, &member, "member").await;
    set_category(app, &op, &large, "large").await;
    // A 0 % tier can be stated ("large stores 0 %"); it earns nothing.
    let tiers = json!([{"category": "member", "rate": "0.2"}, {"category": "large", "rate": "0"}]);
    let running = open_campaign(
        app,
        &op,
        &p,
        campaign(tiers, 10_000, 300, "immediate", None),
    )
    .await;
    assert_eq!(
        (
            running["status"].as_str(),
            running["budget_remaining_points"].as_i64()
        ),
        (Some("running"), Some(300))
    );
    let mut past = campaign(
        json!([{"category": "past", "rate": "0.1"}]),
        100,
        100,
        "immediate",
        None,
    );
    past["starts_at"] = json!("2020-01-01T00:00:00Z");
    past["ends_at"] = json!("2021-01-01T00:00:00Z");
    open_campaign(app, &op, &p, past).await;
    let mut future = campaign(
        json!([{"category": "future", "rate": "0.1"}]),
        100,
        100,
        "immediate",
        None,
    );
    future["starts_at"] = json!("2098-01-01T00:00:00Z");
    open_campaign(app, &op, &p, future).await;
    let (a, at) = app.shopper(&op).await;
    app.charge(&op, &p, &a, 5_000).await;
    pay(app, &p, &at, &large, 1_000).await;
    assert_eq!(app.wallet(&p, &a, "points").await, 0, "0 % earns nothing");
    pay(app, &p, &at, &member, 1_000).await;
    assert_eq!(app.wallet(&p, &a, "points").await, 200);
    let status_of = |list: &[Value]| -> Vec<(String, i64)> {
        list.iter()
            .map(|c| {
                (
                    c["status"].as_str().expect("status").to_owned(),
                    c["budget_remaining_points"].as_i64().expect("remaining"),
                )
            })
            .collect()
    };
    let list = campaigns(app, &p, &at).await;
    assert_eq!(
        status_of(&list),
        vec![
            ("running".to_owned(), 100),
            ("ended".to_owned(), 100),
            ("scheduled".to_owned(), 100)
        ]
    );
    pay(app, &p, &at, &member, 3_000).await; // the 200 points first, then ¥2,800: capped by the budget
    let list = campaigns(app, &p, &at).await;
    assert_eq!(status_of(&list)[0], ("budget_exhausted".to_owned(), 0));

    // Points that would expire before they can be used are refused.
    let today = jst_date(Utc::now());
    let path = format!("/api/v1/programs/{p}/rebate-campaigns");
    let refused = |body: Value| {
        let (path, op) = (path.clone(), op.clone());
        async move {
            let (status, v) = app.post_money(&path, &op, body).await;
            assert_eq!(
                (status, v["error"]["code"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("expiry_too_early")),
                "{v}"
            );
        }
    };
    let yesterday = today.checked_sub_days(Days::new(1)).expect("date");
    let mut b = campaign(
        json!([{"category": "x1", "rate": "0.1"}]),
        100,
        100,
        "batch",
        Some("2030-01-10"),
    );
    b["points_expire_on"] = json!(yesterday.to_string());
    refused(b.clone()).await;
    b["points_expire_on"] = json!("2030-01-09");
    refused(b.clone()).await;
    let mut i = campaign(
        json!([{"category": "x2", "rate": "0.1"}]),
        100,
        100,
        "immediate",
        None,
    );
    i["points_expire_on"] = json!("2098-12-31"); // the campaign runs to 2099-01-01
    refused(i.clone()).await;
    b["points_expire_on"] = json!("2030-01-10");
    open_campaign(app, &op, &p, b).await;
    // Bad tiers are named.
    let (status, v) = app
        .post_money(
            &format!("/api/v1/programs/{p}/rebate-campaigns"),
            &op,
            campaign(
                json!([{"category": "y", "rate": "0.1"}, {"category": "y", "rate": "0.2"}]),
                100,
                100,
                "immediate",
                None,
            ),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_campaign"))
    );
}

async fn premium_campaigns_refuse_an_expiry_before_the_sale_ends(app: &TestApp) {
    let op = app.operator().await;
    let p = program(app, json!({})).await;
    let path = format!("/api/v1/programs/{p}/premium-campaigns");
    let today = jst_date(Utc::now());
    let body = |expires: String, sale_ends: String| {
        json!({"name": "第1弾", "price_yen": 10_000, "premium_yen": 3_000, "units_per_person_max": 2, "budget_yen": 9_000,
            "sale_starts_at": "2020-01-01T00:00:00Z", "sale_ends_at": sale_ends, "premium_expires_on": expires})
    };
    let yesterday = today.checked_sub_days(Days::new(1)).expect("date");
    let in_a_month = today.checked_add_days(Days::new(30)).expect("date");
    let sale_ends = jst_end_of_day_utc(in_a_month).to_rfc3339();
    for expires in [
        yesterday,
        in_a_month.checked_sub_days(Days::new(1)).expect("date"),
    ] {
        let (status, v) = app
            .post_money(&path, &op, body(expires.to_string(), sale_ends.clone()))
            .await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("expiry_too_early")),
            "{expires}: {v}"
        );
    }
    let (status, v) = app
        .post_money(&path, &op, body(in_a_month.to_string(), sale_ends))
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the premium lasts to the sale's last day: {v}"
    );
    let (_, listed) = app.get(&path, &op).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
}

async fn expired_rebate_points_go_back_to_the_city(app: &TestApp) {
    let op = app.operator().await;
    let p = program(app, json!({})).await;
    let (member, _) = app.merchant(&op).await;
    set_category(app, &op, &member, "member").await;
    let today = jst_date(Utc::now());
    // Points spendable through today; the campaign ends with today, so none is born expired.
    let mut body = campaign(
        json!([{"category": "member", "rate": "0.2"}]),
        10_000,
        100_000,
        "immediate",
        None,
    );
    body["ends_at"] = json!(jst_end_of_day_utc(today).to_rfc3339());
    body["points_expire_on"] = json!(today.to_string());
    open_campaign(app, &op, &p, body).await;
    let (a, at) = app.shopper(&op).await;
    app.charge(&op, &p, &a, 1_000).await;
    pay(app, &p, &at, &member, 1_000).await;
    assert_eq!(app.wallet(&p, &a, "points").await, 200);
    assert_eq!(
        book(app, &p, AccountKind::CitySubsidy, Asset::Points).await,
        -200
    );
    let tomorrow = today.checked_add_days(Days::new(1)).expect("date");
    let run = machipay::features::expiry::expire(&app.app, tomorrow)
        .await
        .expect("expiry");
    assert_eq!(
        (run.rebate_points.wallets, run.rebate_points.amount),
        (1, 200),
        "{run}"
    );
    assert_eq!(
        run.points.amount, 0,
        "no rebate point goes to breakage: {run}"
    );
    assert_eq!(app.wallet(&p, &a, "points").await, 0);
    assert_eq!(
        book(app, &p, AccountKind::CitySubsidy, Asset::Points).await,
        0
    );
    assert_eq!(book(app, &p, AccountKind::Breakage, Asset::Points).await, 0);
    let (status, r) = app
        .get(&format!("/api/v1/programs/{p}/premium-reconciliation"), &op)
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(
        (
            r["rebate_points_granted"].as_i64(),
            r["rebate_points_expired"].as_i64(),
            r["rebate_points_outstanding"].as_i64()
        ),
        (Some(200), Some(200), Some(0)),
        "{r}"
    );
    app.assert_ledger_ok(&p).await;
}

const PROP_SHOPPERS: usize = 2;
/// Stores: 0 is a member (20 %, immediate), 1 a convenience store (10 %, batch), 2 neither.
const PROP_STORES: usize = 3;
const PROP_CAP: [i64; 2] = [1_000, 400];
const PROP_BUDGET: [i64; 2] = [1_800, 700];

#[derive(Debug, Clone)]
enum Op {
    /// A payment (points first, so it spends rebate points when the shopper holds some).
    Pay {
        shopper: usize,
        store: usize,
        amount: i64,
    },
    /// A refund of part of one of the payments so far (any: over-refunds are refused).
    Refund { pick: Index, amount: i64 },
    /// The batch grant run.
    Grant,
}

fn prop_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..PROP_SHOPPERS, 0..PROP_STORES, 1i64..=8_000)
            .prop_map(|(shopper, store, amount)| Op::Pay { shopper, store, amount }),
        4 => (any::<Index>(), 1i64..=8_000).prop_map(|(pick, amount)| Op::Refund { pick, amount }),
        1 => Just(Op::Grant),
    ]
}

async fn random_pays_spends_refunds_and_grants_keep_the_cap_and_budget(app: &TestApp) {
    let op = app.operator().await;
    let config = Config {
        failure_persistence: None,
        max_shrink_iters: 64,
        ..Config::with_cases(8)
    };
    let mut runner = TestRunner::new(config);
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::block_in_place(|| {
        runner.run(&prop::collection::vec(prop_op(), 5..=30), |ops| {
            handle.block_on(prop_case(app, &op, &ops))
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

async fn prop_case(app: &TestApp, op: &str, ops: &[Op]) -> Result<(), TestCaseError> {
    let p = program(
        app,
        json!({"clawback_shortfall": "take_remaining", "holding_cap_yen": 1_000_000}),
    )
    .await;
    let mut stores = Vec::new();
    for (i, category) in ["member", "convenience", "none"].iter().enumerate() {
        let (m, owner) = app.merchant(op).await;
        if i < 2 {
            set_category(app, op, &m, category).await;
        }
        stores.push((m, owner));
    }
    let today = jst_date(Utc::now()).to_string();
    let member = campaign(
        json!([{"category": "member", "rate": "0.2"}]),
        PROP_CAP[0],
        PROP_BUDGET[0],
        "immediate",
        None,
    );
    let conbini = campaign(
        json!([{"category": "convenience", "rate": "0.1"}]),
        PROP_CAP[1],
        PROP_BUDGET[1],
        "batch",
        Some(&today),
    );
    let ids = [
        open_campaign(app, op, &p, member).await["id"].clone(),
        open_campaign(app, op, &p, conbini).await["id"].clone(),
    ];
    let mut shoppers = Vec::new();
    for _ in 0..PROP_SHOPPERS {
        let (s, token) = app.shopper(op).await;
        app.charge(op, &p, &s, 60_000).await;
        shoppers.push(token);
    }
    let mut payments: Vec<(Value, usize)> = Vec::new();
    for o in ops {
        match o {
            Op::Pay {
                shopper,
                store,
                amount,
            } => {
                let (status, v) = app
                    .post_money(
                        &format!("/api/v1/programs/{p}/payments"),
                        &shoppers[*shopper],
                        json!({"merchant_id": stores[*store].0, "amount": amount}),
                    )
                    .await;
                match status {
                    StatusCode::CREATED => payments.push((v["transaction_id"].clone(), *store)),
                    _ => prop_assert_eq!(
                        v["error"]["code"].as_str(),
                        Some("insufficient_funds"),
                        "{}",
                        v
                    ),
                }
            }
            Op::Refund { pick, amount } if !payments.is_empty() => {
                let (tx, store) = payments[pick.index(payments.len())].clone();
                let (m, owner) = &stores[store];
                let (status, v) = refund(app, m, owner, &tx, *amount).await;
                if status != StatusCode::CREATED {
                    prop_assert_eq!(
                        v["error"]["code"].as_str(),
                        Some("refund_exceeds_payment"),
                        "{}",
                        v
                    );
                }
            }
            Op::Refund { .. } => {}
            Op::Grant => {
                machipay::features::campaigns::rebates::grant_due(&app.app, jst_date(Utc::now()))
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
        }
    }
    machipay::features::campaigns::rebates::grant_due(&app.app, jst_date(Utc::now()))
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    // Per shopper per month, and per campaign, what was granted net of claw-backs (spent points
    // a refund could not take back included) stays within the cap and the budget.
    let program_id = ProgramId(p.parse().expect("id"));
    let rows = machipay::features::campaigns::rebates::store::live_points_by_shopper_month(
        &app.app.db,
        program_id,
    )
    .await
    .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut per_campaign = [0i64; 2];
    for (campaign, _, _, points) in rows {
        let k = ids
            .iter()
            .position(|id| id.as_str() == Some(campaign.to_string().as_str()))
            .expect("campaign");
        prop_assert!(points <= PROP_CAP[k], "campaign {k}: {points} > cap");
        per_campaign[k] += points;
    }
    for k in 0..2 {
        prop_assert!(
            per_campaign[k] <= PROP_BUDGET[k],
            "campaign {k}: {} > budget",
            per_campaign[k]
        );
    }
    // The ledger agrees: what left the city's points account and did not come back is exactly
    // what the campaigns count as granted (everything accrued has been granted by now).
    let out = -book(app, &p, AccountKind::CitySubsidy, Asset::Points).await;
    prop_assert_eq!(out, per_campaign[0] + per_campaign[1]);
    let (_, r) = app
        .get(&format!("/api/v1/programs/{p}/premium-reconciliation"), op)
        .await;
    prop_assert_eq!(r["rebate_points_granted"].as_i64(), Some(out));
    let check = app.assert_ledger_ok(&p).await;
    prop_assert!(check.is_object());
    Ok(())
}

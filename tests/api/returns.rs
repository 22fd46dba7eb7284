//! Returns never give back more than the original moved (issue 12, items 1–4 and 9): a
//! reversal only undoes an original nothing has come back from, refunds and returns refuse
//! reversed originals and returns of returns, for every kind of original; `ledger-check`
//! catches a return beyond its original; a replaced card keeps each grant's expiry.

use chrono::{Days, NaiveDate, Utc};
use machipay::features::expiry::expire;
use machipay::writer::Done;
use machipay::writer::posting::{Lots, Posting, post};
use machipay::writer::rows::{get_account_tx, get_transaction_tx};
use machipay_domain::calendar::jst_date;
use machipay_domain::card::CardNumber;
use machipay_domain::ids::{ProgramId, TransactionId};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    a_refunded_payment_is_not_reversed_and_a_reversed_one_is_not_refunded,
    every_qr_path_follows_the_rule,
    charges_premium_sales_and_transfers_are_reversed_once,
    a_rebate_grant_comes_back_once,
    point_earns_and_spends_are_reversed_only_whole,
    a_replacement_is_not_reversed_and_reversals_never_land_on_a_replaced_card,
    both_parts_of_a_combined_checkout_follow_the_rule,
    ledger_check_catches_a_return_beyond_its_original,
    a_replaced_card_keeps_each_grants_expiry,
);

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

fn id(v: &Value) -> String {
    v["transaction_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no transaction_id: {v}"))
        .to_owned()
}

async fn reverse(app: &TestApp, op: &str, tx: &str) -> (StatusCode, Value) {
    app.post_money(
        &format!("/api/v1/transactions/{tx}/reversals"),
        op,
        json!({"reason": "誤操作"}),
    )
    .await
}

async fn refund(
    app: &TestApp,
    owner: &str,
    merchant: &str,
    tx: &str,
    amount: i64,
) -> (StatusCode, Value) {
    app.post_money(
        &format!("/api/v1/merchants/{merchant}/refunds"),
        owner,
        json!({"transaction_id": tx, "amount": amount, "reason": "返品"}),
    )
    .await
}

async fn pay(app: &TestApp, p: &str, shopper_token: &str, merchant: &str, amount: i64) -> String {
    let (s, v) = app
        .post_money(
            &format!("/api/v1/programs/{p}/payments"),
            shopper_token,
            json!({"merchant_id": merchant, "amount": amount}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    id(&v)
}

/// Asserts a refusal by status and code.
fn refused(got: (StatusCode, Value), status: StatusCode, name: &str) {
    assert_eq!((got.0, code(&got.1)), (status, name), "{}", got.1);
}

fn created(got: &(StatusCode, Value)) {
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
}

/// Item 1: ¥30 of ¥100 refunded, then a reversal would have given the shopper ¥1,030.
async fn a_refunded_payment_is_not_reversed_and_a_reversed_one_is_not_refunded(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, owner) = app.merchant(&op).await;
    let (s, st) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 1_000).await;
    let paid = pay(app, &p, &st, &m, 100).await;
    created(&refund(app, &owner, &m, &paid, 30).await);
    refused(
        reverse(app, &op, &paid).await,
        StatusCode::CONFLICT,
        "partially_returned",
    );
    assert_eq!(app.wallet(&p, &s, "coin").await, 930);
    assert_eq!(app.merchant_balance(&p, &m, "coin").await, 70);
    // Another refund of the same payment is still bounded by what is left of it.
    let second = refund(app, &owner, &m, &paid, 20).await;
    created(&second);
    refused(
        refund(app, &owner, &m, &paid, 51).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refund_exceeds_payment",
    );
    created(&refund(app, &owner, &m, &paid, 50).await);
    refused(
        reverse(app, &op, &paid).await,
        StatusCode::CONFLICT,
        "partially_returned",
    );
    assert_eq!(app.wallet(&p, &s, "coin").await, 1_000);
    assert_eq!(app.merchant_balance(&p, &m, "coin").await, 0);
    // A refund is neither reversed nor refunded.
    let refund_tx = id(&second.1);
    refused(
        reverse(app, &op, &refund_tx).await,
        StatusCode::CONFLICT,
        "not_reversible",
    );
    refused(
        refund(app, &owner, &m, &refund_tx, 1).await,
        StatusCode::CONFLICT,
        "not_refundable",
    );
    // The other way round: a reversed payment is not refunded, nor is its reversal.
    let paid = pay(app, &p, &st, &m, 400).await;
    let reversal = reverse(app, &op, &paid).await;
    created(&reversal);
    refused(
        refund(app, &owner, &m, &paid, 1).await,
        StatusCode::CONFLICT,
        "already_reversed",
    );
    refused(
        refund(app, &owner, &m, &id(&reversal.1), 1).await,
        StatusCode::CONFLICT,
        "not_refundable",
    );
    refused(
        reverse(app, &op, &paid).await,
        StatusCode::CONFLICT,
        "already_reversed",
    );
    refused(
        reverse(app, &op, &id(&reversal.1)).await,
        StatusCode::CONFLICT,
        "is_a_reversal",
    );
    assert_eq!(app.wallet(&p, &s, "coin").await, 1_000);
    assert_eq!(app.merchant_balance(&p, &m, "coin").await, 0);
    app.assert_ledger_ok(&p).await;
}

async fn enroll(app: &TestApp, merchant: &str, owner: &str) -> String {
    app.enroll_device(merchant, owner).await["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// Payments by a static store code, a dynamic request and a shopper's code: each refunded
/// one is not reversed, each reversed one is not refunded.
async fn every_qr_path_follows_the_rule(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, owner) = app.merchant(&op).await;
    let till = enroll(app, &m, &owner).await;
    let (s, st) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 10_000).await;
    let (status, store_code) = app
        .post(
            &format!("/api/v1/merchants/{m}/codes"),
            &owner,
            json!({"program_id": p}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{store_code}");
    let mut payments = Vec::new();
    for _ in 0..2 {
        // Static: the shopper types the amount.
        let (status, v) = app
            .post_money(
                "/api/v1/qr/payments",
                &st,
                json!({"payload": store_code["payload"], "amount": 1_000}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        payments.push(id(&v));
        // Dynamic: the till asks for the amount.
        let (status, r) = app
            .post(
                &format!("/api/v1/merchants/{m}/payment-requests"),
                &till,
                json!({"program_id": p, "amount": 1_000}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        let (status, v) = app
            .post_money("/api/v1/qr/payments", &st, json!({"payload": r["payload"]}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        payments.push(id(&v));
        // Shopper-presented: the till scans the shopper's one-time code.
        let (status, c) = app
            .post(
                &format!("/api/v1/programs/{p}/shopper-codes"),
                &st,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{c}");
        let (status, v) = app
            .post_money(
                &format!("/api/v1/merchants/{m}/shopper-code-payments"),
                &till,
                json!({"code": c["code"], "amount": 1_000}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        payments.push(id(&v));
    }
    assert_eq!(app.wallet(&p, &s, "coin").await, 4_000);
    let (refunded, reversed) = payments.split_at(3);
    for tx in refunded {
        created(&refund(app, &till, &m, tx, 300).await);
        created(&refund(app, &owner, &m, tx, 200).await);
        refused(
            reverse(app, &op, tx).await,
            StatusCode::CONFLICT,
            "partially_returned",
        );
    }
    for tx in reversed {
        created(&reverse(app, &op, tx).await);
        refused(
            refund(app, &till, &m, tx, 1).await,
            StatusCode::CONFLICT,
            "already_reversed",
        );
    }
    // 4,000 left + 3 × 500 refunded + 3 × 1,000 reversed.
    assert_eq!(app.wallet(&p, &s, "coin").await, 8_500);
    assert_eq!(app.merchant_balance(&p, &m, "coin").await, 1_500);
    app.assert_ledger_ok(&p).await;
}

/// Kinds with no return path of their own: the one way back is one reversal.
async fn charges_premium_sales_and_transfers_are_reversed_once(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (s, st) = app.shopper(&op).await;
    let (t, _) = app.shopper(&op).await;
    let charge = id(&app.charge(&op, &p, &s, 2_000).await);
    let campaigns = format!("/api/v1/programs/{p}/premium-campaigns");
    let (status, c) = app
        .post_money(
            &campaigns,
            &op,
            json!({"name": "第1弾", "price_yen": 1_000, "premium_yen": 300, "units_per_person_max": 2,
                "budget_yen": 3_000, "sale_starts_at": "2020-01-01T00:00:00Z", "sale_ends_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let (status, sale) = app
        .post_money(
            &format!("{campaigns}/{}/purchases", c["id"].as_str().expect("id")),
            &op,
            json!({"shopper_id": s, "units": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sale}");
    let (status, moved) = app
        .post_money(
            &format!("/api/v1/programs/{p}/transfers"),
            &st,
            json!({"to_shopper_id": t, "amount": 500}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{moved}");
    assert_eq!(
        (
            app.wallet(&p, &s, "coin").await,
            app.wallet(&p, &s, "premium").await,
            app.wallet(&p, &t, "coin").await
        ),
        (2_500, 300, 500)
    );
    for tx in [id(&moved), id(&sale), charge] {
        let first = reverse(app, &op, &tx).await;
        created(&first);
        refused(
            reverse(app, &op, &tx).await,
            StatusCode::CONFLICT,
            "already_reversed",
        );
        refused(
            reverse(app, &op, &id(&first.1)).await,
            StatusCode::CONFLICT,
            "is_a_reversal",
        );
    }
    assert_eq!(
        (
            app.wallet(&p, &s, "coin").await,
            app.wallet(&p, &s, "premium").await,
            app.wallet(&p, &t, "coin").await
        ),
        (0, 0, 0)
    );
    app.assert_ledger_ok(&p).await;
}

/// The latest transaction of `kind` on a shopper's wallets.
async fn latest_of_kind(app: &TestApp, shopper: &str, kind: &str) -> String {
    let (status, v) = app
        .get(
            &format!("/api/v1/shoppers/{shopper}/activity?limit=50"),
            &app.admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["kind"] == kind)
        .map(id)
        .unwrap_or_else(|| panic!("no {kind} in {v}"))
}

/// A batch rebate grant comes back either by its payment's refunds (claw-back) or by one
/// reversal, never both.
async fn a_rebate_grant_comes_back_once(app: &TestApp) {
    let op = app.operator().await;
    let p = app
        .program(
            "currency",
            json!({"spend_order": "coin_first", "charge_step_yen": 1, "charge_min_yen": 1}),
        )
        .await;
    let (m, owner) = app.merchant(&op).await;
    let (status, v) = app
        .request(
            "PUT",
            &format!("/api/v1/merchants/{m}/category"),
            Some(&op),
            None,
            Some(&json!({"category": "member"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = app
        .post_money(
            &format!("/api/v1/programs/{p}/rebate-campaigns"),
            &op,
            json!({"name": "10%還元", "tiers": [{"category": "member", "rate": "0.1"}],
                "monthly_cap_points": 10_000, "budget_points": 100_000,
                "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z",
                "grant_mode": "batch", "grant_on": "2030-01-10"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (s, st) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 5_000).await;
    let grant_on = NaiveDate::from_ymd_opt(2030, 1, 10).expect("date");
    // Refunded first, then the grant's reversal is refused: the refund already took part.
    let first = pay(app, &p, &st, &m, 1_000).await;
    machipay::features::campaigns::rebates::grant_due(&app.app, grant_on)
        .await
        .expect("grant");
    let grant = latest_of_kind(app, &s, "rebate_grant").await;
    assert_eq!(app.wallet(&p, &s, "points").await, 100);
    created(&refund(app, &owner, &m, &first, 400).await);
    let clawed = app.wallet(&p, &s, "points").await;
    assert!(clawed < 100, "the refund took part of the rebate back");
    refused(
        reverse(app, &op, &grant).await,
        StatusCode::CONFLICT,
        "partially_returned",
    );
    assert_eq!(app.wallet(&p, &s, "points").await, clawed);
    // Reversed first, then the payment's refunds take nothing more of the rebate.
    let second = pay(app, &p, &st, &m, 2_000).await;
    machipay::features::campaigns::rebates::grant_due(&app.app, grant_on)
        .await
        .expect("grant");
    let grant = latest_of_kind(app, &s, "rebate_grant").await;
    assert_eq!(app.wallet(&p, &s, "points").await, clawed + 200);
    created(&reverse(app, &op, &grant).await);
    refused(
        reverse(app, &op, &grant).await,
        StatusCode::CONFLICT,
        "already_reversed",
    );
    assert_eq!(app.wallet(&p, &s, "points").await, clawed);
    let (status, r) = refund(app, &owner, &m, &second, 1_000).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    created(&refund(app, &owner, &m, &second, 1_000).await);
    assert_eq!(app.wallet(&p, &s, "points").await, clawed);
    assert_eq!(app.wallet(&p, &s, "coin").await, 5_000 - 1_000 + 400);
    // A payment outlives no rebate: its granted rebate is reversed first.
    let third = pay(app, &p, &st, &m, 1_000).await;
    machipay::features::campaigns::rebates::grant_due(&app.app, grant_on)
        .await
        .expect("grant");
    let grant = latest_of_kind(app, &s, "rebate_grant").await;
    assert_eq!(app.wallet(&p, &s, "points").await, clawed + 100);
    let (status, v) = reverse(app, &op, &third).await;
    assert_eq!(
        (status, code(&v)),
        (StatusCode::CONFLICT, "rebate_granted"),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&grant)),
        "{v}"
    );
    created(&reverse(app, &op, &grant).await);
    created(&reverse(app, &op, &third).await);
    assert_eq!(app.wallet(&p, &s, "points").await, clawed);
    assert_eq!(app.wallet(&p, &s, "coin").await, 5_000 - 1_000 + 400);
    app.assert_ledger_ok(&p).await;
}

struct Points {
    op: String,
    program: String,
    store: String,
    till: String,
    other: String,
    other_till: String,
}

async fn points(app: &TestApp) -> Points {
    let op = app.operator().await;
    let program = app.program("points", json!({})).await;
    let (store, owner) = app.merchant(&op).await;
    let (other, other_owner) = app.merchant(&op).await;
    let till = enroll(app, &store, &owner).await;
    let other_till = enroll(app, &other, &other_owner).await;
    Points {
        op,
        program,
        store,
        till,
        other,
        other_till,
    }
}

/// Issues a card (linked to `shopper` if given); returns (id, number).
async fn card(app: &TestApp, x: &Points, shopper: Option<&str>) -> (String, String) {
    let (s, v) = app
        .post(
            &format!("/api/v1/programs/{}/cards", x.program),
            &x.op,
            json!({"shopper_id": shopper}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    (
        v["id"].as_str().expect("id").into(),
        v["number"].as_str().expect("number").into(),
    )
}

async fn card_balance(app: &TestApp, id: &str) -> i64 {
    let (s, v) = app.get(&format!("/api/v1/cards/{id}"), &app.admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["balance"].as_i64().expect("balance")
}

async fn till(
    app: &TestApp,
    x: &Points,
    what: &str,
    number: &str,
    amount: i64,
) -> (StatusCode, Value) {
    app.post_money(
        &format!("/api/v1/merchants/{}/{what}", x.store),
        &x.till,
        json!({"program_id": x.program, "card_number": number, "amount": amount}),
    )
    .await
}

async fn point_return(app: &TestApp, x: &Points, tx: &str, amount: i64) -> (StatusCode, Value) {
    app.post_money(
        &format!("/api/v1/merchants/{}/point-returns", x.store),
        &x.till,
        json!({"transaction_id": tx, "amount": amount}),
    )
    .await
}

/// Item 2: spend 100, 60 refunded, then reversed gave the card 160; earn 100, 50 clawed back,
/// then reversed took 150.
async fn point_earns_and_spends_are_reversed_only_whole(app: &TestApp) {
    let x = points(app).await;
    let (card_id, number) = card(app, &x, None).await;
    let earn = till(app, &x, "point-earns", &number, 30_000).await; // 300 pt
    created(&earn);
    let earn = id(&earn.1);
    let spend = till(app, &x, "point-spends", &number, 100).await;
    created(&spend);
    let spend = id(&spend.1);
    created(&point_return(app, &x, &spend, 60).await);
    assert_eq!(card_balance(app, &card_id).await, 260);
    refused(
        reverse(app, &x.op, &spend).await,
        StatusCode::CONFLICT,
        "partially_returned",
    );
    // Another return of the same spend: only what is left of it.
    refused(
        point_return(app, &x, &spend, 41).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "return_exceeds_original",
    );
    let spend_refund = point_return(app, &x, &spend, 40).await;
    created(&spend_refund);
    assert_eq!(card_balance(app, &card_id).await, 300);
    // Half of the purchase returned takes half of its points; the reversal would take all.
    let earn_return = point_return(app, &x, &earn, 15_000).await;
    created(&earn_return);
    assert_eq!(card_balance(app, &card_id).await, 150);
    refused(
        reverse(app, &x.op, &earn).await,
        StatusCode::CONFLICT,
        "partially_returned",
    );
    created(&point_return(app, &x, &earn, 5_000).await);
    assert_eq!(card_balance(app, &card_id).await, 100);
    // Returns are neither reversed nor returned, and neither is a reversal.
    for r in [&spend_refund, &earn_return] {
        refused(
            reverse(app, &x.op, &id(&r.1)).await,
            StatusCode::CONFLICT,
            "not_reversible",
        );
        refused(
            point_return(app, &x, &id(&r.1), 1).await,
            StatusCode::CONFLICT,
            "not_refundable",
        );
    }
    // Reversed first: nothing is left to return.
    let earn = till(app, &x, "point-earns", &number, 2_000).await;
    created(&earn);
    let spend = till(app, &x, "point-spends", &number, 20).await;
    created(&spend);
    for tx in [id(&spend.1), id(&earn.1)] {
        let reversal = reverse(app, &x.op, &tx).await;
        created(&reversal);
        refused(
            point_return(app, &x, &tx, 1).await,
            StatusCode::CONFLICT,
            "already_reversed",
        );
        refused(
            point_return(app, &x, &id(&reversal.1), 1).await,
            StatusCode::CONFLICT,
            "not_refundable",
        );
    }
    assert_eq!(card_balance(app, &card_id).await, 100);
    // Another store's till sees none of this store's movements.
    let (status, v) = app
        .post_money(
            &format!("/api/v1/merchants/{}/point-returns", x.other),
            &x.other_till,
            json!({"transaction_id": id(&spend_refund.1), "amount": 1}),
        )
        .await;
    assert_eq!((status, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
    app.assert_ledger_ok(&x.program).await;
}

/// Item 3: reversing a replacement left the points on the old card, where no number spends
/// them; a reversal of an earn or spend made on the old card would land there too.
async fn a_replacement_is_not_reversed_and_reversals_never_land_on_a_replaced_card(app: &TestApp) {
    let x = points(app).await;
    let (old_id, number) = card(app, &x, None).await;
    let earn = till(app, &x, "point-earns", &number, 10_000).await; // 100 pt
    created(&earn);
    let spend = till(app, &x, "point-spends", &number, 30).await;
    created(&spend);
    // A full check leaves a checkpoint: what follows is the incremental check's to see.
    app.assert_ledger_ok(&x.program).await;
    let (status, v) = app
        .post_money(
            &format!("/api/v1/cards/{old_id}/replacements"),
            &x.op,
            json!({"reason": "紛失"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let new_id = v["new_card"]["id"].as_str().expect("id").to_owned();
    let replacement = id(&v);
    let (status, v) = reverse(app, &x.op, &replacement).await;
    assert_eq!(
        (status, code(&v)),
        (StatusCode::CONFLICT, "not_reversible"),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("replace the card again")),
        "{v}"
    );
    for tx in [id(&spend.1), id(&earn.1)] {
        refused(
            reverse(app, &x.op, &tx).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "card_replaced",
        );
    }
    assert_eq!(
        (
            card_balance(app, &old_id).await,
            card_balance(app, &new_id).await
        ),
        (0, 70)
    );
    // The store's returns follow the balance to the new card, once each.
    created(&point_return(app, &x, &id(&spend.1), 30).await);
    assert_eq!(card_balance(app, &new_id).await, 100);
    created(&point_return(app, &x, &id(&earn.1), 10_000).await);
    assert_eq!(card_balance(app, &new_id).await, 0);
    refused(
        point_return(app, &x, &id(&earn.1), 1).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "return_exceeds_original",
    );
    assert_eq!(card_balance(app, &old_id).await, 0);
    // The incremental check follows the returns to the new card's wallet (it walks up from
    // the cards it touches): they gave back what the old card's movements moved, no more.
    let v = app.incremental_check(&x.program).await;
    assert_eq!(
        (v["ok"].as_bool(), v["over_returned"].as_i64()),
        (Some(true), Some(0)),
        "{v}"
    );
    app.assert_ledger_ok(&x.program).await;
}

/// A combined checkout is two originals (the points spend and the wallet payment); each
/// follows the rule of its kind.
async fn both_parts_of_a_combined_checkout_follow_the_rule(app: &TestApp) {
    let x = points(app).await;
    let currency = app.currency().await;
    let (s, _) = app.shopper(&x.op).await;
    app.charge(&x.op, &currency, &s, 2_000).await;
    let (card_id, number) = card(app, &x, Some(&s)).await;
    created(&till(app, &x, "point-earns", &number, 30_000).await); // 300 pt
    // Points first: a ¥800 bill takes 300 pt and ¥500 of coin.
    let (points_part, payment_part) = checkout(app, &x, &number, &currency, 800).await;
    assert_eq!(card_balance(app, &card_id).await, 0);
    assert_eq!(app.wallet(&currency, &s, "coin").await, 1_500);
    created(&point_return(app, &x, &points_part, 100).await);
    created(&refund(app, &x.till, &x.store, &payment_part, 200).await);
    for tx in [&points_part, &payment_part] {
        refused(
            reverse(app, &x.op, tx).await,
            StatusCode::CONFLICT,
            "partially_returned",
        );
    }
    assert_eq!(card_balance(app, &card_id).await, 100);
    assert_eq!(app.wallet(&currency, &s, "coin").await, 1_700);
    // Reversed first: neither part is returned or refunded afterwards (100 pt and ¥700).
    let (points_part, payment_part) = checkout(app, &x, &number, &currency, 800).await;
    assert_eq!(card_balance(app, &card_id).await, 0);
    assert_eq!(app.wallet(&currency, &s, "coin").await, 1_000);
    created(&reverse(app, &x.op, &points_part).await);
    created(&reverse(app, &x.op, &payment_part).await);
    refused(
        point_return(app, &x, &points_part, 1).await,
        StatusCode::CONFLICT,
        "already_reversed",
    );
    refused(
        refund(app, &x.till, &x.store, &payment_part, 1).await,
        StatusCode::CONFLICT,
        "already_reversed",
    );
    assert_eq!(card_balance(app, &card_id).await, 100);
    assert_eq!(app.wallet(&currency, &s, "coin").await, 1_700);
    assert_eq!(app.merchant_balance(&currency, &x.store, "coin").await, 300);
    // Billed 300 for the earn, paid 300 + 100 for points taken, 100 + 100 back to the card.
    assert_eq!(
        app.merchant_balance(&x.program, &x.store, "points").await,
        -100
    );
    app.assert_ledger_ok(&x.program).await;
    app.assert_ledger_ok(&currency).await;
}

/// A combined checkout of `yen` at the test store: (points part, payment part).
async fn checkout(
    app: &TestApp,
    x: &Points,
    number: &str,
    currency: &str,
    yen: i64,
) -> (String, String) {
    let (status, v) = app
        .post_money(
            &format!("/api/v1/merchants/{}/point-checkouts", x.store),
            &x.till,
            json!({"program_id": x.program, "card_number": number,
                "currency_program_id": currency, "amount": yen}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    (
        v["points"]["transaction_id"]
            .as_str()
            .expect("points part")
            .to_owned(),
        v["payment_transaction_id"]
            .as_str()
            .expect("payment part")
            .to_owned(),
    )
}

/// The old behaviour, posted behind the rule's back: a reversal of a payment already partly
/// refunded. `ledger-check` names the payment and fails.
async fn ledger_check_catches_a_return_beyond_its_original(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, owner) = app.merchant(&op).await;
    let (s, st) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 1_000).await;
    let paid = pay(app, &p, &st, &m, 100).await;
    created(&refund(app, &owner, &m, &paid, 30).await);
    app.assert_ledger_ok(&p).await;
    let original = TransactionId(paid.parse().expect("uuid"));
    app.app
        .writer
        .answer(None, move |w| {
            Box::pin(async move {
                let (txn, postings) = get_transaction_tx(&mut w.tx, original)
                    .await?
                    .expect("payment");
                let mut accounts = Vec::new();
                let mut legs = Vec::new();
                for p in &postings {
                    accounts.push(get_account_tx(&mut w.tx, p.account_id).await?.expect("a"));
                    legs.push(machipay_domain::ledger::Leg {
                        account: p.account_id,
                        asset: p.asset,
                        amount: p.amount,
                    });
                }
                let entry = machipay_domain::ledger::Entry::new(legs)
                    .expect("balanced")
                    .reversed();
                let posting = Posting {
                    program: txn.program_id,
                    kind: "reversal",
                    initiated_by: uuid::Uuid::nil(),
                    memo: Some("the old, unguarded reversal"),
                    reverses: Some(original),
                    lots: Lots::Reverse(original),
                };
                let refs: Vec<_> = accounts.iter().collect();
                post(w, &posting, &entry, &refs).await?;
                Ok(Done::created(()))
            })
        })
        .await
        .expect("posted");
    assert_eq!(app.wallet(&p, &s, "coin").await, 1_030);
    let (status, v) = app
        .get(&format!("/api/v1/programs/{p}/ledger-check"), &app.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    // Over on both sides: the shopper's wallet (130 back of 100 paid) and the store's account.
    assert_eq!(v["over_returned"], 2, "{v}");
    let examples = v["over_returned_examples"].as_array().expect("examples");
    assert!(
        examples
            .iter()
            .all(|e| e["original_id"] == paid.as_str() && e["asset"] == "coin"),
        "{v}"
    );
    assert!(
        examples
            .iter()
            .any(|e| e["moved_out"] == 100 && e["returned_in"] == 130),
        "{v}"
    );
    // Everything else still adds up: only the new invariant sees it.
    assert_eq!(
        (
            v["balance_mismatches"].as_i64(),
            v["lot_mismatches"].as_i64()
        ),
        (Some(0), Some(0)),
        "{v}"
    );
    // The incremental check, since the checkpoint the passing check left, finds the same
    // group from the new reversal alone (driven from the postings after the checkpoint).
    let v = app.incremental_check(&p).await;
    assert_eq!(
        (v["ok"].as_bool(), v["over_returned"].as_i64()),
        (Some(false), Some(2)),
        "{v}"
    );
    assert!(
        v["over_returned_examples"]
            .as_array()
            .expect("examples")
            .iter()
            .all(|e| e["original_id"] == paid.as_str()),
        "{v}"
    );
}

/// Item 9: a replaced card's points keep each grant's expiry. Two cards alike, one replaced,
/// lose the same points in the same expiry run.
async fn a_replaced_card_keeps_each_grants_expiry(app: &TestApp) {
    let op = app.operator().await;
    let program = app
        .program(
            "points",
            json!({"expiry": {"rule": "months_from_issue_to_month_end", "months": 1}}),
        )
        .await;
    let (store, owner) = app.merchant(&op).await;
    let x = Points {
        till: enroll(app, &store, &owner).await,
        op,
        program,
        other: store.clone(),
        other_till: String::new(),
        store,
    };
    let today = jst_date(Utc::now());
    // Imported with a last use long ago: their 500 points expired at the end of that month's
    // next month, before today.
    let (kept, replaced) = (CardNumber::generate(), CardNumber::generate());
    let long_ago = today - Days::new(120);
    let file = format!(
        "card_number,balance,last_used_on\n{},500,{long_ago}\n{},500,{long_ago}\n",
        kept.as_str(),
        replaced.as_str()
    );
    let resp = app
        .client
        .post(format!(
            "{}/api/v1/programs/{}/card-imports",
            app.base, x.program
        ))
        .bearer_auth(&x.op)
        .header("Content-Type", "text/csv")
        .body(file)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::CREATED);
    // Both earn 100 points today, which last to the end of next month.
    for n in [&kept, &replaced] {
        created(&till(app, &x, "point-earns", n.as_str(), 10_000).await);
    }
    let cards = machipay::features::points::store::cards_of_program(
        &app.app.db,
        ProgramId(x.program.parse().expect("id")),
        None,
        10,
    )
    .await
    .expect("cards");
    let card_of = |n: &CardNumber| {
        cards
            .iter()
            .find(|c| c.number == n.as_str())
            .expect("card")
            .id
            .0
            .to_string()
    };
    let (kept_id, old_id) = (card_of(&kept), card_of(&replaced));
    let (status, v) = app
        .post_money(
            &format!("/api/v1/cards/{old_id}/replacements"),
            &x.op,
            json!({"reason": "破損"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let new_id = v["new_card"]["id"].as_str().expect("id").to_owned();
    assert_eq!(card_balance(app, &new_id).await, 600);
    // The expired grant goes from both; the new card does not keep it alive.
    let run = expire(&app.app, today).await.expect("expiry");
    assert_eq!((run.points.wallets, run.points.amount), (2, 1_000), "{run}");
    assert_eq!(
        (
            card_balance(app, &kept_id).await,
            card_balance(app, &new_id).await
        ),
        (100, 100)
    );
    let again = expire(&app.app, today).await.expect("expiry");
    assert_eq!(again.transactions(), 0, "{again}");
    app.assert_ledger_ok(&x.program).await;
}

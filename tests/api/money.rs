//! Money behaviour: charges, payments, the overdraft race, idempotency, reversals, crossing
//! transfers.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    a_payment_moves_yen_from_wallet_to_store,
    overdraft_race_accepts_exactly_what_the_wallet_covers,
    concurrent_requests_with_one_key_move_money_once,
    a_replay_returns_the_same_answer_and_a_changed_body_is_refused,
    a_reversal_restores_balances_once,
    crossing_transfers_neither_deadlock_nor_error,
    payments_reversals_and_charges_sharing_batches_add_up,
);

async fn a_payment_moves_yen_from_wallet_to_store(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, _) = app.merchant(&op).await;
    let (s, st) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 5_000).await;
    let (code, v) = app
        .post_money(
            &format!("/api/v1/programs/{p}/payments"),
            &st,
            json!({"merchant_id": m, "amount": 1_200}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    assert_eq!(v["amount"], 1_200);
    assert_eq!(app.wallet(&p, &s, "coin").await, 3_800);
    assert_eq!(app.merchant_balance(&p, &m, "coin").await, 1_200);
    // The transaction is visible to the shopper and has balanced postings.
    let (code, t) = app
        .get(
            &format!(
                "/api/v1/transactions/{}",
                v["transaction_id"].as_str().expect("id")
            ),
            &st,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{t}");
    let sum: i64 = t["postings"]
        .as_array()
        .expect("postings")
        .iter()
        .map(|p| p["amount"].as_i64().expect("amount"))
        .sum();
    assert_eq!(sum, 0);
    app.assert_ledger_ok(&p).await;
}

async fn overdraft_race_accepts_exactly_what_the_wallet_covers(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, _) = app.merchant(&op).await;
    let (s, st) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 100).await;
    let path = format!("/api/v1/programs/{p}/payments");
    let results = join_all(
        (0..50).map(|_| app.post_money(&path, &st, json!({"merchant_id": m, "amount": 3}))),
    )
    .await;
    let accepted = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let refused: Vec<_> = results
        .iter()
        .filter(|(s, _)| *s != StatusCode::CREATED)
        .collect();
    assert_eq!(accepted, 33);
    assert_eq!(refused.len(), 17);
    for (status, body) in refused {
        assert_eq!(*status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["code"], "insufficient_funds");
    }
    assert_eq!(app.wallet(&p, &s, "coin").await, 1);
    assert_eq!(app.merchant_balance(&p, &m, "coin").await, 99);
    app.assert_ledger_ok(&p).await;
}

async fn concurrent_requests_with_one_key_move_money_once(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, _) = app.merchant(&op).await;
    let (s, st) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 10_000).await;
    let path = format!("/api/v1/programs/{p}/payments");
    let body = json!({"merchant_id": m, "amount": 700});
    let results = join_all(
        (0..100).map(|_| app.request("POST", &path, Some(&st), Some("one-key"), Some(&body))),
    )
    .await;
    let first = &results[0];
    assert_eq!(first.0, StatusCode::CREATED, "{}", first.1);
    for r in &results {
        assert_eq!(r, first, "every reply must be the stored one");
    }
    assert_eq!(app.wallet(&p, &s, "coin").await, 9_300);
    assert_eq!(app.merchant_balance(&p, &m, "coin").await, 700);
    let check = app.assert_ledger_ok(&p).await;
    assert_eq!(
        check["transactions"], 2,
        "one charge and one payment: {check}"
    );
}

async fn a_replay_returns_the_same_answer_and_a_changed_body_is_refused(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, _) = app.merchant(&op).await;
    let (s, st) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 1_000).await;
    let path = format!("/api/v1/programs/{p}/payments");
    let first = app
        .request(
            "POST",
            &path,
            Some(&st),
            Some("k1"),
            Some(&json!({"merchant_id": m, "amount": 300})),
        )
        .await;
    let again = app
        .request(
            "POST",
            &path,
            Some(&st),
            Some("k1"),
            Some(&json!({"amount": 300, "merchant_id": m})),
        )
        .await;
    assert_eq!(first, again, "same meaning, other key order: same answer");
    let changed = app
        .request(
            "POST",
            &path,
            Some(&st),
            Some("k1"),
            Some(&json!({"merchant_id": m, "amount": 301})),
        )
        .await;
    assert_eq!(changed.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(changed.1["error"]["code"], "idempotency_key_reused");
    assert_eq!(app.wallet(&p, &s, "coin").await, 700);
    // A refused payment is answered the same way on replay, even after a top-up.
    let too_much = app
        .request(
            "POST",
            &path,
            Some(&st),
            Some("k2"),
            Some(&json!({"merchant_id": m, "amount": 5_000})),
        )
        .await;
    assert_eq!(too_much.1["error"]["code"], "insufficient_funds");
    app.charge(&op, &p, &s, 9_000).await;
    let replayed = app
        .request(
            "POST",
            &path,
            Some(&st),
            Some("k2"),
            Some(&json!({"merchant_id": m, "amount": 5_000})),
        )
        .await;
    assert_eq!(replayed, too_much);
    assert_eq!(app.wallet(&p, &s, "coin").await, 9_700);
    // Keys are scoped to the caller: another shopper may use "k1" for their own payment.
    let (s2, st2) = app.shopper(&op).await;
    app.charge(&op, &p, &s2, 500).await;
    let other = app
        .request(
            "POST",
            &path,
            Some(&st2),
            Some("k1"),
            Some(&json!({"merchant_id": m, "amount": 300})),
        )
        .await;
    assert_eq!(other.0, StatusCode::CREATED, "{}", other.1);
    assert_ne!(other.1["transaction_id"], first.1["transaction_id"]);
    app.assert_ledger_ok(&p).await;
}

async fn a_reversal_restores_balances_once(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, _) = app.merchant(&op).await;
    let (s, st) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 2_000).await;
    let (_, pay) = app
        .post_money(
            &format!("/api/v1/programs/{p}/payments"),
            &st,
            json!({"merchant_id": m, "amount": 1_500}),
        )
        .await;
    let tx = pay["transaction_id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/transactions/{tx}/reversals");
    let (code, rev) = app
        .post_money(&path, &op, json!({"reason": "レジの打ち間違い"}))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{rev}");
    assert_eq!(app.wallet(&p, &s, "coin").await, 2_000);
    assert_eq!(app.merchant_balance(&p, &m, "coin").await, 0);
    let (code, again) = app.post_money(&path, &op, json!({"reason": "twice"})).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(again["error"]["code"], "already_reversed");
    let rev_id = rev["transaction_id"].as_str().expect("id");
    let (code, v) = app
        .post_money(
            &format!("/api/v1/transactions/{rev_id}/reversals"),
            &op,
            json!({"reason": "x"}),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(v["error"]["code"], "is_a_reversal");
    // The shopper cannot reverse, and the restored money is spendable again.
    let (code, _) = app.post_money(&path, &st, json!({"reason": "mine"})).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let (code, _) = app
        .post_money(
            &format!("/api/v1/programs/{p}/payments"),
            &st,
            json!({"merchant_id": m, "amount": 2_000}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    // Reversing a charge already partly spent would overdraw the wallet: refused, nothing changes.
    let charge = app.charge(&op, &p, &s, 800).await;
    let charge_tx = charge["transaction_id"].as_str().expect("id");
    let (_, spend) = app
        .post_money(
            &format!("/api/v1/programs/{p}/payments"),
            &st,
            json!({"merchant_id": m, "amount": 500}),
        )
        .await;
    assert!(spend["transaction_id"].is_string(), "{spend}");
    let (code, v) = app
        .post_money(
            &format!("/api/v1/transactions/{charge_tx}/reversals"),
            &op,
            json!({"reason": "refund"}),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "insufficient_funds");
    assert_eq!(app.wallet(&p, &s, "coin").await, 300);
    app.assert_ledger_ok(&p).await;
}

async fn crossing_transfers_neither_deadlock_nor_error(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (a, at) = app.shopper(&op).await;
    let (b, bt) = app.shopper(&op).await;
    app.charge(&op, &p, &a, 50_000).await;
    app.charge(&op, &p, &b, 50_000).await;
    let path = format!("/api/v1/programs/{p}/transfers");
    let mut calls = Vec::new();
    for i in 0..100 {
        let (from, to) = if i % 2 == 0 { (&at, &b) } else { (&bt, &a) };
        calls.push(app.post_money(&path, from, json!({"to_shopper_id": to, "amount": 10 + i})));
    }
    let results = join_all(calls).await;
    for (s, v) in &results {
        assert_eq!(*s, StatusCode::CREATED, "{v}");
    }
    let a_sent: i64 = (0..100).filter(|i| i % 2 == 0).map(|i| 10 + i).sum();
    let b_sent: i64 = (0..100).filter(|i| i % 2 == 1).map(|i| 10 + i).sum();
    assert_eq!(app.wallet(&p, &a, "coin").await, 50_000 - a_sent + b_sent);
    assert_eq!(app.wallet(&p, &b, "coin").await, 50_000 - b_sent + a_sent);
    app.assert_ledger_ok(&p).await;
}

/// Payments leave their rows pending until their batch ends; reversals and charges write
/// early (restoring lots, opening wallets) in the same batches. Whatever the interleaving,
/// every balance, lot and posting must add up.
async fn payments_reversals_and_charges_sharing_batches_add_up(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, _) = app.merchant(&op).await;
    let pay_path = format!("/api/v1/programs/{p}/payments");
    let mut shoppers = Vec::new();
    for _ in 0..10 {
        let (s, st) = app.shopper(&op).await;
        app.charge(&op, &p, &s, 2_000).await;
        let (code, v) = app
            .post_money(&pay_path, &st, json!({"merchant_id": m, "amount": 300}))
            .await;
        assert_eq!(code, StatusCode::CREATED, "{v}");
        let paid = v["transaction_id"].as_str().expect("id").to_owned();
        shoppers.push((s, st, paid));
    }
    let charge_path = format!("/api/v1/programs/{p}/charges");
    let reversal_paths: Vec<String> = shoppers
        .iter()
        .map(|(_, _, paid)| format!("/api/v1/transactions/{paid}/reversals"))
        .collect();
    let mut calls = Vec::new();
    for ((s, st, _), reversal) in shoppers.iter().zip(&reversal_paths) {
        calls.push(app.post_money(reversal, &op, json!({"reason": "打ち間違い"})));
        for _ in 0..5 {
            calls.push(app.post_money(&pay_path, st, json!({"merchant_id": m, "amount": 100})));
        }
        calls.push(app.post_money(&charge_path, &op, json!({"shopper_id": s, "amount": 1_000})));
    }
    for (code, v) in join_all(calls).await {
        assert_eq!(code, StatusCode::CREATED, "{v}");
    }
    for (s, _, _) in &shoppers {
        assert_eq!(
            app.wallet(&p, s, "coin").await,
            2_000 - 300 + 300 - 500 + 1_000
        );
    }
    assert_eq!(app.merchant_balance(&p, &m, "coin").await, 10 * 5 * 100);
    app.assert_ledger_ok(&p).await;
}

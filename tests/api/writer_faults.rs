//! The single writer's failure rules, driven through the API with faults injected into the
//! writer's transaction (`writer::faults`, on in tests only): a storage failure anywhere in a
//! batch (a read, the write of pending rows, the commit, a full database) fails all of it with
//! 503 and leaves the books as they were, a retry with the same keys moves the money once,
//! a transient failure is never stored as a refusal, and duplicates of a request in flight
//! get the first one's answer without failing anyone else's payment.

use futures::future::join_all;
use machipay::db::Db;
use machipay::writer::faults::Fault;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    every_failing_statement_of_a_batch_fails_all_of_it,
    a_failing_flush_fails_the_whole_batch,
    a_failing_commit_fails_the_whole_batch,
    a_lost_commit_acknowledgement_is_answered_by_the_retry,
    a_full_database_fails_the_whole_batch,
    a_failing_read_is_never_stored_as_a_refusal,
    duplicates_in_flight_fail_no_one,
);

/// A town to pay in: a currency program, stores with no payment yet (a store's first payment
/// opens its account, a statement that writes the batch's pending rows mid-batch) and
/// charged shoppers.
struct Town {
    op: String,
    program: String,
    stores: Vec<String>,
    owners: Vec<String>,
    shoppers: Vec<(String, String)>,
}

async fn town(app: &TestApp, stores: usize, shoppers: usize, charge: i64) -> Town {
    let op = app.operator().await;
    let program = app.currency().await;
    let mut town = Town {
        op,
        program,
        stores: Vec::new(),
        owners: Vec::new(),
        shoppers: Vec::new(),
    };
    for _ in 0..stores {
        let (id, owner) = app.merchant(&town.op).await;
        town.stores.push(id);
        town.owners.push(owner);
    }
    for _ in 0..shoppers {
        let (id, token) = app.shopper(&town.op).await;
        app.charge(&town.op, &town.program, &id, charge).await;
        town.shoppers.push((id, token));
    }
    town
}

/// One money request: who sends it (a token), its key, its route and body.
#[derive(Clone)]
struct Call {
    token: String,
    key: String,
    path: String,
    body: Value,
}

/// Sends `calls` at once as the writer's next batch (it waits for all of them), which meets
/// `fault`.
async fn batch(app: &TestApp, calls: &[Call], fault: Option<Fault>) -> Vec<(StatusCode, Value)> {
    app.app.writer.faults().arm(calls.len(), fault);
    send(app, calls).await
}

async fn send(app: &TestApp, calls: &[Call]) -> Vec<(StatusCode, Value)> {
    join_all(
        calls
            .iter()
            .map(|c| app.request("POST", &c.path, Some(&c.token), Some(&c.key), Some(&c.body))),
    )
    .await
}

/// `n` payments of ¥(1..) from the town's shoppers to its stores, keys tagged `tag`.
fn payments(t: &Town, tag: &str, n: usize) -> Vec<Call> {
    (0..n)
        .map(|i| Call {
            token: t.shoppers[i % t.shoppers.len()].1.clone(),
            key: format!("{tag}-{i}"),
            path: format!("/api/v1/programs/{}/payments", t.program),
            body: json!({"merchant_id": t.stores[i % t.stores.len()], "amount": 1 + i}),
        })
        .collect()
}

/// What the books say: every wallet and store balance, and the number of transactions.
async fn books(app: &TestApp, t: &Town) -> (Vec<i64>, i64) {
    let mut balances = Vec::new();
    for (s, _) in &t.shoppers {
        balances.push(app.wallet(&t.program, s, "coin").await);
    }
    for m in &t.stores {
        balances.push(app.merchant_balance(&t.program, m, "coin").await);
    }
    let check = app.assert_ledger_ok(&t.program).await;
    (balances, check["transactions"].as_i64().expect("count"))
}

/// Every answer is the writer's 503: nothing was committed, retry with the same key.
fn all_unavailable(results: &[(StatusCode, Value)], what: &str) {
    for (status, body) in results {
        assert_eq!(
            (*status, body["error"]["code"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")),
            "{what}: {body}"
        );
    }
}

/// A batch met `fault`: every job answered 503 and the books are as they were; the same
/// requests again (same keys) are paid once, and once more are replayed.
async fn fails_then_retry_pays_once(app: &TestApp, t: &Town, calls: &[Call], fault: Fault) {
    let before = books(app, t).await;
    let failed = batch(app, calls, Some(fault)).await;
    all_unavailable(&failed, &format!("{fault:?}"));
    assert_eq!(books(app, t).await, before, "{fault:?}: the books moved");
    retry_pays_once(app, t, calls, before).await;
}

async fn retry_pays_once(app: &TestApp, t: &Town, calls: &[Call], before: (Vec<i64>, i64)) {
    let retried = send(app, calls).await;
    for (status, body) in &retried {
        assert_eq!(*status, StatusCode::CREATED, "retry: {body}");
    }
    let paid: i64 = calls
        .iter()
        .map(|c| c.body["amount"].as_i64().expect("amount"))
        .sum();
    let after = books(app, t).await;
    assert_eq!(
        after.1,
        before.1 + calls.len() as i64,
        "one transaction per key"
    );
    let takings = |b: &(Vec<i64>, i64)| b.0[t.shoppers.len()..].iter().sum::<i64>();
    assert_eq!(takings(&after) - takings(&before), paid, "paid once");
    assert_eq!(
        send(app, calls).await,
        retried,
        "a replay returns the stored replies"
    );
    assert_eq!(books(app, t).await, after, "a replay moves nothing");
}

async fn every_failing_statement_of_a_batch_fails_all_of_it(app: &TestApp) {
    let t = town(app, 3, 4, 10_000).await;
    // Fail the first statement of the batch's jobs, then the second, ... until a batch runs
    // fewer statements than that and commits: every read and write a payment batch makes
    // has failed once.
    let mut failed_rounds = 0;
    for n in 1..=40 {
        let calls = payments(&t, &format!("statement-{n}"), 4);
        let before = books(app, &t).await;
        let results = batch(app, &calls, Some(Fault::Statement(n))).await;
        if results.iter().all(|(s, _)| *s == StatusCode::CREATED) {
            break;
        }
        all_unavailable(&results, &format!("statement {n}"));
        assert_eq!(
            books(app, &t).await,
            before,
            "statement {n}: the books moved"
        );
        retry_pays_once(app, &t, &calls, before).await;
        failed_rounds += 1;
    }
    assert!(
        failed_rounds >= 2,
        "a payment batch runs statements: {failed_rounds}"
    );
}

async fn a_failing_flush_fails_the_whole_batch(app: &TestApp) {
    let t = town(app, 3, 4, 10_000).await;
    fails_then_retry_pays_once(app, &t, &payments(&t, "flush", 6), Fault::Flush).await;
}

async fn a_failing_commit_fails_the_whole_batch(app: &TestApp) {
    let t = town(app, 3, 4, 10_000).await;
    fails_then_retry_pays_once(app, &t, &payments(&t, "commit", 6), Fault::Commit).await;
}

async fn a_lost_commit_acknowledgement_is_answered_by_the_retry(app: &TestApp) {
    let t = town(app, 3, 4, 10_000).await;
    let calls = payments(&t, "lost", 6);
    let before = books(app, &t).await;
    let results = batch(app, &calls, Some(Fault::CommitLost)).await;
    all_unavailable(&results, "lost acknowledgement");
    // The batch did commit: the retries find the stored replies and move nothing more.
    let committed = books(app, &t).await;
    assert_eq!(committed.1, before.1 + 6);
    for (status, body) in send(app, &calls).await {
        assert_eq!(status, StatusCode::CREATED, "retry: {body}");
    }
    assert_eq!(
        books(app, &t).await,
        committed,
        "the retry moved money again"
    );
}

/// The database refuses to grow: SQLite at its `max_page_count` (SQLITE_FULL), PostgreSQL
/// refusing every new transaction row (a constraint added for the test, as a full disk
/// would refuse them).
async fn a_full_database_fails_the_whole_batch(app: &TestApp) {
    let t = town(app, 3, 4, 10_000).await;
    let calls = payments(&t, "full", 40);
    let before = books(app, &t).await;
    fill(&app.app.db, true).await;
    let failed = batch(app, &calls, None).await;
    all_unavailable(&failed, "full database");
    fill(&app.app.db, false).await;
    assert_eq!(books(app, &t).await, before, "the books moved");
    retry_pays_once(app, &t, &calls, before).await;
}

async fn fill(db: &Db, full: bool) {
    match db {
        Db::Lite { write, .. } => {
            // Set on the writer's own connection (the pool holds one), between batches.
            let limit: i64 = if full {
                sqlx::query_scalar("PRAGMA page_count")
                    .fetch_one(write)
                    .await
                    .expect("page count")
            } else {
                1 << 30
            };
            sqlx::query(&format!("PRAGMA max_page_count = {limit}"))
                .execute(write)
                .await
                .expect("max_page_count");
        }
        Db::Pg(read, _) => {
            let sql = if full {
                "ALTER TABLE transactions ADD CONSTRAINT test_disk_full CHECK (false) NOT VALID"
            } else {
                "ALTER TABLE transactions DROP CONSTRAINT test_disk_full"
            };
            sqlx::query(sql).execute(read).await.expect("constraint");
        }
    }
}

/// Item 21: a lookup whose refusal is shown as another (a shopper code's program shown as
/// `invalid_code`) must not turn a failing read into that refusal, stored for ever: every
/// statement of a shopper-code payment fails in turn, answers 503, and its retry pays.
async fn a_failing_read_is_never_stored_as_a_refusal(app: &TestApp) {
    let t = town(app, 1, 1, 50_000).await;
    let (shopper, shopper_token) = &t.shoppers[0];
    let merchant = &t.stores[0];
    let till = t.owners[0].clone();
    let mut failed_rounds = 0;
    for n in 1..=40 {
        // A fresh code each round (a code pays once); making it makes the writer forget what
        // it remembered, so the payment reads the program again.
        let (status, code) = app
            .post(
                &format!("/api/v1/programs/{}/shopper-codes", t.program),
                shopper_token,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{code}");
        let call = Call {
            token: till.clone(),
            key: format!("code-{n}"),
            path: format!("/api/v1/merchants/{merchant}/shopper-code-payments"),
            body: json!({"code": code["code"], "amount": 100}),
        };
        let before = app.wallet(&t.program, shopper, "coin").await;
        let first = batch(app, std::slice::from_ref(&call), Some(Fault::Statement(n))).await;
        if first[0].0 == StatusCode::CREATED {
            assert_eq!(app.wallet(&t.program, shopper, "coin").await, before - 100);
            break;
        }
        all_unavailable(&first, &format!("statement {n}"));
        assert_eq!(app.wallet(&t.program, shopper, "coin").await, before);
        let retried = send(app, std::slice::from_ref(&call)).await;
        assert_eq!(
            retried[0].0,
            StatusCode::CREATED,
            "statement {n}: {}",
            retried[0].1
        );
        assert_eq!(app.wallet(&t.program, shopper, "coin").await, before - 100);
        failed_rounds += 1;
    }
    assert!(
        failed_rounds >= 3,
        "the payment reads store, code and program: {failed_rounds}"
    );
    // The same for a reversal (its original's program shown as "transaction not found").
    let mut failed_rounds = 0;
    for n in 1..=40 {
        let payment = payments(&t, &format!("to-reverse-{n}"), 1);
        let paid = send(app, &payment).await;
        assert_eq!(paid[0].0, StatusCode::CREATED, "{}", paid[0].1);
        let id = paid[0].1["transaction_id"].as_str().expect("id");
        let call = Call {
            token: t.op.clone(),
            key: format!("reversal-{n}"),
            path: format!("/api/v1/transactions/{id}/reversals"),
            body: json!({"reason": "返品"}),
        };
        let before = app.wallet(&t.program, shopper, "coin").await;
        let first = batch(app, std::slice::from_ref(&call), Some(Fault::Statement(n))).await;
        if first[0].0 == StatusCode::CREATED {
            break;
        }
        all_unavailable(&first, &format!("reversal, statement {n}"));
        assert_eq!(app.wallet(&t.program, shopper, "coin").await, before);
        let retried = send(app, std::slice::from_ref(&call)).await;
        assert_eq!(
            retried[0].0,
            StatusCode::CREATED,
            "reversal, statement {n}: {}",
            retried[0].1
        );
        assert_eq!(app.wallet(&t.program, shopper, "coin").await, before + 1);
        failed_rounds += 1;
    }
    assert!(
        failed_rounds >= 3,
        "a reversal reads its original: {failed_rounds}"
    );
    app.assert_ledger_ok(&t.program).await;
}

/// The sum of the stores' coin balances.
async fn takings(app: &TestApp, t: &Town) -> i64 {
    let mut sum = 0;
    for m in &t.stores {
        sum += app.merchant_balance(&t.program, m, "coin").await;
    }
    sum
}

async fn duplicates_in_flight_fail_no_one(app: &TestApp) {
    let t = town(app, 30, 20, 50_000).await;
    let path = format!("/api/v1/programs/{}/payments", t.program);
    // 300 payments, each sent twice at the same moment with one key (a till's retry while
    // the first is still travelling), and 100 unrelated payments with keys of their own.
    let mut requests: Vec<(usize, String, Value)> = Vec::new();
    for i in 0..300 {
        let body = json!({"merchant_id": t.stores[i % t.stores.len()], "amount": 1 + i % 7});
        requests.push((i % t.shoppers.len(), format!("pair-{i}"), body.clone()));
        requests.push((i % t.shoppers.len(), format!("pair-{i}"), body));
    }
    for i in 0..100 {
        let body = json!({"merchant_id": t.stores[(i * 7) % t.stores.len()], "amount": 10});
        requests.push((i % t.shoppers.len(), format!("single-{i}"), body));
    }
    let results = join_all(requests.iter().map(|(who, key, body)| {
        app.request(
            "POST",
            &path,
            Some(&t.shoppers[*who].1),
            Some(key),
            Some(body),
        )
    }))
    .await;
    for (r, (_, key, _)) in results.iter().zip(&requests) {
        assert_eq!(r.0, StatusCode::CREATED, "{key}: {}", r.1);
    }
    // Both of a pair got the same answer: one payment.
    for pair in results[..600].chunks(2) {
        assert_eq!(pair[0], pair[1], "a duplicate gets the first one's answer");
    }
    let paid: i64 = (0..300).map(|i| 1 + i % 7).sum::<i64>() + 100 * 10;
    assert_eq!(takings(app, &t).await, paid, "one movement per key");
    let check = app.assert_ledger_ok(&t.program).await;
    assert_eq!(check["transactions"], 20 + 300 + 100, "{check}");
}

//! Many instances on one PostgreSQL (issue 16, item 1): two servers, each with its own pools,
//! writer, token cache and event listener, on one database. The overdraft race and one
//! Idempotency-Key raced across them, revocations and suspensions seen by the other within
//! one second, and a store's live screen on one hearing payments committed on the other.
//! PostgreSQL only: SQLite stays one process (tests/api/writer_rules.rs).

use std::time::{Duration, Instant};

use futures::future::join_all;
use machipay::features::directory::store::principal_for_token;
use machipay_domain::auth::hash_secret;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// Runs `test` with two instances on one fresh PostgreSQL database (skipped without one).
macro_rules! two_instances {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            let Some(a) = TestApp::postgres().await else { return };
            let b = a.another_instance().await;
            super::$name(&a, &b).await;
            b.app.db.close().await;
            a.cleanup().await;
        }
    )*};
}

mod postgres {
    use crate::helpers::TestApp;
    two_instances!(
        the_overdraft_race_holds_across_instances,
        one_key_raced_across_instances_moves_money_once,
        a_revoked_token_is_refused_by_the_other_instance_within_a_second,
        a_suspended_store_and_a_revoked_code_are_refused_by_the_other_instance,
        a_store_screen_on_one_instance_hears_payments_on_the_other,
    );
}

/// Retries `check` until it holds, for at most one second; how long it took.
async fn within_a_second<F, Fut>(mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "the other instance did not see the change within one second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) async fn the_overdraft_race_holds_across_instances(a: &TestApp, b: &TestApp) {
    let op = a.operator().await;
    let p = a.currency().await;
    let (m, _) = a.merchant(&op).await;
    let (s, st) = a.shopper(&op).await;
    a.charge(&op, &p, &s, 100).await;
    let path = format!("/api/v1/programs/{p}/payments");
    let body = json!({"merchant_id": m, "amount": 3});
    let results = join_all((0..60).map(|i| {
        let on = if i % 2 == 0 { a } else { b };
        on.post_money(&path, &st, body.clone())
    }))
    .await;
    let accepted = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    for (status, body) in results.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_eq!(*status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "insufficient_funds", "{body}");
    }
    assert_eq!(accepted, 33, "exactly what the wallet covers");
    assert_eq!(a.wallet(&p, &s, "coin").await, 1);
    assert_eq!(b.wallet(&p, &s, "coin").await, 1);
    assert_eq!(a.merchant_balance(&p, &m, "coin").await, 99);
    a.assert_ledger_ok(&p).await;
}

pub(crate) async fn one_key_raced_across_instances_moves_money_once(a: &TestApp, b: &TestApp) {
    let op = a.operator().await;
    let p = a.currency().await;
    let (m, _) = a.merchant(&op).await;
    let (s, st) = a.shopper(&op).await;
    a.charge(&op, &p, &s, 10_000).await;
    let path = format!("/api/v1/programs/{p}/payments");
    let body = json!({"merchant_id": m, "amount": 700});
    for round in 0..5 {
        let key = format!("raced-{round}");
        let results = join_all((0..20).map(|i| {
            let on = if i % 2 == 0 { a } else { b };
            on.request("POST", &path, Some(&st), Some(&key), Some(&body))
        }))
        .await;
        let first = &results[0];
        assert_eq!(first.0, StatusCode::CREATED, "{}", first.1);
        for r in &results {
            assert_eq!(r, first, "every instance answers the stored reply");
        }
    }
    assert_eq!(a.wallet(&p, &s, "coin").await, 10_000 - 5 * 700);
    assert_eq!(b.merchant_balance(&p, &m, "coin").await, 5 * 700);
    let check = a.assert_ledger_ok(&p).await;
    assert_eq!(
        check["transactions"], 6,
        "one charge, five payments: {check}"
    );
}

pub(crate) async fn a_revoked_token_is_refused_by_the_other_instance_within_a_second(
    a: &TestApp,
    b: &TestApp,
) {
    let (_, staff) = a.staff("city", "admin").await;
    // B resolves (and caches) the token.
    let (status, _) = b.get("/api/v1/me", &staff).await;
    assert_eq!(status, StatusCode::OK);
    let (id, _) = principal_for_token(&a.app.db, &hash_secret(&staff))
        .await
        .expect("query")
        .expect("live token");
    let (status, v) = a
        .request(
            "DELETE",
            &format!("/api/v1/tokens/{}", id.0),
            Some(&a.admin),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let took = within_a_second(|| async {
        b.get("/api/v1/me", &staff).await.0 == StatusCode::UNAUTHORIZED
    })
    .await;
    eprintln!("revoked token refused by the other instance after {took:?}");
}

pub(crate) async fn a_suspended_store_and_a_revoked_code_are_refused_by_the_other_instance(
    a: &TestApp,
    b: &TestApp,
) {
    let op = a.operator().await;
    let p = a.currency().await;
    let (m, owner) = a.merchant(&op).await;
    let (m2, owner2) = a.merchant(&op).await;
    let (s, st) = a.shopper(&op).await;
    a.charge(&op, &p, &s, 10_000).await;
    // A static code of the second store, paid through B (B's writer remembers it).
    let (status, code) = a
        .post(
            &format!("/api/v1/merchants/{m2}/codes"),
            &owner2,
            json!({"program_id": p}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{code}");
    let payload = code["payload"].as_str().expect("payload").to_owned();
    let pay_code = || {
        b.post_money(
            "/api/v1/qr/payments",
            &st,
            json!({"payload": payload, "amount": 10}),
        )
    };
    let (status, v) = pay_code().await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    // The first store joined long ago; B pays it (its writer remembers the participation).
    let (status, v) = a
        .post(
            &format!("/api/v1/programs/{p}/merchants/{m}/participation-events"),
            &op,
            json!({"kind": "joined", "effective_on": "2024-04-01"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let path = format!("/api/v1/programs/{p}/payments");
    let pay = || b.post_money(&path, &st, json!({"merchant_id": m, "amount": 10}));
    let (status, v) = pay().await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let _ = owner;
    // Revoked and suspended on A.
    let revoke = format!(
        "/api/v1/merchants/{m2}/codes/{}",
        code["id"].as_str().expect("id")
    );
    let (status, v) = a
        .request("DELETE", &revoke, Some(&owner2), None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let today = (chrono::Utc::now() + chrono::Duration::hours(9))
        .date_naive()
        .to_string();
    let (status, v) = a
        .post(
            &format!("/api/v1/programs/{p}/merchants/{m}/participation-events"),
            &op,
            json!({"kind": "suspended", "effective_on": today}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    // B refuses both at once: its writer reads the generation before each batch.
    let (status, v) = pay_code().await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("code_revoked")),
        "{v}"
    );
    let (status, v) = pay().await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    a.assert_ledger_ok(&p).await;
}

pub(crate) async fn a_store_screen_on_one_instance_hears_payments_on_the_other(
    a: &TestApp,
    b: &TestApp,
) {
    use futures::StreamExt;
    let op = a.operator().await;
    let p = a.currency().await;
    let (m, owner) = a.merchant(&op).await;
    let (s, st) = a.shopper(&op).await;
    a.charge(&op, &p, &s, 10_000).await;
    let till = a.enroll_device(&m, &owner).await;
    let till = till["token"].as_str().expect("token").to_owned();
    // The screen listens on B.
    let screen = b
        .client
        .get(format!("{}/api/v1/merchants/{m}/events", b.base))
        .bearer_auth(&till)
        .send()
        .await
        .expect("sent");
    assert_eq!(screen.status(), StatusCode::OK);
    let mut stream = screen.bytes_stream();
    // One payment on A, one on B: the screen hears each exactly once.
    let path = format!("/api/v1/programs/{p}/payments");
    let (status, on_a) = a
        .post_money(&path, &st, json!({"merchant_id": m, "amount": 300}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{on_a}");
    let (status, on_b) = b
        .post_money(&path, &st, json!({"merchant_id": m, "amount": 200}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{on_b}");
    let mut heard: Vec<Value> = Vec::new();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while heard.len() < 2 && Instant::now() < deadline {
        let Ok(Some(Ok(chunk))) =
            tokio::time::timeout(Duration::from_millis(500), stream.next()).await
        else {
            continue;
        };
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:"))
                && let Ok(v) = serde_json::from_str::<Value>(data.trim())
                && v.get("transaction_id").is_some()
            {
                heard.push(v);
            }
        }
    }
    let ids: Vec<&Value> = heard.iter().map(|v| &v["transaction_id"]).collect();
    assert_eq!(heard.len(), 2, "both payments heard: {heard:?}");
    assert!(ids.contains(&&on_a["transaction_id"]), "{heard:?} {on_a}");
    assert!(ids.contains(&&on_b["transaction_id"]), "{heard:?} {on_b}");
    // And no duplicate arrives afterwards.
    if let Ok(Some(Ok(chunk))) =
        tokio::time::timeout(Duration::from_millis(700), stream.next()).await
    {
        let more = String::from_utf8_lossy(&chunk).into_owned();
        assert!(
            !more.contains("transaction_id"),
            "a payment heard twice: {more}"
        );
    }
}

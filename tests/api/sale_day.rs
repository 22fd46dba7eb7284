//! Sale day: a first-come premium sale under a rush sells exactly its budget and keeps every
//! per-person limit; late buyers are told `campaign_sold_out` at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(a_rush_sells_exactly_the_budget_and_keeps_every_limit);

/// Shoppers in the rush, each sending three purchases at once (2 + 1 + 1 sets against a
/// limit of 2), against a budget of `BUDGET_SETS`.
const BUYERS: usize = 300;
const BUDGET_SETS: i64 = 201;

async fn a_rush_sells_exactly_the_budget_and_keeps_every_limit(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let mut shoppers = Vec::with_capacity(BUYERS);
    for _ in 0..BUYERS {
        shoppers.push(app.shopper(&op).await.0);
    }
    let campaigns = format!("/api/v1/programs/{p}/premium-campaigns");
    let open = json!({"name": "セール", "price_yen": 1_000, "premium_yen": 300, "units_per_person_max": 2,
        "budget_yen": 300 * BUDGET_SETS, "sale_starts_at": "2020-01-01T00:00:00Z", "sale_ends_at": "2099-01-01T00:00:00Z"});
    let (status, c) = app.post_money(&campaigns, &op, open).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let cid = c["id"].as_str().expect("id").to_owned();
    let buy = Arc::new(format!("{campaigns}/{cid}/purchases"));
    let client = app.client.clone();
    let base = app.base.clone();
    let mut tasks = tokio::task::JoinSet::new();
    for s in &shoppers {
        for units in [2, 1, 1] {
            let (client, base, buy, op, s) = (
                client.clone(),
                base.clone(),
                buy.clone(),
                op.clone(),
                s.clone(),
            );
            tasks.spawn(async move {
                let resp = client
                    .post(format!("{base}{buy}"))
                    .bearer_auth(&op)
                    .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
                    .json(&json!({"shopper_id": s, "units": units}))
                    .send()
                    .await
                    .expect("sent");
                let status = resp.status();
                let v: serde_json::Value = resp.json().await.expect("json");
                let code = v["error"]["code"].as_str().unwrap_or("created").to_owned();
                (status, code)
            });
        }
    }
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        let (status, code) = done.expect("task");
        assert!(status.as_u16() < 500, "{status} {code}");
        *outcomes.entry(code).or_default() += 1;
    }
    // Nothing but sales and the three named refusals.
    for code in outcomes.keys() {
        assert!(
            [
                "created",
                "campaign_sold_out",
                "campaign_budget_exhausted",
                "set_limit_reached"
            ]
            .contains(&code.as_str()),
            "{outcomes:?}"
        );
    }
    assert!(
        outcomes.get("campaign_sold_out").copied().unwrap_or(0) > 0,
        "{outcomes:?}"
    );
    // Exactly the budget, never one set over, and nobody over the limit of 2 sets.
    let mut sold = 0;
    for s in &shoppers {
        let premium = app.wallet(&p, s, "premium").await;
        assert!(premium <= 600, "shopper {s} holds {premium} yen of premium");
        sold += premium / 300;
    }
    assert_eq!(sold, BUDGET_SETS, "{outcomes:?}");
    let (_, list) = app.get(&campaigns, &op).await;
    let c = &list.as_array().expect("list")[0];
    assert_eq!(
        (c["units_sold"].as_i64(), c["sets_left"].as_i64()),
        (Some(BUDGET_SETS), Some(0)),
        "{c}"
    );
    let (_, r) = app
        .get(&format!("/api/v1/programs/{p}/premium-reconciliation"), &op)
        .await;
    assert_eq!(r["granted_yen"].as_i64(), Some(300 * BUDGET_SETS), "{r}");
    // A late buyer is told at once, by name.
    let (status, v) = app
        .post_money(&buy, &op, json!({"shopper_id": shoppers[0], "units": 1}))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("campaign_sold_out"))
    );
}

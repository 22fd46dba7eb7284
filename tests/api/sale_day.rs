//! Sale day: a first-come premium sale under a rush sells exactly its budget and keeps every
//! per-person limit; late buyers are told `campaign_sold_out` at once. The waiting room
//! admits in the order tickets were taken, only admitted tickets buy, and a sold-out sale is
//! answered to every waiting shopper at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    a_rush_sells_exactly_the_budget_and_keeps_every_limit,
    the_waiting_room_admits_in_order_and_only_admitted_tickets_buy,
    a_rush_through_the_waiting_room_sells_exactly_the_budget,
    sold_out_is_answered_to_everyone_waiting_at_once,
);

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

/// Opens a first-come campaign of ¥1,000 + ¥300 sets with a waiting room; answers its id.
async fn campaign_with_room(
    app: &TestApp,
    op: &str,
    p: &str,
    budget_sets: i64,
    admits_per_s: i32,
) -> String {
    let open = json!({"name": "待合室セール", "price_yen": 1_000, "premium_yen": 300, "units_per_person_max": 2,
        "budget_yen": 300 * budget_sets, "sale_starts_at": "2020-01-01T00:00:00Z", "sale_ends_at": "2099-01-01T00:00:00Z",
        "waiting_room": {"admits_per_s": admits_per_s, "admitted_for_s": 600}});
    let (status, c) = app
        .post_money(&format!("/api/v1/programs/{p}/premium-campaigns"), op, open)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["waiting_room"]["admits_per_s"], admits_per_s, "{c}");
    c["id"].as_str().expect("id").to_owned()
}

fn rfc3339_us(v: &serde_json::Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().expect("instant"))
        .expect("RFC 3339")
        .timestamp_micros()
}

async fn the_waiting_room_admits_in_order_and_only_admitted_tickets_buy(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    // One admission a second: the tenth ticket's turn is nine seconds away.
    let cid = campaign_with_room(app, &op, &p, 100, 1).await;
    let queue = format!("/api/v1/programs/{p}/premium-campaigns/{cid}/queue");
    let buy = format!("/api/v1/programs/{p}/premium-campaigns/{cid}/purchases");
    let mut tickets = Vec::new();
    for _ in 0..10 {
        let (id, token) = app.shopper(&op).await;
        let (status, t) = app.post(&queue, &token, json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{t}");
        tickets.push((id, token, t));
    }
    // Positions in the order taken, admissions exactly one interval apart.
    for (i, (_, _, t)) in tickets.iter().enumerate() {
        assert_eq!(t["position"].as_i64(), Some(i as i64 + 1), "{t}");
        if i > 0 {
            let gap = rfc3339_us(&t["admit_at"]) - rfc3339_us(&tickets[i - 1].2["admit_at"]);
            assert_eq!(gap, 1_000_000, "{t}");
        }
    }
    assert_eq!(tickets[0].2["state"], "admitted", "{}", tickets[0].2);
    let (last_id, last_token, last) = &tickets[9];
    assert_eq!(last["state"], "waiting", "{last}");
    // Its poll shows the tickets ahead still waiting and the wait.
    let (status, polled) = app
        .get(
            &format!("{queue}/{}", last["id"].as_str().expect("id")),
            last_token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{polled}");
    let ahead = polled["ahead"].as_i64().expect("ahead");
    assert!((5..=8).contains(&ahead), "{polled}");
    assert!(
        polled["estimated_wait_ms"].as_i64().expect("wait") > 5_000,
        "{polled}"
    );
    // Taking a ticket again hands back the same one.
    let (status, again) = app.post(&queue, last_token, json!({})).await;
    assert_eq!(
        (status, &again["id"]),
        (StatusCode::OK, &last["id"]),
        "{again}"
    );
    // A ticket not yet admitted cannot buy; no ticket, or another shopper's, neither.
    let attempt = |shopper: &str, ticket: Option<&serde_json::Value>| {
        let mut body = json!({"shopper_id": shopper, "units": 1});
        if let Some(t) = ticket {
            body["ticket_id"] = t["id"].clone();
        }
        body
    };
    let (status, v) = app
        .post_money(&buy, &op, attempt(last_id, Some(last)))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("not_admitted_yet")),
        "{v}"
    );
    let (status, v) = app.post_money(&buy, &op, attempt(last_id, None)).await;
    assert_eq!(v["error"]["code"], "ticket_required", "{status} {v}");
    let (status, v) = app
        .post_money(&buy, &op, attempt(last_id, Some(&tickets[0].2)))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(app.wallet(&p, last_id, "premium").await, 0);
    // The first ticket, admitted, buys.
    let (first_id, first_token, first) = &tickets[0];
    let (status, v) = app
        .post_money(&buy, &op, attempt(first_id, Some(first)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(app.wallet(&p, first_id, "premium").await, 300);
    // Someone else's ticket is not shown to a shopper.
    let (status, _) = app
        .get(
            &format!("{queue}/{}", last["id"].as_str().expect("id")),
            first_token,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A campaign without a waiting room has no queue.
    let (_, plain) = app
        .post_money(
            &format!("/api/v1/programs/{p}/premium-campaigns"),
            &op,
            json!({"name": "通常", "price_yen": 1_000, "premium_yen": 300, "units_per_person_max": 2,
                "budget_yen": 3_000, "sale_starts_at": "2020-01-01T00:00:00Z", "sale_ends_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
    let (status, v) = app
        .post(
            &format!(
                "/api/v1/programs/{p}/premium-campaigns/{}/queue",
                plain["id"].as_str().expect("id")
            ),
            first_token,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("no_waiting_room"))
    );
    app.assert_ledger_ok(&p).await;
}

/// A shopper of the rush: takes a ticket, polls it as the wallet does (pausing as the server
/// says) until admitted, then asks for 2 sets and 1 more (limit 2). Answers each attempt's
/// status and code, or the queue's refusal.
async fn through_the_queue(
    client: reqwest::Client,
    base: String,
    program: String,
    campaign: String,
    op: String,
    shopper: (String, String),
) -> Vec<(StatusCode, String)> {
    let queue = format!("{base}/api/v1/programs/{program}/premium-campaigns/{campaign}/queue");
    let code = |v: &serde_json::Value| v["error"]["code"].as_str().unwrap_or("created").to_owned();
    let resp = client
        .post(&queue)
        .bearer_auth(&shopper.1)
        .send()
        .await
        .expect("sent");
    let status = resp.status();
    let mut ticket: serde_json::Value = resp.json().await.expect("json");
    if !status.is_success() {
        return vec![(status, code(&ticket))];
    }
    let poll = format!("{queue}/{}", ticket["id"].as_str().expect("id"));
    while ticket["state"] == "waiting" {
        let pause = ticket["poll_after_ms"].as_u64().expect("poll_after_ms");
        tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
        let resp = client
            .get(&poll)
            .bearer_auth(&shopper.1)
            .send()
            .await
            .expect("sent");
        let status = resp.status();
        ticket = resp.json().await.expect("json");
        if !status.is_success() {
            return vec![(status, code(&ticket))];
        }
    }
    let mut outcomes = Vec::new();
    for units in [2, 1] {
        let resp = client
            .post(format!(
                "{base}/api/v1/programs/{program}/premium-campaigns/{campaign}/purchases"
            ))
            .bearer_auth(&op)
            .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
            .json(&json!({"shopper_id": shopper.0, "units": units, "ticket_id": ticket["id"]}))
            .send()
            .await
            .expect("sent");
        let status = resp.status();
        let v: serde_json::Value = resp.json().await.expect("json");
        outcomes.push((status, code(&v)));
    }
    outcomes
}

async fn a_rush_through_the_waiting_room_sells_exactly_the_budget(app: &TestApp) {
    const BUYERS: usize = 300;
    const BUDGET: i64 = 201;
    let op = app.operator().await;
    let p = app.currency().await;
    let mut shoppers = Vec::with_capacity(BUYERS);
    for _ in 0..BUYERS {
        shoppers.push(app.shopper(&op).await);
    }
    // 2,000 admissions a second: the whole rush is admitted in about 150 ms.
    let cid = campaign_with_room(app, &op, &p, BUDGET, 2_000).await;
    let mut tasks = tokio::task::JoinSet::new();
    for s in &shoppers {
        tasks.spawn(through_the_queue(
            app.client.clone(),
            app.base.clone(),
            p.clone(),
            cid.clone(),
            op.clone(),
            s.clone(),
        ));
    }
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        for (status, code) in done.expect("task") {
            assert!(status.as_u16() < 500, "{status} {code}");
            *outcomes.entry(code).or_default() += 1;
        }
    }
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
    let mut sold = 0;
    for (s, _) in &shoppers {
        let premium = app.wallet(&p, s, "premium").await;
        assert!(premium <= 600, "shopper {s} holds {premium} yen of premium");
        sold += premium / 300;
    }
    assert_eq!(sold, BUDGET, "{outcomes:?}");
    let (_, list) = app
        .get(&format!("/api/v1/programs/{p}/premium-campaigns"), &op)
        .await;
    let c = &list.as_array().expect("list")[0];
    assert_eq!(
        (c["units_sold"].as_i64(), c["sets_left"].as_i64()),
        (Some(BUDGET), Some(0)),
        "{c}"
    );
    assert!(
        c["queue_tickets"].as_i64().expect("tickets") <= BUYERS as i64,
        "{c}"
    );
    app.assert_ledger_ok(&p).await;
}

async fn sold_out_is_answered_to_everyone_waiting_at_once(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    // Two sets in all, one admission a second: the first buyer takes both.
    let cid = campaign_with_room(app, &op, &p, 2, 1).await;
    let queue = format!("/api/v1/programs/{p}/premium-campaigns/{cid}/queue");
    let mut waiting = Vec::new();
    for _ in 0..4 {
        let (id, token) = app.shopper(&op).await;
        let (status, t) = app.post(&queue, &token, json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{t}");
        waiting.push((id, token, t));
    }
    let (first_id, _, first) = &waiting[0];
    let (status, v) = app
        .post_money(
            &format!("/api/v1/programs/{p}/premium-campaigns/{cid}/purchases"),
            &op,
            json!({"shopper_id": first_id, "units": 2, "ticket_id": first["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    // Everyone still waiting hears it at their next poll, turn or not.
    for (_, token, t) in &waiting[1..] {
        let (status, v) = app
            .get(&format!("{queue}/{}", t["id"].as_str().expect("id")), token)
            .await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("campaign_sold_out")),
            "{v}"
        );
    }
    // A new arrival too, and it takes no place in the queue.
    let (_, late) = app.shopper(&op).await;
    let (status, v) = app.post(&queue, &late, json!({})).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("campaign_sold_out")),
        "{v}"
    );
    let (_, list) = app
        .get(&format!("/api/v1/programs/{p}/premium-campaigns"), &op)
        .await;
    assert_eq!(list[0]["queue_tickets"].as_i64(), Some(4), "{list}");
}

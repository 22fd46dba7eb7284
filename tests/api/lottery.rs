//! Lottery sales (抽選販売): one application per shopper, a committed seed, a draw that never
//! exceeds the budget and that `machipay lottery-verify` reproduces, the winners' purchase
//! period, and the unclaimed sets re-offered (a second draw, or first-come).
//!
//! The windows are hours apart; what happens later than now runs as a writer job with its
//! clock set to that instant (as `backdated_payment` does), through the same use-cases.

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;
use machipay::features::campaigns::{lottery, premium};
use machipay_domain::auth::Principal;
use machipay_domain::ids::*;

both_backends!(
    a_lottery_draws_within_budget_verifiably_and_re_draws_the_unclaimed,
    unclaimed_sets_of_a_first_come_lottery_go_to_anyone,
);

const SEED: &str = "machipay-test-seed-2026-sale-day";

async fn principal(app: &TestApp, token: &str) -> Principal {
    machipay::features::directory::store::principal_for_token(
        &app.app.db,
        &machipay_domain::auth::hash_secret(token),
    )
    .await
    .expect("query")
    .expect("live token")
    .1
}

fn id<T: From<uuid::Uuid>>(s: &str) -> T {
    uuid::Uuid::parse_str(s).expect("uuid").into()
}

/// The next draw, run as if at `at`; the refusal's code if refused.
async fn draw_at(
    app: &TestApp,
    op: &str,
    p: &str,
    c: &str,
    seed: &str,
    at: DateTime<Utc>,
) -> Result<lottery::DrawView, &'static str> {
    let who = principal(app, op).await;
    let (p, c, seed): (ProgramId, PremiumCampaignId, String) = (id(p), id(c), seed.to_owned());
    app.app
        .writer
        .answer(None, move |w| {
            Box::pin(async move {
                w.now = at;
                lottery::draw_in(w, who, p, c, seed).await
            })
        })
        .await
        .and_then(|a| a.into_value())
        .map_err(|e| e.code().expect("a refusal"))
}

/// A counter sale of `units` sets, as if at `at`; the refusal's code if refused.
async fn buy_at(
    app: &TestApp,
    op: &str,
    p: &str,
    c: &str,
    shopper: &str,
    units: i32,
    at: DateTime<Utc>,
) -> Result<(), &'static str> {
    let who = principal(app, op).await;
    let (p, c): (ProgramId, PremiumCampaignId) = (id(p), id(c));
    let req: premium::PurchaseRequest =
        serde_json::from_value(json!({"shopper_id": shopper, "units": units})).expect("request");
    app.app
        .writer
        .answer(None, move |w| {
            Box::pin(async move {
                w.now = at;
                premium::buy_in(w, who, p, c, req).await
            })
        })
        .await
        .and_then(|a| a.into_value())
        .map(|_| ())
        .map_err(|e| e.code().expect("a refusal"))
}

fn micros(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A lottery request opening applications an hour ago, closing in an hour; winners buy from
/// +2 h to +3 h; the sale ends at +5 h.
fn lottery_request(now: DateTime<Utc>, sets: i64, unclaimed: &str, residents: bool) -> Value {
    json!({
        "campaign": {"name": "抽選 第1弾", "price_yen": 10_000, "premium_yen": 3_000, "units_per_person_max": 3,
            "budget_yen": 3_000 * sets, "sale_starts_at": micros(now + Duration::hours(2)),
            "sale_ends_at": micros(now + Duration::hours(5))},
        "applications_open_at": micros(now - Duration::hours(1)),
        "applications_close_at": micros(now + Duration::hours(1)),
        "winners_buy_until": micros(now + Duration::hours(3)),
        "residents_only": residents,
        "unclaimed": unclaimed,
        "seed_hash": machipay_domain::lottery::seed_hash(SEED),
    })
}

/// Runs the CLI on a report; (exit success, stdout).
fn verify_cli(report: &Value, seed: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("report.json");
    std::fs::write(&file, report.to_string()).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_machipay"))
        .args(["lottery-verify", "--seed", seed, "--applications"])
        .arg(&file)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run machipay");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

async fn a_lottery_draws_within_budget_verifiably_and_re_draws_the_unclaimed(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let now = Utc::now();
    let lotteries = format!("/api/v1/programs/{p}/lotteries");
    // A hash that is not a SHA-256, and a window already closed, are refused.
    let mut bad = lottery_request(now, 5, "second_draw", true);
    bad["seed_hash"] = json!("abc");
    let (s, v) = app.post_money(&lotteries, &op, bad).await;
    assert_eq!(v["error"]["code"], "invalid_seed_hash", "{s} {v}");
    let (_, v) = app
        .post_money(
            &lotteries,
            &op,
            lottery_request(now - Duration::hours(2), 5, "second_draw", true),
        )
        .await;
    assert_eq!(v["error"]["code"], "invalid_lottery_period", "{v}");
    // Five sets to give; the hash is published from the start.
    let key = uuid::Uuid::now_v7().to_string();
    let body = lottery_request(now, 5, "second_draw", true);
    let (s, l) = app
        .request("POST", &lotteries, Some(&op), Some(&key), Some(&body))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    let c = l["campaign"]["id"].as_str().expect("id").to_owned();
    assert_eq!(l["seed_hash"], machipay_domain::lottery::seed_hash(SEED));
    assert_eq!(l["seed"], Value::Null);
    assert_eq!(l["campaign"]["sale_mode"], "lottery");
    // The hash cannot be changed: the same key with another hash is refused, and no route
    // changes a lottery.
    let mut other = body.clone();
    other["seed_hash"] = json!(machipay_domain::lottery::seed_hash("another-seed-entirely"));
    let (_, v) = app
        .request("POST", &lotteries, Some(&op), Some(&key), Some(&other))
        .await;
    assert_eq!(v["error"]["code"], "idempotency_key_reused", "{v}");

    // Six shoppers; residents only.
    let mut shoppers = Vec::new();
    for _ in 0..6 {
        shoppers.push(app.shopper(&op).await);
    }
    let apply = format!("{lotteries}/{c}/applications");
    let (_, v) = app.post(&apply, &shoppers[0].1, json!({"units": 2})).await;
    assert_eq!(v["error"]["code"], "resident_not_verified", "{v}");
    for (sid, _) in &shoppers {
        let (s, v) = app
            .post(
                &format!("/api/v1/shoppers/{sid}/resident-check"),
                &op,
                json!({"verified_on": "2026-01-05", "method": "マイナンバーカード"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let (_, v) = app.post(&apply, &shoppers[0].1, json!({"units": 4})).await;
    assert_eq!(v["error"]["code"], "invalid_units", "{v}");
    let wanted = [2, 2, 1, 3, 1, 2];
    for ((sid, token), units) in shoppers.iter().zip(wanted) {
        let (s, v) = app.post(&apply, token, json!({"units": units})).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert_eq!(
            (v["shopper_id"].as_str(), v["result"].as_str()),
            (Some(sid.as_str()), Some("pending"))
        );
    }
    // One application per shopper.
    let (s, v) = app.post(&apply, &shoppers[0].1, json!({"units": 1})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_applied"))
    );
    let (s, _) = app.post(&apply, &op, json!({"units": 1})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "shoppers apply for themselves");
    // A shopper sees their own application, not another's.
    let mine = |i: usize| format!("{apply}/{}", shoppers[i].0);
    let (s, v) = app.get(&mine(0), &shoppers[1].1).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    // Nothing is on sale and nothing drawn while the window is open; a wrong seed is refused.
    assert_eq!(
        buy_at(app, &op, &p, &c, &shoppers[0].0, 1, now).await,
        Err("campaign_not_on_sale")
    );
    let drawn_at = now + Duration::minutes(90);
    assert_eq!(
        draw_at(app, &op, &p, &c, SEED, now).await.err(),
        Some("draw_not_due")
    );
    assert_eq!(
        draw_at(app, &op, &p, &c, "not-the-committed-seed", drawn_at)
            .await
            .err(),
        Some("seed_mismatch")
    );

    // The draw: whole applications, never over the five sets.
    let d = draw_at(app, &op, &p, &c, SEED, drawn_at)
        .await
        .expect("draw");
    assert_eq!((d.round, d.budget_units, d.pool), (1, 5, 6));
    assert!(d.units_won <= 5 && d.units_won >= 4, "{d:?}");
    // The same seed cannot draw round 1 again; round 2 waits for the winners' period.
    assert_eq!(
        draw_at(app, &op, &p, &c, SEED, drawn_at).await.err(),
        Some("draw_not_due")
    );
    let (_, l) = app.get(&format!("{lotteries}/{c}"), &shoppers[0].1).await;
    assert_eq!(
        (l["seed"].as_str(), l["seed_hash"].as_str()),
        (
            Some(SEED),
            Some(machipay_domain::lottery::seed_hash(SEED).as_str())
        )
    );
    let (_, report) = app.get(&format!("{lotteries}/{c}/report"), &op).await;
    let won = |report: &Value, round: i64| -> Vec<String> {
        report["applications"]
            .as_array()
            .expect("applications")
            .iter()
            .filter(|a| a["won_round"].as_i64() == Some(round))
            .map(|a| a["shopper_id"].as_str().expect("id").to_owned())
            .collect()
    };
    let winners = won(&report, 1);
    assert_eq!(
        report["totals"]["units_won"].as_i64(),
        Some(d.units_won),
        "{report}"
    );
    // The CLI re-runs the draw from the revealed seed and the published list.
    let (ok, out) = verify_cli(&report, SEED);
    assert!(ok, "{out}");
    assert!(winners.iter().all(|w| out.contains(w.as_str())), "{out}");
    assert!(out.contains("same winners as published"), "{out}");
    assert!(!verify_cli(&report, "a-seed-nobody-committed-to").0);
    let mut forged = report.clone();
    let loser = forged["applications"]
        .as_array_mut()
        .expect("applications")
        .iter_mut()
        .find(|a| a["won_round"].is_null())
        .expect("a loser");
    loser["won_round"] = json!(1);
    assert!(!verify_cli(&forged, SEED).0, "a forged winner is caught");

    // Results in the wallet.
    let index = |sid: &str| shoppers.iter().position(|s| s.0 == sid).expect("shopper");
    let w0 = index(&winners[0]);
    let (_, v) = app.get(&mine(w0), &shoppers[w0].1).await;
    assert_eq!(v["result"], "won", "{v}");
    let until: DateTime<Utc> = v["buy_until"]
        .as_str()
        .expect("buy_until")
        .parse()
        .expect("time");
    assert_eq!(micros(until), micros(now + Duration::hours(3)));
    let losers: Vec<usize> = (0..6)
        .filter(|i| !winners.contains(&shoppers[*i].0))
        .collect();
    let (_, v) = app.get(&mine(losers[0]), &shoppers[losers[0]].1).await;
    assert_eq!(v["result"], "lost", "{v}");

    // The winners' period: only winners, only their sets.
    let during = now + Duration::minutes(150);
    let l0 = &shoppers[losers[0]].0;
    assert_eq!(
        buy_at(app, &op, &p, &c, l0, 1, during).await,
        Err("lottery_winners_only")
    );
    let units_of = |i: usize| wanted[i];
    assert_eq!(
        buy_at(app, &op, &p, &c, &winners[0], units_of(w0) + 1, during).await,
        Err("set_limit_reached")
    );
    assert_eq!(
        buy_at(app, &op, &p, &c, &winners[0], units_of(w0), during).await,
        Ok(())
    );
    // The other winners do not buy; after the period they are refused.
    let after = now + Duration::minutes(200);
    if let Some(w1) = winners.get(1) {
        assert_eq!(
            buy_at(app, &op, &p, &c, w1, 1, after).await,
            Err("purchase_period_over")
        );
    }
    // Round 2: the sets not bought, among the applications that lost.
    let d2 = draw_at(app, &op, &p, &c, SEED, after)
        .await
        .expect("round 2");
    assert_eq!(d2.round, 2);
    assert_eq!(d2.budget_units, 5 - i64::from(units_of(w0)));
    assert_eq!(d2.pool, losers.len() as i64);
    assert!(d2.units_won <= d2.budget_units && d2.winners > 0, "{d2:?}");
    let (_, report) = app.get(&format!("{lotteries}/{c}/report"), &op).await;
    let second = won(&report, 2);
    assert!(second.iter().all(|s| !winners.contains(s)));
    let (ok, out) = verify_cli(&report, SEED);
    assert!(ok, "{out}");
    assert!(out.contains("round 2"), "{out}");
    // A round-2 winner buys until the sale ends; the budget is never exceeded.
    let s2 = index(&second[0]);
    assert_eq!(
        buy_at(
            app,
            &op,
            &p,
            &c,
            &second[0],
            units_of(s2),
            after + Duration::minutes(5)
        )
        .await,
        Ok(())
    );
    let (_, l) = app.get(&format!("{lotteries}/{c}"), &op).await;
    assert!(
        l["campaign"]["units_sold"].as_i64().expect("sold") <= 5,
        "{l}"
    );
    let (_, report) = app.get(&format!("{lotteries}/{c}/report"), &op).await;
    let t = &report["totals"];
    assert_eq!(
        t["units_bought"].as_i64(),
        Some(i64::from(units_of(w0) + units_of(s2))),
        "{report}"
    );
    assert_eq!(
        t["units_unclaimed"].as_i64(),
        Some(t["units_won"].as_i64().expect("won") - t["units_bought"].as_i64().expect("bought"))
    );
    // The report as CSV for Excel.
    let (s, ct, bytes) = app
        .get_bytes(&format!("{lotteries}/{c}/report?format=csv"), &op)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/csv"), "{ct}");
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
    assert_eq!(String::from_utf8_lossy(&bytes).lines().count(), 7);
    // Shoppers may not read the report, nor draw.
    let (s, _) = app
        .get(&format!("{lotteries}/{c}/report"), &shoppers[0].1)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

async fn unclaimed_sets_of_a_first_come_lottery_go_to_anyone(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let now = Utc::now();
    let lotteries = format!("/api/v1/programs/{p}/lotteries");
    let (s, l) = app
        .post_money(
            &lotteries,
            &op,
            lottery_request(now, 4, "first_come", false),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    let c = l["campaign"]["id"].as_str().expect("id").to_owned();
    let (a, a_token) = app.shopper(&op).await;
    let (b, _) = app.shopper(&op).await;
    let (s, v) = app
        .post(
            &format!("{lotteries}/{c}/applications"),
            &a_token,
            json!({"units": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let d = draw_at(app, &op, &p, &c, SEED, now + Duration::minutes(90))
        .await
        .expect("draw");
    assert_eq!((d.winners, d.units_won), (1, 2));
    // During the winners' period the one who did not apply is refused.
    let during = now + Duration::minutes(150);
    assert_eq!(
        buy_at(app, &op, &p, &c, &b, 1, during).await,
        Err("lottery_winners_only")
    );
    // The winner does not buy; after the period all four sets are anyone's, first-come,
    // and no second draw runs.
    let after = now + Duration::minutes(200);
    assert_eq!(
        draw_at(app, &op, &p, &c, SEED, after).await.err(),
        Some("draw_not_due")
    );
    assert_eq!(buy_at(app, &op, &p, &c, &b, 3, after).await, Ok(()));
    assert_eq!(buy_at(app, &op, &p, &c, &a, 1, after).await, Ok(()));
    assert_eq!(
        buy_at(app, &op, &p, &c, &a, 1, after).await,
        Err("campaign_sold_out")
    );
}

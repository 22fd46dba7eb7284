//! Settlement: statements per store, held payouts, a transaction settled in exactly one run,
//! running a cycle twice changes nothing, the 全銀 file parsed back, and confirming posts the
//! payouts once.

use chrono::{Datelike, Days, Utc};
use machipay_domain::zengin::{RECORD_LEN, RECORD_LEN_WITH_CRLF, parse_sogo_furikomi};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::registry::bank;
use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    settlement_runs_pay_each_transaction_once,
    settlement_refuses_open_cycles_and_odd_dates,
    a_currency_programs_points_are_worth_one_yen,
    a_refund_after_a_payout_lands_in_the_next_statement,
    card_points_are_reimbursed_and_billed_with_their_signs,
    transfer_dates_are_business_days,
    a_cycle_run_twice_at_once_is_one_run,
);

/// Two runs of one cycle at the same moment make one run (the second answers it); an
/// earlier cycle cannot be run after a later one; a run of only held statements has no file.
async fn a_cycle_run_twice_at_once_is_one_run(app: &TestApp) {
    let w = world(app).await;
    app.backdated_payment(
        &w.program,
        &w.shopper_token,
        &w.m1,
        1_000,
        "2026-01-05T03:00:00Z",
    )
    .await;
    let (a, b) = tokio::join!(run(app, &w, "2026-01-10"), run(app, &w, "2026-01-10"));
    assert_eq!(a["id"], b["id"]);
    assert_eq!(
        (
            a["payable_statements"].as_u64(),
            a["total_payable_yen"].as_i64()
        ),
        (Some(1), Some(990))
    );
    let path = format!("/api/v1/programs/{}/settlement-runs", w.program);
    let (_, runs) = app.get(&path, &app.admin).await;
    assert_eq!(runs.as_array().map(Vec::len), Some(1));
    // An earlier cycle after a later one has run is refused, nothing written.
    let (s, e) = app
        .post(&path, &w.op, json!({"closing_date": "2025-12-25"}))
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("cycle_already_passed")),
        "{e}"
    );
    let (_, runs) = app.get(&path, &app.admin).await;
    assert_eq!(runs.as_array().map(Vec::len), Some(1));
    // A run holding only held statements (m3 is new, m4 has no bank account) has no 全銀 file.
    for (m, at) in [
        (&w.m3, "2026-01-12T03:00:00Z"),
        (&w.m4, "2026-01-13T03:00:00Z"),
    ] {
        app.backdated_payment(&w.program, &w.shopper_token, m, 500, at)
            .await;
    }
    let held = run(app, &w, "2026-01-25").await;
    assert_eq!(
        (
            held["payable_statements"].as_u64(),
            held["held_statements"].as_u64()
        ),
        (Some(0), Some(2)),
        "{held}"
    );
    let (s, e) = app
        .get(
            &format!("{path}/{}/zengin", held["id"].as_str().unwrap()),
            &w.op,
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("nothing_to_pay"))
    );
}

/// Runs the cycle closing on `closing` as if it were the hour after that day ended (JST):
/// the run job of the real path with the job's clock set forward, so till actions made now
/// can be settled (transactions are immutable, so they cannot be backdated).
async fn run_after(app: &TestApp, program: &str, op: &str, closing: chrono::NaiveDate) -> Value {
    let (_, who) = machipay::features::directory::store::principal_for_token(
        &app.app.db,
        &machipay_domain::auth::hash_secret(op),
    )
    .await
    .expect("query")
    .expect("live token");
    let program: machipay_domain::ids::ProgramId =
        uuid::Uuid::parse_str(program).expect("program id").into();
    let now = machipay_domain::calendar::jst_end_of_day_utc(closing) + chrono::Duration::hours(1);
    let transfer = machipay_domain::settlement::add_business_days(closing, 5).expect("date");
    let answer = app
        .app
        .writer
        .answer(None, move |w| {
            Box::pin(async move {
                w.now = now;
                machipay::features::settlement::run_in(w, who, program, closing, transfer).await
            })
        })
        .await
        .expect("run");
    let machipay::writer::Answer::Fresh(done) = answer else {
        panic!("no key, so never a replay");
    };
    assert_eq!(done.status(), 200);
    serde_json::to_value(&done.value).expect("JSON")
}

fn jst_today() -> chrono::NaiveDate {
    (Utc::now() + chrono::Duration::hours(9)).date_naive()
}

/// Confirms a run as `second`, who must not be the staff member who ran it.
async fn confirm(app: &TestApp, program: &str, second: &str, run: &Value) {
    let path = format!(
        "/api/v1/programs/{program}/settlement-runs/{}/confirm",
        run["id"].as_str().unwrap()
    );
    let (s, v) = app.post_money(&path, second, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

/// ¥10,000 paid and settled on 1/10; the store refunds ¥3,000 of it on 1/20 and takes
/// ¥5,000 on 1/21: the 1/25 statement shows the refund and nets it; what was paid out in all
/// is what the store was owed, and the ledger balances.
async fn a_refund_after_a_payout_lands_in_the_next_statement(app: &TestApp) {
    let mut daily = settings();
    daily["closing_days"] = json!([]);
    let w = world_with(app, daily).await;
    let p = &w.program;
    let today = jst_today();
    let now = Utc::now().to_rfc3339();
    let paid = app
        .backdated_payment(p, &w.shopper_token, &w.m1, 10_000, &now)
        .await;
    let payment = paid.transaction_id.to_string();
    // Daily closing for this test: today's cycle, run after it ends, pays the ¥10,000.
    let first = run_after(app, p, &w.op, today).await;
    let st = statements(app, &w, &first).await;
    assert_eq!(of(&st, &w.m1)["net_payable_yen"].as_i64(), Some(9_900));
    confirm(app, p, &app.admin, &first).await;
    assert_eq!(app.merchant_balance(p, &w.m1, "coin").await, 0);

    let (s, r) = app
        .post_money(
            &format!("/api/v1/merchants/{}/refunds", w.m1),
            &w.m1_owner,
            json!({"transaction_id": payment, "amount": 3_000, "reason": "返品"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(app.merchant_balance(p, &w.m1, "coin").await, -3_000);
    app.backdated_payment(p, &w.shopper_token, &w.m1, 5_000, &now)
        .await;
    let next = today.succ_opt().unwrap();
    let second = run_after(app, p, &w.op, next).await;
    let st = statements(app, &w, &second).await;
    let m1 = of(&st, &w.m1);
    assert_eq!(
        (
            m1["status"].as_str(),
            m1["payments_yen"].as_i64(),
            m1["refunds_yen"].as_i64(),
            m1["fee_yen"].as_i64(),
            m1["net_payable_yen"].as_i64(),
            m1["transactions"].as_i64()
        ),
        (
            Some("payable"),
            Some(5_000),
            Some(3_000),
            Some(20),
            Some(1_980),
            Some(2)
        ),
        "{m1}"
    );
    confirm(app, p, &app.admin, &second).await;
    let owed = 10_000 - 3_000 + 5_000 - 100 - 20;
    let paid_out: i64 = [&first, &second]
        .iter()
        .map(|r| r["total_payable_yen"].as_i64().unwrap())
        .sum();
    assert_eq!(paid_out, owed, "the payouts are what the store was owed");
    assert_eq!(app.merchant_balance(p, &w.m1, "coin").await, 0);
    app.assert_ledger_ok(p).await;
    let again = run_after(app, p, &w.op, next).await;
    assert_eq!(
        again["id"], second["id"],
        "running a cycle twice changes nothing"
    );
}

/// A points program in billed mode: store A awards 100 points for ¥10,000 (it pays for them)
/// and store B accepts 60 of them (it is reimbursed). B's statement pays ¥60; A's owes ¥100
/// and is held as nothing payable (carried to a later run); confirming empties B's points.
async fn card_points_are_reimbursed_and_billed_with_their_signs(app: &TestApp) {
    let op = app.operator().await;
    let mut set = settings();
    set["payout_hold_days"] = json!(0);
    set["closing_days"] = json!([]);
    let p = app.program("points", set).await;
    let (a, owner_a) = store(app, &op, &p, Some("ハナヤ"), "2025-11-01").await;
    let (b, owner_b) = store(app, &op, &p, Some("サカナヤ"), "2025-11-01").await;
    let (s, c) = app
        .post(
            &format!("/api/v1/programs/{p}/cards"),
            &op,
            json!({"shopper_id": null}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let number = c["number"].as_str().unwrap();
    let (s, e) = app
        .post_money(
            &format!("/api/v1/merchants/{a}/point-earns"),
            &owner_a,
            json!({"program_id": p, "card_number": number, "amount": 10_000}),
        )
        .await;
    assert_eq!(
        (s, e["points"].as_i64()),
        (StatusCode::CREATED, Some(100)),
        "{e}"
    );
    let (s, sp) = app
        .post_money(
            &format!("/api/v1/merchants/{b}/point-spends"),
            &owner_b,
            json!({"program_id": p, "card_number": number, "amount": 60}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sp}");
    let r = run_after(app, &p, &op, jst_today()).await;
    let (_, st) = app
        .get(
            &format!(
                "/api/v1/programs/{p}/settlement-runs/{}/statements",
                r["id"].as_str().unwrap()
            ),
            &app.admin,
        )
        .await;
    let st = st.as_array().unwrap().clone();
    let fig = |m: &str| {
        let s = of(&st, m);
        (
            s["status"].as_str().map(str::to_owned),
            s["points_received"].as_i64(),
            s["points_charged"].as_i64(),
            s["points_reimbursed_yen"].as_i64(),
            s["points_charged_yen"].as_i64(),
            s["net_payable_yen"].as_i64(),
        )
    };
    assert_eq!(
        fig(&b),
        (
            Some("payable".into()),
            Some(60),
            Some(0),
            Some(60),
            Some(0),
            Some(60)
        )
    );
    assert_eq!(
        fig(&a),
        (
            Some("held".into()),
            Some(0),
            Some(100),
            Some(0),
            Some(100),
            Some(-100)
        )
    );
    assert_eq!(of(&st, &a)["hold_reason"], "nothing_payable");
    assert_eq!(r["total_payable_yen"].as_i64(), Some(60));
    confirm(app, &p, &app.admin, &r).await;
    assert_eq!(app.merchant_balance(&p, &b, "points").await, 0);
    assert_eq!(
        app.merchant_balance(&p, &a, "points").await,
        -100,
        "A still owes its points"
    );
    app.assert_ledger_ok(&p).await;
}

/// A weekend or public holiday is refused as a transfer date; a late run's default is the
/// next business day after today (its fifth business day after closing has long passed).
async fn transfer_dates_are_business_days(app: &TestApp) {
    let w = world(app).await;
    let path = format!("/api/v1/programs/{}/settlement-runs", w.program);
    let today = jst_today();
    let saturday = (1..=7)
        .map(|n| today + Days::new(n))
        .find(|d| d.weekday() == chrono::Weekday::Sat)
        .expect("a Saturday");
    let new_year = chrono::NaiveDate::from_ymd_opt(today.year() + 1, 1, 2).unwrap();
    for day in [saturday, new_year] {
        let (s, e) = app
            .post(
                &path,
                &w.op,
                json!({"closing_date": "2026-01-10", "transfer_date": day}),
            )
            .await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (
                StatusCode::BAD_REQUEST,
                Some("transfer_date_not_business_day")
            ),
            "{day}: {e}"
        );
    }
    let (_, runs) = app.get(&path, &app.admin).await;
    assert_eq!(runs.as_array().map(Vec::len), Some(0), "nothing written");
    let r = run(app, &w, "2025-12-25").await;
    let next = (1..=14)
        .map(|n| today + Days::new(n))
        .find(|d| machipay_domain::settlement::is_business_day(*d) == Ok(true))
        .expect("a business day within two weeks");
    assert_eq!(r["transfer_date"], next.to_string(), "{r}");
}

fn settings() -> Value {
    json!({"charge_step_yen": 1, "charge_min_yen": 1, "charge_max_yen": 100_000,
        "closing_days": [10, 25], "cashout_fee_rate": "0.01", "payout_hold_days": 30, "point_value_yen": "1",
        "payout_sender": {"code": "0123456789", "name_kana": "カ)マチペイ", "bank_code": "0005",
            "bank_name_kana": "ミツビシユーエフジェイ", "branch_code": "001", "branch_name_kana": "ホンテン",
            "account_type": "current", "account_number": "1234567"}})
}

struct World {
    program: String,
    op: String,
    shopper_token: String,
    /// Paid out: holder "カ)マチペイ" (full width).
    m1: String,
    m1_owner: String,
    m2: String,
    /// Joined 2026-01-01: held by the 30-day hold until the 2026-02-10 run.
    m3: String,
    /// No bank account: held.
    m4: String,
}

async fn store(
    app: &TestApp,
    op: &str,
    p: &str,
    holder: Option<&str>,
    joined: &str,
) -> (String, String) {
    let (m, owner) = app.merchant(op).await;
    if let Some(holder) = holder {
        let (s, v) = app
            .put(
                &format!("/api/v1/merchants/{m}/bank-account"),
                op,
                bank(holder),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (s, v) = app
        .post(
            &format!("/api/v1/programs/{p}/merchants/{m}/participation-events"),
            op,
            json!({"kind": "joined", "effective_on": joined}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    (m, owner)
}

async fn world(app: &TestApp) -> World {
    world_with(app, settings()).await
}

async fn world_with(app: &TestApp, settings: Value) -> World {
    let op = app.operator().await;
    let program = app.program("currency", settings).await;
    let (m1, m1_owner) = store(app, &op, &program, Some("カ)マチペイ"), "2025-11-01").await;
    let (m2, _) = store(app, &op, &program, Some("ヤマダ　タロウ"), "2025-11-01").await;
    let (m3, _) = store(app, &op, &program, Some("サトウ"), "2026-01-01").await;
    let (m4, _) = store(app, &op, &program, None, "2025-11-01").await;
    let (shopper, shopper_token) = app.shopper(&op).await;
    app.backdated_charge(&program, &shopper, 100_000, "2025-12-01T03:00:00Z")
        .await;
    World {
        program,
        op,
        shopper_token,
        m1,
        m1_owner,
        m2,
        m3,
        m4,
    }
}

async fn run(app: &TestApp, w: &World, closing: &str) -> Value {
    let (s, v) = app
        .post(
            &format!("/api/v1/programs/{}/settlement-runs", w.program),
            &w.op,
            json!({"closing_date": closing}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{closing}: {v}");
    v
}

async fn statements(app: &TestApp, w: &World, run: &Value) -> Vec<Value> {
    let path = format!(
        "/api/v1/programs/{}/settlement-runs/{}/statements",
        w.program,
        run["id"].as_str().unwrap()
    );
    let (s, v) = app.get(&path, &app.admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v.as_array().unwrap().clone()
}

fn of<'a>(statements: &'a [Value], merchant: &str) -> &'a Value {
    statements
        .iter()
        .find(|s| s["merchant_id"] == merchant)
        .expect("statement of the store")
}

async fn settlement_runs_pay_each_transaction_once(app: &TestApp) {
    let w = world(app).await;
    let p = &w.program;
    // January, noon JST.
    for (m, amount, date) in [
        (&w.m1, 10_000, "2026-01-05"),
        (&w.m2, 3_333, "2026-01-06"),
        (&w.m3, 500, "2026-01-07"),
        (&w.m4, 700, "2026-01-08"),
        (&w.m1, 2_000, "2026-01-20"),
    ] {
        app.backdated_payment(p, &w.shopper_token, m, amount, &format!("{date}T03:00:00Z"))
            .await;
    }

    let first = run(app, &w, "2026-01-10").await;
    assert_eq!(
        (
            first["payable_statements"].as_u64(),
            first["held_statements"].as_u64()
        ),
        (Some(2), Some(2)),
        "{first}"
    );
    assert_eq!(first["total_payable_yen"], 9_900 + 3_300);
    let st = statements(app, &w, &first).await;
    let s1 = of(&st, &w.m1);
    assert_eq!(
        (
            s1["payments_yen"].as_i64(),
            s1["fee_yen"].as_i64(),
            s1["net_payable_yen"].as_i64()
        ),
        (Some(10_000), Some(100), Some(9_900))
    );
    assert_eq!(s1["transactions"], 1, "the 20th is after the close");
    assert_eq!(s1["bank_account"]["holder_kana"], "ｶ)ﾏﾁﾍﾟｲ");
    assert_eq!(of(&st, &w.m2)["fee_yen"], 33, "1 % of 3,333 rounded down");
    assert_eq!(
        (
            of(&st, &w.m3)["status"].as_str(),
            of(&st, &w.m3)["hold_reason"].as_str()
        ),
        (Some("held"), Some("new_store"))
    );
    assert_eq!(of(&st, &w.m4)["hold_reason"], "no_bank_account");

    // Running the cycle again answers the same run and changes nothing.
    let again = run(app, &w, "2026-01-10").await;
    assert_eq!(again["id"], first["id"]);
    assert_eq!(statements(app, &w, &again).await, st);

    check_zengin(app, &w, &first).await;

    // The two-person rule: whoever ran the cycle cannot confirm it; nothing moves.
    let confirm = format!(
        "/api/v1/programs/{p}/settlement-runs/{}/confirm",
        first["id"].as_str().unwrap()
    );
    let (s, v) = app.post_money(&confirm, &w.op, json!({})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("second_person_required")),
        "{v}"
    );
    assert_eq!(app.merchant_balance(p, &w.m2, "coin").await, 3_333);
    let (_, runs) = app
        .get(&format!("/api/v1/programs/{p}/settlement-runs"), &w.op)
        .await;
    assert_eq!(runs[0]["status"], "calculated", "{runs}");

    // A second person confirms: the payouts post, the stores' takings leave their accounts once.
    let (s, v) = app.post_money(&confirm, &app.admin, json!({})).await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("paid")),
        "{v}"
    );
    assert_eq!(v["created_by"], runs[0]["created_by"]);
    assert_ne!(v["confirmed_by"], v["created_by"], "{v}");
    assert_eq!(
        app.merchant_balance(p, &w.m1, "coin").await,
        2_000,
        "only the unsettled 20th is left"
    );
    assert_eq!(app.merchant_balance(p, &w.m2, "coin").await, 0);
    assert_eq!(
        app.merchant_balance(p, &w.m3, "coin").await,
        500,
        "held: not paid"
    );
    let (s, v) = app.post_money(&confirm, &app.admin, json!({})).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("paid")));
    assert_eq!(
        app.merchant_balance(p, &w.m1, "coin").await,
        2_000,
        "confirmed twice, paid once"
    );
    app.assert_ledger_ok(p).await;

    // The next cycle takes only what the first did not settle.
    let second = run(app, &w, "2026-01-25").await;
    let st2 = statements(app, &w, &second).await;
    assert_eq!(
        (
            of(&st2, &w.m1)["payments_yen"].as_i64(),
            of(&st2, &w.m1)["transactions"].as_i64()
        ),
        (Some(2_000), Some(1))
    );
    assert!(
        st2.iter().all(|s| s["merchant_id"] != w.m2),
        "the settled store has nothing new"
    );
    assert_eq!(of(&st2, &w.m3)["hold_reason"], "new_store");
    // The hold ends 30 days after joining: the February run pays M3's January takings.
    let third = run(app, &w, "2026-02-10").await;
    let st3 = statements(app, &w, &third).await;
    assert_eq!(
        (
            of(&st3, &w.m3)["status"].as_str(),
            of(&st3, &w.m3)["payments_yen"].as_i64()
        ),
        (Some("payable"), Some(500))
    );
    assert!(st3.iter().all(|s| s["merchant_id"] != w.m1));

    // A store reads its own statements; another store does not.
    let (s, mine) = app
        .get(
            &format!("/api/v1/merchants/{}/statements", w.m1),
            &w.m1_owner,
        )
        .await;
    assert_eq!(
        (s, mine.as_array().map(Vec::len)),
        (StatusCode::OK, Some(2)),
        "{mine}"
    );
    // Each names its cycle's closing date and the payout's transfer date (the till's 精算).
    for st in mine.as_array().expect("statements") {
        let (closing, transfer) = (
            st["closing_date"].as_str().expect("closing_date"),
            st["transfer_date"].as_str().expect("transfer_date"),
        );
        assert!(closing.len() == 10 && transfer > closing, "{st}");
    }
    let (s, _) = app
        .get(
            &format!("/api/v1/merchants/{}/statements", w.m2),
            &w.m1_owner,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The store's own statements as CSV: the same two rows, BOM and Japanese headers.
    let (s, ct, csv) = app
        .get_bytes(
            &format!("/api/v1/merchants/{}/statements?format=csv", w.m1),
            &w.m1_owner,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/csv"));
    let text = std::str::from_utf8(&csv[3..]).unwrap();
    assert!(text.starts_with("明細ID,店舗ID,状態"), "{text}");
    assert_eq!(text.lines().count(), 3, "{text}");
    let (s, _) = app
        .get(
            &format!("/api/v1/merchants/{}/statements?format=xml", w.m1),
            &w.m1_owner,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (s, ct, csv) = app
        .get_bytes(
            &format!(
                "/api/v1/programs/{p}/settlement-runs/{}/statements?format=csv",
                first["id"].as_str().unwrap()
            ),
            &app.admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/csv"));
    assert_eq!(&csv[..3], b"\xEF\xBB\xBF");
    assert!(
        std::str::from_utf8(&csv[3..])
            .unwrap()
            .starts_with("明細ID,店舗ID,状態")
    );
    let (s, runs) = app
        .get(&format!("/api/v1/programs/{p}/settlement-runs"), &app.admin)
        .await;
    assert_eq!(
        (s, runs.as_array().map(Vec::len)),
        (StatusCode::OK, Some(3))
    );
}

/// Parses the file back: every record 120 bytes + CRLF, header / data / trailer / end, the
/// trailer's count and total equal to the data records, names in half-width kana.
async fn check_zengin(app: &TestApp, w: &World, run: &Value) {
    let path = format!(
        "/api/v1/programs/{}/settlement-runs/{}/zengin",
        w.program,
        run["id"].as_str().unwrap()
    );
    let (_, viewer) = app.staff("city", "viewer").await;
    let (s, e) = app.get(&path, &viewer).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden")),
        "operators only"
    );
    let (s, ct, file) = app.get_bytes(&path, &w.op).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ct, "application/octet-stream");
    assert_eq!(
        file.len(),
        5 * RECORD_LEN_WITH_CRLF,
        "header, two data records, trailer, end"
    );
    let records: Vec<&[u8]> = file.chunks(RECORD_LEN_WITH_CRLF).collect();
    for r in &records {
        assert_eq!(r.len(), RECORD_LEN_WITH_CRLF);
        assert_eq!(&r[RECORD_LEN..], b"\r\n");
    }
    assert_eq!(records.iter().map(|r| r[0]).collect::<Vec<u8>>(), b"12289");
    // Trailer: 合計件数 2, 合計金額 9,900 + 3,300.
    assert_eq!(&records[3][..19], b"8000002000000013200");
    // 依頼人名 "ｶ)ﾏﾁﾍﾟｲ" in JIS X 0201 bytes, from the full-width setting.
    assert_eq!(
        &records[0][14..21],
        &[0xB6, b')', 0xCF, 0xC1, 0xCD, 0xDF, 0xB2]
    );
    let parsed = parse_sogo_furikomi(&file).expect("the file parses back");
    assert_eq!(parsed.transfers.len(), 2);
    assert_eq!(parsed.total_yen, 13_200);
    let transfer: chrono::NaiveDate = run["transfer_date"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("transfer date");
    assert_eq!(
        (parsed.header.transfer_month, parsed.header.transfer_day),
        (transfer.month(), transfer.day()),
        "the run's 振込指定日 (a late run: the next business day after today)"
    );
    let mut holders: Vec<(&str, i64)> = parsed
        .transfers
        .iter()
        .map(|t| (t.account.holder_kana.as_str(), t.amount_yen))
        .collect();
    holders.sort();
    assert_eq!(holders, [("ｶ)ﾏﾁﾍﾟｲ", 9_900), ("ﾔﾏﾀﾞ ﾀﾛｳ", 3_300)]);
    let (decoded, _, bad) = encoding_rs::SHIFT_JIS.decode(records[1]);
    assert!(!bad && decoded.contains("ﾐﾂｲｽﾐﾄﾓ"), "{decoded}");
}

async fn settlement_refuses_open_cycles_and_odd_dates(app: &TestApp) {
    let w = world(app).await;
    let path = format!("/api/v1/programs/{}/settlement-runs", w.program);
    // The next closing day from today (JST) has not ended.
    let today = (Utc::now() + chrono::Duration::hours(9)).date_naive();
    let open = if today.day() <= 10 {
        today.with_day(10).unwrap()
    } else if today.day() <= 25 {
        today.with_day(25).unwrap()
    } else {
        (today + Days::new(20)).with_day(10).unwrap()
    };
    let (s, e) = app.post(&path, &w.op, json!({"closing_date": open})).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("cycle_still_open")),
        "{e}"
    );
    let (s, e) = app
        .post(&path, &w.op, json!({"closing_date": "2026-01-11"}))
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("not_a_closing_day"))
    );
    let (s, e) = app
        .post(
            &path,
            &w.op,
            json!({"closing_date": "2026-01-10", "transfer_date": "2026-01-09"}),
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_transfer_date"))
    );
    let (s, runs) = app.get(&path, &app.admin).await;
    assert_eq!(
        (s, runs.as_array().map(Vec::len)),
        (StatusCode::OK, Some(0)),
        "nothing written"
    );
    // A run with nothing payable has no file.
    let empty = run(app, &w, "2025-12-10").await;
    let (s, e) = app
        .get(
            &format!(
                "/api/v1/programs/{}/settlement-runs/{}/zengin",
                w.program,
                empty["id"].as_str().unwrap()
            ),
            &w.op,
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("nothing_to_pay"))
    );
    let _ = (&w.m1, &w.m2, &w.m3, &w.m4, &w.m1_owner, &w.shopper_token);
}

/// A currency program's points are spent 1:1 with yen, so their value is fixed at ¥1: a
/// currency program with `point_value_yen` 2 is refused (422 `point_value_fixed`), at
/// creation and as a settings change. A shopper spends rebate points at a store: the operator
/// reimburses them at ¥1 each, and the payout empties the store's points account.
async fn a_currency_programs_points_are_worth_one_yen(app: &TestApp) {
    let op = app.operator().await;
    let mut s = settings();
    s["cashout_fee_rate"] = json!("0");
    let mut two = s.clone();
    two["point_value_yen"] = json!("2");
    let (status, e) = app
        .post(
            "/api/v1/programs",
            &app.admin,
            json!({"kind": "currency", "name": "テスト", "settings": two}),
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("point_value_fixed")),
        "{e}"
    );
    let p = app.program("currency", s).await;
    let (status, e) = app
        .post(
            &format!("/api/v1/programs/{p}/settings"),
            &op,
            json!({"settings": two}),
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("point_value_fixed")),
        "{e}"
    );
    // A point card may value its points at 2.
    let (status, v) = app
        .post(
            "/api/v1/programs",
            &app.admin,
            json!({"kind": "points", "name": "テスト", "settings": two}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (m, _) = store(app, &op, &p, Some("ハナヤ"), "2025-11-01").await;
    let (status, v) = app
        .put(
            &format!("/api/v1/merchants/{m}/category"),
            &op,
            json!({"category": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = app
        .post_money(
            &format!("/api/v1/programs/{p}/rebate-campaigns"),
            &op,
            json!({"name": "10%還元", "tiers": [{"category": "member", "rate": "0.1"}], "monthly_cap_points": 1_000,
                "budget_points": 10_000, "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z", "grant_mode": "immediate"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (shopper, token) = app.shopper(&op).await;
    app.backdated_charge(&p, &shopper, 10_000, "2025-12-01T03:00:00Z")
        .await;
    // ¥1,000 in coin earns 100 points; the next ¥500 spends them first (points_first).
    app.backdated_payment(&p, &token, &m, 1_000, "2026-01-05T03:00:00Z")
        .await;
    app.backdated_payment(&p, &token, &m, 500, "2026-01-06T03:00:00Z")
        .await;
    assert_eq!(app.merchant_balance(&p, &m, "points").await, 100);
    let (status, r) = app
        .post(
            &format!("/api/v1/programs/{p}/settlement-runs"),
            &op,
            json!({"closing_date": "2026-01-10"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let (_, st) = app
        .get(
            &format!(
                "/api/v1/programs/{p}/settlement-runs/{}/statements",
                r["id"].as_str().unwrap()
            ),
            &app.admin,
        )
        .await;
    let s = &st[0];
    assert_eq!(
        (
            s["payments_yen"].as_i64(),
            s["points_received"].as_i64(),
            s["points_reimbursed_yen"].as_i64(),
            s["net_payable_yen"].as_i64()
        ),
        (Some(1_400), Some(100), Some(100), Some(1_500)),
        "{s}"
    );
    let confirm = format!(
        "/api/v1/programs/{p}/settlement-runs/{}/confirm",
        r["id"].as_str().unwrap()
    );
    let (status, v) = app.post_money(&confirm, &app.admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(app.merchant_balance(&p, &m, "points").await, 0);
    assert_eq!(app.merchant_balance(&p, &m, "coin").await, 0);
    app.assert_ledger_ok(&p).await;
}

//! The figures the law and the bank depend on (issue 12 items 5–8 and 12): the deposit is half
//! of the whole unused balance with the half-year's issued and used figures, transfer dates
//! are never in the past and come from the Cabinet Office's holidays, a past cycle settles
//! under the settings of its closing date, and no report is made of days that have not come.

use chrono::{Datelike, Days, NaiveDate, Utc, Weekday};
use machipay_domain::calendar::{FiscalYear, jst_date};
use machipay_domain::prepaid_law::half_year_start;
use machipay_domain::settlement::{holiday_calendar, is_business_day};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::registry::bank;
use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    the_deposit_is_half_of_the_whole_unused_balance_with_the_half_year_figures,
    the_unused_balance_csv_is_for_excel,
    transfer_dates_in_the_past_are_refused_and_late_runs_pay_the_next_business_day,
    transfer_dates_beyond_the_holiday_data_are_refused,
    a_past_cycle_settles_under_the_settings_of_its_closing_date,
    no_report_is_made_of_days_that_have_not_come,
);

fn today() -> NaiveDate {
    jst_date(Utc::now())
}

fn unused_path(p: &str, query: &str) -> String {
    format!("/api/v1/programs/{p}/reports/unused-balance?{query}")
}

async fn unused(app: &TestApp, p: &str, date: NaiveDate) -> Value {
    let (s, v) = app
        .get(&unused_path(p, &format!("date={date}")), &app.admin)
        .await;
    assert_eq!(s, StatusCode::OK, "{date}: {v}");
    v
}

/// (total, 要供託額, opening, issued, used, expired, period_from).
fn law_figures(v: &Value) -> (i64, i64, i64, i64, i64, i64, String) {
    let n = |k: &str| v[k].as_i64().unwrap_or_else(|| panic!("{k} in {v}"));
    (
        n("unused_total_yen"),
        n("required_deposit_yen"),
        n("opening_unused_yen"),
        n("issued_yen"),
        n("used_yen"),
        n("expired_yen"),
        v["period_from"].as_str().expect("period_from").to_owned(),
    )
}

/// A currency program that may hold tens of millions (¥1 charge steps).
async fn big_program(app: &TestApp) -> String {
    app.program(
        "currency",
        json!({"holding_cap_yen": 20_000_000, "charge_step_yen": 1, "charge_min_yen": 1,
               "charge_max_yen": 20_000_000}),
    )
    .await
}

/// ¥10,104,067 unused at the end of 30 September 2025 owes ¥5,052,034 (half of the whole
/// balance, rounded up), not half of the ¥104,067 excess; the half-year's 発行額 and 回収額
/// lead from the previous 基準日's balance to it, and later movements change nothing.
async fn the_deposit_is_half_of_the_whole_unused_balance_with_the_half_year_figures(app: &TestApp) {
    let op = app.operator().await;
    let p = big_program(app).await;
    let (m, m_owner) = app.merchant(&op).await;
    let (s1, t1) = app.shopper(&op).await;
    let (s2, _) = app.shopper(&op).await;
    // Before the half-year (the opening balance), in it, and after it (JST noon).
    app.backdated_charge(&p, &s1, 2_000_000, "2025-03-15T03:00:00Z")
        .await;
    app.backdated_charge(&p, &s2, 9_000_000, "2025-05-01T03:00:00Z")
        .await;
    app.backdated_payment(&p, &t1, &m, 895_933, "2025-06-01T03:00:00Z")
        .await;
    app.backdated_charge(&p, &s2, 50_000, "2025-10-10T03:00:00Z")
        .await;
    app.backdated_payment(&p, &t1, &m, 4_067, "2026-01-05T03:00:00Z")
        .await;

    let sept = unused(app, &p, "2025-09-30".parse().unwrap()).await;
    assert_eq!(
        law_figures(&sept),
        (
            10_104_067,
            5_052_034,
            2_000_000,
            9_000_000,
            895_933,
            0,
            "2025-04-01".into()
        ),
        "{sept}"
    );
    assert_eq!(sept["is_reference_date"], true);
    assert!(sept.get("excess_yen").is_none(), "{sept}");
    let march = unused(app, &p, "2026-03-31".parse().unwrap()).await;
    assert_eq!(
        law_figures(&march),
        (
            10_150_000,
            5_075_000,
            10_104_067,
            50_000,
            4_067,
            0,
            "2025-10-01".into()
        ),
        "{march}"
    );

    // Today: a charge, part of it reversed; a payment, part of it refunded; a 払戻し (cash
    // back under the approved exception counts as used).
    let charged = app.charge(&op, &p, &s2, 2_000).await;
    let charge_id = charged["transaction_id"].as_str().expect("id");
    let (s, v) = app
        .post_money(
            &format!("/api/v1/transactions/{charge_id}/reversals"),
            &op,
            json!({"reason": "入金取消"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, paid) = app
        .post_money(
            &format!("/api/v1/programs/{p}/payments"),
            &t1,
            json!({"merchant_id": m, "amount": 1_000}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{paid}");
    let (s, v) = app
        .post_money(
            &format!("/api/v1/merchants/{m}/refunds"),
            &m_owner,
            json!({"transaction_id": paid["transaction_id"], "amount": 300, "reason": "返品"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = app
        .post_money(
            &format!("/api/v1/programs/{p}/cash-out-exceptions"),
            &app.admin,
            json!({"shopper_id": s1, "amount": 200, "reason": "転居"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let now = unused(app, &p, today()).await;
    let (total, deposit, opening, issued, used, expired, from) = law_figures(&now);
    assert_eq!(from, half_year_start(today()).to_string());
    assert_eq!(
        (opening, issued, used, expired),
        (10_150_000, 0, 900, 0),
        "2,000 charged and reversed; 1,000 paid − 300 refunded + 200 paid back: {now}"
    );
    assert_eq!((total, deposit), (10_149_100, 5_074_550));
    assert_eq!(opening + issued - used - expired, total, "the figures tie");

    // A past 基準日's report is the same however late it is asked.
    assert_eq!(unused(app, &p, "2025-09-30".parse().unwrap()).await, sept);
    app.assert_ledger_ok(&p).await;
}

/// UTF-8 with a BOM, CRLF, Japanese headers, as the city and point reports.
async fn the_unused_balance_csv_is_for_excel(app: &TestApp) {
    let op = app.operator().await;
    let p = big_program(app).await;
    let (s1, _) = app.shopper(&op).await;
    app.backdated_charge(&p, &s1, 10_104_067, "2025-09-01T03:00:00Z")
        .await;
    let (s, ct, body) = app
        .get_bytes(&unused_path(&p, "date=2025-09-30&format=csv"), &app.admin)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ct, "text/csv; charset=utf-8");
    assert_eq!(&body[..3], b"\xEF\xBB\xBF", "BOM");
    let text = std::str::from_utf8(&body[3..]).expect("UTF-8");
    assert!(text.ends_with("\r\n"), "{text:?}");
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "{text:?}");
    assert!(!text.replace("\r\n", "").contains('\n'), "CRLF only");
    let header: Vec<&str> = lines[0].split(',').collect();
    let row: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(header.len(), row.len());
    let cell = |name: &str| {
        let i = header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("{name} in {header:?}"));
        row[i]
    };
    assert_eq!(cell("プログラムID"), p);
    assert_eq!(cell("基準日"), "2025-09-30");
    assert_eq!(cell("期間開始日"), "2025-04-01");
    assert_eq!(cell("基準日未使用残高"), "10104067");
    assert_eq!(cell("基準額"), "10000000");
    assert_eq!(cell("要供託額"), "5052034");
    assert_eq!(cell("発行額"), "10104067");
    assert_eq!(cell("回収額"), "0");
    assert_eq!(cell("供託要否"), "要");
    assert_eq!(cell("基準日該当"), "はい");
    assert!(
        header.iter().all(|h| !h.is_ascii()),
        "Japanese headers: {header:?}"
    );
}

fn settlement_settings() -> Value {
    json!({"charge_step_yen": 1, "charge_min_yen": 1, "charge_max_yen": 100_000,
        "closing_days": [10, 25], "cashout_fee_rate": "0.01", "payout_hold_days": 0, "point_value_yen": "1",
        "payout_sender": {"code": "0123456789", "name_kana": "カ)マチペイ", "bank_code": "0005",
            "bank_name_kana": "ミツビシユーエフジェイ", "branch_code": "001", "branch_name_kana": "ホンテン",
            "account_type": "current", "account_number": "1234567"}})
}

/// A program, one store (joined 2025-11-01, with a bank account) paid ¥10,000 on
/// 2026-01-05: (program, operator).
async fn settled_world(app: &TestApp) -> (String, String, String) {
    let op = app.operator().await;
    let p = app.program("currency", settlement_settings()).await;
    let (m, _) = app.merchant(&op).await;
    let (s, v) = app
        .put(
            &format!("/api/v1/merchants/{m}/bank-account"),
            &op,
            bank("ヤマダ　タロウ"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = app
        .post(
            &format!("/api/v1/programs/{p}/merchants/{m}/participation-events"),
            &op,
            json!({"kind": "joined", "effective_on": "2025-11-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (shopper, token) = app.shopper(&op).await;
    app.backdated_charge(&p, &shopper, 50_000, "2025-12-01T03:00:00Z")
        .await;
    app.backdated_payment(&p, &token, &m, 10_000, "2026-01-05T03:00:00Z")
        .await;
    (p, op, m)
}

async fn post_run(app: &TestApp, p: &str, op: &str, body: Value) -> (StatusCode, Value) {
    app.post(&format!("/api/v1/programs/{p}/settlement-runs"), op, body)
        .await
}

fn first_business_day_after(date: NaiveDate) -> NaiveDate {
    let mut d = date;
    loop {
        d = d.succ_opt().expect("date");
        if is_business_day(d).expect("covered") {
            return d;
        }
    }
}

/// A transfer date before or on today is refused by name and writes nothing; a late run
/// (its fifth business day long past) pays on the next business day after today.
async fn transfer_dates_in_the_past_are_refused_and_late_runs_pay_the_next_business_day(
    app: &TestApp,
) {
    let (p, op, _) = settled_world(app).await;
    let today = today();
    let yesterday = today - Days::new(1);
    // The usual default (2026-01-19) has passed, and so have dates a late run might copy.
    for day in ["2026-01-19".parse().unwrap(), yesterday, today] {
        let (s, e) = post_run(
            app,
            &p,
            &op,
            json!({"closing_date": "2026-01-10", "transfer_date": day}),
        )
        .await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("transfer_date_in_past")
            ),
            "{day}: {e}"
        );
    }
    // Future days that banks do not transfer on are still refused as such.
    let saturday = (1..=7)
        .map(|n| today + Days::new(n))
        .find(|d| d.weekday() == Weekday::Sat)
        .expect("a Saturday within a week");
    let holiday = (1..=366)
        .map(|n| today + Days::new(n))
        .find(|d| {
            !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
                && holiday_calendar().is_holiday(*d) == Ok(true)
        })
        .expect("a weekday holiday within a year");
    for day in [saturday, holiday] {
        let (s, e) = post_run(
            app,
            &p,
            &op,
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
    let (_, runs) = app
        .get(&format!("/api/v1/programs/{p}/settlement-runs"), &app.admin)
        .await;
    assert_eq!(runs.as_array().map(Vec::len), Some(0), "nothing written");

    let (s, run) = post_run(app, &p, &op, json!({"closing_date": "2026-01-10"})).await;
    assert_eq!(s, StatusCode::OK, "{run}");
    let expected = first_business_day_after(today);
    assert_eq!(run["transfer_date"], expected.to_string(), "{run}");
    assert_eq!(run["total_payable_yen"], 9_900);
    // The 全銀 header carries that date.
    let (s, _, file) = app
        .get_bytes(
            &format!(
                "/api/v1/programs/{p}/settlement-runs/{}/zengin",
                run["id"].as_str().unwrap()
            ),
            &op,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let parsed = machipay_domain::zengin::parse_sogo_furikomi(&file).expect("parses");
    assert_eq!(
        (parsed.header.transfer_month, parsed.header.transfer_day),
        (expected.month(), expected.day())
    );
    // Asking again answers the run as it was, whatever the body says.
    let (s, again) = post_run(
        app,
        &p,
        &op,
        json!({"closing_date": "2026-01-10", "transfer_date": yesterday}),
    )
    .await;
    assert_eq!((s, &again["id"]), (StatusCode::OK, &run["id"]), "{again}");
}

/// A transfer date in a year the holiday data does not cover is refused by name, never
/// counted as a business day because its holidays are unknown.
async fn transfer_dates_beyond_the_holiday_data_are_refused(app: &TestApp) {
    let (p, op, _) = settled_world(app).await;
    let beyond = NaiveDate::from_ymd_opt(holiday_calendar().last_year() + 1, 1, 6).unwrap();
    let (s, e) = post_run(
        app,
        &p,
        &op,
        json!({"closing_date": "2026-01-10", "transfer_date": beyond}),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("holiday_data_not_covered")
        ),
        "{e}"
    );
    let within = first_business_day_after(today());
    let (s, run) = post_run(
        app,
        &p,
        &op,
        json!({"closing_date": "2026-01-10", "transfer_date": within}),
    )
    .await;
    assert_eq!((s, &run["transfer_date"]), (StatusCode::OK, &json!(within)));
}

/// The fee rate, closing days and hold days change after the closing date: the late run of
/// the old cycle still applies the rules it closed under (1 %, closing on the 10th, no
/// hold); only the payout sender, whose account pays now, is today's.
async fn a_past_cycle_settles_under_the_settings_of_its_closing_date(app: &TestApp) {
    let (p, op, m) = settled_world(app).await;
    let mut changed = settlement_settings();
    changed["cashout_fee_rate"] = json!("0.05");
    changed["closing_days"] = json!([15]);
    changed["payout_hold_days"] = json!(366);
    changed["payout_sender"]["code"] = json!("9876543210");
    let (s, v) = app
        .post(
            &format!("/api/v1/programs/{p}/settings"),
            &op,
            json!({"settings": changed}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // 2026-01-15 was not a closing day then, whatever the settings say now.
    let (s, e) = post_run(app, &p, &op, json!({"closing_date": "2026-01-15"})).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("not_a_closing_day")),
        "{e}"
    );
    let (s, run) = post_run(app, &p, &op, json!({"closing_date": "2026-01-10"})).await;
    assert_eq!(s, StatusCode::OK, "{run}");
    let (s, st) = app
        .get(
            &format!(
                "/api/v1/programs/{p}/settlement-runs/{}/statements",
                run["id"].as_str().unwrap()
            ),
            &app.admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{st}");
    let statement = st
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["merchant_id"] == m.as_str())
        .expect("the store's statement")
        .clone();
    assert_eq!(
        (
            statement["status"].as_str(),
            statement["fee_yen"].as_i64(),
            statement["net_payable_yen"].as_i64()
        ),
        (Some("payable"), Some(100), Some(9_900)),
        "the old 1 % and no hold: {statement}"
    );
    let (s, _, file) = app
        .get_bytes(
            &format!(
                "/api/v1/programs/{p}/settlement-runs/{}/zengin",
                run["id"].as_str().unwrap()
            ),
            &op,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let parsed = machipay_domain::zengin::parse_sogo_furikomi(&file).expect("parses");
    let sender = format!("{:?}", parsed.header.sender.code);
    assert!(
        sender.contains("9876543210"),
        "today's sender pays: {sender}"
    );
    app.assert_ledger_ok(&p).await;
}

/// Every report refuses a date after today (JST), and the point reports a 年度 that has not
/// started, by name; today and the running 年度 are answered.
async fn no_report_is_made_of_days_that_have_not_come(app: &TestApp) {
    let op = app.operator().await;
    let currency = app.currency().await;
    let points = app.program("points", json!({})).await;
    let (m, _) = app.merchant(&op).await;
    let today = today();
    let tomorrow = today + Days::new(1);
    let running = FiscalYear::of(today).expect("a 年度");
    let next = running.next().expect("next 年度");
    let cases = [
        (
            unused_path(&currency, &format!("date={tomorrow}")),
            "date_in_future",
        ),
        (
            format!("/api/v1/programs/{currency}/reports/stores?date={tomorrow}"),
            "date_in_future",
        ),
        (
            format!(
                "/api/v1/programs/{currency}/reports/stores?from={}&to={tomorrow}",
                running.start()
            ),
            "date_in_future",
        ),
        (
            format!("/api/v1/programs/{currency}/reports/usage?date={tomorrow}"),
            "date_in_future",
        ),
        (
            format!(
                "/api/v1/programs/{points}/reports/points?fiscal_year={}",
                next.start_year()
            ),
            "period_in_future",
        ),
        (
            format!(
                "/api/v1/programs/{points}/merchants/{m}/point-statement?fiscal_year={}",
                next.start_year()
            ),
            "period_in_future",
        ),
    ];
    for (path, code) in &cases {
        let (s, e) = app.get(path, &app.admin).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(*code)),
            "{path}: {e}"
        );
    }
    // Today, and the running 年度, are answered.
    for path in [
        unused_path(&currency, &format!("date={today}")),
        format!("/api/v1/programs/{currency}/reports/stores?date={today}"),
        format!("/api/v1/programs/{currency}/reports/usage?date={today}"),
        format!(
            "/api/v1/programs/{points}/reports/points?fiscal_year={}",
            running.start_year()
        ),
        format!(
            "/api/v1/programs/{points}/merchants/{m}/point-statement?fiscal_year={}",
            running.start_year()
        ),
    ] {
        let (s, v) = app.get(&path, &app.admin).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
    }
    let (_, report) = app
        .get(
            &format!(
                "/api/v1/programs/{points}/reports/points?fiscal_year={}",
                running.start_year()
            ),
            &app.admin,
        )
        .await;
    assert_eq!(report["from"], running.start().to_string());
    assert!(
        report["to"].as_str().unwrap() <= today.to_string().as_str(),
        "{report}"
    );
}

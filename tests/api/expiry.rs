//! Expiry (lots past their date, wallets idle past the limit) and the unused-balance report
//! of the prepaid-instrument law.
//!
//! Tests cannot wait months, so expiry is run as of a future date by calling the library's
//! `expire` directly, as the scheduled job and `machipay expire --as-of` do.

use chrono::{Days, NaiveDate, Utc};
use machipay::error::AppError;
use machipay::features::expiry::{
    Expired, ExpiryRun, WALLETS_PER_JOB_MAX, check_as_of, expire, plan,
};
use machipay::features::reports::store::wallet_totals_before_from_postings as wallet_totals_before;
use machipay::writer::rows::system_accounts;
use machipay_domain::calendar::{
    add_months_to_month_end, is_reference_date, jst_date, latest_closed_reference_date,
};
use machipay_domain::ids::ProgramId;
use machipay_domain::ledger::{AccountKind, Asset};
use machipay_domain::prepaid_law::half_year_start;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    lots_past_their_date_expire_coin_to_breakage_and_premium_to_the_city,
    months_from_issue_expires_only_what_was_not_spent,
    the_wallet_rule_expires_wallets_idle_past_the_limit,
    a_large_expiry_runs_in_bounded_jobs,
    a_dry_run_shows_what_would_move_and_moves_nothing,
    unused_balance_report_is_for_staff_and_reproducible,
    unused_balance_report_states_the_deposit_above_ten_million,
);

fn today() -> NaiveDate {
    jst_date(Utc::now())
}

fn days(n: u64) -> Days {
    Days::new(n)
}

async fn run_expiry(app: &TestApp, as_of: NaiveDate) -> ExpiryRun {
    expire(&app.app, as_of).await.expect("expiry runs")
}

fn expired(wallets: u64, amount: i64) -> Expired {
    Expired { wallets, amount }
}

fn program_id(p: &str) -> ProgramId {
    ProgramId(p.parse().expect("program id"))
}

/// Balance of one of the program's own accounts (0 before its first use).
async fn book(app: &TestApp, p: &str, kind: AccountKind, asset: Asset) -> i64 {
    system_accounts(&app.app.db, program_id(p))
        .await
        .expect("accounts")
        .iter()
        .filter(|a| a.kind == kind && a.asset == asset)
        .map(|a| a.balance)
        .sum()
}

/// Settings the tests' currency programs use (¥1 steps), with `extra` fields on top.
fn settings(extra: Value) -> Value {
    let mut s = json!({"p2p_transfers": true, "charge_step_yen": 1, "charge_min_yen": 1, "charge_max_yen": 100_000});
    for (k, v) in extra.as_object().expect("object") {
        s[k] = v.clone();
    }
    s
}

/// Opens a premium-set campaign on sale now and returns its purchases path.
async fn campaign(app: &TestApp, op: &str, p: &str, price: i64, premium: i64) -> String {
    let campaigns = format!("/api/v1/programs/{p}/premium-campaigns");
    let (status, c) = app
        .post_money(
            &campaigns,
            op,
            json!({"name": "プレミアム商品券", "price_yen": price, "premium_yen": premium, "units_per_person_max": 10,
                   "budget_yen": 1_000_000, "sale_starts_at": "2020-01-01T00:00:00Z", "sale_ends_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    format!("{campaigns}/{}/purchases", c["id"].as_str().expect("id"))
}

async fn buy(app: &TestApp, op: &str, purchases: &str, shopper: &str, units: i64) {
    let (status, v) = app
        .post_money(
            purchases,
            op,
            json!({"shopper_id": shopper, "units": units}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
}

async fn pay(app: &TestApp, p: &str, shopper_token: &str, merchant: &str, amount: i64) {
    let (status, v) = app
        .post_money(
            &format!("/api/v1/programs/{p}/payments"),
            shopper_token,
            json!({"merchant_id": merchant, "amount": amount}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
}

async fn lots_past_their_date_expire_coin_to_breakage_and_premium_to_the_city(app: &TestApp) {
    let op = app.operator().await;
    let p = app.program("currency", settings(json!({}))).await;
    let (m, _) = app.merchant(&op).await;
    let (a, _) = app.shopper(&op).await;
    let (b, bt) = app.shopper(&op).await;
    // A lot that never expires, issued before the program chose a campaign date.
    app.charge(&op, &p, &a, 1_000).await;
    let last_day = today() + days(30);
    let (status, v) = app
        .post(
            &format!("/api/v1/programs/{p}/settings"),
            &op,
            json!({"settings": settings(json!({"expiry": {"rule": "fixed_date", "date": last_day}}))}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    // Dated lots: A's charge and premium set, B's charge of which B spends a part.
    app.charge(&op, &p, &a, 5_000).await;
    let purchases = campaign(app, &op, &p, 10_000, 3_000).await;
    buy(app, &op, &purchases, &a, 1).await;
    app.charge(&op, &p, &b, 2_000).await;
    pay(app, &p, &bt, &m, 1_500).await;
    assert_eq!(
        book(app, &p, AccountKind::CitySubsidy, Asset::Premium).await,
        -3_000
    );

    // Spendable through the whole last day: nothing expires as of it.
    let run = run_expiry(app, last_day).await;
    assert_eq!(run.transactions(), 0, "{run}");
    assert_eq!(app.wallet(&p, &a, "coin").await, 16_000);

    let after = last_day + days(1);
    let run = run_expiry(app, after).await;
    assert_eq!(run.as_of, after);
    assert_eq!(run.coin, expired(2, 15_000 + 500), "{run}");
    assert_eq!(run.premium, expired(1, 3_000), "{run}");
    assert_eq!(run.points, expired(0, 0), "{run}");
    // Only the dated lots went: A keeps the never-expiring ¥1,000, B's unspent rest is gone.
    assert_eq!(app.wallet(&p, &a, "coin").await, 1_000);
    assert_eq!(app.wallet(&p, &a, "premium").await, 0);
    assert_eq!(app.wallet(&p, &b, "coin").await, 0);
    // Paid coin to breakage; the premium back to the city's subsidy, which is square again.
    assert_eq!(
        book(app, &p, AccountKind::Breakage, Asset::Coin).await,
        15_500
    );
    assert_eq!(
        book(app, &p, AccountKind::CitySubsidy, Asset::Premium).await,
        0
    );
    assert_eq!(app.merchant_balance(&p, &m, "coin").await, 1_500);
    let (status, r) = app
        .get(&format!("/api/v1/programs/{p}/premium-reconciliation"), &op)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (r["expired_yen"].as_i64(), r["outstanding_yen"].as_i64()),
        (Some(3_000), Some(0)),
        "{r}"
    );

    // The same date again moves nothing.
    let again = run_expiry(app, after).await;
    assert_eq!(again.transactions(), 0, "{again}");
    assert_eq!(
        book(app, &p, AccountKind::Breakage, Asset::Coin).await,
        15_500
    );
    assert_eq!(app.wallet(&p, &a, "coin").await, 1_000);
    let check = app.assert_ledger_ok(&p).await;
    // Two charges, a sale, a charge, a payment, three expiries, and the settings change moved nothing.
    assert_eq!(check["transactions"], 8, "{check}");
}

async fn months_from_issue_expires_only_what_was_not_spent(app: &TestApp) {
    let op = app.operator().await;
    let p = app
        .program(
            "currency",
            settings(json!({"expiry": {"rule": "months_from_issue_to_month_end", "months": 1}})),
        )
        .await;
    let never = app.currency().await;
    let (m, _) = app.merchant(&op).await;
    let (s, st) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 3_000).await;
    pay(app, &p, &st, &m, 1_000).await;
    app.charge(&op, &never, &s, 700).await;
    let last_day = add_months_to_month_end(today(), 1).expect("date");

    assert_eq!(run_expiry(app, last_day).await.transactions(), 0);
    let run = run_expiry(app, last_day + days(1)).await;
    assert_eq!(run.coin, expired(1, 2_000), "{run}");
    assert_eq!(run.transactions(), 1, "{run}");
    assert_eq!(app.wallet(&p, &s, "coin").await, 0);
    assert_eq!(
        book(app, &p, AccountKind::Breakage, Asset::Coin).await,
        2_000
    );
    // A lot with no expiry is never touched, however late the run.
    let far = NaiveDate::from_ymd_opt(2990, 1, 1).expect("date");
    assert_eq!(run_expiry(app, far).await.transactions(), 0);
    assert_eq!(app.wallet(&never, &s, "coin").await, 700);
    assert_eq!(app.merchant_balance(&p, &m, "coin").await, 1_000);
    app.assert_ledger_ok(&p).await;
    app.assert_ledger_ok(&never).await;
}

async fn the_wallet_rule_expires_wallets_idle_past_the_limit(app: &TestApp) {
    let op = app.operator().await;
    let p = app
        .program(
            "currency",
            settings(json!({"expiry": {"rule": "months_after_last_change", "months": 1}})),
        )
        .await;
    let (m, _) = app.merchant(&op).await;
    let (a, _) = app.shopper(&op).await;
    let (b, bt) = app.shopper(&op).await;
    app.charge(&op, &p, &a, 4_000).await;
    let purchases = campaign(app, &op, &p, 1_000, 200).await;
    buy(app, &op, &purchases, &a, 1).await;
    // B's wallet is empty: nothing to expire there.
    app.charge(&op, &p, &b, 1_000).await;
    pay(app, &p, &bt, &m, 1_000).await;
    // Another program switches to the wallet rule only later.
    let later = app.currency().await;
    let (c, _) = app.shopper(&op).await;
    app.charge(&op, &later, &c, 800).await;
    // The last change is today; the wallet can be spent through the end of next month.
    let last_day = add_months_to_month_end(today(), 1).expect("date");
    let switch = last_day + days(10);
    let (status, v) = app
        .post(
            &format!("/api/v1/programs/{later}/settings"),
            &op,
            json!({"settings": settings(json!({"expiry": {"rule": "months_after_last_change", "months": 1}})),
                   "effective_from": switch}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");

    assert_eq!(run_expiry(app, last_day).await.transactions(), 0);
    let run = run_expiry(app, last_day + days(1)).await;
    assert_eq!(run.coin, expired(1, 5_000), "{run}");
    assert_eq!(run.premium, expired(1, 200), "{run}");
    assert_eq!(run.transactions(), 2, "{run}");
    assert_eq!(app.wallet(&p, &a, "coin").await, 0);
    assert_eq!(app.wallet(&p, &a, "premium").await, 0);
    assert_eq!(
        book(app, &p, AccountKind::Breakage, Asset::Coin).await,
        5_000
    );
    assert_eq!(
        book(app, &p, AccountKind::CitySubsidy, Asset::Premium).await,
        0
    );
    // The other program's settings on that date were still "never".
    assert_eq!(app.wallet(&later, &c, "coin").await, 800);
    assert_eq!(run_expiry(app, last_day + days(1)).await.transactions(), 0);

    // From the switch on, its idle wallet has expired too.
    let run = run_expiry(app, switch).await;
    assert_eq!(run.coin, expired(1, 800), "{run}");
    assert_eq!(run.transactions(), 1, "{run}");
    assert_eq!(app.wallet(&later, &c, "coin").await, 0);
    assert_eq!(run_expiry(app, switch).await.transactions(), 0);
    app.assert_ledger_ok(&p).await;
    app.assert_ledger_ok(&later).await;
}

async fn a_large_expiry_runs_in_bounded_jobs(app: &TestApp) {
    let op = app.operator().await;
    let last_day = today() + days(1);
    let p = app
        .program(
            "currency",
            settings(json!({"expiry": {"rule": "fixed_date", "date": last_day}})),
        )
        .await;
    let purchases = campaign(app, &op, &p, 100, 10).await;
    // Each shopper holds a coin and a premium wallet: more wallets than one job takes.
    let shoppers = WALLETS_PER_JOB_MAX / 2 + 3;
    for _ in 0..shoppers.div_ceil(20) {
        futures::future::join_all((0..20).map(|_| async {
            let (s, _) = app.shopper(&op).await;
            buy(app, &op, &purchases, &s, 1).await;
        }))
        .await;
    }
    let shoppers = shoppers.div_ceil(20) * 20;
    let run = run_expiry(app, last_day + days(1)).await;
    let n = shoppers as u64;
    assert_eq!(run.coin, expired(n, 100 * n as i64), "{run}");
    assert_eq!(run.premium, expired(n, 10 * n as i64), "{run}");
    // Full jobs, then one that found nothing.
    assert_eq!(
        run.jobs,
        (2 * n).div_ceil(WALLETS_PER_JOB_MAX as u64) + 1,
        "{run}"
    );
    assert_eq!(run_expiry(app, last_day + days(1)).await.transactions(), 0);
    let check = app.assert_ledger_ok(&p).await;
    assert_eq!(check["transactions"], 2 * n + n, "{check}");
}

fn yes_no(b: bool) -> &'static str {
    if b { "はい" } else { "いいえ" }
}

/// `--dry-run` reports, per program and asset, exactly what the real run then moves, and
/// moves nothing itself.
async fn a_dry_run_shows_what_would_move_and_moves_nothing(app: &TestApp) {
    let op = app.operator().await;
    let idle = app
        .program(
            "currency",
            settings(json!({"expiry": {"rule": "months_after_last_change", "months": 1}})),
        )
        .await;
    let dated = app
        .program(
            "currency",
            settings(json!({"expiry": {"rule": "months_from_issue_to_month_end", "months": 1}})),
        )
        .await;
    let (m, _) = app.merchant(&op).await;
    let (a, _) = app.shopper(&op).await;
    let (b, bt) = app.shopper(&op).await;
    app.charge(&op, &idle, &a, 4_000).await;
    let purchases = campaign(app, &op, &idle, 1_000, 200).await;
    buy(app, &op, &purchases, &a, 1).await;
    app.charge(&op, &dated, &b, 3_000).await;
    pay(app, &dated, &bt, &m, 1_000).await;
    let as_of = add_months_to_month_end(today(), 1).expect("date") + days(1);

    let before = plan(&app.app, as_of).await.expect("dry run");
    assert_eq!(before.as_of, as_of);
    let of = |program: &str| {
        before
            .programs
            .iter()
            .find(|p| p.program_id.0.to_string() == program)
            .expect("every program is listed")
            .assets
            .clone()
    };
    assert_eq!(
        of(&idle),
        [
            (Asset::Coin, expired(1, 5_000)),
            (Asset::Premium, expired(1, 200))
        ]
    );
    assert_eq!(of(&dated), [(Asset::Coin, expired(1, 2_000))]);
    let text = before.to_string();
    assert!(
        text.contains("coin: 1 wallets, 2000 yen to breakage"),
        "{text}"
    );
    assert!(
        text.contains("premium: 1 wallets, 200 yen to the city subsidy"),
        "{text}"
    );
    assert!(text.contains("nothing was moved"), "{text}");
    // Nothing moved.
    assert_eq!(app.wallet(&idle, &a, "coin").await, 5_000);
    assert_eq!(app.wallet(&idle, &a, "premium").await, 200);
    assert_eq!(app.wallet(&dated, &b, "coin").await, 2_000);
    assert_eq!(
        book(app, &idle, AccountKind::Breakage, Asset::Coin).await,
        0
    );
    assert_eq!(
        book(app, &dated, AccountKind::Breakage, Asset::Coin).await,
        0
    );

    // The real run moves exactly what the dry run said, and then there is nothing left.
    let run = run_expiry(app, as_of).await;
    for asset in [Asset::Coin, Asset::Premium, Asset::Points] {
        assert_eq!(
            run.of(asset),
            before.total(asset),
            "{asset:?}: {run} / {before}"
        );
    }
    let after = plan(&app.app, as_of).await.expect("dry run");
    assert!(
        after.programs.iter().all(|p| p.assets.is_empty()),
        "{after}"
    );
    app.assert_ledger_ok(&idle).await;
    app.assert_ledger_ok(&dated).await;
}

/// A person's `--as-of` after today (JST) is refused by name; today and earlier are fine.
#[test]
fn a_future_as_of_is_refused() {
    let today = today();
    assert_eq!(check_as_of(today, today).ok(), Some(today));
    let yesterday = today - days(1);
    assert_eq!(check_as_of(yesterday, today).ok(), Some(yesterday));
    let tomorrow = today + days(1);
    match check_as_of(tomorrow, today) {
        Err(AppError::Rejected { code, message, .. }) => {
            assert_eq!(code, "as_of_in_future");
            assert!(message.contains(&tomorrow.to_string()), "{message}");
        }
        other => panic!("expected as_of_in_future, got {other:?}"),
    }
}

/// `machipay expire --as-of <tomorrow>` exits non-zero with a clear message before it even
/// opens the database (the file is never created).
#[test]
fn the_cli_refuses_a_future_as_of_before_opening_the_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("never.db");
    let tomorrow = today() + days(1);
    for extra in [&[][..], &["--dry-run"][..]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_machipay"))
            .args(["expire", "--as-of", &tomorrow.to_string()])
            .args(extra)
            .arg("--database-url")
            .arg(format!("sqlite:{}", file.display()))
            .output()
            .expect("the binary runs");
        assert!(!out.status.success(), "{extra:?}: exit {:?}", out.status);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("--as-of {tomorrow} is after today in Japan")),
            "{stderr}"
        );
        assert!(!file.exists(), "the database was not opened");
    }
}

fn report_path(p: &str, query: &str) -> String {
    format!("/api/v1/programs/{p}/reports/unused-balance{query}")
}

async fn report(app: &TestApp, token: &str, p: &str, query: &str) -> Value {
    let (status, v) = app.get(&report_path(p, query), token).await;
    assert_eq!(status, StatusCode::OK, "{query}: {v}");
    v
}

/// The CSV form: (content type, lines).
async fn report_csv(app: &TestApp, token: &str, p: &str, query: &str) -> (String, Vec<String>) {
    let resp = app
        .client
        .get(format!("{}{}", app.base, report_path(p, query)))
        .bearer_auth(token)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = resp.text().await.expect("body");
    (content_type, body.lines().map(str::to_owned).collect())
}

/// The balances, the threshold and 要供託額 (half of the whole balance above ¥10,000,000).
fn figures(v: &Value) -> [i64; 6] {
    [
        "unused_paid_yen",
        "unused_premium_yen",
        "unused_total_yen",
        "threshold_yen",
        "required_deposit_yen",
        "free_points",
    ]
    .map(|k| v[k].as_i64().unwrap_or_else(|| panic!("{k} in {v}")))
}

async fn unused_balance_report_is_for_staff_and_reproducible(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, _) = app.merchant(&op).await;
    let (s, st) = app.shopper(&op).await;
    let (_, viewer) = app.staff("city", "viewer").await;
    let (_, op_viewer) = app.staff("operator", "viewer").await;
    let yesterday = today() - days(1);
    let q_yesterday = format!("?date={yesterday}");
    let before = report(app, &viewer, &p, &q_yesterday).await;
    assert_eq!(before["program_id"], p.as_str());
    assert_eq!(before["reference_date"], yesterday.to_string());
    assert_eq!(before["is_reference_date"], is_reference_date(yesterday));
    assert_eq!(figures(&before), [0, 0, 0, 10_000_000, 0, 0]);

    app.charge(&op, &p, &s, 5_000).await;
    let purchases = campaign(app, &op, &p, 1_000, 300).await;
    buy(app, &op, &purchases, &s, 1).await;
    let measured_at = Utc::now();
    // Today's figures are those so far; premium counts, points are apart.
    let q_today = format!("?date={}", today());
    let now = report(app, &op_viewer, &p, &q_today).await;
    assert_eq!(figures(&now), [6_000, 300, 6_300, 10_000_000, 0, 0]);
    // By default the latest 基準日 that has ended: before any of today's movements.
    let default = report(app, &viewer, &p, "").await;
    let reference = latest_closed_reference_date(Utc::now()).expect("date");
    assert_eq!(default["reference_date"], reference.to_string());
    assert_eq!(default["is_reference_date"], true);
    assert_eq!(figures(&default), [0, 0, 0, 10_000_000, 0, 0]);

    // Later movements do not change a past date's report.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    pay(app, &p, &st, &m, 2_000).await;
    app.charge(&op, &p, &s, 1_000).await;
    assert_eq!(report(app, &viewer, &p, &q_yesterday).await, before);
    assert_eq!(report(app, &viewer, &p, "").await, default);
    // Down to the instant: the figures at `measured_at` ignore what came after it.
    let pid = program_id(&p);
    let at = wallet_totals_before(&app.app.db, pid, measured_at)
        .await
        .expect("totals");
    assert_eq!(at, vec![(Asset::Coin, 6_000), (Asset::Premium, 300)]);
    let now = report(app, &viewer, &p, &q_today).await;
    // The payment took the premium first: 300 premium and 1,700 coin.
    assert_eq!(figures(&now), [5_300, 0, 5_300, 10_000_000, 0, 0]);
    // The half-year's figures: issued 5,000 + 1,000 + 300 + 1,000, used 2,000.
    assert_eq!(
        (now["issued_yen"].as_i64(), now["used_yen"].as_i64()),
        (Some(7_300), Some(2_000))
    );

    // CSV for Excel (BOM, CRLF, Japanese headers): a header row and one record.
    let (content_type, lines) =
        report_csv(app, &viewer, &p, &format!("{q_today}&format=csv")).await;
    assert_eq!(content_type, "text/csv; charset=utf-8");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        lines[0],
        "\u{feff}プログラムID,基準日,期間開始日,未使用残高(有償),未使用残高(プレミアム分),基準日未使用残高,基準額,要供託額,\
         前基準日未使用残高,発行額,回収額,失効額,その他増減,無償ポイント残高,無償ポイント付与,無償ポイント利用,無償ポイント失効,\
         供託要否,基準日該当"
    );
    assert_eq!(
        lines[1],
        format!(
            "{p},{},{},5300,0,5300,10000000,0,0,7300,2000,0,0,0,0,0,0,不要,{}",
            today(),
            half_year_start(today()),
            yes_no(is_reference_date(today()))
        )
    );
    assert_eq!(report(app, &viewer, &p, "?format=json").await, default);

    // Staff only; another city's program is not found; bad queries are named.
    let path = report_path(&p, "");
    assert_eq!(app.get(&path, &st).await.0, StatusCode::FORBIDDEN);
    let (_, owner) = app.merchant(&op).await;
    assert_eq!(app.get(&path, &owner).await.0, StatusCode::FORBIDDEN);
    let foreign_admin =
        machipay::features::directory::bootstrap_city(&app.app, "よその町".into(), "管理者".into())
            .await
            .expect("bootstrap")
            .token;
    let (status, foreign) = app
        .post(
            "/api/v1/programs",
            &foreign_admin,
            json!({"kind": "currency", "name": "よその通貨"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{foreign}");
    let foreign_path = report_path(foreign["id"].as_str().expect("id"), "");
    let (status, v) = app.get(&foreign_path, &app.admin).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let tomorrow = today() + days(1);
    for (query, status, code) in [
        (
            format!("?date={tomorrow}"),
            StatusCode::BAD_REQUEST,
            "date_in_future",
        ),
        (
            "?date=2026-02-30".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_date",
        ),
        (
            "?date=yesterday".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_date",
        ),
        (
            "?format=xml".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_format",
        ),
        (
            "?as_of=2026-03-31".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
    ] {
        let (got, v) = app.get(&report_path(&p, &query), &viewer).await;
        assert_eq!(
            (got, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{query}: {v}"
        );
    }
    app.assert_ledger_ok(&p).await;
}

async fn unused_balance_report_states_the_deposit_above_ten_million(app: &TestApp) {
    let op = app.operator().await;
    let p = app
        .program(
            "currency",
            json!({"holding_cap_yen": 20_000_000, "charge_step_yen": 1, "charge_min_yen": 1, "charge_max_yen": 20_000_000}),
        )
        .await;
    let (s1, _) = app.shopper(&op).await;
    let (s2, _) = app.shopper(&op).await;
    let q_today = format!("?date={}", today());
    app.charge(&op, &p, &s1, 9_999_999).await;
    let v = report(app, &app.admin, &p, &q_today).await;
    assert_eq!(figures(&v), [9_999_999, 0, 9_999_999, 10_000_000, 0, 0]);
    app.charge(&op, &p, &s2, 1).await;
    let v = report(app, &app.admin, &p, &q_today).await;
    assert_eq!(
        figures(&v),
        [10_000_000, 0, 10_000_000, 10_000_000, 0, 0],
        "at the threshold nothing is owed"
    );
    // ¥3 over: at least half of the WHOLE balance (資金決済法 第14条1項), rounded up.
    app.charge(&op, &p, &s2, 3).await;
    let v = report(app, &app.admin, &p, &q_today).await;
    assert_eq!(
        figures(&v),
        [10_000_003, 0, 10_000_003, 10_000_000, 5_000_002, 0]
    );
    // The city's premium is value of the instrument too.
    let purchases = campaign(app, &op, &p, 1_000, 1_000).await;
    buy(app, &op, &purchases, &s2, 1).await;
    let v = report(app, &app.admin, &p, &q_today).await;
    assert_eq!(
        figures(&v),
        [10_001_003, 1_000, 10_002_003, 10_000_000, 5_001_002, 0]
    );
    let (_, lines) = report_csv(app, &app.admin, &p, &format!("{q_today}&format=csv")).await;
    assert_eq!(
        lines[1],
        format!(
            "{p},{},{},10001003,1000,10002003,10000000,5001002,0,10002003,0,0,0,0,0,0,0,要,{}",
            today(),
            half_year_start(today()),
            yes_no(is_reference_date(today()))
        )
    );
    app.assert_ledger_ok(&p).await;
}

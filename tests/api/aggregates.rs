//! The report aggregates (`writer::aggregates`): every report read from them equals the same
//! report recomputed from postings, for a random history of backdated payments and point card
//! movements (written out of time order, some a second either side of JST midnight), refunds,
//! returns and reversals, the point report cut at past instants mid-day and mid-month too; a
//! rebuild changes nothing; a corrupted aggregate row is named by the check. The batch-partition
//! simulator (simulator.rs) holds the same agreement over its random histories of every job
//! kind, expiry included (`assert_reports_agree`).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::TestApp;
use machipay::features::city_report::{self, Period, Source};
use machipay::features::{points, reports};
use machipay::writer::aggregates;
use machipay_domain::auth::Principal;
use machipay_domain::calendar::{FiscalYear, jst_date, jst_start_of_day_utc};
use machipay_domain::ids::{MerchantId, ProgramId, TransactionId};

both_backends!(
    reports_from_aggregates_equal_reports_from_postings,
    a_rebuild_changes_nothing_and_a_corrupted_aggregate_is_named,
    distinct_shopper_counts_equal_postings_survive_a_rebuild_and_are_checked,
);

/// A statement past the writer (SQLite: on the write pool, between batches).
async fn exec(db: &machipay::db::Db, sql: &str) {
    match db {
        machipay::db::Db::Pg(p, _) => sqlx::query(sql).execute(p).await.map(|_| ()),
        machipay::db::Db::Lite { write, .. } => sqlx::query(sql).execute(write).await.map(|_| ()),
    }
    .expect("statement");
}

async fn fetch_int(db: &machipay::db::Db, sql: &str) -> i32 {
    match db {
        machipay::db::Db::Pg(p, _) => sqlx::query_scalar(sql).fetch_one(p).await,
        machipay::db::Db::Lite { read, .. } => sqlx::query_scalar(sql).fetch_one(read).await,
    }
    .expect("query")
}

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

fn d(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

/// Every report of `currency` / `points` for the periods around `days` (年度, ranges between
/// them, dates) and the point report as of each of `nows` (a running 年度's tail) must be the
/// same from aggregates and from postings, and the aggregates must equal the postings.
pub(crate) async fn assert_reports_agree(
    app: &TestApp,
    who: Principal,
    currency: Option<ProgramId>,
    points_program: Option<ProgramId>,
    days: &[NaiveDate],
    nows: &[DateTime<Utc>],
    what: &str,
) {
    let diff = aggregates::check(&app.app.db, None).await.expect("check");
    assert_eq!(diff, None, "{what}: aggregates differ from postings");
    let now = Utc::now();
    let today = jst_date(now);
    let mut periods = Vec::new();
    for (i, a) in days.iter().enumerate() {
        let fy = FiscalYear::of(*a).expect("fiscal year");
        periods.push(Period {
            from: fy.start(),
            to: fy.end().min(today),
            fiscal_year: Some(fy),
        });
        periods.push(Period {
            from: fy.start(),
            to: *a,
            fiscal_year: None,
        });
        for b in &days[i..] {
            periods.push(Period {
                from: *a,
                to: *b,
                fiscal_year: None,
            });
            // Whole months (the distinct-shopper counts answer these without the day bits).
            let (from, to) = (month_start(*a), month_end(*b).min(today));
            periods.push(Period {
                from,
                to,
                fiscal_year: None,
            });
        }
        // The 年度 up to the end of the month of `a`.
        periods.push(Period {
            from: fy.start(),
            to: month_end(*a).min(today),
            fiscal_year: None,
        });
    }
    for program in currency.iter().chain(&points_program) {
        for p in &periods {
            let a = city_report::store_report_from(&app.app, who, *program, *p, Source::Aggregates)
                .await
                .expect("store report");
            let b = city_report::store_report_from(&app.app, who, *program, *p, Source::Postings)
                .await
                .expect("store report");
            assert_eq!(json(&a), json(&b), "{what}: store report {p:?}");
            let a = city_report::usage_report_from(&app.app, who, *program, *p, Source::Aggregates)
                .await
                .expect("usage report");
            let b = city_report::usage_report_from(&app.app, who, *program, *p, Source::Postings)
                .await
                .expect("usage report");
            assert_eq!(json(&a), json(&b), "{what}: usage report {p:?}");
        }
    }
    if let Some(program) = currency {
        let mut dates: Vec<NaiveDate> = days.to_vec();
        dates.extend(days.iter().map(|d| *d - Duration::days(1)));
        for date in dates.into_iter().filter(|d| *d <= today) {
            let a = reports::unused_balance_from(
                &app.app,
                who,
                program,
                Some(date),
                now,
                Source::Aggregates,
            )
            .await
            .expect("unused balance");
            let b = reports::unused_balance_from(
                &app.app,
                who,
                program,
                Some(date),
                now,
                Source::Postings,
            )
            .await
            .expect("unused balance");
            assert_eq!(json(&a), json(&b), "{what}: unused balance {date}");
        }
    }
    if let Some(program) = points_program {
        for at in nows.iter().chain([&now]) {
            let fy = FiscalYear::of(jst_date(*at)).expect("fiscal year");
            let a =
                points::reports::report_from(&app.app, who, program, fy, *at, Source::Aggregates)
                    .await
                    .expect("points report");
            let b = points::reports::report_from(&app.app, who, program, fy, *at, Source::Postings)
                .await
                .expect("points report");
            assert_eq!(
                json(&a),
                json(&b),
                "{what}: points report {fy:?} as of {at}"
            );
        }
    }
}

fn month_start(d: NaiveDate) -> NaiveDate {
    use chrono::Datelike;
    d.with_day(1).expect("day 1")
}

fn month_end(d: NaiveDate) -> NaiveDate {
    use chrono::Months;
    (month_start(d) + Months::new(1)).pred_opt().expect("date")
}

/// A report as a JSON value, to compare whole.
fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).expect("serializes")
}

/// A job on the writer with its clock set to `at`; a refusal is returned, not a failure.
macro_rules! at {
    ($app:expr, $at:expr, |$w:ident| $body:expr) => {{
        let at: DateTime<Utc> = $at;
        $app.app
            .writer
            .answer(None, move |$w| {
                Box::pin(async move {
                    $w.now = at;
                    $body.await
                })
            })
            .await
            .and_then(|a| a.into_value())
    }};
}

struct Town {
    who: Principal,
    program: ProgramId,
    days: Vec<NaiveDate>,
    /// The points program on the same stores, and instants to cut its report at.
    points: ProgramId,
    nows: Vec<DateTime<Utc>>,
}

/// A currency program, three stores, four shoppers charged in April 2024, then 60 payments
/// at random instants from May 2024 to now written in random order (some a second before or
/// at JST midnight), a refund of every fifth within its window and a reversal of every
/// seventh, each made some hours after its payment; and a points program on the same stores
/// (`point_history`).
async fn random_town(app: &TestApp, seed: u64, people: usize) -> Town {
    let op = app.operator().await;
    let program = app.currency().await;
    let program_id = ProgramId(Uuid::parse_str(&program).expect("id"));
    let operator = principal(app, &op).await;
    let mut stores = Vec::new();
    for _ in 0..3 {
        let (m, owner) = app.merchant(&op).await;
        stores.push((MerchantId(Uuid::parse_str(&m).expect("id")), owner));
    }
    let mut shoppers = Vec::new();
    let mut shopper_ids = Vec::new();
    for _ in 0..people {
        let (s, token) = app.shopper(&op).await;
        app.backdated_charge(&program, &s, 50_000, "2024-04-02T01:00:00Z")
            .await;
        shoppers.push(principal(app, &token).await);
        shopper_ids.push(s);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let first: DateTime<Utc> = "2024-05-01T00:00:00Z".parse().expect("instant");
    let span = (Utc::now() - Duration::days(2) - first).num_seconds();
    let mut payments = Vec::new();
    for i in 0..60 {
        let mut at = first + Duration::seconds(rng.random_range(0..span));
        if i % 6 == 0 {
            // A second either side of JST midnight (15:00 UTC).
            let midnight = jst_start_of_day_utc(jst_date(at)).expect("day");
            at = midnight + Duration::seconds(rng.random_range(-1..=0));
        }
        let who = shoppers[rng.random_range(0..shoppers.len())];
        let (store, _) = &stores[rng.random_range(0..stores.len())];
        let req: machipay::features::payments::PaymentRequest = serde_json::from_value(
            json!({"merchant_id": store, "amount": rng.random_range(1..=2_000)}),
        )
        .expect("request");
        let paid = at!(app, at, |w| machipay::features::payments::pay_in(
            w, who, program_id, req
        ))
        .expect("payment");
        payments.push((paid.transaction_id, *store, at));
    }
    for (i, (txn, store, at)) in payments.iter().enumerate() {
        let later = *at + Duration::hours(rng.random_range(1..30));
        if i % 5 == 0 {
            let owner = &stores.iter().find(|s| s.0 == *store).expect("store").1;
            let who = principal(app, owner).await;
            let req: machipay::features::payments::RefundRequest = serde_json::from_value(
                json!({"transaction_id": txn, "amount": 1, "reason": "返品"}),
            )
            .expect("request");
            let store = *store;
            at!(app, later, |w| {
                machipay::features::payments::refunds::refund_in(w, who, store, req)
            })
            .expect("refund");
        } else if i % 7 == 0 {
            let req: machipay::features::payments::ReversalRequest =
                serde_json::from_value(json!({"reason": "誤操作"})).expect("request");
            let original: TransactionId = *txn;
            at!(app, later, |w| machipay::features::payments::reverse_in(
                w, operator, original, req
            ))
            .expect("reversal");
        }
    }
    let mut days: Vec<NaiveDate> = payments
        .iter()
        .take(6)
        .map(|(_, _, at)| jst_date(*at))
        .collect();
    days.extend([d("2024-09-30"), d("2025-03-31"), d("2025-04-01")]);
    days.sort();
    days.dedup();
    let (points, nows) = point_history(app, &op, operator, &stores, &shopper_ids, &mut rng).await;
    Town {
        who: operator,
        program: program_id,
        days,
        points,
        nows,
    }
}

/// A points program on `stores`: a card for each of the first three shoppers, 40 earns and
/// spends at random instants from May 2024 to now written in random order (some a second
/// either side of JST midnight), a return of every fourth and an operator reversal of every
/// fifth (so some returned movements are reversed too), each some hours after its movement.
/// Returns the program and instants to cut its report at: a second after some movements (in
/// the cut day's tail) and at them (just outside), after reversals, at JST midnight and an
/// hour into a month (no whole day of the month yet).
async fn point_history(
    app: &TestApp,
    op: &str,
    operator: Principal,
    stores: &[(MerchantId, String)],
    shoppers: &[String],
    rng: &mut StdRng,
) -> (ProgramId, Vec<DateTime<Utc>>) {
    let program = app
        .program(
            "points",
            json!({"earn_rate": "0.05", "clawback_shortfall": "take_remaining"}),
        )
        .await;
    let program_id = ProgramId(Uuid::parse_str(&program).expect("id"));
    let mut cards = Vec::new();
    for shopper in shoppers.iter().take(3) {
        let path = format!("/api/v1/programs/{program}/cards");
        let (s, v) = app.post(&path, op, json!({"shopper_id": shopper})).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        cards.push(v["number"].as_str().expect("number").to_owned());
    }
    let first: DateTime<Utc> = "2024-05-01T00:00:00Z".parse().expect("instant");
    let span = (Utc::now() - Duration::days(2) - first).num_seconds();
    let mut movements = Vec::new();
    for i in 0..40 {
        let mut at = first + Duration::seconds(rng.random_range(0..span));
        if i % 6 == 0 {
            let midnight = jst_start_of_day_utc(jst_date(at)).expect("day");
            at = midnight + Duration::seconds(rng.random_range(-1..=0));
        }
        let store = rng.random_range(0..stores.len());
        let card = &cards[rng.random_range(0..cards.len())];
        let who = Principal::MerchantOwner {
            merchant: stores[store].0,
            city: operator.city(),
        };
        let merchant = stores[store].0;
        // Every third a spend of what an earn may have left on the card (refused if not).
        let amount = if i % 3 == 2 {
            rng.random_range(1..200)
        } else {
            rng.random_range(100..20_000)
        };
        let req = json!({"program_id": program_id, "card_number": card, "amount": amount});
        let done = if i % 3 == 2 {
            let req = serde_json::from_value(req).expect("request");
            at!(app, at, |w| points::spend_in(w, who, merchant, req))
        } else {
            let req = serde_json::from_value(req).expect("request");
            at!(app, at, |w| points::earn_in(w, who, merchant, req))
        };
        if let Ok(Some(txn)) = done.map(|d| d.transaction_id) {
            movements.push((txn, who, merchant, amount, at));
        }
    }
    assert!(movements.len() > 30, "{} movements", movements.len());
    let mut nows = Vec::new();
    for (i, (txn, who, merchant, amount, at)) in movements.iter().enumerate() {
        if i < 8 {
            nows.extend([*at, *at + Duration::seconds(1)]);
        }
        let later = *at + Duration::hours(rng.random_range(1..30));
        if i % 4 == 0 {
            let req = serde_json::from_value(
                json!({"transaction_id": txn, "amount": (amount / 2).max(1)}),
            )
            .expect("request");
            let (who, merchant) = (*who, *merchant);
            at!(app, later, |w| points::return_in(w, who, merchant, req)).expect("return");
        }
        if i % 5 == 0 {
            let later = later + Duration::hours(1);
            let req: machipay::features::payments::ReversalRequest =
                serde_json::from_value(json!({"reason": "誤操作"})).expect("request");
            let original: TransactionId = *txn;
            let reversed = at!(app, later, |w| machipay::features::payments::reverse_in(
                w, operator, original, req
            ));
            if reversed.is_ok() {
                nows.push(later + Duration::seconds(1));
            }
        }
    }
    for (.., at) in movements.iter().take(3) {
        let midnight = jst_start_of_day_utc(jst_date(*at)).expect("day");
        let month = jst_start_of_day_utc(month_start(jst_date(*at))).expect("day");
        nows.extend([midnight, month + Duration::hours(1)]);
    }
    (program_id, nows)
}

async fn reports_from_aggregates_equal_reports_from_postings(app: &TestApp) {
    let town = random_town(app, 15, 4).await;
    assert_reports_agree(
        app,
        town.who,
        Some(town.program),
        Some(town.points),
        &town.days,
        &town.nows,
        "random town",
    )
    .await;
    // The point report's three sources all count: months, the cut month's whole days (more
    // than one kind of movement, reversals among them) and the cut day's postings.
    let db = &app.app.db;
    let kinds = fetch_int(
        db,
        "SELECT CAST(count(DISTINCT kind) AS INTEGER) FROM agg_point_store_days",
    )
    .await;
    assert!(kinds >= 3, "{kinds} kinds of movement per day");
    let mut cut_in_a_movements_day = 0;
    for at in &town.nows {
        let day = jst_start_of_day_utc(jst_date(*at)).expect("day");
        let tail = points::store::card_postings_by_store(db, town.points, day, *at)
            .await
            .expect("tail");
        cut_in_a_movements_day += usize::from(!tail.is_empty());
    }
    assert!(cut_in_a_movements_day >= 4, "{cut_in_a_movements_day}");
    // The figures compared are the town's: payments, shoppers, stores and balances.
    let period = Period {
        from: d("2024-04-01"),
        to: jst_date(Utc::now()),
        fiscal_year: None,
    };
    let usage = city_report::usage_report(&app.app, town.who, town.program, period)
        .await
        .expect("usage");
    let total = json(&usage)["total"].clone();
    assert!(total["transactions"].as_i64() > Some(40), "{total}");
    assert_eq!(total["active_shoppers"], 4, "{total}");
    let stores = city_report::store_report(&app.app, town.who, town.program, period)
        .await
        .expect("stores");
    assert_eq!(stores.counts.active, 3, "{:?}", stores.counts);
    let unused = reports::unused_balance(
        &app.app,
        town.who,
        town.program,
        Some(period.to),
        Utc::now(),
    )
    .await
    .expect("unused");
    let paid = json(&unused)["unused_paid_yen"].as_i64();
    assert!(
        paid > Some(100_000) && paid < Some(200_000),
        "{}",
        json(&unused)
    );
}

async fn a_rebuild_changes_nothing_and_a_corrupted_aggregate_is_named(app: &TestApp) {
    let town = random_town(app, 7, 4).await;
    let db = &app.app.db;
    let before = aggregates::snapshot(db).await.expect("snapshot");
    assert!(!before.is_empty());
    assert!(
        before
            .iter()
            .any(|r| r.starts_with("agg_point_store_days "))
    );
    let rebuilt = aggregates::rebuild(&app.app.writer).await.expect("rebuild");
    assert_eq!(rebuilt.rows.len(), 6, "{rebuilt:?}");
    assert_eq!(aggregates::snapshot(db).await.expect("snapshot"), before);
    assert_eq!(aggregates::check(db, None).await.expect("check"), None);

    // Behind the writer's back: one day's value is off by a yen.
    let day = fetch_int(db, "SELECT min(day) FROM agg_usage_days").await;
    exec(
        db,
        &format!("UPDATE agg_usage_days SET value = value + 1 WHERE day = {day}"),
    )
    .await;
    let diff = aggregates::check(db, None)
        .await
        .expect("check")
        .expect("a difference");
    assert_eq!(diff.table, "agg_usage_days");
    assert!(diff.key.ends_with(&format!(" {day}")), "{diff:?}");
    let (stored, derived) = (
        diff.stored.expect("stored"),
        diff.from_postings.expect("derived"),
    );
    assert_ne!(stored, derived);
    assert!(
        stored.contains("value=") && derived.contains("value="),
        "{stored} / {derived}"
    );
    // The program's check over HTTP says so too (the day may be the points program's: its
    // issued points are usage too).
    let program = diff.key.split(' ').next().expect("program id");
    let path = format!("/api/v1/programs/{program}/aggregates-check");
    let (s, v) = app.get(&path, &app.admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["first_difference"]["table"], "agg_usage_days", "{v}");

    // A row gone: the postings have it, the table not.
    exec(
        db,
        "DELETE FROM agg_store_days WHERE day = (SELECT max(day) FROM agg_store_days)",
    )
    .await;
    exec(
        db,
        &format!("UPDATE agg_usage_days SET value = value - 1 WHERE day = {day}"),
    )
    .await;
    let diff = aggregates::check(db, None)
        .await
        .expect("check")
        .expect("a difference");
    assert_eq!(diff.table, "agg_store_days", "{diff:?}");
    assert_eq!(diff.stored, None, "{diff:?}");
    assert!(diff.from_postings.is_some(), "{diff:?}");

    // A rebuild repairs it.
    aggregates::rebuild(&app.app.writer).await.expect("rebuild");
    assert_eq!(aggregates::snapshot(db).await.expect("snapshot"), before);
    let (s, v) = app.get(&path, &app.admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["ok"], true, "{v}");

    // A day of a store's point movements off by a point: named, the point report cut later
    // in its month reads it, and a rebuild repairs it.
    let day = fetch_int(
        db,
        "SELECT max(day) FROM agg_point_store_days WHERE day % 100 < 28",
    )
    .await;
    exec(
        db,
        &format!("UPDATE agg_point_store_days SET amount = amount + 1 WHERE day = {day}"),
    )
    .await;
    let diff = aggregates::check(db, None)
        .await
        .expect("check")
        .expect("a difference");
    assert_eq!(diff.table, "agg_point_store_days", "{diff:?}");
    assert!(diff.key.contains(&format!(" {day} ")), "{diff:?}");
    let date = NaiveDate::from_ymd_opt(day / 10_000, (day / 100 % 100) as u32, (day % 100) as u32)
        .expect("date");
    let at = jst_start_of_day_utc(date + Duration::days(1)).expect("day") + Duration::hours(3);
    let fy = FiscalYear::of(date).expect("fiscal year");
    let report =
        |source| points::reports::report_from(&app.app, town.who, town.points, fy, at, source);
    let (a, b) = (
        report(Source::Aggregates).await.expect("points report"),
        report(Source::Postings).await.expect("points report"),
    );
    assert_ne!(json(&a), json(&b), "the report reads the day");
    aggregates::rebuild(&app.app.writer).await.expect("rebuild");
    assert_eq!(aggregates::snapshot(db).await.expect("snapshot"), before);
    assert_eq!(aggregates::check(db, None).await.expect("check"), None);
}

/// The distinct-shopper counts (migration 0025: per month and the shopper's previous active
/// month), kept by a trigger as `agg_shopper_months` gains rows: on a town of payments
/// written out of time order (so a shopper's months are filled in before others already
/// there), refunds and reversals they equal their definition over postings, the usage
/// report from them equals the one from postings for whole 年度, runs of whole months and
/// ranges across 年度 (whole and cut months), a rebuild leaves them as they were, and a
/// corrupted or lost count is named.
async fn distinct_shopper_counts_equal_postings_survive_a_rebuild_and_are_checked(app: &TestApp) {
    let town = random_town(app, 21, 9).await;
    let db = &app.app.db;
    assert_eq!(aggregates::check(db, None).await.expect("check"), None);
    let per_month = fetch_int(
        db,
        "SELECT CAST(count(DISTINCT month) AS INTEGER) FROM agg_shopper_returns",
    )
    .await;
    let returns = fetch_int(
        db,
        "SELECT CAST(count(*) AS INTEGER) FROM agg_shopper_returns WHERE prev_month > 0",
    )
    .await;
    assert!(
        per_month > 10 && returns > 2,
        "{per_month} months, {returns} rows of shoppers coming back"
    );
    let today = jst_date(Utc::now());
    let mut periods = Vec::new();
    for fy in [2024, 2025, 2026] {
        let fy = FiscalYear::new(fy).expect("fiscal year");
        if fy.start() > today {
            continue;
        }
        for (from, to) in [
            (fy.start(), fy.end()),
            (fy.start(), month_end(fy.start() + Duration::days(200))),
            (month_start(fy.start() + Duration::days(100)), fy.end()),
            (
                fy.start() + Duration::days(183),
                month_end(fy.end() + Duration::days(200)),
            ),
            // Across 年度, cutting both ends' months.
            (
                fy.start() + Duration::days(190),
                fy.end() + Duration::days(100),
            ),
            (
                fy.start() + Duration::days(300),
                month_end(fy.end() + Duration::days(400)),
            ),
        ] {
            let to = to.min(today);
            if from <= to {
                periods.push(Period {
                    from,
                    to,
                    fiscal_year: (from == fy.start() && to == fy.end()).then_some(fy),
                });
            }
        }
    }
    for p in &periods {
        let a = city_report::usage_report_from(
            &app.app,
            town.who,
            town.program,
            *p,
            Source::Aggregates,
        )
        .await
        .expect("usage report");
        let b =
            city_report::usage_report_from(&app.app, town.who, town.program, *p, Source::Postings)
                .await
                .expect("usage report");
        assert_eq!(json(&a), json(&b), "usage report {p:?}");
    }
    let whole = Period {
        from: d("2024-04-01"),
        to: d("2025-03-31"),
        fiscal_year: FiscalYear::new(2024).ok(),
    };
    let usage = city_report::usage_report(&app.app, town.who, town.program, whole)
        .await
        .expect("usage");
    let active = json(&usage)["total"]["active_shoppers"].as_i64();
    assert!(active > Some(3) && active <= Some(9), "{}", json(&usage));

    let before = aggregates::snapshot(db).await.expect("snapshot");
    assert!(before.iter().any(|r| r.starts_with("agg_shopper_returns ")));
    aggregates::rebuild(&app.app.writer).await.expect("rebuild");
    assert_eq!(aggregates::snapshot(db).await.expect("snapshot"), before);

    // A month's count off by one, behind the writer's back: named, and rebuilt away.
    let month = fetch_int(db, "SELECT min(month) FROM agg_shopper_returns").await;
    exec(
        db,
        &format!(
            "UPDATE agg_shopper_returns SET shoppers = shoppers + 1 \
             WHERE month = {month} AND prev_month = 0"
        ),
    )
    .await;
    let diff = aggregates::check(db, None)
        .await
        .expect("check")
        .expect("a difference");
    assert_eq!(diff.table, "agg_shopper_returns", "{diff:?}");
    assert!(diff.key.ends_with(&format!(" {month} 0")), "{diff:?}");
    aggregates::rebuild(&app.app.writer).await.expect("rebuild");
    assert_eq!(aggregates::snapshot(db).await.expect("snapshot"), before);
    // The counts of shoppers coming back after a gap lost: named too.
    exec(db, "DELETE FROM agg_shopper_returns WHERE prev_month > 0").await;
    let diff = aggregates::check(db, None)
        .await
        .expect("check")
        .expect("a difference");
    assert_eq!(diff.table, "agg_shopper_returns", "{diff:?}");
    assert_eq!(diff.stored, None, "{diff:?}");
    aggregates::rebuild(&app.app.writer).await.expect("rebuild");
    assert_eq!(aggregates::check(db, None).await.expect("check"), None);
    // A shopper-month's link to the next active month broken (migration 0026): named, and
    // rebuilt away.
    exec(
        db,
        "UPDATE agg_shopper_months SET next_month = 0 WHERE next_month > 0 \
         AND month = (SELECT min(month) FROM agg_shopper_months WHERE next_month > 0)",
    )
    .await;
    let diff = aggregates::check(db, None)
        .await
        .expect("check")
        .expect("a difference");
    assert_eq!(diff.table, "agg_shopper_months", "{diff:?}");
    assert!(
        diff.stored
            .as_deref()
            .is_some_and(|v| v.contains("next_month=0")),
        "{diff:?}"
    );
    aggregates::rebuild(&app.app.writer).await.expect("rebuild");
    assert_eq!(aggregates::snapshot(db).await.expect("snapshot"), before);
}

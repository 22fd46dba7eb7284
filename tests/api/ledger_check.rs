//! The ledger check at scale (issue 15, item 2): the full check, paged over the postings in
//! one snapshot, and the incremental check since the checkpoint the last passing full check
//! left. Both pass on a good ledger, both see a posting or a balance changed behind the
//! writer's back after the checkpoint, and the incremental one sees only what is new.

use machipay::features::payments::check;
use machipay::writer::Done;
use machipay_domain::ids::ProgramId;
use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    full_and_incremental_pass_and_the_incremental_sees_only_what_is_new,
    a_full_check_gives_the_same_answer_whatever_its_page_size,
    a_corrupted_posting_or_balance_fails_both_checks,
);

async fn full(app: &TestApp, p: &str) -> Value {
    let (s, v) = app
        .get(&format!("/api/v1/programs/{p}/ledger-check"), &app.admin)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

/// Runs `sql` in a writer job past the statement guard: what a bug or another process
/// writing behind the writer's back would do.
async fn behind_the_writers_back(app: &TestApp, sql: Vec<&'static str>) {
    app.app
        .writer
        .answer(None, move |w| {
            Box::pin(async move {
                let mut n = 0;
                for statement in sql {
                    n += w.tx.execute_past_the_guard(statement).await?;
                }
                assert!(n >= 1, "nothing changed");
                w.tx.forget_known();
                Ok(Done::ok(()))
            })
        })
        .await
        .expect("ran")
        .into_value()
        .expect("done");
}

/// One more posting of +1 in the newest transaction, past the database's own double-entry
/// check (PostgreSQL's deferred `postings_balanced`; SQLite has none): an unbalanced
/// transaction and an account whose balance no longer equals its postings.
async fn add_a_stray_posting(app: &TestApp) {
    const STRAY: &str = "INSERT INTO postings (transaction_id, account_id, asset, amount) \
        SELECT transaction_id, account_id, asset, 1 FROM postings \
        WHERE id = (SELECT max(id) FROM postings)";
    let sql = match app.app.db.backend() {
        machipay::db::Backend::Postgres => vec![
            "ALTER TABLE postings DISABLE TRIGGER postings_balanced",
            STRAY,
            "ALTER TABLE postings ENABLE TRIGGER postings_balanced",
        ],
        machipay::db::Backend::Sqlite => vec![STRAY],
    };
    behind_the_writers_back(app, sql).await;
}

/// A town with some history: charges and payments at a store.
async fn town(app: &TestApp) -> (String, String, String) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, _owner) = app.merchant(&op).await;
    for _ in 0..3 {
        let (s, st) = app.shopper(&op).await;
        app.charge(&op, &p, &s, 5_000).await;
        for yen in [100, 250] {
            app.backdated_payment(&p, &st, &m, yen, "2026-01-15T03:00:00Z")
                .await;
        }
    }
    (op, p, m)
}

async fn full_and_incremental_pass_and_the_incremental_sees_only_what_is_new(app: &TestApp) {
    let (op, p, _) = town(app).await;
    // Before any full check, the incremental one checks from the first posting.
    let first = app.incremental_check(&p).await;
    assert_eq!(first["ok"], true, "{first}");
    assert_eq!(first["since_posting_id"], 0, "{first}");
    let checked = full(app, &p).await;
    assert_eq!(checked["ok"], true, "{checked}");
    assert!(checked["transactions"].as_i64() >= Some(9), "{checked}");
    assert_eq!(first["transactions"], checked["transactions"], "{first}");
    assert_eq!(first["postings"], checked["postings"], "{first}");
    assert!(checked["since_posting_id"].is_null(), "{checked}");
    let mark = checked["through_posting_id"].as_i64().expect("mark");
    assert!(mark > 0, "{checked}");
    // Nothing new: nothing to check.
    let quick = app.incremental_check(&p).await;
    assert_eq!(quick["ok"], true, "{quick}");
    assert_eq!(quick["since_posting_id"], mark, "{quick}");
    assert_eq!(
        (quick["transactions"].as_i64(), quick["postings"].as_i64()),
        (Some(0), Some(0)),
        "{quick}"
    );
    // One new charge: only it.
    let (s, _) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 700).await;
    let quick = app.incremental_check(&p).await;
    assert_eq!(quick["ok"], true, "{quick}");
    assert_eq!(quick["transactions"], 1, "{quick}");
    assert!(quick["through_posting_id"].as_i64() > Some(mark), "{quick}");
    // A second full check moves the mark; the older checkpoint is dropped.
    let again = full(app, &p).await;
    assert_eq!(again["ok"], true, "{again}");
    assert_eq!(
        again["transactions"].as_i64(),
        checked["transactions"].as_i64().map(|n| n + 1),
        "{again}"
    );
    let quick = app.incremental_check(&p).await;
    assert_eq!(
        quick["since_posting_id"], again["through_posting_id"],
        "{quick}"
    );
    assert_eq!(quick["transactions"], 0, "{quick}");
    let left: i64 = match &app.app.db {
        machipay::db::Db::Pg(pool, _) => {
            sqlx::query_scalar("SELECT count(*) FROM ledger_checkpoints")
                .fetch_one(pool)
                .await
                .expect("count")
        }
        machipay::db::Db::Lite { read, .. } => {
            sqlx::query_scalar("SELECT count(*) FROM ledger_checkpoints")
                .fetch_one(read)
                .await
                .expect("count")
        }
    };
    assert_eq!(left, 1, "one checkpoint per program");
}

/// Pages of 1, 2 and 3 postings cut transactions anywhere: the carried sums still add up.
async fn a_full_check_gives_the_same_answer_whatever_its_page_size(app: &TestApp) {
    let (_, p, _) = town(app).await;
    let program = ProgramId(uuid::Uuid::parse_str(&p).expect("id"));
    let whole = check::full_paged(&app.app, program, 1_000_000, &mut |_| {})
        .await
        .expect("checked");
    assert!(whole.ok, "{whole:?}");
    for page in [1, 2, 3] {
        let mut steps = 0;
        let paged = check::full_paged(&app.app, program, page, &mut |_| steps += 1)
            .await
            .expect("checked");
        assert!(paged.ok, "{paged:?}");
        assert_eq!(
            (
                paged.report.transactions,
                paged.report.postings,
                paged.through_posting_id
            ),
            (
                whole.report.transactions,
                whole.report.postings,
                whole.through_posting_id
            )
        );
        assert!(
            steps as i64 >= whole.through_posting_id / page,
            "progress per page"
        );
    }
    // A posting added behind the writer's back is found whatever the page size.
    add_a_stray_posting(app).await;
    for page in [1, 2, 1_000_000] {
        let paged = check::full_paged(&app.app, program, page, &mut |_| {})
            .await
            .expect("checked");
        assert!(!paged.ok);
        assert_eq!(paged.report.unbalanced_transactions, 1, "{paged:?}");
        assert_eq!(paged.report.balance_mismatches, 1, "{paged:?}");
    }
}

async fn a_corrupted_posting_or_balance_fails_both_checks(app: &TestApp) {
    let (op, p, _) = town(app).await;
    let checked = full(app, &p).await;
    assert_eq!(checked["ok"], true, "{checked}");
    // After the checkpoint: a new charge, then a stray posting in it.
    let (s, _) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 700).await;
    add_a_stray_posting(app).await;
    for v in [app.incremental_check(&p).await, full(app, &p).await] {
        assert_eq!(v["ok"], false, "{v}");
        assert_eq!(v["unbalanced_transactions"], 1, "{v}");
        assert_eq!(v["balance_mismatches"], 1, "{v}");
    }
    // A balance changed with no posting at all: every account is compared, not only the
    // ones posted to since.
    behind_the_writers_back(
        app,
        vec![
            "UPDATE accounts SET balance = balance + 7 WHERE id = \
             (SELECT account_id FROM postings WHERE id = (SELECT min(id) FROM postings))",
        ],
    )
    .await;
    for v in [app.incremental_check(&p).await, full(app, &p).await] {
        assert_eq!(v["ok"], false, "{v}");
        assert_eq!(v["balance_mismatches"], 2, "{v}");
    }
}

/// A posting from before the checkpoint changed behind the writer's back is the full check's
/// business: the incremental one checks only what came after the mark (SQLite alone: the
/// rule is the same SQL on both).
#[tokio::test]
async fn the_incremental_check_sees_only_what_is_new() {
    let app = TestApp::sqlite().await;
    let (_, p, _) = town(&app).await;
    assert_eq!(full(&app, &p).await["ok"], true);
    behind_the_writers_back(
        &app,
        vec![
            "DROP TRIGGER postings_immutable_u",
            "UPDATE postings SET amount = amount + 1 WHERE id = (SELECT min(id) FROM postings)",
            "CREATE TRIGGER postings_immutable_u BEFORE UPDATE ON postings \
             BEGIN SELECT RAISE(ABORT, 'rows of postings are immutable'); END",
        ],
    )
    .await;
    assert_eq!(app.incremental_check(&p).await["ok"], true);
    let v = full(&app, &p).await;
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["unbalanced_transactions"], 1, "{v}");
    app.cleanup().await;
}

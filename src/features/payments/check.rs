//! The ledger check at scale (issue 15): the full check pages through the postings in one read
//! snapshot (bounded memory: a running sum per account, never the postings), reports progress,
//! never holds the writer, and leaves a checkpoint when it passes; the incremental check
//! verifies only what came after that checkpoint.
//!
//! Full check, in one snapshot (`writer::check_rows::Snapshot`): the mark (the highest posting
//! id it sees), the program's accounts (a page at a time, kept as running sums), then the
//! postings up to the mark in id ranges of `POSTINGS_PER_PAGE`, each range summed per account
//! and per (transaction, asset) by the database. A transaction whose sums in a range are not
//! zero is carried to the next ranges (a range may cut a transaction); what is still not zero
//! at the end is unbalanced. Then the open lots per page of wallets, the returns invariant and
//! the counts. If every count is zero, a checkpoint is written through the writer in short
//! jobs: the mark and each account's balance, completed by a last job (an incomplete one is
//! never used, and is dropped by the next full check).
//!
//! Incremental check: from the latest completed checkpoint, every transaction with postings
//! after the mark balances, each account's balance = its checkpoint balance + its postings
//! after the mark (over every account of the program, so a balance changed without a posting
//! is seen too), the wallets posted to since have lots that add up, no account is negative,
//! the assets net to zero, and nothing returned since gives back more than its original
//! moved. Rows older than the mark are the full check's business. Without a checkpoint it
//! checks from the first posting.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use uuid::Uuid;

use crate::app::App;
use crate::error::AppError;
use crate::features::payments::api::{IntegrityReport, LedgerCheck, OverReturn};
use crate::writer::Done;
use crate::writer::check_rows::{self as store, Snapshot};
use machipay_domain::auth::{Capability, Principal};
use machipay_domain::ids::*;
use machipay_domain::ledger::Asset;

/// Posting ids summed per statement of the full check.
pub const POSTINGS_PER_PAGE: i64 = 250_000;
/// Accounts read (and wallets' lots checked) per statement.
pub const ACCOUNTS_PER_PAGE: i64 = 10_000;
/// Checkpoint balances written per writer job (one statement; a few ms of the writer).
pub const CHECKPOINT_ROWS_PER_JOB: usize = 2_000;

/// Where a full check is: `step` ("accounts", "postings", "lots", "returns", "checkpoint"),
/// `done` of `of` (posting ids for "postings", rows otherwise; `of` 0 when unknown).
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub step: &'static str,
    pub done: i64,
    pub of: i64,
}

/// The program, if `who` may check it (staff of its city).
async fn visible_program(
    app: &App,
    who: Principal,
    program: ProgramId,
) -> Result<ProgramId, AppError> {
    if !who.can(Capability::ViewCity) {
        return Err(AppError::forbidden());
    }
    crate::features::directory::program(&app.db, program)
        .await?
        .filter(|p| p.city_id == who.city())
        .map(|p| p.id)
        .ok_or_else(|| AppError::not_found("program"))
}

/// The full check as staff asks for it (`GET .../ledger-check`).
pub async fn full_as(
    app: &App,
    who: Principal,
    program: ProgramId,
) -> Result<LedgerCheck, AppError> {
    let program = visible_program(app, who, program).await?;
    full(app, program, &mut |_| {}).await
}

/// The incremental check as staff asks for it (`GET .../ledger-check/incremental`).
pub async fn incremental_as(
    app: &App,
    who: Principal,
    program: ProgramId,
) -> Result<LedgerCheck, AppError> {
    let program = visible_program(app, who, program).await?;
    incremental(app, program).await
}

/// Every program's id (the CLI checks them all).
pub async fn programs(app: &App) -> Result<Vec<ProgramId>, AppError> {
    Ok(store::program_ids(&app.db).await?)
}

struct Acc {
    asset: String,
    allow_negative: bool,
    balance: i64,
    sum: i64,
}

/// The full check of `program` (see the module doc); `progress` hears where it is.
pub async fn full(
    app: &App,
    program: ProgramId,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<LedgerCheck, AppError> {
    full_paged(app, program, POSTINGS_PER_PAGE, progress).await
}

/// `full` with ranges of `page` posting ids (tests cut transactions with tiny pages).
pub async fn full_paged(
    app: &App,
    program: ProgramId,
    page: i64,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<LedgerCheck, AppError> {
    let page = page.max(1);
    let mut s = Snapshot::begin(&app.db).await?;
    let mark = s.posting_mark().await?;
    // The accounts, a page at a time; the pages' last ids bound the lot pages below.
    let mut accounts: HashMap<Uuid, Acc> = HashMap::new();
    let mut bounds: Vec<Uuid> = Vec::new();
    let mut after = Uuid::nil();
    loop {
        let page = s.accounts_page(program, after, ACCOUNTS_PER_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        bounds.push(after);
        for a in page {
            accounts.insert(
                a.id,
                Acc {
                    asset: a.asset,
                    allow_negative: a.allow_negative,
                    balance: a.balance,
                    sum: 0,
                },
            );
        }
        progress(Progress {
            step: "accounts",
            done: accounts.len() as i64,
            of: 0,
        });
    }
    // The postings up to the mark, a range at a time.
    let mut open: HashMap<(Uuid, String), i64> = HashMap::new();
    let mut postings = 0i64;
    let mut from = 0i64;
    while from < mark {
        let to = (from + page).min(mark);
        for (account, sum, count) in s.posting_sums(from, to).await? {
            if let Some(a) = accounts.get_mut(&account) {
                a.sum += sum;
                postings += count;
            }
        }
        for (txn, asset, sum) in s.open_sums(from, to).await? {
            let key = (txn, asset);
            let left = open.get(&key).copied().unwrap_or(0) + sum;
            if left == 0 {
                open.remove(&key);
            } else {
                open.insert(key, left);
            }
        }
        from = to;
        progress(Progress {
            step: "postings",
            done: to,
            of: mark,
        });
    }
    let unbalanced_ids: BTreeSet<Uuid> = open.keys().map(|(t, _)| *t).collect();
    let ours = s
        .of_program(program, &unbalanced_ids.iter().copied().collect::<Vec<_>>())
        .await?;
    let unbalanced_transactions = open.keys().filter(|(t, _)| ours.contains(t)).count() as i64;
    // Open lots against wallet balances, a page of accounts at a time.
    let mut lot_mismatches = 0;
    let mut lo = Uuid::nil();
    for (i, hi) in bounds.iter().enumerate() {
        lot_mismatches += s.lot_mismatches(program, lo, *hi).await?;
        lo = *hi;
        progress(Progress {
            step: "lots",
            done: (i as i64 + 1) * ACCOUNTS_PER_PAGE,
            of: bounds.len() as i64 * ACCOUNTS_PER_PAGE,
        });
    }
    progress(Progress {
        step: "returns",
        done: 0,
        of: 0,
    });
    let (over_returned, examples) = s.over_returned(program).await?;
    let transactions = s.transactions(program).await?;
    s.end().await;
    let mut net: BTreeMap<String, i64> = BTreeMap::new();
    let (mut balance_mismatches, mut negative_balances) = (0, 0);
    for a in accounts.values() {
        balance_mismatches += i64::from(a.balance != a.sum);
        negative_balances += i64::from(!a.allow_negative && a.balance < 0);
        *net.entry(a.asset.clone()).or_insert(0) += a.balance;
    }
    let report = IntegrityReport {
        unbalanced_transactions,
        balance_mismatches,
        lot_mismatches,
        negative_balances,
        over_returned,
        over_returned_examples: examples.into_iter().map(OverReturn::from).collect(),
        transactions,
        postings,
    };
    let check = finish(program, report, net, mark, None)?;
    if check.ok {
        let balances: Vec<(Uuid, i64)> = accounts
            .iter()
            .filter(|(_, a)| a.balance != 0)
            .map(|(id, a)| (*id, a.balance))
            .collect();
        record(app, program, &check, balances, progress).await?;
    }
    Ok(check)
}

/// The incremental check of `program` since its latest checkpoint (see the module doc).
pub async fn incremental(app: &App, program: ProgramId) -> Result<LedgerCheck, AppError> {
    let mut s = Snapshot::begin(&app.db).await?;
    let mark = s.posting_mark().await?;
    let checkpoint = s.last_checkpoint(program).await?;
    let since = checkpoint.as_ref().map_or(0, |c| c.through_posting_id);
    let counts = s.since(program, checkpoint.map(|c| c.id), since).await?;
    let (over_returned, examples) = s.over_returned_since(program, since).await?;
    s.end().await;
    let report = IntegrityReport {
        unbalanced_transactions: counts.unbalanced_transactions,
        balance_mismatches: counts.balance_mismatches,
        lot_mismatches: counts.lot_mismatches,
        negative_balances: counts.negative_balances,
        over_returned,
        over_returned_examples: examples.into_iter().map(OverReturn::from).collect(),
        transactions: counts.transactions,
        postings: counts.postings,
    };
    finish(
        program,
        report,
        counts.net_by_asset.into_iter().collect(),
        mark,
        Some(since),
    )
}

fn finish(
    program: ProgramId,
    report: IntegrityReport,
    net: BTreeMap<String, i64>,
    through: i64,
    since: Option<i64>,
) -> Result<LedgerCheck, AppError> {
    let net_by_asset = net
        .into_iter()
        .map(|(a, n)| {
            Asset::parse(&a)
                .map(|a| (a, n))
                .ok_or_else(|| AppError::Internal(format!("stored asset {a}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ok = report.unbalanced_transactions == 0
        && report.balance_mismatches == 0
        && report.lot_mismatches == 0
        && report.negative_balances == 0
        && report.over_returned == 0
        && net_by_asset.iter().all(|(_, n)| *n == 0);
    Ok(LedgerCheck {
        program_id: program,
        ok,
        report,
        net_by_asset,
        through_posting_id: through,
        since_posting_id: since,
    })
}

/// Writes the passed check's checkpoint in short writer jobs, completes it, then drops the
/// program's other checkpoints.
async fn record(
    app: &App,
    program: ProgramId,
    check: &LedgerCheck,
    balances: Vec<(Uuid, i64)>,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(), AppError> {
    let id = Uuid::now_v7();
    let (through, transactions, postings) = (
        check.through_posting_id,
        check.report.transactions,
        check.report.postings,
    );
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                let at = w.now;
                store::begin_checkpoint(
                    &mut w.tx,
                    id,
                    program,
                    through,
                    transactions,
                    postings,
                    at,
                )
                .await?;
                Ok(Done::created(()))
            })
        })
        .await?
        .into_value()?;
    let total = balances.len() as i64;
    let mut written = 0i64;
    for chunk in balances.chunks(CHECKPOINT_ROWS_PER_JOB) {
        let rows = chunk.to_vec();
        written += rows.len() as i64;
        app.writer
            .answer(None, move |w| {
                Box::pin(async move {
                    store::add_checkpoint_balances(&mut w.tx, id, &rows).await?;
                    Ok(Done::ok(()))
                })
            })
            .await?
            .into_value()?;
        progress(Progress {
            step: "checkpoint",
            done: written,
            of: total,
        });
    }
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                let at = w.now;
                store::complete_checkpoint(&mut w.tx, id, at).await?;
                Ok(Done::ok(()))
            })
        })
        .await?
        .into_value()?;
    for old in store::other_checkpoints(&app.db, program, id).await? {
        loop {
            let gone = app
                .writer
                .answer(None, move |w| {
                    Box::pin(async move {
                        let gone = store::drop_checkpoint_some(
                            &mut w.tx,
                            old,
                            CHECKPOINT_ROWS_PER_JOB as i64,
                        )
                        .await?;
                        Ok(Done::ok(gone))
                    })
                })
                .await?
                .into_value()?;
            if gone {
                break;
            }
        }
    }
    Ok(())
}

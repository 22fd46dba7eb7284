//! Scale fixture (issue 15): fills a database with a multi-year town through the library's own
//! writer jobs (no HTTP), then measures the city's reports and the ledger check on it.
//!
//! ```sh
//! # a town of 3 past 年度: stores joining/leaving, shoppers, charges, payments, refunds,
//! # reversals, point earns/spends and one expiry run per 年度
//! cargo run --release --example scale -- fill --database-url sqlite:/tmp/town.db \
//!     --transactions 200000 --wallets 5000 --stores 200 --years 3
//! # each report 3 times (ms), the ledger check, and peak memory
//! cargo run --release --example scale -- measure --database-url sqlite:/tmp/town.db
//! ```
//!
//! `fill` wants an empty database (a new SQLite file, or an empty PostgreSQL database made
//! with `createdb`). Every operation is the use-case's own job (`pay_in`, `counter_charge_in`,
//! `refund_in`, `reverse_in`, `earn_in`, `spend_in`, `expire_program_in`) with the job's clock
//! (`Work::now`) set back to when it happened; `--group` jobs go to the writer as one batch
//! (`Writer::run_as_one_batch`) and `--in-flight` batches are queued at once. A job the
//! use-case refuses (the planner's balance model is approximate after expiry) is counted and
//! skipped, as the writer drops a refused job alone.

#[path = "scale/bulk.rs"]
mod bulk;

use std::collections::VecDeque;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use clap::{Args, Parser, Subcommand};
use futures::future::{BoxFuture, join_all};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use machipay::app::App;
use machipay::db::Db;
use machipay::error::AppError;
use machipay::features::city_report::{self, Period};
use machipay::features::directory::{self, NewMerchantRequest, NewProgramRequest};
use machipay::features::expiry;
use machipay::features::merchants::{self, EventRequest, TargetRequest};
use machipay::features::payments::{
    self as money, CounterChargeRequest, PaymentRequest, RefundRequest, ReversalRequest,
};
use machipay::features::points::{self, EarnRequest, SpendRequest};
use machipay::writer::{JobFn, Reply, Work, Writer, rows};
use machipay_domain::auth::{Principal, Role, StaffKind};
use machipay_domain::calendar::{FiscalYear, jst_date, jst_start_of_day_utc};
use machipay_domain::card::CardNumber;
use machipay_domain::expiry::ExpiryPolicy;
use machipay_domain::ids::{
    CardId, CityId, MerchantId, ProgramId, ShopperId, StaffId, TransactionId,
};
use machipay_domain::ledger::{AccountKind, Asset};
use machipay_domain::money::Amount;
use machipay_domain::program::ProgramKind;
use machipay_domain::registry::{ParticipationKind, Profile, SizeClass};

/// Currency lots expire at the end of the 12th month after the month they were issued in.
const COIN_EXPIRY: ExpiryPolicy = ExpiryPolicy::MonthsFromIssueToMonthEnd { months: 12 };
/// An idle card's points expire at the end of the 12th month after its last use.
const POINT_EXPIRY: ExpiryPolicy = ExpiryPolicy::MonthsAfterLastChange { months: 12 };
/// Set-up requests (stores, shoppers, cards) in flight at once.
const SETUP_CONCURRENCY: usize = 512;
/// Shoppers (with their cards) made per writer job.
const SHOPPERS_PER_JOB: usize = 50;
/// Payments remembered as refund or reversal targets.
const RECENT_PAYMENTS_MAX: usize = 50_000;
/// Refunds and reversals take payments of the last this many days (stores refund within 30).
const REFUND_DAYS: u64 = 25;

#[derive(Parser)]
#[command(about = "Scale fixture: fill a database with a multi-year town, measure reports")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Fill an empty database.
    Fill(FillArgs),
    /// Time the reports and the ledger check on a filled database.
    Measure(MeasureArgs),
}

#[derive(Args)]
struct FillArgs {
    /// `sqlite:/path/file.db` (created) or `postgres://.../empty_db`.
    #[arg(long)]
    database_url: String,
    /// Transactions in all (charges, payments, refunds, reversals, earns, spends).
    #[arg(long, default_value_t = 200_000)]
    transactions: u64,
    #[arg(long, default_value_t = 5_000)]
    wallets: usize,
    #[arg(long, default_value_t = 200)]
    stores: usize,
    /// Past 年度 to fill, ending with the last one that has ended.
    #[arg(long, default_value_t = 3)]
    years: i32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Jobs per writer batch (at most the writer's BATCH_SIZE_MAX, 256).
    #[arg(long, default_value_t = 256)]
    group: usize,
    /// Batches queued to the writer at once.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// Post the history through the use-cases' own jobs (`pay_in`...), one job per
    /// transaction, instead of the bulk path (one job per day of pending rows).
    #[arg(long)]
    use_cases: bool,
}

#[derive(Args)]
struct MeasureArgs {
    #[arg(long)]
    database_url: String,
    /// Runs of each report.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The 年度 measured (its start year; default: the last 年度 that has ended).
    #[arg(long)]
    fiscal_year: Option<i32>,
    /// Also compare every aggregate with the postings (`machipay check-aggregates`; at
    /// scale it costs what the reports over postings cost).
    #[arg(long)]
    check_aggregates: bool,
    /// Runs of each full ledger check (default: `--runs`; at 10,000,000 transactions one
    /// takes minutes).
    #[arg(long)]
    check_runs: Option<usize>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.cmd {
        Cmd::Fill(a) => fill(a).await,
        Cmd::Measure(a) => measure(a).await,
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scale: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

fn err(e: impl std::fmt::Display) -> Box<dyn std::error::Error> {
    e.to_string().into()
}

async fn open(url: &str) -> Fallible<App> {
    let db = Db::connect(url).await.map_err(err)?;
    let (writer, _) = Writer::start(db.clone(), machipay::features::WARM_AT_START);
    Ok(App::new(db, writer))
}

/// The process's peak resident memory (VmHWM) in MiB, 0 when unknown.
fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resets the peak (VmHWM) to the current size; false if the kernel does not allow it.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn amount(n: i64) -> Result<Amount, AppError> {
    Amount::new(n).map_err(|e| AppError::Internal(format!("amount: {e}")))
}

/// The town's calendar: who is there on which day.
struct Town {
    city: CityId,
    admin: Principal,
    currency: ProgramId,
    points: ProgramId,
    stores: Vec<MerchantId>,
    joined: Vec<NaiveDate>,
    /// Left (or suspended) on, for the few that did.
    gone: Vec<Option<(NaiveDate, ParticipationKind)>>,
    shoppers: Vec<ShopperId>,
    /// Shopper i arrives on `arrives[i]` (non-decreasing).
    arrives: Vec<NaiveDate>,
    cards: Vec<Option<CardNumber>>,
    /// The accounts the bulk history posts to.
    accounts: bulk::Accounts,
}

impl Town {
    fn open_on(&self, i: usize, day: NaiveDate) -> bool {
        self.joined[i] <= day && self.gone[i].is_none_or(|(d, _)| day < d)
    }
    fn open_store(&self, day: NaiveDate, rng: &mut StdRng) -> Option<usize> {
        (0..16)
            .map(|_| rng.random_range(0..self.stores.len()))
            .find(|&i| self.open_on(i, day))
    }
    /// Shoppers there on `day`: a prefix of the list.
    fn shoppers_on(&self, day: NaiveDate) -> usize {
        self.arrives.partition_point(|d| *d <= day).max(1)
    }
}

/// One operation of the history.
#[derive(Debug, Clone)]
enum Op {
    Charge {
        shopper: usize,
        yen: i64,
    },
    Pay {
        shopper: usize,
        store: usize,
        yen: i64,
        day: NaiveDate,
    },
    Refund {
        store: usize,
        shopper: usize,
        payment: TransactionId,
        yen: i64,
    },
    Reverse {
        shopper: usize,
        payment: TransactionId,
    },
    Earn {
        store: usize,
        shopper: usize,
        yen: i64,
    },
    Spend {
        store: usize,
        shopper: usize,
        points: i64,
    },
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Charge { .. } => "charge",
            Op::Pay { .. } => "payment",
            Op::Refund { .. } => "refund",
            Op::Reverse { .. } => "reversal",
            Op::Earn { .. } => "earn",
            Op::Spend { .. } => "spend",
        }
    }
}

/// The planner's view of each shopper (approximate: expiry takes what it does not see).
struct Model {
    coin: Vec<i64>,
    points: Vec<i64>,
    /// Recent payments not yet refunded or reversed, oldest first: (day, transaction, store,
    /// shopper, yen).
    recent: VecDeque<(NaiveDate, TransactionId, usize, usize, i64)>,
}

#[derive(Default)]
struct Tally {
    done: u64,
    refused: u64,
    by_kind: std::collections::BTreeMap<&'static str, u64>,
    refusals: std::collections::BTreeMap<String, u64>,
}

async fn fill(a: FillArgs) -> Fallible<()> {
    let started = Instant::now();
    let app = open(&a.database_url).await?;
    let mut rng = StdRng::seed_from_u64(a.seed);
    let this_year = FiscalYear::of(jst_date(Utc::now())).map_err(err)?;
    let first_fy = this_year.start().year() - a.years;
    let start = NaiveDate::from_ymd_opt(first_fy, 4, 1).ok_or("start")?;
    let end = this_year.start() - Days::new(1);
    let days = (end - start).num_days() + 1;
    println!(
        "fill: {} transactions, {} wallets, {} stores over {start}..={end} ({days} days)",
        a.transactions, a.wallets, a.stores
    );
    let town = setup(&app, &a, start, end, &mut rng).await?;
    println!(
        "set-up done in {:.1} s (stores, participation, shoppers, cards); peak {:.0} MiB",
        started.elapsed().as_secs_f64(),
        peak_mib()
    );
    let town = Arc::new(town);
    if !a.use_cases {
        return bulk_fill(&app, &a, town, start, days, this_year, started).await;
    }
    let history = Instant::now();
    let mut model = Model {
        coin: vec![0; town.shoppers.len()],
        points: vec![0; town.shoppers.len()],
        recent: VecDeque::new(),
    };
    let mut tally = Tally::default();
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut last_print = Instant::now();
    let mut planned = 0u64;
    for d in 0..days {
        let day = start + Days::new(d as u64);
        // Expiry on the first day of each 年度 after the first, before that day's trade.
        if day.month() == 4 && day.day() == 1 && day != start {
            drain(&mut pending, &mut model, &mut tally).await?;
            let t = Instant::now();
            let moved = expire_all(&app, &town, day).await?;
            println!(
                "expiry as of {day}: {moved} jobs in {:.1} s",
                t.elapsed().as_secs_f64()
            );
        }
        let today_n = (a.transactions * (d as u64 + 1)) / days as u64 - planned;
        planned += today_n;
        let mut ops = plan_day(&town, &mut model, day, today_n, &mut rng);
        ops.sort_by_key(|(at, _)| *at);
        // Charges and payments leave their rows pending for the batch's few multi-row
        // statements; refunds, reversals, earns and spends write at once (a savepoint, and a
        // flush of what is pending). Mixed, each of those cut a batch's statements into
        // small ones: they go to batches of their own, each kind in time order.
        let (mut ops, flushing): (Vec<_>, Vec<_>) = ops
            .into_iter()
            .partition(|(_, op)| matches!(op, Op::Charge { .. } | Op::Pay { .. }));
        ops.extend(flushing);
        for chunk in ops.chunks(a.group.clamp(1, machipay::writer::BATCH_SIZE_MAX)) {
            while pending.len() >= a.in_flight.max(1) {
                settle(pending.pop_front(), &mut model, &mut tally).await?;
            }
            pending.push_back(submit(&app, &town, chunk.to_vec()));
        }
        if last_print.elapsed() >= Duration::from_secs(5) {
            last_print = Instant::now();
            let secs = history.elapsed().as_secs_f64();
            println!(
                "  {day}: {} done, {} refused, {:.0} tx/s, peak {:.0} MiB",
                tally.done,
                tally.refused,
                tally.done as f64 / secs,
                peak_mib()
            );
            let _ = std::io::stdout().flush();
        }
    }
    drain(&mut pending, &mut model, &mut tally).await?;
    let secs = history.elapsed().as_secs_f64();
    // The expiry of the last 年度 filled (as of the first day of this one).
    let t = Instant::now();
    let moved = expire_all(&app, &town, this_year.start()).await?;
    println!(
        "expiry as of {}: {moved} jobs in {:.1} s",
        this_year.start(),
        t.elapsed().as_secs_f64()
    );
    departures(&app, &town).await?;
    println!(
        "history: {} transactions in {secs:.1} s = {:.0} tx/s; {} refused {:?}",
        tally.done,
        tally.done as f64 / secs,
        tally.refused,
        tally.refusals
    );
    println!("by kind: {:?}", tally.by_kind);
    analyze(&app).await?;
    println!(
        "fill done in {:.1} s; peak {:.0} MiB; city {} currency {} points {}",
        started.elapsed().as_secs_f64(),
        peak_mib(),
        town.city.0,
        town.currency.0,
        town.points.0
    );
    Ok(())
}

/// The history through bulk jobs (`bulk::day_in`): one writer job per day, `--in-flight`
/// queued at once; expiry (the use-case's) on each 1 April, after which the planner reads
/// the lots back.
async fn bulk_fill(
    app: &App,
    a: &FillArgs,
    town: Arc<Town>,
    start: NaiveDate,
    days: i64,
    this_year: FiscalYear,
    started: Instant,
) -> Fallible<()> {
    let ctx = bulk::Ctx { town: town.clone() };
    let sim = Arc::new(tokio::sync::Mutex::new(bulk::Sim::new(
        a.seed,
        town.shoppers.len(),
        start,
    )));
    type Job = tokio::task::JoinHandle<Result<(), AppError>>;
    let mut inflight: VecDeque<(Job, u64)> = VecDeque::new();
    let mut written = 0u64;
    let mut planned = 0u64;
    let history = Instant::now();
    let mut expiry_secs = 0.0;
    let mut last_print = Instant::now();
    async fn wait(job: Option<(Job, u64)>, written: &mut u64) -> Fallible<()> {
        if let Some((h, n)) = job {
            h.await.map_err(err)?.map_err(err)?;
            *written += n;
        }
        Ok(())
    }
    for d in 0..days {
        let day = start + Days::new(d as u64);
        if day.month() == 4 && day.day() == 1 && day != start {
            while !inflight.is_empty() {
                wait(inflight.pop_front(), &mut written).await?;
            }
            let t = Instant::now();
            let jobs = expire_all(app, &town, day).await?;
            bulk::reload(app, &ctx, &sim).await?;
            expiry_secs += t.elapsed().as_secs_f64();
            println!(
                "expiry as of {day}: {jobs} jobs in {:.1} s (lots read back)",
                t.elapsed().as_secs_f64()
            );
        }
        let n = (a.transactions * (d as u64 + 1)) / days as u64 - planned;
        planned += n;
        let spread = bulk::Spread {
            start,
            days,
            transactions: a.transactions,
        };
        while inflight.len() >= a.in_flight.max(1) {
            wait(inflight.pop_front(), &mut written).await?;
        }
        let writer = app.writer.clone();
        let (ctx, sim) = (ctx.clone(), sim.clone());
        let job = tokio::spawn(async move {
            writer
                .answer(None, move |w| {
                    Box::pin(async move { bulk::day_in(w, &ctx, &sim, spread).await })
                })
                .await
                .map(|_| ())
        });
        inflight.push_back((job, n));
        if last_print.elapsed() >= Duration::from_secs(10) {
            last_print = Instant::now();
            let secs = history.elapsed().as_secs_f64();
            println!(
                "  {day}: {written} written, {:.0} tx/s (expiry aside), peak {:.0} MiB",
                written as f64 / (secs - expiry_secs),
                peak_mib()
            );
            let _ = std::io::stdout().flush();
        }
    }
    while !inflight.is_empty() {
        wait(inflight.pop_front(), &mut written).await?;
    }
    let secs = history.elapsed().as_secs_f64();
    let t = Instant::now();
    let jobs = expire_all(app, &town, this_year.start()).await?;
    println!(
        "expiry as of {}: {jobs} jobs in {:.1} s",
        this_year.start(),
        t.elapsed().as_secs_f64()
    );
    departures(app, &town).await?;
    let sim = sim.lock().await;
    println!(
        "history: {} transactions in {secs:.1} s = {:.0} tx/s ({:.0} tx/s without the {expiry_secs:.1} s of expiry); none refused",
        sim.done,
        sim.done as f64 / secs,
        sim.done as f64 / (secs - expiry_secs),
    );
    println!("by kind: {:?}", sim.by_kind);
    analyze(app).await?;
    println!(
        "fill done in {:.1} s; peak {:.0} MiB; city {} currency {} points {}",
        started.elapsed().as_secs_f64(),
        peak_mib(),
        town.city.0,
        town.currency.0,
        town.points.0
    );
    Ok(())
}

/// PostgreSQL: fresh planner statistics and visibility map for what the fill wrote, as
/// autovacuum leaves a town that has run for years. Autovacuum lags a bulk load: with the
/// statistics left from mid-fill, the incremental check's `postings.id > mark` was planned as
/// a scan of every posting (7–9 s instead of 0.2 s at 10,000,000 transactions), and without
/// the visibility map a cut month's shoppers (migration 0027's index-only scan) were heap
/// fetches again. SQLite keeps no statistics here (its queries are written for none), so it
/// is left as it is.
async fn analyze(app: &App) -> Fallible<()> {
    if let machipay::db::Db::Pg(pool, _) = &app.db {
        let t = Instant::now();
        sqlx::query("VACUUM ANALYZE")
            .execute(pool)
            .await
            .map_err(err)?;
        println!("VACUUM ANALYZE in {:.1} s", t.elapsed().as_secs_f64());
    }
    Ok(())
}

/// A moment during opening hours (10:00–18:59 JST) of `day`.
fn during(day: NaiveDate, rng: &mut StdRng) -> DateTime<Utc> {
    let start = jst_start_of_day_utc(day).unwrap_or_default();
    start + chrono::Duration::minutes(10 * 60 + rng.random_range(0..9 * 60))
}

/// `n` operations on `day`, keeping the model's balances (so nearly none is refused).
fn plan_day(
    town: &Town,
    model: &mut Model,
    day: NaiveDate,
    n: u64,
    rng: &mut StdRng,
) -> Vec<(DateTime<Utc>, Op)> {
    let present = town.shoppers_on(day);
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let shopper = rng.random_range(0..present);
        let Some(store) = town.open_store(day, rng) else {
            continue;
        };
        let at = during(day, rng);
        let roll = rng.random_range(0..1000);
        let has_card = town.cards[shopper].is_some();
        let op = if roll < 150 && has_card {
            let yen = 100 * rng.random_range(5..=50);
            model.points[shopper] += yen / 100;
            Op::Earn {
                store,
                shopper,
                yen,
            }
        } else if roll < 180 && has_card && model.points[shopper] >= 50 {
            let points = model.points[shopper] / 2;
            model.points[shopper] -= points;
            Op::Spend {
                store,
                shopper,
                points,
            }
        } else if (180..200).contains(&roll) && !model.recent.is_empty() {
            // A store refunds within 30 days: take one of the last 25 days' payments.
            let since = day - Days::new(REFUND_DAYS);
            let first = model.recent.partition_point(|p| p.0 < since);
            let k = rng.random_range(first.min(model.recent.len() - 1)..model.recent.len());
            let (_, payment, paid_to, payer, yen) =
                model
                    .recent
                    .remove(k)
                    .unwrap_or((day, TransactionId(uuid::Uuid::nil()), 0, 0, 0));
            if roll < 195 {
                let back = (yen / 2).max(1);
                model.coin[payer] += back;
                Op::Refund {
                    store: paid_to,
                    shopper: payer,
                    payment,
                    yen: back,
                }
            } else {
                model.coin[payer] += yen;
                Op::Reverse {
                    shopper: payer,
                    payment,
                }
            }
        } else {
            let yen = 100 * rng.random_range(3..=30);
            if model.coin[shopper] < yen {
                let charged = 1_000 * rng.random_range(5..=30);
                model.coin[shopper] += charged;
                Op::Charge {
                    shopper,
                    yen: charged,
                }
            } else {
                model.coin[shopper] -= yen;
                Op::Pay {
                    shopper,
                    store,
                    yen,
                    day,
                }
            }
        };
        out.push((at, op));
    }
    out
}

type Pending = (
    Vec<Op>,
    tokio::task::JoinHandle<Vec<Result<Reply, AppError>>>,
);

/// Queues `ops` as one writer batch.
fn submit(app: &App, town: &Town, ops: Vec<(DateTime<Utc>, Op)>) -> Pending {
    let ctx = Ctx {
        city: town.city,
        admin: town.admin,
        currency: town.currency,
        points: town.points,
    };
    let jobs: Vec<_> = ops
        .iter()
        .map(|(at, op)| {
            let (at, op) = (*at, op.clone());
            let store = match op {
                Op::Pay { store, .. }
                | Op::Refund { store, .. }
                | Op::Earn { store, .. }
                | Op::Spend { store, .. } => Some(town.stores[store]),
                _ => None,
            };
            let shopper = match op {
                Op::Charge { shopper, .. }
                | Op::Pay { shopper, .. }
                | Op::Refund { shopper, .. }
                | Op::Reverse { shopper, .. }
                | Op::Earn { shopper, .. }
                | Op::Spend { shopper, .. } => shopper,
            };
            let who = town.shoppers[shopper];
            let card = town.cards[shopper].clone();
            let job: JobFn = Box::new(move |w: &mut Work| -> BoxFuture<'_, _> {
                Box::pin(async move {
                    w.now = at;
                    run_op(w, ctx, op, who, store, card).await
                })
            });
            (None, job)
        })
        .collect();
    let writer = app.writer.clone();
    let handle = tokio::spawn(async move { writer.run_as_one_batch(jobs).await });
    (ops.into_iter().map(|(_, op)| op).collect(), handle)
}

#[derive(Clone, Copy)]
struct Ctx {
    city: CityId,
    admin: Principal,
    currency: ProgramId,
    points: ProgramId,
}

/// One operation as its route's use-case runs it; the reply carries only what the planner
/// needs (a payment's transaction id).
async fn run_op(
    w: &mut Work,
    ctx: Ctx,
    op: Op,
    shopper: ShopperId,
    store: Option<MerchantId>,
    card: Option<CardNumber>,
) -> Result<Reply, AppError> {
    let owner = |merchant| Principal::MerchantOwner {
        merchant,
        city: ctx.city,
    };
    let store = || store.ok_or_else(|| AppError::Internal("no store".into()));
    let card = || card.ok_or_else(|| AppError::Internal("no card".into()));
    let ok = || Reply {
        status: 200,
        body: serde_json::Value::Null,
    };
    match op {
        Op::Charge { yen, .. } => {
            let req = CounterChargeRequest {
                shopper_id: shopper,
                amount: amount(yen)?,
            };
            money::counter_charge_in(w, ctx.admin, ctx.currency, req).await?;
            Ok(ok())
        }
        Op::Pay { yen, .. } => {
            let who = Principal::Shopper {
                id: shopper,
                city: ctx.city,
            };
            let req = PaymentRequest {
                merchant_id: store()?,
                amount: amount(yen)?,
            };
            let done = money::pay_in(w, who, ctx.currency, req).await?;
            Ok(Reply {
                status: 200,
                body: json!(done.value.transaction_id.0),
            })
        }
        Op::Refund { payment, yen, .. } => {
            let m = store()?;
            let req = RefundRequest {
                transaction_id: payment,
                amount: amount(yen)?,
                reason: "返品".into(),
            };
            money::refund_in(w, owner(m), m, req).await?;
            Ok(ok())
        }
        Op::Reverse { payment, .. } => {
            let req = ReversalRequest {
                reason: "誤操作".into(),
            };
            money::reverse_in(w, ctx.admin, payment, req).await?;
            Ok(ok())
        }
        Op::Earn { yen, .. } => {
            let m = store()?;
            let req = EarnRequest {
                program_id: ctx.points,
                card_number: card()?,
                amount: amount(yen)?,
            };
            points::earn_in(w, owner(m), m, req).await?;
            Ok(ok())
        }
        Op::Spend { points: n, .. } => {
            let m = store()?;
            let req = SpendRequest {
                program_id: ctx.points,
                card_number: card()?,
                amount: amount(n)?,
            };
            points::spend_in(w, owner(m), m, req).await?;
            Ok(ok())
        }
    }
}

/// Waits for the oldest batch and brings its outcome into the model and the tally.
async fn settle(p: Option<Pending>, model: &mut Model, tally: &mut Tally) -> Fallible<()> {
    let Some((ops, handle)) = p else {
        return Ok(());
    };
    let results = handle.await.map_err(err)?;
    for (op, r) in ops.into_iter().zip(results) {
        match r {
            Ok(reply) => {
                tally.done += 1;
                *tally.by_kind.entry(op.name()).or_default() += 1;
                if let Op::Pay {
                    shopper,
                    store,
                    yen,
                    day,
                } = op
                    && let Some(id) = reply.body.as_str().and_then(|s| s.parse().ok())
                {
                    if model.recent.len() >= RECENT_PAYMENTS_MAX {
                        model.recent.pop_front();
                    }
                    model
                        .recent
                        .push_back((day, TransactionId(id), store, shopper, yen));
                }
            }
            Err(AppError::Unavailable) => return Err("the writer is unavailable".into()),
            Err(AppError::Internal(e)) => return Err(format!("{}: {e}", op.name()).into()),
            Err(e) => {
                tally.refused += 1;
                *tally
                    .refusals
                    .entry(
                        // One line per kind of refusal: the figures in its message dropped.
                        format!("{} {e}", op.name())
                            .chars()
                            .map(|c| if c.is_ascii_digit() { '#' } else { c })
                            .take(80)
                            .collect(),
                    )
                    .or_default() += 1;
                // What the model thought was there was not: start that shopper afresh.
                match op {
                    Op::Pay { shopper, .. } => model.coin[shopper] = 0,
                    Op::Spend { shopper, .. } => model.points[shopper] = 0,
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

async fn drain(
    pending: &mut VecDeque<Pending>,
    model: &mut Model,
    tally: &mut Tally,
) -> Fallible<()> {
    while let Some(p) = pending.pop_front() {
        settle(Some(p), model, tally).await?;
    }
    Ok(())
}

/// Both programs' expiry as of `day`, as jobs stamped 01:00 JST that day; the jobs it took.
async fn expire_all(app: &App, town: &Town, day: NaiveDate) -> Fallible<u64> {
    let at = jst_start_of_day_utc(day).ok_or("day")? + chrono::Duration::hours(1);
    let mut jobs = 0;
    for (program, kind, policy) in [
        (town.currency, ProgramKind::Currency, COIN_EXPIRY),
        (town.points, ProgramKind::Points, POINT_EXPIRY),
    ] {
        loop {
            let done = app
                .writer
                .answer(None, move |w| {
                    Box::pin(async move {
                        w.now = at;
                        expiry::expire_program_in(w, program, kind, policy, day).await
                    })
                })
                .await
                .map_err(err)?
                .into_value()
                .map_err(err)?;
            jobs += 1;
            if done.is_empty() {
                break;
            }
        }
    }
    Ok(jobs)
}

/// The city, its programs, stores with their participation, shoppers and cards.
async fn setup(
    app: &App,
    a: &FillArgs,
    start: NaiveDate,
    end: NaiveDate,
    rng: &mut StdRng,
) -> Fallible<Town> {
    let boot = directory::bootstrap_city(app, "スケール市".into(), "管理者".into())
        .await
        .map_err(err)?;
    let admin = Principal::Staff {
        id: boot.admin.id,
        city: boot.city.id,
        kind: StaffKind::City,
        role: Role::Admin,
    };
    let program = |v: serde_json::Value| async move {
        let req: NewProgramRequest = serde_json::from_value(v).map_err(err)?;
        Ok::<_, Box<dyn std::error::Error>>(
            directory::create_program(app, admin, req)
                .await
                .map_err(err)?
                .into_value()
                .map_err(err)?
                .id,
        )
    };
    let currency = program(json!({
        "kind": "currency",
        "name": "スケールコイン",
        "settings": {"expiry": {"rule": "months_from_issue_to_month_end", "months": 12}},
    }))
    .await?;
    let points_program = program(json!({
        "kind": "points",
        "name": "スケールカード",
        "settings": {
            "earn_rate": "0.01",
            "point_value_yen": "1",
            "points_funding": "billed",
            "expiry": {"rule": "months_after_last_change", "months": 12},
        },
    }))
    .await?;
    let days = (end - start).num_days();
    // Stores: 60% at the launch (over its first 20 days), the rest spread over the years;
    // 5% close later on, 1% are suspended.
    let mut joined = Vec::with_capacity(a.stores);
    let mut gone = Vec::with_capacity(a.stores);
    for i in 0..a.stores {
        let on = if i * 10 < a.stores * 6 {
            start + Days::new((i % 20) as u64)
        } else {
            start + Days::new(rng.random_range(20..days - 60) as u64)
        };
        let left_after = (end - on).num_days();
        let out = match rng.random_range(0..100) {
            0..5 => Some(ParticipationKind::Left),
            5 => Some(ParticipationKind::Suspended),
            _ => None,
        }
        .map(|k| (on + Days::new(rng.random_range(30..left_after) as u64), k));
        joined.push(on);
        gone.push(out);
    }
    let names: Vec<usize> = (0..a.stores).collect();
    let mut stores = Vec::with_capacity(a.stores);
    for chunk in names.chunks(SETUP_CONCURRENCY) {
        let made = join_all(chunk.iter().map(|&i| async move {
            let req = NewMerchantRequest {
                name: format!("店舗{:05}", i + 1),
            };
            let m = directory::create_merchant(app, admin, req)
                .await?
                .into_value()?
                .item
                .id;
            let profile = Profile {
                external_ref: Some(format!("SC-{:05}", i + 1)),
                name_kana: "テンポ".into(),
                industry: ["飲食", "小売", "サービス", "生活"][i % 4].into(),
                association: Some(format!("第{}商店会", 1 + i % 12)),
                district: format!("第{}地区", 1 + i % 8),
                size_class: [SizeClass::Small, SizeClass::Medium, SizeClass::Large][i % 3],
                address: format!("スケール市{}丁目{}", 1 + i % 9, 1 + i % 40),
                contact: format!("0999-00-{:04}", i % 10_000),
            };
            merchants::put_profile(app, admin, m, profile)
                .await?
                .into_value()?;
            Ok::<_, AppError>(m)
        }))
        .await;
        for m in made {
            stores.push(m.map_err(err)?);
        }
    }
    for p in [currency, points_program] {
        let events: Vec<_> = (0..a.stores)
            .map(|i| (p, stores[i], ParticipationKind::Joined, joined[i]))
            .collect();
        record_all(app, admin, events).await?;
        for (k, fy) in (start.year()..=end.year() - 1).enumerate() {
            let label = city_report::year_label(FiscalYear::new(fy).map_err(err)?);
            let label = label
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            let target = (a.stores as i64 * (70 + 10 * k as i64)) / 100;
            merchants::set_target(app, admin, p, &label, TargetRequest { stores: target })
                .await
                .map_err(err)?;
        }
    }
    // Shoppers: half from the start, the rest arriving evenly over the years.
    let mut arrives = Vec::with_capacity(a.wallets);
    for i in 0..a.wallets {
        let half = a.wallets / 2;
        let offset = if i < half {
            0
        } else {
            ((i - half) as i64 * days) / (a.wallets - half).max(1) as i64
        };
        arrives.push(start + Days::new(offset as u64));
    }
    // Shoppers and their cards: the rows the use-cases write (`directory::create_shopper`
    // without its bearer token, `cards::issue`), SHOPPERS_PER_JOB per writer job, so one job
    // takes one savepoint and the writer one batch per few hundred people instead of two
    // jobs per person (100,000 shoppers took 15 min on PostgreSQL that way).
    let ids: Vec<usize> = (0..a.wallets).collect();
    let mut shoppers = Vec::with_capacity(a.wallets);
    let mut cards_out = Vec::with_capacity(a.wallets);
    let mut wallets = Vec::with_capacity(a.wallets);
    let mut card_wallets = Vec::with_capacity(a.wallets);
    let t = Instant::now();
    let city = boot.city.id;
    for chunk in ids.chunks(SETUP_CONCURRENCY * SHOPPERS_PER_JOB) {
        let made = join_all(chunk.chunks(SHOPPERS_PER_JOB).map(|people| {
            let people = people.to_vec();
            let at = jst_start_of_day_utc(start).unwrap_or_default();
            app.writer.answer(None, move |w| {
                Box::pin(async move {
                    let mut out = Vec::with_capacity(people.len());
                    for i in people {
                        let shopper = directory::store::Shopper {
                            id: ShopperId::new(),
                            city_id: city,
                            display_name: format!("市民{:06}", i + 1),
                            created_at: at,
                            blocked_at: None,
                            blocked_reason: None,
                            blocked_by: None,
                        };
                        directory::store::insert_shopper(&mut w.tx, &shopper).await?;
                        // Nine in ten have a linked point card.
                        let card = if i % 10 == 7 {
                            None
                        } else {
                            let number = CardNumber::generate();
                            let card = points::store::CardRow {
                                id: CardId::new(),
                                program_id: points_program,
                                number: number.as_str().into(),
                                shopper_id: Some(shopper.id.0),
                                status: "active".into(),
                                replaced_by: None,
                                imported_balance: None,
                                last_used_at: None,
                                created_at: at,
                            };
                            points::store::insert_card(&mut w.tx, &card).await?;
                            let wallet = rows::ensure_account(
                                &mut w.tx,
                                points_program,
                                AccountKind::ShopperWallet,
                                Asset::Points,
                                Some(card.id.0),
                            )
                            .await?;
                            Some((number, card.id, wallet.id))
                        };
                        let wallet = rows::ensure_account(
                            &mut w.tx,
                            currency,
                            AccountKind::ShopperWallet,
                            Asset::Coin,
                            Some(shopper.id.0),
                        )
                        .await?;
                        out.push((shopper.id, wallet.id, card));
                    }
                    Ok(machipay::writer::Done::created(out))
                })
            })
        }))
        .await;
        for m in made {
            for (id, wallet, card) in m.map_err(err)?.into_value().map_err(err)? {
                shoppers.push(id);
                wallets.push(wallet);
                card_wallets.push(card.as_ref().map(|c| (c.1, c.2)));
                cards_out.push(card.map(|c| c.0));
            }
        }
        println!(
            "  {} shoppers ({:.1} s)",
            shoppers.len(),
            t.elapsed().as_secs_f64()
        );
    }
    // The stores' accounts and the issuer float, 100 stores per writer job.
    let mut store_coin = Vec::with_capacity(a.stores);
    let mut store_points = Vec::with_capacity(a.stores);
    for chunk in stores.chunks(100) {
        let chunk = chunk.to_vec();
        let made = app
            .writer
            .answer(None, move |w| {
                Box::pin(async move {
                    let mut out = Vec::with_capacity(chunk.len());
                    for m in chunk {
                        let coin = rows::ensure_account(
                            &mut w.tx,
                            currency,
                            AccountKind::Merchant,
                            Asset::Coin,
                            Some(m.0),
                        )
                        .await?;
                        let pts = rows::ensure_account(
                            &mut w.tx,
                            points_program,
                            AccountKind::Merchant,
                            Asset::Points,
                            Some(m.0),
                        )
                        .await?;
                        out.push((coin.id, pts.id));
                    }
                    Ok(machipay::writer::Done::created(out))
                })
            })
            .await
            .map_err(err)?
            .into_value()
            .map_err(err)?;
        for (c, p) in made {
            store_coin.push(c);
            store_points.push(p);
        }
    }
    let float = app
        .writer
        .answer(None, move |w| {
            Box::pin(async move {
                let float = rows::ensure_account(
                    &mut w.tx,
                    currency,
                    AccountKind::IssuerFloat,
                    Asset::Coin,
                    None,
                )
                .await?;
                Ok(machipay::writer::Done::created(float.id))
            })
        })
        .await
        .map_err(err)?
        .into_value()
        .map_err(err)?;
    Ok(Town {
        accounts: bulk::Accounts {
            float,
            wallets,
            cards: card_wallets,
            store_coin,
            store_points,
        },
        city: boot.city.id,
        admin,
        currency,
        points: points_program,
        stores,
        joined,
        gone,
        shoppers,
        arrives,
        cards: cards_out,
    })
}

type Event = (ProgramId, MerchantId, ParticipationKind, NaiveDate);

async fn record_all(app: &App, admin: Principal, events: Vec<Event>) -> Fallible<()> {
    for chunk in events.chunks(SETUP_CONCURRENCY) {
        let done = join_all(
            chunk
                .iter()
                .map(|&(program, merchant, kind, on)| async move {
                    let reason = match kind {
                        ParticipationKind::Joined => None,
                        ParticipationKind::Suspended => Some("規約確認のため一時停止".to_owned()),
                        _ => Some("閉店".to_owned()),
                    };
                    let req = EventRequest {
                        kind,
                        effective_on: Some(on),
                        reason,
                    };
                    merchants::record_event(app, admin, program, merchant, req)
                        .await?
                        .into_value()
                }),
        )
        .await;
        for d in done {
            d.map_err(err)?;
        }
    }
    Ok(())
}

/// Closures and suspensions, once the history before them is in.
async fn departures(app: &App, town: &Town) -> Fallible<()> {
    let mut events = Vec::new();
    for p in [town.currency, town.points] {
        for (i, g) in town.gone.iter().enumerate() {
            if let Some((on, kind)) = g {
                events.push((p, town.stores[i], *kind, *on));
            }
        }
    }
    record_all(app, town.admin, events).await
}

/// Times `f` `runs` times; (ms per run, peak MiB during the runs).
async fn time<T, F, Fut>(runs: usize, f: F) -> Fallible<(Vec<f64>, f64)>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, AppError>>,
{
    let reset = reset_peak();
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f().await.map_err(err)?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok((ms, if reset { peak_mib() } else { f64::NAN }))
}

async fn measure(a: MeasureArgs) -> Fallible<()> {
    let app = open(&a.database_url).await?;
    let programs = expiry::store::all_programs(&app.db).await.map_err(err)?;
    let of = |k: &str| {
        programs
            .iter()
            .find(|p| p.kind == k)
            .map(|p| p.id)
            .ok_or_else(|| format!("no {k} program"))
    };
    let (currency, points_program) = (of("currency")?, of("points")?);
    let city = directory::store::get_program(&app.db, currency)
        .await
        .map_err(err)?
        .ok_or("program")?
        .city_id;
    let who = Principal::Staff {
        id: StaffId(uuid::Uuid::nil()),
        city,
        kind: StaffKind::City,
        role: Role::Admin,
    };
    let now = Utc::now();
    let fy_start = match a.fiscal_year {
        Some(y) => y,
        None => FiscalYear::of(jst_date(now)).map_err(err)?.start().year() - 1,
    };
    let fy = FiscalYear::new(fy_start).map_err(err)?;
    let year = Period {
        from: fy.start(),
        to: fy.end(),
        fiscal_year: Some(fy),
    };
    // A range across two 年度 (October to September), and the 年度 up to a past date.
    let range = Period {
        from: NaiveDate::from_ymd_opt(fy_start - 1, 10, 1).ok_or("date")?,
        to: NaiveDate::from_ymd_opt(fy_start, 9, 30).ok_or("date")?,
        fiscal_year: None,
    };
    let past = NaiveDate::from_ymd_opt(fy_start, 12, 31).ok_or("date")?;
    let to_date = Period {
        from: fy.start(),
        to: past,
        fiscal_year: None,
    };
    let reference = NaiveDate::from_ymd_opt(fy_start, 9, 30).ok_or("date")?;
    let fy_label = city_report::year_label(fy);
    let app = &app;
    let mut rows: Vec<(String, (Vec<f64>, f64))> = Vec::new();
    let started = Instant::now();
    rows.push((
        format!("reports/stores {fy_label}"),
        time(a.runs, || {
            city_report::store_report(app, who, currency, year)
        })
        .await?,
    ));
    rows.push((
        format!("reports/stores {}..{}", range.from, range.to),
        time(a.runs, || {
            city_report::store_report(app, who, currency, range)
        })
        .await?,
    ));
    rows.push((
        format!("reports/stores date={past}"),
        time(a.runs, || {
            city_report::store_report(app, who, currency, to_date)
        })
        .await?,
    ));
    rows.push((
        format!("reports/usage {fy_label}"),
        time(a.runs, || {
            city_report::usage_report(app, who, currency, year)
        })
        .await?,
    ));
    rows.push((
        format!("reports/usage {}..{}", range.from, range.to),
        time(a.runs, || {
            city_report::usage_report(app, who, currency, range)
        })
        .await?,
    ));
    // Across two 年度, cutting the first and last months (their days from the day bits).
    let cut = Period {
        from: NaiveDate::from_ymd_opt(fy_start - 1, 10, 15).ok_or("date")?,
        to: NaiveDate::from_ymd_opt(fy_start, 9, 20).ok_or("date")?,
        fiscal_year: None,
    };
    rows.push((
        format!("reports/usage {}..{}", cut.from, cut.to),
        time(a.runs, || {
            city_report::usage_report(app, who, currency, cut)
        })
        .await?,
    ));
    rows.push((
        format!("reports/usage date={past}"),
        time(a.runs, || {
            city_report::usage_report(app, who, currency, to_date)
        })
        .await?,
    ));
    // The 基準日 of the 年度's first half, of the half-year before it, and a day in between.
    let before = NaiveDate::from_ymd_opt(fy_start, 3, 31).ok_or("date")?;
    let mid = NaiveDate::from_ymd_opt(fy_start, 7, 15).ok_or("date")?;
    for date in [reference, before, mid] {
        rows.push((
            format!("reports/unused-balance {date}"),
            time(a.runs, || {
                machipay::features::reports::unused_balance(app, who, currency, Some(date), now)
            })
            .await?,
        ));
    }
    rows.push((
        format!("reports/points {fy_label}"),
        time(a.runs, || {
            points::reports::report(app, who, points_program, fy, now)
        })
        .await?,
    ));
    let fy_before = FiscalYear::new(fy_start - 1).map_err(err)?;
    rows.push((
        format!("reports/points {}", city_report::year_label(fy_before)),
        time(a.runs, || {
            points::reports::report(app, who, points_program, fy_before, now)
        })
        .await?,
    ));
    // As it was asked on a past date (15:00 JST): the 年度 then running, read from the
    // aggregates up to that month and day and the postings since.
    let then = jst_start_of_day_utc(past).ok_or("date")? + chrono::Duration::hours(15);
    rows.push((
        format!("reports/points {fy_label} as of {past} 15:00"),
        time(a.runs, || {
            points::reports::report(app, who, points_program, fy, then)
        })
        .await?,
    ));
    // Every check's verdict, as the timed runs found it (none is run again just to print it).
    let verdicts = std::sync::Mutex::new(Vec::<(String, bool)>::new());
    let verdicts = &verdicts;
    let check_runs = a.check_runs.unwrap_or(a.runs);
    for (name, program) in [("currency", currency), ("points", points_program)] {
        rows.push((
            format!("ledger-check {name} (full)"),
            time(check_runs, || async move {
                let check = money::reads::ledger_check(app, who, program).await?;
                verdicts
                    .lock()
                    .expect("verdicts")
                    .push((format!("full {name}"), check.ok));
                Ok::<_, AppError>(())
            })
            .await?,
        ));
    }
    for (name, program) in [("currency", currency), ("points", points_program)] {
        rows.push((
            format!("ledger-check incremental {name}"),
            time(a.runs, || async move {
                let check = money::check::incremental_as(app, who, program).await?;
                verdicts
                    .lock()
                    .expect("verdicts")
                    .push((format!("incremental {name}"), check.ok));
                Ok::<_, AppError>(())
            })
            .await?,
        ));
    }
    for (name, ok) in verdicts.lock().expect("verdicts").iter() {
        println!("ledger-check {name}: ok={ok}");
    }
    if a.check_aggregates {
        let t = Instant::now();
        let diff = machipay::writer::aggregates::check(&app.db, None)
            .await
            .map_err(err)?;
        println!(
            "check-aggregates: {} in {:.1} s",
            diff.map_or("ok".into(), |d| format!("DIFFERS {d:?}")),
            t.elapsed().as_secs_f64()
        );
    }
    println!("| measured | run 1 ms | run 2 ms | run 3 ms | peak MiB |");
    println!("|---|---:|---:|---:|---:|");
    for (name, (ms, peak)) in &rows {
        let cell = |i: usize| ms.get(i).map_or("-".into(), |m| format!("{m:.0}"));
        println!(
            "| {name} | {} | {} | {} | {peak:.0} |",
            cell(0),
            cell(1),
            cell(2)
        );
    }
    println!(
        "measured in {:.1} s; process peak (VmHWM) {:.0} MiB",
        started.elapsed().as_secs_f64(),
        peak_mib()
    );
    Ok(())
}

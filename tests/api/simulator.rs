//! The batch-partition simulator, in the spirit of TigerBeetle's VOPR: a seeded random
//! sequence of writer jobs of every kind runs twice on two identical fresh databases, once
//! one job per batch and once split into random batches (`Writer::run_as_one_batch`), with
//! injected failures: jobs that refuse or panic after doing their work, and (batched run only)
//! storage faults that fail a whole batch, which is then re-submitted with the same keys until
//! it goes through, as a client retrying a 503 would. Each job's answer (status and body, modulo generated ids and wall-clock
//! times) and the books (every account's balance, every transaction's postings, every lot's
//! remainder) must come out identical, and the invariants must hold on both: the library's
//! ledger check (balanced, balances = postings = lots, no negative wallet) and, per original
//! transaction, what its refunds, returns and reversals gave back ≤ what it moved.
//!
//! Why it holds: the writer promises that batching is invisible. A job sees exactly what it
//! would have seen alone (pending rows are laid over reads, a failed job is undone whole,
//! remembered facts are dropped with it), so where the split changes nothing, nothing may
//! differ. The clock is fixed per job (`Work::now`), so the two runs are comparable. A batch
//! that meets a storage fault answers every job 503 and changes nothing (or, its commit's
//! acknowledgement lost, commits and answers 503: the retry must replay the stored replies and
//! move nothing again), so its successful retry answers what the sequential run did.
//!
//! A fixed set of seeds runs in CI on both backends. A longer random run:
//! `SIM_SEED=random SIM_STEPS=3000 cargo test --test api simulator_seed_1::sqlite -- --nocapture`
//! prints its seed; `SIM_SEED=<n>` replays it.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures::future::BoxFuture;
use machipay::db::Db;
use machipay::error::AppError;
use machipay::features::campaigns::{premium as currency, rebates};
use machipay::features::payments as money;
use machipay::features::points::cards;
use machipay::features::{expiry, points, settlement};
use machipay::writer::faults::Fault as StorageFault;
use machipay::writer::{Idempotency, JobFn, Reply, Work};
use machipay_domain::auth::Principal;
use machipay_domain::calendar::jst_date;
use machipay_domain::card::CardNumber;
use machipay_domain::expiry::ExpiryPolicy;
use machipay_domain::ids::{CardId, CityId, MerchantId, ProgramId, SettlementRunId, ShopperId};
use machipay_domain::money::Amount;
use machipay_domain::program::ProgramKind;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    simulator_seed_1,
    simulator_seed_2,
    simulator_seed_3,
    a_retry_after_a_flush_in_its_batch_gets_the_first_answer,
);

/// Steps per fixed seed in CI: with setup, about 10 s per seed and backend on 2 cores.
const CI_STEPS: usize = 150;
const STORES: usize = 4;
const SHOPPERS: usize = 5;
const CARDS: usize = 4;
/// Largest random batch; the writer's own limit is 256.
const GROUP_MAX: usize = 12;

async fn simulator_seed_1(app: &TestApp) {
    simulate(app, 0x5eed_0001).await;
}

async fn simulator_seed_2(app: &TestApp) {
    simulate(app, 0x5eed_0002).await;
}

async fn simulator_seed_3(app: &TestApp) {
    simulate(app, 0x5eed_0003).await;
}

/// Found by the simulator (seed 0x5eed0001): a key used earlier in a batch whose reply a
/// later job's statement had already written (its barrier flushes pending rows) was not found
/// again, so the retry ran a second time and its second reply failed the whole batch (503).
async fn a_retry_after_a_flush_in_its_batch_gets_the_first_answer(app: &TestApp) {
    let op = app.operator().await;
    let operator = principal(app, &op).await;
    let program = app.currency().await;
    let (a, _) = app.shopper(&op).await;
    let (b, _) = app.shopper(&op).await;
    let program_id = ProgramId(Uuid::parse_str(&program).expect("id"));
    let charge = |shopper: &str| -> JobFn {
        let req = money::CounterChargeRequest {
            shopper_id: ShopperId(Uuid::parse_str(shopper).expect("id")),
            amount: Amount::new(1_000).expect("amount"),
        };
        Box::new(move |w: &mut Work| -> BoxFuture<'_, _> {
            Box::pin(async move {
                let done = money::counter_charge_in(w, operator, program_id, req).await?;
                Reply::new(done.status(), &done.value)
            })
        })
    };
    let key = || Idempotency {
        scope: operator.scope_id(),
        key: "till-retry".into(),
        request_hash: b"charge a 1000".to_vec(),
    };
    // The second job opens b's wallet: a statement, so everything pending is written first.
    let results = app
        .app
        .writer
        .run_as_one_batch(vec![
            (Some(key()), charge(&a)),
            (None, charge(&b)),
            (Some(key()), charge(&a)),
        ])
        .await;
    let first = results[0].as_ref().expect("the charge");
    assert_eq!(first.status, 201, "{:?}", first.body);
    assert_eq!(results[2].as_ref().expect("the retry"), first);
    assert_eq!(results[1].as_ref().expect("b's charge").status, 201);
    assert_eq!(
        app.wallet(&program, &a, "coin").await,
        1_000,
        "charged once"
    );
    app.assert_ledger_ok(&program).await;
}

/// The seed and length: `SIM_SEED` (a number, or `random`) and `SIM_STEPS` override the
/// fixed ones, for long runs from the command line.
fn seed_and_steps(fixed: u64) -> (u64, usize) {
    let seed = match std::env::var("SIM_SEED").ok().as_deref() {
        None | Some("") => fixed,
        Some("random") => rand::random(),
        Some(n) => n.parse().expect("SIM_SEED is a number or `random`"),
    };
    let steps = std::env::var("SIM_STEPS")
        .ok()
        .map_or(CI_STEPS, |n| n.parse().expect("SIM_STEPS is a number"));
    (seed, steps)
}

/// What an injected panic says; `quiet_injected_panics` keeps it out of the output.
const INJECTED_PANIC: &str = "simulator: injected panic after the work";

/// Injected panics are expected (the writer answers them 500): only they skip the default
/// hook, so every other panic, in any test, still prints as usual.
fn quiet_injected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&INJECTED_PANIC) {
                default(info);
            }
        }));
    });
}

async fn simulate(sequential: &TestApp, fixed_seed: u64) {
    quiet_injected_panics();
    let (seed, steps) = seed_and_steps(fixed_seed);
    let backend = sequential.app.db.backend();
    println!("simulator: seed {seed}, {steps} steps, {backend:?}");
    let batched = twin(sequential).await;
    let plan = Plan::generate(seed, steps);
    let one = Run::new(sequential).await;
    let two = Run::new(&batched).await;
    let seq_outcomes = one.play(&plan, None).await;
    let mut split = Split {
        seed,
        sizes: StdRng::seed_from_u64(seed ^ 0xba7c_4ed0),
        // Apart from the sizes' stream, so a seed splits its plan as it did before faults.
        faults: StdRng::seed_from_u64(seed ^ 0xfa17_5eed),
        injected: BTreeMap::new(),
    };
    let bat_outcomes = two.play(&plan, Some(&mut split)).await;
    let (mut n1, mut n2) = (one.interner(), two.interner());
    for (i, (a, b)) in seq_outcomes.iter().zip(&bat_outcomes).enumerate() {
        let (a, b) = (n1.normalize(a), n2.normalize(b));
        assert_eq!(
            a, b,
            "seed {seed}: job {i} ({:?}) answered differently alone and batched",
            plan.steps[i]
        );
    }
    let books1 = one.books(&mut n1).await;
    let books2 = two.books(&mut n2).await;
    for (a, b) in books1.iter().zip(&books2) {
        assert_eq!(a, b, "seed {seed}: the books differ");
    }
    assert_eq!(books1.len(), books2.len(), "seed {seed}: the books differ");
    one.check_invariants(seed).await;
    two.check_invariants(seed).await;
    println!("simulator: seed {seed} ok; {}", tally(&plan, &seq_outcomes));
    let injected: Vec<String> = split
        .injected
        .iter()
        .map(|(k, n)| format!("{k}×{n}"))
        .collect();
    println!("simulator: storage faults: {}", injected.join(", "));
    batched.cleanup().await;
}

/// What the jobs answered, per kind: "Pay 201×30 422 insufficient_funds×4 ...", so a
/// reader sees which paths a seed exercised.
fn tally(plan: &Plan, outcomes: &[Outcome]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (step, (status, body)) in plan.steps.iter().zip(outcomes) {
        let kind = format!("{:?}", step.op);
        let kind = kind.split([' ', '{']).next().unwrap_or_default();
        let code = body["error"]["code"].as_str().unwrap_or_default();
        *counts.entry(format!("{kind} {status} {code}")).or_insert(0) += 1;
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(k, n)| format!("{}×{n}", k.trim_end()))
        .collect();
    parts.join(", ")
}

/// A second fresh database on the same backend.
async fn twin(app: &TestApp) -> TestApp {
    match app.app.db.backend() {
        machipay::db::Backend::Sqlite => TestApp::sqlite().await,
        machipay::db::Backend::Postgres => TestApp::postgres()
            .await
            .expect("PostgreSQL answered a moment ago"),
    }
}

// ---------------------------------------------------------------------------------------------
// The plan: what happens, decided by the seed alone

/// One job of the plan. References to earlier jobs are by position in the plan; each run
/// maps a position to what that job created in its own database.
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
    },
    Transfer {
        from: usize,
        to: usize,
        yen: i64,
    },
    /// Premium sets bought at the counter.
    Premium {
        shopper: usize,
        units: i32,
    },
    Refund {
        payment: usize,
        store: usize,
        yen: i64,
    },
    Reverse {
        original: usize,
    },
    /// `stale`: with the card's first number, which a replacement retires.
    Earn {
        store: usize,
        card: usize,
        stale: bool,
        yen: i64,
    },
    Spend {
        store: usize,
        card: usize,
        points: i64,
    },
    /// One bill paid with the card's points and its holder's currency wallet.
    Checkout {
        store: usize,
        card: usize,
        yen: i64,
    },
    Return {
        original: usize,
        store: usize,
        amount: i64,
    },
    Replace {
        card: usize,
    },
    Expire {
        points: bool,
    },
    Grant,
    Settle,
    Confirm,
    /// The same request again with the same key (or, `altered`, another body with it).
    Replay {
        of: usize,
        altered: bool,
    },
}

/// How a job is made to fail after doing its work: everything it wrote must be undone.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// The job does its work, then refuses (a named 409): rolled back, and the refusal is
    /// stored and replayed like any other.
    RefuseAfter,
    /// The job does its work, then panics: rolled back, answered 500, nothing stored.
    PanicAfter,
}
// Storage faults (`StorageFault`) belong to a batch, not a job: `Split::storage_fault`.

/// How the batched run splits the plan, and the storage faults its batches meet.
struct Split {
    seed: u64,
    sizes: StdRng,
    faults: StdRng,
    /// Faults armed, by kind and whether they fired, for the summary line.
    injected: BTreeMap<String, usize>,
}

/// Attempts of one batch that may meet a storage fault; the next one goes through.
const FAULTED_ATTEMPTS_MAX: usize = 3;

impl Split {
    /// The storage fault an attempt of steps `range` meets, if any: a quarter of attempts, at
    /// most `FAULTED_ATTEMPTS_MAX` per batch. A lost commit acknowledgement only where the
    /// retry must replay every answer: each job keyed and none panicking (a 500 is not stored,
    /// so its retry would run the job again, after the rest of its batch, and may rightly
    /// answer otherwise than it did alone; a job without a key would run twice).
    fn storage_fault(
        &mut self,
        plan: &Plan,
        range: Range<usize>,
        attempt: usize,
    ) -> Option<StorageFault> {
        if attempt >= FAULTED_ATTEMPTS_MAX || !self.faults.random_bool(0.25) {
            return None;
        }
        let jobs = u32::try_from(range.len()).expect("a small batch");
        let replayable = range
            .into_iter()
            .all(|k| plan.keyed(k) && plan.steps[k].fault != Fault::PanicAfter);
        let kinds = if replayable { 4 } else { 3 };
        Some(match self.faults.random_range(0..kinds) {
            // A job runs a few statements, or none (a payment leaves its rows pending).
            0 => StorageFault::Statement(self.faults.random_range(1..=2 * jobs + 1)),
            1 => StorageFault::Flush,
            2 => StorageFault::Commit,
            _ => StorageFault::CommitLost,
        })
    }

    fn note(&mut self, fault: StorageFault, fired: bool) {
        let kind = match fault {
            StorageFault::Statement(_) => "Statement".to_owned(),
            other => format!("{other:?}"),
        };
        let kind = if fired { kind } else { kind + " (missed)" };
        *self.injected.entry(kind).or_insert(0) += 1;
    }
}

#[derive(Debug, Clone)]
struct Step {
    op: Op,
    fault: Fault,
    /// Minutes since the start of the simulation: the job's `Work::now`.
    at_minutes: i64,
}

struct Plan {
    steps: Vec<Step>,
}

impl Plan {
    fn generate(seed: u64, n: usize) -> Plan {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut steps: Vec<Step> = Vec::with_capacity(n);
        let mut at = 0i64;
        for i in 0..n {
            at += rng.random_range(10..24 * 60);
            let op = Self::op(&mut rng, &steps, i);
            let fault = match rng.random_range(0..100) {
                0..6 => Fault::RefuseAfter,
                6..9 => Fault::PanicAfter,
                _ => Fault::None,
            };
            let fault = if matches!(op, Op::Replay { .. }) {
                Fault::None
            } else {
                fault
            };
            steps.push(Step {
                op,
                fault,
                at_minutes: at,
            });
        }
        Plan { steps }
    }

    /// Whether step `k`'s job carries an idempotency key (a replay carries its original's).
    fn keyed(&self, k: usize) -> bool {
        match self.steps[k].op {
            Op::Replay { of, .. } => self.steps[of].op.keyed(),
            ref op => op.keyed(),
        }
    }

    /// A recent earlier step matching `want`, if any.
    fn pick(rng: &mut StdRng, steps: &[Step], want: impl Fn(&Op) -> bool) -> Option<usize> {
        let found: Vec<usize> = (0..steps.len())
            .rev()
            .filter(|&i| want(&steps[i].op))
            .take(12)
            .collect();
        (!found.is_empty()).then(|| found[rng.random_range(0..found.len())])
    }

    fn op(rng: &mut StdRng, steps: &[Step], i: usize) -> Op {
        loop {
            let op = match rng.random_range(0..100) {
                0..16 => Op::Charge {
                    shopper: rng.random_range(0..SHOPPERS),
                    yen: rng.random_range(1..30_000),
                },
                16..36 => Op::Pay {
                    shopper: rng.random_range(0..SHOPPERS),
                    store: rng.random_range(0..STORES),
                    yen: rng.random_range(1..8_000),
                },
                36..38 => Op::Premium {
                    shopper: rng.random_range(0..SHOPPERS),
                    units: rng.random_range(1..3),
                },
                38..41 => Op::Transfer {
                    from: rng.random_range(0..SHOPPERS),
                    to: rng.random_range(0..SHOPPERS),
                    yen: rng.random_range(1..5_000),
                },
                41..49 => match Self::pick(rng, steps, Op::pays) {
                    Some(p) => {
                        let (Op::Pay { store, yen, .. } | Op::Checkout { store, yen, .. }) =
                            steps[p].op
                        else {
                            unreachable!()
                        };
                        Op::Refund {
                            payment: p,
                            store,
                            yen: rng.random_range(1..=yen + yen / 4),
                        }
                    }
                    None => continue,
                },
                49..55 => {
                    // Half the time, an original that was refunded or returned: the
                    // combination where a reversal may give back too much.
                    let given_back = |o: &Op| matches!(o, Op::Refund { .. } | Op::Return { .. });
                    let original = match Self::pick(rng, steps, given_back) {
                        Some(g) if rng.random_bool(0.5) => match steps[g].op {
                            Op::Refund { payment, .. } => Some(payment),
                            Op::Return { original, .. } => Some(original),
                            _ => unreachable!(),
                        },
                        _ => Self::pick(rng, steps, |o| o.moves_money()),
                    };
                    match original {
                        Some(original) => Op::Reverse { original },
                        None => continue,
                    }
                }
                55..67 => Op::Earn {
                    store: rng.random_range(0..STORES),
                    card: rng.random_range(0..CARDS),
                    stale: rng.random_range(0..10) == 0,
                    yen: rng.random_range(1..20_000),
                },
                67..71 => Op::Checkout {
                    store: rng.random_range(0..STORES),
                    card: rng.random_range(0..CARDS),
                    yen: rng.random_range(1..3_000),
                },
                71..75 => Op::Spend {
                    store: rng.random_range(0..STORES),
                    card: rng.random_range(0..CARDS),
                    points: rng.random_range(1..400),
                },
                75..81 => {
                    let till = |o: &Op| matches!(o, Op::Earn { .. } | Op::Spend { .. });
                    match Self::pick(rng, steps, till) {
                        Some(o) => {
                            let (store, most) = match steps[o].op {
                                Op::Earn { store, yen, .. } => (store, yen),
                                Op::Spend { store, points, .. } => (store, points),
                                _ => unreachable!(),
                            };
                            Op::Return {
                                original: o,
                                store,
                                amount: rng.random_range(1..=most + most / 4),
                            }
                        }
                        None => continue,
                    }
                }
                81..83 => Op::Replace {
                    card: rng.random_range(0..CARDS),
                },
                83..86 => Op::Expire {
                    points: rng.random_bool(0.5),
                },
                86..88 => Op::Grant,
                88..91 => Op::Settle,
                91..93 => Op::Confirm,
                _ => match Self::pick(rng, steps, |o| o.keyed()) {
                    Some(of) if of < i => Op::Replay {
                        of,
                        altered: rng.random_range(0..5) == 0,
                    },
                    _ => continue,
                },
            };
            return op;
        }
    }
}

impl Op {
    /// Whether it pays a store from a currency wallet (what a store may refund).
    fn pays(&self) -> bool {
        matches!(self, Op::Pay { .. } | Op::Checkout { .. })
    }

    /// Whether an operator may try to reverse what it posted.
    fn moves_money(&self) -> bool {
        matches!(
            self,
            Op::Charge { .. }
                | Op::Pay { .. }
                | Op::Transfer { .. }
                | Op::Premium { .. }
                | Op::Checkout { .. }
                | Op::Refund { .. }
                | Op::Earn { .. }
                | Op::Spend { .. }
                | Op::Return { .. }
                | Op::Replace { .. }
        )
    }

    /// Whether it is sent with an Idempotency-Key (as its HTTP route requires).
    fn keyed(&self) -> bool {
        !matches!(
            self,
            Op::Expire { .. } | Op::Grant | Op::Settle | Op::Replay { .. }
        )
    }
}

// ---------------------------------------------------------------------------------------------
// A run: one database, its setup, and what its jobs created

/// What the setup made: the same in both runs but for the generated ids.
struct World {
    city: CityId,
    operator: Principal,
    /// A second operator: confirms the settlement runs `operator` makes (the two-person rule).
    confirmer: Principal,
    currency: ProgramId,
    points: ProgramId,
    premium_campaign: Uuid,
    stores: Vec<MerchantId>,
    shoppers: Vec<ShopperId>,
    /// Each card's first id and number.
    cards: Vec<(CardId, CardNumber)>,
    /// Setup ids in a fixed order, so both runs name them alike.
    named: Vec<String>,
    start: DateTime<Utc>,
}

/// What earlier jobs of this run created, by plan position.
#[derive(Default, Clone)]
struct Made {
    transactions: HashMap<usize, Uuid>,
    /// The current id and number of each card (a replacement moves it on).
    cards: Vec<(CardId, CardNumber)>,
    last_run: Option<SettlementRunId>,
}

struct Run<'a> {
    app: &'a TestApp,
    world: Arc<World>,
    made: Arc<Mutex<Made>>,
}

/// A job's answer, as a client sees it: status and body.
type Outcome = (u16, Value);

fn outcome(result: &Result<Reply, AppError>) -> Outcome {
    match result {
        Ok(r) => (r.status, r.body.clone()),
        Err(e) => {
            let (status, envelope) = e.status_and_body();
            (status, serde_json::to_value(envelope).expect("envelope"))
        }
    }
}

impl<'a> Run<'a> {
    async fn new(app: &'a TestApp) -> Run<'a> {
        let world = Arc::new(setup(app).await);
        let made = Made {
            cards: world.cards.clone(),
            ..Made::default()
        };
        Run {
            app,
            world,
            made: Arc::new(Mutex::new(made)),
        }
    }

    fn interner(&self) -> Interner {
        let mut n = Interner::default();
        for (i, id) in self.world.named.iter().enumerate() {
            n.names.insert(id.clone(), format!("setup#{i}"));
        }
        n
    }

    /// Plays the plan: one job per batch, or (`split`) in random groups of 1..=GROUP_MAX that
    /// may meet storage faults.
    async fn play(&self, plan: &Plan, mut split: Option<&mut Split>) -> Vec<Outcome> {
        let mut out = Vec::with_capacity(plan.steps.len());
        let mut i = 0;
        while i < plan.steps.len() {
            let results = match split.as_deref_mut() {
                Some(split) => {
                    let size = split.sizes.random_range(1..=GROUP_MAX);
                    let range = i..(i + size).min(plan.steps.len());
                    self.batch_until_through(plan, range, split).await
                }
                None => {
                    let (idem, job) = self.job(plan, i);
                    let one = vec![(idem, job)];
                    self.app.app.writer.run_as_one_batch(one).await
                }
            };
            i += results.len();
            out.extend(results.iter().map(outcome));
        }
        out
    }

    /// Runs steps `range` as one batch, which may meet a storage fault, and re-submits it with
    /// the same keys until it goes through, as clients retrying their 503s would. A faulted
    /// attempt must answer every job 503 and change nothing; once a commit went through with
    /// its acknowledgement lost, no retry may change anything.
    async fn batch_until_through(
        &self,
        plan: &Plan,
        range: Range<usize>,
        split: &mut Split,
    ) -> Vec<Result<Reply, AppError>> {
        let writer = &self.app.app.writer;
        let seed = split.seed;
        let steps = || format!("seed {seed}: steps {range:?}");
        // The books as the lost commit left them.
        let mut committed: Option<Vec<String>> = None;
        let mut attempt = 0;
        loop {
            // The batched run reads ahead the wallets of each step's shopper, as the payment
            // routes do (`Writer::answer_for`); the sequential run it is compared with does not.
            let jobs: Vec<_> = range
                .clone()
                .map(|k| {
                    let (idem, job) = self.job(plan, k);
                    (idem, self.ahead(plan, k), job)
                })
                .collect();
            let fault = split.storage_fault(plan, range.clone(), attempt);
            // What the jobs remember is undone with them (a replaced card's new number).
            let made = self.made.lock().expect("made").clone();
            let before = match (fault, &committed) {
                (Some(_), None) => Some(self.snapshot().await),
                _ => None,
            };
            if let Some(fault) = fault {
                writer.faults().arm(jobs.len(), Some(fault));
            }
            let results = writer.run_as_one_batch_reading_ahead(jobs).await;
            let unavailable = results
                .iter()
                .filter(|r| matches!(r, Err(AppError::Unavailable)))
                .count();
            if let Some(c) = &committed {
                let what = format!("{}: attempt {attempt} after a lost commit", steps());
                assert_unchanged(c, &self.snapshot().await, &what);
            }
            let Some(fault) = fault else {
                assert_eq!(unavailable, 0, "{}: 503 without a fault", steps());
                return results;
            };
            // A batch may run fewer statements than the fault's number, or have no pending
            // rows to write: then it went through.
            let missed = unavailable == 0
                && matches!(fault, StorageFault::Statement(_) | StorageFault::Flush);
            split.note(fault, !missed);
            attempt += 1;
            if missed {
                return results;
            }
            assert_eq!(
                unavailable,
                results.len(),
                "{}: met {fault:?}, so every job must answer 503: {:?}",
                steps(),
                results.iter().map(outcome).collect::<Vec<_>>()
            );
            match (fault, before) {
                (StorageFault::CommitLost, Some(_)) => committed = Some(self.snapshot().await),
                (_, Some(before)) => {
                    let what = format!("{}: met {fault:?}", steps());
                    assert_unchanged(&before, &self.snapshot().await, &what);
                    *self.made.lock().expect("made") = made;
                }
                // After the lost commit: checked above; nothing new to remember.
                (_, None) => *self.made.lock().expect("made") = made,
            }
        }
    }

    /// The writer job for step `k`, with its idempotency.
    /// The shopper whose wallets a step's batch reads ahead: the one who sends it, if a
    /// shopper does.
    fn ahead(&self, plan: &Plan, k: usize) -> Option<Uuid> {
        let op = match plan.steps[k].op {
            Op::Replay { of, .. } => &plan.steps[of].op,
            ref op => op,
        };
        match who(&self.world, op) {
            Principal::Shopper { id, .. } => Some(id.0),
            _ => None,
        }
    }

    fn job(&self, plan: &Plan, k: usize) -> (Option<Idempotency>, JobFn) {
        let step = &plan.steps[k];
        let now = self.world.start + Duration::minutes(step.at_minutes);
        let (op, fault, key_of) = match step.op {
            Op::Replay { of, .. } => (plan.steps[of].op.clone(), Fault::None, of),
            ref op => (op.clone(), step.fault, k),
        };
        let idem = op.keyed().then(|| {
            let mut request_hash = format!("{:?}", plan.steps[key_of].op).into_bytes();
            if matches!(step.op, Op::Replay { altered: true, .. }) {
                request_hash.extend_from_slice(b" altered");
            }
            Idempotency {
                scope: who(&self.world, &op).scope_id(),
                key: format!("sim-{key_of}"),
                request_hash,
            }
        });
        let world = self.world.clone();
        let made = self.made.clone();
        let job: JobFn = Box::new(move |w: &mut Work| -> BoxFuture<'_, _> {
            Box::pin(async move {
                w.now = now;
                let reply = run_op(w, &world, &made, &op).await?;
                match fault {
                    Fault::None => {}
                    Fault::RefuseAfter => {
                        return Err(AppError::Rejected {
                            kind: machipay::error::Refused::Conflict,
                            code: "sim_injected_refusal",
                            message: "refused after doing the work (simulator)".into(),
                        });
                    }
                    Fault::PanicAfter => std::panic::panic_any(INJECTED_PANIC),
                }
                remember(&made, k, &op, &reply);
                Ok(reply)
            })
        });
        (idem, job)
    }
}

/// Who sends a step's request.
fn who(world: &World, op: &Op) -> Principal {
    let city = world.city;
    let store = |i: usize| Principal::MerchantOwner {
        merchant: world.stores[i],
        city,
    };
    let shopper = |i: usize| Principal::Shopper {
        id: world.shoppers[i],
        city,
    };
    match *op {
        Op::Pay { shopper: s, .. } | Op::Transfer { from: s, .. } => shopper(s),
        Op::Refund { store: s, .. }
        | Op::Earn { store: s, .. }
        | Op::Spend { store: s, .. }
        | Op::Checkout { store: s, .. }
        | Op::Return { store: s, .. } => store(s),
        Op::Confirm => world.confirmer,
        _ => world.operator,
    }
}

fn amount(n: i64) -> Result<Amount, AppError> {
    Amount::new(n).map_err(|e| machipay::error::Common::InvalidAmount(e.to_string()).into())
}

/// Runs one step's use-case inside the writer job, exactly as its route does.
async fn run_op(
    w: &mut Work,
    world: &World,
    made: &Mutex<Made>,
    op: &Op,
) -> Result<Reply, AppError> {
    let by = who(world, op);
    let (made_tx, card, run) = {
        let m = made.lock().expect("made");
        let tx = |pos: &usize| m.transactions.get(pos).copied().unwrap_or(Uuid::nil());
        let made_tx = match op {
            Op::Refund { payment: p, .. } => tx(p),
            Op::Reverse { original: p } | Op::Return { original: p, .. } => tx(p),
            _ => Uuid::nil(),
        };
        let card = match *op {
            Op::Earn { card, stale, .. } if stale => Some(world.cards[card].clone()),
            Op::Earn { card, .. }
            | Op::Spend { card, .. }
            | Op::Checkout { card, .. }
            | Op::Replace { card } => Some(m.cards[card].clone()),
            _ => None,
        };
        (made_tx, card, m.last_run)
    };
    let today = jst_date(w.now);
    match *op {
        Op::Charge { shopper, yen } => {
            let req = money::CounterChargeRequest {
                shopper_id: world.shoppers[shopper],
                amount: amount(yen)?,
            };
            let done = money::counter_charge_in(w, by, world.currency, req).await?;
            Reply::new(done.status(), &done.value)
        }
        Op::Pay { store, yen, .. } => {
            let req = money::PaymentRequest {
                merchant_id: world.stores[store],
                amount: amount(yen)?,
            };
            let done = money::pay_in(w, by, world.currency, req).await?;
            Reply::new(done.status(), &done.value)
        }
        Op::Transfer { to, yen, .. } => {
            let req = money::TransferRequest {
                to_shopper_id: world.shoppers[to],
                amount: amount(yen)?,
            };
            let done = money::transfer_in(w, by, world.currency, req).await?;
            Reply::new(done.status(), &done.value)
        }
        Op::Premium { shopper, units } => {
            let req = currency::PurchaseRequest {
                shopper_id: world.shoppers[shopper],
                units,
                ticket_id: None,
            };
            let campaign = world.premium_campaign.into();
            let done = currency::buy_in(w, by, world.currency, campaign, req).await?;
            Reply::new(done.status(), &done.value)
        }
        Op::Checkout { store, yen, .. } => {
            let req = points::CheckoutRequest {
                program_id: world.points,
                card_number: card.expect("a card").1,
                currency_program_id: world.currency,
                amount: amount(yen)?,
            };
            points::checkout_in(w, by, world.stores[store], req)
                .await
                .and_then(|d| Reply::new(d.status(), &d.value))
        }
        Op::Refund { store, yen, .. } => {
            let req = money::RefundRequest {
                transaction_id: made_tx.into(),
                amount: amount(yen)?,
                reason: "返品".into(),
            };
            let done = money::refund_in(w, by, world.stores[store], req).await?;
            Reply::new(done.status(), &done.value)
        }
        Op::Reverse { .. } => {
            let req = money::ReversalRequest {
                reason: "誤操作".into(),
            };
            let done = money::reverse_in(w, by, made_tx.into(), req).await?;
            Reply::new(done.status(), &done.value)
        }
        Op::Earn { store, yen, .. } => {
            let req = points::EarnRequest {
                program_id: world.points,
                card_number: card.expect("a card").1,
                amount: amount(yen)?,
            };
            points::earn_in(w, by, world.stores[store], req)
                .await
                .and_then(|d| Reply::new(d.status(), &d.value))
        }
        Op::Spend {
            store, points: n, ..
        } => {
            let req = points::SpendRequest {
                program_id: world.points,
                card_number: card.expect("a card").1,
                amount: amount(n)?,
            };
            points::spend_in(w, by, world.stores[store], req)
                .await
                .and_then(|d| Reply::new(d.status(), &d.value))
        }
        Op::Return {
            store, amount: n, ..
        } => {
            let req = points::PointReturnRequest {
                transaction_id: made_tx.into(),
                amount: amount(n)?,
            };
            points::return_in(w, by, world.stores[store], req)
                .await
                .and_then(|d| Reply::new(d.status(), &d.value))
        }
        Op::Replace { .. } => {
            let req = cards::ReplacementRequest {
                reason: "紛失".into(),
            };
            cards::replace_in(w, by, card.expect("a card").0, req)
                .await
                .and_then(|d| Reply::new(d.status(), &d.value))
        }
        Op::Expire { points: true } => {
            let policy = ExpiryPolicy::MonthsAfterLastChange { months: 1 };
            let done =
                expiry::expire_program_in(w, world.points, ProgramKind::Points, policy, today)
                    .await?;
            Reply::new(done.status(), &done.value)
        }
        Op::Expire { points: false } => {
            let policy = ExpiryPolicy::MonthsFromIssueToMonthEnd { months: 1 };
            let (p, kind) = (world.currency, ProgramKind::Currency);
            let done = expiry::expire_program_in(w, p, kind, policy, today).await?;
            Reply::new(done.status(), &done.value)
        }
        Op::Grant => {
            let done = rebates::grant_batch(w, today).await?;
            Reply::new(done.status(), &done.value)
        }
        Op::Settle => {
            let closing = today.pred_opt().expect("a day before");
            let transfer =
                machipay_domain::settlement::add_business_days(closing, 5).expect("a business day");
            let done = settlement::run_in(w, by, world.currency, closing, transfer).await?;
            Reply::new(done.status(), &done.value)
        }
        Op::Confirm => {
            let run = run.unwrap_or(SettlementRunId(Uuid::nil()));
            let done = settlement::confirm_in(w, by, world.currency, run).await?;
            Reply::new(done.status(), &done.value)
        }
        Op::Replay { .. } => unreachable!("a replay runs the step it repeats"),
    }
}

/// Notes what a successful job created, for later steps of the same run.
fn remember(made: &Mutex<Made>, k: usize, op: &Op, reply: &Reply) {
    let mut m = made.lock().expect("made");
    let id = |v: &Value| v.as_str().and_then(|s| Uuid::parse_str(s).ok());
    // A checkout's currency part is what a refund or reversal names.
    let made = id(&reply.body["transaction_id"]).or(id(&reply.body["payment_transaction_id"]));
    if let Some(t) = made {
        m.transactions.insert(k, t);
    }
    match *op {
        Op::Replace { card } => {
            let new = &reply.body["new_card"];
            let number = new["number"].as_str().expect("new card number");
            m.cards[card] = (
                CardId(id(&new["id"]).expect("new card id")),
                CardNumber::parse(number).expect("a valid number"),
            );
        }
        Op::Settle => m.last_run = id(&reply.body["id"]).map(SettlementRunId),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Setup, over the API

async fn setup(app: &TestApp) -> World {
    let op = app.operator().await;
    let operator = principal(app, &op).await;
    let confirmer = principal(app, &app.operator().await).await;
    let city = operator.city();
    let currency = app
        .program(
            "currency",
            json!({"p2p_transfers": true, "charge_step_yen": 1, "charge_min_yen": 1,
                "charge_max_yen": 50_000, "holding_cap_yen": 60_000, "closing_days": [],
                "payout_hold_days": 0, "cashout_fee_rate": "0.01",
                "expiry": {"rule": "months_from_issue_to_month_end", "months": 1}}),
        )
        .await;
    let points_program = app
        .program(
            "points",
            json!({"earn_rate": "0.05", "clawback_shortfall": "take_remaining",
                "expiry": {"rule": "months_after_last_change", "months": 1}}),
        )
        .await;
    let start: DateTime<Utc> = "2025-06-02T01:00:00Z".parse().expect("instant");
    let mut named = vec![
        city.0.to_string(),
        operator.scope_id().to_string(),
        currency.clone(),
        points_program.clone(),
    ];
    let mut stores = Vec::new();
    for i in 0..STORES {
        let (m, _) = app.merchant(&op).await;
        // Two categories earn rebates; three stores can be paid out.
        if let Some(category) = ["member", "convenience"].get(i) {
            let path = format!("/api/v1/merchants/{m}/category");
            let (s, v) = app.put(&path, &op, json!({"category": category})).await;
            assert_eq!(s, StatusCode::OK, "{v}");
        }
        if i < 3 {
            let path = format!("/api/v1/merchants/{m}/bank-account");
            let (s, v) = app.put(&path, &op, crate::registry::bank("ヤマダ")).await;
            assert_eq!(s, StatusCode::OK, "{v}");
        }
        named.push(m.clone());
        stores.push(MerchantId(Uuid::parse_str(&m).expect("id")));
    }
    rebate_campaigns(app, &op, &currency, start).await;
    let premium_campaign = premium_campaign(app, &op, &currency).await;
    named.push(premium_campaign.to_string());
    let mut shoppers = Vec::new();
    for _ in 0..SHOPPERS {
        let (s, _) = app.shopper(&op).await;
        named.push(s.clone());
        shoppers.push(ShopperId(Uuid::parse_str(&s).expect("id")));
    }
    let mut cards = Vec::new();
    for (i, shopper) in shoppers.iter().take(CARDS).enumerate() {
        let path = format!("/api/v1/programs/{points_program}/cards");
        let (s, v) = app.post(&path, &op, json!({"shopper_id": shopper})).await;
        assert_eq!(s, StatusCode::CREATED, "card {i}: {v}");
        let (id, number) = (
            v["id"].as_str().expect("id"),
            v["number"].as_str().expect("number"),
        );
        named.push(id.to_owned());
        named.push(number.to_owned());
        cards.push((
            CardId(Uuid::parse_str(id).expect("id")),
            CardNumber::parse(number).expect("number"),
        ));
    }
    World {
        city,
        operator,
        confirmer,
        currency: ProgramId(Uuid::parse_str(&currency).expect("id")),
        points: ProgramId(Uuid::parse_str(&points_program).expect("id")),
        premium_campaign,
        stores,
        shoppers,
        cards,
        named,
        start,
    }
}

/// An immediate rebate at member stores and a batch one at convenience stores, granted a
/// month into the simulation.
async fn rebate_campaigns(app: &TestApp, op: &str, program: &str, start: DateTime<Utc>) {
    let grant_on = jst_date(start + Duration::days(30));
    for (category, rate, mode, grant_on) in [
        ("member", "0.1", "immediate", None),
        ("convenience", "0.05", "batch", Some(grant_on)),
    ] {
        let body = json!({"name": "還元", "tiers": [{"category": category, "rate": rate}],
            "monthly_cap_points": 2_000, "budget_points": 1_000_000,
            "starts_at": start - Duration::days(1), "ends_at": start + Duration::days(60),
            "grant_mode": mode, "grant_on": grant_on});
        let (s, v) = app
            .post_money(
                &format!("/api/v1/programs/{program}/rebate-campaigns"),
                op,
                body,
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
}

/// Premium sets (¥5,000 paid + ¥1,000 premium, two per person) on sale throughout; the
/// premium follows the program's expiry.
async fn premium_campaign(app: &TestApp, op: &str, program: &str) -> Uuid {
    let body = json!({"name": "プレミアム付商品券", "price_yen": 5_000, "premium_yen": 1_000,
        "units_per_person_max": 2, "budget_yen": 12_000,
        "sale_starts_at": "2020-01-01T00:00:00Z", "sale_ends_at": "2099-01-01T00:00:00Z"});
    let path = format!("/api/v1/programs/{program}/premium-campaigns");
    let (s, v) = app.post_money(&path, op, body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    Uuid::parse_str(v["id"].as_str().expect("id")).expect("id")
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

// ---------------------------------------------------------------------------------------------
// Comparing: ids and wall-clock times named by first appearance

/// Names generated ids (UUIDs, card numbers) by order of first appearance, and setup-time
/// instants (the real clock, unlike the jobs' fixed one) as one placeholder, so two runs
/// can be compared value by value.
#[derive(Default)]
struct Interner {
    names: HashMap<String, String>,
}

impl Interner {
    fn name(&mut self, raw: &str) -> String {
        let next = self.names.len();
        self.names
            .entry(raw.to_owned())
            .or_insert_with(|| format!("id#{next}"))
            .clone()
    }

    fn normalize(&mut self, o: &Outcome) -> Outcome {
        (o.0, self.value(&o.1))
    }

    fn value(&mut self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.value(x)).collect()),
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, x)| (k.clone(), self.value(x))).collect())
            }
            other => other.clone(),
        }
    }

    fn text(&mut self, s: &str) -> String {
        let is_number = s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit());
        if Uuid::parse_str(s).is_ok() || is_number {
            return self.name(s);
        }
        match DateTime::parse_from_rfc3339(s) {
            Ok(t)
                if t.with_timezone(&Utc)
                    > "2026-01-01T00:00:00Z"
                        .parse::<DateTime<Utc>>()
                        .expect("instant") =>
            {
                "<wall clock>".into()
            }
            _ => s.to_owned(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The books and the invariants

type AccountRow = (Uuid, Uuid, String, String, Option<Uuid>, i64);
type TransactionRow = (Uuid, String, DateTime<Utc>, Option<Uuid>);
type PostingRow = (Uuid, Uuid, String, i64);
type LotRow = (Uuid, i64, i64, Option<NaiveDate>);

/// Runs one query on either backend's read pool.
macro_rules! fetch {
    ($db:expr, $row:ty, $sql:expr) => {
        match $db {
            Db::Pg(pool, _) => sqlx::query_as::<_, $row>($sql).fetch_all(pool).await,
            Db::Lite { read, .. } => sqlx::query_as::<_, $row>($sql).fetch_all(read).await,
        }
        .expect("query")
    };
}

struct Ledger {
    accounts: Vec<AccountRow>,
    transactions: Vec<TransactionRow>,
    postings: Vec<PostingRow>,
    lots: Vec<LotRow>,
    /// (give-back, original): refunds of payments and point returns of earns and spends.
    gives_back: Vec<(Uuid, Uuid)>,
    /// (payment, grant transaction, shopper, points): batch rebates granted for a payment in a
    /// transaction of their own, which its refunds may claw back.
    grants: Vec<(Uuid, Uuid, Uuid, i64)>,
}

impl Run<'_> {
    async fn ledger(&self) -> Ledger {
        let db = &self.app.app.db;
        let mut gives_back = fetch!(
            db,
            (Uuid, Uuid),
            "SELECT transaction_id, payment_transaction_id FROM refunds"
        );
        gives_back.extend(fetch!(
            db,
            (Uuid, Uuid),
            "SELECT transaction_id, original_id FROM point_movements WHERE original_id IS NOT NULL"
        ));
        Ledger {
            accounts: fetch!(
                db,
                AccountRow,
                "SELECT id, program_id, kind, asset, owner_id, balance FROM accounts"
            ),
            transactions: fetch!(
                db,
                TransactionRow,
                "SELECT id, kind, created_at, reverses_id FROM transactions"
            ),
            postings: fetch!(
                db,
                PostingRow,
                "SELECT transaction_id, account_id, asset, amount FROM postings"
            ),
            lots: fetch!(
                db,
                LotRow,
                "SELECT account_id, amount, remaining, expires_on FROM lots"
            ),
            gives_back,
            grants: fetch!(
                db,
                (Uuid, Uuid, Uuid, i64),
                "SELECT payment_transaction_id, granted_transaction_id, shopper_id, points \
                 FROM rebate_accruals WHERE granted_transaction_id IS NOT NULL"
            ),
        }
    }

    /// What a batch may change, as sorted lines of raw rows: the ledger and the stored
    /// replies.
    async fn snapshot(&self) -> Vec<String> {
        let l = self.ledger().await;
        let replies = fetch!(
            &self.app.app.db,
            (String, i32, String),
            "SELECT key, status_code, response_body FROM idempotency_keys"
        );
        let mut lines: Vec<String> = (l.accounts.iter().map(|r| format!("{r:?}")))
            .chain(l.transactions.iter().map(|r| format!("{r:?}")))
            .chain(l.postings.iter().map(|r| format!("{r:?}")))
            .chain(l.lots.iter().map(|r| format!("{r:?}")))
            .chain(l.gives_back.iter().map(|r| format!("{r:?}")))
            .chain(l.grants.iter().map(|r| format!("{r:?}")))
            .chain(replies.iter().map(|r| format!("{r:?}")))
            .collect();
        lines.sort();
        lines
    }

    /// The books as sorted lines, ids named: every account's balance, every transaction with
    /// its postings, every lot with its remainder.
    async fn books(&self, names: &mut Interner) -> Vec<String> {
        let l = self.ledger().await;
        let mut account_names = HashMap::new();
        for (id, program, kind, asset, owner, _) in &l.accounts {
            let owner = owner.map_or("-".into(), |o| names.name(&o.to_string()));
            let program = names.name(&program.to_string());
            account_names.insert(*id, format!("{program}/{kind}/{asset}/{owner}"));
        }
        let mut lines: Vec<String> = l
            .accounts
            .iter()
            .map(|a| format!("account {} = {}", account_names[&a.0], a.5))
            .collect();
        let mut legs: HashMap<Uuid, Vec<String>> = HashMap::new();
        for (t, account, asset, amount) in &l.postings {
            let leg = format!("{} {asset} {amount}", account_names[account]);
            legs.entry(*t).or_default().push(leg);
        }
        for (id, kind, at, reverses) in &l.transactions {
            let mut legs = legs.remove(id).unwrap_or_default();
            legs.sort();
            let reversal = if reverses.is_some() {
                " (reversal)"
            } else {
                ""
            };
            lines.push(format!("transaction {at} {kind}{reversal}: {legs:?}"));
        }
        for (account, amount, remaining, expires_on) in &l.lots {
            let account = &account_names[account];
            lines.push(format!(
                "lot {account} {remaining}/{amount} until {expires_on:?}"
            ));
        }
        lines.sort();
        lines
    }

    async fn check_invariants(&self, seed: u64) {
        for program in [self.world.currency, self.world.points] {
            let check = machipay::features::payments::reads::ledger_check(
                &self.app.app,
                self.world.operator,
                program,
            )
            .await
            .expect("ledger check");
            assert!(check.ok, "seed {seed}: ledger check failed: {check:?}");
        }
        let l = self.ledger().await;
        for (_, _, kind, asset, owner, balance) in &l.accounts {
            assert!(
                kind != "shopper_wallet" || *balance >= 0,
                "seed {seed}: wallet {owner:?} holds {balance} {asset}"
            );
        }
        // Name transactions by the plan step that made them, for the failure message.
        let steps: HashMap<Uuid, usize> = {
            let m = self.made.lock().expect("made");
            m.transactions.iter().map(|(k, t)| (*t, *k)).collect()
        };
        gave_back_at_most_the_original(&l, &steps, seed);
        // A replaced card can neither earn nor spend: points left on it are lost to the
        // shopper (issue 12, item 3).
        let stranded = fetch!(
            &self.app.app.db,
            (Uuid, i64),
            "SELECT c.id, a.balance FROM point_cards c JOIN accounts a ON a.owner_id = c.id \
             WHERE c.status = 'replaced' AND a.kind = 'shopper_wallet' AND a.balance <> 0"
        );
        assert!(
            stranded.is_empty(),
            "seed {seed}: points left on replaced cards: {stranded:?}"
        );
        // The report aggregates the writer kept equal the postings, every report read from
        // them equals the report over postings, and a rebuild changes nothing.
        let start = self.world.start;
        let days: Vec<chrono::NaiveDate> = [0, 20, 45, 80]
            .iter()
            .map(|n| machipay_domain::calendar::jst_date(start + Duration::days(*n)))
            .collect();
        let nows = [
            start + Duration::days(10) + Duration::hours(5),
            start + Duration::days(40) + Duration::minutes(13 * 60 + 7),
        ];
        crate::aggregates::assert_reports_agree(
            self.app,
            self.world.operator,
            Some(self.world.currency),
            Some(self.world.points),
            &days,
            &nows,
            &format!("seed {seed}"),
        )
        .await;
        let db = &self.app.app.db;
        let before = machipay::writer::aggregates::snapshot(db)
            .await
            .expect("snapshot");
        machipay::writer::aggregates::rebuild(&self.app.app.writer)
            .await
            .expect("rebuild");
        let after = machipay::writer::aggregates::snapshot(db)
            .await
            .expect("snapshot");
        assert_unchanged(
            &before,
            &after,
            &format!("seed {seed}: aggregates after a rebuild"),
        );
    }
}

/// Two snapshots (`Run::snapshot`) must be the same; says which rows differ.
fn assert_unchanged(before: &[String], after: &[String], what: &str) {
    let gone: Vec<&String> = (before.iter())
        .filter(|l| after.binary_search(l).is_err())
        .collect();
    let new: Vec<&String> = (after.iter())
        .filter(|l| before.binary_search(l).is_err())
        .collect();
    assert!(
        gone.is_empty() && new.is_empty() && before.len() == after.len(),
        "{what}: the books changed; gone {gone:?}, new {new:?}"
    );
}

/// Per (account, asset): (credits, debits).
type Flows = BTreeMap<(Uuid, String), (i64, i64)>;

/// For every original transaction, per account and asset: what its refunds, returns and
/// reversal moved back never exceeds what it moved the other way. Flows are gross per
/// direction, because one original may move both ways on one account (a payment that spends
/// rebate points and earns new ones on the same wallet); a give-back that was itself reversed
/// gave nothing back.
fn gave_back_at_most_the_original(l: &Ledger, steps: &HashMap<Uuid, usize>, seed: u64) {
    let kinds: HashMap<Uuid, &str> = l
        .transactions
        .iter()
        .map(|(id, kind, _, _)| (*id, kind.as_str()))
        .collect();
    let name = |t: &Uuid| match steps.get(t) {
        Some(k) => format!("{} (step {k})", kinds[t]),
        None => kinds[t].to_owned(),
    };
    // Per transaction and (account, asset): (credits, debits).
    let mut flows: HashMap<Uuid, Flows> = HashMap::new();
    for (t, account, asset, amount) in &l.postings {
        let slot = flows
            .entry(*t)
            .or_default()
            .entry((*account, asset.clone()))
            .or_insert((0, 0));
        if *amount > 0 {
            slot.0 += amount;
        } else {
            slot.1 -= amount;
        }
    }
    // A batch rebate is part of what its payment moved: the points its grant put on the
    // shopper's wallet for that payment (a refund claws them back).
    for (payment, grant, shopper, points) in &l.grants {
        let Some(wallet) = flows.get(grant).and_then(|legs| {
            legs.keys().find(|(account, _)| {
                l.accounts
                    .iter()
                    .any(|a| a.0 == *account && a.2 == "shopper_wallet" && a.4 == Some(*shopper))
            })
        }) else {
            continue;
        };
        let leg = wallet.clone();
        flows
            .entry(*payment)
            .or_default()
            .entry(leg)
            .or_insert((0, 0))
            .0 += points;
    }
    let reversal_of: HashMap<Uuid, Uuid> = l
        .transactions
        .iter()
        .filter_map(|(id, _, _, reverses)| reverses.map(|r| (r, *id)))
        .collect();
    let mut back: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (giver, original) in &l.gives_back {
        if !reversal_of.contains_key(giver) {
            back.entry(*original).or_default().push(*giver);
        }
    }
    for (original, reversal) in &reversal_of {
        back.entry(*original).or_default().push(*reversal);
    }
    let empty = BTreeMap::new();
    for (original, givers) in &back {
        let moved = flows.get(original).unwrap_or(&empty);
        let mut given = Flows::new();
        for g in givers {
            for (leg, (credit, debit)) in flows.get(g).unwrap_or(&empty) {
                let slot = given.entry(leg.clone()).or_insert((0, 0));
                slot.0 += credit;
                slot.1 += debit;
            }
        }
        for (leg, (credit, debit)) in moved {
            let (back_credit, back_debit) = given.get(leg).copied().unwrap_or((0, 0));
            let kind = l
                .accounts
                .iter()
                .find(|x| x.0 == leg.0)
                .map(|x| x.2.as_str());
            assert!(
                back_credit <= *debit && back_debit <= *credit,
                "seed {seed}: {} moved +{credit}/-{debit} {} on {} {}, and what gave it back \
                 ({}) moved +{back_credit}/-{back_debit}",
                name(original),
                leg.1,
                kind.unwrap_or_default(),
                leg.0,
                givers.iter().map(name).collect::<Vec<_>>().join(", ")
            );
        }
    }
}

//! The single writer. Every write goes through one task that takes jobs off a queue, runs up
//! to `BATCH_SIZE_MAX` of them in one database transaction and commits once: group commit. A
//! job takes a savepoint only when it runs a statement that needs one (`WriteTx::barrier`).
//!
//! Why: a town's supermarket takes hundreds of payments a minute. If each payment were its
//! own transaction updating the merchant's balance row, every one would wait for the
//! previous one's row lock and its own fsync. Here the merchant row is touched once per
//! batch: legs on accounts that may go negative (merchant, issuer float, subsidy...) are
//! folded into one delta per account and applied just before commit, in account order.
//! Legs on shopper wallets are applied at once with a guard (`balance + delta >= 0`), so a
//! later job in the same batch sees the earlier one's debit and an overdraft is impossible.
//! One writer per process means crossing transfers within it cannot deadlock, and
//! idempotency keys are checked and stored in the same transaction as the postings they
//! describe. On PostgreSQL other instances write beside this writer (README "Many
//! instances"): wallets are read `FOR UPDATE`, folded deltas applied in account order, and a
//! batch that loses a race with another instance is retried whole (below).
//!
//! A payment names its shopper when it is submitted (`Writer::answer_for`); the batch then
//! reads all its payers' wallets, with their open lots, in one statement when it begins
//! (`rows::read_ahead`, locked on PostgreSQL) instead of one round trip per job. They serve
//! the jobs only while the database still holds what was read: the batch's first write or
//! flush forgets them (`Known::ahead`).
//!
//! A job's replies are sent only after its batch commits. Failure rules:
//! - A job's refusal (`AppError::Rejected`) is its answer: the job is undone (its pending rows
//!   dropped, its savepoint rolled back) and the refusal stored under its idempotency key.
//! - An internal error (a bug in pure code, a panic) is that job's 500, not stored; the job is
//!   undone and the batch goes on.
//! - A storage error (any statement of the transaction failing: a read, a write, a statement
//!   timeout, SQLITE_FULL, IOERR), whether the job passed it on or not (`WriteTx::failed`),
//!   fails the whole batch: it is rolled back, every job of it answers 503 `unavailable` and
//!   no reply is stored, so each may retry with the same key. The transaction cannot go on:
//!   PostgreSQL has aborted it (its COMMIT would be a silent ROLLBACK) and SQLite may have
//!   rolled it back by itself (later savepoints would then run, and commit, outside it).
//! - If writing the pending rows or the commit fails, the same: every job 503, nothing of the
//!   batch in the database.
//! - Except a batch that lost a race with another instance (PostgreSQL: deadlock 40P01,
//!   serialization failure 40001, unique violation 23505, `tx::lost_race`): it is rolled
//!   back and run again whole, its jobs made anew, up to `BATCH_ATTEMPTS_MAX` times, and only
//!   then answered 503. Jobs are deterministic; a raced key is found and replayed.
//! - A duplicate in flight (the same key twice in one batch) gets the first one's answer,
//!   found among the batch's pending or written replies (`writer::rows::find_reply`).
//!
//! Three lanes (`Lane`), each its own bounded queue, refused at once when full (503
//! `overloaded`):
//! - interactive: payments, charges, everything a person at a till or a counter waits for;
//! - sale: a premium sale's crowd (waiting-room tickets, premium-set purchases, lottery
//!   applications; submitted through `Writer::sale`), thousands of jobs arriving within
//!   seconds on a sale day;
//! - bulk: imports, rebate grants, expiry, settlement (submitted through `Writer::bulk`).
//!
//! A batch takes the interactive jobs waiting first (up to `BATCH_SIZE_MAX` less the places
//! kept for the other lanes), then at most `SALE_JOBS_PER_BATCH_MAX` sale jobs, then at most
//! `BULK_JOBS_PER_BATCH_MAX` bulk job. When no interactive job waits, a batch starts from a
//! sale job, or else a bulk job, and takes the same shares. So a payment's batch holds at
//! most that many sale jobs and one bulk job however much of either is queued (and a payment
//! arriving meanwhile waits for at most such a batch), while the places kept for them mean
//! sale and bulk work still move every batch under any payment load. The sale jobs run after
//! the batch's payments, so the first of them that writes flushes all of their pending rows at
//! once. Bulk callers keep their jobs bounded (500 import rows, 1,000 grants, one share of
//! expiring wallets per job) and submit the next only once one is answered.

pub(crate) mod aggregate_deltas;
pub mod aggregates;
pub mod check_rows;
#[cfg(feature = "faults")]
pub mod faults;
pub(crate) mod guard;
pub(crate) mod known;
pub(crate) mod known_check;
mod macros;
pub mod posting;
pub mod retention;
pub(crate) mod retention_store;
pub mod rows;
pub(crate) mod tx;

pub(crate) use known::{Fact, Facts, WARM_ROWS_MAX};
pub use known::{Known, Warmer};
pub(crate) use macros::{checked, guarded, read_flushed, read_tx, write, write_vetted};
pub use tx::WriteTx;
pub(crate) use tx::{Statement, TxConn};

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::db::Db;
use crate::error::AppError;
use crate::writer::rows::apply_unguarded;
use crate::writer::rows::{StoredReply, find_reply, read_ahead, read_replies, store_reply};
use machipay_domain::ids::AccountId;

/// Jobs committed together at most. Bounds the time one commit holds replies back.
pub const BATCH_SIZE_MAX: usize = 256;
/// Jobs waiting for the writer at most; further callers are refused at once (503
/// `overloaded`, `AppError::Overloaded`).
pub const QUEUE_SIZE_MAX: usize = 4_096;
/// Bulk jobs waiting at most (`Writer::bulk`); further ones are refused at once like the
/// interactive lane's. Bulk callers wait for each job's answer before the next, so this
/// bounds how many bulk callers at once, not how much work each has.
pub const BULK_QUEUE_SIZE_MAX: usize = 256;
/// Bulk jobs in one batch at most: a payment's batch holds at most this much bulk work.
pub const BULK_JOBS_PER_BATCH_MAX: usize = 1;
/// Sale jobs waiting at most (`Writer::sale`); further ones are refused at once like the
/// interactive lane's (503 `overloaded` with Retry-After, which the wallet's waiting room
/// retries). A full lane is 64 batches' shares of sale work: a shopper further back is better
/// told to come back than kept waiting, and a sale's crowd never holds more memory than a
/// quarter of the interactive lane's.
pub const SALE_QUEUE_SIZE_MAX: usize = 1_024;
/// Sale jobs in one batch at most. Unlike a payment, whose rows wait pending and are written
/// with the whole batch's in one statement, a sale job runs statements of its own (a ticket:
/// a read, a guarded UPDATE, an INSERT; a purchase: about a dozen reads and writes), each a
/// round trip and, when it writes, a savepoint on PostgreSQL. Measured in the `rush` load
/// scenario on PostgreSQL (README "Sale day under load"), alternating binaries on a quiet
/// machine: 16 a batch left the payments' p99 during the rush at 103.7 and 112.7 ms, 8 at
/// 68.7 and 65.5 ms (goal < 100 ms), the 5,000 tickets then taking p50 ~650 ms instead of
/// ~500 ms and every shopper answered in 17 s instead of 15 (goal < 30 s). The sale still
/// moves eight jobs every batch under any payment load: at the tens of batches a second the
/// writer commits under load, hundreds of tickets and purchases a second, more than a waiting
/// room admitting 100 buyers a second asks for.
pub const SALE_JOBS_PER_BATCH_MAX: usize = 8;
/// Events a slow subscriber may lag behind before it misses some (it is told how many).
pub const EVENTS_BUFFER_MAX: usize = 4_096;

/// Something a store's devices should learn at once: published only after the commit.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct StoreEvent {
    /// "payment" or "refund".
    pub kind: String,
    pub merchant_id: machipay_domain::ids::MerchantId,
    pub program_id: machipay_domain::ids::ProgramId,
    pub transaction_id: machipay_domain::ids::TransactionId,
    pub amount: i64,
    /// The payment request this settles, for dynamic codes.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub payment_request_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// What a job answers: an HTTP status and a JSON body, stored verbatim for idempotent replays.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: serde_json::Value,
}

impl Reply {
    /// A reply built by hand: for jobs handed to `Writer::run_as_one_batch` (the batch
    /// simulator), which answer untyped.
    pub fn new(status: u16, body: &impl serde::Serialize) -> Result<Self, AppError> {
        let body = serde_json::to_value(body).map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(Self { status, body })
    }
}

/// A use-case's typed answer: the value, and whether the request created something (201) or
/// read or repeated it (200).
#[derive(Debug, Clone, PartialEq)]
pub struct Done<T> {
    pub created: bool,
    pub value: T,
}

impl<T> Done<T> {
    /// The request created something (201).
    pub fn created(value: T) -> Self {
        Self {
            created: true,
            value,
        }
    }
    /// The request read, changed or repeated something (200).
    pub fn ok(value: T) -> Self {
        Self {
            created: false,
            value,
        }
    }
    pub fn status(&self) -> u16 {
        if self.created { 201 } else { 200 }
    }
}

/// What a use-case run through the writer answers: computed now (typed), or the stored reply
/// of an earlier request with the same Idempotency-Key (a success or a refusal), verbatim.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer<T> {
    Fresh(Done<T>),
    Replay(Reply),
}

impl<T: serde::de::DeserializeOwned> Answer<T> {
    /// The value, for Rust callers (the demo, bootstrap): a replayed success is read back
    /// from its stored body; a replayed refusal is the refusal again.
    pub fn into_value(self) -> Result<T, AppError> {
        match self {
            Self::Fresh(done) => Ok(done.value),
            Self::Replay(reply) if reply.status < 300 => serde_json::from_value(reply.body)
                .map_err(|e| AppError::Internal(format!("stored reply: {e}"))),
            Self::Replay(reply) => Err(replayed_refusal(&reply)),
        }
    }
}

/// A stored refusal as the error it was.
fn replayed_refusal(reply: &Reply) -> AppError {
    let code = reply.body["error"]["code"]
        .as_str()
        .unwrap_or(crate::error::INTERNAL);
    let message = reply.body["error"]["message"].as_str().unwrap_or_default();
    match crate::error::Refused::from_http_status(reply.status) {
        Some(kind) => AppError::Rejected {
            kind,
            code: crate::error::intern(code),
            message: message.to_owned(),
        },
        None => AppError::Internal(format!("stored reply {}: {code}", reply.status)),
    }
}

/// Scope, key and request fingerprint of an idempotent request.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub scope: Uuid,
    pub key: String,
    pub request_hash: Vec<u8>,
}

/// A job's view of the batch: the open transaction and the deltas it defers.
pub struct Work {
    pub tx: WriteTx,
    /// The time every row a job writes is stamped with.
    pub now: DateTime<Utc>,
    job_deltas: BTreeMap<AccountId, i64>,
    job_events: Vec<StoreEvent>,
}

impl Work {
    /// Queues an event to publish if (and only if) this job's batch commits.
    pub fn notify(&mut self, event: StoreEvent) {
        self.job_events.push(event);
    }

    /// Adds a delta to an account that may go negative; applied at batch end.
    pub fn defer(&mut self, account: AccountId, delta: i64) -> Result<(), AppError> {
        let slot = self.job_deltas.entry(account).or_insert(0);
        *slot = slot
            .checked_add(delta)
            .ok_or_else(|| AppError::Internal("deferred delta overflow".into()))?;
        Ok(())
    }
}

/// A job as the writer queues it.
pub type JobFn =
    Box<dyn for<'a> FnOnce(&'a mut Work) -> BoxFuture<'a, Result<Reply, AppError>> + Send>;

/// Makes a job again, for a batch retried whole (`BATCH_ATTEMPTS_MAX`).
type Again = Box<dyn Fn() -> JobFn + Send>;

struct Request {
    /// The job of this attempt (taken when it runs).
    job: Option<JobFn>,
    /// Makes the job again when the batch lost a race; None where the job cannot be re-made
    /// (`run_as_one_batch`) or no race can happen (SQLite).
    again: Option<Again>,
    idempotency: Option<Idempotency>,
    /// The shopper whose wallets the job will pay from, read ahead with the batch's others
    /// (`rows::read_ahead`).
    ahead: Option<Uuid>,
    reply: oneshot::Sender<Result<Reply, AppError>>,
}

/// What the queue carries: one job, batched with whatever else is queued, or a group the
/// writer runs as exactly one batch of its own (`Writer::run_as_one_batch`).
enum Queued {
    One(Request),
    Group(Vec<Request>),
}

/// The queue a handle submits its jobs to (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    Interactive,
    Sale,
    Bulk,
}

/// The writer's three queues (module docs): interactive jobs and groups, sale jobs, bulk jobs.
struct Lanes {
    rx: mpsc::Receiver<Queued>,
    sale: mpsc::Receiver<Request>,
    bulk: mpsc::Receiver<Request>,
}

/// What a batch starts from: the interactive lane's next, or when no interactive job waits a
/// sale job, or else a bulk job.
enum First {
    Queued(Queued),
    Sale(Request),
    Bulk(Request),
}

/// The handle use-cases submit jobs through. Cheap to clone; when every handle is dropped the
/// writer finishes what is queued and stops.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Queued>,
    /// The sale lane (module docs): a share of each batch after the interactive jobs.
    sale: mpsc::Sender<Request>,
    /// The bulk lane (module docs): one job a batch, after the interactive and sale jobs.
    bulk: mpsc::Sender<Request>,
    /// The lane this handle submits to (`Writer::sale`, `Writer::bulk`).
    lane: Lane,
    events: tokio::sync::broadcast::Sender<StoreEvent>,
    /// Batches may lose races with other instances (PostgreSQL): jobs are kept re-makeable.
    retries: bool,
    #[cfg(feature = "faults")]
    faults: std::sync::Arc<crate::writer::faults::Faults>,
}

impl Writer {
    /// Starts the writer task on `db`. Before its first batch it loads the accounts that may
    /// go negative and what each of `warm` loads (the capabilities' facts worth having at
    /// once, listed beside the capabilities; `&[]` for a colder start).
    pub fn start(db: Db, warm: &'static [Warmer]) -> (Writer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE_SIZE_MAX);
        let (sale, sale_rx) = mpsc::channel(SALE_QUEUE_SIZE_MAX);
        let (bulk, bulk_rx) = mpsc::channel(BULK_QUEUE_SIZE_MAX);
        let (events, _) = tokio::sync::broadcast::channel(EVENTS_BUFFER_MAX);
        let retries = db.backend() == crate::db::Backend::Postgres;
        if db.backend() == crate::db::Backend::Sqlite {
            tokio::spawn(checkpoints(db.clone(), tx.downgrade()));
        }
        #[cfg(feature = "faults")]
        let faults = std::sync::Arc::new(crate::writer::faults::Faults::default());
        // This writer's name in the store events it relays to other instances.
        let relay = Uuid::now_v7();
        let mut listening = None;
        if let crate::db::Db::Pg(pool, _) = &db {
            let (ready, listens) = oneshot::channel();
            listening = Some(listens);
            tokio::spawn(relay_events(
                pool.clone(),
                relay,
                events.clone(),
                tx.downgrade(),
                ready,
            ));
        }
        let handle = tokio::spawn(run(
            db,
            warm,
            Lanes {
                rx,
                sale: sale_rx,
                bulk: bulk_rx,
            },
            events.clone(),
            relay,
            listening,
            #[cfg(feature = "faults")]
            faults.clone(),
        ));
        let writer = Writer {
            tx,
            sale,
            bulk,
            lane: Lane::Interactive,
            events,
            retries,
            #[cfg(feature = "faults")]
            faults,
        };
        (writer, handle)
    }

    /// This writer as a bulk caller's handle: its jobs wait until no interactive job does
    /// (at most `BULK_JOBS_PER_BATCH_MAX` a batch). For imports, rebate grants, expiry and
    /// settlement, which keep each job bounded and submit the next once one is answered.
    pub fn bulk(&self) -> Writer {
        Writer {
            lane: Lane::Bulk,
            ..self.clone()
        }
    }

    /// This writer as a premium sale's handle: its jobs wait behind the interactive jobs
    /// waiting (at most `SALE_JOBS_PER_BATCH_MAX` a batch), so a sale day's crowd of tickets
    /// and purchases cannot fill the batches the town's payments commit in.
    pub fn sale(&self) -> Writer {
        Writer {
            lane: Lane::Sale,
            ..self.clone()
        }
    }

    /// The fault plan of this writer's next batch (tests only).
    #[cfg(feature = "faults")]
    pub fn faults(&self) -> &crate::writer::faults::Faults {
        &self.faults
    }

    /// The writer task is still taking jobs. False once it has ended, which while handles
    /// exist means it died (a panic, or its loop ended): `/healthz` then fails and `serve`
    /// exits (`server::serve_with_writer`).
    pub fn is_running(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Committed store events, from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<StoreEvent> {
        self.events.subscribe()
    }

    /// Runs `job` in the next batch and waits for the commit. Untyped: use-cases and callers
    /// outside the writer use [`Writer::answer`]. `job` is Clone so that a batch that lost a
    /// race with another instance can run it again (jobs are deterministic); `reset` is
    /// called before it is made again.
    async fn submit<F, R>(
        &self,
        idempotency: Option<Idempotency>,
        ahead: Option<Uuid>,
        job: F,
        reset: R,
    ) -> Result<Reply, AppError>
    where
        F: for<'a> FnOnce(&'a mut Work) -> BoxFuture<'a, Result<Reply, AppError>>
            + Clone
            + Send
            + 'static,
        R: Fn() + Send + 'static,
    {
        let again = self.retries.then(|| {
            let job = job.clone();
            Box::new(move || {
                reset();
                Box::new(job.clone()) as JobFn
            }) as Again
        });
        let (reply, rx) = oneshot::channel();
        let request = Request {
            job: Some(Box::new(job)),
            again,
            idempotency,
            ahead,
            reply,
        };
        // A full queue answers at once (503 `overloaded`, nothing queued) instead of making
        // the caller wait for room: under overload a client learns to back off in
        // microseconds, and memory stays bounded by the queue.
        match self.lane {
            Lane::Interactive => self.tx.try_send(Queued::One(request)).map_err(refused)?,
            Lane::Sale => self.sale.try_send(request).map_err(refused)?,
            Lane::Bulk => self.bulk.try_send(request).map_err(refused)?,
        }
        rx.await.map_err(|_| AppError::Unavailable)?
    }

    /// Jobs waiting in the queue now, every lane.
    pub fn queue_depth(&self) -> usize {
        QUEUE_SIZE_MAX.saturating_sub(self.tx.capacity())
            + SALE_QUEUE_SIZE_MAX.saturating_sub(self.sale.capacity())
            + BULK_QUEUE_SIZE_MAX.saturating_sub(self.bulk.capacity())
    }

    /// Open subscriptions to store events (the event streams).
    pub fn subscribers(&self) -> usize {
        self.events.receiver_count()
    }

    /// Runs a typed `job` in the next batch and waits for the commit. Its value is stored as
    /// the request's reply (status and JSON) when there is an Idempotency-Key, and handed
    /// back typed; a replay hands back the stored reply.
    pub async fn answer<T, F>(
        &self,
        idempotency: Option<Idempotency>,
        job: F,
    ) -> Result<Answer<T>, AppError>
    where
        T: serde::Serialize + Send + 'static,
        F: for<'a> FnOnce(&'a mut Work) -> BoxFuture<'a, Result<Done<T>, AppError>>
            + Clone
            + Send
            + 'static,
    {
        self.answer_for(None, idempotency, job).await
    }

    /// [`Writer::answer`] for a job that pays from `shopper`'s wallets: the batch reads them
    /// ahead with its other jobs' (one statement at its start instead of one per job). A
    /// wrong or missing shopper costs only that read; the job reads what it needs either way.
    pub async fn answer_for<T, F>(
        &self,
        shopper: Option<Uuid>,
        idempotency: Option<Idempotency>,
        job: F,
    ) -> Result<Answer<T>, AppError>
    where
        T: serde::Serialize + Send + 'static,
        F: for<'a> FnOnce(&'a mut Work) -> BoxFuture<'a, Result<Done<T>, AppError>>
            + Clone
            + Send
            + 'static,
    {
        let slot: Arc<Mutex<Option<Done<T>>>> = Arc::default();
        let fresh = slot.clone();
        // A retried batch may replay what a failed attempt computed: that value is gone.
        let reset = {
            let slot = slot.clone();
            move || *slot.lock().unwrap_or_else(|e| e.into_inner()) = None
        };
        let stored = idempotency.is_some();
        let reply = self
            .submit(
                idempotency,
                shopper,
                move |w| {
                    Box::pin(async move {
                        let done = job(w).await?;
                        let body = if stored {
                            serde_json::to_value(&done.value)
                                .map_err(|e| AppError::Internal(e.to_string()))?
                        } else {
                            serde_json::Value::Null
                        };
                        let reply = Reply {
                            status: done.status(),
                            body,
                        };
                        *fresh.lock().unwrap_or_else(|e| e.into_inner()) = Some(done);
                        Ok(reply)
                    })
                },
                reset,
            )
            .await?;
        let done = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        Ok(match done {
            Some(done) => Answer::Fresh(done),
            None => Answer::Replay(reply),
        })
    }

    /// Runs `jobs` as exactly one batch of their own, in order, and answers each. Normal
    /// traffic never needs this; the batch-partition simulator (tests/api/simulator.rs) uses
    /// it to choose how a sequence of jobs is split into batches.
    pub async fn run_as_one_batch(
        &self,
        jobs: Vec<(Option<Idempotency>, JobFn)>,
    ) -> Vec<Result<Reply, AppError>> {
        let jobs = jobs.into_iter().map(|(i, job)| (i, None, job)).collect();
        self.run_as_one_batch_reading_ahead(jobs).await
    }

    /// [`Writer::run_as_one_batch`] with, per job, the shopper whose wallets the batch reads
    /// ahead for it (as `Writer::answer_for` says): the simulator's batched runs use it.
    pub async fn run_as_one_batch_reading_ahead(
        &self,
        jobs: Vec<(Option<Idempotency>, Option<Uuid>, JobFn)>,
    ) -> Vec<Result<Reply, AppError>> {
        if jobs.is_empty() || jobs.len() > BATCH_SIZE_MAX {
            let e = || AppError::Internal(format!("a group holds 1 to {BATCH_SIZE_MAX} jobs"));
            return jobs.iter().map(|_| Err(e())).collect();
        }
        let (group, answers): (Vec<Request>, Vec<_>) = jobs
            .into_iter()
            .map(|(idempotency, ahead, job)| {
                let (reply, rx) = oneshot::channel();
                let request = Request {
                    job: Some(job),
                    again: None,
                    idempotency,
                    ahead,
                    reply,
                };
                (request, rx)
            })
            .unzip();
        if self.tx.send(Queued::Group(group)).await.is_err() {
            return answers.iter().map(|_| Err(AppError::Unavailable)).collect();
        }
        let mut out = Vec::with_capacity(answers.len());
        for rx in answers {
            out.push(rx.await.unwrap_or(Err(AppError::Unavailable)));
        }
        out
    }
}

/// Why a job could not be queued: its lane is full (503 `overloaded`) or the writer is gone.
fn refused<T>(e: mpsc::error::TrySendError<T>) -> AppError {
    match e {
        mpsc::error::TrySendError::Full(_) => {
            crate::metrics::get().writer_queue_full.inc();
            AppError::Overloaded
        }
        mpsc::error::TrySendError::Closed(_) => AppError::Unavailable,
    }
}

/// The next thing to start a batch from: an interactive job (or group) if one waits, else a
/// sale job, else a bulk job, else whichever comes first. None once every handle is gone and
/// every lane is empty.
async fn next_first(lanes: &mut Lanes) -> Option<First> {
    if let Ok(q) = lanes.rx.try_recv() {
        return Some(First::Queued(q));
    }
    tokio::select! {
        biased;
        Some(q) = lanes.rx.recv() => Some(First::Queued(q)),
        Some(r) = lanes.sale.recv() => Some(First::Sale(r)),
        Some(r) = lanes.bulk.recv() => Some(First::Bulk(r)),
        else => None,
    }
}

/// Interactive jobs of a batch at most: the other lanes' places are always kept.
const INTERACTIVE_JOBS_PER_BATCH_MAX: usize =
    BATCH_SIZE_MAX - SALE_JOBS_PER_BATCH_MAX - BULK_JOBS_PER_BATCH_MAX;

/// Fills a batch begun with `batch` (an interactive job, or nothing when it started from the
/// sale or bulk job `sale` or `bulk`): the interactive jobs waiting, then the sale lane's
/// share, then the bulk lane's (module docs). A group met is held for the next round.
fn fill(
    lanes: &mut Lanes,
    held: &mut Option<Queued>,
    mut batch: Vec<Request>,
    sale: Option<Request>,
    bulk: Option<Request>,
) -> Vec<Request> {
    while held.is_none() && batch.len() < INTERACTIVE_JOBS_PER_BATCH_MAX {
        match lanes.rx.try_recv() {
            Ok(Queued::One(r)) => batch.push(r),
            Ok(group) => *held = Some(group),
            Err(_) => break,
        }
    }
    take(&mut lanes.sale, sale, SALE_JOBS_PER_BATCH_MAX, &mut batch);
    take(&mut lanes.bulk, bulk, BULK_JOBS_PER_BATCH_MAX, &mut batch);
    batch
}

/// Adds to the end of `batch` a lane's job the batch started from, if any, and then its jobs
/// waiting: `share` of the lane at most, within `BATCH_SIZE_MAX`.
fn take(
    lane: &mut mpsc::Receiver<Request>,
    first: Option<Request>,
    share: usize,
    batch: &mut Vec<Request>,
) {
    let end = batch.len() + share;
    batch.extend(first);
    while batch.len() < end.min(BATCH_SIZE_MAX) {
        match lane.try_recv() {
            Ok(r) => batch.push(r),
            Err(_) => break,
        }
    }
}

/// Loads the facts `known::warm` and `warmers` load before the first batch; a failure only
/// means a colder start.
async fn warm(db: &Db, warmers: &[Warmer], known: &mut Known) {
    let mut tx = match WriteTx::begin(db).await {
        Ok(tx) => tx,
        Err(e) => {
            tracing::warn!(error = %e, "writer warm-up skipped");
            return;
        }
    };
    // PostgreSQL: what is loaded is as of this generation (read first).
    let warmed = match tx.sync_generation().await {
        Ok(()) => known::warm(&mut tx, warmers).await,
        Err(e) => Err(e),
    };
    match warmed {
        Ok(n) => {
            let mut loaded = std::mem::take(&mut tx.known);
            if tx.commit().await.is_ok() {
                loaded.end_job(true);
                loaded.end_batch(true);
                *known = loaded;
                tracing::debug!(rows = n, "writer warmed up");
            }
        }
        Err(e) => tracing::warn!(error = %e, "writer warm-up skipped"),
    }
}

/// SQLite's log checkpoints, off the writer's path (`Db::checkpoint`), for as long as the
/// writer has handles.
async fn checkpoints(db: Db, writer: mpsc::WeakSender<Queued>) {
    let mut tick = tokio::time::interval(crate::db::CHECKPOINT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if writer.upgrade().is_none() {
            return;
        }
        if let Err(e) = db.checkpoint().await {
            tracing::warn!(error = %e, "log checkpoint failed; the writer's own will catch up");
        }
    }
}

async fn run(
    db: Db,
    warmers: &'static [Warmer],
    mut lanes: Lanes,
    events: tokio::sync::broadcast::Sender<StoreEvent>,
    relay: Uuid,
    listening: Option<oneshot::Receiver<()>>,
    #[cfg(feature = "faults")] faults: std::sync::Arc<crate::writer::faults::Faults>,
) {
    // Rows remembered across batches; `Known` says why that is safe.
    let mut known = Known::default();
    warm(&db, warmers, &mut known).await;
    // PostgreSQL: listening to other instances' store events before the first batch, so a
    // screen connected once the server answers misses none (a failure to listen is logged).
    if let Some(listening) = listening {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), listening).await;
    }
    // A group met while gathering a batch waits here for the next round.
    let mut held: Option<Queued> = None;
    loop {
        let first = match held.take() {
            Some(q) => First::Queued(q),
            None => match next_first(&mut lanes).await {
                Some(first) => first,
                None => break,
            },
        };
        #[cfg(feature = "faults")]
        let plan = faults.take();
        let batch = match first {
            First::Queued(Queued::Group(group)) => group,
            First::Queued(Queued::One(first)) => {
                let mut batch = vec![first];
                #[cfg(feature = "faults")]
                while batch.len() < plan.jobs.min(BATCH_SIZE_MAX) {
                    match lanes.rx.recv().await {
                        Some(Queued::One(r)) => batch.push(r),
                        Some(group) => {
                            held = Some(group);
                            break;
                        }
                        None => break,
                    }
                }
                fill(&mut lanes, &mut held, batch, None, None)
            }
            // No interactive job waited: a sale or bulk job, and whatever came in meanwhile.
            First::Sale(first) => fill(&mut lanes, &mut held, Vec::new(), Some(first), None),
            First::Bulk(first) => fill(&mut lanes, &mut held, Vec::new(), None, Some(first)),
        };
        let started = std::time::Instant::now();
        let metrics = crate::metrics::get();
        metrics.writer_batch_jobs.observe(batch.len() as f64);
        #[cfg(feature = "faults")]
        let events_of_batch = run_batch(&db, batch, &mut known, relay, plan.fault).await;
        #[cfg(not(feature = "faults"))]
        let events_of_batch = run_batch(&db, batch, &mut known, relay).await;
        metrics
            .writer_batch_duration
            .observe(crate::metrics::seconds(started.elapsed()));
        for event in events_of_batch {
            // No subscriber is not an error: nobody is watching that store right now.
            let _ = events.send(event);
        }
        // Debug and test builds: every remembered fact must still be true.
        crate::writer::known_check::verify_after_batch(&db, &mut known).await;
    }
}

/// Attempts of one batch at most when it keeps losing races with other instances.
pub const BATCH_ATTEMPTS_MAX: u32 = 8;

/// Runs one batch; returns the events of its committed jobs. A batch that lost a race with
/// another instance (`tx::lost_race`) is rolled back and run again whole, its jobs made
/// anew, up to `BATCH_ATTEMPTS_MAX` times; only then are its jobs answered 503.
async fn run_batch(
    db: &Db,
    mut batch: Vec<Request>,
    known: &mut Known,
    relay: Uuid,
    #[cfg(feature = "faults")] fault: Option<crate::writer::faults::Fault>,
) -> Vec<StoreEvent> {
    #[cfg(feature = "faults")]
    let mut fault = fault;
    let mut attempt = 1;
    loop {
        #[cfg(feature = "faults")]
        let tried = try_batch(db, &mut batch, known, relay, fault.take()).await;
        #[cfg(not(feature = "faults"))]
        let tried = try_batch(db, &mut batch, known, relay).await;
        match tried {
            Ok((results, events)) => {
                for (request, result) in batch.into_iter().zip(results) {
                    let _ = request.reply.send(result);
                }
                return events;
            }
            Err(raced) => {
                let again = raced
                    && attempt < BATCH_ATTEMPTS_MAX
                    && batch.iter().all(|r| r.again.is_some());
                if !again {
                    fail_all(batch.into_iter().map(|r| r.reply));
                    return Vec::new();
                }
                tracing::info!(attempt, "write batch lost a race; running it again");
                crate::metrics::get().writer_batch_retries.inc();
                for request in &mut batch {
                    request.job = request.again.as_ref().map(|make| make());
                }
                // A little apart from the other instance's retry.
                let pause = u64::from(attempt) * 2 + u64::from(Uuid::now_v7().as_bytes()[15] % 8);
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                attempt += 1;
            }
        }
    }
}

/// One attempt of a batch: every job's answer and the committed events, or Err(raced) when
/// the batch failed (rolled back, `known` back to what earlier batches committed).
async fn try_batch(
    db: &Db,
    batch: &mut [Request],
    known: &mut Known,
    relay: Uuid,
    #[cfg(feature = "faults")] fault: Option<crate::writer::faults::Fault>,
) -> Result<(Vec<Result<Reply, AppError>>, Vec<StoreEvent>), bool> {
    let keys: Vec<(Uuid, String)> = batch
        .iter()
        .filter_map(|r| r.idempotency.as_ref())
        .map(|i| (i.scope, i.key.clone()))
        .collect();
    let mut shoppers: Vec<Uuid> = batch.iter().filter_map(|r| r.ahead).collect();
    shoppers.sort_unstable();
    shoppers.dedup();
    let begun = match WriteTx::begin(db).await {
        Ok(mut tx) => {
            // Armed before the batch's first statement: its reads of replies and wallets
            // count among the statements a fault may fail.
            #[cfg(feature = "faults")]
            {
                tx.fault = crate::writer::faults::Armed::new(fault);
            }
            // PostgreSQL: what another instance changed since is forgotten first.
            tx.known = std::mem::take(known);
            let synced = match tx.sync_generation().await {
                Ok(()) => match read_replies(&mut tx, keys).await {
                    Ok(()) => read_ahead(&mut tx, &shoppers).await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            match synced {
                Ok(()) => Ok(tx),
                Err(e) => {
                    *known = std::mem::take(&mut tx.known);
                    known.end_batch(false);
                    tx.rollback().await;
                    Err(e)
                }
            }
        }
        Err(e) => Err(e),
    };
    let tx = match begun {
        Ok(tx) => tx,
        Err(e) => {
            tracing::error!(error = %e, "could not open a write transaction");
            return Err(crate::writer::tx::lost_race(&e));
        }
    };
    let mut work = Work {
        tx,
        now: machipay_domain::calendar::now(),
        job_deltas: BTreeMap::new(),
        job_events: Vec::new(),
    };
    let mut batch_deltas: BTreeMap<AccountId, i64> = BTreeMap::new();
    let mut batch_events = Vec::new();
    let mut results = Vec::with_capacity(batch.len());
    for request in batch.iter_mut() {
        work.now = machipay_domain::calendar::now();
        let outcome = match request.job.take() {
            Some(job) => run_one(&mut work, job, request.idempotency.as_ref()).await,
            None => Ok(Err(AppError::Internal("a job ran twice".into()))),
        };
        match outcome {
            Ok(result) => {
                // What a rolled-back job read may be its own undone writes: dropped.
                work.tx.known.end_job(result.is_ok());
                if result.is_ok() {
                    merge(&mut batch_deltas, &mut work.job_deltas);
                    batch_events.append(&mut work.job_events);
                }
                work.job_deltas.clear();
                work.job_events.clear();
                results.push(result);
            }
            Err(e) => {
                // A statement failed: the transaction cannot go on (see the module's
                // failure rules). Give up on the whole batch.
                let raced = work.tx.raced();
                if raced {
                    tracing::info!(error = %e, "write batch lost a race");
                } else {
                    tracing::error!(error = %e, "write batch aborted");
                }
                // `known` keeps only what earlier batches committed.
                let mut left = std::mem::take(&mut work.tx.known);
                left.end_batch(false);
                *known = left;
                work.tx.rollback().await;
                return Err(raced);
            }
        }
    }
    let mut tx = work.tx;
    *known = std::mem::take(&mut tx.known);
    let committed = finish(tx, batch_deltas, known, relay, &batch_events).await;
    // The batch's reads become committed knowledge only if the batch committed.
    known.end_batch(committed.is_ok());
    match committed {
        Ok(()) => Ok((results, batch_events)),
        Err((e, raced)) => {
            if raced {
                tracing::info!(error = %e, "write batch lost a race at commit");
            } else {
                tracing::error!(error = %e, "write batch commit failed");
            }
            Err(raced)
        }
    }
}

fn merge(into: &mut BTreeMap<AccountId, i64>, from: &mut BTreeMap<AccountId, i64>) {
    for (account, delta) in std::mem::take(from) {
        // Each delta is bounded by AMOUNT_MAX and a batch by BATCH_SIZE_MAX jobs, so the sum
        // cannot overflow i64.
        *into.entry(account).or_insert(0) += delta;
    }
}

/// Applies the folded deltas (in account order, so that instances writing the same hot
/// accounts lock them in one order), writes every pending row of the batch, then on
/// PostgreSQL bumps the shared generation if the batch forgot facts and queues its store
/// events for the other instances (`relay`), and commits. The error says whether it lost a
/// race.
async fn finish(
    mut tx: WriteTx,
    deltas: BTreeMap<AccountId, i64>,
    known: &mut Known,
    relay: Uuid,
    events: &[StoreEvent],
) -> Result<(), (sqlx::Error, bool)> {
    for (account, delta) in deltas {
        if delta != 0 {
            apply_unguarded(&mut tx, account, delta);
        }
    }
    // Writes every pending row of the batch, tells the other instances, then commits.
    let shared = async {
        tx.barrier().await?;
        tx.bump_generation(known).await?;
        if tx.is_postgres() && !events.is_empty() {
            let payloads = events
                .iter()
                .filter_map(|event| {
                    serde_json::to_string(&Relayed {
                        from: relay,
                        event: event.clone(),
                    })
                    .ok()
                })
                .collect();
            tx.notify(RELAY_CHANNEL, payloads).await?;
        }
        Ok::<(), sqlx::Error>(())
    }
    .await;
    let raced_before = tx.raced();
    if let Err(e) = shared {
        tx.rollback().await;
        return Err((e, raced_before));
    }
    let started = std::time::Instant::now();
    let committed = tx.commit().await;
    let metrics = crate::metrics::get();
    metrics
        .writer_commit_duration
        .observe(crate::metrics::seconds(started.elapsed()));
    if committed.is_ok() {
        metrics
            .writer_batches
            .with_label_values(&["committed"])
            .inc();
    }
    committed.map_err(|e| {
        let raced = raced_before || crate::writer::tx::lost_race(&e);
        (e, raced)
    })
}

/// The PostgreSQL notification channel of committed store events, between instances.
const RELAY_CHANNEL: &str = "machipay_store_events";

/// A store event as one instance tells the others (`RELAY_CHANNEL`): `from` is the writer
/// that committed it, which has published it to its own subscribers already.
#[derive(serde::Serialize, serde::Deserialize)]
struct Relayed {
    from: Uuid,
    event: StoreEvent,
}

/// PostgreSQL: listens on `RELAY_CHANNEL` and publishes to this instance's subscribers the
/// store events other instances committed, for as long as the writer has handles. A lost
/// connection is re-established by `PgListener` (events in between are missed, as a slow
/// subscriber misses some: screens re-read on reconnect).
async fn relay_events(
    pool: sqlx::PgPool,
    me: Uuid,
    events: tokio::sync::broadcast::Sender<StoreEvent>,
    writer: mpsc::WeakSender<Queued>,
    ready: oneshot::Sender<()>,
) {
    let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "store events of other instances: cannot listen");
            return;
        }
    };
    if let Err(e) = listener.listen(RELAY_CHANNEL).await {
        tracing::error!(error = %e, "store events of other instances: cannot listen");
        return;
    }
    let _ = ready.send(());
    loop {
        let next =
            tokio::time::timeout(std::time::Duration::from_secs(1), listener.try_recv()).await;
        // Closing the pool waits for the listener's connection: let it go.
        if writer.upgrade().is_none() || pool.is_closed() {
            return;
        }
        match next {
            Err(_) => {}
            Ok(Ok(Some(n))) => match serde_json::from_str::<Relayed>(n.payload()) {
                Ok(r) if r.from != me => {
                    let _ = events.send(r.event);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "a relayed store event unread"),
            },
            // The connection was lost and is re-established on the next call.
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "store events of other instances: listening failed");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
}

/// Every job of a failed batch answers 503 (called once per failed batch).
fn fail_all(replies: impl Iterator<Item = oneshot::Sender<Result<Reply, AppError>>>) {
    crate::metrics::get()
        .writer_batches
        .with_label_values(&["failed"])
        .inc();
    for reply in replies {
        let _ = reply.send(Err(AppError::Unavailable));
    }
}

/// Runs one job. The outer Result is the batch's health (an error fails the whole batch); the
/// inner one is the job's answer.
async fn run_one(
    work: &mut Work,
    job: JobFn,
    idem: Option<&Idempotency>,
) -> Result<Result<Reply, AppError>, AppError> {
    // No savepoint yet: the job takes one only if it runs a statement that needs it
    // (`WriteTx::barrier`); a payment leaves its rows pending and takes none.
    work.tx.begin_job();
    if let Some(idem) = idem
        && let Some(stored) = find_reply(&mut work.tx, idem.scope, &idem.key).await?
    {
        work.tx.end_job().await?;
        return Ok(replay(idem, stored));
    }
    let result = match AssertUnwindSafe(job(work)).catch_unwind().await {
        Ok(result) => result,
        Err(_) => Err(AppError::Internal("a write job panicked".into())),
    };
    match result {
        // A storage failure is the batch's, never the job's answer (nor a stored reply).
        Err(e @ (AppError::Db(_) | AppError::Unavailable)) => Err(e),
        // A statement failed and the job answered something else: the failure still stands.
        _ if work.tx.failed() => Err(AppError::Internal(
            "a statement of the job failed and the job went on".into(),
        )),
        Ok(reply) => {
            if let Some(idem) = idem {
                store(work, idem, &reply);
            }
            work.tx.end_job().await?;
            Ok(Ok(reply))
        }
        Err(err) => {
            work.tx.undo_job().await?;
            work.job_deltas.clear();
            work.job_events.clear();
            // A refusal is the request's answer and is replayed like a success (a retry of a
            // payment refused for funds stays refused). Internal failures are not stored, so
            // a retry can still succeed.
            if let (Some(idem), AppError::Rejected { .. }) = (idem, &err) {
                let (status, envelope) = err.status_and_body();
                let body = serde_json::json!({
                    "error": { "code": envelope.error.code, "message": envelope.error.message }
                });
                store(work, idem, &Reply { status, body });
            }
            work.tx.end_job().await?;
            Ok(Err(err))
        }
    }
}

fn store(work: &mut Work, idem: &Idempotency, reply: &Reply) {
    let stored = StoredReply {
        request_hash: idem.request_hash.clone(),
        status_code: i32::from(reply.status),
        response_body: reply.body.to_string(),
    };
    store_reply(&mut work.tx, idem.scope, &idem.key, &stored, work.now);
}

fn replay(idem: &Idempotency, stored: StoredReply) -> Result<Reply, AppError> {
    if stored.request_hash != idem.request_hash {
        return Err(crate::error::Common::IdempotencyKeyReused.into());
    }
    let body = serde_json::from_str(&stored.response_body)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let status =
        u16::try_from(stored.status_code).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(Reply { status, body })
}

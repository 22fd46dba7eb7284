//! Storage: the only module that knows SQL, PostgreSQL or SQLite. One `Db` holds either
//! backend; queries are written once in the shared dialect and run through the `read!` /
//! `write!` macros, which expand the same code for each backend's connection type.
//! Dialect differences live here and nowhere else.

#[cfg(feature = "faults")]
pub mod faults;
pub mod guard;
pub mod schema;
pub mod single_writer;

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::NaiveDate;
use uuid::Uuid;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use machipay_domain::ids::{MerchantId, ProgramId, ShopperId};
use machipay_domain::ledger::{AccountKind, Asset};

/// Connections PostgreSQL may hand the service; the writer uses one, reads share the rest.
pub const PG_POOL_SIZE_MAX: u32 = 16;
/// SQLite readers (WAL lets them run beside the single writer).
pub const SQLITE_READERS_MAX: u32 = 8;
/// Prepared statements kept per connection: the writer alone runs a few hundred distinct
/// ones (the pending-row inserts come in several sizes), and a miss costs a prepare.
pub const STATEMENT_CACHE_CAPACITY: usize = 1_024;
/// SQLite: how often the background checkpoint runs.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);
/// SQLite: the log size (pages of 4 KiB) at which the writing connection checkpoints by
/// itself: only a safety net should the background checkpoint fall behind.
pub const WAL_AUTOCHECKPOINT_PAGES: u32 = 16_384;
/// How long a connection waits on a lock before giving up.
pub const BUSY_TIMEOUT_MS: u64 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("unsupported DATABASE_URL (expected postgres://... or sqlite:...)")]
    UnsupportedUrl,
    #[error(
        "PostgreSQL does not make commits durable ({setting} = {value}); machipay refuses to \
         keep money on it. Set {setting} = on and restart the database."
    )]
    NotDurable {
        setting: &'static str,
        value: String,
    },
    #[error(
        "another machipay process is already writing to this database (it holds the writer \
         lock: {database}); stop it first, one server per database"
    )]
    WriterRunning { database: String },
    #[error("writer lock: {0}")]
    Lock(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A handle on the database. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Db {
    /// PostgreSQL: a pool for reads and one connection for the writer (its prepared
    /// statements stay warm on one connection instead of sixteen).
    Pg(PgPool, PgPool),
    /// SQLite keeps one write connection (writes are single-writer by design: see
    /// `crate::writer::rows::writer`) and a pool of readers.
    Lite {
        read: SqlitePool,
        write: SqlitePool,
        /// One connection that copies the write-ahead log into the database file in the
        /// background (`Db::checkpoint`), so commits never wait for it.
        checkpoint: SqlitePool,
        /// The single-writer lock file (`single_writer`), held while any handle lives;
        /// None for an in-memory database.
        lock: Option<std::sync::Arc<std::fs::File>>,
    },
}

/// A write transaction on either backend, with what the writer remembers across batches.
pub struct WriteTx {
    pub(crate) conn: TxConn,
    /// Rows the single writer has already read (see `Known`). A statement through `write!`
    /// forgets the facts its SQL can change first (`guard::touched`).
    pub(crate) known: Known,
    /// Ledger rows of finished jobs of this batch, not written yet (`crate::writer::rows::Pending`).
    pub(crate) pending: crate::writer::rows::Pending,
    /// Ledger rows of the running job, not written yet; dropped if the job fails.
    pub(crate) job_pending: crate::writer::rows::Pending,
    /// A job is running.
    pub(crate) in_job: bool,
    /// The running job has taken its savepoint (it ran a statement that writes or must see
    /// the pending rows).
    savepoint: bool,
    /// A statement failed (a read, a write, writing pending rows): PostgreSQL has aborted the
    /// transaction (its COMMIT would be a silent ROLLBACK), SQLite may have rolled it back
    /// (later savepoints would run outside it), or it holds half of some rows. It must not
    /// commit, and every later statement fails without reaching the database; the writer
    /// answers the whole batch 503 (`crate::writer::rows::writer`).
    broken: bool,
    /// Stored replies of the batch's idempotency keys, read at once when the batch began
    /// (None: the key was unused then). Replies stored since are pending.
    pub(crate) replies_read: HashMap<(Uuid, String), Option<crate::writer::rows::StoredReply>>,
    /// Keys whose replies the running job wrote early (inside its savepoint); forgotten
    /// again from `replies_read` if the job is undone.
    job_replies_written: Vec<(Uuid, String)>,
    /// The fault a test armed for this batch.
    #[cfg(feature = "faults")]
    pub(crate) fault: faults::Armed,
}

pub(crate) enum TxConn {
    Pg(sqlx::Transaction<'static, sqlx::Postgres>),
    Lite(sqlx::Transaction<'static, sqlx::Sqlite>),
}

/// What a statement of the write transaction answered, as `read_tx!` sees it.
pub(crate) trait Statement {
    fn failed(&self) -> bool;
    /// The answer of a statement that did not run.
    fn refused(e: sqlx::Error) -> Self;
}

impl<T> Statement for Result<T, sqlx::Error> {
    fn failed(&self) -> bool {
        self.is_err()
    }
    fn refused(e: sqlx::Error) -> Self {
        Err(e)
    }
}

/// What the single writer remembers between jobs and batches, so a payment does not re-read
/// rows it has already read.
///
/// Why it is safe:
/// - Only the writer writes (it is the one task holding the write transaction; readers never
///   write, and the single-writer lock keeps other processes out: `db::single_writer`).
/// - Every statement inside the write transaction runs through `guard::Guard`, which reads its
///   SQL: the read macros (`read_tx!`, `read_flushed!`) refuse anything but one SELECT, and
///   `write!` forgets, before the statement runs, the facts of the table it writes
///   (`guard::touched`: per table, the columns the facts hold and whether a new row can
///   change them). A new shopper, store, purchase or ledger row forgets nothing; a settings
///   version forgets the programs' facts, a revoked code the codes'; SQL the guard cannot
///   read forgets everything. The pending ledger rows (`crate::writer::rows::Pending`) are written beside
///   the guard and touch only ledger tables and balances, which are not facts.
/// - Debug and test builds check all of it: after every batch the writer re-reads each
///   remembered fact and panics on a difference (`writer::known_check::verify_after_batch`).
/// - The settings in effect are remembered per (program, JST date), the key they are a
///   function of (given the versions, which only `write!` statements insert).
/// - Nothing uncommitted leaks: a row read by a job is staged with that job and dropped if the
///   job rolls back to its savepoint (it may have written the row itself); a successful job's
///   rows are staged with the batch and become `committed` only once the batch commits.
/// - Balances are never remembered across jobs. Accounts that may go negative are remembered
///   for their identity only (id, kind, asset, owner, `allow_negative` never change; their
///   balance inside the writer is stale anyway, as their deltas are folded until the batch
///   ends, and no job reads it). Shopper wallets are remembered only within one job, with the
///   exact balances that job's guarded updates returned.
#[derive(Default)]
pub struct Known {
    pub(crate) committed: Facts,
    batch: Facts,
    pub(crate) job: Facts,
    /// The running job's wallets per (program, shopper): every wallet the shopper holds in
    /// the program, with balances kept current by `crate::writer::rows::apply_guarded`.
    pub(crate) wallets: HashMap<(ProgramId, Uuid), Vec<crate::writer::rows::Account>>,
    /// The open lots of those wallets as the database held them when they were read
    /// (`crate::writer::rows::open_lots` lays the pending rows over them). Dropped whenever pending rows
    /// are written, since they would then count twice.
    pub(crate) wallet_lots: HashMap<machipay_domain::ids::AccountId, Vec<crate::writer::rows::Lot>>,
    /// Server secrets by name. They are created before the writer starts (`Db::connect`) and
    /// never change, so nothing ever forgets them.
    pub(crate) secrets: HashMap<String, Vec<u8>>,
}

/// Committed facts kept at most; beyond this the writer starts afresh (bounds memory).
const KNOWN_ROWS_MAX: usize = 100_000;

#[derive(Default)]
pub(crate) struct Facts {
    /// (program, JST date) -> the program row and the settings text in effect that day.
    /// The lookups that stage these facts are the ones `known_check` re-runs.
    pub programs: HashMap<
        (ProgramId, NaiveDate),
        (
            crate::features::directory::store::ProgramRow,
            Option<String>,
        ),
    >,
    pub merchants: HashMap<MerchantId, crate::features::directory::store::Merchant>,
    pub shoppers: HashMap<ShopperId, crate::features::directory::store::Shopper>,
    /// Accounts that may go negative, by (program, kind, asset, owner).
    pub accounts:
        HashMap<(ProgramId, AccountKind, Asset, Option<Uuid>), crate::writer::rows::Account>,
    /// A store's latest participation event in a program (None: no history). Events are
    /// inserted only through `write!`, which forgets this.
    pub participation:
        HashMap<(ProgramId, MerchantId), Option<machipay_domain::registry::ParticipationKind>>,
    /// Static store codes by code id (revocation goes through `write!`).
    pub store_codes: HashMap<String, crate::features::qr::store::StoreCode>,
    /// Every rebate campaign of a program, whatever its dates (campaign rows are never
    /// changed; a new one is inserted through `write!`).
    pub rebate_campaigns:
        HashMap<ProgramId, Vec<crate::features::campaigns::rebates::store::RebateCampaignRow>>,
}

impl Facts {
    pub(crate) fn len(&self) -> usize {
        self.programs.len()
            + self.merchants.len()
            + self.shoppers.len()
            + self.accounts.len()
            + self.participation.len()
            + self.store_codes.len()
            + self.rebate_campaigns.len()
    }
    fn clear(&mut self) {
        *self = Facts::default();
    }
    fn forget(&mut self, set: guard::FactSet) {
        use guard::FactSet as F;
        if set.contains(F::PROGRAMS) {
            self.programs.clear();
        }
        if set.contains(F::MERCHANTS) {
            self.merchants.clear();
        }
        if set.contains(F::SHOPPERS) {
            self.shoppers.clear();
        }
        if set.contains(F::ACCOUNTS) {
            self.accounts.clear();
        }
        if set.contains(F::PARTICIPATION) {
            self.participation.clear();
        }
        if set.contains(F::STORE_CODES) {
            self.store_codes.clear();
        }
        if set.contains(F::REBATE_CAMPAIGNS) {
            self.rebate_campaigns.clear();
        }
    }
    fn absorb(&mut self, other: &mut Facts) {
        let other = std::mem::take(other);
        self.programs.extend(other.programs);
        self.merchants.extend(other.merchants);
        self.shoppers.extend(other.shoppers);
        self.accounts.extend(other.accounts);
        self.participation.extend(other.participation);
        self.store_codes.extend(other.store_codes);
        self.rebate_campaigns.extend(other.rebate_campaigns);
    }
}

impl Known {
    /// Looks a fact up: the running job's, then the batch's, then committed ones.
    pub(crate) fn get<T: Clone>(&self, pick: impl Fn(&Facts) -> Option<&T>) -> Option<T> {
        pick(&self.job)
            .or_else(|| pick(&self.batch))
            .or_else(|| pick(&self.committed))
            .cloned()
    }
    /// Stages a fact the running job read; it outlives the job only if the job succeeds.
    pub(crate) fn stage(&mut self, put: impl FnOnce(&mut Facts)) {
        put(&mut self.job);
    }
    /// Forgets the facts of `set` at every level (and the job's wallets, if accounts).
    pub(crate) fn forget_facts(&mut self, set: guard::FactSet) {
        if set == guard::FactSet::ALL {
            return self.forget();
        }
        for facts in [&mut self.committed, &mut self.batch, &mut self.job] {
            facts.forget(set);
        }
        if set.contains(guard::FactSet::ACCOUNTS) {
            self.wallets.clear();
            self.wallet_lots.clear();
        }
    }
    /// Facts remembered, committed or staged.
    pub fn len(&self) -> usize {
        self.committed.len() + self.batch.len() + self.job.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Forgets everything: some statement may have changed a remembered row.
    pub fn forget(&mut self) {
        self.committed.clear();
        self.batch.clear();
        self.job.clear();
        self.wallets.clear();
        self.wallet_lots.clear();
    }
    /// The running job ended: keep what it read if it succeeded, drop it if it rolled back.
    pub fn end_job(&mut self, succeeded: bool) {
        if succeeded {
            self.batch.absorb(&mut self.job);
        } else {
            self.job.clear();
        }
        self.wallets.clear();
        self.wallet_lots.clear();
    }
    /// The batch ended: what its jobs read is committed knowledge only if it committed.
    pub fn end_batch(&mut self, committed: bool) {
        if committed {
            self.committed.absorb(&mut self.batch);
            if self.committed.len() > KNOWN_ROWS_MAX {
                self.committed.clear();
            }
        } else {
            self.batch.clear();
        }
        self.job.clear();
        self.wallets.clear();
        self.wallet_lots.clear();
    }
}

/// Runs `$body` with `$c` bound to a read pool (`&PgPool` or `&SqlitePool`).
macro_rules! read {
    ($db:expr, |$c:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Pg(pool, _) => {
                let $c = pool;
                $body
            }
            $crate::db::Db::Lite { read, .. } => {
                let $c = read;
                $body
            }
        }
    };
}

/// Runs a statement that may write, with `$c` bound to the transaction's connection behind a
/// `guard::Guard` (an executor for `&mut PgConnection` or `&mut SqliteConnection`). The
/// ledger rows jobs have left pending (`crate::writer::rows::Pending`) are written first and the running
/// job's savepoint is taken, so the statement sees, and may be undone with, all of them.
/// The guard reads each statement's SQL and forgets exactly the facts of `Known` its table
/// and columns can change (`guard::touched`): nothing for a SELECT or a new row of a table
/// whose rows are remembered only once they exist, everything for a shape it cannot read.
macro_rules! write {
    ($tx:expr, |$c:ident| $body:expr) => {{
        let tx: &mut $crate::db::WriteTx = $tx;
        match tx.barrier().await {
            Ok(()) => $crate::db::guarded!(tx, false, |$c| $body),
            Err(e) => Err(e.into()),
        }
    }};
}

/// The same as `write!`, kept so the call sites written when statements were labelled by hand
/// still compile: what a statement forgets is now read from its SQL either way.
macro_rules! write_vetted {
    ($tx:expr, |$c:ident| $body:expr) => {
        $crate::db::write!($tx, |$c| $body)
    };
}

/// A read inside the write transaction that does not wait for pending ledger rows: only for
/// tables `crate::writer::rows::Pending` never writes (programs, stores, codes, campaigns...), or for the
/// ledger reads in `writer::rows` that lay the pending rows over what they read. It cannot
/// write: the guard refuses anything but one SELECT.
macro_rules! read_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        $crate::db::guarded!($tx, true, |$c| $body)
    };
}

/// A read inside the write transaction that sees every ledger row, pending ones included
/// (they are written first, as for `write!`). It cannot write either.
macro_rules! read_flushed {
    ($tx:expr, |$c:ident| $body:expr) => {{
        let tx: &mut $crate::db::WriteTx = $tx;
        match tx.barrier().await {
            Ok(()) => $crate::db::guarded!(tx, true, |$c| $body),
            Err(e) => Err(e.into()),
        }
    }};
}

/// Binds `$c` to a `guard::Guard` over the transaction's connection and `Known`, and runs
/// `$body` as one statement through `checked!` (a failure breaks the transaction).
macro_rules! guarded {
    ($tx:expr, $read_only:expr, |$c:ident| $body:expr) => {{
        let tx: &mut $crate::db::WriteTx = $tx;
        $crate::db::checked!(tx, {
            let known = &mut tx.known;
            match &mut tx.conn {
                $crate::db::TxConn::Pg(t) => {
                    let mut guard = $crate::db::guard::Guard::new(&mut **t, known, $read_only);
                    let $c = &mut guard;
                    $body
                }
                $crate::db::TxConn::Lite(t) => {
                    let mut guard = $crate::db::guard::Guard::new(&mut **t, known, $read_only);
                    let $c = &mut guard;
                    $body
                }
            }
        })
    }};
}

/// Runs `$statement` (one statement of the write transaction; every one goes through here)
/// unless an earlier one failed, and breaks the transaction if it fails (`WriteTx::broken`).
macro_rules! checked {
    ($tx:expr, $statement:expr) => {{
        let ran = match $tx.before_statement().await {
            Err(e) => $crate::db::Statement::refused(e),
            Ok(()) => $statement,
        };
        $tx.after_statement(&ran);
        ran
    }};
}
pub(crate) use {checked, guarded, read, read_flushed, read_tx, write, write_vetted};

impl Db {
    /// Connects and migrates. `sqlite:` URLs create the file if it is missing.
    pub async fn connect(url: &str) -> Result<Db, StartError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts =
                PgConnectOptions::from_str(url)?.statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
            let pool = PgPoolOptions::new()
                .max_connections(PG_POOL_SIZE_MAX - 1)
                .acquire_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
                .connect_with(opts.clone())
                .await?;
            check_durable(&pool).await?;
            // The writer's connection holds the single-writer lock (`single_writer`) for as
            // long as it lives, so it is kept: no lifetime, no idle timeout. A refused lock
            // is retried until the acquire timeout, which also lets a restart wait for the
            // old process to let go.
            let refused = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let write = PgPoolOptions::new()
                .max_connections(1)
                .max_lifetime(None)
                .idle_timeout(None)
                .acquire_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
                .after_connect(single_writer::pg_take_lock(refused.clone()))
                .connect_with(opts)
                .await
                .map_err(|e| single_writer::pg_start_error(e, &refused))?;
            // A database that applied an edited migration's first text (`schema`) is
            // brought to the current text first, or sqlx would refuse it.
            schema::repair_postgres(&pool).await?;
            schema::POSTGRES.run(&pool).await?;
            let db = Db::Pg(pool, write);
            crate::features::qr::store::ensure_secret(&db, crate::features::qr::store::QR_KEY)
                .await?;
            Ok(db)
        } else if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
                .statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
            // The lock first: a second process must not even migrate.
            let lock = single_writer::lock_sqlite(opts.get_filename())?;
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                // A connection that comes back still inside a transaction is replaced: SQLite
                // rolls a transaction back by itself on some failures (SQLITE_FULL, IOERR),
                // sqlx's own ROLLBACK then fails and it would refuse every later BEGIN.
                .after_release(|conn, _| {
                    Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) })
                })
                .connect_with(
                    opts.clone()
                        .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string()),
                )
                .await?;
            schema::repair_sqlite(&write).await?;
            schema::SQLITE.run(&write).await?;
            let checkpoint = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(opts.clone())
                .await?;
            let read = SqlitePoolOptions::new()
                .max_connections(SQLITE_READERS_MAX)
                .connect_with(opts.read_only(true))
                .await?;
            let db = Db::Lite {
                read,
                write,
                checkpoint,
                lock,
            };
            crate::features::qr::store::ensure_secret(&db, crate::features::qr::store::QR_KEY)
                .await?;
            Ok(db)
        } else {
            Err(StartError::UnsupportedUrl)
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Pg(..) => Backend::Postgres,
            Db::Lite { .. } => Backend::Sqlite,
        }
    }

    /// Opens a write transaction. SQLite takes the write lock up front (`BEGIN IMMEDIATE`),
    /// so a transaction never fails half-way for want of it.
    pub async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        Ok(match self {
            Db::Pg(_, write) => WriteTx::new(TxConn::Pg(write.begin().await?)),
            Db::Lite { write, .. } => {
                WriteTx::new(TxConn::Lite(write.begin_with("BEGIN IMMEDIATE").await?))
            }
        })
    }

    /// SQLite: copies committed pages from the write-ahead log into the database file
    /// (a PASSIVE checkpoint: it never blocks the writer or readers). Run every
    /// `CHECKPOINT_INTERVAL` beside the writer (`crate::writer::rows::writer`). With the automatic
    /// checkpoint left to the writing connection, every ~1,000 pages one commit also paid
    /// for copying them and syncing the database file (measured: 1,500 -> 2,300 payments/s
    /// when it moved here). Durability is unchanged: every commit still syncs the log
    /// (synchronous=FULL). PostgreSQL: nothing to do.
    pub async fn checkpoint(&self) -> Result<(), sqlx::Error> {
        match self {
            Db::Pg(..) => Ok(()),
            Db::Lite { checkpoint, .. } => sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(checkpoint)
                .await
                .map(|_| ()),
        }
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        read!(self, |c| sqlx::query("SELECT 1")
            .execute(c)
            .await
            .map(|_| ()))
    }

    pub async fn close(&self) {
        match self {
            Db::Pg(read, write) => {
                read.close().await;
                write.close().await;
            }
            Db::Lite {
                read,
                write,
                checkpoint,
                lock,
            } => {
                read.close().await;
                checkpoint.close().await;
                write.close().await;
                // Released now rather than when the last handle goes: a closed database
                // writes nothing more.
                if let Some(lock) = lock {
                    let _ = lock.unlock();
                }
            }
        }
    }
}

impl WriteTx {
    fn new(conn: TxConn) -> WriteTx {
        WriteTx {
            conn,
            known: Known::default(),
            pending: crate::writer::rows::Pending::default(),
            job_pending: crate::writer::rows::Pending::default(),
            in_job: false,
            savepoint: false,
            broken: false,
            replies_read: HashMap::new(),
            job_replies_written: Vec::new(),
            #[cfg(feature = "faults")]
            fault: faults::Armed::default(),
        }
    }

    /// A statement failed in this transaction (whether or not the job passed the error on):
    /// the batch must not commit.
    pub fn failed(&self) -> bool {
        self.broken
    }

    /// Before each statement: none runs once one has failed.
    pub(crate) async fn before_statement(&mut self) -> Result<(), sqlx::Error> {
        if self.broken {
            return Err(sqlx::Error::Protocol(
                "an earlier statement of this write transaction failed".into(),
            ));
        }
        #[cfg(feature = "faults")]
        if self.fault.fails_statement(self.in_job) {
            return Err(self.fail_in_database().await);
        }
        Ok(())
    }

    /// After each statement: a failure breaks the transaction.
    pub(crate) fn after_statement(&mut self, ran: &impl Statement) {
        if ran.failed() {
            self.broken = true;
        }
    }

    /// Runs a statement that fails in the database and returns its error (fault injection).
    #[cfg(feature = "faults")]
    async fn fail_in_database(&mut self) -> sqlx::Error {
        self.broken = true;
        let ran = match &mut self.conn {
            TxConn::Pg(tx) => sqlx::query(faults::FAILING_STATEMENT_PG)
                .execute(&mut **tx)
                .await
                .map(|_| ()),
            TxConn::Lite(tx) => sqlx::query(faults::FAILING_STATEMENT_SQLITE)
                .execute(&mut **tx)
                .await
                .map(|_| ()),
        };
        ran.err()
            .unwrap_or_else(|| sqlx::Error::Protocol("the failing statement succeeded".into()))
    }

    /// Rolls back (a failed batch). Dropping would too; waiting for it lets SQLite's
    /// connection be checked before the next batch (`Db::connect`'s `after_release`).
    pub async fn rollback(self) {
        let rolled_back = match self.conn {
            TxConn::Pg(tx) => tx.rollback().await,
            TxConn::Lite(tx) => tx.rollback().await,
        };
        if let Err(e) = rolled_back {
            // SQLite rolls back by itself on some errors (SQLITE_FULL, IOERR): then there is
            // nothing left to roll back.
            tracing::warn!(error = %e, "rolling back a failed write batch");
        }
    }

    /// Writes what is pending, then commits. A broken transaction never commits (on
    /// PostgreSQL its COMMIT would answer as if it had).
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        self.barrier().await?;
        #[cfg(feature = "faults")]
        if self.fault.fails(faults::Fault::Commit) {
            return Err(sqlx::Error::Protocol("injected: COMMIT failed".into()));
        }
        #[cfg(feature = "faults")]
        let lost = self.fault.fails(faults::Fault::CommitLost);
        let committed = match self.conn {
            TxConn::Pg(tx) => tx.commit().await,
            TxConn::Lite(tx) => tx.commit().await,
        };
        #[cfg(feature = "faults")]
        if lost && committed.is_ok() {
            return Err(sqlx::Error::Protocol(
                "injected: COMMIT acknowledgement lost".into(),
            ));
        }
        committed
    }

    /// A job starts. Its savepoint is taken lazily, before its first statement that writes
    /// or must see pending rows: a job that only reads and leaves rows pending (a payment)
    /// costs no savepoint round trips, and failing it is dropping its pending rows.
    pub fn begin_job(&mut self) {
        debug_assert!(!self.in_job && self.job_pending.is_empty());
        self.in_job = true;
        self.savepoint = false;
    }

    /// Undoes the running job: back to its savepoint if it took one, its pending rows
    /// dropped. The job stays open (its refusal may still be recorded).
    pub async fn undo_job(&mut self) -> Result<(), sqlx::Error> {
        self.job_pending.clear();
        for key in self.job_replies_written.drain(..) {
            self.replies_read.insert(key, None);
        }
        if std::mem::take(&mut self.savepoint) {
            self.exec("ROLLBACK TO SAVEPOINT job").await?;
            // PostgreSQL and SQLite both keep the savepoint after ROLLBACK TO; release it
            // so the next job starts from a clean stack.
            self.exec("RELEASE SAVEPOINT job").await?;
        }
        Ok(())
    }

    /// The running job is done: what it left pending joins the batch's.
    pub async fn end_job(&mut self) -> Result<(), sqlx::Error> {
        self.job_replies_written.clear();
        if std::mem::take(&mut self.savepoint) {
            self.exec("RELEASE SAVEPOINT job").await?;
        }
        let mut job = std::mem::take(&mut self.job_pending);
        self.pending.append(&mut job);
        self.job_pending = job;
        self.in_job = false;
        Ok(())
    }

    /// Before a statement that writes or must see every ledger row: the finished jobs'
    /// pending rows are written, the running job's savepoint taken, then its own pending
    /// rows written inside it.
    pub(crate) async fn barrier(&mut self) -> Result<(), sqlx::Error> {
        if self.broken {
            return Err(sqlx::Error::Protocol(
                "an earlier write of pending ledger rows failed".into(),
            ));
        }
        if !self.pending.is_empty() {
            self.write_pending(false).await?;
        }
        if self.in_job && !self.savepoint {
            self.exec("SAVEPOINT job").await?;
            self.savepoint = true;
        }
        if !self.job_pending.is_empty() {
            self.write_pending(true).await?;
        }
        Ok(())
    }

    async fn write_pending(&mut self, job: bool) -> Result<(), sqlx::Error> {
        let slot = if job {
            &mut self.job_pending
        } else {
            &mut self.pending
        };
        let mut rows = std::mem::take(slot);
        // Written idempotency records leave the pending rows, where `find_reply` looks
        // first: it must still find them, or a duplicate of a request later in the batch
        // would run again (and the batch fail on the key's primary key at commit).
        let replies: Vec<_> = rows.replies().collect();
        let written = crate::writer::rows::write_pending(&mut self.conn, &mut rows).await;
        #[cfg(feature = "faults")]
        let written = match written {
            Ok(()) if !job && self.fault.fails(faults::Fault::Flush) => {
                Err(self.fail_in_database().await)
            }
            other => other,
        };
        if written.is_err() {
            self.broken = true;
            return written;
        }
        for (key, reply) in replies {
            if job {
                self.job_replies_written.push(key.clone());
            }
            self.replies_read.insert(key, Some(reply));
        }
        // The database now holds what the remembered lots lacked.
        self.known.wallet_lots.clear();
        written
    }

    /// Transaction control (savepoints), beside the guard: it changes no row.
    async fn exec(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        match &mut self.conn {
            TxConn::Pg(t) => sqlx::query(sql).execute(&mut **t).await.map(|_| ()),
            TxConn::Lite(t) => sqlx::query(sql).execute(&mut **t).await.map(|_| ()),
        }
    }
}

/// Money must survive a crash: refuse a PostgreSQL that acknowledges commits it has not
/// flushed.
async fn check_durable(pool: &PgPool) -> Result<(), StartError> {
    for setting in ["fsync", "synchronous_commit"] {
        let value: String = sqlx::query_scalar(&format!("SHOW {setting}"))
            .fetch_one(pool)
            .await?;
        if value == "off" {
            return Err(StartError::NotDurable { setting, value });
        }
    }
    Ok(())
}

/// Facts the writer loads when it starts, if a town is small enough for it
/// (`WARM_ROWS_MAX` of each): the stores, their static codes and the accounts that may go
/// negative (identity only). Without it, the first payment at each store after a restart
/// read them one by one inside the writer, and every payment of that first second waited
/// (measured: spread p99 58 ms over 10 s after a restart against 38 ms over 30 s).
pub async fn warm(tx: &mut WriteTx) -> Result<usize, sqlx::Error> {
    let merchants: Vec<crate::features::directory::store::Merchant> =
        read_tx!(tx, |c| sqlx::query_as(
            "SELECT id, city_id, name, created_at FROM merchants LIMIT $1"
        )
        .bind(WARM_ROWS_MAX + 1)
        .fetch_all(c)
        .await)?;
    let codes: Vec<crate::features::qr::store::StoreCode> = read_tx!(tx, |c| sqlx::query_as(
        "SELECT id, code_id, merchant_id, program_id, payload, created_at, revoked_at \
         FROM store_codes LIMIT $1"
    )
    .bind(WARM_ROWS_MAX + 1)
    .fetch_all(c)
    .await)?;
    let accounts: Vec<crate::writer::rows::Account> = read_tx!(tx, |c| sqlx::query_as(
        "SELECT id, program_id, kind, asset, owner_id, allow_negative, balance FROM accounts \
         WHERE allow_negative LIMIT $1"
    )
    .bind(WARM_ROWS_MAX + 1)
    .fetch_all(c)
    .await)?;
    let limit = usize::try_from(WARM_ROWS_MAX).unwrap_or(usize::MAX);
    if merchants.len() > limit || codes.len() > limit || accounts.len() > limit {
        return Ok(0);
    }
    let n = merchants.len() + codes.len() + accounts.len();
    tx.known.stage(|f| {
        for m in merchants {
            f.merchants.insert(m.id, m);
        }
        for c in codes {
            f.store_codes.insert(c.code_id.clone(), c);
        }
        for a in accounts {
            f.accounts
                .insert((a.program_id, a.kind, a.asset, a.owner_id), a);
        }
    });
    Ok(n)
}

/// Rows of each kind `warm` loads at most (a town has a few thousand stores).
const WARM_ROWS_MAX: i64 = 20_000;

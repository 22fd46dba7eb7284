//! Storage: the only module that knows SQL, PostgreSQL or SQLite. One `Db` holds either
//! backend; queries are written once in the shared dialect and run through the `read!` /
//! `write!` macros, which expand the same code for each backend's connection type.
//! Dialect differences live here and nowhere else.

pub mod activity;
pub mod city_report;
pub mod currency;
pub mod directory;
pub mod expiry;
pub mod ledger;
pub mod points;
pub mod qr;
pub mod rebates;
pub mod registry;
pub mod reports;
pub mod settlement;

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::NaiveDate;
use uuid::Uuid;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::domain::ids::{MerchantId, ProgramId, ShopperId};
use crate::domain::ledger::{AccountKind, Asset};

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
    /// `ledger::writer`) and a pool of readers.
    Lite {
        read: SqlitePool,
        write: SqlitePool,
        /// One connection that copies the write-ahead log into the database file in the
        /// background (`Db::checkpoint`), so commits never wait for it.
        checkpoint: SqlitePool,
    },
}

/// A write transaction on either backend, with what the writer remembers across batches.
pub struct WriteTx {
    pub(crate) conn: TxConn,
    /// Rows the single writer has already read (see `Known`). Only the `write_vetted!`
    /// statements keep it; any other statement through `write!` empties it first.
    pub(crate) known: Known,
    /// Ledger rows of finished jobs of this batch, not written yet (`ledger::Pending`).
    pub(crate) pending: ledger::Pending,
    /// Ledger rows of the running job, not written yet; dropped if the job fails.
    pub(crate) job_pending: ledger::Pending,
    /// A job is running.
    in_job: bool,
    /// The running job has taken its savepoint (it ran a statement that writes or must see
    /// the pending rows).
    savepoint: bool,
    /// Writing pending rows failed: the transaction may hold some of them and must not
    /// commit; every later statement fails.
    broken: bool,
    /// Stored replies of the batch's idempotency keys, read at once when the batch began
    /// (None: the key was unused then). Replies stored since are pending.
    pub(crate) replies_read: HashMap<(Uuid, String), Option<ledger::StoredReply>>,
}

pub(crate) enum TxConn {
    Pg(sqlx::Transaction<'static, sqlx::Postgres>),
    Lite(sqlx::Transaction<'static, sqlx::Sqlite>),
}

/// What the single writer remembers between jobs and batches, so a payment does not re-read
/// rows it has already read.
///
/// Why it is safe:
/// - Only the writer writes (it is the one task holding the write transaction; readers never
///   write), and every statement run through the generic `write!` macro empties all of this
///   first, whatever it does. Only statements vetted to leave the remembered rows alone run
///   through `write_vetted!`: ledger rows (transactions, postings, lots, idempotency records),
///   account creation and balance updates (which keep the job's wallet view current), and
///   reads. So any job that inserts a settings version or a program, or changes a merchant
///   or a shopper, drops everything the writer knew; new code is safe by default.
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
    committed: Facts,
    batch: Facts,
    job: Facts,
    /// The running job's wallets per (program, shopper): every wallet the shopper holds in
    /// the program, with balances kept current by `ledger::apply_guarded`.
    pub(crate) wallets: HashMap<(ProgramId, Uuid), Vec<ledger::Account>>,
    /// The open lots of those wallets as the database held them when they were read
    /// (`ledger::open_lots` lays the pending rows over them). Dropped whenever pending rows
    /// are written, since they would then count twice.
    pub(crate) wallet_lots: HashMap<crate::domain::ids::AccountId, Vec<ledger::Lot>>,
    /// Server secrets by name. They are created before the writer starts (`Db::connect`) and
    /// never change, so nothing ever forgets them.
    pub(crate) secrets: HashMap<String, Vec<u8>>,
}

/// Committed facts kept at most; beyond this the writer starts afresh (bounds memory).
const KNOWN_ROWS_MAX: usize = 100_000;

#[derive(Default)]
pub(crate) struct Facts {
    /// (program, JST date) -> the program row and the settings text in effect that day.
    pub programs: HashMap<(ProgramId, NaiveDate), (directory::ProgramRow, Option<String>)>,
    pub merchants: HashMap<MerchantId, directory::Merchant>,
    pub shoppers: HashMap<ShopperId, directory::Shopper>,
    /// Accounts that may go negative, by (program, kind, asset, owner).
    pub accounts: HashMap<(ProgramId, AccountKind, Asset, Option<Uuid>), ledger::Account>,
    /// A store's latest participation event in a program (None: no history). Events are
    /// inserted only through `write!`, which forgets this.
    pub participation:
        HashMap<(ProgramId, MerchantId), Option<crate::domain::registry::ParticipationKind>>,
    /// Static store codes by code id (revocation goes through `write!`).
    pub store_codes: HashMap<String, qr::StoreCode>,
    /// Every rebate campaign of a program, whatever its dates (campaign rows are never
    /// changed; a new one is inserted through `write!`).
    pub rebate_campaigns: HashMap<ProgramId, Vec<rebates::RebateCampaignRow>>,
}

impl Facts {
    fn len(&self) -> usize {
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
            $crate::storage::Db::Pg(pool, _) => {
                let $c = pool;
                $body
            }
            $crate::storage::Db::Lite { read, .. } => {
                let $c = read;
                $body
            }
        }
    };
}

/// Runs `$body` with `$c` bound to the transaction's connection
/// (`&mut PgConnection` or `&mut SqliteConnection`). The writer's remembered rows (`Known`)
/// are forgotten first: the statement may change them.
macro_rules! write {
    ($tx:expr, |$c:ident| $body:expr) => {{
        let tx: &mut $crate::storage::WriteTx = $tx;
        tx.known.forget();
        $crate::storage::write_vetted!(tx, |$c| $body)
    }};
}

/// `write!` for statements vetted to leave every row `Known` remembers unchanged (reads,
/// ledger rows, account creation and balance updates that keep `Known` current). The
/// ledger rows jobs have left pending (`ledger::Pending`) are written first and the running
/// job's savepoint is taken, so the statement sees, and may be undone with, all of them.
macro_rules! write_vetted {
    ($tx:expr, |$c:ident| $body:expr) => {{
        let tx: &mut $crate::storage::WriteTx = $tx;
        match tx.barrier().await {
            Ok(()) => $crate::storage::read_tx!(tx, |$c| $body),
            Err(e) => Err(e.into()),
        }
    }};
}

/// A read inside the write transaction that does not wait for pending ledger rows: only for
/// tables `ledger::Pending` never writes (programs, stores, codes, campaigns...), or for the
/// ledger reads in `storage::ledger` that lay the pending rows over what they read.
macro_rules! read_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match &mut $tx.conn {
            $crate::storage::TxConn::Pg(tx) => {
                let $c = &mut **tx;
                $body
            }
            $crate::storage::TxConn::Lite(tx) => {
                let $c = &mut **tx;
                $body
            }
        }
    };
}
pub(crate) use {read, read_tx, write, write_vetted};

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
            sqlx::migrate!("migrations/postgres").run(&pool).await?;
            let write = PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
                .connect_with(opts)
                .await?;
            let db = Db::Pg(pool, write);
            qr::ensure_secret(&db, qr::QR_KEY).await?;
            Ok(db)
        } else if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
                .statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(
                    opts.clone()
                        .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string()),
                )
                .await?;
            sqlx::migrate!("migrations/sqlite").run(&write).await?;
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
            };
            qr::ensure_secret(&db, qr::QR_KEY).await?;
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
    /// `CHECKPOINT_INTERVAL` beside the writer (`ledger::writer`). With the automatic
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
            } => {
                read.close().await;
                checkpoint.close().await;
                write.close().await;
            }
        }
    }
}

impl WriteTx {
    fn new(conn: TxConn) -> WriteTx {
        WriteTx {
            conn,
            known: Known::default(),
            pending: ledger::Pending::default(),
            job_pending: ledger::Pending::default(),
            in_job: false,
            savepoint: false,
            broken: false,
            replies_read: HashMap::new(),
        }
    }

    /// Writes what is pending, then commits.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        self.barrier().await?;
        match self.conn {
            TxConn::Pg(tx) => tx.commit().await,
            TxConn::Lite(tx) => tx.commit().await,
        }
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
        if !job {
            // These replies leave `pending`, where `find_reply` finds a key used earlier in
            // the batch; the batch-start read said the key was unused. Without this, a retry
            // later in the batch ran again and its second reply failed the whole batch.
            // (h5-writer fixes the same, for a job's own rows too: keep its version.)
            self.replies_read
                .extend(rows.replies().map(|(k, r)| (k, Some(r))));
        }
        let written = ledger::write_pending(&mut self.conn, &mut rows).await;
        if written.is_err() {
            self.broken = true;
        }
        // The database now holds what the remembered lots lacked.
        self.known.wallet_lots.clear();
        written
    }

    async fn exec(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        read_tx!(self, |c| sqlx::query(sql).execute(c).await.map(|_| ()))
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
    let merchants: Vec<directory::Merchant> = read_tx!(tx, |c| sqlx::query_as(
        "SELECT id, city_id, name, created_at FROM merchants LIMIT $1"
    )
    .bind(WARM_ROWS_MAX + 1)
    .fetch_all(c)
    .await)?;
    let codes: Vec<qr::StoreCode> = read_tx!(tx, |c| sqlx::query_as(
        "SELECT id, code_id, merchant_id, program_id, payload, created_at, revoked_at \
         FROM store_codes LIMIT $1"
    )
    .bind(WARM_ROWS_MAX + 1)
    .fetch_all(c)
    .await)?;
    let accounts: Vec<ledger::Account> = read_tx!(tx, |c| sqlx::query_as(
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
